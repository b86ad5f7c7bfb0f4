//! The import format: reading CSV and JSON invoice files, every error with its line and
//! column, and the grouping of rows into cases.

use chrono::NaiveDate;
use rust_decimal_macros::dec;

use relance::engine::DebtorKind;
use relance::import::{Format, ImportRow, parse, to_cases};

fn example(name: &str) -> String {
    let path = format!("{}/examples/import/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read_to_string(path).expect("example file")
}

fn messages(result: Result<Vec<ImportRow>, Vec<relance::import::RowError>>) -> Vec<String> {
    match result {
        Ok(rows) => panic!("expected errors, got {} rows", rows.len()),
        Err(errors) => errors.iter().map(ToString::to_string).collect(),
    }
}

fn day(text: &str) -> NaiveDate {
    NaiveDate::parse_from_str(text, "%Y-%m-%d").expect("test date")
}

const HEADER: &str =
    "client_id,debtor_id,debtor_kind,debtor_name,invoice_number,issued,due,amount,currency";

#[test]
fn bad_csv_reports_every_error_with_its_line_and_column() {
    let errors = messages(parse("bad.csv", &example("bad.csv"), Format::Csv));
    assert_eq!(
        errors,
        [
            "bad.csv:1: column `ammount`: unknown column; did you mean `amount`?",
            "bad.csv:3: column `debtor_kind`: unknown debtor kind `firm`: use company or person",
            "bad.csv:3: column `debtor_email`: `dubois.example.org` is not an email address: \
             write name@example.com",
            "bad.csv:3: column `issued`: `05/01/2026` is not a date: write YYYY-MM-DD, \
             e.g. 2026-01-31",
            "bad.csv:4: column `debtor_timezone`: unknown time zone `Europe/Madird`; \
             did you mean `Europe/Madrid`?",
            "bad.csv:4: column `due`: due date 2026-02-01 is before the issue date 2026-03-01",
            "bad.csv:4: column `amount`: `0` must be more than 0",
            "bad.csv:5: column `debtor_id`: required value is empty",
            "bad.csv:5: column `amount`: `10.123` has more decimals than EUR allows (2)",
            "bad.csv:6: column `currency`: unknown currency code 'EUX': expected an ISO 4217 \
             code such as EUR, USD or JPY",
            "bad.csv:7: column `amount`: invalid amount '1,50': use '.' as the decimal \
             separator and no thousands separator (1234.56)",
            "bad.csv:8: column `open_amount`: `150.00` is more than the invoice amount `100.00`",
            "bad.csv:9: the row has 12 fields but the header has 14",
        ]
    );
}

#[test]
fn a_missing_required_column_is_one_header_error_not_one_per_row() {
    let text = "client_id,debtor_id,debtor_name,invoice_number,issued,due,currency\n\
                acme,D-1,Martin,F-1,2026-01-05,2026-02-04,EUR\n\
                acme,D-1,Martin,F-2,2026-01-05,2026-02-04,EUR\n";
    assert_eq!(
        messages(parse("in.csv", text, Format::Csv)),
        [
            "in.csv:1: column `debtor_kind`: required column is missing from the header",
            "in.csv:1: column `amount`: required column is missing from the header",
        ]
    );
}

#[test]
fn an_empty_file_and_a_header_alone_are_refused() {
    assert_eq!(
        messages(parse("in.csv", "", Format::Csv)),
        ["in.csv:1: the file is empty: the first line must name the columns"]
    );
    assert_eq!(
        messages(parse("in.csv", HEADER, Format::Csv)),
        ["in.csv:1: no invoice rows after the header"]
    );
}

#[test]
fn example_csv_reads_every_row_with_country_defaults() {
    let rows = parse("invoices.csv", &example("invoices.csv"), Format::Csv).expect("valid");
    assert_eq!(rows.len(), 10);
    assert_eq!(
        rows.iter().map(|r| r.line).collect::<Vec<_>>(),
        (2..=11).collect::<Vec<_>>()
    );

    let martin = &rows[0];
    assert_eq!(martin.debtor_kind, DebtorKind::Company);
    assert_eq!(martin.debtor_language, "fr");
    assert_eq!(martin.debtor_timezone, chrono_tz::Europe::Paris);
    assert_eq!(martin.address_lines, ["12 rue des Lilas", "Bâtiment B"]);
    assert_eq!(martin.siren.as_deref(), Some("552100554"));
    assert_eq!(martin.amount, dec!(1250.00));
    assert_eq!(rows[1].open_amount, Some(dec!(200.50)));

    let ruiz = &rows[3];
    assert_eq!(
        (ruiz.debtor_language.as_str(), ruiz.debtor_timezone),
        ("es", chrono_tz::Europe::Madrid)
    );
    let puig = &rows[5];
    assert_eq!(
        puig.debtor_language, "ca",
        "a given language wins over the country's"
    );
    assert_eq!(rows[8].debtor_timezone, chrono_tz::Atlantic::Canary);
}

#[test]
fn semicolon_separated_csv_is_read_like_comma_separated() {
    let text = format!(
        "{}\nacme;D-1;company;Martin;F-1;2026-01-05;2026-02-04;100.5;eur\n",
        HEADER.replace(',', ";")
    );
    let rows = parse("in.csv", &text, Format::Csv).expect("valid");
    assert_eq!(
        rows[0].amount.to_string(),
        "100.50",
        "rounded to the currency's decimals"
    );
    assert_eq!(rows[0].currency.code(), "EUR");
    assert_eq!(rows[0].debtor_language, "en", "no country: English");
    assert_eq!(rows[0].debtor_timezone, chrono_tz::Europe::Paris);
}

#[test]
fn example_json_gives_the_same_rows_as_the_csv() {
    let json = parse("invoices.json", &example("invoices.json"), Format::Json).expect("valid");
    let csv = parse("invoices.csv", &example("invoices.csv"), Format::Csv).expect("valid");
    assert_eq!(json.iter().map(|r| r.line).collect::<Vec<_>>(), [2, 23, 36]);
    for (json_row, csv_row) in json.iter().zip([&csv[0], &csv[1], &csv[3]]) {
        let mut csv_row = csv_row.clone();
        csv_row.line = json_row.line;
        if json_row.client_name.is_none() {
            csv_row.client_name = None;
            csv_row.client_country = None;
        }
        assert_eq!(json_row, &csv_row);
    }
}

#[test]
fn json_errors_name_the_object_and_its_line() {
    let text = r#"[
  {"client_id": "acme", "debtor_id": "D-1", "debtor_kind": "company",
   "debtor_name": "Martin", "invoice_number": "F-1", "issued": "2026-01-05",
   "due": "2026-02-04", "amount": 100, "currency": "EUR"},
  {"client_id": "acme", "debtor_id": "D-1", "debtor_kind": "company",
   "debtor_name": "Martin", "invoice_number": "F-2", "issued": "2026-01-05",
   "due": "2026-02-04", "amount": 12.5, "currency": "EUR", "siren": 552100554},
  {"client_id": "acme", "debtor_kind": "company", "debtor_name": "Martin",
   "invoice_number": "F-3", "issued": "2026-01-05", "due": "2026-02-04",
   "amount": "10", "currency": "EUR", "open_amont": "5"}
]"#;
    assert_eq!(
        messages(parse("in.json", text, Format::Json)),
        [
            "in.json:5: column `amount`: write an amount with decimals as a string, \
             e.g. \"12.5\": JSON numbers are only accepted for whole amounts (object 2)",
            "in.json:5: column `siren`: must be a string (object 2)",
            "in.json:8: column `open_amont`: unknown column; did you mean `open_amount`? \
             (object 3)",
            "in.json:8: column `debtor_id`: required key is missing (object 3)",
        ]
    );
}

#[test]
fn json_that_is_not_an_array_of_objects_is_refused_with_its_line() {
    assert_eq!(
        messages(parse("in.json", "[\n  {\"a\": 1,}\n]", Format::Json)),
        ["in.json:2: invalid JSON at column 11: trailing comma"]
    );
    assert_eq!(
        messages(parse("in.json", "{\"client_id\": \"acme\"}", Format::Json)),
        ["in.json:1: the file must be a JSON array of objects, one per invoice"]
    );
    assert_eq!(
        messages(parse("in.json", "[\n\n  \"F-1\"\n]", Format::Json)),
        ["in.json:3: each element must be an object (object 1)"]
    );
}

#[test]
fn rows_group_into_one_case_per_client_debtor_and_currency() {
    let rows = parse("invoices.csv", &example("invoices.csv"), Format::Csv).expect("valid");
    let today = day("2026-03-20");
    let cases = to_cases(&rows, today).expect("consistent");

    let ids: Vec<&str> = cases.iter().map(|c| c.id.as_str()).collect();
    assert_eq!(
        ids,
        [
            "acme/D-100",
            "acme/D-101",
            "acme/D-102",
            "acme/D-103",
            "acme/D-104",
            "iberia/C-7/EUR",
            "iberia/C-7/USD",
        ]
    );

    let martin = &cases[0];
    assert_eq!(martin.client.name, "Acme Fournitures");
    assert_eq!(martin.client.country.as_deref(), Some("FR"));
    assert_eq!(
        martin.debtor.email.as_deref(),
        Some("compta@boulangerie-martin.example")
    );
    let address = martin.debtor.address.as_ref().expect("address");
    assert_eq!(address.city.as_deref(), Some("Lyon"));
    assert_eq!(address.country.as_deref(), Some("FR"));
    assert_eq!(martin.invoices.len(), 2);
    assert!(martin.invoices[0].allocations.is_empty());
    assert_eq!(martin.invoices[1].allocations.len(), 1);
    assert_eq!(martin.invoices[1].allocations[0].date, today);
    assert_eq!(martin.invoices[1].allocations[0].amount, dec!(230.00));
    assert_eq!(martin.balance(), dec!(1450.50));

    assert_eq!(
        cases[4].balance(),
        dec!(980.00),
        "open_amount 0 is fully allocated"
    );
    assert_eq!(cases[6].currency().map(|c| c.code()), Some("USD"));
}

#[test]
fn the_same_invoice_twice_with_other_content_is_an_error_naming_both_lines() {
    let text = format!(
        "{HEADER}\n\
         acme,D-1,company,Martin,F-1,2026-01-05,2026-02-04,100.00,EUR\n\
         acme,D-1,company,Martin,F-1,2026-01-05,2026-02-04,100.00,EUR\n\
         acme,D-1,company,Martin,F-1,2026-01-05,2026-02-04,120.00,EUR\n\
         other,D-1,company,Martin,F-1,2026-01-05,2026-02-04,50.00,EUR\n"
    );
    let rows = parse("in.csv", &text, Format::Csv).expect("valid rows");
    let errors = to_cases(&rows, day("2026-03-01")).expect_err("duplicate invoice");
    let errors: Vec<String> = errors
        .into_iter()
        .map(|e| e.in_file("in.csv").to_string())
        .collect();
    assert_eq!(
        errors,
        [
            "in.csv:4: column `amount`: invoice `F-1` of client `acme` has `120.00` here but \
          `100.00` on line 2"
        ]
    );

    let identical = &rows[..2];
    let cases = to_cases(identical, day("2026-03-01")).expect("an identical repeat is kept once");
    assert_eq!(cases[0].invoices.len(), 1);
}

#[test]
fn one_debtor_id_with_another_name_or_kind_is_an_error_naming_both_lines() {
    let text = format!(
        "{HEADER}\n\
         acme,D-1,company,Martin SARL,F-1,2026-01-05,2026-02-04,100.00,EUR\n\
         acme,D-1,company,Martin SAS,F-2,2026-01-05,2026-02-04,100.00,EUR\n\
         acme,D-1,person,Martin SARL,F-3,2026-01-05,2026-02-04,100.00,EUR\n\
         other,D-1,person,Someone else,F-1,2026-01-05,2026-02-04,100.00,EUR\n"
    );
    let rows = parse("in.csv", &text, Format::Csv).expect("valid rows");
    let errors: Vec<String> = to_cases(&rows, day("2026-03-01"))
        .expect_err("conflicting debtor")
        .iter()
        .map(ToString::to_string)
        .collect();
    assert_eq!(
        errors,
        [
            "line 3: column `debtor_name`: debtor `D-1` has `Martin SAS` here but \
             `Martin SARL` on line 2",
            "line 4: column `debtor_kind`: debtor `D-1` has `person` here but `company` \
             on line 2",
        ]
    );
}

#[test]
fn a_fax_column_gives_the_debtor_a_fax_number_and_a_bad_one_is_named() {
    let text = "client_id,debtor_id,debtor_kind,debtor_name,debtor_fax,invoice_number,issued,due,amount,currency\n\
                acme,D-9,company,Garage Lenoir,+33 4 72 00 00 99,F-9,2026-01-05,2026-02-04,100.00,EUR\n";
    let rows = parse("fax.csv", text, Format::Csv).expect("valid");
    let cases = to_cases(&rows, day("2026-03-20")).expect("consistent");
    assert_eq!(cases[0].debtor.fax.as_deref(), Some("+33 4 72 00 00 99"));

    let bad = text.replace("+33 4 72 00 00 99", "call me");
    let errors = messages(parse("fax.csv", &bad, Format::Csv));
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert!(
        errors[0].starts_with("fax.csv:2: column `debtor_fax`"),
        "{errors:?}"
    );
}
