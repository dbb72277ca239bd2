//! # Mitten
//!
//! One tower layer that makes an axum app safe against the basic web
//! threats by default: **clickjacking**, **CSRF**, **banner grabbing**,
//! **JSON hijacking** and **session fixation**.
//!
//! ```
//! use axum::{routing::{get, post}, Router};
//! use mitten::{Mitten, Session, SessionError};
//!
//! async fn login(session: Session) -> Result<&'static str, SessionError> {
//!     session.regenerate().await?;
//!     session.insert("user", "alice").await?;
//!     Ok("logged in")
//! }
//!
//! # fn main() -> Result<(), mitten::BuildError> {
//! let mitten = Mitten::builder()
//!     .secret_key(std::env::var("SECRET_KEY").unwrap_or_else(|_| "x".repeat(64)))
//!     .banner("My Nice Banner!")
//!     .build()?;
//!
//! let app: Router = Router::new()
//!     .route("/", get(|| async { "hello" }))
//!     .route("/login", post(login))
//!     .layer(mitten.layer());
//! # Ok(()) }
//! ```
//!
//! After that one `.layer(...)`:
//! - every response carries `X-Frame-Options: DENY`, CSP
//!   `frame-ancestors 'none'` (merged into the app's own CSP), `nosniff`,
//!   `Referrer-Policy`, `X-XSS-Protection: 0`; `Server` is the configured
//!   banner or absent; `X-Powered-By` is gone; every cookie is `HttpOnly`
//!   and `SameSite` ([`headers`]);
//! - every `POST`/`PUT`/`PATCH`/`DELETE` must pass the origin and token
//!   checks of [`csrf`] before its handler runs;
//! - JSON-only routes refuse navigation and cross-site inclusion ([`json`]);
//! - [`Session`] keeps data server-side under a signed random id
//!   ([`session`]).
//!
//! See `ARCHITECTURE.md` in the repository for the path a request takes.

#![forbid(unsafe_code)]
#![warn(missing_docs)]

#[cfg(feature = "fuzzing")]
#[doc(hidden)]
pub mod __fuzz;
mod builder;
mod config;
pub mod csp;
pub mod csrf;
pub mod headers;
mod host;
pub mod json;
mod keys;
mod layer;
pub mod redirect;
mod rejection;
pub mod report;
pub mod session;
#[cfg(any(feature = "redis", feature = "postgres", feature = "sqlite"))]
pub mod stores;
#[cfg(feature = "minijinja")]
pub mod templates;

pub use builder::{BuildError, Mitten, MittenBuilder};
pub use cookie::SameSite;
pub use csp::CspNonce;
pub use csrf::CsrfToken;
pub use headers::{FrameOptions, HeaderPolicy};
pub use keys::MIN_KEY_LEN;
pub use layer::{MittenLayer, MittenService, ResponseFuture};
pub use rejection::Rejection;
pub use report::{Protection, Report};
pub use session::memory::MemoryStore;
pub use session::store::{Record, SessionStore, StoreError};
pub use session::{Session, SessionError};
