//! The state every request handler and middleware can reach: settings, the database, the
//! password hasher, the server's secret, the running calls, sessions and caches. One shared
//! pointer, because every middleware layer clones it for every request.

use std::{sync::Arc, time::Duration};

use crate::{
    auth::{Passwords, secret::ServerSecret},
    cache::Caches,
    config::Config,
    db::{self, sessions::SessionTable},
    signaling::Signaling,
};

/// What every handler can reach. Every middleware layer clones it for every request, so it is one
/// shared pointer rather than a bundle of them.
#[derive(Clone, Debug)]
pub struct AppState(Arc<Shared>);

impl AppState {
    /// Shares `parts` with every handler.
    pub fn new(parts: Shared) -> Self {
        Self(Arc::new(parts))
    }
}

impl std::ops::Deref for AppState {
    type Target = Shared;

    fn deref(&self) -> &Shared {
        &self.0
    }
}

/// The parts of [`AppState`].
#[derive(Debug)]
pub struct Shared {
    pub config: Arc<Config>,
    pub db: crate::db::Pool,
    pub passwords: Passwords,
    /// The generated CA certificate, when the server made its own.
    pub ca_pem: Option<Arc<str>>,
    /// Signs call tickets and keys access-code hashes.
    pub secret: ServerSecret,
    /// The running calls.
    pub signaling: Signaling,
    /// Staff and relatives' sessions (one store, one in-memory cache).
    pub sessions: SessionTable,
    /// Accounts and open rooms, kept in memory between writes.
    pub caches: Arc<Caches>,
    /// One checked write at a time asks SQLite for the write lock ([`db::begin_write`]).
    pub write_gate: db::WriteGate,
    /// The last write probe of `/healthz`: when, and what it found.
    pub last_probe: std::sync::Mutex<Option<(std::time::Instant, Result<(), &'static str>)>>,
}

impl Shared {
    /// Whether the database can write now; a success is trusted for a second (`/healthz` needs
    /// no login, so its cost must not be anyone's to multiply).
    pub async fn write_health(&self) -> Result<(), &'static str> {
        let recent = *self
            .last_probe
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        // Only a success is reused: while writes fail, every call looks again, so the answer
        // turns to `ok` as soon as space is back (and a failing write costs next to nothing).
        if let Some((at, Ok(()))) = recent
            && at.elapsed() < Duration::from_secs(1)
        {
            return Ok(());
        }
        let result = match db::probe_write(&self.db).await {
            Ok(()) => Ok(()),
            Err(err) => Err(db::StorageFailure::of(&err).map_or("database error", |f| f.reason())),
        };
        *self
            .last_probe
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) =
            Some((std::time::Instant::now(), result));
        result
    }
}
