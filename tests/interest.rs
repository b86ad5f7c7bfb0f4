//! Late interest and recovery indemnity, as a user of `relance interest` sees them.
//!
//! Every expected figure has its working in a comment: principal × rate/100 ×
//! days/365 per period (actual/365), each period rounded half away from zero
//! to the currency's minor units, interest = sum of the rounded periods.

use chrono::NaiveDate;
use proptest::prelude::*;
use rust_decimal::Decimal;
use rust_decimal_macros::dec;

use relance::money::{
    Currency, InterestBasis, InterestBreakdown, Jurisdiction, Money, MoneyError, RateTable,
    breakdown_json, format_breakdown_table, late_interest, recovery_indemnity,
};

fn date(y: i32, m: u32, d: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(y, m, d).unwrap()
}

fn statutory(jurisdiction: Jurisdiction) -> InterestBasis {
    InterestBasis::Statutory(jurisdiction)
}

/// Interest on one amount that stays open for the whole span.
fn on_amount(
    basis: &InterestBasis,
    currency: Currency,
    amount: Decimal,
    due: NaiveDate,
    until: NaiveDate,
) -> InterestBreakdown {
    late_interest(
        &RateTable::builtin(),
        basis,
        currency,
        &[(due, amount)],
        due,
        until,
    )
    .unwrap()
}

/// (from, to, days, rate, principal, amount) of each period, for compact asserts.
fn periods(b: &InterestBreakdown) -> Vec<(NaiveDate, NaiveDate, i64, Decimal, Decimal, Decimal)> {
    b.periods
        .iter()
        .map(|p| (p.from, p.to, p.days, p.rate, p.principal, p.amount))
        .collect()
}

mod statutory_rates {
    use super::*;

    #[test]
    fn france_uses_the_ecb_rate_of_each_half_year_plus_ten_points() {
        // EUR 1000 due 2025-03-31, until 2025-09-30, FR.
        // 2025-04-01..2025-06-30: 91 days; rate on 1 Jan 2025 = 3.15 (since 2024-12-18),
        //   + 10 = 13.15 % → 1000 × 0.1315 × 91/365 = 32.7849 → 32.78
        // 2025-07-01..2025-09-30: 92 days; rate on 1 Jul 2025 = 2.15 (since 2025-06-11),
        //   + 10 = 12.15 % → 1000 × 0.1215 × 92/365 = 30.6247 → 30.62
        // interest 32.78 + 30.62 = 63.40; indemnity 40.00 (one invoice); total 103.40.
        let due = date(2025, 3, 31);
        let b = on_amount(
            &statutory(Jurisdiction::FR),
            Currency::EUR,
            dec!(1000),
            due,
            date(2025, 9, 30),
        );
        assert_eq!(
            periods(&b),
            vec![
                (
                    date(2025, 4, 1),
                    date(2025, 6, 30),
                    91,
                    dec!(13.15),
                    dec!(1000),
                    dec!(32.78)
                ),
                (
                    date(2025, 7, 1),
                    date(2025, 9, 30),
                    92,
                    dec!(12.15),
                    dec!(1000),
                    dec!(30.62)
                ),
            ]
        );
        assert_eq!(b.interest, dec!(63.40));
        assert_eq!(b.indemnity, dec!(0));
        assert_eq!(b.total, dec!(63.40));

        let b = b
            .with_indemnity(recovery_indemnity(1, false, Currency::EUR))
            .unwrap();
        assert_eq!(b.indemnity.to_string(), "40.00");
        assert_eq!(b.total.to_string(), "103.40");
    }

    #[test]
    fn spain_and_the_eu_default_add_eight_points_with_the_same_half_years() {
        // EUR 1000 due 2025-03-31, until 2025-09-30.
        // 2025-04-01..2025-06-30: 91 days at 3.15 + 8 = 11.15 %
        //   → 1000 × 0.1115 × 91/365 = 27.7986 → 27.80
        // 2025-07-01..2025-09-30: 92 days at 2.15 + 8 = 10.15 %
        //   → 1000 × 0.1015 × 92/365 = 25.5836 → 25.58
        // interest 27.80 + 25.58 = 53.38.
        for jurisdiction in [Jurisdiction::ES, Jurisdiction::EU] {
            let b = on_amount(
                &statutory(jurisdiction),
                Currency::EUR,
                dec!(1000),
                date(2025, 3, 31),
                date(2025, 9, 30),
            );
            let rates_and_amounts: Vec<_> = b.periods.iter().map(|p| (p.rate, p.amount)).collect();
            assert_eq!(
                rates_and_amounts,
                vec![(dec!(11.15), dec!(27.80)), (dec!(10.15), dec!(25.58))],
                "{jurisdiction}"
            );
            assert_eq!(b.interest, dec!(53.38), "{jurisdiction}");
        }
    }

    #[test]
    fn a_span_across_the_year_end_changes_rate_on_the_first_of_january() {
        // EUR 5000 due 2024-11-30, until 2025-02-28, FR.
        // 2024-12-01..2024-12-31: 31 days; rate on 1 Jul 2024 = 4.25 (since 2024-06-12).
        //   The cuts of 2024-09-18, 2024-10-23 and 2024-12-18 do not apply inside
        //   the half-year. 4.25 + 10 = 14.25 % → 5000 × 0.1425 × 31/365 = 60.5137 → 60.51
        // 2025-01-01..2025-02-28: 59 days at 3.15 + 10 = 13.15 %
        //   → 5000 × 0.1315 × 59/365 = 106.2808 → 106.28
        // interest 60.51 + 106.28 = 166.79. 2024 is a leap year: still /365.
        let b = on_amount(
            &statutory(Jurisdiction::FR),
            Currency::EUR,
            dec!(5000),
            date(2024, 11, 30),
            date(2025, 2, 28),
        );
        assert_eq!(
            periods(&b),
            vec![
                (
                    date(2024, 12, 1),
                    date(2024, 12, 31),
                    31,
                    dec!(14.25),
                    dec!(5000),
                    dec!(60.51)
                ),
                (
                    date(2025, 1, 1),
                    date(2025, 2, 28),
                    59,
                    dec!(13.15),
                    dec!(5000),
                    dec!(106.28)
                ),
            ]
        );
        assert_eq!(b.interest, dec!(166.79));
    }

    #[test]
    fn a_half_year_before_the_rate_table_is_an_error_naming_the_day() {
        // Due 2008-08-01: the second half of 2008 needs the rate in force on
        // 2008-07-01, but the table starts on 2008-07-09.
        let err = late_interest(
            &RateTable::builtin(),
            &statutory(Jurisdiction::FR),
            Currency::EUR,
            &[(date(2008, 8, 1), dec!(100))],
            date(2008, 8, 1),
            date(2008, 12, 31),
        )
        .unwrap_err();
        assert!(matches!(err, MoneyError::DateBeforeRates { .. }));
        let message = err.to_string();
        assert!(message.contains("2008-07-01"), "{message}");
        assert!(message.contains("2008-07-09"), "{message}");
    }

    #[test]
    fn the_breakdown_carries_the_tables_as_of_date_for_a_staleness_warning() {
        // The builtin table is known up to 2025-06-11; a span ending after it
        // may miss an ECB change, one ending before cannot.
        let late = on_amount(
            &statutory(Jurisdiction::FR),
            Currency::EUR,
            dec!(1000),
            date(2025, 3, 31),
            date(2025, 9, 30),
        );
        assert_eq!(late.rates_as_of, Some(date(2025, 6, 11)));
        assert!(late.beyond_rates_as_of());

        let early = on_amount(
            &statutory(Jurisdiction::FR),
            Currency::EUR,
            dec!(1000),
            date(2025, 3, 31),
            date(2025, 5, 31),
        );
        assert!(!early.beyond_rates_as_of());
    }
}

mod principal_changes {
    use super::*;

    #[test]
    fn a_partial_payment_cuts_the_period_and_lowers_the_principal() {
        // EUR 1000 due 2025-03-31; 400 paid on 2025-05-16, so 600 open from
        // that day on; until 2025-09-30, FR.
        // 2025-04-01..2025-05-15: 45 days, 1000 at 13.15 % → 1000 × 0.1315 × 45/365 = 16.2123 → 16.21
        // 2025-05-16..2025-06-30: 46 days,  600 at 13.15 % →  600 × 0.1315 × 46/365 =  9.9436 →  9.94
        // 2025-07-01..2025-09-30: 92 days,  600 at 12.15 % →  600 × 0.1215 × 92/365 = 18.3748 → 18.37
        // interest 16.21 + 9.94 + 18.37 = 44.52.
        let due = date(2025, 3, 31);
        let b = late_interest(
            &RateTable::builtin(),
            &statutory(Jurisdiction::FR),
            Currency::EUR,
            &[(due, dec!(1000)), (date(2025, 5, 16), dec!(600))],
            due,
            date(2025, 9, 30),
        )
        .unwrap();
        assert_eq!(
            periods(&b),
            vec![
                (
                    date(2025, 4, 1),
                    date(2025, 5, 15),
                    45,
                    dec!(13.15),
                    dec!(1000),
                    dec!(16.21)
                ),
                (
                    date(2025, 5, 16),
                    date(2025, 6, 30),
                    46,
                    dec!(13.15),
                    dec!(600),
                    dec!(9.94)
                ),
                (
                    date(2025, 7, 1),
                    date(2025, 9, 30),
                    92,
                    dec!(12.15),
                    dec!(600),
                    dec!(18.37)
                ),
            ]
        );
        assert_eq!(b.interest, dec!(44.52));
    }

    #[test]
    fn payment_in_full_stops_interest_from_that_day() {
        // As above, then the last 600 paid on 2025-08-01 (0 open from then on).
        // 16.21 + 9.94 as above;
        // 2025-07-01..2025-07-31: 31 days, 600 at 12.15 % → 600 × 0.1215 × 31/365 = 6.1915 → 6.19
        // nothing from 2025-08-01. interest 16.21 + 9.94 + 6.19 = 32.34.
        let due = date(2025, 3, 31);
        let b = late_interest(
            &RateTable::builtin(),
            &statutory(Jurisdiction::FR),
            Currency::EUR,
            &[
                (date(2025, 1, 15), dec!(1000)),
                (date(2025, 5, 16), dec!(600)),
                (date(2025, 8, 1), dec!(0)),
            ],
            due,
            date(2025, 9, 30),
        )
        .unwrap();
        assert_eq!(b.periods.len(), 3);
        assert_eq!(b.periods[2].to, date(2025, 7, 31));
        assert_eq!(b.periods[2].amount, dec!(6.19));
        assert_eq!(b.interest, dec!(32.34));
    }

    #[test]
    fn a_schedule_that_starts_after_the_first_day_counted_is_refused() {
        // Interest starts on 2025-04-01; a principal known only from 2025-04-02
        // leaves the first day without an amount.
        let err = late_interest(
            &RateTable::builtin(),
            &statutory(Jurisdiction::FR),
            Currency::EUR,
            &[(date(2025, 4, 2), dec!(1000))],
            date(2025, 3, 31),
            date(2025, 9, 30),
        )
        .unwrap_err();
        assert!(matches!(err, MoneyError::PrincipalSchedule { .. }), "{err}");
        assert!(err.to_string().contains("2025-04-02"), "{err}");
    }
}

mod other_bases {
    use super::*;

    #[test]
    fn a_contractual_rate_is_one_fixed_rate_for_the_whole_span() {
        // EUR 2000 at 12 % a year, due 2025-03-31, until 2025-09-30: no cut on
        // 1 July. 2025-04-01..2025-09-30 = 183 days
        //   → 2000 × 0.12 × 183/365 = 120.3288 → 120.33
        let b = on_amount(
            &InterestBasis::Contractual { rate: dec!(12) },
            Currency::EUR,
            dec!(2000),
            date(2025, 3, 31),
            date(2025, 9, 30),
        );
        assert_eq!(
            periods(&b),
            vec![(
                date(2025, 4, 1),
                date(2025, 9, 30),
                183,
                dec!(12),
                dec!(2000),
                dec!(120.33)
            )]
        );
        assert_eq!(b.interest, dec!(120.33));
        assert_eq!(b.rates_as_of, None, "no ECB rate was used");
    }

    #[test]
    fn a_negative_contractual_rate_is_refused() {
        let err = late_interest(
            &RateTable::builtin(),
            &InterestBasis::Contractual { rate: dec!(-1) },
            Currency::EUR,
            &[(date(2025, 3, 31), dec!(100))],
            date(2025, 3, 31),
            date(2025, 9, 30),
        )
        .unwrap_err();
        assert!(matches!(err, MoneyError::NegativeRate { .. }), "{err}");
    }

    #[test]
    fn a_consumer_owes_interest_but_no_recovery_indemnity() {
        // Same figures as the French example (63.40), but the indemnity is a
        // business-to-business rule: 0.00, so the total is the interest.
        let b = on_amount(
            &statutory(Jurisdiction::FR),
            Currency::EUR,
            dec!(1000),
            date(2025, 3, 31),
            date(2025, 9, 30),
        )
        .with_indemnity(recovery_indemnity(1, true, Currency::EUR))
        .unwrap();
        assert_eq!(b.indemnity.to_string(), "0.00");
        assert_eq!(b.total.to_string(), "63.40");
    }

    #[test]
    fn the_indemnity_counts_each_invoice() {
        // 3 invoices × 40.00 = 120.00
        assert_eq!(
            recovery_indemnity(3, false, Currency::EUR).to_string(),
            "120.00"
        );
    }
}

mod edges {
    use super::*;

    #[test]
    fn nothing_is_due_until_the_day_after_the_due_date() {
        // until = due or before: no day is overdue.
        for until in [date(2025, 3, 31), date(2025, 1, 1)] {
            let b = on_amount(
                &statutory(Jurisdiction::FR),
                Currency::EUR,
                dec!(1000),
                date(2025, 3, 31),
                until,
            );
            assert!(b.periods.is_empty());
            assert_eq!(b.interest.to_string(), "0.00");
            assert_eq!(b.total.to_string(), "0.00");
        }

        // until = due + 1: one day. 1000 × 0.1315 × 1/365 = 0.3603 → 0.36
        let b = on_amount(
            &statutory(Jurisdiction::FR),
            Currency::EUR,
            dec!(1000),
            date(2025, 3, 31),
            date(2025, 4, 1),
        );
        assert_eq!(b.periods.len(), 1);
        assert_eq!(b.periods[0].days, 1);
        assert_eq!(b.interest, dec!(0.36));
    }

    #[test]
    fn yen_amounts_are_rounded_to_whole_yen() {
        // JPY 100000 due 2025-03-31, until 2025-09-30, FR.
        // 91 days at 13.15 % → 100000 × 0.1315 × 91/365 = 3278.49 → 3278
        // 92 days at 12.15 % → 100000 × 0.1215 × 92/365 = 3062.47 → 3062
        // interest 6340; no indemnity outside EUR (fixed in euros).
        let b = on_amount(
            &statutory(Jurisdiction::FR),
            Currency::JPY,
            dec!(100000),
            date(2025, 3, 31),
            date(2025, 9, 30),
        );
        let amounts: Vec<String> = b.periods.iter().map(|p| p.amount.to_string()).collect();
        assert_eq!(amounts, ["3278", "3062"]);
        assert_eq!(b.interest.to_string(), "6340");
        assert_eq!(
            Money::new(b.interest, Currency::JPY).to_string(),
            "6340 JPY"
        );
        assert_eq!(recovery_indemnity(1, false, Currency::JPY), dec!(0));
    }
}

mod rate_files {
    use std::path::PathBuf;

    use super::*;

    /// A file in the system's temporary folder, removed when dropped.
    struct TempFile(PathBuf);

    impl TempFile {
        fn new(name: &str, text: &str) -> Self {
            let path = std::env::temp_dir().join(format!("relance-{}-{name}", std::process::id()));
            std::fs::write(&path, text).unwrap();
            TempFile(path)
        }
    }

    impl Drop for TempFile {
        fn drop(&mut self) {
            let _ = std::fs::remove_file(&self.0);
        }
    }

    #[test]
    fn a_bad_line_is_reported_with_its_file_and_line_number() {
        // Line 5 writes the rate with a decimal comma.
        let text = "# source: test\n# as-of: 2025-06-11\neffective_date,rate\n\
                    2025-04-23,2.40\n2025-06-11,2,15\n";
        let err = RateTable::parse(text, "ecb_rates.csv")
            .unwrap_err()
            .to_string();
        assert!(err.starts_with("ecb_rates.csv:5: "), "{err}");
        assert!(err.contains("2025-06-11,2,15"), "{err}");

        let file = TempFile::new(
            "bad.csv",
            "# source: test\neffective_date,rate\n2025-13-01,1\n",
        );
        let err = RateTable::load(&file.0).unwrap_err().to_string();
        assert!(
            err.contains("bad.csv:3: effective date '2025-13-01'"),
            "{err}"
        );
    }

    #[test]
    fn a_missing_file_is_an_error_naming_it() {
        let path = std::env::temp_dir().join("relance-no-such-rates.csv");
        let err = RateTable::load(&path).unwrap_err();
        assert!(matches!(err, MoneyError::RateFileRead { .. }));
        assert!(
            err.to_string().contains("relance-no-such-rates.csv"),
            "{err}"
        );
    }

    #[test]
    fn an_updated_file_is_used_without_rebuilding() {
        // A user appends a (hypothetical) ECB cut to 1.90 taking effect on
        // 2025-12-17 and moves as-of. EUR 1000 due 2025-12-31, until
        // 2026-03-31, FR: 90 days in the first half of 2026.
        //   updated file: rate on 1 Jan 2026 = 1.90 + 10 = 11.90 % → 1000 × 0.119 × 90/365 = 29.3425 → 29.34
        //   builtin:      rate on 1 Jan 2026 = 2.15 + 10 = 12.15 % → 1000 × 0.1215 × 90/365 = 29.9589 → 29.96
        let builtin_text = include_str!("../data/ecb_rates.csv");
        let updated = builtin_text.replace("# as-of: 2025-06-11", "# as-of: 2026-01-05")
            + "2025-12-17,1.90\n";
        let file = TempFile::new("updated.csv", &updated);
        let table = RateTable::load(&file.0).unwrap();
        assert_eq!(table.as_of(), Some(date(2026, 1, 5)));
        assert_eq!(table.source(), RateTable::builtin().source());

        let due = date(2025, 12, 31);
        let until = date(2026, 3, 31);
        let basis = statutory(Jurisdiction::FR);
        let with_update = late_interest(
            &table,
            &basis,
            Currency::EUR,
            &[(due, dec!(1000))],
            due,
            until,
        )
        .unwrap();
        assert_eq!(with_update.periods[0].rate, dec!(11.90));
        assert_eq!(with_update.interest, dec!(29.34));

        let builtin = on_amount(&basis, Currency::EUR, dec!(1000), due, until);
        assert_eq!(builtin.interest, dec!(29.96));
    }
}

mod output {
    use super::*;

    fn french_example() -> InterestBreakdown {
        on_amount(
            &statutory(Jurisdiction::FR),
            Currency::EUR,
            dec!(1000),
            date(2025, 3, 31),
            date(2025, 9, 30),
        )
        .with_indemnity(recovery_indemnity(1, false, Currency::EUR))
        .unwrap()
    }

    #[test]
    fn the_table_lists_periods_then_interest_indemnity_and_total() {
        let text = format_breakdown_table(&french_example());
        let expected = "\
from        to          days  rate %  principal  amount
2025-04-01  2025-06-30    91   13.15    1000.00   32.78
2025-07-01  2025-09-30    92   12.15    1000.00   30.62
interest                                          63.40 EUR
recovery indemnity                                40.00 EUR
total                                            103.40 EUR
ECB rates known up to 2025-06-11
";
        assert_eq!(text, expected, "\n{text}");
    }

    #[test]
    fn the_table_says_when_nothing_is_due() {
        let b = on_amount(
            &statutory(Jurisdiction::FR),
            Currency::EUR,
            dec!(1000),
            date(2025, 3, 31),
            date(2025, 3, 31),
        );
        let text = format_breakdown_table(&b);
        assert!(text.starts_with("no late interest"), "{text}");
        assert!(text.contains("total"), "{text}");
    }

    #[test]
    fn json_has_decimal_strings_and_iso_dates() {
        let json = breakdown_json(&french_example());
        assert_eq!(
            json,
            serde_json::json!({
                "currency": "EUR",
                "periods": [
                    { "from": "2025-04-01", "to": "2025-06-30", "days": 91,
                      "rate": "13.15", "principal": "1000.00", "amount": "32.78" },
                    { "from": "2025-07-01", "to": "2025-09-30", "days": 92,
                      "rate": "12.15", "principal": "1000.00", "amount": "30.62" },
                ],
                "interest": "63.40",
                "indemnity": "40.00",
                "total": "103.40",
                "rates_as_of": "2025-06-11",
            })
        );
    }
}

mod properties {
    use super::*;

    fn any_due() -> impl Strategy<Value = NaiveDate> {
        // From 2009-01-01 (the first half-year the builtin table covers) to 2025.
        (0i64..6200).prop_map(|offset| date(2009, 1, 1) + chrono::Duration::days(offset))
    }

    fn any_principal() -> impl Strategy<Value = Decimal> {
        // 0.01 to 10 000 000.00, in cents.
        (1i64..1_000_000_000).prop_map(|cents| Decimal::new(cents, 2))
    }

    fn any_basis() -> impl Strategy<Value = InterestBasis> {
        prop_oneof![
            Just(InterestBasis::Statutory(Jurisdiction::FR)),
            Just(InterestBasis::Statutory(Jurisdiction::ES)),
            Just(InterestBasis::Statutory(Jurisdiction::EU)),
            (0i64..3000).prop_map(|bp| InterestBasis::Contractual {
                rate: Decimal::new(bp, 2)
            }),
        ]
    }

    proptest! {
        #[test]
        fn interest_never_decreases_when_until_moves_later(
            basis in any_basis(),
            principal in any_principal(),
            due in any_due(),
            span in 0i64..1500,
            extra in 0i64..400,
        ) {
            // Extending the span only lengthens the last period or adds
            // periods, and every rate is at least zero.
            let until = due + chrono::Duration::days(span);
            let later = until + chrono::Duration::days(extra);
            let short = on_amount(&basis, Currency::EUR, principal, due, until);
            let long = on_amount(&basis, Currency::EUR, principal, due, later);
            prop_assert!(long.interest >= short.interest,
                "{} until {until} > {} until {later}", short.interest, long.interest);
        }

        #[test]
        fn doubling_the_principal_doubles_each_period_within_rounding(
            basis in any_basis(),
            principal in any_principal(),
            due in any_due(),
            span in 1i64..1500,
        ) {
            // Each unrounded period amount is linear in the principal. Rounded,
            // round(2x) and 2 × round(x) differ by at most 0.005 + 0.01, so
            // by at most one cent since both are whole cents.
            let until = due + chrono::Duration::days(span);
            let single = on_amount(&basis, Currency::EUR, principal, due, until);
            let double = on_amount(&basis, Currency::EUR, principal * dec!(2), due, until);
            prop_assert_eq!(single.periods.len(), double.periods.len());
            for (one, two) in single.periods.iter().zip(&double.periods) {
                prop_assert_eq!((one.from, one.to, one.rate), (two.from, two.to, two.rate));
                prop_assert!((two.amount - one.amount * dec!(2)).abs() <= dec!(0.01),
                    "{} vs 2 × {}", two.amount, one.amount);
            }
        }
    }
}
