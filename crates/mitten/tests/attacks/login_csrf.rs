//! Family 7, login CSRF: logging the victim into the attacker's account.
//! The attacker has a valid token of their own (for their own pre-session)
//! but cannot make the victim's browser hold the matching cookie: a POST
//! without a verified session cookie never passes, and a cookie tossed in
//! from a sibling subdomain comes with a cross-origin request that the
//! origin layer refuses.

use axum::body::Body;
use axum::http::{header, Request};

use crate::common::*;
use crate::kit::*;

fn login() -> axum::http::request::Builder {
    browser("POST", "/login/")
}

#[tokio::test]
async fn first_post_with_no_session_cookie_at_all_is_refused() {
    let v = Victim::new().await;
    v.forbidden("no cookie, no token", login().body(Body::empty()).unwrap())
        .await;
    assert_eq!(v.store.len(), 1, "login handler created a session");
}

#[tokio::test]
async fn login_with_the_attackers_own_token_but_no_cookie_is_refused() {
    let v = Victim::new().await;
    let (attacker_token, _attacker_cookie) = token(&v.app, &v.name).await;
    v.forbidden(
        "header token",
        login()
            .header("x-csrf-token", attacker_token.as_str())
            .body(Body::empty())
            .unwrap(),
    )
    .await;
    v.forbidden(
        "form token",
        login()
            .header(header::CONTENT_TYPE, FORM)
            .body(Body::from(format!(
                "username=attacker&password=x&_csrf_token={attacker_token}"
            )))
            .unwrap(),
    )
    .await;
    let (ct, body) = multipart(&[
        (&field("username"), "attacker"),
        (&field("_csrf_token"), &attacker_token),
    ]);
    v.forbidden(
        "multipart token",
        login().header(header::CONTENT_TYPE, ct).body(body).unwrap(),
    )
    .await;
}

#[tokio::test]
async fn login_with_the_attackers_token_and_a_junk_cookie_is_refused() {
    let v = Victim::new().await;
    let (attacker_token, attacker_cookie) = token(&v.app, &v.name).await;
    for junk in [
        String::new(),
        "junk".to_owned(),
        attacker_cookie[..attacker_cookie.len() - 1].to_owned(),
        format!("{attacker_cookie}x"),
    ] {
        v.forbidden(
            &junk,
            login()
                .header(header::COOKIE, format!("{}={junk}", v.name))
                .header("x-csrf-token", attacker_token.as_str())
                .body(Body::empty())
                .unwrap(),
        )
        .await;
    }
}

#[tokio::test]
async fn login_with_the_attackers_cookie_and_token_from_a_cross_site_page_is_refused() {
    // The attacker somehow planted their own pre-session cookie (cookie
    // tossing without `__Host-`); their page then posts the login form.
    let v = Victim::new().await;
    let (attacker_token, attacker_cookie) = token(&v.app, &v.name).await;
    for (site, origin) in [
        ("cross-site", "https://evil.test"),
        ("same-site", "http://sibling.localhost"),
        ("cross-site", "null"),
    ] {
        v.forbidden(
            &format!("{site} {origin}"),
            req("POST", "/login/")
                .header(header::ORIGIN, origin)
                .header("sec-fetch-site", site)
                .header(header::COOKIE, format!("{}={attacker_cookie}", v.name))
                .header(header::CONTENT_TYPE, FORM)
                .body(Body::from(format!("_csrf_token={attacker_token}")))
                .unwrap(),
        )
        .await;
    }
    // An old browser without Fetch Metadata still sends Origin.
    v.forbidden(
        "no fetch metadata",
        req("POST", "/login/")
            .header(header::ORIGIN, "http://sibling.localhost")
            .header(header::COOKIE, format!("{}={attacker_cookie}", v.name))
            .header("x-csrf-token", attacker_token.as_str())
            .body(Body::empty())
            .unwrap(),
    )
    .await;
}

#[tokio::test]
async fn login_csrf_without_origin_and_without_cookie_is_refused() {
    // A client that strips Origin and Referer still needs the cookie.
    let v = Victim::new().await;
    let (attacker_token, _) = token(&v.app, &v.name).await;
    v.forbidden(
        "no origin, no cookie",
        Request::builder()
            .method("POST")
            .uri("/login/")
            .header(header::HOST, HOST)
            .header("x-csrf-token", attacker_token)
            .body(Body::empty())
            .unwrap(),
    )
    .await;
}
