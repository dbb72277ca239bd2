//! CSRF: which requests are checked, the origin layer, the token layer, the
//! body limit, exemptions and refusals. Every refusal also proves the
//! handler did not run.

mod common;

use std::sync::Arc;

use axum::body::{Body, Bytes};
use axum::extract::Multipart;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::IntoResponse;
use axum::routing::{any, post};
use axum::{Form, Router};
use common::*;
use mitten::{MemoryStore, Mitten, Rejection};

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
async fn unsafe_methods_without_token_are_refused_before_the_handler_runs() {
    let f = fixture().await;
    for method in [
        "POST", "PUT", "PATCH", "DELETE", "post", "delete", "FOO", "PROPFIND", "get",
    ] {
        let r = f
            .send(f.req(method, "/submit").body(Body::empty()).unwrap())
            .await;
        assert_eq!(r.status, StatusCode::FORBIDDEN, "{method}: {}", r.body);
    }
    assert_eq!(f.hits.get(), 0, "a handler ran for an unchecked request");
}

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

#[tokio::test]
async fn post_with_method_override_get_header_still_needs_token() {
    let f = fixture().await;
    for h in [
        "x-http-method-override",
        "x-http-method",
        "x-method-override",
    ] {
        let r = f
            .send(
                f.req("POST", "/submit")
                    .header(h, "GET")
                    .body(Body::empty())
                    .unwrap(),
            )
            .await;
        assert_eq!(r.status, StatusCode::FORBIDDEN, "{h}");
    }
    // The same with a form `_method=GET` field.
    let r = f
        .send(
            f.req("POST", "/submit")
                .header(header::CONTENT_TYPE, FORM)
                .body(urlencoded("_method=GET"))
                .unwrap(),
        )
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    assert_eq!(f.hits.get(), 0);
}

#[tokio::test]
async fn get_with_method_override_query_param_is_checked() {
    let f = fixture().await;
    for uri in [
        "/submit?_method=POST",
        "/submit?a=1&_METHOD=delete",
        "/submit?_method",
    ] {
        let r = f.send(f.req("GET", uri).body(Body::empty()).unwrap()).await;
        assert_eq!(r.status, StatusCode::FORBIDDEN, "{uri}");
    }
    assert_eq!(f.hits.get(), 0);
    // With a token it is an ordinary checked request.
    let r = f
        .send(
            f.req("GET", "/submit?_method=POST")
                .header("x-csrf-token", f.token.as_str())
                .body(Body::empty())
                .unwrap(),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK);
}

#[tokio::test]
async fn get_with_method_override_header_is_checked() {
    let f = fixture().await;
    for h in [
        "x-http-method-override",
        "x-http-method",
        "x-method-override",
    ] {
        let r = f
            .send(
                f.req("GET", "/submit")
                    .header(h, "POST")
                    .body(Body::empty())
                    .unwrap(),
            )
            .await;
        assert_eq!(r.status, StatusCode::FORBIDDEN, "{h}");
    }
    assert_eq!(f.hits.get(), 0);
}

// ---- origin layer ---------------------------------------------------------

#[tokio::test]
async fn cross_site_fetch_metadata_is_refused_even_with_valid_token() {
    let f = fixture().await;
    for site in ["cross-site", "same-site", "bogus"] {
        let r = f
            .send(
                f.submit()
                    .header("sec-fetch-site", site)
                    .body(Body::empty())
                    .unwrap(),
            )
            .await;
        assert_eq!(r.status, StatusCode::FORBIDDEN, "{site}");
    }
    assert_eq!(f.hits.get(), 0);
    for site in ["same-origin", "none"] {
        let r = f
            .send(
                f.submit()
                    .header("sec-fetch-site", site)
                    .body(Body::empty())
                    .unwrap(),
            )
            .await;
        assert_eq!(r.status, StatusCode::OK, "{site}");
    }
}

#[tokio::test]
async fn null_origin_is_refused_even_with_valid_token() {
    let f = fixture().await;
    let r = f
        .send(
            req("POST", "/submit")
                .header(header::COOKIE, format!("{COOKIE}={}", f.cookie))
                .header("x-csrf-token", f.token.as_str())
                .header(header::ORIGIN, "null")
                .body(Body::empty())
                .unwrap(),
        )
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    assert!(r.body.contains("null origin"), "{}", r.body);
    assert_eq!(f.hits.get(), 0);
}

/// POST /submit with a valid token from `origin` (and `Host: host`).
async fn post_from(f: &Fixture, host: &str, origin: &str) -> Resp {
    f.send(
        axum::http::Request::builder()
            .method("POST")
            .uri("/submit")
            .header(header::HOST, host)
            .header(header::ORIGIN, origin)
            .header(header::COOKIE, format!("{COOKIE}={}", f.cookie))
            .header("x-csrf-token", f.token.as_str())
            .body(Body::empty())
            .unwrap(),
    )
    .await
}

#[tokio::test]
async fn origin_sharing_prefix_or_suffix_with_app_is_refused() {
    let f = fixture().await;
    for evil in [
        "http://localhost.evil.test",
        "http://localhostevil.test",
        "http://evil-localhost",
        "http://evil.localhost",
        "http://localhost:8080",
        "http://localhost/",
        "http://localhost@evil.test",
        "http://evil.test",
    ] {
        let r = post_from(&f, HOST, evil).await;
        assert_eq!(r.status, StatusCode::FORBIDDEN, "{evil}");
    }
    assert_eq!(f.hits.get(), 0);
    let r = post_from(&f, HOST, ORIGIN).await;
    assert_eq!(r.status, StatusCode::OK);
}

#[tokio::test]
async fn configured_origin_refuses_http_downgrade_other_ports_and_lookalikes() {
    // An https origin declares HTTPS, which needs Secure cookies.
    let f = fixture_with(
        builder()
            .secure_cookies(true)
            .cookie_name(COOKIE)
            .origin("https://app.example")
            .build()
            .unwrap(),
    )
    .await;
    for evil in [
        "http://app.example",
        "https://app.example:8443",
        "https://app.example.evil.test",
        "https://evilapp.example",
        "https://sub.app.example",
        "http://localhost",
    ] {
        let r = post_from(&f, "app.example", evil).await;
        assert_eq!(r.status, StatusCode::FORBIDDEN, "{evil}");
    }
    assert_eq!(f.hits.get(), 0);
    for good in ["https://app.example", "https://APP.example:443"] {
        let r = post_from(&f, "app.example", good).await;
        assert_eq!(r.status, StatusCode::OK, "{good}");
    }
}

#[tokio::test]
async fn trusted_origin_is_accepted_with_a_valid_token() {
    let f = fixture_with(
        builder()
            .secure_cookies(true)
            .cookie_name(COOKIE)
            .origin("https://app.example")
            .trusted_origin("https://admin.example")
            .trusted_origin("https://*.example.com")
            .build()
            .unwrap(),
    )
    .await;
    for good in ["https://admin.example", "https://a.example.com"] {
        let r = post_from(&f, "app.example", good).await;
        assert_eq!(r.status, StatusCode::OK, "{good}");
    }
    for evil in [
        "http://admin.example",
        "https://example.com",
        "http://a.example.com",
        "https://a.example.com.evil.test",
        "https://evilexample.com",
    ] {
        let r = post_from(&f, "app.example", evil).await;
        assert_eq!(r.status, StatusCode::FORBIDDEN, "{evil}");
    }
    assert_eq!(f.hits.get(), 2);
    // A trusted origin still needs the token.
    let r = f
        .send(
            req("POST", "/submit")
                .header(header::ORIGIN, "https://admin.example")
                .header(header::COOKIE, format!("{COOKIE}={}", f.cookie))
                .body(Body::empty())
                .unwrap(),
        )
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    assert_eq!(f.hits.get(), 2);
}

#[tokio::test]
async fn foreign_referer_without_origin_is_refused() {
    let f = fixture().await;
    let with_referer = |referer: &'static str| {
        req("POST", "/submit")
            .header(header::REFERER, referer)
            .header(header::COOKIE, format!("{COOKIE}={}", f.cookie))
            .header("x-csrf-token", f.token.as_str())
            .body(Body::empty())
            .unwrap()
    };
    for evil in [
        "http://evil.test/page",
        "http://localhost.evil.test/",
        "http://localhost@evil.test/",
    ] {
        let r = f.send(with_referer(evil)).await;
        assert_eq!(r.status, StatusCode::FORBIDDEN, "{evil}");
    }
    assert_eq!(f.hits.get(), 0);
    let r = f.send(with_referer("http://localhost/form?x=1")).await;
    assert_eq!(r.status, StatusCode::OK);
}

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

#[tokio::test]
async fn token_only_in_query_string_is_refused() {
    let f = fixture().await;
    let r = f
        .send(
            f.req("POST", &format!("/submit?_csrf_token={}", f.token))
                .body(Body::empty())
                .unwrap(),
        )
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    let r = f
        .send(
            f.req("POST", &format!("/form?_csrf_token={}", f.token))
                .header(header::CONTENT_TYPE, FORM)
                .body(urlencoded("name=alice"))
                .unwrap(),
        )
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    assert_eq!(f.hits.get(), 0);
}

#[tokio::test]
async fn token_only_in_a_file_part_is_refused() {
    let f = fixture().await;
    let (ct, body) = multipart(&[
        ("title", None, "hello"),
        ("_csrf_token", Some("token.txt"), &f.token),
    ]);
    let r = f
        .send(
            f.req("POST", "/upload")
                .header(header::CONTENT_TYPE, ct)
                .body(body)
                .unwrap(),
        )
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    assert_eq!(f.hits.get(), 0);
}

#[tokio::test]
async fn duplicate_form_token_fields_are_refused() {
    let f = fixture().await;
    let other = token_for(&f.app, COOKIE, &f.cookie).await;
    for body in [
        format!("_csrf_token={}&_csrf_token={}", f.token, f.token),
        format!("_csrf_token={}&a=1&_csrf_token={}", f.token, other),
    ] {
        let r = f
            .send(
                f.req("POST", "/form")
                    .header(header::CONTENT_TYPE, FORM)
                    .body(urlencoded(body))
                    .unwrap(),
            )
            .await;
        assert_eq!(r.status, StatusCode::FORBIDDEN);
    }
    let (ct, body) = multipart(&[
        ("_csrf_token", None, &f.token),
        ("_csrf_token", None, &other),
    ]);
    let r = f
        .send(
            f.req("POST", "/upload")
                .header(header::CONTENT_TYPE, ct)
                .body(body)
                .unwrap(),
        )
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    // Two header values are ambiguous too.
    let r = f
        .send(
            f.submit()
                .header("x-csrf-token", other.as_str())
                .body(Body::empty())
                .unwrap(),
        )
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    assert_eq!(f.hits.get(), 0);
}

#[tokio::test]
async fn header_and_form_token_where_one_is_invalid_are_refused() {
    let f = fixture().await;
    let bad = "A".repeat(86);
    for (h, form) in [
        (f.token.as_str(), bad.as_str()),
        (bad.as_str(), f.token.as_str()),
    ] {
        let r = f
            .send(
                f.req("POST", "/form")
                    .header("x-csrf-token", h)
                    .header(header::CONTENT_TYPE, FORM)
                    .body(urlencoded(format!("_csrf_token={form}")))
                    .unwrap(),
            )
            .await;
        assert_eq!(r.status, StatusCode::FORBIDDEN);
    }
    assert_eq!(f.hits.get(), 0);
}

#[tokio::test]
async fn token_inside_json_body_without_header_is_refused() {
    let f = fixture().await;
    let r = f
        .send(
            f.req("POST", "/submit")
                .header(header::CONTENT_TYPE, "application/json")
                .body(Body::from(format!(
                    r#"{{"_csrf_token":"{}","x-csrf-token":"{}"}}"#,
                    f.token, f.token
                )))
                .unwrap(),
        )
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    assert_eq!(f.hits.get(), 0);
}

#[tokio::test]
async fn degenerate_tokens_are_refused_with_403_never_500() {
    let f = fixture().await;
    let t = &f.token;
    let mut bang = t.clone();
    bang.replace_range(10..11, "!");
    let mut std_b64 = t.clone();
    std_b64.replace_range(10..12, "+/");
    let huge = "A".repeat(1 << 20);
    let candidates: Vec<String> = vec![
        String::new(),
        " ".into(),
        "     ".into(),
        t[..t.len() - 1].to_owned(),
        format!("{t}A"),
        format!("{t}=="),
        format!(" {t}"),
        bang,
        std_b64,
        "A".repeat(86),
        "not base64 at all".into(),
        huge.clone(),
    ];
    for c in &candidates {
        let r = f
            .send(
                f.req("POST", "/submit")
                    .header("x-csrf-token", c.as_str())
                    .body(Body::empty())
                    .unwrap(),
            )
            .await;
        assert_eq!(
            r.status,
            StatusCode::FORBIDDEN,
            "header {:?}",
            &c[..c.len().min(40)]
        );
        let r = f
            .send(
                f.req("POST", "/form")
                    .header(header::CONTENT_TYPE, FORM)
                    .body(urlencoded(format!("_csrf_token={c}")))
                    .unwrap(),
            )
            .await;
        assert_eq!(
            r.status,
            StatusCode::FORBIDDEN,
            "form {:?}",
            &c[..c.len().min(40)]
        );
    }
    // Non-UTF-8 bytes of the right length.
    let r = f
        .send(
            f.req("POST", "/submit")
                .header(
                    "x-csrf-token",
                    HeaderValue::from_bytes(&[0xff; 86]).unwrap(),
                )
                .body(Body::empty())
                .unwrap(),
        )
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    assert_eq!(f.hits.get(), 0);
}

#[tokio::test]
async fn token_of_session_a_with_cookie_of_session_b_is_refused() {
    let f = fixture().await;
    let (_token_b, cookie_b) = token(&f.app, COOKIE).await;
    assert_ne!(cookie_b, f.cookie);
    let r = f
        .send(
            browser("POST", "/submit")
                .header(header::COOKIE, format!("{COOKIE}={cookie_b}"))
                .header("x-csrf-token", f.token.as_str())
                .body(Body::empty())
                .unwrap(),
        )
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    assert_eq!(f.hits.get(), 0);
}

#[tokio::test]
async fn token_minted_before_regenerate_is_dead_after() {
    let f = fixture().await;
    let r = f
        .send(
            f.req("POST", "/login")
                .header("x-csrf-token", f.token.as_str())
                .body(Body::empty())
                .unwrap(),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let new_cookie = r.cookie(COOKIE).expect("login sets a new id");
    assert_ne!(new_cookie, f.cookie);
    let old_token_new_cookie = browser("POST", "/submit")
        .header(header::COOKIE, format!("{COOKIE}={new_cookie}"))
        .header("x-csrf-token", f.token.as_str())
        .body(Body::empty())
        .unwrap();
    let r = f.send(old_token_new_cookie).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    assert_eq!(f.hits.get(), 0);
    let fresh = token_for(&f.app, COOKIE, &new_cookie).await;
    let r = f
        .send(
            browser("POST", "/submit")
                .header(header::COOKIE, format!("{COOKIE}={new_cookie}"))
                .header("x-csrf-token", fresh)
                .body(Body::empty())
                .unwrap(),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK);
}

#[tokio::test]
async fn login_csrf_first_post_without_any_session_cookie_is_refused() {
    let store = Arc::new(MemoryStore::new());
    let f = fixture_with(builder_with(&store).build().unwrap()).await;
    // No cookie, no token.
    let r = f
        .send(browser("POST", "/login").body(Body::empty()).unwrap())
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    // No cookie, but the attacker's own valid token.
    let r = f
        .send(
            browser("POST", "/login")
                .header("x-csrf-token", f.token.as_str())
                .body(Body::empty())
                .unwrap(),
        )
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    let r = f
        .send(
            browser("POST", "/login")
                .header(header::CONTENT_TYPE, FORM)
                .body(urlencoded(format!("_csrf_token={}", f.token)))
                .unwrap(),
        )
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    assert!(r.cookie(COOKIE).is_none());
    assert!(store.is_empty(), "login handler ran");
}

// ---- body limit -----------------------------------------------------------

#[tokio::test]
async fn form_body_over_limit_declared_by_content_length_is_413() {
    let f = fixture_with(builder().body_limit(1024).build().unwrap()).await;
    let body = format!("_csrf_token={}&pad={}", f.token, "x".repeat(2000));
    let r = f
        .send(
            f.req("POST", "/form")
                .header(header::CONTENT_TYPE, FORM)
                .header(header::CONTENT_LENGTH, body.len())
                .body(urlencoded(body))
                .unwrap(),
        )
        .await;
    assert_eq!(r.status, StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(f.hits.get(), 0);
    // At the limit is fine.
    let body = format!("_csrf_token={}&pad=", f.token);
    let body = format!("{body}{}", "x".repeat(1024 - body.len()));
    let r = f
        .send(
            f.req("POST", "/form")
                .header(header::CONTENT_TYPE, FORM)
                .header(header::CONTENT_LENGTH, body.len())
                .body(urlencoded(body))
                .unwrap(),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
}

#[tokio::test]
async fn streamed_form_body_over_limit_without_content_length_is_413() {
    let f = fixture_with(builder().body_limit(4096).build().unwrap()).await;
    let first = format!("_csrf_token={}&pad=", f.token);
    let chunks = std::iter::once(Bytes::from(first))
        .chain(std::iter::repeat_n(Bytes::from(vec![b'x'; 1000]), 10))
        .map(Ok::<_, std::io::Error>);
    for (ct, mk) in [
        (FORM.to_owned(), 0),
        ("multipart/form-data; boundary=B".to_owned(), 1),
    ] {
        let chunks = chunks.clone();
        let body = Body::from_stream(futures_util::stream::iter(chunks));
        let r = f
            .send(
                f.req("POST", if mk == 0 { "/form" } else { "/upload" })
                    .header(header::CONTENT_TYPE, ct)
                    .body(body)
                    .unwrap(),
            )
            .await;
        assert_eq!(r.status, StatusCode::PAYLOAD_TOO_LARGE, "{}", r.body);
    }
    assert_eq!(f.hits.get(), 0);
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

#[tokio::test]
async fn exempt_route_spellings_never_reach_a_protected_handler_unchecked() {
    let m = builder().csrf_exempt("/public/").build().unwrap();
    let exempt_hits = Hits::default();
    let protected_hits = Hits::default();
    let (e, p1, p2, p3) = (
        exempt_hits.clone(),
        protected_hits.clone(),
        protected_hits.clone(),
        protected_hits.clone(),
    );
    let app = Router::new()
        .route(
            "/public/",
            post(move || async move {
                e.bump();
                "public"
            }),
        )
        .route(
            "/public",
            post(move || async move {
                p1.bump();
                "protected"
            }),
        )
        .route(
            "/x",
            post(move || async move {
                p2.bump();
                "protected"
            }),
        )
        .fallback(any(move || async move {
            p3.bump();
            "fallback"
        }))
        .layer(m.layer());
    for uri in [
        "//public/",
        "/public/../x",
        "/PUBLIC/",
        "/public",
        "/%70ublic/",
        "/public/%2e%2e/x",
        "/public/x",
        "/./public/",
    ] {
        let r = send(&app, browser("POST", uri).body(Body::empty()).unwrap()).await;
        assert!(
            r.status == StatusCode::FORBIDDEN || r.body == "public",
            "{uri}: {} {}",
            r.status,
            r.body
        );
    }
    assert_eq!(protected_hits.get(), 0, "a protected handler ran unchecked");
    let _ = exempt_hits;
}

// ---- refusals ------------------------------------------------------------

#[tokio::test]
async fn custom_rejection_is_used_and_still_gets_security_headers() {
    let m = builder()
        .banner("Mitten")
        .on_reject(|r: &Rejection| {
            (
                StatusCode::IM_A_TEAPOT,
                format!("custom: {} ({})", r.reason(), r.protection()),
            )
                .into_response()
        })
        .build()
        .unwrap();
    let f = fixture_with(m).await;
    let r = f
        .send(f.req("POST", "/submit").body(Body::empty()).unwrap())
        .await;
    assert_eq!(r.status, StatusCode::IM_A_TEAPOT);
    assert_eq!(r.body, "custom: CSRF token missing (csrf-token)");
    assert_security_headers(&r);
    assert_eq!(r.header("server"), Some("Mitten"));
    assert!(r.vary().contains(&"origin".to_owned()));
    assert_eq!(f.hits.get(), 0);
}

#[tokio::test]
async fn rejection_bodies_never_contain_the_token_or_cookie() {
    let f = fixture().await;
    let t = f.token.as_str();
    let requests = vec![
        f.submit()
            .header("sec-fetch-site", "cross-site")
            .body(Body::empty())
            .unwrap(),
        f.submit()
            .header(header::ORIGIN, "null")
            .body(Body::empty())
            .unwrap(),
        browser("POST", "/submit")
            .header("x-csrf-token", t)
            .body(Body::empty())
            .unwrap(),
        f.req("POST", "/form")
            .header(header::CONTENT_TYPE, FORM)
            .body(urlencoded(format!("_csrf_token={t}&_csrf_token={t}")))
            .unwrap(),
        f.req("POST", "/form")
            .header("x-csrf-token", format!("{t}x"))
            .header(header::CONTENT_TYPE, FORM)
            .body(urlencoded(format!("_csrf_token={t}")))
            .unwrap(),
    ];
    for rq in requests {
        let r = f.send(rq).await;
        assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.body);
        assert!(!r.body.contains(t), "token echoed: {}", r.body);
        assert!(!r.body.contains(&f.cookie), "cookie echoed: {}", r.body);
        assert!(
            r.all("set-cookie").iter().all(|c| !c.contains(&f.cookie)),
            "{r:?}"
        );
    }
    assert_eq!(f.hits.get(), 0);
}
