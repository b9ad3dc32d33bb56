//! TURN credentials: time-limited ones in coturn's REST API format (`--use-auth-secret`), so a
//! leaked credential stops working within hours and the shared secret never leaves the server.

use serde_json::{Value, json};

use crate::config::Config;

/// How long a TURN credential handed to a call page stays valid.
pub const TURN_CREDENTIAL_SECS: i64 = 12 * 60 * 60;

/// The ICE servers a page should use: none by default; with `--turn-secret`, TURN URLs carry
/// time-limited credentials in coturn's REST API format.
pub fn ice_servers(config: &Config, now: i64) -> Value {
    let mut servers = Vec::new();
    for url in &config.ice_urls {
        let is_turn = url.starts_with("turn:") || url.starts_with("turns:");
        match (&config.turn_secret, is_turn) {
            (Some(secret), true) => {
                use base64::{Engine, engine::general_purpose::STANDARD};
                use hmac::{Hmac, KeyInit, Mac};
                let username = format!("{}:visitas", now + TURN_CREDENTIAL_SECS);
                let mut mac = <Hmac<sha1::Sha1> as KeyInit>::new_from_slice(secret.0.as_bytes())
                    .expect("HMAC takes any key length");
                mac.update(username.as_bytes());
                let credential = STANDARD.encode(mac.finalize().into_bytes());
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
        assert_eq!(
            servers[1]["username"],
            format!("{}:visitas", 1_000 + TURN_CREDENTIAL_SECS)
        );
        // base64(HMAC-SHA1("s3cret", username)): 20 bytes, 28 characters.
        assert_eq!(servers[1]["credential"].as_str().map(str::len), Some(28));
    }
}
