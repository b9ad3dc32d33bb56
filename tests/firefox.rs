//! Both engines hospitals and relatives use, each way round, with their default autoplay
//! policies: a relative in Firefox ESR with a Chromium bedside, and a Chromium relative with a
//! Firefox bedside. Connected, frames and sound arriving both ways (`getStats`; Firefox's
//! `getVideoPlaybackQuality` counts nothing for live WebRTC video), and the relative's
//! microphone meter moving on the device check.

mod helpers;

use std::time::Duration;

use helpers::{
    browser::{Browser, Engine},
    journeys::{assert_receiving, nurse_bedside, relative_reaches_check, wait_connected},
    spawn_app,
};

/// Browsers are heavy on two cores: one test at a time.
static ONE_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

async fn call_between(relative_engine: Engine, bedside_engine: Engine) {
    if helpers::postgres::media_test_stands_down("the Firefox call") {
        return;
    }
    let _turn = ONE_AT_A_TIME.lock().await;
    let app = spawn_app().await;
    let (_, room) = app.nurse_with_room("Elena Ruiz").await;
    let card = app.create_invite(&room, "Lola").await;
    let bedside = nurse_bedside(&app, &room, bedside_engine).await;
    let relative = Browser::start_as(relative_engine).await;
    relative_reaches_check(&relative, &app.base, &card.link, &card.code).await;

    // The microphone meter: it moves, after the one tap the page asks for where the browser
    // suspends sound on a page nobody tapped yet.
    let tap = "!document.querySelector('#check .meter-tap').hidden";
    let moving = "parseFloat(document.querySelector('#level').style.width) > 0";
    relative
        .wait_for(
            &format!("{tap} || {moving}"),
            Duration::from_secs(10),
            "the meter moving, or the page asking for a tap",
        )
        .await;
    let asks = relative.eval(&format!("return {tap};")).await;
    if asks.as_bool() == Some(true) {
        relative.click("#check .meter-tap").await;
    }
    relative
        .wait_for(
            moving,
            Duration::from_secs(10),
            "the microphone meter moves",
        )
        .await;
    eprintln!("{relative_engine:?} relative: the page asked for a tap: {asks}");

    relative.click("#join").await;
    for (browser, who) in [(&relative, "relative"), (&bedside, "bedside")] {
        wait_connected(browser, who).await;
        assert_receiving(browser, 1, who).await;
    }
    drop((bedside, relative));
    app.stop().await;
}

#[tokio::test]
async fn a_relative_in_firefox_with_a_chromium_bedside() {
    call_between(Engine::Firefox, Engine::ChromiumDefaultAutoplay).await;
}

#[tokio::test]
async fn a_relative_in_chromium_with_a_firefox_bedside() {
    call_between(Engine::ChromiumDefaultAutoplay, Engine::Firefox).await;
}
