//! The store conformance suite (`tests/conformance/`), once per store:
//! memory, Redis, PostgreSQL, SQLite (a WAL file with a connection pool, and
//! `sqlite::memory:`). Redis and PostgreSQL tests skip with a message when
//! the service is absent, and fail instead when `CI` is set.

mod common;
#[macro_use]
mod conformance;

mod memory {
    conformance_suite!(crate::conformance::harness::memory);
}

#[cfg(feature = "redis")]
mod redis {
    conformance_suite!(crate::conformance::harness::redis);
}

#[cfg(feature = "postgres")]
mod postgres {
    conformance_suite!(crate::conformance::harness::postgres);
}

#[cfg(feature = "sqlite")]
mod sqlite {
    conformance_suite!(crate::conformance::harness::sqlite);
}

#[cfg(feature = "sqlite")]
mod sqlite_memory {
    conformance_suite!(crate::conformance::harness::sqlite_memory);
}

/// `stores::connect` takes Mitten's own `prefix=` / `table=` out of the URL
/// and the store really uses them.
mod connect_url {
    use crate::conformance::harness::{self, unique};
    use crate::conformance::http::{default_app, login};

    #[cfg(feature = "redis")]
    #[tokio::test]
    async fn redis_url_carries_the_key_prefix() {
        let prefix = format!("mitten-test:url:{}:", unique());
        let url = format!("{}/?prefix={}", harness::redis_url(), prefix);
        let store = match mitten::stores::connect(&url).await {
            Ok(s) => s,
            Err(e) => {
                harness::unavailable("redis", "redis_url_carries_the_key_prefix", e);
                return;
            }
        };
        let conn = redis::Client::open(harness::redis_url().as_str())
            .unwrap()
            .get_multiplexed_async_connection()
            .await
            .unwrap();
        let inspect = harness::RedisInspect { conn, prefix };
        let h = harness::Harness {
            name: "redis-url",
            store,
            inspect: Box::new(inspect),
        };
        login(&default_app(&h), "alice").await;
        let keys = h.inspect.raw_keys().await;
        h.inspect.teardown().await;
        assert_eq!(keys.len(), 1, "{keys:?}");
    }

    #[cfg(feature = "postgres")]
    #[tokio::test]
    async fn postgres_url_carries_the_table() {
        let table = format!("mitten_test_url_{}", unique());
        let url = format!("{}?table={table}", harness::postgres_url());
        let store = match mitten::stores::connect(&url).await {
            Ok(s) => s,
            Err(e) => {
                harness::unavailable("postgres", "postgres_url_carries_the_table", e);
                return;
            }
        };
        let view = mitten::stores::PostgresStore::connect(&harness::postgres_url())
            .await
            .unwrap()
            .with_table(&table)
            .unwrap();
        let h = harness::Harness {
            name: "postgres-url",
            store,
            inspect: Box::new(harness::PgInspect(view)),
        };
        login(&default_app(&h), "alice").await;
        let keys = h.inspect.raw_keys().await;
        h.inspect.teardown().await;
        assert_eq!(keys.len(), 1, "{keys:?}");
    }

    #[cfg(feature = "sqlite")]
    #[tokio::test]
    async fn sqlite_url_carries_the_table() {
        let path = std::env::temp_dir().join(format!("mitten-test-url-{}.db", unique()));
        let url = format!("sqlite://{}?table=app_sessions", path.display());
        let store = mitten::stores::connect(&url).await.unwrap();
        let h = harness::Harness {
            name: "sqlite-url",
            store,
            inspect: Box::new(harness::NoInspect),
        };
        login(&default_app(&h), "alice").await;
        let view = mitten::stores::SqliteStore::connect(&format!("sqlite://{}", path.display()))
            .await
            .unwrap();
        let rows: Vec<(String,)> = sqlx::query_as("SELECT key FROM app_sessions")
            .fetch_all(view.pool())
            .await
            .unwrap();
        let _ = std::fs::remove_file(&path);
        assert_eq!(rows.len(), 1);
    }
}
