//! Login throttling: per account name and per client address, over a sliding window.
//!
//! With at most [`MAX_FAILURES_PER_ACCOUNT`] failures per [`WINDOW_SECS`], an account can never
//! see more than 40 failed attempts an hour, however many addresses an attacker uses.

use sqlx::SqlitePool;

use crate::db;

/// The sliding window.
pub const WINDOW_SECS: i64 = 15 * 60;
/// Failures per account name allowed in the window.
pub const MAX_FAILURES_PER_ACCOUNT: i64 = 10;
/// Failures per client address allowed in the window (a ward PC is shared by many nurses).
pub const MAX_FAILURES_PER_CLIENT: i64 = 30;

/// `Some(minutes to wait)` when this account or client may not try now.
pub async fn login_wait(
    pool: &SqlitePool,
    account: &str,
    client: &str,
) -> sqlx::Result<Option<i64>> {
    let recent = db::throttle::recent_failures(pool, account, client, WINDOW_SECS).await?;
    if recent.by_account < MAX_FAILURES_PER_ACCOUNT && recent.by_client < MAX_FAILURES_PER_CLIENT {
        return Ok(None);
    }
    let oldest = recent.oldest_at.unwrap_or_else(db::now);
    let wait_secs = (oldest + WINDOW_SECS - db::now()).max(60);
    Ok(Some((wait_secs + 59) / 60))
}

/// Counts one failed attempt.
pub async fn record_login_failure(
    pool: &SqlitePool,
    account: &str,
    client: &str,
) -> sqlx::Result<()> {
    db::throttle::record_failure(pool, account, client).await
}
