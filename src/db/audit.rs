//! The audit trail: one row per state-changing action by staff, written in the same transaction
//! as the change itself so that neither exists without the other.

use sqlx::SqliteConnection;

use crate::domain::AuditAction;

/// Records that `actor` did `action` to `subject`.
pub async fn record(
    conn: &mut SqliteConnection,
    actor_id: Option<&str>,
    action: AuditAction,
    subject: Option<&str>,
) -> sqlx::Result<()> {
    sqlx::query("INSERT INTO audit_events (at, actor_id, action, subject) VALUES ($1, $2, $3, $4)")
        .bind(super::now())
        .bind(actor_id)
        .bind(action.as_str())
        .bind(subject)
        .execute(conn)
        .await?;
    Ok(())
}
