//! The configuration file of `relance serve`: defaults, the shipped
//! example, error places, cron schedules across daylight-saving changes, and
//! the environment override of the database URL.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use relance::config::{Adapter, Config, ConfigError, JobConfig, JobKind, Schedule, Synchronous};

fn at(text: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(text)
        .expect("test instant")
        .with_timezone(&Utc)
}

fn invalid(err: ConfigError) -> (usize, usize, String, String) {
    match err {
        ConfigError::Invalid {
            line,
            column,
            field,
            message,
            ..
        } => (line, column, field, message),
        other => panic!("expected an Invalid error, got {other}"),
    }
}

fn example_text() -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("config.example.yaml");
    std::fs::read_to_string(path).expect("config.example.yaml is readable")
}

#[test]
fn defaults_are_the_documented_values() {
    let c = Config::default();

    assert_eq!(c.database.url, None);
    assert_eq!(c.database.sqlite_synchronous, Synchronous::Full);
    assert_eq!(c.database.pool_size, 5);
    assert_eq!(c.database.effective_url(), "sqlite://relance.db?mode=rwc");
    assert_eq!(c.http.listen.to_string(), "127.0.0.1:8080");
    assert_eq!(c.http.body_limit_bytes, 1024 * 1024);
    assert_eq!(c.scheduler.batch_size, 500);
    assert_eq!(c.scheduler.lease_seconds, 30);
    assert_eq!(c.scheduler.idle_max_sleep_seconds, 60);
    assert_eq!(c.dispatcher.batch_size, 100);
    assert_eq!(c.dispatcher.max_attempts, 8);
    assert_eq!(c.dispatcher.backoff_base_ms, 1000);
    assert_eq!(c.dispatcher.backoff_max_ms, 3_600_000);
    assert_eq!(c.dispatcher.concurrency, 4);
    assert_eq!(c.scenarios, PathBuf::from("scenarios"));
    assert_eq!(c.templates, PathBuf::from("templates"));
    assert_eq!(c.rates, None);
    assert_eq!(c.channels.default_adapter, Adapter::File);
    assert_eq!(c.channels.file_dir, PathBuf::from("out"));
    assert!(c.channels.per_channel.is_empty());
    assert!(c.jobs.is_empty());
    assert_eq!(c.retention.journal_days, 3650);
    assert_eq!(c.retention.webhook_delivery_days, 30);
}

#[test]
fn an_empty_or_comment_only_file_gives_the_defaults() {
    assert_eq!(
        Config::from_str("c.yaml", "").expect("empty"),
        Config::default()
    );
    assert_eq!(
        Config::from_str("c.yaml", "# nothing\n\n").expect("comments"),
        Config::default()
    );
}

#[test]
fn the_example_file_is_the_default_plus_its_two_example_jobs() {
    let mut example = Config::from_str("config.example.yaml", &example_text()).expect("parses");

    let jobs = std::mem::take(&mut example.jobs);
    let partners = std::mem::take(&mut example.partners);
    assert_eq!(example, Config::default());
    assert_eq!(
        partners["agent_default"].name,
        "Cabinet Exemple Recouvrement SAS"
    );

    assert_eq!(jobs.len(), 2);
    assert_eq!(jobs[0].name, "daily-portfolio-refresh");
    assert_eq!(jobs[0].kind, JobKind::PortfolioRefresh);
    assert_eq!(jobs[0].timezone, chrono_tz::Europe::Paris);
    assert_eq!(jobs[1].name, "weekly-retention-cleanup");
    assert_eq!(jobs[1].kind, JobKind::RetentionCleanup);

    let daily = jobs[0].schedule().expect("daily cron parses");
    // 06:00 in Paris is 05:00 UTC in winter.
    assert_eq!(
        daily.next_after(at("2026-01-15T10:00:00Z")),
        Some(at("2026-01-16T05:00:00Z"))
    );
    let weekly = jobs[1].schedule().expect("weekly cron parses");
    // 2026-01-18 is a Sunday; 03:30 in Paris is 02:30 UTC.
    assert_eq!(
        weekly.next_after(at("2026-01-15T10:00:00Z")),
        Some(at("2026-01-18T02:30:00Z"))
    );
}

#[test]
fn a_full_file_sets_every_setting() {
    let text = "\
database:
  url: postgres://relance@db.internal:5432/relance
  sqlite_synchronous: normal
  pool_size: 20
http:
  listen: 0.0.0.0:9000
  body_limit_bytes: 2048
scheduler:
  batch_size: 50
  lease_seconds: 10
  idle_max_sleep_seconds: 5
dispatcher:
  batch_size: 10
  max_attempts: 3
  backoff_base_ms: 200
  backoff_max_ms: 60000
  concurrency: 16
scenarios: /srv/relance/scenarios
templates: /srv/relance/templates
rates: /srv/relance/ecb.csv
channels:
  default_adapter: log
  file_dir: outbox
  per_channel:
    email: file
    registered_mail: log
jobs:
  - name: import
    cron: \"*/15 8-18 * * 1-5\"
    timezone: America/New_York
    kind: bank_import
retention:
  journal_days: 365
  webhook_delivery_days: 7
";
    let c = Config::from_str("full.yaml", text).expect("parses");

    assert_eq!(
        c.database.url.as_deref(),
        Some("postgres://relance@db.internal:5432/relance")
    );
    assert_eq!(c.database.sqlite_synchronous, Synchronous::Normal);
    assert_eq!(c.database.pool_size, 20);
    assert_eq!(c.http.listen.to_string(), "0.0.0.0:9000");
    assert_eq!(c.http.body_limit_bytes, 2048);
    assert_eq!(c.scheduler.batch_size, 50);
    assert_eq!(c.scheduler.lease().as_secs(), 10);
    assert_eq!(c.scheduler.idle_max_sleep().as_secs(), 5);
    assert_eq!(c.dispatcher.batch_size, 10);
    assert_eq!(c.dispatcher.max_attempts, 3);
    assert_eq!(c.dispatcher.backoff_base().as_millis(), 200);
    assert_eq!(c.dispatcher.backoff_max().as_millis(), 60_000);
    assert_eq!(c.dispatcher.concurrency, 16);
    assert_eq!(c.scenarios, PathBuf::from("/srv/relance/scenarios"));
    assert_eq!(c.templates, PathBuf::from("/srv/relance/templates"));
    assert_eq!(c.rates, Some(PathBuf::from("/srv/relance/ecb.csv")));
    assert_eq!(c.channels.default_adapter, Adapter::Log);
    assert_eq!(c.channels.file_dir, PathBuf::from("outbox"));
    assert_eq!(
        c.channels.per_channel,
        BTreeMap::from([
            ("email".to_string(), Adapter::File),
            ("registered_mail".to_string(), Adapter::Log),
        ])
    );
    assert_eq!(c.channels.adapter_for("email"), Adapter::File);
    assert_eq!(c.channels.adapter_for("sms"), Adapter::Log);
    assert_eq!(
        c.jobs,
        vec![JobConfig {
            name: "import".to_string(),
            cron: "*/15 8-18 * * 1-5".to_string(),
            timezone: chrono_tz::America::New_York,
            kind: JobKind::BankImport,
        }]
    );
    assert_eq!(c.retention.journal_days, 365);
    assert_eq!(c.retention.webhook_delivery_days, 7);
}

#[test]
fn a_job_without_timezone_runs_in_paris_time() {
    let text = "jobs:\n  - name: a\n    cron: \"0 6 * * *\"\n    kind: portfolio_refresh\n";
    let c = Config::from_str("c.yaml", text).expect("parses");
    assert_eq!(c.jobs[0].timezone, chrono_tz::Europe::Paris);
}

#[test]
fn a_misspelt_time_zone_is_refused_with_a_suggestion() {
    let text = "jobs:\n  - name: a\n    cron: \"0 6 * * *\"\n    timezone: Europe/Pariss\n    kind: bank_import\n";
    let (line, _, field, message) = invalid(Config::from_str("c.yaml", text).expect_err("zone"));
    assert_eq!((line, field.as_str()), (4, "jobs[0].timezone"));
    assert!(
        message.contains("did you mean `Europe/Paris`?"),
        "{message}"
    );
}

#[test]
fn a_misspelt_key_is_refused_at_its_place_with_a_suggestion() {
    let text = "http:\n  listen: 127.0.0.1:8080\n  body_limt_bytes: 10\n";
    let err = Config::from_str("relance.yaml", text).expect_err("unknown key");
    let shown = err.to_string();
    let (line, column, field, message) = invalid(err);

    assert_eq!((line, column), (3, 3), "{shown}");
    assert_eq!(field, "http.body_limt_bytes");
    assert!(
        message.contains("did you mean `body_limit_bytes`?"),
        "{message}"
    );
    assert!(
        shown.starts_with("relance.yaml:3:3: http.body_limt_bytes: unknown setting"),
        "{shown}"
    );
}

#[test]
fn a_misspelt_top_level_key_is_refused_with_a_suggestion() {
    let text = "scenarios: s\ntemplate: t\n";
    let (line, column, field, message) =
        invalid(Config::from_str("c.yaml", text).expect_err("unknown key"));
    assert_eq!((line, column, field.as_str()), (2, 1, "template"));
    assert!(message.contains("did you mean `templates`?"), "{message}");
}

#[test]
fn a_wrong_value_names_its_field_and_place() {
    let text = "scheduler:\n  batch_size: many\n";
    let (line, _, field, _) = invalid(Config::from_str("c.yaml", text).expect_err("not a number"));
    assert_eq!((line, field.as_str()), (2, "scheduler.batch_size"));

    let text = "database:\n  pool_size: 0\n";
    let (line, column, field, message) =
        invalid(Config::from_str("c.yaml", text).expect_err("zero"));
    assert_eq!((line, column, field.as_str()), (2, 3, "database.pool_size"));
    assert!(message.contains("at least 1"), "{message}");
}

#[test]
fn an_unknown_channel_in_per_channel_is_refused_with_a_suggestion() {
    let text = "channels:\n  per_channel:\n    emial: log\n";
    let err = Config::from_str("c.yaml", text).expect_err("unknown channel");
    let shown = err.to_string();
    assert!(shown.contains("did you mean `email`?"), "{shown}");
}

#[test]
fn a_cron_minute_out_of_range_is_refused() {
    let err = Schedule::parse("61 * * * *", chrono_tz::UTC).expect_err("minute 61");
    assert!(matches!(err, ConfigError::Cron { .. }), "{err}");
    assert!(err.to_string().contains("minute (0-59)"), "{err}");

    let text = "jobs:\n  - name: a\n    cron: \"61 * * * *\"\n    kind: portfolio_refresh\n";
    let (line, column, field, _) = invalid(Config::from_str("c.yaml", text).expect_err("bad"));
    assert_eq!((line, column, field.as_str()), (3, 5, "jobs[0].cron"));
}

#[test]
fn a_cron_with_seconds_is_refused_saying_cron_has_five_fields() {
    let err = Schedule::parse("0 30 2 * * *", chrono_tz::UTC).expect_err("six fields");
    let shown = err.to_string();
    assert!(shown.contains("5 fields"), "{shown}");
    assert!(shown.contains("seconds"), "{shown}");
}

#[test]
fn a_daily_job_in_the_skipped_hour_runs_once_right_after_the_spring_change() {
    let s = Schedule::parse("30 2 * * *", chrono_tz::Europe::Paris).expect("valid");

    // 2026-03-28, winter time: 02:30 CET = 01:30 UTC.
    assert_eq!(
        s.next_after(at("2026-03-27T12:00:00Z")),
        Some(at("2026-03-28T01:30:00Z"))
    );
    // 2026-03-29: clocks jump from 02:00 CET to 03:00 CEST (01:00 UTC); 02:30
    // does not exist, so the job runs at 03:00 CEST.
    assert_eq!(
        s.next_after(at("2026-03-28T01:30:00Z")),
        Some(at("2026-03-29T01:00:00Z"))
    );
    // 2026-03-30, summer time: 02:30 CEST = 00:30 UTC.
    assert_eq!(
        s.next_after(at("2026-03-29T01:00:00Z")),
        Some(at("2026-03-30T00:30:00Z"))
    );
}

#[test]
fn a_daily_job_in_the_repeated_hour_runs_once_at_its_first_occurrence_in_autumn() {
    let s = Schedule::parse("30 2 * * *", chrono_tz::Europe::Paris).expect("valid");

    // 2026-10-25: clocks go back from 03:00 CEST to 02:00 CET (01:00 UTC), so
    // 02:30 happens at 00:30 UTC (CEST) and again at 01:30 UTC (CET).
    assert_eq!(
        s.next_after(at("2026-10-24T12:00:00Z")),
        Some(at("2026-10-25T00:30:00Z"))
    );
    // Not again at the second 02:30: the next run is the day after, in CET.
    assert_eq!(
        s.next_after(at("2026-10-25T00:30:00Z")),
        Some(at("2026-10-26T01:30:00Z"))
    );
    // Asked from inside the repeated hour, still the next day.
    assert_eq!(
        s.next_after(at("2026-10-25T01:10:00Z")),
        Some(at("2026-10-26T01:30:00Z"))
    );
}

#[test]
fn a_password_in_the_database_url_is_refused_pointing_to_the_environment_variable() {
    let text = "database:\n  url: postgres://relance:s3cret@db/relance\n";
    let err = Config::from_str("c.yaml", text).expect_err("password");
    let shown = err.to_string();
    let (line, _, field, message) = invalid(err);

    assert_eq!((line, field.as_str()), (2, "database.url"), "{shown}");
    assert!(message.contains("RELANCE_DATABASE_URL"), "{message}");
    assert!(!shown.contains("s3cret"), "{shown}");
}

#[test]
fn the_environment_database_url_overrides_the_file() {
    let text = "database:\n  url: sqlite://local.db\n";
    let file = Config::from_str("c.yaml", text).expect("parses");

    let env = |name: &str| {
        (name == "RELANCE_DATABASE_URL").then(|| "postgres://relance:s3cret@db/relance".to_string())
    };
    let c = file.clone().with_env(env).expect("env applies");
    assert_eq!(
        c.database.url.as_deref(),
        Some("postgres://relance:s3cret@db/relance")
    );
    assert!(!format!("{c:?}").contains("s3cret"));

    let unset = file.clone().with_env(|_| None).expect("nothing to apply");
    assert_eq!(unset, file);
    let empty = file
        .clone()
        .with_env(|_| Some(String::new()))
        .expect("empty is unset");
    assert_eq!(empty, file);
}

#[test]
fn load_reads_a_file_and_names_it_in_errors() {
    let dir = std::env::temp_dir().join(format!("relance-config-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let path = dir.join("relance.yaml");
    std::fs::write(&path, "http:\n  lisen: 127.0.0.1:1\n").expect("write");

    let shown = Config::load(&path).expect_err("typo").to_string();
    assert!(
        shown.starts_with(&format!("{}:2:3:", path.display())),
        "{shown}"
    );
    assert!(shown.contains("did you mean `listen`?"), "{shown}");

    let missing = Config::load(&dir.join("absent.yaml")).expect_err("absent");
    assert!(matches!(missing, ConfigError::Read { .. }), "{missing}");

    std::fs::remove_dir_all(&dir).ok();
}
