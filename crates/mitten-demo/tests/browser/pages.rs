//! The attacker's pages. Each attacks the app at its absolute URL as soon as
//! it loads, and leaves what it could observe in `window.result` /
//! `window.done` for the test to read.

use axum::extract::{Query, State};
use axum::response::Html;
use axum::routing::get;
use axum::Router;
use serde::Deserialize;

use crate::harness::{frame_page, html_attr, COOKIE};

#[derive(Clone)]
struct Target {
    /// The app's origin, `http://127.0.0.1:PORT`.
    app: String,
}

pub fn router(app: String) -> Router {
    Router::new()
        .route("/csrf", get(csrf_form))
        .route("/fetch", get(csrf_fetch))
        .route("/login-csrf", get(login_csrf))
        .route("/frame", get(frame))
        .route("/json", get(json_hijack))
        .route("/plant", get(plant))
        .with_state(Target { app })
}

fn page(title: &str, body: &str) -> Html<String> {
    Html(format!(
        "<!doctype html><meta charset=utf-8><title>{title}</title><h1>{title}</h1>{body}"
    ))
}

/// A JavaScript string literal.
fn js(s: &str) -> String {
    serde_json::to_string(s)
        .unwrap_or_default()
        .replace('<', "\\u003c")
}

#[derive(Deserialize)]
struct CsrfParams {
    /// `/notes/` or `/logout/`
    target: String,
    /// `urlencoded` or `multipart`
    enc: String,
    /// The note the attacker tries to add.
    note: String,
}

/// A form that submits itself (top-level navigation, the classic CSRF).
async fn csrf_form(State(t): State<Target>, Query(p): Query<CsrfParams>) -> Html<String> {
    let enctype = if p.enc == "multipart" {
        "multipart/form-data"
    } else {
        "application/x-www-form-urlencoded"
    };
    let action = html_attr(&format!("{}{}", t.app, p.target));
    let note = html_attr(&p.note);
    page(
        "win a prize",
        &format!(
            "<form id=f method=post action=\"{action}\" enctype=\"{enctype}\">\
             <input name=text value=\"{note}\"></form>\
             <script>document.getElementById('f').submit()</script>"
        ),
    )
}

/// A `no-cors` `fetch` with the browser's cookies: the request is sent even
/// though the answer stays opaque.
async fn csrf_fetch(State(t): State<Target>, Query(p): Query<CsrfParams>) -> Html<String> {
    let url = js(&format!("{}{}", t.app, p.target));
    let note = js(&p.note);
    let body = if p.enc == "multipart" {
        format!("(() => {{ const f = new FormData(); f.append('text', {note}); return f; }})()")
    } else {
        format!("new URLSearchParams({{ text: {note} }})")
    };
    page(
        "loading",
        &format!(
            "<script>
             fetch({url}, {{ method: 'POST', mode: 'no-cors', credentials: 'include', body: {body} }})
               .then(() => {{ window.done = 'sent'; }}, (e) => {{ window.done = 'error: ' + e; }});
             </script>"
        ),
    )
}

/// Logs the visitor's browser in with the attacker's own account.
async fn login_csrf(State(t): State<Target>) -> Html<String> {
    let action = html_attr(&format!("{}/login/", t.app));
    page(
        "welcome",
        &format!(
            "<form id=f method=post action=\"{action}\">\
             <input name=username value=mallory><input name=password value=x></form>\
             <script>document.getElementById('f').submit()</script>"
        ),
    )
}

#[derive(Deserialize)]
struct FrameParams {
    src: String,
}

/// Frames an app page (a clickjacking overlay would sit on top of it).
async fn frame(State(t): State<Target>, Query(p): Query<FrameParams>) -> Html<String> {
    Html(frame_page(&format!("{}{}", t.app, p.src)))
}

/// Includes `/json_api/` as a script, an image and a stylesheet, with the
/// old JSON-hijacking traps set, and records which loads succeeded.
async fn json_hijack(State(t): State<Target>) -> Html<String> {
    let url = js(&format!("{}/json_api/", t.app));
    page(
        "json",
        &format!(
            "<script>
             window.result = [];
             window.leaked = [];
             // Classic XSSI traps: catch values the included script would build.
             Object.defineProperty(Object.prototype, 'notes', {{
               set(v) {{ window.leaked.push(JSON.stringify(v)); }}, configurable: true }});
             window.onerror = (m) => {{ window.result.push('window.onerror: ' + m); }};
             const done = (kind, ev) => window.result.push(kind + ':' + ev);
             const s = document.createElement('script');
             s.src = {url}; s.onload = () => done('script', 'load'); s.onerror = () => done('script', 'error');
             document.head.appendChild(s);
             const i = new Image();
             i.onload = () => done('img', 'load'); i.onerror = () => done('img', 'error');
             i.src = {url};
             const l = document.createElement('link');
             l.rel = 'stylesheet'; l.href = {url};
             l.onload = () => done('link', 'load'); l.onerror = () => done('link', 'error');
             document.head.appendChild(l);
             </script>"
        ),
    )
}

#[derive(Deserialize)]
struct PlantParams {
    value: String,
}

/// Plants a session cookie for the app's host: cookies are not isolated by
/// port, so a sibling origin on the same host can write them (no
/// `HttpOnly` cookie of that name may exist yet).
async fn plant(Query(p): Query<PlantParams>) -> Html<String> {
    let cookie = js(&format!("{COOKIE}={}; path=/", p.value));
    page(
        "plant",
        &format!("<script>document.cookie = {cookie}; window.done = 'planted';</script>"),
    )
}
