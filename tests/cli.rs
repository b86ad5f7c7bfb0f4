//! The `relance` command as a user runs it.

use std::process::Command;

fn relance(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_relance"))
        .args(args)
        .output()
        .expect("relance runs");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn check_accepts_the_shipped_scenarios_and_templates() {
    let (code, _, err) = relance(&["check", "scenarios", "templates"]);
    assert_eq!(code, 0, "{err}");
    assert!(err.contains("checked 3 scenario(s)"), "{err}");
    assert!(err.contains("0 error(s)"), "{err}");
}

#[test]
fn check_reports_every_error_with_its_place_and_a_caret() {
    let dir = std::env::temp_dir().join(format!("relance-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("broken.yaml");
    std::fs::write(
        &file,
        "scenario: broken\nstages:\n  - id: s\n    steps:\n      - id: a\n        sned: {}\n      - id: b\n        when: balanse > 0\n",
    )
    .unwrap();
    let path = file.display().to_string();
    let (code, _, err) = relance(&["check", &path, "--templates", "templates"]);
    assert_eq!(code, 1, "{err}");
    assert!(
        err.contains(&format!("{path}:6:9: error: unknown key `sned`")),
        "{err}"
    );
    assert!(
        err.contains(&format!(
            "{path}:8:15: error: in `when`: unknown variable `balanse`"
        )),
        "{err}"
    );
    assert!(err.contains("6 |         sned: {}\n  |         ^"), "{err}");
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn calendar_prints_the_french_holidays_of_2026() {
    let (code, out, _) = relance(&["calendar", "FR", "2026"]);
    assert_eq!(code, 0);
    let dates: Vec<&str> = out.lines().map(|l| &l[..10]).collect();
    assert_eq!(
        dates,
        [
            "2026-01-01",
            "2026-04-06",
            "2026-05-01",
            "2026-05-08",
            "2026-05-14",
            "2026-05-25",
            "2026-07-14",
            "2026-08-15",
            "2026-11-01",
            "2026-11-11",
            "2026-12-25",
        ]
    );
}

#[test]
fn interest_gives_the_worked_french_example_as_table_and_json() {
    let args = [
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
    let (code, out, err) = relance(&args);
    assert_eq!(code, 0, "{err}");
    for figure in ["63.40", "40.00", "103.40", "13.15", "12.15"] {
        assert!(out.contains(figure), "{figure} missing from:\n{out}");
    }
    let mut json_args = args.to_vec();
    json_args.extend(["--format", "json"]);
    let (code, out, _) = relance(&json_args);
    assert_eq!(code, 0);
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["total"], "103.40");
}

#[test]
fn simulate_json_entries_carry_the_documented_fields() {
    let (code, out, err) = relance(&[
        "simulate",
        "scenarios/b2b-france.yaml",
        "--case",
        "examples/case-fr-company.yaml",
        "--format",
        "json",
    ]);
    assert_eq!(code, 0, "{err}");
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    let entries = v.as_array().unwrap();
    assert!(entries.len() > 10);
    for e in entries {
        let at = e["at"].as_str().unwrap();
        assert!(chrono::DateTime::parse_from_rfc3339(at).is_ok(), "{at}");
        assert!(
            at.ends_with("+01:00") || at.ends_with("+02:00"),
            "{at} carries the Paris offset"
        );
        for key in [
            "stage", "step", "kind", "channel", "template", "balance", "currency",
        ] {
            assert!(e.get(key).is_some(), "{key} missing in {e}");
        }
        let balance = e["balance"].as_str().unwrap();
        assert!(
            balance.parse::<rust_decimal::Decimal>().is_ok(),
            "{balance}"
        );
    }
    assert!(
        entries
            .iter()
            .any(|e| e["kind"] == "send" && e["channel"] == "registered_mail")
    );
}
