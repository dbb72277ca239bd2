//! JSON hijacking: JSON-only routes answer same-origin script fetches only,
//! and their answers are forced to a JSON content type with `nosniff` and
//! `Cross-Origin-Resource-Policy: same-origin`.

mod common;

use axum::body::Body;
use axum::http::StatusCode;
use axum::routing::get;
use axum::{Json, Router};
use common::*;

fn json_app(hits: &Hits) -> Router {
    let h = hits.clone();
    let m = builder().json_only("/api/notes").build().unwrap();
    Router::new()
        .route(
            "/api/notes",
            get(move || {
                let h = h.clone();
                async move {
                    h.bump();
                    // Deliberately the wrong content type: Mitten fixes it.
                    ([("content-type", "text/html")], r#"{"notes":["secret"]}"#)
                }
            }),
        )
        .route(
            "/api/open",
            get(|| async { Json(serde_json::json!({"open": true})) }),
        )
        .layer(m.layer())
}

fn get_with(headers: &[(&str, &str)]) -> axum::http::Request<Body> {
    let mut b = req("GET", "/api/notes");
    for (k, v) in headers {
        b = b.header(*k, *v);
    }
    b.body(Body::empty()).unwrap()
}

fn assert_json_hardened(r: &Resp) {
    assert_eq!(
        r.header("content-type"),
        Some("application/json; charset=utf-8"),
        "{r:?}"
    );
    assert_eq!(r.header("x-content-type-options"), Some("nosniff"));
    assert_eq!(
        r.header("cross-origin-resource-policy"),
        Some("same-origin")
    );
}

#[tokio::test]
async fn xhr_with_x_requested_with_is_answered_as_json() {
    let hits = Hits::default();
    let r = send(
        &json_app(&hits),
        get_with(&[("x-requested-with", "XMLHttpRequest")]),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.body, r#"{"notes":["secret"]}"#);
    assert_json_hardened(&r);
    assert_security_headers(&r);
    assert_eq!(hits.get(), 1);
}

#[tokio::test]
async fn same_origin_fetch_by_fetch_metadata_is_answered() {
    let hits = Hits::default();
    let app = json_app(&hits);
    for mode in ["cors", "same-origin"] {
        let r = send(
            &app,
            get_with(&[
                ("sec-fetch-site", "same-origin"),
                ("sec-fetch-mode", mode),
                ("sec-fetch-dest", "empty"),
            ]),
        )
        .await;
        assert_eq!(r.status, StatusCode::OK, "{mode}");
        assert_json_hardened(&r);
    }
    assert_eq!(hits.get(), 2);
}

#[tokio::test]
async fn json_guard_responses_vary_on_the_headers_it_read() {
    let r = send(
        &json_app(&Hits::default()),
        get_with(&[("x-requested-with", "XMLHttpRequest")]),
    )
    .await;
    let vary = r.vary();
    for h in [
        "x-requested-with",
        "sec-fetch-site",
        "sec-fetch-mode",
        "sec-fetch-dest",
    ] {
        assert!(vary.contains(&h.to_owned()), "{h} missing from {vary:?}");
    }
}

#[tokio::test]
async fn routes_not_marked_json_only_are_not_guarded() {
    let r = send(&json_app(&Hits::default()), get_req("/api/open")).await;
    assert_eq!(r.status, StatusCode::OK);
    assert!(r.header("cross-origin-resource-policy").is_none());
}
