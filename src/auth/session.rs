//! Staff sessions: what is kept in the server-side session, and the idle and absolute timeouts.
//! The extractors that hand a handler the signed-in staff member live with the web layer
//! (`web::extract`) and call [`current_staff`].
//!
//! Every request reloads the account (from the cache, which a deactivation clears), so
//! deactivating it ends its sessions at once.

use serde::{Deserialize, Serialize};
use tower_sessions::Session;

use crate::{cache::Caches, config::Config, db, domain::StaffMember, error::AppError};

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

/// The staff member signed in on `session`, after the idle and absolute timeouts and a fresh look
/// at the account (deactivated accounts are signed out here). Counts as activity.
pub async fn current_staff(
    session: &Session,
    db: &crate::db::Pool,
    config: &Config,
    caches: &Caches,
) -> Result<StaffMember, AppError> {
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
            Ok::<_, AppError>(staff.filter(|s| s.active).map(|staff| StaffMember {
                role: staff.role(),
                id: staff.id,
                username: staff.username,
                display_name: staff.display_name,
                must_change_password: staff.must_change_password,
                password_changed_at: staff.password_changed_at,
            }))
        })
        .await?;
    // Gone, deactivated, or its password changed since this session signed in.
    let Some(staff) = staff.filter(|s| remembered.login_at >= s.password_changed_at) else {
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
