//! `Mitten::builder()`: every setting, validated once when the layer is built.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use axum::response::Response;
use cookie::SameSite;
use http::HeaderValue;

use crate::config::{Config, CsrfConfig, HeaderConfig, RejectFn, RouteRules, SessionConfig};
use crate::csrf::origin::{Origin, TrustedOrigin};
use crate::headers::{FrameOptions, HeaderPolicy};
use crate::host::HostPattern;
use crate::keys::{KeyRing, MIN_KEY_LEN};
use crate::layer::MittenLayer;
use crate::rejection::Rejection;
use crate::report::{Protection, Report};
use crate::session::memory::MemoryStore;
use crate::session::store::SessionStore;

type RoutePolicyFn = Box<dyn FnOnce(HeaderPolicy) -> HeaderPolicy + Send>;

/// A configuration mistake found when building the layer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("mitten configuration: {0}")]
pub struct BuildError(String);

/// Mitten, configured: make its layer with [`layer`](Self::layer).
///
/// ```
/// use axum::{routing::get, Router};
///
/// # fn main() -> Result<(), mitten::BuildError> {
/// let mitten = mitten::Mitten::builder()
///     .secret_key(b"an example key of at least 32 bytes!!")
///     .banner("My Nice Banner!")
///     .csrf_exempt("/public_api/")
///     .json_only("/json_api/")
///     .build()?;
/// let app: Router = Router::new()
///     .route("/", get(|| async { "hello" }))
///     .layer(mitten.layer());
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct Mitten {
    cfg: Arc<Config>,
}

impl std::fmt::Debug for Mitten {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Mitten").finish_non_exhaustive()
    }
}

impl Mitten {
    /// Starts a configuration with secure defaults.
    pub fn builder() -> MittenBuilder {
        MittenBuilder::default()
    }

    /// The tower layer to add to a router: `.layer(mitten.layer())`.
    pub fn layer(&self) -> MittenLayer {
        MittenLayer {
            cfg: self.cfg.clone(),
        }
    }

    /// The name of the session cookie.
    pub fn cookie_name(&self) -> &str {
        &self.cfg.session.cookie_name
    }

    /// The effective policy, for humans: settings, per-route rules, and the
    /// hardening headers exactly as a plain response gets them (computed by
    /// the same code that sets them).
    pub fn describe(&self) -> String {
        use std::fmt::Write;
        let cfg = &self.cfg;
        let s = &cfg.session;
        let mut out = String::new();
        let list = |v: Vec<String>, none: &str| {
            if v.is_empty() {
                none.to_owned()
            } else {
                v.join(", ")
            }
        };
        let _ = writeln!(out, "session cookie: {}", s.cookie_header("<id>"));
        let _ = writeln!(
            out,
            "session timeouts: idle {} s, absolute {} s; store timeout {} ms",
            s.idle_timeout.as_secs(),
            s.absolute_timeout.as_secs(),
            s.store_timeout.as_millis()
        );
        let _ = writeln!(
            out,
            "https: {}",
            if cfg.https {
                "declared"
            } else {
                "not declared"
            }
        );
        let _ = writeln!(
            out,
            "allowed hosts: {}",
            list(
                cfg.allowed_hosts.iter().map(ToString::to_string).collect(),
                "any (no list)"
            )
        );
        let _ = writeln!(
            out,
            "forwarded headers: {}",
            if cfg.trust_forwarded {
                "trusted"
            } else {
                "ignored"
            }
        );
        let _ = writeln!(
            out,
            "csrf: own origin {}; {} trusted origin(s); form body limit {} bytes",
            cfg.csrf
                .own_origin
                .as_ref()
                .map_or("from the Host header".to_owned(), ToString::to_string),
            cfg.csrf.trusted.len(),
            cfg.csrf.body_limit
        );
        let mut report: Vec<String> = cfg
            .report_only
            .iter()
            .map(|p| p.name().to_owned())
            .collect();
        report.sort();
        let _ = writeln!(out, "report-only: {}", list(report, "none (all enforced)"));
        let mut routes: Vec<_> = cfg.routes.iter().collect();
        routes.sort_by(|a, b| a.0.cmp(b.0));
        for (route, r) in &routes {
            let mut what = Vec::new();
            if r.csrf_exempt {
                what.push("CSRF-exempt".to_owned());
            }
            if r.json {
                what.push("JSON-only".to_owned());
            }
            if let Some(f) = r.frame {
                what.push(format!("framing {f:?}"));
            }
            if r.headers.is_some() {
                what.push("own header policy".to_owned());
            }
            let _ = writeln!(out, "route {route}: {}", what.join(", "));
        }
        let headers_of = |policy: &crate::headers::CompiledHeaders, frame| {
            let mut h = http::HeaderMap::new();
            let ctx = crate::headers::ResponseCtx {
                frame,
                https: cfg.https,
                nonce: None,
            };
            crate::headers::apply(&mut h, &cfg.headers, policy, ctx);
            let mut s = String::new();
            for (k, v) in &h {
                let _ = writeln!(s, "  {k}: {}", v.to_str().unwrap_or("<binary>"));
            }
            s
        };
        let _ = writeln!(out, "headers on every response:");
        out.push_str(&headers_of(&cfg.headers.policy, cfg.headers.frame_options));
        for (route, r) in routes {
            if r.headers.is_some() || r.frame.is_some() {
                let policy = r.headers.as_deref().unwrap_or(&cfg.headers.policy);
                let _ = writeln!(out, "headers on {route}:");
                out.push_str(&headers_of(
                    policy,
                    r.frame.unwrap_or(cfg.headers.frame_options),
                ));
            }
        }
        if !cfg.https {
            let _ = writeln!(
                out,
                "(Strict-Transport-Security is sent once HTTPS is declared)"
            );
        }
        out
    }
}

/// Builds a [`Mitten`]. Every protection is on by default; each method that
/// loosens one is an explicit, visible call.
pub struct MittenBuilder {
    secret: Option<Vec<u8>>,
    fallbacks: Vec<Vec<u8>>,
    store: Option<Arc<dyn SessionStore>>,
    banner: Option<String>,
    exempt: Vec<String>,
    json_only: Vec<String>,
    frame_options: FrameOptions,
    route_frame_options: Vec<(String, FrameOptions)>,
    origin: Option<String>,
    trusted: Vec<String>,
    body_limit: usize,
    script_readable: Vec<String>,
    cookie_name: Option<String>,
    cookie_domain: Option<String>,
    secure: bool,
    same_site: SameSite,
    idle: Duration,
    absolute: Duration,
    max_session_bytes: usize,
    store_timeout: Duration,
    max_save_attempts: u32,
    on_reject: Option<RejectFn>,
    header_policy: HeaderPolicy,
    route_header_policies: Vec<(String, RoutePolicyFn)>,
    https: bool,
    allowed_hosts: Vec<String>,
    trust_forwarded: bool,
    report_only: HashSet<Protection>,
    on_report: Option<crate::report::ReportFn>,
    clear_site_data: bool,
}

impl Default for MittenBuilder {
    fn default() -> Self {
        Self {
            secret: None,
            fallbacks: Vec::new(),
            store: None,
            banner: None,
            exempt: Vec::new(),
            json_only: Vec::new(),
            frame_options: FrameOptions::Deny,
            route_frame_options: Vec::new(),
            origin: None,
            trusted: Vec::new(),
            body_limit: 2 * 1024 * 1024,
            script_readable: Vec::new(),
            cookie_name: None,
            cookie_domain: None,
            secure: true,
            same_site: SameSite::Lax,
            idle: Duration::from_secs(30 * 60),
            absolute: Duration::from_secs(8 * 60 * 60),
            max_session_bytes: 64 * 1024,
            store_timeout: Duration::from_secs(2),
            max_save_attempts: 100,
            on_reject: None,
            header_policy: HeaderPolicy::default(),
            route_header_policies: Vec::new(),
            https: false,
            allowed_hosts: Vec::new(),
            trust_forwarded: false,
            report_only: HashSet::new(),
            on_report: None,
            clear_site_data: false,
        }
    }
}

impl std::fmt::Debug for MittenBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MittenBuilder").finish_non_exhaustive()
    }
}

impl MittenBuilder {
    /// The secret key (at least 32 bytes of high-entropy secret) that signs
    /// session cookies and CSRF tokens. Required; the same on every instance.
    pub fn secret_key(mut self, key: impl AsRef<[u8]>) -> Self {
        self.secret = Some(key.as_ref().to_vec());
        self
    }

    /// A previous secret key that still verifies cookies and tokens during a
    /// rotation (new key in [`secret_key`](Self::secret_key), old key here).
    /// Sessions signed with it move to the new key the next time they are used.
    pub fn fallback_key(mut self, key: impl AsRef<[u8]>) -> Self {
        self.fallbacks.push(key.as_ref().to_vec());
        self
    }

    /// Where sessions live (default: a [`MemoryStore`]).
    pub fn store(mut self, store: impl SessionStore) -> Self {
        self.store = Some(Arc::new(store));
        self
    }

    /// Like [`store`](Self::store), for a store already behind an `Arc`.
    pub fn shared_store(mut self, store: Arc<dyn SessionStore>) -> Self {
        self.store = Some(store);
        self
    }

    /// The `Server` header sent on every response (default: none, the
    /// header is removed).
    pub fn banner(mut self, banner: impl Into<String>) -> Self {
        self.banner = Some(banner.into());
        self
    }

    /// Exempts one route from the CSRF check, by the same pattern string the
    /// router uses (`"/webhooks/{provider}"`). Matched against axum's
    /// [`MatchedPath`](axum::extract::MatchedPath), so no path spelling can
    /// reach another handler unchecked.
    pub fn csrf_exempt(mut self, route: impl Into<String>) -> Self {
        self.exempt.push(route.into());
        self
    }

    /// Marks a route (router pattern) JSON-only: see [`crate::json`].
    pub fn json_only(mut self, route: impl Into<String>) -> Self {
        self.json_only.push(route.into());
        self
    }

    /// Who may frame the app's responses (default [`FrameOptions::Deny`]).
    pub fn frame_options(mut self, frame: FrameOptions) -> Self {
        self.frame_options = frame;
        self
    }

    /// Who may frame one route's responses.
    pub fn route_frame_options(mut self, route: impl Into<String>, frame: FrameOptions) -> Self {
        self.route_frame_options.push((route.into(), frame));
        self
    }

    /// The app's own origin, `scheme://host[:port]`. Without it the origin
    /// check compares the request `Origin` with its `Host` header, which
    /// cannot tell `http` from `https`: set it in production.
    pub fn origin(mut self, origin: impl Into<String>) -> Self {
        self.origin = Some(origin.into());
        self
    }

    /// Another origin allowed to send unsafe requests (still with a valid
    /// token): `https://admin.example.com`, or `https://*.example.com` for
    /// every subdomain over that scheme and port.
    pub fn trusted_origin(mut self, origin: impl Into<String>) -> Self {
        self.trusted.push(origin.into());
        self
    }

    /// The largest form body read for the CSRF check (default 2 MiB; larger
    /// requests get 413).
    pub fn body_limit(mut self, bytes: usize) -> Self {
        self.body_limit = bytes;
        self
    }

    /// A cookie that scripts must read: it does not get `HttpOnly` added
    /// (it still gets `SameSite=Lax` unless it states one).
    pub fn script_readable_cookie(mut self, name: impl Into<String>) -> Self {
        self.script_readable.push(name.into());
        self
    }

    /// The session cookie's name. Default: `__Host-mitten` with `Secure`
    /// cookies, `mitten` without.
    pub fn cookie_name(mut self, name: impl Into<String>) -> Self {
        self.cookie_name = Some(name.into());
        self
    }

    /// A `Domain` for the session cookie (default none: host-only, which is
    /// safer against sibling subdomains).
    pub fn cookie_domain(mut self, domain: impl Into<String>) -> Self {
        self.cookie_domain = Some(domain.into());
        self
    }

    /// Whether the session cookie is `Secure` (default `true`). Turn off only
    /// for plain-HTTP development.
    pub fn secure_cookies(mut self, secure: bool) -> Self {
        self.secure = secure;
        self
    }

    /// The session cookie's `SameSite` (default `Lax`).
    pub fn same_site(mut self, same_site: SameSite) -> Self {
        self.same_site = same_site;
        self
    }

    /// A session unused this long expires (default 30 minutes).
    pub fn idle_timeout(mut self, idle: Duration) -> Self {
        self.idle = idle;
        self
    }

    /// A session expires this long after it was created, however active
    /// (default 8 hours).
    pub fn absolute_timeout(mut self, absolute: Duration) -> Self {
        self.absolute = absolute;
        self
    }

    /// The most session data kept, serialized (default 64 KiB). A change that
    /// would exceed it fails with [`SessionError::TooLarge`](crate::SessionError::TooLarge).
    pub fn max_session_bytes(mut self, bytes: usize) -> Self {
        self.max_session_bytes = bytes;
        self
    }

    /// How long one store call may take before it counts as a failure
    /// (default 2 s); bounds the time to fail when a store is down.
    pub fn store_timeout(mut self, timeout: Duration) -> Self {
        self.store_timeout = timeout;
        self
    }

    /// Replaces the default refusal response (the header policy is still
    /// applied to what it returns).
    pub fn on_reject<F>(mut self, f: F) -> Self
    where
        F: Fn(&Rejection) -> Response + Send + Sync + 'static,
    {
        self.on_reject = Some(Arc::new(f));
        self
    }

    /// The hardening headers for every response (default:
    /// [`HeaderPolicy::default`]; [`HeaderPolicy::strict`] for the OWASP
    /// set).
    pub fn header_policy(mut self, policy: HeaderPolicy) -> Self {
        self.header_policy = policy;
        self
    }

    /// One route's headers: `change` receives the app's policy (as set by
    /// [`header_policy`](Self::header_policy), whenever that is called) and
    /// returns the route's.
    pub fn route_header_policy<F>(mut self, route: impl Into<String>, change: F) -> Self
    where
        F: FnOnce(HeaderPolicy) -> HeaderPolicy + Send + 'static,
    {
        self.route_header_policies
            .push((route.into(), Box::new(change)));
        self
    }

    /// Declares that the app is served over HTTPS (directly or behind a
    /// TLS-terminating proxy): `Strict-Transport-Security` is sent, and the
    /// CSRF check requires `https` origins. Implied by an
    /// [`origin`](Self::origin) that starts with `https://`. Incompatible
    /// with [`secure_cookies(false)`](Self::secure_cookies).
    pub fn https(mut self, https: bool) -> Self {
        self.https = https;
        self
    }

    /// Accepts requests for this host (repeatable): `app.example.com`
    /// (any port), `app.example.com:8443` (that port only), or
    /// `.example.com` (the domain and all its subdomains). Once any host is
    /// listed, every other `Host` gets `400` before the app runs: the
    /// defence against Host-header injection and DNS rebinding.
    pub fn allowed_host(mut self, host: impl Into<String>) -> Self {
        self.allowed_hosts.push(host.into());
        self
    }

    /// Believes `X-Forwarded-Host` and `X-Forwarded-Proto` (their last
    /// value, the one the nearest proxy added). Turn on only behind a proxy
    /// that sets them and strips what clients send.
    pub fn trust_forwarded_headers(mut self, trust: bool) -> Self {
        self.trust_forwarded = trust;
        self
    }

    /// Runs one protection in report-only mode: what it would refuse goes
    /// through and is reported (see [`crate::report`]).
    pub fn report_only(mut self, protection: Protection) -> Self {
        self.report_only.insert(protection);
        self
    }

    /// Called for every decision a report-only protection let through,
    /// besides the `tracing` event.
    pub fn on_report<F>(mut self, f: F) -> Self
    where
        F: Fn(&Report<'_>) + Send + Sync + 'static,
    {
        self.on_report = Some(Arc::new(f));
        self
    }

    /// Sends `Clear-Site-Data: "cache", "cookies", "storage"` with the
    /// response that destroys a session (default off: it also clears the
    /// app's other cookies and storage on this origin).
    pub fn clear_site_data_on_destroy(mut self, clear: bool) -> Self {
        self.clear_site_data = clear;
        self
    }

    /// Validates everything and builds the shared configuration. Mistakes
    /// are errors; legal but risky settings are logged once, here, as
    /// warnings (`target: "mitten::config"`).
    pub fn build(self) -> Result<Mitten, BuildError> {
        let err = |m: String| Err(BuildError(m));
        let Some(secret) = self.secret else {
            return err("a secret key is required: .secret_key(...)".into());
        };
        for k in std::iter::once(&secret).chain(&self.fallbacks) {
            if k.len() < MIN_KEY_LEN {
                return err(format!(
                    "secret keys must be at least {MIN_KEY_LEN} bytes, got {}",
                    k.len()
                ));
            }
        }
        let own_origin = match &self.origin {
            Some(o) => match Origin::parse(o) {
                Some(o) => Some(o),
                None => return err(format!("origin {o:?}: expected scheme://host[:port]")),
            },
            None => None,
        };
        let origin_https = own_origin.as_ref().map(Origin::is_https);
        if self.https && origin_https == Some(false) {
            return err("HTTPS is declared but the origin is http://".into());
        }
        let https = self.https || origin_https == Some(true);
        if https && !self.secure {
            return err(
                "the app declares HTTPS but session cookies are not Secure: drop .secure_cookies(false)"
                    .into(),
            );
        }
        let cookie_name = self.cookie_name.unwrap_or_else(|| {
            if self.secure {
                "__Host-mitten"
            } else {
                "mitten"
            }
            .to_owned()
        });
        if cookie_name.is_empty()
            || !cookie_name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-_.!#$%&'*+^`|~".contains(&b))
        {
            return err(format!("invalid cookie name {cookie_name:?}"));
        }
        // Browsers match the prefixes case-insensitively.
        let prefixed = |p: &str| {
            cookie_name.len() >= p.len() && cookie_name[..p.len()].eq_ignore_ascii_case(p)
        };
        if prefixed("__Host-") && (!self.secure || self.cookie_domain.is_some()) {
            return err("a `__Host-` cookie needs Secure and no Domain".into());
        }
        if prefixed("__Secure-") && !self.secure {
            return err("a `__Secure-` cookie needs Secure".into());
        }
        if self.same_site == SameSite::None && !self.secure {
            return err("SameSite=None needs Secure cookies".into());
        }
        if self.idle.is_zero() || self.absolute.is_zero() {
            return err("session timeouts must be positive".into());
        }
        for r in self
            .exempt
            .iter()
            .chain(&self.json_only)
            .chain(self.route_frame_options.iter().map(|(r, _)| r))
            .chain(self.route_header_policies.iter().map(|(r, _)| r))
        {
            if !r.starts_with('/') {
                return err(format!("route pattern {r:?} must start with `/`"));
            }
        }
        let trusted = self
            .trusted
            .iter()
            .map(|t| TrustedOrigin::parse(t))
            .collect::<Result<Vec<_>, _>>()
            .map_err(BuildError)?;
        let allowed_hosts = self
            .allowed_hosts
            .iter()
            .map(|h| HostPattern::parse(h))
            .collect::<Result<Vec<_>, _>>()
            .map_err(BuildError)?;
        let banner = match self.banner {
            Some(b) => match HeaderValue::from_str(&b) {
                Ok(v) if !b.is_empty() => Some(v),
                _ => return err(format!("banner {b:?} is not a valid header value")),
            },
            None => None,
        };
        let csp_report_only = self.report_only.contains(&Protection::Csp);
        let policy = self
            .header_policy
            .compile()
            .map_err(BuildError)?
            .with_templates(banner.as_ref(), csp_report_only);
        if self.report_only.contains(&Protection::Csp) && policy.csp.is_none() {
            return err(
                "report_only(Protection::Csp) needs a content_security_policy in the header policy"
                    .into(),
            );
        }

        let mut routes: HashMap<String, RouteRules> = HashMap::new();
        for r in &self.exempt {
            routes.entry(r.clone()).or_default().csrf_exempt = true;
        }
        for r in &self.json_only {
            routes.entry(r.clone()).or_default().json = true;
        }
        for (r, f) in &self.route_frame_options {
            routes.entry(r.clone()).or_default().frame = Some(*f);
        }
        for (r, change) in self.route_header_policies {
            let compiled = change(self.header_policy.clone())
                .compile()
                .map_err(|e| BuildError(format!("route {r}: {e}")))?
                .with_templates(banner.as_ref(), csp_report_only);
            routes.entry(r).or_default().headers = Some(Arc::new(compiled));
        }

        let cfg = Config {
            keys: KeyRing::new(&secret, self.fallbacks.iter().map(Vec::as_slice)),
            store: self.store.unwrap_or_else(|| Arc::new(MemoryStore::new())),
            session: SessionConfig {
                cookie_name,
                cookie_domain: self.cookie_domain,
                secure: self.secure,
                same_site: self.same_site,
                idle_timeout: self.idle,
                absolute_timeout: self.absolute,
                max_data_bytes: self.max_session_bytes,
                max_save_attempts: self.max_save_attempts,
                store_timeout: self.store_timeout,
                clear_site_data: self.clear_site_data,
            },
            csrf: CsrfConfig {
                own_origin,
                trusted,
                body_limit: self.body_limit,
            },
            headers: HeaderConfig {
                banner,
                frame_options: self.frame_options,
                policy,
                script_readable_cookies: self.script_readable.into_iter().collect::<HashSet<_>>(),
                csp_report_only,
            },
            routes,
            allowed_hosts,
            trust_forwarded: self.trust_forwarded,
            https,
            report_only: self.report_only,
            on_reject: self.on_reject,
            on_report: self.on_report,
        };
        warn_risky(&cfg, &self.exempt);
        Ok(Mitten { cfg: Arc::new(cfg) })
    }
}

/// Legal settings that loosen a protection, logged once when the layer is
/// built so they are never a surprise in production.
fn warn_risky(cfg: &Config, exempt: &[String]) {
    const T: &str = "mitten::config";
    if !exempt.is_empty() {
        tracing::warn!(target: T, routes = ?exempt, "routes exempt from CSRF checks");
    }
    if !cfg.report_only.is_empty() {
        let mut modes: Vec<&str> = cfg.report_only.iter().map(|p| p.name()).collect();
        modes.sort_unstable();
        tracing::warn!(target: T, protections = ?modes, "report-only: these protections refuse nothing, they only report");
    }
    if cfg.allowed_hosts.is_empty() {
        tracing::warn!(target: T, "no allowed hosts: every Host header is accepted; list yours with .allowed_host(..)");
    }
    if cfg.trust_forwarded {
        tracing::info!(target: T, "X-Forwarded-Host and X-Forwarded-Proto are trusted");
    }
}
