//! The durable runtime with the real store, on SQLite and, when a server is
//! there, PostgreSQL: the scheduler reproduces the simulator, a step commits
//! as a whole, the HTTP intake ends a case, missed wakes run once, the
//! dispatcher retries, parks and dead-letters, several schedulers never run
//! a step twice, and shutdown gives the leases back.

mod support;

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, NaiveDate, TimeZone, Utc};
use relance::api::auth::{Role, Scope, create_token};
use relance::api::{AppState, router};
use relance::channels::{Adapters, Channel, Delivery, LogChannel, Message, SendError};
use relance::engine::{Case, Engine};
use relance::money::RateTable;
use relance::runtime::service::Templates;
use relance::runtime::{
    Clock, Dispatcher, DispatcherSettings, Metrics, ScenarioSet, Scheduler, SchedulerSettings,
    demo, import_batch, journal_row,
};
use relance::scenario::Channel as Via;
use relance::simulate;
use relance::store::{JournalRow, Store, Synchronous, sqlite_url};
use relance::templates::TemplateStore;
use sea_orm::ConnectionTrait;
use tokio::sync::{Notify, watch};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn utc(ms: i64) -> DateTime<Utc> {
    Utc.timestamp_millis_opt(ms).single().unwrap()
}

/// The example French company with two overdue invoices, and when it opens.
fn example_case() -> (Case, DateTime<Utc>) {
    let file = "examples/case-fr-company.yaml";
    let text = std::fs::read_to_string(root().join(file)).unwrap();
    let parsed = simulate::parse_case(file, &text).unwrap();
    let opened = simulate::opened_at(&parsed);
    (parsed.case, opened)
}

/// A store with the shipped scenarios and templates loaded.
struct Rig {
    store: Store,
    scenarios: Arc<ScenarioSet>,
    templates: Arc<TemplateStore>,
    rates: Arc<RateTable>,
    metrics: Arc<Metrics>,
}

async fn rig(store: Store) -> Rig {
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

impl Rig {
    fn engine(&self) -> Engine<'_> {
        Engine {
            rules: self.scenarios.rules(),
            rates: &self.rates,
        }
    }

    fn current(&self) -> Vec<relance::scenario::Scenario> {
        self.scenarios
            .current()
            .iter()
            .map(|s| (**s).clone())
            .collect()
    }

    /// Starts `cases` at `opened` and imports them; returns the instance ids.
    async fn import(&self, cases: Vec<Case>, opened: DateTime<Utc>) -> Vec<String> {
        let engine = self.engine();
        let current = self.current();
        let mut started = Vec::new();
        for case in cases {
            let sc = engine.choose(&current, &case, opened).unwrap().unwrap();
            let i = current.iter().position(|s| s.name == sc.name).unwrap();
            let t = engine.start(&current[i], case.clone(), opened).unwrap();
            started.push((case, i, t));
        }
        let refs: Vec<_> = started
            .iter()
            .map(|(c, i, t)| (c.clone(), &current[*i], t.clone()))
            .collect();
        self.store
            .import(&import_batch(&refs, opened), opened.timestamp_millis())
            .await
            .unwrap();
        started
            .iter()
            .map(|(_, _, t)| t.instance.id.clone())
            .collect()
    }

    /// What the simulator predicts for `case`: its journal as rows, and the
    /// final instance as JSON.
    fn predicted(
        &self,
        case: Case,
        opened: DateTime<Utc>,
        until: DateTime<Utc>,
    ) -> (Vec<JournalRow>, serde_json::Value) {
        let engine = self.engine();
        let current = self.current();
        let sc = engine.choose(&current, &case, opened).unwrap().unwrap();
        let timeline = simulate::run(&engine, sc, case, &[], opened, until).unwrap();
        let id = timeline.instance.id.clone();
        let rows = timeline
            .entries
            .iter()
            .map(|e| journal_row(&id, e))
            .collect();
        (rows, serde_json::to_value(&timeline.instance).unwrap())
    }

    fn scheduler(&self, store: &Store, owner: &str, clock: Clock, batch_size: u64) -> Scheduler {
        Scheduler {
            store: store.clone(),
            scenarios: self.scenarios.clone(),
            rates: self.rates.clone(),
            owner: owner.to_string(),
            settings: SchedulerSettings {
                batch_size,
                ..SchedulerSettings::default()
            },
            clock,
            notify: Arc::new(Notify::new()),
            metrics: self.metrics.clone(),
        }
    }

    fn dispatcher(&self, adapters: Adapters, clock: Clock, max_attempts: u32) -> Dispatcher {
        Dispatcher {
            store: self.store.clone(),
            adapters,
            templates: self.templates.clone(),
            owner: "dispatcher".into(),
            settings: DispatcherSettings {
                max_attempts,
                backoff_base: Duration::from_secs(1),
                backoff_max: Duration::from_secs(10),
                ..DispatcherSettings::default()
            },
            clock,
            metrics: self.metrics.clone(),
            partners: Default::default(),
            limiter: Default::default(),
        }
    }

    /// Runs one scheduler per store (owners `s0`, `s1`…) at each wake time in
    /// turn, as the simulator does, until nothing is due up to `until`. With
    /// `concurrent`, they run side by side as tokio tasks; otherwise one
    /// after the other. Returns the number of instants driven.
    async fn drive(&self, stores: &[Store], until: DateTime<Utc>, concurrent: bool) -> usize {
        let mut last = None;
        let mut instants = 0;
        while let Some(w) = self.store.next_wake().await.unwrap() {
            if w > until.timestamp_millis() || last == Some(w) || instants > 5000 {
                break;
            }
            last = Some(w);
            instants += 1;
            let clock = Clock::fixed(utc(w));
            let schedulers: Vec<Arc<Scheduler>> = stores
                .iter()
                .enumerate()
                .map(|(n, s)| Arc::new(self.scheduler(s, &format!("s{n}"), clock.clone(), 25)))
                .collect();
            if concurrent {
                let mut tasks = tokio::task::JoinSet::new();
                for s in schedulers {
                    tasks.spawn(async move { while s.run_once().await.unwrap() > 0 {} });
                }
                while let Some(done) = tasks.join_next().await {
                    done.unwrap();
                }
            } else {
                loop {
                    let mut any = 0;
                    for s in &schedulers {
                        any += s.run_once().await.unwrap();
                    }
                    if any == 0 {
                        break;
                    }
                }
            }
        }
        instants
    }

    async fn state(&self, id: &str) -> serde_json::Value {
        let (_, _, state) = self.store.instance_state(id).await.unwrap().unwrap();
        serde_json::from_str(&state).unwrap()
    }

    /// (key, status, attempts) of every outbox row of `id`, oldest first.
    async fn outbox(&self, id: &str) -> Vec<(i64, String, String, String, i64)> {
        let rows = self
            .store
            .connection()
            .query_all_raw(sea_orm::Statement::from_sql_and_values(
                self.store.backend(),
                if self.store.backend() == sea_orm::DbBackend::Postgres {
                    "SELECT id, key, channel, status, attempts FROM outbox WHERE instance_id = $1 ORDER BY id"
                } else {
                    "SELECT id, key, channel, status, attempts FROM outbox WHERE instance_id = ? ORDER BY id"
                },
                [id.into()],
            ))
            .await
            .unwrap();
        rows.iter()
            .map(|r| {
                (
                    r.try_get_by_index(0).unwrap(),
                    r.try_get_by_index(1).unwrap(),
                    r.try_get_by_index(2).unwrap(),
                    r.try_get_by_index(3).unwrap(),
                    r.try_get_by_index(4).unwrap(),
                )
            })
            .collect()
    }
}

/// The time of the simulator's first send on `channel`.
fn first_send_on(rows: &[JournalRow], channel: &str) -> DateTime<Utc> {
    let row = rows
        .iter()
        .find(|r| r.kind == "send" && r.channel.as_deref() == Some(channel))
        .unwrap_or_else(|| panic!("the simulator sends nothing on {channel}"));
    utc(row.at)
}

// --- 1. the scheduler reproduces the simulator -----------------------------

async fn a_case_driven_through_its_life_journals_what_the_simulator_predicts(store: Store) {
    let rig = rig(store).await;
    let (case, opened) = example_case();
    let until = opened + chrono::Duration::days(simulate::DEFAULT_HORIZON_DAYS);
    let (expected, expected_state) = rig.predicted(case.clone(), opened, until);
    let ids = rig.import(vec![case], opened).await;

    let instants = rig
        .drive(std::slice::from_ref(&rig.store), until, false)
        .await;

    assert!(instants >= 5, "only {instants} wake-ups");
    let journal = rig.store.journal(&ids[0]).await.unwrap();
    assert!(expected.iter().filter(|r| r.kind == "send").count() >= 5);
    assert_eq!(journal, expected);
    assert_eq!(rig.state(&ids[0]).await, expected_state);
}

// --- 2. state, journal and outbox commit together -------------------------

async fn a_step_commits_its_state_journal_and_outbox_together(store: Store) {
    let rig = rig(store).await;
    let (case, opened) = example_case();
    let ids = rig.import(vec![case], opened).await;
    let id = &ids[0];
    let before_state = rig.state(id).await;
    let before_journal = rig.store.journal(id).await.unwrap().len();
    let before_outbox = rig.outbox(id).await.len();
    let wake = rig.store.next_wake().await.unwrap().unwrap();

    let scheduler = rig.scheduler(&rig.store, "a", Clock::fixed(utc(wake)), 10);
    assert_eq!(scheduler.run_once().await.unwrap(), 1);

    let journal = rig.store.journal(id).await.unwrap();
    let new_entries = &journal[before_journal..];
    let outbox = rig.outbox(id).await;
    let new_rows = &outbox[before_outbox..];
    let sends: Vec<_> = new_entries.iter().filter(|e| e.kind == "send").collect();
    assert!(!sends.is_empty(), "the first wake sends: {new_entries:?}");
    assert_eq!(sends.len(), new_rows.len(), "one outbox row per send");
    for (entry, row) in sends.iter().zip(new_rows) {
        assert_eq!(entry.channel.as_deref(), Some(row.2.as_str()));
        assert_eq!(row.3, "pending");
    }
    let state = rig.state(id).await;
    assert_ne!(state, before_state, "the state moved with the journal");
    assert_eq!(state["last_step_at"], serde_json::json!(utc(wake)));
    let leased: i64 = count(&rig.store, "instances WHERE lease_owner IS NOT NULL").await;
    assert_eq!(leased, 0, "the commit gave the lease back");
}

async fn count(store: &Store, from_where: &str) -> i64 {
    let row = store
        .connection()
        .query_one_raw(sea_orm::Statement::from_string(
            store.backend(),
            format!("SELECT COUNT(*) FROM {from_where}"),
        ))
        .await
        .unwrap()
        .unwrap();
    row.try_get_by_index(0).unwrap()
}

/// Records an event for an instance straight in the store.
async fn record(
    store: &Store,
    instance: &str,
    kind: &str,
    at: DateTime<Utc>,
    fields: relance::engine::EventFields,
) {
    let event = relance::engine::Event {
        id: None,
        kind: kind.into(),
        at,
        fields,
    };
    store
        .record_event(
            &relance::store::NewEvent {
                delivery_id: None,
                instance_id: instance.into(),
                kind: kind.into(),
                payload: serde_json::to_string(&event).unwrap(),
            },
            at.timestamp_millis(),
        )
        .await
        .unwrap();
}

async fn payments_disputes_and_promises_reach_their_tables(store: Store) {
    let rig = rig(store).await;
    let (case, opened) = example_case();
    let id = rig.import(vec![case], opened).await.remove(0);
    let day = |d: u32| Utc.with_ymd_and_hms(2026, 3, d, 11, 0, 0).unwrap();
    let run = |t: DateTime<Utc>| {
        let s = rig.scheduler(&rig.store, "a", Clock::fixed(t), 50);
        async move { s.run_once().await.unwrap() }
    };

    record(
        &rig.store,
        &id,
        "payment.received",
        day(2),
        relance::engine::EventFields {
            amount: Some(rust_decimal::Decimal::new(130000, 2)),
            reference: Some("VIR-1".into()),
            ..Default::default()
        },
    )
    .await;
    record(
        &rig.store,
        &id,
        "dispute.opened",
        day(3),
        relance::engine::EventFields {
            reason: Some("goods damaged".into()),
            invoice: Some("F-2026-0178".into()),
            ..Default::default()
        },
    )
    .await;
    run(day(3)).await;
    record(
        &rig.store,
        &id,
        "dispute.resolved",
        day(5),
        Default::default(),
    )
    .await;
    record(
        &rig.store,
        &id,
        "promise.made",
        day(6),
        relance::engine::EventFields {
            date: Some(NaiveDate::from_ymd_opt(2026, 3, 20).unwrap()),
            ..Default::default()
        },
    )
    .await;
    run(day(6)).await;
    // The promise falls due on the 20th (+2 business days): nothing came, so
    // at the end of the pause it is broken.
    run(day(31)).await;

    assert_eq!(count(&rig.store, "payments WHERE amount = '1300.00' AND source = 'payment.received' AND reference = 'VIR-1'").await, 1);
    // 1250.00 clears the oldest invoice, 50.00 goes to the next.
    assert_eq!(
        count(
            &rig.store,
            "allocations WHERE invoice_number = 'F-2026-0142' AND amount = '1250.00'"
        )
        .await,
        1
    );
    assert_eq!(
        count(
            &rig.store,
            "allocations WHERE invoice_number = 'F-2026-0178' AND amount = '50.00'"
        )
        .await,
        1
    );
    assert_eq!(
        count(
            &rig.store,
            "disputes WHERE reason = 'goods damaged' AND resolved_at IS NOT NULL"
        )
        .await,
        1
    );
    assert_eq!(
        count(
            &rig.store,
            "promises WHERE kind = 'promise' AND amount = '430.50' AND status = 'broken'"
        )
        .await,
        1
    );
}

async fn a_call_task_reaches_the_work_queue_and_its_outcome_the_case(store: Store) {
    let rig = rig(store).await;
    let (case, opened) = example_case();
    let id = rig.import(vec![case], opened).await.remove(0);
    // The b2b-france `call` step fires on 2026-03-18 for this case.
    let after_call = Utc.with_ymd_and_hms(2026, 3, 19, 12, 0, 0).unwrap();
    rig.drive(std::slice::from_ref(&rig.store), after_call, false)
        .await;
    let log = Arc::new(LogChannel::new());
    let dispatcher = rig.dispatcher(Adapters::new(log.clone()), Clock::fixed(after_call), 3);
    while dispatcher.run_once().await.unwrap() > 0 {}

    let open = rig.store.tasks("open", 10).await.unwrap();
    assert_eq!(open.len(), 1, "{open:?}");
    let task = &open[0];
    assert_eq!(
        (task.kind.as_str(), task.instance_id.as_str()),
        ("call", id.as_str())
    );
    assert!(!task.body.is_empty(), "the call script is in the task");
    assert!(
        log.sent().iter().all(|m| m.channel != Via::Phone),
        "a task is queued, not sent"
    );
    assert_eq!(
        count(
            &rig.store,
            "outbox WHERE channel = 'phone' AND status = 'sent'"
        )
        .await,
        1
    );

    let payload = |t: &relance::store::TaskRow| {
        serde_json::to_string(&relance::engine::Event {
            id: Some(format!("task-{}", t.id)),
            kind: "task.outcome".into(),
            at: after_call,
            fields: relance::engine::EventFields {
                outcome: Some("wrong_number".into()),
                ..Default::default()
            },
        })
        .unwrap()
    };
    let closed = rig
        .store
        .close_task(
            task.id,
            "wrong_number",
            None,
            "alice",
            payload,
            after_call.timestamp_millis(),
        )
        .await
        .unwrap();
    assert_eq!(closed.as_deref(), Some(id.as_str()));
    assert_eq!(
        rig.store
            .close_task(
                task.id,
                "reached",
                None,
                "bob",
                payload,
                after_call.timestamp_millis()
            )
            .await
            .unwrap(),
        None,
        "a done task cannot be closed again"
    );
    assert_eq!(
        count(
            &rig.store,
            "audit_log WHERE actor = 'alice' AND action = 'task.close'"
        )
        .await,
        1
    );

    let s = rig.scheduler(&rig.store, "a", Clock::fixed(after_call), 10);
    s.run_once().await.unwrap();
    let journal = rig.store.journal(&id).await.unwrap();
    assert!(
        journal.iter().any(|j| j.kind == "event"
            && j.detail.contains("task.outcome")
            && j.detail.contains("wrong_number")),
        "{journal:?}"
    );
}

// --- 3. the HTTP intake ----------------------------------------------------

/// One HTTP/1.1 request with an API token over a fresh connection:
/// (status, content type, body).
async fn http(
    addr: std::net::SocketAddr,
    token: &str,
    path: &str,
    body: &str,
) -> (u16, String, String) {
    let auth = format!("Bearer {token}");
    let headers = [("Authorization", auth.as_str())];
    let answer = support::http::request(addr, "POST", path, &headers, body.as_bytes()).await;
    (answer.status, answer.content_type, answer.body)
}

async fn a_payment_in_full_over_http_ends_the_case_and_cancels_pending_sends(store: Store) {
    let rig = rig(store).await;
    let (case, opened) = example_case();
    let ids = rig.import(vec![case], opened).await;
    let id = &ids[0];
    let wake = utc(rig.store.next_wake().await.unwrap().unwrap());
    rig.scheduler(&rig.store, "a", Clock::fixed(wake), 10)
        .run_once()
        .await
        .unwrap();
    let pending = rig.outbox(id).await;
    assert!(
        pending.iter().any(|r| r.3 == "pending"),
        "a send waits: {pending:?}"
    );

    let later = Clock::fixed(wake + chrono::Duration::hours(1));
    let app = router(
        AppState {
            store: rig.store.clone(),
            metrics: rig.metrics.clone(),
            notify: Arc::new(Notify::new()),
            clock: later.clone(),
            inbound: Default::default(),
        },
        64 * 1024,
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let server = tokio::spawn(async move { axum::serve(listener, app).await });
    let token = create_token(
        &rig.store,
        Role::Partner,
        &Scope::Clients(vec!["acme".into()]),
        "bank",
        0,
    )
    .await
    .unwrap()
    .secret;
    let token = token.as_str();

    let payment = r#"{"id": "bank-1", "type": "payment.received", "client_id": "acme",
                      "debtor_id": "D-1001", "amount": "1730.50"}"#;
    let (status, _, body) = http(addr, token, "/api/v1/events", payment).await;
    assert_eq!(status, 202, "{body}");
    let (status, _, body) = http(addr, token, "/api/v1/events", payment).await;
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("duplicate"), "{body}");

    let unknown = r#"{"type": "payment.received", "client_id": "acme", "debtor_id": "nobody",
                      "amount": "10"}"#;
    let (status, content_type, body) = http(addr, token, "/api/v1/events", unknown).await;
    assert_eq!(status, 404, "{body}");
    assert_eq!(content_type, "application/problem+json");
    assert!(body.contains("case_not_found"), "{body}");
    let (status, content_type, _) = http(addr, token, "/api/v1/events", "{\"type\": ").await;
    assert_eq!(
        (status, content_type.as_str()),
        (400, "application/problem+json")
    );
    let no_amount = r#"{"type": "payment.received", "client_id": "acme", "debtor_id": "D-1001"}"#;
    let (status, _, body) = http(addr, token, "/api/v1/events", no_amount).await;
    assert_eq!(status, 422, "{body}");
    server.abort();

    rig.scheduler(&rig.store, "a", later.clone(), 10)
        .run_once()
        .await
        .unwrap();
    let state = rig.state(id).await;
    assert_eq!(state["status"], "ended", "{state}");
    let journal = rig.store.journal(id).await.unwrap();
    let payments = journal
        .iter()
        .filter(|e| e.kind == "event" && e.detail.contains("payment"))
        .count();
    assert_eq!(payments, 1, "applied once: {journal:#?}");
    assert!(
        rig.outbox(id).await.iter().all(|r| r.3 != "pending"),
        "{:?}",
        rig.outbox(id).await
    );

    let log = Arc::new(LogChannel::new());
    let dispatcher = rig.dispatcher(Adapters::new(log.clone()), later, 3);
    assert_eq!(dispatcher.run_once().await.unwrap(), 0);
    assert!(log.sent().is_empty(), "nothing goes out for a paid case");
    assert!(rig.outbox(id).await.iter().all(|r| r.3 == "cancelled"));
}

// --- 4. a missed wake ------------------------------------------------------

async fn wakes_missed_while_down_run_once_late_and_lose_nothing(store: Store) {
    let rig = rig(store).await;
    let (case, opened) = example_case();
    let until = opened + chrono::Duration::days(simulate::DEFAULT_HORIZON_DAYS);
    let (expected, _) = rig.predicted(case.clone(), opened, until);
    let ids = rig.import(vec![case], opened).await;
    let id = &ids[0];
    let predicted_steps: Vec<String> = expected
        .iter()
        .filter(|r| r.kind == "send")
        .filter_map(|r| r.step.clone())
        .collect();
    let third = expected
        .iter()
        .filter(|r| r.kind == "send")
        .nth(2)
        .map(|r| utc(r.at))
        .unwrap();
    let back = third + chrono::Duration::days(10);

    let scheduler = rig.scheduler(&rig.store, "a", Clock::fixed(back), 10);
    assert_eq!(scheduler.run_once().await.unwrap(), 1);
    let journal = rig.store.journal(id).await.unwrap();
    assert_eq!(
        scheduler.run_once().await.unwrap(),
        0,
        "nothing is due twice"
    );
    assert_eq!(rig.store.journal(id).await.unwrap(), journal);

    let sent: Vec<String> = journal
        .iter()
        .filter(|r| r.kind == "send")
        .filter_map(|r| r.step.clone())
        .collect();
    assert!(sent.len() >= 2, "the missed steps ran: {sent:?}");
    assert_eq!(
        sent[..],
        predicted_steps[..sent.len()],
        "in order, none skipped"
    );
    let unique: BTreeSet<&String> = sent.iter().collect();
    assert_eq!(unique.len(), sent.len(), "each step once: {sent:?}");
    let late: Vec<_> = journal
        .iter()
        .filter(|r| r.at == back.timestamp_millis())
        .collect();
    assert!(!late.is_empty(), "they ran late, at restart");
    let next = rig.store.next_wake().await.unwrap().unwrap();
    assert!(next > back.timestamp_millis(), "nothing left behind");
}

// --- 5. the dispatcher -----------------------------------------------------

/// Fails with `Retryable` the first `failures` times it sees each key.
struct Flaky {
    failures: u32,
    calls: Mutex<BTreeMap<String, u32>>,
}

impl Flaky {
    fn new(failures: u32) -> Self {
        Flaky {
            failures,
            calls: Mutex::new(BTreeMap::new()),
        }
    }

    fn calls(&self) -> BTreeMap<String, u32> {
        self.calls.lock().unwrap().clone()
    }
}

impl Channel for Flaky {
    fn name(&self) -> &str {
        "flaky"
    }

    async fn send(&self, msg: &Message) -> Result<Delivery, SendError> {
        let mut calls = self.calls.lock().unwrap();
        let n = calls.entry(msg.key.clone()).or_default();
        *n += 1;
        if *n <= self.failures {
            return Err(SendError::Retryable(format!("try {n} failed")));
        }
        Ok(Delivery::Sent { provider_id: None })
    }
}

/// Never knows whether the send went out.
#[derive(Default)]
struct Unsure {
    calls: Mutex<u32>,
}

impl Channel for Unsure {
    fn name(&self) -> &str {
        "unsure"
    }

    async fn send(&self, _msg: &Message) -> Result<Delivery, SendError> {
        *self.calls.lock().unwrap() += 1;
        Err(SendError::Unknown(
            "connection dropped after the request".into(),
        ))
    }
}

/// A case whose first send waits in the outbox; returns (rig, instance, when).
async fn one_pending_send(store: Store) -> (Rig, String, DateTime<Utc>) {
    let rig = rig(store).await;
    let (case, opened) = example_case();
    let ids = rig.import(vec![case], opened).await;
    let wake = utc(rig.store.next_wake().await.unwrap().unwrap());
    rig.scheduler(&rig.store, "a", Clock::fixed(wake), 10)
        .run_once()
        .await
        .unwrap();
    (rig, ids[0].clone(), wake + chrono::Duration::hours(1))
}

async fn a_failing_send_is_retried_with_backoff_until_it_goes(store: Store) {
    let (rig, id, t) = one_pending_send(store).await;
    let flaky = Arc::new(Flaky::new(2));
    let at = |secs: i64| Clock::fixed(t + chrono::Duration::seconds(secs));

    let d = rig.dispatcher(Adapters::new(flaky.clone()), at(0), 5);
    assert!(d.run_once().await.unwrap() >= 1);
    assert!(rig.outbox(&id).await.iter().all(|r| r.3 == "retry"));
    assert_eq!(d.run_once().await.unwrap(), 0, "not before its backoff");

    for secs in [15, 40] {
        rig.dispatcher(Adapters::new(flaky.clone()), at(secs), 5)
            .run_once()
            .await
            .unwrap();
    }
    let rows = rig.outbox(&id).await;
    assert!(rows.iter().all(|r| r.3 == "sent" && r.4 == 3), "{rows:?}");
    assert!(
        flaky.calls().values().all(|n| *n == 3),
        "{:?}",
        flaky.calls()
    );
}

async fn a_send_that_keeps_failing_goes_dead_and_an_operator_requeues_it(store: Store) {
    let (rig, id, t) = one_pending_send(store).await;
    let broken = Arc::new(Flaky::new(u32::MAX));
    for k in 0..6 {
        let clock = Clock::fixed(t + chrono::Duration::seconds(20 * k));
        rig.dispatcher(Adapters::new(broken.clone()), clock, 3)
            .run_once()
            .await
            .unwrap();
    }
    let rows = rig.outbox(&id).await;
    assert!(rows.iter().all(|r| r.3 == "dead"), "{rows:?}");
    assert!(
        broken.calls().values().all(|n| *n == 3),
        "max_attempts, then stop"
    );

    let later = t + chrono::Duration::minutes(10);
    let first = rows[0].0;
    assert!(
        rig.store
            .outbox_requeue(first, later.timestamp_millis())
            .await
            .unwrap()
    );
    assert!(
        !rig.store
            .outbox_requeue(first, later.timestamp_millis())
            .await
            .unwrap(),
        "only a dead or parked row is requeued"
    );
    assert_eq!(rig.outbox(&id).await[0].3, "pending");
    let log = Arc::new(LogChannel::new());
    rig.dispatcher(Adapters::new(log.clone()), Clock::fixed(later), 3)
        .run_once()
        .await
        .unwrap();
    assert_eq!(rig.outbox(&id).await[0].3, "sent");
    assert_eq!(log.sent().len(), 1);
}

async fn an_irreversible_send_of_unknown_outcome_is_parked_never_resent(store: Store) {
    let rig = rig(store).await;
    let (case, opened) = example_case();
    let until = opened + chrono::Duration::days(simulate::DEFAULT_HORIZON_DAYS);
    let (expected, _) = rig.predicted(case.clone(), opened, until);
    let registered = first_send_on(&expected, "registered_mail");
    let ids = rig.import(vec![case], opened).await;
    rig.drive(std::slice::from_ref(&rig.store), registered, false)
        .await;

    let unsure = Arc::new(Unsure::default());
    let log = Arc::new(LogChannel::new());
    let adapters = Adapters::new(log.clone()).with(Via::RegisteredMail, unsure.clone());
    for days in [0, 1, 5, 30] {
        let clock = Clock::fixed(registered + chrono::Duration::days(days));
        let d = rig.dispatcher(adapters.clone(), clock, 5);
        while d.run_once().await.unwrap() > 0 {}
    }
    let rows = rig.outbox(&ids[0]).await;
    let mail: Vec<_> = rows.iter().filter(|r| r.2 == "registered_mail").collect();
    assert_eq!(mail.len(), 1, "{rows:?}");
    assert_eq!(mail[0].3, "parked");
    assert_eq!(*unsure.calls.lock().unwrap(), 1, "never sent twice");
    assert!(
        rows.iter()
            .filter(|r| r.2 != "registered_mail")
            .all(|r| r.3 == "sent")
    );
}

// --- 6. several schedulers on one database --------------------------------

async fn schedulers_sharing_a_database_never_run_a_step_twice(
    stores: Vec<Store>,
    concurrent: bool,
) {
    let rig = rig(stores[0].clone()).await;
    let today = NaiveDate::from_ymd_opt(2026, 3, 2).unwrap();
    let opened = Utc.from_utc_datetime(&today.and_hms_opt(0, 0, 0).unwrap());
    let until = opened + chrono::Duration::days(100);
    let cases = demo::portfolio(200, today);
    let expected: Vec<_> = cases
        .iter()
        .map(|c| rig.predicted(c.clone(), opened, until))
        .collect();
    let ids = rig.import(cases, opened).await;

    let instants = rig.drive(&stores, until, concurrent).await;
    assert!(instants > 10, "only {instants} instants driven");

    let dup_keys = count(
        &rig.store,
        "(SELECT key FROM outbox GROUP BY key HAVING COUNT(*) > 1) d",
    )
    .await;
    assert_eq!(dup_keys, 0);
    for (id, (journal, state)) in ids.iter().zip(expected) {
        let got = rig.store.journal(id).await.unwrap();
        let mut seen = BTreeSet::new();
        for e in got.iter().filter(|e| e.kind == "send") {
            assert!(
                seen.insert((e.step.clone(), e.channel.clone(), e.template.clone())),
                "{id}: {e:?} twice"
            );
        }
        assert_eq!(got, journal, "{id}");
        assert_eq!(rig.state(id).await, state, "{id}");
    }
    let owners = count(&rig.store, "instances WHERE lease_owner IS NOT NULL").await;
    assert_eq!(owners, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 3)]
async fn postgres_two_concurrent_schedulers_never_run_a_step_twice() {
    let Some(url) = support::postgres_database("two_schedulers").await else {
        return;
    };
    postgres_schedulers(&url, 2).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 3)]
async fn postgres_three_concurrent_schedulers_never_run_a_step_twice() {
    let Some(url) = support::postgres_database("three_schedulers").await else {
        return;
    };
    postgres_schedulers(&url, 3).await;
}

async fn postgres_schedulers(url: &str, n: usize) {
    let mut stores = Vec::new();
    for _ in 0..n {
        let store = Store::open(url, Synchronous::Full).await.unwrap();
        store.migrate().await.unwrap();
        stores.push(store);
    }
    schedulers_sharing_a_database_never_run_a_step_twice(stores, true).await;
}

#[tokio::test]
async fn sqlite_two_schedulers_on_one_file_never_run_a_step_twice() {
    let (first, file) = support::sqlite_store("two_schedulers").await;
    let second = Store::open(&sqlite_url(&file), Synchronous::Full)
        .await
        .unwrap();
    schedulers_sharing_a_database_never_run_a_step_twice(vec![first, second], false).await;
}

// --- 7. graceful shutdown --------------------------------------------------

async fn shutdown_finishes_the_batch_in_flight_and_release_clears_leases(store: Store) {
    let rig = rig(store).await;
    let today = NaiveDate::from_ymd_opt(2026, 3, 2).unwrap();
    let opened = Utc.from_utc_datetime(&today.and_hms_opt(0, 0, 0).unwrap());
    rig.import(demo::portfolio(60, today), opened).await;

    let far = Clock::fixed(opened + chrono::Duration::days(60));
    let scheduler = rig.scheduler(&rig.store, "runner", far.clone(), 10);
    let (stop, stopped) = watch::channel(false);
    let metrics = rig.metrics.clone();
    let task = tokio::spawn(async move { scheduler.run(stopped).await });
    for _ in 0..200 {
        if metrics.batches.load(std::sync::atomic::Ordering::Relaxed) > 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    stop.send(true).unwrap();
    tokio::time::timeout(Duration::from_secs(10), task)
        .await
        .expect("run returns soon after the stop")
        .unwrap()
        .unwrap();
    assert!(metrics.batches.load(std::sync::atomic::Ordering::Relaxed) > 0);
    assert_eq!(
        count(&rig.store, "instances WHERE lease_owner IS NOT NULL").await,
        0,
        "no batch left half done"
    );

    let now = far.now_ms() + 86_400_000 * 30;
    let held = rig
        .store
        .claim_due(now, 5, "crashed", 3_600_000)
        .await
        .unwrap();
    assert!(!held.is_empty());
    assert!(
        rig.store
            .claim_due(now, 100, "other", 1000)
            .await
            .unwrap()
            .len()
            < 60
    );
    rig.store.release("crashed").await.unwrap();
    assert_eq!(
        count(&rig.store, "instances WHERE lease_owner = 'crashed'").await,
        0
    );
    rig.store.release("other").await.unwrap();
    let again = rig.store.claim_due(now, 100, "other", 1000).await.unwrap();
    assert!(
        held.iter().all(|h| again.iter().any(|a| a.id == h.id)),
        "released work is claimable at once"
    );
}

macro_rules! on_both {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test]
                async fn $name() {
                    let (store, _) = super::support::sqlite_store(stringify!($name)).await;
                    super::$name(store).await;
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test]
                async fn $name() {
                    let Some(store) = super::support::postgres_store(stringify!($name)).await else {
                        return;
                    };
                    super::$name(store).await;
                }
            )*
        }
    };
}

on_both!(
    a_call_task_reaches_the_work_queue_and_its_outcome_the_case,
    payments_disputes_and_promises_reach_their_tables,
    a_case_driven_through_its_life_journals_what_the_simulator_predicts,
    a_step_commits_its_state_journal_and_outbox_together,
    a_payment_in_full_over_http_ends_the_case_and_cancels_pending_sends,
    wakes_missed_while_down_run_once_late_and_lose_nothing,
    a_failing_send_is_retried_with_backoff_until_it_goes,
    a_send_that_keeps_failing_goes_dead_and_an_operator_requeues_it,
    an_irreversible_send_of_unknown_outcome_is_parked_never_resent,
    shutdown_finishes_the_batch_in_flight_and_release_clears_leases,
);
