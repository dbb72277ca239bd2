//! The CSRF check itself: which requests it applies to, and its two layers
//! (origin, then token) run before the handler. No store I/O: the token is
//! verified against the id in the signed cookie.

use axum::body::Body;
use bytes::Bytes;
use http::{HeaderMap, HeaderName, Method};

use super::extract::{self, Form, Read};
use super::{origin, token};
use crate::config::Config;
use crate::rejection::Rejection;
use crate::session::CookieId;

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// Unsafe methods (anything but GET, HEAD, OPTIONS, in any spelling) and any
/// request that tries a method override, so an override can never turn a
/// checked request into an unchecked one or the reverse.
pub(crate) fn needs_check(method: &Method, uri: &http::Uri, headers: &HeaderMap) -> bool {
    if !matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS) {
        return true;
    }
    static OVERRIDES: [HeaderName; 3] = [
        HeaderName::from_static("x-http-method-override"),
        HeaderName::from_static("x-http-method"),
        HeaderName::from_static("x-method-override"),
    ];
    // One pass over the request's header names beats a hash lookup per
    // override name: this runs on every safe request.
    let override_header = headers.keys().any(|k| OVERRIDES.contains(k));
    override_header
        || uri.query().is_some_and(|q| {
            form_urlencoded::parse(q.as_bytes()).any(|(k, _)| k.eq_ignore_ascii_case("_method"))
        })
}

/// Both CSRF layers. `pass` is the report-only gate: `Ok` lets a refused
/// request go on (with its body intact).
pub(crate) async fn check<B>(
    cfg: &Config,
    pass: &(dyn Fn(Rejection) -> Result<(), Rejection> + Sync),
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
    .or_else(pass)?;
    let (body, verdict) = token_layer(cfg, headers, body, cookie).await?;
    verdict.or_else(pass)?;
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
