//! The SQLite database: opening, migrating, and one module per table family. Functions here take
//! an executor and plain values; they know nothing about HTTP.

pub mod audit;
pub mod invites;
pub mod patients;
pub mod rooms;
pub mod sessions;
pub mod setup;
pub mod staff;
pub mod throttle;
pub mod visit_log;

use std::{path::Path, str::FromStr, time::Duration};

use anyhow::Context;
use sqlx::{
    SqlitePool,
    sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous},
};

/// Opens (creating when missing) and migrates the database at `path`.
///
/// WAL lets readers go on while one writer commits; `synchronous=FULL` makes every acknowledged
/// commit survive a power cut, which matters more here than write speed.
pub async fn open(path: &Path) -> anyhow::Result<SqlitePool> {
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent)
            .with_context(|| format!("creating the database directory {}", parent.display()))?;
    }
    let options = SqliteConnectOptions::from_str("sqlite:")
        .context("building SQLite options")?
        .filename(path)
        .create_if_missing(true)
        .journal_mode(SqliteJournalMode::Wal)
        .synchronous(SqliteSynchronous::Full)
        .foreign_keys(true)
        .busy_timeout(Duration::from_secs(5))
        // A hospital's database is small: a 1 MiB page cache per connection is plenty, and keeps
        // the server light on a small box.
        .pragma("cache_size", "-1024");
    // SQLite runs one writer at a time anyway; on a 2-core box a few connections (each with its
    // own worker thread) serve more requests than many.
    let pool = SqlitePoolOptions::new()
        .max_connections(4)
        .connect_with(options)
        .await
        .with_context(|| format!("opening the database {}", path.display()))?;
    sqlx::migrate!("./migrations")
        .run(&pool)
        .await
        .context("applying database migrations")?;
    Ok(pool)
}

/// The current time as Unix seconds, the unit every table uses.
pub fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

/// True when an error is SQLite refusing a duplicate in a UNIQUE column.
pub fn is_unique_violation(err: &sqlx::Error) -> bool {
    matches!(err, sqlx::Error::Database(db) if db.is_unique_violation())
}
