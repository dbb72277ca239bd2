//! Family 5, origin tricks. Every request here carries the victim's cookie
//! and a valid token, so only the origin layer decides. Origins are parsed
//! into (scheme, host, port) and compared whole: prefixes, suffixes,
//! userinfo, paths, other schemes and other ports never match, and a
//! `Sec-Fetch-Site` other than `same-origin`/`none` needs an explicitly
//! trusted `Origin`.

use axum::body::Body;
use axum::http::{header, HeaderValue, Request};

use crate::common::*;
use crate::kit::*;
use mitten::MittenBuilder;

const APP: &str = "https://app.example.com";
const APP_HOST: &str = "app.example.com";

/// A victim whose configured origin is `https://app.example.com`. An
/// https origin declares HTTPS, which needs Secure cookies; the name stays
/// `mitten` so requests spell it like every other test.
async fn app_victim() -> Victim {
    https_victim(|b| b).await
}

async fn https_victim(f: impl FnOnce(MittenBuilder) -> MittenBuilder) -> Victim {
    Victim::with(|b| f(b.secure_cookies(true).cookie_name(COOKIE).origin(APP))).await
}

/// `POST /notes/` to `host` with the victim's cookie and token, plus
/// `headers` (name, value) as given.
fn post_with(v: &Victim, host: &str, headers: &[(&str, &[u8])]) -> Request<Body> {
    let mut b = Request::builder()
        .method("POST")
        .uri("/notes/")
        .header(header::HOST, host)
        .header(header::COOKIE, v.cookie_header())
        .header("x-csrf-token", v.token.as_str());
    for (k, val) in headers {
        b = b.header(*k, HeaderValue::from_bytes(val).unwrap());
    }
    b.body(Body::empty()).unwrap()
}

fn from_origin(v: &Victim, origin: &str) -> Request<Body> {
    post_with(v, APP_HOST, &[("origin", origin.as_bytes())])
}

#[tokio::test]
async fn null_origin_is_refused_even_with_a_valid_token() {
    let v = app_victim().await;
    for null in ["null", " null", "null "] {
        let r = v.forbidden(null, from_origin(&v, null)).await;
        assert!(r.body.contains("null origin"), "{}", r.body);
    }
    v.forbidden("NULL", from_origin(&v, "NULL")).await;
}

#[tokio::test]
async fn origin_sharing_a_prefix_or_suffix_with_the_app_is_refused() {
    let v = app_victim().await;
    for evil in [
        "https://app.example.com.evil.test",
        "https://app.example.comevil.test",
        "https://app.example.co",
        "https://app.example.comm",
        "https://evilapp.example.com",
        "https://evil-app.example.com",
        "https://sub.app.example.com",
        "https://app-example.com",
        "https://example.com",
        "https://appexample.com",
        "https://app.example.com.",
        "https://.app.example.com",
        "https://app..example.com",
    ] {
        v.forbidden(evil, from_origin(&v, evil)).await;
    }
    v.accepted("own origin", from_origin(&v, APP)).await;
}

#[tokio::test]
async fn origin_with_userinfo_path_query_or_fragment_is_refused() {
    let v = app_victim().await;
    for evil in [
        "https://user@app.example.com",
        "https://user:pass@app.example.com",
        "https://app.example.com@evil.test",
        "https://app.example.com:443@evil.test",
        "https://evil.test#@app.example.com",
        "https://evil.test\\@app.example.com",
        "https://app.example.com/",
        "https://app.example.com/path",
        "https://app.example.com?x",
        "https://app.example.com#x",
        "https://evil.test/https://app.example.com",
        "https://evil.test?https://app.example.com",
        "https://app.example.com https://evil.test",
        "https://app.example.com,https://evil.test",
    ] {
        v.forbidden(evil, from_origin(&v, evil)).await;
    }
}

#[tokio::test]
async fn http_origin_for_an_https_app_is_refused() {
    let v = app_victim().await;
    for evil in [
        "http://app.example.com",
        "http://app.example.com:443",
        "http://app.example.com:80",
        "HTTP://app.example.com",
        "https://app.example.com:80",
    ] {
        v.forbidden(evil, from_origin(&v, evil)).await;
    }
}

#[tokio::test]
async fn origin_with_another_or_bogus_port_is_refused() {
    let v = app_victim().await;
    for evil in [
        "https://app.example.com:0",
        "https://app.example.com:8443",
        "https://app.example.com:444",
        "https://app.example.com:65536",
        "https://app.example.com:99999999999999999999",
        "https://app.example.com:-443",
        "https://app.example.com:+443",
        "https://app.example.com: 443",
        "https://app.example.com:443 ",
        "https://app.example.com:",
        "https://app.example.com:0x1bb",
        "https://app.example.com::443",
    ] {
        v.forbidden(evil, from_origin(&v, evil)).await;
    }
}

#[tokio::test]
async fn default_port_spelled_out_or_uppercase_host_is_the_same_origin_not_a_trick() {
    // These denote the app's own origin (RFC 6454 / URL Standard
    // normalisation); accepting them lets no other origin in.
    let v = app_victim().await;
    for same in [
        "https://app.example.com:443",
        "https://APP.EXAMPLE.COM",
        "HTTPS://app.example.com",
        "https://app.example.com:0443",
    ] {
        v.accepted(same, from_origin(&v, same)).await;
    }
}

#[tokio::test]
async fn origin_with_another_scheme_is_refused() {
    let v = app_victim().await;
    for evil in [
        "wss://app.example.com",
        "ws://app.example.com",
        "ftp://app.example.com",
        "file://",
        "file:///etc/passwd",
        "chrome-extension://app.example.com",
        "moz-extension://app.example.com",
        "javascript:alert(1)",
        "data:text/html,x",
        "blob:https://app.example.com/uuid",
        "//app.example.com",
        "app.example.com",
        "https:app.example.com",
        "https:/app.example.com",
        "https:///app.example.com",
    ] {
        v.forbidden(evil, from_origin(&v, evil)).await;
    }
}

#[tokio::test]
async fn empty_non_ascii_and_punycode_lookalike_origins_are_refused() {
    let v = app_victim().await;
    for evil in [
        &b""[..],
        b" ",
        "https://app.ex\u{e4}mple.com".as_bytes(),
        b"https://app.ex\xe4mple.com",
        b"https://xn--pp-ula.example.com",
        "https://\u{430}pp.example.com".as_bytes(),
    ] {
        v.forbidden(
            &String::from_utf8_lossy(evil),
            post_with(&v, APP_HOST, &[("origin", evil)]),
        )
        .await;
    }
}

#[tokio::test]
async fn multiple_origin_headers_are_refused_even_if_one_is_the_app() {
    let v = app_victim().await;
    for (a, b) in [
        (APP, "https://evil.test"),
        ("https://evil.test", APP),
        (APP, APP),
    ] {
        v.forbidden(
            &format!("{a} + {b}"),
            post_with(
                &v,
                APP_HOST,
                &[("origin", a.as_bytes()), ("origin", b.as_bytes())],
            ),
        )
        .await;
    }
}

#[tokio::test]
async fn ipv6_origin_tricks_are_refused() {
    let v = Victim::with(|b| b.origin("http://[::1]:3000")).await;
    for evil in [
        "http://[::1]:3001",
        "http://[::1]",
        "http://[::2]:3000",
        "http://[0:0:0:0:0:0:0:1]:3000",
        "http://[::ffff:127.0.0.1]:3000",
        "http://[::1]:3000.evil.test",
        "http://[::1%25eth0]:3000",
        "http://[::1:3000",
        "http://::1:3000",
        "https://[::1]:3000",
    ] {
        v.forbidden(
            evil,
            post_with(&v, "[::1]:3000", &[("origin", evil.as_bytes())]),
        )
        .await;
    }
    v.accepted(
        "own",
        post_with(&v, "[::1]:3000", &[("origin", b"http://[::1]:3000")]),
    )
    .await;
}

#[tokio::test]
async fn ipv4_lookalikes_of_a_host_derived_origin_are_refused() {
    // No configured origin: the Host header names the app.
    let v = Victim::new().await;
    for evil in [
        "http://127.0.0.1.evil.test:3000",
        "http://127.1:3000",
        "http://0x7f.0.0.1:3000",
        "http://2130706433:3000",
        "http://127.0.0.01:3000",
        "http://127.000.000.001:3000",
        "http://0177.0.0.1:3000",
        "http://127.0.0.1:30000",
        "http://127.0.0.1:300",
        "http://127.0.0.1",
    ] {
        v.forbidden(
            evil,
            post_with(&v, "127.0.0.1:3000", &[("origin", evil.as_bytes())]),
        )
        .await;
    }
    v.accepted(
        "own",
        post_with(
            &v,
            "127.0.0.1:3000",
            &[("origin", b"http://127.0.0.1:3000")],
        ),
    )
    .await;
}

#[tokio::test]
async fn host_derived_origin_refuses_a_different_port_or_lookalike_host() {
    let v = Victim::new().await;
    for evil in [
        "http://localhost.evil.test",
        "http://localhostevil.test",
        "http://evil-localhost",
        "http://evil.localhost",
        "http://localhost:8080",
        "http://localhost/",
        "http://localhost@evil.test",
        "http://evil.test",
        "http://localhost.",
    ] {
        v.forbidden(evil, post_with(&v, HOST, &[("origin", evil.as_bytes())]))
            .await;
    }
}

#[tokio::test]
async fn duplicate_or_malformed_host_headers_do_not_vouch_for_an_origin() {
    // Without a configured origin the Host names the app; a request whose
    // Host cannot be read unambiguously has no origin of its own.
    let v = Victim::new().await;
    for hosts in [["evil.test", HOST], [HOST, "evil.test"]] {
        v.forbidden(
            &format!("Host: {hosts:?}"),
            post_with(
                &v,
                hosts[0],
                &[
                    ("host", hosts[1].as_bytes()),
                    ("origin", b"http://evil.test"),
                ],
            ),
        )
        .await;
    }
    for host in [
        "localhost@evil.test",
        "evil.test/localhost",
        "",
        "localhost:80:80",
    ] {
        v.forbidden(
            host,
            post_with(&v, host, &[("origin", format!("http://{host}").as_bytes())]),
        )
        .await;
    }
}

#[tokio::test]
async fn request_without_host_header_compares_origin_with_the_authority_like_http2() {
    // HTTP/2 carries the host in `:authority` (the request URI), and hyper
    // adds no Host header: the origin layer must use the authority.
    let v = Victim::new().await;
    let h2 = |origin: &str| {
        Request::builder()
            .method("POST")
            .uri("http://localhost/notes/")
            .header(header::ORIGIN, origin)
            .header(header::COOKIE, v.cookie_header())
            .header("x-csrf-token", v.token.as_str())
            .body(Body::empty())
            .unwrap()
    };
    v.forbidden("foreign origin", h2("http://evil.test")).await;
    v.forbidden("lookalike", h2("http://localhost.evil.test"))
        .await;
    v.accepted("own origin", h2(ORIGIN)).await;
}

// ---- Fetch Metadata ------------------------------------------------------------

#[tokio::test]
async fn sec_fetch_site_cross_site_is_refused_even_with_a_valid_token() {
    let v = app_victim().await;
    for origin in ["https://evil.test", APP] {
        v.forbidden(
            origin,
            post_with(
                &v,
                APP_HOST,
                &[
                    ("sec-fetch-site", b"cross-site"),
                    ("origin", origin.as_bytes()),
                ],
            ),
        )
        .await;
    }
}

#[tokio::test]
async fn sec_fetch_site_same_site_from_a_sibling_subdomain_is_refused() {
    let v = app_victim().await;
    for origin in [
        "https://sibling.example.com",
        "https://example.com",
        "https://app.example.com.example.com",
    ] {
        v.forbidden(
            origin,
            post_with(
                &v,
                APP_HOST,
                &[
                    ("sec-fetch-site", b"same-site"),
                    ("origin", origin.as_bytes()),
                ],
            ),
        )
        .await;
    }
    // A same-site request with no Origin at all is refused too.
    v.forbidden(
        "same-site, no origin",
        post_with(&v, APP_HOST, &[("sec-fetch-site", b"same-site")]),
    )
    .await;
}

#[tokio::test]
async fn trusted_sibling_origin_is_accepted_although_the_browser_says_same_site() {
    // What `.trusted_origin` is for: a modern browser always sends
    // `Sec-Fetch-Site: same-site` (or `cross-site`) for it.
    let v = https_victim(|b| {
        b.trusted_origin("https://admin.example.com")
            .trusted_origin("https://*.partner.test")
    })
    .await;
    for (site, origin) in [
        ("same-site", "https://admin.example.com"),
        ("cross-site", "https://a.partner.test"),
    ] {
        v.accepted(
            origin,
            post_with(
                &v,
                APP_HOST,
                &[
                    ("sec-fetch-site", site.as_bytes()),
                    ("origin", origin.as_bytes()),
                ],
            ),
        )
        .await;
    }
    // Trust is per origin: other siblings, other schemes and a missing
    // Origin are still refused.
    for (site, origin) in [
        ("same-site", Some("https://other.example.com")),
        ("same-site", Some("http://admin.example.com")),
        ("cross-site", Some("https://partner.test")),
        ("same-site", None),
        ("cross-site", Some("null")),
    ] {
        let mut h: Vec<(&str, &[u8])> = vec![("sec-fetch-site", site.as_bytes())];
        if let Some(o) = origin {
            h.push(("origin", o.as_bytes()));
        }
        v.forbidden(&format!("{site} {origin:?}"), post_with(&v, APP_HOST, &h))
            .await;
    }
    // Trust never replaces the token.
    v.forbidden(
        "trusted origin without token",
        Request::builder()
            .method("POST")
            .uri("/notes/")
            .header(header::HOST, APP_HOST)
            .header(header::ORIGIN, "https://admin.example.com")
            .header("sec-fetch-site", "same-site")
            .header(header::COOKIE, v.cookie_header())
            .body(Body::empty())
            .unwrap(),
    )
    .await;
}

#[tokio::test]
async fn sec_fetch_site_with_unknown_values_or_odd_casing_is_refused() {
    let v = app_victim().await;
    for site in [
        &b"Same-Origin"[..],
        b"SAME-ORIGIN",
        b"same-origin ",
        b" same-origin",
        b"same-origin, cross-site",
        b"same_origin",
        b"None",
        b"bogus",
        b"",
        b"same-origin\xff",
    ] {
        v.forbidden(
            &String::from_utf8_lossy(site),
            post_with(
                &v,
                APP_HOST,
                &[("sec-fetch-site", site), ("origin", APP.as_bytes())],
            ),
        )
        .await;
    }
    // Only the two standard values that mean "not another site" pass.
    for site in ["same-origin", "none"] {
        v.accepted(
            site,
            post_with(
                &v,
                APP_HOST,
                &[
                    ("sec-fetch-site", site.as_bytes()),
                    ("origin", APP.as_bytes()),
                ],
            ),
        )
        .await;
    }
}

#[tokio::test]
async fn duplicate_sec_fetch_site_headers_are_refused() {
    let v = app_victim().await;
    for (a, b) in [
        ("same-origin", "cross-site"),
        ("cross-site", "same-origin"),
        ("same-origin", "same-origin"),
        ("none", "same-site"),
    ] {
        v.forbidden(
            &format!("{a} + {b}"),
            post_with(
                &v,
                APP_HOST,
                &[
                    ("sec-fetch-site", a.as_bytes()),
                    ("sec-fetch-site", b.as_bytes()),
                    ("origin", APP.as_bytes()),
                ],
            ),
        )
        .await;
    }
}

#[tokio::test]
async fn sec_fetch_site_same_origin_or_none_does_not_excuse_a_foreign_origin() {
    let v = app_victim().await;
    for site in ["same-origin", "none"] {
        v.forbidden(
            site,
            post_with(
                &v,
                APP_HOST,
                &[
                    ("sec-fetch-site", site.as_bytes()),
                    ("origin", b"https://evil.test"),
                ],
            ),
        )
        .await;
    }
}

// ---- Referer (no Origin) -------------------------------------------------------

#[tokio::test]
async fn foreign_or_lookalike_referer_without_origin_is_refused() {
    let v = app_victim().await;
    for evil in [
        "https://evil.test/page",
        "https://app.example.com.evil.test/",
        "https://app.example.com@evil.test/",
        "https://user@app.example.com/",
        "https://evil.test/https://app.example.com/",
        "https://evil.test/?https://app.example.com",
        "https://evil.test\\@app.example.com/",
        "http://app.example.com/form",
        "https://app.example.com:8443/form",
        "//app.example.com/form",
        "/form",
        "app.example.com/form",
        "https:/app.example.com/form",
        "",
        "null",
        "about:blank",
    ] {
        v.forbidden(
            evil,
            post_with(&v, APP_HOST, &[("referer", evil.as_bytes())]),
        )
        .await;
    }
    v.accepted(
        "own referer",
        post_with(
            &v,
            APP_HOST,
            &[("referer", b"https://app.example.com/form?x=1#y")],
        ),
    )
    .await;
}

#[tokio::test]
async fn duplicate_referer_headers_without_origin_are_refused() {
    let v = app_victim().await;
    v.forbidden(
        "own + foreign referer",
        post_with(
            &v,
            APP_HOST,
            &[
                ("referer", b"https://app.example.com/"),
                ("referer", b"https://evil.test/"),
            ],
        ),
    )
    .await;
}

#[tokio::test]
async fn own_origin_wins_over_a_foreign_referer_and_foreign_origin_over_own_referer() {
    let v = app_victim().await;
    v.forbidden(
        "foreign origin, own referer",
        post_with(
            &v,
            APP_HOST,
            &[
                ("origin", b"https://evil.test"),
                ("referer", b"https://app.example.com/"),
            ],
        ),
    )
    .await;
    v.accepted(
        "own origin, foreign referer (Referrer-Policy may rewrite it)",
        post_with(
            &v,
            APP_HOST,
            &[
                ("origin", APP.as_bytes()),
                ("referer", b"https://evil.test/"),
            ],
        ),
    )
    .await;
}

// ---- trusted origins -----------------------------------------------------------

#[tokio::test]
async fn trusted_wildcard_origin_never_escapes_its_scheme_port_or_suffix() {
    let v = https_victim(|b| {
        b.trusted_origin("https://admin.example.org")
            .trusted_origin("https://*.example.net")
    })
    .await;
    for evil in [
        "http://admin.example.org",
        "https://admin.example.org:8443",
        "https://example.net",
        "http://a.example.net",
        "https://a.example.net:444",
        "https://a.example.net.evil.test",
        "https://evilexample.net",
        "https://a.evilexample.net",
        "https://.example.net",
        "https://..example.net",
        "https://a..example.net",
        "https://*.example.net",
        "https://a.example.net/",
    ] {
        v.forbidden(evil, from_origin(&v, evil)).await;
    }
    for good in [
        "https://admin.example.org",
        "https://a.example.net",
        "https://a.b.example.net",
    ] {
        v.accepted(good, from_origin(&v, good)).await;
    }
}

#[tokio::test]
async fn trusted_origin_patterns_that_would_escape_are_rejected_at_build_time() {
    for bad in [
        "https://*.com",
        "https://*",
        "https://*.",
        "https://*example.com",
        "https://a.*.example.com",
        "https://*.*.example.com",
        "https://**.example.com",
        "*://app.example.com",
        "http*://app.example.com",
        "https://*.example.com/",
        "https://*.example.com:*",
        "https://*.example.com/path",
        "https://user@*.example.com",
        "//*.example.com",
        "*.example.com",
        "null",
        "https://app.example.com/",
        "https://app.example.com?x",
        "ftp://app.example.com",
        "",
    ] {
        let built = builder().trusted_origin(bad).build();
        assert!(built.is_err(), "{bad:?} was accepted");
    }
    for bad in [
        "null",
        "https://app.example.com/",
        "app.example.com",
        "https://*.example.com",
    ] {
        assert!(builder().origin(bad).build().is_err(), "origin {bad:?}");
    }
}
