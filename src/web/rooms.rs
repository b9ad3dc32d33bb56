//! Rooms: the list of open rooms, one room's page, creating and closing.

use askama::Template;
use axum::{
    extract::{Path, State},
    response::{Redirect, Response},
};

use super::{PageCtx, patients::find_patient, render};
use crate::{
    app::AppState,
    auth::CurrentStaff,
    db::{self, rooms::RoomView},
    domain::RandomId,
    error::AppError,
};

#[derive(Template)]
#[template(path = "rooms/list.html")]
struct RoomsPage {
    ctx: PageCtx,
    rooms: Vec<RoomView>,
}

/// `GET /rooms`: every open room with its patient, ward, bed, creation time and who is in it.
pub async fn list(
    State(state): State<AppState>,
    staff: CurrentStaff,
    ctx: PageCtx,
) -> Result<Response, AppError> {
    let rooms = db::rooms::list_open(&state.db).await?;
    render(&RoomsPage {
        ctx: ctx.with_staff(&staff),
        rooms,
    })
}

#[derive(Template)]
#[template(path = "rooms/show.html")]
struct RoomPage {
    ctx: PageCtx,
    room: RoomView,
}

async fn find_room(state: &AppState, id: &str) -> Result<RoomView, AppError> {
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
    Path(id): Path<String>,
) -> Result<Response, AppError> {
    let room = find_room(&state, &id).await?;
    render(&RoomPage {
        ctx: ctx.with_staff(&staff),
        room,
    })
}

/// `POST /patients/{id}/rooms`: opens a room for an admitted patient; 409 once discharged.
pub async fn create(
    State(state): State<AppState>,
    staff: CurrentStaff,
    Path(patient_id): Path<String>,
) -> Result<Redirect, AppError> {
    let patient = find_patient(&state, &patient_id).await?;
    let mut tx = state.db.begin().await?;
    let Some(room_id) = db::rooms::create(&mut tx, &patient.id, &staff.id).await? else {
        return Err(AppError::conflict(|t| t.err_patient_discharged));
    };
    db::audit::record(&mut tx, Some(&staff.id), "room.create", Some(&room_id)).await?;
    tx.commit().await?;
    Ok(Redirect::to(&format!("/rooms/{room_id}")))
}

/// `POST /rooms/{id}/close`.
pub async fn close(
    State(state): State<AppState>,
    staff: CurrentStaff,
    Path(id): Path<String>,
) -> Result<Redirect, AppError> {
    let room = find_room(&state, &id).await?;
    let mut tx = state.db.begin().await?;
    if db::rooms::close(&mut tx, &room.id, &staff.id).await? {
        db::audit::record(&mut tx, Some(&staff.id), "room.close", Some(&room.id)).await?;
    }
    tx.commit().await?;
    Ok(Redirect::to("/rooms"))
}
