//! The layer: one pass per request that runs every protection in order.
//!
//! 1. Route facts from axum's `MatchedPath` (one map lookup), the Host
//!    allow-list, the JSON guard. No body, no I/O.
//! 2. Session cookie parsed and verified (signature only; no store I/O).
//! 3. Unsafe method (or a method-override attempt) on a route that is not
//!    exempt: origin layer, then token layer (form body read up to the limit
//!    and handed on intact). No store I/O.
//! 4. The inner service runs with a lazy [`Session`] in the request
//!    extensions.
//! 5. On the way out ([`Finish`]): the session is persisted if it changed (a
//!    store error turns the response into 503 and leaves the cookie alone),
//!    the cookie is set or expired, and the header policy is applied to
//!    whatever response came back, Mitten's own refusals included.
//!
//! Steps 1, 2 and 4 are synchronous for the common request (safe method or
//! exempt route), whose response future is the inner future polled in
//! place; only the CSRF body check and a session save continue in a boxed
//! future.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{ready, Context, Poll};

use axum::body::Body;
use axum::extract::MatchedPath;
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use http::request::Parts;
use http::{header, Extensions, HeaderMap, HeaderValue, Method, Request, Uri};
use pin_project_lite::pin_project;
use tower_layer::Layer;
use tower_service::Service;

use crate::config::Config;
use crate::csrf::check as csrf;
use crate::headers::{self, CompiledHeaders, FrameOptions, ResponseCtx, Vary};
use crate::rejection::Rejection;
use crate::report::Report;
use crate::session::cookie::{self, RawCookie};
use crate::session::{Outcome, Session};
use crate::{host, json};

type BoxError = Box<dyn std::error::Error + Send + Sync>;
type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send>>;

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

pin_project! {
    /// The response future of [`MittenService`].
    pub struct ResponseFuture<F, E> {
        #[pin]
        state: State<F, E>,
    }
}

pin_project! {
    #[project = StateProj]
    enum State<F, E> {
        /// Refused before the handler ran.
        Ready { res: Option<Response> },
        /// The inner service's future, in place; `finish` runs after it.
        Inner { #[pin] fut: F, finish: Option<Finish> },
        /// The session is being saved.
        Saving { fut: BoxFuture<Response> },
        /// The CSRF body check, the handler and the finish, boxed.
        Checking { fut: BoxFuture<Result<Response, E>> },
    }
}

impl<F, ResBody, E> Future for ResponseFuture<F, E>
where
    F: Future<Output = Result<http::Response<ResBody>, E>>,
    ResBody: http_body::Body<Data = Bytes> + Send + 'static,
    ResBody::Error: Into<BoxError>,
{
    type Output = Result<Response, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut this = self.project();
        loop {
            match this.state.as_mut().project() {
                StateProj::Ready { res } => {
                    return Poll::Ready(Ok(res.take().expect("polled after completion")))
                }
                StateProj::Checking { fut } => return fut.as_mut().poll(cx),
                StateProj::Saving { fut } => return fut.as_mut().poll(cx).map(Ok),
                StateProj::Inner { fut, finish } => {
                    let res = ready!(fut.poll(cx))?.map(Body::new);
                    let mut finish = finish.take().expect("polled after completion");
                    let mut res = res;
                    if finish.finish_now(&mut res) {
                        return Poll::Ready(Ok(res));
                    }
                    this.state.set(State::Saving {
                        fut: Box::pin(finish.run(res)),
                    });
                }
            }
        }
    }
}

impl<F, E> std::fmt::Debug for ResponseFuture<F, E> {
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
    type Future = ResponseFuture<S::Future, S::Error>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut req: Request<B>) -> Self::Future {
        // The request stays whole on the common path (no move of its parts
        // out and back); only the CSRF body check takes it apart.
        let mut finish = Finish::new(self.cfg.clone(), Head::of(&req));

        // A second Mitten layer on the same request (nested routers, a layer
        // applied twice) leaves host, session and CSRF to the outer one.
        let outer = req.extensions().get::<Session>().cloned();
        if outer.is_none() && !finish.cfg.allowed_hosts.is_empty() {
            let head = Head::of(&req);
            let host = host::request_host(head.headers, head.uri, finish.cfg.trust_forwarded);
            if let Err(r) =
                host::check(&finish.cfg.allowed_hosts, host).or_else(|r| gate(&finish.cfg, head, r))
            {
                return ready(finish.refuse(r, head));
            }
        }
        if finish.json {
            finish.vary.add(Vary::JSON);
            let head = Head::of(&req);
            if let Err(r) = json::check(head.headers).or_else(|r| gate(&finish.cfg, head, r)) {
                return ready(finish.refuse(r, head));
            }
        }

        let session = match outer {
            Some(s) => s,
            None => {
                let cookie = cookie::find(req.headers(), &finish.cfg.session.cookie_name);
                finish.owned = true;
                if csrf::needs_check(req.method(), req.uri(), req.headers()) && !finish.csrf_exempt
                {
                    finish.vary.add(Vary::CSRF);
                    // The clone that was driven to readiness goes into the
                    // future.
                    let clone = self.inner.clone();
                    let inner = std::mem::replace(&mut self.inner, clone);
                    let (parts, body) = req.into_parts();
                    return ResponseFuture {
                        state: State::Checking {
                            fut: Box::pin(checked(finish, inner, parts, body, cookie)),
                        },
                    };
                }
                // Verified only if the handler touches the session.
                Session::new(finish.cfg.clone(), cookie)
            }
        };
        req.extensions_mut().insert(session.clone());
        finish.session = Some(session);
        ResponseFuture {
            state: State::Inner {
                fut: self.inner.call(req.map(Body::new)),
                finish: Some(finish),
            },
        }
    }
}

/// The parts of a request the decisions read, from a whole request or its
/// split parts alike.
#[derive(Clone, Copy)]
struct Head<'a> {
    method: &'a Method,
    uri: &'a Uri,
    headers: &'a HeaderMap,
    extensions: &'a Extensions,
}

impl<'a> Head<'a> {
    fn of<B>(req: &'a Request<B>) -> Self {
        Self {
            method: req.method(),
            uri: req.uri(),
            headers: req.headers(),
            extensions: req.extensions(),
        }
    }

    fn of_parts(parts: &'a Parts) -> Self {
        Self {
            method: &parts.method,
            uri: &parts.uri,
            headers: &parts.headers,
            extensions: &parts.extensions,
        }
    }

    /// The router's pattern for this request, if it matched one.
    fn pattern(self) -> Option<&'a str> {
        self.extensions
            .get::<MatchedPath>()
            .map(MatchedPath::as_str)
    }
}

fn ready<F, E>(res: Response) -> ResponseFuture<F, E> {
    ResponseFuture {
        state: State::Ready { res: Some(res) },
    }
}

/// An unsafe request: both CSRF layers, then the handler, then the finish.
async fn checked<S, B, ResBody>(
    mut finish: Finish,
    mut inner: S,
    mut parts: Parts,
    body: B,
    raw: RawCookie,
) -> Result<Response, S::Error>
where
    S: Service<Request<Body>, Response = http::Response<ResBody>>,
    B: http_body::Body<Data = Bytes> + Send + 'static,
    B::Error: Into<BoxError>,
    ResBody: http_body::Body<Data = Bytes> + Send + 'static,
    ResBody::Error: Into<BoxError>,
{
    let cfg = finish.cfg.clone();
    // The token is bound to the id: this request's cookie is verified now.
    let cookie = raw.verify(&cfg.keys, &cfg.session.cookie_name);
    let host = host::request_host(&parts.headers, &parts.uri, cfg.trust_forwarded);
    let scheme = finish.https.then_some("https");
    let pass = |r| gate(&cfg, Head::of_parts(&parts), r);
    let body = match csrf::check(&cfg, &pass, &parts.headers, host, scheme, body, cookie).await {
        Ok(body) => body,
        Err(r) => return Ok(finish.refuse(r, Head::of_parts(&parts))),
    };
    let session = Session::verified(cfg.clone(), raw, cookie);
    parts.extensions.insert(session.clone());
    finish.session = Some(session);
    let res = inner.call(Request::from_parts(parts, body)).await?;
    Ok(finish.run(res.map(Body::new)).await)
}

/// Enforce or, for a report-only protection, report and let through: `Ok`
/// when the request may go on despite `r`.
fn gate(cfg: &Config, head: Head<'_>, r: Rejection) -> Result<(), Rejection> {
    let protection = r.protection();
    if !cfg.report_only.contains(&protection) {
        return Err(r);
    }
    let pattern = head.pattern();
    tracing::warn!(
        target: "mitten::report",
        protection = protection.name(),
        reason = r.reason(),
        method = %head.method,
        route = pattern.unwrap_or("<unmatched>"),
        "report-only: request would have been refused"
    );
    if let Some(f) = &cfg.on_report {
        f(&Report {
            protection,
            reason: r.reason(),
            method: head.method.as_str(),
            route: pattern,
        });
    }
    Ok(())
}

/// What the response needs, decided before the handler runs; owns all it
/// holds, so it can wait in the response future.
struct Finish {
    cfg: Arc<Config>,
    json: bool,
    csrf_exempt: bool,
    frame: FrameOptions,
    /// The route's own header policy; `None` is the app's.
    policy: Option<Arc<CompiledHeaders>>,
    https: bool,
    /// Request headers the decisions read.
    vary: Vary,
    session: Option<Session>,
    /// This layer made the session (and so saves it).
    owned: bool,
}

impl Finish {
    fn new(cfg: Arc<Config>, head: Head<'_>) -> Self {
        // No pattern (an unmatched path) finds no rules: no exemption.
        let rules = head.pattern().and_then(|p| cfg.routes.get(p));
        Self {
            json: rules.is_some_and(|r| r.json),
            csrf_exempt: rules.is_some_and(|r| r.csrf_exempt),
            frame: rules
                .and_then(|r| r.frame)
                .unwrap_or(cfg.headers.frame_options),
            policy: rules.and_then(|r| r.headers.clone()),
            https: host::is_https(head.headers, cfg.https, cfg.trust_forwarded),
            vary: Vary::default(),
            session: None,
            owned: false,
            cfg,
        }
    }

    /// Finishes the response without an await when the session needs no
    /// store call (untouched, or only read). `false` (and `res` untouched)
    /// when [`run`](Self::run) must.
    fn finish_now(&mut self, res: &mut Response) -> bool {
        if self.owned {
            let Some(session) = self.session.clone() else {
                return false;
            };
            if !session.is_untouched() {
                match session.finish_now() {
                    Some(outcome) => self.apply_outcome(&outcome, res.headers_mut()),
                    None => return false,
                }
            }
        }
        self.apply_headers(res);
        true
    }

    /// Saves the session if it changed, then finishes the response.
    async fn run(mut self, res: Response) -> Response {
        let (mut parts, body) = res.into_parts();
        if let (true, Some(session)) = (self.owned, self.session.clone()) {
            match session.finish().await {
                Ok(outcome) => self.apply_outcome(&outcome, &mut parts.headers),
                // The handler's response is dropped: its changes were not
                // saved, and the browser keeps its cookie.
                Err(e) => {
                    let mut res = e.into_response();
                    self.apply_headers(&mut res);
                    return res;
                }
            }
        }
        let mut res = Response::from_parts(parts, body);
        self.apply_headers(&mut res);
        res
    }

    /// Cookie, caching and `Clear-Site-Data` for what the handler did to
    /// the session.
    fn apply_outcome(&mut self, outcome: &Outcome, h: &mut HeaderMap) {
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
            self.vary.add(Vary::COOKIE);
        }
        if outcome.destroyed && self.cfg.session.clear_site_data {
            h.insert(
                "clear-site-data",
                HeaderValue::from_static("\"cache\", \"cookies\", \"storage\""),
            );
        }
    }

    fn apply_headers(&self, res: &mut Response) {
        let frame = res
            .extensions()
            .get::<FrameOptions>()
            .copied()
            .unwrap_or(self.frame);
        let nonce = self.session.as_ref().and_then(Session::nonce_if_used);
        let ctx = ResponseCtx {
            frame,
            https: self.https,
            nonce,
        };
        let policy = self.policy.as_deref().unwrap_or(&self.cfg.headers.policy);
        let h = res.headers_mut();
        headers::apply(h, &self.cfg.headers, policy, ctx);
        if self.json {
            json::fix_response(h);
        }
        self.vary.apply(h);
    }

    /// Mitten's own refusal, with the same header policy as any response.
    fn refuse(&self, r: Rejection, head: Head<'_>) -> Response {
        tracing::warn!(
            target: "mitten::reject",
            protection = r.protection().name(),
            reason = r.reason(),
            method = %head.method,
            route = head.pattern().unwrap_or("<unmatched>"),
            "request refused"
        );
        let mut res = match &self.cfg.on_reject {
            Some(f) => f(&r),
            None => r.default_response(self.json),
        };
        self.apply_headers(&mut res);
        res
    }
}

/// A response that depends on the session is never stored by a shared
/// cache, whatever the handler said: `public` and `s-maxage` go, `private`
/// is added; `no-store` is kept as the stronger choice.
fn make_private(h: &mut HeaderMap) {
    if !h.contains_key(header::CACHE_CONTROL) {
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static("private"));
        return;
    }
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
