//! Instruction counts per request, without sockets: `irloop MODE N` sends N
//! `GET /plain` requests through the router with `oneshot`. Run it under
//! `valgrind --tool=callgrind` twice (N and 0) and divide the difference by
//! N: deterministic, whatever else the machine is doing.

use axum::body::Body;
use axum::routing::get;
use axum::Router;
use http::Request;
use tower::ServiceExt;

fn main() {
    let mut args = std::env::args().skip(1);
    let mode = args.next().unwrap_or_else(|| "mitten".into());
    let n: usize = args.next().and_then(|n| n.parse().ok()).unwrap_or(10_000);
    let path = args.next().unwrap_or_else(|| "/plain".into());
    let app = Router::new().route("/plain", get(|| async { "hello" }));
    let app = match mode.as_str() {
        "bare" => app,
        "mitten" => app.layer(
            mitten::Mitten::builder()
                .secret_key([7u8; 64])
                .secure_cookies(false)
                .banner("bench")
                .build()
                .expect("mitten")
                .layer(),
        ),
        other => panic!("unknown mode {other}"),
    };
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("runtime");
    rt.block_on(async {
        for _ in 0..n {
            let req = Request::get(path.as_str())
                .header("host", "127.0.0.1:18080")
                .header("user-agent", "wrk")
                .body(Body::empty())
                .unwrap();
            let res = app.clone().oneshot(req).await.unwrap();
            assert_eq!(res.status(), 200);
            std::hint::black_box(res);
        }
    });
}
