//! The durable store on a real SQLite file and, when a server is there, a
//! real PostgreSQL database: the same tests on both.

mod support;

use relance::store::*;
use sea_orm::ConnectionTrait;

fn batch(cases: usize, wake: i64) -> ImportBatch {
    let mut b = ImportBatch {
        clients: vec![ClientRow {
            id: "acme".into(),
            name: "ACME".into(),
            country: Some("FR".into()),
            brand: "{}".into(),
        }],
        ..Default::default()
    };
    for n in 0..cases {
        let debtor = format!("d{n}");
        let case = format!("acme/{debtor}");
        b.debtors.push(DebtorRow {
            client_id: "acme".into(),
            id: debtor.clone(),
            kind: "company".into(),
            name: format!("Debtor {n}"),
            country: Some("FR".into()),
            language: "fr".into(),
            timezone: "Europe/Paris".into(),
            siren: None,
            vat: None,
        });
        b.contacts.push(ContactRow {
            client_id: "acme".into(),
            debtor_id: debtor.clone(),
            kind: "email".into(),
            value: format!("d{n}@example.test"),
        });
        b.cases.push(CaseRow {
            id: case.clone(),
            client_id: "acme".into(),
            debtor_id: debtor.clone(),
            currency: "EUR".into(),
            opened_at: 0,
        });
        b.invoices.push(InvoiceRow {
            client_id: "acme".into(),
            number: format!("F-{n}"),
            debtor_id: debtor,
            case_id: case.clone(),
            issued: "2026-01-01".into(),
            due: "2026-01-31".into(),
            amount: "100.00".into(),
            currency: "EUR".into(),
        });
        b.instances.push(InstanceRow {
            id: case.clone(),
            case_id: case.clone(),
            scenario: "s".into(),
            version: "v1".into(),
            status: "running".into(),
            stage: Some("reminders".into()),
            next_wake: Some(wake + n as i64),
            state: format!("{{\"n\":{n}}}"),
        });
        b.journal.push(journal(&case, "started"));
    }
    b
}

fn journal(instance: &str, kind: &str) -> JournalRow {
    JournalRow {
        instance_id: instance.into(),
        at: 1,
        kind: kind.into(),
        stage: None,
        step: None,
        channel: None,
        template: None,
        detail: "d".into(),
        balance: "100.00".into(),
        total_due: "100.00".into(),
        currency: "EUR".into(),
    }
}

fn outbox(instance: &str, key: &str, irreversible: bool) -> OutboxInsert {
    OutboxInsert {
        key: key.into(),
        instance_id: instance.into(),
        step: "first".into(),
        channel: if irreversible {
            "registered_mail"
        } else {
            "email"
        }
        .into(),
        action: "{}".into(),
        irreversible,
        not_before: 10,
    }
}

fn step(id: &str, state: &str, next_wake: Option<i64>) -> StepRecord {
    StepRecord {
        id: id.into(),
        state: state.into(),
        status: "running".into(),
        stage: Some("reminders".into()),
        next_wake,
        steps: 1,
        journal: vec![journal(id, "send")],
        outbox: vec![outbox(id, &format!("{id}/k1"), false)],
        events_applied: Vec::new(),
        events_refused: Vec::new(),
        cancel_pending: false,
        domain: Vec::new(),
    }
}

async fn importing_twice_changes_nothing(store: Store) {
    let b = batch(3, 100);
    let first = store.import(&b, 1).await.unwrap();
    assert_eq!((first.cases, first.invoices, first.instances), (3, 3, 3));
    let second = store.import(&b, 2).await.unwrap();
    assert_eq!((second.cases, second.invoices, second.instances), (0, 0, 0));
    assert_eq!(
        store.journal("acme/d0").await.unwrap().len(),
        1,
        "journal not repeated"
    );
}

async fn claims_take_due_work_once_and_expired_leases_come_back(store: Store) {
    store.import(&batch(3, 100), 1).await.unwrap();
    assert!(
        store.claim_due(99, 10, "a", 1000).await.unwrap().is_empty(),
        "nothing due yet"
    );

    let a = store.claim_due(101, 10, "a", 1000).await.unwrap();
    assert_eq!(
        a.iter().map(|c| c.id.as_str()).collect::<Vec<_>>(),
        ["acme/d0", "acme/d1"]
    );
    let b = store.claim_due(101, 10, "b", 1000).await.unwrap();
    assert!(b.is_empty(), "leased rows are not claimed twice");

    let after_expiry = store.claim_due(1200, 10, "b", 1000).await.unwrap();
    assert_eq!(after_expiry.len(), 3, "expired leases are taken over");
}

async fn a_commit_writes_state_journal_and_outbox_together(store: Store) {
    store.import(&batch(2, 100), 1).await.unwrap();
    store.claim_due(200, 10, "a", 1000).await.unwrap();
    let lost = store
        .commit(
            "a",
            &[
                step("acme/d0", "{\"v\":2}", Some(500)),
                step("acme/d1", "{\"v\":3}", None),
            ],
            300,
        )
        .await
        .unwrap();
    assert!(lost.is_empty());

    let (_, _, state) = store.instance_state("acme/d0").await.unwrap().unwrap();
    assert_eq!(state, "{\"v\":2}");
    assert_eq!(store.journal("acme/d0").await.unwrap().len(), 2);
    assert_eq!(store.outbox_of("acme/d1").await.unwrap().len(), 1);
    assert_eq!(store.next_wake().await.unwrap(), Some(500));

    // The lease is released: another owner may claim the due one now.
    assert_eq!(store.claim_due(600, 10, "b", 1000).await.unwrap().len(), 1);
}

async fn work_done_under_a_lost_lease_is_dropped(store: Store) {
    store.import(&batch(1, 100), 1).await.unwrap();
    store.claim_due(200, 10, "a", 1000).await.unwrap();
    store.claim_due(1300, 10, "b", 1000).await.unwrap();
    let lost = store
        .commit("a", &[step("acme/d0", "{\"stale\":true}", None)], 1400)
        .await
        .unwrap();
    assert_eq!(lost, ["acme/d0"]);
    let (_, _, state) = store.instance_state("acme/d0").await.unwrap().unwrap();
    assert_eq!(state, "{\"n\":0}", "the stale write did not land");
    assert_eq!(store.journal("acme/d0").await.unwrap().len(), 1);
}

async fn events_are_applied_once_per_delivery_id(store: Store) {
    store.import(&batch(1, 10_000), 1).await.unwrap();
    let ev = NewEvent {
        delivery_id: Some("evt_1".into()),
        instance_id: "acme/d0".into(),
        kind: "payment.received".into(),
        payload: "{}".into(),
    };
    assert!(store.record_event(&ev, 5).await.unwrap());
    assert!(
        !store.record_event(&ev, 6).await.unwrap(),
        "a retry is acknowledged, not stored"
    );
    assert_eq!(
        store.next_wake().await.unwrap(),
        Some(0),
        "pending events wake at once"
    );

    let claimed = store.claim_due(7, 10, "a", 1000).await.unwrap();
    assert_eq!(
        claimed.len(),
        1,
        "an instance with an event is claimed before its wake"
    );
    assert_eq!(claimed[0].events.len(), 1);
    let mut s = step("acme/d0", "{}", Some(10_000));
    s.events_applied = vec![claimed[0].events[0].id];
    store.commit("a", &[s], 8).await.unwrap();
    assert!(store.claim_due(9, 10, "a", 1000).await.unwrap().is_empty());
}

async fn the_outbox_retries_parks_and_cancels(store: Store) {
    store.import(&batch(2, 100), 1).await.unwrap();
    store.claim_due(200, 10, "a", 1000).await.unwrap();
    let mut s0 = step("acme/d0", "{}", None);
    s0.outbox.push(outbox("acme/d0", "acme/d0/k2", true));
    let mut s1 = step("acme/d1", "{}", None);
    s1.cancel_pending = false;
    store.commit("a", &[s0, s1], 300).await.unwrap();

    assert!(
        store
            .claim_outbox(5, 10, "w", 1000)
            .await
            .unwrap()
            .is_empty(),
        "not before its time"
    );
    let rows = store.claim_outbox(400, 10, "w", 1000).await.unwrap();
    assert_eq!(rows.len(), 3);
    assert!(
        store
            .claim_outbox(400, 10, "x", 1000)
            .await
            .unwrap()
            .is_empty(),
        "leased once"
    );

    let email = rows.iter().find(|r| r.key == "acme/d0/k1").unwrap();
    store
        .outbox_done(
            "w",
            email.id,
            &OutboxFate::Sent {
                provider_id: Some("p1".into()),
            },
            410,
        )
        .await
        .unwrap();
    let other = rows.iter().find(|r| r.key == "acme/d1/k1").unwrap();
    store
        .outbox_done(
            "w",
            other.id,
            &OutboxFate::Retry {
                at: 2000,
                error: "timeout".into(),
            },
            410,
        )
        .await
        .unwrap();
    assert!(
        store
            .claim_outbox(1999, 10, "w", 1000)
            .await
            .unwrap()
            .is_empty(),
        "backoff respected"
    );
    let again = store.claim_outbox(2000, 10, "w", 1000).await.unwrap();
    assert_eq!(again.len(), 1);
    assert_eq!(again[0].attempts, 2);
    store
        .outbox_done(
            "w",
            again[0].id,
            &OutboxFate::Dead {
                error: "gave up".into(),
            },
            2001,
        )
        .await
        .unwrap();
    assert!(
        store.outbox_requeue(again[0].id, 2002).await.unwrap(),
        "an operator retries a dead letter"
    );

    // The registered letter's sender died mid-send: parked, never resent blindly.
    let registered = rows.iter().find(|r| r.key == "acme/d0/k2").unwrap();
    assert!(registered.irreversible);
    let later = store.claim_outbox(5000, 10, "z", 1000).await.unwrap();
    assert!(later.iter().all(|r| r.key != "acme/d0/k2"), "{later:?}");
    let statuses = store.outbox_of("acme/d0").await.unwrap();
    assert!(
        statuses
            .iter()
            .any(|(k, _, s)| k == "acme/d0/k2" && s == "parked"),
        "{statuses:?}"
    );
    assert!(matches!(
        store
            .outbox_done(
                "w",
                registered.id,
                &OutboxFate::Sent { provider_id: None },
                5001
            )
            .await,
        Err(StoreError::LeaseLost { .. })
    ));
}

async fn an_ended_case_cancels_its_pending_sends(store: Store) {
    store.import(&batch(1, 100), 1).await.unwrap();
    store.claim_due(200, 10, "a", 1000).await.unwrap();
    store
        .commit("a", &[step("acme/d0", "{}", Some(300))], 250)
        .await
        .unwrap();
    store.claim_due(300, 10, "a", 1000).await.unwrap();
    let mut end = step("acme/d0", "{}", None);
    end.outbox.clear();
    end.cancel_pending = true;
    store.commit("a", &[end], 350).await.unwrap();
    let statuses = store.outbox_of("acme/d0").await.unwrap();
    assert_eq!(
        statuses,
        [(
            "acme/d0/k1".to_string(),
            "email".to_string(),
            "cancelled".to_string()
        )]
    );
}

async fn status_counts_instances_and_outbox(store: Store) {
    store.import(&batch(3, 100), 1).await.unwrap();
    let report = store.status(101).await.unwrap();
    assert_eq!(report.instances, [("running".to_string(), 3)]);
    assert_eq!(report.due_now, 2);
    assert_eq!(
        report.stages,
        [(Some("reminders".to_string()), "running".to_string(), 3)]
    );
}

async fn entities_read_what_the_write_path_wrote(store: Store) {
    use relance::store::entity::{contacts, debtors, instances, invoices, journal, outbox};
    use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};

    store.import(&batch(2, 100), 1).await.unwrap();
    store.claim_due(200, 10, "a", 1000).await.unwrap();
    store
        .commit("a", &[step("acme/d0", "{}", Some(900))], 300)
        .await
        .unwrap();
    let db = store.connection();

    let inst = instances::Entity::find_by_id("acme/d0".to_string())
        .one(db)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (inst.status.as_str(), inst.next_wake, inst.lease_owner),
        ("running", Some(900), None)
    );
    assert_eq!(inst.steps, 1);
    let debtor = debtors::Entity::find_by_id(("acme".to_string(), "d1".to_string()))
        .one(db)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(debtor.timezone, "Europe/Paris");
    assert!(!debtor.watch);
    assert_eq!(contacts::Entity::find().all(db).await.unwrap().len(), 2);
    let inv = invoices::Entity::find()
        .filter(invoices::Column::CaseId.eq("acme/d1"))
        .all(db)
        .await
        .unwrap();
    assert_eq!(inv[0].amount, "100.00", "amounts are decimal strings");
    assert_eq!(journal::Entity::find().all(db).await.unwrap().len(), 3);
    let out = outbox::Entity::find().one(db).await.unwrap().unwrap();
    assert_eq!(
        (out.status.as_str(), out.attempts, out.irreversible),
        ("pending", 0, false)
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
    importing_twice_changes_nothing,
    claims_take_due_work_once_and_expired_leases_come_back,
    a_commit_writes_state_journal_and_outbox_together,
    work_done_under_a_lost_lease_is_dropped,
    events_are_applied_once_per_delivery_id,
    the_outbox_retries_parks_and_cancels,
    an_ended_case_cancels_its_pending_sends,
    status_counts_instances_and_outbox,
    entities_read_what_the_write_path_wrote,
);

#[tokio::test]
async fn the_sqlite_file_is_created_on_first_run_in_wal_mode() {
    let (store, file) = support::sqlite_store("wal").await;
    assert!(file.exists());
    let row = store
        .connection()
        .query_one_raw(sea_orm::Statement::from_string(
            sea_orm::DbBackend::Sqlite,
            "PRAGMA journal_mode".to_string(),
        ))
        .await
        .unwrap()
        .unwrap();
    let mode: String = row.try_get_by_index(0).unwrap();
    assert_eq!(mode, "wal");
    store.migrate().await.expect("migrating twice is a no-op");
}
