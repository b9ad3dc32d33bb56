//! The site's video budget (`--site-video-kbps`) on the wire: calls share it fairly, each cap is
//! pushed live to the pages of the calls it changes, beyond the floor a new call is audio-only,
//! and the desk says so. And what a page sends (`media`) reaches the others of its call.

mod helpers;

use std::time::Duration;

use helpers::{
    browser::Engine,
    journeys::{frames, frames_grow, nurse_bedside, relative_joins, senders, wait_connected},
    socket::{joined_bedside, joined_relative},
    spawn_app_with,
};
use serde_json::{Value, json};

const SOON: Duration = Duration::from_secs(5);

#[tokio::test]
async fn calls_share_the_budget_down_to_the_floor_then_new_ones_are_audio_only() {
    // 600 kbit/s for the whole site, 150 the floor, 500 the most per sender.
    let app = spawn_app_with(|c| c.site_video_kbps = Some(600)).await;

    let (room_a, mut bed_a, _) = joined_bedside(&app).await;
    let (mut ana, _) = joined_relative(&app, &room_a, "Ana").await;
    // One call of two: two streams share 600.
    assert_eq!(
        bed_a.expect_event("video-cap", SOON).await,
        Some(json!({ "kbps": 300 }))
    );
    let _ = &mut ana;

    let (room_b, mut bed_b, _) = joined_bedside(&app).await;
    let ack_b = {
        let (socket, _) = joined_relative(&app, &room_b, "Berta").await;
        socket
    };
    drop(ack_b);
    // Two calls: four streams, 150 each, the floor; the first call's pages are told live.
    assert_eq!(
        bed_a.expect_event("video-cap", SOON).await,
        Some(json!({ "kbps": 150 }))
    );
    assert_eq!(
        bed_b.expect_event("video-cap", SOON).await,
        Some(json!({ "kbps": 150 })),
        "the second call's bedside is told its cap: the floor too"
    );

    let desk = helpers::text(app.get("/desk").await).await;
    assert!(
        desk.contains("data-limit"),
        "the desk shows the site at its limit"
    );
    assert!(desk.contains("150 kbit/s"), "{desk}");
}

#[tokio::test]
async fn the_desk_says_when_a_ward_is_at_its_limit_of_video_visits() {
    let app = spawn_app_with(|_| {}).await;
    // A ward that takes one video visit at a time (the scheduler's limit).
    app.ward_with("UCI", "00:00-24:00", 1).await;
    app.logged_in_nurse().await;
    let patient = app.register_patient("Ana Pérez", "").await;
    let room = app.create_room(&patient).await;
    let full = "UCI: 1 de 1 videovisitas a la vez (el límite de la unidad).";
    let desk = helpers::text(app.get("/desk").await).await;
    assert!(!desk.contains(full), "nobody in a call yet");

    let (mut lola, _) = joined_relative(&app, &room, "Lola").await;
    let deadline = std::time::Instant::now() + SOON;
    loop {
        let desk = helpers::text(app.get("/desk").await).await;
        if desk.contains(full) {
            assert!(desk.contains("data-limit"), "{desk}");
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the desk says the ward is at its limit: {desk}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // The call over, the note goes.
    lola.emit("leave", Value::Null).await;
    let deadline = std::time::Instant::now() + SOON;
    while helpers::text(app.get("/desk").await).await.contains(full) {
        assert!(std::time::Instant::now() < deadline, "the note goes");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn a_call_beyond_the_floor_starts_audio_only_and_gets_video_when_there_is_room() {
    let app = spawn_app_with(|c| c.site_video_kbps = Some(300)).await;
    let (room_a, mut bed_a, _) = joined_bedside(&app).await;
    let (mut ana, _) = joined_relative(&app, &room_a, "Ana").await;
    assert_eq!(
        bed_a.expect_event("video-cap", SOON).await,
        Some(json!({ "kbps": 150 }))
    );

    let (room_b, mut bed_b, _) = joined_bedside(&app).await;
    let mut berta = helpers::socket::relative(&app, &room_b, "Berta").await;
    let ack: Value = berta.join().await;
    assert_eq!(ack["maxVideoKbps"], 0, "audio-only: {ack}");
    assert_eq!(ack["videoFloorKbps"], 150);
    assert_eq!(
        bed_b.expect_event("video-cap", SOON).await,
        Some(json!({ "kbps": 0 })),
        "the bedside of the new call too"
    );
    assert!(
        bed_a
            .receives_no("video-cap", Duration::from_millis(300))
            .await,
        "the first call keeps its video"
    );
    let desk = helpers::text(app.get("/desk").await).await;
    assert!(desk.contains("1 llamada va solo con sonido"), "{desk}");

    // The first call ends: the second gets its video, live.
    ana.emit("leave", Value::Null).await;
    bed_a.emit("leave", Value::Null).await;
    assert_eq!(
        berta.expect_event("video-cap", SOON).await,
        Some(json!({ "kbps": 150 }))
    );
}

#[tokio::test]
async fn what_a_page_sends_reaches_the_others_and_those_who_come_later() {
    let app = spawn_app_with(|_| {}).await;
    let (room, mut bedside, _) = joined_bedside(&app).await;
    let (mut ana, ana_id) = joined_relative(&app, &room, "Ana").await;
    assert!(bedside.expect_event("peer-joined", SOON).await.is_some());

    ana.emit(
        "media",
        json!({ "microphone": false, "camera": true, "paused": false }),
    )
    .await;
    assert_eq!(
        bedside.expect_event("peer-media", SOON).await,
        Some(json!({ "id": ana_id, "microphone": false, "camera": true, "paused": false }))
    );
    // Anything else is dropped.
    ana.emit("media", json!({ "microphone": "no" })).await;
    ana.emit(
        "media",
        json!({ "microphone": true, "camera": true, "paused": false, "extra": 1 }),
    )
    .await;
    assert!(
        bedside
            .receives_no("peer-media", Duration::from_millis(400))
            .await
    );

    let mut later = helpers::socket::relative(&app, &room, "Berta").await;
    let ack = later.join().await;
    let seen = ack["peers"]
        .as_array()
        .and_then(|peers| peers.iter().find(|p| p["id"] == ana_id.as_str()))
        .cloned()
        .expect("Ana among the peers");
    assert_eq!(seen["microphone"], false, "{seen}");
    assert_eq!(seen["camera"], true);
}

#[tokio::test]
async fn in_the_browser_a_call_beyond_the_budget_is_audio_only_until_another_ends() {
    let app = spawn_app_with(|c| c.site_video_kbps = Some(300)).await;
    // The first call (on the wire) takes the whole budget at the floor.
    let (room_a, mut bed_a, _) = joined_bedside(&app).await;
    let (mut ana, _) = joined_relative(&app, &room_a, "Ana").await;
    assert!(bed_a.expect_event("video-cap", SOON).await.is_some());

    // The second, in browsers.
    let patient = app.register_patient("Berta Gil", "").await;
    let room = app.create_room(&patient).await;
    let card = app.create_invite(&room, "Lola").await;
    let bedside = nurse_bedside(&app, &room, Engine::Chromium).await;
    let relative = relative_joins(&app, &card.link, &card.code).await;
    for (browser, who) in [(&relative, "relative"), (&bedside, "bedside")] {
        wait_connected(browser, who).await;
    }
    relative
        .wait_for(
            "window.visitas.senders().length > 0 && window.visitas.senders().every((s) => !s.active) && !document.querySelector('#quality').hidden",
            Duration::from_secs(10),
            "the relative's video paused, and the page saying why",
        )
        .await;
    bedside
        .wait_for(
            "document.querySelector('.tile')?.dataset.camera === 'off' && document.querySelector('.tile-badges').textContent.length > 0",
            Duration::from_secs(10),
            "the bedside shows the relative's video paused, not a black box",
        )
        .await;
    let heard = bedside.stats().await[0]["audioPackets"]
        .as_u64()
        .unwrap_or(0);
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert!(
        bedside.stats().await[0]["audioPackets"]
            .as_u64()
            .unwrap_or(0)
            > heard,
        "the sound goes on"
    );
    let desk = helpers::text(app.get("/desk").await).await;
    assert!(
        desk.contains("1 llamada va solo con sonido"),
        "the desk says so"
    );

    // The first call ends: the second gets video, capped at the site's share, live.
    ana.emit("leave", Value::Null).await;
    bed_a.emit("leave", Value::Null).await;
    relative
        .wait_for(
            "window.visitas.senders().every((s) => s.active && s.maxBitrate === 150000)",
            Duration::from_secs(10),
            "the relative's video on, at the site's share",
        )
        .await;
    let cap = senders(&bedside).await;
    assert!(
        cap.iter()
            .all(|(active, max)| *active && *max == Some(150_000)),
        "{cap:?}"
    );
    let seen = frames(&bedside).await;
    frames_grow(&bedside, seen, 20, Duration::from_secs(15), "bedside").await;
    drop((bedside, relative));
    app.stop().await;
}
