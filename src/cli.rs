//! Commands other than serving: `visitas admin create`.

use std::io::{BufRead, IsTerminal};

use anyhow::{Context, bail};

use crate::{
    actions::{self, AccountInput, CreateStaffError},
    auth::Passwords,
    config::Config,
    db,
    domain::Role,
    i18n::Lang,
};

/// Creates an administrator. The password comes from a hidden prompt on a terminal, or from the
/// first line of standard input otherwise (for scripts); never from the command line.
pub async fn create_admin(
    config: &Config,
    username: &str,
    display_name: Option<&str>,
) -> anyhow::Result<()> {
    let (password, confirmation) = if std::io::stdin().is_terminal() {
        let password = rpassword::prompt_password("Password / Contraseña: ")?;
        let confirmation = rpassword::prompt_password("Repeat / Repita: ")?;
        (password, confirmation)
    } else {
        let mut line = String::new();
        std::io::stdin()
            .lock()
            .read_line(&mut line)
            .context("reading the password from stdin")?;
        let password = line.trim_end_matches(['\r', '\n']).to_string();
        (password.clone(), password)
    };

    let pool = db::open(&config.database_path()).await?;
    let passwords = Passwords::new().await?;
    let input = AccountInput {
        username,
        display_name: display_name.unwrap_or_default(),
        password: &password,
        confirmation: &confirmation,
    };
    let result = actions::create_staff(
        &pool,
        &passwords,
        config.min_password_length,
        input,
        Role::Admin,
        None,
        None,
    )
    .await;
    pool.close().await;
    match result {
        Ok(_) => {
            println!("Administrator {username} created. / Administrador {username} creado.");
            Ok(())
        }
        Err(CreateStaffError::Invalid(fields)) => {
            let messages: Vec<String> = fields
                .iter()
                .map(|(field, error)| {
                    format!(
                        "{field}: {} / {}",
                        error.message(Lang::En.text()),
                        error.message(Lang::Es.text())
                    )
                })
                .collect();
            bail!("{}", messages.join("\n"))
        }
        Err(CreateStaffError::SetupLinkInvalid) => bail!("unexpected setup link error"),
        Err(CreateStaffError::Storage(failure)) => {
            bail!("the database cannot write: {}", failure.reason())
        }
        Err(CreateStaffError::Internal(err)) => Err(err),
    }
}
