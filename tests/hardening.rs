//! The server against hostile clients, careless settings and a full disk: connection deadlines and
//! limits, owner-only files, hashed session ids, parallel logins, refused names and settings, and a
//! visit log that fails closed.

mod helpers;

use std::{
    process::{Command, Stdio},
    time::{Duration, Instant},
};

use tokio::io::{AsyncReadExt, AsyncWriteExt};

use helpers::{process, socket, spawn_app, spawn_app_with, text};
use reqwest::StatusCode;
use visitas::domain::Role;

fn visitas_binary() -> Command {
    Command::new(env!("CARGO_BIN_EXE_visitas"))
}

/// Runs `visitas` with `args` and a throwaway data directory; its exit status and standard error.
fn run_visitas(args: &[&str]) -> (bool, String) {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let output = visitas_binary()
        .args(args)
        .arg("--data-dir")
        .arg(dir.path().join("data"))
        .arg("--bind")
        .arg("127.0.0.1:0")
        .env_remove("VISITAS_DATA_DIR")
        .stdin(Stdio::null())
        .output()
        .expect("the binary runs");
    (
        output.status.success(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

#[test]
fn nonsensical_settings_stop_the_start_with_a_message_naming_them() {
    let cases: [(&[&str], &str); 7] = [
        (&["--time-zone", "Madrid"], "--time-zone"),
        (&["--invite-hours", "0"], "--invite-hours"),
        (&["--room-capacity", "1"], "--room-capacity"),
        (&["--room-capacity", "100"], "--room-capacity"),
        (&["--max-video-kbps", "0"], "--max-video-kbps"),
        (
            &["--session-idle-secs", "3600", "--session-max-secs", "600"],
            "--session-max-secs (600) must not be shorter than --session-idle-secs (3600)",
        ),
        (
            &["--public-url", "http://visitas.local"],
            "--public-url must be an https:// address",
        ),
    ];

    for (args, message) in cases {
        let (ok, stderr) = run_visitas(args);

        assert!(!ok, "{args:?} was accepted");
        assert!(stderr.contains(message), "{args:?}: {stderr}");
    }
}

#[tokio::test]
async fn names_with_text_direction_tricks_are_refused_and_nothing_is_stored() {
    let app = spawn_app().await;
    app.logged_in_nurse().await;

    for name in ["Ana \u{202E}zeuR", "\u{2066}Ana\u{2069}", "Ana\u{200B}"] {
        let response = app.post_patient(name, "UCI", "3", "").await;

        assert_eq!(response.status(), StatusCode::BAD_REQUEST, "{name:?}");
        let body = text(response).await;
        assert!(
            body.contains("No puede contener caracteres invisibles ni de dirección del texto"),
            "{name:?}"
        );
    }
    assert_eq!(app.count("patients").await, 0);

    let patient = app.register_patient("Ana", "").await;
    let response = app
        .post_relative(&patient, "Luis\u{202E}", "hijo", "es")
        .await;
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    assert_eq!(app.count("relatives").await, 0);

    app.create_staff(Role::Admin, "jefa.ana").await;
    assert_eq!(app.login("jefa.ana").await.status(), StatusCode::SEE_OTHER);
    let staff_before = app.count("staff").await;
    let response = app
        .post(
            "/admin/staff",
            &[
                ("username", "luis.p"),
                ("display_name", "Luis\u{202D}"),
                ("password", helpers::PASSWORD),
                ("password_confirm", helpers::PASSWORD),
            ],
        )
        .await;
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    assert_eq!(app.count("staff").await, staff_before);
}

/// Every file and directory under `dir` with a mode other than 0600 (files) or 0700 (directories).
fn not_owner_only(dir: &std::path::Path) -> Vec<String> {
    use std::os::unix::fs::PermissionsExt;
    let mut wrong = Vec::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(path) = pending.pop() {
        let meta = std::fs::symlink_metadata(&path).expect("metadata");
        let mode = meta.permissions().mode() & 0o777;
        let expected = if meta.is_dir() { 0o700 } else { 0o600 };
        if mode != expected {
            wrong.push(format!("{} is {mode:o}", path.display()));
        }
        if meta.is_dir() {
            pending.extend(
                std::fs::read_dir(&path)
                    .expect("a readable directory")
                    .map(|entry| entry.expect("an entry").path()),
            );
        }
    }
    wrong
}

#[tokio::test]
async fn under_a_lax_umask_every_file_the_server_and_cli_create_is_owner_only() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");

    // The files are the point: a SQLite database on every leg.
    let file = data.join("visitas.db");
    let sqlite = ["--database", file.to_str().unwrap()];
    // The README's order: the administrator from the command line first, then the server.
    let created = process::admin_create("umask 022", &data, "jefa.ana", &sqlite, helpers::PASSWORD);
    assert!(
        created.status.success(),
        "{}",
        String::from_utf8_lossy(&created.stderr)
    );
    let server = process::ServerProcess::start("umask 022", &data, &sqlite).await;
    // A login writes a session, so the WAL and its index exist and hold something.
    server.signed_in("jefa.ana", helpers::PASSWORD).await;

    let names: Vec<String> = std::fs::read_dir(&data)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    for expected in [
        "visitas.db",
        "visitas.db-wal",
        "visitas.db-shm",
        "secret.key",
        "tls",
    ] {
        assert!(
            names.iter().any(|n| n == expected),
            "{expected} in {names:?}"
        );
    }
    let wrong = not_owner_only(&data);
    assert!(wrong.is_empty(), "{wrong:#?}");
}

#[tokio::test]
async fn a_copy_of_the_database_holds_no_usable_session_id() {
    let app = spawn_app().await;
    app.logged_in_nurse().await;
    let cookie = app.session_cookie(&app.jar).expect("a session cookie");
    // The session is used, so it is saved again, not only created.
    assert_eq!(app.get("/rooms").await.status(), StatusCode::OK);
    let patient = app.register_patient("Ana", "").await;
    assert!(!patient.is_empty());

    let stored = app.stored_bytes().await;
    for (place, bytes) in &stored {
        assert!(
            !bytes
                .windows(cookie.len())
                .any(|window| window == cookie.as_bytes()),
            "the session id is in {place}"
        );
    }
    assert!(stored.len() >= 2, "the database and its WAL were read");
    assert_eq!(app.count("sessions").await, 1, "the session is stored");
    let stored: String = app.scalar("SELECT id FROM sessions").await;
    assert_eq!(stored.len(), 64, "a SHA-256 in hex: {stored}");
}

// ------------------------------------------------------------------ connection deadlines and limits

/// How long the server lets a silent or slow connection live, with a margin for a busy machine.
const DEADLINE: Duration = Duration::from_secs(20);

/// True when `stream` ends (end of file or an error) within `wait`.
async fn closed_within<S: tokio::io::AsyncRead + Unpin>(stream: &mut S, wait: Duration) -> bool {
    let mut buf = [0u8; 512];
    let deadline = tokio::time::Instant::now() + wait;
    loop {
        match tokio::time::timeout_at(deadline, stream.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) => return true,
            Ok(Ok(_)) => {}
            Err(_) => return false,
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn eleven_hundred_idle_connections_do_not_take_down_a_server_with_1024_open_files() {
    // The test holds 1,100 connections itself: it needs more than the usual 1,024 files.
    let (_, hard) = rlimit::Resource::NOFILE.get().unwrap();
    let ours = rlimit::increase_nofile_limit(hard).unwrap();
    assert!(ours >= 2_500, "the test needs 2,500 open files, has {ours}");
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    // Soft and hard limit 1,024, as systemd gives a service by default: it cannot raise them.
    let server = process::ServerProcess::start("ulimit -n 1024", &data, &[]).await;
    let addr: std::net::SocketAddr = format!("127.0.0.1:{}", server.port).parse().unwrap();
    let tls = helpers::trusting_ca(&helpers::postgres::ca_dir_for(&data));

    let attempts = (0..1_100).map(|_| helpers::raw_tls(addr, tls.clone()));
    let mut idle: Vec<_> = futures_util::future::join_all(attempts)
        .await
        .into_iter()
        .flatten()
        .collect();

    assert!(
        !idle.is_empty() && idle.len() <= 256,
        "{} idle connections were let in; the cap is 256 per address",
        idle.len()
    );
    // Someone else on the ward (another address) is still served, and quickly.
    let (client, _) = helpers::new_client();
    let started = Instant::now();
    let other = reqwest::Client::builder()
        .local_address(Some("127.0.0.2".parse().unwrap()))
        .tls_danger_accept_invalid_certs(true)
        .build()
        .unwrap();
    let health = other.get(server.url("/healthz")).send().await.unwrap();
    assert_eq!(health.status(), StatusCode::OK);
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "answered in {:?}",
        started.elapsed()
    );
    drop(client);

    let still_open = futures_util::future::join_all(
        idle.iter_mut()
            .map(|stream| async move { !closed_within(stream, DEADLINE).await }),
    )
    .await
    .into_iter()
    .filter(|open| *open)
    .count();
    assert_eq!(still_open, 0, "idle connections are closed by the deadline");
    let health = other.get(server.url("/healthz")).send().await.unwrap();
    assert_eq!(health.status(), StatusCode::OK);
}

#[tokio::test]
async fn a_client_trickling_one_header_line_a_second_is_cut() {
    let app = spawn_app().await;
    let mut stream = helpers::raw_tls(app.addr, helpers::trusting_ca(&app.ca_dir()))
        .await
        .expect("a connection");
    stream
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\n")
        .await
        .unwrap();
    let started = Instant::now();

    let mut cut = false;
    for line in 0..40 {
        tokio::time::sleep(Duration::from_secs(1)).await;
        let header = format!("X-Slow-{line}: still here\r\n");
        if stream.write_all(header.as_bytes()).await.is_err() || stream.flush().await.is_err() {
            cut = true;
            break;
        }
        let mut probe = [0u8; 256];
        if let Ok(read) =
            tokio::time::timeout(Duration::from_millis(1), stream.read(&mut probe)).await
        {
            // Anything read (an error page) or the end of the stream: the server gave up on it.
            let _ = read;
            cut = true;
            break;
        }
    }

    assert!(cut, "the connection is still open after 40 s");
    assert!(
        started.elapsed() < DEADLINE,
        "cut after {:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn a_64_kib_request_head_gets_431() {
    let app = spawn_app().await;

    let response = app
        .client
        .get(app.url("/login"))
        .header("X-Padding", "a".repeat(64 * 1024))
        .send()
        .await
        .unwrap();

    assert_eq!(
        response.status(),
        StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE
    );
    assert_eq!(app.get("/healthz").await.status(), StatusCode::OK);
}

#[tokio::test]
async fn a_websocket_that_never_connects_to_socket_io_is_closed() {
    let app = spawn_app().await;
    let mut silent = helpers::socket::open_without_connecting(&app).await;

    assert!(
        silent.connection_ends_within(Duration::from_secs(15)).await,
        "closed by the connect deadline"
    );
}

// ------------------------------------------------------------------ a full disk

/// A small tmpfs mounted on a temporary directory, unmounted when dropped (also when a test fails).
struct SmallDisk {
    dir: tempfile::TempDir,
}

impl SmallDisk {
    /// Mounts one of `size` (e.g. "8m"); `None`, with the reason printed, when this process may not
    /// mount (not root).
    fn mount(size: &str) -> Option<SmallDisk> {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let status = Command::new("mount")
            .args([
                "-t",
                "tmpfs",
                "-o",
                &format!("size={size},mode=0700"),
                "tmpfs",
            ])
            .arg(dir.path())
            .stderr(Stdio::null())
            .status();
        match status {
            Ok(status) if status.success() => Some(SmallDisk { dir }),
            _ => {
                eprintln!(
                    "SKIPPED: mounting a tmpfs needs root (CI runs as root); the disk-full test did not run"
                );
                None
            }
        }
    }

    fn path(&self) -> &std::path::Path {
        self.dir.path()
    }

    /// Fills the disk to the last byte with a file; returns its path.
    fn fill(&self) -> std::path::PathBuf {
        use std::io::Write;
        let path = self.path().join("filler");
        let mut file = std::fs::File::create(&path).expect("the filler file");
        let chunk = vec![0u8; 64 * 1024];
        while file.write_all(&chunk).is_ok() {}
        while file.write_all(&[0u8]).is_ok() {}
        let _ = file.sync_all();
        path
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = Command::new("umount")
            .arg("-l")
            .arg(self.dir.path())
            .status();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_full_disk_refuses_calls_it_cannot_record_says_why_and_recovers_within_a_second() {
    let Some(disk) = SmallDisk::mount("16m") else {
        return;
    };
    let data = disk.path().join("data");
    // SQLite's file on a small disk: on every leg.
    let app = spawn_app_with(|c| {
        c.data_dir = data.clone();
        helpers::on_sqlite(c);
    })
    .await;
    let (_, room) = app.nurse_with_room("Ana").await;
    let bedside_ticket = app
        .ticket_with(&app.client, &format!("/rooms/{room}/ticket?as=patient"))
        .await;
    let cookie = app.cookie_header(&app.jar);
    let card = app.create_invite(&room, "Marta").await;
    let (device, _) = app.admitted_relative(&card).await;
    let relative_ticket = app.ticket_with(&device, "/visit/ticket").await;
    let mut bedside = socket::connect(
        &app,
        Some(&app.ws_origin()),
        Some(&cookie),
        serde_json::json!({ "ticket": bedside_ticket }),
    )
    .await
    .expect_connected();
    bedside.join().await;
    let visits_before = app.count("visit_log").await;
    let patients_before = app.count("patients").await;

    // An empty WAL, as after a checkpoint: every write from now on needs fresh blocks (a WAL
    // with room left in it would take a few small writes before the disk shows as full).
    visitas::sql!(&app.db(), |c| sqlx::query(
        "PRAGMA wal_checkpoint(TRUNCATE)"
    )
    .execute(&mut *c)
    .await
    .map(|done| done.rows_affected()))
    .unwrap();
    let filler = disk.fill();

    // A relative's join cannot be recorded: refused, and no call starts without its row.
    let mut relative = socket::connect(
        &app,
        Some(&app.ws_origin()),
        None,
        serde_json::json!({ "ticket": relative_ticket }),
    )
    .await
    .expect_connected();
    let answer = relative.call("join").await;
    assert_eq!(
        answer,
        Some(serde_json::json!({ "error": "not-recorded" })),
        "the join is refused"
    );
    assert!(
        bedside
            .receives_no("peer-joined", Duration::from_millis(500))
            .await,
        "the bedside is not put in a call"
    );
    // A nurse's write shows a page naming the cause, in her language.
    let refused = app.post_patient("Berta", "UCI", "4", "").await;
    assert_eq!(refused.status(), StatusCode::SERVICE_UNAVAILABLE);
    let page = text(refused).await;
    assert!(
        page.contains("el disco del servidor está lleno"),
        "the page names the cause: {page}"
    );
    let health = app.get("/healthz").await;
    assert_eq!(health.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert!(text(health).await.contains("disk full"));
    // Nobody signs in without the login's audit row.
    let sessions_before = app.count("sessions").await;
    let (pc, pc_jar) = helpers::new_client();
    let login = app
        .login_with(&pc, &pc_jar, "nurse.ana", helpers::PASSWORD)
        .await;
    assert_eq!(login.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert!(
        text(login)
            .await
            .contains("el disco del servidor está lleno")
    );
    assert_eq!(app.count("sessions").await, sessions_before);
    // Many writes fail at once (a busy ward): none may leave the database locked afterwards.
    let ward_uci = app.ward("UCI", "00:00-24:00").await;
    let burst = (0..20).map(|i| {
        let name = format!("Paciente {i}");
        let (app, ward_uci) = (&app, &ward_uci);
        async move {
            app.post(
                "/patients",
                &[
                    ("display_name", name.as_str()),
                    ("ward_id", ward_uci.as_str()),
                    ("bed", "5"),
                    ("record_number", ""),
                ],
            )
            .await
            .status()
        }
    });
    let statuses = futures_util::future::join_all(burst).await;
    assert!(
        statuses
            .iter()
            .all(|s| *s == StatusCode::SERVICE_UNAVAILABLE),
        "{statuses:?}"
    );

    std::fs::remove_file(&filler).unwrap();
    let freed = Instant::now();
    let mut recovered = None;
    while freed.elapsed() < Duration::from_secs(10) {
        let response = app.post_patient("Berta", "UCI", "4", "").await;
        if response.status() == StatusCode::SEE_OTHER {
            recovered = Some(freed.elapsed());
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let recovered = recovered.expect("writes work again after space is freed");
    println!("a write succeeded {recovered:?} after space was freed");
    assert!(
        recovered < Duration::from_secs(1),
        "a write succeeded {recovered:?} after space was freed"
    );
    assert_eq!(app.count("patients").await, patients_before + 1);
    assert_eq!(
        app.count("visit_log").await,
        visits_before,
        "no row for the refused join"
    );
    assert_eq!(app.get("/healthz").await.status(), StatusCode::OK);
    let check: String = app.scalar("PRAGMA integrity_check").await;
    assert_eq!(check, "ok");
    drop(app);
}
