//! CSRF, the accepting side: what a legitimate request looks like and that
//! it reaches the handler intact. Every refusal is in the attack catalogue
//! (`tests/attacks/`), which also proves the handler did not run.

mod common;

use axum::body::Body;
use axum::extract::Multipart;
use axum::http::{header, StatusCode};
use axum::routing::post;
use axum::{Form, Router};
use common::*;
use mitten::Mitten;

/// The standard app, plus form and multipart echo routes.
fn form_app(m: &Mitten, hits: &Hits) -> Router {
    let h1 = hits.clone();
    let h2 = hits.clone();
    routes(hits)
        .route(
            "/form",
            post(move |Form(fields): Form<Vec<(String, String)>>| {
                let h = h1.clone();
                async move {
                    h.bump();
                    fields
                        .iter()
                        .map(|(k, v)| format!("{k}={v}"))
                        .collect::<Vec<_>>()
                        .join("\n")
                }
            }),
        )
        .route(
            "/upload",
            post(move |mut mp: Multipart| {
                let h = h2.clone();
                async move {
                    h.bump();
                    let mut out = Vec::new();
                    while let Some(f) = mp.next_field().await.unwrap() {
                        let name = f.name().unwrap_or("").to_owned();
                        let file = f.file_name().map(str::to_owned);
                        let text = f.text().await.unwrap();
                        match file {
                            Some(file) => out.push(format!("{name}[{file}]={text}")),
                            None => out.push(format!("{name}={text}")),
                        }
                    }
                    out.join("\n")
                }
            }),
        )
        .layer(m.layer())
}

struct Fixture {
    app: Router,
    hits: Hits,
    token: String,
    cookie: String,
}

async fn fixture() -> Fixture {
    fixture_with(builder().build().unwrap()).await
}

async fn fixture_with(m: Mitten) -> Fixture {
    let hits = Hits::default();
    let app = form_app(&m, &hits);
    let (token, cookie) = token(&app, COOKIE).await;
    Fixture {
        app,
        hits,
        token,
        cookie,
    }
}

impl Fixture {
    /// A same-origin browser request carrying the session cookie.
    fn req(&self, method: &str, uri: &str) -> axum::http::request::Builder {
        browser(method, uri).header(header::COOKIE, format!("{COOKIE}={}", self.cookie))
    }

    async fn send(&self, r: axum::http::Request<Body>) -> Resp {
        send(&self.app, r).await
    }

    /// `POST /submit` with the header token.
    fn submit(&self) -> axum::http::request::Builder {
        self.req("POST", "/submit")
            .header("x-csrf-token", self.token.as_str())
    }
}

fn urlencoded(body: impl Into<String>) -> Body {
    Body::from(body.into())
}

const FORM: &str = "application/x-www-form-urlencoded";

fn multipart(parts: &[(&str, Option<&str>, &str)]) -> (String, Body) {
    let boundary = "XyZzYbOuNdArY";
    let mut body = String::new();
    for (name, file, value) in parts {
        body.push_str(&format!("--{boundary}\r\n"));
        match file {
            Some(f) => body.push_str(&format!(
                "Content-Disposition: form-data; name=\"{name}\"; filename=\"{f}\"\r\n\
                 Content-Type: text/plain\r\n\r\n"
            )),
            None => body.push_str(&format!(
                "Content-Disposition: form-data; name=\"{name}\"\r\n\r\n"
            )),
        }
        body.push_str(value);
        body.push_str("\r\n");
    }
    body.push_str(&format!("--{boundary}--\r\n"));
    (
        format!("multipart/form-data; boundary={boundary}"),
        Body::from(body),
    )
}

// ---- which requests are checked -----------------------------------------

#[tokio::test]
async fn unsafe_methods_with_valid_header_token_reach_the_handler() {
    let f = fixture().await;
    for method in ["POST", "PUT", "PATCH", "DELETE", "post", "FOO"] {
        let r = f
            .send(
                f.req(method, "/submit")
                    .header("x-csrf-token", f.token.as_str())
                    .body(Body::empty())
                    .unwrap(),
            )
            .await;
        assert_eq!(r.status, StatusCode::OK, "{method}: {}", r.body);
    }
    assert_eq!(f.hits.get(), 6);
}

#[tokio::test]
async fn safe_methods_pass_without_token() {
    let f = fixture().await;
    for method in ["GET", "HEAD", "OPTIONS"] {
        let r = f
            .send(req(method, "/submit").body(Body::empty()).unwrap())
            .await;
        assert_eq!(r.status, StatusCode::OK, "{method}");
    }
    assert_eq!(f.hits.get(), 3);
}

// ---- origin layer ---------------------------------------------------------

#[tokio::test]
async fn checked_responses_vary_on_origin_and_sec_fetch_site() {
    let f = fixture().await;
    let ok = f.send(f.submit().body(Body::empty()).unwrap()).await;
    let refused = f
        .send(f.req("POST", "/submit").body(Body::empty()).unwrap())
        .await;
    assert_eq!(ok.status, StatusCode::OK);
    assert_eq!(refused.status, StatusCode::FORBIDDEN);
    for r in [&ok, &refused] {
        let vary = r.vary();
        assert!(vary.contains(&"origin".to_owned()), "{vary:?}");
        assert!(vary.contains(&"sec-fetch-site".to_owned()), "{vary:?}");
    }
}

// ---- token layer ----------------------------------------------------------

#[tokio::test]
async fn form_token_is_accepted_and_handler_still_receives_the_full_form() {
    let f = fixture().await;
    let body = format!(
        "name=alice&_csrf_token={}&note=a+b%26c",
        f.token.replace('-', "%2D")
    );
    let r = f
        .send(
            f.req("POST", "/form")
                .header(header::CONTENT_TYPE, FORM)
                .body(urlencoded(body))
                .unwrap(),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(
        r.body,
        format!("name=alice\n_csrf_token={}\nnote=a b&c", f.token)
    );
    assert_eq!(f.hits.get(), 1);
}

#[tokio::test]
async fn multipart_token_in_a_later_part_is_accepted_and_handler_reads_the_multipart() {
    let f = fixture().await;
    let (ct, body) = multipart(&[
        ("title", None, "hello"),
        ("doc", Some("a.txt"), "file contents"),
        ("_csrf_token", None, &f.token),
    ]);
    let r = f
        .send(
            f.req("POST", "/upload")
                .header(header::CONTENT_TYPE, ct)
                .body(body)
                .unwrap(),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(
        r.body,
        format!(
            "title=hello\ndoc[a.txt]=file contents\n_csrf_token={}",
            f.token
        )
    );
    assert_eq!(f.hits.get(), 1);
}

// ---- exemptions -----------------------------------------------------------

#[tokio::test]
async fn exempt_route_passes_without_token() {
    let m = builder()
        .csrf_exempt("/public/")
        .csrf_exempt("/webhooks/{provider}")
        .build()
        .unwrap();
    let hits = Hits::default();
    let h = hits.clone();
    let app = Router::new()
        .route("/public/", post(|| async { "public" }))
        .route(
            "/webhooks/{provider}",
            post(move || {
                let h = h.clone();
                async move {
                    h.bump();
                    "hook"
                }
            }),
        )
        .layer(m.layer());
    let r = send(&app, req("POST", "/public/").body(Body::empty()).unwrap()).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.body, "public");
    assert_security_headers(&r);
    let r = send(
        &app,
        req("POST", "/webhooks/github").body(Body::empty()).unwrap(),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(hits.get(), 1);
}
