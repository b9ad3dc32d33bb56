//! Login throttling: per account name and per client address, over a sliding window.
//!
//! With at most [`MAX_FAILURES_PER_ACCOUNT`] failures per [`WINDOW_SECS`], an account can never
//! see more than 40 failed attempts an hour, however many addresses an attacker uses, and however
//! many requests run at once: each attempt is reserved before the password is checked.
//!
//! Only failures count. A reserved attempt is pending while its password is checked; a correct
//! one is forgotten. An attempt that finds the limit taken up partly by pending attempts waits for
//! them to be decided instead of being refused, so a shared ward account opened on twenty PCs at
//! shift change gets in everywhere, while twenty-five parallel guesses still get exactly ten
//! password checks.

use std::time::Duration;

use tokio::time::Instant;

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

/// How long an attempt waits for pending ones before it gives up and is refused.
const WAIT_FOR_PENDING: Duration = Duration::from_secs(15);

/// Reserves an attempt, or says how many minutes to wait.
pub async fn begin_attempt(
    pool: &crate::db::Pool,
    account: &str,
    client: &str,
) -> sqlx::Result<Result<Attempt, i64>> {
    let deadline = Instant::now() + WAIT_FOR_PENDING;
    loop {
        if let Some(id) = db::throttle::reserve_attempt(pool, account, client, LIMITS).await? {
            return Ok(Ok(Attempt(id)));
        }
        let failures_full =
            db::throttle::failures_reach_limit(pool, account, client, LIMITS).await?;
        if failures_full || Instant::now() >= deadline {
            break;
        }
        // Attempts still being checked hold the rest of the limit: wait for their outcome.
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    let wait_secs = db::throttle::seconds_until_allowed(pool, account, client, LIMITS).await?;
    Ok(Err((wait_secs + 59) / 60))
}

/// The attempt succeeded: it does not count as a failure.
pub async fn succeeded(pool: &crate::db::Pool, attempt: Attempt) -> sqlx::Result<()> {
    db::throttle::forget_attempt(pool, attempt.0).await
}

/// The attempt failed: it counts from now on.
pub async fn failed(pool: &crate::db::Pool, attempt: Attempt) -> sqlx::Result<()> {
    db::throttle::confirm_failure(pool, attempt.0).await?;
    db::throttle::prune(pool).await
}
