//! Delivery receipts over HTTP: a receipt is matched to the message relance sent, becomes
//! the scenario's `message.*` event once however often it is posted, and a bounced email
//! leads the case to its fallback letter.

mod support;

use std::path::PathBuf;
use std::sync::Arc;

use chrono::{DateTime, TimeZone, Utc};
use relance::api::{AppState, router};
use relance::channels::{Adapters, LogChannel};
use relance::engine::Engine;
use relance::money::RateTable;
use relance::runtime::service::Templates;
use relance::runtime::{
    Clock, Dispatcher, DispatcherSettings, Metrics, ScenarioSet, Scheduler, SchedulerSettings,
    import_batch,
};
use relance::simulate;
use relance::store::Store;
use relance::templates::TemplateStore;
use tokio::sync::Notify;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn utc(ms: i64) -> DateTime<Utc> {
    Utc.timestamp_millis_opt(ms).single().unwrap()
}

/// One POST over a fresh connection: (status, content type, body).
async fn post(addr: std::net::SocketAddr, path: &str, body: &str) -> (u16, String, String) {
    let answer = support::http::request(addr, "POST", path, &[], body.as_bytes()).await;
    (answer.status, answer.content_type, answer.body)
}

struct Rig {
    store: Store,
    scenarios: Arc<ScenarioSet>,
    templates: Arc<TemplateStore>,
    rates: Arc<RateTable>,
    metrics: Arc<Metrics>,
}

impl Rig {
    async fn new(store: Store) -> Rig {
        let templates = Arc::new(TemplateStore::load(&root().join("templates")).unwrap());
        let lookup = Templates(templates.clone());
        let scenarios = ScenarioSet::load(&root().join("scenarios"), Some(&lookup), &store, 0)
            .await
            .unwrap();
        Rig {
            store,
            scenarios: Arc::new(scenarios),
            templates,
            rates: Arc::new(RateTable::builtin()),
            metrics: Arc::new(Metrics::default()),
        }
    }

    /// Imports the example French company case; returns its instance id.
    async fn import_example(&self) -> String {
        let file = "examples/case-fr-company.yaml";
        let text = std::fs::read_to_string(root().join(file)).unwrap();
        let parsed = simulate::parse_case(file, &text).unwrap();
        let opened = simulate::opened_at(&parsed);
        let engine = Engine {
            rules: self.scenarios.rules(),
            rates: &self.rates,
        };
        let current: Vec<_> = self
            .scenarios
            .current()
            .iter()
            .map(|s| (**s).clone())
            .collect();
        let sc = engine
            .choose(&current, &parsed.case, opened)
            .unwrap()
            .unwrap();
        assert_eq!(sc.name, "b2b-france");
        let started = engine.start(sc, parsed.case.clone(), opened).unwrap();
        let id = started.instance.id.clone();
        let batch = import_batch(&[(parsed.case, sc, started)], opened);
        self.store
            .import(&batch, opened.timestamp_millis())
            .await
            .unwrap();
        id
    }

    fn scheduler(&self, clock: Clock) -> Scheduler {
        Scheduler {
            store: self.store.clone(),
            scenarios: self.scenarios.clone(),
            rates: self.rates.clone(),
            owner: "s".into(),
            settings: SchedulerSettings::default(),
            clock,
            notify: Arc::new(Notify::new()),
            metrics: self.metrics.clone(),
        }
    }

    fn dispatcher(&self, adapters: Adapters, clock: Clock) -> Dispatcher {
        Dispatcher {
            store: self.store.clone(),
            adapters,
            templates: self.templates.clone(),
            owner: "d".into(),
            settings: DispatcherSettings::default(),
            clock,
            metrics: self.metrics.clone(),
            partners: Default::default(),
            limiter: Default::default(),
        }
    }

    async fn serve(&self, clock: Clock) -> (std::net::SocketAddr, tokio::task::JoinHandle<()>) {
        let app = router(
            AppState {
                store: self.store.clone(),
                metrics: self.metrics.clone(),
                notify: Arc::new(Notify::new()),
                clock,
                inbound: Default::default(),
            },
            64 * 1024,
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let server = tokio::spawn(async move {
            axum::serve(listener, app).await.unwrap();
        });
        (addr, server)
    }
}

#[tokio::test]
async fn a_bounced_reminder_email_falls_back_to_a_letter_once() {
    let (store, _) = support::sqlite_store("receipts").await;
    let rig = Rig::new(store).await;
    let id = rig.import_example().await;

    // Run until the first email is due and "sent" through the log adapter.
    let log = Arc::new(LogChannel::new());
    let mut email_key = None;
    let mut now = utc(0);
    for _ in 0..20 {
        let wake = utc(rig.store.next_wake().await.unwrap().unwrap());
        now = wake;
        let clock = Clock::fixed(wake);
        while rig.scheduler(clock.clone()).run_once().await.unwrap() > 0 {}
        rig.dispatcher(Adapters::new(log.clone()), clock)
            .run_once()
            .await
            .unwrap();
        let outbox = rig.store.outbox_of(&id).await.unwrap();
        if let Some((key, _, _)) = outbox
            .iter()
            .find(|(_, channel, status)| channel == "email" && status == "sent")
        {
            email_key = Some(key.clone());
            break;
        }
    }
    let key = email_key.expect("an email went out");
    assert!(log.sent().iter().any(|m| m.key == key));

    let later = Clock::fixed(now + chrono::Duration::hours(1));
    let (addr, server) = rig.serve(later.clone()).await;
    let bounce =
        format!(r#"{{"key": "{key}", "status": "bounced", "reason": "550 no such user"}}"#);
    let (status, _, body) = post(addr, "/api/v1/receipts/smtp", &bounce).await;
    assert_eq!(status, 202, "{body}");
    let (status, _, body) = post(addr, "/api/v1/receipts/smtp", &bounce).await;
    assert_eq!((status, body.contains("duplicate")), (200, true), "{body}");

    let unknown = r#"{"key": "nope", "status": "bounced"}"#;
    let (status, content_type, body) = post(addr, "/api/v1/receipts/smtp", unknown).await;
    assert_eq!(status, 404, "{body}");
    assert_eq!(content_type, "application/problem+json");
    assert!(body.contains("message_not_found"), "{body}");
    let (status, _, _) = post(addr, "/api/v1/receipts/pigeon", &bounce).await;
    assert_eq!(status, 404);
    let (status, _, _) = post(addr, "/api/v1/receipts/smtp", r#"{"key": "x"}"#).await;
    assert_eq!(status, 400, "a receipt needs a status");
    server.abort();

    while rig.scheduler(later.clone()).run_once().await.unwrap() > 0 {}
    let journal = rig.store.journal(&id).await.unwrap();
    let bounces = journal
        .iter()
        .filter(|e| e.kind == "event" && e.detail.contains("bounced"))
        .count();
    assert_eq!(bounces, 1, "applied once: {journal:#?}");
    assert!(
        journal
            .iter()
            .any(|e| e.channel.as_deref() == Some("letter")
                && e.template.as_deref() == Some("reminder_letter")),
        "a fallback letter: {journal:#?}"
    );
    let outbox = rig.store.outbox_of(&id).await.unwrap();
    assert!(outbox.iter().any(|(_, c, _)| c == "letter"), "{outbox:?}");
}

#[tokio::test]
async fn an_outbox_row_is_found_by_its_key_and_an_unknown_provider_id_finds_nothing() {
    let (store, _) = support::sqlite_store("receipts_pid").await;
    let rig = Rig::new(store).await;
    let id = rig.import_example().await;
    let wake = utc(rig.store.next_wake().await.unwrap().unwrap());
    while rig.scheduler(Clock::fixed(wake)).run_once().await.unwrap() > 0 {}
    let (key, _, _) = rig.store.outbox_of(&id).await.unwrap().remove(0);
    let target = rig
        .store
        .outbox_for_receipt(Some(&key), None)
        .await
        .unwrap();
    assert_eq!(target.map(|t| t.instance_id), Some(id.clone()));
    assert_eq!(
        rig.store
            .outbox_for_receipt(None, Some("nobody-gave-this"))
            .await
            .unwrap(),
        None
    );
}

#[tokio::test]
async fn a_reply_to_the_case_address_is_recorded_for_its_case_once() {
    let (store, _) = support::sqlite_store("receipts_reply").await;
    let rig = Rig::new(store).await;
    let id = rig.import_example().await;
    let wake = utc(rig.store.next_wake().await.unwrap().unwrap());
    while rig.scheduler(Clock::fixed(wake)).run_once().await.unwrap() > 0 {}

    // The address the debtor replied to: the Reply-To the smtp adapter set.
    let base: lettre::Address = "credit@lumen.example".parse().unwrap();
    let to = relance::channels::reply_address(&base, &id).to_string();
    assert_ne!(to, "credit@lumen.example", "the case is in the address");
    let later = Clock::fixed(wake + chrono::Duration::hours(2));
    let (addr, server) = rig.serve(later.clone()).await;
    let reply = format!(r#"{{"id": "in-1", "status": "replied", "to": "{to}"}}"#);
    let (status, _, body) = post(addr, "/api/v1/receipts/smtp", &reply).await;
    assert_eq!(status, 202, "{body}");
    assert!(body.contains(&id), "{body}");
    let (status, _, body) = post(addr, "/api/v1/receipts/smtp", &reply).await;
    assert_eq!((status, body.contains("duplicate")), (200, true), "{body}");

    // An address without a case, a case relance does not know, a status other than replied.
    let plain = r#"{"id": "in-2", "status": "replied", "to": "credit@lumen.example"}"#;
    let (status, _, body) = post(addr, "/api/v1/receipts/smtp", plain).await;
    assert_eq!(status, 422, "{body}");
    let stranger = relance::channels::reply_address(&base, "acme/NOBODY").to_string();
    let unknown = format!(r#"{{"id": "in-3", "status": "replied", "to": "{stranger}"}}"#);
    let (status, _, body) = post(addr, "/api/v1/receipts/smtp", &unknown).await;
    assert_eq!(status, 404, "{body}");
    let bounce = format!(r#"{{"id": "in-4", "status": "bounced", "to": "{to}"}}"#);
    let (status, _, body) = post(addr, "/api/v1/receipts/smtp", &bounce).await;
    assert_eq!(status, 422, "{body}");
    server.abort();

    while rig.scheduler(later.clone()).run_once().await.unwrap() > 0 {}
    let journal = rig.store.journal(&id).await.unwrap();
    let replies = journal
        .iter()
        .filter(|e| e.kind == "event" && e.detail.contains("message.replied"))
        .count();
    assert_eq!(replies, 1, "applied once: {journal:#?}");
}

#[tokio::test]
async fn a_brand_stored_for_the_client_signs_its_messages() {
    let (store, _) = support::sqlite_store("receipts_brand").await;
    let rig = Rig::new(store).await;
    let id = rig.import_example().await;
    let brand = r#"{"legal_name": "Lumen Recouvrement SAS", "email": "credit@lumen.example"}"#;
    rig.store
        .api_put_client(
            &relance::store::ClientRow {
                id: "acme".into(),
                name: "ACME Fournitures SAS".into(),
                country: Some("FR".into()),
                brand: brand.into(),
            },
            0,
        )
        .await
        .unwrap();

    let log = Arc::new(LogChannel::new());
    for _ in 0..10 {
        let wake = utc(rig.store.next_wake().await.unwrap().unwrap());
        let clock = Clock::fixed(wake);
        while rig.scheduler(clock.clone()).run_once().await.unwrap() > 0 {}
        rig.dispatcher(Adapters::new(log.clone()), clock)
            .run_once()
            .await
            .unwrap();
        if !log.sent().is_empty() {
            break;
        }
    }
    let sent = log.sent();
    let first = sent.first().expect("a message went out");
    assert_eq!(first.case_id, id);
    assert_eq!(
        first.payload["brand"]["legal_name"],
        "Lumen Recouvrement SAS"
    );
    assert!(
        first.body.contains("Lumen Recouvrement SAS"),
        "{}",
        first.body
    );
}

#[tokio::test]
async fn a_client_with_adapters_of_its_own_sends_through_them() {
    let (store, _) = support::sqlite_store("receipts_own_adapters").await;
    let rig = Rig::new(store).await;
    let id = rig.import_example().await;
    let shared = Arc::new(LogChannel::new());
    let own = Arc::new(LogChannel::new());
    let adapters = Adapters::new(shared.clone()).with_client("acme", Adapters::new(own.clone()));
    let wake = utc(rig.store.next_wake().await.unwrap().unwrap());
    let clock = Clock::fixed(wake);
    while rig.scheduler(clock.clone()).run_once().await.unwrap() > 0 {}
    rig.dispatcher(adapters, clock).run_once().await.unwrap();
    assert!(
        shared.sent().is_empty(),
        "acme's messages do not use the shared adapters"
    );
    let sent = own.sent();
    assert!(!sent.is_empty(), "a message went out");
    assert!(sent.iter().all(|m| m.case_id == id));
}
