//! TURN credentials: time-limited ones in coturn's REST API format (`--use-auth-secret`), valid
//! until the end of the participant's visit plus a margin, so a leaked credential stops working
//! soon after and the shared secret never leaves the server.

use serde_json::{Value, json};

use crate::config::Config;

/// How long after the visit's end a TURN credential still works (a visit that runs a little
/// over, a nurse who extends it).
pub const TURN_MARGIN_SECS: i64 = 30 * 60;

/// How long a credential works for a call that belongs to no scheduled visit (a nurse calling
/// from the room page).
pub const TURN_UNSCHEDULED_SECS: i64 = 4 * 60 * 60;

/// coturn's REST credential valid until `expires_at` (Unix seconds): the username
/// `EXPIRES_AT:visitas` and the password `base64(HMAC-SHA1(secret, username))`.
pub fn rest_credential(secret: &str, expires_at: i64) -> (String, String) {
    use base64::{Engine, engine::general_purpose::STANDARD};
    use hmac::{Hmac, KeyInit, Mac};
    let username = format!("{expires_at}:visitas");
    let mut mac = <Hmac<sha1::Sha1> as KeyInit>::new_from_slice(secret.as_bytes())
        .expect("HMAC takes any key length");
    mac.update(username.as_bytes());
    (username, STANDARD.encode(mac.finalize().into_bytes()))
}

/// The ICE servers a page should use: none by default; with `--turn-secret`, TURN URLs carry
/// credentials valid until `expires_at`.
pub fn ice_servers(config: &Config, expires_at: i64) -> Value {
    let mut servers = Vec::new();
    for url in &config.ice_urls {
        let is_turn = url.starts_with("turn:") || url.starts_with("turns:");
        match (&config.turn_secret, is_turn) {
            (Some(secret), true) => {
                let (username, credential) = rest_credential(&secret.0, expires_at);
                servers
                    .push(json!({ "urls": url, "username": username, "credential": credential }));
            }
            _ => servers.push(json!({ "urls": url })),
        }
    }
    Value::Array(servers)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn turn_urls_get_coturn_rest_credentials_and_stun_urls_none() {
        let mut config =
            Config::with_defaults("127.0.0.1:0".parse().expect("an address"), "d".into());
        config.ice_urls = vec!["stun:stun.local:3478".into(), "turn:turn.local:3478".into()];
        config.turn_secret = Some(crate::config::Secret("s3cret".into()));

        let servers = ice_servers(&config, 1_000);

        assert_eq!(servers[0], json!({ "urls": "stun:stun.local:3478" }));
        assert_eq!(servers[1]["username"], "1000:visitas");
        // base64(HMAC-SHA1("s3cret", "1000:visitas")), as coturn computes it.
        assert_eq!(servers[1]["credential"], "kbhCojeP7NVB8qascNwggAQfd9E=");
    }
}
