//! The state of a relative's invite, with its label for staff and its message for the relative.

use crate::i18n::Text;

/// Whether an invite can be used now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InviteStatus {
    Active,
    Expired,
    Revoked,
    Locked,
    RoomClosed,
    /// Its visit's window has not opened yet.
    NotYetOpen,
    /// Its visit was cancelled.
    Cancelled,
}

impl InviteStatus {
    /// A short stable name, for templates and tests.
    pub fn as_str(self) -> &'static str {
        match self {
            InviteStatus::Active => "active",
            InviteStatus::Expired => "expired",
            InviteStatus::Revoked => "revoked",
            InviteStatus::Locked => "locked",
            InviteStatus::RoomClosed => "room-closed",
            InviteStatus::NotYetOpen => "not-yet-open",
            InviteStatus::Cancelled => "cancelled",
        }
    }

    /// How the room page shows it to staff.
    pub fn label(self, t: &Text) -> &'static str {
        match self {
            InviteStatus::Active => t.invite_status_active,
            InviteStatus::Expired => t.invite_status_expired,
            InviteStatus::Revoked => t.invite_status_revoked,
            InviteStatus::Locked => t.invite_status_locked,
            InviteStatus::RoomClosed => t.invite_status_room_closed,
            InviteStatus::NotYetOpen => t.invite_status_not_yet_open,
            InviteStatus::Cancelled => t.visit_state_cancelled,
        }
    }

    /// What the relative is told when the invite no longer works (nothing while it does).
    pub fn message(self, t: &Text) -> &'static str {
        match self {
            InviteStatus::Active => "",
            InviteStatus::Expired => t.invite_expired,
            InviteStatus::Revoked => t.invite_revoked,
            InviteStatus::Locked => t.invite_locked,
            InviteStatus::RoomClosed => t.invite_room_closed,
            InviteStatus::NotYetOpen => t.invite_not_yet_open,
            InviteStatus::Cancelled => t.invite_cancelled,
        }
    }
}
