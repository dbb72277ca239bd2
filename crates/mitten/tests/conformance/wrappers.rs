//! Store wrappers for the suite: one that counts calls (each call of these
//! stores is one round trip, except PostgreSQL's and SQLite's `rename`,
//! one transaction), and one that forces a key collision.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use mitten::session::store::{RenameOutcome, SaveOutcome, StoreKey};
use mitten::{Record, SessionStore, StoreError};

/// Calls per operation, in the order load, create, save, rename, touch,
/// delete.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Calls {
    pub load: usize,
    pub create: usize,
    pub save: usize,
    pub rename: usize,
    pub touch: usize,
    pub delete: usize,
}

impl Calls {
    pub fn total(&self) -> usize {
        self.load + self.create + self.save + self.rename + self.touch + self.delete
    }
}

impl std::fmt::Display for Calls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut parts = Vec::new();
        for (n, name) in [
            (self.load, "load"),
            (self.create, "create"),
            (self.save, "save"),
            (self.rename, "rename"),
            (self.touch, "touch"),
            (self.delete, "delete"),
        ] {
            if n > 0 {
                parts.push(format!("{n} {name}"));
            }
        }
        if parts.is_empty() {
            f.write_str("none")
        } else {
            f.write_str(&parts.join(" + "))
        }
    }
}

/// Counts every call, then forwards it.
pub struct Counting {
    inner: Arc<dyn SessionStore>,
    counters: [AtomicUsize; 6],
}

impl Counting {
    pub fn new(inner: Arc<dyn SessionStore>) -> Arc<Self> {
        Arc::new(Self {
            inner,
            counters: Default::default(),
        })
    }

    pub fn calls(&self) -> Calls {
        let c = |i: usize| self.counters[i].load(Ordering::SeqCst);
        Calls {
            load: c(0),
            create: c(1),
            save: c(2),
            rename: c(3),
            touch: c(4),
            delete: c(5),
        }
    }

    /// The calls made while `f` ran.
    pub async fn during<F: std::future::Future>(&self, f: F) -> (F::Output, Calls) {
        let before = self.calls();
        let out = f.await;
        let after = self.calls();
        let d = |a: usize, b: usize| a - b;
        (
            out,
            Calls {
                load: d(after.load, before.load),
                create: d(after.create, before.create),
                save: d(after.save, before.save),
                rename: d(after.rename, before.rename),
                touch: d(after.touch, before.touch),
                delete: d(after.delete, before.delete),
            },
        )
    }

    fn bump(&self, i: usize) {
        self.counters[i].fetch_add(1, Ordering::SeqCst);
    }
}

#[async_trait]
impl SessionStore for Counting {
    async fn load(&self, key: &StoreKey) -> Result<Option<Record>, StoreError> {
        self.bump(0);
        self.inner.load(key).await
    }
    async fn create(&self, key: &StoreKey, record: &Record) -> Result<bool, StoreError> {
        self.bump(1);
        self.inner.create(key, record).await
    }
    async fn save(
        &self,
        key: &StoreKey,
        record: &Record,
        expected_version: u64,
    ) -> Result<SaveOutcome, StoreError> {
        self.bump(2);
        self.inner.save(key, record, expected_version).await
    }
    async fn rename(
        &self,
        from: &StoreKey,
        to: &StoreKey,
        record: &Record,
        expected_version: u64,
    ) -> Result<RenameOutcome, StoreError> {
        self.bump(3);
        self.inner.rename(from, to, record, expected_version).await
    }
    async fn touch(&self, key: &StoreKey, expires_at_ms: u64) -> Result<(), StoreError> {
        self.bump(4);
        self.inner.touch(key, expires_at_ms).await
    }
    async fn delete(&self, key: &StoreKey) -> Result<(), StoreError> {
        self.bump(5);
        self.inner.delete(key).await
    }
}

/// Makes the next `create` (or the next `rename`'s target) land on a chosen
/// victim key, as if the random id had collided with a live session.
pub struct Colliding {
    inner: Arc<dyn SessionStore>,
    victim: Mutex<Option<StoreKey>>,
    collide_create: AtomicBool,
    collide_rename: AtomicBool,
    /// What the real store answered to the forced collision.
    pub forced_answers: Mutex<Vec<String>>,
}

impl Colliding {
    pub fn new(inner: Arc<dyn SessionStore>) -> Arc<Self> {
        Arc::new(Self {
            inner,
            victim: Mutex::new(None),
            collide_create: AtomicBool::new(false),
            collide_rename: AtomicBool::new(false),
            forced_answers: Mutex::new(Vec::new()),
        })
    }

    /// The next `create` goes to `victim`'s key.
    pub fn collide_next_create(&self, victim: StoreKey) {
        *self.victim.lock().unwrap() = Some(victim);
        self.collide_create.store(true, Ordering::SeqCst);
    }

    /// The next `rename` moves onto `victim`'s key.
    pub fn collide_next_rename(&self, victim: StoreKey) {
        *self.victim.lock().unwrap() = Some(victim);
        self.collide_rename.store(true, Ordering::SeqCst);
    }

    fn victim(&self) -> StoreKey {
        self.victim.lock().unwrap().clone().expect("victim set")
    }
}

#[async_trait]
impl SessionStore for Colliding {
    async fn load(&self, key: &StoreKey) -> Result<Option<Record>, StoreError> {
        self.inner.load(key).await
    }
    async fn create(&self, key: &StoreKey, record: &Record) -> Result<bool, StoreError> {
        if self.collide_create.swap(false, Ordering::SeqCst) {
            let r = self.inner.create(&self.victim(), record).await;
            self.forced_answers
                .lock()
                .unwrap()
                .push(format!("create: {r:?}"));
            return r;
        }
        self.inner.create(key, record).await
    }
    async fn save(
        &self,
        key: &StoreKey,
        record: &Record,
        expected_version: u64,
    ) -> Result<SaveOutcome, StoreError> {
        self.inner.save(key, record, expected_version).await
    }
    async fn rename(
        &self,
        from: &StoreKey,
        to: &StoreKey,
        record: &Record,
        expected_version: u64,
    ) -> Result<RenameOutcome, StoreError> {
        if self.collide_rename.swap(false, Ordering::SeqCst) {
            let r = self
                .inner
                .rename(from, &self.victim(), record, expected_version)
                .await;
            self.forced_answers
                .lock()
                .unwrap()
                .push(format!("rename: {r:?}"));
            return r;
        }
        self.inner.rename(from, to, record, expected_version).await
    }
    async fn touch(&self, key: &StoreKey, expires_at_ms: u64) -> Result<(), StoreError> {
        self.inner.touch(key, expires_at_ms).await
    }
    async fn delete(&self, key: &StoreKey) -> Result<(), StoreError> {
        self.inner.delete(key).await
    }
}

/// Plays another app instance: just before the next `save`, it writes the
/// same session itself (adding `other = "instance"`), so that save loses
/// its compare-and-set for real.
pub struct Meddling {
    inner: Arc<dyn SessionStore>,
    armed: AtomicBool,
    pub outcomes: Mutex<Vec<SaveOutcome>>,
}

impl Meddling {
    pub fn new(inner: Arc<dyn SessionStore>) -> Arc<Self> {
        Arc::new(Self {
            inner,
            armed: AtomicBool::new(false),
            outcomes: Mutex::new(Vec::new()),
        })
    }

    pub fn arm(&self) {
        self.armed.store(true, Ordering::SeqCst);
    }
}

#[async_trait]
impl SessionStore for Meddling {
    async fn load(&self, key: &StoreKey) -> Result<Option<Record>, StoreError> {
        self.inner.load(key).await
    }
    async fn create(&self, key: &StoreKey, record: &Record) -> Result<bool, StoreError> {
        self.inner.create(key, record).await
    }
    async fn save(
        &self,
        key: &StoreKey,
        record: &Record,
        expected_version: u64,
    ) -> Result<SaveOutcome, StoreError> {
        if self.armed.swap(false, Ordering::SeqCst) {
            let mut theirs = self.inner.load(key).await?.expect("session exists");
            theirs
                .data
                .insert("other".into(), serde_json::json!("instance"));
            let expected = theirs.version;
            theirs.version += 1;
            let o = self.inner.save(key, &theirs, expected).await?;
            assert_eq!(o, SaveOutcome::Saved, "the meddling write");
        }
        let o = self.inner.save(key, record, expected_version).await?;
        self.outcomes.lock().unwrap().push(o);
        Ok(o)
    }
    async fn rename(
        &self,
        from: &StoreKey,
        to: &StoreKey,
        record: &Record,
        expected_version: u64,
    ) -> Result<RenameOutcome, StoreError> {
        self.inner.rename(from, to, record, expected_version).await
    }
    async fn touch(&self, key: &StoreKey, expires_at_ms: u64) -> Result<(), StoreError> {
        self.inner.touch(key, expires_at_ms).await
    }
    async fn delete(&self, key: &StoreKey) -> Result<(), StoreError> {
        self.inner.delete(key).await
    }
}

/// Prints every store error with its cause chain (the 503 a test sees says
/// only "store unavailable"), then passes it on.
pub struct Logged(pub Arc<dyn SessionStore>);

fn logged<T>(op: &str, r: Result<T, StoreError>) -> Result<T, StoreError> {
    if let Err(e) = &r {
        let mut chain = format!("{e}");
        let mut src = std::error::Error::source(e);
        while let Some(s) = src {
            chain.push_str(&format!(": {s}"));
            src = s.source();
        }
        eprintln!("[store error] {op}: {chain}");
    }
    r
}

#[async_trait]
impl SessionStore for Logged {
    async fn load(&self, key: &StoreKey) -> Result<Option<Record>, StoreError> {
        logged("load", self.0.load(key).await)
    }
    async fn create(&self, key: &StoreKey, record: &Record) -> Result<bool, StoreError> {
        logged("create", self.0.create(key, record).await)
    }
    async fn save(
        &self,
        key: &StoreKey,
        record: &Record,
        expected_version: u64,
    ) -> Result<SaveOutcome, StoreError> {
        logged("save", self.0.save(key, record, expected_version).await)
    }
    async fn rename(
        &self,
        from: &StoreKey,
        to: &StoreKey,
        record: &Record,
        expected_version: u64,
    ) -> Result<RenameOutcome, StoreError> {
        logged(
            "rename",
            self.0.rename(from, to, record, expected_version).await,
        )
    }
    async fn touch(&self, key: &StoreKey, expires_at_ms: u64) -> Result<(), StoreError> {
        logged("touch", self.0.touch(key, expires_at_ms).await)
    }
    async fn delete(&self, key: &StoreKey) -> Result<(), StoreError> {
        logged("delete", self.0.delete(key).await)
    }
    async fn delete_expired(&self) -> Result<u64, StoreError> {
        logged("delete_expired", self.0.delete_expired().await)
    }
}
