//! The `relance` binary end to end: migrate, import, event, status, serve
//! and demo, on a temporary SQLite file, with loopback addresses only.

mod support;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use relance::store::{Store, Synchronous, sqlite_url};
use sea_orm::ConnectionTrait;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn relance(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_relance"))
        .args(args)
        .env_remove("RELANCE_DATABASE_URL")
        .output()
        .unwrap()
}

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// A config file in a fresh folder: its path, and the database file.
fn config(name: &str) -> (PathBuf, PathBuf) {
    let dir = support::scratch(name);
    let db = dir.join("relance.db");
    let file = dir.join("relance.yaml");
    let yaml = format!(
        "database:\n  url: \"{}\"\nscenarios: \"{}\"\ntemplates: \"{}\"\nchannels:\n  file_dir: \"{}\"\n",
        sqlite_url(&db),
        root().join("scenarios").display(),
        root().join("templates").display(),
        dir.join("outbox").display(),
    );
    std::fs::write(&file, yaml).unwrap();
    (file, db)
}

/// A loopback address nobody listens on right now.
fn free_address() -> SocketAddr {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap()
}

/// A child process killed when the test ends, however it ends.
struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

impl Running {
    fn terminate(&mut self) {
        let status = Command::new("kill")
            .arg("-TERM")
            .arg(self.0.id().to_string())
            .status()
            .unwrap();
        assert!(status.success());
    }

    /// Waits up to `limit` for the process to exit: its exit code.
    fn wait_for_exit(&mut self, limit: Duration) -> Option<i32> {
        let start = Instant::now();
        while start.elapsed() < limit {
            if let Some(status) = self.0.try_wait().unwrap() {
                return status.code();
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        None
    }
}

fn spawn(args: &[&str]) -> Running {
    Running(
        Command::new(env!("CARGO_BIN_EXE_relance"))
            .args(args)
            .env_remove("RELANCE_DATABASE_URL")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    )
}

/// GET `path`: (status, body), or `None` when nobody answers.
fn get(addr: SocketAddr, path: &str) -> Option<(u16, String)> {
    let mut conn = TcpStream::connect_timeout(&addr, Duration::from_millis(500)).ok()?;
    conn.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    write!(
        conn,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
    .ok()?;
    let mut answer = String::new();
    conn.read_to_string(&mut answer).ok()?;
    let (head, body) = answer.split_once("\r\n\r\n")?;
    let status = head.split(' ').nth(1)?.parse().ok()?;
    Some((status, body.to_string()))
}

/// Waits up to `limit` for `addr` to answer `path`.
fn wait_for(addr: SocketAddr, path: &str, limit: Duration) -> (u16, String) {
    let start = Instant::now();
    loop {
        if let Some(answer) = get(addr, path) {
            return answer;
        }
        assert!(start.elapsed() < limit, "{addr}{path} never answered");
        std::thread::sleep(Duration::from_millis(100));
    }
}

async fn rows(db: &Path, table: &str) -> i64 {
    let store = Store::open(&sqlite_url(db), Synchronous::Full)
        .await
        .unwrap();
    let row = store
        .connection()
        .query_one_raw(sea_orm::Statement::from_string(
            store.backend(),
            format!("SELECT COUNT(*) FROM {table}"),
        ))
        .await
        .unwrap()
        .unwrap();
    let n = row.try_get_by_index(0).unwrap();
    store.close().await.unwrap();
    n
}

#[tokio::test]
async fn migrate_import_event_and_status_work_from_the_command_line() {
    let (cfg, db) = config("cli_import");
    let cfg = cfg.to_str().unwrap();
    let invoices = root().join("examples/import/invoices.csv");
    let invoices = invoices.to_str().unwrap();

    let out = relance(&["migrate", "--config", cfg]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(db.exists());

    let out = relance(&["import", "invoices", invoices, "--config", cfg]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let counts = |db: PathBuf| async move {
        let mut n = Vec::new();
        for t in ["cases", "invoices", "instances", "journal", "outbox"] {
            n.push(rows(&db, t).await);
        }
        n
    };
    let first = counts(db.clone()).await;
    assert!(first[0] > 0 && first[1] > 0, "{first:?}");

    let out = relance(&["import", "invoices", invoices, "--config", cfg]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(
        text(&out).contains("imported 0 new case(s), 0 new invoice(s)"),
        "{}",
        text(&out)
    );
    assert_eq!(counts(db.clone()).await, first, "re-import changes nothing");

    let bad = root().join("examples/import/bad.csv");
    let out = relance(&["import", "invoices", bad.to_str().unwrap(), "--config", cfg]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let said = text(&out);
    assert!(said.contains("bad.csv:3"), "names the line: {said}");
    assert!(said.contains("nothing imported"), "{said}");
    assert_eq!(
        counts(db.clone()).await,
        first,
        "a bad file imports nothing"
    );

    let event = [
        "event",
        "payment.received",
        "--client",
        "acme",
        "--debtor",
        "D-100",
        "--amount",
        "100.00",
        "--id",
        "bank-42",
        "--config",
        cfg,
    ];
    let out = relance(&event);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(
        text(&out).contains("recorded payment.received"),
        "{}",
        text(&out)
    );
    let out = relance(&event);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(text(&out).contains("already recorded"), "{}", text(&out));
    assert_eq!(rows(&db, "events").await, 1);

    // Each change from the command line is in the audit log, under the user who made it.
    let store = Store::open(&sqlite_url(&db), Synchronous::Full)
        .await
        .unwrap();
    let audit = store.audit_log(0, 100, None).await.unwrap();
    let actions: Vec<&str> = audit.iter().map(|a| a.action.as_str()).collect();
    assert_eq!(
        actions,
        ["import", "import", "event.record"],
        "the bad file and the repeated event change nothing: {audit:?}"
    );
    assert!(
        audit.iter().all(|a| a.actor.starts_with("cli:")),
        "{audit:?}"
    );
    assert_eq!(audit[2].subject, "instance:acme/D-100");

    let out = relance(&["status", "--config", cfg]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let said = text(&out);
    assert!(said.contains("events waiting: 1"), "{said}");
    assert!(said.contains("running"), "{said}");
}

#[test]
fn serve_answers_health_ready_and_metrics_and_stops_on_sigterm() {
    let (cfg, _) = config("cli_serve");
    let addr = free_address();
    let mut server = spawn(&[
        "serve",
        "--config",
        cfg.to_str().unwrap(),
        "--listen",
        &addr.to_string(),
    ]);

    let (status, body) = wait_for(addr, "/health", Duration::from_secs(20));
    assert_eq!((status, body.as_str()), (200, "ok\n"));
    let (status, _) = get(addr, "/ready").unwrap();
    assert_eq!(status, 200);
    let (status, body) = get(addr, "/metrics").unwrap();
    assert_eq!(status, 200);
    assert!(body.contains("relance_steps_total"), "{body}");

    server.terminate();
    // A bound to stop a hung process, not a speed check: a loaded CI machine may
    // take a while to finish the batch in flight.
    assert_eq!(
        server.wait_for_exit(Duration::from_secs(30)),
        Some(0),
        "stops cleanly (exit 0) on SIGTERM"
    );
}

#[test]
fn the_demo_writes_messages_into_its_outbox_folder() {
    let dir = support::scratch("cli_demo");
    let addr = free_address();
    let mut demo = spawn(&[
        "demo",
        "--dir",
        dir.to_str().unwrap(),
        "--debtors",
        "20",
        "--speed",
        "20000",
        "--listen",
        &addr.to_string(),
    ]);

    let outbox = dir.join("outbox");
    let start = Instant::now();
    let mut files = 0;
    while start.elapsed() < Duration::from_secs(20) {
        files = walk(&outbox);
        if files > 0 {
            break;
        }
        if let Some(code) = demo.0.try_wait().unwrap() {
            panic!("the demo stopped early: {code}");
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    assert!(files > 0, "no message within 20 s");

    demo.terminate();
    assert_eq!(demo.wait_for_exit(Duration::from_secs(10)), Some(0));
}

/// Files below `dir`, counted.
fn walk(dir: &Path) -> usize {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return 0;
    };
    entries
        .flatten()
        .map(|e| {
            let p = e.path();
            if p.is_dir() { walk(&p) } else { 1 }
        })
        .sum()
}

/// Moves running instances to a new version of their scenario, with an
/// explicit step mapping; instances on an unmapped step stay and are named.
#[test]
fn instances_migrate_moves_mapped_instances_and_reports_the_others() {
    let dir = support::scratch("instances-migrate");
    let scenarios = dir.join("scenarios");
    std::fs::create_dir_all(&scenarios).unwrap();
    for name in ["b2b-france", "b2b-spain", "b2c-france"] {
        std::fs::copy(
            root().join(format!("scenarios/{name}.yaml")),
            scenarios.join(format!("{name}.yaml")),
        )
        .unwrap();
    }
    let db = dir.join("relance.db");
    let config = dir.join("relance.yaml");
    std::fs::write(
        &config,
        format!(
            "database:\n  url: \"{}\"\nscenarios: \"{}\"\ntemplates: \"{}\"\n",
            sqlite_url(&db),
            scenarios.display(),
            root().join("templates").display(),
        ),
    )
    .unwrap();
    let config = config.display().to_string();
    let csv = root()
        .join("examples/import/invoices.csv")
        .display()
        .to_string();
    let out = relance(&["import", "invoices", &csv, "--config", &config]);
    assert!(out.status.success(), "{}", text(&out));

    // Version 2 renames the first steps of the French B2B scenario.
    let file = scenarios.join("b2b-france.yaml");
    let v1_text = std::fs::read_to_string(&file).unwrap();
    let v2_text = v1_text
        .replace("id: courtesy\n", "id: courtesy_v2\n")
        .replace("id: first_reminder\n", "id: first_reminder_v2\n");
    assert_ne!(v1_text, v2_text);
    std::fs::write(&file, &v2_text).unwrap();
    let v2 = relance::scenario::version_of(&v2_text);

    let states = || {
        let rt = tokio::runtime::Runtime::new().unwrap();
        rt.block_on(async {
            let store = Store::open(&sqlite_url(&db), Synchronous::Full)
                .await
                .unwrap();
            let rows = store.instances_of("b2b-france", 0).await.unwrap();
            rows.into_iter()
                .map(|(id, version, state)| {
                    let v: serde_json::Value = serde_json::from_str(&state).unwrap();
                    (id, version, v["position"].clone())
                })
                .collect::<Vec<_>>()
        })
    };
    let before = states();
    assert!(!before.is_empty());

    // A mapping that leaves a step out moves nothing on that step and says so.
    let out = relance(&[
        "instances",
        "migrate",
        "--scenario",
        "b2b-france",
        "--to",
        &v2,
        "--map",
        "courtesy=courtesy_v2",
        "--config",
        &config,
    ]);
    let said = text(&out);
    let past_courtesy = before
        .iter()
        .any(|(_, _, p)| p != &serde_json::json!({"stage": 0, "step": 0}));
    assert!(
        past_courtesy,
        "the imported invoices are overdue: {before:?}"
    );
    assert_eq!(out.status.code(), Some(1), "{said}");
    assert!(
        said.contains("not moved") && said.contains("(on step `"),
        "{said}"
    );
    assert!(
        states().iter().all(|(_, v, _)| v != &v2),
        "nothing unmapped moved"
    );

    let out = relance(&[
        "instances",
        "migrate",
        "--scenario",
        "b2b-france",
        "--to",
        &v2,
        "--map",
        "courtesy=courtesy_v2",
        "--map",
        "first_reminder=first_reminder_v2",
        "--map",
        "sms_reminder=sms_reminder",
        "--map",
        "second_reminder=second_reminder",
        "--map",
        "reminder_letter=reminder_letter",
        "--map",
        "call=call",
        "--map",
        "insurer_notification=insurer_notification",
        "--map",
        "simple_notice=simple_notice",
        "--map",
        "registered_notice=registered_notice",
        "--map",
        "handover=handover",
        "--map",
        "insurer_claim=insurer_claim",
        "--config",
        &config,
    ]);
    assert!(out.status.success(), "{}", text(&out));
    let after = states();
    assert!(
        after.iter().all(|(_, version, _)| version == &v2),
        "{after:?}"
    );
    for ((_, _, p1), (_, _, p2)) in before.iter().zip(&after) {
        assert_eq!(p1, p2, "step indexes are the same in both versions here");
    }

    // A mapping to a step the new version lacks is refused before anything moves.
    let out = relance(&[
        "instances",
        "migrate",
        "--scenario",
        "b2b-france",
        "--to",
        &v2,
        "--map",
        "courtesy=nowhere",
        "--config",
        &config,
    ]);
    assert!(!out.status.success());
    assert!(
        text(&out).contains("has no step `nowhere`"),
        "{}",
        text(&out)
    );
}

/// An operator lists the dead letters and puts them back in the queue.
#[test]
fn outbox_list_and_retry_bring_dead_letters_back() {
    let (config, db) = config("outbox-retry");
    let config = config.display().to_string();
    let csv = root()
        .join("examples/import/invoices.csv")
        .display()
        .to_string();
    let out = relance(&["import", "invoices", &csv, "--config", &config]);
    assert!(out.status.success(), "{}", text(&out));

    let rt = tokio::runtime::Runtime::new().unwrap();
    let dead_id = rt.block_on(async {
        let store = Store::open(&sqlite_url(&db), Synchronous::Full)
            .await
            .unwrap();
        let far = chrono::Utc::now().timestamp_millis() + 10 * 365 * 86_400_000;
        let rows = store.claim_outbox(far, 1, "op-test", 60_000).await.unwrap();
        let row = rows.first().expect("the import queued sends").clone();
        store
            .outbox_done(
                "op-test",
                row.id,
                &relance::store::OutboxFate::Dead {
                    error: "provider refused".into(),
                },
                far,
            )
            .await
            .unwrap();
        row.id
    });

    let out = relance(&["outbox", "list", "--config", &config]);
    let said = text(&out);
    assert!(out.status.success(), "{said}");
    assert!(
        said.contains(&dead_id.to_string()) && said.contains("provider refused"),
        "{said}"
    );

    let out = relance(&["outbox", "retry", "--all-dead", "--config", &config]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(
        text(&out).contains("1 row(s) back in the queue"),
        "{}",
        text(&out)
    );
    let out = relance(&["outbox", "list", "--config", &config]);
    assert!(
        text(&out).contains("no outbox row is dead"),
        "{}",
        text(&out)
    );

    let out = relance(&["outbox", "retry", &dead_id.to_string(), "--config", &config]);
    assert_eq!(
        out.status.code(),
        Some(1),
        "a pending row is not retried: {}",
        text(&out)
    );
    let out = relance(&["outbox", "retry", "--config", &config]);
    assert!(!out.status.success());
}
