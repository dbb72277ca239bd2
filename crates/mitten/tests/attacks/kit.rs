//! The victim every attack is aimed at, and the checks every refusal must
//! pass: the refusal status, the security headers, no session cookie handed
//! out, no handler run, and the store exactly as it was.

use std::sync::Arc;

use axum::body::Body;
use axum::extract::{Multipart, Path};
use axum::http::{header, request, Request, StatusCode};
use axum::routing::{any, get, post};
use axum::{Form, Router};
use mitten::SessionStore;
use mitten::{CsrfToken, MemoryStore, Mitten, MittenBuilder, Record, Session, SessionError};

use crate::common::*;

/// Everything that can change on the server: handler runs and the store.
#[derive(Debug, PartialEq)]
pub struct State {
    pub hits: usize,
    pub records: Vec<(String, Record)>,
}

/// Every live record of `store`, sorted by store key.
pub async fn records(store: &MemoryStore) -> Vec<(String, Record)> {
    let mut out = Vec::new();
    for k in store.keys() {
        if let Some(r) = store.load(&k).await.expect("memory store") {
            out.push((k.as_str().to_owned(), r));
        }
    }
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out
}

/// A handler body that proves it ran: bumps the counter and writes to the
/// session, so a refusal that let it through shows in the store as well.
async fn mutate(hits: &Hits, session: &Session, by: &str) -> Result<(), SessionError> {
    hits.bump();
    session.insert("value", format!("changed by {by}")).await
}

/// The victim app's routes (without the layer):
/// - `GET /token` mints a token; `GET /plain` touches nothing;
/// - `any /submit`, `POST /notes/`, `POST /form` (urlencoded echo) and
///   `POST /upload` (multipart echo) change state;
/// - `POST /login/` regenerates and stores `user`; `POST /logout/` destroys;
/// - `GET /put/{v}` stores `value`; `GET /value` and `GET /whoami` read.
pub fn victim_routes(hits: &Hits) -> Router {
    let (h1, h2, h3, h4, h5, h6) = (
        hits.clone(),
        hits.clone(),
        hits.clone(),
        hits.clone(),
        hits.clone(),
        hits.clone(),
    );
    Router::new()
        .route("/token", get(|csrf: CsrfToken| async move { csrf.token() }))
        .route("/plain", get(|| async { "plain" }))
        .route(
            "/submit",
            any(move |s: Session| async move {
                mutate(&h1, &s, "submit").await?;
                Ok::<_, SessionError>("ok")
            }),
        )
        .route(
            "/notes/",
            post(move |s: Session| async move {
                mutate(&h2, &s, "notes").await?;
                Ok::<_, SessionError>("noted")
            }),
        )
        .route(
            "/form",
            post(
                move |s: Session, Form(fields): Form<Vec<(String, String)>>| async move {
                    mutate(&h3, &s, "form").await?;
                    Ok::<_, SessionError>(
                        fields
                            .iter()
                            .map(|(k, v)| format!("{k}={v}"))
                            .collect::<Vec<_>>()
                            .join("\n"),
                    )
                },
            ),
        )
        .route(
            "/upload",
            post(move |s: Session, mut mp: Multipart| async move {
                mutate(&h4, &s, "upload").await?;
                let mut out = Vec::new();
                while let Ok(Some(f)) = mp.next_field().await {
                    let name = f.name().unwrap_or("").to_owned();
                    let text = f.text().await.unwrap_or_default();
                    out.push(format!("{name}={text}"));
                }
                Ok::<_, SessionError>(out.join("\n"))
            }),
        )
        .route(
            "/login/",
            post(move |s: Session| async move {
                h5.bump();
                s.regenerate().await?;
                s.insert("user", "alice").await?;
                Ok::<_, SessionError>("logged in")
            }),
        )
        .route(
            "/logout/",
            post(move |s: Session| async move {
                h6.bump();
                s.destroy().await?;
                Ok::<_, SessionError>("bye")
            }),
        )
        .route(
            "/put/{v}",
            get(|s: Session, Path(v): Path<String>| async move {
                s.insert("value", v).await?;
                Ok::<_, SessionError>("stored")
            }),
        )
        .route(
            "/value",
            get(|s: Session| async move {
                Ok::<_, SessionError>(
                    s.get::<String>("value")
                        .await?
                        .unwrap_or_else(|| "<none>".into()),
                )
            }),
        )
        .route(
            "/whoami",
            get(|s: Session| async move {
                Ok::<_, SessionError>(
                    s.get::<String>("user")
                        .await?
                        .unwrap_or_else(|| "<anonymous>".into()),
                )
            }),
        )
}

/// A victim with a live session (`value = "before"`) in a memory store, its
/// cookie, and a valid token for it.
pub struct Victim {
    pub app: Router,
    pub hits: Hits,
    pub store: Arc<MemoryStore>,
    /// The session cookie's name.
    pub name: String,
    /// The victim's session cookie value.
    pub cookie: String,
    /// A valid token for the victim's session.
    pub token: String,
}

impl Victim {
    /// The default test configuration (`mitten`, plain-HTTP cookies).
    pub async fn new() -> Self {
        Self::with(|b| b).await
    }

    /// The test configuration changed by `f`.
    pub async fn with(f: impl FnOnce(MittenBuilder) -> MittenBuilder) -> Self {
        let store = Arc::new(MemoryStore::new());
        let m = f(builder_with(&store)).build().expect("valid config");
        Self::on(m, store).await
    }

    /// A victim on an already built Mitten that uses `store`.
    pub async fn on(m: Mitten, store: Arc<MemoryStore>) -> Self {
        let hits = Hits::default();
        let app = victim_routes(&hits).layer(m.layer());
        let name = m.cookie_name().to_owned();
        let sessions = store.len();
        let r = send(&app, get_req("/put/before")).await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.body);
        let cookie = r.cookie(&name).expect("a first write sets the cookie");
        let token = token_for(&app, &name, &cookie).await;
        assert_eq!(store.len(), sessions + 1);
        Self {
            app,
            hits,
            store,
            name,
            cookie,
            token,
        }
    }

    /// `Cookie: <name>=<victim's cookie>`.
    pub fn cookie_header(&self) -> String {
        format!("{}={}", self.name, self.cookie)
    }

    /// A same-origin browser request that carries the victim's cookie.
    pub fn req(&self, method: &str, uri: &str) -> request::Builder {
        browser(method, uri).header(header::COOKIE, self.cookie_header())
    }

    /// Like [`req`](Self::req), with the valid header token too.
    pub fn with_token(&self, method: &str, uri: &str) -> request::Builder {
        self.req(method, uri)
            .header("x-csrf-token", self.token.as_str())
    }

    pub async fn send(&self, r: Request<Body>) -> Resp {
        send(&self.app, r).await
    }

    pub async fn state(&self) -> State {
        State {
            hits: self.hits.get(),
            records: records(&self.store).await,
        }
    }

    /// Sends `r` and checks it was refused with `status`: no handler ran,
    /// the store is unchanged, no session cookie was handed out, and the
    /// refusal carries the security headers.
    pub async fn refused(&self, what: &str, r: Request<Body>, status: StatusCode) -> Resp {
        self.refused_one_of(what, r, &[status]).await
    }

    /// [`refused`](Self::refused) with any of `statuses` (where either of
    /// two refusals is right, e.g. 400 for a body that cannot be parsed and
    /// 403 for one that parses to no token).
    pub async fn refused_one_of(
        &self,
        what: &str,
        r: Request<Body>,
        statuses: &[StatusCode],
    ) -> Resp {
        let before = self.state().await;
        let res = self.send(r).await;
        assert!(
            statuses.contains(&res.status),
            "{what}: {} {}",
            res.status,
            res.body
        );
        assert_eq!(
            self.state().await,
            before,
            "{what}: a handler ran or the store changed"
        );
        assert!(
            res.set_cookies()
                .iter()
                .all(|c| !c.starts_with(&format!("{}=", self.name))),
            "{what}: a refusal handed out a session cookie: {:?}",
            res.set_cookies()
        );
        assert_security_headers(&res);
        assert!(!res.body.contains(&self.token), "{what}: token echoed");
        assert!(!res.body.contains(&self.cookie), "{what}: cookie echoed");
        res
    }

    /// [`refused`](Self::refused) with 403.
    pub async fn forbidden(&self, what: &str, r: Request<Body>) -> Resp {
        self.refused(what, r, StatusCode::FORBIDDEN).await
    }

    /// Sends `r` and checks that exactly one handler ran and answered 200:
    /// the positive control that shows a refusal test's request was
    /// otherwise well-formed.
    pub async fn accepted(&self, what: &str, r: Request<Body>) -> Resp {
        let before = self.hits.get();
        let res = self.send(r).await;
        assert_eq!(res.status, StatusCode::OK, "{what}: {}", res.body);
        assert_eq!(self.hits.get(), before + 1, "{what}: handler did not run");
        res
    }

    /// The session's `value`, read with the victim's cookie.
    pub async fn value(&self) -> String {
        let r = self
            .send(
                req("GET", "/value")
                    .header(header::COOKIE, self.cookie_header())
                    .body(Body::empty())
                    .unwrap(),
            )
            .await;
        r.body
    }
}

pub const FORM: &str = "application/x-www-form-urlencoded";

/// A multipart body from `(headers of the part, content)` pairs, with the
/// boundary `B0undary`.
pub fn multipart(parts: &[(&str, &str)]) -> (String, Body) {
    let mut body = String::new();
    for (headers, content) in parts {
        body.push_str("--B0undary\r\n");
        body.push_str(headers);
        body.push_str("\r\n\r\n");
        body.push_str(content);
        body.push_str("\r\n");
    }
    body.push_str("--B0undary--\r\n");
    (
        "multipart/form-data; boundary=B0undary".to_owned(),
        Body::from(body),
    )
}

/// `Content-Disposition` of a text field.
pub fn field(name: &str) -> String {
    format!("Content-Disposition: form-data; name=\"{name}\"")
}

/// A key that is not the test key (another deployment, or a retired key).
pub const THIRD_KEY: &str = "a third key, unrelated to the others, 32+ bytes long!!";
