//! Staff sessions: what is kept in the server-side session, the idle and absolute timeouts, and
//! the extractors that give a handler the signed-in staff member.
//!
//! Every request reloads the account, so deactivating it ends its sessions at once.

use axum::{extract::FromRequestParts, http::request::Parts};
use serde::{Deserialize, Serialize};
use tower_sessions::Session;

use sqlx::SqlitePool;

use crate::{app::AppState, cache::Caches, config::Config, db, domain::Role, error::AppError};

const STAFF_KEY: &str = "staff";

/// What the session remembers about a signed-in staff member.
#[derive(Debug, Serialize, Deserialize)]
struct StaffSession {
    staff_id: String,
    login_at: i64,
    last_seen: i64,
}

/// Signs a staff member in: a new session id (the old one dies), then the identity.
pub async fn log_in(session: &Session, staff_id: &str) -> Result<(), AppError> {
    session.cycle_id().await?;
    let now = db::now();
    session
        .insert(
            STAFF_KEY,
            StaffSession {
                staff_id: staff_id.to_string(),
                login_at: now,
                last_seen: now,
            },
        )
        .await?;
    Ok(())
}

/// Signs out: the session is deleted from the store and its cookie removed.
pub async fn log_out(session: &Session) -> Result<(), AppError> {
    session.flush().await?;
    Ok(())
}

/// The signed-in staff member.
#[derive(Debug, Clone)]
pub struct CurrentStaff {
    pub id: String,
    pub username: String,
    pub display_name: String,
    pub role: Role,
}

impl CurrentStaff {
    /// True for administrators.
    pub fn is_admin(&self) -> bool {
        self.role == Role::Admin
    }
}

impl FromRequestParts<AppState> for CurrentStaff {
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, AppError> {
        let session = parts
            .extensions
            .get::<Session>()
            .cloned()
            .ok_or_else(|| anyhow::anyhow!("the session layer is missing"))?;
        current_staff(&session, &state.db, &state.config, &state.caches).await
    }
}

/// The staff member signed in on `session`, after the idle and absolute timeouts and a fresh look
/// at the account (deactivated accounts are signed out here). Counts as activity.
pub async fn current_staff(
    session: &Session,
    db: &SqlitePool,
    config: &Config,
    caches: &Caches,
) -> Result<CurrentStaff, AppError> {
    let Some(mut remembered) = session.get::<StaffSession>(STAFF_KEY).await? else {
        return Err(AppError::LoginRequired);
    };
    let now = db::now();
    let idle = i64::try_from(config.session_idle_secs).unwrap_or(i64::MAX);
    let max = i64::try_from(config.session_max_secs).unwrap_or(i64::MAX);
    if now - remembered.last_seen > idle || now - remembered.login_at > max {
        session.flush().await?;
        return Err(AppError::LoginRequired);
    }
    let staff = caches
        .staff
        .get_or_load(&remembered.staff_id, || async {
            let staff = db::staff::find_by_id(db, &remembered.staff_id).await?;
            Ok::<_, AppError>(staff.filter(|s| s.active).map(|staff| CurrentStaff {
                role: staff.role(),
                id: staff.id,
                username: staff.username,
                display_name: staff.display_name,
            }))
        })
        .await?;
    let Some(staff) = staff else {
        session.flush().await?;
        return Err(AppError::LoginRequired);
    };
    // Writing the session on every request would cost a durable commit per page; a tenth of
    // the idle timeout (at most a minute) is precise enough, and keeps the cookie fresh.
    if now - remembered.last_seen >= (idle / 10).clamp(0, 60) {
        remembered.last_seen = now;
        session.insert(STAFF_KEY, remembered).await?;
    }
    Ok(staff)
}

/// A signed-in administrator; anyone else gets 403.
#[derive(Debug, Clone)]
pub struct AdminStaff(pub CurrentStaff);

impl FromRequestParts<AppState> for AdminStaff {
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, AppError> {
        let staff = CurrentStaff::from_request_parts(parts, state).await?;
        if !staff.is_admin() {
            return Err(AppError::forbidden());
        }
        Ok(AdminStaff(staff))
    }
}
