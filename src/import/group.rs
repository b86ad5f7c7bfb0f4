//! Grouping checked rows into cases, with the checks that need several rows.

use std::collections::HashMap;

use chrono::NaiveDate;

use super::{ImportRow, RowError};
use crate::engine::{Address, Allocation, Case, Client, Debtor, Invoice};

/// (client id, debtor id, currency code): what makes one case.
type GroupKey<'a> = (&'a str, &'a str, &'a str);

fn conflict(row: &ImportRow, column: &str, message: String) -> RowError {
    RowError {
        file: String::new(),
        line: row.line,
        column: Some(column.to_owned()),
        message,
    }
}

/// The first column on which two rows of one debtor disagree, with both values. Optional
/// details are compared only when both rows give them; language and time zone only when
/// both rows agree on whether a country is given, since they default from it.
fn debtor_difference(a: &ImportRow, b: &ImportRow) -> Option<(&'static str, String, String)> {
    fn both<T: PartialEq + ToString>(x: &Option<T>, y: &Option<T>) -> Option<(String, String)> {
        match (x, y) {
            (Some(x), Some(y)) if x != y => Some((x.to_string(), y.to_string())),
            _ => None,
        }
    }
    let same_country_given = a.debtor_country.is_some() == b.debtor_country.is_some();
    let lines = |r: &ImportRow| (!r.address_lines.is_empty()).then(|| r.address_lines.join(" | "));
    let candidates: [(&'static str, Option<(String, String)>); 14] = [
        (
            "debtor_name",
            (a.debtor_name != b.debtor_name)
                .then(|| (a.debtor_name.clone(), b.debtor_name.clone())),
        ),
        (
            "debtor_kind",
            (a.debtor_kind != b.debtor_kind).then(|| {
                (
                    a.debtor_kind.name().to_owned(),
                    b.debtor_kind.name().to_owned(),
                )
            }),
        ),
        ("debtor_country", both(&a.debtor_country, &b.debtor_country)),
        (
            "debtor_language",
            (same_country_given && a.debtor_language != b.debtor_language)
                .then(|| (a.debtor_language.clone(), b.debtor_language.clone())),
        ),
        (
            "debtor_timezone",
            (same_country_given && a.debtor_timezone != b.debtor_timezone).then(|| {
                (
                    a.debtor_timezone.name().to_owned(),
                    b.debtor_timezone.name().to_owned(),
                )
            }),
        ),
        ("debtor_email", both(&a.debtor_email, &b.debtor_email)),
        ("debtor_mobile", both(&a.debtor_mobile, &b.debtor_mobile)),
        ("debtor_phone", both(&a.debtor_phone, &b.debtor_phone)),
        ("debtor_fax", both(&a.debtor_fax, &b.debtor_fax)),
        ("address", both(&lines(a), &lines(b))),
        ("postcode", both(&a.postcode, &b.postcode)),
        ("city", both(&a.city, &b.city)),
        ("siren", both(&a.siren, &b.siren)),
        ("vat", both(&a.vat, &b.vat)),
    ];
    candidates
        .into_iter()
        .find_map(|(column, values)| values.map(|(x, y)| (column, x, y)))
}

/// The first column on which two rows for one invoice number disagree, with both values.
fn invoice_difference(a: &ImportRow, b: &ImportRow) -> Option<(&'static str, String, String)> {
    let open = |r: &ImportRow| {
        r.open_amount
            .map_or_else(|| "(empty)".to_owned(), |o| o.to_string())
    };
    let candidates: [(&'static str, String, String); 6] = [
        ("debtor_id", a.debtor_id.clone(), b.debtor_id.clone()),
        ("issued", a.issued.to_string(), b.issued.to_string()),
        ("due", a.due.to_string(), b.due.to_string()),
        ("amount", a.amount.to_string(), b.amount.to_string()),
        (
            "currency",
            a.currency.code().to_owned(),
            b.currency.code().to_owned(),
        ),
        ("open_amount", open(a), open(b)),
    ];
    candidates.into_iter().find(|(_, x, y)| x != y)
}

/// The first value some row gives.
fn first<T: Clone>(rows: &[&ImportRow], get: impl Fn(&ImportRow) -> &Option<T>) -> Option<T> {
    rows.iter().find_map(|row| get(row).clone())
}

fn debtor(rows: &[&ImportRow]) -> Debtor {
    // Language and time zone come from the first row that names a country, as they
    // default from it.
    let main = rows
        .iter()
        .find(|row| row.debtor_country.is_some())
        .unwrap_or(&rows[0]);
    let lines = rows
        .iter()
        .map(|row| row.address_lines.clone())
        .find(|lines| !lines.is_empty())
        .unwrap_or_default();
    let postcode = first(rows, |r| &r.postcode);
    let city = first(rows, |r| &r.city);
    let country = first(rows, |r| &r.debtor_country);
    let address = (!lines.is_empty() || postcode.is_some() || city.is_some()).then(|| Address {
        lines,
        postcode,
        city,
        country: country.clone(),
    });
    Debtor {
        id: main.debtor_id.clone(),
        kind: main.debtor_kind,
        name: main.debtor_name.clone(),
        country,
        language: main.debtor_language.clone(),
        timezone: main.debtor_timezone,
        email: first(rows, |r| &r.debtor_email),
        mobile: first(rows, |r| &r.debtor_mobile),
        phone: first(rows, |r| &r.debtor_phone),
        fax: first(rows, |r| &r.debtor_fax),
        address,
        siren: first(rows, |r| &r.siren),
        vat: first(rows, |r| &r.vat),
        risk: None,
        risk_score: None,
        credit_limit: None,
        watch: false,
    }
}

fn invoice(row: &ImportRow, today: NaiveDate) -> Invoice {
    let paid = row
        .open_amount
        .map(|open| row.amount - open)
        .unwrap_or_default();
    let allocations = if paid > rust_decimal::Decimal::ZERO {
        vec![Allocation {
            date: today,
            amount: paid,
        }]
    } else {
        Vec::new()
    };
    Invoice {
        number: row.invoice_number.clone(),
        issued: row.issued,
        due: row.due,
        amount: row.amount,
        currency: row.currency,
        allocations,
    }
}

pub(crate) fn to_cases(rows: &[ImportRow], today: NaiveDate) -> Result<Vec<Case>, Vec<RowError>> {
    let mut errors = Vec::new();
    let mut clients: HashMap<&str, Vec<&ImportRow>> = HashMap::new();
    let mut debtors: HashMap<(&str, &str), Vec<&ImportRow>> = HashMap::new();
    let mut invoices: HashMap<(&str, &str), &ImportRow> = HashMap::new();
    // (client, debtor, currency) in order of first appearance, with the rows of its invoices.
    let mut groups: Vec<(GroupKey, Vec<&ImportRow>)> = Vec::new();

    for row in rows {
        let client_rows = clients.entry(&row.client_id).or_default();
        let client_clash = client_rows.iter().find_map(|other| {
            let name = match (&other.client_name, &row.client_name) {
                (Some(x), Some(y)) if x != y => Some(("client_name", x, y)),
                _ => None,
            };
            let country = match (&other.client_country, &row.client_country) {
                (Some(x), Some(y)) if x != y => Some(("client_country", x, y)),
                _ => None,
            };
            name.or(country).map(|clash| (other.line, clash))
        });
        if let Some((line, (column, there, here))) = client_clash {
            let message = format!(
                "client `{}` has `{here}` here but `{there}` on line {line}",
                row.client_id
            );
            errors.push(conflict(row, column, message));
            continue;
        }
        client_rows.push(row);

        let debtor_rows = debtors.entry((&row.client_id, &row.debtor_id)).or_default();
        let debtor_clash = debtor_rows
            .iter()
            .find_map(|other| debtor_difference(other, row).map(|d| (other.line, d)));
        if let Some((line, (column, there, here))) = debtor_clash {
            let message = format!(
                "debtor `{}` has `{here}` here but `{there}` on line {line}",
                row.debtor_id
            );
            errors.push(conflict(row, column, message));
            continue;
        }
        debtor_rows.push(row);

        let key = (row.client_id.as_str(), row.invoice_number.as_str());
        if let Some(other) = invoices.get(&key) {
            if let Some((column, there, here)) = invoice_difference(other, row) {
                let message = format!(
                    "invoice `{}` of client `{}` has `{here}` here but `{there}` on line {}",
                    row.invoice_number, row.client_id, other.line
                );
                errors.push(conflict(row, column, message));
            }
            // The same invoice given twice with the same content is kept once.
            continue;
        }
        invoices.insert(key, row);

        let group = (
            row.client_id.as_str(),
            row.debtor_id.as_str(),
            row.currency.code(),
        );
        match groups.iter_mut().find(|(key, _)| *key == group) {
            Some((_, members)) => members.push(row),
            None => groups.push((group, vec![row])),
        }
    }
    if !errors.is_empty() {
        return Err(errors);
    }

    let cases = groups
        .iter()
        .map(|((client_id, debtor_id, currency), members)| {
            let client_rows = &clients[client_id];
            let several_currencies = groups
                .iter()
                .filter(|((c, d, _), _)| c == client_id && d == debtor_id)
                .count()
                > 1;
            let id = if several_currencies {
                format!("{client_id}/{debtor_id}/{currency}")
            } else {
                format!("{client_id}/{debtor_id}")
            };
            let mut invoices: Vec<Invoice> =
                members.iter().map(|row| invoice(row, today)).collect();
            invoices.sort_by(|a, b| (a.due, &a.number).cmp(&(b.due, &b.number)));
            Case {
                id,
                client: Client {
                    id: (*client_id).to_owned(),
                    name: first(client_rows, |r| &r.client_name)
                        .unwrap_or_else(|| (*client_id).to_owned()),
                    country: first(client_rows, |r| &r.client_country),
                },
                debtor: debtor(&debtors[&(*client_id, *debtor_id)]),
                invoices,
            }
        })
        .collect();
    Ok(cases)
}
