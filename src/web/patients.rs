//! Patients: register, list and search, look at one, discharge.

use askama::Template;
use axum::{
    Form,
    extract::{Path, Query, State},
    http::StatusCode,
    response::{IntoResponse, Redirect, Response},
};
use serde::Deserialize;

use super::{FormErrors, PageCtx, render, render_with_status};
use crate::{
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
    let mut tx = state.db.begin().await?;
    let id = match db::patients::create(&mut tx, &new, &staff.id).await {
        Ok(id) => id,
        Err(err) if db::is_unique_violation(&err) => {
            errors.add("record_number", FieldError::RecordNumberTaken, t);
            let page = NewPatientPage {
                ctx: ctx.with_staff(&staff),
                form,
                errors,
            };
            return render_with_status(StatusCode::CONFLICT, &page);
        }
        Err(err) => return Err(err.into()),
    };
    db::audit::record(&mut tx, Some(&staff.id), "patient.register", Some(&id)).await?;
    tx.commit().await?;
    Ok(Redirect::to(&format!("/patients/{id}")).into_response())
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
    Path(id): Path<String>,
) -> Result<Response, AppError> {
    let patient = find_patient(&state, &id).await?;
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
    Path(id): Path<String>,
) -> Result<Redirect, AppError> {
    let patient = find_patient(&state, &id).await?;
    let mut tx = state.db.begin().await?;
    let mut closed = Vec::new();
    if db::patients::discharge(&mut tx, &patient.id, &staff.id).await? {
        db::audit::record(
            &mut tx,
            Some(&staff.id),
            "patient.discharge",
            Some(&patient.id),
        )
        .await?;
        closed = db::rooms::close_all_for_patient(&mut tx, &patient.id, &staff.id).await?;
        for room in &closed {
            db::audit::record(&mut tx, Some(&staff.id), "room.close", Some(room)).await?;
        }
    }
    let committed = tx.commit().await;
    // Even when the commit reports an error: it may have landed.
    state.caches.rooms_changed();
    committed?;
    let signaling = state.signaling.clone();
    tokio::spawn(async move {
        for room in &closed {
            signaling.end_room(room).await;
        }
    });
    Ok(Redirect::to(&format!("/patients/{}", patient.id)))
}
