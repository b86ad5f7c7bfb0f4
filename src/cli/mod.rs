//! The command line: parses arguments and calls the library, thinly.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use anyhow::{Context, bail};
use chrono::NaiveDate;
use clap::{Parser, Subcommand, ValueEnum};

use crate::calendar::{Country, holidays};
use crate::engine::Engine;
use crate::money::{
    InterestBasis, Jurisdiction, RateTable, breakdown_json, format_breakdown_table, late_interest,
    parse_amount, parse_currency, recovery_indemnity,
};
use crate::rules::Rules;
use crate::runtime::service::Templates;
use crate::scenario::{self, Diagnostic, TemplateLookup};
use crate::simulate;
use crate::templates::TemplateStore;

#[derive(Parser, Debug)]
#[command(
    name = "relance",
    version,
    about = "Collects unpaid invoices, under the client's brand"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

mod render;
mod runtime;
mod token;
mod webhooks;

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Run the scheduler, the dispatcher and the HTTP port (health,
    /// readiness, metrics, event intake) until SIGINT or SIGTERM.
    Serve {
        #[command(flatten)]
        config: runtime::ConfigArg,
        /// Address to listen on (overrides http.listen).
        #[arg(long)]
        listen: Option<std::net::SocketAddr>,
        /// Run the clock this many times faster than real time (tests, demos).
        #[arg(long, default_value_t = 1)]
        speed: u32,
        /// Start the clock at this instant instead of now (tests of missed wakes).
        #[arg(long, hide = true)]
        start: Option<chrono::DateTime<chrono::Utc>>,
    },
    /// A fresh demo database with a sample portfolio, served with an
    /// accelerated clock: watch messages appear in DIR/outbox.
    Demo {
        /// Folder for the demo database and outbox.
        #[arg(long, default_value = "demo")]
        dir: PathBuf,
        /// How many debtors.
        #[arg(long, default_value_t = 300)]
        debtors: usize,
        /// Clock acceleration: 7200 makes a real minute five days.
        #[arg(long, default_value_t = 7200)]
        speed: u32,
        #[arg(long, default_value = "127.0.0.1:8080")]
        listen: std::net::SocketAddr,
    },
    /// Apply the database migrations.
    Migrate {
        #[command(flatten)]
        config: runtime::ConfigArg,
    },
    /// Import data.
    #[command(subcommand)]
    Import(runtime::ImportCommand),
    /// Record an event by hand (a payment, a dispute, a promise…).
    Event(runtime::EventArgs),
    /// Cases per stage and status, due wake-ups, outbox and dead letters.
    Status {
        #[command(flatten)]
        config: runtime::ConfigArg,
    },
    /// Operate on running instances.
    #[command(subcommand)]
    Instances(runtime::InstancesCommand),
    /// The outbox: list dead letters and parked sends, retry them.
    #[command(subcommand)]
    Outbox(runtime::OutboxCommand),
    /// The operators' work queue: calls to make, with their outcome.
    #[command(subcommand)]
    Tasks(runtime::TasksCommand),
    /// API tokens: create (the secret is shown once), list, revoke.
    #[command(subcommand)]
    Token(token::TokenCommand),
    /// Partner webhooks relance stored: what it could not place, and what it applied.
    #[command(subcommand)]
    Webhooks(webhooks::WebhooksCommand),
    /// Check scenarios and templates: every error at once, FILE:LINE:COLUMN.
    Check {
        /// Scenario files, template files, or folders of them.
        #[arg(required = true)]
        paths: Vec<PathBuf>,
        /// Template folder to check scenarios against (default: the
        /// template folders among PATHS, else ./templates if it exists).
        #[arg(long)]
        templates: Option<PathBuf>,
    },
    /// Run a case through a scenario in virtual time and print its timeline.
    Simulate {
        /// The scenario file, or a folder of scenarios: then the first (by
        /// file name) whose `applies:` holds for the case runs.
        scenario: PathBuf,
        /// The case file (client, debtor, invoices, optional events).
        #[arg(long = "case")]
        case_file: PathBuf,
        /// More events, as a YAML list.
        #[arg(long)]
        events: Option<PathBuf>,
        /// Last day simulated (default: two years after the case opens).
        #[arg(long)]
        until: Option<NaiveDate>,
        #[arg(long, value_enum, default_value_t = Format::Table)]
        format: Format,
        /// ECB rate table to use instead of the built-in one.
        #[arg(long)]
        rates: Option<PathBuf>,
    },
    /// Render a template for a case: print subject and body, or write the PDF letter.
    Render(render::RenderArgs),
    /// The public holidays of a business calendar.
    Calendar {
        /// FR, ES, DE, IT, BE, NL or GB.
        country: String,
        year: i32,
    },
    /// Late interest and fixed indemnity owed on an amount.
    Interest {
        #[arg(long)]
        amount: String,
        #[arg(long, default_value = "EUR")]
        currency: String,
        /// Due date, YYYY-MM-DD.
        #[arg(long)]
        due: NaiveDate,
        /// Last day counted, YYYY-MM-DD.
        #[arg(long)]
        until: NaiveDate,
        /// FR, ES or EU (statutory rates); ignored with --rate.
        #[arg(long, default_value = "FR")]
        jurisdiction: String,
        /// Contractual yearly rate in percent, instead of the statutory one.
        #[arg(long)]
        rate: Option<String>,
        /// The debtor is a consumer: no fixed indemnity.
        #[arg(long)]
        consumer: bool,
        /// Number of invoices, for the fixed indemnity.
        #[arg(long, default_value_t = 1)]
        invoices: usize,
        #[arg(long, value_enum, default_value_t = Format::Table)]
        format: Format,
        /// ECB rate table to use instead of the built-in one.
        #[arg(long)]
        rates: Option<PathBuf>,
    },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Format {
    Table,
    Json,
}

/// Runs a command; the number is the process exit code.
pub fn run(cli: Cli) -> anyhow::Result<i32> {
    match cli.command {
        Command::Serve {
            config,
            listen,
            speed,
            start,
        } => runtime::serve_cmd(&config, listen, speed, start),
        Command::Demo {
            dir,
            debtors,
            speed,
            listen,
        } => runtime::demo_cmd(&dir, debtors, speed, listen),
        Command::Migrate { config } => runtime::migrate_cmd(&config),
        Command::Import(cmd) => runtime::import_cmd(cmd),
        Command::Event(args) => runtime::event_cmd(args),
        Command::Status { config } => runtime::status_cmd(&config),
        Command::Instances(cmd) => runtime::instances_cmd(cmd),
        Command::Outbox(cmd) => runtime::outbox_cmd(cmd),
        Command::Tasks(cmd) => runtime::tasks_cmd(cmd),
        Command::Token(cmd) => token::token_cmd(cmd),
        Command::Webhooks(cmd) => webhooks::webhooks_cmd(cmd),
        Command::Check { paths, templates } => check(&paths, templates.as_deref()),
        Command::Simulate {
            scenario,
            case_file,
            events,
            until,
            format,
            rates,
        } => simulate_cmd(
            &scenario,
            &case_file,
            events.as_deref(),
            until,
            format,
            rates.as_deref(),
        ),
        Command::Render(args) => render::render_cmd(&args),
        Command::Calendar { country, year } => {
            let country = Country::from_str(&country)?;
            for h in holidays(country, year) {
                println!("{} {}", h.date, h.name);
            }
            Ok(0)
        }
        Command::Interest {
            amount,
            currency,
            due,
            until,
            jurisdiction,
            rate,
            consumer,
            invoices,
            format,
            rates,
        } => {
            let table = rate_table(rates.as_deref())?;
            let currency = parse_currency(&currency)?;
            let amount = parse_amount(&amount).context("--amount")?;
            let basis = match rate {
                Some(r) => InterestBasis::Contractual {
                    rate: parse_amount(r.trim_end_matches('%')).context("--rate")?,
                },
                None => InterestBasis::Statutory(Jurisdiction::from_str(&jurisdiction)?),
            };
            let start = due.succ_opt().unwrap_or(due);
            let breakdown =
                late_interest(&table, &basis, currency, &[(start, amount)], due, until)?;
            let breakdown =
                breakdown.with_indemnity(recovery_indemnity(invoices, consumer, currency))?;
            match format {
                Format::Table => print!("{}", format_breakdown_table(&breakdown)),
                Format::Json => println!(
                    "{}",
                    serde_json::to_string_pretty(&breakdown_json(&breakdown))?
                ),
            }
            if breakdown.beyond_rates_as_of() {
                eprintln!(
                    "warning: interest runs past the rate table's as-of date {}; update the table if the ECB rate has changed since",
                    table.as_of().map(|d| d.to_string()).unwrap_or_default()
                );
            }
            Ok(0)
        }
    }
}

fn rate_table(path: Option<&Path>) -> anyhow::Result<RateTable> {
    Ok(match path {
        Some(p) => RateTable::load(p)?,
        None => RateTable::builtin(),
    })
}

/// Files below `path` with one of `exts`, sorted.
fn files_below(path: &Path, exts: &[&str], out: &mut Vec<PathBuf>) {
    if path.is_dir() {
        let mut entries: Vec<PathBuf> = std::fs::read_dir(path)
            .map(|rd| rd.filter_map(|e| e.ok().map(|e| e.path())).collect())
            .unwrap_or_default();
        entries.sort();
        for e in entries {
            files_below(&e, exts, out);
        }
    } else if path
        .extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| exts.contains(&e))
    {
        out.push(path.to_path_buf());
    }
}

/// The template root a `.hbs` file belongs to: `<root>/<lang>/<name>.hbs`.
fn template_root(file: &Path) -> Option<PathBuf> {
    file.parent()?.parent().map(Path::to_path_buf)
}

fn print_diagnostics(diags: &[Diagnostic], sources: &BTreeMap<String, String>) {
    for d in diags {
        eprintln!("{}", d.render(sources.get(&d.file).map(String::as_str)));
    }
}

fn check(paths: &[PathBuf], templates: Option<&Path>) -> anyhow::Result<i32> {
    let mut yaml_files = Vec::new();
    let mut hbs_files = Vec::new();
    for p in paths {
        if !p.exists() {
            bail!("{}: no such file or folder", p.display());
        }
        files_below(p, &["yaml", "yml"], &mut yaml_files);
        files_below(p, &["hbs"], &mut hbs_files);
    }

    let mut roots: Vec<PathBuf> = hbs_files.iter().filter_map(|f| template_root(f)).collect();
    roots.sort();
    roots.dedup();
    if let Some(t) = templates {
        roots.insert(0, t.to_path_buf());
    } else if roots.is_empty() && Path::new("templates").is_dir() {
        roots.push(PathBuf::from("templates"));
    }

    let mut diags: Vec<Diagnostic> = Vec::new();
    let mut sources = BTreeMap::new();
    let mut store = None;
    for (i, root) in roots.iter().enumerate() {
        match TemplateStore::load(root) {
            Ok(s) => {
                for td in s.check() {
                    diags.push(template_diag(&td));
                }
                if i == 0 {
                    store = Some(Templates(std::sync::Arc::new(s)));
                }
            }
            Err(errors) => diags.extend(errors.iter().map(template_diag)),
        }
    }
    for d in &diags {
        if let Ok(text) = std::fs::read_to_string(&d.file) {
            sources.insert(d.file.clone(), text);
        }
    }

    let rules = Rules::new();
    let mut scenarios = 0;
    for file in &yaml_files {
        let name = file.display().to_string();
        let text = std::fs::read_to_string(file).with_context(|| format!("reading {name}"))?;
        if looks_like_case(&text) {
            if let Err(err) = simulate::parse_case(&name, &text) {
                diags.extend(err.0);
            }
        } else {
            scenarios += 1;
            let lookup = store.as_ref().map(|s| s as &dyn TemplateLookup);
            let loaded = scenario::load_checked(&rules, &name, &text, lookup);
            diags.extend(loaded.diagnostics);
        }
        sources.insert(name, text);
    }

    scenario::sort_diagnostics(&mut diags);
    print_diagnostics(&diags, &sources);
    let errors = diags.iter().filter(|d| d.is_error()).count();
    let warnings = diags.len() - errors;
    eprintln!(
        "checked {scenarios} scenario(s), {} other YAML file(s), {} template(s): {errors} error(s), {warnings} warning(s)",
        yaml_files.len() - scenarios,
        hbs_files.len()
    );
    Ok(if errors > 0 { 1 } else { 0 })
}

fn template_diag(td: &crate::templates::TemplateDiagnostic) -> Diagnostic {
    let file = td.file.display().to_string();
    if td.is_warning {
        Diagnostic::warning(&file, td.line, td.column, td.message.clone())
    } else {
        Diagnostic::error(&file, td.line, td.column, td.message.clone())
    }
}

/// A case file has a top-level `debtor:` and no `scenario:`.
fn looks_like_case(text: &str) -> bool {
    let top = |key: &str| text.lines().any(|l| l.starts_with(key));
    top("debtor:") && !top("scenario:")
}

fn simulate_cmd(
    scenario_path: &Path,
    case_path: &Path,
    events_path: Option<&Path>,
    until: Option<NaiveDate>,
    format: Format,
    rates: Option<&Path>,
) -> anyhow::Result<i32> {
    let rules = Rules::new();
    let table = rate_table(rates)?;
    let engine = Engine {
        rules: &rules,
        rates: &table,
    };

    let scenario_files = if scenario_path.is_dir() {
        let mut files = Vec::new();
        files_below(scenario_path, &["yaml", "yml"], &mut files);
        files
    } else {
        vec![scenario_path.to_path_buf()]
    };
    let folder = if scenario_path.is_dir() {
        Some(scenario_path)
    } else {
        scenario_path.parent()
    };
    let default_templates = folder
        .and_then(Path::parent)
        .map(|p| p.join("templates"))
        .filter(|p| p.is_dir());
    let store = default_templates
        .and_then(|p| TemplateStore::load(&p).ok())
        .map(|s| Templates(std::sync::Arc::new(s)));
    let lookup = store.as_ref().map(|s| s as &dyn TemplateLookup);
    let mut sources = BTreeMap::new();
    let mut scenarios = Vec::new();
    let mut failed = false;
    for file in &scenario_files {
        let name = file.display().to_string();
        let text = std::fs::read_to_string(file).with_context(|| format!("reading {name}"))?;
        let loaded = scenario::load_checked(&rules, &name, &text, lookup);
        sources.insert(name, text);
        print_diagnostics(&loaded.diagnostics, &sources);
        match loaded.scenario {
            Some(s) => scenarios.push(s),
            None => failed = true,
        }
    }
    if failed {
        return Ok(1);
    }

    let case_name = case_path.display().to_string();
    let case_text =
        std::fs::read_to_string(case_path).with_context(|| format!("reading {case_name}"))?;
    let case_file = match simulate::parse_case(&case_name, &case_text) {
        Ok(c) => c,
        Err(err) => {
            sources.insert(case_name, case_text);
            print_diagnostics(&err.0, &sources);
            return Ok(1);
        }
    };
    let mut events = case_file.events.clone();
    if let Some(p) = events_path {
        let ev_name = p.display().to_string();
        let ev_text = std::fs::read_to_string(p).with_context(|| format!("reading {ev_name}"))?;
        match simulate::parse_events(&ev_name, &ev_text, case_file.case.debtor.timezone) {
            Ok(more) => events.extend(more),
            Err(err) => {
                sources.insert(ev_name, ev_text);
                print_diagnostics(&err.0, &sources);
                return Ok(1);
            }
        }
    }

    let opened = simulate::opened_at(&case_file);
    let Some(scenario) = engine.choose(&scenarios, &case_file.case, opened)? else {
        eprintln!(
            "error: no scenario in {} applies to case {}: each `applies:` rule is false",
            scenario_path.display(),
            case_file.case.id
        );
        return Ok(1);
    };
    if scenarios.len() > 1 {
        eprintln!("scenario: {} ({})", scenario.name, scenario.file);
    }
    let tz = case_file.case.debtor.timezone;
    let until = match until {
        Some(d) => simulate::end_of_day(tz, d),
        None => opened + chrono::Duration::days(simulate::DEFAULT_HORIZON_DAYS),
    };
    let timeline = simulate::run(&engine, scenario, case_file.case, &events, opened, until)?;
    match format {
        Format::Table => print!("{}", timeline.to_table()),
        Format::Json => println!("{}", serde_json::to_string_pretty(&timeline.to_json())?),
    }
    Ok(0)
}
