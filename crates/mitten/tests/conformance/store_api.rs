//! The `SessionStore` contract, called directly: the sharpest way to pin
//! down insert-if-absent, compare-and-set, atomic rename and expiry.

use std::time::Duration;

use mitten::session::store::{now_ms, RenameOutcome, SaveOutcome, SessionData, StoreKey};
use mitten::Record;
use serde_json::json;

use super::harness::{unique, Harness};

fn key() -> StoreKey {
    // The shape Mitten uses: 64 lowercase hex characters.
    StoreKey::from_string(format!("{}{}{}{}", unique(), unique(), unique(), unique()))
}

fn data(v: serde_json::Value) -> SessionData {
    v.as_object().expect("object").clone()
}

fn record(version: u64, v: serde_json::Value, ttl_ms: u64) -> Record {
    let now = now_ms();
    Record {
        data: data(v),
        version,
        created_at_ms: now,
        expires_at_ms: now + ttl_ms,
    }
}

const HOUR: u64 = 3_600_000;

pub async fn create_is_insert_if_absent(h: &Harness) {
    let s = &h.store;
    let k = key();
    let first = record(1, json!({"owner": "first"}), HOUR);
    assert!(s.create(&k, &first).await.unwrap(), "{}", h.name);
    // A second create on a live key is refused and changes nothing.
    let second = record(1, json!({"owner": "second"}), HOUR);
    assert!(
        !s.create(&k, &second).await.unwrap(),
        "{}: upserted",
        h.name
    );
    assert_eq!(s.load(&k).await.unwrap(), Some(first), "{}", h.name);
    assert_eq!(h.inspect.raw_keys().await, vec![k.as_str().to_owned()]);
}

pub async fn save_is_compare_and_set(h: &Harness) {
    let s = &h.store;
    let k = key();
    let v1 = record(1, json!({"n": 1}), HOUR);
    assert!(s.create(&k, &v1).await.unwrap());
    let v2 = Record {
        version: 2,
        data: data(json!({"n": 2})),
        ..v1.clone()
    };
    assert_eq!(s.save(&k, &v2, 1).await.unwrap(), SaveOutcome::Saved);
    // A writer that still believes in version 1 loses and writes nothing.
    let stale = Record {
        version: 2,
        data: data(json!({"n": "stale"})),
        ..v1.clone()
    };
    assert_eq!(s.save(&k, &stale, 1).await.unwrap(), SaveOutcome::Conflict);
    assert_eq!(s.load(&k).await.unwrap(), Some(v2.clone()));
    // Saving to a key that holds nothing never creates it.
    let other = key();
    assert_eq!(s.save(&other, &v2, 1).await.unwrap(), SaveOutcome::Missing);
    assert_eq!(s.load(&other).await.unwrap(), None);
    assert_eq!(h.inspect.raw_keys().await.len(), 1, "{}", h.name);
}

pub async fn rename_is_atomic_and_conditional(h: &Harness) {
    let s = &h.store;
    let (a, b, c) = (key(), key(), key());
    let rec = record(1, json!({"user": "alice"}), HOUR);
    assert!(s.create(&a, &rec).await.unwrap());
    let moved = Record {
        version: 2,
        ..rec.clone()
    };
    // Wrong version: nothing moves.
    assert_eq!(
        s.rename(&a, &b, &moved, 7).await.unwrap(),
        RenameOutcome::Conflict
    );
    assert_eq!(s.load(&a).await.unwrap(), Some(rec.clone()));
    assert_eq!(s.load(&b).await.unwrap(), None);
    // Target taken: nothing moves, the other session is untouched.
    let victim = record(1, json!({"user": "victim"}), HOUR);
    assert!(s.create(&c, &victim).await.unwrap());
    assert_eq!(
        s.rename(&a, &c, &moved, 1).await.unwrap(),
        RenameOutcome::Collision
    );
    assert_eq!(s.load(&a).await.unwrap(), Some(rec.clone()));
    assert_eq!(s.load(&c).await.unwrap(), Some(victim));
    // The real move: the old key is gone at once.
    assert_eq!(
        s.rename(&a, &b, &moved, 1).await.unwrap(),
        RenameOutcome::Renamed
    );
    assert_eq!(s.load(&a).await.unwrap(), None);
    assert_eq!(s.load(&b).await.unwrap(), Some(moved.clone()));
    // Moving from a key that is gone: Missing, and nothing appears.
    let d = key();
    assert_eq!(
        s.rename(&a, &d, &moved, 1).await.unwrap(),
        RenameOutcome::Missing
    );
    assert_eq!(s.load(&d).await.unwrap(), None);
    let mut keys = h.inspect.raw_keys().await;
    keys.sort();
    let mut want = vec![b.as_str().to_owned(), c.as_str().to_owned()];
    want.sort();
    assert_eq!(keys, want, "{}", h.name);
}

pub async fn touch_moves_expiry_of_live_records_only(h: &Harness) {
    let s = &h.store;
    let k = key();
    let rec = record(3, json!({"a": 1}), 1_500);
    assert!(s.create(&k, &rec).await.unwrap());
    let later = now_ms() + HOUR;
    s.touch(&k, later).await.unwrap();
    let got = s.load(&k).await.unwrap().expect("live");
    assert_eq!(got.expires_at_ms, later);
    // Data and version are untouched: touch is no write of the session.
    assert_eq!((got.version, got.data), (rec.version, rec.data));
    // Touching nothing is no error and creates nothing.
    let missing = key();
    s.touch(&missing, later).await.unwrap();
    assert_eq!(s.load(&missing).await.unwrap(), None);
    // Touching an expired record does not bring it back.
    let dead = key();
    assert!(s.create(&dead, &record(1, json!({}), 300)).await.unwrap());
    tokio::time::sleep(Duration::from_millis(450)).await;
    s.touch(&dead, later).await.unwrap();
    assert_eq!(s.load(&dead).await.unwrap(), None, "{}", h.name);
}

pub async fn delete_is_idempotent(h: &Harness) {
    let s = &h.store;
    let k = key();
    assert!(s
        .create(&k, &record(1, json!({"x": 1}), HOUR))
        .await
        .unwrap());
    s.delete(&k).await.unwrap();
    assert_eq!(s.load(&k).await.unwrap(), None);
    s.delete(&k).await.unwrap();
    assert!(h.inspect.raw_keys().await.is_empty(), "{}", h.name);
}

pub async fn expired_records_are_never_returned_nor_written(h: &Harness) {
    let s = &h.store;
    let k = key();
    let rec = record(1, json!({"user": "alice"}), 300);
    assert!(s.create(&k, &rec).await.unwrap());
    assert!(s.load(&k).await.unwrap().is_some());
    tokio::time::sleep(Duration::from_millis(450)).await;
    // No cleanup has run: the store itself must filter.
    assert_eq!(s.load(&k).await.unwrap(), None, "{}", h.name);
    let late = Record {
        version: 2,
        expires_at_ms: now_ms() + HOUR,
        ..rec.clone()
    };
    assert_eq!(s.save(&k, &late, 1).await.unwrap(), SaveOutcome::Missing);
    assert_eq!(
        s.rename(&k, &key(), &late, 1).await.unwrap(),
        RenameOutcome::Missing
    );
    assert_eq!(s.load(&k).await.unwrap(), None, "{}: resurrected", h.name);
    // An expired record does not block its key.
    let fresh = record(1, json!({"user": "bob"}), HOUR);
    assert!(s.create(&k, &fresh).await.unwrap(), "{}", h.name);
    assert_eq!(s.load(&k).await.unwrap(), Some(fresh));
}

pub async fn cleanup_removes_only_expired_records(h: &Harness) {
    let s = &h.store;
    let (live, dead) = (key(), key());
    assert!(s.create(&live, &record(1, json!({}), HOUR)).await.unwrap());
    assert!(s.create(&dead, &record(1, json!({}), 200)).await.unwrap());
    tokio::time::sleep(Duration::from_millis(350)).await;
    let removed = h.inspect.cleanup().await;
    if h.inspect.keeps_expired_until_cleanup() {
        assert_eq!(removed, 1, "{}", h.name);
    }
    assert_eq!(h.inspect.raw_keys().await, vec![live.as_str().to_owned()]);
    assert!(s.load(&live).await.unwrap().is_some());
    // Through the trait as well (what `stores::spawn_cleanup` calls).
    assert_eq!(s.delete_expired().await.unwrap(), 0, "{}", h.name);
}

pub async fn records_round_trip_exactly(h: &Harness) {
    let s = &h.store;
    let k = key();
    // Versions beyond 2^53 (where Lua numbers and JSON doubles round),
    // and data that quotes, escapes and spans scripts.
    let rec = Record {
        version: (1u64 << 60) + 1,
        created_at_ms: now_ms(),
        expires_at_ms: now_ms() + HOUR,
        data: data(json!({
            "quote": "it's \"quoted\" -- ; DROP TABLE x; \\ \u{0} \n",
            "unicode": "Grüße, 世界, 🦀",
            "nested": {"list": [1, 2.5, null, true, "x"], "big": u64::MAX},
            "": "empty key"
        })),
    };
    assert!(s.create(&k, &rec).await.unwrap());
    assert_eq!(s.load(&k).await.unwrap(), Some(rec.clone()), "{}", h.name);
    let next = Record {
        version: rec.version + 1,
        ..rec.clone()
    };
    assert_eq!(
        s.save(&k, &next, rec.version).await.unwrap(),
        SaveOutcome::Saved,
        "{}: large version compared wrongly",
        h.name
    );
    // The old version again (one below the stored one): a conflict, not a
    // match by rounding.
    assert_eq!(
        s.save(&k, &next, rec.version).await.unwrap(),
        SaveOutcome::Conflict,
        "{}",
        h.name
    );
}
