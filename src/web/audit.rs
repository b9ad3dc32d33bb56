//! The administrators' audit page: the state of the hash chain, and the actions with filters
//! (who, which action, dates), newest first, paged by id.

use askama::Template;
use axum::{
    extract::{Query, State},
    http::StatusCode,
    response::Response,
};
use serde::Deserialize;

use super::{AdminStaff, FormErrors, PageCtx, render_with_status};
use crate::{
    cache::AuditChecked,
    db::{
        self,
        audit::{Break, ChainState, Filter, Listed},
        staff::Staff,
    },
    domain::{AuditAction, FieldError},
    error::AppError,
    i18n::with_number,
    state::AppState,
};

/// Rows per page.
const PAGE_ROWS: i64 = 100;

/// The filters, as the form sends them (every field may be empty).
#[derive(Debug, Default, Clone, Deserialize)]
pub struct AuditQuery {
    #[serde(default)]
    actor: String,
    #[serde(default)]
    action: String,
    #[serde(default)]
    from: String,
    #[serde(default)]
    until: String,
    /// Rows older than this id (the next page).
    #[serde(default)]
    before: Option<i64>,
}

impl AuditQuery {
    /// The query string of these filters, for the next page's link.
    fn filters_query(&self) -> String {
        serde_urlencoded::to_string([
            ("actor", self.actor.as_str()),
            ("action", self.action.as_str()),
            ("from", self.from.as_str()),
            ("until", self.until.as_str()),
        ])
        .unwrap_or_default()
    }
}

#[derive(Template)]
#[template(path = "admin/audit.html")]
struct AuditPage {
    ctx: PageCtx,
    chain: ChainState,
    query: AuditQuery,
    errors: FormErrors,
    staff: Vec<Staff>,
    rows: Vec<Listed>,
    /// The id to continue from, when there are older rows.
    older: Option<i64>,
}

impl AuditPage {
    fn chain_summary(&self) -> String {
        match self.chain.broken {
            None => self.ctx.t.audit_chain_intact.of(self.chain.rows),
            Some(Break::Row(id)) => with_number(self.ctx.t.audit_chain_broken_row, id),
            Some(Break::End { last, .. }) => with_number(self.ctx.t.audit_chain_broken_end, last),
        }
    }

    fn actions(&self) -> Vec<(&'static str, &'static str)> {
        AuditAction::ALL
            .iter()
            .map(|a| (a.as_str(), a.label(self.ctx.t)))
            .collect()
    }

    fn action_label(&self, row: &Listed) -> String {
        AuditAction::from_name(&row.action)
            .map_or_else(|| row.action.clone(), |a| a.label(self.ctx.t).to_string())
    }

    fn older_link(&self, before: &i64) -> String {
        format!(
            "/admin/audit?{}&before={before}",
            self.query.filters_query()
        )
    }

    fn newest_link(&self) -> String {
        format!("/admin/audit?{}", self.query.filters_query())
    }
}

/// The whole chain is walked again at least this often by the page; in between, a load checks
/// the rows written since the last one (a walk of a year's rows takes seconds).
const WALK_WHOLE_EVERY: std::time::Duration = std::time::Duration::from_secs(600);

/// The chain's state for the page: the rows after the last intact point, or the whole chain
/// when that is older than [`WALK_WHOLE_EVERY`] (one load at a time walks).
async fn check_chain(state: &AppState) -> Result<ChainState, AppError> {
    let mut checked = state.caches.audit_chain.lock().await;
    let since = checked
        .clone()
        .filter(|c| c.whole_at.elapsed() < WALK_WHOLE_EVERY);
    let (chain, point) =
        db::audit::verify_since(&state.db, since.as_ref().map(|c| &c.point)).await?;
    let whole_at = since.map_or_else(std::time::Instant::now, |c| c.whole_at);
    *checked = point.map(|point| AuditChecked { whole_at, point });
    Ok(chain)
}

/// `GET /admin/audit`: the chain's state, then the rows matching the filters. A filter that
/// does not read (a date that is not one, an unknown action) is said next to it, and no row is
/// listed until it is fixed.
pub async fn list(
    State(state): State<AppState>,
    admin: AdminStaff,
    ctx: PageCtx,
    Query(query): Query<AuditQuery>,
) -> Result<Response, AppError> {
    let t = ctx.t;
    let mut errors = FormErrors::default();
    let mut filter = Filter::default();
    if !query.actor.trim().is_empty() {
        filter.actor_id = Some(query.actor.trim().to_string());
    }
    let action = query.action.trim();
    if !action.is_empty() {
        match AuditAction::from_name(action) {
            Some(known) => filter.action = Some(known.as_str().to_string()),
            None => errors.add("action", FieldError::ChooseFromList, t),
        }
    }
    (filter.from, filter.until) = super::day_range(&ctx, &query.from, &query.until, &mut errors);

    let chain = check_chain(&state).await?;
    let staff = db::staff::list(&state.db).await?;
    let (mut rows, status) = if errors.is_empty() {
        let rows = db::audit::page(&state.db, &filter, query.before, PAGE_ROWS + 1).await?;
        (rows, StatusCode::OK)
    } else {
        (Vec::new(), StatusCode::UNPROCESSABLE_ENTITY)
    };
    let older = if rows.len() > PAGE_ROWS as usize {
        rows.truncate(PAGE_ROWS as usize);
        rows.last().map(|row| row.id)
    } else {
        None
    };
    render_with_status(
        status,
        &AuditPage {
            ctx: ctx.with_staff(&admin.0),
            chain,
            query,
            errors,
            staff,
            rows,
            older,
        },
    )
}
