//! Staff accounts: creating one (the one way used by the setup link, the staff page and
//! `visitas admin create`), deactivating one, and recording a login.

use crate::{
    auth::{Passwords, password::check_new_password},
    db::{self, StorageFailure},
    domain::{AuditAction, FieldError, PersonName, Role, StaffMember, Username},
    error::AppError,
    state::AppState,
};

/// What a person typed for a new account.
#[derive(Debug)]
pub struct AccountInput<'a> {
    pub username: &'a str,
    pub display_name: &'a str,
    pub password: &'a str,
    pub confirmation: &'a str,
}

/// Why an account was not created.
#[derive(Debug, thiserror::Error)]
pub enum CreateStaffError {
    /// The input breaks the rules; by field name.
    #[error("invalid account fields: {0:?}")]
    Invalid(Vec<(&'static str, FieldError)>),
    /// The setup link was used, expired or unknown.
    #[error("the setup link is not valid")]
    SetupLinkInvalid,
    /// The disk cannot take the write; nothing was stored.
    #[error("storage failure: {}", .0.reason())]
    Storage(StorageFailure),
    /// Our fault.
    #[error(transparent)]
    Internal(#[from] anyhow::Error),
}

impl From<sqlx::Error> for CreateStaffError {
    fn from(err: sqlx::Error) -> Self {
        match StorageFailure::of(&err) {
            Some(failure) => Self::Storage(failure),
            None => Self::Internal(anyhow::Error::new(err).context("storing a staff account")),
        }
    }
}

impl From<CreateStaffError> for AppError {
    /// For callers that have already dealt with invalid input.
    fn from(err: CreateStaffError) -> Self {
        match err {
            CreateStaffError::Invalid(_) | CreateStaffError::SetupLinkInvalid => {
                AppError::bad_request()
            }
            CreateStaffError::Storage(failure) => AppError::Storage(failure),
            CreateStaffError::Internal(err) => AppError::Internal(err),
        }
    }
}

/// Validates and stores a new account, with its audit row in the same transaction. With
/// `setup_token`, the token is consumed in that transaction too, so a link creates one account.
pub async fn create_staff(
    pool: &crate::db::Pool,
    passwords: &Passwords,
    min_password_chars: usize,
    input: AccountInput<'_>,
    role: Role,
    actor_id: Option<&str>,
    setup_token: Option<&str>,
) -> Result<String, CreateStaffError> {
    let mut invalid = Vec::new();
    let username = Username::parse(input.username)
        .map_err(|e| invalid.push(("username", e)))
        .ok();
    let display_name = if input.display_name.trim().is_empty() {
        PersonName::parse(input.username)
    } else {
        PersonName::parse(input.display_name)
    }
    .map_err(|e| invalid.push(("display_name", e)))
    .ok();
    if let Err(e) = check_new_password(
        input.password,
        input.confirmation,
        username.as_ref(),
        min_password_chars,
    ) {
        invalid.push(("password", e));
    }
    let (Some(username), Some(display_name), true) = (username, display_name, invalid.is_empty())
    else {
        return Err(CreateStaffError::Invalid(invalid));
    };
    if db::staff::find_by_username(pool, username.as_str())
        .await?
        .is_some()
    {
        return Err(CreateStaffError::Invalid(vec![(
            "username",
            FieldError::UsernameTaken,
        )]));
    }

    let password_hash = passwords.hash(input.password.to_string()).await?;

    let mut tx = pool.begin().await?;
    if let Some(token) = setup_token
        && !db::setup::consume(&mut tx, token).await?
    {
        return Err(CreateStaffError::SetupLinkInvalid);
    }
    let new = db::staff::NewStaff {
        username: &username,
        display_name: &display_name,
        role,
        password_hash: &password_hash,
    };
    let id = match db::staff::create(&mut tx, &new).await {
        Ok(id) => id,
        Err(err) if db::is_unique_violation(&err) => {
            return Err(CreateStaffError::Invalid(vec![(
                "username",
                FieldError::UsernameTaken,
            )]));
        }
        Err(err) => return Err(err.into()),
    };
    let action = match role {
        Role::Admin => AuditAction::StaffCreateAdmin,
        Role::Nurse => AuditAction::StaffCreateNurse,
    };
    db::audit::record(&mut tx, actor_id, action, Some(&id)).await?;
    tx.commit().await?;
    Ok(id)
}

/// Deactivates an account: its sessions stop working at once and its calls end. An
/// administrator cannot deactivate their own account (and so lock everyone out).
pub async fn deactivate_staff(
    state: &AppState,
    by: &StaffMember,
    staff_id: &str,
) -> Result<(), AppError> {
    if staff_id == by.id {
        return Err(AppError::conflict(|t| t.err_self_deactivate));
    }
    let mut tx = db::begin_write(&state.db, &state.write_gate).await?;
    let target = db::staff::find_by_id(&mut tx, staff_id)
        .await?
        .ok_or_else(AppError::not_found)?;
    if target.role() == Role::Admin
        && target.active
        && db::staff::active_admins(&mut tx).await? <= 1
    {
        return Err(AppError::conflict(|t| t.err_last_admin));
    }
    if !db::staff::deactivate(&mut tx, staff_id).await? {
        return Err(AppError::not_found());
    }
    db::audit::record(
        &mut tx,
        Some(&by.id),
        AuditAction::StaffDeactivate,
        Some(staff_id),
    )
    .await?;
    let committed = tx.commit().await;
    state.caches.staff_changed();
    committed?;
    end_calls_of(state, staff_id);
    Ok(())
}

/// Records a staff member's login. The caller signs them in (their session) only after this
/// succeeded: no login without its audit row.
pub async fn record_login(state: &AppState, staff_id: &str) -> Result<(), AppError> {
    let mut conn = state.db.acquire().await?;
    db::audit::record(&mut conn, Some(staff_id), AuditAction::Login, None).await?;
    Ok(())
}

/// Why a login was refused, as its audit row says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LoginRefusal {
    /// No account has that name.
    UnknownAccount,
    /// The account is deactivated.
    Deactivated,
    /// The password was wrong.
    WrongPassword,
}

impl LoginRefusal {
    fn as_str(self) -> &'static str {
        match self {
            LoginRefusal::UnknownAccount => "unknown-account",
            LoginRefusal::Deactivated => "deactivated",
            LoginRefusal::WrongPassword => "wrong-password",
        }
    }
}

/// Records a refused login: the account when it exists, and why. Never the name or password
/// typed (a password typed in the name field would end up in the trail).
pub async fn record_login_refused(
    state: &AppState,
    staff_id: Option<&str>,
    reason: LoginRefusal,
) -> Result<(), AppError> {
    let mut conn = state.db.acquire().await?;
    db::audit::record_detail(
        &mut conn,
        None,
        AuditAction::LoginRefused,
        staff_id,
        Some(reason.as_str()),
    )
    .await?;
    Ok(())
}

/// What the form of a staff member's page asks to change, when it does not read.
pub type FieldErrors = Vec<(&'static str, FieldError)>;

/// Changes a staff member's name and role. The last active administrator keeps their role.
pub async fn update_staff(
    state: &AppState,
    by: &StaffMember,
    staff_id: &str,
    display_name: &str,
    role: &str,
) -> Result<Result<(), FieldErrors>, AppError> {
    let mut invalid = Vec::new();
    let name = PersonName::parse(display_name)
        .map_err(|e| invalid.push(("display_name", e)))
        .ok();
    let role = match role {
        "admin" => Some(Role::Admin),
        "nurse" => Some(Role::Nurse),
        _ => {
            invalid.push(("role", FieldError::ChooseFromList));
            None
        }
    };
    let (Some(name), Some(role), true) = (name, role, invalid.is_empty()) else {
        return Ok(Err(invalid));
    };
    let mut tx = db::begin_write(&state.db, &state.write_gate).await?;
    let current = db::staff::find_by_id(&mut tx, staff_id)
        .await?
        .ok_or_else(AppError::not_found)?;
    let demoted = current.role() == Role::Admin && role == Role::Nurse;
    if demoted && current.active && db::staff::active_admins(&mut tx).await? <= 1 {
        return Ok(Err(vec![("role", FieldError::LastAdmin)]));
    }
    db::staff::update(&mut tx, staff_id, &name, role).await?;
    let detail = (current.role() != role)
        .then(|| format!("role {} -> {}", current.role().as_str(), role.as_str()));
    db::audit::record_detail(
        &mut tx,
        Some(&by.id),
        AuditAction::StaffUpdate,
        Some(staff_id),
        detail.as_deref(),
    )
    .await?;
    let committed = tx.commit().await;
    state.caches.staff_changed();
    state.caches.ward_access.clear();
    committed?;
    Ok(Ok(()))
}

/// Makes a deactivated account active again (with its old password and wards).
pub async fn reactivate_staff(
    state: &AppState,
    by: &StaffMember,
    staff_id: &str,
) -> Result<(), AppError> {
    let mut tx = state.db.begin().await?;
    if !db::staff::reactivate(&mut tx, staff_id).await? {
        return Err(AppError::not_found());
    }
    db::audit::record(
        &mut tx,
        Some(&by.id),
        AuditAction::StaffReactivate,
        Some(staff_id),
    )
    .await?;
    let committed = tx.commit().await;
    state.caches.staff_changed();
    committed?;
    Ok(())
}

/// An administrator sets a temporary password: the account's sessions end, its calls end, and
/// at the next login it must choose its own.
pub async fn reset_password(
    state: &AppState,
    by: &StaffMember,
    staff_id: &str,
    password: &str,
    confirmation: &str,
) -> Result<Result<(), FieldErrors>, AppError> {
    let target = db::staff::find_by_id(&state.db, staff_id)
        .await?
        .ok_or_else(AppError::not_found)?;
    let stored = store_password(
        state,
        &by.id,
        &target.id,
        &target.username,
        (password, confirmation),
        true,
    )
    .await?;
    if stored.is_ok() {
        end_calls_of(state, staff_id);
    }
    Ok(stored)
}

/// A staff member changes their own password: the current one first. Their other sessions
/// end; the caller signs this one in again.
pub async fn change_own_password(
    state: &AppState,
    me: &StaffMember,
    current: &str,
    password: &str,
    confirmation: &str,
) -> Result<Result<(), FieldErrors>, AppError> {
    let stored = db::staff::find_by_id(&state.db, &me.id)
        .await?
        .ok_or(AppError::LoginRequired)?;
    let right = state
        .passwords
        .verify(current.to_string(), Some(stored.password_hash.clone()))
        .await?;
    if !right {
        return Ok(Err(vec![("current", FieldError::PasswordWrong)]));
    }
    if password == current {
        return Ok(Err(vec![("password", FieldError::PasswordUnchanged)]));
    }
    store_password(
        state,
        &me.id,
        &me.id,
        &me.username,
        (password, confirmation),
        false,
    )
    .await
}

/// Checks a new password (typed twice) against the rules, then stores its hash with its audit
/// row: `temporary` when an administrator (`actor_id`) set it for someone else.
async fn store_password(
    state: &AppState,
    actor_id: &str,
    staff_id: &str,
    username: &str,
    (password, confirmation): (&str, &str),
    temporary: bool,
) -> Result<Result<(), FieldErrors>, AppError> {
    let username = Username::parse(username).ok();
    if let Err(e) = check_new_password(
        password,
        confirmation,
        username.as_ref(),
        state.config.min_password_length,
    ) {
        return Ok(Err(vec![("password", e)]));
    }
    let hash = state.passwords.hash(password.to_string()).await?;
    let action = if temporary {
        AuditAction::StaffPasswordReset
    } else {
        AuditAction::StaffPasswordChange
    };
    let mut tx = state.db.begin().await?;
    db::staff::set_password(&mut tx, staff_id, &hash, temporary).await?;
    db::audit::record(&mut tx, Some(actor_id), action, Some(staff_id)).await?;
    let committed = tx.commit().await;
    state.caches.staff_changed();
    committed?;
    Ok(Ok(()))
}

/// Ends the calls a staff member is in (their sessions ended), without waiting for it.
fn end_calls_of(state: &AppState, staff_id: &str) {
    let signaling = state.signaling.clone();
    let staff_id = staff_id.to_string();
    tokio::spawn(async move { signaling.end_staff(&staff_id).await });
}
