//! The hands-free bedside tablet, end to end in real browsers: paired by a nurse, idle on its
//! clock, answering by itself when a nurse admits a relative from the waiting room, with sound,
//! in both Chromium and Firefox ESR with their default autoplay policies (only the pairing tap),
//! and back to its pairing screen within two seconds when unpaired mid-call.

mod helpers;

use std::time::{Duration, Instant};

use helpers::{
    TestApp,
    browser::{Browser, CONNECT, Engine},
    journeys::{assert_receiving, bedside_pairing_code, log_in, pair_from_desk, relative_joins},
    location, spawn_app,
};
use visitas::domain::Role;

/// Browsers are heavy on two cores: one test at a time.
static ONE_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// The countdown before the bedside answers by itself, and some.
const ANSWER: Duration = Duration::from_secs(15);

/// A nurse of the ward "UCI", signed in on the app's own client, and a patient with a relative:
/// the patient's and the relative's ids.
async fn ward_with_patient(app: &TestApp) -> (String, String) {
    let nurse = app.create_staff(Role::Nurse, "nurse.ana").await;
    let ward = app.ward("UCI", "00:00-24:00").await;
    app.assign(&nurse, &ward).await;
    let login = app.login("nurse.ana").await;
    assert_eq!(login.status(), reqwest::StatusCode::SEE_OTHER);
    let registered = app.post_patient("Rosa Díaz", "UCI", "4", "").await;
    let patient = location(&registered)
        .trim_start_matches("/patients/")
        .to_string();
    let relative = app.authorise(&patient, "Marta", "es").await;
    (patient, relative)
}

async fn the_bedside_answers_by_itself_with_sound(engine: Engine) {
    let _turn = ONE_AT_A_TIME.lock().await;
    let app = spawn_app().await;
    let (patient, relative) = ward_with_patient(&app).await;

    // The tablet: one tap, then its pairing code.
    let bedside = Browser::start_as(engine).await;
    let code = bedside_pairing_code(&bedside, &app.base).await;

    // The nurse pairs it on the patient's page, from the ward's PC.
    let desk = Browser::start().await;
    log_in(&desk, &app, "nurse.ana").await;
    pair_from_desk(&desk, &app, &patient, &code).await;
    bedside
        .wait_for(
            "document.documentElement.dataset.bedsideScreen === 'idle' && /\\d/.test(document.querySelector('#clock').textContent)",
            Duration::from_secs(5),
            "the idle clock",
        )
        .await;
    let idle = bedside.text("#screen-idle").await;
    assert!(
        !idle.contains("Rosa"),
        "no patient name unless the ward allows it: {idle}"
    );

    // A visit now; the relative waits until the nurse admits them from the desk.
    let visit = app.visit_now_with(&patient, &[&relative], false).await;
    let card = app.card_of(&visit, &relative).await;
    desk.goto(&app.url("/desk")).await;
    let family = relative_joins(&app, &card.link, &card.code).await;
    family
        .wait_for(
            "document.documentElement.dataset.callState === 'waiting-room'",
            CONNECT,
            "the waiting room",
        )
        .await;
    desk.wait_for(
        "document.querySelector('[data-waiting-invite]')",
        Duration::from_secs(1),
        "the desk showing the waiting relative within 1 s",
    )
    .await;
    assert_eq!(
        bedside
            .eval("return document.documentElement.dataset.bedsideScreen")
            .await,
        "idle",
        "the bedside does not ring before the nurse admits"
    );
    desk.click("[data-admit]").await;

    // The bedside rings, counts down and answers by itself.
    bedside
        .wait_for(
            "document.documentElement.dataset.bedsideScreen === 'incoming'",
            Duration::from_secs(5),
            "the bedside ringing",
        )
        .await;
    bedside
        .wait_for(
            "document.documentElement.dataset.callState === 'connected'",
            ANSWER + CONNECT,
            "the bedside answering by itself",
        )
        .await;
    family
        .wait_for(
            "document.documentElement.dataset.callState === 'connected'",
            CONNECT,
            "the relative connected",
        )
        .await;
    assert_receiving(&bedside, 1, "bedside").await;
    assert_receiving(&family, 1, "relative").await;
    let stats = bedside.stats().await;
    assert_eq!(
        stats[0]["playing"], true,
        "the bedside plays the relative with sound, not paused or muted: {stats:?}"
    );
    assert!(
        bedside
            .eval("return document.querySelector('#unmute-audio').hidden")
            .await
            .as_bool()
            .unwrap_or(false),
        "no 'tap to hear' needed"
    );

    // The relative hangs up: the bedside, alone, returns to its clock by itself.
    family.click("#hangup").await;
    bedside
        .wait_for(
            "document.documentElement.dataset.bedsideScreen === 'idle'",
            Duration::from_secs(25),
            "the bedside back to idle after the others left",
        )
        .await;
    assert!(
        bedside
            .eval("return document.querySelectorAll('#remotes .tile').length === 0 && window.visitas.state.localStream === null")
            .await
            .as_bool()
            .unwrap_or(false),
        "nothing of the call is left: no tiles, camera released"
    );

    // They come back with one tap (admitted once, so straight in); the bedside answers again.
    family.click("#rejoin").await;
    bedside
        .wait_for(
            "document.documentElement.dataset.callState === 'connected' && document.documentElement.dataset.bedsideScreen === 'call'",
            ANSWER + CONNECT,
            "the bedside answering the returning relative",
        )
        .await;
    assert_ne!(
        family.call_state().await,
        "waiting-room",
        "not sent back to the waiting room"
    );

    // Unpaired mid-call: back to the pairing screen within 2 s.
    desk.goto(&app.url(&format!("/patients/{patient}"))).await;
    let clicked = Instant::now();
    desk.click("[data-unpair]").await;
    bedside
        .wait_for(
            "document.documentElement.dataset.bedsideScreen === 'pairing' && /^\\d{3} \\d{3}$/.test(document.querySelector('#pairing-code').textContent)",
            Duration::from_secs(2),
            "the pairing screen after unpairing",
        )
        .await;
    assert!(clicked.elapsed() < Duration::from_secs(3));
    family
        .wait_for(
            "document.documentElement.dataset.callState === 'waiting'",
            CONNECT,
            "the relative told the patient's side left",
        )
        .await;

    // The tablet opens no staff page.
    for path in ["/patients", "/rooms", "/admin/visits", "/visit-log"] {
        let status = bedside
            .eval_async(&format!(
                "const done = arguments[0]; fetch('{path}', {{ redirect: 'manual' }}).then(r => done(r.status), () => done(0));"
            ))
            .await;
        assert_eq!(status, 403, "{path}");
    }
    drop((bedside, desk, family));
    app.stop().await;
}

#[tokio::test]
async fn chromium_as_the_bedside_answers_by_itself_with_sound_after_only_the_pairing_tap() {
    the_bedside_answers_by_itself_with_sound(Engine::ChromiumDefaultAutoplay).await;
}

#[tokio::test]
async fn firefox_as_the_bedside_answers_by_itself_with_sound_after_only_the_pairing_tap() {
    the_bedside_answers_by_itself_with_sound(Engine::Firefox).await;
}
