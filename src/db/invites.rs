//! Invites: a relative's way into one room, by link token and access code, both stored hashed.

use sqlx::{FromRow, SqliteConnection, SqliteExecutor};

/// Wrong codes that lock an invite.
pub const MAX_CODE_ATTEMPTS: i64 = 5;

/// An invite with the state of its room.
#[derive(Debug, Clone, FromRow)]
pub struct Invite {
    pub id: String,
    pub room_id: String,
    pub relative_name: String,
    pub relationship: String,
    pub lang: String,
    pub code_hash: String,
    pub created_at: i64,
    pub expires_at: i64,
    pub revoked_at: Option<i64>,
    pub failed_attempts: i64,
    pub locked_at: Option<i64>,
    pub room_closed_at: Option<i64>,
}

/// Whether an invite can be used now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InviteStatus {
    Active,
    Expired,
    Revoked,
    Locked,
    RoomClosed,
}

impl InviteStatus {
    /// A short stable name, for templates and tests.
    pub fn as_str(self) -> &'static str {
        match self {
            InviteStatus::Active => "active",
            InviteStatus::Expired => "expired",
            InviteStatus::Revoked => "revoked",
            InviteStatus::Locked => "locked",
            InviteStatus::RoomClosed => "room-closed",
        }
    }
}

impl Invite {
    /// The invite's state at `now`; revocation and a closed room win over expiry.
    pub fn status(&self, now: i64) -> InviteStatus {
        if self.revoked_at.is_some() {
            InviteStatus::Revoked
        } else if self.room_closed_at.is_some() {
            InviteStatus::RoomClosed
        } else if self.locked_at.is_some() {
            InviteStatus::Locked
        } else if self.expires_at <= now {
            InviteStatus::Expired
        } else {
            InviteStatus::Active
        }
    }
}

/// A new invite, secrets already hashed.
pub struct NewInvite<'a> {
    pub id: &'a str,
    pub room_id: &'a str,
    pub relative_name: &'a str,
    pub relationship: &'a str,
    pub lang: &'a str,
    pub token_hash: &'a str,
    pub code_hash: &'a str,
    pub expires_at: i64,
    pub created_by: &'a str,
}

macro_rules! select_invite {
    ($clauses:literal) => {
        concat!(
            "SELECT i.id, i.room_id, i.relative_name, i.relationship, i.lang, i.code_hash,
                    i.created_at, i.expires_at, i.revoked_at, i.failed_attempts, i.locked_at,
                    r.closed_at AS room_closed_at
             FROM invites i JOIN rooms r ON r.id = i.room_id ",
            $clauses
        )
    };
}

/// Stores an invite for an open room; false when the room is closed or unknown.
pub async fn create(conn: &mut SqliteConnection, new: &NewInvite<'_>) -> sqlx::Result<bool> {
    let done = sqlx::query(
        "INSERT INTO invites (id, room_id, relative_name, relationship, lang, token_hash, code_hash,
                              created_at, expires_at, created_by)
         SELECT $1, id, $3, $4, $5, $6, $7, $8, $9, $10 FROM rooms WHERE id = $2 AND closed_at IS NULL",
    )
    .bind(new.id)
    .bind(new.room_id)
    .bind(new.relative_name)
    .bind(new.relationship)
    .bind(new.lang)
    .bind(new.token_hash)
    .bind(new.code_hash)
    .bind(super::now())
    .bind(new.expires_at)
    .bind(new.created_by)
    .execute(conn)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// The invite whose link token hashes to `token_hash`.
pub async fn find_by_token_hash(
    db: impl SqliteExecutor<'_>,
    token_hash: &str,
) -> sqlx::Result<Option<Invite>> {
    sqlx::query_as(select_invite!("WHERE i.token_hash = $1"))
        .bind(token_hash)
        .fetch_optional(db)
        .await
}

/// The invite with this id.
pub async fn find(db: impl SqliteExecutor<'_>, id: &str) -> sqlx::Result<Option<Invite>> {
    sqlx::query_as(select_invite!("WHERE i.id = $1"))
        .bind(id)
        .fetch_optional(db)
        .await
}

/// A room's invites, newest first.
pub async fn list_for_room(
    db: impl SqliteExecutor<'_>,
    room_id: &str,
) -> sqlx::Result<Vec<Invite>> {
    sqlx::query_as(select_invite!(
        "WHERE i.room_id = $1 ORDER BY i.created_at DESC, i.rowid DESC"
    ))
    .bind(room_id)
    .fetch_all(db)
    .await
}

/// Counts a wrong code; the fifth locks the invite. Returns the attempts so far.
pub async fn record_wrong_code(conn: &mut SqliteConnection, id: &str) -> sqlx::Result<i64> {
    let (attempts,): (i64,) = sqlx::query_as(
        "UPDATE invites SET failed_attempts = failed_attempts + 1,
             locked_at = CASE WHEN failed_attempts + 1 >= $2 THEN COALESCE(locked_at, $3) ELSE locked_at END
         WHERE id = $1 RETURNING failed_attempts",
    )
    .bind(id)
    .bind(MAX_CODE_ATTEMPTS)
    .bind(super::now())
    .fetch_one(conn)
    .await?;
    Ok(attempts)
}

/// Revokes an invite; false when already revoked or unknown.
pub async fn revoke(conn: &mut SqliteConnection, id: &str, by: &str) -> sqlx::Result<bool> {
    let done = sqlx::query(
        "UPDATE invites SET revoked_at = $2, revoked_by = $3 WHERE id = $1 AND revoked_at IS NULL",
    )
    .bind(id)
    .bind(super::now())
    .bind(by)
    .execute(conn)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Counts a wrong code from a client address and returns how many it made in the window.
pub async fn record_code_failure(
    db: impl SqliteExecutor<'_> + Copy,
    client: &str,
    window_secs: i64,
) -> sqlx::Result<i64> {
    let now = super::now();
    sqlx::query("INSERT INTO code_failures (client, at) VALUES ($1, $2)")
        .bind(client)
        .bind(now)
        .execute(db)
        .await?;
    sqlx::query("DELETE FROM code_failures WHERE at < $1")
        .bind(now - 24 * 60 * 60)
        .execute(db)
        .await?;
    code_failures(db, client, window_secs).await
}

/// Wrong codes from a client address in the window.
pub async fn code_failures(
    db: impl SqliteExecutor<'_>,
    client: &str,
    window_secs: i64,
) -> sqlx::Result<i64> {
    let (n,): (i64,) =
        sqlx::query_as("SELECT COUNT(*) FROM code_failures WHERE client = $1 AND at > $2")
            .bind(client)
            .bind(super::now() - window_secs)
            .fetch_one(db)
            .await?;
    Ok(n)
}
