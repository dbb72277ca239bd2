//! The session behaviour every store must show, driven through Mitten's
//! layer at the HTTP level (requests in; status, cookies, and what the
//! backend holds out).
//!
//! The routes here are `GET` so that the tests need no CSRF token dance:
//! CSRF is proven in `tests/csrf.rs`; this file is about the stores.

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::extract::Path;
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Extension, Router};
use base64::Engine;
use mitten::{CsrfToken, MittenBuilder, Session, SessionError, SessionStore};
use sha2::Digest;
use tokio::sync::Notify;

use super::harness::Harness;
use super::wrappers::{Colliding, Counting, Meddling};
use crate::common::{self, assert_security_headers, browser, req, send, Resp, COOKIE};

/// Two-way handshake between a test and a handler that is mid-request.
#[derive(Default)]
pub struct Gate {
    /// The handler has loaded the session.
    pub loaded: Notify,
    /// The handler may go on and write.
    pub go: Notify,
}

async fn login_as(session: Session, Path(user): Path<String>) -> Result<String, SessionError> {
    session.regenerate().await?;
    session.insert("user", &user).await?;
    Ok(user)
}

async fn whoami(session: Session) -> Result<String, SessionError> {
    Ok(session
        .get::<String>("user")
        .await?
        .unwrap_or_else(|| "<anonymous>".into()))
}

async fn logout(session: Session) -> Result<&'static str, SessionError> {
    session.destroy().await?;
    Ok("bye")
}

async fn regen(session: Session) -> Result<&'static str, SessionError> {
    session.regenerate().await?;
    Ok("regenerated")
}

async fn set(
    session: Session,
    Path((k, v)): Path<(String, String)>,
) -> Result<&'static str, SessionError> {
    session.insert(&k, v).await?;
    Ok("set")
}

async fn get_key(session: Session, Path(k): Path<String>) -> Result<String, SessionError> {
    Ok(session
        .get::<serde_json::Value>(&k)
        .await?
        .map(|v| match v {
            serde_json::Value::String(s) => s,
            other => other.to_string(),
        })
        .unwrap_or_else(|| "<none>".into()))
}

async fn incr(session: Session, Path(k): Path<String>) -> Result<String, SessionError> {
    let n = session
        .update(&k, |n: Option<u64>| n.unwrap_or(0) + 1)
        .await?;
    Ok(n.to_string())
}

/// Loads the session, then waits for the test before writing: a request
/// that was in flight while another one regenerated or destroyed.
async fn slow_set(
    session: Session,
    Extension(gate): Extension<Arc<Gate>>,
    Path(v): Path<String>,
) -> Result<&'static str, SessionError> {
    let _ = session.get::<String>("user").await?;
    gate.loaded.notify_one();
    gate.go.notified().await;
    session.insert("late", v).await?;
    Ok("late write")
}

/// The store timeout of the suite's apps: generous, because these tests are
/// about what the stores do, not how fast; a loaded 2-core CI machine must
/// not turn a slow call into a 503. Time to fail is `tests/outage.rs`'s.
const SUITE_STORE_TIMEOUT: Duration = Duration::from_secs(10);

/// The test key, plain-HTTP cookies, the suite's store timeout.
pub fn builder() -> MittenBuilder {
    common::builder().store_timeout(SUITE_STORE_TIMEOUT)
}

/// The suite's app on `store`, configured by `b`.
pub fn app(store: Arc<dyn SessionStore>, b: MittenBuilder) -> (Router, Arc<Gate>) {
    let gate = Arc::new(Gate::default());
    let m = b.shared_store(store).build().expect("valid config");
    let router = Router::new()
        .route("/plain", get(|| async { "plain" }))
        .route("/login-as/{user}", get(login_as))
        .route("/whoami", get(whoami))
        .route("/logout", get(logout))
        .route("/regen", get(regen))
        .route("/set/{k}/{v}", get(set))
        .route("/get/{k}", get(get_key))
        .route("/incr/{k}", get(incr))
        .route("/slow-set/{v}", get(slow_set))
        .route(
            "/token",
            get(|csrf: CsrfToken| async move { csrf.token().map_err(|e| e.to_string()) }),
        )
        .route("/checked", post(|| async { "checked" }))
        .layer(m.layer())
        .layer(Extension(gate.clone()));
    (router, gate)
}

pub fn default_app(h: &Harness) -> Router {
    app(h.store.clone(), builder()).0
}

/// `GET uri`, with the session cookie when given.
pub async fn get_with(app: &Router, uri: &str, cookie: Option<&str>) -> Resp {
    let mut b = req("GET", uri);
    if let Some(c) = cookie {
        b = b.header("cookie", format!("{COOKIE}={c}"));
    }
    send(app, b.body(Body::empty()).unwrap()).await
}

/// Logs in as `user`; returns the session cookie.
pub async fn login(app: &Router, user: &str) -> String {
    let r = get_with(app, &format!("/login-as/{user}"), None).await;
    assert_eq!(r.status, StatusCode::OK, "{r:?}");
    r.cookie(COOKIE).expect("login sets the cookie")
}

async fn who(app: &Router, cookie: &str) -> String {
    let r = get_with(app, "/whoami", Some(cookie)).await;
    assert_eq!(r.status, StatusCode::OK, "{r:?}");
    r.body
}

pub async fn login_read_logout_and_replay_is_anonymous(h: &Harness) {
    let app = default_app(h);
    let c = login(&app, "alice").await;
    assert_eq!(h.inspect.raw_keys().await.len(), 1, "{}", h.name);
    assert_eq!(who(&app, &c).await, "alice");

    let out = get_with(&app, "/logout", Some(&c)).await;
    assert_eq!(out.status, StatusCode::OK);
    let removal = out.set_cookie_line(COOKIE).expect("cookie expired");
    assert!(removal.contains("Max-Age=0"), "{removal}");
    // Deleted server-side, not merely forgotten by the browser.
    assert!(h.inspect.raw_keys().await.is_empty(), "{}", h.name);

    // Replaying the old cookie: anonymous, and the old id is not adopted.
    let replay = get_with(&app, "/whoami", Some(&c)).await;
    assert_eq!(replay.body, "<anonymous>", "{}", h.name);
    assert_eq!(replay.cookie(COOKIE), None);
    let write = get_with(&app, "/set/k/v", Some(&c)).await;
    assert_eq!(write.status, StatusCode::OK);
    let fresh = write.cookie(COOKIE).expect("a write starts a new session");
    assert_ne!(fresh, c);
    assert_eq!(who(&app, &c).await, "<anonymous>");
    assert_eq!(h.inspect.raw_keys().await.len(), 1);
}

pub async fn forced_create_collision_retries_and_spares_the_other_session(h: &Harness) {
    let colliding = Colliding::new(h.store.clone());
    let (app, _) = app(colliding.clone(), builder());
    let victim = login(&app, "victim").await;
    let victim_key = h.inspect.raw_keys().await.pop().expect("victim stored");

    colliding.collide_next_create(mitten::session::store::StoreKey::from_string(
        victim_key.clone(),
    ));
    let mallory = login(&app, "mallory").await;
    assert_eq!(
        *colliding.forced_answers.lock().unwrap(),
        vec!["create: Ok(false)".to_owned()],
        "{}: the colliding create must be refused",
        h.name
    );
    assert_ne!(mallory, victim);
    assert_eq!(who(&app, &victim).await, "victim", "{}", h.name);
    assert_eq!(who(&app, &mallory).await, "mallory", "{}", h.name);
    assert_eq!(h.inspect.raw_keys().await.len(), 2);
}

pub async fn forced_regenerate_collision_retries_and_spares_the_other_session(h: &Harness) {
    let colliding = Colliding::new(h.store.clone());
    let (app, _) = app(colliding.clone(), builder());
    let victim = login(&app, "victim").await;
    let victim_key = h.inspect.raw_keys().await.pop().expect("victim stored");
    let bob = login(&app, "bob").await;

    colliding.collide_next_rename(mitten::session::store::StoreKey::from_string(victim_key));
    let r = get_with(&app, "/regen", Some(&bob)).await;
    assert_eq!(r.status, StatusCode::OK, "{r:?}");
    assert_eq!(
        *colliding.forced_answers.lock().unwrap(),
        vec!["rename: Ok(Collision)".to_owned()],
        "{}",
        h.name
    );
    let bob2 = r.cookie(COOKIE).expect("new id");
    assert_eq!(who(&app, &victim).await, "victim", "{}", h.name);
    assert_eq!(who(&app, &bob2).await, "bob");
    assert_eq!(who(&app, &bob).await, "<anonymous>");
    assert_eq!(h.inspect.raw_keys().await.len(), 2);
}

pub async fn regenerate_kills_the_old_id_at_once(h: &Harness) {
    let app = default_app(h);
    let c = login(&app, "alice").await;
    let r = get_with(&app, "/regen", Some(&c)).await;
    assert_eq!(r.status, StatusCode::OK);
    let c2 = r.cookie(COOKIE).expect("new id");
    assert_ne!(c2, c);
    assert_eq!(who(&app, &c).await, "<anonymous>", "{}", h.name);
    assert_eq!(who(&app, &c2).await, "alice");
    assert_eq!(h.inspect.raw_keys().await.len(), 1, "{}", h.name);
}

/// A request loads the session, another one ends it (`ending` is
/// `/regen` or `/logout`), then the first one writes.
async fn late_save_after(h: &Harness, ending: &str) {
    let (app, gate) = app(h.store.clone(), builder());
    let c = login(&app, "alice").await;
    let slow = {
        let (app, c) = (app.clone(), c.clone());
        tokio::spawn(async move { get_with(&app, "/slow-set/late", Some(&c)).await })
    };
    gate.loaded.notified().await;
    let end = get_with(&app, ending, Some(&c)).await;
    assert_eq!(end.status, StatusCode::OK, "{end:?}");
    let new_cookie = end.cookie(COOKIE).filter(|v| !v.is_empty());
    gate.go.notify_one();
    let late = slow.await.unwrap();

    assert_eq!(late.status, StatusCode::CONFLICT, "{}: {late:?}", h.name);
    assert!(
        late.set_cookies().is_empty(),
        "{}: a refused late save sends no cookie: {:?}",
        h.name,
        late.set_cookies()
    );
    assert_security_headers(&late);
    assert_eq!(
        who(&app, &c).await,
        "<anonymous>",
        "{}: resurrected",
        h.name
    );
    let keys = h.inspect.raw_keys().await;
    match new_cookie {
        Some(c2) => {
            // Regenerated: exactly the new session, without the late write.
            assert_eq!(keys.len(), 1, "{}: {keys:?}", h.name);
            assert_eq!(who(&app, &c2).await, "alice");
            let late_value = get_with(&app, "/get/late", Some(&c2)).await;
            assert_eq!(late_value.body, "<none>");
        }
        None => assert!(keys.is_empty(), "{}: {keys:?}", h.name),
    }
}

pub async fn late_save_after_regenerate_is_refused_and_resurrects_nothing(h: &Harness) {
    late_save_after(h, "/regen").await;
}

pub async fn late_save_after_destroy_is_refused_and_resurrects_nothing(h: &Harness) {
    late_save_after(h, "/logout").await;
}

pub async fn concurrent_requests_changing_different_keys_all_survive(h: &Harness) {
    let app = default_app(h);
    let c = login(&app, "alice").await;
    let tasks: Vec<_> = (0..20)
        .map(|i| {
            let (app, c) = (app.clone(), c.clone());
            tokio::spawn(async move { get_with(&app, &format!("/set/k{i}/v{i}"), Some(&c)).await })
        })
        .collect();
    for t in tasks {
        let r = t.await.unwrap();
        assert_eq!(r.status, StatusCode::OK, "{}: {r:?}", h.name);
        assert_eq!(r.cookie(COOKIE), None, "the id does not change");
    }
    for i in 0..20 {
        let r = get_with(&app, &format!("/get/k{i}"), Some(&c)).await;
        assert_eq!(r.body, format!("v{i}"), "{}: lost update of k{i}", h.name);
    }
    assert_eq!(who(&app, &c).await, "alice");
}

pub async fn concurrent_updates_of_one_key_lose_nothing(h: &Harness) {
    const N: usize = 200;
    let counting = Counting::new(h.store.clone());
    let (app, _) = app(counting.clone(), builder());
    let c = login(&app, "alice").await;
    let before = counting.calls();
    let started = Instant::now();
    let tasks: Vec<_> = (0..N)
        .map(|_| {
            let (app, c) = (app.clone(), c.clone());
            tokio::spawn(async move { get_with(&app, "/incr/n", Some(&c)).await })
        })
        .collect();
    let mut statuses = std::collections::BTreeMap::new();
    for t in tasks {
        *statuses
            .entry(t.await.unwrap().status.as_u16())
            .or_insert(0) += 1;
    }
    let elapsed = started.elapsed();
    let saves = counting.calls().save - before.save;
    let r = get_with(&app, "/get/n", Some(&c)).await;
    eprintln!(
        "[figures] {}: {N} concurrent update() on one key: statuses {statuses:?}, final {}, \
         {saves} compare-and-set attempts ({:.1} per request), {elapsed:?}",
        h.name,
        r.body,
        saves as f64 / N as f64
    );
    assert_eq!(statuses.get(&200), Some(&N), "{}: {statuses:?}", h.name);
    assert_eq!(r.body, N.to_string(), "{}: lost updates", h.name);
}

pub async fn a_write_from_another_instance_is_replayed_not_lost(h: &Harness) {
    // Requests in one process take turns; the compare-and-set is what
    // protects against writers elsewhere. Here one writes between this
    // request's read and its save.
    let meddling = Meddling::new(h.store.clone());
    let (app, _) = app(meddling.clone(), builder());
    let c = login(&app, "alice").await;
    assert_eq!(get_with(&app, "/incr/n", Some(&c)).await.body, "1");
    meddling.arm();
    let r = get_with(&app, "/incr/n", Some(&c)).await;
    assert_eq!(r.status, StatusCode::OK, "{}: {r:?}", h.name);
    use mitten::session::store::SaveOutcome::{Conflict, Saved};
    assert_eq!(
        *meddling.outcomes.lock().unwrap(),
        vec![Saved, Conflict, Saved],
        "{}: the save lost once, then replayed",
        h.name
    );
    assert_eq!(
        get_with(&app, "/get/n", Some(&c)).await.body,
        "2",
        "{}",
        h.name
    );
    assert_eq!(
        get_with(&app, "/get/other", Some(&c)).await.body,
        "instance",
        "{}: the other instance's write was overwritten",
        h.name
    );
    assert_eq!(who(&app, &c).await, "alice");
}

pub async fn idle_timeout_expires_and_reads_keep_alive(h: &Harness) {
    let idle = Duration::from_millis(2000);
    let (app, _) = app(h.store.clone(), builder().idle_timeout(idle));
    // Kept alive by reads (each read past a tenth of the window moves the
    // deadline), well past one idle window.
    let kept = login(&app, "kept").await;
    let dropped = login(&app, "dropped").await;
    for _ in 0..3 {
        tokio::time::sleep(Duration::from_millis(800)).await;
        assert_eq!(who(&app, &kept).await, "kept", "{}", h.name);
    }
    // `dropped` was not used for 2.4 s > idle.
    assert_eq!(who(&app, &dropped).await, "<anonymous>", "{}", h.name);
    tokio::time::sleep(idle + Duration::from_millis(400)).await;
    assert_eq!(who(&app, &kept).await, "<anonymous>", "{}", h.name);
    // Never returned even though no cleanup ran; cleanup then removes them.
    if h.inspect.keeps_expired_until_cleanup() {
        assert_eq!(h.inspect.raw_keys().await.len(), 2, "{}", h.name);
    }
    h.inspect.cleanup().await;
    assert!(h.inspect.raw_keys().await.is_empty(), "{}", h.name);
}

pub async fn absolute_timeout_ends_even_an_active_session(h: &Harness) {
    let (app, _) = app(
        h.store.clone(),
        builder()
            .idle_timeout(Duration::from_millis(2000))
            .absolute_timeout(Duration::from_millis(2500)),
    );
    let c = login(&app, "alice").await;
    for _ in 0..2 {
        tokio::time::sleep(Duration::from_millis(800)).await;
        // A write as well as a read: neither extends past the absolute end.
        assert_eq!(
            get_with(&app, "/set/k/v", Some(&c)).await.status,
            StatusCode::OK
        );
        assert_eq!(who(&app, &c).await, "alice", "{}", h.name);
    }
    tokio::time::sleep(Duration::from_millis(1200)).await;
    // 2.8 s after creation, last used 1.2 s ago (idle alone would allow it).
    assert_eq!(who(&app, &c).await, "<anonymous>", "{}", h.name);
    // Regenerate keeps the creation time: no way to extend the session.
    let c = login(&app, "bob").await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let r = get_with(&app, "/regen", Some(&c)).await;
    let c2 = r.cookie(COOKIE).expect("regenerated");
    tokio::time::sleep(Duration::from_millis(1300)).await;
    assert_eq!(who(&app, &c2).await, "<anonymous>", "{}", h.name);
}

/// Cookie values an attacker can send: junk, wrong shapes, a real id with a
/// bad MAC, and a value signed with another key.
fn forged_cookie(i: usize, real: &str, foreign: &str) -> String {
    let mut b = [0u8; 48];
    getrandom::fill(&mut b).unwrap();
    let b64 = |bytes: &[u8]| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes);
    match i % 6 {
        0 => b64(&b[..16]) + "." + &b64(&b[16..]),
        1 => b.iter().map(|x| format!("{x:02x}")).collect(),
        2 => {
            // The real id with someone else's MAC.
            let (id, _) = real.split_once('.').unwrap();
            format!("{id}.{}", b64(&b[..32]))
        }
        3 => foreign.to_owned(),
        4 => {
            // One character of a real value flipped.
            let mut v = real.as_bytes().to_vec();
            let j = (b[0] as usize) % v.len();
            v[j] = if v[j] == b'A' { b'B' } else { b'A' };
            String::from_utf8(v).unwrap()
        }
        _ => format!("{}{}", "A".repeat(b[0] as usize), i),
    }
}

pub async fn forged_cookies_leave_the_store_empty_and_cost_no_round_trip(h: &Harness) {
    const N: usize = 10_000;
    let counting = Counting::new(h.store.clone());
    let (app, _) = app(counting.clone(), builder());
    // A real cookie to tamper with, made on a throwaway store.
    let (other, _) = app_on_memory();
    let real = login(&other, "x").await;
    let (foreign_app, _) = self::app(
        Arc::new(mitten::MemoryStore::new()),
        mitten::Mitten::builder()
            .secret_key(common::OTHER_KEY)
            .secure_cookies(false),
    );
    let foreign = login(&foreign_app, "x").await;

    let (_, calls) = counting
        .during(async {
            for i in 0..N {
                let v = forged_cookie(i, &real, &foreign);
                if v == real {
                    continue;
                }
                let r = get_with(&app, "/whoami", Some(&v)).await;
                assert_eq!(r.status, StatusCode::OK);
                assert_eq!(r.body, "<anonymous>", "{}", h.name);
                assert!(r.set_cookies().is_empty(), "{r:?}");
            }
        })
        .await;
    eprintln!(
        "[figures] {}: {N} forged cookies on a session-reading route: store calls: {calls}",
        h.name
    );
    assert_eq!(calls.total(), 0, "{}: {calls}", h.name);
    assert!(h.inspect.raw_keys().await.is_empty(), "{}", h.name);
}

fn app_on_memory() -> (Router, Arc<Gate>) {
    app(Arc::new(mitten::MemoryStore::new()), builder())
}

pub async fn store_dump_holds_no_session_id(h: &Harness) {
    let app = default_app(h);
    let c = login(&app, "alice").await;
    let (id_b64, _) = c.split_once('.').unwrap();
    let id = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(id_b64)
        .unwrap();
    assert_eq!(id.len(), 16);
    let hex = |b: &[u8]| b.iter().map(|x| format!("{x:02x}")).collect::<String>();
    let std_b64 = base64::engine::general_purpose::STANDARD.encode(&id);
    let unkeyed = hex(&sha2::Sha256::digest(&id));
    let dump = h.inspect.dump().await;
    assert!(
        dump.contains("alice"),
        "{}: dump sees the data: {dump}",
        h.name
    );
    for needle in [c.as_str(), id_b64, &hex(&id), &std_b64, &unkeyed] {
        assert!(
            !dump.contains(needle),
            "{}: the store dump gives the session id away ({needle})",
            h.name
        );
    }
    let keys = h.inspect.raw_keys().await;
    assert_eq!(keys.len(), 1);
    assert_eq!(keys[0].len(), 64);
    assert!(keys[0].bytes().all(|b| b.is_ascii_hexdigit()));
}

pub async fn key_rotation_keeps_sessions_and_tolerates_stale_cookies(h: &Harness) {
    let old_app = default_app(h);
    let old_cookie = login(&old_app, "alice").await;
    let (rotated, _) = app(
        h.store.clone(),
        mitten::Mitten::builder()
            .secret_key(common::OTHER_KEY)
            .fallback_key(common::KEY)
            .secure_cookies(false)
            .store_timeout(SUITE_STORE_TIMEOUT),
    );
    // First use with the old key: moved under the new key's hash, re-signed.
    let r = get_with(&rotated, "/whoami", Some(&old_cookie)).await;
    assert_eq!(r.body, "alice", "{}", h.name);
    let new_cookie = r.cookie(COOKIE).expect("re-signed with the new key");
    assert_ne!(new_cookie, old_cookie);
    assert_eq!(
        new_cookie.split_once('.').unwrap().0,
        old_cookie.split_once('.').unwrap().0
    );
    assert_eq!(h.inspect.raw_keys().await.len(), 1, "{}", h.name);

    // A request that still carries the old cookie (sent in parallel, or the
    // re-signed cookie never arrived) must still find the session.
    let stale = get_with(&rotated, "/whoami", Some(&old_cookie)).await;
    assert_eq!(stale.body, "alice", "{}: rotation lost the session", h.name);
    assert!(stale.cookie(COOKIE).is_some(), "re-signed again");

    let fresh = get_with(&rotated, "/whoami", Some(&new_cookie)).await;
    assert_eq!(fresh.body, "alice");
    assert_eq!(fresh.cookie(COOKIE), None, "nothing to re-sign");

    // Logout with the stale cookie ends the session under both hashes.
    let out = get_with(&rotated, "/logout", Some(&old_cookie)).await;
    assert_eq!(out.status, StatusCode::OK);
    assert!(h.inspect.raw_keys().await.is_empty(), "{}", h.name);
    assert_eq!(who(&rotated, &new_cookie).await, "<anonymous>");
}

pub async fn round_trips_per_request_type(h: &Harness) {
    let counting = Counting::new(h.store.clone());
    let (app, _) = app(counting.clone(), builder());
    let mut figures = Vec::new();
    let mut measure = |label: &'static str, calls: super::wrappers::Calls| {
        figures.push(format!("  {label}: {calls}"));
        calls
    };

    let (_, c) = counting.during(get_with(&app, "/plain", None)).await;
    assert_eq!(measure("route not touching the session", c).total(), 0);
    let (_, c) = counting.during(get_with(&app, "/whoami", None)).await;
    assert_eq!(measure("session read, no cookie", c).total(), 0);
    let (r, c) = counting
        .during(get_with(&app, "/login-as/alice", None))
        .await;
    let cookie = r.cookie(COOKIE).unwrap();
    assert_eq!(measure("login from no session (new session)", c).total(), 1);
    let (_, c) = counting
        .during(get_with(&app, "/whoami", Some(&cookie)))
        .await;
    assert_eq!(measure("session read", c).total(), 1);
    // CSRF: minting a token and verifying one need the id, never the store.
    let (r, c) = counting
        .during(get_with(&app, "/token", Some(&cookie)))
        .await;
    assert_eq!(r.status, StatusCode::OK, "{r:?}");
    assert_eq!(measure("CSRF token minted", c).total(), 0);
    let token = r.body.clone();
    let checked = browser("POST", "/checked")
        .header("cookie", format!("{COOKIE}={cookie}"))
        .header("x-csrf-token", token)
        .body(Body::empty())
        .unwrap();
    let (r, c) = counting.during(send(&app, checked)).await;
    assert_eq!(r.status, StatusCode::OK, "{r:?}");
    assert_eq!(
        measure("CSRF-checked POST (handler uses no session)", c).total(),
        0
    );
    let (_, c) = counting
        .during(get_with(&app, "/set/k/v", Some(&cookie)))
        .await;
    assert_eq!(measure("session write (insert)", c).total(), 2);
    let (_, c) = counting
        .during(get_with(&app, "/incr/n", Some(&cookie)))
        .await;
    assert_eq!(measure("update() without contention", c).total(), 2);
    let (r, c) = counting
        .during(get_with(&app, "/regen", Some(&cookie)))
        .await;
    let cookie = r.cookie(COOKIE).unwrap();
    assert_eq!(measure("regenerate()", c).total(), 2);
    let (_, c) = counting
        .during(get_with(&app, "/login-as/bob", Some(&cookie)))
        .await;
    assert_eq!(measure("login over an existing session", c).total(), 3);
    let (r, c) = counting
        .during(get_with(&app, "/logout", Some(&cookie)))
        .await;
    assert_eq!(r.status, StatusCode::OK);
    measure("logout (destroy) of a used session", c);
    let (_, c) = counting
        .during(get_with(&app, "/whoami", Some(&cookie)))
        .await;
    assert_eq!(measure("read with a dead cookie", c).total(), 1);
    let (_, c) = counting
        .during(get_with(&app, "/whoami", Some("forged.cookie")))
        .await;
    assert_eq!(measure("read with a bad signature", c).total(), 0);
    eprintln!(
        "[figures] {}: store calls per request type:\n{}",
        h.name,
        figures.join("\n")
    );
}
