//! The waiting room as staff see it (on the desk and the room page): who waits, for which visit,
//! how long, with their device check; and the nurse's answers: admit (one, or all of a visit),
//! "not now" with a message, and send away with a reason.

use askama::Template;
use axum::{
    Form,
    extract::{Path, Query, State},
    response::{IntoResponse, Redirect, Response},
};
use serde::Deserialize;

use super::{CurrentStaff, IdPath, PageCtx, render, require_ward, ward_access};
use crate::{
    actions, db,
    domain::{AdmissionHow, NotNowMessage, RandomId, SendAwayReason},
    error::AppError,
    signaling::WaitingEntry,
    state::AppState,
};

/// The waiting room panel: who waits in the wards `staff` reaches (or in one room).
#[derive(Template)]
#[template(path = "desk/waiting.html")]
pub struct WaitingPanel {
    pub ctx: PageCtx,
    pub entries: Vec<WaitingEntry>,
    /// Where the buttons come back to.
    pub back: String,
    pub not_now: [NotNowMessage; 4],
    pub reasons: [SendAwayReason; 3],
}

impl WaitingPanel {
    /// Loads the panel for `staff`, of every ward they reach or of one room.
    pub async fn load(
        state: &AppState,
        staff: &CurrentStaff,
        ctx: PageCtx,
        room: Option<&str>,
        back: String,
    ) -> Result<Self, AppError> {
        let access = ward_access(state, staff).await?;
        let entries = state
            .signaling
            .waiting()
            .into_iter()
            .filter(|w| w.ward_id.as_deref().is_some_and(|ward| access.allows(ward)))
            .filter(|w| room.is_none_or(|room| w.room_id == room))
            .collect();
        Ok(Self {
            ctx,
            entries,
            back,
            not_now: NotNowMessage::ALL,
            reasons: SendAwayReason::ALL,
        })
    }

    fn not_now_text(&self, message: &NotNowMessage) -> &'static str {
        message.text(self.ctx.t)
    }

    fn reason_text(&self, reason: &SendAwayReason) -> &'static str {
        reason.text(self.ctx.t)
    }

    fn told(&self, entry: &WaitingEntry) -> Option<&'static str> {
        entry.told.map(|m| m.text(self.ctx.t))
    }

    fn visit_time(&self, entry: &WaitingEntry) -> String {
        entry
            .visit_starts_at
            .map(|at| {
                self.ctx
                    .t
                    .visit_at_time
                    .replace("{time}", &self.ctx.clock(&at))
            })
            .unwrap_or_default()
    }

    fn waited(&self, entry: &WaitingEntry) -> String {
        let minutes = (db::now() - entry.since).max(0) / 60;
        self.ctx.t.waited_minutes.of(minutes)
    }

    fn works(&self, ok: &bool) -> &'static str {
        if *ok {
            self.ctx.t.check_works
        } else {
            self.ctx.t.check_fails
        }
    }

    fn connection(&self, entry: &WaitingEntry) -> &'static str {
        match entry.check.fast() {
            Some(true) => self.ctx.t.connection_fast,
            Some(false) => self.ctx.t.connection_slow,
            None => "",
        }
    }

    /// The first entry of each visit shows the "admit all" button when the visit has several.
    fn several_of_visit(&self, entry: &WaitingEntry) -> bool {
        entry.visit_id.is_some()
            && self
                .entries
                .iter()
                .filter(|e| e.visit_id == entry.visit_id)
                .count()
                > 1
    }
}

/// `?room=` for the room page's panel.
#[derive(Debug, Default, Deserialize)]
pub struct PanelQuery {
    #[serde(default)]
    room: Option<String>,
}

/// `GET /desk/waiting?room=`: the panel alone, for the desk and the room page to swap in.
pub async fn panel(
    State(state): State<AppState>,
    staff: CurrentStaff,
    ctx: PageCtx,
    Query(query): Query<PanelQuery>,
) -> Result<Response, AppError> {
    let room = query.room.as_deref().and_then(RandomId::parse);
    let back = match &room {
        Some(room) => format!("/rooms/{room}"),
        None => "/desk".to_string(),
    };
    let panel =
        WaitingPanel::load(&state, &staff, ctx, room.as_ref().map(|r| r.as_str()), back).await?;
    render(&panel)
}

/// Where a waiting-room button returns: the desk or a room page, nothing else.
fn back_to(back: &str) -> Redirect {
    let local = back == "/desk"
        || back
            .strip_prefix("/rooms/")
            .is_some_and(|id| RandomId::parse(id).is_some());
    Redirect::to(if local { back } else { "/desk" })
}

/// The invite named in the path, once `staff` is known to work in its visit's ward (else 404,
/// audited). Its visit's id.
async fn invite_in_reach(
    state: &AppState,
    staff: &CurrentStaff,
    invite_id: &str,
    path: &str,
) -> Result<String, AppError> {
    let invite = db::invites::find(&state.db, invite_id)
        .await?
        .ok_or_else(AppError::not_found)?;
    let visit_id = invite.visit_id.ok_or_else(AppError::not_found)?;
    let visit = db::visits::find(&state.db, &visit_id)
        .await?
        .ok_or_else(AppError::not_found)?;
    require_ward(state, staff, &visit.ward_id, invite_id, path).await?;
    Ok(visit_id)
}

/// The form of the waiting-room buttons.
#[derive(Debug, Default, Deserialize)]
pub struct WaitingForm {
    #[serde(default)]
    back: String,
    #[serde(default)]
    message: String,
    #[serde(default)]
    reason: String,
}

/// `POST /waiting/{invite}/admit`: lets the relative in; they are in the call within moments.
pub async fn admit(
    State(state): State<AppState>,
    staff: CurrentStaff,
    ctx: PageCtx,
    IdPath(invite): IdPath,
    Form(form): Form<WaitingForm>,
) -> Result<Response, AppError> {
    invite_in_reach(&state, &staff, invite.as_str(), &ctx.path).await?;
    actions::admit_relative(&state, &staff, invite.as_str(), AdmissionHow::Nurse).await?;
    Ok(back_to(&form.back).into_response())
}

/// `POST /visits/{id}/admit-all`: lets in everyone of the visit who waits now.
pub async fn admit_all(
    State(state): State<AppState>,
    staff: CurrentStaff,
    ctx: PageCtx,
    Path(id): Path<String>,
    Form(form): Form<WaitingForm>,
) -> Result<Response, AppError> {
    let id = RandomId::parse(&id).ok_or_else(AppError::not_found)?;
    let visit = db::visits::find(&state.db, id.as_str())
        .await?
        .ok_or_else(AppError::not_found)?;
    require_ward(&state, &staff, &visit.ward_id, id.as_str(), &ctx.path).await?;
    actions::admit_visit(&state, &staff, id.as_str()).await?;
    Ok(back_to(&form.back).into_response())
}

/// `POST /waiting/{invite}/not-now`: shows the chosen message on the relative's screen.
pub async fn not_now(
    State(state): State<AppState>,
    staff: CurrentStaff,
    ctx: PageCtx,
    IdPath(invite): IdPath,
    Form(form): Form<WaitingForm>,
) -> Result<Response, AppError> {
    invite_in_reach(&state, &staff, invite.as_str(), &ctx.path).await?;
    let message = NotNowMessage::parse(&form.message).ok_or_else(AppError::bad_request)?;
    actions::tell_not_now(&state, &staff, invite.as_str(), message).await?;
    Ok(back_to(&form.back).into_response())
}

/// `POST /waiting/{invite}/send-away`: ends their invite for this visit, with the reason shown.
pub async fn send_away(
    State(state): State<AppState>,
    staff: CurrentStaff,
    ctx: PageCtx,
    IdPath(invite): IdPath,
    Form(form): Form<WaitingForm>,
) -> Result<Response, AppError> {
    invite_in_reach(&state, &staff, invite.as_str(), &ctx.path).await?;
    let reason = SendAwayReason::parse(&form.reason).ok_or_else(AppError::bad_request)?;
    actions::send_away(&state, &staff, invite.as_str(), reason).await?;
    Ok(back_to(&form.back).into_response())
}
