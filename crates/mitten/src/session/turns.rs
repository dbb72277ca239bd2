//! Writers of one session within this process take turns.
//!
//! Compare-and-set alone is correct across any number of instances, but a
//! crowd of requests on one session (a page firing many `fetch` calls) then
//! keeps losing to itself: each save invalidates every other request's read
//! and they all go round again. Within one process they need not race at
//! all: the second writer waits for the first, re-reads once and saves.
//! Only writers in other instances are left to the compare-and-set.

use std::collections::HashMap;
use std::sync::{Arc, LazyLock, Mutex, Weak};

use tokio::sync::OwnedMutexGuard;

use super::store::StoreKey;

type Turn = Arc<tokio::sync::Mutex<()>>;

#[derive(Default)]
struct Registry {
    turns: HashMap<StoreKey, Weak<tokio::sync::Mutex<()>>>,
    /// Drop dead entries once the map grows past this.
    prune_at: usize,
}

// Keyed by store key alone: store keys are keyed hashes of random 128-bit
// ids, so two apps (or stores) in one process never share one by chance;
// if they did, they would only take turns, never see each other's data.
static REGISTRY: LazyLock<Mutex<Registry>> = LazyLock::new(Mutex::default);

/// This process's turn to write `key`, and whether another writer of the
/// same session had it first (then the caller's read is probably stale).
pub(crate) async fn take(key: &StoreKey) -> (OwnedMutexGuard<()>, bool) {
    let turn: Turn = {
        // The registry holds plain map entries; poisoning leaves none torn.
        let mut reg = REGISTRY.lock().unwrap_or_else(|e| e.into_inner());
        match reg.turns.get(key).and_then(Weak::upgrade) {
            Some(turn) => turn,
            None => {
                if reg.turns.len() >= reg.prune_at.max(1024) {
                    reg.turns.retain(|_, t| t.strong_count() > 0);
                    reg.prune_at = reg.turns.len() * 2;
                }
                let turn = Turn::default();
                reg.turns.insert(key.clone(), Arc::downgrade(&turn));
                turn
            }
        }
    };
    match turn.clone().try_lock_owned() {
        Ok(guard) => (guard, false),
        Err(_) => (turn.lock_owned().await, true),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn writers_of_one_key_take_turns_others_do_not_wait() {
        let a = StoreKey::from_string("a".repeat(64));
        let b = StoreKey::from_string("b".repeat(64));
        let (first, waited) = take(&a).await;
        assert!(!waited);
        let (_other, waited) = take(&b).await;
        assert!(!waited, "another session never waits");
        let second =
            tokio::spawn(async move { take(&StoreKey::from_string("a".repeat(64))).await.1 });
        tokio::task::yield_now().await;
        assert!(!second.is_finished());
        drop(first);
        assert!(second.await.unwrap(), "the second writer waited");
    }
}
