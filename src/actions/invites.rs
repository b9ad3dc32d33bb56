//! Invites: one per relative of a visit, revoking one, a relative's right code, and reading a
//! card's secrets back for printing it again.

use crate::{
    auth::{access_code::code_hash, secret::ServerSecret},
    db::{self, relatives::Relative},
    domain::{AccessCode, AuditAction, RandomId, Span, StaffMember, random_token, sha256_hex},
    error::AppError,
    state::AppState,
};

/// The domain the link token and code are sealed under.
const SEALED_SECRETS: &str = "invite-secrets";

/// An invite's secrets: shown on the card, stored only hashed and sealed.
#[derive(Debug)]
pub struct InviteSecrets {
    pub token: String,
    pub code: AccessCode,
}

/// Which relative an invite is for, to which visit, and when it works.
pub(super) struct InviteFor<'a> {
    pub room_id: &'a str,
    pub visit_id: &'a str,
    pub relative: &'a Relative,
    /// The visit's time; the invite works from `early_secs` before its start to its end.
    pub span: Span,
    pub early_secs: i64,
}

/// Creates the invite of one relative to a visit, inside the caller's transaction. `None` when
/// the room closed.
pub(super) async fn issue_invite(
    conn: impl Into<crate::db::Handle<'_>>,
    secret: &ServerSecret,
    by: &StaffMember,
    target: &InviteFor<'_>,
) -> Result<Option<String>, AppError> {
    let mut conn = conn.into();
    let InviteFor {
        room_id,
        visit_id,
        relative,
        span,
        early_secs,
    } = *target;
    let id = RandomId::new();
    let token = random_token(32);
    let code = AccessCode::generate();
    let token_hash = sha256_hex(&token);
    let stored_code = code_hash(secret, id.as_str(), &code);
    let sealed = secret.seal(
        SEALED_SECRETS,
        id.as_str(),
        format!("{token} {}", code.as_str()).as_bytes(),
    );
    let new = db::invites::NewInvite {
        id: id.as_str(),
        room_id,
        relative_name: &relative.display_name,
        relationship: &relative.relationship,
        lang: &relative.lang,
        token_hash: &token_hash,
        code_hash: &stored_code,
        expires_at: span.end,
        created_by: &by.id,
        visit_id,
        relative_id: &relative.id,
        opens_at: span.start - early_secs,
        sealed_secrets: &sealed,
    };
    if !db::invites::create(&mut conn, &new).await? {
        return Ok(None);
    }
    db::audit::record(
        &mut conn,
        Some(&by.id),
        AuditAction::InviteCreate,
        Some(id.as_str()),
    )
    .await?;
    Ok(Some(id.to_string()))
}

/// The link token and code of an invite, unsealed for printing its card again.
pub fn invite_secrets(
    secret: &ServerSecret,
    invite_id: &str,
    sealed: &str,
) -> Option<InviteSecrets> {
    let plain = secret.open(SEALED_SECRETS, invite_id, sealed)?;
    let plain = String::from_utf8(plain).ok()?;
    let (token, code) = plain.split_once(' ')?;
    Some(InviteSecrets {
        token: token.to_string(),
        code: AccessCode::parse(code)?,
    })
}

/// Revokes an invite; the relative is out of the call within moments.
pub async fn revoke_invite(
    state: &AppState,
    by: &StaffMember,
    invite_id: &str,
) -> Result<(), AppError> {
    let mut tx = state.db.begin().await?;
    if db::invites::revoke(&mut tx, invite_id, &by.id).await? {
        db::audit::record(
            &mut tx,
            Some(&by.id),
            AuditAction::InviteRevoke,
            Some(invite_id),
        )
        .await?;
    }
    let committed = tx.commit().await;
    state.caches.desk.bump();
    committed?;
    // In its own task: the removal must happen even if the request is dropped.
    let signaling = state.signaling.clone();
    let invite_id = invite_id.to_string();
    tokio::spawn(async move { signaling.end_invite(&invite_id).await });
    Ok(())
}

/// Records that a relative typed the right code. The caller lets them in (their session) only
/// after this succeeded: no entry without its audit row.
pub async fn accept_code(state: &AppState, invite_id: &str) -> Result<(), AppError> {
    let mut conn = state.db.acquire().await?;
    db::audit::record(
        &mut conn,
        None,
        AuditAction::InviteCodeAccepted,
        Some(invite_id),
    )
    .await?;
    db::invites::mark_opened(&mut conn, invite_id).await?;
    state.caches.desk.bump();
    Ok(())
}

/// Notes that a relative opened their link (the desk shows it).
pub async fn note_link_opened(state: &AppState, invite_id: &str) -> Result<(), AppError> {
    if db::invites::mark_opened(&state.db, invite_id).await? {
        state.caches.desk.bump();
    }
    Ok(())
}
