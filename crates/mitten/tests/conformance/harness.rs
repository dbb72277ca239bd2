//! One isolated store per test, and a window into the backend behind it.
//!
//! Services: Redis at `127.0.0.1:6379` and PostgreSQL at
//! `postgres://postgres@127.0.0.1:5432/test` (override with
//! `MITTEN_TEST_REDIS_URL` / `MITTEN_TEST_POSTGRES_URL`). When one is not
//! reachable its tests print why and skip, unless `CI` is set: then they
//! fail.

use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::pin::Pin;
use std::sync::Arc;

use async_trait::async_trait;
use futures_util::FutureExt;
use mitten::{MemoryStore, SessionStore};

/// A store under test plus what the test needs to look inside it.
pub struct Harness {
    /// Which backend, for messages.
    pub name: &'static str,
    /// The store, as Mitten sees it.
    pub store: Arc<dyn SessionStore>,
    /// The backend's own view.
    pub inspect: Box<dyn Inspect>,
}

/// The backend's own view of the store, bypassing the store's filters.
#[async_trait]
pub trait Inspect: Send + Sync {
    /// Every key the backend holds for this store, expired or not (store
    /// keys, without any prefix).
    async fn raw_keys(&self) -> Vec<String>;
    /// Everything the backend holds for this store, as text.
    async fn dump(&self) -> String;
    /// Removes expired records the way the store's cleanup does; returns
    /// how many went (stores with native expiry return 0).
    async fn cleanup(&self) -> u64;
    /// Whether expired records stay in the backend until cleanup runs.
    fn keeps_expired_until_cleanup(&self) -> bool;
    /// Drops whatever this test created.
    async fn teardown(&self);
}

pub type SuiteFuture<'a> = Pin<Box<dyn Future<Output = ()> + Send + 'a>>;

/// Runs one suite function and tears the store down even when it panics,
/// so a failing test leaves no table or keys behind.
pub async fn run(h: Harness, f: impl for<'a> FnOnce(&'a Harness) -> SuiteFuture<'a>) {
    let outcome = AssertUnwindSafe(f(&h)).catch_unwind().await;
    h.inspect.teardown().await;
    if let Err(panic) = outcome {
        std::panic::resume_unwind(panic);
    }
}

/// A service the test needs is absent: skip with a message, or fail in CI.
pub fn unavailable(service: &str, test: &str, why: impl std::fmt::Display) -> Option<Harness> {
    if std::env::var_os("CI").is_some() {
        panic!("{test}: {service} is required when CI is set, but: {why}");
    }
    eprintln!("SKIPPED {test}: {service} not available ({why}); with CI set this fails");
    None
}

/// The store as the suite uses it: every error printed with its cause.
fn logged(store: Arc<dyn SessionStore>) -> Arc<dyn SessionStore> {
    Arc::new(super::wrappers::Logged(store))
}

/// 8 random bytes as 16 hex digits: unique names for prefixes, tables and files.
pub fn unique() -> String {
    let mut b = [0u8; 8];
    getrandom::fill(&mut b).expect("os rng");
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// For tests that look into the backend by other means.
pub struct NoInspect;

#[async_trait]
impl Inspect for NoInspect {
    async fn raw_keys(&self) -> Vec<String> {
        Vec::new()
    }
    async fn dump(&self) -> String {
        String::new()
    }
    async fn cleanup(&self) -> u64 {
        0
    }
    fn keeps_expired_until_cleanup(&self) -> bool {
        false
    }
    async fn teardown(&self) {}
}

// ---- memory ---------------------------------------------------------------

struct MemoryInspect(Arc<MemoryStore>);

#[async_trait]
impl Inspect for MemoryInspect {
    async fn raw_keys(&self) -> Vec<String> {
        self.0
            .keys()
            .iter()
            .map(|k| k.as_str().to_owned())
            .collect()
    }
    async fn dump(&self) -> String {
        let mut out = String::new();
        for k in self.0.keys() {
            let r = self.0.load(&k).await.unwrap();
            out.push_str(&format!("{} {:?}\n", k.as_str(), r));
        }
        out
    }
    async fn cleanup(&self) -> u64 {
        self.0.delete_expired().await.unwrap()
    }
    fn keeps_expired_until_cleanup(&self) -> bool {
        false
    }
    async fn teardown(&self) {}
}

pub async fn memory(_test: &'static str) -> Option<Harness> {
    let store = Arc::new(MemoryStore::new());
    Some(Harness {
        name: "memory",
        store: logged(store.clone()),
        inspect: Box::new(MemoryInspect(store)),
    })
}

// ---- redis ----------------------------------------------------------------

#[cfg(feature = "redis")]
pub fn redis_url() -> String {
    std::env::var("MITTEN_TEST_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into())
}

#[cfg(feature = "redis")]
pub struct RedisInspect {
    pub conn: redis::aio::MultiplexedConnection,
    pub prefix: String,
}

#[cfg(feature = "redis")]
impl RedisInspect {
    pub async fn full_keys(&self) -> Vec<String> {
        let mut conn = self.conn.clone();
        let mut cursor: u64 = 0;
        let mut keys = Vec::new();
        loop {
            let (next, batch): (u64, Vec<String>) = redis::cmd("SCAN")
                .arg(cursor)
                .arg("MATCH")
                .arg(format!("{}*", self.prefix))
                .arg("COUNT")
                .arg(1000)
                .query_async(&mut conn)
                .await
                .expect("redis SCAN");
            keys.extend(batch);
            if next == 0 {
                return keys;
            }
            cursor = next;
        }
    }
}

#[cfg(feature = "redis")]
#[async_trait]
impl Inspect for RedisInspect {
    async fn raw_keys(&self) -> Vec<String> {
        self.full_keys()
            .await
            .into_iter()
            .map(|k| k[self.prefix.len()..].to_owned())
            .collect()
    }
    async fn dump(&self) -> String {
        let mut conn = self.conn.clone();
        let mut out = String::new();
        for k in self.full_keys().await {
            let fields: Vec<(String, String)> = redis::cmd("HGETALL")
                .arg(&k)
                .query_async(&mut conn)
                .await
                .expect("redis HGETALL");
            out.push_str(&format!("{k} {fields:?}\n"));
        }
        out
    }
    async fn cleanup(&self) -> u64 {
        0
    }
    fn keeps_expired_until_cleanup(&self) -> bool {
        false
    }
    async fn teardown(&self) {
        let keys = self.full_keys().await;
        if !keys.is_empty() {
            let mut conn = self.conn.clone();
            let _: i64 = redis::cmd("DEL")
                .arg(keys)
                .query_async(&mut conn)
                .await
                .expect("redis DEL");
        }
    }
}

#[cfg(feature = "redis")]
pub async fn redis(test: &'static str) -> Option<Harness> {
    let url = redis_url();
    let store = match mitten::stores::RedisStore::connect(&url).await {
        Ok(s) => s,
        Err(e) => return unavailable("redis", test, e),
    };
    let prefix = format!("mitten-test:{test}:{}:", unique());
    let store = store.with_prefix(prefix.clone());
    let conn = redis::Client::open(url.as_str())
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .expect("second redis connection");
    Some(Harness {
        name: "redis",
        store: logged(Arc::new(store)),
        inspect: Box::new(RedisInspect { conn, prefix }),
    })
}

// ---- postgres -------------------------------------------------------------

#[cfg(feature = "postgres")]
pub fn postgres_url() -> String {
    std::env::var("MITTEN_TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into())
}

#[cfg(feature = "postgres")]
pub struct PgInspect(pub mitten::stores::PostgresStore);

#[cfg(feature = "postgres")]
#[async_trait]
impl Inspect for PgInspect {
    async fn raw_keys(&self) -> Vec<String> {
        let sql = format!("SELECT key FROM {}", self.0.table());
        let rows: Vec<(String,)> = match sqlx::query_as(sqlx::AssertSqlSafe(sql))
            .fetch_all(self.0.pool())
            .await
        {
            Ok(rows) => rows,
            // Not created yet: nothing stored.
            Err(sqlx::Error::Database(e)) if e.code().as_deref() == Some("42P01") => vec![],
            Err(e) => panic!("postgres inspect: {e}"),
        };
        rows.into_iter().map(|(k,)| k).collect()
    }
    async fn dump(&self) -> String {
        let sql = format!(
            "SELECT key, version, created_at_ms, expires_at_ms, data FROM {}",
            self.0.table()
        );
        let rows: Vec<(String, i64, i64, i64, String)> = sqlx::query_as(sqlx::AssertSqlSafe(sql))
            .fetch_all(self.0.pool())
            .await
            .unwrap_or_default();
        rows.iter().map(|r| format!("{r:?}\n")).collect()
    }
    async fn cleanup(&self) -> u64 {
        self.0.delete_expired().await.unwrap()
    }
    fn keeps_expired_until_cleanup(&self) -> bool {
        true
    }
    async fn teardown(&self) {
        let sql = format!("DROP TABLE IF EXISTS {}", self.0.table());
        sqlx::query(sqlx::AssertSqlSafe(sql))
            .execute(self.0.pool())
            .await
            .expect("drop test table");
        self.0.pool().close().await;
    }
}

#[cfg(feature = "postgres")]
pub async fn postgres(test: &'static str) -> Option<Harness> {
    let store = match mitten::stores::PostgresStore::connect(&postgres_url()).await {
        Ok(s) => s,
        Err(e) => return unavailable("postgres", test, e),
    };
    let store = store
        .with_table(&format!("mitten_test_{}", unique()))
        .unwrap();
    Some(Harness {
        name: "postgres",
        store: logged(Arc::new(store.clone())),
        inspect: Box::new(PgInspect(store)),
    })
}

// ---- sqlite ---------------------------------------------------------------

#[cfg(feature = "sqlite")]
struct SqliteInspect(mitten::stores::SqliteStore, Option<std::path::PathBuf>);

#[cfg(feature = "sqlite")]
#[async_trait]
impl Inspect for SqliteInspect {
    async fn raw_keys(&self) -> Vec<String> {
        let sql = format!("SELECT key FROM {}", self.0.table());
        let rows: Vec<(String,)> = match sqlx::query_as(sqlx::AssertSqlSafe(sql))
            .fetch_all(self.0.pool())
            .await
        {
            Ok(rows) => rows,
            Err(e) if e.to_string().contains("no such table") => vec![],
            Err(e) => panic!("sqlite inspect: {e}"),
        };
        rows.into_iter().map(|(k,)| k).collect()
    }
    async fn dump(&self) -> String {
        let sql = format!(
            "SELECT key, version, created_at_ms, expires_at_ms, data FROM {}",
            self.0.table()
        );
        let rows: Vec<(String, i64, i64, i64, String)> = sqlx::query_as(sqlx::AssertSqlSafe(sql))
            .fetch_all(self.0.pool())
            .await
            .unwrap_or_default();
        rows.iter().map(|r| format!("{r:?}\n")).collect()
    }
    async fn cleanup(&self) -> u64 {
        self.0.delete_expired().await.unwrap()
    }
    fn keeps_expired_until_cleanup(&self) -> bool {
        true
    }
    async fn teardown(&self) {
        self.0.pool().close().await;
        if let Some(path) = &self.1 {
            for suffix in ["", "-wal", "-shm"] {
                let mut p = path.clone().into_os_string();
                p.push(suffix);
                let _ = std::fs::remove_file(p);
            }
        }
    }
}

/// A SQLite file in the temp dir (WAL mode, a pool of several
/// connections: the configuration that can actually race).
#[cfg(feature = "sqlite")]
pub async fn sqlite(test: &'static str) -> Option<Harness> {
    let path = std::env::temp_dir().join(format!("mitten-test-{test}-{}.db", unique()));
    let store = mitten::stores::SqliteStore::connect(&format!("sqlite://{}", path.display()))
        .await
        .expect("sqlite opens a temp file");
    Some(Harness {
        name: "sqlite",
        store: logged(Arc::new(store.clone())),
        inspect: Box::new(SqliteInspect(store, Some(path))),
    })
}

/// `sqlite::memory:`: one connection held open.
#[cfg(feature = "sqlite")]
pub async fn sqlite_memory(_test: &'static str) -> Option<Harness> {
    let store = mitten::stores::SqliteStore::connect("sqlite::memory:")
        .await
        .expect("sqlite in memory");
    Some(Harness {
        name: "sqlite-memory",
        store: logged(Arc::new(store.clone())),
        inspect: Box::new(SqliteInspect(store, None)),
    })
}
