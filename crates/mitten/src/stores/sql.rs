//! What the SQL stores share: table-name validation, the statements (the
//! same text runs on PostgreSQL and SQLite) and number conversions.

use std::sync::Arc;

use crate::session::store::{Record, StoreError};

/// The table used unless `with_table` says otherwise.
pub const DEFAULT_TABLE: &str = "mitten_sessions";

/// Longest accepted table name: PostgreSQL's identifier limit (63) less
/// the `_expires` of the index name, so two long names can never share a
/// truncated index name.
const MAX_TABLE_LEN: usize = 55;

/// Accepts `[A-Za-z_][A-Za-z0-9_]{0,62}`: the name is spliced into SQL, so
/// nothing else gets through.
pub(crate) fn validate_table(name: &str) -> Result<(), StoreError> {
    let mut chars = name.chars();
    let first_ok = chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_');
    if !first_ok
        || name.len() > MAX_TABLE_LEN
        || !chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
    {
        return Err(StoreError::new(
            "invalid session table name: use 1 to 55 ASCII letters, digits or underscores, not starting with a digit",
        ));
    }
    Ok(())
}

/// The statements for one table. Parameters are `$n`, which both
/// PostgreSQL and SQLite understand.
#[derive(Clone, Debug)]
#[allow(dead_code)] // each backend uses its own subset
pub(crate) struct Statements {
    pub(crate) table: Arc<str>,
    pub(crate) create_table: Arc<str>,
    pub(crate) create_index: Arc<str>,
    /// $1 key, $2 now.
    pub(crate) load: Arc<str>,
    /// $1 key, $2 version, $3 created, $4 expires, $5 data, $6 now.
    pub(crate) insert_if_free: Arc<str>,
    /// $1 key, $2 version, $3 created, $4 expires, $5 data, $6 expected, $7 now.
    pub(crate) update_if_version: Arc<str>,
    /// $1 key, $2 now.
    pub(crate) live_version: Arc<str>,
    /// $1 key, $2 expected, $3 now.
    pub(crate) delete_if_version: Arc<str>,
    /// $1 key, $2 expires, $3 now.
    pub(crate) touch: Arc<str>,
    /// $1 key.
    pub(crate) delete: Arc<str>,
    /// $1 now.
    pub(crate) delete_expired: Arc<str>,
}

impl Statements {
    /// Statements for `table`, which must have passed [`validate_table`].
    pub(crate) fn new(table: &str) -> Self {
        let t = table;
        let s = |sql: String| Arc::<str>::from(sql);
        Self {
            table: Arc::from(t),
            create_table: s(format!(
                "CREATE TABLE IF NOT EXISTS {t} (\
                 key TEXT PRIMARY KEY, \
                 version BIGINT NOT NULL, \
                 created_at_ms BIGINT NOT NULL, \
                 expires_at_ms BIGINT NOT NULL, \
                 data TEXT NOT NULL)"
            )),
            create_index: s(format!(
                "CREATE INDEX IF NOT EXISTS {t}_expires ON {t} (expires_at_ms)"
            )),
            load: s(format!(
                "SELECT version, created_at_ms, expires_at_ms, data FROM {t} \
                 WHERE key = $1 AND expires_at_ms > $2"
            )),
            // An expired row does not block the key; a live one does (then
            // the WHERE fails and no row is affected).
            insert_if_free: s(format!(
                "INSERT INTO {t} (key, version, created_at_ms, expires_at_ms, data) \
                 VALUES ($1, $2, $3, $4, $5) \
                 ON CONFLICT (key) DO UPDATE SET \
                 version = excluded.version, created_at_ms = excluded.created_at_ms, \
                 expires_at_ms = excluded.expires_at_ms, data = excluded.data \
                 WHERE {t}.expires_at_ms <= $6"
            )),
            update_if_version: s(format!(
                "UPDATE {t} SET version = $2, created_at_ms = $3, expires_at_ms = $4, data = $5 \
                 WHERE key = $1 AND version = $6 AND expires_at_ms > $7"
            )),
            live_version: s(format!(
                "SELECT version FROM {t} WHERE key = $1 AND expires_at_ms > $2"
            )),
            delete_if_version: s(format!(
                "DELETE FROM {t} WHERE key = $1 AND version = $2 AND expires_at_ms > $3"
            )),
            touch: s(format!(
                "UPDATE {t} SET expires_at_ms = $2 WHERE key = $1 AND expires_at_ms > $3"
            )),
            delete: s(format!("DELETE FROM {t} WHERE key = $1")),
            delete_expired: s(format!("DELETE FROM {t} WHERE expires_at_ms <= $1")),
        }
    }
}

/// A u64 as the BIGINT the tables hold.
pub(crate) fn to_i64(n: u64) -> Result<i64, StoreError> {
    i64::try_from(n).map_err(|_| StoreError::new("session record field out of range"))
}

/// A BIGINT back into a u64.
pub(crate) fn to_u64(n: i64) -> Result<u64, StoreError> {
    u64::try_from(n).map_err(|_| StoreError::new("malformed session record in store"))
}

/// The bound values of a record: version, created, expires, data.
pub(crate) fn record_params(record: &Record) -> Result<(i64, i64, i64, String), StoreError> {
    Ok((
        to_i64(record.version)?,
        to_i64(record.created_at_ms)?,
        to_i64(record.expires_at_ms)?,
        super::encode_data(record)?,
    ))
}

/// A record from the four loaded columns.
pub(crate) fn record_from(
    version: i64,
    created_at_ms: i64,
    expires_at_ms: i64,
    data: &str,
) -> Result<Record, StoreError> {
    Ok(Record {
        version: to_u64(version)?,
        created_at_ms: to_u64(created_at_ms)?,
        expires_at_ms: to_u64(expires_at_ms)?,
        data: super::decode_data(data)?,
    })
}

/// The current time as a BIGINT (saturating: the clock is far from 2^63).
pub(crate) fn now_i64() -> i64 {
    i64::try_from(crate::session::store::now_ms()).unwrap_or(i64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_names_are_validated() {
        for ok in ["mitten_sessions", "_t", "A1", &"a".repeat(55)] {
            assert!(validate_table(ok).is_ok(), "{ok}");
        }
        for bad in [
            "",
            "1abc",
            "a-b",
            "a b",
            "t; DROP TABLE x",
            "s.t",
            "\"t\"",
            "tä",
            &"a".repeat(56),
        ] {
            assert!(validate_table(bad).is_err(), "{bad}");
        }
    }
}
