//! Shared helpers for the HTTP-level tests: build an app, send a request
//! through `tower::ServiceExt::oneshot`, read status / headers / cookies /
//! body, and test stores that count or fail.
#![allow(dead_code)]

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use axum::body::Body;
use axum::http::{header, HeaderMap, Method, Request, StatusCode};
use axum::routing::{any, get, post};
use axum::Router;
use mitten::session::store::{RenameOutcome, SaveOutcome, StoreKey};
use mitten::{CsrfToken, MemoryStore, Mitten, MittenBuilder, Record, Session, SessionError};
use mitten::{SessionStore, StoreError};
use tower::ServiceExt;

/// The secret key used by most tests (64 bytes).
pub const KEY: &str = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
/// Another valid key (for rotation tests).
pub const OTHER_KEY: &str = "fedcba9876543210fedcba9876543210fedcba9876543210fedcba9876543210";
/// Host used by every test request; the app's own origin is `http://localhost`.
pub const HOST: &str = "localhost";
pub const ORIGIN: &str = "http://localhost";
/// The session cookie name with `.secure_cookies(false)`.
pub const COOKIE: &str = "mitten";

/// A builder with the test key and plain-HTTP cookies (`mitten`).
pub fn builder() -> MittenBuilder {
    Mitten::builder().secret_key(KEY).secure_cookies(false)
}

/// A builder with the test key on a shared memory store.
pub fn builder_with(store: &Arc<MemoryStore>) -> MittenBuilder {
    builder().shared_store(store.clone() as Arc<dyn SessionStore>)
}

/// A response, fully read.
#[derive(Debug)]
pub struct Resp {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: String,
}

impl Resp {
    /// The single value of `name`; panics when the header is repeated.
    pub fn header(&self, name: &str) -> Option<&str> {
        let all: Vec<_> = self.headers.get_all(name).iter().collect();
        assert!(
            all.len() <= 1,
            "header {name} sent {} times: {all:?}",
            all.len()
        );
        all.first().map(|v| v.to_str().expect("ascii header"))
    }

    /// Every value of `name`.
    pub fn all(&self, name: &str) -> Vec<String> {
        self.headers
            .get_all(name)
            .iter()
            .map(|v| v.to_str().expect("ascii header").to_owned())
            .collect()
    }

    pub fn set_cookies(&self) -> Vec<String> {
        self.all("set-cookie")
    }

    /// The full `Set-Cookie` line for cookie `name`, if one was sent.
    pub fn set_cookie_line(&self, name: &str) -> Option<String> {
        let lines: Vec<String> = self
            .set_cookies()
            .into_iter()
            .filter(|c| c.starts_with(&format!("{name}=")))
            .collect();
        assert!(
            lines.len() <= 1,
            "cookie {name} set several times: {lines:?}"
        );
        lines.into_iter().next()
    }

    /// The value given to cookie `name` by this response, if any.
    pub fn cookie(&self, name: &str) -> Option<String> {
        self.set_cookie_line(name).map(|l| {
            l[name.len() + 1..]
                .split(';')
                .next()
                .unwrap_or("")
                .to_owned()
        })
    }

    /// All `Vary` tokens, lowercased.
    pub fn vary(&self) -> Vec<String> {
        self.all("vary")
            .iter()
            .flat_map(|v| v.split(',').map(|t| t.trim().to_ascii_lowercase()))
            .collect()
    }
}

/// Sends one request through `app` and reads the whole response.
pub async fn send(app: &Router, req: Request<Body>) -> Resp {
    let res = app.clone().oneshot(req).await.expect("infallible");
    read(res).await
}

pub async fn read(res: axum::response::Response) -> Resp {
    let (parts, body) = res.into_parts();
    let bytes = axum::body::to_bytes(body, usize::MAX)
        .await
        .expect("body reads");
    Resp {
        status: parts.status,
        headers: parts.headers,
        body: String::from_utf8_lossy(&bytes).into_owned(),
    }
}

/// A request builder with `Host: localhost`; `method` may be any token.
pub fn req(method: &str, uri: &str) -> axum::http::request::Builder {
    Request::builder()
        .method(Method::from_bytes(method.as_bytes()).expect("method token"))
        .uri(uri)
        .header(header::HOST, HOST)
}

/// A same-origin browser request: `Host` plus `Origin: http://localhost`.
pub fn browser(method: &str, uri: &str) -> axum::http::request::Builder {
    req(method, uri).header(header::ORIGIN, ORIGIN)
}

pub fn get_req(uri: &str) -> Request<Body> {
    req("GET", uri).body(Body::empty()).unwrap()
}

/// `Cookie: name=value`.
pub fn cookie(name: &str, value: &str) -> (header::HeaderName, String) {
    (header::COOKIE, format!("{name}={value}"))
}

/// A freshly minted token and the session cookie value it is bound to,
/// from `GET /token` (a handler returning `csrf.token()`).
pub async fn token(app: &Router, cookie_name: &str) -> (String, String) {
    let r = send(app, get_req("/token")).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let c = r
        .cookie(cookie_name)
        .expect("minting a token starts a session cookie");
    (r.body, c)
}

/// A token for an existing session cookie.
pub async fn token_for(app: &Router, cookie_name: &str, cookie_value: &str) -> String {
    let (k, v) = cookie(cookie_name, cookie_value);
    let r = send(
        app,
        req("GET", "/token")
            .header(k, v)
            .body(Body::empty())
            .unwrap(),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK);
    r.body
}

/// The baseline every response must carry, whatever produced it.
pub fn assert_security_headers(r: &Resp) {
    assert_eq!(r.header("x-frame-options"), Some("DENY"), "{r:?}");
    let csp = r.all("content-security-policy");
    assert_eq!(csp.len(), 1, "{csp:?}");
    assert!(csp[0].contains("frame-ancestors 'none'"), "{csp:?}");
    assert_eq!(r.header("x-content-type-options"), Some("nosniff"));
    assert_eq!(
        r.header("referrer-policy"),
        Some("strict-origin-when-cross-origin")
    );
    assert_eq!(r.header("x-xss-protection"), Some("0"));
    assert!(r.header("x-powered-by").is_none());
}

/// A handler counter: proves whether a handler ran.
#[derive(Clone, Default)]
pub struct Hits(pub Arc<AtomicUsize>);

impl Hits {
    pub fn bump(&self) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
    pub fn get(&self) -> usize {
        self.0.load(Ordering::SeqCst)
    }
}

/// The standard app used by most tests:
/// - `GET /token` mints a CSRF token (and a pre-session cookie);
/// - `GET /plain` touches nothing;
/// - `any /submit` counts hits and answers `ok` (CSRF-checked for unsafe methods);
/// - `GET /put/{v}` stores `v` under `value`; `GET /value` reads it;
/// - `POST /login` regenerates and stores `user`; `GET /whoami` reads it;
/// - `POST /logout` destroys the session.
pub fn routes(hits: &Hits) -> Router {
    let h = hits.clone();
    Router::new()
        .route("/token", get(token_handler))
        .route("/plain", get(|| async { "plain" }))
        .route(
            "/submit",
            any(move || {
                let h = h.clone();
                async move {
                    h.bump();
                    "ok"
                }
            }),
        )
        .route("/put/{v}", get(put_value))
        .route("/value", get(get_value))
        .route("/login", post(login))
        .route("/whoami", get(whoami))
        .route("/logout", post(logout))
}

pub fn app(m: &Mitten, hits: &Hits) -> Router {
    routes(hits).layer(m.layer())
}

pub async fn token_handler(csrf: CsrfToken) -> Result<String, SessionError> {
    csrf.token()
}

async fn put_value(
    session: Session,
    axum::extract::Path(v): axum::extract::Path<String>,
) -> Result<&'static str, SessionError> {
    session.insert("value", v).await?;
    Ok("stored")
}

async fn get_value(session: Session) -> Result<String, SessionError> {
    Ok(session
        .get::<String>("value")
        .await?
        .unwrap_or_else(|| "<none>".into()))
}

async fn login(session: Session) -> Result<&'static str, SessionError> {
    session.regenerate().await?;
    session.insert("user", "alice").await?;
    Ok("logged in")
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

/// A [`SessionStore`] around a [`MemoryStore`] that counts every call.
#[derive(Default)]
pub struct CountingStore {
    pub inner: MemoryStore,
    pub loads: AtomicUsize,
    pub creates: AtomicUsize,
    pub saves: AtomicUsize,
    pub renames: AtomicUsize,
    pub touches: AtomicUsize,
    pub deletes: AtomicUsize,
}

impl CountingStore {
    pub fn calls(&self) -> usize {
        [
            &self.loads,
            &self.creates,
            &self.saves,
            &self.renames,
            &self.touches,
            &self.deletes,
        ]
        .iter()
        .map(|c| c.load(Ordering::SeqCst))
        .sum()
    }

    pub fn writes(&self) -> usize {
        [
            &self.creates,
            &self.saves,
            &self.renames,
            &self.touches,
            &self.deletes,
        ]
        .iter()
        .map(|c| c.load(Ordering::SeqCst))
        .sum()
    }
}

fn bump(c: &AtomicUsize) {
    c.fetch_add(1, Ordering::SeqCst);
}

#[async_trait]
impl SessionStore for CountingStore {
    async fn load(&self, key: &StoreKey) -> Result<Option<Record>, StoreError> {
        bump(&self.loads);
        self.inner.load(key).await
    }
    async fn create(&self, key: &StoreKey, record: &Record) -> Result<bool, StoreError> {
        bump(&self.creates);
        self.inner.create(key, record).await
    }
    async fn save(
        &self,
        key: &StoreKey,
        record: &Record,
        expected_version: u64,
    ) -> Result<SaveOutcome, StoreError> {
        bump(&self.saves);
        self.inner.save(key, record, expected_version).await
    }
    async fn rename(
        &self,
        from: &StoreKey,
        to: &StoreKey,
        record: &Record,
        expected_version: u64,
    ) -> Result<RenameOutcome, StoreError> {
        bump(&self.renames);
        self.inner.rename(from, to, record, expected_version).await
    }
    async fn touch(&self, key: &StoreKey, expires_at_ms: u64) -> Result<(), StoreError> {
        bump(&self.touches);
        self.inner.touch(key, expires_at_ms).await
    }
    async fn delete(&self, key: &StoreKey) -> Result<(), StoreError> {
        bump(&self.deletes);
        self.inner.delete(key).await
    }
}

/// A store that is down: every call fails.
pub struct FailingStore;

#[async_trait]
impl SessionStore for FailingStore {
    async fn load(&self, _: &StoreKey) -> Result<Option<Record>, StoreError> {
        Err(StoreError::new("down"))
    }
    async fn create(&self, _: &StoreKey, _: &Record) -> Result<bool, StoreError> {
        Err(StoreError::new("down"))
    }
    async fn save(&self, _: &StoreKey, _: &Record, _: u64) -> Result<SaveOutcome, StoreError> {
        Err(StoreError::new("down"))
    }
    async fn rename(
        &self,
        _: &StoreKey,
        _: &StoreKey,
        _: &Record,
        _: u64,
    ) -> Result<RenameOutcome, StoreError> {
        Err(StoreError::new("down"))
    }
    async fn touch(&self, _: &StoreKey, _: u64) -> Result<(), StoreError> {
        Err(StoreError::new("down"))
    }
    async fn delete(&self, _: &StoreKey) -> Result<(), StoreError> {
        Err(StoreError::new("down"))
    }
}

/// An in-memory log sink for a tracing subscriber.
#[derive(Clone, Default)]
pub struct LogBuffer(pub Arc<Mutex<Vec<u8>>>);

impl LogBuffer {
    pub fn contents(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned()
    }
}

impl std::io::Write for LogBuffer {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

thread_local! {
    static CAPTURE: std::cell::RefCell<Option<LogBuffer>> = const { std::cell::RefCell::new(None) };
}

/// Writes to the buffer of the test running on this thread, if it captures.
struct ThreadWriter;

impl std::io::Write for ThreadWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        CAPTURE.with(|c| {
            if let Some(b) = &*c.borrow() {
                b.0.lock().unwrap().extend_from_slice(buf);
            }
        });
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Captures every `tracing` event (all levels) emitted on this thread until
/// the guard drops. A process-wide subscriber routes events to the
/// capturing test's buffer: per-test `set_default` subscribers race with
/// callsite registration on other test threads and lose events.
pub fn capture_logs() -> CaptureGuard {
    static INIT: std::sync::Once = std::sync::Once::new();
    INIT.call_once(|| {
        let subscriber = tracing_subscriber::fmt()
            .with_max_level(tracing::Level::TRACE)
            .with_ansi(false)
            .with_writer(|| ThreadWriter)
            .finish();
        tracing::subscriber::set_global_default(subscriber).expect("no other global subscriber");
    });
    let buf = LogBuffer::default();
    CAPTURE.with(|c| *c.borrow_mut() = Some(buf.clone()));
    CaptureGuard { buf }
}

/// See [`capture_logs`].
pub struct CaptureGuard {
    buf: LogBuffer,
}

impl CaptureGuard {
    pub fn contents(&self) -> String {
        self.buf.contents()
    }
}

impl Drop for CaptureGuard {
    fn drop(&mut self) {
        CAPTURE.with(|c| *c.borrow_mut() = None);
    }
}
