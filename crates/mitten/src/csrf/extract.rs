//! Finding the CSRF token: the `X-CSRF-Token` header, or the `_csrf_token`
//! field of an urlencoded or multipart form, and nowhere else (not the query
//! string, not a cookie, not a JSON body). A form body is read up to the
//! limit and handed on intact so the handler can still parse it.

use bytes::{Bytes, BytesMut};
use futures_util::{StreamExt, TryStreamExt};
use http::{header, HeaderMap};
use http_body::{Body, Frame};
use http_body_util::{BodyExt, BodyStream, StreamBody};

use super::{FORM_FIELD, HEADER_NAME};
use crate::rejection::Rejection;

/// Longer than any token we mint, by a margin; longer values are rejected
/// before any decoding work.
const MAX_TOKEN_BYTES: usize = 256;

/// The form encodings whose body may carry the token.
pub(crate) enum Form {
    UrlEncoded,
    Multipart(String),
    None,
}

pub(crate) fn form_kind(headers: &HeaderMap) -> Result<Form, Rejection> {
    let Some(ct) = headers.get(header::CONTENT_TYPE) else {
        return Ok(Form::None);
    };
    let ct = ct.to_str().map_err(|_| Rejection::MalformedBody)?;
    let essence = ct.split(';').next().unwrap_or("").trim();
    if essence.eq_ignore_ascii_case("application/x-www-form-urlencoded") {
        Ok(Form::UrlEncoded)
    } else if essence.eq_ignore_ascii_case("multipart/form-data") {
        multer::parse_boundary(ct)
            .map(Form::Multipart)
            .map_err(|_| Rejection::MalformedBody)
    } else {
        Ok(Form::None)
    }
}

/// The header token, if exactly one was sent.
pub(crate) fn header_token(headers: &HeaderMap) -> Result<Option<&[u8]>, Rejection> {
    let mut values = headers.get_all(HEADER_NAME).iter();
    match (values.next(), values.next()) {
        (None, _) => Ok(None),
        (Some(v), None) if v.len() <= MAX_TOKEN_BYTES => Ok(Some(v.as_bytes())),
        (Some(_), None) => Err(Rejection::InvalidToken),
        (Some(_), Some(_)) => Err(Rejection::DuplicateToken),
    }
}

/// A form body, read for the token check.
pub(crate) enum Read {
    /// All of it, within the limit.
    Whole(Bytes),
    /// Over the limit: what was read and the rest, put back together so a
    /// report-only check can still hand the request on.
    TooLarge(axum::body::Body),
    /// The client broke off or the body failed: nothing can be handed on.
    Failed,
}

/// Reads the whole body, stopping past `limit` bytes. Trailers, which no
/// browser sends with a form, are not kept.
pub(crate) async fn read_body<B>(headers: &HeaderMap, body: B, limit: usize) -> Read
where
    B: Body<Data = Bytes> + Send + 'static,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > limit as u64) {
        return Read::TooLarge(axum::body::Body::new(body));
    }
    // Boxed so that, past the limit, the unread rest can be handed on.
    let mut body = Box::pin(body);
    let mut buf = BytesMut::new();
    loop {
        match body.frame().await {
            None => return Read::Whole(buf.freeze()),
            Some(Err(_)) => return Read::Failed,
            Some(Ok(frame)) => {
                let Ok(data) = frame.into_data() else {
                    continue;
                };
                buf.extend_from_slice(&data);
                if buf.len() > limit {
                    let head = futures_util::stream::once(async move {
                        Ok::<_, BoxError>(Frame::data(buf.freeze()))
                    });
                    let rest = TryStreamExt::map_err(BodyStream::new(body), Into::into);
                    return Read::TooLarge(axum::body::Body::new(StreamBody::new(
                        head.chain(rest),
                    )));
                }
            }
        }
    }
}

type BoxError = Box<dyn std::error::Error + Send + Sync>;

fn one(found: Option<Vec<u8>>, next: Vec<u8>) -> Result<Option<Vec<u8>>, Rejection> {
    match found {
        // Two fields are ambiguous whatever their values: a parser
        // differential between us and the handler must not decide.
        Some(_) => Err(Rejection::DuplicateToken),
        None if next.len() > MAX_TOKEN_BYTES => Err(Rejection::InvalidToken),
        None => Ok(Some(next)),
    }
}

pub(crate) fn urlencoded_token(body: &[u8]) -> Result<Option<Vec<u8>>, Rejection> {
    let mut found = None;
    for (k, v) in form_urlencoded::parse(body) {
        if k == FORM_FIELD {
            found = one(found, v.into_owned().into_bytes())?;
        }
    }
    Ok(found)
}

pub(crate) async fn multipart_token(
    body: Bytes,
    boundary: String,
) -> Result<Option<Vec<u8>>, Rejection> {
    let stream = futures_util::stream::once(async move { Ok::<_, std::convert::Infallible>(body) });
    let mut multipart = multer::Multipart::new(stream, boundary);
    let mut found = None;
    let mut named = 0;
    loop {
        let field = match multipart.next_field().await {
            Ok(Some(f)) => f,
            Ok(None) => break,
            Err(_) => return Err(Rejection::MalformedBody),
        };
        // Every part under the token's name counts for the one-token rule,
        // file parts too: a part that is a file to us but a text field to
        // the handler's parser (`filename*=`) must not leave the handler a
        // second token we never looked at. A file part is never the token.
        let is_named = field.name() == Some(FORM_FIELD);
        let is_file = field.file_name().is_some() || is_file_part(field.headers());
        let bytes = field.bytes().await.map_err(|_| Rejection::MalformedBody)?;
        if is_named {
            named += 1;
            if named > 1 {
                return Err(Rejection::DuplicateToken);
            }
            if !is_file {
                found = one(found, bytes.to_vec())?;
            }
        }
    }
    Ok(found)
}

/// True unless the part has exactly one `Content-Disposition` and it has no
/// `filename` parameter in any spelling. multer only recognises a lowercase
/// `filename=`; parameter names are case-insensitive (RFC 7578, RFC 6266)
/// and `filename*=` is the RFC 8187 form, so `FILENAME="t.txt"` or
/// `filename*=UTF-8''t.txt` would otherwise pass a file part off as a text
/// field. A quoted value that merely contains `; filename` makes the part
/// count as a file too: that errs on the side of not reading a token.
fn is_file_part(headers: &HeaderMap) -> bool {
    let mut dispositions = headers.get_all(header::CONTENT_DISPOSITION).iter();
    let (Some(cd), None) = (dispositions.next(), dispositions.next()) else {
        return true;
    };
    cd.as_bytes().split(|&b| b == b';').skip(1).any(|param| {
        let param = param.trim_ascii_start();
        param.len() >= 8
            && param[..8].eq_ignore_ascii_case(b"filename")
            && matches!(param[8..].trim_ascii_start().first(), Some(b'=' | b'*'))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urlencoded_duplicates_are_refused() {
        assert_eq!(
            urlencoded_token(b"a=1&_csrf_token=x").unwrap(),
            Some(b"x".to_vec())
        );
        assert_eq!(
            urlencoded_token(b"_csrf_token=x&_csrf_token=x"),
            Err(Rejection::DuplicateToken)
        );
        assert_eq!(urlencoded_token(b"a=1").unwrap(), None);
    }

    #[tokio::test]
    async fn multipart_token_in_a_later_part_and_file_parts_never_a_token() {
        let body = "--B\r\nContent-Disposition: form-data; name=\"text\"\r\n\r\nhi\r\n\
                    --B\r\nContent-Disposition: form-data; name=\"doc\"; filename=\"t.txt\"\r\n\r\nfile\r\n\
                    --B\r\nContent-Disposition: form-data; name=\"_csrf_token\"\r\n\r\ntok\r\n--B--\r\n";
        let t = multipart_token(Bytes::from(body), "B".into())
            .await
            .unwrap();
        assert_eq!(t, Some(b"tok".to_vec()));
        let file_only = "--B\r\nContent-Disposition: form-data; name=\"_csrf_token\"; filename=\"t.txt\"\r\n\r\ntok\r\n--B--\r\n";
        assert_eq!(
            multipart_token(Bytes::from(file_only), "B".into()).await,
            Ok(None)
        );
        assert_eq!(
            multipart_token(Bytes::from_static(b"garbage"), "B".into()).await,
            Err(Rejection::MalformedBody)
        );
    }

    #[tokio::test]
    async fn multipart_token_in_a_file_part_spelled_filename_star_or_uppercase_is_not_read() {
        for disposition in [
            "name=\"_csrf_token\"; filename*=UTF-8''t.txt",
            "name=\"_csrf_token\"; FILENAME=\"t.txt\"",
            "name=\"_csrf_token\"; FileName = \"t.txt\"",
        ] {
            let body = format!(
                "--B\r\nContent-Disposition: form-data; {disposition}\r\n\r\ntok\r\n--B--\r\n"
            );
            let t = multipart_token(Bytes::from(body), "B".into()).await;
            assert_eq!(t, Ok(None), "{disposition}");
        }
        // A name that merely ends in "filename" is not a filename parameter.
        let body = "--B\r\nContent-Disposition: form-data; name=\"_csrf_token\"; myfilename=x\r\n\r\ntok\r\n--B--\r\n";
        assert_eq!(
            multipart_token(Bytes::from(body), "B".into()).await,
            Ok(Some(b"tok".to_vec()))
        );
    }

    #[tokio::test]
    async fn second_token_part_disguised_as_a_file_makes_the_form_ambiguous() {
        // `filename*=` is a file to us but a text field to multer (and so
        // to axum's extractor): the handler would see two tokens.
        for disguise in [
            "name=\"_csrf_token\"; filename*=UTF-8''t.txt",
            "name=\"_csrf_token\"; filename=\"t.txt\"",
        ] {
            let body = format!(
                "--B\r\nContent-Disposition: form-data; {disguise}\r\n\r\nother\r\n\
                 --B\r\nContent-Disposition: form-data; name=\"_csrf_token\"\r\n\r\ntok\r\n--B--\r\n"
            );
            assert_eq!(
                multipart_token(Bytes::from(body), "B".into()).await,
                Err(Rejection::DuplicateToken),
                "{disguise}"
            );
        }
    }
}
