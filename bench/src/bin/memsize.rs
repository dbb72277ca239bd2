//! Memory per session in an in-process store, at 100,000 sessions.
//!
//! ```text
//! memsize mitten|peer [N]
//! ```
//!
//! Builds the app's router with the store (mitten: its default
//! `MemoryStore`; peer: `tower_sessions::MemoryStore`), then creates `N`
//! sessions through the real layer (`GET /new` with no cookie, the handler
//! stores `user = "alice"`, the way a login does), and reads `VmRSS` from
//! `/proc/self/status` before and after. Prints one line:
//! `mode sessions rss_before_kib rss_after_kib bytes_per_session`.

use axum::body::Body;
use axum::routing::get;
use axum::Router;
use http::Request;
use tower::ServiceExt;

fn rss_kib() -> u64 {
    let s = std::fs::read_to_string("/proc/self/status").expect("/proc/self/status");
    s.lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmRSS")
}

fn mitten_app() -> Router {
    use mitten::{Mitten, Session, SessionError};
    let m = Mitten::builder()
        .secret_key([7u8; 64])
        .secure_cookies(false)
        .build()
        .expect("mitten");
    Router::new()
        .route(
            "/new",
            get(|s: Session| async move {
                s.insert("user", "alice").await?;
                Ok::<_, SessionError>("ok")
            }),
        )
        .layer(m.layer())
}

fn peer_app() -> Router {
    use tower_sessions::{MemoryStore, Session, SessionManagerLayer};
    Router::new()
        .route(
            "/new",
            get(|s: Session| async move {
                s.insert("user", "alice").await.expect("insert");
                "ok"
            }),
        )
        .layer(SessionManagerLayer::new(MemoryStore::default()).with_secure(false))
}

fn main() {
    let mut args = std::env::args().skip(1);
    let mode = args.next().unwrap_or_else(|| "mitten".into());
    let n: usize = args
        .next()
        .map(|v| v.parse().expect("N"))
        .unwrap_or(100_000);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async move {
        let app = match mode.as_str() {
            "mitten" => mitten_app(),
            "peer" => peer_app(),
            other => panic!("unknown mode {other}"),
        };
        let req = || Request::get("/new").body(Body::empty()).unwrap();
        // Warm up allocator pools and lazy statics with a few sessions.
        // (They count toward N: mitten's default store holds at most 100,000
        // sessions, and evicting would spoil the measurement.)
        let warm = 100;
        for _ in 0..warm {
            let res = app.clone().oneshot(req()).await.unwrap();
            assert!(res.status().is_success(), "warmup: {}", res.status());
            assert!(res.headers().contains_key("set-cookie"));
        }
        let before = rss_kib();
        for _ in warm..n {
            let res = app.clone().oneshot(req()).await.unwrap();
            assert!(res.status().is_success());
        }
        let after = rss_kib();
        let per = (after.saturating_sub(before) * 1024) as f64 / (n - warm) as f64;
        println!("{mode} {n} {before} {after} {per:.0}");
        // Keep the store alive until after the measurement.
        drop(app);
    });
}
