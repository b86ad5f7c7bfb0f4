//! The simulator: drives the pure engine through virtual time and prints
//! the timeline of what a scenario would do to a case.
//!
//! It reads a case file (client, debtor, invoices, optional events) and an
//! optional events file, wakes the instance exactly when the engine asks,
//! feeds the events at their times, and collects the journal. Nothing is
//! stored and nothing is sent.

mod files;

pub use files::{CaseFile, EventSpec, FileError, parse_case, parse_events};

use chrono::{DateTime, NaiveDate, NaiveTime, TimeZone, Utc};
use serde_json::json;

use crate::engine::{Engine, EngineError, Event, Input, Instance, JournalEntry};
use crate::scenario::Scenario;

/// How long a simulation runs when no `--until` is given: two years after
/// the case opens, or until the case ends.
pub const DEFAULT_HORIZON_DAYS: i64 = 730;

/// What a simulation produced.
#[derive(Clone, Debug)]
pub struct Timeline {
    pub entries: Vec<JournalEntry>,
    pub instance: Instance,
    /// The debtor's zone: times are printed in it.
    pub timezone: chrono_tz::Tz,
}

/// Runs `case` through `scenario` from `opened` until `until` (inclusive).
pub fn run(
    engine: &Engine<'_>,
    scenario: &Scenario,
    case: crate::engine::Case,
    events: &[Event],
    opened: DateTime<Utc>,
    until: DateTime<Utc>,
) -> Result<Timeline, EngineError> {
    let timezone = case.debtor.timezone;
    let mut events: Vec<&Event> = events.iter().collect();
    events.sort_by_key(|e| e.at);
    let mut pending = events.into_iter().peekable();

    let first = engine.start(scenario, case, opened)?;
    let mut entries = first.journal;
    let mut instance = first.instance;

    loop {
        let wake = instance.next_wake;
        let next_event = pending.peek().map(|e| e.at);
        let (now, input) = match (wake, next_event) {
            (_, Some(at)) if wake.is_none_or(|w| at <= w) => {
                let event = pending.next().map(|e| Input::Event(e.clone()));
                (at, event)
            }
            (Some(w), _) => (w, Some(Input::Wake)),
            (None, None) => break,
            (None, Some(_)) => unreachable!("handled by the first arm"),
        };
        let Some(input) = input else { break };
        if now > until {
            break;
        }
        let now = now.max(opened);
        let t = engine.step(&instance, scenario, &input, now)?;
        let woke_without_change = matches!(input, Input::Wake)
            && t.journal.is_empty()
            && t.instance.next_wake == instance.next_wake;
        entries.extend(t.journal);
        instance = t.instance;
        if woke_without_change {
            // The engine asked to be woken but had nothing to do: never spin.
            break;
        }
    }

    Ok(Timeline {
        entries,
        instance,
        timezone,
    })
}

/// When a case file's case opens: its `opened` date or, by default, the
/// issue date of its oldest invoice, at midnight in the debtor's zone.
pub fn opened_at(file: &CaseFile) -> DateTime<Utc> {
    let tz = file.case.debtor.timezone;
    let date = file.opened.unwrap_or_else(|| {
        file.case
            .invoices
            .iter()
            .map(|i| i.issued)
            .min()
            .unwrap_or(NaiveDate::MIN)
    });
    local_midnight(tz, date)
}

/// The end of `date` in `tz`.
pub fn end_of_day(tz: chrono_tz::Tz, date: NaiveDate) -> DateTime<Utc> {
    let next = date.succ_opt().unwrap_or(date);
    local_midnight(tz, next) - chrono::Duration::seconds(1)
}

fn local_midnight(tz: chrono_tz::Tz, date: NaiveDate) -> DateTime<Utc> {
    tz.from_local_datetime(&date.and_time(NaiveTime::MIN))
        .earliest()
        .map(|t| t.with_timezone(&Utc))
        .unwrap_or_else(|| Utc.from_utc_datetime(&date.and_time(NaiveTime::MIN)))
}

impl Timeline {
    /// Entries as JSON: an array of objects with `at` (RFC 3339 in the
    /// debtor's zone), `stage`, `step`, `kind`, `channel`, `template`,
    /// `balance`, `total_due`, `currency` and `detail`.
    pub fn to_json(&self) -> serde_json::Value {
        let entries: Vec<serde_json::Value> = self
            .entries
            .iter()
            .map(|e| {
                json!({
                    "at": e.at.with_timezone(&self.timezone).to_rfc3339(),
                    "stage": e.stage,
                    "step": e.step,
                    "kind": e.kind.name(),
                    "channel": e.channel.map(|c| c.name()),
                    "template": e.template,
                    "balance": crate::money::round(e.balance, e.currency).to_string(),
                    "total_due": crate::money::round(e.total_due, e.currency).to_string(),
                    "currency": e.currency.code(),
                    "detail": e.detail,
                })
            })
            .collect();
        serde_json::Value::Array(entries)
    }

    /// Entries as a table for people.
    pub fn to_table(&self) -> String {
        let header = [
            "date", "stage", "step", "what", "channel", "template", "balance", "total", "detail",
        ];
        let mut rows: Vec<[String; 9]> = vec![header.map(String::from)];
        for e in &self.entries {
            let cur = e.currency.code();
            rows.push([
                e.at.with_timezone(&self.timezone)
                    .format("%Y-%m-%d %H:%M")
                    .to_string(),
                e.stage.clone().unwrap_or_default(),
                e.step.clone().unwrap_or_default(),
                e.kind.name().to_string(),
                e.channel.map(|c| c.name().to_string()).unwrap_or_default(),
                e.template.clone().unwrap_or_default(),
                format!("{} {cur}", crate::money::round(e.balance, e.currency)),
                format!("{} {cur}", crate::money::round(e.total_due, e.currency)),
                e.detail.clone(),
            ]);
        }
        let mut widths = [0usize; 9];
        for row in &rows {
            for (i, cell) in row.iter().enumerate() {
                widths[i] = widths[i].max(cell.chars().count());
            }
        }
        let mut out = String::new();
        for (n, row) in rows.iter().enumerate() {
            let mut line = String::new();
            for (i, cell) in row.iter().enumerate() {
                if i == 8 {
                    line.push_str(cell);
                } else if i == 6 || i == 7 {
                    line.push_str(&format!("{:>w$}  ", cell, w = widths[i]));
                } else {
                    line.push_str(&format!("{:<w$}  ", cell, w = widths[i]));
                }
            }
            out.push_str(line.trim_end());
            out.push('\n');
            if n == 0 {
                let rule: usize = widths.iter().sum::<usize>() + 2 * 8;
                out.push_str(&"-".repeat(rule));
                out.push('\n');
            }
        }
        let inst = &self.instance;
        out.push_str(&format!(
            "\nstatus: {}{}\n",
            inst.status.name(),
            inst.outcome.map(|o| format!(" ({o})")).unwrap_or_default()
        ));
        out
    }
}
