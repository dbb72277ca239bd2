//! The origin layer of the CSRF check: Fetch Metadata first, then `Origin`
//! (or `Referer` when a browser sent no `Origin`). Origins are compared as
//! parsed, normalised `(scheme, host, port)` triples, never as prefixes, and
//! the scheme always matters.

use http::header::{self, AsHeaderName};
use http::{HeaderMap, HeaderValue};

use crate::rejection::Rejection;

/// A parsed `scheme://host[:port]` with the port made explicit.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Origin {
    scheme: String,
    host: String,
    port: u16,
}

fn default_port(scheme: &str) -> Option<u16> {
    match scheme {
        "http" => Some(80),
        "https" => Some(443),
        _ => None,
    }
}

/// Splits `host[:port]` (with `[v6]` literals), lowercases and validates
/// the host; the port is `None` when not spelled out.
pub(crate) fn split_authority(authority: &str) -> Option<(String, Option<u16>)> {
    if authority.is_empty() || authority.contains(['@', '/', '?', '#', '\\', ' ']) {
        return None;
    }
    let (host, port) = if let Some(rest) = authority.strip_prefix('[') {
        let (v6, after) = rest.split_once(']')?;
        let port = match after {
            "" => None,
            p => Some(parse_port(p.strip_prefix(':')?)?),
        };
        (format!("[{}]", v6.to_ascii_lowercase()), port)
    } else {
        match authority.rsplit_once(':') {
            Some((h, p)) => (h.to_ascii_lowercase(), Some(parse_port(p)?)),
            None => (authority.to_ascii_lowercase(), None),
        }
    };
    // A name is dot-separated non-empty labels (plus the one trailing dot of
    // a fully qualified name): `..example.com` or `.example.com` would
    // otherwise end with a wildcard's `.example.com`.
    let labels = host.strip_suffix('.').unwrap_or(&host);
    let valid_host = !labels.is_empty()
        && (host.starts_with('[')
            || labels.split('.').all(|label| {
                !label.is_empty()
                    && label
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'*')
            }));
    valid_host.then_some((host, port))
}

fn parse_port(p: &str) -> Option<u16> {
    if p.is_empty() || p.len() > 5 || !p.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    p.parse().ok()
}

impl Origin {
    /// Parses an exact serialized origin: `scheme://host[:port]`, nothing
    /// else (no path, no trailing slash, no userinfo).
    pub(crate) fn parse(s: &str) -> Option<Self> {
        let (scheme, rest) = s.split_once("://")?;
        let scheme = scheme.to_ascii_lowercase();
        let default = default_port(&scheme)?;
        let (host, port) = split_authority(rest)?;
        let port = port.unwrap_or(default);
        if host.contains('*') {
            return None;
        }
        Some(Self { scheme, host, port })
    }

    pub(crate) fn is_https(&self) -> bool {
        self.scheme == "https"
    }

    /// The origin of an absolute URL (for `Referer`).
    fn of_url(s: &str) -> Option<Self> {
        let (scheme, rest) = s.split_once("://")?;
        let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
        Self::parse(&format!("{scheme}://{}", &rest[..end]))
    }

    /// Same host and port as a `Host` header value. The scheme counts when
    /// it is known (declared HTTPS, or a trusted proxy said); otherwise the
    /// origin's own scheme is assumed, since servers do not see the scheme
    /// (gorilla/csrf CVE-2025-24358).
    fn matches_host(&self, host: &str, scheme: Option<&str>) -> bool {
        if scheme.is_some_and(|s| s != self.scheme) {
            return false;
        }
        match split_authority(host) {
            Some((h, p)) => {
                let p = p.or_else(|| default_port(&self.scheme));
                !h.contains('*') && h == self.host && p == Some(self.port)
            }
            None => false,
        }
    }
}

impl std::fmt::Display for Origin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}://{}", self.scheme, self.host)?;
        if default_port(&self.scheme) != Some(self.port) {
            write!(f, ":{}", self.port)?;
        }
        Ok(())
    }
}

/// A configured trusted origin: exact, or `scheme://*.domain[:port]` for any
/// subdomain of `domain` with that same scheme and port.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum TrustedOrigin {
    Exact(Origin),
    Subdomains {
        scheme: String,
        suffix: String,
        port: u16,
    },
}

impl TrustedOrigin {
    pub(crate) fn parse(s: &str) -> Result<Self, String> {
        let bad = |why: &str| Err(format!("trusted origin {s:?}: {why}"));
        if s == "null" {
            return bad("`null` is never trustworthy");
        }
        let Some((scheme, rest)) = s.split_once("://") else {
            return bad("expected scheme://host[:port]");
        };
        if default_port(&scheme.to_ascii_lowercase()).is_none() {
            return bad("scheme must be http or https");
        }
        if let Some(domain) = rest.strip_prefix("*.") {
            let Some(o) = Origin::parse(&format!("{scheme}://{domain}")) else {
                return bad("expected scheme://*.domain[:port], nothing after the port");
            };
            if !o.host.contains('.') && !o.host.starts_with('[') {
                // `*.com` would trust a whole public suffix.
                return bad("a wildcard needs a domain with at least two labels");
            }
            return Ok(Self::Subdomains {
                scheme: o.scheme,
                suffix: format!(".{}", o.host),
                port: o.port,
            });
        }
        match Origin::parse(s) {
            Some(o) => Ok(Self::Exact(o)),
            None => bad("expected scheme://host[:port], nothing after the port, no wildcard except a leading `*.`"),
        }
    }

    fn matches(&self, o: &Origin) -> bool {
        match self {
            Self::Exact(t) => t == o,
            Self::Subdomains {
                scheme,
                suffix,
                port,
            } => {
                o.scheme == *scheme
                    && o.port == *port
                    && o.host.len() > suffix.len()
                    && o.host.ends_with(suffix.as_str())
            }
        }
    }
}

/// The one value of a request header, `Err` when it is repeated. A header
/// that decides a security check and arrives twice is ambiguous (which one
/// would a proxy, a browser or the handler have meant?), so callers refuse.
pub(crate) fn single<K: AsHeaderName>(
    headers: &HeaderMap,
    name: K,
) -> Result<Option<&HeaderValue>, ()> {
    let mut values = headers.get_all(name).iter();
    match (values.next(), values.next()) {
        (v, None) => Ok(v),
        (Some(_), Some(_)) => Err(()),
        (None, Some(_)) => unreachable!("an iterator yields in order"),
    }
}

/// The origin layer. `own` is the configured app origin; without one, the
/// request's `Host` is the app's host, in `scheme` when it is known.
pub(crate) fn check(
    headers: &HeaderMap,
    host: Option<&str>,
    scheme: Option<&str>,
    own: Option<&Origin>,
    trusted: &[TrustedOrigin],
) -> Result<(), Rejection> {
    let site = single(headers, "sec-fetch-site").map_err(|()| Rejection::InvalidFetchMetadata)?;
    match site.map(HeaderValue::as_bytes) {
        None | Some(b"same-origin") | Some(b"none") => {}
        Some(b"cross-site") | Some(b"same-site") => {
            // Another origin sent this, says the browser: only one the app
            // explicitly trusts may. Every modern browser sends this header,
            // so without this trusted origins would only work for old ones.
            let sender = single(headers, header::ORIGIN)
                .ok()
                .flatten()
                .and_then(|v| v.to_str().ok())
                .and_then(Origin::parse);
            return match sender {
                Some(o) if trusted.iter().any(|t| t.matches(&o)) => Ok(()),
                _ => Err(Rejection::CrossSiteRequest),
            };
        }
        Some(_) => return Err(Rejection::InvalidFetchMetadata),
    }
    let allowed = |o: &Origin| {
        let is_own = match own {
            Some(own) => own == o,
            None => host.is_some_and(|h| o.matches_host(h, scheme)),
        };
        is_own || trusted.iter().any(|t| t.matches(o))
    };
    if let Some(value) = single(headers, header::ORIGIN).map_err(|()| Rejection::OriginMismatch)? {
        let value = value.to_str().map_err(|_| Rejection::OriginMismatch)?;
        if value.trim() == "null" {
            return Err(Rejection::NullOrigin);
        }
        return match Origin::parse(value) {
            Some(o) if allowed(&o) => Ok(()),
            _ => Err(Rejection::OriginMismatch),
        };
    }
    if let Some(referer) =
        single(headers, header::REFERER).map_err(|()| Rejection::RefererMismatch)?
    {
        let ok = referer
            .to_str()
            .ok()
            .and_then(Origin::of_url)
            .is_some_and(|o| allowed(&o));
        if !ok {
            return Err(Rejection::RefererMismatch);
        }
    }
    // No Origin and no Referer: not a browser form post (browsers send
    // Origin on every unsafe request); the token layer still applies.
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn h(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut m = HeaderMap::new();
        for (k, v) in pairs {
            m.append(*k, HeaderValue::from_static(v));
        }
        m
    }

    #[test]
    fn origin_parsing_is_strict() {
        assert!(Origin::parse("https://a.example").is_some());
        assert_eq!(
            Origin::parse("https://a.example:443"),
            Origin::parse("https://a.example")
        );
        for bad in [
            "https://a.example/",
            "https://a.example/path",
            "https://u@a.example",
            "ftp://a.example",
            "https://",
            "https://a.example:",
            "https://a.example:99999",
            "a.example",
            "https://*.a.example",
            "https://a..example",
            "https://.a.example",
            "https://a.example..",
            "https://.",
        ] {
            assert_eq!(Origin::parse(bad), None, "{bad}");
        }
    }

    #[test]
    fn trusted_wildcards_keep_their_scheme_and_port() {
        let t = TrustedOrigin::parse("https://*.example.com").unwrap();
        assert!(t.matches(&Origin::parse("https://a.example.com").unwrap()));
        assert!(!t.matches(&Origin::parse("http://a.example.com").unwrap()));
        assert!(!t.matches(&Origin::parse("https://example.com").unwrap()));
        assert!(!t.matches(&Origin::parse("https://a.example.com:8443").unwrap()));
        assert!(!t.matches(&Origin::parse("https://evilexample.com").unwrap()));
        // Empty labels are not a subdomain.
        assert_eq!(Origin::parse("https://..example.com"), None);
        assert!(TrustedOrigin::parse("https://*..example.com").is_err());
        assert!(TrustedOrigin::parse("https://*.com").is_err());
        assert!(TrustedOrigin::parse("null").is_err());
        assert!(TrustedOrigin::parse("https://a.example/").is_err());
    }

    #[test]
    fn repeated_fetch_metadata_origin_or_referer_is_refused() {
        let own = Origin::parse("https://a.example").unwrap();
        for pairs in [
            [
                ("sec-fetch-site", "same-origin"),
                ("sec-fetch-site", "cross-site"),
            ],
            [
                ("origin", "https://a.example"),
                ("origin", "https://a.example"),
            ],
            [
                ("referer", "https://a.example/"),
                ("referer", "https://evil.test/"),
            ],
        ] {
            assert!(
                check(&h(&pairs), None, None, Some(&own), &[]).is_err(),
                "{pairs:?}"
            );
        }
    }

    #[test]
    fn trusted_origin_passes_although_fetch_metadata_says_same_site_or_cross_site() {
        let own = Origin::parse("https://app.example.com").unwrap();
        let trusted = [TrustedOrigin::parse("https://admin.example.com").unwrap()];
        for site in ["same-site", "cross-site"] {
            let ok = h(&[
                ("sec-fetch-site", site),
                ("origin", "https://admin.example.com"),
            ]);
            assert_eq!(
                check(&ok, None, None, Some(&own), &trusted),
                Ok(()),
                "{site}"
            );
            for bad in [
                "https://other.example.com",
                "http://admin.example.com",
                "null",
            ] {
                let r = h(&[("sec-fetch-site", site), ("origin", bad)]);
                assert!(
                    check(&r, None, None, Some(&own), &trusted).is_err(),
                    "{site} {bad}"
                );
            }
            // Neither the app's own origin nor a missing Origin is enough
            // against Fetch Metadata that says another site sent it.
            let own_origin = h(&[
                ("sec-fetch-site", site),
                ("origin", "https://app.example.com"),
            ]);
            assert!(check(&own_origin, None, None, Some(&own), &trusted).is_err());
            assert!(check(
                &h(&[("sec-fetch-site", site)]),
                None,
                None,
                Some(&own),
                &trusted
            )
            .is_err());
        }
    }

    #[test]
    fn host_derived_own_origin() {
        let ok = h(&[("origin", "http://127.0.0.1:3000")]);
        assert_eq!(check(&ok, Some("127.0.0.1:3000"), None, None, &[]), Ok(()));
        let suffix = h(&[("origin", "http://127.0.0.1:3000.evil.test")]);
        assert!(check(&suffix, Some("127.0.0.1:3000"), None, None, &[]).is_err());
        let https_only = h(&[("origin", "http://127.0.0.1:3000")]);
        assert!(check(
            &https_only,
            Some("127.0.0.1:3000"),
            Some("https"),
            None,
            &[]
        )
        .is_err());
        let other_port = h(&[("origin", "http://127.0.0.1:4000")]);
        assert!(check(&other_port, Some("127.0.0.1:3000"), None, None, &[]).is_err());
    }
}
