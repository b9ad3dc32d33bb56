//! The administrators' side: the audit trail's hash chain (and `visitas audit verify` on the real
//! binary), what the trail records and never records, the audit page.

mod helpers;

use std::process::Command;

use helpers::{PASSWORD, TestApp, new_client, spawn_app, spawn_app_with, text};
use reqwest::StatusCode;
use serde_json::Value;
use visitas::{db, domain::AuditAction};

/// `visitas audit verify` on a data directory: (exit success, stdout and stderr).
fn verify(data_dir: &std::path::Path) -> (bool, String) {
    visitas_cli(&["audit", "verify"], data_dir)
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
    let rows: Vec<(String,)> = visitas::sql!(&app.db(), |c| {
        sqlx::query_as(
        "SELECT COALESCE(actor_id, '') || ' ' || action || ' ' || COALESCE(subject, '') || ' ' ||
                COALESCE(detail, '') FROM audit_events ORDER BY id",
    )
    .fetch_all(&mut *c).await
    })
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
    let changed = visitas::sql!(&db, |c| sqlx::query(
        "UPDATE audit_events SET action = 'login' WHERE id = 1"
    )
    .execute(&mut *c)
    .await
    .map(|done| done.rows_affected()));
    assert!(changed.is_err(), "an audit row cannot be changed");
    let removed = visitas::sql!(&db, |c| sqlx::query(
        "DELETE FROM audit_events WHERE id = 2"
    )
    .execute(&mut *c)
    .await
    .map(|done| done.rows_affected()));
    assert!(removed.is_err(), "an audit row cannot be removed");
    let unsealed = visitas::sql!(&db, |c| sqlx::query(
        "INSERT INTO audit_events (at, action) VALUES (1, 'login')"
    )
    .execute(&mut *c)
    .await
    .map(|done| done.rows_affected()));
    assert!(
        unsealed.is_err(),
        "an audit row without its hash is refused"
    );
    assert_eq!(app.count("audit_events").await, before, "nothing changed");

    let state = db::audit::verify(&db).await.expect("the chain reads");
    assert_eq!(state.broken, None);
    assert_eq!(state.rows, u64::try_from(before).expect("a count"));
    let (refused,): (i64,) = visitas::sql!(&db, |c| sqlx::query_as(
        "SELECT id FROM audit_events WHERE action = 'invite.code_refused'"
    )
    .fetch_one(&mut *c)
    .await)
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

    // One byte of that row's action changed past every trigger: in the SQLite file itself, or
    // by PostgreSQL's owner with the triggers turned off.
    if let Some(file) = config.database_path() {
        let mut bytes = std::fs::read(&file).expect("the database file");
        let found = positions(&bytes, b"invite.code_refused");
        assert_eq!(found.len(), 1, "the action is stored once in the file");
        bytes[found[0] + "invite.code_refuse".len()] = b'e';
        std::fs::write(&file, &bytes).expect("the file written back");
    } else {
        let db = helpers::open_database_of(&config.data_dir).await;
        for statement in [
            "ALTER TABLE audit_events DISABLE TRIGGER audit_events_guard",
            "UPDATE audit_events SET action = 'invite.code_refusee' WHERE action = 'invite.code_refused'",
        ] {
            visitas::sql!(&db, |c| sqlx::query(statement)
                .execute(&mut *c)
                .await
                .map(|done| done.rows_affected()))
            .expect("changed past the trigger");
        }
        db.close().await;
    }

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

    // Without the triggers (someone with the file and a SQLite shell, or PostgreSQL's owner):
    // the chain still tells.
    let drop_trigger = match db.engine() {
        db::Engine::Sqlite => "DROP TRIGGER audit_events_no_delete",
        db::Engine::Postgres => "DROP TRIGGER audit_events_guard ON audit_events",
    };
    visitas::sql!(&db, |c| sqlx::query(drop_trigger)
        .execute(&mut *c)
        .await
        .map(|done| done.rows_affected()))
    .expect("dropped");
    visitas::sql!(&db, |c| sqlx::query(
        "DELETE FROM audit_events WHERE id = $1"
    )
    .bind(rows)
    .execute(&mut *c)
    .await
    .map(|done| done.rows_affected()))
    .expect("removed");
    let state = db::audit::verify(&db).await.expect("the chain reads");
    assert_eq!(
        state.broken,
        Some(db::audit::Break::End {
            last: rows - 1,
            head_seq: rows
        })
    );
    visitas::sql!(&db, |c| sqlx::query(
        "DELETE FROM audit_events WHERE id = 3"
    )
    .execute(&mut *c)
    .await
    .map(|done| done.rows_affected()))
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

    let rows: Vec<(Option<String>, Option<String>)> = visitas::sql!(&app.db(), |c| sqlx::query_as(
        "SELECT subject, detail FROM audit_events WHERE action = 'login.refused' ORDER BY id",
    )
    .fetch_all(&mut *c)
    .await)
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
    let (detail,): (String,) = visitas::sql!(&app.db(), |c| {
        sqlx::query_as(
        "SELECT detail FROM audit_events WHERE action = 'login.refused' ORDER BY id DESC LIMIT 1",
    )
    .fetch_one(&mut *c).await
    })
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
            let (n,): (i64,) = visitas::sql!(&db, |c| sqlx::query_as(
                "SELECT COUNT(*) FROM audit_events WHERE action = $1"
            )
            .bind(action)
            .fetch_one(&mut *c)
            .await)
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
    let (refusals,): (i64,) = visitas::sql!(&db, |c| sqlx::query_as(
        "SELECT COUNT(*) FROM audit_events
         WHERE action = 'access.refused' AND subject = 'admin' AND detail = '/admin/audit'",
    )
    .fetch_one(&mut *c)
    .await)
    .expect("a count");
    assert_eq!(refusals, 1, "the refusal is audited");

    // Later loads check only the rows written since (the last whole walk is recent), and
    // still count every row.
    for _ in 0..3 {
        let html = text(app.get("/admin/audit").await).await;
        let total = app.count("audit_events").await;
        assert!(html.contains("data-chain=\"intact\""), "{html}");
        assert!(
            html.contains(&format!("se comprobaron {total} filas")),
            "{total}"
        );
    }
}

// ------------------------------------------------------------------------------------------
// The visit log.

/// Visits generated straight into the database (one statement each table): visit `i` belongs
/// to patient `i % 90`, so to ward `i % 3`; it started `1 h + i × 10 min` ago; its outcome,
/// override, creator, relatives and admissions follow from `i` as below, so every filter's
/// answer is known without asking the database the same question.
struct Generated {
    wards: [String; 3],
    nurse: String,
    scheduler: String,
    now: i64,
}

const GENERATED: i64 = 50_000;

fn outcome_of(i: i64) -> &'static str {
    match i % 10 {
        0 => "missed",
        1 => "cancelled",
        2 => "network",
        3 => "revoked",
        _ => "completed",
    }
}

fn started_at(g: &Generated, i: i64) -> i64 {
    g.now - 3600 - i * 600
}

async fn generate_visits(app: &TestApp) -> Generated {
    let nurse = app.logged_in_nurse().await;
    let uci = app.ward("UCI", "00:00-24:00").await;
    let pediatria = app.ward("Pediatría", "00:00-24:00").await;
    let medicina = app.ward("Medicina", "00:00-24:00").await;
    let scheduler = app
        .create_staff(visitas::domain::Role::Nurse, "sched.b")
        .await;
    let admin = app
        .create_staff(visitas::domain::Role::Admin, "jefa.ana")
        .await;
    let g = Generated {
        wards: [uci, pediatria, medicina],
        nurse,
        scheduler,
        now: chrono::Utc::now().timestamp(),
    };
    let db = app.db();
    if db.engine() == db::Engine::Postgres {
        // The generator below names rows with SQLite's printf('p%021d', i); PostgreSQL's
        // spelling of that one format, in the throwaway test database only.
        visitas::sql!(&db, |c| sqlx::query(
            "CREATE OR REPLACE FUNCTION printf(fmt text, n bigint) RETURNS text
             LANGUAGE sql IMMUTABLE AS $$ SELECT left(fmt, 1) || lpad(n::text, 21, '0') $$"
        )
        .execute(&mut *c)
        .await
        .map(|done| done.rows_affected()))
        .expect("the test's printf");
    }
    let mut tx = db.begin().await.expect("a transaction");
    let series = |n: i64| {
        format!("WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i < {n} - 1)")
    };
    visitas::sql!(&mut tx, |c| sqlx::query(sqlx::AssertSqlSafe(format!(
        "{} INSERT INTO patients (id, display_name, bed, created_at, created_by, ward_id)
         SELECT printf('p%021d', i),
                CASE i WHEN 5 THEN 'Zoe Núñez' WHEN 7 THEN 'Raúl Peña' ELSE 'Paciente ' || i END,
                '' || i, $1, $2, CASE i % 3 WHEN 0 THEN $3 WHEN 1 THEN $4 ELSE $5 END FROM n",
        series(90)
    )))
    .bind(g.now)
    .bind(&admin)
    .bind(&g.wards[0])
    .bind(&g.wards[1])
    .bind(&g.wards[2])
    .execute(&mut *c)
    .await
    .map(|done| done.rows_affected()))
    .expect("patients");
    visitas::sql!(&mut tx, |c| sqlx::query(sqlx::AssertSqlSafe(format!(
        "{} INSERT INTO rooms (id, patient_id, created_at, created_by)
         SELECT printf('r%021d', i), printf('p%021d', i), $1, $2 FROM n",
        series(90)
    )))
    .bind(g.now)
    .bind(&admin)
    .execute(&mut *c)
    .await
    .map(|done| done.rows_affected()))
    .expect("rooms");
    visitas::sql!(&mut tx, |c| sqlx::query(
        "INSERT INTO relatives (id, patient_id, display_name, relationship, lang, authorised_at,
                                authorised_by)
         VALUES ('a000000000000000000005', printf('p%021d', 5), 'José Ñandú', 'hijo', 'es', $1, $2),
                ('a000000000000000000007', printf('p%021d', 7), '=HYPERLINK(\"x\")', 'hija', 'es',
                 $1, $2)",
    )
    .bind(g.now)
    .bind(&admin)
    .execute(&mut *c)
    .await
    .map(|done| done.rows_affected()))
    .expect("relatives");
    visitas::sql!(&mut tx, |c| sqlx::query(sqlx::AssertSqlSafe(format!(
        "{} INSERT INTO visits (id, patient_id, ward_id, room_id, starts_at, ends_at,
                                override_reason, created_at, created_by, cancelled_at, outcome)
         SELECT printf('v%021d', i), printf('p%021d', i % 90),
                CASE i % 3 WHEN 0 THEN $1 WHEN 1 THEN $2 ELSE $3 END, printf('r%021d', i % 90),
                $4 - 3600 - i * 600, $4 - 1800 - i * 600,
                CASE WHEN i % 25 = 0 THEN 'clinical' END, $4 - 90000 - i * 600,
                CASE WHEN i % 4 = 0 THEN $5 ELSE $6 END,
                CASE WHEN i % 10 = 1 THEN $4 - 90000 - i * 600 END,
                CASE i % 10 WHEN 0 THEN 'missed' WHEN 1 THEN 'cancelled' WHEN 2 THEN 'network'
                            WHEN 3 THEN 'revoked' ELSE 'completed' END
         FROM n",
        series(GENERATED)
    )))
    .bind(&g.wards[0])
    .bind(&g.wards[1])
    .bind(&g.wards[2])
    .bind(g.now)
    .bind(&g.scheduler)
    .bind(&admin)
    .execute(&mut *c)
    .await
    .map(|done| done.rows_affected()))
    .expect("visits");
    // An invite for each visit of patients 5 and 7; a nurse let patient 5's relative in on
    // every other one of theirs.
    visitas::sql!(&mut tx, |c| sqlx::query(sqlx::AssertSqlSafe(format!(
        "{} INSERT INTO invites (id, room_id, relative_name, relationship, lang, token_hash,
                                 code_hash, created_at, created_by, expires_at, visit_id,
                                 relative_id)
         SELECT printf('i%021d', i), printf('r%021d', i % 90), 'x', 'x', 'es', 't' || i, 'c',
                $1, $2, $1, printf('v%021d', i), printf('a%021d', i % 90)
         FROM n WHERE i % 90 IN (5, 7)",
        series(GENERATED)
    )))
    .bind(g.now)
    .bind(&admin)
    .execute(&mut *c)
    .await
    .map(|done| done.rows_affected()))
    .expect("invites");
    visitas::sql!(&mut tx, |c| sqlx::query(sqlx::AssertSqlSafe(format!(
        "{} INSERT INTO admissions (invite_id, visit_id, how, admitted_at, admitted_by)
         SELECT printf('i%021d', i), printf('v%021d', i), 'nurse', $1, $2
         FROM n WHERE i % 90 = 5 AND (i / 90) % 2 = 0",
        series(GENERATED)
    )))
    .bind(g.now)
    .bind(&g.nurse)
    .execute(&mut *c)
    .await
    .map(|done| done.rows_affected()))
    .expect("admissions");
    tx.commit().await.expect("committed");
    g
}

/// The data rows of a CSV export (the header left out), read as a stream: the rows and how
/// many pieces the body came in.
async fn export(app: &TestApp, client: &reqwest::Client, query: &str) -> (Vec<Vec<String>>, usize) {
    let mut response = app
        .get_with(client, &format!("/visit-log/export.csv?{query}"))
        .await;
    assert_eq!(response.status(), StatusCode::OK, "{query}");
    assert!(
        response
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.starts_with("text/csv")),
    );
    let mut body = Vec::new();
    let mut pieces = 0;
    while let Some(chunk) = response.chunk().await.expect("a piece of the body") {
        body.extend_from_slice(&chunk);
        pieces += 1;
    }
    assert!(body.starts_with("\u{feff}".as_bytes()), "UTF-8 with a BOM");
    let mut reader = csv::Reader::from_reader(&body[3..]);
    let rows = reader
        .records()
        .map(|r| r.expect("a CSV row").iter().map(str::to_string).collect())
        .collect();
    (rows, pieces)
}

/// Ids of the visits `i` in 0..GENERATED for which `keep` holds.
fn expected(keep: impl Fn(i64) -> bool) -> Vec<String> {
    (0..GENERATED)
        .filter(|i| keep(*i))
        .map(|i| format!("v{i:021}"))
        .collect()
}

#[tokio::test]
async fn the_visit_log_filters_pages_and_exports_fifty_thousand_visits() {
    let app = spawn_app().await;
    let g = generate_visits(&app).await;
    let (admin, admin_jar) = new_client();
    let signed_in = app
        .login_with(&admin, &admin_jar, "jefa.ana", PASSWORD)
        .await;
    assert_eq!(signed_in.status(), StatusCode::SEE_OTHER);

    // Each filter, through the export (every matching row), against what was generated.
    let local_day = |days_ago: i64| {
        chrono::DateTime::from_timestamp(g.now - days_ago * 86_400, 0)
            .expect("a time")
            .with_timezone(&chrono::Local)
            .date_naive()
    };
    let (from, until) = (local_day(10), local_day(5));
    let day_start = |d: chrono::NaiveDate| {
        d.and_hms_opt(0, 0, 0)
            .expect("midnight")
            .and_local_timezone(chrono::Local)
            .earliest()
            .expect("a local time")
            .timestamp()
    };
    let (start, end) = (day_start(from), day_start(until.succ_opt().expect("a day")));
    let cases: Vec<(String, Vec<String>)> = vec![
        (String::new(), expected(|_| true)),
        (format!("ward={}", g.wards[1]), expected(|i| i % 3 == 1)),
        (
            format!("from={from}&until={until}"),
            expected(|i| (start..end).contains(&started_at(&g, i))),
        ),
        ("patient=Zoe".to_string(), expected(|i| i % 90 == 5)),
        // Eleven patients: each one's visits by the patient's index, merged.
        (
            "patient=Paciente%201".to_string(),
            expected(|i| i % 90 == 1 || (10..20).contains(&(i % 90))),
        ),
        // Most patients: visits by time, those of a matching patient kept.
        (
            "patient=Paciente".to_string(),
            expected(|i| i % 90 != 5 && i % 90 != 7),
        ),
        // Nobody of that name: nothing, without reading the visits.
        ("patient=Nadie".to_string(), expected(|_| false)),
        ("relative=Nadie".to_string(), expected(|_| false)),
        ("relative=HYPERLINK".to_string(), expected(|i| i % 90 == 7)),
        (format!("staff={}", g.scheduler), expected(|i| i % 4 == 0)),
        (
            format!("staff={}", g.nurse),
            expected(|i| i % 90 == 5 && (i / 90) % 2 == 0),
        ),
        (
            "outcome=missed".to_string(),
            expected(|i| outcome_of(i) == "missed"),
        ),
        (
            "outcome=network".to_string(),
            expected(|i| outcome_of(i) == "network"),
        ),
        (
            "outcome=completed".to_string(),
            expected(|i| outcome_of(i) == "completed"),
        ),
        (
            "outcome=cancelled".to_string(),
            expected(|i| outcome_of(i) == "cancelled"),
        ),
        (
            "outcome=revoked".to_string(),
            expected(|i| outcome_of(i) == "revoked"),
        ),
        ("override=on".to_string(), expected(|i| i % 25 == 0)),
        (
            format!("ward={}&outcome=revoked&override=on", g.wards[0]),
            expected(|i| i % 3 == 0 && outcome_of(i) == "revoked" && i % 25 == 0),
        ),
    ];
    for (query, wanted) in &cases {
        let (rows, pieces) = export(&app, &admin, query).await;
        let ids: Vec<String> = rows.iter().map(|r| r[0].clone()).collect();
        assert_eq!(ids.len(), wanted.len(), "the export of {query:?}");
        assert_eq!(&ids, wanted, "the export of {query:?}, newest first");
        if query.is_empty() {
            // Streamed: a batch at a time, never the whole list at once.
            assert!(pieces >= 50, "the export came in {pieces} pieces");
        }
        // The page shows the first fifty of the same.
        let html = text(app.get_with(&admin, &format!("/visit-log?{query}")).await).await;
        assert_eq!(
            html.matches("<tr data-logged-visit=").count(),
            wanted.len().min(50),
            "the page of {query:?}"
        );
    }

    // The CSV itself: its columns, accents, and a relative's name that a spreadsheet would run.
    let (rows, _) = export(&app, &admin, "patient=Ra%C3%BAl").await;
    let response = app
        .get_with(&admin, "/visit-log/export.csv?patient=Zoe")
        .await;
    let body = response.text().await.expect("the export");
    let header = body.lines().next().expect("a header");
    assert_eq!(
        header.trim_start_matches('\u{feff}'),
        "Visita,Planta / unidad,Paciente,Cama,Programada,Fin programado,Inicio real,Fin real,\
         Familiares,Resultado,Motivo de la excepción,Explicación de la excepción,Programada por,\
         Quién dejó pasar,Reconexiones,Motivo de la cancelación"
    );
    assert!(body.contains("Zoe Núñez") && body.contains("José Ñandú"));
    assert!(body.contains("nurse.ana"), "who let them in");
    assert!(
        rows.iter().all(|r| r[8] == "'=HYPERLINK(\"x\")"),
        "{:?}",
        rows[0]
    );
    assert!(rows.iter().all(|r| r[2] == "Raúl Peña"));

    // Paging: from the newest page to the oldest by its link, and a whole filtered list walked
    // page by page with nothing skipped or repeated.
    let oldest = text(app.get_with(&admin, "/visit-log?oldest=1").await).await;
    let last_id = format!("v{:021}", GENERATED - 1);
    assert!(oldest.contains(&format!("data-logged-visit=\"{last_id}\"")));
    assert!(
        !oldest.contains("rel=\"next\""),
        "nothing older than the oldest"
    );
    let query = format!("ward={}&outcome=network", g.wards[1]);
    let wanted = expected(|i| i % 3 == 1 && outcome_of(i) == "network");
    let mut seen = Vec::new();
    let mut path = format!("/visit-log?{query}");
    let mut pages = 0;
    loop {
        let html = text(app.get_with(&admin, &path).await).await;
        seen.extend(
            html.split("data-logged-visit=\"")
                .skip(1)
                .map(|s| s[..s.find('"').expect("an id")].to_string()),
        );
        pages += 1;
        assert!(pages <= 40, "the walk ends");
        match link(&html, "next") {
            Some(next) => path = next,
            None => break,
        }
    }
    assert_eq!(seen, wanted);
    // And back: the "newer" link of the last page leads to the page before it.
    let back = link(&text(app.get_with(&admin, &path).await).await, "prev").expect("newer");
    let html = text(app.get_with(&admin, &back).await).await;
    let first_of_back = html
        .split("data-logged-visit=\"")
        .nth(1)
        .map(|s| s[..s.find('"').expect("an id")].to_string());
    let page_size = 50;
    let before_last = (wanted.len() - 1) / page_size - 1;
    assert_eq!(
        first_of_back.as_deref(),
        Some(wanted[before_last * page_size].as_str())
    );

    // A nurse sees her ward's visits only, and may not pick another ward.
    let (nurse_rows, _) = export(&app, &app.client, "").await;
    assert_eq!(nurse_rows.len(), expected(|i| i % 3 == 0).len());
    let other = app.get(&format!("/visit-log?ward={}", g.wards[1])).await;
    assert_eq!(other.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let html = text(other).await;
    assert!(html.contains("Elija una de las opciones de la lista."));
    assert_eq!(html.matches("<tr data-logged-visit=").count(), 0);
    let elsewhere = app.get(&format!("/visit-log/v{:021}", 1)).await;
    assert_eq!(elsewhere.status(), StatusCode::NOT_FOUND);
    let (refused,): (i64,) = visitas::sql!(&app.db(), |c| sqlx::query_as(
        "SELECT COUNT(*) FROM audit_events WHERE action = 'access.refused' AND actor_id = $1",
    )
    .bind(&g.nurse)
    .fetch_one(&mut *c)
    .await)
    .expect("a count");
    assert_eq!(refused, 1);
    let (exports,): (i64,) = visitas::sql!(&app.db(), |c| sqlx::query_as(
        "SELECT COUNT(*) FROM audit_events WHERE action = 'visit_log.export'"
    )
    .fetch_one(&mut *c)
    .await)
    .expect("a count");
    assert!(exports >= 14, "every export is audited: {exports}");

    // Bad filters are said, in the person's language, and list nothing.
    for query in [
        "from=2026-02-30",
        "outcome=lost",
        "staff=nobody",
        "from=2026-05-10&until=2026-05-01",
    ] {
        let response = app.get_with(&admin, &format!("/visit-log?{query}")).await;
        assert_eq!(
            response.status(),
            StatusCode::UNPROCESSABLE_ENTITY,
            "{query}"
        );
        let html = text(response).await;
        assert!(html.contains("class=\"field-error\""), "{query}");
        assert_eq!(html.matches("<tr data-logged-visit=").count(), 0);
    }

    // The statistics of the last 30 days, per ward.
    let stats = text(app.get_with(&admin, "/visit-log/stats").await).await;
    let in_range = |i: i64| {
        let day = |t: i64| {
            chrono::DateTime::from_timestamp(t, 0)
                .expect("a time")
                .with_timezone(&chrono::Local)
                .date_naive()
        };
        let today = day(g.now);
        let first = today - chrono::Days::new(29);
        (first..=today).contains(&day(started_at(&g, i)))
    };
    let total = (0..GENERATED).filter(|i| in_range(*i)).count();
    assert!(
        stats.contains(&format!("data-total=\"{total}\"")),
        "{total}"
    );
    let uci = (0..GENERATED)
        .filter(|i| in_range(*i) && i % 3 == 0)
        .count();
    assert!(stats.contains(&format!(
        "data-ward-stats=\"UCI\"><td>UCI</td><td data-visits=\"{uci}\""
    )));
    assert!(stats.contains("<svg class=\"chart\" id=\"chart-days\""));
    assert!(stats.contains("<svg class=\"chart\" id=\"chart-wards\""));
    // Missed among the visits due (not cancelled), as the page writes a share.
    let share = |part: usize, whole: usize| {
        let tenths = (part * 1000 + whole / 2) / whole;
        format!("{}.{} %", tenths / 10, tenths % 10)
    };
    let of = |outcome: &str| {
        (0..GENERATED)
            .filter(|i| in_range(*i) && outcome_of(*i) == outcome)
            .count()
    };
    let missed_rate = share(of("missed"), total - of("cancelled"));
    assert!(
        stats.contains(&format!("data-missed-rate>{missed_rate}</dd>")),
        "{missed_rate}"
    );
    // The generated visits have no stays: no call held, so no length and no share of network
    // trouble among them ("—"; the rates themselves are counted in the unit tests of stats).
    for figure in ["data-network-share>—</dd>", "data-average>—</dd>"] {
        assert!(stats.contains(figure), "{figure}");
    }
    // A nurse's statistics count her ward only.
    let hers = text(app.get("/visit-log/stats").await).await;
    assert!(hers.contains(&format!("data-total=\"{uci}\"")), "{uci}");
    assert_eq!(hers.matches("<tr data-ward-stats=").count(), 1);
    let too_long = app
        .get_with(&admin, "/visit-log/stats?from=2025-01-01&until=2026-06-01")
        .await;
    assert_eq!(too_long.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(text(too_long).await.contains("Elija como mucho 366 días."));

    // A nurse of two wards reads each ward's visits by its own index and gets both, in order,
    // whole through the pages and the export, and a filter within them.
    app.assign(&g.nurse, &g.wards[2]).await;
    let both = expected(|i| i % 3 != 1);
    let (nurse_rows, _) = export(&app, &app.client, "").await;
    let ids: Vec<String> = nurse_rows.iter().map(|row| row[0].clone()).collect();
    assert_eq!(ids, both, "both wards' visits, newest first");
    let (nurse_missed, _) = export(&app, &app.client, "outcome=missed").await;
    assert_eq!(
        nurse_missed.len(),
        expected(|i| i % 3 != 1 && outcome_of(i) == "missed").len()
    );
    let window = format!("from={from}&until={until}");
    let in_window = expected(|i| i % 3 != 1 && (start..end).contains(&started_at(&g, i)));
    assert!(in_window.len() > 100, "a few pages: {}", in_window.len());
    let (mut paged, mut path, mut last) =
        (Vec::new(), format!("/visit-log?{window}"), String::new());
    while !path.is_empty() {
        let html = text(app.get(&path).await).await;
        paged.extend(
            html.split("data-logged-visit=\"")
                .skip(1)
                .map(|s| s[..s.find('"').expect("an id")].to_string()),
        );
        last = std::mem::replace(&mut path, link(&html, "next").unwrap_or_default());
        assert!(paged.len() <= in_window.len(), "the walk ends");
    }
    assert_eq!(paged, in_window, "every page of both wards, in order");
    let back = link(&text(app.get(&last).await).await, "prev").expect("newer");
    let first_of_back = text(app.get(&back).await)
        .await
        .split("data-logged-visit=\"")
        .nth(1)
        .map(|s| s[..s.find('"').expect("an id")].to_string());
    let before_last = (in_window.len() - 1) / 50 - 1;
    assert_eq!(
        first_of_back.as_deref(),
        Some(in_window[before_last * 50].as_str())
    );
}

/// The resident memory of a process, in KiB (`VmRSS` in `/proc/PID/status`).
fn rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|status| {
            status
                .lines()
                .find_map(|line| line.strip_prefix("VmRSS:"))
                .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
        })
        .unwrap_or(0)
}

#[tokio::test]
async fn exporting_fifty_thousand_visits_keeps_the_servers_memory_flat() {
    // The 50,000 visits written by the test, then the real binary serving them: its own
    // memory, read from /proc every 5 ms while the export streams, is what is judged.
    let app = spawn_app().await;
    let g = generate_visits(&app).await;
    let (dir, config) = app.stop().await;
    let server = helpers::process::ServerProcess::start("", &config.data_dir, &[]).await;
    let client = server.signed_in("jefa.ana", PASSWORD).await;
    // Warm: the log's first page, and the export of one ward (a third of the rows: the same
    // tables, the allocator's arenas made), four at once so that each of the pool's four
    // database connections fills its page cache (2 MiB each, whatever the export's size). A
    // server that held an export whole would still grow by the other two thirds below.
    let first = client
        .get(server.url("/visit-log"))
        .send()
        .await
        .expect("warm");
    assert_eq!(first.status(), StatusCode::OK);
    let _ = first.bytes().await;
    let ward_export = format!("/visit-log/export.csv?ward={}", g.wards[0]);
    let warming = (0..4).map(|_| async {
        let warm = client
            .get(server.url(&ward_export))
            .send()
            .await
            .expect("warm");
        assert_eq!(warm.status(), StatusCode::OK, "{ward_export}");
        warm.bytes().await.expect("the ward's export").len()
    });
    for bytes in futures_util::future::join_all(warming).await {
        assert!(bytes > 1000 * 1000, "a third of the visits: {bytes} bytes");
    }

    let pid = server.child.id();
    let before = rss_kib(pid);
    let peak = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(before));
    let sampling = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(true));
    let sampler = {
        let (peak, sampling) = (peak.clone(), sampling.clone());
        std::thread::spawn(move || {
            while sampling.load(std::sync::atomic::Ordering::Relaxed) {
                peak.fetch_max(rss_kib(pid), std::sync::atomic::Ordering::Relaxed);
                std::thread::sleep(std::time::Duration::from_millis(5));
            }
        })
    };
    // Read piece by piece and counted, never kept: this side holds nothing either.
    let mut response = client
        .get(server.url("/visit-log/export.csv"))
        .send()
        .await
        .expect("the export");
    assert_eq!(response.status(), StatusCode::OK);
    let (mut bytes, mut lines) = (0_usize, 0_usize);
    while let Some(piece) = response.chunk().await.expect("a piece") {
        bytes += piece.len();
        lines += piece.iter().filter(|b| **b == b'\n').count();
    }
    sampling.store(false, std::sync::atomic::Ordering::Relaxed);
    sampler.join().expect("the sampler");
    let grew_kib = peak
        .load(std::sync::atomic::Ordering::Relaxed)
        .saturating_sub(before);
    println!(
        "export: {lines} lines, {} KiB; server RSS {before} KiB before, grew by at most {grew_kib} KiB",
        bytes / 1024
    );
    assert_eq!(lines, 50_001, "a header and every visit");
    assert!(before > 0, "the server's memory is read");
    // Holding this export whole would grow the server by at least the two thirds the warm-up
    // did not cover (3.6 MB); streamed, it grows by a few buffers.
    assert!(
        bytes > 5 * 1000 * 1000,
        "{bytes} bytes: large enough to tell"
    );
    assert!(
        grew_kib < 2 * 1024,
        "the server grew by {grew_kib} KiB while streaming {} KiB",
        bytes / 1024
    );
    drop(server);
    drop(dir);
}

/// The `href` of the paging link with this `rel`, unescaped.
fn link(html: &str, rel: &str) -> Option<String> {
    html.split("<a href=\"")
        .filter_map(|s| s.split_once(&format!("\" rel=\"{rel}\"")))
        .map(|(href, _)| {
            href.replace("&#x2f;", "/")
                .replace("&#47;", "/")
                .replace("&#38;", "&")
                .replace("&amp;", "&")
        })
        .next()
}

#[tokio::test]
async fn a_visits_detail_shows_its_stays_who_let_them_in_and_the_calls_quality() {
    let app = spawn_app().await;
    let (patient, card) = visit_running(&app).await;
    let (visit,): (String,) = visitas::sql!(&app.db(), |c| sqlx::query_as(
        "SELECT id FROM visits WHERE patient_id = $1"
    )
    .bind(&patient)
    .fetch_one(&mut *c)
    .await)
    .expect("the visit");
    // Booked outside the hours on purpose (the schedule form's override, tested with the
    // scheduler), with its reason.
    visitas::sql!(&app.db(), |c| sqlx::query(
        "UPDATE visits SET override_reason = 'end-of-life', override_note = 'Viene de lejos'
         WHERE id = $1",
    )
    .bind(&visit)
    .execute(&mut *c)
    .await
    .map(|done| done.rows_affected()))
    .expect("an override");
    let (device, _) = app.admitted_relative(&card).await;
    let ticket = app.ticket_with(&device, "/visit/ticket").await;
    let mut first = helpers::socket::with_ticket(&app, &ticket, None).await;
    first.join().await;
    // The same relative from a second connection (a reload): it takes the place, one rejoin.
    let ticket = app.ticket_with(&device, "/visit/ticket").await;
    let mut call = helpers::socket::with_ticket(&app, &ticket, None).await;
    call.join().await;
    assert!(
        first
            .expect_event("ended", std::time::Duration::from_secs(2))
            .await
            .is_some()
    );
    // An impossible report is dropped; a real one is kept, the latest one counting.
    let impossible = serde_json::json!({
        "sentKbps": 400, "receivedKbps": 380, "lossPermille": 5000, "audioOnlySecs": 0
    });
    call.emit("quality", impossible).await;
    for sent in [300, 420] {
        call.emit(
            "quality",
            serde_json::json!({
                "sentKbps": sent, "receivedKbps": 380, "lossPermille": 12, "audioOnlySecs": 65
            }),
        )
        .await;
    }
    call.emit("leave", Value::Null).await;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    loop {
        let (sent, left): (Option<i64>, Option<i64>) =
            visitas::sql!(&app.db(), |c| sqlx::query_as(
                "SELECT sent_kbps, left_at FROM visit_log WHERE role = 'relative' ORDER BY id DESC",
            )
            .fetch_one(&mut *c)
            .await)
            .expect("the stay");
        if sent == Some(420) && left.is_some() {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the report is stored: {sent:?}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let html = text(app.get(&format!("/visit-log/{visit}")).await).await;
    assert!(html.contains("data-stay-role=\"relative\""), "{html}");
    assert!(html.contains("data-sent=\"420\""), "{html}");
    assert!(
        html.contains("1.2 %") && html.contains("1:05"),
        "loss and audio-only time"
    );
    assert!(
        html.contains("al llegar, sin esperar"),
        "how Lola was let in"
    );
    let (scheduler,): (String,) = visitas::sql!(&app.db(), |c| {
        sqlx::query_as(
        "SELECT s.display_name FROM visits v JOIN staff s ON s.id = v.created_by WHERE v.id = $1"
    )
    .bind(&visit)
    .fetch_one(&mut *c)
    .await
    })
    .expect("who scheduled");
    assert!(
        html.contains(&format!("Programada por: {scheduler}</dd>")),
        "who scheduled it: {scheduler}"
    );
    assert!(
        html.contains("data-override>Final de vida: Viene de lejos"),
        "the override and its reason"
    );
    assert!(
        html.contains("<td data-rejoins=\"1\">1</td>"),
        "the stay's rejoin: {html}"
    );
    assert!(html.contains("<td>Colgó</td>"), "how the stay ended");
}

// ------------------------------------------------------------------------------------------
// Operating the box: backup and restore, retention, JSON logs.

/// `visitas ARGS --data-dir DATA` on the real binary: (success, what it printed).
fn visitas_cli(args: &[&str], data_dir: &std::path::Path) -> (bool, String) {
    let mut command = Command::new(env!("CARGO_BIN_EXE_visitas"));
    // On the PostgreSQL leg, the test's database, unless the test keeps a SQLite file there
    // (backup and restore work on SQLite files only).
    if !data_dir.join("visitas.db").exists() {
        command.args(helpers::postgres::node_flags(data_dir));
    }
    let output = command
        .args(args)
        .arg("--data-dir")
        .arg(data_dir)
        .env_remove("VISITAS_DATA_DIR")
        .env_remove("VISITAS_DATABASE")
        .output()
        .expect("the visitas binary runs");
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    (output.status.success(), said)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backup_taken_during_a_write_storm_restores_every_acknowledged_write() {
    // Backups by copy are SQLite's (PostgreSQL has its own tools): on every leg, a SQLite server.
    let app = spawn_app_with(helpers::on_sqlite).await;
    app.logged_in_nurse().await;
    let backups = tempfile::tempdir().expect("a directory for the backup");
    let backup = backups.path().join("visitas-backup.db");

    // Nurses registering patients as fast as they can; each acknowledged one noted with when
    // its answer came.
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let acknowledged = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let mut writers = Vec::new();
    for writer in 0..3 {
        let (client, jar) = (app.client.clone(), app.jar.clone());
        let base = app.base.clone();
        let stop = stop.clone();
        let acknowledged = acknowledged.clone();
        let csrf = app.csrf_token(&client, &jar).await;
        let ward = app.ward("UCI", "00:00-24:00").await;
        writers.push(tokio::spawn(async move {
            let mut n = 0;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                n += 1;
                let record = format!("W{writer}-{n}");
                let response = client
                    .post(format!("{base}/patients"))
                    .form(&[
                        ("csrf", csrf.as_str()),
                        ("display_name", "Paciente de la tormenta"),
                        ("ward_id", ward.as_str()),
                        ("bed", "1"),
                        ("record_number", record.as_str()),
                    ])
                    .send()
                    .await
                    .expect("a POST");
                if response.status() == StatusCode::SEE_OTHER {
                    acknowledged
                        .lock()
                        .expect("the list")
                        .push((std::time::Instant::now(), record));
                }
            }
        }));
    }
    tokio::time::sleep(std::time::Duration::from_millis(800)).await;
    let data_dir = app.config.data_dir.clone();
    let started = std::time::Instant::now();
    let (ok, said) = {
        let (data_dir, backup) = (data_dir.clone(), backup.clone());
        tokio::task::spawn_blocking(move || {
            visitas_cli(&["backup", backup.to_str().expect("a path")], &data_dir)
        })
        .await
        .expect("the backup ran")
    };
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    for writer in writers {
        writer.await.expect("a writer");
    }
    assert!(ok, "the backup succeeds while the server writes: {said}");
    assert!(said.contains("integrity ok"), "{said}");
    assert!(said.contains("audit trail intact"), "{said}");
    let before: Vec<String> = acknowledged
        .lock()
        .expect("the list")
        .iter()
        .filter(|(at, _)| *at < started)
        .map(|(_, record)| record.clone())
        .collect();
    assert!(
        before.len() >= 10,
        "a storm: {} writes before the backup",
        before.len()
    );
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(&backup)
        .expect("the backup")
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600, "the backup is owner-only");

    // A second backup to the same file is refused; a restore while the server runs too; so is
    // a second server on the same database.
    let (ok, said) = visitas_cli(&["backup", backup.to_str().expect("a path")], &data_dir);
    assert!(!ok && said.contains("exists already"), "{said}");
    let (ok, said) = visitas_cli(&["restore", backup.to_str().expect("a path")], &data_dir);
    assert!(
        !ok && said.contains("a Visitas server is running"),
        "{said}"
    );
    let (ok, said) = visitas_cli(&["--bind", "127.0.0.1:0"], &data_dir);
    assert!(
        !ok && said.contains("another Visitas server is running"),
        "{said}"
    );

    // Stopped, a write after the backup, then the restore: the backup's state, every write
    // acknowledged before it started included; the replaced database kept beside it.
    let (dir, config) = app.stop().await;
    let (ok, said) = visitas_cli(&["restore", backup.to_str().expect("a path")], &data_dir);
    assert!(ok, "the restore: {said}");
    assert!(said.contains("audit trail intact"), "{said}");
    let kept = std::fs::read_dir(&data_dir)
        .expect("the data directory")
        .filter_map(Result::ok)
        .any(|e| {
            e.file_name()
                .to_string_lossy()
                .starts_with("visitas.db.before-restore-")
        });
    assert!(kept, "the replaced database is kept");
    let app = helpers::start_in(dir, config).await;
    let stored: Vec<(String,)> = visitas::sql!(&app.db(), |c| sqlx::query_as(
        "SELECT record_number FROM patients WHERE record_number IS NOT NULL"
    )
    .fetch_all(&mut *c)
    .await)
    .expect("the patients");
    let stored: std::collections::HashSet<String> = stored.into_iter().map(|(r,)| r).collect();
    let missing: Vec<&String> = before.iter().filter(|r| !stored.contains(*r)).collect();
    assert!(
        missing.is_empty(),
        "acknowledged before the backup, lost: {missing:?}"
    );
    let (integrity,): (String,) =
        visitas::sql!(&app.db(), |c| sqlx::query_as("PRAGMA integrity_check")
            .fetch_one(&mut *c)
            .await)
        .expect("the check");
    assert_eq!(integrity, "ok");
    let chain = db::audit::verify(&app.db()).await.expect("the chain");
    assert_eq!(chain.broken, None);
    assert_eq!(app.login("nurse.ana").await.status(), StatusCode::SEE_OTHER);

    // Not a backup: refused, nothing changed.
    let junk = backups.path().join("junk.db");
    std::fs::write(&junk, b"not a database at all").expect("a file");
    let (dir, config) = app.stop().await;
    let (ok, said) = visitas_cli(&["restore", junk.to_str().expect("a path")], &data_dir);
    assert!(!ok, "{said}");
    let app = helpers::start_in(dir, config).await;
    assert_eq!(app.login("nurse.ana").await.status(), StatusCode::SEE_OTHER);
}

#[tokio::test]
async fn records_older_than_the_retention_are_removed_and_the_purge_audited() {
    use clap::Parser;
    let defaults = visitas::cli::Cli::try_parse_from(["visitas"]).expect("no flags");
    assert_eq!(defaults.config.retain_days, 400, "the default retention");
    let app = spawn_app_with(|config| config.retain_days = 400).await;
    let (patient, _) = visit_running(&app).await;
    let db = app.db();
    let long_ago = chrono::Utc::now().timestamp() - 500 * 86_400;
    // The running visit, made old and settled; its relative's patient discharged long ago too.
    visitas::sql!(&db, |c| sqlx::query(
        "UPDATE visits SET starts_at = $1, ends_at = $1 + 1800, created_at = $1,
                           outcome = 'missed'",
    )
    .bind(long_ago)
    .execute(&mut *c)
    .await
    .map(|done| done.rows_affected()))
    .expect("aged");
    visitas::sql!(&db, |c| sqlx::query(
        "UPDATE patients SET discharged_at = $1 WHERE id = $2"
    )
    .bind(long_ago + 3600)
    .bind(&patient)
    .execute(&mut *c)
    .await
    .map(|done| done.rows_affected()))
    .expect("discharged");
    // A recent visit of another patient stays.
    let other = app.register_patient("Luis Recent", "").await;
    let son = app.authorise(&other, "Iván", "es").await;
    app.visit_now(&other, &[&son]).await;
    let before = (app.count("visits").await, app.count("relatives").await);
    assert_eq!(before, (2, 2));
    // Stays: the old visit's relative's, a call outside any visit long ago, and the recent
    // visit's, still open. The first two go.
    for statement in [
        "INSERT INTO visit_log (room_id, patient_id, role, display_name, joined_at, left_at,
                                end_reason, scheduled_visit_id)
         SELECT room_id, patient_id, 'relative', 'Lola', starts_at, starts_at + 600, 'hangup', id
         FROM visits WHERE patient_id = $1",
        "INSERT INTO visit_log (room_id, patient_id, role, display_name, joined_at, left_at,
                                end_reason)
         SELECT room_id, patient_id, 'staff', 'Ana', starts_at, starts_at + 60, 'hangup'
         FROM visits WHERE patient_id = $1",
        "INSERT INTO visit_log (room_id, patient_id, role, display_name, joined_at,
                                scheduled_visit_id)
         SELECT room_id, patient_id, 'relative', 'Iván', starts_at, id
         FROM visits WHERE patient_id <> $1",
    ] {
        visitas::sql!(&db, |c| sqlx::query(statement)
            .bind(&patient)
            .execute(&mut *c)
            .await
            .map(|done| done.rows_affected()))
        .expect("a stay");
    }
    assert_eq!(app.count("visit_log").await, 3);

    let state = &app.server.as_ref().expect("running").state;
    let purged = visitas::actions::purge_expired(state)
        .await
        .expect("purged");
    assert_eq!(
        (
            purged.visits,
            purged.stays,
            purged.invites,
            purged.relatives
        ),
        (1, 2, 1, 1)
    );
    assert_eq!(app.count("visits").await, 1);
    let (stay,): (String,) = visitas::sql!(&db, |c| sqlx::query_as(
        "SELECT display_name FROM visit_log"
    )
    .fetch_one(&mut *c)
    .await)
    .expect("one stay left");
    assert_eq!(stay, "Iván");
    assert_eq!(app.count("relatives").await, 1);
    let (left,): (String,) = visitas::sql!(&db, |c| sqlx::query_as(
        "SELECT display_name FROM relatives"
    )
    .fetch_one(&mut *c)
    .await)
    .expect("the relative left");
    assert_eq!(left, "Iván");
    let (detail,): (String,) = visitas::sql!(&db, |c| sqlx::query_as(
        "SELECT detail FROM audit_events WHERE action = 'retention.purge'"
    )
    .fetch_one(&mut *c)
    .await)
    .expect("the purge is audited");
    assert_eq!(
        detail,
        "older than 400 days: visits=1 stays=2 invites=1 relatives=1"
    );
    assert!(!detail.contains("Lola"), "counts, never contents");
    assert_eq!(
        db::audit::verify(&db).await.expect("the chain").broken,
        None
    );
    // Nothing more to remove: nothing written.
    let rows = app.count("audit_events").await;
    let again = visitas::actions::purge_expired(state)
        .await
        .expect("purged");
    assert!(again.is_empty());
    assert_eq!(app.count("audit_events").await, rows);
}

#[tokio::test]
async fn json_logs_are_one_object_per_line() {
    use std::io::BufRead;
    let data = tempfile::tempdir().expect("a data directory");
    let mut child = Command::new(env!("CARGO_BIN_EXE_visitas"))
        .args([
            "--bind",
            "127.0.0.1:0",
            "--log-format",
            "json",
            "--data-dir",
        ])
        .arg(data.path())
        .env("RUST_LOG", "info")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("the server starts");
    let stderr = child.stderr.take().expect("its errors");
    let first = tokio::task::spawn_blocking(move || {
        std::io::BufReader::new(stderr)
            .lines()
            .map_while(Result::ok)
            .next()
    })
    .await
    .expect("read")
    .expect("a log line");
    let _ = child.kill();
    let _ = child.wait();
    let line: Value = serde_json::from_str(&first).expect("a JSON object");
    assert!(
        line["level"].is_string() && line["timestamp"].is_string(),
        "{line}"
    );
    assert!(
        line["message"].is_string() || line["fields"].is_object(),
        "{line}"
    );
}

// ------------------------------------------------------------------------------------------
// /metrics.

async fn scrape(app: &TestApp) -> String {
    let response = app.get("/metrics").await;
    assert_eq!(response.status(), StatusCode::OK, "the box itself may read");
    text(response).await
}

#[tokio::test]
async fn metrics_follow_a_visit_and_name_no_one() {
    let app = spawn_app().await;
    let (patient, card) = visit_running(&app).await;
    let count = |metrics: &str, line: &str| -> f64 {
        metrics
            .lines()
            .find(|l| l.starts_with(line))
            .and_then(|l| l.rsplit(' ').next())
            .and_then(|v| v.parse().ok())
            .unwrap_or(0.0)
    };
    let before = scrape(&app).await;
    let joins = r#"visitas_joins_total{role="relative"}"#;
    let (device, _) = app.admitted_relative(&card).await;
    let ticket = app.ticket_with(&device, "/visit/ticket").await;
    let mut call = helpers::socket::with_ticket(&app, &ticket, None).await;
    call.join().await;
    let during = scrape(&app).await;
    assert!(
        count(&during, joins) >= count(&before, joins) + 1.0,
        "{during}"
    );
    assert!(count(&during, "visitas_calls_running") >= 1.0, "{during}");
    assert!(count(&during, "visitas_participants ") >= 1.0, "{during}");
    call.emit("leave", Value::Null).await;
    // A refused handshake is counted by its reason.
    let refused = r#"visitas_handshakes_refused_total{reason="ticket"}"#;
    let bad = helpers::socket::connect(
        &app,
        Some(&app.ws_origin()),
        None,
        serde_json::json!({ "ticket": "not-a-ticket" }),
    )
    .await;
    drop(bad);
    let after = scrape(&app).await;
    assert!(count(&after, refused) >= 1.0, "{after}");
    assert!(
        after.contains(
            r#"visitas_http_requests_total{route="/visit/code",method="POST",status="3xx"}"#
        ),
        "{after}"
    );
    assert!(after.contains("visitas_http_request_duration_seconds_bucket"));
    assert!(after.contains(r#"visitas_db_connections{state="idle"}"#));

    // No identifier and no name anywhere.
    let (visit,): (String,) = visitas::sql!(&app.db(), |c| sqlx::query_as("SELECT id FROM visits")
        .fetch_one(&mut *c)
        .await)
    .expect("the visit");
    let (room, invite): (String, String) = visitas::sql!(&app.db(), |c| sqlx::query_as(
        "SELECT room_id, id FROM invites"
    )
    .fetch_one(&mut *c)
    .await)
    .expect("the invite");
    let token = card.link.rsplit('/').next().expect("a token").to_string();
    for (what, secret) in [
        ("patient id", patient.as_str()),
        ("visit id", visit.as_str()),
        ("room id", room.as_str()),
        ("invite id", invite.as_str()),
        ("invite token", token.as_str()),
        ("patient's name", "Ana"),
        ("relative's name", "Lola"),
    ] {
        assert!(!after.contains(secret), "the {what} is not in /metrics");
    }
}

#[tokio::test]
async fn metrics_are_refused_to_other_machines_without_the_token() {
    let Some(netns) = helpers::netns::Netns::create() else {
        return;
    };
    let token = "a-token-for-the-monitoring-box";
    let bind = std::net::SocketAddr::new(netns.host_addr.into(), 0);
    let app = spawn_app_with(|c| {
        c.bind = bind;
        c.metrics_token = Some(visitas::config::Secret(token.to_string()));
    })
    .await;
    let url = format!("https://{}:{}/metrics", netns.host_addr, app.addr.port());
    // curl inside the namespace, off this runtime's thread (the server runs on it).
    let status = |extra: Vec<String>| {
        let mut command = netns.command("curl");
        command
            .args([
                "-sk",
                "--max-time",
                "20",
                "-o",
                "/dev/null",
                "-w",
                "%{http_code}",
            ])
            .args(extra)
            .arg(&url);
        async move {
            let output = tokio::task::spawn_blocking(move || command.output())
                .await
                .expect("curl ran")
                .expect("curl runs inside the namespace");
            String::from_utf8_lossy(&output.stdout).to_string()
        }
    };
    assert_eq!(
        status(vec![]).await,
        "403",
        "another machine without the token"
    );
    let header = |value: &str| vec!["-H".to_string(), format!("Authorization: Bearer {value}")];
    assert_eq!(status(header("not-the-token-at-all")).await, "403");
    assert_eq!(status(header(token)).await, "200", "with the token");
}

// ------------------------------------------------------------------------------------------
// Staff management, confirmations, messages after actions.

async fn password_hash(app: &TestApp, id: &str) -> String {
    let (hash,): (String,) = visitas::sql!(&app.db(), |c| sqlx::query_as(
        "SELECT password_hash FROM staff WHERE id = $1"
    )
    .bind(id)
    .fetch_one(&mut *c)
    .await)
    .expect("the account");
    hash
}

#[tokio::test]
async fn staff_are_edited_reactivated_and_given_a_temporary_password() {
    let app = spawn_app().await;
    let admin = app
        .create_staff(visitas::domain::Role::Admin, "jefa.ana")
        .await;
    let nurse = app
        .create_staff(visitas::domain::Role::Nurse, "nurse.luis")
        .await;
    assert_eq!(app.login("jefa.ana").await.status(), StatusCode::SEE_OTHER);
    // The nurse signed in on a ward PC before anything happens to the account.
    let (ward_pc, ward_jar) = new_client();
    app.login_with(&ward_pc, &ward_jar, "nurse.luis", PASSWORD)
        .await;
    assert_eq!(
        app.get_with(&ward_pc, "/desk").await.status(),
        StatusCode::OK
    );

    let page = text(app.get(&format!("/admin/staff/{nurse}")).await).await;
    assert!(page.contains("nurse.luis"));
    let audit_rows = app.count("audit_events").await;
    for (name, role, field) in [("", "nurse", "display_name"), ("Luis Gil", "boss", "role")] {
        let refused = app
            .post(
                &format!("/admin/staff/{nurse}"),
                &[("display_name", name), ("role", role)],
            )
            .await;
        assert_eq!(
            refused.status(),
            StatusCode::UNPROCESSABLE_ENTITY,
            "{field}"
        );
        assert!(text(refused).await.contains("class=\"field-error\""));
    }
    assert_eq!(
        app.count("audit_events").await,
        audit_rows,
        "nothing written"
    );
    let saved = app
        .post(
            &format!("/admin/staff/{nurse}"),
            &[("display_name", "Luis Gil"), ("role", "nurse")],
        )
        .await;
    assert_eq!(saved.status(), StatusCode::SEE_OTHER);
    let page = text(app.get(&format!("/admin/staff/{nurse}")).await).await;
    assert!(
        page.contains("id=\"flash\">Cuenta guardada.</p>"),
        "the message after the action"
    );
    assert!(page.contains("Luis Gil"));
    let again = text(app.get(&format!("/admin/staff/{nurse}")).await).await;
    assert!(!again.contains("id=\"flash\""), "said once");

    // The last active administrator keeps the role.
    let demote = app
        .post(
            &format!("/admin/staff/{admin}"),
            &[("display_name", "Ana Jefa"), ("role", "nurse")],
        )
        .await;
    assert_eq!(demote.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        text(demote)
            .await
            .contains("última cuenta de administración activa")
    );
    let (role,): (String,) = visitas::sql!(&app.db(), |c| sqlx::query_as(
        "SELECT role FROM staff WHERE id = $1"
    )
    .bind(&admin)
    .fetch_one(&mut *c)
    .await)
    .expect("the admin");
    assert_eq!(role, "admin");

    // Deactivated after being asked, then reactivated.
    let ask = text(app.get(&format!("/admin/staff/{nurse}/deactivate")).await).await;
    assert!(ask.contains("Sus sesiones terminan ahora"), "{ask}");
    assert!(ask.contains(&format!("action=\"/admin/staff/{nurse}/deactivate\"")));
    let gone = app
        .post(&format!("/admin/staff/{nurse}/deactivate"), &[])
        .await;
    assert_eq!(gone.status(), StatusCode::SEE_OTHER);
    assert_eq!(
        app.get_with(&ward_pc, "/desk").await.status(),
        StatusCode::SEE_OTHER,
        "its session ended"
    );
    let back = app
        .post(&format!("/admin/staff/{nurse}/reactivate"), &[])
        .await;
    assert_eq!(back.status(), StatusCode::SEE_OTHER);
    let (ward_pc, ward_jar) = new_client();
    let signed = app
        .login_with(&ward_pc, &ward_jar, "nurse.luis", PASSWORD)
        .await;
    assert_eq!(signed.status(), StatusCode::SEE_OTHER, "reactivated");

    // A temporary password: a weak one is refused and changes nothing.
    let before = password_hash(&app, &nurse).await;
    let weak = app
        .post(
            &format!("/admin/staff/{nurse}/password"),
            &[("password", "short"), ("password_confirm", "short")],
        )
        .await;
    assert_eq!(weak.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(password_hash(&app, &nurse).await, before);
    let temporary = "temporary horse staple 9";
    let reset = app
        .post(
            &format!("/admin/staff/{nurse}/password"),
            &[("password", temporary), ("password_confirm", temporary)],
        )
        .await;
    assert_eq!(reset.status(), StatusCode::SEE_OTHER);
    assert_eq!(
        app.get_with(&ward_pc, "/desk").await.status(),
        StatusCode::SEE_OTHER,
        "the sessions signed in before the reset end"
    );
    let old = app
        .login_with(&ward_pc, &ward_jar, "nurse.luis", PASSWORD)
        .await;
    assert_eq!(
        old.status(),
        StatusCode::UNAUTHORIZED,
        "the old password is gone"
    );
    let signed = app
        .login_with(&ward_pc, &ward_jar, "nurse.luis", temporary)
        .await;
    assert_eq!(signed.status(), StatusCode::SEE_OTHER);
    for path in ["/desk", "/patients", "/visit-log"] {
        let held = app.get_with(&ward_pc, path).await;
        assert_eq!(held.status(), StatusCode::SEE_OTHER, "{path}");
        assert_eq!(helpers::location(&held), "/account/password");
    }
    let page = text(app.get_with(&ward_pc, "/account/password").await).await;
    assert!(page.contains("id=\"must-change\""));
    let change = |current: &'static str, new: &'static str, repeat: &'static str| {
        let (client, jar) = (ward_pc.clone(), ward_jar.clone());
        let app = &app;
        async move {
            app.post_with(
                &client,
                &jar,
                "/account/password",
                &[
                    ("current", current),
                    ("password", new),
                    ("password_confirm", repeat),
                ],
            )
            .await
        }
    };
    let mine = "my own horse battery 77";
    for (current, new, repeat, says) in [
        ("not it at all", mine, mine, "no es correcta"),
        (temporary, temporary, temporary, "distinta de la actual"),
        (temporary, mine, "something else entirely", "no coinciden"),
    ] {
        let refused = change(current, new, repeat).await;
        assert_eq!(refused.status(), StatusCode::UNPROCESSABLE_ENTITY, "{says}");
        let html = text(refused).await;
        assert!(html.contains(says), "{says}: {html}");
    }
    let changed = change(temporary, mine, mine).await;
    assert_eq!(changed.status(), StatusCode::SEE_OTHER);
    let desk = text(app.get_with(&ward_pc, "/desk").await).await;
    assert!(
        desk.contains("Contraseña cambiada."),
        "free again, and told so"
    );
    let (fresh, fresh_jar) = new_client();
    let with_temporary = app
        .login_with(&fresh, &fresh_jar, "nurse.luis", temporary)
        .await;
    assert_eq!(with_temporary.status(), StatusCode::UNAUTHORIZED);
    let with_mine = app.login_with(&fresh, &fresh_jar, "nurse.luis", mine).await;
    assert_eq!(with_mine.status(), StatusCode::SEE_OTHER);

    let trail = audit_text(&app).await;
    for action in [
        "staff.update",
        "staff.deactivate",
        "staff.reactivate",
        "staff.password_reset",
        "staff.password_change",
    ] {
        assert!(trail.contains(action), "{action} audited");
    }
    for secret in [PASSWORD, temporary, mine] {
        assert!(!trail.contains(secret), "no password in the audit trail");
    }
}

#[tokio::test]
async fn destructive_actions_ask_first_and_say_what_will_happen() {
    let app = spawn_app().await;
    let (patient, card) = visit_running(&app).await;
    let (visit, room, invite, relative): (String, String, String, String) = visitas::sql!(&app.db(), |c| sqlx::query_as(
        "SELECT v.id, v.room_id, i.id, i.relative_id FROM visits v JOIN invites i ON i.visit_id = v.id",
    )
    .fetch_one(&mut *c).await)
    .expect("the visit");
    let (device, _) = app.admitted_relative(&card).await;
    let ticket = app.ticket_with(&device, "/visit/ticket").await;
    let mut call = helpers::socket::with_ticket(&app, &ticket, None).await;
    call.join().await;
    // The bedside, from the nurse's browser: two people in the call.
    let bedside_ticket = app
        .ticket_with(&app.client, &format!("/rooms/{room}/ticket?as=patient"))
        .await;
    let cookie = app.cookie_header(&app.jar);
    let mut bedside = helpers::socket::bedside(&app, &bedside_ticket, &cookie).await;
    bedside.join().await;

    let ask = |path: String| {
        let app = &app;
        async move {
            let response = app.get(&path).await;
            assert_eq!(response.status(), StatusCode::OK, "{path}");
            text(response).await
        }
    };
    let discharge = ask(format!("/patients/{patient}/discharge")).await;
    for says in [
        "Se cancela 1 visita programada.",
        "2 personas salen de la llamada ahora.",
        "Si es un error, puede readmitirse",
    ] {
        assert!(discharge.contains(says), "{says}: {discharge}");
    }
    let revoke = ask(format!("/rooms/{room}/invites/{invite}/revoke")).await;
    assert!(
        revoke.contains("Está en la llamada ahora y sale de ella."),
        "{revoke}"
    );
    let cancel = ask(format!("/visits/{visit}/cancel")).await;
    assert!(cancel.contains("El enlace y el código de 1 familiar dejan de funcionar."));
    assert!(
        cancel.contains("name=\"reason\""),
        "the reason is asked there"
    );
    let withdraw = ask(format!("/patients/{patient}/relatives/{relative}/withdraw")).await;
    assert!(withdraw.contains("1 visita próxima se cancela o sigue sin este familiar."));
    let close = ask(format!("/rooms/{room}/close")).await;
    assert!(close.contains("2 personas salen de la llamada ahora."));
    // The same in English, for a nurse whose browser asks for it.
    let english = text(
        app.get_in_language(&format!("/rooms/{room}/close"), "en")
            .await,
    )
    .await;
    assert!(
        english.contains("2 people leave the call now."),
        "{english}"
    );

    // Asking changed nothing.
    let (discharged, revoked, cancelled): (Option<i64>, Option<i64>, Option<i64>) =
        visitas::sql!(&app.db(), |c| {
            sqlx::query_as(
        "SELECT p.discharged_at, i.revoked_at, v.cancelled_at FROM patients p, invites i, visits v
             WHERE p.id = $1 AND i.id = $2 AND v.id = $3",
    )
    .bind(&patient)
    .bind(&invite)
    .bind(&visit)
    .fetch_one(&mut *c).await
        })
        .expect("the rows");
    assert_eq!((discharged, revoked, cancelled), (None, None, None));

    // Another ward's nurse is not even asked.
    let other_ward = app.ward("Pediatría", "00:00-24:00").await;
    let other = app
        .create_staff(visitas::domain::Role::Nurse, "nurse.otra")
        .await;
    app.assign(&other, &other_ward).await;
    let (outsider, outsider_jar) = new_client();
    app.login_with(&outsider, &outsider_jar, "nurse.otra", PASSWORD)
        .await;
    let refused = app
        .get_with(&outsider, &format!("/patients/{patient}/discharge"))
        .await;
    assert_eq!(refused.status(), StatusCode::NOT_FOUND);

    // Discharged, told so; re-admitted, told so.
    let done = app
        .post(&format!("/patients/{patient}/discharge"), &[])
        .await;
    assert_eq!(done.status(), StatusCode::SEE_OTHER);
    // The message after the action, in the language the browser asks for.
    let page = text(
        app.get_in_language(&format!("/patients/{patient}"), "en")
            .await,
    )
    .await;
    assert!(page.contains("Patient discharged."), "{page}");
    assert!(page.contains("id=\"readmit\""));
    call.expect_event("ended", std::time::Duration::from_secs(3))
        .await
        .expect("the relative left the call");
    let readmitted = app.post(&format!("/patients/{patient}/readmit"), &[]).await;
    assert_eq!(readmitted.status(), StatusCode::SEE_OTHER);
    let page = text(app.get(&format!("/patients/{patient}")).await).await;
    assert!(page.contains("Paciente readmitido"), "{page}");
    assert!(page.contains("data-patient-status=\"admitted\""));
    let twice = app.post(&format!("/patients/{patient}/readmit"), &[]).await;
    assert_eq!(
        twice.status(),
        StatusCode::CONFLICT,
        "not discharged any more"
    );
    let trail = audit_text(&app).await;
    assert!(trail.contains("patient.readmit"));
    // A visit can be started again.
    let son = app.authorise(&patient, "Iván", "es").await;
    app.visit_now(&patient, &[&son]).await;
}
