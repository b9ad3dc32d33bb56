//! The page that asks before a destructive action (discharge, close a room, deactivate an
//! account, revoke an invite, cancel a visit, withdraw a relative) and says what will happen,
//! counted from the current state: "2 people leave the call now." Its button posts the action;
//! the other way goes back unchanged.

use askama::Template;
use axum::response::Response;

use super::{PageCtx, render};
use crate::error::AppError;

#[derive(Template)]
#[template(path = "confirm.html")]
pub struct ConfirmPage {
    pub ctx: PageCtx,
    pub title: String,
    /// What will happen, one sentence each.
    pub consequences: Vec<String>,
    /// Where the button posts.
    pub action: String,
    pub button: &'static str,
    /// Where "go back" leads.
    pub back: String,
    /// The action needs a reason typed (cancelling a visit).
    pub reason: bool,
}

/// Renders the page.
pub fn page(page: &ConfirmPage) -> Result<Response, AppError> {
    render(page)
}

/// How many people are in a room's call now (from presence, so no database read).
pub fn in_call(state: &crate::state::AppState, room_ids: &[String]) -> usize {
    let presence = state.signaling.presence();
    room_ids
        .iter()
        .filter_map(|room| presence.get(room))
        .map(Vec::len)
        .sum()
}

/// True when a relative who came in with one of these invites is in a call now.
pub fn invite_in_call(state: &crate::state::AppState, invite_ids: &[String]) -> bool {
    state.signaling.presence().values().flatten().any(|entry| {
        entry
            .invite_id
            .as_ref()
            .is_some_and(|id| invite_ids.contains(id))
    })
}
