//! First start: the one-time setup link, `visitas admin create`, and the real binary.

mod helpers;

use std::{
    io::{BufRead, BufReader},
    process::{Command, Stdio},
    time::Duration,
};

use helpers::{PASSWORD, location, new_client, process, spawn_app, start_in, text};
use reqwest::StatusCode;

const ADMIN_FORM: [(&str, &str); 4] = [
    ("username", "admin.root"),
    ("display_name", "Admin Root"),
    ("password", PASSWORD),
    ("password_confirm", PASSWORD),
];

#[tokio::test]
async fn the_setup_link_creates_the_first_administrator_once() {
    let app = spawn_app().await;
    let setup = app
        .setup_path()
        .expect("a setup link while no administrator exists");
    assert_eq!(app.get(&setup).await.status(), StatusCode::OK);

    let created = app.post(&setup, &ADMIN_FORM).await;

    assert_eq!(created.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&created), "/login");
    assert_eq!(
        app.login("admin.root").await.status(),
        StatusCode::SEE_OTHER
    );
    assert_eq!(app.get("/admin/staff").await.status(), StatusCode::OK);
    let (other, other_jar) = new_client();
    assert_eq!(
        app.get_with(&other, &setup).await.status(),
        StatusCode::NOT_FOUND
    );
    let mut second = ADMIN_FORM;
    second[0] = ("username", "intruder");
    let reused = app.post_with(&other, &other_jar, &setup, &second).await;
    assert_eq!(reused.status(), StatusCode::NOT_FOUND);
    assert!(text(reused).await.contains("no es válido"));
    assert_eq!(app.count("staff").await, 1);
}

#[tokio::test]
async fn an_expired_setup_link_does_nothing() {
    let app = spawn_app().await;
    let setup = app.setup_path().unwrap();
    visitas::sql!(&app.db(), |c| sqlx::query(
        "UPDATE setup_tokens SET expires_at = $1"
    )
    .bind(chrono::Utc::now().timestamp() - 1)
    .execute(&mut *c)
    .await
    .map(|done| done.rows_affected()))
    .unwrap();

    let page = app.get(&setup).await;
    let post = app.post(&setup, &ADMIN_FORM).await;

    assert_eq!(page.status(), StatusCode::NOT_FOUND);
    assert_eq!(post.status(), StatusCode::NOT_FOUND);
    assert_eq!(app.count("staff").await, 0);
}

#[tokio::test]
async fn the_setup_link_is_valid_for_one_hour_and_stored_hashed() {
    let app = spawn_app().await;
    let setup = app.setup_path().unwrap();
    let token = setup.trim_start_matches("/setup/");

    let (hash, created, expires): (String, i64, i64) =
        visitas::sql!(&app.db(), |c| sqlx::query_as(
            "SELECT token_hash, created_at, expires_at FROM setup_tokens"
        )
        .fetch_one(&mut *c)
        .await)
        .unwrap();

    assert_eq!(expires - created, 3600);
    assert_ne!(hash, token);
    assert_eq!(hash, visitas::domain::sha256_hex(token));
}

#[tokio::test]
async fn a_weak_password_at_setup_is_refused_and_the_link_still_works() {
    let app = spawn_app().await;
    let setup = app.setup_path().unwrap();
    let mut weak = ADMIN_FORM;
    weak[2] = ("password", "password1234");
    weak[3] = ("password_confirm", "password1234");

    let response = app.post(&setup, &weak).await;

    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    assert!(text(response).await.contains("demasiado común"));
    assert_eq!(app.count("staff").await, 0);
    assert_eq!(
        app.post(&setup, &ADMIN_FORM).await.status(),
        StatusCode::SEE_OTHER
    );
}

#[tokio::test]
async fn no_setup_link_once_an_administrator_exists() {
    let app = spawn_app().await;
    let old = app.setup_path().unwrap();
    app.create_staff(visitas::domain::Role::Admin, "admin.root")
        .await;

    let (dir, config) = app.stop().await;
    let restarted = start_in(dir, config).await;

    assert!(restarted.setup_path().is_none());
    assert_eq!(restarted.get(&old).await.status(), StatusCode::NOT_FOUND);
}

fn visitas_binary() -> Command {
    Command::new(env!("CARGO_BIN_EXE_visitas"))
}

#[tokio::test]
async fn admin_create_reads_the_password_from_stdin_and_the_account_logs_in() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let output = process::admin_create(
        "",
        &data,
        "Admin.Cli",
        &["--display-name", "Admin CLI"],
        PASSWORD,
    );
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );

    let weak = process::admin_create("", &data, "admin.two", &[], "short");
    assert!(!weak.status.success());
    assert!(String::from_utf8_lossy(&weak.stderr).contains("at least 12 characters"));

    let config = visitas::config::Config::with_defaults("127.0.0.1:0".parse().unwrap(), data);
    let app = start_in(dir, config).await;
    assert!(
        app.setup_path().is_none(),
        "no setup link once an administrator exists"
    );
    assert_eq!(app.login("admin.cli").await.status(), StatusCode::SEE_OTHER);
    assert_eq!(app.get("/admin/staff").await.status(), StatusCode::OK);
    assert_eq!(app.count("staff").await, 1);
}

#[tokio::test]
async fn the_binary_prints_a_working_setup_link_and_stops_cleanly_on_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let mut child = visitas_binary()
        .args(["--bind", "127.0.0.1:0", "--data-dir"])
        .arg(dir.path().join("data"))
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let lines = tokio::task::spawn_blocking(move || {
        BufReader::new(stdout)
            .lines()
            .map_while(Result::ok)
            .take_while(|line| !line.starts_with("(or run"))
            .collect::<Vec<_>>()
    });
    let lines = tokio::time::timeout(Duration::from_secs(60), lines)
        .await
        .expect("server starts")
        .unwrap();
    let listening = lines
        .iter()
        .find(|l| l.starts_with("Visitas is listening on"))
        .expect("a listening line");
    let port: u16 = listening
        .split_whitespace()
        .nth(4)
        .and_then(|addr| addr.rsplit(':').next())
        .and_then(|p| p.parse().ok())
        .expect("a port");
    let link = lines
        .iter()
        .find_map(|l| l.trim().strip_prefix("https://localhost:"))
        .expect("a setup link");
    assert!(link.starts_with(&format!("{port}/setup/")));

    let (client, _) = new_client();
    let path = &link[link.find('/').unwrap()..];
    let page = client
        .get(format!("https://127.0.0.1:{port}{path}"))
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), StatusCode::OK);

    let status = Command::new("kill")
        .arg("-TERM")
        .arg(child.id().to_string())
        .status()
        .unwrap();
    assert!(status.success());
    let exited = tokio::task::spawn_blocking(move || child.wait());
    let exit = tokio::time::timeout(Duration::from_secs(20), exited)
        .await
        .expect("stops")
        .unwrap()
        .unwrap();
    assert!(exit.success(), "graceful shutdown exits 0, got {exit:?}");
}

#[tokio::test]
async fn a_used_setup_link_stays_used_even_if_no_administrator_is_left() {
    let app = spawn_app().await;
    let setup = app.setup_path().unwrap();
    app.post(&setup, &ADMIN_FORM).await;
    let (used_at,): (Option<i64>,) = visitas::sql!(&app.db(), |c| sqlx::query_as(
        "SELECT used_at FROM setup_tokens"
    )
    .fetch_one(&mut *c)
    .await)
    .unwrap();
    assert!(used_at.is_some());

    visitas::sql!(&app.db(), |c| sqlx::query(
        "UPDATE staff SET active = FALSE"
    )
    .execute(&mut *c)
    .await
    .map(|done| done.rows_affected()))
    .unwrap();
    let mut second = ADMIN_FORM;
    second[0] = ("username", "second.admin");
    let reused = app.post(&setup, &second).await;

    assert_eq!(reused.status(), StatusCode::NOT_FOUND);
    assert_eq!(app.count("staff").await, 1);
}

#[tokio::test]
async fn the_database_is_durable_and_checks_foreign_keys() {
    // SQLite's own settings: on the PostgreSQL leg too, the server on its file.
    let app = helpers::spawn_app_with(helpers::on_sqlite).await;

    let journal: String = app.scalar("PRAGMA journal_mode").await;
    let synchronous: i64 = app.scalar("PRAGMA synchronous").await;
    let foreign_keys: i64 = app.scalar("PRAGMA foreign_keys").await;
    let busy: i64 = app.scalar("PRAGMA busy_timeout").await;

    assert_eq!(journal, "wal");
    assert_eq!(synchronous, 2, "FULL");
    assert_eq!(foreign_keys, 1);
    assert!(busy >= 1000);
    assert!(app.config.database_path().expect("a file").exists());
}

#[test]
fn the_default_is_https_on_port_3000_with_data_in_the_working_directory() {
    let config =
        visitas::config::Config::with_defaults("0.0.0.0:3000".parse().unwrap(), "data".into());
    let parsed = <visitas::cli::Cli as clap::Parser>::try_parse_from(["visitas"]).unwrap();

    assert_eq!(parsed.config.bind.to_string(), "0.0.0.0:3000");
    assert_eq!(parsed.config.data_dir, std::path::PathBuf::from("data"));
    assert_eq!(
        config.database_path(),
        Some(std::path::PathBuf::from("data/visitas.db"))
    );
    assert!(parsed.command.is_none(), "serve is the default");
}
