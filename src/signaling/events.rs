//! What each client event does: `join`, `signal`, `leave`, and the disconnection. They run one at
//! a time per socket, in arrival order ([`super::inbox`]).

use std::time::Duration;

use tokio::time::Instant;

use serde::{Deserialize, Serialize};
use serde_json::{Value, value::RawValue};
use socketioxide::{
    ParserError, SendError, SocketError,
    extract::{AckSender, SocketRef},
    socket::{DisconnectReason, Sid},
};

use super::{Member, close_connection, end_members, inbox::Connection, registry::Admission};
use crate::{
    db,
    domain::{CallRole, EndReason},
};

/// How long a peer's full send queue may hold up delivery before the peer, which has stopped
/// reading, is disconnected.
const STALLED_PEER: Duration = Duration::from_secs(5);

/// Emits to a peer. When the peer's send queue is full (a burst faster than its connection
/// drains), waits for room instead of dropping the message: the sender's own inbox waits too, so
/// nothing is lost and nothing is reordered. A peer that stays full for [`STALLED_PEER`] is cut.
async fn deliver<T: Serialize + ?Sized>(peer: &SocketRef, event: &str, data: &T) {
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

/// Answers a `join` (when the client asked for an answer).
fn answer(ack: Option<AckSender>, body: &impl Serialize) {
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
}

impl Refusal {
    fn error(self) -> &'static str {
        match self {
            Refusal::NotAllowed => "not-allowed",
            Refusal::RoomFull => "room-full",
            Refusal::AlreadyJoined => "already-joined",
            Refusal::NotRecorded => "not-recorded",
        }
    }
}

/// `join`: admits the socket to its ticket's room, writes the visit log row, answers with the
/// peers already there and tells them. Each step is named below; a refusal is answered, and all
/// but a second join end the connection.
pub(super) async fn join(connection: &Connection, socket: &SocketRef, ack: Option<AckSender>) {
    let refused = match admit(connection, socket).await {
        Ok(others) => match record(connection, socket).await {
            Ok(true) => {
                welcome(connection, socket, ack, others).await;
                return;
            }
            // Removed while the row was written; the removal told the socket why.
            Ok(false) => return,
            Err(refusal) => refusal,
        },
        Err(refusal) => refusal,
    };
    answer(ack, &serde_json::json!({ "error": refused.error() }));
    if refused != Refusal::AlreadyJoined {
        close_connection(socket);
    }
}

/// Step 1: the participant may still be in the call, and the room has space: put the socket in
/// the registry (ending an earlier socket of the same person) and return who is already there.
async fn admit(connection: &Connection, socket: &SocketRef) -> Result<Vec<Member>, Refusal> {
    let (hub, participant) = (&connection.hub, &connection.participant);
    if !matches!(hub.still_allowed(participant).await, Ok(true)) {
        return Err(Refusal::NotAllowed);
    }
    let admission = hub
        .registry()
        .admit(socket.id, participant.clone(), hub.config.room_capacity);
    match admission {
        Admission::Admitted { others, replaced } => {
            if let Some(old) = replaced {
                end_members(hub, &connection.io, vec![old], EndReason::ConnectionLost).await;
            }
            Ok(others)
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

/// Step 2: the visit log row, before anything of the call starts (fail closed), then a second
/// look at the room and invite. `Ok(false)` when the socket was removed meanwhile.
async fn record(connection: &Connection, socket: &SocketRef) -> Result<bool, Refusal> {
    let (hub, participant) = (&connection.hub, &connection.participant);
    let visit = db::visit_log::NewVisit {
        room_id: &participant.room_id,
        role: participant.role,
        display_name: &participant.display_name,
        staff_id: participant.staff_id.as_deref(),
        invite_id: participant.invite_id.as_deref(),
        early_secs: hub.config.invite_early_secs(),
    };
    let visit_id = match db::visit_log::record_join(&hub.db, &visit).await {
        Ok(visit_id) => visit_id,
        Err(err) => {
            match db::StorageFailure::of(&err) {
                Some(failure) => failure.note("a join was refused"),
                None => {
                    tracing::error!(error = %err, "writing a visit log entry: the join is refused")
                }
            }
            hub.registry().remove(socket.id);
            return Err(Refusal::NotRecorded);
        }
    };
    if !hub.registry().set_visit_id(socket.id, visit_id) {
        // Removed while the row was written: close it with the reason of the removal.
        let reason = hub.registry().take_pending_end(socket.id);
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

/// Step 3: the ack with the peers to offer to, and `peer-joined` to each of them.
async fn welcome(
    connection: &Connection,
    socket: &SocketRef,
    ack: Option<AckSender>,
    others: Vec<Member>,
) {
    let hub = &connection.hub;
    let reply = JoinAck {
        id: socket.id.to_string(),
        peers: others.iter().map(PeerInfo::of).collect(),
        ice_servers: hub.ice_servers(),
        max_video_kbps: hub.config.max_video_kbps,
    };
    answer(ack, &reply);
    hub.caches.desk.bump();
    let me = Member {
        sid: socket.id,
        participant: connection.participant.clone(),
        visit_id: None,
    };
    let joined = PeerInfo::of(&me);
    for other in others {
        if let Some(peer) = connection.io.get_socket(other.sid) {
            deliver(&peer, "peer-joined", &joined).await;
        }
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
    socket: &SocketRef,
    message: Result<SignalIn, ParserError>,
) {
    let Ok(message) = message else {
        tracing::warn!(sid = %socket.id, "dropped a malformed signal");
        return;
    };
    let Ok(to) = message.to.parse::<Sid>() else {
        tracing::warn!(sid = %socket.id, "dropped a signal to a malformed peer id");
        return;
    };
    if !message.data.well_formed() {
        tracing::warn!(sid = %socket.id, "dropped a signal that is not a description or candidate");
        return;
    }
    if !connection.hub.registry().same_room(socket.id, to) {
        tracing::warn!(sid = %socket.id, "dropped a signal outside the sender's room");
        return;
    }
    if let Some(peer) = connection.io.get_socket(to) {
        let relayed = SignalOut {
            from: socket.id.to_string(),
            data: &message.data,
        };
        deliver(&peer, "signal", &relayed).await;
    }
}

/// `leave`: the participant hung up.
pub(super) async fn leave(connection: &Connection, socket: &SocketRef) {
    depart(connection, socket.id, EndReason::HangUp).await;
    close_connection(socket);
}

/// The socket is gone: closes its stay, if it had one.
pub(super) async fn disconnected(
    connection: &Connection,
    socket: &SocketRef,
    reason: DisconnectReason,
) {
    let end = match reason {
        DisconnectReason::ClientNSDisconnect => EndReason::HangUp,
        DisconnectReason::ClosingServer => EndReason::ServerShutdown,
        _ => EndReason::ConnectionLost,
    };
    depart(connection, socket.id, end).await;
}

async fn depart(connection: &Connection, sid: Sid, reason: EndReason) {
    let hub = &connection.hub;
    let removed = hub.registry().remove(sid);
    if let Some(member) = removed {
        hub.close_visit(&member, reason).await;
        hub.announce_left(&connection.io, &member, reason);
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
