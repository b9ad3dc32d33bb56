//! The storage seam: one set of queries, two engines. SQLite (a file, the zero-configuration
//! default) or PostgreSQL (several nodes on one database), chosen once at start.
//!
//! Every query is written once, in SQL both engines accept (`$N` placeholders, standard SQL,
//! times as integer UTC seconds). A function of the `db` module takes anything that becomes a
//! [`Handle`] (the [`Pool`], a [`Tx`], a [`Conn`]) and runs its body through [`on_db!`], which
//! compiles the body once per engine: sqlx's types stay concrete (no `sqlx::Any`, which lacks the
//! types we use), and the choice costs one `match` per call.

use std::ops::{Deref, DerefMut};

use sqlx::{Database, PgConnection, PgPool, Postgres, Sqlite, SqliteConnection, SqlitePool};

/// Runs `$body` with `$conn` bound to a concrete connection (`&mut SqliteConnection` or `&mut
/// PgConnection`) taken from `$db` (anything that becomes a [`Handle`]). The body is compiled
/// once per engine; a pool lends a connection for the body's length.
#[macro_export]
macro_rules! on_db {
    ($db:expr, |$conn:ident| $body:expr) => {{
        match ::std::convert::Into::<$crate::db::Handle<'_>>::into($db) {
            $crate::db::Handle::Sqlite(side) => {
                let mut held = side.hold().await?;
                #[allow(unused_mut)]
                let mut $conn = &mut *held;
                $body
            }
            $crate::db::Handle::Postgres(side) => {
                let mut held = side.hold().await?;
                #[allow(unused_mut)]
                let mut $conn = &mut *held;
                $body
            }
        }
    }};
}

/// [`on_db!`] as an expression of its own (an `async` block awaited at once), where the caller
/// cannot return early: scripts and tests. The body's result is the result.
#[macro_export]
macro_rules! sql {
    ($db:expr, |$conn:ident| $body:expr) => {
        async { $crate::on_db!($db, |$conn| $body) }.await
    };
}

/// Which engine holds the data.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Engine {
    Sqlite,
    Postgres,
}

/// Tells, inside an [`on_db!`] body, which engine its connection belongs to: for the few
/// statements the engines spell differently.
pub trait Dialect {
    const ENGINE: Engine;
}

impl Dialect for SqliteConnection {
    const ENGINE: Engine = Engine::Sqlite;
}

impl Dialect for PgConnection {
    const ENGINE: Engine = Engine::Postgres;
}

/// The engine of a connection (see [`Dialect`]).
pub fn engine_of<C: Dialect + ?Sized>(_conn: &C) -> Engine {
    C::ENGINE
}

/// The connection pool of the engine chosen at start.
#[derive(Debug, Clone)]
pub enum Pool {
    Sqlite(SqlitePool),
    Postgres(PgPool),
}

impl Pool {
    /// Which engine this is.
    pub fn engine(&self) -> Engine {
        match self {
            Pool::Sqlite(_) => Engine::Sqlite,
            Pool::Postgres(_) => Engine::Postgres,
        }
    }

    /// Begins a transaction. On SQLite it takes the write lock at once (`BEGIN IMMEDIATE`,
    /// waiting up to the busy timeout for it): a deferred transaction that read before its first
    /// write is refused at once (`database is locked`, no wait) when another connection wrote in
    /// between, as a stay's end written by the signaling does beside a nurse's request.
    pub async fn begin(&self) -> sqlx::Result<Tx> {
        Ok(match self {
            Pool::Sqlite(pool) => Tx::Sqlite(pool.begin_with("BEGIN IMMEDIATE").await?),
            Pool::Postgres(pool) => Tx::Postgres(pool.begin().await?),
        })
    }

    /// Lends a connection.
    pub async fn acquire(&self) -> sqlx::Result<Conn> {
        Ok(match self {
            Pool::Sqlite(pool) => Conn::Sqlite(pool.acquire().await?),
            Pool::Postgres(pool) => Conn::Postgres(pool.acquire().await?),
        })
    }

    /// Closes every connection (waits for those lent out).
    pub async fn close(&self) {
        match self {
            Pool::Sqlite(pool) => pool.close().await,
            Pool::Postgres(pool) => pool.close().await,
        }
    }

    /// Connections open now.
    pub fn size(&self) -> u32 {
        match self {
            Pool::Sqlite(pool) => pool.size(),
            Pool::Postgres(pool) => pool.size(),
        }
    }

    /// Connections open and not lent out.
    pub fn num_idle(&self) -> usize {
        match self {
            Pool::Sqlite(pool) => pool.num_idle(),
            Pool::Postgres(pool) => pool.num_idle(),
        }
    }

    /// The SQLite pool, when that is the engine (for what only SQLite has: backups by `VACUUM
    /// INTO`, the file's lock).
    pub fn sqlite(&self) -> Option<&SqlitePool> {
        match self {
            Pool::Sqlite(pool) => Some(pool),
            Pool::Postgres(_) => None,
        }
    }
}

/// A transaction; dropped without [`Tx::commit`], it rolls back.
#[derive(Debug)]
pub enum Tx {
    Sqlite(sqlx::Transaction<'static, Sqlite>),
    Postgres(sqlx::Transaction<'static, Postgres>),
}

impl Tx {
    /// Commits.
    pub async fn commit(self) -> sqlx::Result<()> {
        match self {
            Tx::Sqlite(tx) => tx.commit().await,
            Tx::Postgres(tx) => tx.commit().await,
        }
    }

    /// Rolls back.
    pub async fn rollback(self) -> sqlx::Result<()> {
        match self {
            Tx::Sqlite(tx) => tx.rollback().await,
            Tx::Postgres(tx) => tx.rollback().await,
        }
    }
}

/// A connection lent by the pool.
#[derive(Debug)]
pub enum Conn {
    Sqlite(sqlx::pool::PoolConnection<Sqlite>),
    Postgres(sqlx::pool::PoolConnection<Postgres>),
}

/// Where a query runs: a pool (which lends a connection) or a connection (a transaction's), of
/// either engine.
pub enum Handle<'a> {
    Sqlite(Side<'a, Sqlite>),
    Postgres(Side<'a, Postgres>),
}

impl Handle<'_> {
    /// The same place again, for one more call.
    pub fn reborrow(&mut self) -> Handle<'_> {
        match self {
            Handle::Sqlite(side) => Handle::Sqlite(side.reborrow()),
            Handle::Postgres(side) => Handle::Postgres(side.reborrow()),
        }
    }
}

/// One engine's pool or connection.
pub enum Side<'a, DB: Database> {
    Pool(&'a sqlx::Pool<DB>),
    Conn(&'a mut DB::Connection),
}

impl<'a, DB: Database> Side<'a, DB> {
    /// A connection for one body: the one given, or one the pool lends.
    pub async fn hold(self) -> sqlx::Result<Held<'a, DB>> {
        Ok(match self {
            Side::Pool(pool) => Held::Lent(pool.acquire().await?),
            Side::Conn(conn) => Held::Given(conn),
        })
    }

    fn reborrow(&mut self) -> Side<'_, DB> {
        match self {
            Side::Pool(pool) => Side::Pool(*pool),
            Side::Conn(conn) => Side::Conn(&mut **conn),
        }
    }
}

/// A connection held for one body.
pub enum Held<'a, DB: Database> {
    Lent(sqlx::pool::PoolConnection<DB>),
    Given(&'a mut DB::Connection),
}

impl<DB: Database> Deref for Held<'_, DB> {
    type Target = DB::Connection;

    fn deref(&self) -> &DB::Connection {
        match self {
            Held::Lent(conn) => conn,
            Held::Given(conn) => conn,
        }
    }
}

impl<DB: Database> DerefMut for Held<'_, DB> {
    fn deref_mut(&mut self) -> &mut DB::Connection {
        match self {
            Held::Lent(conn) => conn,
            Held::Given(conn) => conn,
        }
    }
}

impl<'a> From<&'a Pool> for Handle<'a> {
    fn from(pool: &'a Pool) -> Self {
        match pool {
            Pool::Sqlite(pool) => Handle::Sqlite(Side::Pool(pool)),
            Pool::Postgres(pool) => Handle::Postgres(Side::Pool(pool)),
        }
    }
}

impl<'a> From<&'a mut Tx> for Handle<'a> {
    fn from(tx: &'a mut Tx) -> Self {
        match tx {
            Tx::Sqlite(tx) => Handle::Sqlite(Side::Conn(&mut **tx)),
            Tx::Postgres(tx) => Handle::Postgres(Side::Conn(&mut **tx)),
        }
    }
}

impl<'a> From<&'a mut Conn> for Handle<'a> {
    fn from(conn: &'a mut Conn) -> Self {
        match conn {
            Conn::Sqlite(conn) => Handle::Sqlite(Side::Conn(&mut **conn)),
            Conn::Postgres(conn) => Handle::Postgres(Side::Conn(&mut **conn)),
        }
    }
}

impl<'a> From<&'a mut SqliteConnection> for Handle<'a> {
    fn from(conn: &'a mut SqliteConnection) -> Self {
        Handle::Sqlite(Side::Conn(conn))
    }
}

impl<'a> From<&'a mut PgConnection> for Handle<'a> {
    fn from(conn: &'a mut PgConnection) -> Self {
        Handle::Postgres(Side::Conn(conn))
    }
}

impl<'a, 'b> From<&'a mut Handle<'b>> for Handle<'a> {
    fn from(handle: &'a mut Handle<'b>) -> Self {
        handle.reborrow()
    }
}
