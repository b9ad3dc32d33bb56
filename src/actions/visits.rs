//! Scheduled visits: booking (once or repeated), "visit now", moving, cancelling and ending one.
//!
//! Every rule is checked inside the transaction that writes, which takes the write lock first
//! ([`db::begin_write`]): two nurses booking the last place of a ward at the same moment cannot
//! both get it.

use chrono::{NaiveDate, NaiveTime};

use super::{
    invites::{InviteFor, issue_invite},
    wards::ward_rules,
};
use crate::{
    db::{
        self,
        patients::Patient,
        relatives::Relative,
        visits::{NewVisit, Visit},
        wards::WardRules,
    },
    domain::{
        AuditAction, HospitalZone, OverrideReason, RandomId, Refusal, Repeat, Span, StaffMember,
        peak_with_one_more,
    },
    error::AppError,
    state::AppState,
};

/// A start may lie this far in the past (the form took a moment to send).
const PAST_GRACE_SECS: i64 = 120;

/// Why a visit is outside visiting hours, when it is on purpose.
#[derive(Debug, Clone)]
pub struct Override {
    pub reason: OverrideReason,
    /// Required for [`OverrideReason::Other`].
    pub note: Option<String>,
}

/// When a visit is wanted.
#[derive(Debug, Clone)]
pub enum When {
    /// A local date and time, with the days a repeat adds.
    At {
        date: NaiveDate,
        start: NaiveTime,
        repeat: Repeat,
    },
    /// Starting now ("visit now").
    Now,
}

/// A visit to book, parsed and loaded by the handler (the patient and relatives are of the
/// nurse's ward; the rules that can change meanwhile are checked again here).
#[derive(Debug)]
pub struct VisitRequest {
    pub patient: Patient,
    pub relatives: Vec<Relative>,
    pub when: When,
    pub minutes: i64,
    pub override_: Option<Override>,
}

/// What booking gave.
#[derive(Debug)]
pub struct Booked {
    /// The visits booked, in date order.
    pub visits: Vec<String>,
    /// The days of a repeat that could not be booked, and why.
    pub refused: Vec<(NaiveDate, Refusal)>,
}

/// Checks what holds for every day of a request.
fn check_request(
    request: &VisitRequest,
    patient: &Patient,
    relatives: &[Relative],
    rules: &WardRules,
    capacity: usize,
) -> Result<(), Refusal> {
    if patient.is_discharged() {
        return Err(Refusal::Discharged);
    }
    if let Some(reason) = &patient.no_visits_reason {
        return Err(Refusal::NoVisits(reason.clone()));
    }
    if let Some(gone) = relatives.iter().find(|r| !r.is_authorised()) {
        return Err(Refusal::RelativeWithdrawn(gone.display_name.clone()));
    }
    if relatives.is_empty() {
        return Err(Refusal::NoRelatives);
    }
    let max = capacity.saturating_sub(1);
    if relatives.len() > max {
        return Err(Refusal::TooManyRelatives { max });
    }
    if request.minutes > rules.ward.max_minutes {
        return Err(Refusal::TooLong {
            max: rules.ward.max_minutes,
        });
    }
    Ok(())
}

/// Checks one visit's time against the ward's hours, the patient's other visits and the ward's
/// limit. `except` is the visit being moved.
async fn check_span(
    conn: impl Into<crate::db::Handle<'_>>,
    zone: HospitalZone,
    rules: &WardRules,
    patient_id: &str,
    span: Span,
    overridden: bool,
    except: Option<&str>,
) -> Result<Result<(), Refusal>, AppError> {
    let mut conn = conn.into();
    if !overridden && !rules.hours.allows(zone, span) {
        return Ok(Err(Refusal::OutsideHours));
    }
    let mine = db::visits::patient_spans(&mut conn, patient_id, span, except).await?;
    if let Some(other) = mine.first() {
        return Ok(Err(Refusal::Overlap {
            other_start: other.start,
        }));
    }
    let ward = db::visits::ward_spans(&mut conn, &rules.ward.id, span, except).await?;
    if peak_with_one_more(span, &ward) > rules.ward.max_video_visits {
        return Ok(Err(Refusal::WardFull {
            max: rules.ward.max_video_visits,
        }));
    }
    Ok(Ok(()))
}

/// The real-time span of a visit at a local date and time.
fn span_at(zone: HospitalZone, date: NaiveDate, start: NaiveTime, minutes: i64) -> Option<Span> {
    let start = zone.to_utc(date.and_time(start))?;
    Some(Span {
        start,
        end: start + minutes * 60,
    })
}

/// The patient's open room, opened now when there is none.
pub(super) async fn room_for(
    conn: impl Into<crate::db::Handle<'_>>,
    by: &StaffMember,
    patient_id: &str,
) -> Result<String, AppError> {
    let mut conn = conn.into();
    if let Some(room) = db::rooms::list_for_patient(&mut conn, patient_id)
        .await?
        .into_iter()
        .find(|r| r.is_open())
    {
        return Ok(room.id);
    }
    let Some(room_id) = db::rooms::create(&mut conn, patient_id, &by.id).await? else {
        return Err(AppError::conflict(|t| t.err_patient_discharged));
    };
    db::audit::record(
        &mut conn,
        Some(&by.id),
        AuditAction::RoomCreate,
        Some(&room_id),
    )
    .await?;
    Ok(room_id)
}

/// Books a visit (or one per day of a repeat), with an invite for each relative. `Err(refusal)`
/// when nothing could be booked.
pub async fn schedule_visit(
    state: &AppState,
    by: &StaffMember,
    request: &VisitRequest,
) -> Result<Result<Booked, Refusal>, AppError> {
    let zone = state.config.time_zone.unwrap_or_default();
    let all_rules = ward_rules(state).await?;
    let mut tx = db::begin_write(&state.db, &state.write_gate).await?;
    // Read again inside the write lock: a discharge, a "no visits" or a withdrawal that
    // committed since the form was read wins.
    let Some(patient) = db::patients::find(&mut tx, &request.patient.id).await? else {
        return Err(AppError::not_found());
    };
    let Some(rules) = all_rules.iter().find(|r| r.ward.id == patient.ward_id) else {
        return Err(AppError::not_found());
    };
    let mut relatives = Vec::with_capacity(request.relatives.len());
    for relative in &request.relatives {
        match db::relatives::find(&mut tx, &relative.id).await? {
            Some(fresh) if fresh.patient_id == patient.id => relatives.push(fresh),
            _ => return Err(AppError::not_found()),
        }
    }
    if let Err(refusal) = check_request(
        request,
        &patient,
        &relatives,
        rules,
        state.config.room_capacity,
    ) {
        return Ok(Err(refusal));
    }

    let now = db::now();
    let spans: Vec<(NaiveDate, Option<Span>)> = match &request.when {
        When::Now => {
            let today = zone.local_date(now).unwrap_or_default();
            vec![(
                today,
                Some(Span {
                    start: now,
                    end: now + request.minutes * 60,
                }),
            )]
        }
        When::At {
            date,
            start,
            repeat,
        } => repeat
            .dates(*date)
            .into_iter()
            .map(|day| (day, span_at(zone, day, *start, request.minutes)))
            .collect(),
    };

    let room_id = room_for(&mut tx, by, &patient.id).await?;
    let series = (spans.len() > 1).then(RandomId::new);
    let mut booked = Vec::new();
    let mut refused = Vec::new();
    for (day, span) in spans {
        let Some(span) = span else {
            refused.push((day, Refusal::NonexistentTime));
            continue;
        };
        if !matches!(request.when, When::Now) && span.start < now - PAST_GRACE_SECS {
            refused.push((day, Refusal::InPast));
            continue;
        }
        let overridden = request.override_.is_some();
        if let Err(refusal) =
            check_span(&mut tx, zone, rules, &patient.id, span, overridden, None).await?
        {
            refused.push((day, refusal));
            continue;
        }
        let id = RandomId::new();
        // Only an override that was needed is kept: a visit inside the hours is a plain one.
        let needed = request
            .override_
            .as_ref()
            .filter(|_| !rules.hours.allows(zone, span));
        db::visits::insert(
            &mut tx,
            &NewVisit {
                id: id.as_str(),
                patient_id: &patient.id,
                ward_id: &patient.ward_id,
                room_id: &room_id,
                span,
                override_reason: needed.map(|o| o.reason),
                override_note: needed.and_then(|o| o.note.as_deref()),
                series_id: series.as_ref().map(RandomId::as_str),
                created_by: &by.id,
            },
        )
        .await?;
        match needed {
            Some(o) => {
                let detail = match &o.note {
                    Some(note) => format!("{}: {note}", o.reason.as_str()),
                    None => o.reason.as_str().to_string(),
                };
                db::audit::record_detail(
                    &mut tx,
                    Some(&by.id),
                    AuditAction::VisitScheduleOverride,
                    Some(id.as_str()),
                    Some(&detail),
                )
                .await?;
            }
            None => {
                db::audit::record(
                    &mut tx,
                    Some(&by.id),
                    AuditAction::VisitSchedule,
                    Some(id.as_str()),
                )
                .await?;
            }
        }
        for relative in &relatives {
            let target = InviteFor {
                room_id: &room_id,
                visit_id: id.as_str(),
                relative,
                span,
                early_secs: state.config.invite_early_secs(),
            };
            let issued = issue_invite(&mut tx, &state.secret, by, &target).await?;
            if issued.is_none() {
                return Err(AppError::conflict(|t| t.err_room_closed));
            }
        }
        booked.push(id.to_string());
    }
    if booked.is_empty() {
        // Nothing to keep (a room opened for it stays unused): report the first day's reason.
        let first = refused
            .into_iter()
            .next()
            .map_or(Refusal::InPast, |(_, r)| r);
        return Ok(Err(first));
    }
    let committed = tx.commit().await;
    state.caches.rooms_changed();
    committed?;
    Ok(Ok(Booked {
        visits: booked,
        refused,
    }))
}

/// Moves a visit to another local date and time (and length); its invites keep their link and
/// code and follow the new window.
pub async fn reschedule_visit(
    state: &AppState,
    by: &StaffMember,
    visit: &Visit,
    date: NaiveDate,
    start: NaiveTime,
    minutes: i64,
    override_: Option<&Override>,
) -> Result<Result<(), Refusal>, AppError> {
    let zone = state.config.time_zone.unwrap_or_default();
    let all_rules = ward_rules(state).await?;
    let Some(span) = span_at(zone, date, start, minutes) else {
        return Ok(Err(Refusal::NonexistentTime));
    };
    let mut tx = db::begin_write(&state.db, &state.write_gate).await?;
    let Some(fresh) = db::visits::find(&mut tx, &visit.id).await? else {
        return Err(AppError::not_found());
    };
    let now = db::now();
    if !fresh.is_changeable(now) {
        return Ok(Err(Refusal::NotChangeable));
    }
    let Some(patient) = db::patients::find(&mut tx, &fresh.patient_id).await? else {
        return Err(AppError::not_found());
    };
    let Some(rules) = all_rules.iter().find(|r| r.ward.id == fresh.ward_id) else {
        return Err(AppError::not_found());
    };
    if patient.is_discharged() {
        return Ok(Err(Refusal::Discharged));
    }
    if let Some(reason) = &patient.no_visits_reason {
        return Ok(Err(Refusal::NoVisits(reason.clone())));
    }
    if minutes > rules.ward.max_minutes {
        return Ok(Err(Refusal::TooLong {
            max: rules.ward.max_minutes,
        }));
    }
    if span.start < now - PAST_GRACE_SECS {
        return Ok(Err(Refusal::InPast));
    }
    if let Err(refusal) = check_span(
        &mut tx,
        zone,
        rules,
        &patient.id,
        span,
        override_.is_some(),
        Some(&fresh.id),
    )
    .await?
    {
        return Ok(Err(refusal));
    }
    let needed = override_.filter(|_| !rules.hours.allows(zone, span));
    db::visits::reschedule(
        &mut tx,
        &fresh.id,
        span,
        needed.map(|o| o.reason),
        needed.and_then(|o| o.note.as_deref()),
        state.config.invite_early_secs(),
    )
    .await?;
    let detail = match needed {
        Some(o) => format!(
            "{}..{} override {}{}",
            span.start,
            span.end,
            o.reason.as_str(),
            o.note
                .as_deref()
                .map(|n| format!(": {n}"))
                .unwrap_or_default()
        ),
        None => format!("{}..{}", span.start, span.end),
    };
    db::audit::record_detail(
        &mut tx,
        Some(&by.id),
        AuditAction::VisitReschedule,
        Some(&fresh.id),
        Some(&detail),
    )
    .await?;
    let committed = tx.commit().await;
    state.caches.desk.bump();
    committed?;
    Ok(Ok(()))
}

/// Cancels a visit with a reason: its links and codes stop working and anyone in its call is
/// removed.
pub async fn cancel_visit(
    state: &AppState,
    by: &StaffMember,
    visit_id: &str,
    reason: &str,
) -> Result<Result<(), Refusal>, AppError> {
    let mut tx = db::begin_write(&state.db, &state.write_gate).await?;
    if !db::visits::cancel(&mut tx, visit_id, &by.id, reason).await? {
        return Ok(Err(Refusal::NotChangeable));
    }
    db::audit::record_detail(
        &mut tx,
        Some(&by.id),
        AuditAction::VisitCancel,
        Some(visit_id),
        Some(reason),
    )
    .await?;
    let invites = db::invites::ids_of_visit(&mut tx, visit_id).await?;
    let committed = tx.commit().await;
    state.caches.desk.bump();
    committed?;
    end_invites(state, invites);
    Ok(Ok(()))
}

/// Ends a visit now: its links and codes stop working and its relatives leave the call.
pub async fn end_visit(
    state: &AppState,
    by: &StaffMember,
    visit_id: &str,
) -> Result<Result<(), Refusal>, AppError> {
    let mut tx = db::begin_write(&state.db, &state.write_gate).await?;
    if !db::visits::end_now(&mut tx, visit_id, &by.id).await? {
        return Ok(Err(Refusal::NotChangeable));
    }
    db::audit::record(&mut tx, Some(&by.id), AuditAction::VisitEnd, Some(visit_id)).await?;
    let invites = db::invites::ids_of_visit(&mut tx, visit_id).await?;
    let committed = tx.commit().await;
    state.caches.desk.bump();
    committed?;
    end_invites(state, invites);
    Ok(Ok(()))
}

/// Removes the relatives of these invites from their calls, in a task of its own: the removal
/// must happen even if the request is dropped.
fn end_invites(state: &AppState, invites: Vec<String>) {
    let signaling = state.signaling.clone();
    tokio::spawn(async move {
        for invite in &invites {
            signaling.end_invite(invite).await;
        }
    });
}

/// Adds an authorised relative to a visit that has not ended (their own link and code, for the
/// visit's window).
pub async fn add_relative_to_visit(
    state: &AppState,
    by: &StaffMember,
    visit_id: &str,
    relative_id: &str,
) -> Result<Result<(), Refusal>, AppError> {
    let mut tx = db::begin_write(&state.db, &state.write_gate).await?;
    let Some(visit) = db::visits::find(&mut tx, visit_id).await? else {
        return Err(AppError::not_found());
    };
    if !visit.is_changeable(db::now()) {
        return Ok(Err(Refusal::NotChangeable));
    }
    let Some(relative) = db::relatives::find(&mut tx, relative_id)
        .await?
        .filter(|r| r.patient_id == visit.patient_id)
    else {
        return Err(AppError::not_found());
    };
    if !relative.is_authorised() {
        return Ok(Err(Refusal::RelativeWithdrawn(relative.display_name)));
    }
    let invites = db::visits::invites_of(&mut tx, visit_id).await?;
    let active: Vec<_> = invites.iter().filter(|i| i.revoked_at.is_none()).collect();
    if active
        .iter()
        .any(|i| i.relative_id.as_deref() == Some(relative_id))
    {
        return Ok(Ok(()));
    }
    let max = state.config.room_capacity.saturating_sub(1);
    if active.len() >= max {
        return Ok(Err(Refusal::TooManyRelatives { max }));
    }
    let span = Span {
        start: visit.starts_at,
        end: visit.effective_end(),
    };
    let target = InviteFor {
        room_id: &visit.room_id,
        visit_id: &visit.id,
        relative: &relative,
        span,
        early_secs: state.config.invite_early_secs(),
    };
    let issued = issue_invite(&mut tx, &state.secret, by, &target).await?;
    if issued.is_none() {
        return Err(AppError::conflict(|t| t.err_room_closed));
    }
    let committed = tx.commit().await;
    state.caches.desk.bump();
    committed?;
    Ok(Ok(()))
}

/// Settles the outcomes of the visits that are over. Derived from their stays, so no audit row:
/// nothing is decided here, the log only reads what happened. Cheap when there is nothing to do
/// (one indexed read), so pages of the log call it before they read.
pub async fn settle_visits(state: &AppState) -> Result<u64, AppError> {
    let now = db::now();
    if state.caches.nothing_to_settle(now) {
        return Ok(0);
    }
    // Read before looking: a change during the look moves it, and the next page looks again.
    let version = state.caches.desk.get();
    if !db::history::unsettled_exist(&state.db, now).await? {
        state.caches.settled_at(version, now);
        return Ok(0);
    }
    Ok(db::history::settle_outcomes(&state.db, now).await?)
}

/// Records that `by` exported the visit log with these filters (the query string: names typed
/// in the filters, never a secret).
pub async fn record_export(
    state: &AppState,
    by: &StaffMember,
    filters: &str,
) -> Result<(), AppError> {
    let mut conn = state.db.acquire().await?;
    db::audit::record_detail(
        &mut conn,
        Some(&by.id),
        AuditAction::VisitLogExport,
        None,
        Some(filters),
    )
    .await?;
    Ok(())
}

/// Removes the records older than `--retain-days` ([`db::history::purge`]) and writes the
/// counts to the audit trail in the same transaction (the trail keeps its rows: they hold ids,
/// not contents, so the chain stays whole and verifiable). Nothing is written when nothing was
/// old enough.
pub async fn purge_expired(state: &AppState) -> Result<db::history::Purged, AppError> {
    let days = i64::from(state.config.retain_days);
    let cutoff = db::now() - days * 24 * 60 * 60;
    let mut tx = db::begin_write(&state.db, &state.write_gate).await?;
    let purged = db::history::purge(&mut tx, cutoff).await?;
    if purged.is_empty() {
        tx.commit().await?;
        return Ok(purged);
    }
    let detail = format!(
        "older than {days} days: visits={} stays={} invites={} relatives={}",
        purged.visits, purged.stays, purged.invites, purged.relatives
    );
    db::audit::record_detail(
        &mut tx,
        None,
        AuditAction::RetentionPurge,
        None,
        Some(&detail),
    )
    .await?;
    tx.commit().await?;
    state.caches.desk.bump();
    Ok(purged)
}
