//! Family 15, the JSON guard: a JSON-only route answers same-origin script
//! fetches only. Navigation, `<script src>` and every other no-cors
//! inclusion, cross-site and same-site fetches, odd spellings and repeated
//! Fetch Metadata are refused before the handler runs; JSONP is never
//! served as script; and every answer of the route, errors included, is
//! `application/json` with `nosniff` and `Cross-Origin-Resource-Policy`.

use axum::body::{Body, Bytes};
use axum::extract::Query;
use axum::http::{Request, StatusCode};
use axum::routing::get;
use axum::Router;
use std::collections::HashMap;
use tower_http::catch_panic::CatchPanicLayer;

use crate::common::*;

const SECRET: &str = r#"{"notes":["secret"]}"#;

/// `/api/notes` (JSON-only) answers the secret with a wrong content type;
/// `/api/jsonp` (JSON-only) does JSONP if asked; `/api/broken/{status}`
/// (JSON-only) fails with HTML; `/api/panic` panics; `/api/stream` streams.
fn json_app(hits: &Hits) -> Router {
    let (h1, h2) = (hits.clone(), hits.clone());
    let m = builder()
        .json_only("/api/notes")
        .json_only("/api/jsonp")
        .json_only("/api/broken/{status}")
        .json_only("/api/panic")
        .json_only("/api/stream")
        .build()
        .unwrap();
    Router::new()
        .route(
            "/api/notes",
            get(move || async move {
                h1.bump();
                ([("content-type", "text/html; charset=utf-7")], SECRET)
            }),
        )
        .route(
            "/api/jsonp",
            get(move |Query(q): Query<HashMap<String, String>>| async move {
                h2.bump();
                match q.get("callback") {
                    Some(cb) => (
                        [("content-type", "application/javascript")],
                        format!("{cb}({SECRET})"),
                    ),
                    None => ([("content-type", "application/json")], SECRET.to_owned()),
                }
            }),
        )
        .route(
            "/api/broken/{status}",
            get(
                |axum::extract::Path(status): axum::extract::Path<u16>| async move {
                    (
                        StatusCode::from_u16(status).unwrap(),
                        [("content-type", "text/html")],
                        "<script>alert(1)</script>",
                    )
                },
            ),
        )
        .route(
            "/api/panic",
            get(|| async {
                if std::hint::black_box(true) {
                    panic!("json handler panicked");
                }
                "unreachable"
            }),
        )
        .route(
            "/api/stream",
            get(|| async {
                let parts = ["{\"a\":", "1}"].map(|p| Ok::<_, std::io::Error>(Bytes::from(p)));
                Body::from_stream(futures_util::stream::iter(parts))
            }),
        )
        .layer(CatchPanicLayer::new())
        .layer(m.layer())
}

fn get_with(uri: &str, headers: &[(&str, &str)]) -> Request<Body> {
    let mut b = req("GET", uri);
    for (k, v) in headers {
        b = b.header(*k, *v);
    }
    b.body(Body::empty()).unwrap()
}

const XHR: (&str, &str) = ("x-requested-with", "XMLHttpRequest");
const FETCH: [(&str, &str); 3] = [
    ("sec-fetch-site", "same-origin"),
    ("sec-fetch-mode", "cors"),
    ("sec-fetch-dest", "empty"),
];

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
    assert_security_headers(r);
}

/// Sends each header set to `/api/notes`: all refused, nothing leaked.
async fn all_refused(sets: &[Vec<(&str, &str)>]) {
    let hits = Hits::default();
    let app = json_app(&hits);
    for headers in sets {
        for method in ["GET", "HEAD"] {
            let mut r = get_with("/api/notes", headers);
            *r.method_mut() = method.parse().unwrap();
            let r = send(&app, r).await;
            assert_eq!(r.status, StatusCode::FORBIDDEN, "{method} {headers:?}");
            assert!(!r.body.contains("secret"), "{headers:?}");
            assert_json_hardened(&r);
        }
    }
    assert_eq!(hits.get(), 0, "the JSON handler ran");
}

#[tokio::test]
async fn direct_navigation_is_refused() {
    all_refused(&[
        // Typed URL or bookmark.
        vec![
            ("sec-fetch-site", "none"),
            ("sec-fetch-mode", "navigate"),
            ("sec-fetch-dest", "document"),
            ("sec-fetch-user", "?1"),
        ],
        // A link on the app's own page, and from another site.
        vec![
            ("sec-fetch-site", "same-origin"),
            ("sec-fetch-mode", "navigate"),
            ("sec-fetch-dest", "document"),
        ],
        vec![
            ("sec-fetch-site", "cross-site"),
            ("sec-fetch-mode", "navigate"),
            ("sec-fetch-dest", "document"),
        ],
        // A bare client with no browser headers at all, and an old browser.
        vec![],
        vec![("accept", "text/html")],
    ])
    .await;
}

#[tokio::test]
async fn script_src_inclusion_is_refused() {
    let mut sets = Vec::new();
    for site in ["cross-site", "same-site", "same-origin"] {
        sets.push(vec![
            ("sec-fetch-site", site),
            ("sec-fetch-mode", "no-cors"),
            ("sec-fetch-dest", "script"),
        ]);
        // An X-Requested-With cannot make a <script src> legitimate.
        sets.push(vec![
            ("sec-fetch-site", site),
            ("sec-fetch-mode", "no-cors"),
            ("sec-fetch-dest", "script"),
            XHR,
        ]);
    }
    all_refused(&sets).await;
}

#[tokio::test]
async fn style_image_frame_worker_and_other_no_cors_inclusions_are_refused() {
    let mut sets = Vec::new();
    for dest in [
        "style",
        "image",
        "object",
        "embed",
        "iframe",
        "frame",
        "worker",
        "sharedworker",
        "serviceworker",
        "audio",
        "video",
        "track",
        "font",
        "manifest",
        "report",
        "xslt",
        "json",
        "webidentity",
        "unknown-future-dest",
    ] {
        sets.push(vec![
            ("sec-fetch-site", "cross-site"),
            ("sec-fetch-mode", "no-cors"),
            ("sec-fetch-dest", dest),
            XHR,
        ]);
    }
    all_refused(&sets).await;
}

#[tokio::test]
async fn no_cors_fetch_with_an_empty_destination_is_refused() {
    // `fetch(url, {mode: "no-cors"})` from another page.
    all_refused(&[
        vec![
            ("sec-fetch-site", "cross-site"),
            ("sec-fetch-mode", "no-cors"),
            ("sec-fetch-dest", "empty"),
        ],
        vec![
            ("sec-fetch-site", "same-origin"),
            ("sec-fetch-mode", "no-cors"),
            ("sec-fetch-dest", "empty"),
            XHR,
        ],
    ])
    .await;
}

#[tokio::test]
async fn cross_site_and_same_site_cors_fetches_are_refused() {
    let mut sets = Vec::new();
    for site in ["cross-site", "same-site", "none"] {
        sets.push(vec![
            ("sec-fetch-site", site),
            ("sec-fetch-mode", "cors"),
            ("sec-fetch-dest", "empty"),
        ]);
        sets.push(vec![("sec-fetch-site", site), XHR]);
    }
    all_refused(&sets).await;
}

#[tokio::test]
async fn x_requested_with_does_not_excuse_a_navigation() {
    all_refused(&[
        vec![("sec-fetch-mode", "navigate"), XHR],
        vec![("sec-fetch-dest", "document"), XHR],
        vec![("sec-fetch-mode", "websocket"), XHR],
    ])
    .await;
}

#[tokio::test]
async fn fetch_metadata_in_odd_spellings_is_refused() {
    all_refused(&[
        vec![
            ("sec-fetch-site", "Same-Origin"),
            ("sec-fetch-mode", "cors"),
            ("sec-fetch-dest", "empty"),
        ],
        vec![
            ("sec-fetch-site", "same-origin"),
            ("sec-fetch-mode", "CORS"),
            ("sec-fetch-dest", "empty"),
        ],
        vec![
            ("sec-fetch-site", "same-origin"),
            ("sec-fetch-mode", "cors"),
            ("sec-fetch-dest", "Empty"),
        ],
        vec![
            ("sec-fetch-site", "same-origin"),
            ("sec-fetch-mode", "cors "),
            ("sec-fetch-dest", "empty"),
        ],
        vec![("x-requested-with", "XMLHttpRequest2")],
        vec![("x-requested-with", "")],
        vec![("x-requested-with", "fetch")],
    ])
    .await;
}

#[tokio::test]
async fn repeated_fetch_metadata_headers_are_refused() {
    let hits = Hits::default();
    let app = json_app(&hits);
    for (name, a, b) in [
        ("sec-fetch-dest", "empty", "script"),
        ("sec-fetch-site", "same-origin", "cross-site"),
        ("sec-fetch-mode", "cors", "no-cors"),
        ("x-requested-with", "XMLHttpRequest", "XMLHttpRequest"),
    ] {
        let mut r = get_with("/api/notes", &FETCH);
        r.headers_mut().remove(name);
        r.headers_mut().append(name, a.parse().unwrap());
        r.headers_mut().append(name, b.parse().unwrap());
        let r = send(&app, r).await;
        assert_eq!(r.status, StatusCode::FORBIDDEN, "{name}: {a} + {b}");
        assert_json_hardened(&r);
    }
    assert_eq!(hits.get(), 0);
}

#[tokio::test]
async fn jsonp_callback_parameter_is_never_served_as_script() {
    let hits = Hits::default();
    let app = json_app(&hits);
    // The <script src="/api/jsonp?callback=steal"> itself is refused...
    let r = send(
        &app,
        get_with(
            "/api/jsonp?callback=steal",
            &[
                ("sec-fetch-site", "cross-site"),
                ("sec-fetch-mode", "no-cors"),
                ("sec-fetch-dest", "script"),
            ],
        ),
    )
    .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    assert_eq!(hits.get(), 0);
    // ...and even a same-origin fetch gets JSON, not script: the browser
    // will not execute it.
    let r = send(&app, get_with("/api/jsonp?callback=steal", &FETCH)).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_json_hardened(&r);
    assert!(!r
        .all("content-type")
        .iter()
        .any(|c| c.contains("javascript")));
}

#[tokio::test]
async fn wrong_or_sniffable_content_type_of_a_json_answer_is_replaced() {
    let hits = Hits::default();
    let r = send(&json_app(&hits), get_with("/api/notes", &[XHR])).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.body, SECRET);
    assert_json_hardened(&r);
    assert_eq!(r.all("content-type").len(), 1);
}

#[tokio::test]
async fn error_responses_of_json_routes_are_json_with_nosniff() {
    let hits = Hits::default();
    let app = json_app(&hits);
    for status in [400, 401, 404, 409, 500, 503] {
        let r = send(&app, get_with(&format!("/api/broken/{status}"), &FETCH)).await;
        assert_eq!(r.status.as_u16(), status);
        assert_json_hardened(&r);
    }
    let r = send(&app, get_with("/api/panic", &FETCH)).await;
    assert_eq!(r.status, StatusCode::INTERNAL_SERVER_ERROR);
    assert_json_hardened(&r);
    // 405 on a JSON-only route (with a valid token: past the CSRF check).
    let minting = routes(&Hits::default()).layer(builder().build().unwrap().layer());
    let (tok, c) = token(&minting, COOKIE).await;
    let r = send(
        &app,
        browser("DELETE", "/api/notes")
            .header(axum::http::header::COOKIE, format!("{COOKIE}={c}"))
            .header("x-csrf-token", tok)
            .header(XHR.0, XHR.1)
            .body(Body::empty())
            .unwrap(),
    )
    .await;
    assert_eq!(r.status, StatusCode::METHOD_NOT_ALLOWED);
    assert_json_hardened(&r);
    assert_eq!(hits.get(), 0);
}

#[tokio::test]
async fn streaming_json_answer_is_hardened_too() {
    let r = send(&json_app(&Hits::default()), get_with("/api/stream", &FETCH)).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.body, r#"{"a":1}"#);
    assert_json_hardened(&r);
}
