//! A running `/api/v1` on a real SQLite file and a real TCP port, the
//! shipped scenarios stored as `relance serve` stores them, a scheduler to
//! apply what the API records, and a small HTTP client.

#![allow(dead_code)]

use std::path::PathBuf;
use std::sync::Arc;

use chrono::{DateTime, TimeZone, Utc};
use relance::api::auth::{Role, Scope, create_token};
use relance::api::{AppState, router};
use relance::money::RateTable;
use relance::runtime::service::Templates;
use relance::runtime::{Clock, Metrics, ScenarioSet, Scheduler, SchedulerSettings};
use relance::store::Store;
use relance::templates::TemplateStore;
use serde_json::Value;
use tokio::sync::Notify;

use super::support;

pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The tests' "now": a Tuesday morning in Paris.
pub fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 12, 1, 9, 0, 0).unwrap()
}

/// An answer: status, content type and body (JSON when it parses).
#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    pub content_type: String,
    pub text: String,
    pub json: Value,
}

pub struct Api {
    pub addr: std::net::SocketAddr,
    pub store: Store,
    pub scenarios: Arc<ScenarioSet>,
    pub clock: Clock,
    pub admin: String,
    server: tokio::task::JoinHandle<()>,
}

impl Drop for Api {
    fn drop(&mut self) {
        self.server.abort();
    }
}

impl Api {
    /// A fresh database with the shipped scenarios, served on 127.0.0.1.
    pub async fn start(name: &str) -> Api {
        let (store, _) = support::sqlite_store(name).await;
        Api::on(store).await
    }

    /// The same on a fresh PostgreSQL database, when a server is there.
    pub async fn start_postgres(name: &str) -> Option<Api> {
        let store = support::postgres_store(name).await?;
        Some(Api::on(store).await)
    }

    async fn on(store: Store) -> Api {
        let templates = Arc::new(TemplateStore::load(&root().join("templates")).unwrap());
        let lookup = Templates(templates);
        let scenarios = ScenarioSet::load(&root().join("scenarios"), Some(&lookup), &store, 0)
            .await
            .unwrap();
        let clock = Clock::fixed(now());
        let app = router(
            AppState {
                store: store.clone(),
                metrics: Arc::new(Metrics::default()),
                notify: Arc::new(Notify::new()),
                clock: clock.clone(),
                inbound: Default::default(),
            },
            1 << 20,
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let server = tokio::spawn(async move {
            axum::serve(listener, app).await.unwrap();
        });
        let admin = create_token(&store, Role::Admin, &Scope::All, "test admin", 0)
            .await
            .unwrap()
            .secret;
        Api {
            addr,
            store,
            scenarios: Arc::new(scenarios),
            clock,
            admin,
            server,
        }
    }

    /// A new token's secret.
    pub async fn token(&self, role: Role, clients: &[&str]) -> String {
        let scope = if clients == ["*"] {
            Scope::All
        } else {
            Scope::Clients(clients.iter().map(|c| c.to_string()).collect())
        };
        create_token(&self.store, role, &scope, "test", 0)
            .await
            .unwrap()
            .secret
    }

    /// One request over a fresh connection.
    pub async fn call(&self, method: &str, path: &str, token: Option<&str>, body: &str) -> Reply {
        let auth = token.map(|t| format!("Bearer {t}"));
        let content_type = if path.starts_with("/api/v1/scenarios") {
            "application/yaml"
        } else {
            "application/json"
        };
        let mut headers = vec![("Content-Type", content_type)];
        if let Some(auth) = &auth {
            headers.push(("Authorization", auth.as_str()));
        }
        let answer =
            support::http::request(self.addr, method, path, &headers, body.as_bytes()).await;
        Reply {
            status: answer.status,
            content_type: answer.content_type,
            json: serde_json::from_str(&answer.body).unwrap_or(Value::Null),
            text: answer.body,
        }
    }

    /// As admin.
    pub async fn admin(&self, method: &str, path: &str, body: &str) -> Reply {
        let token = self.admin.clone();
        self.call(method, path, Some(&token), body).await
    }

    /// Runs the scheduler until nothing is left to do now.
    pub async fn step(&self) {
        let scheduler = Scheduler {
            store: self.store.clone(),
            scenarios: self.scenarios.clone(),
            rates: Arc::new(RateTable::builtin()),
            owner: "test".into(),
            settings: SchedulerSettings::default(),
            clock: self.clock.clone(),
            notify: Arc::new(Notify::new()),
            metrics: Arc::new(Metrics::default()),
        };
        while scheduler.run_once().await.unwrap() > 0 {}
    }

    /// Client `acme` (FR) with company debtor `D-1` and its invoice
    /// `INV-1` of 1200.00 EUR, due ten days ago: case `acme/D-1`.
    pub async fn seed(&self) {
        self.seed_client("acme", "FR").await;
        self.seed_debtor("acme", "D-1").await;
        self.seed_invoice("acme", "D-1", "INV-1", "1200.00").await;
    }

    pub async fn seed_client(&self, id: &str, country: &str) {
        let r = self
            .admin(
                "POST",
                "/api/v1/clients",
                &format!(r#"{{"id": "{id}", "name": "Client {id}", "country": "{country}"}}"#),
            )
            .await;
        assert_eq!(r.status, 201, "{}", r.text);
    }

    pub async fn seed_debtor(&self, client: &str, id: &str) {
        let body = format!(
            r#"{{"id": "{id}", "kind": "company", "name": "Debtor {id} SARL", "country": "FR",
                "email": "compta@{}.example", "address": {{"lines": ["1 rue de la Paix"], "postcode": "75002", "city": "Paris"}}}}"#,
            id.to_lowercase()
        );
        let r = self
            .admin("POST", &format!("/api/v1/clients/{client}/debtors"), &body)
            .await;
        assert_eq!(r.status, 201, "{}", r.text);
    }

    pub async fn seed_invoice(
        &self,
        client: &str,
        debtor: &str,
        number: &str,
        amount: &str,
    ) -> Reply {
        let body = format!(
            r#"{{"invoices": [{{"client_id": "{client}", "debtor_id": "{debtor}", "number": "{number}",
                "issued": "2026-10-22", "due": "2026-11-21", "amount": "{amount}", "currency": "EUR"}}]}}"#
        );
        let r = self.admin("POST", "/api/v1/invoices", &body).await;
        assert_eq!(r.status, 201, "{}", r.text);
        r
    }

    /// The audit log's actions, oldest first.
    pub async fn audit_actions(&self) -> Vec<(String, String)> {
        self.store
            .audit_log(0, 10_000, None)
            .await
            .unwrap()
            .into_iter()
            .map(|a| (a.action, a.subject))
            .collect()
    }
}

/// A path segment with `/` and other reserved characters percent-encoded.
pub fn seg(id: &str) -> String {
    let mut out = String::new();
    for b in id.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}
