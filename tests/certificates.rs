//! The generated local CA and server certificate.

mod helpers;

use std::{fs, os::unix::fs::PermissionsExt};

use helpers::{start_in, text};
use reqwest::StatusCode;
use visitas::tls::{GeneratedPaths, ensure_generated, first_pem_der, local_names};
use x509_parser::{extensions::ParsedExtension, prelude::*};

#[tokio::test]
async fn the_certificate_is_reused_across_restarts_and_fit_for_phones() {
    // The generated CA is a single-box feature: a SQLite server on every leg.
    let app = helpers::spawn_app_with(helpers::on_sqlite).await;
    let tls = app.tls_dir();
    let server_pem = fs::read_to_string(tls.join("server.pem")).unwrap();
    let ca_pem = fs::read_to_string(tls.join("ca.pem")).unwrap();

    for key in ["server.key", "ca.key"] {
        let mode = fs::metadata(tls.join(key)).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "{key} is readable by the owner only");
    }
    let der = first_pem_der(&server_pem).unwrap();
    let (_, cert) = parse_x509_certificate(&der).unwrap();
    let names = visitas::tls::cert_names(&cert);
    for expected in ["localhost", "127.0.0.1", "::1"] {
        assert!(
            names.iter().any(|n| n == expected),
            "SAN {expected} in {names:?}"
        );
    }
    for name in local_names() {
        assert!(
            names.contains(&name),
            "{name}, a name or address of this machine, is a SAN"
        );
    }
    let validity = cert.validity();
    let days = (validity.not_after.timestamp() - validity.not_before.timestamp()) / 86_400;
    assert!(days <= 397, "valid {days} days");
    let eku = cert
        .extensions()
        .iter()
        .find_map(|e| match e.parsed_extension() {
            ParsedExtension::ExtendedKeyUsage(eku) => Some(eku.server_auth),
            _ => None,
        })
        .expect("an extended key usage");
    assert!(eku, "EKU serverAuth");
    assert!(!cert.is_ca());

    // A client trusting only our CA accepts the server under the name "localhost".
    let ca = reqwest::Certificate::from_pem(ca_pem.as_bytes()).unwrap();
    let strict = reqwest::Client::builder()
        .tls_certs_only([ca])
        .resolve("localhost", app.addr)
        .build()
        .unwrap();
    let health = strict
        .get(format!("https://localhost:{}/healthz", app.addr.port()))
        .send()
        .await
        .unwrap();
    assert_eq!(text(health).await, "ok");

    let (dir, config) = app.stop().await;
    let restarted = start_in(dir, config).await;
    assert_eq!(
        fs::read_to_string(tls.join("server.pem")).unwrap(),
        server_pem,
        "reused, not regenerated"
    );
    assert_eq!(fs::read_to_string(tls.join("ca.pem")).unwrap(), ca_pem);
    assert_eq!(restarted.get("/healthz").await.status(), StatusCode::OK);
}

#[tokio::test]
async fn the_server_certificate_is_renewed_before_it_expires_with_the_same_ca() {
    let dir = tempfile::tempdir().unwrap();
    let paths = GeneratedPaths {
        dir: dir.path().join("tls"),
    };
    let names = local_names();
    let now = ::time::OffsetDateTime::now_utc();
    let first = ensure_generated(&paths, &names, now).unwrap();
    assert!(first.reissued);

    let next_month = ensure_generated(&paths, &names, now + ::time::Duration::days(30)).unwrap();
    let near_expiry = ensure_generated(&paths, &names, now + ::time::Duration::days(380)).unwrap();

    assert!(
        !next_month.reissued,
        "a certificate with plenty of time left is kept"
    );
    assert_eq!(next_month.chain_pem, first.chain_pem);
    assert!(
        near_expiry.reissued,
        "a certificate 17 days from expiry is renewed"
    );
    assert_ne!(near_expiry.chain_pem, first.chain_pem);
    assert_eq!(
        near_expiry.ca_pem, first.ca_pem,
        "the CA installed on tablets stays the same"
    );
}

#[tokio::test]
async fn a_new_address_gets_a_new_certificate() {
    let dir = tempfile::tempdir().unwrap();
    let paths = GeneratedPaths {
        dir: dir.path().join("tls"),
    };
    let now = ::time::OffsetDateTime::now_utc();
    let mut names = local_names();
    ensure_generated(&paths, &names, now).unwrap();

    names.push("10.20.30.40".into());
    let moved = ensure_generated(&paths, &names, now).unwrap();

    assert!(moved.reissued);
    let der = first_pem_der(std::str::from_utf8(&moved.chain_pem).unwrap()).unwrap();
    let (_, cert) = parse_x509_certificate(&der).unwrap();
    assert!(visitas::tls::cert_names(&cert).contains(&"10.20.30.40".to_string()));
}

#[tokio::test]
async fn administrators_can_download_the_ca() {
    // The generated CA is a single-box feature: a SQLite server on every leg.
    let app = helpers::spawn_app_with(helpers::on_sqlite).await;
    app.create_staff(visitas::domain::Role::Admin, "admin.root")
        .await;
    app.login("admin.root").await;

    let response = app.get("/admin/ca.pem").await;

    assert_eq!(response.status(), StatusCode::OK);
    let body = text(response).await;
    assert_eq!(
        body,
        fs::read_to_string(app.tls_dir().join("ca.pem")).unwrap()
    );
}

#[tokio::test]
async fn the_hospital_s_own_certificate_is_used_when_given() {
    let dir = tempfile::tempdir().unwrap();
    let own = dir.path().join("own");
    let paths = GeneratedPaths { dir: own.clone() };
    ensure_generated(
        &paths,
        &["localhost".to_string()],
        ::time::OffsetDateTime::now_utc(),
    )
    .unwrap();
    let app = helpers::spawn_app_with(|c| {
        c.tls_cert = Some(own.join("server.pem"));
        c.tls_key = Some(own.join("server.key"));
    })
    .await;

    assert!(!app.tls_dir().exists(), "nothing is generated");
    assert_eq!(app.get("/healthz").await.status(), StatusCode::OK);
}

#[tokio::test]
async fn a_ca_without_its_key_stops_the_start_instead_of_being_replaced() {
    let dir = tempfile::tempdir().unwrap();
    let paths = GeneratedPaths {
        dir: dir.path().join("tls"),
    };
    ensure_generated(&paths, &local_names(), ::time::OffsetDateTime::now_utc()).unwrap();
    let ca_before = fs::read_to_string(paths.dir.join("ca.pem")).unwrap();
    fs::remove_file(paths.dir.join("ca.key")).unwrap();

    let result = ensure_generated(&paths, &local_names(), ::time::OffsetDateTime::now_utc());

    let message = format!("{:#}", result.unwrap_err());
    assert!(message.contains("ca.key"), "{message}");
    assert_eq!(
        fs::read_to_string(paths.dir.join("ca.pem")).unwrap(),
        ca_before
    );
}
