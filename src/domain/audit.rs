//! What the audit trail records: one typed action per state change.

use crate::i18n::Text;

/// A state-changing action, as its audit row names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuditAction {
    /// A staff member signed in.
    Login,
    /// A login was refused after its password was checked: wrong password, unknown or
    /// deactivated account (its detail). The subject is the account when it exists; never what
    /// was typed.
    LoginRefused,
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
    /// A wrong access code was typed for an invite (the attempt's number in the detail).
    InviteCodeRefused,
    /// An invite locked after too many wrong codes.
    InviteLocked,
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
    /// The visit log was exported (the filters in the detail).
    VisitLogExport,
    /// The daily retention job removed old records (their counts in the detail, never their
    /// contents).
    RetentionPurge,
    /// A staff account's name or role changed.
    StaffUpdate,
    /// A deactivated staff account was made active again.
    StaffReactivate,
    /// An administrator set a temporary password (to be changed at the next login).
    StaffPasswordReset,
    /// A staff member changed their own password.
    StaffPasswordChange,
    /// A discharged patient was admitted again.
    PatientReadmit,
}

impl AuditAction {
    /// Every action, in the order the audit page offers them.
    pub const ALL: [AuditAction; 46] = [
        AuditAction::Login,
        AuditAction::LoginRefused,
        AuditAction::PatientRegister,
        AuditAction::PatientDischarge,
        AuditAction::RoomCreate,
        AuditAction::RoomClose,
        AuditAction::InviteCreate,
        AuditAction::InviteRevoke,
        AuditAction::InviteCodeAccepted,
        AuditAction::InviteCodeRefused,
        AuditAction::InviteLocked,
        AuditAction::StaffCreateAdmin,
        AuditAction::StaffCreateNurse,
        AuditAction::StaffDeactivate,
        AuditAction::StaffAssignWards,
        AuditAction::WardCreate,
        AuditAction::WardUpdate,
        AuditAction::WardExceptionAdd,
        AuditAction::WardExceptionRemove,
        AuditAction::PatientUpdate,
        AuditAction::PatientTransfer,
        AuditAction::PatientNoVisits,
        AuditAction::PatientVisitsAllowed,
        AuditAction::RelativeAuthorise,
        AuditAction::RelativeWithdraw,
        AuditAction::VisitSchedule,
        AuditAction::VisitScheduleOverride,
        AuditAction::VisitReschedule,
        AuditAction::VisitCancel,
        AuditAction::VisitEnd,
        AuditAction::AccessRefused,
        AuditAction::VisitAdmit,
        AuditAction::VisitNotNow,
        AuditAction::VisitSendAway,
        AuditAction::BedsideDecline,
        AuditAction::DevicePair,
        AuditAction::DeviceUnpair,
        AuditAction::DevicePairRefused,
        AuditAction::PatientBedsideSettings,
        AuditAction::VisitLogExport,
        AuditAction::RetentionPurge,
        AuditAction::StaffUpdate,
        AuditAction::StaffReactivate,
        AuditAction::StaffPasswordReset,
        AuditAction::StaffPasswordChange,
        AuditAction::PatientReadmit,
    ];

    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            AuditAction::Login => "login",
            AuditAction::LoginRefused => "login.refused",
            AuditAction::PatientRegister => "patient.register",
            AuditAction::PatientDischarge => "patient.discharge",
            AuditAction::RoomCreate => "room.create",
            AuditAction::RoomClose => "room.close",
            AuditAction::InviteCreate => "invite.create",
            AuditAction::InviteRevoke => "invite.revoke",
            AuditAction::InviteCodeAccepted => "invite.code_accepted",
            AuditAction::InviteCodeRefused => "invite.code_refused",
            AuditAction::InviteLocked => "invite.locked",
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
            AuditAction::VisitLogExport => "visit_log.export",
            AuditAction::RetentionPurge => "retention.purge",
            AuditAction::StaffUpdate => "staff.update",
            AuditAction::StaffReactivate => "staff.reactivate",
            AuditAction::StaffPasswordReset => "staff.password_reset",
            AuditAction::StaffPasswordChange => "staff.password_change",
            AuditAction::PatientReadmit => "patient.readmit",
        }
    }
    /// The stored name back to the action.
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|a| a.as_str() == name)
    }

    /// What the audit page calls it, in the person's language.
    pub fn label(self, t: &Text) -> &'static str {
        match self {
            AuditAction::Login => t.audit_login,
            AuditAction::LoginRefused => t.audit_login_refused,
            AuditAction::PatientRegister => t.audit_patient_register,
            AuditAction::PatientDischarge => t.audit_patient_discharge,
            AuditAction::RoomCreate => t.audit_room_create,
            AuditAction::RoomClose => t.audit_room_close,
            AuditAction::InviteCreate => t.audit_invite_create,
            AuditAction::InviteRevoke => t.audit_invite_revoke,
            AuditAction::InviteCodeAccepted => t.audit_invite_code_accepted,
            AuditAction::InviteCodeRefused => t.audit_invite_code_refused,
            AuditAction::InviteLocked => t.audit_invite_locked,
            AuditAction::StaffCreateAdmin => t.audit_staff_create_admin,
            AuditAction::StaffCreateNurse => t.audit_staff_create_nurse,
            AuditAction::StaffDeactivate => t.audit_staff_deactivate,
            AuditAction::StaffAssignWards => t.audit_staff_assign_wards,
            AuditAction::WardCreate => t.audit_ward_create,
            AuditAction::WardUpdate => t.audit_ward_update,
            AuditAction::WardExceptionAdd => t.audit_ward_exception_add,
            AuditAction::WardExceptionRemove => t.audit_ward_exception_remove,
            AuditAction::PatientUpdate => t.audit_patient_update,
            AuditAction::PatientTransfer => t.audit_patient_transfer,
            AuditAction::PatientNoVisits => t.audit_patient_no_visits,
            AuditAction::PatientVisitsAllowed => t.audit_patient_visits_allowed,
            AuditAction::RelativeAuthorise => t.audit_relative_authorise,
            AuditAction::RelativeWithdraw => t.audit_relative_withdraw,
            AuditAction::VisitSchedule => t.audit_visit_schedule,
            AuditAction::VisitScheduleOverride => t.audit_visit_schedule_override,
            AuditAction::VisitReschedule => t.audit_visit_reschedule,
            AuditAction::VisitCancel => t.audit_visit_cancel,
            AuditAction::VisitEnd => t.audit_visit_end,
            AuditAction::AccessRefused => t.audit_access_refused,
            AuditAction::VisitAdmit => t.audit_visit_admit,
            AuditAction::VisitNotNow => t.audit_visit_not_now,
            AuditAction::VisitSendAway => t.audit_visit_send_away,
            AuditAction::BedsideDecline => t.audit_bedside_decline,
            AuditAction::DevicePair => t.audit_device_pair,
            AuditAction::DeviceUnpair => t.audit_device_unpair,
            AuditAction::DevicePairRefused => t.audit_device_pair_refused,
            AuditAction::PatientBedsideSettings => t.audit_patient_bedside_settings,
            AuditAction::VisitLogExport => t.audit_visit_log_export,
            AuditAction::RetentionPurge => t.audit_retention_purge,
            AuditAction::StaffUpdate => t.audit_staff_update,
            AuditAction::StaffReactivate => t.audit_staff_reactivate,
            AuditAction::StaffPasswordReset => t.audit_staff_password_reset,
            AuditAction::StaffPasswordChange => t.audit_staff_password_change,
            AuditAction::PatientReadmit => t.audit_patient_readmit,
        }
    }
}
