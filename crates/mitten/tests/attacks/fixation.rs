//! Family 9, session fixation: an id the client chose is never adopted —
//! unknown, well-formed, badly signed, signed for another cookie name or
//! with a retired key, spelled non-canonically, sent anywhere but the
//! cookie — and after login the id always changes and the pre-login id is
//! dead, even for a request that was in flight during the login.

use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::http::{header, Request, StatusCode};
use axum::routing::get;
use axum::Router;
use mitten::{MemoryStore, Mitten, Session, SessionError, SessionStore};
use tokio::sync::Notify;

use crate::common::*;
use crate::kit::*;

fn with_cookie(name: &str, uri: &str, value: &str) -> Request<Body> {
    req("GET", uri)
        .header(header::COOKIE, format!("{name}={value}"))
        .body(Body::empty())
        .unwrap()
}

/// Plants `planted` and writes through it: the write must get a new id,
/// the planted id must still read nothing, and the victim's record must be
/// untouched.
async fn never_adopted(v: &Victim, planted: &str) {
    let victim_before = records(&v.store).await;
    let r = v.send(with_cookie(&v.name, "/value", planted)).await;
    assert_eq!(r.body, "<none>", "{planted}");
    let r = v
        .send(with_cookie(&v.name, "/put/attacker-knows", planted))
        .await;
    assert_eq!(r.status, StatusCode::OK);
    let issued = r
        .cookie(&v.name)
        .expect("a write under a foreign id gets a new one");
    assert_ne!(issued, planted);
    let r = v.send(with_cookie(&v.name, "/value", planted)).await;
    assert_eq!(r.body, "<none>", "the planted id was adopted: {planted}");
    let after = records(&v.store).await;
    assert_eq!(after.len(), victim_before.len() + 1);
    for rec in &victim_before {
        assert!(after.contains(rec), "the victim's session changed");
    }
}

fn b64(bytes: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

#[tokio::test]
async fn unknown_well_formed_id_is_never_adopted() {
    let v = Victim::new().await;
    for planted in [
        format!("{}.{}", b64(&[7; 16]), b64(&[9; 32])),
        format!("{}.{}", b64(&[0; 16]), b64(&[0; 32])),
        format!("{}.{}", v.cookie.split('.').next().unwrap(), b64(&[1; 32])),
    ] {
        never_adopted(&v, &planted).await;
    }
}

#[tokio::test]
async fn validly_signed_id_unknown_to_the_store_is_never_adopted() {
    // Another deployment with the same key signed this id, but this store
    // never issued it.
    let other = Victim::new().await;
    let v = Victim::new().await;
    never_adopted(&v, &other.cookie).await;
}

#[tokio::test]
async fn badly_signed_id_is_never_adopted_and_costs_no_store_call() {
    let store = Arc::new(CountingStore::default());
    let m = builder()
        .shared_store(store.clone() as Arc<dyn SessionStore>)
        .build()
        .unwrap();
    let app = victim_routes(&Hits::default()).layer(m.layer());
    let good = send(&app, get_req("/put/v")).await.cookie(COOKIE).unwrap();
    let (id, mac) = good.split_once('.').unwrap();
    let mut forged = mac.to_owned().into_bytes();
    forged[0] = if forged[0] == b'A' { b'B' } else { b'A' };
    let forged = format!("{id}.{}", String::from_utf8(forged).unwrap());
    let before = store.calls();
    let r = send(&app, with_cookie(COOKIE, "/value", &forged)).await;
    assert_eq!(r.body, "<none>");
    assert_eq!(store.calls(), before, "a bad signature reached the store");
}

#[tokio::test]
async fn id_signed_with_a_revoked_key_is_never_adopted() {
    let store = Arc::new(MemoryStore::new());
    // Issued while THIRD_KEY was the key; THIRD_KEY has since been removed.
    let old = Victim::on(
        builder_with(&store).secret_key(THIRD_KEY).build().unwrap(),
        store.clone(),
    )
    .await;
    let v = Victim::on(builder_with(&store).build().unwrap(), store.clone()).await;
    never_adopted(&v, &old.cookie).await;
    // Nor was the old record migrated or touched.
    let r = old
        .send(with_cookie(&old.name, "/value", &old.cookie))
        .await;
    assert_eq!(r.body, "before");
}

#[tokio::test]
async fn id_signed_for_another_cookie_name_is_never_adopted() {
    // Same key, same store, another cookie name (another app on the host).
    let store = Arc::new(MemoryStore::new());
    let sid = Victim::on(
        builder_with(&store).cookie_name("sid").build().unwrap(),
        store.clone(),
    )
    .await;
    let v = Victim::on(builder_with(&store).build().unwrap(), store.clone()).await;
    never_adopted(&v, &sid.cookie).await;
}

#[tokio::test]
async fn id_in_a_non_canonical_spelling_is_never_adopted() {
    // The last character of each part carries unused bits; a spelling with
    // other unused bits decodes to the same bytes in lenient decoders.
    let v = Victim::new().await;
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let tweak = |s: &str| -> String {
        let mut b = s.to_owned().into_bytes();
        let last = b.last_mut().unwrap();
        let i = ALPHABET.iter().position(|c| c == last).unwrap();
        *last = ALPHABET[i ^ 1];
        String::from_utf8(b).unwrap()
    };
    let (id, mac) = v.cookie.split_once('.').unwrap();
    for planted in [
        format!("{}.{mac}", tweak(id)),
        format!("{id}.{}", tweak(mac)),
        format!("{id}==.{mac}"),
        format!("{id}.{mac}="),
        format!("{}.{mac}", id.replace('-', "+").replace('_', "/")),
    ] {
        if planted != v.cookie {
            let r = v.send(with_cookie(&v.name, "/value", &planted)).await;
            assert_eq!(r.body, "<none>", "{planted}");
        }
    }
}

#[tokio::test]
async fn id_sent_anywhere_but_the_cookie_is_never_adopted() {
    let v = Victim::new().await;
    for r in [
        req("GET", &format!("/value?{}={}", v.name, v.cookie)),
        req("GET", "/value").header("x-session-id", v.cookie.as_str()),
        req("GET", "/value").header(header::AUTHORIZATION, format!("Bearer {}", v.cookie)),
        req("GET", "/value").header("x-mitten", v.cookie.as_str()),
        req("GET", "/value").header("set-cookie", v.cookie_header()),
    ] {
        let r = v.send(r.body(Body::empty()).unwrap()).await;
        assert_ne!(r.body, "before", "adopted from outside the cookie");
    }
}

#[tokio::test]
async fn pre_session_id_planted_before_login_is_dead_after_login() {
    // The attacker obtains a pre-session (validly signed, never stored) id
    // and a token for it, and plants both in the victim's browser; the
    // victim then logs in.
    let v = Victim::new().await;
    let (token, planted) = token(&v.app, &v.name).await;
    let r = v
        .accepted(
            "victim logs in on the planted id",
            browser("POST", "/login/")
                .header(header::COOKIE, format!("{}={planted}", v.name))
                .header("x-csrf-token", token)
                .body(Body::empty())
                .unwrap(),
        )
        .await;
    let logged_in = r.cookie(&v.name).expect("login issues a new id");
    assert_ne!(logged_in, planted);
    let whoami = |c: &str| v.send(with_cookie(&v.name, "/whoami", c));
    assert_eq!(whoami(&logged_in).await.body, "alice");
    assert_eq!(whoami(&planted).await.body, "<anonymous>");
    assert_eq!(v.store.len(), 2, "victim's old session + the new login");
}

#[tokio::test]
async fn after_login_the_id_always_changes_and_the_pre_login_id_is_dead() {
    let v = Victim::new().await;
    let r = v
        .accepted(
            "login",
            v.with_token("POST", "/login/").body(Body::empty()).unwrap(),
        )
        .await;
    let new = r.cookie(&v.name).expect("regenerate re-issues the cookie");
    assert_ne!(new, v.cookie);
    assert_eq!(v.store.len(), 1, "the pre-login record must be gone");
    let get = |uri: &'static str, c: String| v.send(with_cookie(&v.name, uri, &c));
    assert_eq!(get("/value", new.clone()).await.body, "before", "data kept");
    assert_eq!(get("/whoami", new.clone()).await.body, "alice");
    assert_eq!(get("/value", v.cookie.clone()).await.body, "<none>");
    assert_eq!(get("/whoami", v.cookie.clone()).await.body, "<anonymous>");
    // Writing through the dead id starts an unrelated session.
    let r = get("/put/x", v.cookie.clone()).await;
    let fresh = r.cookie(&v.name).unwrap();
    assert!(fresh != v.cookie && fresh != new);
    assert_eq!(get("/whoami", fresh).await.body, "<anonymous>");
}

#[tokio::test]
async fn request_in_flight_during_login_cannot_resurrect_the_pre_login_id() {
    let store = Arc::new(MemoryStore::new());
    let m = builder_with(&store).build().unwrap();
    let loaded = Arc::new(Notify::new());
    let release = Arc::new(Notify::new());
    let (l, rel) = (loaded.clone(), release.clone());
    let app: Router = victim_routes(&Hits::default())
        .route(
            "/slow",
            get(move |s: Session| {
                let (l, rel) = (l.clone(), rel.clone());
                async move {
                    let _ = s.get::<String>("value").await?;
                    l.notify_one();
                    rel.notified().await;
                    s.insert("value", "written late under the old id").await?;
                    Ok::<_, SessionError>("late")
                }
            }),
        )
        .layer(m.layer());
    let old = send(&app, get_req("/put/before"))
        .await
        .cookie(COOKIE)
        .unwrap();
    let slow = {
        let app = app.clone();
        let old = old.clone();
        tokio::spawn(async move { send(&app, with_cookie(COOKIE, "/slow", &old)).await })
    };
    loaded.notified().await;
    let tok = token_for(&app, COOKIE, &old).await;
    let r = send(
        &app,
        browser("POST", "/login/")
            .header(header::COOKIE, format!("{COOKIE}={old}"))
            .header("x-csrf-token", tok)
            .body(Body::empty())
            .unwrap(),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let new = r.cookie(COOKIE).unwrap();
    release.notify_one();
    let late = slow.await.unwrap();
    assert_eq!(late.status, StatusCode::CONFLICT, "{}", late.body);
    assert!(late.cookie(COOKIE).is_none(), "{:?}", late.set_cookies());
    assert_eq!(store.len(), 1);
    let read = |c: String| send(&app, with_cookie(COOKIE, "/value", &c));
    assert_eq!(read(old).await.body, "<none>");
    assert_eq!(read(new).await.body, "before");
}

#[tokio::test]
async fn destroyed_id_replayed_is_never_adopted() {
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
        .send(with_cookie(&v.name, "/put/replayed", &v.cookie))
        .await;
    let issued = r.cookie(&v.name).unwrap();
    assert_ne!(issued, v.cookie);
    assert_eq!(v.value().await, "<none>");
}

#[tokio::test]
async fn expired_id_replayed_is_never_resurrected() {
    let store = Arc::new(MemoryStore::new());
    let m: Mitten = builder_with(&store)
        .idle_timeout(Duration::from_millis(200))
        .build()
        .unwrap();
    let v = Victim::on(m, store).await;
    tokio::time::sleep(Duration::from_millis(350)).await;
    assert_eq!(v.value().await, "<none>");
    let r = v.send(with_cookie(&v.name, "/put/again", &v.cookie)).await;
    let issued = r.cookie(&v.name).expect("new id");
    assert_ne!(issued, v.cookie);
    assert_eq!(v.value().await, "<none>");
}
