//! Every state change, one function per verb. Each opens its transaction, writes the change and
//! its typed audit row ([`crate::domain::AuditAction`]) so that they commit together or not at all,
//! then clears the caches the change makes stale (even when the commit reports an error: it may
//! have landed) and ends the calls it ends. Handlers parse, call one function here, and render;
//! none begins a transaction or writes an audit row itself. A new feature adds its verbs here.
//!
//! Data flows one way: `web` calls in here; this calls `auth`, `domain`, `db` and, to end calls,
//! `signaling` (which writes only the visit log itself, and never calls back).

mod invites;
mod patients;
mod rooms;
mod staff;

pub use invites::{CreatedInvite, NewRelative, accept_code, create_invite, revoke_invite};
pub use patients::{Registered, discharge_patient, register_patient};
pub use rooms::{close_room, create_room};
pub use staff::{AccountInput, CreateStaffError, create_staff, deactivate_staff, record_login};
