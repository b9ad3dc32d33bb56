//! The visit log, for administrators (every ward) and nurses (their wards): one row per visit
//! that has started, filtered (dates, ward, patient, relative, staff member, outcome, override)
//! and paged by keyset; a visit's detail with each participant's stays and call quality; the
//! filtered list exported as CSV, streamed; and the statistics page with server-drawn charts.

use std::{collections::HashMap, sync::Arc};

use askama::Template;
use axum::{
    body::{Body, Bytes},
    extract::{Query, State},
    http::{StatusCode, header},
    response::{IntoResponse, Redirect, Response},
};
use serde::Deserialize;

use super::{CurrentStaff, FormErrors, IdPath, PageCtx, render, render_with_status, ward_access};
use crate::{
    actions,
    auth::wards::WardAccess,
    db::{
        self,
        history::{Cursor, LogFilter, LoggedVisit, Page},
        staff::StaffName,
        visit_log::VisitRow,
        wards::Ward,
    },
    domain::{FieldError, OverrideReason, VisitOutcome},
    error::AppError,
    state::AppState,
};

/// Visits per page (enough for a screen, light on a phone).
const PAGE_VISITS: i64 = 50;
/// Stays outside a scheduled visit the newest page shows.
const UNSCHEDULED_SHOWN: i64 = 50;
/// Visits per database read of an export.
const EXPORT_BATCH: i64 = 500;
/// The longest text a name filter takes.
const MAX_NAME_FILTER: usize = 100;

/// The filters and the page, as the form and the paging links send them.
#[derive(Debug, Default, Clone, Deserialize)]
pub struct LogQuery {
    #[serde(default)]
    ward: String,
    #[serde(default)]
    from: String,
    #[serde(default)]
    until: String,
    #[serde(default)]
    patient: String,
    #[serde(default)]
    relative: String,
    #[serde(default)]
    staff: String,
    #[serde(default)]
    outcome: String,
    #[serde(default, rename = "override")]
    override_used: String,
    #[serde(default)]
    before: String,
    #[serde(default)]
    after: String,
    #[serde(default)]
    oldest: String,
}

impl LogQuery {
    /// The query string of the filters alone (for the paging links and the export).
    fn filters_query(&self) -> String {
        serde_urlencoded::to_string([
            ("ward", self.ward.as_str()),
            ("from", self.from.as_str()),
            ("until", self.until.as_str()),
            ("patient", self.patient.as_str()),
            ("relative", self.relative.as_str()),
            ("staff", self.staff.as_str()),
            ("outcome", self.outcome.as_str()),
            ("override", self.override_used.as_str()),
        ])
        .unwrap_or_default()
    }

    fn page(&self) -> Page {
        if let Some(cursor) = Cursor::from_param(&self.before) {
            Page::Older(cursor)
        } else if let Some(cursor) = Cursor::from_param(&self.after) {
            Page::Newer(cursor)
        } else if !self.oldest.is_empty() {
            Page::Oldest
        } else {
            Page::Newest
        }
    }
}

/// What the filter form offers, and what it read.
struct Filters {
    filter: LogFilter,
    errors: FormErrors,
    wards: Vec<Ward>,
    staff: Arc<Vec<StaffName>>,
}

/// Reads the filters against what the reader may see: a ward they do not work in, an unknown
/// staff member or outcome, a date that is not one: each said next to its field.
async fn read_filters(
    state: &AppState,
    staff: &CurrentStaff,
    ctx: &PageCtx,
    query: &LogQuery,
) -> Result<Filters, AppError> {
    let t = ctx.t;
    let access = ward_access(state, staff).await?;
    let wards = super::readable_wards(state, &access).await?;
    let all_staff = actions::staff_names(state).await?;
    let mut errors = FormErrors::default();
    let mut filter = LogFilter {
        readable_wards: match &access {
            WardAccess::All => None,
            WardAccess::Only(ids) => Some(ids.to_vec()),
        },
        now: db::now(),
        ..LogFilter::default()
    };
    let ward = query.ward.trim();
    if !ward.is_empty() {
        if wards.iter().any(|w| w.id == ward) {
            filter.ward_id = Some(ward.to_string());
        } else {
            errors.add("ward", FieldError::ChooseFromList, t);
        }
    }
    (filter.from, filter.until) = super::day_range(ctx, &query.from, &query.until, &mut errors);
    let mut name = |text: &str, field: &'static str| {
        let text = text.trim();
        if text.is_empty() {
            None
        } else if text.chars().count() > MAX_NAME_FILTER {
            errors.add(field, FieldError::TooLong(MAX_NAME_FILTER), t);
            None
        } else if text.chars().any(char::is_control) {
            errors.add(field, FieldError::ControlChars, t);
            None
        } else {
            Some(text.to_string())
        }
    };
    filter.patient = name(&query.patient, "patient");
    filter.relative = name(&query.relative, "relative");
    let member = query.staff.trim();
    if !member.is_empty() {
        let known = all_staff.iter().any(|s| s.id == member)
            || db::staff::find_by_id(&state.db, member).await?.is_some();
        if known {
            filter.staff_id = Some(member.to_string());
        } else {
            errors.add("staff", FieldError::ChooseFromList, t);
        }
    }
    let outcome = query.outcome.trim();
    if !outcome.is_empty() {
        match VisitOutcome::parse(outcome) {
            Some(known) => filter.outcome = Some(known),
            None => errors.add("outcome", FieldError::ChooseFromList, t),
        }
    }
    filter.override_used = !query.override_used.is_empty();
    Ok(Filters {
        filter,
        errors,
        wards,
        staff: all_staff,
    })
}

#[derive(Template)]
#[template(path = "visit_log/list.html")]
struct LogPage {
    ctx: PageCtx,
    query: LogQuery,
    errors: FormErrors,
    wards: Vec<Ward>,
    staff: Arc<Vec<StaffName>>,
    visits: Vec<LoggedVisit>,
    newer: Option<String>,
    older: Option<String>,
    /// Not on the newest page.
    show_newest: bool,
    /// Not on the oldest page.
    show_oldest: bool,
    /// On an administrator's newest page without filters: the newest stays outside any
    /// scheduled visit (staff checking a room, calls from before the scheduler).
    unscheduled: Vec<VisitRow>,
}

impl LogPage {
    fn outcomes(&self) -> Vec<(&'static str, &'static str)> {
        VisitOutcome::ALL
            .iter()
            .map(|o| (o.as_str(), o.label(self.ctx.t)))
            .collect()
    }

    fn outcome_label(&self, visit: &LoggedVisit) -> &'static str {
        visit
            .outcome
            .map_or(self.ctx.t.outcome_pending, |o| o.label(self.ctx.t))
    }

    fn outcome_name(&self, visit: &LoggedVisit) -> &'static str {
        visit.outcome.map_or("pending", VisitOutcome::as_str)
    }

    fn override_label(&self, visit: &LoggedVisit) -> &'static str {
        visit
            .override_reason
            .as_deref()
            .and_then(OverrideReason::parse)
            .map_or("", |r| r.label(self.ctx.t))
    }

    fn relatives_of(&self, visit: &LoggedVisit) -> String {
        visit.relatives.clone().unwrap_or_default()
    }

    fn actual(&self, visit: &LoggedVisit) -> String {
        actual_times(&self.ctx, visit)
    }

    fn role_label(&self, row: &VisitRow) -> &'static str {
        row.role.label(self.ctx.t)
    }

    fn reason_label(&self, row: &VisitRow) -> &'static str {
        row.end_reason.map_or("", |reason| reason.label(self.ctx.t))
    }

    fn link(&self, extra: &str) -> String {
        format!("/visit-log?{}{extra}", self.query.filters_query())
    }

    fn export_link(&self) -> String {
        format!("/visit-log/export.csv?{}", self.query.filters_query())
    }

    fn stats_link(&self) -> String {
        let query = serde_urlencoded::to_string([
            ("ward", self.query.ward.as_str()),
            ("from", self.query.from.as_str()),
            ("until", self.query.until.as_str()),
        ])
        .unwrap_or_default();
        format!("/visit-log/stats?{query}")
    }
}

/// "16:00–16:31", or "16:00–…" while someone is in the call, or "—" when nobody came.
fn actual_times(ctx: &PageCtx, visit: &LoggedVisit) -> String {
    match visit.actual() {
        (Some(start), Some(end)) => format!("{}–{}", ctx.time(&start), ctx.clock(&end)),
        (Some(start), None) => format!("{}–…", ctx.time(&start)),
        _ => "—".to_string(),
    }
}

/// `GET /visit-log`: the filtered visits, newest first, a page at a time.
pub async fn list(
    State(state): State<AppState>,
    staff: CurrentStaff,
    ctx: PageCtx,
    Query(query): Query<LogQuery>,
) -> Result<Response, AppError> {
    actions::settle_visits(&state).await?;
    let Filters {
        filter,
        errors,
        wards,
        staff: all_staff,
    } = read_filters(&state, &staff, &ctx, &query).await?;
    let page = query.page();
    let (visits, more) = if errors.is_empty() {
        db::history::page(&state.db, &filter, &page, PAGE_VISITS).await?
    } else {
        (Vec::new(), false)
    };
    let first = visits.first().map(|v| v.cursor().to_param());
    let last = visits.last().map(|v| v.cursor().to_param());
    let (newer, older, show_newest, show_oldest) = match page {
        Page::Newest => (None, last.filter(|_| more), false, more),
        Page::Older(_) => (first, last.filter(|_| more), true, more),
        Page::Newer(_) => (first.filter(|_| more), last, more, true),
        Page::Oldest => (first.filter(|_| more), None, more, false),
    };
    let unfiltered = query.filters_query() == LogQuery::default().filters_query();
    let unscheduled = if staff.is_admin() && unfiltered && page == Page::Newest {
        db::visit_log::unscheduled_stays(&state.db, UNSCHEDULED_SHOWN).await?
    } else {
        Vec::new()
    };
    let status = if errors.is_empty() {
        StatusCode::OK
    } else {
        StatusCode::UNPROCESSABLE_ENTITY
    };
    render_with_status(
        status,
        &LogPage {
            ctx: ctx.with_staff(&staff),
            query,
            errors,
            wards,
            staff: all_staff,
            visits,
            newer,
            older,
            show_newest,
            show_oldest,
            unscheduled,
        },
    )
}

/// `GET /admin/visits`, the log's old address.
pub async fn moved(_staff: CurrentStaff) -> Redirect {
    Redirect::permanent("/visit-log")
}

#[derive(Template)]
#[template(path = "visit_log/show.html")]
struct VisitPage {
    ctx: PageCtx,
    visit: LoggedVisit,
    relatives: Vec<String>,
    stays: Vec<VisitRow>,
    /// Who let each relative in: a nurse's name or how.
    admitted: Vec<String>,
}

impl VisitPage {
    fn outcome_label(&self) -> &'static str {
        self.visit
            .outcome
            .map_or(self.ctx.t.outcome_pending, |o| o.label(self.ctx.t))
    }

    fn override_label(&self) -> &'static str {
        self.visit
            .override_reason
            .as_deref()
            .and_then(OverrideReason::parse)
            .map_or("", |r| r.label(self.ctx.t))
    }

    fn actual(&self) -> String {
        actual_times(&self.ctx, &self.visit)
    }

    fn role_label(&self, row: &VisitRow) -> &'static str {
        row.role.label(self.ctx.t)
    }

    fn reason_label(&self, row: &VisitRow) -> &'static str {
        row.end_reason.map_or("", |reason| reason.label(self.ctx.t))
    }

    fn has_quality(&self) -> bool {
        self.stays.iter().any(|s| s.sent_kbps.is_some())
    }
}

/// `GET /visit-log/{id}`: one visit, with each participant's stays.
pub async fn show(
    State(state): State<AppState>,
    staff: CurrentStaff,
    ctx: PageCtx,
    IdPath(id): IdPath,
) -> Result<Response, AppError> {
    actions::settle_visits(&state).await?;
    let Some((visit, ward_id)) = db::history::find(&state.db, id.as_str(), None).await? else {
        return Err(AppError::not_found());
    };
    super::require_ward(
        &state,
        &staff,
        &ward_id,
        id.as_str(),
        &format!("/visit-log/{id}"),
    )
    .await?;
    let ids = [visit.id.clone()];
    let relatives = db::history::relatives_of(&state.db, &ids)
        .await?
        .into_iter()
        .map(|(_, name)| name)
        .collect();
    let admitted = db::history::admissions_of(&state.db, &ids)
        .await?
        .into_iter()
        .map(|(_, name, how)| admitted_by(&ctx, name, &how))
        .collect();
    let stays = db::visit_log::stays_of_visit(&state.db, &visit.id).await?;
    render(&VisitPage {
        ctx: ctx.with_staff(&staff),
        visit,
        relatives,
        stays,
        admitted,
    })
}

/// Who let a relative in, as the log says it.
fn admitted_by(ctx: &PageCtx, name: Option<String>, how: &str) -> String {
    match (how, name) {
        ("nurse", Some(name)) => name,
        ("auto", _) => ctx.t.log_admitted_auto.to_string(),
        _ => ctx.t.log_admitted_on_arrival.to_string(),
    }
}

/// `GET /visit-log/export.csv`: the filtered list as CSV, every page of it, streamed a batch at a
/// time (a year's export holds a few batches in memory, never the year). UTF-8 with a byte order
/// mark so that spreadsheets read accents right; a cell that a spreadsheet would take for a
/// formula is neutralised. The export is audited, with its filters.
pub async fn export(
    State(state): State<AppState>,
    staff: CurrentStaff,
    ctx: PageCtx,
    Query(query): Query<LogQuery>,
) -> Result<Response, AppError> {
    actions::settle_visits(&state).await?;
    let Filters { filter, errors, .. } = read_filters(&state, &staff, &ctx, &query).await?;
    if !errors.is_empty() {
        // The page shows the same filters with what is wrong with them.
        return list(State(state), staff, ctx, Query(query)).await;
    }
    actions::record_export(&state, &staff, &query.filters_query()).await?;
    let (sender, receiver) = tokio::sync::mpsc::channel::<Result<Bytes, std::io::Error>>(2);
    tokio::spawn(stream_export(state, ctx, filter, sender));
    let body = Body::from_stream(futures_util::stream::unfold(
        receiver,
        |mut receiver| async move { receiver.recv().await.map(|item| (item, receiver)) },
    ));
    let name = format!(
        "attachment; filename=\"visitas-{}.csv\"",
        chrono::Utc::now().format("%Y-%m-%d")
    );
    Ok((
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8".to_string()),
            (header::CONTENT_DISPOSITION, name),
        ],
        body,
    )
        .into_response())
}

/// Writes the export into `sender` a batch at a time; stops when the download is abandoned.
async fn stream_export(
    state: AppState,
    ctx: PageCtx,
    filter: LogFilter,
    sender: tokio::sync::mpsc::Sender<Result<Bytes, std::io::Error>>,
) {
    let t = ctx.t;
    let mut head = String::from("\u{feff}").into_bytes();
    let header = [
        t.log_visit_title,
        t.ward,
        t.patient,
        t.bed,
        t.scheduled_for,
        t.log_scheduled_end,
        t.log_actual_start,
        t.log_actual_end,
        t.log_relatives,
        t.filter_outcome,
        t.override_reason,
        t.log_override_note,
        t.log_scheduled_by,
        t.log_admitted_by,
        t.rejoins,
        t.log_cancel_reason,
    ];
    head.extend(csv_rows(&[header.map(str::to_string).to_vec()]));
    if sender.send(Ok(Bytes::from(head))).await.is_err() {
        return;
    }
    let mut page = Page::Newest;
    loop {
        let batch = async {
            let (visits, more) = db::history::page(&state.db, &filter, &page, EXPORT_BATCH).await?;
            let ids: Vec<String> = visits.iter().map(|v| v.id.clone()).collect();
            let mut admitted: HashMap<String, Vec<String>> = HashMap::new();
            for (visit, name, how) in db::history::admissions_of(&state.db, &ids).await? {
                admitted
                    .entry(visit)
                    .or_default()
                    .push(admitted_by(&ctx, name, &how));
            }
            Ok::<_, AppError>((visits, more, admitted))
        }
        .await;
        let (visits, more, admitted) = match batch {
            Ok(batch) => batch,
            Err(err) => {
                tracing::error!(error = ?err, "exporting the visit log");
                let _ = sender
                    .send(Err(std::io::Error::other("the export stopped")))
                    .await;
                return;
            }
        };
        let local = |at: Option<i64>| {
            at.and_then(|at| ctx.zone.local_at(at))
                .map(|l| l.format("%Y-%m-%d %H:%M").to_string())
                .unwrap_or_default()
        };
        let rows: Vec<Vec<String>> = visits
            .iter()
            .map(|v| {
                let (actual_start, actual_end) = v.actual();
                vec![
                    v.id.clone(),
                    v.ward.clone(),
                    v.patient_name.clone(),
                    v.bed.clone(),
                    local(Some(v.starts_at)),
                    local(Some(v.ended_at.unwrap_or(v.ends_at))),
                    local(actual_start),
                    local(actual_end),
                    v.relatives.clone().unwrap_or_default(),
                    v.outcome
                        .map_or(t.outcome_pending, |o| o.label(t))
                        .to_string(),
                    v.override_reason
                        .as_deref()
                        .and_then(OverrideReason::parse)
                        .map_or("", |r| r.label(t))
                        .to_string(),
                    v.override_note.clone().unwrap_or_default(),
                    v.created_by_name.clone(),
                    admitted
                        .get(&v.id)
                        .map(|n| n.join(", "))
                        .unwrap_or_default(),
                    v.rejoins.to_string(),
                    v.cancel_reason.clone().unwrap_or_default(),
                ]
            })
            .collect();
        if !rows.is_empty() && sender.send(Ok(Bytes::from(csv_rows(&rows)))).await.is_err() {
            return;
        }
        match (more, visits.last()) {
            (true, Some(last)) => page = Page::Older(last.cursor()),
            _ => return,
        }
    }
}

/// Rows as CSV, each cell neutralised against formula injection.
fn csv_rows(rows: &[Vec<String>]) -> Vec<u8> {
    let mut writer = csv::Writer::from_writer(Vec::new());
    for row in rows {
        // Writing to a Vec cannot fail.
        let _ = writer.write_record(row.iter().map(|cell| neutralise(cell).into_owned()));
    }
    writer.into_inner().unwrap_or_default()
}

/// A cell a spreadsheet would run as a formula (`=`, `+`, `-`, `@`, or a tab or carriage return
/// first) gets a leading apostrophe: it shows as the text it is.
fn neutralise(cell: &str) -> std::borrow::Cow<'_, str> {
    if cell.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        std::borrow::Cow::Owned(format!("'{cell}"))
    } else {
        std::borrow::Cow::Borrowed(cell)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formulas_are_neutralised_and_text_kept() {
        assert_eq!(neutralise("=HYPERLINK(\"x\")"), "'=HYPERLINK(\"x\")");
        assert_eq!(neutralise("+34 600"), "'+34 600");
        assert_eq!(neutralise("-1"), "'-1");
        assert_eq!(neutralise("@SUM(A1)"), "'@SUM(A1)");
        assert_eq!(neutralise("José Núñez"), "José Núñez");
        let csv = String::from_utf8(csv_rows(&[vec![
            "a,b".to_string(),
            "=1+1".to_string(),
            "Ñ".to_string(),
        ]]))
        .expect("UTF-8");
        assert_eq!(csv, "\"a,b\",'=1+1,Ñ\n");
    }
}
