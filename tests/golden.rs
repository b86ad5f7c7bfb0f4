//! Golden timelines: every shipped scenario run on its example case through
//! every example situation, compared with the snapshot files in
//! `tests/golden/`, plus explicit checks of what a collector expects from
//! each situation.
//!
//! Set `UPDATE_GOLDEN=1` to write the snapshots instead of comparing them,
//! then read every changed file before committing it.

use std::path::{Path, PathBuf};

use relance::engine::{EntryKind, JournalEntry, Status};
use relance::scenario::{Channel, Outcome, Scenario, Severity};
use relance::simulate::{self, Timeline};

/// A shipped scenario and the example case it is run on.
struct Shipped {
    scenario: &'static str,
    case: &'static str,
    /// Folder of `examples/` holding this case's events files.
    events: &'static str,
}

const SHIPPED: &[Shipped] = &[
    Shipped {
        scenario: "b2b-france",
        case: "case-fr-company.yaml",
        events: "fr-company",
    },
    Shipped {
        scenario: "b2c-france",
        case: "case-fr-person.yaml",
        events: "fr-person",
    },
    Shipped {
        scenario: "b2b-spain",
        case: "case-es-company.yaml",
        events: "es-company",
    },
];

/// `unpaid` runs the case with no event; every other situation reads
/// `examples/<case folder>/events-<situation>.yaml`.
const SITUATIONS: &[&str] = &[
    "unpaid",
    "paid-before-due",
    "paid-after-first-reminder",
    "partial-payment",
    "dispute",
    "broken-promise",
    "bounce",
    "insolvency",
];

/// The situation whose JSON timeline is snapshot too.
const JSON_SITUATION: &str = "partial-payment";

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()))
}

fn shipped(name: &str) -> &'static Shipped {
    SHIPPED
        .iter()
        .find(|s| s.scenario == name)
        .unwrap_or_else(|| panic!("no shipped scenario `{name}`"))
}

fn load_scenario(name: &str) -> Scenario {
    let file = format!("scenarios/{name}.yaml");
    let text = read(&root().join(&file));
    let loaded =
        relance::scenario::load_checked(relance::engine::shared().rules, &file, &text, None);
    let problems: Vec<String> = loaded.diagnostics.iter().map(|d| d.to_string()).collect();
    loaded
        .scenario
        .unwrap_or_else(|| panic!("{file} does not load:\n{}", problems.join("\n")))
}

/// Runs `scenario` on its example case through `situation`, with the
/// simulator's default horizon.
fn simulate(scenario: &str, situation: &str) -> Timeline {
    let shipped = shipped(scenario);
    let sc = load_scenario(scenario);

    let case_file = format!("examples/{}", shipped.case);
    let case = simulate::parse_case(&case_file, &read(&root().join(&case_file)))
        .unwrap_or_else(|e| panic!("{case_file} does not parse:\n{e}"));
    let mut events = case.events.clone();
    if situation != "unpaid" {
        let events_file = format!("examples/{}/events-{situation}.yaml", shipped.events);
        let text = read(&root().join(&events_file));
        let more = simulate::parse_events(&events_file, &text, case.case.debtor.timezone)
            .unwrap_or_else(|e| panic!("{events_file} does not parse:\n{e}"));
        events.extend(more);
    }

    let opened = simulate::opened_at(&case);
    let until = opened + chrono::Duration::days(simulate::DEFAULT_HORIZON_DAYS);
    simulate::run(
        &relance::engine::shared(),
        &sc,
        case.case,
        &events,
        opened,
        until,
    )
    .unwrap_or_else(|e| panic!("{scenario} × {situation}: the engine refused: {e}"))
}

fn golden_path(file: &str) -> PathBuf {
    root().join("tests").join("golden").join(file)
}

fn updating() -> bool {
    std::env::var("UPDATE_GOLDEN").is_ok_and(|v| v == "1")
}

/// Compares `actual` with the snapshot `file` (or writes it when
/// updating); returns a readable description of the difference.
fn compare_golden(file: &str, actual: &str) -> Result<(), String> {
    let path = golden_path(file);
    if updating() {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)
                .map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
        }
        return std::fs::write(&path, actual).map_err(|e| format!("cannot write {file}: {e}"));
    }
    let Ok(expected) = std::fs::read_to_string(&path) else {
        return Err(format!(
            "tests/golden/{file} is missing; run `UPDATE_GOLDEN=1 cargo test --test golden` to write it, then review it"
        ));
    };
    if expected == actual {
        return Ok(());
    }
    let expected_lines: Vec<&str> = expected.lines().collect();
    let actual_lines: Vec<&str> = actual.lines().collect();
    let line = expected_lines
        .iter()
        .zip(&actual_lines)
        .position(|(e, a)| e != a)
        .unwrap_or(expected_lines.len().min(actual_lines.len()));
    let show = |lines: &[&str]| {
        lines
            .get(line)
            .map(|l| format!("  {l}"))
            .unwrap_or_else(|| "  (no more lines)".to_string())
    };
    Err(format!(
        "tests/golden/{file} differs from the simulation at line {} ({} lines expected, {} found)\n\
         expected:\n{}\n\
         actual:\n{}\n\
         If the new timeline is right, run `UPDATE_GOLDEN=1 cargo test --test golden` and review the diff.",
        line + 1,
        expected_lines.len(),
        actual_lines.len(),
        show(&expected_lines),
        show(&actual_lines),
    ))
}

/// Checks every situation of one scenario against its snapshots, and
/// reports all differences at once.
fn check_scenario_goldens(scenario: &str) {
    let mut failures = Vec::new();
    for situation in SITUATIONS {
        let timeline = simulate(scenario, situation);
        let table = timeline.to_table();
        if let Err(e) = compare_golden(&format!("{scenario}__{situation}.txt"), &table) {
            failures.push(e);
        }
        if *situation == JSON_SITUATION {
            let json = serde_json::to_string_pretty(&timeline.to_json())
                .unwrap_or_else(|e| panic!("{scenario}: timeline JSON: {e}"))
                + "\n";
            if let Err(e) = compare_golden(&format!("{scenario}__{situation}.json"), &json) {
                failures.push(e);
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

// --- helpers over a timeline ---------------------------------------------

fn sends(timeline: &Timeline) -> impl Iterator<Item = &JournalEntry> {
    timeline
        .entries
        .iter()
        .filter(|e| e.kind == EntryKind::Send)
}

fn first_event<'t>(timeline: &'t Timeline, starts_with: &str) -> &'t JournalEntry {
    timeline
        .entries
        .iter()
        .find(|e| e.kind == EntryKind::Event && e.detail.starts_with(starts_with))
        .unwrap_or_else(|| panic!("no `{starts_with}` event in:\n{}", timeline.to_table()))
}

fn outcome(timeline: &Timeline) -> Option<Outcome> {
    assert_eq!(
        timeline.instance.status,
        Status::Ended,
        "the case should have ended:\n{}",
        timeline.to_table()
    );
    timeline.instance.outcome
}

fn no_errors(timeline: &Timeline) {
    let errors: Vec<&str> = timeline
        .entries
        .iter()
        .filter(|e| e.kind == EntryKind::Error)
        .map(|e| e.detail.as_str())
        .collect();
    assert!(errors.is_empty(), "the journal has errors: {errors:?}");
}

// --- snapshots -------------------------------------------------------------

#[test]
fn b2b_france_timelines_match_their_goldens() {
    check_scenario_goldens("b2b-france");
}

#[test]
fn b2c_france_timelines_match_their_goldens() {
    check_scenario_goldens("b2c-france");
}

#[test]
fn b2b_spain_timelines_match_their_goldens() {
    check_scenario_goldens("b2b-spain");
}

// --- explicit expectations -------------------------------------------------

#[test]
fn every_shipped_scenario_loads_without_any_diagnostic() {
    for s in SHIPPED {
        let file = format!("scenarios/{}.yaml", s.scenario);
        let text = read(&root().join(&file));
        let loaded =
            relance::scenario::load_checked(relance::engine::shared().rules, &file, &text, None);
        let diags: Vec<String> = loaded
            .diagnostics
            .iter()
            .filter(|d| matches!(d.severity, Severity::Error | Severity::Warning))
            .map(|d| d.to_string())
            .collect();
        assert!(diags.is_empty(), "{file}:\n{}", diags.join("\n"));
    }
}

#[test]
fn every_shipped_scenario_handles_the_same_events_as_b2b_france() {
    let events = |sc: &Scenario| {
        let mut names: Vec<String> = sc.handlers.iter().map(|h| h.event.clone()).collect();
        names.sort();
        names
    };
    let reference = events(&load_scenario("b2b-france"));
    for s in SHIPPED {
        assert_eq!(
            events(&load_scenario(s.scenario)),
            reference,
            "{} handles other events than b2b-france",
            s.scenario
        );
    }
}

#[test]
fn no_situation_makes_the_engine_fail() {
    for s in SHIPPED {
        for situation in SITUATIONS {
            let t = simulate(s.scenario, situation);
            no_errors(&t);
            assert_ne!(
                t.instance.status,
                Status::Failed,
                "{} × {situation}",
                s.scenario
            );
        }
    }
}

#[test]
fn an_unpaid_case_runs_to_the_agent_and_is_then_written_off() {
    for s in SHIPPED {
        let t = simulate(s.scenario, "unpaid");
        assert_eq!(outcome(&t), Some(Outcome::WrittenOff), "{}", s.scenario);
        assert!(
            t.entries.iter().any(|e| e.kind == EntryKind::Handover),
            "{}: never handed over",
            s.scenario
        );
        assert!(
            sends(&t).any(|e| e.channel == Some(Channel::RegisteredMail)),
            "{}: no registered formal notice",
            s.scenario
        );
    }
}

#[test]
fn payment_before_the_due_date_ends_the_case_paid_and_sends_nothing_after() {
    for s in SHIPPED {
        let t = simulate(s.scenario, "paid-before-due");
        assert_eq!(outcome(&t), Some(Outcome::Paid), "{}", s.scenario);
        let paid = first_event(&t, "payment.received");
        assert!(
            sends(&t).all(|e| e.at < paid.at),
            "{}: something was sent after the payment:\n{}",
            s.scenario,
            t.to_table()
        );
        assert!(
            !sends(&t).any(|e| e.template.as_deref() == Some("reminder_email")),
            "{}: a reminder went out although nothing was overdue",
            s.scenario
        );
    }
}

#[test]
fn payment_after_the_first_reminder_ends_the_case_paid() {
    for s in SHIPPED {
        let t = simulate(s.scenario, "paid-after-first-reminder");
        assert_eq!(outcome(&t), Some(Outcome::Paid), "{}", s.scenario);
        let paid = first_event(&t, "payment.received");
        let templates: Vec<&str> = sends(&t).filter_map(|e| e.template.as_deref()).collect();
        assert_eq!(
            templates,
            ["courtesy_email", "reminder_email"],
            "{}",
            s.scenario
        );
        assert!(sends(&t).all(|e| e.at < paid.at), "{}", s.scenario);
    }
}

#[test]
fn a_partial_payment_is_acknowledged_and_collection_goes_on_for_the_rest() {
    for s in SHIPPED {
        let t = simulate(s.scenario, "partial-payment");
        let paid = first_event(&t, "payment.received");
        let ack = sends(&t)
            .find(|e| e.at >= paid.at)
            .unwrap_or_else(|| panic!("{}: nothing sent after the payment", s.scenario));
        assert_eq!(
            ack.template.as_deref(),
            Some("followup_email"),
            "{}",
            s.scenario
        );
        assert!(
            sends(&t).filter(|e| e.at > paid.at).count() > 1,
            "{}: collection stopped after a partial payment",
            s.scenario
        );
        assert!(t.instance.case.balance() > rust_decimal::Decimal::ZERO);
        assert_ne!(t.instance.outcome, Some(Outcome::Paid), "{}", s.scenario);
    }
}

#[test]
fn a_dispute_pauses_every_send_but_the_dispute_reply_until_it_is_resolved() {
    for s in SHIPPED {
        let t = simulate(s.scenario, "dispute");
        let opened = first_event(&t, "dispute opened");
        let resolved = first_event(&t, "dispute resolved");
        let during: Vec<&str> = sends(&t)
            .filter(|e| e.at >= opened.at && e.at < resolved.at)
            .filter_map(|e| e.template.as_deref())
            .collect();
        assert_eq!(during, ["dispute_reply"], "{}", s.scenario);
        assert!(
            t.entries
                .iter()
                .any(|e| e.kind == EntryKind::Resume && e.at == resolved.at),
            "{}: not resumed when the dispute was resolved",
            s.scenario
        );
        assert!(
            sends(&t).any(|e| e.at >= resolved.at),
            "{}: nothing sent after the dispute",
            s.scenario
        );
    }
}

#[test]
fn a_broken_promise_is_journaled_and_collection_sends_again() {
    for s in SHIPPED {
        let t = simulate(s.scenario, "broken-promise");
        let made = first_event(&t, "promise to pay");
        let broken = first_event(&t, "promise.broken");
        assert!(broken.at > made.at);
        let during: Vec<&str> = sends(&t)
            .filter(|e| e.at >= made.at && e.at < broken.at)
            .filter_map(|e| e.template.as_deref())
            .collect();
        assert_eq!(during, ["promise_confirmation"], "{}", s.scenario);
        assert!(
            sends(&t).any(|e| e.at >= broken.at),
            "{}: collection did not resume after the broken promise",
            s.scenario
        );
        assert_eq!(t.instance.promises_broken, 1, "{}", s.scenario);
    }
}

#[test]
fn an_email_bounce_leads_to_a_letter_and_no_more_email() {
    for s in SHIPPED {
        let t = simulate(s.scenario, "bounce");
        let bounce = first_event(&t, "email bounced");
        let next = sends(&t)
            .find(|e| e.at >= bounce.at)
            .unwrap_or_else(|| panic!("{}: nothing sent after the bounce", s.scenario));
        assert_eq!(next.channel, Some(Channel::Letter), "{}", s.scenario);
        assert!(
            !sends(&t).any(|e| e.at > bounce.at && e.channel == Some(Channel::Email)),
            "{}: emails still go to the bounced address:\n{}",
            s.scenario,
            t.to_table()
        );
    }
}

#[test]
fn an_insolvency_proceeding_stops_collection_and_ends_the_case_insolvent() {
    for s in SHIPPED {
        let t = simulate(s.scenario, "insolvency");
        assert_eq!(outcome(&t), Some(Outcome::Insolvent), "{}", s.scenario);
        let opened = first_event(&t, "insolvency proceeding opened");
        assert!(
            !sends(&t).any(|e| e.at >= opened.at),
            "{}: a message went out after the proceeding opened",
            s.scenario
        );
        assert!(
            t.entries
                .iter()
                .any(|e| e.kind == EntryKind::Task && e.detail == "task: declare_claim"),
            "{}: no claim declared",
            s.scenario
        );
    }
}

#[test]
fn the_consumer_scenario_never_charges_an_indemnity_nor_claims_to_an_insurer() {
    for situation in SITUATIONS {
        let t = simulate("b2c-france", situation);
        let odd: Vec<&str> = t
            .entries
            .iter()
            .filter(|e| matches!(e.kind, EntryKind::Charge | EntryKind::Claim))
            .map(|e| e.detail.as_str())
            .collect();
        assert!(odd.is_empty(), "{situation}: {odd:?}");
        assert_eq!(t.instance.fees, rust_decimal::Decimal::ZERO, "{situation}");
    }
}

#[test]
fn business_scenarios_charge_the_indemnity_and_interest_at_the_formal_notice() {
    for scenario in ["b2b-france", "b2b-spain"] {
        let t = simulate(scenario, "unpaid");
        let charges: Vec<&JournalEntry> = t
            .entries
            .iter()
            .filter(|e| e.kind == EntryKind::Charge && e.step.as_deref() == Some("simple_notice"))
            .collect();
        assert_eq!(charges.len(), 2, "{scenario}");
        assert_eq!(
            charges[0].detail, "recovery indemnity 80.00 EUR for 2 invoice(s)",
            "{scenario}"
        );
        assert!(
            charges[1].detail.starts_with("late interest to "),
            "{scenario}"
        );
        assert!(charges[1].total_due > charges[1].balance, "{scenario}");
        assert!(
            t.entries.iter().any(|e| e.kind == EntryKind::Claim),
            "{scenario}: no insurer notification or claim"
        );
    }
}

#[test]
fn nothing_is_sent_outside_the_sending_window_or_on_a_weekend() {
    use chrono::{Datelike, Timelike, Weekday};
    for s in SHIPPED {
        let sc = load_scenario(s.scenario);
        let window = sc.window.expect("shipped scenarios have a window");
        for situation in SITUATIONS {
            let t = simulate(s.scenario, situation);
            for e in sends(&t) {
                let local = e.at.with_timezone(&t.timezone);
                let time = local.time().with_nanosecond(0).unwrap_or(local.time());
                assert!(
                    !matches!(local.weekday(), Weekday::Sat | Weekday::Sun)
                        && time >= window.start
                        && time < window.end,
                    "{} × {situation}: {} sent at {local}",
                    s.scenario,
                    e.detail
                );
            }
        }
    }
}

#[test]
fn no_situation_makes_an_insurer_notification_or_claim_late() {
    for s in SHIPPED {
        for situation in SITUATIONS {
            let t = simulate(s.scenario, situation);
            let late: Vec<&str> = t
                .entries
                .iter()
                .filter(|e| e.kind == EntryKind::Claim && e.detail.contains("LATE"))
                .map(|e| e.detail.as_str())
                .collect();
            assert!(late.is_empty(), "{} × {situation}: {late:?}", s.scenario);
        }
    }
}
