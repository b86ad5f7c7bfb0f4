//! National public holidays per country, and the Gregorian Easter date they hang on.
//!
//! Only holidays that apply to the whole country are listed: regional days (Alsace-Moselle,
//! German Länder, Spanish communities…) and one-off days decreed for a single year are not.
//! This module computes dates; it does not decide what a business day is (see `Calendar`).

use chrono::{Datelike, NaiveDate, Weekday};

use super::Country;

/// One public holiday: its date and its English name.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Holiday {
    pub date: NaiveDate,
    pub name: &'static str,
}

/// National public holidays of `country` in `year`, sorted by date.
///
/// Easter-based days (Good Friday, Easter Monday, Ascension, Whit Monday) are computed
/// with [`easter_sunday`]. Holidays that fall on a weekend are listed on their date, except
/// in Great Britain where bank holidays are listed on the day they are observed (the
/// "substitute day"). Two holidays on the same date (Ascension on 1 or 8 May) are both
/// listed, in a fixed order. A year outside the range of [`NaiveDate`] gives an empty list.
pub fn holidays(country: Country, year: i32) -> Vec<Holiday> {
    let mut list = match country {
        Country::FR => france(year),
        Country::ES => spain(year),
        Country::DE => germany(year),
        Country::IT => italy(year),
        Country::BE => belgium(year),
        Country::NL => netherlands(year),
        Country::GB => great_britain(year),
    };
    list.sort_by_key(|h| h.date);
    list
}

/// Easter Sunday of `year` in the Gregorian calendar (anonymous Gregorian computus).
///
/// Years outside the range [`NaiveDate`] can represent are clamped to that range.
pub fn easter_sunday(year: i32) -> NaiveDate {
    let year = year.clamp(NaiveDate::MIN.year() + 1, NaiveDate::MAX.year() - 1);
    // The clamped year is inside chrono's range and Easter falls in March or April, so the
    // date always exists; the fallback only keeps the function total.
    easter(year).unwrap_or(NaiveDate::MIN)
}

/// Easter Sunday of `year`, or `None` when that date cannot be represented.
pub(crate) fn easter(year: i32) -> Option<NaiveDate> {
    // Meeus/Jones/Butcher. Euclidean division keeps the formulas right for years <= 0 of
    // the proleptic calendar too.
    let y = i64::from(year);
    let a = y.rem_euclid(19);
    let b = y.div_euclid(100);
    let c = y.rem_euclid(100);
    let d = b.div_euclid(4);
    let e = b.rem_euclid(4);
    let f = (b + 8).div_euclid(25);
    let g = (b - f + 1).div_euclid(3);
    let h = (19 * a + b - d - g + 15).rem_euclid(30);
    let i = c.div_euclid(4);
    let k = c.rem_euclid(4);
    let l = (32 + 2 * e + 2 * i - h - k).rem_euclid(7);
    let m = (a + 11 * h + 22 * l).div_euclid(451);
    let month = (h + l - 7 * m + 114).div_euclid(31);
    let day = (h + l - 7 * m + 114).rem_euclid(31) + 1;
    NaiveDate::from_ymd_opt(year, month as u32, day as u32)
}

/// Collects holidays, silently dropping dates that do not exist (only at the very ends of
/// chrono's range).
struct Builder {
    year: i32,
    easter: Option<NaiveDate>,
    list: Vec<Holiday>,
}

impl Builder {
    fn new(year: i32) -> Self {
        Self {
            year,
            easter: easter(year),
            list: Vec::with_capacity(12),
        }
    }

    fn fixed(&mut self, month: u32, day: u32, name: &'static str) -> &mut Self {
        if let Some(date) = NaiveDate::from_ymd_opt(self.year, month, day) {
            self.list.push(Holiday { date, name });
        }
        self
    }

    /// A day `days` after (or before, when negative) Easter Sunday.
    fn easter_offset(&mut self, days: i64, name: &'static str) -> &mut Self {
        let date = self
            .easter
            .and_then(|e| e.checked_add_signed(chrono::TimeDelta::days(days)));
        if let Some(date) = date {
            self.list.push(Holiday { date, name });
        }
        self
    }

    fn date(&mut self, date: Option<NaiveDate>, name: &'static str) -> &mut Self {
        if let Some(date) = date {
            self.list.push(Holiday { date, name });
        }
        self
    }

    fn build(&mut self) -> Vec<Holiday> {
        std::mem::take(&mut self.list)
    }
}

const GOOD_FRIDAY: i64 = -2;
const EASTER_MONDAY: i64 = 1;
const ASCENSION: i64 = 39;
const WHIT_MONDAY: i64 = 50;

fn france(year: i32) -> Vec<Holiday> {
    Builder::new(year)
        .fixed(1, 1, "New Year's Day")
        .easter_offset(EASTER_MONDAY, "Easter Monday")
        .fixed(5, 1, "Labour Day")
        .fixed(5, 8, "Victory in Europe Day")
        .easter_offset(ASCENSION, "Ascension Day")
        .easter_offset(WHIT_MONDAY, "Whit Monday")
        .fixed(7, 14, "Bastille Day")
        .fixed(8, 15, "Assumption Day")
        .fixed(11, 1, "All Saints' Day")
        .fixed(11, 11, "Armistice Day")
        .fixed(12, 25, "Christmas Day")
        .build()
}

fn spain(year: i32) -> Vec<Holiday> {
    Builder::new(year)
        .fixed(1, 1, "New Year's Day")
        .fixed(1, 6, "Epiphany")
        .easter_offset(GOOD_FRIDAY, "Good Friday")
        .fixed(5, 1, "Labour Day")
        .fixed(8, 15, "Assumption Day")
        .fixed(10, 12, "National Day of Spain")
        .fixed(11, 1, "All Saints' Day")
        .fixed(12, 6, "Constitution Day")
        .fixed(12, 8, "Immaculate Conception")
        .fixed(12, 25, "Christmas Day")
        .build()
}

fn germany(year: i32) -> Vec<Holiday> {
    let mut b = Builder::new(year);
    b.fixed(1, 1, "New Year's Day")
        .easter_offset(GOOD_FRIDAY, "Good Friday")
        .easter_offset(EASTER_MONDAY, "Easter Monday")
        .fixed(5, 1, "Labour Day")
        .easter_offset(ASCENSION, "Ascension Day")
        .easter_offset(WHIT_MONDAY, "Whit Monday")
        .fixed(12, 25, "Christmas Day")
        .fixed(12, 26, "Second Day of Christmas");
    if year >= 1990 {
        b.fixed(10, 3, "German Unity Day");
    }
    b.build()
}

fn italy(year: i32) -> Vec<Holiday> {
    let mut b = Builder::new(year);
    b.fixed(1, 1, "New Year's Day")
        .fixed(1, 6, "Epiphany")
        .easter_offset(EASTER_MONDAY, "Easter Monday")
        .fixed(4, 25, "Liberation Day")
        .fixed(5, 1, "Labour Day")
        .fixed(6, 2, "Republic Day")
        .fixed(8, 15, "Assumption Day")
        .fixed(11, 1, "All Saints' Day")
        .fixed(12, 8, "Immaculate Conception")
        .fixed(12, 25, "Christmas Day")
        .fixed(12, 26, "St Stephen's Day");
    if year >= 2026 {
        // Restored as a national holiday by a 2025 law, from 2026 on.
        b.fixed(10, 4, "St Francis of Assisi");
    }
    b.build()
}

fn belgium(year: i32) -> Vec<Holiday> {
    Builder::new(year)
        .fixed(1, 1, "New Year's Day")
        .easter_offset(EASTER_MONDAY, "Easter Monday")
        .fixed(5, 1, "Labour Day")
        .easter_offset(ASCENSION, "Ascension Day")
        .easter_offset(WHIT_MONDAY, "Whit Monday")
        .fixed(7, 21, "Belgian National Day")
        .fixed(8, 15, "Assumption Day")
        .fixed(11, 1, "All Saints' Day")
        .fixed(11, 11, "Armistice Day")
        .fixed(12, 25, "Christmas Day")
        .build()
}

fn netherlands(year: i32) -> Vec<Holiday> {
    let mut b = Builder::new(year);
    b.fixed(1, 1, "New Year's Day")
        .easter_offset(EASTER_MONDAY, "Easter Monday")
        .easter_offset(ASCENSION, "Ascension Day")
        .easter_offset(WHIT_MONDAY, "Whit Monday")
        .fixed(12, 25, "Christmas Day")
        .fixed(12, 26, "Second Day of Christmas");

    // King's Day (27 April) since 2014, Queen's Day (30 April) before; either moves one day
    // earlier when it falls on a Sunday.
    let (day, name) = if year >= 2014 {
        (27, "King's Day")
    } else {
        (30, "Queen's Day")
    };
    let date = NaiveDate::from_ymd_opt(year, 4, day).and_then(|d| {
        if d.weekday() == Weekday::Sun {
            d.pred_opt()
        } else {
            Some(d)
        }
    });
    b.date(date, name);

    // Liberation Day is a general day off only in jubilee years (every fifth year).
    if year.rem_euclid(5) == 0 {
        b.fixed(5, 5, "Liberation Day");
    }
    b.build()
}

fn great_britain(year: i32) -> Vec<Holiday> {
    let mut b = Builder::new(year);

    // New Year's Day: a weekend 1 January is observed on the following Monday.
    match NaiveDate::from_ymd_opt(year, 1, 1) {
        Some(d) if is_weekend(d) => {
            b.date(
                next_weekday_on_or_after(d),
                "New Year's Day (substitute day)",
            );
        }
        Some(_) => {
            b.fixed(1, 1, "New Year's Day");
        }
        None => {}
    }

    b.easter_offset(GOOD_FRIDAY, "Good Friday")
        .easter_offset(EASTER_MONDAY, "Easter Monday")
        .date(first_monday(year, 5), "Early May bank holiday")
        .date(last_monday(year, 5), "Spring bank holiday")
        .date(last_monday(year, 8), "Summer bank holiday");

    // Christmas and Boxing Day: each one on a weekend is observed on the next weekday that
    // is not already taken by the other.
    if let Some(christmas) = NaiveDate::from_ymd_opt(year, 12, 25) {
        let (christmas_day, boxing_day) = match christmas.weekday() {
            // Sat 25, Sun 26 → Mon 27, Tue 28.
            Weekday::Sat => (
                christmas.checked_add_days(days(2)),
                christmas.checked_add_days(days(3)),
            ),
            // Sun 25, Mon 26 → Tue 27, Mon 26.
            Weekday::Sun => (
                christmas.checked_add_days(days(2)),
                christmas.checked_add_days(days(1)),
            ),
            // Fri 25, Sat 26 → Fri 25, Mon 28.
            Weekday::Fri => (Some(christmas), christmas.checked_add_days(days(3))),
            _ => (Some(christmas), christmas.checked_add_days(days(1))),
        };
        let christmas_name = if christmas_day == Some(christmas) {
            "Christmas Day"
        } else {
            "Christmas Day (substitute day)"
        };
        let boxing_name = if boxing_day == christmas.checked_add_days(days(1)) {
            "Boxing Day"
        } else {
            "Boxing Day (substitute day)"
        };
        b.date(christmas_day, christmas_name)
            .date(boxing_day, boxing_name);
    }
    b.build()
}

fn days(n: u64) -> chrono::Days {
    chrono::Days::new(n)
}

fn is_weekend(date: NaiveDate) -> bool {
    matches!(date.weekday(), Weekday::Sat | Weekday::Sun)
}

fn next_weekday_on_or_after(date: NaiveDate) -> Option<NaiveDate> {
    match date.weekday() {
        Weekday::Sat => date.checked_add_days(days(2)),
        Weekday::Sun => date.checked_add_days(days(1)),
        _ => Some(date),
    }
}

fn first_monday(year: i32, month: u32) -> Option<NaiveDate> {
    NaiveDate::from_weekday_of_month_opt(year, month, Weekday::Mon, 1)
}

fn last_monday(year: i32, month: u32) -> Option<NaiveDate> {
    // The last Monday is the fifth when it exists, else the fourth.
    NaiveDate::from_weekday_of_month_opt(year, month, Weekday::Mon, 5)
        .or_else(|| NaiveDate::from_weekday_of_month_opt(year, month, Weekday::Mon, 4))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn date(y: i32, m: u32, d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, d).expect("valid test date")
    }

    #[test]
    fn easter_matches_known_dates() {
        assert_eq!(easter_sunday(2024), date(2024, 3, 31));
        assert_eq!(easter_sunday(2025), date(2025, 4, 20));
        assert_eq!(easter_sunday(2038), date(2038, 4, 25));
    }

    #[test]
    fn easter_of_an_unrepresentable_year_is_clamped_not_a_panic() {
        let far = easter_sunday(i32::MAX);
        assert_eq!(far.weekday(), Weekday::Sun);
        assert!(holidays(Country::FR, i32::MAX).is_empty());
        assert!(holidays(Country::GB, i32::MIN).is_empty());
    }

    #[test]
    fn every_list_is_sorted_and_within_its_year() {
        for country in Country::ALL {
            for year in 1990..2060 {
                let list = holidays(country, year);
                for pair in list.windows(2) {
                    // Equal dates happen: Ascension fell on 8 May in 1997 and 2008.
                    assert!(pair[0].date <= pair[1].date, "{country} {year}: {pair:?}");
                }
                assert!(list.iter().all(|h| h.date.year() == year));
            }
        }
    }

    #[test]
    fn british_bank_holidays_never_fall_on_a_weekend() {
        for year in 1990..2100 {
            for h in holidays(Country::GB, year) {
                assert!(!is_weekend(h.date), "{year}: {h:?}");
            }
        }
    }

    #[test]
    fn dutch_kings_day_moves_to_saturday_when_the_27th_is_a_sunday() {
        // 27 April 2025 is a Sunday.
        let list = holidays(Country::NL, 2025);
        assert!(list.contains(&Holiday {
            date: date(2025, 4, 26),
            name: "King's Day"
        }));
    }
}
