//! Failed login attempts, kept in the database so that a restart does not reset the limits.

use super::Handle;

/// Limits checked when an attempt is reserved.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub window_secs: i64,
    pub per_account: i64,
    pub per_client: i64,
}

/// A pending attempt older than this is left over from a crash: it counts as a failure.
pub const STALE_PENDING_SECS: i64 = 60;

/// Reserves one attempt for an account name and client address, pending until
/// [`forget_attempt`] (it succeeded) or [`confirm_failure`]. Check and insert are one statement,
/// lined up behind parallel ones ([`super::line_up_count`]), so they cannot all slip under the
/// limit. `None` when failures and pending attempts together reach a limit.
pub async fn reserve_attempt(
    db: impl Into<Handle<'_>>,
    account: &str,
    client: &str,
    limits: Limits,
) -> sqlx::Result<Option<i64>> {
    crate::on_db!(db, |db| {
        let now = super::now();
        let mut tx = sqlx::Connection::begin(&mut *db).await?;
        super::line_up_count(&mut *tx, super::CountLock::LoginFailures).await?;
        // fetch_all, not fetch_one/fetch_optional: the statement runs to its end, so that what
        // goes wrong on the way (a full disk) is reported here.
        let reserved: Vec<(i64,)> = sqlx::query_as(
            "INSERT INTO login_failures (account, client, at, pending)
             SELECT $1, $2, $3, TRUE
             WHERE (SELECT COUNT(*) FROM login_failures WHERE account = $1 AND at > $4) < $5
               AND (SELECT COUNT(*) FROM login_failures WHERE client = $2 AND at > $4) < $6
             RETURNING id",
        )
        .bind(account)
        .bind(client)
        .bind(now)
        .bind(now - limits.window_secs)
        .bind(limits.per_account)
        .bind(limits.per_client)
        .fetch_all(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(reserved.into_iter().next().map(|(id,)| id))
    })
}

/// Drops a reserved attempt that turned out to be a successful login.
pub async fn forget_attempt(db: impl Into<Handle<'_>>, id: i64) -> sqlx::Result<()> {
    crate::on_db!(db, |db| {
        sqlx::query("DELETE FROM login_failures WHERE id = $1")
            .bind(id)
            .execute(&mut *db)
            .await?;
        Ok(())
    })
}

/// The attempt failed: from now on it counts as a failure.
pub async fn confirm_failure(db: impl Into<Handle<'_>>, id: i64) -> sqlx::Result<()> {
    crate::on_db!(db, |db| {
        sqlx::query("UPDATE login_failures SET pending = FALSE WHERE id = $1")
            .bind(id)
            .execute(&mut *db)
            .await?;
        Ok(())
    })
}

/// True when decided failures alone (not attempts still being checked) reach a limit.
pub async fn failures_reach_limit(
    db: impl Into<Handle<'_>>,
    account: &str,
    client: &str,
    limits: Limits,
) -> sqlx::Result<bool> {
    crate::on_db!(db, |db| {
        let now = super::now();
        let (over,): (bool,) = sqlx::query_as(
            "SELECT (SELECT COUNT(*) FROM login_failures
                     WHERE account = $1 AND at > $3 AND (pending = FALSE OR at < $4)) >= $5
                 OR (SELECT COUNT(*) FROM login_failures
                     WHERE client = $2 AND at > $3 AND (pending = FALSE OR at < $4)) >= $6",
        )
        .bind(account)
        .bind(client)
        .bind(now - limits.window_secs)
        .bind(now - STALE_PENDING_SECS)
        .bind(limits.per_account)
        .bind(limits.per_client)
        .fetch_one(&mut *db)
        .await?;
        Ok(over)
    })
}

/// Seconds until the account or client (whichever is over its limit) may try again.
pub async fn seconds_until_allowed(
    db: impl Into<Handle<'_>>,
    account: &str,
    client: &str,
    limits: Limits,
) -> sqlx::Result<i64> {
    crate::on_db!(db, |db| {
        let now = super::now();
        let since = now - limits.window_secs;
        // The count drops below the limit when the limit-th newest failure leaves the window.
        let account_edge: Option<(i64,)> = sqlx::query_as(
            "SELECT at FROM login_failures WHERE account = $1 AND at > $2 ORDER BY at DESC LIMIT 1 OFFSET $3",
        )
        .bind(account)
        .bind(since)
        .bind(limits.per_account - 1)
        .fetch_optional(&mut *db)
        .await?;
        let client_edge: Option<(i64,)> = sqlx::query_as(
            "SELECT at FROM login_failures WHERE client = $1 AND at > $2 ORDER BY at DESC LIMIT 1 OFFSET $3",
        )
        .bind(client)
        .bind(since)
        .bind(limits.per_client - 1)
        .fetch_optional(&mut *db)
        .await?;
        let wait = [account_edge, client_edge]
            .into_iter()
            .flatten()
            .map(|(at,)| at + limits.window_secs - now)
            .max()
            .unwrap_or(0);
        Ok(wait.max(1))
    })
}

/// Forgets failures older than a day.
pub async fn prune(db: impl Into<Handle<'_>>) -> sqlx::Result<()> {
    crate::on_db!(db, |db| {
        sqlx::query("DELETE FROM login_failures WHERE at < $1")
            .bind(super::now() - 24 * 60 * 60)
            .execute(&mut *db)
            .await?;
        Ok(())
    })
}
