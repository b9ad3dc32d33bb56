//! Call signaling over Socket.IO (socketioxide, WebSocket transport only). Media never passes
//! through the server: it only introduces the peers of one room to each other and relays their
//! WebRTC offers, answers and ICE candidates.
//!
//! # Protocol
//!
//! **Handshake.** The page connects to `/socket.io/` with `auth: { ticket }`, a call ticket from
//! `GET /rooms/{id}/ticket` (staff: the bedside device or a nurse) or `GET /visit/ticket` (a
//! relative who passed the access code). Before anything is emitted the server checks:
//! - the `Origin` of the WebSocket upgrade is this server's own origin ([`check_origin`], an HTTP
//!   middleware; socketioxide does not look at it);
//! - the ticket's signature and expiry ([`crate::auth::ticket`]);
//! - for staff tickets, the staff session cookie of the same account, still active;
//! - for relative tickets, the invite is still active (not revoked, locked or expired);
//! - the room is still open.
//!
//! A refused handshake gets a `connect_error` with the message `unauthorized` and nothing else.
//! The room a socket may signal in is the ticket's, decided by the server; nothing the client
//! sends names a room.
//!
//! **Client → server events.**
//! | event | payload | answer |
//! |---|---|---|
//! | `join` | none | ack `{ id, peers: [{ id, role, name }], iceServers, maxVideoKbps }`, or ack `{ error: "room-full" \| "not-allowed" }` and the socket is disconnected. The others get `peer-joined`. |
//! | `signal` | `{ to: peerId, data: { description } \| { candidate } }` | relayed as `signal` `{ from, data }` to that one peer, only if it is in the same room. |
//! | `leave` | none | the others get `peer-left`; the socket is disconnected. |
//!
//! **Server → client events.**
//! | event | payload | when |
//! |---|---|---|
//! | `peer-joined` | `{ id, role, name }` | someone joined this room |
//! | `peer-left` | `{ id, reason }` | someone left, hung up, lost the connection or was removed |
//! | `signal` | `{ from, data }` | a peer's offer, answer or candidate for this socket |
//! | `ended` | `{ reason: "revoked" \| "room-closed" \| "server-shutdown" }` | this participant was removed; the socket is disconnected next |
//!
//! **Who may send what.** Every participant may `join` once, `signal` to peers of its own room,
//! and `leave`. Roles (`patient`, `relative`, `staff`) only label participants.
//!
//! **Limits and errors.** A message over [`MAX_MESSAGE_BYTES`] closes that one connection. Each
//! socket may send [`RATE_BURST`] events at once and [`RATE_PER_SEC`] per second after; excess
//! events are dropped and logged, and a socket that keeps flooding is disconnected. Unknown events,
//! malformed payloads and signals to peers outside the room are dropped and logged. A room holds at
//! most `--room-capacity` participants.
//!
//! **Visit log.** Every join writes a `visit_log` row; every leave, disconnect or removal closes it
//! with the reason (`hangup`, `connection-lost`, `revoked`, `room-closed`, `server-shutdown`).

mod registry;

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use axum::{
    extract::{Request, State as AxumState},
    http::{Extensions, StatusCode, Uri, header},
    middleware::Next,
    response::{IntoResponse, Response},
};
use hyper::upgrade::OnUpgrade;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json, value::RawValue};
use socketioxide::{
    SocketIo, TransportType,
    extract::{AckSender, Event, SocketRef, State, TryData},
    handler::ConnectHandler,
    layer::SocketIoLayer,
    socket::{DisconnectReason, Sid},
};
use sqlx::SqlitePool;
use tower_sessions::Session;

use registry::{Admission, Registry};
pub use registry::{Member, PresenceEntry};

use crate::{
    app::AppState,
    auth::{
        secret::ServerSecret,
        session::current_staff,
        ticket::{CallRole, CallTicket},
    },
    cache::Caches,
    config::Config,
    db::{self, invites::InviteStatus},
};

/// Largest Socket.IO message accepted; an SDP offer with candidates is a few kilobytes.
pub const MAX_MESSAGE_BYTES: usize = 64 * 1024;
/// Events a socket may send at once.
pub const RATE_BURST: f64 = 100.0;
/// Events per second a socket may keep sending.
pub const RATE_PER_SEC: f64 = 30.0;
/// Dropped events after which a flooding socket is disconnected.
const MAX_DROPPED: u32 = 200;

/// Who a socket is, decided at the handshake from its ticket.
#[derive(Debug, Clone)]
pub struct Participant {
    pub room_id: String,
    pub role: CallRole,
    pub display_name: String,
    pub staff_id: Option<String>,
    pub invite_id: Option<String>,
}

impl Participant {
    fn from_ticket(ticket: CallTicket) -> Self {
        Self {
            room_id: ticket.room_id,
            role: ticket.role,
            display_name: ticket.display_name,
            staff_id: ticket.staff_id,
            invite_id: ticket.invite_id,
        }
    }
}

/// Why a participant's stay ended, as written in the visit log.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EndReason {
    HangUp,
    ConnectionLost,
    Revoked,
    RoomClosed,
    ServerShutdown,
}

impl EndReason {
    /// The stored and sent name.
    pub fn as_str(self) -> &'static str {
        match self {
            EndReason::HangUp => "hangup",
            EndReason::ConnectionLost => "connection-lost",
            EndReason::Revoked => "revoked",
            EndReason::RoomClosed => "room-closed",
            EndReason::ServerShutdown => "server-shutdown",
        }
    }
}

/// What the handlers share.
#[derive(Debug)]
pub struct Hub {
    db: SqlitePool,
    secret: ServerSecret,
    config: Arc<Config>,
    caches: Arc<Caches>,
    registry: Mutex<Registry>,
}

/// The signaling server: the Socket.IO handle and the room registry.
#[derive(Clone, Debug)]
pub struct Signaling {
    io: SocketIo,
    hub: Arc<Hub>,
}

/// Builds the Socket.IO layer (mounted at `/socket.io/`) and the handle to the running calls.
pub fn build(
    db: SqlitePool,
    secret: ServerSecret,
    config: Arc<Config>,
    caches: Arc<Caches>,
) -> (SocketIoLayer, Signaling) {
    let hub = Arc::new(Hub {
        db,
        secret,
        config,
        caches,
        registry: Mutex::new(Registry::default()),
    });
    let (layer, io) = SocketIo::builder()
        .transports([TransportType::Websocket])
        .ws_max_message_size(MAX_MESSAGE_BYTES)
        .ws_max_frame_size(MAX_MESSAGE_BYTES)
        .max_payload(MAX_MESSAGE_BYTES as u64)
        .max_buffer_size(256)
        // Per socket, and most sockets are idle: reading an offer takes a few more reads.
        .ws_read_buffer_size(256)
        .connect_timeout(Duration::from_secs(10))
        .with_state(hub.clone())
        .build_layer();
    io.ns("/", on_connect.with(authenticate));
    (layer, Signaling { io, hub })
}

impl Signaling {
    /// Who is in each room right now: room id → participants.
    pub fn presence(&self) -> HashMap<String, Vec<PresenceEntry>> {
        self.hub.registry().presence()
    }

    /// Removes the relative who came in with this invite (revoked).
    pub async fn end_invite(&self, invite_id: &str) {
        let removed = self
            .hub
            .registry()
            .remove_where(|m| m.participant.invite_id.as_deref() == Some(invite_id));
        self.end(removed, EndReason::Revoked).await;
    }

    /// Removes everyone from a room (closed, or the patient discharged).
    pub async fn end_room(&self, room_id: &str) {
        let removed = self
            .hub
            .registry()
            .remove_where(|m| m.participant.room_id == room_id);
        self.end(removed, EndReason::RoomClosed).await;
    }

    /// Removes a deactivated staff member from every call they are in.
    pub async fn end_staff(&self, staff_id: &str) {
        let removed = self
            .hub
            .registry()
            .remove_where(|m| m.participant.staff_id.as_deref() == Some(staff_id));
        self.end(removed, EndReason::Revoked).await;
    }

    /// Removes everyone from every room, closing their visit log rows.
    pub async fn end_all(&self) {
        let removed = self.hub.registry().remove_where(|_| true);
        self.end(removed, EndReason::ServerShutdown).await;
    }

    async fn end(&self, removed: Vec<Member>, reason: EndReason) {
        end_members(&self.hub, &self.io, removed, reason).await;
    }
}

/// Tells removed members why, disconnects them, closes their visit log rows and tells the others.
async fn end_members(hub: &Hub, io: &SocketIo, removed: Vec<Member>, reason: EndReason) {
    for member in removed {
        hub.close_visit(&member, reason).await;
        if let Some(socket) = io.get_socket(member.sid) {
            if let Err(err) = socket.emit("ended", &json!({ "reason": reason.as_str() })) {
                tracing::debug!(error = %err, "telling a removed participant");
            }
            if let Err(err) = socket.disconnect() {
                tracing::debug!(error = %err, "disconnecting a removed participant");
            }
        }
        hub.announce_left(io, &member, reason);
    }
}

impl Hub {
    fn registry(&self) -> std::sync::MutexGuard<'_, Registry> {
        // A panic while holding this lock cannot leave the map half-updated in a way that
        // matters more than refusing every call from then on would.
        self.registry
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    async fn close_visit(&self, member: &Member, reason: EndReason) {
        let Some(visit_id) = member.visit_id else {
            // The joiner is still writing the row: it will close it with this reason.
            self.registry()
                .note_pending_end(member.sid, reason.as_str());
            return;
        };
        if let Err(err) = db::visit_log::record_leave(&self.db, visit_id, reason.as_str()).await {
            tracing::error!(error = %err, visit_id, "writing the end of a visit");
        }
    }

    fn announce_left(&self, io: &SocketIo, member: &Member, reason: EndReason) {
        let others = self.registry().members_of(&member.participant.room_id);
        let message = json!({ "id": member.sid.to_string(), "reason": reason.as_str() });
        for other in others {
            if let Some(socket) = io.get_socket(other.sid) {
                let _ = socket.emit("peer-left", &message);
            }
        }
    }

    /// True while the participant may still be in the call: the room open and, for a relative,
    /// the invite still active.
    async fn still_allowed(&self, participant: &Participant) -> sqlx::Result<bool> {
        let room = db::rooms::find(&self.db, &participant.room_id).await?;
        if !room.is_some_and(|room| room.is_open()) {
            return Ok(false);
        }
        if let Some(invite_id) = &participant.invite_id {
            let invite = db::invites::find(&self.db, invite_id).await?;
            return Ok(invite.is_some_and(|i| i.status(db::now()) == InviteStatus::Active));
        }
        Ok(true)
    }

    fn ice_servers(&self) -> Value {
        ice_servers(&self.config, db::now())
    }
}

/// The ICE servers a page should use: none by default; with `--turn-secret`, TURN URLs carry
/// time-limited credentials in coturn's REST API format.
pub fn ice_servers(config: &Config, now: i64) -> Value {
    let mut servers = Vec::new();
    for url in &config.ice_urls {
        let is_turn = url.starts_with("turn:") || url.starts_with("turns:");
        match (&config.turn_secret, is_turn) {
            (Some(secret), true) => {
                use base64::{Engine, engine::general_purpose::STANDARD};
                use hmac::{Hmac, KeyInit, Mac};
                let username = format!("{}:visitas", now + 12 * 60 * 60);
                let mut mac = <Hmac<sha1::Sha1> as KeyInit>::new_from_slice(secret.0.as_bytes())
                    .expect("HMAC takes any key length");
                mac.update(username.as_bytes());
                let credential = STANDARD.encode(mac.finalize().into_bytes());
                servers
                    .push(json!({ "urls": url, "username": username, "credential": credential }));
            }
            _ => servers.push(json!({ "urls": url })),
        }
    }
    Value::Array(servers)
}

/// Refuses a WebSocket upgrade to `/socket.io/` whose `Origin` is not this server: a page on
/// another site must not signal with the cookie of a nurse who happens to visit it.
pub async fn check_origin(
    AxumState(state): AxumState<AppState>,
    request: Request,
    next: Next,
) -> Response {
    if request.uri().path().starts_with("/socket.io") {
        let headers = request.headers();
        let allowed = headers
            .get(axum::http::header::ORIGIN)
            .and_then(|origin| origin.to_str().ok())
            .is_some_and(|origin| {
                state.is_own_origin(
                    origin,
                    headers,
                    request.uri().authority().map(|a| a.as_str()),
                )
            });
        if !allowed {
            tracing::warn!("refused a Socket.IO handshake from a foreign or missing origin");
            return StatusCode::FORBIDDEN.into_response();
        }
        return next.run(detach_from_read_buffer(request)).await;
    }
    next.run(request).await
}

/// Socket.IO keeps the request's head for as long as the socket lives, and hyper parses header
/// values and the URI as slices of its 8-16 KiB read buffer: keeping any of them would keep that
/// whole buffer alive per connection. The socket keeps copies of what it still needs instead: the
/// URI (its query names the protocol), the WebSocket key, the pending upgrade and the session (the
/// outer layer has already read it from the cookie).
fn detach_from_read_buffer(request: Request) -> Request {
    let (mut parts, body) = request.into_parts();
    let mut headers = header::HeaderMap::with_capacity(1);
    if let Some(key) = parts.headers.get(header::SEC_WEBSOCKET_KEY)
        && let Ok(copy) = header::HeaderValue::from_bytes(key.as_bytes())
    {
        headers.insert(header::SEC_WEBSOCKET_KEY, copy);
    }
    parts.headers = headers;
    if let Ok(uri) = parts.uri.to_string().parse::<Uri>() {
        parts.uri = uri;
    }
    let mut extensions = Extensions::new();
    if let Some(upgrade) = parts.extensions.remove::<OnUpgrade>() {
        extensions.insert(upgrade);
    }
    if let Some(session) = parts.extensions.remove::<Session>() {
        extensions.insert(session);
    }
    parts.extensions = extensions;
    Request::from_parts(parts, body)
}

#[derive(Debug, Deserialize)]
struct HandshakeAuth {
    ticket: String,
}

#[derive(Debug, thiserror::Error)]
#[error("unauthorized")]
struct Unauthorized;

/// Connect middleware: nothing is emitted to a socket that does not pass.
async fn authenticate(
    socket: SocketRef,
    TryData(auth): TryData<HandshakeAuth>,
    State(hub): State<Arc<Hub>>,
) -> Result<(), Unauthorized> {
    let ticket = auth
        .ok()
        .and_then(|auth| CallTicket::open(&auth.ticket, &hub.secret, db::now()));
    let Some(ticket) = ticket else {
        tracing::warn!("refused a Socket.IO handshake with an invalid or expired ticket");
        return Err(Unauthorized);
    };
    if matches!(ticket.role, CallRole::Patient | CallRole::Staff) {
        let session = socket.req_parts().extensions.get::<Session>().cloned();
        let staff = match session {
            Some(session) => current_staff(&session, &hub.db, &hub.config, &hub.caches)
                .await
                .ok(),
            None => None,
        };
        if staff.is_none_or(|staff| Some(staff.id) != ticket.staff_id) {
            tracing::warn!("refused a staff Socket.IO handshake without the matching session");
            return Err(Unauthorized);
        }
    }
    let participant = Participant::from_ticket(ticket);
    match hub.still_allowed(&participant).await {
        Ok(true) => {}
        Ok(false) => {
            tracing::info!("refused a Socket.IO handshake for a closed room or inactive invite");
            return Err(Unauthorized);
        }
        Err(err) => {
            tracing::error!(error = %err, "checking a Socket.IO handshake");
            return Err(Unauthorized);
        }
    }
    socket.extensions.insert(participant);
    socket
        .extensions
        .insert(Arc::new(Mutex::new(RateLimiter::new())));
    Ok(())
}

async fn on_connect(socket: SocketRef) {
    socket.on("join", join);
    socket.on("signal", signal);
    socket.on("leave", leave);
    socket.on_fallback(async |socket: SocketRef, Event(event): Event| {
        if allow(&socket) {
            tracing::warn!(event = %event, "dropped an unknown Socket.IO event");
        }
    });
    socket.on_disconnect(disconnected);
}

/// Token bucket per socket.
#[derive(Debug)]
struct RateLimiter {
    tokens: f64,
    last: Instant,
    dropped: u32,
}

impl RateLimiter {
    fn new() -> Self {
        Self {
            tokens: RATE_BURST,
            last: Instant::now(),
            dropped: 0,
        }
    }
}

/// Spends one event from the socket's budget; false (and logged) when it is exhausted.
fn allow(socket: &SocketRef) -> bool {
    let Some(limiter) = socket.extensions.get::<Arc<Mutex<RateLimiter>>>() else {
        return false;
    };
    let mut limiter = limiter
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let now = Instant::now();
    let refill = now.duration_since(limiter.last).as_secs_f64() * RATE_PER_SEC;
    limiter.tokens = (limiter.tokens + refill).min(RATE_BURST);
    limiter.last = now;
    if limiter.tokens >= 1.0 {
        limiter.tokens -= 1.0;
        return true;
    }
    limiter.dropped += 1;
    tracing::warn!(sid = %socket.id, "dropped a Socket.IO event over the rate limit");
    if limiter.dropped > MAX_DROPPED {
        drop(limiter);
        tracing::warn!(sid = %socket.id, "disconnected a socket that kept flooding");
        let _ = socket.clone().disconnect();
    }
    false
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct JoinAck {
    id: String,
    peers: Vec<PeerInfo>,
    ice_servers: Value,
    max_video_kbps: u32,
}

#[derive(Debug, Clone, Serialize)]
struct PeerInfo {
    id: String,
    role: CallRole,
    name: String,
}

impl PeerInfo {
    fn of(member: &Member) -> Self {
        Self {
            id: member.sid.to_string(),
            role: member.participant.role,
            name: member.participant.display_name.clone(),
        }
    }
}

async fn join(socket: SocketRef, io: SocketIo, State(hub): State<Arc<Hub>>, ack: AckSender) {
    if !allow(&socket) {
        return;
    }
    let Some(participant) = socket.extensions.get::<Participant>() else {
        return;
    };
    if !matches!(hub.still_allowed(&participant).await, Ok(true)) {
        let _ = ack.send(&json!({ "error": "not-allowed" }));
        let _ = socket.disconnect();
        return;
    }
    let admission = hub
        .registry()
        .admit(socket.id, participant.clone(), hub.config.room_capacity);
    let others = match admission {
        Admission::Admitted { others, replaced } => {
            if let Some(old) = replaced {
                end_members(&hub, &io, vec![old], EndReason::ConnectionLost).await;
            }
            others
        }
        Admission::AlreadyJoined => {
            tracing::warn!(sid = %socket.id, "dropped a second join");
            return;
        }
        Admission::Full => {
            tracing::info!(room = %participant.room_id, "refused a participant: the room is full");
            let _ = ack.send(&json!({ "error": "room-full" }));
            let _ = socket.disconnect();
            return;
        }
    };
    let visit = db::visit_log::NewVisit {
        room_id: &participant.room_id,
        role: participant.role.as_str(),
        display_name: &participant.display_name,
        staff_id: participant.staff_id.as_deref(),
        invite_id: participant.invite_id.as_deref(),
    };
    match db::visit_log::record_join(&hub.db, &visit).await {
        Ok(visit_id) => {
            let still_here = hub.registry().set_visit_id(socket.id, visit_id);
            if !still_here {
                // Removed while the row was written: close it with the reason of the removal.
                let reason = hub.registry().take_pending_end(socket.id);
                let reason = reason.unwrap_or(EndReason::ConnectionLost.as_str());
                let _ = db::visit_log::record_leave(&hub.db, visit_id, reason).await;
                return;
            }
        }
        Err(err) => tracing::error!(error = %err, "writing a visit log entry"),
    }
    // A revocation or closure that committed after the first check found nobody to remove: look
    // again now that this socket is in the registry, where any later one will find it.
    if !matches!(hub.still_allowed(&participant).await, Ok(true)) {
        let removed = hub.registry().remove(socket.id);
        let reason = if participant.invite_id.is_some() {
            EndReason::Revoked
        } else {
            EndReason::RoomClosed
        };
        end_members(&hub, &io, removed.into_iter().collect(), reason).await;
        return;
    }
    let me = Member {
        sid: socket.id,
        participant,
        visit_id: None,
    };
    let answer = JoinAck {
        id: socket.id.to_string(),
        peers: others.iter().map(PeerInfo::of).collect(),
        ice_servers: hub.ice_servers(),
        max_video_kbps: hub.config.max_video_kbps,
    };
    let _ = ack.send(&answer);
    let joined = PeerInfo::of(&me);
    for other in others {
        if let Some(peer) = io.get_socket(other.sid) {
            let _ = peer.emit("peer-joined", &joined);
        }
    }
}

#[derive(Debug, Deserialize)]
struct SignalIn {
    to: String,
    data: SignalData,
}

/// What a signal carries: a session description or an ICE candidate, exactly one. Each is kept
/// as the JSON the sender wrote and relayed as it is: an offer is a few KiB of SDP, and parsing it
/// into a tree only to encode it again was most of the work of relaying it.
#[derive(Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
struct SignalData {
    #[serde(
        default,
        deserialize_with = "present",
        skip_serializing_if = "Option::is_none"
    )]
    description: Option<Box<RawValue>>,
    /// `null` is the end of the candidates, and is relayed like any other.
    #[serde(
        default,
        deserialize_with = "present",
        skip_serializing_if = "Option::is_none"
    )]
    candidate: Option<Box<RawValue>>,
}

/// A field that is there, even as `null` (serde would read `null` as absent).
fn present<'de, D: serde::Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<Box<RawValue>>, D::Error> {
    Box::<RawValue>::deserialize(deserializer).map(Some)
}

#[derive(Debug, Serialize)]
struct SignalOut<'a> {
    from: String,
    data: &'a SignalData,
}

async fn signal(
    socket: SocketRef,
    io: SocketIo,
    State(hub): State<Arc<Hub>>,
    TryData(message): TryData<SignalIn>,
) {
    if !allow(&socket) {
        return;
    }
    let Ok(message) = message else {
        tracing::warn!(sid = %socket.id, "dropped a malformed signal");
        return;
    };
    let well_formed = message.data.description.is_some() != message.data.candidate.is_some();
    let Ok(to) = message.to.parse::<Sid>() else {
        tracing::warn!(sid = %socket.id, "dropped a signal to a malformed peer id");
        return;
    };
    if !well_formed || !hub.registry().same_room(socket.id, to) {
        tracing::warn!(sid = %socket.id, "dropped a signal outside the sender's room");
        return;
    }
    if let Some(peer) = io.get_socket(to) {
        let relayed = SignalOut {
            from: socket.id.to_string(),
            data: &message.data,
        };
        if let Err(err) = peer.emit("signal", &relayed) {
            tracing::debug!(error = %err, "relaying a signal");
        }
    }
}

async fn leave(socket: SocketRef, io: SocketIo, State(hub): State<Arc<Hub>>) {
    if !allow(&socket) {
        return;
    }
    depart(&hub, &io, socket.id, EndReason::HangUp).await;
    let _ = socket.disconnect();
}

async fn disconnected(
    socket: SocketRef,
    io: SocketIo,
    State(hub): State<Arc<Hub>>,
    reason: DisconnectReason,
) {
    let end = match reason {
        DisconnectReason::ClientNSDisconnect => EndReason::HangUp,
        DisconnectReason::ClosingServer => EndReason::ServerShutdown,
        _ => EndReason::ConnectionLost,
    };
    depart(&hub, &io, socket.id, end).await;
}

async fn depart(hub: &Hub, io: &SocketIo, sid: Sid, reason: EndReason) {
    let removed = hub.registry().remove(sid);
    if let Some(member) = removed {
        hub.close_visit(&member, reason).await;
        hub.announce_left(io, &member, reason);
    }
}

#[cfg(test)]
mod tests {
    use axum::body::{Body, Bytes};

    use super::*;

    #[derive(Clone)]
    struct Unrelated;

    #[test]
    fn a_kept_socket_request_shares_nothing_with_the_read_buffer() {
        // What hyper does: the head's values are slices of one read buffer.
        let head =
            "/socket.io/?EIO=4&transport=websocket dGhlIHNhbXBsZSBub25jZQ== visitas-session=abc";
        let buffer = Bytes::from(head.to_string());
        let (uri_end, key_end) = (head.find(' ').unwrap_or(0), head.rfind(' ').unwrap_or(0));
        let inside = |bytes: &[u8]| {
            let start = buffer.as_ptr() as usize;
            (start..start + buffer.len()).contains(&(bytes.as_ptr() as usize))
        };
        let mut request = Request::new(Body::empty());
        *request.uri_mut() = Uri::from_maybe_shared(buffer.slice(..uri_end)).expect("a valid URI");
        let headers = request.headers_mut();
        headers.insert(
            header::SEC_WEBSOCKET_KEY,
            header::HeaderValue::from_maybe_shared(buffer.slice(uri_end + 1..key_end))
                .expect("a valid value"),
        );
        headers.insert(
            header::COOKIE,
            header::HeaderValue::from_maybe_shared(buffer.slice(key_end + 1..))
                .expect("a valid value"),
        );
        let upgrade = hyper::upgrade::on(Request::new(()));
        request.extensions_mut().insert(upgrade);
        request.extensions_mut().insert(Unrelated);
        assert!(inside(request.uri().path().as_bytes()));

        let kept = detach_from_read_buffer(request);

        assert_eq!(
            kept.uri().to_string(),
            "/socket.io/?EIO=4&transport=websocket"
        );
        assert!(!inside(kept.uri().path().as_bytes()));
        assert!(!inside(kept.uri().query().unwrap_or_default().as_bytes()));
        let key = kept.headers().get(header::SEC_WEBSOCKET_KEY);
        assert_eq!(
            key.map(header::HeaderValue::as_bytes),
            Some(&b"dGhlIHNhbXBsZSBub25jZQ=="[..])
        );
        assert!(!inside(key.map_or(&[][..], |k| k.as_bytes())));
        assert_eq!(kept.headers().len(), 1, "only the WebSocket key is kept");
        assert!(kept.extensions().get::<OnUpgrade>().is_some());
        assert!(kept.extensions().get::<Unrelated>().is_none());
    }
}
