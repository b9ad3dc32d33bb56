//! A participant is a person, not a socket: a lost connection keeps their place for the rejoin
//! grace, a new socket of theirs takes it back with the same peer id and the same stay, and a
//! server restart does not end anyone's visit. Against a real server and SQLite, on the wire.

mod helpers;

use std::time::Duration;

use helpers::{
    TestApp,
    socket::{SocketClient, id, joined_bedside, relative_ticket, with_ticket},
    spawn_app_with, start_in,
};
use serde_json::{Value, json};

const SOON: Duration = Duration::from_secs(5);

/// A relative in `room`'s call: their socket, their ticket (valid two minutes) and the ack.
async fn relative_in(app: &TestApp, room: &str, name: &str) -> (SocketClient, String, Value) {
    let ticket = relative_ticket(app, room, name).await;
    let mut socket = with_ticket(app, &ticket, None).await;
    let ack = join(&mut socket, "page-one-1234", false).await;
    (socket, ticket, ack)
}

async fn join(socket: &mut SocketClient, session: &str, resume: bool) -> Value {
    socket
        .call_with("join", json!({ "session": session, "resume": resume }))
        .await
        .expect("a join ack")
}

/// (left_at, end_reason, rejoins) of every relative's stay, oldest first.
async fn relative_stays(app: &TestApp) -> Vec<(Option<i64>, Option<String>, i64)> {
    visitas::sql!(&app.db(), |c| sqlx::query_as(
        "SELECT left_at, end_reason, rejoins FROM visit_log WHERE role = 'relative' ORDER BY id",
    )
    .fetch_all(&mut *c)
    .await)
    .expect("the visit log")
}

#[tokio::test]
async fn a_lost_connection_keeps_the_place_and_the_stay_for_the_grace() {
    let app = spawn_app_with(|c| c.rejoin_grace_secs = 30).await;
    let (room, mut patient, patient_id) = joined_bedside(&app).await;
    let (lost, ticket, ack) = relative_in(&app, &room, "Lola").await;
    let lola = id(&ack);
    assert!(patient.expect_event("peer-joined", SOON).await.is_some());

    // The network goes: the socket's connection breaks without a goodbye.
    drop(lost);
    let away = patient.expect_event("peer-away", SOON).await;
    assert_eq!(away, Some(json!({ "id": lola })));
    assert!(
        patient
            .receives_no("peer-left", Duration::from_secs(1))
            .await,
        "not gone: reconnecting"
    );
    let presence: Value = app.get("/rooms/presence").await.json().await.unwrap();
    assert!(
        presence[&room].as_str().unwrap().contains("Lola"),
        "{presence}"
    );

    // The page reconnects with a fresh socket and takes its place back.
    let mut back = with_ticket(&app, &ticket, None).await;
    let again = join(&mut back, "page-one-1234", true).await;
    assert_eq!(id(&again), lola, "the same peer id: {again}");
    assert_eq!(again["rejoined"], true);
    assert_eq!(again["peers"][0]["id"], patient_id);
    let told = patient.expect_event("peer-back", SOON).await.expect("told");
    assert_eq!(told["id"], lola);
    assert_eq!(
        told["session"], "page-one-1234",
        "the same page: keep the connection"
    );

    // Signals reach the new socket, from the same peer id.
    let hello = json!({ "candidate": null });
    patient
        .emit("signal", json!({ "to": lola, "data": hello }))
        .await;
    let relayed = back.expect_event("signal", SOON).await.expect("relayed");
    assert_eq!(relayed, json!({ "from": patient_id, "data": hello }));

    assert_eq!(
        relative_stays(&app).await,
        vec![(None, None, 1)],
        "one open stay with one rejoin"
    );
    assert_eq!(app.count("visit_log").await, 2, "no new stay");
}

#[tokio::test]
async fn after_the_grace_the_person_has_left_and_may_join_afresh() {
    let app = spawn_app_with(|c| c.rejoin_grace_secs = 1).await;
    let (room, mut patient, _) = joined_bedside(&app).await;
    let (lost, ticket, ack) = relative_in(&app, &room, "Lola").await;
    let lola = id(&ack);
    assert!(patient.expect_event("peer-joined", SOON).await.is_some());
    drop(lost);

    assert!(patient.expect_event("peer-away", SOON).await.is_some());
    let left = patient.expect_event("peer-left", SOON).await;
    assert_eq!(
        left,
        Some(json!({ "id": lola, "reason": "connection-lost" }))
    );
    let stays = relative_stays(&app).await;
    assert_eq!(stays.len(), 1);
    assert_eq!(stays[0].1.as_deref(), Some("connection-lost"));

    // The page comes back too late: told so, and not let in by that reconnection.
    let mut late = with_ticket(&app, &ticket, None).await;
    let refused = join(&mut late, "page-one-1234", true).await;
    assert_eq!(refused, json!({ "error": "connection-lost" }));
    assert!(late.is_closed_within(SOON).await);
    assert!(
        patient
            .receives_no("peer-joined", Duration::from_millis(300))
            .await
    );

    // The person's "rejoin" button: a fresh join, a new stay, the same peer id.
    let mut fresh = with_ticket(&app, &ticket, None).await;
    let joined = join(&mut fresh, "page-one-1234", false).await;
    assert_eq!(id(&joined), lola, "{joined}");
    assert!(patient.expect_event("peer-joined", SOON).await.is_some());
    let stays = relative_stays(&app).await;
    assert_eq!(stays.len(), 2, "{stays:?}");
    assert_eq!(stays[1], (None, None, 0));
}

#[tokio::test]
async fn a_server_restart_does_not_end_the_visit() {
    let app = spawn_app_with(|c| c.rejoin_grace_secs = 30).await;
    let (room, mut patient, patient_id) = joined_bedside(&app).await;
    let patient_ticket = app
        .ticket_with(&app.client, &format!("/rooms/{room}/ticket?as=patient"))
        .await;
    let cookie = app.cookie_header(&app.jar);
    let (mut relative, relative_ticket, ack) = relative_in(&app, &room, "Lola").await;
    let lola = id(&ack);

    let (dir, config) = app.stop().await;
    assert_eq!(
        patient.expect_event("ended", SOON).await,
        None,
        "closed, not ended: the page reconnects"
    );
    assert_eq!(relative.expect_event("ended", SOON).await, None);
    let app = start_in(dir, config).await;

    let mut patient = with_ticket(&app, &patient_ticket, Some(&cookie)).await;
    let ack = join(&mut patient, "bedside-page-1", true).await;
    assert_eq!(id(&ack), patient_id, "{ack}");
    let mut relative = with_ticket(&app, &relative_ticket, None).await;
    let ack = join(&mut relative, "page-one-1234", true).await;
    assert_eq!(id(&ack), lola, "{ack}");
    assert_eq!(ack["peers"][0]["id"], patient_id);
    let joined = patient
        .expect_event("peer-joined", SOON)
        .await
        .expect("told");
    assert_eq!(joined["id"], lola);

    let stays: Vec<(String, Option<i64>, i64)> = visitas::sql!(&app.db(), |c| sqlx::query_as(
        "SELECT role, left_at, rejoins FROM visit_log ORDER BY id"
    )
    .fetch_all(&mut *c)
    .await)
    .unwrap();
    assert_eq!(
        stays,
        vec![("patient".into(), None, 1), ("relative".into(), None, 1)],
        "the same two stays, taken back"
    );
}
