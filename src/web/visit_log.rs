//! The administrators' visit log: every participant's stay, newest first.

use askama::Template;
use axum::{extract::State, response::Response};

use super::{PageCtx, render};
use crate::{
    auth::ticket::CallRole,
    db::{self, visit_log::VisitRow},
    error::AppError,
    i18n::Text,
    state::AppState,
    web::AdminStaff,
};

#[derive(Template)]
#[template(path = "admin/visits.html")]
struct VisitLogPage {
    ctx: PageCtx,
    visits: Vec<VisitRow>,
}

impl VisitLogPage {
    fn role_label(&self, row: &VisitRow) -> &'static str {
        let role = match row.role.as_str() {
            "patient" => CallRole::Patient,
            "relative" => CallRole::Relative,
            _ => CallRole::Staff,
        };
        super::call::role_label(role, self.ctx.t)
    }

    fn reason_label(&self, row: &VisitRow) -> &'static str {
        reason_label(row.end_reason.as_deref(), self.ctx.t)
    }
}

fn reason_label(reason: Option<&str>, t: &Text) -> &'static str {
    match reason {
        Some("hangup") => t.reason_hangup,
        Some("connection-lost") => t.reason_connection_lost,
        Some("revoked") => t.reason_revoked,
        Some("room-closed") => t.reason_room_closed,
        Some("server-shutdown" | "server-restart") => t.reason_server,
        _ => "",
    }
}

/// `GET /admin/visits`: the newest 500 stays.
pub async fn list(
    State(state): State<AppState>,
    admin: AdminStaff,
    ctx: PageCtx,
) -> Result<Response, AppError> {
    let visits = db::visit_log::list_recent(&state.db, 500).await?;
    render(&VisitLogPage {
        ctx: ctx.with_staff(&admin.0),
        visits,
    })
}
