//! Family 2, body and content-type tricks: a valid token (as if leaked)
//! placed where it must not be read, encodings that might make Mitten and
//! the handler disagree on which token was sent, and malformed bodies.
//!
//! The rule: the token is read from the `X-CSRF-Token` header or the
//! `_csrf_token` field of a body whose (first) `Content-Type` is urlencoded
//! or multipart — the same body and field the handler's own extractor reads
//! — and nowhere else. Two candidate tokens are never resolved by picking
//! one: both must verify, and two form fields are refused outright.

use axum::body::{Body, Bytes};
use axum::http::{header, HeaderValue, StatusCode};

use crate::common::*;
use crate::kit::*;
use crate::wire::*;

fn form_post(v: &Victim, ct: &str, body: impl Into<Body>) -> axum::http::Request<Body> {
    v.req("POST", "/form")
        .header(header::CONTENT_TYPE, ct)
        .body(body.into())
        .unwrap()
}

fn upload(v: &Victim, ct: String, body: Body) -> axum::http::Request<Body> {
    v.req("POST", "/upload")
        .header(header::CONTENT_TYPE, ct)
        .body(body)
        .unwrap()
}

// ---- token where it must not be read ---------------------------------------

#[tokio::test]
async fn post_with_valid_token_only_in_the_query_string_is_refused() {
    let v = Victim::new().await;
    for name in ["_csrf_token", "x-csrf-token", "X-CSRF-Token", "csrf_token"] {
        let uri = format!("/notes/?{name}={}", v.token);
        v.forbidden(&uri, v.req("POST", &uri).body(Body::empty()).unwrap())
            .await;
    }
    // Also when the body is a form that lacks the field.
    let uri = format!("/form?_csrf_token={}", v.token);
    v.forbidden(
        "query + form body",
        v.req("POST", &uri)
            .header(header::CONTENT_TYPE, FORM)
            .body(Body::from("name=alice"))
            .unwrap(),
    )
    .await;
    assert_eq!(v.value().await, "before");
}

#[tokio::test]
async fn valid_token_only_in_a_cookie_is_refused() {
    let v = Victim::new().await;
    for name in ["_csrf_token", "x-csrf-token", "csrftoken", "XSRF-TOKEN"] {
        v.forbidden(
            name,
            browser("POST", "/notes/")
                .header(
                    header::COOKIE,
                    format!("{}; {name}={}", v.cookie_header(), v.token),
                )
                .body(Body::empty())
                .unwrap(),
        )
        .await;
    }
}

#[tokio::test]
async fn valid_token_in_a_json_body_without_the_header_is_refused() {
    let v = Victim::new().await;
    let json = format!(
        r#"{{"_csrf_token":"{t}","x-csrf-token":"{t}","csrf":"{t}"}}"#,
        t = v.token
    );
    for ct in [
        "application/json",
        "application/json; charset=utf-8",
        "text/json",
    ] {
        v.forbidden(ct, form_post(&v, ct, json.clone())).await;
    }
}

#[tokio::test]
async fn valid_token_in_a_text_plain_form_body_is_refused() {
    // `<form enctype="text/plain">` can be sent cross-site without a
    // preflight, and its body looks just like an urlencoded one.
    let v = Victim::new().await;
    let body = format!("_csrf_token={}", v.token);
    for ct in [
        "text/plain",
        "text/plain; charset=utf-8",
        "text/plain; x=application/x-www-form-urlencoded",
        "text/plain;application/x-www-form-urlencoded",
    ] {
        v.forbidden(ct, form_post(&v, ct, body.clone())).await;
    }
}

#[tokio::test]
async fn valid_token_in_a_body_without_or_with_a_lookalike_content_type_is_refused() {
    let v = Victim::new().await;
    let body = format!("_csrf_token={}", v.token);
    v.forbidden(
        "no content-type",
        v.req("POST", "/form")
            .body(Body::from(body.clone()))
            .unwrap(),
    )
    .await;
    for ct in [
        "application/x-www-form-urlencodedx",
        "application/x-www-form-urlencoded2",
        "text/x-www-form-urlencoded",
        "x-www-form-urlencoded",
        "application/x-www-form-urlencoded, text/plain",
        "application/x-www-form-urlencoded text/plain",
        "application/octet-stream",
        "*/*",
        "",
    ] {
        v.forbidden(ct, form_post(&v, ct, body.clone())).await;
    }
}

#[tokio::test]
async fn second_content_type_header_does_not_make_mitten_read_a_body_the_handler_would_not() {
    // Mitten and axum's extractors both take the first Content-Type.
    let v = Victim::new().await;
    v.forbidden(
        "text/plain then urlencoded",
        v.req("POST", "/form")
            .header(header::CONTENT_TYPE, "text/plain")
            .header(header::CONTENT_TYPE, FORM)
            .body(Body::from(format!("_csrf_token={}", v.token)))
            .unwrap(),
    )
    .await;
}

#[tokio::test]
async fn valid_token_in_a_non_utf8_charset_body_is_refused() {
    let v = Victim::new().await;
    let utf16: Vec<u8> = format!("_csrf_token={}", v.token)
        .encode_utf16()
        .flat_map(u16::to_le_bytes)
        .collect();
    for ct in [
        "application/x-www-form-urlencoded; charset=utf-16le",
        "application/x-www-form-urlencoded; charset=utf-16",
    ] {
        v.forbidden(ct, form_post(&v, ct, utf16.clone())).await;
    }
    // UTF-7 spelling of the field name: not the field.
    let body = format!("+AF8-csrf+AF8-token={}", v.token);
    v.forbidden(
        "utf-7",
        form_post(&v, "application/x-www-form-urlencoded; charset=utf-7", body),
    )
    .await;
}

// ---- urlencoded field tricks ------------------------------------------------

#[tokio::test]
async fn duplicate_token_fields_with_different_values_are_refused() {
    let v = Victim::new().await;
    let other = token_for(&v.app, &v.name, &v.cookie).await;
    for body in [
        format!("_csrf_token={}&_csrf_token={other}", v.token),
        format!("_csrf_token={}&a=1&_csrf_token={other}", v.token),
        format!("_csrf_token=junk&_csrf_token={}", v.token),
        format!("_csrf_token={}&_csrf_token=", v.token),
        format!("_csrf_token={}&_csrf_token", v.token),
    ] {
        v.forbidden(&body, form_post(&v, FORM, body.clone())).await;
    }
}

#[tokio::test]
async fn duplicate_token_fields_with_the_same_valid_value_are_refused() {
    let v = Victim::new().await;
    let body = format!("_csrf_token={t}&_csrf_token={t}", t = v.token);
    v.forbidden("same value twice", form_post(&v, FORM, body))
        .await;
}

#[tokio::test]
async fn percent_encoded_token_field_name_is_the_same_field_as_for_the_handler() {
    let v = Victim::new().await;
    // Decoded like the handler decodes it: a second, bad `_csrf_token`.
    for body in [
        format!("%5Fcsrf%5Ftoken=junk&_csrf_token={}", v.token),
        format!("_csrf_token={}&%5fcsrf%5ftoken=junk", v.token),
        format!("_csrf%5Ftoken={t}&%5Fcsrf_token={t}", t = v.token),
    ] {
        v.forbidden(&body, form_post(&v, FORM, body.clone())).await;
    }
    // Alone, the encoded name is the field (handler and Mitten agree).
    let r = v
        .accepted(
            "encoded name alone",
            form_post(&v, FORM, format!("%5Fcsrf%5Ftoken={}", v.token)),
        )
        .await;
    assert_eq!(r.body, format!("_csrf_token={}", v.token));
}

#[tokio::test]
async fn plus_space_and_percent_tricks_inside_the_token_value_are_refused() {
    let v = Victim::new().await;
    let t = &v.token;
    let (a, b) = t.split_at(40);
    for value in [
        format!("{a}+{b}"),
        format!("+{t}"),
        format!("{t}+"),
        format!("%20{t}"),
        format!("{t}%00"),
        format!("{a}%2B{b}"),
        format!("{a}%0A{b}"),
        t.replace('-', "+").replace('_', "/"),
    ] {
        if value == *t {
            continue;
        }
        v.forbidden(&value, form_post(&v, FORM, format!("_csrf_token={value}")))
            .await;
    }
}

#[tokio::test]
async fn field_names_that_only_resemble_the_token_field_are_not_read() {
    let v = Victim::new().await;
    for name in [
        "_csrf_token[]",
        "_csrf_token%00",
        "_csrf_token.",
        "_csrf_token%20",
        "%20_csrf_token",
        "_CSRF_TOKEN",
        "_Csrf_Token",
        "csrf_token",
        "_csrf-token",
        "__csrf_token",
        "x-csrf-token",
        "_csrf_token%3D",
    ] {
        v.forbidden(
            name,
            form_post(&v, FORM, format!("{name}={}&note=x", v.token)),
        )
        .await;
    }
}

#[tokio::test]
async fn header_and_form_token_disagreeing_are_refused() {
    let v = Victim::new().await;
    let (other_session_token, _) = token(&v.app, &v.name).await;
    let bad = "A".repeat(86);
    for (h, f) in [
        (v.token.as_str(), bad.as_str()),
        (bad.as_str(), v.token.as_str()),
        (v.token.as_str(), other_session_token.as_str()),
        (other_session_token.as_str(), v.token.as_str()),
        ("", v.token.as_str()),
        (v.token.as_str(), ""),
    ] {
        v.forbidden(
            &format!("header {:.8} form {:.8}", h, f),
            v.req("POST", "/form")
                .header("x-csrf-token", h)
                .header(header::CONTENT_TYPE, FORM)
                .body(Body::from(format!("_csrf_token={f}")))
                .unwrap(),
        )
        .await;
    }
}

#[tokio::test]
async fn two_x_csrf_token_headers_are_refused() {
    let v = Victim::new().await;
    let other = token_for(&v.app, &v.name, &v.cookie).await;
    for second in [other.as_str(), v.token.as_str(), "junk"] {
        v.forbidden(
            second,
            v.with_token("POST", "/notes/")
                .header("x-csrf-token", second)
                .body(Body::empty())
                .unwrap(),
        )
        .await;
    }
}

#[tokio::test]
async fn empty_or_tokenless_form_bodies_are_refused() {
    let v = Victim::new().await;
    for body in ["", "&", "=", "_csrf_token", "a=1&b=2", "&&&&"] {
        v.forbidden(body, form_post(&v, FORM, body)).await;
    }
    let (ct, body) = multipart(&[]);
    v.forbidden("empty multipart", upload(&v, ct, body)).await;
}

#[tokio::test]
async fn form_content_type_in_odd_spellings_is_still_a_form_to_mitten() {
    // If Mitten ignored these bodies while the handler parsed them, two
    // tokens could be judged differently: a bad token in them is caught.
    let v = Victim::new().await;
    for ct in [
        "APPLICATION/X-WWW-FORM-URLENCODED",
        "Application/X-Www-Form-Urlencoded",
        "application/x-www-form-urlencoded; charset=utf-8",
        "application/x-www-form-urlencoded;charset=UTF-8",
        "application/x-www-form-urlencoded ; charset=\"utf-8\"",
        " application/x-www-form-urlencoded",
        "application/x-www-form-urlencoded;",
    ] {
        v.forbidden(
            ct,
            v.with_token("POST", "/form")
                .header(header::CONTENT_TYPE, ct)
                .body(Body::from("_csrf_token=junk"))
                .unwrap(),
        )
        .await;
    }
}

// ---- multipart ---------------------------------------------------------------

#[tokio::test]
async fn multipart_token_only_in_a_file_part_is_refused() {
    let v = Victim::new().await;
    for disposition in [
        r#"Content-Disposition: form-data; name="_csrf_token"; filename="t.txt""#,
        r#"Content-Disposition: form-data; name="_csrf_token"; filename="""#,
        r#"Content-Disposition: form-data; filename="t.txt"; name="_csrf_token""#,
        r#"Content-Disposition: form-data; name="_csrf_token"; filename*=UTF-8''t.txt"#,
        r#"Content-Disposition: form-data; name="_csrf_token"; FILENAME="t.txt""#,
        r#"Content-Disposition: form-data; name="_csrf_token"; FileName="t.txt""#,
        r#"Content-Disposition: form-data; name="_csrf_token"; filename=t.txt"#,
        r#"Content-Disposition: form-data; name="_csrf_token" ; filename = "t.txt""#,
    ] {
        let part = format!("{disposition}\r\nContent-Type: text/plain");
        let (ct, body) = multipart(&[(&field("title"), "hello"), (&part, &v.token)]);
        v.forbidden(disposition, upload(&v, ct, body)).await;
    }
}

#[tokio::test]
async fn multipart_second_token_part_disguised_as_a_file_is_refused() {
    // Found by fuzzing: a part the handler's parser (multer) reads as a
    // text `_csrf_token` but Mitten as a file, next to the real token: the
    // handler would see two tokens, one never checked.
    let v = Victim::new().await;
    for disguise in [
        r#"Content-Disposition: form-data; name="_csrf_token"; filename*=UTF-8''t.txt"#,
        r#"Content-Disposition: form-data; name="_csrf_token"; FILENAME="t.txt""#,
        r#"Content-Disposition: form-data; name="_csrf_token"; filename="t.txt""#,
    ] {
        for parts in [
            [
                (disguise.to_owned(), "attacker's"),
                (field("_csrf_token"), v.token.as_str()),
            ],
            [
                (field("_csrf_token"), v.token.as_str()),
                (disguise.to_owned(), "attacker's"),
            ],
        ] {
            let parts: Vec<(&str, &str)> = parts.iter().map(|(h, c)| (h.as_str(), *c)).collect();
            let (ct, body) = multipart(&parts);
            v.forbidden(disguise, upload(&v, ct, body)).await;
        }
    }
}

#[tokio::test]
async fn multipart_token_field_under_another_name_spelling_is_refused() {
    let v = Victim::new().await;
    for disposition in [
        r#"Content-Disposition: form-data; name="_CSRF_TOKEN""#,
        r#"Content-Disposition: form-data; name="_csrf_token ""#,
        r#"Content-Disposition: form-data; name=" _csrf_token""#,
        r#"Content-Disposition: form-data; name="%5Fcsrf%5Ftoken""#,
        r#"Content-Disposition: form-data; name="_csrf_token[]""#,
        r#"Content-Disposition: form-data; NAME="_csrf_token""#,
        r#"Content-Disposition: form-data; xname="_csrf_token""#,
        r#"Content-Disposition: attachment; filename="_csrf_token""#,
        "Content-Type: text/plain",
    ] {
        let (ct, body) = multipart(&[(disposition, &v.token)]);
        v.forbidden(disposition, upload(&v, ct, body)).await;
    }
}

#[tokio::test]
async fn multipart_duplicate_token_parts_are_refused() {
    let v = Victim::new().await;
    let other = token_for(&v.app, &v.name, &v.cookie).await;
    for second in [other.as_str(), v.token.as_str(), ""] {
        let (ct, body) = multipart(&[
            (&field("_csrf_token"), &v.token),
            (&field("note"), "x"),
            (&field("_csrf_token"), second),
        ]);
        v.forbidden(second, upload(&v, ct, body)).await;
    }
}

#[tokio::test]
async fn multipart_token_in_a_nested_multipart_part_is_refused() {
    let v = Victim::new().await;
    let inner = format!(
        "--Inner\r\n{}\r\n\r\n{}\r\n--Inner--",
        field("_csrf_token"),
        v.token
    );
    let part = format!(
        "{}\r\nContent-Type: multipart/mixed; boundary=Inner",
        field("files")
    );
    let (ct, body) = multipart(&[(&part, &inner)]);
    v.forbidden("nested", upload(&v, ct, body)).await;
}

#[tokio::test]
async fn multipart_token_in_the_preamble_or_epilogue_is_refused() {
    let v = Victim::new().await;
    let token_part = format!("{}\r\n\r\n{}\r\n", field("_csrf_token"), v.token);
    for body in [
        // Preamble: before the first boundary.
        format!("{token_part}--B0undary\r\n{}\r\n\r\nx\r\n--B0undary--\r\n", field("a")),
        // Epilogue: after the closing boundary.
        format!("--B0undary\r\n{}\r\n\r\nx\r\n--B0undary--\r\n--B0undary\r\n{token_part}--B0undary--\r\n", field("a")),
    ] {
        v.forbidden(
            "preamble/epilogue",
            upload(&v, "multipart/form-data; boundary=B0undary".into(), Body::from(body)),
        )
        .await;
    }
}

#[tokio::test]
async fn multipart_token_hidden_behind_a_boundary_lookalike_is_refused() {
    let v = Victim::new().await;
    // The Content-Type names one boundary, the body uses another.
    let body = format!(
        "--Other\r\n{}\r\n\r\n{}\r\n--Other--\r\n",
        field("_csrf_token"),
        v.token
    );
    for ct in [
        "multipart/form-data; boundary=B0undary",
        "multipart/form-data; boundary=\"B0undary\"",
        "multipart/form-data; boundary=Other-not",
        "multipart/form-data; boundary=Othe",
    ] {
        v.refused_one_of(
            ct,
            upload(&v, ct.into(), Body::from(body.clone())),
            &[StatusCode::FORBIDDEN, StatusCode::BAD_REQUEST],
        )
        .await;
    }
}

#[tokio::test]
async fn malformed_multipart_is_400_never_500_and_never_reaches_the_handler() {
    let v = Victim::new().await;
    let tok_part = format!(
        "--B\r\n{}\r\n\r\n{}\r\n--B--\r\n",
        field("_csrf_token"),
        v.token
    );
    for (ct, body) in [
        ("multipart/form-data", tok_part.clone()),
        ("multipart/form-data; boundary=", tok_part.clone()),
        ("multipart/form-data; boundary=\"\"", tok_part.clone()),
        ("multipart/form-data; boundary=B", "garbage".into()),
        (
            "multipart/form-data; boundary=B",
            "--B\r\nno blank line".into(),
        ),
        (
            "multipart/form-data; boundary=B",
            format!("--B\r\n{}\r\n\r\nunterminated", field("_csrf_token")),
        ),
        (
            "multipart/form-data; boundary=B",
            format!("--B\r\n{}\r\n\r\n{}\r\n--B", field("_csrf_token"), v.token),
        ),
        ("multipart/form-data; boundary=B", "--B--\r\n".into()),
        ("multipart/form-data; boundary=B", "--B\n\n\n--B--".into()),
        (
            "multipart/form-data; boundary=B",
            format!("--B\r\n{}\r\n", "X-H: y\r\n".repeat(100)),
        ),
    ] {
        v.refused_one_of(
            &format!("{ct} {body:?}"),
            upload(&v, ct.into(), Body::from(body.clone())),
            &[StatusCode::FORBIDDEN, StatusCode::BAD_REQUEST],
        )
        .await;
    }
}

#[tokio::test]
async fn multipart_with_quoted_boundary_and_token_in_a_later_part_reads_like_the_handler() {
    // The positive control for the multipart tricks above: the same parser
    // as the handler's, so the token it accepts is the one the handler sees.
    let v = Victim::new().await;
    let body = format!(
        "--Qu0ted\r\n{}\r\n\r\nhello\r\n--Qu0ted\r\n{}; filename=\"a.txt\"\r\n\r\nfile\r\n--Qu0ted\r\n{}\r\n\r\n{}\r\n--Qu0ted--\r\n",
        field("title"),
        field("doc"),
        field("_csrf_token"),
        v.token
    );
    let r = v
        .accepted(
            "quoted boundary",
            upload(
                &v,
                "multipart/form-data; boundary=\"Qu0ted\"".into(),
                Body::from(body),
            ),
        )
        .await;
    assert!(
        r.body.ends_with(&format!("_csrf_token={}", v.token)),
        "{}",
        r.body
    );
}

// ---- body size ---------------------------------------------------------------

#[tokio::test]
async fn form_body_over_the_limit_declared_by_content_length_is_413() {
    let v = Victim::with(|b| b.body_limit(1024)).await;
    let body = format!("_csrf_token={}&pad={}", v.token, "x".repeat(2000));
    v.refused(
        "declared",
        v.req("POST", "/form")
            .header(header::CONTENT_TYPE, FORM)
            .header(header::CONTENT_LENGTH, body.len())
            .body(Body::from(body))
            .unwrap(),
        StatusCode::PAYLOAD_TOO_LARGE,
    )
    .await;
    // A Content-Length that lies low does not let a bigger body through.
    let body = format!("_csrf_token={}&pad={}", v.token, "x".repeat(2000));
    v.refused(
        "lying content-length",
        v.req("POST", "/form")
            .header(header::CONTENT_TYPE, FORM)
            .header(header::CONTENT_LENGTH, 10)
            .body(Body::from(body))
            .unwrap(),
        StatusCode::PAYLOAD_TOO_LARGE,
    )
    .await;
    // Exactly at the limit is fine (the limit is not off by one).
    let body = format!("_csrf_token={}&pad=", v.token);
    let body = format!("{body}{}", "x".repeat(1024 - body.len()));
    v.accepted(
        "at the limit",
        v.req("POST", "/form")
            .header(header::CONTENT_TYPE, FORM)
            .header(header::CONTENT_LENGTH, body.len())
            .body(Body::from(body))
            .unwrap(),
    )
    .await;
}

#[tokio::test]
async fn chunked_form_body_over_the_limit_without_content_length_is_413() {
    let v = Victim::with(|b| b.body_limit(4096)).await;
    let first = format!("_csrf_token={}&pad=", v.token);
    let chunks = std::iter::once(Bytes::from(first))
        .chain(std::iter::repeat_n(Bytes::from(vec![b'x'; 1000]), 10))
        .map(Ok::<_, std::io::Error>);
    for (uri, ct) in [
        ("/form", FORM.to_owned()),
        ("/upload", "multipart/form-data; boundary=B".to_owned()),
    ] {
        v.refused(
            uri,
            v.req("POST", uri)
                .header(header::CONTENT_TYPE, ct)
                .body(Body::from_stream(futures_util::stream::iter(
                    chunks.clone(),
                )))
                .unwrap(),
            StatusCode::PAYLOAD_TOO_LARGE,
        )
        .await;
    }
}

#[tokio::test]
async fn body_that_fails_mid_stream_is_400_and_never_reaches_the_handler() {
    let v = Victim::new().await;
    let chunks: Vec<Result<Bytes, std::io::Error>> = vec![
        Ok(Bytes::from(format!("_csrf_token={}", v.token))),
        Err(std::io::Error::other("connection reset")),
    ];
    v.refused(
        "reset",
        v.req("POST", "/form")
            .header(header::CONTENT_TYPE, FORM)
            .body(Body::from_stream(futures_util::stream::iter(chunks)))
            .unwrap(),
        StatusCode::BAD_REQUEST,
    )
    .await;
}

#[tokio::test]
async fn content_type_with_non_ascii_bytes_is_400_not_a_guess() {
    let v = Victim::new().await;
    v.refused(
        "obs-text content-type",
        v.with_token("POST", "/form")
            .header(
                header::CONTENT_TYPE,
                HeaderValue::from_bytes(b"application/x-www-form-urlencoded; charset=\xe9")
                    .unwrap(),
            )
            .body(Body::from(format!("_csrf_token={}", v.token)))
            .unwrap(),
        StatusCode::BAD_REQUEST,
    )
    .await;
}

// ---- on the wire: framing and Transfer-Encoding --------------------------------

/// A raw `POST /form` from the app's own origin with the victim's cookie:
/// `extra` header lines (each ending in CRLF), then `body`.
fn wire_post(v: &Victim, extra: &str, body: &[u8]) -> Vec<u8> {
    let head = format!(
        "POST /form HTTP/1.1\r\nHost: localhost\r\nOrigin: http://localhost\r\n\
         Cookie: {}\r\nContent-Type: {FORM}\r\nConnection: close\r\n{extra}\r\n",
        v.cookie_header()
    );
    [head.as_bytes(), body].concat()
}

fn chunked(parts: &[&[u8]]) -> Vec<u8> {
    let mut out = Vec::new();
    for p in parts {
        out.extend_from_slice(format!("{:x}\r\n", p.len()).as_bytes());
        out.extend_from_slice(p);
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b"0\r\n\r\n");
    out
}

/// Sends raw bytes to the victim over TCP; nothing may run or change.
async fn wire_refused(v: &Victim, what: &str, raw: &[u8]) -> WireResp {
    let before = v.state().await;
    let addr = serve(v.app.clone()).await;
    let r = exchange(addr, raw).await;
    assert!(
        r.statuses.iter().all(|s| (400..600).contains(s)),
        "{what}: {:?}\n{}",
        r.statuses,
        r.text
    );
    assert_eq!(
        v.state().await,
        before,
        "{what}: a handler ran or the store changed"
    );
    println!("{what:?}: {:?}", r.statuses);
    r
}

#[tokio::test]
async fn chunked_form_with_the_token_split_across_chunks_is_read_whole() {
    // The positive control for the wire tests: hyper de-chunks, Mitten reads
    // the whole body, the handler sees the same form.
    let v = Victim::new().await;
    let body = format!("note=hi&_csrf_token={}", v.token);
    let (a, b) = body.as_bytes().split_at(30);
    let raw = wire_post(&v, "Transfer-Encoding: chunked\r\n", &chunked(&[a, b]));
    let r = exchange(serve(v.app.clone()).await, &raw).await;
    assert_eq!(r.statuses, [200], "{}", r.text);
    assert_eq!(v.hits.get(), 1);
}

#[tokio::test]
async fn chunked_form_over_the_limit_is_413_on_the_wire() {
    let v = Victim::with(|b| b.body_limit(4096)).await;
    let first = format!("_csrf_token={}&pad=", v.token);
    let pad = vec![b'x'; 1000];
    let mut parts: Vec<&[u8]> = vec![first.as_bytes()];
    parts.extend(std::iter::repeat_n(pad.as_slice(), 10));
    let raw = wire_post(&v, "Transfer-Encoding: chunked\r\n", &chunked(&parts));
    let r = wire_refused(&v, "chunked over the limit", &raw).await;
    assert_eq!(r.status(), 413, "{}", r.text);
}

#[tokio::test]
async fn transfer_encoding_with_content_length_never_smuggles_an_unchecked_request() {
    // CL.TE / TE.CL: a second request hidden in the body. Whatever framing
    // hyper picks, every request it sees passes Mitten, so neither the
    // outer (token-less) nor the smuggled request may run.
    let v = Victim::new().await;
    let smuggled = format!(
        "POST /notes/ HTTP/1.1\r\nHost: localhost\r\nOrigin: http://localhost\r\n\
         Cookie: {}\r\nContent-Length: 0\r\n\r\n",
        v.cookie_header()
    );
    let body = [b"0\r\n\r\n".as_slice(), smuggled.as_bytes()].concat();
    for extra in [
        format!(
            "Transfer-Encoding: chunked\r\nContent-Length: {}\r\n",
            body.len()
        ),
        format!(
            "Content-Length: {}\r\nTransfer-Encoding: chunked\r\n",
            body.len()
        ),
        "Content-Length: 5\r\nTransfer-Encoding: chunked\r\n".to_owned(),
        format!("Content-Length: {}\r\nContent-Length: 5\r\n", body.len()),
    ] {
        let raw = wire_post(&v, &extra, &body);
        wire_refused(&v, &extra, &raw).await;
    }
}

#[tokio::test]
async fn obfuscated_transfer_encoding_is_refused_before_any_handler() {
    let v = Victim::new().await;
    let body = chunked(&[format!("_csrf_token={}", &v.token[1..]).as_bytes()]);
    for extra in [
        "Transfer-Encoding: xchunked\r\n",
        "Transfer-Encoding: chunked, identity\r\n",
        "Transfer-Encoding: identity\r\n",
        "Transfer-Encoding: CHUNKED\r\n",
        "Transfer-Encoding: chunked\r\nTransfer-Encoding: x\r\n",
        "Transfer-Encoding:\r\n chunked\r\n",
        "Transfer-Encoding : chunked\r\n",
        "Transfer-Encoding: \x0bchunked\r\n",
    ] {
        let raw = wire_post(&v, extra, &body);
        wire_refused(&v, extra, &raw).await;
    }
}

#[tokio::test]
async fn header_token_split_by_obs_fold_or_nul_is_refused_before_any_handler() {
    let v = Victim::new().await;
    let (a, b) = v.token.split_at(40);
    for extra in [
        format!("X-CSRF-Token: {a}\r\n {b}\r\n"),
        format!("X-CSRF-Token:\r\n\t{}\r\n", v.token),
        format!("X-CSRF-Token: {a}\0{b}\r\n"),
        format!("X-CSRF-Token: {a}\r{b}\r\n"),
        format!("X-CSRF-Token: {a}\n{b}\r\n"),
    ] {
        let raw = wire_post(&v, &format!("{extra}Content-Length: 0\r\n"), b"");
        wire_refused(&v, &extra, &raw).await;
    }
}
