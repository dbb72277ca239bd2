//! Cross-site request forgery protection.
//!
//! Every request whose method is not `GET`, `HEAD` or `OPTIONS` (and every
//! request that carries a method-override parameter or header) must pass two
//! checks before the handler runs:
//!
//! 1. **Origin**: Fetch Metadata `Sec-Fetch-Site` must not be
//!    `cross-site` or `same-site` unless the `Origin` is a trusted origin;
//!    an `Origin` (or, without one, a `Referer`) must be the app's own
//!    origin or a trusted origin.
//! 2. **Token**: a token bound to the session, from
//!    the `X-CSRF-Token` header or the `_csrf_token` field of an urlencoded or
//!    multipart form, never from the query string.
//!
//! Templates get a token from the [`CsrfToken`] extractor (or
//! [`Session::csrf_token`](crate::Session::csrf_token)):
//!
//! ```
//! use axum::{routing::get, Router};
//! use mitten::CsrfToken;
//!
//! async fn form(csrf: CsrfToken) -> axum::response::Html<String> {
//!     let token = csrf.token().unwrap_or_default();
//!     axum::response::Html(format!(
//!         r#"<form method="post"><input type="hidden" name="_csrf_token" value="{token}"></form>"#
//!     ))
//! }
//! let app: Router = Router::new().route("/form", get(form));
//! ```

pub(crate) mod check;
pub(crate) mod extract;
pub(crate) mod origin;
pub(crate) mod token;

use axum::extract::FromRequestParts;
use http::request::Parts;

use crate::session::{Session, SessionError};

/// The name of the form field that carries the token.
pub const FORM_FIELD: &str = "_csrf_token";
/// The name of the request header that carries the token.
pub const HEADER_NAME: &str = "x-csrf-token";

/// Mints CSRF tokens for the current session, for templates and scripts.
///
/// Each call of [`token`](Self::token) returns a different string (masked),
/// all valid for this session until it is regenerated or destroyed.
#[derive(Clone)]
pub struct CsrfToken {
    session: Session,
}

impl CsrfToken {
    /// A freshly masked token. If the browser has no session yet, one is
    /// started (a cookie is set; nothing is written to the store).
    pub fn token(&self) -> Result<String, SessionError> {
        self.session.csrf_token()
    }
}

impl std::fmt::Debug for CsrfToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("CsrfToken(<redacted>)")
    }
}

impl<S: Send + Sync> FromRequestParts<S> for CsrfToken {
    type Rejection = SessionError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let session = Session::from_request_parts(parts, state).await?;
        Ok(Self { session })
    }
}
