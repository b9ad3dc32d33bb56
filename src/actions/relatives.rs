//! The register of authorised relatives: authorising one and withdrawing an authorisation.

use crate::{
    db::{self, relatives::NewRelative},
    domain::{AuditAction, StaffMember},
    error::AppError,
    state::AppState,
};

/// Authorises a relative to visit an admitted patient; 409 once the patient is discharged.
pub async fn authorise_relative(
    state: &AppState,
    by: &StaffMember,
    new: &NewRelative<'_>,
) -> Result<String, AppError> {
    let mut tx = state.db.begin().await?;
    let Some(id) = db::relatives::create(&mut tx, new, &by.id).await? else {
        return Err(AppError::conflict(|t| t.err_patient_discharged));
    };
    db::audit::record(
        &mut tx,
        Some(&by.id),
        AuditAction::RelativeAuthorise,
        Some(&id),
    )
    .await?;
    tx.commit().await?;
    Ok(id)
}

/// Withdraws an authorisation: the relative's invites to visits not over are revoked, visits
/// left without any relative are cancelled, and the relative leaves a running call at once.
/// Returns how many visits were cancelled.
pub async fn withdraw_relative(
    state: &AppState,
    by: &StaffMember,
    relative_id: &str,
) -> Result<usize, AppError> {
    let mut tx = db::begin_write(&state.db, &state.write_gate).await?;
    let mut revoked = Vec::new();
    let mut cancelled = Vec::new();
    if db::relatives::withdraw(&mut tx, relative_id, &by.id).await? {
        db::audit::record(
            &mut tx,
            Some(&by.id),
            AuditAction::RelativeWithdraw,
            Some(relative_id),
        )
        .await?;
        revoked = db::invites::revoke_for_relative(&mut tx, relative_id, &by.id).await?;
        for invite in &revoked {
            db::audit::record(
                &mut tx,
                Some(&by.id),
                AuditAction::InviteRevoke,
                Some(invite),
            )
            .await?;
        }
        for visit_id in db::visits::left_without_relatives(&mut tx, db::now()).await? {
            if db::visits::cancel(&mut tx, &visit_id, &by.id, "relative-withdrawn").await? {
                db::audit::record_detail(
                    &mut tx,
                    Some(&by.id),
                    AuditAction::VisitCancel,
                    Some(&visit_id),
                    Some("relative-withdrawn"),
                )
                .await?;
                cancelled.push(visit_id);
            }
        }
    }
    let committed = tx.commit().await;
    state.caches.desk.bump();
    committed?;
    // In its own task: the removal must happen even if the request is dropped.
    let signaling = state.signaling.clone();
    tokio::spawn(async move {
        for invite in &revoked {
            signaling.end_invite(invite).await;
        }
    });
    Ok(cancelled.len())
}
