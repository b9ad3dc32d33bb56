//! Patients: register, list and search, look at one, discharge.

use askama::Template;
use axum::{
    Form,
    extract::{Query, State},
    http::StatusCode,
    response::{IntoResponse, Redirect, Response},
};
use serde::Deserialize;

use super::{FormErrors, IdPath, PageCtx, render, render_with_status};
use crate::{
    actions::{self, Registered},
    db::{
        self,
        patients::{NewPatient, Patient},
        rooms::RoomView,
    },
    domain::{Bed, FieldError, PersonName, RandomId, RecordNumber, Ward},
    error::AppError,
    state::AppState,
    web::CurrentStaff,
};

#[derive(Template)]
#[template(path = "patients/list.html")]
struct PatientsPage {
    ctx: PageCtx,
    query: String,
    patients: Vec<Patient>,
}

/// The search box.
#[derive(Debug, Default, Deserialize)]
pub struct SearchQuery {
    #[serde(default)]
    q: String,
}

/// `GET /patients?q=`: admitted patients first.
pub async fn list(
    State(state): State<AppState>,
    staff: CurrentStaff,
    ctx: PageCtx,
    Query(search): Query<SearchQuery>,
) -> Result<Response, AppError> {
    let query: String = search.q.trim().chars().take(100).collect();
    let patients = db::patients::search(&state.db, &query).await?;
    render(&PatientsPage {
        ctx: ctx.with_staff(&staff),
        query,
        patients,
    })
}

#[derive(Template)]
#[template(path = "patients/new.html")]
struct NewPatientPage {
    ctx: PageCtx,
    form: PatientForm,
    errors: FormErrors,
}

/// The registration form.
#[derive(Debug, Default, Deserialize)]
pub struct PatientForm {
    #[serde(default)]
    display_name: String,
    #[serde(default)]
    ward: String,
    #[serde(default)]
    bed: String,
    #[serde(default)]
    record_number: String,
}

/// `GET /patients/new`.
pub async fn new_form(staff: CurrentStaff, ctx: PageCtx) -> Result<Response, AppError> {
    render(&NewPatientPage {
        ctx: ctx.with_staff(&staff),
        form: PatientForm::default(),
        errors: FormErrors::default(),
    })
}

/// `POST /patients`: registers a patient, or shows the form again with what is wrong.
pub async fn create(
    State(state): State<AppState>,
    staff: CurrentStaff,
    ctx: PageCtx,
    Form(form): Form<PatientForm>,
) -> Result<Response, AppError> {
    let t = ctx.t;
    let mut errors = FormErrors::default();
    let display_name = errors.check("display_name", PersonName::parse(&form.display_name), t);
    let ward = errors.check("ward", Ward::parse(&form.ward), t);
    let bed = errors.check("bed", Bed::parse(&form.bed), t);
    let record_number = errors.check(
        "record_number",
        RecordNumber::parse_optional(&form.record_number),
        t,
    );
    let (Some(display_name), Some(ward), Some(bed), Some(record_number)) =
        (display_name, ward, bed, record_number)
    else {
        let page = NewPatientPage {
            ctx: ctx.with_staff(&staff),
            form,
            errors,
        };
        return render_with_status(StatusCode::BAD_REQUEST, &page);
    };

    let new = NewPatient {
        display_name,
        ward,
        bed,
        record_number,
    };
    match actions::register_patient(&state, &staff, &new).await? {
        Registered::Created(id) => Ok(Redirect::to(&format!("/patients/{id}")).into_response()),
        Registered::RecordNumberTaken => {
            errors.add("record_number", FieldError::RecordNumberTaken, t);
            let page = NewPatientPage {
                ctx: ctx.with_staff(&staff),
                form,
                errors,
            };
            render_with_status(StatusCode::CONFLICT, &page)
        }
    }
}

#[derive(Template)]
#[template(path = "patients/show.html")]
struct PatientPage {
    ctx: PageCtx,
    patient: Patient,
    rooms: Vec<RoomView>,
}

/// Loads a patient named in a path, or 404.
pub async fn find_patient(state: &AppState, id: &str) -> Result<Patient, AppError> {
    let id = RandomId::parse(id).ok_or_else(AppError::not_found)?;
    db::patients::find(&state.db, id.as_str())
        .await?
        .ok_or_else(AppError::not_found)
}

/// `GET /patients/{id}`: the patient, their rooms, and the actions.
pub async fn show(
    State(state): State<AppState>,
    staff: CurrentStaff,
    ctx: PageCtx,
    IdPath(id): IdPath,
) -> Result<Response, AppError> {
    let patient = find_patient(&state, id.as_str()).await?;
    let rooms = db::rooms::list_for_patient(&state.db, &patient.id).await?;
    render(&PatientPage {
        ctx: ctx.with_staff(&staff),
        patient,
        rooms,
    })
}

/// `POST /patients/{id}/discharge`: no new rooms from now on, and every open room closes, in one
/// transaction with its audit rows.
pub async fn discharge(
    State(state): State<AppState>,
    staff: CurrentStaff,
    IdPath(id): IdPath,
) -> Result<Redirect, AppError> {
    let patient = find_patient(&state, id.as_str()).await?;
    actions::discharge_patient(&state, &staff, &patient.id).await?;
    Ok(Redirect::to(&format!("/patients/{}", patient.id)))
}
