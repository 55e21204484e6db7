//! The `backoffice` binary: `serve` runs the service, `migrate` applies migrations, `demo`
//! runs it on a fresh database with simulated partners.

mod cli;
mod demo;

use std::{path::PathBuf, process::ExitCode};

use anyhow::Context as _;
use api::{config::Config, AppState};
use clap::{Parser, Subcommand};
use projections::ReadModel;
use secrecy::ExposeSecret;

/// mimalloc rather than the system's allocator: under load a command's many small allocations
/// cost a sixth of the service's CPU in glibc's malloc (ADR 0014, docs/benchmarks.md).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

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
    /// Serves a demo on a new SQLite file: demo users of every role, and simulated partners
    /// (Stripe, EasyPost, ERP, CRM, SMS, e-mail) sending signed webhooks and answering the
    /// service's calls, so that orders keep flowing through every state. Needs no
    /// configuration (and reads none); prints the console's address and the sign-ins.
    Demo {
        /// Where the service listens.
        #[arg(long, default_value = "127.0.0.1:8080")]
        listen: std::net::SocketAddr,
        /// The new SQLite file (default: ./data/demo-<date and time>.sqlite); it must not exist.
        #[arg(long)]
        data: Option<PathBuf>,
    },
    /// Applies the database migrations and exits.
    Migrate,
    /// Projections and process managers.
    Projections {
        #[command(subcommand)]
        command: ProjectionsCommand,
    },
    /// Outbound integrations (ERP, CRM, e-mail, SMS, the event stream).
    Integrations {
        #[command(subcommand)]
        command: IntegrationsCommand,
    },
    /// API users.
    Users {
        #[command(subcommand)]
        command: UsersCommand,
    },
    /// API tokens.
    Tokens {
        #[command(subcommand)]
        command: TokensCommand,
    },
    /// Database roles (PostgreSQL).
    Db {
        #[command(subcommand)]
        command: DbCommand,
    },
    /// The audit trail's integrity.
    Audit {
        #[command(subcommand)]
        command: AuditCommand,
    },
    /// Customers' personal data (ADR 0028).
    Customers {
        #[command(subcommand)]
        command: CustomersCommand,
    },
    /// The service's keys (ADR 0028).
    Keys {
        #[command(subcommand)]
        command: KeysCommand,
    },
}

#[derive(Debug, Subcommand)]
enum CustomersCommand {
    /// Forgets a customer: destroys the keys sealing their names, addresses, e-mail and phone
    /// in the log, which read as [erased] from then on everywhere, and erases the copies kept
    /// beside the log. Recorded as CustomerForgotten (actor cli:<account>).
    Forget {
        /// The customer's id (the customer_id of their orders).
        customer_id: String,
    },
}

#[derive(Debug, Subcommand)]
enum KeysCommand {
    /// Wraps every customer key with the current master key, after a rotation: then the
    /// earlier master key can leave keys.previous_master_keys.
    Rewrap,
}

#[derive(Debug, Subcommand)]
enum AuditCommand {
    /// Recomputes the log's hash chain from the stored events, checks every seal against it
    /// (signed by a trusted key, contiguous, its head and Merkle root as recomputed, as in the
    /// seals file), and exits non-zero at the first event whose link differs or seal that does
    /// not hold, naming its position and what differs (docs/audit.md).
    Verify,
}

#[derive(Debug, Subcommand)]
enum DbCommand {
    /// Grants a PostgreSQL role what `serve` needs and no more: read every table, write those
    /// beside the log, append to the log only through append_events(). Run as the schema's
    /// owner, after `migrate` (again after each later `migrate`).
    Grant {
        /// The service role (it must exist: CREATE ROLE … LOGIN).
        #[arg(long)]
        service_role: String,
    },
}

#[derive(Debug, Subcommand)]
enum IntegrationsCommand {
    /// Per destination: whether it is configured, position, lag (events and seconds), circuit,
    /// failing, parked and waiting messages, attempts of the last hour by outcome.
    Status {
        /// As JSON (the same document as `GET /api/v1/admin/integrations`).
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, Subcommand)]
enum UsersCommand {
    /// Creates a user with a role and prints its first token, once (only a hash is kept).
    Create {
        /// The user's name, recorded as `user:<name>` on every event they cause.
        #[arg(long)]
        name: String,
        /// admin, operator, finance, auditor or viewer.
        #[arg(long)]
        role: String,
    },
    /// Gives a user another role, from their next request on.
    SetRole {
        /// The user's name.
        #[arg(long)]
        name: String,
        /// admin, operator, finance, auditor or viewer.
        #[arg(long)]
        role: String,
    },
    /// Sets a user's console password, read from the first line of standard input (12 to 256
    /// characters); their console sessions end.
    SetPassword {
        /// The user's name.
        #[arg(long)]
        name: String,
    },
    /// Prints a one-time link to set a user's console password, valid for an hour (shown once;
    /// only its hash is kept).
    ResetLink {
        /// The user's name.
        #[arg(long)]
        name: String,
    },
    /// Deactivates a user: all their tokens are refused from the next request on (the user
    /// stays, so that the events they caused keep naming them).
    Deactivate {
        /// The user's name.
        #[arg(long)]
        name: String,
    },
}

#[derive(Debug, Subcommand)]
enum TokensCommand {
    /// Lists tokens (never their secrets).
    List,
    /// Prints a new token for an active user, once (as when a token is lost: revoke the old).
    Create {
        /// The user's name.
        #[arg(long)]
        user: String,
    },
    /// Revokes a token: refused from the next request on.
    Revoke {
        /// The token's id (as `tokens list` shows it).
        token_id: String,
    },
}

#[derive(Debug, Subcommand)]
enum ProjectionsCommand {
    /// Per projection and process manager: position, head, lag, state, last error, last batch.
    Status,
    /// Rebuilds read models from the whole log into fresh tables and swaps them in, while the
    /// live ones keep serving (a running `serve` may go on meanwhile).
    Rebuild {
        /// The read model: orders, payments, shipments, daily_sales or attention.
        #[arg(required_unless_present = "all", conflicts_with = "all")]
        name: Option<String>,
        /// Every read model, one after the other.
        #[arg(long)]
        all: bool,
    },
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
    if let Command::Demo { listen, data } = cli.command {
        // The demo reads no configuration: it makes its own (ADR 0024).
        let _traces = demo::init_logs();
        return demo::run(demo::Options { listen, data }, shutdown()).await;
    }
    let config = Config::load(&cli.config)?;
    // Spans are exported by the service only; a command-line call logs.
    let otlp = match cli.command {
        Command::Serve => config.otlp_endpoint.as_ref(),
        _ => None,
    };
    let _telemetry = api::telemetry::init(config.log_format, otlp)?;
    match cli.command {
        Command::Serve => serve(config).await,
        // Run above, before any configuration is read.
        Command::Demo { .. } => Ok(()),
        Command::Migrate => {
            let log = cli::connect(&config).await?;
            if !log.can_migrate().await? {
                anyhow::bail!("this role does not own the schema: run `migrate` as its owner");
            }
            tracing::info!("migrations applied");
            Ok(())
        }
        Command::Db {
            command: DbCommand::Grant { service_role },
        } => {
            let log = cli::connect(&config).await?;
            log.grant_service_role(&service_role)
                .await
                .with_context(|| format!("while granting {service_role:?}"))?;
            cli::print(&format!(
                "{service_role} may read, write the tables beside the log, and append only through append_events()\n"
            ))
        }
        Command::Integrations {
            command: IntegrationsCommand::Status { json },
        } => {
            let log = cli::connect(&config).await?;
            let statuses =
                adapters::outbound::status::destinations(&log, adapters::outbound::NAMES, |name| {
                    config.outbound.is_configured(name)
                })
                .await
                .context("while reading the integrations' status")?;
            if json {
                let text = serde_json::to_string_pretty(&statuses)?;
                return cli::print(&format!("{text}\n"));
            }
            cli::print(&cli::status::integrations_table(&statuses))
        }
        Command::Customers {
            command: CustomersCommand::Forget { customer_id },
        } => cli::integrity::forget(&config, &customer_id).await,
        Command::Keys {
            command: KeysCommand::Rewrap,
        } => cli::integrity::rewrap(&config).await,
        Command::Audit {
            command: AuditCommand::Verify,
        } => cli::integrity::verify(&config).await,
        Command::Projections {
            command: ProjectionsCommand::Status,
        } => {
            let log = cli::connect(&config).await?;
            cli::status::print_status(&log).await
        }
        Command::Users {
            command: UsersCommand::Create { name, role },
        } => {
            let role = api::auth::Role::named(&role).with_context(|| {
                format!("no role {role:?}; there are admin, operator, finance, auditor and viewer")
            })?;
            let log = cli::connect(&config).await?;
            let token =
                api::users::create_user(&log, &name, role, &api::users::command_line_actor())
                    .await?;
            cli::print(&format!("{token}\n"))
        }
        Command::Users {
            command: UsersCommand::SetRole { name, role },
        } => {
            let role = api::auth::Role::named(&role).with_context(|| {
                format!("no role {role:?}; there are admin, operator, finance, auditor and viewer")
            })?;
            let log = cli::connect(&config).await?;
            if !api::users::set_role(&log, &name, role, &api::users::command_line_actor()).await? {
                anyhow::bail!("no user {name:?}");
            }
            cli::print(&format!("{name} is {}\n", role.name()))
        }
        Command::Users {
            command: UsersCommand::SetPassword { name },
        } => {
            let mut password = String::new();
            std::io::stdin()
                .read_line(&mut password)
                .context("reading the password from standard input")?;
            let password = password.trim_end_matches(['\r', '\n']);
            let log = cli::connect(&config).await?;
            if !api::users::set_password(&log, &name, password, &api::users::command_line_actor())
                .await?
            {
                anyhow::bail!("no user {name:?}");
            }
            cli::print(&format!(
                "{name} has a new password; their console sessions ended\n"
            ))
        }
        Command::Users {
            command: UsersCommand::ResetLink { name },
        } => {
            let log = cli::connect(&config).await?;
            let token = api::users::issue_reset(&log, &name, &api::users::command_line_actor())
                .await?
                .with_context(|| format!("no user {name:?}"))?;
            cli::print(&format!(
                "http://{}/console/reset/{token}\n(works once, for an hour)\n",
                config.listen
            ))
        }
        Command::Users {
            command: UsersCommand::Deactivate { name },
        } => {
            let log = cli::connect(&config).await?;
            if !api::users::deactivate_user(&log, &name, &api::users::command_line_actor()).await? {
                anyhow::bail!("no active user {name:?}");
            }
            cli::print(&format!("deactivated {name}\n"))
        }
        Command::Tokens {
            command: TokensCommand::Create { user },
        } => {
            let log = cli::connect(&config).await?;
            let token = api::auth::issue_token(&log, &user)
                .await?
                .with_context(|| format!("no active user {user:?}"))?;
            cli::print(&format!("{token}\n"))
        }
        Command::Tokens {
            command: TokensCommand::List,
        } => {
            let log = cli::connect(&config).await?;
            let mut out = format!(
                "{:<34} {:<20} {:<9} {:<25} revoked\n",
                "token id", "user", "role", "created"
            );
            for token in api::auth::list_tokens(&log).await? {
                let at = |ms: i64| {
                    chrono::DateTime::from_timestamp_millis(ms).map_or_else(String::new, |at| {
                        at.format("%Y-%m-%dT%H:%M:%SZ").to_string()
                    })
                };
                out.push_str(&format!(
                    "{:<34} {:<20} {:<9} {:<25} {}\n",
                    token.token_id,
                    token.user,
                    token.role,
                    at(token.created_at_ms),
                    token
                        .revoked_at_ms
                        .map(at)
                        .unwrap_or_else(|| "-".to_owned())
                ));
            }
            cli::print(&out)
        }
        Command::Tokens {
            command: TokensCommand::Revoke { token_id },
        } => {
            let log = cli::connect(&config).await?;
            if !api::auth::revoke_token(&log, &token_id).await? {
                anyhow::bail!("no live token {token_id:?}");
            }
            cli::print(&format!("revoked {token_id}\n"))
        }
        Command::Projections {
            command: ProjectionsCommand::Rebuild { name, all },
        } => {
            let models = match name {
                _ if all => ReadModel::ALL.to_vec(),
                Some(name) => vec![ReadModel::named(&name).with_context(|| {
                    format!("no read model {name:?}; there are orders, payments, shipments, daily_sales and attention")
                })?],
                None => anyhow::bail!("name a read model or pass --all"),
            };
            let log = cli::connect(&config).await?;
            let position = projections::rebuild(&log, &models, &projections::rebuild_options())
                .await
                .context("while rebuilding")?;
            tracing::info!(position, "rebuilt and swapped in");
            Ok(())
        }
    }
}

async fn serve(config: Config) -> anyhow::Result<()> {
    let (log, service_keys) = cli::connect_with_keys(&config, api::keys::Missing::Create).await?;
    let verifiers = config
        .webhooks
        .verifiers()
        .context("while reading webhook secrets")?;
    let mut state = AppState::with_webhooks(
        log.clone(),
        adapters::inbound::WebhookState::new(log.clone(), verifiers),
    );
    state.process_options = config.process_options();
    state.inbox_options = config.inbox_options();
    state.process = config.process_name().into();
    let (keys, deliveries) = state
        .release_own_claims()
        .await
        .context("while releasing the claims this process held when it stopped")?;
    if keys + deliveries > 0 {
        tracing::info!(process = %state.process, keys, deliveries, "released the claims held when this process stopped");
    }
    state.outbound = std::sync::Arc::new(config.outbound.clone());
    state.refund_approval_above_minor = config.refund_approval_above_minor;
    state.keys = std::sync::Arc::new(service_keys);
    let sealer = config
        .audit
        .sealer(&state.keys.seal, config.database_url.expose_secret());
    state.sealer = Some(std::sync::Arc::new(sealer));
    let _workers = api::spawn_workers(&state)
        .await
        .context("while setting up the outbound destinations")?;
    if let Some(address) = config.metrics_address()? {
        let handle = api::metrics::install().context("while installing the metrics recorder")?;
        let listener = match tokio::net::TcpListener::bind(address).await {
            Ok(listener) => Some(listener),
            // The default address taken (another process on this host serves its metrics
            // there): this one serves without, and says so; an address set explicitly must
            // be had.
            Err(error) if config.metrics_listen_is_default() => {
                tracing::error!(%address, %error, "metrics not served: the default metrics_listen is taken; set metrics_listen to serve them");
                None
            }
            Err(error) => {
                return Err(anyhow::Error::new(error)
                    .context(format!("while binding metrics_listen {address}")))
            }
        };
        if let Some(listener) = listener {
            serve_metrics(listener, &state, handle)?;
        }
    }
    let listener = tokio::net::TcpListener::bind(config.listen)
        .await
        .with_context(|| format!("while binding {}", config.listen))?;
    tracing::info!(address = %listener.local_addr()?, backend = log.backend().name(), "backoffice serving");
    api::server::serve(
        listener,
        api::router(state),
        config.server_limits(),
        shutdown(),
    )
    .await
    .context("while serving")
}

/// Serves the metrics on `listener`, in the background.
fn serve_metrics(
    listener: tokio::net::TcpListener,
    state: &api::AppState,
    handle: &'static metrics_exporter_prometheus::PrometheusHandle,
) -> anyhow::Result<()> {
    tracing::info!(metrics_address = %listener.local_addr()?, "metrics served at /metrics");
    let metrics = api::metrics::router(state.clone(), handle);
    tokio::spawn(async move {
        let limits = api::server::Limits::default();
        if let Err(error) =
            api::server::serve(listener, metrics, limits, std::future::pending()).await
        {
            tracing::error!(error = %error, "the metrics server stopped");
        }
    });
    Ok(())
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
