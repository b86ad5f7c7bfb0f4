//! A local message provider for the `http` adapter: it accepts POSTs on 127.0.0.1,
//! deduplicates them by `Idempotency-Key` like a real provider, and keeps counts the
//! tests assert on.
//!
//! It can be told to answer a share of requests with 503 (before acting on them) or to
//! drop the connection after reading a request (after acting on it: the sender cannot
//! know whether it went out). The choice is drawn from a seeded generator.
//!
//! Below it, the harness the crash and cluster tests share: a configuration that sends
//! through the provider, a portfolio imported at a fixed virtual time, `relance serve`
//! processes killed on drop, and the comparison with the simulator.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use chrono::{DateTime, TimeZone, Utc};
use relance::config::Config;
use relance::engine::{Case, Engine, Instance};
use relance::runtime::service::{load_scenarios, open_store, rate_table};
use relance::runtime::{demo, import_batch};
use relance::scenario::Scenario;
use relance::simulate;
use relance::store::Store;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

/// What the provider saw of one idempotency key.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct KeyCount {
    /// Requests it acted on: 1 at most, since a repeat is answered 409.
    pub delivered: u32,
    /// Repeats after it had acted, answered 409 without acting.
    pub duplicates: u32,
    /// Requests answered 503 before acting.
    pub refused: u32,
    /// Of `delivered`, how many had their answer cut (the connection dropped).
    pub dropped: u32,
}

#[derive(Debug, Default)]
struct State {
    keys: BTreeMap<String, KeyCount>,
    /// Requests without an `Idempotency-Key`.
    keyless: u32,
    /// Share of requests, in thousandths, answered 503.
    fail_per_mille: u64,
    /// Share of requests, in thousandths, whose connection is dropped after reading.
    drop_per_mille: u64,
    rng: u64,
    /// Provider ids handed out so far.
    issued: u64,
}

impl State {
    fn roll(&mut self) -> u64 {
        self.rng = self
            .rng
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (self.rng >> 33) % 1000
    }
}

/// The running provider; it stops when dropped.
pub struct Provider {
    address: SocketAddr,
    state: Arc<Mutex<State>>,
    task: JoinHandle<()>,
}

impl Drop for Provider {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Provider {
    /// Listens on a free loopback port; `seed` makes its failures reproducible.
    pub async fn start(seed: u64) -> Provider {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        let state = Arc::new(Mutex::new(State {
            rng: seed,
            ..State::default()
        }));
        let shared = state.clone();
        let task = tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                tokio::spawn(serve(stream, shared.clone()));
            }
        });
        Provider {
            address,
            state,
            task,
        }
    }

    /// The URL to configure as `channels.http.url`.
    pub fn url(&self) -> String {
        format!("http://{}/messages", self.address)
    }

    /// Answers this share of requests (thousandths) with 503, before acting on them.
    pub fn fail_per_mille(&self, share: u64) {
        self.lock().fail_per_mille = share;
    }

    /// Drops the connection after acting on this share of requests (thousandths).
    pub fn drop_per_mille(&self, share: u64) {
        self.lock().drop_per_mille = share;
    }

    /// Every key seen, with its counts.
    pub fn counts(&self) -> BTreeMap<String, KeyCount> {
        self.lock().keys.clone()
    }

    /// Requests that came without an idempotency key.
    pub fn keyless(&self) -> u32 {
        self.lock().keyless
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }
}

enum Answer {
    Status(u16, String),
    Drop,
}

async fn serve(mut stream: TcpStream, state: Arc<Mutex<State>>) {
    let Some(key) = read_request(&mut stream).await else {
        return;
    };
    let answer = {
        let mut s = state.lock().unwrap_or_else(|p| p.into_inner());
        decide(&mut s, key)
    };
    match answer {
        Answer::Drop => drop(stream),
        Answer::Status(status, body) => {
            let reason = match status {
                200 => "OK",
                409 => "Conflict",
                503 => "Service Unavailable",
                _ => "Bad Request",
            };
            let text = format!(
                "HTTP/1.1 {status} {reason}\r\nContent-Type: application/json\r\n\
                 Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
            let _ = stream.write_all(text.as_bytes()).await;
            let _ = stream.shutdown().await;
        }
    }
}

fn decide(s: &mut State, key: Option<String>) -> Answer {
    let Some(key) = key else {
        s.keyless += 1;
        return Answer::Status(400, r#"{"error":"no Idempotency-Key"}"#.into());
    };
    let fail = s.roll() < s.fail_per_mille;
    let cut = s.roll() < s.drop_per_mille;
    let count = s.keys.entry(key).or_default();
    if fail {
        count.refused += 1;
        return Answer::Status(503, r#"{"error":"try later"}"#.into());
    }
    if count.delivered > 0 {
        count.duplicates += 1;
        return Answer::Status(409, r#"{"error":"already delivered"}"#.into());
    }
    count.delivered += 1;
    if cut {
        count.dropped += 1;
        return Answer::Drop;
    }
    s.issued += 1;
    Answer::Status(200, format!(r#"{{"id":"prov-{}"}}"#, s.issued))
}

/// Reads one request; `Some(key)` once it is all there (the key itself may be missing).
async fn read_request(stream: &mut TcpStream) -> Option<Option<String>> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        let n = stream.read(&mut chunk).await.ok()?;
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(&chunk[..n]);
        let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") else {
            continue;
        };
        let head = String::from_utf8_lossy(&buf[..end]).to_string();
        let header = |name: &str| {
            head.split("\r\n").find_map(|line| {
                let (n, v) = line.split_once(':')?;
                n.trim()
                    .eq_ignore_ascii_case(name)
                    .then(|| v.trim().to_string())
            })
        };
        let length: usize = header("content-length")
            .and_then(|v| v.parse().ok())
            .unwrap_or(0);
        if buf.len() >= end + 4 + length {
            return Some(header("idempotency-key"));
        }
    }
}

// --- driving `relance serve` against the provider ---------------------------------------

/// A fixed virtual start (a Monday morning), so that every run tells the same story.
pub fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 3, 2, 7, 0, 0).unwrap()
}

/// Writes a configuration for `relance serve` on `database_url`, sending every channel
/// through the http adapter to `provider_url`, with short leases and retries so that a
/// killed process's work is taken over quickly.
pub fn write_config(dir: &Path, database_url: &str, provider_url: &str) -> PathBuf {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let text = format!(
        "database:\n  url: \"{database_url}\"\n\
         http:\n  listen: 127.0.0.1:0\n\
         scheduler:\n  batch_size: 50\n  lease_seconds: 1\n  idle_max_sleep_seconds: 1\n\
         dispatcher:\n  batch_size: 20\n  max_attempts: 10\n  backoff_base_ms: 20\n  backoff_max_ms: 200\n\
         scenarios: \"{}\"\ntemplates: \"{}\"\n\
         channels:\n  default_adapter: http\n  file_dir: \"{}\"\n  http:\n    url: \"{provider_url}\"\n    timeout_ms: 2000\n    allow_loopback: true\n\
         partners:\n  agent_default:\n    name: Cabinet Exemple Recouvrement\n    address: [\"1 place de la Bourse\", \"69002 Lyon\"]\n    registration: \"RCS Lyon 000 000 000\"\n",
        root.join("scenarios").display(),
        root.join("templates").display(),
        dir.join("out").display(),
    );
    let path = dir.join("relance.yaml");
    std::fs::write(&path, text).unwrap();
    path
}

/// One imported case: its instance id, the case as imported and its scenario.
pub struct Imported {
    pub instance_id: String,
    pub case: Case,
    pub scenario: Arc<Scenario>,
}

/// Imports `count` demo cases at virtual time `at`, through the library (as `relance import`
/// does), and returns them for the simulator.
pub async fn import_portfolio(config: &Path, count: usize, at: DateTime<Utc>) -> Vec<Imported> {
    let config = Config::load(config).unwrap();
    let store = open_store(&config).await.unwrap();
    let (_, scenarios) = load_scenarios(&config, &store, at.timestamp_millis())
        .await
        .unwrap();
    let rates = rate_table(&config).unwrap();
    let engine = Engine {
        rules: scenarios.rules(),
        rates: &rates,
    };
    let current = scenarios.current().to_vec();
    let mut started = Vec::new();
    for case in demo::portfolio(count, at.date_naive()) {
        let plain: Vec<Scenario> = current.iter().map(|s| (**s).clone()).collect();
        let chosen = engine
            .choose(&plain, &case, at)
            .unwrap()
            .expect("a scenario applies to every demo case");
        let scenario = current
            .iter()
            .find(|s| s.name == chosen.name)
            .unwrap()
            .clone();
        let t = engine.start(&scenario, case.clone(), at).unwrap();
        started.push((case, scenario, t));
    }
    let refs: Vec<_> = started
        .iter()
        .map(|(c, s, t)| (c.clone(), &**s, t.clone()))
        .collect();
    store
        .import(&import_batch(&refs, at), at.timestamp_millis())
        .await
        .unwrap();
    store.close().await.ok();
    started
        .into_iter()
        .map(|(case, scenario, t)| Imported {
            instance_id: t.instance.id,
            case,
            scenario,
        })
        .collect()
}

/// A `relance serve` process, killed (SIGKILL) when dropped.
pub struct Server {
    child: Child,
}

impl Server {
    /// Starts `relance serve --config F --speed S --start T`, its logs appended to
    /// `relance.log` next to the configuration.
    pub fn start(config: &Path, speed: u32, start: DateTime<Utc>) -> Server {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(config.with_file_name("relance.log"))
            .unwrap();
        let child = Command::new(env!("CARGO_BIN_EXE_relance"))
            .arg("serve")
            .arg("--config")
            .arg(config)
            .arg("--speed")
            .arg(speed.to_string())
            .arg("--start")
            .arg(start.to_rfc3339())
            .env("RUST_LOG", "warn")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap();
        Server { child }
    }

    /// SIGKILL, and reaps the process.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// SIGTERM, then waits (up to 10 s, then SIGKILL) for a graceful stop.
    pub fn stop(&mut self) {
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(self.child.id().to_string())
            .status();
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if !self.alive() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        self.kill();
    }

    /// Whether the process is still running.
    pub fn alive(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Virtual time that runs on across process restarts: `start + real elapsed × speed`.
#[derive(Clone, Copy, Debug)]
pub struct VirtualTime {
    real_start: Instant,
    start: DateTime<Utc>,
    speed: u32,
}

impl VirtualTime {
    pub fn new(start: DateTime<Utc>, speed: u32) -> Self {
        VirtualTime {
            real_start: Instant::now(),
            start,
            speed,
        }
    }

    pub fn now(&self) -> DateTime<Utc> {
        let ms = self.real_start.elapsed().as_millis() as i64 * self.speed as i64;
        self.start + chrono::Duration::milliseconds(ms)
    }
}

/// Waits until nothing is left to do at the virtual time `clock` tells: no instance due or
/// due within a virtual `lookahead`, no event pending, no outbox row ready or in flight.
/// Panics after `limit`.
pub async fn wait_until_settled(
    store: &Store,
    clock: VirtualTime,
    lookahead: chrono::Duration,
    limit: Duration,
) {
    let deadline = Instant::now() + limit;
    let mut calm = 0;
    loop {
        let now = clock.now().timestamp_millis();
        let report = store.status(now).await.unwrap();
        let outbox_busy = outbox_busy(store, now).await;
        let next_wake = store.next_wake().await.unwrap();
        let wake_soon = next_wake.is_some_and(|w| w <= now + lookahead.num_milliseconds());
        if outbox_busy == 0 && !wake_soon && report.due_now == 0 && report.events_pending == 0 {
            calm += 1;
            if calm >= 3 {
                return;
            }
        } else {
            calm = 0;
        }
        assert!(
            Instant::now() < deadline,
            "not settled after {limit:?}: {outbox_busy} outbox row(s) busy, next wake \
             {next_wake:?} at {now}: {report:?}"
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
}

/// Outbox rows in flight, or waiting and ready to go at `now`.
async fn outbox_busy(store: &Store, now: i64) -> i64 {
    use sea_orm::{ConnectionTrait, DbBackend, Statement};
    let backend = store.backend();
    let sql = match backend {
        DbBackend::Postgres => {
            "SELECT COUNT(*) FROM outbox WHERE status = 'sending' OR (status IN ('pending', \
             'retry') AND next_attempt <= $1 AND not_before <= $1)"
        }
        _ => {
            "SELECT COUNT(*) FROM outbox WHERE status = 'sending' OR (status IN ('pending', \
             'retry') AND next_attempt <= ?1 AND not_before <= ?1)"
        }
    };
    let row = store
        .connection()
        .query_one_raw(Statement::from_sql_and_values(backend, sql, [now.into()]))
        .await
        .unwrap()
        .unwrap();
    row.try_get_by_index(0).unwrap()
}

/// A journal reduced to what does not depend on exact times: (step, kind), with the
/// deferrals a late wake may add left out.
pub fn shape<'a>(entries: impl Iterator<Item = (Option<&'a str>, &'a str)>) -> Vec<String> {
    entries
        .filter(|(_, kind)| *kind != "deferred")
        .map(|(step, kind)| format!("{}:{kind}", step.unwrap_or("-")))
        .collect()
}

/// Compares every instance's journal and final state with the simulator's prediction
/// from the same case over `from..until`; returns the mismatches, described.
pub async fn compare_with_simulator(
    store: &Store,
    config: &Path,
    imported: &[Imported],
    from: DateTime<Utc>,
    until: DateTime<Utc>,
) -> Vec<String> {
    let config = Config::load(config).unwrap();
    let rates = rate_table(&config).unwrap();
    let (_, scenarios) = load_scenarios(&config, store, from.timestamp_millis())
        .await
        .unwrap();
    let engine = Engine {
        rules: scenarios.rules(),
        rates: &rates,
    };
    let mut mismatches = Vec::new();
    for one in imported {
        let predicted =
            simulate::run(&engine, &one.scenario, one.case.clone(), &[], from, until).unwrap();
        let want = shape(
            predicted
                .entries
                .iter()
                .map(|e| (e.step.as_deref(), e.kind.name())),
        );
        let journal = store.journal(&one.instance_id).await.unwrap();
        let got = shape(journal.iter().map(|r| (r.step.as_deref(), r.kind.as_str())));
        let (_, _, state) = store
            .instance_state(&one.instance_id)
            .await
            .unwrap()
            .expect("the instance is stored");
        let instance: Instance = serde_json::from_str(&state).unwrap();
        let end_want = (predicted.instance.status, predicted.instance.outcome);
        let end_got = (instance.status, instance.outcome);
        if want != got || end_want != end_got {
            mismatches.push(format!(
                "{}: predicted {want:?} ending {end_want:?}, journal {got:?} ending {end_got:?}",
                one.instance_id
            ));
        }
    }
    mismatches
}

/// Outbox rows of the imported instances: (key, channel, status).
pub async fn outbox(store: &Store, imported: &[Imported]) -> Vec<(String, String, String)> {
    let mut rows = Vec::new();
    for one in imported {
        rows.extend(store.outbox_of(&one.instance_id).await.unwrap());
    }
    rows
}
