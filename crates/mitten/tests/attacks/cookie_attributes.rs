//! Family 10, cookie attribute drift: every `Set-Cookie` Mitten sends for
//! the session — first issue, regenerate, key-rotation re-issue, removal on
//! destroy — carries the same name, `Path`, `Domain`, `Secure`, `HttpOnly`
//! and `SameSite`, so a browser always replaces the cookie it holds instead
//! of keeping a second one; and cookie prefixes are enforced in every case
//! spelling browsers enforce them in.

use std::collections::BTreeSet;
use std::sync::Arc;

use axum::body::Body;
use axum::http::{header, Request, StatusCode};
use axum::routing::get;
use axum::Router;
use mitten::{MemoryStore, Mitten, MittenBuilder, SameSite, Session, SessionError, SessionStore};

use crate::common::*;

/// Test routes without CSRF in the way: write, regenerate, destroy (and
/// destroy-then-write), read.
fn app(m: &Mitten) -> Router {
    Router::new()
        .route(
            "/put",
            get(|s: Session| async move {
                s.insert("v", 1).await?;
                Ok::<_, SessionError>("put")
            }),
        )
        .route(
            "/regen",
            get(|s: Session| async move {
                s.regenerate().await?;
                Ok::<_, SessionError>("regen")
            }),
        )
        .route(
            "/end",
            get(|s: Session| async move {
                s.destroy().await?;
                Ok::<_, SessionError>("end")
            }),
        )
        .route(
            "/end-and-restart",
            get(|s: Session| async move {
                s.destroy().await?;
                s.insert("v", 2).await?;
                Ok::<_, SessionError>("restarted")
            }),
        )
        .route(
            "/read",
            get(|s: Session| async move {
                Ok::<_, SessionError>(format!("{:?}", s.get::<u64>("v").await?))
            }),
        )
        .layer(m.layer())
}

/// A cookie line split into its name and its attributes, lowercased, with
/// the lifetime attributes (which removal adds) set apart.
fn attrs(line: &str) -> (String, BTreeSet<String>, BTreeSet<String>) {
    let mut parts = line.split(';');
    let name = parts.next().unwrap().split('=').next().unwrap().to_owned();
    let (mut lasting, mut lifetime) = (BTreeSet::new(), BTreeSet::new());
    for a in parts {
        let a = a.trim().to_ascii_lowercase();
        if a.starts_with("max-age") || a.starts_with("expires") {
            lifetime.insert(a);
        } else {
            lasting.insert(a);
        }
    }
    (name, lasting, lifetime)
}

fn with(c: &(String, String), uri: &str) -> Request<Body> {
    req("GET", uri)
        .header(header::COOKIE, format!("{}={}", c.0, c.1))
        .body(Body::empty())
        .unwrap()
}

/// Issue, regenerate and destroy under `m`; every line must match the
/// first one's attributes, and the removal must expire the cookie.
async fn no_drift(m: Mitten, expect: &[&str], forbid: &[&str]) {
    let name = m.cookie_name().to_owned();
    let app = app(&m);
    let r = send(&app, get_req("/put")).await;
    let issued = r.set_cookie_line(&name).expect("issued");
    let (n, first, life) = attrs(&issued);
    assert_eq!(n, name);
    assert!(
        life.is_empty(),
        "a session cookie with a lifetime: {issued}"
    );
    for e in expect {
        assert!(first.contains(*e), "{e} missing: {issued}");
    }
    for f in forbid {
        assert!(
            !first.iter().any(|a| a.starts_with(f)),
            "{f} present: {issued}"
        );
    }
    let c = (name.clone(), r.cookie(&name).unwrap());
    let r = send(&app, with(&c, "/regen")).await;
    let regen = r.set_cookie_line(&name).expect("regenerate re-issues");
    assert_eq!(attrs(&regen).1, first, "regenerate drifted: {regen}");
    let c = (name.clone(), r.cookie(&name).unwrap());
    let r = send(&app, with(&c, "/end")).await;
    let removal = r.set_cookie_line(&name).expect("destroy sends a removal");
    let (n, lasting, life) = attrs(&removal);
    assert_eq!(n, name);
    assert_eq!(lasting, first, "removal drifted: {removal}");
    assert!(life.contains("max-age=0"), "{removal}");
    assert!(removal.starts_with(&format!("{name}=;")), "{removal}");
}

fn on_memory(b: MittenBuilder) -> Mitten {
    b.shared_store(Arc::new(MemoryStore::new()) as Arc<dyn SessionStore>)
        .build()
        .unwrap()
}

#[tokio::test]
async fn removal_cookie_on_destroy_matches_the_host_prefixed_cookie() {
    let m = on_memory(Mitten::builder().secret_key(KEY));
    assert_eq!(m.cookie_name(), "__Host-mitten");
    no_drift(
        m,
        &["secure", "path=/", "httponly", "samesite=lax"],
        &["domain"],
    )
    .await;
}

#[tokio::test]
async fn removal_cookie_on_destroy_keeps_the_configured_domain_and_secure() {
    let m = on_memory(
        Mitten::builder()
            .secret_key(KEY)
            .cookie_name("sid")
            .cookie_domain("example.com"),
    );
    no_drift(
        m,
        &[
            "secure",
            "path=/",
            "httponly",
            "samesite=lax",
            "domain=example.com",
        ],
        &[],
    )
    .await;
}

#[tokio::test]
async fn removal_cookie_on_destroy_without_secure_stays_without_secure() {
    let m = on_memory(builder());
    assert_eq!(m.cookie_name(), "mitten");
    no_drift(
        m,
        &["path=/", "httponly", "samesite=lax"],
        &["secure", "domain"],
    )
    .await;
}

#[tokio::test]
async fn removal_cookie_keeps_a_strict_or_none_same_site() {
    for (same_site, want) in [
        (SameSite::Strict, "samesite=strict"),
        (SameSite::None, "samesite=none"),
    ] {
        let m = on_memory(Mitten::builder().secret_key(KEY).same_site(same_site));
        no_drift(m, &["secure", want], &["samesite=lax"]).await;
    }
}

#[tokio::test]
async fn session_cookie_is_not_hardened_into_two_same_site_or_http_only_attributes() {
    for same_site in [SameSite::Strict, SameSite::Lax, SameSite::None] {
        let m = on_memory(Mitten::builder().secret_key(KEY).same_site(same_site));
        let r = send(&app(&m), get_req("/put")).await;
        let line = r.set_cookie_line("__Host-mitten").unwrap();
        let lower = line.to_ascii_lowercase();
        assert_eq!(lower.matches("samesite").count(), 1, "{line}");
        assert_eq!(lower.matches("httponly").count(), 1, "{line}");
    }
}

#[tokio::test]
async fn removal_cookie_for_an_unverifiable_cookie_has_the_same_attributes() {
    let m = on_memory(Mitten::builder().secret_key(KEY));
    let a = app(&m);
    let issued = send(&a, get_req("/put"))
        .await
        .set_cookie_line("__Host-mitten")
        .unwrap();
    let r = send(
        &a,
        with(&("__Host-mitten".into(), "forged.value".into()), "/end"),
    )
    .await;
    let removal = r
        .set_cookie_line("__Host-mitten")
        .expect("junk cookie removed");
    assert_eq!(attrs(&removal).1, attrs(&issued).1, "{removal}");
}

#[tokio::test]
async fn destroy_then_write_in_one_request_sends_one_session_cookie() {
    let m = on_memory(Mitten::builder().secret_key(KEY));
    let a = app(&m);
    let r = send(&a, get_req("/put")).await;
    let c = (
        "__Host-mitten".to_owned(),
        r.cookie("__Host-mitten").unwrap(),
    );
    let r = send(&a, with(&c, "/end-and-restart")).await;
    // `set_cookie_line` asserts the cookie is set only once.
    let line = r.set_cookie_line("__Host-mitten").unwrap();
    let (_, _, life) = attrs(&line);
    assert!(life.is_empty(), "the restart must not be a removal: {line}");
    assert_ne!(r.cookie("__Host-mitten").unwrap(), c.1);
    let fresh = (
        "__Host-mitten".to_owned(),
        r.cookie("__Host-mitten").unwrap(),
    );
    assert_eq!(send(&a, with(&fresh, "/read")).await.body, "Some(2)");
    assert_eq!(send(&a, with(&c, "/read")).await.body, "None");
}

#[tokio::test]
async fn key_rotation_reissued_cookie_keeps_the_attributes() {
    let store = Arc::new(MemoryStore::new());
    let shared = || store.clone() as Arc<dyn SessionStore>;
    let old = Mitten::builder()
        .secret_key(KEY)
        .cookie_name("sid")
        .cookie_domain("example.com")
        .shared_store(shared())
        .build()
        .unwrap();
    let r = send(&app(&old), get_req("/put")).await;
    let issued = r.set_cookie_line("sid").unwrap();
    let c = ("sid".to_owned(), r.cookie("sid").unwrap());
    let rotated = Mitten::builder()
        .secret_key(OTHER_KEY)
        .fallback_key(KEY)
        .cookie_name("sid")
        .cookie_domain("example.com")
        .shared_store(shared())
        .build()
        .unwrap();
    let r = send(&app(&rotated), with(&c, "/read")).await;
    assert_eq!(r.body, "Some(1)");
    let reissued = r.set_cookie_line("sid").expect("re-signed");
    assert_eq!(attrs(&reissued).1, attrs(&issued).1, "{reissued}");
}

#[tokio::test]
async fn host_prefixed_name_forces_secure_path_root_and_no_domain() {
    for name in ["__Host-mitten", "__Host-sid"] {
        let insecure = Mitten::builder()
            .secret_key(KEY)
            .cookie_name(name)
            .secure_cookies(false)
            .build();
        assert!(insecure.is_err(), "{name} without Secure");
        let with_domain = Mitten::builder()
            .secret_key(KEY)
            .cookie_name(name)
            .cookie_domain("example.com")
            .build();
        assert!(with_domain.is_err(), "{name} with Domain");
    }
    let m = on_memory(Mitten::builder().secret_key(KEY).cookie_name("__Host-sid"));
    let line = send(&app(&m), get_req("/put"))
        .await
        .set_cookie_line("__Host-sid")
        .unwrap();
    let (_, a, _) = attrs(&line);
    assert!(a.contains("secure") && a.contains("path=/"), "{line}");
    assert!(!a.iter().any(|x| x.starts_with("domain")), "{line}");
}

#[tokio::test]
async fn host_prefix_in_another_case_is_held_to_the_same_rules() {
    // Browsers match cookie prefixes case-insensitively (RFC 6265bis): a
    // `__host-sid` without Secure is dropped by them, and in browsers that
    // do not enforce prefixes it protects nothing. Either way: refuse it.
    for name in ["__host-sid", "__HOST-sid", "__hOsT-sid"] {
        let insecure = Mitten::builder()
            .secret_key(KEY)
            .cookie_name(name)
            .secure_cookies(false)
            .build();
        assert!(insecure.is_err(), "{name} without Secure");
        let with_domain = Mitten::builder()
            .secret_key(KEY)
            .cookie_name(name)
            .cookie_domain("example.com")
            .build();
        assert!(with_domain.is_err(), "{name} with Domain");
        assert!(Mitten::builder()
            .secret_key(KEY)
            .cookie_name(name)
            .build()
            .is_ok());
    }
}

#[tokio::test]
async fn secure_prefix_in_any_case_needs_secure() {
    for name in ["__Secure-sid", "__secure-sid", "__SECURE-sid"] {
        let insecure = Mitten::builder()
            .secret_key(KEY)
            .cookie_name(name)
            .secure_cookies(false)
            .build();
        assert!(insecure.is_err(), "{name} without Secure");
    }
    let m = on_memory(
        Mitten::builder()
            .secret_key(KEY)
            .cookie_name("__Secure-sid")
            .cookie_domain("example.com"),
    );
    let r = send(&app(&m), get_req("/put")).await;
    assert_eq!(r.status, StatusCode::OK);
    assert!(r
        .set_cookie_line("__Secure-sid")
        .unwrap()
        .contains("Secure"));
}
