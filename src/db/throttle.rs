//! Failed login attempts, kept in the database so that a restart does not reset the limits.

use sqlx::SqliteExecutor;

/// Failures counted over the last `window_secs`, per account and per client address.
#[derive(Debug, Clone, Copy)]
pub struct RecentFailures {
    pub by_account: i64,
    pub by_client: i64,
    /// The oldest failure in the window, for telling how long to wait.
    pub oldest_at: Option<i64>,
}

/// Counts recent failures for an account name and a client address.
pub async fn recent_failures(
    db: impl SqliteExecutor<'_> + Copy,
    account: &str,
    client: &str,
    window_secs: i64,
) -> sqlx::Result<RecentFailures> {
    let since = super::now() - window_secs;
    let (by_account, oldest_account): (i64, Option<i64>) = sqlx::query_as(
        "SELECT COUNT(*), MIN(at) FROM login_failures WHERE account = $1 AND at > $2",
    )
    .bind(account)
    .bind(since)
    .fetch_one(db)
    .await?;
    let (by_client, oldest_client): (i64, Option<i64>) = sqlx::query_as(
        "SELECT COUNT(*), MIN(at) FROM login_failures WHERE client = $1 AND at > $2",
    )
    .bind(client)
    .bind(since)
    .fetch_one(db)
    .await?;
    Ok(RecentFailures {
        by_account,
        by_client,
        oldest_at: oldest_account.into_iter().chain(oldest_client).min(),
    })
}

/// Records one failure and forgets failures older than a day.
pub async fn record_failure(
    db: impl SqliteExecutor<'_> + Copy,
    account: &str,
    client: &str,
) -> sqlx::Result<()> {
    let now = super::now();
    sqlx::query("INSERT INTO login_failures (account, client, at) VALUES ($1, $2, $3)")
        .bind(account)
        .bind(client)
        .bind(now)
        .execute(db)
        .await?;
    sqlx::query("DELETE FROM login_failures WHERE at < $1")
        .bind(now - 24 * 60 * 60)
        .execute(db)
        .await?;
    Ok(())
}
