//! Criterion micro-benchmarks of mitten's hot paths, reached from outside
//! the crate: one whole request through `tower::ServiceExt::oneshot`.
//!
//! ```text
//! cargo bench --target-dir ../target -- --warm-up-time 1 --measurement-time 3
//! ```
//!
//! - `plain/{bare,mitten}`: GET /plain, no cookie (layer overhead floor);
//! - `token_mint`: GET with a valid session cookie, handler calls
//!   `CsrfToken::token()` (cookie verify + one HMAC + 32 random bytes);
//! - `token_verify`: POST with cookie + `X-CSRF-Token`, handler does not
//!   touch the session (origin check + cookie verify + token verify);
//! - `headers/{bare,mitten}`: a response that carries its own `Set-Cookie`
//!   and CSP, so cookie hardening and the CSP merge run;
//! - `primitives/*`: the pieces alone, through `mitten::__fuzz` (feature
//!   `fuzzing`): cookie id sign / verify / forged-verify, token mint /
//!   verify.

use axum::body::Body;
use axum::routing::{get, post};
use axum::Router;
use criterion::{criterion_group, criterion_main, Criterion};
use http::{header, HeaderValue, Request};
use mitten::{CsrfToken, Mitten};
use tower::ServiceExt;

fn mitten() -> Mitten {
    Mitten::builder()
        .secret_key([7u8; 64])
        .secure_cookies(false)
        .banner("bench")
        .build()
        .unwrap()
}

async fn with_headers() -> ([(header::HeaderName, HeaderValue); 2], &'static str) {
    (
        [
            (
                header::SET_COOKIE,
                HeaderValue::from_static("theme=dark; Path=/"),
            ),
            (
                header::CONTENT_SECURITY_POLICY,
                HeaderValue::from_static("default-src 'self'"),
            ),
        ],
        "hello",
    )
}

fn routes() -> Router {
    Router::new()
        .route("/plain", get(|| async { "hello" }))
        .route("/headers", get(with_headers))
        .route(
            "/mint",
            get(|c: CsrfToken| async move { c.token().unwrap_or_default() }),
        )
        .route("/verify", post(|| async { "ok" }))
}

fn bench(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let bare = routes();
    let m = routes().layer(mitten().layer());

    // A session cookie and a token for it, from the layer itself.
    let (cookie, token) = rt.block_on(async {
        let res = m
            .clone()
            .oneshot(Request::get("/mint").body(Body::empty()).unwrap())
            .await
            .unwrap();
        let cookie = res.headers()[header::SET_COOKIE]
            .to_str()
            .unwrap()
            .split(';')
            .next()
            .unwrap()
            .to_owned();
        let body = http_body_util::BodyExt::collect(res.into_body())
            .await
            .unwrap()
            .to_bytes();
        (cookie, String::from_utf8(body.to_vec()).unwrap())
    });
    // Sanity: the verify request really passes.
    let verify_req = || {
        Request::post("/verify")
            .header(header::HOST, "127.0.0.1:18080")
            .header(header::ORIGIN, "http://127.0.0.1:18080")
            .header(header::COOKIE, &cookie)
            .header("x-csrf-token", &token)
            .body(Body::empty())
            .unwrap()
    };
    let st = rt
        .block_on(m.clone().oneshot(verify_req()))
        .unwrap()
        .status();
    assert_eq!(st, 200, "token verify request must pass");

    let get = |path: &str| Request::get(path).body(Body::empty()).unwrap();

    let mut g = c.benchmark_group("plain");
    g.bench_function("bare", |b| {
        b.iter(|| rt.block_on(bare.clone().oneshot(get("/plain"))).unwrap())
    });
    g.bench_function("mitten", |b| {
        b.iter(|| rt.block_on(m.clone().oneshot(get("/plain"))).unwrap())
    });
    g.finish();

    let mut g = c.benchmark_group("headers");
    g.bench_function("bare", |b| {
        b.iter(|| rt.block_on(bare.clone().oneshot(get("/headers"))).unwrap())
    });
    g.bench_function("mitten", |b| {
        b.iter(|| rt.block_on(m.clone().oneshot(get("/headers"))).unwrap())
    });
    g.finish();

    c.bench_function("token_mint", |b| {
        b.iter(|| {
            let req = Request::get("/mint")
                .header(header::COOKIE, &cookie)
                .body(Body::empty())
                .unwrap();
            rt.block_on(m.clone().oneshot(req)).unwrap()
        })
    });
    c.bench_function("token_verify", |b| {
        b.iter(|| rt.block_on(m.clone().oneshot(verify_req())).unwrap())
    });
}

fn primitives(c: &mut Criterion) {
    use mitten::__fuzz::{mint_token, sign_id, verify_cookie_value, verify_token, Keys};
    let keys = Keys::new(&[7u8; 64], &[]);
    let id = [42u8; 16];
    let value = sign_id(id, "mitten", &keys);
    let mut forged = value.clone().into_bytes();
    let last = forged.len() - 1;
    forged[last] = if forged[last] == b'A' { b'B' } else { b'A' };
    let forged = String::from_utf8(forged).unwrap();
    let token = mint_token(&keys, id);
    assert!(verify_token(&keys, id, token.as_bytes()));
    assert!(verify_cookie_value(&value, "mitten", &keys).is_some());
    assert!(verify_cookie_value(&forged, "mitten", &keys).is_none());

    let mut g = c.benchmark_group("primitives");
    g.bench_function("cookie_sign", |b| {
        b.iter(|| sign_id(std::hint::black_box(id), "mitten", &keys))
    });
    g.bench_function("cookie_verify", |b| {
        b.iter(|| verify_cookie_value(std::hint::black_box(&value), "mitten", &keys))
    });
    g.bench_function("cookie_verify_forged", |b| {
        b.iter(|| verify_cookie_value(std::hint::black_box(&forged), "mitten", &keys))
    });
    g.bench_function("token_mint", |b| {
        b.iter(|| mint_token(&keys, std::hint::black_box(id)))
    });
    g.bench_function("token_verify", |b| {
        b.iter(|| verify_token(&keys, std::hint::black_box(id), token.as_bytes()))
    });
    g.finish();
}

criterion_group!(benches, bench, primitives);
criterion_main!(benches);
