//! Family 3, empty and degenerate tokens: every malformed value is a 403
//! from the header and from the form field alike, never a 500, never a
//! panic, and never slower work than its length (long values are refused
//! before any decoding).

use axum::body::Body;
use axum::http::{header, HeaderValue, StatusCode};

use crate::kit::*;

/// Sends `token` as the header and, separately, as the form field (and as
/// a multipart field): all three must be refused with 403.
async fn refused_everywhere(v: &Victim, what: &str, token: &str) {
    v.forbidden(
        &format!("header {what}"),
        v.req("POST", "/notes/")
            .header(
                "x-csrf-token",
                HeaderValue::from_str(token).expect("header-safe"),
            )
            .body(Body::empty())
            .unwrap(),
    )
    .await;
    let encoded: String = form_urlencoded::byte_serialize(token.as_bytes()).collect();
    v.forbidden(
        &format!("form {what}"),
        v.req("POST", "/form")
            .header(header::CONTENT_TYPE, FORM)
            .body(Body::from(format!("_csrf_token={encoded}")))
            .unwrap(),
    )
    .await;
    let (ct, body) = multipart(&[(&field("_csrf_token"), token)]);
    v.forbidden(
        &format!("multipart {what}"),
        v.req("POST", "/upload")
            .header(header::CONTENT_TYPE, ct)
            .body(body)
            .unwrap(),
    )
    .await;
}

#[tokio::test]
async fn empty_token_is_refused() {
    let v = Victim::new().await;
    refused_everywhere(&v, "empty", "").await;
}

#[tokio::test]
async fn whitespace_only_token_is_refused() {
    let v = Victim::new().await;
    for t in [" ", "     ", "\t", " \t "] {
        refused_everywhere(&v, &format!("{t:?}"), t).await;
    }
}

#[tokio::test]
async fn valid_token_wrapped_in_whitespace_is_refused() {
    let v = Victim::new().await;
    for t in [
        format!(" {}", v.token),
        format!("{} ", v.token),
        format!("\t{}", v.token),
    ] {
        refused_everywhere(&v, "padded", &t).await;
    }
}

#[tokio::test]
async fn token_of_the_wrong_length_is_refused() {
    let v = Victim::new().await;
    let t = &v.token;
    for c in [
        t[..t.len() - 1].to_owned(),
        t[..t.len() - 2].to_owned(),
        t[..43].to_owned(),
        format!("{t}A"),
        format!("{t}=="),
        format!("{t}{t}"),
        "AAAA".to_owned(),
        "A".to_owned(),
    ] {
        refused_everywhere(&v, &format!("len {}", c.len()), &c).await;
    }
}

#[tokio::test]
async fn token_with_invalid_base64_is_refused() {
    let v = Victim::new().await;
    let t = &v.token;
    let with = |at: usize, s: &str| {
        let mut c = t.clone();
        c.replace_range(at..at + s.len(), s);
        c
    };
    for c in [
        with(10, "!"),
        with(10, "="),
        with(10, "."),
        with(10, "%"),
        with(0, "+/"),
        "not base64 at all but exactly eighty-six characters long, padded with more text...!"
            .to_owned(),
        "!".repeat(86),
    ] {
        refused_everywhere(&v, &c[..12.min(c.len())], &c).await;
    }
}

#[tokio::test]
async fn standard_alphabet_spelling_of_a_valid_token_is_refused() {
    // `-_` swapped for `+/`: the same bytes in another alphabet.
    let v = Victim::new().await;
    let std_spelling = v.token.replace('-', "+").replace('_', "/");
    if std_spelling != v.token {
        refused_everywhere(&v, "std alphabet", &std_spelling).await;
    }
}

#[tokio::test]
async fn token_with_non_canonical_trailing_bits_is_refused() {
    // The last of 86 characters carries 2 data bits and 4 unused ones:
    // changing only unused bits decodes to the same bytes in lenient
    // decoders.
    let v = Victim::new().await;
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let last = *v.token.as_bytes().last().unwrap();
    let idx = ALPHABET.iter().position(|&c| c == last).unwrap();
    for low in 1..4 {
        let mut c = v.token.clone().into_bytes();
        *c.last_mut().unwrap() = ALPHABET[(idx & !3) | ((idx + low) & 3)];
        let c = String::from_utf8(c).unwrap();
        refused_everywhere(&v, "trailing bits", &c).await;
    }
}

#[tokio::test]
async fn well_formed_token_of_the_right_length_but_wrong_value_is_refused() {
    let v = Victim::new().await;
    let flipped_case: String = v
        .token
        .chars()
        .map(|c| {
            if c.is_ascii_lowercase() {
                c.to_ascii_uppercase()
            } else {
                c.to_ascii_lowercase()
            }
        })
        .collect();
    let reversed: String = v.token.chars().rev().collect();
    // Pad and masked half swapped: unmasks to the same XOR only by chance.
    let mut swapped = v.token[43..].to_owned();
    swapped.push_str(&v.token[..43]);
    for c in [
        "A".repeat(86),
        "_".repeat(86),
        flipped_case,
        reversed,
        swapped,
    ] {
        if c != v.token {
            refused_everywhere(&v, &c[..8], &c).await;
        }
    }
}

#[tokio::test]
async fn non_utf8_token_bytes_are_refused() {
    let v = Victim::new().await;
    for bytes in [vec![0xff; 86], b"\xe9".repeat(86), {
        let mut t = v.token.clone().into_bytes();
        t[5] = 0x80;
        t
    }] {
        v.forbidden(
            "header bytes",
            v.req("POST", "/notes/")
                .header("x-csrf-token", HeaderValue::from_bytes(&bytes).unwrap())
                .body(Body::empty())
                .unwrap(),
        )
        .await;
        let encoded: String = form_urlencoded::byte_serialize(&bytes).collect();
        v.forbidden(
            "form bytes",
            v.req("POST", "/form")
                .header(header::CONTENT_TYPE, FORM)
                .body(Body::from(format!("_csrf_token={encoded}")))
                .unwrap(),
        )
        .await;
    }
}

#[tokio::test]
async fn nul_and_control_bytes_in_the_token_are_refused() {
    let v = Victim::new().await;
    for body in [
        "_csrf_token=".to_owned() + &"%00".repeat(86),
        format!("_csrf_token={}%00", v.token),
        format!("_csrf_token=%00{}", &v.token[1..]),
        format!("_csrf_token={}%0D%0A", v.token),
    ] {
        v.forbidden(
            &body[..20],
            v.req("POST", "/form")
                .header(header::CONTENT_TYPE, FORM)
                .body(Body::from(body.clone()))
                .unwrap(),
        )
        .await;
    }
}

#[tokio::test]
async fn percent_encoded_token_in_the_header_is_refused() {
    // Headers are not URL-decoded: `%41` is three characters.
    let v = Victim::new().await;
    let encoded: String = v.token.bytes().map(|b| format!("%{b:02X}")).collect();
    v.forbidden(
        "percent-encoded header",
        v.req("POST", "/notes/")
            .header("x-csrf-token", encoded)
            .body(Body::empty())
            .unwrap(),
    )
    .await;
}

#[tokio::test]
async fn one_megabyte_token_is_refused_with_403_not_500() {
    let v = Victim::new().await;
    let huge = "A".repeat(1 << 20);
    refused_everywhere(&v, "1 MiB", &huge).await;
    let huge_valid_prefix = format!("{}{}", v.token, "A".repeat(1 << 20));
    refused_everywhere(&v, "1 MiB after a valid token", &huge_valid_prefix).await;
}

#[tokio::test]
async fn session_cookie_value_used_as_token_is_refused() {
    let v = Victim::new().await;
    let cookie = v.cookie.clone();
    refused_everywhere(&v, "cookie as token", &cookie).await;
    let id_part = cookie.split('.').next().unwrap().to_owned();
    refused_everywhere(&v, "id as token", &id_part).await;
}

#[tokio::test]
async fn degenerate_tokens_never_cause_a_500_with_the_body_limit_at_its_edge() {
    // A token that is exactly as long as the body allows, and one byte over.
    let v = Victim::with(|b| b.body_limit(4096)).await;
    let fits = format!("_csrf_token={}", "A".repeat(4096 - 12));
    v.forbidden(
        "at the limit",
        v.req("POST", "/form")
            .header(header::CONTENT_TYPE, FORM)
            .body(Body::from(fits))
            .unwrap(),
    )
    .await;
    let over = format!("_csrf_token={}", "A".repeat(4096 - 11));
    v.refused(
        "over the limit",
        v.req("POST", "/form")
            .header(header::CONTENT_TYPE, FORM)
            .body(Body::from(over))
            .unwrap(),
        StatusCode::PAYLOAD_TOO_LARGE,
    )
    .await;
}
