//! Staff login, sessions, throttling, CSRF and roles, against the real server.

mod helpers;

use helpers::{PASSWORD, location, new_client, spawn_app, spawn_app_with, text};
use reqwest::{StatusCode, header};
use visitas::domain::Role;

#[tokio::test]
async fn login_with_the_right_password_opens_the_desk() {
    let app = spawn_app().await;
    app.create_staff(Role::Nurse, "nurse.ana").await;

    let response = app.login("nurse.ana").await;

    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&response), "/desk", "the desk is home");
    let cookie = response
        .headers()
        .get_all(header::SET_COOKIE)
        .iter()
        .map(|v| v.to_str().unwrap().to_string())
        .find(|c| c.starts_with("__Host-visitas-session="))
        .expect("a session cookie");
    for attribute in ["Secure", "HttpOnly", "SameSite=Strict", "Path=/"] {
        assert!(
            cookie.contains(attribute),
            "{attribute} missing from {cookie}"
        );
    }
    assert!(!cookie.contains("Domain"), "a __Host- cookie has no Domain");
    let rooms = app.get("/rooms").await;
    assert_eq!(rooms.status(), StatusCode::OK);
    assert!(text(rooms).await.contains("nurse.ana"));
}

#[tokio::test]
async fn unknown_user_and_wrong_password_get_the_same_answer() {
    let app = spawn_app().await;
    app.create_staff(Role::Nurse, "nurse.ana").await;

    let wrong = app
        .login_with(&app.client, &app.jar, "nurse.ana", "not the password")
        .await;
    let unknown = app
        .login_with(&app.client, &app.jar, "nobody.here", "not the password")
        .await;

    assert_eq!(wrong.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(unknown.status(), StatusCode::UNAUTHORIZED);
    let wrong = text(wrong).await.replace("nurse.ana", "X");
    let unknown = text(unknown).await.replace("nobody.here", "X");
    assert_eq!(wrong, unknown);
    assert!(wrong.contains("Usuario o contraseña incorrectos."));
    assert_eq!(app.get("/rooms").await.status(), StatusCode::SEE_OTHER);
}

#[tokio::test]
async fn a_deactivated_account_cannot_log_in() {
    let app = spawn_app().await;
    let id = app.create_staff(Role::Nurse, "nurse.ana").await;
    visitas::sql!(&app.db(), |c| sqlx::query(
        "UPDATE staff SET active = FALSE WHERE id = $1"
    )
    .bind(&id)
    .execute(&mut *c)
    .await
    .map(|done| done.rows_affected()))
    .unwrap();

    let response = app.login("nurse.ana").await;

    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn repeated_failures_throttle_the_account_even_with_the_right_password() {
    let app = spawn_app().await;
    app.create_staff(Role::Nurse, "nurse.ana").await;
    for _ in 0..visitas::auth::throttle::MAX_FAILURES_PER_ACCOUNT {
        let response = app
            .login_with(&app.client, &app.jar, "nurse.ana", "wrong password!")
            .await;
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    }

    let (other_device, other_jar) = new_client();
    let response = app
        .login_with(&other_device, &other_jar, "NURSE.ANA", PASSWORD)
        .await;

    assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
    let body = text(response).await;
    assert!(
        body.contains("Espere 15 minutos"),
        "the answer says how long to wait: {body}"
    );
    assert_eq!(
        app.get_with(&other_device, "/rooms").await.status(),
        StatusCode::SEE_OTHER
    );
}

#[tokio::test]
async fn repeated_failures_throttle_the_client_address_across_accounts() {
    let app = spawn_app().await;
    app.create_staff(Role::Nurse, "nurse.ana").await;
    for i in 0..visitas::auth::throttle::MAX_FAILURES_PER_CLIENT {
        let name = format!("guess{i}");
        app.login_with(&app.client, &app.jar, &name, "wrong password!")
            .await;
    }

    let response = app.login("nurse.ana").await;

    assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
}

#[tokio::test]
async fn the_session_id_changes_at_login_and_the_old_one_dies() {
    let app = spawn_app().await;
    app.create_staff(Role::Nurse, "nurse.ana").await;
    app.login("nurse.ana").await;
    let first = app.session_cookie(&app.jar).expect("a session after login");

    app.login("nurse.ana").await;
    let second = app
        .session_cookie(&app.jar)
        .expect("a session after the second login");

    assert_ne!(first, second);
    let response = app.replay_session("/rooms", &first).await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&response), "/login");
}

#[tokio::test]
async fn a_planted_session_id_is_not_adopted_at_login() {
    let app = spawn_app().await;
    app.create_staff(Role::Nurse, "nurse.ana").await;
    let planted = "AAAAAAAAAAAAAAAAAAAAAA";
    let url: reqwest::Url = app.base.parse().unwrap();
    app.jar.add_cookie_str(
        &format!("__Host-visitas-session={planted}; Path=/; Secure"),
        &url,
    );

    app.login("nurse.ana").await;

    assert_ne!(app.session_cookie(&app.jar).as_deref(), Some(planted));
    assert_eq!(app.get("/rooms").await.status(), StatusCode::OK);
}

#[tokio::test]
async fn after_logout_the_old_cookie_is_dead() {
    let app = spawn_app().await;
    app.logged_in_nurse().await;
    let cookie = app.session_cookie(&app.jar).unwrap();

    let response = app.post("/logout", &[]).await;

    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    assert_eq!(app.count("sessions").await, 0);
    let response = app.replay_session("/rooms", &cookie).await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&response), "/login");
}

#[tokio::test]
async fn an_idle_session_expires() {
    let app = spawn_app_with(|c| c.session_idle_secs = 1).await;
    app.logged_in_nurse().await;
    assert_eq!(app.get("/rooms").await.status(), StatusCode::OK);

    tokio::time::sleep(std::time::Duration::from_millis(2500)).await;

    let response = app.get("/rooms").await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&response), "/login");
}

#[tokio::test]
async fn activity_keeps_a_session_alive_until_the_absolute_timeout() {
    let app = spawn_app_with(|c| {
        c.session_idle_secs = 2;
        c.session_max_secs = 3;
    })
    .await;
    app.logged_in_nurse().await;

    for _ in 0..3 {
        tokio::time::sleep(std::time::Duration::from_millis(900)).await;
        assert_eq!(
            app.get("/rooms").await.status(),
            StatusCode::OK,
            "activity within the idle timeout"
        );
    }
    tokio::time::sleep(std::time::Duration::from_millis(1500)).await;

    assert_eq!(
        app.get("/rooms").await.status(),
        StatusCode::SEE_OTHER,
        "past the absolute timeout"
    );
}

#[tokio::test]
async fn a_cross_site_post_is_refused_and_changes_nothing() {
    let app = spawn_app().await;
    app.logged_in_nurse().await;
    let ward = app.ward("UCI", "00:00-24:00").await;
    let token = app.csrf_token(&app.client, &app.jar).await;
    let form = [
        ("display_name", "Eve"),
        ("ward_id", ward.as_str()),
        ("bed", "1"),
        ("record_number", ""),
        ("csrf", token.as_str()),
    ];

    let foreign_origin = app
        .client
        .post(app.url("/patients"))
        .header(header::ORIGIN, "https://evil.example")
        .form(&form)
        .send()
        .await
        .unwrap();
    let cross_site_fetch = app
        .client
        .post(app.url("/patients"))
        .header("sec-fetch-site", "cross-site")
        .form(&form)
        .send()
        .await
        .unwrap();
    let no_token = app
        .client
        .post(app.url("/patients"))
        .header(header::ORIGIN, &app.base)
        .form(&form[..4])
        .send()
        .await
        .unwrap();

    let null_origin_cross_site = app
        .client
        .post(app.url("/patients"))
        .header(header::ORIGIN, "null")
        .header("sec-fetch-site", "cross-site")
        .form(&form)
        .send()
        .await
        .unwrap();
    for response in [
        foreign_origin,
        cross_site_fetch,
        no_token,
        null_origin_cross_site,
    ] {
        assert_eq!(response.status(), StatusCode::FORBIDDEN);
        assert!(
            text(response)
                .await
                .contains("Este formulario ha caducado o viene de otro sitio")
        );
    }
    assert_eq!(app.count("patients").await, 0);
}

#[tokio::test]
async fn a_nurse_cannot_reach_administrator_pages() {
    let app = spawn_app().await;
    app.logged_in_nurse().await;
    let staff_before = app.count("staff").await;

    let page = app.get("/admin/staff").await;
    let ca = app.get("/admin/ca.pem").await;
    let create = app
        .post(
            "/admin/staff",
            &[
                ("username", "intruder"),
                ("password", PASSWORD),
                ("password_confirm", PASSWORD),
            ],
        )
        .await;

    assert_eq!(page.status(), StatusCode::FORBIDDEN);
    assert_eq!(ca.status(), StatusCode::FORBIDDEN);
    assert_eq!(create.status(), StatusCode::FORBIDDEN);
    assert_eq!(app.count("staff").await, staff_before);
}

#[tokio::test]
async fn an_administrator_creates_a_nurse_who_can_then_log_in() {
    let app = spawn_app().await;
    app.create_staff(Role::Admin, "admin.root").await;
    app.login("admin.root").await;

    let weak = app
        .post(
            "/admin/staff",
            &[
                ("username", "nurse.bea"),
                ("password", "short"),
                ("password_confirm", "short"),
            ],
        )
        .await;
    assert_eq!(weak.status(), StatusCode::BAD_REQUEST);
    assert!(text(weak).await.contains("al menos 12 caracteres"));
    let created = app
        .post(
            "/admin/staff",
            &[
                ("username", "Nurse.Bea"),
                ("display_name", "Bea Gil"),
                ("password", PASSWORD),
                ("password_confirm", PASSWORD),
            ],
        )
        .await;
    assert_eq!(created.status(), StatusCode::SEE_OTHER);
    let duplicate = app
        .post(
            "/admin/staff",
            &[
                ("username", "nurse.bea"),
                ("password", PASSWORD),
                ("password_confirm", PASSWORD),
            ],
        )
        .await;
    assert_eq!(duplicate.status(), StatusCode::CONFLICT);

    let (device, jar) = new_client();
    let login = app.login_with(&device, &jar, "nurse.bea", PASSWORD).await;
    assert_eq!(login.status(), StatusCode::SEE_OTHER);
    assert!(
        text(app.get("/admin/staff").await)
            .await
            .contains("Bea Gil")
    );
}

#[tokio::test]
async fn a_deactivated_nurse_loses_access_at_once() {
    let app = spawn_app().await;
    app.create_staff(Role::Admin, "admin.root").await;
    app.login("admin.root").await;
    let nurse_id = app.create_staff(Role::Nurse, "nurse.bea").await;
    let (nurse, nurse_jar) = new_client();
    app.login_with(&nurse, &nurse_jar, "nurse.bea", PASSWORD)
        .await;
    assert_eq!(
        app.get_with(&nurse, "/rooms").await.status(),
        StatusCode::OK
    );

    let response = app
        .post(&format!("/admin/staff/{nurse_id}/deactivate"), &[])
        .await;

    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    let after = app.get_with(&nurse, "/rooms").await;
    assert_eq!(after.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&after), "/login");
    let again = app
        .login_with(&nurse, &nurse_jar, "nurse.bea", PASSWORD)
        .await;
    assert_eq!(again.status(), StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn an_administrator_cannot_deactivate_their_own_account() {
    let app = spawn_app().await;
    let admin_id = app.create_staff(Role::Admin, "admin.root").await;
    app.login("admin.root").await;

    let response = app
        .post(&format!("/admin/staff/{admin_id}/deactivate"), &[])
        .await;

    assert_eq!(response.status(), StatusCode::CONFLICT);
    assert_eq!(app.get("/admin/staff").await.status(), StatusCode::OK);
}

#[tokio::test]
async fn parallel_guesses_cannot_slip_past_the_account_limit() {
    let app = spawn_app().await;
    app.create_staff(Role::Nurse, "nurse.ana").await;
    let token = app.csrf_token(&app.client, &app.jar).await;

    let guesses = (0..25).map(|i| {
        let request = app
            .client
            .post(app.url("/login"))
            .header(header::ORIGIN, &app.base)
            .form(&[
                ("username", "nurse.ana"),
                ("password", &format!("guess number {i}")),
                ("csrf", &token),
            ]);
        async move { request.send().await.unwrap().status() }
    });
    let statuses = futures_util::future::join_all(guesses).await;

    let checked = statuses
        .iter()
        .filter(|s| **s == StatusCode::UNAUTHORIZED)
        .count();
    let throttled = statuses
        .iter()
        .filter(|s| **s == StatusCode::TOO_MANY_REQUESTS)
        .count();
    assert_eq!(
        checked as i64,
        visitas::auth::throttle::MAX_FAILURES_PER_ACCOUNT,
        "{statuses:?}"
    );
    assert_eq!(checked + throttled, 25);
}

#[tokio::test]
async fn our_own_form_is_accepted_with_the_null_origin_that_no_referrer_makes_browsers_send() {
    let app = spawn_app().await;
    app.logged_in_nurse().await;
    let ward = app.ward("UCI", "00:00-24:00").await;
    let token = app.csrf_token(&app.client, &app.jar).await;

    let response = app
        .client
        .post(app.url("/patients"))
        .header(header::ORIGIN, "null")
        .header("sec-fetch-site", "same-origin")
        .form(&[
            ("display_name", "Ana"),
            ("ward_id", ward.as_str()),
            ("bed", "1"),
            ("csrf", token.as_str()),
        ])
        .send()
        .await
        .unwrap();

    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    assert_eq!(app.count("patients").await, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_shared_account_opened_on_twenty_pcs_at_once_gets_in_everywhere() {
    let app = spawn_app().await;
    app.create_staff(Role::Nurse, "uci.turno").await;
    let mut pcs = Vec::new();
    for _ in 0..20 {
        let (client, jar) = new_client();
        let token = app.csrf_token(&client, &jar).await;
        pcs.push((client, token));
    }

    let logins = pcs.iter().map(|(client, token)| {
        let request = client
            .post(app.url("/login"))
            .header(header::ORIGIN, &app.base)
            .form(&[
                ("username", "uci.turno"),
                ("password", PASSWORD),
                ("csrf", token.as_str()),
            ]);
        async move { request.send().await.unwrap().status() }
    });
    let statuses = futures_util::future::join_all(logins).await;

    assert!(
        statuses.iter().all(|s| *s == StatusCode::SEE_OTHER),
        "{statuses:?}"
    );
    for (client, _) in &pcs {
        let rooms = client.get(app.url("/rooms")).send().await.unwrap();
        assert_eq!(rooms.status(), StatusCode::OK);
    }
}

#[tokio::test]
async fn eleven_wrong_passwords_still_lock_the_account_after_correct_logins() {
    let app = spawn_app().await;
    app.create_staff(Role::Nurse, "nurse.ana").await;
    for _ in 0..3 {
        assert_eq!(app.login("nurse.ana").await.status(), StatusCode::SEE_OTHER);
    }

    let mut statuses = Vec::new();
    for i in 0..11 {
        let (client, jar) = new_client();
        let response = app
            .login_with(&client, &jar, "nurse.ana", &format!("wrong guess {i}"))
            .await;
        statuses.push(response.status());
    }

    assert!(
        statuses[..10]
            .iter()
            .all(|s| *s == StatusCode::UNAUTHORIZED),
        "{statuses:?}"
    );
    assert_eq!(statuses[10], StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(
        app.login("nurse.ana").await.status(),
        StatusCode::TOO_MANY_REQUESTS,
        "the right password is refused too while locked"
    );
}
