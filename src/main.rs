//! The `visitas` binary: parses the command line, sets up logging, and starts the server or runs
//! an administration command.

use std::io::Write;

use clap::Parser;
use tracing_subscriber::EnvFilter;
use visitas::{
    app,
    cli::{AdminAction, AuditCommand, Cli, Command},
    config::LogFormat,
};

#[tokio::main]
async fn main() -> std::process::ExitCode {
    visitas::tls::install_crypto_provider();
    let cli = Cli::parse();
    let logs = tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr);
    match cli.config.log_format {
        LogFormat::Text => logs.init(),
        LogFormat::Json => logs.json().flatten_event(true).init(),
    }

    if let Err(message) = cli.config.validate() {
        eprintln!("error: {message}");
        return std::process::ExitCode::from(2);
    }
    let result = match cli.command.unwrap_or(Command::Serve) {
        Command::Serve => serve(cli.config).await,
        Command::Admin {
            action:
                AdminAction::Create {
                    username,
                    display_name,
                },
        } => visitas::cli::create_admin(&cli.config, &username, display_name.as_deref()).await,
        Command::Backup { file } => visitas::cli::backup(&cli.config, &file).await,
        Command::Restore { file } => visitas::cli::restore(&cli.config, &file).await,
        Command::Audit {
            action: AuditCommand::Verify,
        } => visitas::cli::verify_audit(&cli.config).await,
    };
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {err:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

async fn serve(config: visitas::config::Config) -> anyhow::Result<()> {
    // Listen for signals before anything is printed: whoever reads the output may stop us at once.
    let stop = shutdown_signal()?;
    let server = app::start(config.clone()).await?;
    let base = config.public_base_url(server.addr.port());
    // Printing must never stop the server: stdout may be a closed pipe (`visitas | head`).
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "Visitas is listening on {} ({base})", server.addr);
    if let Some(url) = &server.setup_url {
        let _ = writeln!(
            out,
            "\nNo administrator exists yet. Open this one-time link within an hour to create one:\n\
             Aún no hay administrador. Abra este enlace de un solo uso antes de una hora para crearlo:\n    \
             {url}\n(or run: visitas admin create --username NAME)\n"
        );
    }
    let _ = out.flush();
    drop(out);
    stop.await;
    tracing::info!("shutting down");
    server.shutdown().await
}

/// Resolves on Ctrl-C or SIGTERM; the handlers are in place when this returns.
fn shutdown_signal() -> anyhow::Result<impl std::future::Future<Output = ()>> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut terminate = signal(SignalKind::terminate())?;
    let mut interrupt = signal(SignalKind::interrupt())?;
    Ok(async move {
        tokio::select! {
            _ = terminate.recv() => {},
            _ = interrupt.recv() => {},
        }
    })
}
