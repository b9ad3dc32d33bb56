//! Creating staff accounts, the one way used by the setup link, the staff page and
//! `visitas admin create`.

use sqlx::SqlitePool;

use super::{Passwords, password::check_new_password};
use crate::{
    db,
    domain::{FieldError, PersonName, Role, Username},
};

/// What a person typed for a new account.
#[derive(Debug)]
pub struct AccountInput<'a> {
    pub username: &'a str,
    pub display_name: &'a str,
    pub password: &'a str,
    pub confirmation: &'a str,
}

/// Why an account was not created.
#[derive(Debug, thiserror::Error)]
pub enum CreateAccountError {
    /// The input breaks the rules; by field name.
    #[error("invalid account fields: {0:?}")]
    Invalid(Vec<(&'static str, FieldError)>),
    /// The setup link was used, expired or unknown.
    #[error("the setup link is not valid")]
    SetupLinkInvalid,
    /// Our fault.
    #[error(transparent)]
    Internal(#[from] anyhow::Error),
}

impl From<sqlx::Error> for CreateAccountError {
    fn from(err: sqlx::Error) -> Self {
        Self::Internal(anyhow::Error::new(err).context("storing a staff account"))
    }
}

/// Validates and stores a new account, with its audit row in the same transaction. With
/// `setup_token`, the token is consumed in that transaction too, so a link creates one account.
pub async fn create_account(
    pool: &SqlitePool,
    passwords: &Passwords,
    min_password_chars: usize,
    input: AccountInput<'_>,
    role: Role,
    actor_id: Option<&str>,
    setup_token: Option<&str>,
) -> Result<String, CreateAccountError> {
    let mut invalid = Vec::new();
    let username = Username::parse(input.username)
        .map_err(|e| invalid.push(("username", e)))
        .ok();
    let display_name = if input.display_name.trim().is_empty() {
        PersonName::parse(input.username)
    } else {
        PersonName::parse(input.display_name)
    }
    .map_err(|e| invalid.push(("display_name", e)))
    .ok();
    if let Err(e) = check_new_password(
        input.password,
        input.confirmation,
        username.as_ref(),
        min_password_chars,
    ) {
        invalid.push(("password", e));
    }
    let (Some(username), Some(display_name), true) = (username, display_name, invalid.is_empty())
    else {
        return Err(CreateAccountError::Invalid(invalid));
    };
    if db::staff::find_by_username(pool, username.as_str())
        .await?
        .is_some()
    {
        return Err(CreateAccountError::Invalid(vec![(
            "username",
            FieldError::UsernameTaken,
        )]));
    }

    let password_hash = passwords.hash(input.password.to_string()).await?;

    let mut tx = pool.begin().await?;
    if let Some(token) = setup_token
        && !db::setup::consume(&mut tx, token).await?
    {
        return Err(CreateAccountError::SetupLinkInvalid);
    }
    let new = db::staff::NewStaff {
        username: &username,
        display_name: &display_name,
        role,
        password_hash: &password_hash,
    };
    let id = match db::staff::create(&mut tx, &new).await {
        Ok(id) => id,
        Err(err) if db::is_unique_violation(&err) => {
            return Err(CreateAccountError::Invalid(vec![(
                "username",
                FieldError::UsernameTaken,
            )]));
        }
        Err(err) => return Err(err.into()),
    };
    let action = match role {
        Role::Admin => "staff.create_admin",
        Role::Nurse => "staff.create_nurse",
    };
    db::audit::record(&mut tx, actor_id, action, Some(&id)).await?;
    tx.commit().await?;
    Ok(id)
}
