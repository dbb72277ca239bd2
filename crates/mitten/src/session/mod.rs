//! Server-side sessions that resist fixation.
//!
//! The cookie carries only a random 128-bit id, signed with the app key. The
//! data lives in a [`SessionStore`](store::SessionStore); the store files it under a keyed hash of
//! the id. Data is loaded the first time a handler touches the session and
//! written back only when it changed, with compare-and-set, so concurrent
//! requests on one session lose nothing.
//!
//! ```
//! use axum::{routing::post, Router};
//! use mitten::{Session, SessionError};
//!
//! async fn login(session: Session) -> Result<&'static str, SessionError> {
//!     session.regenerate().await?; // new id after a privilege change
//!     session.insert("user", "alice").await?;
//!     Ok("welcome")
//! }
//! let app: Router = Router::new().route("/login", post(login));
//! ```

pub(crate) mod cookie;
pub(crate) mod id;
pub mod memory;
pub mod store;
mod turns;

use std::sync::{Arc, Mutex as SyncMutex};
use std::time::Duration;

use axum::extract::FromRequestParts;
use axum::response::{IntoResponse, Response};
use http::request::Parts;
use http::StatusCode;
use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::Value;

use crate::config::Config;
use cookie::RawCookie;
use id::SessionId;
use store::{now_ms, Record, RenameOutcome, SaveOutcome, SessionData, StoreError, StoreKey};

/// An error from a session operation. It is an [`IntoResponse`], so handlers
/// can use `?`: a store failure becomes `503 Service Unavailable`, never an
/// empty session.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SessionError {
    /// The store failed or timed out.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A value could not be (de)serialized.
    #[error("session value could not be (de)serialized: {0}")]
    Serde(SerdeError),
    /// The session data would exceed the configured size limit.
    #[error("session data would be {size} bytes, over the {limit}-byte limit")]
    TooLarge {
        /// Serialized size the change would have produced.
        size: usize,
        /// The configured limit.
        limit: usize,
    },
    /// Another request destroyed or regenerated this session while this one
    /// was running; its changes were not saved (a late save never brings a
    /// session back).
    #[error("the session was ended by a concurrent request")]
    Ended,
    /// Concurrent writers kept winning the compare-and-set.
    #[error("too many concurrent changes to the session")]
    Contended,
    /// The OS random number generator failed.
    #[error("the OS random number generator failed")]
    Random,
    /// The handler ran without Mitten's layer in front of it.
    #[error("mitten layer missing: add `.layer(mitten.layer())` to the router")]
    MissingLayer,
}

impl SessionError {
    /// The HTTP status this error answers with.
    pub fn status(&self) -> StatusCode {
        match self {
            Self::Store(_) => StatusCode::SERVICE_UNAVAILABLE,
            Self::TooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            Self::Ended | Self::Contended => StatusCode::CONFLICT,
            Self::Serde(_) | Self::Random | Self::MissingLayer => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
}

impl IntoResponse for SessionError {
    fn into_response(self) -> Response {
        let status = self.status();
        tracing::error!(target: "mitten::session", error = %self, status = status.as_u16(), "session error");
        let body = match &self {
            Self::Store(_) => "session store unavailable, try again",
            Self::TooLarge { .. } => "session data too large",
            Self::Ended => "the session ended while this request ran",
            Self::Contended => "too many concurrent changes to the session, try again",
            Self::Serde(_) | Self::Random | Self::MissingLayer => "internal error",
        };
        (status, body).into_response()
    }
}

/// Why a session value could not be (de)serialized, without the value.
///
/// serde's own messages quote the offending data (`invalid type: string
/// "…", expected u64`), and session data may be secret, so `Display` and
/// `Debug` give only the category and position. The full error is
/// [`into_inner`](Self::into_inner) for code that knows the data is safe
/// to show.
pub struct SerdeError(serde_json::Error);

impl SerdeError {
    /// The kind of failure (`Data` for a type mismatch).
    pub fn classify(&self) -> serde_json::error::Category {
        self.0.classify()
    }

    /// The underlying error; its message may contain session data.
    pub fn into_inner(self) -> serde_json::Error {
        self.0
    }
}

impl std::fmt::Display for SerdeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:?} error", self.0.classify())?;
        if self.0.line() > 0 {
            write!(f, " at line {}, column {}", self.0.line(), self.0.column())?;
        }
        Ok(())
    }
}

impl std::fmt::Debug for SerdeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SerdeError({self})")
    }
}

impl std::error::Error for SerdeError {}

impl From<serde_json::Error> for SessionError {
    fn from(e: serde_json::Error) -> Self {
        Self::Serde(SerdeError(e))
    }
}

impl From<getrandom::Error> for SessionError {
    fn from(_: getrandom::Error) -> Self {
        Self::Random
    }
}

/// What the request's cookie said.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum CookieId {
    /// No session cookie.
    Absent,
    /// A cookie that verified, and the index of the key that signed it.
    Valid(SessionId, usize),
    /// A cookie was sent but did not verify (or several disagreed).
    Invalid,
}

struct IdState {
    /// `current` has been set from the cookie (which verifies it); until
    /// then nothing has asked for the id.
    resolved: bool,
    /// The id the browser should hold after this response.
    current: Option<SessionId>,
    /// `current` was minted in this request and nothing is stored under it.
    fresh: bool,
    /// Re-send the cookie even if the id did not change (key rotation).
    reissue: bool,
    /// A CSRF token was handed out: the response must not be cached.
    csrf_minted: bool,
    /// The last store key computed (an HMAC), so loading and saving one
    /// session in one request hashes its id once.
    store_key: Option<(SessionId, StoreKey)>,
}

type UpdateFn = Arc<dyn Fn(Option<Value>) -> Result<Value, serde_json::Error> + Send + Sync>;

/// One change made by the handler, kept so it can be replayed on the newest
/// stored data when a compare-and-set loses to a concurrent request.
#[derive(Clone)]
enum Op {
    Set(String, Value),
    Remove(String),
    Update(String, UpdateFn),
    Clear,
}

impl Op {
    fn apply(&self, data: &mut SessionData) -> Result<(), serde_json::Error> {
        match self {
            Op::Set(k, v) => {
                data.insert(k.clone(), v.clone());
            }
            Op::Remove(k) => {
                data.remove(k);
            }
            Op::Update(k, f) => {
                let new = f(data.remove(k))?;
                data.insert(k.clone(), new);
            }
            Op::Clear => data.clear(),
        }
        Ok(())
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Load {
    NotLoaded,
    /// No record in the store for the current id.
    Absent,
    Present {
        version: u64,
        created_at_ms: u64,
        expires_at_ms: u64,
    },
}

struct DataState {
    load: Load,
    data: SessionData,
    ops: Vec<Op>,
    destroyed: bool,
}

pub(crate) struct Shared {
    cfg: Arc<Config>,
    /// The cookie as sent; verified the first time anything needs the id.
    raw_cookie: RawCookie,
    cookie: std::sync::OnceLock<CookieId>,
    ids: SyncMutex<IdState>,
    data: tokio::sync::Mutex<DataState>,
    /// The response's CSP nonce, made the first time a handler asks. It
    /// lives here because this is the one per-request state the layer
    /// already allocates.
    nonce: std::sync::OnceLock<String>,
}

/// The session of the current request; an axum extractor.
///
/// Cloning is cheap and all clones share one state. All methods that may
/// touch the store are `async` and return [`SessionError`], which answers
/// `503` when the store is down.
#[derive(Clone)]
pub struct Session {
    shared: Arc<Shared>,
}

impl std::fmt::Debug for Session {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Session(<redacted>)")
    }
}

impl<S: Send + Sync> FromRequestParts<S> for Session {
    type Rejection = SessionError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        parts
            .extensions
            .get::<Session>()
            .cloned()
            .ok_or(SessionError::MissingLayer)
    }
}

/// What the layer must do to the response once the handler is done.
#[derive(Debug, Default)]
pub(crate) struct Outcome {
    /// `Set-Cookie` value to add (a new id, or a removal).
    pub(crate) set_cookie: Option<String>,
    /// The session was read or written: responses vary by cookie.
    pub(crate) accessed: bool,
    /// Session-bearing response (new cookie or CSRF token): never cache it.
    pub(crate) no_store: bool,
    /// The session was destroyed by this request.
    pub(crate) destroyed: bool,
}

fn lock_ids(m: &SyncMutex<IdState>) -> std::sync::MutexGuard<'_, IdState> {
    // IdState is a few plain fields updated together; a poisoned lock holds
    // no torn state worth refusing.
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl Session {
    /// A session for a request whose cookie is verified only if needed.
    pub(crate) fn new(cfg: Arc<Config>, raw_cookie: RawCookie) -> Self {
        Self::with(cfg, raw_cookie, std::sync::OnceLock::new())
    }

    /// A session for a request whose cookie was already verified (the CSRF
    /// check needs the id).
    pub(crate) fn verified(cfg: Arc<Config>, raw_cookie: RawCookie, cookie: CookieId) -> Self {
        Self::with(cfg, raw_cookie, std::sync::OnceLock::from(cookie))
    }

    fn with(
        cfg: Arc<Config>,
        raw_cookie: RawCookie,
        cookie: std::sync::OnceLock<CookieId>,
    ) -> Self {
        Self {
            shared: Arc::new(Shared {
                cfg,
                raw_cookie,
                cookie,
                ids: SyncMutex::new(IdState {
                    resolved: false,
                    current: None,
                    fresh: false,
                    reissue: false,
                    csrf_minted: false,
                    store_key: None,
                }),
                data: tokio::sync::Mutex::new(DataState {
                    load: Load::NotLoaded,
                    data: SessionData::new(),
                    ops: Vec::new(),
                    destroyed: false,
                }),
                nonce: std::sync::OnceLock::new(),
            }),
        }
    }

    /// What the request's cookie says, verified once.
    fn cookie(&self) -> CookieId {
        *self.shared.cookie.get_or_init(|| {
            let cfg = &self.shared.cfg;
            self.shared
                .raw_cookie
                .verify(&cfg.keys, &cfg.session.cookie_name)
        })
    }

    /// The id state, starting from the cookie's id the first time.
    fn ids(&self) -> std::sync::MutexGuard<'_, IdState> {
        let mut ids = lock_ids(&self.shared.ids);
        if !ids.resolved {
            ids.current = match self.cookie() {
                CookieId::Valid(id, _) => Some(id),
                _ => None,
            };
            ids.resolved = true;
        }
        ids
    }

    fn cfg(&self) -> &Config {
        &self.shared.cfg
    }

    async fn store_call<T>(
        &self,
        fut: impl std::future::Future<Output = Result<T, StoreError>>,
    ) -> Result<T, SessionError> {
        match tokio::time::timeout(self.cfg().session.store_timeout, fut).await {
            Ok(r) => r.map_err(SessionError::from),
            Err(_) => Err(StoreError::new("store call timed out").into()),
        }
    }

    /// The store key of `id` under the current secret key. Never called
    /// while the id state is locked (it takes that lock).
    fn key_for(&self, id: &SessionId) -> StoreKey {
        let mut ids = lock_ids(&self.shared.ids);
        match &ids.store_key {
            Some((memo, key)) if memo == id => key.clone(),
            _ => {
                let key = id.store_key(self.cfg().keys.current());
                ids.store_key = Some((*id, key.clone()));
                key
            }
        }
    }

    fn expiry(&self, created_at_ms: u64, now: u64) -> u64 {
        let s = &self.cfg().session;
        (now + s.idle_timeout.as_millis() as u64)
            .min(created_at_ms + s.absolute_timeout.as_millis() as u64)
    }

    /// Loads the record for the current id once; later calls are free.
    async fn ensure_loaded(&self, st: &mut DataState) -> Result<(), SessionError> {
        if st.load != Load::NotLoaded {
            return Ok(());
        }
        let (id, fresh) = {
            let ids = self.ids();
            (ids.current, ids.fresh)
        };
        let Some(id) = id.filter(|_| !fresh) else {
            st.load = Load::Absent;
            return Ok(());
        };
        let key_index = match self.cookie() {
            CookieId::Valid(cid, k) if cid == id => k,
            _ => 0,
        };
        let key = match self.cfg().keys.get(key_index) {
            Some(fallback) if key_index != 0 => id.store_key(fallback),
            _ => self.key_for(&id),
        };
        let record = self.load_live(&key).await?;
        let record = match record {
            Some(record) if key_index != 0 => self.migrate(&id, &key, record).await?,
            // Signed with a fallback key, yet nothing under that key's hash:
            // an earlier request may have moved it under the current key
            // already, before the browser took the re-signed cookie (parallel
            // requests, a lost response, another instance).
            None if key_index != 0 => {
                let moved = self.load_live(&self.key_for(&id)).await?;
                if moved.is_some() {
                    self.ids().reissue = true;
                }
                moved
            }
            other => other,
        };
        match record {
            Some(record) => {
                st.load = Load::Present {
                    version: record.version,
                    created_at_ms: record.created_at_ms,
                    expires_at_ms: record.expires_at_ms,
                };
                st.data = record.data;
            }
            None => {
                // Never adopt an id the store does not know: the next write
                // gets a new id.
                st.load = Load::Absent;
                self.ids().current = None;
            }
        }
        Ok(())
    }

    /// The record under `key` if it is live by this instance's clock too.
    async fn load_live(&self, key: &StoreKey) -> Result<Option<Record>, SessionError> {
        let now = now_ms();
        let abs = self.cfg().session.absolute_timeout.as_millis() as u64;
        Ok(self
            .store_call(self.cfg().store.load(key))
            .await?
            // Belt and braces: never trust a store to have honoured expiry,
            // and honour a shortened absolute timeout at once.
            .filter(|r| !r.is_expired(now) && now < r.created_at_ms.saturating_add(abs)))
    }

    /// A session found under a fallback key's hash moves under the current
    /// key's hash (atomically), and its cookie is re-signed. A concurrent
    /// request may have moved it first: then it is read from its new place;
    /// or written it under the old hash (an instance not yet rotated): then
    /// that newer version is moved.
    async fn migrate(
        &self,
        id: &SessionId,
        old_key: &StoreKey,
        mut record: Record,
    ) -> Result<Option<Record>, SessionError> {
        let new_key = self.key_for(id);
        let store = &self.cfg().store;
        let mut moved = None;
        for _ in 0..self.cfg().session.max_save_attempts {
            let expected = record.version;
            record.version += 1;
            match self
                .store_call(store.rename(old_key, &new_key, &record, expected))
                .await?
            {
                RenameOutcome::Renamed => {
                    moved = Some(record);
                    break;
                }
                RenameOutcome::Conflict => match self.load_live(old_key).await? {
                    Some(newer) => record = newer,
                    None => break,
                },
                RenameOutcome::Missing | RenameOutcome::Collision => break,
            }
        }
        let moved = match moved {
            Some(record) => Some(record),
            None => self.load_live(&new_key).await?,
        };
        if moved.is_some() {
            self.ids().reissue = true;
        }
        Ok(moved)
    }

    fn check_size(&self, data: &SessionData) -> Result<(), SessionError> {
        let limit = self.cfg().session.max_data_bytes;
        let size = serde_json::to_vec(data)?.len();
        if size > limit {
            return Err(SessionError::TooLarge { size, limit });
        }
        Ok(())
    }

    async fn apply(&self, op: Op) -> Result<(), SessionError> {
        let mut st = self.shared.data.lock().await;
        self.ensure_loaded(&mut st).await?;
        let mut next = st.data.clone();
        op.apply(&mut next)?;
        self.check_size(&next)?;
        st.data = next;
        st.ops.push(op);
        Ok(())
    }

    /// The value under `key`, if any.
    pub async fn get<T: DeserializeOwned>(&self, key: &str) -> Result<Option<T>, SessionError> {
        let mut st = self.shared.data.lock().await;
        self.ensure_loaded(&mut st).await?;
        match st.data.get(key) {
            Some(v) => Ok(Some(T::deserialize(v)?)),
            None => Ok(None),
        }
    }

    /// Stores `value` under `key`.
    pub async fn insert<T: Serialize>(&self, key: &str, value: T) -> Result<(), SessionError> {
        let value = serde_json::to_value(value)?;
        self.apply(Op::Set(key.to_owned(), value)).await
    }

    /// Removes `key` and returns its old value, if any.
    pub async fn remove<T: DeserializeOwned>(&self, key: &str) -> Result<Option<T>, SessionError> {
        let old = self.get::<Value>(key).await?;
        if old.is_none() {
            return Ok(None);
        }
        self.apply(Op::Remove(key.to_owned())).await?;
        Ok(old.map(T::deserialize).transpose()?)
    }

    /// Removes every key (the id stays; use [`destroy`](Self::destroy) to end
    /// the session).
    pub async fn clear(&self) -> Result<(), SessionError> {
        self.apply(Op::Clear).await
    }

    /// Read-modify-write of one key that loses nothing under concurrency:
    /// if another request changed the session first, `f` runs again on the
    /// newest stored value before saving. `f` may therefore run more than
    /// once, and must be free of side effects. The value returned is `f`'s
    /// result on the data this request read; the value finally stored may
    /// also hold concurrent requests' changes.
    ///
    /// ```
    /// # async fn h(session: mitten::Session) -> Result<(), mitten::SessionError> {
    /// session
    ///     .update("notes", |notes: Option<Vec<String>>| {
    ///         let mut notes = notes.unwrap_or_default();
    ///         notes.push("hello".into());
    ///         notes
    ///     })
    ///     .await?;
    /// # Ok(()) }
    /// ```
    pub async fn update<T, F>(&self, key: &str, f: F) -> Result<T, SessionError>
    where
        T: Serialize + DeserializeOwned,
        F: Fn(Option<T>) -> T + Send + Sync + 'static,
    {
        let op: UpdateFn = Arc::new(move |old: Option<Value>| {
            let old = old.map(T::deserialize).transpose()?;
            serde_json::to_value(f(old))
        });
        self.apply(Op::Update(key.to_owned(), op)).await?;
        let st = self.shared.data.lock().await;
        let v = st.data.get(key).cloned().unwrap_or(Value::Null);
        Ok(T::deserialize(v)?)
    }

    /// True when the session holds no data.
    pub async fn is_empty(&self) -> Result<bool, SessionError> {
        let mut st = self.shared.data.lock().await;
        self.ensure_loaded(&mut st).await?;
        Ok(st.data.is_empty())
    }

    /// Gives the session a new id and keeps its data; the old id is dead at
    /// once, in this and every other instance. Call it on every privilege
    /// change (login, logout of an elevated role). CSRF tokens minted before
    /// are invalid afterwards.
    pub async fn regenerate(&self) -> Result<(), SessionError> {
        let mut st = self.shared.data.lock().await;
        self.ensure_loaded(&mut st).await?;
        let old_id = self.ids().current;
        let attempts = self.cfg().session.max_save_attempts;
        if let (Load::Present { .. }, Some(old_id)) = (st.load, old_id) {
            let from = self.key_for(&old_id);
            for _ in 0..attempts {
                let Load::Present {
                    version,
                    created_at_ms,
                    ..
                } = st.load
                else {
                    break;
                };
                let new_id = SessionId::random()?;
                let now = now_ms();
                let record = Record {
                    data: st.data.clone(),
                    version: version + 1,
                    created_at_ms,
                    expires_at_ms: self.expiry(created_at_ms, now),
                };
                let to = self.key_for(&new_id);
                match self
                    .store_call(self.cfg().store.rename(&from, &to, &record, version))
                    .await?
                {
                    RenameOutcome::Renamed => {
                        st.load = Load::Present {
                            version: record.version,
                            created_at_ms,
                            expires_at_ms: record.expires_at_ms,
                        };
                        st.ops.clear();
                        let mut ids = self.ids();
                        ids.current = Some(new_id);
                        ids.fresh = false;
                        return Ok(());
                    }
                    RenameOutcome::Collision => continue,
                    RenameOutcome::Conflict => self.reload_and_replay(&mut st, &from).await?,
                    RenameOutcome::Missing => {
                        // Ended by a concurrent request: start afresh with
                        // only this request's changes.
                        self.replay_onto(&mut st, SessionData::new())?;
                        st.load = Load::Absent;
                    }
                }
            }
            if matches!(st.load, Load::Present { .. }) {
                return Err(SessionError::Contended);
            }
        }
        // Nothing stored yet: a fresh id is enough; the data is created
        // under it when the response is finished.
        let mut ids = self.ids();
        ids.current = Some(SessionId::random()?);
        ids.fresh = true;
        Ok(())
    }

    /// Ends the session: deletes it from the store now and expires the
    /// cookie with the same attributes it was set with. Writing to the
    /// session afterwards starts a new one with a new id.
    pub async fn destroy(&self) -> Result<(), SessionError> {
        let mut st = self.shared.data.lock().await;
        let (id, fresh) = {
            let ids = self.ids();
            (ids.current, ids.fresh)
        };
        if let Some(id) = id.filter(|_| !fresh) {
            let key = self.key_for(&id);
            self.store_call(self.cfg().store.delete(&key)).await?;
            if let CookieId::Valid(cid, k) = self.cookie() {
                if k != 0 && cid == id {
                    let old =
                        id.store_key(self.cfg().keys.get(k).unwrap_or(self.cfg().keys.current()));
                    self.store_call(self.cfg().store.delete(&old)).await?;
                }
            }
        }
        st.load = Load::Absent;
        st.data.clear();
        st.ops.clear();
        st.destroyed = true;
        let mut ids = self.ids();
        ids.current = None;
        ids.fresh = false;
        ids.reissue = false;
        Ok(())
    }

    /// A freshly masked CSRF token bound to this session. Starts a session
    /// id (cookie only, no store write) when the browser has none.
    pub fn csrf_token(&self) -> Result<String, SessionError> {
        let mut ids = self.ids();
        let id = match ids.current {
            Some(id) => id,
            None => {
                let id = SessionId::random()?;
                ids.current = Some(id);
                ids.fresh = true;
                id
            }
        };
        ids.csrf_minted = true;
        Ok(crate::csrf::token::mint(&self.cfg().keys, &id)?)
    }

    /// True when nothing was read, written, minted or destroyed: the
    /// response needs no store call, no cookie and no await. Checked
    /// without waiting (a held lock counts as touched).
    pub(crate) fn is_untouched(&self) -> bool {
        let Ok(st) = self.shared.data.try_lock() else {
            return false;
        };
        if st.load != Load::NotLoaded || !st.ops.is_empty() || st.destroyed {
            return false;
        }
        // Unresolved ids mean nothing asked for the id: nothing to do, and
        // no reason to verify the cookie now.
        let ids = lock_ids(&self.shared.ids);
        if !ids.resolved {
            return true;
        }
        let cookie_id = match self.cookie() {
            CookieId::Valid(id, _) => Some(id),
            _ => None,
        };
        !ids.csrf_minted && !ids.reissue && !ids.fresh && ids.current == cookie_id
    }

    /// This response's CSP nonce (the same for every call in a request).
    pub(crate) fn csp_nonce(&self) -> Result<String, SessionError> {
        if let Some(n) = self.shared.nonce.get() {
            return Ok(n.clone());
        }
        let fresh = crate::csp::new_nonce()?;
        // Two first callers racing: whichever set it first wins for both.
        Ok(self.shared.nonce.get_or_init(|| fresh).clone())
    }

    /// The nonce, if a handler asked for one.
    pub(crate) fn nonce_if_used(&self) -> Option<&str> {
        self.shared.nonce.get().map(String::as_str)
    }

    fn replay_onto(&self, st: &mut DataState, mut base: SessionData) -> Result<(), SessionError> {
        for op in &st.ops {
            op.apply(&mut base)?;
        }
        self.check_size(&base)?;
        st.data = base;
        Ok(())
    }

    /// After a lost compare-and-set: take the newest stored record and
    /// re-apply this request's changes on top of it.
    async fn reload_and_replay(
        &self,
        st: &mut DataState,
        key: &StoreKey,
    ) -> Result<(), SessionError> {
        match self.store_call(self.cfg().store.load(key)).await? {
            Some(fresh) => {
                st.load = Load::Present {
                    version: fresh.version,
                    created_at_ms: fresh.created_at_ms,
                    expires_at_ms: fresh.expires_at_ms,
                };
                self.replay_onto(st, fresh.data)
            }
            None => Err(SessionError::Ended),
        }
    }

    /// Persists the changes (if any) and says what the response needs.
    pub(crate) async fn finish(&self) -> Result<Outcome, SessionError> {
        let mut st = self.shared.data.lock().await;
        if !st.ops.is_empty() {
            self.persist(&mut st).await?;
        } else if let Load::Present {
            created_at_ms,
            expires_at_ms,
            ..
        } = st.load
        {
            self.maybe_touch(created_at_ms, expires_at_ms).await;
        }
        Ok(self.outcome(&st))
    }

    /// What the response needs when finishing takes no store call (nothing
    /// to save, no idle refresh due): the common read-only request, done
    /// without an await. `None` when [`finish`](Self::finish) must run.
    pub(crate) fn finish_now(&self) -> Option<Outcome> {
        let st = self.shared.data.try_lock().ok()?;
        if !st.ops.is_empty() {
            return None;
        }
        if let Load::Present {
            created_at_ms,
            expires_at_ms,
            ..
        } = st.load
        {
            if self.touch_due(created_at_ms, expires_at_ms).is_some() {
                return None;
            }
        }
        Some(self.outcome(&st))
    }

    /// The cookie and caching decisions once the data is settled.
    fn outcome(&self, st: &DataState) -> Outcome {
        let accessed = st.load != Load::NotLoaded || st.destroyed;
        let destroyed = st.destroyed;
        let ids = self.ids();
        let cookie_id = match self.cookie() {
            CookieId::Valid(id, _) => Some(id),
            _ => None,
        };
        let set_cookie = match ids.current {
            Some(id) if Some(id) != cookie_id || ids.reissue => {
                Some(self.cfg().session.cookie_header(
                    &id.to_cookie_value(&self.cfg().keys, &self.cfg().session.cookie_name),
                ))
            }
            None if destroyed && self.cookie() != CookieId::Absent => {
                Some(self.cfg().session.removal_header())
            }
            _ => None,
        };
        Outcome {
            no_store: set_cookie.is_some() || ids.csrf_minted,
            accessed: accessed || ids.csrf_minted,
            set_cookie,
            destroyed,
        }
    }

    async fn persist(&self, st: &mut DataState) -> Result<(), SessionError> {
        let attempts = self.cfg().session.max_save_attempts;
        // Set when a compare-and-set lost: the key to re-read before the
        // next try.
        let mut stale: Option<StoreKey> = None;
        // Writers of this session in this process go one at a time (see
        // `turns`); one that had to wait re-reads before its first try.
        let current = self.ids().current;
        let _turn = match (st.load, current) {
            (Load::Present { .. }, Some(id)) => {
                let key = self.key_for(&id);
                let (turn, waited) = turns::take(&key).await;
                if waited {
                    stale = Some(key);
                }
                Some(turn)
            }
            _ => None,
        };
        for attempt in 0..attempts {
            // The first retry is at once (the writer that won is done); only
            // later ones, which lose to other instances, back off.
            if attempt > 1 {
                backoff(attempt - 1).await;
            }
            // Re-read after the pause, not before it: the version tried is
            // then one round trip old, not one pause old, so a crowd of
            // writers on one session stops invalidating each other's reads
            // while they sleep.
            if let Some(key) = stale.take() {
                self.reload_and_replay(st, &key).await?;
            }
            let now = now_ms();
            match st.load {
                Load::NotLoaded => unreachable!("ops imply a load"),
                Load::Present {
                    version,
                    created_at_ms,
                    ..
                } => {
                    let id = self.ids().current.expect("a present record has an id");
                    let key = self.key_for(&id);
                    let record = Record {
                        data: st.data.clone(),
                        version: version + 1,
                        created_at_ms,
                        expires_at_ms: self.expiry(created_at_ms, now),
                    };
                    match self
                        .store_call(self.cfg().store.save(&key, &record, version))
                        .await?
                    {
                        SaveOutcome::Saved => {
                            st.ops.clear();
                            return Ok(());
                        }
                        SaveOutcome::Conflict => stale = Some(key),
                        SaveOutcome::Missing => return Err(SessionError::Ended),
                    }
                }
                Load::Absent => {
                    if st.data.is_empty() {
                        st.ops.clear();
                        return Ok(());
                    }
                    let id = {
                        let mut ids = self.ids();
                        match ids.current.filter(|_| ids.fresh && attempt == 0) {
                            Some(id) => id,
                            None => {
                                let id = SessionId::random()?;
                                ids.current = Some(id);
                                ids.fresh = true;
                                id
                            }
                        }
                    };
                    let record = Record {
                        data: st.data.clone(),
                        version: 1,
                        created_at_ms: now,
                        expires_at_ms: self.expiry(now, now),
                    };
                    if self
                        .store_call(self.cfg().store.create(&self.key_for(&id), &record))
                        .await?
                    {
                        st.load = Load::Present {
                            version: 1,
                            created_at_ms: now,
                            expires_at_ms: record.expires_at_ms,
                        };
                        self.ids().fresh = false;
                        st.ops.clear();
                        return Ok(());
                    }
                }
            }
        }
        Err(SessionError::Contended)
    }

    /// Idle-timeout refresh without rewriting the data, and only once a
    /// tenth of the idle window has passed, so reads stay read-only.
    /// The new idle deadline, when it has moved by a tenth of the idle
    /// window or more (so reads stay read-only most of the time).
    fn touch_due(&self, created_at_ms: u64, expires_at_ms: u64) -> Option<u64> {
        let idle = self.cfg().session.idle_timeout.as_millis() as u64;
        let target = self.expiry(created_at_ms, now_ms());
        (target > expires_at_ms && target - expires_at_ms >= idle / 10).then_some(target)
    }

    /// Idle-timeout refresh without rewriting the data.
    async fn maybe_touch(&self, created_at_ms: u64, expires_at_ms: u64) {
        if let Some(target) = self.touch_due(created_at_ms, expires_at_ms) {
            let Some(id) = self.ids().current else {
                return;
            };
            let key = self.key_for(&id);
            if let Err(e) = self.store_call(self.cfg().store.touch(&key, target)).await {
                // The data is intact; only the idle deadline did not move.
                tracing::warn!(target: "mitten::session", error = %e, "idle-timeout refresh failed");
            }
        }
    }
}

async fn backoff(attempt: u32) {
    // "Full jitter" exponential backoff: a random pause in
    // [0, min(2^attempt, 256)] ms. Spreading the retries over a window that
    // grows with the failures is what lets many writers on one session
    // finish (a fixed pause keeps them in lockstep, one winner per round).
    let cap = 1u64 << attempt.min(8);
    let r = crate::keys::random_bytes::<2>()
        .map(u16::from_le_bytes)
        .unwrap_or(0);
    let ms = u64::from(r) % (cap + 1);
    tokio::time::sleep(Duration::from_millis(ms)).await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn type_error_on_session_data_never_quotes_the_data_in_its_message() {
        let secret = Value::String("hunter2-session-secret".into());
        let e: SessionError = serde_json::from_value::<u64>(secret).unwrap_err().into();
        for shown in [e.to_string(), format!("{e:?}")] {
            assert!(!shown.contains("hunter2"), "{shown}");
            assert!(shown.contains("Data error"), "{shown}");
        }
        let SessionError::Serde(inner) = e else {
            panic!("not a serde error")
        };
        assert!(inner.into_inner().to_string().contains("hunter2"));
    }
}
