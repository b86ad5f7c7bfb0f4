//! The pure engine: determinism, sending windows, caps, and what an event
//! may and may not change.

use chrono::{DateTime, Duration, NaiveDate, TimeZone, Utc};
use proptest::prelude::*;
use relance::engine::{
    Case, EngineError, EntryKind, Event, EventFields, Input, Status, Transition, shared,
};
use relance::rules::Rules;
use relance::scenario::{Scenario, load_checked};
use relance::simulate::{self, parse_case};
use rust_decimal::Decimal;

fn scenario_from(text: &str) -> Scenario {
    load_checked(&Rules::new(), "test.yaml", text, None)
        .scenario
        .expect("the test scenario loads")
}

fn b2b_france() -> Scenario {
    scenario_from(&std::fs::read_to_string("scenarios/b2b-france.yaml").unwrap())
}

fn example_case() -> Case {
    let text = std::fs::read_to_string("examples/case-fr-company.yaml").unwrap();
    parse_case("case.yaml", &text).unwrap().case
}

fn paris(y: i32, m: u32, d: u32, h: u32, min: u32) -> DateTime<Utc> {
    chrono_tz::Europe::Paris
        .with_ymd_and_hms(y, m, d, h, min, 0)
        .unwrap()
        .with_timezone(&Utc)
}

fn event(kind: &str, at: DateTime<Utc>, fields: EventFields) -> Event {
    Event {
        id: None,
        kind: kind.into(),
        at,
        fields,
    }
}

fn payment(at: DateTime<Utc>, amount: i64) -> Event {
    event(
        "payment.received",
        at,
        EventFields {
            amount: Some(Decimal::from(amount)),
            ..Default::default()
        },
    )
}

/// Runs a case to the end of 2027 and returns every transition.
fn drive(sc: &Scenario, case: Case, events: &[Event]) -> Vec<Transition> {
    let engine = shared();
    let opened = paris(2026, 1, 15, 0, 0);
    let until = paris(2027, 12, 31, 0, 0);
    let mut out = vec![engine.start(sc, case, opened).unwrap()];
    let mut pending = events.to_vec();
    pending.sort_by_key(|e| e.at);
    let mut pending = pending.into_iter().peekable();
    for _ in 0..500 {
        let inst = &out.last().unwrap().instance;
        let wake = inst.next_wake;
        let (now, input) = match (wake, pending.peek().map(|e| e.at)) {
            (w, Some(at)) if w.is_none_or(|w| at <= w) => {
                (at, Input::Event(pending.next().unwrap()))
            }
            (Some(w), _) => (w, Input::Wake),
            _ => break,
        };
        if now > until {
            break;
        }
        let now = now.max(opened);
        let t = engine.step(inst, sc, &input, now).unwrap();
        out.push(t);
    }
    out
}

fn arb_events() -> impl Strategy<Value = Vec<Event>> {
    let one = (0i64..400, 0u8..6, 1i64..2000).prop_map(|(day, kind, amount)| {
        let at = paris(2026, 1, 20, 11, 0) + Duration::days(day);
        match kind {
            0 => payment(at, amount),
            1 => event("dispute.opened", at, EventFields::default()),
            2 => event("dispute.resolved", at, EventFields::default()),
            3 => event(
                "promise.made",
                at,
                EventFields {
                    date: Some(at.date_naive() + Duration::days(10)),
                    amount: Some(Decimal::from(amount)),
                    ..Default::default()
                },
            ),
            4 => event(
                "message.bounced",
                at,
                EventFields {
                    channel: Some("email".into()),
                    ..Default::default()
                },
            ),
            _ => event("proceeding.opened", at, EventFields::default()),
        }
    });
    proptest::collection::vec(one, 0..8)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    #[test]
    fn the_same_inputs_always_give_the_same_outputs(
        events in arb_events(),
        cents in 1_000i64..500_000,
        has_mobile in any::<bool>(),
        person in any::<bool>(),
    ) {
        let sc = b2b_france();
        let mut case = example_case();
        case.invoices[0].amount = Decimal::new(cents, 2);
        if !has_mobile {
            case.debtor.mobile = None;
        }
        if person {
            case.debtor.kind = relance::engine::DebtorKind::Person;
        }
        let first = drive(&sc, case.clone(), &events);
        let second = drive(&sc, case, &events);
        prop_assert_eq!(&first, &second);
        let a: Vec<_> = first.iter().map(|t| serde_json::to_string(&t.instance).unwrap()).collect();
        let b: Vec<_> = second.iter().map(|t| serde_json::to_string(&t.instance).unwrap()).collect();
        prop_assert_eq!(a, b);

        let keys: Vec<&str> = first.iter().flat_map(|t| t.actions.iter().map(|a| a.key.as_str())).collect();
        let mut unique = keys.clone();
        unique.sort();
        unique.dedup();
        prop_assert_eq!(keys.len(), unique.len(), "idempotency keys are unique");
    }
}

const WINDOWED: &str = r#"
scenario: windowed
calendar: FR
window: "09:00-18:00"
caps:
  - { messages: 1, per: 7d }
stages:
  - id: only
    steps:
      - id: first
        at: due
        send: { channel: email, template: a }
      - id: second
        after: 1d
        send: { channel: email, template: b }
      - id: skipped
        when: balance > 1000000
        send: { channel: email, template: c }
"#;

#[test]
fn a_step_due_on_a_sunday_night_goes_out_at_the_next_window() {
    let sc = scenario_from(WINDOWED);
    let mut case = example_case();
    case.invoices.truncate(1);
    // Due Sunday 2026-05-24; Monday 25 May is Whit Monday in France.
    case.invoices[0].due = NaiveDate::from_ymd_opt(2026, 5, 24).unwrap();
    let run = drive(&sc, case, &[]);
    let sends: Vec<_> = run
        .iter()
        .flat_map(|t| t.journal.iter())
        .filter(|e| e.kind == EntryKind::Send)
        .collect();
    assert_eq!(
        sends[0].at,
        paris(2026, 5, 26, 9, 0),
        "Tuesday 09:00, after the holiday"
    );
}

#[test]
fn the_message_cap_defers_and_a_false_condition_skips() {
    let sc = scenario_from(WINDOWED);
    let mut case = example_case();
    case.invoices.truncate(1);
    case.invoices[0].due = NaiveDate::from_ymd_opt(2026, 3, 2).unwrap(); // a Monday
    let run = drive(&sc, case, &[]);
    let journal: Vec<_> = run.iter().flat_map(|t| t.journal.iter()).collect();
    let sends: Vec<_> = journal
        .iter()
        .filter(|e| e.kind == EntryKind::Send)
        .collect();
    assert_eq!(sends[0].at, paris(2026, 3, 2, 9, 0));
    assert!(
        journal
            .iter()
            .any(|e| e.kind == EntryKind::Deferred && e.step.as_deref() == Some("second"))
    );
    assert!(
        sends[1].at >= paris(2026, 3, 9, 9, 0),
        "one message per 7 days: {}",
        sends[1].at
    );
    assert!(
        journal
            .iter()
            .any(|e| e.kind == EntryKind::Skip && e.step.as_deref() == Some("skipped"))
    );
}

#[test]
fn a_pre_due_step_fires_before_the_due_date() {
    let sc = b2b_france();
    let run = drive(&sc, example_case(), &[]);
    let courtesy = run
        .iter()
        .flat_map(|t| t.journal.iter())
        .find(|e| e.step.as_deref() == Some("courtesy") && e.kind == EntryKind::Send)
        .expect("courtesy email");
    assert_eq!(
        courtesy.at,
        paris(2026, 2, 11, 9, 0),
        "due 2026-02-14 minus 3 days, 09:00"
    );
}

#[test]
fn payment_in_full_ends_the_case_and_cancels_pending_sends() {
    let sc = b2b_france();
    let run = drive(
        &sc,
        example_case(),
        &[payment(paris(2026, 2, 25, 15, 0), 1731)],
    );
    let ending = run
        .iter()
        .find(|t| t.instance.status == Status::Ended)
        .expect("the case ends");
    assert!(ending.cancel_pending);
    assert_eq!(ending.instance.outcome.map(|o| o.name()), Some("paid"));
    let after: Vec<_> = run
        .iter()
        .flat_map(|t| t.actions.iter())
        .filter(|a| a.at > paris(2026, 2, 25, 15, 0))
        .collect();
    assert!(
        after.is_empty(),
        "nothing is sent after the payment: {after:?}"
    );
}

#[test]
fn an_event_after_the_end_is_journaled_and_changes_nothing() {
    let sc = b2b_france();
    let run = drive(
        &sc,
        example_case(),
        &[payment(paris(2026, 2, 25, 15, 0), 1731)],
    );
    let ended = &run.last().unwrap().instance;
    assert_eq!(ended.status, Status::Ended);
    let late = payment(paris(2026, 6, 1, 12, 0), 10);
    let t = shared()
        .step(ended, &sc, &Input::Event(late.clone()), late.at)
        .unwrap();
    assert_eq!(t.instance, *ended);
    assert_eq!(t.journal.len(), 1);
    assert_eq!(t.journal[0].kind, EntryKind::Event);
    assert!(t.actions.is_empty());
}

#[test]
fn an_unknown_or_incomplete_event_is_refused_and_the_instance_is_unchanged() {
    let sc = b2b_france();
    let start = shared()
        .start(&sc, example_case(), paris(2026, 1, 15, 0, 0))
        .unwrap();
    let at = paris(2026, 1, 20, 12, 0);
    let unknown = event("payment.recieved", at, EventFields::default());
    let err = shared()
        .step(&start.instance, &sc, &Input::Event(unknown), at)
        .unwrap_err();
    assert!(matches!(err, EngineError::Event(_)));
    assert!(
        err.to_string().contains("did you mean `payment.received`"),
        "{err}"
    );

    let no_amount = event("payment.received", at, EventFields::default());
    let err = shared()
        .step(&start.instance, &sc, &Input::Event(no_amount), at)
        .unwrap_err();
    assert!(err.to_string().contains("amount"), "{err}");
}

#[test]
fn the_simulator_and_a_hand_driven_run_agree() {
    let sc = b2b_france();
    let text = std::fs::read_to_string("examples/case-fr-company.yaml").unwrap();
    let file = parse_case("case.yaml", &text).unwrap();
    let timeline = simulate::run(
        &shared(),
        &sc,
        file.case.clone(),
        &[],
        paris(2026, 1, 15, 0, 0),
        paris(2027, 12, 31, 0, 0),
    )
    .unwrap();
    let by_hand: Vec<_> = drive(&sc, file.case, &[])
        .into_iter()
        .flat_map(|t| t.journal)
        .collect();
    assert_eq!(timeline.entries, by_hand);
}
