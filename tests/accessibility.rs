//! Every page of the staff, relative and bedside flows, checked in the browser with axe-core:
//! no serious or critical violation (contrast on the dark call page included). And the call
//! controls: buttons with names a screen reader announces, reachable from the keyboard.

mod helpers;

use std::time::Duration;

use helpers::{
    browser::{Browser, CONNECT},
    journeys::{log_in, relative_reaches_check},
    location, spawn_app,
};
use visitas::domain::Role;

/// Browsers are heavy on two cores: one test at a time.
static ONE_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

#[tokio::test]
async fn every_page_of_the_three_flows_passes_axe() {
    if helpers::postgres::media_test_stands_down("the accessibility walk") {
        return;
    }
    let _turn = ONE_AT_A_TIME.lock().await;
    let app = spawn_app().await;
    let nurse = app.create_staff(Role::Nurse, "nurse.ana").await;
    app.create_staff(Role::Admin, "jefa.ana").await;
    let ward = app.ward("UCI", "00:00-24:00").await;
    app.assign(&nurse, &ward).await;
    assert_eq!(app.login("nurse.ana").await.status(), 303);
    let registered = app.post_patient("Rosa Díaz", "UCI", "4", "").await;
    let patient = location(&registered)
        .trim_start_matches("/patients/")
        .to_string();
    let relative = app.authorise(&patient, "Marta", "es").await;

    // The staff: the nurse's pages, then the administrator's.
    let staff = Browser::start().await;
    staff.goto(&app.url("/login")).await;
    staff.assert_accessible("login").await;
    log_in(&staff, &app, "nurse.ana").await;
    let visit = app.visit_now_with(&patient, &[&relative], false).await;
    let room: String = app.scalar("SELECT id FROM rooms").await;
    for path in [
        "/desk".to_string(),
        "/patients".into(),
        "/patients/new".into(),
        format!("/patients/{patient}"),
        format!("/patients/{patient}/visits/new"),
        format!("/visits/{visit}"),
        format!("/wards/{ward}/week"),
        "/rooms".into(),
        format!("/rooms/{room}"),
    ] {
        staff.goto(&app.url(&path)).await;
        staff.assert_accessible(&path).await;
    }
    staff.goto(&app.url(&format!("/visits/{visit}"))).await;
    staff.click("a[href*='/cards/']").await;
    staff
        .wait_for(
            "document.querySelector('[data-invite-link]')",
            CONNECT,
            "the card",
        )
        .await;
    staff.assert_accessible("the invite card").await;

    // The bedside tablet: its start and pairing screens, then idle.
    let bedside = Browser::start().await;
    bedside.goto(&app.url("/bedside")).await;
    bedside
        .wait_for(
            "document.querySelector('#start-device')",
            CONNECT,
            "the start screen",
        )
        .await;
    bedside.assert_accessible("bedside start").await;
    bedside.click("#start-device").await;
    bedside
        .wait_for(
            "/^\\d{3} \\d{3}$/.test(document.querySelector('#pairing-code').textContent)",
            CONNECT,
            "the pairing code",
        )
        .await;
    bedside.assert_accessible("bedside pairing").await;
    let code = bedside.text("#pairing-code").await;
    staff.goto(&app.url(&format!("/patients/{patient}"))).await;
    staff.type_into("#bedside input[name=code]", &code).await;
    staff.click("#bedside .pair-form button[type=submit]").await;
    bedside
        .wait_for(
            "document.documentElement.dataset.bedsideScreen === 'idle'",
            CONNECT,
            "the idle clock",
        )
        .await;
    bedside.assert_accessible("bedside idle").await;

    // The relative: the code page, the device check, the waiting room, the call, the end.
    let card = app.card_of(&visit, &relative).await;
    let family = Browser::start().await;
    family.goto(&card.link).await;
    family
        .wait_for("document.querySelector('#code')", CONNECT, "the code page")
        .await;
    family.assert_accessible("the code page").await;
    relative_reaches_check(&family, &app.base, &card.link, &card.code).await;
    family.assert_accessible("the device check").await;
    family.click("#join").await;
    family
        .wait_for(
            "document.documentElement.dataset.callState === 'waiting-room'",
            CONNECT,
            "the waiting room",
        )
        .await;
    family.assert_accessible("the waiting room").await;
    staff.goto(&app.url("/desk")).await;
    staff
        .wait_for(
            "document.querySelector('[data-admit]')",
            CONNECT,
            "the desk's waiting relative",
        )
        .await;
    staff
        .assert_accessible("the desk with someone waiting")
        .await;
    staff.click("[data-admit]").await;
    for (browser, who) in [(&family, "relative"), (&bedside, "bedside")] {
        browser
            .wait_for(
                "document.documentElement.dataset.callState === 'connected'",
                Duration::from_secs(15) + CONNECT,
                who,
            )
            .await;
    }
    family.assert_accessible("the relative's call").await;
    bedside.assert_accessible("the bedside's call").await;

    // The controls: named buttons, in the keyboard's tab order, that a key press works.
    let names = family
        .eval(
            "return [...document.querySelectorAll('.controls button:not([hidden])')].map((b) => [b.id, b.textContent.trim(), b.tabIndex])",
        )
        .await;
    for control in names.as_array().cloned().unwrap_or_default() {
        assert!(
            control[1].as_str().is_some_and(|name| !name.is_empty()) && control[2] == 0,
            "a named, focusable control: {control}"
        );
    }
    family
        .eval("document.querySelector('#mute').focus(); return true;")
        .await;
    family.press_enter().await;
    assert_eq!(
        family
            .eval("return document.querySelector('#mute').getAttribute('aria-pressed')")
            .await,
        "true",
        "Enter on the focused microphone button mutes"
    );

    family.click("#hangup").await;
    family
        .wait_for(
            "document.documentElement.dataset.callState === 'ended'",
            CONNECT,
            "the end screen",
        )
        .await;
    family.assert_accessible("the relative's end screen").await;

    // The administrator's pages.
    staff.goto(&app.url("/desk")).await;
    staff
        .click("form[action='/logout'] button[type=submit]")
        .await;
    log_in(&staff, &app, "jefa.ana").await;
    let (visit, room, patient): (String, String, String) =
        visitas::sql!(&app.db(), |c| sqlx::query_as(
            "SELECT id, room_id, patient_id FROM visits LIMIT 1"
        )
        .fetch_one(&mut *c)
        .await)
        .expect("a visit");
    let (nurse,): (String,) = visitas::sql!(&app.db(), |c| sqlx::query_as(
        "SELECT id FROM staff WHERE role = 'nurse' LIMIT 1"
    )
    .fetch_one(&mut *c)
    .await)
    .expect("a nurse");
    let (ward, relative, invite): (String, String, String) = visitas::sql!(&app.db(), |c| {
        sqlx::query_as(
            "SELECT v.ward_id, i.relative_id, i.id FROM visits v JOIN invites i ON i.visit_id = v.id
             WHERE v.id = $1 LIMIT 1"
        )
        .bind(&visit)
        .fetch_one(&mut *c)
        .await
    })
    .expect("the visit's ward and invite");
    for path in [
        format!("/admin/wards/{ward}"),
        format!("/patients/{patient}/edit"),
        format!("/patients/{patient}/relatives/{relative}/withdraw"),
        format!("/rooms/{room}/invites/{invite}/revoke"),
        "/patients/p000000000000000000000".to_string(),
        format!("/admin/staff/{nurse}"),
        format!("/admin/staff/{nurse}/deactivate"),
        "/account/password".to_string(),
        format!("/patients/{patient}/discharge"),
        format!("/rooms/{room}/close"),
        format!("/visits/{visit}/cancel"),
        "/visit-log".to_string(),
        format!("/visit-log/{visit}"),
        "/visit-log/stats".to_string(),
        "/admin/audit".to_string(),
        "/admin/wards".to_string(),
        "/admin/staff".to_string(),
    ] {
        staff.goto(&app.url(&path)).await;
        staff.assert_accessible(&path).await;
    }
    drop((staff, bedside, family));
    app.stop().await;
}
