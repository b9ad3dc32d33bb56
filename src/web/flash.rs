//! After every action the next page says what happened ("Patient discharged."), once, in the
//! person's language. One table maps each action's route to its message: a POST that succeeded
//! (answered with a redirect) leaves the route in the session; the next page rendered takes it
//! out and shows the message ([`super::PageCtx`]).

use axum::{
    extract::{MatchedPath, Request},
    http::{Method, StatusCode},
    middleware::Next,
    response::Response,
};
use tower_sessions::Session;

use crate::i18n::Text;

/// The session key that holds the last action's route.
const KEY: &str = "flash";

/// The message for a successful POST to `route`, if it has one.
pub fn message(route: &str, t: &Text) -> Option<&'static str> {
    Some(match route {
        "/patients" => t.flash_patient_registered,
        "/patients/{id}/edit" => t.flash_patient_saved,
        "/patients/{id}/no-visits" => t.flash_no_visits_saved,
        "/patients/{id}/discharge" => t.flash_patient_discharged,
        "/patients/{id}/readmit" => t.flash_patient_readmitted,
        "/patients/{id}/rooms" => t.flash_room_opened,
        "/patients/{id}/relatives" => t.flash_relative_authorised,
        "/patients/{patient}/relatives/{relative}/withdraw" => t.flash_relative_withdrawn,
        "/patients/{id}/visits" => t.flash_visit_scheduled,
        "/patients/{id}/visits/now" => t.flash_visit_started,
        "/waiting/{id}/admit" | "/visits/{id}/admit-all" => t.flash_relative_admitted,
        "/waiting/{id}/not-now" => t.flash_not_now_sent,
        "/waiting/{id}/send-away" => t.flash_sent_away,
        "/patients/{id}/devices" | "/pair" => t.flash_tablet_paired,
        "/patients/{id}/devices/{device}/unpair" => t.flash_tablet_unpaired,
        "/patients/{id}/bedside" => t.flash_bedside_saved,
        "/visits/{id}/reschedule" => t.flash_visit_moved,
        "/visits/{id}/cancel" => t.flash_visit_cancelled,
        "/visits/{id}/end" => t.flash_visit_ended,
        "/visits/{id}/relatives" => t.flash_relative_added,
        "/rooms/{id}/close" => t.flash_room_closed,
        "/rooms/{room}/invites/{invite}/revoke" => t.flash_invite_revoked,
        "/admin/staff" => t.flash_account_created,
        "/admin/staff/{id}" => t.flash_account_saved,
        "/admin/staff/{id}/deactivate" => t.flash_account_deactivated,
        "/admin/staff/{id}/reactivate" => t.flash_account_reactivated,
        "/admin/staff/{id}/password" => t.flash_password_reset,
        "/admin/staff/{id}/wards" => t.flash_wards_saved,
        "/admin/wards" => t.flash_ward_created,
        "/admin/wards/{id}" => t.flash_ward_saved,
        "/admin/wards/{id}/exceptions" => t.flash_exception_added,
        "/admin/wards/{ward}/exceptions/{exception}/remove" => t.flash_exception_removed,
        "/account/password" => t.flash_password_changed,
        _ => return None,
    })
}

/// Middleware: a POST with a message that was answered with a redirect (it succeeded) leaves
/// its route for the next page.
pub async fn remember(request: Request, next: Next) -> Response {
    let post = request.method() == Method::POST;
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map(|m| m.as_str().to_string());
    let session = request.extensions().get::<Session>().cloned();
    let response = next.run(request).await;
    if post
        && response.status() == StatusCode::SEE_OTHER
        && let (Some(route), Some(session)) = (route, session)
        && message(&route, crate::i18n::Lang::Es.text()).is_some()
        && let Err(err) = session.insert(KEY, route).await
    {
        tracing::debug!(error = %err, "keeping an action's message for the next page");
    }
    response
}

/// The message left for this page, taken out of the session (shown once).
pub async fn take(session: Option<&Session>, t: &Text) -> Option<&'static str> {
    let session = session?;
    // A read first: most pages have no message, and a removal would write the session.
    let route: String = session.get(KEY).await.ok().flatten()?;
    let _ = session.remove::<String>(KEY).await;
    message(&route, t)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_message_exists_in_both_languages() {
        for route in ["/patients", "/patients/{id}/discharge", "/account/password"] {
            for lang in crate::i18n::Lang::ALL {
                assert!(message(route, lang.text()).is_some_and(|m| m.ends_with('.')));
            }
        }
        assert_eq!(message("/login", crate::i18n::Lang::En.text()), None);
    }
}
