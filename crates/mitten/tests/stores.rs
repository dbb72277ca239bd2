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
