//! An operator's actions — pause, resume, skip, close — on the shipped
//! b2b-france scenario and its example French company case, run through
//! the simulator as an events file would give them, and replayed step by
//! step through the engine with the instance stored as JSON between steps.

use std::path::Path;

use chrono::{DateTime, NaiveDate, NaiveDateTime, TimeZone, Utc};
use chrono_tz::Europe::Paris;
use relance::engine::{EntryKind, Event, Input, JournalEntry, Status, shared};
use relance::scenario::{Outcome, Scenario, load_checked};
use relance::simulate::{self, CaseFile, Timeline};

fn read(file: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(file);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()))
}

fn b2b_france() -> Scenario {
    let file = "scenarios/b2b-france.yaml";
    let loaded = load_checked(shared().rules, file, &read(file), None);
    let problems: Vec<String> = loaded.diagnostics.iter().map(|d| d.to_string()).collect();
    loaded
        .scenario
        .unwrap_or_else(|| panic!("{file} does not load:\n{}", problems.join("\n")))
}

/// The example case: two invoices of ACME's, 1,730.50 EUR, the oldest due
/// on 2026-02-14; opened on 2026-01-15.
fn case_file() -> CaseFile {
    let file = "examples/case-fr-company.yaml";
    simulate::parse_case(file, &read(file)).unwrap_or_else(|e| panic!("{file}: {e}"))
}

/// The events of an events file, in the debtor's zone (Paris).
fn events(yaml: &str) -> Vec<Event> {
    simulate::parse_events("events.yaml", yaml, Paris)
        .unwrap_or_else(|e| panic!("the test events parse: {e}"))
}

fn simulate(events: &[Event]) -> Timeline {
    let case = case_file();
    let opened = simulate::opened_at(&case);
    let until = opened + chrono::Duration::days(simulate::DEFAULT_HORIZON_DAYS);
    simulate::run(&shared(), &b2b_france(), case.case, events, opened, until)
        .unwrap_or_else(|e| panic!("the engine refused: {e}"))
}

fn paris(s: &str) -> DateTime<Utc> {
    let naive = NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M").expect("a test time");
    Paris
        .from_local_datetime(&naive)
        .single()
        .expect("an unambiguous test time")
        .with_timezone(&Utc)
}

/// What went out to the debtor or a partner: sends, tasks, handovers and
/// claims, as (step, time).
fn outgoing(entries: &[JournalEntry]) -> Vec<(String, DateTime<Utc>)> {
    entries
        .iter()
        .filter(|e| {
            matches!(
                e.kind,
                EntryKind::Send | EntryKind::Task | EntryKind::Handover | EntryKind::Claim
            )
        })
        .map(|e| (e.step.clone().unwrap_or_default(), e.at))
        .collect()
}

fn step_time(entries: &[JournalEntry], step: &str, kind: EntryKind) -> DateTime<Utc> {
    entries
        .iter()
        .find(|e| e.step.as_deref() == Some(step) && e.kind == kind)
        .map(|e| e.at)
        .unwrap_or_else(|| panic!("no {} entry for {step}", kind.name()))
}

#[test]
fn a_pause_stops_every_reminder_for_sixty_days_and_resume_goes_on_where_it_was() {
    let t = simulate(&events(
        "
- at: 2026-02-12 10:00
  type: operator.pause
  reason: the debtor's accountant is on leave
- at: 2026-04-13 10:00
  type: operator.resume
",
    ));

    let paused = paris("2026-02-12 10:00");
    let resumed = paris("2026-04-13 10:00");
    let during: Vec<_> = outgoing(&t.entries)
        .into_iter()
        .filter(|(_, at)| *at > paused && *at < resumed)
        .collect();
    assert_eq!(during, [], "nothing goes out in the 60 days of the pause");

    // The first reminder fell due on 2026-02-20, during the pause: it goes
    // out at once on resuming, and the next steps count from it.
    assert_eq!(
        step_time(&t.entries, "first_reminder", EntryKind::Send),
        resumed
    );
    assert_eq!(
        step_time(&t.entries, "sms_reminder", EntryKind::Send),
        paris("2026-04-20 10:00")
    );
    let courtesy = step_time(&t.entries, "courtesy", EntryKind::Send);
    assert!(
        courtesy < paused,
        "what went out before the pause stays sent"
    );

    let pause = t
        .entries
        .iter()
        .find(|e| e.kind == EntryKind::Pause)
        .expect("a pause entry");
    assert_eq!(pause.at, paused);
    assert_eq!(pause.step.as_deref(), Some("first_reminder"));
    assert!(
        t.entries
            .iter()
            .any(|e| e.kind == EntryKind::Event && e.detail.contains("accountant is on leave"))
    );
    assert_eq!(t.instance.status, Status::Ended);
    assert_eq!(t.instance.outcome, Some(Outcome::WrittenOff));
}

#[test]
fn a_pause_that_is_never_resumed_sends_nothing_more_for_two_years() {
    let t = simulate(&events(
        "
- at: 2026-02-12 10:00
  type: operator.pause
",
    ));

    assert_eq!(
        outgoing(&t.entries)
            .iter()
            .map(|(s, _)| s.as_str())
            .collect::<Vec<_>>(),
        ["courtesy"]
    );
    assert_eq!(t.instance.status, Status::Paused);
    assert_eq!(t.instance.next_wake, None);
}

#[test]
fn a_pause_until_a_date_resumes_by_itself_at_the_window_opening() {
    let t = simulate(&events(
        "
- at: 2026-02-12 10:00
  type: operator.pause
  date: 2026-03-02
",
    ));

    assert_eq!(
        step_time(&t.entries, "first_reminder", EntryKind::Send),
        paris("2026-03-02 09:00")
    );
    let resume = t
        .entries
        .iter()
        .find(|e| e.kind == EntryKind::Resume)
        .expect("a resume entry");
    assert_eq!(resume.at, paris("2026-03-02 09:00"));
}

#[test]
fn resume_ends_a_dispute_pause_too() {
    let t = simulate(&events(
        "
- at: 2026-03-09 15:20
  type: dispute.opened
  reason: delivery incomplete
- at: 2026-03-30 10:00
  type: operator.resume
",
    ));

    // The second reminder was due on 2026-03-06, before the dispute; the
    // letter fell due during the pause and goes out on resuming.
    assert_eq!(
        step_time(&t.entries, "reminder_letter", EntryKind::Send),
        paris("2026-03-30 10:00")
    );
    assert!(
        t.entries
            .iter()
            .any(|e| e.kind == EntryKind::Resume && e.detail == "resumed by an operator")
    );
}

#[test]
fn skip_jumps_the_agents_wait_and_goes_on_with_the_insurer_claim() {
    let t = simulate(&events(
        "
- at: 2026-04-20 11:00
  type: operator.skip
  step: handover
  reason: the agent returned the file
",
    ));

    assert!(
        !t.entries.iter().any(|e| e.kind == EntryKind::Timeout),
        "the wait never times out: it was skipped"
    );
    let skip = t
        .entries
        .iter()
        .find(|e| e.kind == EntryKind::Skip)
        .expect("a skip entry");
    assert_eq!(skip.step.as_deref(), Some("handover"));
    assert_eq!(skip.at, paris("2026-04-20 11:00"));
    assert!(skip.detail.contains("no longer waiting for agent.closed"));
    assert_eq!(
        step_time(&t.entries, "insurer_claim", EntryKind::Claim),
        paris("2026-07-06 09:00")
    );
    assert_eq!(t.instance.outcome, Some(Outcome::WrittenOff));
}

#[test]
fn skip_of_a_step_not_yet_run_sends_nothing_for_it_and_times_the_next_from_the_skip() {
    let t = simulate(&events(
        "
- at: 2026-04-01 10:00
  type: operator.skip
  step: registered_notice
",
    ));

    let steps: Vec<String> = outgoing(&t.entries).into_iter().map(|(s, _)| s).collect();
    assert!(!steps.iter().any(|s| s == "registered_notice"), "{steps:?}");
    // The handover comes 8 days after the skip, not after the notice.
    assert_eq!(
        step_time(&t.entries, "handover", EntryKind::Handover),
        paris("2026-04-09 10:00")
    );
}

#[test]
fn skip_naming_a_step_the_case_has_left_is_refused_and_changes_nothing() {
    let plain = simulate(&[]);
    let t = simulate(&events(
        "
- at: 2026-04-01 10:00
  type: operator.skip
  step: first_reminder
",
    ));

    let error = t
        .entries
        .iter()
        .find(|e| e.kind == EntryKind::Error)
        .expect("an error entry");
    assert!(
        error
            .detail
            .contains("on step `registered_notice`, not `first_reminder`"),
        "{}",
        error.detail
    );
    assert_eq!(outgoing(&t.entries), outgoing(&plain.entries));
    assert_eq!(t.instance.outcome, plain.instance.outcome);
}

#[test]
fn close_ends_the_case_with_the_operators_outcome_and_nothing_more_goes_out() {
    let t = simulate(&events(
        "
- at: 2026-03-01 10:00
  type: operator.close
  outcome: settled
  reason: settlement agreement signed
- at: 2026-03-10 10:00
  type: payment.received
  amount: 1000.00
",
    ));

    assert_eq!(t.instance.status, Status::Ended);
    assert_eq!(t.instance.outcome, Some(Outcome::Settled));
    let closed = paris("2026-03-01 10:00");
    assert!(outgoing(&t.entries).iter().all(|(_, at)| *at < closed));
    let end = t
        .entries
        .iter()
        .find(|e| e.kind == EntryKind::End)
        .expect("an end entry");
    assert_eq!(end.at, closed);
    assert_eq!(
        end.detail,
        "case ended: settled (closed by an operator: settlement agreement signed)"
    );
    let last = t.entries.last().expect("entries");
    assert!(
        last.detail
            .contains("received after the case ended; nothing done")
    );
}

#[test]
fn an_operator_action_on_an_ended_case_is_journaled_as_an_error() {
    let t = simulate(&events(
        "
- at: 2026-03-01 10:00
  type: operator.close
  outcome: written_off
- at: 2026-03-02 10:00
  type: operator.pause
- at: 2026-03-03 10:00
  type: operator.close
  outcome: paid
",
    ));

    let errors: Vec<&str> = t
        .entries
        .iter()
        .filter(|e| e.kind == EntryKind::Error)
        .map(|e| e.detail.as_str())
        .collect();
    assert_eq!(
        errors,
        [
            "operator.pause refused: the case has ended (written_off); nothing changed",
            "operator.close refused: the case has ended (written_off); nothing changed",
        ]
    );
    assert_eq!(t.instance.outcome, Some(Outcome::WrittenOff));
}

#[test]
fn an_events_file_closing_with_an_unknown_outcome_is_refused_with_the_allowed_ones() {
    let err = simulate::parse_events(
        "events.yaml",
        "- { at: 2026-03-01, type: operator.close, outcome: payed }\n",
        Paris,
    )
    .unwrap_err();

    let text = err.to_string();
    assert!(
        text.contains("outcome `payed` is not one of paid, settled, written_off, cancelled"),
        "{text}"
    );
    assert!(text.contains("did you mean `paid`?"), "{text}");
}

#[test]
fn a_scenario_cannot_handle_or_wait_for_an_operator_action() {
    let src = "\
scenario: s
calendar: FR
stages:
  - id: main
    steps:
      - id: one
        send: { channel: email, template: reminder_email }
        wait: { event: operator.resume, timeout: 10d }
on:
  operator.pause:
    send: { channel: email, template: dispute_reply }
";
    let loaded = load_checked(shared().rules, "s.yaml", src, None);
    let messages: Vec<String> = loaded.diagnostics.iter().map(|d| d.to_string()).collect();

    assert!(loaded.scenario.is_none(), "{messages:#?}");
    for event in ["operator.resume", "operator.pause"] {
        assert!(
            messages.iter().any(|m| m.contains(&format!(
                "`{event}` is an operator's action, which the engine applies itself"
            ))),
            "{event}: {messages:#?}"
        );
    }
}

/// Replays the events through the engine one call at a time, storing the
/// instance as JSON between calls, as the durable runtime does.
fn replay(events: &[Event]) -> (Vec<JournalEntry>, relance::engine::Instance) {
    let engine = shared();
    let sc = b2b_france();
    let case = case_file();
    let opened = simulate::opened_at(&case);
    let first = engine
        .start(&sc, case.case, opened)
        .expect("the case starts");
    let mut journal = first.journal;
    let mut instance = first.instance;
    let mut pending = events.iter().peekable();
    let horizon = opened + chrono::Duration::days(simulate::DEFAULT_HORIZON_DAYS);
    for _ in 0..1_000 {
        let wake = instance.next_wake;
        let (now, input) = match (wake, pending.peek().map(|e| e.at)) {
            (_, Some(at)) if wake.is_none_or(|w| at <= w) => {
                let e = pending.next().expect("peeked");
                (at, Input::Event(e.clone()))
            }
            (Some(w), _) => (w, Input::Wake),
            (None, None) => break,
            (None, Some(_)) => unreachable!("handled by the first arm"),
        };
        if now > horizon {
            break;
        }
        let stored = serde_json::to_string(&instance).expect("an instance serializes");
        let reloaded = serde_json::from_str(&stored).expect("a stored instance reloads");
        let t = engine.step(&reloaded, &sc, &input, now).expect("accepted");
        journal.extend(t.journal);
        instance = t.instance;
    }
    (journal, instance)
}

#[test]
fn operator_actions_replay_to_the_same_journal_as_the_simulation() {
    let evs = events(
        "
- at: 2026-02-12 10:00
  type: operator.pause
  date: 2026-03-10
- at: 2026-03-05 10:00
  type: operator.resume
- at: 2026-03-20 10:00
  type: operator.skip
- at: 2026-04-02 14:00
  type: operator.pause
- at: 2026-05-02 14:00
  type: operator.resume
- at: 2026-06-01 10:00
  type: operator.close
  outcome: cancelled
",
    );

    let simulated = simulate(&evs);
    let (journal, instance) = replay(&evs);

    assert_eq!(journal, simulated.entries);
    assert_eq!(instance, simulated.instance);
    assert_eq!(instance.outcome, Some(Outcome::Cancelled));
    let date = NaiveDate::from_ymd_opt(2026, 6, 1).expect("a date");
    let end = journal.last().expect("entries");
    assert_eq!(end.at.with_timezone(&Paris).date_naive(), date);
}
