//! Checking one record (column name to cell text) and turning it into an [`ImportRow`].

use std::collections::BTreeMap;

use chrono::NaiveDate;
use rust_decimal::Decimal;

use super::{ImportRow, RowError};
use crate::calendar::Country;
use crate::engine::DebtorKind;
use crate::money::{self, Currency};

/// One record as read from the file, before any check.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct Record {
    /// CSV: the physical line where the record starts. JSON: the line of the object.
    pub line: usize,
    /// JSON only: the 1-based index of the object in the array.
    pub object: Option<usize>,
    /// Column name to trimmed text. A column absent from the record is absent here; a JSON
    /// `null` is an empty text.
    pub cells: BTreeMap<String, String>,
}

/// Builds a [`RowError`] for a record, naming the JSON object when there is one.
pub(crate) fn error(file: &str, record: &Record, column: Option<&str>, message: &str) -> RowError {
    let message = match record.object {
        Some(index) => format!("{message} (object {index})"),
        None => message.to_owned(),
    };
    RowError {
        file: file.to_owned(),
        line: record.line,
        column: column.map(str::to_owned),
        message,
    }
}

struct Cells<'a> {
    file: &'a str,
    record: &'a Record,
    errors: Vec<RowError>,
}

impl<'a> Cells<'a> {
    fn error(&mut self, column: &str, message: &str) {
        self.errors
            .push(error(self.file, self.record, Some(column), message));
    }

    /// The cell's text, or `None` when it is absent or empty.
    fn optional(&self, column: &str) -> Option<&'a str> {
        let record: &'a Record = self.record;
        record
            .cells
            .get(column)
            .map(String::as_str)
            .filter(|text| !text.is_empty())
    }

    /// The cell's text, reporting an empty cell. A column missing from a CSV header was
    /// reported once for the header; a key missing from a JSON object is reported here.
    fn required(&mut self, column: &str) -> Option<&'a str> {
        let record: &'a Record = self.record;
        match record.cells.get(column) {
            Some(text) if !text.is_empty() => Some(text.as_str()),
            Some(_) => {
                self.error(column, "required value is empty");
                None
            }
            None if record.object.is_some() => {
                self.error(column, "required key is missing");
                None
            }
            None => None,
        }
    }

    fn country(&mut self, column: &str) -> Option<Option<String>> {
        let Some(text) = self.optional(column) else {
            return Some(None);
        };
        if text.len() != 2 || !text.bytes().all(|b| b.is_ascii_alphabetic()) {
            self.error(
                column,
                &format!("`{text}` is not a country code: use ISO 3166 alpha-2, e.g. FR"),
            );
            return None;
        }
        let code = text.to_ascii_uppercase();
        Some(Some(if code == "UK" { "GB".to_owned() } else { code }))
    }

    fn date(&mut self, column: &str) -> Option<NaiveDate> {
        let text = self.required(column)?;
        let date = parse_date(text);
        if date.is_none() {
            self.error(
                column,
                &format!("`{text}` is not a date: write YYYY-MM-DD, e.g. 2026-01-31"),
            );
        }
        date
    }

    fn amount(&mut self, column: &str, text: &str) -> Option<Decimal> {
        match money::parse_amount(text) {
            Ok(amount) => Some(amount),
            Err(err) => {
                self.error(column, &err.to_string());
                None
            }
        }
    }

    /// Refuses more decimals than the currency's minor unit (trailing zeros do not count).
    fn decimals(&mut self, column: &str, amount: Decimal, currency: Currency) -> bool {
        let Some(allowed) = money::minor_units(currency) else {
            return true;
        };
        if amount.normalize().scale() <= allowed {
            return true;
        }
        self.error(
            column,
            &format!(
                "`{amount}` has more decimals than {} allows ({allowed})",
                currency.code()
            ),
        );
        false
    }

    fn email(&mut self) -> Option<String> {
        let text = self.optional("debtor_email")?;
        let valid = text
            .split_once('@')
            .is_some_and(|(local, domain)| !local.is_empty() && !domain.is_empty())
            && !text.chars().any(char::is_whitespace);
        if !valid {
            self.error(
                "debtor_email",
                &format!("`{text}` is not an email address: write name@example.com"),
            );
        }
        Some(text.to_owned())
    }

    fn phone(&mut self, column: &str) -> Option<String> {
        let text = self.optional(column)?;
        let body = text.strip_prefix('+').unwrap_or(text);
        let allowed = body
            .chars()
            .all(|c| c.is_ascii_digit() || matches!(c, ' ' | '.' | '-' | '(' | ')'));
        let digits = body.chars().filter(char::is_ascii_digit).count();
        if !allowed || digits < 6 {
            self.error(
                column,
                &format!(
                    "`{text}` is not a phone number: write digits, optionally after a +, \
                     e.g. +33 6 12 34 56 78"
                ),
            );
        }
        Some(text.to_owned())
    }
}

/// A strict `YYYY-MM-DD` date.
fn parse_date(text: &str) -> Option<NaiveDate> {
    let bytes = text.as_bytes();
    let shaped = bytes.len() == 10
        && bytes.iter().enumerate().all(|(i, b)| match i {
            4 | 7 => *b == b'-',
            _ => b.is_ascii_digit(),
        });
    if !shaped {
        return None;
    }
    NaiveDate::parse_from_str(text, "%Y-%m-%d").ok()
}

/// The nearest IANA zone name, when one is close enough to be a typo.
fn nearest_zone(text: &str) -> Option<&'static str> {
    let wanted = text.to_ascii_lowercase();
    chrono_tz::TZ_VARIANTS
        .iter()
        .map(|tz| {
            (
                strsim::jaro_winkler(&wanted, &tz.name().to_ascii_lowercase()),
                tz.name(),
            )
        })
        .filter(|(score, _)| *score >= 0.9)
        .max_by(|a, b| a.0.total_cmp(&b.0))
        .map(|(_, name)| name)
}

/// Checks every cell of `record`; returns the row or every problem found in it.
pub(crate) fn check(file: &str, record: &Record) -> Result<ImportRow, Vec<RowError>> {
    let mut cells = Cells {
        file,
        record,
        errors: Vec::new(),
    };

    let client_id = cells.required("client_id");
    let client_name = cells.optional("client_name").map(str::to_owned);
    let client_country = cells.country("client_country");

    let debtor_id = cells.required("debtor_id");
    let debtor_kind =
        cells
            .required("debtor_kind")
            .and_then(|text| match text.to_ascii_lowercase().as_str() {
                "company" => Some(DebtorKind::Company),
                "person" => Some(DebtorKind::Person),
                _ => {
                    cells.error(
                        "debtor_kind",
                        &format!("unknown debtor kind `{text}`: use company or person"),
                    );
                    None
                }
            });
    let debtor_name = cells.required("debtor_name");
    let debtor_country = cells.country("debtor_country");
    let known_country = debtor_country
        .as_ref()
        .and_then(|code| code.as_deref())
        .and_then(|code| code.parse::<Country>().ok());

    let debtor_language = match cells.optional("debtor_language") {
        Some(text) if text.len() == 2 && text.bytes().all(|b| b.is_ascii_alphabetic()) => {
            Some(text.to_ascii_lowercase())
        }
        Some(text) => {
            cells.error(
                "debtor_language",
                &format!("`{text}` is not a language code: use ISO 639-1, e.g. fr"),
            );
            None
        }
        None => Some(
            known_country
                .map_or("en", Country::default_language)
                .to_owned(),
        ),
    };
    let debtor_timezone = match cells.optional("debtor_timezone") {
        Some(text) => match text.parse::<chrono_tz::Tz>() {
            Ok(tz) => Some(tz),
            Err(_) => {
                let hint = match nearest_zone(text) {
                    Some(name) => format!("; did you mean `{name}`?"),
                    None => ": use an IANA name such as Europe/Paris".to_owned(),
                };
                cells.error(
                    "debtor_timezone",
                    &format!("unknown time zone `{text}`{hint}"),
                );
                None
            }
        },
        None => Some(known_country.map_or(chrono_tz::Europe::Paris, Country::default_timezone)),
    };
    let debtor_email = cells.email();
    let debtor_mobile = cells.phone("debtor_mobile");
    let debtor_phone = cells.phone("debtor_phone");
    let debtor_fax = cells.phone("debtor_fax");

    let address_lines: Vec<String> = cells
        .optional("address")
        .map(|text| {
            text.split('|')
                .map(str::trim)
                .filter(|line| !line.is_empty())
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default();
    let postcode = cells.optional("postcode").map(str::to_owned);
    let city = cells.optional("city").map(str::to_owned);
    let siren = cells.optional("siren").and_then(|text| {
        let digits: String = text.chars().filter(|c| *c != ' ').collect();
        if digits.len() == 9 && digits.bytes().all(|b| b.is_ascii_digit()) {
            Some(digits)
        } else {
            cells.error(
                "siren",
                &format!("`{text}` is not a SIREN: it has 9 digits"),
            );
            None
        }
    });
    let vat = cells
        .optional("vat")
        .map(|text| text.replace(' ', "").to_ascii_uppercase());

    let invoice_number = cells.required("invoice_number");
    let issued = cells.date("issued");
    let due = cells.date("due");
    if let (Some(issued), Some(due)) = (issued, due)
        && due < issued
    {
        cells.error(
            "due",
            &format!("due date {due} is before the issue date {issued}"),
        );
    }

    let currency = cells
        .required("currency")
        .and_then(|text| match money::parse_currency(text) {
            Ok(currency) => Some(currency),
            Err(err) => {
                cells.error("currency", &err.to_string());
                None
            }
        });
    let amount = cells
        .required("amount")
        .and_then(|text| cells.amount("amount", text))
        .filter(|amount| {
            let positive = *amount > Decimal::ZERO;
            if !positive {
                cells.error("amount", &format!("`{amount}` must be more than 0"));
            }
            positive
        })
        .filter(|amount| currency.is_none_or(|c| cells.decimals("amount", *amount, c)));
    let open_amount = match cells.optional("open_amount") {
        None => Some(None),
        Some(text) => cells
            .amount("open_amount", text)
            .filter(|open| {
                let negative = *open < Decimal::ZERO;
                if negative {
                    cells.error("open_amount", &format!("`{open}` must not be negative"));
                }
                !negative
            })
            .filter(|open| {
                let above = amount.is_some_and(|amount| *open > amount);
                if let (true, Some(amount)) = (above, amount) {
                    cells.error(
                        "open_amount",
                        &format!("`{open}` is more than the invoice amount `{amount}`"),
                    );
                }
                !above
            })
            .filter(|open| currency.is_none_or(|c| cells.decimals("open_amount", *open, c)))
            .map(Some),
    };

    if !cells.errors.is_empty() {
        return Err(cells.errors);
    }
    let (
        Some(client_id),
        Some(client_country),
        Some(debtor_id),
        Some(debtor_kind),
        Some(debtor_name),
        Some(debtor_country),
        Some(debtor_language),
        Some(debtor_timezone),
        Some(invoice_number),
        Some(issued),
        Some(due),
        Some(amount),
        Some(currency),
        Some(open_amount),
    ) = (
        client_id,
        client_country,
        debtor_id,
        debtor_kind,
        debtor_name,
        debtor_country,
        debtor_language,
        debtor_timezone,
        invoice_number,
        issued,
        due,
        amount,
        currency,
        open_amount,
    )
    else {
        // A required column missing from the CSV header: reported once for the header.
        return Err(Vec::new());
    };

    Ok(ImportRow {
        line: record.line,
        client_id: client_id.to_owned(),
        client_name,
        client_country,
        debtor_id: debtor_id.to_owned(),
        debtor_kind,
        debtor_name: debtor_name.to_owned(),
        debtor_country,
        debtor_language,
        debtor_timezone,
        debtor_email,
        debtor_mobile,
        debtor_phone,
        debtor_fax,
        address_lines,
        postcode,
        city,
        siren,
        vat,
        invoice_number: invoice_number.to_owned(),
        issued,
        due,
        amount: money::round(amount, currency),
        currency,
        open_amount: open_amount.map(|open| money::round(open, currency)),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_must_be_written_year_month_day_in_full() {
        assert_eq!(
            parse_date("2026-01-31"),
            NaiveDate::from_ymd_opt(2026, 1, 31)
        );
        assert_eq!(parse_date("2026-1-31"), None);
        assert_eq!(parse_date("2026-02-30"), None);
        assert_eq!(parse_date("31/01/2026"), None);
    }

    #[test]
    fn a_misspelt_zone_gets_the_nearest_one_suggested() {
        assert_eq!(nearest_zone("europe/pari"), Some("Europe/Paris"));
        assert_eq!(nearest_zone("somewhere"), None);
    }

    #[test]
    fn trailing_zeros_do_not_count_as_decimals() {
        let record = Record::default();
        let mut cells = Cells {
            file: "f",
            record: &record,
            errors: Vec::new(),
        };
        assert!(cells.decimals("amount", Decimal::new(10500, 3), Currency::EUR));
        assert!(!cells.decimals("amount", Decimal::new(105, 1), Currency::JPY));
        assert_eq!(
            cells.errors[0].message,
            "`10.5` has more decimals than JPY allows (0)"
        );
    }
}
