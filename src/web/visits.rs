//! Scheduled visits, for nurses: the schedule form (once or repeated, with an override), "visit
//! now", a visit's page (reschedule, cancel, end), and its relatives' printable cards.

use askama::Template;
use axum::{
    Form,
    extract::{Path, Query, State},
    http::{HeaderMap, StatusCode, Uri},
    response::{IntoResponse, Redirect, Response},
};
use chrono::{Duration, NaiveDate, Timelike};
use serde::Deserialize;

use super::{
    FormErrors, IdPath, PageCtx, patients::find_patient, public_base_url, render,
    render_with_status, require_ward,
};
use crate::{
    actions::{self, Booked, Override, VisitRequest, When},
    db::{
        self,
        patients::Patient,
        relatives::Relative,
        visits::{Visit, VisitInvite},
        wards::Ward,
    },
    domain::{
        FieldError, MAX_REPEAT_DAYS, OverrideReason, RandomId, Reason, Refusal, Repeat, Span,
        parse_date, parse_number, parse_time,
    },
    error::AppError,
    i18n::{Lang, Text},
    state::AppState,
    web::CurrentStaff,
};

/// The schedule form, also the "visit now" and reschedule forms (which use part of it).
#[derive(Debug, Default, Deserialize)]
pub struct VisitForm {
    /// The chosen relatives' ids, comma-separated by the browser as repeated fields.
    #[serde(default)]
    relative: Vec<String>,
    #[serde(default)]
    date: String,
    #[serde(default)]
    time: String,
    #[serde(default)]
    minutes: String,
    /// `once`, `daily` or `weekdays`.
    #[serde(default)]
    repeat: String,
    /// Weekday indexes (0 = Monday) for `weekdays`.
    #[serde(default)]
    day: Vec<String>,
    #[serde(default)]
    until: String,
    /// An [`OverrideReason`] or empty.
    #[serde(default)]
    override_reason: String,
    #[serde(default)]
    override_note: String,
    /// "Let them in as they arrive": no waiting room for this visit's relatives.
    #[serde(default)]
    admit_on_arrival: bool,
}

impl VisitForm {
    fn has_relative(&self, id: &str) -> bool {
        self.relative.iter().any(|r| r == id)
    }

    fn has_day(&self, i: &usize) -> bool {
        self.day.iter().any(|d| d == &i.to_string())
    }

    fn is_repeat(&self, kind: &str) -> bool {
        self.repeat == kind || (kind == "once" && self.repeat.is_empty())
    }
}

/// Reads a form whose fields repeat (`relative=a&relative=b`), which `axum::Form` cannot.
fn read_form(body: &[u8]) -> Result<VisitForm, AppError> {
    let pairs: Vec<(String, String)> =
        serde_urlencoded::from_bytes(body).map_err(|_| AppError::bad_request())?;
    let mut form = VisitForm::default();
    for (key, value) in pairs {
        match key.as_str() {
            "relative" => form.relative.push(value),
            "day" => form.day.push(value),
            "date" => form.date = value,
            "time" => form.time = value,
            "minutes" => form.minutes = value,
            "repeat" => form.repeat = value,
            "until" => form.until = value,
            "override_reason" => form.override_reason = value,
            "override_note" => form.override_note = value,
            "admit_on_arrival" => form.admit_on_arrival = !value.is_empty(),
            _ => {}
        }
    }
    if form.relative.len() > 32 || form.day.len() > 7 {
        return Err(AppError::bad_request());
    }
    Ok(form)
}

/// The override chosen in a form, checked.
fn parse_override(form: &VisitForm, errors: &mut FormErrors, t: &Text) -> Option<Option<Override>> {
    if form.override_reason.trim().is_empty() {
        return Some(None);
    }
    let Some(reason) = OverrideReason::parse(form.override_reason.trim()) else {
        errors.add("override_reason", FieldError::Required, t);
        return None;
    };
    let note = if form.override_note.trim().is_empty() {
        if reason == OverrideReason::Other {
            errors.add("override_note", FieldError::Required, t);
            return None;
        }
        None
    } else {
        Some(
            errors
                .check("override_note", Reason::parse(&form.override_note), t)?
                .as_str()
                .to_string(),
        )
    };
    Some(Some(Override { reason, note }))
}

/// The chosen relatives: each must be one of this patient's (else 404: nothing of another
/// patient is reachable this way).
fn chosen_relatives(
    form: &VisitForm,
    relatives: &[Relative],
    errors: &mut FormErrors,
    t: &Text,
) -> Result<Vec<Relative>, AppError> {
    let mut chosen = Vec::new();
    for id in &form.relative {
        let relative = relatives
            .iter()
            .find(|r| &r.id == id)
            .ok_or_else(AppError::not_found)?;
        if !chosen.iter().any(|c: &Relative| c.id == relative.id) {
            chosen.push(relative.clone());
        }
    }
    if chosen.is_empty() {
        errors.add("relative", FieldError::Required, t);
    }
    Ok(chosen)
}

#[derive(Template)]
#[template(path = "visits/new.html")]
struct SchedulePage {
    ctx: PageCtx,
    patient: Patient,
    ward: Ward,
    relatives: Vec<Relative>,
    form: VisitForm,
    errors: FormErrors,
    refusal: Option<String>,
    hours_today: String,
    override_reasons: [OverrideReason; 3],
}

impl SchedulePage {
    fn override_label(&self, reason: &OverrideReason) -> &'static str {
        reason.label(self.ctx.t)
    }
}

/// Where a schedule form starts: today, the next quarter hour, the ward's default length.
#[derive(Debug, Default, Deserialize)]
pub struct SlotQuery {
    #[serde(default)]
    date: String,
    #[serde(default)]
    time: String,
}

async fn schedule_page(
    state: &AppState,
    ctx: PageCtx,
    patient: Patient,
    form: VisitForm,
    errors: FormErrors,
    refusal: Option<String>,
) -> Result<SchedulePage, AppError> {
    let rules = actions::ward_rules(state).await?;
    let rules = rules
        .iter()
        .find(|r| r.ward.id == patient.ward_id)
        .ok_or_else(AppError::not_found)?;
    let relatives = db::relatives::list_for_patient(&state.db, &patient.id)
        .await?
        .into_iter()
        .filter(Relative::is_authorised)
        .collect();
    let day = parse_date(&form.date).unwrap_or_else(|_| ctx.today());
    let windows = rules.hours.windows_on(day);
    let hours_today = if windows.is_empty() {
        ctx.t.closed.to_string()
    } else {
        windows
            .iter()
            .map(crate::domain::Window::label)
            .collect::<Vec<_>>()
            .join(", ")
    };
    Ok(SchedulePage {
        ctx,
        patient,
        ward: rules.ward.clone(),
        relatives,
        form,
        errors,
        refusal,
        hours_today,
        override_reasons: OverrideReason::ALL,
    })
}

/// `GET /patients/{id}/visits/new?date=&time=`: the schedule form (a free slot of the week view
/// fills in its date and time).
pub async fn new_form(
    State(state): State<AppState>,
    staff: CurrentStaff,
    ctx: PageCtx,
    IdPath(id): IdPath,
    Query(slot): Query<SlotQuery>,
) -> Result<Response, AppError> {
    let patient = find_patient(&state, &staff, id.as_str(), &ctx.path).await?;
    let next_quarter = ctx
        .local_now()
        .map(|now| {
            let minutes = (now.hour() * 60 + now.minute()).div_ceil(15) * 15;
            let minutes = minutes.min(23 * 60 + 45);
            format!("{:02}:{:02}", minutes / 60, minutes % 60)
        })
        .unwrap_or_default();
    let form = VisitForm {
        date: parse_date(&slot.date)
            .map(|d| d.to_string())
            .unwrap_or_else(|_| ctx.today().to_string()),
        time: parse_time(&slot.time)
            .map(|t| t.format("%H:%M").to_string())
            .unwrap_or(next_quarter),
        repeat: "once".into(),
        ..VisitForm::default()
    };
    let mut page = schedule_page(
        &state,
        ctx.with_staff(&staff),
        patient,
        form,
        FormErrors::default(),
        None,
    )
    .await?;
    page.form.minutes = page.ward.default_minutes.to_string();
    render(&page)
}

/// `POST /patients/{id}/visits`: books the visit (or the repeat), or shows the form again as
/// typed with what is wrong.
pub async fn create(
    State(state): State<AppState>,
    staff: CurrentStaff,
    ctx: PageCtx,
    IdPath(id): IdPath,
    body: axum::body::Bytes,
) -> Result<Response, AppError> {
    let patient = find_patient(&state, &staff, id.as_str(), &ctx.path).await?;
    let form = read_form(&body)?;
    let t = ctx.t;
    let mut errors = FormErrors::default();
    let (chosen, minutes, override_) = who_and_how(&state, &patient, &form, &mut errors, t).await?;
    let date = errors.check("date", parse_date(&form.date), t);
    let start = errors.check("time", parse_time(&form.time), t);
    let repeat = match form.repeat.as_str() {
        "" | "once" => Some(Repeat::Once),
        "daily" | "weekdays" => {
            let until = errors.check("until", parse_date(&form.until), t);
            match (until, date) {
                (Some(until), Some(first)) if until < first => {
                    errors.add("until", FieldError::EndBeforeStart, t);
                    None
                }
                (Some(until), Some(first))
                    if (until - first).num_days() >= MAX_REPEAT_DAYS as i64 =>
                {
                    errors.add(
                        "until",
                        FieldError::NumberOutOfRange(1, MAX_REPEAT_DAYS as i64),
                        t,
                    );
                    None
                }
                (Some(until), _) if form.repeat == "daily" => Some(Repeat::Daily { until }),
                (Some(until), _) => {
                    let mut days = [false; 7];
                    for day in &form.day {
                        match day.parse::<usize>().ok().filter(|d| *d < 7) {
                            Some(d) => days[d] = true,
                            None => return Err(AppError::bad_request()),
                        }
                    }
                    if !days.iter().any(|d| *d) {
                        errors.add("day", FieldError::Required, t);
                        None
                    } else {
                        Some(Repeat::Weekdays { days, until })
                    }
                }
                _ => None,
            }
        }
        _ => return Err(AppError::bad_request()),
    };
    let (true, Some(date), Some(start), Some(minutes), Some(override_), Some(repeat)) =
        (errors.is_empty(), date, start, minutes, override_, repeat)
    else {
        let page =
            schedule_page(&state, ctx.with_staff(&staff), patient, form, errors, None).await?;
        return render_with_status(StatusCode::BAD_REQUEST, &page);
    };
    let request = VisitRequest {
        patient: patient.clone(),
        relatives: chosen,
        when: When::At {
            date,
            start,
            repeat,
        },
        minutes,
        override_,
    };
    book(&state, &staff, ctx, form, request).await
}

/// Who visits, for how long and why outside the hours, as both booking forms ask them.
async fn who_and_how(
    state: &AppState,
    patient: &Patient,
    form: &VisitForm,
    errors: &mut FormErrors,
    t: &Text,
) -> Result<(Vec<Relative>, Option<i64>, Option<Option<Override>>), AppError> {
    let relatives = db::relatives::list_for_patient(&state.db, &patient.id).await?;
    let chosen = chosen_relatives(form, &relatives, errors, t)?;
    let minutes = errors.check("minutes", parse_number(&form.minutes, 5, 480), t);
    Ok((chosen, minutes, parse_override(form, errors, t)))
}

/// Books what a form asked for: the visit's page (or the list of a repeat's days), or the form
/// again, as typed, with why not.
async fn book(
    state: &AppState,
    staff: &CurrentStaff,
    ctx: PageCtx,
    form: VisitForm,
    request: VisitRequest,
) -> Result<Response, AppError> {
    let patient = request.patient.clone();
    let admit_on_arrival = form.admit_on_arrival;
    match actions::schedule_visit(state, staff, &request).await? {
        Ok(booked) => {
            if admit_on_arrival {
                actions::admit_on_arrival(state, staff, &booked.visits, None).await?;
            }
            booked_page(state, ctx.with_staff(staff), &patient, booked).await
        }
        Err(refusal) => {
            let message = refusal_message(&ctx, &refusal);
            let page = schedule_page(
                state,
                ctx.with_staff(staff),
                patient,
                form,
                FormErrors::default(),
                Some(message),
            )
            .await?;
            render_with_status(StatusCode::CONFLICT, &page)
        }
    }
}

/// A refusal in the nurse's language, times in the hospital's.
pub fn refusal_message(ctx: &PageCtx, refusal: &Refusal) -> String {
    refusal.message(ctx.t, |at| ctx.time(&at))
}

#[derive(Template)]
#[template(path = "visits/booked.html")]
struct BookedPage {
    ctx: PageCtx,
    patient: Patient,
    visits: Vec<Visit>,
    refused: Vec<(NaiveDate, String)>,
}

async fn booked_page(
    state: &AppState,
    ctx: PageCtx,
    patient: &Patient,
    booked: Booked,
) -> Result<Response, AppError> {
    if booked.visits.len() == 1 && booked.refused.is_empty() {
        return Ok(Redirect::to(&format!("/visits/{}", booked.visits[0])).into_response());
    }
    let mut visits = Vec::with_capacity(booked.visits.len());
    for id in &booked.visits {
        if let Some(visit) = db::visits::find(&state.db, id).await? {
            visits.push(visit);
        }
    }
    let refused = booked
        .refused
        .iter()
        .map(|(day, refusal)| (*day, refusal_message(&ctx, refusal)))
        .collect();
    render(&BookedPage {
        ctx,
        patient: patient.clone(),
        visits,
        refused,
    })
}

/// `POST /patients/{id}/visits/now`: a visit starting at once (the quick path at the bedside).
pub async fn create_now(
    State(state): State<AppState>,
    staff: CurrentStaff,
    ctx: PageCtx,
    IdPath(id): IdPath,
    body: axum::body::Bytes,
) -> Result<Response, AppError> {
    let patient = find_patient(&state, &staff, id.as_str(), &ctx.path).await?;
    let form = read_form(&body)?;
    let mut errors = FormErrors::default();
    let (chosen, minutes, override_) =
        who_and_how(&state, &patient, &form, &mut errors, ctx.t).await?;
    let (true, Some(minutes), Some(override_)) = (errors.is_empty(), minutes, override_) else {
        let page =
            schedule_page(&state, ctx.with_staff(&staff), patient, form, errors, None).await?;
        return render_with_status(StatusCode::BAD_REQUEST, &page);
    };
    let request = VisitRequest {
        patient,
        relatives: chosen,
        when: When::Now,
        minutes,
        override_,
    };
    // Refused, the schedule form comes back at today and now, for an override or another time.
    let form = VisitForm {
        date: ctx.today().to_string(),
        time: ctx
            .local_now()
            .map(|n| n.format("%H:%M").to_string())
            .unwrap_or_default(),
        ..form
    };
    book(&state, &staff, ctx, form, request).await
}

/// Loads a visit named in a path that `staff` may reach, or 404 (audited when it is of another
/// ward).
pub async fn find_visit(
    state: &AppState,
    staff: &CurrentStaff,
    id: &str,
    path: &str,
) -> Result<Visit, AppError> {
    let id = RandomId::parse(id).ok_or_else(AppError::not_found)?;
    let visit = db::visits::find(&state.db, id.as_str())
        .await?
        .ok_or_else(AppError::not_found)?;
    require_ward(state, staff, &visit.ward_id, &visit.id, path).await?;
    Ok(visit)
}

#[derive(Template)]
#[template(path = "visits/show.html")]
struct VisitPage {
    ctx: PageCtx,
    visit: Visit,
    invites: Vec<VisitInvite>,
    changeable: bool,
    card_printable: bool,
    outside_hours: bool,
    form: VisitForm,
    errors: FormErrors,
    refusal: Option<String>,
    cancel_errors: FormErrors,
    override_reasons: [OverrideReason; 3],
    /// Authorised relatives of the patient not in the visit yet.
    others: Vec<Relative>,
}

impl VisitPage {
    fn override_label(&self, reason: &OverrideReason) -> &'static str {
        reason.label(self.ctx.t)
    }

    fn visit_override(&self) -> Option<&'static str> {
        self.visit.override_reason().map(|r| r.label(self.ctx.t))
    }
}

/// How long after booking a card can still be printed when the visit has already started
/// ("visit now").
const CARD_GRACE_SECS: i64 = 15 * 60;

fn card_printable(visit: &Visit, now: i64) -> bool {
    visit.is_changeable(now) && (now < visit.starts_at || now < visit.created_at + CARD_GRACE_SECS)
}

async fn visit_page(
    state: &AppState,
    ctx: PageCtx,
    visit: Visit,
    form: Option<VisitForm>,
    errors: FormErrors,
    refusal: Option<String>,
    cancel_errors: FormErrors,
) -> Result<VisitPage, AppError> {
    let now = db::now();
    let invites = db::visits::invites_of(&state.db, &visit.id).await?;
    let rules = actions::ward_rules(state).await?;
    let outside_hours = rules
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
    let others = db::relatives::list_for_patient(&state.db, &visit.patient_id)
        .await?
        .into_iter()
        .filter(|r| {
            r.is_authorised()
                && !invites
                    .iter()
                    .any(|i| i.revoked_at.is_none() && i.relative_id.as_deref() == Some(&r.id))
        })
        .collect();
    let form = form.unwrap_or_else(|| {
        let local = ctx.zone.local_at(visit.starts_at);
        VisitForm {
            date: local.map(|l| l.date().to_string()).unwrap_or_default(),
            time: local
                .map(|l| l.format("%H:%M").to_string())
                .unwrap_or_default(),
            minutes: visit.minutes().to_string(),
            override_reason: visit.override_reason.clone().unwrap_or_default(),
            override_note: visit.override_note.clone().unwrap_or_default(),
            ..VisitForm::default()
        }
    });
    Ok(VisitPage {
        changeable: visit.is_changeable(now),
        card_printable: card_printable(&visit, now),
        ctx,
        visit,
        invites,
        outside_hours,
        form,
        errors,
        refusal,
        cancel_errors,
        override_reasons: OverrideReason::ALL,
        others,
    })
}

/// `GET /visits/{id}`.
pub async fn show(
    State(state): State<AppState>,
    staff: CurrentStaff,
    ctx: PageCtx,
    IdPath(id): IdPath,
) -> Result<Response, AppError> {
    let visit = find_visit(&state, &staff, id.as_str(), &ctx.path).await?;
    let page = visit_page(
        &state,
        ctx.with_staff(&staff),
        visit,
        None,
        FormErrors::default(),
        None,
        FormErrors::default(),
    )
    .await?;
    render(&page)
}

/// `POST /visits/{id}/reschedule`: a new date, time or length; the links and codes stay.
pub async fn reschedule(
    State(state): State<AppState>,
    staff: CurrentStaff,
    ctx: PageCtx,
    IdPath(id): IdPath,
    body: axum::body::Bytes,
) -> Result<Response, AppError> {
    let visit = find_visit(&state, &staff, id.as_str(), &ctx.path).await?;
    let form = read_form(&body)?;
    let t = ctx.t;
    let mut errors = FormErrors::default();
    let date = errors.check("date", parse_date(&form.date), t);
    let start = errors.check("time", parse_time(&form.time), t);
    let minutes = errors.check("minutes", parse_number(&form.minutes, 5, 480), t);
    let override_ = parse_override(&form, &mut errors, t);
    let (Some(date), Some(start), Some(minutes), Some(override_)) =
        (date, start, minutes, override_)
    else {
        let page = visit_page(
            &state,
            ctx.with_staff(&staff),
            visit,
            Some(form),
            errors,
            None,
            FormErrors::default(),
        )
        .await?;
        return render_with_status(StatusCode::BAD_REQUEST, &page);
    };
    let result = actions::reschedule_visit(
        &state,
        &staff,
        &visit,
        date,
        start,
        minutes,
        override_.as_ref(),
    )
    .await?;
    match result {
        Ok(()) => Ok(Redirect::to(&format!("/visits/{}", visit.id)).into_response()),
        Err(refusal) => {
            let message = refusal_message(&ctx, &refusal);
            let page = visit_page(
                &state,
                ctx.with_staff(&staff),
                visit,
                Some(form),
                FormErrors::default(),
                Some(message),
                FormErrors::default(),
            )
            .await?;
            render_with_status(StatusCode::CONFLICT, &page)
        }
    }
}

/// `POST /visits/{id}/relatives`: another authorised relative joins the visit (their own card).
pub async fn add_relative(
    State(state): State<AppState>,
    staff: CurrentStaff,
    ctx: PageCtx,
    IdPath(id): IdPath,
    body: axum::body::Bytes,
) -> Result<Response, AppError> {
    let visit = find_visit(&state, &staff, id.as_str(), &ctx.path).await?;
    let form = read_form(&body)?;
    let relative = form
        .relative
        .first()
        .and_then(|r| RandomId::parse(r))
        .ok_or_else(AppError::bad_request)?;
    match actions::add_relative_to_visit(&state, &staff, &visit.id, relative.as_str()).await? {
        Ok(()) => {
            if form.admit_on_arrival {
                let visits = [visit.id.clone()];
                actions::admit_on_arrival(&state, &staff, &visits, Some(relative.as_str())).await?;
            }
            Ok(Redirect::to(&format!("/visits/{}", visit.id)).into_response())
        }
        Err(refusal) => {
            let message = refusal_message(&ctx, &refusal);
            let page = visit_page(
                &state,
                ctx.with_staff(&staff),
                visit,
                None,
                FormErrors::default(),
                Some(message),
                FormErrors::default(),
            )
            .await?;
            render_with_status(StatusCode::CONFLICT, &page)
        }
    }
}

/// The cancel form.
#[derive(Debug, Default, Deserialize)]
pub struct CancelForm {
    #[serde(default)]
    reason: String,
}

/// `POST /visits/{id}/cancel`: with a reason; the relatives' pages say it was cancelled.
pub async fn cancel(
    State(state): State<AppState>,
    staff: CurrentStaff,
    ctx: PageCtx,
    IdPath(id): IdPath,
    Form(form): Form<CancelForm>,
) -> Result<Response, AppError> {
    let visit = find_visit(&state, &staff, id.as_str(), &ctx.path).await?;
    let mut errors = FormErrors::default();
    let Some(reason) = errors.check("reason", Reason::parse(&form.reason), ctx.t) else {
        let page = visit_page(
            &state,
            ctx.with_staff(&staff),
            visit,
            None,
            FormErrors::default(),
            None,
            errors,
        )
        .await?;
        return render_with_status(StatusCode::BAD_REQUEST, &page);
    };
    match actions::cancel_visit(&state, &staff, &visit.id, reason.as_str()).await? {
        Ok(()) => Ok(Redirect::to(&format!("/visits/{}", visit.id)).into_response()),
        Err(_) => Err(AppError::conflict(|t| t.refuse_not_changeable)),
    }
}

/// `POST /visits/{id}/end`: ends it now; its relatives leave the call.
pub async fn end(
    State(state): State<AppState>,
    staff: CurrentStaff,
    ctx: PageCtx,
    IdPath(id): IdPath,
) -> Result<Response, AppError> {
    let visit = find_visit(&state, &staff, id.as_str(), &ctx.path).await?;
    match actions::end_visit(&state, &staff, &visit.id).await? {
        Ok(()) => Ok(Redirect::to(&format!("/visits/{}", visit.id)).into_response()),
        Err(_) => Err(AppError::conflict(|t| t.refuse_not_changeable)),
    }
}

#[derive(Template)]
#[template(path = "visits/card.html")]
struct CardPage {
    /// The card is in the relative's language, whatever the nurse's.
    ctx: PageCtx,
    staff_t: &'static Text,
    visit_id: String,
    patient_first_name: String,
    ward: String,
    relative_name: String,
    when: String,
    minutes: i64,
    link: String,
    code: String,
    qr_svg: String,
}

/// The first word of a name: the card names the patient no further.
fn first_name(name: &str) -> String {
    name.split_whitespace()
        .next()
        .unwrap_or_default()
        .to_string()
}

/// `GET /visits/{visit}/cards/{invite}`: a relative's printable card, in their language, until the
/// visit starts (or shortly after booking a visit that starts at once).
pub async fn card(
    State(state): State<AppState>,
    staff: CurrentStaff,
    ctx: PageCtx,
    headers: HeaderMap,
    uri: Uri,
    Path((visit_id, invite_id)): Path<(String, String)>,
) -> Result<Response, AppError> {
    let visit = find_visit(&state, &staff, &visit_id, &ctx.path).await?;
    if !card_printable(&visit, db::now()) {
        return Err(AppError::gone(|t| t.card_no_longer));
    }
    let invite_id = RandomId::parse(&invite_id).ok_or_else(AppError::not_found)?;
    let invite = db::invites::find(&state.db, invite_id.as_str())
        .await?
        .filter(|i| i.visit_id.as_deref() == Some(visit.id.as_str()))
        .ok_or_else(AppError::not_found)?;
    let secrets = invite
        .sealed_secrets
        .as_deref()
        .and_then(|sealed| actions::invite_secrets(&state.secret, &invite.id, sealed))
        .ok_or_else(|| anyhow::anyhow!("an invite's sealed secrets do not open"))?;
    let link = format!(
        "{}/i/{}",
        public_base_url(&state, &headers, &uri),
        secrets.token
    );
    let qr_svg = qrcode::QrCode::with_error_correction_level(link.as_bytes(), qrcode::EcLevel::M)
        .map(|qr| {
            qr.render::<qrcode::render::svg::Color<'_>>()
                .min_dimensions(220, 220)
                .quiet_zone(true)
                .build()
        })
        .map_err(|e| anyhow::anyhow!("drawing the QR code: {e}"))?;
    let lang = Lang::from_code(&invite.lang).unwrap_or(ctx.lang);
    let card_ctx = PageCtx {
        t: lang.text(),
        lang,
        flash: None,
        ..ctx.clone()
    };
    render(&CardPage {
        when: card_ctx.long_time(visit.starts_at),
        ctx: card_ctx,
        staff_t: ctx.t,
        visit_id: visit.id.clone(),
        patient_first_name: first_name(&visit.patient_name),
        ward: visit.ward.clone(),
        relative_name: invite.relative_name,
        minutes: visit.minutes(),
        link,
        code: secrets.code.grouped(),
        qr_svg,
    })
}

/// The days of the week from `monday`, for the week view.
pub fn week_of(day: NaiveDate) -> NaiveDate {
    use chrono::Datelike;
    day - Duration::days(i64::from(day.weekday().num_days_from_monday()))
}

/// `GET /visits/{id}/cancel`: what cancelling the visit will do, the reason to type, and the
/// button.
pub async fn cancel_confirm(
    State(state): State<AppState>,
    staff: CurrentStaff,
    ctx: PageCtx,
    IdPath(id): IdPath,
) -> Result<Response, AppError> {
    let visit = find_visit(&state, &staff, id.as_str(), &ctx.path).await?;
    let back = format!("/visits/{}", visit.id);
    if !visit.is_changeable(db::now()) {
        return Ok(Redirect::to(&back).into_response());
    }
    let t = ctx.t;
    let invites = {
        let mut conn = state.db.acquire().await?;
        db::invites::ids_of_visit(&mut conn, &visit.id).await?
    };
    let mut consequences = Vec::new();
    if !invites.is_empty() {
        consequences.push(t.confirm_cancel_links.of(invites.len()));
    }
    if super::confirm::invite_in_call(&state, &invites) {
        consequences.push(t.confirm_in_call_leaves.to_string());
    }
    super::confirm::page(&super::confirm::ConfirmPage {
        title: t
            .confirm_title_cancel
            .replace("{name}", &visit.patient_name),
        consequences,
        action: format!("/visits/{}/cancel", visit.id),
        button: t.cancel_visit_button,
        back,
        reason: true,
        ctx: ctx.with_staff(&staff),
    })
}
