//! Cron schedules of the periodic jobs: a 5-field cron expression read in
//! one IANA time zone, and the next run after an instant.
//!
//! This file owns only the arithmetic of schedules; it runs nothing and
//! reads no clock (the caller passes the instant).

use chrono::{DateTime, LocalResult, NaiveDateTime, TimeDelta, TimeZone, Utc};
use chrono_tz::Tz;
use croner::Cron;
use croner::parser::{CronParser, Seconds, Year};

use super::ConfigError;

/// How far around an instant's wall-clock time candidates are examined:
/// more than the largest daylight-saving shift in the tz database (2 h).
const WINDOW_HOURS: i64 = 3;

/// Bound on the candidates examined for one `next_after` (an every-minute
/// job needs about 6 h × 60 of them).
const MAX_CANDIDATES: usize = 2_000;

/// A parsed 5-field cron expression (minute hour day-of-month month
/// day-of-week) and the time zone whose wall clock it is read in.
///
/// Around daylight-saving changes:
/// - a job at a fixed time of day (plain numbers in the minute and hour
///   fields, such as `30 2 * * *`) runs once a day: when its time does not
///   exist (clocks go forward) it runs at the first instant after the jump;
///   when its time happens twice (clocks go back) it runs at the first one;
/// - any other job (`*/15 * * * *`, `0 * * * *`, ranges, steps) runs at every
///   real instant whose wall-clock time matches: skipped times never come,
///   repeated times run twice.
#[derive(Clone, Debug)]
pub struct Schedule {
    expr: String,
    cron: Cron,
    tz: Tz,
    fixed_time: bool,
}

impl PartialEq for Schedule {
    fn eq(&self, other: &Self) -> bool {
        self.expr == other.expr && self.tz == other.tz
    }
}

impl Schedule {
    /// Parses a 5-field cron expression read in the zone `tz`.
    ///
    /// Also accepted: `@yearly`, `@annually`, `@monthly`, `@weekly`,
    /// `@daily`, `@midnight`, `@hourly`. Refused: a sixth (seconds) or
    /// seventh (year) field, values out of range, an expression that can
    /// never fire (`0 0 30 2 *`).
    pub fn parse(expr: &str, tz: Tz) -> Result<Schedule, ConfigError> {
        let error = |message: String| ConfigError::Cron {
            expr: expr.to_string(),
            message,
        };

        let trimmed = expr.trim();
        let expanded = match trimmed.to_ascii_lowercase().as_str() {
            "@yearly" | "@annually" => "0 0 1 1 *".to_string(),
            "@monthly" => "0 0 1 * *".to_string(),
            "@weekly" => "0 0 * * 0".to_string(),
            "@daily" | "@midnight" => "0 0 * * *".to_string(),
            "@hourly" => "0 * * * *".to_string(),
            _ if trimmed.starts_with('@') => {
                return Err(error(
                    "unknown shorthand; use @yearly, @monthly, @weekly, @daily, @hourly \
                     or 5 fields"
                        .to_string(),
                ));
            }
            _ => trimmed.to_string(),
        };

        let fields: Vec<&str> = expanded.split_whitespace().collect();
        match fields.len() {
            5 => {}
            6 | 7 => {
                return Err(error(format!(
                    "cron here has 5 fields (minute hour day-of-month month day-of-week), \
                     this one has {}; seconds and years are not supported",
                    fields.len()
                )));
            }
            n => {
                return Err(error(format!(
                    "cron here has 5 fields (minute hour day-of-month month day-of-week), \
                     this one has {n}"
                )));
            }
        }

        let cron = CronParser::builder()
            .seconds(Seconds::Disallowed)
            .year(Year::Disallowed)
            .build()
            .parse(&expanded)
            .map_err(|e| error(explain(&fields, &e.to_string())))?;

        let plain = |field: &str| field.chars().all(|c| c.is_ascii_digit() || c == ',');
        let schedule = Schedule {
            expr: trimmed.to_string(),
            cron,
            tz,
            fixed_time: plain(fields[0]) && plain(fields[1]),
        };

        // An expression such as `0 0 30 2 *` parses but never fires.
        let reference = Utc.with_ymd_and_hms(2000, 1, 1, 0, 0, 0).single();
        if reference.and_then(|t| schedule.next_after(t)).is_none() {
            return Err(error("this expression never fires".to_string()));
        }
        Ok(schedule)
    }

    /// The expression as written.
    pub fn expr(&self) -> &str {
        &self.expr
    }

    /// The zone whose wall clock the expression is read in.
    pub fn timezone(&self) -> Tz {
        self.tz
    }

    /// The first run strictly after `t`, or `None` if there is none (past
    /// the year 9999).
    pub fn next_after(&self, t: DateTime<Utc>) -> Option<DateTime<Utc>> {
        let wall = t.with_timezone(&self.tz).naive_local();
        let window = TimeDelta::hours(WINDOW_HOURS);
        let mut cursor = wall.checked_sub_signed(window)?;
        let mut best: Option<DateTime<Utc>> = None;

        // Wall-clock order and real order differ inside a repeated hour, so
        // candidates are walked in wall-clock order from a little before
        // `t` until they are surely later than the best run found.
        for _ in 0..MAX_CANDIDATES {
            let from = Utc.from_utc_datetime(&cursor);
            let Ok(found) = self.cron.find_next_occurrence(&from, false) else {
                break;
            };
            let candidate = found.naive_utc();
            if let Some(best) = best {
                let best_wall = best.with_timezone(&self.tz).naive_local();
                if candidate > best_wall + window {
                    break;
                }
            }
            for run in self.runs_at(candidate) {
                if run > t && best.is_none_or(|b| run < b) {
                    best = Some(run);
                }
            }
            cursor = candidate;
        }
        best
    }

    /// The real instants at which a matching wall-clock time runs.
    fn runs_at(&self, wall: NaiveDateTime) -> Vec<DateTime<Utc>> {
        match self.tz.from_local_datetime(&wall) {
            LocalResult::Single(at) => vec![at.with_timezone(&Utc)],
            LocalResult::Ambiguous(first, _) if self.fixed_time => vec![first.with_timezone(&Utc)],
            LocalResult::Ambiguous(first, second) => {
                vec![first.with_timezone(&Utc), second.with_timezone(&Utc)]
            }
            LocalResult::None if self.fixed_time => self.end_of_gap(wall).into_iter().collect(),
            LocalResult::None => Vec::new(),
        }
    }

    /// The first instant after the clocks jumped over `wall`: the smallest
    /// instant whose wall-clock time is later than `wall`.
    fn end_of_gap(&self, wall: NaiveDateTime) -> Option<DateTime<Utc>> {
        // Zone offsets lie within ±15 h, so these bracket the jump.
        let mut low = wall.and_utc().timestamp() - 15 * 3600;
        let mut high = wall.and_utc().timestamp() + 15 * 3600;
        let wall_at = |secs: i64| {
            DateTime::from_timestamp(secs, 0).map(|u| u.with_timezone(&self.tz).naive_local())
        };
        while high - low > 1 {
            let middle = low + (high - low) / 2;
            if wall_at(middle)? > wall {
                high = middle;
            } else {
                low = middle;
            }
        }
        DateTime::from_timestamp(high, 0)
    }
}

/// Names the first field that fails on its own, with its allowed values.
fn explain(fields: &[&str], message: &str) -> String {
    const NAMES: [&str; 5] = [
        "minute (0-59)",
        "hour (0-23)",
        "day of month (1-31)",
        "month (1-12 or JAN-DEC)",
        "day of week (0-7 or SUN-SAT, 0 and 7 are Sunday)",
    ];
    let parser = CronParser::builder()
        .seconds(Seconds::Disallowed)
        .year(Year::Disallowed)
        .build();
    for (i, field) in fields.iter().enumerate() {
        let mut alone = ["*"; 5];
        alone[i] = field;
        if parser.parse(&alone.join(" ")).is_err() {
            return format!("field {} `{field}` is not a valid {}", i + 1, NAMES[i]);
        }
    }
    message.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(text: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(text)
            .expect("test instant")
            .with_timezone(&Utc)
    }

    #[test]
    fn daily_job_runs_at_its_wall_clock_time() {
        let s = Schedule::parse("0 6 * * *", chrono_tz::Europe::Paris).expect("valid");
        assert_eq!(
            s.next_after(at("2026-01-10T12:00:00Z")),
            Some(at("2026-01-11T05:00:00Z"))
        );
        assert_eq!(
            s.next_after(at("2026-07-10T04:00:00Z")),
            Some(at("2026-07-11T04:00:00Z"))
        );
    }

    #[test]
    fn quarter_hourly_job_runs_twice_in_the_repeated_hour() {
        let s = Schedule::parse("*/30 * * * *", chrono_tz::Europe::Paris).expect("valid");
        // 2026-10-25: 03:00 CEST becomes 02:00 CET at 01:00 UTC.
        let mut t = at("2026-10-24T23:45:00Z");
        let mut runs = Vec::new();
        for _ in 0..6 {
            let next = s.next_after(t).expect("a run");
            runs.push(next);
            t = next;
        }
        let expected: Vec<_> = [
            "2026-10-25T00:00:00Z",
            "2026-10-25T00:30:00Z",
            "2026-10-25T01:00:00Z",
            "2026-10-25T01:30:00Z",
            "2026-10-25T02:00:00Z",
            "2026-10-25T02:30:00Z",
        ]
        .iter()
        .map(|s| at(s))
        .collect();
        assert_eq!(runs, expected);
    }

    #[test]
    fn hourly_job_skips_the_hour_that_does_not_exist() {
        let s = Schedule::parse("30 * * * *", chrono_tz::Europe::Paris).expect("valid");
        // 2026-03-29: 02:00 CET jumps to 03:00 CEST at 01:00 UTC.
        assert_eq!(
            s.next_after(at("2026-03-29T00:30:00Z")),
            Some(at("2026-03-29T01:30:00Z"))
        );
    }

    #[test]
    fn shorthands_expand_to_five_fields() {
        let s = Schedule::parse("@daily", chrono_tz::UTC).expect("valid");
        assert_eq!(
            s.next_after(at("2026-01-10T12:00:00Z")),
            Some(at("2026-01-11T00:00:00Z"))
        );
        assert!(Schedule::parse("@reboot", chrono_tz::UTC).is_err());
    }

    #[test]
    fn an_expression_that_never_fires_is_refused() {
        let err = Schedule::parse("0 0 30 2 *", chrono_tz::UTC).expect_err("never fires");
        assert!(err.to_string().contains("never fires"), "{err}");
    }
}
