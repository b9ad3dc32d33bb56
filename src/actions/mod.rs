//! Every state change, one function per verb. Each opens its transaction, writes the change and
//! its typed audit row ([`crate::domain::AuditAction`]) so that they commit together or not at all,
//! then clears the caches the change makes stale (even when the commit reports an error: it may
//! have landed) and ends the calls it ends. Handlers parse, call one function here, and render;
//! none begins a transaction or writes an audit row itself. A new feature adds its verbs here.
//!
//! Data flows one way: `web` calls in here; this calls `auth`, `domain`, `db` and, to end calls,
//! `signaling` (which writes only the visit log itself, and never calls back).

mod devices;
mod invites;
mod patients;
mod relatives;
mod rooms;
mod staff;
mod visits;
mod waiting;
mod wards;

pub use devices::{
    MAX_CODES_PER_ADDRESS, MAX_PAIRING_FAILURES, MAX_PENDING_CODES, PAIRING_SECS, Paired,
    PairingCode, pair_device, set_bedside_settings, start_pairing, unpair_device, unpair_unseen,
};
pub use invites::{InviteSecrets, accept_code, invite_secrets, note_link_opened, revoke_invite};
pub use patients::{
    Registered, Updated, discharge_patient, readmit_patient, register_patient, set_no_visits,
    update_patient,
};
pub use relatives::{authorise_relative, withdraw_relative};
pub use rooms::{close_room, create_room};
pub use staff::{
    AccountInput, CreateStaffError, FieldErrors, LoginRefusal, change_own_password, create_staff,
    deactivate_staff, reactivate_staff, record_login, record_login_refused, reset_password,
    update_staff,
};
pub use visits::{
    Booked, Override, VisitRequest, When, add_relative_to_visit, cancel_visit, end_visit,
    purge_expired, record_export, reschedule_visit, schedule_visit, settle_visits,
};
pub use waiting::{admit_on_arrival, admit_relative, admit_visit, send_away, tell_not_now};
pub use wards::{
    WardSaved, add_ward_exception, assign_wards, create_ward, refuse_access, remove_ward_exception,
    staff_names, update_ward, visits_outside, ward_rules,
};
