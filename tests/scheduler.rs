//! The visit scheduler against the real server and a real SQLite file: visiting hours, every
//! scheduling rule, repeats, date exceptions, clock changes, invite windows, wards and who may see
//! them, and bad input on every form.

mod helpers;

use std::time::Duration;

use chrono::{Datelike, NaiveDate, TimeZone};
use helpers::{TestApp, new_client, socket::with_ticket, spawn_app_with, text};
use reqwest::{Response, StatusCode};
use visitas::domain::{HospitalZone, Role};

const MADRID: chrono_tz::Tz = chrono_tz::Europe::Madrid;

/// A server whose hospital is in Madrid.
async fn madrid_app() -> TestApp {
    spawn_app_with(|c| c.time_zone = HospitalZone::parse("Europe/Madrid")).await
}

/// What most tests start from: a nurse of one ward, a patient there and an authorised relative.
struct Ward {
    ward: String,
    nurse: String,
    patient: String,
    relative: String,
}

/// A nurse signed in, working in a ward with `hours` every day (at most `max` video visits at
/// once), with a patient and an authorised relative.
async fn ward_with(app: &TestApp, hours: &str, max: i64) -> Ward {
    let nurse = app.create_staff(Role::Nurse, "nurse.ana").await;
    let ward = app.ward_with("Medicina Interna", hours, max).await;
    app.assign(&nurse, &ward).await;
    assert_eq!(app.login("nurse.ana").await.status(), StatusCode::SEE_OTHER);
    let patient = patient_in(app, "María López", "Medicina Interna").await;
    let relative = app.authorise(&patient, "Lucía", "es").await;
    Ward {
        ward,
        nurse,
        patient,
        relative,
    }
}

async fn patient_in(app: &TestApp, name: &str, ward: &str) -> String {
    let response = app.post_patient(name, ward, "12", "").await;
    assert_eq!(
        response.status(),
        StatusCode::SEE_OTHER,
        "patient registered"
    );
    helpers::location(&response)
        .trim_start_matches("/patients/")
        .to_string()
}

/// A date some days ahead in Madrid.
fn madrid_day(days_ahead: i64) -> NaiveDate {
    chrono::Utc::now().with_timezone(&MADRID).date_naive() + chrono::Duration::days(days_ahead)
}

/// Submits the schedule form.
async fn schedule(
    app: &TestApp,
    patient: &str,
    relatives: &[&str],
    date: &str,
    time: &str,
    minutes: &str,
    extra: &[(&str, &str)],
) -> Response {
    let mut fields: Vec<(&str, &str)> = relatives.iter().map(|r| ("relative", *r)).collect();
    fields.extend([("date", date), ("time", time), ("minutes", minutes)]);
    fields.extend_from_slice(extra);
    app.post(&format!("/patients/{patient}/visits"), &fields)
        .await
}

/// Submits the schedule form for the fixture's relative, whatever the answer.
async fn try_book(app: &TestApp, w: &Ward, date: NaiveDate, time: &str, minutes: &str) -> Response {
    schedule(
        app,
        &w.patient,
        &[&w.relative],
        &date.to_string(),
        time,
        minutes,
        &[],
    )
    .await
}

/// Books one visit that must be accepted; its id.
async fn book(app: &TestApp, w: &Ward, date: NaiveDate, time: &str, minutes: &str) -> String {
    let response = try_book(app, w, date, time, minutes).await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER, "visit booked");
    helpers::location(&response)
        .trim_start_matches("/visits/")
        .to_string()
}

/// The message of a refused form.
async fn refusal(response: Response) -> String {
    let page = text(response).await;
    let start = page.find("data-refusal>").expect("a refusal message") + "data-refusal>".len();
    let end = page[start..].find('<').expect("the message ends");
    page[start..start + end].to_string()
}

fn madrid_utc(date: NaiveDate, h: u32, m: u32) -> i64 {
    MADRID
        .from_local_datetime(&date.and_hms_opt(h, m, 0).expect("a time of day"))
        .earliest()
        .expect("a time that exists in Madrid")
        .timestamp()
}

#[tokio::test]
async fn a_visit_inside_visiting_hours_is_booked_with_an_invite_for_each_relative() {
    let app = madrid_app().await;
    let w = ward_with(&app, "11:00-13:00, 17:00-20:00", 4).await;
    let brother = app.authorise(&w.patient, "Pedro", "en").await;
    let day = madrid_day(2);

    let response = schedule(
        &app,
        &w.patient,
        &[&w.relative, &brother],
        &day.to_string(),
        "17:30",
        "45",
        &[],
    )
    .await;

    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    let (starts, ends): (i64, i64) = visitas::sql!(&app.db(), |c| sqlx::query_as(
        "SELECT starts_at, ends_at FROM visits"
    )
    .fetch_one(&mut *c)
    .await)
    .unwrap();
    assert_eq!(starts, madrid_utc(day, 17, 30), "stored in UTC");
    assert_eq!(ends - starts, 45 * 60);
    let windows: Vec<(i64, i64)> = visitas::sql!(&app.db(), |c| sqlx::query_as(
        "SELECT opens_at, expires_at FROM invites"
    )
    .fetch_all(&mut *c)
    .await)
    .unwrap();
    assert_eq!(windows.len(), 2, "one invite per relative");
    for (opens, expires) in windows {
        assert_eq!(opens, starts - 15 * 60, "opens 15 minutes before");
        assert_eq!(expires, ends, "ends with the visit");
    }
    let audit: i64 = app
        .scalar("SELECT COUNT(*) FROM audit_events WHERE action = 'visit.schedule'")
        .await;
    assert_eq!(audit, 1);
}

#[tokio::test]
async fn a_visit_outside_visiting_hours_is_refused_and_the_form_kept_as_typed() {
    let app = madrid_app().await;
    let w = ward_with(&app, "11:00-13:00, 17:00-20:00", 4).await;
    let day = madrid_day(2);

    let response = try_book(&app, &w, day, "14:15", "30").await;

    assert_eq!(response.status(), StatusCode::CONFLICT);
    let page = text(response).await;
    assert!(page.contains("fuera del horario de visitas"), "says why");
    assert!(page.contains("value=\"14:15\""), "the time kept as typed");
    assert!(page.contains(&format!("value=\"{day}\"")), "the date too");
    assert!(page.contains("checked"), "the relative stays chosen");
    assert_eq!(app.count("visits").await, 0);
    assert_eq!(app.count("invites").await, 0);
}

#[tokio::test]
async fn an_override_books_outside_hours_and_is_audited_and_marked_on_the_desk() {
    let app = madrid_app().await;
    let w = ward_with(&app, "11:00-13:00", 4).await;
    let day = madrid_day(1);
    // Late at night, outside the hours, for a dying patient.
    let response = schedule(
        &app,
        &w.patient,
        &[&w.relative],
        &day.to_string(),
        "23:00",
        "30",
        &[("override_reason", "end-of-life")],
    )
    .await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);

    let other_without_text = schedule(
        &app,
        &w.patient,
        &[&w.relative],
        &madrid_day(2).to_string(),
        "22:00",
        "30",
        &[("override_reason", "other")],
    )
    .await;
    assert_eq!(
        other_without_text.status(),
        StatusCode::BAD_REQUEST,
        "\"other\" needs its explanation"
    );

    let (reason,): (String,) = visitas::sql!(&app.db(), |c| sqlx::query_as(
        "SELECT override_reason FROM visits"
    )
    .fetch_one(&mut *c)
    .await)
    .unwrap();
    assert_eq!(reason, "end-of-life");
    let (detail,): (String,) = visitas::sql!(&app.db(), |c| sqlx::query_as(
        "SELECT detail FROM audit_events WHERE action = 'visit.schedule_override'"
    )
    .fetch_one(&mut *c)
    .await)
    .unwrap();
    assert_eq!(detail, "end-of-life");
    let desk = text(app.get(&format!("/desk?date={day}")).await).await;
    assert!(
        desk.contains("badge override"),
        "the desk marks the override"
    );
}

#[tokio::test]
async fn two_visits_of_one_patient_may_not_overlap() {
    let app = madrid_app().await;
    let w = ward_with(&app, "11:00-20:00", 4).await;
    let day = madrid_day(3);
    book(&app, &w, day, "12:00", "60").await;

    let response = try_book(&app, &w, day, "12:30", "30").await;

    assert_eq!(response.status(), StatusCode::CONFLICT);
    let message = refusal(response).await;
    assert!(
        message.contains("ya tiene otra visita") && message.contains("12:00"),
        "{message}"
    );
    assert_eq!(app.count("visits").await, 1);
    // Back to back is fine.
    book(&app, &w, day, "13:00", "30").await;
}

#[tokio::test]
async fn a_ward_runs_no_more_video_visits_at_once_than_it_allows() {
    let app = madrid_app().await;
    let w = ward_with(&app, "11:00-20:00", 1).await;
    let day = madrid_day(3);
    book(&app, &w, day, "12:00", "60").await;
    let other = patient_in(&app, "Jorge Pérez", "Medicina Interna").await;
    let his_son = app.authorise(&other, "Iván", "es").await;

    let response = schedule(
        &app,
        &other,
        &[&his_son],
        &day.to_string(),
        "12:30",
        "30",
        &[],
    )
    .await;

    assert_eq!(response.status(), StatusCode::CONFLICT);
    assert!(refusal(response).await.contains("1 videovisita a esa hora"));
    assert_eq!(app.count("visits").await, 1);
    let later = schedule(
        &app,
        &other,
        &[&his_son],
        &day.to_string(),
        "13:00",
        "30",
        &[],
    )
    .await;
    assert_eq!(
        later.status(),
        StatusCode::SEE_OTHER,
        "after the first ends"
    );
}

#[tokio::test]
async fn a_time_in_the_past_is_refused() {
    let app = madrid_app().await;
    let w = ward_with(&app, "00:00-24:00", 4).await;

    let response = try_book(&app, &w, madrid_day(-1), "12:00", "30").await;

    assert_eq!(response.status(), StatusCode::CONFLICT);
    assert!(refusal(response).await.contains("ya ha pasado"));
    assert_eq!(app.count("visits").await, 0);
}

#[tokio::test]
async fn a_discharged_patient_gets_no_visits_and_their_booked_ones_are_cancelled() {
    let app = madrid_app().await;
    let w = ward_with(&app, "11:00-20:00", 4).await;
    book(&app, &w, madrid_day(2), "12:00", "30").await;
    app.post(&format!("/patients/{}/discharge", w.patient), &[])
        .await;

    let response = try_book(&app, &w, madrid_day(3), "12:00", "30").await;

    assert_eq!(response.status(), StatusCode::CONFLICT);
    assert!(refusal(response).await.contains("dado de alta"));
    let cancelled: i64 = app
        .scalar("SELECT COUNT(*) FROM visits WHERE cancel_reason = 'discharged'")
        .await;
    assert_eq!(
        cancelled, 1,
        "the booked visit was cancelled with the discharge"
    );
    assert_eq!(app.count("visits").await, 1);
}

#[tokio::test]
async fn a_patient_marked_no_visits_refuses_scheduling_with_the_reason() {
    let app = madrid_app().await;
    let w = ward_with(&app, "11:00-20:00", 4).await;
    let set = app
        .post(
            &format!("/patients/{}/no-visits", w.patient),
            &[("reason", "Aislamiento por gripe")],
        )
        .await;
    assert_eq!(set.status(), StatusCode::SEE_OTHER);

    let response = try_book(&app, &w, madrid_day(2), "12:00", "30").await;

    assert_eq!(response.status(), StatusCode::CONFLICT);
    assert!(refusal(response).await.contains("Aislamiento por gripe"));
    assert_eq!(app.count("visits").await, 0);
    app.post(
        &format!("/patients/{}/no-visits", w.patient),
        &[("clear", "1")],
    )
    .await;
    book(&app, &w, madrid_day(2), "12:00", "30").await;
    let audit: i64 = app
        .scalar(
            "SELECT COUNT(*) FROM audit_events
             WHERE action IN ('patient.no_visits', 'patient.visits_allowed')",
        )
        .await;
    assert_eq!(audit, 2);
}

#[tokio::test]
async fn a_withdrawn_relative_cannot_be_scheduled() {
    let app = madrid_app().await;
    let w = ward_with(&app, "11:00-20:00", 4).await;
    app.post(
        &format!("/patients/{}/relatives/{}/withdraw", w.patient, w.relative),
        &[],
    )
    .await;

    let response = try_book(&app, &w, madrid_day(2), "12:00", "30").await;

    assert_eq!(response.status(), StatusCode::CONFLICT);
    assert!(refusal(response).await.contains("Lucía"));
    assert_eq!(app.count("visits").await, 0);
}

#[tokio::test]
async fn withdrawing_a_relative_cancels_their_visits_and_ends_their_call_within_two_seconds() {
    let app = madrid_app().await;
    let w = ward_with(&app, "00:00-24:00", 4).await;
    let future = book(&app, &w, madrid_day(3), "12:00", "30").await;
    let _ = future;
    let now = app.visit_now(&w.patient, &[&w.relative]).await;
    let card = app.card_of(&now, &w.relative).await;
    let (device, _) = app.admitted_relative(&card).await;
    let ticket = app.ticket_with(&device, "/visit/ticket").await;
    let mut call = with_ticket(&app, &ticket, None).await;
    call.call("join").await.expect("joined");

    app.post(
        &format!("/patients/{}/relatives/{}/withdraw", w.patient, w.relative),
        &[],
    )
    .await;

    let ended = call
        .expect_event("ended", Duration::from_secs(2))
        .await
        .expect("removed within 2 s");
    assert_eq!(ended["reason"], "revoked");
    let cancelled: i64 = app
        .scalar("SELECT COUNT(*) FROM visits WHERE cancel_reason = 'relative-withdrawn'")
        .await;
    assert_eq!(cancelled, 2, "both visits had only this relative");
    let live: i64 = app
        .scalar("SELECT COUNT(*) FROM invites WHERE revoked_at IS NULL")
        .await;
    assert_eq!(live, 0, "every invite revoked");
    let again = app.get_with(&device, "/visit/ticket").await;
    assert_eq!(again.status(), StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn a_repeat_books_each_day_alone_and_lists_the_days_it_could_not_book() {
    let app = madrid_app().await;
    let w = ward_with(&app, "11:00-20:00", 4).await;
    let first = madrid_day(2);
    // Another visit already takes the third day at that time.
    book(&app, &w, first + chrono::Duration::days(2), "16:00", "60").await;

    let response = schedule(
        &app,
        &w.patient,
        &[&w.relative],
        &first.to_string(),
        "16:30",
        "30",
        &[
            ("repeat", "daily"),
            ("until", &(first + chrono::Duration::days(4)).to_string()),
        ],
    )
    .await;

    assert_eq!(response.status(), StatusCode::OK);
    let page = text(response).await;
    assert!(page.contains("Se programaron 4 visitas."), "{page}");
    let refused_day = first + chrono::Duration::days(2);
    assert!(
        page.contains(&format!("data-refused-day=\"{refused_day}\"")),
        "the refused day is listed"
    );
    assert!(page.contains("ya tiene otra visita"), "with why");
    let series: i64 = app
        .scalar("SELECT COUNT(DISTINCT series_id) FROM visits WHERE series_id IS NOT NULL")
        .await;
    assert_eq!(series, 1);
    assert_eq!(app.count("visits").await, 5);
    // Each day changes alone.
    let (one,): (String,) = visitas::sql!(&app.db(), |c| sqlx::query_as(
        "SELECT id FROM visits WHERE series_id IS NOT NULL ORDER BY starts_at LIMIT 1",
    )
    .fetch_one(&mut *c)
    .await)
    .unwrap();
    let cancelled = app
        .post(&format!("/visits/{one}/cancel"), &[("reason", "Prueba")])
        .await;
    assert_eq!(cancelled.status(), StatusCode::SEE_OTHER);
    let still: i64 = app
        .scalar("SELECT COUNT(*) FROM visits WHERE series_id IS NOT NULL AND cancelled_at IS NULL")
        .await;
    assert_eq!(still, 3);
}

#[tokio::test]
async fn chosen_weekdays_repeat_only_on_those_days() {
    let app = madrid_app().await;
    let w = ward_with(&app, "11:00-20:00", 4).await;
    let first = madrid_day(1);
    let weekday = first.weekday().num_days_from_monday().to_string();

    let response = schedule(
        &app,
        &w.patient,
        &[&w.relative],
        &first.to_string(),
        "12:00",
        "30",
        &[
            ("repeat", "weekdays"),
            ("day", &weekday),
            ("until", &(first + chrono::Duration::days(20)).to_string()),
        ],
    )
    .await;

    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(
        app.count("visits").await,
        3,
        "the same weekday for three weeks"
    );
}

#[tokio::test]
async fn a_date_exception_closing_the_ward_refuses_that_day_and_lists_booked_visits() {
    let app = madrid_app().await;
    let w = ward_with(&app, "11:00-20:00", 4).await;
    let closed_day = madrid_day(4);
    let booked = book(&app, &w, closed_day, "12:00", "30").await;
    app.create_staff(Role::Admin, "jefa.ana").await;
    let (admin_client, admin_jar) = new_client();
    app.login_with(&admin_client, &admin_jar, "jefa.ana", helpers::PASSWORD)
        .await;

    let added = app
        .post_with(
            &admin_client,
            &admin_jar,
            &format!("/admin/wards/{}/exceptions", w.ward),
            &[
                ("first_day", &closed_day.to_string()),
                ("hours", ""),
                ("reason", "Desinfección"),
            ],
        )
        .await;
    assert_eq!(added.status(), StatusCode::SEE_OTHER);

    let ward_page = text(
        app.get_with(&admin_client, &format!("/admin/wards/{}", w.ward))
            .await,
    )
    .await;
    assert!(
        ward_page.contains(&format!("data-misfit=\"{booked}\"")),
        "the booked visit that no longer fits is listed"
    );
    let desk = text(app.get("/desk").await).await;
    assert!(
        desk.contains(&format!("data-misfit=\"{booked}\"")),
        "and on the nurse's desk, to move it or keep it with an override"
    );
    let response = try_book(&app, &w, closed_day, "15:00", "30").await;
    assert_eq!(response.status(), StatusCode::CONFLICT);
    assert!(refusal(response).await.contains("fuera del horario"));
    let next_day = try_book(
        &app,
        &w,
        closed_day + chrono::Duration::days(1),
        "15:00",
        "30",
    )
    .await;
    assert_eq!(next_day.status(), StatusCode::SEE_OTHER, "only that day");
    // Kept with an override, the visit stops being listed.
    let kept = app
        .post(
            &format!("/visits/{booked}/reschedule"),
            &[
                ("date", &closed_day.to_string()),
                ("time", "12:00"),
                ("minutes", "30"),
                ("override_reason", "clinical"),
            ],
        )
        .await;
    assert_eq!(kept.status(), StatusCode::SEE_OTHER);
    let ward_page = text(
        app.get_with(&admin_client, &format!("/admin/wards/{}", w.ward))
            .await,
    )
    .await;
    assert!(!ward_page.contains(&format!("data-misfit=\"{booked}\"")));
    let desk = text(app.get("/desk").await).await;
    assert!(!desk.contains(&format!("data-misfit=\"{booked}\"")));
}

/// The next date, at least a week ahead, on which Madrid's clocks change in `month` (March or
/// October: the last Sunday).
fn next_clock_change(month: u32) -> NaiveDate {
    let today = madrid_day(7);
    let mut year = today.year();
    loop {
        let last = NaiveDate::from_ymd_opt(year, month + 1, 1).expect("a month")
            - chrono::Duration::days(1);
        let sunday =
            last - chrono::Duration::days(i64::from(last.weekday().num_days_from_sunday()));
        if sunday > today {
            return sunday;
        }
        year += 1;
    }
}

#[tokio::test]
async fn visits_on_the_days_clocks_change_keep_their_wall_clock_times() {
    let app = madrid_app().await;
    let w = ward_with(&app, "00:00-24:00", 4).await;
    for month in [3, 10] {
        let change = next_clock_change(month);
        let before = change - chrono::Duration::days(1);

        // 16:00 every day across the change: one visit a day, each at 16:00 Madrid time.
        let response = schedule(
            &app,
            &w.patient,
            &[&w.relative],
            &before.to_string(),
            "16:00",
            "30",
            &[
                ("repeat", "daily"),
                ("until", &(change + chrono::Duration::days(1)).to_string()),
            ],
        )
        .await;
        assert_eq!(response.status(), StatusCode::OK, "month {month}");
        for day in [before, change, change + chrono::Duration::days(1)] {
            let at = madrid_utc(day, 16, 0);
            let found: i64 = visitas::sql!(&app.db(), |c| sqlx::query_as::<_, (i64,)>(
                "SELECT COUNT(*) FROM visits WHERE starts_at = $1"
            )
            .bind(at)
            .fetch_one(&mut *c)
            .await)
            .unwrap()
            .0;
            assert_eq!(found, 1, "one visit at 16:00 on {day}");
            let desk = text(app.get(&format!("/desk?date={day}")).await).await;
            assert_eq!(
                desk.matches("data-visit=").count(),
                1,
                "the desk of {day} lists it once"
            );
            assert!(desk.contains("16:00–16:30"), "shown at 16:00 on {day}");
        }
    }
    // 02:30 does not exist the night clocks go forward.
    let spring = next_clock_change(3);
    let response = try_book(&app, &w, spring, "02:30", "30").await;
    assert_eq!(response.status(), StatusCode::CONFLICT);
    assert!(refusal(response).await.contains("no existe"));
    // 02:30 happens twice the night they go back: the first one is booked.
    let autumn = next_clock_change(10);
    book(&app, &w, autumn, "02:30", "30").await;
    let first_half_past_two = MADRID
        .from_local_datetime(&autumn.and_hms_opt(2, 30, 0).unwrap())
        .earliest()
        .unwrap()
        .timestamp();
    let found: i64 = visitas::sql!(&app.db(), |c| sqlx::query_as::<_, (i64,)>(
        "SELECT COUNT(*) FROM visits WHERE starts_at = $1"
    )
    .bind(first_half_past_two)
    .fetch_one(&mut *c)
    .await)
    .unwrap()
    .0;
    assert_eq!(found, 1);
}

#[tokio::test]
async fn the_hospital_s_zone_rules_even_when_the_machine_is_elsewhere() {
    // The machine runs in UTC (or anywhere); the hospital is in Auckland.
    let app = spawn_app_with(|c| c.time_zone = HospitalZone::parse("Pacific/Auckland")).await;
    let w = ward_with(&app, "11:00-13:00", 4).await;
    let auckland = chrono_tz::Pacific::Auckland;
    let day = chrono::Utc::now().with_timezone(&auckland).date_naive() + chrono::Duration::days(2);

    book(&app, &w, day, "11:30", "30").await;

    let (starts,): (i64,) = visitas::sql!(&app.db(), |c| sqlx::query_as(
        "SELECT starts_at FROM visits"
    )
    .fetch_one(&mut *c)
    .await)
    .unwrap();
    let expected = auckland
        .from_local_datetime(&day.and_hms_opt(11, 30, 0).unwrap())
        .earliest()
        .unwrap()
        .timestamp();
    assert_eq!(starts, expected);
    let desk = text(app.get(&format!("/desk?date={day}")).await).await;
    assert!(desk.contains("11:30–12:00"), "shown in Auckland's time");
}

#[tokio::test]
async fn a_window_across_midnight_takes_visits_on_both_sides() {
    let app = madrid_app().await;
    let w = ward_with(&app, "22:00-02:00", 4).await;
    let day = madrid_day(2);

    book(&app, &w, day, "23:30", "60").await;
    let after = try_book(&app, &w, day + chrono::Duration::days(1), "01:45", "30").await;

    assert_eq!(after.status(), StatusCode::CONFLICT, "past 02:00");
    let early = try_book(&app, &w, day + chrono::Duration::days(1), "01:00", "30").await;
    assert_eq!(
        early.status(),
        StatusCode::SEE_OTHER,
        "01:00 is still in the night's window"
    );
}

#[tokio::test]
async fn bad_input_on_the_schedule_form_is_refused_in_the_nurse_s_language_and_stores_nothing() {
    let app = madrid_app().await;
    let w = ward_with(&app, "11:00-20:00", 4).await;
    let day = madrid_day(2).to_string();
    let nines = "9".repeat(40);
    let cases: Vec<(Vec<(&str, &str)>, &str)> = vec![
        (
            vec![("date", ""), ("time", "12:00"), ("minutes", "30")],
            "Este campo es obligatorio.",
        ),
        (
            vec![("date", "2026-02-30"), ("time", "12:00"), ("minutes", "30")],
            "fecha válida",
        ),
        (
            vec![("date", &day), ("time", "25:00"), ("minutes", "30")],
            "hora válida",
        ),
        (
            vec![("date", &day), ("time", "12:00"), ("minutes", "0")],
            "entre 5 y 480",
        ),
        (
            vec![("date", &day), ("time", "12:00"), ("minutes", &nines)],
            "entre 5 y 480",
        ),
        (
            vec![
                ("date", &day),
                ("time", "12:00"),
                ("minutes", "30"),
                ("repeat", "daily"),
                ("until", "2020-01-01"),
            ],
            "no puede ser anterior",
        ),
        (
            vec![
                ("date", &day),
                ("time", "12:00"),
                ("minutes", "30"),
                ("override_reason", "other"),
            ],
            "Este campo es obligatorio.",
        ),
    ];
    for (fields, message) in cases {
        let mut all = vec![("relative", w.relative.as_str())];
        all.extend(fields.iter().copied());
        let response = app
            .post(&format!("/patients/{}/visits", w.patient), &all)
            .await;
        assert_eq!(response.status(), StatusCode::BAD_REQUEST, "{fields:?}");
        assert!(text(response).await.contains(message), "{message}");
    }
    let none = schedule(&app, &w.patient, &[], &day, "12:00", "30", &[]).await;
    assert_eq!(none.status(), StatusCode::BAD_REQUEST, "no relative chosen");
    // A relative of another patient: as if it did not exist.
    let other = patient_in(&app, "Otro Paciente", "Medicina Interna").await;
    let stranger = app.authorise(&other, "Extraño", "es").await;
    let response = schedule(&app, &w.patient, &[&stranger], &day, "12:00", "30", &[]).await;
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
    assert_eq!(app.count("visits").await, 0);
    assert_eq!(app.count("invites").await, 0);
    // In English for an English-speaking nurse.
    app.post("/lang", &[("lang", "en"), ("back", "/")]).await;
    let response = schedule(&app, &w.patient, &[&w.relative], "", "12:00", "30", &[]).await;
    assert!(text(response).await.contains("This field is required."));
}

#[tokio::test]
async fn bad_input_on_the_ward_forms_is_refused_and_stores_nothing() {
    let app = madrid_app().await;
    app.create_staff(Role::Admin, "jefa.ana").await;
    app.login("jefa.ana").await;
    let good = |name: &'static str| {
        vec![
            ("name", name),
            ("default_minutes", "30"),
            ("max_minutes", "60"),
            ("max_video_visits", "4"),
            ("hours_0", "11:00-13:00, 17:00-20:00"),
        ]
    };
    let created = app.post("/admin/wards", &good("Cardiología")).await;
    assert_eq!(created.status(), StatusCode::SEE_OTHER);
    let ward = helpers::location(&created)
        .trim_start_matches("/admin/wards/")
        .to_string();
    let wards_before = app.count("wards").await;

    let mut empty = good("");
    empty[0] = ("name", " ");
    let mut bad_hours = good("Neumología");
    bad_hours[4] = ("hours_0", "11 a 13");
    let mut overlapping = good("Neumología");
    overlapping[4] = ("hours_0", "11:00-13:00, 12:00-14:00");
    let mut default_over_max = good("Neumología");
    default_over_max[1] = ("default_minutes", "90");
    let mut too_long = good("Neumología");
    let long_name = "N".repeat(61);
    too_long[0] = ("name", &long_name);
    let mut bad_phone = good("Neumología");
    bad_phone.push(("phone", "llame a Ana"));
    for (fields, message, status) in [
        (bad_phone, "Escriba un teléfono", StatusCode::BAD_REQUEST),
        (empty, "Este campo es obligatorio.", StatusCode::BAD_REQUEST),
        (bad_hours, "Escriba franjas como", StatusCode::BAD_REQUEST),
        (overlapping, "no pueden solaparse", StatusCode::BAD_REQUEST),
        (
            default_over_max,
            "no puede superar la máxima",
            StatusCode::BAD_REQUEST,
        ),
        (too_long, "Como máximo 60", StatusCode::BAD_REQUEST),
        (
            good("Cardiología"),
            "Ya hay una unidad",
            StatusCode::CONFLICT,
        ),
    ] {
        let response = app.post("/admin/wards", &fields).await;
        assert_eq!(response.status(), status, "{message}");
        assert!(text(response).await.contains(message), "{message}");
    }
    assert_eq!(app.count("wards").await, wards_before);

    let exception = app
        .post(
            &format!("/admin/wards/{ward}/exceptions"),
            &[
                ("first_day", "2030-05-10"),
                ("last_day", "2030-05-01"),
                ("reason", "Obras"),
            ],
        )
        .await;
    assert_eq!(exception.status(), StatusCode::BAD_REQUEST);
    assert!(text(exception).await.contains("no puede ser anterior"));
    let no_reason = app
        .post(
            &format!("/admin/wards/{ward}/exceptions"),
            &[("first_day", "2030-05-10"), ("reason", "")],
        )
        .await;
    assert_eq!(no_reason.status(), StatusCode::BAD_REQUEST);
    assert_eq!(app.count("ward_exceptions").await, 0);
    let unknown = app
        .post("/admin/wards/AAAAAAAAAAAAAAAAAAAAAA", &good("Otra"))
        .await;
    assert_eq!(unknown.status(), StatusCode::NOT_FOUND);
    let nurse_tries = {
        app.create_staff(Role::Nurse, "nurse.bea").await;
        let (nurse, jar) = new_client();
        app.login_with(&nurse, &jar, "nurse.bea", helpers::PASSWORD)
            .await;
        app.post_with(&nurse, &jar, "/admin/wards", &good("Pirata"))
            .await
    };
    assert_eq!(nurse_tries.status(), StatusCode::FORBIDDEN);
    assert_eq!(app.count("wards").await, wards_before);
}

#[tokio::test]
async fn before_the_window_no_ticket_and_the_page_shows_when_then_inside_it_works() {
    let app = madrid_app().await;
    let w = ward_with(&app, "00:00-24:00", 4).await;
    let visit = book(&app, &w, madrid_day(2), "18:00", "30").await;
    let card = app.card_of(&visit, &w.relative).await;
    let (device, jar) = new_client();

    let opened = app.get_with(&device, &TestApp::invite_path(&card)).await;
    assert_eq!(opened.status(), StatusCode::OK);
    let entered = app.type_code(&device, &jar, &card.code).await;
    assert_eq!(
        entered.status(),
        StatusCode::SEE_OTHER,
        "the code can be typed ahead"
    );
    let page = text(app.get_with(&device, "/visit").await).await;
    assert!(page.contains("id=\"visit-waiting\""), "the waiting page");
    assert!(
        page.contains("18:00") && page.contains("María"),
        "when and whom"
    );
    assert!(page.contains("data-opens-at"), "the countdown");
    let ticket = app.get_with(&device, "/visit/ticket").await;
    assert_eq!(
        ticket.status(),
        StatusCode::FORBIDDEN,
        "no ticket before the window"
    );
    let calendar = app.get_with(&device, "/visit/calendar.ics").await;
    assert_eq!(calendar.status(), StatusCode::OK);
    let ics = text(calendar).await;
    let starts = chrono::DateTime::from_timestamp(madrid_utc(madrid_day(2), 18, 0), 0).unwrap();
    assert!(
        ics.contains(&format!("DTSTART:{}", starts.format("%Y%m%dT%H%M%SZ"))),
        "the start in UTC: {ics}"
    );
    assert!(
        ics.contains("Videovisita a María"),
        "in the relative's language"
    );
    assert!(!ics.contains(&card.code.replace(' ', "")), "no code in it");

    // Moved to now: the same link and code work at the new time.
    let now = chrono::Utc::now().with_timezone(&MADRID);
    let moved = app
        .post(
            &format!("/visits/{visit}/reschedule"),
            &[
                ("date", &now.date_naive().to_string()),
                ("time", &now.format("%H:%M").to_string()),
                ("minutes", "30"),
            ],
        )
        .await;
    assert_eq!(moved.status(), StatusCode::SEE_OTHER);
    let ticket = app.get_with(&device, "/visit/ticket").await;
    assert_eq!(
        ticket.status(),
        StatusCode::OK,
        "inside the window the visit works"
    );
    let again = app.card_of(&visit, &w.relative).await;
    assert_eq!(again.link, card.link, "the same link");
    assert_eq!(again.code, card.code, "and code");

    // Ended by the nurse: refused, and the page says so.
    let ended = app.post(&format!("/visits/{visit}/end"), &[]).await;
    assert_eq!(ended.status(), StatusCode::SEE_OTHER);
    assert_eq!(
        app.get_with(&device, "/visit/ticket").await.status(),
        StatusCode::FORBIDDEN
    );
    let page = app.get_with(&device, "/visit").await;
    assert_eq!(page.status(), StatusCode::GONE);
}

#[tokio::test]
async fn a_cancelled_visit_tells_the_relative_and_refuses_them() {
    let app = madrid_app().await;
    let w = ward_with(&app, "00:00-24:00", 4).await;
    let visit = book(&app, &w, madrid_day(1), "18:00", "30").await;
    let card = app.card_of(&visit, &w.relative).await;
    let cancel_without_reason = app.post(&format!("/visits/{visit}/cancel"), &[]).await;
    assert_eq!(cancel_without_reason.status(), StatusCode::BAD_REQUEST);

    let cancelled = app
        .post(
            &format!("/visits/{visit}/cancel"),
            &[("reason", "Prueba diagnóstica")],
        )
        .await;

    assert_eq!(cancelled.status(), StatusCode::SEE_OTHER);
    let (device, _) = new_client();
    let opened = app.get_with(&device, &TestApp::invite_path(&card)).await;
    assert_eq!(opened.status(), StatusCode::GONE);
    assert!(text(opened).await.contains("ha sido anulada"));
    let (reason,): (String,) = visitas::sql!(&app.db(), |c| sqlx::query_as(
        "SELECT detail FROM audit_events WHERE action = 'visit.cancel'"
    )
    .fetch_one(&mut *c)
    .await)
    .unwrap();
    assert_eq!(reason, "Prueba diagnóstica");
    let again = app
        .post(
            &format!("/visits/{visit}/cancel"),
            &[("reason", "otra vez")],
        )
        .await;
    assert_eq!(again.status(), StatusCode::CONFLICT, "cancelled once");
}

#[tokio::test]
async fn a_nurse_of_one_ward_reaches_nothing_of_another_and_each_refusal_is_audited() {
    let app = madrid_app().await;
    let w = ward_with(&app, "00:00-24:00", 4).await;
    let visit = book(&app, &w, madrid_day(2), "12:00", "30").await;
    let (invite,): (String,) =
        visitas::sql!(&app.db(), |c| sqlx::query_as("SELECT id FROM invites")
            .fetch_one(&mut *c)
            .await)
        .unwrap();
    let (room,): (String,) =
        visitas::sql!(&app.db(), |c| sqlx::query_as("SELECT room_id FROM visits")
            .fetch_one(&mut *c)
            .await)
        .unwrap();
    // Bea works in another ward.
    let bea = app.create_staff(Role::Nurse, "nurse.bea").await;
    let pediatrics = app.ward("Pediatría", "00:00-24:00").await;
    app.assign(&bea, &pediatrics).await;
    let (nurse_b, jar) = new_client();
    app.login_with(&nurse_b, &jar, "nurse.bea", helpers::PASSWORD)
        .await;
    let day = madrid_day(3).to_string();

    let gets = [
        format!("/patients/{}", w.patient),
        format!("/patients/{}/visits/new", w.patient),
        format!("/visits/{visit}"),
        format!("/visits/{visit}/cards/{invite}"),
        format!("/rooms/{room}"),
        format!("/rooms/{room}/ticket?as=staff"),
        format!("/wards/{}/week", w.ward),
    ];
    for path in &gets {
        let response = app.get_with(&nurse_b, path).await;
        assert_eq!(response.status(), StatusCode::NOT_FOUND, "GET {path}");
    }
    let posts: Vec<(String, Vec<(&str, &str)>)> = vec![
        (
            format!("/patients/{}/visits", w.patient),
            vec![
                ("relative", &w.relative),
                ("date", &day),
                ("time", "12:00"),
                ("minutes", "30"),
            ],
        ),
        (format!("/visits/{visit}/cancel"), vec![("reason", "no")]),
        (format!("/visits/{visit}/end"), vec![]),
        (
            format!("/patients/{}/relatives/{}/withdraw", w.patient, w.relative),
            vec![],
        ),
    ];
    for (path, fields) in &posts {
        let response = app.post_with(&nurse_b, &jar, path, fields).await;
        assert_eq!(response.status(), StatusCode::NOT_FOUND, "POST {path}");
    }
    let listed = text(app.get_with(&nurse_b, "/patients").await).await;
    assert!(!listed.contains("María López"), "not in her patient list");
    let desk = text(
        app.get_with(&nurse_b, &format!("/desk?date={}", madrid_day(2)))
            .await,
    )
    .await;
    assert!(!desk.contains(&visit), "nor on her desk");

    let (refusals,): (i64,) = visitas::sql!(&app.db(), |c| sqlx::query_as(
        "SELECT COUNT(*) FROM audit_events WHERE action = 'access.refused' AND actor_id = $1",
    )
    .bind(&bea)
    .fetch_one(&mut *c)
    .await)
    .unwrap();
    assert_eq!(
        refusals,
        (gets.len() + posts.len()) as i64,
        "each refusal audited"
    );
    let still: i64 = app
        .scalar("SELECT COUNT(*) FROM visits WHERE cancelled_at IS NULL AND ended_at IS NULL")
        .await;
    assert_eq!(still, 1, "nothing changed");
    let _ = w.nurse;
}

#[tokio::test]
async fn transferring_a_patient_checks_their_visits_against_the_new_ward() {
    let app = madrid_app().await;
    let w = ward_with(&app, "00:00-24:00", 4).await;
    let evening = book(&app, &w, madrid_day(2), "21:00", "30").await;
    let _morning = book(&app, &w, madrid_day(2), "12:00", "30").await;
    let day_ward = app.ward_with("Cirugía", "11:00-20:00", 4).await;
    app.assign(&w.nurse, &day_ward).await;

    let moved = app
        .post(
            &format!("/patients/{}/edit", w.patient),
            &[
                ("display_name", "María López"),
                ("ward_id", &day_ward),
                ("bed", "3"),
                ("record_number", ""),
            ],
        )
        .await;

    assert_eq!(
        moved.status(),
        StatusCode::OK,
        "the page lists what no longer fits"
    );
    let page = text(moved).await;
    assert!(
        page.contains(&format!("data-misfit=\"{evening}\"")),
        "the evening visit"
    );
    assert_eq!(page.matches("data-misfit=").count(), 1, "only it");
    let in_new_ward: i64 = app
        .scalar("SELECT COUNT(*) FROM visits v JOIN wards w ON w.id = v.ward_id WHERE w.name = 'Cirugía'")
        .await;
    assert_eq!(in_new_ward, 2, "the visits moved with the patient");
    let audit: i64 = app
        .scalar("SELECT COUNT(*) FROM audit_events WHERE action = 'patient.transfer'")
        .await;
    assert_eq!(audit, 1);
}

#[tokio::test]
async fn a_visit_takes_no_more_relatives_than_the_room_holds_besides_the_patient() {
    let app = spawn_app_with(|c| {
        c.time_zone = HospitalZone::parse("Europe/Madrid");
        c.room_capacity = 3;
    })
    .await;
    let w = ward_with(&app, "00:00-24:00", 4).await;
    let second = app.authorise(&w.patient, "Pedro", "es").await;
    let third = app.authorise(&w.patient, "Ramón", "es").await;

    let response = schedule(
        &app,
        &w.patient,
        &[&w.relative, &second, &third],
        &madrid_day(2).to_string(),
        "12:00",
        "30",
        &[],
    )
    .await;

    assert_eq!(response.status(), StatusCode::CONFLICT);
    assert!(refusal(response).await.contains("Como máximo 2 familiares"));
    assert_eq!(app.count("visits").await, 0);
}

#[tokio::test]
async fn the_visit_log_groups_each_visit_with_its_stays_and_shows_missed_ones() {
    let app = madrid_app().await;
    let w = ward_with(&app, "00:00-24:00", 4).await;
    // A visit that happened: the bedside and the relative in the call, then ended by the nurse.
    let held = app.visit_now(&w.patient, &[&w.relative]).await;
    let (room,): (String,) = visitas::sql!(&app.db(), |c| sqlx::query_as(
        "SELECT room_id FROM visits WHERE id = $1"
    )
    .bind(&held)
    .fetch_one(&mut *c)
    .await)
    .unwrap();
    let ticket = app
        .ticket_with(&app.client, &format!("/rooms/{room}/ticket?as=patient"))
        .await;
    let cookie = app.cookie_header(&app.jar);
    let mut bedside = with_ticket(&app, &ticket, Some(&cookie)).await;
    bedside.join().await;
    let card = app.card_of(&held, &w.relative).await;
    let (device, _) = app.admitted_relative(&card).await;
    let ticket = app.ticket_with(&device, "/visit/ticket").await;
    let mut call = with_ticket(&app, &ticket, None).await;
    call.join().await;
    app.post(&format!("/visits/{held}/end"), &[]).await;
    call.expect_event("ended", Duration::from_secs(2))
        .await
        .expect("the relative is told");
    // A visit nobody came to.
    let other = patient_in(&app, "Jorge Pérez", "Medicina Interna").await;
    let son = app.authorise(&other, "Iván", "es").await;
    let missed = app.visit_now(&other, &[&son]).await;
    app.post(&format!("/visits/{missed}/end"), &[]).await;

    app.create_staff(Role::Admin, "jefa.ana").await;
    let (admin, jar) = new_client();
    app.login_with(&admin, &jar, "jefa.ana", helpers::PASSWORD)
        .await;
    // The old address leads to the log.
    let moved = app.get_with(&admin, "/admin/visits").await;
    assert_eq!(moved.status(), StatusCode::PERMANENT_REDIRECT);
    let log = text(app.get_with(&admin, "/visit-log").await).await;

    let row = |id: &str| {
        let start = log
            .find(&format!("data-logged-visit=\"{id}\""))
            .expect("the visit is in the log");
        let end = log[start..].find("</tr>").expect("its end") + start;
        log[start..end].to_string()
    };
    let held_row = row(&held);
    assert!(
        held_row.contains("data-outcome=\"completed\""),
        "{held_row}"
    );
    assert!(held_row.contains("Lucía"), "{held_row}");
    let missed_row = row(&missed);
    assert!(
        missed_row.contains("data-outcome=\"missed\""),
        "{missed_row}"
    );

    let held_log = text(app.get_with(&admin, &format!("/visit-log/{held}")).await).await;
    assert!(
        held_log.contains("data-stay-role=\"relative\""),
        "{held_log}"
    );
    assert!(
        held_log.contains("data-stay-role=\"patient\""),
        "{held_log}"
    );
    assert!(held_log.contains("Lucía") && held_log.contains("María López"));
    let missed_log = text(app.get_with(&admin, &format!("/visit-log/{missed}")).await).await;
    assert!(
        missed_log.contains("data-outcome=\"missed\""),
        "{missed_log}"
    );
    assert!(!missed_log.contains("data-stay-role"));
}

#[tokio::test]
async fn visit_now_outside_the_hours_needs_an_override_and_records_it() {
    let app = madrid_app().await;
    // A window that never holds "now": three to four hours from now, Madrid time.
    let later = chrono::Utc::now().with_timezone(&MADRID) + chrono::Duration::hours(3);
    let hours = format!(
        "{}-{}",
        later.format("%H:00"),
        (later + chrono::Duration::hours(1)).format("%H:00")
    );
    let w = ward_with(&app, &hours, 4).await;
    let now = format!("/patients/{}/visits/now", w.patient);

    let refused = app
        .post(&now, &[("relative", &w.relative), ("minutes", "30")])
        .await;
    assert_eq!(refused.status(), StatusCode::CONFLICT);
    assert!(refusal(refused).await.contains("fuera del horario"));
    assert_eq!(app.count("visits").await, 0);

    let started = app
        .post(
            &now,
            &[
                ("relative", &w.relative),
                ("minutes", "30"),
                ("override_reason", "end-of-life"),
            ],
        )
        .await;
    assert_eq!(started.status(), StatusCode::SEE_OTHER);
    let (reason,): (String,) = visitas::sql!(&app.db(), |c| sqlx::query_as(
        "SELECT override_reason FROM visits"
    )
    .fetch_one(&mut *c)
    .await)
    .unwrap();
    assert_eq!(reason, "end-of-life");
}

#[tokio::test]
async fn the_relatives_call_page_knows_whom_to_call_and_their_next_visit() {
    let app = madrid_app().await;
    let w = ward_with(&app, "00:00-24:00", 4).await;
    visitas::sql!(&app.db(), |c| sqlx::query(
        "UPDATE wards SET phone = '+34 91 555 01 23' WHERE id = $1"
    )
    .bind(&w.ward)
    .execute(&mut *c)
    .await
    .map(|done| done.rows_affected()))
    .unwrap();
    let day = madrid_day(3);
    book(&app, &w, day, "12:00", "30").await;
    let now = app.visit_now(&w.patient, &[&w.relative]).await;
    let card = app.card_of(&now, &w.relative).await;
    let (device, _) = app.admitted_relative(&card).await;

    let page = text(app.get_with(&device, "/visit").await).await;

    assert!(
        page.contains("Llame a la unidad: +34 91 555 01 23"),
        "the end screen's phone"
    );
    assert!(
        page.contains("Su próxima visita:"),
        "the end screen's next visit"
    );
    assert!(
        page.contains(&format!("{} de ", day.format("%-d"))),
        "on its day"
    );
}
