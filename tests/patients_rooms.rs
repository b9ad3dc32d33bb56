//! Registering, searching and discharging patients; creating, listing and closing rooms.

mod helpers;

use helpers::{location, spawn_app, text};
use reqwest::StatusCode;

#[tokio::test]
async fn a_nurse_registers_a_patient_who_appears_in_the_list_and_search() {
    let app = spawn_app().await;
    app.logged_in_nurse().await;

    let id = app.register_patient("  María López  ", "HC-1001").await;

    assert_eq!(id.len(), 22, "ids in URLs are random, not sequential");
    let page = text(app.get(&format!("/patients/{id}")).await).await;
    assert!(page.contains("María López"));
    assert!(page.contains("HC-1001"));
    assert!(
        text(app.get("/patients").await)
            .await
            .contains("María López")
    );
    assert!(
        text(app.get("/patients?q=1001").await)
            .await
            .contains("María López")
    );
    let miss = text(app.get("/patients?q=Garc%C3%ADa").await).await;
    assert!(!miss.contains("María López"));
    let wildcard = text(app.get("/patients?q=%25").await).await;
    assert!(!wildcard.contains("María López"), "% is searched literally");
}

#[tokio::test]
async fn invalid_patients_get_clear_errors_and_store_nothing() {
    let app = spawn_app().await;
    app.logged_in_nurse().await;
    let long = "a".repeat(101);
    let other_ward = app.ward("Pediatría", "11:00-20:00").await;
    let cases: [(&str, &str, &str); 6] = [
        ("   ", "UCI", "Este campo es obligatorio."),
        (long.as_str(), "UCI", "Como máximo 100 caracteres."),
        (
            "Ana\u{7}",
            "UCI",
            "No puede contener caracteres de control.",
        ),
        ("Ana", "", "Elija una de sus unidades."),
        (
            "Ana",
            "AAAAAAAAAAAAAAAAAAAAAA",
            "Elija una de sus unidades.",
        ),
        ("Ana", other_ward.as_str(), "Elija una de sus unidades."),
    ];

    for (name, ward, message) in cases {
        let response = app.post_patient(name, ward, "3", "").await;
        assert_eq!(response.status(), StatusCode::BAD_REQUEST, "{name:?}");
        let body = text(response).await;
        assert!(body.contains(message), "{message} for {name:?}");
        assert!(body.contains("Revise los campos marcados."));
    }
    assert_eq!(app.count("patients").await, 0);
}

#[tokio::test]
async fn a_duplicate_record_number_is_refused() {
    let app = spawn_app().await;
    app.logged_in_nurse().await;
    app.register_patient("Ana", "HC-7").await;

    let response = app.post_patient("Luis", "UCI", "2", " HC-7 ").await;

    assert_eq!(response.status(), StatusCode::CONFLICT);
    assert!(
        text(response)
            .await
            .contains("Ya hay un paciente con ese número de historia.")
    );
    assert_eq!(app.count("patients").await, 1);
    app.register_patient("Sin historia 1", "").await;
    app.register_patient("Sin historia 2", "").await;
    assert_eq!(
        app.count("patients").await,
        3,
        "an empty record number is not a duplicate"
    );
}

#[tokio::test]
async fn rooms_are_created_listed_and_closed() {
    let app = spawn_app().await;
    app.logged_in_nurse().await;
    let patient = app.register_patient("Carmen Ruiz", "").await;
    // The open rooms are kept in memory between writes: each write below must show at once.
    assert!(!text(app.get("/rooms").await).await.contains("Carmen Ruiz"));

    let room = app.create_room(&patient).await;

    let list = text(app.get("/rooms").await).await;
    assert!(list.contains(&format!("data-room-id=\"{room}\"")));
    assert!(list.contains("Carmen Ruiz") && list.contains("UCI"));
    assert!(
        list.contains(&format!("data-presence=\"{room}\"")),
        "a place for live presence"
    );
    let page = text(app.get(&format!("/rooms/{room}")).await).await;
    assert!(page.contains("data-room-status=\"open\""));

    let closed = app.post(&format!("/rooms/{room}/close"), &[]).await;

    assert_eq!(closed.status(), StatusCode::SEE_OTHER);
    assert!(!text(app.get("/rooms").await).await.contains(&room));
    assert!(
        text(app.get(&format!("/rooms/{room}")).await)
            .await
            .contains("data-room-status=\"closed\"")
    );
}

#[tokio::test]
async fn discharge_closes_open_rooms_and_refuses_new_ones() {
    let app = spawn_app().await;
    let (patient, first) = app.nurse_with_room("Pedro Sanz").await;
    let second = app.create_room(&patient).await;
    let before = text(app.get("/rooms").await).await;
    assert!(before.contains(&first) && before.contains(&second));

    let response = app
        .post(&format!("/patients/{patient}/discharge"), &[])
        .await;

    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    let open: i64 = app
        .scalar("SELECT COUNT(*) FROM rooms WHERE closed_at IS NULL")
        .await;
    assert_eq!(open, 0);
    let list = text(app.get("/rooms").await).await;
    assert!(!list.contains(&first) && !list.contains(&second));
    let refused = app.post(&format!("/patients/{patient}/rooms"), &[]).await;
    assert_eq!(refused.status(), StatusCode::CONFLICT);
    assert!(text(refused).await.contains("dado de alta"));
    assert_eq!(app.count("rooms").await, 2);
    let (audited,): (i64,) = visitas::sql!(&app.db(), |c| sqlx::query_as(
        "SELECT COUNT(*) FROM audit_events WHERE action IN ('patient.discharge', 'room.close')",
    )
    .fetch_one(&mut *c)
    .await)
    .unwrap();
    assert_eq!(
        audited, 3,
        "the discharge and both closures are in the audit trail"
    );
}

#[tokio::test]
async fn pages_need_a_staff_session_and_unknown_ids_are_404() {
    let app = spawn_app().await;

    for path in ["/rooms", "/patients", "/patients/new", "/admin/staff"] {
        let response = app.get(path).await;
        assert_eq!(response.status(), StatusCode::SEE_OTHER, "{path}");
        assert_eq!(location(&response), "/login");
    }
    app.logged_in_nurse().await;
    for path in [
        "/patients/AAAAAAAAAAAAAAAAAAAAAA",
        "/rooms/AAAAAAAAAAAAAAAAAAAAAA",
        "/rooms/1",
        "/rooms/%ZZ",
        "/rooms/1/call?as=patient",
        "/rooms/not-an-id!/ticket",
        "/patients/../etc",
    ] {
        assert_eq!(
            app.get(path).await.status(),
            StatusCode::NOT_FOUND,
            "{path}"
        );
    }
    for path in [
        "/patients/AAAAAAAAAAAAAAAAAAAAAA/rooms",
        "/patients/x/discharge",
        "/rooms/x/close",
    ] {
        let response = app.post(path, &[]).await;
        assert_eq!(response.status(), StatusCode::NOT_FOUND, "{path}");
        assert!(
            text(response).await.contains("<html"),
            "{path}: the 404 page, in the person's language"
        );
    }
}
