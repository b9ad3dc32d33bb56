//! Call signaling over Socket.IO (socketioxide, WebSocket transport only). Media never passes
//! through the server: it only introduces the peers of one room to each other and relays their
//! WebRTC offers, answers and ICE candidates.
//!
//! The modules: [`handshake`] (the upgrade, the Origin check and the ticket), [`gate`] (no byte
//! after a connect packet is read before the connect is answered), [`inbox`] (each socket's
//! events in arrival order), [`limits`] (its rate limit), [`events`] (what each event does) and
//! [`registry`] (who is in which room).
//!
//! # Protocol
//!
//! Socket.IO v5 over Engine.IO v4, WebSocket only, on `/socket.io/`. Enough to write a client
//! from this section alone.
//!
//! **Getting a ticket.** A call ticket is a signed statement of who may signal in which room,
//! valid for two minutes; fetch a fresh one for every (re)connection:
//! - staff (the bedside device, or a nurse joining): `GET /rooms/{id}/ticket?as=patient` (the
//!   bedside, shown as the patient) or `?as=staff` (a nurse, shown by name), with the staff
//!   session cookie `__Host-visitas-session`;
//! - a relative, after typing the access code: `GET /visit/ticket`, with the cookie the code
//!   page set.
//!
//! Both answer `200` with `{ "ticket": "..." }`. Anything else means the person may not call now:
//! a redirect to `/login` (staff signed out), `403` (no valid code session, invite revoked or
//! expired), `404` (unknown room), `409` (room closed), `400` (another `as`).
//!
//! **Connecting.** Open a WebSocket to
//! `wss://HOST/socket.io/?EIO=4&transport=websocket`. The upgrade request must carry this server's
//! own `Origin` (or `--public-url`'s); a foreign or missing `Origin` is refused with HTTP `403`
//! before any WebSocket exists (not with a `connect_error`). Staff clients must send their session
//! cookie on the upgrade; relatives need none. Long polling is not offered (`400`).
//!
//! Right after the upgrade the server sends the Engine.IO open packet `0{"sid",..,"pingInterval",
//! "pingTimeout",..}` and at once a ping `2`; answer every ping with `3`. Then send the Socket.IO
//! connect packet with the ticket: `40{"ticket":"..."}`. Before anything is emitted the server
//! checks the ticket's signature and expiry; for staff tickets, the session cookie of the same
//! account, still active; for relative tickets, that the invite is still active; that the room is
//! still open. It answers `40{"sid":"..."}`, or `44{"message":"unauthorized"}` and nothing
//! else. A client may write its first event right behind the connect packet, without waiting for
//! the answer: nothing after the connect packet is read until it is answered.
//!
//! The room a socket may signal in is the ticket's, decided by the server; nothing the client
//! sends names a room.
//!
//! **Client → server events** (`42["event", data]`, or `42<n>["event", data]` to ask for an
//! acknowledgement `43<n>[answer]`).
//! | event | payload | answer |
//! |---|---|---|
//! | `join` | none | ack `{ id, peers: [{ id, role, name }], iceServers, maxVideoKbps }`; or ack `{ error: "room-full" \| "not-allowed" \| "not-recorded" }` and the socket is disconnected (`not-recorded`: the visit log could not be written, e.g. a full disk, and no call starts without its row); or ack `{ error: "already-joined" }` for a second `join` on one socket, which stays in the call. The others get `peer-joined`. |
//! | `signal` | `{ to: peerId, data }` | relayed as `signal` `{ from, data }` to that one peer, only if it is in the same room. No answer. |
//! | `leave` | none | the others get `peer-left` with reason `hangup`; the socket is disconnected. |
//!
//! `data` is exactly one of:
//! - `{ "description": { "type": "offer" | "answer" | "pranswer" | "rollback", "sdp": "..." } }`
//!   (`RTCSessionDescription.toJSON()`);
//! - `{ "candidate": { "candidate": "...", "sdpMid": "0" | null, "sdpMLineIndex": 0 | null,
//!   "usernameFragment": "..." | null } }` (`RTCIceCandidate.toJSON()`; all but `candidate` may be
//!   left out);
//! - `{ "candidate": null }`: the end of this side's candidates.
//!
//! Anything else (other fields, other types, both or neither) is dropped and logged.
//!
//! **Order.** Every event of one socket is handled in the order it arrived, and a relayed signal
//! reaches the peer in the order its sender wrote it: an offer, then its candidates, then the
//! `null` end marker arrive in that order however fast they are written (trickle ICE, RFC 8838).
//! A `leave` is handled after every signal sent before it.
//!
//! **Who offers, and glare.** The newcomer offers: on its `join` ack it creates one
//! `RTCPeerConnection` per peer in `peers` and sends each an offer; those already in the room
//! wait for it (they learn of the newcomer from `peer-joined`). Renegotiations (an ICE restart
//! after a network change) may come from either side at any time, so both sides use perfect
//! negotiation (W3C WebRTC §10.7): of two peers, the one whose socket id sorts lower is
//! *polite*. When an offer arrives while a peer is making its own (glare), the impolite peer
//! ignores the incoming offer and the polite one rolls its own back and answers.
//!
//! **Server → client events.**
//! | event | payload | when |
//! |---|---|---|
//! | `peer-joined` | `{ id, role, name }` | someone joined this room |
//! | `peer-left` | `{ id, reason }` | someone left (`hangup`), lost the connection (`connection-lost`), was removed (`revoked`, `room-closed`) or the server stops (`server-shutdown`) |
//! | `signal` | `{ from, data }` | a peer's description or candidate for this socket |
//! | `ended` | `{ reason }` | this participant was removed; the socket is disconnected next. `revoked`: the invite was revoked or the staff account deactivated; `room-closed`: the room was closed or the patient discharged; `server-shutdown`; `connection-lost`: the same person joined again from another socket (a reload, or a reconnection after a blip), which replaced this one. |
//!
//! Roles (`patient`, `relative`, `staff`) only label participants; everyone may `join` once,
//! `signal` to peers of its own room, and `leave`.
//!
//! **Limits and errors.** A message over [`MAX_MESSAGE_BYTES`] closes that one connection. Each
//! socket may send `--signal-burst` events at once and `--signal-rate` per second after (100 and
//! 30 by default); excess events are dropped and logged, and a socket that keeps flooding is
//! disconnected. Unknown events, malformed payloads and signals to peers outside the room are
//! dropped and logged. A room holds at most `--room-capacity` participants. A socket that has not
//! sent its connect packet 10 s after the upgrade is closed.
//!
//! **Visit log.** Every join writes a `visit_log` row; every leave, disconnect or removal closes it
//! with the reason (`hangup`, `connection-lost`, `revoked`, `room-closed`, `server-shutdown`).

mod events;
mod gate;
mod handshake;
mod inbox;
mod limits;
mod registry;

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
    time::Duration,
};

use serde_json::{Value, json};
use socketioxide::{
    SocketIo, TransportType, extract::SocketRef, handler::ConnectHandler, service::SocketIoService,
};
use sqlx::SqlitePool;

pub use handshake::accept_socket;
use registry::Registry;
pub use registry::{Member, PresenceEntry};

use crate::{
    auth::{secret::ServerSecret, ticket::CallTicket},
    cache::Caches,
    config::Config,
    db,
    domain::{CallRole, EndReason, InviteStatus},
};

/// Largest Socket.IO message accepted; an SDP offer with candidates is a few kilobytes.
pub const MAX_MESSAGE_BYTES: usize = 64 * 1024;

/// How long a removed participant's connection stays open after its session ended, so that
/// `ended` and the disconnect packet reach it before the connection closes.
const HANGUP_GRACE: Duration = Duration::from_millis(500);

/// Ends a socket's Socket.IO session and then its connection: socketioxide's `disconnect` alone
/// leaves the WebSocket open, holding a connection the participant may no longer use.
fn close_connection(socket: &SocketRef) {
    let hangup = socket.req_parts().extensions.get::<gate::Hangup>().cloned();
    if let Err(err) = socket.clone().disconnect() {
        tracing::debug!(error = %err, "disconnecting a socket");
    }
    if let Some(hangup) = hangup {
        tokio::spawn(async move {
            tokio::time::sleep(HANGUP_GRACE).await;
            hangup.fire();
        });
    }
}

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

/// What the handlers share.
#[derive(Debug)]
pub(crate) struct Hub {
    db: SqlitePool,
    secret: ServerSecret,
    config: Arc<Config>,
    caches: Arc<Caches>,
    registry: Mutex<Registry>,
}

/// The signaling server: the Socket.IO handle and service, and the room registry.
#[derive(Clone)]
pub struct Signaling {
    io: SocketIo,
    hub: Arc<Hub>,
    /// Runs Socket.IO on a connection [`accept_socket`] has upgraded.
    service: SocketIoService<()>,
}

impl std::fmt::Debug for Signaling {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Signaling").field("io", &self.io).finish()
    }
}

/// Builds the signaling server; [`accept_socket`], mounted in front of the pages, serves
/// `/socket.io/` with it.
pub fn build(
    db: SqlitePool,
    secret: ServerSecret,
    config: Arc<Config>,
    caches: Arc<Caches>,
) -> Signaling {
    let hub = Arc::new(Hub {
        db,
        secret,
        config,
        caches,
        registry: Mutex::new(Registry::default()),
    });
    let (service, io) = SocketIo::builder()
        .transports([TransportType::Websocket])
        .ws_max_message_size(MAX_MESSAGE_BYTES)
        .ws_max_frame_size(MAX_MESSAGE_BYTES)
        .max_payload(MAX_MESSAGE_BYTES as u64)
        .max_buffer_size(256)
        // Per socket, and most sockets are idle: reading an offer takes a few more reads.
        .ws_read_buffer_size(256)
        .connect_timeout(Duration::from_secs(10))
        .with_state(hub.clone())
        // Only ever handed upgraded connections: no inner service is reached.
        .build_with_inner_svc(());
    // Everything happens in the connect middleware, before the connect reply: the handler
    // after it has nothing left to do.
    io.ns("/", (async || {}).with(handshake::authenticate));
    Signaling { io, hub, service }
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
            close_connection(&socket);
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
            self.registry().note_pending_end(member.sid, reason);
            return;
        };
        if let Err(err) = db::visit_log::record_leave(&self.db, visit_id, reason).await {
            // The row stays open; the next start closes it as left by a crash.
            match db::StorageFailure::of(&err) {
                Some(failure) => failure.note("the end of a visit was not written"),
                None => tracing::error!(error = %err, visit_id, "writing the end of a visit"),
            }
        }
    }

    fn announce_left(&self, io: &SocketIo, member: &Member, reason: EndReason) {
        self.caches.desk.bump();
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
        crate::auth::turn::ice_servers(&self.config, db::now())
    }
}
