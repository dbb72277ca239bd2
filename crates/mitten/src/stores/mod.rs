//! Production session stores, each behind a cargo feature of `mitten`.
//!
//! | store | feature | shared by instances | expiry |
//! |---|---|---|---|
//! | [`MemoryStore`](crate::MemoryStore) | always | no | swept in process |
//! | `RedisStore` | `redis` | yes | Redis `PEXPIREAT` |
//! | `PostgresStore` | `postgres` | yes | filtered on read, `spawn_cleanup` deletes |
//! | `SqliteStore` | `sqlite` | one host | filtered on read, `spawn_cleanup` deletes |
//!
//! All of them honour the [`SessionStore`] contract: creation is
//! insert-if-absent, saves are compare-and-set on the record version,
//! `rename` (used by `Session::regenerate`) is atomic, and an expired record
//! is never returned, even before any cleanup ran. Error messages never
//! contain session data, store keys or connection URLs.
//!
//! ## Redis
//!
//! ```no_run
//! # #[cfg(feature = "redis")]
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let store = mitten::stores::RedisStore::connect("redis://127.0.0.1:6379").await?;
//! let mitten = mitten::Mitten::builder()
//!     .secret_key(std::env::var("SECRET_KEY")?)
//!     .store(store)
//!     .build()?;
//! # Ok(()) }
//! ```
//!
//! ## PostgreSQL
//!
//! ```no_run
//! # #[cfg(feature = "postgres")]
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! use std::time::Duration;
//! let store = mitten::stores::PostgresStore::connect("postgres://app@db/app")
//!     .await?
//!     .with_table("sessions")?;
//! store.migrate().await?; // optional: the table is also created on first use
//! let _cleanup = store.spawn_cleanup(Duration::from_secs(300));
//! let mitten = mitten::Mitten::builder()
//!     .secret_key(std::env::var("SECRET_KEY")?)
//!     .store(store)
//!     .build()?;
//! # Ok(()) }
//! ```
//!
//! ## SQLite
//!
//! ```no_run
//! # #[cfg(feature = "sqlite")]
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! use std::time::Duration;
//! let store = mitten::stores::SqliteStore::connect("sqlite://sessions.db").await?;
//! let _cleanup = store.spawn_cleanup(Duration::from_secs(300));
//! let mitten = mitten::Mitten::builder()
//!     .secret_key(std::env::var("SECRET_KEY")?)
//!     .store(store)
//!     .build()?;
//! # Ok(()) }
//! ```
//!
//! ## Picking a store from configuration
//!
//! ```no_run
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let url = std::env::var("SESSION_STORE").unwrap_or_else(|_| "memory".into());
//! let store = mitten::stores::connect(&url).await?;
//! let mitten = mitten::Mitten::builder()
//!     .secret_key(std::env::var("SECRET_KEY")?)
//!     .shared_store(store)
//!     .build()?;
//! # Ok(()) }
//! ```

use std::sync::Arc;

use crate::session::store::{Record, SessionData, SessionStore, StoreError};

#[cfg(any(feature = "postgres", feature = "redis"))]
mod breaker;
#[cfg(feature = "postgres")]
mod postgres;
#[cfg(feature = "redis")]
mod redis;
#[cfg(any(feature = "postgres", feature = "sqlite"))]
mod sql;
#[cfg(feature = "sqlite")]
mod sqlite;

#[cfg(feature = "postgres")]
pub use self::postgres::PostgresStore;
#[cfg(feature = "redis")]
pub use self::redis::RedisStore;
#[cfg(any(feature = "postgres", feature = "sqlite"))]
pub use self::sql::DEFAULT_TABLE;
#[cfg(feature = "sqlite")]
pub use self::sqlite::SqliteStore;

/// How long the Redis and PostgreSQL stores fail calls at once after they
/// found the server unreachable (then one call probes it), unless
/// `with_outage_cooldown` says otherwise.
#[cfg(any(feature = "postgres", feature = "redis"))]
pub const DEFAULT_OUTAGE_COOLDOWN: std::time::Duration = std::time::Duration::from_millis(500);

/// Opens the store named by `url`, choosing the backend by scheme:
///
/// - `memory` or `memory://`: a fresh [`MemoryStore`](crate::MemoryStore);
/// - `redis://…`, `rediss://…`: [`RedisStore`] (feature `redis`; `rediss`
///   also needs TLS support compiled into the `redis` crate);
/// - `postgres://…`, `postgresql://…`: [`PostgresStore`] (feature
///   `postgres`);
/// - `sqlite://PATH`, `sqlite:PATH`, `sqlite::memory:`: [`SqliteStore`]
///   (feature `sqlite`).
///
/// A scheme whose feature is not enabled is an error that names the
/// feature. The URL itself never appears in an error (it may hold a
/// password).
pub async fn connect(url: &str) -> Result<Arc<dyn SessionStore>, StoreError> {
    let scheme = url.split(':').next().unwrap_or("").to_ascii_lowercase();
    match scheme.as_str() {
        "memory" if url == "memory" || url == "memory:" || url == "memory://" => {
            Ok(Arc::new(crate::MemoryStore::new()))
        }
        "redis" | "rediss" => connect_redis(url).await,
        "postgres" | "postgresql" => connect_postgres(url).await,
        "sqlite" => connect_sqlite(url).await,
        _ => Err(StoreError::new(format!(
            "unknown session store url scheme {:?} (expected memory, redis, rediss, postgres, postgresql or sqlite)",
            scheme.chars().take(16).collect::<String>()
        ))),
    }
}

#[cfg(feature = "redis")]
async fn connect_redis(url: &str) -> Result<Arc<dyn SessionStore>, StoreError> {
    Ok(Arc::new(RedisStore::connect(url).await?))
}

#[cfg(not(feature = "redis"))]
async fn connect_redis(_: &str) -> Result<Arc<dyn SessionStore>, StoreError> {
    Err(not_enabled("redis"))
}

#[cfg(feature = "postgres")]
async fn connect_postgres(url: &str) -> Result<Arc<dyn SessionStore>, StoreError> {
    Ok(Arc::new(PostgresStore::connect(url).await?))
}

#[cfg(not(feature = "postgres"))]
async fn connect_postgres(_: &str) -> Result<Arc<dyn SessionStore>, StoreError> {
    Err(not_enabled("postgres"))
}

#[cfg(feature = "sqlite")]
async fn connect_sqlite(url: &str) -> Result<Arc<dyn SessionStore>, StoreError> {
    Ok(Arc::new(SqliteStore::connect(url).await?))
}

#[cfg(not(feature = "sqlite"))]
async fn connect_sqlite(_: &str) -> Result<Arc<dyn SessionStore>, StoreError> {
    Err(not_enabled("sqlite"))
}

#[allow(dead_code)] // unused when every store feature is on
fn not_enabled(feature: &str) -> StoreError {
    StoreError::new(format!(
        "the {feature} session store is not compiled in: enable the `{feature}` feature of mitten"
    ))
}

/// The record's data as the JSON text the stores keep.
#[allow(dead_code)] // unused with only some features
pub(crate) fn encode_data(record: &Record) -> Result<String, StoreError> {
    serde_json::to_string(&record.data)
        .map_err(|_| StoreError::new("session data could not be serialized"))
}

/// Stored JSON text back into data. The serde error is dropped on purpose:
/// its message can quote the stored value.
#[allow(dead_code)]
pub(crate) fn decode_data(text: &str) -> Result<SessionData, StoreError> {
    serde_json::from_str(text).map_err(|_| StoreError::new("malformed session data in store"))
}

#[cfg(test)]
mod tests {
    #[tokio::test]
    async fn connect_picks_by_scheme() {
        assert!(super::connect("memory").await.is_ok());
        let err = super::connect("ftp://user:hunter2@host/x")
            .await
            .err()
            .unwrap()
            .to_string();
        assert!(err.contains("ftp") && !err.contains("hunter2"), "{err}");
        #[cfg(not(feature = "redis"))]
        assert!(super::connect("redis://x")
            .await
            .err()
            .unwrap()
            .to_string()
            .contains("`redis` feature"));
    }
}
