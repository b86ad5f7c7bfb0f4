//! The engine as the runtime and the simulator rely on it: the same inputs always give the
//! same journal, actions and instance; and the rules of motion that a scenario author
//! counts on (skips, caps, sending windows, anchors, ends) hold on small, hand-worked cases.

use std::collections::BTreeSet;

use chrono::{DateTime, Duration, NaiveDate, NaiveDateTime, TimeZone, Utc};
use chrono_tz::Europe::Paris;
use proptest::prelude::*;
use relance::engine::{
    Action, ActionKind, Address, Case, Client, Debtor, DebtorKind, EngineError, EntryKind, Event,
    EventError, EventFields, Input, Instance, Invoice, JournalEntry, Status, shared,
};
use relance::money::Currency;
use relance::rules::Rules;
use relance::scenario::{Outcome, Scenario, load_checked};
use rust_decimal::Decimal;
use rust_decimal_macros::dec;

const B2B_FRANCE: &str = include_str!("../scenarios/b2b-france.yaml");

fn scenario(file: &str, src: &str) -> Scenario {
    let loaded = load_checked(&Rules::new(), file, src, None);
    let errors: Vec<String> = loaded.diagnostics.iter().map(|d| d.to_string()).collect();
    loaded
        .scenario
        .unwrap_or_else(|| panic!("{file} must load: {errors:#?}"))
}

fn b2b_france() -> Scenario {
    scenario("b2b-france.yaml", B2B_FRANCE)
}

fn date(s: &str) -> NaiveDate {
    NaiveDate::parse_from_str(s, "%Y-%m-%d").expect("valid test date")
}

/// A wall-clock time in Paris, as UTC.
fn paris(s: &str) -> DateTime<Utc> {
    let naive = NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M").expect("valid test time");
    Paris
        .from_local_datetime(&naive)
        .single()
        .expect("unambiguous test time")
        .with_timezone(&Utc)
}

/// Contacts a debtor may have or lack.
#[derive(Clone, Copy, Debug)]
struct Contacts {
    email: bool,
    mobile: bool,
    address: bool,
    phone: bool,
}

const ALL_CONTACTS: Contacts = Contacts {
    email: true,
    mobile: true,
    address: true,
    phone: true,
};

fn debtor(kind: DebtorKind, contacts: Contacts) -> Debtor {
    Debtor {
        id: "D-1".into(),
        kind,
        name: "Boulangerie Martin".into(),
        country: Some("FR".into()),
        language: "fr".into(),
        timezone: Paris,
        email: contacts.email.then(|| "compta@example.org".into()),
        mobile: contacts.mobile.then(|| "+33600000000".into()),
        phone: contacts.phone.then(|| "+33100000000".into()),
        fax: None,
        address: contacts.address.then(|| Address {
            lines: vec!["1 rue des Lilas".into()],
            postcode: Some("69003".into()),
            city: Some("Lyon".into()),
            country: Some("FR".into()),
        }),
        siren: None,
        vat: None,
        risk: None,
        risk_score: None,
        credit_limit: None,
        watch: false,
    }
}

fn invoice(number: &str, issued: NaiveDate, due: NaiveDate, amount: Decimal) -> Invoice {
    Invoice {
        number: number.into(),
        issued,
        due,
        amount,
        currency: Currency::EUR,
        allocations: Vec::new(),
    }
}

fn case(kind: DebtorKind, contacts: Contacts, invoices: Vec<Invoice>) -> Case {
    Case {
        id: String::new(),
        client: Client {
            id: "acme".into(),
            name: "ACME".into(),
            country: Some("FR".into()),
        },
        debtor: debtor(kind, contacts),
        invoices,
    }
}

/// One company invoice of `amount`, issued 30 days before `due`.
fn simple_case(due: &str, amount: Decimal) -> Case {
    let due = date(due);
    case(
        DebtorKind::Company,
        ALL_CONTACTS,
        vec![invoice("F-1", due - Duration::days(30), due, amount)],
    )
}

fn event(kind: &str, at: DateTime<Utc>, fields: EventFields) -> Event {
    Event {
        id: None,
        kind: kind.into(),
        at,
        fields,
    }
}

fn payment(at: DateTime<Utc>, amount: Decimal) -> Event {
    event(
        "payment.received",
        at,
        EventFields {
            amount: Some(amount),
            ..Default::default()
        },
    )
}

/// Everything one run produced.
#[derive(Clone, Debug, PartialEq)]
struct Run {
    journal: Vec<JournalEntry>,
    actions: Vec<Action>,
    instance: Instance,
    cancelled: bool,
}

/// Drives an instance like the runtime does: wakes it when it asks, feeds each event at its
/// time, and stops at `until` or when nothing more can happen.
fn drive(
    sc: &Scenario,
    case: Case,
    events: &[Event],
    opened: DateTime<Utc>,
    until: DateTime<Utc>,
) -> Run {
    drive_with(sc, case, events, opened, until, false)
}

/// [`drive`], optionally storing and reloading the instance as JSON between calls, as a
/// durable runtime does.
fn drive_with(
    sc: &Scenario,
    case: Case,
    events: &[Event],
    opened: DateTime<Utc>,
    until: DateTime<Utc>,
    through_json: bool,
) -> Run {
    let engine = shared();
    let mut events: Vec<&Event> = events.iter().collect();
    events.sort_by_key(|e| e.at);
    let mut pending = events.into_iter().peekable();

    let first = engine.start(sc, case, opened).expect("the case starts");
    let mut run = Run {
        journal: first.journal,
        actions: first.actions,
        instance: first.instance,
        cancelled: first.cancel_pending,
    };
    for _ in 0..10_000 {
        let wake = run.instance.next_wake;
        let (now, input) = match (wake, pending.peek().map(|e| e.at)) {
            (_, Some(at)) if wake.is_none_or(|w| at <= w) => {
                let e = pending.next().expect("peeked");
                (at, Input::Event(e.clone()))
            }
            (Some(w), _) => (w, Input::Wake),
            (None, None) => break,
            (None, Some(_)) => unreachable!("handled by the first arm"),
        };
        if now > until {
            break;
        }
        if through_json {
            let stored = serde_json::to_string(&run.instance).expect("an instance serializes");
            run.instance = serde_json::from_str(&stored).expect("a stored instance reloads");
        }
        let t = engine
            .step(&run.instance, sc, &input, now.max(opened))
            .expect("valid inputs are accepted");
        let idle = input == Input::Wake
            && t.journal.is_empty()
            && t.instance.next_wake == run.instance.next_wake;
        run.journal.extend(t.journal);
        run.actions.extend(t.actions);
        run.cancelled |= t.cancel_pending;
        run.instance = t.instance;
        if idle {
            break;
        }
    }
    run
}

fn sends(run: &Run) -> Vec<(String, DateTime<Utc>)> {
    run.actions
        .iter()
        .filter(|a| matches!(a.kind, ActionKind::Send { .. }))
        .map(|a| (a.step.clone(), a.at))
        .collect()
}

mod determinism {
    use super::*;

    fn contacts() -> impl Strategy<Value = Contacts> {
        (any::<bool>(), any::<bool>(), any::<bool>(), any::<bool>()).prop_map(
            |(email, mobile, address, phone)| Contacts {
                email,
                mobile,
                address,
                phone,
            },
        )
    }

    /// An event `days` after the case opens, at a given minute of the day.
    fn events() -> impl Strategy<Value = Vec<(i64, i64, u8, i64)>> {
        // (day, minute, which event, amount in cents or days ahead)
        prop::collection::vec((0i64..300, 0i64..1440, 0u8..12, 1i64..200_000), 0..8)
    }

    fn make_event(opened: DateTime<Utc>, (day, minute, which, n): (i64, i64, u8, i64)) -> Event {
        let at = opened + Duration::days(day) + Duration::minutes(minute);
        let amount = Decimal::new(n, 2);
        let later = at.date_naive() + Duration::days(n % 60);
        let (kind, fields) = match which {
            0 | 1 => (
                "payment.received",
                EventFields {
                    amount: Some(amount),
                    ..Default::default()
                },
            ),
            2 => (
                "dispute.opened",
                EventFields {
                    reason: Some("goods damaged".into()),
                    ..Default::default()
                },
            ),
            3 => ("dispute.resolved", EventFields::default()),
            4 => (
                "promise.made",
                EventFields {
                    date: Some(later),
                    amount: Some(amount),
                    ..Default::default()
                },
            ),
            5 => (
                "message.bounced",
                EventFields {
                    channel: Some(if n % 2 == 0 { "email" } else { "sms" }.into()),
                    ..Default::default()
                },
            ),
            6 => ("promise.broken", EventFields::default()),
            7 => (
                "proceeding.opened",
                EventFields {
                    kind: Some("receivership".into()),
                    ..Default::default()
                },
            ),
            // An operator's actions, also where they do not fit (a resume of
            // a case that is not paused, a pause until a past date).
            8 => (
                "operator.pause",
                EventFields {
                    date: (n % 3 != 0).then_some(later),
                    reason: Some("checking with the client".into()),
                    ..Default::default()
                },
            ),
            9 => ("operator.resume", EventFields::default()),
            10 => ("operator.skip", EventFields::default()),
            _ => (
                "operator.close",
                EventFields {
                    outcome: Some(
                        ["paid", "settled", "written_off", "cancelled"][(n % 4) as usize].into(),
                    ),
                    ..Default::default()
                },
            ),
        };
        event(kind, at, fields)
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

        #[test]
        fn the_same_case_and_events_give_the_same_run(
            amounts in prop::collection::vec(1i64..5_000_000, 1..4),
            due_day in 0i64..500,
            spread in 0i64..60,
            person in any::<bool>(),
            contacts in contacts(),
            raw_events in events(),
        ) {
            let sc = b2b_france();
            let first_due = date("2025-01-01") + Duration::days(due_day);
            let invoices = amounts
                .iter()
                .enumerate()
                .map(|(i, cents)| {
                    let due = first_due + Duration::days(spread * i as i64);
                    invoice(&format!("F-{i}"), due - Duration::days(30), due, Decimal::new(*cents, 2))
                })
                .collect();
            let kind = if person { DebtorKind::Person } else { DebtorKind::Company };
            let c = case(kind, contacts, invoices);
            let opened = Paris
                .from_local_datetime(&(first_due - Duration::days(30)).and_hms_opt(0, 0, 0).unwrap())
                .earliest()
                .unwrap()
                .with_timezone(&Utc);
            let evs: Vec<Event> = raw_events.into_iter().map(|e| make_event(opened, e)).collect();
            let until = opened + Duration::days(400);

            let a = drive(&sc, c.clone(), &evs, opened, until);
            let b = drive(&sc, c, &evs, opened, until);

            prop_assert_eq!(&a, &b);
            prop_assert_eq!(
                serde_json::to_string(&a.journal).unwrap(),
                serde_json::to_string(&b.journal).unwrap()
            );
            prop_assert_eq!(
                serde_json::to_string(&a.actions).unwrap(),
                serde_json::to_string(&b.actions).unwrap()
            );
            prop_assert_eq!(
                serde_json::to_string(&a.instance).unwrap(),
                serde_json::to_string(&b.instance).unwrap()
            );

            let keys: BTreeSet<&str> = a.actions.iter().map(|x| x.key.as_str()).collect();
            prop_assert_eq!(keys.len(), a.actions.len(), "idempotency keys are unique");
            prop_assert_eq!(a.journal[0].kind, EntryKind::Started);
        }

        #[test]
        fn storing_and_reloading_the_instance_between_steps_changes_nothing(
            cents in 1i64..5_000_000,
            due_day in 0i64..500,
            contacts in contacts(),
            raw_events in events(),
        ) {
            let sc = b2b_france();
            let due = date("2025-01-01") + Duration::days(due_day);
            let c = case(
                DebtorKind::Company,
                contacts,
                vec![invoice("F-1", due - Duration::days(30), due, Decimal::new(cents, 2))],
            );
            let opened = Paris
                .from_local_datetime(&(due - Duration::days(30)).and_hms_opt(0, 0, 0).unwrap())
                .earliest()
                .unwrap()
                .with_timezone(&Utc);
            let evs: Vec<Event> = raw_events.into_iter().map(|e| make_event(opened, e)).collect();
            let until = opened + Duration::days(400);

            let in_memory = drive_with(&sc, c.clone(), &evs, opened, until, false);
            let stored = drive_with(&sc, c, &evs, opened, until, true);
            prop_assert_eq!(in_memory, stored);
        }
    }
}

/// A one-stage scenario with no sending window unless `extra` gives one.
fn small(extra: &str, steps: &str) -> Scenario {
    let src = format!(
        "scenario: small\ncalendar: FR\nlanguages: [fr]\n{extra}stages:\n  - id: main\n    steps:\n{steps}"
    );
    scenario("small.yaml", &src)
}

#[test]
fn a_step_whose_condition_is_false_is_journaled_as_skip() {
    let sc = small(
        "",
        "      - id: big_only
        at: due
        when: balance > 1000000
        send: { channel: email, template: reminder }
      - id: everyone
        after: 1d
        send: { channel: email, template: reminder }
",
    );
    let opened = paris("2026-03-01 00:00");
    let run = drive(
        &sc,
        simple_case("2026-03-10", dec!(100)),
        &[],
        opened,
        opened + Duration::days(60),
    );

    let skip = run
        .journal
        .iter()
        .find(|e| e.step.as_deref() == Some("big_only"))
        .expect("the step is journaled");
    assert_eq!(skip.kind, EntryKind::Skip);
    assert!(skip.detail.contains("balance > 1000000"), "{}", skip.detail);
    assert_eq!(
        sends(&run),
        [("everyone".to_string(), paris("2026-03-11 00:00"))]
    );
}

#[test]
fn a_cap_of_one_message_a_week_defers_the_second_send() {
    let sc = small(
        "caps:\n  - { messages: 1, per: 7d }\n",
        "      - id: first
        at: due
        send: { channel: email, template: reminder }
      - id: second
        after: 1d
        send: { channel: email, template: reminder }
",
    );
    let opened = paris("2026-03-01 00:00");
    let run = drive(
        &sc,
        simple_case("2026-03-10", dec!(100)),
        &[],
        opened,
        opened + Duration::days(60),
    );

    let deferred = run
        .journal
        .iter()
        .find(|e| e.kind == EntryKind::Deferred)
        .expect("the second send is deferred");
    assert_eq!(deferred.step.as_deref(), Some("second"));
    assert_eq!(deferred.at, paris("2026-03-11 00:00"));

    let sent = sends(&run);
    assert_eq!(sent.len(), 2, "{sent:?}");
    assert_eq!(sent[0], ("first".to_string(), paris("2026-03-10 00:00")));
    assert_eq!(sent[1].0, "second");
    assert!(
        sent[1].1 >= paris("2026-03-17 00:00"),
        "one message per 7 days: {:?}",
        sent[1].1
    );
    assert!(sent[1].1 <= paris("2026-03-17 00:01"), "{:?}", sent[1].1);
}

/// A step with no timing is due when the case opens.
fn opening_send() -> Scenario {
    small(
        "window: \"09:00-18:00\"\n",
        "      - id: hello
        send: { channel: email, template: reminder }
",
    )
}

#[test]
fn a_step_due_on_sunday_night_goes_out_on_monday_at_nine_in_the_debtors_zone() {
    // 1 March 2026 is a Sunday.
    let opened = paris("2026-03-01 03:00");
    let run = drive(
        &opening_send(),
        simple_case("2026-02-20", dec!(100)),
        &[],
        opened,
        opened + Duration::days(10),
    );
    assert_eq!(
        sends(&run),
        [("hello".to_string(), paris("2026-03-02 09:00"))]
    );
    let entry = run
        .journal
        .iter()
        .find(|e| e.kind == EntryKind::Send)
        .unwrap();
    assert_eq!(entry.at, paris("2026-03-02 09:00"));
}

#[test]
fn a_step_due_before_an_easter_monday_goes_out_on_tuesday() {
    // 5 April 2026 is Easter Sunday; Monday 6 April is a French public holiday.
    let opened = paris("2026-04-05 03:00");
    let run = drive(
        &opening_send(),
        simple_case("2026-03-20", dec!(100)),
        &[],
        opened,
        opened + Duration::days(10),
    );
    assert_eq!(
        sends(&run),
        [("hello".to_string(), paris("2026-04-07 09:00"))]
    );
}

#[test]
fn at_due_minus_three_days_fires_before_the_due_date() {
    let sc = small(
        "window: \"09:00-18:00\"\n",
        "      - id: courtesy
        at: due - 3d
        send: { channel: email, template: reminder }
",
    );
    // Due Friday 20 March 2026: three days before is Tuesday 17 March.
    let opened = paris("2026-03-01 00:00");
    let run = drive(
        &sc,
        simple_case("2026-03-20", dec!(100)),
        &[],
        opened,
        opened + Duration::days(60),
    );
    assert_eq!(
        sends(&run),
        [("courtesy".to_string(), paris("2026-03-17 09:00"))]
    );
}

#[test]
fn payment_in_full_ends_the_case_and_cancels_pending_sends() {
    let sc = b2b_france();
    let opened = paris("2026-02-01 00:00");
    let c = simple_case("2026-02-14", dec!(1250.00));
    let run = drive(
        &sc,
        c,
        &[payment(paris("2026-02-20 10:00"), dec!(1250.00))],
        opened,
        opened + Duration::days(400),
    );

    assert_eq!(run.instance.status, Status::Ended);
    assert_eq!(run.instance.outcome, Some(Outcome::Paid));
    assert!(run.cancelled, "the outbox must drop what has not gone yet");
    assert_eq!(run.instance.next_wake, None);
    assert_eq!(run.instance.balance(), Decimal::ZERO);
    let last = run.journal.last().unwrap();
    assert_eq!(last.kind, EntryKind::End);
    assert!(
        run.actions
            .iter()
            .all(|a| a.at <= paris("2026-02-20 10:00")),
        "nothing is produced after the payment: {:?}",
        run.actions
    );
}

#[test]
fn an_event_after_the_end_changes_nothing_but_is_journaled() {
    let sc = b2b_france();
    let opened = paris("2026-02-01 00:00");
    let ended = drive(
        &sc,
        simple_case("2026-02-14", dec!(300)),
        &[payment(paris("2026-02-20 10:00"), dec!(300))],
        opened,
        opened + Duration::days(400),
    );
    assert_eq!(ended.instance.status, Status::Ended);

    let late = event(
        "dispute.opened",
        paris("2026-03-01 10:00"),
        EventFields::default(),
    );
    let t = shared()
        .step(
            &ended.instance,
            &sc,
            &Input::Event(late),
            paris("2026-03-01 10:00"),
        )
        .unwrap();
    assert_eq!(t.instance, ended.instance);
    assert!(t.actions.is_empty());
    assert_eq!(t.journal.len(), 1);
    assert_eq!(t.journal[0].kind, EntryKind::Event);
    assert!(
        t.journal[0].detail.contains("after the case ended"),
        "{}",
        t.journal[0].detail
    );
}

#[test]
fn an_unknown_event_type_is_refused_and_the_instance_is_unchanged() {
    let sc = b2b_france();
    let opened = paris("2026-02-01 00:00");
    let started = shared()
        .start(&sc, simple_case("2026-02-14", dec!(300)), opened)
        .unwrap();
    let before = started.instance.clone();

    let odd = event(
        "payment.recieved",
        paris("2026-02-02 10:00"),
        EventFields::default(),
    );
    let err = shared()
        .step(
            &started.instance,
            &sc,
            &Input::Event(odd),
            paris("2026-02-02 10:00"),
        )
        .unwrap_err();
    match &err {
        EngineError::Event(EventError::UnknownType { kind, hint }) => {
            assert_eq!(kind, "payment.recieved");
            assert!(hint.contains("payment.received"), "{hint}");
        }
        other => panic!("expected an unknown event type, got {other:?}"),
    }
    assert!(err.to_string().contains("unknown event type"), "{err}");
    assert_eq!(started.instance, before);

    let no_amount = event(
        "payment.received",
        paris("2026-02-02 10:00"),
        EventFields::default(),
    );
    let err = shared()
        .step(
            &started.instance,
            &sc,
            &Input::Event(no_amount),
            paris("2026-02-02 10:00"),
        )
        .unwrap_err();
    assert!(
        matches!(err, EngineError::Event(EventError::MissingField { .. })),
        "{err:?}"
    );
}

#[test]
fn action_idempotency_keys_are_unique_and_stable_across_reruns() {
    let sc = b2b_france();
    let opened = paris("2026-01-15 00:00");
    let c = case(
        DebtorKind::Company,
        ALL_CONTACTS,
        vec![
            invoice("F-1", date("2026-01-15"), date("2026-02-14"), dec!(1250.00)),
            invoice("F-2", date("2026-02-02"), date("2026-03-04"), dec!(480.50)),
        ],
    );
    let evs = [
        event(
            "message.bounced",
            paris("2026-02-25 11:00"),
            EventFields {
                channel: Some("email".into()),
                ..Default::default()
            },
        ),
        payment(paris("2026-03-10 10:00"), dec!(200)),
    ];
    let until = opened + Duration::days(400);
    let a = drive(&sc, c.clone(), &evs, opened, until);
    let b = drive(&sc, c, &evs, opened, until);

    assert!(
        a.actions.len() >= 5,
        "the scenario produces actions: {:?}",
        a.actions
    );
    let keys: Vec<&str> = a.actions.iter().map(|x| x.key.as_str()).collect();
    let unique: BTreeSet<&str> = keys.iter().copied().collect();
    assert_eq!(unique.len(), keys.len(), "{keys:?}");
    let again: Vec<&str> = b.actions.iter().map(|x| x.key.as_str()).collect();
    assert_eq!(keys, again);
    assert!(
        keys.iter()
            .all(|k| k.starts_with(&format!("acme/D-1/{}/", sc.version))),
        "keys name the instance and the scenario version: {keys:?}"
    );
}
