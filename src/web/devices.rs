//! Bedside tablets as nurses handle them: pairing one to a patient's bed (typing the code the
//! tablet shows on the patient's page, or scanning its QR code, which opens `/pair`), unpairing
//! it, and the patient's bedside settings.

use askama::Template;
use axum::{
    Form,
    extract::{Path, Query, State},
    http::StatusCode,
    response::{IntoResponse, Redirect, Response},
};
use serde::Deserialize;

use super::{
    CurrentStaff, FormErrors, IdPath, PageCtx,
    patients::{PatientPage, find_patient},
    relatives::RelativeForm,
    render, render_with_status, ward_access,
};
use crate::{
    actions::{self, Paired},
    db::{self, patients::Patient},
    domain::{AccessCode, BedsideAnswer, RandomId},
    error::AppError,
    state::AppState,
};

/// The pairing form.
#[derive(Debug, Default, Deserialize)]
pub struct PairForm {
    #[serde(default)]
    code: String,
    /// On `/pair`: the patient chosen.
    #[serde(default)]
    patient: String,
}

/// Pairs, and says what to show: `Ok(())` when paired, else the refusal's status and message.
async fn try_pair(
    state: &AppState,
    staff: &CurrentStaff,
    ctx: &PageCtx,
    patient: &Patient,
    code: &str,
) -> Result<Result<(), (StatusCode, String)>, AppError> {
    if patient.is_discharged() {
        return Err(AppError::conflict(|t| t.err_patient_discharged));
    }
    Ok(
        match actions::pair_device(state, staff, &patient.id, code).await? {
            Paired::Device(_) => Ok(()),
            Paired::WrongCode => Err((StatusCode::BAD_REQUEST, ctx.t.pair_code_wrong.to_string())),
            Paired::Throttled => Err((
                StatusCode::TOO_MANY_REQUESTS,
                ctx.t.pair_throttled.to_string(),
            )),
        },
    )
}

/// `POST /patients/{id}/devices`: pairs the tablet showing `code` to this patient's bed. A wrong
/// code shows the patient page again with the error (400; 429 after five).
pub async fn pair(
    State(state): State<AppState>,
    staff: CurrentStaff,
    ctx: PageCtx,
    IdPath(id): IdPath,
    Form(form): Form<PairForm>,
) -> Result<Response, AppError> {
    let patient = find_patient(&state, &staff, id.as_str(), &ctx.path).await?;
    match try_pair(&state, &staff, &ctx, &patient, &form.code).await? {
        Ok(()) => Ok(Redirect::to(&format!("/patients/{}#bedside", patient.id)).into_response()),
        Err((status, message)) => {
            let mut page = PatientPage::load(
                &state,
                ctx.with_staff(&staff),
                patient,
                RelativeForm::default(),
                FormErrors::default(),
            )
            .await?;
            page.pair_error = Some(message);
            render_with_status(status, &page)
        }
    }
}

/// `POST /patients/{id}/devices/{device}/unpair`.
pub async fn unpair(
    State(state): State<AppState>,
    staff: CurrentStaff,
    ctx: PageCtx,
    Path((id, device)): Path<(String, String)>,
) -> Result<Response, AppError> {
    let patient = find_patient(&state, &staff, &id, &ctx.path).await?;
    let device = RandomId::parse(&device).ok_or_else(AppError::not_found)?;
    actions::unpair_device(&state, &staff, &patient.id, device.as_str()).await?;
    Ok(Redirect::to(&format!("/patients/{}#bedside", patient.id)).into_response())
}

/// The bedside settings form.
#[derive(Debug, Default, Deserialize)]
pub struct BedsideForm {
    #[serde(default)]
    answer: String,
    #[serde(default)]
    camera_off: Option<String>,
}

/// `POST /patients/{id}/bedside`: how the tablet answers, and whether calls start with the
/// camera off.
pub async fn settings(
    State(state): State<AppState>,
    staff: CurrentStaff,
    ctx: PageCtx,
    IdPath(id): IdPath,
    Form(form): Form<BedsideForm>,
) -> Result<Response, AppError> {
    let patient = find_patient(&state, &staff, id.as_str(), &ctx.path).await?;
    let answer = BedsideAnswer::parse(&form.answer).ok_or_else(AppError::bad_request)?;
    actions::set_bedside_settings(
        &state,
        &staff,
        &patient.id,
        answer,
        form.camera_off.is_some(),
    )
    .await?;
    Ok(Redirect::to(&format!("/patients/{}#bedside", patient.id)).into_response())
}

#[derive(Template)]
#[template(path = "patients/pair.html")]
struct PairPage {
    ctx: PageCtx,
    code: String,
    patients: Vec<Patient>,
    error: Option<String>,
}

/// `?code=` from the tablet's QR code.
#[derive(Debug, Default, Deserialize)]
pub struct PairQuery {
    #[serde(default)]
    code: String,
}

async fn admitted_patients(
    state: &AppState,
    staff: &CurrentStaff,
) -> Result<Vec<Patient>, AppError> {
    let access = ward_access(state, staff).await?;
    Ok(db::patients::search(&state.db, "", access.scope(staff))
        .await?
        .into_iter()
        .filter(|p| !p.is_discharged())
        .collect())
}

/// `GET /pair?code=`: what the tablet's QR code opens on a nurse's phone: the code, and the
/// patients of the nurse's wards to pair it to.
pub async fn pair_form(
    State(state): State<AppState>,
    staff: CurrentStaff,
    ctx: PageCtx,
    Query(query): Query<PairQuery>,
) -> Result<Response, AppError> {
    let code = AccessCode::parse(&query.code)
        .map(|c| c.as_str().to_string())
        .unwrap_or_default();
    render(&PairPage {
        patients: admitted_patients(&state, &staff).await?,
        ctx: ctx.with_staff(&staff),
        code,
        error: None,
    })
}

/// `POST /pair`: pairs the tablet to the chosen patient (whose ward the nurse must work in).
pub async fn pair_chosen(
    State(state): State<AppState>,
    staff: CurrentStaff,
    ctx: PageCtx,
    Form(form): Form<PairForm>,
) -> Result<Response, AppError> {
    let patient = find_patient(&state, &staff, &form.patient, &ctx.path).await?;
    match try_pair(&state, &staff, &ctx, &patient, &form.code).await? {
        Ok(()) => Ok(Redirect::to(&format!("/patients/{}#bedside", patient.id)).into_response()),
        Err((status, message)) => render_with_status(
            status,
            &PairPage {
                patients: admitted_patients(&state, &staff).await?,
                ctx: ctx.with_staff(&staff),
                code: form.code.chars().take(12).collect(),
                error: Some(message),
            },
        ),
    }
}
