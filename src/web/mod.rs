//! Pages. Each page's askama struct sits beside its handler; [`PageCtx`] carries what every page
//! needs (language, form token, who is signed in) into the base layout.

pub mod assets;
pub mod audit;
pub mod bedside;
pub mod call;
pub mod client;
pub mod confirm;
pub mod desk;
pub mod devices;
pub mod extract;
pub mod flash;
pub mod invites;
pub mod login;
pub mod patients;
pub mod relatives;
pub mod rooms;
pub mod setup;
pub mod staff;
pub mod stats;
pub mod visit;
pub mod visit_log;
pub mod visits;
pub mod waiting;
pub mod wards;
pub mod week;

use std::collections::HashMap;

pub use extract::{AdminStaff, CurrentStaff, IdPath, readable_wards, require_ward, ward_access};

use askama::Template;
use axum::{
    Form,
    extract::{FromRequestParts, Request, State},
    http::{HeaderName, HeaderValue, StatusCode, header, request::Parts},
    middleware::Next,
    response::{Html, IntoResponse, Redirect, Response},
};
use serde::Deserialize;

use crate::{
    auth::csrf::CsrfToken,
    domain::{FieldError, HospitalZone},
    error::{AppError, ErrorMessage, PendingErrorPage},
    i18n::{LANG_COOKIE, Lang, Text, cookie_value},
    state::AppState,
};

/// Who is signed in, as the layout shows it.
#[derive(Debug, Clone)]
pub struct StaffBadge {
    pub display_name: String,
    pub is_admin: bool,
}

/// What every page template needs.
#[derive(Debug, Clone)]
pub struct PageCtx {
    pub t: &'static Text,
    pub lang: Lang,
    /// The form token; empty on pages rendered before the token was known (error pages of
    /// refused requests), where the layout then leaves out its forms.
    pub csrf: String,
    /// Path and query of this page, where the language switch returns.
    pub path: String,
    pub staff: Option<StaffBadge>,
    /// The hospital's time zone, in which times are shown.
    pub zone: HospitalZone,
    /// What the last action did, said once on the next page.
    pub flash: Option<&'static str>,
}

impl PageCtx {
    /// The same context, showing `staff` as signed in.
    pub fn with_staff(mut self, staff: &CurrentStaff) -> Self {
        self.staff = Some(StaffBadge {
            display_name: staff.display_name.clone(),
            is_admin: staff.is_admin(),
        });
        self
    }

    /// Today's date in the hospital.
    pub fn today(&self) -> chrono::NaiveDate {
        self.zone.local(chrono::Utc::now()).date()
    }

    /// Now, on the hospital's wall clock.
    pub fn local_now(&self) -> Option<chrono::NaiveDateTime> {
        Some(self.zone.local(chrono::Utc::now()))
    }

    /// A stored time as a relative reads it: "martes, 8 de diciembre de 2026, 16:00".
    pub fn long_time(&self, unix_secs: i64) -> String {
        self.zone
            .local_at(unix_secs)
            .map(|local| self.t.long_date(&local))
            .unwrap_or_default()
    }

    /// A stored time's hour and minute in the hospital: `16:05`. By hand rather than through
    /// strftime, which parses its pattern on every call: list pages write one per row.
    pub fn clock(&self, unix_secs: &i64) -> String {
        use chrono::Timelike;
        self.zone
            .local_at(*unix_secs)
            .map(|local| format!("{:02}:{:02}", local.hour(), local.minute()))
            .unwrap_or_default()
    }

    /// A stored time, in the server's local time zone and the language's format.
    pub fn time(&self, unix_secs: &i64) -> String {
        chrono::DateTime::from_timestamp(*unix_secs, 0)
            .map(|utc| self.t.date_format.write(&self.zone.local(utc)))
            .unwrap_or_default()
    }
}

impl<S: Send + Sync> FromRequestParts<S> for PageCtx {
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, AppError> {
        let lang = parts.extensions.get::<Lang>().copied().unwrap_or(Lang::Es);
        let zone = parts
            .extensions
            .get::<HospitalZone>()
            .copied()
            .unwrap_or_default();
        let csrf = parts
            .extensions
            .get::<CsrfToken>()
            .map(|token| token.0.clone())
            .unwrap_or_default();
        let path = parts
            .uri
            .path_and_query()
            .map_or("/", |pq| pq.as_str())
            .to_string();
        let flash = if parts.method == axum::http::Method::GET {
            flash::take(
                parts.extensions.get::<tower_sessions::Session>(),
                lang.text(),
            )
            .await
        } else {
            None
        };
        Ok(PageCtx {
            t: lang.text(),
            lang,
            csrf,
            path,
            staff: None,
            zone,
            flash,
        })
    }
}

/// Field errors of a submitted form, by field name, already in the person's language.
#[derive(Debug, Default)]
pub struct FormErrors(HashMap<&'static str, String>);

impl FormErrors {
    /// Records an error for a field.
    /// The errors an action found, by field, as the form shows them.
    pub fn of(fields: Vec<(&'static str, FieldError)>, t: &Text) -> Self {
        let mut errors = FormErrors::default();
        for (field, error) in fields {
            errors.add(field, error, t);
        }
        errors
    }

    pub fn add(&mut self, field: &'static str, error: FieldError, t: &Text) {
        self.0.insert(field, error.message(t));
    }

    /// Keeps the value of a successful parse, or records its error and gives `None`.
    pub fn check<T>(
        &mut self,
        field: &'static str,
        parsed: Result<T, FieldError>,
        t: &Text,
    ) -> Option<T> {
        match parsed {
            Ok(value) => Some(value),
            Err(error) => {
                self.add(field, error, t);
                None
            }
        }
    }

    /// The error of one field, for the template.
    pub fn get(&self, field: &str) -> Option<&String> {
        self.0.get(field)
    }

    /// True when no field has an error.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// The address relatives and devices should use: the configured public URL, else the host this
/// request came to (what the nurse typed, e.g. the box's LAN address): the `Host` header over
/// HTTP/1.1, the request's authority over HTTP/2.
pub fn public_base_url(
    state: &AppState,
    headers: &axum::http::HeaderMap,
    uri: &axum::http::Uri,
) -> String {
    if let Some(url) = &state.config.public_url {
        return url.trim_end_matches('/').to_string();
    }
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .or_else(|| uri.authority().map(|a| a.as_str()))
        .filter(|h| !h.is_empty() && h.bytes().all(|b| b.is_ascii_graphic()));
    match host {
        Some(host) => format!("https://{host}"),
        None => state.config.public_base_url(state.config.bind.port()),
    }
}

/// Renders a template into an HTML response.
pub fn render(template: &impl Template) -> Result<Response, AppError> {
    Ok(Html(template.render()?).into_response())
}

/// Renders a template with a status (a form shown again with its errors).
pub fn render_with_status(
    status: StatusCode,
    template: &impl Template,
) -> Result<Response, AppError> {
    Ok((status, Html(template.render()?)).into_response())
}

#[derive(Template)]
#[template(path = "error.html")]
struct ErrorPage {
    ctx: PageCtx,
    status: u16,
    message: String,
}

/// Decides the request's language, and turns every error response that is not already a page
/// (handler errors, 404 fallback, 405, 413, extractor rejections, panics) into the error page in
/// that language. Extractor rejections of form input (415, 422) become plain 400s.
pub async fn render_error_pages(
    State(state): State<AppState>,
    mut request: Request,
    next: Next,
) -> Response {
    let lang = Lang::negotiate(request.headers(), state.config.default_lang);
    request.extensions_mut().insert(lang);
    request
        .extensions_mut()
        .insert(state.config.time_zone.unwrap_or_default());
    let csrf = cookie_value(request.headers(), crate::auth::csrf::CSRF_COOKIE).unwrap_or_default();
    let path = request.uri().path().to_string();
    let response = next.run(request).await;

    let status = response.status();
    if path == "/healthz" {
        // For machines: its plain reason stays as it is.
        return response;
    }
    let pending = response.extensions().get::<PendingErrorPage>().copied();
    let is_html = response
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"text/html"));
    if !(status.is_client_error() || status.is_server_error()) || (is_html && pending.is_none()) {
        return response;
    }
    let status = match status {
        StatusCode::UNSUPPORTED_MEDIA_TYPE | StatusCode::UNPROCESSABLE_ENTITY => {
            StatusCode::BAD_REQUEST
        }
        other => other,
    };
    let message = pending.map_or_else(|| ErrorMessage::for_status(status), |p| p.0);
    let page = ErrorPage {
        ctx: PageCtx {
            t: lang.text(),
            lang,
            csrf,
            path,
            staff: None,
            zone: state.config.time_zone.unwrap_or_default(),
            flash: None,
        },
        status: status.as_u16(),
        message: message.render(lang.text()),
    };
    let (mut parts, _) = response.into_parts();
    parts.headers.remove(header::CONTENT_LENGTH);
    parts.headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    parts.status = status;
    match page.render() {
        Ok(html) => Response::from_parts(parts, html.into()),
        Err(err) => {
            tracing::error!(error = %err, "rendering the error page");
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                "Internal error / Error interno",
            )
                .into_response()
        }
    }
}

/// Security headers on every response. Pages may only load what this server serves; nothing may
/// frame them; camera and microphone are for this site only; pages with patient data are not
/// cached.
pub async fn security_headers(request: Request, next: Next) -> Response {
    let mut response = next.run(request).await;
    let headers = response.headers_mut();
    for (name, value) in SECURITY_HEADERS {
        headers.insert(name, value);
    }
    if !headers.contains_key(header::CACHE_CONTROL) {
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    response
}

/// Built at compile time: every response carries them.
const SECURITY_HEADERS: [(HeaderName, HeaderValue); 7] = [
    (
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
             connect-src 'self'; media-src 'self' blob:; object-src 'none'; base-uri 'none'; \
             form-action 'self'; frame-ancestors 'none'",
        ),
    ),
    (
        header::STRICT_TRANSPORT_SECURITY,
        HeaderValue::from_static("max-age=31536000"),
    ),
    (
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    ),
    (
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    ),
    (header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY")),
    (
        HeaderName::from_static("cross-origin-opener-policy"),
        HeaderValue::from_static("same-origin"),
    ),
    (
        HeaderName::from_static("permissions-policy"),
        HeaderValue::from_static(
            "camera=(self), microphone=(self), display-capture=(), geolocation=(), payment=(), usb=()",
        ),
    ),
];

/// `/`: the visit desk for staff, the login page for everyone else.
pub async fn home(staff: Result<CurrentStaff, AppError>) -> Redirect {
    match staff {
        Ok(_) => Redirect::to("/desk"),
        Err(_) => Redirect::to("/login"),
    }
}

/// Reads a "from" and an "until" date of a filter form (either may be empty) as the hospital's
/// days: from the start of `from` to the end of `until` (Unix seconds). A date that does not
/// read, or an end before the start, is noted in `errors` under the field's name.
pub fn day_range(
    ctx: &PageCtx,
    from: &str,
    until: &str,
    errors: &mut FormErrors,
) -> (Option<i64>, Option<i64>) {
    let mut day_start = |text: &str, field: &'static str, days: u64| {
        if text.trim().is_empty() {
            return None;
        }
        match crate::domain::parse_date(text) {
            Ok(date) => date
                .checked_add_days(chrono::Days::new(days))
                .and_then(|d| ctx.zone.to_utc(d.and_time(chrono::NaiveTime::MIN))),
            Err(err) => {
                errors.add(field, err, ctx.t);
                None
            }
        }
    };
    let start = day_start(from, "from", 0);
    // "Until" a date includes that whole day.
    let end = day_start(until, "until", 1);
    if let (Some(start), Some(end)) = (start, end)
        && end <= start
    {
        errors.add("until", crate::domain::FieldError::EndBeforeStart, ctx.t);
    }
    (start, end)
}

/// `/healthz`: `ok` while the database can write; 503 with the reason (`disk full`, ...)
/// while it cannot.
pub async fn health(State(state): State<AppState>) -> Response {
    match state.write_health().await {
        Ok(()) => "ok".into_response(),
        Err(reason) => (
            StatusCode::SERVICE_UNAVAILABLE,
            format!("unavailable: {reason}\n"),
        )
            .into_response(),
    }
}

/// Unknown paths.
pub async fn not_found() -> AppError {
    AppError::not_found()
}

/// The language switch form.
#[derive(Debug, Deserialize)]
pub struct LanguageForm {
    lang: String,
    #[serde(default)]
    back: String,
}

/// `POST /lang`: remembers the chosen language for a year and returns to the page.
pub async fn switch_language(Form(form): Form<LanguageForm>) -> Result<Response, AppError> {
    let lang = Lang::from_code(&form.lang).ok_or_else(AppError::bad_request)?;
    // Only same-site paths: never an open redirect to another host.
    let local_path = form.back.starts_with('/')
        && !form.back.starts_with("//")
        && !form.back.contains('\\')
        && !form.back.chars().any(char::is_control)
        && form.back.parse::<axum::http::Uri>().is_ok();
    let back = if local_path {
        form.back
    } else {
        "/".to_string()
    };
    let cookie = format!(
        "{LANG_COOKIE}={}; Path=/; Max-Age=31536000; Secure; SameSite=Lax",
        lang.code()
    );
    Ok(([(header::SET_COOKIE, cookie)], Redirect::to(&back)).into_response())
}
