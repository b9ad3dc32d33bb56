//! The week view of a ward, for planning: each day's visiting windows cut into slots of the
//! ward's default length, with the visits booked in each and the places left; a free slot opens
//! the schedule form at its date and time in one click (for the patient chosen at the top).

use askama::Template;
use axum::{
    extract::{Query, State},
    response::Response,
};
use chrono::{Duration, NaiveDate};
use serde::Deserialize;

use super::{IdPath, PageCtx, render, require_ward, visits::week_of};
use std::sync::Arc;

use crate::{
    actions,
    cache::WardWeek,
    db::{self, patients::Patient, visits::Visit, wards::WardRules},
    domain::{Occurrence, RandomId, Span, clock, parse_date},
    error::AppError,
    state::AppState,
    web::CurrentStaff,
};

/// One slot of a day.
pub struct Slot {
    pub start_label: String,
    pub time: String,
    pub span: Span,
    pub booked: Vec<Visit>,
    pub free: i64,
    pub past: bool,
}

/// One day of the week.
pub struct Day {
    pub date: NaiveDate,
    pub name: &'static str,
    pub slots: Vec<Slot>,
    /// Visits that day outside every slot (overrides).
    pub outside: Vec<Visit>,
    pub closed: bool,
}

#[derive(Template)]
#[template(path = "wards/week.html")]
struct WeekPage {
    ctx: PageCtx,
    rules: WardRules,
    monday: NaiveDate,
    days: Vec<Day>,
    patients: Vec<Patient>,
    patient: Option<Patient>,
    previous: NaiveDate,
    next: NaiveDate,
}

impl WeekPage {
    fn slot_link(&self, day: &Day, slot: &Slot) -> Option<String> {
        let patient = self.patient.as_ref()?;
        Some(format!(
            "/patients/{}/visits/new?date={}&time={}",
            patient.id, day.date, slot.time
        ))
    }
}

/// The week asked for and the patient being planned for.
#[derive(Debug, Default, Deserialize)]
pub struct WeekQuery {
    #[serde(default)]
    date: String,
    #[serde(default)]
    patient: String,
}

/// `GET /wards/{id}/week?date=&patient=`.
pub async fn show(
    State(state): State<AppState>,
    staff: CurrentStaff,
    ctx: PageCtx,
    IdPath(id): IdPath,
    Query(query): Query<WeekQuery>,
) -> Result<Response, AppError> {
    let rules = actions::ward_rules(&state)
        .await?
        .iter()
        .find(|r| r.ward.id == id.as_str())
        .cloned()
        .ok_or_else(AppError::not_found)?;
    require_ward(&state, &staff, &rules.ward.id, &rules.ward.id, &ctx.path).await?;
    let zone = ctx.zone;
    let day = parse_date(&query.date).unwrap_or_else(|_| ctx.today());
    let monday = week_of(day);
    let week = Span {
        start: zone.day_span(monday).start,
        end: zone.day_span(monday + Duration::days(6)).end,
    };
    let ward_id = rules.ward.id.clone();
    let data = state
        .caches
        .ward_weeks
        .get_or_load(&state.caches.desk, (ward_id.clone(), monday), || async {
            let visits = db::visits::list_between(&state.db, week, None, Some(&ward_id))
                .await?
                .into_iter()
                .filter(|v| v.cancelled_at.is_none())
                .collect();
            let patients = db::patients::admitted_in_ward(&state.db, &ward_id).await?;
            Ok::<_, AppError>(Arc::new(WardWeek { visits, patients }))
        })
        .await?;
    let visits = &data.visits;
    let now = db::now();
    let step = rules.ward.default_minutes.max(5);
    let days = (0..7)
        .map(|i| {
            let date = monday + Duration::days(i);
            let mut slots = Vec::new();
            for window in rules.hours.windows_on(date) {
                let mut minute = i64::from(window.start);
                while minute + step <= i64::from(window.end) {
                    let local =
                        date.and_hms_opt(0, 0, 0).unwrap_or_default() + Duration::minutes(minute);
                    let start = zone.instant(local, Occurrence::First);
                    let span = Span {
                        start,
                        end: start + step * 60,
                    };
                    let booked: Vec<Visit> = visits
                        .iter()
                        .filter(|v| {
                            Span {
                                start: v.starts_at,
                                end: v.effective_end(),
                            }
                            .overlaps(&span)
                        })
                        .cloned()
                        .collect();
                    let label = clock(u16::try_from(minute).unwrap_or(0));
                    slots.push(Slot {
                        time: label.clone(),
                        start_label: label,
                        free: (rules.ward.max_video_visits
                            - i64::try_from(booked.len()).unwrap_or(0))
                        .max(0),
                        booked,
                        past: span.start < now,
                        span,
                    });
                    minute += step;
                }
            }
            let day_span = zone.day_span(date);
            let outside = visits
                .iter()
                .filter(|v| v.starts_at >= day_span.start && v.starts_at < day_span.end)
                .filter(|v| !slots.iter().any(|s| s.booked.iter().any(|b| b.id == v.id)))
                .cloned()
                .collect();
            Day {
                date,
                name: ctx.t.weekdays[usize::try_from(i).unwrap_or(0)],
                closed: slots.is_empty(),
                slots,
                outside,
            }
        })
        .collect();
    let patients: Vec<Patient> = data.patients.clone();
    let patient = RandomId::parse(&query.patient)
        .and_then(|pid| patients.iter().find(|p| p.id == pid.as_str()).cloned());
    render(&WeekPage {
        ctx: ctx.with_staff(&staff),
        rules,
        monday,
        days,
        patients,
        patient,
        previous: monday - Duration::days(7),
        next: monday + Duration::days(7),
    })
}
