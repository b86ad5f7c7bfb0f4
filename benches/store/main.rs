//! `cargo bench --bench store`: durable step transitions per second on one
//! SQLite file, through the store's real write path and through the full
//! scheduler, side by side with a raw baseline that makes the same row
//! writes directly through the SQLite driver (rusqlite) in the same run.
//!
//! This benchmark owns measuring only: every database it writes is a fresh
//! file in a scratch folder of the build directory, removed afterwards. It
//! must not change what it measures. `cargo bench --bench store -- 10k`
//! runs only the 10 000-instance lines (`100k` likewise).

#[path = "../engine/harness.rs"]
#[allow(dead_code)]
mod harness;

use std::error::Error;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use chrono::{DateTime, NaiveDate, TimeZone, Utc};
use tokio::sync::Notify;

use relance::engine::Engine;
use relance::money::RateTable;
use relance::runtime::{
    Clock, Metrics, ScenarioSet, Scheduler, SchedulerSettings, demo, import_batch,
};
use relance::store::{
    CaseRow, ClaimedInstance, ClientRow, DebtorRow, ImportBatch, InstanceRow, JournalRow,
    OutboxInsert, StepRecord, Store, Synchronous, sqlite_url,
};

use harness::rate;

type Fail = Box<dyn Error>;

/// Transitions claimed and committed per transaction on the write path.
const BATCH: u64 = 1_000;
/// Instance counts measured.
const SIZES: [usize; 2] = [10_000, 100_000];
/// The scheduler's lease owner and lease, as a running service would use.
const OWNER: &str = "bench";
const LEASE_MS: i64 = 30_000;
/// The b2b-france scenario, copied into the scratch folder for the scheduler.
const B2B_FRANCE: &str = include_str!("../../scenarios/b2b-france.yaml");

/// One line of the result table.
struct Line {
    instances: usize,
    sync: &'static str,
    path: &'static str,
    per_second: f64,
    /// Index of the raw line this one is compared with.
    raw: Option<usize>,
}

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("store bench: {err}");
            ExitCode::FAILURE
        }
    }
}

fn run() -> Result<(), Fail> {
    let wanted: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with('-'))
        .collect();
    let sizes: Vec<usize> = SIZES
        .into_iter()
        .filter(|&n| wanted.is_empty() || wanted.iter().any(|w| *w == label(n)))
        .collect();
    if sizes.is_empty() {
        return Err(format!("nothing matches {wanted:?}; sizes are 10k and 100k").into());
    }

    let scratch = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("store-bench-{}", std::process::id()));
    std::fs::create_dir_all(&scratch)?;
    let outcome = measure_all(&scratch, &sizes);
    let _ = std::fs::remove_dir_all(&scratch);
    let lines = outcome?;

    print_lines(&lines);
    Ok(())
}

fn measure_all(scratch: &Path, sizes: &[usize]) -> Result<Vec<Line>, Fail> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let sample = rt.block_on(sample_state())?;
    eprintln!(
        "instance state: {} bytes of JSON (a started demo case on b2b-france)",
        sample.len()
    );

    let mut lines = Vec::new();
    for &n in sizes {
        for (sync, sync_name) in [(Synchronous::Full, "FULL"), (Synchronous::Normal, "NORMAL")] {
            let dir = scratch.join(format!("{}-{sync_name}", label(n)));
            std::fs::create_dir_all(&dir)?;

            eprintln!(
                "{} instances, synchronous {sync_name}: raw baseline",
                label(n)
            );
            let raw = rt.block_on(prepare(&dir.join("raw.db"), n, &sample, sync))?;
            let raw_times = raw_path(&raw, n, &sample, sync)?;

            eprintln!("{} instances, synchronous {sync_name}: store", label(n));
            let file = dir.join("store.db");
            let store_times = rt.block_on(async {
                let store = open_prepared(&file, n, &sample, sync).await?;
                let times = store_path(&store, n, &sample).await?;
                store.close().await?;
                Ok::<_, Fail>(times)
            })?;

            let base = lines.len();
            lines.push(Line {
                instances: n,
                sync: sync_name,
                path: "raw rusqlite: row writes",
                per_second: n as f64 / raw_times.write.as_secs_f64(),
                raw: None,
            });
            lines.push(Line {
                instances: n,
                sync: sync_name,
                path: "Store::commit",
                per_second: n as f64 / store_times.write.as_secs_f64(),
                raw: Some(base),
            });
            lines.push(Line {
                instances: n,
                sync: sync_name,
                path: "raw rusqlite: claim + row writes",
                per_second: n as f64 / (raw_times.claim + raw_times.write).as_secs_f64(),
                raw: None,
            });
            lines.push(Line {
                instances: n,
                sync: sync_name,
                path: "Store::claim_due + commit",
                per_second: n as f64 / (store_times.claim + store_times.write).as_secs_f64(),
                raw: Some(base + 2),
            });
            if sync == Synchronous::Full {
                eprintln!("{} instances, synchronous FULL: scheduler", label(n));
                let steps_per_second = rt.block_on(scheduler_path(&dir.join("scheduler"), n))?;
                lines.push(Line {
                    instances: n,
                    sync: sync_name,
                    path: "Scheduler::run_once (engine + JSON + store)",
                    per_second: steps_per_second,
                    raw: Some(base + 2),
                });
            }
            let _ = std::fs::remove_dir_all(&dir);
        }
    }
    Ok(lines)
}

fn label(n: usize) -> String {
    format!("{}k", n / 1_000)
}

// --- the data ---------------------------------------------------------------

/// The Unix-millisecond "now" of the write-path measures.
const NOW: i64 = 1_796_284_800_000;
/// A wake time far in the future: committed instances are not due again.
const LATER: i64 = NOW + 365 * 86_400_000;

/// The state JSON of a real instance: one demo case started on b2b-france,
/// so that the rows written have the size the runtime writes.
async fn sample_state() -> Result<String, Fail> {
    let rules = relance::rules::Rules::new();
    let loaded = relance::scenario::load(&rules, "b2b-france.yaml", B2B_FRANCE);
    let scenario = loaded
        .scenario
        .ok_or("scenarios/b2b-france.yaml does not load")?;
    let rates = RateTable::builtin();
    let engine = Engine {
        rules: &rules,
        rates: &rates,
    };
    let now = utc(NOW);
    let case = demo::portfolio(20, now.date_naive())
        .into_iter()
        .find(|c| engine.applies(&scenario, c, now).unwrap_or(false))
        .ok_or("no demo case applies to b2b-france")?;
    let t = engine.start(&scenario, case, now)?;
    Ok(serde_json::to_string(&t.instance)?)
}

/// `n` due instances of one debtor, as an import writes them.
fn import_rows(n: usize, state: &str) -> ImportBatch {
    let mut batch = ImportBatch {
        clients: vec![ClientRow {
            id: "bench".into(),
            name: "Bench SAS".into(),
            country: Some("FR".into()),
            brand: "{}".into(),
        }],
        debtors: vec![DebtorRow {
            client_id: "bench".into(),
            id: "D1".into(),
            kind: "company".into(),
            name: "Debtor SARL".into(),
            country: Some("FR".into()),
            language: "fr".into(),
            timezone: "Europe/Paris".into(),
            siren: None,
            vat: None,
        }],
        ..ImportBatch::default()
    };
    for i in 0..n {
        let id = format!("bench/C{i:06}");
        batch.cases.push(CaseRow {
            id: id.clone(),
            client_id: "bench".into(),
            debtor_id: "D1".into(),
            currency: "EUR".into(),
            opened_at: NOW - 86_400_000,
        });
        batch.instances.push(InstanceRow {
            id: id.clone(),
            case_id: id,
            scenario: "b2b-france".into(),
            version: "bench".into(),
            status: "running".into(),
            stage: Some("pre_recovery".into()),
            next_wake: Some(NOW - 1_000 - i as i64),
            state: state.to_string(),
        });
    }
    batch
}

/// The step of one claimed instance: one state update, one journal row and
/// one outbox row, the shape of a reminder that fires.
fn step_record(id: &str, state: &str) -> StepRecord {
    StepRecord {
        id: id.to_string(),
        state: state.to_string(),
        status: "running".into(),
        stage: Some("reminders".into()),
        next_wake: Some(LATER),
        steps: 1,
        journal: vec![JournalRow {
            instance_id: id.to_string(),
            at: NOW,
            kind: "send".into(),
            stage: Some("reminders".into()),
            step: Some("first".into()),
            channel: Some("email".into()),
            template: Some("reminder_1".into()),
            detail: "first reminder by email".into(),
            balance: "1234.56".into(),
            total_due: "1234.56".into(),
            currency: "EUR".into(),
        }],
        outbox: vec![OutboxInsert {
            key: format!("{id}/first/0"),
            instance_id: id.to_string(),
            step: "first".into(),
            channel: "email".into(),
            action: format!(
                r#"{{"kind":"send","channel":"email","template":"reminder_1","step":"first","stage":"reminders","instance":"{id}","attach":"invoices","language":"fr"}}"#
            ),
            irreversible: false,
            not_before: NOW,
        }],
        events_applied: Vec::new(),
        events_refused: Vec::new(),
        cancel_pending: false,
        domain: Vec::new(),
    }
}

fn utc(ms: i64) -> DateTime<Utc> {
    Utc.timestamp_millis_opt(ms).single().unwrap_or_default()
}

/// A fresh, migrated file holding `n` due instances.
async fn open_prepared(
    file: &Path,
    n: usize,
    state: &str,
    sync: Synchronous,
) -> Result<Store, Fail> {
    let store = Store::open(&sqlite_url(file), sync).await?;
    store.migrate().await?;
    let stats = store.import(&import_rows(n, state), NOW).await?;
    if stats.instances != n as u64 {
        return Err(format!("imported {} instances, not {n}", stats.instances).into());
    }
    Ok(store)
}

/// The same file for the raw baseline, closed again so that rusqlite has it
/// to itself.
async fn prepare(file: &Path, n: usize, state: &str, sync: Synchronous) -> Result<PathBuf, Fail> {
    let store = open_prepared(file, n, state, sync).await?;
    store.close().await?;
    Ok(file.to_path_buf())
}

/// Time spent claiming and writing all instances once.
struct Times {
    claim: Duration,
    write: Duration,
}

// --- the store's write path -------------------------------------------------

/// Claims batches of [`BATCH`] due instances and commits one step each,
/// until none is due, as the scheduler does (without the engine).
async fn store_path(store: &Store, n: usize, state: &str) -> Result<Times, Fail> {
    let mut times = Times {
        claim: Duration::ZERO,
        write: Duration::ZERO,
    };
    let mut done = 0;
    loop {
        let started = Instant::now();
        let claimed: Vec<ClaimedInstance> = store.claim_due(NOW, BATCH, OWNER, LEASE_MS).await?;
        times.claim += started.elapsed();
        if claimed.is_empty() {
            break;
        }
        let records: Vec<StepRecord> = claimed.iter().map(|c| step_record(&c.id, state)).collect();

        let started = Instant::now();
        let lost = store.commit(OWNER, &records, NOW).await?;
        times.write += started.elapsed();
        if !lost.is_empty() {
            return Err(format!("{} leases lost in a single-process bench", lost.len()).into());
        }
        done += records.len();
    }

    let status = store.status(NOW).await?;
    let outbox: i64 = status.outbox.iter().map(|(_, c)| c).sum();
    if done != n || status.journal_entries != n as i64 || outbox != n as i64 {
        return Err(format!(
            "store path wrote {done} steps, {} journal and {outbox} outbox rows; expected {n} each",
            status.journal_entries
        )
        .into());
    }
    Ok(times)
}

// --- the raw baseline ---------------------------------------------------------

/// The same claims and row writes straight through rusqlite: the claim is
/// the store's statement, the writes are one prepared `UPDATE` and two
/// prepared `INSERT`s per step, [`BATCH`] steps per transaction.
fn raw_path(file: &Path, n: usize, state: &str, sync: Synchronous) -> Result<Times, Fail> {
    let mut db = rusqlite::Connection::open(file)?;
    db.pragma_update(None, "journal_mode", "WAL")?;
    db.pragma_update(
        None,
        "synchronous",
        match sync {
            Synchronous::Full => "FULL",
            Synchronous::Normal => "NORMAL",
        },
    )?;
    db.pragma_update(None, "foreign_keys", "ON")?;

    let mut times = Times {
        claim: Duration::ZERO,
        write: Duration::ZERO,
    };
    let mut done = 0;
    loop {
        let started = Instant::now();
        let claimed = raw_claim(&mut db)?;
        times.claim += started.elapsed();
        if claimed.is_empty() {
            break;
        }
        let records: Vec<StepRecord> = claimed.iter().map(|id| step_record(id, state)).collect();

        let started = Instant::now();
        raw_write(&mut db, &records)?;
        times.write += started.elapsed();
        done += records.len();
    }

    let journal: i64 = db.query_row("SELECT COUNT(*) FROM journal", [], |r| r.get(0))?;
    let outbox: i64 = db.query_row("SELECT COUNT(*) FROM outbox", [], |r| r.get(0))?;
    if done != n || journal != n as i64 || outbox != n as i64 {
        return Err(format!(
            "raw path wrote {done} steps, {journal} journal and {outbox} outbox rows; expected {n} each"
        )
        .into());
    }
    Ok(times)
}

fn raw_claim(db: &mut rusqlite::Connection) -> Result<Vec<String>, Fail> {
    let tx = db.transaction()?;
    let mut ids = Vec::new();
    {
        let mut claim = tx.prepare_cached(
            "UPDATE instances SET lease_owner = ?1, lease_until = ?2 WHERE id IN (\
               SELECT id FROM instances \
               WHERE (lease_until IS NULL OR lease_until < ?3) \
                 AND ((next_wake IS NOT NULL AND next_wake <= ?3) \
                      OR id IN (SELECT instance_id FROM events WHERE applied_at IS NULL)) \
               ORDER BY next_wake LIMIT ?4) \
             RETURNING id, scenario, version, state",
        )?;
        let mut rows = claim.query(rusqlite::params![OWNER, NOW + LEASE_MS, NOW, BATCH as i64])?;
        while let Some(row) = rows.next()? {
            let id: String = row.get(0)?;
            let _scenario: String = row.get(1)?;
            let _version: String = row.get(2)?;
            let _state: String = row.get(3)?;
            ids.push(id);
        }
    }
    tx.commit()?;
    Ok(ids)
}

fn raw_write(db: &mut rusqlite::Connection, records: &[StepRecord]) -> Result<(), Fail> {
    let tx = db.transaction()?;
    {
        let mut update = tx.prepare_cached(
            "UPDATE instances SET state = ?1, status = ?2, stage = ?3, next_wake = ?4, \
             steps = steps + ?5, lease_owner = NULL, lease_until = NULL, updated_at = ?6 \
             WHERE id = ?7",
        )?;
        let mut journal = tx.prepare_cached(
            "INSERT INTO journal (instance_id, at, kind, stage, step, channel, template, detail, \
             balance, total_due, currency) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
        )?;
        let mut outbox = tx.prepare_cached(
            "INSERT INTO outbox (key, instance_id, step, channel, action, irreversible, \
             not_before, status, next_attempt, created_at) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, 'pending', ?7, ?8) ON CONFLICT (key) DO NOTHING",
        )?;
        for st in records {
            update.execute(rusqlite::params![
                st.state,
                st.status,
                st.stage,
                st.next_wake,
                st.steps as i64,
                NOW,
                st.id
            ])?;
            for j in &st.journal {
                journal.execute(rusqlite::params![
                    j.instance_id,
                    j.at,
                    j.kind,
                    j.stage,
                    j.step,
                    j.channel,
                    j.template,
                    j.detail,
                    j.balance,
                    j.total_due,
                    j.currency
                ])?;
            }
            for o in &st.outbox {
                outbox.execute(rusqlite::params![
                    o.key,
                    o.instance_id,
                    o.step,
                    o.channel,
                    o.action,
                    o.irreversible,
                    o.not_before,
                    NOW
                ])?;
            }
        }
    }
    tx.commit()?;
    Ok(())
}

// --- the full scheduler -------------------------------------------------------

/// `n` demo cases started on b2b-france thirty days ago, then the real
/// scheduler run batch after batch until nothing is due: engine steps, state
/// JSON both ways and the store, together. Returns engine steps committed
/// per second.
async fn scheduler_path(dir: &Path, n: usize) -> Result<f64, Fail> {
    let scenarios_dir = dir.join("scenarios");
    std::fs::create_dir_all(&scenarios_dir)?;
    std::fs::write(scenarios_dir.join("b2b-france.yaml"), B2B_FRANCE)?;

    let today = NaiveDate::from_ymd_opt(2026, 12, 3).ok_or("bad date")?;
    let opened = utc(NOW);
    let store = Store::open(&sqlite_url(&dir.join("relance.db")), Synchronous::Full).await?;
    store.migrate().await?;
    let scenarios = Arc::new(ScenarioSet::load(&scenarios_dir, None, &store, NOW).await?);
    let scenario = scenarios
        .current()
        .first()
        .cloned()
        .ok_or("b2b-france did not load")?;
    let rates = Arc::new(RateTable::builtin());

    let engine = Engine {
        rules: scenarios.rules(),
        rates: &rates,
    };
    let mut started = Vec::with_capacity(n);
    for case in demo::portfolio(n * 2, today) {
        if started.len() == n {
            break;
        }
        if !engine.applies(&scenario, &case, opened)? {
            continue;
        }
        let t = engine.start(&scenario, case.clone(), opened)?;
        started.push((case, scenario.as_ref(), t));
    }
    if started.len() < n {
        return Err(format!("only {} demo cases apply to b2b-france", started.len()).into());
    }
    store.import(&import_batch(&started, opened), NOW).await?;
    drop(started);

    let metrics = Arc::new(Metrics::default());
    let scheduler = Scheduler {
        store: store.clone(),
        scenarios,
        rates,
        owner: OWNER.into(),
        settings: SchedulerSettings {
            batch_size: BATCH,
            ..SchedulerSettings::default()
        },
        clock: Clock::accelerated(opened + chrono::Duration::days(30), 1),
        notify: Arc::new(Notify::new()),
        metrics: metrics.clone(),
    };

    let began = Instant::now();
    let mut instances = 0;
    loop {
        let processed = scheduler.run_once().await?;
        if processed == 0 {
            break;
        }
        instances += processed;
    }
    let elapsed = began.elapsed();

    let steps = metrics.steps.load(Ordering::Relaxed);
    let status = store.status(scheduler.clock.now_ms()).await?;
    eprintln!(
        "  scheduler: {instances} instances claimed, {steps} engine steps, {} journal rows, \
         {} batches in {:.2} s",
        status.journal_entries,
        metrics.batches.load(Ordering::Relaxed),
        elapsed.as_secs_f64()
    );
    if steps == 0 {
        return Err("the scheduler committed no step".into());
    }
    store.close().await?;
    Ok(steps as f64 / elapsed.as_secs_f64())
}

// --- the table ----------------------------------------------------------------

fn print_lines(lines: &[Line]) {
    let header = [
        "instances".to_string(),
        "synchronous".to_string(),
        "path".to_string(),
        "transitions/s".to_string(),
        "ratio to raw".to_string(),
    ];
    let rows: Vec<[String; 5]> = lines
        .iter()
        .map(|l| {
            [
                label(l.instances),
                l.sync.to_string(),
                l.path.to_string(),
                rate(l.per_second),
                match l.raw {
                    Some(i) => format!("{:.2}", l.per_second / lines[i].per_second),
                    None => "1.00".to_string(),
                },
            ]
        })
        .collect();
    let mut widths = header.clone().map(|h| h.chars().count());
    for row in &rows {
        for (i, cell) in row.iter().enumerate() {
            widths[i] = widths[i].max(cell.chars().count());
        }
    }
    let line = |cells: &[String; 5]| {
        let mut out = String::new();
        for (i, cell) in cells.iter().enumerate() {
            if i > 0 {
                out.push_str("  ");
            }
            let pad = " ".repeat(widths[i] - cell.chars().count());
            if i >= 3 {
                out.push_str(&pad);
                out.push_str(cell);
            } else {
                out.push_str(cell);
                out.push_str(&pad);
            }
        }
        out
    };
    println!("{}", line(&header));
    println!("{}", "-".repeat(widths.iter().sum::<usize>() + 8));
    for row in &rows {
        println!("{}", line(row));
    }
    println!();
    println!(
        "Each step: 1 instance update + 1 journal row + 1 outbox row; {BATCH} steps per \
         transaction. The scheduler line counts engine steps and compares with the raw claim + \
         row writes."
    );
}
