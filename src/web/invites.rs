//! Revoking a relative's invite from the room page (which also removes the relative from a
//! running call). Invites are made by scheduling a visit ([`super::visits`]).

use axum::{
    extract::{Path, State},
    response::Redirect,
};

use super::{PageCtx, rooms::find_room};
use crate::{actions, db, domain::RandomId, error::AppError, state::AppState, web::CurrentStaff};

/// `POST /rooms/{room}/invites/{invite}/revoke`: the relative is out of the call within moments.
pub async fn revoke(
    State(state): State<AppState>,
    staff: CurrentStaff,
    ctx: PageCtx,
    Path((room_id, invite_id)): Path<(String, String)>,
) -> Result<Redirect, AppError> {
    let room = find_room(&state, &staff, room_id.as_str(), &ctx.path).await?;
    let invite_id = RandomId::parse(&invite_id).ok_or_else(AppError::not_found)?;
    let invite = db::invites::find(&state.db, invite_id.as_str())
        .await?
        .filter(|invite| invite.room_id == room.id)
        .ok_or_else(AppError::not_found)?;
    actions::revoke_invite(&state, &staff, &invite.id).await?;
    Ok(Redirect::to(&format!("/rooms/{}", room.id)))
}

/// `GET /rooms/{room}/invites/{invite}/revoke`: what revoking the invite will do, and the
/// button.
pub async fn revoke_confirm(
    State(state): State<AppState>,
    staff: CurrentStaff,
    ctx: PageCtx,
    Path((room_id, invite_id)): Path<(String, String)>,
) -> Result<axum::response::Response, AppError> {
    let room = find_room(&state, &staff, room_id.as_str(), &ctx.path).await?;
    let invite_id = RandomId::parse(&invite_id).ok_or_else(AppError::not_found)?;
    let invite = db::invites::find(&state.db, invite_id.as_str())
        .await?
        .filter(|invite| invite.room_id == room.id)
        .ok_or_else(AppError::not_found)?;
    let t = ctx.t;
    let mut consequences = vec![t.confirm_link_stops.to_string()];
    if super::confirm::invite_in_call(&state, std::slice::from_ref(&invite.id)) {
        consequences.push(t.confirm_in_call_leaves.to_string());
    }
    super::confirm::page(&super::confirm::ConfirmPage {
        title: t
            .confirm_title_revoke
            .replace("{name}", &invite.relative_name),
        consequences,
        action: format!("/rooms/{}/invites/{}/revoke", room.id, invite.id),
        button: t.invite_revoke_button,
        back: format!("/rooms/{}", room.id),
        reason: false,
        ctx: ctx.with_staff(&staff),
    })
}
