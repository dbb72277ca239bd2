//! [`PostgresStore`]: sessions in a PostgreSQL table.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use sqlx::postgres::{PgPool, PgPoolOptions};
use sqlx::AssertSqlSafe;
use tokio::sync::{OnceCell, Semaphore};

use super::breaker::Breaker;
use super::sql::{now_i64, record_from, record_params, to_i64, validate_table, Statements};
use crate::session::store::{
    Record, RenameOutcome, SaveOutcome, SessionStore, StoreError, StoreKey,
};

/// A [`SessionStore`] on PostgreSQL, shareable by any number of app
/// instances.
///
/// One row per session in a table (default `mitten_sessions`) with the
/// columns `key TEXT PRIMARY KEY, version BIGINT, created_at_ms BIGINT,
/// expires_at_ms BIGINT, data TEXT` (JSON). The table and an index on
/// `expires_at_ms` are created on first use, or up front by
/// [`migrate`](Self::migrate).
///
/// Every query filters on `expires_at_ms`, so an expired row is never
/// returned and never blocks a new session under its key; rows are only
/// removed by [`delete_expired`](Self::delete_expired), which
/// [`spawn_cleanup`](Self::spawn_cleanup) runs periodically.
///
/// Round trips: `load`, `create`, `save`, `touch`, `delete` one each;
/// `rename` four (one transaction: `BEGIN`, the versioned delete, the
/// insert-if-free, `COMMIT`/`ROLLBACK`).
///
/// ```no_run
/// # async fn run() -> Result<(), mitten::StoreError> {
/// use std::time::Duration;
/// use mitten::stores::PostgresStore;
/// let store = PostgresStore::connect("postgres://app@localhost/app")
///     .await?
///     .with_table("app_sessions")?;
/// store.migrate().await?;
/// let cleanup = store.spawn_cleanup(Duration::from_secs(600));
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct PostgresStore {
    pool: PgPool,
    sql: Arc<Statements>,
    /// [`save_sql`] and [`delete_if_version_sql`] for the table.
    save: Arc<str>,
    delete_if_version: Arc<str>,
    /// Set once the table is known to exist.
    ready: Arc<OnceCell<()>>,
    /// Fails calls fast while the server is unreachable.
    breaker: Arc<Breaker>,
    /// As many calls as the pool has connections may be inside it at once:
    /// during an outage only these dial the server, the rest wait here and
    /// then meet the open breaker.
    slots: Arc<Semaphore>,
}

impl std::fmt::Debug for PostgresStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PostgresStore")
            .field("table", &self.sql.table)
            .finish_non_exhaustive()
    }
}

fn db_err(op: &'static str) -> impl FnOnce(sqlx::Error) -> StoreError {
    move |e| StoreError::with_source(format!("postgres {op} failed"), e)
}

/// Whether `e` means the server could not be reached (as opposed to an
/// answer from it, such as an SQL error).
fn unreachable(e: &sqlx::Error) -> bool {
    match e {
        sqlx::Error::Io(_)
        | sqlx::Error::Tls(_)
        | sqlx::Error::Protocol(_)
        | sqlx::Error::PoolTimedOut
        | sqlx::Error::WorkerCrashed => true,
        // Class 08: connection exception; 57P01-03: shutting down, crashed,
        // starting up.
        sqlx::Error::Database(d) => d
            .code()
            .is_some_and(|c| c.starts_with("08") || matches!(&*c, "57P01" | "57P02" | "57P03")),
        _ => false,
    }
}

/// The save statement: the versioned update, plus whether a live row was
/// there at all, so a lost compare-and-set is told apart from a missing
/// record in the same round trip. Placeholders as in
/// `Statements::update_if_version`.
fn save_sql(table: &str) -> String {
    format!(
        "WITH upd AS (\
         UPDATE {table} SET version = $2, created_at_ms = $3, expires_at_ms = $4, data = $5 \
         WHERE key = $1 AND version = $6 AND expires_at_ms > $7 RETURNING 1) \
         SELECT (SELECT count(*) FROM upd), \
         EXISTS (SELECT 1 FROM {table} WHERE key = $1 AND expires_at_ms > $7)"
    )
}

/// Like [`save_sql`] for the versioned delete of `rename`.
fn delete_if_version_sql(table: &str) -> String {
    format!(
        "WITH del AS (\
         DELETE FROM {table} WHERE key = $1 AND version = $2 AND expires_at_ms > $3 RETURNING 1) \
         SELECT (SELECT count(*) FROM del), \
         EXISTS (SELECT 1 FROM {table} WHERE key = $1 AND expires_at_ms > $3)"
    )
}

/// A stable advisory-lock id per table, so instances starting together
/// do not race their `CREATE TABLE IF NOT EXISTS` (FNV-1a).
fn lock_id(table: &str) -> i64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in b"mitten-session-table:".iter().chain(table.as_bytes()) {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h as i64
}

impl PostgresStore {
    /// Connects a pool of up to 10 connections to `url`
    /// (`postgres://user[:password]@host[:port]/db`). Fails when the server
    /// cannot be reached now.
    pub async fn connect(url: &str) -> Result<Self, StoreError> {
        let pool = PgPoolOptions::new()
            .max_connections(10)
            .acquire_timeout(Duration::from_secs(2))
            .connect(url)
            .await
            .map_err(|e| StoreError::with_source("could not connect to postgres", e))?;
        Ok(Self::from_pool(pool))
    }

    /// Uses an existing pool.
    pub fn from_pool(pool: PgPool) -> Self {
        let slots = pool.options().get_max_connections().max(1) as usize;
        Self {
            slots: Arc::new(Semaphore::new(slots)),
            pool,
            sql: Arc::new(Statements::new(super::DEFAULT_TABLE)),
            save: save_sql(super::DEFAULT_TABLE).into(),
            delete_if_version: delete_if_version_sql(super::DEFAULT_TABLE).into(),
            ready: Arc::new(OnceCell::new()),
            breaker: Arc::new(Breaker::new(super::DEFAULT_OUTAGE_COOLDOWN)),
        }
    }

    /// After a call finds the server unreachable, further calls fail at
    /// once for `cooldown` (default 500 ms); then one call probes the
    /// server while the others keep failing fast. This keeps a crowd of
    /// requests during an outage from becoming a crowd of connection
    /// attempts, and makes them fail in microseconds instead of waiting for
    /// the connect timeout.
    pub fn with_outage_cooldown(mut self, cooldown: Duration) -> Self {
        self.breaker = Arc::new(Breaker::new(cooldown));
        self
    }

    /// Keeps sessions in `table` (default `mitten_sessions`): 1 to 55
    /// ASCII letters, digits or underscores, not starting with a digit.
    pub fn with_table(mut self, table: &str) -> Result<Self, StoreError> {
        validate_table(table)?;
        self.sql = Arc::new(Statements::new(table));
        self.save = save_sql(table).into();
        self.delete_if_version = delete_if_version_sql(table).into();
        self.ready = Arc::new(OnceCell::new());
        Ok(self)
    }

    /// The table in use.
    pub fn table(&self) -> &str {
        &self.sql.table
    }

    /// The underlying pool.
    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    /// Creates the table and its index if they do not exist. Runs by itself
    /// on first use; call it at startup to fail early.
    pub async fn migrate(&self) -> Result<(), StoreError> {
        self.guarded("migrate", self.ensure_table()).await
    }

    async fn ensure_table(&self) -> Result<(), sqlx::Error> {
        self.ready
            .get_or_try_init(|| async {
                let mut tx = self.pool.begin().await?;
                sqlx::query("SELECT pg_advisory_xact_lock($1)")
                    .bind(lock_id(&self.sql.table))
                    .execute(&mut *tx)
                    .await?;
                for stmt in [&self.sql.create_table, &self.sql.create_index] {
                    sqlx::query(AssertSqlSafe(stmt.clone()))
                        .execute(&mut *tx)
                        .await?;
                }
                tx.commit().await
            })
            .await
            .map(|_| ())
    }

    /// Runs one store operation behind the breaker: fails at once while
    /// the server is known to be unreachable, and tells the breaker how the
    /// call went.
    async fn guarded<T>(
        &self,
        op: &'static str,
        call: impl std::future::Future<Output = Result<T, sqlx::Error>>,
    ) -> Result<T, StoreError> {
        self.breaker.check("postgres")?;
        let _slot = self
            .slots
            .acquire()
            .await
            .map_err(|_| StoreError::new("postgres store closed"))?;
        // Checked again: the server may have been found down while we waited.
        let permit = self.breaker.admit("postgres")?;
        let result = call.await;
        permit.done(result.as_ref().err().is_some_and(unreachable));
        result.map_err(db_err(op))
    }

    /// Deletes every expired row; returns how many.
    pub async fn delete_expired(&self) -> Result<u64, StoreError> {
        self.guarded("cleanup", async {
            self.ensure_table().await?;
            let done = sqlx::query(AssertSqlSafe(self.sql.delete_expired.clone()))
                .bind(now_i64())
                .execute(&self.pool)
                .await?;
            Ok(done.rows_affected())
        })
        .await
    }

    /// Runs [`delete_expired`](Self::delete_expired) every `period` (first
    /// run after one period) until the handle is aborted. Failures are
    /// logged and retried next period. Needs a Tokio runtime.
    pub fn spawn_cleanup(&self, period: Duration) -> tokio::task::JoinHandle<()> {
        let store = self.clone();
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
}

#[async_trait]
impl SessionStore for PostgresStore {
    async fn load(&self, key: &StoreKey) -> Result<Option<Record>, StoreError> {
        let row: Option<(i64, i64, i64, String)> = self
            .guarded("load", async {
                self.ensure_table().await?;
                sqlx::query_as(AssertSqlSafe(self.sql.load.clone()))
                    .bind(key.as_str())
                    .bind(now_i64())
                    .fetch_optional(&self.pool)
                    .await
            })
            .await?;
        row.map(|(v, c, e, d)| record_from(v, c, e, &d)).transpose()
    }

    async fn create(&self, key: &StoreKey, record: &Record) -> Result<bool, StoreError> {
        let (v, c, e, d) = record_params(record)?;
        self.guarded("create", async {
            self.ensure_table().await?;
            let done = sqlx::query(AssertSqlSafe(self.sql.insert_if_free.clone()))
                .bind(key.as_str())
                .bind(v)
                .bind(c)
                .bind(e)
                .bind(d)
                .bind(now_i64())
                .execute(&self.pool)
                .await?;
            Ok(done.rows_affected() == 1)
        })
        .await
    }

    async fn save(
        &self,
        key: &StoreKey,
        record: &Record,
        expected_version: u64,
    ) -> Result<SaveOutcome, StoreError> {
        let (v, c, e, d) = record_params(record)?;
        let expected = to_i64(expected_version)?;
        let (saved, live): (i64, bool) = self
            .guarded("save", async {
                self.ensure_table().await?;
                sqlx::query_as(AssertSqlSafe(self.save.clone()))
                    .bind(key.as_str())
                    .bind(v)
                    .bind(c)
                    .bind(e)
                    .bind(d)
                    .bind(expected)
                    .bind(now_i64())
                    .fetch_one(&self.pool)
                    .await
            })
            .await?;
        Ok(match (saved, live) {
            (1, _) => SaveOutcome::Saved,
            (_, true) => SaveOutcome::Conflict,
            (_, false) => SaveOutcome::Missing,
        })
    }

    async fn rename(
        &self,
        from: &StoreKey,
        to: &StoreKey,
        record: &Record,
        expected_version: u64,
    ) -> Result<RenameOutcome, StoreError> {
        let (v, c, e, d) = record_params(record)?;
        let expected = to_i64(expected_version)?;
        let now = now_i64();
        self.guarded("rename", async {
            self.ensure_table().await?;
            let mut tx = self.pool.begin().await?;
            let (deleted, live): (i64, bool) =
                sqlx::query_as(AssertSqlSafe(self.delete_if_version.clone()))
                    .bind(from.as_str())
                    .bind(expected)
                    .bind(now)
                    .fetch_one(&mut *tx)
                    .await?;
            if deleted != 1 {
                tx.rollback().await?;
                return Ok(if live {
                    RenameOutcome::Conflict
                } else {
                    RenameOutcome::Missing
                });
            }
            let inserted = sqlx::query(AssertSqlSafe(self.sql.insert_if_free.clone()))
                .bind(to.as_str())
                .bind(v)
                .bind(c)
                .bind(e)
                .bind(d)
                .bind(now)
                .execute(&mut *tx)
                .await?;
            if inserted.rows_affected() != 1 {
                tx.rollback().await?;
                return Ok(RenameOutcome::Collision);
            }
            tx.commit().await?;
            Ok(RenameOutcome::Renamed)
        })
        .await
    }

    async fn touch(&self, key: &StoreKey, expires_at_ms: u64) -> Result<(), StoreError> {
        let expires = to_i64(expires_at_ms)?;
        self.guarded("touch", async {
            self.ensure_table().await?;
            sqlx::query(AssertSqlSafe(self.sql.touch.clone()))
                .bind(key.as_str())
                .bind(expires)
                .bind(now_i64())
                .execute(&self.pool)
                .await?;
            Ok(())
        })
        .await
    }

    async fn delete(&self, key: &StoreKey) -> Result<(), StoreError> {
        self.guarded("delete", async {
            self.ensure_table().await?;
            sqlx::query(AssertSqlSafe(self.sql.delete.clone()))
                .bind(key.as_str())
                .execute(&self.pool)
                .await?;
            Ok(())
        })
        .await
    }

    async fn delete_expired(&self) -> Result<u64, StoreError> {
        PostgresStore::delete_expired(self).await
    }
}
