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
///
/// The file is created owner-only (0600) before SQLite sees it, whatever the umask: SQLite gives
/// its `-wal` and `-shm` files the database's own mode.
pub async fn open(path: &Path) -> anyhow::Result<SqlitePool> {
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        create_private_dir(parent)?;
    }
    {
        use std::os::unix::fs::OpenOptionsExt;
        std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .mode(0o600)
            .open(path)
            .with_context(|| format!("creating the database file {}", path.display()))?;
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

/// Creates `dir` and its missing parents owner-only (0700), whatever the umask.
pub fn create_private_dir(dir: &Path) -> anyhow::Result<()> {
    use std::os::unix::fs::DirBuilderExt;
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .with_context(|| format!("creating the directory {}", dir.display()))
}

/// Paths under `dir` (itself included) that people other than the owner may read or enter:
/// a data directory made by hand, or by an older version, under a lax umask.
pub fn readable_by_others(dir: &Path) -> Vec<std::path::PathBuf> {
    use std::os::unix::fs::PermissionsExt;
    let mut found = Vec::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(path) = pending.pop() {
        let Ok(meta) = std::fs::symlink_metadata(&path) else {
            continue;
        };
        if meta.permissions().mode() & 0o077 != 0 {
            found.push(path.clone());
        }
        if meta.is_dir()
            && let Ok(entries) = std::fs::read_dir(&path)
        {
            pending.extend(entries.flatten().map(|entry| entry.path()));
        }
    }
    found.sort();
    found
}

/// The current time as Unix seconds, the unit every table uses.
pub fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

/// True when an error is SQLite refusing a duplicate in a UNIQUE column.
pub fn is_unique_violation(err: &sqlx::Error) -> bool {
    matches!(err, sqlx::Error::Database(db) if db.is_unique_violation())
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt;

    use super::*;

    #[test]
    fn paths_others_can_read_are_found_and_private_dirs_are_private() {
        let root = tempfile::tempdir().expect("a temporary directory");
        let data = root.path().join("data");
        create_private_dir(&data.join("tls")).expect("created");
        let set = |path: &Path, mode: u32| {
            std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).expect("chmod");
        };
        std::fs::write(data.join("visitas.db"), b"").expect("a file");
        set(&data.join("visitas.db"), 0o600);
        assert!(readable_by_others(&data).is_empty());
        assert_eq!(
            std::fs::metadata(data.join("tls"))
                .expect("meta")
                .permissions()
                .mode()
                & 0o777,
            0o700
        );

        set(&data.join("visitas.db"), 0o644);
        set(&data, 0o755);

        assert_eq!(
            readable_by_others(&data),
            vec![data.clone(), data.join("visitas.db")]
        );
    }
}
