//! [`HeaderPolicy`]: which hardening headers every response carries, with
//! two presets and per-header changes, validated when the layer is built.

use std::borrow::Cow;
use std::sync::Arc;

use http::{HeaderMap, HeaderName, HeaderValue};

use crate::config::HeaderConfig;
use crate::csp::Csp;
use crate::headers::FrameOptions;

const CSP: &str = "content-security-policy";
const HSTS: &str = "strict-transport-security";

/// Features the strict preset denies to every origin, the page's own
/// included.
const DENIED_FEATURES: &str = "accelerometer=(), autoplay=(), camera=(), display-capture=(), \
     encrypted-media=(), fullscreen=(), geolocation=(), gyroscope=(), magnetometer=(), \
     microphone=(), midi=(), payment=(), picture-in-picture=(), publickey-credentials-get=(), \
     screen-wake-lock=(), sync-xhr=(), usb=(), web-share=(), xr-spatial-tracking=()";

/// The response headers Mitten adds, beyond its fixed ones (`Server`,
/// `X-Frame-Options`, CSP `frame-ancestors`, cookie attributes).
///
/// Start from a preset and change what you need; every value is checked
/// when the layer is built, and a mistake is a [`BuildError`](crate::BuildError)
/// that names it.
///
/// ```
/// use mitten::{HeaderPolicy, Mitten};
///
/// # fn main() -> Result<(), mitten::BuildError> {
/// let mitten = Mitten::builder()
///     .secret_key([7u8; 32])
///     .header_policy(
///         HeaderPolicy::strict()
///             .content_security_policy("default-src 'self'; img-src 'self' https://images.example")
///             .off("Cross-Origin-Embedder-Policy"),
///     )
///     // one route may differ from the app's policy:
///     .route_header_policy("/embed/", |p| p.set("Cross-Origin-Resource-Policy", "cross-origin"))
///     .build()?;
/// # Ok(()) }
/// ```
///
/// A header the handler set itself is kept as it is (Django's rule), except
/// `X-Content-Type-Options` and `X-XSS-Protection`, whose only safe values
/// Mitten always sends, and the CSP, into which Mitten merges
/// `frame-ancestors`. `Strict-Transport-Security` is sent only when the app
/// declares HTTPS ([`MittenBuilder::https`](crate::MittenBuilder::https)).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HeaderPolicy {
    /// Lowercase name → value, or `None` when switched off. The presets'
    /// strings stay borrowed, so their prebuilt values are static: cloning
    /// one per response is a copy, not an atomic reference count.
    entries: Vec<(Cow<'static, str>, Option<Cow<'static, str>>)>,
}

impl Default for HeaderPolicy {
    /// The default set: it never breaks a plain app.
    ///
    /// | header | value |
    /// | --- | --- |
    /// | `X-Content-Type-Options` | `nosniff` |
    /// | `Referrer-Policy` | `strict-origin-when-cross-origin` |
    /// | `X-XSS-Protection` | `0` |
    /// | `Cross-Origin-Opener-Policy` | `same-origin` |
    /// | `X-Permitted-Cross-Domain-Policies` | `none` |
    /// | `Origin-Agent-Cluster` | `?1` |
    /// | `Strict-Transport-Security` | `max-age=63072000; includeSubDomains` (HTTPS only) |
    ///
    /// No CSP beyond `frame-ancestors`.
    fn default() -> Self {
        Self::empty()
            .preset("x-content-type-options", "nosniff")
            .preset("referrer-policy", "strict-origin-when-cross-origin")
            .preset("x-xss-protection", "0")
            .preset("cross-origin-opener-policy", "same-origin")
            .preset("x-permitted-cross-domain-policies", "none")
            .preset("origin-agent-cluster", "?1")
            .preset(HSTS, "max-age=63072000; includeSubDomains")
    }
}

impl HeaderPolicy {
    fn empty() -> Self {
        Self {
            entries: Vec::new(),
        }
    }

    /// The OWASP Secure Headers values: the default set plus a CSP
    /// `default-src 'self'; form-action 'self'; base-uri 'self'; object-src
    /// 'none'` (and `frame-ancestors 'none'` from the frame policy),
    /// `Cross-Origin-Resource-Policy: same-origin`,
    /// `Cross-Origin-Embedder-Policy: require-corp`, a `Permissions-Policy`
    /// denying powerful features, `Referrer-Policy: no-referrer`,
    /// `Cache-Control: no-store` and `X-DNS-Prefetch-Control: off`.
    ///
    /// Inline scripts and styles then need the [`CspNonce`](crate::CspNonce).
    pub fn strict() -> Self {
        Self::default()
            .preset(
                CSP,
                "default-src 'self'; form-action 'self'; base-uri 'self'; object-src 'none'",
            )
            .preset("cross-origin-resource-policy", "same-origin")
            .preset("cross-origin-embedder-policy", "require-corp")
            .preset("permissions-policy", DENIED_FEATURES)
            .preset("referrer-policy", "no-referrer")
            .preset("cache-control", "no-store")
            .preset("x-dns-prefetch-control", "off")
    }

    /// A preset entry: lowercase static name and value.
    fn preset(mut self, name: &'static str, value: &'static str) -> Self {
        self.put(Cow::Borrowed(name), Some(Cow::Borrowed(value)));
        self
    }

    /// Sends `name: value` (replacing the preset's value). Checked when the
    /// layer is built.
    pub fn set(mut self, name: &str, value: &str) -> Self {
        self.put(
            Cow::Owned(name.to_ascii_lowercase()),
            Some(Cow::Owned(value.to_owned())),
        );
        self
    }

    /// Stops sending `name`.
    pub fn off(mut self, name: &str) -> Self {
        self.put(Cow::Owned(name.to_ascii_lowercase()), None);
        self
    }

    /// The Content Security Policy (Mitten adds `frame-ancestors` from the
    /// frame policy unless the policy states it, and nonces when asked).
    pub fn content_security_policy(self, policy: &str) -> Self {
        self.set(CSP, policy)
    }

    /// The `Strict-Transport-Security` value, sent only on HTTPS.
    pub fn strict_transport_security(self, value: &str) -> Self {
        self.set(HSTS, value)
    }

    fn put(&mut self, name: Cow<'static, str>, value: Option<Cow<'static, str>>) {
        match self.entries.iter_mut().find(|(n, _)| *n == name) {
            Some(e) => e.1 = value,
            None => self.entries.push((name, value)),
        }
    }

    /// The headers as `(name, value)` pairs, switched-off ones left out.
    pub fn headers(&self) -> impl Iterator<Item = (&str, &str)> {
        self.entries
            .iter()
            .filter_map(|(n, v)| v.as_deref().map(|v| (n.as_ref(), v)))
    }

    /// Validates every value and prepares the per-response form.
    pub(crate) fn compile(&self) -> Result<CompiledHeaders, String> {
        let mut out = CompiledHeaders {
            fixed: Vec::new(),
            hsts: None,
            csp: None,
            templates: None,
        };
        for (name, value) in &self.entries {
            let Some(value) = value else { continue };
            validate(name, value)?;
            let mut header_value = HeaderValue::from_str(value)
                .map_err(|_| format!("header {name}: {value:?} is not a valid header value"))?;
            if let Cow::Borrowed(v) = value {
                header_value = HeaderValue::from_static(v);
            }
            match name.as_ref() {
                CSP => {
                    let csp = Csp::parse(value)?;
                    out.csp = Some(CompiledCsp::new(csp)?);
                }
                HSTS => out.hsts = Some(header_value),
                _ => {
                    let header_name = match name {
                        Cow::Borrowed(n) => HeaderName::from_static(n),
                        Cow::Owned(n) => HeaderName::from_bytes(n.as_bytes())
                            .map_err(|_| format!("{n:?} is not a valid header name"))?,
                    };
                    let forced =
                        matches!(name.as_ref(), "x-content-type-options" | "x-xss-protection");
                    out.fixed.push((header_name, header_value, forced));
                }
            }
        }
        Ok(out)
    }
}

/// A policy ready for the hot path: parsed once, values prebuilt.
#[derive(Clone, Debug)]
pub(crate) struct CompiledHeaders {
    /// Name, value, and whether Mitten's value replaces the handler's.
    pub(crate) fixed: Vec<(HeaderName, HeaderValue, bool)>,
    pub(crate) hsts: Option<HeaderValue>,
    pub(crate) csp: Option<CompiledCsp>,
    /// The complete header block this policy gives a response that has
    /// none of its headers yet, per frame policy and scheme (see
    /// [`CompiledHeaders::with_templates`]).
    pub(crate) templates: Option<Arc<[HeaderMap; 6]>>,
}

impl CompiledHeaders {
    /// Prebuilds [`CompiledHeaders::templates`] for the configuration that
    /// will use this policy. Each one is what [`super::apply`] makes of an
    /// empty header map, so the fast path that clones a template cannot
    /// disagree with the general one.
    pub(crate) fn with_templates(
        mut self,
        banner: Option<&HeaderValue>,
        csp_report_only: bool,
    ) -> Self {
        self.templates = None;
        let cfg = HeaderConfig {
            banner: banner.cloned(),
            frame_options: FrameOptions::Deny,
            policy: self.clone(),
            script_readable_cookies: Default::default(),
            csp_report_only,
        };
        let build = |i: usize| {
            let frame = [
                FrameOptions::Deny,
                FrameOptions::SameOrigin,
                FrameOptions::Allow,
            ][i / 2];
            // Room for the response's own headers, so appending them after
            // the clone does not grow (and rehash) the table.
            let mut h = HeaderMap::with_capacity(self.fixed.len() + 12);
            let ctx = super::ResponseCtx {
                frame,
                https: i % 2 == 1,
                nonce: None,
            };
            super::apply(&mut h, &cfg, &self, ctx);
            h
        };
        let templates = std::array::from_fn(build);
        self.templates = Some(Arc::new(templates));
        self
    }

    /// The template for `frame` and `https`, when prebuilt.
    pub(crate) fn template(&self, frame: FrameOptions, https: bool) -> Option<&HeaderMap> {
        let t = self.templates.as_deref()?;
        Some(&t[frame as usize * 2 + usize::from(https)])
    }
}

/// A configured CSP with its nonce-free renderings for each frame policy.
#[derive(Clone, Debug)]
pub(crate) struct CompiledCsp {
    pub(crate) policy: Csp,
    rendered: [HeaderValue; 3],
}

impl CompiledCsp {
    fn new(policy: Csp) -> Result<Self, String> {
        let render = |f: FrameOptions| {
            HeaderValue::from_str(&policy.render(f.directive(), None))
                .map_err(|_| "CSP: not a valid header value".to_owned())
        };
        Ok(Self {
            rendered: [
                render(FrameOptions::Deny)?,
                render(FrameOptions::SameOrigin)?,
                render(FrameOptions::Allow)?,
            ],
            policy,
        })
    }

    pub(crate) fn value(&self, frame: FrameOptions, nonce: Option<&str>) -> HeaderValue {
        match nonce {
            Some(n) if self.policy.uses_nonces() => {
                // A nonce is base64 and the policy was validated: always valid.
                HeaderValue::from_str(&self.policy.render(frame.directive(), Some(n)))
                    .unwrap_or_else(|_| self.rendered[frame as usize].clone())
            }
            _ => self.rendered[frame as usize].clone(),
        }
    }
}

fn one_of(name: &str, value: &str, allowed: &[&str]) -> Result<(), String> {
    if allowed.iter().any(|a| a.eq_ignore_ascii_case(value.trim())) {
        Ok(())
    } else {
        Err(format!(
            "header {name}: {value:?} is not one of {}",
            allowed.join(", ")
        ))
    }
}

/// Checks a value for the headers whose grammar we know; names Mitten owns
/// are refused with a pointer to the right setting.
fn validate(name: &str, value: &str) -> Result<(), String> {
    let owned = |how: &str| Err(format!("header {name} is set by Mitten: use {how}"));
    match name {
        "server" => owned(".banner(..)"),
        "x-frame-options" => owned(".frame_options(..) or .route_frame_options(..)"),
        "content-security-policy-report-only" => {
            owned(".report_only(Protection::Csp) with a content_security_policy")
        }
        "set-cookie" | "vary" | "content-type" | "content-length" | "transfer-encoding"
        | "connection" | "clear-site-data" | "x-powered-by" => {
            Err(format!("header {name} cannot be part of a header policy"))
        }
        CSP => Csp::parse(value).map(|_| ()),
        HSTS => validate_hsts(value),
        "referrer-policy" => {
            for token in value.split(',') {
                one_of(
                    name,
                    token,
                    &[
                        "no-referrer",
                        "no-referrer-when-downgrade",
                        "origin",
                        "origin-when-cross-origin",
                        "same-origin",
                        "strict-origin",
                        "strict-origin-when-cross-origin",
                        "unsafe-url",
                    ],
                )?;
            }
            Ok(())
        }
        "cross-origin-opener-policy" => one_of(
            name,
            value.split(';').next().unwrap_or(""),
            &[
                "same-origin",
                "same-origin-allow-popups",
                "noopener-allow-popups",
                "unsafe-none",
            ],
        ),
        "cross-origin-embedder-policy" => one_of(
            name,
            value.split(';').next().unwrap_or(""),
            &["require-corp", "credentialless", "unsafe-none"],
        ),
        "cross-origin-resource-policy" => {
            one_of(name, value, &["same-origin", "same-site", "cross-origin"])
        }
        "x-permitted-cross-domain-policies" => one_of(
            name,
            value,
            &[
                "none",
                "master-only",
                "by-content-type",
                "by-ftp-filename",
                "all",
                "none-this-response",
            ],
        ),
        "origin-agent-cluster" => one_of(name, value, &["?1", "?0"]),
        "x-dns-prefetch-control" => one_of(name, value, &["on", "off"]),
        "x-content-type-options" => one_of(name, value, &["nosniff"]),
        "x-xss-protection" => {
            if value.trim() == "0" {
                Ok(())
            } else {
                Err(format!(
                    "header {name}: only `0` is safe (the old filter `1` can be abused to \
                     leak data); switch the header off or send 0"
                ))
            }
        }
        "permissions-policy" => validate_permissions_policy(value),
        "cache-control" => {
            let ok = value.split(',').all(|d| {
                let d = d.trim();
                let key = d.split('=').next().unwrap_or("");
                !key.is_empty() && key.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
            });
            if ok {
                Ok(())
            } else {
                Err(format!(
                    "header {name}: {value:?} is not a list of cache directives"
                ))
            }
        }
        _ => Ok(()),
    }
}

fn validate_hsts(value: &str) -> Result<(), String> {
    let bad = |why: &str| Err(format!("header strict-transport-security: {why}"));
    let (mut max_age, mut subdomains, mut preload) = (None, false, false);
    for d in value.split(';').map(str::trim).filter(|d| !d.is_empty()) {
        let lower = d.to_ascii_lowercase();
        if let Some(n) = lower.strip_prefix("max-age=") {
            let n = n.trim_matches('"');
            if n.is_empty() || !n.bytes().all(|b| b.is_ascii_digit()) {
                return bad(&format!("max-age must be a number of seconds, got {n:?}"));
            }
            if max_age.is_some() {
                return bad("max-age is given twice");
            }
            max_age = n.parse::<u64>().ok();
            if max_age.is_none() {
                return bad("max-age is out of range");
            }
        } else if lower == "includesubdomains" {
            subdomains = true;
        } else if lower == "preload" {
            preload = true;
        } else {
            return bad(&format!("unknown directive {d:?}"));
        }
    }
    let Some(max_age) = max_age else {
        return bad("max-age is required");
    };
    if preload && (!subdomains || max_age < 31_536_000) {
        return bad("preload needs includeSubDomains and a max-age of at least 31536000");
    }
    Ok(())
}

/// Structured-field dictionary: `feature=()`, `feature=*`, `feature=self`,
/// `feature=(self "https://a.example")`, comma-separated.
fn validate_permissions_policy(value: &str) -> Result<(), String> {
    let bad = |why: String| Err(format!("header permissions-policy: {why}"));
    for entry in value.split(',').map(str::trim) {
        let Some((feature, allow)) = entry.split_once('=') else {
            return bad(format!(
                "{entry:?} is not `feature=allowlist` (the old Feature-Policy syntax \
                 `camera 'none'` is now `camera=()`)"
            ));
        };
        let feature_ok = feature
            .bytes()
            .next()
            .is_some_and(|b| b.is_ascii_lowercase())
            && feature
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
        if !feature_ok {
            return bad(format!("{feature:?} is not a feature name"));
        }
        let allow = allow.trim();
        let member_ok = |m: &str| {
            m == "*" || m == "self" || (m.len() > 2 && m.starts_with('"') && m.ends_with('"'))
        };
        let ok = match allow.strip_prefix('(').and_then(|a| a.strip_suffix(')')) {
            Some(inner) => inner.split_ascii_whitespace().all(member_ok),
            None => member_ok(allow),
        };
        if !ok {
            return bad(format!("{feature}: {allow:?} is not an allowlist"));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn presets_compile() {
        HeaderPolicy::default().compile().unwrap();
        let strict = HeaderPolicy::strict().compile().unwrap();
        assert!(strict.csp.is_some());
        assert!(strict.hsts.is_some());
    }

    #[test]
    fn bad_values_are_named() {
        for (policy, needle) in [
            (
                HeaderPolicy::default().content_security_policy("default-src self"),
                "'self'",
            ),
            (
                HeaderPolicy::default().strict_transport_security("max-age=forever"),
                "number",
            ),
            (
                HeaderPolicy::default().strict_transport_security("includeSubDomains"),
                "required",
            ),
            (
                HeaderPolicy::default().strict_transport_security("max-age=60; preload"),
                "preload",
            ),
            (
                HeaderPolicy::default().set("Referrer-Policy", "never"),
                "not one of",
            ),
            (
                HeaderPolicy::default().set("X-XSS-Protection", "1; mode=block"),
                "only `0`",
            ),
            (
                HeaderPolicy::default().set("Permissions-Policy", "camera 'none'"),
                "camera=()",
            ),
            (
                HeaderPolicy::default().set("X-Frame-Options", "DENY"),
                "frame_options",
            ),
            (HeaderPolicy::default().set("Server", "x"), "banner"),
            (
                HeaderPolicy::default().set("Cross-Origin-Opener-Policy", "same"),
                "not one of",
            ),
            (
                HeaderPolicy::default().set("X-Custom", "a\nb"),
                "not a valid header value",
            ),
        ] {
            let e = policy.compile().unwrap_err();
            assert!(e.contains(needle), "{e}");
        }
    }

    #[test]
    fn set_replaces_and_off_removes() {
        let p = HeaderPolicy::default()
            .set("referrer-policy", "no-referrer")
            .off("Origin-Agent-Cluster");
        let h: Vec<_> = p.headers().collect();
        assert!(h.contains(&("referrer-policy", "no-referrer")));
        assert!(!h.iter().any(|(n, _)| *n == "origin-agent-cluster"));
        assert_eq!(h.iter().filter(|(n, _)| *n == "referrer-policy").count(), 1);
    }
}
