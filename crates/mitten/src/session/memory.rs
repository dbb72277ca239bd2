//! The embedded store: a bounded in-process map. Good for development, tests
//! and single-instance apps; use Redis or a SQL store for several instances.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;

use super::store::{
    now_ms, Record, RenameOutcome, SaveOutcome, SessionStore, StoreError, StoreKey,
};

const DEFAULT_MAX_SESSIONS: usize = 100_000;
/// Expired records are swept out at least every this many creations.
const SWEEP_EVERY: u64 = 1024;
/// Entries whose expiries estimate the eviction cutoff when the store is full.
const SAMPLE: usize = 1024;

/// An in-memory [`SessionStore`], bounded in size.
///
/// Expired sessions are never returned and are swept out periodically. When
/// the store is full it first drops expired sessions, then evicts the
/// sessions closest to expiry (with a `warn` event), so an attacker who
/// creates sessions in a loop cannot grow memory without bound.
///
/// ```
/// let store = mitten::MemoryStore::new().max_sessions(10_000);
/// ```
#[derive(Debug)]
pub struct MemoryStore {
    max_sessions: usize,
    inner: Mutex<Inner>,
}

/// A record as held in memory: the data as its JSON text. A parsed
/// `serde_json::Map` costs a B-tree node (over 600 bytes) per session even
/// for one entry; the text of a small session is a few dozen bytes, and
/// parsing it on load costs about what cloning the parsed map did.
#[derive(Clone, Debug)]
struct Stored {
    /// Shared, so a load copies it out of the lock without allocating and
    /// parses it after the lock is released.
    data: Arc<str>,
    version: u64,
    created_at_ms: u64,
    expires_at_ms: u64,
}

impl Stored {
    fn of(record: &Record) -> Result<Self, StoreError> {
        let data = serde_json::to_string(&record.data)
            .map_err(|e| StoreError::with_source("memory store: cannot encode a session", e))?;
        Ok(Self {
            data: Arc::from(data),
            version: record.version,
            created_at_ms: record.created_at_ms,
            expires_at_ms: record.expires_at_ms,
        })
    }

    fn record(&self) -> Result<Record, StoreError> {
        let data = serde_json::from_str(&self.data)
            .map_err(|e| StoreError::with_source("memory store: cannot decode a session", e))?;
        Ok(Record {
            data,
            version: self.version,
            created_at_ms: self.created_at_ms,
            expires_at_ms: self.expires_at_ms,
        })
    }

    fn is_expired(&self, now_ms: u64) -> bool {
        now_ms >= self.expires_at_ms
    }
}

#[derive(Debug, Default)]
struct Inner {
    map: HashMap<StoreKey, Stored>,
    creations: u64,
    last_sweep: u64,
}

impl Default for MemoryStore {
    fn default() -> Self {
        Self::new()
    }
}

impl MemoryStore {
    /// An empty store holding at most 100,000 sessions.
    pub fn new() -> Self {
        Self {
            max_sessions: DEFAULT_MAX_SESSIONS,
            inner: Mutex::new(Inner::default()),
        }
    }

    /// Sets the most sessions kept at once (at least 1).
    pub fn max_sessions(mut self, max: usize) -> Self {
        self.max_sessions = max.max(1);
        self
    }

    /// Live sessions currently held (expired ones not yet swept excluded).
    pub fn len(&self) -> usize {
        let now = now_ms();
        self.lock()
            .map
            .values()
            .filter(|r| !r.is_expired(now))
            .count()
    }

    /// True when no live session is held.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The store keys of all live sessions (for tests and diagnostics).
    pub fn keys(&self) -> Vec<StoreKey> {
        let now = now_ms();
        self.lock()
            .map
            .iter()
            .filter(|(_, r)| !r.is_expired(now))
            .map(|(k, _)| k.clone())
            .collect()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        // A panic while holding this lock cannot leave the map half-updated
        // (every mutation is a single insert/remove), so poisoning is ignored.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl Inner {
    fn live(&mut self, key: &StoreKey, now: u64) -> Option<&mut Stored> {
        if self.map.get(key).is_some_and(|r| r.is_expired(now)) {
            self.map.remove(key);
        }
        self.map.get_mut(key)
    }

    fn make_room(&mut self, max: usize, now: u64) {
        self.creations += 1;
        let full = self.map.len() >= max;
        // The periodic sweep runs every SWEEP_EVERY creations or every half
        // the store's size, whichever is more: its full scan then costs at
        // most a couple of entries per creation, however big the store.
        if !full && self.creations < self.last_sweep + SWEEP_EVERY.max(self.map.len() as u64 / 2) {
            return;
        }
        self.last_sweep = self.creations;
        if !full {
            self.map.retain(|_, r| !r.is_expired(now));
            return;
        }
        // Full. One pass drops every expired session and, with them, up to
        // about 1% (at least one) of the capacity taken from the sessions
        // nearest expiry. "Nearest" is judged against the 1% quantile of a
        // sample: store keys are keyed hashes, so the map's order has
        // nothing to do with expiry and its first entries are a fair sample.
        // A flood of new sessions thus costs one allocation-free scan per
        // hundredth of the capacity, not a scan (or a sort) per insert. When
        // 1% or more have expired, the cutoff lies in the past and no live
        // session goes.
        let len = self.map.len();
        let evict = (max / 100).max(1).min(len);
        let mut sample: Vec<u64> = self
            .map
            .values()
            .take(SAMPLE)
            .map(|r| r.expires_at_ms)
            .collect();
        let at = (sample.len() * evict / len).min(sample.len() - 1);
        let cutoff = *sample.select_nth_unstable(at).1;
        // Expired sessions all go and count towards the 1%; live ones at or
        // before the cutoff fill the rest, so sessions sharing one expiry
        // instant (a burst within one millisecond) cannot empty the store.
        let mut budget = evict;
        self.map.retain(|_, r| {
            if r.is_expired(now) {
                budget = budget.saturating_sub(1);
                false
            } else if r.expires_at_ms <= cutoff && budget > 0 {
                budget -= 1;
                false
            } else {
                true
            }
        });
        let evicted = len - self.map.len();
        tracing::warn!(
            target: "mitten::session",
            evicted,
            max_sessions = max,
            "memory session store full: evicted the sessions nearest expiry"
        );
    }
}

#[async_trait]
impl SessionStore for MemoryStore {
    async fn load(&self, key: &StoreKey) -> Result<Option<Record>, StoreError> {
        let stored = self.lock().live(key, now_ms()).cloned();
        stored.as_ref().map(Stored::record).transpose()
    }

    async fn create(&self, key: &StoreKey, record: &Record) -> Result<bool, StoreError> {
        let stored = Stored::of(record)?;
        let now = now_ms();
        let mut inner = self.lock();
        if inner.live(key, now).is_some() {
            return Ok(false);
        }
        inner.make_room(self.max_sessions, now);
        inner.map.insert(key.clone(), stored);
        Ok(true)
    }

    async fn save(
        &self,
        key: &StoreKey,
        record: &Record,
        expected_version: u64,
    ) -> Result<SaveOutcome, StoreError> {
        let stored = Stored::of(record)?;
        let mut inner = self.lock();
        match inner.live(key, now_ms()) {
            None => Ok(SaveOutcome::Missing),
            Some(r) if r.version != expected_version => Ok(SaveOutcome::Conflict),
            Some(r) => {
                *r = stored;
                Ok(SaveOutcome::Saved)
            }
        }
    }

    async fn rename(
        &self,
        from: &StoreKey,
        to: &StoreKey,
        record: &Record,
        expected_version: u64,
    ) -> Result<RenameOutcome, StoreError> {
        let stored = Stored::of(record)?;
        let now = now_ms();
        let mut inner = self.lock();
        match inner.live(from, now) {
            None => return Ok(RenameOutcome::Missing),
            Some(r) if r.version != expected_version => return Ok(RenameOutcome::Conflict),
            Some(_) => {}
        }
        if inner.live(to, now).is_some() {
            return Ok(RenameOutcome::Collision);
        }
        inner.map.remove(from);
        inner.map.insert(to.clone(), stored);
        Ok(RenameOutcome::Renamed)
    }

    async fn touch(&self, key: &StoreKey, expires_at_ms: u64) -> Result<(), StoreError> {
        if let Some(r) = self.lock().live(key, now_ms()) {
            r.expires_at_ms = expires_at_ms;
        }
        Ok(())
    }

    async fn delete(&self, key: &StoreKey) -> Result<(), StoreError> {
        self.lock().map.remove(key);
        Ok(())
    }

    async fn delete_expired(&self) -> Result<u64, StoreError> {
        let now = now_ms();
        let mut inner = self.lock();
        let before = inner.map.len();
        inner.map.retain(|_, r| !r.is_expired(now));
        Ok((before - inner.map.len()) as u64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(expires_at_ms: u64) -> Record {
        Record {
            data: Default::default(),
            version: 1,
            created_at_ms: now_ms(),
            expires_at_ms,
        }
    }

    fn key(i: usize) -> StoreKey {
        StoreKey::from_string(format!("{i:064x}"))
    }

    #[tokio::test]
    async fn a_flood_of_sessions_never_grows_past_the_bound() {
        let store = MemoryStore::new().max_sessions(100);
        let far = now_ms() + 3_600_000;
        for i in 0..1_000 {
            assert!(store
                .create(&key(i), &record(far + i as u64))
                .await
                .unwrap());
            assert!(store.lock().map.len() <= 100);
        }
        // The newest sessions (latest expiry) survived the evictions.
        assert!(store.load(&key(999)).await.unwrap().is_some());
        assert!(store.load(&key(0)).await.unwrap().is_none());
    }

    #[tokio::test]
    async fn a_burst_sharing_one_expiry_instant_evicts_one_percent_not_everything() {
        let store = MemoryStore::new().max_sessions(1_000);
        let same = now_ms() + 3_600_000;
        for i in 0..1_000 {
            assert!(store.create(&key(i), &record(same)).await.unwrap());
        }
        assert!(store.create(&key(1_000), &record(same)).await.unwrap());
        // 10 evicted (1% of 1,000), then the new one went in.
        assert_eq!(store.lock().map.len(), 991);
        assert!(store.load(&key(1_000)).await.unwrap().is_some());
    }

    #[tokio::test]
    async fn expired_sessions_are_never_returned_and_are_swept_before_evicting_live_ones() {
        let store = MemoryStore::new().max_sessions(10);
        let now = now_ms();
        for i in 0..5 {
            store
                .create(&key(i), &record(now + 3_600_000))
                .await
                .unwrap();
        }
        for i in 5..10 {
            store
                .create(&key(i), &record(now.saturating_sub(1)))
                .await
                .unwrap();
        }
        assert!(store.load(&key(7)).await.unwrap().is_none());
        assert_eq!(store.len(), 5);
        // Full: the expired ones make room, no live session is evicted.
        for i in 10..15 {
            store
                .create(&key(i), &record(now + 3_600_000))
                .await
                .unwrap();
        }
        for i in (0..5).chain(10..15) {
            assert!(store.load(&key(i)).await.unwrap().is_some(), "{i}");
        }
    }

    #[tokio::test]
    async fn data_comes_back_exactly_as_stored() {
        let store = MemoryStore::new();
        let mut r = record(now_ms() + 60_000);
        let floats = [0.1 + 0.2, 1e-310, f64::MAX, f64::MIN_POSITIVE, 1.0 / 3.0];
        r.data.insert("floats".into(), serde_json::json!(floats));
        r.data.insert("big".into(), serde_json::json!(u64::MAX));
        r.data
            .insert("text".into(), serde_json::json!("é \u{0} \"quoted\""));
        assert!(store.create(&key(1), &r).await.unwrap());
        assert_eq!(store.load(&key(1)).await.unwrap(), Some(r));
    }

    #[tokio::test]
    async fn create_is_insert_if_absent_and_save_is_compare_and_set() {
        let store = MemoryStore::new();
        let far = now_ms() + 60_000;
        assert!(store.create(&key(1), &record(far)).await.unwrap());
        assert!(!store.create(&key(1), &record(far)).await.unwrap());
        let mut next = record(far);
        next.version = 2;
        assert_eq!(
            store.save(&key(1), &next, 7).await.unwrap(),
            SaveOutcome::Conflict
        );
        assert_eq!(
            store.save(&key(1), &next, 1).await.unwrap(),
            SaveOutcome::Saved
        );
        assert_eq!(
            store.save(&key(2), &next, 1).await.unwrap(),
            SaveOutcome::Missing
        );
        assert_eq!(
            store.rename(&key(1), &key(3), &next, 1).await.unwrap(),
            RenameOutcome::Conflict
        );
        assert_eq!(
            store.rename(&key(1), &key(3), &next, 2).await.unwrap(),
            RenameOutcome::Renamed
        );
        assert!(store.load(&key(1)).await.unwrap().is_none());
    }
}
