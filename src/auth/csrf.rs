//! Cross-site request forgery protection for every state-changing request.
//!
//! Two independent checks, both required:
//! 1. The browser's own word: an `Origin` header, when sent and not `null`, must be this server's
//!    origin, and `Sec-Fetch-Site`, when sent, must be `same-origin` or `none`.
//! 2. A double-submit token: a random value in a `__Host-` cookie (which another site can neither
//!    read nor plant) must come back in the form's `csrf` field. This covers old browsers that send
//!    neither header.
//!
//! GET, HEAD and OPTIONS never change state, so they are not checked.

use axum::{
    body::Body,
    extract::{Request, State},
    http::{HeaderMap, Method, header},
    middleware::Next,
    response::{IntoResponse, Response},
};
use subtle::ConstantTimeEq;

use crate::{config::Config, domain::random_token, error::AppError, i18n::cookie_value};

/// The cookie holding the token.
pub const CSRF_COOKIE: &str = "__Host-visitas-csrf";
/// The form field that must echo it.
pub const CSRF_FIELD: &str = "csrf";
/// Largest form body read for the check; bigger bodies are refused with 413.
pub const MAX_FORM_BYTES: usize = 64 * 1024;

/// The request's token, for templates to put in their forms.
#[derive(Debug, Clone)]
pub struct CsrfToken(pub String);

/// The middleware: refuses forged requests, hands out the token.
pub async fn protect(
    State(config): State<std::sync::Arc<Config>>,
    request: Request,
    next: Next,
) -> Response {
    let existing = cookie_value(request.headers(), CSRF_COOKIE).filter(|t| is_token_shaped(t));
    let mut request = if is_safe(request.method()) {
        request
    } else {
        match check(&config, request, existing.as_deref()).await {
            Ok(request) => request,
            Err(refusal) => return refusal.into_response(),
        }
    };
    let token = existing.clone().unwrap_or_else(|| random_token(32));
    request.extensions_mut().insert(CsrfToken(token.clone()));
    let mut response = next.run(request).await;
    if existing.is_none() {
        let cookie = format!("{CSRF_COOKIE}={token}; Path=/; Secure; HttpOnly; SameSite=Strict");
        if let Ok(value) = cookie.parse() {
            response.headers_mut().append(header::SET_COOKIE, value);
        }
    }
    response
}

fn is_safe(method: &Method) -> bool {
    matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS)
}

fn is_token_shaped(token: &str) -> bool {
    token.len() == 43
        && token
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// Runs both checks; gives the request back (with its body restored) when they pass.
async fn check(
    config: &Config,
    request: Request,
    cookie_token: Option<&str>,
) -> Result<Request, AppError> {
    if !browser_says_same_origin(
        config,
        request.headers(),
        request.uri().authority().map(|a| a.as_str()),
    ) {
        tracing::warn!(
            origin = ?request.headers().get(header::ORIGIN),
            host = ?request.headers().get(header::HOST),
            authority = ?request.uri().authority(),
            fetch_site = ?request.headers().get("sec-fetch-site"),
            "refused a cross-site state-changing request"
        );
        return Err(AppError::csrf());
    }
    let (parts, body) = request.into_parts();
    let bytes = axum::body::to_bytes(body, MAX_FORM_BYTES)
        .await
        .map_err(|_| {
            AppError::Refused(
                axum::http::StatusCode::PAYLOAD_TOO_LARGE,
                crate::error::ErrorMessage::for_status(axum::http::StatusCode::PAYLOAD_TOO_LARGE),
            )
        })?;
    let submitted = form_field(&bytes, CSRF_FIELD);
    let matches = match (cookie_token, submitted.as_deref()) {
        (Some(expected), Some(given)) => bool::from(expected.as_bytes().ct_eq(given.as_bytes())),
        _ => false,
    };
    if !matches {
        tracing::warn!("refused a state-changing request without a valid form token");
        return Err(AppError::csrf());
    }
    Ok(Request::from_parts(parts, Body::from(bytes)))
}

/// `Origin` and `Sec-Fetch-Site`, when the browser sends them, must say "this site".
fn browser_says_same_origin(config: &Config, headers: &HeaderMap, authority: Option<&str>) -> bool {
    if let Some(site) = headers.get("sec-fetch-site").and_then(|v| v.to_str().ok())
        && site != "same-origin"
        && site != "none"
    {
        return false;
    }
    match headers.get(header::ORIGIN).map(|o| o.to_str()) {
        None => true,
        // Our `Referrer-Policy: no-referrer` makes browsers send `Origin: null` even for our own
        // forms; `Sec-Fetch-Site` (checked above) and the token still decide.
        Some(Ok("null")) => true,
        Some(Ok(origin)) => config.is_own_origin(origin, headers, authority),
        Some(Err(_)) => false,
    }
}

fn form_field(body: &[u8], name: &str) -> Option<String> {
    serde_urlencoded::from_bytes::<Vec<(String, String)>>(body)
        .ok()?
        .into_iter()
        .find(|(key, _)| key == name)
        .map(|(_, value)| value)
}
