//! Raw HTTP/1.1 over TCP against a real hyper server, for tricks that
//! `oneshot` cannot express (framing, `Transfer-Encoding`, bytes hyper
//! refuses before any service sees them).

use std::net::SocketAddr;
use std::time::Duration;

use axum::Router;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// Serves `app` on an ephemeral port of 127.0.0.1 until the test ends.
pub async fn serve(app: Router) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    addr
}

/// A response read off the wire.
#[derive(Debug)]
pub struct WireResp {
    /// Every status code on the connection, in order (pipelined requests
    /// get one each).
    pub statuses: Vec<u16>,
    pub text: String,
}

impl WireResp {
    pub fn status(&self) -> u16 {
        *self.statuses.first().expect("no response at all")
    }
}

/// Writes `raw` and reads until the server closes the connection (or 3 s
/// pass: a server waiting for more body is an answer too).
pub async fn exchange(addr: SocketAddr, raw: &[u8]) -> WireResp {
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    s.write_all(raw).await.unwrap();
    let mut buf = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(3), s.read_to_end(&mut buf)).await;
    let text = String::from_utf8_lossy(&buf).into_owned();
    let statuses = text
        .match_indices("HTTP/1.1 ")
        .filter_map(|(i, _)| text.get(i + 9..i + 12)?.parse().ok())
        .collect();
    WireResp { statuses, text }
}
