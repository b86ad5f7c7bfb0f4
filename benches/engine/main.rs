//! `cargo bench --bench engine`: what a condition, a step and a whole
//! simulated timeline cost, on the shipped b2b-france scenario and the
//! example French company case.
//!
//! This benchmark owns measuring only: it loads the scenario and the case
//! from the repository, drives the pure engine in memory and prints one
//! table. It must not change what it measures, nor write anything.
//! `cargo bench --bench engine -- step` runs only the lines whose name
//! contains `step`.

mod harness;

use std::collections::BTreeSet;
use std::hint::black_box;
use std::process::ExitCode;

use chrono::{DateTime, Duration, Utc};
use rust_decimal::Decimal;
use rust_decimal_macros::dec;

use relance::engine::{self, EntryKind, Event, EventFields, Input, Instance};
use relance::rules::Facts;
use relance::scenario;
use relance::simulate;

use harness::{Measure, measure, print_table};

const SCENARIO_FILE: &str = "scenarios/b2b-france.yaml";
const SCENARIO: &str = include_str!("../../scenarios/b2b-france.yaml");
const CASE_FILE: &str = "examples/case-fr-company.yaml";
const CASE: &str = include_str!("../../examples/case-fr-company.yaml");

/// The light condition: the SMS reminder's `when:` in b2b-france.
const LIGHT: &str = "balance >= 50 && debtor.mobile != ()";
/// The heavy condition: history functions and a date-derived number; it is
/// true on the prepared facts, so every term is evaluated.
const HEAVY: &str = "sent(\"first_reminder\") && !sent(\"second_reminder\") \
                     && messages_in_last(7) < 2 && days_overdue >= 14";

/// The same data as the Rhai scope, as plain Rust values.
struct PlainFacts {
    balance: Decimal,
    mobile: Option<String>,
    sent: BTreeSet<String>,
    messages: Vec<i64>,
    now: i64,
    days_overdue: i64,
}

impl PlainFacts {
    fn of(inst: &Instance, now: DateTime<Utc>) -> Self {
        let today = now.with_timezone(&inst.case.debtor.timezone).date_naive();
        PlainFacts {
            balance: inst.balance(),
            mobile: inst.case.debtor.mobile.clone(),
            sent: inst.sent_steps.clone(),
            messages: inst.messages.iter().map(|t| t.timestamp()).collect(),
            now: now.timestamp(),
            days_overdue: inst
                .case
                .oldest_due()
                .map(|due| (today - due).num_days())
                .unwrap_or(0),
        }
    }

    fn light(&self) -> bool {
        self.balance >= dec!(50) && self.mobile.is_some()
    }

    fn heavy(&self) -> bool {
        let since = self.now - 7 * 86_400;
        let recent = self
            .messages
            .iter()
            .filter(|&&t| t > since && t <= self.now)
            .count();
        self.sent.contains("first_reminder")
            && !self.sent.contains("second_reminder")
            && recent < 2
            && self.days_overdue >= 14
    }
}

fn fail(what: &str, detail: impl std::fmt::Display) -> ExitCode {
    eprintln!("bench setup failed: {what}: {detail}");
    ExitCode::FAILURE
}

fn main() -> ExitCode {
    // Cargo passes `--bench`; any other argument filters the lines.
    let filter: Option<String> = std::env::args().skip(1).find(|a| !a.starts_with("--"));
    let wanted = |name: &str| filter.as_deref().is_none_or(|f| name.contains(f));

    let engine = engine::shared();
    let loaded = scenario::load_checked(engine.rules, SCENARIO_FILE, SCENARIO, None);
    let Some(scenario) = loaded.scenario else {
        let all: Vec<String> = loaded.diagnostics.iter().map(|d| d.to_string()).collect();
        return fail(SCENARIO_FILE, all.join("\n"));
    };
    let case_file = match simulate::parse_case(CASE_FILE, CASE) {
        Ok(c) => c,
        Err(err) => return fail(CASE_FILE, err),
    };
    let opened = simulate::opened_at(&case_file);

    // The instance as it is opened, and the wake that fires its first send.
    let started = match engine.start(&scenario, case_file.case.clone(), opened) {
        Ok(t) => t.instance,
        Err(err) => return fail("engine start", err),
    };
    let Some(wake_at) = started.next_wake else {
        return fail("engine start", "the instance asks for no wake-up");
    };
    let fired = match engine.step(&started, &scenario, &Input::Wake, wake_at) {
        Ok(t) => t,
        Err(err) => return fail("wake step", err),
    };
    if !fired.journal.iter().any(|e| e.kind == EntryKind::Send) {
        return fail("wake step", "the first wake sent nothing");
    }

    // A partial payment a day after that send.
    let after_send = fired.instance;
    let paid_at = wake_at + Duration::days(1);
    let payment = Input::Event(Event {
        id: Some("bench-payment".into()),
        kind: "payment.received".into(),
        at: paid_at,
        fields: EventFields {
            amount: Some(dec!(300)),
            currency: Some("EUR".into()),
            ..EventFields::default()
        },
    });
    match engine.step(&after_send, &scenario, &payment, paid_at) {
        Ok(t) if t.instance.balance() < after_send.balance() => {}
        Ok(_) => return fail("payment step", "the payment did not lower the balance"),
        Err(err) => return fail("payment step", err),
    }

    // Facts for the conditions: three weeks past due, the first reminder
    // sent three days ago.
    let mut inst = after_send.clone();
    let Some(due) = inst.case.oldest_due() else {
        return fail(CASE_FILE, "the case has no open invoice");
    };
    let Some(cond_now) = due
        .and_hms_opt(12, 0, 0)
        .map(|t| t.and_utc() + Duration::days(21))
    else {
        return fail(CASE_FILE, "the due date has no noon");
    };
    inst.sent_steps.insert("first_reminder".into());
    inst.messages.push(cond_now - Duration::days(3));
    let mut facts: Facts = engine::condition_facts(&inst, None, cond_now);
    let plain = PlainFacts::of(&inst, cond_now);

    let compile = |src: &str| engine.rules.compile(src, &[]);
    let (light, heavy) = match (compile(LIGHT), compile(HEAVY)) {
        (Ok(l), Ok(h)) => (l, h),
        (Err(e), _) | (_, Err(e)) => return fail("compile", format!("{e:?}")),
    };
    for (expr, expected, src) in [
        (&light, plain.light(), LIGHT),
        (&heavy, plain.heavy(), HEAVY),
    ] {
        match engine.rules.eval_bool(expr, &mut facts) {
            Ok(got) if got == expected && got => {}
            Ok(got) => return fail(src, format!("Rhai says {got}, Rust says {expected}")),
            Err(err) => return fail(src, err),
        }
    }

    let until = opened + Duration::days(simulate::DEFAULT_HORIZON_DAYS);
    let timeline = match simulate::run(
        &engine,
        &scenario,
        case_file.case.clone(),
        &[],
        opened,
        until,
    ) {
        Ok(t) => t,
        Err(err) => return fail("simulate", err),
    };

    println!(
        "relance engine benchmark: {} {} on {} ({} timeline entries, ends {}{})",
        scenario.name,
        scenario.version,
        CASE_FILE,
        timeline.entries.len(),
        timeline.instance.status.name(),
        timeline
            .instance
            .outcome
            .map(|o| format!(" {o}"))
            .unwrap_or_default()
    );
    println!(
        "{} samples per line after a {} ms warm-up; times are per call\n",
        harness::SAMPLES,
        harness::WARM_UP.as_millis()
    );

    let mut measures: Vec<Measure> = Vec::new();
    let mut run = |name: &str, f: &mut dyn FnMut() -> bool| {
        if wanted(name) {
            measures.push(measure(name, f));
        }
    };

    run("condition light: Rhai, prepared facts", &mut || {
        engine
            .rules
            .eval_bool(black_box(&light), &mut facts)
            .unwrap_or(false)
    });
    run("condition light: plain Rust", &mut || {
        black_box(&plain).light()
    });
    run("condition heavy: Rhai, prepared facts", &mut || {
        engine
            .rules
            .eval_bool(black_box(&heavy), &mut facts)
            .unwrap_or(false)
    });
    run("condition heavy: plain Rust", &mut || {
        black_box(&plain).heavy()
    });
    run("facts: build the scope (wake)", &mut || {
        let f = engine::condition_facts(black_box(&inst), None, cond_now);
        !black_box(f).scope.is_empty()
    });
    let Input::Event(payment_event) = &payment else {
        return fail("payment", "not an event");
    };
    run("facts: build the scope (event)", &mut || {
        let f = engine::condition_facts(black_box(&inst), Some(payment_event), cond_now);
        !black_box(f).scope.is_empty()
    });
    run("condition light: build facts + Rhai", &mut || {
        let mut f = engine::condition_facts(black_box(&inst), None, cond_now);
        engine.rules.eval_bool(&light, &mut f).unwrap_or(false)
    });
    run("step: wake that fires a send", &mut || {
        let t = engine.step(black_box(&started), &scenario, &Input::Wake, wake_at);
        t.is_ok()
    });
    run("step: partial payment event", &mut || {
        let t = engine.step(black_box(&after_send), &scenario, &payment, paid_at);
        t.is_ok()
    });
    run("timeline: b2b-france, whole case", &mut || {
        let case = black_box(&case_file).case.clone();
        simulate::run(&engine, &scenario, case, &[], opened, until).is_ok()
    });

    print_table(&measures);
    print_ratios(&measures);
    ExitCode::SUCCESS
}

/// Rhai against plain Rust, and what the engine really pays per condition.
fn print_ratios(measures: &[Measure]) {
    let get = |name: &str| {
        measures
            .iter()
            .find(|m| m.name == name)
            .map(|m| m.median_ns)
    };
    println!();
    for kind in ["light", "heavy"] {
        let rhai = get(&format!("condition {kind}: Rhai, prepared facts"));
        let rust = get(&format!("condition {kind}: plain Rust"));
        if let (Some(rhai), Some(rust)) = (rhai, rust) {
            println!("condition {kind}: Rhai / plain Rust = {:.0}x", rhai / rust);
        }
    }
    let build = get("facts: build the scope (wake)");
    let light = get("condition light: Rhai, prepared facts");
    if let (Some(build), Some(light)) = (build, light) {
        println!(
            "building the facts is {:.1}x the light condition itself",
            build / light
        );
    }
}
