//! A small Socket.IO v5 / Engine.IO v4 client over WebSocket, enough to test the signaling server
//! from Rust: `0{..}` open, `40{auth}` connect, `42[event, data]` events, `42<id>[..]` / `43<id>[..]`
//! acks, `2` ping answered with `3`.

use std::{sync::Arc, time::Duration};

use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio::net::TcpStream;
use tokio_tungstenite::{
    Connector, MaybeTlsStream, WebSocketStream, client_async_tls_with_config,
    tungstenite::{Message, client::IntoClientRequest, http::HeaderValue},
};

use super::TestApp;

type Ws = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// How a handshake ended.
#[derive(Debug)]
pub enum Handshake {
    /// Connected, with the socket id.
    Connected(Box<SocketClient>),
    /// The Socket.IO connect was refused with this message.
    Refused(String),
    /// The HTTP upgrade itself was refused with this status.
    HttpRefused(u16),
}

/// A connected Socket.IO client.
#[derive(Debug)]
pub struct SocketClient {
    ws: Ws,
    next_ack: u64,
    /// Events received while waiting for something else.
    backlog: Vec<(String, Value)>,
    pub closed: bool,
}

/// Connects to the app's `/socket.io/` as a browser page of `origin` would, with `cookie` and
/// Socket.IO `auth`.
pub async fn connect(
    app: &TestApp,
    origin: Option<&str>,
    cookie: Option<&str>,
    auth: Value,
) -> Handshake {
    connect_sending(app, origin, cookie, auth, &[]).await
}

/// Connects like [`connect`], but writes the raw packets `early` in the same write as the
/// Socket.IO connect packet, as a client that does not wait for the connect reply would.
pub async fn connect_sending(
    app: &TestApp,
    origin: Option<&str>,
    cookie: Option<&str>,
    auth: Value,
    early: &[String],
) -> Handshake {
    connect_at(app.addr, &app.ca_dir(), origin, cookie, auth, early).await
}

/// [`connect_sending`] to the server at `addr` whose certificate's CA is in `ca_dir`.
pub async fn connect_at(
    addr: std::net::SocketAddr,
    ca_dir: &std::path::Path,
    origin: Option<&str>,
    cookie: Option<&str>,
    auth: Value,
    early: &[String],
) -> Handshake {
    let ca = std::fs::read(ca_dir.join("ca.pem")).expect("the CA");
    let mut roots = rustls::RootCertStore::empty();
    for cert in rustls::pki_types::pem::PemObject::pem_slice_iter(&ca) {
        roots
            .add(cert.expect("a CA certificate"))
            .expect("a usable CA");
    }
    let tls = rustls::ClientConfig::builder()
        .with_root_certificates(roots)
        .with_no_client_auth();
    let url = format!(
        "wss://localhost:{}/socket.io/?EIO=4&transport=websocket",
        addr.port()
    );
    let mut request = url.into_client_request().expect("a request");
    if let Some(origin) = origin {
        request
            .headers_mut()
            .insert("origin", HeaderValue::from_str(origin).unwrap());
    }
    if let Some(cookie) = cookie {
        request
            .headers_mut()
            .insert("cookie", HeaderValue::from_str(cookie).unwrap());
    }
    let tcp = TcpStream::connect(addr).await.expect("tcp connect");
    let connected =
        client_async_tls_with_config(request, tcp, None, Some(Connector::Rustls(Arc::new(tls))))
            .await;
    let mut ws = match connected {
        Ok((ws, _)) => ws,
        Err(tokio_tungstenite::tungstenite::Error::Http(response)) => {
            return Handshake::HttpRefused(response.status().as_u16());
        }
        Err(err) => panic!("websocket handshake failed: {err}"),
    };
    let open = next_text(&mut ws).await.expect("an engine.io open packet");
    assert!(open.starts_with('0'), "open packet: {open}");
    ws.feed(Message::text(format!("40{auth}"))).await.unwrap();
    for packet in early {
        ws.feed(Message::text(packet.clone())).await.unwrap();
    }
    ws.flush().await.unwrap();
    loop {
        let Some(text) = next_text(&mut ws).await else {
            return Handshake::Refused("closed".into());
        };
        if text == "2" {
            ws.send(Message::text("3")).await.unwrap();
        } else if let Some(body) = text.strip_prefix("40") {
            assert!(body.contains("\"sid\""), "connect ack: {text}");
            return Handshake::Connected(Box::new(SocketClient {
                ws,
                next_ack: 1,
                backlog: Vec::new(),
                closed: false,
            }));
        } else if let Some(body) = text.strip_prefix("44") {
            let error: Value = serde_json::from_str(body).unwrap_or(Value::Null);
            return Handshake::Refused(error["message"].as_str().unwrap_or(body).to_string());
        }
    }
}

/// Opens the WebSocket and reads the Engine.IO open packet, but never sends the Socket.IO
/// connect packet.
pub async fn open_without_connecting(app: &TestApp) -> SocketClient {
    let url = format!(
        "wss://localhost:{}/socket.io/?EIO=4&transport=websocket",
        app.addr.port()
    );
    let mut request = url.into_client_request().expect("a request");
    request
        .headers_mut()
        .insert("origin", HeaderValue::from_str(&app.ws_origin()).unwrap());
    let tcp = TcpStream::connect(app.addr).await.expect("tcp connect");
    let tls = super::trusting_ca(&app.ca_dir());
    let (mut ws, _) =
        client_async_tls_with_config(request, tcp, None, Some(Connector::Rustls(tls)))
            .await
            .expect("the upgrade");
    let open = next_text(&mut ws).await.expect("an engine.io open packet");
    assert!(open.starts_with('0'), "open packet: {open}");
    SocketClient {
        ws,
        next_ack: 1,
        backlog: Vec::new(),
        closed: false,
    }
}

/// The next text frame, `None` when the connection closed.
async fn next_text(ws: &mut Ws) -> Option<String> {
    loop {
        match ws.next().await? {
            Ok(Message::Text(text)) => return Some(text.to_string()),
            Ok(Message::Close(_)) | Err(_) => return None,
            Ok(_) => {}
        }
    }
}

impl Handshake {
    /// The client, or a panic naming how the handshake ended.
    pub fn expect_connected(self) -> SocketClient {
        match self {
            Handshake::Connected(client) => *client,
            other => panic!("expected a connection, got {other:?}"),
        }
    }
}

impl SocketClient {
    /// Sends an event without waiting.
    pub async fn emit(&mut self, event: &str, data: Value) {
        let packet = format!("42{}", json!([event, data]));
        self.send_raw(packet).await;
    }

    /// Sends a raw frame (for malformed and oversized input).
    pub async fn send_raw(&mut self, packet: String) {
        if self.ws.send(Message::text(packet)).await.is_err() {
            self.closed = true;
        }
    }

    /// Sends every event back to back: all frames are written before one flush, with no pause.
    pub async fn emit_all(&mut self, events: impl IntoIterator<Item = (&str, Value)>) {
        for (event, data) in events {
            let packet = format!("42{}", json!([event, data]));
            if self.ws.feed(Message::text(packet)).await.is_err() {
                self.closed = true;
            }
        }
        if self.ws.flush().await.is_err() {
            self.closed = true;
        }
    }

    /// Sends an event with no data and waits for its acknowledgement.
    pub async fn call(&mut self, event: &str) -> Option<Value> {
        let id = self.next_ack;
        self.next_ack += 1;
        self.send_raw(format!("42{id}{}", json!([event]))).await;
        self.ack(id).await
    }

    /// Sends an event with `data` and waits for its acknowledgement.
    pub async fn call_with(&mut self, event: &str, data: Value) -> Option<Value> {
        let id = self.next_ack;
        self.next_ack += 1;
        self.send_raw(format!("42{id}{}", json!([event, data])))
            .await;
        self.ack(id).await
    }

    /// Waits up to 10 s for the acknowledgement numbered `id`, keeping events that arrive first.
    pub async fn ack(&mut self, id: u64) -> Option<Value> {
        self.next_ack = self.next_ack.max(id + 1);
        let prefix = format!("43{id}");
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        loop {
            let text = tokio::time::timeout_at(deadline, self.read())
                .await
                .ok()??;
            if let Some(body) = text.strip_prefix(&prefix).filter(|b| b.starts_with('[')) {
                let values: Vec<Value> = serde_json::from_str(body).ok()?;
                return values.into_iter().next();
            }
            self.keep_event(&text);
        }
    }

    /// `join`, expecting to be admitted; returns the ack.
    pub async fn join(&mut self) -> Value {
        let ack = self.call("join").await.expect("a join ack");
        assert!(ack.get("error").is_none(), "join refused: {ack}");
        ack
    }

    async fn read(&mut self) -> Option<String> {
        loop {
            let Some(text) = next_text(&mut self.ws).await else {
                self.closed = true;
                return None;
            };
            if text == "2" {
                let _ = self.ws.send(Message::text("3")).await;
                continue;
            }
            return Some(text);
        }
    }

    fn keep_event(&mut self, text: &str) {
        if let Some(body) = text.strip_prefix("42")
            && let Ok(Value::Array(mut parts)) = serde_json::from_str::<Value>(body)
            && !parts.is_empty()
        {
            let name = parts.remove(0).as_str().unwrap_or_default().to_string();
            let data = parts.into_iter().next().unwrap_or(Value::Null);
            self.backlog.push((name, data));
        }
    }

    /// The next event of any name, in the order the server sent them; `None` after `wait`.
    pub async fn next_event(&mut self, wait: Duration) -> Option<(String, Value)> {
        self.wait_for(wait, |_| true).await
    }

    /// Waits up to `wait` for an event named `name`.
    pub async fn expect_event(&mut self, name: &str, wait: Duration) -> Option<Value> {
        self.wait_for(wait, |event| event == name)
            .await
            .map(|(_, data)| data)
    }

    /// The first kept or arriving event whose name `wanted` accepts, within `wait`.
    async fn wait_for(
        &mut self,
        wait: Duration,
        wanted: impl Fn(&str) -> bool,
    ) -> Option<(String, Value)> {
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            if let Some(index) = self.backlog.iter().position(|(name, _)| wanted(name)) {
                return Some(self.backlog.remove(index));
            }
            let text = tokio::time::timeout_at(deadline, self.read())
                .await
                .ok()??;
            self.keep_event(&text);
        }
    }

    /// True when nothing named `name` arrives within `wait`.
    pub async fn receives_no(&mut self, name: &str, wait: Duration) -> bool {
        self.expect_event(name, wait).await.is_none()
    }

    /// Waits until the WebSocket connection itself ends (a close frame or the end of the TCP
    /// stream), not only the Socket.IO session; true if it did within `wait`.
    pub async fn connection_ends_within(&mut self, wait: Duration) -> bool {
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            match tokio::time::timeout_at(deadline, next_text(&mut self.ws)).await {
                Ok(Some(text)) => {
                    if text == "2" {
                        let _ = self.ws.send(Message::text("3")).await;
                    }
                }
                Ok(None) => {
                    self.closed = true;
                    return true;
                }
                Err(_) => return false,
            }
        }
    }

    /// Waits until the server closes the connection; true if it did within `wait`.
    pub async fn is_closed_within(&mut self, wait: Duration) -> bool {
        let deadline = tokio::time::Instant::now() + wait;
        while !self.closed {
            match tokio::time::timeout_at(deadline, self.read()).await {
                Ok(Some(text)) => {
                    if text.starts_with("41") {
                        return true;
                    }
                    self.keep_event(&text);
                }
                Ok(None) => return true,
                Err(_) => return false,
            }
        }
        true
    }
}

/// A nurse's browser with a room open for a new patient, and a ticket for its bedside side:
/// the room id, the ticket and the nurse's Cookie header.
pub async fn room_with_bedside(app: &TestApp) -> (String, String, String) {
    let patient = app.register_patient("Ana", "").await;
    let room = app.create_room(&patient).await;
    let ticket = app
        .ticket_with(&app.client, &format!("/rooms/{room}/ticket?as=patient"))
        .await;
    (room, ticket, app.cookie_header(&app.jar))
}

/// The bedside side of a room, connected (not joined yet).
pub async fn bedside(app: &TestApp, ticket: &str, cookie: &str) -> SocketClient {
    with_ticket(app, ticket, Some(cookie)).await
}

/// A socket connected with `ticket` (and a staff `cookie` when given), not joined yet.
pub async fn with_ticket(app: &TestApp, ticket: &str, cookie: Option<&str>) -> SocketClient {
    connect(
        app,
        Some(&app.ws_origin()),
        cookie,
        json!({ "ticket": ticket }),
    )
    .await
    .expect_connected()
}

/// The call ticket of a relative invited to `room` as `name`, who opened the link and typed the
/// code on a device of their own.
pub async fn relative_ticket(app: &TestApp, room: &str, name: &str) -> String {
    let card = app.create_invite(room, name).await;
    let (device, _) = app.admitted_relative(&card).await;
    app.ticket_with(&device, "/visit/ticket").await
}

/// A relative invited to `room`, connected (not joined yet).
pub async fn relative(app: &TestApp, room: &str, name: &str) -> SocketClient {
    let ticket = relative_ticket(app, room, name).await;
    with_ticket(app, &ticket, None).await
}

/// The `id` a join ack gives the socket.
pub fn id(ack: &Value) -> String {
    ack["id"]
        .as_str()
        .expect("the ack names the socket")
        .to_string()
}

/// A room with its bedside in the call: the room id, the bedside's socket and its id (a nurse
/// is signed in on the app's client).
pub async fn joined_bedside(app: &TestApp) -> (String, SocketClient, String) {
    if app.session_cookie(&app.jar).is_none() {
        app.logged_in_nurse().await;
    }
    let (room, ticket, cookie) = room_with_bedside(app).await;
    let mut bedside = bedside(app, &ticket, &cookie).await;
    let bedside_id = id(&bedside.join().await);
    (room, bedside, bedside_id)
}

/// A relative invited to `room` as `name`, in the call: the socket and its id.
pub async fn joined_relative(app: &TestApp, room: &str, name: &str) -> (SocketClient, String) {
    let mut socket = relative(app, room, name).await;
    let socket_id = id(&socket.join().await);
    (socket, socket_id)
}
