//! Rooms: the list of open rooms with who is in each, one room's page (invites, call buttons),
//! creating and closing.

use std::{collections::HashMap, sync::Arc};

use askama::Template;
use axum::{
    Json,
    extract::State,
    response::{Redirect, Response},
};

use super::{FormErrors, IdPath, PageCtx, patients::find_patient, render};
use serde::Deserialize;

use crate::{
    actions,
    db::{self, invites::Invite, rooms::RoomView},
    domain::{InviteStatus, RandomId},
    error::AppError,
    i18n::{Lang, Text},
    signaling::PresenceEntry,
    state::AppState,
    web::CurrentStaff,
};

/// Who is in a room, as one line of text.
fn presence_line(entries: Option<&Vec<PresenceEntry>>, t: &Text) -> Option<String> {
    let entries = entries.filter(|e| !e.is_empty())?;
    let names: Vec<String> = entries
        .iter()
        .map(|e| format!("{} ({})", e.name, e.role.label(t)))
        .collect();
    Some(names.join(", "))
}

#[derive(Template)]
#[template(path = "rooms/list.html")]
struct RoomsPage<'a> {
    ctx: PageCtx,
    rooms: Vec<(&'a RoomView, Option<String>)>,
}

/// `GET /rooms`: every open room with its patient, ward, bed, creation time and who is in it.
pub async fn list(
    State(state): State<AppState>,
    staff: CurrentStaff,
    ctx: PageCtx,
) -> Result<Response, AppError> {
    let presence = state.signaling.presence();
    let rooms = state
        .caches
        .open_rooms
        .get_or_load(&(), || async {
            Ok::<_, AppError>(Some(Arc::new(db::rooms::list_open(&state.db).await?)))
        })
        .await?
        .unwrap_or_default();
    let rows = rooms
        .iter()
        .map(|room| (room, presence_line(presence.get(&room.id), ctx.t)))
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

/// The invite form on the room page.
#[derive(Debug, Default, Deserialize)]
pub struct InviteForm {
    #[serde(default)]
    pub relative_name: String,
    #[serde(default)]
    pub relationship: String,
    #[serde(default)]
    pub lang: String,
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
    invites: Vec<InviteRow>,
    form: InviteForm,
    errors: FormErrors,
    languages: [Lang; 2],
}

impl RoomPage {
    /// Loads what the page shows around `room`.
    pub async fn load(
        state: &AppState,
        ctx: PageCtx,
        room: RoomView,
        form: InviteForm,
        errors: FormErrors,
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
        let form = InviteForm {
            lang: if form.lang.is_empty() {
                ctx.lang.code().to_string()
            } else {
                form.lang
            },
            ..form
        };
        Ok(RoomPage {
            ctx,
            room,
            here,
            invites,
            form,
            errors,
            languages: Lang::ALL,
        })
    }

    fn language_name(&self, lang: &Lang) -> &'static str {
        match lang {
            Lang::Es => "Español",
            Lang::En => "English",
        }
    }
}

/// Loads a room named in a path, or 404.
pub async fn find_room(state: &AppState, id: &str) -> Result<RoomView, AppError> {
    let id = RandomId::parse(id).ok_or_else(AppError::not_found)?;
    db::rooms::find(&state.db, id.as_str())
        .await?
        .ok_or_else(AppError::not_found)
}

/// `GET /rooms/{id}`.
pub async fn show(
    State(state): State<AppState>,
    staff: CurrentStaff,
    ctx: PageCtx,
    IdPath(id): IdPath,
) -> Result<Response, AppError> {
    let room = find_room(&state, id.as_str()).await?;
    let page = RoomPage::load(
        &state,
        ctx.with_staff(&staff),
        room,
        InviteForm::default(),
        FormErrors::default(),
    )
    .await?;
    render(&page)
}

/// `POST /patients/{id}/rooms`: opens a room for an admitted patient; 409 once discharged.
pub async fn create(
    State(state): State<AppState>,
    staff: CurrentStaff,
    IdPath(patient_id): IdPath,
) -> Result<Redirect, AppError> {
    let patient = find_patient(&state, patient_id.as_str()).await?;
    let room_id = actions::create_room(&state, &staff, &patient.id).await?;
    Ok(Redirect::to(&format!("/rooms/{room_id}")))
}

/// `POST /rooms/{id}/close`: everyone in the call is removed.
pub async fn close(
    State(state): State<AppState>,
    staff: CurrentStaff,
    IdPath(id): IdPath,
) -> Result<Redirect, AppError> {
    let room = find_room(&state, id.as_str()).await?;
    actions::close_room(&state, &staff, &room.id).await?;
    Ok(Redirect::to("/rooms"))
}
