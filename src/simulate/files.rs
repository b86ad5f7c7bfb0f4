//! Case files and events files, as scenario authors write them.

use chrono::{DateTime, NaiveDate, NaiveDateTime, NaiveTime, TimeZone, Utc};
use rust_decimal::Decimal;
use serde::Deserialize;

use crate::engine::{Case, Client, Debtor, Event, EventFields, Instalment, Invoice};
use crate::scenario::Diagnostic;

/// A case file: the case, when it opens, and events that happen to it.
#[derive(Clone, Debug)]
pub struct CaseFile {
    pub case: Case,
    pub opened: Option<NaiveDate>,
    pub events: Vec<Event>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawCase {
    #[serde(default)]
    id: String,
    #[serde(default)]
    opened: Option<NaiveDate>,
    client: Client,
    debtor: Debtor,
    invoices: Vec<Invoice>,
    #[serde(default)]
    events: Vec<EventSpec>,
}

/// An event as written in a file: `at` is RFC 3339 (`2026-03-02T10:00:00+01:00`),
/// a local date and time (`2026-03-02 10:00`, in the debtor's zone) or a
/// date (`2026-03-02`, at noon in the debtor's zone).
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EventSpec {
    pub at: String,
    #[serde(rename = "type")]
    pub event_type: String,
    #[serde(default)]
    pub id: Option<String>,
    #[serde(default)]
    pub amount: Option<Decimal>,
    #[serde(default)]
    pub currency: Option<String>,
    #[serde(default)]
    pub invoice: Option<String>,
    #[serde(default)]
    pub reference: Option<String>,
    #[serde(default)]
    pub reason: Option<String>,
    #[serde(default)]
    pub date: Option<NaiveDate>,
    #[serde(default)]
    pub channel: Option<String>,
    #[serde(default)]
    pub step: Option<String>,
    #[serde(default)]
    pub partner: Option<String>,
    #[serde(default)]
    pub status: Option<String>,
    #[serde(default)]
    pub outcome: Option<String>,
    #[serde(default)]
    pub kind: Option<String>,
    #[serde(default)]
    pub instalments: Vec<Instalment>,
}

/// A case or events file that cannot be read.
#[derive(Clone, Debug, thiserror::Error)]
#[error("{}", .0.iter().map(|d| d.to_string()).collect::<Vec<_>>().join("\n"))]
pub struct FileError(pub Vec<Diagnostic>);

fn yaml_error(file: &str, err: serde_saphyr::Error) -> FileError {
    let (line, column) = err
        .location()
        .map(|l| (l.line() as usize, l.column() as usize))
        .unwrap_or((0, 0));
    let text = err.to_string();
    let first = text.lines().next().unwrap_or("invalid YAML");
    let message = match first.trim_start_matches("error: ").split_once(": ") {
        Some((place, rest)) if place.starts_with("line ") => rest.to_string(),
        _ => first.to_string(),
    };
    FileError(vec![Diagnostic::error(file, line, column, message)])
}

/// Reads a case file.
pub fn parse_case(file: &str, source: &str) -> Result<CaseFile, FileError> {
    let raw: RawCase = serde_saphyr::from_str(source).map_err(|e| yaml_error(file, e))?;
    let mut case = Case {
        id: raw.id,
        client: raw.client,
        debtor: raw.debtor,
        invoices: raw.invoices,
    };
    if case.id.is_empty() {
        case.id = format!("{}/{}", case.client.id, case.debtor.id);
    }
    let mut problems = Vec::new();
    if case.invoices.is_empty() {
        problems.push(Diagnostic::error(file, 0, 0, "the case has no invoice"));
    }
    for inv in &case.invoices {
        if inv.due < inv.issued {
            problems.push(Diagnostic::error(
                file,
                0,
                0,
                format!(
                    "invoice {} falls due ({}) before it is issued ({})",
                    inv.number, inv.due, inv.issued
                ),
            ));
        }
        if inv.amount <= Decimal::ZERO {
            problems.push(Diagnostic::error(
                file,
                0,
                0,
                format!(
                    "invoice {} has an amount of {}: it must be above zero",
                    inv.number, inv.amount
                ),
            ));
        }
    }
    let tz = case.debtor.timezone;
    let events = to_events(file, tz, raw.events, &mut problems);
    if !problems.is_empty() {
        return Err(FileError(problems));
    }
    Ok(CaseFile {
        case,
        opened: raw.opened,
        events,
    })
}

/// Reads an events file: a YAML list of events.
pub fn parse_events(file: &str, source: &str, tz: chrono_tz::Tz) -> Result<Vec<Event>, FileError> {
    let specs: Vec<EventSpec> = serde_saphyr::from_str(source).map_err(|e| yaml_error(file, e))?;
    let mut problems = Vec::new();
    let events = to_events(file, tz, specs, &mut problems);
    if !problems.is_empty() {
        return Err(FileError(problems));
    }
    Ok(events)
}

fn to_events(
    file: &str,
    tz: chrono_tz::Tz,
    specs: Vec<EventSpec>,
    problems: &mut Vec<Diagnostic>,
) -> Vec<Event> {
    let mut out = Vec::new();
    for (n, spec) in specs.into_iter().enumerate() {
        let Some(at) = parse_time(&spec.at, tz) else {
            problems.push(Diagnostic::error(
                file,
                0,
                0,
                format!(
                    "event {} (`{}`): `at: {}` is not a time; write 2026-03-02, 2026-03-02 10:00 or 2026-03-02T10:00:00+01:00",
                    n + 1,
                    spec.event_type,
                    spec.at
                ),
            ));
            continue;
        };
        let event = Event {
            id: spec.id,
            kind: spec.event_type,
            at,
            fields: EventFields {
                amount: spec.amount,
                currency: spec.currency,
                invoice: spec.invoice,
                reference: spec.reference,
                reason: spec.reason,
                date: spec.date,
                channel: spec.channel,
                step: spec.step,
                partner: spec.partner,
                status: spec.status,
                outcome: spec.outcome,
                kind: spec.kind,
                instalments: spec.instalments,
            },
        };
        if let Err(err) = event.validate() {
            problems.push(Diagnostic::error(
                file,
                0,
                0,
                format!("event {}: {err}", n + 1),
            ));
            continue;
        }
        out.push(event);
    }
    out
}

/// RFC 3339, a local `YYYY-MM-DD HH:MM` or a local date (noon).
pub fn parse_time(text: &str, tz: chrono_tz::Tz) -> Option<DateTime<Utc>> {
    let text = text.trim();
    if let Ok(t) = DateTime::parse_from_rfc3339(text) {
        return Some(t.with_timezone(&Utc));
    }
    let local = NaiveDateTime::parse_from_str(text, "%Y-%m-%d %H:%M")
        .or_else(|_| NaiveDateTime::parse_from_str(text, "%Y-%m-%dT%H:%M"))
        .ok()
        .or_else(|| {
            NaiveDate::parse_from_str(text, "%Y-%m-%d")
                .ok()
                .map(|d| d.and_time(NaiveTime::from_hms_opt(12, 0, 0).unwrap_or(NaiveTime::MIN)))
        })?;
    tz.from_local_datetime(&local)
        .earliest()
        .map(|t| t.with_timezone(&Utc))
}
