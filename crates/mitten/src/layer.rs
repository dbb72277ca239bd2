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
use http::{header, HeaderMap, HeaderValue, Method, Request};
use tower_layer::Layer;
use tower_service::Service;

use crate::config::Config;
use crate::csrf::extract::{self, Form};
use crate::csrf::{origin, token};
use crate::headers::{self, FrameOptions};
use crate::json;
use crate::rejection::Rejection;
use crate::session::id::SessionId;
use crate::session::{CookieId, Session};

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
struct Route {
    json: bool,
    frame: FrameOptions,
    vary: Vec<&'static str>,
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
    let mut route = Route {
        json: pattern.is_some_and(|p| cfg.json_routes.contains(p)),
        frame: pattern
            .and_then(|p| cfg.headers.route_frame_options.get(p).copied())
            .unwrap_or(cfg.headers.frame_options),
        vary: Vec::new(),
    };

    if route.json {
        route.vary.extend(json::VARY);
        if let Err(r) = json::check(&parts.headers) {
            return Ok(reject(&cfg, r, &parts.method, pattern, &route));
        }
    }

    // A second Mitten layer on the same request (nested routers, a layer
    // applied twice) leaves session and CSRF to the outer one.
    let nested = parts.extensions.get::<Session>().is_some();
    let mut session = None;
    let body = if nested {
        Body::new(body)
    } else {
        let cookie = read_cookie(&parts.headers, &cfg);
        let body = if needs_check(&parts.method, &parts.uri, &parts.headers)
            && !pattern.is_some_and(|p| cfg.csrf.exempt.contains(p))
        {
            route.vary.extend(["Origin", "Sec-Fetch-Site"]);
            match csrf_check(&cfg, &parts.headers, body, cookie).await {
                Ok(body) => body,
                Err(r) => return Ok(reject(&cfg, r, &parts.method, pattern, &route)),
            }
        } else {
            Body::new(body)
        };
        let s = Session::new(cfg.clone(), cookie);
        parts.extensions.insert(s.clone());
        session = Some(s);
        body
    };

    let res = inner.call(Request::from_parts(parts, body)).await?;
    let (mut res_parts, res_body) = res.into_parts();
    let mut res = match session {
        Some(s) => match s.finish().await {
            Ok(outcome) => {
                let h = &mut res_parts.headers;
                if let Some(c) = outcome
                    .set_cookie
                    .and_then(|c| HeaderValue::from_str(&c).ok())
                {
                    h.append(header::SET_COOKIE, c);
                }
                if outcome.no_store {
                    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
                } else if outcome.accessed && !h.contains_key(header::CACHE_CONTROL) {
                    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("private"));
                }
                if outcome.accessed {
                    route.vary.push("Cookie");
                }
                Response::from_parts(res_parts, Body::new(res_body))
            }
            // The handler's response is dropped: its changes were not saved,
            // and the browser keeps its cookie.
            Err(e) => e.into_response(),
        },
        None => Response::from_parts(res_parts, Body::new(res_body)),
    };
    if let Some(f) = res.extensions().get::<FrameOptions>().copied() {
        route.frame = f;
    }
    finish_headers(&cfg, &route, res.headers_mut());
    Ok(res)
}

fn finish_headers(cfg: &Config, route: &Route, h: &mut HeaderMap) {
    headers::apply(h, &cfg.headers, route.frame);
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
    route: &Route,
) -> Response {
    tracing::warn!(
        target: "mitten::reject",
        protection = r.protection(),
        reason = r.reason(),
        method = %method,
        route = pattern.unwrap_or("<unmatched>"),
        "request refused"
    );
    let mut res = match &cfg.on_reject {
        Some(f) => f(&r),
        None => r.default_response(route.json),
    };
    finish_headers(cfg, route, res.headers_mut());
    res
}

/// Unsafe methods (anything but GET, HEAD, OPTIONS, in any spelling) and any
/// request that tries a method override, so an override can never turn a
/// checked request into an unchecked one or the reverse.
fn needs_check(method: &Method, uri: &http::Uri, headers: &HeaderMap) -> bool {
    if !matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS) {
        return true;
    }
    let override_header = [
        "x-http-method-override",
        "x-http-method",
        "x-method-override",
    ]
    .iter()
    .any(|h| headers.contains_key(*h));
    override_header
        || uri.query().is_some_and(|q| {
            form_urlencoded::parse(q.as_bytes()).any(|(k, _)| k.eq_ignore_ascii_case("_method"))
        })
}

/// The session cookie, verified. Several different values (a cookie tossed
/// in from a sibling domain next to ours) are ambiguous: none is adopted.
fn read_cookie(headers: &HeaderMap, cfg: &Config) -> CookieId {
    let name = cfg.session.cookie_name.as_str();
    let mut value: Option<&str> = None;
    for h in headers.get_all(header::COOKIE) {
        let Ok(s) = std::str::from_utf8(h.as_bytes()) else {
            continue;
        };
        for pair in s.split(';') {
            let Some((k, v)) = pair.split_once('=') else {
                continue;
            };
            if k.trim() != name {
                continue;
            }
            let v = v.trim();
            match value {
                Some(prev) if prev != v => {
                    tracing::warn!(target: "mitten::session", "several different session cookies: none adopted");
                    return CookieId::Invalid;
                }
                _ => value = Some(v),
            }
        }
    }
    let Some(v) = value else {
        return CookieId::Absent;
    };
    match SessionId::from_cookie_value(v, &cfg.keys, name) {
        Some((id, key_index)) => CookieId::Valid(id, key_index),
        None => {
            tracing::info!(target: "mitten::session", "session cookie failed verification: not adopted");
            CookieId::Invalid
        }
    }
}

async fn csrf_check<B>(
    cfg: &Config,
    headers: &HeaderMap,
    body: B,
    cookie: CookieId,
) -> Result<Body, Rejection>
where
    B: http_body::Body<Data = Bytes> + Send + 'static,
    B::Error: Into<BoxError>,
{
    let host = headers.get(header::HOST).and_then(|h| h.to_str().ok());
    origin::check(
        headers,
        host,
        cfg.csrf.own_origin.as_ref(),
        &cfg.csrf.trusted,
    )?;
    let header_token = extract::header_token(headers)?;
    let (body, form_token) = match extract::form_kind(headers)? {
        Form::None => (Body::new(body), None),
        Form::UrlEncoded => {
            let bytes = extract::read_body(headers, body, cfg.csrf.body_limit).await?;
            let t = extract::urlencoded_token(&bytes)?;
            (Body::from(bytes), t)
        }
        Form::Multipart(boundary) => {
            let bytes = extract::read_body(headers, body, cfg.csrf.body_limit).await?;
            let t = extract::multipart_token(bytes.clone(), boundary).await?;
            (Body::from(bytes), t)
        }
    };
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
    Ok(body)
}
