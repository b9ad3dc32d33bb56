//! Patients: registering and discharging.

use crate::{
    db::{
        self,
        patients::{NewPatient, PatientEdit},
        visits::Visit,
    },
    domain::{AuditAction, Span, StaffMember, UnpairReason},
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
    let committed = tx.commit().await;
    state.caches.desk.bump();
    committed?;
    Ok(Registered::Created(id))
}

/// What editing a patient gave.
#[derive(Debug)]
pub enum Updated {
    /// Stored; their booked visits that the (new) ward's hours do not allow.
    Saved { misfits: Vec<Visit> },
    /// Another patient has this record number; nothing was stored.
    RecordNumberTaken,
}

/// Changes a patient's details; a new ward takes their visits that have not started, which are
/// checked against its hours.
pub async fn update_patient(
    state: &AppState,
    by: &StaffMember,
    patient_id: &str,
    old_ward_id: &str,
    edit: &PatientEdit<'_>,
) -> Result<Updated, AppError> {
    let mut tx = db::begin_write(&state.db, &state.write_gate).await?;
    match db::patients::update(&mut tx, patient_id, edit).await {
        Ok(true) => {}
        Ok(false) => return Err(AppError::not_found()),
        Err(err) if db::is_unique_violation(&err) => return Ok(Updated::RecordNumberTaken),
        Err(err) => return Err(err.into()),
    }
    db::audit::record(
        &mut tx,
        Some(&by.id),
        AuditAction::PatientUpdate,
        Some(patient_id),
    )
    .await?;
    let mut unpaired = Vec::new();
    if edit.ward_id != old_ward_id {
        db::visits::move_future_to_ward(&mut tx, patient_id, edit.ward_id, db::now()).await?;
        // A new ward is a new bed: its tablet is paired there, not carried along.
        unpaired =
            super::devices::unpair_in(&mut tx, patient_id, None, Some(by), UnpairReason::Transfer)
                .await?;
        db::audit::record_detail(
            &mut tx,
            Some(&by.id),
            AuditAction::PatientTransfer,
            Some(patient_id),
            Some(&format!("{old_ward_id} -> {}", edit.ward_id)),
        )
        .await?;
    }
    let committed = tx.commit().await;
    state.caches.rooms_changed();
    committed?;
    super::devices::end_devices(state, unpaired);
    let rules = super::wards::ward_rules(state).await?;
    let zone = state.config.time_zone.unwrap_or_default();
    let misfits = match rules.iter().find(|r| r.ward.id == edit.ward_id) {
        Some(rules) => db::visits::upcoming_for_patient(&state.db, patient_id, db::now())
            .await?
            .into_iter()
            .filter(|v| {
                v.cancelled_at.is_none()
                    && v.override_reason.is_none()
                    && !rules.hours.allows(
                        zone,
                        Span {
                            start: v.starts_at,
                            end: v.ends_at,
                        },
                    )
            })
            .collect(),
        None => Vec::new(),
    };
    Ok(Updated::Saved { misfits })
}

/// Marks a patient as taking no visits for now (with the reason), or as taking them again
/// (`None`). Visits already booked stay; new ones are refused with the reason.
pub async fn set_no_visits(
    state: &AppState,
    by: &StaffMember,
    patient_id: &str,
    reason: Option<&str>,
) -> Result<(), AppError> {
    let mut tx = db::begin_write(&state.db, &state.write_gate).await?;
    if !db::patients::set_no_visits(&mut tx, patient_id, reason).await? {
        return Err(AppError::not_found());
    }
    let action = if reason.is_some() {
        AuditAction::PatientNoVisits
    } else {
        AuditAction::PatientVisitsAllowed
    };
    db::audit::record_detail(&mut tx, Some(&by.id), action, Some(patient_id), reason).await?;
    let committed = tx.commit().await;
    state.caches.desk.bump();
    committed?;
    Ok(())
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
    let mut unpaired = Vec::new();
    if db::patients::discharge(&mut tx, patient_id, &by.id).await? {
        unpaired =
            super::devices::unpair_in(&mut tx, patient_id, None, Some(by), UnpairReason::Discharge)
                .await?;
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
        for visit in db::visits::open_ids_for_patient(&mut tx, patient_id, db::now()).await? {
            if db::visits::cancel(&mut tx, &visit, &by.id, "discharged").await? {
                db::audit::record_detail(
                    &mut tx,
                    Some(&by.id),
                    AuditAction::VisitCancel,
                    Some(&visit),
                    Some("discharged"),
                )
                .await?;
            }
        }
    }
    let committed = tx.commit().await;
    state.caches.rooms_changed();
    committed?;
    super::devices::end_devices(state, unpaired);
    // In its own task: the removal must happen even if the request is dropped.
    let signaling = state.signaling.clone();
    tokio::spawn(async move {
        for room in &closed {
            signaling.end_room(room).await;
        }
    });
    Ok(())
}

/// Admits a discharged patient again (a discharge made by mistake): visits can be scheduled
/// again; a room opens with the first one. Their closed rooms and unpaired tablet stay so.
pub async fn readmit_patient(
    state: &AppState,
    by: &StaffMember,
    patient_id: &str,
) -> Result<(), AppError> {
    let mut tx = state.db.begin().await?;
    if !db::patients::readmit(&mut tx, patient_id).await? {
        return Err(AppError::conflict(|t| t.refuse_not_changeable));
    }
    db::audit::record(
        &mut tx,
        Some(&by.id),
        AuditAction::PatientReadmit,
        Some(patient_id),
    )
    .await?;
    let committed = tx.commit().await;
    state.caches.rooms_changed();
    committed?;
    Ok(())
}
