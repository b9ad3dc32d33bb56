//! Calls on networks that fail, in real headless browsers: the relative's browser runs in a
//! network namespace of its own, reaching the server and the bedside over a veth pair whose
//! traffic nftables drops or rate-limits (see `helpers::netns`); the server is killed and started
//! again mid-call. Frames are counted on arrival (`getStats`).
//!
//! The namespace tests need root (`.ci/run` runs as root); elsewhere they print why they skip.

mod helpers;

use std::{
    net::SocketAddr,
    time::{Duration, Instant},
};

use helpers::{
    TestApp,
    browser::{Browser, CONNECT, Engine},
    journeys::{
        assert_receiving, frames, frames_grow, log_in_at, nurse_bedside, relative_arrives,
        relative_joins_at, senders,
    },
    netns::Netns,
    process::ServerProcess,
    spawn_app_with,
};

/// Chromium instances are heavy on two cores: one browser test at a time.
static ONE_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

const CONNECTED: &str = "document.documentElement.dataset.callState === 'connected'";

/// A call between a bedside on this side and a relative inside `netns` (in `engine`), with media
/// flowing both ways. The server listens on the pair's address on this side.
async fn call_across(netns: &Netns, engine: Engine, grace: u64) -> (TestApp, Browser, Browser) {
    let bind = SocketAddr::new(netns.host_addr.into(), 0);
    let app = spawn_app_with(|c| {
        c.bind = bind;
        c.rejoin_grace_secs = grace;
    })
    .await;
    let (_, room) = app.nurse_with_room("Elena Ruiz").await;
    let card = app.create_invite(&room, "Lola").await;
    let bedside = nurse_bedside(&app, &room, Engine::Chromium).await;
    let relative = Browser::start_inside(engine, netns).await;
    relative_arrives(&relative, &app, &card.link, &card.code).await;
    for (browser, who) in [(&relative, "relative"), (&bedside, "bedside")] {
        browser.wait_for(CONNECTED, CONNECT, who).await;
        assert_receiving(browser, 1, who).await;
    }
    (app, bedside, relative)
}

/// (rejoins, end reason) of each of the relative's stays.
async fn relative_stays(app: &TestApp) -> Vec<(i64, Option<String>)> {
    visitas::sql!(&app.db(), |c| sqlx::query_as(
        "SELECT rejoins, end_reason FROM visit_log WHERE role = 'relative' ORDER BY id"
    )
    .fetch_all(&mut *c)
    .await)
    .expect("the visit log")
}

async fn five_second_cut(engine: Engine) {
    if helpers::postgres::media_test_stands_down("the 5-second cut") {
        return;
    }
    let _turn = ONE_AT_A_TIME.lock().await;
    let Some(netns) = Netns::create() else { return };
    let (app, bedside, relative) = call_across(&netns, engine, 60).await;

    netns.cut();
    let cut_at = Instant::now();
    relative
        .wait_for(
            "document.documentElement.dataset.callState === 'reconnecting'",
            Duration::from_secs(5),
            "the relative's page says it is reconnecting",
        )
        .await;
    tokio::time::sleep(Duration::from_secs(5).saturating_sub(cut_at.elapsed())).await;
    let (relative_frames, bedside_frames) = (frames(&relative).await, frames(&bedside).await);
    netns.restore();

    // No one touches anything: media is back within 10 s, both ways.
    let healed = frames_grow(
        &relative,
        relative_frames,
        20,
        Duration::from_secs(10),
        "relative",
    )
    .await;
    frames_grow(
        &bedside,
        bedside_frames,
        20,
        Duration::from_secs(10),
        "bedside",
    )
    .await;
    relative
        .wait_for(
            CONNECTED,
            Duration::from_secs(10),
            "the relative's page connected again",
        )
        .await;
    eprintln!("media back {healed:?} after a 5 s cut ({engine:?} relative)");
    // One stay, with the one rejoin of its page's new socket.
    let deadline = Instant::now() + Duration::from_secs(10);
    while relative_stays(&app).await != vec![(1, None)] {
        assert!(
            Instant::now() < deadline,
            "one open stay with one rejoin: {:?}",
            relative_stays(&app).await
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_receiving(&bedside, 1, "bedside after the cut").await;
    assert_receiving(&relative, 1, "relative after the cut").await;
    drop((bedside, relative));
    app.stop().await;
}

#[tokio::test]
async fn a_five_second_cut_heals_by_itself() {
    five_second_cut(Engine::Chromium).await;
}

#[tokio::test]
async fn a_five_second_cut_heals_by_itself_with_the_relative_in_firefox() {
    five_second_cut(Engine::Firefox).await;
}

#[tokio::test]
async fn after_seventy_seconds_cut_the_relative_is_gone_and_may_rejoin_without_the_code() {
    if helpers::postgres::media_test_stands_down("the 70-second cut") {
        return;
    }
    let _turn = ONE_AT_A_TIME.lock().await;
    let Some(netns) = Netns::create() else { return };
    let (app, bedside, relative) = call_across(&netns, Engine::Chromium, 60).await;

    netns.cut();
    let cut_at = Instant::now();
    // The relative's page keeps trying, and says how often, with the right plural.
    for (pattern, what) in [
        ("\\(1 (intento|attempt)\\)", "its first attempt"),
        ("\\([2-9] (intentos|attempts)\\)", "its later attempts"),
    ] {
        relative
            .wait_for(
                &format!("/{pattern}/.test(document.querySelector('#status').textContent)"),
                Duration::from_secs(20),
                &format!("the relative's page counting {what}"),
            )
            .await;
    }
    bedside
        .wait_for(
            "document.querySelector('.tile[data-reconnecting=true] .tile-state')?.textContent.includes('Lola')",
            Duration::from_secs(20),
            "the bedside shows Lola reconnecting",
        )
        .await;
    // Once the server has noticed (its heartbeat), the nurse's presence list says so too (the
    // desk reads the same), with Lola listed once.
    loop {
        let presence: serde_json::Value = app
            .get("/rooms/presence")
            .await
            .json()
            .await
            .expect("presence");
        let listed = presence.to_string();
        assert_eq!(listed.matches("Lola").count(), 1, "{listed}");
        if listed.contains("reconectando") {
            break;
        }
        assert!(
            cut_at.elapsed() < Duration::from_secs(40),
            "presence says Lola is reconnecting: {listed}"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    // Not gone before the grace: 50 s into the cut her place and stay are kept.
    tokio::time::sleep(Duration::from_secs(50).saturating_sub(cut_at.elapsed())).await;
    assert_eq!(
        bedside
            .eval("return document.querySelectorAll('.tile[data-reconnecting=true]').length")
            .await,
        serde_json::json!(1),
        "Lola's tile is still there, reconnecting"
    );
    assert_eq!(
        relative_stays(&app).await,
        vec![(0, None)],
        "her stay is open"
    );
    // The bedside's connection to her failed meanwhile: it restarted ICE by itself.
    let restarts = bedside
        .eval("return window.visitas.state.iceRestarts || 0")
        .await;
    assert!(
        restarts.as_u64().is_some_and(|n| n >= 1),
        "the bedside restarted ICE: {restarts}"
    );
    bedside
        .wait_for(
            "document.querySelectorAll('.tile').length === 0",
            Duration::from_secs(70).saturating_sub(cut_at.elapsed()),
            "Lola gone from the bedside after the grace",
        )
        .await;
    let notice = bedside.text("#notice").await;
    assert!(notice.contains("Lola"), "the bedside is told: {notice:?}");
    assert_eq!(
        relative_stays(&app).await,
        vec![(0, Some("connection-lost".to_string()))]
    );
    tokio::time::sleep(Duration::from_secs(70).saturating_sub(cut_at.elapsed())).await;
    netns.restore();

    // Back on the network, the page learns its place was given up, and offers to join again.
    relative
        .wait_for(
            "document.documentElement.dataset.callState === 'ended' && !document.querySelector('#rejoin').hidden && !document.querySelector('#after').hidden",
            Duration::from_secs(20),
            "the relative's page offers to join again",
        )
        .await;
    relative.click("#rejoin").await;
    relative
        .wait_for(CONNECTED, CONNECT, "the relative back in without the code")
        .await;
    assert_receiving(&relative, 1, "relative after rejoining").await;
    assert_receiving(&bedside, 1, "bedside after the relative rejoined").await;
    assert_eq!(
        relative_stays(&app).await,
        vec![(0, Some("connection-lost".to_string())), (0, None)]
    );
    drop((bedside, relative));
    app.stop().await;
}

#[tokio::test]
async fn a_server_killed_and_started_again_mid_call_does_not_stop_the_media() {
    let _turn = ONE_AT_A_TIME.lock().await;
    // The data (a nurse, a patient's room, a relative's card) made by an in-process server, which
    // then leaves its address and data directory to the real binary.
    let app = spawn_app_with(|_| {}).await;
    let (_, room) = app.nurse_with_room("Elena Ruiz").await;
    let card = app.create_invite(&room, "Lola").await;
    let (base, bind, cookie) = (
        app.base.clone(),
        app.addr.to_string(),
        app.cookie_header(&app.jar),
    );
    let (dir, config) = app.stop().await;
    let data = config.data_dir.clone();
    let flags = ["--rejoin-grace-secs", "60"];
    let mut server = ServerProcess::start_bound("", &data, &bind, &flags).await;

    let bedside = Browser::start().await;
    log_in_at(&bedside, &base, "nurse.ana").await;
    bedside
        .goto(&format!("{base}/rooms/{room}/call?as=patient"))
        .await;
    let relative = relative_joins_at(&base, &card.link, &card.code).await;
    for (browser, who) in [(&relative, "relative"), (&bedside, "bedside")] {
        browser.wait_for(CONNECTED, CONNECT, who).await;
        assert_receiving(browser, 1, who).await;
    }

    server.child.kill().expect("kill -9");
    server.child.wait().expect("it ends");
    let (relative_frames, bedside_frames) = (frames(&relative).await, frames(&bedside).await);
    // Media goes browser to browser: it does not wait for the server.
    frames_grow(
        &relative,
        relative_frames,
        20,
        Duration::from_secs(5),
        "relative, server down",
    )
    .await;
    frames_grow(
        &bedside,
        bedside_frames,
        20,
        Duration::from_secs(5),
        "bedside, server down",
    )
    .await;
    let _server = ServerProcess::start_bound("", &data, &bind, &flags).await;

    // Both pages rejoin by themselves and take their stays back.
    let db = helpers::open_database_of(&data).await;
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let stays: Vec<(String, Option<i64>, i64)> = visitas::sql!(&db, |c| sqlx::query_as(
            "SELECT role, left_at, rejoins FROM visit_log ORDER BY id"
        )
        .fetch_all(&mut *c)
        .await)
        .unwrap();
        if stays == vec![("patient".into(), None, 1), ("relative".into(), None, 1)] {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "both stays taken back: {stays:?}"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    for (browser, who) in [(&relative, "relative"), (&bedside, "bedside")] {
        browser.wait_for(CONNECTED, CONNECT, who).await;
        assert_receiving(browser, 1, who).await;
    }
    // No ghost: each person once in the presence list.
    let (client, _) = helpers::new_client();
    let presence: serde_json::Value = client
        .get(format!("{base}/rooms/presence"))
        .header("cookie", cookie)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let here = presence[&room].as_str().unwrap_or_default();
    assert_eq!(here.matches("Lola").count(), 1, "{presence}");
    drop((bedside, relative, dir));
}

/// Audio packets the page has received from its peers.
async fn audio_packets(browser: &Browser) -> u64 {
    browser
        .stats()
        .await
        .iter()
        .map(|s| s["audioPackets"].as_u64().unwrap_or(0))
        .sum()
}

#[tokio::test]
async fn on_a_150_kbps_link_the_video_steps_down_and_the_sound_goes_on_then_comes_back() {
    if helpers::postgres::media_test_stands_down("the 150 kbit/s link") {
        return;
    }
    let _turn = ONE_AT_A_TIME.lock().await;
    let Some(netns) = Netns::create() else { return };
    let (app, bedside, relative) = call_across(&netns, Engine::Chromium, 60).await;
    // Past the first seconds, when a page judges nothing yet.
    tokio::time::sleep(Duration::from_secs(8)).await;

    netns.limit(150);
    let limited_at = Instant::now();
    let floor = 150_000;
    loop {
        let now = senders(&relative).await;
        if !now.is_empty()
            && now
                .iter()
                .all(|(active, max)| !active || max.is_some_and(|m| m <= floor))
        {
            break;
        }
        assert!(
            limited_at.elapsed() < Duration::from_secs(20),
            "within 20 s the relative's video is paused or at the floor: {now:?}"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    eprintln!(
        "stepped down {:?} after the limit: {:?}",
        limited_at.elapsed(),
        senders(&relative).await
    );
    // Paused rather than at the floor: the person is told why, and the bedside's tile says so
    // instead of showing a frozen picture.
    if senders(&relative).await.iter().any(|(active, _)| !active) {
        let said = relative.text("#quality").await;
        assert!(
            said.contains("Vídeo en pausa para mantener el sonido"),
            "the relative is told: {said:?}"
        );
        bedside
            .wait_for(
                "document.querySelector('.tile[data-camera=\"off\"]') !== null",
                Duration::from_secs(5),
                "the bedside's tile shows the video paused",
            )
            .await;
    }
    // The sound keeps arriving on the weak link.
    let heard = audio_packets(&bedside).await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert!(
        audio_packets(&bedside).await > heard + 50,
        "audio packets keep arriving at the bedside"
    );

    netns.restore();
    let restored_at = Instant::now();
    // Video back: the relative sends it again and the bedside decodes it at a steady rate (at
    // least 10 frames a second over two seconds), not a frame now and then.
    loop {
        let before = frames(&bedside).await;
        tokio::time::sleep(Duration::from_secs(2)).await;
        let flowing = frames(&bedside).await >= before + 20;
        let now = senders(&relative).await;
        if flowing && !now.is_empty() && now.iter().all(|(active, _)| *active) {
            break;
        }
        assert!(
            restored_at.elapsed() < Duration::from_secs(30),
            "video back within 30 s: {now:?}"
        );
    }
    eprintln!(
        "video back {:?} after the limit was lifted: {:?}",
        restored_at.elapsed(),
        senders(&relative).await
    );
    drop((bedside, relative));
    app.stop().await;
}
