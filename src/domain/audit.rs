//! What the audit trail records: one typed action per state change.

/// A state-changing action, as its audit row names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuditAction {
    /// A staff member signed in.
    Login,
    /// A patient was registered.
    PatientRegister,
    /// A patient was discharged (their rooms close with it).
    PatientDischarge,
    /// A room was opened for a patient.
    RoomCreate,
    /// A room was closed.
    RoomClose,
    /// An invite for a relative was created.
    InviteCreate,
    /// An invite was revoked.
    InviteRevoke,
    /// A relative typed the right access code.
    InviteCodeAccepted,
    /// An administrator account was created (setup link or command line).
    StaffCreateAdmin,
    /// A nurse account was created.
    StaffCreateNurse,
    /// A staff account was deactivated.
    StaffDeactivate,
    /// A staff member's wards were set.
    StaffAssignWards,
    /// A ward was created.
    WardCreate,
    /// A ward's name, hours or limits changed.
    WardUpdate,
    /// A ward's hours were changed or closed for some dates.
    WardExceptionAdd,
    /// A date exception was removed.
    WardExceptionRemove,
    /// A patient's details changed.
    PatientUpdate,
    /// A patient moved to another ward.
    PatientTransfer,
    /// A patient was marked as taking no visits for now.
    PatientNoVisits,
    /// A patient takes visits again.
    PatientVisitsAllowed,
    /// A relative was authorised to visit a patient.
    RelativeAuthorise,
    /// A relative's authorisation was withdrawn.
    RelativeWithdraw,
    /// A visit was booked within visiting hours.
    VisitSchedule,
    /// A visit was booked outside visiting hours, with the override's reason.
    VisitScheduleOverride,
    /// A visit was moved.
    VisitReschedule,
    /// A visit was cancelled.
    VisitCancel,
    /// A visit was ended early by a nurse.
    VisitEnd,
    /// A staff member asked for something of a ward they do not work in.
    AccessRefused,
    /// A relative was let in from the waiting room (by a nurse, ahead on arrival, or by the
    /// ward's setting at the visit's start).
    VisitAdmit,
    /// A nurse told someone in the waiting room "not now", with the message chosen.
    VisitNotNow,
    /// A nurse sent someone in the waiting room away: their invite for the visit ended.
    VisitSendAway,
    /// The patient pressed "Not now" on the bedside device.
    BedsideDecline,
    /// A tablet was paired to a patient's bed.
    DevicePair,
    /// A bedside device was unpaired (by a nurse, a discharge or transfer, or unseen too long).
    DeviceUnpair,
    /// A wrong pairing code was typed.
    DevicePairRefused,
    /// A patient's bedside settings changed (answer by itself, camera off at start).
    PatientBedsideSettings,
}

impl AuditAction {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            AuditAction::Login => "login",
            AuditAction::PatientRegister => "patient.register",
            AuditAction::PatientDischarge => "patient.discharge",
            AuditAction::RoomCreate => "room.create",
            AuditAction::RoomClose => "room.close",
            AuditAction::InviteCreate => "invite.create",
            AuditAction::InviteRevoke => "invite.revoke",
            AuditAction::InviteCodeAccepted => "invite.code_accepted",
            AuditAction::StaffCreateAdmin => "staff.create_admin",
            AuditAction::StaffCreateNurse => "staff.create_nurse",
            AuditAction::StaffDeactivate => "staff.deactivate",
            AuditAction::StaffAssignWards => "staff.assign_wards",
            AuditAction::WardCreate => "ward.create",
            AuditAction::WardUpdate => "ward.update",
            AuditAction::WardExceptionAdd => "ward.exception_add",
            AuditAction::WardExceptionRemove => "ward.exception_remove",
            AuditAction::PatientUpdate => "patient.update",
            AuditAction::PatientTransfer => "patient.transfer",
            AuditAction::PatientNoVisits => "patient.no_visits",
            AuditAction::PatientVisitsAllowed => "patient.visits_allowed",
            AuditAction::RelativeAuthorise => "relative.authorise",
            AuditAction::RelativeWithdraw => "relative.withdraw",
            AuditAction::VisitSchedule => "visit.schedule",
            AuditAction::VisitScheduleOverride => "visit.schedule_override",
            AuditAction::VisitReschedule => "visit.reschedule",
            AuditAction::VisitCancel => "visit.cancel",
            AuditAction::VisitEnd => "visit.end",
            AuditAction::AccessRefused => "access.refused",
            AuditAction::VisitAdmit => "visit.admit",
            AuditAction::VisitNotNow => "visit.not_now",
            AuditAction::VisitSendAway => "visit.send_away",
            AuditAction::BedsideDecline => "bedside.decline",
            AuditAction::DevicePair => "device.pair",
            AuditAction::DeviceUnpair => "device.unpair",
            AuditAction::DevicePairRefused => "device.pair_refused",
            AuditAction::PatientBedsideSettings => "patient.bedside_settings",
        }
    }
}
