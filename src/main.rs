//! The `visitas` binary: parses the command line, sets up logging, and starts the server or runs
//! an administration command.

use clap::Parser;
use tracing_subscriber::EnvFilter;
use visitas::{
    app,
    config::{AdminAction, Cli, Command},
};

#[tokio::main]
async fn main() -> std::process::ExitCode {
    visitas::tls::install_crypto_provider();
    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .init();

    let cli = Cli::parse();
    let result = match cli.command.unwrap_or(Command::Serve) {
        Command::Serve => serve(cli.config).await,
        Command::Admin {
            action:
                AdminAction::Create {
                    username,
                    display_name,
                },
        } => visitas::cli::create_admin(&cli.config, &username, display_name.as_deref()).await,
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
    let server = app::start(config.clone()).await?;
    let base = config.public_base_url(server.addr.port());
    println!("Visitas is listening on {} ({base})", server.addr);
    if let Some(url) = &server.setup_url {
        println!();
        println!(
            "No administrator exists yet. Open this one-time link within an hour to create one:"
        );
        println!(
            "Aún no hay administrador. Abra este enlace de un solo uso antes de una hora para crearlo:"
        );
        println!("    {url}");
        println!("(or run: visitas admin create --username NAME)");
        println!();
    }
    shutdown_signal().await;
    tracing::info!("shutting down");
    server.shutdown().await
}

/// Ctrl-C or SIGTERM.
async fn shutdown_signal() {
    let ctrl_c = async {
        if let Err(err) = tokio::signal::ctrl_c().await {
            tracing::error!(error = %err, "listening for Ctrl-C");
        }
    };
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(err) => tracing::error!(error = %err, "listening for SIGTERM"),
        }
    };
    tokio::select! {
        () = ctrl_c => {},
        () = terminate => {},
    }
}
