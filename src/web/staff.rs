//! The administrators' staff page: nurse accounts, deactivation, and the CA certificate download.

use askama::Template;
use axum::{
    Form,
    extract::State,
    http::{StatusCode, header},
    response::{IntoResponse, Redirect, Response},
};
use serde::Deserialize;

use super::{AdminStaff, CurrentStaff, FormErrors, IdPath, PageCtx, render, render_with_status};
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
            let errors = FormErrors::of(fields, ctx.t);
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

/// A staff member's page: name and role, wards, a temporary password, deactivation.
#[derive(Template)]
#[template(path = "staff/edit.html")]
struct EditPage {
    ctx: PageCtx,
    member: Staff,
    me: String,
    display_name: String,
    role: String,
    errors: FormErrors,
    reset_errors: FormErrors,
    min_password: usize,
}

impl EditPage {
    fn roles(&self) -> [(&'static str, &'static str); 2] {
        [
            (Role::Nurse.as_str(), Role::Nurse.label(self.ctx.t)),
            (Role::Admin.as_str(), Role::Admin.label(self.ctx.t)),
        ]
    }
}

async fn edit_page(
    state: &AppState,
    ctx: PageCtx,
    admin: &AdminStaff,
    id: &str,
    form: Option<EditForm>,
    errors: FormErrors,
    reset_errors: FormErrors,
) -> Result<EditPage, AppError> {
    let member = db::staff::find_by_id(&state.db, id)
        .await?
        .ok_or_else(AppError::not_found)?;
    let form = form.unwrap_or_else(|| EditForm {
        display_name: member.display_name.clone(),
        role: member.role.clone(),
    });
    Ok(EditPage {
        ctx: ctx.with_staff(&admin.0),
        me: admin.0.id.clone(),
        display_name: form.display_name,
        role: form.role,
        member,
        errors,
        reset_errors,
        min_password: state.config.min_password_length,
    })
}

/// `GET /admin/staff/{id}`.
pub async fn edit(
    State(state): State<AppState>,
    admin: AdminStaff,
    ctx: PageCtx,
    IdPath(id): IdPath,
) -> Result<Response, AppError> {
    let page = edit_page(
        &state,
        ctx,
        &admin,
        id.as_str(),
        None,
        FormErrors::default(),
        FormErrors::default(),
    )
    .await?;
    render(&page)
}

/// The name-and-role form.
#[derive(Debug, Default, Deserialize)]
pub struct EditForm {
    #[serde(default)]
    display_name: String,
    #[serde(default)]
    role: String,
}

/// `POST /admin/staff/{id}`: name and role. The last active administrator keeps their role.
pub async fn update(
    State(state): State<AppState>,
    admin: AdminStaff,
    ctx: PageCtx,
    IdPath(id): IdPath,
    Form(form): Form<EditForm>,
) -> Result<Response, AppError> {
    let done = actions::update_staff(
        &state,
        &admin.0,
        id.as_str(),
        &form.display_name,
        &form.role,
    )
    .await?;
    match done {
        Ok(()) => Ok(Redirect::to(&format!("/admin/staff/{id}")).into_response()),
        Err(fields) => {
            let errors = FormErrors::of(fields, ctx.t);
            let page = edit_page(
                &state,
                ctx,
                &admin,
                id.as_str(),
                Some(form),
                errors,
                FormErrors::default(),
            )
            .await?;
            render_with_status(StatusCode::UNPROCESSABLE_ENTITY, &page)
        }
    }
}

/// `POST /admin/staff/{id}/reactivate`.
pub async fn reactivate(
    State(state): State<AppState>,
    admin: AdminStaff,
    IdPath(id): IdPath,
) -> Result<Redirect, AppError> {
    actions::reactivate_staff(&state, &admin.0, id.as_str()).await?;
    Ok(Redirect::to(&format!("/admin/staff/{id}")))
}

/// The temporary password form.
#[derive(Debug, Default, Deserialize)]
pub struct PasswordForm {
    #[serde(default)]
    current: String,
    #[serde(default)]
    password: String,
    #[serde(default)]
    password_confirm: String,
}

/// `POST /admin/staff/{id}/password`: a temporary password, to be changed at the next login.
pub async fn reset_password(
    State(state): State<AppState>,
    admin: AdminStaff,
    ctx: PageCtx,
    IdPath(id): IdPath,
    Form(form): Form<PasswordForm>,
) -> Result<Response, AppError> {
    let done = actions::reset_password(
        &state,
        &admin.0,
        id.as_str(),
        &form.password,
        &form.password_confirm,
    )
    .await?;
    match done {
        Ok(()) => Ok(Redirect::to(&format!("/admin/staff/{id}")).into_response()),
        Err(fields) => {
            let errors = FormErrors::of(fields, ctx.t);
            let page = edit_page(
                &state,
                ctx,
                &admin,
                id.as_str(),
                None,
                FormErrors::default(),
                errors,
            )
            .await?;
            render_with_status(StatusCode::UNPROCESSABLE_ENTITY, &page)
        }
    }
}

#[derive(Template)]
#[template(path = "staff/password.html")]
struct OwnPasswordPage {
    ctx: PageCtx,
    must_change: bool,
    errors: FormErrors,
    min_password: usize,
}

/// `GET /account/password`: a staff member's own password (the only page open to someone whose
/// password an administrator set, until they change it).
pub async fn own_password(
    State(state): State<AppState>,
    staff: CurrentStaff,
    ctx: PageCtx,
) -> Result<Response, AppError> {
    render(&OwnPasswordPage {
        must_change: staff.must_change_password,
        ctx: ctx.with_staff(&staff),
        errors: FormErrors::default(),
        min_password: state.config.min_password_length,
    })
}

/// `POST /account/password`: the current password, then the new one twice. This session is
/// signed in again (the others end).
pub async fn change_own_password(
    State(state): State<AppState>,
    staff: CurrentStaff,
    ctx: PageCtx,
    session: tower_sessions::Session,
    Form(form): Form<PasswordForm>,
) -> Result<Response, AppError> {
    let done = actions::change_own_password(
        &state,
        &staff,
        &form.current,
        &form.password,
        &form.password_confirm,
    )
    .await?;
    match done {
        Ok(()) => {
            crate::auth::session::log_in(&session, &staff.id).await?;
            Ok(Redirect::to("/desk").into_response())
        }
        Err(fields) => {
            let errors = FormErrors::of(fields, ctx.t);
            render_with_status(
                StatusCode::UNPROCESSABLE_ENTITY,
                &OwnPasswordPage {
                    must_change: staff.must_change_password,
                    ctx: ctx.with_staff(&staff),
                    errors,
                    min_password: state.config.min_password_length,
                },
            )
        }
    }
}

/// `GET /admin/staff/{id}/deactivate`: what deactivating the account will do, and the button.
pub async fn deactivate_confirm(
    State(state): State<AppState>,
    admin: AdminStaff,
    ctx: PageCtx,
    IdPath(id): IdPath,
) -> Result<Response, AppError> {
    let member = db::staff::find_by_id(&state.db, id.as_str())
        .await?
        .ok_or_else(AppError::not_found)?;
    if member.id == admin.0.id {
        return Err(AppError::conflict(|t| t.err_self_deactivate));
    }
    let back = format!("/admin/staff/{}", member.id);
    if !member.active {
        return Ok(Redirect::to(&back).into_response());
    }
    let t = ctx.t;
    super::confirm::page(&super::confirm::ConfirmPage {
        title: t
            .confirm_title_deactivate
            .replace("{name}", &member.display_name),
        consequences: vec![
            t.confirm_sessions_end.to_string(),
            t.confirm_reactivate_later.to_string(),
        ],
        action: format!("/admin/staff/{}/deactivate", member.id),
        button: t.deactivate_button,
        back,
        reason: false,
        ctx: ctx.with_staff(&admin.0),
    })
}
