//! Invites: creating one for a relative, revoking it, and a relative's right code.

use crate::{
    auth::access_code::code_hash,
    db::{self, rooms::RoomView},
    domain::{
        AccessCode, AuditAction, PersonName, RandomId, Relationship, StaffMember, random_token,
        sha256_hex,
    },
    error::AppError,
    i18n::Lang,
    state::AppState,
};

/// Who an invite is for, validated.
#[derive(Debug)]
pub struct NewRelative {
    pub name: PersonName,
    pub relationship: Relationship,
    pub lang: Lang,
}

/// A new invite's secrets, to be shown once and never again (only their hashes are stored).
#[derive(Debug)]
pub struct CreatedInvite {
    pub id: String,
    pub token: String,
    pub code: AccessCode,
    pub expires_at: i64,
}

/// Creates an invite to `room` for a relative; 409 when the room closed meanwhile.
pub async fn create_invite(
    state: &AppState,
    by: &StaffMember,
    room: &RoomView,
    relative: &NewRelative,
) -> Result<CreatedInvite, AppError> {
    let id = RandomId::new();
    let token = random_token(32);
    let code = AccessCode::generate();
    let expires_at = db::now() + i64::from(state.config.invite_hours) * 60 * 60;
    let token_hash = sha256_hex(&token);
    let stored_code = code_hash(&state.secret, id.as_str(), &code);
    let new = db::invites::NewInvite {
        id: id.as_str(),
        room_id: &room.id,
        relative_name: relative.name.as_str(),
        relationship: relative.relationship.as_str(),
        lang: relative.lang.code(),
        token_hash: &token_hash,
        code_hash: &stored_code,
        expires_at,
        created_by: &by.id,
    };
    let mut tx = state.db.begin().await?;
    if !db::invites::create(&mut tx, &new).await? {
        return Err(AppError::conflict(|t| t.err_room_closed));
    }
    db::audit::record(
        &mut tx,
        Some(&by.id),
        AuditAction::InviteCreate,
        Some(id.as_str()),
    )
    .await?;
    tx.commit().await?;
    Ok(CreatedInvite {
        id: id.to_string(),
        token,
        code,
        expires_at,
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
    tx.commit().await?;
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
    Ok(())
}
