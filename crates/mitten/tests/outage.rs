//! Store outages: a Redis or PostgreSQL that the test itself started on a
//! spare port is killed and restarted (never the shared services).
//!
//! While the store is down, session-touching requests get 503 with the
//! security headers and no cookie change, routes that do not touch the
//! session answer 200, every failure comes within the configured store
//! timeout, and the store sees no reconnect storm; once it is back, the
//! same cookie works with its data intact.

mod common;
mod conformance;
mod servers;

use std::net::TcpListener;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::http::StatusCode;
use axum::Router;
use common::assert_security_headers;
use conformance::http::{app, get_with, login};
use mitten::SessionStore;

/// The store timeout the outage apps run with.
const STORE_TIMEOUT: Duration = Duration::from_millis(1500);

fn outage_app(store: Arc<dyn SessionStore>) -> Router {
    app(store, common::builder().store_timeout(STORE_TIMEOUT)).0
}

/// Asserts a store-down answer: 503, headers intact, no cookie change.
fn assert_down(r: &common::Resp, what: &str) {
    assert_eq!(r.status, StatusCode::SERVICE_UNAVAILABLE, "{what}: {r:?}");
    assert_security_headers(r);
    assert!(r.set_cookies().is_empty(), "{what}: cookie changed: {r:?}");
    assert!(!r.body.contains("127.0.0.1"), "{what}: {}", r.body);
}

/// Everything a store-down phase must show; returns the time each failure
/// took, sorted.
async fn while_down(app: &Router, cookie: &str) -> Vec<Duration> {
    let mut times = Vec::new();
    for (uri, cookie) in [
        ("/whoami", Some(cookie)),
        ("/set/k/changed", Some(cookie)),
        ("/regen", Some(cookie)),
        ("/logout", Some(cookie)),
        ("/login-as/eve", None),
        ("/whoami", Some(cookie)),
    ] {
        let t = Instant::now();
        let r = get_with(app, uri, cookie).await;
        times.push(t.elapsed());
        assert_down(&r, uri);
    }
    // A route that does not touch the session does not care.
    let r = get_with(app, "/plain", Some(cookie)).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_security_headers(&r);
    // A crowd at once: all fail, none hangs, nothing panics.
    let tasks: Vec<_> = (0..50)
        .map(|_| {
            let (app, c) = (app.clone(), cookie.to_owned());
            tokio::spawn(async move {
                let t = Instant::now();
                let r = get_with(&app, "/whoami", Some(&c)).await;
                (r, t.elapsed())
            })
        })
        .collect();
    for task in tasks {
        let (r, took) = task.await.expect("no panic");
        assert_down(&r, "crowd");
        times.push(took);
    }
    times.sort();
    times
}

fn summary(times: &[Duration]) -> String {
    format!(
        "{} failures, fastest {:?}, median {:?}, slowest {:?}",
        times.len(),
        times[0],
        times[times.len() / 2],
        times[times.len() - 1]
    )
}

/// After the store is back: the same cookie, the same data. Returns how
/// many requests failed before the first success (reconnect lag).
async fn once_back(app: &Router, cookie: &str) -> usize {
    let mut failures = 0;
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let r = get_with(app, "/whoami", Some(cookie)).await;
        if r.status == StatusCode::OK {
            assert_eq!(r.body, "alice");
            assert!(r.set_cookies().is_empty(), "{r:?}");
            break;
        }
        assert_down(&r, "reconnecting");
        failures += 1;
        assert!(Instant::now() < deadline, "the store never came back");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(get_with(app, "/get/k", Some(cookie)).await.body, "before");
    assert_eq!(
        get_with(app, "/set/k/after", Some(cookie)).await.status,
        StatusCode::OK
    );
    assert_eq!(get_with(app, "/get/k", Some(cookie)).await.body, "after");
    failures
}

/// Listens where the store was and hangs up on every connection, counting
/// them: how many connection attempts a burst of requests causes.
struct Doorman {
    accepted: Arc<AtomicUsize>,
    stop: Arc<std::sync::atomic::AtomicBool>,
    port: u16,
}

impl Doorman {
    fn open(port: u16) -> Self {
        let listener = TcpListener::bind(("127.0.0.1", port)).expect("rebind the store port");
        listener.set_nonblocking(true).unwrap();
        let accepted = Arc::new(AtomicUsize::new(0));
        let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let (a, s) = (accepted.clone(), stop.clone());
        std::thread::spawn(move || {
            while !s.load(Ordering::SeqCst) {
                match listener.accept() {
                    Ok((conn, _)) => {
                        a.fetch_add(1, Ordering::SeqCst);
                        drop(conn);
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(2)),
                }
            }
        });
        Self {
            accepted,
            stop,
            port,
        }
    }

    fn close(self) -> usize {
        self.stop.store(true, Ordering::SeqCst);
        // Let the accept loop see the flag and drop the listener.
        std::thread::sleep(Duration::from_millis(20));
        let _ = self.port;
        self.accepted.load(Ordering::SeqCst)
    }
}

/// 100 concurrent session requests against a store port that accepts and
/// hangs up; returns the connection attempts they caused.
async fn connection_attempts_for_a_crowd(app: &Router, cookie: &str, port: u16) -> usize {
    let door = Doorman::open(port);
    let tasks: Vec<_> = (0..100)
        .map(|_| {
            let (app, c) = (app.clone(), cookie.to_owned());
            tokio::spawn(async move { get_with(&app, "/whoami", Some(&c)).await })
        })
        .collect();
    for task in tasks {
        assert_down(&task.await.expect("no panic"), "crowd at a dead port");
    }
    door.close()
}

#[cfg(feature = "redis")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_outage_is_503_then_the_same_cookie_works_again() {
    let Some(mut server) = servers::PrivateRedis::start("redis_outage") else {
        return;
    };
    let store = mitten::stores::RedisStore::connect(&server.url())
        .await
        .expect("private redis");
    let app = outage_app(Arc::new(store));
    let cookie = login(&app, "alice").await;
    assert_eq!(
        get_with(&app, "/set/k/before", Some(&cookie)).await.status,
        StatusCode::OK
    );

    server.kill();
    // The crash as the app sees it first: a crowd of requests, a store
    // port that accepts and hangs up (so connection attempts can be
    // counted).
    let attempts = connection_attempts_for_a_crowd(&app, &cookie, server.port).await;
    // Then nothing listens at all. After the cooldown the first request
    // probes the store (and waits for the answer); the rest fail at once.
    tokio::time::sleep(mitten::stores::DEFAULT_OUTAGE_COOLDOWN + Duration::from_millis(100)).await;
    let t = Instant::now();
    assert_down(&get_with(&app, "/whoami", Some(&cookie)).await, "probe");
    let probe = t.elapsed();
    let times = while_down(&app, &cookie).await;
    let slowest = *times.last().unwrap();
    assert!(
        slowest.max(probe) < STORE_TIMEOUT * 2,
        "took {slowest:?} to fail"
    );

    // Quiet for a while (any reconnect cycle or cooldown is over), then back.
    tokio::time::sleep(Duration::from_secs(1)).await;
    server.restart();
    let lag = once_back(&app, &cookie).await;
    eprintln!(
        "[figures] redis outage (store timeout {STORE_TIMEOUT:?}): probe failed in {probe:?}, then {}; \
         100 concurrent requests right after the crash caused {attempts} connection attempts; \
         {lag} request(s) failed after the restart before the first success",
        summary(&times)
    );
    assert!(attempts <= 20, "reconnect storm: {attempts} connections");
    assert_eq!(lag, 0, "the first request after the restart must succeed");
}

#[cfg(feature = "postgres")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_outage_is_503_then_the_same_cookie_works_again() {
    let Some(server) = servers::PrivatePostgres::start("postgres_outage") else {
        return;
    };
    let store = mitten::stores::PostgresStore::connect(&server.url())
        .await
        .expect("private postgres");
    store.migrate().await.expect("table");
    let app = outage_app(Arc::new(store));
    let cookie = login(&app, "alice").await;
    assert_eq!(
        get_with(&app, "/set/k/before", Some(&cookie)).await.status,
        StatusCode::OK
    );

    server.kill();
    // The crash as the app sees it first: a crowd of requests, a store
    // port that accepts and hangs up (so connection attempts can be
    // counted).
    let attempts = connection_attempts_for_a_crowd(&app, &cookie, server.port).await;
    // Then nothing listens at all. After the cooldown the first request
    // probes the store (and waits for the answer); the rest fail at once.
    tokio::time::sleep(mitten::stores::DEFAULT_OUTAGE_COOLDOWN + Duration::from_millis(100)).await;
    let t = Instant::now();
    assert_down(&get_with(&app, "/whoami", Some(&cookie)).await, "probe");
    let probe = t.elapsed();
    let times = while_down(&app, &cookie).await;
    let slowest = *times.last().unwrap();
    assert!(
        slowest.max(probe) < STORE_TIMEOUT * 2,
        "took {slowest:?} to fail"
    );

    // Quiet for a while (any reconnect cycle or cooldown is over), then back.
    tokio::time::sleep(Duration::from_secs(1)).await;
    server.restart();
    let lag = once_back(&app, &cookie).await;
    eprintln!(
        "[figures] postgres outage (store timeout {STORE_TIMEOUT:?}): probe failed in {probe:?}, then {}; \
         100 concurrent requests right after the crash caused {attempts} connection attempts; \
         {lag} request(s) failed after the restart before the first success",
        summary(&times)
    );
    assert!(attempts <= 20, "reconnect storm: {attempts} connections");
    assert_eq!(lag, 0, "the first request after the restart must succeed");
}

#[tokio::test]
async fn a_failed_store_write_sends_no_cookie() {
    // What `assert_down` relies on, on the always-failing test store: the
    // 503 replaces the handler's response, and the id minted for the new
    // session is not handed out.
    let app = outage_app(Arc::new(common::FailingStore));
    for uri in ["/login-as/x", "/set/a/b"] {
        let r = get_with(&app, uri, None).await;
        assert_down(&r, uri);
    }
}
