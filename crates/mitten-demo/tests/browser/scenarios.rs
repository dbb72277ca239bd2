//! The six scenarios. Each returns `Err(Fail::Checks(..))` listing every
//! check that failed, so the negative controls can require the very check
//! that guards their protection; machinery trouble is `Fail::Infra`.

use std::path::Path;
use std::sync::Arc;

use axum::http::{Method, StatusCode};
use fantoccini::Locator;
use serde_json::Value;

use crate::harness::{infra, Checks, Fail, Harness};

/// Note texts and user names are plain words: they travel in query strings
/// and form fields unencoded.
const VICTIM: &str = "victim";

async fn click(h: &Harness, css: &str) -> Result<(), Fail> {
    h.b.c.find(Locator::Css(css)).await?.click().await?;
    Ok(())
}

async fn type_into(h: &Harness, css: &str, text: &str) -> Result<(), Fail> {
    let field = h.b.c.find(Locator::Css(css)).await?;
    field.clear().await?;
    field.send_keys(text).await?;
    Ok(())
}

/// Logs in through the form, as a person would, and waits for `/home/`.
async fn log_in(h: &Harness, user: &str) -> Result<(), Fail> {
    let b = &h.b;
    b.goto(&h.app.url("/login/")).await?;
    type_into(h, "#login input[name=username]", user).await?;
    type_into(h, "#login input[name=password]", "hunter2").await?;
    click(h, "#login button[type=submit]").await?;
    b.wait_url(&h.app.url("/home/")).await?;
    let shown = b
        .wait_js(
            "#user",
            "return document.getElementById('user')?.textContent",
        )
        .await?;
    if shown != user {
        return Err(infra(format!("logged in as {user}, page shows {shown}")));
    }
    Ok(())
}

/// Adds a note with the form `form` (`#note-form` or `#note-multipart`) and
/// waits until the reloaded page lists it.
async fn add_note_with_form(h: &Harness, form: &str, text: &str) -> Result<(), Fail> {
    type_into(h, &format!("{form} input[name=text]"), text).await?;
    click(h, &format!("{form} button[type=submit]")).await?;
    h.b.wait_js(
        &format!("note {text:?} on the page"),
        &format!(
            "return document.readyState === 'complete' && \
             [...document.querySelectorAll('#notes li')].some(li => li.textContent === {text:?})"
        ),
    )
    .await?;
    Ok(())
}

/// The victim's session cookie, which must exist.
async fn victim_cookie(h: &Harness) -> Result<String, Fail> {
    h.b.session_cookie()
        .await?
        .ok_or_else(|| infra("the browser holds no session cookie after login"))
}

/// Whether the page inside `#target` is an app page (the demo's layout
/// rendered), after it has settled.
async fn frame_rendered(h: &Harness, page: &str) -> Result<bool, Fail> {
    let b = &h.b;
    b.goto(page).await?;
    let frame = b.c.find(Locator::Id("target")).await?;
    frame.enter_frame().await?;
    let href = b
        .wait_js(
            "the frame to settle",
            "return document.readyState === 'complete' && location.href !== 'about:blank' \
             && location.href",
        )
        .await?;
    let rendered = b
        .js("return document.querySelector('header h1')?.textContent?.includes('Mitten demo') === true")
        .await?;
    b.c.enter_parent_frame().await?;
    eprintln!("  frame on {page}: {href}, rendered: {rendered}");
    Ok(rendered == Value::Bool(true))
}

// ------------------------------------------------------------------ 1

/// The legitimate user: log in, add notes three ways, read the JSON API,
/// log out; `document.cookie` never shows the session cookie. Screenshots
/// of each page land in the target dir (and, with
/// `MITTEN_E2E_DOCS_SCREENSHOTS=1`, the login and home ones in `docs/`).
pub async fn legitimate_user(h: Arc<Harness>) -> Result<(), Fail> {
    let (app, b) = (&h.app, &h.b);
    let mut k = Checks::default();
    let mut shots = Vec::new();

    b.goto(&app.url("/")).await?;
    b.wait_url(&app.url("/")).await?;
    shots.push(("index", b.screenshot(&h.run, "index").await?));
    click(&h, "a[href='/login/']").await?;
    b.wait_url(&app.url("/login/")).await?;
    shots.push(("login", b.screenshot(&h.run, "login").await?));

    let since = app.log.len();
    type_into(&h, "#login input[name=username]", "alice").await?;
    type_into(&h, "#login input[name=password]", "hunter2").await?;
    click(&h, "#login button[type=submit]").await?;
    let entry = app
        .log
        .wait(since, "POST /login/", |e| {
            e.method == Method::POST && e.path == "/login/"
        })
        .await?;
    k.check(
        entry.status == StatusCode::SEE_OTHER,
        format!("form login answered {}", entry.status),
    );
    b.wait_url(&app.url("/home/")).await?;
    let cookie = victim_cookie(&h).await?;
    k.check(
        app.user(Some(&cookie)).await?.as_deref() == Some("alice"),
        "server: the form login did not log alice in",
    );

    add_note_with_form(&h, "#note-form", "first-from-form").await?;
    add_note_with_form(&h, "#note-multipart", "second-from-multipart").await?;

    let since = app.log.len();
    type_into(&h, "#fetch-text", "third-from-fetch").await?;
    click(&h, "#note-fetch button[type=submit]").await?;
    let status = b
        .wait_js(
            "#fetch-status",
            "return document.getElementById('fetch-status').textContent",
        )
        .await?;
    k.check(
        status == "added",
        format!("fetch with X-CSRF-Token: page says {status}"),
    );
    let entry = app
        .log
        .wait(since, "the fetch POST /notes/", |e| {
            e.method == Method::POST && e.path == "/notes/"
        })
        .await?;
    k.check(
        entry.status == StatusCode::OK && entry.mode.as_deref() == Some("cors"),
        format!(
            "fetch POST /notes/ answered {} (mode {:?})",
            entry.status, entry.mode
        ),
    );
    let notes = app.notes(Some(&cookie)).await?;
    k.check(
        notes
            == [
                "first-from-form",
                "second-from-multipart",
                "third-from-fetch",
            ],
        format!("server: notes after three adds are {notes:?}"),
    );

    let since = app.log.len();
    click(&h, "#load-json").await?;
    let out = b
        .wait_js(
            "#json-out",
            "return document.getElementById('json-out').textContent",
        )
        .await?;
    let out = out.as_str().unwrap_or_default().to_owned();
    k.check(
        out.starts_with("200 ") && out.contains("third-from-fetch"),
        format!("fetch('/json_api/') on the page gave {out:?}"),
    );
    let entry = app
        .log
        .wait(since, "GET /json_api/", |e| e.path == "/json_api/")
        .await?;
    k.check(
        entry.status == StatusCode::OK,
        format!(
            "server answered the page's fetch of /json_api/ with {}",
            entry.status
        ),
    );

    let seen = b.js("return document.cookie").await?;
    let seen = seen.as_str().unwrap_or_default().to_owned();
    k.check(
        !seen.contains(&format!("{}=", crate::harness::COOKIE)),
        format!("document.cookie can read the session cookie: {seen:?}"),
    );
    shots.push(("home", b.screenshot(&h.run, "home").await?));

    b.goto(&app.url("/embed/")).await?;
    b.wait_url(&app.url("/embed/")).await?;
    shots.push(("embed", b.screenshot(&h.run, "embed").await?));
    b.goto(&app.url("/home/")).await?;
    b.wait_url(&app.url("/home/")).await?;

    let since = app.log.len();
    click(&h, "#logout button[type=submit]").await?;
    b.wait_url(&app.url("/")).await?;
    let entry = app
        .log
        .wait(since, "POST /logout/", |e| e.path == "/logout/")
        .await?;
    k.check(
        entry.status == StatusCode::SEE_OTHER,
        format!("logout answered {}", entry.status),
    );
    k.check(
        b.session_cookie().await?.is_none(),
        "the browser kept a session cookie after logout",
    );
    k.check(
        app.user(Some(&cookie)).await?.is_none(),
        "server: the session is still logged in after logout",
    );

    for (name, path) in &shots {
        eprintln!("  screenshot {name}: {}", path.display());
    }
    if h.run == "default" && std::env::var_os("MITTEN_E2E_DOCS_SCREENSHOTS").is_some() {
        let docs = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs");
        for (name, path) in shots.iter().filter(|(n, _)| ["login", "home"].contains(n)) {
            std::fs::copy(path, docs.join(format!("demo-{name}.png")))
                .map_err(|e| infra(format!("copy screenshot: {e}")))?;
        }
    }
    k.finish()
}

// ------------------------------------------------------------------ 2

/// CSRF: while the victim is logged in, each attacker origin posts forms
/// (urlencoded and multipart) and `no-cors` fetches to `/notes/` and
/// `/logout/`. The notes and the login must be unchanged, and Mitten must
/// have refused every request (403) — also the cross-site ones, which
/// `SameSite=Lax` alone would have stripped of the cookie.
pub async fn csrf(h: Arc<Harness>) -> Result<(), Fail> {
    let (app, b) = (&h.app, &h.b);
    let mut k = Checks::default();
    let attacks = [
        ("/notes/", "csrf", "urlencoded"),
        ("/notes/", "csrf", "multipart"),
        ("/notes/", "fetch", "urlencoded"),
        ("/notes/", "fetch", "multipart"),
        ("/logout/", "csrf", "urlencoded"),
        ("/logout/", "csrf", "multipart"),
        ("/logout/", "fetch", "urlencoded"),
    ];
    // (cookie, notes) of the victim's live session.
    let mut victim: Option<(String, Vec<String>)> = None;
    let mut n = 0;
    for (label, origin) in h.attacker.origins() {
        for (target, how, enc) in attacks {
            n += 1;
            let note = format!("pwned{n}");
            let what = if how == "csrf" {
                "form"
            } else {
                "no-cors fetch"
            };
            let attack = format!("{label}: {what} ({enc}) POST {target}");
            // Each attack starts from a logged-in victim on the app: one
            // that succeeded (and was reported) does not mask the next.
            b.goto(&app.url("/home/")).await?;
            let intact = match &victim {
                Some((cookie, notes)) => {
                    b.session_cookie().await?.as_deref() == Some(cookie.as_str())
                        && app.user(Some(cookie)).await?.as_deref() == Some(VICTIM)
                        && app.notes(Some(cookie)).await? == *notes
                }
                None => false,
            };
            if !intact {
                b.c.delete_all_cookies().await?;
                log_in(&h, VICTIM).await?;
                add_note_with_form(&h, "#note-form", "victims-own-note").await?;
                let cookie = victim_cookie(&h).await?;
                let notes = app.notes(Some(&cookie)).await?;
                victim = Some((cookie, notes));
            }
            let Some((cookie, baseline)) = victim.clone() else {
                unreachable!("set above")
            };

            let since = app.log.len();
            b.goto(&format!(
                "{origin}/{how}?target={target}&enc={enc}&note={note}"
            ))
            .await?;
            let entry = app
                .log
                .wait(since, &attack, |e| {
                    e.method == Method::POST && e.path == target && e.from(origin)
                })
                .await?;
            if how == "csrf" {
                let prefix = format!("{}/", app.origin);
                crate::harness::wait_for("the form's navigation", || async {
                    Ok(b.url().await?.starts_with(&prefix).then_some(()))
                })
                .await?;
            } else {
                b.wait_js("the fetch to settle", "return window.done")
                    .await?;
            }
            eprintln!(
                "  {attack}: {} (Sec-Fetch-Site {:?}, session cookie sent: {})",
                entry.status,
                entry.site,
                entry.cookie.is_some()
            );
            if label == "same-site sibling" && entry.cookie.as_deref() != Some(cookie.as_str()) {
                return Err(infra(format!(
                    "premise: {attack} did not carry the victim's cookie, so it would not \
                     test Mitten"
                )));
            }
            k.check(
                entry.status == StatusCode::FORBIDDEN,
                format!(
                    "{attack} answered {}, Mitten did not refuse it",
                    entry.status
                ),
            );
            let user = app.user(Some(&cookie)).await?;
            k.check(
                user.as_deref() == Some(VICTIM),
                format!("{attack} logged the victim out (server: {user:?})"),
            );
            if user.is_some() {
                let notes = app.notes(Some(&cookie)).await?;
                k.check(
                    notes == baseline,
                    format!("{attack} changed the victim's notes to {notes:?}"),
                );
            }
            b.goto(&app.url("/")).await?;
            let held = b.session_cookie().await?;
            k.check(
                held.as_deref() == Some(cookie.as_str()),
                format!("{attack} made the browser drop the victim's session cookie"),
            );
        }
    }
    k.finish()
}

// ------------------------------------------------------------------ 3

/// Login CSRF: the attacker's page posts the login form with the
/// attacker's account, to a browser with no cookie and to one holding a
/// pre-session from the login page. It must not end up logged in as the
/// attacker.
pub async fn login_csrf(h: Arc<Harness>) -> Result<(), Fail> {
    let (app, b) = (&h.app, &h.b);
    let mut k = Checks::default();
    for (label, origin) in h.attacker.origins() {
        for state in ["no cookie", "pre-session"] {
            let attack = format!("{label}: login CSRF ({state})");
            b.goto(&app.url("/")).await?;
            b.c.delete_all_cookies().await?;
            if state == "pre-session" {
                b.goto(&app.url("/login/")).await?;
                if b.session_cookie().await?.is_none() {
                    return Err(infra("the login page gave no pre-session cookie"));
                }
            }
            let since = app.log.len();
            b.goto(&format!("{origin}/login-csrf")).await?;
            let entry = app
                .log
                .wait(since, &attack, |e| {
                    e.method == Method::POST && e.path == "/login/" && e.from(origin)
                })
                .await?;
            let prefix = format!("{}/", app.origin);
            crate::harness::wait_for("the form's navigation", || async {
                Ok(b.url().await?.starts_with(&prefix).then_some(()))
            })
            .await?;
            eprintln!(
                "  {attack}: {} (Sec-Fetch-Site {:?}, session cookie sent: {})",
                entry.status,
                entry.site,
                entry.cookie.is_some()
            );
            k.check(
                entry.status == StatusCode::FORBIDDEN,
                format!(
                    "{attack} answered {}, Mitten did not refuse it",
                    entry.status
                ),
            );
            b.goto(&app.url("/home/")).await?;
            let cookie = b.session_cookie().await?;
            let user = app.user(cookie.as_deref()).await?;
            k.check(
                user.as_deref() != Some("mallory"),
                format!("{attack} logged the browser in as the attacker (server: {user:?})"),
            );
            let shown = b
                .js("return document.getElementById('user')?.textContent ?? null")
                .await?;
            k.check(
                shown != "mallory",
                format!("{attack}: the browser shows the attacker's home page"),
            );
        }
    }
    k.finish()
}

// ------------------------------------------------------------------ 4

/// Clickjacking: the attacker's pages frame `/home/` and `/embed/`; the
/// browser must refuse both. `/embed/` (SAMEORIGIN) renders inside a frame
/// of the app's own origin, `/home/` (DENY) does not.
pub async fn clickjacking(h: Arc<Harness>) -> Result<(), Fail> {
    let app = &h.app;
    let mut k = Checks::default();
    log_in(&h, VICTIM).await?;
    for (label, origin) in h.attacker.origins() {
        for (page, xfo) in [("/home/", "DENY"), ("/embed/", "SAMEORIGIN")] {
            let since = app.log.len();
            let rendered = frame_rendered(&h, &format!("{origin}/frame?src={page}")).await?;
            k.check(
                !rendered,
                format!("{label}: {page} rendered inside the attacker's frame"),
            );
            let entry = app
                .log
                .wait(since, &format!("{label}: framed GET {page}"), |e| {
                    e.path == page && e.dest.as_deref() == Some("iframe") && e.from(origin)
                })
                .await?;
            k.check(
                entry.xfo.as_deref() == Some(xfo),
                format!(
                    "{label}: framed {page} was answered ({}) with X-Frame-Options {:?}, not {xfo}",
                    entry.status, entry.xfo
                ),
            );
        }
    }
    let own = app.url("/__e2e/frame/?src=/embed/");
    k.check(
        frame_rendered(&h, &own).await?,
        "/embed/ (SAMEORIGIN) did not render inside a frame of the app's own origin",
    );
    let own = app.url("/__e2e/frame/?src=/home/");
    k.check(
        !frame_rendered(&h, &own).await?,
        "same origin: /home/ (DENY) rendered inside a frame of the app's own origin",
    );
    k.finish()
}

// ------------------------------------------------------------------ 5

/// JSON hijacking: each attacker page includes `/json_api/` as `<script>`,
/// `<img>` and `<link rel=stylesheet>`. The app must have refused every one
/// (403 in its log) and none of the victim's notes may reach the page.
pub async fn json_hijacking(h: Arc<Harness>) -> Result<(), Fail> {
    let (app, b) = (&h.app, &h.b);
    let mut k = Checks::default();
    log_in(&h, VICTIM).await?;
    let secret = "secret-diary-entry";
    add_note_with_form(&h, "#note-form", secret).await?;
    for (label, origin) in h.attacker.origins() {
        let since = app.log.len();
        b.goto(&format!("{origin}/json")).await?;
        let events = b
            .wait_js(
                "the three loads to finish",
                "return ['script', 'img', 'link'].every(k => (window.result || [])\
                 .some(r => r.startsWith(k + ':'))) && window.result",
            )
            .await?;
        let entries: Vec<_> = app
            .log
            .since(since)
            .into_iter()
            .filter(|e| e.path == "/json_api/" && e.from(origin))
            .collect();
        for (tag, dest) in [("script", "script"), ("img", "image"), ("link", "style")] {
            let Some(e) = entries.iter().find(|e| e.dest.as_deref() == Some(dest)) else {
                return Err(infra(format!(
                    "{label}: no <{tag}> request for /json_api/ reached the app ({entries:?})"
                )));
            };
            eprintln!(
                "  {label}: <{tag}> /json_api/ → {} (session cookie sent: {})",
                e.status,
                e.cookie.is_some()
            );
            k.check(
                e.status == StatusCode::FORBIDDEN,
                format!(
                    "{label}: /json_api/ loaded as <{tag}> answered {}, not refused",
                    e.status
                ),
            );
        }
        let leaked = b
            .js(&format!(
                "return document.documentElement.outerHTML.includes({secret:?}) \
                 || window.leaked.length > 0"
            ))
            .await?;
        eprintln!("  {label}: page events {events}");
        k.check(
            leaked == Value::Bool(false),
            format!("{label}: the victim's notes reached the attacker's page"),
        );
    }
    k.finish()
}

// ------------------------------------------------------------------ 6

/// Session fixation: the same-site sibling plants a session cookie in the
/// victim's browser (cookies are shared across ports) — a pre-session the
/// attacker got from the login page, then the attacker's own logged-in
/// session — and the victim logs in. The browser's cookie must change and
/// the planted one must be anonymous afterwards.
pub async fn session_fixation(h: Arc<Harness>) -> Result<(), Fail> {
    let (app, b) = (&h.app, &h.b);
    let mut k = Checks::default();
    let variants = [
        ("pre-session", app.attacker_session(None).await?),
        (
            "attacker's own session",
            app.attacker_session(Some("mallory")).await?,
        ),
    ];
    for (variant, planted) in variants {
        b.goto(&app.url("/")).await?;
        b.c.delete_all_cookies().await?;
        b.goto(&format!("{}/plant?value={planted}", h.attacker.same_site))
            .await?;
        b.wait_js("the cookie to be planted", "return window.done")
            .await?;
        b.goto(&app.url("/login/")).await?;
        if b.session_cookie().await?.as_deref() != Some(planted.as_str()) {
            return Err(infra(format!(
                "{variant}: the planted cookie did not stick"
            )));
        }
        let since = app.log.len();
        type_into(&h, "#login input[name=username]", VICTIM).await?;
        type_into(&h, "#login input[name=password]", "hunter2").await?;
        click(&h, "#login button[type=submit]").await?;
        b.wait_url(&app.url("/home/")).await?;
        let entry = app
            .log
            .wait(since, "POST /login/", |e| {
                e.method == Method::POST && e.path == "/login/"
            })
            .await?;
        if entry.cookie.as_deref() != Some(planted.as_str()) {
            return Err(infra(format!(
                "premise: {variant}: the login did not carry the planted cookie"
            )));
        }
        let after = b.session_cookie().await?;
        k.check(
            after.as_deref() != Some(planted.as_str()),
            format!(
                "{variant}: the session id planted before login is still the browser's after login"
            ),
        );
        let planted_user = app.user(Some(&planted)).await?;
        k.check(
            planted_user.is_none(),
            format!("{variant}: the planted cookie is logged in as {planted_user:?} after the victim's login"),
        );
        let user = app.user(after.as_deref()).await?;
        k.check(
            user.as_deref() == Some(VICTIM),
            format!("{variant}: after login the browser's cookie is logged in as {user:?}"),
        );
    }
    k.finish()
}
