//! The layer: one pass per request that runs every protection in order.
//!
//! 1. JSON-only route? The JSON guard decides (no body needed).
//! 2. Session cookie parsed and verified (signature only; no store I/O).
//! 3. Unsafe method (or a method-override attempt) on a route that is not
//!    exempt: origin layer, then token layer (form body read up to the limit
//!    and handed on intact). No store I/O.
//! 4. The inner service runs with a lazy [`Session`] in the request
//!    extensions.
//! 5. On the way out: the session is persisted if it changed (a store error
//!    turns the response into 503 and leaves the cookie alone), the cookie is
//!    set or expired, and the header policy is applied to whatever response
//!    came back, Mitten's own refusals included.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use axum::body::Body;
use axum::extract::MatchedPath;
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use http::{header, HeaderMap, HeaderName, HeaderValue, Method, Request};
use tower_layer::Layer;
use tower_service::Service;

use crate::config::Config;
use crate::csrf::extract::{self, Form, Read};
use crate::csrf::{origin, token};
use crate::headers::{self, CompiledHeaders, FrameOptions, ResponseCtx};
use crate::rejection::Rejection;
use crate::report::Report;
use crate::session::{cookie, CookieId, Outcome, Session};
use crate::{host, json};

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// The [`Layer`] that applies Mitten; made by [`Mitten::layer`](crate::Mitten::layer).
#[derive(Clone)]
pub struct MittenLayer {
    pub(crate) cfg: Arc<Config>,
}

impl std::fmt::Debug for MittenLayer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MittenLayer").finish_non_exhaustive()
    }
}

impl<S> Layer<S> for MittenLayer {
    type Service = MittenService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        MittenService {
            inner,
            cfg: self.cfg.clone(),
        }
    }
}

/// The [`Service`] that applies Mitten around an inner service.
#[derive(Clone)]
pub struct MittenService<S> {
    inner: S,
    cfg: Arc<Config>,
}

impl<S> std::fmt::Debug for MittenService<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MittenService").finish_non_exhaustive()
    }
}

/// The response future of [`MittenService`].
pub struct ResponseFuture<E> {
    inner: Pin<Box<dyn Future<Output = Result<Response, E>> + Send>>,
}

impl<E> Future for ResponseFuture<E> {
    type Output = Result<Response, E>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        self.inner.as_mut().poll(cx)
    }
}

impl<E> std::fmt::Debug for ResponseFuture<E> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ResponseFuture").finish_non_exhaustive()
    }
}

impl<S, B, ResBody> Service<Request<B>> for MittenService<S>
where
    S: Service<Request<Body>, Response = http::Response<ResBody>> + Clone + Send + 'static,
    S::Future: Send + 'static,
    S::Error: Send + 'static,
    B: http_body::Body<Data = Bytes> + Send + 'static,
    B::Error: Into<BoxError>,
    ResBody: http_body::Body<Data = Bytes> + Send + 'static,
    ResBody::Error: Into<BoxError>,
{
    type Response = Response;
    type Error = S::Error;
    type Future = ResponseFuture<S::Error>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request<B>) -> Self::Future {
        // The clone that was driven to readiness goes into the future.
        let clone = self.inner.clone();
        let inner = std::mem::replace(&mut self.inner, clone);
        ResponseFuture {
            inner: Box::pin(handle(self.cfg.clone(), inner, req)),
        }
    }
}

/// What the request asked of the header policy, decided up front.
struct Route<'a> {
    json: bool,
    frame: FrameOptions,
    vary: Vec<&'static str>,
    policy: &'a CompiledHeaders,
    https: bool,
}

/// Enforce or, for a report-only protection, report and let through.
struct Gate<'a> {
    cfg: &'a Config,
    method: &'a Method,
    pattern: Option<&'a str>,
}

impl Gate<'_> {
    /// `Ok` when the request may go on despite `r` (report-only).
    fn pass(&self, r: Rejection) -> Result<(), Rejection> {
        let protection = r.protection();
        if !self.cfg.report_only.contains(&protection) {
            return Err(r);
        }
        tracing::warn!(
            target: "mitten::report",
            protection = protection.name(),
            reason = r.reason(),
            method = %self.method,
            route = self.pattern.unwrap_or("<unmatched>"),
            "report-only: request would have been refused"
        );
        if let Some(f) = &self.cfg.on_report {
            f(&Report {
                protection,
                reason: r.reason(),
                method: self.method.as_str(),
                route: self.pattern,
            });
        }
        Ok(())
    }
}

async fn handle<S, B, ResBody>(
    cfg: Arc<Config>,
    mut inner: S,
    req: Request<B>,
) -> Result<Response, S::Error>
where
    S: Service<Request<Body>, Response = http::Response<ResBody>>,
    B: http_body::Body<Data = Bytes> + Send + 'static,
    B::Error: Into<BoxError>,
    ResBody: http_body::Body<Data = Bytes> + Send + 'static,
    ResBody::Error: Into<BoxError>,
{
    let (mut parts, body) = req.into_parts();
    let matched = parts.extensions.get::<MatchedPath>().cloned();
    let pattern = matched.as_ref().map(MatchedPath::as_str);
    // No pattern (an unmatched path) finds no rules: no exemption.
    let rules = pattern.and_then(|p| cfg.routes.get(p));
    let mut route = Route {
        json: rules.is_some_and(|r| r.json),
        frame: rules
            .and_then(|r| r.frame)
            .unwrap_or(cfg.headers.frame_options),
        vary: Vec::new(),
        policy: rules
            .and_then(|r| r.headers.as_deref())
            .unwrap_or(&cfg.headers.policy),
        https: host::is_https(&parts.headers, cfg.https, cfg.trust_forwarded),
    };
    let gate = Gate {
        cfg: &cfg,
        method: &parts.method,
        pattern,
    };

    // A second Mitten layer on the same request (nested routers, a layer
    // applied twice) leaves host, session and CSRF to the outer one.
    let outer_session = parts.extensions.get::<Session>().cloned();
    let nested = outer_session.is_some();
    let host = host::request_host(&parts.headers, &parts.uri, cfg.trust_forwarded);
    if !nested {
        if let Err(r) = host::check(&cfg.allowed_hosts, host).or_else(|r| gate.pass(r)) {
            return Ok(reject(&cfg, r, &parts.method, pattern, &route));
        }
    }
    if route.json {
        route.vary.extend(json::VARY);
        if let Err(r) = json::check(&parts.headers).or_else(|r| gate.pass(r)) {
            return Ok(reject(&cfg, r, &parts.method, pattern, &route));
        }
    }

    let (session, owned, body) = match outer_session {
        Some(s) => (s, false, Body::new(body)),
        None => {
            let cookie = cookie::read(&parts.headers, &cfg.session.cookie_name, &cfg.keys);
            let body = if needs_check(&parts.method, &parts.uri, &parts.headers)
                && !rules.is_some_and(|r| r.csrf_exempt)
            {
                route.vary.extend(["Origin", "Sec-Fetch-Site"]);
                let scheme = route.https.then_some("https");
                match csrf_check(&cfg, &gate, &parts.headers, host, scheme, body, cookie).await {
                    Ok(body) => body,
                    Err(r) => return Ok(reject(&cfg, r, &parts.method, pattern, &route)),
                }
            } else {
                Body::new(body)
            };
            (Session::new(cfg.clone(), cookie), true, body)
        }
    };
    parts.extensions.insert(session.clone());

    let res = inner.call(Request::from_parts(parts, body)).await?;
    let (mut res_parts, res_body) = res.into_parts();
    if owned {
        match session.finish().await {
            Ok(outcome) => apply_outcome(&cfg, &outcome, &mut res_parts.headers, &mut route),
            // The handler's response is dropped: its changes were not saved,
            // and the browser keeps its cookie.
            Err(e) => {
                let mut res = e.into_response();
                finish_headers(&cfg, &route, session.nonce_if_used(), res.headers_mut());
                return Ok(res);
            }
        }
    }
    if let Some(f) = res_parts.extensions.get::<FrameOptions>().copied() {
        route.frame = f;
    }
    finish_headers(
        &cfg,
        &route,
        session.nonce_if_used(),
        &mut res_parts.headers,
    );
    Ok(Response::from_parts(res_parts, Body::new(res_body)))
}

/// Cookie, caching and `Clear-Site-Data` for what the handler did to the
/// session.
fn apply_outcome(cfg: &Config, outcome: &Outcome, h: &mut HeaderMap, route: &mut Route<'_>) {
    if let Some(c) = outcome
        .set_cookie
        .as_deref()
        .and_then(|c| HeaderValue::from_str(c).ok())
    {
        h.append(header::SET_COOKIE, c);
    }
    if outcome.no_store {
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    } else if outcome.accessed {
        make_private(h);
    }
    if outcome.accessed {
        route.vary.push("Cookie");
    }
    if outcome.destroyed && cfg.session.clear_site_data {
        h.insert(
            "clear-site-data",
            HeaderValue::from_static("\"cache\", \"cookies\", \"storage\""),
        );
    }
}

/// A response that depends on the session is never stored by a shared
/// cache, whatever the handler said: `public` and `s-maxage` go, `private`
/// is added; `no-store` is kept as the stronger choice.
fn make_private(h: &mut HeaderMap) {
    let current: Vec<String> = h
        .get_all(header::CACHE_CONTROL)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(|d| d.trim().to_owned())
        .filter(|d| !d.is_empty())
        .collect();
    let lower = |d: &str| d.to_ascii_lowercase();
    if current
        .iter()
        .any(|d| matches!(lower(d).as_str(), "private" | "no-store"))
    {
        return;
    }
    let mut kept: Vec<String> = vec!["private".to_owned()];
    kept.extend(current.into_iter().filter(|d| {
        let d = lower(d);
        d != "public" && !d.starts_with("s-maxage")
    }));
    if let Ok(v) = HeaderValue::from_str(&kept.join(", ")) {
        h.insert(header::CACHE_CONTROL, v);
    }
}

fn finish_headers(cfg: &Config, route: &Route<'_>, nonce: Option<&str>, h: &mut HeaderMap) {
    let ctx = ResponseCtx {
        frame: route.frame,
        https: route.https,
        nonce,
    };
    headers::apply(h, &cfg.headers, route.policy, ctx);
    if route.json {
        json::fix_response(h);
    }
    if !route.vary.is_empty() {
        headers::add_vary(h, &route.vary);
    }
}

fn reject(
    cfg: &Config,
    r: Rejection,
    method: &Method,
    pattern: Option<&str>,
    route: &Route<'_>,
) -> Response {
    tracing::warn!(
        target: "mitten::reject",
        protection = r.protection().name(),
        reason = r.reason(),
        method = %method,
        route = pattern.unwrap_or("<unmatched>"),
        "request refused"
    );
    let mut res = match &cfg.on_reject {
        Some(f) => f(&r),
        None => r.default_response(route.json),
    };
    finish_headers(cfg, route, None, res.headers_mut());
    res
}

/// Unsafe methods (anything but GET, HEAD, OPTIONS, in any spelling) and any
/// request that tries a method override, so an override can never turn a
/// checked request into an unchecked one or the reverse.
fn needs_check(method: &Method, uri: &http::Uri, headers: &HeaderMap) -> bool {
    if !matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS) {
        return true;
    }
    static OVERRIDES: [HeaderName; 3] = [
        HeaderName::from_static("x-http-method-override"),
        HeaderName::from_static("x-http-method"),
        HeaderName::from_static("x-method-override"),
    ];
    let override_header = OVERRIDES.iter().any(|h| headers.contains_key(h));
    override_header
        || uri.query().is_some_and(|q| {
            form_urlencoded::parse(q.as_bytes()).any(|(k, _)| k.eq_ignore_ascii_case("_method"))
        })
}

/// Both CSRF layers. A report-only layer's failure is reported and the
/// request goes on with its body intact.
async fn csrf_check<B>(
    cfg: &Config,
    gate: &Gate<'_>,
    headers: &HeaderMap,
    host: Option<&str>,
    scheme: Option<&str>,
    body: B,
    cookie: CookieId,
) -> Result<Body, Rejection>
where
    B: http_body::Body<Data = Bytes> + Send + 'static,
    B::Error: Into<BoxError>,
{
    origin::check(
        headers,
        host,
        scheme,
        cfg.csrf.own_origin.as_ref(),
        &cfg.csrf.trusted,
    )
    .or_else(|r| gate.pass(r))?;
    let (body, verdict) = token_layer(cfg, headers, body, cookie).await?;
    verdict.or_else(|r| gate.pass(r))?;
    Ok(body)
}

/// The token layer: the body to hand on, and the verdict. `Err` only when
/// the body itself is lost (the client broke off), so nothing can go on.
async fn token_layer<B>(
    cfg: &Config,
    headers: &HeaderMap,
    body: B,
    cookie: CookieId,
) -> Result<(Body, Result<(), Rejection>), Rejection>
where
    B: http_body::Body<Data = Bytes> + Send + 'static,
    B::Error: Into<BoxError>,
{
    let header_token = match extract::header_token(headers) {
        Ok(t) => t,
        Err(r) => return Ok((Body::new(body), Err(r))),
    };
    let form = match extract::form_kind(headers) {
        Ok(f) => f,
        Err(r) => return Ok((Body::new(body), Err(r))),
    };
    let (body, form_token) = match form {
        Form::None => (Body::new(body), Ok(None)),
        Form::UrlEncoded | Form::Multipart(_) => {
            match extract::read_body(headers, body, cfg.csrf.body_limit).await {
                Read::Whole(bytes) => {
                    let t = match form {
                        Form::Multipart(boundary) => {
                            extract::multipart_token(bytes.clone(), boundary).await
                        }
                        _ => extract::urlencoded_token(&bytes),
                    };
                    (Body::from(bytes), t)
                }
                Read::TooLarge(body) => return Ok((body, Err(Rejection::BodyTooLarge))),
                Read::Failed => return Err(Rejection::MalformedBody),
            }
        }
    };
    let verdict = form_token.and_then(|form_token| {
        if header_token.is_none() && form_token.is_none() {
            return Err(Rejection::MissingToken);
        }
        // No session cookie means no token can be valid: this is what stops
        // login CSRF (a first POST with no session at all).
        let CookieId::Valid(id, _) = cookie else {
            return Err(Rejection::InvalidToken);
        };
        for t in header_token.into_iter().chain(form_token.as_deref()) {
            if !token::verify(&cfg.keys, &id, t) {
                return Err(Rejection::InvalidToken);
            }
        }
        Ok(())
    });
    Ok((body, verdict))
}
