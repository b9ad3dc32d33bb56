//! The administrators' visit log, grouped by visit: each visit's scheduled and actual times, who
//! took part with their stays and why each ended, missed and cancelled visits, overrides; then
//! the stays outside any scheduled visit.

use std::collections::HashMap;

use askama::Template;
use axum::{extract::State, response::Response};

use super::{PageCtx, render};
use crate::{
    db::{self, visit_log::VisitRow, visits::Visit},
    domain::CallRole,
    error::AppError,
    state::AppState,
    web::AdminStaff,
};

/// How many visits the page shows.
const VISITS_SHOWN: i64 = 200;

/// One visit with its stays.
struct LoggedVisit {
    visit: Visit,
    stays: Vec<VisitRow>,
}

impl LoggedVisit {
    /// When the call actually began and ended: the first join and the last leave.
    fn actual(&self) -> (Option<i64>, Option<i64>) {
        let start = self.stays.iter().map(|s| s.joined_at).min();
        let open = self.stays.iter().any(|s| s.left_at.is_none());
        let end = if open {
            None
        } else {
            self.stays.iter().filter_map(|s| s.left_at).max()
        };
        (start, end)
    }

    fn missed(&self, now: i64) -> bool {
        self.visit.cancelled_at.is_none()
            && self.visit.effective_end() <= now
            && !self.stays.iter().any(|s| s.role == CallRole::Relative)
    }
}

#[derive(Template)]
#[template(path = "admin/visits.html")]
struct VisitLogPage {
    ctx: PageCtx,
    visits: Vec<LoggedVisit>,
    unscheduled: Vec<VisitRow>,
    now: i64,
}

impl VisitLogPage {
    fn role_label(&self, row: &VisitRow) -> &'static str {
        row.role.label(self.ctx.t)
    }

    fn reason_label(&self, row: &VisitRow) -> &'static str {
        row.end_reason.map_or("", |reason| reason.label(self.ctx.t))
    }

    fn override_label(&self, visit: &Visit) -> &'static str {
        visit.override_reason().map_or("", |r| r.label(self.ctx.t))
    }

    fn actual(&self, logged: &LoggedVisit) -> String {
        match logged.actual() {
            (Some(start), Some(end)) => {
                format!("{}–{}", self.ctx.time(&start), self.ctx.clock(&end))
            }
            (Some(start), None) => format!("{}–…", self.ctx.time(&start)),
            _ => "—".to_string(),
        }
    }

    fn missed(&self, logged: &LoggedVisit) -> bool {
        logged.missed(self.now)
    }
}

/// `GET /admin/visits`: the newest 200 visits that have started, with their stays.
pub async fn list(
    State(state): State<AppState>,
    admin: AdminStaff,
    ctx: PageCtx,
) -> Result<Response, AppError> {
    let now = db::now();
    let visits = db::visits::recent_started(&state.db, now, VISITS_SHOWN).await?;
    let stays = db::visit_log::stays_of_recent_visits(&state.db, now, VISITS_SHOWN).await?;
    let unscheduled = db::visit_log::unscheduled_stays(&state.db, 100).await?;
    let mut by_visit: HashMap<String, Vec<VisitRow>> = HashMap::new();
    for stay in stays {
        if let Some(id) = stay.scheduled_visit_id.clone() {
            by_visit.entry(id).or_default().push(stay);
        }
    }
    let visits = visits
        .into_iter()
        .map(|visit| LoggedVisit {
            stays: by_visit.remove(&visit.id).unwrap_or_default(),
            visit,
        })
        .collect();
    render(&VisitLogPage {
        ctx: ctx.with_staff(&admin.0),
        visits,
        unscheduled,
        now,
    })
}
