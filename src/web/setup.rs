//! The one-time setup link that creates the first administrator.

use askama::Template;
use axum::{
    Form,
    extract::{Path, State},
    http::StatusCode,
    response::{IntoResponse, Redirect, Response},
};
use serde::Deserialize;

use super::{FormErrors, PageCtx, render, render_with_status};
use crate::{
    actions::{self, AccountInput, CreateStaffError},
    db,
    domain::Role,
    error::AppError,
    state::AppState,
};

#[derive(Template)]
#[template(path = "setup.html")]
struct SetupPage {
    ctx: PageCtx,
    form: SetupForm,
    errors: FormErrors,
    min_password: usize,
}

/// The setup form.
#[derive(Debug, Default, Deserialize)]
pub struct SetupForm {
    #[serde(default)]
    username: String,
    #[serde(default)]
    display_name: String,
    #[serde(default)]
    password: String,
    #[serde(default)]
    password_confirm: String,
}

fn invalid_link() -> AppError {
    AppError::not_found_because(|t| t.setup_invalid)
}

/// `GET /setup/{token}`.
pub async fn show(
    State(state): State<AppState>,
    Path(token): Path<String>,
    ctx: PageCtx,
) -> Result<Response, AppError> {
    if !db::setup::is_valid(&state.db, &token).await? {
        return Err(invalid_link());
    }
    render(&SetupPage {
        ctx,
        form: SetupForm::default(),
        errors: FormErrors::default(),
        min_password: state.config.min_password_length,
    })
}

/// `POST /setup/{token}`: creates the administrator and uses up the link.
pub async fn submit(
    State(state): State<AppState>,
    Path(token): Path<String>,
    ctx: PageCtx,
    Form(form): Form<SetupForm>,
) -> Result<Response, AppError> {
    if !db::setup::is_valid(&state.db, &token).await? {
        return Err(invalid_link());
    }
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
        Role::Admin,
        None,
        Some(&token),
    )
    .await;
    match created {
        Ok(_) => {
            tracing::info!("the first administrator was created through the setup link");
            Ok(Redirect::to("/login").into_response())
        }
        Err(CreateStaffError::SetupLinkInvalid) => Err(invalid_link()),
        Err(CreateStaffError::Invalid(fields)) => {
            let mut errors = FormErrors::default();
            for (field, error) in fields {
                errors.add(field, error, ctx.t);
            }
            render_with_status(
                StatusCode::BAD_REQUEST,
                &SetupPage {
                    ctx,
                    form,
                    errors,
                    min_password: state.config.min_password_length,
                },
            )
        }
        Err(other) => Err(other.into()),
    }
}
