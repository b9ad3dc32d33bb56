//! Call tickets: short-lived, signed statements of who may signal in which room. The server
//! issues one after checking a staff session or an invite's access code; the Socket.IO handshake
//! accepts nothing else, so the room a socket signals in is always the server's decision.

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use serde::{Deserialize, Serialize};

use super::secret::ServerSecret;
use crate::domain::CallRole;

/// How long a ticket may be presented after it was issued. A reconnecting page fetches a fresh
/// one, so this only needs to cover one handshake.
pub const TICKET_SECS: i64 = 120;

const DOMAIN: &str = "visitas call ticket v1";

/// What a ticket says.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CallTicket {
    /// The room, decided by the server.
    pub room_id: String,
    pub role: CallRole,
    /// Name shown to the other participants.
    pub display_name: String,
    /// The staff account that opened the bedside or joined (patient and staff roles).
    pub staff_id: Option<String>,
    /// The invite used (relative role).
    pub invite_id: Option<String>,
    /// The paired bedside device (patient role, without a staff session).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub device_id: Option<String>,
    /// Unix seconds after which the ticket is refused.
    pub expires_at: i64,
}

impl CallTicket {
    /// Signs the ticket into an opaque string.
    pub fn seal(&self, secret: &ServerSecret) -> String {
        let payload = serde_json::to_vec(self).expect("a ticket serialises");
        let body = URL_SAFE_NO_PAD.encode(&payload);
        let signature = secret.sign(DOMAIN, body.as_bytes());
        format!("{body}.{signature}")
    }

    /// Verifies and reads a ticket; `None` when forged, malformed or expired at `now`.
    pub fn open(sealed: &str, secret: &ServerSecret, now: i64) -> Option<CallTicket> {
        if sealed.len() > 2048 {
            return None;
        }
        let (body, signature) = sealed.split_once('.')?;
        if !secret.verify(DOMAIN, body.as_bytes(), signature) {
            return None;
        }
        let ticket: CallTicket =
            serde_json::from_slice(&URL_SAFE_NO_PAD.decode(body).ok()?).ok()?;
        (ticket.expires_at > now).then_some(ticket)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ticket() -> CallTicket {
        CallTicket {
            room_id: "room".into(),
            role: CallRole::Relative,
            display_name: "Ana".into(),
            staff_id: None,
            invite_id: Some("invite".into()),
            device_id: None,
            expires_at: 1_000,
        }
    }

    #[test]
    fn a_sealed_ticket_opens_until_it_expires() {
        let secret = ServerSecret::random();
        let sealed = ticket().seal(&secret);
        assert_eq!(CallTicket::open(&sealed, &secret, 999), Some(ticket()));
        assert_eq!(CallTicket::open(&sealed, &secret, 1_000), None);
    }

    #[test]
    fn a_changed_or_foreign_ticket_is_refused() {
        let secret = ServerSecret::random();
        let sealed = ticket().seal(&secret);
        let mut other = ticket();
        other.room_id = "another room".into();
        let forged_body = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&other).unwrap());
        let signature = sealed.split_once('.').unwrap().1;
        assert_eq!(
            CallTicket::open(&format!("{forged_body}.{signature}"), &secret, 0),
            None
        );
        assert_eq!(CallTicket::open(&sealed, &ServerSecret::random(), 0), None);
        assert_eq!(CallTicket::open("garbage", &secret, 0), None);
    }
}
