//! Report-only rollout: a protection in report-only mode lets the request
//! through and reports what it would have refused, as a `tracing` event
//! (`target: "mitten::report"`) and to an optional callback. Turn Mitten on
//! in production, watch the reports, then enforce.
//!
//! ```
//! use mitten::{HeaderPolicy, Mitten, Protection};
//!
//! # fn main() -> Result<(), mitten::BuildError> {
//! let mitten = Mitten::builder()
//!     .secret_key([7u8; 32])
//!     .header_policy(HeaderPolicy::strict())
//!     .report_only(Protection::CsrfOrigin)
//!     .report_only(Protection::Csp)
//!     .on_report(|r| eprintln!("would refuse: {} ({}) on {:?}", r.reason, r.protection, r.route))
//!     .build()?;
//! # Ok(()) }
//! ```
//!
//! Clickjacking protection and session handling are never report-only.

use std::sync::Arc;

/// A protection that can run in report-only mode.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum Protection {
    /// The CSRF origin layer (Fetch Metadata, `Origin`, `Referer`).
    CsrfOrigin,
    /// The CSRF token layer.
    CsrfToken,
    /// The JSON-only guard.
    Json,
    /// The `Host` allow-list.
    Host,
    /// The configured Content Security Policy: sent as
    /// `Content-Security-Policy-Report-Only` (its `frame-ancestors` stays
    /// enforced).
    Csp,
}

impl Protection {
    /// A short stable name: `csrf-origin`, `csrf-token`, `json`, `host`,
    /// `csp`.
    pub fn name(self) -> &'static str {
        match self {
            Self::CsrfOrigin => "csrf-origin",
            Self::CsrfToken => "csrf-token",
            Self::Json => "json",
            Self::Host => "host",
            Self::Csp => "csp",
        }
    }

    /// Every protection, for parsing and listing.
    pub const ALL: [Protection; 5] = [
        Self::CsrfOrigin,
        Self::CsrfToken,
        Self::Json,
        Self::Host,
        Self::Csp,
    ];
}

impl std::fmt::Display for Protection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

impl std::str::FromStr for Protection {
    type Err = String;

    /// Parses a [`name`](Self::name).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|p| p.name().eq_ignore_ascii_case(s.trim()))
            .ok_or_else(|| {
                format!(
                    "unknown protection {s:?} (expected one of {})",
                    Self::ALL.map(Self::name).join(", ")
                )
            })
    }
}

/// A decision a report-only protection would have enforced.
#[derive(Clone, Copy, Debug)]
#[non_exhaustive]
pub struct Report<'a> {
    /// Which protection.
    pub protection: Protection,
    /// Why it would have refused (the same short reason as the refusal).
    pub reason: &'static str,
    /// The request method.
    pub method: &'a str,
    /// The route pattern, when the router matched one.
    pub route: Option<&'a str>,
}

pub(crate) type ReportFn = Arc<dyn Fn(&Report<'_>) + Send + Sync>;
