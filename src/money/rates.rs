//! The ECB main refinancing operations rate history, read from a small CSV.
//!
//! This file owns the format of `ecb_rates.csv` and the lookup of the rate in
//! force on a day; it knows nothing of interest rules (see `interest.rs`).

use std::path::Path;

use chrono::NaiveDate;
use rust_decimal::Decimal;

use super::MoneyError;

/// The rate file shipped with relance, compiled in.
const BUILTIN_RATES: &str = include_str!("../../data/ecb_rates.csv");

/// The label that error messages use for the built-in file.
const BUILTIN_ORIGIN: &str = "ecb_rates.csv";

/// The column header line every rate file has before its rows.
const COLUMNS: &str = "effective_date,rate";

/// The ECB main refinancing operations rate history (percent per year), by effective date.
///
/// The text format, one item a line:
///
/// ```text
/// # source: <who publishes the rates, in words>     (required)
/// # as-of: YYYY-MM-DD                               (optional: the table is known complete up to here)
/// # any other comment
/// effective_date,rate                               (required, before the rows)
/// 2025-06-11,2.15                                   (strictly increasing dates, decimal percent)
/// ```
///
/// Blank lines are ignored. A rate applies from its effective date until the
/// day before the next row's; the last row applies to every later day.
#[derive(Clone, Debug)]
pub struct RateTable {
    /// Rows sorted by strictly increasing effective date.
    rows: Vec<(NaiveDate, Decimal)>,
    source: String,
    as_of: Option<NaiveDate>,
}

impl RateTable {
    /// The table shipped in `data/ecb_rates.csv`, compiled into the binary.
    pub fn builtin() -> Self {
        // The shipped file is checked by the unit tests below, so failing here
        // means the build itself is broken.
        match Self::parse(BUILTIN_RATES, BUILTIN_ORIGIN) {
            Ok(table) => table,
            Err(err) => panic!("the built-in rate table is invalid: {err}"),
        }
    }

    /// Reads a user's rate file (for instance an updated copy of the built-in
    /// one), without rebuilding relance. Errors name the file and line.
    pub fn load(path: &Path) -> Result<Self, MoneyError> {
        let text = std::fs::read_to_string(path).map_err(|source| MoneyError::RateFileRead {
            path: path.to_path_buf(),
            source,
        })?;
        Self::parse(&text, &path.display().to_string())
    }

    /// Parses the text of a rate file. `origin` names it in error messages,
    /// which read `<origin>:<line>: <what is wrong>`.
    pub fn parse(text: &str, origin: &str) -> Result<Self, MoneyError> {
        let line_error = |line: usize, reason: String| MoneyError::RateLine {
            origin: origin.to_string(),
            line,
            reason,
        };

        let mut source: Option<String> = None;
        let mut as_of: Option<(usize, NaiveDate)> = None;
        let mut seen_columns = false;
        let mut rows: Vec<(NaiveDate, Decimal)> = Vec::new();

        let text = text.strip_prefix('\u{feff}').unwrap_or(text);
        for (index, raw) in text.lines().enumerate() {
            let line = index + 1;
            let content = raw.trim();
            if content.is_empty() {
                continue;
            }

            if let Some(comment) = content.strip_prefix('#') {
                let comment = comment.trim();
                if let Some(value) = header_value(comment, "source") {
                    if source.is_some() {
                        return Err(line_error(line, "a second '# source:' line".into()));
                    }
                    if value.is_empty() {
                        return Err(line_error(
                            line,
                            "'# source:' needs a text saying where the rates come from".into(),
                        ));
                    }
                    source = Some(value.to_string());
                } else if let Some(value) = header_value(comment, "as-of") {
                    if as_of.is_some() {
                        return Err(line_error(line, "a second '# as-of:' line".into()));
                    }
                    let date = parse_date(value).ok_or_else(|| {
                        line_error(
                            line,
                            format!("as-of date '{value}' is not a date written YYYY-MM-DD"),
                        )
                    })?;
                    as_of = Some((line, date));
                }
                continue;
            }

            if !seen_columns {
                if content.replace(' ', "") != COLUMNS {
                    return Err(line_error(
                        line,
                        format!("expected the column header '{COLUMNS}', found '{content}'"),
                    ));
                }
                seen_columns = true;
                continue;
            }

            let row = parse_row(content).map_err(|reason| line_error(line, reason))?;
            if let Some(&(previous, _)) = rows.last()
                && row.0 <= previous
            {
                return Err(line_error(
                    line,
                    format!(
                        "date {} is not after the previous row's {previous}: \
                         rows must be in strictly increasing date order",
                        row.0
                    ),
                ));
            }
            rows.push(row);
        }

        let file_error = |reason: &str| MoneyError::RateFile {
            origin: origin.to_string(),
            reason: reason.to_string(),
        };
        let Some(source) = source else {
            return Err(file_error(
                "missing the '# source: ...' line saying where the rates come from",
            ));
        };
        let Some(&(last, _)) = rows.last() else {
            return Err(file_error(&format!(
                "no rates: expected a '{COLUMNS}' header then rows such as 2025-06-11,2.15"
            )));
        };
        if let Some((line, date)) = as_of
            && date < last
        {
            return Err(line_error(
                line,
                format!("as-of date {date} is before the last row's {last}; move it forward"),
            ));
        }

        Ok(RateTable {
            rows,
            source,
            as_of: as_of.map(|(_, date)| date),
        })
    }

    /// The rate (percent per year) in force on that day: the rate of the last
    /// row whose effective date is on or before it. `None` before the first
    /// row. Days after the table's last change get the last known rate.
    pub fn rate_on(&self, date: NaiveDate) -> Option<Decimal> {
        let after = self
            .rows
            .partition_point(|&(effective, _)| effective <= date);
        after.checked_sub(1).map(|index| self.rows[index].1)
    }

    /// Where the rates come from, from the file's `# source:` line.
    pub fn source(&self) -> &str {
        &self.source
    }

    /// The date up to which the table is known complete, from the file's
    /// `# as-of:` line (`None` when the file has none).
    pub fn as_of(&self) -> Option<NaiveDate> {
        self.as_of
    }

    /// The first effective date: the table says nothing before it.
    pub fn first_date(&self) -> NaiveDate {
        // `parse` refuses a table without rows.
        self.rows[0].0
    }

    /// The last effective date (the most recent change in the table).
    pub fn last_date(&self) -> NaiveDate {
        self.rows[self.rows.len() - 1].0
    }

    /// All rows, by increasing effective date.
    pub fn rows(&self) -> &[(NaiveDate, Decimal)] {
        &self.rows
    }
}

/// `Some(value)` when `comment` reads `<key>: value` (key in any case).
fn header_value<'a>(comment: &'a str, key: &str) -> Option<&'a str> {
    let (name, value) = comment.split_once(':')?;
    name.trim()
        .eq_ignore_ascii_case(key)
        .then_some(value.trim())
}

fn parse_date(text: &str) -> Option<NaiveDate> {
    let text = text.trim();
    // Exactly YYYY-MM-DD: chrono alone would also take "2025-6-1".
    if text.len() != 10 {
        return None;
    }
    NaiveDate::parse_from_str(text, "%Y-%m-%d").ok()
}

fn parse_row(content: &str) -> Result<(NaiveDate, Decimal), String> {
    let fields: Vec<&str> = content.split(',').map(str::trim).collect();
    let [date, rate] = fields[..] else {
        return Err(format!(
            "expected two fields 'effective_date,rate' (such as 2025-06-11,2.15), found {} in '{content}'",
            fields.len()
        ));
    };
    let date = parse_date(date)
        .ok_or_else(|| format!("effective date '{date}' is not a date written YYYY-MM-DD"))?;
    let rate = super::parse_amount(rate).map_err(|err| match err {
        MoneyError::InvalidAmount { reason, .. } => {
            format!("rate '{rate}' is not a decimal percentage such as 2.15: {reason}")
        }
        other => other.to_string(),
    })?;
    Ok((date, rate))
}

#[cfg(test)]
mod tests {
    use rust_decimal_macros::dec;

    use super::*;

    fn date(y: i32, m: u32, d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, d).unwrap()
    }

    const SMALL: &str = "# source: test rates\n# as-of: 2024-01-01\neffective_date,rate\n\
                         2020-01-01,1.00\n2022-07-27,0.50\n";

    #[test]
    fn builtin_table_parses_and_has_its_header() {
        let table = RateTable::builtin();
        assert!(table.source().contains("European Central Bank"));
        assert_eq!(table.as_of(), Some(date(2025, 6, 11)));
        assert_eq!(table.first_date(), date(2008, 7, 9));
        assert_eq!(table.last_date(), date(2025, 6, 11));
    }

    #[test]
    fn builtin_table_holds_every_rate_of_the_specification() {
        // The MRO history the module promises to ship, change by change.
        let expected = [
            ((2008, 7, 9), dec!(4.25)),
            ((2008, 10, 15), dec!(3.75)),
            ((2008, 11, 12), dec!(3.25)),
            ((2008, 12, 10), dec!(2.50)),
            ((2009, 1, 21), dec!(2.00)),
            ((2009, 3, 11), dec!(1.50)),
            ((2009, 4, 8), dec!(1.25)),
            ((2009, 5, 13), dec!(1.00)),
            ((2011, 4, 13), dec!(1.25)),
            ((2011, 7, 13), dec!(1.50)),
            ((2011, 11, 9), dec!(1.25)),
            ((2011, 12, 14), dec!(1.00)),
            ((2012, 7, 11), dec!(0.75)),
            ((2013, 5, 8), dec!(0.50)),
            ((2013, 11, 13), dec!(0.25)),
            ((2014, 6, 11), dec!(0.15)),
            ((2014, 9, 10), dec!(0.05)),
            ((2016, 3, 16), dec!(0.00)),
            ((2022, 7, 27), dec!(0.50)),
            ((2022, 9, 14), dec!(1.25)),
            ((2022, 11, 2), dec!(2.00)),
            ((2022, 12, 21), dec!(2.50)),
            ((2023, 2, 8), dec!(3.00)),
            ((2023, 3, 22), dec!(3.50)),
            ((2023, 5, 10), dec!(3.75)),
            ((2023, 6, 21), dec!(4.00)),
            ((2023, 8, 2), dec!(4.25)),
            ((2023, 9, 20), dec!(4.50)),
            ((2024, 6, 12), dec!(4.25)),
            ((2024, 9, 18), dec!(3.65)),
            ((2024, 10, 23), dec!(3.40)),
            ((2024, 12, 18), dec!(3.15)),
            ((2025, 2, 5), dec!(2.90)),
            ((2025, 3, 12), dec!(2.65)),
            ((2025, 4, 23), dec!(2.40)),
            ((2025, 6, 11), dec!(2.15)),
        ];
        let rows: Vec<_> = expected
            .iter()
            .map(|&((y, m, d), rate)| (date(y, m, d), rate))
            .collect();
        assert_eq!(RateTable::builtin().rows(), &rows[..]);
    }

    #[test]
    fn rate_on_gives_the_rate_in_force_that_day() {
        let table = RateTable::parse(SMALL, "small.csv").unwrap();
        assert_eq!(table.rate_on(date(2019, 12, 31)), None);
        assert_eq!(table.rate_on(date(2020, 1, 1)), Some(dec!(1.00)));
        assert_eq!(table.rate_on(date(2022, 7, 26)), Some(dec!(1.00)));
        assert_eq!(table.rate_on(date(2022, 7, 27)), Some(dec!(0.50)));
        // Past the last change (and past as-of), the last known rate.
        assert_eq!(table.rate_on(date(2030, 1, 1)), Some(dec!(0.50)));
    }

    #[test]
    fn builtin_rates_on_half_year_starts() {
        let table = RateTable::builtin();
        assert_eq!(table.rate_on(date(2025, 1, 1)), Some(dec!(3.15)));
        assert_eq!(table.rate_on(date(2025, 7, 1)), Some(dec!(2.15)));
        assert_eq!(table.rate_on(date(2023, 1, 1)), Some(dec!(2.50)));
        assert_eq!(table.rate_on(date(2008, 7, 8)), None);
    }

    #[test]
    fn parse_tolerates_blank_lines_crlf_spaces_and_a_bom() {
        let text = "\u{feff}# Source: test\r\n\r\n# a note\r\n effective_date , rate \r\n\
                    2020-01-01 , 1.5\r\n";
        let table = RateTable::parse(text, "t.csv").unwrap();
        assert_eq!(table.source(), "test");
        assert_eq!(table.as_of(), None);
        assert_eq!(table.rows(), &[(date(2020, 1, 1), dec!(1.5))]);
    }

    fn parse_error(text: &str) -> String {
        RateTable::parse(text, "rates.csv").unwrap_err().to_string()
    }

    #[test]
    fn errors_name_the_line_and_say_what_is_wrong() {
        let head = "# source: s\neffective_date,rate\n";
        let cases = [
            (
                format!("{head}2020-01-01,1,5\n"),
                "rates.csv:3: expected two fields",
            ),
            (
                format!("{head}2020-01-01;1.5\n"),
                "rates.csv:3: expected two fields",
            ),
            (
                format!("{head}2020-13-01,1.5\n"),
                "rates.csv:3: effective date '2020-13-01'",
            ),
            (
                format!("{head}01/02/2020,1.5\n"),
                "rates.csv:3: effective date '01/02/2020'",
            ),
            (format!("{head}2020-01-01,abc\n"), "rates.csv:3: rate 'abc'"),
            (format!("{head}2020-01-01,1e2\n"), "rates.csv:3: rate '1e2'"),
            (
                format!("{head}2020-01-01,1.5\n2019-01-01,1.0\n"),
                "rates.csv:4: date 2019-01-01 is not after the previous row's 2020-01-01",
            ),
            (
                format!("{head}2020-01-01,1.5\n2020-01-01,1.0\n"),
                "rates.csv:4: date 2020-01-01 is not after",
            ),
            (
                "# source: s\n2020-01-01,1.5\n".to_string(),
                "rates.csv:2: expected the column header",
            ),
            (
                "# source: s\n# as-of: 2019-01-01\neffective_date,rate\n2020-01-01,1\n".to_string(),
                "rates.csv:2: as-of date 2019-01-01 is before the last row's 2020-01-01",
            ),
            (
                "# source: s\n# as-of: soon\n".to_string(),
                "rates.csv:2: as-of date 'soon'",
            ),
            (
                "# source:\n".to_string(),
                "rates.csv:1: '# source:' needs a text",
            ),
            (
                "# source: a\n# source: b\n".to_string(),
                "rates.csv:2: a second '# source:'",
            ),
        ];
        for (text, expected) in cases {
            let err = parse_error(&text);
            assert!(
                err.starts_with(expected),
                "{text:?}\n  gave: {err}\n  want: {expected}"
            );
        }
    }

    #[test]
    fn a_file_without_source_or_rows_is_refused() {
        assert!(
            parse_error("effective_date,rate\n2020-01-01,1\n")
                .starts_with("rates.csv: missing the '# source: ...' line")
        );
        assert!(
            parse_error("# source: s\neffective_date,rate\n").starts_with("rates.csv: no rates")
        );
        assert!(parse_error("").starts_with("rates.csv: missing"));
    }
}
