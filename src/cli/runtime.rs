//! The commands of the durable runtime: serve, demo, migrate, import,
//! event, status and instance migration.

use std::collections::BTreeMap;
use std::io::{IsTerminal, Write};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use chrono::{NaiveDate, Utc};
use clap::{Args, Subcommand};
use rust_decimal::Decimal;

use crate::api::{Intake, record};
use crate::config::Config;
use crate::engine::{Engine, EventFields};
use crate::import::{Format as ImportFormat, parse as parse_import, to_cases};
use crate::runtime::service::{load_scenarios, open_store, rate_table, serve};
use crate::runtime::{Clock, MigrationPlan, check_mapping, demo, import_batch, plan_migration};
use crate::store::Store;

#[derive(Args, Debug, Clone)]
pub struct ConfigArg {
    /// Configuration file (default: the embedded defaults; see config.example.yaml).
    #[arg(long)]
    pub config: Option<PathBuf>,
}

impl ConfigArg {
    pub fn load(&self) -> anyhow::Result<Config> {
        Ok(match &self.config {
            Some(path) => Config::load(path)?,
            None => Config::default().with_process_env()?,
        })
    }
}

#[derive(Subcommand, Debug)]
pub enum ImportCommand {
    /// Import invoices from a CSV or JSON file: every row is checked first,
    /// and nothing is imported if one is wrong.
    Invoices {
        file: PathBuf,
        /// csv or json (default: from the file's extension).
        #[arg(long)]
        format: Option<String>,
        #[command(flatten)]
        config: ConfigArg,
    },
}

#[derive(Subcommand, Debug)]
pub enum InstancesCommand {
    /// Move running instances of a scenario to another version, with an
    /// explicit step mapping; instances on an unmapped step are reported.
    Migrate {
        #[arg(long)]
        scenario: String,
        /// The version to move to (see `relance status`).
        #[arg(long)]
        to: String,
        /// OLD_STEP=NEW_STEP, repeated.
        #[arg(long = "map", value_name = "OLD=NEW")]
        map: Vec<String>,
        #[command(flatten)]
        config: ConfigArg,
    },
}

#[derive(Subcommand, Debug)]
pub enum OutboxCommand {
    /// Lists outbox rows in a state: dead letters by default.
    List {
        /// dead, parked, retry, pending, sent or cancelled.
        #[arg(long, default_value = "dead")]
        status: String,
        #[arg(long, default_value_t = 50)]
        limit: u64,
        #[command(flatten)]
        config: ConfigArg,
    },
    /// Puts dead or parked rows back in the queue (an operator's retry).
    Retry {
        /// Row ids, as `outbox list` shows them.
        ids: Vec<i64>,
        /// Every dead row.
        #[arg(long)]
        all_dead: bool,
        #[command(flatten)]
        config: ConfigArg,
    },
}

#[derive(Subcommand, Debug)]
pub enum TasksCommand {
    /// The work queue: calls to make and other tasks, oldest first.
    List {
        /// open or done.
        #[arg(long, default_value = "open")]
        status: String,
        #[arg(long, default_value_t = 50)]
        limit: u64,
        /// Print each task's script or description too.
        #[arg(long)]
        full: bool,
        #[command(flatten)]
        config: ConfigArg,
    },
    /// Closes a task with its outcome; the case receives a `task.outcome`
    /// event that its scenario can act on.
    Done {
        id: i64,
        /// reached, promise, dispute, wrong_number, no_answer, or another word.
        #[arg(long)]
        outcome: String,
        #[arg(long)]
        note: Option<String>,
        /// Who did it (kept in the audit log).
        #[arg(long, default_value = "operator")]
        by: String,
        #[command(flatten)]
        config: ConfigArg,
    },
}

#[derive(Args, Debug)]
pub struct EventArgs {
    /// Event type, e.g. payment.received.
    pub kind: String,
    #[arg(long)]
    pub client: String,
    #[arg(long)]
    pub debtor: Option<String>,
    #[arg(long)]
    pub invoice: Option<String>,
    #[arg(long = "case")]
    pub case_id: Option<String>,
    #[arg(long)]
    pub amount: Option<String>,
    /// A date the event names (promise date), YYYY-MM-DD.
    #[arg(long)]
    pub date: Option<NaiveDate>,
    #[arg(long)]
    pub channel: Option<String>,
    #[arg(long)]
    pub reason: Option<String>,
    #[arg(long)]
    pub status: Option<String>,
    #[arg(long)]
    pub outcome: Option<String>,
    /// Delivery id: recording the same id twice applies it once.
    #[arg(long)]
    pub id: Option<String>,
    #[command(flatten)]
    pub config: ConfigArg,
}

pub(crate) fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?)
}

pub fn serve_cmd(
    config: &ConfigArg,
    listen: Option<SocketAddr>,
    speed: u32,
    start: Option<chrono::DateTime<Utc>>,
) -> anyhow::Result<i32> {
    let mut config = config.load()?;
    if let Some(l) = listen {
        config.http.listen = l;
    }
    let clock = Clock::accelerated(start.unwrap_or_else(Utc::now), speed);
    runtime()?.block_on(serve(config, clock))?;
    Ok(0)
}

pub fn migrate_cmd(config: &ConfigArg) -> anyhow::Result<i32> {
    let config = config.load()?;
    runtime()?.block_on(async {
        open_store(&config).await?;
        eprintln!("database is up to date");
        anyhow::Ok(0)
    })
}

/// Starts instances for `cases` and writes them in one transaction.
async fn start_cases(
    config: &Config,
    store: &Store,
    cases: Vec<crate::engine::Case>,
    now: chrono::DateTime<Utc>,
) -> anyhow::Result<crate::store::ImportStats> {
    let (_, scenarios) = load_scenarios(config, store, now.timestamp_millis()).await?;
    let rates = rate_table(config)?;
    let engine = Engine {
        rules: scenarios.rules(),
        rates: &rates,
    };
    let current: Vec<_> = scenarios.current().iter().map(|s| (**s).clone()).collect();
    let mut started = Vec::with_capacity(cases.len());
    let mut unmatched = Vec::new();
    let total = cases.len();
    let progress = std::io::stderr().is_terminal() && total >= 1000;
    for (n, case) in cases.into_iter().enumerate() {
        let Some(sc) = engine.choose(&current, &case, now)? else {
            unmatched.push(case.id.clone());
            continue;
        };
        let sc_index = current.iter().position(|s| s.name == sc.name).unwrap_or(0);
        let t = engine.start(&current[sc_index], case.clone(), now)?;
        started.push((case, sc_index, t));
        if progress && n % 500 == 0 {
            eprint!("\r{}", progress_bar(n, total));
            let _ = std::io::stderr().flush();
        }
    }
    if progress {
        eprintln!("\r{}", progress_bar(total, total));
    }
    if !unmatched.is_empty() {
        bail!(
            "no scenario applies to {} case(s): {}; nothing imported",
            unmatched.len(),
            unmatched
                .iter()
                .take(10)
                .cloned()
                .collect::<Vec<_>>()
                .join(", ")
        );
    }
    let refs: Vec<_> = started
        .iter()
        .map(|(c, i, t)| (c.clone(), &current[*i], t.clone()))
        .collect();
    let batch = import_batch(&refs, now);
    let stats = store.import(&batch, now.timestamp_millis()).await?;
    store
        .audit(
            &cli_actor(),
            "import",
            "invoices",
            &format!(
                "{} case(s), {} invoice(s), {} instance(s) new",
                stats.cases, stats.invoices, stats.instances
            ),
            now.timestamp_millis(),
        )
        .await?;
    Ok(stats)
}

/// How the audit log names a change made from the command line: `cli:` and the
/// operating-system user.
pub(crate) fn cli_actor() -> String {
    let user = std::env::var("USER")
        .or_else(|_| std::env::var("USERNAME"))
        .unwrap_or_else(|_| "unknown".into());
    format!("cli:{user}")
}

/// `[#########-----------]  45%  4500/10000 cases`
fn progress_bar(done: usize, total: usize) -> String {
    const WIDTH: usize = 30;
    let filled = (done * WIDTH).checked_div(total).unwrap_or(WIDTH);
    let percent = (done * 100).checked_div(total).unwrap_or(100);
    format!(
        "[{}{}] {percent:>3}%  {done}/{total} cases",
        "#".repeat(filled),
        "-".repeat(WIDTH - filled)
    )
}

pub fn import_cmd(cmd: ImportCommand) -> anyhow::Result<i32> {
    let ImportCommand::Invoices {
        file,
        format,
        config,
    } = cmd;
    let config = config.load()?;
    let name = file.display().to_string();
    let text = std::fs::read_to_string(&file).with_context(|| format!("reading {name}"))?;
    let format = match format.as_deref() {
        Some("csv") => ImportFormat::Csv,
        Some("json") => ImportFormat::Json,
        Some(other) => bail!("--format {other}: use csv or json"),
        None => ImportFormat::from_path(&name)
            .with_context(|| format!("{name}: say --format csv or --format json"))?,
    };
    let rows = match parse_import(&name, &text, format) {
        Ok(rows) => rows,
        Err(errors) => {
            for e in &errors {
                eprintln!("{e}");
            }
            eprintln!("{} error(s); nothing imported", errors.len());
            return Ok(1);
        }
    };
    let now = Utc::now();
    let today = now.date_naive();
    let cases = match to_cases(&rows, today) {
        Ok(c) => c,
        Err(errors) => {
            for e in errors {
                eprintln!("{}", e.in_file(&name));
            }
            eprintln!("nothing imported");
            return Ok(1);
        }
    };
    eprintln!(
        "{}: {} row(s) valid, {} case(s)",
        name,
        rows.len(),
        cases.len()
    );
    runtime()?.block_on(async {
        let store = open_store(&config).await?;
        let stats = start_cases(&config, &store, cases, now).await?;
        println!(
            "imported {} new case(s), {} new invoice(s); {} instance(s) started",
            stats.cases, stats.invoices, stats.instances
        );
        anyhow::Ok(0)
    })
}

pub fn event_cmd(args: EventArgs) -> anyhow::Result<i32> {
    let config = args.config.load()?;
    let amount = match &args.amount {
        Some(a) => Some(crate::money::parse_amount(a).context("--amount")?),
        None => None,
    };
    let intake = Intake {
        id: args.id.clone(),
        kind: args.kind.clone(),
        client_id: args.client.clone(),
        debtor_id: args.debtor.clone(),
        case_id: args.case_id.clone(),
        at: None,
        fields: EventFields {
            amount,
            invoice: args.invoice.clone(),
            date: args.date,
            channel: args.channel.clone(),
            reason: args.reason.clone(),
            status: args.status.clone(),
            outcome: args.outcome.clone(),
            ..EventFields::default()
        },
    };
    runtime()?.block_on(async {
        let store = open_store(&config).await?;
        match record(&store, intake, None, Utc::now()).await {
            Ok((true, instance)) => {
                store
                    .audit(
                        &cli_actor(),
                        "event.record",
                        &format!("instance:{instance}"),
                        &args.kind,
                        Utc::now().timestamp_millis(),
                    )
                    .await?;
                println!(
                    "recorded {} for {instance}; a running `relance serve` applies it",
                    args.kind
                );
                anyhow::Ok(0)
            }
            Ok((false, instance)) => {
                println!("already recorded (same id) for {instance}; nothing changed");
                Ok(0)
            }
            Err(problem) => {
                let response = axum::response::IntoResponse::into_response(problem);
                let body = axum::body::to_bytes(response.into_body(), 64 * 1024)
                    .await
                    .unwrap_or_default();
                let detail = serde_json::from_slice::<serde_json::Value>(&body)
                    .ok()
                    .and_then(|v| v["detail"].as_str().map(str::to_string))
                    .unwrap_or_default();
                eprintln!("error: {detail}");
                Ok(1)
            }
        }
    })
}

pub fn status_cmd(config: &ConfigArg) -> anyhow::Result<i32> {
    let config = config.load()?;
    runtime()?.block_on(async {
        let store = open_store(&config).await?;
        let report = store.status(Utc::now().timestamp_millis()).await?;
        println!("cases by stage and status:");
        if report.stages.is_empty() {
            println!("  (none)");
        }
        for (stage, status, n) in &report.stages {
            println!(
                "  {:<20} {:<10} {n:>8}",
                stage.as_deref().unwrap_or("-"),
                status
            );
        }
        println!("due now: {}", report.due_now);
        println!("events waiting: {}", report.events_pending);
        println!("outbox:");
        for (status, n) in &report.outbox {
            println!("  {status:<10} {n:>8}");
        }
        let dead: i64 = report
            .outbox
            .iter()
            .filter(|(s, _)| s == "dead" || s == "parked")
            .map(|(_, n)| n)
            .sum();
        println!("dead letters (dead or parked): {dead}");
        for v in store.scenario_versions().await? {
            println!("scenario {} version {}", v.name, v.version);
        }
        anyhow::Ok(0)
    })
}

pub fn tasks_cmd(cmd: TasksCommand) -> anyhow::Result<i32> {
    match cmd {
        TasksCommand::List {
            status,
            limit,
            full,
            config,
        } => {
            let config = config.load()?;
            runtime()?.block_on(async {
                let store = open_store(&config).await?;
                let tasks = store.tasks(&status, limit).await?;
                if tasks.is_empty() {
                    println!("no {status} task");
                }
                for t in tasks {
                    println!(
                        "{:>6}  {:<14} {}  ({})",
                        t.id, t.kind, t.title, t.instance_id
                    );
                    if full {
                        for line in t.body.lines() {
                            println!("        {line}");
                        }
                    }
                }
                anyhow::Ok(0)
            })
        }
        TasksCommand::Done {
            id,
            outcome,
            note,
            by,
            config,
        } => {
            let config = config.load()?;
            runtime()?.block_on(async {
                let store = open_store(&config).await?;
                let now = Utc::now();
                let closed = store
                    .close_task(
                        id,
                        &outcome,
                        note.as_deref(),
                        &by,
                        |task| {
                            let event = crate::engine::Event {
                                id: Some(format!("task-{}", task.id)),
                                kind: "task.outcome".into(),
                                at: now,
                                fields: EventFields {
                                    outcome: Some(outcome.clone()),
                                    reason: note.clone(),
                                    ..EventFields::default()
                                },
                            };
                            serde_json::to_string(&event).unwrap_or_default()
                        },
                        now.timestamp_millis(),
                    )
                    .await?;
                match closed {
                    Some(instance) => {
                        println!("task {id} done ({outcome}); {instance} receives task.outcome");
                        anyhow::Ok(0)
                    }
                    None => {
                        eprintln!("error: no open task {id} (see `relance tasks list`)");
                        Ok(1)
                    }
                }
            })
        }
    }
}

pub fn outbox_cmd(cmd: OutboxCommand) -> anyhow::Result<i32> {
    match cmd {
        OutboxCommand::List {
            status,
            limit,
            config,
        } => {
            let config = config.load()?;
            runtime()?.block_on(async {
                let store = open_store(&config).await?;
                let rows = store.outbox_in(&status, limit).await?;
                if rows.is_empty() {
                    println!("no outbox row is {status}");
                }
                for (id, key, channel, attempts, error) in rows {
                    println!(
                        "{id:>8}  {channel:<16} attempts {attempts:<3} {key}\n          {}",
                        error.unwrap_or_default()
                    );
                }
                anyhow::Ok(0)
            })
        }
        OutboxCommand::Retry {
            ids,
            all_dead,
            config,
        } => {
            let config = config.load()?;
            if ids.is_empty() && !all_dead {
                bail!("name the rows to retry (ids from `relance outbox list`) or say --all-dead");
            }
            runtime()?.block_on(async {
                let store = open_store(&config).await?;
                let mut ids = ids;
                if all_dead {
                    ids.extend(
                        store
                            .outbox_in("dead", u64::MAX >> 1)
                            .await?
                            .into_iter()
                            .map(|r| r.0),
                    );
                }
                let now = Utc::now().timestamp_millis();
                let mut requeued = 0;
                let mut refused = Vec::new();
                for id in ids {
                    if store.outbox_requeue(id, now).await? {
                        store
                            .audit(
                                &cli_actor(),
                                "outbox.retry",
                                &format!("outbox:{id}"),
                                "",
                                now,
                            )
                            .await?;
                        requeued += 1;
                    } else {
                        refused.push(id);
                    }
                }
                println!(
                    "{requeued} row(s) back in the queue; a running `relance serve` sends them"
                );
                if !refused.is_empty() {
                    eprintln!(
                        "not retried (no such row, or not dead or parked): {}",
                        refused
                            .iter()
                            .map(|i| i.to_string())
                            .collect::<Vec<_>>()
                            .join(", ")
                    );
                    return Ok(1);
                }
                anyhow::Ok(0)
            })
        }
    }
}

pub fn instances_cmd(cmd: InstancesCommand) -> anyhow::Result<i32> {
    let InstancesCommand::Migrate {
        scenario,
        to,
        map,
        config,
    } = cmd;
    let config = config.load()?;
    let mut mapping = BTreeMap::new();
    for m in &map {
        let Some((old, new)) = m.split_once('=') else {
            bail!("--map {m}: write OLD_STEP=NEW_STEP");
        };
        mapping.insert(old.trim().to_string(), new.trim().to_string());
    }
    runtime()?.block_on(async {
        let store = open_store(&config).await?;
        let (_, scenarios) = load_scenarios(&config, &store, Utc::now().timestamp_millis()).await?;
        let target = scenarios.version(&store, &scenario, &to).await?;
        check_mapping(&target, &mapping)?;
        let now = Utc::now();
        let instances = store
            .instances_of(&scenario, now.timestamp_millis())
            .await?;
        let mut versions = BTreeMap::new();
        for (_, version, _) in &instances {
            if !versions.contains_key(version) {
                let old = scenarios.version(&store, &scenario, version).await?;
                versions.insert(version.clone(), old);
            }
        }
        let MigrationPlan {
            rows,
            journal,
            unmapped,
        } = plan_migration(&target, &versions, &mapping, &instances, now)?;
        let moved = store
            .rewrite_instances(&rows, &journal, now.timestamp_millis())
            .await?;
        store
            .audit(
                &cli_actor(),
                "instances.migrate",
                &format!("scenario:{scenario}"),
                &format!("{moved} instance(s) to version {to}"),
                now.timestamp_millis(),
            )
            .await?;
        println!("moved {moved} instance(s) of {scenario} to version {to}");
        if !unmapped.is_empty() {
            println!("not moved, their step is not in the mapping:");
            for u in &unmapped {
                println!("  {u}");
            }
            return Ok(1);
        }
        anyhow::Ok(0)
    })
}

/// `relance demo`: a fresh database with a sample portfolio, served with the
/// clock sped up so that sends appear in the outbox folder within a minute.
pub fn demo_cmd(dir: &Path, debtors: usize, speed: u32, listen: SocketAddr) -> anyhow::Result<i32> {
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let db = dir.join("relance-demo.db");
    for suffix in ["", "-wal", "-shm"] {
        let f = PathBuf::from(format!("{}{suffix}", db.display()));
        if f.exists() {
            std::fs::remove_file(&f).with_context(|| format!("removing {}", f.display()))?;
        }
    }
    let out = dir.join("outbox");
    if out.exists() {
        std::fs::remove_dir_all(&out).with_context(|| format!("clearing {}", out.display()))?;
    }
    let mut config = Config::default();
    config.database.url = Some(crate::store::sqlite_url(&db));
    config.database.sqlite_synchronous = crate::config::Synchronous::Normal;
    config.channels.file_dir = out.clone();
    config.http.listen = listen;
    config.partners.insert(
        "agent_default".into(),
        crate::config::PartnerConfig {
            name: "Cabinet Exemple Recouvrement SAS".into(),
            address: vec!["1 place de la Bourse".into(), "69002 Lyon".into()],
            registration: "RCS Lyon 000 000 000 (demo)".into(),
        },
    );
    let now = Utc::now();
    let cases = demo::portfolio(debtors, now.date_naive());
    let rt = runtime()?;
    rt.block_on(async {
        let store = open_store(&config).await?;
        let stats = start_cases(&config, &store, cases, now).await?;
        // The demo database is thrown away on the next run: a token for every client, so
        // that the API can be tried at once.
        let token = crate::api::auth::create_token(
            &store,
            crate::api::auth::Role::Admin,
            &crate::api::auth::Scope::All,
            "demo",
            now.timestamp_millis(),
        )
        .await?;
        eprintln!(
            "demo: an admin token for the API (this database only): {}\n      \
             curl -H 'Authorization: Bearer {}' http://{listen}/api/v1/cases",
            token.secret, token.secret
        );
        eprintln!(
            "demo: {} cases with {} invoices in {}; messages appear in {} (clock ×{speed}: one real minute is {} days); Ctrl-C stops",
            stats.cases,
            stats.invoices,
            db.display(),
            out.display(),
            Decimal::from(speed as i64 * 60) / Decimal::from(86_400)
        );
        anyhow::Ok(())
    })?;
    rt.block_on(serve(config, Clock::accelerated(now, speed)))?;
    Ok(0)
}

#[cfg(test)]
mod tests {
    use super::progress_bar;

    #[test]
    fn the_progress_bar_fills_with_the_work_done() {
        assert_eq!(
            progress_bar(0, 10),
            format!("[{}]   0%  0/10 cases", "-".repeat(30))
        );
        assert_eq!(
            progress_bar(5, 10),
            format!("[{}{}]  50%  5/10 cases", "#".repeat(15), "-".repeat(15))
        );
        assert_eq!(
            progress_bar(10, 10),
            format!("[{}] 100%  10/10 cases", "#".repeat(30))
        );
    }
}
