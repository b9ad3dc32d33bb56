//! The administrators' side: the audit trail's hash chain (and `visitas audit verify` on the real
//! binary), what the trail records and never records, the audit page.

mod helpers;

use std::process::Command;

use helpers::{PASSWORD, TestApp, new_client, spawn_app, text};
use reqwest::StatusCode;
use serde_json::Value;
use visitas::{db, domain::AuditAction};

/// `visitas audit verify` on a data directory: (exit success, stdout and stderr).
fn verify(data_dir: &std::path::Path) -> (bool, String) {
    let output = Command::new(env!("CARGO_BIN_EXE_visitas"))
        .arg("audit")
        .arg("verify")
        .arg("--data-dir")
        .arg(data_dir)
        .output()
        .expect("the visitas binary runs");
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    (output.status.success(), said)
}

/// Where `needle` is in `haystack`, every time.
fn positions(haystack: &[u8], needle: &[u8]) -> Vec<usize> {
    haystack
        .windows(needle.len())
        .enumerate()
        .filter(|(_, w)| *w == needle)
        .map(|(i, _)| i)
        .collect()
}

async fn audit_text(app: &TestApp) -> String {
    let rows: Vec<(String,)> = sqlx::query_as(
        "SELECT COALESCE(actor_id, '') || ' ' || action || ' ' || COALESCE(subject, '') || ' ' ||
                COALESCE(detail, '') FROM audit_events ORDER BY id",
    )
    .fetch_all(&app.db())
    .await
    .expect("the audit rows");
    rows.into_iter()
        .map(|(row,)| row)
        .collect::<Vec<_>>()
        .join("\n")
}

/// A nurse with a patient, a relative with a visit running now, and the relative's card.
async fn visit_running(app: &TestApp) -> (String, helpers::InviteCard) {
    app.logged_in_nurse().await;
    let patient = app.register_patient("Ana Pérez", "").await;
    let room = app.create_room(&patient).await;
    let card = app.create_invite(&room, "Lola").await;
    (patient, card)
}

#[tokio::test]
async fn the_audit_rows_form_a_chain_that_one_changed_byte_breaks() {
    let app = spawn_app().await;
    let (_, card) = visit_running(&app).await;
    // A wrong code, then the right one: both are audited.
    let (relative, jar) = new_client();
    let opened = app.get_with(&relative, &TestApp::invite_path(&card)).await;
    assert_eq!(opened.status(), StatusCode::OK);
    let wrong = if card.code == "000000" {
        "111111"
    } else {
        "000000"
    };
    app.type_code(&relative, &jar, wrong).await;
    let right = app.type_code(&relative, &jar, &card.code).await;
    assert_eq!(right.status(), StatusCode::SEE_OTHER);

    // The database refuses changing or removing an audit row, and inserting one without its hash.
    let before = app.count("audit_events").await;
    assert!(before >= 8, "the flow wrote its audit rows: {before}");
    let db = app.db();
    let changed = sqlx::query("UPDATE audit_events SET action = 'login' WHERE id = 1")
        .execute(&db)
        .await;
    assert!(changed.is_err(), "an audit row cannot be changed");
    let removed = sqlx::query("DELETE FROM audit_events WHERE id = 2")
        .execute(&db)
        .await;
    assert!(removed.is_err(), "an audit row cannot be removed");
    let unsealed = sqlx::query("INSERT INTO audit_events (at, action) VALUES (1, 'login')")
        .execute(&db)
        .await;
    assert!(
        unsealed.is_err(),
        "an audit row without its hash is refused"
    );
    assert_eq!(app.count("audit_events").await, before, "nothing changed");

    let state = db::audit::verify(&db).await.expect("the chain reads");
    assert_eq!(state.broken, None);
    assert_eq!(state.rows, u64::try_from(before).expect("a count"));
    let (refused,): (i64,) =
        sqlx::query_as("SELECT id FROM audit_events WHERE action = 'invite.code_refused'")
            .fetch_one(&db)
            .await
            .expect("the wrong code is audited");

    // On the real binary, with the server stopped: intact.
    drop(db);
    let (dir, config) = app.stop().await;
    let (ok, said) = verify(&config.data_dir);
    assert!(ok, "verify passes on an intact chain: {said}");
    assert!(
        said.contains(&format!("Audit trail intact: {before} rows")),
        "{said}"
    );

    // One byte of that row's action, changed in the file itself (past every trigger).
    let file = config.database_path();
    let mut bytes = std::fs::read(&file).expect("the database file");
    let found = positions(&bytes, b"invite.code_refused");
    assert_eq!(found.len(), 1, "the action is stored once in the file");
    bytes[found[0] + "invite.code_refuse".len()] = b'e';
    std::fs::write(&file, &bytes).expect("the file written back");

    let (ok, said) = verify(&config.data_dir);
    assert!(!ok, "verify fails on a changed row: {said}");
    assert!(
        said.contains(&format!("broken at row {refused}:")),
        "verify names the changed row {refused}: {said}"
    );
    drop(dir);
}

#[tokio::test]
async fn removing_the_last_rows_or_a_middle_one_breaks_the_chain_too() {
    let app = spawn_app().await;
    visit_running(&app).await;
    let db = app.db();
    let rows = app.count("audit_events").await;
    let state = db::audit::verify(&db).await.expect("the chain reads");
    assert_eq!(state.broken, None);

    // Without the triggers (someone with the file and a SQLite shell): the chain still tells.
    sqlx::query("DROP TRIGGER audit_events_no_delete")
        .execute(&db)
        .await
        .expect("dropped");
    sqlx::query("DELETE FROM audit_events WHERE id = $1")
        .bind(rows)
        .execute(&db)
        .await
        .expect("removed");
    let state = db::audit::verify(&db).await.expect("the chain reads");
    assert_eq!(
        state.broken,
        Some(db::audit::Break::End {
            last: rows - 1,
            head_seq: rows
        })
    );
    sqlx::query("DELETE FROM audit_events WHERE id = 3")
        .execute(&db)
        .await
        .expect("removed");
    let state = db::audit::verify(&db).await.expect("the chain reads");
    assert_eq!(state.broken, Some(db::audit::Break::Row(4)));
}

#[tokio::test]
async fn refused_logins_and_codes_are_audited_without_what_was_typed() {
    let app = spawn_app().await;
    let nurse = app
        .create_staff(visitas::domain::Role::Nurse, "nurse.ana")
        .await;
    let (client, jar) = new_client();
    let typo = "correct horse battery 43";
    let refused = app.login_with(&client, &jar, "nurse.ana", typo).await;
    assert_eq!(refused.status(), StatusCode::UNAUTHORIZED);
    let unknown = app
        .login_with(&client, &jar, "secret-in-the-name-field", PASSWORD)
        .await;
    assert_eq!(unknown.status(), StatusCode::UNAUTHORIZED);

    let rows: Vec<(Option<String>, Option<String>)> = sqlx::query_as(
        "SELECT subject, detail FROM audit_events WHERE action = 'login.refused' ORDER BY id",
    )
    .fetch_all(&app.db())
    .await
    .expect("the refusals");
    assert_eq!(
        rows,
        vec![
            (Some(nurse.clone()), Some("wrong-password".to_string())),
            (None, Some("unknown-account".to_string())),
        ]
    );
    let trail = audit_text(&app).await;
    assert!(!trail.contains(typo) && !trail.contains("secret-in-the-name-field"));

    // A deactivated account's refusal says so.
    let admin = app
        .create_staff(visitas::domain::Role::Admin, "admin")
        .await;
    assert_eq!(app.login("admin").await.status(), StatusCode::SEE_OTHER);
    let deactivated = app
        .post(&format!("/admin/staff/{nurse}/deactivate"), &[])
        .await;
    assert_eq!(deactivated.status(), StatusCode::SEE_OTHER);
    let (client, jar) = new_client();
    app.login_with(&client, &jar, "nurse.ana", PASSWORD).await;
    let (detail,): (String,) = sqlx::query_as(
        "SELECT detail FROM audit_events WHERE action = 'login.refused' ORDER BY id DESC LIMIT 1",
    )
    .fetch_one(&app.db())
    .await
    .expect("the refusal");
    assert_eq!(detail, "deactivated");
    assert!(!admin.is_empty());
}

#[tokio::test]
async fn an_invite_locked_by_wrong_codes_is_audited_once() {
    let app = spawn_app().await;
    let (_, card) = visit_running(&app).await;
    let (relative, jar) = new_client();
    app.get_with(&relative, &TestApp::invite_path(&card)).await;
    let wrong = if card.code == "000000" {
        "111111"
    } else {
        "000000"
    };
    for _ in 0..7 {
        app.type_code(&relative, &jar, wrong).await;
    }
    let count = |action: &'static str| {
        let db = app.db();
        async move {
            let (n,): (i64,) =
                sqlx::query_as("SELECT COUNT(*) FROM audit_events WHERE action = $1")
                    .bind(action)
                    .fetch_one(&db)
                    .await
                    .expect("a count");
            n
        }
    };
    let max = visitas::db::invites::MAX_CODE_ATTEMPTS;
    assert_eq!(count("invite.code_refused").await, max - 1);
    assert_eq!(count("invite.locked").await, 1);
}

#[tokio::test]
async fn no_secret_reaches_the_audit_trail_in_a_whole_visit() {
    let app = spawn_app().await;
    let (patient, card) = visit_running(&app).await;
    let token = card.link.rsplit('/').next().expect("a token").to_string();
    assert!(token.len() >= 16, "the link's token: {token}");
    let (relative, relative_jar) = app.admitted_relative(&card).await;
    let relative_cookie = app.cookie_header(&relative_jar);

    // A tablet paired to the patient with its pairing code.
    let (tablet, tablet_jar) = new_client();
    assert_eq!(
        app.get_with(&tablet, "/bedside").await.status(),
        StatusCode::OK
    );
    let pairing: Value = app
        .post_with(&tablet, &tablet_jar, "/bedside/pairing", &[])
        .await
        .json()
        .await
        .expect("a pairing code");
    let pairing_code = pairing["code"].as_str().expect("a code").replace(' ', "");
    let paired = app
        .post(
            &format!("/patients/{patient}/devices"),
            &[("code", &pairing_code)],
        )
        .await;
    assert_eq!(paired.status(), StatusCode::SEE_OTHER);
    let ticket = app.ticket_with(&relative, "/visit/ticket").await;

    let trail = audit_text(&app).await;
    assert!(trail.lines().count() >= 8, "{trail}");
    let staff_cookie = app.cookie_header(&app.jar);
    for (what, secret) in [
        ("password", PASSWORD.to_string()),
        ("invite token", token),
        ("access code", card.code.clone()),
        ("pairing code", pairing_code),
        ("call ticket", ticket),
    ] {
        assert!(
            !trail.contains(&secret),
            "the {what} is not in the audit trail"
        );
    }
    for cookie in [staff_cookie, relative_cookie] {
        for pair in cookie.split(';') {
            if let Some((_, value)) = pair.trim().split_once('=')
                && value.len() >= 16
            {
                assert!(!trail.contains(value), "no cookie in the audit trail");
            }
        }
    }
}

#[tokio::test]
async fn the_audit_page_shows_the_chain_and_filters_and_pages_the_rows() {
    let app = spawn_app().await;
    let admin = app
        .create_staff(visitas::domain::Role::Admin, "admin")
        .await;
    assert_eq!(app.login("admin").await.status(), StatusCode::SEE_OTHER);
    // 250 refused logins to page through, written as the server writes them.
    let db = app.db();
    for _ in 0..250 {
        let mut conn = db.acquire().await.expect("a connection");
        db::audit::record_detail(
            &mut conn,
            None,
            AuditAction::LoginRefused,
            None,
            Some("unknown-account"),
        )
        .await
        .expect("recorded");
    }
    let page = app.get("/admin/audit").await;
    assert_eq!(page.status(), StatusCode::OK);
    let html = text(page).await;
    assert!(html.contains("data-chain=\"intact\""), "{html}");
    let total = app.count("audit_events").await;
    assert!(html.contains(&format!("se comprobaron {total} filas")));
    assert_eq!(html.matches("<tr data-audit=").count(), 100);

    // Filtered by action: only those rows; the older pages reach the first of them.
    let mut path = "/admin/audit?action=login.refused".to_string();
    let mut seen = 0;
    let mut pages = 0;
    loop {
        let html = text(app.get(&path).await).await;
        seen += html.matches("data-action=\"login.refused\"").count();
        assert_eq!(
            html.matches("<tr data-audit=").count(),
            html.matches("data-action=\"login.refused\"").count()
        );
        pages += 1;
        let next = html
            .split("<a href=\"")
            .filter_map(|s| s.split_once("\" rel=\"next\""))
            .map(|(href, _)| {
                href.replace("&#x2f;", "/")
                    .replace("&#47;", "/")
                    .replace("&#38;", "&")
                    .replace("&amp;", "&")
            })
            .next();
        match next {
            Some(next) => path = next,
            None => break,
        }
        assert!(pages < 10, "paging ends");
    }
    assert_eq!(seen, 250);
    assert_eq!(pages, 3);

    // By who: the administrator's own login only.
    let html = text(app.get(&format!("/admin/audit?actor={admin}")).await).await;
    assert_eq!(html.matches("<tr data-audit=").count(), 1);
    assert!(html.contains("data-action=\"login\""));

    // A date that is not one: said, in the person's language, and no rows.
    let bad = app.get("/admin/audit?from=2026-13-45").await;
    assert_eq!(bad.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let html = text(bad).await;
    assert!(html.contains("class=\"field-error\""), "{html}");
    assert_eq!(html.matches("<tr data-audit=").count(), 0);
    let unknown = app.get("/admin/audit?action=drop.tables").await;
    assert_eq!(unknown.status(), StatusCode::UNPROCESSABLE_ENTITY);

    // Today's rows, in the hospital's day: all of them.
    let today = chrono::Local::now().date_naive().to_string();
    let html = text(
        app.get(&format!("/admin/audit?from={today}&until={today}"))
            .await,
    )
    .await;
    assert_eq!(html.matches("<tr data-audit=").count(), 100);

    // A nurse may not see it.
    let (nurse_client, nurse_jar) = new_client();
    app.create_staff(visitas::domain::Role::Nurse, "nurse.ana")
        .await;
    app.login_with(&nurse_client, &nurse_jar, "nurse.ana", PASSWORD)
        .await;
    let refused = app.get_with(&nurse_client, "/admin/audit").await;
    assert_eq!(refused.status(), StatusCode::FORBIDDEN);
}
