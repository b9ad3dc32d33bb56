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
    record_detail(conn, actor_id, action, subject, None).await
}

/// Records that `actor` did `action` to `subject`, with what else it needs (an override's
/// reason, a refused path). Never a secret.
pub async fn record_detail(
    conn: &mut SqliteConnection,
    actor_id: Option<&str>,
    action: AuditAction,
    subject: Option<&str>,
    detail: Option<&str>,
) -> sqlx::Result<()> {
    sqlx::query(
        "INSERT INTO audit_events (at, actor_id, action, subject, detail) VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(super::now())
    .bind(actor_id)
    .bind(action.as_str())
    .bind(subject)
    .bind(detail)
    .execute(conn)
    .await?;
    Ok(())
}
