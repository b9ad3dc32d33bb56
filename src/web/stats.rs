//! The visit statistics: visits per day and per ward, average length, the share of missed
//! visits and of visits with network trouble, for the visits that are over in a date range
//! (the last 30 days unless chosen). The charts are SVG drawn here, on the server: no chart
//! library goes to the browser.

use std::collections::BTreeMap;

use askama::Template;
use axum::{
    extract::{Query, State},
    http::StatusCode,
    response::Response,
};
use chrono::{Days, NaiveDate};
use serde::Deserialize;

use super::{CurrentStaff, FormErrors, PageCtx, render_with_status, ward_access};
use crate::{
    actions,
    auth::wards::WardAccess,
    db::{self, history::Counted, wards::Ward},
    domain::{FieldError, VisitOutcome},
    error::AppError,
    state::AppState,
};

/// The range shown when none is chosen, in days (today included).
const DEFAULT_DAYS: u64 = 30;
/// The longest range, in days.
const MAX_DAYS: i64 = 366;

#[derive(Debug, Default, Clone, Deserialize)]
pub struct StatsQuery {
    #[serde(default)]
    ward: String,
    #[serde(default)]
    from: String,
    #[serde(default)]
    until: String,
}

/// What a group of visits adds up to.
#[derive(Debug, Clone, Default)]
pub struct Tally {
    pub visits: u64,
    pub missed: u64,
    pub cancelled: u64,
    pub network: u64,
    /// Visits relatives came to that are over, and their summed length.
    pub held: u64,
    pub held_secs: i64,
}

impl Tally {
    fn add(&mut self, visit: &Counted) {
        self.visits += 1;
        match visit.outcome {
            Some(VisitOutcome::Missed) => self.missed += 1,
            Some(VisitOutcome::Cancelled) => self.cancelled += 1,
            _ => {}
        }
        if visit.network_trouble {
            self.network += 1;
        }
        if let Some(secs) = visit.length_secs.filter(|_| {
            !matches!(
                visit.outcome,
                Some(VisitOutcome::Missed | VisitOutcome::Cancelled)
            )
        }) {
            self.held += 1;
            self.held_secs += secs.max(0);
        }
    }

    /// Visits that were due to happen (not cancelled).
    fn due(&self) -> u64 {
        self.visits - self.cancelled
    }

    /// "12:05" (minutes and seconds), or "—".
    pub fn average_length(&self) -> String {
        match self
            .held_secs
            .checked_div(i64::try_from(self.held).unwrap_or(i64::MAX))
        {
            Some(secs) if self.held > 0 => format!("{}:{:02}", secs / 60, secs % 60),
            _ => "—".to_string(),
        }
    }

    /// Missed visits among those due, as "12.5 %".
    pub fn missed_rate(&self) -> String {
        percent(self.missed, self.due())
    }

    /// Visits with network trouble among those held.
    pub fn network_share(&self) -> String {
        percent(self.network, self.held)
    }
}

fn percent(part: u64, whole: u64) -> String {
    if whole == 0 {
        return "—".to_string();
    }
    let tenths = (part * 1000 + whole / 2) / whole;
    format!("{}.{} %", tenths / 10, tenths % 10)
}

/// One bar of a chart: its label, the value, and where it is drawn (SVG units).
#[derive(Debug, Clone)]
pub struct Bar {
    pub label: String,
    pub value: u64,
    pub missed: u64,
    pub x: u64,
    pub y: u64,
    pub width: u64,
    pub height: u64,
    pub missed_height: u64,
    /// Where the missed part starts (it is drawn at the bar's foot).
    pub missed_y: u64,
    /// Where the bar's value is written, above it (may go into the chart's top margin).
    pub label_y: i64,
}

/// A bar chart with the bars side by side, `height` units tall for the largest value.
fn columns(items: Vec<(String, u64, u64)>, width: u64, height: u64) -> Vec<Bar> {
    let most = items.iter().map(|(_, v, _)| *v).max().unwrap_or(0).max(1);
    let count = u64::try_from(items.len()).unwrap_or(1).max(1);
    let slot = (width / count).max(2);
    items
        .into_iter()
        .enumerate()
        .map(|(i, (label, value, missed))| {
            let bar = value * height / most;
            let missed_height = missed * height / most;
            Bar {
                label,
                value,
                missed,
                x: u64::try_from(i).unwrap_or(0) * slot,
                y: height - bar,
                width: (slot * 4 / 5).max(1),
                height: bar,
                missed_height,
                missed_y: height - missed_height,
                label_y: i64::try_from(height - bar).unwrap_or(0) - 3,
            }
        })
        .collect()
}

#[derive(Template)]
#[template(path = "visit_log/stats.html")]
struct StatsPage {
    ctx: PageCtx,
    query: StatsQuery,
    errors: FormErrors,
    wards: Vec<Ward>,
    first_day: String,
    last_day: String,
    total: Tally,
    per_ward: Vec<(String, Tally)>,
    per_day: Vec<Bar>,
    ward_bars: Vec<Bar>,
}

/// Chart sizes (SVG units).
const DAY_CHART_WIDTH: u64 = 720;
const CHART_HEIGHT: u64 = 160;

/// `GET /visit-log/stats`: the statistics of the visits that are over in the range.
pub async fn page(
    State(state): State<AppState>,
    staff: CurrentStaff,
    ctx: PageCtx,
    Query(query): Query<StatsQuery>,
) -> Result<Response, AppError> {
    actions::settle_visits(&state).await?;
    let t = ctx.t;
    let access = ward_access(&state, &staff).await?;
    let wards = super::readable_wards(&state, &access).await?;
    let mut errors = FormErrors::default();
    let today = ctx.today();
    let default_first = today
        .checked_sub_days(Days::new(DEFAULT_DAYS - 1))
        .unwrap_or(today);
    let (from_text, until_text) = (
        if query.from.trim().is_empty() {
            default_first.to_string()
        } else {
            query.from.clone()
        },
        if query.until.trim().is_empty() {
            today.to_string()
        } else {
            query.until.clone()
        },
    );
    let (from, until) = super::day_range(&ctx, &from_text, &until_text, &mut errors);
    let first = NaiveDate::parse_from_str(from_text.trim(), "%Y-%m-%d").ok();
    let last = NaiveDate::parse_from_str(until_text.trim(), "%Y-%m-%d").ok();
    if let (Some(first), Some(last)) = (first, last)
        && (last - first).num_days() >= MAX_DAYS
    {
        errors.add("until", FieldError::RangeTooLong, t);
    }
    let mut readable = match &access {
        WardAccess::All => None,
        WardAccess::Only(ids) => Some(ids.to_vec()),
    };
    let ward = query.ward.trim();
    if !ward.is_empty() {
        if wards.iter().any(|w| w.id == ward) {
            readable = Some(vec![ward.to_string()]);
        } else {
            errors.add("ward", FieldError::ChooseFromList, t);
        }
    }

    let mut total = Tally::default();
    let mut per_ward: BTreeMap<String, Tally> = BTreeMap::new();
    let mut per_day: BTreeMap<NaiveDate, Tally> = BTreeMap::new();
    if let (true, Some(from), Some(until), Some(first), Some(last)) =
        (errors.is_empty(), from, until, first, last)
    {
        // Every day of the range has its bar, even a day without visits.
        let mut day = first;
        while day <= last {
            per_day.insert(day, Tally::default());
            match day.succ_opt() {
                Some(next) => day = next,
                None => break,
            }
        }
        let zone = ctx.zone;
        db::history::for_each_counted(&state.db, readable.as_deref(), from, until, |visit| {
            total.add(&visit);
            per_ward.entry(visit.ward.clone()).or_default().add(&visit);
            if let Some(local) = zone.local_at(visit.starts_at) {
                per_day.entry(local.date()).or_default().add(&visit);
            }
        })
        .await?;
    }
    let day_bars = columns(
        per_day
            .iter()
            .map(|(day, tally)| (day.format("%d/%m").to_string(), tally.visits, tally.missed))
            .collect(),
        DAY_CHART_WIDTH,
        CHART_HEIGHT,
    );
    let per_ward: Vec<(String, Tally)> = per_ward.into_iter().collect();
    let ward_bars = columns(
        per_ward
            .iter()
            .map(|(name, tally)| (name.clone(), tally.visits, tally.missed))
            .collect(),
        DAY_CHART_WIDTH,
        CHART_HEIGHT,
    );
    let status = if errors.is_empty() {
        StatusCode::OK
    } else {
        StatusCode::UNPROCESSABLE_ENTITY
    };
    render_with_status(
        status,
        &StatsPage {
            ctx: ctx.with_staff(&staff),
            query: StatsQuery {
                ward: query.ward,
                from: from_text,
                until: until_text,
            },
            errors,
            wards,
            first_day: first.map(|d| d.to_string()).unwrap_or_default(),
            last_day: last.map(|d| d.to_string()).unwrap_or_default(),
            total,
            per_ward,
            per_day: day_bars,
            ward_bars,
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn counted(outcome: VisitOutcome, length: Option<i64>, network: bool) -> Counted {
        Counted {
            ward: "UCI".into(),
            starts_at: 0,
            outcome: Some(outcome),
            length_secs: length,
            network_trouble: network,
        }
    }

    #[test]
    fn a_tally_counts_rates_among_the_visits_they_concern() {
        let mut tally = Tally::default();
        tally.add(&counted(VisitOutcome::Completed, Some(600), false));
        tally.add(&counted(VisitOutcome::Network, Some(300), true));
        tally.add(&counted(VisitOutcome::Missed, None, false));
        tally.add(&counted(VisitOutcome::Cancelled, None, false));
        assert_eq!(tally.visits, 4);
        // Missed among the three that were due; network among the two held.
        assert_eq!(tally.missed_rate(), "33.3 %");
        assert_eq!(tally.network_share(), "50.0 %");
        assert_eq!(tally.average_length(), "7:30");
        assert_eq!(Tally::default().average_length(), "—");
        assert_eq!(Tally::default().missed_rate(), "—");
    }

    #[test]
    fn bars_scale_to_the_largest() {
        let bars = columns(
            vec![("a".into(), 10, 5), ("b".into(), 5, 0), ("c".into(), 0, 0)],
            300,
            100,
        );
        assert_eq!(bars[0].height, 100);
        assert_eq!(bars[0].missed_height, 50);
        assert_eq!(bars[1].height, 50);
        assert_eq!(bars[1].y, 50);
        assert_eq!(bars[2].height, 0);
        assert_eq!(bars[1].x, 100);
    }
}
