//! Real servers the outbound tests talk to: an SMTP server process, the NATS server's
//! stream, and a partner mock that can be told to fail, throttle or refuse.

use std::time::Duration;

/// A real SMTP server process (aiosmtpd, from PyPI; `.ci/run` installs it) that keeps every
/// message it receives as a file of a maildir; killed when dropped.
pub struct SmtpServer {
    pub port: u16,
    maildir: tempfile_dir::TempDir,
    process: std::process::Child,
}

impl SmtpServer {
    pub async fn start() -> Self {
        let port = free_port();
        let maildir = tempfile_dir::TempDir::new("smtp");
        let process = std::process::Command::new("python3")
            .args(["-m", "aiosmtpd", "-n", "-l", &format!("127.0.0.1:{port}")])
            .args(["-c", "aiosmtpd.handlers.Mailbox"])
            // A maildir aiosmtpd creates itself (with its cur/, new/ and tmp/).
            .arg(maildir.path().join("mail"))
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::inherit())
            .spawn()
            .expect("python3 -m aiosmtpd (pip install aiosmtpd; .ci/run installs it)");
        let deadline = std::time::Instant::now() + Duration::from_secs(20);
        while tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .is_err()
        {
            assert!(
                std::time::Instant::now() < deadline,
                "aiosmtpd did not listen on {port} (is it installed? pip install aiosmtpd)"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        Self {
            port,
            maildir,
            process,
        }
    }

    /// `smtp://127.0.0.1:<port>` (no TLS: the server is on this host).
    pub fn url(&self) -> String {
        format!("smtp://127.0.0.1:{}", self.port)
    }

    /// Every message received so far, raw.
    pub fn messages(&self) -> Vec<Vec<u8>> {
        let Ok(entries) = std::fs::read_dir(self.maildir.path().join("mail").join("new")) else {
            return Vec::new();
        };
        entries
            .filter_map(|entry| std::fs::read(entry.ok()?.path()).ok())
            .collect()
    }
}

impl Drop for SmtpServer {
    fn drop(&mut self) {
        let _ = self.process.kill();
        let _ = self.process.wait();
    }
}

/// A port nothing listens on now.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A directory removed when dropped.
pub mod tempfile_dir {
    use std::path::{Path, PathBuf};

    pub struct TempDir(PathBuf);

    impl TempDir {
        pub fn new(prefix: &str) -> Self {
            let path = std::env::temp_dir().join(format!("{prefix}-{}", uuid::Uuid::now_v7()));
            std::fs::create_dir_all(&path).unwrap();
            Self(path)
        }

        pub fn path(&self) -> &Path {
            &self.0
        }
    }

    impl Drop for TempDir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
}

/// A JetStream stream of its own on the NATS server of this machine (127.0.0.1:4222), under a
/// subject prefix of its own; deleted when the test is done with it.
pub struct NatsStream {
    pub name: String,
    pub prefix: String,
    pub context: async_nats::jetstream::Context,
}

pub const NATS_URL: &str = "nats://127.0.0.1:4222";

impl NatsStream {
    pub async fn new() -> Self {
        let id = uuid::Uuid::now_v7().simple().to_string();
        let client = async_nats::connect(NATS_URL)
            .await
            .expect("NATS with JetStream at 127.0.0.1:4222");
        Self {
            name: format!("TEST_{id}"),
            prefix: format!("test.{id}"),
            context: async_nats::jetstream::new(client),
        }
    }

    /// The `[outbound.events]` section for this stream.
    pub fn config(&self) -> adapters::outbound::config::EventsConfig {
        serde_json::from_value(serde_json::json!({
            "nats_url": NATS_URL, "stream": self.name, "subject_prefix": self.prefix,
        }))
        .unwrap()
    }

    /// How many messages the stream holds (0 before it exists).
    pub async fn count(&self) -> u64 {
        match self.context.get_stream(&self.name).await {
            Ok(mut stream) => stream.info().await.unwrap().state.messages,
            Err(_) => 0,
        }
    }

    /// Every message of the stream in stream order: its `Nats-Msg-Id` and its body.
    pub async fn messages(&self) -> Vec<(String, serde_json::Value)> {
        use futures::StreamExt as _;
        let count = usize::try_from(self.count().await).unwrap();
        let stream = self.context.get_stream(&self.name).await.unwrap();
        let consumer = stream
            .create_consumer(async_nats::jetstream::consumer::pull::OrderedConfig::default())
            .await
            .unwrap();
        let mut messages = consumer.messages().await.unwrap();
        let mut out = Vec::with_capacity(count);
        while out.len() < count {
            let message = tokio::time::timeout(Duration::from_secs(10), messages.next())
                .await
                .expect("the stream's messages")
                .unwrap()
                .unwrap();
            let id = message
                .headers
                .as_ref()
                .and_then(|h| h.get(async_nats::header::NATS_MESSAGE_ID))
                .map(|v| v.as_str().to_owned())
                .unwrap_or_else(|| format!("no Nats-Msg-Id in {:?}", message.headers));
            out.push((id, serde_json::from_slice(&message.payload).unwrap()));
        }
        out
    }

    pub async fn delete(&self) {
        let _ = self.context.delete_stream(&self.name).await;
    }
}

/// How a [`Partner`] answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// 201 for a new idempotency key (an effect), 200 for one seen before.
    Up,
    /// 503 to everything.
    Down,
    /// 400 to everything.
    Refusing,
    /// 429 with `Retry-After: <seconds>` to the next call, then up.
    ThrottleOnce(u64),
}

/// One call a partner received.
#[derive(Debug, Clone)]
pub struct Call {
    pub at: std::time::Instant,
    pub key: String,
    pub path: String,
    pub status: u16,
}

#[derive(Debug)]
struct PartnerState {
    mode: Mode,
    calls: Vec<Call>,
    effects: Vec<Call>,
    seen: std::collections::HashSet<String>,
}

/// A partner's HTTP API as a real server (wiremock) that counts calls, distinct idempotency
/// keys and effects, and answers as its [`Mode`] says.
#[derive(Debug, Clone)]
pub struct Partner {
    state: std::sync::Arc<std::sync::Mutex<PartnerState>>,
    pub server: std::sync::Arc<wiremock::MockServer>,
}

impl Partner {
    pub async fn start(mode: Mode) -> Self {
        let state = std::sync::Arc::new(std::sync::Mutex::new(PartnerState {
            mode,
            calls: Vec::new(),
            effects: Vec::new(),
            seen: std::collections::HashSet::new(),
        }));
        let server = wiremock::MockServer::start().await;
        wiremock::Mock::given(wiremock::matchers::any())
            .respond_with(Responder(state.clone()))
            .mount(&server)
            .await;
        Self {
            state,
            server: std::sync::Arc::new(server),
        }
    }

    pub fn uri(&self) -> String {
        self.server.uri()
    }

    pub fn set(&self, mode: Mode) {
        self.state.lock().unwrap().mode = mode;
    }

    pub fn calls(&self) -> Vec<Call> {
        self.state.lock().unwrap().calls.clone()
    }

    /// The calls that took effect: one per distinct idempotency key, in arrival order.
    pub fn effects(&self) -> Vec<Call> {
        self.state.lock().unwrap().effects.clone()
    }
}

struct Responder(std::sync::Arc<std::sync::Mutex<PartnerState>>);

impl wiremock::Respond for Responder {
    fn respond(&self, request: &wiremock::Request) -> wiremock::ResponseTemplate {
        let mut state = self.0.lock().unwrap();
        let key = request
            .headers
            .get("idempotency-key")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned();
        let (status, retry_after) = match state.mode {
            Mode::Down => (503, None),
            Mode::Refusing => (400, None),
            Mode::ThrottleOnce(seconds) => {
                state.mode = Mode::Up;
                (429, Some(seconds))
            }
            Mode::Up if state.seen.contains(&key) => (200, None),
            Mode::Up => (201, None),
        };
        let call = Call {
            at: std::time::Instant::now(),
            key: key.clone(),
            path: request.url.path().to_owned(),
            status,
        };
        if status == 201 {
            state.seen.insert(key);
            state.effects.push(call.clone());
        }
        state.calls.push(call);
        let template = wiremock::ResponseTemplate::new(status)
            .set_body_json(serde_json::json!({"status": status}));
        match retry_after {
            Some(seconds) => template.insert_header("Retry-After", seconds.to_string().as_str()),
            None => template,
        }
    }
}
