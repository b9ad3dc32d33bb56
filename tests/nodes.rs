//! Several nodes on one PostgreSQL database: any node serves any request (sessions and the
//! state are in the database), and each node's changes reach the others' caches and desks
//! (LISTEN/NOTIFY). The PostgreSQL leg's server, or a throwaway one started here.

mod helpers;

use std::time::{Duration, Instant};

use helpers::{PASSWORD, TestApp, location, new_client, postgres, spawn_app_with};
use reqwest::StatusCode;
use serde_json::Value;
use visitas::domain::Role;

/// Two nodes on one new database of `server`, sharing the certificate and the secret key.
async fn two_nodes(server: &postgres::Server, name: &str) -> (TestApp, TestApp, tempfile::TempDir) {
    let url = server.database(name).await;
    let shared = tempfile::tempdir().expect("a directory");
    let files = postgres::NodeFiles::beside(&shared.path().join("data"));
    let a = in_process_node(&url, &files).await;
    let b = in_process_node(&url, &files).await;
    (a, b, shared)
}

/// A node in this process on the database `url`, with the files the nodes share.
async fn in_process_node(url: &str, files: &postgres::NodeFiles) -> TestApp {
    spawn_app_with(|c| {
        c.database = Some(url.to_string());
        c.tls_cert = Some(files.tls_cert.clone());
        c.tls_key = Some(files.tls_key.clone());
        c.secret_file = Some(files.secret_file.clone());
    })
    .await
}

#[tokio::test]
async fn a_session_made_on_one_node_works_on_the_other_and_a_logout_ends_it_on_both() {
    let server = postgres::Server::get();
    let (a, b, _shared) = two_nodes(&server, &format!("nodes_s_{}", std::process::id())).await;
    a.logged_in_nurse().await;

    // The same browser (its cookies), on the other node.
    assert_eq!(
        b.get_with(&a.client, "/rooms").await.status(),
        StatusCode::OK
    );

    let out = a.post("/logout", &[]).await;
    assert_eq!(out.status(), StatusCode::SEE_OTHER);
    let after = b.get_with(&a.client, "/rooms").await;
    assert_eq!(after.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&after), "/login");
}

#[tokio::test]
async fn a_nurse_deactivated_on_one_node_loses_access_on_the_other_at_once() {
    let server = postgres::Server::get();
    let (a, b, _shared) = two_nodes(&server, &format!("nodes_d_{}", std::process::id())).await;
    a.create_staff(Role::Admin, "admin.root").await;
    a.login("admin.root").await;
    let nurse_id = a.create_staff(Role::Nurse, "nurse.bea").await;
    let (nurse, nurse_jar) = new_client();
    b.login_with(&nurse, &nurse_jar, "nurse.bea", PASSWORD)
        .await;
    // Node B now holds the account in its cache.
    assert_eq!(b.get_with(&nurse, "/rooms").await.status(), StatusCode::OK);

    let deactivated = a
        .post(&format!("/admin/staff/{nurse_id}/deactivate"), &[])
        .await;
    assert_eq!(deactivated.status(), StatusCode::SEE_OTHER);

    // The other node's cache was cleared by the notification: within a fraction of a second.
    let started = Instant::now();
    loop {
        let after = b.get_with(&nurse, "/rooms").await;
        if after.status() == StatusCode::SEE_OTHER {
            assert_eq!(location(&after), "/login");
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(2),
            "node B still lets the deactivated nurse in"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    println!(
        "deactivation reached the other node in {:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn a_desk_on_one_node_hears_of_a_change_made_on_the_other() {
    let server = postgres::Server::get();
    let (a, b, _shared) = two_nodes(&server, &format!("nodes_k_{}", std::process::id())).await;
    a.logged_in_nurse().await;
    let version: Value = b
        .get_with(&a.client, "/desk/version")
        .await
        .json()
        .await
        .expect("the desk's version");
    let seen = version["version"].as_u64().expect("a number");
    let (client, url) = (
        a.client.clone(),
        b.url(&format!("/desk/version?after={seen}")),
    );
    let poll = tokio::spawn(async move {
        let response = client.get(url).send().await.expect("the long poll");
        (
            Instant::now(),
            response.json::<Value>().await.expect("json"),
        )
    });
    tokio::time::sleep(Duration::from_millis(300)).await;

    let started = Instant::now();
    let patient = a.register_patient("Carmen Ruiz", "").await;
    assert!(!patient.is_empty());
    let (answered, body) = poll.await.expect("the long poll ends");

    assert!(body["version"].as_u64().expect("a number") > seen);
    let took = answered.saturating_duration_since(started);
    assert!(
        took < Duration::from_secs(1),
        "node B's desk heard in {took:?}"
    );
    // And its pages show it.
    let rooms = b.get_with(&a.client, "/patients?q=Carmen").await;
    assert!(helpers::text(rooms).await.contains("Carmen Ruiz"));
}

/// A node in a process of its own (to be killed) on the database `url`, with the shared files;
/// its data directory.
async fn node_process(
    url: &str,
    files: &postgres::NodeFiles,
) -> (helpers::process::ServerProcess, tempfile::TempDir) {
    let data = tempfile::tempdir().expect("the node's directory");
    let flags = node_process_flags(url, files);
    let flags: Vec<&str> = flags.iter().map(String::as_str).collect();
    let node = helpers::process::ServerProcess::start("", data.path(), &flags).await;
    (node, data)
}

fn node_process_flags(url: &str, files: &postgres::NodeFiles) -> Vec<String> {
    let mut flags = vec!["--database".to_string(), url.to_string()];
    flags.extend(files.flags());
    flags
}

/// `GET /rooms/presence` on the server at `base`, as the nurse: the line of `room`.
async fn presence_at(app: &TestApp, base: &str, room: &str) -> String {
    let response = app
        .client
        .get(format!("{base}/rooms/presence"))
        .header(reqwest::header::ACCEPT_LANGUAGE, "en")
        .send()
        .await
        .expect("GET /rooms/presence");
    assert_eq!(response.status(), StatusCode::OK);
    let lines: Value = response.json().await.expect("JSON");
    lines[room].as_str().unwrap_or_default().to_string()
}

/// Waits until the presence of `room` on the node at `base` lists the bedside and the relative,
/// both connected.
async fn both_present(app: &TestApp, base: &str, room: &str, within: Duration, node: &str) {
    let started = Instant::now();
    loop {
        let line = presence_at(app, base, room).await;
        if line.contains("Rosa Díaz (")
            && line.contains("Marta (")
            && line.matches(" (").count() == 2
            && !line.to_lowercase().contains("reconnect")
        {
            return;
        }
        assert!(
            started.elapsed() < within,
            "node {node}'s desk does not list both, connected: {line:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The stays of the visit log: (role, rejoins, end reason) in order.
async fn stays(app: &TestApp) -> Vec<(String, i64, Option<String>)> {
    visitas::sql!(&app.db(), |c| sqlx::query_as(
        "SELECT role, rejoins, end_reason FROM visit_log ORDER BY id"
    )
    .fetch_all(&mut *c)
    .await)
    .expect("the visit log")
}

/// A paired bedside behind HAProxy lands on node A (its own process), the relative on node B;
/// frames flow both ways through a call whose signaling spans the nodes, and both desks list
/// both. Node A is killed (`SIGKILL`): the bedside's page reconnects through HAProxy to node B by
/// itself, the call goes on, the visit log keeps one stay each (the bedside's with a rejoin) and
/// no ghost is left. A revocation posted to a node started again ends the relative on node B
/// within 2 s.
#[tokio::test]
async fn a_call_spans_two_nodes_and_goes_on_when_one_dies() {
    use helpers::{
        browser::{Browser, CONNECT},
        haproxy::Haproxy,
        journeys::{
            assert_receiving, bedside_pairing_code, frames, frames_grow, log_in, pair_from_desk,
            relative_joins_at,
        },
        process::ServerProcess,
    };
    helpers::browser::ensure_chromium();
    let server = postgres::Server::get();
    let url = server
        .database(&format!("nodes_call_{}", std::process::id()))
        .await;
    let shared = tempfile::tempdir().expect("a directory");
    let files = postgres::NodeFiles::beside(&shared.path().join("data"));
    let b = in_process_node(&url, &files).await;
    let (a, a_data) = node_process(&url, &files).await;
    let proxy = Haproxy::start(a.port, b.addr.port());

    // The ward, the patient and a relative, on node B.
    let nurse = b.create_staff(Role::Nurse, "nurse.ana").await;
    let ward = b.ward("UCI", "00:00-24:00").await;
    b.assign(&nurse, &ward).await;
    b.login("nurse.ana").await;
    let registered = b.post_patient("Rosa Díaz", "UCI", "4", "").await;
    let patient = helpers::location(&registered)
        .trim_start_matches("/patients/")
        .to_string();
    let relative = b.authorise(&patient, "Marta", "es").await;

    // The tablet, through HAProxy (node A): one tap, its code, paired from the desk on node B.
    let bedside = Browser::start().await;
    let code = bedside_pairing_code(&bedside, &proxy.url("")).await;
    let desk = Browser::start().await;
    log_in(&desk, &b, "nurse.ana").await;
    pair_from_desk(&desk, &b, &patient, &code).await;
    bedside
        .wait_for(
            "document.documentElement.dataset.bedsideScreen === 'idle'",
            Duration::from_secs(10),
            "the idle clock",
        )
        .await;

    // A visit now, let in on arrival; the relative comes to node B; the bedside on A rings and
    // answers by itself.
    let visit = b.visit_now_with(&patient, &[&relative], true).await;
    let card = b.card_of(&visit, &relative).await;
    let family = relative_joins_at(&b.base, &card.link, &card.code).await;
    bedside
        .wait_for(
            "document.documentElement.dataset.callState === 'connected'",
            Duration::from_secs(20) + CONNECT,
            "the bedside (node A) answering the relative (node B)",
        )
        .await;
    assert_receiving(&bedside, 1, "bedside on node A").await;
    assert_receiving(&family, 1, "relative on node B").await;
    let (room,): (String,) = visitas::sql!(&b.db(), |c| sqlx::query_as(
        "SELECT id FROM rooms WHERE patient_id = $1"
    )
    .bind(&patient)
    .fetch_one(&mut *c)
    .await)
    .expect("one row");
    both_present(&b, &a.url(""), &room, Duration::from_secs(2), "A").await;
    both_present(&b, &b.base, &room, Duration::from_secs(2), "B").await;

    // Node A dies.
    let mut a = a;
    a.child.kill().expect("SIGKILL node A");
    a.child.wait().expect("node A gone");
    let killed = Instant::now();
    // The bedside's page notices within seconds and reconnects through HAProxy, to node B: its
    // stay counts a rejoin.
    loop {
        let log = stays(&b).await;
        if log.iter().any(|s| s.0 == "patient" && s.1 >= 1) {
            break;
        }
        assert!(
            killed.elapsed() < Duration::from_secs(20),
            "the bedside did not come back through node B: {log:?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let (bedside_frames, family_frames) = (frames(&bedside).await, frames(&family).await);
    frames_grow(
        &bedside,
        bedside_frames,
        30,
        Duration::from_secs(20),
        "bedside after node A died",
    )
    .await;
    frames_grow(
        &family,
        family_frames,
        30,
        Duration::from_secs(20),
        "relative after node A died",
    )
    .await;
    // Within the nodes' timeout, node B's desk is right: both there, connected, nobody twice.
    both_present(&b, &b.base, &room, Duration::from_secs(15), "B").await;
    // Past the timeout, node A's state is forgotten, and nobody left as a ghost.
    let past = NODE_GONE.saturating_sub(killed.elapsed());
    tokio::time::sleep(past).await;
    both_present(
        &b,
        &b.base,
        &room,
        Duration::from_secs(1),
        "B after A was forgotten",
    )
    .await;
    let log = stays(&b).await;
    assert_eq!(log.len(), 2, "one stay each: {log:?}");
    let bed = log
        .iter()
        .find(|s| s.0 == "patient")
        .expect("the bedside's stay");
    assert!(
        bed.1 >= 1 && bed.2.is_none(),
        "the bedside's stay goes on, with a rejoin: {log:?}"
    );
    let rel = log
        .iter()
        .find(|s| s.0 == "relative")
        .expect("the relative's stay");
    assert!(rel.2.is_none(), "the relative's stay goes on: {log:?}");

    // Node A again (a new process); a revocation posted to it ends the relative on node B.
    let flags = node_process_flags(&url, &files);
    let flags: Vec<&str> = flags.iter().map(String::as_str).collect();
    let a = ServerProcess::start("", a_data.path(), &flags).await;
    let (invite,): (String,) = visitas::sql!(&b.db(), |c| sqlx::query_as(
        "SELECT id FROM invites WHERE visit_id = $1"
    )
    .bind(&visit)
    .fetch_one(&mut *c)
    .await)
    .expect("one row");
    let token = b.csrf_token(&b.client, &b.jar).await;
    let revoked = b
        .client
        .post(a.url(&format!("/rooms/{room}/invites/{invite}/revoke")))
        .header(reqwest::header::ORIGIN, a.url(""))
        .form(&[("csrf", token.as_str())])
        .send()
        .await
        .expect("POST revoke");
    let posted = Instant::now();
    assert_eq!(revoked.status(), StatusCode::SEE_OTHER, "revoked on node A");
    family
        .wait_for(
            "document.documentElement.dataset.callState === 'ended'",
            Duration::from_secs(2),
            "the relative on node B ended within 2 s",
        )
        .await;
    assert!(posted.elapsed() < Duration::from_secs(2));
    let log = stays(&b).await;
    let rel = log
        .iter()
        .find(|s| s.0 == "relative")
        .expect("the relative's stay");
    assert_eq!(rel.2.as_deref(), Some("revoked"), "{log:?}");
    drop(proxy);
}

/// How long after a node's death the others have forgotten it: its last heartbeat, the
/// timeout, and a heartbeat of the survivor's to notice.
const NODE_GONE: Duration = Duration::from_secs(2 + 10 + 2 + 1);

/// The waiting room and a call across two nodes, at the protocol: a relative waiting on node B (a
/// process of its own) is listed on node A and let in from node A; signals cross both ways, in
/// order; both nodes list both. Node B is killed (`SIGKILL`) and the relative does not come back:
/// once node B is past its timeout, node A tells the bedside they left (`connection-lost`) and
/// closes their stay so.
#[tokio::test]
async fn the_waiting_room_and_a_call_span_nodes_and_a_dead_nodes_participant_is_closed() {
    use helpers::socket::{connect_at, id, with_ticket};
    let server = postgres::Server::get();
    let url = server
        .database(&format!("nodes_w_{}", std::process::id()))
        .await;
    let shared = tempfile::tempdir().expect("a directory");
    let files = postgres::NodeFiles::beside(&shared.path().join("data"));
    let a = in_process_node(&url, &files).await;
    let (mut b, _b_data) = node_process(&url, &files).await;
    let b_base = b.url("");

    a.logged_in_nurse().await;
    let patient = a.register_patient("Rosa Díaz", "").await;
    let room = a.create_room(&patient).await;
    let bed_ticket = a
        .ticket_with(&a.client, &format!("/rooms/{room}/ticket?as=patient"))
        .await;
    let mut bedside = with_ticket(&a, &bed_ticket, Some(&a.cookie_header(&a.jar))).await;
    let bed_id = id(&bedside.join().await);

    // Marta, on node B, waits; node A's nurse sees her and lets her in.
    let relative = a.authorise(&patient, "Marta", "es").await;
    let visit = a.visit_now_with(&patient, &[&relative], false).await;
    let card = a.card_of(&visit, &relative).await;
    let (device, _) = a.admitted_relative(&card).await;
    let ticket = a.ticket_with(&device, "/visit/ticket").await;
    let b_addr = std::net::SocketAddr::from(([127, 0, 0, 1], b.port));
    let ca_dir = files
        .tls_cert
        .parent()
        .expect("the certificate's directory");
    let mut marta = connect_at(
        b_addr,
        ca_dir,
        Some(&format!("https://localhost:{}", b.port)),
        None,
        serde_json::json!({ "ticket": ticket }),
        &[],
    )
    .await
    .expect_connected();
    let waiting = marta.join().await;
    assert_eq!(waiting["waiting"], true, "{waiting}");
    let on_a = a.server.as_ref().expect("running").state.signaling.clone();
    let started = Instant::now();
    let invite = loop {
        if let Some(w) = on_a.waiting().into_iter().find(|w| w.name == "Marta") {
            break w.invite_id;
        }
        assert!(
            started.elapsed() < Duration::from_secs(1),
            "node A lists the relative waiting on node B"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    let admitted = a.post(&format!("/waiting/{invite}/admit"), &[]).await;
    assert_eq!(admitted.status(), StatusCode::SEE_OTHER);
    let entered = marta
        .expect_event("admitted", Duration::from_secs(2))
        .await
        .expect("let in from node A within 2 s");
    assert_eq!(entered["peers"][0]["id"], bed_id.as_str(), "{entered}");
    let marta_id = id(&entered);
    let joined = bedside
        .expect_event("peer-joined", Duration::from_secs(2))
        .await
        .expect("the bedside on node A told");
    assert_eq!(joined["id"], marta_id.as_str());

    // Signals cross the nodes both ways, in order.
    for n in 0..3 {
        let sdp = format!("v=0\r\nn={n}\r\n");
        marta
            .emit(
                "signal",
                serde_json::json!({ "to": bed_id, "data": { "description": { "type": "offer", "sdp": sdp } } }),
            )
            .await;
    }
    for n in 0..3 {
        let signal = bedside
            .expect_event("signal", Duration::from_secs(2))
            .await
            .expect("a signal from node B");
        assert_eq!(signal["from"], marta_id.as_str());
        assert_eq!(
            signal["data"]["description"]["sdp"],
            format!("v=0\r\nn={n}\r\n"),
            "in order"
        );
    }
    bedside
        .emit(
            "signal",
            serde_json::json!({ "to": marta_id, "data": { "candidate": null } }),
        )
        .await;
    let answer = marta
        .expect_event("signal", Duration::from_secs(2))
        .await
        .expect("a signal from node A");
    assert_eq!(answer["from"], bed_id.as_str());
    for (node, base) in [("A", a.base.as_str()), ("B", b_base.as_str())] {
        let started = Instant::now();
        loop {
            let line = presence_at(&a, base, &room).await;
            if line.contains("Rosa Díaz (") && line.contains("Marta (") {
                break;
            }
            assert!(
                started.elapsed() < Duration::from_secs(1),
                "node {node} lists both: {line:?}"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    // Node B dies; Marta does not come back anywhere.
    b.child.kill().expect("SIGKILL node B");
    b.child.wait().expect("node B gone");
    let killed = Instant::now();
    drop(marta);
    let left = bedside
        .expect_event("peer-left", NODE_GONE + Duration::from_secs(5))
        .await
        .expect("told Marta left once node B was gone");
    assert_eq!(left["id"], marta_id.as_str());
    assert_eq!(left["reason"], "connection-lost");
    assert!(
        killed.elapsed() >= Duration::from_secs(8),
        "not before node B's timeout ({:?})",
        killed.elapsed()
    );
    let log = stays(&a).await;
    let stay = log
        .iter()
        .find(|s| s.0 == "relative")
        .expect("Marta's stay");
    assert_eq!(stay.2.as_deref(), Some("connection-lost"), "{log:?}");
    assert_eq!(on_a.presence()[&room].len(), 1, "only the bedside");
}

/// Withdrawing a relative, ending a visit and discharging the patient, each posted to node A,
/// remove the participants whose sockets node B holds, within 2 s.
#[tokio::test]
async fn removals_posted_to_one_node_reach_the_sockets_on_the_other() {
    use helpers::socket::{SocketClient, with_ticket};
    let server = postgres::Server::get();
    let (a, b, _shared) = two_nodes(&server, &format!("nodes_r_{}", std::process::id())).await;
    a.logged_in_nurse().await;
    let patient = a.register_patient("Rosa Díaz", "").await;
    let room = a.create_room(&patient).await;
    let bed_ticket = a
        .ticket_with(&a.client, &format!("/rooms/{room}/ticket?as=patient"))
        .await;
    let mut bedside = with_ticket(&b, &bed_ticket, Some(&a.cookie_header(&a.jar))).await;
    bedside.join().await;
    let marta = a.authorise(&patient, "Marta", "es").await;
    let lola = a.authorise(&patient, "Lola", "es").await;
    let visit = a.visit_now_with(&patient, &[&marta, &lola], true).await;
    let mut in_call = Vec::new();
    for relative in [&marta, &lola] {
        let card = a.card_of(&visit, relative).await;
        let (device, _) = a.admitted_relative(&card).await;
        let ticket = a.ticket_with(&device, "/visit/ticket").await;
        let mut socket = with_ticket(&b, &ticket, None).await;
        let ack = socket.join().await;
        assert!(ack.get("waiting").is_none(), "let in on arrival: {ack}");
        in_call.push(socket);
    }
    let mut lola_socket = in_call.pop().expect("Lola");
    let mut marta_socket = in_call.pop().expect("Marta");
    // Each arrival told once to the bedside (its node's sockets directly, not again through the
    // adapter).
    let mut joined = 0;
    while let Some((name, _)) = bedside.next_event(Duration::from_millis(500)).await {
        joined += usize::from(name == "peer-joined");
    }
    assert_eq!(joined, 2, "one peer-joined per relative");
    async fn ended_within_2s(socket: &mut SocketClient, who: &str) -> String {
        let ended = socket
            .expect_event("ended", Duration::from_secs(2))
            .await
            .unwrap_or_else(|| panic!("{who} removed on node B within 2 s"));
        ended["reason"].as_str().unwrap_or_default().to_string()
    }

    let withdrawn = a
        .post(
            &format!("/patients/{patient}/relatives/{lola}/withdraw"),
            &[],
        )
        .await;
    assert_eq!(withdrawn.status(), StatusCode::SEE_OTHER);
    assert_eq!(
        ended_within_2s(&mut lola_socket, "Lola, withdrawn").await,
        "revoked"
    );

    let ended = a.post(&format!("/visits/{visit}/end"), &[]).await;
    assert_eq!(ended.status(), StatusCode::SEE_OTHER);
    assert_eq!(
        ended_within_2s(&mut marta_socket, "Marta, the visit ended").await,
        "revoked"
    );

    let discharged = a.post(&format!("/patients/{patient}/discharge"), &[]).await;
    assert_eq!(discharged.status(), StatusCode::SEE_OTHER);
    assert_eq!(
        ended_within_2s(&mut bedside, "the bedside, the patient discharged").await,
        "room-closed"
    );
}
