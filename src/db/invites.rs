//! Invites: a relative's way into one room, by link token and access code, both stored hashed.

use sqlx::FromRow;

use super::Handle;

use crate::domain::InviteStatus;

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
    pub visit_id: Option<String>,
    pub relative_id: Option<String>,
    /// From when it works (its visit's start less the early margin).
    pub opens_at: Option<i64>,
    /// The link token and code, encrypted under the server's key, for printing the card again.
    pub sealed_secrets: Option<String>,
    pub opened_at: Option<i64>,
    pub visit_cancelled_at: Option<i64>,
}

impl Invite {
    /// The invite's state at `now`; a cancelled visit, revocation and a closed room win over
    /// expiry.
    pub fn status(&self, now: i64) -> InviteStatus {
        if self.visit_cancelled_at.is_some() {
            InviteStatus::Cancelled
        } else if self.revoked_at.is_some() {
            InviteStatus::Revoked
        } else if self.room_closed_at.is_some() {
            InviteStatus::RoomClosed
        } else if self.locked_at.is_some() {
            InviteStatus::Locked
        } else if self.expires_at <= now {
            InviteStatus::Expired
        } else if self.opens_at.is_some_and(|opens| now < opens) {
            InviteStatus::NotYetOpen
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
    pub visit_id: &'a str,
    pub relative_id: &'a str,
    pub opens_at: i64,
    pub sealed_secrets: &'a str,
}

macro_rules! select_invite {
    ($clauses:literal) => {
        concat!(
            "SELECT i.id, i.room_id, i.relative_name, i.relationship, i.lang, i.code_hash,
                    i.created_at, i.expires_at, i.revoked_at, i.failed_attempts, i.locked_at,
                    r.closed_at AS room_closed_at, i.visit_id, i.relative_id, i.opens_at,
                    i.sealed_secrets, i.opened_at, v.cancelled_at AS visit_cancelled_at
             FROM invites i JOIN rooms r ON r.id = i.room_id
             LEFT JOIN visits v ON v.id = i.visit_id ",
            $clauses
        )
    };
}

/// Stores an invite for an open room; false when the room is closed or unknown.
pub async fn create(conn: impl Into<Handle<'_>>, new: &NewInvite<'_>) -> sqlx::Result<bool> {
    crate::on_db!(conn, |conn| {
        let done = sqlx::query(
            "INSERT INTO invites (id, room_id, relative_name, relationship, lang, token_hash, code_hash,
                                  created_at, expires_at, created_by, visit_id, relative_id, opens_at,
                                  sealed_secrets)
             SELECT $1, id, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14
             FROM rooms WHERE id = $2 AND closed_at IS NULL",
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
        .bind(new.visit_id)
        .bind(new.relative_id)
        .bind(new.opens_at)
        .bind(new.sealed_secrets)
        .execute(&mut *conn)
        .await?;
        Ok(done.rows_affected() == 1)
    })
}

/// The invite whose link token hashes to `token_hash`.
pub async fn find_by_token_hash(
    db: impl Into<Handle<'_>>,
    token_hash: &str,
) -> sqlx::Result<Option<Invite>> {
    crate::on_db!(db, |db| {
        sqlx::query_as(select_invite!("WHERE i.token_hash = $1"))
            .bind(token_hash)
            .fetch_optional(&mut *db)
            .await
    })
}

/// The invite with this id.
pub async fn find(db: impl Into<Handle<'_>>, id: &str) -> sqlx::Result<Option<Invite>> {
    crate::on_db!(db, |db| {
        sqlx::query_as(select_invite!("WHERE i.id = $1"))
            .bind(id)
            .fetch_optional(&mut *db)
            .await
    })
}

/// A room's invites, newest first.
pub async fn list_for_room(db: impl Into<Handle<'_>>, room_id: &str) -> sqlx::Result<Vec<Invite>> {
    crate::on_db!(db, |db| {
        sqlx::query_as(select_invite!(
            "WHERE i.room_id = $1 ORDER BY i.created_at DESC, i.expires_at DESC, i.id DESC"
        ))
        .bind(room_id)
        .fetch_all(&mut *db)
        .await
    })
}

/// Reserves one code attempt, counted as wrong until [`release_code_attempt`]. The check and the
/// count are one statement, so parallel requests cannot get more than [`MAX_CODE_ATTEMPTS`]
/// guesses. `None` when the invite takes no more attempts (locked, revoked, expired, used up).
pub async fn reserve_code_attempt(
    conn: impl Into<Handle<'_>>,
    id: &str,
) -> sqlx::Result<Option<i64>> {
    crate::on_db!(conn, |conn| {
        // fetch_all, not fetch_one/fetch_optional: SQLite reports a failed commit (a full disk) when
        // the statement runs to its end, which fetching only the first row never does.
        let reserved: Vec<(i64,)> = sqlx::query_as(
            "UPDATE invites SET failed_attempts = failed_attempts + 1
             WHERE id = $1 AND locked_at IS NULL AND revoked_at IS NULL AND expires_at > $2
               AND failed_attempts < $3
             RETURNING failed_attempts",
        )
        .bind(id)
        .bind(super::now())
        .bind(MAX_CODE_ATTEMPTS)
        .fetch_all(&mut *conn)
        .await?;
        Ok(reserved.into_iter().next().map(|(attempts,)| attempts))
    })
}

/// Gives back a reserved attempt whose code was right; false when the invite got locked meanwhile.
pub async fn release_code_attempt(conn: impl Into<Handle<'_>>, id: &str) -> sqlx::Result<bool> {
    crate::on_db!(conn, |conn| {
        let done = sqlx::query(
            "UPDATE invites SET failed_attempts = failed_attempts - 1 WHERE id = $1 AND locked_at IS NULL",
        )
        .bind(id)
        .execute(&mut *conn)
        .await?;
        Ok(done.rows_affected() == 1)
    })
}

/// Locks the invite once its wrong attempts are used up.
pub async fn lock_if_exhausted(conn: impl Into<Handle<'_>>, id: &str) -> sqlx::Result<()> {
    crate::on_db!(conn, |conn| {
        sqlx::query(
            "UPDATE invites SET locked_at = COALESCE(locked_at, $2) WHERE id = $1 AND failed_attempts >= $3",
        )
        .bind(id)
        .bind(super::now())
        .bind(MAX_CODE_ATTEMPTS)
        .execute(&mut *conn)
        .await?;
        Ok(())
    })
}

/// Notes when the relative first opened the link.
pub async fn mark_opened(db: impl Into<Handle<'_>>, id: &str) -> sqlx::Result<bool> {
    crate::on_db!(db, |db| {
        let done =
            sqlx::query("UPDATE invites SET opened_at = $2 WHERE id = $1 AND opened_at IS NULL")
                .bind(id)
                .bind(super::now())
                .execute(&mut *db)
                .await?;
        Ok(done.rows_affected() == 1)
    })
}

/// Revokes every invite of a relative for visits that have not ended; their ids.
pub async fn revoke_for_relative(
    conn: impl Into<Handle<'_>>,
    relative_id: &str,
    by: &str,
) -> sqlx::Result<Vec<String>> {
    crate::on_db!(conn, |conn| {
        let rows: Vec<(String,)> = sqlx::query_as(
            "UPDATE invites SET revoked_at = $2, revoked_by = $3
             WHERE relative_id = $1 AND revoked_at IS NULL AND expires_at > $2 RETURNING id",
        )
        .bind(relative_id)
        .bind(super::now())
        .bind(by)
        .fetch_all(&mut *conn)
        .await?;
        Ok(rows.into_iter().map(|(id,)| id).collect())
    })
}

/// A visit's invites: (invite id, relative id).
pub async fn of_visit(
    conn: impl Into<Handle<'_>>,
    visit_id: &str,
) -> sqlx::Result<Vec<(String, Option<String>)>> {
    crate::on_db!(conn, |conn| {
        sqlx::query_as(
            "SELECT id, relative_id FROM invites WHERE visit_id = $1 AND revoked_at IS NULL",
        )
        .bind(visit_id)
        .fetch_all(&mut *conn)
        .await
    })
}

/// The ids of a visit's invites.
pub async fn ids_of_visit(
    conn: impl Into<Handle<'_>>,
    visit_id: &str,
) -> sqlx::Result<Vec<String>> {
    crate::on_db!(conn, |conn| {
        let rows: Vec<(String,)> = sqlx::query_as("SELECT id FROM invites WHERE visit_id = $1")
            .bind(visit_id)
            .fetch_all(&mut *conn)
            .await?;
        Ok(rows.into_iter().map(|(id,)| id).collect())
    })
}

/// Revokes an invite; false when already revoked or unknown.
pub async fn revoke(conn: impl Into<Handle<'_>>, id: &str, by: &str) -> sqlx::Result<bool> {
    crate::on_db!(conn, |conn| {
        let done = sqlx::query(
            "UPDATE invites SET revoked_at = $2, revoked_by = $3 WHERE id = $1 AND revoked_at IS NULL",
        )
        .bind(id)
        .bind(super::now())
        .bind(by)
        .execute(&mut *conn)
        .await?;
        Ok(done.rows_affected() == 1)
    })
}

/// Reserves one wrong-code slot for a client address (check and insert in one statement, lined up
/// behind parallel ones: [`super::line_up_count`]);
/// `None` when the address used up its slots in the window.
pub async fn reserve_code_failure(
    db: impl Into<Handle<'_>>,
    client: &str,
    window_secs: i64,
    max: i64,
) -> sqlx::Result<Option<i64>> {
    crate::on_db!(db, |db| {
        let now = super::now();
        let mut tx = sqlx::Connection::begin(&mut *db).await?;
        super::line_up_count(&mut *tx, super::CountLock::CodeFailures).await?;
        // fetch_all, not fetch_one/fetch_optional: the statement runs to its end, so that what
        // goes wrong on the way (a full disk) is reported here.
        let reserved: Vec<(i64,)> = sqlx::query_as(
            "INSERT INTO code_failures (client, at)
             SELECT $1, $2 WHERE (SELECT COUNT(*) FROM code_failures WHERE client = $1 AND at > $3) < $4
             RETURNING id",
        )
        .bind(client)
        .bind(now)
        .bind(now - window_secs)
        .bind(max)
        .fetch_all(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(reserved.into_iter().next().map(|(id,)| id))
    })
}

/// Forgets a reserved slot (the code was right, or no code was tried) and slots older than a day.
pub async fn forget_code_failure(db: impl Into<Handle<'_>>, id: i64) -> sqlx::Result<()> {
    crate::on_db!(db, |db| {
        sqlx::query("DELETE FROM code_failures WHERE id = $1 OR at < $2")
            .bind(id)
            .bind(super::now() - 24 * 60 * 60)
            .execute(&mut *db)
            .await?;
        Ok(())
    })
}

/// When the next visit of this relative starts, after `after` (Unix seconds), if one is booked.
pub async fn next_visit_of(
    db: impl Into<Handle<'_>>,
    relative_id: &str,
    after: i64,
) -> sqlx::Result<Option<i64>> {
    crate::on_db!(db, |db| {
        let rows: Vec<(i64,)> = sqlx::query_as(
            "SELECT v.starts_at FROM invites i JOIN visits v ON v.id = i.visit_id
             WHERE i.relative_id = $1 AND i.revoked_at IS NULL AND v.cancelled_at IS NULL
               AND v.starts_at > $2
             ORDER BY v.starts_at LIMIT 1",
        )
        .bind(relative_id)
        .bind(after)
        .fetch_all(&mut *db)
        .await?;
        Ok(rows.first().map(|(at,)| *at))
    })
}
