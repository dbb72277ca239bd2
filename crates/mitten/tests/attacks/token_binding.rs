//! Family 4, tokens not bound to the session: a token is valid only with
//! the signed session cookie it was minted for, under a key still in the
//! ring, and only until that session's id changes.

use std::sync::Arc;

use axum::body::Body;
use axum::http::{header, Request};

use crate::common::*;
use crate::kit::*;
use mitten::{MemoryStore, Mitten, SessionStore};

/// `POST /notes/` from the app's own origin with `cookie` and `token`.
fn post(cookie: &str, token: &str) -> Request<Body> {
    browser("POST", "/notes/")
        .header(header::COOKIE, cookie)
        .header("x-csrf-token", token)
        .body(Body::empty())
        .unwrap()
}

#[tokio::test]
async fn token_of_session_a_with_the_cookie_of_session_b_is_refused() {
    let v = Victim::new().await;
    let r = send(&v.app, get_req("/put/b")).await;
    let cookie_b = r.cookie(&v.name).unwrap();
    assert_ne!(cookie_b, v.cookie);
    v.forbidden(
        "A's token, B's cookie",
        post(&format!("{}={cookie_b}", v.name), &v.token),
    )
    .await;
    // And the other way round.
    let token_b = token_for(&v.app, &v.name, &cookie_b).await;
    v.forbidden("B's token, A's cookie", post(&v.cookie_header(), &token_b))
        .await;
}

#[tokio::test]
async fn token_minted_before_login_is_dead_after_regenerate() {
    let v = Victim::new().await;
    let r = v
        .accepted(
            "login",
            v.with_token("POST", "/login/").body(Body::empty()).unwrap(),
        )
        .await;
    let new_cookie = r.cookie(&v.name).expect("login re-issues the cookie");
    assert_ne!(new_cookie, v.cookie);
    v.forbidden(
        "old token, new cookie",
        post(&format!("{}={new_cookie}", v.name), &v.token),
    )
    .await;
    // A token minted for the new id works (the refusal was about binding).
    let fresh = token_for(&v.app, &v.name, &new_cookie).await;
    v.accepted(
        "fresh token",
        post(&format!("{}={new_cookie}", v.name), &fresh),
    )
    .await;
}

#[tokio::test]
async fn pre_session_token_is_dead_after_login() {
    // The anonymous visitor's form token (bound to a pre-session id that
    // is only a cookie) stops working once login gives a new id.
    let v = Victim::new().await;
    let (pre_token, pre_cookie) = token(&v.app, &v.name).await;
    let login = browser("POST", "/login/")
        .header(header::COOKIE, format!("{}={pre_cookie}", v.name))
        .header("x-csrf-token", pre_token.as_str())
        .body(Body::empty())
        .unwrap();
    let r = v.accepted("login with the pre-session", login).await;
    let logged_in = r.cookie(&v.name).unwrap();
    assert_ne!(logged_in, pre_cookie);
    v.forbidden(
        "pre-session token, logged-in cookie",
        post(&format!("{}={logged_in}", v.name), &pre_token),
    )
    .await;
}

#[tokio::test]
async fn token_minted_before_logout_is_dead_for_the_next_session() {
    let v = Victim::new().await;
    v.accepted(
        "logout",
        v.with_token("POST", "/logout/")
            .body(Body::empty())
            .unwrap(),
    )
    .await;
    let r = send(&v.app, get_req("/put/next")).await;
    let next = r.cookie(&v.name).unwrap();
    v.forbidden(
        "old token, next session",
        post(&format!("{}={next}", v.name), &v.token),
    )
    .await;
}

#[tokio::test]
async fn token_minted_under_a_retired_key_is_refused() {
    let store = Arc::new(MemoryStore::new());
    let old = Victim::on(builder_with(&store).build().unwrap(), store.clone()).await;
    let shared = || store.clone() as Arc<dyn SessionStore>;
    // During the rotation the old token still works (fallback key)...
    let rotating = Mitten::builder()
        .secret_key(OTHER_KEY)
        .fallback_key(KEY)
        .secure_cookies(false)
        .shared_store(shared())
        .build()
        .unwrap();
    let rotating_app = victim_routes(&old.hits).layer(rotating.layer());
    let r = send(
        &rotating_app,
        req("GET", "/value")
            .header(header::COOKIE, old.cookie_header())
            .body(Body::empty())
            .unwrap(),
    )
    .await;
    assert_eq!(r.body, "before");
    let resigned = r.cookie(COOKIE).expect("re-signed under the new key");
    let resigned_header = format!("{COOKIE}={resigned}");
    let r = send(&rotating_app, post(&resigned_header, &old.token)).await;
    assert_eq!(r.status, axum::http::StatusCode::OK, "{}", r.body);
    // ...and once the old key is retired it does not.
    let retired = Mitten::builder()
        .secret_key(OTHER_KEY)
        .secure_cookies(false)
        .shared_store(shared())
        .build()
        .unwrap();
    let v = Victim {
        app: victim_routes(&old.hits).layer(retired.layer()),
        hits: old.hits.clone(),
        store: store.clone(),
        name: COOKIE.to_owned(),
        cookie: resigned.clone(),
        token: old.token.clone(),
    };
    v.forbidden(
        "token under the retired key",
        post(&resigned_header, &old.token),
    )
    .await;
    let fresh = token_for(&v.app, COOKIE, &resigned).await;
    v.accepted(
        "token under the current key",
        post(&resigned_header, &fresh),
    )
    .await;
}

#[tokio::test]
async fn token_with_a_tampered_session_cookie_is_refused() {
    let v = Victim::new().await;
    let (id, mac) = v.cookie.split_once('.').unwrap();
    let flip = |s: &str| {
        let mut b = s.to_owned().into_bytes();
        b[0] = if b[0] == b'A' { b'B' } else { b'A' };
        String::from_utf8(b).unwrap()
    };
    for c in [
        format!("{}.{mac}", flip(id)),
        format!("{id}.{}", flip(mac)),
        id.to_owned(),
        format!("{id}."),
        format!("{}.{}", v.cookie, "A"),
    ] {
        v.forbidden(&c, post(&format!("{}={c}", v.name), &v.token))
            .await;
    }
}

#[tokio::test]
async fn token_with_two_different_session_cookies_is_refused() {
    let v = Victim::new().await;
    let other = send(&v.app, get_req("/put/other"))
        .await
        .cookie(&v.name)
        .unwrap();
    for cookies in [
        format!("{}; {}={other}", v.cookie_header(), v.name),
        format!("{}={other}; {}", v.name, v.cookie_header()),
    ] {
        v.forbidden(&cookies, post(&cookies, &v.token)).await;
    }
}

#[tokio::test]
async fn token_with_the_session_cookie_under_another_name_is_refused() {
    let store = Arc::new(MemoryStore::new());
    let m = Mitten::builder()
        .secret_key(KEY)
        .shared_store(store.clone() as Arc<dyn SessionStore>)
        .build()
        .unwrap();
    let v = Victim::on(m, store).await;
    assert_eq!(v.name, "__Host-mitten");
    for name in [
        "mitten",
        "__host-mitten",
        "__HOST-mitten",
        "__Secure-mitten",
        "__Host-Mitten",
    ] {
        v.forbidden(name, post(&format!("{name}={}", v.cookie), &v.token))
            .await;
    }
}

#[tokio::test]
async fn token_minted_by_another_deployment_is_refused() {
    let v = Victim::new().await;
    let other = Victim::with(|b| b.secret_key(THIRD_KEY)).await;
    v.forbidden("other app's token", post(&v.cookie_header(), &other.token))
        .await;
    // Nor does the other app's cookie + token work here.
    v.forbidden(
        "other app's cookie and token",
        post(&other.cookie_header(), &other.token),
    )
    .await;
}

#[tokio::test]
async fn token_of_a_destroyed_session_replayed_with_its_cookie_reaches_only_an_empty_session() {
    // Verification is stateless (no store round trip), so a dead session's
    // cookie and token still pass the CSRF check. What they reach is an
    // empty session: the destroyed data is gone and nothing is re-created
    // under the old id. (A browser no longer sends the expired cookie; only
    // someone who copied both could replay them, and they get nothing.)
    let v = Victim::new().await;
    v.accepted(
        "logout",
        v.with_token("POST", "/logout/")
            .body(Body::empty())
            .unwrap(),
    )
    .await;
    assert!(v.store.is_empty());
    let r = v
        .accepted("replay", post(&v.cookie_header(), &v.token))
        .await;
    let issued = r.cookie(&v.name).expect("the write got a new id");
    assert_ne!(issued, v.cookie);
    assert_eq!(v.value().await, "<none>");
}
