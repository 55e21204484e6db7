//! The `backoffice` binary: `serve` runs the service, `migrate` applies migrations, `demo`
//! runs it on a fresh database with simulated partners.

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
}

#[derive(Debug, Subcommand)]
enum AuditCommand {
    /// Recomputes the log's hash chain from the stored events and exits non-zero at the first
    /// event whose link differs, naming its position and what differs (docs/audit.md).
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
            let log = connect(&config).await?;
            if !log.can_migrate().await? {
                anyhow::bail!("this role does not own the schema: run `migrate` as its owner");
            }
            tracing::info!("migrations applied");
            Ok(())
        }
        Command::Db {
            command: DbCommand::Grant { service_role },
        } => {
            let log = connect(&config).await?;
            log.grant_service_role(&service_role)
                .await
                .with_context(|| format!("while granting {service_role:?}"))?;
            print(&format!(
                "{service_role} may read, write the tables beside the log, and append only through append_events()\n"
            ))
        }
        Command::Integrations {
            command: IntegrationsCommand::Status { json },
        } => {
            let log = connect(&config).await?;
            let statuses =
                adapters::outbound::status::destinations(&log, adapters::outbound::NAMES, |name| {
                    config.outbound.is_configured(name)
                })
                .await
                .context("while reading the integrations' status")?;
            if json {
                let text = serde_json::to_string_pretty(&statuses)?;
                return print(&format!("{text}\n"));
            }
            print(&integrations_table(&statuses))
        }
        Command::Audit {
            command: AuditCommand::Verify,
        } => {
            let log = connect(&config).await?;
            let started = std::time::Instant::now();
            match eventlog::chain::check(&log).await? {
                Ok(checked) => print(&format!(
                    "the chain holds: {} events linked{}{}{}, in {:.1} s\n",
                    checked.events,
                    checked
                        .head
                        .map(|(position, link)| format!(
                            " up to position {position} (link {})",
                            hex::encode(link)
                        ))
                        .unwrap_or_default(),
                    match checked.before_chain {
                        0 => String::new(),
                        n => format!("; {n} earlier events from before the chain, not covered"),
                    },
                    match checked.not_linked_yet {
                        0 => String::new(),
                        n => format!("; the latest {n} not linked yet (the chainer follows)"),
                    },
                    started.elapsed().as_secs_f64()
                )),
                Err(broken) => anyhow::bail!(
                    "the chain breaks at position {}: {}",
                    broken.position,
                    broken.reason
                ),
            }
        }
        Command::Projections {
            command: ProjectionsCommand::Status,
        } => {
            let log = connect(&config).await?;
            print_status(&log).await
        }
        Command::Users {
            command: UsersCommand::Create { name, role },
        } => {
            let role = api::auth::Role::named(&role).with_context(|| {
                format!("no role {role:?}; there are admin, operator, finance, auditor and viewer")
            })?;
            let log = connect(&config).await?;
            let token =
                api::users::create_user(&log, &name, role, &api::users::command_line_actor())
                    .await?;
            print(&format!("{token}\n"))
        }
        Command::Users {
            command: UsersCommand::SetRole { name, role },
        } => {
            let role = api::auth::Role::named(&role).with_context(|| {
                format!("no role {role:?}; there are admin, operator, finance, auditor and viewer")
            })?;
            let log = connect(&config).await?;
            if !api::users::set_role(&log, &name, role, &api::users::command_line_actor()).await? {
                anyhow::bail!("no user {name:?}");
            }
            print(&format!("{name} is {}\n", role.name()))
        }
        Command::Users {
            command: UsersCommand::SetPassword { name },
        } => {
            let mut password = String::new();
            std::io::stdin()
                .read_line(&mut password)
                .context("reading the password from standard input")?;
            let password = password.trim_end_matches(['\r', '\n']);
            let log = connect(&config).await?;
            if !api::users::set_password(&log, &name, password, &api::users::command_line_actor())
                .await?
            {
                anyhow::bail!("no user {name:?}");
            }
            print(&format!(
                "{name} has a new password; their console sessions ended\n"
            ))
        }
        Command::Users {
            command: UsersCommand::ResetLink { name },
        } => {
            let log = connect(&config).await?;
            let token = api::users::issue_reset(&log, &name, &api::users::command_line_actor())
                .await?
                .with_context(|| format!("no user {name:?}"))?;
            print(&format!(
                "http://{}/console/reset/{token}\n(works once, for an hour)\n",
                config.listen
            ))
        }
        Command::Users {
            command: UsersCommand::Deactivate { name },
        } => {
            let log = connect(&config).await?;
            if !api::users::deactivate_user(&log, &name, &api::users::command_line_actor()).await? {
                anyhow::bail!("no active user {name:?}");
            }
            print(&format!("deactivated {name}\n"))
        }
        Command::Tokens {
            command: TokensCommand::Create { user },
        } => {
            let log = connect(&config).await?;
            let token = api::auth::issue_token(&log, &user)
                .await?
                .with_context(|| format!("no active user {user:?}"))?;
            print(&format!("{token}\n"))
        }
        Command::Tokens {
            command: TokensCommand::List,
        } => {
            let log = connect(&config).await?;
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
            print(&out)
        }
        Command::Tokens {
            command: TokensCommand::Revoke { token_id },
        } => {
            let log = connect(&config).await?;
            if !api::auth::revoke_token(&log, &token_id).await? {
                anyhow::bail!("no live token {token_id:?}");
            }
            print(&format!("revoked {token_id}\n"))
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
            let log = connect(&config).await?;
            let position = projections::rebuild(&log, &models, &projections::rebuild_options())
                .await
                .context("while rebuilding")?;
            tracing::info!(position, "rebuilt and swapped in");
            Ok(())
        }
    }
}

async fn print_status(log: &eventlog::EventLog) -> anyhow::Result<()> {
    let head = log
        .head()
        .await
        .context("while reading the head position")?;
    let known = log
        .subscribers()
        .await
        .context("while reading subscriber status")?;
    let mut out = format!(
        "{:<28} {:>10} {:>10} {:>8}  {:<8} {:>6} {:>7} {:>8}  {:<27} last error\n",
        "name", "position", "head", "lag", "state", "parked", "waiting", "retrying", "last batch"
    );
    // Others known (a rebuild's shadow projection) follow those `serve` runs.
    let served: Vec<&str> = api::workers::subscriber_names().collect();
    let others = known
        .iter()
        .map(|s| s.name.as_str())
        .filter(|name| !served.contains(name));
    for name in served.iter().copied().chain(others) {
        let status = known.iter().find(|s| s.name == name);
        let position = status.map_or(0, |s| s.position);
        let state = match status {
            None => "idle",
            Some(s) if s.state == "failed" => "failed",
            Some(s) if s.is_degraded() => "degraded",
            Some(s) => s.state.as_str(),
        };
        let (parked, waiting, retrying) =
            status.map_or((0, 0, 0), |s| (s.parked, s.waiting, s.retrying));
        let last_batch = status
            .and_then(|s| s.last_batch_at)
            .map_or_else(|| "-".to_owned(), |at| at.to_rfc3339());
        let error = status
            .and_then(|s| {
                s.last_error
                    .as_ref()
                    .map(|e| format!("at {}: {e}", s.error_position.unwrap_or(0)))
            })
            .unwrap_or_default();
        out.push_str(&format!(
            "{name:<28} {position:>10} {head:>10} {:>8}  {state:<8} {parked:>6} {waiting:>7} {retrying:>8}  {last_batch:<27} {error}\n",
            head.saturating_sub(position)
        ));
    }
    print(&out)
}

fn integrations_table(statuses: &[adapters::outbound::status::DestinationStatus]) -> String {
    let mut out = format!(
        "{:<8} {:<10} {:>10} {:>8} {:>9}  {:<9} {:>7} {:>6} {:>7}  attempts (last hour)\n",
        "name",
        "configured",
        "position",
        "lag",
        "lag (s)",
        "circuit",
        "failing",
        "parked",
        "waiting"
    );
    for status in statuses {
        let circuit = status
            .circuit
            .as_ref()
            .map_or("closed", |c| c.state.as_str());
        let attempts = status
            .attempts_last_hour
            .iter()
            .map(|(outcome, n)| format!("{outcome} {n}"))
            .collect::<Vec<_>>()
            .join(", ");
        out.push_str(&format!(
            "{:<8} {:<10} {:>10} {:>8} {:>9.1}  {circuit:<9} {:>7} {:>6} {:>7}  {attempts}\n",
            status.destination,
            if status.configured { "yes" } else { "no" },
            status.position,
            status.lag_events,
            status.lag_seconds,
            status.failing,
            status.parked,
            status.waiting,
        ));
        if let Some(pull) = &status.last_pull {
            out.push_str(&format!(
                "{:<8} last pull {}: {} listed, {} new, {} already known{}\n",
                "",
                pull.finished_at.format("%Y-%m-%d %H:%M:%S UTC"),
                pull.fetched,
                pull.stored,
                pull.duplicates,
                pull.error
                    .as_deref()
                    .map(|e| format!("; stopped short: {e}"))
                    .unwrap_or_default(),
            ));
        }
    }
    out
}

fn print(text: &str) -> anyhow::Result<()> {
    use std::io::Write as _;
    std::io::stdout()
        .write_all(text.as_bytes())
        .context("while printing")
}

/// Connects and makes sure the schema is current: the schema's owner (the embedded default,
/// a one-role set-up) migrates and creates the read-model tables; a service role that may
/// only read and append (ADR 0021) checks that the owner did, and refuses to go on otherwise.
async fn connect(config: &Config) -> anyhow::Result<eventlog::EventLog> {
    let url = config.database_url.expose_secret();
    let log = eventlog::EventLog::connect(url, &config.connect_options())
        .await
        .with_context(|| format!("while connecting to {}", eventlog::redact_url(url)))?;
    let owner = log
        .can_migrate()
        .await
        .context("while asking whether this role owns the schema")?;
    if owner {
        log.migrate().await.context("while applying migrations")?;
        projections::create_tables(&log)
            .await
            .context("while creating read-model tables")?;
        return Ok(log);
    }
    let current = log
        .migrations_applied()
        .await
        .context("while checking the schema's migrations")?;
    let missing = projections::missing_tables(&log)
        .await
        .context("while checking the read-model tables")?;
    if !current || !missing.is_empty() {
        anyhow::bail!(
            "the database schema is not current ({}) and this role does not own it: run \
             `backoffice migrate` as the schema's owner role first",
            if current {
                format!("read-model tables missing: {}", missing.join(", "))
            } else {
                "migrations pending".to_owned()
            }
        );
    }
    tracing::debug!("schema current; not migrating under a role that does not own it");
    Ok(log)
}

async fn serve(config: Config) -> anyhow::Result<()> {
    let log = connect(&config).await?;
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
