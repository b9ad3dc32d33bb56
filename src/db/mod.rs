//! The database (SQLite by default, or PostgreSQL for several nodes): opening, migrating, and one
//! module per table family. Functions here take a [`Handle`] (the pool, a transaction, a
//! connection) and plain values; they know nothing about HTTP.

pub mod admissions;
pub mod audit;
mod backend;
pub mod devices;
pub mod history;
pub mod invites;
pub mod nodes;
pub mod patients;
pub mod relatives;
pub mod rooms;
pub mod sessions;
pub mod setup;
pub mod staff;
pub mod throttle;
mod types;
pub mod visit_log;
pub mod visits;
pub mod wards;

use std::{path::Path, str::FromStr, time::Duration};

use anyhow::Context;
pub use backend::{Conn, Dialect, Engine, Handle, Held, Pool, Side, Tx, engine_of};
use sqlx::{
    SqlitePool,
    postgres::{PgConnectOptions, PgPoolOptions},
    sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous},
};

/// Where the data lives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Location {
    /// A SQLite file: one node.
    File(std::path::PathBuf),
    /// A PostgreSQL URL (`postgres://` or `postgresql://`): any number of nodes. It may hold a
    /// password: never logged.
    Postgres(String),
}

impl Location {
    /// `--database`: a PostgreSQL URL, else a file path; none means `visitas.db` in the data
    /// directory.
    pub fn parse(setting: Option<&str>, data_dir: &Path) -> Location {
        match setting {
            Some(url) if url.starts_with("postgres://") || url.starts_with("postgresql://") => {
                Location::Postgres(url.to_string())
            }
            Some(path) => Location::File(path.into()),
            None => Location::File(data_dir.join("visitas.db")),
        }
    }

    /// What logs and messages may show: the file, or the PostgreSQL server and database without
    /// the user or password.
    pub fn describe(&self) -> String {
        match self {
            Location::File(path) => path.display().to_string(),
            Location::Postgres(url) => match PgConnectOptions::from_str(url) {
                Ok(options) => format!(
                    "PostgreSQL database {} on {}",
                    options.get_database().unwrap_or("(default)"),
                    options.get_host()
                ),
                Err(_) => "PostgreSQL (unreadable URL)".to_string(),
            },
        }
    }
}

/// Opens and migrates the database: a SQLite file (created when missing) or PostgreSQL.
pub async fn open(location: &Location) -> anyhow::Result<Pool> {
    match location {
        Location::File(path) => Ok(Pool::Sqlite(open_sqlite(path).await?)),
        Location::Postgres(url) => Ok(Pool::Postgres(open_postgres(url).await?)),
    }
}

/// Opens and migrates a PostgreSQL database (which must exist; its tables are made here).
///
/// Each node keeps a few connections: PostgreSQL serves many nodes' writers at once, and a
/// hospital's database server is shared with its other services.
async fn open_postgres(url: &str) -> anyhow::Result<sqlx::PgPool> {
    let options = PgConnectOptions::from_str(url)
        .map_err(|_| anyhow::anyhow!("--database is not a valid PostgreSQL URL"))?
        .application_name("visitas");
    let pool = PgPoolOptions::new()
        .max_connections(10)
        .acquire_timeout(Duration::from_secs(10))
        .connect_with(options)
        .await
        .with_context(|| {
            format!(
                "connecting to {}",
                Location::Postgres(url.into()).describe()
            )
        })?;
    // Nodes starting together: the first migrates, the others wait on the lock sqlx takes.
    sqlx::migrate!("./migrations/postgres")
        .run(&pool)
        .await
        .context("applying database migrations")?;
    let handle = Pool::Postgres(pool.clone());
    let sealed = audit::seal_older_rows(&handle)
        .await
        .context("sealing the audit trail's older rows")?;
    if sealed > 0 {
        tracing::info!(
            rows = sealed,
            "the audit trail's older rows joined its hash chain"
        );
    }
    Ok(pool)
}

/// Opens (creating when missing) and migrates the SQLite database at `path`.
///
/// WAL lets readers go on while one writer commits; `synchronous=FULL` makes every acknowledged
/// commit survive a power cut, which matters more here than write speed.
///
/// The file is created owner-only (0600) before SQLite sees it, whatever the umask: SQLite gives
/// its `-wal` and `-shm` files the database's own mode.
async fn open_sqlite(path: &Path) -> anyhow::Result<SqlitePool> {
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
        // 2 MiB of pages per connection (8 MiB for the pool at most, filled only as pages are
        // read). A page of the visit log over a year's visits reads a few hundred pages, its
        // visits' invites, stays and patients scattered by their random ids; with 1 MiB it did
        // not fit, every page was read again from the file, and the newest page cost 14% more.
        .pragma("cache_size", "-2048");
    // SQLite runs one writer at a time anyway; on a 2-core box a few connections (each with its
    // own worker thread) serve more requests than many.
    let pool = SqlitePoolOptions::new()
        .max_connections(4)
        // A write that failed on a full disk can leave a connection inside a transaction that
        // sqlx believes ended (SQLite rolled it back itself, so sqlx's ROLLBACK failed and its
        // count stayed up; the next BEGIN became a SAVEPOINT that a later failure never
        // closed). Handed on, such a connection held the write lock and every other writer
        // waited out the busy timeout. Close it instead: closing ends its transaction.
        .after_release(|conn, _| {
            Box::pin(async move {
                use sqlx::Connection;
                let clean = !conn.is_in_transaction();
                if !clean {
                    tracing::warn!("closed a database connection left inside a transaction");
                }
                Ok(clean)
            })
        })
        .connect_with(options)
        .await
        .with_context(|| format!("opening the database {}", path.display()))?;
    sqlx::migrate!("./migrations/sqlite")
        .run(&pool)
        .await
        .context("applying database migrations")?;
    let sealed = audit::seal_older_rows(&Pool::Sqlite(pool.clone()))
        .await
        .context("sealing the audit trail's older rows")?;
    if sealed > 0 {
        tracing::info!(
            rows = sealed,
            "the audit trail's older rows joined its hash chain"
        );
    }
    Ok(pool)
}

/// The database's lock file (`visitas.db.lock` beside it), held by a running server for its
/// whole life (released by the system when the process ends, however it ends): `visitas
/// restore` refuses to replace a database a server holds. An advisory lock (`flock`), so it
/// binds only Visitas' own processes.
#[derive(Debug)]
pub struct DatabaseLock(#[allow(dead_code)] std::fs::File);

/// Takes the database's lock; `None` when another process (or server) holds it.
pub fn lock_database(path: &Path) -> anyhow::Result<Option<DatabaseLock>> {
    use std::os::unix::fs::OpenOptionsExt;
    let mut name = path.as_os_str().to_owned();
    name.push(".lock");
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .mode(0o600)
        .open(&name)
        .with_context(|| format!("opening the lock file {}", name.to_string_lossy()))?;
    match file.try_lock() {
        Ok(()) => Ok(Some(DatabaseLock(file))),
        Err(std::fs::TryLockError::WouldBlock) => Ok(None),
        Err(std::fs::TryLockError::Error(err)) => {
            Err(err).with_context(|| format!("locking {}", name.to_string_lossy()))
        }
    }
}

/// Writes a consistent copy of the database into `file` (an empty file): SQLite's `VACUUM
/// INTO` reads one snapshot, so the copy holds every write committed before it started, while
/// the server goes on writing.
pub async fn backup_into(pool: &SqlitePool, file: &Path) -> sqlx::Result<()> {
    sqlx::query("VACUUM INTO $1")
        .bind(file.to_string_lossy().into_owned())
        .execute(pool)
        .await?;
    Ok(())
}

/// Opens a copy of the database read-only: SQLite's integrity check (`ok` when sound) and the
/// audit chain's state. An error when it is not a Visitas database.
pub async fn check_copy(file: &Path) -> anyhow::Result<(String, audit::ChainState)> {
    let options = SqliteConnectOptions::new()
        .filename(file)
        .read_only(true)
        .immutable(true);
    let pool = SqlitePoolOptions::new()
        .max_connections(1)
        .connect_with(options)
        .await
        .with_context(|| format!("opening {}", file.display()))?;
    let checked = async {
        let rows: Vec<(String,)> = sqlx::query_as("PRAGMA integrity_check")
            .fetch_all(&pool)
            .await?;
        let integrity = rows
            .into_iter()
            .map(|(line,)| line)
            .collect::<Vec<_>>()
            .join("; ");
        let chain = audit::verify(&Pool::Sqlite(pool.clone())).await?;
        Ok::<_, sqlx::Error>((integrity, chain))
    }
    .await;
    pool.close().await;
    checked.with_context(|| format!("{} is not a Visitas database", file.display()))
}

/// Puts `backup` in place of the database at `target` (the caller holds its lock): the current
/// database and its `-wal` and `-shm` files are moved aside together (their name gets
/// `.before-restore-<time>`), then the backup is copied in owner-only. The database moved
/// aside, if there was one.
pub fn replace_database(
    target: &Path,
    backup: &Path,
) -> anyhow::Result<Option<std::path::PathBuf>> {
    use std::os::unix::fs::PermissionsExt;
    let stamp = chrono::Utc::now().format("%Y%m%d%H%M%S");
    let with_suffix = |path: &Path, suffix: &str| {
        let mut name = path.as_os_str().to_owned();
        name.push(suffix);
        std::path::PathBuf::from(name)
    };
    let kept = if target.exists() {
        let aside = with_suffix(target, &format!(".before-restore-{stamp}"));
        for extra in ["", "-wal", "-shm"] {
            let from = with_suffix(target, extra);
            if from.exists() {
                std::fs::rename(&from, with_suffix(&aside, extra))
                    .with_context(|| format!("moving {} aside", from.display()))?;
            }
        }
        Some(aside)
    } else {
        None
    };
    let incoming = with_suffix(target, ".restoring");
    std::fs::copy(backup, &incoming).with_context(|| format!("copying {}", backup.display()))?;
    std::fs::set_permissions(&incoming, std::fs::Permissions::from_mode(0o600))?;
    std::fs::rename(&incoming, target)?;
    Ok(kept)
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

/// Why the database could not write: the disk, not the request. A write that fails so changes
/// nothing (SQLite rolls it back), and the person is told the cause.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StorageFailure {
    /// `SQLITE_FULL`: no space left on the disk.
    DiskFull,
    /// `SQLITE_READONLY`: the file or its file system became read-only.
    ReadOnly,
    /// `SQLITE_IOERR`: the disk reported an error.
    Io,
}

/// Storage failures since start, for the logs (and metrics, later).
pub static STORAGE_FAILURES: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

impl StorageFailure {
    /// The storage failure behind a database error, if that is what it is.
    pub fn of(err: &sqlx::Error) -> Option<Self> {
        let sqlx::Error::Database(db) = err else {
            return None;
        };
        if db
            .try_downcast_ref::<sqlx::postgres::PgDatabaseError>()
            .is_some()
        {
            // PostgreSQL's SQLSTATE: its server's disk, not ours, but the person is told the same.
            return match db.code()?.as_ref() {
                "53100" => Some(StorageFailure::DiskFull),
                "25006" => Some(StorageFailure::ReadOnly),
                "58030" => Some(StorageFailure::Io),
                _ => None,
            };
        }
        Self::from_code(db.code()?.parse().ok()?)
    }

    /// The same, from an error's text (`(code: 13) database or disk is full`), for errors that
    /// reach us as text (the session store's).
    pub fn in_message(message: &str) -> Option<Self> {
        let start = message.find("(code: ")? + "(code: ".len();
        let end = start + message[start..].find(')')?;
        Self::from_code(message[start..end].parse().ok()?)
    }

    fn from_code(code: i64) -> Option<Self> {
        // Extended result codes keep the primary code in their low byte.
        match code & 0xff {
            13 => Some(StorageFailure::DiskFull),
            8 => Some(StorageFailure::ReadOnly),
            10 => Some(StorageFailure::Io),
            _ => None,
        }
    }

    /// A short reason for logs and `/healthz`.
    pub fn reason(self) -> &'static str {
        match self {
            StorageFailure::DiskFull => "disk full",
            StorageFailure::ReadOnly => "disk read-only",
            StorageFailure::Io => "disk I/O error",
        }
    }

    /// Counts and logs one failure.
    pub fn note(self, what: &str) {
        let count = STORAGE_FAILURES.fetch_add(1, std::sync::atomic::Ordering::Relaxed) + 1;
        tracing::error!(
            reason = self.reason(),
            count,
            "{what}: the database cannot write"
        );
    }
}

/// Checks that the database can write now: a small write that needs fresh pages, committed. What
/// `/healthz` asks, so that it says `ok` only while writes succeed.
pub async fn probe_write(pool: &Pool) -> sqlx::Result<()> {
    let mut tx = pool.begin().await?;
    crate::on_db!(&mut tx, |conn| {
        sqlx::query("INSERT INTO health_probe (filler) VALUES ($1)")
            .bind(vec![0u8; 8192])
            .execute(&mut *conn)
            .await?;
        sqlx::query("DELETE FROM health_probe")
            .execute(&mut *conn)
            .await?;
    });
    tx.commit().await
}

/// Lets one of this process's checked writes at a time ask SQLite for the write lock, in the
/// order they came. Without it, writers that find the lock taken wait in SQLite's busy handler,
/// which sleeps 1, 2, 5, 10 ... up to 100 ms between tries: under twenty nurses at once, those
/// sleeps, not the work, made the slowest bookings slow.
#[derive(Debug, Default)]
pub struct WriteGate(std::sync::Arc<tokio::sync::Mutex<()>>);

/// A transaction holding the database's write lock from its start (and this process's write
/// gate).
pub struct WriteTx {
    tx: Tx,
    _gate: tokio::sync::OwnedMutexGuard<()>,
}

impl WriteTx {
    /// Commits; the gate opens for the next writer.
    pub async fn commit(self) -> sqlx::Result<()> {
        self.tx.commit().await
    }
}

impl<'a> From<&'a mut WriteTx> for Handle<'a> {
    fn from(tx: &'a mut WriteTx) -> Self {
        Handle::from(&mut tx.tx)
    }
}

/// The PostgreSQL advisory lock the checked writes of every node take in turn (any number: it
/// names only this lock, in this database).
const WRITE_LOCK: i64 = 0x5669_7369_7461_7301;

/// Begins a transaction that takes the write lock at once. Use it where a transaction reads
/// what decides its write (the rules of a visit): a deferred one would fail with "database is
/// busy" when another writer committed between its read and its write, instead of waiting.
///
/// On PostgreSQL the lock is a transaction-level advisory lock, so the checked writes of all
/// nodes line up just as one SQLite file's writers do; other writes go on beside them.
pub async fn begin_write(pool: &Pool, gate: &WriteGate) -> sqlx::Result<WriteTx> {
    let gate = gate.0.clone().lock_owned().await;
    let tx = match pool {
        Pool::Sqlite(pool) => Tx::Sqlite(pool.begin_with("BEGIN IMMEDIATE").await?),
        Pool::Postgres(pool) => {
            let mut tx = pool.begin().await?;
            sqlx::query("SELECT pg_advisory_xact_lock($1)")
                .bind(WRITE_LOCK)
                .execute(&mut *tx)
                .await?;
            Tx::Postgres(tx)
        }
    };
    Ok(WriteTx { tx, _gate: gate })
}

/// Advisory locks that line up the count-then-insert reservations of one table on PostgreSQL
/// (any numbers: each names only its lock, in this database).
#[derive(Debug, Clone, Copy)]
#[repr(i64)]
pub(crate) enum CountLock {
    LoginFailures = 0x5669_7369_7461_7302,
    CodeFailures = 0x5669_7369_7461_7303,
}

/// Makes a reservation that counts rows and inserts one when the count is under a limit
/// (`INSERT ... SELECT ... WHERE (SELECT COUNT(*) ...) < $N`) see every reservation before it.
/// Call it first in the reservation's transaction.
///
/// SQLite needs nothing: one writer at a time, and a write statement takes the write lock
/// before it reads. PostgreSQL's statements read a snapshot taken when they start (READ
/// COMMITTED), so parallel ones would all count the same rows and all slip under the limit; the
/// lock, held until the transaction ends, makes each one start after the one before committed.
pub(crate) async fn line_up_count(
    conn: &mut (dyn std::any::Any + Send),
    lock: CountLock,
) -> sqlx::Result<()> {
    if let Some(pg) = conn.downcast_mut::<sqlx::PgConnection>() {
        sqlx::query("SELECT pg_advisory_xact_lock($1)")
            .bind(lock as i64)
            .execute(pg)
            .await?;
    }
    Ok(())
}

/// The current time as Unix seconds, the unit every table uses.
pub fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

/// True when an error is the database refusing a duplicate in a UNIQUE column.
pub fn is_unique_violation(err: &sqlx::Error) -> bool {
    matches!(err, sqlx::Error::Database(db) if db.is_unique_violation())
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt;

    use super::*;

    #[test]
    fn storage_failures_are_told_apart_from_other_errors() {
        let full = "error returned from database: (code: 13) database or disk is full";
        let io = "error returned from database: (code: 3338) disk I/O error";
        let locked = "error returned from database: (code: 5) database is locked";

        assert_eq!(
            StorageFailure::in_message(full),
            Some(StorageFailure::DiskFull)
        );
        assert_eq!(StorageFailure::in_message(io), Some(StorageFailure::Io));
        assert_eq!(StorageFailure::in_message(locked), None);
        assert_eq!(StorageFailure::in_message("no code here"), None);
    }

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
