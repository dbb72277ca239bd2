//! Session ids: 128 random bits from the OS CSPRNG, carried in the cookie with
//! an HMAC that binds the cookie name, and stored only as a keyed hash.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use hmac::Mac;

use crate::keys::{random_bytes, DerivedKeys, HmacSha256, KeyRing};

const ID_LEN: usize = 16;
const MAC_LEN: usize = 32;
/// Longest cookie value we even try to decode; anything longer is junk.
pub(crate) const MAX_COOKIE_VALUE: usize = 128;

/// A session id as issued by Mitten. Never logged: `Debug` is redacted.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) struct SessionId([u8; ID_LEN]);

impl std::fmt::Debug for SessionId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SessionId(<redacted>)")
    }
}

impl SessionId {
    pub(crate) fn random() -> Result<Self, getrandom::Error> {
        random_bytes::<ID_LEN>().map(Self)
    }

    /// An id with chosen bytes: for tests and fuzzing only, never for a
    /// session (ids come from [`random`](Self::random)).
    #[cfg(any(test, feature = "fuzzing"))]
    pub(crate) fn from_bytes(bytes: [u8; ID_LEN]) -> Self {
        Self(bytes)
    }

    pub(crate) fn as_bytes(&self) -> &[u8; ID_LEN] {
        &self.0
    }

    fn mac(keys: &DerivedKeys, cookie_name: &str, id: &[u8]) -> HmacSha256 {
        let mut mac = keys.cookie.clone();
        // The name is bound so a value minted for one cookie is useless under
        // another name (the `cookie` crate's signed jar binds only the value).
        mac.update(&(cookie_name.len() as u64).to_be_bytes());
        mac.update(cookie_name.as_bytes());
        mac.update(id);
        mac
    }

    /// The signed cookie value, `base64url(id).base64url(mac)`.
    pub(crate) fn to_cookie_value(self, keys: &KeyRing, cookie_name: &str) -> String {
        let tag = Self::mac(keys.current(), cookie_name, &self.0)
            .finalize()
            .into_bytes();
        let mut out = URL_SAFE_NO_PAD.encode(self.0);
        out.push('.');
        URL_SAFE_NO_PAD.encode_string(tag, &mut out);
        out
    }

    /// Verifies a cookie value against every key in the ring; returns the id
    /// and the index of the key that signed it.
    pub(crate) fn from_cookie_value(
        value: &str,
        keys: &KeyRing,
        cookie_name: &str,
    ) -> Option<(Self, usize)> {
        if value.len() > MAX_COOKIE_VALUE {
            return None;
        }
        let (id_part, mac_part) = value.split_once('.')?;
        let mut id = [0u8; ID_LEN];
        let mut tag = [0u8; MAC_LEN];
        if URL_SAFE_NO_PAD.decode_slice(id_part, &mut id).ok()? != ID_LEN
            || URL_SAFE_NO_PAD.decode_slice(mac_part, &mut tag).ok()? != MAC_LEN
        {
            return None;
        }
        // Canonical encoding only: rejects values that decode to the same bytes
        // but are spelled differently (trailing bits), so one id has one cookie.
        // 16 bytes are 22 characters of unpadded base64; on the stack, as
        // this runs for every request that uses its session.
        let mut canonical = [0u8; 22];
        if URL_SAFE_NO_PAD.encode_slice(id, &mut canonical).ok()? != id_part.len()
            || canonical[..] != *id_part.as_bytes()
        {
            return None;
        }
        keys.iter().find_map(|(index, k)| {
            Self::mac(k, cookie_name, &id)
                .verify_slice(&tag)
                .ok()
                .map(|()| (Self(id), index))
        })
    }

    /// The key under which the store keeps this session: a keyed hash, so a
    /// dump of the store does not hand out live session ids.
    pub(crate) fn store_key(&self, keys: &DerivedKeys) -> StoreKey {
        let mut mac = keys.store.clone();
        mac.update(&self.0);
        let digest = mac.finalize().into_bytes();
        StoreKey(hex(&digest))
    }
}

fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push(DIGITS[(b >> 4) as usize] as char);
        s.push(DIGITS[(b & 0xf) as usize] as char);
    }
    s
}

/// The key a store files a session under: 64 lowercase hex characters, a
/// keyed hash of the session id. Stores treat it as an opaque string.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct StoreKey(String);

impl StoreKey {
    /// The key as a string, for use in store queries.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Wraps a string as a store key. Meant for tests and store
    /// implementations; Mitten itself only ever derives keys from ids.
    pub fn from_string(key: String) -> Self {
        Self(key)
    }
}

impl std::fmt::Debug for StoreKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Short prefix only: enough to correlate, not enough to matter. By
        // characters: a key from `from_string` need not be ASCII, and a
        // byte slice could split a character and panic.
        let prefix: String = self.0.chars().take(8).collect();
        write!(f, "StoreKey({prefix}…)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ring() -> KeyRing {
        KeyRing::new(&[7u8; 32], [])
    }

    #[test]
    fn round_trip_and_tamper() {
        let keys = ring();
        let id = SessionId::random().unwrap();
        let v = id.to_cookie_value(&keys, "sid");
        assert_eq!(
            SessionId::from_cookie_value(&v, &keys, "sid"),
            Some((id, 0))
        );
        // Another cookie name does not verify.
        assert_eq!(SessionId::from_cookie_value(&v, &keys, "other"), None);
        // Flipping any character breaks it.
        let mut bytes = v.clone().into_bytes();
        bytes[3] = if bytes[3] == b'A' { b'B' } else { b'A' };
        let tampered = String::from_utf8(bytes).unwrap();
        assert_eq!(SessionId::from_cookie_value(&tampered, &keys, "sid"), None);
    }

    #[test]
    fn rotation_verifies_with_fallback() {
        let old = KeyRing::new(&[1u8; 32], []);
        let new = KeyRing::new(&[2u8; 32], [&[1u8; 32][..]]);
        let id = SessionId::random().unwrap();
        let v = id.to_cookie_value(&old, "sid");
        assert_eq!(SessionId::from_cookie_value(&v, &new, "sid"), Some((id, 1)));
        let only_new = KeyRing::new(&[2u8; 32], []);
        assert_eq!(SessionId::from_cookie_value(&v, &only_new, "sid"), None);
    }

    #[test]
    fn debug_of_a_non_ascii_store_key_does_not_panic() {
        let k = StoreKey::from_string("a\u{e9}\u{e9}\u{e9}\u{e9}\u{e9}".into());
        assert_eq!(
            format!("{k:?}"),
            "StoreKey(a\u{e9}\u{e9}\u{e9}\u{e9}\u{e9}…)"
        );
        let hex = StoreKey::from_string("0123456789abcdef".into());
        assert_eq!(format!("{hex:?}"), "StoreKey(01234567…)");
    }

    #[test]
    fn junk_is_rejected() {
        let keys = ring();
        for junk in ["", ".", "a.b", "....", &"A".repeat(5000), "é.é"] {
            assert_eq!(SessionId::from_cookie_value(junk, &keys, "sid"), None);
        }
    }

    mod properties {
        use super::*;
        use proptest::prelude::*;

        proptest! {
            #[test]
            fn cookie_value_round_trips(key in any::<[u8; 32]>(), id in any::<[u8; 16]>(), name in "[A-Za-z0-9_-]{1,20}") {
                let keys = KeyRing::new(&key, []);
                let id = SessionId::from_bytes(id);
                let v = id.to_cookie_value(&keys, &name);
                prop_assert_eq!(SessionId::from_cookie_value(&v, &keys, &name), Some((id, 0)));
            }

            #[test]
            fn any_mutation_of_a_cookie_value_fails(
                key in any::<[u8; 32]>(),
                id in any::<[u8; 16]>(),
                at in 0..66usize,
                c in any::<char>(),
                edit in 0..3u8,
            ) {
                let keys = KeyRing::new(&key, []);
                let v = SessionId::from_bytes(id).to_cookie_value(&keys, "sid");
                let mut chars: Vec<char> = v.chars().collect();
                let at = at % chars.len();
                match edit {
                    0 => {
                        prop_assume!(chars[at] != c);
                        chars[at] = c;
                    }
                    1 => chars.insert(at, c),
                    _ => {
                        chars.remove(at);
                    }
                }
                let mutated: String = chars.into_iter().collect();
                prop_assert_eq!(SessionId::from_cookie_value(&mutated, &keys, "sid"), None);
            }

            #[test]
            fn any_string_is_not_a_cookie_value(key in any::<[u8; 32]>(), s in ".{0,200}") {
                let keys = KeyRing::new(&key, []);
                prop_assert_eq!(SessionId::from_cookie_value(&s, &keys, "sid"), None);
            }
        }
    }
}
