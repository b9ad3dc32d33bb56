//! The register of authorised relatives, on the patient's page: authorise one, withdraw one.

use axum::{
    Form,
    extract::{Path, State},
    http::StatusCode,
    response::{IntoResponse, Redirect, Response},
};
use serde::Deserialize;

use super::{
    FormErrors, PageCtx,
    patients::{PatientPage, find_patient},
    render_with_status,
};
use crate::{
    actions,
    db::{self, relatives::NewRelative},
    domain::{Contact, FieldError, Note, PersonName, RandomId, Relationship},
    error::AppError,
    i18n::Lang,
    state::AppState,
    web::CurrentStaff,
};

/// The form that authorises a relative.
#[derive(Debug, Default, Deserialize)]
pub struct RelativeForm {
    #[serde(default)]
    pub display_name: String,
    #[serde(default)]
    pub relationship: String,
    #[serde(default)]
    pub lang: String,
    #[serde(default)]
    pub contact: String,
    #[serde(default)]
    pub note: String,
}

/// An optional text field: empty is `None`.
fn optional<T>(
    input: &str,
    parse: fn(&str) -> Result<T, FieldError>,
) -> Result<Option<T>, FieldError> {
    if input.trim().is_empty() {
        Ok(None)
    } else {
        parse(input).map(Some)
    }
}

/// `POST /patients/{id}/relatives`.
pub async fn create(
    State(state): State<AppState>,
    staff: CurrentStaff,
    ctx: PageCtx,
    Path(patient_id): Path<String>,
    Form(form): Form<RelativeForm>,
) -> Result<Response, AppError> {
    let patient = find_patient(&state, &staff, &patient_id, &ctx.path).await?;
    let t = ctx.t;
    let mut errors = FormErrors::default();
    let name = errors.check("display_name", PersonName::parse(&form.display_name), t);
    let relationship = errors.check("relationship", Relationship::parse(&form.relationship), t);
    let contact = errors.check("contact", optional(&form.contact, Contact::parse), t);
    let note = errors.check("note", optional(&form.note, Note::parse), t);
    let lang = Lang::from_code(&form.lang);
    if lang.is_none() {
        errors.add("lang", FieldError::Required, t);
    }
    let (Some(name), Some(relationship), Some(contact), Some(note), Some(lang)) =
        (name, relationship, contact, note, lang)
    else {
        let page = PatientPage::load(&state, ctx.with_staff(&staff), patient, form, errors).await?;
        return render_with_status(StatusCode::BAD_REQUEST, &page);
    };
    let new = NewRelative {
        patient_id: &patient.id,
        display_name: name.as_str(),
        relationship: relationship.as_str(),
        lang: lang.code(),
        contact: contact.as_ref().map(Contact::as_str),
        note: note.as_ref().map(Note::as_str),
    };
    actions::authorise_relative(&state, &staff, &new).await?;
    Ok(Redirect::to(&format!("/patients/{}#relatives", patient.id)).into_response())
}

/// `POST /patients/{patient}/relatives/{relative}/withdraw`: their future visits are cancelled
/// (or go on without them), their links stop working, and they leave a running call.
pub async fn withdraw(
    State(state): State<AppState>,
    staff: CurrentStaff,
    ctx: PageCtx,
    Path((patient_id, relative_id)): Path<(String, String)>,
) -> Result<Redirect, AppError> {
    let patient = find_patient(&state, &staff, &patient_id, &ctx.path).await?;
    let relative_id = RandomId::parse(&relative_id).ok_or_else(AppError::not_found)?;
    let relative = db::relatives::find(&state.db, relative_id.as_str())
        .await?
        .filter(|r| r.patient_id == patient.id)
        .ok_or_else(AppError::not_found)?;
    actions::withdraw_relative(&state, &staff, &relative.id).await?;
    Ok(Redirect::to(&format!("/patients/{}#relatives", patient.id)))
}

/// `GET /patients/{patient}/relatives/{relative}/withdraw`: what withdrawing the relative will
/// do, and the button.
pub async fn withdraw_confirm(
    State(state): State<AppState>,
    staff: CurrentStaff,
    ctx: PageCtx,
    Path((patient_id, relative_id)): Path<(String, String)>,
) -> Result<axum::response::Response, AppError> {
    let patient = find_patient(&state, &staff, &patient_id, &ctx.path).await?;
    let relative_id = RandomId::parse(&relative_id).ok_or_else(AppError::not_found)?;
    let relative = db::relatives::find(&state.db, relative_id.as_str())
        .await?
        .filter(|r| r.patient_id == patient.id)
        .ok_or_else(AppError::not_found)?;
    let t = ctx.t;
    let (visits, invites) =
        db::relatives::open_visits_and_invites(&state.db, &relative.id, db::now()).await?;
    let mut consequences = vec![t.confirm_link_stops.to_string()];
    if visits > 0 {
        consequences.push(t.confirm_withdraw_visits.of(visits));
    }
    if super::confirm::invite_in_call(&state, &invites) {
        consequences.push(t.confirm_in_call_leaves.to_string());
    }
    super::confirm::page(&super::confirm::ConfirmPage {
        title: t
            .confirm_title_withdraw
            .replace("{name}", &relative.display_name),
        consequences,
        action: format!(
            "/patients/{}/relatives/{}/withdraw",
            patient.id, relative.id
        ),
        button: t.withdraw_button,
        back: format!("/patients/{}#relatives", patient.id),
        reason: false,
        ctx: ctx.with_staff(&staff),
    })
}
