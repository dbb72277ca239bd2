//! Family 11, cookie parsing: several values for the session cookie (a
//! cookie tossed in from a sibling domain or for another path, a second
//! `Cookie` header) are ambiguous and none is adopted — never "accept if
//! any matches"; junk, quotes, `=`, non-ASCII and non-UTF-8 bytes neither
//! fake the session nor hide it, and nothing panics.

use std::sync::Arc;

use axum::body::Body;
use axum::http::{header, HeaderValue, Request};
use mitten::{Mitten, SessionStore};

use crate::common::*;
use crate::kit::*;

/// `GET /value` with these raw `Cookie` header values.
fn with_cookies(headers: &[&[u8]]) -> Request<Body> {
    let mut b = req("GET", "/value");
    for h in headers {
        b = b.header(header::COOKIE, HeaderValue::from_bytes(h).unwrap());
    }
    b.body(Body::empty()).unwrap()
}

/// Two victims' sessions in one store: `a` (value "before") and `b`
/// (value "b").
async fn two_sessions() -> (Victim, String) {
    let v = Victim::new().await;
    let r = send(&v.app, get_req("/put/b")).await;
    (v, r.cookie(COOKIE).unwrap())
}

/// The request reads no session, and a write through it gets a new id
/// while every stored session stays as it was.
async fn adopts_nothing(v: &Victim, what: &str, headers: &[&[u8]]) {
    let before = records(&v.store).await;
    let r = v.send(with_cookies(headers)).await;
    assert_eq!(r.body, "<none>", "{what}: a session was adopted");
    let mut b = req("GET", "/put/attacker");
    for h in headers {
        b = b.header(header::COOKIE, HeaderValue::from_bytes(h).unwrap());
    }
    let r = v.send(b.body(Body::empty()).unwrap()).await;
    let issued = r.cookie(COOKIE).expect("new id");
    let text = String::from_utf8_lossy(&headers.concat()).into_owned();
    assert!(!text.contains(&issued), "{what}: an offered id was adopted");
    let after = records(&v.store).await;
    assert_eq!(after.len(), before.len() + 1, "{what}");
    for rec in &before {
        assert!(after.contains(rec), "{what}: a stored session changed");
    }
}

async fn adopts_victim(v: &Victim, what: &str, headers: &[&[u8]]) {
    let r = v.send(with_cookies(headers)).await;
    assert_eq!(
        r.body, "before",
        "{what}: the victim's own cookie was not read"
    );
}

#[tokio::test]
async fn two_different_session_cookies_in_one_header_are_ambiguous_and_none_is_adopted() {
    let (v, b) = two_sessions().await;
    let a = &v.cookie;
    adopts_nothing(&v, "a; b", &[format!("mitten={a}; mitten={b}").as_bytes()]).await;
    adopts_nothing(&v, "b; a", &[format!("mitten={b}; mitten={a}").as_bytes()]).await;
    adopts_nothing(
        &v,
        "valid; forged",
        &[format!("mitten={a}; mitten={}x", &b[..b.len() - 1]).as_bytes()],
    )
    .await;
}

#[tokio::test]
async fn session_cookie_injected_via_a_second_cookie_header_is_ambiguous() {
    // HTTP/2 browsers split cookies over several `cookie` fields.
    let (v, b) = two_sessions().await;
    adopts_nothing(
        &v,
        "two headers",
        &[
            format!("theme=dark; mitten={}", v.cookie).as_bytes(),
            format!("mitten={b}").as_bytes(),
        ],
    )
    .await;
}

#[tokio::test]
async fn session_cookie_for_another_path_sent_first_is_ambiguous() {
    // A cookie set for `/app` by a sibling is sent before the `/` one.
    let (v, b) = two_sessions().await;
    adopts_nothing(
        &v,
        "path-specific first",
        &[format!("mitten={b}; lang=en; mitten={}", v.cookie).as_bytes()],
    )
    .await;
}

#[tokio::test]
async fn empty_session_cookie_next_to_a_valid_one_is_ambiguous() {
    // Documented cost: a tossed empty cookie logs the victim out (which
    // `__Host-` prevents); it never logs anyone in.
    let v = Victim::new().await;
    adopts_nothing(
        &v,
        "empty first",
        &[format!("mitten=; mitten={}", v.cookie).as_bytes()],
    )
    .await;
}

#[tokio::test]
async fn same_session_cookie_sent_twice_is_one_cookie() {
    let v = Victim::new().await;
    adopts_victim(
        &v,
        "twice",
        &[format!("mitten={c}; mitten={c}", c = v.cookie).as_bytes()],
    )
    .await;
}

#[tokio::test]
async fn eight_kilobyte_junk_cookie_header_neither_hides_nor_fakes_the_session() {
    let v = Victim::new().await;
    let junk: String = (0..500).map(|i| format!("j{i}=xxxxxxxxxxxx; ")).collect();
    assert!(junk.len() > 8 * 1024);
    adopts_victim(
        &v,
        "junk + victim",
        &[format!("{junk}mitten={}", v.cookie).as_bytes()],
    )
    .await;
    adopts_victim(
        &v,
        "victim + junk",
        &[format!("mitten={}; {junk}", v.cookie).as_bytes()],
    )
    .await;
    adopts_nothing(&v, "junk alone", &[junk.as_bytes()]).await;
    let many: String = (0..600).map(|i| format!("mitten=junk{i}; ")).collect();
    adopts_nothing(&v, "many session cookies", &[many.as_bytes()]).await;
    let one_long = format!("mitten={}", "A".repeat(8 * 1024));
    adopts_nothing(&v, "8 KiB value", &[one_long.as_bytes()]).await;
}

#[tokio::test]
async fn overlong_session_cookie_is_refused_before_any_store_call() {
    let store = Arc::new(CountingStore::default());
    let m = builder()
        .shared_store(store.clone() as Arc<dyn SessionStore>)
        .build()
        .unwrap();
    let app = victim_routes(&Hits::default()).layer(m.layer());
    let r = send(
        &app,
        with_cookies(&[format!("mitten={}", "A".repeat(5000)).as_bytes()]),
    )
    .await;
    assert_eq!(r.body, "<none>");
    assert_eq!(store.calls(), 0);
}

#[tokio::test]
async fn cookie_value_in_quotes_or_with_extra_equals_is_not_the_session() {
    let v = Victim::new().await;
    let c = &v.cookie;
    for value in [
        format!("mitten=\"{c}\""),
        format!("mitten=\"{c}"),
        format!("mitten={c}\""),
        format!("mitten=={c}"),
        format!("mitten={c}="),
        format!("mitten={c}=x"),
        format!("mitten={c},other=1"),
        format!("mitten={c} x"),
        format!("mitten=%{c}"),
        format!("mitten={}", c.replace('.', "%2E")),
    ] {
        adopts_nothing(&v, &value, &[value.as_bytes()]).await;
    }
}

#[tokio::test]
async fn foreign_cookie_with_non_ascii_or_non_utf8_bytes_does_not_hide_the_session() {
    // A sibling can toss a cookie with bytes that are not UTF-8; the
    // victim's own cookie in the same header must still be read.
    let v = Victim::new().await;
    let c = &v.cookie;
    for header in [
        format!("lang=fran\u{e7}ais; mitten={c}").into_bytes(),
        [b"junk=\xff\xfe; mitten=".as_slice(), c.as_bytes()].concat(),
        [b"mitten=", c.as_bytes(), b"; junk=\xe9"].concat(),
        [b"\xff=\xff; mitten=", c.as_bytes()].concat(),
    ] {
        adopts_victim(&v, &String::from_utf8_lossy(&header), &[&header]).await;
    }
    // The same in a second Cookie header (HTTP/2).
    adopts_victim(
        &v,
        "second header",
        &[b"junk=\xff", format!("mitten={c}").as_bytes()],
    )
    .await;
}

#[tokio::test]
async fn non_utf8_bytes_in_the_session_cookie_are_not_adopted() {
    let v = Victim::new().await;
    let c = v.cookie.as_bytes();
    for header in [
        [b"mitten=", c, b"\xe9"].concat(),
        [b"mitten=\xff", c].concat(),
        b"mitten=\xff\xfe\xfd".to_vec(),
    ] {
        adopts_nothing(&v, &String::from_utf8_lossy(&header), &[&header]).await;
    }
    // And a non-UTF-8 second session cookie next to the valid one is
    // still a second, different value: ambiguous.
    adopts_nothing(
        &v,
        "valid + non-utf8",
        &[format!("mitten={}", v.cookie).as_bytes(), b"mitten=\xff"],
    )
    .await;
}

#[tokio::test]
async fn cookie_name_in_another_case_is_not_the_session_cookie() {
    let v = Victim::new().await;
    for name in [
        "MITTEN",
        "Mitten",
        "mitteN",
        "mi tten",
        "$mitten",
        "mitten\u{a0}",
    ] {
        adopts_nothing(&v, name, &[format!("{name}={}", v.cookie).as_bytes()]).await;
    }
}

#[tokio::test]
async fn host_prefix_case_game_cookie_is_not_the_session_cookie() {
    // Older browsers let a sibling set `__host-mitten` (no prefix rules);
    // it is another cookie, never ours.
    let store = Arc::new(mitten::MemoryStore::new());
    let m = Mitten::builder()
        .secret_key(KEY)
        .shared_store(store.clone() as Arc<dyn SessionStore>)
        .build()
        .unwrap();
    let v = Victim::on(m, store).await;
    let c = &v.cookie;
    for name in [
        "__host-mitten",
        "__HOST-mitten",
        "__Host-Mitten",
        "mitten",
        "__Secure-mitten",
    ] {
        let r = v
            .send(with_cookies(&[format!("{name}={c}").as_bytes()]))
            .await;
        assert_eq!(r.body, "<none>", "{name}");
        // Next to the real cookie it is not a second value of ours either.
        let r = v
            .send(with_cookies(&[
                format!("{name}=junk; __Host-mitten={c}").as_bytes()
            ]))
            .await;
        assert_eq!(r.body, "before", "{name}");
    }
}

#[tokio::test]
async fn rfc2965_dollar_attributes_in_the_cookie_header_are_just_other_cookies() {
    let v = Victim::new().await;
    let c = &v.cookie;
    adopts_victim(
        &v,
        "$Version",
        &[format!("$Version=1; mitten={c}; $Path=/; $Domain=localhost").as_bytes()],
    )
    .await;
    adopts_nothing(
        &v,
        "$mitten",
        &[format!("$Version=\"1\"; $mitten={c}").as_bytes()],
    )
    .await;
}

#[tokio::test]
async fn whitespace_around_the_session_cookie_is_tolerated_like_browsers_do() {
    let v = Victim::new().await;
    let c = &v.cookie;
    for header in [
        format!(" mitten={c} "),
        format!("a=1;mitten={c}"),
        format!("a=1;  mitten={c};"),
        format!("\tmitten={c}\t"),
        format!(";;mitten={c};;"),
    ] {
        adopts_victim(&v, &header, &[header.as_bytes()]).await;
    }
}

#[tokio::test]
async fn degenerate_cookie_headers_do_not_panic_or_adopt() {
    let v = Victim::new().await;
    for header in [
        &b""[..],
        b";",
        b";;;",
        b"=",
        b"==",
        b"mitten",
        b"mitten;",
        b"=mitten",
        b"mitten=",
        b"mitten=.",
        b"mitten=..",
        b"\t",
        b"; = ; = ;",
        b"\x80\x81\x82",
    ] {
        adopts_nothing(&v, &String::from_utf8_lossy(header), &[header]).await;
    }
}
