//! The bench server: the apps of `lib.rs` on a socket.
//!
//! ```text
//! mitten-bench --mode bare|mitten|mitten-redis|peer|peer-redis [--port 18080] [--redis URL]
//! ```

use std::net::SocketAddr;

use mitten_bench::{bare, mitten_mode, peer};

fn main() {
    let mut mode = String::from("bare");
    let mut port: u16 = 18080;
    let mut redis_url = String::from("redis://127.0.0.1:6379/");
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--mode" => mode = args.next().expect("--mode VALUE"),
            "--port" => port = args.next().expect("--port N").parse().expect("port"),
            "--redis" => redis_url = args.next().expect("--redis URL"),
            other => panic!("unknown argument {other}"),
        }
    }
    // One worker: the server is pinned to one core by the harness.
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async move {
        let app = match mode.as_str() {
            "bare" => bare::app(),
            "mitten" => mitten_mode::app(mitten_mode::builder().build().expect("mitten")),
            #[cfg(feature = "redis")]
            "mitten-redis" => {
                let store = mitten::stores::RedisStore::connect(&redis_url)
                    .await
                    .expect("redis store");
                mitten_mode::app(mitten_mode::builder().store(store).build().expect("mitten"))
            }
            "peer" => peer::app(tower_sessions::MemoryStore::default()),
            #[cfg(feature = "peer-redis")]
            "peer-redis" => {
                use tower_sessions_redis_store::{fred::prelude::*, RedisStore};
                let cfg = Config::from_url(&redis_url).expect("redis url");
                let pool = Pool::new(cfg, None, None, None, 2).expect("pool");
                pool.init().await.expect("redis connect");
                peer::app(RedisStore::new(pool))
            }
            other => panic!("unknown or not compiled-in mode {other}"),
        };
        let _ = &redis_url;
        let addr = SocketAddr::from(([127, 0, 0, 1], port));
        let listener = tokio::net::TcpListener::bind(addr).await.expect("bind");
        eprintln!("mitten-bench: mode {mode} on http://{addr}");
        axum::serve(listener, app)
            .with_graceful_shutdown(async {
                let _ = tokio::signal::ctrl_c().await;
            })
            .await
            .expect("serve");
    });
}
