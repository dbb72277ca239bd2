//! [`SqliteStore`]: sessions in a SQLite table.

use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};
use sqlx::AssertSqlSafe;
use tokio::sync::OnceCell;

use super::sql::{now_i64, record_from, record_params, to_i64, validate_table, Statements};
use crate::session::store::{
    Record, RenameOutcome, SaveOutcome, SessionStore, StoreError, StoreKey,
};

/// A [`SessionStore`] on SQLite: for single-host apps that want sessions to
/// survive a restart (several processes on one host may share the file).
///
/// Same table layout and semantics as
/// [`PostgresStore`](super::PostgresStore): one row per session in
/// `mitten_sessions` (configurable), created on first use or by
/// [`migrate`](Self::migrate); expired rows are never returned and are
/// removed by [`delete_expired`](Self::delete_expired) /
/// [`spawn_cleanup`](Self::spawn_cleanup). File databases run in WAL mode
/// with a 5 s busy timeout; `rename` is one `BEGIN IMMEDIATE` transaction.
///
/// ```no_run
/// # async fn run() -> Result<(), mitten::StoreError> {
/// use std::time::Duration;
/// use mitten::stores::SqliteStore;
/// let store = SqliteStore::connect("sqlite://sessions.db").await?;
/// let cleanup = store.spawn_cleanup(Duration::from_secs(600));
/// // or, for tests: SqliteStore::connect("sqlite::memory:").await?
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct SqliteStore {
    pool: SqlitePool,
    sql: Arc<Statements>,
    ready: Arc<OnceCell<()>>,
}

impl std::fmt::Debug for SqliteStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqliteStore")
            .field("table", &self.sql.table)
            .finish_non_exhaustive()
    }
}

fn db_err(op: &'static str) -> impl FnOnce(sqlx::Error) -> StoreError {
    move |e| StoreError::with_source(format!("sqlite {op} failed"), e)
}

impl SqliteStore {
    /// Opens `url`: `sqlite://PATH` (created if missing) or
    /// `sqlite::memory:`. An in-memory database lives in one connection
    /// that is kept open, so every request sees the same data.
    pub async fn connect(url: &str) -> Result<Self, StoreError> {
        let in_memory = url.contains(":memory:") || url.contains("mode=memory");
        let options = SqliteConnectOptions::from_str(url)
            .map_err(|e| StoreError::with_source("invalid sqlite url", e))?
            .busy_timeout(Duration::from_secs(5));
        let pool = if in_memory {
            SqlitePoolOptions::new()
                .max_connections(1)
                .min_connections(1)
                .idle_timeout(None)
                .max_lifetime(None)
                .acquire_timeout(Duration::from_secs(5))
                .connect_with(options)
                .await
        } else {
            SqlitePoolOptions::new()
                .max_connections(4)
                .acquire_timeout(Duration::from_secs(5))
                .connect_with(
                    options
                        .create_if_missing(true)
                        .journal_mode(SqliteJournalMode::Wal)
                        .synchronous(SqliteSynchronous::Normal),
                )
                .await
        }
        .map_err(|e| StoreError::with_source("could not open sqlite database", e))?;
        Ok(Self::from_pool(pool))
    }

    /// Uses an existing pool. For an in-memory database the pool must keep
    /// one connection open for good (or use a shared cache), else each
    /// connection sees its own empty database.
    pub fn from_pool(pool: SqlitePool) -> Self {
        Self {
            pool,
            sql: Arc::new(Statements::new(super::DEFAULT_TABLE)),
            ready: Arc::new(OnceCell::new()),
        }
    }

    /// Keeps sessions in `table` (default `mitten_sessions`): 1 to 55
    /// ASCII letters, digits or underscores, not starting with a digit.
    pub fn with_table(mut self, table: &str) -> Result<Self, StoreError> {
        validate_table(table)?;
        self.sql = Arc::new(Statements::new(table));
        self.ready = Arc::new(OnceCell::new());
        Ok(self)
    }

    /// The table in use.
    pub fn table(&self) -> &str {
        &self.sql.table
    }

    /// The underlying pool.
    pub fn pool(&self) -> &SqlitePool {
        &self.pool
    }

    /// Creates the table and its index if they do not exist. Runs by itself
    /// on first use; call it at startup to fail early.
    pub async fn migrate(&self) -> Result<(), StoreError> {
        self.ready
            .get_or_try_init(|| async {
                let mut tx = self
                    .pool
                    .begin_with("BEGIN IMMEDIATE")
                    .await
                    .map_err(db_err("migrate"))?;
                for stmt in [&self.sql.create_table, &self.sql.create_index] {
                    sqlx::query(AssertSqlSafe(stmt.clone()))
                        .execute(&mut *tx)
                        .await
                        .map_err(db_err("migrate"))?;
                }
                tx.commit().await.map_err(db_err("migrate"))
            })
            .await
            .map(|_| ())
    }

    /// Deletes every expired row; returns how many.
    pub async fn delete_expired(&self) -> Result<u64, StoreError> {
        self.migrate().await?;
        let done = sqlx::query(AssertSqlSafe(self.sql.delete_expired.clone()))
            .bind(now_i64())
            .execute(&self.pool)
            .await
            .map_err(db_err("cleanup"))?;
        Ok(done.rows_affected())
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

    /// Whether a live row is under `key`, on `conn`.
    async fn is_live<'c, E>(&self, conn: E, key: &StoreKey, now: i64) -> Result<bool, StoreError>
    where
        E: sqlx::Executor<'c, Database = sqlx::Sqlite>,
    {
        let row: Option<(i64,)> = sqlx::query_as(AssertSqlSafe(self.sql.live_version.clone()))
            .bind(key.as_str())
            .bind(now)
            .fetch_optional(conn)
            .await
            .map_err(db_err("load"))?;
        Ok(row.is_some())
    }
}

#[async_trait]
impl SessionStore for SqliteStore {
    async fn load(&self, key: &StoreKey) -> Result<Option<Record>, StoreError> {
        self.migrate().await?;
        let row: Option<(i64, i64, i64, String)> =
            sqlx::query_as(AssertSqlSafe(self.sql.load.clone()))
                .bind(key.as_str())
                .bind(now_i64())
                .fetch_optional(&self.pool)
                .await
                .map_err(db_err("load"))?;
        row.map(|(v, c, e, d)| record_from(v, c, e, &d)).transpose()
    }

    async fn create(&self, key: &StoreKey, record: &Record) -> Result<bool, StoreError> {
        self.migrate().await?;
        let (v, c, e, d) = record_params(record)?;
        let done = sqlx::query(AssertSqlSafe(self.sql.insert_if_free.clone()))
            .bind(key.as_str())
            .bind(v)
            .bind(c)
            .bind(e)
            .bind(d)
            .bind(now_i64())
            .execute(&self.pool)
            .await
            .map_err(db_err("create"))?;
        Ok(done.rows_affected() == 1)
    }

    async fn save(
        &self,
        key: &StoreKey,
        record: &Record,
        expected_version: u64,
    ) -> Result<SaveOutcome, StoreError> {
        self.migrate().await?;
        let (v, c, e, d) = record_params(record)?;
        let now = now_i64();
        let done = sqlx::query(AssertSqlSafe(self.sql.update_if_version.clone()))
            .bind(key.as_str())
            .bind(v)
            .bind(c)
            .bind(e)
            .bind(d)
            .bind(to_i64(expected_version)?)
            .bind(now)
            .execute(&self.pool)
            .await
            .map_err(db_err("save"))?;
        if done.rows_affected() == 1 {
            return Ok(SaveOutcome::Saved);
        }
        // Only on a lost compare-and-set: a second statement tells a newer
        // version from a missing row (the caller reloads either way).
        Ok(if self.is_live(&self.pool, key, now).await? {
            SaveOutcome::Conflict
        } else {
            SaveOutcome::Missing
        })
    }

    async fn rename(
        &self,
        from: &StoreKey,
        to: &StoreKey,
        record: &Record,
        expected_version: u64,
    ) -> Result<RenameOutcome, StoreError> {
        self.migrate().await?;
        let (v, c, e, d) = record_params(record)?;
        let now = now_i64();
        // IMMEDIATE takes the write lock up front, so the transaction never
        // has to upgrade a read lock (which SQLite may refuse with BUSY).
        let mut tx = self
            .pool
            .begin_with("BEGIN IMMEDIATE")
            .await
            .map_err(db_err("rename"))?;
        let deleted = sqlx::query(AssertSqlSafe(self.sql.delete_if_version.clone()))
            .bind(from.as_str())
            .bind(to_i64(expected_version)?)
            .bind(now)
            .execute(&mut *tx)
            .await
            .map_err(db_err("rename"))?;
        if deleted.rows_affected() != 1 {
            let live = self.is_live(&mut *tx, from, now).await?;
            tx.rollback().await.map_err(db_err("rename"))?;
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
            .await
            .map_err(db_err("rename"))?;
        if inserted.rows_affected() != 1 {
            tx.rollback().await.map_err(db_err("rename"))?;
            return Ok(RenameOutcome::Collision);
        }
        tx.commit().await.map_err(db_err("rename"))?;
        Ok(RenameOutcome::Renamed)
    }

    async fn touch(&self, key: &StoreKey, expires_at_ms: u64) -> Result<(), StoreError> {
        self.migrate().await?;
        sqlx::query(AssertSqlSafe(self.sql.touch.clone()))
            .bind(key.as_str())
            .bind(to_i64(expires_at_ms)?)
            .bind(now_i64())
            .execute(&self.pool)
            .await
            .map_err(db_err("touch"))?;
        Ok(())
    }

    async fn delete(&self, key: &StoreKey) -> Result<(), StoreError> {
        self.migrate().await?;
        sqlx::query(AssertSqlSafe(self.sql.delete.clone()))
            .bind(key.as_str())
            .execute(&self.pool)
            .await
            .map_err(db_err("delete"))?;
        Ok(())
    }

    async fn delete_expired(&self) -> Result<u64, StoreError> {
        SqliteStore::delete_expired(self).await
    }
}
