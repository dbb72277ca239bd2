//! Instructions per request, without sockets: `irloop MODE N WORKLOAD`
//! sends N requests through the bench app of MODE (`bare`, `mitten`,
//! `peer`; memory stores) with `oneshot`. `bench/ir.sh` runs it under
//! `valgrind --tool=callgrind` with N and with 0 requests and divides the
//! difference by N: deterministic, whatever else the machine is doing, so
//! two stacks can be compared without the noise a socket benchmark has.
//!
//! Workloads are the bench server's: `plain`, `read`, `form_get`,
//! `form_post`, `login`. Before the loop (and so outside the count), one
//! browser-like client logs in the way `bench/run.sh` does with curl.

use std::collections::BTreeMap;

use axum::body::Body;
use axum::Router;
use http::{header, Method, Request, Response};
use http_body_util::BodyExt;
use mitten_bench::{bare, mitten_mode, peer};
use tower::ServiceExt;

const HOST: &str = "127.0.0.1:18080";
const ORIGIN: &str = "http://127.0.0.1:18080";

/// Cookies the client holds, by name.
#[derive(Clone, Default)]
struct Jar(BTreeMap<String, String>);

impl Jar {
    fn take<B>(&mut self, res: &Response<B>) {
        for v in res.headers().get_all(header::SET_COOKIE) {
            let pair = v.to_str().unwrap().split(';').next().unwrap();
            let (k, v) = pair.split_once('=').unwrap();
            self.0.insert(k.trim().to_owned(), v.trim().to_owned());
        }
    }

    fn header(&self) -> String {
        let pairs: Vec<String> = self.0.iter().map(|(k, v)| format!("{k}={v}")).collect();
        pairs.join("; ")
    }
}

fn request(method: Method, path: &str, jar: &Jar, form: Option<String>) -> Request<Body> {
    let mut req = Request::builder()
        .method(method)
        .uri(path)
        .header(header::HOST, HOST)
        .header(header::USER_AGENT, "wrk");
    if !jar.0.is_empty() {
        req = req.header(header::COOKIE, jar.header());
    }
    match form {
        Some(body) => req
            .header(header::ORIGIN, ORIGIN)
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .body(Body::from(body))
            .unwrap(),
        None => req.body(Body::empty()).unwrap(),
    }
}

fn urlencode(s: &str) -> String {
    form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

async fn send(app: &Router, req: Request<Body>, jar: &mut Jar) -> String {
    let res = app.clone().oneshot(req).await.unwrap();
    assert!(
        res.status().is_success(),
        "setup request got {}",
        res.status()
    );
    jar.take(&res);
    let body = res.into_body().collect().await.unwrap().to_bytes();
    String::from_utf8(body.to_vec()).unwrap()
}

fn page_token(page: &str) -> String {
    page.split("name=\"_csrf_token\" value=\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .unwrap_or("")
        .to_owned()
}

fn main() {
    let mut args = std::env::args().skip(1);
    let mode = args.next().unwrap_or_else(|| "mitten".into());
    let n: usize = args.next().and_then(|n| n.parse().ok()).unwrap_or(10_000);
    let workload = args.next().unwrap_or_else(|| "plain".into());
    let app = match mode.as_str() {
        "bare" => bare::app(),
        "mitten" => mitten_mode::app(mitten_mode::builder().build().expect("mitten")),
        "peer" => peer::app(tower_sessions::MemoryStore::default()),
        other => panic!("unknown mode {other}"),
    };
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .expect("runtime");
    rt.block_on(async {
        // A pre-login client (for POST /login), then a logged-in one.
        let mut pre = Jar::default();
        let page = send(&app, request(Method::GET, "/form", &pre, None), &mut pre).await;
        let pre_token = page_token(&page);
        let mut user = pre.clone();
        let login = format!("user=alice&_csrf_token={}", urlencode(&pre_token));
        send(
            &app,
            request(Method::POST, "/login", &user, Some(login)),
            &mut user,
        )
        .await;
        let page = send(&app, request(Method::GET, "/form", &user, None), &mut user).await;
        let token = page_token(&page);
        let empty = Jar::default();
        let form_body = format!("_csrf_token={}&note=hello", urlencode(&token));
        let login_body = format!("user=alice&_csrf_token={}", urlencode(&pre_token));

        for _ in 0..n {
            let req = match workload.as_str() {
                "plain" => request(Method::GET, "/plain", &empty, None),
                "read" => request(Method::GET, "/read", &user, None),
                "form_get" => request(Method::GET, "/form", &user, None),
                "form_post" => request(Method::POST, "/form", &user, Some(form_body.clone())),
                "login" => request(Method::POST, "/login", &pre, Some(login_body.clone())),
                other => panic!("unknown workload {other}"),
            };
            let res = app.clone().oneshot(req).await.unwrap();
            assert!(res.status().is_success(), "{workload}: {}", res.status());
            let body = res.into_body().collect().await.unwrap();
            std::hint::black_box(body);
        }
    });
}
