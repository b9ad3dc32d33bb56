//! Security headers, both languages, error pages and static files.

mod helpers;

use helpers::{location, spawn_app, text};
use reqwest::{StatusCode, header};

#[tokio::test]
async fn every_response_carries_the_security_headers() {
    let app = spawn_app().await;

    for path in ["/login", "/static/visitas.css", "/nope", "/healthz"] {
        let response = app.get(path).await;
        let headers = response.headers();
        let csp = headers["content-security-policy"].to_str().unwrap();
        assert!(csp.contains("default-src 'self'"), "{path}: {csp}");
        assert!(csp.contains("frame-ancestors 'none'"), "{path}");
        assert!(!csp.contains("unsafe-inline"), "{path}: no inline script");
        assert!(
            headers["strict-transport-security"]
                .to_str()
                .unwrap()
                .starts_with("max-age=")
        );
        assert_eq!(headers["x-content-type-options"], "nosniff");
        assert_eq!(headers["referrer-policy"], "no-referrer");
        let permissions = headers["permissions-policy"].to_str().unwrap();
        assert!(permissions.contains("camera=(self)") && permissions.contains("microphone=(self)"));
    }
}

#[tokio::test]
async fn pages_follow_the_browser_language_and_the_switch_is_remembered() {
    let app = spawn_app().await;
    let english = app.get_in_language("/login", "en-GB,en;q=0.9").await;
    let spanish = app.get_in_language("/login", "es-ES").await;
    let neither = app.get_in_language("/login", "de").await;

    let english = text(english).await;
    assert!(english.contains("<html lang=\"en\">") && english.contains("Sign in"));
    let spanish = text(spanish).await;
    assert!(spanish.contains("<html lang=\"es\">") && spanish.contains("Iniciar sesión"));
    assert!(
        text(neither).await.contains("Iniciar sesión"),
        "Spanish is the default"
    );

    let switched = app
        .post("/lang", &[("lang", "en"), ("back", "/login")])
        .await;
    assert_eq!(switched.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&switched), "/login");
    let after = app.get_in_language("/login", "es").await;
    assert!(
        text(after).await.contains("Sign in"),
        "the chosen language wins over the browser's"
    );

    let open_redirect = app
        .post("/lang", &[("lang", "es"), ("back", "//evil.example/")])
        .await;
    assert_eq!(location(&open_redirect), "/");
}

#[tokio::test]
async fn error_pages_speak_the_person_s_language_with_the_right_status() {
    let app = spawn_app().await;

    let not_found_en = app.get_in_language("/nope", "en").await;
    let not_found_es = app.get_in_language("/nope", "es").await;
    let wrong_method = app.get_in_language("/logout", "en").await;

    assert_eq!(not_found_en.status(), StatusCode::NOT_FOUND);
    assert!(
        text(not_found_en)
            .await
            .contains("We could not find this page.")
    );
    assert_eq!(not_found_es.status(), StatusCode::NOT_FOUND);
    assert!(
        text(not_found_es)
            .await
            .contains("No encontramos esta página.")
    );
    assert_eq!(wrong_method.status(), StatusCode::METHOD_NOT_ALLOWED);
    assert!(text(wrong_method).await.contains("That did not work"));
}

#[tokio::test]
async fn an_oversized_form_is_refused_with_413() {
    let app = spawn_app().await;
    app.logged_in_nurse().await;
    let huge = "a".repeat(200 * 1024);

    let response = app
        .post(
            "/patients",
            &[
                ("display_name", huge.as_str()),
                ("ward_id", "UCI"),
                ("bed", "1"),
            ],
        )
        .await;

    assert_eq!(response.status(), StatusCode::PAYLOAD_TOO_LARGE);
    assert!(text(response).await.contains("demasiado grandes"));
    assert_eq!(app.count("patients").await, 0);
}

#[tokio::test]
async fn a_malformed_form_is_a_400_not_a_500() {
    let app = spawn_app().await;
    app.logged_in_nurse().await;

    let response = app.post("/lang", &[("nothing", "here")]).await;

    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    assert!(text(response).await.contains("La petición no es válida."));
}

#[tokio::test]
async fn static_files_and_health_are_served() {
    let app = spawn_app().await;

    let css = app.get("/static/visitas.css").await;
    assert_eq!(css.status(), StatusCode::OK);
    assert!(
        css.headers()[header::CONTENT_TYPE]
            .to_str()
            .unwrap()
            .starts_with("text/css")
    );
    assert_eq!(
        app.get("/static/../Cargo.toml").await.status(),
        StatusCode::NOT_FOUND
    );
    let health = app.get("/healthz").await;
    assert_eq!(health.status(), StatusCode::OK);
    assert_eq!(text(health).await, "ok");
}

#[tokio::test]
async fn no_page_loads_anything_from_another_site() {
    let app = spawn_app().await;
    let (patient, room) = app.nurse_with_room("Ana").await;

    for path in [
        "/login".to_string(),
        "/rooms".into(),
        "/patients".into(),
        format!("/patients/{patient}"),
        format!("/rooms/{room}"),
    ] {
        let body = text(app.get(&path).await).await;
        assert!(
            !body.contains("http://") && !body.contains("https://"),
            "{path} links outside"
        );
        assert!(
            !body.contains("<script>") && !body.contains("style=\""),
            "{path} has inline code"
        );
    }
}
