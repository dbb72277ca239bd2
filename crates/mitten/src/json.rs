//! JSON hijacking (XSSI) protection for routes marked JSON-only.
//!
//! A JSON-only route answers only script-initiated, same-origin fetches:
//! `X-Requested-With: XMLHttpRequest` (which no cross-site page can send
//! without a CORS preflight), or Fetch Metadata saying `Sec-Fetch-Mode:
//! cors|same-origin` with `Sec-Fetch-Dest: empty`. Navigation, `<script>`,
//! `<img>`, `<link>` and other no-cors loads, and any cross-site or
//! same-site request, get 403. Answers are forced to
//! `application/json; charset=utf-8` with `nosniff` and
//! `Cross-Origin-Resource-Policy: same-origin`.
//!
//! ```
//! # fn main() -> Result<(), mitten::BuildError> {
//! let mitten = mitten::Mitten::builder()
//!     .secret_key([7u8; 32])
//!     .json_only("/api/notes")
//!     .build()?;
//! # Ok(()) }
//! ```

use http::{header, HeaderMap, HeaderValue};

use crate::csrf::origin::single;
use crate::rejection::Rejection;

/// Request headers the JSON guard reads (for `Vary`).
pub(crate) const VARY: [&str; 4] = [
    "X-Requested-With",
    "Sec-Fetch-Site",
    "Sec-Fetch-Mode",
    "Sec-Fetch-Dest",
];

pub(crate) fn check(headers: &HeaderMap) -> Result<(), Rejection> {
    // A repeated header is ambiguous: refused, never read as its first value.
    if VARY.iter().any(|n| single(headers, *n).is_err()) {
        return Err(Rejection::JsonNotFetch);
    }
    let get = |n: &str| headers.get(n).map(HeaderValue::as_bytes);
    // Anything Fetch Metadata says against us wins over X-Requested-With.
    match get("sec-fetch-site") {
        None | Some(b"same-origin") => {}
        Some(_) => return Err(Rejection::JsonNotFetch),
    }
    let mode = get("sec-fetch-mode");
    let dest = get("sec-fetch-dest");
    if dest.is_some_and(|d| d != b"empty") {
        return Err(Rejection::JsonNotFetch);
    }
    if mode.is_some_and(|m| m != b"cors" && m != b"same-origin") {
        return Err(Rejection::JsonNotFetch);
    }
    let xhr = get("x-requested-with").is_some_and(|v| v.eq_ignore_ascii_case(b"XMLHttpRequest"));
    let fetch = matches!(mode, Some(b"cors") | Some(b"same-origin")) && dest == Some(b"empty");
    if xhr || fetch {
        Ok(())
    } else {
        Err(Rejection::JsonNotFetch)
    }
}

/// Forces the JSON content type and cross-origin resource policy.
pub(crate) fn fix_response(headers: &mut HeaderMap) {
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json; charset=utf-8"),
    );
    headers.insert(
        "cross-origin-resource-policy",
        HeaderValue::from_static("same-origin"),
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    fn h(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        pairs
            .iter()
            .map(|(k, v)| {
                (
                    http::HeaderName::from_static(k),
                    HeaderValue::from_static(v),
                )
            })
            .collect()
    }

    #[test]
    fn guard_decisions() {
        assert!(check(&h(&[("x-requested-with", "XMLHttpRequest")])).is_ok());
        assert!(check(&h(&[
            ("sec-fetch-mode", "cors"),
            ("sec-fetch-dest", "empty"),
            ("sec-fetch-site", "same-origin")
        ]))
        .is_ok());
        assert!(check(&h(&[])).is_err());
        assert!(check(&h(&[
            ("sec-fetch-mode", "navigate"),
            ("sec-fetch-dest", "document")
        ]))
        .is_err());
        assert!(check(&h(&[
            ("sec-fetch-mode", "no-cors"),
            ("sec-fetch-dest", "script")
        ]))
        .is_err());
        assert!(check(&h(&[
            ("sec-fetch-dest", "image"),
            ("x-requested-with", "XMLHttpRequest")
        ]))
        .is_err());
        let mut twice = h(&[("x-requested-with", "XMLHttpRequest")]);
        twice.append("sec-fetch-dest", HeaderValue::from_static("empty"));
        twice.append("sec-fetch-dest", HeaderValue::from_static("script"));
        assert!(check(&twice).is_err(), "repeated Sec-Fetch-Dest");
        assert!(check(&h(&[
            ("sec-fetch-site", "cross-site"),
            ("sec-fetch-mode", "cors"),
            ("sec-fetch-dest", "empty")
        ]))
        .is_err());
    }
}
