//! The store contract. Every operation that creates or changes a record is
//! conditional (insert-if-absent, compare-and-set on a version), because that
//! is what makes concurrent requests, `regenerate()` and `destroy()` safe
//! across several app instances: a late writer can never resurrect a session
//! or overwrite a newer one.

use std::time::{SystemTime, UNIX_EPOCH};

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

pub use super::id::StoreKey;

/// The session data: a JSON object, one entry per key.
pub type SessionData = Map<String, Value>;

/// One stored session.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Record {
    /// The application data.
    pub data: SessionData,
    /// Bumped by every successful write; the compare-and-set token.
    pub version: u64,
    /// When the session was first created (unix milliseconds); the absolute
    /// timeout counts from here.
    pub created_at_ms: u64,
    /// When the session expires (unix milliseconds): the earlier of the idle
    /// and the absolute deadline. A store never returns a record past it.
    pub expires_at_ms: u64,
}

impl Record {
    /// True when the record is past its expiry at `now_ms`.
    pub fn is_expired(&self, now_ms: u64) -> bool {
        now_ms >= self.expires_at_ms
    }
}

/// The current time in unix milliseconds.
pub fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// Result of a conditional save.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SaveOutcome {
    /// Written; the stored version is now `record.version`.
    Saved,
    /// The stored version is not the expected one: reload and retry.
    Conflict,
    /// No live record under that key (destroyed, regenerated or expired).
    Missing,
}

/// Result of an atomic move from one key to another.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RenameOutcome {
    /// The old key is gone and the new key holds the record.
    Renamed,
    /// The old record's version is not the expected one; nothing changed.
    Conflict,
    /// No live record under the old key; nothing changed.
    Missing,
    /// The new key is taken; nothing changed.
    Collision,
}

/// A store failure. Mitten answers 503 for it and never treats it as an
/// empty session.
#[derive(Debug, thiserror::Error)]
#[error("session store error: {message}")]
pub struct StoreError {
    message: String,
    #[source]
    source: Option<Box<dyn std::error::Error + Send + Sync>>,
}

impl StoreError {
    /// A store error with a message (never include session data or keys).
    pub fn new(message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
            source: None,
        }
    }

    /// A store error wrapping the backend's error.
    pub fn with_source(
        message: impl Into<String>,
        source: impl std::error::Error + Send + Sync + 'static,
    ) -> Self {
        Self {
            message: message.into(),
            source: Some(Box::new(source)),
        }
    }
}

/// Where sessions live. Implementations must be safe to share between many
/// app instances: every write is conditional, and expired records are never
/// returned, even before any cleanup ran.
#[async_trait]
pub trait SessionStore: Send + Sync + 'static {
    /// The live record under `key`, or `None` when absent or expired.
    async fn load(&self, key: &StoreKey) -> Result<Option<Record>, StoreError>;

    /// Inserts `record` only if `key` is free (never an upsert). Returns
    /// `false` when the key is taken by a live record.
    async fn create(&self, key: &StoreKey, record: &Record) -> Result<bool, StoreError>;

    /// Replaces the record under `key` only if its stored version equals
    /// `expected_version`. `record.version` is the new version.
    async fn save(
        &self,
        key: &StoreKey,
        record: &Record,
        expected_version: u64,
    ) -> Result<SaveOutcome, StoreError>;

    /// Atomically deletes `from` (if its version is `expected_version`) and
    /// creates `to` with `record` (if `to` is free). Either both happen or
    /// neither does.
    async fn rename(
        &self,
        from: &StoreKey,
        to: &StoreKey,
        record: &Record,
        expected_version: u64,
    ) -> Result<RenameOutcome, StoreError>;

    /// Moves the expiry of a live record without changing its data or
    /// version (idle-timeout refresh). A missing record is not an error.
    async fn touch(&self, key: &StoreKey, expires_at_ms: u64) -> Result<(), StoreError>;

    /// Deletes the record; deleting a missing record is not an error.
    async fn delete(&self, key: &StoreKey) -> Result<(), StoreError>;

    /// Removes expired records and returns how many went. Stores whose
    /// backend expires records by itself (Redis) keep the default, which
    /// does nothing. Never needed for correctness (expired records are
    /// never returned), only to reclaim space; see
    /// `mitten::stores::spawn_cleanup`.
    async fn delete_expired(&self) -> Result<u64, StoreError> {
        Ok(0)
    }
}
