//! A rig for incoming partner webhooks: a real SQLite store holding the example French
//! company case, `api::router` on 127.0.0.1 with `webhooks_in` sources read from YAML,
//! signing helpers, and a raw HTTP client that sends exactly the bytes it is given.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use hmac::{KeyInit, Mac};
use relance::api::{AppState, InboundSources, router};
use relance::config::Config;
use relance::engine::{Engine, Instance};
use relance::money::RateTable;
use relance::runtime::service::Templates;
use relance::runtime::{Clock, Metrics, ScenarioSet, Scheduler, SchedulerSettings, import_batch};
use relance::simulate;
use relance::store::Store;
use relance::templates::TemplateStore;
use rust_decimal::Decimal;
use sea_orm::{ConnectionTrait, Statement};
use tokio::sync::Notify;

type HmacSha256 = hmac::Hmac<sha2_hmac::Sha256>;

/// The Standard Webhooks secret the rig's `partner`, `agent`, `insurer` and `smtp` sources
/// use, and the one they used before a rotation (both accepted).
pub const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
pub const OLD_SECRET: &str = "whsec_c2VjcmV0LWJlZm9yZS10aGUtcm90YXRpb24=";
/// The Stripe endpoint secret of the rig's `stripe` source.
pub const STRIPE_SECRET: &str = "whsec_test_secret";

/// The `webhooks_in` the rig serves.
pub const SOURCES: &str = r#"
webhooks_in:
  stripe:
    kind: stripe
    source: payment
    secrets_env: [T_STRIPE]
    client_id: acme
  bank:
    kind: standard
    source: bank
    secrets_env: [T_NEW, T_OLD]
    client_id: acme
  agent:
    kind: standard
    source: agent
    secrets_env: [T_NEW]
    client_id: acme
  insurer:
    kind: standard
    source: insurer
    secrets_env: [T_NEW]
  smtp:
    kind: standard
    source: email
    secrets_env: [T_NEW]
"#;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Unix seconds now, as a partner's clock reads it.
pub fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

/// The `webhook-signature` of a Standard Webhooks delivery, computed here with the HMAC
/// directly rather than through relance.
pub fn standard_signature(secret: &str, id: &str, ts: i64, body: &[u8]) -> String {
    let key = BASE64
        .decode(secret.strip_prefix("whsec_").unwrap_or(secret))
        .unwrap();
    format!("v1,{}", BASE64.encode(hmac(&key, id, ts, body)))
}

fn hmac(key: &[u8], id: &str, ts: i64, body: &[u8]) -> Vec<u8> {
    let mut mac = HmacSha256::new_from_slice(key).unwrap();
    mac.update(format!("{id}.{ts}.").as_bytes());
    mac.update(body);
    mac.finalize().into_bytes().to_vec()
}

/// The three Standard Webhooks headers for a delivery signed with `secret`.
pub fn standard_headers(secret: &str, id: &str, ts: i64, body: &[u8]) -> Vec<(String, String)> {
    vec![
        ("webhook-id".into(), id.into()),
        ("webhook-timestamp".into(), ts.to_string()),
        (
            "webhook-signature".into(),
            standard_signature(secret, id, ts, body),
        ),
    ]
}

/// The `Stripe-Signature` of a body, computed here: hex HMAC-SHA256 of `ts.body` keyed
/// with the whole secret text.
pub fn stripe_signature(secret: &str, ts: i64, body: &[u8]) -> String {
    let mut mac = HmacSha256::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(format!("{ts}.").as_bytes());
    mac.update(body);
    let hex: String = mac
        .finalize()
        .into_bytes()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    format!("t={ts},v1={hex}")
}

pub use super::http::Answer;

/// One POST over a fresh connection, with exactly these headers and body bytes.
pub async fn post(
    addr: std::net::SocketAddr,
    path: &str,
    headers: &[(String, String)],
    body: &[u8],
) -> Answer {
    let headers: Vec<(&str, &str)> = headers
        .iter()
        .map(|(n, v)| (n.as_str(), v.as_str()))
        .collect();
    super::http::request(addr, "POST", path, &headers, body).await
}

/// A served store with the example case (client `acme`, debtor `D-1001`, invoices
/// `F-2026-0142` 1250.00 and `F-2026-0178` 480.50 EUR).
pub struct Rig {
    pub store: Store,
    /// The SQLite file of the store.
    pub db: std::path::PathBuf,
    pub addr: std::net::SocketAddr,
    pub instance: String,
    server: tokio::task::JoinHandle<()>,
    scenarios: Arc<ScenarioSet>,
    rates: Arc<RateTable>,
    clock: Clock,
}

impl Drop for Rig {
    fn drop(&mut self) {
        self.server.abort();
    }
}

impl Rig {
    /// A rig whose clock stands one day after the case opened.
    pub async fn start(name: &str) -> Rig {
        Rig::start_at(name, 1).await
    }

    /// A rig whose clock stands `days` after the case opened.
    pub async fn start_at(name: &str, days: i64) -> Rig {
        let (store, db) = super::sqlite_store(name).await;
        let templates = Arc::new(TemplateStore::load(&root().join("templates")).unwrap());
        let lookup = Templates(templates);
        let scenarios = Arc::new(
            ScenarioSet::load(&root().join("scenarios"), Some(&lookup), &store, 0)
                .await
                .unwrap(),
        );
        let rates = Arc::new(RateTable::builtin());

        let file = "examples/case-fr-company.yaml";
        let text = std::fs::read_to_string(root().join(file)).unwrap();
        let parsed = simulate::parse_case(file, &text).unwrap();
        let opened = simulate::opened_at(&parsed);
        let engine = Engine {
            rules: scenarios.rules(),
            rates: &rates,
        };
        let current: Vec<_> = scenarios.current().iter().map(|s| (**s).clone()).collect();
        let sc = engine
            .choose(&current, &parsed.case, opened)
            .unwrap()
            .unwrap();
        let started = engine.start(sc, parsed.case.clone(), opened).unwrap();
        let instance = started.instance.id.clone();
        let batch = import_batch(&[(parsed.case, sc, started)], opened);
        store
            .import(&batch, opened.timestamp_millis())
            .await
            .unwrap();

        let config = Config::from_str("test.yaml", SOURCES).unwrap();
        let env: BTreeMap<&str, &str> = [
            ("T_STRIPE", STRIPE_SECRET),
            ("T_NEW", SECRET),
            ("T_OLD", OLD_SECRET),
        ]
        .into();
        let inbound =
            InboundSources::from_config(&config.webhooks_in, |n| env.get(n).map(|v| v.to_string()))
                .unwrap();
        let clock = Clock::fixed(opened + chrono::Duration::days(days));
        let app = router(
            AppState {
                store: store.clone(),
                metrics: Arc::new(Metrics::default()),
                notify: Arc::new(Notify::new()),
                clock: clock.clone(),
                inbound: Arc::new(inbound),
            },
            64 * 1024,
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let server = tokio::spawn(async move {
            axum::serve(listener, app).await.unwrap();
        });
        Rig {
            db,
            store,
            addr,
            instance,
            server,
            scenarios,
            rates,
            clock,
        }
    }

    /// POSTs to `/api/v1/webhooks/{source}`.
    pub async fn webhook(&self, source: &str, headers: &[(String, String)], body: &[u8]) -> Answer {
        post(
            self.addr,
            &format!("/api/v1/webhooks/{source}"),
            headers,
            body,
        )
        .await
    }

    /// Rows in a table.
    pub async fn count(&self, table: &str) -> i64 {
        let row = self
            .store
            .connection()
            .query_one_raw(Statement::from_string(
                self.store.backend(),
                format!("SELECT COUNT(*) FROM {table}"),
            ))
            .await
            .unwrap()
            .unwrap();
        row.try_get_by_index(0).unwrap()
    }

    /// Events and deliveries stored, together.
    pub async fn stored(&self) -> (i64, i64) {
        (
            self.count("events").await,
            self.count("webhook_deliveries").await,
        )
    }

    /// Runs the scheduler until nothing is left to do at the rig's time.
    pub async fn apply(&self) {
        let scheduler = Scheduler {
            store: self.store.clone(),
            scenarios: self.scenarios.clone(),
            rates: self.rates.clone(),
            owner: "s".into(),
            settings: SchedulerSettings::default(),
            clock: self.clock.clone(),
            notify: Arc::new(Notify::new()),
            metrics: Arc::new(Metrics::default()),
        };
        while scheduler.run_once().await.unwrap() > 0 {}
    }

    /// Runs the scheduler, then gives the key of the case's first outbox row.
    pub async fn first_outbox_key(&self) -> String {
        self.apply().await;
        let outbox = self.store.outbox_of(&self.instance).await.unwrap();
        let (key, _, _) = outbox.first().expect("a step wrote to the outbox");
        key.clone()
    }

    /// The case's stored state.
    pub async fn state(&self) -> Instance {
        let (_, _, state) = self
            .store
            .instance_state(&self.instance)
            .await
            .unwrap()
            .unwrap();
        serde_json::from_str(&state).unwrap()
    }

    pub async fn balance(&self) -> Decimal {
        self.state().await.balance()
    }
}
