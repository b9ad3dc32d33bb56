//! The server's secret key: signs call tickets and keys the hashes of access codes, so that a
//! copy of the database alone gives neither away. Kept in `DATA_DIR/secret.key`, owner-only,
//! created on first start.

use std::{fs, io::Write, os::unix::fs::OpenOptionsExt, path::Path};

use anyhow::Context;
use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

/// 256 random bits.
#[derive(Clone)]
pub struct ServerSecret([u8; 32]);

impl std::fmt::Debug for ServerSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ServerSecret(<redacted>)")
    }
}

impl ServerSecret {
    /// Reads the key file, creating it when missing.
    pub fn load_or_create(path: &Path) -> anyhow::Result<Self> {
        if let Ok(text) = fs::read_to_string(path) {
            let bytes = URL_SAFE_NO_PAD
                .decode(text.trim())
                .with_context(|| format!("reading the secret key {}", path.display()))?;
            let key: [u8; 32] = bytes
                .try_into()
                .map_err(|_| anyhow::anyhow!("{} does not hold a 32-byte key", path.display()))?;
            return Ok(Self(key));
        }
        let mut key = [0u8; 32];
        getrandom::fill(&mut key).map_err(|e| anyhow::anyhow!("random source: {e}"))?;
        let mut file = fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(path)
            .with_context(|| format!("creating the secret key {}", path.display()))?;
        file.write_all(URL_SAFE_NO_PAD.encode(key).as_bytes())?;
        file.sync_all()?;
        Ok(Self(key))
    }

    /// Reads the key file given with `--secret-file` (shared by several nodes): it must exist,
    /// hold a key, and be readable by its owner only.
    pub fn load_shared(path: &Path) -> anyhow::Result<Self> {
        use std::os::unix::fs::PermissionsExt;
        let meta = fs::metadata(path).with_context(|| {
            format!("reading the secret key {} (--secret-file)", path.display())
        })?;
        if meta.permissions().mode() & 0o077 != 0 {
            anyhow::bail!(
                "the secret key {} is readable by other users: chmod 600 it",
                path.display()
            );
        }
        let text = fs::read_to_string(path)
            .with_context(|| format!("reading the secret key {}", path.display()))?;
        Self::decode(text.trim()).ok_or_else(|| {
            anyhow::anyhow!(
                "{} does not hold a 32-byte key in URL-safe base64",
                path.display()
            )
        })
    }

    fn decode(text: &str) -> Option<Self> {
        let text = text.trim_end_matches('=');
        let bytes = URL_SAFE_NO_PAD.decode(text).ok()?;
        Some(Self(bytes.try_into().ok()?))
    }

    /// A key for tests and tools that need no persistence.
    pub fn random() -> Self {
        let mut key = [0u8; 32];
        getrandom::fill(&mut key).expect("the operating system's random source is available");
        Self(key)
    }

    fn mac(&self, domain: &str, message: &[u8]) -> Hmac<Sha256> {
        let mut mac =
            <Hmac<Sha256> as KeyInit>::new_from_slice(&self.0).expect("HMAC takes any key length");
        // The domain keeps a signature made for one purpose from verifying for another.
        mac.update(domain.as_bytes());
        mac.update(&[0]);
        mac.update(message);
        mac
    }

    /// HMAC-SHA-256 of `message` for `domain`, as URL-safe base64.
    pub fn sign(&self, domain: &str, message: &[u8]) -> String {
        URL_SAFE_NO_PAD.encode(self.mac(domain, message).finalize().into_bytes())
    }

    /// Checks a signature made by [`ServerSecret::sign`], in constant time.
    pub fn verify(&self, domain: &str, message: &[u8], signature: &str) -> bool {
        let Ok(bytes) = URL_SAFE_NO_PAD.decode(signature) else {
            return false;
        };
        self.mac(domain, message).verify_slice(&bytes).is_ok()
    }

    /// The encryption key of `domain`, derived from the server's key (never the key itself).
    fn sealing_key(&self, domain: &str) -> chacha20poly1305::Key {
        let derived = self.mac("seal", domain.as_bytes()).finalize().into_bytes();
        let mut key = chacha20poly1305::Key::default();
        key.copy_from_slice(&derived[..32]);
        key
    }

    /// Encrypts `plaintext` for `domain`, bound to `context` (a row's id: the sealed value cannot
    /// be moved to another row), with ChaCha20-Poly1305 and a random nonce; URL-safe base64.
    pub fn seal(&self, domain: &str, context: &str, plaintext: &[u8]) -> String {
        use chacha20poly1305::{
            ChaCha20Poly1305, KeyInit as _,
            aead::{Aead, Payload},
        };
        let cipher = ChaCha20Poly1305::new(&self.sealing_key(domain));
        let mut nonce = [0u8; 12];
        getrandom::fill(&mut nonce).expect("the operating system's random source is available");
        let sealed = cipher
            .encrypt(
                (&nonce).into(),
                Payload {
                    msg: plaintext,
                    aad: context.as_bytes(),
                },
            )
            .expect("encrypting into memory cannot fail");
        let mut out = nonce.to_vec();
        out.extend_from_slice(&sealed);
        URL_SAFE_NO_PAD.encode(out)
    }

    /// Decrypts what [`ServerSecret::seal`] made for the same domain and context; `None` when it
    /// was changed, moved or sealed under another key.
    pub fn open(&self, domain: &str, context: &str, sealed: &str) -> Option<Vec<u8>> {
        use chacha20poly1305::{
            ChaCha20Poly1305, KeyInit as _,
            aead::{Aead, Payload},
        };
        let bytes = URL_SAFE_NO_PAD.decode(sealed).ok()?;
        if bytes.len() < 12 {
            return None;
        }
        let (nonce, ciphertext) = bytes.split_at(12);
        let nonce: [u8; 12] = nonce.try_into().ok()?;
        ChaCha20Poly1305::new(&self.sealing_key(domain))
            .decrypt(
                (&nonce).into(),
                Payload {
                    msg: ciphertext,
                    aad: context.as_bytes(),
                },
            )
            .ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sealed_values_open_only_with_their_key_domain_and_context() {
        let key = ServerSecret::random();
        let sealed = key.seal("invite", "row-1", b"token 123456");
        assert_eq!(
            key.open("invite", "row-1", &sealed).as_deref(),
            Some(&b"token 123456"[..])
        );
        assert_eq!(key.open("invite", "row-2", &sealed), None);
        assert_eq!(key.open("other", "row-1", &sealed), None);
        assert_eq!(
            ServerSecret::random().open("invite", "row-1", &sealed),
            None
        );
        assert!(!sealed.contains("123456"));
    }

    #[test]
    fn signatures_verify_only_for_their_domain_and_message() {
        let secret = ServerSecret::random();
        let signature = secret.sign("ticket", b"hello");
        assert!(secret.verify("ticket", b"hello", &signature));
        assert!(!secret.verify("code", b"hello", &signature));
        assert!(!secret.verify("ticket", b"hellO", &signature));
        assert!(!ServerSecret::random().verify("ticket", b"hello", &signature));
    }

    #[test]
    fn the_key_file_is_created_once_and_owner_only() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("secret.key");
        let first = ServerSecret::load_or_create(&path).unwrap();
        let again = ServerSecret::load_or_create(&path).unwrap();
        assert_eq!(first.0, again.0);
        assert_eq!(
            fs::metadata(&path).unwrap().permissions().mode() & 0o777,
            0o600
        );
    }
}
