//! The concepts of a call: who a participant is ([`CallRole`]) and why their stay ended
//! ([`EndReason`]), each with one stored form, one parse and one label per language.

use serde::{Deserialize, Serialize};

use crate::i18n::Text;

/// The side a participant is on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum CallRole {
    /// The bedside device, opened by a nurse.
    Patient,
    /// A relative who passed the access code.
    Relative,
    /// A staff member joining from their own device.
    Staff,
}

impl CallRole {
    /// The stored and sent name.
    pub fn as_str(self) -> &'static str {
        match self {
            CallRole::Patient => "patient",
            CallRole::Relative => "relative",
            CallRole::Staff => "staff",
        }
    }

    /// Reads a stored name.
    pub fn parse(stored: &str) -> Option<Self> {
        match stored {
            "patient" => Some(CallRole::Patient),
            "relative" => Some(CallRole::Relative),
            "staff" => Some(CallRole::Staff),
            _ => None,
        }
    }

    /// The role's name in the person's language.
    pub fn label(self, t: &Text) -> &'static str {
        match self {
            CallRole::Patient => t.role_patient,
            CallRole::Relative => t.role_relative,
            CallRole::Staff => t.role_staff,
        }
    }
}

/// Why a participant's stay ended, as written in the visit log and sent in `peer-left`/`ended`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EndReason {
    /// The participant hung up (or closed the page).
    HangUp,
    /// The connection was lost, or the same person joined again from another socket.
    ConnectionLost,
    /// The invite was revoked, or the staff account deactivated.
    Revoked,
    /// The room was closed or the patient discharged.
    RoomClosed,
    /// The server stopped while the participant was in the call.
    ServerShutdown,
    /// Found open at start: the server had stopped without closing the stay (a crash, kill -9).
    ServerRestart,
}

impl EndReason {
    /// Every reason.
    pub const ALL: [EndReason; 6] = [
        EndReason::HangUp,
        EndReason::ConnectionLost,
        EndReason::Revoked,
        EndReason::RoomClosed,
        EndReason::ServerShutdown,
        EndReason::ServerRestart,
    ];

    /// The stored and sent name.
    pub fn as_str(self) -> &'static str {
        match self {
            EndReason::HangUp => "hangup",
            EndReason::ConnectionLost => "connection-lost",
            EndReason::Revoked => "revoked",
            EndReason::RoomClosed => "room-closed",
            EndReason::ServerShutdown => "server-shutdown",
            EndReason::ServerRestart => "server-restart",
        }
    }

    /// Reads a stored name.
    pub fn parse(stored: &str) -> Option<Self> {
        Self::ALL
            .into_iter()
            .find(|reason| reason.as_str() == stored)
    }

    /// How the visit log shows it, in the person's language.
    pub fn label(self, t: &Text) -> &'static str {
        match self {
            EndReason::HangUp => t.reason_hangup,
            EndReason::ConnectionLost => t.reason_connection_lost,
            EndReason::Revoked => t.reason_revoked,
            EndReason::RoomClosed => t.reason_room_closed,
            EndReason::ServerShutdown | EndReason::ServerRestart => t.reason_server,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_stored_name_reads_back_as_itself() {
        for role in [CallRole::Patient, CallRole::Relative, CallRole::Staff] {
            assert_eq!(CallRole::parse(role.as_str()), Some(role));
        }
        for reason in EndReason::ALL {
            assert_eq!(EndReason::parse(reason.as_str()), Some(reason));
        }
        assert_eq!(CallRole::parse("admin"), None);
        assert_eq!(EndReason::parse("bored"), None);
    }
}
