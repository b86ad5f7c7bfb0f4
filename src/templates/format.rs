//! Locale formatting of amounts and dates for `fr`, `en` and `es`; any other language is
//! formatted the English way.

use chrono::{Datelike, NaiveDate};
use iso_currency::Currency;
use rust_decimal::{Decimal, RoundingStrategy};

/// Narrow no-break space: the French thousands separator.
const NARROW_NBSP: char = '\u{202f}';
/// No-break space: between a French or Spanish amount and its currency symbol.
const NBSP: char = '\u{a0}';

/// How long a date is written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DateStyle {
    /// `15/03/2026` in fr and es, `15 March 2026` in en.
    Short,
    /// `15 mars 2026`, `15 March 2026`, `15 de marzo de 2026`.
    Long,
}

/// Why an amount or a date could not be formatted.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum FormatError {
    #[error("`{0}` is not an ISO 4217 currency code (write e.g. \"EUR\")")]
    UnknownCurrency(String),
    #[error("`{0}` is not a decimal amount (write e.g. \"1234.50\")")]
    BadAmount(String),
    #[error("`{0}` is not a date (write YYYY-MM-DD, or an RFC 3339 date-time)")]
    BadDate(String),
    #[error("`{0}` is not a date style (write \"short\" or \"long\")")]
    BadDateStyle(String),
}

/// Formats `amount` in `currency` the way `lang` writes money, rounded half away from zero
/// to the currency's minor unit (2 decimals for EUR, none for JPY).
///
/// `fr`: `1 234,56 €` (narrow no-break space between thousands, no-break space before the
/// symbol); `en`: `€1,234.56`; `es`: `1.234,56 €`. With `plain`, every special space becomes
/// an ordinary one, for channels limited to a basic character set such as SMS.
pub fn format_money(
    amount: Decimal,
    currency: &str,
    lang: &str,
    plain: bool,
) -> Result<String, FormatError> {
    let code = currency.trim().to_ascii_uppercase();
    let Some(cur) = Currency::from_code(&code) else {
        return Err(FormatError::UnknownCurrency(currency.to_owned()));
    };
    let exponent = u32::from(cur.exponent().unwrap_or(2));

    let mut rounded =
        amount.round_dp_with_strategy(exponent, RoundingStrategy::MidpointAwayFromZero);
    if rounded.is_zero() {
        rounded.set_sign_positive(true);
    }
    let sign = if rounded.is_sign_negative() { "-" } else { "" };
    let number = group_digits(rounded.abs(), exponent, lang, plain);
    let symbol = symbol_of(&code);
    let space = if plain { ' ' } else { NBSP };

    Ok(match lang {
        "fr" | "es" => format!("{sign}{number}{space}{symbol}"),
        _ if symbol.chars().count() == 1 => format!("{sign}{symbol}{number}"),
        _ => format!("{sign}{symbol}{space}{number}"),
    })
}

/// Formats a plain decimal number with the separators of `lang`, keeping its decimals
/// (`1234.5` → `1 234,5` in fr).
pub fn format_number(value: Decimal, lang: &str, plain: bool) -> String {
    let sign = if value.is_sign_negative() && !value.is_zero() {
        "-"
    } else {
        ""
    };
    format!(
        "{sign}{}",
        group_digits(value.abs(), value.scale(), lang, plain)
    )
}

/// Formats a calendar date the way `lang` writes it.
pub fn format_date(date: NaiveDate, lang: &str, style: DateStyle) -> String {
    let (day, month, year) = (date.day(), date.month0() as usize, date.year());
    match (lang, style) {
        ("fr", DateStyle::Short) | ("es", DateStyle::Short) => {
            format!("{day:02}/{:02}/{year}", month + 1)
        }
        ("fr", DateStyle::Long) if day == 1 => format!("1er {} {year}", FR_MONTHS[month]),
        ("fr", DateStyle::Long) => format!("{day} {} {year}", FR_MONTHS[month]),
        ("es", DateStyle::Long) => format!("{day} de {} de {year}", ES_MONTHS[month]),
        _ => format!("{day} {} {year}", EN_MONTHS[month]),
    }
}

/// Reads a date written `YYYY-MM-DD`, or the local date of an RFC 3339 date-time (the date
/// in the offset it is written with, not in UTC).
pub(crate) fn parse_date(text: &str) -> Result<NaiveDate, FormatError> {
    let text = text.trim();
    if let Ok(date) = NaiveDate::parse_from_str(text, "%Y-%m-%d") {
        return Ok(date);
    }
    chrono::DateTime::parse_from_rfc3339(text)
        .map(|moment| moment.date_naive())
        .map_err(|_| FormatError::BadDate(text.to_owned()))
}

/// Reads a decimal amount written with a dot (`"1234.50"`, `"-12"`).
pub(crate) fn parse_amount(text: &str) -> Result<Decimal, FormatError> {
    text.trim()
        .parse::<Decimal>()
        .map_err(|_| FormatError::BadAmount(text.to_owned()))
}

impl std::str::FromStr for DateStyle {
    type Err = FormatError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "short" => Ok(DateStyle::Short),
            "long" => Ok(DateStyle::Long),
            other => Err(FormatError::BadDateStyle(other.to_owned())),
        }
    }
}

/// The symbol printed for a currency: the usual sign for the few that have an unambiguous
/// one, the ISO code otherwise (`CHF`, `CAD`, `SEK`…).
fn symbol_of(code: &str) -> &str {
    match code {
        "EUR" => "€",
        "GBP" => "£",
        "USD" => "$",
        "JPY" => "¥",
        other => other,
    }
}

/// Writes a non-negative value with exactly `decimals` decimals and the separators of `lang`.
fn group_digits(value: Decimal, decimals: u32, lang: &str, plain: bool) -> String {
    let (group, point) = match lang {
        "fr" if plain => (' ', ','),
        "fr" => (NARROW_NBSP, ','),
        "es" => ('.', ','),
        _ => (',', '.'),
    };

    let mut fixed = value;
    fixed.rescale(decimals);
    let text = fixed.to_string();
    let (int_part, frac_part) = match text.split_once('.') {
        Some((i, f)) => (i, Some(f)),
        None => (text.as_str(), None),
    };

    let mut out = String::with_capacity(text.len() + text.len() / 3);
    for (i, digit) in int_part.chars().enumerate() {
        if i > 0 && (int_part.len() - i) % 3 == 0 {
            out.push(group);
        }
        out.push(digit);
    }
    if let Some(frac) = frac_part {
        out.push(point);
        out.push_str(frac);
    }
    out
}

const FR_MONTHS: [&str; 12] = [
    "janvier",
    "février",
    "mars",
    "avril",
    "mai",
    "juin",
    "juillet",
    "août",
    "septembre",
    "octobre",
    "novembre",
    "décembre",
];
const EN_MONTHS: [&str; 12] = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
];
const ES_MONTHS: [&str; 12] = [
    "enero",
    "febrero",
    "marzo",
    "abril",
    "mayo",
    "junio",
    "julio",
    "agosto",
    "septiembre",
    "octubre",
    "noviembre",
    "diciembre",
];

#[cfg(test)]
mod tests {
    use rust_decimal_macros::dec;

    use super::*;

    fn money(amount: Decimal, currency: &str, lang: &str) -> String {
        format_money(amount, currency, lang, false).expect("formats")
    }

    #[test]
    fn french_money_groups_thousands_with_a_narrow_no_break_space() {
        assert_eq!(money(dec!(1234.56), "EUR", "fr"), "1\u{202f}234,56\u{a0}€");
        assert_eq!(
            money(dec!(1234567.8), "EUR", "fr"),
            "1\u{202f}234\u{202f}567,80\u{a0}€"
        );
        assert_eq!(money(dec!(999.999), "EUR", "fr"), "1\u{202f}000,00\u{a0}€");
    }

    #[test]
    fn english_money_puts_the_symbol_first() {
        assert_eq!(money(dec!(1234.56), "EUR", "en"), "€1,234.56");
        assert_eq!(money(dec!(1234.56), "GBP", "en"), "£1,234.56");
        assert_eq!(money(dec!(1234.56), "CHF", "en"), "CHF\u{a0}1,234.56");
    }

    #[test]
    fn spanish_money_groups_with_dots() {
        assert_eq!(money(dec!(1234.56), "EUR", "es"), "1.234,56\u{a0}€");
        assert_eq!(money(dec!(123), "EUR", "es"), "123,00\u{a0}€");
    }

    #[test]
    fn negative_and_zero_amounts() {
        assert_eq!(money(dec!(-1234.5), "EUR", "fr"), "-1\u{202f}234,50\u{a0}€");
        assert_eq!(money(dec!(-1234.5), "EUR", "en"), "-€1,234.50");
        assert_eq!(money(dec!(0), "EUR", "en"), "€0.00");
        assert_eq!(
            money(dec!(-0.001), "EUR", "fr"),
            "0,00\u{a0}€",
            "no minus on a rounded zero"
        );
    }

    #[test]
    fn yen_has_no_decimals_and_dinar_three() {
        assert_eq!(money(dec!(1234.56), "JPY", "en"), "¥1,235");
        assert_eq!(money(dec!(1234), "JPY", "fr"), "1\u{202f}234\u{a0}¥");
        assert_eq!(money(dec!(1.2345), "KWD", "en"), "KWD\u{a0}1.235");
    }

    #[test]
    fn halves_round_away_from_zero() {
        assert_eq!(money(dec!(0.125), "EUR", "en"), "€0.13");
        assert_eq!(money(dec!(-0.125), "EUR", "en"), "-€0.13");
    }

    #[test]
    fn plain_money_uses_ordinary_spaces_only() {
        let text = format_money(dec!(1234.56), "EUR", "fr", true).expect("formats");
        assert_eq!(text, "1 234,56 €");
    }

    #[test]
    fn an_unknown_currency_is_an_error() {
        assert_eq!(
            format_money(dec!(1), "EURO", "fr", false),
            Err(FormatError::UnknownCurrency("EURO".to_owned()))
        );
        assert_eq!(
            money(dec!(1), "eur", "en"),
            "€1.00",
            "codes are read case-blind"
        );
    }

    #[test]
    fn other_languages_format_the_english_way() {
        assert_eq!(money(dec!(1234.56), "EUR", "de"), "€1,234.56");
        let day = NaiveDate::from_ymd_opt(2026, 3, 15).expect("a date");
        assert_eq!(format_date(day, "de", DateStyle::Short), "15 March 2026");
    }

    #[test]
    fn dates_by_locale() {
        let day = NaiveDate::from_ymd_opt(2026, 3, 15).expect("a date");
        assert_eq!(format_date(day, "fr", DateStyle::Short), "15/03/2026");
        assert_eq!(format_date(day, "en", DateStyle::Short), "15 March 2026");
        assert_eq!(format_date(day, "es", DateStyle::Short), "15/03/2026");
        assert_eq!(format_date(day, "fr", DateStyle::Long), "15 mars 2026");
        assert_eq!(format_date(day, "en", DateStyle::Long), "15 March 2026");
        assert_eq!(
            format_date(day, "es", DateStyle::Long),
            "15 de marzo de 2026"
        );
    }

    #[test]
    fn the_first_of_the_month_is_written_1er_in_french() {
        let day = NaiveDate::from_ymd_opt(2026, 8, 1).expect("a date");
        assert_eq!(format_date(day, "fr", DateStyle::Long), "1er août 2026");
        assert_eq!(format_date(day, "fr", DateStyle::Short), "01/08/2026");
        assert_eq!(
            format_date(day, "es", DateStyle::Long),
            "1 de agosto de 2026"
        );
    }

    #[test]
    fn a_date_time_gives_its_local_date_not_the_utc_one() {
        let day = parse_date("2026-03-15T23:30:00-05:00").expect("parses");
        assert_eq!(day, NaiveDate::from_ymd_opt(2026, 3, 15).expect("a date"));
        assert_eq!(parse_date(" 2026-03-15 "), Ok(day));
        assert!(matches!(
            parse_date("15/03/2026"),
            Err(FormatError::BadDate(_))
        ));
    }

    #[test]
    fn numbers_keep_their_decimals() {
        assert_eq!(format_number(dec!(1234.5), "fr", false), "1\u{202f}234,5");
        assert_eq!(format_number(dec!(-1234), "en", false), "-1,234");
        assert_eq!(format_number(dec!(12.75), "es", false), "12,75");
    }

    #[test]
    fn amounts_are_read_as_decimals() {
        assert_eq!(parse_amount("1234.50"), Ok(dec!(1234.50)));
        assert!(matches!(
            parse_amount("1 234,50"),
            Err(FormatError::BadAmount(_))
        ));
    }
}
