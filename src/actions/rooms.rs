//! Rooms: opening one for a patient and closing it.

use crate::{
    db,
    domain::{AuditAction, StaffMember},
    error::AppError,
    state::AppState,
};

/// Opens a room for an admitted patient and returns its id; 409 once the patient is discharged.
pub async fn create_room(
    state: &AppState,
    by: &StaffMember,
    patient_id: &str,
) -> Result<String, AppError> {
    let mut tx = state.db.begin().await?;
    let Some(room_id) = db::rooms::create(&mut tx, patient_id, &by.id).await? else {
        return Err(AppError::conflict(|t| t.err_patient_discharged));
    };
    db::audit::record(
        &mut tx,
        Some(&by.id),
        AuditAction::RoomCreate,
        Some(&room_id),
    )
    .await?;
    let committed = tx.commit().await;
    state.caches.rooms_changed();
    committed?;
    Ok(room_id)
}

/// Closes a room; everyone in its call is removed.
pub async fn close_room(state: &AppState, by: &StaffMember, room_id: &str) -> Result<(), AppError> {
    let mut tx = state.db.begin().await?;
    if db::rooms::close(&mut tx, room_id, &by.id).await? {
        db::audit::record(&mut tx, Some(&by.id), AuditAction::RoomClose, Some(room_id)).await?;
    }
    let committed = tx.commit().await;
    state.caches.rooms_changed();
    committed?;
    let signaling = state.signaling.clone();
    let room_id = room_id.to_string();
    tokio::spawn(async move { signaling.end_room(&room_id).await });
    Ok(())
}
