//! Several `relance serve` processes on one PostgreSQL database: no step runs twice, no
//! key reaches the provider twice, and every journal has the shape the simulator predicts.
//! And, at binary level, a missed wake: a process stopped while wakes fall due runs each of
//! them once, late, when it starts again.

mod support;

use std::collections::BTreeSet;
use std::time::Duration;

use relance::engine::Instance;
use relance::store::{Store, Synchronous, sqlite_url};

use support::provider::{
    Provider, Server, VirtualTime, compare_with_simulator, import_portfolio, outbox, t0,
    wait_until_settled, write_config,
};

const SPEED: u32 = 500_000;
const FINAL_SPEED: u32 = 5_000_000;

async fn cluster_test(processes: usize) {
    let Some(url) = support::postgres_database(&format!("cluster{processes}")).await else {
        return;
    };
    let dir = support::scratch(&format!("cluster{processes}"));
    let provider = Provider::start(7 + processes as u64).await;
    provider.fail_per_mille(50);
    let config = write_config(&dir, &url, &provider.url());
    let imported = import_portfolio(&config, 120, t0()).await;

    // All processes work the same portfolio at once, then stop gracefully.
    let clock = VirtualTime::new(t0(), SPEED);
    let mut servers: Vec<Server> = (0..processes)
        .map(|_| Server::start(&config, SPEED, clock.now()))
        .collect();
    tokio::time::sleep(Duration::from_secs(8)).await;
    for s in &mut servers {
        assert!(
            s.alive(),
            "a relance serve stopped by itself; see relance.log"
        );
    }
    for s in &mut servers {
        s.stop();
    }

    // And finish together, past every wake.
    let horizon = t0() + chrono::Duration::days(731);
    let last = VirtualTime::new(horizon, FINAL_SPEED);
    let servers: Vec<Server> = (0..processes)
        .map(|_| Server::start(&config, FINAL_SPEED, horizon))
        .collect();
    let store = Store::open(&url, Synchronous::Full).await.unwrap();
    wait_until_settled(
        &store,
        last,
        chrono::Duration::days(1000),
        Duration::from_secs(120),
    )
    .await;
    drop(servers);

    let rows = outbox(&store, &imported).await;
    let keys: BTreeSet<&str> = rows.iter().map(|(k, _, _)| k.as_str()).collect();
    assert_eq!(keys.len(), rows.len(), "outbox keys are unique");
    let counts = provider.counts();
    for (key, seen) in &counts {
        assert!(keys.contains(key.as_str()), "{key} is no outbox key");
        assert_eq!(
            seen.duplicates, 0,
            "{key} reached the provider twice: {seen:?}"
        );
    }
    // Tasks (the `phone` channel) go to the operators' work queue, not to
    // the provider: they count as sent without a delivery.
    for (key, channel, status) in &rows {
        let delivered = counts.get(key).map_or(0, |c| c.delivered);
        let expected = u32::from(status == "sent" && channel != "phone");
        assert_eq!(
            delivered, expected,
            "{key} is {status} and was delivered {delivered} time(s)"
        );
    }
    let sent = rows
        .iter()
        .filter(|(_, c, s)| s == "sent" && c != "phone")
        .count();
    // A key may reach the provider without being delivered (a 503, a dropped
    // connection) and then be cancelled when its case ends: only deliveries count.
    let delivered = counts.values().filter(|c| c.delivered > 0).count();
    assert_eq!(
        sent, delivered,
        "every sent row was delivered once, and only those"
    );
    assert!(sent > 100, "the portfolio sent something ({sent})");

    let mismatches = compare_with_simulator(
        &store,
        &config,
        &imported,
        t0(),
        t0() + chrono::Duration::days(3650),
    )
    .await;
    assert!(
        mismatches.is_empty(),
        "{} instance(s) differ from the simulator, e.g. {:#?}",
        mismatches.len(),
        &mismatches[..mismatches.len().min(3)]
    );
    store.close().await.ok();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_processes_on_one_database_run_each_step_once() {
    cluster_test(2).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_processes_on_one_database_run_each_step_once() {
    cluster_test(3).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wake_missed_while_stopped_runs_once_late_on_restart() {
    let dir = support::scratch("missed_wake");
    let url = sqlite_url(&dir.join("relance.db"));
    let provider = Provider::start(3).await;
    let config = write_config(&dir, &url, &provider.url());
    let imported = import_portfolio(&config, 30, t0()).await;

    // At real speed from t0: only what is due at the start runs.
    let mut server = Server::start(&config, 1, t0());
    let store = Store::open(&url, Synchronous::Full).await.unwrap();
    wait_until_settled(
        &store,
        VirtualTime::new(t0(), 1),
        chrono::Duration::zero(),
        Duration::from_secs(30),
    )
    .await;
    server.stop();

    let mut before = Vec::new();
    for one in &imported {
        let (_, _, state) = store
            .instance_state(&one.instance_id)
            .await
            .unwrap()
            .unwrap();
        let instance: Instance = serde_json::from_str(&state).unwrap();
        let journal = store.journal(&one.instance_id).await.unwrap();
        before.push((instance.next_wake, journal.len()));
    }

    // Three weeks later (a Monday, 11:00 in Paris, inside the sending window).
    let later = t0() + chrono::Duration::days(21) + chrono::Duration::hours(3);
    let missed = before
        .iter()
        .filter(|(wake, _)| wake.is_some_and(|w| w <= later))
        .count();
    assert!(missed > 0, "some wakes fall due while the process is down");
    let mut server = Server::start(&config, 1, later);
    wait_until_settled(
        &store,
        VirtualTime::new(later, 1),
        chrono::Duration::zero(),
        Duration::from_secs(30),
    )
    .await;
    server.stop();

    for (one, (wake, len)) in imported.iter().zip(&before) {
        let journal = store.journal(&one.instance_id).await.unwrap();
        let new = &journal[*len..];
        match wake {
            Some(w) if *w <= later => {
                assert!(
                    !new.is_empty(),
                    "{}: the missed wake never ran",
                    one.instance_id
                );
                for e in new {
                    assert!(
                        e.at >= later.timestamp_millis(),
                        "{}: {} ran at {}, not late on restart",
                        one.instance_id,
                        e.kind,
                        e.at
                    );
                }
                let steps: Vec<_> = journal.iter().filter_map(|e| e.step.clone()).collect();
                let fired: Vec<_> = new
                    .iter()
                    .filter(|e| matches!(e.kind.as_str(), "send" | "task" | "handover" | "claim"))
                    .filter_map(|e| e.step.clone())
                    .collect();
                for step in &fired {
                    let times = journal
                        .iter()
                        .filter(|e| e.step.as_ref() == Some(step) && e.kind == "send")
                        .count();
                    assert!(
                        times <= 1,
                        "{}: {step} ran {times} times ({steps:?})",
                        one.instance_id
                    );
                }
                let (_, _, state) = store
                    .instance_state(&one.instance_id)
                    .await
                    .unwrap()
                    .unwrap();
                let instance: Instance = serde_json::from_str(&state).unwrap();
                assert!(
                    instance.next_wake.is_none_or(|w| w > later),
                    "{}: still due after the restart",
                    one.instance_id
                );
            }
            _ => assert!(
                new.is_empty(),
                "{}: nothing was due, yet {new:?} ran",
                one.instance_id
            ),
        }
    }
    let counts = provider.counts();
    assert!(
        counts
            .values()
            .all(|c| c.delivered == 1 && c.duplicates == 0)
    );
    store.close().await.ok();
}
