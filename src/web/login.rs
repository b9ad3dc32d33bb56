//! Staff login and logout.

use super::client::ClientAddr;
use askama::Template;
use axum::{
    Form,
    extract::State,
    http::StatusCode,
    response::{IntoResponse, Redirect, Response},
};
use serde::Deserialize;
use tower_sessions::Session;

use super::{PageCtx, render, render_with_status};
use crate::{
    actions::{self, LoginRefusal},
    auth::{password::MAX_PASSWORD_BYTES, session, throttle},
    db,
    error::AppError,
    state::AppState,
};

#[derive(Template)]
#[template(path = "login.html")]
struct LoginPage {
    ctx: PageCtx,
    username: String,
    error: Option<String>,
}

/// `GET /login`.
pub async fn show(ctx: PageCtx) -> Result<Response, AppError> {
    render(&LoginPage {
        ctx,
        username: String::new(),
        error: None,
    })
}

/// The login form.
#[derive(Deserialize)]
pub struct LoginForm {
    username: String,
    password: String,
}

/// `POST /login`: throttled per account and per address; unknown user and wrong password get the
/// same answer after the same work.
pub async fn submit(
    State(state): State<AppState>,
    ClientAddr(client): ClientAddr,
    session: Session,
    ctx: PageCtx,
    Form(form): Form<LoginForm>,
) -> Result<Response, AppError> {
    let account: String = form
        .username
        .trim()
        .to_lowercase()
        .chars()
        .take(64)
        .collect();
    let client = client.to_string();
    let t = ctx.t;

    let attempt = match throttle::begin_attempt(&state.db, &account, &client).await? {
        Ok(attempt) => attempt,
        Err(wait_minutes) => {
            tracing::warn!(client, "login throttled");
            return render_with_status(
                StatusCode::TOO_MANY_REQUESTS,
                &LoginPage {
                    ctx,
                    username: account,
                    error: Some(t.login_throttled.of(wait_minutes)),
                },
            );
        }
    };

    let found = db::staff::find_by_username(&state.db, &account).await?;
    let staff = found.clone().filter(|staff| staff.active);
    let verified = form.password.len() <= MAX_PASSWORD_BYTES
        && state
            .passwords
            .verify(
                form.password,
                staff.as_ref().map(|s| s.password_hash.clone()),
            )
            .await?;

    match staff {
        Some(staff) if verified => {
            throttle::succeeded(&state.db, attempt).await?;
            // The audit row first: no one is signed in without it (a full disk refuses the login).
            actions::record_login(&state, &staff.id).await?;
            session::log_in(&session, &staff.id).await?;
            Ok(Redirect::to("/desk").into_response())
        }
        _ => {
            throttle::failed(&state.db, attempt).await?;
            // Audited per account (never what was typed): the throttle bounds how many.
            let reason = match &found {
                None => LoginRefusal::UnknownAccount,
                Some(staff) if !staff.active => LoginRefusal::Deactivated,
                Some(_) => LoginRefusal::WrongPassword,
            };
            actions::record_login_refused(&state, found.as_ref().map(|s| s.id.as_str()), reason)
                .await?;
            render_with_status(
                StatusCode::UNAUTHORIZED,
                &LoginPage {
                    ctx,
                    username: account,
                    error: Some(t.login_failed.to_string()),
                },
            )
        }
    }
}

/// `POST /logout`: the session is destroyed on the server, so its cookie is dead everywhere.
pub async fn logout(session: Session) -> Result<Redirect, AppError> {
    session::log_out(&session).await?;
    Ok(Redirect::to("/login"))
}
