//! Invites for relatives, from the room page: create one (shown once, as a printable card in the
//! relative's language) and revoke it (which also removes the relative from a running call).

use askama::Template;
use axum::{
    Form,
    extract::{Path, State},
    http::{HeaderMap, StatusCode},
    response::{Redirect, Response},
};

use super::{
    FormErrors, IdPath, PageCtx, public_base_url, render, render_with_status,
    rooms::{InviteForm, RoomPage, find_room},
};
use crate::{
    actions::{self, NewRelative},
    db,
    domain::{PersonName, RandomId, Relationship},
    error::AppError,
    i18n::{Lang, Text},
    state::AppState,
    web::CurrentStaff,
};

#[derive(Template)]
#[template(path = "invites/card.html")]
struct InviteCard {
    ctx: PageCtx,
    /// The card is in the relative's language, whatever the nurse's.
    card: &'static Text,
    card_lang: Lang,
    room_id: String,
    patient_name: String,
    relative_name: String,
    link: String,
    code: String,
    qr_svg: String,
    valid_until: String,
}

/// `POST /rooms/{id}/invites`: makes the link token and code, stores their hashes, and shows them
/// once.
pub async fn create(
    State(state): State<AppState>,
    staff: CurrentStaff,
    ctx: PageCtx,
    headers: HeaderMap,
    uri: axum::http::Uri,
    IdPath(room_id): IdPath,
    Form(form): Form<InviteForm>,
) -> Result<Response, AppError> {
    let room = find_room(&state, room_id.as_str()).await?;
    if !room.is_open() {
        return Err(AppError::conflict(|t| t.err_room_closed));
    }
    let t = ctx.t;
    let mut errors = FormErrors::default();
    let name = errors.check("relative_name", PersonName::parse(&form.relative_name), t);
    let relationship = errors.check("relationship", Relationship::parse(&form.relationship), t);
    let lang = Lang::from_code(&form.lang).unwrap_or(ctx.lang);
    let (Some(name), Some(relationship)) = (name, relationship) else {
        let page = RoomPage::load(&state, ctx.with_staff(&staff), room, form, errors).await?;
        return render_with_status(StatusCode::BAD_REQUEST, &page);
    };

    let relative = NewRelative {
        name,
        relationship,
        lang,
    };
    let created = actions::create_invite(&state, &staff, &room, &relative).await?;

    let link = format!(
        "{}/i/{}",
        public_base_url(&state, &headers, &uri),
        created.token
    );
    let qr_svg = qrcode::QrCode::with_error_correction_level(link.as_bytes(), qrcode::EcLevel::M)
        .map(|qr| {
            qr.render::<qrcode::render::svg::Color<'_>>()
                .min_dimensions(220, 220)
                .quiet_zone(true)
                .build()
        })
        .map_err(|e| anyhow::anyhow!("drawing the QR code: {e}"))?;
    let card_ctx = PageCtx {
        t: lang.text(),
        ..ctx.clone()
    };
    render(&InviteCard {
        ctx: ctx.with_staff(&staff),
        card: lang.text(),
        card_lang: lang,
        room_id: room.id,
        patient_name: room.patient_name,
        relative_name: relative.name.as_str().to_string(),
        link,
        code: created.code.grouped(),
        qr_svg,
        valid_until: card_ctx.time(&created.expires_at),
    })
}

/// `POST /rooms/{room}/invites/{invite}/revoke`: the relative is out of the call within moments.
pub async fn revoke(
    State(state): State<AppState>,
    staff: CurrentStaff,
    Path((room_id, invite_id)): Path<(String, String)>,
) -> Result<Redirect, AppError> {
    let room = find_room(&state, room_id.as_str()).await?;
    let invite_id = RandomId::parse(&invite_id).ok_or_else(AppError::not_found)?;
    let invite = db::invites::find(&state.db, invite_id.as_str())
        .await?
        .filter(|invite| invite.room_id == room.id)
        .ok_or_else(AppError::not_found)?;
    actions::revoke_invite(&state, &staff, &invite.id).await?;
    Ok(Redirect::to(&format!("/rooms/{}", room.id)))
}
