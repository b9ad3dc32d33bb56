//! Patients: register, list and search, look at one (relatives, visits, rooms), edit or transfer,
//! "no visits for now", discharge. Nurses reach the patients of their wards only.

use askama::Template;
use axum::{
    Form,
    extract::{Query, State},
    http::StatusCode,
    response::{IntoResponse, Redirect, Response},
};
use serde::Deserialize;

use super::{
    FormErrors, IdPath, PageCtx, relatives::RelativeForm, render, render_with_status, require_ward,
    ward_access,
};
use crate::{
    actions::{self, Registered, Updated},
    db::{
        self,
        patients::{NewPatient, Patient, PatientEdit},
        relatives::Relative,
        rooms::RoomView,
        visits::Visit,
        wards::Ward,
    },
    domain::{Bed, BedsideAnswer, FieldError, PersonName, RandomId, Reason, RecordNumber},
    error::AppError,
    i18n::Lang,
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

/// `GET /patients?q=`: the patients of the nurse's wards, admitted first.
pub async fn list(
    State(state): State<AppState>,
    staff: CurrentStaff,
    ctx: PageCtx,
    Query(search): Query<SearchQuery>,
) -> Result<Response, AppError> {
    let query: String = search.q.trim().chars().take(100).collect();
    let access = ward_access(&state, &staff).await?;
    let patients = db::patients::search(&state.db, &query, access.scope(&staff)).await?;
    render(&PatientsPage {
        ctx: ctx.with_staff(&staff),
        query,
        patients,
    })
}

#[derive(Template)]
#[template(path = "patients/new.html")]
struct PatientFormPage {
    ctx: PageCtx,
    /// `None` for a new patient.
    patient: Option<Patient>,
    form: PatientForm,
    errors: FormErrors,
    wards: Vec<Ward>,
}

/// The registration and edit form.
#[derive(Debug, Default, Deserialize)]
pub struct PatientForm {
    #[serde(default)]
    display_name: String,
    #[serde(default)]
    ward_id: String,
    #[serde(default)]
    bed: String,
    #[serde(default)]
    record_number: String,
}

/// The wards `staff` may put a patient in.
async fn wards_for(state: &AppState, staff: &CurrentStaff) -> Result<Vec<Ward>, AppError> {
    let access = ward_access(state, staff).await?;
    Ok(super::wards::all_wards(state)
        .await?
        .into_iter()
        .filter(|w| access.allows(&w.id))
        .collect())
}

/// A valid patient form.
struct ParsedPatient {
    display_name: PersonName,
    ward_id: String,
    bed: Bed,
    record_number: Option<RecordNumber>,
}

fn parse_patient(
    form: &PatientForm,
    wards: &[Ward],
    errors: &mut FormErrors,
    t: &crate::i18n::Text,
) -> Option<ParsedPatient> {
    let display_name = errors.check("display_name", PersonName::parse(&form.display_name), t);
    let ward = wards.iter().find(|w| w.id == form.ward_id.trim());
    if ward.is_none() {
        errors.add("ward_id", FieldError::WardUnknown, t);
    }
    let bed = errors.check("bed", Bed::parse(&form.bed), t);
    let record_number = errors.check(
        "record_number",
        RecordNumber::parse_optional(&form.record_number),
        t,
    );
    Some(ParsedPatient {
        display_name: display_name?,
        ward_id: ward?.id.clone(),
        bed: bed?,
        record_number: record_number?,
    })
}

/// `GET /patients/new`.
pub async fn new_form(
    State(state): State<AppState>,
    staff: CurrentStaff,
    ctx: PageCtx,
) -> Result<Response, AppError> {
    let wards = wards_for(&state, &staff).await?;
    let form = PatientForm {
        ward_id: match wards.as_slice() {
            [only] => only.id.clone(),
            _ => String::new(),
        },
        ..PatientForm::default()
    };
    render(&PatientFormPage {
        ctx: ctx.with_staff(&staff),
        patient: None,
        form,
        errors: FormErrors::default(),
        wards,
    })
}

/// `POST /patients`: registers a patient in one of the nurse's wards, or shows the form again
/// with what is wrong.
pub async fn create(
    State(state): State<AppState>,
    staff: CurrentStaff,
    ctx: PageCtx,
    Form(form): Form<PatientForm>,
) -> Result<Response, AppError> {
    let t = ctx.t;
    let wards = wards_for(&state, &staff).await?;
    let mut errors = FormErrors::default();
    let Some(parsed) = parse_patient(&form, &wards, &mut errors, t) else {
        let page = PatientFormPage {
            ctx: ctx.with_staff(&staff),
            patient: None,
            form,
            errors,
            wards,
        };
        return render_with_status(StatusCode::BAD_REQUEST, &page);
    };
    let new = NewPatient {
        display_name: parsed.display_name,
        ward_id: parsed.ward_id,
        bed: parsed.bed,
        record_number: parsed.record_number,
    };
    match actions::register_patient(&state, &staff, &new).await? {
        Registered::Created(id) => Ok(Redirect::to(&format!("/patients/{id}")).into_response()),
        Registered::RecordNumberTaken => {
            errors.add("record_number", FieldError::RecordNumberTaken, t);
            let page = PatientFormPage {
                ctx: ctx.with_staff(&staff),
                patient: None,
                form,
                errors,
                wards,
            };
            render_with_status(StatusCode::CONFLICT, &page)
        }
    }
}

/// A patient's page.
#[derive(Template)]
#[template(path = "patients/show.html")]
pub struct PatientPage {
    ctx: PageCtx,
    patient: Patient,
    rooms: Vec<RoomView>,
    relatives: Vec<Relative>,
    visits: Vec<Visit>,
    relative_form: RelativeForm,
    relative_errors: FormErrors,
    no_visits_errors: FormErrors,
    /// Visits the patient's (new) ward does not allow, after an edit.
    misfits: Vec<Visit>,
    languages: [Lang; 2],
    /// The bedside tablets paired to the patient's bed.
    pub devices: Vec<db::devices::PairedDevice>,
    /// Why the pairing code typed was refused.
    pub pair_error: Option<String>,
}

impl PatientPage {
    /// Loads what the page shows around `patient`.
    pub async fn load(
        state: &AppState,
        ctx: PageCtx,
        patient: Patient,
        relative_form: RelativeForm,
        relative_errors: FormErrors,
    ) -> Result<PatientPage, AppError> {
        let rooms = db::rooms::list_for_patient(&state.db, &patient.id).await?;
        let relatives = db::relatives::list_for_patient(&state.db, &patient.id).await?;
        let visits = db::visits::upcoming_for_patient(&state.db, &patient.id, db::now()).await?;
        let devices = db::devices::paired_to(&state.db, &patient.id).await?;
        let relative_form = RelativeForm {
            lang: if relative_form.lang.is_empty() {
                ctx.lang.code().to_string()
            } else {
                relative_form.lang
            },
            ..relative_form
        };
        Ok(PatientPage {
            ctx,
            patient,
            rooms,
            relatives,
            visits,
            relative_form,
            relative_errors,
            no_visits_errors: FormErrors::default(),
            misfits: Vec::new(),
            languages: Lang::ALL,
            devices,
            pair_error: None,
        })
    }

    fn language_name(&self, code: &str) -> &'static str {
        match Lang::from_code(code) {
            Some(Lang::En) => "English",
            _ => "Español",
        }
    }

    fn answers_by_itself(&self) -> bool {
        self.patient.bedside_answer == BedsideAnswer::Auto.as_str()
    }

    fn lang_name(&self, lang: &Lang) -> &'static str {
        self.language_name(lang.code())
    }
}

/// Loads a patient named in a path that `staff` may reach, or 404 (audited when the patient is
/// of another ward).
pub async fn find_patient(
    state: &AppState,
    staff: &CurrentStaff,
    id: &str,
    path: &str,
) -> Result<Patient, AppError> {
    let id = RandomId::parse(id).ok_or_else(AppError::not_found)?;
    let patient = db::patients::find(&state.db, id.as_str())
        .await?
        .ok_or_else(AppError::not_found)?;
    require_ward(state, staff, &patient.ward_id, &patient.id, path).await?;
    Ok(patient)
}

/// `GET /patients/{id}`: the patient, their relatives, visits and rooms, and the actions.
pub async fn show(
    State(state): State<AppState>,
    staff: CurrentStaff,
    ctx: PageCtx,
    IdPath(id): IdPath,
) -> Result<Response, AppError> {
    let patient = find_patient(&state, &staff, id.as_str(), &ctx.path).await?;
    let page = PatientPage::load(
        &state,
        ctx.with_staff(&staff),
        patient,
        RelativeForm::default(),
        FormErrors::default(),
    )
    .await?;
    render(&page)
}

/// `GET /patients/{id}/edit`.
pub async fn edit_form(
    State(state): State<AppState>,
    staff: CurrentStaff,
    ctx: PageCtx,
    IdPath(id): IdPath,
) -> Result<Response, AppError> {
    let patient = find_patient(&state, &staff, id.as_str(), &ctx.path).await?;
    let wards = wards_for(&state, &staff).await?;
    let form = PatientForm {
        display_name: patient.display_name.clone(),
        ward_id: patient.ward_id.clone(),
        bed: patient.bed.clone(),
        record_number: patient.record_number.clone().unwrap_or_default(),
    };
    render(&PatientFormPage {
        ctx: ctx.with_staff(&staff),
        patient: Some(patient),
        form,
        errors: FormErrors::default(),
        wards,
    })
}

/// `POST /patients/{id}/edit`: new details or another ward (the nurse must work in both); the
/// page then lists their visits that the ward's hours no longer allow.
pub async fn update(
    State(state): State<AppState>,
    staff: CurrentStaff,
    ctx: PageCtx,
    IdPath(id): IdPath,
    Form(form): Form<PatientForm>,
) -> Result<Response, AppError> {
    let patient = find_patient(&state, &staff, id.as_str(), &ctx.path).await?;
    let t = ctx.t;
    let wards = wards_for(&state, &staff).await?;
    let mut errors = FormErrors::default();
    let again = |form, errors, status, wards| {
        render_with_status(
            status,
            &PatientFormPage {
                ctx: ctx.clone().with_staff(&staff),
                patient: Some(patient.clone()),
                form,
                errors,
                wards,
            },
        )
    };
    let Some(parsed) = parse_patient(&form, &wards, &mut errors, t) else {
        return again(form, errors, StatusCode::BAD_REQUEST, wards);
    };
    let edit = PatientEdit {
        display_name: &parsed.display_name,
        ward_id: &parsed.ward_id,
        bed: &parsed.bed,
        record_number: parsed.record_number.as_ref(),
    };
    match actions::update_patient(&state, &staff, &patient.id, &patient.ward_id, &edit).await? {
        Updated::RecordNumberTaken => {
            errors.add("record_number", FieldError::RecordNumberTaken, t);
            again(form, errors, StatusCode::CONFLICT, wards)
        }
        Updated::Saved { misfits } if misfits.is_empty() => {
            Ok(Redirect::to(&format!("/patients/{}", patient.id)).into_response())
        }
        Updated::Saved { misfits } => {
            let fresh = db::patients::find(&state.db, &patient.id)
                .await?
                .ok_or_else(AppError::not_found)?;
            let mut page = PatientPage::load(
                &state,
                ctx.clone().with_staff(&staff),
                fresh,
                RelativeForm::default(),
                FormErrors::default(),
            )
            .await?;
            page.misfits = misfits;
            render(&page)
        }
    }
}

/// The "no visits for now" form: a reason sets it, `clear` lifts it.
#[derive(Debug, Default, Deserialize)]
pub struct NoVisitsForm {
    #[serde(default)]
    reason: String,
    #[serde(default)]
    clear: String,
}

/// `POST /patients/{id}/no-visits`.
pub async fn no_visits(
    State(state): State<AppState>,
    staff: CurrentStaff,
    ctx: PageCtx,
    IdPath(id): IdPath,
    Form(form): Form<NoVisitsForm>,
) -> Result<Response, AppError> {
    let patient = find_patient(&state, &staff, id.as_str(), &ctx.path).await?;
    if !form.clear.is_empty() {
        actions::set_no_visits(&state, &staff, &patient.id, None).await?;
        return Ok(Redirect::to(&format!("/patients/{}", patient.id)).into_response());
    }
    let mut errors = FormErrors::default();
    let Some(reason) = errors.check("no_visits_reason", Reason::parse(&form.reason), ctx.t) else {
        let mut page = PatientPage::load(
            &state,
            ctx.with_staff(&staff),
            patient,
            RelativeForm::default(),
            FormErrors::default(),
        )
        .await?;
        page.no_visits_errors = errors;
        return render_with_status(StatusCode::BAD_REQUEST, &page);
    };
    actions::set_no_visits(&state, &staff, &patient.id, Some(reason.as_str())).await?;
    Ok(Redirect::to(&format!("/patients/{}", patient.id)).into_response())
}

/// `POST /patients/{id}/discharge`: no new rooms or visits from now on, and every open room
/// closes, in one transaction with its audit rows.
pub async fn discharge(
    State(state): State<AppState>,
    staff: CurrentStaff,
    ctx: PageCtx,
    IdPath(id): IdPath,
) -> Result<Redirect, AppError> {
    let patient = find_patient(&state, &staff, id.as_str(), &ctx.path).await?;
    actions::discharge_patient(&state, &staff, &patient.id).await?;
    Ok(Redirect::to(&format!("/patients/{}", patient.id)))
}

/// `GET /patients/{id}/discharge`: what discharging the patient will do, and the button.
pub async fn discharge_confirm(
    State(state): State<AppState>,
    staff: CurrentStaff,
    ctx: PageCtx,
    IdPath(id): IdPath,
) -> Result<Response, AppError> {
    let patient = find_patient(&state, &staff, id.as_str(), &ctx.path).await?;
    let back = format!("/patients/{}", patient.id);
    if patient.is_discharged() {
        return Ok(Redirect::to(&back).into_response());
    }
    let t = ctx.t;
    let visits = {
        let mut conn = state.db.acquire().await?;
        db::visits::open_ids_for_patient(&mut conn, &patient.id, db::now())
            .await?
            .len()
    };
    let rooms: Vec<String> = db::rooms::list_for_patient(&state.db, &patient.id)
        .await?
        .into_iter()
        .filter(|r| r.closed_at.is_none())
        .map(|r| r.id)
        .collect();
    let people = super::confirm::in_call(&state, &rooms);
    let tablets = db::devices::paired_to(&state.db, &patient.id).await?.len();
    let mut consequences = vec![t.confirm_rooms_close.to_string()];
    if visits > 0 {
        consequences.push(t.confirm_visits_cancelled.of(visits));
    }
    if people > 0 {
        consequences.push(t.confirm_leave_call.of(people));
    }
    if tablets > 0 {
        consequences.push(t.confirm_tablet_unpaired.to_string());
    }
    consequences.push(t.confirm_readmit_later.to_string());
    super::confirm::page(&super::confirm::ConfirmPage {
        title: t
            .confirm_title_discharge
            .replace("{name}", &patient.display_name),
        consequences,
        action: format!("/patients/{}/discharge", patient.id),
        button: t.discharge_button,
        back,
        reason: false,
        ctx: ctx.with_staff(&staff),
    })
}

/// `POST /patients/{id}/readmit`: a patient discharged by mistake is admitted again.
pub async fn readmit(
    State(state): State<AppState>,
    staff: CurrentStaff,
    ctx: PageCtx,
    IdPath(id): IdPath,
) -> Result<Redirect, AppError> {
    let patient = find_patient(&state, &staff, id.as_str(), &ctx.path).await?;
    actions::readmit_patient(&state, &staff, &patient.id).await?;
    Ok(Redirect::to(&format!("/patients/{}", patient.id)))
}
