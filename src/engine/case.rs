//! The facts of a case as the engine sees them: client, debtor, invoices
//! and what was paid against each.

use chrono::NaiveDate;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use crate::money::{Currency, currency_code};

/// One debtor's unpaid invoices at one client, collected together.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Case {
    /// Defaults to `<client id>/<debtor id>`.
    #[serde(default)]
    pub id: String,
    pub client: Client,
    pub debtor: Debtor,
    pub invoices: Vec<Invoice>,
}

/// The creditor we collect for.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Client {
    pub id: String,
    pub name: String,
    /// ISO 3166 alpha-2 code.
    #[serde(default)]
    pub country: Option<String>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DebtorKind {
    Company,
    Person,
}

impl DebtorKind {
    pub fn name(self) -> &'static str {
        match self {
            DebtorKind::Company => "company",
            DebtorKind::Person => "person",
        }
    }
}

/// A postal address.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Address {
    #[serde(default)]
    pub lines: Vec<String>,
    #[serde(default)]
    pub postcode: Option<String>,
    #[serde(default)]
    pub city: Option<String>,
    #[serde(default)]
    pub country: Option<String>,
}

/// The client's customer who owes the money.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Debtor {
    pub id: String,
    pub kind: DebtorKind,
    pub name: String,
    #[serde(default)]
    pub country: Option<String>,
    /// Language of the messages, e.g. `fr`.
    pub language: String,
    /// IANA zone, e.g. `Europe/Paris`: decides the sending window.
    pub timezone: chrono_tz::Tz,
    #[serde(default)]
    pub email: Option<String>,
    #[serde(default)]
    pub mobile: Option<String>,
    #[serde(default)]
    pub phone: Option<String>,
    /// Fax number, for the `fax` channel.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fax: Option<String>,
    #[serde(default, alias = "postal_address")]
    pub address: Option<Address>,
    /// French company registration number.
    #[serde(default)]
    pub siren: Option<String>,
    #[serde(default)]
    pub vat: Option<String>,
    /// Risk status, e.g. `low`, `high`.
    #[serde(default)]
    pub risk: Option<String>,
    #[serde(default)]
    pub risk_score: Option<i64>,
    #[serde(default)]
    pub credit_limit: Option<Decimal>,
    /// On the watch list.
    #[serde(default)]
    pub watch: bool,
}

/// An invoice of the case and what has been paid against it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Invoice {
    pub number: String,
    pub issued: NaiveDate,
    pub due: NaiveDate,
    pub amount: Decimal,
    #[serde(with = "currency_code")]
    pub currency: Currency,
    /// Payments allocated to this invoice (lettrage), oldest first.
    #[serde(default)]
    pub allocations: Vec<Allocation>,
}

/// Part of a payment set against one invoice.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Allocation {
    pub date: NaiveDate,
    pub amount: Decimal,
}

impl Invoice {
    /// What is still owed on the invoice.
    pub fn open(&self) -> Decimal {
        self.amount - self.allocations.iter().map(|a| a.amount).sum::<Decimal>()
    }

    /// (date, open principal from that day on), as late interest wants it.
    pub fn principal_schedule(&self) -> Vec<(NaiveDate, Decimal)> {
        let start = self.due.succ_opt().unwrap_or(self.due);
        let mut schedule = vec![(start, self.amount)];
        let mut open = self.amount;
        for a in &self.allocations {
            open -= a.amount;
            let date = a.date.max(start);
            match schedule.last_mut() {
                Some(last) if last.0 == date => last.1 = open,
                _ => schedule.push((date, open)),
            }
        }
        schedule
    }
}

impl Case {
    /// The case's currency: that of its first invoice.
    pub fn currency(&self) -> Option<Currency> {
        self.invoices.first().map(|i| i.currency)
    }

    /// Open principal of all invoices.
    pub fn balance(&self) -> Decimal {
        self.invoices.iter().map(Invoice::open).sum()
    }

    pub fn open_invoices(&self) -> impl Iterator<Item = &Invoice> {
        self.invoices.iter().filter(|i| i.open() > Decimal::ZERO)
    }

    /// The due date of the oldest open invoice, or of the oldest invoice
    /// when all are paid.
    pub fn oldest_due(&self) -> Option<NaiveDate> {
        self.open_invoices()
            .map(|i| i.due)
            .min()
            .or_else(|| self.invoices.iter().map(|i| i.due).min())
    }

    /// Allocates a payment: to the named invoice first, then to the open
    /// invoices oldest due first. Returns what could not be allocated.
    pub fn allocate(&mut self, date: NaiveDate, amount: Decimal, invoice: Option<&str>) -> Decimal {
        let mut left = amount;
        let mut order: Vec<usize> = (0..self.invoices.len()).collect();
        order.sort_by_key(|&i| {
            let inv = &self.invoices[i];
            (
                Some(inv.number.as_str()) != invoice,
                inv.due,
                inv.number.clone(),
            )
        });
        for i in order {
            if left <= Decimal::ZERO {
                break;
            }
            let inv = &mut self.invoices[i];
            let take = inv.open().min(left);
            if take > Decimal::ZERO {
                inv.allocations.push(Allocation { date, amount: take });
                left -= take;
            }
        }
        left
    }
}

#[cfg(test)]
mod tests {
    use rust_decimal_macros::dec;

    use super::*;

    fn invoice(number: &str, due: &str, amount: Decimal) -> Invoice {
        Invoice {
            number: number.into(),
            issued: NaiveDate::parse_from_str(due, "%Y-%m-%d").unwrap(),
            due: NaiveDate::parse_from_str(due, "%Y-%m-%d").unwrap(),
            amount,
            currency: Currency::EUR,
            allocations: Vec::new(),
        }
    }

    #[test]
    fn payments_go_to_the_named_invoice_then_the_oldest() {
        let mut case = Case {
            id: "c".into(),
            client: Client {
                id: "cl".into(),
                name: "Cl".into(),
                country: None,
            },
            debtor: Debtor {
                id: "d".into(),
                kind: DebtorKind::Company,
                name: "D".into(),
                country: None,
                language: "fr".into(),
                timezone: chrono_tz::Europe::Paris,
                email: None,
                mobile: None,
                phone: None,
                fax: None,
                address: None,
                siren: None,
                vat: None,
                risk: None,
                risk_score: None,
                credit_limit: None,
                watch: false,
            },
            invoices: vec![
                invoice("B", "2026-02-01", dec!(100)),
                invoice("A", "2026-01-01", dec!(100)),
            ],
        };
        let day = NaiveDate::from_ymd_opt(2026, 3, 1).unwrap();
        assert_eq!(case.allocate(day, dec!(150), None), dec!(0));
        assert_eq!(case.invoices[1].open(), dec!(0), "oldest first");
        assert_eq!(case.invoices[0].open(), dec!(50));
        assert_eq!(case.allocate(day, dec!(80), Some("B")), dec!(30));
        assert_eq!(case.balance(), dec!(0));
    }
}
