//! The `backoffice` binary: `serve` runs the service, `migrate` applies migrations.

use std::{path::PathBuf, process::ExitCode};

use anyhow::Context as _;
use api::{
    config::{Config, LogFormat},
    AppState,
};
use clap::{Parser, Subcommand};
use secrecy::ExposeSecret;
use tracing_subscriber::EnvFilter;

/// An event-sourced back office for orders, payments and shipments.
#[derive(Debug, Parser)]
#[command(name = "backoffice", version, about)]
struct Cli {
    /// The configuration file (optional; defaults, then this file, then BACKOFFICE_* variables).
    #[arg(long, global = true, default_value = "backoffice.toml")]
    config: PathBuf,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Applies migrations and serves HTTP (on SQLite under ./data/ when nothing is configured).
    Serve,
    /// Applies the database migrations and exits.
    Migrate,
}

#[tokio::main]
async fn main() -> ExitCode {
    match run(Cli::parse()).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            // Before logging is set up (a bad configuration) this is the only place it can go.
            #[allow(clippy::print_stderr)]
            {
                eprintln!("error: {error:#}");
            }
            ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    let config = Config::load(&cli.config)?;
    init_tracing(config.log_format);
    match cli.command {
        Command::Serve => serve(config).await,
        Command::Migrate => {
            connect(&config).await?;
            tracing::info!("migrations applied");
            Ok(())
        }
    }
}

async fn connect(config: &Config) -> anyhow::Result<eventlog::EventLog> {
    let url = config.database_url.expose_secret();
    let log = eventlog::EventLog::connect(url, &config.connect_options())
        .await
        .with_context(|| format!("while connecting to {}", eventlog::redact_url(url)))?;
    log.migrate().await.context("while applying migrations")?;
    Ok(log)
}

async fn serve(config: Config) -> anyhow::Result<()> {
    let log = connect(&config).await?;
    start_process_managers(&log);
    let listener = tokio::net::TcpListener::bind(config.listen)
        .await
        .with_context(|| format!("while binding {}", config.listen))?;
    tracing::info!(address = %listener.local_addr()?, backend = log.backend(), "backoffice serving");
    axum::serve(listener, api::router(AppState { log }))
        .with_graceful_shutdown(shutdown())
        .await
        .context("while serving")
}

/// Runs every process manager in the background, each under its claim.
fn start_process_managers(log: &eventlog::EventLog) {
    use commands::process::{OrderCancellation, OrderCompletion, OrderFulfillment, OrderPayments};
    let handler = commands::CommandHandler::new(log.clone());
    let options = eventlog::SubscriptionOptions::default();
    macro_rules! spawn {
        ($($manager:expr),*) => {$({
            let (log, options, manager) = (log.clone(), options.clone(), $manager);
            tokio::spawn(async move { log.run(&manager, &options).await });
        })*};
    }
    spawn!(
        OrderPayments::new(handler.clone()),
        OrderCancellation::new(handler.clone()),
        OrderFulfillment::new(handler.clone()),
        OrderCompletion::new(handler)
    );
}

async fn shutdown() {
    let interrupt = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut terminate =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(signal) => signal,
                Err(_) => return std::future::pending().await,
            };
        tokio::select! {
            _ = interrupt => {}
            _ = terminate.recv() => {}
        }
    }
    #[cfg(not(unix))]
    let _ = interrupt.await;
    tracing::info!("shutting down");
}

fn init_tracing(format: LogFormat) {
    let filter =
        EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info,sqlx=warn"));
    let builder = tracing_subscriber::fmt().with_env_filter(filter);
    match format {
        LogFormat::Json => builder.json().init(),
        LogFormat::Text => builder.init(),
    }
}
