//! Invites for relatives, from the room page: create one (shown once, as a printable card in the
//! relative's language) and revoke it (which also removes the relative from a running call).

use askama::Template;
use axum::{
    Form,
    extract::{Path, State},
    http::{HeaderMap, StatusCode},
    response::{Redirect, Response},
};
use serde::Deserialize;

use super::{
    FormErrors, PageCtx, public_base_url, render, render_with_status,
    rooms::{RoomPage, find_room},
};
use crate::{
    auth::secret::ServerSecret,
    db,
    domain::{AccessCode, PersonName, RandomId, Relationship, random_token, sha256_hex},
    error::AppError,
    i18n::{Lang, Text},
    state::AppState,
    web::CurrentStaff,
};

/// Domain of the access-code HMAC.
const CODE_DOMAIN: &str = "visitas access code v1";

/// The stored form of an access code: HMAC under the server key, bound to its invite.
pub fn code_hash(secret: &ServerSecret, invite_id: &str, code: &AccessCode) -> String {
    secret.sign(
        CODE_DOMAIN,
        format!("{invite_id}:{}", code.as_str()).as_bytes(),
    )
}

/// True when `code` is the invite's code; constant time.
pub fn code_matches(
    secret: &ServerSecret,
    invite_id: &str,
    code: &AccessCode,
    stored: &str,
) -> bool {
    secret.verify(
        CODE_DOMAIN,
        format!("{invite_id}:{}", code.as_str()).as_bytes(),
        stored,
    )
}

/// The invite form on the room page.
#[derive(Debug, Default, Deserialize)]
pub struct InviteForm {
    #[serde(default)]
    pub relative_name: String,
    #[serde(default)]
    pub relationship: String,
    #[serde(default)]
    pub lang: String,
}

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
    Path(room_id): Path<String>,
    Form(form): Form<InviteForm>,
) -> Result<Response, AppError> {
    let room = find_room(&state, &room_id).await?;
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

    let id = RandomId::new();
    let token = random_token(32);
    let code = AccessCode::generate();
    let expires_at = db::now() + i64::from(state.config.invite_hours) * 60 * 60;
    let token_hash = sha256_hex(&token);
    let stored_code = code_hash(&state.secret, id.as_str(), &code);
    let new = db::invites::NewInvite {
        id: id.as_str(),
        room_id: &room.id,
        relative_name: name.as_str(),
        relationship: relationship.as_str(),
        lang: lang.code(),
        token_hash: &token_hash,
        code_hash: &stored_code,
        expires_at,
        created_by: &staff.id,
    };
    let mut tx = state.db.begin().await?;
    if !db::invites::create(&mut tx, &new).await? {
        return Err(AppError::conflict(|t| t.err_room_closed));
    }
    db::audit::record(&mut tx, Some(&staff.id), "invite.create", Some(id.as_str())).await?;
    tx.commit().await?;

    let link = format!("{}/i/{token}", public_base_url(&state, &headers, &uri));
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
        relative_name: name.as_str().to_string(),
        link,
        code: code.grouped(),
        qr_svg,
        valid_until: card_ctx.time(&expires_at),
    })
}

/// `POST /rooms/{room}/invites/{invite}/revoke`: the relative is out of the call within moments.
pub async fn revoke(
    State(state): State<AppState>,
    staff: CurrentStaff,
    Path((room_id, invite_id)): Path<(String, String)>,
) -> Result<Redirect, AppError> {
    let room = find_room(&state, &room_id).await?;
    let invite_id = RandomId::parse(&invite_id).ok_or_else(AppError::not_found)?;
    let invite = db::invites::find(&state.db, invite_id.as_str())
        .await?
        .filter(|invite| invite.room_id == room.id)
        .ok_or_else(AppError::not_found)?;
    let mut tx = state.db.begin().await?;
    if db::invites::revoke(&mut tx, &invite.id, &staff.id).await? {
        db::audit::record(&mut tx, Some(&staff.id), "invite.revoke", Some(&invite.id)).await?;
    }
    tx.commit().await?;
    // In its own task: the removal must happen even if this request is dropped.
    let signaling = state.signaling.clone();
    let invite_id = invite.id.clone();
    tokio::spawn(async move { signaling.end_invite(&invite_id).await });
    Ok(Redirect::to(&format!("/rooms/{}", room.id)))
}
