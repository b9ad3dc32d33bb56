//! The relative's way in: the invite link, the access code, then the call page.
//!
//! Opening `/i/{token}` puts the invite in a fresh server-side session and moves the browser to
//! `/visit`, so the token stays out of the address bar, the history and any later Referer. The
//! code is checked against its keyed hash; five wrong codes lock the invite, and wrong codes are
//! also limited per client address.

use super::client::ClientAddr;
use askama::Template;
use axum::{
    Form, Json,
    extract::{Path, State},
    http::{StatusCode, header},
    response::{IntoResponse, Redirect, Response},
};
use serde::Deserialize;
use tower_sessions::Session;

use super::{
    PageCtx,
    call::{CallPage, TicketResponse},
    render, render_with_status,
};
use crate::{
    actions,
    auth::relative::{self, CodeCheck},
    db::{self, invites::Invite},
    domain::{AccessCode, CallRole, InviteStatus},
    error::AppError,
    i18n::{LANG_COOKIE, Lang, cookie_value},
    state::AppState,
};

#[derive(Template)]
#[template(path = "visit/message.html")]
struct MessagePage {
    ctx: PageCtx,
    message: String,
}

#[derive(Template)]
#[template(path = "visit/continue.html")]
struct ContinuePage {
    ctx: PageCtx,
}

#[derive(Template)]
#[template(path = "visit/code.html")]
struct CodePage {
    ctx: PageCtx,
    relative_name: String,
    error: Option<String>,
    /// The visit's time, for a visit whose window has not opened.
    waiting: Option<Waiting>,
    /// The code was typed right already (the page only waits for the window).
    verified: bool,
}

/// What the relative sees before the visit's window opens.
#[derive(Debug, Clone)]
pub struct Waiting {
    /// "martes, 8 de diciembre de 2026, 16:00", in the relative's language.
    pub when: String,
    /// Unix seconds at which the page opens by itself.
    pub opens_at: i64,
    pub patient_first_name: String,
}

/// The waiting details of an invite whose window has not opened, if it has not.
async fn waiting_for(
    state: &AppState,
    ctx: &PageCtx,
    invite: &Invite,
) -> Result<Option<Waiting>, AppError> {
    if invite.status(db::now()) != InviteStatus::NotYetOpen {
        return Ok(None);
    }
    let Some(visit_id) = &invite.visit_id else {
        return Ok(None);
    };
    let Some(visit) = db::visits::find(&state.db, visit_id).await? else {
        return Ok(None);
    };
    Ok(Some(Waiting {
        when: ctx.long_time(visit.starts_at),
        opens_at: invite.opens_at.unwrap_or(visit.starts_at),
        patient_first_name: visit
            .patient_name
            .split_whitespace()
            .next()
            .unwrap_or_default()
            .to_string(),
    }))
}

fn message(ctx: PageCtx, status: StatusCode, text: &str) -> Result<Response, AppError> {
    render_with_status(
        status,
        &MessagePage {
            ctx,
            message: text.to_string(),
        },
    )
}

/// `GET /i/{token}`: the invite link.
pub async fn open_link(
    State(state): State<AppState>,
    session: Session,
    ctx: PageCtx,
    headers: axum::http::HeaderMap,
    Path(token): Path<String>,
) -> Result<Response, AppError> {
    // The language switch returns to the page it was on: never to this one, holding the token.
    let ctx = PageCtx {
        path: "/visit".to_string(),
        ..ctx
    };
    let Some(invite) = relative::invite_of_link(&state.db, &token).await? else {
        return message(ctx.clone(), StatusCode::NOT_FOUND, ctx.t.invite_invalid);
    };
    let lang = Lang::from_code(&invite.lang).unwrap_or(ctx.lang);
    let status = invite.status(db::now());
    if !matches!(status, InviteStatus::Active | InviteStatus::NotYetOpen) {
        let t = lang.text();
        return message(
            PageCtx { t, lang, ..ctx },
            StatusCode::GONE,
            status.message(t),
        );
    }
    relative::remember(&session, &invite.id, false).await?;
    actions::note_link_opened(&state, &invite.id).await?;
    // A page of this site that moves on to /visit by itself, not a redirect: when the link was
    // tapped in webmail or a chat app, the browser withholds our SameSite=Strict session cookie
    // for the whole cross-site redirect chain, but sends it for a navigation this page starts.
    let mut response = render(&ContinuePage {
        ctx: PageCtx {
            t: lang.text(),
            lang,
            ..ctx
        },
    })?;
    if cookie_value(&headers, LANG_COOKIE).is_none() {
        let cookie = format!(
            "{LANG_COOKIE}={}; Path=/; Max-Age=31536000; Secure; SameSite=Lax",
            lang.code()
        );
        if let Ok(value) = cookie.parse() {
            response.headers_mut().append(header::SET_COOKIE, value);
        }
    }
    Ok(response)
}

/// The invite in the session, or the page to show instead.
async fn session_invite(
    state: &AppState,
    session: &Session,
    ctx: &PageCtx,
) -> Result<Result<(Invite, bool), Response>, AppError> {
    let Some(remembered) = relative::recall(session).await? else {
        return Ok(Err(message(
            ctx.clone(),
            StatusCode::FORBIDDEN,
            ctx.t.open_link_again,
        )?));
    };
    let Some(invite) = db::invites::find(&state.db, &remembered.invite_id).await? else {
        return Ok(Err(message(
            ctx.clone(),
            StatusCode::FORBIDDEN,
            ctx.t.open_link_again,
        )?));
    };
    let status = invite.status(db::now());
    if !matches!(status, InviteStatus::Active | InviteStatus::NotYetOpen) {
        return Ok(Err(message(
            ctx.clone(),
            StatusCode::GONE,
            status.message(ctx.t),
        )?));
    }
    Ok(Ok((invite, remembered.verified)))
}

/// `GET /visit`: the code form, then the call page.
pub async fn show(
    State(state): State<AppState>,
    session: Session,
    ctx: PageCtx,
) -> Result<Response, AppError> {
    let (invite, verified) = match session_invite(&state, &session, &ctx).await? {
        Ok(found) => found,
        Err(page) => return Ok(page),
    };
    let waiting = waiting_for(&state, &ctx, &invite).await?;
    if !verified || waiting.is_some() {
        return render(&CodePage {
            ctx,
            relative_name: invite.relative_name,
            error: None,
            waiting,
            verified,
        });
    }
    let title = ctx.t.visit_title.to_string();
    let visit = match &invite.visit_id {
        Some(visit_id) => db::visits::find(&state.db, visit_id).await?,
        None => None,
    };
    let ward_phone = match &visit {
        Some(visit) => db::wards::find(&state.db, &visit.ward_id)
            .await?
            .map(|ward| ward.phone)
            .unwrap_or_default(),
        None => String::new(),
    };
    let next_visit = match (&visit, &invite.relative_id) {
        (Some(visit), Some(relative_id)) => {
            db::invites::next_visit_of(&state.db, relative_id, visit.ends_at)
                .await?
                .map(|at| ctx.long_time(at))
                .unwrap_or_default()
        }
        _ => String::new(),
    };
    let waiting_for = match visit {
        Some(visit) => {
            let first_name = visit
                .patient_name
                .split_whitespace()
                .next()
                .unwrap_or_default();
            format!(
                "{} · {}",
                ctx.t.waiting_visiting.replace("{name}", first_name),
                ctx.long_time(visit.starts_at)
            )
        }
        None => String::new(),
    };
    render(&CallPage {
        ctx,
        role: CallRole::Relative,
        title,
        ticket_url: "/visit/ticket".into(),
        exit_url: "/visit".into(),
        waiting_for,
        ward_phone,
        next_visit,
    })
}

/// The code form.
#[derive(Debug, Deserialize)]
pub struct CodeForm {
    #[serde(default)]
    code: String,
}

/// `POST /visit/code`.
pub async fn submit_code(
    State(state): State<AppState>,
    ClientAddr(client): ClientAddr,
    session: Session,
    ctx: PageCtx,
    Form(form): Form<CodeForm>,
) -> Result<Response, AppError> {
    let (invite, _) = match session_invite(&state, &session, &ctx).await? {
        Ok(found) => found,
        Err(page) => return Ok(page),
    };
    let client = client.to_string();
    let waiting = waiting_for(&state, &ctx, &invite).await?;
    let again = |status: StatusCode, error: String| {
        render_with_status(
            status,
            &CodePage {
                ctx: ctx.clone(),
                relative_name: invite.relative_name.clone(),
                error: Some(error),
                waiting: waiting.clone(),
                verified: false,
            },
        )
    };
    let Some(code) = AccessCode::parse(&form.code) else {
        return again(StatusCode::BAD_REQUEST, ctx.t.code_malformed.to_string());
    };
    match relative::check_code(&state.db, &state.secret, &invite, &client, &code).await? {
        CodeCheck::Right => {}
        CodeCheck::Wrong { tries_left } => {
            return again(StatusCode::BAD_REQUEST, ctx.t.code_wrong.of(tries_left));
        }
        CodeCheck::Locked => return message(ctx.clone(), StatusCode::GONE, ctx.t.invite_locked),
        CodeCheck::Throttled => {
            return again(
                StatusCode::TOO_MANY_REQUESTS,
                ctx.t.err_too_many.to_string(),
            );
        }
    }
    // The audit row first: no one gets in without it (a full disk refuses the entry instead).
    actions::accept_code(&state, &invite.id).await?;
    relative::remember(&session, &invite.id, true).await?;
    Ok(Redirect::to("/visit").into_response())
}

/// `GET /visit/ticket`: a ticket for a relative who passed the code, while the invite is active.
pub async fn ticket(
    State(state): State<AppState>,
    session: Session,
    ctx: PageCtx,
) -> Result<Response, AppError> {
    let (invite, verified) = match session_invite(&state, &session, &ctx).await? {
        Ok(found) => found,
        Err(_) => return Err(AppError::forbidden()),
    };
    if !verified || invite.status(db::now()) != InviteStatus::Active {
        return Err(AppError::forbidden());
    }
    // Counts as activity: the call page fetches a ticket every few minutes, which keeps the
    // relative's session alive for as long as the call lasts.
    // Marks the session modified, so it is saved with a fresh expiry.
    session.set_expiry(session.expiry());
    let response = TicketResponse {
        ticket: relative::ticket(&state.secret, &invite),
    };
    Ok(Json(response).into_response())
}

/// `GET /visit/calendar.ics`: the visit as a calendar event (times in UTC), in the relative's
/// language. Holds no link or code: those stay on the card.
pub async fn calendar(
    State(state): State<AppState>,
    session: Session,
    ctx: PageCtx,
) -> Result<Response, AppError> {
    use icalendar::{Calendar, Component, Event, EventLike};
    let (invite, _) = match session_invite(&state, &session, &ctx).await? {
        Ok(found) => found,
        Err(page) => return Ok(page),
    };
    let visit_id = invite.visit_id.as_deref().ok_or_else(AppError::not_found)?;
    let visit = db::visits::find(&state.db, visit_id)
        .await?
        .ok_or_else(AppError::not_found)?;
    let lang = Lang::from_code(&invite.lang).unwrap_or(ctx.lang);
    let t = lang.text();
    let (Some(starts), Some(ends)) = (
        chrono::DateTime::from_timestamp(visit.starts_at, 0),
        chrono::DateTime::from_timestamp(visit.ends_at, 0),
    ) else {
        return Err(AppError::not_found());
    };
    let first_name = visit
        .patient_name
        .split_whitespace()
        .next()
        .unwrap_or_default();
    let event = Event::new()
        .uid(&format!("{}@visitas", invite.id))
        .summary(&t.calendar_summary.replace("{name}", first_name))
        .description(t.calendar_description)
        .starts(starts)
        .ends(ends)
        .done();
    let body = Calendar::new().push(event).done().to_string();
    Ok((
        [
            (header::CONTENT_TYPE, "text/calendar; charset=utf-8"),
            (
                header::CONTENT_DISPOSITION,
                "attachment; filename=\"visita.ics\"",
            ),
        ],
        body,
    )
        .into_response())
}
