//! Request extractors: the signed-in staff member, an administrator, and an id from the path.

use axum::{
    extract::{FromRequestParts, Path},
    http::request::Parts,
};
use tower_sessions::Session;

use crate::{
    auth::{session::current_staff, wards::WardAccess},
    domain::{RandomId, StaffMember},
    error::AppError,
    state::AppState,
};

/// The signed-in staff member, as a handler argument; without a valid session the request goes
/// to the login page.
pub type CurrentStaff = StaffMember;

impl FromRequestParts<AppState> for StaffMember {
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, AppError> {
        let session = parts
            .extensions
            .get::<Session>()
            .cloned()
            .ok_or_else(|| anyhow::anyhow!("the session layer is missing"))?;
        let staff = current_staff(&session, &state.db, &state.config, &state.caches).await?;
        // A password an administrator set is changed before anything else is done.
        let free = matches!(parts.uri.path(), "/account/password" | "/logout");
        if staff.must_change_password && !free {
            return Err(AppError::PasswordChangeRequired);
        }
        Ok(staff)
    }
}

/// A signed-in administrator; anyone else gets 403, and the refusal is audited (who asked for
/// which administrators' page).
#[derive(Debug, Clone)]
pub struct AdminStaff(pub StaffMember);

impl FromRequestParts<AppState> for AdminStaff {
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, AppError> {
        let staff = StaffMember::from_request_parts(parts, state).await?;
        if !staff.is_admin() {
            crate::actions::refuse_access(state, &staff, "admin", parts.uri.path()).await;
            return Err(AppError::forbidden());
        }
        Ok(AdminStaff(staff))
    }
}

/// The one id of a path such as `/rooms/{id}`: a malformed id is the 404 page, like an unknown
/// one, never a 400 that would tell a guesser the id's shape.
#[derive(Debug, Clone)]
pub struct IdPath(pub RandomId);

impl<S: Send + Sync> FromRequestParts<S> for IdPath {
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, AppError> {
        let Path(raw) = Path::<String>::from_request_parts(parts, state)
            .await
            .map_err(|_| AppError::not_found())?;
        RandomId::parse(&raw)
            .map(IdPath)
            .ok_or_else(AppError::not_found)
    }
}

/// The wards `staff` reaches.
pub async fn ward_access(state: &AppState, staff: &StaffMember) -> Result<WardAccess, AppError> {
    Ok(WardAccess::of(staff, &state.db, &state.caches).await?)
}

/// The wards `access` reaches, by name, from the wards' cache (the visit log's and statistics'
/// ward lists).
pub async fn readable_wards(
    state: &AppState,
    access: &WardAccess,
) -> Result<Vec<crate::db::wards::Ward>, AppError> {
    Ok(crate::actions::ward_rules(state)
        .await?
        .iter()
        .filter(|rules| access.allows(&rules.ward.id))
        .map(|rules| rules.ward.clone())
        .collect())
}

/// Lets `staff` at something of `ward_id` (named `subject`, asked at `path`), or answers 404 as
/// for an unknown id (nothing tells them it exists) after auditing the refusal.
pub async fn require_ward(
    state: &AppState,
    staff: &StaffMember,
    ward_id: &str,
    subject: &str,
    path: &str,
) -> Result<WardAccess, AppError> {
    let access = ward_access(state, staff).await?;
    if !access.allows(ward_id) {
        crate::actions::refuse_access(state, staff, subject, path).await;
        return Err(AppError::not_found());
    }
    Ok(access)
}
