//! Beyond the seed: the header policy (presets, changes, per route, HSTS),
//! CSP nonces, the Host allow-list and forwarded headers, caching of session
//! responses, `Clear-Site-Data`, report-only modes, and configuration
//! checks.

mod common;

use std::sync::{Arc, Mutex};

use axum::body::Body;
use axum::http::{header, StatusCode};
use axum::response::IntoResponse;
use axum::routing::{get, post};
use axum::Router;
use common::*;
use mitten::{CspNonce, HeaderPolicy, Mitten, MittenBuilder, Protection, Session, SessionError};

fn secure() -> MittenBuilder {
    // Secure cookies under a plain name, so HTTPS can be declared while the
    // helpers keep using the `mitten` cookie.
    builder().secure_cookies(true).cookie_name(COOKIE)
}

/// The standard routes plus a nonce echo and a cache-control probe.
fn policy_app(m: &Mitten, hits: &Hits) -> Router {
    routes(hits)
        .route(
            "/nonce",
            get(|n: CspNonce| async move { n.value().to_owned() }),
        )
        .route(
            "/nonce-twice",
            get(|a: CspNonce, b: CspNonce| async move { format!("{a} {b}") }),
        )
        .route(
            "/public-cache",
            get(|s: Session| async move {
                let v = s.get::<String>("value").await?;
                Ok::<_, SessionError>(
                    (
                        [(header::CACHE_CONTROL, "public, max-age=60, s-maxage=600")],
                        v.unwrap_or_default(),
                    )
                        .into_response(),
                )
            }),
        )
        .route(
            "/own-headers",
            get(|| async {
                (
                    [
                        ("referrer-policy", "no-referrer"),
                        ("cross-origin-opener-policy", "unsafe-none"),
                        ("x-content-type-options", "sniff-please"),
                        ("x-xss-protection", "1; mode=block"),
                    ],
                    "own",
                )
            }),
        )
        .route("/other", get(|| async { "other" }))
        .layer(m.layer())
}

// ---- header policy -------------------------------------------------------

#[tokio::test]
async fn default_policy_adds_coop_cross_domain_policies_and_origin_agent_cluster() {
    let m = builder().build().unwrap();
    let r = send(&policy_app(&m, &Hits::default()), get_req("/plain")).await;
    assert_security_headers(&r);
    assert_eq!(r.header("cross-origin-opener-policy"), Some("same-origin"));
    assert_eq!(r.header("x-permitted-cross-domain-policies"), Some("none"));
    assert_eq!(r.header("origin-agent-cluster"), Some("?1"));
    assert_eq!(
        r.header("content-security-policy"),
        Some("frame-ancestors 'none'")
    );
    // Nothing that could break a plain app.
    for absent in [
        "strict-transport-security",
        "cross-origin-embedder-policy",
        "cross-origin-resource-policy",
        "permissions-policy",
        "cache-control",
    ] {
        assert!(r.header(absent).is_none(), "{absent}");
    }
}

#[tokio::test]
async fn hsts_is_sent_only_when_the_app_declares_https() {
    let plain = builder().build().unwrap();
    let r = send(&policy_app(&plain, &Hits::default()), get_req("/plain")).await;
    assert!(r.header("strict-transport-security").is_none());

    let https = secure().https(true).build().unwrap();
    let r = send(&policy_app(&https, &Hits::default()), get_req("/plain")).await;
    assert_eq!(
        r.header("strict-transport-security"),
        Some("max-age=63072000; includeSubDomains")
    );
    // An https origin declares HTTPS too.
    let by_origin = secure().origin("https://app.example").build().unwrap();
    let r = send(&policy_app(&by_origin, &Hits::default()), get_req("/plain")).await;
    assert!(r.header("strict-transport-security").is_some());
}

#[tokio::test]
async fn hsts_never_goes_on_a_response_a_trusted_proxy_says_was_plain_http() {
    let m = secure()
        .https(true)
        .trust_forwarded_headers(true)
        .build()
        .unwrap();
    let app = policy_app(&m, &Hits::default());
    let r = send(
        &app,
        req("GET", "/plain")
            .header("x-forwarded-proto", "http")
            .body(Body::empty())
            .unwrap(),
    )
    .await;
    assert!(r.header("strict-transport-security").is_none());
    // A request URI that claims https decides nothing.
    let m = builder().build().unwrap();
    let r = send(
        &policy_app(&m, &Hits::default()),
        req("GET", "https://localhost/plain")
            .body(Body::empty())
            .unwrap(),
    )
    .await;
    assert!(r.header("strict-transport-security").is_none());
}

#[tokio::test]
async fn strict_preset_sends_the_owasp_set() {
    let m = secure()
        .https(true)
        .header_policy(HeaderPolicy::strict())
        .build()
        .unwrap();
    let r = send(&policy_app(&m, &Hits::default()), get_req("/plain")).await;
    assert_eq!(
        r.header("content-security-policy"),
        Some(
            "default-src 'self'; form-action 'self'; base-uri 'self'; object-src 'none'; \
             frame-ancestors 'none'"
        )
    );
    assert_eq!(
        r.header("cross-origin-resource-policy"),
        Some("same-origin")
    );
    assert_eq!(
        r.header("cross-origin-embedder-policy"),
        Some("require-corp")
    );
    assert_eq!(r.header("referrer-policy"), Some("no-referrer"));
    assert_eq!(r.header("cache-control"), Some("no-store"));
    assert_eq!(r.header("x-frame-options"), Some("DENY"));
    let pp = r.header("permissions-policy").unwrap();
    for feature in [
        "camera=()",
        "microphone=()",
        "geolocation=()",
        "payment=()",
        "usb=()",
    ] {
        assert!(pp.contains(feature), "{feature}: {pp}");
    }
    assert!(r.header("strict-transport-security").is_some());
}

#[tokio::test]
async fn headers_can_be_changed_and_switched_off_for_the_app() {
    let m = builder()
        .header_policy(
            HeaderPolicy::default()
                .set("Referrer-Policy", "same-origin")
                .off("Cross-Origin-Opener-Policy")
                .off("X-XSS-Protection")
                .set("X-DNS-Prefetch-Control", "off"),
        )
        .build()
        .unwrap();
    let r = send(&policy_app(&m, &Hits::default()), get_req("/plain")).await;
    assert_eq!(r.header("referrer-policy"), Some("same-origin"));
    assert!(r.header("cross-origin-opener-policy").is_none());
    assert!(r.header("x-xss-protection").is_none());
    assert_eq!(r.header("x-dns-prefetch-control"), Some("off"));
}

#[tokio::test]
async fn one_route_can_have_its_own_headers() {
    let m = builder()
        .header_policy(HeaderPolicy::strict())
        .route_header_policy("/other", |p| {
            p.set("Cross-Origin-Resource-Policy", "cross-origin")
                .off("Cross-Origin-Embedder-Policy")
                .content_security_policy("default-src 'self' https://cdn.example")
        })
        .build()
        .unwrap();
    let app = policy_app(&m, &Hits::default());
    let other = send(&app, get_req("/other")).await;
    assert_eq!(
        other.header("cross-origin-resource-policy"),
        Some("cross-origin")
    );
    assert!(other.header("cross-origin-embedder-policy").is_none());
    assert_eq!(
        other.header("content-security-policy"),
        Some("default-src 'self' https://cdn.example; frame-ancestors 'none'")
    );
    // The rest of the app keeps the strict values.
    let plain = send(&app, get_req("/plain")).await;
    assert_eq!(
        plain.header("cross-origin-resource-policy"),
        Some("same-origin")
    );
    assert_eq!(
        plain.header("cross-origin-embedder-policy"),
        Some("require-corp")
    );
    assert_eq!(other.header("referrer-policy"), Some("no-referrer"));
}

#[tokio::test]
async fn handler_values_are_kept_except_the_only_safe_ones() {
    let m = builder().build().unwrap();
    let r = send(&policy_app(&m, &Hits::default()), get_req("/own-headers")).await;
    assert_eq!(r.header("referrer-policy"), Some("no-referrer"));
    assert_eq!(r.header("cross-origin-opener-policy"), Some("unsafe-none"));
    assert_eq!(r.header("x-content-type-options"), Some("nosniff"));
    assert_eq!(r.header("x-xss-protection"), Some("0"));
}

#[tokio::test]
async fn every_bad_configuration_fails_to_build_naming_the_problem() {
    let cases: Vec<(MittenBuilder, &str)> = vec![
        (Mitten::builder(), "secret key is required"),
        (Mitten::builder().secret_key("short"), "at least 32 bytes"),
        (builder().fallback_key("short"), "at least 32 bytes"),
        (
            builder().trusted_origin("https://a.example/path"),
            "trusted origin",
        ),
        (
            builder().trusted_origin("https://a.example/"),
            "trusted origin",
        ),
        (builder().trusted_origin("null"), "`null`"),
        (builder().trusted_origin("https://*.com"), "two labels"),
        (builder().origin("app.example"), "scheme://host"),
        (builder().https(true), "not Secure"),
        (builder().origin("https://app.example"), "not Secure"),
        (
            secure().https(true).origin("http://app.example"),
            "origin is http",
        ),
        (
            builder()
                .header_policy(HeaderPolicy::default().content_security_policy("default-src self")),
            "must be quoted: 'self'",
        ),
        (
            builder().header_policy(
                HeaderPolicy::default().content_security_policy("scripts-src 'self'"),
            ),
            "unknown directive `scripts-src`",
        ),
        (
            builder()
                .header_policy(HeaderPolicy::default().strict_transport_security("max-age=1y")),
            "max-age must be a number",
        ),
        (
            builder()
                .header_policy(HeaderPolicy::default().set("Permissions-Policy", "camera 'none'")),
            "camera=()",
        ),
        (
            builder().header_policy(HeaderPolicy::default().set("X-Frame-Options", "ALLOWALL")),
            ".frame_options",
        ),
        (
            builder().route_header_policy("/x", |p| p.set("Referrer-Policy", "sometimes")),
            "route /x: header referrer-policy",
        ),
        (
            builder().route_header_policy("x", |p| p),
            "must start with `/`",
        ),
        (builder().allowed_host("*"), "wildcards"),
        (builder().allowed_host("https://app.example"), "not a URL"),
        (builder().allowed_host(".com"), "public suffix"),
        (
            builder().report_only(Protection::Csp),
            "needs a content_security_policy",
        ),
        (builder().banner("two\nlines"), "banner"),
        (
            Mitten::builder()
                .secret_key(KEY)
                .cookie_name("__host-sid")
                .secure_cookies(false),
            "__Host-",
        ),
        (builder().cookie_name("bad name"), "invalid cookie name"),
    ];
    for (b, needle) in cases {
        let e = b.build().expect_err(needle).to_string();
        assert!(e.contains(needle), "expected {needle:?} in {e:?}");
    }
}

// ---- CSP nonces ----------------------------------------------------------

fn nonce_in(csp: &str, directive: &str) -> Option<String> {
    let d = csp
        .split(';')
        .map(str::trim)
        .find(|d| d.starts_with(&format!("{directive} ")))?;
    d.split_ascii_whitespace()
        .find_map(|s| s.strip_prefix("'nonce-").and_then(|s| s.strip_suffix('\'')))
        .map(str::to_owned)
}

#[tokio::test]
async fn nonce_is_fresh_per_response_and_in_script_src_and_style_src() {
    let m = builder()
        .header_policy(HeaderPolicy::strict())
        .build()
        .unwrap();
    let app = policy_app(&m, &Hits::default());
    let a = send(&app, get_req("/nonce")).await;
    let b = send(&app, get_req("/nonce")).await;
    assert_ne!(a.body, b.body);
    assert!(a.body.len() >= 22, "128 bits, base64: {}", a.body);
    for r in [&a, &b] {
        let csp = r.header("content-security-policy").unwrap();
        assert_eq!(
            nonce_in(csp, "script-src").as_deref(),
            Some(r.body.as_str()),
            "{csp}"
        );
        assert_eq!(
            nonce_in(csp, "style-src").as_deref(),
            Some(r.body.as_str()),
            "{csp}"
        );
        // The sources the policy allowed are kept beside the nonce.
        assert!(csp.contains("script-src 'self' 'nonce-"), "{csp}");
    }
}

#[tokio::test]
async fn one_nonce_per_response_however_often_it_is_asked_for() {
    let m = builder()
        .header_policy(HeaderPolicy::strict())
        .build()
        .unwrap();
    let r = send(&policy_app(&m, &Hits::default()), get_req("/nonce-twice")).await;
    let (x, y) = r.body.split_once(' ').unwrap();
    assert_eq!(x, y);
    let csp = r.header("content-security-policy").unwrap();
    assert_eq!(
        csp.matches("'nonce-").count(),
        2,
        "script-src and style-src: {csp}"
    );
}

#[tokio::test]
async fn responses_that_never_ask_carry_no_nonce() {
    let m = builder()
        .header_policy(HeaderPolicy::strict())
        .build()
        .unwrap();
    let r = send(&policy_app(&m, &Hits::default()), get_req("/plain")).await;
    assert!(!r
        .header("content-security-policy")
        .unwrap()
        .contains("nonce"));
}

#[tokio::test]
async fn nonce_does_not_restrict_an_app_whose_policy_leaves_scripts_open() {
    let m = builder().build().unwrap();
    let r = send(&policy_app(&m, &Hits::default()), get_req("/nonce")).await;
    assert_eq!(
        r.header("content-security-policy"),
        Some("frame-ancestors 'none'")
    );
}

#[cfg(feature = "minijinja")]
#[tokio::test]
async fn minijinja_csp_nonce_renders_the_value_in_the_header() {
    use minijinja::{context, Environment};
    let m = builder()
        .header_policy(HeaderPolicy::strict())
        .build()
        .unwrap();
    let app = Router::new()
        .route(
            "/page",
            get(|nonce: CspNonce| async move {
                let mut env = Environment::new();
                mitten::templates::register(&mut env);
                env.add_template(
                    "p",
                    r#"<script nonce="{{ csp_nonce() }}"></script>{{ csp_nonce() }}"#,
                )
                .unwrap();
                let html = env
                    .get_template("p")
                    .unwrap()
                    .render(context! { csp_nonce => mitten::templates::csp_nonce(&nonce) })
                    .unwrap();
                axum::response::Html(html)
            }),
        )
        .layer(m.layer());
    let r = send(&app, get_req("/page")).await;
    let n = nonce_in(r.header("content-security-policy").unwrap(), "script-src").unwrap();
    assert_eq!(r.body, format!(r#"<script nonce="{n}"></script>{n}"#));
}

// ---- Host allow-list -------------------------------------------------------

fn with_host(host: &str, uri: &str) -> axum::http::Request<Body> {
    axum::http::Request::builder()
        .uri(uri)
        .header(header::HOST, host)
        .body(Body::empty())
        .unwrap()
}

#[tokio::test]
async fn host_not_on_the_list_gets_400_before_the_app_runs() {
    let hits = Hits::default();
    let m = builder()
        .allowed_host("app.example")
        .allowed_host(".example.org")
        .allowed_host("localhost:3000")
        .build()
        .unwrap();
    let app = policy_app(&m, &hits);
    for bad in [
        "evil.test",
        "app.example.evil.test",
        "localhost",
        "localhost:3001",
        "127.0.0.1",
    ] {
        let r = send(&app, with_host(bad, "/submit")).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{bad}");
        assert_eq!(r.body, "Bad Request: host not allowed");
        assert_security_headers(&r);
    }
    assert_eq!(hits.get(), 0);
    for good in [
        "app.example",
        "APP.example:8080",
        "example.org",
        "www.example.org",
        "localhost:3000",
    ] {
        let r = send(&app, with_host(good, "/submit")).await;
        assert_eq!(r.status, StatusCode::OK, "{good}");
    }
    assert_eq!(hits.get(), 5);
}

#[tokio::test]
async fn dns_rebinding_request_with_a_foreign_host_is_refused() {
    // The attacker's name now resolves to our address; the browser still
    // sends the attacker's host.
    let hits = Hits::default();
    let m = builder().allowed_host("localhost").build().unwrap();
    let r = send(
        &policy_app(&m, &hits),
        with_host("rebind.attacker.test:3000", "/value"),
    )
    .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert_eq!(hits.get(), 0);
}

#[tokio::test]
async fn missing_or_repeated_host_is_refused_when_a_list_is_configured() {
    let m = builder().allowed_host("localhost").build().unwrap();
    let app = policy_app(&m, &Hits::default());
    let none = axum::http::Request::builder()
        .uri("/plain")
        .body(Body::empty())
        .unwrap();
    assert_eq!(send(&app, none).await.status, StatusCode::BAD_REQUEST);
    let twice = axum::http::Request::builder()
        .uri("/plain")
        .header(header::HOST, "localhost")
        .header(header::HOST, "evil.test")
        .body(Body::empty())
        .unwrap();
    assert_eq!(send(&app, twice).await.status, StatusCode::BAD_REQUEST);
    // HTTP/2 style: the authority in the URI.
    let h2 = axum::http::Request::builder()
        .uri("http://localhost/plain")
        .body(Body::empty())
        .unwrap();
    assert_eq!(send(&app, h2).await.status, StatusCode::OK);
}

#[tokio::test]
async fn x_forwarded_host_counts_only_when_trusted() {
    let untrusting = builder().allowed_host("app.example").build().unwrap();
    let r = send(
        &policy_app(&untrusting, &Hits::default()),
        req("GET", "/plain")
            .header("x-forwarded-host", "app.example")
            .body(Body::empty())
            .unwrap(),
    )
    .await;
    assert_eq!(
        r.status,
        StatusCode::BAD_REQUEST,
        "Host localhost is not listed"
    );

    let trusting = builder()
        .allowed_host("app.example")
        .trust_forwarded_headers(true)
        .build()
        .unwrap();
    let app = policy_app(&trusting, &Hits::default());
    let ok = req("GET", "/plain")
        .header("x-forwarded-host", "evil.test, app.example")
        .body(Body::empty())
        .unwrap();
    assert_eq!(send(&app, ok).await.status, StatusCode::OK);
    let bad = req("GET", "/plain")
        .header("x-forwarded-host", "evil.test")
        .body(Body::empty())
        .unwrap();
    assert_eq!(send(&app, bad).await.status, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn declared_https_refuses_an_http_origin_for_the_same_host() {
    let hits = Hits::default();
    let m = secure().https(true).build().unwrap();
    let app = policy_app(&m, &hits);
    let (tok, c) = token(&app, COOKIE).await;
    for (origin, status) in [
        ("http://localhost", StatusCode::FORBIDDEN),
        ("https://localhost", StatusCode::OK),
    ] {
        let r = send(
            &app,
            req("POST", "/submit")
                .header(header::ORIGIN, origin)
                .header(header::COOKIE, format!("{COOKIE}={c}"))
                .header("x-csrf-token", tok.as_str())
                .body(Body::empty())
                .unwrap(),
        )
        .await;
        assert_eq!(r.status, status, "{origin}");
    }
    assert_eq!(hits.get(), 1);
}

#[tokio::test]
async fn trusted_forwarded_proto_decides_the_scheme_of_the_csrf_check() {
    let hits = Hits::default();
    let m = builder().trust_forwarded_headers(true).build().unwrap();
    let app = policy_app(&m, &hits);
    let (tok, c) = token(&app, COOKIE).await;
    let post = |origin: &'static str| {
        req("POST", "/submit")
            .header(header::ORIGIN, origin)
            .header("x-forwarded-proto", "https")
            .header(header::COOKIE, format!("{COOKIE}={c}"))
            .header("x-csrf-token", tok.as_str())
            .body(Body::empty())
            .unwrap()
    };
    assert_eq!(
        send(&app, post("http://localhost")).await.status,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        send(&app, post("https://localhost")).await.status,
        StatusCode::OK
    );
}

// ---- sessions and caching --------------------------------------------------

#[tokio::test]
async fn session_dependent_response_is_never_public_whatever_the_handler_said() {
    let m = builder().build().unwrap();
    let app = policy_app(&m, &Hits::default());
    let c = send(&app, get_req("/put/mine"))
        .await
        .cookie(COOKIE)
        .unwrap();
    let r = send(
        &app,
        req("GET", "/public-cache")
            .header(header::COOKIE, format!("{COOKIE}={c}"))
            .body(Body::empty())
            .unwrap(),
    )
    .await;
    assert_eq!(r.body, "mine");
    assert_eq!(r.header("cache-control"), Some("private, max-age=60"));
    assert!(r.vary().contains(&"cookie".to_owned()));
}

#[tokio::test]
async fn responses_that_set_the_session_cookie_or_embed_a_token_are_no_store() {
    let m = builder().build().unwrap();
    let app = policy_app(&m, &Hits::default());
    let set = send(&app, get_req("/put/x")).await;
    assert!(set.cookie(COOKIE).is_some());
    assert_eq!(set.header("cache-control"), Some("no-store"));
    let token = send(&app, get_req("/token")).await;
    assert_eq!(token.header("cache-control"), Some("no-store"));
}

async fn logout_response(clear: bool) -> Resp {
    let m = builder().clear_site_data_on_destroy(clear).build().unwrap();
    let app = policy_app(&m, &Hits::default());
    let c = send(&app, get_req("/put/x")).await.cookie(COOKIE).unwrap();
    let tok = token_for(&app, COOKIE, &c).await;
    send(
        &app,
        browser("POST", "/logout")
            .header(header::COOKIE, format!("{COOKIE}={c}"))
            .header("x-csrf-token", tok)
            .body(Body::empty())
            .unwrap(),
    )
    .await
}

#[tokio::test]
async fn destroy_sends_clear_site_data_when_configured() {
    let r = logout_response(true).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(
        r.header("clear-site-data"),
        Some("\"cache\", \"cookies\", \"storage\"")
    );
    let r = logout_response(false).await;
    assert!(r.header("clear-site-data").is_none());
}

// ---- report-only -----------------------------------------------------------

type Seen = Arc<Mutex<Vec<(Protection, String, Option<String>)>>>;

fn reporting(b: MittenBuilder) -> (Mitten, Seen) {
    let seen: Seen = Arc::default();
    let s = seen.clone();
    let m = b
        .on_report(move |r| {
            s.lock().unwrap().push((
                r.protection,
                r.reason.to_owned(),
                r.route.map(str::to_owned),
            ))
        })
        .build()
        .unwrap();
    (m, seen)
}

#[tokio::test]
async fn report_only_csrf_origin_lets_a_cross_site_post_through_and_reports_it() {
    let hits = Hits::default();
    let (m, seen) = reporting(builder().report_only(Protection::CsrfOrigin));
    let app = policy_app(&m, &hits);
    let (tok, c) = token(&app, COOKIE).await;
    let r = send(
        &app,
        req("POST", "/submit")
            .header(header::ORIGIN, "https://evil.test")
            .header("sec-fetch-site", "cross-site")
            .header(header::COOKIE, format!("{COOKIE}={c}"))
            .header("x-csrf-token", tok.as_str())
            .body(Body::empty())
            .unwrap(),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(hits.get(), 1);
    assert_eq!(
        *seen.lock().unwrap(),
        [(
            Protection::CsrfOrigin,
            "cross-site request".to_owned(),
            Some("/submit".to_owned())
        )]
    );
    // The token layer is still enforced.
    let r = send(
        &app,
        req("POST", "/submit")
            .header(header::ORIGIN, "https://evil.test")
            .header(header::COOKIE, format!("{COOKIE}={c}"))
            .body(Body::empty())
            .unwrap(),
    )
    .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    assert_eq!(hits.get(), 1);
}

#[tokio::test]
async fn report_only_csrf_token_hands_the_form_on_intact() {
    let (m, seen) = reporting(builder().report_only(Protection::CsrfToken).body_limit(64));
    let app = Router::new()
        .route(
            "/form",
            post(|body: String| async move { format!("{} bytes", body.len()) }),
        )
        .layer(m.layer());
    // No token at all, and a body over the limit: both go through whole.
    for size in [10usize, 5000] {
        let body = format!("a={}", "x".repeat(size));
        let r = send(
            &app,
            browser("POST", "/form")
                .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
                .body(Body::from(body.clone()))
                .unwrap(),
        )
        .await;
        assert_eq!(r.status, StatusCode::OK, "{size}");
        assert_eq!(r.body, format!("{} bytes", body.len()));
    }
    let reasons: Vec<String> = seen.lock().unwrap().iter().map(|s| s.1.clone()).collect();
    assert_eq!(reasons, ["CSRF token missing", "request body too large"]);
}

#[tokio::test]
async fn report_only_csrf_token_hands_on_a_streamed_body_over_the_limit() {
    let (m, _) = reporting(builder().report_only(Protection::CsrfToken).body_limit(64));
    let app = Router::new()
        .route(
            "/form",
            post(|body: String| async move { format!("{} bytes", body.len()) }),
        )
        .layer(m.layer());
    let chunks: Vec<Result<String, std::io::Error>> =
        (0..50).map(|_| Ok("y".repeat(100))).collect();
    let r = send(
        &app,
        browser("POST", "/form")
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .body(Body::from_stream(futures_util::stream::iter(chunks)))
            .unwrap(),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.body, "5000 bytes");
}

#[tokio::test]
async fn report_only_json_guard_answers_navigation_and_reports_it() {
    let (m, seen) = reporting(builder().json_only("/data").report_only(Protection::Json));
    let app = Router::new()
        .route("/data", get(|| async { "{\"a\":1}" }))
        .layer(m.layer());
    let r = send(&app, get_req("/data")).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(
        r.header("content-type"),
        Some("application/json; charset=utf-8")
    );
    assert_eq!(seen.lock().unwrap()[0].0, Protection::Json);
}

#[tokio::test]
async fn report_only_host_list_lets_foreign_hosts_through_and_reports_them() {
    let hits = Hits::default();
    let (m, seen) = reporting(
        builder()
            .allowed_host("app.example")
            .report_only(Protection::Host),
    );
    let r = send(&policy_app(&m, &hits), with_host("evil.test", "/submit")).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(hits.get(), 1);
    assert_eq!(seen.lock().unwrap()[0].1, "host not allowed");
}

#[tokio::test]
async fn report_only_csp_is_sent_as_report_only_with_frame_ancestors_still_enforced() {
    let m = builder()
        .header_policy(HeaderPolicy::strict())
        .report_only(Protection::Csp)
        .build()
        .unwrap();
    let r = send(&policy_app(&m, &Hits::default()), get_req("/nonce")).await;
    assert_eq!(
        r.header("content-security-policy"),
        Some("frame-ancestors 'none'")
    );
    let ro = r.header("content-security-policy-report-only").unwrap();
    assert!(ro.starts_with("default-src 'self'"), "{ro}");
    assert_eq!(nonce_in(ro, "script-src").as_deref(), Some(r.body.as_str()));
}

#[tokio::test]
async fn report_only_decisions_are_tracing_events_with_reason_and_route() {
    let logs = capture_logs();
    let m = builder()
        .report_only(Protection::CsrfToken)
        .build()
        .unwrap();
    let app = policy_app(&m, &Hits::default());
    let r = send(
        &app,
        browser("POST", "/submit").body(Body::empty()).unwrap(),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK);
    let out = logs.contents();
    assert!(out.contains("mitten::report"), "{out}");
    assert!(out.contains("protection=\"csrf-token\""), "{out}");
    assert!(out.contains("reason=\"CSRF token missing\""), "{out}");
    assert!(out.contains("route=\"/submit\""), "{out}");
    // And the start-up warnings.
    assert!(out.contains("report-only"), "{out}");
    assert!(out.contains("no allowed hosts"), "{out}");
}

// ---- start-up warnings -----------------------------------------------------

#[tokio::test]
async fn risky_settings_log_one_warning_each_at_build() {
    let logs = capture_logs();
    builder()
        .csrf_exempt("/hook")
        .report_only(Protection::Json)
        .build()
        .unwrap();
    let out = logs.contents();
    assert_eq!(
        out.matches("routes exempt from CSRF checks").count(),
        1,
        "{out}"
    );
    assert!(out.contains("/hook"));
    assert_eq!(out.matches("report-only").count(), 1, "{out}");
    assert_eq!(out.matches("no allowed hosts").count(), 1, "{out}");
    drop(logs);
    let quiet = capture_logs();
    builder().allowed_host("localhost").build().unwrap();
    assert!(!quiet.contents().contains("WARN"), "{}", quiet.contents());
}

#[tokio::test]
async fn describe_shows_the_headers_as_sent() {
    let m = secure()
        .https(true)
        .header_policy(HeaderPolicy::strict())
        .allowed_host("app.example")
        .csrf_exempt("/hook")
        .build()
        .unwrap();
    let d = m.describe();
    for needle in [
        "allowed hosts: app.example",
        "https: declared",
        "route /hook: CSRF-exempt",
        "strict-transport-security: max-age=63072000; includeSubDomains",
        "content-security-policy: default-src 'self'; form-action 'self'; base-uri 'self'; object-src 'none'; frame-ancestors 'none'",
        "x-frame-options: DENY",
    ] {
        assert!(d.contains(needle), "{needle} missing from:\n{d}");
    }
}
