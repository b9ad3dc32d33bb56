//! Several nodes on one PostgreSQL database: any node serves any request (sessions and the
//! state are in the database), and each node's changes reach the others' caches and desks
//! (LISTEN/NOTIFY). The PostgreSQL leg's server, or a throwaway one started here.

mod helpers;

use std::time::{Duration, Instant};

use helpers::{PASSWORD, TestApp, location, new_client, postgres, spawn_app_with};
use reqwest::StatusCode;
use serde_json::Value;
use visitas::domain::Role;

/// Two nodes on one new database of `server`, sharing the certificate and the secret key.
async fn two_nodes(server: &postgres::Server, name: &str) -> (TestApp, TestApp, tempfile::TempDir) {
    let url = server.database(name).await;
    let shared = tempfile::tempdir().expect("a directory");
    let files = postgres::NodeFiles::beside(&shared.path().join("data"));
    let node = |c: &mut visitas::config::Config| {
        c.database = Some(url.clone());
        c.tls_cert = Some(files.tls_cert.clone());
        c.tls_key = Some(files.tls_key.clone());
        c.secret_file = Some(files.secret_file.clone());
    };
    let a = spawn_app_with(node).await;
    let b = spawn_app_with(node).await;
    (a, b, shared)
}

#[tokio::test]
async fn a_session_made_on_one_node_works_on_the_other_and_a_logout_ends_it_on_both() {
    let server = postgres::Server::get();
    let (a, b, _shared) = two_nodes(&server, &format!("nodes_s_{}", std::process::id())).await;
    a.logged_in_nurse().await;

    // The same browser (its cookies), on the other node.
    assert_eq!(
        b.get_with(&a.client, "/rooms").await.status(),
        StatusCode::OK
    );

    let out = a.post("/logout", &[]).await;
    assert_eq!(out.status(), StatusCode::SEE_OTHER);
    let after = b.get_with(&a.client, "/rooms").await;
    assert_eq!(after.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&after), "/login");
}

#[tokio::test]
async fn a_nurse_deactivated_on_one_node_loses_access_on_the_other_at_once() {
    let server = postgres::Server::get();
    let (a, b, _shared) = two_nodes(&server, &format!("nodes_d_{}", std::process::id())).await;
    a.create_staff(Role::Admin, "admin.root").await;
    a.login("admin.root").await;
    let nurse_id = a.create_staff(Role::Nurse, "nurse.bea").await;
    let (nurse, nurse_jar) = new_client();
    b.login_with(&nurse, &nurse_jar, "nurse.bea", PASSWORD)
        .await;
    // Node B now holds the account in its cache.
    assert_eq!(b.get_with(&nurse, "/rooms").await.status(), StatusCode::OK);

    let deactivated = a
        .post(&format!("/admin/staff/{nurse_id}/deactivate"), &[])
        .await;
    assert_eq!(deactivated.status(), StatusCode::SEE_OTHER);

    // The other node's cache was cleared by the notification: within a fraction of a second.
    let started = Instant::now();
    loop {
        let after = b.get_with(&nurse, "/rooms").await;
        if after.status() == StatusCode::SEE_OTHER {
            assert_eq!(location(&after), "/login");
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(2),
            "node B still lets the deactivated nurse in"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    println!(
        "deactivation reached the other node in {:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn a_desk_on_one_node_hears_of_a_change_made_on_the_other() {
    let server = postgres::Server::get();
    let (a, b, _shared) = two_nodes(&server, &format!("nodes_k_{}", std::process::id())).await;
    a.logged_in_nurse().await;
    let version: Value = b
        .get_with(&a.client, "/desk/version")
        .await
        .json()
        .await
        .expect("the desk's version");
    let seen = version["version"].as_u64().expect("a number");
    let (client, url) = (
        a.client.clone(),
        b.url(&format!("/desk/version?after={seen}")),
    );
    let poll = tokio::spawn(async move {
        let response = client.get(url).send().await.expect("the long poll");
        (
            Instant::now(),
            response.json::<Value>().await.expect("json"),
        )
    });
    tokio::time::sleep(Duration::from_millis(300)).await;

    let started = Instant::now();
    let patient = a.register_patient("Carmen Ruiz", "").await;
    assert!(!patient.is_empty());
    let (answered, body) = poll.await.expect("the long poll ends");

    assert!(body["version"].as_u64().expect("a number") > seen);
    let took = answered.saturating_duration_since(started);
    assert!(
        took < Duration::from_secs(1),
        "node B's desk heard in {took:?}"
    );
    // And its pages show it.
    let rooms = b.get_with(&a.client, "/patients?q=Carmen").await;
    assert!(helpers::text(rooms).await.contains("Carmen Ruiz"));
}
