//! Entry points for the `cargo fuzz` targets in `fuzz/` (cargo feature
//! `fuzzing`). Thin wrappers over internals, so the targets drive exactly
//! the code requests go through; not an API.

use bytes::Bytes;
use http::{HeaderMap, Uri};

use crate::csrf::origin::{self, Origin, TrustedOrigin};
use crate::csrf::{extract, token};
use crate::host;
use crate::keys::KeyRing;
use crate::rejection::Rejection;
use crate::session::id::SessionId;
use crate::session::{cookie, CookieId};

/// A key ring: the current master key and fallbacks.
pub struct Keys(KeyRing);

impl Keys {
    /// The ring of `current` then `fallbacks`.
    pub fn new(current: &[u8], fallbacks: &[&[u8]]) -> Self {
        Self(KeyRing::new(current, fallbacks.iter().copied()))
    }
}

/// What a request's session cookie said.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Cookie {
    /// No cookie of that name.
    Absent,
    /// One value, verified: the id and the index of the key that signed it.
    Valid([u8; 16], usize),
    /// Several values, or one that did not verify.
    Invalid,
}

/// Reads and verifies the session cookie `name` from every `Cookie` header.
pub fn read_cookie(headers: &HeaderMap, name: &str, keys: &Keys) -> Cookie {
    match cookie::read(headers, name, &keys.0) {
        CookieId::Absent => Cookie::Absent,
        CookieId::Valid(id, k) => Cookie::Valid(*id.as_bytes(), k),
        CookieId::Invalid => Cookie::Invalid,
    }
}

/// The signed cookie value of `id` under the current key.
pub fn sign_id(id: [u8; 16], name: &str, keys: &Keys) -> String {
    SessionId::from_bytes(id).to_cookie_value(&keys.0, name)
}

/// Verifies one cookie value.
pub fn verify_cookie_value(value: &str, name: &str, keys: &Keys) -> Option<([u8; 16], usize)> {
    SessionId::from_cookie_value(value, &keys.0, name).map(|(id, k)| (*id.as_bytes(), k))
}

/// A freshly masked token for `id`.
pub fn mint_token(keys: &Keys, id: [u8; 16]) -> String {
    token::mint(&keys.0, &SessionId::from_bytes(id)).expect("OS random number generator")
}

/// The secret a token carries, if it is well-formed.
pub fn unmask_token(t: &[u8]) -> Option<[u8; 32]> {
    token::unmask(t)
}

/// The secret tokens of `id` unmask to, under the current key.
pub fn token_secret(keys: &Keys, id: [u8; 16]) -> [u8; 32] {
    token::current_secret(&keys.0, &SessionId::from_bytes(id))
}

/// Whether `t` is a valid token for `id`.
pub fn verify_token(keys: &Keys, id: [u8; 16], t: &[u8]) -> bool {
    token::verify(&keys.0, &SessionId::from_bytes(id), t)
}

/// The `X-CSRF-Token` header, if exactly one was sent.
pub fn header_token(headers: &HeaderMap) -> Result<Option<Vec<u8>>, Rejection> {
    extract::header_token(headers).map(|t| t.map(<[u8]>::to_vec))
}

/// How a request's body may carry the token.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FormKind {
    /// `application/x-www-form-urlencoded`.
    UrlEncoded,
    /// `multipart/form-data` with this boundary.
    Multipart(String),
    /// Any other body: never read.
    None,
}

/// The form kind of a request, from its `Content-Type`.
pub fn form_kind(headers: &HeaderMap) -> Result<FormKind, Rejection> {
    Ok(match extract::form_kind(headers)? {
        extract::Form::UrlEncoded => FormKind::UrlEncoded,
        extract::Form::Multipart(b) => FormKind::Multipart(b),
        extract::Form::None => FormKind::None,
    })
}

/// The `_csrf_token` field of an urlencoded body.
pub fn urlencoded_token(body: &[u8]) -> Result<Option<Vec<u8>>, Rejection> {
    extract::urlencoded_token(body)
}

/// The `_csrf_token` text field of a multipart body.
pub async fn multipart_token(body: Bytes, boundary: String) -> Result<Option<Vec<u8>>, Rejection> {
    extract::multipart_token(body, boundary).await
}

/// The origin layer with a configured own origin and trusted origins.
pub struct OriginPolicy {
    own: Option<Origin>,
    trusted: Vec<TrustedOrigin>,
}

impl OriginPolicy {
    /// `None` when a setting is one the builder would refuse.
    pub fn new(own: Option<&str>, trusted: &[&str]) -> Option<Self> {
        let own = match own {
            Some(o) => Some(Origin::parse(o)?),
            None => None,
        };
        let trusted = trusted
            .iter()
            .map(|t| TrustedOrigin::parse(t).ok())
            .collect::<Option<Vec<_>>>()?;
        Some(Self { own, trusted })
    }

    /// The origin layer's decision for a request (no proxy trusted, HTTPS
    /// not declared), as the layer makes it.
    pub fn check(&self, headers: &HeaderMap, uri: &Uri) -> Result<(), Rejection> {
        let host = host::request_host(headers, uri, false);
        origin::check(headers, host, None, self.own.as_ref(), &self.trusted)
    }
}
