//! `backoffice demo`, started as a newcomer starts it: in a fresh folder, with no configuration
//! at all (an empty environment), on a free port.
#![allow(clippy::unwrap_used)]

mod support;

use std::{
    collections::BTreeSet,
    io::{BufRead, BufReader},
    process::{Child, Command, Stdio},
    sync::mpsc::{self, Receiver},
    time::{Duration, Instant},
};

use reqwest::{header, StatusCode};
use serde_json::Value;
use support::{cli_with, Folder, BINARY};

/// How long the demo has to show every state (it usually needs well under a minute).
const DEADLINE: Duration = Duration::from_secs(120);

/// A running `backoffice demo`, killed when dropped, and the lines it printed.
struct Demo {
    child: Child,
    lines: Receiver<String>,
}

impl Drop for Demo {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// What the demo printed once ready.
#[derive(Debug)]
struct Banner {
    /// `http://127.0.0.1:<port>/console`.
    console: String,
    /// The database file, relative to the folder it runs in.
    database: String,
    /// Name, role, password.
    sign_ins: Vec<(String, String, String)>,
}

impl Banner {
    fn base(&self) -> &str {
        self.console.trim_end_matches("/console")
    }
}

impl Demo {
    /// Runs `backoffice demo <args>` in `folder` with an empty environment.
    fn start(folder: &Folder, args: &[&str]) -> Self {
        let mut child = Command::new(BINARY)
            .arg("demo")
            .args(args)
            .current_dir(&folder.0)
            .env_clear()
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap();
        let stdout = BufReader::new(child.stdout.take().unwrap());
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in stdout.lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    return;
                }
            }
        });
        Self { child, lines }
    }

    /// The next line printed, waiting up to `wait`.
    fn line(&self, wait: Duration) -> Option<String> {
        self.lines.recv_timeout(wait).ok()
    }

    /// Reads the banner (up to a minute).
    fn banner(&self) -> Banner {
        let deadline = Instant::now() + Duration::from_secs(60);
        let (mut console, mut database, mut sign_ins) = (None, None, Vec::new());
        let mut in_table = false;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let line = self
                .line(left)
                .expect("the demo printed its sign-ins within a minute");
            let words: Vec<&str> = line.split_whitespace().collect();
            match words.as_slice() {
                ["Console", url] => console = Some((*url).to_owned()),
                ["Database", path, ..] => database = Some((*path).to_owned()),
                ["name", "role", "password"] => in_table = true,
                [name, role, password] if in_table => {
                    sign_ins.push(((*name).into(), (*role).into(), (*password).into()));
                }
                [] => in_table = false,
                _ if line.contains("Ctrl-C stops the demo") => break,
                _ => {}
            }
        }
        Banner {
            console: console.expect("the console's address"),
            database: database.expect("the database's path"),
            sign_ins,
        }
    }
}

/// Signs in at the console as `name`: the session cookie, once the dashboard answers.
async fn sign_in(client: &reqwest::Client, banner: &Banner, name: &str, password: &str) -> String {
    let base = banner.base();
    let form = client
        .get(format!("{base}/console/sign-in"))
        .send()
        .await
        .unwrap();
    assert_eq!(form.status(), StatusCode::OK);
    let cookies = cookies(form.headers());
    let page = form.text().await.unwrap();
    let marker = "name=\"csrf\" value=\"";
    let start = page.find(marker).expect("a CSRF token") + marker.len();
    let csrf = &page[start..start + page[start..].find('"').unwrap()];
    let signed_in = client
        .post(format!("{base}/console/sign-in"))
        .header(header::COOKIE, &cookies)
        .form(&[("name", name), ("password", password), ("csrf", csrf)])
        .send()
        .await
        .unwrap();
    assert_eq!(signed_in.status(), StatusCode::SEE_OTHER, "{name} signs in");
    let session = cookies_of(signed_in.headers())
        .into_iter()
        .find(|c| c.starts_with("bo_session="))
        .expect("a session cookie");
    let dashboard = client
        .get(format!("{base}/console"))
        .header(header::COOKIE, &session)
        .send()
        .await
        .unwrap();
    assert_eq!(dashboard.status(), StatusCode::OK);
    let page = dashboard.text().await.unwrap();
    assert!(page.contains(name), "the dashboard names {name}: {page}");
    session
}

fn cookies_of(headers: &header::HeaderMap) -> Vec<String> {
    headers
        .get_all(header::SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .filter_map(|v| v.split(';').next())
        .map(str::to_owned)
        .collect()
}

fn cookies(headers: &header::HeaderMap) -> String {
    cookies_of(headers).join("; ")
}

/// GETs `path` of the REST API with `token`.
async fn get(client: &reqwest::Client, banner: &Banner, token: &str, path: &str) -> Value {
    let response = client
        .get(format!("{}{path}", banner.base()))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK, "GET {path}");
    response.json().await.unwrap()
}

/// What the demo has not shown yet, as read through the REST API.
async fn missing(client: &reqwest::Client, banner: &Banner, token: &str) -> Vec<String> {
    let mut missing = Vec::new();
    let orders = get(client, banner, token, "/api/v1/orders?limit=200").await;
    let orders = orders["items"].as_array().unwrap().clone();
    let seen = |field: &str, value: &str| orders.iter().any(|o| o[field] == value);
    for (field, value) in [
        ("status", "placed"),
        ("payment_status", "paid"),
        ("fulfillment_status", "shipped"),
        ("fulfillment_status", "delivered"),
        ("status", "completed"),
        ("payment_status", "refunded"),
        ("status", "cancelled"),
    ] {
        if !seen(field, value) {
            missing.push(format!("an order with {field} {value}"));
        }
    }
    for source in ["stripe", "easypost", "erp", "crm"] {
        let path = format!("/api/v1/admin/webhooks/deliveries?source={source}&status=done");
        let done = get(client, banner, token, &path).await;
        if done["items"].as_array().is_none_or(Vec::is_empty) {
            missing.push(format!("a {source} webhook applied"));
        }
    }
    let integrations = get(client, banner, token, "/api/v1/admin/integrations").await;
    for destination in ["stripe", "easypost", "erp", "crm", "sms", "email"] {
        let status = integrations
            .as_array()
            .unwrap()
            .iter()
            .find(|d| d["destination"] == destination)
            .unwrap_or_else(|| panic!("{destination} in {integrations}"));
        assert_eq!(status["configured"], true, "{destination}: {status}");
        if status["attempts_last_hour"]["sent"].as_i64().unwrap_or(0) == 0 {
            missing.push(format!("a call {destination} took"));
        }
    }
    let path = "/api/v1/attention?status=open&process=outbound.easypost";
    let refused = get(client, banner, token, path).await;
    if refused["items"].as_array().is_none_or(Vec::is_empty) {
        missing.push("a label the carrier refused, open for a person".to_owned());
    }
    missing
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_demo_needs_no_configuration_and_moves_orders_through_every_state() {
    let folder = Folder::new();
    let demo = Demo::start(&folder, &["--listen", "127.0.0.1:0"]);
    let banner = demo.banner();

    let roles: BTreeSet<&str> = banner.sign_ins.iter().map(|(_, r, _)| r.as_str()).collect();
    assert_eq!(
        roles,
        BTreeSet::from(["admin", "auditor", "finance", "operator", "viewer"]),
        "{banner:?}"
    );
    let passwords: BTreeSet<&str> = banner.sign_ins.iter().map(|(.., p)| p.as_str()).collect();
    assert_eq!(passwords.len(), 5, "a password of its own for each");
    assert!(passwords.iter().all(|p| p.len() >= 12));
    assert!(
        banner.database.starts_with("data/demo-") && banner.database.ends_with(".sqlite"),
        "{banner:?}"
    );
    assert!(folder.0.join(&banner.database).exists());

    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap();
    let (name, _, password) = banner
        .sign_ins
        .iter()
        .find(|(_, role, _)| role == "viewer")
        .unwrap();
    sign_in(&client, &banner, name, password).await;

    // A token for the REST API, made beside the running demo as an admin would.
    let url = format!("sqlite:{}", banner.database);
    let (ok, token, stderr) = cli_with(
        &folder.0,
        &[("DATABASE_URL", url.as_str())],
        &["tokens", "create", "--user", "admin"],
    );
    assert!(ok, "{stderr}");
    let token = token.trim();

    // A state seen once counts (an order is shipped for a few seconds only).
    let deadline = Instant::now() + DEADLINE;
    let mut unseen: Option<BTreeSet<String>> = None;
    loop {
        let now: BTreeSet<String> = missing(&client, &banner, token).await.into_iter().collect();
        let left = match unseen {
            None => now,
            Some(before) => before.intersection(&now).cloned().collect(),
        };
        if left.is_empty() {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "after {} s the demo has not shown: {left:?}",
            DEADLINE.as_secs(),
        );
        unseen = Some(left);
        tokio::time::sleep(Duration::from_secs(1)).await;
    }

    // Ctrl-C stops it, keeping its database.
    let interrupted = Command::new("kill")
        .args(["-INT", &demo.child.id().to_string()])
        .status()
        .unwrap();
    assert!(interrupted.success());
    let stopped = loop {
        match demo.line(Duration::from_secs(60)) {
            Some(line) if line.starts_with("The demo stopped.") => break line,
            Some(_) => {}
            None => panic!("the demo did not say it stopped"),
        }
    };
    assert!(stopped.contains(&banner.database), "{stopped}");
    assert!(folder.0.join(&banner.database).exists());
}

#[test]
fn the_demo_never_reuses_a_database() {
    let folder = Folder::new();
    std::fs::write(folder.0.join("taken.sqlite"), b"").unwrap();
    let (ok, _, stderr) = cli_with(
        &folder.0,
        &[],
        &["demo", "--listen", "127.0.0.1:0", "--data", "taken.sqlite"],
    );
    assert!(!ok);
    assert!(
        stderr.contains("taken.sqlite exists: a demo starts on a new file"),
        "{stderr}"
    );
}
