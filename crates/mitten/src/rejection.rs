//! Why Mitten refused a request, and the default refusal response.

use axum::response::{IntoResponse, Response};
use http::{header, HeaderValue, StatusCode};

use crate::report::Protection;

/// A request Mitten refused before the handler ran.
///
/// The default response is the [`status`](Self::status) with the short
/// [`reason`](Self::reason) as a plain-text body (JSON for JSON-only routes);
/// it never echoes the request's token or cookie. Replace it with
/// [`MittenBuilder::on_reject`](crate::MittenBuilder::on_reject).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Rejection {
    /// `Sec-Fetch-Site` said `cross-site` or `same-site`.
    CrossSiteRequest,
    /// `Sec-Fetch-Site` had a value that is not in the standard.
    InvalidFetchMetadata,
    /// `Origin: null` (sandboxed frames, some redirects, `file:`).
    NullOrigin,
    /// `Origin` is not the app's origin nor a trusted one.
    OriginMismatch,
    /// No `Origin`, and `Referer` is not the app's origin nor a trusted one.
    RefererMismatch,
    /// No CSRF token in the header or the form.
    MissingToken,
    /// A CSRF token that is not valid for this session (or no session).
    InvalidToken,
    /// Several `_csrf_token` fields in one form.
    DuplicateToken,
    /// The body is larger than the configured limit.
    BodyTooLarge,
    /// The form body could not be read or parsed.
    MalformedBody,
    /// A JSON-only route was requested by navigation, as a script, image
    /// or other subresource, or from another site.
    JsonNotFetch,
    /// The `Host` is not on the allow-list (or is missing or malformed).
    HostNotAllowed,
}

impl Rejection {
    /// The HTTP status of the default response.
    pub fn status(&self) -> StatusCode {
        match self {
            Self::BodyTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            Self::MalformedBody | Self::HostNotAllowed => StatusCode::BAD_REQUEST,
            _ => StatusCode::FORBIDDEN,
        }
    }

    /// A short, stable, machine-readable reason.
    pub fn reason(&self) -> &'static str {
        match self {
            Self::CrossSiteRequest => "cross-site request",
            Self::InvalidFetchMetadata => "invalid Sec-Fetch-Site",
            Self::NullOrigin => "null origin",
            Self::OriginMismatch => "origin not allowed",
            Self::RefererMismatch => "referer not allowed",
            Self::MissingToken => "CSRF token missing",
            Self::InvalidToken => "CSRF token invalid",
            Self::DuplicateToken => "several CSRF tokens in one form",
            Self::BodyTooLarge => "request body too large",
            Self::MalformedBody => "malformed form body",
            Self::JsonNotFetch => "JSON endpoint only answers script fetches from this origin",
            Self::HostNotAllowed => "host not allowed",
        }
    }

    /// The protection that made the decision.
    pub fn protection(&self) -> Protection {
        match self {
            Self::CrossSiteRequest
            | Self::InvalidFetchMetadata
            | Self::NullOrigin
            | Self::OriginMismatch
            | Self::RefererMismatch => Protection::CsrfOrigin,
            Self::MissingToken
            | Self::InvalidToken
            | Self::DuplicateToken
            | Self::BodyTooLarge
            | Self::MalformedBody => Protection::CsrfToken,
            Self::JsonNotFetch => Protection::Json,
            Self::HostNotAllowed => Protection::Host,
        }
    }

    pub(crate) fn default_response(&self, json: bool) -> Response {
        let status = self.status();
        if json {
            let body =
                serde_json::json!({ "error": status.canonical_reason(), "reason": self.reason() });
            let mut r = (status, body.to_string()).into_response();
            r.headers_mut().insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json; charset=utf-8"),
            );
            r
        } else {
            (
                status,
                format!(
                    "{}: {}",
                    status.canonical_reason().unwrap_or("Error"),
                    self.reason()
                ),
            )
                .into_response()
        }
    }
}

impl std::fmt::Display for Rejection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.reason())
    }
}
