//! The one error type of request handlers and how it becomes a response.
//!
//! A handler's error carries a status and which catalog message to show, not the page itself:
//! the page is rendered by [`crate::web::render_error_pages`], which knows the request's language
//! and also dresses the framework's own errors (404 fallback, 405, 413, form rejections, panics)
//! in the same page. Internal errors are logged with their context and shown generically.

use axum::{
    http::StatusCode,
    response::{IntoResponse, Redirect, Response},
};

use crate::{db::StorageFailure, i18n::Text};

/// Which message an error page shows.
#[derive(Debug, Clone, Copy)]
pub enum ErrorMessage {
    /// A fixed catalog entry.
    Fixed(fn(&Text) -> &'static str),
    /// "Too many attempts, wait N minutes".
    Throttled { wait_minutes: i64 },
}

impl ErrorMessage {
    /// The message in the person's language.
    pub fn render(self, t: &Text) -> String {
        match self {
            ErrorMessage::Fixed(message) => message(t).to_string(),
            ErrorMessage::Throttled { wait_minutes } => t.login_throttled.of(wait_minutes),
        }
    }

    /// The generic message for a status, used when nothing more specific is known.
    pub fn for_status(status: StatusCode) -> ErrorMessage {
        ErrorMessage::Fixed(match status {
            StatusCode::FORBIDDEN => |t| t.err_forbidden,
            StatusCode::NOT_FOUND => |t| t.err_not_found,
            StatusCode::CONFLICT => |t| t.err_conflict,
            StatusCode::PAYLOAD_TOO_LARGE => |t| t.err_too_large,
            StatusCode::TOO_MANY_REQUESTS => |t| t.err_too_many,
            s if s.is_server_error() => |t| t.err_internal,
            _ => |t| t.err_bad_request,
        })
    }
}

/// Marks a response as an error page still to be rendered in the request's language.
#[derive(Debug, Clone, Copy)]
pub struct PendingErrorPage(pub ErrorMessage);

/// Why a request could not be served.
#[derive(Debug, thiserror::Error)]
pub enum AppError {
    /// A person's mistake or a refused action: shown with this status and message.
    #[error("{0}")]
    Refused(StatusCode, ErrorMessage),
    /// No valid staff session: go to the login page.
    #[error("login required")]
    LoginRequired,
    /// The staff member's password was set by an administrator: go and choose one first.
    #[error("password change required")]
    PasswordChangeRequired,
    /// The disk cannot take writes (full, read-only, failing): nothing was changed; shown as 503
    /// with the cause, so staff can tell IT what is wrong.
    #[error("storage failure: {}", .0.reason())]
    Storage(StorageFailure),
    /// Our fault: logged with context, shown as a generic 500.
    #[error(transparent)]
    Internal(#[from] anyhow::Error),
}

impl std::fmt::Display for ErrorMessage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.render(crate::i18n::Lang::En.text()))
    }
}

impl AppError {
    /// 400 with the generic message.
    pub fn bad_request() -> Self {
        Self::Refused(
            StatusCode::BAD_REQUEST,
            ErrorMessage::for_status(StatusCode::BAD_REQUEST),
        )
    }

    /// 403 with the generic message.
    pub fn forbidden() -> Self {
        Self::Refused(
            StatusCode::FORBIDDEN,
            ErrorMessage::for_status(StatusCode::FORBIDDEN),
        )
    }

    /// 404 with the generic message.
    pub fn not_found() -> Self {
        Self::Refused(
            StatusCode::NOT_FOUND,
            ErrorMessage::for_status(StatusCode::NOT_FOUND),
        )
    }

    /// 404 with a specific message.
    pub fn not_found_because(message: fn(&Text) -> &'static str) -> Self {
        Self::Refused(StatusCode::NOT_FOUND, ErrorMessage::Fixed(message))
    }

    /// 409 with a specific message.
    pub fn conflict(message: fn(&Text) -> &'static str) -> Self {
        Self::Refused(StatusCode::CONFLICT, ErrorMessage::Fixed(message))
    }

    /// 410 with a specific message: it existed and is over.
    pub fn gone(message: fn(&Text) -> &'static str) -> Self {
        Self::Refused(StatusCode::GONE, ErrorMessage::Fixed(message))
    }

    /// 429: too many of these lately.
    pub fn too_many() -> Self {
        Self::Refused(
            StatusCode::TOO_MANY_REQUESTS,
            ErrorMessage::for_status(StatusCode::TOO_MANY_REQUESTS),
        )
    }

    /// 403 for a request that failed the cross-site request forgery checks.
    pub fn csrf() -> Self {
        Self::Refused(StatusCode::FORBIDDEN, ErrorMessage::Fixed(|t| t.err_csrf))
    }
}

impl From<sqlx::Error> for AppError {
    fn from(err: sqlx::Error) -> Self {
        match StorageFailure::of(&err) {
            Some(failure) => Self::Storage(failure),
            None => Self::Internal(anyhow::Error::new(err).context("database query")),
        }
    }
}

impl From<askama::Error> for AppError {
    fn from(err: askama::Error) -> Self {
        Self::Internal(anyhow::Error::new(err).context("rendering a template"))
    }
}

impl From<tower_sessions::session::Error> for AppError {
    fn from(err: tower_sessions::session::Error) -> Self {
        match StorageFailure::in_message(&err.to_string()) {
            Some(failure) => Self::Storage(failure),
            None => {
                Self::Internal(anyhow::Error::new(err).context("reading or writing the session"))
            }
        }
    }
}

impl IntoResponse for AppError {
    fn into_response(self) -> Response {
        let (status, message) = match self {
            AppError::LoginRequired => return Redirect::to("/login").into_response(),
            AppError::PasswordChangeRequired => {
                return Redirect::to("/account/password").into_response();
            }
            AppError::Refused(status, message) => (status, message),
            AppError::Storage(failure) => {
                failure.note("a request was refused");
                let message: fn(&Text) -> &'static str = match failure {
                    StorageFailure::DiskFull => |t| t.err_disk_full,
                    StorageFailure::ReadOnly => |t| t.err_disk_read_only,
                    StorageFailure::Io => |t| t.err_disk_io,
                };
                (
                    StatusCode::SERVICE_UNAVAILABLE,
                    ErrorMessage::Fixed(message),
                )
            }
            AppError::Internal(err) => {
                tracing::error!(error = format!("{err:#}"), "request failed");
                let status = StatusCode::INTERNAL_SERVER_ERROR;
                (status, ErrorMessage::for_status(status))
            }
        };
        let mut response = status.into_response();
        response.extensions_mut().insert(PendingErrorPage(message));
        response
    }
}
