//! Login throttling: per account name and per client address, over a sliding window.
//!
//! With at most [`MAX_FAILURES_PER_ACCOUNT`] failures per [`WINDOW_SECS`], an account can never
//! see more than 40 failed attempts an hour, however many addresses an attacker uses, and however
//! many requests run at once: each attempt is reserved before the password is checked.

use sqlx::SqlitePool;

use crate::db::{self, throttle::Limits};

/// The sliding window.
pub const WINDOW_SECS: i64 = 15 * 60;
/// Failures per account name allowed in the window.
pub const MAX_FAILURES_PER_ACCOUNT: i64 = 10;
/// Failures per client address allowed in the window (a ward PC is shared by many nurses).
pub const MAX_FAILURES_PER_CLIENT: i64 = 30;

const LIMITS: Limits = Limits {
    window_secs: WINDOW_SECS,
    per_account: MAX_FAILURES_PER_ACCOUNT,
    per_client: MAX_FAILURES_PER_CLIENT,
};

/// A login attempt that may go ahead.
#[derive(Debug)]
pub struct Attempt(i64);

/// Reserves an attempt, or says how many minutes to wait.
pub async fn begin_attempt(
    pool: &SqlitePool,
    account: &str,
    client: &str,
) -> sqlx::Result<Result<Attempt, i64>> {
    if let Some(id) = db::throttle::reserve_attempt(pool, account, client, LIMITS).await? {
        return Ok(Ok(Attempt(id)));
    }
    let wait_secs = db::throttle::seconds_until_allowed(pool, account, client, LIMITS).await?;
    Ok(Err((wait_secs + 59) / 60))
}

/// The attempt succeeded: it does not count as a failure.
pub async fn succeeded(pool: &SqlitePool, attempt: Attempt) -> sqlx::Result<()> {
    db::throttle::forget_attempt(pool, attempt.0).await
}

/// The attempt failed: it stays counted.
pub async fn failed(pool: &SqlitePool, _attempt: Attempt) -> sqlx::Result<()> {
    db::throttle::prune(pool).await
}
