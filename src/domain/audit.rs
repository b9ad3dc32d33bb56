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
        }
    }
}
