//! Family 6, exemption reach: `.csrf_exempt("/public_api/")` exempts that
//! router pattern and nothing else. The exemption is matched against the
//! route axum actually dispatched to (`MatchedPath`), so no spelling of a
//! path can reach another handler unchecked: a path the router does not
//! match exactly goes to the fallback, which is never exempt.

use axum::body::Body;
use axum::http::{header, Request, StatusCode};
use axum::routing::{any, post};
use axum::Router;

use crate::common::*;

struct App {
    app: Router,
    exempt: Hits,
    protected: Hits,
}

/// `/public_api/` is exempt; `/login/`, `/public_api` (no slash),
/// `/public_api/{*rest}` and the fallback are protected and count their runs.
fn exempt_app() -> App {
    let m = builder().csrf_exempt("/public_api/").build().unwrap();
    let exempt = Hits::default();
    let protected = Hits::default();
    let (e, p1, p2, p3, p4) = (
        exempt.clone(),
        protected.clone(),
        protected.clone(),
        protected.clone(),
        protected.clone(),
    );
    let app = Router::new()
        .route(
            "/public_api/",
            any(move || async move {
                e.bump();
                "public"
            }),
        )
        .route(
            "/login/",
            post(move || async move {
                p1.bump();
                "LOGIN RAN"
            }),
        )
        .route(
            "/public_api",
            post(move || async move {
                p2.bump();
                "protected"
            }),
        )
        .route(
            "/public_api/x/{*rest}",
            post(move || async move {
                p3.bump();
                "protected"
            }),
        )
        .fallback(any(move || async move {
            p4.bump();
            "fallback ran"
        }))
        .layer(m.layer());
    App {
        app,
        exempt,
        protected,
    }
}

/// POSTs each of `uris` without a token; none may run a protected handler.
async fn never_reach_a_protected_handler(a: &App, uris: &[&str]) {
    for uri in uris {
        let Ok(r) = browser("POST", uri).body(Body::empty()) else {
            // hyper parses request targets with the same http crate, so
            // this spelling never reaches any service.
            println!("{uri:?}: not a valid URI, refused before Mitten");
            continue;
        };
        let before = a.exempt.get();
        let res = send(&a.app, r).await;
        let ran_exempt = a.exempt.get() > before;
        assert!(
            res.status == StatusCode::FORBIDDEN || (ran_exempt && res.body == "public"),
            "{uri}: {} {}",
            res.status,
            res.body
        );
        assert_security_headers(&res);
        assert_eq!(
            a.protected.get(),
            0,
            "{uri}: a protected handler ran unchecked"
        );
    }
}

#[tokio::test]
async fn post_public_api_dot_dot_login_never_runs_the_login_handler_unchecked() {
    let a = exempt_app();
    never_reach_a_protected_handler(
        &a,
        &[
            "/public_api/../login/",
            "/public_api/%2e%2e/login/",
            "/public_api/%2E%2E/login/",
            "/public_api/..%2flogin/",
            "/public_api/..%2Flogin%2F",
            "/public_api/.%2e/login/",
            "/public_api%2f..%2flogin/",
            "/public_api/../../login/",
            "/public_api/./../login/",
            "/public_api/..;/login/",
        ],
    )
    .await;
}

#[tokio::test]
async fn post_double_slash_public_api_is_checked() {
    let a = exempt_app();
    never_reach_a_protected_handler(
        &a,
        &[
            "//public_api/",
            "///public_api/",
            "/public_api//",
            "//public_api//",
        ],
    )
    .await;
}

#[tokio::test]
async fn public_api_in_another_case_or_encoding_is_checked() {
    let a = exempt_app();
    never_reach_a_protected_handler(
        &a,
        &[
            "/PUBLIC_API/",
            "/Public_Api/",
            "/%70ublic_api/",
            "/public%5Fapi/",
            "/public%5fapi%2F",
            "/%2Fpublic_api/",
            "/public_api%2F",
            "/public_api/%00",
            "/public_api%00/",
            "/public_api/%20",
        ],
    )
    .await;
}

#[tokio::test]
async fn public_api_without_its_trailing_slash_or_with_a_suffix_is_checked() {
    let a = exempt_app();
    never_reach_a_protected_handler(
        &a,
        &[
            "/public_api",
            "/public_api/x",
            "/public_api/x/login",
            "/public_apix/",
            "/public_api/;/login/",
            "/public_api;/",
            "/public_api/.",
            "/public_api/..",
        ],
    )
    .await;
}

#[tokio::test]
async fn dot_segments_before_public_api_are_checked() {
    let a = exempt_app();
    never_reach_a_protected_handler(
        &a,
        &[
            "/./public_api/",
            "/x/../public_api/",
            "/login/../public_api/",
            "/.%2e/public_api/",
        ],
    )
    .await;
}

#[tokio::test]
async fn backslash_and_absolute_form_paths_are_checked() {
    let a = exempt_app();
    // Backslashes are not legal in a URI path; what the http crate accepts
    // is routed literally.
    never_reach_a_protected_handler(
        &a,
        &[
            "/public_api\\..\\login/",
            "\\public_api\\",
            "/public_api/%5C..%5Clogin/",
            "http://localhost/public_api/../login/",
            "http://localhost//public_api/",
        ],
    )
    .await;
}

#[tokio::test]
async fn query_and_fragment_tricks_do_not_move_the_exemption() {
    let a = exempt_app();
    never_reach_a_protected_handler(
        &a,
        &[
            "/login/?/public_api/",
            "/login/?path=/public_api/",
            "/login/#/public_api/",
            "/login/%3F/public_api/",
            "/login/%23/public_api/",
        ],
    )
    .await;
    // The exempt route with a query string is still the exempt route.
    let r = send(
        &a.app,
        browser("POST", "/public_api/?next=/login/")
            .body(Body::empty())
            .unwrap(),
    )
    .await;
    assert_eq!(r.body, "public");
    assert_eq!(a.protected.get(), 0);
}

#[tokio::test]
async fn rewrite_headers_do_not_move_the_exemption() {
    // IIS-style path overrides are not honoured by axum, and Mitten decides
    // from the route axum dispatched to, not from headers.
    let a = exempt_app();
    for h in [
        "x-original-url",
        "x-rewrite-url",
        "x-forwarded-uri",
        "x-forwarded-path",
    ] {
        let r = send(
            &a.app,
            browser("POST", "/login/")
                .header(h, "/public_api/")
                .body(Body::empty())
                .unwrap(),
        )
        .await;
        assert_eq!(r.status, StatusCode::FORBIDDEN, "{h}");
        let r = send(
            &a.app,
            browser("POST", "/public_api/")
                .header(h, "/login/")
                .body(Body::empty())
                .unwrap(),
        )
        .await;
        assert_eq!(r.body, "public", "{h}");
    }
    assert_eq!(a.protected.get(), 0);
}

#[tokio::test]
async fn unmatched_paths_reach_the_fallback_only_after_the_check() {
    let a = exempt_app();
    let r = send(
        &a.app,
        browser("POST", "/nope").body(Body::empty()).unwrap(),
    )
    .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    assert_eq!(a.protected.get(), 0);
}

#[tokio::test]
async fn method_override_on_the_exempt_route_stays_on_the_exempt_route() {
    let a = exempt_app();
    let r = send(
        &a.app,
        browser("POST", "/public_api/")
            .header("x-http-method-override", "DELETE")
            .body(Body::empty())
            .unwrap(),
    )
    .await;
    assert_eq!(r.body, "public");
    assert_eq!(a.protected.get(), 0);
}

#[tokio::test]
async fn exemption_of_a_pattern_does_not_cover_the_same_pattern_nested_elsewhere() {
    // A nested router's routes are matched by their full pattern.
    let m = builder().csrf_exempt("/public_api/").build().unwrap();
    let hits = Hits::default();
    let h = hits.clone();
    let inner = Router::new().route(
        "/public_api/",
        post(move || async move {
            h.bump();
            "nested"
        }),
    );
    let app = Router::new().nest("/v1", inner).layer(m.layer());
    let r = send(
        &app,
        browser("POST", "/v1/public_api/")
            .body(Body::empty())
            .unwrap(),
    )
    .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    assert_eq!(hits.get(), 0);
}

#[tokio::test]
async fn exemption_spelled_without_the_trailing_slash_does_not_exempt_the_slashed_route() {
    let m = builder().csrf_exempt("/public_api").build().unwrap();
    let hits = Hits::default();
    let h = hits.clone();
    let app = Router::new()
        .route(
            "/public_api/",
            post(move || async move {
                h.bump();
                "slashed"
            }),
        )
        .layer(m.layer());
    let r = send(
        &app,
        browser("POST", "/public_api/").body(Body::empty()).unwrap(),
    )
    .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    assert_eq!(hits.get(), 0);
}

#[tokio::test]
async fn exempt_route_still_gets_the_header_policy_and_no_session_fixation() {
    let m = builder().csrf_exempt("/public_api/").build().unwrap();
    let app = Router::new()
        .route(
            "/public_api/",
            post(|s: mitten::Session| async move {
                s.insert("hook", true).await?;
                Ok::<_, mitten::SessionError>("public")
            }),
        )
        .layer(m.layer());
    let planted = "AAAAAAAAAAAAAAAAAAAAAA.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA";
    let r = send(
        &app,
        Request::builder()
            .method("POST")
            .uri("/public_api/")
            .header(header::HOST, HOST)
            .header(header::COOKIE, format!("{COOKIE}={planted}"))
            .header("sec-fetch-site", "cross-site")
            .body(Body::empty())
            .unwrap(),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_security_headers(&r);
    let issued = r.cookie(COOKIE).expect("the write started a session");
    assert_ne!(issued, planted);
}
