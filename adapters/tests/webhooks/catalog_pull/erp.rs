//! The mock ERP of the catalog pull's tests: `GET /products` and `GET /stock` as the contract
//! says, each request it served recorded.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
};

use adapters::{
    inbound::{
        catalog_pull::ErpCatalogPull,
        signature::{StandardWebhookHeaders, StandardWebhooksVerifier},
    },
    outbound::config::ErpConfig,
};
use chrono::{DateTime, Utc};
use serde_json::{json, Value};
use sha2::{Digest as _, Sha256};
use wiremock::{matchers, Mock, MockServer, Request, Respond, ResponseTemplate};

use crate::support::*;

/// Our signing secret towards the ERP (`[outbound.erp] secret`), which the mock checks.
const PULL_SECRET: &str = "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD";

/// What the mock answered to one request.
#[derive(Debug, Clone)]
pub(super) struct Served {
    pub(super) since: String,
    pub(super) cursor: Option<String>,
    pub(super) if_none_match: Option<String>,
    pub(super) status: u16,
    pub(super) etag: Option<String>,
}

/// One list of the mock ERP: its rows (each with `updated_at`), at most 4 to a page.
#[derive(Clone)]
pub(super) struct ErpList {
    pub(super) rows: Arc<Mutex<Vec<Value>>>,
    pub(super) served: Arc<Mutex<Vec<Served>>>,
}

impl ErpList {
    pub(super) fn new(rows: Vec<Value>) -> Self {
        Self {
            rows: Arc::new(Mutex::new(rows)),
            served: Arc::default(),
        }
    }

    pub(super) fn served(&self) -> Vec<Served> {
        self.served.lock().unwrap().clone()
    }

    pub(super) fn rows(&self) -> Vec<Value> {
        self.rows.lock().unwrap().clone()
    }
}

pub(super) fn at(row: &Value) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(row["updated_at"].as_str().unwrap())
        .unwrap()
        .with_timezone(&Utc)
}

fn row_key(row: &Value) -> String {
    format!(
        "{}@{}",
        row["sku"].as_str().unwrap(),
        row["warehouse"].as_str().unwrap_or("")
    )
}

impl Respond for ErpList {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        let header = |name: &str| request.headers.get(name).and_then(|v| v.to_str().ok());
        let signed = StandardWebhooksVerifier::new(PULL_SECRET).unwrap().verify(
            &StandardWebhookHeaders::from_lookup(header),
            b"",
            Utc::now(),
        );
        if signed.is_err() {
            return ResponseTemplate::new(401);
        }
        let query: HashMap<String, String> = request.url.query_pairs().into_owned().collect();
        let since = DateTime::parse_from_rfc3339(&query["updated_since"]).unwrap();
        let limit: usize = query["limit"].parse().unwrap();
        let cursor = query.get("cursor").cloned();
        let mut rows: Vec<Value> = self
            .rows()
            .into_iter()
            .filter(|row| at(row) >= since)
            .collect();
        rows.sort_by_key(|row| (at(row), row_key(row)));
        // The listing's state: changes whenever a row it lists does.
        let digest = Sha256::digest(format!("{}{}", query["updated_since"], json!(rows)));
        let etag = format!("\"{}\"", &hex::encode(digest)[..16]);
        let if_none_match = header("if-none-match").map(str::to_owned);
        let mut served = Served {
            since: query["updated_since"].clone(),
            cursor: cursor.clone(),
            if_none_match: if_none_match.clone(),
            status: 304,
            etag: None,
        };
        if cursor.is_none() && if_none_match.as_deref() == Some(etag.as_str()) {
            self.served.lock().unwrap().push(served);
            return ResponseTemplate::new(304).insert_header("etag", etag.as_str());
        }
        let start: usize = cursor.map_or(0, |c| c.trim_start_matches("c").parse().unwrap());
        let end = rows.len().min(start + limit.min(4));
        let next = (end < rows.len()).then(|| format!("c{end}"));
        served.status = 200;
        served.etag = Some(etag.clone());
        self.served.lock().unwrap().push(served);
        ResponseTemplate::new(200)
            .insert_header("etag", etag.as_str())
            .set_body_json(json!({"data": rows[start..end], "next_cursor": next}))
    }
}

/// The mock ERP: its two lists.
pub(super) struct Erp {
    pub(super) server: MockServer,
    pub(super) products: ErpList,
    pub(super) stock: ErpList,
}

impl Erp {
    pub(super) async fn start(products: Vec<Value>, stock: Vec<Value>) -> Self {
        let erp = Self {
            server: MockServer::start().await,
            products: ErpList::new(products),
            stock: ErpList::new(stock),
        };
        erp.mount().await;
        erp
    }

    pub(super) async fn mount(&self) {
        for (path, list) in [("/products", &self.products), ("/stock", &self.stock)] {
            Mock::given(matchers::method("GET"))
                .and(matchers::path(path))
                .respond_with(list.clone())
                .mount(&self.server)
                .await;
        }
    }

    pub(super) fn pull(&self, app: &App) -> ErpCatalogPull {
        let config: ErpConfig = serde_json::from_value(json!({
            "base_url": self.server.uri(),
            "secret": PULL_SECRET,
        }))
        .unwrap();
        assert_eq!(config.catalog_pull_every_secs, 600, "the default");
        ErpCatalogPull::new(&config, app.state.inbox().clone(), app.state.wake()).unwrap()
    }
}
