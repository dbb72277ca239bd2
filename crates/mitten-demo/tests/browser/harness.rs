//! The machinery of the browser suite: Chromium under chromedriver, the demo
//! served in-process behind a request log, the attacker's server, a bare
//! HTTP client for server-side checks, and bounded waits.

use std::future::Future;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::{Request, State};
use axum::http::{header, HeaderMap, Method, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{Html, Response};
use axum::Router;
use fantoccini::error::CmdError;
use fantoccini::{Client, ClientBuilder};
use http_body_util::{BodyExt, Full};
use hyper_util::rt::TokioIo;
use mitten_demo::{DemoConfig, Weakness};
use serde_json::{json, Value};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::net::TcpListener;
use tokio::process::{Child, Command};

/// The demo's session cookie with `insecure_cookies` (plain HTTP).
pub const COOKIE: &str = "mitten";
/// Marks the suite's own server-side probes, which the request log skips.
const PROBE: &str = "x-e2e-probe";
/// How long any one wait may take before the scenario fails.
const WAIT: Duration = Duration::from_secs(15);
/// How long one whole scenario may take.
const SCENARIO: Duration = Duration::from_secs(180);

/// Why a scenario did not pass.
#[derive(Debug)]
pub enum Fail {
    /// The machinery broke (browser, driver, timeout, a premise of the
    /// scenario): says nothing about Mitten.
    Infra(String),
    /// Checks about the app's behaviour failed; every failed check is listed.
    Checks(Vec<String>),
}

impl From<CmdError> for Fail {
    fn from(e: CmdError) -> Self {
        Fail::Infra(format!("webdriver: {e}"))
    }
}

/// Shorthand for an infrastructure failure.
pub fn infra(msg: impl Into<String>) -> Fail {
    Fail::Infra(msg.into())
}

/// Collects failed checks so one run reports all of them.
#[derive(Default)]
pub struct Checks(Vec<String>);

impl Checks {
    /// Records `msg` as a failure unless `ok`.
    pub fn check(&mut self, ok: bool, msg: impl Into<String>) {
        if !ok {
            let msg = msg.into();
            eprintln!("  check failed: {msg}");
            self.0.push(msg);
        }
    }

    pub fn finish(self) -> Result<(), Fail> {
        if self.0.is_empty() {
            Ok(())
        } else {
            Err(Fail::Checks(self.0))
        }
    }
}

/// Polls `f` until it yields a value, at most [`WAIT`].
pub async fn wait_for<T, F, Fut>(what: &str, mut f: F) -> Result<T, Fail>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<Option<T>, Fail>>,
{
    let deadline = Instant::now() + WAIT;
    loop {
        if let Some(v) = f().await? {
            return Ok(v);
        }
        if Instant::now() > deadline {
            return Err(infra(format!(
                "timed out after {WAIT:?} waiting for {what}"
            )));
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

// ---------------------------------------------------------------- binaries

/// Where Chromium and chromedriver are.
#[derive(Clone)]
pub struct Binaries {
    chromium: PathBuf,
    chromedriver: PathBuf,
}

fn find(env: &str, names: &[&str]) -> Option<PathBuf> {
    if let Some(p) = std::env::var_os(env) {
        return Some(PathBuf::from(p)).filter(|p| p.is_file());
    }
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .flat_map(|dir| names.iter().map(move |n| dir.join(n)))
        .find(|p| p.is_file())
}

/// The browser binaries, or `None` (with a printed reason) when they are
/// missing; under `CI` a missing browser fails the test instead.
pub fn binaries() -> Option<Binaries> {
    let chromium = find("CHROMIUM", &["chromium", "chromium-browser"]);
    let chromedriver = find("CHROMEDRIVER", &["chromedriver"]);
    match (chromium, chromedriver) {
        (Some(chromium), Some(chromedriver)) => Some(Binaries {
            chromium,
            chromedriver,
        }),
        (chromium, chromedriver) => {
            let msg = format!(
                "browser suite needs Chromium and chromedriver (apt-get install chromium \
                 chromium-driver, or set CHROMIUM / CHROMEDRIVER); found chromium: {}, \
                 chromedriver: {}",
                chromium.is_some(),
                chromedriver.is_some()
            );
            if std::env::var_os("CI").is_some() {
                panic!("{msg} (CI is set, so this fails instead of skipping)");
            }
            eprintln!("SKIPPED: {msg}");
            None
        }
    }
}

// ---------------------------------------------------------------- browser

/// One headless Chromium with a fresh profile, driven through its own
/// chromedriver.
pub struct Browser {
    pub c: Client,
    driver: Child,
    profile: PathBuf,
}

static PROFILES: AtomicUsize = AtomicUsize::new(0);

impl Browser {
    pub async fn start(bin: &Binaries) -> Result<Browser, Fail> {
        let profile = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!(
            "chromium-profile-{}-{}",
            std::process::id(),
            PROFILES.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&profile);
        std::fs::create_dir_all(&profile).map_err(|e| infra(format!("profile dir: {e}")))?;
        // Port 0: chromedriver picks a free port and prints it, so parallel
        // tests never race for one.
        let mut driver = Command::new(&bin.chromedriver)
            .arg("--port=0")
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .map_err(|e| infra(format!("cannot start chromedriver: {e}")))?;
        let stdout = driver.stdout.take().ok_or_else(|| infra("no stdout"))?;
        let mut lines = BufReader::new(stdout).lines();
        let port = tokio::time::timeout(WAIT, async {
            while let Ok(Some(line)) = lines.next_line().await {
                if let Some(rest) = line.split("started successfully on port ").nth(1) {
                    return rest.trim_end_matches('.').trim().parse::<u16>().ok();
                }
            }
            None
        })
        .await
        .ok()
        .flatten()
        .ok_or_else(|| infra("chromedriver did not report its port"))?;
        // Keep draining its stdout so it never blocks on a full pipe.
        tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });

        let args = [
            "--headless".to_owned(),
            "--no-sandbox".to_owned(),
            "--disable-gpu".to_owned(),
            "--disable-dev-shm-usage".to_owned(),
            "--disable-quic".to_owned(),
            // Off the network: no background requests, updates, sync or
            // first-run pages (the machine has no route out anyway).
            "--no-first-run".to_owned(),
            "--disable-background-networking".to_owned(),
            "--disable-component-update".to_owned(),
            "--disable-sync".to_owned(),
            "--disable-default-apps".to_owned(),
            "--window-size=1000,700".to_owned(),
            format!("--user-data-dir={}", profile.display()),
        ];
        let caps = json!({
            "browserName": "chrome",
            "goog:chromeOptions": {
                "binary": bin.chromium,
                "args": args,
            },
        });
        let Value::Object(caps) = caps else {
            unreachable!()
        };
        let connector = hyper_util::client::legacy::connect::HttpConnector::new();
        let c = ClientBuilder::new(connector)
            .capabilities(caps)
            .connect(&format!("http://127.0.0.1:{port}"))
            .await
            .map_err(|e| infra(format!("cannot open a WebDriver session: {e}")))?;
        let b = Browser { c, driver, profile };
        b.size_viewport(1000, 700).await?;
        Ok(b)
    }

    /// Sizes the window so that the page area (and so each screenshot) is
    /// `width`×`height`, whatever the window decorations take.
    async fn size_viewport(&self, width: u32, height: u32) -> Result<(), Fail> {
        let extra = self
            .js("return [window.outerWidth - window.innerWidth, window.outerHeight - window.innerHeight]")
            .await?;
        let dim = |i: usize| extra[i].as_u64().unwrap_or(0) as u32;
        self.c
            .set_window_size(width + dim(0), height + dim(1))
            .await?;
        Ok(())
    }

    /// Quits Chromium, then chromedriver, and removes the profile.
    pub async fn close(mut self) {
        let _ = self.c.close().await;
        let _ = self.driver.kill().await;
        let _ = std::fs::remove_dir_all(&self.profile);
    }

    pub async fn goto(&self, url: &str) -> Result<(), Fail> {
        Ok(self.c.goto(url).await?)
    }

    pub async fn url(&self) -> Result<String, Fail> {
        Ok(self.c.current_url().await?.to_string())
    }

    /// Runs `script` (a function body; `return` gives the value).
    pub async fn js(&self, script: &str) -> Result<Value, Fail> {
        Ok(self.c.execute(script, Vec::new()).await?)
    }

    /// Waits until `script` returns something truthy, and returns it.
    pub async fn wait_js(&self, what: &str, script: &str) -> Result<Value, Fail> {
        wait_for(what, || async {
            let v = self.js(script).await?;
            let truthy =
                !matches!(&v, Value::Null | Value::Bool(false)) && v != json!("") && v != json!(0);
            Ok(truthy.then_some(v))
        })
        .await
    }

    /// Waits until the page is `url` (exactly) and fully loaded.
    pub async fn wait_url(&self, url: &str) -> Result<(), Fail> {
        wait_for(&format!("the browser to show {url}"), || async {
            Ok((self.url().await? == url).then_some(()))
        })
        .await?;
        self.wait_js(
            "the page to load",
            "return document.readyState === 'complete'",
        )
        .await?;
        Ok(())
    }

    /// The session cookie's value as the browser holds it for the app
    /// (WebDriver sees `HttpOnly` cookies too). The current page must be on
    /// the app's host.
    pub async fn session_cookie(&self) -> Result<Option<String>, Fail> {
        let cookies = self.c.get_all_cookies().await?;
        Ok(cookies
            .into_iter()
            .find(|c| c.name() == COOKIE)
            .map(|c| c.value().to_owned()))
    }

    /// Saves a PNG of the page as `<target tmp>/screenshots/<run>/<name>.png`.
    pub async fn screenshot(&self, run: &str, name: &str) -> Result<PathBuf, Fail> {
        let png = self.c.screenshot().await?;
        let dir = Path::new(env!("CARGO_TARGET_TMPDIR"))
            .join("screenshots")
            .join(run);
        std::fs::create_dir_all(&dir).map_err(|e| infra(format!("screenshot dir: {e}")))?;
        let path = dir.join(format!("{name}.png"));
        std::fs::write(&path, &png).map_err(|e| infra(format!("screenshot: {e}")))?;
        Ok(path)
    }
}

// ---------------------------------------------------------------- app + log

/// One request the app answered, as the request log saw it (outside
/// Mitten, so refusals are seen too).
#[derive(Clone, Debug)]
pub struct Entry {
    pub method: Method,
    pub path: String,
    pub status: StatusCode,
    pub origin: Option<String>,
    pub referer: Option<String>,
    pub site: Option<String>,
    pub dest: Option<String>,
    pub mode: Option<String>,
    /// The session cookie the request carried.
    pub cookie: Option<String>,
    /// The response's `X-Frame-Options`.
    pub xfo: Option<String>,
}

impl Entry {
    /// Whether the request came from a page of `origin` (by `Origin`, else
    /// by `Referer`).
    pub fn from(&self, origin: &str) -> bool {
        match (&self.origin, &self.referer) {
            (Some(o), _) => o == origin,
            (None, Some(r)) => r == origin || r.starts_with(&format!("{origin}/")),
            (None, None) => false,
        }
    }
}

#[derive(Clone, Default)]
pub struct Log(Arc<Mutex<Vec<Entry>>>);

impl Log {
    pub fn len(&self) -> usize {
        self.0.lock().unwrap().len()
    }

    /// Entries logged since index `since`.
    pub fn since(&self, since: usize) -> Vec<Entry> {
        self.0.lock().unwrap()[since..].to_vec()
    }

    /// Waits for the first entry since `since` that matches.
    pub async fn wait(
        &self,
        since: usize,
        what: &str,
        matches: impl Fn(&Entry) -> bool,
    ) -> Result<Entry, Fail> {
        wait_for(&format!("the app to log {what}"), || async {
            Ok(self.since(since).into_iter().find(|e| matches(e)))
        })
        .await
    }
}

fn header_str(h: &HeaderMap, name: impl header::AsHeaderName) -> Option<String> {
    h.get(name).and_then(|v| v.to_str().ok()).map(str::to_owned)
}

fn cookie_value(h: &HeaderMap, name: &str) -> Option<String> {
    h.get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.to_owned())
}

async fn record(State(log): State<Log>, req: Request, next: Next) -> Response {
    if req.headers().contains_key(PROBE) {
        return next.run(req).await;
    }
    let h = req.headers();
    let mut entry = Entry {
        method: req.method().clone(),
        path: req.uri().path().to_owned(),
        status: StatusCode::OK,
        origin: header_str(h, header::ORIGIN),
        referer: header_str(h, header::REFERER),
        site: header_str(h, "sec-fetch-site"),
        dest: header_str(h, "sec-fetch-dest"),
        mode: header_str(h, "sec-fetch-mode"),
        cookie: cookie_value(h, COOKIE),
        xfo: None,
    };
    let res = next.run(req).await;
    entry.status = res.status();
    entry.xfo = header_str(res.headers(), header::X_FRAME_OPTIONS);
    log.0.lock().unwrap().push(entry);
    res
}

/// A page on the app's own origin (outside Mitten) that frames `src`, for
/// the same-origin half of the clickjacking scenario.
async fn frame_host(req: Request) -> Html<String> {
    let src = req
        .uri()
        .query()
        .unwrap_or("src=/")
        .trim_start_matches("src=");
    Html(frame_page(src))
}

/// A page that frames `src`; the frame's fate is read by the test.
pub fn frame_page(src: &str) -> String {
    let src = html_attr(src);
    format!(
        "<!doctype html><title>framer</title><h1>framer</h1>\
         <iframe id=target src=\"{src}\" width=600 height=400></iframe>"
    )
}

pub fn html_attr(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('"', "&quot;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// The demo, served in-process on a random port of 127.0.0.1.
pub struct App {
    /// `http://127.0.0.1:PORT`
    pub origin: String,
    addr: SocketAddr,
    pub log: Log,
}

/// The protections weakened for this run: the test's own list, plus
/// `MITTEN_E2E_WEAKEN` (comma-separated names from [`Weakness::ALL`]) for
/// running the whole suite against a weakened demo by hand.
pub fn weaknesses(extra: &[Weakness]) -> Vec<Weakness> {
    let mut all = extra.to_vec();
    if let Ok(names) = std::env::var("MITTEN_E2E_WEAKEN") {
        for name in names.split(',').map(str::trim).filter(|n| !n.is_empty()) {
            match Weakness::ALL.iter().find(|(n, _)| *n == name) {
                Some((_, w)) => all.push(*w),
                None => panic!(
                    "MITTEN_E2E_WEAKEN: unknown {name:?}; known: {:?}",
                    Weakness::ALL.map(|(n, _)| n)
                ),
            }
        }
    }
    all
}

impl App {
    pub async fn start(weaken: Vec<Weakness>) -> Result<App, Fail> {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .map_err(|e| infra(format!("bind: {e}")))?;
        let addr = listener.local_addr().map_err(|e| infra(e.to_string()))?;
        let mut cfg = DemoConfig::new(b"browser-suite-key-0123456789abcdefghijklmnop".to_vec());
        cfg.insecure_cookies = true;
        cfg.weaken = weaken;
        let log = Log::default();
        let router = mitten_demo::app(cfg)
            .map_err(infra)?
            .route("/__e2e/frame/", axum::routing::get(frame_host))
            .layer(middleware::from_fn_with_state(log.clone(), record));
        tokio::spawn(async move {
            let _ = axum::serve(listener, router).await;
        });
        Ok(App {
            origin: format!("http://{addr}"),
            addr,
            log,
        })
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.origin)
    }

    /// One request from the test itself (not logged), with `cookie` as
    /// the session cookie.
    pub async fn probe(
        &self,
        method: Method,
        path: &str,
        cookie: Option<&str>,
        headers: &[(&str, &str)],
        body: Option<(&str, String)>,
    ) -> Result<Probe, Fail> {
        let stream = tokio::net::TcpStream::connect(self.addr)
            .await
            .map_err(|e| infra(format!("probe connect: {e}")))?;
        let (mut send, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .map_err(|e| infra(format!("probe handshake: {e}")))?;
        tokio::spawn(conn);
        let mut req = hyper::Request::builder()
            .method(method)
            .uri(path)
            .header(header::HOST, self.addr.to_string())
            .header(PROBE, "1");
        if let Some(c) = cookie {
            req = req.header(header::COOKIE, format!("{COOKIE}={c}"));
        }
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        let body = match body {
            Some((ct, b)) => {
                req = req.header(header::CONTENT_TYPE, ct);
                b
            }
            None => String::new(),
        };
        let req = req
            .body(Full::new(bytes_of(body)))
            .map_err(|e| infra(format!("probe request: {e}")))?;
        let res = send
            .send_request(req)
            .await
            .map_err(|e| infra(format!("probe: {e}")))?;
        let status = res.status();
        let headers = res.headers().clone();
        let body = res
            .into_body()
            .collect()
            .await
            .map_err(|e| infra(format!("probe body: {e}")))?
            .to_bytes();
        Ok(Probe {
            status,
            headers,
            body: String::from_utf8_lossy(&body).into_owned(),
        })
    }

    /// Who the app says is logged in with this session cookie (server-side,
    /// by rendering `/home/`), or `None` for an anonymous session.
    pub async fn user(&self, cookie: Option<&str>) -> Result<Option<String>, Fail> {
        let r = self.probe(Method::GET, "/home/", cookie, &[], None).await?;
        match r.status {
            StatusCode::OK => {
                let user = between(&r.body, "id=\"user\">", "<")
                    .ok_or_else(|| infra("/home/ without #user"))?;
                Ok(Some(user.to_owned()))
            }
            s if s.is_redirection() => Ok(None),
            s => Err(infra(format!("/home/ answered {s}"))),
        }
    }

    /// The notes stored in this session (server-side, through the JSON API
    /// as a same-origin script would ask).
    pub async fn notes(&self, cookie: Option<&str>) -> Result<Vec<String>, Fail> {
        let r = self
            .probe(
                Method::GET,
                "/json_api/",
                cookie,
                &[("x-requested-with", "XMLHttpRequest")],
                None,
            )
            .await?;
        if r.status != StatusCode::OK {
            return Err(infra(format!("/json_api/ probe answered {}", r.status)));
        }
        let v: Value = serde_json::from_str(&r.body).map_err(|e| infra(e.to_string()))?;
        Ok(v["notes"]
            .as_array()
            .ok_or_else(|| infra("no notes in /json_api/"))?
            .iter()
            .filter_map(|n| n.as_str().map(str::to_owned))
            .collect())
    }

    /// What an attacker gets by visiting the app on their own: a session
    /// cookie, and a login as `user` when given (the attacker's own account).
    pub async fn attacker_session(&self, user: Option<&str>) -> Result<String, Fail> {
        let page = self.probe(Method::GET, "/login/", None, &[], None).await?;
        let cookie = set_cookie(&page.headers).ok_or_else(|| infra("/login/ set no cookie"))?;
        let Some(user) = user else {
            return Ok(cookie);
        };
        let token = between(&page.body, "name=\"_csrf_token\" value=\"", "\"")
            .ok_or_else(|| infra("/login/ without a token"))?;
        let body = format!("_csrf_token={token}&username={user}&password=x");
        let origin = self.origin.clone();
        let r = self
            .probe(
                Method::POST,
                "/login/",
                Some(&cookie),
                &[("origin", &origin)],
                Some(("application/x-www-form-urlencoded", body)),
            )
            .await?;
        if !r.status.is_redirection() {
            return Err(infra(format!("attacker's own login answered {}", r.status)));
        }
        set_cookie(&r.headers).ok_or_else(|| infra("login set no cookie"))
    }
}

fn bytes_of(s: String) -> axum::body::Bytes {
    axum::body::Bytes::from(s)
}

/// A response to a probe, fully read.
pub struct Probe {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: String,
}

fn set_cookie(h: &HeaderMap) -> Option<String> {
    h.get_all(header::SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .filter_map(|v| v.strip_prefix(&format!("{COOKIE}=")))
        .map(|v| v.split(';').next().unwrap_or("").to_owned())
        .find(|v| !v.is_empty())
}

pub fn between<'a>(s: &'a str, start: &str, end: &str) -> Option<&'a str> {
    let from = s.find(start)? + start.len();
    let len = s[from..].find(end)?;
    Some(&s[from..from + len])
}

// ---------------------------------------------------------------- attacker

/// The attacker's server: one port on 127.0.0.1 (and `[::1]` when it can),
/// reached as `http://localhost:PORT` (another site) or
/// `http://127.0.0.1:PORT` (the same site as the app, another origin).
pub struct Attacker {
    pub cross_site: String,
    pub same_site: String,
}

impl Attacker {
    pub async fn start(router: Router) -> Result<Attacker, Fail> {
        let v4 = TcpListener::bind("127.0.0.1:0")
            .await
            .map_err(|e| infra(format!("bind: {e}")))?;
        let port = v4.local_addr().map_err(|e| infra(e.to_string()))?.port();
        // `localhost` may resolve to ::1 first; serve it there too.
        if let Ok(v6) = TcpListener::bind(("::1", port)).await {
            let r = router.clone();
            tokio::spawn(async move {
                let _ = axum::serve(v6, r).await;
            });
        }
        tokio::spawn(async move {
            let _ = axum::serve(v4, router).await;
        });
        Ok(Attacker {
            cross_site: format!("http://localhost:{port}"),
            same_site: format!("http://127.0.0.1:{port}"),
        })
    }

    /// Both attacker origins, each with a label for messages.
    pub fn origins(&self) -> [(&'static str, &str); 2] {
        [
            ("cross-site", self.cross_site.as_str()),
            ("same-site sibling", self.same_site.as_str()),
        ]
    }
}

// ---------------------------------------------------------------- runner

/// Everything one scenario gets.
pub struct Harness {
    /// `default`, or the weakened protections (`csrf+json`).
    pub run: String,
    pub app: App,
    pub attacker: Attacker,
    pub b: Browser,
}

/// Starts the demo (with `weaken`), the attacker and a browser, runs the
/// scenario, and always closes the browser, also when the scenario panics.
pub async fn run<F, Fut>(bin: &Binaries, weaken: &[Weakness], scenario: F) -> Result<(), Fail>
where
    F: FnOnce(Arc<Harness>) -> Fut,
    Fut: Future<Output = Result<(), Fail>> + Send + 'static,
{
    let weaken = weaknesses(weaken);
    let run = if weaken.is_empty() {
        "default".to_owned()
    } else {
        let names: Vec<&str> = weaken
            .iter()
            .filter_map(|w| Weakness::ALL.iter().find(|(_, x)| x == w).map(|(n, _)| *n))
            .collect();
        names.join("+")
    };
    let app = App::start(weaken).await?;
    let attacker = Attacker::start(crate::pages::router(app.origin.clone())).await?;
    let b = Browser::start(bin).await?;
    let h = Arc::new(Harness {
        run,
        app,
        attacker,
        b,
    });
    let task = tokio::spawn(tokio::time::timeout(SCENARIO, scenario(h.clone())));
    let outcome = match task.await {
        Ok(Ok(r)) => r,
        Ok(Err(_)) => Err(infra(format!("scenario took longer than {SCENARIO:?}"))),
        Err(e) => Err(infra(format!("scenario panicked: {e}"))),
    };
    match Arc::try_unwrap(h) {
        Ok(h) => h.b.close().await,
        Err(_) => eprintln!("browser still in use; chromedriver is killed on drop"),
    }
    outcome
}
