//! The `relance` binary as a scenario author runs it: `check`, `calendar`, `interest` and
//! `simulate`, with their exit codes and the exact shape of what they print.

use std::collections::BTreeSet;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use rust_decimal::Decimal;

const REPO: &str = env!("CARGO_MANIFEST_DIR");

fn relance(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_relance"))
        .current_dir(dir)
        .args(args)
        .output()
        .expect("the relance binary runs")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8(bytes.to_vec()).expect("output is UTF-8")
}

/// A fresh folder for one test under cargo's scratch space.
fn scratch(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("cli-{name}"));
    let _ = fs::remove_dir_all(&dir);
    fs::create_dir_all(&dir).expect("scratch folder");
    dir
}

/// The template names a scenario uses (`template: NAME`).
fn template_names(scenario: &str) -> BTreeSet<String> {
    scenario
        .split("template:")
        .skip(1)
        .filter_map(|rest| {
            let name: String = rest
                .trim_start()
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_' || *c == '-')
                .collect();
            (!name.is_empty()).then_some(name)
        })
        .collect()
}

/// Copies the shipped scenarios into `dir/scenarios` and writes a plain
/// `dir/templates/<lang>/<name>.hbs` for every template they name, so that the test does
/// not depend on the templates folder being filled in.
fn project_with_templates(dir: &Path) {
    let scenarios = dir.join("scenarios");
    fs::create_dir_all(&scenarios).unwrap();
    let mut names = BTreeSet::new();
    for entry in fs::read_dir(Path::new(REPO).join("scenarios")).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "yaml" || e == "yml") {
            let src = fs::read_to_string(&path).unwrap();
            names.extend(template_names(&src));
            fs::write(scenarios.join(path.file_name().unwrap()), src).unwrap();
        }
    }
    assert!(names.contains("reminder_email"), "{names:?}");
    for lang in ["fr", "en", "es"] {
        let folder = dir.join("templates").join(lang);
        fs::create_dir_all(&folder).unwrap();
        for name in &names {
            fs::write(folder.join(format!("{name}.hbs")), "Hello.\n").unwrap();
        }
    }
}

mod check {
    use super::*;

    #[test]
    fn check_accepts_the_shipped_scenarios_with_their_templates() {
        let dir = scratch("check-ok");
        project_with_templates(&dir);
        let out = relance(&dir, &["check", "scenarios"]);
        let err = text(&out.stderr);
        assert_eq!(out.status.code(), Some(0), "{err}");
        assert!(err.contains("0 error(s)"), "{err}");
        assert!(!err.contains(": error:"), "{err}");
    }

    #[test]
    fn check_accepts_the_shipped_scenarios_against_the_shipped_templates() {
        let out = relance(Path::new(REPO), &["check", "scenarios", "templates"]);
        let err = text(&out.stderr);
        assert_eq!(out.status.code(), Some(0), "{err}");
        assert!(err.contains("checked 3 scenario(s)"), "{err}");
        assert!(
            !err.contains(": error:") && !err.contains(": warning:"),
            "{err}"
        );
    }

    #[test]
    fn check_reports_a_template_the_folder_lacks() {
        let dir = scratch("check-missing-template");
        project_with_templates(&dir);
        fs::remove_file(dir.join("templates/en/reminder_email.hbs")).unwrap();
        let out = relance(&dir, &["check", "scenarios", "--templates", "templates"]);
        let err = text(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{err}");
        assert!(
            err.contains("template `reminder_email` does not exist in en"),
            "{err}"
        );
    }

    #[test]
    fn check_on_a_broken_file_exits_1_with_located_errors_and_carets() {
        let dir = scratch("check-broken");
        let broken = "\
scenario: broken
calendar: FR
stages:
  - id: main
    steps:
      - id: first
        at: due + 5bx
        sned: { channel: email, template: reminder }
";
        fs::write(dir.join("broken.yaml"), broken).unwrap();
        let out = relance(&dir, &["check", "broken.yaml"]);
        let err = text(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{err}");

        let lines: Vec<&str> = err.lines().collect();
        let first = lines
            .iter()
            .position(|l| l.starts_with("broken.yaml:7:20: error: bad duration `5bx`"))
            .unwrap_or_else(|| panic!("no located duration error in:\n{err}"));
        assert_eq!(lines[first + 1], "7 |         at: due + 5bx");
        assert_eq!(lines[first + 2], format!("  | {}^", " ".repeat(19)));

        let second = lines
            .iter()
            .position(|l| l.starts_with("broken.yaml:8:9: error: unknown key `sned`"))
            .unwrap_or_else(|| panic!("no located key error in:\n{err}"));
        assert!(second > first, "errors come in file order:\n{err}");
        assert_eq!(lines[second + 2], format!("  | {}^", " ".repeat(8)));
        assert!(err.contains("2 error(s)"), "{err}");
    }

    #[test]
    fn check_on_a_missing_path_fails() {
        let dir = scratch("check-no-path");
        let out = relance(&dir, &["check", "nowhere.yaml"]);
        assert_ne!(out.status.code(), Some(0));
        assert!(text(&out.stderr).contains("nowhere.yaml"));
    }
}

#[test]
fn calendar_fr_2026_prints_the_eleven_french_holidays() {
    let out = relance(Path::new(REPO), &["calendar", "FR", "2026"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let expected = "\
2026-01-01 New Year's Day
2026-04-06 Easter Monday
2026-05-01 Labour Day
2026-05-08 Victory in Europe Day
2026-05-14 Ascension Day
2026-05-25 Whit Monday
2026-07-14 Bastille Day
2026-08-15 Assumption Day
2026-11-01 All Saints' Day
2026-11-11 Armistice Day
2026-12-25 Christmas Day
";
    assert_eq!(text(&out.stdout), expected);
}

mod interest {
    use super::*;

    const ARGS: &[&str] = &[
        "interest",
        "--amount",
        "1000",
        "--currency",
        "EUR",
        "--due",
        "2025-03-31",
        "--until",
        "2025-09-30",
    ];

    #[test]
    fn interest_shows_interest_indemnity_and_total() {
        let out = relance(Path::new(REPO), ARGS);
        assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
        let table = text(&out.stdout);
        let line = |label: &str| {
            table
                .lines()
                .find(|l| l.starts_with(label))
                .unwrap_or_else(|| panic!("no `{label}` line in:\n{table}"))
                .split_whitespace()
                .rev()
                .take(2)
                .collect::<Vec<_>>()
        };
        assert_eq!(line("interest"), ["EUR", "63.40"]);
        assert_eq!(line("recovery indemnity"), ["EUR", "40.00"]);
        assert_eq!(line("total"), ["EUR", "103.40"]);
    }

    #[test]
    fn interest_as_json_parses_with_decimal_strings() {
        let mut args = ARGS.to_vec();
        args.extend(["--format", "json"]);
        let out = relance(Path::new(REPO), &args);
        assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
        let json: serde_json::Value =
            serde_json::from_slice(&out.stdout).expect("--format json prints JSON");
        assert_eq!(json["interest"], "63.40");
        assert_eq!(json["indemnity"], "40.00");
        assert_eq!(json["total"], "103.40");
        assert_eq!(json["currency"], "EUR");
        assert_eq!(json["periods"].as_array().map(Vec::len), Some(2));
    }
}

#[test]
fn simulate_as_json_gives_one_entry_per_journal_line_with_typed_fields() {
    let out = relance(
        Path::new(REPO),
        &[
            "simulate",
            "scenarios/b2b-france.yaml",
            "--case",
            "examples/case-fr-company.yaml",
            "--format",
            "json",
        ],
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON output");
    let entries = json.as_array().expect("an array of entries");
    assert!(entries.len() > 3, "{json:#}");

    for e in entries {
        let at = e["at"].as_str().expect("`at` is a string");
        let parsed = chrono::DateTime::parse_from_rfc3339(at)
            .unwrap_or_else(|err| panic!("`at` {at} is not RFC 3339: {err}"));
        assert!(
            at.ends_with("+01:00") || at.ends_with("+02:00"),
            "`at` carries the debtor's Paris offset: {at}"
        );
        assert!(parsed.timestamp() > 0);
        for key in ["stage", "step", "channel", "template"] {
            assert!(
                e[key].is_string() || e[key].is_null(),
                "`{key}` is a string or null: {e}"
            );
        }
        assert!(e["kind"].is_string(), "{e}");
        let balance = e["balance"]
            .as_str()
            .expect("`balance` is a decimal string");
        assert!(balance.parse::<Decimal>().is_ok(), "{balance}");
        assert_eq!(e["currency"], "EUR");
    }

    let sends: Vec<&serde_json::Value> = entries.iter().filter(|e| e["kind"] == "send").collect();
    assert!(!sends.is_empty(), "{json:#}");
    for s in &sends {
        assert!(s["stage"].is_string() && s["step"].is_string(), "{s}");
        assert!(s["channel"].is_string() && s["template"].is_string(), "{s}");
    }
    assert_eq!(entries[0]["kind"], "started");
    assert_eq!(entries[0]["balance"], "1730.50");
}
