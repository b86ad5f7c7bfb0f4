//! Reading a CSV import file into records: the header checks and one record a row.

use std::collections::BTreeMap;

use super::RowError;
use super::columns;
use super::row::Record;

fn header_error(file: &str, column: Option<&str>, message: &str) -> RowError {
    RowError {
        file: file.to_owned(),
        line: 1,
        column: column.map(str::to_owned),
        message: message.to_owned(),
    }
}

/// `;` when the header line has semicolons and no comma (as spreadsheets write CSV in
/// locales with a decimal comma), `,` otherwise.
fn delimiter(text: &str) -> u8 {
    let header = text.lines().next().unwrap_or_default();
    if header.contains(';') && !header.contains(',') {
        b';'
    } else {
        b','
    }
}

/// The records of `text` and every header or shape error. A row whose number of fields
/// differs from the header's is reported and left out.
pub(crate) fn read(file: &str, text: &str) -> (Vec<Record>, Vec<RowError>) {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut errors = Vec::new();
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .delimiter(delimiter(text))
        .trim(csv::Trim::All)
        .from_reader(text.as_bytes());
    let mut rows = reader.records();

    let header = match rows.next() {
        Some(Ok(header)) => header,
        Some(Err(err)) => {
            errors.push(header_error(
                file,
                None,
                &format!("unreadable header: {err}"),
            ));
            return (Vec::new(), errors);
        }
        None => {
            let message = "the file is empty: the first line must name the columns";
            errors.push(header_error(file, None, message));
            return (Vec::new(), errors);
        }
    };

    let names: Vec<String> = header.iter().map(str::to_ascii_lowercase).collect();
    for (index, name) in names.iter().enumerate() {
        if name.is_empty() {
            let message = format!("column {} has no name", index + 1);
            errors.push(header_error(file, None, &message));
        } else if let Some(first) = names[..index].iter().position(|n| n == name) {
            let message = format!(
                "column appears twice (columns {} and {})",
                first + 1,
                index + 1
            );
            errors.push(header_error(file, Some(name), &message));
        } else if !columns::is_known(name) {
            errors.push(header_error(
                file,
                Some(name),
                &columns::unknown_message(name),
            ));
        }
    }
    for required in columns::required() {
        if !names.iter().any(|n| n == required) {
            let message = "required column is missing from the header";
            errors.push(header_error(file, Some(required), message));
        }
    }

    let mut records = Vec::new();
    for row in rows {
        let row = match row {
            Ok(row) => row,
            Err(err) => {
                let line = err.position().map_or(1, |p| p.line() as usize);
                errors.push(RowError {
                    file: file.to_owned(),
                    line,
                    column: None,
                    message: format!("unreadable row: {err}"),
                });
                continue;
            }
        };
        let line = row.position().map_or(1, |p| p.line() as usize);
        if row.iter().all(str::is_empty) {
            continue;
        }
        if row.len() != names.len() {
            errors.push(RowError {
                file: file.to_owned(),
                line,
                column: None,
                message: format!(
                    "the row has {} fields but the header has {}",
                    row.len(),
                    names.len()
                ),
            });
            continue;
        }
        let cells: BTreeMap<String, String> = names
            .iter()
            .zip(row.iter())
            .filter(|(name, _)| columns::is_known(name))
            .map(|(name, cell)| (name.clone(), cell.to_owned()))
            .collect();
        records.push(Record {
            line,
            object: None,
            cells,
        });
    }

    if records.is_empty() && errors.is_empty() {
        errors.push(header_error(file, None, "no invoice rows after the header"));
    }
    (records, errors)
}
