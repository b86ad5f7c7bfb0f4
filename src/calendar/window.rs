//! Sending windows: the hours of a business day during which a debtor may be contacted.
//!
//! A window is read in the debtor's time zone and only opens on business days of the
//! scenario's calendar. It does not span midnight.

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, NaiveTime, Utc};

use super::Calendar;
use super::zone;

/// Daily hours `[start, end)`, e.g. `09:00-18:00`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Window {
    /// First instant of the window, inclusive.
    pub start: NaiveTime,
    /// End of the window, exclusive. `24:00` is stored as the last nanosecond of the day.
    pub end: NaiveTime,
}

/// A window that could not be parsed: what is wrong and where it starts.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct WindowError {
    /// What is wrong and what would be right.
    pub message: String,
    /// Byte offset inside the parsed text where the problem starts.
    pub offset: usize,
}

impl WindowError {
    fn new(offset: usize, message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
            offset,
        }
    }
}

/// How `24:00` is kept: the end of the day, exclusive of its very last nanosecond.
const END_OF_DAY: NaiveTime = match NaiveTime::from_hms_nano_opt(23, 59, 59, 999_999_999) {
    Some(t) => t,
    None => NaiveTime::MIN,
};

/// Guards the search loop in [`Window::next_open`]; real zones need at most a few rounds.
const MAX_ROUNDS: usize = 64;

impl Window {
    /// Whether `time` (a wall-clock time) is inside `[start, end)`.
    pub fn contains(&self, time: NaiveTime) -> bool {
        self.start <= time && time < self.end
    }

    /// The earliest instant >= `t` that, in zone `tz`, falls on a business day of `cal` and
    /// inside [start, end). E.g. Sunday 03:00 → Monday 09:00 (or Tuesday if Monday is a
    /// holiday); Wednesday 18:30 → Thursday 09:00; Wednesday 10:15 → itself. DST-safe: when
    /// the opening time is skipped by a clock change, the window opens at the end of the gap.
    pub fn next_open(&self, cal: &Calendar, tz: chrono_tz::Tz, t: DateTime<Utc>) -> DateTime<Utc> {
        let mut at = t;
        for _ in 0..MAX_ROUNDS {
            let Some(wall) = zone::wall_clock(&at.with_timezone(&tz)) else {
                return at;
            };
            let date = wall.date();
            let business = cal.is_business_day(date);
            if business && self.contains(wall.time()) {
                return at;
            }

            // The next opening on the wall clock, then the instant it would be if the offset
            // stayed as it is now.
            let open_date = if business && wall.time() < self.start {
                date
            } else {
                cal.add_business_days(date, 1)
            };
            let Some(candidate) = zone::at_same_offset(at, wall, open_date.and_time(self.start))
            else {
                return DateTime::<Utc>::MAX_UTC;
            };

            // A clock change before then moves the wall clock: look again from the change.
            match zone::first_offset_change(&tz, at, candidate) {
                Some(change) => at = change,
                None => return candidate,
            }
        }
        // TODO: only reachable for a zone whose offset changes more than MAX_ROUNDS times
        // before the window opens; no real zone does, so return where the search stopped.
        at
    }
}

impl fmt::Display for Window {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let end = if self.end == END_OF_DAY {
            "24:00".to_owned()
        } else {
            self.end.format("%H:%M").to_string()
        };
        write!(f, "{}-{end}", self.start.format("%H:%M"))
    }
}

impl FromStr for Window {
    type Err = WindowError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if s.is_empty() {
            return Err(WindowError::new(
                0,
                "empty window: write HH:MM-HH:MM, e.g. 09:00-18:00",
            ));
        }

        let (start, after_start) = parse_time(s, 0, false)?;
        if !s[after_start..].starts_with('-') {
            return Err(WindowError::new(
                after_start,
                "expected \"-\" between the start and the end, e.g. 09:00-18:00",
            ));
        }
        let end_at = after_start + 1;
        let (end, after_end) = parse_time(s, end_at, true)?;
        if after_end < s.len() {
            return Err(WindowError::new(
                after_end,
                format!(
                    "unexpected \"{}\" after the end time: write HH:MM-HH:MM, e.g. 09:00-18:00",
                    &s[after_end..]
                ),
            ));
        }

        let window = Window { start, end };
        if start >= end {
            return Err(WindowError::new(
                end_at,
                format!(
                    "the window is empty: the end must come after the start {} on the same \
                     day (a window cannot span midnight)",
                    start.format("%H:%M")
                ),
            ));
        }
        Ok(window)
    }
}

/// Reads `H:MM` or `HH:MM` at byte `at` of `s`; returns the time and the offset after it.
/// `24:00` is accepted only as an end time.
fn parse_time(s: &str, at: usize, is_end: bool) -> Result<(NaiveTime, usize), WindowError> {
    let bytes = s.as_bytes();
    let digits = |from: usize| {
        bytes[from.min(bytes.len())..]
            .iter()
            .take_while(|b| b.is_ascii_digit())
            .count()
    };
    let which = if is_end { "end" } else { "start" };

    let hour_len = digits(at);
    if hour_len == 0 || hour_len > 2 {
        return Err(WindowError::new(
            at,
            format!("expected the {which} time as HH:MM, e.g. 09:00"),
        ));
    }
    let colon = at + hour_len;
    if bytes.get(colon) != Some(&b':') {
        return Err(WindowError::new(
            colon,
            format!("expected \":\" between hours and minutes of the {which} time, e.g. 09:00"),
        ));
    }
    let minute_at = colon + 1;
    if digits(minute_at) != 2 {
        return Err(WindowError::new(
            minute_at,
            format!("expected two digits for the minutes of the {which} time, e.g. 09:00"),
        ));
    }

    let hour: u32 = s[at..colon].parse().unwrap_or(u32::MAX);
    let minute: u32 = s[minute_at..minute_at + 2].parse().unwrap_or(u32::MAX);
    let after = minute_at + 2;
    if minute > 59 {
        return Err(WindowError::new(
            minute_at,
            format!("minute {minute:02} does not exist: use 00 to 59"),
        ));
    }
    if hour == 24 && minute == 0 && is_end {
        return Ok((END_OF_DAY, after));
    }
    let Some(time) = NaiveTime::from_hms_opt(hour, minute, 0).filter(|_| hour < 24) else {
        let hint = if is_end {
            "use 00 to 23, or 24:00 for the end of the day"
        } else {
            "use 00 to 23"
        };
        return Err(WindowError::new(
            at,
            format!("hour {hour:02} does not exist: {hint}"),
        ));
    };
    Ok((time, after))
}

super::serde_as_text!(Window);

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_err(s: &str) -> (String, usize) {
        let err = s.parse::<Window>().expect_err(s);
        (err.message, err.offset)
    }

    fn time(h: u32, m: u32) -> NaiveTime {
        NaiveTime::from_hms_opt(h, m, 0).unwrap()
    }

    #[test]
    fn parses_and_displays_hours_and_minutes() {
        let w: Window = "09:00-18:30".parse().unwrap();
        assert_eq!(
            w,
            Window {
                start: time(9, 0),
                end: time(18, 30)
            }
        );
        assert_eq!(w.to_string(), "09:00-18:30");
        assert_eq!(
            "9:00-18:00".parse::<Window>().unwrap().to_string(),
            "09:00-18:00"
        );
    }

    #[test]
    fn end_of_day_is_written_24_00_and_includes_23_59() {
        let w: Window = "00:00-24:00".parse().unwrap();
        assert!(w.contains(time(0, 0)));
        assert!(w.contains(NaiveTime::from_hms_opt(23, 59, 59).unwrap()));
        assert_eq!(w.to_string(), "00:00-24:00");
        assert_eq!(parse_err("24:00-24:00").1, 0);
    }

    #[test]
    fn end_is_exclusive() {
        let w: Window = "09:00-18:00".parse().unwrap();
        assert!(w.contains(time(9, 0)));
        assert!(w.contains(time(17, 59)));
        assert!(!w.contains(time(18, 0)));
        assert!(!w.contains(time(8, 59)));
    }

    #[test]
    fn errors_point_at_the_faulty_part() {
        assert_eq!(parse_err("").1, 0);
        assert_eq!(parse_err("x9:00-18:00").1, 0);
        assert_eq!(parse_err("0900-18:00").1, 0);
        assert_eq!(parse_err("09-18").1, 2);
        assert_eq!(parse_err("09:0-18:00").1, 3);
        assert_eq!(parse_err("09:00 18:00").1, 5);
        assert_eq!(parse_err("09:00-").1, 6);
        assert_eq!(
            parse_err("09:00-25:00"),
            (
                "hour 25 does not exist: use 00 to 23, or 24:00 for the end of the day".to_owned(),
                6
            )
        );
        assert_eq!(
            parse_err("09:60-18:00"),
            ("minute 60 does not exist: use 00 to 59".to_owned(), 3)
        );
        assert_eq!(parse_err("09:00-18:00 ").1, 11);
        assert_eq!(parse_err("18:00-09:00").1, 6);
        assert_eq!(parse_err("09:00-09:00").1, 6);
    }

    #[test]
    fn serde_goes_through_the_text_form() {
        let w: Window = serde_json::from_str("\"08:30-12:00\"").unwrap();
        assert_eq!(serde_json::to_string(&w).unwrap(), "\"08:30-12:00\"");
        assert!(serde_json::from_str::<Window>("\"12:00-08:30\"").is_err());
    }
}
