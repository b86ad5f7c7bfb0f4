//! The demo portfolio: a sample client with a few hundred debtors and
//! invoices in several languages and situations, made deterministically so
//! that every demo run tells the same story.

use chrono::{Duration, NaiveDate};
use rust_decimal::Decimal;

use crate::engine::{Address, Case, Client, Debtor, DebtorKind, Invoice};
use crate::money::Currency;

const FIRST: &[&str] = &[
    "Martin",
    "Bernard",
    "Dubois",
    "Thomas",
    "Robert",
    "García",
    "López",
    "Smith",
    "Moreau",
    "Lefebvre",
    "Fernández",
    "Laurent",
];
const TRADES: &[&str] = &[
    "Boulangerie",
    "Garage",
    "Pharmacie",
    "Imprimerie",
    "Menuiserie",
    "Librairie",
    "Transportes",
    "Talleres",
    "Consulting",
    "Fromagerie",
];

/// A small linear congruential generator: the demo needs variety, not
/// randomness, and must be the same on every run.
struct Lcg(u64);

impl Lcg {
    fn next(&mut self) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        self.0 >> 33
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// `count` cases for the demo client, with invoices falling due between
/// 40 days before and 10 days after `today`.
pub fn portfolio(count: usize, today: NaiveDate) -> Vec<Case> {
    let mut rng = Lcg(20261203);
    let client = Client {
        id: "atelier-dupont".into(),
        name: "Atelier Dupont SAS".into(),
        country: Some("FR".into()),
    };
    let mut cases = Vec::with_capacity(count);
    for n in 0..count {
        // Mostly French companies, some French consumers and Spanish companies
        // (those collect under the Spanish client below).
        let roll = rng.below(10);
        let (kind, country, language, tz) = match roll {
            0..=5 => (
                DebtorKind::Company,
                "FR",
                if rng.below(5) == 0 { "en" } else { "fr" },
                chrono_tz::Europe::Paris,
            ),
            6 | 7 => (DebtorKind::Person, "FR", "fr", chrono_tz::Europe::Paris),
            _ => (
                DebtorKind::Company,
                "ES",
                if rng.below(4) == 0 { "en" } else { "es" },
                chrono_tz::Europe::Madrid,
            ),
        };
        let client = if country == "ES" {
            Client {
                id: "atelier-dupont-es".into(),
                name: "Atelier Dupont Iberia SL".into(),
                country: Some("ES".into()),
            }
        } else {
            client.clone()
        };
        let surname = FIRST[rng.below(FIRST.len() as u64) as usize];
        let name = match kind {
            DebtorKind::Company => format!(
                "{} {surname} {}",
                TRADES[rng.below(TRADES.len() as u64) as usize],
                n
            ),
            DebtorKind::Person => format!(
                "{} {surname}",
                ["Alice", "Marc", "Chloé", "Paul", "Inès"][rng.below(5) as usize]
            ),
        };
        let id = format!("D{:04}", n + 1);
        let slug: String = id.to_lowercase();
        let debtor = Debtor {
            id: id.clone(),
            kind,
            name,
            country: Some(country.into()),
            language: language.into(),
            timezone: tz,
            email: (rng.below(10) != 0).then(|| format!("{slug}@debtor.example")),
            mobile: (rng.below(3) != 0).then(|| format!("+336{:08}", rng.below(100_000_000))),
            phone: None,
            fax: None,
            address: (rng.below(8) != 0).then(|| Address {
                lines: vec![format!("{} rue de la Demo", 1 + rng.below(120))],
                postcode: Some(format!("{:05}", 10_000 + rng.below(80_000))),
                city: Some(if country == "ES" { "Madrid" } else { "Lyon" }.into()),
                country: Some(country.into()),
            }),
            siren: None,
            vat: None,
            risk: None,
            risk_score: None,
            credit_limit: None,
            watch: false,
        };
        let invoices = (0..1 + rng.below(3))
            .map(|k| {
                let due = today - Duration::days(rng.below(50) as i64 - 10);
                Invoice {
                    number: format!(
                        "{}-{:05}-{k}",
                        if country == "ES" { "FES" } else { "F" },
                        n + 1
                    ),
                    issued: due - Duration::days(30),
                    due,
                    amount: Decimal::new(5_000 + rng.below(400_000) as i64, 2),
                    currency: Currency::EUR,
                    allocations: Vec::new(),
                }
            })
            .collect();
        cases.push(Case {
            id: format!("{}/{}", client.id, id),
            client,
            debtor,
            invoices,
        });
    }
    cases
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_portfolio_is_the_same_on_every_run_and_varied() {
        let today = NaiveDate::from_ymd_opt(2026, 12, 3).unwrap();
        let a = portfolio(300, today);
        assert_eq!(a, portfolio(300, today));
        assert_eq!(a.len(), 300);
        let languages: std::collections::BTreeSet<&str> =
            a.iter().map(|c| c.debtor.language.as_str()).collect();
        assert!(languages.len() >= 3, "{languages:?}");
        assert!(a.iter().any(|c| c.debtor.kind == DebtorKind::Person));
        assert!(a.iter().any(|c| c.debtor.mobile.is_none()));
        assert!(a.iter().any(|c| c.invoices.iter().any(|i| i.due > today)));
        assert!(a.iter().any(|c| {
            c.invoices
                .iter()
                .any(|i| i.due < today - Duration::days(30))
        }));
    }
}
