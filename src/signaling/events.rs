//! What each client event does: `join` (into the call, or into the waiting room), `signal`,
//! `leave`, a bedside device's `ready` and `decline`, the disconnection, and the admission a nurse
//! decided. They run one at a time per socket, in arrival order ([`super::inbox`]).

use std::time::Duration;

use tokio::time::Instant;

use serde::{Deserialize, Serialize};
use serde_json::{Value, value::RawValue};
use socketioxide::{
    ParserError, SendError, SocketError,
    extract::{AckSender, SocketRef},
    socket::{DisconnectReason, Sid},
};

use super::link::Adapter;
use super::{
    Member, close_connection, end_members,
    inbox::{Connection, Door},
    registry::{Admission, MediaState, Route, Waiter, WaitingVisit},
};
use crate::{
    config::IcePolicy,
    db,
    domain::{AuditAction, CallRole, DeviceCheck, EndReason},
};

/// How long a peer's full send queue may hold up delivery before the peer, which has stopped
/// reading, is disconnected.
const STALLED_PEER: Duration = Duration::from_secs(5);

/// Emits to a peer. When the peer's send queue is full (a burst faster than its connection
/// drains), waits for room instead of dropping the message: the sender's own inbox waits too, so
/// nothing is lost and nothing is reordered. A peer that stays full for [`STALLED_PEER`] is cut.
pub(super) async fn deliver<T: Serialize + ?Sized>(
    peer: &SocketRef<Adapter>,
    event: &str,
    data: &T,
) {
    let deadline = Instant::now() + STALLED_PEER;
    loop {
        match peer.emit(event, data) {
            Ok(()) => return,
            Err(SendError::Socket(SocketError::InternalChannelFull))
                if Instant::now() < deadline =>
            {
                tokio::time::sleep(Duration::from_millis(2)).await;
            }
            Err(SendError::Socket(SocketError::InternalChannelFull)) => {
                tracing::warn!(sid = %peer.id, "disconnected a peer that stopped reading");
                close_connection(peer);
                return;
            }
            Err(err) => {
                tracing::debug!(error = %err, event, "delivering to a peer");
                return;
            }
        }
    }
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct JoinAck {
    /// This person's peer id, the same for the whole visit.
    id: String,
    peers: Vec<PeerInfo>,
    ice_servers: Value,
    /// `all`, or `relay` where the site sends every call through its TURN server.
    ice_transport_policy: IcePolicy,
    /// The cap on each video sender now (the site's budget may lower it later, with
    /// `video-cap`); 0: audio-only.
    max_video_kbps: u32,
    /// The lowest video bitrate worth sending: a page on a weak link steps down to it before
    /// pausing its video.
    video_floor_kbps: u32,
    /// How long a lost connection keeps this person's place.
    rejoin_grace_secs: u64,
    /// True when this join took over the person's earlier place (a rejoin).
    rejoined: bool,
}

#[derive(Debug, Clone, Serialize)]
struct PeerInfo {
    id: String,
    role: CallRole,
    name: String,
    /// The page instance: when it changes, that peer's page was reloaded and its peer
    /// connections are new.
    session: String,
    /// Their connection is lost and they may come back.
    reconnecting: bool,
    /// What their page sends.
    #[serde(flatten)]
    media: MediaState,
}

impl PeerInfo {
    fn of(member: &Member) -> Self {
        Self {
            id: member.peer_id.clone(),
            role: member.participant.role,
            name: member.participant.display_name.clone(),
            session: member.session.clone(),
            reconnecting: member.away.is_some(),
            media: member.media,
        }
    }
}

/// What a client sends as `join`: its device check, the page instance, and whether it was in
/// the call before (a reconnection, which may only take back a place still kept).
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(super) struct JoinIn {
    #[serde(flatten)]
    pub check: DeviceCheck,
    session: String,
    resume: bool,
}

impl JoinIn {
    /// The page instance, as sent if it is a short plain token, or a fresh one.
    fn session(&self) -> String {
        let plain = |c: char| c.is_ascii_alphanumeric() || c == '-';
        if (8..=64).contains(&self.session.len()) && self.session.chars().all(plain) {
            self.session.clone()
        } else {
            crate::domain::RandomId::new().to_string()
        }
    }
}

/// Answers a `join` (when the client asked for an answer).
fn answer(ack: Option<AckSender<Adapter>>, body: &impl Serialize) {
    if let Some(ack) = ack
        && let Err(err) = ack.send(body)
    {
        tracing::debug!(error = %err, "answering a join");
    }
}

/// Why a `join` was refused, as its ack says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Refusal {
    /// The room closed or the invite stopped working: the socket is disconnected.
    NotAllowed,
    /// The room holds `--room-capacity` participants already: the socket is disconnected.
    RoomFull,
    /// This socket joined already; it stays in the call.
    AlreadyJoined,
    /// The visit log could not be written (a full disk): the socket is disconnected.
    NotRecorded,
    /// A reconnection came back after its place was given up (`connection-lost`); the page
    /// may join afresh.
    Lost,
}

impl Refusal {
    fn error(self) -> &'static str {
        match self {
            Refusal::NotAllowed => "not-allowed",
            Refusal::RoomFull => "room-full",
            Refusal::AlreadyJoined => "already-joined",
            Refusal::NotRecorded => "not-recorded",
            Refusal::Lost => "connection-lost",
        }
    }
}

/// How the outcome of an entry reaches the client: as the answer to its `join`, or, for a
/// relative let in from the waiting room, as an `admitted` event (an entry refused then is an
/// `ended` event).
enum Reply {
    Ack(Option<AckSender<Adapter>>),
    Event,
}

impl Reply {
    fn send(self, socket: &SocketRef<Adapter>, body: &impl Serialize) {
        match self {
            Reply::Ack(ack) => answer(ack, body),
            Reply::Event => {
                if let Err(err) = socket.emit("admitted", body) {
                    tracing::debug!(error = %err, "telling a relative they were let in");
                }
            }
        }
    }

    fn refuse(self, socket: &SocketRef<Adapter>, refusal: Refusal) {
        metrics::counter!("visitas_join_refusals_total", "reason" => refusal.error()).increment(1);
        match self {
            Reply::Ack(ack) => answer(ack, &serde_json::json!({ "error": refusal.error() })),
            // Already in the call on this socket: nothing to say.
            Reply::Event if refusal == Refusal::AlreadyJoined => {}
            Reply::Event => {
                let _ = socket.emit("ended", &serde_json::json!({ "reason": refusal.error() }));
            }
        }
    }
}

/// `join`: a relative not yet let in for this visit waits in the waiting room; everyone else
/// (and a relative let in before, back after a reload or a blip) enters the call.
pub(super) async fn join(
    connection: &Connection,
    socket: &SocketRef<Adapter>,
    ack: Option<AckSender<Adapter>>,
    join: JoinIn,
) {
    let session = join.session();
    match must_wait(connection).await {
        Ok(false) => enter(connection, socket, Reply::Ack(ack), &session, join.resume).await,
        Ok(true) => match wait(connection, socket, join.check, session).await {
            Ok(()) => {
                answer(
                    ack,
                    &serde_json::json!({ "waiting": true, "id": socket.id.to_string() }),
                );
                connection
                    .hub
                    .try_auto_admit(&connection.participant.room_id)
                    .await;
            }
            Err(refusal) => {
                answer(ack, &serde_json::json!({ "error": refusal.error() }));
                if refusal != Refusal::AlreadyJoined {
                    close_connection(socket);
                }
            }
        },
        Err(refusal) => {
            answer(ack, &serde_json::json!({ "error": refusal.error() }));
            close_connection(socket);
        }
    }
}

/// True for a relative whom nobody has let in for this visit yet. (An invite from before the
/// scheduler, tied to no visit, enters as it always did.)
async fn must_wait(connection: &Connection) -> Result<bool, Refusal> {
    let participant = &connection.participant;
    let Some(invite_id) = participant.invite_id.as_deref() else {
        return Ok(false);
    };
    let db = &connection.hub.db;
    let read = async {
        let has_visit = db::invites::find(db, invite_id)
            .await?
            .is_some_and(|invite| invite.visit_id.is_some());
        if !has_visit {
            return Ok(false);
        }
        Ok::<_, sqlx::Error>(!db::admissions::is_admitted(db, invite_id).await?)
    };
    read.await.map_err(|err| {
        tracing::error!(error = %err, "reading an admission: the join is refused");
        Refusal::NotRecorded
    })
}

/// Puts a relative in the waiting room, with their visit and device check, and tells the desk.
async fn wait(
    connection: &Connection,
    socket: &SocketRef<Adapter>,
    check: DeviceCheck,
    session: String,
) -> Result<(), Refusal> {
    let (hub, participant) = (&connection.hub, &connection.participant);
    if hub.registry().room_of_contains(socket.id) || hub.registry().is_waiting(socket.id) {
        return Err(Refusal::AlreadyJoined);
    }
    if !matches!(hub.still_allowed(participant).await, Ok(true)) {
        return Err(Refusal::NotAllowed);
    }
    let visit = waiting_visit(connection).await;
    let Some(door) = socket.extensions.get::<Door>() else {
        return Err(Refusal::NotAllowed);
    };
    let waiter = Waiter {
        sid: socket.id,
        participant: participant.clone(),
        since: db::now(),
        check: check.cleaned(),
        visit,
        told: None,
        door,
        session,
    };
    let starts_later = waiter
        .visit
        .as_ref()
        .filter(|v| v.auto_admit && v.starts_at > db::now())
        .map(|v| v.starts_at);
    let replaced = hub.registry().wait(waiter);
    if let Some(old) = replaced {
        super::dismiss(
            &connection.io,
            vec![old],
            EndReason::ConnectionLost.as_str(),
            None,
        );
    }
    // A revocation that committed after the check above found nobody to remove: look again.
    if !matches!(hub.still_allowed(participant).await, Ok(true)) {
        hub.registry().stop_waiting(socket.id);
        return Err(Refusal::NotAllowed);
    }
    // So may an admission: let them in now (queued behind this join's answer).
    if let Some(invite_id) = participant.invite_id.as_deref()
        && matches!(
            db::admissions::is_admitted(&hub.db, invite_id).await,
            Ok(true)
        )
        && let Some(door) = socket.extensions.get::<Door>()
    {
        door.knock(socket.id, super::inbox::Knock::Admitted);
    }
    hub.caches.desk.bump();
    if let Some(starts_at) = starts_later {
        // The ward admits by itself at the start: look again then.
        let (hub, room) = (hub.clone(), participant.room_id.clone());
        tokio::spawn(async move {
            let wait = u64::try_from(starts_at - db::now()).unwrap_or(0);
            tokio::time::sleep(Duration::from_secs(wait)).await;
            hub.try_auto_admit(&room).await;
        });
    }
    Ok(())
}

/// The visit a waiting relative came for, read once when they arrive.
async fn waiting_visit(connection: &Connection) -> Option<WaitingVisit> {
    let db = &connection.hub.db;
    let invite_id = connection.participant.invite_id.as_deref()?;
    let invite = db::invites::find(db, invite_id).await.ok()??;
    let visit = db::visits::find(db, invite.visit_id.as_deref()?)
        .await
        .ok()??;
    let ward = db::wards::find(db, &visit.ward_id).await.ok()??;
    Some(WaitingVisit {
        visit_id: visit.id,
        ward_id: visit.ward_id,
        starts_at: visit.starts_at,
        relationship: invite.relationship,
        auto_admit: ward.auto_admit,
    })
}

/// A nurse (or the ward's setting) let the relative waiting on this socket in: into the call,
/// told by an `admitted` event carrying what a `join` answer carries.
pub(super) async fn admitted(connection: &Connection, socket: &SocketRef<Adapter>) {
    let (hub, participant) = (&connection.hub, &connection.participant);
    let waiter = {
        let mut registry = hub.registry();
        if !registry.is_waiting(socket.id) {
            // Gone meanwhile (left, or sent away): the admission stands for when they come back.
            return;
        }
        if registry.same_person_in_room(participant) {
            // A newer socket of theirs went straight in; this one is a leftover.
            return;
        }
        if registry.members_of(&participant.room_id).len() >= hub.config.room_capacity {
            // The call is full: they keep waiting, and come in when the nurse admits them
            // again once someone has left (the admission is stored).
            tracing::info!(room = %participant.room_id, "an admitted relative waits: the room is full");
            return;
        }
        registry.stop_waiting(socket.id)
    };
    let Some(waiter) = waiter else { return };
    hub.caches.desk.bump();
    enter(connection, socket, Reply::Event, &waiter.session, false).await;
}

/// How a socket came into the call.
enum Entry {
    /// A newcomer: a new place and a new stay.
    New { others: Vec<Member> },
    /// The same person, back: their place, their peer id and their stay.
    Back {
        others: Vec<Member>,
        earlier: Box<Member>,
    },
}

/// Enters the call: the three steps named below. A refusal is answered, and all but a second
/// join end the connection.
async fn enter(
    connection: &Connection,
    socket: &SocketRef<Adapter>,
    reply: Reply,
    session: &str,
    resume: bool,
) {
    let refused = match admit(connection, socket, session).await {
        Ok(entry) => match record(connection, socket, &entry, resume).await {
            Ok(true) => {
                welcome(connection, socket, reply, entry).await;
                return;
            }
            // Removed while the row was written; the removal told the socket why.
            Ok(false) => return,
            Err(refusal) => refusal,
        },
        Err(refusal) => refusal,
    };
    reply.refuse(socket, refused);
    if refused != Refusal::AlreadyJoined {
        close_connection(socket);
    }
}

/// Step 1: the participant may still be in the call, and the room has space (or keeps their
/// place): put the socket in the registry and return who is already there. An earlier socket
/// of the same person that is still open (another window) is told `replaced` and closed.
async fn admit(
    connection: &Connection,
    socket: &SocketRef<Adapter>,
    session: &str,
) -> Result<Entry, Refusal> {
    let (hub, participant) = (&connection.hub, &connection.participant);
    if !matches!(hub.still_allowed(participant).await, Ok(true)) {
        return Err(Refusal::NotAllowed);
    }
    let peer_id = hub.peer_id(participant);
    let admission = hub.registry().admit(
        socket.id,
        participant.clone(),
        &peer_id,
        session,
        hub.config.room_capacity,
    );
    let room_id = &participant.room_id;
    match admission {
        Admission::Admitted { others } => {
            socket.join([
                super::call_room(room_id),
                super::peer_room(room_id, &peer_id),
            ]);
            Ok(Entry::New { others })
        }
        Admission::Back { others, earlier } => {
            socket.join([
                super::call_room(room_id),
                super::peer_room(room_id, &earlier.peer_id),
            ]);
            if earlier.sid != socket.id {
                match connection.io.get_socket(earlier.sid) {
                    Some(old) if earlier.away.is_none() => {
                        let _ = old.emit("ended", &serde_json::json!({ "reason": "replaced" }));
                        close_connection(&old);
                    }
                    Some(_) => {}
                    // Their place was on another node: it gives it up (and closes their old
                    // socket, if it is still open there).
                    None => hub.tell_nodes(&super::Command::Replaced {
                        room_id: room_id.clone(),
                        peer_id: earlier.peer_id.clone(),
                        sid: earlier.sid,
                    }),
                }
            }
            Ok(Entry::Back { others, earlier })
        }
        Admission::AlreadyJoined => {
            tracing::warn!(sid = %socket.id, "refused a second join");
            Err(Refusal::AlreadyJoined)
        }
        Admission::Full => {
            tracing::info!(room = %participant.room_id, "refused a participant: the room is full");
            Err(Refusal::RoomFull)
        }
    }
}

/// Step 2: the visit log, before anything of the call starts (fail closed): a newcomer's stay
/// (a reconnection after a server restart takes back its stay, if recent), or one more rejoin
/// on a returning person's stay; then a second look at the room and invite. `Ok(false)` when
/// the socket was removed meanwhile.
async fn record(
    connection: &Connection,
    socket: &SocketRef<Adapter>,
    entry: &Entry,
    resume: bool,
) -> Result<bool, Refusal> {
    let (hub, participant) = (&connection.hub, &connection.participant);
    let peer_id = hub.peer_id(participant);
    let person = db::visit_log::Person {
        room_id: &participant.room_id,
        role: participant.role,
        staff_id: participant.staff_id.as_deref(),
        invite_id: participant.invite_id.as_deref(),
    };
    let written = match entry {
        Entry::Back { earlier, .. } => match earlier.visit_id {
            Some(visit_id) => db::visit_log::count_rejoin(&hub.db, visit_id)
                .await
                .map(|()| None),
            // The first socket is still writing the stay; it will note it on the member.
            None => Ok(None),
        },
        Entry::New { .. } if resume => {
            let since = db::now() - hub.grace().as_secs() as i64;
            db::visit_log::resume(&hub.db, &person, since).await
        }
        Entry::New { .. } => {
            let visit = db::visit_log::NewVisit {
                person,
                display_name: &participant.display_name,
                early_secs: hub.config.invite_early_secs(),
            };
            db::visit_log::record_join(&hub.db, &visit).await.map(Some)
        }
    };
    let role = participant.role.as_str();
    match entry {
        Entry::Back { .. } => {
            metrics::counter!("visitas_rejoins_total", "role" => role).increment(1)
        }
        Entry::New { .. } if resume => {
            metrics::counter!("visitas_rejoins_total", "role" => role).increment(1);
        }
        Entry::New { .. } => metrics::counter!("visitas_joins_total", "role" => role).increment(1),
    }
    let visit_id = match written {
        Ok(Some(visit_id)) => Some(visit_id),
        Ok(None) if matches!(entry, Entry::Back { .. }) => None,
        Ok(None) => {
            // A reconnection whose place was given up meanwhile.
            hub.registry().remove(socket.id);
            return Err(Refusal::Lost);
        }
        Err(err) => {
            match db::StorageFailure::of(&err) {
                Some(failure) => failure.note("a join was refused"),
                None => {
                    tracing::error!(error = %err, "writing a visit log entry: the join is refused")
                }
            }
            if matches!(entry, Entry::New { .. }) {
                hub.registry().remove(socket.id);
                return Err(Refusal::NotRecorded);
            }
            // A rejoin not counted is no reason to drop someone already in the call.
            None
        }
    };
    if let Some(visit_id) = visit_id
        && !hub
            .registry()
            .set_visit_id(&participant.room_id, &peer_id, visit_id)
    {
        // Removed while the row was written: close it with the reason of the removal.
        let reason = hub.registry().take_pending_end(&peer_id);
        let reason = reason.unwrap_or(EndReason::ConnectionLost);
        let _ = db::visit_log::record_leave(&hub.db, visit_id, reason).await;
        return Ok(false);
    }
    // A revocation or closure that committed after the first check found nobody to remove: look
    // again now that this socket is in the registry, where any later one will find it.
    if !matches!(hub.still_allowed(participant).await, Ok(true)) {
        let removed = hub.registry().remove(socket.id);
        let reason = if participant.invite_id.is_some() {
            EndReason::Revoked
        } else {
            EndReason::RoomClosed
        };
        end_members(hub, &connection.io, removed.into_iter().collect(), reason).await;
        return Ok(false);
    }
    Ok(true)
}

/// Step 3: the answer with the peers to offer to, `peer-joined` (or `peer-back`) to each of
/// them, and, for a relative, a ring on the bedside device standing by.
async fn welcome(connection: &Connection, socket: &SocketRef<Adapter>, reply: Reply, entry: Entry) {
    let hub = &connection.hub;
    let Some(me) = hub.registry().member_of(socket.id) else {
        return;
    };
    let (others, event) = match entry {
        Entry::New { others } => (others, "peer-joined"),
        Entry::Back { others, .. } => (others, "peer-back"),
    };
    let caps = hub.rebalance(&connection.io, Some(socket.id));
    let cap = caps
        .get(&me.participant.room_id)
        .copied()
        .unwrap_or(hub.config.max_video_kbps);
    let body = JoinAck {
        id: me.peer_id.clone(),
        peers: others.iter().map(PeerInfo::of).collect(),
        ice_servers: hub.ice_servers(&connection.participant).await,
        ice_transport_policy: hub.config.ice_transport_policy,
        max_video_kbps: cap,
        video_floor_kbps: hub.config.video_floor_kbps,
        rejoin_grace_secs: hub.grace().as_secs(),
        rejoined: event == "peer-back",
    };
    reply.send(socket, &body);
    hub.caches.desk.bump();
    let joined = PeerInfo::of(&me);
    let room_id = &connection.participant.room_id;
    hub.tell_room(&connection.io, room_id, Some(&me.peer_id), event, &joined)
        .await;
    if connection.participant.role == CallRole::Relative {
        // The bedside may stand by on any node.
        hub.tell_nodes(&super::Command::Ring {
            room_id: room_id.clone(),
        });
        hub.ring_bedside(&connection.io, room_id, true).await;
    }
}

/// What a client sends as `signal`.
#[derive(Debug, Deserialize)]
pub(super) struct SignalIn {
    to: String,
    data: SignalData,
}

/// What a signal carries: a session description or an ICE candidate, exactly one. Each is kept
/// as the JSON the sender wrote and relayed as it is, once its shape is checked: an offer is a
/// few KiB of SDP, and parsing it into a tree only to encode it again was most of the work of
/// relaying it.
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

/// `RTCSessionDescriptionInit`, as `RTCSessionDescription.toJSON()` writes it.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct DescriptionShape {
    #[serde(rename = "type")]
    _kind: DescriptionType,
    #[serde(rename = "sdp", default)]
    _sdp: JsonString,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "lowercase")]
enum DescriptionType {
    Offer,
    Answer,
    Pranswer,
    Rollback,
}

/// `RTCIceCandidateInit`, as `RTCIceCandidate.toJSON()` writes it.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct CandidateShape {
    #[serde(rename = "candidate")]
    _candidate: JsonString,
    #[serde(rename = "sdpMid", default)]
    _sdp_mid: Option<JsonString>,
    #[serde(rename = "sdpMLineIndex", default)]
    _sdp_m_line_index: Option<u16>,
    #[serde(rename = "usernameFragment", default)]
    _username_fragment: Option<JsonString>,
}

/// A JSON string, checked but not kept (the raw JSON is what is relayed).
#[derive(Debug, Default)]
struct JsonString;

impl<'de> Deserialize<'de> for JsonString {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl serde::de::Visitor<'_> for Visitor {
            type Value = JsonString;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a string")
            }
            fn visit_str<E: serde::de::Error>(self, _: &str) -> Result<JsonString, E> {
                Ok(JsonString)
            }
        }
        deserializer.deserialize_str(Visitor)
    }
}

impl SignalData {
    /// Exactly one of the two, in the shape a browser writes it.
    fn well_formed(&self) -> bool {
        match (&self.description, &self.candidate) {
            (Some(description), None) => {
                serde_json::from_str::<DescriptionShape>(description.get()).is_ok()
            }
            (None, Some(candidate)) => {
                candidate.get() == "null"
                    || serde_json::from_str::<CandidateShape>(candidate.get()).is_ok()
            }
            _ => false,
        }
    }
}

#[derive(Debug, Serialize)]
struct SignalOut<'a> {
    from: String,
    data: &'a SignalData,
}

/// `signal`: relays a well-formed description or candidate to one peer of the same room.
pub(super) async fn signal(
    connection: &Connection,
    socket: &SocketRef<Adapter>,
    message: Result<SignalIn, ParserError>,
) {
    let Ok(message) = message else {
        tracing::warn!(sid = %socket.id, "dropped a malformed signal");
        return;
    };
    if !message.data.well_formed() {
        tracing::warn!(sid = %socket.id, "dropped a signal that is not a description or candidate");
        return;
    }
    let route = connection.hub.registry().route(socket.id, &message.to);
    let Some((to, room_id, from)) = route else {
        tracing::debug!(sid = %socket.id, "dropped a signal to nobody connected in the sender's room");
        return;
    };
    let relayed = SignalOut {
        from,
        data: &message.data,
    };
    match to {
        Route::Here(to) => {
            if let Some(peer) = connection.io.get_socket(to) {
                deliver(&peer, "signal", &relayed).await;
            }
        }
        // Only that person's socket in the sender's own room, wherever it is.
        Route::Elsewhere if !connection.hub.alone => {
            let peer = connection.io.to(super::peer_room(&room_id, &message.to));
            if let Err(err) = peer.emit("signal", &relayed).await {
                tracing::warn!(error = %err, "could not relay a signal to another node");
            }
        }
        Route::Elsewhere => {
            tracing::debug!(sid = %socket.id, "dropped a signal to nobody connected in the sender's room");
        }
    }
}

/// `ready`: a bedside device stands by for its room's calls. Answered `{ ok: true }`; a socket
/// that is not a bedside device's gets `{ error: "not-allowed" }`. If a relative is already in
/// the call, the device is rung at once; the ward's automatic admission is looked at.
pub(super) async fn ready(
    connection: &Connection,
    socket: &SocketRef<Adapter>,
    ack: Option<AckSender<Adapter>>,
) {
    let (hub, participant) = (&connection.hub, &connection.participant);
    let Some(device_id) = participant.device_id.as_deref() else {
        answer(ack, &serde_json::json!({ "error": "not-allowed" }));
        return;
    };
    hub.registry()
        .stand_by(socket.id, &participant.room_id, device_id);
    // Unpaired since the handshake (an unpairing that found nobody standing by yet): out.
    if !matches!(hub.still_allowed(participant).await, Ok(true)) {
        hub.registry().leave_standby(socket.id);
        let _ = socket.emit("ended", &serde_json::json!({ "reason": "unpaired" }));
        close_connection(socket);
        return;
    }
    if let Err(err) = db::devices::touch(&hub.db, device_id, db::now()).await {
        tracing::debug!(error = %err, "noting a bedside device was seen");
    }
    answer(ack, &serde_json::json!({ "ok": true }));
    hub.caches.desk.bump();
    hub.ring_bedside(&connection.io, &participant.room_id, false)
        .await;
    hub.try_auto_admit(&participant.room_id).await;
}

/// `decline`: the patient pressed "Not now" on the bedside device. Audited; the relatives in
/// the call are told (`notice` `{ key: "patient-declined" }`).
pub(super) async fn decline(connection: &Connection, socket: &SocketRef<Adapter>) {
    let (hub, participant) = (&connection.hub, &connection.participant);
    if participant.device_id.is_none() || !matches!(hub.still_allowed(participant).await, Ok(true))
    {
        tracing::warn!(sid = %socket.id, "dropped a decline from a socket that is not a paired bedside");
        return;
    }
    let recorded = async {
        let mut conn = hub.db.acquire().await?;
        db::audit::record(
            &mut conn,
            None,
            AuditAction::BedsideDecline,
            Some(&participant.room_id),
        )
        .await
    };
    if let Err(err) = recorded.await {
        tracing::error!(error = %err, "recording a declined bedside call");
    }
    let notice = serde_json::json!({ "key": "patient-declined" });
    hub.tell_room(
        &connection.io,
        &participant.room_id,
        None,
        "notice",
        &notice,
    )
    .await;
    hub.caches.desk.bump();
}

/// `media`: what the page sends now (`{ microphone, camera, paused }`), relayed to the others
/// of its call as `peer-media` `{ id, microphone, camera, paused }` and kept for those who join
/// later.
pub(super) async fn media(
    connection: &Connection,
    socket: &SocketRef<Adapter>,
    state: Result<MediaState, ParserError>,
) {
    let Ok(state) = state else {
        tracing::warn!(sid = %socket.id, "dropped a malformed media state");
        return;
    };
    let Some(me) = connection.hub.registry().set_media(socket.id, state) else {
        return;
    };
    let mut body = serde_json::to_value(state).unwrap_or_default();
    body["id"] = serde_json::Value::String(me.peer_id.clone());
    let room_id = &me.participant.room_id;
    connection
        .hub
        .tell_room(
            &connection.io,
            room_id,
            Some(&me.peer_id),
            "peer-media",
            &body,
        )
        .await;
}

/// What a call page reports about its call so far (`quality`, every 30 s and when it hangs up):
/// averages since it joined.
#[derive(Debug, Clone, Copy, serde::Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(super) struct QualityReport {
    sent_kbps: u32,
    received_kbps: u32,
    loss_permille: u32,
    audio_only_secs: u32,
}

/// The largest figures a report may carry (a page is not trusted beyond what it could measure).
const MAX_REPORTED_KBPS: u32 = 100_000;
const MAX_REPORTED_SECS: u32 = 24 * 60 * 60;

/// `quality`: stores the call page's latest summary on the sender's stay, for the visit log.
/// Malformed or impossible figures are dropped; no answer either way.
pub(super) async fn quality(
    connection: &Connection,
    socket: &SocketRef<Adapter>,
    report: Result<QualityReport, ParserError>,
) {
    let report = match report {
        Ok(r)
            if r.sent_kbps <= MAX_REPORTED_KBPS
                && r.received_kbps <= MAX_REPORTED_KBPS
                && r.loss_permille <= 1000
                && r.audio_only_secs <= MAX_REPORTED_SECS =>
        {
            r
        }
        _ => {
            tracing::warn!(sid = %socket.id, "dropped a malformed quality report");
            return;
        }
    };
    let Some(stay) = connection
        .hub
        .registry()
        .member_of(socket.id)
        .and_then(|m| m.visit_id)
    else {
        return;
    };
    let quality = db::history::Quality {
        sent_kbps: i64::from(report.sent_kbps),
        received_kbps: i64::from(report.received_kbps),
        loss_permille: i64::from(report.loss_permille),
        audio_only_secs: i64::from(report.audio_only_secs),
    };
    if let Err(err) = db::history::record_quality(&connection.hub.db, stay, quality).await {
        tracing::warn!(error = %err, "storing a call's quality summary");
    }
}

/// `alive`: the page's heartbeat while it is connected, answered at once (`{}`), so that the
/// page notices a dead connection in seconds rather than at the transport's timeout.
pub(super) fn alive(ack: Option<AckSender<Adapter>>) {
    answer(ack, &serde_json::json!({}));
}

/// `leave`: the participant hung up.
pub(super) async fn leave(connection: &Connection, socket: &SocketRef<Adapter>) {
    depart(connection, socket.id, EndReason::HangUp).await;
    close_connection(socket);
}

/// The socket is gone. Hung up, or cut by the server: the stay ends. The connection lost (the
/// network, a closed transport): the person keeps their place for the rejoin grace, counted
/// from their last sign of life, and the others see them reconnecting.
pub(super) async fn disconnected(
    connection: &Connection,
    socket: &SocketRef<Adapter>,
    reason: DisconnectReason,
) {
    let end = match reason {
        DisconnectReason::ClientNSDisconnect => EndReason::HangUp,
        DisconnectReason::ClosingServer => EndReason::ServerShutdown,
        DisconnectReason::TransportClose
        | DisconnectReason::TransportError
        | DisconnectReason::HeartbeatTimeout => {
            return lost(connection, socket.id).await;
        }
        _ => EndReason::ConnectionLost,
    };
    depart(connection, socket.id, end).await;
}

async fn lost(connection: &Connection, sid: Sid) {
    let hub = &connection.hub;
    depart_waiting(connection, sid);
    let Some((member, absence)) = hub.registry().go_away(sid) else {
        return;
    };
    hub.caches.desk.bump();
    let message = serde_json::json!({ "id": member.peer_id });
    let room_id = &member.participant.room_id;
    hub.tell_room(
        &connection.io,
        room_id,
        Some(&member.peer_id),
        "peer-away",
        &message,
    )
    .await;
    let remaining = hub.grace().saturating_sub(connection.silent_for());
    let (hub, io) = (hub.clone(), connection.io.clone());
    tokio::spawn(async move {
        tokio::time::sleep(remaining).await;
        let expired = hub
            .registry()
            .expire(&member.participant.room_id, &member.peer_id, absence);
        if let Some(member) = expired {
            hub.close_visit(&member, EndReason::ConnectionLost).await;
            hub.announce_left(&io, &member, EndReason::ConnectionLost)
                .await;
            hub.rebalance(&io, None);
        }
    });
}

/// Takes a socket out of the waiting room and the bedside standby.
fn depart_waiting(connection: &Connection, sid: Sid) {
    let hub = &connection.hub;
    let was_waiting = hub.registry().stop_waiting(sid).is_some();
    hub.registry().leave_standby(sid);
    if was_waiting {
        hub.caches.desk.bump();
    }
}

async fn depart(connection: &Connection, sid: Sid, reason: EndReason) {
    let hub = &connection.hub;
    depart_waiting(connection, sid);
    let removed = hub.registry().remove(sid);
    if let Some(member) = removed {
        hub.close_visit(&member, reason).await;
        hub.announce_left(&connection.io, &member, reason).await;
        hub.rebalance(&connection.io, None);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn data(json: &str) -> SignalData {
        serde_json::from_str(json).expect("a signal's data")
    }

    #[test]
    fn only_a_browser_shaped_description_or_candidate_is_well_formed() {
        let good = [
            r#"{"description":{"type":"offer","sdp":"v=0\r\n"}}"#,
            r#"{"description":{"type":"rollback","sdp":""}}"#,
            r#"{"candidate":null}"#,
            r#"{"candidate":{"candidate":"candidate:1 1 udp 1 192.0.2.1 9 typ host","sdpMid":"0","sdpMLineIndex":0,"usernameFragment":"ab"}}"#,
            r#"{"candidate":{"candidate":"","sdpMid":null,"sdpMLineIndex":null}}"#,
        ];
        let bad = [
            r#"{"description":{"type":"offer","sdp":"v=0","t":"1"}}"#,
            r#"{"description":{"type":"bogus","sdp":""}}"#,
            r#"{"description":{"sdp":"v=0"}}"#,
            r#"{"description":null}"#,
            r#"{"candidate":{"candidate":5}}"#,
            r#"{"candidate":{}}"#,
            r#"{"candidate":"candidate:1"}"#,
            r#"{}"#,
            r#"{"description":{"type":"offer","sdp":""},"candidate":null}"#,
        ];

        for json in good {
            assert!(data(json).well_formed(), "{json}");
        }
        for json in bad {
            assert!(!data(json).well_formed(), "{json}");
        }
    }
}
