//! Clickjacking, banner grabbing and the baseline response headers. Their
//! coverage of every kind of response, and duplicates and clobbering, are in
//! the attack catalogue (`tests/attacks/header_*.rs`).

mod common;

use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use common::*;
use mitten::FrameOptions;

fn with_header(name: &'static str, value: &'static str) -> Response {
    let mut r = "body".into_response();
    r.headers_mut()
        .append(name, HeaderValue::from_static(value));
    r
}

// ---- clickjacking -------------------------------------------------------

#[tokio::test]
async fn every_response_denies_framing_by_default() {
    let m = builder().build().unwrap();
    let app = app(&m, &Hits::default());
    let r = send(&app, get_req("/plain")).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.header("x-frame-options"), Some("DENY"));
    assert_eq!(
        r.header("content-security-policy"),
        Some("frame-ancestors 'none'")
    );
}

#[tokio::test]
async fn route_frame_options_same_origin_opt_in_only_for_that_route() {
    let m = builder()
        .route_frame_options("/widget", FrameOptions::SameOrigin)
        .build()
        .unwrap();
    let app = Router::new()
        .route("/widget", get(|| async { "widget" }))
        .route("/other", get(|| async { "other" }))
        .layer(m.layer());
    let r = send(&app, get_req("/widget")).await;
    assert_eq!(r.header("x-frame-options"), Some("SAMEORIGIN"));
    assert_eq!(
        r.header("content-security-policy"),
        Some("frame-ancestors 'self'")
    );
    let r = send(&app, get_req("/other")).await;
    assert_eq!(r.header("x-frame-options"), Some("DENY"));
    assert_eq!(
        r.header("content-security-policy"),
        Some("frame-ancestors 'none'")
    );
}

#[tokio::test]
async fn handler_returning_same_origin_frame_options_opts_in() {
    let m = builder().build().unwrap();
    let app = Router::new()
        .route(
            "/widget",
            get(|| async { (FrameOptions::SameOrigin, "widget") }),
        )
        .layer(m.layer());
    let r = send(&app, get_req("/widget")).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.body, "widget");
    assert_eq!(r.header("x-frame-options"), Some("SAMEORIGIN"));
    assert_eq!(
        r.header("content-security-policy"),
        Some("frame-ancestors 'self'")
    );
}

#[tokio::test]
async fn frame_options_allow_opt_out_sends_no_framing_headers() {
    let m = builder()
        .route_frame_options("/embed", FrameOptions::Allow)
        .build()
        .unwrap();
    let app = Router::new()
        .route("/embed", get(|| async { "embed" }))
        .route("/handler", get(|| async { (FrameOptions::Allow, "x") }))
        .layer(m.layer());
    for uri in ["/embed", "/handler"] {
        let r = send(&app, get_req(uri)).await;
        assert!(r.header("x-frame-options").is_none(), "{uri}: {r:?}");
        assert!(r.header("content-security-policy").is_none(), "{uri}");
        // The rest of the baseline stays.
        assert_eq!(r.header("x-content-type-options"), Some("nosniff"));
    }
}

// ---- banner grabbing ----------------------------------------------------

#[tokio::test]
async fn server_header_is_replaced_by_the_banner_even_when_handler_set_one() {
    let m = builder().banner("My Nice Banner!").build().unwrap();
    let app = Router::new()
        .route("/", get(|| async { with_header("server", "nginx/1.2.3") }))
        .route("/plain", get(|| async { "x" }))
        .layer(m.layer());
    let r = send(&app, get_req("/")).await;
    assert_eq!(r.all("server"), ["My Nice Banner!"]);
    let r = send(&app, get_req("/plain")).await;
    assert_eq!(r.all("server"), ["My Nice Banner!"]);
}

#[tokio::test]
async fn server_header_is_removed_without_a_banner() {
    let m = builder().build().unwrap();
    let app = Router::new()
        .route("/", get(|| async { with_header("server", "nginx/1.2.3") }))
        .layer(m.layer());
    let r = send(&app, get_req("/")).await;
    assert!(r.all("server").is_empty(), "{r:?}");
}

#[tokio::test]
async fn x_powered_by_set_by_handler_or_inner_service_is_removed() {
    let m = builder().build().unwrap();
    let app = Router::new()
        .route(
            "/handler",
            get(|| async { with_header("x-powered-by", "PHP/5.4") }),
        )
        .route("/inner", get(|| async { "x" }))
        .layer(axum::middleware::map_response(
            |mut r: Response| async move {
                r.headers_mut()
                    .insert("x-powered-by", HeaderValue::from_static("Express"));
                r.headers_mut()
                    .insert("x-aspnet-version", HeaderValue::from_static("4.0"));
                r
            },
        ))
        .layer(m.layer());
    for uri in ["/handler", "/inner"] {
        let r = send(&app, get_req(uri)).await;
        assert!(r.all("x-powered-by").is_empty(), "{uri}: {r:?}");
        assert!(r.all("x-aspnet-version").is_empty(), "{uri}");
    }
}

// ---- baseline -----------------------------------------------------------

#[tokio::test]
async fn baseline_headers_nosniff_referrer_policy_and_xss_filter_off() {
    let m = builder().build().unwrap();
    let app = app(&m, &Hits::default());
    let r = send(&app, get_req("/plain")).await;
    assert_eq!(r.header("x-content-type-options"), Some("nosniff"));
    assert_eq!(
        r.header("referrer-policy"),
        Some("strict-origin-when-cross-origin")
    );
    assert_eq!(r.header("x-xss-protection"), Some("0"));
}

#[tokio::test]
async fn app_referrer_policy_is_kept_as_the_only_value() {
    let m = builder().build().unwrap();
    let app = Router::new()
        .route(
            "/",
            get(|| async { with_header("referrer-policy", "no-referrer") }),
        )
        .layer(m.layer());
    let r = send(&app, get_req("/")).await;
    assert_eq!(r.all("referrer-policy"), ["no-referrer"]);
}

#[tokio::test]
async fn handler_cookie_gets_httponly_and_samesite_lax() {
    let m = builder().build().unwrap();
    let app = Router::new()
        .route(
            "/",
            get(|| async { with_header("set-cookie", "prefs=compact; Path=/") }),
        )
        .layer(m.layer());
    let r = send(&app, get_req("/")).await;
    let c = r.set_cookie_line("prefs").unwrap();
    assert!(c.starts_with("prefs=compact; Path=/"), "{c}");
    assert!(c.contains("HttpOnly"), "{c}");
    assert!(c.contains("SameSite=Lax"), "{c}");
}

#[tokio::test]
async fn handler_cookie_that_states_samesite_keeps_its_choice() {
    let m = builder().build().unwrap();
    let app = Router::new()
        .route(
            "/",
            get(|| async { with_header("set-cookie", "a=1; SameSite=Strict") }),
        )
        .layer(m.layer());
    let r = send(&app, get_req("/")).await;
    let c = r.set_cookie_line("a").unwrap();
    assert!(c.contains("SameSite=Strict"), "{c}");
    assert!(!c.contains("SameSite=Lax"), "{c}");
    assert!(c.contains("HttpOnly"), "{c}");
}

#[tokio::test]
async fn script_readable_cookie_gets_no_httponly_but_samesite() {
    let m = builder().script_readable_cookie("theme").build().unwrap();
    let app = Router::new()
        .route(
            "/",
            get(|| async {
                let mut r = with_header("set-cookie", "theme=dark; Path=/");
                r.headers_mut()
                    .append("set-cookie", HeaderValue::from_static("other=1"));
                r
            }),
        )
        .layer(m.layer());
    let r = send(&app, get_req("/")).await;
    let theme = r.set_cookie_line("theme").unwrap();
    assert!(!theme.to_ascii_lowercase().contains("httponly"), "{theme}");
    assert!(theme.contains("SameSite=Lax"), "{theme}");
    let other = r.set_cookie_line("other").unwrap();
    assert!(other.contains("HttpOnly"), "{other}");
}
