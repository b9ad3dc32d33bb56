//! The server against hostile clients, careless settings and a full disk: connection deadlines and
//! limits, owner-only files, hashed session ids, parallel logins, refused names and settings, and a
//! visit log that fails closed.

mod helpers;

use std::process::{Command, Stdio};

use helpers::{spawn_app, text};
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
    let cases: [(&[&str], &str); 6] = [
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
        let response = app
            .post(
                "/patients",
                &[
                    ("display_name", name),
                    ("ward", "UCI"),
                    ("bed", "3"),
                    ("record_number", ""),
                ],
            )
            .await;

        assert_eq!(response.status(), StatusCode::BAD_REQUEST, "{name:?}");
        let body = text(response).await;
        assert!(
            body.contains("No puede contener caracteres invisibles ni de dirección del texto"),
            "{name:?}"
        );
    }
    assert_eq!(app.count("patients").await, 0);

    let patient = app.register_patient("Ana", "").await;
    let room = app.create_room(&patient).await;
    let response = app
        .post(
            &format!("/rooms/{room}/invites"),
            &[
                ("relative_name", "Luis\u{202E}"),
                ("relationship", "hijo"),
                ("lang", "es"),
            ],
        )
        .await;
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    assert_eq!(app.count("invites").await, 0);

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
