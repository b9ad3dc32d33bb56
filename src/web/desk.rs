//! The visit desk, the nurse's home page: today's visits of their wards in time order, each with
//! its state, and the waiting room, updating by itself. The page holds a request open on
//! `/desk/version?after=N`, answered from one counter in memory (no database query) as soon as it
//! moves; only then, or every half minute for states that change with the clock (a visit becoming
//! missed), does it fetch fresh rows.

use std::{collections::HashMap, sync::Arc};

use askama::Template;
use axum::{
    Json,
    extract::{Query, State},
    response::Response,
};
use serde::Deserialize;

use super::{PageCtx, render, ward_access};
use crate::{
    actions,
    cache::DeskDay,
    db::{
        self,
        visits::{Attendance, Visit, VisitInvite},
        wards::Ward,
    },
    domain::{Span, VisitFacts, VisitState, parse_date},
    error::AppError,
    state::AppState,
    web::CurrentStaff,
};

/// One desk row.
pub struct DeskRow {
    pub visit: Visit,
    pub state: VisitState,
    /// Relatives with the name each goes by.
    pub relatives: Vec<String>,
    /// Who is in the call now, when someone is.
    pub in_call: Vec<String>,
    /// When relatives first joined (for the running duration) and last left.
    pub since: Option<i64>,
    pub until: Option<i64>,
    /// Booked without an override at a time the ward's hours no longer allow.
    pub misfit: bool,
}

impl DeskRow {
    /// How long relatives were in (or have been so far), `m:ss`.
    pub fn duration(&self, now: i64) -> String {
        let Some(since) = self.since else {
            return String::new();
        };
        let end = if self.state == VisitState::InCall {
            now
        } else {
            self.until.unwrap_or(now)
        };
        let secs = (end - since).max(0);
        format!("{}:{:02}", secs / 60, secs % 60)
    }
}

/// The day asked for (`?date=2026-12-08`), today by default.
#[derive(Debug, Default, Deserialize)]
pub struct DayQuery {
    #[serde(default)]
    date: String,
}

/// The rows of one day of the wards `staff` reaches.
pub async fn load_rows(
    state: &AppState,
    staff: &CurrentStaff,
    ctx: &PageCtx,
    day: chrono::NaiveDate,
) -> Result<Vec<DeskRow>, AppError> {
    let access = ward_access(state, staff).await?;
    let scope = access.scope(staff);
    let span = ctx.zone.day_span(day);
    // Read once per change, not per request: an open desk (or many) costs no query until
    // something it shows changes.
    let data = state
        .caches
        .desk_days
        .get_or_load(
            &state.caches.desk,
            (scope.map(str::to_string), day),
            || async {
                Ok::<_, AppError>(Arc::new(DeskDay {
                    visits: db::visits::list_between(&state.db, span, scope, None).await?,
                    invites: db::visits::invites_between(&state.db, span, scope, None).await?,
                    attendance: db::visits::attendance_between(&state.db, span, scope, None)
                        .await?,
                }))
            },
        )
        .await?;
    rows(state, ctx, &data.visits, &data.invites, &data.attendance).await
}

/// Turns visits and what is known of them into desk rows.
pub async fn rows(
    state: &AppState,
    ctx: &PageCtx,
    visits: &[Visit],
    invites: &[VisitInvite],
    attendance: &[Attendance],
) -> Result<Vec<DeskRow>, AppError> {
    let now = db::now();
    let presence = state.signaling.presence();
    let rules = actions::ward_rules(state).await?;
    let mut by_visit: HashMap<&str, Vec<&VisitInvite>> = HashMap::new();
    for invite in invites {
        by_visit.entry(&invite.visit_id).or_default().push(invite);
    }
    let came: HashMap<&str, &Attendance> = attendance
        .iter()
        .map(|a| (a.visit_id.as_str(), a))
        .collect();
    Ok(visits
        .iter()
        .map(|visit| {
            let mine = by_visit.get(visit.id.as_str()).cloned().unwrap_or_default();
            let in_room = presence.get(&visit.room_id);
            let in_call: Vec<String> = in_room
                .map(|entries| {
                    entries
                        .iter()
                        .filter(|e| {
                            e.invite_id
                                .as_deref()
                                .is_none_or(|id| mine.iter().any(|i| i.invite_id == id))
                        })
                        .map(|e| e.label(ctx.t))
                        .collect()
                })
                .unwrap_or_default();
            let relative_in_call = in_room.is_some_and(|entries| {
                entries.iter().any(|e| {
                    e.invite_id
                        .as_deref()
                        .is_some_and(|id| mine.iter().any(|i| i.invite_id == id))
                })
            });
            let attended = came.get(visit.id.as_str());
            let facts = VisitFacts {
                now,
                ends_at: visit.effective_end(),
                cancelled: visit.cancelled_at.is_some(),
                relative_in_call,
                relative_came: attended.is_some(),
                link_opened: mine.iter().any(|i| i.opened_at.is_some()),
            };
            let misfit = visit.override_reason.is_none()
                && visit.cancelled_at.is_none()
                && rules
                    .iter()
                    .find(|r| r.ward.id == visit.ward_id)
                    .is_some_and(|r| {
                        !r.hours.allows(
                            ctx.zone,
                            Span {
                                start: visit.starts_at,
                                end: visit.ends_at,
                            },
                        )
                    });
            DeskRow {
                state: facts.state(),
                relatives: mine
                    .iter()
                    .filter(|i| i.revoked_at.is_none())
                    .map(|i| format!("{} ({})", i.relative_name, i.relationship))
                    .collect(),
                in_call: if relative_in_call {
                    in_call
                } else {
                    Vec::new()
                },
                since: attended.map(|a| a.first_join),
                until: attended.and_then(|a| if a.open_stays > 0 { None } else { a.last_leave }),
                misfit,
                visit: visit.clone(),
            }
        })
        .collect())
}

#[derive(Template)]
#[template(path = "desk/page.html")]
struct DeskPage {
    ctx: PageCtx,
    day: chrono::NaiveDate,
    today: bool,
    rows: Vec<DeskRow>,
    now: i64,
    version: u64,
    wards: Vec<Ward>,
    previous: chrono::NaiveDate,
    next: chrono::NaiveDate,
    /// Booked visits of these wards that the hours no longer allow (after a change of hours or
    /// a date exception), for the nurse to move or keep with an override.
    misfits: Arc<Vec<Visit>>,
    /// Who waits in the waiting room.
    waiting: super::waiting::WaitingPanel,
    /// What holds video back now (the site's budget, wards at their limit).
    limits: Vec<String>,
}

#[derive(Template)]
#[template(path = "desk/rows.html")]
struct DeskRows {
    ctx: PageCtx,
    rows: Vec<DeskRow>,
    now: i64,
    limits: Vec<String>,
}

/// What holds video back now, for the desk: the site's video budget (caps lowered to the floor,
/// calls audio-only) and each ward running as many video visits as it allows.
fn limits(state: &AppState, ctx: &PageCtx, rows: &[DeskRow], wards: &[Ward]) -> Vec<String> {
    let mut notes = Vec::new();
    let load = state.signaling.site_load();
    if load.at_limit(state.config.video_floor_kbps) {
        if let Some(share) = load.share_kbps {
            notes.push(
                ctx.t
                    .site_budget_reached
                    .replace("{kbps}", &share.to_string()),
            );
        }
        if load.audio_only_calls > 0 {
            notes.push(ctx.t.audio_only_calls.of(load.audio_only_calls));
        }
    }
    for ward in wards {
        let running = rows
            .iter()
            .filter(|r| r.visit.ward_id == ward.id && r.state == VisitState::InCall)
            .count();
        let max = usize::try_from(ward.max_video_visits).unwrap_or(0);
        if max > 0 && running >= max {
            notes.push(
                ctx.t
                    .ward_video_full
                    .replace("{ward}", &ward.name)
                    .replace("{running}", &running.to_string())
                    .replace("{max}", &max.to_string()),
            );
        }
    }
    notes
}

/// The wards this staff member's desk shows.
async fn desk_wards(state: &AppState, staff: &CurrentStaff) -> Result<Vec<Ward>, AppError> {
    let access = ward_access(state, staff).await?;
    Ok(super::wards::all_wards(state)
        .await?
        .into_iter()
        .filter(|w| access.allows(&w.id))
        .collect())
}

macro_rules! row_helpers {
    ($page:ty) => {
        impl $page {
            fn state_label(&self, row: &DeskRow) -> &'static str {
                row.state.label(self.ctx.t)
            }

            fn changeable(&self, row: &DeskRow) -> bool {
                row.visit.is_changeable(self.now)
            }

            fn duration(&self, row: &DeskRow) -> String {
                row.duration(self.now)
            }
        }
    };
}

row_helpers!(DeskPage);
row_helpers!(DeskRows);

fn day_of(query: &DayQuery, ctx: &PageCtx) -> chrono::NaiveDate {
    parse_date(&query.date).unwrap_or_else(|_| ctx.today())
}

/// `GET /desk?date=`: the day's visits of the nurse's wards (all wards for administrators).
pub async fn show(
    State(state): State<AppState>,
    staff: CurrentStaff,
    ctx: PageCtx,
    Query(query): Query<DayQuery>,
) -> Result<Response, AppError> {
    let version = state.caches.desk.get();
    let ctx = ctx.with_staff(&staff);
    let day = day_of(&query, &ctx);
    let rows = load_rows(&state, &staff, &ctx, day).await?;
    let access = ward_access(&state, &staff).await?;
    let wards = desk_wards(&state, &staff).await?;
    let key = (access.scope(&staff).map(str::to_string), db::now() / 3600);
    let misfits = state
        .caches
        .misfits
        .get_or_load(&state.caches.desk, key, || async {
            let rules = actions::ward_rules(&state).await?;
            let mut misfits = Vec::new();
            for ward in &wards {
                if let Some(rules) = rules.iter().find(|r| r.ward.id == ward.id) {
                    misfits.extend(actions::visits_outside(&state, &ward.id, &rules.hours).await?);
                }
            }
            misfits.sort_by_key(|v| v.starts_at);
            Ok::<_, AppError>(Arc::new(misfits))
        })
        .await?;
    let waiting =
        super::waiting::WaitingPanel::load(&state, &staff, ctx.clone(), None, "/desk".into())
            .await?;
    render(&DeskPage {
        limits: limits(&state, &ctx, &rows, &wards),
        waiting,
        today: day == ctx.today(),
        previous: day - chrono::Duration::days(1),
        next: day + chrono::Duration::days(1),
        ctx,
        day,
        rows,
        now: db::now(),
        version,
        wards,
        misfits,
    })
}

/// `GET /desk/rows?date=`: the table body alone, for the page to swap in.
pub async fn rows_fragment(
    State(state): State<AppState>,
    staff: CurrentStaff,
    ctx: PageCtx,
    Query(query): Query<DayQuery>,
) -> Result<Response, AppError> {
    let day = day_of(&query, &ctx);
    let rows = load_rows(&state, &staff, &ctx, day).await?;
    let wards = desk_wards(&state, &staff).await?;
    render(&DeskRows {
        limits: limits(&state, &ctx, &rows, &wards),
        ctx,
        rows,
        now: db::now(),
    })
}

/// What `/desk/version` answers.
#[derive(Debug, serde::Serialize)]
pub struct DeskVersion {
    /// Moves on whenever something the desk shows changed.
    pub version: u64,
}

/// `?after=N`: answer only once the count is no longer N (or after 20 s).
#[derive(Debug, Default, Deserialize)]
pub struct VersionQuery {
    #[serde(default)]
    after: Option<u64>,
}

/// How long `/desk/version?after=` holds a request open when nothing changes (under the pages'
/// 30 s timeout).
const LONG_POLL: std::time::Duration = std::time::Duration::from_secs(20);

/// `GET /desk/version`: one counter from memory; the desk fetches rows only when it moved. With
/// `?after=N` the answer waits until it moves (a long poll): a relative who starts waiting shows
/// on every open desk at once.
pub async fn version(
    State(state): State<AppState>,
    _staff: CurrentStaff,
    Query(query): Query<VersionQuery>,
) -> Json<DeskVersion> {
    let version = match query.after {
        Some(seen) => state.caches.desk.after(seen, LONG_POLL).await,
        None => state.caches.desk.get(),
    };
    Json(DeskVersion { version })
}
