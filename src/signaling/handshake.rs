//! The way into signaling: the WebSocket upgrade (Origin check, our own `101`, the connect gate)
//! and the Socket.IO connect middleware that authenticates the ticket and installs the socket's
//! ordered inbox before the connect reply goes out.

use std::sync::Arc;

use axum::{
    extract::{Request, State},
    http::{Extensions, HeaderValue, Method, StatusCode, Uri, header, request::Parts},
    middleware::Next,
    response::{IntoResponse, Response},
};
use hyper::upgrade::OnUpgrade;
use hyper_util::rt::TokioIo;
use serde::Deserialize;
use socketioxide::{
    SocketIo,
    extract::{SocketRef, State as SocketState, TryData},
};
use tower::Service;
use tower_sessions::Session;

use super::link::Adapter;
use super::{
    Hub, Participant, Signaling,
    gate::{ConnectGate, Hangup},
    inbox::Inbox,
};
use crate::{
    auth::{session::current_staff, ticket::CallTicket},
    db,
    domain::CallRole,
};

/// The GUID of RFC 6455 §1.3, appended to the client's key to prove the server speaks WebSocket.
const WEBSOCKET_GUID: &str = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

/// Serves `/socket.io/`: refuses a foreign or missing `Origin` with 403 (a page on another site
/// must not signal with the cookie of a nurse who happens to visit it; socketioxide does not look
/// at it), accepts the WebSocket upgrade itself and hands the connection, behind a
/// [`ConnectGate`], to Socket.IO. Every other path goes on to the pages.
pub async fn accept_socket(
    State(signaling): State<Signaling>,
    request: Request,
    next: Next,
) -> Response {
    if !request.uri().path().starts_with("/socket.io") {
        return next.run(request).await;
    }
    let headers = request.headers();
    let allowed = headers
        .get(header::ORIGIN)
        .and_then(|origin| origin.to_str().ok())
        .is_some_and(|origin| {
            signaling.hub.config.is_own_origin(
                origin,
                headers,
                request.uri().authority().map(|a| a.as_str()),
            )
        });
    if !allowed {
        tracing::warn!("refused a Socket.IO handshake from a foreign or missing origin");
        metrics::counter!("visitas_handshakes_refused_total", "reason" => "origin").increment(1);
        return StatusCode::FORBIDDEN.into_response();
    }
    upgrade(&signaling, request)
}

/// Answers a valid WebSocket upgrade to Engine.IO v4 with `101` and starts Socket.IO on the
/// upgraded connection; anything else (long polling included) gets `400`.
fn upgrade(signaling: &Signaling, request: Request) -> Response {
    let (mut parts, _body) = request.into_parts();
    let accept = match websocket_key(&parts) {
        Some(key) if speaks_engine_io_v4(&parts.uri) => accept_key(key.as_bytes()),
        _ => return StatusCode::BAD_REQUEST.into_response(),
    };
    let Some(on_upgrade) = parts.extensions.remove::<OnUpgrade>() else {
        return StatusCode::BAD_REQUEST.into_response();
    };
    let mut kept = kept_request(parts);
    let hangup = Hangup::default();
    kept.extensions_mut().insert(hangup.clone());
    let mut service = signaling.service.clone();
    tokio::spawn(async move {
        let upgraded = match on_upgrade.await {
            Ok(upgraded) => upgraded,
            Err(err) => {
                tracing::debug!(error = %err, "a WebSocket upgrade did not complete");
                return;
            }
        };
        let connection = ConnectGate::new(TokioIo::new(upgraded), hangup);
        if let Err(err) = service.call((connection, kept)).await {
            tracing::debug!(error = ?err, "starting a Socket.IO connection");
        }
    });
    Response::builder()
        .status(StatusCode::SWITCHING_PROTOCOLS)
        .header(header::UPGRADE, HeaderValue::from_static("websocket"))
        .header(header::CONNECTION, HeaderValue::from_static("Upgrade"))
        .header(header::SEC_WEBSOCKET_ACCEPT, accept)
        .body(axum::body::Body::empty())
        .unwrap_or_else(|_| StatusCode::INTERNAL_SERVER_ERROR.into_response())
}

/// The client's `Sec-WebSocket-Key`, when the request is a WebSocket upgrade we can answer.
fn websocket_key(parts: &Parts) -> Option<&HeaderValue> {
    let has = |name: header::HeaderName, value: &str| {
        parts.headers.get_all(name).iter().any(|v| {
            v.to_str().is_ok_and(|v| {
                v.split(',')
                    .any(|token| token.trim().eq_ignore_ascii_case(value))
            })
        })
    };
    let upgrade = parts.method == Method::GET
        && has(header::CONNECTION, "upgrade")
        && has(header::UPGRADE, "websocket")
        && has(header::SEC_WEBSOCKET_VERSION, "13");
    upgrade
        .then(|| parts.headers.get(header::SEC_WEBSOCKET_KEY))
        .flatten()
}

/// Engine.IO v4 over WebSocket from the start (`EIO=4&transport=websocket`, no polling `sid`).
fn speaks_engine_io_v4(uri: &Uri) -> bool {
    let query = uri.query().unwrap_or_default();
    let pairs: Vec<(&str, &str)> = query
        .split('&')
        .filter_map(|pair| pair.split_once('='))
        .collect();
    pairs.contains(&("EIO", "4"))
        && pairs.contains(&("transport", "websocket"))
        && !pairs.iter().any(|(name, _)| *name == "sid")
}

/// `base64(SHA-1(key + GUID))`, RFC 6455 §4.2.2.
fn accept_key(key: &[u8]) -> HeaderValue {
    use base64::{Engine, engine::general_purpose::STANDARD};
    use sha1::{Digest, Sha1};
    let mut hasher = Sha1::new();
    hasher.update(key);
    hasher.update(WEBSOCKET_GUID.as_bytes());
    HeaderValue::from_str(&STANDARD.encode(hasher.finalize()))
        .unwrap_or_else(|_| HeaderValue::from_static(""))
}

/// What the socket keeps of its upgrade request for as long as it lives: a copy of the URI and
/// the staff session (the outer layer has already read it from the cookie), nothing else.
/// hyper parses header values and the URI as slices of its 8-16 KiB read buffer: keeping any of
/// them would keep that whole buffer alive per connection.
fn kept_request(parts: Parts) -> axum::http::Request<()> {
    let mut kept = axum::http::Request::new(());
    if let Ok(uri) = parts.uri.to_string().parse::<Uri>() {
        *kept.uri_mut() = uri;
    }
    let mut extensions = Extensions::new();
    if let Some(session) = parts.extensions.get::<Session>() {
        extensions.insert(session.clone());
    }
    *kept.extensions_mut() = extensions;
    kept
}

#[derive(Debug, Deserialize)]
pub(super) struct HandshakeAuth {
    ticket: String,
}

/// The one message a refused handshake gets.
#[derive(Debug, thiserror::Error)]
#[error("unauthorized")]
pub(super) struct Unauthorized;

/// Connect middleware: nothing is emitted to a socket that does not pass. A socket that passes
/// gets its [`Inbox`] here, before socketioxide sends the connect reply, so no event can arrive
/// before there is something to take it.
pub(super) async fn authenticate(
    socket: SocketRef<Adapter>,
    io: SocketIo<Adapter>,
    TryData(auth): TryData<HandshakeAuth>,
    SocketState(hub): SocketState<Arc<Hub>>,
) -> Result<(), Unauthorized> {
    let ticket = auth
        .ok()
        .and_then(|auth| CallTicket::open(&auth.ticket, &hub.secret, db::now()));
    let Some(ticket) = ticket else {
        tracing::warn!("refused a Socket.IO handshake with an invalid or expired ticket");
        metrics::counter!("visitas_handshakes_refused_total", "reason" => "ticket").increment(1);
        return Err(Unauthorized);
    };
    // A bedside device has no staff session: its pairing is checked below, with the room.
    if matches!(ticket.role, CallRole::Patient | CallRole::Staff) && ticket.device_id.is_none() {
        let session = socket.req_parts().extensions.get::<Session>().cloned();
        let staff = match session {
            Some(session) => current_staff(&session, &hub.db, &hub.config, &hub.caches)
                .await
                .ok(),
            None => None,
        };
        if staff.is_none_or(|staff| Some(staff.id) != ticket.staff_id) {
            tracing::warn!("refused a staff Socket.IO handshake without the matching session");
            metrics::counter!("visitas_handshakes_refused_total", "reason" => "session")
                .increment(1);
            return Err(Unauthorized);
        }
    }
    let participant = Participant::from_ticket(ticket);
    match hub.still_allowed(&participant).await {
        Ok(true) => {}
        Ok(false) => {
            tracing::info!("refused a Socket.IO handshake for a closed room or inactive invite");
            metrics::counter!("visitas_handshakes_refused_total", "reason" => "not-allowed")
                .increment(1);
            return Err(Unauthorized);
        }
        Err(err) => {
            tracing::error!(error = %err, "checking a Socket.IO handshake");
            return Err(Unauthorized);
        }
    }
    Inbox::install(&socket, hub, io, participant);
    Ok(())
}

#[cfg(test)]
mod tests {
    use axum::body::{Body, Bytes};

    use super::*;

    #[derive(Clone)]
    struct Unrelated;

    #[test]
    fn the_accept_key_is_the_one_of_rfc_6455() {
        let accept = accept_key(b"dGhlIHNhbXBsZSBub25jZQ==");

        assert_eq!(accept, "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
    }

    #[test]
    fn only_engine_io_4_over_websocket_from_the_start_is_accepted() {
        let accepts = |uri: &str| speaks_engine_io_v4(&uri.parse().expect("a URI"));

        assert!(accepts("/socket.io/?EIO=4&transport=websocket"));
        assert!(!accepts("/socket.io/?EIO=4&transport=polling"));
        assert!(!accepts("/socket.io/?EIO=3&transport=websocket"));
        assert!(!accepts("/socket.io/?EIO=4&transport=websocket&sid=abc"));
    }

    #[test]
    fn a_kept_socket_request_shares_nothing_with_the_read_buffer() {
        // What hyper does: the head's values are slices of one read buffer.
        let head =
            "/socket.io/?EIO=4&transport=websocket dGhlIHNhbXBsZSBub25jZQ== visitas-session=abc";
        let buffer = Bytes::from(head.to_string());
        let (uri_end, key_end) = (head.find(' ').unwrap_or(0), head.rfind(' ').unwrap_or(0));
        let inside = |bytes: &[u8]| {
            let start = buffer.as_ptr() as usize;
            (start..start + buffer.len()).contains(&(bytes.as_ptr() as usize))
        };
        let mut request = Request::new(Body::empty());
        *request.uri_mut() = Uri::from_maybe_shared(buffer.slice(..uri_end)).expect("a valid URI");
        let headers = request.headers_mut();
        headers.insert(
            header::SEC_WEBSOCKET_KEY,
            HeaderValue::from_maybe_shared(buffer.slice(uri_end + 1..key_end))
                .expect("a valid value"),
        );
        headers.insert(
            header::COOKIE,
            HeaderValue::from_maybe_shared(buffer.slice(key_end + 1..)).expect("a valid value"),
        );
        request.extensions_mut().insert(Unrelated);
        assert!(inside(request.uri().path().as_bytes()));

        let kept = kept_request(request.into_parts().0);

        assert_eq!(
            kept.uri().to_string(),
            "/socket.io/?EIO=4&transport=websocket"
        );
        assert!(!inside(kept.uri().path().as_bytes()));
        assert!(!inside(kept.uri().query().unwrap_or_default().as_bytes()));
        assert!(kept.headers().is_empty(), "no header is kept");
        assert!(kept.extensions().get::<Unrelated>().is_none());
    }
}
