//! Family 8, secrets in logs: with a subscriber capturing every event at
//! TRACE, hostile requests and every session path (refusals, bad cookies,
//! login, logout, key rotation, eviction, store failure, oversized data,
//! type errors) log no key, token, cookie value, session id, store key or
//! session data. Each test also checks that the events it expects were
//! captured, so a broken capture cannot pass. (`capture_logs` routes a
//! process-wide TRACE subscriber to the capturing test's thread.)

use std::sync::Arc;

use axum::body::Body;
use axum::http::{header, Request, StatusCode};
use axum::routing::get;
use axum::Router;
use mitten::{CsrfToken, MemoryStore, Mitten, Session, SessionError, SessionStore};

use crate::common::*;
use crate::kit::*;

/// Session data that must never be logged.
const SECRET_VALUE: &str = "hunter2-session-secret";

/// Everything secret that a test saw, in every spelling that matters.
#[derive(Default)]
struct Secrets(Vec<String>);

impl Secrets {
    fn keys() -> Self {
        Self(vec![KEY.into(), OTHER_KEY.into(), THIRD_KEY.into()])
    }

    fn token(&mut self, t: &str) {
        self.0.push(t.to_owned());
    }

    /// A cookie value, its id and its MAC.
    fn cookie(&mut self, c: &str) {
        self.0.push(c.to_owned());
        if let Some((id, mac)) = c.split_once('.') {
            self.0.push(id.to_owned());
            self.0.push(mac.to_owned());
        }
    }

    fn store(&mut self, store: &MemoryStore) {
        for k in store.keys() {
            self.0.push(k.as_str().to_owned());
        }
    }

    fn response(&mut self, r: &Resp) {
        for line in r.set_cookies() {
            if let Some(v) = line.split(';').next().and_then(|p| p.split_once('=')) {
                if !v.1.is_empty() {
                    self.cookie(v.1);
                }
            }
        }
    }

    fn assert_absent_from(&self, logs: &str) {
        for s in &self.0 {
            assert!(s.len() >= 8, "too short to search for: {s:?}");
            assert!(!logs.contains(s.as_str()), "secret {s:?} logged:\n{logs}");
        }
        assert!(!logs.contains(SECRET_VALUE), "session data logged:\n{logs}");
    }
}

fn post(v: &Victim, uri: &str) -> axum::http::request::Builder {
    v.req("POST", uri)
}

#[tokio::test]
async fn csrf_refusals_at_trace_level_log_no_token_cookie_or_key() {
    let v = Victim::with(|b| b.body_limit(512).json_only("/value")).await;
    let logs = capture_logs();
    let mut secrets = Secrets::keys();
    secrets.token(&v.token);
    secrets.cookie(&v.cookie);
    secrets.store(&v.store);
    let (other_token, other_cookie) = token(&v.app, &v.name).await;
    secrets.token(&other_token);
    secrets.cookie(&other_cookie);
    let t = v.token.clone();
    let hostile: Vec<Request<Body>> = vec![
        post(&v, "/notes/").body(Body::empty()).unwrap(),
        post(&v, "/notes/")
            .header("x-csrf-token", other_token.as_str())
            .body(Body::empty())
            .unwrap(),
        post(&v, "/notes/")
            .header("x-csrf-token", format!("{t}x"))
            .body(Body::empty())
            .unwrap(),
        post(&v, "/form")
            .header(header::CONTENT_TYPE, FORM)
            .body(Body::from(format!("_csrf_token={t}&_csrf_token={t}")))
            .unwrap(),
        post(&v, &format!("/notes/?_csrf_token={t}"))
            .body(Body::empty())
            .unwrap(),
        v.with_token("POST", "/notes/")
            .header("sec-fetch-site", "cross-site")
            .body(Body::empty())
            .unwrap(),
        req("POST", "/notes/")
            .header(header::ORIGIN, "null")
            .header(header::COOKIE, v.cookie_header())
            .header("x-csrf-token", t.as_str())
            .body(Body::empty())
            .unwrap(),
        req("POST", "/notes/")
            .header(header::REFERER, format!("http://evil.test/?{t}"))
            .header(header::COOKIE, v.cookie_header())
            .header("x-csrf-token", t.as_str())
            .body(Body::empty())
            .unwrap(),
        post(&v, "/form")
            .header(header::CONTENT_TYPE, FORM)
            .body(Body::from(format!(
                "_csrf_token={t}&pad={}",
                "x".repeat(600)
            )))
            .unwrap(),
        post(&v, "/upload")
            .header(header::CONTENT_TYPE, "multipart/form-data; boundary=B")
            .body(Body::from(format!("--B\r\n{t}")))
            .unwrap(),
        browser("POST", "/login/")
            .header("x-csrf-token", other_token.as_str())
            .body(Body::empty())
            .unwrap(),
        req("GET", "/value")
            .header(header::COOKIE, v.cookie_header())
            .body(Body::empty())
            .unwrap(),
    ];
    for r in hostile {
        let res = v.send(r).await;
        assert!(res.status.is_client_error(), "{}", res.status);
    }
    let logs = logs.contents();
    assert!(
        logs.contains("request refused"),
        "nothing captured:\n{logs}"
    );
    assert!(logs.contains("TRACE") || logs.contains("WARN"), "{logs}");
    secrets.assert_absent_from(&logs);
}

#[tokio::test]
async fn bad_and_ambiguous_session_cookies_log_no_cookie_value() {
    let v = Victim::new().await;
    let logs = capture_logs();
    let mut secrets = Secrets::keys();
    secrets.cookie(&v.cookie);
    secrets.store(&v.store);
    let other = send(&v.app, get_req("/put/other"))
        .await
        .cookie(&v.name)
        .unwrap();
    secrets.cookie(&other);
    let mut tampered = v.cookie.clone().into_bytes();
    tampered[3] = if tampered[3] == b'A' { b'B' } else { b'A' };
    let tampered = String::from_utf8(tampered).unwrap();
    secrets.cookie(&tampered);
    for cookies in [
        format!("{}={tampered}", v.name),
        format!("{}; {}={other}", v.cookie_header(), v.name),
        format!("{}={}", v.name, "Z".repeat(5000)),
    ] {
        let r = send(
            &v.app,
            req("GET", "/value")
                .header(header::COOKIE, cookies)
                .body(Body::empty())
                .unwrap(),
        )
        .await;
        assert_eq!(r.body, "<none>");
    }
    let logs = logs.contents();
    assert!(logs.contains("not adopted"), "nothing captured:\n{logs}");
    secrets.assert_absent_from(&logs);
}

/// Routes for the session paths: a secret value, a type error on it, an
/// oversized write, and handlers that debug-print their extractors.
fn session_paths(m: &Mitten) -> Router {
    crate::kit::victim_routes(&Hits::default())
        .route(
            "/secret",
            get(|s: Session| async move {
                s.insert("secret", SECRET_VALUE).await?;
                Ok::<_, SessionError>("kept")
            }),
        )
        .route(
            "/typed",
            get(|s: Session| async move {
                // Asks for the secret with the wrong type: a serde error.
                let n: Option<u64> = s.get("secret").await?;
                Ok::<_, SessionError>(format!("{n:?}"))
            }),
        )
        .route(
            "/big",
            get(|s: Session| async move {
                s.insert("big", format!("{SECRET_VALUE}{}", "x".repeat(100_000)))
                    .await?;
                Ok::<_, SessionError>("unreachable")
            }),
        )
        .route(
            "/debug",
            get(|s: Session, csrf: CsrfToken| async move {
                tracing::info!(session = ?s, csrf = ?csrf, "handler debug-prints its extractors");
                let t = csrf.token()?;
                tracing::trace!(len = t.len(), "minted");
                Ok::<_, SessionError>(t)
            }),
        )
        .layer(m.layer())
}

#[tokio::test]
async fn session_lifecycle_and_errors_log_no_session_id_store_key_or_data() {
    let store = Arc::new(MemoryStore::new().max_sessions(2));
    let m = Mitten::builder()
        .secret_key(OTHER_KEY)
        .fallback_key(KEY)
        .secure_cookies(false)
        .shared_store(store.clone() as Arc<dyn SessionStore>)
        .build()
        .unwrap();
    // A session signed with the old key, made before the rotation.
    let old_app = session_paths(&builder_with(&store).build().unwrap());
    let old_cookie = send(&old_app, get_req("/secret"))
        .await
        .cookie(COOKIE)
        .unwrap();

    let logs = capture_logs();
    let mut secrets = Secrets::keys();
    secrets.cookie(&old_cookie);
    secrets.store(&store);
    let app = session_paths(&m);
    let with = |uri: &str, c: &str| {
        req("GET", uri)
            .header(header::COOKIE, format!("{COOKIE}={c}"))
            .body(Body::empty())
            .unwrap()
    };
    // Key rotation: the session moves to the new key's store key.
    let r = send(&app, with("/value", &old_cookie)).await;
    secrets.response(&r);
    let c = r.cookie(COOKIE).expect("re-signed");
    secrets.store(&store);
    // Type error on secret data, oversized data.
    let r = send(&app, with("/typed", &c)).await;
    assert_eq!(r.status, StatusCode::INTERNAL_SERVER_ERROR, "{}", r.body);
    assert!(!r.body.contains(SECRET_VALUE));
    let r = send(&app, with("/big", &c)).await;
    assert_eq!(r.status, StatusCode::PAYLOAD_TOO_LARGE);
    // Debug printing, token minting, login, logout.
    let r = send(&app, with("/debug", &c)).await;
    secrets.token(&r.body);
    let login = browser("POST", "/login/")
        .header(header::COOKIE, format!("{COOKIE}={c}"))
        .header("x-csrf-token", r.body.as_str())
        .body(Body::empty())
        .unwrap();
    let r = send(&app, login).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    secrets.response(&r);
    let logged_in = r.cookie(COOKIE).unwrap();
    secrets.store(&store);
    // Eviction: a full store drops sessions nearest expiry.
    for i in 0..3 {
        let r = send(&app, get_req(&format!("/put/{i}"))).await;
        secrets.response(&r);
        secrets.store(&store);
    }
    let t = token_for(&app, COOKIE, &logged_in).await;
    secrets.token(&t);
    let logout = browser("POST", "/logout/")
        .header(header::COOKIE, format!("{COOKIE}={logged_in}"))
        .header("x-csrf-token", t)
        .body(Body::empty())
        .unwrap();
    send(&app, logout).await;

    let logs = logs.contents();
    for expected in ["session error", "evicted", "debug-prints"] {
        assert!(
            logs.contains(expected),
            "{expected:?} not captured:\n{logs}"
        );
    }
    secrets.assert_absent_from(&logs);
}

#[tokio::test]
async fn store_failure_logs_no_session_id_or_store_key() {
    let healthy_store = Arc::new(MemoryStore::new());
    let healthy = session_paths(&builder_with(&healthy_store).build().unwrap());
    let c = send(&healthy, get_req("/secret"))
        .await
        .cookie(COOKIE)
        .unwrap();
    let m = builder().store(FailingStore).build().unwrap();
    let app = session_paths(&m);
    let logs = capture_logs();
    let mut secrets = Secrets::keys();
    secrets.cookie(&c);
    secrets.store(&healthy_store);
    for uri in ["/value", "/secret", "/typed"] {
        let r = send(
            &app,
            req("GET", uri)
                .header(header::COOKIE, format!("{COOKIE}={c}"))
                .body(Body::empty())
                .unwrap(),
        )
        .await;
        assert_eq!(r.status, StatusCode::SERVICE_UNAVAILABLE, "{uri}");
    }
    let logs = logs.contents();
    assert!(
        logs.contains("session store error"),
        "nothing captured:\n{logs}"
    );
    secrets.assert_absent_from(&logs);
}
