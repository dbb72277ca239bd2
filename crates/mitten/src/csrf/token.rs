//! CSRF tokens: a per-session secret, HMAC(csrf key, session id), sent masked
//! with a fresh one-time pad on every render (so the bytes differ each time
//! and BREACH-style compression oracles learn nothing), verified without any
//! store access.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use hmac::Mac;
use subtle::ConstantTimeEq;

use crate::keys::{random_bytes, DerivedKeys, KeyRing};
use crate::session::id::SessionId;

const SECRET_LEN: usize = 32;
/// Encoded length of a token: base64url(pad || masked secret).
pub(crate) const TOKEN_LEN: usize = 86;

fn secret(keys: &DerivedKeys, id: &SessionId) -> [u8; SECRET_LEN] {
    let mut mac = keys.csrf.clone();
    mac.update(id.as_bytes());
    mac.finalize().into_bytes().into()
}

/// A freshly masked token for the session `id`, under the current key.
pub(crate) fn mint(keys: &KeyRing, id: &SessionId) -> Result<String, getrandom::Error> {
    let pad = random_bytes::<SECRET_LEN>()?;
    let secret = secret(keys.current(), id);
    let mut raw = [0u8; SECRET_LEN * 2];
    raw[..SECRET_LEN].copy_from_slice(&pad);
    for i in 0..SECRET_LEN {
        raw[SECRET_LEN + i] = secret[i] ^ pad[i];
    }
    Ok(URL_SAFE_NO_PAD.encode(raw))
}

/// The secret a token carries (pad XOR masked half), or `None` for anything
/// that is not exactly a canonical base64url encoding of pad || masked.
pub(crate) fn unmask(token: &[u8]) -> Option<[u8; SECRET_LEN]> {
    if token.len() != TOKEN_LEN {
        return None;
    }
    let mut raw = [0u8; SECRET_LEN * 2];
    match URL_SAFE_NO_PAD.decode_slice(token, &mut raw) {
        Ok(n) if n == raw.len() => {}
        _ => return None,
    }
    let mut unmasked = [0u8; SECRET_LEN];
    for i in 0..SECRET_LEN {
        unmasked[i] = raw[i] ^ raw[SECRET_LEN + i];
    }
    Some(unmasked)
}

/// The unmasked secret of session `id` under the current key.
#[cfg(any(test, feature = "fuzzing"))]
pub(crate) fn current_secret(keys: &KeyRing, id: &SessionId) -> [u8; SECRET_LEN] {
    secret(keys.current(), id)
}

/// True when `token` unmasks to the secret of session `id` under any key of
/// the ring. Any malformed input is simply `false`.
pub(crate) fn verify(keys: &KeyRing, id: &SessionId, token: &[u8]) -> bool {
    let Some(unmasked) = unmask(token) else {
        return false;
    };
    // Every key is tried, whatever the outcome, so timing does not reveal
    // which key (if any) matched.
    let mut ok = subtle::Choice::from(0);
    for (_, k) in keys.iter() {
        ok |= secret(k, id).ct_eq(&unmasked);
    }
    ok.into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masked_tokens_differ_and_verify() {
        let keys = KeyRing::new(&[3u8; 32], []);
        let id = SessionId::random().unwrap();
        let a = mint(&keys, &id).unwrap();
        let b = mint(&keys, &id).unwrap();
        assert_ne!(a, b);
        assert_eq!(a.len(), TOKEN_LEN);
        assert!(verify(&keys, &id, a.as_bytes()));
        assert!(verify(&keys, &id, b.as_bytes()));
        let other = SessionId::random().unwrap();
        assert!(!verify(&keys, &other, a.as_bytes()));
    }

    #[test]
    fn degenerate_tokens_fail() {
        let keys = KeyRing::new(&[3u8; 32], []);
        let id = SessionId::random().unwrap();
        let long = "A".repeat(1 << 20);
        for t in [
            "",
            " ",
            "AAAA",
            &"A".repeat(TOKEN_LEN),
            &"!".repeat(TOKEN_LEN),
            &long,
        ] {
            assert!(!verify(&keys, &id, t.as_bytes()));
        }
        assert!(!verify(&keys, &id, &[0xff; TOKEN_LEN]));
    }

    mod properties {
        use super::*;
        use proptest::prelude::*;

        fn ring(k: &[u8; 32]) -> KeyRing {
            KeyRing::new(k, [])
        }

        proptest! {
            #[test]
            fn mask_unmask_round_trip(key in any::<[u8; 32]>(), id in any::<[u8; 16]>()) {
                let keys = ring(&key);
                let id = SessionId::from_bytes(id);
                let a = mint(&keys, &id).unwrap();
                let b = mint(&keys, &id).unwrap();
                prop_assert_eq!(a.len(), TOKEN_LEN);
                prop_assert_ne!(&a, &b, "two renders must differ (BREACH)");
                for t in [&a, &b] {
                    prop_assert_eq!(unmask(t.as_bytes()), Some(current_secret(&keys, &id)));
                    prop_assert!(verify(&keys, &id, t.as_bytes()));
                }
            }

            #[test]
            fn any_byte_string_is_rejected_unless_minted_for_that_session(
                key in any::<[u8; 32]>(),
                id in any::<[u8; 16]>(),
                bytes in proptest::collection::vec(any::<u8>(), 0..200),
            ) {
                prop_assert!(!verify(&ring(&key), &SessionId::from_bytes(id), &bytes));
            }

            #[test]
            fn any_well_formed_token_not_minted_for_the_session_is_rejected(
                key in any::<[u8; 32]>(),
                id in any::<[u8; 16]>(),
                t in "[A-Za-z0-9_-]{85}[AQgw]",
            ) {
                // Canonical base64url of 64 bytes: a real candidate, not junk.
                prop_assert!(unmask(t.as_bytes()).is_some());
                prop_assert!(!verify(&ring(&key), &SessionId::from_bytes(id), t.as_bytes()));
            }

            #[test]
            fn token_of_one_session_or_key_never_verifies_for_another(
                k1 in any::<[u8; 32]>(),
                k2 in any::<[u8; 32]>(),
                a in any::<[u8; 16]>(),
                b in any::<[u8; 16]>(),
            ) {
                let (ka, ida) = (ring(&k1), SessionId::from_bytes(a));
                let t = mint(&ka, &ida).unwrap();
                if a != b {
                    prop_assert!(!verify(&ka, &SessionId::from_bytes(b), t.as_bytes()));
                }
                if k1 != k2 {
                    prop_assert!(!verify(&ring(&k2), &ida, t.as_bytes()));
                }
            }

            #[test]
            fn any_single_character_change_of_a_valid_token_is_rejected(
                key in any::<[u8; 32]>(),
                id in any::<[u8; 16]>(),
                at in 0..TOKEN_LEN,
                c in any::<u8>(),
            ) {
                let keys = ring(&key);
                let id = SessionId::from_bytes(id);
                let mut t = mint(&keys, &id).unwrap().into_bytes();
                prop_assume!(t[at] != c);
                t[at] = c;
                prop_assert!(!verify(&keys, &id, &t));
            }
        }
    }
}
