//! Amounts, currencies, statutory late interest and recovery fees.
//!
//! This module owns the arithmetic of money: a [`Money`] is a `rust_decimal`
//! amount with an ISO 4217 currency, never a float; rounding follows the
//! currency's minor units. It also owns the ECB rate table ([`RateTable`]),
//! late interest ([`late_interest`]) and the fixed recovery indemnity
//! ([`recovery_indemnity`]). It must not touch storage, HTTP or channels: it
//! computes, and its callers decide what to record or send.

mod interest;
mod rates;

use std::fmt;
use std::path::PathBuf;

use chrono::NaiveDate;
use rust_decimal::{Decimal, RoundingStrategy};
use serde::{Deserialize, Serialize};

pub use interest::{
    InterestBasis, InterestBreakdown, InterestPeriod, Jurisdiction, breakdown_json,
    format_breakdown_table, late_interest, recovery_indemnity,
};
pub use iso_currency::Currency;
pub use rates::RateTable;

/// Everything that can go wrong with amounts, currencies, rate files and
/// interest. Each message names the place (the text, the file and line, the
/// date) and says what would be right.
#[derive(Debug, thiserror::Error)]
pub enum MoneyError {
    /// A currency code that is not an ISO 4217 code.
    #[error("unknown currency code '{code}': expected an ISO 4217 code such as EUR, USD or JPY")]
    UnknownCurrency {
        /// The code as the user wrote it.
        code: String,
    },

    /// An amount that is not a plain decimal number.
    #[error("invalid amount '{text}': {reason}")]
    InvalidAmount {
        /// The text as the user wrote it.
        text: String,
        /// What is wrong with it.
        reason: String,
    },

    /// Two amounts in different currencies were added or subtracted.
    #[error(
        "cannot combine {} with {}: the currencies differ; convert one first",
        left.code(),
        right.code()
    )]
    CurrencyMismatch {
        /// The currency of the left operand.
        left: Currency,
        /// The currency of the right operand.
        right: Currency,
    },

    /// A result too large for a decimal (about 28 significant digits).
    #[error("amount too large: {what} overflows the decimal range")]
    Overflow {
        /// Which computation overflowed.
        what: String,
    },

    /// A jurisdiction name that is not one of FR, ES, EU.
    #[error("unknown jurisdiction '{text}': expected FR, ES or EU")]
    UnknownJurisdiction {
        /// The text as the user wrote it.
        text: String,
    },

    /// A rate file could not be read from disk.
    #[error("cannot read rate file {}: {source}", path.display())]
    RateFileRead {
        /// The file that was asked for.
        path: PathBuf,
        /// Why reading failed.
        source: std::io::Error,
    },

    /// A line of a rate file is malformed.
    #[error("{origin}:{line}: {reason}")]
    RateLine {
        /// The file's name (or another label for where the text came from).
        origin: String,
        /// The 1-based line number.
        line: usize,
        /// What is wrong on that line and what was expected.
        reason: String,
    },

    /// A rate file as a whole is incomplete (no rows, no source line...).
    #[error("{origin}: {reason}")]
    RateFile {
        /// The file's name (or another label for where the text came from).
        origin: String,
        /// What is missing.
        reason: String,
    },

    /// Interest was asked for a day the rate table does not cover.
    #[error(
        "no ECB rate for {date}: the rate table starts on {first}; \
         add the earlier rates to the rate file"
    )]
    DateBeforeRates {
        /// The day whose rate was needed (a half-year's first day for the
        /// statutory rules).
        date: NaiveDate,
        /// The first effective date in the table.
        first: NaiveDate,
    },

    /// The principal schedule given to [`late_interest`] breaks its contract.
    #[error("invalid principal schedule: {reason}")]
    PrincipalSchedule {
        /// Which rule is broken, naming the entry.
        reason: String,
    },

    /// A contractual interest rate below zero.
    #[error("invalid contractual rate {rate} %: a late-interest rate cannot be negative")]
    NegativeRate {
        /// The rate given, in percent per year.
        rate: Decimal,
    },
}

/// An amount of money in one currency. The amount keeps whatever precision it
/// was given; [`Money::rounded`] and `Display` round to the currency's minor
/// units.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Money {
    /// The amount; serialized as a decimal string ("1234.56").
    pub amount: Decimal,
    /// The currency; serialized as its ISO 4217 code ("EUR").
    #[serde(with = "currency_code")]
    pub currency: Currency,
}

impl Money {
    /// An amount in a currency.
    pub fn new(amount: Decimal, currency: Currency) -> Self {
        Money { amount, currency }
    }

    /// Zero in a currency.
    pub fn zero(currency: Currency) -> Self {
        Money::new(Decimal::ZERO, currency)
    }

    /// The same money rounded to the currency's minor units.
    pub fn rounded(self) -> Self {
        Money::new(round(self.amount, self.currency), self.currency)
    }

    /// `self + other`, or an error when the currencies differ or the sum
    /// overflows.
    pub fn checked_add(self, other: Money) -> Result<Money, MoneyError> {
        self.same_currency(other)?;
        let amount = self
            .amount
            .checked_add(other.amount)
            .ok_or_else(|| overflow(format!("{self} + {other}")))?;
        Ok(Money::new(amount, self.currency))
    }

    /// `self - other`, or an error when the currencies differ or the
    /// difference overflows.
    pub fn checked_sub(self, other: Money) -> Result<Money, MoneyError> {
        self.same_currency(other)?;
        let amount = self
            .amount
            .checked_sub(other.amount)
            .ok_or_else(|| overflow(format!("{self} - {other}")))?;
        Ok(Money::new(amount, self.currency))
    }

    fn same_currency(self, other: Money) -> Result<(), MoneyError> {
        if self.currency == other.currency {
            Ok(())
        } else {
            Err(MoneyError::CurrencyMismatch {
                left: self.currency,
                right: other.currency,
            })
        }
    }
}

impl fmt::Display for Money {
    /// `1234.56 EUR`: the amount rounded to the currency's minor units, then
    /// the ISO code. No thousands separator (locale formatting belongs to the
    /// templates).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} {}",
            round(self.amount, self.currency),
            self.currency.code()
        )
    }
}

/// Serde helpers that write a [`Currency`] as its ISO 4217 code and read it
/// back case-insensitively. Usable with `#[serde(with = "...")]` by other
/// modules.
pub mod currency_code {
    use serde::{Deserialize, Deserializer, Serializer};

    use super::{Currency, parse_currency};

    /// Writes the ISO code ("EUR").
    pub fn serialize<S: Serializer>(currency: &Currency, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(currency.code())
    }

    /// Reads an ISO code ("EUR" or "eur").
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Currency, D::Error> {
        let code = String::deserialize(d)?;
        parse_currency(&code).map_err(serde::de::Error::custom)
    }
}

/// The ISO 4217 currency for a code, in any letter case ("EUR", "eur").
/// Surrounding spaces are ignored.
pub fn parse_currency(code: &str) -> Result<Currency, MoneyError> {
    let wanted = code.trim().to_ascii_uppercase();
    Currency::from_code(&wanted).ok_or_else(|| MoneyError::UnknownCurrency {
        code: code.to_string(),
    })
}

/// The number of decimals of the currency's minor unit (EUR 2, JPY 0, KWD 3),
/// or `None` for the few codes ISO 4217 gives no minor unit (gold, SDR, test
/// codes).
pub fn minor_units(currency: Currency) -> Option<u32> {
    currency.exponent().map(u32::from)
}

/// Round to the currency's minor units (EUR 2, JPY 0), half away from zero.
///
/// The result carries exactly that many decimals (`40` becomes `40.00` in
/// EUR), so that it prints as money. A currency without a minor unit in ISO
/// 4217 (XAU, XDR...) is returned unrounded.
pub fn round(amount: Decimal, currency: Currency) -> Decimal {
    let Some(dp) = minor_units(currency) else {
        return amount;
    };
    let mut rounded = amount.round_dp_with_strategy(dp, RoundingStrategy::MidpointAwayFromZero);
    rounded.rescale(dp);
    rounded
}

/// Parse a plain decimal amount: an optional sign, digits, and optionally a
/// `.` followed by digits ("1234.56", "-5", "+0.5"). Surrounding spaces are
/// ignored. There is no float anywhere: the text goes straight to a decimal.
///
/// Refused, with a message saying why: empty text, a comma (decimal or
/// thousands), a thousands separator of any kind, an exponent, a point with
/// no digit on one side, and more digits than a decimal holds.
pub fn parse_amount(text: &str) -> Result<Decimal, MoneyError> {
    let invalid = |reason: &str| MoneyError::InvalidAmount {
        text: text.to_string(),
        reason: reason.to_string(),
    };

    let trimmed = text.trim();
    if trimmed.is_empty() {
        return Err(invalid("it is empty; write a number such as 1234.56"));
    }
    if trimmed.contains(',') {
        return Err(invalid(
            "use '.' as the decimal separator and no thousands separator (1234.56)",
        ));
    }

    let digits = trimmed.strip_prefix(['+', '-']).unwrap_or(trimmed);
    let (whole, fraction) = match digits.split_once('.') {
        Some((whole, fraction)) => (whole, Some(fraction)),
        None => (digits, None),
    };
    let all_digits = |part: &str| !part.is_empty() && part.bytes().all(|b| b.is_ascii_digit());
    if !all_digits(whole) || fraction.is_some_and(|f| !all_digits(f)) {
        let reason = if fraction.is_some_and(|f| f.is_empty()) || whole.is_empty() {
            "a digit is needed on both sides of '.' (0.5, 5.0)"
        } else {
            "only digits, one optional leading sign and one '.' are allowed (1234.56, -5)"
        };
        return Err(invalid(reason));
    }

    Decimal::from_str_exact(trimmed)
        .map_err(|_| invalid("too many digits: a decimal holds at most 28 significant digits"))
}

fn overflow(what: String) -> MoneyError {
    MoneyError::Overflow { what }
}

#[cfg(test)]
mod tests {
    use rust_decimal_macros::dec;

    use super::*;

    #[test]
    fn display_rounds_to_minor_units_and_names_the_code() {
        assert_eq!(
            Money::new(dec!(1234.5), Currency::EUR).to_string(),
            "1234.50 EUR"
        );
        assert_eq!(
            Money::new(dec!(1234.565), Currency::EUR).to_string(),
            "1234.57 EUR"
        );
        assert_eq!(Money::new(dec!(-5), Currency::EUR).to_string(), "-5.00 EUR");
        assert_eq!(
            Money::new(dec!(1234.5), Currency::JPY).to_string(),
            "1235 JPY"
        );
    }

    #[test]
    fn round_is_half_away_from_zero_with_the_currency_scale() {
        assert_eq!(round(dec!(0.125), Currency::EUR).to_string(), "0.13");
        assert_eq!(round(dec!(-0.125), Currency::EUR).to_string(), "-0.13");
        assert_eq!(round(dec!(0.124), Currency::EUR).to_string(), "0.12");
        assert_eq!(round(dec!(40), Currency::EUR).to_string(), "40.00");
        assert_eq!(round(dec!(2.5), Currency::JPY).to_string(), "3");
        assert_eq!(round(dec!(1.2345), Currency::KWD).to_string(), "1.235");
    }

    #[test]
    fn round_leaves_a_currency_without_minor_unit_alone() {
        assert_eq!(round(dec!(1.23456), Currency::XAU), dec!(1.23456));
    }

    #[test]
    fn parse_currency_accepts_any_case_and_names_an_unknown_code() {
        assert_eq!(parse_currency("EUR").unwrap(), Currency::EUR);
        assert_eq!(parse_currency("eur").unwrap(), Currency::EUR);
        assert_eq!(parse_currency(" jpy ").unwrap(), Currency::JPY);
        let err = parse_currency("EUX").unwrap_err();
        assert!(err.to_string().contains("'EUX'"), "{err}");
    }

    #[test]
    fn parse_amount_accepts_plain_decimals() {
        assert_eq!(parse_amount("1234.56").unwrap(), dec!(1234.56));
        assert_eq!(parse_amount("-5").unwrap(), dec!(-5));
        assert_eq!(parse_amount("+0.5").unwrap(), dec!(0.5));
        assert_eq!(parse_amount(" 10 ").unwrap(), dec!(10));
        assert_eq!(parse_amount("0.1").unwrap().to_string(), "0.1");
    }

    #[test]
    fn parse_amount_says_what_is_wrong() {
        let cases = [
            ("", "empty"),
            ("1,5", "decimal separator"),
            ("1 234.56", "only digits"),
            ("1e3", "only digits"),
            ("5.", "both sides"),
            (".5", "both sides"),
            ("--5", "only digits"),
            ("NaN", "only digits"),
            ("12345678901234567890123456789012", "too many digits"),
        ];
        for (text, expected) in cases {
            let err = parse_amount(text).unwrap_err().to_string();
            assert!(err.contains(expected), "{text:?}: {err}");
            assert!(err.contains(&format!("'{text}'")), "{text:?}: {err}");
        }
    }

    #[test]
    fn checked_add_and_sub_refuse_different_currencies() {
        let eur = Money::new(dec!(10.50), Currency::EUR);
        let usd = Money::new(dec!(1), Currency::USD);
        assert_eq!(
            eur.checked_add(eur).unwrap(),
            Money::new(dec!(21.00), Currency::EUR)
        );
        assert_eq!(eur.checked_sub(eur).unwrap().amount, Decimal::ZERO);
        let err = eur.checked_add(usd).unwrap_err();
        assert!(matches!(err, MoneyError::CurrencyMismatch { .. }));
        assert!(
            err.to_string().contains("EUR") && err.to_string().contains("USD"),
            "{err}"
        );
        assert!(eur.checked_sub(usd).is_err());
    }

    #[test]
    fn checked_add_reports_overflow_instead_of_panicking() {
        let max = Money::new(Decimal::MAX, Currency::EUR);
        assert!(matches!(
            max.checked_add(max),
            Err(MoneyError::Overflow { .. })
        ));
    }

    #[test]
    fn money_serializes_amount_and_code_as_strings() {
        let money = Money::new(dec!(12.30), Currency::EUR);
        let json = serde_json::to_value(money).unwrap();
        assert_eq!(
            json,
            serde_json::json!({ "amount": "12.30", "currency": "EUR" })
        );
        let back: Money = serde_json::from_value(json).unwrap();
        assert_eq!(back, money);
    }
}
