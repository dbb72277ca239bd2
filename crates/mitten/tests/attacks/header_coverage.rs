//! Family 14, coverage: the security headers are on every response that
//! passes the layer — fallbacks (404, 405), timeouts (408), size limits
//! (413 from Mitten, from axum and from the session), errors (500, a caught
//! panic, 503, 409), redirects, streaming and empty bodies, `HEAD`, and
//! every one of Mitten's own refusals, default or custom.
//!
//! Layers that turn failures into responses (timeouts, panic catchers,
//! body limits) must sit inside Mitten (`.layer()` before Mitten's) for
//! their responses to be covered; what hyper itself refuses before any
//! service runs cannot be covered (last test).

use std::sync::Arc;
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::DefaultBodyLimit;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Redirect};
use axum::routing::{get, post};
use axum::Router;
use mitten::{Mitten, Rejection, Session, SessionError};
use tokio::sync::Notify;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::timeout::TimeoutLayer;

use crate::common::*;
use crate::kit::*;
use crate::wire::*;

fn coverage_app(m: &Mitten) -> Router {
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
        .route(
            "/slow",
            get(|| async {
                tokio::time::sleep(Duration::from_secs(30)).await;
                "too late"
            }),
        )
        .route("/see-other", get(|| async { Redirect::to("/elsewhere") }))
        .route(
            "/temporary",
            get(|| async { Redirect::temporary("/elsewhere") }),
        )
        .route(
            "/permanent",
            get(|| async { Redirect::permanent("/elsewhere") }),
        )
        .route(
            "/stream",
            get(|| async {
                let chunks =
                    ["one ", "two ", "three"].map(|c| Ok::<_, std::io::Error>(Bytes::from(c)));
                Body::from_stream(futures_util::stream::iter(chunks))
            }),
        )
        .route("/empty", get(|| async { StatusCode::NO_CONTENT }))
        .route(
            "/bytes",
            post(|body: Bytes| async move { format!("{} bytes", body.len()) }),
        )
        .route(
            "/too-big",
            get(|s: Session| async move {
                s.insert("v", "x".repeat(100_000)).await?;
                Ok::<_, SessionError>("unreachable")
            }),
        )
        .route(
            "/typed",
            get(|s: Session| async move {
                s.insert("v", "text").await?;
                let n: Option<u64> = s.get("v").await?;
                Ok::<_, SessionError>(format!("{n:?}"))
            }),
        )
        .layer(DefaultBodyLimit::max(16))
        .layer(TimeoutLayer::with_status_code(
            StatusCode::REQUEST_TIMEOUT,
            Duration::from_millis(100),
        ))
        .layer(CatchPanicLayer::new())
        .layer(m.layer())
}

async fn covered(uri: &str) -> Resp {
    let m = builder().banner("Mitten").build().unwrap();
    let r = send(&coverage_app(&m), get_req(uri)).await;
    assert_security_headers(&r);
    assert_eq!(r.header("server"), Some("Mitten"), "{uri}");
    r
}

#[tokio::test]
async fn unknown_route_404_has_security_headers() {
    assert_eq!(covered("/nope").await.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn method_not_allowed_405_has_security_headers() {
    let m = builder().build().unwrap();
    let app = coverage_app(&m);
    let r = send(
        &app,
        req("OPTIONS", "/only-get").body(Body::empty()).unwrap(),
    )
    .await;
    assert_eq!(r.status, StatusCode::METHOD_NOT_ALLOWED);
    assert_security_headers(&r);
    // A checked method that passes the CSRF check and then has no handler.
    let (tok, c) = token_via().await;
    let r = send(
        &app,
        browser("DELETE", "/only-get")
            .header(header::COOKIE, format!("{COOKIE}={c}"))
            .header("x-csrf-token", tok)
            .body(Body::empty())
            .unwrap(),
    )
    .await;
    assert_eq!(r.status, StatusCode::METHOD_NOT_ALLOWED);
    assert_security_headers(&r);
}

/// A token and cookie from an app that has no `/token` route: a one-off
/// app with the same key mints them (tokens are stateless).
async fn token_via() -> (String, String) {
    let minting = routes(&Hits::default()).layer(builder().build().unwrap().layer());
    token(&minting, COOKIE).await
}

#[tokio::test]
async fn request_timeout_408_from_a_timeout_layer_inside_mitten_has_security_headers() {
    assert_eq!(covered("/slow").await.status, StatusCode::REQUEST_TIMEOUT);
}

#[tokio::test]
async fn body_limit_413_from_mitten_has_security_headers() {
    let v = Victim::with(|b| b.body_limit(16)).await;
    v.refused(
        "mitten 413",
        v.req("POST", "/form")
            .header(header::CONTENT_TYPE, FORM)
            .body(Body::from("a=".to_owned() + &"x".repeat(100)))
            .unwrap(),
        StatusCode::PAYLOAD_TOO_LARGE,
    )
    .await;
}

#[tokio::test]
async fn body_limit_413_from_axum_inside_mitten_has_security_headers() {
    let m = builder().build().unwrap();
    let app = coverage_app(&m);
    let (tok, c) = token_via().await;
    let r = send(
        &app,
        browser("POST", "/bytes")
            .header(header::COOKIE, format!("{COOKIE}={c}"))
            .header("x-csrf-token", tok)
            .header(header::CONTENT_TYPE, "application/octet-stream")
            .body(Body::from(vec![0u8; 100]))
            .unwrap(),
    )
    .await;
    assert_eq!(r.status, StatusCode::PAYLOAD_TOO_LARGE, "{}", r.body);
    assert_security_headers(&r);
}

#[tokio::test]
async fn session_too_large_413_has_security_headers() {
    assert_eq!(
        covered("/too-big").await.status,
        StatusCode::PAYLOAD_TOO_LARGE
    );
}

#[tokio::test]
async fn handler_500_has_security_headers() {
    assert_eq!(
        covered("/error").await.status,
        StatusCode::INTERNAL_SERVER_ERROR
    );
}

#[tokio::test]
async fn session_type_error_500_has_security_headers() {
    assert_eq!(
        covered("/typed").await.status,
        StatusCode::INTERNAL_SERVER_ERROR
    );
}

#[tokio::test]
async fn caught_panic_500_has_security_headers() {
    assert_eq!(
        covered("/panic").await.status,
        StatusCode::INTERNAL_SERVER_ERROR
    );
}

#[tokio::test]
async fn redirects_have_security_headers() {
    for (uri, status) in [
        ("/see-other", StatusCode::SEE_OTHER),
        ("/temporary", StatusCode::TEMPORARY_REDIRECT),
        ("/permanent", StatusCode::PERMANENT_REDIRECT),
    ] {
        let r = covered(uri).await;
        assert_eq!(r.status, status, "{uri}");
        assert_eq!(r.header("location"), Some("/elsewhere"));
    }
}

#[tokio::test]
async fn streaming_body_has_security_headers_and_arrives_whole() {
    let r = covered("/stream").await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.body, "one two three");
}

#[tokio::test]
async fn empty_204_and_head_responses_have_security_headers() {
    assert_eq!(covered("/empty").await.status, StatusCode::NO_CONTENT);
    let m = builder().build().unwrap();
    let r = send(
        &coverage_app(&m),
        req("HEAD", "/only-get").body(Body::empty()).unwrap(),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK);
    assert!(r.body.is_empty());
    assert_security_headers(&r);
}

#[tokio::test]
async fn store_down_503_has_security_headers() {
    let m = builder().store(FailingStore).build().unwrap();
    let app = victim_routes(&Hits::default()).layer(m.layer());
    let r = send(&app, get_req("/put/x")).await;
    assert_eq!(r.status, StatusCode::SERVICE_UNAVAILABLE);
    assert_security_headers(&r);
}

#[tokio::test]
async fn session_ended_409_has_security_headers() {
    // A request that writes after a concurrent logout ended the session.
    let m = builder().build().unwrap();
    let loaded = Arc::new(Notify::new());
    let release = Arc::new(Notify::new());
    let (l, rel) = (loaded.clone(), release.clone());
    let app = victim_routes(&Hits::default())
        .route(
            "/late",
            get(move |s: Session| {
                let (l, rel) = (l.clone(), rel.clone());
                async move {
                    let _ = s.get::<String>("value").await?;
                    l.notify_one();
                    rel.notified().await;
                    s.insert("value", "late").await?;
                    Ok::<_, SessionError>("late")
                }
            }),
        )
        .layer(m.layer());
    let c = send(&app, get_req("/put/v")).await.cookie(COOKIE).unwrap();
    let late = {
        let (app, c) = (app.clone(), c.clone());
        tokio::spawn(async move {
            send(
                &app,
                req("GET", "/late")
                    .header(header::COOKIE, format!("{COOKIE}={c}"))
                    .body(Body::empty())
                    .unwrap(),
            )
            .await
        })
    };
    loaded.notified().await;
    let tok = token_for(&app, COOKIE, &c).await;
    let r = send(
        &app,
        browser("POST", "/logout/")
            .header(header::COOKIE, format!("{COOKIE}={c}"))
            .header("x-csrf-token", tok)
            .body(Body::empty())
            .unwrap(),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK);
    release.notify_one();
    let r = late.await.unwrap();
    assert_eq!(r.status, StatusCode::CONFLICT, "{}", r.body);
    assert_security_headers(&r);
}

#[tokio::test]
async fn every_mitten_rejection_has_security_headers() {
    let v = Victim::with(|b| {
        b.body_limit(256)
            .json_only("/value")
            .allowed_host("localhost")
    })
    .await;
    let t = v.token.as_str();
    let mut cases: Vec<(&str, StatusCode, axum::http::Request<Body>)> = vec![
        (
            "cross-site request",
            StatusCode::FORBIDDEN,
            v.with_token("POST", "/notes/")
                .header("sec-fetch-site", "cross-site")
                .body(Body::empty())
                .unwrap(),
        ),
        (
            "invalid Sec-Fetch-Site",
            StatusCode::FORBIDDEN,
            v.with_token("POST", "/notes/")
                .header("sec-fetch-site", "bogus")
                .body(Body::empty())
                .unwrap(),
        ),
        (
            "null origin",
            StatusCode::FORBIDDEN,
            req("POST", "/notes/")
                .header(header::ORIGIN, "null")
                .header(header::COOKIE, v.cookie_header())
                .header("x-csrf-token", t)
                .body(Body::empty())
                .unwrap(),
        ),
        (
            "origin not allowed",
            StatusCode::FORBIDDEN,
            req("POST", "/notes/")
                .header(header::ORIGIN, "http://evil.test")
                .header(header::COOKIE, v.cookie_header())
                .header("x-csrf-token", t)
                .body(Body::empty())
                .unwrap(),
        ),
        (
            "referer not allowed",
            StatusCode::FORBIDDEN,
            req("POST", "/notes/")
                .header(header::REFERER, "http://evil.test/")
                .header(header::COOKIE, v.cookie_header())
                .header("x-csrf-token", t)
                .body(Body::empty())
                .unwrap(),
        ),
        (
            "CSRF token missing",
            StatusCode::FORBIDDEN,
            v.req("POST", "/notes/").body(Body::empty()).unwrap(),
        ),
        (
            "CSRF token invalid",
            StatusCode::FORBIDDEN,
            v.req("POST", "/notes/")
                .header("x-csrf-token", "junk")
                .body(Body::empty())
                .unwrap(),
        ),
        (
            "several CSRF tokens in one form",
            StatusCode::FORBIDDEN,
            v.req("POST", "/form")
                .header(header::CONTENT_TYPE, FORM)
                .body(Body::from(format!("_csrf_token={t}&_csrf_token={t}")))
                .unwrap(),
        ),
        (
            "request body too large",
            StatusCode::PAYLOAD_TOO_LARGE,
            v.req("POST", "/form")
                .header(header::CONTENT_TYPE, FORM)
                .body(Body::from("x".repeat(300)))
                .unwrap(),
        ),
        (
            "malformed form body",
            StatusCode::BAD_REQUEST,
            v.req("POST", "/upload")
                .header(header::CONTENT_TYPE, "multipart/form-data")
                .body(Body::empty())
                .unwrap(),
        ),
        (
            "JSON endpoint only answers script fetches",
            StatusCode::FORBIDDEN,
            req("GET", "/value").body(Body::empty()).unwrap(),
        ),
    ];
    cases.push((
        "host not allowed",
        StatusCode::BAD_REQUEST,
        axum::http::Request::builder()
            .uri("/plain")
            .header(header::HOST, "evil.test")
            .body(Body::empty())
            .unwrap(),
    ));
    assert_eq!(cases.len(), 12, "one case per Rejection variant");
    for (reason, status, r) in cases {
        let res = v.refused(reason, r, status).await;
        assert!(res.body.contains(reason), "{reason}: {}", res.body);
        if reason != "host not allowed" {
            // The answer depended on request headers: caches must know.
            assert!(res.vary().len() >= 2, "{reason}: {:?}", res.vary());
        }
    }
}

#[tokio::test]
async fn custom_rejection_response_still_gets_security_headers() {
    let v = Victim::with(|b| {
        b.banner("Mitten").on_reject(|r: &Rejection| {
            (
                StatusCode::IM_A_TEAPOT,
                [("x-frame-options", "ALLOWALL"), ("server", "custom")],
                format!("custom: {} ({})", r.reason(), r.protection()),
            )
                .into_response()
        })
    })
    .await;
    let r = v
        .refused(
            "custom",
            v.req("POST", "/notes/").body(Body::empty()).unwrap(),
            StatusCode::IM_A_TEAPOT,
        )
        .await;
    assert_eq!(r.body, "custom: CSRF token missing (csrf-token)");
    assert_eq!(r.header("server"), Some("Mitten"));
    assert!(r.vary().contains(&"origin".to_owned()));
}

#[tokio::test]
async fn json_route_rejection_is_json_with_nosniff_and_security_headers() {
    let v = Victim::with(|b| b.json_only("/value").json_only("/notes/")).await;
    for (what, r) in [
        (
            "navigation",
            req("GET", "/value").body(Body::empty()).unwrap(),
        ),
        (
            "csrf on a json route",
            v.req("POST", "/notes/")
                .header("x-requested-with", "XMLHttpRequest")
                .body(Body::empty())
                .unwrap(),
        ),
    ] {
        let res = v.forbidden(what, r).await;
        assert_eq!(
            res.header("content-type"),
            Some("application/json; charset=utf-8"),
            "{what}"
        );
        assert_eq!(
            res.header("cross-origin-resource-policy"),
            Some("same-origin")
        );
        let json: serde_json::Value = serde_json::from_str(&res.body).expect("a JSON body");
        assert!(json["reason"].is_string(), "{json}");
    }
}

#[tokio::test]
async fn malformed_requests_hyper_refuses_never_reach_mitten_or_the_handler() {
    // Documented limit: hyper answers these itself, before any service, so
    // neither Mitten's headers nor its logging apply to them; no handler
    // runs and nothing changes.
    let v = Victim::new().await;
    let addr = serve(v.app.clone()).await;
    let before = v.state().await;
    for raw in [
        &b"GARBAGE\r\n\r\n"[..],
        b"POST /notes/ HTTP/1.1\r\nHost: localhost\r\nBad Header: x\r\n\r\n",
        b"POST /notes/ HTTP/9.9\r\nHost: localhost\r\n\r\n",
        b"POST /no tes/ HTTP/1.1\r\nHost: localhost\r\n\r\n",
    ] {
        let r = exchange(addr, raw).await;
        assert!(
            r.statuses.is_empty() || r.statuses.iter().all(|s| (400..600).contains(s)),
            "{:?}: {:?}",
            String::from_utf8_lossy(raw),
            r.statuses
        );
    }
    assert_eq!(v.state().await, before);
    // Whereas a well-formed hostile request gets Mitten's refusal, headers
    // and all, over the wire too.
    let r = exchange(
        addr,
        format!(
            "POST /notes/ HTTP/1.1\r\nHost: localhost\r\nCookie: {}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
            v.cookie_header()
        )
        .as_bytes(),
    )
    .await;
    assert_eq!(r.statuses, [403]);
    let lower = r.text.to_ascii_lowercase();
    for h in [
        "x-frame-options: deny",
        "x-content-type-options: nosniff",
        "content-security-policy: frame-ancestors 'none'",
    ] {
        assert!(lower.contains(h), "{h}: {}", r.text);
    }
    assert_eq!(v.state().await, before);
}
