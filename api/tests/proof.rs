//! `GET /api/v1/audit/proof/{event_id}` on the real binary, on both backends: an order placed
//! through the API is sealed by `serve`'s sealer within a second (`[audit] seal_every_secs`),
//! its proof is checked by the independent script (`scripts/verify_proof.py`: Python and
//! `cryptography` only) with the service's public key and holds; with one byte of the payload
//! changed, or under another key, it does not. `backoffice audit verify` checks the seals
//! against the chain and the seals file `serve` wrote.
#![allow(clippy::unwrap_used)]

mod support;

use std::{
    process::Command,
    time::{Duration, Instant},
};

use base64::{engine::general_purpose::STANDARD as BASE64, Engine as _};
use ed25519_dalek::SigningKey;
use reqwest::Method;
use serde_json::Value;
use support::{cli_with, order, target, Target};

/// The seal key's seed, configured as `[keys] seal_key`.
const SEED: [u8; 32] = [5; 32];

/// The independent check.
const SCRIPT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../scripts/verify_proof.py");

/// Runs the script on `proof` with `public_key`: whether it passed, and what it said.
fn verify_proof(target: &Target, proof: &Value, public_key: &str) -> (bool, String) {
    let file = target.folder.0.join("proof.json");
    std::fs::write(&file, serde_json::to_vec_pretty(proof).unwrap()).unwrap();
    let output = Command::new("python3")
        .arg(SCRIPT)
        .arg(&file)
        .arg(public_key)
        .output()
        .expect("python3 runs (with `cryptography`: .ci/run installs it)");
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(
        !said.contains("ModuleNotFoundError"),
        "the script needs `cryptography` (python3 -m pip install cryptography): {said}"
    );
    (output.status.success(), said)
}

/// The proof of `event_id`, once the sealer has sealed it (409 `not_sealed_yet` until then).
async fn sealed_proof(target: &Target, event_id: &str) -> Value {
    let started = Instant::now();
    loop {
        let response = reqwest::Client::new()
            .get(target.url(&format!("/api/v1/audit/proof/{event_id}")))
            .bearer_auth(&target.token)
            .send()
            .await
            .unwrap();
        let status = response.status().as_u16();
        let retry_after = response.headers().get("retry-after").cloned();
        let body: Value = response.json().await.unwrap();
        match status {
            200 => return body,
            409 => {
                assert_eq!(body["code"], "not_sealed_yet", "{body}");
                assert_eq!(retry_after.unwrap(), "1");
            }
            _ => panic!("{status} {body}"),
        }
        assert!(started.elapsed() < Duration::from_secs(60), "never sealed");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn a_sealed_event_is_proven_to_the_independent_script(postgres: bool) {
    let seal_key = BASE64.encode(SEED);
    let master_key = BASE64.encode([6u8; 32]);
    let env = [
        ("BACKOFFICE_KEYS__SEAL_KEY", seal_key.as_str()),
        ("BACKOFFICE_KEYS__MASTER_KEY", master_key.as_str()),
        ("BACKOFFICE_AUDIT__SEAL_EVERY_SECS", "1"),
    ];
    let target = target(postgres, &env).await;
    let public_key = BASE64.encode(SigningKey::from_bytes(&SEED).verifying_key().to_bytes());

    let (status, placed) = target
        .request(Method::POST, "/api/v1/orders", Some(order()))
        .await;
    assert_eq!(status, 201, "{placed}");
    let order_id = placed["id"].as_str().unwrap();
    let (status, history) = target
        .request(
            Method::GET,
            &format!("/api/v1/audit/streams/order/{order_id}"),
            None,
        )
        .await;
    assert_eq!(status, 200, "{history}");
    let event_id = history[0]["event_id"].as_str().unwrap().to_owned();

    let proof = sealed_proof(&target, &event_id).await;
    assert_eq!(proof["event"]["event_id"], event_id.as_str());
    assert_eq!(proof["event"]["event_type"], "OrderPlaced");
    assert_eq!(proof["seal"]["public_key"], public_key.as_str());
    let (holds, said) = verify_proof(&target, &proof, &public_key);
    assert!(holds, "{said}");
    assert!(said.contains("the proof holds: event "), "{said}");

    // One byte of the payload changed: the content, so the link, no longer match.
    let mut tampered = proof.clone();
    let reference = tampered["event"]["payload"]["external_reference"]
        .as_str()
        .unwrap()
        .replace("SHOP-1", "SHOP-2");
    tampered["event"]["payload"]["external_reference"] = Value::String(reference);
    let (holds, said) = verify_proof(&target, &tampered, &public_key);
    assert!(!holds, "{said}");
    assert!(
        said.contains("the proof does not hold: the event's link is"),
        "{said}"
    );
    // A seal under another key than the service's is not taken.
    let stranger = BASE64.encode(SigningKey::from_bytes(&[7; 32]).verifying_key().to_bytes());
    let (holds, said) = verify_proof(&target, &proof, &stranger);
    assert!(!holds, "{said}");
    assert!(said.contains("signed by another key"), "{said}");

    let (status, body) = target
        .request(
            Method::GET,
            "/api/v1/audit/proof/0190d8a4-0000-7000-8000-000000000001",
            None,
        )
        .await;
    assert_eq!((status, body["code"].as_str()), (404, Some("not_found")));
    let (status, body) = target
        .request(Method::GET, "/api/v1/audit/proof/not-an-id", None)
        .await;
    assert_eq!((status, body["code"].as_str()), (400, Some("malformed_id")));

    // The seals hold against the chain, and the seals file `serve` wrote holds them too.
    let mut env = env.to_vec();
    if let Some(db) = &target.db {
        env.push(("DATABASE_URL", db.url.as_str()));
    }
    let (ok, stdout, stderr) = cli_with(&target.folder.0, &env, &["audit", "verify"]);
    assert!(ok, "{stdout} {stderr}");
    assert!(stdout.contains("seals hold, up to position"), "{stdout}");
    assert!(!stdout.contains("note:"), "{stdout}");
    // One seals file per database, named after it.
    let name = match &target.db {
        None => "data/backoffice.seals.jsonl".to_owned(),
        Some(db) => api::sealing::AuditConfig::default()
            .seals_file(&db.url)
            .to_string_lossy()
            .into_owned(),
    };
    let file = std::fs::read_to_string(target.folder.0.join(name)).unwrap();
    let first: Value = serde_json::from_str(file.lines().next().unwrap()).unwrap();
    assert_eq!(first["number"], 1);
    assert_eq!(first["public_key"], public_key.as_str());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_a_sealed_event_is_proven_to_the_independent_script() {
    a_sealed_event_is_proven_to_the_independent_script(false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_a_sealed_event_is_proven_to_the_independent_script() {
    a_sealed_event_is_proven_to_the_independent_script(true).await;
}
