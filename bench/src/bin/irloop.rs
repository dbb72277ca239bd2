//! Instruction counts per request, without sockets: `irloop MODE N [WORKLOAD]`
//! sends N requests through the router with `oneshot`. Run it under
//! `valgrind --tool=callgrind` twice (N and 0) and divide the difference by
//! N: deterministic, whatever else the machine is doing.
//!
//! Workloads: `plain` (GET, no session), `read` (GET with a session cookie,
//! reads one value), `write` (GET with a session cookie, bumps a counter).

use axum::body::Body;
use axum::routing::get;
use axum::Router;
use http::{header, Request};
use mitten::{Session, SessionError};
use tower::ServiceExt;

async fn read(session: Session) -> Result<String, SessionError> {
    let user: Option<String> = session.get("user").await?;
    Ok(format!("user: {}", user.as_deref().unwrap_or("-")))
}

async fn write(session: Session) -> Result<String, SessionError> {
    let n: u64 = session.get("count").await?.unwrap_or(0) + 1;
    session.insert("count", n).await?;
    Ok(format!("count: {n}"))
}

async fn login(session: Session) -> Result<&'static str, SessionError> {
    session.insert("user", "alice").await?;
    Ok("ok")
}

fn main() {
    let mut args = std::env::args().skip(1);
    let mode = args.next().unwrap_or_else(|| "mitten".into());
    let n: usize = args.next().and_then(|n| n.parse().ok()).unwrap_or(10_000);
    let workload = args.next().unwrap_or_else(|| "plain".into());
    let app = Router::new().route("/plain", get(|| async { "hello" }));
    let app = match mode.as_str() {
        "bare" => app,
        "mitten" => app
            .route("/read", get(read))
            .route("/write", get(write))
            .route("/login", get(login))
            .layer(
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
        .enable_time()
        .build()
        .expect("runtime");
    rt.block_on(async {
        let cookie = if mode == "mitten" {
            let res = app
                .clone()
                .oneshot(Request::get("/login").body(Body::empty()).unwrap())
                .await
                .unwrap();
            let c = res.headers()[header::SET_COOKIE].to_str().unwrap();
            c.split(';').next().unwrap().to_owned()
        } else {
            String::new()
        };
        let path = format!("/{workload}");
        for _ in 0..n {
            let mut req = Request::get(path.as_str())
                .header("host", "127.0.0.1:18080")
                .header("user-agent", "wrk");
            if workload != "plain" {
                req = req.header(header::COOKIE, cookie.as_str());
            }
            let res = app
                .clone()
                .oneshot(req.body(Body::empty()).unwrap())
                .await
                .unwrap();
            assert_eq!(res.status(), 200);
            std::hint::black_box(res);
        }
    });
}
