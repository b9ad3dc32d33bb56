//! Server-side staff sessions for tower-sessions, in the application's own database.
//!
//! The released `tower-sessions-sqlx-store` still needs sqlx 0.8; this is the small store it
//! would have given us: create, save, load, delete and expired deletion. On SQLite (one node)
//! sessions are also kept in memory, so a page view reads no session from disk; the database stays
//! the truth (a save only lands in memory once it landed in the database, so a deleted session
//! cannot come back). On PostgreSQL every node reads the table: a logout on one node must end
//! the session on all of them at once, and a primary-key read is cheap.
//!
//! The table never holds a session id itself, only its SHA-256 ([`stored_key`]): the id is the
//! cookie value, and a copy of the database file (a backup, a stolen disk) must not let anyone
//! take over a signed-in nurse's session. 128 random bits need no salt or slow hash.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex, PoisonError},
};

use super::Pool;
use tower_sessions::{
    session::{Id, Record},
    session_store::{self, ExpiredDeletion, SessionStore},
};

/// Sessions kept in the `sessions` table.
#[derive(Debug, Clone)]
pub struct SessionTable {
    pool: Pool,
    /// Only on SQLite: a node's memory cannot see another node's logout.
    cache: Option<Arc<Mutex<HashMap<Id, Record>>>>,
}

/// The in-memory copy, locked; `None` on PostgreSQL, which keeps none.
type CacheGuard<'a> = Option<std::sync::MutexGuard<'a, HashMap<Id, Record>>>;

impl SessionTable {
    /// A store on the application's pool.
    pub fn new(pool: Pool) -> Self {
        let cache = (pool.engine() == super::Engine::Sqlite).then(Arc::default);
        Self { pool, cache }
    }

    fn cache(&self) -> CacheGuard<'_> {
        self.cache
            .as_ref()
            .map(|cache| cache.lock().unwrap_or_else(PoisonError::into_inner))
    }
}

/// What the `id` column holds for a session id: its SHA-256, in hex.
pub fn stored_key(id: &Id) -> String {
    crate::domain::sha256_hex(&id.to_string())
}

fn backend(err: impl std::fmt::Display) -> session_store::Error {
    session_store::Error::Backend(err.to_string())
}

fn encode(record: &Record) -> session_store::Result<String> {
    serde_json::to_string(&record.data).map_err(|e| session_store::Error::Encode(e.to_string()))
}

#[async_trait::async_trait]
impl SessionStore for SessionTable {
    async fn create(&self, record: &mut Record) -> session_store::Result<()> {
        let data = encode(record)?;
        // A collision of 128-bit random ids is practically impossible, but never overwrite one.
        loop {
            let inserted = insert(&self.pool, &stored_key(&record.id), &data, record)
                .await
                .map_err(backend)?;
            if inserted {
                if let Some(mut cache) = self.cache() {
                    cache.insert(record.id, record.clone());
                }
                return Ok(());
            }
            record.id = Id::default();
        }
    }

    /// Updates an existing session only. New sessions go through `create`; a request that finishes
    /// after logout deleted its session must not bring it back to life.
    async fn save(&self, record: &Record) -> session_store::Result<()> {
        let updated = update(
            &self.pool,
            &stored_key(&record.id),
            &encode(record)?,
            record,
        )
        .await
        .map_err(backend)?;
        if let Some(mut cache) = self.cache() {
            if updated {
                cache.insert(record.id, record.clone());
            } else {
                cache.remove(&record.id);
            }
        }
        Ok(())
    }

    async fn load(&self, id: &Id) -> session_store::Result<Option<Record>> {
        let now = time::OffsetDateTime::now_utc();
        if let Some(cache) = self.cache()
            && let Some(record) = cache.get(id).filter(|r| r.expiry_date > now)
        {
            return Ok(Some(record.clone()));
        }
        let row = select(&self.pool, &stored_key(id)).await.map_err(backend)?;
        let Some((data, expiry)) = row else {
            return Ok(None);
        };
        let record = Record {
            id: *id,
            data: serde_json::from_str(&data)
                .map_err(|e| session_store::Error::Decode(e.to_string()))?,
            expiry_date: time::OffsetDateTime::from_unix_timestamp(expiry).map_err(backend)?,
        };
        if let Some(mut cache) = self.cache() {
            cache.insert(*id, record.clone());
        }
        Ok(Some(record))
    }

    async fn delete(&self, id: &Id) -> session_store::Result<()> {
        if let Some(mut cache) = self.cache() {
            cache.remove(id);
        }
        remove(&self.pool, &stored_key(id)).await.map_err(backend)
    }
}

#[async_trait::async_trait]
impl ExpiredDeletion for SessionTable {
    async fn delete_expired(&self) -> session_store::Result<()> {
        let now = time::OffsetDateTime::now_utc();
        if let Some(mut cache) = self.cache() {
            cache.retain(|_, record| record.expiry_date > now);
        }
        remove_expired(&self.pool).await.map_err(backend)
    }
}

async fn insert(pool: &Pool, key: &str, data: &str, record: &Record) -> sqlx::Result<bool> {
    crate::on_db!(pool, |conn| {
        let done = sqlx::query(
            "INSERT INTO sessions (id, data, expiry_date) VALUES ($1, $2, $3)
             ON CONFLICT (id) DO NOTHING",
        )
        .bind(key)
        .bind(data)
        .bind(record.expiry_date.unix_timestamp())
        .execute(&mut *conn)
        .await?;
        Ok(done.rows_affected() == 1)
    })
}

async fn update(pool: &Pool, key: &str, data: &str, record: &Record) -> sqlx::Result<bool> {
    crate::on_db!(pool, |conn| {
        let done = sqlx::query("UPDATE sessions SET data = $2, expiry_date = $3 WHERE id = $1")
            .bind(key)
            .bind(data)
            .bind(record.expiry_date.unix_timestamp())
            .execute(&mut *conn)
            .await?;
        Ok(done.rows_affected() == 1)
    })
}

async fn select(pool: &Pool, key: &str) -> sqlx::Result<Option<(String, i64)>> {
    crate::on_db!(pool, |conn| {
        sqlx::query_as("SELECT data, expiry_date FROM sessions WHERE id = $1 AND expiry_date > $2")
            .bind(key)
            .bind(super::now())
            .fetch_optional(&mut *conn)
            .await
    })
}

async fn remove(pool: &Pool, key: &str) -> sqlx::Result<()> {
    crate::on_db!(pool, |conn| {
        sqlx::query("DELETE FROM sessions WHERE id = $1")
            .bind(key)
            .execute(&mut *conn)
            .await?;
        Ok(())
    })
}

async fn remove_expired(pool: &Pool) -> sqlx::Result<()> {
    crate::on_db!(pool, |conn| {
        sqlx::query("DELETE FROM sessions WHERE expiry_date <= $1")
            .bind(super::now())
            .execute(&mut *conn)
            .await?;
        Ok(())
    })
}
