//! The key ring: one master secret (plus fallbacks for rotation) turned into
//! purpose-bound HMAC keys, so a MAC made for one purpose never verifies as
//! another (a session cookie signature is never a valid CSRF secret).

use hmac::{Hmac, Mac};
use sha2::Sha256;

pub(crate) type HmacSha256 = Hmac<Sha256>;

/// Minimum length of a secret key in bytes (256 bits).
pub const MIN_KEY_LEN: usize = 32;

/// The derived keys of one master secret.
#[derive(Clone)]
pub(crate) struct DerivedKeys {
    pub(crate) cookie: HmacSha256,
    pub(crate) csrf: HmacSha256,
    pub(crate) store: HmacSha256,
}

impl DerivedKeys {
    fn derive(master: &[u8]) -> Self {
        let sub = |label: &[u8]| {
            let mut mac = HmacSha256::new_from_slice(master).expect("HMAC accepts any key length");
            mac.update(b"mitten/v1/");
            mac.update(label);
            let bytes = mac.finalize().into_bytes();
            HmacSha256::new_from_slice(&bytes).expect("HMAC accepts any key length")
        };
        Self {
            cookie: sub(b"session-cookie"),
            csrf: sub(b"csrf-token"),
            store: sub(b"store-key"),
        }
    }
}

/// Current key first, then the fallbacks that still verify.
#[derive(Clone)]
pub(crate) struct KeyRing {
    keys: Vec<DerivedKeys>,
}

impl KeyRing {
    pub(crate) fn new<'a>(current: &[u8], fallbacks: impl IntoIterator<Item = &'a [u8]>) -> Self {
        let mut keys = vec![DerivedKeys::derive(current)];
        keys.extend(fallbacks.into_iter().map(DerivedKeys::derive));
        Self { keys }
    }

    pub(crate) fn current(&self) -> &DerivedKeys {
        &self.keys[0]
    }

    pub(crate) fn get(&self, index: usize) -> Option<&DerivedKeys> {
        self.keys.get(index)
    }

    pub(crate) fn iter(&self) -> impl Iterator<Item = (usize, &DerivedKeys)> {
        self.keys.iter().enumerate()
    }
}

/// Fills `buf` from the operating system's CSPRNG.
pub(crate) fn random_bytes<const N: usize>() -> Result<[u8; N], getrandom::Error> {
    let mut buf = [0u8; N];
    getrandom::fill(&mut buf)?;
    Ok(buf)
}
