//! Family 12, oversized state: session data growing past
//! `.max_session_bytes(n)` is a clear `SessionError::TooLarge` (413) to the
//! handler that tried it — in one write, by accumulation, through
//! `update()`, or only after a concurrent write is replayed — and the
//! stored session stays exactly as it was: never truncated, never dropped.
//! The data never moves into the cookie.

use std::sync::Arc;

use axum::body::Body;
use axum::extract::Path;
use axum::http::{header, Request, StatusCode};
use axum::routing::get;
use axum::Router;
use mitten::{MemoryStore, Mitten, Session, SessionError};
use tokio::sync::Notify;

use crate::common::*;
use crate::kit::records;

const LIMIT: usize = 1024;

/// `/set/{key}/{len}` stores `len` bytes under `key` and answers with what
/// the handler got back; `/push/{len}` appends a `len`-byte item to a list
/// with `update()`; `/remove/{key}`; `/regen`; `/keys` lists the keys and
/// value lengths.
fn app(m: &Mitten) -> Router {
    Router::new()
        .route(
            "/set/{key}/{len}",
            get(
                |s: Session, Path((key, len)): Path<(String, usize)>| async move {
                    outcome(s.insert(&key, "x".repeat(len)).await)
                },
            ),
        )
        .route(
            "/push/{len}",
            get(|s: Session, Path(len): Path<usize>| async move {
                let r = s
                    .update("list", move |l: Option<Vec<String>>| {
                        let mut l = l.unwrap_or_default();
                        l.push("y".repeat(len));
                        l
                    })
                    .await
                    .map(|_| ());
                outcome(r)
            }),
        )
        .route(
            "/ignore-and-continue/{len}",
            get(|s: Session, Path(len): Path<usize>| async move {
                // A handler that swallows the error and carries on.
                let first = outcome(s.insert("big", "x".repeat(len)).await)?;
                s.insert("small", 1).await?;
                Ok::<_, SessionError>(format!("{first} then small"))
            }),
        )
        .route(
            "/remove/{key}",
            get(|s: Session, Path(key): Path<String>| async move {
                s.remove::<serde_json::Value>(&key).await?;
                Ok::<_, SessionError>("removed")
            }),
        )
        .route(
            "/regen",
            get(|s: Session| async move {
                s.regenerate().await?;
                Ok::<_, SessionError>("regenerated")
            }),
        )
        .route(
            "/keys",
            get(|s: Session| async move {
                let mut out = Vec::new();
                for k in ["a", "b", "big", "small", "list"]
                    .into_iter()
                    .map(String::from)
                    .chain((0..40).map(|i| format!("k{i}")))
                {
                    if let Some(v) = s.get::<serde_json::Value>(&k).await? {
                        out.push(format!("{k}:{}", v.to_string().len()));
                    }
                }
                Ok::<_, SessionError>(out.join(","))
            }),
        )
        .layer(m.layer())
}

/// The handler's view of a write: `ok`, or the TooLarge numbers.
fn outcome(r: Result<(), SessionError>) -> Result<String, SessionError> {
    match r {
        Ok(()) => Ok("ok".into()),
        Err(SessionError::TooLarge { size, limit }) => {
            assert!(size > limit, "{size} <= {limit}");
            Ok(format!("too large: {size} > {limit}"))
        }
        Err(e) => Err(e),
    }
}

struct Fixture {
    app: Router,
    store: Arc<MemoryStore>,
    cookie: String,
}

async fn fixture() -> Fixture {
    let store = Arc::new(MemoryStore::new());
    let m = builder_with(&store)
        .max_session_bytes(LIMIT)
        .build()
        .unwrap();
    let app = app(&m);
    let r = send(&app, get_req("/set/a/100")).await;
    assert_eq!(r.body, "ok");
    let cookie = r.cookie(COOKIE).unwrap();
    Fixture { app, store, cookie }
}

impl Fixture {
    fn get(&self, uri: &str) -> Request<Body> {
        req("GET", uri)
            .header(header::COOKIE, format!("{COOKIE}={}", self.cookie))
            .body(Body::empty())
            .unwrap()
    }

    async fn send(&self, uri: &str) -> Resp {
        send(&self.app, self.get(uri)).await
    }
}

#[tokio::test]
async fn single_write_past_the_limit_is_413_to_the_handler_and_the_session_is_unchanged() {
    let f = fixture().await;
    let before = records(&f.store).await;
    let r = f.send(&format!("/set/b/{LIMIT}")).await;
    assert_eq!(
        r.status,
        StatusCode::OK,
        "the handler got the error: {}",
        r.body
    );
    assert!(r.body.starts_with("too large: "), "{}", r.body);
    assert!(r.body.ends_with(&format!("> {LIMIT}")), "{}", r.body);
    assert_eq!(records(&f.store).await, before, "stored session changed");
    assert!(r.set_cookies().is_empty());
    // With `?` the handler answers 413.
    let m = builder().max_session_bytes(LIMIT).build().unwrap();
    let strict = Router::new()
        .route(
            "/",
            get(|s: Session| async move {
                s.insert("v", "x".repeat(2 * LIMIT)).await?;
                Ok::<_, SessionError>("unreachable")
            }),
        )
        .layer(m.layer());
    let r = send(&strict, get_req("/")).await;
    assert_eq!(r.status, StatusCode::PAYLOAD_TOO_LARGE);
    assert_security_headers(&r);
    assert!(r.set_cookies().is_empty(), "{:?}", r.set_cookies());
}

#[tokio::test]
async fn growth_by_many_small_writes_stops_at_the_limit_with_all_earlier_data_kept() {
    let f = fixture().await;
    let mut stored = 0;
    for i in 0..40 {
        let before = records(&f.store).await;
        let r = f.send(&format!("/set/k{i}/60")).await;
        if r.body == "ok" {
            stored += 1;
            continue;
        }
        assert!(r.body.starts_with("too large"), "{}", r.body);
        assert_eq!(
            records(&f.store).await,
            before,
            "write {i} changed the store"
        );
        break;
    }
    assert!(stored > 5 && stored < 40, "{stored}");
    let keys = f.send("/keys").await.body;
    assert_eq!(keys.split(',').count(), stored + 1, "{keys}");
    assert!(keys.starts_with("a:102"), "{keys}");
}

#[tokio::test]
async fn update_growing_past_the_limit_is_refused_and_the_old_value_kept() {
    let f = fixture().await;
    let mut pushes = 0;
    loop {
        let r = f.send("/push/100").await;
        if r.body != "ok" {
            assert!(r.body.starts_with("too large"), "{}", r.body);
            break;
        }
        pushes += 1;
        assert!(pushes < 20);
    }
    let keys = f.send("/keys").await.body;
    // Each item is 100 bytes plus quotes and a comma.
    let list_len: usize = keys
        .split(',')
        .find_map(|k| k.strip_prefix("list:"))
        .unwrap()
        .parse()
        .unwrap();
    assert_eq!(list_len, pushes * 103 + 1, "{keys}");
}

#[tokio::test]
async fn handler_that_ignores_the_error_still_got_it_and_nothing_was_truncated() {
    let f = fixture().await;
    let r = f.send(&format!("/ignore-and-continue/{LIMIT}")).await;
    assert_eq!(r.status, StatusCode::OK);
    assert!(r.body.starts_with("too large"), "{}", r.body);
    let keys = f.send("/keys").await.body;
    assert_eq!(keys, "a:102,small:1", "not the big value, not a part of it");
}

#[tokio::test]
async fn key_names_count_toward_the_limit() {
    let f = fixture().await;
    let before = records(&f.store).await;
    let r = f.send(&format!("/set/{}/1", "k".repeat(LIMIT))).await;
    assert!(r.body.starts_with("too large"), "{}", r.body);
    assert_eq!(records(&f.store).await, before);
}

#[tokio::test]
async fn two_values_each_under_the_limit_but_together_over_it_fail_the_second() {
    let f = fixture().await;
    assert_eq!(f.send("/set/b/600").await.body, "ok");
    let r = f.send("/set/big/600").await;
    assert!(r.body.starts_with("too large"), "{}", r.body);
    assert_eq!(f.send("/keys").await.body, "a:102,b:602");
}

#[tokio::test]
async fn concurrent_writes_that_only_together_exceed_the_limit_fail_the_late_one_clearly() {
    // Each request alone fits; the second learns of the first only when its
    // compare-and-set loses and its change is replayed on the newer data.
    let store = Arc::new(MemoryStore::new());
    let m = builder_with(&store)
        .max_session_bytes(LIMIT)
        .build()
        .unwrap();
    let gates: Vec<(Arc<Notify>, Arc<Notify>)> = (0..2)
        .map(|_| (Arc::new(Notify::new()), Arc::new(Notify::new())))
        .collect();
    let g = gates.clone();
    let racing = Router::new()
        .route(
            "/seed",
            get(|s: Session| async move {
                s.insert("a", "seed").await?;
                Ok::<_, SessionError>("ok")
            }),
        )
        .route(
            "/half/{i}",
            get(move |s: Session, Path(i): Path<usize>| {
                let (loaded, go) = g[i].clone();
                async move {
                    let _ = s.get::<String>("a").await?;
                    loaded.notify_one();
                    go.notified().await;
                    s.insert(&format!("k{i}"), "x".repeat(LIMIT * 6 / 10))
                        .await?;
                    Ok::<_, SessionError>("ok")
                }
            }),
        )
        .layer(m.layer());
    let r = send(&racing, get_req("/seed")).await;
    let cookie = r.cookie(COOKIE).unwrap();
    let spawn = |i: usize| {
        let (app, c) = (racing.clone(), cookie.clone());
        tokio::spawn(async move {
            send(
                &app,
                req("GET", &format!("/half/{i}"))
                    .header(header::COOKIE, format!("{COOKIE}={c}"))
                    .body(Body::empty())
                    .unwrap(),
            )
            .await
        })
    };
    let (a, b) = (spawn(0), spawn(1));
    gates[0].0.notified().await;
    gates[1].0.notified().await;
    gates[0].1.notify_one();
    let a = a.await.unwrap();
    assert_eq!(a.status, StatusCode::OK, "{}", a.body);
    let after_a = records(&store).await;
    gates[1].1.notify_one();
    let b = b.await.unwrap();
    assert_eq!(b.status, StatusCode::PAYLOAD_TOO_LARGE, "{}", b.body);
    assert_eq!(
        records(&store).await,
        after_a,
        "the late write changed the store"
    );
}

#[tokio::test]
async fn session_data_never_moves_into_the_cookie() {
    let m = builder().max_session_bytes(1 << 20).build().unwrap();
    let a = app(&m);
    let small = send(&a, get_req("/set/a/1")).await.cookie(COOKIE).unwrap();
    let big = send(&a, get_req("/set/a/500000"))
        .await
        .cookie(COOKIE)
        .unwrap();
    assert_eq!(small.len(), big.len());
    assert!(big.len() < 100, "{}", big.len());
}

#[tokio::test]
async fn regenerate_with_data_near_the_limit_keeps_all_of_it() {
    let f = fixture().await;
    assert_eq!(f.send(&format!("/set/b/{}", LIMIT - 130)).await.body, "ok");
    let keys = f.send("/keys").await.body;
    let r = f.send("/regen").await;
    let new = r.cookie(COOKIE).expect("new id");
    let r = send(
        &f.app,
        req("GET", "/keys")
            .header(header::COOKIE, format!("{COOKIE}={new}"))
            .body(Body::empty())
            .unwrap(),
    )
    .await;
    assert_eq!(r.body, keys);
}

#[tokio::test]
async fn lowering_the_limit_never_drops_or_truncates_an_existing_session() {
    let f = fixture().await;
    assert_eq!(f.send("/set/b/600").await.body, "ok");
    let before = records(&f.store).await;
    // The app restarts with a smaller limit, on the same store.
    let m = builder_with(&f.store)
        .max_session_bytes(256)
        .build()
        .unwrap();
    let lower = Fixture {
        app: app(&m),
        store: f.store.clone(),
        cookie: f.cookie.clone(),
    };
    assert_eq!(
        lower.send("/keys").await.body,
        "a:102,b:602",
        "data dropped"
    );
    let r = lower.send("/set/small/1").await;
    assert!(r.body.starts_with("too large"), "{}", r.body);
    assert_eq!(records(&f.store).await, before);
    // Shrinking is always possible.
    assert_eq!(lower.send("/remove/b").await.body, "removed");
    assert_eq!(lower.send("/keys").await.body, "a:102");
}
