//! End to end in real headless Chromium: separate browsers as separate devices, fake camera and
//! microphone, real WebRTC between them, and the frames counted on arrival.

mod helpers;

use std::time::Duration;

use chrono::Timelike;
use helpers::{
    browser::{Browser, CONNECT},
    journeys::{assert_receiving, log_in, relative_joins},
    spawn_app,
};
use serde_json::Value;
use visitas::domain::Role;

/// Chromium instances are heavy on two cores: one browser test at a time.
static ONE_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

#[tokio::test]
async fn a_nurse_schedules_a_visit_now_and_the_desk_follows_it_from_call_to_end() {
    let _turn = ONE_AT_A_TIME.lock().await;
    let app = spawn_app().await;
    let nurse_id = app.create_staff(Role::Nurse, "nurse.ana").await;
    let ward = app.ward("UCI", "00:00-24:00").await;
    app.assign(&nurse_id, &ward).await;
    let nurse = Browser::start().await;

    // The nurse: log in, register a patient, authorise a relative, start a visit now.
    log_in(&nurse, &app, "nurse.ana").await;
    nurse.goto(&app.url("/patients/new")).await;
    nurse
        .type_into("input[name=display_name]", "Manuel Ortega")
        .await;
    nurse.type_into("input[name=bed]", "12").await;
    nurse
        .click("form[action='/patients'] button[type=submit]")
        .await;
    nurse
        .wait_for(
            "/^\\/patients\\/[A-Za-z0-9_-]{22}$/.test(location.pathname)",
            CONNECT,
            "the patient page",
        )
        .await;
    nurse
        .type_into("#relatives input[name=display_name]", "Marta")
        .await;
    nurse
        .type_into("#relatives input[name=relationship]", "hija")
        .await;
    nurse
        .click("form[action$='/relatives'] button[type=submit]")
        .await;
    nurse
        .wait_for(
            "document.querySelector('[data-relative]')",
            CONNECT,
            "the authorised relative",
        )
        .await;
    nurse.click("a[href$='/visits/new']").await;
    nurse
        .wait_for(
            "document.querySelector('#visit-now')",
            CONNECT,
            "the schedule page",
        )
        .await;
    nurse.click("#visit-now input[name=relative]").await;
    nurse.click("#visit-now button[type=submit]").await;
    nurse
        .wait_for(
            "/^\\/visits\\/[A-Za-z0-9_-]{22}$/.test(location.pathname)",
            CONNECT,
            "the visit page",
        )
        .await;
    let visit_path = nurse
        .eval("return location.pathname")
        .await
        .as_str()
        .unwrap()
        .to_string();
    nurse.click("a[href*='/cards/']").await;
    nurse
        .wait_for(
            "document.querySelector('[data-invite-link]')",
            CONNECT,
            "the invite card",
        )
        .await;
    let link = nurse
        .eval("return document.querySelector('[data-invite-link]').dataset.inviteLink")
        .await;
    let code = nurse
        .eval("return document.querySelector('[data-invite-code]').dataset.inviteCode")
        .await;

    // The nurse's desk, on the ward's PC.
    let desk = Browser::start().await;
    log_in(&desk, &app, "nurse.ana").await;
    desk.goto(&app.url("/desk")).await;
    let row_state = "return document.querySelector('tr[data-visit]')?.dataset.state ?? ''";
    assert_eq!(
        desk.eval(row_state).await,
        "upcoming",
        "the desk lists the visit"
    );

    // The bedside side, opened by the nurse from the visit page.
    nurse.goto(&app.url(&visit_path)).await;
    nurse.click("#open-bedside").await;
    nurse
        .wait_for(
            "document.documentElement.dataset.callState === 'waiting'",
            CONNECT,
            "the bedside waiting",
        )
        .await;

    // The relative, on another device: the device check, then the waiting room.
    let relative = relative_joins(&app, link.as_str().unwrap(), code.as_str().unwrap()).await;
    relative
        .wait_for(
            "document.documentElement.dataset.callState === 'waiting-room'",
            CONNECT,
            "the relative in the waiting room",
        )
        .await;
    assert!(
        relative.text("#lobby").await.contains("Manuel"),
        "the waiting room says whom they visit"
    );
    desk.wait_for(
        "document.querySelector('[data-waiting-invite]')",
        Duration::from_secs(1),
        "the desk shows the waiting relative within 1 s, without a reload",
    )
    .await;
    let check = desk
        .eval("const c = document.querySelector('[data-check-camera]').dataset; return c.checkCamera + ' ' + c.checkMicrophone")
        .await;
    assert_eq!(check, "true true", "the desk shows the device check");
    assert_eq!(
        nurse.call_state().await,
        "waiting",
        "the bedside has nobody yet"
    );
    desk.click("[data-admit]").await;
    relative
        .wait_for(
            "document.documentElement.dataset.callState === 'connected'",
            CONNECT,
            "the relative connected after the nurse admitted them",
        )
        .await;
    desk.wait_for(
        "document.querySelector('tr[data-visit]')?.dataset.state === 'in-call'",
        Duration::from_secs(2),
        "the desk shows the visit in call within 2 s",
    )
    .await;
    assert!(
        desk.text("tr[data-visit] [data-in-call]")
            .await
            .contains("Marta"),
        "the desk says who is in the call"
    );

    for (browser, who) in [(&nurse, "bedside"), (&relative, "relative")] {
        browser
            .wait_for(
                "document.documentElement.dataset.callState === 'connected'",
                CONNECT,
                who,
            )
            .await;
        assert_receiving(browser, 1, who).await;
    }

    relative.click("#hangup").await;
    desk.wait_for(
        "document.querySelector('tr[data-visit]')?.dataset.state === 'ended'",
        Duration::from_secs(3),
        "the desk shows the visit ended",
    )
    .await;
    let duration = desk.text("tr[data-visit] [data-duration]").await;
    assert!(
        duration.contains(':'),
        "the desk shows how long it lasted: {duration:?}"
    );
    relative
        .wait_for(
            "document.documentElement.dataset.callState === 'ended'",
            CONNECT,
            "the relative's page ended",
        )
        .await;
    nurse
        .wait_for(
            "document.documentElement.dataset.callState === 'waiting'",
            CONNECT,
            "the bedside back to waiting",
        )
        .await;
    let notice = nurse.text("#notice").await;
    assert!(
        notice.contains("Marta"),
        "the bedside says who left: {notice:?}"
    );
    nurse.click("#hangup").await;
    nurse
        .wait_for(
            "document.documentElement.dataset.callState === 'ended'",
            CONNECT,
            "the bedside ended",
        )
        .await;

    let deadline = tokio::time::Instant::now() + CONNECT;
    loop {
        let rows: Vec<(String, String, i64, Option<i64>)> =
            visitas::sql!(&app.db(), |c| sqlx::query_as(
                "SELECT role, display_name, joined_at, left_at FROM visit_log ORDER BY id",
            )
            .fetch_all(&mut *c)
            .await)
            .unwrap();
        let patient = rows.iter().find(|r| r.0 == "patient");
        let relative = rows.iter().find(|r| r.0 == "relative");
        if let (Some(patient), Some(relative)) = (patient, relative)
            && patient.3.is_some()
            && relative.3.is_some()
        {
            assert_eq!(rows.len(), 2, "{rows:?}");
            assert_eq!(patient.1, "Manuel Ortega");
            assert_eq!(relative.1, "Marta");
            assert!(relative.3.unwrap() >= relative.2 && patient.3.unwrap() >= patient.2);
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "visit log: {rows:?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    drop(nurse);
    drop(relative);
    drop(desk);
    app.stop().await;
}

#[tokio::test]
async fn three_parties_each_receive_video_from_both_others() {
    let _turn = ONE_AT_A_TIME.lock().await;
    let app = spawn_app().await;
    let (_, room) = app.nurse_with_room("Lucía Gómez").await;
    let first = app.create_invite(&room, "Pablo").await;
    let second = app.create_invite(&room, "Sara").await;

    let bedside = Browser::start().await;
    log_in(&bedside, &app, "nurse.ana").await;
    bedside
        .goto(&app.url(&format!("/rooms/{room}/call?as=patient")))
        .await;
    bedside
        .wait_for(
            "document.documentElement.dataset.callState === 'waiting'",
            CONNECT,
            "the bedside",
        )
        .await;
    let pablo = relative_joins(&app, &first.link, &first.code).await;
    pablo
        .wait_for(
            "document.documentElement.dataset.callState === 'connected'",
            CONNECT,
            "Pablo connected",
        )
        .await;
    let sara = relative_joins(&app, &second.link, &second.code).await;

    for (browser, who) in [(&bedside, "bedside"), (&pablo, "Pablo"), (&sara, "Sara")] {
        assert_receiving(browser, 2, who).await;
    }
    let presence: Value = app.get("/rooms/presence").await.json().await.unwrap();
    let here = presence[&room].as_str().unwrap();
    assert!(
        here.contains("Pablo") && here.contains("Sara") && here.contains("Lucía"),
        "{here}"
    );

    // The call page's quality summary reaches Pablo's stay in the visit log (the page sends it
    // every 30 s and at hang-up; here at once): media went both ways, so both rates are above 0.
    pablo.eval("window.visitas.sendSummary()").await;
    let deadline = std::time::Instant::now() + CONNECT;
    loop {
        let (sent, received): (Option<i64>, Option<i64>) =
            visitas::sql!(&app.db(), |c| sqlx::query_as(
                "SELECT sent_kbps, received_kbps FROM visit_log WHERE display_name = 'Pablo'",
            )
            .fetch_one(&mut *c)
            .await)
            .unwrap();
        if sent.is_some_and(|k| k > 0) && received.is_some_and(|k| k > 0) {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "Pablo's summary: {sent:?} {received:?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    drop((bedside, pablo, sara));
    app.stop().await;
}

/// A nurse's room for Ramón Gil with its bedside page open in one Chromium, and Teresa, invited
/// to it, in the call from another, receiving video: the room, the bedside and the relative.
async fn bedside_and_relative_in_call(app: &helpers::TestApp) -> (String, Browser, Browser) {
    let (_, room) = app.nurse_with_room("Ramón Gil").await;
    let card = app.create_invite(&room, "Teresa").await;
    let bedside = Browser::start().await;
    log_in(&bedside, app, "nurse.ana").await;
    bedside
        .goto(&app.url(&format!("/rooms/{room}/call?as=patient")))
        .await;
    let relative = relative_joins(app, &card.link, &card.code).await;
    relative
        .wait_for(
            "document.documentElement.dataset.callState === 'connected'",
            CONNECT,
            "connected",
        )
        .await;
    assert_receiving(&relative, 1, "relative").await;
    (room, bedside, relative)
}

/// The nurse revokes the room's one invite; the relative's page has ended within 2 s.
async fn revoke_and_see_the_relative_out(app: &helpers::TestApp, room: &str, relative: &Browser) {
    let invite_id: String = app.scalar("SELECT id FROM invites").await;
    let revoked = app
        .post(&format!("/rooms/{room}/invites/{invite_id}/revoke"), &[])
        .await;
    assert_eq!(revoked.status(), reqwest::StatusCode::SEE_OTHER);
    relative
        .wait_for(
            "document.documentElement.dataset.callState === 'ended'",
            Duration::from_secs(2),
            "the relative dropped within 2 s",
        )
        .await;
}

#[tokio::test]
async fn revoking_the_invite_mid_call_drops_the_relative_within_two_seconds() {
    let _turn = ONE_AT_A_TIME.lock().await;
    let app = spawn_app().await;
    let (room, bedside, relative) = bedside_and_relative_in_call(&app).await;
    revoke_and_see_the_relative_out(&app, &room, &relative).await;
    let notice = relative.text("#notice").await;
    assert!(
        notice.contains("ha terminado la visita"),
        "the relative is told why, in Spanish: {notice:?}"
    );
    bedside
        .wait_for(
            "document.documentElement.dataset.callState === 'waiting'",
            CONNECT,
            "the bedside alone again",
        )
        .await;
    assert!(
        relative.stats().await.is_empty(),
        "no peer connection is left on the relative's side"
    );
    drop((bedside, relative));
    app.stop().await;
}

#[tokio::test]
async fn a_language_switch_mid_call_keeps_the_place_and_each_end_screen_fits_its_reason() {
    let _turn = ONE_AT_A_TIME.lock().await;
    let app = spawn_app().await;
    let (room, bedside, relative) = bedside_and_relative_in_call(&app).await;
    let connected = "document.documentElement.dataset.callState === 'connected'";
    // The call's timer runs.
    relative
        .wait_for(
            "!document.querySelector('#call-timer').hidden && /^0:0[1-9]$|^0:[1-5]\\d$/.test(document.querySelector('#call-timer').textContent)",
            Duration::from_secs(5),
            "the call timer counting",
        )
        .await;

    // The switch reloads the page in English; the relative is back in the call by itself, in
    // the same stay (one rejoin), not hung up.
    relative.click(".lang-switch button").await;
    relative
        .wait_for(
            &format!("document.documentElement.lang === 'en' && {connected}"),
            CONNECT,
            "back in the call, in English",
        )
        .await;
    assert_receiving(&relative, 1, "relative after the switch").await;
    assert_receiving(&bedside, 1, "bedside after the switch").await;
    let stays: Vec<(i64, Option<String>)> = visitas::sql!(&app.db(), |c| sqlx::query_as(
        "SELECT rejoins, end_reason FROM visit_log WHERE role = 'relative' ORDER BY id",
    )
    .fetch_all(&mut *c)
    .await)
    .unwrap();
    assert_eq!(stays, vec![(1, None)], "one open stay with one rejoin");

    // Hanging up: thanks, and joining again is offered.
    relative.click("#hangup").await;
    relative
        .wait_for(
            "document.documentElement.dataset.callState === 'ended'",
            CONNECT,
            "hung up",
        )
        .await;
    let ended = |css: &str| format!("return !document.querySelector('{css}').hidden");
    assert_eq!(relative.eval(&ended("#after")).await, true);
    assert_eq!(
        relative.eval(&ended("#rejoin")).await,
        true,
        "join again offered"
    );
    let notice = relative.text("#notice").await;
    assert!(notice.contains("Thank"), "thanked, in English: {notice:?}");

    // Joining again works; then the invite is revoked: told why, and no "join again" that
    // would fail.
    relative.click("#rejoin").await;
    relative.wait_for(connected, CONNECT, "joined again").await;
    revoke_and_see_the_relative_out(&app, &room, &relative).await;
    assert_eq!(
        relative.eval(&ended("#rejoin")).await,
        false,
        "no join again after being removed"
    );
    let notice = relative.text("#notice").await;
    assert!(
        !notice.is_empty() && !notice.contains("Thank"),
        "{notice:?}"
    );
    drop((bedside, relative));
    app.stop().await;
}

/// Makes the page's WebSockets silently drop the next `localStorage["drop-joins"]` `join` events,
/// as a server that never answers them would look.
const DROP_JOINS: &str = r#"(() => {
  const send = WebSocket.prototype.send;
  WebSocket.prototype.send = function (data) {
    const left = Number(localStorage.getItem("drop-joins") || 0);
    if (typeof data === "string" && /^42\d*\["join"/.test(data) && left > 0) {
      localStorage.setItem("drop-joins", String(left - 1));
      return;
    }
    return send.call(this, data);
  };
})();"#;

#[tokio::test]
async fn an_unanswered_join_is_retried_and_after_a_few_the_page_says_so() {
    let _turn = ONE_AT_A_TIME.lock().await;
    let app = spawn_app().await;
    let (_, room) = app.nurse_with_room("Julia Prieto").await;
    let card = app.create_invite(&room, "Marcos").await;
    let bedside = Browser::start().await;
    bedside.before_every_page(DROP_JOINS).await;
    log_in(&bedside, &app, "nurse.ana").await;
    let call = app.url(&format!("/rooms/{room}/call?as=patient"));

    // The first join is lost: the page tries again on a fresh connection and gets in.
    bedside
        .eval("localStorage.setItem('drop-joins', '1'); return true;")
        .await;
    bedside.goto(&call).await;
    bedside
        .wait_for(
            "document.documentElement.dataset.callState === 'waiting'",
            CONNECT,
            "the bedside in after a retry",
        )
        .await;
    assert_eq!(
        bedside
            .eval("return localStorage.getItem('drop-joins')")
            .await,
        "0",
        "a join was really dropped"
    );
    let relative = relative_joins(&app, &card.link, &card.code).await;
    assert_receiving(&bedside, 1, "bedside").await;
    assert_receiving(&relative, 1, "relative").await;
    drop(relative);

    // No join is ever answered: after a few tries the page stops and says why, in the browser's
    // language (English here).
    bedside
        .eval("localStorage.setItem('drop-joins', '99'); return true;")
        .await;
    bedside.goto(&call).await;
    bedside
        .wait_for(
            "document.documentElement.dataset.callState === 'ended'",
            CONNECT,
            "the bedside giving up",
        )
        .await;
    let notice = bedside.text("#notice").await;
    assert!(
        notice.starts_with("Could not join the visit: the server is not answering."),
        "{notice:?}"
    );
    assert!(
        bedside
            .eval("return !document.querySelector('#rejoin').closest('[hidden]')")
            .await
            == Value::Bool(true),
        "the page offers to join again"
    );
    drop(bedside);
    app.stop().await;
}

#[tokio::test]
async fn a_relative_early_sees_the_countdown_and_the_visit_opens_by_itself() {
    let _turn = ONE_AT_A_TIME.lock().await;
    // Links open one minute before the start; the hospital is where the machine is.
    let app = helpers::spawn_app_with(|c| c.invite_early_minutes = 1).await;
    let (patient, _room) = app.nurse_with_room("Rosa Díaz").await;
    let marta = app.authorise(&patient, "Marta", "es").await;
    // The first whole minute at least 75 s ahead: the window opens 15–75 s from now.
    let start = chrono::Local::now() + chrono::Duration::seconds(75 + 59);
    let start = start
        .with_second(0)
        .and_then(|t| t.with_nanosecond(0))
        .expect("a whole minute");
    let booked = app
        .post(
            &format!("/patients/{patient}/visits"),
            &[
                ("relative", marta.as_str()),
                ("date", &start.date_naive().to_string()),
                ("time", &start.format("%H:%M").to_string()),
                ("minutes", "30"),
            ],
        )
        .await;
    assert_eq!(
        booked.status(),
        reqwest::StatusCode::SEE_OTHER,
        "visit booked"
    );
    let visit = helpers::location(&booked)
        .trim_start_matches("/visits/")
        .to_string();
    let card = app.card_of(&visit, &marta).await;

    let relative = Browser::start().await;
    relative.goto(&card.link).await;
    relative
        .wait_for("document.querySelector('#code')", CONNECT, "the code form")
        .await;
    relative.type_into("#code", &card.code).await;
    relative.click("#code-submit").await;
    relative
        .wait_for(
            "document.querySelector('#visit-waiting') && /\\d\\d:\\d\\d:\\d\\d/.test(document.querySelector('#countdown').textContent)",
            CONNECT,
            "the countdown page",
        )
        .await;
    let when = relative.text("#visit-when").await;
    assert!(
        when.contains(&start.format("%H:%M").to_string()),
        "the visit's local time: {when:?}"
    );
    assert!(
        relative
            .eval("return document.querySelector('#join')")
            .await
            .is_null(),
        "no call before the window"
    );

    relative
        .wait_for(
            "document.querySelector('#join') && !document.querySelector('#join').disabled",
            Duration::from_secs(90),
            "the visit opening by itself",
        )
        .await;
    relative
        .wait_for(
            "document.querySelector('#preview').videoWidth > 0",
            CONNECT,
            "the camera preview",
        )
        .await;
    relative.click("#join").await;
    relative
        .wait_for(
            "document.documentElement.dataset.callState === 'waiting-room'",
            CONNECT,
            "in the waiting room until a nurse lets them in",
        )
        .await;

    // "Not now", chosen by the nurse, shows on their screen in their language (Spanish).
    let (invite,): (String,) = visitas::sql!(&app.db(), |c| sqlx::query_as(
        "SELECT id FROM invites WHERE visit_id = $1"
    )
    .bind(&visit)
    .fetch_one(&mut *c)
    .await)
    .unwrap();
    let told = app
        .post(
            &format!("/waiting/{invite}/not-now"),
            &[("message", "resting")],
        )
        .await;
    assert_eq!(told.status(), reqwest::StatusCode::SEE_OTHER);
    relative
        .wait_for(
            "document.querySelector('#lobby-message').dataset.message === 'resting'",
            CONNECT,
            "the nurse's message",
        )
        .await;
    assert_eq!(
        relative.text("#lobby-message").await,
        "El paciente está descansando. Le dejaremos pasar en cuanto despierte."
    );
    drop(relative);
    app.stop().await;
}
