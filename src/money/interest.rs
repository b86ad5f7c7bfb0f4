//! Late interest and the fixed recovery indemnity, with their printed forms.
//!
//! This file owns the legal arithmetic: which rate applies on which day, how a
//! span is cut into periods, how each period is counted and rounded. It reads
//! rates from a [`RateTable`] and does no I/O of its own.

use std::fmt;
use std::str::FromStr;

use chrono::{Datelike, NaiveDate};
use rust_decimal::Decimal;
use rust_decimal_macros::dec;
use serde_json::{Value, json};

use super::{Currency, MoneyError, RateTable, round};

/// Days in the year of the day-count convention (actual/365, every
/// jurisdiction, leap years included).
const DAYS_PER_YEAR: Decimal = dec!(365);

/// The fixed recovery indemnity per invoice, in euros.
const INDEMNITY_EUR: Decimal = dec!(40);

/// A legal system whose statutory late-interest rule relance knows.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
pub enum Jurisdiction {
    /// France, Code de commerce L441-10: ECB rate + 10 points.
    FR,
    /// Spain, Ley 3/2004 art. 7: ECB rate + 8 points.
    ES,
    /// The EU default, directive 2011/7/EU art. 2: ECB rate + 8 points.
    EU,
}

impl Jurisdiction {
    /// Percentage points added to the ECB reference rate.
    pub fn margin(self) -> Decimal {
        match self {
            Jurisdiction::FR => dec!(10),
            Jurisdiction::ES | Jurisdiction::EU => dec!(8),
        }
    }

    /// The text of law that sets the rule, for people reading a breakdown.
    pub fn legal_basis(self) -> &'static str {
        match self {
            Jurisdiction::FR => "Code de commerce L441-10",
            Jurisdiction::ES => "Ley 3/2004",
            Jurisdiction::EU => "Directive 2011/7/EU",
        }
    }
}

impl fmt::Display for Jurisdiction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let code = match self {
            Jurisdiction::FR => "FR",
            Jurisdiction::ES => "ES",
            Jurisdiction::EU => "EU",
        };
        f.write_str(code)
    }
}

impl FromStr for Jurisdiction {
    type Err = MoneyError;

    /// "FR", "fr", "Es", "eu"... (surrounding spaces ignored).
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        match text.trim().to_ascii_uppercase().as_str() {
            "FR" => Ok(Jurisdiction::FR),
            "ES" => Ok(Jurisdiction::ES),
            "EU" => Ok(Jurisdiction::EU),
            _ => Err(MoneyError::UnknownJurisdiction {
                text: text.to_string(),
            }),
        }
    }
}

/// Which rate late interest runs at.
// TODO: the statutory bases are the business-to-business rules only. A
// consumer debt runs at another rate (in France the taux de l'intérêt légal,
// published each half-year), which this module has no table for; callers pass
// it as a contractual rate. For a creditor in a non-euro member state the EU
// rule uses its national central bank's rate, not the ECB's: also not covered.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum InterestBasis {
    /// The statutory rate between businesses in that jurisdiction: the ECB
    /// main refinancing rate in force on the first day of each half-year
    /// (1 January, 1 July), plus the jurisdiction's margin.
    Statutory(Jurisdiction),
    /// A rate agreed in the contract, fixed for the whole span.
    Contractual {
        /// Percent per year; must not be negative.
        rate: Decimal,
    },
}

/// One stretch of days with the same rate and the same open principal.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct InterestPeriod {
    /// First day counted (inclusive).
    pub from: NaiveDate,
    /// Last day counted (inclusive).
    pub to: NaiveDate,
    /// Number of days counted, `to - from + 1`.
    pub days: i64,
    /// Percent per year applied in the period.
    pub rate: Decimal,
    /// Open principal during the period, as the caller gave it.
    pub principal: Decimal,
    /// `principal × rate/100 × days/365`, rounded to minor units.
    pub amount: Decimal,
}

/// Late interest, period by period, plus the recovery indemnity.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct InterestBreakdown {
    /// The currency of every amount in the breakdown.
    #[serde(with = "super::currency_code")]
    pub currency: Currency,
    /// The periods, in date order, without gaps except where the principal
    /// was zero.
    pub periods: Vec<InterestPeriod>,
    /// Sum of the rounded period amounts.
    pub interest: Decimal,
    /// The fixed recovery indemnity ([`recovery_indemnity`]); `late_interest`
    /// leaves it at zero, [`InterestBreakdown::with_indemnity`] sets it.
    pub indemnity: Decimal,
    /// `interest + indemnity`.
    pub total: Decimal,
    /// The `as-of` date of the rate table used, when a statutory rate was
    /// computed from it; a caller warns when the span ends after it, since an
    /// ECB change after that date is unknown to the table.
    pub rates_as_of: Option<NaiveDate>,
}

impl InterestBreakdown {
    /// An empty breakdown: no period, everything zero.
    pub fn empty(currency: Currency) -> Self {
        let zero = round(Decimal::ZERO, currency);
        InterestBreakdown {
            currency,
            periods: Vec::new(),
            interest: zero,
            indemnity: zero,
            total: zero,
            rates_as_of: None,
        }
    }

    /// The same breakdown with that indemnity, and the total updated.
    pub fn with_indemnity(mut self, indemnity: Decimal) -> Result<Self, MoneyError> {
        self.indemnity = round(indemnity, self.currency);
        self.total = self
            .interest
            .checked_add(self.indemnity)
            .ok_or_else(|| overflow("interest + indemnity"))?;
        Ok(self)
    }

    /// True when the last counted day is after the rate table's `as-of`
    /// date, so that an ECB change the table does not know could apply.
    pub fn beyond_rates_as_of(&self) -> bool {
        match (self.rates_as_of, self.periods.last()) {
            (Some(as_of), Some(last)) => last.to > as_of,
            _ => false,
        }
    }
}

/// Late interest on an open principal that may change over time.
///
/// Interest runs from the day after `due` to `until`, both included; nothing
/// is due when `until <= due`. A single amount is `&[(due, amount)]`.
///
/// The principal schedule:
/// - each entry `(date, amount)` says: from `date` on (that day included),
///   the open principal is `amount`, until the next entry's date;
/// - dates strictly increase; amounts are zero or more (a fully paid
///   invoice is `amount = 0`, and its days are not listed in the breakdown);
/// - the first date is on or before the first day counted (`due + 1`), so
///   that every counted day has a principal; entries after `until` are
///   ignored;
/// - a payment received on day D that should stop interest from D on is
///   given as `(D, new principal)`; to still count day D at the old
///   principal, give `(D + 1, new principal)`.
///
/// The span is cut at every principal change and, for a statutory basis, at
/// every 1 January and 1 July. Each period's amount is
/// `principal × rate/100 × days/365` (actual/365 for every jurisdiction),
/// rounded to the currency's minor units half away from zero; `interest` is
/// the sum of the rounded periods. A contractual rate is not cut at half-year
/// boundaries, since it does not change there.
///
/// Statutory rates need the ECB rate in force on each half-year's first day:
/// a half-year starting before the table's first row is an error naming that
/// day. The indemnity is left at zero (see [`InterestBreakdown::with_indemnity`]).
pub fn late_interest(
    table: &RateTable,
    basis: &InterestBasis,
    currency: Currency,
    principal: &[(NaiveDate, Decimal)],
    due: NaiveDate,
    until: NaiveDate,
) -> Result<InterestBreakdown, MoneyError> {
    if let InterestBasis::Contractual { rate } = basis
        && rate.is_sign_negative()
        && !rate.is_zero()
    {
        return Err(MoneyError::NegativeRate { rate: *rate });
    }
    let mut breakdown = InterestBreakdown::empty(currency);
    if let InterestBasis::Statutory(_) = basis {
        breakdown.rates_as_of = table.as_of();
    }

    // The first day counted; a due date on the last representable day leaves
    // nothing to count.
    let Some(start) = due.succ_opt() else {
        return Ok(breakdown);
    };
    check_schedule(principal, start)?;
    if until < start {
        return Ok(breakdown);
    }

    let mut interest = Decimal::ZERO;
    let mut from = start;
    loop {
        // The principal in force on `from`, and when it next changes.
        let index = principal.partition_point(|&(date, _)| date <= from) - 1;
        let open = principal[index].1;
        let mut next = principal.get(index + 1).map(|&(date, _)| date);

        // The rate, and for a statutory basis the next half-year boundary.
        let rate = match basis {
            InterestBasis::Contractual { rate } => *rate,
            InterestBasis::Statutory(jurisdiction) => {
                let semester = half_year_start(from);
                let ecb = table
                    .rate_on(semester)
                    .ok_or_else(|| MoneyError::DateBeforeRates {
                        date: semester,
                        first: table.first_date(),
                    })?;
                next = earliest(next, next_half_year_start(from));
                ecb + jurisdiction.margin()
            }
        };

        // The period ends the day before the next cut, or on `until`.
        let to = match next.and_then(|date| date.pred_opt()) {
            Some(day_before) if day_before < until => day_before,
            _ => until,
        };
        if !open.is_zero() {
            let days = (to - from).num_days() + 1;
            let amount = period_amount(open, rate, days, currency)?;
            interest = interest
                .checked_add(amount)
                .ok_or_else(|| overflow("the sum of the periods"))?;
            breakdown.periods.push(InterestPeriod {
                from,
                to,
                days,
                rate,
                principal: open,
                amount,
            });
        }

        let Some(following) = to.succ_opt().filter(|_| to < until) else {
            break;
        };
        from = following;
    }

    breakdown.interest = round(interest, currency);
    breakdown.total = breakdown.interest;
    Ok(breakdown)
}

/// Fixed recovery indemnity (indemnité forfaitaire pour frais de recouvrement): EUR 40 per
/// invoice, business debtors only (France Code de commerce L441-10, Spain Ley 3/2004 art. 8,
/// EU directive 2011/7/EU art. 6); zero for a consumer.
///
/// Returns `40.00 × invoices` for a business debtor invoiced in EUR. It is
/// zero (with the currency's scale) for a consumer, and for now for any
/// currency other than EUR, since the amount is fixed in euros.
pub fn recovery_indemnity(invoices: usize, consumer: bool, currency: Currency) -> Decimal {
    // TODO: for an invoice in another currency the law still grants EUR 40 (or,
    // in a non-euro member state, its equivalent in the national currency);
    // converting needs an exchange rate on a legally relevant date, which this
    // module does not have, so it claims nothing rather than a wrong amount.
    if consumer || currency != Currency::EUR {
        return round(Decimal::ZERO, currency);
    }
    round(INDEMNITY_EUR * Decimal::from(invoices), currency)
}

/// The breakdown as `relance interest` prints it for people: one line per
/// period (dates, days, rate, principal, amount), then the interest,
/// the recovery indemnity and the total, each with the currency code, and
/// the rate table's as-of date when a statutory rate was used.
pub fn format_breakdown_table(b: &InterestBreakdown) -> String {
    let code = b.currency.code();
    let mut rows: Vec<[String; 6]> = vec![[
        "from".into(),
        "to".into(),
        "days".into(),
        "rate %".into(),
        "principal".into(),
        "amount".into(),
    ]];
    for period in &b.periods {
        rows.push([
            period.from.to_string(),
            period.to.to_string(),
            period.days.to_string(),
            period.rate.to_string(),
            round(period.principal, b.currency).to_string(),
            round(period.amount, b.currency).to_string(),
        ]);
    }
    let totals = [
        ("interest", b.interest),
        ("recovery indemnity", b.indemnity),
        ("total", b.total),
    ]
    .map(|(label, value)| (label, round(value, b.currency).to_string()));

    let mut widths = [0usize; 6];
    for row in &rows {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.len());
        }
    }
    for (_, value) in &totals {
        widths[5] = widths[5].max(value.len());
    }

    let mut out = String::new();
    if b.periods.is_empty() {
        out.push_str("no late interest: no day overdue with an open principal\n");
    } else {
        for row in &rows {
            let line = format!(
                "{:<w0$}  {:<w1$}  {:>w2$}  {:>w3$}  {:>w4$}  {:>w5$}",
                row[0],
                row[1],
                row[2],
                row[3],
                row[4],
                row[5],
                w0 = widths[0],
                w1 = widths[1],
                w2 = widths[2],
                w3 = widths[3],
                w4 = widths[4],
                w5 = widths[5],
            );
            out.push_str(line.trim_end());
            out.push('\n');
        }
    }

    let table_width = widths.iter().sum::<usize>() + 2 * (widths.len() - 1);
    for (label, value) in &totals {
        let pad = table_width.saturating_sub(label.len() + value.len()).max(2);
        out.push_str(&format!("{label}{:pad$}{value} {code}\n", ""));
    }
    if let Some(as_of) = b.rates_as_of {
        out.push_str(&format!("ECB rates known up to {as_of}\n"));
    }
    out
}

/// The breakdown for machines: amounts and rates as decimal strings (amounts
/// with the currency's minor units, "40.00"), dates as `YYYY-MM-DD`, days as
/// integers, the currency as its ISO code, `rates_as_of` a date or null.
pub fn breakdown_json(b: &InterestBreakdown) -> Value {
    let money = |amount: Decimal| Value::String(round(amount, b.currency).to_string());
    let periods: Vec<Value> = b
        .periods
        .iter()
        .map(|period| {
            json!({
                "from": period.from.to_string(),
                "to": period.to.to_string(),
                "days": period.days,
                "rate": period.rate.to_string(),
                "principal": money(period.principal),
                "amount": money(period.amount),
            })
        })
        .collect();
    json!({
        "currency": b.currency.code(),
        "periods": periods,
        "interest": money(b.interest),
        "indemnity": money(b.indemnity),
        "total": money(b.total),
        "rates_as_of": b.rates_as_of.map(|date| date.to_string()),
    })
}

/// Checks the principal schedule's contract (see [`late_interest`]).
fn check_schedule(principal: &[(NaiveDate, Decimal)], start: NaiveDate) -> Result<(), MoneyError> {
    let invalid = |reason: String| MoneyError::PrincipalSchedule { reason };

    let Some(&(first, _)) = principal.first() else {
        return Err(invalid(
            "it is empty; give at least (due date, open principal)".into(),
        ));
    };
    if first > start {
        return Err(invalid(format!(
            "its first date {first} is after {start}, the first day interest runs, \
             so the principal on {start} is unknown"
        )));
    }
    for pair in principal.windows(2) {
        if pair[1].0 <= pair[0].0 {
            return Err(invalid(format!(
                "date {} is not after the previous entry's {}: dates must strictly increase",
                pair[1].0, pair[0].0
            )));
        }
    }
    if let Some(&(date, amount)) = principal.iter().find(|(_, amount)| *amount < Decimal::ZERO) {
        return Err(invalid(format!(
            "the principal from {date} is {amount}, below zero; an overpaid invoice has 0 open"
        )));
    }
    Ok(())
}

/// `principal × rate/100 × days/365`, rounded; multiplied out before the one
/// division so that nothing is rounded twice.
fn period_amount(
    principal: Decimal,
    rate: Decimal,
    days: i64,
    currency: Currency,
) -> Result<Decimal, MoneyError> {
    let raw = principal
        .checked_mul(rate)
        .and_then(|x| x.checked_mul(Decimal::from(days)))
        .and_then(|x| x.checked_div(dec!(100) * DAYS_PER_YEAR))
        .ok_or_else(|| overflow("principal × rate × days"))?;
    Ok(round(raw, currency))
}

/// 1 January or 1 July of the half-year containing `date`.
fn half_year_start(date: NaiveDate) -> NaiveDate {
    let month = if date.month() < 7 { 1 } else { 7 };
    date.with_day(1)
        .and_then(|d| d.with_month(month))
        .unwrap_or(date)
}

/// The first day of the half-year after the one containing `date` (`None`
/// past the last representable year).
fn next_half_year_start(date: NaiveDate) -> Option<NaiveDate> {
    if date.month() < 7 {
        NaiveDate::from_ymd_opt(date.year(), 7, 1)
    } else {
        NaiveDate::from_ymd_opt(date.year() + 1, 1, 1)
    }
}

fn earliest(a: Option<NaiveDate>, b: Option<NaiveDate>) -> Option<NaiveDate> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, None) => a,
        (None, b) => b,
    }
}

fn overflow(what: &str) -> MoneyError {
    MoneyError::Overflow {
        what: what.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn date(y: i32, m: u32, d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, d).unwrap()
    }

    #[test]
    fn half_years_start_on_january_and_july_first() {
        assert_eq!(half_year_start(date(2025, 6, 30)), date(2025, 1, 1));
        assert_eq!(half_year_start(date(2025, 7, 1)), date(2025, 7, 1));
        assert_eq!(half_year_start(date(2025, 12, 31)), date(2025, 7, 1));
        assert_eq!(
            next_half_year_start(date(2025, 1, 1)),
            Some(date(2025, 7, 1))
        );
        assert_eq!(
            next_half_year_start(date(2025, 7, 1)),
            Some(date(2026, 1, 1))
        );
    }

    #[test]
    fn jurisdiction_parses_in_any_case_and_displays_its_code() {
        assert_eq!("fr".parse::<Jurisdiction>().unwrap(), Jurisdiction::FR);
        assert_eq!(" Es ".parse::<Jurisdiction>().unwrap(), Jurisdiction::ES);
        assert_eq!("EU".parse::<Jurisdiction>().unwrap(), Jurisdiction::EU);
        let err = "DE".parse::<Jurisdiction>().unwrap_err().to_string();
        assert!(
            err.contains("'DE'") && err.contains("FR, ES or EU"),
            "{err}"
        );
        assert_eq!(Jurisdiction::FR.to_string(), "FR");
        assert_eq!(serde_json::to_value(Jurisdiction::ES).unwrap(), json!("ES"));
    }

    #[test]
    fn margins_are_ten_points_in_france_and_eight_elsewhere() {
        assert_eq!(Jurisdiction::FR.margin(), dec!(10));
        assert_eq!(Jurisdiction::ES.margin(), dec!(8));
        assert_eq!(Jurisdiction::EU.margin(), dec!(8));
    }

    #[test]
    fn period_amount_is_actual_over_365_rounded_once() {
        // 1000 × 13.15 × 91 / 36500 = 32.78493... → 32.78
        assert_eq!(
            period_amount(dec!(1000), dec!(13.15), 91, Currency::EUR).unwrap(),
            dec!(32.78)
        );
        // 1 × 10 × 1 / 36500 = 0.000273... → 0.00
        assert_eq!(
            period_amount(dec!(1), dec!(10), 1, Currency::EUR).unwrap(),
            dec!(0.00)
        );
    }

    #[test]
    fn period_amount_reports_overflow() {
        let err = period_amount(Decimal::MAX, dec!(10), 365, Currency::EUR).unwrap_err();
        assert!(matches!(err, MoneyError::Overflow { .. }), "{err}");
    }

    #[test]
    fn schedule_contract_is_enforced_with_named_entries() {
        let start = date(2025, 4, 1);
        let err = |schedule: &[(NaiveDate, Decimal)]| {
            check_schedule(schedule, start).unwrap_err().to_string()
        };
        assert!(err(&[]).contains("empty"));
        assert!(err(&[(date(2025, 4, 2), dec!(1))]).contains("first date 2025-04-02"));
        assert!(
            err(&[(date(2025, 3, 1), dec!(1)), (date(2025, 3, 1), dec!(2))])
                .contains("date 2025-03-01 is not after")
        );
        assert!(err(&[(date(2025, 3, 1), dec!(-1))]).contains("below zero"));
        assert!(check_schedule(&[(date(2025, 4, 1), dec!(0))], start).is_ok());
    }

    #[test]
    fn recovery_indemnity_is_forty_euros_per_invoice_for_businesses_only() {
        assert_eq!(
            recovery_indemnity(1, false, Currency::EUR).to_string(),
            "40.00"
        );
        assert_eq!(recovery_indemnity(3, false, Currency::EUR), dec!(120));
        assert_eq!(recovery_indemnity(0, false, Currency::EUR), dec!(0));
        assert_eq!(
            recovery_indemnity(2, true, Currency::EUR).to_string(),
            "0.00"
        );
        assert_eq!(recovery_indemnity(2, false, Currency::USD), dec!(0));
        assert_eq!(recovery_indemnity(2, false, Currency::JPY).to_string(), "0");
    }

    #[test]
    fn with_indemnity_updates_the_total() {
        let mut b = InterestBreakdown::empty(Currency::EUR);
        b.interest = dec!(63.40);
        b.total = dec!(63.40);
        let b = b.with_indemnity(dec!(40)).unwrap();
        assert_eq!(b.indemnity.to_string(), "40.00");
        assert_eq!(b.total, dec!(103.40));
    }
}
