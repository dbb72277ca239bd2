//! Token unmasking and verification: any bytes never verify; a minted
//! token round-trips; another session's id fails; an edited token verifies
//! exactly when it still unmasks to the session's secret.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mitten::__fuzz::{mint_token, token_secret, unmask_token, verify_token, Keys};

fuzz_target!(|data: &[u8]| {
    // Tokens minted here for input-derived ids can reach later inputs
    // through libFuzzer's comparison tracing: arbitrary input is judged
    // under `unused`, a ring nothing is minted with.
    let keys = Keys::new(&[3u8; 32], &[&[4u8; 32]]);
    let unused = Keys::new(&[1u8; 32], &[&[2u8; 32]]);
    let mut id = [0u8; 16];
    for (i, b) in data.iter().rev().take(16).enumerate() {
        id[i] = *b;
    }
    let _ = unmask_token(data);
    assert!(!verify_token(&unused, id, data), "fuzzed bytes verified");

    let t = mint_token(&keys, id);
    assert_eq!(unmask_token(t.as_bytes()), Some(token_secret(&keys, id)));
    assert!(verify_token(&keys, id, t.as_bytes()));
    let mut other = id;
    other[(data.len()) % 16] ^= 1 | data.first().copied().unwrap_or(0);
    assert!(!verify_token(&keys, other, t.as_bytes()));

    let mut mutated = t.clone().into_bytes();
    for pair in data.chunks(2).take(4) {
        if let [at, c] = *pair {
            let at = at as usize % mutated.len();
            mutated[at] = c;
        }
    }
    // Masking is malleable by design: flipping the same bits in the pad and
    // in the masked half keeps the secret, and that token is as valid as
    // any other render. Any other edit must fail.
    let still_the_secret = unmask_token(&mutated) == Some(token_secret(&keys, id));
    assert_eq!(
        verify_token(&keys, id, &mutated),
        still_the_secret,
        "verification disagrees with unmasking for an edited token"
    );
});
