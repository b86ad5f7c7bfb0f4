//! Business days: which dates count, and arithmetic in business days.
//!
//! A business day is a Monday to Friday that is not a national public holiday of the
//! calendar's country. Lookups are answered from a per-country bitmap built once per process
//! for the years 1900 to 2199; other years are computed on demand, correctly but more slowly.

use std::fmt;
use std::sync::OnceLock;

use chrono::{Datelike, NaiveDate, Weekday};

use super::Country;
use super::holidays::{Holiday, holidays};

/// First year answered from the precomputed table.
const TABLE_FIRST_YEAR: i32 = 1900;
/// Last year answered from the precomputed table.
const TABLE_LAST_YEAR: i32 = 2199;

/// The business-day calendar of a country, or a plain Monday–Friday week.
///
/// Cheap to create and to clone: the holiday table of a country is built on first use and
/// shared by every calendar of that country.
#[derive(Clone)]
pub struct Calendar {
    country: Option<Country>,
    table: Option<&'static Table>,
}

impl Calendar {
    /// `None`: Monday–Friday are business days, no holidays.
    pub fn new(country: Option<Country>) -> Self {
        Self {
            country,
            table: country.map(Table::of),
        }
    }

    /// The country whose holidays this calendar skips, if any.
    pub fn country(&self) -> Option<Country> {
        self.country
    }

    /// Whether `date` is a Monday to Friday that is not a public holiday.
    #[inline]
    pub fn is_business_day(&self, date: NaiveDate) -> bool {
        if let Some(table) = self.table
            && let Some(answer) = table.lookup(date)
        {
            return answer;
        }
        self.compute_is_business_day(date)
    }

    /// The public holiday on `date`, if there is one (whatever the weekday).
    pub fn holiday(&self, date: NaiveDate) -> Option<Holiday> {
        let country = self.country?;
        holidays(country, date.year())
            .into_iter()
            .find(|h| h.date == date)
    }

    /// n > 0: the n-th business day after `date`; n < 0: the |n|-th business day before;
    /// n == 0: `date` itself if it is a business day, else the next business day.
    ///
    /// `date` itself need not be a business day: one business day after a Saturday is the
    /// following Monday (when it is not a holiday). A result beyond the dates chrono can
    /// represent saturates at [`NaiveDate::MAX`] or [`NaiveDate::MIN`].
    pub fn add_business_days(&self, date: NaiveDate, n: i64) -> NaiveDate {
        match n {
            0 => self.next_business_day(date),
            n if n > 0 => self.forward(date, n.unsigned_abs()),
            n => self.backward(date, n.unsigned_abs()),
        }
    }

    /// `date` itself if it is a business day, else the first business day after it.
    pub fn next_business_day(&self, date: NaiveDate) -> NaiveDate {
        if self.is_business_day(date) {
            date
        } else {
            self.forward(date, 1)
        }
    }

    /// `date` itself if it is a business day, else the last business day before it.
    pub fn previous_business_day(&self, date: NaiveDate) -> NaiveDate {
        if self.is_business_day(date) {
            date
        } else {
            self.backward(date, 1)
        }
    }

    /// Number of business days in `year`.
    pub fn business_days_in_year(&self, year: i32) -> u32 {
        if let Some(table) = self.table
            && let Some(count) = table.year_count(year)
        {
            return count;
        }
        self.compute_business_days_in_year(year)
    }

    /// The `k`-th business day strictly after `date` (k >= 1).
    fn forward(&self, mut date: NaiveDate, mut k: u64) -> NaiveDate {
        loop {
            // On 31 December, skip the whole next year when the count goes past it.
            if date.month() == 12 && date.day() == 31 {
                let next_year = u64::from(self.business_days_in_year(date.year() + 1));
                if k > next_year {
                    let Some(end) = NaiveDate::from_ymd_opt(date.year() + 1, 12, 31) else {
                        return NaiveDate::MAX;
                    };
                    k -= next_year;
                    date = end;
                    continue;
                }
            }
            let Some(next) = date.succ_opt() else {
                return NaiveDate::MAX;
            };
            date = next;
            if self.is_business_day(date) {
                k -= 1;
                if k == 0 {
                    return date;
                }
            }
        }
    }

    /// The `k`-th business day strictly before `date` (k >= 1).
    fn backward(&self, mut date: NaiveDate, mut k: u64) -> NaiveDate {
        loop {
            // On 1 January, skip the whole previous year when the count goes past it.
            if date.month() == 1 && date.day() == 1 {
                let previous_year = u64::from(self.business_days_in_year(date.year() - 1));
                if k > previous_year {
                    let Some(start) = NaiveDate::from_ymd_opt(date.year() - 1, 1, 1) else {
                        return NaiveDate::MIN;
                    };
                    k -= previous_year;
                    date = start;
                    continue;
                }
            }
            let Some(previous) = date.pred_opt() else {
                return NaiveDate::MIN;
            };
            date = previous;
            if self.is_business_day(date) {
                k -= 1;
                if k == 0 {
                    return date;
                }
            }
        }
    }

    fn compute_is_business_day(&self, date: NaiveDate) -> bool {
        if is_weekend(date) {
            return false;
        }
        match self.country {
            None => true,
            Some(country) => !holidays(country, date.year())
                .iter()
                .any(|h| h.date == date),
        }
    }

    fn compute_business_days_in_year(&self, year: i32) -> u32 {
        let Some(first) = NaiveDate::from_ymd_opt(year, 1, 1) else {
            return 0;
        };
        // 52 full weeks, plus the one or two days left over, which fall on the same weekdays
        // as 1 and 2 January.
        let mut weekdays = 52 * 5;
        if !is_weekend(first) {
            weekdays += 1;
        }
        if first.leap_year()
            && let Some(second) = first.succ_opt()
            && !is_weekend(second)
        {
            weekdays += 1;
        }
        let weekday_holidays = match self.country {
            None => 0,
            Some(country) => holidays(country, year)
                .iter()
                .filter(|h| !is_weekend(h.date))
                .count() as u32,
        };
        weekdays - weekday_holidays
    }
}

impl Default for Calendar {
    /// Monday–Friday, no holidays.
    fn default() -> Self {
        Self::new(None)
    }
}

impl PartialEq for Calendar {
    fn eq(&self, other: &Self) -> bool {
        self.country == other.country
    }
}

impl Eq for Calendar {}

impl fmt::Debug for Calendar {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Calendar")
            .field("country", &self.country)
            .finish()
    }
}

fn is_weekend(date: NaiveDate) -> bool {
    matches!(date.weekday(), Weekday::Sat | Weekday::Sun)
}

/// One bit per day of [`TABLE_FIRST_YEAR`]..=[`TABLE_LAST_YEAR`], set on business days,
/// and the number of business days of each year.
struct Table {
    /// `num_days_from_ce` of 1 January of the first year.
    first_day: i32,
    days: u32,
    bits: Vec<u64>,
    per_year: Vec<u16>,
}

static TABLES: [OnceLock<Table>; Country::ALL.len()] = [const { OnceLock::new() }; 7];

impl Table {
    fn of(country: Country) -> &'static Table {
        TABLES[country as usize].get_or_init(|| Table::build(country))
    }

    fn build(country: Country) -> Table {
        let first = NaiveDate::from_ymd_opt(TABLE_FIRST_YEAR, 1, 1).unwrap_or(NaiveDate::MIN);
        let last = NaiveDate::from_ymd_opt(TABLE_LAST_YEAR, 12, 31).unwrap_or(NaiveDate::MIN);
        let first_day = first.num_days_from_ce();
        let days = (last.num_days_from_ce() - first_day + 1) as u32;
        let mut bits = vec![0u64; days.div_ceil(64) as usize];
        let mut per_year = Vec::with_capacity((TABLE_LAST_YEAR - TABLE_FIRST_YEAR + 1) as usize);

        for year in TABLE_FIRST_YEAR..=TABLE_LAST_YEAR {
            let off: Vec<NaiveDate> = holidays(country, year)
                .into_iter()
                .map(|h| h.date)
                .collect();
            let mut count = 0u16;
            let Some(start) = NaiveDate::from_ymd_opt(year, 1, 1) else {
                continue;
            };
            for date in start.iter_days().take_while(|d| d.year() == year) {
                if is_weekend(date) || off.contains(&date) {
                    continue;
                }
                let index = (date.num_days_from_ce() - first_day) as usize;
                bits[index / 64] |= 1 << (index % 64);
                count += 1;
            }
            per_year.push(count);
        }

        Table {
            first_day,
            days,
            bits,
            per_year,
        }
    }

    #[inline]
    fn lookup(&self, date: NaiveDate) -> Option<bool> {
        let index = date.num_days_from_ce().wrapping_sub(self.first_day) as u32;
        if index >= self.days {
            return None;
        }
        let word = self.bits[(index / 64) as usize];
        Some(word & (1 << (index % 64)) != 0)
    }

    fn year_count(&self, year: i32) -> Option<u32> {
        let index = usize::try_from(year.checked_sub(TABLE_FIRST_YEAR)?).ok()?;
        self.per_year.get(index).map(|c| u32::from(*c))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn date(y: i32, m: u32, d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, d).expect("valid test date")
    }

    #[test]
    fn table_agrees_with_direct_computation() {
        for country in Country::ALL {
            let cal = Calendar::new(Some(country));
            for year in [TABLE_FIRST_YEAR, 1999, 2026, TABLE_LAST_YEAR] {
                let mut day = date(year, 1, 1);
                while day.year() == year {
                    assert_eq!(
                        cal.is_business_day(day),
                        cal.compute_is_business_day(day),
                        "{country} {day}"
                    );
                    day = day.succ_opt().unwrap();
                }
                assert_eq!(
                    cal.business_days_in_year(year),
                    cal.compute_business_days_in_year(year)
                );
            }
        }
    }

    #[test]
    fn years_outside_the_table_are_still_answered() {
        let cal = Calendar::new(Some(Country::FR));
        // 14 July 2250 is a Sunday; 14 July 2251 a Monday.
        assert!(!cal.is_business_day(date(2251, 7, 14)));
        assert!(cal.is_business_day(date(2251, 7, 15)));
        assert!(!cal.is_business_day(date(1850, 12, 25)));
    }

    #[test]
    fn huge_counts_skip_years_and_saturate_at_the_end_of_time() {
        let cal = Calendar::new(Some(Country::DE));
        let start = date(2026, 1, 2);
        let far = cal.add_business_days(start, 250 * 1000);
        assert!(cal.is_business_day(far));
        assert_eq!(cal.add_business_days(far, -250 * 1000), start);

        assert_eq!(cal.add_business_days(start, i64::MAX), NaiveDate::MAX);
        assert_eq!(cal.add_business_days(start, i64::MIN), NaiveDate::MIN);
    }

    #[test]
    fn calendars_compare_by_country() {
        assert_eq!(
            Calendar::new(Some(Country::FR)),
            Calendar::new(Some(Country::FR))
        );
        assert_ne!(Calendar::new(Some(Country::FR)), Calendar::default());
        assert_eq!(
            format!("{:?}", Calendar::new(Some(Country::IT))),
            "Calendar { country: Some(IT) }"
        );
    }
}
