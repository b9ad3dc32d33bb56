//! Patients: registering and discharging.

use crate::{
    db::{self, patients::NewPatient},
    domain::{AuditAction, StaffMember},
    error::AppError,
    state::AppState,
};

/// What registering a patient gave.
#[derive(Debug)]
pub enum Registered {
    /// The new patient's id.
    Created(String),
    /// Another patient has this record number; nothing was stored.
    RecordNumberTaken,
}

/// Registers a patient.
pub async fn register_patient(
    state: &AppState,
    by: &StaffMember,
    new: &NewPatient,
) -> Result<Registered, AppError> {
    let mut tx = state.db.begin().await?;
    let id = match db::patients::create(&mut tx, new, &by.id).await {
        Ok(id) => id,
        Err(err) if db::is_unique_violation(&err) => return Ok(Registered::RecordNumberTaken),
        Err(err) => return Err(err.into()),
    };
    db::audit::record(
        &mut tx,
        Some(&by.id),
        AuditAction::PatientRegister,
        Some(&id),
    )
    .await?;
    tx.commit().await?;
    Ok(Registered::Created(id))
}

/// Discharges a patient: no new rooms from now on, and every open room closes, in one
/// transaction with its audit rows; then everyone in those rooms' calls is removed.
pub async fn discharge_patient(
    state: &AppState,
    by: &StaffMember,
    patient_id: &str,
) -> Result<(), AppError> {
    let mut tx = state.db.begin().await?;
    let mut closed = Vec::new();
    if db::patients::discharge(&mut tx, patient_id, &by.id).await? {
        db::audit::record(
            &mut tx,
            Some(&by.id),
            AuditAction::PatientDischarge,
            Some(patient_id),
        )
        .await?;
        closed = db::rooms::close_all_for_patient(&mut tx, patient_id, &by.id).await?;
        for room in &closed {
            db::audit::record(&mut tx, Some(&by.id), AuditAction::RoomClose, Some(room)).await?;
        }
    }
    let committed = tx.commit().await;
    state.caches.rooms_changed();
    committed?;
    // In its own task: the removal must happen even if the request is dropped.
    let signaling = state.signaling.clone();
    tokio::spawn(async move {
        for room in &closed {
            signaling.end_room(room).await;
        }
    });
    Ok(())
}
