//! The call page (bedside, staff, relative) and the call tickets that let it signal.

use askama::Template;
use axum::{
    Json,
    extract::{Query, State},
    response::Response,
};
use serde::{Deserialize, Serialize};

use super::{CurrentStaff, IdPath, PageCtx, render, rooms::find_room};
use crate::{
    auth::ticket::{CallTicket, TICKET_SECS},
    db,
    domain::CallRole,
    error::AppError,
    state::AppState,
};

/// The call page. The same page serves every side; `role` decides what it shows (the relative
/// gets the device check first; the bedside starts at once, hands-free).
#[derive(Template)]
#[template(path = "call.html")]
pub struct CallPage {
    pub ctx: PageCtx,
    pub role: CallRole,
    pub title: String,
    pub ticket_url: String,
    /// Where "back" leads after the call: the desk for staff, the visit page for relatives.
    pub exit_url: String,
    /// For a relative's waiting room: who they visit and when.
    pub waiting_for: String,
    /// For a relative's end screen: the ward's phone ("" when none).
    pub ward_phone: String,
    /// For a relative's end screen after hanging up: their next visit, written ("" when none).
    pub next_visit: String,
}

impl CallPage {
    fn role_name(&self) -> &'static str {
        self.role.as_str()
    }

    fn is_staff(&self) -> bool {
        self.role == CallRole::Staff
    }
}

/// Which side a staff member opens.
#[derive(Debug, Deserialize)]
pub struct SideQuery {
    #[serde(default, rename = "as")]
    side: Option<String>,
}

fn staff_side(query: &SideQuery) -> Result<CallRole, AppError> {
    match query.side.as_deref() {
        None | Some("patient") => Ok(CallRole::Patient),
        Some("staff") => Ok(CallRole::Staff),
        Some(_) => Err(AppError::bad_request()),
    }
}

/// `GET /rooms/{id}/call?as=patient|staff`: the bedside view (large video, a few large buttons,
/// nothing about other patients) or a nurse's own view of the call.
pub async fn staff_call(
    State(state): State<AppState>,
    staff: CurrentStaff,
    ctx: PageCtx,
    IdPath(id): IdPath,
    Query(query): Query<SideQuery>,
) -> Result<Response, AppError> {
    let role = staff_side(&query)?;
    let room = find_room(&state, &staff, id.as_str(), &ctx.path).await?;
    if !room.is_open() {
        return Err(AppError::conflict(|t| t.err_room_closed));
    }
    render(&CallPage {
        title: room.patient_name.clone(),
        ctx,
        role,
        ticket_url: format!("/rooms/{}/ticket?as={}", room.id, role.as_str()),
        // Not the room page: a device used for the patient's side must not be left one Back
        // press from patient lists.
        exit_url: "/desk".into(),
        waiting_for: String::new(),
        ward_phone: String::new(),
        next_visit: String::new(),
    })
}

/// A ticket for the page's next handshake.
#[derive(Debug, Serialize)]
pub struct TicketResponse {
    pub ticket: String,
}

/// `GET /rooms/{id}/ticket?as=patient|staff`: a short-lived ticket for this room, for a signed-in
/// staff member.
pub async fn staff_ticket(
    State(state): State<AppState>,
    staff: CurrentStaff,
    ctx: PageCtx,
    IdPath(id): IdPath,
    Query(query): Query<SideQuery>,
) -> Result<Json<TicketResponse>, AppError> {
    let role = staff_side(&query)?;
    let room = find_room(&state, &staff, id.as_str(), &ctx.path).await?;
    if !room.is_open() {
        return Err(AppError::conflict(|t| t.err_room_closed));
    }
    let display_name = match role {
        CallRole::Patient => room.patient_name,
        _ => staff.display_name,
    };
    let ticket = CallTicket {
        room_id: room.id,
        role,
        display_name,
        staff_id: Some(staff.id),
        invite_id: None,
        device_id: None,
        expires_at: db::now() + TICKET_SECS,
    };
    Ok(Json(TicketResponse {
        ticket: ticket.seal(&state.secret),
    }))
}
