//! Wards, for administrators: the list, creating one, its hours and limits, and date exceptions
//! (with the booked visits that no longer fit).

use askama::Template;
use axum::{
    Form,
    extract::{Path, State},
    http::StatusCode,
    response::{IntoResponse, Redirect, Response},
};
use serde::Deserialize;

use super::{AdminStaff, FormErrors, IdPath, PageCtx, render, render_with_status};
use crate::{
    actions::{self, WardSaved},
    db::{
        visits::Visit,
        wards::{Ward, WardInput, WardRules},
    },
    domain::{
        DateException, FieldError, PhoneNumber, RandomId, Reason, WardName, Window, day_label,
        parse_date, parse_day, parse_number,
    },
    error::AppError,
    state::AppState,
};

/// The ward form: name, limits and one line of windows per weekday.
#[derive(Debug, Default, Deserialize)]
pub struct WardForm {
    #[serde(default)]
    name: String,
    #[serde(default)]
    default_minutes: String,
    #[serde(default)]
    max_minutes: String,
    #[serde(default)]
    max_video_visits: String,
    /// A checkbox: present ("on") when ticked.
    #[serde(default)]
    auto_admit: Option<String>,
    #[serde(default)]
    bedside_shows_name: Option<String>,
    /// The ward's phone for relatives; may stay empty.
    #[serde(default)]
    phone: String,
    #[serde(default)]
    hours_0: String,
    #[serde(default)]
    hours_1: String,
    #[serde(default)]
    hours_2: String,
    #[serde(default)]
    hours_3: String,
    #[serde(default)]
    hours_4: String,
    #[serde(default)]
    hours_5: String,
    #[serde(default)]
    hours_6: String,
}

/// The names of the weekday fields, Monday first.
const HOUR_FIELDS: [&str; 7] = [
    "hours_0", "hours_1", "hours_2", "hours_3", "hours_4", "hours_5", "hours_6",
];

impl WardForm {
    fn day(&self, i: &usize) -> &str {
        match i {
            0 => &self.hours_0,
            1 => &self.hours_1,
            2 => &self.hours_2,
            3 => &self.hours_3,
            4 => &self.hours_4,
            5 => &self.hours_5,
            _ => &self.hours_6,
        }
    }

    fn field(&self, i: &usize) -> &'static str {
        HOUR_FIELDS[*i % 7]
    }

    /// A new ward: Monday to Sunday 11:00–20:00, 30 minutes, up to 60, four at once.
    fn suggested() -> Self {
        let day = "11:00-20:00".to_string();
        Self {
            name: String::new(),
            default_minutes: "30".into(),
            max_minutes: "60".into(),
            max_video_visits: "4".into(),
            auto_admit: None,
            bedside_shows_name: None,
            phone: String::new(),
            hours_0: day.clone(),
            hours_1: day.clone(),
            hours_2: day.clone(),
            hours_3: day.clone(),
            hours_4: day.clone(),
            hours_5: day.clone(),
            hours_6: day,
        }
    }

    fn of(rules: &WardRules) -> Self {
        let w = &rules.hours.week;
        Self {
            name: rules.ward.name.clone(),
            default_minutes: rules.ward.default_minutes.to_string(),
            max_minutes: rules.ward.max_minutes.to_string(),
            max_video_visits: rules.ward.max_video_visits.to_string(),
            auto_admit: rules.ward.auto_admit.then(|| "on".into()),
            bedside_shows_name: rules.ward.bedside_shows_name.then(|| "on".into()),
            phone: rules.ward.phone.clone(),
            hours_0: day_label(&w[0]),
            hours_1: day_label(&w[1]),
            hours_2: day_label(&w[2]),
            hours_3: day_label(&w[3]),
            hours_4: day_label(&w[4]),
            hours_5: day_label(&w[5]),
            hours_6: day_label(&w[6]),
        }
    }

    /// The validated ward, or the errors by field.
    fn parse(&self, errors: &mut FormErrors, t: &crate::i18n::Text) -> Option<ParsedWard> {
        let name = errors.check("name", WardName::parse(&self.name), t);
        let default_minutes = errors.check(
            "default_minutes",
            parse_number(&self.default_minutes, 5, 480),
            t,
        );
        let max_minutes = errors.check("max_minutes", parse_number(&self.max_minutes, 5, 480), t);
        let max_video = errors.check(
            "max_video_visits",
            parse_number(&self.max_video_visits, 1, 100),
            t,
        );
        let phone = errors.check("phone", PhoneNumber::parse(&self.phone), t);
        let mut week: [Vec<Window>; 7] = Default::default();
        for (i, slot) in week.iter_mut().enumerate() {
            if let Some(windows) = errors.check(HOUR_FIELDS[i], parse_day(self.day(&i)), t) {
                *slot = windows;
            }
        }
        if let (Some(d), Some(m)) = (default_minutes, max_minutes)
            && d > m
        {
            errors.add("default_minutes", FieldError::DefaultOverMax, t);
        }
        if !errors.is_empty() {
            return None;
        }
        Some(ParsedWard {
            name: name?,
            default_minutes: default_minutes?,
            max_minutes: max_minutes?,
            max_video_visits: max_video?,
            auto_admit: self.auto_admit.is_some(),
            bedside_shows_name: self.bedside_shows_name.is_some(),
            phone: phone?,
            week,
        })
    }
}

struct ParsedWard {
    name: WardName,
    default_minutes: i64,
    max_minutes: i64,
    max_video_visits: i64,
    auto_admit: bool,
    bedside_shows_name: bool,
    phone: PhoneNumber,
    week: [Vec<Window>; 7],
}

impl ParsedWard {
    fn input(&self) -> WardInput<'_> {
        WardInput {
            name: self.name.as_str(),
            default_minutes: self.default_minutes,
            max_minutes: self.max_minutes,
            max_video_visits: self.max_video_visits,
            auto_admit: self.auto_admit,
            bedside_shows_name: self.bedside_shows_name,
            phone: self.phone.as_str(),
            week: &self.week,
        }
    }
}

#[derive(Template)]
#[template(path = "wards/list.html")]
struct WardsPage {
    ctx: PageCtx,
    wards: Vec<WardRules>,
    form: WardForm,
    errors: FormErrors,
}

impl WardsPage {
    fn week_summary(&self, rules: &WardRules) -> Vec<(&'static str, String)> {
        (0..7)
            .map(|i| {
                let windows = &rules.hours.week[i];
                let text = if windows.is_empty() {
                    self.ctx.t.closed.to_string()
                } else {
                    windows
                        .iter()
                        .map(Window::label)
                        .collect::<Vec<_>>()
                        .join(", ")
                };
                (self.ctx.t.weekdays_short[i], text)
            })
            .collect()
    }
}

/// `GET /admin/wards`.
pub async fn list(
    State(state): State<AppState>,
    AdminStaff(admin): AdminStaff,
    ctx: PageCtx,
) -> Result<Response, AppError> {
    let wards = actions::ward_rules(&state).await?.as_ref().clone();
    render(&WardsPage {
        ctx: ctx.with_staff(&admin),
        wards,
        form: WardForm::suggested(),
        errors: FormErrors::default(),
    })
}

/// `POST /admin/wards`.
pub async fn create(
    State(state): State<AppState>,
    AdminStaff(admin): AdminStaff,
    ctx: PageCtx,
    Form(form): Form<WardForm>,
) -> Result<Response, AppError> {
    let mut errors = FormErrors::default();
    let status = match form.parse(&mut errors, ctx.t) {
        None => StatusCode::BAD_REQUEST,
        Some(parsed) => match actions::create_ward(&state, &admin, &parsed.input()).await? {
            WardSaved::Saved { id, .. } => {
                return Ok(Redirect::to(&format!("/admin/wards/{id}")).into_response());
            }
            WardSaved::NameTaken => {
                errors.add("name", FieldError::WardNameTaken, ctx.t);
                StatusCode::CONFLICT
            }
        },
    };
    let wards = actions::ward_rules(&state).await?.as_ref().clone();
    render_with_status(
        status,
        &WardsPage {
            ctx: ctx.with_staff(&admin),
            wards,
            form,
            errors,
        },
    )
}

#[derive(Template)]
#[template(path = "wards/show.html")]
struct WardPage {
    ctx: PageCtx,
    rules: WardRules,
    form: WardForm,
    errors: FormErrors,
    exception_form: ExceptionForm,
    exception_errors: FormErrors,
    /// Booked visits the hours no longer allow.
    misfits: Vec<Visit>,
    saved: bool,
}

impl WardPage {
    fn exception_label(&self, windows: &[Window]) -> String {
        if windows.is_empty() {
            self.ctx.t.closed.to_string()
        } else {
            windows
                .iter()
                .map(Window::label)
                .collect::<Vec<_>>()
                .join(", ")
        }
    }
}

/// The date exception form.
#[derive(Debug, Default, Deserialize)]
pub struct ExceptionForm {
    #[serde(default)]
    first_day: String,
    #[serde(default)]
    last_day: String,
    /// Empty: closed.
    #[serde(default)]
    hours: String,
    #[serde(default)]
    reason: String,
}

async fn find_rules(state: &AppState, id: &RandomId) -> Result<WardRules, AppError> {
    actions::ward_rules(state)
        .await?
        .iter()
        .find(|r| r.ward.id == id.as_str())
        .cloned()
        .ok_or_else(AppError::not_found)
}

/// The ward's page as it stands, its forms filled from the ward; callers replace what a
/// refused form needs shown again.
async fn ward_page(state: &AppState, ctx: PageCtx, rules: WardRules) -> Result<WardPage, AppError> {
    let misfits = actions::visits_outside(state, &rules.ward.id, &rules.hours).await?;
    Ok(WardPage {
        ctx,
        form: WardForm::of(&rules),
        rules,
        errors: FormErrors::default(),
        exception_form: ExceptionForm::default(),
        exception_errors: FormErrors::default(),
        misfits,
        saved: false,
    })
}

/// `GET /admin/wards/{id}`.
pub async fn show(
    State(state): State<AppState>,
    AdminStaff(admin): AdminStaff,
    ctx: PageCtx,
    IdPath(id): IdPath,
) -> Result<Response, AppError> {
    let rules = find_rules(&state, &id).await?;
    render(&ward_page(&state, ctx.with_staff(&admin), rules).await?)
}

/// `POST /admin/wards/{id}`: new name, hours or limits; the page then lists the booked visits
/// that no longer fit.
pub async fn update(
    State(state): State<AppState>,
    AdminStaff(admin): AdminStaff,
    ctx: PageCtx,
    IdPath(id): IdPath,
    Form(form): Form<WardForm>,
) -> Result<Response, AppError> {
    let rules = find_rules(&state, &id).await?;
    let mut errors = FormErrors::default();
    let ctx = ctx.with_staff(&admin);
    let status = match form.parse(&mut errors, ctx.t) {
        None => StatusCode::BAD_REQUEST,
        Some(parsed) => {
            match actions::update_ward(&state, &admin, id.as_str(), &parsed.input()).await? {
                WardSaved::Saved { .. } => {
                    let rules = find_rules(&state, &id).await?;
                    let mut page = ward_page(&state, ctx, rules).await?;
                    page.saved = true;
                    return render(&page);
                }
                WardSaved::NameTaken => {
                    errors.add("name", FieldError::WardNameTaken, ctx.t);
                    StatusCode::CONFLICT
                }
            }
        }
    };
    let mut page = ward_page(&state, ctx, rules).await?;
    page.form = form;
    page.errors = errors;
    render_with_status(status, &page)
}

/// `POST /admin/wards/{id}/exceptions`: hours changed or closed for a date or a range.
pub async fn add_exception(
    State(state): State<AppState>,
    AdminStaff(admin): AdminStaff,
    ctx: PageCtx,
    IdPath(id): IdPath,
    Form(form): Form<ExceptionForm>,
) -> Result<Response, AppError> {
    let rules = find_rules(&state, &id).await?;
    let ctx = ctx.with_staff(&admin);
    let t = ctx.t;
    let mut errors = FormErrors::default();
    let first = errors.check("first_day", parse_date(&form.first_day), t);
    let last = if form.last_day.trim().is_empty() {
        first
    } else {
        errors.check("last_day", parse_date(&form.last_day), t)
    };
    let windows = errors.check("hours", parse_day(&form.hours), t);
    let reason = errors.check("reason", Reason::parse(&form.reason), t);
    if let (Some(first), Some(last)) = (first, last)
        && last < first
    {
        errors.add("last_day", FieldError::EndBeforeStart, t);
    }
    if let (Some(first), Some(last)) = (first, last)
        && (last - first).num_days() > 366
    {
        errors.add("last_day", FieldError::NumberOutOfRange(1, 367), t);
    }
    let (true, Some(first), Some(last), Some(windows), Some(reason)) =
        (errors.is_empty(), first, last, windows, reason)
    else {
        let mut page = ward_page(&state, ctx, rules).await?;
        page.exception_form = form;
        page.exception_errors = errors;
        return render_with_status(StatusCode::BAD_REQUEST, &page);
    };
    let exception = DateException {
        first,
        last,
        windows,
    };
    actions::add_ward_exception(&state, &admin, id.as_str(), &exception, reason.as_str()).await?;
    Ok(Redirect::to(&format!("/admin/wards/{id}#exceptions")).into_response())
}

/// `POST /admin/wards/{ward}/exceptions/{id}/remove`.
pub async fn remove_exception(
    State(state): State<AppState>,
    AdminStaff(admin): AdminStaff,
    Path((ward_id, exception_id)): Path<(String, String)>,
) -> Result<Redirect, AppError> {
    let ward_id = RandomId::parse(&ward_id).ok_or_else(AppError::not_found)?;
    let exception_id = RandomId::parse(&exception_id).ok_or_else(AppError::not_found)?;
    actions::remove_ward_exception(&state, &admin, ward_id.as_str(), exception_id.as_str()).await?;
    Ok(Redirect::to(&format!("/admin/wards/{ward_id}#exceptions")))
}

/// Every ward, by name (for forms that pick one).
pub async fn all_wards(state: &AppState) -> Result<Vec<Ward>, AppError> {
    Ok(actions::ward_rules(state)
        .await?
        .iter()
        .map(|r| r.ward.clone())
        .collect())
}
