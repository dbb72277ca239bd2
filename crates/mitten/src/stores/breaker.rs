//! A circuit breaker for stores whose client opens a connection per waiting
//! request when the server is gone (sqlx's pool does: every acquire that
//! finds no idle connection dials the server). Without it, a crowd of
//! requests during an outage is a crowd of connection attempts.
//!
//! Closed: every call goes through. After a call fails because the server
//! is unreachable, the breaker opens for a cooldown: calls fail at once,
//! without touching the network. After the cooldown one call, the probe,
//! goes through while the others keep failing fast; its outcome closes the
//! breaker or opens it for another cooldown.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::session::store::StoreError;

#[derive(Debug)]
pub(crate) struct Breaker {
    cooldown: Duration,
    state: Mutex<State>,
}

#[derive(Debug, Default)]
struct State {
    /// `Some` while open (or half-open once the instant has passed).
    open_until: Option<Instant>,
    /// A probe is in flight.
    probing: bool,
}

/// A call cancelled after running this long (Mitten's store timeout fired
/// while the client was still trying to connect) counts as "unreachable".
/// Shorter cancellations (a browser that went away) say nothing.
const SLOW_CALL: Duration = Duration::from_millis(250);

/// Leave to make one call; report its outcome with [`Permit::done`]. A
/// permit dropped without a report (the call was cancelled) counts as
/// "server unreachable" if it was the probe or ran for [`SLOW_CALL`].
pub(crate) struct Permit<'a> {
    breaker: &'a Breaker,
    probe: bool,
    reported: bool,
    started: Instant,
}

impl Breaker {
    pub(crate) fn new(cooldown: Duration) -> Self {
        Self {
            cooldown,
            state: Mutex::new(State::default()),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        // Two plain fields, always left consistent.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The error [`admit`](Self::admit) would give now, without taking the
    /// probe: lets a caller fail before it queues for anything (the
    /// PostgreSQL pool's queue).
    #[cfg(feature = "postgres")]
    pub(crate) fn check(&self, backend: &'static str) -> Result<(), StoreError> {
        let s = self.lock();
        match s.open_until {
            Some(until) if Instant::now() < until || s.probing => Err(down(backend)),
            _ => Ok(()),
        }
    }

    /// A permit, or an error at once while the server is known to be down.
    pub(crate) fn admit(&self, backend: &'static str) -> Result<Permit<'_>, StoreError> {
        let mut s = self.lock();
        let probe = match s.open_until {
            None => false,
            Some(until) if Instant::now() < until || s.probing => return Err(down(backend)),
            Some(_) => {
                s.probing = true;
                true
            }
        };
        Ok(Permit {
            breaker: self,
            probe,
            reported: false,
            started: Instant::now(),
        })
    }

    fn record(&self, probe: bool, unreachable: bool) {
        let mut s = self.lock();
        if probe {
            s.probing = false;
        }
        s.open_until = if unreachable {
            Some(Instant::now() + self.cooldown)
        } else {
            // The server answered (an SQL error is an answer too).
            None
        };
    }
}

fn down(backend: &str) -> StoreError {
    StoreError::new(format!("{backend} unreachable, retrying shortly"))
}

impl Permit<'_> {
    /// Reports how the call went: `unreachable` when it failed because the
    /// server could not be reached.
    pub(crate) fn done(mut self, unreachable: bool) {
        self.reported = true;
        self.breaker.record(self.probe, unreachable);
    }
}

impl Drop for Permit<'_> {
    fn drop(&mut self) {
        if !self.reported && (self.probe || self.started.elapsed() >= SLOW_CALL) {
            self.breaker.record(self.probe, true);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn opens_fails_fast_then_probes_once() {
        let b = Breaker::new(Duration::from_millis(30));
        b.admit("db").unwrap().done(false);
        b.admit("db").unwrap().done(true);
        // Open: fail fast.
        let err = b.admit("db").err().unwrap().to_string();
        assert!(err.contains("unreachable"), "{err}");
        std::thread::sleep(Duration::from_millis(40));
        // Half-open: one probe, the rest fail fast while it runs.
        let probe = b.admit("db").unwrap();
        assert!(b.admit("db").is_err());
        probe.done(false);
        // Closed again.
        b.admit("db").unwrap().done(false);
        b.admit("db").unwrap().done(false);
    }

    #[test]
    fn a_cancelled_probe_reopens() {
        let b = Breaker::new(Duration::from_millis(20));
        b.admit("db").unwrap().done(true);
        std::thread::sleep(Duration::from_millis(30));
        drop(b.admit("db").unwrap());
        assert!(b.admit("db").is_err(), "cancelled probe counts as down");
        std::thread::sleep(Duration::from_millis(30));
        b.admit("db").unwrap().done(false);
        b.admit("db").unwrap().done(false);
    }

    #[test]
    fn a_slow_cancelled_call_opens_a_quick_one_does_not() {
        let b = Breaker::new(Duration::from_secs(60));
        drop(b.admit("db").unwrap());
        b.admit("db").unwrap().done(false);
        let slow = b.admit("db").unwrap();
        std::thread::sleep(SLOW_CALL);
        drop(slow);
        assert!(b.admit("db").is_err());
    }

    #[test]
    fn a_failing_probe_reopens() {
        let b = Breaker::new(Duration::from_millis(20));
        b.admit("db").unwrap().done(true);
        std::thread::sleep(Duration::from_millis(30));
        b.admit("db").unwrap().done(true);
        assert!(b.admit("db").is_err());
    }
}
