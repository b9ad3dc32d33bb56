//! Staff passwords: argon2id hashing off the async runtime, and the rules for new passwords.

use std::sync::Arc;

use anyhow::Context;
use argon2::{
    Algorithm, Argon2, Params, Version,
    password_hash::{PasswordHasher, PasswordVerifier},
};
use tokio::sync::Semaphore;

use crate::domain::{FieldError, Username};

/// Inputs longer than this are refused before any hashing, so a megabyte "password" costs nothing.
pub const MAX_PASSWORD_BYTES: usize = 1024;

/// The most common passwords (and their Spanish and hospital variants), refused for new accounts.
const COMMON_PASSWORDS: &str = include_str!("common_passwords.txt");

/// argon2id with m = 46 MiB, t = 1, p = 1: OWASP's first recommended setting.
fn argon2() -> Argon2<'static> {
    let params = Params::new(47_104, 1, 1, None).expect("constant argon2 parameters are valid");
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
}

/// Hashes and verifies passwords on the blocking pool, at most one per CPU at a time, so a burst
/// of logins queues instead of starving the runtime or exhausting memory (46 MiB each).
#[derive(Clone)]
pub struct Passwords {
    permits: Arc<Semaphore>,
    /// A real hash of a random password, verified for unknown usernames so that "no such user"
    /// takes as long as "wrong password".
    dummy_hash: Arc<str>,
}

impl std::fmt::Debug for Passwords {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Passwords").finish_non_exhaustive()
    }
}

impl Passwords {
    /// Prepares the hasher; computes the dummy hash once.
    pub async fn new() -> anyhow::Result<Self> {
        let cpus = std::thread::available_parallelism().map_or(1, usize::from);
        let dummy = crate::domain::random_token(24);
        let dummy_hash = tokio::task::spawn_blocking(move || hash_blocking(&dummy))
            .await
            .context("joining the hashing task")??;
        Ok(Self {
            permits: Arc::new(Semaphore::new(cpus)),
            dummy_hash: dummy_hash.into(),
        })
    }

    /// The PHC string of a new password.
    pub async fn hash(&self, password: String) -> anyhow::Result<String> {
        // The permit moves into the blocking task: a cancelled request cannot free its slot while
        // the 46 MiB hash is still being computed.
        let permit = self
            .permits
            .clone()
            .acquire_owned()
            .await
            .context("hasher closed")?;
        tokio::task::spawn_blocking(move || {
            let _permit = permit;
            hash_blocking(&password)
        })
        .await
        .context("joining the hashing task")?
    }

    /// True when `password` matches `stored`. With no stored hash (unknown user) a dummy hash is
    /// checked anyway and the answer is false.
    pub async fn verify(&self, password: String, stored: Option<String>) -> anyhow::Result<bool> {
        if password.len() > MAX_PASSWORD_BYTES {
            return Ok(false);
        }
        let permit = self
            .permits
            .clone()
            .acquire_owned()
            .await
            .context("hasher closed")?;
        let known = stored.is_some();
        let hash = stored.unwrap_or_else(|| self.dummy_hash.to_string());
        let matches = tokio::task::spawn_blocking(move || {
            let _permit = permit;
            argon2()
                .verify_password(password.as_bytes(), hash.as_str())
                .is_ok()
        })
        .await
        .context("joining the verification task")?;
        Ok(known && matches)
    }
}

fn hash_blocking(password: &str) -> anyhow::Result<String> {
    argon2()
        .hash_password(password.as_bytes())
        .map(|hash| hash.to_string())
        .map_err(|e| anyhow::anyhow!("hashing a password: {e}"))
}

/// Checks a new password against the rules: length, the common list, the confirmation and the
/// username.
pub fn check_new_password(
    password: &str,
    confirmation: &str,
    username: Option<&Username>,
    min_chars: usize,
) -> Result<(), FieldError> {
    if password.len() > MAX_PASSWORD_BYTES {
        return Err(FieldError::PasswordTooLong);
    }
    if password.chars().count() < min_chars {
        return Err(FieldError::PasswordTooShort(min_chars));
    }
    let lowered = password.to_lowercase();
    if COMMON_PASSWORDS.lines().any(|common| common == lowered) {
        return Err(FieldError::PasswordCommon);
    }
    if username.is_some_and(|u| u.as_str() == lowered) {
        return Err(FieldError::PasswordIsUsername);
    }
    if password != confirmation {
        return Err(FieldError::PasswordMismatch);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_hash_verifies_its_password_only() {
        let passwords = Passwords::new().await.unwrap();
        let hash = passwords.hash("correct horse 42".into()).await.unwrap();
        assert!(hash.starts_with("$argon2id$v=19$m=47104,t=1,p=1$"));
        assert!(
            passwords
                .verify("correct horse 42".into(), Some(hash.clone()))
                .await
                .unwrap()
        );
        assert!(
            !passwords
                .verify("wrong horse 42".into(), Some(hash))
                .await
                .unwrap()
        );
        assert!(!passwords.verify("anything".into(), None).await.unwrap());
    }

    #[test]
    fn new_passwords_follow_the_rules() {
        let ana = Username::parse("ana.ruiz.lopez").unwrap();
        let ok = "a long enough secret";
        assert_eq!(check_new_password(ok, ok, Some(&ana), 12), Ok(()));
        assert_eq!(
            check_new_password("short", "short", None, 12),
            Err(FieldError::PasswordTooShort(12))
        );
        let long = "x".repeat(MAX_PASSWORD_BYTES + 1);
        assert_eq!(
            check_new_password(&long, &long, None, 12),
            Err(FieldError::PasswordTooLong)
        );
        assert_eq!(
            check_new_password("Password1234", "Password1234", None, 12),
            Err(FieldError::PasswordCommon)
        );
        assert_eq!(
            check_new_password("ana.ruiz.lopez", "ana.ruiz.lopez", Some(&ana), 12),
            Err(FieldError::PasswordIsUsername)
        );
        assert_eq!(
            check_new_password(ok, "other", None, 12),
            Err(FieldError::PasswordMismatch)
        );
    }
}
