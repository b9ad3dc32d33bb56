//! Random identifiers and secrets.
//!
//! Ids in URLs are 128 random bits so that one patient's or room's address says nothing about
//! another's; secrets handed to people (setup links, later invite links) are stored only as their
//! SHA-256, which is enough for values with this much entropy.

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use sha2::{Digest, Sha256};

/// A random 128-bit identifier, written as 22 URL-safe base64 characters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RandomId(String);

impl RandomId {
    /// A fresh identifier from the operating system's random source.
    pub fn new() -> Self {
        Self(random_token(16))
    }

    /// Accepts only strings shaped like an identifier this module made, so a malformed path
    /// segment is a 404 before any query runs.
    pub fn parse(input: &str) -> Option<Self> {
        let well_formed = input.len() == 22
            && input
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
        well_formed.then(|| Self(input.to_string()))
    }

    /// The identifier's text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl Default for RandomId {
    fn default() -> Self {
        Self::new()
    }
}

impl std::fmt::Display for RandomId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// `bytes` random bytes as URL-safe base64 without padding.
pub fn random_token(bytes: usize) -> String {
    let mut buf = vec![0u8; bytes];
    // The OS random source failing is not something a web request can recover from.
    getrandom::fill(&mut buf).expect("the operating system's random source is available");
    URL_SAFE_NO_PAD.encode(buf)
}

/// Lowercase hex SHA-256 of a secret, as stored in the database.
pub fn sha256_hex(secret: &str) -> String {
    Sha256::digest(secret.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_random_and_parse_back() {
        let a = RandomId::new();
        let b = RandomId::new();
        assert_ne!(a, b);
        assert_eq!(RandomId::parse(a.as_str()), Some(a));
        assert_eq!(RandomId::parse("1"), None);
        assert_eq!(RandomId::parse("../../etc/passwd/abcdef"), None);
    }
}
