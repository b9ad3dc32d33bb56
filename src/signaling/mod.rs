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
//! - a bedside tablet, paired to a bed: `GET /bedside/ticket`, with its device cookie
//!   `__Host-visitas-device` (the ticket names the device; no staff session).
//!
//! All answer `200` with `{ "ticket": "..." }`. Anything else means the person may not call now:
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
//! | `join` | optional `{ camera, microphone, browser, rttMs, session, resume }`: the device check, the page instance (`session`, 8–64 letters, digits or `-`, new on every page load) and `resume: true` when this page was in the call before (a reconnection) | a relative nobody has let in for this visit yet gets ack `{ waiting: true, id }` and waits in the waiting room (see below); everyone else ack `{ id, peers: [{ id, role, name, session, reconnecting, microphone, camera, paused }], iceServers, iceTransportPolicy, maxVideoKbps, videoFloorKbps, rejoinGraceSecs, rejoined }` (`maxVideoKbps` is the call's video cap now, `0` for audio-only; see `video-cap`); or ack `{ error: "room-full" \| "not-allowed" \| "not-recorded" \| "connection-lost" }` and the socket is disconnected (`not-recorded`: the visit log could not be written, e.g. a full disk, and no call starts without its row; `connection-lost`: a `resume` whose place was given up, see **Rejoining**: the page may join afresh); or ack `{ error: "already-joined" }` for a second `join` on one socket, which stays in the call. The others get `peer-joined` (or `peer-back`). |
//! | `signal` | `{ to: peerId, data }` | relayed as `signal` `{ from, data }` to that one peer, only if it is in the same room. No answer. |
//! | `leave` | none | the others get `peer-left` with reason `hangup`; the socket is disconnected. |
//! | `ready` | none | bedside devices only: stands by for the bed's calls; ack `{ ok: true }` (others: `{ error: "not-allowed" }`). |
//! | `decline` | none | bedside devices only: the patient pressed "Not now"; audited, and the relatives in the call get `notice` `{ key: "patient-declined" }`. |
//! | `media` | `{ microphone, camera, paused }` (booleans, all three) | what this page sends now (`paused`: video paused to keep the sound on a weak link or by the site's budget); relayed to the others as `peer-media`, and part of `peers`/`peer-joined`/`peer-back` for those who come later. No answer. |
//! | `quality` | `{ sentKbps, receivedKbps, lossPermille, audioOnlySecs }` (whole numbers) | the page's call-quality summary since it joined (every 30 s and at hang-up): average bitrate sent and received, packets lost per thousand received, seconds its video was paused to keep the sound. Stored on the sender's stay for the visit log; impossible figures are dropped. No answer. |
//! | `alive` | none | the page's heartbeat (every 2 s in a call): ack `{}` at once. A page that gets no answer within 3 s closes its connection and reconnects. From a socket's first `alive` on, the server closes its connection when it has said nothing for 8 s while in a call (lost: the person keeps their place for the grace). |
//!
//! **Rejoining.** A participant is a person, not a socket: `id` (the peer id) is issued by the
//! server, the same for that person in that room for the whole visit, across reconnections
//! and restarts. When a socket's connection is lost (closed, broken, silent for 8 s after it
//! began sending `alive`, or silent past the transport's ping timeout, 45 s at most) the person keeps their place for
//! `--rejoin-grace-secs` (60 by default) counted from their last event, and the others get
//! `peer-away` `{ id }`. A new socket of the same person that joins (with a fresh ticket) takes
//! the place back: it gets the usual answer with `rejoined: true`, the others get `peer-back`
//! `{ id, role, name, session, reconnecting }`, the visit log's stay stays the same and counts
//! one rejoin. A page that kept its `RTCPeerConnection`s (same `session`) keeps them and
//! restarts ICE if they failed; a reloaded page (new `session`) offers afresh, and the others
//! drop their connection to its old instance. An earlier socket of the person that is still
//! open (another window) gets `ended` `{ reason: "replaced" }`. After the grace, the person
//! has left: the others get `peer-left` with `connection-lost`, and a later `resume` is answered
//! `connection-lost`. When the server stops, it closes every connection without ending anyone's
//! session: the pages reconnect, and within the grace after the restart they take their stays
//! back (media between browsers does not pass through the server and keeps flowing).
//!
//! **Several nodes** (PostgreSQL): the participants of one call may be connected to different
//! nodes; everything above holds across them. When a node stops, the others in its
//! participants' calls get `peer-left` (`connection-lost`) and the pages take their stays back
//! wherever they reconnect. When a node dies, a page reconnecting to another node takes its
//! place back there (`rejoined: true`, the others get `peer-back`); those who do not come back
//! leave (`connection-lost`) once the node has been silent for 10 s.
//!
//! **The waiting room.** A waiting socket is in no room: its `signal`s are dropped, it gets no
//! peer list, no `peer-joined`/`peer-left`, no ICE servers; no event lets it in. A nurse (an
//! HTTP request, audited, stored in `admissions`) or the ward's automatic admission (at the
//! visit's start, with the bedside standing by) moves it into the call: it then gets `admitted`
//! with exactly what a `join` ack carries, and offers like a newcomer. Once admitted for a visit,
//! a relative's later `join`s (a reload, a reconnection) enter at once. While waiting it may get
//! `not-now` `{ message }` (a key of the nurse's list) or `ended` `{ reason: "sent-away", message }`.
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
//! negotiation (W3C WebRTC §10.7): of two peers, the one whose peer id sorts lower is
//! *polite*. When an offer arrives while a peer is making its own (glare), the impolite peer
//! ignores the incoming offer and the polite one rolls its own back and answers.
//!
//! **Server → client events.**
//! | event | payload | when |
//! |---|---|---|
//! | `peer-joined` | `{ id, role, name, session, reconnecting, microphone, camera, paused }` | someone joined this room |
//! | `peer-left` | `{ id, reason }` | someone left (`hangup`), did not come back within the rejoin grace (`connection-lost`) or was removed (`revoked`, `room-closed`) |
//! | `peer-away` | `{ id }` | someone's connection was lost; they keep their place for the rejoin grace |
//! | `peer-back` | as `peer-joined` | someone came back (see **Rejoining**) |
//! | `signal` | `{ from, data }` | a peer's description or candidate for this socket |
//! | `admitted` | as the `join` ack | a waiting relative was let in |
//! | `not-now` | `{ message }` | a nurse's message to a waiting relative |
//! | `incoming` | `{ answer: "auto" \| "tap", cameraOff }` | to a bedside standing by: a relative is in the call and the patient's side is not |
//! | `notice` | `{ key }` | something to show (`patient-declined`) |
//! | `peer-media` | `{ id, microphone, camera, paused }` | a peer's page sends something else now |
//! | `video-cap` | `{ kbps }` | the site's video budget (`--site-video-kbps`) changed this call's cap: every video sender keeps under it (`RTCRtpSender.setParameters`); `0` means audio-only until a later `video-cap` |
//! | `ended` | `{ reason }` | this participant was removed; the socket is disconnected next. `revoked`: the invite was revoked or the staff account deactivated; `room-closed`: the room was closed or the patient discharged; `replaced`: the same person joined again from another socket, which took this one's place; `sent-away` (with `message`): a nurse sent them away from the waiting room; `unpaired`: this bedside device was unpaired. |
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
//! **Visit log.** Every person's entry writes a `visit_log` row (a stay); their leave, removal or
//! the end of their rejoin grace closes it with the reason (`hangup`, `connection-lost`,
//! `revoked`, `room-closed`, `server-shutdown`); each rejoin counts in its `rejoins`.

pub mod budget;
mod events;
mod gate;
mod handshake;
mod inbox;
mod limits;
mod link;
mod registry;

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
    time::Duration,
};

use serde_json::{Value, json};
use socketioxide::{
    SocketIo, TransportType, extract::SocketRef, handler::ConnectHandler, service::SocketIoService,
    socket::Sid,
};

pub use budget::SiteLoad;
pub use handshake::accept_socket;
use link::Adapter;
pub use link::Link;
pub use registry::{Counts, MediaState, Member, PresenceEntry};
use registry::{Registry, Shared, Waiter};

use crate::{
    auth::{secret::ServerSecret, ticket::CallTicket},
    cache::Caches,
    config::Config,
    db,
    domain::{
        AdmissionHow, AuditAction, CallRole, DeviceCheck, EndReason, InviteStatus, NotNowMessage,
        SendAwayReason,
    },
};

/// Someone in the waiting room, as the desk and the room page show them.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct WaitingEntry {
    pub invite_id: String,
    pub name: String,
    pub relationship: String,
    pub room_id: String,
    pub visit_id: Option<String>,
    pub ward_id: Option<String>,
    pub visit_starts_at: Option<i64>,
    /// Unix seconds.
    pub since: i64,
    pub check: DeviceCheck,
    pub told: Option<NotNowMessage>,
}

/// Largest Socket.IO message accepted; an SDP offer with candidates is a few kilobytes.
pub const MAX_MESSAGE_BYTES: usize = 64 * 1024;

/// How long a removed participant's connection stays open after its session ended, so that
/// `ended` and the disconnect packet reach it before the connection closes.
const HANGUP_GRACE: Duration = Duration::from_millis(500);

/// Ends a socket's Socket.IO session and then its connection: socketioxide's `disconnect` alone
/// leaves the WebSocket open, holding a connection the participant may no longer use.
fn close_connection(socket: &SocketRef<Adapter>) {
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

/// Closes a socket's connection without ending its Socket.IO session: the client sees its
/// transport close and reconnects (a server stopping, not a removal).
fn drop_connection(socket: &SocketRef<Adapter>) {
    match socket.req_parts().extensions.get::<gate::Hangup>() {
        Some(hangup) => hangup.fire(),
        None => close_connection(socket),
    }
}

/// Who a socket is, decided at the handshake from its ticket.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct Participant {
    pub room_id: String,
    pub role: CallRole,
    pub display_name: String,
    pub staff_id: Option<String>,
    pub invite_id: Option<String>,
    /// The paired bedside device (patient role, no staff session).
    pub device_id: Option<String>,
}

impl Participant {
    fn from_ticket(ticket: CallTicket) -> Self {
        Self {
            room_id: ticket.room_id,
            role: ticket.role,
            display_name: ticket.display_name,
            staff_id: ticket.staff_id,
            invite_id: ticket.invite_id,
            device_id: ticket.device_id,
        }
    }
}

/// What the handlers share.
#[derive(Debug)]
pub(crate) struct Hub {
    db: crate::db::Pool,
    secret: ServerSecret,
    config: Arc<Config>,
    caches: Arc<Caches>,
    registry: Mutex<Registry>,
    /// The video budget as last pushed to the pages: each room's cap, and the site's state.
    plan: Mutex<budget::Plan>,
    /// This node's id (see [`crate::nodes`]).
    node: String,
    /// No other node can hold a socket (one SQLite file).
    alone: bool,
    /// Woken when this node's registry changed, to publish it to the other nodes.
    changed: tokio::sync::Notify,
    /// Messages for the other nodes, once connected to them.
    outbox: Mutex<Option<tokio::sync::mpsc::UnboundedSender<String>>>,
    /// The server is stopping: it publishes nothing more (see [`Signaling::end_all`]).
    stopping: std::sync::atomic::AtomicBool,
    /// The other nodes' Socket.IO servers.
    link: Link,
}

/// The registry, locked; a change through it is published to the other nodes when it is dropped.
struct RegistryGuard<'a> {
    registry: std::sync::MutexGuard<'a, Registry>,
    changed: &'a tokio::sync::Notify,
    touched: bool,
}

impl std::ops::Deref for RegistryGuard<'_> {
    type Target = Registry;
    fn deref(&self) -> &Registry {
        &self.registry
    }
}

impl std::ops::DerefMut for RegistryGuard<'_> {
    fn deref_mut(&mut self) -> &mut Registry {
        self.touched = true;
        &mut self.registry
    }
}

impl Drop for RegistryGuard<'_> {
    fn drop(&mut self) {
        if self.touched {
            self.changed.notify_one();
        }
    }
}

/// What one node asks every node to do to the sockets it holds: the removals and admissions
/// decided by a request (on whichever node it came), a ring for a bedside, and giving up a place
/// another node took over.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
enum Command {
    EndInvite {
        invite_id: String,
    },
    EndRoom {
        room_id: String,
    },
    EndDevice {
        device_id: String,
    },
    EndStaff {
        staff_id: String,
    },
    Admit {
        invite_id: String,
    },
    NotNow {
        invite_id: String,
        message: NotNowMessage,
    },
    SendAway {
        invite_id: String,
        reason: SendAwayReason,
    },
    Ring {
        room_id: String,
    },
    Replaced {
        room_id: String,
        peer_id: String,
        sid: Sid,
    },
}

/// The Socket.IO room of one call's sockets, on every node.
fn call_room(room_id: &str) -> String {
    format!("call:{room_id}")
}

/// The Socket.IO room of one person's socket in a call (peer ids are per room).
fn peer_room(room_id: &str, peer_id: &str) -> String {
    format!("peer:{room_id}:{peer_id}")
}

/// The signaling server: the Socket.IO handle and service, and the room registry.
#[derive(Clone)]
pub struct Signaling {
    io: SocketIo<Adapter>,
    hub: Arc<Hub>,
    /// Runs Socket.IO on a connection [`accept_socket`] has upgraded.
    service: SocketIoService<(), Adapter>,
}

impl std::fmt::Debug for Signaling {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Signaling").field("io", &self.io).finish()
    }
}

/// How the nodes keep track of each other: how often each says it is alive, and after how long
/// without a word it is gone.
#[derive(Debug, Clone, Copy)]
pub struct Liveness {
    pub heartbeat: Duration,
    pub timeout: Duration,
}

/// Builds the signaling server; [`accept_socket`], mounted in front of the pages, serves
/// `/socket.io/` with it. `node` is this node's id; `link` reaches the other nodes' Socket.IO
/// servers, if there are any.
pub async fn build(
    db: crate::db::Pool,
    secret: ServerSecret,
    config: Arc<Config>,
    caches: Arc<Caches>,
    node: String,
    link: Link,
    liveness: Liveness,
) -> anyhow::Result<Signaling> {
    let alone = matches!(link, Link::Alone);
    let hub = Arc::new(Hub {
        db,
        secret,
        config,
        caches,
        registry: Mutex::new(Registry::default()),
        plan: Mutex::new(budget::Plan::default()),
        node,
        alone,
        changed: tokio::sync::Notify::new(),
        outbox: Mutex::new(None),
        stopping: std::sync::atomic::AtomicBool::new(false),
        link: link.clone(),
    });
    let (service, io) = SocketIo::builder()
        .with_adapter::<Adapter>(link::adapter(link, liveness))
        .transports([TransportType::Websocket])
        .ws_max_message_size(MAX_MESSAGE_BYTES)
        .ws_max_frame_size(MAX_MESSAGE_BYTES)
        .max_payload(MAX_MESSAGE_BYTES as u64)
        .max_buffer_size(256)
        // Per socket, and most sockets are idle: reading an offer takes a few more reads.
        .ws_read_buffer_size(256)
        .connect_timeout(Duration::from_secs(10))
        // Engine.IO's own heartbeat stays at its defaults (a dead connection noticed within 45 s):
        // pages in a call notice a dead link in seconds with their `alive` heartbeat, and a lost
        // person's grace counts from their last event, not from when the server noticed.
        .with_state(hub.clone())
        // Only ever handed upgraded connections: no inner service is reached.
        .build_with_inner_svc(());
    // Everything happens in the connect middleware, before the connect reply: the handler
    // after it has nothing left to do.
    io.ns("/", (async || {}).with(handshake::authenticate))
        .await
        .map_err(|err| anyhow::anyhow!("cannot reach the other nodes' signaling: {err}"))?;
    Ok(Signaling { io, hub, service })
}

impl Signaling {
    /// How many calls, participants, waiting relatives and standing tablets there are now, on
    /// this node.
    pub fn counts(&self) -> Counts {
        self.hub.registry().counts()
    }

    /// Who is in each room right now, on every node: room id → participants.
    pub fn presence(&self) -> HashMap<String, Vec<PresenceEntry>> {
        self.hub.registry().presence()
    }

    /// Removes the relative who came in with this invite (revoked), from the call or the
    /// waiting room, on whichever node holds them.
    pub async fn end_invite(&self, invite_id: &str) {
        let command = Command::EndInvite {
            invite_id: invite_id.to_string(),
        };
        self.everywhere(command).await;
    }

    /// Removes everyone from a room (closed, or the patient discharged): the call, the waiting
    /// room and the bedside devices standing by, on every node.
    pub async fn end_room(&self, room_id: &str) {
        let command = Command::EndRoom {
            room_id: room_id.to_string(),
        };
        self.everywhere(command).await;
    }

    /// Who waits in the waiting room, in arrival order, on every node.
    pub fn waiting(&self) -> Vec<WaitingEntry> {
        let registry = self.hub.registry();
        let mut entries: Vec<WaitingEntry> = registry.waiting().iter().map(Waiter::entry).collect();
        entries.extend(registry.remote_waiting());
        entries.sort_by_key(|w| w.since);
        entries
    }

    /// Moves the relative holding this invite from the waiting room into the call (the
    /// admission is already stored), on whichever node they wait.
    pub fn admit(&self, invite_id: &str) {
        self.hub.tell_nodes(&Command::Admit {
            invite_id: invite_id.to_string(),
        });
        self.admit_here(invite_id);
    }

    fn admit_here(&self, invite_id: &str) {
        let waiters: Vec<Waiter> = self
            .hub
            .registry()
            .waiting()
            .into_iter()
            .filter(|w| w.participant.invite_id.as_deref() == Some(invite_id))
            .collect();
        for waiter in &waiters {
            waiter.door.knock(waiter.sid, inbox::Knock::Admitted);
        }
    }

    /// Shows a "not now" message on the waiting screen of the relative holding this invite.
    pub fn tell_not_now(&self, invite_id: &str, message: NotNowMessage) {
        self.hub.tell_nodes(&Command::NotNow {
            invite_id: invite_id.to_string(),
            message,
        });
        self.tell_not_now_here(invite_id, message);
    }

    fn tell_not_now_here(&self, invite_id: &str, message: NotNowMessage) {
        let sids = self.hub.registry().tell_waiting(invite_id, message);
        for sid in sids {
            if let Some(socket) = self.io.get_socket(sid) {
                let _ = socket.emit("not-now", &json!({ "message": message.key() }));
            }
        }
        self.hub.caches.desk.bump();
    }

    /// Sends the relative holding this invite away from the waiting room, with the reason.
    pub fn send_away(&self, invite_id: &str, reason: SendAwayReason) {
        self.hub.tell_nodes(&Command::SendAway {
            invite_id: invite_id.to_string(),
            reason,
        });
        self.send_away_here(invite_id, reason);
    }

    fn send_away_here(&self, invite_id: &str, reason: SendAwayReason) {
        let waiters = self
            .hub
            .registry()
            .stop_waiting_where(|w| w.participant.invite_id.as_deref() == Some(invite_id));
        self.dismiss_waiters(waiters, "sent-away", Some(reason.key()));
        self.hub.caches.desk.bump();
    }

    /// Disconnects every socket of a bedside device (unpaired): standing by or in a call, on
    /// whichever node.
    pub async fn end_device(&self, device_id: &str) {
        let command = Command::EndDevice {
            device_id: device_id.to_string(),
        };
        self.everywhere(command).await;
    }

    /// Removes a deactivated staff member from every call they are in, on every node.
    pub async fn end_staff(&self, staff_id: &str) {
        let command = Command::EndStaff {
            staff_id: staff_id.to_string(),
        };
        self.everywhere(command).await;
    }

    /// Tells the other nodes, and does it here.
    async fn everywhere(&self, command: Command) {
        self.hub.tell_nodes(&command);
        self.obey(command).await;
    }

    /// Does what a node asked, to the sockets this node holds.
    async fn obey(&self, command: Command) {
        match command {
            Command::EndInvite { invite_id } => {
                let holds = |p: &Participant| p.invite_id.as_deref() == Some(invite_id.as_str());
                let waiters = self
                    .hub
                    .registry()
                    .stop_waiting_where(|w| holds(&w.participant));
                self.dismiss_waiters(waiters, EndReason::Revoked.as_str(), None);
                let removed = self.hub.registry().remove_where(|m| holds(&m.participant));
                self.end(removed, EndReason::Revoked).await;
            }
            Command::EndRoom { room_id } => {
                let waiters = self
                    .hub
                    .registry()
                    .stop_waiting_where(|w| w.participant.room_id == room_id);
                self.dismiss_waiters(waiters, EndReason::RoomClosed.as_str(), None);
                let standing = self.hub.registry().standing_by(&room_id);
                self.hang_up(standing, EndReason::RoomClosed.as_str());
                let removed = self
                    .hub
                    .registry()
                    .remove_where(|m| m.participant.room_id == room_id);
                self.end(removed, EndReason::RoomClosed).await;
            }
            Command::EndDevice { device_id } => self.end_device_here(&device_id).await,
            Command::EndStaff { staff_id } => {
                let removed = self
                    .hub
                    .registry()
                    .remove_where(|m| m.participant.staff_id.as_deref() == Some(staff_id.as_str()));
                self.end(removed, EndReason::Revoked).await;
            }
            Command::Admit { invite_id } => self.admit_here(&invite_id),
            Command::NotNow { invite_id, message } => self.tell_not_now_here(&invite_id, message),
            Command::SendAway { invite_id, reason } => self.send_away_here(&invite_id, reason),
            Command::Ring { room_id } => self.hub.ring_bedside(&self.io, &room_id, true).await,
            Command::Replaced {
                room_id,
                peer_id,
                sid,
            } => {
                // Taken over on another node: their stay goes on there.
                let gone = self.hub.registry().remove_where(|m| {
                    m.participant.room_id == room_id && m.peer_id == peer_id && m.sid == sid
                });
                for member in gone {
                    if member.away.is_none()
                        && let Some(old) = self.io.get_socket(member.sid)
                    {
                        let _ = old.emit("ended", &json!({ "reason": "replaced" }));
                        close_connection(&old);
                    }
                }
                self.hub.rebalance(&self.io, None);
            }
        }
    }

    async fn end_device_here(&self, device_id: &str) {
        let sids = self.hub.registry().sockets_of_device(device_id);
        let removed = self
            .hub
            .registry()
            .remove_where(|m| m.participant.device_id.as_deref() == Some(device_id));
        for sid in &sids {
            self.hub.registry().leave_standby(*sid);
        }
        for member in removed {
            self.hub.close_visit(&member, EndReason::Revoked).await;
            self.hub
                .announce_left(&self.io, &member, EndReason::Revoked)
                .await;
        }
        self.hub.rebalance(&self.io, None);
        self.hang_up(sids, "unpaired");
        self.hub.caches.desk.bump();
    }

    /// The site's video budget now: the share calls get, and how many run audio-only.
    pub fn site_load(&self) -> SiteLoad {
        self.hub.plan().load
    }

    /// True when a bedside device of the room is connected (standing by or in the call), on any
    /// node.
    pub fn bedside_ready(&self, room_id: &str) -> bool {
        self.hub.registry().bedside_ready(room_id)
    }

    fn dismiss_waiters(&self, waiters: Vec<Waiter>, reason: &str, message: Option<&str>) {
        if !waiters.is_empty() {
            self.hub.caches.desk.bump();
        }
        dismiss(&self.io, waiters, reason, message);
    }

    /// Tells these sockets their session ended, and closes them.
    fn hang_up(&self, sids: Vec<socketioxide::socket::Sid>, reason: &str) {
        for sid in sids {
            if let Some(socket) = self.io.get_socket(sid) {
                let _ = socket.emit("ended", &json!({ "reason": reason }));
                close_connection(&socket);
            }
        }
    }

    /// The server stops: closes every stay (`server-shutdown`) and every connection, without
    /// ending anyone's session: the pages reconnect by themselves, and when the server is back
    /// within the rejoin grace they take their stays back (media between browsers keeps
    /// flowing meanwhile). On several nodes they may take them back on another node.
    pub async fn end_all(&self) {
        let waiters = self.hub.registry().stop_waiting_where(|_| true);
        let standing = self.hub.registry().all_standing_by();
        let removed = self.hub.registry().remove_where(|_| true);
        for member in &removed {
            self.hub
                .close_visit(member, EndReason::ServerShutdown)
                .await;
        }
        if !self.hub.alone {
            // The other nodes forget this node's participants at once: their stays are closed
            // here and taken back within the grace wherever the pages reconnect (as after a
            // restart); the others in their calls see them leave, and come back. Then this node
            // says nothing more.
            for member in &removed {
                let message = json!({
                    "id": member.peer_id,
                    "reason": EndReason::ConnectionLost.as_str(),
                });
                let room_id = &member.participant.room_id;
                self.hub
                    .tell_room(
                        &self.io,
                        room_id,
                        Some(&member.peer_id),
                        "peer-left",
                        &message,
                    )
                    .await;
            }
            self.hub
                .stopping
                .store(true, std::sync::atomic::Ordering::SeqCst);
            let calls = serde_json::to_string(&Shared::default()).unwrap_or_default();
            match db::nodes::publish_calls(&self.hub.db, &self.hub.node, &calls).await {
                Ok(()) => self.hub.tell_nodes_raw("calls".to_string()),
                Err(err) => tracing::warn!(error = %err, "could not publish this node's calls"),
            }
            self.hub.link.stop();
        }
        let sids = waiters
            .iter()
            .map(|w| w.sid)
            .chain(standing)
            .chain(removed.iter().filter(|m| m.away.is_none()).map(|m| m.sid));
        for sid in sids {
            if let Some(socket) = self.io.get_socket(sid) {
                drop_connection(&socket);
            }
        }
    }

    async fn end(&self, removed: Vec<Member>, reason: EndReason) {
        end_members(&self.hub, &self.io, removed, reason).await;
    }

    /// Connects this node to the others (PostgreSQL): `outbox` carries messages to them, and
    /// this node's registry is published in the `nodes` table on every change.
    pub fn join_nodes(&self, outbox: tokio::sync::mpsc::UnboundedSender<String>) {
        *self
            .hub
            .outbox
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(outbox);
        tokio::spawn(publish(self.hub.clone()));
        self.hub.changed.notify_one();
    }

    /// A message from node `from`: `calls` (its registry changed: read it again) or
    /// `do {command}`.
    pub async fn heard(&self, from: &str, message: &str) {
        if let Some(command) = message.strip_prefix("do ") {
            match serde_json::from_str::<Command>(command) {
                Ok(command) => self.obey(command).await,
                Err(err) => tracing::warn!(error = %err, "a node sent a command not understood"),
            }
        } else if message == "calls" {
            match db::nodes::calls_of(&self.hub.db, from).await {
                Ok(Some(calls)) => self.note_remote(from, &calls).await,
                Ok(None) => {}
                Err(err) => tracing::warn!(error = %err, "reading another node's calls"),
            }
        }
    }

    /// The nodes alive now, each with its published registry (read at every heartbeat): their
    /// states are taken as they are, and the nodes gone are forgotten: their participants that
    /// came back nowhere else leave (`connection-lost`), closed by the survivors.
    pub async fn nodes_alive(&self, alive: Vec<(String, String)>) {
        for (node, calls) in &alive {
            if *node != self.hub.node {
                self.note_remote(node, calls).await;
            }
        }
        let known = self.hub.registry.lock().map(|r| r.remote_node_ids());
        let known = known.unwrap_or_default();
        for node in known {
            if alive.iter().any(|(id, _)| *id == node) {
                continue;
            }
            let gone = self.hub.registry().drop_remote(&node);
            tracing::warn!(node, participants = gone.len(), "a node is gone");
            for member in gone {
                self.hub
                    .close_visit(&member, EndReason::ConnectionLost)
                    .await;
                // Every survivor tells its own sockets.
                let message =
                    json!({ "id": member.peer_id, "reason": EndReason::ConnectionLost.as_str() });
                let here = self
                    .hub
                    .registry()
                    .local_members_of(&member.participant.room_id);
                for other in here {
                    if let Some(socket) = self.io.get_socket(other.sid) {
                        let _ = socket.emit("peer-left", &message);
                    }
                }
            }
            self.hub.caches.desk.bump();
        }
    }

    async fn note_remote(&self, node: &str, calls: &str) {
        let known = self
            .hub
            .registry
            .lock()
            .map(|r| r.knows(node, calls))
            .unwrap_or(false);
        if calls.is_empty() || known {
            return;
        }
        let shared: Shared = match serde_json::from_str(calls) {
            Ok(shared) => shared,
            Err(err) => {
                tracing::warn!(error = %err, node, "another node's calls not understood");
                return;
            }
        };
        let rooms: Vec<String> = {
            let mut registry = self
                .hub
                .registry
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            registry.set_remote(node, shared, calls);
            registry
                .waiting()
                .iter()
                .map(|w| w.participant.room_id.clone())
                .collect()
        };
        self.hub.caches.desk.bump();
        // A bedside standing by on that node may let in those waiting here.
        for room in rooms {
            self.hub.try_auto_admit(&room).await;
        }
    }
}

/// Writes this node's registry to the `nodes` table whenever it changed, and tells the other
/// nodes to read it.
async fn publish(hub: Arc<Hub>) {
    let mut last = String::new();
    loop {
        hub.changed.notified().await;
        // Changes come in bursts (a join is several): publish once for the burst.
        tokio::time::sleep(Duration::from_millis(20)).await;
        if hub.stopping.load(std::sync::atomic::Ordering::SeqCst) {
            return;
        }
        let calls =
            serde_json::to_string(&hub.registry.lock().map(|r| r.share()).unwrap_or_default())
                .unwrap_or_default();
        if calls == last {
            continue;
        }
        match db::nodes::publish_calls(&hub.db, &hub.node, &calls).await {
            Ok(()) => {
                hub.tell_nodes_raw("calls".to_string());
                last = calls;
            }
            Err(err) => {
                tracing::warn!(error = %err, "could not publish this node's calls; retrying");
                tokio::time::sleep(Duration::from_millis(500)).await;
                hub.changed.notify_one();
            }
        }
    }
}

/// Tells waiters taken out of the waiting room why (`ended` with the reason and, when sent
/// away, the message's key), and closes their connections.
fn dismiss(io: &SocketIo<Adapter>, waiters: Vec<Waiter>, reason: &str, message: Option<&str>) {
    for waiter in waiters {
        if let Some(socket) = io.get_socket(waiter.sid) {
            let body = match message {
                Some(message) => json!({ "reason": reason, "message": message }),
                None => json!({ "reason": reason }),
            };
            let _ = socket.emit("ended", &body);
            close_connection(&socket);
        }
    }
}

/// Tells removed members why, disconnects them, closes their visit log rows and tells the others.
async fn end_members(hub: &Hub, io: &SocketIo<Adapter>, removed: Vec<Member>, reason: EndReason) {
    let any = !removed.is_empty();
    for member in removed {
        hub.close_visit(&member, reason).await;
        if let Some(socket) = io.get_socket(member.sid) {
            if let Err(err) = socket.emit("ended", &json!({ "reason": reason.as_str() })) {
                tracing::debug!(error = %err, "telling a removed participant");
            }
            close_connection(&socket);
        }
        hub.announce_left(io, &member, reason).await;
    }
    if any {
        hub.rebalance(io, None);
    }
}

impl Hub {
    fn plan(&self) -> std::sync::MutexGuard<'_, budget::Plan> {
        self.plan
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Shares the site's video budget between the calls running now, and pushes every changed
    /// cap to the pages of that call (`video-cap` `{ kbps }`, 0: audio-only), but `joining`
    /// (its join answer carries its cap). Returns the caps.
    fn rebalance(&self, io: &SocketIo<Adapter>, joining: Option<Sid>) -> HashMap<String, u32> {
        let (calls, members): (Vec<budget::Call>, HashMap<String, Vec<Member>>) = {
            let registry = self.registry();
            let calls = registry.calls();
            let members = calls
                .iter()
                .map(|c| (c.room_id.clone(), registry.local_members_of(&c.room_id)))
                .collect();
            (calls, members)
        };
        let next = budget::plan(
            &calls,
            self.config.site_video_kbps,
            self.config.video_floor_kbps,
            self.config.max_video_kbps,
        );
        let changed: Vec<(String, u32)> = {
            let mut plan = self.plan();
            let changed = next
                .caps
                .iter()
                .filter(|(room, cap)| plan.caps.get(*room) != Some(cap))
                .map(|(room, cap)| (room.clone(), *cap))
                .collect();
            if plan.load != next.load {
                self.caches.desk.bump();
            }
            *plan = next.clone();
            changed
        };
        for (room, kbps) in changed {
            for member in members.get(&room).into_iter().flatten() {
                if member.away.is_none()
                    && Some(member.sid) != joining
                    && let Some(socket) = io.get_socket(member.sid)
                {
                    let _ = socket.emit("video-cap", &json!({ "kbps": kbps }));
                }
            }
        }
        next.caps
    }

    fn registry(&self) -> RegistryGuard<'_> {
        // A panic while holding this lock cannot leave the map half-updated in a way that
        // matters more than refusing every call from then on would.
        let registry = self
            .registry
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        RegistryGuard {
            registry,
            changed: &self.changed,
            touched: false,
        }
    }

    /// Asks the other nodes to do something to the sockets they hold (nothing when alone).
    fn tell_nodes(&self, command: &Command) {
        match serde_json::to_string(command) {
            Ok(json) => self.tell_nodes_raw(format!("do {json}")),
            Err(err) => tracing::error!(error = %err, "encoding a command for the other nodes"),
        }
    }

    fn tell_nodes_raw(&self, message: String) {
        let outbox = self
            .outbox
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(outbox) = outbox.as_ref() {
            let _ = outbox.send(message);
        }
    }

    /// Sends an event to everyone in a call but `except` (a peer id): to this node's sockets
    /// directly (waiting for a full queue, in order), and through the adapter to the sockets of
    /// the call on the other nodes.
    async fn tell_room<T: serde::Serialize + ?Sized>(
        &self,
        io: &SocketIo<Adapter>,
        room_id: &str,
        except: Option<&str>,
        event: &str,
        body: &T,
    ) {
        let here = self.registry().local_members_of(room_id);
        for member in &here {
            if member.away.is_none()
                && Some(member.peer_id.as_str()) != except
                && let Some(socket) = io.get_socket(member.sid)
            {
                events::deliver(&socket, event, body).await;
            }
        }
        if self.alone {
            return;
        }
        // This node's members were told above: each socket is in its own peer room.
        let skip: Vec<String> = here
            .iter()
            .map(|m| peer_room(room_id, &m.peer_id))
            .collect();
        let mut elsewhere = io.to(call_room(room_id));
        if !skip.is_empty() {
            elsewhere = elsewhere.except(skip);
        }
        if let Some(peer_id) = except {
            elsewhere = elsewhere.except(peer_room(room_id, peer_id));
        }
        if let Err(err) = elsewhere.emit(event, body).await {
            tracing::warn!(error = %err, event, "could not reach a call's sockets on the other nodes");
        }
    }

    async fn close_visit(&self, member: &Member, reason: EndReason) {
        let Some(visit_id) = member.visit_id else {
            // The joiner is still writing the row: it will close it with this reason.
            self.registry().note_pending_end(&member.peer_id, reason);
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

    async fn announce_left(&self, io: &SocketIo<Adapter>, member: &Member, reason: EndReason) {
        self.caches.desk.bump();
        let message = json!({ "id": member.peer_id, "reason": reason.as_str() });
        let room_id = &member.participant.room_id;
        self.tell_room(io, room_id, Some(&member.peer_id), "peer-left", &message)
            .await;
    }

    /// Rings the bedside devices standing by for a room (`incoming`, with how the patient's
    /// device answers), unless the patient's side is in the call already.
    /// `relative_in`: a relative is known to be in the call (another node said so, before its
    /// registry reached this one).
    async fn ring_bedside(&self, io: &SocketIo<Adapter>, room_id: &str, relative_in: bool) {
        let (patient_in, standing) = {
            let registry = self.registry();
            (registry.patient_in(room_id), registry.standing_by(room_id))
        };
        let relatives_in = relative_in
            || self
                .registry()
                .members_of(room_id)
                .iter()
                .any(|m| m.participant.role == CallRole::Relative);
        if patient_in || standing.is_empty() || !relatives_in {
            return;
        }
        let patient = match db::rooms::find(&self.db, room_id).await {
            Ok(Some(room)) => db::patients::find(&self.db, &room.patient_id)
                .await
                .ok()
                .flatten(),
            _ => None,
        };
        let Some(patient) = patient else { return };
        let body = json!({
            "answer": patient.bedside_answer,
            "cameraOff": patient.camera_off_at_start,
        });
        for sid in standing {
            if let Some(socket) = io.get_socket(sid) {
                let _ = socket.emit("incoming", &body);
            }
        }
    }

    /// Lets in the relatives waiting for a room whose ward admits by itself, once their visit
    /// has started and the bedside device is ready: the admission and its audit row, then the
    /// move into the call.
    async fn try_auto_admit(&self, room_id: &str) {
        let now = db::now();
        let due: Vec<Waiter> = {
            let registry = self.registry();
            if !registry.bedside_ready(room_id) {
                return;
            }
            registry
                .waiting()
                .into_iter()
                .filter(|w| w.participant.room_id == room_id)
                .filter(|w| {
                    w.visit
                        .as_ref()
                        .is_some_and(|v| v.auto_admit && v.starts_at <= now)
                })
                .collect()
        };
        for waiter in due {
            let Some(invite_id) = waiter.participant.invite_id.as_deref() else {
                continue;
            };
            match self.admit_automatically(invite_id).await {
                Ok(true) => waiter.door.knock(waiter.sid, inbox::Knock::Admitted),
                Ok(false) => {}
                Err(err) => tracing::error!(error = %err, "an automatic admission was not written"),
            }
        }
    }

    /// The ward's own admission of one relative, with its audit row, in one transaction; false
    /// when it no longer applies (the invite not active, the visit moved later, the ward's
    /// setting turned off since the relative arrived).
    async fn admit_automatically(&self, invite_id: &str) -> sqlx::Result<bool> {
        let mut tx = self.db.begin().await?;
        let now = db::now();
        let Some(invite) = db::invites::find(&mut tx, invite_id).await? else {
            return Ok(false);
        };
        let visit = match &invite.visit_id {
            Some(visit_id) => db::visits::find(&mut tx, visit_id).await?,
            None => None,
        };
        let Some(visit) = visit else {
            return Ok(false);
        };
        let ward = db::wards::find(&mut tx, &visit.ward_id).await?;
        let applies = invite.status(now) == InviteStatus::Active
            && visit.starts_at <= now
            && ward.is_some_and(|w| w.auto_admit);
        if !applies {
            return Ok(false);
        }
        if db::admissions::admit(&mut tx, invite_id, AdmissionHow::Auto, None).await? {
            db::audit::record_detail(
                &mut tx,
                None,
                AuditAction::VisitAdmit,
                Some(invite_id),
                Some(AdmissionHow::Auto.as_str()),
            )
            .await?;
        }
        tx.commit().await?;
        Ok(true)
    }

    /// True while the participant may still be in the call: the room open and, for a relative,
    /// the invite still active; for a bedside device, still paired to the room's patient.
    async fn still_allowed(&self, participant: &Participant) -> sqlx::Result<bool> {
        let room = db::rooms::find(&self.db, &participant.room_id).await?;
        let Some(room) = room.filter(|room| room.is_open()) else {
            return Ok(false);
        };
        if let Some(device_id) = &participant.device_id {
            let device = db::devices::find(&self.db, device_id).await?;
            return Ok(device.is_some_and(|d| d.paired_patient() == Some(room.patient_id.as_str())));
        }
        if let Some(invite_id) = &participant.invite_id {
            let invite = db::invites::find(&self.db, invite_id).await?;
            return Ok(invite.is_some_and(|i| i.status(db::now()) == InviteStatus::Active));
        }
        Ok(true)
    }

    /// A person's peer id in their room: the same for every socket and every rejoin of theirs
    /// (and across a restart), and not guessable from their ids.
    fn peer_id(&self, participant: &Participant) -> String {
        let person = match (
            &participant.device_id,
            &participant.invite_id,
            &participant.staff_id,
        ) {
            (Some(device), _, _) => format!("device:{device}"),
            (None, Some(invite), _) => format!("invite:{invite}"),
            (None, None, staff) => format!(
                "staff:{}:{}",
                staff.as_deref().unwrap_or(""),
                participant.role.as_str()
            ),
        };
        let message = format!("{}|{person}", participant.room_id);
        let mut id = self.secret.sign("peer-id", message.as_bytes());
        id.truncate(16);
        id
    }

    /// How long a lost connection keeps a person's place.
    fn grace(&self) -> Duration {
        Duration::from_secs(self.config.rejoin_grace_secs)
    }

    /// The ICE servers for a participant entering a call, with TURN credentials valid until
    /// their visit ends plus a margin.
    async fn ice_servers(&self, participant: &Participant) -> Value {
        use crate::auth::turn::{TURN_MARGIN_SECS, TURN_UNSCHEDULED_SECS, ice_servers};
        let now = db::now();
        let visit_end = match &participant.invite_id {
            Some(invite_id) => db::invites::find(&self.db, invite_id)
                .await
                .ok()
                .flatten()
                .map(|invite| invite.expires_at),
            None => db::visits::current_end(
                &self.db,
                &participant.room_id,
                now,
                self.config.invite_early_secs(),
            )
            .await
            .ok()
            .flatten(),
        };
        let expires_at = visit_end
            .filter(|end| *end > now)
            .map_or(now + TURN_UNSCHEDULED_SECS, |end| end + TURN_MARGIN_SECS);
        ice_servers(&self.config, expires_at)
    }
}
