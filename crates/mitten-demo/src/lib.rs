//! The Mitten demo app: a login, a per-session list of notes added three ways
//! (urlencoded form, multipart form, `fetch` with JSON), a CSRF-exempt
//! endpoint, a JSON-only endpoint and a frameable page.
//!
//! [`app`] builds the router; `main.rs` only parses flags and serves it, so
//! the tests can serve the very same router on a random port.

#![forbid(unsafe_code)]

use std::sync::Arc;
use std::time::Duration;

use axum::extract::{FromRequest, Multipart, Query, Request, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Form, Json, Router};
use minijinja::{context, Environment};
use mitten::{
    CspNonce, CsrfToken, FrameOptions, HeaderPolicy, MemoryStore, Mitten, Protection, Session,
    SessionError, SessionStore,
};
use serde::Deserialize;
use serde_json::json;

/// Session key of the logged-in user's name.
const USER: &str = "user";
/// Session key of the list of notes.
const NOTES: &str = "notes";
/// Longest username accepted, in characters.
const MAX_USERNAME: usize = 64;
/// Longest note accepted, in characters.
const MAX_NOTE: usize = 500;

/// Everything the app needs, already validated by the caller (`main.rs`
/// turns flags into this).
pub struct DemoConfig {
    /// Signs session cookies and CSRF tokens; at least
    /// [`mitten::MIN_KEY_LEN`] bytes.
    pub secret_key: Vec<u8>,
    /// Previous keys that still verify (rotation).
    pub fallback_keys: Vec<Vec<u8>>,
    /// Where sessions live; see [`open_store`].
    pub store: Arc<dyn SessionStore>,
    /// The `Server` header.
    pub banner: String,
    /// Session idle timeout (library default when `None`).
    pub idle_timeout: Option<Duration>,
    /// Session absolute timeout (library default when `None`).
    pub absolute_timeout: Option<Duration>,
    /// The app's own origin, `scheme://host[:port]` (else the `Host` header
    /// is trusted as the app's host).
    pub origin: Option<String>,
    /// Other origins allowed to send unsafe requests.
    pub trusted_origins: Vec<String>,
    /// Send the session cookie without `Secure` (cookie `mitten` instead of
    /// `__Host-mitten`).
    pub insecure_cookies: bool,
    /// Hosts the app answers for (empty: any, with a warning).
    pub allowed_hosts: Vec<String>,
    /// The app is served over HTTPS: HSTS, `Secure`, `__Host-` cookie.
    pub https: bool,
    /// The header preset.
    pub header_preset: HeaderPreset,
    /// Protections that only report.
    pub report_only: Vec<Protection>,
    /// Protections to switch off. Only for the browser suite's negative
    /// controls, which prove that each scenario notices when its protection
    /// is gone; `main.rs` never sets it and no flag reaches it.
    #[doc(hidden)]
    pub weaken: Vec<Weakness>,
}

/// One protection the demo can be built without, for negative-control
/// tests only (see [`DemoConfig::weaken`]).
#[doc(hidden)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Weakness {
    /// The session cookie loses `HttpOnly` (stripped outside Mitten, which
    /// always sets it).
    ScriptReadableSession,
    /// `/notes/` and `/logout/` are exempt from the CSRF checks.
    Csrf,
    /// `/login/` is exempt from the CSRF checks.
    LoginCsrf,
    /// Every page, `/embed/` included, may be framed by anyone.
    Framing,
    /// `/json_api/` is not JSON-only.
    JsonGuard,
    /// Login keeps the session id it arrived with.
    Fixation,
}

impl Weakness {
    /// Every weakness, each with the name the browser suite's
    /// `MITTEN_E2E_WEAKEN` uses.
    pub const ALL: [(&'static str, Weakness); 6] = [
        ("httponly", Weakness::ScriptReadableSession),
        ("csrf", Weakness::Csrf),
        ("login-csrf", Weakness::LoginCsrf),
        ("framing", Weakness::Framing),
        ("json", Weakness::JsonGuard),
        ("fixation", Weakness::Fixation),
    ];
}

/// The header presets the demo offers.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum HeaderPreset {
    /// [`HeaderPolicy::default`].
    #[default]
    Default,
    /// [`HeaderPolicy::strict`].
    Strict,
}

impl DemoConfig {
    /// The defaults of the flags, with the given key and an in-memory store.
    pub fn new(secret_key: impl Into<Vec<u8>>) -> Self {
        Self {
            secret_key: secret_key.into(),
            fallback_keys: Vec::new(),
            store: Arc::new(MemoryStore::new()),
            banner: "Mitten demo".to_owned(),
            idle_timeout: None,
            absolute_timeout: None,
            origin: None,
            trusted_origins: Vec::new(),
            insecure_cookies: false,
            allowed_hosts: Vec::new(),
            https: false,
            header_preset: HeaderPreset::Default,
            report_only: Vec::new(),
            weaken: Vec::new(),
        }
    }
}

/// Opens the session store named by a `--store` value: `memory`,
/// `redis://…`, `postgres://…`, `sqlite://PATH` or `sqlite::memory:`, with
/// `?prefix=` (Redis) or `?table=` (SQL) as [`mitten::stores::connect`]
/// reads them. The error never repeats the URL (it may carry a password).
pub async fn open_store(url: &str) -> Result<Arc<dyn SessionStore>, String> {
    if url.eq_ignore_ascii_case("memory") {
        return Ok(Arc::new(MemoryStore::new()));
    }
    mitten::stores::connect(url)
        .await
        .map_err(|e| format!("--store ({}): {e}", store_kind(url)))
}

/// The scheme of a store URL, safe to log.
pub fn store_kind(url: &str) -> &str {
    match url.split_once(':') {
        Some((scheme, _))
            if !scheme.is_empty() && scheme.bytes().all(|b| b.is_ascii_alphanumeric()) =>
        {
            scheme
        }
        _ if url.eq_ignore_ascii_case("memory") => "memory",
        _ => "unknown",
    }
}

#[derive(Clone)]
struct AppState {
    templates: Arc<Environment<'static>>,
    /// `false` only under [`Weakness::Fixation`].
    regenerate_at_login: bool,
}

fn templates() -> Result<Environment<'static>, String> {
    let mut env = Environment::new();
    // `.html` names: minijinja escapes every `{{ ... }}` for HTML.
    mitten::templates::register(&mut env);
    for (name, source) in [
        ("layout.html", include_str!("../templates/layout.html")),
        ("index.html", include_str!("../templates/index.html")),
        ("login.html", include_str!("../templates/login.html")),
        ("home.html", include_str!("../templates/home.html")),
        ("embed.html", include_str!("../templates/embed.html")),
    ] {
        env.add_template(name, source)
            .map_err(|e| format!("template {name}: {e}"))?;
    }
    Ok(env)
}

/// The demo's Mitten: its routes' rules plus everything the flags set.
pub fn mitten(config: &DemoConfig) -> Result<Mitten, String> {
    let policy = match config.header_preset {
        HeaderPreset::Default => HeaderPolicy::default(),
        HeaderPreset::Strict => HeaderPolicy::strict(),
    };
    let mut builder = Mitten::builder()
        .secret_key(&config.secret_key)
        .shared_store(config.store.clone())
        .banner(config.banner.clone())
        .secure_cookies(!config.insecure_cookies)
        .https(config.https)
        .header_policy(policy)
        .clear_site_data_on_destroy(true)
        .csrf_exempt("/public_api/");
    let weak = |w: Weakness| config.weaken.contains(&w);
    if !weak(Weakness::JsonGuard) {
        builder = builder.json_only("/json_api/");
    }
    if weak(Weakness::Framing) {
        builder = builder
            .frame_options(FrameOptions::Allow)
            .route_frame_options("/embed/", FrameOptions::Allow);
    } else {
        builder = builder.route_frame_options("/embed/", FrameOptions::SameOrigin);
    }
    if weak(Weakness::Csrf) {
        builder = builder.csrf_exempt("/notes/").csrf_exempt("/logout/");
    }
    if weak(Weakness::LoginCsrf) {
        builder = builder.csrf_exempt("/login/");
    }
    for host in &config.allowed_hosts {
        builder = builder.allowed_host(host.clone());
    }
    for p in &config.report_only {
        builder = builder.report_only(*p);
    }
    for key in &config.fallback_keys {
        builder = builder.fallback_key(key);
    }
    if let Some(idle) = config.idle_timeout {
        builder = builder.idle_timeout(idle);
    }
    if let Some(absolute) = config.absolute_timeout {
        builder = builder.absolute_timeout(absolute);
    }
    if let Some(origin) = &config.origin {
        builder = builder.origin(origin.clone());
    }
    for origin in &config.trusted_origins {
        builder = builder.trusted_origin(origin.clone());
    }
    builder.build().map_err(|e| e.to_string())
}

/// Builds the demo router with Mitten's layer in front of every route.
pub fn app(config: DemoConfig) -> Result<Router, String> {
    let mitten = mitten(&config)?;
    let weak = |w: Weakness| config.weaken.contains(&w);

    let state = AppState {
        templates: Arc::new(templates()?),
        regenerate_at_login: !weak(Weakness::Fixation),
    };
    let router = Router::new()
        .route("/", get(index))
        .route("/login/", get(login_form).post(login))
        .route("/home/", get(home))
        .route("/logout/", post(logout))
        .route("/notes/", post(add_note))
        .route("/public_api/", post(public_api))
        .route("/json_api/", get(json_api))
        .route("/embed/", get(embed))
        .fallback(not_found)
        .with_state(state)
        .layer(mitten.layer());
    Ok(if weak(Weakness::ScriptReadableSession) {
        let name = mitten.cookie_name().to_owned();
        router.layer(axum::middleware::map_response(move |res| {
            strip_http_only(name.clone(), res)
        }))
    } else {
        router
    })
}

/// [`Weakness::ScriptReadableSession`]: drops `HttpOnly` from the session
/// cookie's `Set-Cookie`.
async fn strip_http_only(name: String, mut res: Response) -> Response {
    let prefix = format!("{name}=");
    let cookies: Vec<HeaderValue> = res
        .headers()
        .get_all(header::SET_COOKIE)
        .iter()
        .cloned()
        .collect();
    let headers = res.headers_mut();
    headers.remove(header::SET_COOKIE);
    for value in cookies {
        let value = match value.to_str() {
            Ok(v) if v.starts_with(&prefix) => {
                let kept: Vec<&str> = v
                    .split(';')
                    .filter(|attr| !attr.trim().eq_ignore_ascii_case("httponly"))
                    .collect();
                HeaderValue::from_str(&kept.join(";")).unwrap_or(value)
            }
            _ => value,
        };
        headers.append(header::SET_COOKIE, value);
    }
    res
}

/// Handler errors: session failures keep Mitten's status (503 when the store
/// is down), template failures are 500.
#[derive(Debug)]
enum AppError {
    Session(SessionError),
    Template(minijinja::Error),
}

impl From<SessionError> for AppError {
    fn from(e: SessionError) -> Self {
        Self::Session(e)
    }
}

impl From<minijinja::Error> for AppError {
    fn from(e: minijinja::Error) -> Self {
        Self::Template(e)
    }
}

impl IntoResponse for AppError {
    fn into_response(self) -> Response {
        match self {
            Self::Session(e) => e.into_response(),
            Self::Template(e) => {
                tracing::error!(error = %e, "template rendering failed");
                (StatusCode::INTERNAL_SERVER_ERROR, "internal error").into_response()
            }
        }
    }
}

type AppResult = Result<Response, AppError>;

/// Renders a page; every page gets the response's CSP nonce for the
/// layout's inline style and any inline script.
fn render(
    state: &AppState,
    nonce: &CspNonce,
    name: &str,
    ctx: minijinja::Value,
) -> Result<Html<String>, AppError> {
    let ctx = context! { csp_nonce => mitten::templates::csp_nonce(nonce), ..ctx };
    Ok(Html(state.templates.get_template(name)?.render(ctx)?))
}

async fn current_user(session: &Session) -> Result<Option<String>, SessionError> {
    session.get::<String>(USER).await
}

async fn notes_of(session: &Session) -> Result<Vec<String>, SessionError> {
    Ok(session.get::<Vec<String>>(NOTES).await?.unwrap_or_default())
}

async fn index(State(state): State<AppState>, session: Session, nonce: CspNonce) -> AppResult {
    if current_user(&session).await?.is_some() {
        return Ok(Redirect::to("/home/").into_response());
    }
    Ok(render(&state, &nonce, "index.html", context! {})?.into_response())
}

struct LoginPage<'a> {
    username: &'a str,
    next: Option<&'a str>,
    error: Option<&'a str>,
}

fn login_page(
    state: &AppState,
    csrf: &CsrfToken,
    nonce: &CspNonce,
    page: LoginPage<'_>,
) -> Result<Html<String>, AppError> {
    render(
        state,
        nonce,
        "login.html",
        context! {
            csrf_token => mitten::templates::csrf_token(csrf),
            username => page.username,
            // Only a safe target is carried along; the redirect checks again.
            next => page.next.filter(|n| mitten::redirect::is_safe_path(n)),
            error => page.error,
        },
    )
}

#[derive(Deserialize)]
struct NextQuery {
    next: Option<String>,
}

async fn login_form(
    State(state): State<AppState>,
    csrf: CsrfToken,
    nonce: CspNonce,
    Query(q): Query<NextQuery>,
) -> AppResult {
    let page = LoginPage {
        username: "",
        next: q.next.as_deref(),
        error: None,
    };
    Ok(login_page(&state, &csrf, &nonce, page)?.into_response())
}

#[derive(Deserialize)]
struct LoginForm {
    #[serde(default)]
    username: String,
    // Any password is accepted: this is a demo of the security layer, not
    // of authentication.
    #[serde(default)]
    #[allow(dead_code)]
    password: String,
    /// Where to go after login (`?next=` of the form); followed only when
    /// it stays on this origin.
    next: Option<String>,
}

async fn login(
    State(state): State<AppState>,
    session: Session,
    csrf: CsrfToken,
    nonce: CspNonce,
    Form(form): Form<LoginForm>,
) -> AppResult {
    let username = form.username.trim();
    let error = if username.is_empty() {
        Some("Please enter a username.")
    } else if username.chars().count() > MAX_USERNAME {
        Some("That username is too long.")
    } else {
        None
    };
    if let Some(error) = error {
        let page = LoginPage {
            username,
            next: form.next.as_deref(),
            error: Some(error),
        };
        let page = login_page(&state, &csrf, &nonce, page)?;
        return Ok((StatusCode::BAD_REQUEST, page).into_response());
    }
    let previous = current_user(&session).await?;
    // A new session id at every login: an id planted before login is
    // worthless afterwards.
    if state.regenerate_at_login {
        session.regenerate().await?;
    }
    if previous.as_deref() != Some(username) {
        session.clear().await?;
    }
    session.insert(USER, username).await?;
    tracing::info!("user logged in");
    Ok(mitten::redirect::to_next(form.next.as_deref(), "/home/").into_response())
}

async fn home(
    State(state): State<AppState>,
    session: Session,
    csrf: CsrfToken,
    nonce: CspNonce,
) -> AppResult {
    let Some(user) = current_user(&session).await? else {
        return Ok(Redirect::to("/").into_response());
    };
    let notes = notes_of(&session).await?;
    Ok(render(
        &state,
        &nonce,
        "home.html",
        context! {
            user => user,
            notes => notes,
            max_note => MAX_NOTE,
            csrf_token => mitten::templates::csrf_token(&csrf),
        },
    )?
    .into_response())
}

async fn logout(session: Session) -> AppResult {
    session.destroy().await?;
    Ok(Redirect::to("/").into_response())
}

/// How a note arrived, which decides how the answer looks.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Via {
    Form,
    Json,
}

fn note_error(via: Via, status: StatusCode, message: &str) -> Response {
    match via {
        Via::Json => (status, Json(json!({ "result": "error", "error": message }))).into_response(),
        Via::Form => (status, message.to_owned()).into_response(),
    }
}

#[derive(Deserialize)]
struct NoteForm {
    #[serde(default)]
    text: String,
}

/// The `text` of a note from a urlencoded form, a multipart form or a JSON
/// body, or the response to send instead.
async fn read_note(via: Via, essence: &str, req: Request) -> Result<String, Response> {
    let bad = |m: &str| note_error(via, StatusCode::BAD_REQUEST, m);
    match essence {
        "application/json" => match Json::<NoteForm>::from_request(req, &()).await {
            Ok(Json(note)) => Ok(note.text),
            Err(_) => Err(bad("expected a JSON body {\"text\": \"...\"}")),
        },
        "application/x-www-form-urlencoded" => {
            match Form::<NoteForm>::from_request(req, &()).await {
                Ok(Form(note)) => Ok(note.text),
                Err(_) => Err(bad("malformed form")),
            }
        }
        "multipart/form-data" => {
            let mut multipart = Multipart::from_request(req, &())
                .await
                .map_err(|_| bad("malformed multipart form"))?;
            let mut text = None;
            loop {
                let field = match multipart.next_field().await {
                    Ok(Some(field)) => field,
                    Ok(None) => break,
                    Err(_) => return Err(bad("malformed multipart form")),
                };
                // `_csrf_token` was checked by Mitten already; other fields
                // are not ours.
                if field.name() != Some("text") || field.file_name().is_some() {
                    continue;
                }
                let value = field
                    .text()
                    .await
                    .map_err(|_| bad("malformed multipart form"))?;
                if text.replace(value).is_some() {
                    return Err(bad("several `text` fields"));
                }
            }
            Ok(text.unwrap_or_default())
        }
        _ => Err(note_error(
            via,
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "send a form or JSON",
        )),
    }
}

async fn add_note(session: Session, headers: HeaderMap, req: Request) -> AppResult {
    let essence = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .map(|v| v.trim().to_ascii_lowercase())
        .unwrap_or_default();
    let via = if essence == "application/json" {
        Via::Json
    } else {
        Via::Form
    };
    if current_user(&session).await?.is_none() {
        return Ok(match via {
            Via::Json => note_error(via, StatusCode::UNAUTHORIZED, "not logged in"),
            Via::Form => Redirect::to("/").into_response(),
        });
    }
    let text = match read_note(via, &essence, req).await {
        Ok(text) => text.trim().to_owned(),
        Err(response) => return Ok(response),
    };
    if text.is_empty() {
        return Ok(note_error(via, StatusCode::BAD_REQUEST, "empty note"));
    }
    if text.chars().count() > MAX_NOTE {
        return Ok(note_error(via, StatusCode::BAD_REQUEST, "note too long"));
    }
    // Read-modify-write that Mitten re-runs on the newest data if another
    // request changed the session meanwhile: no note is ever lost.
    let notes = session
        .update(NOTES, move |notes: Option<Vec<String>>| {
            let mut notes = notes.unwrap_or_default();
            notes.push(text.clone());
            notes
        })
        .await?;
    Ok(match via {
        Via::Json => Json(json!({ "result": "success", "notes": notes })).into_response(),
        Via::Form => Redirect::to("/home/").into_response(),
    })
}

async fn public_api() -> Json<serde_json::Value> {
    Json(json!({ "result": "success" }))
}

async fn json_api(session: Session) -> AppResult {
    let notes = notes_of(&session).await?;
    Ok(Json(json!({ "result": "success", "notes": notes })).into_response())
}

async fn embed(State(state): State<AppState>, nonce: CspNonce) -> AppResult {
    Ok(render(&state, &nonce, "embed.html", context! {})?.into_response())
}

async fn not_found() -> Response {
    (StatusCode::NOT_FOUND, "Not found").into_response()
}
