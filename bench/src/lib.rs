//! The bench apps: the same five routes under several middleware stacks,
//! shared by the bench server (`src/main.rs`) and the instruction counter
//! (`src/bin/irloop.rs`).
//!
//! Routes (identical handlers' work in every mode):
//! - `GET  /plain` — touches no session;
//! - `POST /login` — form `user=…&_csrf_token=…`: new session id + one write;
//! - `GET  /read`  — reads `user` from the session;
//! - `GET  /form`  — mints a CSRF token, reads `count`, renders a form;
//! - `POST /form`  — CSRF-checked form post that bumps `count`.
//!
//! In `bare` mode there is no middleware at all: no session (the handlers
//! return the same bodies without the state), no CSRF, no headers. It is the
//! ceiling, not a competitor.

use std::sync::atomic::{AtomicU64, Ordering};

use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Form, Router};
use http::{HeaderName, HeaderValue, StatusCode};
use serde::Deserialize;

#[derive(Deserialize)]
struct LoginForm {
    user: String,
    #[serde(rename = "_csrf_token", default)]
    csrf: String,
}

#[derive(Deserialize)]
struct CountForm {
    #[serde(rename = "_csrf_token", default)]
    csrf: String,
    #[allow(dead_code)]
    #[serde(default)]
    note: String,
}

const SECRET: &[u8] = b"bench secret key: 0123456789abcdef0123456789abcdef0123456789abcdef";

fn form_page(token: &str, count: u64) -> Html<String> {
    Html(format!(
        "<!doctype html><p>count: {count}</p><form method=\"post\" action=\"/form\">\
         <input type=\"hidden\" name=\"_csrf_token\" value=\"{token}\">\
         <input name=\"note\"><button>go</button></form>"
    ))
}

// ---------------------------------------------------------------- bare

pub mod bare {
    use super::*;

    static COUNT: AtomicU64 = AtomicU64::new(0);

    pub fn app() -> Router {
        Router::new()
            .route("/plain", get(|| async { "hello" }))
            .route(
                "/login",
                post(|Form(f): Form<LoginForm>| async move {
                    let _ = f.csrf;
                    format!("welcome {}", f.user)
                }),
            )
            .route("/read", get(|| async { "user: alice" }))
            .route(
                "/form",
                get(|| async { form_page("bare-has-no-token", COUNT.load(Ordering::Relaxed)) })
                    .post(|Form(f): Form<CountForm>| async move {
                        let _ = f.csrf;
                        let n = COUNT.fetch_add(1, Ordering::Relaxed) + 1;
                        format!("count: {n}")
                    }),
            )
    }
}

// ---------------------------------------------------------------- mitten

pub mod mitten_mode {
    use super::*;
    use mitten::{CsrfToken, Mitten, Session, SessionError};

    async fn login(session: Session, Form(f): Form<LoginForm>) -> Result<String, SessionError> {
        session.regenerate().await?;
        session.insert("user", &f.user).await?;
        Ok(format!("welcome {}", f.user))
    }

    async fn read(session: Session) -> Result<String, SessionError> {
        let user: Option<String> = session.get("user").await?;
        Ok(format!("user: {}", user.as_deref().unwrap_or("-")))
    }

    async fn form_get(session: Session, csrf: CsrfToken) -> Result<Html<String>, SessionError> {
        let count: u64 = session.get("count").await?.unwrap_or(0);
        Ok(form_page(&csrf.token()?, count))
    }

    async fn form_post(
        session: Session,
        Form(_f): Form<CountForm>,
    ) -> Result<String, SessionError> {
        // The token was checked by the layer before this handler ran.
        let n: u64 = session.get("count").await?.unwrap_or(0) + 1;
        session.insert("count", n).await?;
        Ok(format!("count: {n}"))
    }

    pub fn app(mitten: Mitten) -> Router {
        Router::new()
            .route("/plain", get(|| async { "hello" }))
            .route("/login", post(login))
            .route("/read", get(read))
            .route("/form", get(form_get).post(form_post))
            .layer(mitten.layer())
    }

    pub fn builder() -> mitten::MittenBuilder {
        Mitten::builder()
            .secret_key(SECRET)
            .secure_cookies(false)
            .banner("bench")
    }
}

// ---------------------------------------------------------------- peer

pub mod peer {
    use super::*;
    use axum_csrf::{CsrfConfig, CsrfLayer, CsrfToken};
    use tower_http::set_header::SetResponseHeaderLayer;
    use tower_sessions::{Session, SessionManagerLayer, SessionStore};

    type Res = Result<Response, Response>;

    fn internal<E: std::fmt::Display>(e: E) -> Response {
        (StatusCode::INTERNAL_SERVER_ERROR, e.to_string()).into_response()
    }

    fn forbidden() -> Response {
        (StatusCode::FORBIDDEN, "invalid CSRF token").into_response()
    }

    async fn login(session: Session, csrf: CsrfToken, Form(f): Form<LoginForm>) -> Res {
        csrf.verify(&f.csrf).map_err(|_| forbidden())?;
        session.cycle_id().await.map_err(internal)?;
        session.insert("user", &f.user).await.map_err(internal)?;
        Ok(format!("welcome {}", f.user).into_response())
    }

    async fn read(session: Session) -> Res {
        let user: Option<String> = session.get("user").await.map_err(internal)?;
        Ok(format!("user: {}", user.as_deref().unwrap_or("-")).into_response())
    }

    async fn form_get(session: Session, csrf: CsrfToken) -> Res {
        let count: u64 = session.get("count").await.map_err(internal)?.unwrap_or(0);
        let token = csrf.authenticity_token().map_err(internal)?;
        // The token must be returned so axum_csrf sets its cookie.
        Ok((csrf, form_page(&token, count)).into_response())
    }

    async fn form_post(session: Session, csrf: CsrfToken, Form(f): Form<CountForm>) -> Res {
        csrf.verify(&f.csrf).map_err(|_| forbidden())?;
        let n: u64 = session.get("count").await.map_err(internal)?.unwrap_or(0) + 1;
        session.insert("count", n).await.map_err(internal)?;
        Ok(format!("count: {n}").into_response())
    }

    pub fn app<S: SessionStore + Clone>(store: S) -> Router {
        // What the axum_csrf README recommends: an encrypted CSRF cookie.
        let csrf = CsrfConfig::default()
            .with_secure(false)
            .with_key(Some(axum_csrf::Key::from(SECRET)));
        Router::new()
            .route("/plain", get(|| async { "hello" }))
            .route("/login", post(login))
            .route("/read", get(read))
            .route("/form", get(form_get).post(form_post))
            .layer(CsrfLayer::new(csrf))
            .layer(SessionManagerLayer::new(store).with_secure(false))
            .layer(SetResponseHeaderLayer::overriding(
                http::header::X_FRAME_OPTIONS,
                HeaderValue::from_static("DENY"),
            ))
            .layer(SetResponseHeaderLayer::overriding(
                http::header::SERVER,
                HeaderValue::from_static("bench"),
            ))
            .layer(SetResponseHeaderLayer::overriding(
                HeaderName::from_static("x-content-type-options"),
                HeaderValue::from_static("nosniff"),
            ))
    }
}
