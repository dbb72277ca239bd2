//! [`RedisStore`]: sessions in Redis (or Valkey), one hash per session.

use std::time::Duration;

use async_trait::async_trait;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::{Script, Value};

use super::breaker::Breaker;
use super::{decode_data, encode_data};
use crate::session::store::{
    now_ms, Record, RenameOutcome, SaveOutcome, SessionStore, StoreError, StoreKey,
};

/// The key prefix used unless [`RedisStore::with_prefix`] says otherwise.
pub const DEFAULT_PREFIX: &str = "mitten:session:";

const F_VERSION: &str = "version";
const F_CREATED: &str = "created_at_ms";
const F_EXPIRES: &str = "expires_at_ms";
const F_DATA: &str = "data";

// Every script compares versions as strings: both sides are the decimal
// spelling of a u64, and Lua numbers (doubles) would round large values.
// Return codes: 1 done, 0 conflict, -1 missing, 2 collision.

/// KEYS[1] key; ARGV version, created, expires, data.
const CREATE_LUA: &str = r"
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
redis.call('HSET', KEYS[1], 'version', ARGV[1], 'created_at_ms', ARGV[2], 'expires_at_ms', ARGV[3], 'data', ARGV[4])
redis.call('PEXPIREAT', KEYS[1], ARGV[3])
return 1
";

/// KEYS[1] key; ARGV expected, version, created, expires, data.
const SAVE_LUA: &str = r"
local v = redis.call('HGET', KEYS[1], 'version')
if not v then return -1 end
if v ~= ARGV[1] then return 0 end
redis.call('HSET', KEYS[1], 'version', ARGV[2], 'created_at_ms', ARGV[3], 'expires_at_ms', ARGV[4], 'data', ARGV[5])
redis.call('PEXPIREAT', KEYS[1], ARGV[4])
return 1
";

/// KEYS[1] from, KEYS[2] to; ARGV expected, version, created, expires, data.
const RENAME_LUA: &str = r"
local v = redis.call('HGET', KEYS[1], 'version')
if not v then return -1 end
if v ~= ARGV[1] then return 0 end
if redis.call('EXISTS', KEYS[2]) == 1 then return 2 end
redis.call('DEL', KEYS[1])
redis.call('HSET', KEYS[2], 'version', ARGV[2], 'created_at_ms', ARGV[3], 'expires_at_ms', ARGV[4], 'data', ARGV[5])
redis.call('PEXPIREAT', KEYS[2], ARGV[4])
return 1
";

/// KEYS[1] key; ARGV expires.
const TOUCH_LUA: &str = r"
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
redis.call('HSET', KEYS[1], 'expires_at_ms', ARGV[1])
redis.call('PEXPIREAT', KEYS[1], ARGV[1])
return 1
";

/// A [`SessionStore`] on Redis, shareable by any number of app instances.
///
/// Each session is one hash at `{prefix}{store key}` with the fields
/// `version`, `created_at_ms`, `expires_at_ms` and `data` (JSON), and a
/// Redis expiry (`PEXPIREAT`) at the record's deadline, so Redis itself drops
/// expired sessions and no cleanup task is needed. Every operation is one
/// round trip; the conditional ones (`create`, `save`, `rename`, `touch`) are
/// Lua scripts run with `EVALSHA`, so each compare-and-set is atomic.
///
/// The connection is a [`ConnectionManager`]: one multiplexed connection
/// that reconnects in the background after a failure. While Redis is down
/// calls fail (after at most the response timeout) and Mitten answers 503.
///
/// `rename` touches two keys in one script, so Redis Cluster is not
/// supported (the keys would live in different slots).
///
/// ```no_run
/// # async fn run() -> Result<(), mitten::StoreError> {
/// use mitten::stores::RedisStore;
/// let store = RedisStore::connect("redis://127.0.0.1:6379")
///     .await?
///     .with_prefix("myapp:session:");
/// let mitten = mitten::Mitten::builder()
///     .secret_key([7u8; 32])
///     .store(store)
///     .build()
///     .expect("valid config");
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct RedisStore {
    conn: ConnectionManager,
    prefix: String,
    scripts: std::sync::Arc<Scripts>,
    /// Fails calls fast while the server is unreachable.
    breaker: std::sync::Arc<Breaker>,
}

struct Scripts {
    create: Script,
    save: Script,
    rename: Script,
    touch: Script,
}

impl std::fmt::Debug for RedisStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisStore")
            .field("prefix", &self.prefix)
            .finish_non_exhaustive()
    }
}

impl RedisStore {
    /// Connects to `url` (`redis://[user:password@]host[:port][/db]`) with
    /// a 2 s connect timeout, a 2 s response timeout and one quick
    /// reconnect retry. Fails when the server cannot be reached now.
    pub async fn connect(url: &str) -> Result<Self, StoreError> {
        Self::connect_with_config(url, Self::default_config()).await
    }

    /// The connection settings [`connect`](Self::connect) uses; adjust and
    /// pass to [`connect_with_config`](Self::connect_with_config).
    pub fn default_config() -> ConnectionManagerConfig {
        ConnectionManagerConfig::new()
            .set_connection_timeout(Some(Duration::from_secs(2)))
            .set_response_timeout(Some(Duration::from_secs(2)))
            // Few and quick: while Redis is down the breaker, not the
            // reconnect loop, decides how often it is dialled.
            .set_number_of_retries(1)
            .set_min_delay(Duration::from_millis(50))
            .set_max_delay(Duration::from_millis(200))
    }

    /// Connects to `url` with the given connection-manager settings.
    pub async fn connect_with_config(
        url: &str,
        config: ConnectionManagerConfig,
    ) -> Result<Self, StoreError> {
        // The URL may carry a password: it never goes into the error.
        let client = redis::Client::open(url)
            .map_err(|_| StoreError::new("invalid redis url (or TLS not compiled in)"))?;
        let conn = ConnectionManager::new_with_config(client, config)
            .await
            .map_err(|e| StoreError::with_source("could not connect to redis", e))?;
        Ok(Self::from_manager(conn))
    }

    /// Wraps an existing connection manager.
    pub fn from_manager(conn: ConnectionManager) -> Self {
        Self {
            conn,
            prefix: DEFAULT_PREFIX.to_owned(),
            scripts: std::sync::Arc::new(Scripts {
                create: Script::new(CREATE_LUA),
                save: Script::new(SAVE_LUA),
                rename: Script::new(RENAME_LUA),
                touch: Script::new(TOUCH_LUA),
            }),
            breaker: std::sync::Arc::new(Breaker::new(super::DEFAULT_OUTAGE_COOLDOWN)),
        }
    }

    /// After a call finds Redis unreachable, further calls fail at once
    /// for `cooldown` (default 500 ms); then one call probes the server
    /// (and the connection manager reconnects) while the others keep
    /// failing fast. Requests during an outage then cost no network and no
    /// wait.
    pub fn with_outage_cooldown(mut self, cooldown: Duration) -> Self {
        self.breaker = std::sync::Arc::new(Breaker::new(cooldown));
        self
    }

    /// Files sessions under `prefix` (default `mitten:session:`), e.g. to
    /// share one Redis between several apps.
    pub fn with_prefix(mut self, prefix: impl Into<String>) -> Self {
        self.prefix = prefix.into();
        self
    }

    /// The key prefix in use.
    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    fn redis_key(&self, key: &StoreKey) -> String {
        let mut k = String::with_capacity(self.prefix.len() + key.as_str().len());
        k.push_str(&self.prefix);
        k.push_str(key.as_str());
        k
    }

    /// Runs `call` once more when it failed because the connection could
    /// not be (re)established: the connection manager answers the first
    /// call after an outage with the error of its last failed reconnect and
    /// only then dials again, so without this the first request after the
    /// store is back would still get 503. Only a refused connection is
    /// retried, where the command was certainly not sent; a command that
    /// may have run (a reset mid-reply) is never sent twice.
    ///
    /// Runs behind the breaker: fails at once while Redis is known to be
    /// unreachable.
    async fn retry_if_refused<T, F, Fut>(&self, op: &str, call: F) -> Result<T, StoreError>
    where
        F: Fn(ConnectionManager) -> Fut,
        Fut: std::future::Future<Output = redis::RedisResult<T>>,
    {
        let permit = self.breaker.admit("redis")?;
        let result = match call(self.conn.clone()).await {
            Err(e) if e.is_connection_refusal() => call(self.conn.clone()).await,
            other => other,
        };
        permit.done(result.as_ref().err().is_some_and(unreachable));
        result.map_err(|e| StoreError::with_source(format!("redis {op} failed"), e))
    }

    async fn run(
        &self,
        op: &'static str,
        script: &Script,
        keys: &[String],
        args: &[String],
    ) -> Result<i64, StoreError> {
        // Asked for as a raw `Value` so a conversion error can never echo
        // stored data back into a message.
        let reply: Value = self
            .retry_if_refused(op, |mut conn| {
                let mut inv = script.prepare_invoke();
                for k in keys {
                    inv.key(k);
                }
                for a in args {
                    inv.arg(a);
                }
                async move { inv.invoke_async(&mut conn).await }
            })
            .await?;
        match reply {
            Value::Int(n) => Ok(n),
            _ => Err(StoreError::new(format!(
                "redis {op} returned an unexpected reply"
            ))),
        }
    }
}

/// Whether `e` means Redis could not be reached (as opposed to an answer
/// from it).
fn unreachable(e: &redis::RedisError) -> bool {
    e.is_io_error() || e.is_connection_refusal() || e.is_connection_dropped() || e.is_timeout()
}

fn record_args(record: &Record) -> Result<[String; 4], StoreError> {
    Ok([
        record.version.to_string(),
        record.created_at_ms.to_string(),
        record.expires_at_ms.to_string(),
        encode_data(record)?,
    ])
}

fn bytes(v: &Value) -> Option<&[u8]> {
    match v {
        Value::BulkString(b) => Some(b),
        Value::SimpleString(s) => Some(s.as_bytes()),
        _ => None,
    }
}

fn parse_u64(v: &Value) -> Result<u64, StoreError> {
    let n = match v {
        Value::Int(n) => u64::try_from(*n).ok(),
        other => bytes(other)
            .and_then(|b| std::str::from_utf8(b).ok())
            .and_then(|s| s.parse().ok()),
    };
    n.ok_or_else(|| StoreError::new("malformed session record in redis"))
}

/// Turns an `HMGET version created_at_ms expires_at_ms data` reply into a
/// record. All fields nil means no record; anything else malformed is an
/// error, never an empty session.
fn parse_record(reply: Value) -> Result<Option<Record>, StoreError> {
    let malformed = || StoreError::new("malformed session record in redis");
    let Value::Array(fields) = reply else {
        return Err(malformed());
    };
    if fields.len() != 4 {
        return Err(malformed());
    }
    if fields.iter().all(|f| matches!(f, Value::Nil)) {
        return Ok(None);
    }
    let data = bytes(&fields[3])
        .and_then(|b| std::str::from_utf8(b).ok())
        .ok_or_else(malformed)?;
    Ok(Some(Record {
        version: parse_u64(&fields[0])?,
        created_at_ms: parse_u64(&fields[1])?,
        expires_at_ms: parse_u64(&fields[2])?,
        data: decode_data(data)?,
    }))
}

#[async_trait]
impl SessionStore for RedisStore {
    async fn load(&self, key: &StoreKey) -> Result<Option<Record>, StoreError> {
        let mut cmd = redis::cmd("HMGET");
        cmd.arg(self.redis_key(key))
            .arg(F_VERSION)
            .arg(F_CREATED)
            .arg(F_EXPIRES)
            .arg(F_DATA);
        let reply: Value = self
            .retry_if_refused("load", |mut conn| {
                let cmd = cmd.clone();
                async move { cmd.query_async(&mut conn).await }
            })
            .await?;
        // Redis drops the key at its deadline; the clock check covers skew
        // between this host and the Redis host.
        Ok(parse_record(reply)?.filter(|r| !r.is_expired(now_ms())))
    }

    async fn create(&self, key: &StoreKey, record: &Record) -> Result<bool, StoreError> {
        let n = self
            .run(
                "create",
                &self.scripts.create,
                &[self.redis_key(key)],
                &record_args(record)?,
            )
            .await?;
        match n {
            1 => Ok(true),
            0 => Ok(false),
            _ => Err(StoreError::new("redis create returned an unexpected reply")),
        }
    }

    async fn save(
        &self,
        key: &StoreKey,
        record: &Record,
        expected_version: u64,
    ) -> Result<SaveOutcome, StoreError> {
        let [v, c, e, d] = record_args(record)?;
        let n = self
            .run(
                "save",
                &self.scripts.save,
                &[self.redis_key(key)],
                &[expected_version.to_string(), v, c, e, d],
            )
            .await?;
        match n {
            1 => Ok(SaveOutcome::Saved),
            0 => Ok(SaveOutcome::Conflict),
            -1 => Ok(SaveOutcome::Missing),
            _ => Err(StoreError::new("redis save returned an unexpected reply")),
        }
    }

    async fn rename(
        &self,
        from: &StoreKey,
        to: &StoreKey,
        record: &Record,
        expected_version: u64,
    ) -> Result<RenameOutcome, StoreError> {
        let [v, c, e, d] = record_args(record)?;
        let n = self
            .run(
                "rename",
                &self.scripts.rename,
                &[self.redis_key(from), self.redis_key(to)],
                &[expected_version.to_string(), v, c, e, d],
            )
            .await?;
        match n {
            1 => Ok(RenameOutcome::Renamed),
            0 => Ok(RenameOutcome::Conflict),
            -1 => Ok(RenameOutcome::Missing),
            2 => Ok(RenameOutcome::Collision),
            _ => Err(StoreError::new("redis rename returned an unexpected reply")),
        }
    }

    async fn touch(&self, key: &StoreKey, expires_at_ms: u64) -> Result<(), StoreError> {
        self.run(
            "touch",
            &self.scripts.touch,
            &[self.redis_key(key)],
            &[expires_at_ms.to_string()],
        )
        .await?;
        Ok(())
    }

    async fn delete(&self, key: &StoreKey) -> Result<(), StoreError> {
        let mut cmd = redis::cmd("DEL");
        cmd.arg(self.redis_key(key));
        let _: Value = self
            .retry_if_refused("delete", |mut conn| {
                let cmd = cmd.clone();
                async move { cmd.query_async(&mut conn).await }
            })
            .await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bulk(s: &str) -> Value {
        Value::BulkString(s.as_bytes().to_vec())
    }

    #[test]
    fn parses_records_and_rejects_junk() {
        assert_eq!(
            parse_record(Value::Array(vec![Value::Nil; 4])).unwrap(),
            None
        );
        let ok = parse_record(Value::Array(vec![
            bulk("3"),
            bulk("10"),
            bulk("20"),
            bulk(r#"{"a":1}"#),
        ]))
        .unwrap()
        .unwrap();
        assert_eq!(
            (ok.version, ok.created_at_ms, ok.expires_at_ms),
            (3, 10, 20)
        );
        assert_eq!(ok.data["a"], 1);
        for junk in [
            Value::Nil,
            Value::Int(1),
            Value::Array(vec![Value::Nil; 3]),
            Value::Array(vec![bulk("1"), Value::Nil, Value::Nil, Value::Nil]),
            Value::Array(vec![bulk("x"), bulk("1"), bulk("1"), bulk("{}")]),
            Value::Array(vec![bulk("1"), bulk("1"), bulk("1"), bulk("[1]")]),
            Value::Array(vec![bulk("1"), bulk("1"), bulk("1"), bulk("secret")]),
        ] {
            let err = parse_record(junk).unwrap_err().to_string();
            assert!(!err.contains("secret"), "{err}");
        }
    }
}
