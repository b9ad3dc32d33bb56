//! The waiting room: letting a relative in (one, or all of a visit), telling them "not now", and
//! sending them away. Each is a stored, audited decision first; the move of the relative's socket
//! follows it.

use crate::{
    db,
    domain::{AdmissionHow, AuditAction, NotNowMessage, SendAwayReason, StaffMember},
    error::AppError,
    state::AppState,
};

/// Lets the relative holding this invite into the visit's call: stored and audited, then their
/// waiting screen moves into the call. An invite already admitted stays as it was (no new row).
pub async fn admit_relative(
    state: &AppState,
    by: &StaffMember,
    invite_id: &str,
    how: AdmissionHow,
) -> Result<(), AppError> {
    let mut tx = state.db.begin().await?;
    admit_in(&mut tx, by, invite_id, how).await?;
    let committed = tx.commit().await;
    state.caches.desk.bump();
    committed?;
    state.signaling.admit(invite_id);
    Ok(())
}

async fn admit_in(
    conn: impl Into<crate::db::Handle<'_>>,
    by: &StaffMember,
    invite_id: &str,
    how: AdmissionHow,
) -> Result<bool, AppError> {
    let mut conn = conn.into();
    let admitted = db::admissions::admit(&mut conn, invite_id, how, Some(&by.id)).await?;
    if admitted {
        db::audit::record_detail(
            &mut conn,
            Some(&by.id),
            AuditAction::VisitAdmit,
            Some(invite_id),
            Some(how.as_str()),
        )
        .await?;
    }
    Ok(admitted)
}

/// Lets the relatives of these visits in as soon as they arrive (no waiting room): the nurse
/// chose so when starting the visit. `only` narrows it to one relative's invite.
pub async fn admit_on_arrival(
    state: &AppState,
    by: &StaffMember,
    visit_ids: &[String],
    only_relative: Option<&str>,
) -> Result<(), AppError> {
    let mut tx = state.db.begin().await?;
    let mut admitted = Vec::new();
    for visit_id in visit_ids {
        for (invite_id, relative_id) in db::invites::of_visit(&mut tx, visit_id).await? {
            if only_relative.is_some_and(|only| relative_id.as_deref() != Some(only)) {
                continue;
            }
            admit_in(&mut tx, by, &invite_id, AdmissionHow::OnArrival).await?;
            admitted.push(invite_id);
        }
    }
    let committed = tx.commit().await;
    state.caches.desk.bump();
    committed?;
    for invite_id in &admitted {
        state.signaling.admit(invite_id);
    }
    Ok(())
}

/// Lets in everyone of a visit who is in the waiting room now; how many.
pub async fn admit_visit(
    state: &AppState,
    by: &StaffMember,
    visit_id: &str,
) -> Result<usize, AppError> {
    let waiting: Vec<String> = state
        .signaling
        .waiting()
        .into_iter()
        .filter(|w| w.visit_id.as_deref() == Some(visit_id))
        .map(|w| w.invite_id)
        .collect();
    let mut tx = state.db.begin().await?;
    for invite_id in &waiting {
        admit_in(&mut tx, by, invite_id, AdmissionHow::Nurse).await?;
    }
    let committed = tx.commit().await;
    state.caches.desk.bump();
    committed?;
    for invite_id in &waiting {
        state.signaling.admit(invite_id);
    }
    Ok(waiting.len())
}

/// Shows a "not now" message on the relative's waiting screen, in their language.
pub async fn tell_not_now(
    state: &AppState,
    by: &StaffMember,
    invite_id: &str,
    message: NotNowMessage,
) -> Result<(), AppError> {
    let mut conn = state.db.acquire().await?;
    db::audit::record_detail(
        &mut conn,
        Some(&by.id),
        AuditAction::VisitNotNow,
        Some(invite_id),
        Some(message.key()),
    )
    .await?;
    state.signaling.tell_not_now(invite_id, message);
    Ok(())
}

/// Sends a relative away from the waiting room: their invite for this visit ends (revoked), and
/// their screen says why.
pub async fn send_away(
    state: &AppState,
    by: &StaffMember,
    invite_id: &str,
    reason: SendAwayReason,
) -> Result<(), AppError> {
    let mut tx = state.db.begin().await?;
    if db::invites::revoke(&mut tx, invite_id, &by.id).await? {
        db::audit::record_detail(
            &mut tx,
            Some(&by.id),
            AuditAction::VisitSendAway,
            Some(invite_id),
            Some(reason.key()),
        )
        .await?;
    }
    let committed = tx.commit().await;
    state.caches.desk.bump();
    committed?;
    state.signaling.send_away(invite_id, reason);
    // In the call already (a race with an admission): out of it too.
    let signaling = state.signaling.clone();
    let invite_id = invite_id.to_string();
    tokio::spawn(async move { signaling.end_invite(&invite_id).await });
    Ok(())
}
