//! Journeys the browser tests share: a nurse signing in, a relative arriving with their card,
//! and checking that a call page receives media.

use std::time::Duration;

use serde_json::Value;

use super::{
    PASSWORD, TestApp,
    browser::{Browser, CONNECT, Engine},
};

/// Signs `username` in on `browser`; the desk opens.
pub async fn log_in(browser: &Browser, app: &TestApp, username: &str) {
    log_in_at(browser, &app.base, username).await;
}

/// Signs `username` in on `browser` at the server `base` (`https://HOST:PORT`).
pub async fn log_in_at(browser: &Browser, base: &str, username: &str) {
    browser.goto(&format!("{base}/login")).await;
    browser.type_into("input[name=username]", username).await;
    browser.type_into("input[name=password]", PASSWORD).await;
    browser
        .click("form[action='/login'] button[type=submit]")
        .await;
    browser
        .wait_for(
            "location.pathname === '/desk'",
            CONNECT,
            "the desk after login",
        )
        .await;
}

/// A relative's device: opens the link, types the code, passes the device check, joins.
pub async fn relative_joins(app: &TestApp, link: &str, code: &str) -> Browser {
    let relative = Browser::start().await;
    relative_arrives(&relative, app, link, code).await;
    relative
}

/// [`relative_joins`] at the server `base`.
pub async fn relative_joins_at(base: &str, link: &str, code: &str) -> Browser {
    let relative = Browser::start().await;
    relative_arrives_at(&relative, base, link, code).await;
    relative
}

/// On the relative's `relative` browser: opens the link, types the code, passes the device
/// check, joins.
pub async fn relative_arrives(relative: &Browser, app: &TestApp, link: &str, code: &str) {
    relative_arrives_at(relative, &app.base, link, code).await;
}

/// [`relative_arrives`] at the server `base`.
pub async fn relative_arrives_at(relative: &Browser, base: &str, link: &str, code: &str) {
    relative_reaches_check(relative, base, link, code).await;
    relative.click("#join").await;
}

/// On the relative's browser: opens the link, types the code, and waits at the device check
/// with the camera's picture shown.
pub async fn relative_reaches_check(relative: &Browser, base: &str, link: &str, code: &str) {
    assert!(
        link.starts_with(&format!("{base}/i/")),
        "the card's link points at this server: {link}"
    );
    // Tapped in a message from another site (webmail, a chat app): a cross-site navigation.
    let message = format!("data:text/html,<a id=link href='{link}'>Videovisita</a>");
    relative.goto(&message).await;
    relative.click("#link").await;
    relative
        .wait_for(
            "location.pathname === '/visit' && document.querySelector('#code')",
            CONNECT,
            "the code page",
        )
        .await;
    assert!(
        !relative.url().await.contains("/i/"),
        "the token left the address bar"
    );
    relative.type_into("#code", code).await;
    relative.click("#code-submit").await;
    relative
        .wait_for(
            "document.querySelector('#join') && !document.querySelector('#join').disabled",
            CONNECT,
            "the device check",
        )
        .await;
    relative
        .wait_for(
            "document.querySelector('#preview').videoWidth > 0",
            CONNECT,
            "the camera preview",
        )
        .await;
}

/// Waits until the page has received video from `peers` others, then checks it keeps coming.
pub async fn assert_receiving(browser: &Browser, peers: usize, who: &str) {
    let deadline = tokio::time::Instant::now() + CONNECT;
    let frames = |stats: &[Value]| {
        stats
            .iter()
            .map(|s| s["framesDecoded"].as_u64().unwrap_or(0))
            .collect::<Vec<_>>()
    };
    let first = loop {
        let stats = browser.stats().await;
        if stats.len() == peers
            && frames(&stats).iter().all(|f| *f > 0)
            && stats
                .iter()
                .all(|s| s["audioPackets"].as_u64().unwrap_or(0) > 0)
        {
            break stats;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{who} never received media from {peers} peers: {stats:?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let later = browser.stats().await;
    for (before, after) in frames(&first).iter().zip(frames(&later)) {
        assert!(
            after > *before,
            "{who}: frames keep arriving ({before} → {after})"
        );
    }
}

/// Every video frame the page has decoded, from all its peers.
pub async fn frames(browser: &Browser) -> u64 {
    browser
        .stats()
        .await
        .iter()
        .map(|s| s["framesDecoded"].as_u64().unwrap_or(0))
        .sum()
}

/// Waits until the page has decoded `more` frames beyond `from`; how long it took.
pub async fn frames_grow(
    browser: &Browser,
    from: u64,
    more: u64,
    within: Duration,
    who: &str,
) -> Duration {
    let started = tokio::time::Instant::now();
    loop {
        let now = frames(browser).await;
        if now >= from + more {
            return started.elapsed();
        }
        assert!(
            started.elapsed() < within,
            "{who}: frames did not grow by {more} within {within:?} ({from} → {now})"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The page's video senders, each as (active, maxBitrate) (`RTCRtpSender.getParameters`).
pub async fn senders(browser: &Browser) -> Vec<(bool, Option<u64>)> {
    browser
        .eval("return window.visitas.senders()")
        .await
        .as_array()
        .cloned()
        .unwrap_or_default()
        .iter()
        .map(|s| {
            (
                s["active"].as_bool().unwrap_or(true),
                s["maxBitrate"].as_u64(),
            )
        })
        .collect()
}

/// A nurse's browser (`engine`) with `room`'s call open on the patient's side, as the nurse
/// opens it at the bed.
pub async fn nurse_bedside(app: &TestApp, room: &str, engine: Engine) -> Browser {
    let bedside = Browser::start_as(engine).await;
    log_in(&bedside, app, "nurse.ana").await;
    bedside
        .goto(&app.url(&format!("/rooms/{room}/call?as=patient")))
        .await;
    bedside
}

/// Waits until the call page says "connected".
pub async fn wait_connected(browser: &Browser, who: &str) {
    browser
        .wait_for(
            "document.documentElement.dataset.callState === 'connected'",
            CONNECT,
            who,
        )
        .await;
}

/// The tablet's first screens at `base` (the server or a balancer in front): one tap, then its
/// pairing code, which this returns.
pub async fn bedside_pairing_code(bedside: &Browser, base: &str) -> String {
    bedside.goto(&format!("{base}/bedside")).await;
    bedside
        .wait_for(
            "document.querySelector('#start-device')",
            CONNECT,
            "the start screen",
        )
        .await;
    bedside.click("#start-device").await;
    bedside
        .wait_for(
            "/^\\d{3} \\d{3}$/.test(document.querySelector('#pairing-code').textContent)",
            CONNECT,
            "the pairing code",
        )
        .await;
    bedside.text("#pairing-code").await
}

/// On a nurse's `desk` (signed in on `app`): pairs the tablet showing `code` to `patient`, on
/// the patient's page, as from the ward's PC.
pub async fn pair_from_desk(desk: &Browser, app: &TestApp, patient: &str, code: &str) {
    desk.goto(&app.url(&format!("/patients/{patient}"))).await;
    desk.type_into("#bedside input[name=code]", code).await;
    desk.click("#bedside .pair-form button[type=submit]").await;
    desk.wait_for(
        "document.querySelector('[data-device]')",
        CONNECT,
        "the paired device",
    )
    .await;
}
