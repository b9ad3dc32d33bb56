//! Invites for relatives: link and code, locking, expiry, revocation, closed rooms, hashing.

mod helpers;

use std::{
    io::Write,
    sync::{Arc, Mutex, OnceLock},
    time::{Duration, Instant},
};

use helpers::{
    TestApp, new_client,
    socket::{bedside, connect, joined_relative, relative_ticket, with_ticket},
    spawn_app, text,
};
use reqwest::StatusCode;
use serde_json::json;

async fn room(app: &TestApp) -> String {
    app.logged_in_nurse().await;
    let patient = app.register_patient("Rosa Díaz", "HC-55").await;
    app.create_room(&patient).await
}

async fn patient_of(app: &TestApp, room: &str) -> String {
    let (patient,): (String,) = visitas::sql!(&app.db(), |c| sqlx::query_as(
        "SELECT patient_id FROM rooms WHERE id = $1"
    )
    .bind(room)
    .fetch_one(&mut *c)
    .await)
    .expect("the room's patient");
    patient
}

/// Everything the server logs, at every level, for the log test.
fn captured_logs() -> Arc<Mutex<Vec<u8>>> {
    static LOGS: OnceLock<Arc<Mutex<Vec<u8>>>> = OnceLock::new();
    LOGS.get_or_init(|| {
        let buffer = Arc::new(Mutex::new(Vec::new()));
        let writer = buffer.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_max_level(tracing::Level::TRACE)
            .with_writer(move || SharedWriter(writer.clone()))
            .finish();
        tracing::subscriber::set_global_default(subscriber)
            .expect("one subscriber per test binary");
        buffer
    })
    .clone()
}

struct SharedWriter(Arc<Mutex<Vec<u8>>>);

impl Write for SharedWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().expect("log buffer").extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test]
async fn the_card_shows_link_code_and_qr_in_the_relative_s_language_only() {
    let app = spawn_app().await;
    let room = room(&app).await;
    let patient = patient_of(&app, &room).await;
    let john = app.authorise(&patient, "John", "en").await;
    let visit = app.visit_now(&patient, &[&john]).await;

    let card = app.card_of(&visit, &john).await.html;

    assert!(
        card.contains("Hospital video visit") && card.contains("Type this access code"),
        "English card"
    );
    assert!(
        card.contains("Rosa") && !card.contains("Díaz") && !card.contains("nurse.ana"),
        "the patient's first name only, no staff names"
    );
    assert!(!card.contains("<nav"), "no staff navigation");
    assert!(card.contains("<svg"), "a QR code");
    let link = helpers::attribute(&card, "data-invite-link").unwrap();
    assert!(
        link.starts_with(&format!("https://127.0.0.1:{}/i/", app.addr.port())),
        "{link}"
    );
    let token = link.rsplit('/').next().unwrap();
    assert!(token.len() >= 22, "at least 128 bits");
    let code = helpers::attribute(&card, "data-invite-code").unwrap();
    assert_eq!(code.replace(' ', "").len(), 6);
    for page in [format!("/rooms/{room}"), format!("/visits/{visit}")] {
        let page = text(app.get(&page).await).await;
        assert!(
            page.contains("John") && !page.contains(token) && !page.contains(&code),
            "only the card shows the secrets"
        );
    }
}

#[tokio::test]
async fn only_hashes_of_the_link_and_code_are_stored() {
    let app = spawn_app().await;
    let room = room(&app).await;
    let card = app.create_invite(&room, "Ana").await;
    let token = card.link.rsplit('/').next().unwrap().to_string();
    let code = card.code.replace(' ', "");

    let (token_hash, code_hash): (String, String) = visitas::sql!(&app.db(), |c| sqlx::query_as(
        "SELECT token_hash, code_hash FROM invites"
    )
    .fetch_one(&mut *c)
    .await)
    .unwrap();

    assert_eq!(token_hash, visitas::domain::sha256_hex(&token));
    assert!(!code_hash.contains(&code));
    let (audit,): (String,) = visitas::sql!(&app.db(), |c| sqlx::query_as(
        "SELECT string_agg(coalesce(subject, '') || action, ',') FROM audit_events"
    )
    .fetch_one(&mut *c)
    .await)
    .unwrap();
    assert!(!audit.contains(&code) && !audit.contains(&token));
    for (_, haystack) in app.stored_bytes().await {
        let text = String::from_utf8_lossy(&haystack);
        assert!(
            !text.contains(&token),
            "the token is nowhere in the database files"
        );
        assert!(!text.contains(&code), "nor the code");
    }
}

#[tokio::test]
async fn the_right_code_lets_the_relative_in_and_the_token_leaves_the_address() {
    let app = spawn_app().await;
    let room = room(&app).await;
    let card = app.create_invite(&room, "Ana").await;
    let (relative, relative_jar) = new_client();

    let opened = app.get_with(&relative, &TestApp::invite_path(&card)).await;
    assert_eq!(opened.status(), StatusCode::OK);
    let opened = text(opened).await;
    assert!(opened.contains("<meta http-equiv=\"refresh\" content=\"0;url=/visit\">"));
    assert!(
        !opened.contains(&TestApp::invite_path(&card)),
        "the token is not repeated in the page"
    );
    let code_page = text(app.get_with(&relative, "/visit").await).await;
    assert!(
        code_page.contains("Escriba el código de 6 cifras"),
        "the code page in the invite's language"
    );
    assert!(
        !code_page.contains("Rosa"),
        "nothing about the patient before the code"
    );
    let ticket_before = app.get_with(&relative, "/visit/ticket").await;
    assert_eq!(
        ticket_before.status(),
        StatusCode::FORBIDDEN,
        "no ticket before the code"
    );

    let entered = app
        .post_with(
            &relative,
            &relative_jar,
            "/visit/code",
            &[("code", &card.code)],
        )
        .await;

    assert_eq!(entered.status(), StatusCode::SEE_OTHER);
    let call_page = text(app.get_with(&relative, "/visit").await).await;
    assert!(call_page.contains("data-role=\"relative\"") && call_page.contains("Antes de entrar"));
    assert!(!app.ticket_with(&relative, "/visit/ticket").await.is_empty());
}

#[tokio::test]
async fn five_wrong_codes_lock_the_invite_and_the_nurse_sees_it() {
    let app = spawn_app().await;
    let room = room(&app).await;
    let card = app.create_invite(&room, "Ana").await;
    let (relative, jar) = new_client();
    app.get_with(&relative, &TestApp::invite_path(&card)).await;
    let wrong = if card.code.starts_with('0') {
        "111111"
    } else {
        "000000"
    };

    for left in (1..=4).rev() {
        let response = app.type_code(&relative, &jar, wrong).await;
        assert_eq!(response.status(), StatusCode::BAD_REQUEST);
        let expected = if left == 1 {
            "Le queda 1 intento.".to_string()
        } else {
            format!("Le quedan {left} intentos.")
        };
        assert!(text(response).await.contains(&expected), "{expected}");
    }
    let fifth = app.type_code(&relative, &jar, wrong).await;
    assert_eq!(fifth.status(), StatusCode::GONE);
    assert!(text(fifth).await.contains("se ha bloqueado"));

    let right = app.type_code(&relative, &jar, &card.code).await;
    assert_eq!(
        right.status(),
        StatusCode::GONE,
        "even the right code does nothing now"
    );
    let (other, _) = new_client();
    assert_eq!(
        app.get_with(&other, &TestApp::invite_path(&card))
            .await
            .status(),
        StatusCode::GONE
    );
    let page = text(app.get(&format!("/rooms/{room}")).await).await;
    assert!(page.contains("data-invite-status=\"locked\""));
    let malformed = app.type_code(&other, &jar, "12a").await;
    assert_ne!(malformed.status(), StatusCode::SEE_OTHER);
}

#[tokio::test]
async fn a_malformed_code_is_explained_and_not_counted() {
    let app = spawn_app().await;
    let room = room(&app).await;
    let card = app.create_invite(&room, "Ana").await;
    let (relative, jar) = new_client();
    app.get_with(&relative, &TestApp::invite_path(&card)).await;

    let response = app.type_code(&relative, &jar, "12 34").await;

    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    assert!(text(response).await.contains("El código tiene 6 cifras."));
    let attempts: i64 = app.scalar("SELECT failed_attempts FROM invites").await;
    assert_eq!(attempts, 0);
}

#[tokio::test]
async fn wrong_codes_are_throttled_per_client_address_across_invites() {
    let app = spawn_app().await;
    app.logged_in_nurse().await;
    let mut tries = 0;
    while tries < visitas::auth::relative::MAX_CODE_FAILURES_PER_CLIENT {
        // One patient per invite: a visit takes at most room capacity less one relatives.
        let patient = app.register_patient(&format!("Paciente {tries}"), "").await;
        let room = app.create_room(&patient).await;
        let card = app.create_invite(&room, "Ana").await;
        let (relative, jar) = new_client();
        app.get_with(&relative, &TestApp::invite_path(&card)).await;
        let wrong = if card.code.starts_with('0') {
            "111111"
        } else {
            "000000"
        };
        for _ in 0..4 {
            app.type_code(&relative, &jar, wrong).await;
            tries += 1;
        }
    }
    let patient = app.register_patient("Última paciente", "").await;
    let room = app.create_room(&patient).await;
    let card = app.create_invite(&room, "Última").await;
    let (relative, jar) = new_client();
    app.get_with(&relative, &TestApp::invite_path(&card)).await;

    let response = app.type_code(&relative, &jar, &card.code).await;

    assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
}

#[tokio::test]
async fn expired_revoked_and_closed_room_invites_say_so_in_the_relative_s_language() {
    let app = spawn_app().await;
    let room = room(&app).await;
    let expired = app.create_invite(&room, "Ana").await;
    let revoked = app.create_invite(&room, "Beto").await;
    visitas::sql!(&app.db(), |c| sqlx::query(
        "UPDATE invites SET expires_at = $1 WHERE relative_name = 'Ana'"
    )
    .bind(chrono::Utc::now().timestamp() - 1)
    .execute(&mut *c)
    .await
    .map(|done| done.rows_affected()))
    .unwrap();
    let (revoked_id,): (String,) = visitas::sql!(&app.db(), |c| sqlx::query_as(
        "SELECT id FROM invites WHERE relative_name = 'Beto'"
    )
    .fetch_one(&mut *c)
    .await)
    .unwrap();
    app.post(&format!("/rooms/{room}/invites/{revoked_id}/revoke"), &[])
        .await;
    let (relative, _) = new_client();

    let expired_page = app
        .get_with(&relative, &TestApp::invite_path(&expired))
        .await;
    let revoked_page = app
        .get_with(&relative, &TestApp::invite_path(&revoked))
        .await;
    let unknown = app
        .get_with(&relative, "/i/AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA")
        .await;

    assert_eq!(expired_page.status(), StatusCode::GONE);
    let expired_text = text(expired_page).await;
    assert!(expired_text.contains("ya ha terminado"));
    assert!(!expired_text.contains("Rosa"), "nothing about the patient");
    assert_eq!(revoked_page.status(), StatusCode::GONE);
    assert!(text(revoked_page).await.contains("ya no es válida"));
    assert_eq!(unknown.status(), StatusCode::NOT_FOUND);
    assert!(text(unknown).await.contains("no es válido"));

    let open = app.create_invite(&room, "Carla").await;
    let (carla, carla_jar) = app.admitted_relative(&open).await;
    app.post(&format!("/rooms/{room}/close"), &[]).await;
    let closed = app.get_with(&carla, "/visit").await;
    assert_eq!(closed.status(), StatusCode::GONE);
    assert!(text(closed).await.contains("La visita ha terminado"));
    assert_eq!(
        app.get_with(&carla, "/visit/ticket").await.status(),
        StatusCode::FORBIDDEN
    );
    let _ = carla_jar;
}

#[tokio::test]
async fn revoking_removes_the_relative_from_the_call_within_two_seconds() {
    let app = spawn_app().await;
    let room = room(&app).await;
    let bedside_ticket = app
        .ticket_with(&app.client, &format!("/rooms/{room}/ticket?as=patient"))
        .await;
    let mut patient = bedside(&app, &bedside_ticket, &app.cookie_header(&app.jar)).await;
    patient.join().await;
    let ticket = relative_ticket(&app, &room, "Dora").await;
    let mut visitor = with_ticket(&app, &ticket, None).await;
    visitor.join().await;
    let invite_id: String = app.scalar("SELECT id FROM invites").await;

    let started = Instant::now();
    app.post(&format!("/rooms/{room}/invites/{invite_id}/revoke"), &[])
        .await;

    let ended = visitor
        .expect_event("ended", Duration::from_secs(2))
        .await
        .expect("told within 2 s");
    assert_eq!(ended["reason"], "revoked");
    assert!(
        visitor
            .is_closed_within(Duration::from_secs(2).saturating_sub(started.elapsed()))
            .await
    );
    assert!(
        patient
            .expect_event("peer-left", Duration::from_secs(2))
            .await
            .is_some()
    );
    let again = connect(
        &app,
        Some(&app.ws_origin()),
        None,
        json!({ "ticket": ticket }),
    )
    .await;
    assert!(
        matches!(again, helpers::socket::Handshake::Refused(_)),
        "the old ticket no longer works"
    );
    let (reason,): (Option<String>,) = visitas::sql!(&app.db(), |c| sqlx::query_as(
        "SELECT end_reason FROM visit_log WHERE role = 'relative'"
    )
    .fetch_one(&mut *c)
    .await)
    .unwrap();
    assert_eq!(reason.as_deref(), Some("revoked"));
}

#[tokio::test]
async fn closing_the_room_or_discharging_ends_the_call_for_everyone() {
    let app = spawn_app().await;
    let (patient_id, room) = app.nurse_with_room("Eva").await;
    let (mut visitor, _) = joined_relative(&app, &room, "Fran").await;

    app.post(&format!("/patients/{patient_id}/discharge"), &[])
        .await;

    let ended = visitor
        .expect_event("ended", Duration::from_secs(2))
        .await
        .expect("told within 2 s");
    assert_eq!(ended["reason"], "room-closed");
    let (fran,): (String,) = visitas::sql!(&app.db(), |c| sqlx::query_as(
        "SELECT id FROM relatives WHERE display_name = 'Fran'"
    )
    .fetch_one(&mut *c)
    .await)
    .unwrap();
    let refused = app
        .post(
            &format!("/patients/{patient_id}/visits/now"),
            &[("relative", &fran), ("minutes", "30")],
        )
        .await;
    assert_eq!(
        refused.status(),
        StatusCode::CONFLICT,
        "no visits for a discharged patient"
    );
    assert!(text(refused).await.contains("dado de alta"));
}

#[tokio::test]
async fn the_link_token_never_reaches_the_logs() {
    let logs = captured_logs();
    let app = spawn_app().await;
    let room = room(&app).await;
    let card = app.create_invite(&room, "Gala").await;
    let token = card.link.rsplit('/').next().unwrap().to_string();

    let (client, jar) = new_client();
    app.get_with(&client, &TestApp::invite_path(&card)).await;
    app.type_code(&client, &jar, "000000").await;
    app.get_with(&client, &format!("/i/{token}x")).await;
    tokio::time::sleep(Duration::from_millis(100)).await;

    let logged = String::from_utf8_lossy(&logs.lock().unwrap()).to_string();
    assert!(
        logged.contains("/i/{token}"),
        "requests are logged by route"
    );
    assert!(!logged.contains(&token), "the token itself is not");
    assert!(
        !logged.contains(&card.code.replace(' ', "")),
        "nor the code"
    );
}

#[tokio::test]
async fn relative_form_errors_are_shown_and_nothing_is_stored() {
    let app = spawn_app().await;
    let room = room(&app).await;
    let patient = patient_of(&app, &room).await;

    for (name, relationship, lang) in [
        (" ", "hija", "es"),
        ("Ana", "", "es"),
        (&*"a".repeat(101), "hija", "es"),
        ("Ana", "hija", "fr"),
    ] {
        let response = app.post_relative(&patient, name, relationship, lang).await;
        assert_eq!(response.status(), StatusCode::BAD_REQUEST, "{name:?}");
        let page = text(response).await;
        assert!(
            page.contains("Este campo es obligatorio.") || page.contains("Como máximo 100"),
            "{name:?}: the reason is shown"
        );
    }
    assert_eq!(app.count("relatives").await, 0);
    assert_eq!(app.count("invites").await, 0);
}

#[tokio::test]
async fn parallel_wrong_codes_cannot_slip_past_the_address_limit() {
    let app = spawn_app().await;
    app.logged_in_nurse().await;
    let limit = visitas::auth::relative::MAX_CODE_FAILURES_PER_CLIENT;
    // Five guesses per invite (never more than an invite allows), from one address, all at once:
    // half again as many as the address may make.
    let invites = (limit * 3 / 2 + 4) / 5;
    let mut guesses = Vec::new();
    for i in 0..invites {
        let patient = app.register_patient(&format!("Paciente {i}"), "").await;
        let room = app.create_room(&patient).await;
        let card = app.create_invite(&room, "Ana").await;
        let (relative, jar) = new_client();
        app.get_with(&relative, &TestApp::invite_path(&card)).await;
        let token = app.csrf_token(&relative, &jar).await;
        let right: u32 = card.code.replace(' ', "").parse().unwrap();
        for n in 0..5 {
            let wrong = format!("{:06}", (right + 1 + n) % 1_000_000);
            guesses.push(
                relative
                    .post(app.url("/visit/code"))
                    .header(reqwest::header::ORIGIN, &app.base)
                    .form(&[("code", wrong.as_str()), ("csrf", token.as_str())]),
            );
        }
    }
    let sent = guesses.len() as i64;

    let statuses = futures_util::future::join_all(
        guesses
            .into_iter()
            .map(|request| async move { request.send().await.unwrap().status() }),
    )
    .await;

    let throttled = statuses
        .iter()
        .filter(|s| **s == StatusCode::TOO_MANY_REQUESTS)
        .count() as i64;
    let judged = statuses
        .iter()
        .filter(|s| **s == StatusCode::BAD_REQUEST || **s == StatusCode::GONE)
        .count() as i64;
    assert_eq!(judged, limit, "{statuses:?}");
    assert_eq!(throttled, sent - limit, "{statuses:?}");
    assert_eq!(app.count("code_failures").await, limit);
}

#[tokio::test]
async fn parallel_guesses_cannot_get_more_than_five_tries() {
    let app = spawn_app().await;
    let room = room(&app).await;
    let card = app.create_invite(&room, "Ana").await;
    let (relative, jar) = new_client();
    app.get_with(&relative, &TestApp::invite_path(&card)).await;
    let token = app.csrf_token(&relative, &jar).await;
    let right: u32 = card.code.replace(' ', "").parse().unwrap();
    let wrong: Vec<String> = (0..12)
        .map(|i| format!("{:06}", (right + 1 + i) % 1_000_000))
        .collect();

    let guesses = wrong.iter().map(|code| {
        let request = relative
            .post(app.url("/visit/code"))
            .header(reqwest::header::ORIGIN, &app.base)
            .form(&[("code", code.as_str()), ("csrf", token.as_str())]);
        async move { request.send().await.unwrap().status() }
    });
    let statuses = futures_util::future::join_all(guesses).await;

    assert!(
        statuses
            .iter()
            .all(|s| *s == StatusCode::BAD_REQUEST || *s == StatusCode::GONE),
        "every guess gets an answer, none an error: {statuses:?}"
    );
    let judged = statuses
        .iter()
        .filter(|s| **s == StatusCode::BAD_REQUEST)
        .count();
    assert!(
        judged <= 4,
        "at most four 'wrong, try again' answers: {statuses:?}"
    );
    let (attempts, locked): (i64, Option<i64>) = visitas::sql!(&app.db(), |c| sqlx::query_as(
        "SELECT failed_attempts, locked_at FROM invites"
    )
    .fetch_one(&mut *c)
    .await)
    .unwrap();
    assert_eq!(attempts, 5);
    assert!(locked.is_some());
    let right = app.type_code(&relative, &jar, &card.code).await;
    assert_eq!(right.status(), StatusCode::GONE);
}

#[tokio::test]
async fn closing_the_room_removes_everyone_from_a_running_call() {
    let app = spawn_app().await;
    let room = room(&app).await;
    let (mut visitor, _) = joined_relative(&app, &room, "Hilda").await;

    app.post(&format!("/rooms/{room}/close"), &[]).await;

    let ended = visitor
        .expect_event("ended", Duration::from_secs(2))
        .await
        .expect("told within 2 s");
    assert_eq!(ended["reason"], "room-closed");
    assert!(visitor.is_closed_within(Duration::from_secs(2)).await);
}

#[tokio::test]
async fn a_deactivated_nurse_s_call_ends_too() {
    let app = spawn_app().await;
    app.create_staff(visitas::domain::Role::Admin, "admin.root")
        .await;
    let nurse_id = app
        .create_staff(visitas::domain::Role::Nurse, "nurse.ana")
        .await;
    let ward = app.ward("UCI", "00:00-24:00").await;
    app.assign(&nurse_id, &ward).await;
    let (nurse, nurse_jar) = new_client();
    app.login_with(&nurse, &nurse_jar, "nurse.ana", helpers::PASSWORD)
        .await;
    app.login("admin.root").await;
    let patient = app.register_patient("Iris", "").await;
    let room = app.create_room(&patient).await;
    let ticket = app
        .ticket_with(&nurse, &format!("/rooms/{room}/ticket?as=staff"))
        .await;
    let cookie = app.cookie_header(&nurse_jar);
    let mut call = connect(
        &app,
        Some(&app.ws_origin()),
        Some(&cookie),
        json!({ "ticket": ticket }),
    )
    .await
    .expect_connected();
    call.join().await;

    app.post(&format!("/admin/staff/{nurse_id}/deactivate"), &[])
        .await;

    assert!(
        call.expect_event("ended", Duration::from_secs(2))
            .await
            .is_some()
    );
    assert!(call.is_closed_within(Duration::from_secs(2)).await);
}

#[tokio::test]
async fn the_card_shows_times_in_the_hospital_s_time_zone() {
    let app = helpers::spawn_app_with(|c| {
        c.time_zone = visitas::domain::HospitalZone::parse("America/New_York");
    })
    .await;
    let (_, room) = app.nurse_with_room("Ana").await;

    let card = app.create_invite(&room, "Marta").await;

    let starts: i64 = app.scalar("SELECT starts_at FROM visits").await;
    let utc = chrono::DateTime::from_timestamp(starts, 0).unwrap();
    let in_new_york = utc.with_timezone(&chrono_tz::America::New_York);
    let from = card.html.find("data-card-when").unwrap();
    let to = from + card.html[from..].find("</p>").unwrap();
    let shown = &card.html[from..to];
    assert!(
        shown.contains(&in_new_york.format(", %H:%M").to_string()),
        "the start in New York's time: {shown}"
    );
    assert!(
        shown.contains(&in_new_york.format(" %Y").to_string()),
        "and its date"
    );
    assert!(
        !shown.contains(&utc.format(", %H:%M").to_string()),
        "not in UTC"
    );
}
