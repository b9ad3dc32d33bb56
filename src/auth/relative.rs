//! The relative's way in: the invite link opens a session bound to one invite, the access code
//! verifies it (limited per invite and per client address), and a verified session gets call
//! tickets for the invite's room while the invite stays active. The secrets are stored hashed:
//! the link token as SHA-256, the code as an HMAC ([`super::access_code`]).

use serde::{Deserialize, Serialize};
use tower_sessions::Session;

use super::{
    access_code::code_matches,
    secret::ServerSecret,
    ticket::{CallTicket, TICKET_SECS},
};
use crate::{
    db::{
        self,
        invites::{Invite, MAX_CODE_ATTEMPTS},
    },
    domain::{AccessCode, AuditAction, CallRole, sha256_hex},
};

/// Wrong codes per client address in [`CODE_WINDOW_SECS`].
pub const MAX_CODE_FAILURES_PER_CLIENT: i64 = 20;
/// The window of the per-address limit.
pub const CODE_WINDOW_SECS: i64 = 15 * 60;
/// Longest link token looked up (ours have 43 characters).
const MAX_TOKEN_LEN: usize = 64;

const INVITE_KEY: &str = "invite";

/// What the relative's session remembers.
#[derive(Debug, Serialize, Deserialize)]
pub struct InviteSession {
    pub invite_id: String,
    /// The access code was typed right.
    pub verified: bool,
}

/// The invite an invite link names, if any.
pub async fn invite_of_link(db: &crate::db::Pool, token: &str) -> sqlx::Result<Option<Invite>> {
    if token.len() > MAX_TOKEN_LEN {
        return Ok(None);
    }
    db::invites::find_by_token_hash(db, &sha256_hex(token)).await
}

/// Binds a new session (a fresh id) to `invite_id`, verified or not yet.
pub async fn remember(
    session: &Session,
    invite_id: &str,
    verified: bool,
) -> Result<(), tower_sessions::session::Error> {
    session.cycle_id().await?;
    session
        .insert(
            INVITE_KEY,
            InviteSession {
                invite_id: invite_id.to_string(),
                verified,
            },
        )
        .await
}

/// The invite this session is bound to, if any.
pub async fn recall(
    session: &Session,
) -> Result<Option<InviteSession>, tower_sessions::session::Error> {
    session.get::<InviteSession>(INVITE_KEY).await
}

/// How checking a typed access code ended.
#[derive(Debug, PartialEq, Eq)]
pub enum CodeCheck {
    /// The right code: let the relative in (after the audit row).
    Right,
    /// A wrong code; this many tries are left before the invite locks.
    Wrong { tries_left: i64 },
    /// The invite takes no more codes (locked now or before).
    Locked,
    /// This client address tried too many wrong codes lately.
    Throttled,
}

/// Checks a code against an invite. Both limits are reserved before the code is compared, so
/// parallel guesses cannot slip past either.
pub async fn check_code(
    db: &crate::db::Pool,
    secret: &ServerSecret,
    invite: &Invite,
    client: &str,
    code: &AccessCode,
) -> sqlx::Result<CodeCheck> {
    let Some(slot) = db::invites::reserve_code_failure(
        db,
        client,
        CODE_WINDOW_SECS,
        MAX_CODE_FAILURES_PER_CLIENT,
    )
    .await?
    else {
        tracing::warn!(client, "access code attempts throttled");
        return Ok(CodeCheck::Throttled);
    };
    // One pool connection at a time, never two held at once: under a burst of requests, holding
    // one while waiting for another can exhaust the pool.
    let reserved = db::invites::reserve_code_attempt(db, &invite.id).await?;
    let Some(attempts) = reserved else {
        db::invites::forget_code_failure(db, slot).await?;
        return Ok(CodeCheck::Locked);
    };
    if !code_matches(secret, &invite.id, code, &invite.code_hash) {
        // The refusal and the lock it may bring are audited with it (never the code typed).
        let mut tx = db.begin().await?;
        db::invites::lock_if_exhausted(&mut tx, &invite.id).await?;
        if attempts >= MAX_CODE_ATTEMPTS {
            metrics::counter!("visitas_invites_locked_total").increment(1);
        }
        let (action, detail) = if attempts >= MAX_CODE_ATTEMPTS {
            (AuditAction::InviteLocked, format!("attempt {attempts}"))
        } else {
            (
                AuditAction::InviteCodeRefused,
                format!("attempt {attempts}"),
            )
        };
        db::audit::record_detail(&mut tx, None, action, Some(&invite.id), Some(&detail)).await?;
        tx.commit().await?;
        tracing::info!(attempts, "wrong access code");
        if attempts >= MAX_CODE_ATTEMPTS {
            return Ok(CodeCheck::Locked);
        }
        return Ok(CodeCheck::Wrong {
            tries_left: MAX_CODE_ATTEMPTS - attempts,
        });
    }
    db::invites::forget_code_failure(db, slot).await?;
    if !db::invites::release_code_attempt(db, &invite.id).await? {
        return Ok(CodeCheck::Locked);
    }
    Ok(CodeCheck::Right)
}

/// A call ticket for a verified relative: the invite's room, shown by the relative's name.
pub fn ticket(secret: &ServerSecret, invite: &Invite) -> String {
    CallTicket {
        room_id: invite.room_id.clone(),
        role: CallRole::Relative,
        display_name: invite.relative_name.clone(),
        staff_id: None,
        invite_id: Some(invite.id.clone()),
        device_id: None,
        expires_at: db::now() + TICKET_SECS,
    }
    .seal(secret)
}
