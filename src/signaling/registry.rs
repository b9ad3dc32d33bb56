//! Who is in which call right now, who waits to be let in, and which bedside devices stand by.
//! In memory: after a restart the pages rejoin by themselves (their stays are in the visit log),
//! and admissions (who was let in) are in the database.
//!
//! A member is a person, not a socket: their place (and their peer id) outlives a lost
//! connection for the rejoin grace, and a new socket of the same person takes it over.
//!
//! On several nodes each node holds its own sockets here, and a copy of what every other node
//! published ([`Shared`]): a call's members on all nodes, the waiting room and the bedside
//! devices standing by are seen everywhere, while only the node holding a socket changes its
//! entry. Where a person appears twice (taken over on another node, not yet published), this
//! node's own entry wins, then the first node's.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};
use socketioxide::socket::Sid;

use super::{Participant, inbox::Door};
use crate::domain::{CallRole, DeviceCheck, EndReason, NotNowMessage};

/// One person in a call.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Member {
    /// Stable for the person in this room: the others address them by it across rejoins.
    pub peer_id: String,
    /// Their socket now (while `away`, the lost one).
    pub sid: Sid,
    /// The page instance that joined (sent by the client): a new one means a reloaded page,
    /// whose peer connections are new too.
    pub session: String,
    pub participant: Participant,
    /// The visit log row, once written.
    pub visit_id: Option<i64>,
    /// While their connection is lost and they may come back: the number of this absence.
    pub away: Option<u64>,
    /// What their page says it sends.
    pub media: MediaState,
}

/// What a participant's page sends, as it reports it (`media`): shown on their tile.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct MediaState {
    /// Their microphone is on.
    pub microphone: bool,
    /// Their camera is on.
    pub camera: bool,
    /// Their video is paused to keep the sound (a weak link, or the site's budget).
    pub paused: bool,
}

impl Default for MediaState {
    fn default() -> Self {
        Self {
            microphone: true,
            camera: true,
            paused: false,
        }
    }
}

/// One participant as the rooms list shows them.
#[derive(Debug, Clone, Serialize)]
pub struct PresenceEntry {
    pub role: CallRole,
    pub name: String,
    /// Their connection is lost and they may come back.
    pub reconnecting: bool,
    /// The invite a relative came in with (the desk maps it to its visit).
    #[serde(skip)]
    pub invite_id: Option<String>,
}

impl PresenceEntry {
    /// "Ana (relative)", or "Ana (relative, reconnecting…)", in the reader's language.
    pub fn label(&self, t: &crate::i18n::Text) -> String {
        if self.reconnecting {
            format!(
                "{} ({}, {})",
                self.name,
                self.role.label(t),
                t.presence_reconnecting
            )
        } else {
            format!("{} ({})", self.name, self.role.label(t))
        }
    }
}

/// The outcome of a join.
#[derive(Debug)]
pub enum Admission {
    /// In, with the others already there.
    Admitted { others: Vec<Member> },
    /// The same person was in the call already (their connection lost, or on another socket
    /// that has not noticed yet: a reload, a network change): this socket takes their place,
    /// their peer id and their stay. `earlier` is the member as it was.
    Back {
        others: Vec<Member>,
        earlier: Box<Member>,
    },
    /// This socket had already joined.
    AlreadyJoined,
    /// The room is at capacity.
    Full,
}

/// The visit a waiting relative came for, as read when they arrived.
#[derive(Debug, Clone)]
pub struct WaitingVisit {
    pub visit_id: String,
    pub ward_id: String,
    pub starts_at: i64,
    pub relationship: String,
    /// The ward lets the bedside admit by itself at the start.
    pub auto_admit: bool,
}

/// A relative in the waiting room: connected, checked, not in the call.
#[derive(Debug, Clone)]
pub struct Waiter {
    pub sid: Sid,
    pub participant: Participant,
    /// Unix seconds.
    pub since: i64,
    pub check: DeviceCheck,
    pub visit: Option<WaitingVisit>,
    /// The last "not now" message a nurse sent.
    pub told: Option<NotNowMessage>,
    /// Hands the socket its admission, in order with its own events.
    pub door: Door,
    /// The page instance, for when it enters the call.
    pub session: String,
}

impl Waiter {
    /// How the desk shows them.
    pub fn entry(&self) -> super::WaitingEntry {
        super::WaitingEntry {
            invite_id: self.participant.invite_id.clone().unwrap_or_default(),
            name: self.participant.display_name.clone(),
            relationship: self
                .visit
                .as_ref()
                .map(|v| v.relationship.clone())
                .unwrap_or_default(),
            room_id: self.participant.room_id.clone(),
            visit_id: self.visit.as_ref().map(|v| v.visit_id.clone()),
            ward_id: self.visit.as_ref().map(|v| v.ward_id.clone()),
            visit_starts_at: self.visit.as_ref().map(|v| v.starts_at),
            since: self.since,
            check: self.check.clone(),
            told: self.told,
        }
    }
}

/// A bedside device connected and ready, outside any call.
#[derive(Debug, Clone)]
struct Standby {
    room_id: String,
    device_id: String,
}

/// What a node holds, as the other nodes see it.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Shared {
    pub members: Vec<Member>,
    pub waiting: Vec<super::WaitingEntry>,
    /// The rooms with a bedside device of this node's standing by (or in the call).
    pub standby_rooms: Vec<String>,
}

/// Where a signal goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Route {
    /// To this socket, on this node.
    Here(Sid),
    /// To whichever node holds that peer now, if any.
    Elsewhere,
}

/// What the registry holds, counted.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counts {
    /// Rooms with someone in their call.
    pub calls: usize,
    /// People in calls, connected.
    pub participants: usize,
    /// People in calls whose connection is lost, within the grace.
    pub reconnecting: usize,
    /// Relatives in the waiting room.
    pub waiting: usize,
    /// Bedside tablets standing by.
    pub standing_by: usize,
}

/// Rooms and their members, the waiting room, and the bedside devices standing by.
#[derive(Debug, Default)]
pub struct Registry {
    rooms: HashMap<String, Vec<Member>>,
    /// The room of each connected member's socket (not of the lost ones).
    room_of: HashMap<Sid, String>,
    /// Why members were removed before their visit log row existed, by peer id, for the joiner
    /// to record.
    pending_end: HashMap<String, EndReason>,
    /// Absences counted so far, to number the next.
    absences: u64,
    /// When each room's call started, in order (for the video budget: the earlier keep video).
    started: HashMap<String, u64>,
    rooms_started: u64,
    waiting: Vec<Waiter>,
    standby: HashMap<Sid, Standby>,
    /// What the other nodes hold, by node, as they last published it.
    remote: HashMap<String, Shared>,
    /// The same, as published (JSON), to notice when it did not change.
    remote_raw: HashMap<String, String>,
}

impl Participant {
    /// True when `other` is the same person on the same side: the same invite, or the same
    /// staff account in the same role.
    fn same_person(&self, other: &Participant) -> bool {
        if self.device_id.is_some() || other.device_id.is_some() {
            return self.device_id == other.device_id;
        }
        match (&self.invite_id, &other.invite_id) {
            (Some(a), Some(b)) => a == b,
            (None, None) => {
                self.staff_id.is_some()
                    && self.staff_id == other.staff_id
                    && self.role == other.role
            }
            _ => false,
        }
    }
}

impl Registry {
    /// Admits a socket to its participant's room unless the room is full; the same person
    /// already there is taken over instead (see [`Admission::Back`]).
    pub fn admit(
        &mut self,
        sid: Sid,
        participant: Participant,
        peer_id: &str,
        session: &str,
        capacity: usize,
    ) -> Admission {
        if self.room_of.contains_key(&sid) {
            return Admission::AlreadyJoined;
        }
        let room_id = participant.room_id.clone();
        let elsewhere = self
            .remote_members_of(&room_id)
            .find(|m| m.participant.same_person(&participant))
            .cloned();
        let local_same = self.rooms.get(&room_id).is_some_and(|members| {
            members
                .iter()
                .any(|m| m.participant.same_person(&participant))
        });
        if let Some(earlier) = elsewhere.filter(|_| !local_same) {
            // Their place is on another node (a reconnection that landed here, or a node that
            // died): this node takes it over, with their peer id and their stay.
            if !self.rooms.contains_key(&room_id) {
                self.rooms_started += 1;
                self.started.insert(room_id.clone(), self.rooms_started);
            }
            self.rooms.entry(room_id.clone()).or_default().push(Member {
                peer_id: earlier.peer_id.clone(),
                sid,
                session: session.to_string(),
                participant,
                visit_id: earlier.visit_id,
                away: None,
                media: earlier.media,
            });
            return self.back(sid, &room_id, earlier);
        }
        let elsewhere_count = self.remote_members_of(&room_id).count();
        if !self.rooms.contains_key(&room_id) {
            self.rooms_started += 1;
            self.started.insert(room_id.clone(), self.rooms_started);
        }
        let members = self.rooms.entry(room_id.clone()).or_default();
        if let Some(member) = members
            .iter_mut()
            .find(|m| m.participant.same_person(&participant))
        {
            let earlier = member.clone();
            member.sid = sid;
            member.session = session.to_string();
            member.participant = participant;
            member.away = None;
            if earlier.away.is_none() {
                self.room_of.remove(&earlier.sid);
            }
            return self.back(sid, &room_id, earlier);
        }
        if members.len() + elsewhere_count >= capacity {
            if members.is_empty() {
                self.rooms.remove(&room_id);
                self.started.remove(&room_id);
            }
            return Admission::Full;
        }
        let others = self.members_of(&room_id);
        let Some(members) = self.rooms.get_mut(&room_id) else {
            return Admission::Full;
        };
        members.push(Member {
            peer_id: peer_id.to_string(),
            sid,
            session: session.to_string(),
            participant,
            visit_id: None,
            away: None,
            media: MediaState::default(),
        });
        self.room_of.insert(sid, room_id);
        Admission::Admitted { others }
    }

    /// The socket `sid` has taken the place of `earlier` in `room_id`: it is that member now.
    fn back(&mut self, sid: Sid, room_id: &str, earlier: Member) -> Admission {
        self.room_of.insert(sid, room_id.to_string());
        let others = self
            .members_of(room_id)
            .into_iter()
            .filter(|m| m.peer_id != earlier.peer_id)
            .collect();
        Admission::Back {
            others,
            earlier: Box::new(earlier),
        }
    }

    /// Notes why a member without a visit log row yet was removed.
    pub fn note_pending_end(&mut self, peer_id: &str, reason: EndReason) {
        self.pending_end.insert(peer_id.to_string(), reason);
    }

    /// Why a member was removed while its visit log row was being written, if it was.
    pub fn take_pending_end(&mut self, peer_id: &str) -> Option<EndReason> {
        self.pending_end.remove(peer_id)
    }

    /// Remembers the visit log row of a member (whichever socket it has now); false when it is
    /// no longer in the room.
    pub fn set_visit_id(&mut self, room_id: &str, peer_id: &str, visit_id: i64) -> bool {
        let member = self
            .rooms
            .get_mut(room_id)
            .and_then(|members| members.iter_mut().find(|m| m.peer_id == peer_id));
        match member {
            Some(member) => {
                member.visit_id = Some(visit_id);
                true
            }
            None => false,
        }
    }

    /// The member whose socket this is, connected.
    pub fn member_of(&self, sid: Sid) -> Option<Member> {
        let room = self.room_of.get(&sid)?;
        self.rooms.get(room)?.iter().find(|m| m.sid == sid).cloned()
    }

    /// For a signal from the connected socket `from` to `peer_id`: where the peer is (this
    /// node's socket when it is connected here; another node otherwise, which delivers it only
    /// to that peer of the same room), the sender's room and its own peer id. None when the
    /// sender is in no call, or the peer is here but its connection is lost.
    pub fn route(&self, from: Sid, peer_id: &str) -> Option<(Route, String, String)> {
        let room = self.room_of.get(&from)?;
        let members = self.rooms.get(room)?;
        let sender = members.iter().find(|m| m.sid == from)?;
        if sender.peer_id == peer_id {
            return None;
        }
        let route = match members.iter().find(|m| m.peer_id == peer_id) {
            Some(to) if to.away.is_none() => Route::Here(to.sid),
            Some(_) => return None,
            None => Route::Elsewhere,
        };
        Some((route, room.clone(), sender.peer_id.clone()))
    }

    /// Notes what a connected member's page sends; the member, when there is one.
    pub fn set_media(&mut self, sid: Sid, media: MediaState) -> Option<Member> {
        let room = self.room_of.get(&sid)?;
        let member = self
            .rooms
            .get_mut(room)?
            .iter_mut()
            .find(|m| m.sid == sid)?;
        member.media = media;
        Some(member.clone())
    }

    /// How many of everything there are now, for `/metrics`.
    pub fn counts(&self) -> Counts {
        let members = self.rooms.values().flatten();
        let (connected, away) = members.fold((0, 0), |(c, a), m| {
            if m.away.is_some() {
                (c, a + 1)
            } else {
                (c + 1, a)
            }
        });
        Counts {
            calls: self.rooms.len(),
            participants: connected,
            reconnecting: away,
            waiting: self.waiting.len(),
            standing_by: self.standby.len(),
        }
    }

    /// The running calls, for the video budget.
    pub fn calls(&self) -> Vec<super::budget::Call> {
        self.rooms
            .iter()
            .map(|(room, members)| super::budget::Call {
                room_id: room.clone(),
                order: self.started.get(room).copied().unwrap_or(u64::MAX),
                participants: members.len(),
            })
            .collect()
    }

    /// The connection of this socket's member was lost: they keep their place, marked away.
    /// Returns the member and the number of this absence.
    pub fn go_away(&mut self, sid: Sid) -> Option<(Member, u64)> {
        let room = self.room_of.remove(&sid)?;
        self.absences += 1;
        let absence = self.absences;
        let member = self
            .rooms
            .get_mut(&room)?
            .iter_mut()
            .find(|m| m.sid == sid)?;
        member.away = Some(absence);
        Some((member.clone(), absence))
    }

    /// Takes out a member still away in the same absence (they did not come back in time).
    pub fn expire(&mut self, room_id: &str, peer_id: &str, absence: u64) -> Option<Member> {
        let members = self.rooms.get_mut(room_id)?;
        let index = members
            .iter()
            .position(|m| m.peer_id == peer_id && m.away == Some(absence))?;
        let member = members.remove(index);
        if members.is_empty() {
            self.rooms.remove(room_id);
            self.started.remove(room_id);
        }
        Some(member)
    }

    /// True when both sockets are connected members of the same room.
    #[cfg(test)]
    pub fn same_room(&self, a: Sid, b: Sid) -> bool {
        match (self.room_of.get(&a), self.room_of.get(&b)) {
            (Some(x), Some(y)) => x == y && a != b,
            _ => false,
        }
    }

    /// The members of a room, on every node.
    pub fn members_of(&self, room_id: &str) -> Vec<Member> {
        let mut members = self.local_members_of(room_id);
        members.extend(self.remote_members_of(room_id).cloned());
        members
    }

    /// The members of a room whose sockets this node holds (or held, while they are away).
    pub fn local_members_of(&self, room_id: &str) -> Vec<Member> {
        self.rooms.get(room_id).cloned().unwrap_or_default()
    }

    /// The members of a room on the other nodes, each person once, and not those this node holds.
    fn remote_members_of<'a>(&'a self, room_id: &'a str) -> impl Iterator<Item = &'a Member> {
        let here = self.rooms.get(room_id);
        let mut seen = std::collections::HashSet::new();
        self.remote_nodes()
            .flat_map(|shared| shared.members.iter())
            .filter(move |m| m.participant.room_id == room_id)
            .filter(move |m| here.is_none_or(|h| h.iter().all(|l| l.peer_id != m.peer_id)))
            .filter(move |m| seen.insert(m.peer_id.clone()))
    }

    /// The other nodes' states, in a stable order.
    fn remote_nodes(&self) -> impl Iterator<Item = &Shared> {
        let mut nodes: Vec<(&String, &Shared)> = self.remote.iter().collect();
        nodes.sort_by(|a, b| a.0.cmp(b.0));
        nodes.into_iter().map(|(_, shared)| shared)
    }

    /// What this node holds, for the other nodes.
    pub fn share(&self) -> Shared {
        let mut standby_rooms: Vec<String> =
            self.standby.values().map(|s| s.room_id.clone()).collect();
        standby_rooms.sort();
        standby_rooms.dedup();
        let mut members: Vec<Member> = self.rooms.values().flatten().cloned().collect();
        members.sort_by(|a, b| a.peer_id.cmp(&b.peer_id));
        Shared {
            members,
            waiting: self.waiting.iter().map(Waiter::entry).collect(),
            standby_rooms,
        }
    }

    /// True when `raw` is what this node holds of `node` already.
    pub fn knows(&self, node: &str, raw: &str) -> bool {
        self.remote_raw.get(node).is_some_and(|known| known == raw)
    }

    /// Notes what another node holds now (`raw`: as it published it).
    pub fn set_remote(&mut self, node: &str, shared: Shared, raw: &str) {
        self.remote.insert(node.to_string(), shared);
        self.remote_raw.insert(node.to_string(), raw.to_string());
    }

    /// The other nodes whose state this node holds.
    pub fn remote_node_ids(&self) -> Vec<String> {
        self.remote.keys().cloned().collect()
    }

    /// Forgets a node that is gone; returns its members held nowhere else now (not taken over
    /// here or on another node): their stays are over.
    pub fn drop_remote(&mut self, node: &str) -> Vec<Member> {
        self.remote_raw.remove(node);
        let Some(gone) = self.remote.remove(node) else {
            return Vec::new();
        };
        gone.members
            .into_iter()
            .filter(|m| {
                let room = &m.participant.room_id;
                let here = self
                    .rooms
                    .get(room)
                    .is_some_and(|h| h.iter().any(|l| l.peer_id == m.peer_id));
                !here && self.remote_members_of(room).all(|r| r.peer_id != m.peer_id)
            })
            .collect()
    }

    /// Who waits on the other nodes (a person waiting here too is shown once, from here).
    pub fn remote_waiting(&self) -> Vec<super::WaitingEntry> {
        let mut seen: std::collections::HashSet<String> = self
            .waiting
            .iter()
            .filter_map(|w| w.participant.invite_id.clone())
            .collect();
        self.remote_nodes()
            .flat_map(|shared| shared.waiting.iter())
            .filter(|w| seen.insert(w.invite_id.clone()))
            .cloned()
            .collect()
    }

    /// Takes the member whose socket this is out of its room.
    pub fn remove(&mut self, sid: Sid) -> Option<Member> {
        let room = self.room_of.remove(&sid)?;
        let members = self.rooms.get_mut(&room)?;
        let index = members.iter().position(|m| m.sid == sid)?;
        let member = members.remove(index);
        if members.is_empty() {
            self.rooms.remove(&room);
            self.started.remove(&room);
        }
        Some(member)
    }

    /// Takes out every member matching `predicate`, connected or away.
    pub fn remove_where(&mut self, predicate: impl Fn(&Member) -> bool) -> Vec<Member> {
        let mut removed = Vec::new();
        for members in self.rooms.values_mut() {
            let (out, kept): (Vec<Member>, Vec<Member>) =
                std::mem::take(members).into_iter().partition(&predicate);
            *members = kept;
            removed.extend(out);
        }
        self.rooms.retain(|_, members| !members.is_empty());
        let rooms = &self.rooms;
        self.started.retain(|room, _| rooms.contains_key(room));
        for member in &removed {
            if member.away.is_none() {
                self.room_of.remove(&member.sid);
            }
        }
        removed
    }

    /// Puts a relative in the waiting room; an earlier waiting socket of the same person (a
    /// reload) is taken out and returned.
    pub fn wait(&mut self, waiter: Waiter) -> Option<Waiter> {
        let earlier = self
            .waiting
            .iter()
            .position(|w| w.participant.same_person(&waiter.participant))
            .map(|i| self.waiting.remove(i));
        self.waiting.push(waiter);
        earlier
    }

    /// True when this socket is in a room.
    pub fn room_of_contains(&self, sid: Sid) -> bool {
        self.room_of.contains_key(&sid)
    }

    /// True when the same person (another socket of theirs, on any node) is already in their
    /// room.
    pub fn same_person_in_room(&self, participant: &Participant) -> bool {
        self.members_of(&participant.room_id)
            .iter()
            .any(|m| m.participant.same_person(participant))
    }

    /// True when this socket is in the waiting room.
    pub fn is_waiting(&self, sid: Sid) -> bool {
        self.waiting.iter().any(|w| w.sid == sid)
    }

    /// Takes a socket out of the waiting room.
    pub fn stop_waiting(&mut self, sid: Sid) -> Option<Waiter> {
        let index = self.waiting.iter().position(|w| w.sid == sid)?;
        Some(self.waiting.remove(index))
    }

    /// Takes every waiter matching `predicate` out of the waiting room.
    pub fn stop_waiting_where(&mut self, predicate: impl Fn(&Waiter) -> bool) -> Vec<Waiter> {
        let (out, kept) = std::mem::take(&mut self.waiting)
            .into_iter()
            .partition(|w| predicate(w));
        self.waiting = kept;
        out
    }

    /// Who waits, in arrival order.
    pub fn waiting(&self) -> Vec<Waiter> {
        self.waiting.clone()
    }

    /// Notes the message a nurse sent to the waiters holding this invite; their sockets.
    pub fn tell_waiting(&mut self, invite_id: &str, message: NotNowMessage) -> Vec<Sid> {
        self.waiting
            .iter_mut()
            .filter(|w| w.participant.invite_id.as_deref() == Some(invite_id))
            .map(|w| {
                w.told = Some(message);
                w.sid
            })
            .collect()
    }

    /// Notes a bedside device standing by for its room.
    pub fn stand_by(&mut self, sid: Sid, room_id: &str, device_id: &str) {
        self.standby.insert(
            sid,
            Standby {
                room_id: room_id.to_string(),
                device_id: device_id.to_string(),
            },
        );
    }

    /// Forgets a standing-by socket.
    pub fn leave_standby(&mut self, sid: Sid) {
        self.standby.remove(&sid);
    }

    /// The sockets of bedside devices standing by for a room, outside its call.
    pub fn standing_by(&self, room_id: &str) -> Vec<Sid> {
        self.standby
            .iter()
            .filter(|(sid, s)| s.room_id == room_id && !self.room_of.contains_key(sid))
            .map(|(sid, _)| *sid)
            .collect()
    }

    /// Every socket standing by.
    pub fn all_standing_by(&self) -> Vec<Sid> {
        self.standby.keys().copied().collect()
    }

    /// Every socket of a device: standing by or in a call.
    pub fn sockets_of_device(&self, device_id: &str) -> Vec<Sid> {
        let mut sids: Vec<Sid> = self
            .standby
            .iter()
            .filter(|(_, s)| s.device_id == device_id)
            .map(|(sid, _)| *sid)
            .collect();
        sids.extend(
            self.rooms
                .values()
                .flatten()
                .filter(|m| m.participant.device_id.as_deref() == Some(device_id))
                .map(|m| m.sid),
        );
        sids.sort();
        sids.dedup();
        sids
    }

    /// True when a bedside device of the room stands by or is in its call, on any node.
    pub fn bedside_ready(&self, room_id: &str) -> bool {
        self.standby.values().any(|s| s.room_id == room_id)
            || self
                .remote_nodes()
                .any(|shared| shared.standby_rooms.iter().any(|r| r == room_id))
    }

    /// True when the patient's side (bedside device or a nurse's "as patient") is in the call.
    pub fn patient_in(&self, room_id: &str) -> bool {
        self.members_of(room_id)
            .iter()
            .any(|m| m.participant.role == CallRole::Patient)
    }

    /// Room id → who is there, on every node.
    pub fn presence(&self) -> HashMap<String, Vec<PresenceEntry>> {
        let mut rooms: Vec<&String> = self.rooms.keys().collect();
        for shared in self.remote.values() {
            rooms.extend(shared.members.iter().map(|m| &m.participant.room_id));
        }
        rooms.sort();
        rooms.dedup();
        rooms
            .into_iter()
            .map(|room| {
                let entries = self
                    .members_of(room)
                    .iter()
                    .map(|m| PresenceEntry {
                        role: m.participant.role,
                        name: m.participant.display_name.clone(),
                        reconnecting: m.away.is_some(),
                        invite_id: m.participant.invite_id.clone(),
                    })
                    .collect();
                (room.clone(), entries)
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::RandomId;

    fn participant(room: &str) -> Participant {
        Participant {
            room_id: room.into(),
            role: CallRole::Relative,
            display_name: "Ana".into(),
            staff_id: None,
            invite_id: Some(RandomId::new().to_string()),
            device_id: None,
        }
    }

    fn admit(registry: &mut Registry, sid: Sid, who: &Participant, capacity: usize) -> Admission {
        let peer = who.invite_id.clone().unwrap_or_default();
        registry.admit(sid, who.clone(), &peer, "page-1", capacity)
    }

    #[test]
    fn the_same_person_joining_again_takes_their_place_over() {
        let mut registry = Registry::default();
        let (old, new) = (Sid::new(), Sid::new());
        let ana = participant("r1");
        admit(&mut registry, old, &ana, 1);
        registry.set_visit_id("r1", ana.invite_id.as_deref().unwrap(), 7);

        let admission = registry.admit(new, ana.clone(), "ignored", "page-2", 1);

        let Admission::Back { others, earlier } = admission else {
            panic!("taken over: {admission:?}");
        };
        assert!(others.is_empty());
        assert_eq!((earlier.sid, earlier.session.as_str()), (old, "page-1"));
        let members = registry.members_of("r1");
        assert_eq!(members.len(), 1);
        assert_eq!(members[0].sid, new);
        assert_eq!(members[0].visit_id, Some(7), "the same stay");
        assert_eq!(
            members[0].peer_id,
            ana.invite_id.unwrap(),
            "the same peer id"
        );
        assert!(registry.member_of(old).is_none());
    }

    #[test]
    fn a_lost_member_keeps_their_place_until_the_absence_expires() {
        let mut registry = Registry::default();
        let (bed, ana_sid, back) = (Sid::new(), Sid::new(), Sid::new());
        let (patient, ana) = (participant("r1"), participant("r1"));
        admit(&mut registry, bed, &patient, 2);
        admit(&mut registry, ana_sid, &ana, 2);
        let ana_peer = ana.invite_id.clone().unwrap();

        let (away, absence) = registry.go_away(ana_sid).expect("was in");
        assert_eq!(away.away, Some(absence));
        assert_eq!(
            registry.route(bed, &ana_peer),
            None,
            "no signal to a lost socket"
        );
        assert!(registry.presence()["r1"].iter().any(|p| p.reconnecting));
        assert!(
            matches!(
                admit(&mut registry, Sid::new(), &participant("r1"), 2),
                Admission::Full
            ),
            "the place is kept"
        );

        assert!(matches!(
            admit(&mut registry, back, &ana, 2),
            Admission::Back { .. }
        ));
        assert_eq!(
            registry.expire("r1", &ana_peer, absence).map(|m| m.sid),
            None
        );
        assert_eq!(
            registry.route(bed, &ana_peer).map(|(route, _, _)| route),
            Some(Route::Here(back))
        );

        let (_, second) = registry.go_away(back).expect("in again");
        assert_eq!(
            registry.expire("r1", &ana_peer, second).map(|m| m.sid),
            Some(back)
        );
        assert_eq!(registry.members_of("r1").len(), 1);
    }

    #[test]
    fn another_nodes_members_count_are_seen_and_taken_over_and_a_dead_nodes_are_left_out() {
        let mut a = Registry::default();
        let mut b = Registry::default();
        let (bed, ana_sid, back) = (Sid::new(), Sid::new(), Sid::new());
        let (mut patient, ana) = (participant("r1"), participant("r1"));
        patient.role = CallRole::Patient;
        let bed_peer = patient.invite_id.clone().unwrap();
        admit(&mut a, bed, &patient, 3);
        a.set_visit_id("r1", &bed_peer, 7);
        b.set_remote("a", a.share(), "a");

        // Node B sees node A's member: the relative joining there gets them as a peer, and the
        // room's capacity counts them.
        let Admission::Admitted { others } = admit(&mut b, ana_sid, &ana, 2) else {
            panic!("admitted on node B");
        };
        assert_eq!(others.len(), 1);
        assert_eq!(others[0].sid, bed);
        assert!(matches!(
            admit(&mut b, Sid::new(), &participant("r1"), 2),
            Admission::Full
        ));
        assert_eq!(b.presence()["r1"].len(), 2);
        assert!(b.patient_in("r1"));
        let ana_peer = ana.invite_id.clone().unwrap();
        assert_eq!(
            b.route(ana_sid, &bed_peer).map(|(route, _, _)| route),
            Some(Route::Elsewhere)
        );

        // Node A dies; its bedside comes back on node B: the same person, their stay.
        let Admission::Back { earlier, others } = admit(&mut b, back, &patient, 2) else {
            panic!("taken over");
        };
        assert_eq!((earlier.sid, earlier.visit_id), (bed, Some(7)));
        assert_eq!(others.len(), 1, "the relative");
        assert_eq!(b.members_of("r1").len(), 2, "nobody twice");
        assert_eq!(
            b.route(ana_sid, &bed_peer).map(|(route, _, _)| route),
            Some(Route::Here(back))
        );
        assert!(
            b.drop_remote("a").is_empty(),
            "taken over: not a ghost to close"
        );

        // A member nobody took over is left out when their node is gone.
        let mut c = Registry::default();
        admit(&mut c, Sid::new(), &participant("r1"), 3);
        b.set_remote("c", c.share(), "c");
        assert_eq!(b.members_of("r1").len(), 3);
        assert_eq!(b.drop_remote("c").len(), 1);
        assert_eq!(b.members_of("r1").len(), 2);
        assert!(b.route(ana_sid, &ana_peer).is_none(), "not to oneself");
    }

    #[test]
    fn capacity_is_enforced_and_rooms_are_separate() {
        let mut registry = Registry::default();
        let (a, b, c) = (Sid::new(), Sid::new(), Sid::new());
        let first = participant("r1");
        assert!(matches!(
            admit(&mut registry, a, &first, 2),
            Admission::Admitted { .. }
        ));
        assert!(matches!(
            admit(&mut registry, a, &first, 2),
            Admission::AlreadyJoined
        ));
        assert!(
            matches!(admit(&mut registry, b, &participant("r1"), 2), Admission::Admitted { others } if others.len() == 1)
        );
        assert!(matches!(
            admit(&mut registry, c, &participant("r1"), 2),
            Admission::Full
        ));
        assert!(
            matches!(admit(&mut registry, c, &participant("r2"), 2), Admission::Admitted { others } if others.is_empty())
        );
        assert!(registry.same_room(a, b));
        assert!(!registry.same_room(a, c));
        assert!(!registry.same_room(a, a));
        assert_eq!(registry.remove(a).map(|m| m.sid), Some(a));
        assert!(!registry.same_room(a, b));
        assert_eq!(
            registry
                .remove_where(|m| m.participant.room_id == "r2")
                .len(),
            1
        );
        assert_eq!(registry.presence().len(), 1);
    }
}
