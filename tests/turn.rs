//! TURN through a real coturn: credentials in coturn's REST format, valid for the visit, given
//! only to participants in a call and never in a page; calls that go through the relay when the
//! site says so; and coturn refusing a credential that has expired.

mod helpers;

use helpers::{
    TestApp,
    browser::{Browser, Engine},
    coturn::Coturn,
    journeys::{assert_receiving, nurse_bedside, relative_joins, wait_connected},
    socket::with_ticket,
    spawn_app_with,
};
use serde_json::{Value, json};
use visitas::{
    auth::turn::{TURN_MARGIN_SECS, rest_credential},
    config::{IcePolicy, Secret},
};

/// Chromium instances are heavy on two cores: one browser test at a time.
static ONE_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

const SECRET: &str = "a-test-secret";

/// The ticket of a relative who typed their code, and the page they got.
async fn relative_of(app: &TestApp, visit: &str, relative: &str) -> (String, String) {
    let card = app.card_of(visit, relative).await;
    let (device, _) = app.admitted_relative(&card).await;
    let page = app
        .get_with(&device, "/visit")
        .await
        .text()
        .await
        .expect("the call page");
    (app.ticket_with(&device, "/visit/ticket").await, page)
}

#[tokio::test]
async fn turn_credentials_last_the_visit_and_only_participants_in_the_call_get_them() {
    let app = spawn_app_with(|c| {
        c.ice_urls = vec!["turn:turn.hospital.test:3478".into()];
        c.turn_secret = Some(Secret(SECRET.into()));
    })
    .await;
    app.nurse_with_room("Elena Ruiz").await;
    let patient: String = app.scalar("SELECT patient_id FROM rooms").await;
    let lola = app.authorise(&patient, "Lola", "es").await;
    let pablo = app.authorise(&patient, "Pablo", "es").await;
    // Lola is let in as she arrives; Pablo waits for a nurse.
    let visit = app.visit_now_with(&patient, &[&lola], true).await;
    let added = app
        .post(
            &format!("/visits/{visit}/relatives"),
            &[("relative", pablo.as_str())],
        )
        .await;
    assert_eq!(added.status(), reqwest::StatusCode::SEE_OTHER);

    let (ticket, page) = relative_of(&app, &visit, &lola).await;
    assert!(
        !page.contains("turn:") && !page.contains(SECRET) && !page.contains(":visitas"),
        "no TURN server or credential in the page's source"
    );
    let mut socket = with_ticket(&app, &ticket, None).await;
    let ack = socket.join().await;
    let expires: i64 = app
        .scalar("SELECT expires_at FROM invites WHERE relative_id = (SELECT id FROM relatives WHERE display_name = 'Lola')")
        .await;
    let (username, credential) = rest_credential(SECRET, expires + TURN_MARGIN_SECS);
    assert_eq!(
        ack["iceServers"],
        json!([{ "urls": "turn:turn.hospital.test:3478", "username": username, "credential": credential }]),
        "valid until the visit's end plus the margin"
    );
    assert_eq!(ack["iceTransportPolicy"], "all");

    let (ticket, _) = relative_of(&app, &visit, &pablo).await;
    let mut waiting = with_ticket(&app, &ticket, None).await;
    let ack = waiting.call("join").await.expect("an answer");
    assert_eq!(ack["waiting"], true);
    assert!(
        ack.get("iceServers").is_none(),
        "nothing for the waiting room: {ack}"
    );
}

#[tokio::test]
async fn calls_go_through_coturn_when_the_site_sends_every_call_through_it() {
    if helpers::postgres::media_test_stands_down("the relayed call") {
        return;
    }
    let _turn = ONE_AT_A_TIME.lock().await;
    let Some(coturn) = Coturn::start() else {
        return;
    };
    let app = spawn_app_with(|c| {
        c.ice_urls = vec![coturn.url()];
        c.turn_secret = Some(Secret(coturn.secret.clone()));
        c.ice_transport_policy = IcePolicy::Relay;
    })
    .await;
    let (_, room) = app.nurse_with_room("Elena Ruiz").await;
    let card = app.create_invite(&room, "Lola").await;
    let bedside = nurse_bedside(&app, &room, Engine::Chromium).await;
    let relative = relative_joins(&app, &card.link, &card.code).await;

    for (browser, who) in [(&relative, "relative"), (&bedside, "bedside")] {
        wait_connected(browser, who).await;
        assert_receiving(browser, 1, who).await;
        let stats = browser.stats().await;
        assert_eq!(
            (
                stats[0]["localCandidateType"].as_str(),
                stats[0]["remoteCandidateType"].as_str()
            ),
            (Some("relay"), Some("relay")),
            "{who}'s media goes through coturn: {stats:?}"
        );
    }
    let html = relative
        .eval("return document.documentElement.outerHTML")
        .await;
    let html = html.as_str().unwrap_or_default();
    assert!(!html.contains("turn:") && !html.contains(&coturn.secret));
    drop((bedside, relative));
    app.stop().await;
}

/// Gathers candidates through coturn with this credential, in a page: relay candidates found and
/// the error codes coturn answered.
async fn gather(browser: &Browser, url: &str, username: &str, credential: &str) -> Value {
    let script = format!(
        r#"const done = arguments[0];
        const pc = new RTCPeerConnection({{ iceServers: [{{ urls: {url}, username: {username}, credential: {credential} }}], iceTransportPolicy: "relay" }});
        const result = {{ relay: 0, errors: [] }};
        let finished = false;
        const finish = () => {{ if (finished) return; finished = true; pc.close(); done(result); }};
        pc.onicecandidate = (e) => {{ if (!e.candidate) return finish(); if (e.candidate.type === "relay") result.relay += 1; }};
        pc.onicecandidateerror = (e) => result.errors.push(e.errorCode);
        pc.createDataChannel("probe");
        pc.createOffer().then((offer) => pc.setLocalDescription(offer));
        setTimeout(finish, 15000);"#,
        url = json!(url),
        username = json!(username),
        credential = json!(credential),
    );
    browser.eval_async(&script).await
}

#[tokio::test]
async fn coturn_refuses_a_credential_that_has_expired() {
    if helpers::postgres::media_test_stands_down("the expired credential") {
        return;
    }
    let _turn = ONE_AT_A_TIME.lock().await;
    let Some(coturn) = Coturn::start() else {
        return;
    };
    let app = spawn_app_with(|_| {}).await;
    let browser = Browser::start().await;
    browser.goto(&app.url("/login")).await;
    let now = chrono::Utc::now().timestamp();

    let (username, credential) = rest_credential(&coturn.secret, now + 600);
    let fresh = gather(&browser, &coturn.url(), &username, &credential).await;
    assert!(
        fresh["relay"].as_u64() > Some(0),
        "a valid credential gets a relay: {fresh}"
    );

    let (username, credential) = rest_credential(&coturn.secret, now - 60);
    let expired = gather(&browser, &coturn.url(), &username, &credential).await;
    assert_eq!(expired["relay"], 0, "{expired}");
    assert!(
        expired["errors"]
            .as_array()
            .is_some_and(|codes| codes.contains(&json!(401))),
        "coturn answers 401 Unauthorized: {expired}"
    );
    drop(browser);
    app.stop().await;
}
