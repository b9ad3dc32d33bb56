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
    /// Copy the database to FILE while the server runs (a consistent snapshot, SQLite's
    /// `VACUUM INTO`), then check the copy (`PRAGMA integrity_check` and the audit chain).
    Backup {
        /// The copy to write; must not exist yet.
        file: std::path::PathBuf,
    },
    /// Put a backup in place of the database. Refused while a server runs on it; the database
    /// it replaces is kept beside it (`visitas.db.before-restore-…`).
    Restore {
        /// The backup to restore.
        file: std::path::PathBuf,
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
    let pool = db::open(&config.database_location()).await?;
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

/// `visitas backup FILE`.
pub async fn backup(config: &Config, file: &std::path::Path) -> anyhow::Result<()> {
    use std::os::unix::fs::OpenOptionsExt;
    // Created empty and owner-only first (`VACUUM INTO` writes into an empty file): the copy
    // holds patients' names.
    std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(file)
        .with_context(|| {
            format!(
                "{} exists already, or cannot be created / {} ya existe, o no se puede crear",
                file.display(),
                file.display()
            )
        })?;
    let Some(sqlite_file) = config.database_path() else {
        bail!(
            "`visitas backup` copies a SQLite database; back up PostgreSQL with its own tools \
             (pg_dump, or the hospital's replicas)\n\
             `visitas backup` copia una base de datos SQLite; haga la copia de PostgreSQL con sus \
             propias herramientas (pg_dump, o las réplicas del hospital)"
        );
    };
    let pool = db::open(&db::Location::File(sqlite_file)).await?;
    let Some(sqlite) = pool.sqlite() else {
        bail!("not a SQLite database");
    };
    let copied = db::backup_into(sqlite, file).await;
    pool.close().await;
    copied.context("copying the database")?;
    let (integrity, chain) = db::check_copy(file).await?;
    if integrity != "ok" {
        bail!(
            "the copy {} fails SQLite's integrity check: {integrity}\n\
             la copia {} no pasa la comprobación de integridad de SQLite: {integrity}",
            file.display(),
            file.display()
        );
    }
    let (en, es) = chain_summary(&chain);
    println!(
        "Backup written to {file}: integrity ok; {en}\n\
         Copia escrita en {file}: integridad correcta; {es}",
        file = file.display(),
    );
    Ok(())
}

/// `visitas restore FILE`.
pub async fn restore(config: &Config, file: &std::path::Path) -> anyhow::Result<()> {
    let Some(target) = config.database_path() else {
        bail!(
            "`visitas restore` replaces a SQLite database; restore PostgreSQL with its own tools \
             (pg_restore)\n\
             `visitas restore` reemplaza una base de datos SQLite; restaure PostgreSQL con sus \
             propias herramientas (pg_restore)"
        );
    };
    let Some(lock) = db::lock_database(&target)? else {
        bail!(
            "a Visitas server is running on {db}: stop it first, then restore\n\
             hay un servidor de Visitas usando {db}: deténgalo primero y luego restaure",
            db = target.display()
        );
    };
    let (integrity, _) = db::check_copy(file)
        .await
        .with_context(|| format!("{} is not a Visitas backup", file.display()))?;
    if integrity != "ok" {
        bail!(
            "{file} fails SQLite's integrity check: {integrity}; nothing was changed\n\
             {file} no pasa la comprobación de integridad de SQLite: {integrity}; no se cambió nada",
            file = file.display()
        );
    }
    let kept = db::replace_database(&target, file)?;
    // The restored copy, migrated to this version, with its chain checked.
    let pool = db::open(&db::Location::File(target.clone())).await?;
    let chain = db::audit::verify(&pool).await;
    pool.close().await;
    let chain = chain?;
    drop(lock);
    let (en, es) = chain_summary(&chain);
    println!(
        "Restored {file} as {db}{kept}; {en}\n\
         Restaurada {file} como {db}{guardada}; {es}",
        file = file.display(),
        db = target.display(),
        kept = kept
            .as_ref()
            .map(|k| format!(" (the database it replaced is {})", k.display()))
            .unwrap_or_default(),
        guardada = kept
            .as_ref()
            .map(|k| format!(" (la base de datos reemplazada está en {})", k.display()))
            .unwrap_or_default(),
    );
    Ok(())
}

/// The audit chain's state in English and Spanish, for the backup and restore summaries.
fn chain_summary(chain: &db::audit::ChainState) -> (String, String) {
    let (state, estado) = if chain.broken.is_none() {
        ("intact", "íntegro")
    } else {
        ("BROKEN", "ROTO")
    };
    (
        format!(
            "audit trail {state}, {} rows, last hash {}",
            chain.rows, chain.head
        ),
        format!(
            "registro de auditoría {estado}, {} filas, último hash {}",
            chain.rows, chain.head
        ),
    )
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

    let pool = db::open(&config.database_location()).await?;
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
