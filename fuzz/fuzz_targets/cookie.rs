//! Cookie parsing and session-id verification: any `Cookie` headers never
//! panic and never yield a forged id; our valid cookie among foreign ones
//! is found exactly when no other value claims our name; any edit of a
//! signed value fails verification.
#![no_main]

use http::{header, HeaderMap, HeaderValue};
use libfuzzer_sys::fuzz_target;
use mitten::__fuzz::{read_cookie, sign_id, verify_cookie_value, Cookie, Keys};

const NAME: &str = "sid";

/// Values the fuzzed headers give for our name, parsed independently of
/// Mitten (split on `;`, name before the first `=`, ASCII-trimmed).
fn claims(headers: &HeaderMap) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    for h in headers.get_all(header::COOKIE) {
        for pair in h.as_bytes().split(|&b| b == b';') {
            if let Some(eq) = pair.iter().position(|&b| b == b'=') {
                if pair[..eq].trim_ascii() == NAME.as_bytes() {
                    out.push(pair[eq + 1..].trim_ascii().to_vec());
                }
            }
        }
    }
    out
}

fuzz_target!(|data: &[u8]| {
    // The harness signs ids taken from its input, and libFuzzer copies
    // compared values into later inputs: any signature under `keys` may
    // show up in an input. Forgery is judged under `unsigned`, a ring the
    // harness never signs with.
    let keys = Keys::new(&[7u8; 32], &[&[9u8; 32]]);
    let unsigned = Keys::new(&[5u8; 32], &[&[6u8; 32]]);
    let mut headers = HeaderMap::new();
    for line in data.split(|&b| b == b'\n') {
        if let Ok(v) = HeaderValue::from_bytes(line) {
            headers.append(header::COOKIE, v);
        }
    }
    // No input can carry a valid signature for these keys.
    let alone = read_cookie(&headers, NAME, &unsigned);
    assert!(!matches!(alone, Cookie::Valid(..)), "forged: {alone:?}");
    assert_eq!(alone == Cookie::Absent, claims(&headers).is_empty());

    let mut id = [0u8; 16];
    for (i, b) in data.iter().take(16).enumerate() {
        id[i] = *b;
    }
    let ours = sign_id(id, NAME, &keys);
    let foreign = claims(&headers);
    headers.append(
        header::COOKIE,
        HeaderValue::from_str(&format!("{NAME}={ours}")).unwrap(),
    );
    let with_ours = read_cookie(&headers, NAME, &keys);
    if foreign.iter().all(|v| v == ours.as_bytes()) {
        assert_eq!(with_ours, Cookie::Valid(id, 0));
    } else {
        assert_eq!(with_ours, Cookie::Invalid, "accepted despite {foreign:?}");
    }

    // Edits of the signed value, driven by the input: never verified.
    let mut mutated = ours.clone().into_bytes();
    for pair in data.chunks(2).take(4) {
        if let [at, c] = *pair {
            let at = at as usize % mutated.len();
            mutated[at] = c;
        }
    }
    if let Ok(m) = std::str::from_utf8(&mutated) {
        if m != ours {
            assert_eq!(verify_cookie_value(m, NAME, &keys), None, "{m}");
        }
    }
    if let Ok(s) = std::str::from_utf8(data) {
        assert_eq!(verify_cookie_value(s, NAME, &unsigned), None);
    }
});
