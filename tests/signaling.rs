//! The signaling server against a real Socket.IO client speaking the wire protocol.

mod helpers;

use std::time::Duration;

use helpers::{
    TestApp, new_client,
    socket::{
        Handshake, SocketClient, bedside, connect, connect_sending, id, joined_bedside,
        joined_relative, relative, room_with_bedside, with_ticket,
    },
    spawn_app, spawn_app_with,
};
use serde_json::{Value, json};

/// role, display name, staff id, invite id, joined, left, end reason
type VisitLogRow = (
    String,
    String,
    Option<String>,
    Option<String>,
    i64,
    Option<i64>,
    Option<String>,
);

const QUIET: Duration = Duration::from_millis(600);
const SOON: Duration = Duration::from_secs(5);

#[tokio::test]
async fn a_foreign_origin_is_refused_even_with_a_valid_cookie_and_ticket() {
    let app = spawn_app().await;
    app.logged_in_nurse().await;
    let (_, ticket, cookie) = room_with_bedside(&app).await;

    let foreign = connect(
        &app,
        Some("https://evil.example"),
        Some(&cookie),
        json!({ "ticket": ticket }),
    )
    .await;
    let missing = connect(&app, None, Some(&cookie), json!({ "ticket": ticket })).await;

    assert!(
        matches!(foreign, Handshake::HttpRefused(403)),
        "{foreign:?}"
    );
    assert!(
        matches!(missing, Handshake::HttpRefused(403)),
        "{missing:?}"
    );
    bedside(&app, &ticket, &cookie).await;
}

#[tokio::test]
async fn no_ticket_a_forged_ticket_or_a_staff_ticket_without_its_session_is_refused() {
    let app = spawn_app().await;
    app.logged_in_nurse().await;
    let (_, ticket, cookie) = room_with_bedside(&app).await;
    let origin = app.ws_origin();

    let nothing = connect(&app, Some(&origin), None, json!({})).await;
    let forged = connect(
        &app,
        Some(&origin),
        Some(&cookie),
        json!({ "ticket": format!("{ticket}x") }),
    )
    .await;
    let without_session = connect(&app, Some(&origin), None, json!({ "ticket": ticket })).await;

    for refused in [nothing, forged, without_session] {
        assert!(
            matches!(&refused, Handshake::Refused(message) if message == "unauthorized"),
            "{refused:?}"
        );
    }
}

#[tokio::test]
async fn a_participant_in_room_a_cannot_reach_room_b_whatever_it_sends() {
    let app = spawn_app().await;
    app.logged_in_nurse().await;
    let (room_a, ticket_a, cookie) = room_with_bedside(&app).await;
    let patient_b = app.register_patient("Berta", "").await;
    let room_b = app.create_room(&patient_b).await;
    let mut in_a = bedside(&app, &ticket_a, &cookie).await;
    let a_id = id(&in_a.join().await);
    let (mut in_b, _) = joined_relative(&app, &room_b, "Bruno").await;

    let candidate = json!({ "candidate": { "candidate": "x", "sdpMid": "0" } });
    in_b.emit("signal", json!({ "to": a_id, "data": candidate }))
        .await;
    in_b.emit(
        "signal",
        json!({ "to": a_id, "room": room_a, "data": candidate }),
    )
    .await;
    in_b.emit("join", json!({ "room": room_a })).await;
    in_b.emit("peer-joined", json!({ "id": "x" })).await;

    assert!(
        in_a.receives_no("signal", QUIET).await,
        "nothing from room B reaches room A"
    );
    assert!(
        in_a.receives_no("peer-joined", Duration::from_millis(100))
            .await
    );
    let mut also_a = relative(&app, &room_a, "Alicia").await;
    let also_ack = also_a.join().await;
    assert_eq!(
        also_ack["peers"].as_array().unwrap().len(),
        1,
        "room A holds only its own"
    );
}

#[tokio::test]
async fn a_relayed_message_reaches_only_the_named_peer() {
    let app = spawn_app().await;
    let (room, mut patient, patient_id) = joined_bedside(&app).await;
    let mut first = relative(&app, &room, "Carla").await;
    let first_ack = first.join().await;
    let first_id = id(&first_ack);
    assert_eq!(first_ack["peers"][0]["role"], "patient");
    let (mut second, _) = joined_relative(&app, &room, "Diego").await;
    assert!(patient.expect_event("peer-joined", SOON).await.is_some());

    let offer = json!({ "description": { "type": "offer", "sdp": "v=0" } });
    patient
        .emit("signal", json!({ "to": first_id, "data": offer }))
        .await;

    let relayed = first
        .expect_event("signal", SOON)
        .await
        .expect("the named peer gets it");
    assert_eq!(relayed["from"], patient_id);
    assert_eq!(relayed["data"], offer);
    assert!(
        second.receives_no("signal", QUIET).await,
        "the other peer gets nothing"
    );
}

#[tokio::test]
async fn the_room_capacity_is_enforced() {
    let app = spawn_app_with(|c| c.room_capacity = 2).await;
    let (room, _bedside, _) = joined_bedside(&app).await;
    let (_first, _) = joined_relative(&app, &room, "Elena").await;
    // A nurse joining as staff would be the third.
    let ticket = app
        .ticket_with(&app.client, &format!("/rooms/{room}/ticket?as=staff"))
        .await;
    let cookie = app.cookie_header(&app.jar);
    let mut third = with_ticket(&app, &ticket, Some(&cookie)).await;

    let refused = third.call("join").await.expect("an answer");

    assert_eq!(refused["error"], "room-full");
    assert!(third.is_closed_within(SOON).await);
    let rows: i64 = app.scalar("SELECT COUNT(*) FROM visit_log").await;
    assert_eq!(rows, 2, "the refused participant is not in the visit log");
}

#[tokio::test]
async fn an_oversized_payload_closes_only_its_sender() {
    let app = spawn_app().await;
    let (room, mut patient, _) = joined_bedside(&app).await;
    let (mut good, good_id) = joined_relative(&app, &room, "Gema").await;
    let (mut flooder, flooder_id) = joined_relative(&app, &room, "Hugo").await;

    let huge = "x".repeat(200 * 1024);
    flooder
        .emit(
            "signal",
            json!({ "to": good_id, "data": { "candidate": huge } }),
        )
        .await;
    flooder.send_raw("42[\"signal\", {not json".into()).await;

    assert!(
        flooder.is_closed_within(SOON).await,
        "the sender is disconnected"
    );
    let left = patient
        .expect_event("peer-left", SOON)
        .await
        .expect("the others hear it left");
    assert_eq!(left["id"], flooder_id);
    assert!(
        good.receives_no("signal", Duration::from_millis(200)).await,
        "the oversized signal went nowhere"
    );
    let hello = json!({ "candidate": { "candidate": "ok", "sdpMid": "0" } });
    patient
        .emit("signal", json!({ "to": good_id, "data": hello }))
        .await;
    assert_eq!(
        good.expect_event("signal", SOON)
            .await
            .expect("relay still works")["data"],
        hello
    );
}

#[tokio::test]
async fn malformed_and_unknown_events_are_dropped_without_harm() {
    let app = spawn_app().await;
    let (room, mut patient, _) = joined_bedside(&app).await;
    let (mut other, other_id) = joined_relative(&app, &room, "Inés").await;

    for junk in [
        json!({ "to": 42 }),
        json!({ "to": other_id, "data": "not an object" }),
        json!({ "to": other_id, "data": { "description": {}, "candidate": {} } }),
        json!({ "to": "not-a-sid", "data": { "candidate": {} } }),
        json!(null),
    ] {
        patient.emit("signal", junk).await;
    }
    patient.emit("delete-everything", json!({})).await;

    assert!(other.receives_no("signal", QUIET).await);
    let fine = json!({ "candidate": null });
    patient
        .emit("signal", json!({ "to": other_id, "data": fine }))
        .await;
    assert_eq!(
        other
            .expect_event("signal", SOON)
            .await
            .expect("still relaying")["data"],
        fine
    );

    // Garbage below the event level is a protocol error: that one connection is closed.
    patient.send_raw("42[]".into()).await;
    assert!(patient.is_closed_within(SOON).await);
    assert!(other.expect_event("peer-left", SOON).await.is_some());
    assert!(!other.closed);
}

#[tokio::test]
async fn joins_and_leaves_are_written_to_the_visit_log() {
    let app = spawn_app().await;
    let (room, mut patient, _) = joined_bedside(&app).await;
    let (mut visitor, _) = joined_relative(&app, &room, "Julia").await;
    let presence: Value = app.get("/rooms/presence").await.json().await.unwrap();
    assert!(
        presence[&room].as_str().unwrap().contains("Julia"),
        "{presence}"
    );

    visitor.emit("leave", Value::Null).await;
    assert!(patient.expect_event("peer-left", SOON).await.is_some());
    drop(patient);

    let deadline = tokio::time::Instant::now() + SOON;
    loop {
        let rows: Vec<VisitLogRow> = visitas::sql!(&app.db(), |c| sqlx::query_as(
            "SELECT role, display_name, staff_id, invite_id, joined_at, left_at, end_reason FROM visit_log ORDER BY id",
        )
        .fetch_all(&mut *c).await)
        .unwrap();
        if rows.iter().all(|r| r.5.is_some()) {
            assert_eq!(rows.len(), 2);
            assert_eq!((rows[0].0.as_str(), rows[0].1.as_str()), ("patient", "Ana"));
            assert!(
                rows[0].2.is_some(),
                "the nurse who opened the bedside is recorded"
            );
            assert_eq!(
                (rows[1].0.as_str(), rows[1].1.as_str()),
                ("relative", "Julia")
            );
            assert!(rows[1].3.is_some(), "the invite used is recorded");
            assert_eq!(rows[1].6.as_deref(), Some("hangup"));
            assert_eq!(rows[0].6.as_deref(), Some("connection-lost"));
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "both stays closed: {rows:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let (client, _) = new_client();
    assert_eq!(
        app.get_with(&client, "/rooms/presence").await.status(),
        reqwest::StatusCode::SEE_OTHER
    );
}

#[tokio::test]
async fn a_second_socket_of_the_same_person_takes_their_place_instead_of_filling_the_room() {
    let app = spawn_app_with(|c| c.room_capacity = 2).await;
    let (room, mut patient, _) = joined_bedside(&app).await;
    let card = app.create_invite(&room, "Kiko").await;
    let (device, _) = app.admitted_relative(&card).await;
    let relative_ticket = app.ticket_with(&device, "/visit/ticket").await;
    let mut before = connect(
        &app,
        Some(&app.ws_origin()),
        None,
        json!({ "ticket": relative_ticket }),
    )
    .await
    .expect_connected();
    let old_id = id(&before.join().await);
    assert!(patient.expect_event("peer-joined", SOON).await.is_some());

    // The same relative again (another window, or a reconnection the old socket has not noticed).
    let mut after = connect(
        &app,
        Some(&app.ws_origin()),
        None,
        json!({ "ticket": relative_ticket }),
    )
    .await
    .expect_connected();
    let ack = after.join().await;

    let peers = ack["peers"].as_array().unwrap();
    assert_eq!(
        peers.len(),
        1,
        "only the patient, no ghost of the old socket: {ack}"
    );
    assert_eq!(id(&ack), old_id, "the same peer id");
    assert_eq!(ack["rejoined"], true);
    let back = patient
        .expect_event("peer-back", SOON)
        .await
        .expect("the patient hears they are back");
    assert_eq!(back["id"], old_id);
    assert!(patient.receives_no("peer-left", QUIET).await);
    assert_eq!(
        before.expect_event("ended", SOON).await,
        Some(json!({ "reason": "replaced" }))
    );
    assert!(before.is_closed_within(SOON).await);
    let stays: Vec<(Option<i64>, i64)> = visitas::sql!(&app.db(), |c| sqlx::query_as(
        "SELECT left_at, rejoins FROM visit_log WHERE role = 'relative'"
    )
    .fetch_all(&mut *c)
    .await)
    .unwrap();
    assert_eq!(stays, vec![(None, 1)], "one open stay with one rejoin");
}

#[tokio::test]
async fn a_socket_that_has_not_joined_cannot_signal_or_name_a_room() {
    let app = spawn_app().await;
    let (room_a, mut in_a, a_id) = joined_bedside(&app).await;
    let patient_b = app.register_patient("Bea", "").await;
    let room_b = app.create_room(&patient_b).await;
    let mut from_b = relative(&app, &room_b, "Bruno").await;

    from_b
        .emit(
            "signal",
            json!({ "to": a_id, "data": { "candidate": null } }),
        )
        .await;
    from_b.emit("join", json!({ "room": room_a })).await;

    assert!(
        in_a.receives_no("peer-joined", QUIET).await,
        "the join went to room B, not A"
    );
    assert!(in_a.receives_no("signal", Duration::from_millis(100)).await);
    let presence: Value = app.get("/rooms/presence").await.json().await.unwrap();
    assert!(
        presence[&room_b]
            .as_str()
            .unwrap_or_default()
            .contains("Bruno"),
        "{presence}"
    );
    assert!(
        !presence[&room_a]
            .as_str()
            .unwrap_or_default()
            .contains("Bruno"),
        "{presence}"
    );
}

#[tokio::test]
async fn a_flooding_socket_is_throttled_and_then_disconnected() {
    let app = spawn_app().await;
    let (room, mut patient, patient_id) = joined_bedside(&app).await;
    let (mut flooder, _) = joined_relative(&app, &room, "Lola").await;

    for i in 0..400 {
        flooder
            .emit(
                "signal",
                json!({ "to": patient_id, "data": { "candidate": { "candidate": format!("candidate:{i}") } } }),
            )
            .await;
    }

    let mut relayed = 0;
    while patient.expect_event("signal", QUIET).await.is_some() {
        relayed += 1;
    }
    let burst = app.config.signal_burst as usize;
    assert!(
        relayed >= burst / 2 && relayed < burst + 50,
        "{relayed} of 400 relayed"
    );
    assert!(
        flooder.is_closed_within(SOON).await,
        "a socket that keeps flooding is cut off"
    );
    assert!(!patient.closed, "the others stay connected");
}

// ------------------------------------------------------------------ ordering and early events

/// Signals in one burst in the ordering tests: an offer, numbered candidates, the end marker.
const SIGNALS: usize = 500;
/// Times each ordering test repeats: a race that shows up in some runs must show up here.
const RUNS: usize = 20;

/// A server whose per-socket rate limit lets a burst of [`SIGNALS`] through (the limit itself has
/// its own test above).
async fn spawn_roomy_app() -> TestApp {
    spawn_app_with(|c| c.signal_burst = 2 * SIGNALS as u32).await
}

/// The `data` of the `n`th signal of a trickle-ICE burst: the offer first, then candidates, then
/// the `null` that ends them.
fn nth_signal(n: usize) -> Value {
    match n {
        0 => {
            json!({ "description": { "type": "offer", "sdp": "v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\n" } })
        }
        n if n == SIGNALS - 1 => json!({ "candidate": null }),
        n => json!({ "candidate": {
            "candidate": format!("candidate:{n} 1 udp 2122260223 192.0.2.1 {} typ host", 40000 + n),
            "sdpMid": "0",
            "sdpMLineIndex": 0,
            "usernameFragment": "abcd",
        } }),
    }
}

/// Which signal of [`nth_signal`] some received `data` is.
fn signal_number(data: &Value) -> Option<usize> {
    if data.get("description").is_some() {
        return Some(0);
    }
    match &data["candidate"] {
        Value::Null => Some(SIGNALS - 1),
        candidate => candidate["candidate"]
            .as_str()?
            .strip_prefix("candidate:")?
            .split(' ')
            .next()?
            .parse()
            .ok(),
    }
}

/// A bedside and a relative, both joined; returns them with their socket ids.
async fn joined_pair(app: &TestApp) -> (SocketClient, String, SocketClient, String) {
    let (room, ticket, cookie) = room_with_bedside(app).await;
    let mut patient = bedside(app, &ticket, &cookie).await;
    let patient_id = id(&patient.join().await);
    let mut sender = relative(app, &room, "Rocío").await;
    let sender_id = id(&sender.join().await);
    patient
        .expect_event("peer-joined", SOON)
        .await
        .expect("the bedside sees the relative join");
    (patient, patient_id, sender, sender_id)
}

/// Writes the whole burst back to back, then `leave` if asked, and returns what the peer got, in
/// the order it got it: signal numbers, and `None` for a `peer-left`.
async fn burst_and_collect(
    sender: &mut SocketClient,
    to: &str,
    receiver: &mut SocketClient,
    then_leave: bool,
) -> Vec<Option<usize>> {
    let mut events: Vec<(&str, Value)> = (0..SIGNALS)
        .map(|n| ("signal", json!({ "to": to, "data": nth_signal(n) })))
        .collect();
    if then_leave {
        events.push(("leave", Value::Null));
    }
    sender.emit_all(events).await;
    let expected = SIGNALS + usize::from(then_leave);
    let mut received = Vec::new();
    while received.len() < expected {
        let Some((name, data)) = receiver.next_event(SOON).await else {
            break;
        };
        match name.as_str() {
            "signal" => received.push(signal_number(&data["data"])),
            "peer-left" => received.push(None),
            _ => {}
        }
    }
    received
}

fn in_order(then_leave: bool) -> Vec<Option<usize>> {
    let mut expected: Vec<Option<usize>> = (0..SIGNALS).map(Some).collect();
    if then_leave {
        expected.push(None);
    }
    expected
}

/// Where two sequences first differ, for a readable failure.
fn first_difference(got: &[Option<usize>], want: &[Option<usize>]) -> String {
    let at = got
        .iter()
        .zip(want)
        .position(|(g, w)| g != w)
        .unwrap_or(got.len().min(want.len()));
    format!(
        "{} of {} received; first difference at {at}: got {:?}, expected {:?}",
        got.len(),
        want.len(),
        got.get(at),
        want.get(at)
    )
}

/// Runs the burst `runs` times on fresh pairs; one line per run that was not in order.
async fn runs_out_of_order(app: &TestApp, runs: usize, then_leave: bool) -> Vec<String> {
    let mut failures = Vec::new();
    for run in 0..runs {
        let (mut patient, patient_id, mut sender, _) = joined_pair(app).await;
        let received = burst_and_collect(&mut sender, &patient_id, &mut patient, then_leave).await;
        let expected = in_order(then_leave);
        if received != expected {
            failures.push(format!(
                "run {run}: {}",
                first_difference(&received, &expected)
            ));
        }
    }
    failures
}

/// On a fresh server: every run of the burst arrives in order.
async fn assert_every_run_in_order(then_leave: bool) {
    let app = spawn_roomy_app().await;
    app.logged_in_nurse().await;
    let failures = runs_out_of_order(&app, RUNS, then_leave).await;
    assert!(failures.is_empty(), "{failures:#?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn every_signal_written_back_to_back_reaches_the_peer_in_the_order_sent() {
    assert_every_run_in_order(false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_leave_right_after_the_last_signal_arrives_after_every_signal() {
    assert_every_run_in_order(true).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn signals_stay_in_order_while_the_server_cpu_is_busy() {
    let app = spawn_roomy_app().await;
    app.logged_in_nurse().await;
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let spinners: Vec<_> = (0..std::thread::available_parallelism().map_or(2, |n| n.get()))
        .map(|_| {
            let stop = stop.clone();
            std::thread::spawn(move || {
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    std::hint::spin_loop();
                }
            })
        })
        .collect();

    let failures = runs_out_of_order(&app, RUNS / 2, true).await;
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    for spinner in spinners {
        spinner.join().expect("a spinner thread");
    }

    assert!(failures.is_empty(), "{failures:#?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_join_written_with_the_connect_packet_is_always_acknowledged() {
    let app = spawn_app().await;
    let (_, room) = app.nurse_with_room("Ana").await;
    let card = app.create_invite(&room, "Marta").await;
    let (device, _) = app.admitted_relative(&card).await;

    let mut unanswered = Vec::new();
    let mut ticket = String::new();
    for attempt in 0..200 {
        if attempt % 50 == 0 {
            // Tickets live two minutes: a fresh one now and then, as the call page does.
            ticket = app.ticket_with(&device, "/visit/ticket").await;
        }
        let handshake = connect_sending(
            &app,
            Some(&app.ws_origin()),
            None,
            json!({ "ticket": ticket }),
            &[format!("421{}", json!(["join"]))],
        )
        .await;
        let Handshake::Connected(mut client) = handshake else {
            unanswered.push(format!("{attempt}: {handshake:?}"));
            continue;
        };
        match client.ack(1).await {
            Some(ack) if ack.get("id").is_some() => {}
            other => unanswered.push(format!("{attempt}: {other:?}")),
        }
    }

    assert!(
        unanswered.is_empty(),
        "{} of 200 joins unanswered: {unanswered:?}",
        unanswered.len()
    );
}

#[tokio::test]
async fn a_second_join_is_answered_with_an_error() {
    let app = spawn_app().await;
    let (_, mut patient, _) = joined_bedside(&app).await;

    let second = patient.call("join").await;

    assert_eq!(second, Some(json!({ "error": "already-joined" })));
    assert!(
        !patient.is_closed_within(QUIET).await,
        "the socket stays in the call"
    );
}

#[tokio::test]
async fn a_removed_participant_s_connection_is_closed_not_only_its_session() {
    let app = spawn_app().await;
    let (room, mut patient, _) = joined_bedside(&app).await;
    let (mut relative, _) = joined_relative(&app, &room, "Rita").await;
    let invite: String = app
        .scalar("SELECT id FROM invites WHERE relative_name = 'Rita'")
        .await;

    let revoked = app
        .post(&format!("/rooms/{room}/invites/{invite}/revoke"), &[])
        .await;

    assert!(revoked.status().is_redirection(), "{}", revoked.status());
    let ended = relative
        .expect_event("ended", SOON)
        .await
        .expect("told why");
    assert_eq!(ended["reason"], "revoked");
    assert!(
        relative
            .connection_ends_within(Duration::from_secs(3))
            .await,
        "the WebSocket itself is closed"
    );
    assert!(
        !patient.connection_ends_within(QUIET).await,
        "the others keep theirs"
    );
}
