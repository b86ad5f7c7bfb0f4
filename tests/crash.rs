//! The crash test: `relance serve` killed with SIGKILL at random (seeded) moments while it
//! steps a portfolio and sends through a flaky HTTP provider, restarted each time, then left
//! to finish with its clock far ahead. At the end no step is lost (every journal has the
//! shape the simulator predicts), no key reached the provider twice as a new delivery,
//! nothing is stuck in the outbox, and irreversible sends of unknown outcome are parked.
//!
//! `RELANCE_CRASH_KILLS=200` selects a longer run (default 30 kills per backend).

mod support;

use std::collections::BTreeSet;
use std::path::Path;
use std::time::Duration;

use chrono::{DateTime, Utc};
use relance::store::{Store, Synchronous, sqlite_url};

use support::provider::{
    Provider, Server, VirtualTime, compare_with_simulator, import_portfolio, outbox, t0,
    wait_until_settled, write_config,
};

/// Virtual speed while killing: about 200 virtual days over the default run.
const SPEED: u32 = 500_000;
/// Virtual speed of the last run, started past every wake, to let it finish quickly.
const FINAL_SPEED: u32 = 5_000_000;
const CASES: usize = 200;
const SEED: u64 = 0x5eed_c0de;

fn kills() -> usize {
    std::env::var("RELANCE_CRASH_KILLS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(30)
}

/// A small seeded generator: the kill moments are the same on every run.
struct Lcg(u64);

impl Lcg {
    fn below(&mut self, n: u64) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (self.0 >> 33) % n
    }
}

fn days(n: i64) -> chrono::Duration {
    chrono::Duration::days(n)
}

/// Kills and restarts `relance serve` `kills` times, then lets it finish; returns the
/// virtual instant the last run started at.
async fn run_with_kills(config: &Path, kills: usize, seed: u64) -> DateTime<Utc> {
    let clock = VirtualTime::new(t0(), SPEED);
    let mut rng = Lcg(seed);
    for n in 0..kills {
        let mut server = Server::start(config, SPEED, clock.now());
        let wait = 150 + rng.below(1350);
        tokio::time::sleep(Duration::from_millis(wait)).await;
        assert!(
            server.alive(),
            "relance serve stopped by itself before kill {n}; see relance.log"
        );
        server.kill();
    }
    clock.now()
}

async fn crash_test(database_url: &str, dir: &Path) {
    let provider = Provider::start(SEED).await;
    provider.fail_per_mille(100);
    provider.drop_per_mille(30);
    let config = write_config(dir, database_url, &provider.url());
    let imported = import_portfolio(&config, CASES, t0()).await;
    assert_eq!(imported.len(), CASES);

    let killed_at = run_with_kills(&config, kills(), SEED).await;

    // Far past every wake and every lease the killed processes held.
    let horizon = t0() + days(731);
    assert!(killed_at < horizon);
    let last = VirtualTime::new(horizon, FINAL_SPEED);
    let server = Server::start(&config, FINAL_SPEED, horizon);
    let store = Store::open(database_url, Synchronous::Full).await.unwrap();
    wait_until_settled(&store, last, days(1000), Duration::from_secs(120)).await;
    drop(server);

    let mismatches =
        compare_with_simulator(&store, &config, &imported, t0(), t0() + days(3650)).await;
    assert!(
        mismatches.is_empty(),
        "{} instance(s) differ from the simulator, e.g. {:#?}",
        mismatches.len(),
        &mismatches[..mismatches.len().min(3)]
    );

    let rows = outbox(&store, &imported).await;
    let counts = provider.counts();
    assert_eq!(provider.keyless(), 0, "every request carries its key");
    let keys: BTreeSet<&str> = rows.iter().map(|(k, _, _)| k.as_str()).collect();
    assert_eq!(keys.len(), rows.len(), "outbox keys are unique");
    for key in counts.keys() {
        assert!(
            keys.contains(key.as_str()),
            "{key} reached the provider but is no outbox key"
        );
    }

    let mut parked = 0;
    let mut dead = 0;
    let mut deduplicated = 0;
    for (key, channel, status) in &rows {
        let seen = counts.get(key).cloned().unwrap_or_default();
        assert!(seen.delivered <= 1, "{key} delivered twice: {seen:?}");
        deduplicated += seen.duplicates;
        match status.as_str() {
            // Tasks go to the operators' work queue, not to the provider.
            "sent" if channel == "phone" => assert_eq!(seen.delivered, 0, "{key} is a task"),
            "sent" => assert_eq!(seen.delivered, 1, "{key} is sent but never delivered"),
            "cancelled" => {}
            "parked" => {
                parked += 1;
                assert_eq!(seen.duplicates, 0, "{key} parked after a repeat: {seen:?}");
            }
            "dead" => dead += 1,
            other => panic!("{key} ({channel}) ended {other}: neither sent, cancelled nor parked"),
        }
    }
    for (key, _, status) in rows.iter().filter(|(_, c, _)| irreversible(c)) {
        let seen = counts.get(key).cloned().unwrap_or_default();
        assert_eq!(
            seen.duplicates, 0,
            "irreversible {key} ({status}) was sent again: {seen:?}"
        );
    }
    let sent = rows.iter().filter(|(_, _, s)| s == "sent").count();
    eprintln!(
        "crash test: {} kills, {} outbox rows, {sent} sent, {parked} parked (outcome unknown \
         on an irreversible channel), {dead} dead letter(s) that could not be built, {deduplicated} repeat(s) the provider deduplicated",
        kills(),
        rows.len()
    );
    assert!(sent > CASES, "the portfolio sent something ({sent} sends)");
    assert_eq!(
        dead, 0,
        "every message could be built and no send kept failing"
    );
    store.close().await.ok();
}

/// Registered mail and webhooks (handovers, claims) are never sent twice.
fn irreversible(channel: &str) -> bool {
    matches!(channel, "registered_mail" | "webhook")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_loses_no_step_and_sends_nothing_twice_across_kills() {
    let dir = support::scratch("crash_sqlite");
    let url = sqlite_url(&dir.join("relance.db"));
    crash_test(&url, &dir).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_loses_no_step_and_sends_nothing_twice_across_kills() {
    let Some(url) = support::postgres_database("crash").await else {
        return;
    };
    let dir = support::scratch("crash_postgres");
    crash_test(&url, &dir).await;
}
