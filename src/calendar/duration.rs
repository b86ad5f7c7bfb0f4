//! Durations as scenario authors write them (`12h`, `3d`, `5bd`, `2w`, `1m`) and how they
//! move an instant or a date.
//!
//! Parsing never panics and reports the byte offset of the problem, so that the scenario
//! checker can turn it into a line and column. The sign of a shift (`due - 3d`) belongs to
//! the expression around the duration, not to the duration.

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Days, Months, NaiveDate, TimeDelta, TimeZone};

use super::Calendar;
use super::zone;

/// The unit of a [`Duration`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Unit {
    /// `h`: exact hours of elapsed time.
    Hours,
    /// `d`: calendar days, keeping the wall-clock time.
    Days,
    /// `bd`: business days of the scenario's calendar, keeping the wall-clock time.
    BusinessDays,
    /// `w`: seven calendar days, keeping the wall-clock time.
    Weeks,
    /// `m` (or `mo`): calendar months, clamping the day to the month's end.
    Months,
}

impl Unit {
    /// The canonical suffix: `h`, `d`, `bd`, `w` or `m`.
    pub fn suffix(self) -> &'static str {
        match self {
            Unit::Hours => "h",
            Unit::Days => "d",
            Unit::BusinessDays => "bd",
            Unit::Weeks => "w",
            Unit::Months => "m",
        }
    }

    fn from_suffix(suffix: &str) -> Option<Unit> {
        match suffix {
            "h" => Some(Unit::Hours),
            "d" => Some(Unit::Days),
            "bd" => Some(Unit::BusinessDays),
            "w" => Some(Unit::Weeks),
            "m" | "mo" => Some(Unit::Months),
            _ => None,
        }
    }
}

/// A whole number of [`Unit`]s, written `<number><unit>` with no space and no sign.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Duration {
    /// How many units; meant to be `>= 0` (a negative amount shifts the other way).
    pub amount: i64,
    pub unit: Unit,
}

/// A duration that could not be parsed: what is wrong and where it starts.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct DurationError {
    /// What is wrong and what would be right.
    pub message: String,
    /// Byte offset inside the parsed text where the problem starts.
    pub offset: usize,
}

impl DurationError {
    fn new(offset: usize, message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
            offset,
        }
    }
}

const UNITS: &str = "use h, d, bd, w or m";

impl Duration {
    pub const fn new(amount: i64, unit: Unit) -> Self {
        Self { amount, unit }
    }

    /// Move `t` forward (`forward == true`) or backward by this duration in `t`'s zone:
    /// d and w keep the local wall-clock time (DST-safe: a wall time that does not exist
    /// resolves to the next valid instant, an ambiguous one to the earlier); bd moves by
    /// business days of `cal` keeping the wall time; m moves by calendar months, clamping
    /// the day to the month's end (31 Jan + 1m = 28/29 Feb); h moves by exact hours.
    ///
    /// `0bd` rolls a non-business day to the next business day going forward and to the
    /// previous one going backward. A result beyond chrono's range saturates near its end.
    pub fn shift<Tz: TimeZone>(
        &self,
        cal: &Calendar,
        t: &DateTime<Tz>,
        forward: bool,
    ) -> DateTime<Tz> {
        let (forward, amount) = self.direction(forward);
        let tz = t.timezone();

        if self.unit == Unit::Hours {
            let shifted = i64::try_from(amount)
                .ok()
                .and_then(TimeDelta::try_hours)
                .and_then(|delta| {
                    if forward {
                        t.clone().checked_add_signed(delta)
                    } else {
                        t.clone().checked_sub_signed(delta)
                    }
                })
                .filter(|shifted| zone::wall_clock(shifted).is_some());
            return shifted.unwrap_or_else(|| zone::saturated(&tz, forward));
        }

        let Some(wall) = zone::wall_clock(t) else {
            return zone::saturated(&tz, forward);
        };
        let date = shift_date_by(self.unit, cal, wall.date(), forward, amount);
        zone::resolve(&tz, date.and_time(wall.time()))
            .filter(|shifted| zone::wall_clock(shifted).is_some())
            .unwrap_or_else(|| zone::saturated(&tz, forward))
    }

    /// Same on a date (h counts whole days: 24h = 1 day, anything less is 0 days).
    pub fn shift_date(&self, cal: &Calendar, date: NaiveDate, forward: bool) -> NaiveDate {
        let (forward, amount) = self.direction(forward);
        match self.unit {
            Unit::Hours => shift_date_by(Unit::Days, cal, date, forward, amount / 24),
            unit => shift_date_by(unit, cal, date, forward, amount),
        }
    }

    /// The effective direction and the magnitude, a negative amount flipping the direction.
    fn direction(&self, forward: bool) -> (bool, u64) {
        if self.amount < 0 {
            (!forward, self.amount.unsigned_abs())
        } else {
            (forward, self.amount.unsigned_abs())
        }
    }
}

/// Moves `date` by `amount` units of anything but hours, saturating at chrono's range.
fn shift_date_by(
    unit: Unit,
    cal: &Calendar,
    date: NaiveDate,
    forward: bool,
    amount: u64,
) -> NaiveDate {
    let limit = if forward {
        NaiveDate::MAX
    } else {
        NaiveDate::MIN
    };
    let by_days = |days: u64| {
        if forward {
            date.checked_add_days(Days::new(days))
        } else {
            date.checked_sub_days(Days::new(days))
        }
    };

    let shifted = match unit {
        Unit::Hours | Unit::Days => by_days(amount),
        Unit::Weeks => amount.checked_mul(7).and_then(by_days),
        Unit::Months => u32::try_from(amount).ok().and_then(|months| {
            if forward {
                date.checked_add_months(Months::new(months))
            } else {
                date.checked_sub_months(Months::new(months))
            }
        }),
        Unit::BusinessDays => Some(match (amount, forward) {
            (0, true) => cal.next_business_day(date),
            (0, false) => cal.previous_business_day(date),
            (n, true) => cal.add_business_days(date, i64::try_from(n).unwrap_or(i64::MAX)),
            (n, false) => cal.add_business_days(date, i64::try_from(n).map_or(i64::MIN, |n| -n)),
        }),
    };
    shifted.unwrap_or(limit)
}

impl fmt::Display for Duration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}{}", self.amount, self.unit.suffix())
    }
}

impl FromStr for Duration {
    type Err = DurationError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let Some(first) = s.chars().next() else {
            return Err(DurationError::new(
                0,
                "empty duration: write a number then a unit, e.g. 3d",
            ));
        };
        if first == '+' || first == '-' {
            return Err(DurationError::new(
                0,
                format!("unexpected sign \"{first}\": a duration has no sign, write e.g. 3d"),
            ));
        }
        if let Some(at) = s.find(char::is_whitespace) {
            return Err(DurationError::new(
                at,
                "unexpected space: write the number and the unit together, e.g. 5bd",
            ));
        }

        let digits_end = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
        if digits_end == 0 {
            return Err(DurationError::new(0, "missing number before unit"));
        }
        let digits = &s[..digits_end];
        let amount: i64 = digits.parse().map_err(|_| {
            DurationError::new(0, format!("number too large: at most {}", i64::MAX))
        })?;

        let rest = &s[digits_end..];
        if rest.is_empty() {
            return Err(DurationError::new(
                digits_end,
                format!("missing unit after {digits}: {UNITS}"),
            ));
        }
        if rest.starts_with(['.', ',']) {
            return Err(DurationError::new(
                digits_end,
                "a duration is a whole number: use a smaller unit, e.g. 36h rather than 1.5d",
            ));
        }

        let unit_len = rest
            .find(|c: char| !c.is_alphabetic())
            .unwrap_or(rest.len());
        let suffix = &rest[..unit_len];
        if suffix.is_empty() {
            return Err(DurationError::new(
                digits_end,
                format!("missing unit after {digits}: {UNITS}"),
            ));
        }
        let Some(unit) = Unit::from_suffix(suffix) else {
            return Err(DurationError::new(digits_end, unknown_unit(suffix)));
        };

        let trailing = &rest[unit_len..];
        if !trailing.is_empty() {
            return Err(DurationError::new(
                digits_end + unit_len,
                format!(
                    "unexpected \"{trailing}\" after the unit: write one number and one unit, \
                     e.g. 5bd"
                ),
            ));
        }
        Ok(Duration { amount, unit })
    }
}

fn unknown_unit(suffix: &str) -> String {
    let hint = match suffix {
        "min" | "mn" | "s" | "sec" => " (the smallest unit is h)",
        "y" | "yr" | "yrs" | "year" | "years" => " (for years, write 12m)",
        "D" | "H" | "W" | "M" | "BD" => " (units are lowercase)",
        "wd" | "b" | "bday" | "bdays" => " (business days are bd)",
        _ => "",
    };
    format!("unknown unit \"{suffix}\": {UNITS}{hint}")
}

super::serde_as_text!(Duration);

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_err(s: &str) -> (String, usize) {
        let err = s.parse::<Duration>().expect_err(s);
        (err.message, err.offset)
    }

    #[test]
    fn every_unit_parses_and_displays_canonically() {
        for (text, amount, unit, canonical) in [
            ("12h", 12, Unit::Hours, "12h"),
            ("3d", 3, Unit::Days, "3d"),
            ("5bd", 5, Unit::BusinessDays, "5bd"),
            ("2w", 2, Unit::Weeks, "2w"),
            ("1m", 1, Unit::Months, "1m"),
            ("6mo", 6, Unit::Months, "6m"),
            ("007d", 7, Unit::Days, "7d"),
            ("0bd", 0, Unit::BusinessDays, "0bd"),
        ] {
            let d: Duration = text.parse().expect(text);
            assert_eq!(d, Duration::new(amount, unit), "{text}");
            assert_eq!(d.to_string(), canonical);
        }
    }

    #[test]
    fn unknown_unit_is_reported_where_the_unit_starts() {
        assert_eq!(
            parse_err("5bx"),
            ("unknown unit \"bx\": use h, d, bd, w or m".to_owned(), 1)
        );
        assert_eq!(parse_err("30min").1, 2);
        assert!(parse_err("30min").0.ends_with("(the smallest unit is h)"));
    }

    #[test]
    fn missing_parts_are_named() {
        assert_eq!(
            parse_err("bd"),
            ("missing number before unit".to_owned(), 0)
        );
        assert_eq!(
            parse_err("12"),
            ("missing unit after 12: use h, d, bd, w or m".to_owned(), 2)
        );
        assert_eq!(parse_err("").1, 0);
    }

    #[test]
    fn signs_spaces_fractions_and_trailing_text_are_rejected_with_offsets() {
        assert_eq!(parse_err("-3d").1, 0);
        assert_eq!(parse_err("+3d").1, 0);
        assert_eq!(parse_err("3 d").1, 1);
        assert_eq!(parse_err(" 3d").1, 0);
        assert_eq!(parse_err("3d ").1, 2);
        assert_eq!(parse_err("1.5d").1, 1);
        assert_eq!(parse_err("3d4h").1, 2);
        assert_eq!(parse_err("3d!").1, 2);
        assert_eq!(parse_err("99999999999999999999d").1, 0);
    }

    #[test]
    fn serde_goes_through_the_text_form() {
        let d: Duration = serde_json::from_str("\"5bd\"").unwrap();
        assert_eq!(d, Duration::new(5, Unit::BusinessDays));
        assert_eq!(serde_json::to_string(&d).unwrap(), "\"5bd\"");
        let err = serde_json::from_str::<Duration>("\"5x\"").unwrap_err();
        assert!(err.to_string().contains("unknown unit \"x\""));
        assert_eq!(
            serde_json::to_string(&Unit::BusinessDays).unwrap(),
            "\"business_days\""
        );
    }

    #[test]
    fn hours_on_a_date_count_whole_days_only() {
        let cal = Calendar::default();
        let day = NaiveDate::from_ymd_opt(2026, 3, 2).unwrap();
        let next = NaiveDate::from_ymd_opt(2026, 3, 3).unwrap();
        assert_eq!(
            Duration::new(23, Unit::Hours).shift_date(&cal, day, true),
            day
        );
        assert_eq!(
            Duration::new(24, Unit::Hours).shift_date(&cal, day, true),
            next
        );
        assert_eq!(
            Duration::new(47, Unit::Hours).shift_date(&cal, next, false),
            day
        );
    }

    #[test]
    fn negative_amounts_shift_the_other_way_and_huge_ones_saturate() {
        let cal = Calendar::default();
        let day = NaiveDate::from_ymd_opt(2026, 3, 2).unwrap();
        let before = NaiveDate::from_ymd_opt(2026, 2, 27).unwrap();
        assert_eq!(
            Duration::new(-1, Unit::Days).shift_date(&cal, day, false),
            day.succ_opt().unwrap()
        );
        assert_eq!(
            Duration::new(-1, Unit::BusinessDays).shift_date(&cal, day, true),
            before
        );
        assert_eq!(
            Duration::new(i64::MAX, Unit::Weeks).shift_date(&cal, day, true),
            NaiveDate::MAX
        );
        assert_eq!(
            Duration::new(i64::MIN, Unit::Months).shift_date(&cal, day, true),
            NaiveDate::MIN
        );
    }
}
