//! Sessions at the HTTP level: lazy load, no needless writes, cookie
//! attributes, destroy, timeouts, store failures, key rotation and
//! concurrent writers. Fixation, cookie parsing and oversized data are in
//! the attack catalogue (`tests/attacks/`).

mod common;

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::http::StatusCode;
use axum::routing::get;
use axum::Router;
use common::*;
use mitten::{MemoryStore, Mitten, Session, SessionError, SessionStore};

/// `GET /put/{v}` on a fresh browser: the cookie value it was given.
async fn new_session(app: &Router, value: &str) -> String {
    let r = send(app, get_req(&format!("/put/{value}"))).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    r.cookie(COOKIE).expect("a first write sets the cookie")
}

fn with_cookie(uri: &str, value: &str) -> axum::http::Request<Body> {
    let (k, v) = cookie(COOKIE, value);
    req("GET", uri).header(k, v).body(Body::empty()).unwrap()
}

async fn read_value(app: &Router, cookie_value: &str) -> String {
    send(app, with_cookie("/value", cookie_value)).await.body
}

// ---- lazy load, no needless writes --------------------------------------

#[tokio::test]
async fn request_that_never_touches_the_session_does_no_store_io() {
    let store = Arc::new(CountingStore::default());
    let m = builder()
        .shared_store(store.clone() as Arc<dyn SessionStore>)
        .build()
        .unwrap();
    let app = app(&m, &Hits::default());
    let c = new_session(&app, "v").await;
    let before = store.calls();
    let r = send(&app, with_cookie("/plain", &c)).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(store.calls(), before, "a plain route touched the store");
    assert!(r.set_cookies().is_empty());
    // Not session-dependent: no Vary: Cookie, no forced private caching.
    assert!(!r.vary().contains(&"cookie".to_owned()), "{:?}", r.vary());
    assert!(r.header("cache-control").is_none());
}

#[tokio::test]
async fn read_only_request_loads_once_and_writes_nothing() {
    let store = Arc::new(CountingStore::default());
    let m = builder()
        .shared_store(store.clone() as Arc<dyn SessionStore>)
        .build()
        .unwrap();
    let app = app(&m, &Hits::default());
    let c = new_session(&app, "hello").await;
    let (loads, writes) = (store.loads.load(Ordering::SeqCst), store.writes());
    let r = send(&app, with_cookie("/value", &c)).await;
    assert_eq!(r.body, "hello");
    assert_eq!(store.loads.load(Ordering::SeqCst), loads + 1);
    assert_eq!(store.writes(), writes, "a read wrote to the store");
    assert!(r.set_cookies().is_empty(), "{:?}", r.set_cookies());
    assert!(r.vary().contains(&"cookie".to_owned()), "{:?}", r.vary());
    assert_eq!(r.header("cache-control"), Some("private"));
}

#[tokio::test]
async fn anonymous_read_creates_nothing_and_sets_no_cookie() {
    let store = Arc::new(MemoryStore::new());
    let m = builder_with(&store).build().unwrap();
    let app = app(&m, &Hits::default());
    let r = send(&app, get_req("/value")).await;
    assert_eq!(r.body, "<none>");
    assert!(r.set_cookies().is_empty());
    assert!(store.is_empty());
}

#[tokio::test]
async fn minting_a_csrf_token_sets_a_pre_session_cookie_but_writes_nothing() {
    let store = Arc::new(CountingStore::default());
    let m = builder()
        .shared_store(store.clone() as Arc<dyn SessionStore>)
        .build()
        .unwrap();
    let app = app(&m, &Hits::default());
    let r = send(&app, get_req("/token")).await;
    assert!(r.cookie(COOKIE).is_some());
    assert_eq!(store.calls(), 0);
    assert_eq!(r.header("cache-control"), Some("no-store"));
}

// ---- cookie attributes ---------------------------------------------------

#[tokio::test]
async fn session_cookie_defaults_are_host_prefixed_secure_httponly_lax_path_root() {
    let m = Mitten::builder().secret_key(KEY).build().unwrap();
    assert_eq!(m.cookie_name(), "__Host-mitten");
    let app = app(&m, &Hits::default());
    let r = send(&app, get_req("/put/x")).await;
    let line = r.set_cookie_line("__Host-mitten").expect("cookie set");
    let attrs: Vec<String> = line
        .split(';')
        .skip(1)
        .map(|a| a.trim().to_ascii_lowercase())
        .collect();
    for want in ["httponly", "secure", "samesite=lax", "path=/"] {
        assert!(attrs.contains(&want.to_owned()), "{want} missing: {line}");
    }
    assert!(
        !attrs.iter().any(|a| a.starts_with("domain")
            || a.starts_with("max-age")
            || a.starts_with("expires")),
        "{line}"
    );
    // The value is `id.mac`, nothing readable.
    let value = r.cookie("__Host-mitten").unwrap();
    assert_eq!(value.split('.').count(), 2, "{value}");
}

#[tokio::test]
async fn bad_cookie_configurations_fail_to_build() {
    let host_without_secure = Mitten::builder()
        .secret_key(KEY)
        .cookie_name("__Host-sid")
        .secure_cookies(false)
        .build();
    assert!(host_without_secure.is_err());
    let host_with_domain = Mitten::builder()
        .secret_key(KEY)
        .cookie_domain("example.com")
        .build();
    assert!(
        host_with_domain.is_err(),
        "default __Host- name with a Domain"
    );
    let none_without_secure = Mitten::builder()
        .secret_key(KEY)
        .secure_cookies(false)
        .same_site(mitten::SameSite::None)
        .build();
    assert!(none_without_secure.is_err());
    let short_key = Mitten::builder().secret_key("too short").build();
    assert!(short_key.unwrap_err().to_string().contains("32 bytes"));
    let no_key = Mitten::builder().build();
    assert!(no_key.is_err());
}

// ---- destroy -------------------------------------------------------------

#[tokio::test]
async fn destroy_deletes_server_side_and_expires_the_cookie_with_its_attributes() {
    let store = Arc::new(MemoryStore::new());
    let m = Mitten::builder()
        .secret_key(KEY)
        .shared_store(store.clone() as Arc<dyn SessionStore>)
        .build()
        .unwrap();
    let app = app(&m, &Hits::default());
    let r = send(&app, get_req("/put/x")).await;
    let c = r.cookie("__Host-mitten").unwrap();
    let (k, v) = cookie("__Host-mitten", &c);
    let tok = {
        let r = send(
            &app,
            req("GET", "/token")
                .header(k.clone(), v.clone())
                .body(Body::empty())
                .unwrap(),
        )
        .await;
        r.body
    };
    let r = send(
        &app,
        browser("POST", "/logout")
            .header(k.clone(), v.clone())
            .header("x-csrf-token", tok)
            .body(Body::empty())
            .unwrap(),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert!(store.is_empty(), "destroy left the record");
    let line = r.set_cookie_line("__Host-mitten").expect("removal cookie");
    let lower = line.to_ascii_lowercase();
    assert!(line.starts_with("__Host-mitten=;"), "{line}");
    for want in ["path=/", "secure", "httponly", "max-age=0"] {
        assert!(lower.contains(want), "{want} missing: {line}");
    }
    assert!(!lower.contains("domain"), "{line}");
    // Replaying the old cookie: anonymous, and not re-adopted on write.
    let r = send(
        &app,
        req("GET", "/put/again")
            .header(k, v)
            .body(Body::empty())
            .unwrap(),
    )
    .await;
    assert_ne!(r.cookie("__Host-mitten").unwrap(), c);
}

// ---- timeouts --------------------------------------------------------------

#[tokio::test]
async fn idle_timeout_ends_an_unused_session() {
    let store = Arc::new(MemoryStore::new());
    let m = builder_with(&store)
        .idle_timeout(Duration::from_millis(300))
        .build()
        .unwrap();
    let app = app(&m, &Hits::default());
    let c = new_session(&app, "v").await;
    assert_eq!(read_value(&app, &c).await, "v");
    tokio::time::sleep(Duration::from_millis(450)).await;
    assert_eq!(read_value(&app, &c).await, "<none>");
    assert!(store.is_empty());
}

#[tokio::test]
async fn activity_moves_the_idle_deadline() {
    let m = builder()
        .idle_timeout(Duration::from_millis(600))
        .build()
        .unwrap();
    let app = app(&m, &Hits::default());
    let c = new_session(&app, "v").await;
    // Each read comes before the deadline and moves it (a touch happens once
    // a tenth of the window has passed), so the session outlives 600 ms.
    for _ in 0..5 {
        tokio::time::sleep(Duration::from_millis(250)).await;
        assert_eq!(read_value(&app, &c).await, "v");
    }
}

#[tokio::test]
async fn absolute_timeout_ends_even_an_active_session() {
    let m = builder()
        .idle_timeout(Duration::from_secs(60))
        .absolute_timeout(Duration::from_millis(500))
        .build()
        .unwrap();
    let app = app(&m, &Hits::default());
    let c = new_session(&app, "v").await;
    let mut ended = false;
    for _ in 0..8 {
        tokio::time::sleep(Duration::from_millis(150)).await;
        let r = send(&app, with_cookie("/put/v", &c)).await;
        if r.cookie(COOKIE).is_some_and(|n| n != c) {
            ended = true;
            break;
        }
    }
    assert!(ended, "writing every 150 ms kept the session past 500 ms");
    assert_eq!(read_value(&app, &c).await, "<none>");
}

// ---- store failures ------------------------------------------------------

#[tokio::test]
async fn store_down_is_503_with_security_headers_and_cookie_untouched() {
    let healthy = app(&builder().build().unwrap(), &Hits::default());
    let c = new_session(&healthy, "v").await;

    let m = builder().store(FailingStore).build().unwrap();
    let app = app(&m, &Hits::default());
    for uri in ["/value", "/put/x", "/whoami"] {
        let r = send(&app, with_cookie(uri, &c)).await;
        assert_eq!(r.status, StatusCode::SERVICE_UNAVAILABLE, "{uri}");
        assert_security_headers(&r);
        assert!(r.set_cookies().is_empty(), "{uri}: {:?}", r.set_cookies());
        assert!(!r.body.contains(&c));
    }
    let r = send(&app, with_cookie("/plain", &c)).await;
    assert_eq!(r.status, StatusCode::OK);
}

#[tokio::test]
async fn store_that_hangs_fails_within_the_store_timeout() {
    struct Hanging;
    #[async_trait::async_trait]
    impl SessionStore for Hanging {
        async fn load(
            &self,
            _: &mitten::session::store::StoreKey,
        ) -> Result<Option<mitten::Record>, mitten::StoreError> {
            std::future::pending().await
        }
        async fn create(
            &self,
            _: &mitten::session::store::StoreKey,
            _: &mitten::Record,
        ) -> Result<bool, mitten::StoreError> {
            std::future::pending().await
        }
        async fn save(
            &self,
            _: &mitten::session::store::StoreKey,
            _: &mitten::Record,
            _: u64,
        ) -> Result<mitten::session::store::SaveOutcome, mitten::StoreError> {
            std::future::pending().await
        }
        async fn rename(
            &self,
            _: &mitten::session::store::StoreKey,
            _: &mitten::session::store::StoreKey,
            _: &mitten::Record,
            _: u64,
        ) -> Result<mitten::session::store::RenameOutcome, mitten::StoreError> {
            std::future::pending().await
        }
        async fn touch(
            &self,
            _: &mitten::session::store::StoreKey,
            _: u64,
        ) -> Result<(), mitten::StoreError> {
            std::future::pending().await
        }
        async fn delete(
            &self,
            _: &mitten::session::store::StoreKey,
        ) -> Result<(), mitten::StoreError> {
            std::future::pending().await
        }
    }
    let m = builder()
        .store(Hanging)
        .store_timeout(Duration::from_millis(100))
        .build()
        .unwrap();
    let app = app(&m, &Hits::default());
    let healthy = app_for_cookie().await;
    let r = tokio::time::timeout(
        Duration::from_secs(10),
        send(&app, with_cookie("/value", &healthy)),
    )
    .await
    .expect("the store timeout bounds the request");
    assert_eq!(r.status, StatusCode::SERVICE_UNAVAILABLE);
}

async fn app_for_cookie() -> String {
    let healthy = app(&builder().build().unwrap(), &Hits::default());
    new_session(&healthy, "v").await
}

// ---- key rotation ----------------------------------------------------------

#[tokio::test]
async fn key_rotation_keeps_sessions_and_resigns_them_under_the_new_key() {
    let store = Arc::new(MemoryStore::new());
    let old_app = app(&builder_with(&store).build().unwrap(), &Hits::default());
    let c = new_session(&old_app, "kept").await;

    let rotated = Mitten::builder()
        .secret_key(OTHER_KEY)
        .fallback_key(KEY)
        .secure_cookies(false)
        .shared_store(store.clone() as Arc<dyn SessionStore>)
        .build()
        .unwrap();
    let new_app = app(&rotated, &Hits::default());
    let r = send(&new_app, with_cookie("/value", &c)).await;
    assert_eq!(r.body, "kept");
    let resigned = r.cookie(COOKIE).expect("re-signed under the new key");
    assert_ne!(resigned, c);
    assert_eq!(store.len(), 1, "moved, not copied");
    assert_eq!(read_value(&new_app, &resigned).await, "kept");

    // Once the old key is retired, only the re-signed cookie works.
    let retired = Mitten::builder()
        .secret_key(OTHER_KEY)
        .secure_cookies(false)
        .shared_store(store.clone() as Arc<dyn SessionStore>)
        .build()
        .unwrap();
    let retired_app = app(&retired, &Hits::default());
    assert_eq!(read_value(&retired_app, &resigned).await, "kept");
    assert_eq!(read_value(&retired_app, &c).await, "<none>");
}

// ---- concurrency -----------------------------------------------------------

fn counter_app(m: &Mitten) -> Router {
    Router::new()
        .route(
            "/bump/{key}",
            get(
                |session: Session, axum::extract::Path(key): axum::extract::Path<String>| async move {
                    session
                        .update(&key, |n: Option<u64>| n.unwrap_or(0) + 1)
                        .await?;
                    Ok::<_, SessionError>("ok")
                },
            ),
        )
        .route(
            "/set/{key}",
            get(
                |session: Session, axum::extract::Path(key): axum::extract::Path<String>| async move {
                    // Read something first so the CAS has a stale version to lose.
                    let _ = session.get::<u64>("seed").await?;
                    tokio::task::yield_now().await;
                    session.insert(&key, 1u64).await?;
                    Ok::<_, SessionError>("ok")
                },
            ),
        )
        .route(
            "/dump",
            get(|session: Session| async move {
                let mut out = Vec::new();
                for k in (0..50).map(|i| format!("k{i}")).chain(["n".to_owned()]) {
                    if let Some(v) = session.get::<u64>(&k).await? {
                        out.push(format!("{k}={v}"));
                    }
                }
                Ok::<_, SessionError>(out.join(","))
            }),
        )
        .route("/put/{v}", get(|session: Session| async move {
            session.insert("seed", 0u64).await?;
            Ok::<_, SessionError>("stored")
        }))
        .layer(m.layer())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_writes_to_different_keys_all_survive() {
    let m = builder().build().unwrap();
    let app = counter_app(&m);
    let c = new_session(&app, "seed").await;
    let tasks: Vec<_> = (0..50)
        .map(|i| {
            let app = app.clone();
            let c = c.clone();
            tokio::spawn(async move { send(&app, with_cookie(&format!("/set/k{i}"), &c)).await })
        })
        .collect();
    for t in tasks {
        assert_eq!(t.await.unwrap().status, StatusCode::OK);
    }
    let dump = send(&app, with_cookie("/dump", &c)).await.body;
    assert_eq!(dump.split(',').count(), 50, "{dump}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_updates_of_one_key_lose_nothing() {
    let m = builder().build().unwrap();
    let app = counter_app(&m);
    let c = new_session(&app, "seed").await;
    let tasks: Vec<_> = (0..100)
        .map(|_| {
            let app = app.clone();
            let c = c.clone();
            tokio::spawn(async move { send(&app, with_cookie("/bump/n", &c)).await })
        })
        .collect();
    for t in tasks {
        let r = t.await.unwrap();
        assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    }
    let dump = send(&app, with_cookie("/dump", &c)).await.body;
    assert_eq!(dump, "n=100");
}

// ---- misuse ----------------------------------------------------------------

#[tokio::test]
async fn session_extractor_without_the_layer_is_a_500_that_says_so() {
    let app = Router::new().route(
        "/",
        get(|s: Session| async move {
            let _ = s;
            "unreachable"
        }),
    );
    let r = send(&app, get_req("/")).await;
    assert_eq!(r.status, StatusCode::INTERNAL_SERVER_ERROR);
}

#[tokio::test]
async fn the_cookie_signature_is_checked_only_when_the_session_is_used() {
    let app = app(&builder().build().unwrap(), &Hits::default());
    let logs = capture_logs();
    let forged = "AAAAAAAAAAAAAAAAAAAAAA.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA";
    let r = send(&app, with_cookie("/plain", forged)).await;
    assert_eq!(r.status, StatusCode::OK);
    assert!(
        !logs.contents().contains("failed verification"),
        "a route that never touches the session paid for an HMAC: {}",
        logs.contents()
    );
    assert_eq!(read_value(&app, forged).await, "<none>");
    assert!(
        logs.contents().contains("failed verification"),
        "{}",
        logs.contents()
    );
}
