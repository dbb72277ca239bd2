//! Response hardening: clickjacking (`X-Frame-Options` and CSP
//! `frame-ancestors`), banner grabbing (`Server`, `X-Powered-By`), and the
//! baseline (`nosniff`, `Referrer-Policy`, `X-XSS-Protection: 0`, `HttpOnly`
//! and `SameSite` on every cookie). Applied to every response that passes
//! the layer — handler output, errors, fallbacks and Mitten's own refusals —
//! and idempotent, so a layer applied twice leaves one value per header.

mod policy;

use axum::response::{IntoResponseParts, ResponseParts};
use http::header::{self, HeaderName};
use http::{HeaderMap, HeaderValue};

pub(crate) use self::policy::CompiledHeaders;
pub use self::policy::HeaderPolicy;
use crate::config::HeaderConfig;
use crate::csp::states_frame_ancestors;

/// Who may frame a response.
///
/// Set it for the whole app with
/// [`MittenBuilder::frame_options`](crate::MittenBuilder::frame_options), per
/// route with
/// [`MittenBuilder::route_frame_options`](crate::MittenBuilder::route_frame_options),
/// or per response by returning it as a response part:
///
/// ```
/// use mitten::FrameOptions;
/// async fn widget() -> (FrameOptions, &'static str) {
///     (FrameOptions::SameOrigin, "embeddable by our own pages")
/// }
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum FrameOptions {
    /// Never framed: `X-Frame-Options: DENY`, `frame-ancestors 'none'`.
    #[default]
    Deny,
    /// Framed by the same origin only: `SAMEORIGIN`, `frame-ancestors 'self'`.
    SameOrigin,
    /// No framing protection from Mitten (an explicit opt-out).
    Allow,
}

impl FrameOptions {
    fn x_frame_options(self) -> Option<HeaderValue> {
        match self {
            Self::Deny => Some(HeaderValue::from_static("DENY")),
            Self::SameOrigin => Some(HeaderValue::from_static("SAMEORIGIN")),
            Self::Allow => None,
        }
    }

    /// The CSP directive that says the same as `X-Frame-Options`.
    pub(crate) fn directive(self) -> Option<&'static str> {
        match self {
            Self::Deny => Some("frame-ancestors 'none'"),
            Self::SameOrigin => Some("frame-ancestors 'self'"),
            Self::Allow => None,
        }
    }
}

impl IntoResponseParts for FrameOptions {
    type Error = std::convert::Infallible;

    fn into_response_parts(self, mut res: ResponseParts) -> Result<ResponseParts, Self::Error> {
        res.extensions_mut().insert(self);
        Ok(res)
    }
}

/// Banners that frameworks and upstreams add besides `Server` (names
/// prebuilt: this runs on every response).
static BANNERS: [HeaderName; 5] = [
    HeaderName::from_static("x-powered-by"),
    HeaderName::from_static("x-aspnet-version"),
    HeaderName::from_static("x-aspnetmvc-version"),
    HeaderName::from_static("x-generator"),
    HeaderName::from_static("x-runtime"),
];

/// What one response needs besides the configuration.
#[derive(Clone, Copy, Debug)]
pub(crate) struct ResponseCtx<'a> {
    pub(crate) frame: FrameOptions,
    /// The request came over HTTPS, as far as the app declared or a
    /// trusted proxy said (never judged from the request URI).
    pub(crate) https: bool,
    /// The CSP nonce a handler asked for.
    pub(crate) nonce: Option<&'a str>,
}

impl ResponseCtx<'_> {
    /// This response's CSP carries a per-request nonce (so no prebuilt
    /// header block fits it).
    fn uses_nonce(&self, policy: &CompiledHeaders) -> bool {
        self.nonce.is_some() && policy.csp.as_ref().is_some_and(|c| c.policy.uses_nonces())
    }
}

/// Which of the headers Mitten sets the response already has, found in one
/// pass over its (few) headers instead of a hash lookup per name.
#[derive(Default)]
struct Present {
    server: bool,
    banner: bool,
    frame_options: bool,
    csp: bool,
    csp_report_only: bool,
    hsts: bool,
    cookie: bool,
    /// Bit `i`: `policy.fixed[i]` (the first 64 entries).
    fixed: u64,
}

impl Present {
    fn scan(headers: &HeaderMap, policy: &CompiledHeaders) -> Self {
        let mut p = Self::default();
        for k in headers.keys() {
            if k == header::SERVER {
                p.server = true;
            } else if k == header::X_FRAME_OPTIONS {
                p.frame_options = true;
            } else if k == header::CONTENT_SECURITY_POLICY {
                p.csp = true;
            } else if k == header::CONTENT_SECURITY_POLICY_REPORT_ONLY {
                p.csp_report_only = true;
            } else if k == header::STRICT_TRANSPORT_SECURITY {
                p.hsts = true;
            } else if k == header::SET_COOKIE {
                p.cookie = true;
            } else if BANNERS.contains(k) {
                p.banner = true;
            } else if let Some(i) = policy.fixed.iter().take(64).position(|(n, _, _)| n == k) {
                p.fixed |= 1 << i;
            }
        }
        p
    }

    /// None of the headers the policy sets or removes is there yet.
    fn is_clean(&self, policy: &CompiledHeaders) -> bool {
        !(self.server
            || self.banner
            || self.frame_options
            || self.csp
            || self.csp_report_only
            || self.hsts
            || self.fixed != 0
            || policy.fixed.len() > 64)
    }

    fn has_fixed(&self, headers: &HeaderMap, i: usize, name: &HeaderName) -> bool {
        if i < 64 {
            self.fixed & (1 << i) != 0
        } else {
            headers.contains_key(name)
        }
    }
}

/// Sets `name` to one value: replaces what is there, else appends (which
/// skips the search for values to replace).
fn set_one(headers: &mut HeaderMap, present: bool, name: &HeaderName, value: HeaderValue) {
    if present {
        headers.insert(name, value);
    } else {
        headers.append(name, value);
    }
}

/// Applies the header policy to a response's headers. Idempotent: applied
/// twice (nested layers) it leaves one value per header.
pub(crate) fn apply(
    headers: &mut HeaderMap,
    cfg: &HeaderConfig,
    policy: &CompiledHeaders,
    ctx: ResponseCtx<'_>,
) {
    let present = Present::scan(headers, policy);
    if present.is_clean(policy) && !ctx.uses_nonce(policy) {
        if let Some(template) = policy.template(ctx.frame, ctx.https) {
            // The common case (a handler that set none of these headers):
            // one clone of the prebuilt block, then the response's own
            // headers moved in, instead of a hash insert per policy header.
            let mut out = template.clone();
            let mut last: Option<HeaderName> = None;
            for (name, value) in headers.drain() {
                if let Some(n) = name {
                    last = Some(n);
                }
                if let Some(n) = &last {
                    out.append(n, value);
                }
            }
            *headers = out;
            if present.cookie {
                harden_cookies(headers, cfg);
            }
            return;
        }
    }
    // One allocation up front instead of the map growing (and rehashing)
    // several times while the policy's headers go in.
    // (`Server`, `X-Frame-Options`, CSP, the policy's own, HSTS.)
    headers.reserve(policy.fixed.len() + 4);
    match &cfg.banner {
        Some(b) => set_one(headers, present.server, &header::SERVER, b.clone()),
        None if present.server => {
            headers.remove(header::SERVER);
        }
        None => {}
    }
    if present.banner {
        for name in &BANNERS {
            headers.remove(name);
        }
    }

    match ctx.frame.x_frame_options() {
        Some(xfo) => set_one(
            headers,
            present.frame_options,
            &header::X_FRAME_OPTIONS,
            xfo,
        ),
        None if present.frame_options => {
            headers.remove(header::X_FRAME_OPTIONS);
        }
        None => {}
    }
    apply_csp(headers, cfg, policy, ctx, &present);

    for (i, (name, value, forced)) in policy.fixed.iter().enumerate() {
        let there = present.has_fixed(headers, i, name);
        if *forced {
            set_one(headers, there, name, value.clone());
        } else if !there {
            headers.append(name, value.clone());
        }
    }
    if let (true, Some(hsts), false) = (ctx.https, &policy.hsts, present.hsts) {
        headers.append(header::STRICT_TRANSPORT_SECURITY, hsts.clone());
    }
    if present.cookie {
        harden_cookies(headers, cfg);
    }
}

/// The app's own CSP wins (with `frame-ancestors` merged in); otherwise the
/// configured policy is sent, enforced or report-only. Clickjacking
/// protection is never report-only: `frame-ancestors` is always enforced.
fn apply_csp(
    headers: &mut HeaderMap,
    cfg: &HeaderConfig,
    policy: &CompiledHeaders,
    ctx: ResponseCtx<'_>,
    present: &Present,
) {
    let frame = ctx.frame.directive();
    match (&policy.csp, present.csp) {
        (Some(csp), false) => {
            let value = csp.value(ctx.frame, ctx.nonce);
            if cfg.csp_report_only {
                if !present.csp_report_only {
                    headers.append(header::CONTENT_SECURITY_POLICY_REPORT_ONLY, value);
                }
                if let Some(frame) = frame {
                    headers.append(
                        header::CONTENT_SECURITY_POLICY,
                        HeaderValue::from_static(frame),
                    );
                }
            } else {
                headers.append(header::CONTENT_SECURITY_POLICY, value);
            }
        }
        (_, false) => {
            if let Some(frame) = frame {
                headers.append(
                    header::CONTENT_SECURITY_POLICY,
                    HeaderValue::from_static(frame),
                );
            }
        }
        (_, true) => {
            if let Some(frame) = frame {
                ensure_frame_ancestors(headers, frame);
            }
        }
    }
}

/// Adds `frame-ancestors` to the app's CSP (or sends a CSP of its own) unless
/// one of the policies already states it: the app's directives are kept.
fn ensure_frame_ancestors(headers: &mut HeaderMap, directive: &'static str) {
    let mut policies = headers.get_all(header::CONTENT_SECURITY_POLICY).iter();
    let Some(first) = policies.next() else {
        headers.insert(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(directive),
        );
        return;
    };
    // Values are read as bytes, not with `to_str()`, which refuses anything
    // but visible ASCII: a policy with a UTF-8 host in it would otherwise be
    // taken as stating frame-ancestors and left without it.
    let stated = std::iter::once(first)
        .chain(policies)
        .any(|v| states_frame_ancestors(v.as_bytes()));
    if stated {
        return;
    }
    let kept = trim_end_separators(first.as_bytes().trim_ascii()).trim_ascii();
    let merged = if kept.is_empty() {
        directive.as_bytes().to_vec()
    } else {
        [kept, b"; ", directive.as_bytes()].concat()
    };
    let rest: Vec<HeaderValue> = headers
        .get_all(header::CONTENT_SECURITY_POLICY)
        .iter()
        .skip(1)
        .cloned()
        .collect();
    if let Ok(v) = HeaderValue::from_bytes(&merged) {
        headers.insert(header::CONTENT_SECURITY_POLICY, v);
        for r in rest {
            headers.append(header::CONTENT_SECURITY_POLICY, r);
        }
    }
}

/// Adds `HttpOnly` and `SameSite=Lax` to every `Set-Cookie` that does not
/// state them, except cookies on the script-readable allow-list (which still
/// get `SameSite`). Attributes are appended, never re-serialised, so
/// nothing the app wrote is lost.
fn harden_cookies(headers: &mut HeaderMap, cfg: &HeaderConfig) {
    // Most responses' cookies (Mitten's own among them) already state both
    // attributes: find that out without copying anything.
    let mut values = headers.get_all(header::SET_COOKIE).iter();
    let Some(first) = values.position(|v| harden_one(v, cfg).is_some()) else {
        return;
    };
    let hardened: Vec<HeaderValue> = headers
        .get_all(header::SET_COOKIE)
        .iter()
        .enumerate()
        .map(|(i, v)| {
            if i < first {
                v.clone()
            } else {
                harden_one(v, cfg).unwrap_or_else(|| v.clone())
            }
        })
        .collect();
    headers.remove(header::SET_COOKIE);
    for v in hardened {
        headers.append(header::SET_COOKIE, v);
    }
}

/// `value` without trailing whitespace and `;`.
fn trim_end_separators(value: &[u8]) -> &[u8] {
    let mut v = value.trim_ascii_end();
    while let [rest @ .., b';'] = v {
        v = rest;
    }
    v
}

// On bytes for the same reason as the CSP merge: `name=José` (UTF-8) is a
// cookie that needs HttpOnly like any other.
fn harden_one(value: &HeaderValue, cfg: &HeaderConfig) -> Option<HeaderValue> {
    let s = value.as_bytes();
    let mut parts = s.split(|&b| b == b';');
    let name = parts.next()?.split(|&b| b == b'=').next()?.trim_ascii();
    let (mut http_only, mut same_site) = (false, false);
    for attr in parts {
        let key = attr
            .split(|&b| b == b'=')
            .next()
            .unwrap_or(b"")
            .trim_ascii();
        http_only |= key.eq_ignore_ascii_case(b"httponly");
        same_site |= key.eq_ignore_ascii_case(b"samesite");
    }
    let script_readable =
        std::str::from_utf8(name).is_ok_and(|n| cfg.script_readable_cookies.contains(n));
    let add_http_only = !http_only && !script_readable;
    if !add_http_only && same_site {
        return None;
    }
    let mut out = trim_end_separators(s).to_vec();
    if add_http_only {
        out.extend_from_slice(b"; HttpOnly");
    }
    if !same_site {
        out.extend_from_slice(b"; SameSite=Lax");
    }
    HeaderValue::from_bytes(&out).ok()
}

/// The request headers a response's decisions read, as `Vary` tokens.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Vary(u8);

impl Vary {
    /// The JSON guard read Fetch Metadata and `X-Requested-With`.
    pub(crate) const JSON: Vary = Vary(1);
    /// The CSRF origin layer read `Origin` and `Sec-Fetch-Site`.
    pub(crate) const CSRF: Vary = Vary(2);
    /// The response depends on the session.
    pub(crate) const COOKIE: Vary = Vary(4);

    pub(crate) fn add(&mut self, other: Vary) {
        self.0 |= other.0;
    }

    /// The value for each combination, without repeats, prebuilt.
    fn value(self) -> &'static str {
        const J: &str = "X-Requested-With, Sec-Fetch-Site, Sec-Fetch-Mode, Sec-Fetch-Dest";
        match self.0 {
            1 => J,
            2 => "Origin, Sec-Fetch-Site",
            3 => "X-Requested-With, Sec-Fetch-Site, Sec-Fetch-Mode, Sec-Fetch-Dest, Origin",
            4 => "Cookie",
            5 => "X-Requested-With, Sec-Fetch-Site, Sec-Fetch-Mode, Sec-Fetch-Dest, Cookie",
            6 => "Origin, Sec-Fetch-Site, Cookie",
            7 => "X-Requested-With, Sec-Fetch-Site, Sec-Fetch-Mode, Sec-Fetch-Dest, Origin, Cookie",
            _ => "",
        }
    }

    /// Adds the tokens to `Vary`, once each, keeping what is there.
    pub(crate) fn apply(self, headers: &mut HeaderMap) {
        let value = self.value();
        if value.is_empty() {
            return;
        }
        if !headers.contains_key(header::VARY) {
            headers.insert(header::VARY, HeaderValue::from_static(value));
            return;
        }
        let present = |n: &str| {
            headers.get_all(header::VARY).iter().any(|v| {
                v.to_str().is_ok_and(|s| {
                    s.split(',')
                        .any(|t| t.trim() == "*" || t.trim().eq_ignore_ascii_case(n))
                })
            })
        };
        let missing: Vec<&str> = value.split(", ").filter(|n| !present(n)).collect();
        if !missing.is_empty() {
            if let Ok(v) = HeaderValue::from_str(&missing.join(", ")) {
                headers.append(header::VARY, v);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg() -> HeaderConfig {
        HeaderConfig {
            banner: Some(HeaderValue::from_static("Mitten")),
            frame_options: FrameOptions::Deny,
            policy: HeaderPolicy::default().compile().unwrap(),
            script_readable_cookies: ["theme".to_owned()].into_iter().collect(),
            csp_report_only: false,
        }
    }

    fn ctx() -> ResponseCtx<'static> {
        ResponseCtx {
            frame: FrameOptions::Deny,
            https: false,
            nonce: None,
        }
    }

    #[test]
    fn the_prebuilt_block_gives_what_the_general_path_gives() {
        let plain = cfg();
        let with_templates = HeaderConfig {
            policy: plain
                .policy
                .clone()
                .with_templates(plain.banner.as_ref(), false),
            ..cfg()
        };
        assert!(plain.policy.templates.is_none());
        for frame in [
            FrameOptions::Deny,
            FrameOptions::SameOrigin,
            FrameOptions::Allow,
        ] {
            for https in [false, true] {
                let ctx = ResponseCtx {
                    frame,
                    https,
                    nonce: None,
                };
                let response = || {
                    let mut h = HeaderMap::new();
                    h.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/plain"));
                    h.append(header::SET_COOKIE, HeaderValue::from_static("a=1"));
                    h.append(header::SET_COOKIE, HeaderValue::from_static("b=2"));
                    h
                };
                let (mut slow, mut fast) = (response(), response());
                apply(&mut slow, &plain, &plain.policy, ctx);
                apply(&mut fast, &with_templates, &with_templates.policy, ctx);
                let sorted = |h: &HeaderMap| {
                    let mut v: Vec<(String, Vec<u8>)> = h
                        .iter()
                        .map(|(k, v)| (k.to_string(), v.as_bytes().to_vec()))
                        .collect();
                    v.sort();
                    v
                };
                assert_eq!(sorted(&slow), sorted(&fast), "{frame:?} https={https}");
                // Values of one name keep their order.
                let cookies: Vec<_> = fast.get_all(header::SET_COOKIE).iter().collect();
                assert!(cookies[0].as_bytes().starts_with(b"a=1"));
                assert!(cookies[1].as_bytes().starts_with(b"b=2"));
            }
        }
    }

    #[test]
    fn csp_is_merged_once() {
        let mut h = HeaderMap::new();
        h.insert(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static("default-src 'self';"),
        );
        {
            let c = cfg();
            apply(&mut h, &c, &c.policy, ctx());
        }
        {
            let c = cfg();
            apply(&mut h, &c, &c.policy, ctx());
        }
        let v: Vec<_> = h.get_all(header::CONTENT_SECURITY_POLICY).iter().collect();
        assert_eq!(v, ["default-src 'self'; frame-ancestors 'none'"]);
    }

    #[test]
    fn cookies_hardened_unless_stated_or_allowed() {
        let mut h = HeaderMap::new();
        h.append(header::SET_COOKIE, HeaderValue::from_static("a=1; Path=/"));
        h.append(
            header::SET_COOKIE,
            HeaderValue::from_static("b=2; SameSite=Strict; HttpOnly"),
        );
        h.append(header::SET_COOKIE, HeaderValue::from_static("theme=dark"));
        {
            let c = cfg();
            apply(&mut h, &c, &c.policy, ctx());
        }
        let v: Vec<_> = h
            .get_all(header::SET_COOKIE)
            .iter()
            .map(|v| v.to_str().unwrap())
            .collect();
        assert_eq!(
            v,
            [
                "a=1; Path=/; HttpOnly; SameSite=Lax",
                "b=2; SameSite=Strict; HttpOnly",
                "theme=dark; SameSite=Lax"
            ]
        );
    }

    #[test]
    fn vary_is_not_duplicated() {
        let mut h = HeaderMap::new();
        h.insert(header::VARY, HeaderValue::from_static("origin"));
        Vary::CSRF.apply(&mut h);
        Vary::CSRF.apply(&mut h);
        let v: Vec<_> = h
            .get_all(header::VARY)
            .iter()
            .map(|v| v.to_str().unwrap())
            .collect();
        assert_eq!(v, ["origin", "Sec-Fetch-Site"]);
    }
}
