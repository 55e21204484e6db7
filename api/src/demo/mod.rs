//! `backoffice demo`: the service on a new SQLite file, with demo users of every role and
//! simulated partners in the same process (ADR 0024). The partners answer the service's
//! outbound calls as the real ones would ([`partners`]: Stripe, EasyPost, the ERP, the CRM, the
//! SMS provider, and an SMTP sink for the e-mails) and send it their signed webhooks, and a
//! shop ([`driver`]) places orders through the REST API and moves them through every state.
//! Nothing is read from the configuration: every secret is made for the run.

mod data;
mod driver;
mod easypost;
mod erp;
mod partners;
mod smtp;
mod stripe;

use std::{
    future::Future,
    net::{Ipv4Addr, SocketAddr},
    path::{Path, PathBuf},
    sync::Arc,
};

use anyhow::Context as _;
use api::{auth::Role, AppState};
use rand::{distributions::Alphanumeric, Rng as _};
use tokio::{net::TcpListener, task::JoinSet};

/// What `backoffice demo` was given.
#[derive(Debug)]
pub struct Options {
    /// Where the service listens.
    pub listen: SocketAddr,
    /// The new database file; `None`: `./data/demo-<date and time>.sqlite`.
    pub data: Option<PathBuf>,
}

/// Logs to standard error (standard output is the demo's own text), warnings and errors only
/// unless `RUST_LOG` says otherwise; spans carry trace context as under `serve` without an
/// `otlp_endpoint` (exported nowhere). Keep the provider while the demo runs.
pub fn init_logs() -> opentelemetry_sdk::trace::SdkTracerProvider {
    use opentelemetry::trace::TracerProvider as _;
    use tracing_subscriber::{
        filter::LevelFilter, layer::SubscriberExt as _, util::SubscriberInitExt as _, EnvFilter,
        Layer as _,
    };
    let printed = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("warn"));
    let provider = api::telemetry::provider(None::<opentelemetry_otlp::SpanExporter>);
    // The spans `serve` has (info), whatever is printed.
    let traces = tracing_opentelemetry::layer()
        .with_tracer(provider.tracer("backoffice"))
        .with_filter(LevelFilter::INFO);
    tracing_subscriber::registry()
        .with(
            tracing_subscriber::fmt::layer()
                .with_writer(std::io::stderr)
                .with_filter(printed),
        )
        .with(traces)
        .init();
    provider
}

/// Runs the demo until `shutdown` completes.
pub async fn run(
    options: Options,
    shutdown: impl Future<Output = ()> + Send,
) -> anyhow::Result<()> {
    let path = options.data.unwrap_or_else(|| {
        let now = chrono::Utc::now().format("%Y%m%d-%H%M%S");
        PathBuf::from(format!("data/demo-{now}.sqlite"))
    });
    if path.exists() {
        anyhow::bail!(
            "{} exists: a demo starts on a new file (pass another --data)",
            path.display()
        );
    }
    // The address first: a port in use stops the demo before it makes a database.
    let listener = TcpListener::bind(options.listen)
        .await
        .with_context(|| format!("while binding {}", options.listen))?;
    let address = listener.local_addr()?;
    let reachable = if address.ip().is_unspecified() {
        SocketAddr::from((Ipv4Addr::LOCALHOST, address.port()))
    } else {
        address
    };
    let base = format!("http://{reachable}");

    // The demo's keys live beside its database, which stays readable after it stops.
    let keys = api::keys::Keys::load(
        &api::keys::KeysConfig {
            file: Some(path.with_extension("keys.toml")),
            ..api::keys::KeysConfig::default()
        },
        api::keys::Missing::Create,
    )?;
    let log = open(&path).await?.with_vault(keys.vault());
    let partners = partners::Partners::start(base.clone()).await?;
    let secrets: adapters::inbound::WebhookSecrets =
        serde_json::from_value(partners.webhook_secrets())
            .context("while reading the demo's webhook secrets")?;
    let verifiers = secrets
        .verifiers()
        .map_err(|e| anyhow::anyhow!("a demo webhook secret is unusable: {e}"))?;
    let mut state = AppState::with_webhooks(
        log.clone(),
        adapters::inbound::WebhookState::new(log.clone(), verifiers),
    );
    state.process = Arc::from("demo");
    state.keys = Arc::new(keys);
    let audit = api::sealing::AuditConfig {
        ..api::sealing::AuditConfig::default()
    };
    let url = format!("sqlite:{}", path.display());
    state.sealer = Some(Arc::new(audit.sealer(&state.keys.seal, &url)));
    state.outbound = Arc::new(
        serde_json::from_value(partners.outbound())
            .context("while reading the demo's outbound destinations")?,
    );
    let _workers = api::spawn_workers(&state)
        .await
        .context("while setting up the outbound destinations")?;

    let actor = api::users::command_line_actor();
    let mut sign_ins = Vec::new();
    // The console's users: one per role, each named after its role.
    for role in Role::ALL {
        let password: String = rand::thread_rng()
            .sample_iter(&Alphanumeric)
            .take(16)
            .map(char::from)
            .collect();
        api::users::create_user(&log, role.name(), role, &actor).await?;
        api::users::set_password(&log, role.name(), &password, &actor).await?;
        sign_ins.push((role, password));
    }
    let machine = |name: &'static str, role: Role| {
        let (log, actor) = (log.clone(), actor.clone());
        async move { api::users::create_user(&log, name, role, &actor).await }
    };
    let tokens = driver::Tokens {
        storefront: machine("storefront", Role::Operator).await?,
        warehouse: machine("warehouse", Role::Operator).await?,
        billing: machine("billing", Role::Finance).await?,
    };

    print(&banner(&base, &path, &partners, &sign_ins))?;
    let shop = Arc::new(driver::Driver::new(base, tokens, partners)?);
    let mut tasks = JoinSet::new();
    tasks.spawn(shop.run());
    api::server::serve(
        listener,
        api::router(state),
        api::server::Limits::default(),
        shutdown,
    )
    .await
    .context("while serving")?;
    tasks.abort_all();
    print(&format!(
        "The demo stopped. Its database stays at {}.\n",
        path.display()
    ))
}

/// A new SQLite database at `path`, migrated, its read-model tables made.
async fn open(path: &Path) -> anyhow::Result<eventlog::EventLog> {
    let url = format!("sqlite:{}", path.display());
    let log = eventlog::EventLog::connect(&url, &eventlog::ConnectOptions::default())
        .await
        .with_context(|| format!("while making the database {}", path.display()))?;
    log.migrate().await.context("while applying migrations")?;
    projections::create_tables(&log)
        .await
        .context("while creating read-model tables")?;
    Ok(log)
}

/// What the demo prints when it is ready: where to go and who to sign in as.
fn banner(
    base: &str,
    path: &Path,
    partners: &partners::Partners,
    sign_ins: &[(Role, String)],
) -> String {
    let mut text = format!(
        "\nbackoffice demo is running.\n\n  \
         Console   {base}/console\n  \
         API       {base}/api/v1/docs\n  \
         Database  {} (kept when the demo stops)\n\n\
         Sign in as (passwords made for this run):\n\n  \
         {:<10}{:<10}password\n",
        path.display(),
        "name",
        "role",
    );
    for (role, password) in sign_ins {
        text.push_str(&format!(
            "  {:<10}{:<10}{password}\n",
            role.name(),
            role.name()
        ));
    }
    text.push_str(&format!(
        "\nSimulated partners at {} send signed Stripe, EasyPost, ERP and CRM webhooks and\n\
         answer the service's calls to Stripe, EasyPost, the ERP, the CRM and the SMS provider;\n\
         e-mails go to a mail sink at {}. The shop's systems (storefront, warehouse, billing)\n\
         place an order every few seconds. Ctrl-C stops the demo.\n\n",
        partners.base(),
        partners.smtp(),
    ));
    text
}

fn print(text: &str) -> anyhow::Result<()> {
    use std::io::Write as _;
    let mut out = std::io::stdout();
    out.write_all(text.as_bytes())
        .and_then(|()| out.flush())
        .context("while printing")
}
