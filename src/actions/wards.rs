//! Wards: creating and changing one (name, hours, limits), date exceptions, and which nurses work
//! in which wards. A change of hours lists the booked visits that no longer fit, for the nurses to
//! move or keep with an override.

use std::sync::Arc;

use crate::{
    db::{
        self,
        visits::Visit,
        wards::{WardInput, WardRules},
    },
    domain::{AuditAction, DateException, StaffMember, VisitingHours},
    error::AppError,
    state::AppState,
};

/// What saving a ward gave.
#[derive(Debug)]
pub enum WardSaved {
    /// Stored: the ward's id and its booked visits that no longer fit its hours.
    Saved { id: String, misfits: Vec<Visit> },
    /// Another ward has this name; nothing was stored.
    NameTaken,
}

/// Every ward with its rules, from the cache or the database.
pub async fn ward_rules(state: &AppState) -> Result<Arc<Vec<WardRules>>, AppError> {
    let rules = state
        .caches
        .ward_rules
        .get_or_load(&(), || async {
            let mut conn = state.db.acquire().await?;
            Ok::<_, AppError>(Some(Arc::new(db::wards::load_rules(&mut conn).await?)))
        })
        .await?
        .unwrap_or_default();
    Ok(rules)
}

/// Every account's name, from the cache or the database.
pub async fn staff_names(state: &AppState) -> Result<Arc<Vec<db::staff::StaffName>>, AppError> {
    let names = state
        .caches
        .staff_names
        .get_or_load(&(), || async {
            Ok::<_, AppError>(Some(Arc::new(db::staff::list_names(&state.db).await?)))
        })
        .await?
        .unwrap_or_default();
    Ok(names)
}

/// The booked visits of a ward, not yet started and booked without an override, that `hours`
/// no longer allow.
pub async fn visits_outside(
    state: &AppState,
    ward_id: &str,
    hours: &VisitingHours,
) -> Result<Vec<Visit>, AppError> {
    let zone = state.config.time_zone.unwrap_or_default();
    let visits = db::visits::future_for_ward(&state.db, ward_id, db::now()).await?;
    Ok(visits
        .into_iter()
        .filter(|v| {
            v.override_reason.is_none()
                && !hours.allows(
                    zone,
                    crate::domain::Span {
                        start: v.starts_at,
                        end: v.ends_at,
                    },
                )
        })
        .collect())
}

async fn misfits_of(state: &AppState, ward_id: &str) -> Result<Vec<Visit>, AppError> {
    let rules = ward_rules(state).await?;
    match rules.iter().find(|r| r.ward.id == ward_id) {
        Some(rules) => visits_outside(state, ward_id, &rules.hours).await,
        None => Ok(Vec::new()),
    }
}

/// Creates a ward.
pub async fn create_ward(
    state: &AppState,
    by: &StaffMember,
    input: &WardInput<'_>,
) -> Result<WardSaved, AppError> {
    let mut tx = state.db.begin().await?;
    let id = match db::wards::create(&mut tx, input).await {
        Ok(id) => id,
        Err(err) if db::is_unique_violation(&err) => return Ok(WardSaved::NameTaken),
        Err(err) => return Err(err.into()),
    };
    db::audit::record(&mut tx, Some(&by.id), AuditAction::WardCreate, Some(&id)).await?;
    let committed = tx.commit().await;
    state.caches.wards_changed();
    committed?;
    Ok(WardSaved::Saved {
        id,
        misfits: Vec::new(),
    })
}

/// Changes a ward's name, hours and limits; 404 when it does not exist.
pub async fn update_ward(
    state: &AppState,
    by: &StaffMember,
    ward_id: &str,
    input: &WardInput<'_>,
) -> Result<WardSaved, AppError> {
    let mut tx = state.db.begin().await?;
    match db::wards::update(&mut tx, ward_id, input).await {
        Ok(true) => {}
        Ok(false) => return Err(AppError::not_found()),
        Err(err) if db::is_unique_violation(&err) => return Ok(WardSaved::NameTaken),
        Err(err) => return Err(err.into()),
    }
    db::audit::record(
        &mut tx,
        Some(&by.id),
        AuditAction::WardUpdate,
        Some(ward_id),
    )
    .await?;
    let committed = tx.commit().await;
    state.caches.wards_changed();
    committed?;
    Ok(WardSaved::Saved {
        id: ward_id.to_string(),
        misfits: misfits_of(state, ward_id).await?,
    })
}

/// Changes or closes a ward's hours for some dates; the booked visits that no longer fit.
pub async fn add_ward_exception(
    state: &AppState,
    by: &StaffMember,
    ward_id: &str,
    exception: &DateException,
    reason: &str,
) -> Result<Vec<Visit>, AppError> {
    let mut tx = state.db.begin().await?;
    let id = db::wards::add_exception(&mut tx, ward_id, exception, reason, &by.id).await?;
    db::audit::record_detail(
        &mut tx,
        Some(&by.id),
        AuditAction::WardExceptionAdd,
        Some(&id),
        Some(&format!(
            "{} {}..{}",
            ward_id, exception.first, exception.last
        )),
    )
    .await?;
    let committed = tx.commit().await;
    state.caches.wards_changed();
    committed?;
    misfits_of(state, ward_id).await
}

/// Removes a date exception; 404 when there is none such.
pub async fn remove_ward_exception(
    state: &AppState,
    by: &StaffMember,
    ward_id: &str,
    exception_id: &str,
) -> Result<(), AppError> {
    let mut tx = state.db.begin().await?;
    if !db::wards::remove_exception(&mut tx, ward_id, exception_id, &by.id).await? {
        return Err(AppError::not_found());
    }
    db::audit::record(
        &mut tx,
        Some(&by.id),
        AuditAction::WardExceptionRemove,
        Some(exception_id),
    )
    .await?;
    let committed = tx.commit().await;
    state.caches.wards_changed();
    committed?;
    Ok(())
}

/// Sets the wards a staff member works in.
pub async fn assign_wards(
    state: &AppState,
    by: &StaffMember,
    staff_id: &str,
    ward_ids: &[String],
) -> Result<(), AppError> {
    let mut tx = state.db.begin().await?;
    db::wards::assign(&mut tx, staff_id, ward_ids).await?;
    db::audit::record_detail(
        &mut tx,
        Some(&by.id),
        AuditAction::StaffAssignWards,
        Some(staff_id),
        Some(&ward_ids.join(",")),
    )
    .await?;
    let committed = tx.commit().await;
    state.caches.wards_changed();
    committed?;
    Ok(())
}

/// Records that a staff member was refused something of a ward they do not work in.
pub async fn refuse_access(state: &AppState, by: &StaffMember, subject: &str, path: &str) {
    let written = async {
        let mut conn = state.db.acquire().await?;
        db::audit::record_detail(
            &mut conn,
            Some(&by.id),
            AuditAction::AccessRefused,
            Some(subject),
            Some(path),
        )
        .await
    }
    .await;
    if let Err(err) = written {
        tracing::warn!(error = %err, "recording a refused access");
    }
}
