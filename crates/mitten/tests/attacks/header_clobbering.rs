//! Family 13, duplicates and clobbering: whatever the handler, an inner
//! service, a second Mitten layer or a nested router already put on the
//! response, each protective header ends up with one coherent value.

use axum::body::Body;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use mitten::{CsrfToken, FrameOptions, Mitten};

use crate::common::*;

/// A response with `headers` appended as given.
fn with(headers: &[(&'static str, &[u8])]) -> Response {
    let mut r = "body".into_response();
    for (k, v) in headers {
        r.headers_mut()
            .append(*k, HeaderValue::from_bytes(v).unwrap());
    }
    r
}

/// One route `/` answering `headers`, behind `layers` Mitten layers.
fn app_with(headers: &[(&'static str, &[u8])], layers: usize) -> Router {
    let m = builder().banner("Mitten").build().unwrap();
    let owned: Vec<(&'static str, Vec<u8>)> =
        headers.iter().map(|(k, v)| (*k, v.to_vec())).collect();
    let mut app = Router::new().route(
        "/",
        get(move || async move {
            let borrowed: Vec<(&'static str, &[u8])> =
                owned.iter().map(|(k, v)| (*k, v.as_slice())).collect();
            with(&borrowed)
        }),
    );
    for _ in 0..layers {
        app = app.layer(m.layer());
    }
    app
}

async fn get_root(headers: &[(&'static str, &[u8])], layers: usize) -> Resp {
    send(&app_with(headers, layers), get_req("/")).await
}

/// Each protective header at most once, no Vary token twice, cookies
/// hardened once.
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
    let mut vary = r.vary();
    let n = vary.len();
    vary.sort();
    vary.dedup();
    assert_eq!(vary.len(), n, "Vary repeated: {:?}", r.vary());
    for c in r.set_cookies() {
        let l = c.to_ascii_lowercase();
        assert!(l.matches("httponly").count() <= 1, "{c}");
        assert_eq!(l.matches("samesite").count(), 1, "{c}");
    }
}

#[tokio::test]
async fn handler_setting_x_frame_options_gets_exactly_one_deny() {
    for headers in [
        &[("x-frame-options", &b"ALLOWALL"[..])][..],
        &[("x-frame-options", b"ALLOW-FROM https://evil.test")],
        &[
            ("x-frame-options", b"SAMEORIGIN"),
            ("x-frame-options", b"ALLOWALL"),
        ],
        &[("x-frame-options", b"deny")],
        &[("x-frame-options", b"")],
    ] {
        let r = get_root(headers, 1).await;
        assert_eq!(r.all("x-frame-options"), ["DENY"], "{headers:?}");
        assert_security_headers(&r);
    }
}

#[tokio::test]
async fn handler_own_csp_is_merged_into_one_policy_with_frame_ancestors() {
    let r = get_root(&[("content-security-policy", b"default-src 'self'")], 1).await;
    assert_eq!(
        r.all("content-security-policy"),
        ["default-src 'self'; frame-ancestors 'none'"]
    );
    let r = get_root(&[("content-security-policy", b"default-src 'self';;  ")], 1).await;
    assert_eq!(
        r.all("content-security-policy"),
        ["default-src 'self'; frame-ancestors 'none'"]
    );
}

#[tokio::test]
async fn handler_csp_that_states_frame_ancestors_is_kept_whole() {
    for csp in [
        &b"default-src 'self'; frame-ancestors https://partner.example"[..],
        b"FRAME-ANCESTORS https://partner.example",
        b"frame-ancestors\t'self'",
    ] {
        let r = get_root(&[("content-security-policy", csp)], 1).await;
        assert_eq!(
            r.all("content-security-policy"),
            [String::from_utf8_lossy(csp)],
            "an explicit frame-ancestors is the app's choice"
        );
    }
}

#[tokio::test]
async fn two_handler_csp_policies_get_frame_ancestors_once_and_both_are_kept() {
    let r = get_root(
        &[
            ("content-security-policy", b"default-src 'self'"),
            ("content-security-policy", b"script-src 'none'"),
        ],
        1,
    )
    .await;
    let csp = r.all("content-security-policy");
    assert_eq!(csp.len(), 2, "{csp:?}");
    assert_eq!(
        csp.concat().matches("frame-ancestors").count(),
        1,
        "{csp:?}"
    );
    assert!(csp.iter().any(|p| p.contains("default-src 'self'")));
    assert!(csp.iter().any(|p| p.contains("script-src 'none'")));
}

#[tokio::test]
async fn report_only_frame_ancestors_does_not_switch_off_the_enforced_one() {
    let r = get_root(
        &[("content-security-policy-report-only", b"frame-ancestors *")],
        1,
    )
    .await;
    assert_security_headers(&r);
    assert_eq!(
        r.header("content-security-policy"),
        Some("frame-ancestors 'none'")
    );
    assert_eq!(
        r.all("content-security-policy-report-only"),
        ["frame-ancestors *"]
    );
}

#[tokio::test]
async fn csp_directive_that_only_resembles_frame_ancestors_does_not_count() {
    for csp in [
        &b"frame-ancestors-x *"[..],
        b"script-src frame-ancestors",
        b"default-src 'frame-ancestors'",
        b"xframe-ancestors *",
    ] {
        let r = get_root(&[("content-security-policy", csp)], 1).await;
        let all = r.all("content-security-policy");
        assert_eq!(all.len(), 1, "{all:?}");
        assert!(all[0].ends_with("; frame-ancestors 'none'"), "{all:?}");
    }
}

#[tokio::test]
async fn handler_nosniff_and_xss_filter_overrides_are_replaced() {
    let r = get_root(
        &[
            ("x-content-type-options", b"sniff"),
            ("x-content-type-options", b"nosniff"),
            ("x-xss-protection", b"1; mode=block"),
            ("x-xss-protection", b"1"),
        ],
        1,
    )
    .await;
    assert_eq!(r.all("x-content-type-options"), ["nosniff"]);
    assert_eq!(r.all("x-xss-protection"), ["0"]);
}

#[tokio::test]
async fn handler_server_and_framework_banners_are_replaced_once() {
    let r = get_root(
        &[
            ("server", b"nginx/1.2.3"),
            ("server", b"Apache"),
            ("x-powered-by", b"PHP/5.4"),
            ("x-aspnet-version", b"4.0"),
            ("x-runtime", b"0.01"),
        ],
        2,
    )
    .await;
    assert_eq!(r.all("server"), ["Mitten"]);
    for h in ["x-powered-by", "x-aspnet-version", "x-runtime"] {
        assert!(r.all(h).is_empty(), "{h}");
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
    // The outer layer owns the session: one cookie, and its token verifies.
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
async fn layer_applied_twice_merges_a_handler_csp_once() {
    let r = get_root(&[("content-security-policy", b"default-src 'self'")], 3).await;
    assert_eq!(
        r.all("content-security-policy"),
        ["default-src 'self'; frame-ancestors 'none'"]
    );
    assert_each_header_once(&r);
}

#[tokio::test]
async fn layer_applied_twice_keeps_a_handler_same_origin_framing_choice() {
    let m = builder().build().unwrap();
    let app = Router::new()
        .route("/w", get(|| async { (FrameOptions::SameOrigin, "widget") }))
        .layer(m.layer())
        .layer(m.layer());
    let r = send(&app, get_req("/w")).await;
    assert_eq!(r.all("x-frame-options"), ["SAMEORIGIN"]);
    assert_eq!(r.all("content-security-policy"), ["frame-ancestors 'self'"]);
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
    for uri in [
        "/inner/plain",
        "/outer",
        "/inner/token",
        "/inner/nope",
        "/nope",
    ] {
        let r = send(&app, get_req(uri)).await;
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

#[tokio::test]
async fn nested_routers_with_different_mitten_configs_answer_with_the_outer_policy() {
    // The outer layer sees the response last; its policy is the one sent.
    let inner_m = builder()
        .frame_options(FrameOptions::Allow)
        .banner("Inner")
        .build()
        .unwrap();
    let outer_m: Mitten = builder().banner("Outer").build().unwrap();
    let inner = Router::new()
        .route("/x", get(|| async { "inner" }))
        .layer(inner_m.layer());
    let app = Router::new().nest("/inner", inner).layer(outer_m.layer());
    let r = send(&app, get_req("/inner/x")).await;
    assert_eq!(r.all("server"), ["Outer"]);
    assert_eq!(r.all("x-frame-options"), ["DENY"]);
    assert_each_header_once(&r);
}

#[tokio::test]
async fn handler_vary_is_extended_not_duplicated() {
    let m = builder().json_only("/j").build().unwrap();
    let app = Router::new()
        .route(
            "/j",
            get(|| async {
                with(&[
                    ("vary", b"origin, X-Requested-With"),
                    ("vary", b"Accept-Encoding"),
                ])
            }),
        )
        .layer(m.layer());
    let r = send(
        &app,
        req("GET", "/j")
            .header("x-requested-with", "XMLHttpRequest")
            .body(Body::empty())
            .unwrap(),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK);
    assert_each_header_once(&r);
    let vary = r.vary();
    for h in [
        "sec-fetch-site",
        "sec-fetch-mode",
        "sec-fetch-dest",
        "accept-encoding",
    ] {
        assert!(vary.contains(&h.to_owned()), "{h}: {vary:?}");
    }
    // `Vary: *` already covers everything.
    let app = Router::new()
        .route("/", get(|| async { with(&[("vary", b"*")]) }))
        .layer(builder().json_only("/").build().unwrap().layer());
    let r = send(
        &app,
        req("GET", "/")
            .header("x-requested-with", "XMLHttpRequest")
            .body(Body::empty())
            .unwrap(),
    )
    .await;
    assert_eq!(r.all("vary"), ["*"]);
}

#[tokio::test]
async fn handler_cookie_with_odd_case_attributes_is_not_hardened_twice() {
    let r = get_root(
        &[
            ("set-cookie", b"a=1; httponly; samesite=strict"),
            ("set-cookie", b"b=2; HTTPONLY; SAMESITE=None; Secure"),
            ("set-cookie", b"c=3; Path=/;"),
        ],
        2,
    )
    .await;
    assert_each_header_once(&r);
    let c = r.set_cookie_line("c").unwrap();
    assert_eq!(c, "c=3; Path=/; HttpOnly; SameSite=Lax");
    assert_eq!(
        r.set_cookie_line("a").unwrap(),
        "a=1; httponly; samesite=strict"
    );
}

#[tokio::test]
async fn handler_cache_control_public_on_a_token_response_is_replaced_by_no_store() {
    let m = builder().build().unwrap();
    let app = Router::new()
        .route(
            "/form",
            get(|csrf: CsrfToken| async move {
                let t = csrf.token()?;
                let mut r = t.into_response();
                r.headers_mut().insert(
                    header::CACHE_CONTROL,
                    HeaderValue::from_static("public, max-age=3600"),
                );
                Ok::<_, mitten::SessionError>(r)
            }),
        )
        .layer(m.layer());
    let r = send(&app, get_req("/form")).await;
    assert_eq!(r.all("cache-control"), ["no-store"]);
}

#[tokio::test]
async fn handler_cookie_with_non_ascii_bytes_is_still_hardened() {
    // `José` in UTF-8, and a byte that is not UTF-8 at all.
    let r = get_root(
        &[
            ("set-cookie", b"name=Jos\xc3\xa9; Path=/"),
            ("set-cookie", b"raw=\xff\xfe"),
        ],
        1,
    )
    .await;
    let cookies: Vec<Vec<u8>> = r
        .headers
        .get_all("set-cookie")
        .iter()
        .map(|v| v.as_bytes().to_vec())
        .collect();
    assert_eq!(
        cookies,
        [
            b"name=Jos\xc3\xa9; Path=/; HttpOnly; SameSite=Lax".to_vec(),
            b"raw=\xff\xfe; HttpOnly; SameSite=Lax".to_vec(),
        ]
    );
}

#[tokio::test]
async fn handler_csp_with_non_ascii_bytes_still_gets_frame_ancestors() {
    // UTF-8 and bytes that are not UTF-8: never a reason to skip the merge.
    for (csp, merged) in [
        (
            "img-src https://exämple.test".as_bytes(),
            "img-src https://exämple.test; frame-ancestors 'none'".as_bytes(),
        ),
        (
            b"default-src 'self' \xff;",
            b"default-src 'self' \xff; frame-ancestors 'none'",
        ),
    ] {
        let r = get_root(&[("content-security-policy", csp)], 2).await;
        let got: Vec<&[u8]> = r
            .headers
            .get_all("content-security-policy")
            .iter()
            .map(|v| v.as_bytes())
            .collect();
        assert_eq!(got, [merged]);
        assert_eq!(r.all("x-frame-options"), ["DENY"]);
    }
}
