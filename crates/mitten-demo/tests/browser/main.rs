//! End-to-end: headless Chromium (Debian's `chromium` + `chromium-driver`)
//! uses the demo as a person would and attacks it from two other origins on
//! this machine:
//!
//! - **cross-site**: `http://localhost:PORT` (the app is on `127.0.0.1`);
//! - **same-site sibling**: `http://127.0.0.1:PORT`, another origin on the
//!   app's site, like a compromised sibling subdomain. The browser sends
//!   the app's `SameSite=Lax` cookie with its requests, so there only
//!   Mitten's own checks stand in the way.
//!
//! Every scenario asserts server-side state (the app's request log, and the
//! session read back through the app with the victim's cookie), not only
//! what the page shows. Each also runs as a negative control against a
//! demo with its protection switched off ([`mitten_demo::Weakness`]), which
//! must make exactly the check guarding that protection fail.
//!
//! Without Chromium the tests print why and pass as skipped; with `CI` set
//! they fail. `MITTEN_E2E_WEAKEN=csrf,json,…` runs the default scenarios
//! against a weakened demo by hand (see `Weakness::ALL` for the names).

#![forbid(unsafe_code)]

mod harness;
mod pages;
mod scenarios;

use std::future::Future;
use std::sync::Arc;

use harness::{binaries, run, Fail, Harness};
use mitten_demo::Weakness;

/// The scenario must pass against the demo as shipped.
async fn holds<F, Fut>(scenario: F)
where
    F: FnOnce(Arc<Harness>) -> Fut,
    Fut: Future<Output = Result<(), Fail>> + Send + 'static,
{
    let Some(bin) = binaries() else { return };
    match run(&bin, &[], scenario).await {
        Ok(()) => {}
        Err(Fail::Infra(m)) => panic!("the browser suite could not run the scenario: {m}"),
        Err(Fail::Checks(failed)) => panic!("protection failed:\n- {}", failed.join("\n- ")),
    }
}

/// The scenario must fail, on a check mentioning `expect`, when `weakness`
/// is switched off: proof that it tests that protection.
async fn breaks<F, Fut>(weakness: Weakness, scenario: F, expect: &str)
where
    F: FnOnce(Arc<Harness>) -> Fut,
    Fut: Future<Output = Result<(), Fail>> + Send + 'static,
{
    let Some(bin) = binaries() else { return };
    match run(&bin, &[weakness], scenario).await {
        Err(Fail::Checks(failed)) if failed.iter().any(|m| m.contains(expect)) => {
            eprintln!(
                "negative control {weakness:?}: failed as it must:\n- {}",
                failed.join("\n- ")
            );
        }
        other => panic!(
            "with {weakness:?} the scenario should fail on a check mentioning {expect:?}, \
             got {other:?}"
        ),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn legitimate_user_logs_in_adds_notes_reads_json_logs_out() {
    holds(scenarios::legitimate_user).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn csrf_from_cross_site_and_same_site_pages_changes_nothing() {
    holds(scenarios::csrf).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn login_csrf_does_not_log_the_browser_in_as_the_attacker() {
    holds(scenarios::login_csrf).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clickjacking_frames_are_refused_same_origin_embed_renders() {
    holds(scenarios::clickjacking).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn json_hijacking_by_script_img_link_is_refused() {
    holds(scenarios::json_hijacking).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn session_fixation_planted_cookie_dies_at_login() {
    holds(scenarios::session_fixation).await;
}

// Negative controls: the same scenarios against a demo missing one
// protection each.

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn negative_control_without_httponly_legitimate_user_fails() {
    breaks(
        Weakness::ScriptReadableSession,
        scenarios::legitimate_user,
        "document.cookie can read the session cookie",
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn negative_control_without_csrf_check_csrf_fails() {
    breaks(
        Weakness::Csrf,
        scenarios::csrf,
        "same-site sibling: form (urlencoded) POST /notes/ changed the victim's notes",
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn negative_control_without_login_csrf_check_login_csrf_fails() {
    breaks(
        Weakness::LoginCsrf,
        scenarios::login_csrf,
        "logged the browser in as the attacker",
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn negative_control_without_frame_options_clickjacking_fails() {
    breaks(
        Weakness::Framing,
        scenarios::clickjacking,
        "/home/ rendered inside the attacker's frame",
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn negative_control_without_json_guard_json_hijacking_fails() {
    breaks(
        Weakness::JsonGuard,
        scenarios::json_hijacking,
        "not refused",
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn negative_control_without_regenerate_session_fixation_fails() {
    breaks(
        Weakness::Fixation,
        scenarios::session_fixation,
        "attacker's own session: the planted cookie is logged in as",
    )
    .await;
}
