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
/// Two query parameters are Mitten's own and are removed before the URL
/// reaches the driver: `prefix=` (Redis key prefix, e.g.
/// `redis://127.0.0.1/?prefix=myapp:session:`) and `table=` (SQL table,
/// e.g. `postgres://app@db/app?table=app_sessions`). Giving one to a store
/// that has no such setting is an error. Other parameters (`sslmode=`,
/// `mode=`, …) go to the driver unchanged.
///
/// A scheme whose feature is not enabled is an error that names the
/// feature. The URL itself never appears in an error (it may hold a
/// password).
pub async fn connect(url: &str) -> Result<Arc<dyn SessionStore>, StoreError> {
    let (url, opts) = split_options(url)?;
    let url = url.as_str();
    let scheme = url.split(':').next().unwrap_or("").to_ascii_lowercase();
    let refuse = |name: &str, store: &str| {
        Err(StoreError::new(format!(
            "the `{name}` url parameter does not apply to the {store} store"
        )))
    };
    match scheme.as_str() {
        "memory" if url == "memory" || url == "memory:" || url == "memory://" => {
            if opts.prefix.is_some() {
                return refuse("prefix", "memory");
            }
            if opts.table.is_some() {
                return refuse("table", "memory");
            }
            Ok(Arc::new(crate::MemoryStore::new()))
        }
        "redis" | "rediss" => {
            if opts.table.is_some() {
                return refuse("table", "redis");
            }
            connect_redis(url, opts.prefix).await
        }
        "postgres" | "postgresql" => {
            if opts.prefix.is_some() {
                return refuse("prefix", "postgres");
            }
            connect_postgres(url, opts.table).await
        }
        "sqlite" => {
            if opts.prefix.is_some() {
                return refuse("prefix", "sqlite");
            }
            connect_sqlite(url, opts.table).await
        }
        _ => Err(StoreError::new(format!(
            "unknown session store url scheme {:?} (expected memory, redis, rediss, postgres, postgresql or sqlite)",
            scheme.chars().take(16).collect::<String>()
        ))),
    }
}

/// Mitten's own settings carried in a store URL.
#[derive(Debug, Default, PartialEq, Eq)]
struct UrlOptions {
    prefix: Option<String>,
    table: Option<String>,
}

/// Takes `prefix=` and `table=` out of the query string; every other
/// parameter is kept byte for byte.
fn split_options(url: &str) -> Result<(String, UrlOptions), StoreError> {
    let Some((base, query)) = url.split_once('?') else {
        return Ok((url.to_owned(), UrlOptions::default()));
    };
    let mut opts = UrlOptions::default();
    let mut kept = Vec::new();
    for segment in query.split('&').filter(|s| !s.is_empty()) {
        let (name, value) = form_urlencoded::parse(segment.as_bytes())
            .next()
            .unwrap_or_default();
        let slot = match &*name {
            "prefix" => &mut opts.prefix,
            "table" => &mut opts.table,
            _ => {
                kept.push(segment);
                continue;
            }
        };
        if slot.replace(value.into_owned()).is_some() {
            return Err(StoreError::new(format!(
                "the `{name}` url parameter is given twice"
            )));
        }
    }
    let mut out = base.to_owned();
    if !kept.is_empty() {
        out.push('?');
        out.push_str(&kept.join("&"));
    }
    Ok((out, opts))
}

/// Runs `store.delete_expired()` every `period` (first run after one
/// period) until the handle is aborted; failures are logged and retried
/// next period. For the SQL stores this is what removes expired rows (they
/// are never returned before that either); for Redis it does nothing
/// (Redis expires keys itself); for the memory store it sweeps. Needs a
/// Tokio runtime.
///
/// ```no_run
/// # async fn run() -> Result<(), mitten::StoreError> {
/// let store = mitten::stores::connect("sqlite://sessions.db").await?;
/// let _cleanup = mitten::stores::spawn_cleanup(store.clone(), std::time::Duration::from_secs(300));
/// # Ok(()) }
/// ```
pub fn spawn_cleanup(
    store: Arc<dyn SessionStore>,
    period: std::time::Duration,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval_at(tokio::time::Instant::now() + period, period);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            match store.delete_expired().await {
                Ok(n) => {
                    tracing::debug!(target: "mitten::session", removed = n, "expired sessions removed")
                }
                Err(e) => {
                    tracing::warn!(target: "mitten::session", error = %e, "session cleanup failed")
                }
            }
        }
    })
}

#[cfg(feature = "redis")]
async fn connect_redis(
    url: &str,
    prefix: Option<String>,
) -> Result<Arc<dyn SessionStore>, StoreError> {
    let store = RedisStore::connect(url).await?;
    Ok(Arc::new(match prefix {
        Some(p) => store.with_prefix(p),
        None => store,
    }))
}

#[cfg(not(feature = "redis"))]
async fn connect_redis(_: &str, _: Option<String>) -> Result<Arc<dyn SessionStore>, StoreError> {
    Err(not_enabled("redis"))
}

#[cfg(feature = "postgres")]
async fn connect_postgres(
    url: &str,
    table: Option<String>,
) -> Result<Arc<dyn SessionStore>, StoreError> {
    // Validate the table before dialling anything.
    if let Some(t) = &table {
        sql::validate_table(t)?;
    }
    let store = PostgresStore::connect(url).await?;
    Ok(Arc::new(match table {
        Some(t) => store.with_table(&t)?,
        None => store,
    }))
}

#[cfg(not(feature = "postgres"))]
async fn connect_postgres(_: &str, _: Option<String>) -> Result<Arc<dyn SessionStore>, StoreError> {
    Err(not_enabled("postgres"))
}

#[cfg(feature = "sqlite")]
async fn connect_sqlite(
    url: &str,
    table: Option<String>,
) -> Result<Arc<dyn SessionStore>, StoreError> {
    if let Some(t) = &table {
        sql::validate_table(t)?;
    }
    let store = SqliteStore::connect(url).await?;
    Ok(Arc::new(match table {
        Some(t) => store.with_table(&t)?,
        None => store,
    }))
}

#[cfg(not(feature = "sqlite"))]
async fn connect_sqlite(_: &str, _: Option<String>) -> Result<Arc<dyn SessionStore>, StoreError> {
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
    use super::{split_options, UrlOptions};

    #[test]
    fn mitten_options_leave_the_url_and_the_rest_stays() {
        let (url, o) = split_options("redis://h:1/2?prefix=app%3As%3A&protocol=resp3").unwrap();
        assert_eq!(url, "redis://h:1/2?protocol=resp3");
        assert_eq!(o.prefix.as_deref(), Some("app:s:"));
        let (url, o) = split_options("postgres://u:p%3F@h/db?sslmode=disable&table=t1").unwrap();
        assert_eq!(url, "postgres://u:p%3F@h/db?sslmode=disable");
        assert_eq!(o.table.as_deref(), Some("t1"));
        let (url, o) = split_options("sqlite::memory:").unwrap();
        assert_eq!(
            (url.as_str(), o),
            ("sqlite::memory:", UrlOptions::default())
        );
        let (url, _) = split_options("sqlite://x.db?table=s").unwrap();
        assert_eq!(url, "sqlite://x.db");
        assert!(split_options("redis://h?prefix=a&prefix=b").is_err());
    }

    #[tokio::test]
    async fn options_must_fit_the_store() {
        for url in [
            "memory?prefix=x",
            "sqlite::memory:?prefix=x",
            "redis://127.0.0.1:1?table=t",
            "postgres://127.0.0.1:1/x?prefix=p",
        ] {
            let err = super::connect(url).await.err().expect(url).to_string();
            assert!(err.contains("does not apply"), "{url}: {err}");
        }
        #[cfg(feature = "sqlite")]
        {
            let err = super::connect("sqlite::memory:?table=x;drop")
                .await
                .err()
                .unwrap()
                .to_string();
            assert!(err.contains("invalid session table name"), "{err}");
        }
    }

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
