//! Behind a load balancer: the client address that throttles and logs count comes from a trusted
//! source (the PROXY protocol, or `X-Forwarded-For` from a `--trusted-proxy`), never from a header
//! an outsider can write.

mod helpers;

use std::sync::Arc;

use helpers::{TestApp, spawn_app_with};
use reqwest::{Client, StatusCode, cookie::Jar};

/// Whose wrong codes the server counted, in order.
async fn counted_clients(app: &TestApp) -> Vec<String> {
    let rows: Vec<(String,)> = visitas::sql!(&app.db(), |c| sqlx::query_as(
        "SELECT client FROM code_failures ORDER BY id"
    )
    .fetch_all(&mut *c)
    .await)
    .expect("the failures");
    rows.into_iter().map(|(client,)| client).collect()
}

/// A relative's browser with its cookies in `jar`, sending `headers` with every request.
fn browser(jar: &Arc<Jar>, headers: reqwest::header::HeaderMap) -> Client {
    Client::builder()
        .cookie_provider(jar.clone())
        .redirect(reqwest::redirect::Policy::none())
        .tls_danger_accept_invalid_certs(true)
        .default_headers(headers)
        .build()
        .expect("a client")
}

/// [`browser`] whose every request says `X-Forwarded-For: forwarded`.
fn forwarding(jar: &Arc<Jar>, forwarded: &str) -> Client {
    let mut headers = reqwest::header::HeaderMap::new();
    headers.insert(
        "x-forwarded-for",
        forwarded.parse().expect("a header value"),
    );
    browser(jar, headers)
}

/// A relative at the code page of a fresh invite: their cookies, and a code that is wrong.
async fn at_the_code_page(app: &TestApp) -> (Arc<Jar>, &'static str) {
    let (_, room) = app.nurse_with_room("Ana").await;
    let card = app.create_invite(&room, "Marta").await;
    let (relative, jar) = helpers::new_client();
    app.get_with(&relative, &TestApp::invite_path(&card)).await;
    let wrong = if card.code.starts_with('0') {
        "111111"
    } else {
        "000000"
    };
    (jar, wrong)
}

#[tokio::test]
async fn a_forged_forwarded_header_from_an_untrusted_address_is_ignored() {
    // A balancer is trusted, but not at the tests' address.
    let app = spawn_app_with(|c| c.trusted_proxies = vec!["10.9.9.9".parse().unwrap()]).await;
    let (jar, wrong) = at_the_code_page(&app).await;

    for forged in ["198.51.100.1", "198.51.100.2", "10.9.9.9"] {
        let browser = forwarding(&jar, forged);
        let refused = app.type_code(&browser, &jar, wrong).await;
        assert_eq!(refused.status(), StatusCode::BAD_REQUEST, "a wrong code");
    }

    assert_eq!(
        counted_clients(&app).await,
        vec!["127.0.0.1"; 3],
        "every failure counted against the real address"
    );
}

#[tokio::test]
async fn a_trusted_proxy_names_the_client_read_from_the_right() {
    let app = spawn_app_with(|c| c.trusted_proxies = vec!["127.0.0.0/8".parse().unwrap()]).await;
    let (jar, wrong) = at_the_code_page(&app).await;

    for forwarded in ["198.51.100.1", "6.6.6.6, 198.51.100.2", "not an address"] {
        let browser = forwarding(&jar, forwarded);
        app.type_code(&browser, &jar, wrong).await;
    }

    assert_eq!(
        counted_clients(&app).await,
        vec!["198.51.100.1", "198.51.100.2", "127.0.0.1"],
        "the proxy's word, its last entry first; garbage leaves the proxy's own address"
    );
}

/// A load balancer in miniature: every connection to it is passed to `server` after a PROXY
/// protocol (version 2) header saying it came from `client`.
async fn proxy_v2(server: std::net::SocketAddr, client: std::net::SocketAddrV4) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("a port");
    let port = listener.local_addr().expect("its address").port();
    tokio::spawn(async move {
        loop {
            let Ok((mut inbound, _)) = listener.accept().await else {
                return;
            };
            tokio::spawn(async move {
                use tokio::io::AsyncWriteExt;
                let Ok(mut outbound) = tokio::net::TcpStream::connect(server).await else {
                    return;
                };
                let mut header = b"\r\n\r\n\0\r\nQUIT\n".to_vec();
                header.extend([0x21, 0x11, 0, 12]);
                header.extend(client.ip().octets());
                header.extend([127, 0, 0, 1]);
                header.extend(client.port().to_be_bytes());
                header.extend(server.port().to_be_bytes());
                if outbound.write_all(&header).await.is_err() {
                    return;
                }
                let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
            });
        }
    });
    format!("https://127.0.0.1:{port}")
}

#[tokio::test]
async fn with_the_proxy_protocol_its_header_names_the_client_and_is_required() {
    let mut app = spawn_app_with(|c| c.proxy_protocol = true).await;
    let direct = app.base.clone();
    app.base = proxy_v2(app.addr, "198.51.100.9:40000".parse().unwrap()).await;

    let (jar, wrong) = at_the_code_page(&app).await;
    let relative = browser(&jar, reqwest::header::HeaderMap::new());
    let refused = app.type_code(&relative, &jar, wrong).await;
    assert_eq!(refused.status(), StatusCode::BAD_REQUEST, "a wrong code");
    assert_eq!(counted_clients(&app).await, vec!["198.51.100.9"]);

    // Straight to the server, without the header: the connection is closed.
    let (client, _) = helpers::new_client();
    let failed = client.get(format!("{direct}/healthz")).send().await;
    assert!(
        failed.is_err(),
        "no answer without a PROXY header: {failed:?}"
    );
}
