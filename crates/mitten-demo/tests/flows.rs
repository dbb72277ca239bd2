//! The demo's flows over a real socket: the demo router served on a random
//! loopback port, driven by a bare HTTP/1.1 client that sends request
//! targets verbatim (`//public_api/`) and handles cookies by hand, so old
//! cookies can be replayed.

use std::collections::HashMap;
use std::net::SocketAddr;

use mitten_demo::{app, DemoConfig};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

const KEY: &str = "demo flows test key, at least thirty-two bytes long";
const COOKIE: &str = "mitten";

struct Demo {
    addr: SocketAddr,
}

async fn serve() -> Demo {
    serve_with(|_| {}).await
}

async fn serve_with(change: impl FnOnce(&mut DemoConfig)) -> Demo {
    let mut config = DemoConfig::new(KEY);
    config.insecure_cookies = true;
    change(&mut config);
    let router = app(config).expect("demo config is valid");
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    Demo { addr }
}

#[derive(Debug)]
struct Resp {
    status: u16,
    headers: Vec<(String, String)>,
    body: String,
}

impl Resp {
    fn header(&self, name: &str) -> Option<&str> {
        let all: Vec<&str> = self
            .headers
            .iter()
            .filter(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
            .collect();
        assert!(all.len() <= 1, "{name} sent {} times", all.len());
        all.first().copied()
    }

    /// The value this response gives the session cookie (empty = removal).
    fn session_cookie(&self) -> Option<String> {
        self.headers
            .iter()
            .filter(|(k, _)| k.eq_ignore_ascii_case("set-cookie"))
            .filter_map(|(_, v)| v.strip_prefix(&format!("{COOKIE}=")))
            .map(|v| v.split(';').next().unwrap_or("").to_owned())
            .next()
    }

    fn set_cookie_line(&self) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, v)| k.eq_ignore_ascii_case("set-cookie") && v.starts_with(COOKIE))
            .map(|(_, v)| v.as_str())
    }

    /// The first `_csrf_token` value rendered into the page.
    fn csrf_token(&self) -> String {
        let marker = r#"name="_csrf_token" value=""#;
        let start = self.body.find(marker).expect("page has a token") + marker.len();
        self.body[start..].split('"').next().unwrap().to_owned()
    }
}

impl Demo {
    fn origin(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Sends one request on a fresh connection and reads the whole answer.
    async fn send(
        &self,
        method: &str,
        target: &str,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> Resp {
        let mut s = TcpStream::connect(self.addr).await.unwrap();
        let mut head = format!(
            "{method} {target} HTTP/1.1\r\nHost: {}\r\nConnection: close\r\nContent-Length: {}\r\n",
            self.addr,
            body.len()
        );
        for (k, v) in headers {
            head.push_str(&format!("{k}: {v}\r\n"));
        }
        head.push_str("\r\n");
        s.write_all(head.as_bytes()).await.unwrap();
        s.write_all(body).await.unwrap();
        let mut raw = Vec::new();
        s.read_to_end(&mut raw).await.unwrap();
        parse(&raw)
    }

    async fn get(&self, target: &str, session: Option<&str>) -> Resp {
        let cookie = session.map(|c| format!("{COOKIE}={c}"));
        let mut headers = vec![];
        if let Some(c) = &cookie {
            headers.push(("Cookie", c.as_str()));
        }
        self.send("GET", target, &headers, b"").await
    }

    /// A same-origin form post, as the browser sends it.
    async fn post_form(&self, target: &str, session: Option<&str>, form: &[(&str, &str)]) -> Resp {
        let body: String = form_urlencoded::Serializer::new(String::new())
            .extend_pairs(form)
            .finish();
        let cookie = session.map(|c| format!("{COOKIE}={c}"));
        let origin = self.origin();
        let mut headers = vec![
            ("Origin", origin.as_str()),
            ("Content-Type", "application/x-www-form-urlencoded"),
        ];
        if let Some(c) = &cookie {
            headers.push(("Cookie", c.as_str()));
        }
        self.send("POST", target, &headers, body.as_bytes()).await
    }

    /// The notes of a session, read through the JSON API as a script would.
    async fn notes(&self, session: &str) -> Vec<String> {
        let cookie = format!("{COOKIE}={session}");
        let r = self
            .send(
                "GET",
                "/json_api/",
                &[("Cookie", &cookie), ("X-Requested-With", "XMLHttpRequest")],
                b"",
            )
            .await;
        assert_eq!(r.status, 200, "{}", r.body);
        let v: serde_json::Value = serde_json::from_str(&r.body).unwrap();
        serde_json::from_value(v["notes"].clone()).unwrap()
    }

    /// Logs `user` in through the form; returns the session cookie after
    /// login and the pre-session cookie the login form gave.
    async fn login(&self, user: &str) -> (String, String) {
        let form = self.get("/login/", None).await;
        let pre = form
            .session_cookie()
            .expect("login form starts a pre-session");
        let token = form.csrf_token();
        let r = self
            .post_form(
                "/login/",
                Some(&pre),
                &[
                    ("_csrf_token", &token),
                    ("username", user),
                    ("password", "x"),
                ],
            )
            .await;
        assert_eq!(r.status, 303, "{}", r.body);
        assert_eq!(r.header("location"), Some("/home/"));
        (r.session_cookie().expect("login issues a new id"), pre)
    }

    /// A token for `session`, from its home page.
    async fn token(&self, session: &str) -> String {
        let home = self.get("/home/", Some(session)).await;
        assert_eq!(home.status, 200, "{}", home.body);
        home.csrf_token()
    }
}

fn parse(raw: &[u8]) -> Resp {
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("complete head");
    let head = std::str::from_utf8(&raw[..split]).unwrap();
    let mut lines = head.split("\r\n");
    let status = lines
        .next()
        .unwrap()
        .split(' ')
        .nth(1)
        .unwrap()
        .parse()
        .unwrap();
    let headers: Vec<(String, String)> = lines
        .map(|l| {
            let (k, v) = l.split_once(':').unwrap();
            (k.trim().to_owned(), v.trim().to_owned())
        })
        .collect();
    let mut body = raw[split + 4..].to_vec();
    let chunked = headers
        .iter()
        .any(|(k, v)| k.eq_ignore_ascii_case("transfer-encoding") && v.contains("chunked"));
    if chunked {
        body = dechunk(&body);
    }
    Resp {
        status,
        headers,
        body: String::from_utf8_lossy(&body).into_owned(),
    }
}

fn dechunk(mut b: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    loop {
        let eol = b.windows(2).position(|w| w == b"\r\n").unwrap();
        let size =
            usize::from_str_radix(std::str::from_utf8(&b[..eol]).unwrap().trim(), 16).unwrap();
        if size == 0 {
            return out;
        }
        out.extend_from_slice(&b[eol + 2..eol + 2 + size]);
        b = &b[eol + 2 + size + 2..];
    }
}

fn assert_hardened(r: &Resp) {
    assert_eq!(r.header("x-frame-options"), Some("DENY"), "{r:?}");
    assert!(r
        .header("content-security-policy")
        .is_some_and(|c| c.contains("frame-ancestors 'none'")));
    assert_eq!(r.header("x-content-type-options"), Some("nosniff"));
    assert_eq!(r.header("server"), Some("Mitten demo"));
    assert!(r.header("x-powered-by").is_none());
}

#[tokio::test]
async fn login_issues_a_new_id_and_the_pre_login_id_is_dead() {
    let demo = serve().await;
    let (session, pre) = demo.login("alice").await;
    assert_ne!(session, pre);
    let home = demo.get("/home/", Some(&session)).await;
    assert_eq!(home.status, 200);
    assert!(home.body.contains("Hello, alice!"));
    assert_hardened(&home);
    // The pre-login id is not logged in (and never will be).
    let old = demo.get("/home/", Some(&pre)).await;
    assert_eq!(old.status, 303);
    assert_eq!(old.header("location"), Some("/"));
    // Logged in, the index sends you home.
    let index = demo.get("/", Some(&session)).await;
    assert_eq!(index.header("location"), Some("/home/"));
}

#[tokio::test]
async fn username_is_html_escaped_on_the_home_page() {
    let demo = serve().await;
    let (session, _) = demo.login("<script>alert(1)</script>").await;
    let home = demo.get("/home/", Some(&session)).await;
    assert!(!home.body.contains("<script>alert(1)"), "{}", home.body);
    assert!(home
        .body
        .contains("&lt;script&gt;alert(1)&lt;&#x2f;script&gt;"));
}

#[tokio::test]
async fn empty_username_is_refused_with_the_form_again() {
    let demo = serve().await;
    let form = demo.get("/login/", None).await;
    let pre = form.session_cookie().unwrap();
    let r = demo
        .post_form(
            "/login/",
            Some(&pre),
            &[("_csrf_token", &form.csrf_token()), ("username", "  ")],
        )
        .await;
    assert_eq!(r.status, 400);
    assert!(r.body.contains("Please enter a username."));
}

#[tokio::test]
async fn notes_arrive_by_urlencoded_form_multipart_form_and_json_with_header_token() {
    let demo = serve().await;
    let (session, _) = demo.login("alice").await;
    let cookie = format!("{COOKIE}={session}");
    let origin = demo.origin();

    let token = demo.token(&session).await;
    let r = demo
        .post_form(
            "/notes/",
            Some(&session),
            &[("_csrf_token", &token), ("text", "one")],
        )
        .await;
    assert_eq!(r.status, 303, "{}", r.body);

    let boundary = "demoBoundary42";
    let body = format!(
        "--{boundary}\r\nContent-Disposition: form-data; name=\"_csrf_token\"\r\n\r\n{token}\r\n\
         --{boundary}\r\nContent-Disposition: form-data; name=\"text\"\r\n\r\ntwo\r\n--{boundary}--\r\n"
    );
    let ct = format!("multipart/form-data; boundary={boundary}");
    let r = demo
        .send(
            "POST",
            "/notes/",
            &[
                ("Cookie", &cookie),
                ("Origin", &origin),
                ("Content-Type", &ct),
            ],
            body.as_bytes(),
        )
        .await;
    assert_eq!(r.status, 303, "{}", r.body);

    let r = demo
        .send(
            "POST",
            "/notes/",
            &[
                ("Cookie", &cookie),
                ("Origin", &origin),
                ("Content-Type", "application/json"),
                ("X-CSRF-Token", &token),
            ],
            br#"{"text":"three"}"#,
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(r.body.contains(r#""result":"success""#));
    assert_eq!(demo.notes(&session).await, ["one", "two", "three"]);
}

#[tokio::test]
async fn csrf_post_without_a_token_is_refused_and_changes_nothing() {
    let demo = serve().await;
    let (session, _) = demo.login("alice").await;
    let r = demo
        .post_form("/notes/", Some(&session), &[("text", "forged")])
        .await;
    assert_eq!(r.status, 403);
    assert_hardened(&r);
    assert!(demo.notes(&session).await.is_empty());
    // Nor can logout be forced.
    let r = demo.post_form("/logout/", Some(&session), &[]).await;
    assert_eq!(r.status, 403);
    assert_eq!(demo.get("/home/", Some(&session)).await.status, 200);
}

#[tokio::test]
async fn csrf_with_another_sessions_token_is_refused() {
    let demo = serve().await;
    let (victim, _) = demo.login("victim").await;
    let (attacker, _) = demo.login("attacker").await;
    let attacker_token = demo.token(&attacker).await;
    let r = demo
        .post_form(
            "/notes/",
            Some(&victim),
            &[("_csrf_token", &attacker_token), ("text", "forged")],
        )
        .await;
    assert_eq!(r.status, 403);
    assert!(demo.notes(&victim).await.is_empty());
}

#[tokio::test]
async fn cross_origin_post_with_a_valid_token_is_refused() {
    let demo = serve().await;
    let (session, _) = demo.login("alice").await;
    let token = demo.token(&session).await;
    let cookie = format!("{COOKIE}={session}");
    let body = format!("_csrf_token={token}&text=forged");
    for origin in ["http://evil.test", "null"] {
        let r = demo
            .send(
                "POST",
                "/notes/",
                &[
                    ("Cookie", &cookie),
                    ("Origin", origin),
                    ("Content-Type", "application/x-www-form-urlencoded"),
                ],
                body.as_bytes(),
            )
            .await;
        assert_eq!(r.status, 403, "{origin}");
    }
    assert!(demo.notes(&session).await.is_empty());
}

#[tokio::test]
async fn logout_destroys_the_session_and_the_old_cookie_is_dead() {
    let demo = serve().await;
    let (session, _) = demo.login("alice").await;
    let token = demo.token(&session).await;
    let r = demo
        .post_form("/logout/", Some(&session), &[("_csrf_token", &token)])
        .await;
    assert_eq!(r.status, 303);
    assert_eq!(r.header("location"), Some("/"));
    let removal = r.set_cookie_line().expect("cookie expired");
    assert!(removal.starts_with(&format!("{COOKIE}=;")), "{removal}");
    assert!(removal.contains("Max-Age=0"), "{removal}");
    assert!(removal.contains("Path=/"), "{removal}");
    // Replaying the cookie: anonymous.
    let home = demo.get("/home/", Some(&session)).await;
    assert_eq!(home.status, 303);
    assert_eq!(home.header("location"), Some("/"));
}

#[tokio::test]
async fn json_api_refuses_navigation_and_answers_script_fetches() {
    let demo = serve().await;
    let (session, _) = demo.login("alice").await;
    let r = demo.get("/json_api/", Some(&session)).await;
    assert_eq!(r.status, 403);
    assert_eq!(
        r.header("content-type"),
        Some("application/json; charset=utf-8")
    );
    assert!(!r.body.contains("notes"));
    let cookie = format!("{COOKIE}={session}");
    let r = demo
        .send(
            "GET",
            "/json_api/",
            &[
                ("Cookie", &cookie),
                ("Sec-Fetch-Site", "same-origin"),
                ("Sec-Fetch-Mode", "cors"),
                ("Sec-Fetch-Dest", "empty"),
            ],
            b"",
        )
        .await;
    assert_eq!(r.status, 200);
    assert_eq!(r.body, r#"{"notes":[],"result":"success"}"#);
    assert_eq!(
        r.header("content-type"),
        Some("application/json; charset=utf-8")
    );
    assert_eq!(r.header("x-content-type-options"), Some("nosniff"));
    assert_eq!(
        r.header("cross-origin-resource-policy"),
        Some("same-origin")
    );
    let r = demo
        .send(
            "GET",
            "/json_api/",
            &[
                ("Cookie", &cookie),
                ("Sec-Fetch-Site", "cross-site"),
                ("Sec-Fetch-Mode", "no-cors"),
                ("Sec-Fetch-Dest", "script"),
            ],
            b"",
        )
        .await;
    assert_eq!(r.status, 403);
}

#[tokio::test]
async fn exempt_route_needs_no_token_but_its_spellings_reach_nothing_unchecked() {
    let demo = serve().await;
    let r = demo.send("POST", "/public_api/", &[], b"").await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body, r#"{"result":"success"}"#);
    // Other spellings are other routes: either unknown (404) or checked (403).
    for target in [
        "//public_api/",
        "/public_api/../login/",
        "/PUBLIC_API/",
        "/public_api",
        "/%70ublic_api/",
    ] {
        let r = demo
            .send(
                "POST",
                target,
                &[("Content-Type", "application/x-www-form-urlencoded")],
                b"username=mallory",
            )
            .await;
        assert!(r.status == 403 || r.status == 404, "{target}: {}", r.status);
        assert!(r.session_cookie().is_none(), "{target} logged someone in");
    }
}

#[tokio::test]
async fn unknown_routes_and_the_frameable_page_carry_the_header_policy() {
    let demo = serve().await;
    let r = demo.get("/nope", None).await;
    assert_eq!(r.status, 404);
    assert_hardened(&r);
    let r = demo.get("/embed/", None).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.header("x-frame-options"), Some("SAMEORIGIN"));
    assert!(r
        .header("content-security-policy")
        .is_some_and(|c| c.contains("frame-ancestors 'self'")));
}

#[tokio::test]
async fn session_cookie_is_httponly_and_samesite_lax() {
    let demo = serve().await;
    let r = demo.get("/login/", None).await;
    let line = r.set_cookie_line().unwrap();
    assert!(line.contains("HttpOnly"), "{line}");
    assert!(line.contains("SameSite=Lax"), "{line}");
    assert!(line.contains("Path=/"), "{line}");
    assert_eq!(r.header("cache-control"), Some("no-store"));
    let counts: HashMap<&str, usize> = r.headers.iter().fold(HashMap::new(), |mut m, (k, _)| {
        *m.entry(k.as_str()).or_default() += 1;
        m
    });
    assert_eq!(counts.get("set-cookie"), Some(&1));
}

#[tokio::test]
async fn login_follows_a_safe_next_and_ignores_an_unsafe_one() {
    let demo = serve().await;
    for (next, expected) in [
        ("/json_api/?from=login", "/json_api/?from=login"),
        ("//evil.test/", "/home/"),
        ("https://evil.test/", "/home/"),
        ("/\\evil.test", "/home/"),
        ("/%2F%2Fevil.test", "/home/"),
        ("javascript:alert(1)", "/home/"),
    ] {
        let q: String = form_urlencoded::Serializer::new(String::new())
            .append_pair("next", next)
            .finish();
        let form = demo.get(&format!("/login/?{q}"), None).await;
        let pre = form.session_cookie().unwrap();
        let carried = form.body.contains(r#"name="next""#);
        assert_eq!(
            carried,
            next == expected,
            "{next}: only a safe next is carried in the form"
        );
        let r = demo
            .post_form(
                "/login/",
                Some(&pre),
                &[
                    ("_csrf_token", &form.csrf_token()),
                    ("username", "alice"),
                    ("next", next),
                ],
            )
            .await;
        assert_eq!(r.status, 303, "{next}");
        assert_eq!(r.header("location"), Some(expected), "{next}");
    }
}

#[tokio::test]
async fn strict_preset_pages_use_the_nonce_of_their_csp() {
    let demo = serve_with(|c| c.header_preset = mitten_demo::HeaderPreset::Strict).await;
    let (session, _) = demo.login("alice").await;
    let home = demo.get("/home/", Some(&session)).await;
    let csp = home.header("content-security-policy").unwrap().to_owned();
    let nonce = csp
        .split_ascii_whitespace()
        .find_map(|s| {
            s.strip_prefix("'nonce-")
                .and_then(|s| s.strip_suffix("';").or(s.strip_suffix('\'')))
        })
        .expect("a nonce in the CSP")
        .to_owned();
    assert!(csp.starts_with("default-src 'self'"), "{csp}");
    // The layout's <style> and the page's <script> carry it, and nothing
    // inline runs without it.
    assert_eq!(
        home.body.matches(&format!(r#"nonce="{nonce}""#)).count(),
        2,
        "{}",
        home.body
    );
    assert_eq!(home.body.matches("<script").count(), 1);
    assert_eq!(home.body.matches("<style").count(), 1);
    let again = demo.get("/home/", Some(&session)).await;
    assert!(!again.body.contains(&nonce), "nonces are per response");
}

#[tokio::test]
async fn logout_clears_site_data() {
    let demo = serve().await;
    let (session, _) = demo.login("alice").await;
    let token = demo.token(&session).await;
    let r = demo
        .post_form("/logout/", Some(&session), &[("_csrf_token", &token)])
        .await;
    assert_eq!(
        r.header("clear-site-data"),
        Some(r#""cache", "cookies", "storage""#)
    );
}
