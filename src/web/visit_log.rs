//! The administrators' visit log: every participant's stay, newest first.

use askama::Template;
use axum::{extract::State, response::Response};

use super::{PageCtx, render};
use crate::{
    db::{self, visit_log::VisitRow},
    error::AppError,
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
        row.role.label(self.ctx.t)
    }

    fn reason_label(&self, row: &VisitRow) -> &'static str {
        row.end_reason.map_or("", |reason| reason.label(self.ctx.t))
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
