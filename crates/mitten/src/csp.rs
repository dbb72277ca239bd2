//! Content Security Policy: policies validated when the layer is built, and
//! a fresh nonce per response for inline scripts and styles.
//!
//! A handler (or template) that asks for the [`CspNonce`] gets one random
//! value for this response; Mitten adds `'nonce-…'` to the policy's
//! `script-src` and `style-src` (deriving them from `default-src` when the
//! policy has only that), so exactly the tags carrying the nonce run.
//!
//! ```
//! use axum::{response::Html, routing::get, Router};
//! use mitten::{CspNonce, HeaderPolicy, Mitten};
//!
//! async fn page(nonce: CspNonce) -> Html<String> {
//!     Html(format!(r#"<script nonce="{}">console.log("allowed")</script>"#, nonce.value()))
//! }
//!
//! # fn main() -> Result<(), mitten::BuildError> {
//! let mitten = Mitten::builder()
//!     .secret_key([7u8; 32])
//!     .header_policy(HeaderPolicy::strict()) // default-src 'self'; …
//!     .build()?;
//! let app: Router = Router::new().route("/", get(page)).layer(mitten.layer());
//! # Ok(()) }
//! ```
//!
//! Policies are checked when the layer is built: an unknown directive, a
//! directive given twice, a keyword without its quotes (`self` instead of
//! `'self'`) or `'none'` mixed with other sources is a
//! [`BuildError`](crate::BuildError) naming the problem.

use axum::extract::FromRequestParts;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use http::request::Parts;

use crate::session::{Session, SessionError};

/// Directives of CSP Level 3 (and the still-honoured older ones).
const DIRECTIVES: &[&str] = &[
    "default-src",
    "script-src",
    "script-src-elem",
    "script-src-attr",
    "style-src",
    "style-src-elem",
    "style-src-attr",
    "img-src",
    "font-src",
    "connect-src",
    "media-src",
    "object-src",
    "frame-src",
    "child-src",
    "worker-src",
    "manifest-src",
    "fenced-frame-src",
    "base-uri",
    "form-action",
    "frame-ancestors",
    "sandbox",
    "report-uri",
    "report-to",
    "upgrade-insecure-requests",
    "block-all-mixed-content",
    "require-trusted-types-for",
    "trusted-types",
    "webrtc",
];

/// Keywords that are only meaningful inside single quotes.
const KEYWORDS: &[&str] = &[
    "self",
    "none",
    "unsafe-inline",
    "unsafe-eval",
    "strict-dynamic",
    "unsafe-hashes",
    "report-sample",
    "wasm-unsafe-eval",
    "unsafe-allow-redirects",
    "inline-speculation-rules",
];

const SANDBOX_TOKENS: &[&str] = &[
    "allow-downloads",
    "allow-forms",
    "allow-modals",
    "allow-orientation-lock",
    "allow-pointer-lock",
    "allow-popups",
    "allow-popups-to-escape-sandbox",
    "allow-presentation",
    "allow-same-origin",
    "allow-scripts",
    "allow-storage-access-by-user-activation",
    "allow-top-navigation",
    "allow-top-navigation-by-user-activation",
    "allow-top-navigation-to-custom-protocols",
];

#[derive(Clone, Debug, PartialEq, Eq)]
struct Directive {
    name: String,
    values: Vec<String>,
}

/// A parsed, validated policy.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Csp {
    directives: Vec<Directive>,
}

fn is_source_list(name: &str) -> bool {
    name.ends_with("-src") || matches!(name, "base-uri" | "form-action" | "frame-ancestors")
}

fn check_source(directive: &str, s: &str) -> Result<(), String> {
    let bad = |why: String| Err(format!("CSP `{directive}`: {why}"));
    if let Some(inner) = s.strip_prefix('\'') {
        let Some(inner) = inner.strip_suffix('\'') else {
            return bad(format!("{s} is missing its closing quote"));
        };
        let lower = inner.to_ascii_lowercase();
        if KEYWORDS.contains(&lower.as_str()) {
            return Ok(());
        }
        let b64 = |v: &str| {
            !v.is_empty()
                && v.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"+/=-_".contains(&b))
        };
        for prefix in ["nonce-", "sha256-", "sha384-", "sha512-"] {
            if let Some(v) = lower.strip_prefix(prefix) {
                return if b64(&inner[inner.len() - v.len()..]) {
                    Ok(())
                } else {
                    bad(format!("{s} is not a valid {prefix}… source"))
                };
            }
        }
        return bad(format!("unknown keyword {s}"));
    }
    if KEYWORDS.contains(&s.to_ascii_lowercase().as_str()) {
        return bad(format!("the keyword `{s}` must be quoted: '{s}'"));
    }
    if s == "*" {
        return Ok(());
    }
    // A scheme source (`https:`, `data:`) or a host source
    // (`*.example.com`, `https://cdn.example.com:443/path`).
    let valid = s
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b":/.-_*+~%@?=&#[]".contains(&b) || b == b'!')
        && !s.contains(['\'', '"', ',', ';']);
    let scheme_only = s.ends_with(':')
        && s[..s.len() - 1]
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"+.-".contains(&b));
    if !valid || (s.ends_with(':') && !scheme_only) {
        return bad(format!("{s:?} is not a valid source expression"));
    }
    Ok(())
}

impl Csp {
    /// Parses and validates a serialized policy.
    pub(crate) fn parse(policy: &str) -> Result<Self, String> {
        let mut directives: Vec<Directive> = Vec::new();
        for part in policy.split(';') {
            let mut tokens = part.split_ascii_whitespace();
            let Some(name) = tokens.next() else { continue };
            let name = name.to_ascii_lowercase();
            if !DIRECTIVES.contains(&name.as_str()) {
                return Err(format!("CSP: unknown directive `{name}`"));
            }
            if directives.iter().any(|d| d.name == name) {
                return Err(format!(
                    "CSP: `{name}` is given twice (browsers ignore the second)"
                ));
            }
            let values: Vec<String> = tokens.map(str::to_owned).collect();
            if is_source_list(&name) {
                for v in &values {
                    check_source(&name, v)?;
                }
                if values.len() > 1 && values.iter().any(|v| v.eq_ignore_ascii_case("'none'")) {
                    return Err(format!(
                        "CSP `{name}`: 'none' cannot be combined with other sources"
                    ));
                }
                if values.is_empty() {
                    return Err(format!(
                        "CSP `{name}`: no sources (write 'none' to allow nothing)"
                    ));
                }
            }
            match name.as_str() {
                "sandbox" => {
                    if let Some(v) = values
                        .iter()
                        .find(|v| !SANDBOX_TOKENS.contains(&v.to_ascii_lowercase().as_str()))
                    {
                        return Err(format!("CSP `sandbox`: unknown token `{v}`"));
                    }
                }
                "upgrade-insecure-requests" | "block-all-mixed-content" if !values.is_empty() => {
                    return Err(format!("CSP `{name}` takes no value"));
                }
                "require-trusted-types-for" if values != ["'script'"] => {
                    return Err(
                        "CSP `require-trusted-types-for`: the only value is 'script'".into(),
                    );
                }
                "report-uri" | "report-to" if values.is_empty() => {
                    return Err(format!("CSP `{name}` needs a value"));
                }
                _ => {}
            }
            directives.push(Directive { name, values });
        }
        if directives.is_empty() {
            return Err("CSP: the policy is empty".into());
        }
        Ok(Self { directives })
    }

    pub(crate) fn has(&self, name: &str) -> bool {
        self.directives.iter().any(|d| d.name == name)
    }

    /// True when a nonce would change what runs: the policy restricts
    /// scripts or styles.
    pub(crate) fn uses_nonces(&self) -> bool {
        ["script-src", "style-src", "default-src"]
            .iter()
            .any(|d| self.has(d))
    }

    /// The header value: the policy, `frame` (`frame-ancestors …`) added
    /// unless the policy states its own, and `'nonce-…'` in `script-src`
    /// and `style-src`.
    pub(crate) fn render(&self, frame: Option<&str>, nonce: Option<&str>) -> String {
        let mut out = String::with_capacity(256);
        let mut push = |name: &str, values: &mut dyn Iterator<Item = &str>| {
            if !out.is_empty() {
                out.push_str("; ");
            }
            out.push_str(name);
            for v in values {
                out.push(' ');
                out.push_str(v);
            }
        };
        let nonce_src = nonce.map(|n| format!("'nonce-{n}'"));
        // `'none'` cannot stand beside a nonce; the nonce alone means the same
        // "nothing else".
        let with_nonce = |d: &Directive| -> Vec<String> {
            let mut v: Vec<String> = d
                .values
                .iter()
                .filter(|s| !s.eq_ignore_ascii_case("'none'"))
                .cloned()
                .collect();
            v.extend(nonce_src.clone());
            v
        };
        for d in &self.directives {
            match (&nonce_src, d.name.as_str()) {
                (Some(_), "script-src" | "style-src") => {
                    let v = with_nonce(d);
                    push(&d.name, &mut v.iter().map(String::as_str));
                }
                _ => push(&d.name, &mut d.values.iter().map(String::as_str)),
            }
        }
        if nonce_src.is_some() {
            if let Some(default) = self.directives.iter().find(|d| d.name == "default-src") {
                for derived in ["script-src", "style-src"] {
                    if !self.has(derived) {
                        let v = with_nonce(default);
                        push(derived, &mut v.iter().map(String::as_str));
                    }
                }
            }
        }
        if let Some(frame) = frame {
            if !self.has("frame-ancestors") {
                push(frame, &mut std::iter::empty());
            }
        }
        out
    }
}

/// The `frame-ancestors` directive of a serialized policy is present. On
/// bytes: a policy with non-ASCII bytes (which `to_str()` refuses) still
/// has directives.
pub(crate) fn states_frame_ancestors(policy: &[u8]) -> bool {
    policy.split(|&b| b == b';').any(|d| {
        d.split(u8::is_ascii_whitespace)
            .find(|t| !t.is_empty())
            .is_some_and(|n| n.eq_ignore_ascii_case(b"frame-ancestors"))
    })
}

/// 128 random bits, a fresh nonce. URL-safe base64 (allowed by the CSP
/// grammar) so no template engine ever needs to escape it.
pub(crate) fn new_nonce() -> Result<String, getrandom::Error> {
    Ok(URL_SAFE_NO_PAD.encode(crate::keys::random_bytes::<16>()?))
}

/// This response's CSP nonce; an axum extractor.
///
/// Every use in one request gives the same value; every response gets a
/// new one. Asking for it is what makes Mitten add `'nonce-…'` to the
/// response's policy, so a page that never asks pays nothing.
#[derive(Clone)]
pub struct CspNonce {
    value: String,
}

impl CspNonce {
    /// The nonce, for a `nonce="…"` attribute (URL-safe base64: letters,
    /// digits, `-` and `_`, safe anywhere in HTML).
    pub fn value(&self) -> &str {
        &self.value
    }
}

impl std::fmt::Debug for CspNonce {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("CspNonce(..)")
    }
}

impl std::fmt::Display for CspNonce {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.value)
    }
}

impl<S: Send + Sync> FromRequestParts<S> for CspNonce {
    type Rejection = SessionError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let session = Session::from_request_parts(parts, state).await?;
        Ok(Self {
            value: session.csp_nonce()?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn valid_policies_parse() {
        for ok in [
            "default-src 'self'; form-action 'self'; base-uri 'self'; object-src 'none'",
            "script-src 'self' 'nonce-abc+/=' https://cdn.example.com:443/js/ *.example.org data:",
            "img-src * blob:; upgrade-insecure-requests",
            "sandbox allow-scripts allow-forms; report-to main",
            "default-src 'none'; script-src 'sha256-abc=' 'strict-dynamic' 'unsafe-inline'",
        ] {
            Csp::parse(ok).unwrap_or_else(|e| panic!("{ok}: {e}"));
        }
    }

    #[test]
    fn mistakes_are_named() {
        for (bad, needle) in [
            ("default-src self", "must be quoted: 'self'"),
            ("script-src 'self' unsafe-inline", "must be quoted"),
            ("script-scr 'self'", "unknown directive `script-scr`"),
            ("default-src 'self'; default-src 'none'", "given twice"),
            ("object-src 'none' 'self'", "'none' cannot be combined"),
            ("script-src 'unsafe-everything'", "unknown keyword"),
            ("script-src 'self", "closing quote"),
            ("img-src", "no sources"),
            ("sandbox allow-everything", "unknown token"),
            ("upgrade-insecure-requests yes", "takes no value"),
            ("", "empty"),
            ("script-src \"self\"", "not a valid source"),
        ] {
            let e = Csp::parse(bad).unwrap_err();
            assert!(e.contains(needle), "{bad}: {e}");
        }
    }

    #[test]
    fn nonce_goes_into_script_and_style_src_or_is_derived_from_default_src() {
        let p = Csp::parse("default-src 'self'; object-src 'none'").unwrap();
        assert_eq!(
            p.render(Some("frame-ancestors 'none'"), Some("N")),
            "default-src 'self'; object-src 'none'; script-src 'self' 'nonce-N'; \
             style-src 'self' 'nonce-N'; frame-ancestors 'none'"
        );
        let p = Csp::parse("script-src 'none'; style-src 'self'").unwrap();
        assert_eq!(
            p.render(None, Some("N")),
            "script-src 'nonce-N'; style-src 'self' 'nonce-N'"
        );
        assert_eq!(p.render(None, None), "script-src 'none'; style-src 'self'");
        let p = Csp::parse("img-src 'self'; frame-ancestors https://a.example").unwrap();
        assert_eq!(
            p.render(Some("frame-ancestors 'none'"), Some("N")),
            "img-src 'self'; frame-ancestors https://a.example"
        );
        assert!(!p.uses_nonces());
    }
}
