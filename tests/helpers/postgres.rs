//! The PostgreSQL leg of the suite: with `VISITAS_TEST_POSTGRES` set to a PostgreSQL URL (a
//! server where the user may create databases; `.ci/run` starts a throwaway one), every server a
//! test starts gets a database of its own there instead of its SQLite file. The same data
//! directory always maps to the same database, so a restart finds its data again.

use std::{collections::HashSet, path::Path, sync::Mutex};

/// The PostgreSQL server of this leg, if this is the PostgreSQL leg.
pub fn leg() -> Option<String> {
    std::env::var("VISITAS_TEST_POSTGRES")
        .ok()
        .filter(|url| !url.trim().is_empty())
}

/// Whether a test of browsers and networks (network faults, coturn, Firefox, axe) stands down on
/// this leg: they test the pages, WebRTC and the network, not the storage, and run on the
/// SQLite leg; the storage they touch (stays, rejoins, admissions, restarts) is tested on both
/// legs at the wire level. Saying so, it keeps `.ci/run` within its time.
/// `VISITAS_TEST_MEDIA_ON_POSTGRES=1` runs them on this leg too.
pub fn media_test_stands_down(test: &str) -> bool {
    if leg().is_none() || std::env::var_os("VISITAS_TEST_MEDIA_ON_POSTGRES").is_some() {
        return false;
    }
    eprintln!(
        "SKIPPED on the PostgreSQL leg: {test} tests browsers and the network, not the storage; \
         it runs on the SQLite leg (VISITAS_TEST_MEDIA_ON_POSTGRES=1 runs it here too)"
    );
    true
}

/// The `--database` of a server whose data directory is `data`: none on the SQLite leg (its
/// file in `data`), else a PostgreSQL database of its own, created on first use.
pub fn database_for(data: &Path) -> Option<String> {
    let admin = leg()?;
    let absolute = std::path::absolute(data).expect("an absolute path");
    let name = format!(
        "t_{}",
        &visitas::domain::sha256_hex(&absolute.to_string_lossy())[..24]
    );
    let url = with_database(&admin, &name);
    static MADE: Mutex<Option<HashSet<String>>> = Mutex::new(None);
    let mut made = MADE
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let made = made.get_or_insert_with(HashSet::new);
    if !made.contains(&name) {
        let create = name.clone();
        std::thread::spawn(move || {
            tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("a runtime")
                .block_on(create_database(&admin, &create));
        })
        .join()
        .expect("the database is created");
        made.insert(name);
    }
    Some(url)
}

/// What a node on PostgreSQL needs besides its database (`--tls-cert`, `--tls-key`,
/// `--secret-file`), made beside the data directory `data` on first use (the same files for the
/// same directory): a certificate as the hospital's own would be, and a secret key file.
pub struct NodeFiles {
    pub tls_cert: std::path::PathBuf,
    pub tls_key: std::path::PathBuf,
    pub secret_file: std::path::PathBuf,
}

impl NodeFiles {
    pub fn beside(data: &Path) -> NodeFiles {
        let parent = data.parent().unwrap_or(data).to_path_buf();
        let paths = visitas::tls::GeneratedPaths {
            dir: parent.join("hospital-tls"),
        };
        let names = visitas::tls::local_names();
        visitas::tls::ensure_generated(&paths, &names, time::OffsetDateTime::now_utc())
            .expect("a certificate for the node");
        let secret_file = parent.join("shared-secret.key");
        visitas::auth::secret::ServerSecret::load_or_create(&secret_file)
            .expect("a shared secret key");
        NodeFiles {
            tls_cert: paths.server_cert(),
            tls_key: paths.server_key(),
            secret_file,
        }
    }

    /// As command-line flags.
    pub fn flags(&self) -> Vec<String> {
        [
            ("--tls-cert", &self.tls_cert),
            ("--tls-key", &self.tls_key),
            ("--secret-file", &self.secret_file),
        ]
        .into_iter()
        .flat_map(|(flag, path)| [flag.to_string(), path.to_string_lossy().into_owned()])
        .collect()
    }
}

/// Where the CA of a server process with the data directory `data` is (`ca.pem`): the generated
/// one in `data/tls`, or on this leg the one beside the node's own certificate.
pub fn ca_dir_for(data: &Path) -> std::path::PathBuf {
    if leg().is_some() {
        data.parent().unwrap_or(data).join("hospital-tls")
    } else {
        data.join("tls")
    }
}

/// The flags that put a server process with the data directory `data` on this leg's database:
/// none on the SQLite leg.
pub fn node_flags(data: &Path) -> Vec<String> {
    let Some(url) = database_for(data) else {
        return Vec::new();
    };
    let mut flags = vec!["--database".to_string(), url];
    flags.extend(NodeFiles::beside(data).flags());
    flags
}

/// `url` with its database replaced by `name` (the options after `?` kept).
pub fn with_database(url: &str, name: &str) -> String {
    let (base, options) = url.split_once('?').unwrap_or((url, ""));
    let (server, _) = base.rsplit_once('/').expect("a postgres:// URL");
    if options.is_empty() {
        format!("{server}/{name}")
    } else {
        format!("{server}/{name}?{options}")
    }
}

async fn create_database(admin: &str, name: &str) {
    use sqlx::Connection;
    let mut conn = sqlx::PgConnection::connect(admin)
        .await
        .expect("the test PostgreSQL answers (VISITAS_TEST_POSTGRES)");
    let exists: Option<(i32,)> = sqlx::query_as("SELECT 1 FROM pg_database WHERE datname = $1")
        .bind(name)
        .fetch_optional(&mut conn)
        .await
        .expect("pg_database");
    if exists.is_none() {
        // A name made of hex digits: nothing to quote.
        let created = sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
            .execute(&mut conn)
            .await;
        if let Err(err) = created {
            let duplicate =
                matches!(&err, sqlx::Error::Database(db) if db.code().as_deref() == Some("42P04"));
            assert!(duplicate, "creating the test database {name}: {err}");
        }
    }
    conn.close().await.ok();
}

/// A PostgreSQL server for one test: the leg's (`VISITAS_TEST_POSTGRES`), or else a throwaway
/// cluster started here with `.ci/postgres` (in a temporary directory, on a Unix socket) and
/// stopped when this is dropped, also when the test fails.
pub struct Server {
    pub url: String,
    own: Option<tempfile::TempDir>,
}

impl Server {
    /// The leg's server, or a throwaway one.
    pub fn get() -> Server {
        if let Some(url) = leg() {
            return Server { url, own: None };
        }
        let dir = tempfile::Builder::new()
            .prefix("visitas-pg-")
            .tempdir()
            .expect("a temporary directory");
        // initdb runs as the `postgres` user when we are root: it must reach the directory.
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755))
            .expect("chmod");
        let output =
            std::process::Command::new(concat!(env!("CARGO_MANIFEST_DIR"), "/.ci/postgres"))
                .arg("start")
                .arg(dir.path().join("cluster"))
                .output()
                .expect(".ci/postgres runs");
        assert!(
            output.status.success(),
            "a throwaway PostgreSQL (PostgreSQL's server binaries are needed: apt-get install \
             postgresql): {}",
            String::from_utf8_lossy(&output.stderr)
        );
        let url = String::from_utf8_lossy(&output.stdout).trim().to_string();
        Server {
            url,
            own: Some(dir),
        }
    }

    /// A fresh, empty database on this server; its URL.
    pub async fn database(&self, name: &str) -> String {
        create_database(&self.url, name).await;
        with_database(&self.url, name)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(dir) = &self.own {
            let _ =
                std::process::Command::new(concat!(env!("CARGO_MANIFEST_DIR"), "/.ci/postgres"))
                    .arg("stop")
                    .arg(dir.path().join("cluster"))
                    .status();
        }
    }
}
