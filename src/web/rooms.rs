//! Rooms: the list of open rooms with who is in each, one room's page (invites, call buttons),
//! creating and closing.

use std::{collections::HashMap, sync::Arc};

use askama::Template;
use axum::{
    Json,
    extract::State,
    response::{Redirect, Response},
};

use super::{IdPath, PageCtx, patients::find_patient, render, require_ward, ward_access};

use crate::{
    actions,
    cache::{NextVisits, OpenRoom, Written},
    db::{self, invites::Invite, rooms::RoomView, visits::Visit},
    domain::{InviteStatus, RandomId},
    error::AppError,
    i18n::Text,
    signaling::PresenceEntry,
    state::AppState,
    web::CurrentStaff,
};

/// Who is in a room, as one line of text.
fn presence_line(entries: Option<&Vec<PresenceEntry>>, t: &Text) -> Option<String> {
    let entries = entries.filter(|e| !e.is_empty())?;
    let names: Vec<String> = entries.iter().map(|e| e.label(t)).collect();
    Some(names.join(", "))
}

/// One row of the rooms list.
struct RoomRow<'a> {
    room: &'a RoomView,
    /// When it was opened, written.
    created: &'a str,
    /// Who is in it now.
    here: Option<String>,
    /// When the current or next visit starts, written.
    next: Option<&'a str>,
}

#[derive(Template)]
#[template(path = "rooms/list.html")]
struct RoomsPage<'a> {
    ctx: PageCtx,
    rooms: Vec<RoomRow<'a>>,
}

/// `GET /rooms`: the open rooms of the nurse's wards with patient, ward, bed, who is in each and
/// the current or next visit.
pub async fn list(
    State(state): State<AppState>,
    staff: CurrentStaff,
    ctx: PageCtx,
) -> Result<Response, AppError> {
    let access = ward_access(&state, &staff).await?;
    // Read once a minute at most, and again after any change to visits.
    let minute = db::now() / 60 * 60;
    let zone = ctx.zone;
    let next = state
        .caches
        .next_visits
        .get_or_load(&state.caches.desk, minute, || async {
            let starts = db::visits::next_per_room(&state.db, minute).await?;
            Ok::<_, AppError>(Arc::new(
                starts
                    .into_iter()
                    .map(|(room, start)| (room, Written::of(start, zone)))
                    .collect::<NextVisits>(),
            ))
        })
        .await?;
    let presence = state.signaling.presence();
    let rooms = state
        .caches
        .open_rooms
        .get_or_load(&(), || async {
            let rooms = db::rooms::list_open(&state.db).await?;
            Ok::<_, AppError>(Some(Arc::new(
                rooms
                    .into_iter()
                    .map(|room| OpenRoom {
                        created: Written::of(room.created_at, zone),
                        room,
                    })
                    .collect::<Vec<_>>(),
            )))
        })
        .await?
        .unwrap_or_default();
    let lang = ctx.lang;
    let rows = rooms
        .iter()
        .filter(|open| access.allows(&open.room.ward_id))
        .map(|open| RoomRow {
            room: &open.room,
            created: open.created.get(lang),
            here: presence_line(presence.get(&open.room.id), ctx.t),
            next: next.get(&open.room.id).map(|w| w.get(lang)),
        })
        .collect();
    render(&RoomsPage {
        ctx: ctx.with_staff(&staff),
        rooms: rows,
    })
}

/// `GET /rooms/presence`: room id → who is there, for the rooms list to refresh itself.
pub async fn presence(
    State(state): State<AppState>,
    _staff: CurrentStaff,
    ctx: PageCtx,
) -> Json<HashMap<String, String>> {
    let presence = state.signaling.presence();
    Json(
        presence
            .iter()
            .filter_map(|(room, entries)| {
                Some((room.clone(), presence_line(Some(entries), ctx.t)?))
            })
            .collect(),
    )
}

/// An invite as the room page lists it.
pub struct InviteRow {
    pub invite: Invite,
    pub status: InviteStatus,
}

impl InviteRow {
    /// The status in the nurse's language.
    pub fn status_label(&self, t: &Text) -> &'static str {
        self.status.label(t)
    }
}

/// A room's page.
#[derive(Template)]
#[template(path = "rooms/show.html")]
pub struct RoomPage {
    ctx: PageCtx,
    room: RoomView,
    here: Option<String>,
    /// A bedside tablet of this room is connected.
    bedside_ready: bool,
    invites: Vec<InviteRow>,
    visits: Vec<Visit>,
}

impl RoomPage {
    /// Loads what the page shows around `room`.
    pub async fn load(
        state: &AppState,
        ctx: PageCtx,
        room: RoomView,
    ) -> Result<RoomPage, AppError> {
        let now = db::now();
        let invites = db::invites::list_for_room(&state.db, &room.id)
            .await?
            .into_iter()
            .map(|invite| InviteRow {
                status: invite.status(now),
                invite,
            })
            .collect();
        let here = presence_line(state.signaling.presence().get(&room.id), ctx.t);
        let visits = db::visits::upcoming_for_patient(&state.db, &room.patient_id, now)
            .await?
            .into_iter()
            .filter(|v| v.room_id == room.id && v.cancelled_at.is_none())
            .take(5)
            .collect();
        Ok(RoomPage {
            bedside_ready: state.signaling.bedside_ready(&room.id),
            ctx,
            room,
            here,
            invites,
            visits,
        })
    }
}

/// Loads a room named in a path that `staff` may reach, or 404 (audited when it is of another
/// ward).
pub async fn find_room(
    state: &AppState,
    staff: &CurrentStaff,
    id: &str,
    path: &str,
) -> Result<RoomView, AppError> {
    let id = RandomId::parse(id).ok_or_else(AppError::not_found)?;
    let room = db::rooms::find(&state.db, id.as_str())
        .await?
        .ok_or_else(AppError::not_found)?;
    require_ward(state, staff, &room.ward_id, &room.id, path).await?;
    Ok(room)
}

/// `GET /rooms/{id}`.
pub async fn show(
    State(state): State<AppState>,
    staff: CurrentStaff,
    ctx: PageCtx,
    IdPath(id): IdPath,
) -> Result<Response, AppError> {
    let room = find_room(&state, &staff, id.as_str(), &ctx.path).await?;
    let page = RoomPage::load(&state, ctx.with_staff(&staff), room).await?;
    render(&page)
}

/// `POST /patients/{id}/rooms`: opens a room for an admitted patient; 409 once discharged.
pub async fn create(
    State(state): State<AppState>,
    staff: CurrentStaff,
    ctx: PageCtx,
    IdPath(patient_id): IdPath,
) -> Result<Redirect, AppError> {
    let patient = find_patient(&state, &staff, patient_id.as_str(), &ctx.path).await?;
    let room_id = actions::create_room(&state, &staff, &patient.id).await?;
    Ok(Redirect::to(&format!("/rooms/{room_id}")))
}

/// `POST /rooms/{id}/close`: everyone in the call is removed.
pub async fn close(
    State(state): State<AppState>,
    staff: CurrentStaff,
    ctx: PageCtx,
    IdPath(id): IdPath,
) -> Result<Redirect, AppError> {
    let room = find_room(&state, &staff, id.as_str(), &ctx.path).await?;
    actions::close_room(&state, &staff, &room.id).await?;
    Ok(Redirect::to("/rooms"))
}

/// `GET /rooms/{id}/close`: what closing the room will do, and the button.
pub async fn close_confirm(
    State(state): State<AppState>,
    staff: CurrentStaff,
    ctx: PageCtx,
    IdPath(id): IdPath,
) -> Result<Response, AppError> {
    let room = find_room(&state, &staff, id.as_str(), &ctx.path).await?;
    let t = ctx.t;
    let people = super::confirm::in_call(&state, std::slice::from_ref(&room.id));
    let mut consequences = vec![t.confirm_invites_stop.to_string()];
    if people > 0 {
        consequences.push(t.confirm_leave_call.of(people));
    }
    super::confirm::page(&super::confirm::ConfirmPage {
        title: t
            .confirm_title_close_room
            .replace("{name}", &room.patient_name),
        consequences,
        action: format!("/rooms/{}/close", room.id),
        button: t.room_close_button,
        back: format!("/rooms/{}", room.id),
        reason: false,
        ctx: ctx.with_staff(&staff),
    })
}
