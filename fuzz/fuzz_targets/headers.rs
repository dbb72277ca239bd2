//! Header merging, through the real layer: whatever headers a handler
//! answers with, the response has one coherent value per protective
//! header, every readable cookie is hardened, a JSON route is JSON, and a
//! second layer changes nothing.
#![no_main]

use std::sync::OnceLock;

use axum::body::Body;
use axum::extract::Request;
use axum::response::Response;
use axum::routing::get;
use axum::Router;
use futures_executor::block_on;
use http::{header, HeaderMap, HeaderName, HeaderValue};
use libfuzzer_sys::fuzz_target;
use tower::ServiceExt;

/// The handler's headers, handed to it through the request extensions.
#[derive(Clone)]
struct Answer(HeaderMap);

async fn answer(req: Request) -> Response {
    let mut r = Response::new(Body::empty());
    if let Some(Answer(h)) = req.extensions().get::<Answer>() {
        *r.headers_mut() = h.clone();
    }
    r
}

fn apps() -> &'static (Router, Router) {
    static APPS: OnceLock<(Router, Router)> = OnceLock::new();
    APPS.get_or_init(|| {
        let m = mitten::Mitten::builder()
            .secret_key([1u8; 32])
            .banner("B")
            .json_only("/j")
            .script_readable_cookie("theme")
            .build()
            .unwrap();
        let routes = Router::new()
            .route("/", get(answer))
            .route("/j", get(answer));
        (
            routes.clone().layer(m.layer()),
            routes.layer(m.layer()).layer(m.layer()),
        )
    })
}

fn run(app: &Router, path: &str, answer: &HeaderMap) -> HeaderMap {
    let mut req = Request::builder()
        .uri(path)
        .header(header::HOST, "localhost")
        .header("x-requested-with", "XMLHttpRequest")
        .body(Body::empty())
        .unwrap();
    req.extensions_mut().insert(Answer(answer.clone()));
    block_on(app.clone().oneshot(req))
        .unwrap()
        .into_parts()
        .0
        .headers
}

fn values<'a>(h: &'a HeaderMap, name: &str) -> Vec<&'a [u8]> {
    h.get_all(name).iter().map(HeaderValue::as_bytes).collect()
}

fn has_attr(cookie: &[u8], attr: &[u8]) -> bool {
    cookie.split(|&b| b == b';').skip(1).any(|a| {
        a.split(|&b| b == b'=')
            .next()
            .unwrap_or_default()
            .trim_ascii()
            .eq_ignore_ascii_case(attr)
    })
}

fn states_frame_ancestors(csp: &str) -> bool {
    csp.split([';', ',']).any(|d| {
        d.split_ascii_whitespace()
            .next()
            .is_some_and(|n| n.eq_ignore_ascii_case("frame-ancestors"))
    })
}

fuzz_target!(|data: &[u8]| {
    // First byte: which route; then `name:value` lines.
    let Some((&route, rest)) = data.split_first() else {
        return;
    };
    let path = if route & 1 == 0 { "/" } else { "/j" };
    let mut input = HeaderMap::new();
    for line in rest.split(|&b| b == b'\n') {
        let Some(colon) = line.iter().position(|&b| b == b':') else {
            continue;
        };
        if let (Ok(n), Ok(v)) = (
            HeaderName::from_bytes(&line[..colon]),
            HeaderValue::from_bytes(&line[colon + 1..]),
        ) {
            input.append(n, v);
        }
    }
    let (once, twice) = apps();
    let out = run(once, path, &input);
    assert_eq!(
        run(twice, path, &input),
        out,
        "a second layer changed the answer"
    );

    assert_eq!(values(&out, "x-frame-options"), [b"DENY"]);
    assert_eq!(values(&out, "x-content-type-options"), [b"nosniff"]);
    assert_eq!(values(&out, "x-xss-protection"), [b"0"]);
    assert_eq!(values(&out, "server"), [b"B"]);
    for banner in [
        "x-powered-by",
        "x-aspnet-version",
        "x-aspnetmvc-version",
        "x-generator",
        "x-runtime",
    ] {
        assert!(values(&out, banner).is_empty(), "{banner}");
    }
    assert!(!values(&out, "referrer-policy").is_empty());

    let csp_in: Vec<_> = values(&input, "content-security-policy");
    let csp_out: Vec<_> = values(&out, "content-security-policy");
    assert!(!csp_out.is_empty());
    let readable: Option<Vec<&str>> = csp_in.iter().map(|v| std::str::from_utf8(v).ok()).collect();
    if let Some(readable) = readable {
        if !readable.iter().any(|p| states_frame_ancestors(p)) {
            let directives: Vec<String> = csp_out
                .iter()
                .flat_map(|v| {
                    String::from_utf8_lossy(v)
                        .split(';')
                        .map(|d| d.trim().to_owned())
                        .collect::<Vec<_>>()
                })
                .filter(|d| {
                    d.split_ascii_whitespace()
                        .next()
                        .is_some_and(|n| n.eq_ignore_ascii_case("frame-ancestors"))
                })
                .collect();
            assert_eq!(
                directives,
                ["frame-ancestors 'none'"],
                "{csp_in:?} -> {csp_out:?}"
            );
        }
    }

    let cookies_in = values(&input, "set-cookie");
    let cookies_out = values(&out, "set-cookie");
    assert_eq!(cookies_in.len(), cookies_out.len());
    for (i, o) in cookies_in.iter().zip(&cookies_out) {
        // Every cookie keeps what the app wrote and gets SameSite, and
        // HttpOnly unless it is the script-readable one, whatever its bytes.
        let mut kept = i.trim_ascii_end();
        while let [rest @ .., b';'] = kept {
            kept = rest;
        }
        assert!(o.starts_with(kept), "{i:?} -> {o:?}");
        assert!(has_attr(o, b"samesite"), "{o:?}");
        let name = o.split(|&b| b == b';').next().unwrap();
        let name = name.split(|&b| b == b'=').next().unwrap().trim_ascii();
        if name != b"theme" {
            assert!(has_attr(o, b"httponly"), "{o:?}");
        }
    }

    if path == "/j" {
        assert_eq!(
            values(&out, "content-type"),
            [b"application/json; charset=utf-8"]
        );
        assert_eq!(
            values(&out, "cross-origin-resource-policy"),
            [b"same-origin"]
        );
        for v in [
            "X-Requested-With",
            "Sec-Fetch-Site",
            "Sec-Fetch-Mode",
            "Sec-Fetch-Dest",
        ] {
            let count = |h: &HeaderMap| {
                h.get_all(header::VARY)
                    .iter()
                    .filter_map(|x| x.to_str().ok())
                    .flat_map(|x| x.split(','))
                    .filter(|t| t.trim().eq_ignore_ascii_case(v))
                    .count()
            };
            let star = out.get_all(header::VARY).iter().any(|x| {
                x.to_str()
                    .is_ok_and(|s| s.split(',').any(|t| t.trim() == "*"))
            });
            assert!(count(&out) <= count(&input).max(1), "{v}");
            assert!(star || count(&out) >= 1, "{v} missing from Vary");
        }
    }
});
