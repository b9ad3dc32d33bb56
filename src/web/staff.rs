//! The administrators' staff page: nurse accounts, deactivation, and the CA certificate download.

use askama::Template;
use axum::{
    Form,
    extract::State,
    http::{StatusCode, header},
    response::{IntoResponse, Redirect, Response},
};
use serde::Deserialize;

use super::{AdminStaff, FormErrors, IdPath, PageCtx, render, render_with_status};
use crate::{
    actions::{self, AccountInput, CreateStaffError},
    db::{self, staff::Staff, wards::Ward},
    domain::{FieldError, Role},
    error::AppError,
    state::AppState,
};

#[derive(Template)]
#[template(path = "staff/list.html")]
struct StaffPage {
    ctx: PageCtx,
    me: String,
    staff: Vec<Staff>,
    form: NewNurseForm,
    errors: FormErrors,
    min_password: usize,
    has_ca: bool,
    wards: Vec<Ward>,
    /// (staff id, ward id) pairs.
    assignments: Vec<(String, String)>,
}

impl StaffPage {
    fn role_label(&self, member: &Staff) -> &'static str {
        member.role().label(self.ctx.t)
    }

    fn works_in(&self, member: &Staff, ward: &Ward) -> bool {
        self.assignments
            .iter()
            .any(|(s, w)| s == &member.id && w == &ward.id)
    }
}

/// The new nurse form.
#[derive(Debug, Default, Deserialize)]
pub struct NewNurseForm {
    #[serde(default)]
    username: String,
    #[serde(default)]
    display_name: String,
    #[serde(default)]
    password: String,
    #[serde(default)]
    password_confirm: String,
}

async fn page(
    state: &AppState,
    ctx: PageCtx,
    admin: &AdminStaff,
    form: NewNurseForm,
    errors: FormErrors,
) -> Result<StaffPage, AppError> {
    Ok(StaffPage {
        ctx: ctx.with_staff(&admin.0),
        me: admin.0.id.clone(),
        staff: db::staff::list(&state.db).await?,
        form,
        errors,
        min_password: state.config.min_password_length,
        has_ca: state.ca_pem.is_some(),
        wards: super::wards::all_wards(state).await?,
        assignments: db::wards::all_assignments(&state.db).await?,
    })
}

/// `GET /admin/staff`.
pub async fn list(
    State(state): State<AppState>,
    admin: AdminStaff,
    ctx: PageCtx,
) -> Result<Response, AppError> {
    render(
        &page(
            &state,
            ctx,
            &admin,
            NewNurseForm::default(),
            FormErrors::default(),
        )
        .await?,
    )
}

/// `POST /admin/staff`: creates a nurse account.
pub async fn create(
    State(state): State<AppState>,
    admin: AdminStaff,
    ctx: PageCtx,
    Form(form): Form<NewNurseForm>,
) -> Result<Response, AppError> {
    let input = AccountInput {
        username: &form.username,
        display_name: &form.display_name,
        password: &form.password,
        confirmation: &form.password_confirm,
    };
    let created = actions::create_staff(
        &state.db,
        &state.passwords,
        state.config.min_password_length,
        input,
        Role::Nurse,
        Some(&admin.0.id),
        None,
    )
    .await;
    match created {
        Ok(_) => Ok(Redirect::to("/admin/staff").into_response()),
        Err(CreateStaffError::Invalid(fields)) => {
            let status = if fields.iter().any(|(_, e)| *e == FieldError::UsernameTaken) {
                StatusCode::CONFLICT
            } else {
                StatusCode::BAD_REQUEST
            };
            let mut errors = FormErrors::default();
            for (field, error) in fields {
                errors.add(field, error, ctx.t);
            }
            render_with_status(status, &page(&state, ctx, &admin, form, errors).await?)
        }
        Err(other) => Err(other.into()),
    }
}

/// `POST /admin/staff/{id}/deactivate`: the account's sessions stop working at once. An
/// administrator cannot deactivate their own account (and so lock everyone out).
pub async fn deactivate(
    State(state): State<AppState>,
    admin: AdminStaff,
    IdPath(id): IdPath,
) -> Result<Redirect, AppError> {
    actions::deactivate_staff(&state, &admin.0, id.as_str()).await?;
    Ok(Redirect::to("/admin/staff"))
}

/// `GET /admin/ca.pem`: the generated CA, to install on managed devices.
pub async fn download_ca(
    State(state): State<AppState>,
    _admin: AdminStaff,
) -> Result<Response, AppError> {
    let pem = state.ca_pem.clone().ok_or_else(AppError::not_found)?;
    Ok((
        [
            (header::CONTENT_TYPE, "application/x-pem-file"),
            (
                header::CONTENT_DISPOSITION,
                "attachment; filename=\"visitas-ca.pem\"",
            ),
        ],
        pem.to_string(),
    )
        .into_response())
}

/// `POST /admin/staff/{id}/wards`: the wards a staff member works in (checkboxes `ward`).
pub async fn assign_wards(
    State(state): State<AppState>,
    AdminStaff(admin): AdminStaff,
    IdPath(id): IdPath,
    body: axum::body::Bytes,
) -> Result<Redirect, AppError> {
    let pairs: Vec<(String, String)> =
        serde_urlencoded::from_bytes(&body).map_err(|_| AppError::bad_request())?;
    let known = super::wards::all_wards(&state).await?;
    let mut chosen = Vec::new();
    for (key, value) in pairs {
        if key != "ward" {
            continue;
        }
        if !known.iter().any(|w| w.id == value) {
            return Err(AppError::not_found());
        }
        if !chosen.contains(&value) {
            chosen.push(value);
        }
    }
    db::staff::find_by_id(&state.db, id.as_str())
        .await?
        .ok_or_else(AppError::not_found)?;
    actions::assign_wards(&state, &admin, id.as_str(), &chosen).await?;
    Ok(Redirect::to("/admin/staff"))
}
