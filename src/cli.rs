//! The command line: its commands (clap's types; every setting is in [`Config`]) and the ones
//! other than serving: `visitas admin create`.

use std::io::{BufRead, IsTerminal};

use anyhow::{Context, bail};
use clap::{Parser, Subcommand};

use crate::{
    actions::{self, AccountInput, CreateStaffError},
    auth::Passwords,
    config::Config,
    db,
    domain::Role,
    i18n::Lang,
};

/// Visitas: hospital video visits between patients and their families.
#[derive(Debug, Parser)]
#[command(name = "visitas", version, about)]
pub struct Cli {
    /// What to do; `serve` when omitted.
    #[command(subcommand)]
    pub command: Option<Command>,
    /// Settings shared by every command.
    #[command(flatten)]
    pub config: Config,
}

/// The commands of the `visitas` binary.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Start the HTTPS server (the default).
    Serve,
    /// Manage administrator accounts from the command line.
    Admin {
        /// What to do with administrators.
        #[command(subcommand)]
        action: AdminAction,
    },
    /// Check the audit trail.
    Audit {
        /// What to do with the audit trail.
        #[command(subcommand)]
        action: AuditCommand,
    },
}

/// `visitas audit ...`
#[derive(Debug, Subcommand)]
pub enum AuditCommand {
    /// Check the whole hash chain of the audit trail; name the first row that does not hold.
    /// Exits with 1 when the chain is broken.
    Verify,
}

/// `visitas admin ...`
#[derive(Debug, Subcommand)]
pub enum AdminAction {
    /// Create an administrator. The password is read from a prompt, or from standard input when it
    /// is not a terminal; never from the command line, where other users could see it.
    Create {
        /// Login name (3–64 of a-z 0-9 . _ -).
        #[arg(long)]
        username: String,
        /// Name shown on screen; the username when omitted.
        #[arg(long)]
        display_name: Option<String>,
    },
}

/// `visitas audit verify`: walks the chain and prints what it found, in both languages; an
/// error (exit 1) when it is broken.
pub async fn verify_audit(config: &Config) -> anyhow::Result<()> {
    let pool = db::open(&config.database_path()).await?;
    let state = db::audit::verify(&pool).await;
    pool.close().await;
    let state = state.context("reading the audit trail")?;
    match state.broken {
        None => {
            println!(
                "Audit trail intact: {rows} rows; last hash {head}\n\
                 Registro de auditoría íntegro: {rows} filas; último hash {head}",
                rows = state.rows,
                head = state.head
            );
            Ok(())
        }
        Some(db::audit::Break::Row(id)) => bail!(
            "the audit trail is broken at row {id}: its content or hash does not match the chain \
             (the row was changed, or a row before it removed)\n\
             el registro de auditoría está roto en la fila {id}: su contenido o su hash no \
             coincide con la cadena (se cambió la fila, o se quitó una anterior)"
        ),
        Some(db::audit::Break::End { last, head_seq }) => bail!(
            "the audit trail is broken at its end: the last row is {last}, the chain ends at \
             {head_seq} (rows were removed from the end)\n\
             el registro de auditoría está roto al final: la última fila es la {last}, la \
             cadena termina en la {head_seq} (se quitaron filas del final)"
        ),
    }
}

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
