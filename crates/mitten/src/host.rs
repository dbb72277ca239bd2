//! The `Host` allow-list (against Host-header injection and DNS rebinding)
//! and the facts a request's headers give about where it was sent: its
//! host, and whether it came over HTTPS. `X-Forwarded-Host` and
//! `X-Forwarded-Proto` count only when the app trusts its proxy; the
//! request URI never decides "this is HTTPS" (servers do not see the
//! scheme — gorilla/csrf CVE-2025-24358).
//!
//! ```
//! # fn main() -> Result<(), mitten::BuildError> {
//! let mitten = mitten::Mitten::builder()
//!     .secret_key([7u8; 32])
//!     .allowed_host("app.example.com")   // exact, any port
//!     .allowed_host(".example.org")      // example.org and its subdomains
//!     .allowed_host("localhost:3000")    // this port only
//!     .build()?;
//! # Ok(()) }
//! ```

use http::{header, HeaderMap, Uri};

use crate::csrf::origin::split_authority;
use crate::rejection::Rejection;

/// One entry of the allow-list.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct HostPattern {
    /// Lowercase host, without a leading dot.
    host: String,
    /// `.example.com`: the host and every subdomain.
    subdomains: bool,
    /// Only this port, when given.
    port: Option<u16>,
}

impl HostPattern {
    pub(crate) fn parse(s: &str) -> Result<Self, String> {
        let bad = |why: &str| Err(format!("allowed host {s:?}: {why}"));
        if s == "*" || s.contains('*') {
            return bad("wildcards are not allowed; list the hosts, or `.example.com` for a domain and its subdomains");
        }
        if s.contains("://") || s.contains('/') {
            return bad("a host name, not a URL (no scheme, no path)");
        }
        let (subdomains, rest) = match s.strip_prefix('.') {
            Some(r) => (true, r),
            None => (false, s),
        };
        let Some((host, port)) = split_authority(rest) else {
            return bad("not a valid host[:port]");
        };
        let host = host.trim_end_matches('.').to_owned();
        if host.is_empty() || (subdomains && host.starts_with('[')) {
            return bad("not a valid host[:port]");
        }
        if subdomains && !host.contains('.') {
            return bad("`.tld` would allow a whole public suffix");
        }
        Ok(Self {
            host,
            subdomains,
            port,
        })
    }

    fn matches(&self, host: &str, port: Option<u16>) -> bool {
        let host_ok = host == self.host
            || (self.subdomains
                && host.len() > self.host.len()
                && host.ends_with(&self.host)
                && host.as_bytes()[host.len() - self.host.len() - 1] == b'.');
        host_ok && (self.port.is_none() || self.port == port)
    }
}

impl std::fmt::Display for HostPattern {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.subdomains {
            f.write_str(".")?;
        }
        f.write_str(&self.host)?;
        if let Some(p) = self.port {
            write!(f, ":{p}")?;
        }
        Ok(())
    }
}

/// The last value of a comma-separated header: the one the nearest proxy
/// (ours) added.
fn last_forwarded<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    let v = headers.get_all(name).iter().next_back()?.to_str().ok()?;
    v.rsplit(',')
        .next()
        .map(str::trim)
        .filter(|s| !s.is_empty())
}

/// The host the client addressed: `X-Forwarded-Host` when the proxy is
/// trusted, else `Host`, else the URI authority (HTTP/2).
pub(crate) fn request_host<'a>(
    headers: &'a HeaderMap,
    uri: &'a Uri,
    trust_forwarded: bool,
) -> Option<&'a str> {
    if trust_forwarded {
        if let Some(h) = last_forwarded(headers, "x-forwarded-host") {
            return Some(h);
        }
    }
    let mut hosts = headers.get_all(header::HOST).iter();
    match (hosts.next(), hosts.next()) {
        (Some(h), None) => h.to_str().ok(),
        // Two Host headers: ambiguous, so no host at all.
        (Some(_), Some(_)) => None,
        (None, _) => uri.authority().map(|a| a.as_str()),
    }
}

/// Whether the request came over HTTPS: a trusted proxy's
/// `X-Forwarded-Proto` decides, else the app's declaration.
pub(crate) fn is_https(headers: &HeaderMap, declared: bool, trust_forwarded: bool) -> bool {
    if trust_forwarded {
        match last_forwarded(headers, "x-forwarded-proto").map(str::to_ascii_lowercase) {
            Some(p) if p == "https" => return true,
            Some(p) if p == "http" => return false,
            _ => {}
        }
    }
    declared
}

/// The allow-list check; an empty list allows every host.
pub(crate) fn check(allowed: &[HostPattern], host: Option<&str>) -> Result<(), Rejection> {
    if allowed.is_empty() {
        return Ok(());
    }
    let Some((h, port)) = host.and_then(split_authority) else {
        return Err(Rejection::HostNotAllowed);
    };
    let h = h.strip_suffix('.').unwrap_or(&h);
    if h.contains('*') {
        return Err(Rejection::HostNotAllowed);
    }
    if allowed.iter().any(|p| p.matches(h, port)) {
        Ok(())
    } else {
        Err(Rejection::HostNotAllowed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn list(entries: &[&str]) -> Vec<HostPattern> {
        entries
            .iter()
            .map(|e| HostPattern::parse(e).unwrap())
            .collect()
    }

    #[test]
    fn exact_suffix_and_port_rules() {
        let l = list(&["app.example.com", ".example.org", "localhost:3000", "[::1]"]);
        for ok in [
            "app.example.com",
            "APP.example.com:8443",
            "app.example.com.",
            "example.org",
            "a.b.example.org:1",
            "localhost:3000",
            "[::1]:80",
        ] {
            assert_eq!(check(&l, Some(ok)), Ok(()), "{ok}");
        }
        for bad in [
            "evil.test",
            "app.example.com.evil.test",
            "evilexample.org",
            "localhost",
            "localhost:3001",
            "app.example.com:99999",
            "user@app.example.com",
            "app.example.com/x",
            "*.example.org",
            "",
        ] {
            assert!(check(&l, Some(bad)).is_err(), "{bad}");
        }
        assert!(check(&l, None).is_err());
        assert_eq!(check(&[], Some("anything")), Ok(()));
    }

    #[test]
    fn bad_patterns_are_refused() {
        for bad in [
            "*",
            "*.example.com",
            ".com",
            "https://a.example",
            "a.example/x",
            "a b",
            "",
        ] {
            assert!(HostPattern::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn forwarded_headers_count_only_when_trusted() {
        let mut h = HeaderMap::new();
        h.insert(header::HOST, "internal:8080".parse().unwrap());
        h.insert(
            "x-forwarded-host",
            "evil.test, app.example.com".parse().unwrap(),
        );
        h.insert("x-forwarded-proto", "https".parse().unwrap());
        let uri = Uri::from_static("/");
        assert_eq!(request_host(&h, &uri, false), Some("internal:8080"));
        assert_eq!(request_host(&h, &uri, true), Some("app.example.com"));
        assert!(!is_https(&h, false, false));
        assert!(is_https(&h, false, true));
        h.insert("x-forwarded-proto", "http".parse().unwrap());
        assert!(!is_https(&h, true, true));
        assert!(is_https(&h, true, false));
        // A URI that claims https decides nothing.
        assert!(!is_https(&HeaderMap::new(), false, true));
    }
}
