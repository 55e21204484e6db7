//! The real `backoffice` binary, started as a user starts it: in a folder of its own, with
//! only the environment given, on port 0.
#![allow(clippy::unwrap_used, dead_code)]

use std::{
    io::{BufRead, BufReader},
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    sync::{
        mpsc::{self, RecvTimeoutError},
        Arc, Mutex,
    },
    time::Duration,
};

use eventlog::testing::TestDatabase;
use serde_json::{json, Value};
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::TcpStream,
};

/// The binary cargo built for these tests.
pub const BINARY: &str = env!("CARGO_BIN_EXE_backoffice");

/// A running `backoffice serve`, killed when dropped.
pub struct Served {
    pub child: Child,
    pub address: String,
    /// Every log line it has written so far (JSON).
    pub log: Arc<Mutex<Vec<String>>>,
}

impl Served {
    /// The process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Resident memory in KiB, from `/proc/<pid>/status`.
    pub fn rss_kib(&self) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid())).unwrap();
        status
            .lines()
            .find_map(|line| line.strip_prefix("VmRSS:"))
            .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
            .unwrap()
    }

    /// The log lines so far.
    pub fn log_lines(&self) -> Vec<String> {
        self.log.lock().unwrap().clone()
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Runs `backoffice serve` in `folder` with only `env` set (port 0), and waits (up to a minute)
/// for its address. Its log goes on being read (and kept), so that it never writes into a
/// closed pipe.
pub fn serve(folder: &Path, env: &[(&str, &str)]) -> Served {
    let mut command = Command::new(BINARY);
    command
        .arg("serve")
        .current_dir(folder)
        .env_clear()
        .env("BACKOFFICE_LISTEN", "127.0.0.1:0")
        .env("BACKOFFICE_METRICS_LISTEN", "127.0.0.1:0")
        .env("BACKOFFICE_LOG_FORMAT", "json")
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit());
    for (key, value) in env {
        command.env(key, value);
    }
    let mut child = command.spawn().unwrap();
    let stdout = BufReader::new(child.stdout.take().unwrap());
    let (address_tx, address_rx) = mpsc::channel();
    let log = Arc::new(Mutex::new(Vec::new()));
    let kept = Arc::clone(&log);
    std::thread::spawn(move || {
        for line in stdout.lines().map_while(Result::ok) {
            if let Ok(entry) = serde_json::from_str::<Value>(&line) {
                if let Some(address) = entry["fields"]["address"].as_str() {
                    let _ = address_tx.send(address.to_owned());
                }
            }
            kept.lock().unwrap().push(line);
        }
    });
    match address_rx.recv_timeout(Duration::from_secs(60)) {
        Ok(address) => Served {
            child,
            address,
            log,
        },
        Err(RecvTimeoutError::Disconnected) => {
            let status = child.wait().unwrap();
            panic!("backoffice exited ({status}) before serving");
        }
        Err(RecvTimeoutError::Timeout) => {
            let _ = child.kill();
            panic!("backoffice did not serve within a minute");
        }
    }
}

/// GETs `path`: status and JSON body.
pub async fn get(address: &str, path: &str) -> (u16, Value) {
    let response = reqwest::Client::new()
        .get(format!("http://{address}{path}"))
        .timeout(Duration::from_secs(30))
        .send()
        .await
        .unwrap();
    (response.status().as_u16(), response.json().await.unwrap())
}

/// A fresh folder to run the binary in, removed when dropped.
pub struct Folder(pub PathBuf);

impl Folder {
    pub fn new() -> Self {
        let folder = std::env::temp_dir().join(format!("bo_bin_{}", uuid::Uuid::now_v7().simple()));
        std::fs::create_dir_all(&folder).unwrap();
        Self(folder)
    }
}

impl Drop for Folder {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Runs `backoffice <args>` in `folder` (its SQLite database under `data/`): success, stdout,
/// stderr.
pub fn cli(folder: &Path, args: &[&str]) -> (bool, String, String) {
    cli_with(folder, &[], args)
}

/// Runs `backoffice <args>` in `folder` with only `env` set: success, stdout, stderr.
pub fn cli_with(folder: &Path, env: &[(&str, &str)], args: &[&str]) -> (bool, String, String) {
    let mut command = Command::new(BINARY);
    command.args(args).current_dir(folder).env_clear();
    for (key, value) in env {
        command.env(key, value);
    }
    let output = command.output().unwrap();
    (
        output.status.success(),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

pub const ERP_SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

/// A served binary with an admin token, on SQLite in its folder or on `database`.
pub struct Target {
    pub served: Served,
    pub token: String,
    pub folder: Folder,
    pub db: Option<TestDatabase>,
}

pub async fn target(postgres: bool, env: &[(&str, &str)]) -> Target {
    let folder = Folder::new();
    let db = if postgres {
        Some(TestDatabase::postgres().await)
    } else {
        None
    };
    let mut env: Vec<(&str, &str)> = env.to_vec();
    if let Some(db) = &db {
        env.push(("DATABASE_URL", db.url.as_str()));
    }
    env.push(("BACKOFFICE_WEBHOOKS__ERP", ERP_SECRET));
    let (ok, token, stderr) = cli_with(
        &folder.0,
        &env,
        &["users", "create", "--name", "admin", "--role", "admin"],
    );
    assert!(ok, "{stderr}");
    let served = serve(&folder.0, &env);
    Target {
        served,
        token: token.trim().to_owned(),
        folder,
        db,
    }
}

impl Target {
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.served.address)
    }

    pub async fn request(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> (u16, Value) {
        let mut request = reqwest::Client::new()
            .request(method, self.url(path))
            .bearer_auth(&self.token)
            .timeout(Duration::from_secs(30));
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.unwrap();
        let status = response.status().as_u16();
        let text = response.text().await.unwrap();
        (status, serde_json::from_str(&text).unwrap_or(Value::Null))
    }

    /// Sends raw bytes on a new connection and reads the answer until the server closes it
    /// or 10 s pass.
    pub async fn raw(&self, bytes: &[u8]) -> String {
        let mut stream = TcpStream::connect(&self.served.address).await.unwrap();
        stream.write_all(bytes).await.unwrap();
        let mut answer = Vec::new();
        let _ =
            tokio::time::timeout(Duration::from_secs(10), stream.read_to_end(&mut answer)).await;
        String::from_utf8_lossy(&answer).into_owned()
    }
}

pub fn order() -> Value {
    json!({
        "customer_id": uuid::Uuid::now_v7(),
        "currency": "EUR",
        "lines": [{"sku": "SKU-A", "name": "Mug", "quantity": 1, "unit_price_minor": 1000}],
        "shipping_address": {"recipient": "Ana", "line1": "Street 1", "city": "Berlin", "country": "DE"},
        "external_reference": "SHOP-1"
    })
}

impl Target {
    /// Sends `body` to `/webhooks/erp` signed as the ERP would, with message id `id`.
    pub async fn erp_delivery(&self, id: &str, body: &Value) -> u16 {
        let body = serde_json::to_vec(body).unwrap();
        let now = chrono::Utc::now().timestamp();
        let signature = adapters::inbound::signature::StandardWebhooksVerifier::new(ERP_SECRET)
            .unwrap()
            .sign(id, now, &body);
        reqwest::Client::new()
            .post(self.url("/webhooks/erp"))
            .header("content-type", "application/json")
            .header("webhook-id", id)
            .header("webhook-timestamp", now.to_string())
            .header("webhook-signature", signature)
            .body(body)
            .send()
            .await
            .unwrap()
            .status()
            .as_u16()
    }
}
