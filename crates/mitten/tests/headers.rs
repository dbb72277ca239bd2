//! Clickjacking, banner grabbing and the baseline response headers, on every
//! kind of response that passes the layer.

mod common;

use axum::body::Body;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::Router;
use common::*;
use mitten::FrameOptions;
use tower_http::catch_panic::CatchPanicLayer;

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
async fn app_csp_is_kept_and_merged_into_one_policy() {
    let m = builder().build().unwrap();
    let app = Router::new()
        .route(
            "/",
            get(|| async { with_header("content-security-policy", "default-src 'self'") }),
        )
        .layer(m.layer());
    let r = send(&app, get_req("/")).await;
    let csp = r.all("content-security-policy");
    assert_eq!(csp.len(), 1, "{csp:?}");
    assert!(csp[0].contains("default-src 'self'"), "{csp:?}");
    assert!(csp[0].contains("frame-ancestors 'none'"), "{csp:?}");
}

#[tokio::test]
async fn handler_own_frame_ancestors_is_kept() {
    let m = builder().build().unwrap();
    let app = Router::new()
        .route(
            "/",
            get(|| async {
                with_header(
                    "content-security-policy",
                    "default-src 'self'; frame-ancestors https://partner.example",
                )
            }),
        )
        .layer(m.layer());
    let r = send(&app, get_req("/")).await;
    assert_eq!(
        r.all("content-security-policy"),
        ["default-src 'self'; frame-ancestors https://partner.example"]
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

#[tokio::test]
async fn handler_set_frame_options_leaves_exactly_one_value() {
    let m = builder().build().unwrap();
    let app = Router::new()
        .route(
            "/",
            get(|| async {
                let mut r = with_header("x-frame-options", "ALLOWALL");
                r.headers_mut()
                    .append("x-frame-options", HeaderValue::from_static("SAMEORIGIN"));
                r
            }),
        )
        .layer(m.layer());
    let r = send(&app, get_req("/")).await;
    assert_eq!(r.all("x-frame-options"), ["DENY"]);
}

fn assert_each_header_once(r: &Resp) {
    for h in [
        "x-frame-options",
        "content-security-policy",
        "x-content-type-options",
        "referrer-policy",
        "x-xss-protection",
        "server",
        "cache-control",
    ] {
        assert!(r.all(h).len() <= 1, "{h} repeated: {:?}", r.all(h));
    }
    let vary = r.vary();
    let mut dedup = vary.clone();
    dedup.sort();
    dedup.dedup();
    assert_eq!(vary.len(), dedup.len(), "Vary repeated: {vary:?}");
    let cookies = r.set_cookies();
    assert!(cookies.len() <= 1, "session cookie repeated: {cookies:?}");
    for c in &cookies {
        assert_eq!(c.matches("HttpOnly").count(), 1, "{c}");
        assert_eq!(c.matches("SameSite").count(), 1, "{c}");
    }
}

#[tokio::test]
async fn layer_applied_twice_sends_each_header_once() {
    let m = builder().banner("Mitten").build().unwrap();
    let hits = Hits::default();
    let app = routes(&hits).layer(m.layer()).layer(m.layer());
    let r = send(&app, get_req("/plain")).await;
    assert_security_headers(&r);
    assert_each_header_once(&r);
    // The token route sets the session cookie exactly once, and the token
    // verifies (the outer layer owns the session).
    let (tok, c) = token(&app, COOKIE).await;
    let (k, v) = cookie(COOKIE, &c);
    let r = send(
        &app,
        browser("POST", "/submit")
            .header(k, v)
            .header("x-csrf-token", tok)
            .body(Body::empty())
            .unwrap(),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_each_header_once(&r);
    assert!(r.vary().contains(&"origin".to_owned()));
    // And a rejection too.
    let r = send(
        &app,
        browser("POST", "/submit").body(Body::empty()).unwrap(),
    )
    .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    assert_security_headers(&r);
    assert_each_header_once(&r);
    assert_eq!(hits.get(), 1);
}

#[tokio::test]
async fn nested_routers_each_with_the_layer_send_each_header_once() {
    let m = builder().banner("Mitten").build().unwrap();
    let hits = Hits::default();
    let inner = routes(&hits).layer(m.layer());
    let app = Router::new()
        .nest("/inner", inner)
        .route("/outer", get(|| async { "outer" }))
        .layer(m.layer());
    for uri in ["/inner/plain", "/outer", "/inner/token"] {
        let r = send(&app, get_req(uri)).await;
        assert_eq!(r.status, StatusCode::OK, "{uri}");
        assert_security_headers(&r);
        assert_each_header_once(&r);
    }
    let r = send(
        &app,
        browser("POST", "/inner/submit")
            .body(Body::empty())
            .unwrap(),
    )
    .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    assert_each_header_once(&r);
    assert_eq!(hits.get(), 0);
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

// ---- coverage: every kind of response -----------------------------------

fn coverage_app(m: &mitten::Mitten) -> Router {
    Router::new()
        .route("/only-get", get(|| async { "x" }))
        .route(
            "/error",
            get(|| async { (StatusCode::INTERNAL_SERVER_ERROR, "boom") }),
        )
        .route(
            "/panic",
            get(|| async {
                if std::hint::black_box(true) {
                    panic!("handler panicked");
                }
                "unreachable"
            }),
        )
        .route("/redirect", get(|| async { Redirect::to("/elsewhere") }))
        .route("/form", post(|| async { "posted" }))
        .layer(CatchPanicLayer::new())
        .layer(m.layer())
}

#[tokio::test]
async fn unknown_route_404_has_security_headers() {
    let m = builder().banner("Mitten").build().unwrap();
    let r = send(&coverage_app(&m), get_req("/nope")).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    assert_security_headers(&r);
    assert_eq!(r.header("server"), Some("Mitten"));
}

#[tokio::test]
async fn method_not_allowed_405_has_security_headers() {
    let m = builder().build().unwrap();
    // DELETE is CSRF-checked, so send it as a valid-looking safe method
    // the route does not serve instead.
    let r = send(
        &coverage_app(&m),
        req("OPTIONS", "/only-get").body(Body::empty()).unwrap(),
    )
    .await;
    assert_eq!(r.status, StatusCode::METHOD_NOT_ALLOWED);
    assert_security_headers(&r);
}

#[tokio::test]
async fn body_too_large_413_has_security_headers() {
    let m = builder().body_limit(16).build().unwrap();
    let r = send(
        &coverage_app(&m),
        browser("POST", "/form")
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .body(Body::from("a=".to_owned() + &"x".repeat(100)))
            .unwrap(),
    )
    .await;
    assert_eq!(r.status, StatusCode::PAYLOAD_TOO_LARGE);
    assert_security_headers(&r);
}

#[tokio::test]
async fn handler_500_has_security_headers() {
    let m = builder().build().unwrap();
    let r = send(&coverage_app(&m), get_req("/error")).await;
    assert_eq!(r.status, StatusCode::INTERNAL_SERVER_ERROR);
    assert_security_headers(&r);
}

#[tokio::test]
async fn caught_panic_500_has_security_headers() {
    let m = builder().build().unwrap();
    let r = send(&coverage_app(&m), get_req("/panic")).await;
    assert_eq!(r.status, StatusCode::INTERNAL_SERVER_ERROR);
    assert_security_headers(&r);
}

#[tokio::test]
async fn redirect_has_security_headers() {
    let m = builder().build().unwrap();
    let r = send(&coverage_app(&m), get_req("/redirect")).await;
    assert!(r.status.is_redirection(), "{}", r.status);
    assert_eq!(r.header("location"), Some("/elsewhere"));
    assert_security_headers(&r);
}

#[tokio::test]
async fn mitten_own_403_rejection_has_security_headers() {
    let m = builder().banner("Mitten").build().unwrap();
    let r = send(
        &coverage_app(&m),
        browser("POST", "/form").body(Body::empty()).unwrap(),
    )
    .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    assert_security_headers(&r);
    assert_eq!(r.header("server"), Some("Mitten"));
}
