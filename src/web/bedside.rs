//! The bedside device: one long-lived page (`/bedside`) that pairs the tablet, shows the idle
//! clock, answers the bed's calls by itself and returns to idle, never navigating (a page change
//! would lose the tap that lets it play sound in Firefox). The tablet holds a device credential
//! in a `__Host-` cookie, stored hashed; it reaches `/bedside/*`, the static files and its own
//! room's signaling, and nothing else ([`fence`]).

use askama::Template;
use axum::{
    Json,
    extract::{Request, State},
    http::{HeaderMap, StatusCode, Uri, header},
    middleware::Next,
    response::{IntoResponse, Response},
};
use serde::Serialize;
use tower_sessions::Session;

use super::{PageCtx, call::TicketResponse, public_base_url, render};
use crate::{
    actions,
    auth::{
        session,
        ticket::{CallTicket, TICKET_SECS},
    },
    db::{self, devices::Device},
    domain::{CallRole, sha256_hex},
    error::AppError,
    i18n::cookie_value,
    state::AppState,
};

/// The device credential's cookie. `__Host-`: Secure, Path=/, no Domain.
pub const DEVICE_COOKIE: &str = "__Host-visitas-device";

/// A year: the tablet stays paired until a nurse unpairs it (or it goes unseen).
const DEVICE_COOKIE_SECS: i64 = 365 * 86_400;

/// Paths a bedside tablet may ask for.
fn allowed_for_device(path: &str) -> bool {
    path == "/bedside"
        || path.starts_with("/bedside/")
        || path.starts_with("/static/")
        || path == "/healthz"
        || path == "/lang"
}

/// Keeps a bedside tablet on its own pages: any other page answers 403, whatever else the
/// browser holds (a staff cookie left from before pairing included).
pub async fn fence(request: Request, next: Next) -> Response {
    let is_device = cookie_value(request.headers(), DEVICE_COOKIE).is_some();
    if is_device && !allowed_for_device(request.uri().path()) {
        tracing::info!("refused a page to a bedside device");
        return AppError::forbidden().into_response();
    }
    next.run(request).await
}

/// The device whose credential the request carries, if any.
async fn device_of(state: &AppState, headers: &HeaderMap) -> Result<Option<Device>, AppError> {
    let Some(token) = cookie_value(headers, DEVICE_COOKIE) else {
        return Ok(None);
    };
    if token.len() > 100 {
        return Ok(None);
    }
    Ok(db::devices::by_token(&state.db, &sha256_hex(&token)).await?)
}

#[derive(Template)]
#[template(path = "bedside.html")]
struct BedsidePage {
    ctx: PageCtx,
    signed_out: bool,
    /// What the shared call markup reads.
    ticket_url: &'static str,
    exit_url: &'static str,
    waiting_for: &'static str,
    ward_phone: &'static str,
    next_visit: &'static str,
}

impl BedsidePage {
    fn role_name(&self) -> &'static str {
        "bedside"
    }

    fn is_staff(&self) -> bool {
        false
    }
}

/// `GET /bedside`: the bedside page. A staff session left open in this browser is ended: a
/// bedside tablet must not be one Back press away from patient lists.
pub async fn show(
    State(state): State<AppState>,
    ctx: PageCtx,
    staff_session: Session,
) -> Result<Response, AppError> {
    let signed_out =
        match session::current_staff(&staff_session, &state.db, &state.config, &state.caches).await
        {
            Ok(_) => {
                session::log_out(&staff_session).await?;
                true
            }
            Err(_) => false,
        };
    render(&BedsidePage {
        ctx,
        signed_out,
        ticket_url: "/bedside/ticket",
        exit_url: "/bedside",
        waiting_for: "",
        ward_phone: "",
        next_visit: "",
    })
}

/// What the page needs to know to pick its screen.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct BedsideState {
    /// `new` (no credential), `unpaired` or `paired`.
    state: &'static str,
    /// The patient's first name, when the ward lets the idle screen show it.
    title: Option<String>,
    /// The next (or current) visit's time, in the page's language.
    next_visit: Option<String>,
    /// A visit is on now.
    visit_now: bool,
}

/// `GET /bedside/state`.
pub async fn current_state(
    State(state): State<AppState>,
    ctx: PageCtx,
    headers: HeaderMap,
) -> Result<Response, AppError> {
    let device = device_of(&state, &headers).await?;
    let Some(device) = device else {
        return Ok(Json(BedsideState {
            state: "new",
            title: None,
            next_visit: None,
            visit_now: false,
        })
        .into_response());
    };
    let Some(patient_id) = device.paired_patient() else {
        return Ok(Json(BedsideState {
            state: "unpaired",
            title: None,
            next_visit: None,
            visit_now: false,
        })
        .into_response());
    };
    let now = db::now();
    db::devices::touch(&state.db, &device.id, now).await?;
    let patient = db::patients::find(&state.db, patient_id)
        .await?
        .ok_or_else(AppError::not_found)?;
    let ward = db::wards::find(&state.db, &patient.ward_id).await?;
    let next = db::visits::upcoming_for_patient(&state.db, patient_id, now)
        .await?
        .into_iter()
        .find(|v| v.cancelled_at.is_none());
    let title = ward.filter(|w| w.bedside_shows_name).and_then(|_| {
        patient
            .display_name
            .split_whitespace()
            .next()
            .map(str::to_string)
    });
    Ok(Json(BedsideState {
        state: "paired",
        title,
        visit_now: next.as_ref().is_some_and(|v| v.starts_at <= now),
        next_visit: next.map(|v| ctx.long_time(v.starts_at)),
    })
    .into_response())
}

/// What `POST /bedside/pairing` answers.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct PairingAnswer {
    /// `123 456`.
    code: String,
    /// The QR code of `/pair?code=...`, as SVG.
    qr_svg: String,
    expires_at: i64,
}

/// `POST /bedside/pairing`: a fresh pairing code for this tablet (a new device credential when it
/// has none). 409 for a tablet that is paired.
pub async fn pairing(
    State(state): State<AppState>,
    super::client::ClientAddr(client): super::client::ClientAddr,
    headers: HeaderMap,
    uri: Uri,
) -> Result<Response, AppError> {
    let device = device_of(&state, &headers).await?;
    if device
        .as_ref()
        .is_some_and(|d| d.paired_patient().is_some())
    {
        return Ok(StatusCode::CONFLICT.into_response());
    }
    let fresh = actions::start_pairing(&state, device.as_ref(), &client.to_string()).await?;
    let link = format!(
        "{}/pair?code={}",
        public_base_url(&state, &headers, &uri),
        fresh.code.as_str()
    );
    let qr_svg = qrcode::QrCode::with_error_correction_level(link.as_bytes(), qrcode::EcLevel::M)
        .map(|qr| {
            qr.render::<qrcode::render::svg::Color<'_>>()
                .min_dimensions(240, 240)
                .quiet_zone(true)
                .build()
        })
        .map_err(|e| anyhow::anyhow!("drawing the QR code: {e}"))?;
    let mut response = Json(PairingAnswer {
        code: fresh.code.grouped(),
        qr_svg,
        expires_at: fresh.expires_at,
    })
    .into_response();
    if let Some(credential) = fresh.credential {
        let cookie = format!(
            "{DEVICE_COOKIE}={credential}; Path=/; Max-Age={DEVICE_COOKIE_SECS}; Secure; HttpOnly; SameSite=Strict"
        );
        if let Ok(value) = cookie.parse() {
            response.headers_mut().append(header::SET_COOKIE, value);
        }
    }
    Ok(response)
}

/// `GET /bedside/ticket`: a call ticket for the paired bed's room (shown as the patient). 403
/// for a tablet that is not paired; 409 when the patient has no open room.
pub async fn ticket(
    State(state): State<AppState>,
    headers: HeaderMap,
) -> Result<Response, AppError> {
    let device = device_of(&state, &headers).await?;
    let Some((device, patient_id)) = device
        .as_ref()
        .and_then(|d| d.paired_patient().map(|p| (d, p.to_string())))
    else {
        return Err(AppError::forbidden());
    };
    let room = db::rooms::list_for_patient(&state.db, &patient_id)
        .await?
        .into_iter()
        .find(|r| r.is_open())
        .ok_or_else(|| AppError::conflict(|t| t.err_room_closed))?;
    db::devices::touch(&state.db, &device.id, db::now()).await?;
    let ticket = CallTicket {
        room_id: room.id,
        role: CallRole::Patient,
        display_name: room.patient_name,
        staff_id: None,
        invite_id: None,
        device_id: Some(device.id.clone()),
        expires_at: db::now() + TICKET_SECS,
    };
    Ok(Json(TicketResponse {
        ticket: ticket.seal(&state.secret),
    })
    .into_response())
}

/// `POST /bedside/forget`: an unpaired tablet stops being a bedside device (its cookie is
/// cleared), so the browser can be used for other things again. 403 while paired: the patient
/// cannot take the tablet out of bedside mode.
pub async fn forget(
    State(state): State<AppState>,
    headers: HeaderMap,
) -> Result<Response, AppError> {
    let device = device_of(&state, &headers).await?;
    if device
        .as_ref()
        .is_some_and(|d| d.paired_patient().is_some())
    {
        return Err(AppError::forbidden());
    }
    let mut response = StatusCode::NO_CONTENT.into_response();
    let cookie = format!("{DEVICE_COOKIE}=; Path=/; Max-Age=0; Secure; HttpOnly; SameSite=Strict");
    if let Ok(value) = cookie.parse() {
        response.headers_mut().append(header::SET_COOKIE, value);
    }
    Ok(response)
}
