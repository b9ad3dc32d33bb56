//! The waiting room and the bedside device, at the wire: what a waiting socket can and cannot do,
//! who may let it in, and what a bedside tablet's credential opens.

mod helpers;

use std::time::{Duration, Instant};

use helpers::{
    TestApp, new_client,
    socket::{SocketClient, id, joined_bedside, with_ticket},
    spawn_app, text,
};
use reqwest::{Client, StatusCode, cookie::Jar};
use serde_json::{Value, json};
use std::sync::Arc;

const QUIET: Duration = Duration::from_millis(600);
const SOON: Duration = Duration::from_secs(5);

/// A relative of the room's patient, with a visit started now that does not let them in on
/// arrival: their invite id and their connected, not yet joined, socket.
async fn waiting_relative(app: &TestApp, room: &str, name: &str) -> (String, SocketClient) {
    let (patient,): (String,) = visitas::sql!(&app.db(), |c| sqlx::query_as(
        "SELECT patient_id FROM rooms WHERE id = $1"
    )
    .bind(room)
    .fetch_one(&mut *c)
    .await)
    .expect("a test step");
    let relative = app.authorise(&patient, name, "en").await;
    let running: Option<(String,)> = visitas::sql!(&app.db(), |c| {
        sqlx::query_as(
        "SELECT id FROM visits WHERE room_id = $1 AND cancelled_at IS NULL AND ended_at IS NULL",
    )
    .bind(room)
    .fetch_optional(&mut *c).await
    })
    .expect("a test step");
    let visit = match running {
        Some((visit,)) => {
            let added = app
                .post(
                    &format!("/visits/{visit}/relatives"),
                    &[("relative", relative.as_str())],
                )
                .await;
            assert_eq!(added.status(), StatusCode::SEE_OTHER);
            visit
        }
        None => app.visit_now_with(&patient, &[&relative], false).await,
    };
    let card = app.card_of(&visit, &relative).await;
    let (device, _) = app.admitted_relative(&card).await;
    let ticket = app.ticket_with(&device, "/visit/ticket").await;
    let (invite,): (String,) = visitas::sql!(&app.db(), |c| sqlx::query_as(
        "SELECT id FROM invites WHERE visit_id = $1 AND relative_id = $2"
    )
    .bind(&visit)
    .bind(&relative)
    .fetch_one(&mut *c)
    .await)
    .expect("a test step");
    (invite, with_ticket(app, &ticket, None).await)
}

/// `join` with a device check, answered.
async fn join_with_check(socket: &mut SocketClient) -> Value {
    socket
        .send_raw(format!(
            "4299{}",
            json!(["join", { "camera": true, "microphone": true, "browser": "Chrome 140 · Linux", "rttMs": 35 }])
        ))
        .await;
    socket.ack(99).await.expect("a join answer")
}

async fn audit_count(app: &TestApp, action: &str) -> i64 {
    let (n,): (i64,) = visitas::sql!(&app.db(), |c| sqlx::query_as(
        "SELECT COUNT(*) FROM audit_events WHERE action = $1"
    )
    .bind(action)
    .fetch_one(&mut *c)
    .await)
    .expect("a test step");
    n
}

async fn admissions(app: &TestApp, invite: &str) -> Vec<(String, Option<String>)> {
    visitas::sql!(&app.db(), |c| sqlx::query_as(
        "SELECT how, admitted_by FROM admissions WHERE invite_id = $1"
    )
    .bind(invite)
    .fetch_all(&mut *c)
    .await)
    .expect("a test step")
}

#[tokio::test]
async fn a_waiting_relative_signals_nobody_learns_nothing_and_cannot_let_themselves_in() {
    let app = spawn_app().await;
    let (room, mut bedside, bedside_id) = joined_bedside(&app).await;
    let (invite, mut relative) = waiting_relative(&app, &room, "Marta").await;

    let ack = join_with_check(&mut relative).await;

    assert_eq!(ack["waiting"], json!(true), "{ack}");
    assert!(ack.get("peers").is_none(), "no peer list: {ack}");
    assert!(
        ack.get("iceServers").is_none(),
        "no TURN credentials: {ack}"
    );
    let offer = json!({ "description": { "type": "offer", "sdp": "v=0\r\n" } });
    relative
        .emit("signal", json!({ "to": bedside_id, "data": offer }))
        .await;
    for event in ["admit", "admitted", "ready", "decline"] {
        relative.emit(event, json!({})).await;
    }
    let again = relative.call("join").await.expect("an answer");
    assert_eq!(again["error"], json!("already-joined"));
    assert!(bedside.receives_no("peer-joined", QUIET).await);
    assert!(bedside.receives_no("signal", QUIET).await);
    assert!(relative.receives_no("peer-joined", QUIET).await);
    assert!(relative.receives_no("admitted", QUIET).await);
    assert!(admissions(&app, &invite).await.is_empty());
    let panel = text(app.get("/desk/waiting").await).await;
    assert!(panel.contains("Marta"), "the desk lists them: {panel}");
    assert!(panel.contains(r#"data-check-camera="true""#));
    assert!(panel.contains("Chrome 140"));
}

#[tokio::test]
async fn the_nurse_admits_and_the_relative_is_in_the_call_at_once_and_stays_admitted() {
    let app = spawn_app().await;
    let (room, mut bedside, bedside_id) = joined_bedside(&app).await;
    let (invite, mut relative) = waiting_relative(&app, &room, "Marta").await;
    join_with_check(&mut relative).await;

    let clicked = Instant::now();
    let admitted = app
        .post(&format!("/waiting/{invite}/admit"), &[("back", "/desk")])
        .await;
    let answer = relative
        .expect_event("admitted", SOON)
        .await
        .expect("let in");
    let took = clicked.elapsed();

    assert_eq!(admitted.status(), StatusCode::SEE_OTHER);
    assert!(took < Duration::from_secs(1), "admitted in {took:?}");
    let peers = answer["peers"].as_array().expect("the peers");
    assert_eq!(peers.len(), 1);
    assert_eq!(peers[0]["id"], json!(bedside_id));
    let joined = bedside
        .expect_event("peer-joined", SOON)
        .await
        .expect("told");
    assert_eq!(joined["name"], json!("Marta"));
    let staff: (String,) = visitas::sql!(&app.db(), |c| sqlx::query_as(
        "SELECT id FROM staff WHERE role = 'nurse'"
    )
    .fetch_one(&mut *c)
    .await)
    .expect("a test step");
    assert_eq!(
        admissions(&app, &invite).await,
        vec![("nurse".to_string(), Some(staff.0))]
    );
    assert_eq!(audit_count(&app, "visit.admit").await, 1);
    let panel = text(app.get("/desk/waiting").await).await;
    assert!(!panel.contains("Marta"), "no longer waiting");

    // A reload: a fresh socket of the same invite goes straight into the call.
    let (device, _) = relative_device_for(&app, &invite).await;
    let ticket = app.ticket_with(&device, "/visit/ticket").await;
    let mut again = with_ticket(&app, &ticket, None).await;
    let ack = again.join().await;
    assert!(ack.get("waiting").is_none(), "straight in: {ack}");
    assert_eq!(ack["peers"].as_array().map(Vec::len), Some(1));
    assert_eq!(
        admissions(&app, &invite).await.len(),
        1,
        "one admission row"
    );
}

/// A fresh device of the relative holding `invite`, past the code.
async fn relative_device_for(app: &TestApp, invite: &str) -> (Client, Arc<Jar>) {
    let (visit, relative): (String, String) = visitas::sql!(&app.db(), |c| sqlx::query_as(
        "SELECT visit_id, relative_id FROM invites WHERE id = $1"
    )
    .bind(invite)
    .fetch_one(&mut *c)
    .await)
    .expect("a test step");
    let card = app.card_of(&visit, &relative).await;
    app.admitted_relative(&card).await
}

#[tokio::test]
async fn a_nurse_of_another_ward_cannot_admit_tell_or_send_away() {
    let app = spawn_app().await;
    let (room, _bedside, _) = joined_bedside(&app).await;
    let (invite, mut relative) = waiting_relative(&app, &room, "Marta").await;
    join_with_check(&mut relative).await;
    let other_ward = app.ward("Pediatría", "00:00-24:00").await;
    let other = app.create_staff(visitas::domain::Role::Nurse, "otra").await;
    app.assign(&other, &other_ward).await;
    let (client, jar) = new_client();
    let login = app
        .login_with(&client, &jar, "otra", helpers::PASSWORD)
        .await;
    assert_eq!(login.status(), StatusCode::SEE_OTHER);

    let tries = [
        format!("/waiting/{invite}/admit"),
        format!("/waiting/{invite}/not-now"),
        format!("/waiting/{invite}/send-away"),
    ];
    for path in &tries {
        let response = app
            .post_with(
                &client,
                &jar,
                path,
                &[("message", "resting"), ("reason", "not-today")],
            )
            .await;
        assert_eq!(response.status(), StatusCode::NOT_FOUND, "{path}");
    }
    let panel = text(app.get_with(&client, "/desk/waiting").await).await;

    assert!(
        !panel.contains("Marta"),
        "another ward's waiting room is not shown"
    );
    assert_eq!(audit_count(&app, "access.refused").await, 3);
    assert!(admissions(&app, &invite).await.is_empty());
    assert_eq!(audit_count(&app, "visit.not_now").await, 0);
    assert!(relative.receives_no("admitted", QUIET).await);
    assert!(relative.receives_no("not-now", Duration::ZERO).await);
}

#[tokio::test]
async fn not_now_shows_the_chosen_message_and_a_made_up_one_is_refused() {
    let app = spawn_app().await;
    let (room, _bedside, _) = joined_bedside(&app).await;
    let (invite, mut relative) = waiting_relative(&app, &room, "Marta").await;
    join_with_check(&mut relative).await;

    let bad = app
        .post(
            &format!("/waiting/{invite}/not-now"),
            &[("message", "<b>go home</b>")],
        )
        .await;
    let good = app
        .post(
            &format!("/waiting/{invite}/not-now"),
            &[("message", "resting")],
        )
        .await;

    assert_eq!(bad.status(), StatusCode::BAD_REQUEST);
    assert_eq!(good.status(), StatusCode::SEE_OTHER);
    let told = relative.expect_event("not-now", SOON).await.expect("told");
    assert_eq!(told, json!({ "message": "resting" }));
    let details: Vec<(Option<String>,)> = visitas::sql!(&app.db(), |c| sqlx::query_as(
        "SELECT detail FROM audit_events WHERE action = 'visit.not_now'"
    )
    .fetch_all(&mut *c)
    .await)
    .expect("a test step");
    assert_eq!(details, vec![(Some("resting".to_string()),)]);
    let panel = text(app.get("/desk/waiting").await).await;
    assert!(panel.contains("data-told"), "the desk shows what was said");
}

#[tokio::test]
async fn sending_away_ends_the_invite_with_the_reason_on_their_screen() {
    let app = spawn_app().await;
    let (room, _bedside, _) = joined_bedside(&app).await;
    let (invite, mut relative) = waiting_relative(&app, &room, "Marta").await;
    join_with_check(&mut relative).await;

    let response = app
        .post(
            &format!("/waiting/{invite}/send-away"),
            &[("reason", "not-today")],
        )
        .await;

    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    let ended = relative.expect_event("ended", SOON).await.expect("ended");
    assert_eq!(
        ended,
        json!({ "reason": "sent-away", "message": "not-today" })
    );
    assert!(relative.is_closed_within(SOON).await);
    let (revoked,): (Option<i64>,) = visitas::sql!(&app.db(), |c| sqlx::query_as(
        "SELECT revoked_at FROM invites WHERE id = $1"
    )
    .bind(&invite)
    .fetch_one(&mut *c)
    .await)
    .expect("a test step");
    assert!(revoked.is_some());
    assert_eq!(audit_count(&app, "visit.send_away").await, 1);
}

#[tokio::test]
async fn the_desk_hears_of_a_new_waiter_within_a_second() {
    let app = spawn_app().await;
    let (room, _bedside, _) = joined_bedside(&app).await;
    let (_, mut relative) = waiting_relative(&app, &room, "Marta").await;
    let version: Value = app
        .get("/desk/version")
        .await
        .json()
        .await
        .expect("a test step");
    let seen = version["version"].as_u64().expect("a test step");
    let (client, url) = (
        app.client.clone(),
        app.url(&format!("/desk/version?after={seen}")),
    );
    let poll = tokio::spawn(async move {
        let response = client.get(url).send().await.expect("a test step");
        (
            Instant::now(),
            response.json::<Value>().await.expect("a test step"),
        )
    });
    tokio::time::sleep(Duration::from_millis(300)).await;

    let started = Instant::now();
    join_with_check(&mut relative).await;
    let (answered, body) = poll.await.expect("a test step");

    assert!(body["version"].as_u64().expect("a test step") > seen);
    let took = answered.saturating_duration_since(started);
    assert!(took < Duration::from_secs(1), "the desk heard in {took:?}");
    let panel = text(app.get("/desk/waiting").await).await;
    assert!(panel.contains("Marta"));
}

// ---------------------------------------------------------------- the bedside device

/// A tablet: a fresh browser that opened `/bedside` and asked for a pairing code. Its client,
/// cookie jar and the code.
async fn tablet(app: &TestApp) -> (Client, Arc<Jar>, String) {
    let (client, jar) = new_client();
    let page = app.get_with(&client, "/bedside").await;
    assert_eq!(page.status(), StatusCode::OK);
    let response = app.post_with(&client, &jar, "/bedside/pairing", &[]).await;
    assert_eq!(response.status(), StatusCode::OK);
    let body: Value = response.json().await.expect("a test step");
    let code = body["code"].as_str().expect("a test step").replace(' ', "");
    assert!(
        body["qrSvg"]
            .as_str()
            .expect("a test step")
            .contains("<svg")
    );
    (client, jar, code)
}

async fn patient_of(app: &TestApp, room: &str) -> String {
    let (patient,): (String,) = visitas::sql!(&app.db(), |c| sqlx::query_as(
        "SELECT patient_id FROM rooms WHERE id = $1"
    )
    .bind(room)
    .fetch_one(&mut *c)
    .await)
    .expect("a test step");
    patient
}

#[tokio::test]
async fn a_pairing_code_works_once_expires_and_wrong_codes_are_throttled() {
    let app = spawn_app().await;
    app.logged_in_nurse().await;
    let patient = app.register_patient("Ana", "").await;
    let (tablet_client, _, code) = tablet(&app).await;
    let pair = |code: String| {
        let app = &app;
        let patient = patient.clone();
        async move {
            app.post(&format!("/patients/{patient}/devices"), &[("code", &code)])
                .await
                .status()
        }
    };

    assert_eq!(pair(code.clone()).await, StatusCode::SEE_OTHER);
    let state: Value = app
        .get_with(&tablet_client, "/bedside/state")
        .await
        .json()
        .await
        .expect("a test step");
    assert_eq!(state["state"], json!("paired"));
    assert_eq!(pair(code).await, StatusCode::BAD_REQUEST, "used up");

    let (_, _, stale) = tablet(&app).await;
    visitas::sql!(&app.db(), |c| sqlx::query(
        "UPDATE bedside_devices SET pairing_expires_at = 1 WHERE pairing_expires_at IS NOT NULL",
    )
    .execute(&mut *c)
    .await
    .map(|done| done.rows_affected()))
    .expect("a test step");
    assert_eq!(pair(stale).await, StatusCode::BAD_REQUEST, "expired");
    let (_, _, good) = tablet(&app).await;
    for wrong in ["000000", "12", "abcdef"] {
        assert_eq!(pair(wrong.to_string()).await, StatusCode::BAD_REQUEST);
    }
    assert_eq!(
        pair(good).await,
        StatusCode::TOO_MANY_REQUESTS,
        "the fifth wrong code holds the nurse back, even before a right one"
    );
    let (paired,): (i64,) = visitas::sql!(&app.db(), |c| sqlx::query_as(
        "SELECT COUNT(*) FROM bedside_devices WHERE paired_at IS NOT NULL"
    )
    .fetch_one(&mut *c)
    .await)
    .expect("a test step");
    assert_eq!(paired, 1);
    assert_eq!(audit_count(&app, "device.pair").await, 1);
    assert_eq!(audit_count(&app, "device.pair_refused").await, 6);
}

#[tokio::test]
async fn parallel_wrong_pairing_codes_cannot_slip_past_the_limit() {
    let app = spawn_app().await;
    app.logged_in_nurse().await;
    let patient = app.register_patient("Ana", "").await;
    let (_, _, code) = tablet(&app).await;
    let right: u32 = code.parse().expect("six digits");
    let limit = visitas::actions::MAX_PAIRING_FAILURES;
    let guesses = (0..limit * 3).map(|i| {
        let app = &app;
        let patient = patient.clone();
        let wrong = format!("{:06}", (right + 1 + i as u32) % 1_000_000);
        async move {
            app.post(&format!("/patients/{patient}/devices"), &[("code", &wrong)])
                .await
                .status()
        }
    });

    let statuses = futures_util::future::join_all(guesses).await;

    let wrong = statuses
        .iter()
        .filter(|s| **s == StatusCode::BAD_REQUEST)
        .count() as i64;
    let throttled = statuses
        .iter()
        .filter(|s| **s == StatusCode::TOO_MANY_REQUESTS)
        .count() as i64;
    assert_eq!(wrong, limit, "{statuses:?}");
    assert_eq!(throttled, limit * 2, "{statuses:?}");
    let (noted,): (i64,) = visitas::sql!(&app.db(), |c| sqlx::query_as(
        "SELECT COUNT(*) FROM pairing_failures"
    )
    .fetch_one(&mut *c)
    .await)
    .expect("a test step");
    assert_eq!(noted, limit);
    assert_eq!(audit_count(&app, "device.pair_refused").await, limit * 3);
}

/// A tablet paired to the room's patient, standing by: its client and socket.
async fn standing_bedside(app: &TestApp, room: &str) -> (Client, SocketClient) {
    let patient = patient_of(app, room).await;
    let (client, _, code) = tablet(app).await;
    let paired = app
        .post(&format!("/patients/{patient}/devices"), &[("code", &code)])
        .await;
    assert_eq!(paired.status(), StatusCode::SEE_OTHER);
    let ticket = app.ticket_with(&client, "/bedside/ticket").await;
    let mut socket = with_ticket(app, &ticket, None).await;
    let ready = socket.call("ready").await.expect("ready answered");
    assert_eq!(ready, json!({ "ok": true }));
    (client, socket)
}

#[tokio::test]
async fn a_bedside_credential_opens_no_staff_page_and_no_other_room() {
    let app = spawn_app().await;
    app.logged_in_nurse().await;
    let patient = app.register_patient("Ana", "").await;
    let room = app.create_room(&patient).await;
    let other_patient = app.register_patient("Luis", "").await;
    let other_room = app.create_room(&other_patient).await;
    let (client, _socket) = standing_bedside(&app, &room).await;

    for path in [
        "/patients".to_string(),
        "/rooms".to_string(),
        "/admin/visits".to_string(),
        "/visit-log".to_string(),
        "/admin/audit".to_string(),
        "/desk".to_string(),
        format!("/rooms/{other_room}/ticket?as=patient"),
        format!("/patients/{other_patient}"),
    ] {
        let response = app.get_with(&client, &path).await;
        assert_eq!(response.status(), StatusCode::FORBIDDEN, "{path}");
    }
    let ticket = app.ticket_with(&client, "/bedside/ticket").await;
    let opened = visitas::auth::ticket::CallTicket::open(
        &ticket,
        &app.server.as_ref().expect("a test step").state.secret,
        chrono::Utc::now().timestamp(),
    )
    .expect("a valid ticket");
    assert_eq!(opened.room_id, room, "only its own bed's room");
    let forget = app
        .post_with(&client, &app.jar, "/bedside/forget", &[])
        .await;
    assert_eq!(
        forget.status(),
        StatusCode::FORBIDDEN,
        "a paired tablet stays one"
    );
}

#[tokio::test]
async fn an_admitted_relative_rings_the_bedside_and_unpairing_cuts_it_within_two_seconds() {
    let app = spawn_app().await;
    app.logged_in_nurse().await;
    let patient = app.register_patient("Ana", "").await;
    let room = app.create_room(&patient).await;
    let (tablet_client, mut standby) = standing_bedside(&app, &room).await;
    let (invite, mut relative) = waiting_relative(&app, &room, "Marta").await;
    join_with_check(&mut relative).await;
    assert!(
        standby.receives_no("incoming", QUIET).await,
        "not before admission"
    );

    app.post(&format!("/waiting/{invite}/admit"), &[]).await;
    relative
        .expect_event("admitted", SOON)
        .await
        .expect("let in");
    let ring = standby.expect_event("incoming", SOON).await.expect("rung");
    assert_eq!(ring, json!({ "answer": "auto", "cameraOff": false }));
    let ticket = app.ticket_with(&tablet_client, "/bedside/ticket").await;
    let mut call = with_ticket(&app, &ticket, None).await;
    let ack = call.join().await;
    assert_eq!(ack["peers"].as_array().map(Vec::len), Some(1));
    relative
        .expect_event("peer-joined", SOON)
        .await
        .expect("the patient is in");

    let device: (String,) = visitas::sql!(&app.db(), |c| sqlx::query_as(
        "SELECT id FROM bedside_devices WHERE paired_at IS NOT NULL"
    )
    .fetch_one(&mut *c)
    .await)
    .expect("a test step");
    let unpaired_at = Instant::now();
    let response = app
        .post(
            &format!("/patients/{patient}/devices/{}/unpair", device.0),
            &[],
        )
        .await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    let ended = call.expect_event("ended", Duration::from_secs(2)).await;
    assert_eq!(ended, Some(json!({ "reason": "unpaired" })));
    assert!(call.connection_ends_within(Duration::from_secs(2)).await);
    assert!(standby.connection_ends_within(Duration::from_secs(2)).await);
    assert!(
        unpaired_at.elapsed() < Duration::from_secs(2),
        "{:?}",
        unpaired_at.elapsed()
    );
    let left = relative
        .expect_event("peer-left", SOON)
        .await
        .expect("told");
    assert_eq!(left["id"], json!(id(&ack)));
    let state: Value = app
        .get_with(&tablet_client, "/bedside/state")
        .await
        .json()
        .await
        .expect("a test step");
    assert_eq!(state["state"], json!("unpaired"));
    assert_eq!(
        app.get_with(&tablet_client, "/bedside/ticket")
            .await
            .status(),
        StatusCode::FORBIDDEN
    );
    assert_eq!(audit_count(&app, "device.unpair").await, 1);
}

#[tokio::test]
async fn a_ward_that_admits_by_itself_lets_relatives_in_when_the_bedside_is_ready() {
    let app = spawn_app().await;
    app.logged_in_nurse().await;
    let patient = app.register_patient("Ana", "").await;
    let room = app.create_room(&patient).await;
    visitas::sql!(&app.db(), |c| sqlx::query(
        "UPDATE wards SET auto_admit = TRUE"
    )
    .execute(&mut *c)
    .await
    .map(|done| done.rows_affected()))
    .expect("a test step");
    let (invite, mut relative) = waiting_relative(&app, &room, "Marta").await;
    let ack = join_with_check(&mut relative).await;
    assert_eq!(ack["waiting"], json!(true), "no bedside yet: they wait");
    assert!(relative.receives_no("admitted", QUIET).await);

    let (_client, mut standby) = standing_bedside(&app, &room).await;

    relative
        .expect_event("admitted", SOON)
        .await
        .expect("admitted by the ward's setting");
    assert_eq!(
        admissions(&app, &invite).await,
        vec![("auto".to_string(), None)]
    );
    standby.expect_event("incoming", SOON).await.expect("rung");
    let details: Vec<(Option<String>,)> = visitas::sql!(&app.db(), |c| sqlx::query_as(
        "SELECT detail FROM audit_events WHERE action = 'visit.admit'"
    )
    .fetch_all(&mut *c)
    .await)
    .expect("a test step");
    assert_eq!(details, vec![(Some("auto".to_string()),)]);
}

#[tokio::test]
async fn discharge_unpairs_the_bedside_and_so_does_a_month_unseen() {
    let app = spawn_app().await;
    app.logged_in_nurse().await;
    let patient = app.register_patient("Ana", "").await;
    let room = app.create_room(&patient).await;
    let other = app.register_patient("Luis", "").await;
    let other_room = app.create_room(&other).await;
    let (_, mut standby) = standing_bedside(&app, &room).await;
    let (_, _other_standby) = standing_bedside(&app, &other_room).await;

    let discharged = app
        .post(&format!("/patients/{patient}/discharge"), &[])
        .await;

    assert_eq!(discharged.status(), StatusCode::SEE_OTHER);
    assert!(standby.connection_ends_within(Duration::from_secs(2)).await);
    let reasons: Vec<(Option<String>,)> = visitas::sql!(&app.db(), |c| sqlx::query_as(
        "SELECT unpair_reason FROM bedside_devices WHERE patient_id = $1"
    )
    .bind(&patient)
    .fetch_all(&mut *c)
    .await)
    .unwrap();
    assert_eq!(reasons, vec![(Some("discharge".to_string()),)]);

    // The other tablet, not seen for 31 days.
    visitas::sql!(&app.db(), |c| sqlx::query(
        "UPDATE bedside_devices SET last_seen_at = last_seen_at - 31 * 86400 WHERE patient_id = $1",
    )
    .bind(&other)
    .execute(&mut *c)
    .await
    .map(|done| done.rows_affected()))
    .unwrap();
    let state = &app.server.as_ref().unwrap().state;
    let unpaired = visitas::actions::unpair_unseen(state, 30).await.unwrap();
    assert_eq!(unpaired, 1);
    let (reason,): (Option<String>,) = visitas::sql!(&app.db(), |c| sqlx::query_as(
        "SELECT unpair_reason FROM bedside_devices WHERE patient_id = $1"
    )
    .bind(&other)
    .fetch_one(&mut *c)
    .await)
    .unwrap();
    assert_eq!(reason.as_deref(), Some("unseen"));
    assert_eq!(audit_count(&app, "device.unpair").await, 2);
}

#[tokio::test]
async fn the_nurse_chooses_how_the_bedside_answers_and_a_made_up_choice_changes_nothing() {
    let app = spawn_app().await;
    app.logged_in_nurse().await;
    let patient = app.register_patient("Ana", "").await;
    let room = app.create_room(&patient).await;
    let (_, mut standby) = standing_bedside(&app, &room).await;

    let bad = app
        .post(
            &format!("/patients/{patient}/bedside"),
            &[("answer", "always"), ("camera_off", "on")],
        )
        .await;
    assert_eq!(bad.status(), StatusCode::BAD_REQUEST);
    let unchanged: (String, bool) = visitas::sql!(&app.db(), |c| sqlx::query_as(
        "SELECT bedside_answer, camera_off_at_start FROM patients WHERE id = $1"
    )
    .bind(&patient)
    .fetch_one(&mut *c)
    .await)
    .unwrap();
    assert_eq!(unchanged, ("auto".to_string(), false));

    let good = app
        .post(
            &format!("/patients/{patient}/bedside"),
            &[("answer", "tap"), ("camera_off", "on")],
        )
        .await;
    assert_eq!(good.status(), StatusCode::SEE_OTHER);
    assert_eq!(audit_count(&app, "patient.bedside_settings").await, 1);
    let (invite, mut relative) = waiting_relative(&app, &room, "Marta").await;
    join_with_check(&mut relative).await;
    app.post(&format!("/waiting/{invite}/admit"), &[]).await;
    let ring = standby.expect_event("incoming", SOON).await.expect("rung");
    assert_eq!(ring, json!({ "answer": "tap", "cameraOff": true }));
}

#[tokio::test]
async fn the_qr_code_opens_a_pairing_page_for_the_nurses_own_patients_only() {
    let app = spawn_app().await;
    app.logged_in_nurse().await;
    let patient = app.register_patient("Ana", "").await;
    let (tablet_client, _, code) = tablet(&app).await;
    let other_ward = app.ward("Pediatría", "00:00-24:00").await;
    let stranger: (String,) = visitas::sql!(&app.db(), |c| sqlx::query_as(
        "INSERT INTO patients (id, display_name, ward_id, bed, created_at, created_by)
         SELECT 'zzzzzzzzzzzzzzzzzzzzzz', 'Luis', $1, '1', 0, id FROM staff LIMIT 1
         RETURNING id",
    )
    .bind(&other_ward)
    .fetch_one(&mut *c)
    .await)
    .unwrap();

    let page = text(app.get(&format!("/pair?code={code}")).await).await;
    assert!(
        page.contains(&format!("value=\"{code}\"")),
        "the code is filled in"
    );
    assert!(page.contains("Ana"));
    assert!(!page.contains("Luis"), "only the nurse's wards");
    let refused = app
        .post("/pair", &[("code", &code), ("patient", &stranger.0)])
        .await;
    assert_eq!(refused.status(), StatusCode::NOT_FOUND);
    let paired = app
        .post("/pair", &[("code", &code), ("patient", &patient)])
        .await;
    assert_eq!(paired.status(), StatusCode::SEE_OTHER);
    let state: Value = app
        .get_with(&tablet_client, "/bedside/state")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(state["state"], json!("paired"));
}

#[tokio::test]
async fn opening_bedside_mode_signs_a_staff_member_out_of_that_browser() {
    let app = spawn_app().await;
    app.logged_in_nurse().await;
    assert_eq!(app.get("/desk").await.status(), StatusCode::OK);

    let page = text(app.get("/bedside").await).await;

    assert!(page.contains("start-device"));
    let desk = app.get("/desk").await;
    assert_eq!(desk.status(), StatusCode::SEE_OTHER, "signed out");
    assert!(helpers::location(&desk).starts_with("/login"));
}

#[tokio::test]
async fn an_admission_into_a_full_call_keeps_the_relative_waiting_until_there_is_room() {
    let app = helpers::spawn_app_with(|c| c.room_capacity = 3).await;
    let (room, _bedside, _) = joined_bedside(&app).await;
    let (first, mut marta) = waiting_relative(&app, &room, "Marta").await;
    join_with_check(&mut marta).await;
    app.post(&format!("/waiting/{first}/admit"), &[]).await;
    marta.expect_event("admitted", SOON).await.expect("let in");
    // A nurse joins from their own device: the call is full.
    let ticket = app
        .ticket_with(&app.client, &format!("/rooms/{room}/ticket?as=staff"))
        .await;
    let cookie = app.cookie_header(&app.jar);
    let mut nurse = with_ticket(&app, &ticket, Some(&cookie)).await;
    nurse.join().await;
    let (second, mut luis) = waiting_relative(&app, &room, "Luis").await;
    join_with_check(&mut luis).await;

    let admitted = app.post(&format!("/waiting/{second}/admit"), &[]).await;

    assert_eq!(admitted.status(), StatusCode::SEE_OTHER);
    assert!(
        luis.receives_no("admitted", QUIET).await,
        "no room: still waiting"
    );
    assert!(
        luis.receives_no("ended", Duration::ZERO).await,
        "not thrown out"
    );
    assert!(text(app.get("/desk/waiting").await).await.contains("Luis"));

    nurse.call("leave").await;
    app.post(&format!("/waiting/{second}/admit"), &[]).await;
    let answer = luis.expect_event("admitted", SOON).await.expect("in now");
    assert_eq!(answer["peers"].as_array().map(Vec::len), Some(2));
}

#[tokio::test]
async fn the_ward_admits_by_itself_only_while_its_setting_is_on() {
    let app = spawn_app().await;
    app.logged_in_nurse().await;
    let patient = app.register_patient("Ana", "").await;
    let room = app.create_room(&patient).await;
    visitas::sql!(&app.db(), |c| sqlx::query(
        "UPDATE wards SET auto_admit = TRUE"
    )
    .execute(&mut *c)
    .await
    .map(|done| done.rows_affected()))
    .unwrap();
    let (invite, mut relative) = waiting_relative(&app, &room, "Marta").await;
    join_with_check(&mut relative).await;
    visitas::sql!(&app.db(), |c| sqlx::query(
        "UPDATE wards SET auto_admit = FALSE"
    )
    .execute(&mut *c)
    .await
    .map(|done| done.rows_affected()))
    .unwrap();

    let (_client, _standby) = standing_bedside(&app, &room).await;

    assert!(relative.receives_no("admitted", QUIET).await);
    assert!(admissions(&app, &invite).await.is_empty());
}

#[tokio::test]
async fn one_address_cannot_hoard_pairing_codes_even_all_at_once() {
    let app = spawn_app().await;
    let limit = visitas::actions::MAX_CODES_PER_ADDRESS;
    let mut tablets = Vec::new();
    for _ in 0..limit + limit / 2 {
        let (client, jar) = new_client();
        app.get_with(&client, "/bedside").await;
        tablets.push((client, jar));
    }

    let statuses = futures_util::future::join_all(tablets.iter().map(|(client, jar)| {
        let app = &app;
        async move {
            app.post_with(client, jar, "/bedside/pairing", &[])
                .await
                .status()
        }
    }))
    .await;

    let given = statuses.iter().filter(|s| **s == StatusCode::OK).count() as i64;
    let refused = statuses
        .iter()
        .filter(|s| **s == StatusCode::TOO_MANY_REQUESTS)
        .count() as i64;
    assert_eq!(given, limit, "{statuses:?}");
    assert_eq!(refused, limit / 2, "{statuses:?}");
    let (pending,): (i64,) = visitas::sql!(&app.db(), |c| sqlx::query_as(
        "SELECT COUNT(*) FROM bedside_devices WHERE pairing_expires_at IS NOT NULL"
    )
    .fetch_one(&mut *c)
    .await)
    .unwrap();
    assert_eq!(pending, limit);
}

#[tokio::test]
async fn an_administrator_sets_the_wards_bedside_settings_on_its_form() {
    let app = spawn_app().await;
    app.create_staff(visitas::domain::Role::Admin, "jefa.ana")
        .await;
    app.login("jefa.ana").await;
    let fields = |auto: bool| {
        let mut fields = vec![
            ("name", "Cardiología"),
            ("default_minutes", "30"),
            ("max_minutes", "60"),
            ("max_video_visits", "4"),
            ("hours_0", "11:00-13:00"),
        ];
        if auto {
            fields.push(("auto_admit", "on"));
            fields.push(("bedside_shows_name", "on"));
        }
        fields
    };
    let created = app.post("/admin/wards", &fields(true)).await;
    assert_eq!(created.status(), StatusCode::SEE_OTHER);
    let ward = helpers::location(&created)
        .trim_start_matches("/admin/wards/")
        .to_string();
    let settings = |app: &TestApp, ward: String| {
        let db = app.db();
        async move {
            let row: (bool, bool) = visitas::sql!(&db, |c| sqlx::query_as(
                "SELECT auto_admit, bedside_shows_name FROM wards WHERE id = $1"
            )
            .bind(ward)
            .fetch_one(&mut *c)
            .await)
            .expect("the ward");
            row
        }
    };
    assert_eq!(settings(&app, ward.clone()).await, (true, true));
    let page = text(app.get(&format!("/admin/wards/{ward}")).await).await;
    assert!(
        page.contains(r#"name="auto_admit" checked"#),
        "the form shows it"
    );

    let updated = app
        .post(&format!("/admin/wards/{ward}"), &fields(false))
        .await;

    assert_eq!(updated.status(), StatusCode::OK, "the ward page, saved");
    assert_eq!(settings(&app, ward).await, (false, false));
}

#[tokio::test]
async fn the_room_page_shows_its_own_waiting_room_and_whether_the_bedside_is_on() {
    let app = spawn_app().await;
    app.logged_in_nurse().await;
    let patient = app.register_patient("Ana", "").await;
    let room = app.create_room(&patient).await;
    let other = app.register_patient("Luis", "").await;
    let other_room = app.create_room(&other).await;
    let (_, mut marta) = waiting_relative(&app, &room, "Marta").await;
    join_with_check(&mut marta).await;
    let page = text(app.get(&format!("/rooms/{room}")).await).await;
    assert!(page.contains(r#"data-bedside-ready="false""#));
    assert!(page.contains(&format!(r#"data-room="{room}""#)));

    let (_client, _standby) = standing_bedside(&app, &room).await;

    let here = text(app.get(&format!("/desk/waiting?room={room}")).await).await;
    let elsewhere = text(app.get(&format!("/desk/waiting?room={other_room}")).await).await;
    assert!(here.contains("Marta"));
    assert!(!elsewhere.contains("Marta"));
    let page = text(app.get(&format!("/rooms/{room}")).await).await;
    assert!(page.contains(r#"data-bedside-ready="true""#));
}
