//! `backoffice customers forget` on the real binary, beside a running `serve` that made the
//! keys file: the customer's address reads as erased through the API, the forget is in the
//! audit trail, and `audit verify` still passes.
#![allow(clippy::unwrap_used)]

mod support;

use std::time::{Duration, Instant};

use reqwest::Method;
use support::{cli_with, order, target};

#[tokio::test]
async fn on_sqlite_the_cli_forgets_a_customer_and_the_chain_still_verifies() {
    the_cli_forgets_a_customer_and_the_chain_still_verifies(false).await;
}

#[tokio::test]
async fn on_postgresql_the_cli_forgets_a_customer_and_the_chain_still_verifies() {
    the_cli_forgets_a_customer_and_the_chain_still_verifies(true).await;
}

async fn the_cli_forgets_a_customer_and_the_chain_still_verifies(postgres: bool) {
    let target = target(postgres, &[]).await;
    let env: Vec<(&str, &str)> = target
        .db
        .as_ref()
        .map(|db| vec![("DATABASE_URL", db.url.as_str())])
        .unwrap_or_default();
    assert!(
        target.folder.0.join("data/keys.toml").exists(),
        "serve made the keys file"
    );
    let order = order();
    let customer = order["customer_id"].as_str().unwrap().to_owned();
    let (status, placed) = target
        .request(Method::POST, "/api/v1/orders", Some(order))
        .await;
    assert_eq!(status, 201, "{placed}");
    let history = format!(
        "/api/v1/audit/streams/order/{}",
        placed["id"].as_str().unwrap()
    );
    let (_, events) = target.request(Method::GET, &history, None).await;
    assert_eq!(events[0]["payload"]["shipping_address"]["recipient"], "Ana");

    let (ok, stdout, stderr) = cli_with(&target.folder.0, &env, &["customers", "forget", "nobody"]);
    assert!(
        !ok && stderr.contains("not a customer id"),
        "{stdout} {stderr}"
    );
    let (ok, stdout, stderr) =
        cli_with(&target.folder.0, &env, &["customers", "forget", &customer]);
    assert!(ok, "{stdout} {stderr}");
    assert!(
        stdout.contains(&format!("Forgot customer {customer}: 1 key(s) destroyed")),
        "{stdout}"
    );

    let (_, events) = target.request(Method::GET, &history, None).await;
    let address = &events[0]["payload"]["shipping_address"];
    assert_eq!(address["recipient"], "[erased]", "{events}");
    assert_eq!(address["line1"], "[erased]", "{events}");
    assert_eq!(address["country"], "DE", "{events}");
    let (_, trail) = target
        .request(
            Method::GET,
            &format!("/api/v1/audit/streams/customer/{customer}"),
            None,
        )
        .await;
    assert_eq!(trail[0]["event_type"], "CustomerForgotten", "{trail}");
    assert!(
        trail[0]["metadata"]["actor"]
            .as_str()
            .unwrap()
            .starts_with("cli:"),
        "{trail}"
    );

    // The chain covers the sealed form: forgetting changed no event. On PostgreSQL the
    // chainer links the forget shortly after it.
    let started = Instant::now();
    loop {
        let (ok, stdout, stderr) = cli_with(&target.folder.0, &env, &["audit", "verify"]);
        assert!(ok, "{stdout} {stderr}");
        if !stdout.contains("not linked yet") {
            assert!(stdout.contains("the chain holds"), "{stdout}");
            break;
        }
        assert!(started.elapsed() < Duration::from_secs(30), "{stdout}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Runs `backoffice serve` in `folder` and answers its standard error if it stops within 30 s
/// (it must refuse to start); kills it and fails otherwise.
fn refused_to_serve(folder: &std::path::Path, env: &[(&str, &str)]) -> String {
    let mut command = std::process::Command::new(support::BINARY);
    command
        .arg("serve")
        .current_dir(folder)
        .env_clear()
        .env("BACKOFFICE_LISTEN", "127.0.0.1:0")
        .env("BACKOFFICE_METRICS_LISTEN", "")
        .stderr(std::process::Stdio::piped())
        .stdout(std::process::Stdio::null());
    for (key, value) in env {
        command.env(key, value);
    }
    let mut child = command.spawn().unwrap();
    let started = Instant::now();
    while child.try_wait().unwrap().is_none() {
        if started.elapsed() > Duration::from_secs(30) {
            child.kill().unwrap();
            panic!("serve started with keys that differ from the other process's");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let mut stderr = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut stderr).unwrap();
    stderr
}

#[tokio::test]
async fn a_process_with_other_keys_than_the_first_refuses_to_serve_the_same_database() {
    let first = target(true, &[]).await;
    let url = first.db.as_ref().unwrap().url.clone();
    let env = [("DATABASE_URL", url.as_str())];
    // Another host's keys file: another master key.
    let other = support::Folder::new();
    let stderr = refused_to_serve(&other.0, &env);
    assert!(stderr.contains("wrapped by master key(s)"), "{stderr}");

    // The same master key but another seal key, once a seal exists.
    let started = Instant::now();
    loop {
        let (ok, stdout, stderr) = cli_with(&first.folder.0, &env, &["audit", "verify"]);
        assert!(ok, "{stdout} {stderr}");
        if stdout.contains("seals hold") {
            break;
        }
        assert!(started.elapsed() < Duration::from_secs(30), "{stdout}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let keys = std::fs::read_to_string(first.folder.0.join("data/keys.toml")).unwrap();
    let master = keys
        .lines()
        .find(|line| line.starts_with("master_key"))
        .unwrap()
        .to_owned();
    std::fs::create_dir_all(other.0.join("data")).unwrap();
    let fresh = api::keys::Keys::generate_file();
    let seal = fresh
        .lines()
        .find(|line| line.starts_with("seal_key"))
        .unwrap();
    std::fs::write(
        other.0.join("data/keys.toml"),
        format!("{seal}\n{master}\n"),
    )
    .unwrap();
    let stderr = refused_to_serve(&other.0, &env);
    assert!(stderr.contains("signed by another seal key"), "{stderr}");
}
