//! Form and multipart token extraction: any Content-Type, header token and
//! body never panic; a token Mitten reads from a body is exactly the one
//! field the handler's own parser (form_urlencoded; multer, as axum's
//! `Multipart` uses it) sees under that name.
#![no_main]

use bytes::Bytes;
use futures_executor::block_on;
use http::{header, HeaderMap, HeaderValue};
use libfuzzer_sys::fuzz_target;
use mitten::__fuzz::{form_kind, header_token, multipart_token, urlencoded_token, FormKind};

const FIELD: &str = "_csrf_token";

/// The text fields named `_csrf_token` that multer yields, or `None` when
/// the body does not parse.
fn multer_fields(body: Bytes, boundary: &str) -> Option<Vec<Vec<u8>>> {
    let stream = futures_util::stream::once(async move { Ok::<_, std::convert::Infallible>(body) });
    let mut mp = multer::Multipart::new(stream, boundary);
    block_on(async {
        let mut out = Vec::new();
        while let Some(f) = mp.next_field().await.ok()? {
            let is = f.name() == Some(FIELD) && f.file_name().is_none();
            let bytes = f.bytes().await.ok()?;
            if is {
                out.push(bytes.to_vec());
            }
        }
        Some(out)
    })
}

fuzz_target!(|data: &[u8]| {
    // Line 1: Content-Type; line 2: X-CSRF-Token values separated by 0xff;
    // the rest: the body.
    let mut lines = data.splitn(3, |&b| b == b'\n');
    let (ct, tokens, body) = (
        lines.next().unwrap_or_default(),
        lines.next().unwrap_or_default(),
        lines.next().unwrap_or_default(),
    );
    let mut headers = HeaderMap::new();
    if let Ok(v) = HeaderValue::from_bytes(ct) {
        headers.insert(header::CONTENT_TYPE, v);
    }
    let mut sent = 0;
    for t in tokens.split(|&b| b == 0xff).filter(|t| !t.is_empty()) {
        if let Ok(v) = HeaderValue::from_bytes(t) {
            headers.append("x-csrf-token", v);
            sent += 1;
        }
    }
    match header_token(&headers) {
        Ok(Some(t)) => {
            assert_eq!(sent, 1);
            assert!(t.len() <= 256);
        }
        Ok(None) => assert_eq!(sent, 0),
        Err(_) => assert!(sent > 1 || tokens.len() > 256),
    }

    match form_kind(&headers) {
        Ok(FormKind::UrlEncoded) => {
            let r = urlencoded_token(body);
            let fields: Vec<Vec<u8>> = form_urlencoded::parse(body)
                .filter(|(k, _)| k == FIELD)
                .map(|(_, v)| v.into_owned().into_bytes())
                .collect();
            match fields.as_slice() {
                [] => assert_eq!(r, Ok(None)),
                [one] if one.len() <= 256 => assert_eq!(r, Ok(Some(one.clone()))),
                _ => assert!(r.is_err(), "{r:?} for {} fields", fields.len()),
            }
        }
        Ok(FormKind::Multipart(boundary)) => {
            let body = Bytes::copy_from_slice(body);
            let r = block_on(multipart_token(body.clone(), boundary.clone()));
            if let Ok(Some(t)) = &r {
                assert!(t.len() <= 256);
                let seen = multer_fields(body, &boundary).expect("Mitten parsed it");
                assert_eq!(seen, [t.clone()], "the handler would see other tokens");
            }
        }
        Ok(FormKind::None) | Err(_) => {}
    }
});
