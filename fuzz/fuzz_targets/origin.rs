//! The origin layer: any Origin / Referer / Sec-Fetch-Site / Host headers
//! never panic, and whatever passes came from the app's own origin or a
//! trusted one, judged by a reference written independently of Mitten.
#![no_main]

use http::{HeaderMap, HeaderName, HeaderValue, Uri};
use libfuzzer_sys::fuzz_target;
use mitten::__fuzz::OriginPolicy;

const NAMES: [&str; 4] = ["origin", "referer", "sec-fetch-site", "host"];

/// `https://<host>[:443]` with host the app, the trusted admin host, or a
/// subdomain of `partner.test`: the only senders that may pass.
fn allowed(origin: &str) -> bool {
    let lower = origin.to_ascii_lowercase();
    let Some(auth) = lower.strip_prefix("https://") else {
        return false;
    };
    let (host, port) = match auth.rsplit_once(':') {
        Some((h, p)) => (h, p),
        None => (auth, "443"),
    };
    let port_ok = !port.is_empty()
        && port.len() <= 5
        && port.bytes().all(|b| b.is_ascii_digit())
        && port.parse::<u32>() == Ok(443);
    let labels_ok = |h: &str| {
        h.split('.')
            .all(|l| !l.is_empty() && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-'))
    };
    port_ok
        && labels_ok(host)
        && (host == "app.example.com"
            || host == "admin.example.com"
            || (host.ends_with(".partner.test") && host.len() > ".partner.test".len()))
}

/// The app's own origin, in any spelling `allowed` accepts.
fn is_own(origin: &str) -> bool {
    let lower = origin.to_ascii_lowercase();
    let auth = lower.strip_prefix("https://").unwrap_or(&lower);
    auth.split(':').next() == Some("app.example.com")
}

fn origin_of_url(url: &str) -> Option<String> {
    let (scheme, rest) = url.split_once("://")?;
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    Some(format!("{scheme}://{}", &rest[..end]))
}

fuzz_target!(|data: &[u8]| {
    static POLICY: std::sync::OnceLock<OriginPolicy> = std::sync::OnceLock::new();
    let policy = POLICY.get_or_init(|| {
        OriginPolicy::new(
            Some("https://app.example.com"),
            &["https://admin.example.com", "https://*.partner.test"],
        )
        .unwrap()
    });
    let mut headers = HeaderMap::new();
    for line in data.split(|&b| b == b'\n') {
        let Some((&which, value)) = line.split_first() else {
            continue;
        };
        if let Ok(v) = HeaderValue::from_bytes(value) {
            headers.append(HeaderName::from_static(NAMES[which as usize % 4]), v);
        }
    }
    let uri = Uri::from_static("/submit");
    if policy.check(&headers, &uri).is_err() {
        return;
    }
    // A header that decided must be single and text; a Referer next to an
    // Origin decides nothing.
    let one = |n: &str| {
        let all: Vec<_> = headers.get_all(n).iter().collect();
        assert!(all.len() <= 1, "{n} repeated yet accepted");
        all.first().map(|v| {
            v.to_str()
                .unwrap_or_else(|_| panic!("{n}: accepted a non-text value"))
        })
    };
    let site = one("sec-fetch-site");
    let origin = one("origin");
    let referer = if origin.is_none() {
        one("referer")
    } else {
        None
    };
    match site {
        None | Some("same-origin") | Some("none") => {}
        Some("cross-site") | Some("same-site") => {
            let o = origin.expect("cross-site without Origin accepted");
            assert!(allowed(o) && !is_own(o), "{o}");
        }
        Some(other) => panic!("Sec-Fetch-Site {other:?} accepted"),
    }
    match (origin, referer) {
        (Some(o), _) => assert!(allowed(o), "Origin {o:?} accepted"),
        (None, Some(r)) => {
            let o = origin_of_url(r).expect("unparsable Referer accepted");
            assert!(allowed(&o), "Referer {r:?} accepted");
        }
        (None, None) => {}
    }
});
