//! The store conformance suite: written once, instantiated per store by
//! `conformance_suite!(module_name, harness_fn)` (see `tests/stores.rs`).
//!
//! Every test gets a fresh, isolated store from its harness (a unique Redis
//! key prefix, a unique SQL table, a fresh SQLite database) and a way to
//! look inside it (every raw key, a dump of everything held), so a test can
//! say "the store is empty" or "the dump holds no live id" about the real
//! backend, not about what the store chooses to return.

#![allow(dead_code)]

pub mod harness;
pub mod http;
pub mod store_api;
pub mod wrappers;

/// Expands to one `#[tokio::test]` per conformance test, each running the
/// suite function of that name against a fresh store from `$make`
/// (`async fn(&'static str) -> Option<Harness>`; `None` means the service
/// is absent and the test was skipped with a message).
#[allow(unused_macros)] // test crates that only borrow the helpers
macro_rules! conformance_suite {
    ($make:path) => {
        conformance_suite!(@tests $make;
            // The SessionStore contract, called directly.
            create_is_insert_if_absent,
            save_is_compare_and_set,
            rename_is_atomic_and_conditional,
            touch_moves_expiry_of_live_records_only,
            delete_is_idempotent,
            expired_records_are_never_returned_nor_written,
            cleanup_removes_only_expired_records,
            records_round_trip_exactly,
            // Through Mitten's layer, at the HTTP level.
            login_read_logout_and_replay_is_anonymous,
            forced_create_collision_retries_and_spares_the_other_session,
            forced_regenerate_collision_retries_and_spares_the_other_session,
            regenerate_kills_the_old_id_at_once,
            late_save_after_regenerate_is_refused_and_resurrects_nothing,
            late_save_after_destroy_is_refused_and_resurrects_nothing,
            concurrent_requests_changing_different_keys_all_survive,
            concurrent_updates_of_one_key_lose_nothing,
            a_write_from_another_instance_is_replayed_not_lost,
            idle_timeout_expires_and_reads_keep_alive,
            absolute_timeout_ends_even_an_active_session,
            forged_cookies_leave_the_store_empty_and_cost_no_round_trip,
            store_dump_holds_no_session_id,
            key_rotation_keeps_sessions_and_tolerates_stale_cookies,
            round_trips_per_request_type
        );
    };
    (@tests $make:path; $($name:ident),* $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() {
                let Some(h) = $make(stringify!($name)).await else {
                    return;
                };
                crate::conformance::harness::run(h, |h| {
                    Box::pin(crate::conformance::dispatch::$name(h))
                })
                .await;
            }
        )*
    };
}

/// One name space holding every suite function, so the macro can name them
/// without knowing which file they live in.
#[allow(unused_imports)] // test crates that only borrow the helpers
pub mod dispatch {
    pub use super::http::*;
    pub use super::store_api::*;
}
