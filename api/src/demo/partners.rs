//! The simulated partners: one HTTP server on 127.0.0.1 playing the APIs the service's outbound
//! destinations call (Stripe, EasyPost, the ERP, the CRM, the SMS provider; each under its own
//! path prefix, checking the credentials the service was configured with), an SMTP sink for
//! the e-mails, and the senders of each partner's signed webhooks to the service's
//! `/webhooks/{source}`, signed with the secrets the service verifies.
//!
//! Stripe, EasyPost and the ERP live in their own files; the CRM and the SMS provider only take
//! calls and are here.

use std::{
    collections::HashMap,
    net::SocketAddr,
    sync::{Arc, Mutex, MutexGuard, PoisonError},
    time::Duration,
};

use adapters::inbound::signature::{EasyPostVerifier, StandardWebhooksVerifier, StripeVerifier};
use anyhow::Context as _;
use axum::{
    body::Bytes,
    extract::{Path, State},
    http::{header, HeaderMap, StatusCode},
    response::{IntoResponse, Response},
    routing::{get, post},
    Json, Router,
};
use chrono::{SecondsFormat, Utc};
use rand::{distributions::Alphanumeric, Rng as _};
use serde_json::{json, Value};
use tokio::net::TcpListener;

use super::{data::Customer, easypost, erp, smtp, stripe};

/// The partners, shared by their server and the demo's driver.
#[derive(Debug, Clone)]
pub struct Partners {
    inner: Arc<Inner>,
}

#[derive(Debug)]
pub(super) struct Inner {
    /// Where the partners' server listens (`http://127.0.0.1:<port>`).
    pub base: String,
    /// Where the SMTP sink listens.
    pub smtp: SocketAddr,
    /// Where the service is (`http://127.0.0.1:8080`), for the webhooks.
    pub backoffice: String,
    pub client: reqwest::Client,
    pub keys: Keys,
    pub signers: Signers,
    pub stripe: Mutex<stripe::Book>,
    pub easypost: Mutex<easypost::Book>,
    pub erp: Mutex<erp::Book>,
}

/// The secrets of this run, each made at random when the demo starts.
#[derive(Debug)]
pub(super) struct Keys {
    /// Webhook signing secrets, per source.
    pub stripe_webhook: String,
    pub easypost_webhook: String,
    pub erp_webhook: String,
    pub crm_webhook: String,
    /// What the service sends the partners' APIs.
    pub stripe_api: String,
    pub easypost_api: String,
    pub erp_outbound: String,
    pub crm_token: String,
    pub sms_sid: String,
    pub sms_token: String,
    /// The `Authorization` values the APIs expect.
    pub stripe_authorization: String,
    pub easypost_authorization: String,
    pub crm_authorization: String,
    pub sms_authorization: String,
}

/// How the partners sign what they send, and how the ERP checks what the service sends it.
#[derive(Debug)]
pub(super) struct Signers {
    pub stripe: StripeVerifier,
    pub easypost: EasyPostVerifier,
    pub erp: StandardWebhooksVerifier,
    pub crm: StandardWebhooksVerifier,
    /// Verifies the service's sales-order calls (it signs them as a Standard Webhooks sender).
    pub erp_inbound: StandardWebhooksVerifier,
}

/// A webhook source, as the service's route names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Source {
    Stripe,
    EasyPost,
    Erp,
    Crm,
}

impl Source {
    fn name(self) -> &'static str {
        match self {
            Self::Stripe => "stripe",
            Self::EasyPost => "easypost",
            Self::Erp => "erp",
            Self::Crm => "crm",
        }
    }
}

/// `n` random letters and digits.
pub(super) fn random(n: usize) -> String {
    rand::thread_rng()
        .sample_iter(&Alphanumeric)
        .take(n)
        .map(char::from)
        .collect()
}

/// `n` random decimal digits.
pub(super) fn digits(n: usize) -> String {
    let mut rng = rand::thread_rng();
    (0..n)
        .map(|_| char::from(b'0' + rng.gen_range(0..10u8)))
        .collect()
}

/// Now, as the partners write a time (RFC 3339, whole seconds, UTC).
pub(super) fn now_text() -> String {
    Utc::now().to_rfc3339_opts(SecondsFormat::Secs, true)
}

/// Locks a partner's book (a panic while it was held leaves it as it was).
pub(super) fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// A JSON answer.
pub(super) fn answer(status: u16, body: Value) -> Response {
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    (status, Json(body)).into_response()
}

/// Whether the request carries `expected` as its `Authorization`.
pub(super) fn authorized(headers: &HeaderMap, expected: &str) -> bool {
    headers
        .get(header::AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        .is_some_and(|value| value == expected)
}

/// A form body's fields.
pub(super) fn form(body: &[u8]) -> HashMap<String, String> {
    form_urlencoded::parse(body).into_owned().collect()
}

/// The `Authorization: Basic` value for `user` and `password`, as a client sends it.
fn basic(user: &str, password: Option<&str>) -> anyhow::Result<String> {
    let request = reqwest::Client::new()
        .get("http://127.0.0.1/")
        .basic_auth(user, password)
        .build()?;
    let value = request
        .headers()
        .get(header::AUTHORIZATION)
        .context("no Authorization header")?;
    Ok(value.to_str()?.to_owned())
}

impl Keys {
    fn new() -> anyhow::Result<Self> {
        let easypost_api = format!("EZTK{}", random(32));
        let sms_sid = format!("AC{}", random(32));
        let sms_token = random(32);
        let stripe_api = format!("sk_test_{}", random(32));
        let crm_token = random(40);
        Ok(Self {
            stripe_webhook: format!("whsec_{}", random(32)),
            easypost_webhook: random(32),
            // Standard Webhooks secrets are base64 after `whsec_`: 32 letters and digits are.
            erp_webhook: format!("whsec_{}", random(32)),
            crm_webhook: format!("whsec_{}", random(32)),
            erp_outbound: format!("whsec_{}", random(32)),
            stripe_authorization: format!("Bearer {stripe_api}"),
            easypost_authorization: basic(&easypost_api, None)?,
            crm_authorization: format!("Bearer {crm_token}"),
            sms_authorization: basic(&sms_sid, Some(&sms_token))?,
            stripe_api,
            easypost_api,
            crm_token,
            sms_sid,
            sms_token,
        })
    }
}

impl Partners {
    /// Starts the partners' server and SMTP sink on 127.0.0.1 (ports of their own), sending
    /// webhooks to the service at `backoffice`.
    pub async fn start(backoffice: String) -> anyhow::Result<Self> {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .context("while binding the simulated partners' address")?;
        let smtp_listener = TcpListener::bind("127.0.0.1:0")
            .await
            .context("while binding the simulated mail server's address")?;
        let keys = Keys::new()?;
        let standard = |secret: &str| {
            StandardWebhooksVerifier::new(secret)
                .map_err(|e| anyhow::anyhow!("a demo secret is unusable: {e}"))
        };
        let signers = Signers {
            stripe: StripeVerifier::new(&keys.stripe_webhook)
                .map_err(|e| anyhow::anyhow!("a demo secret is unusable: {e}"))?,
            easypost: EasyPostVerifier::new(&keys.easypost_webhook)
                .map_err(|e| anyhow::anyhow!("a demo secret is unusable: {e}"))?,
            erp: standard(&keys.erp_webhook)?,
            crm: standard(&keys.crm_webhook)?,
            erp_inbound: standard(&keys.erp_outbound)?,
        };
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .build()
            .context("while making the partners' HTTP client")?;
        let partners = Self {
            inner: Arc::new(Inner {
                base: format!("http://{}", listener.local_addr()?),
                smtp: smtp_listener.local_addr()?,
                backoffice,
                client,
                keys,
                signers,
                stripe: Mutex::default(),
                easypost: Mutex::default(),
                erp: Mutex::new(erp::Book::new()),
            }),
        };
        let router = partners.router();
        tokio::spawn(async move {
            let limits = api::server::Limits::default();
            if let Err(error) =
                api::server::serve(listener, router, limits, std::future::pending()).await
            {
                tracing::error!(%error, "the simulated partners stopped");
            }
        });
        tokio::spawn(smtp::serve(smtp_listener));
        Ok(partners)
    }

    pub(super) fn inner(&self) -> &Inner {
        &self.inner
    }

    /// Where the partners' server listens.
    pub fn base(&self) -> &str {
        &self.inner.base
    }

    /// Where the SMTP sink listens.
    pub fn smtp(&self) -> SocketAddr {
        self.inner.smtp
    }

    /// The service's `[webhooks]` section: the secrets the partners sign with.
    pub fn webhook_secrets(&self) -> Value {
        let keys = &self.inner.keys;
        json!({
            "stripe": keys.stripe_webhook,
            "easypost": keys.easypost_webhook,
            "erp": keys.erp_webhook,
            "crm": keys.crm_webhook,
        })
    }

    /// The service's `[outbound]` section: every destination at its simulated partner (the
    /// NATS event stream excepted), with no pulls (the partners' webhooks miss nothing).
    pub fn outbound(&self) -> Value {
        let (base, keys) = (&self.inner.base, &self.inner.keys);
        json!({
            "stripe": {
                "base_url": format!("{base}/stripe"),
                "secret_key": keys.stripe_api,
                "pull_every_secs": 0,
            },
            "easypost": {
                "base_url": format!("{base}/easypost"),
                "api_key": keys.easypost_api,
                "tracker_pull_every_secs": 0,
                "parcel": {"length_in": 10, "width_in": 8, "height_in": 4, "weight_oz": 16},
                "from_address": easypost::warehouse(),
            },
            "erp": {
                "base_url": format!("{base}/erp"),
                "secret": keys.erp_outbound,
                "catalog_pull_every_secs": 0,
            },
            "crm": {"base_url": format!("{base}/crm"), "token": keys.crm_token},
            "sms": {
                "base_url": format!("{base}/sms"),
                "account_sid": keys.sms_sid,
                "auth_token": keys.sms_token,
                "from": "+15005550006",
            },
            "email": {
                "smtp_url": format!("smtp://{}", self.inner.smtp),
                "from": "Demo Shop <orders@shop.example>",
            },
        })
    }

    fn router(&self) -> Router {
        Router::new()
            .route(
                "/stripe/v1/payment_intents/{id}/capture",
                post(stripe::capture),
            )
            .route(
                "/stripe/v1/payment_intents/{id}/cancel",
                post(stripe::cancel),
            )
            .route("/stripe/v1/refunds", post(stripe::refund))
            .route(
                "/easypost/v2/shipments",
                get(easypost::list).post(easypost::create),
            )
            .route("/easypost/v2/shipments/{id}", get(easypost::show))
            .route("/easypost/v2/shipments/{id}/buy", post(easypost::buy))
            .route("/easypost/labels/{file}", get(easypost::label))
            .route("/erp/sales-orders", post(erp::sales_order))
            .route("/erp/sales-orders/{id}/{what}", post(erp::sales_order_news))
            .route("/crm/customers/{id}/activities", post(crm_activity))
            .route(
                "/sms/2010-04-01/Accounts/{sid}/Messages.json",
                post(sms_message),
            )
            .with_state(self.clone())
    }

    /// Sends a webhook of `source` with `body`, signed as that partner signs, as a partner
    /// does: again with growing pauses until the service takes it (a 2xx), six times at most.
    pub(super) async fn deliver(&self, source: Source, body: &Value) -> anyhow::Result<()> {
        let inner = &self.inner;
        let body = serde_json::to_vec(body)?;
        let url = format!("{}/webhooks/{}", inner.backoffice, source.name());
        // Standard Webhooks: one id per message, the same on every attempt.
        let message_id = format!("msg_{}", random(24));
        let mut pause = Duration::from_secs(1);
        let mut last = String::new();
        for attempt in 1..=6 {
            let now = Utc::now().timestamp();
            let mut request = inner
                .client
                .post(&url)
                .header(header::CONTENT_TYPE, "application/json")
                .body(body.clone());
            request = match source {
                Source::Stripe => {
                    request.header("Stripe-Signature", inner.signers.stripe.sign(now, &body))
                }
                Source::EasyPost => {
                    request.header("X-Hmac-Signature", inner.signers.easypost.sign(&body))
                }
                Source::Erp | Source::Crm => {
                    let signer = if source == Source::Erp {
                        &inner.signers.erp
                    } else {
                        &inner.signers.crm
                    };
                    request
                        .header("webhook-id", &message_id)
                        .header("webhook-timestamp", now.to_string())
                        .header("webhook-signature", signer.sign(&message_id, now, &body))
                }
            };
            match request.send().await {
                Ok(response) if response.status().is_success() => return Ok(()),
                Ok(response) => last = format!("answered {}", response.status()),
                Err(error) => last = error.to_string(),
            }
            if attempt < 6 {
                tokio::time::sleep(pause).await;
                pause *= 2;
            }
        }
        anyhow::bail!(
            "the service did not take a {} webhook: {last}",
            source.name()
        )
    }

    /// Sends a webhook after `delay`, in the background (as a partner does after answering a
    /// call).
    pub(super) fn deliver_later(&self, source: Source, body: Value, delay: Duration) {
        let partners = self.clone();
        tokio::spawn(async move {
            tokio::time::sleep(delay).await;
            if let Err(error) = partners.deliver(source, &body).await {
                tracing::warn!(error = %format!("{error:#}"), "a simulated partner gave up on a webhook");
            }
        });
    }

    /// The CRM tells the service a customer's contact (`contact.updated`, the whole contact).
    pub async fn crm_contact(&self, customer: &Customer) -> anyhow::Result<()> {
        let body = json!({
            "type": "contact.updated",
            "timestamp": now_text(),
            "data": {
                "customer_id": customer.id(),
                "name": customer.name,
                "email": customer.email,
                "phone": customer.phone,
            },
        });
        self.deliver(Source::Crm, &body).await
    }
}

/// The CRM's activity API: an activity on the customer's timeline.
async fn crm_activity(
    State(partners): State<Partners>,
    Path(_customer): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if !authorized(&headers, &partners.inner.keys.crm_authorization) {
        return answer(401, json!({"error": "invalid token"}));
    }
    let Ok(activity) = serde_json::from_slice::<Value>(&body) else {
        return answer(400, json!({"error": "the body is not JSON"}));
    };
    answer(
        201,
        json!({"id": format!("act_{}", random(16)), "type": activity["type"], "status": "created"}),
    )
}

/// The SMS provider's API: a text message queued.
async fn sms_message(
    State(partners): State<Partners>,
    Path(sid): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let keys = &partners.inner.keys;
    if sid != keys.sms_sid || !authorized(&headers, &keys.sms_authorization) {
        return answer(
            401,
            json!({"code": 20003, "message": "Authenticate", "status": 401}),
        );
    }
    let fields = form(&body);
    let field = |name: &str| fields.get(name).cloned().unwrap_or_default();
    answer(
        201,
        json!({
            "sid": format!("SM{}", random(32)),
            "account_sid": sid,
            "to": field("To"),
            "from": field("From"),
            "body": field("Body"),
            "status": "queued",
            "date_created": Utc::now().to_rfc2822(),
        }),
    )
}
