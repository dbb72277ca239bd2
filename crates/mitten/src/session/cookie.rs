//! Reading the session cookie from a request: every `Cookie` header, as
//! bytes. Several different values for our name (a cookie tossed in from a
//! sibling domain or set for another path, a second `Cookie` header) are
//! ambiguous and none is adopted; the one value is then verified against
//! every key of the ring. No store I/O.
//!
//! Finding the value and verifying it are separate steps: a request whose
//! handler never touches the session (and that is not CSRF-checked) pays
//! for the scan, never for the HMAC.

use http::{header, HeaderMap};

use super::id::{SessionId, MAX_COOKIE_VALUE};
use super::CookieId;
use crate::keys::KeyRing;

/// The session cookie as the request sent it, not yet verified. Kept inline
/// (no allocation): a value longer than any Mitten issues is junk anyway.
#[derive(Clone, Copy)]
pub(crate) enum RawCookie {
    /// No cookie of that name.
    Absent,
    /// Several different values, or one too long to be ours.
    Unusable,
    /// One value.
    Value {
        len: u8,
        bytes: [u8; MAX_COOKIE_VALUE],
    },
}

impl std::fmt::Debug for RawCookie {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the value: it is a bearer credential.
        match self {
            Self::Absent => f.write_str("Absent"),
            Self::Unusable => f.write_str("Unusable"),
            Self::Value { .. } => f.write_str("Value(<redacted>)"),
        }
    }
}

/// The session cookie `name` of a request, unverified.
///
/// Parsing is on bytes, not on UTF-8 text: a foreign cookie with bytes that
/// are not UTF-8 must neither hide ours (which would log the victim out) nor
/// hide a second value of ours (which would dodge the ambiguity rule).
pub(crate) fn find(headers: &HeaderMap, name: &str) -> RawCookie {
    let mut value: Option<&[u8]> = None;
    for h in headers.get_all(header::COOKIE) {
        for pair in h.as_bytes().split(|&b| b == b';') {
            let Some(eq) = pair.iter().position(|&b| b == b'=') else {
                continue;
            };
            if pair[..eq].trim_ascii() != name.as_bytes() {
                continue;
            }
            let v = pair[eq + 1..].trim_ascii();
            match value {
                Some(prev) if prev != v => {
                    tracing::warn!(target: "mitten::session", "several different session cookies: none adopted");
                    return RawCookie::Unusable;
                }
                _ => value = Some(v),
            }
        }
    }
    match value {
        None => RawCookie::Absent,
        Some(v) if v.len() > MAX_COOKIE_VALUE => RawCookie::Unusable,
        Some(v) => {
            let mut bytes = [0u8; MAX_COOKIE_VALUE];
            bytes[..v.len()].copy_from_slice(v);
            RawCookie::Value {
                len: v.len() as u8,
                bytes,
            }
        }
    }
}

impl RawCookie {
    /// Verifies the value against every key of the ring.
    pub(crate) fn verify(&self, keys: &KeyRing, name: &str) -> CookieId {
        let v = match self {
            Self::Absent => return CookieId::Absent,
            Self::Unusable => return CookieId::Invalid,
            Self::Value { len, bytes } => &bytes[..*len as usize],
        };
        let verified = std::str::from_utf8(v)
            .ok()
            .and_then(|v| SessionId::from_cookie_value(v, keys, name));
        match verified {
            Some((id, key_index)) => CookieId::Valid(id, key_index),
            None => {
                tracing::info!(target: "mitten::session", "session cookie failed verification: not adopted");
                CookieId::Invalid
            }
        }
    }
}

/// The session cookie `name` of a request, verified at once (the layer
/// verifies lazily instead; tests and fuzz targets want the verdict).
#[cfg(any(test, feature = "fuzzing"))]
pub(crate) fn read(headers: &HeaderMap, name: &str, keys: &KeyRing) -> CookieId {
    find(headers, name).verify(keys, name)
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    fn headers(values: &[&[u8]]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for v in values {
            h.append(header::COOKIE, HeaderValue::from_bytes(v).unwrap());
        }
        h
    }

    #[test]
    fn foreign_non_utf8_cookie_neither_hides_ours_nor_a_second_value_of_ours() {
        let keys = KeyRing::new(&[5u8; 32], []);
        let id = SessionId::random().unwrap();
        let ours = format!("sid={}", id.to_cookie_value(&keys, "sid"));
        let valid = CookieId::Valid(id, 0);
        let junk_then_ours = [b"junk=\xff; ".as_slice(), ours.as_bytes()].concat();
        assert_eq!(read(&headers(&[&junk_then_ours]), "sid", &keys), valid);
        assert_eq!(
            read(&headers(&[b"junk=\xff", ours.as_bytes()]), "sid", &keys),
            valid
        );
        let second_value = [ours.as_bytes(), b"; sid=\xff"].concat();
        assert_eq!(
            read(&headers(&[&second_value]), "sid", &keys),
            CookieId::Invalid
        );
        assert_eq!(
            read(&headers(&[ours.as_bytes(), b"sid=\xff"]), "sid", &keys),
            CookieId::Invalid
        );
        assert_eq!(
            read(&headers(&[b"sid=\xff"]), "sid", &keys),
            CookieId::Invalid
        );
        assert_eq!(read(&headers(&[b"\xff"]), "sid", &keys), CookieId::Absent);
    }

    mod properties {
        use super::*;
        use proptest::prelude::*;

        proptest! {
            #[test]
            fn foreign_cookies_of_any_bytes_never_hide_or_replace_ours(
                id in any::<[u8; 16]>(),
                before in proptest::collection::vec(any::<u8>(), 0..300),
                after in proptest::collection::vec(any::<u8>(), 0..300),
            ) {
                let keys = KeyRing::new(&[5u8; 32], []);
                let id = SessionId::from_bytes(id);
                let ours = format!("sid={}", id.to_cookie_value(&keys, "sid"));
                // Foreign bytes that cannot form a `sid=` pair of their own,
                // and that a header value may hold.
                let clean = |b: &[u8]| -> Vec<u8> {
                    b.iter()
                        .map(|&c| if c < 0x20 || c == 0x7f || c == b'=' { b'x' } else { c })
                        .collect()
                };
                let header = [clean(&before), b";".to_vec(), ours.into_bytes(), b";".to_vec(), clean(&after)].concat();
                prop_assert_eq!(read(&headers(&[&header]), "sid", &keys), CookieId::Valid(id, 0));
            }

            #[test]
            fn any_cookie_headers_never_panic(values in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..200), 0..4)) {
                let keys = KeyRing::new(&[5u8; 32], []);
                let mut h = HeaderMap::new();
                for v in &values {
                    if let Ok(v) = HeaderValue::from_bytes(v) {
                        h.append(header::COOKIE, v);
                    }
                }
                let _ = read(&h, "sid", &keys);
            }
        }
    }
}
