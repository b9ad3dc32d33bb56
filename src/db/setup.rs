//! One-time setup tokens that create the first administrator.

use super::Handle;

use crate::domain::sha256_hex;

/// Replaces any unused token with a new one valid for `valid_secs`. Only the link printed last
/// works.
pub async fn replace_token(
    conn: impl Into<Handle<'_>>,
    token: &str,
    valid_secs: i64,
) -> sqlx::Result<()> {
    crate::on_db!(conn, |conn| {
        let now = super::now();
        sqlx::query("DELETE FROM setup_tokens WHERE used_at IS NULL")
            .execute(&mut *conn)
            .await?;
        sqlx::query(
            "INSERT INTO setup_tokens (token_hash, created_at, expires_at) VALUES ($1, $2, $3)",
        )
        .bind(sha256_hex(token))
        .bind(now)
        .bind(now + valid_secs)
        .execute(&mut *conn)
        .await?;
        Ok(())
    })
}

/// True when the token exists, is unused, has not expired, and no active administrator exists
/// yet (one made with `visitas admin create` also ends the link).
pub async fn is_valid(db: impl Into<Handle<'_>>, token: &str) -> sqlx::Result<bool> {
    crate::on_db!(db, |db| {
        let row: Option<(i64,)> = sqlx::query_as(
            "SELECT expires_at FROM setup_tokens WHERE token_hash = $1 AND used_at IS NULL AND expires_at > $2
             AND NOT EXISTS (SELECT 1 FROM staff WHERE role = 'admin' AND active = TRUE)",
        )
        .bind(sha256_hex(token))
        .bind(super::now())
        .fetch_optional(&mut *db)
        .await?;
        Ok(row.is_some())
    })
}

/// Marks the token used if it is still valid; false when it was not (used, expired, unknown).
/// Run inside the transaction that creates the administrator, so only one request can win.
pub async fn consume(conn: impl Into<Handle<'_>>, token: &str) -> sqlx::Result<bool> {
    crate::on_db!(conn, |conn| {
        let now = super::now();
        let done = sqlx::query(
            "UPDATE setup_tokens SET used_at = $2
             WHERE token_hash = $1 AND used_at IS NULL AND expires_at > $2
               AND NOT EXISTS (SELECT 1 FROM staff WHERE role = 'admin' AND active = TRUE)",
        )
        .bind(sha256_hex(token))
        .bind(now)
        .execute(&mut *conn)
        .await?;
        Ok(done.rows_affected() == 1)
    })
}
