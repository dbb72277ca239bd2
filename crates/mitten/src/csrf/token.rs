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

/// True when `token` unmasks to the secret of session `id` under any key of
/// the ring. Any malformed input is simply `false`.
pub(crate) fn verify(keys: &KeyRing, id: &SessionId, token: &[u8]) -> bool {
    if token.len() != TOKEN_LEN {
        return false;
    }
    let mut raw = [0u8; SECRET_LEN * 2];
    match URL_SAFE_NO_PAD.decode_slice(token, &mut raw) {
        Ok(n) if n == raw.len() => {}
        _ => return false,
    }
    let mut unmasked = [0u8; SECRET_LEN];
    for i in 0..SECRET_LEN {
        unmasked[i] = raw[i] ^ raw[SECRET_LEN + i];
    }
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
}
