//! A relative's access code: stored as an HMAC under the server's key, bound to its invite, and
//! checked in constant time.

use super::secret::ServerSecret;
use crate::domain::AccessCode;

/// Domain of the access-code HMAC.
const CODE_DOMAIN: &str = "visitas access code v1";

/// The stored form of an access code: HMAC under the server key, bound to its invite.
pub fn code_hash(secret: &ServerSecret, invite_id: &str, code: &AccessCode) -> String {
    secret.sign(
        CODE_DOMAIN,
        format!("{invite_id}:{}", code.as_str()).as_bytes(),
    )
}

/// True when `code` is the invite's code; constant time.
pub fn code_matches(
    secret: &ServerSecret,
    invite_id: &str,
    code: &AccessCode,
    stored: &str,
) -> bool {
    secret.verify(
        CODE_DOMAIN,
        format!("{invite_id}:{}", code.as_str()).as_bytes(),
        stored,
    )
}
