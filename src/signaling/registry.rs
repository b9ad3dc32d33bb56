//! Who is in which call right now, who waits to be let in, and which bedside devices stand by.
//! In memory: a restart ends every call anyway, the visit log keeps the history, and admissions
//! (who was let in) are in the database.

use std::collections::HashMap;

use serde::Serialize;
use socketioxide::socket::Sid;

use super::{Participant, inbox::Door};
use crate::domain::{CallRole, DeviceCheck, EndReason, NotNowMessage};

/// One socket admitted to a room.
#[derive(Debug, Clone)]
pub struct Member {
    pub sid: Sid,
    pub participant: Participant,
    /// The visit log row, once written.
    pub visit_id: Option<i64>,
}

/// One participant as the rooms list shows them.
#[derive(Debug, Clone, Serialize)]
pub struct PresenceEntry {
    pub role: CallRole,
    pub name: String,
    /// The invite a relative came in with (the desk maps it to its visit).
    #[serde(skip)]
    pub invite_id: Option<String>,
}

/// The outcome of a join.
#[derive(Debug)]
pub enum Admission {
    /// In, with the others already there. `replaced` is an earlier socket of the same person
    /// (a page reloaded, or reconnecting after a network blip before the old socket timed out),
    /// taken out so that it neither fills the room nor shows up as a ghost peer.
    Admitted {
        others: Vec<Member>,
        replaced: Option<Member>,
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
}

/// A bedside device connected and ready, outside any call.
#[derive(Debug, Clone)]
struct Standby {
    room_id: String,
    device_id: String,
}

/// Rooms and their members, the waiting room, and the bedside devices standing by.
#[derive(Debug, Default)]
pub struct Registry {
    rooms: HashMap<String, Vec<Member>>,
    room_of: HashMap<Sid, String>,
    /// Why members were removed before their visit log row existed, for the joiner to record.
    pending_end: HashMap<Sid, EndReason>,
    waiting: Vec<Waiter>,
    standby: HashMap<Sid, Standby>,
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
    /// Admits a socket to its participant's room unless the room is full.
    pub fn admit(&mut self, sid: Sid, participant: Participant, capacity: usize) -> Admission {
        if self.room_of.contains_key(&sid) {
            return Admission::AlreadyJoined;
        }
        let earlier = self
            .rooms
            .get(&participant.room_id)
            .and_then(|members| {
                members
                    .iter()
                    .find(|m| m.participant.same_person(&participant))
            })
            .map(|m| m.sid);
        let replaced = earlier.and_then(|old| self.remove(old));
        let members = self.rooms.entry(participant.room_id.clone()).or_default();
        if members.len() >= capacity {
            return Admission::Full;
        }
        let others = members.clone();
        self.room_of.insert(sid, participant.room_id.clone());
        members.push(Member {
            sid,
            participant,
            visit_id: None,
        });
        Admission::Admitted { others, replaced }
    }

    /// Notes why a member without a visit log row yet was removed.
    pub fn note_pending_end(&mut self, sid: Sid, reason: EndReason) {
        self.pending_end.insert(sid, reason);
    }

    /// Why a member was removed while its visit log row was being written, if it was.
    pub fn take_pending_end(&mut self, sid: Sid) -> Option<EndReason> {
        self.pending_end.remove(&sid)
    }

    /// Remembers the visit log row of a member; false when it is no longer in a room.
    pub fn set_visit_id(&mut self, sid: Sid, visit_id: i64) -> bool {
        let Some(room) = self.room_of.get(&sid) else {
            return false;
        };
        let member = self
            .rooms
            .get_mut(room)
            .and_then(|members| members.iter_mut().find(|m| m.sid == sid));
        match member {
            Some(member) => {
                member.visit_id = Some(visit_id);
                true
            }
            None => false,
        }
    }

    /// True when both sockets are members of the same room.
    pub fn same_room(&self, a: Sid, b: Sid) -> bool {
        match (self.room_of.get(&a), self.room_of.get(&b)) {
            (Some(x), Some(y)) => x == y && a != b,
            _ => false,
        }
    }

    /// The members of a room.
    pub fn members_of(&self, room_id: &str) -> Vec<Member> {
        self.rooms.get(room_id).cloned().unwrap_or_default()
    }

    /// Takes one socket out of its room.
    pub fn remove(&mut self, sid: Sid) -> Option<Member> {
        let room = self.room_of.remove(&sid)?;
        let members = self.rooms.get_mut(&room)?;
        let index = members.iter().position(|m| m.sid == sid)?;
        let member = members.remove(index);
        if members.is_empty() {
            self.rooms.remove(&room);
        }
        Some(member)
    }

    /// Takes out every member matching `predicate`.
    pub fn remove_where(&mut self, predicate: impl Fn(&Member) -> bool) -> Vec<Member> {
        let sids: Vec<Sid> = self
            .rooms
            .values()
            .flatten()
            .filter(|m| predicate(m))
            .map(|m| m.sid)
            .collect();
        sids.into_iter()
            .filter_map(|sid| self.remove(sid))
            .collect()
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

    /// True when the same person (another socket of theirs) is already in their room.
    pub fn same_person_in_room(&self, participant: &Participant) -> bool {
        self.rooms.get(&participant.room_id).is_some_and(|members| {
            members
                .iter()
                .any(|m| m.participant.same_person(participant))
        })
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

    /// True when a bedside device of the room stands by or is in its call.
    pub fn bedside_ready(&self, room_id: &str) -> bool {
        self.standby.values().any(|s| s.room_id == room_id)
    }

    /// True when the patient's side (bedside device or a nurse's "as patient") is in the call.
    pub fn patient_in(&self, room_id: &str) -> bool {
        self.rooms.get(room_id).is_some_and(|members| {
            members
                .iter()
                .any(|m| m.participant.role == CallRole::Patient)
        })
    }

    /// Room id → who is there.
    pub fn presence(&self) -> HashMap<String, Vec<PresenceEntry>> {
        self.rooms
            .iter()
            .map(|(room, members)| {
                let entries = members
                    .iter()
                    .map(|m| PresenceEntry {
                        role: m.participant.role,
                        name: m.participant.display_name.clone(),
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

    #[test]
    fn the_same_person_joining_again_replaces_the_old_socket() {
        let mut registry = Registry::default();
        let (old, new) = (Sid::new(), Sid::new());
        let ana = participant("r1");
        registry.admit(old, ana.clone(), 1);

        let admission = registry.admit(new, ana, 1);

        assert!(
            matches!(admission, Admission::Admitted { others, replaced: Some(r) } if others.is_empty() && r.sid == old)
        );
        assert!(!registry.same_room(old, new));
        assert_eq!(registry.members_of("r1").len(), 1);
    }

    #[test]
    fn capacity_is_enforced_and_rooms_are_separate() {
        let mut registry = Registry::default();
        let (a, b, c) = (Sid::new(), Sid::new(), Sid::new());
        assert!(matches!(
            registry.admit(a, participant("r1"), 2),
            Admission::Admitted { .. }
        ));
        assert!(matches!(
            registry.admit(a, participant("r1"), 2),
            Admission::AlreadyJoined
        ));
        assert!(
            matches!(registry.admit(b, participant("r1"), 2), Admission::Admitted { others, .. } if others.len() == 1)
        );
        assert!(matches!(
            registry.admit(c, participant("r1"), 2),
            Admission::Full
        ));
        assert!(
            matches!(registry.admit(c, participant("r2"), 2), Admission::Admitted { others, .. } if others.is_empty())
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
