//! Reading and validating a client's invoice file (CSV or JSON) before import.
//!
//! This module owns the import format: its columns, their defaults, every row-level and
//! cross-row check, and the grouping of rows into engine [`Case`]s. It is pure: it reads
//! the text it is given and touches no database, file system or clock (the import day is
//! passed in). Every error is collected, so that one run reports every bad row.

mod columns;
mod csv_file;
mod group;
mod json_file;
mod row;

use std::fmt;

use chrono::NaiveDate;
use rust_decimal::Decimal;

use crate::engine::{Case, DebtorKind};
use crate::money::Currency;

/// One validated line of an import file: one invoice with its client and debtor.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ImportRow {
    /// CSV: the physical line where the record starts (the header is line 1). JSON: the line
    /// where the object starts.
    pub line: usize,
    pub client_id: String,
    pub client_name: Option<String>,
    /// ISO 3166 alpha-2, upper case.
    pub client_country: Option<String>,
    pub debtor_id: String,
    pub debtor_kind: DebtorKind,
    pub debtor_name: String,
    /// ISO 3166 alpha-2, upper case.
    pub debtor_country: Option<String>,
    /// Given, or defaulted from the debtor's country.
    pub debtor_language: String,
    /// Given, or defaulted from the debtor's country.
    pub debtor_timezone: chrono_tz::Tz,
    pub debtor_email: Option<String>,
    pub debtor_mobile: Option<String>,
    pub debtor_phone: Option<String>,
    pub debtor_fax: Option<String>,
    pub address_lines: Vec<String>,
    pub postcode: Option<String>,
    pub city: Option<String>,
    pub siren: Option<String>,
    pub vat: Option<String>,
    pub invoice_number: String,
    pub issued: NaiveDate,
    pub due: NaiveDate,
    pub amount: Decimal,
    pub currency: Currency,
    /// What is still owed, when less than the amount; `None` means all of it.
    pub open_amount: Option<Decimal>,
}

/// One problem in an import file, at a line and, when known, a column.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub struct RowError {
    /// The file as the user named it; empty when the check did not know it (see
    /// [`RowError::in_file`]).
    pub file: String,
    pub line: usize,
    pub column: Option<String>,
    pub message: String,
}

impl RowError {
    /// The same error, naming `file`.
    pub fn in_file(mut self, file: &str) -> Self {
        self.file = file.to_owned();
        self
    }
}

impl fmt::Display for RowError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.file.is_empty() {
            write!(f, "line {}: ", self.line)?;
        } else {
            write!(f, "{}:{}: ", self.file, self.line)?;
        }
        if let Some(column) = &self.column {
            write!(f, "column `{column}`: ")?;
        }
        f.write_str(&self.message)
    }
}

/// The two formats an import file can have.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    Csv,
    Json,
}

impl Format {
    /// The format a file name's extension says (`.csv`, `.json`, any letter case).
    pub fn from_path(path: &str) -> Option<Format> {
        let (_, extension) = path.rsplit_once('.')?;
        if extension.eq_ignore_ascii_case("csv") {
            Some(Format::Csv)
        } else if extension.eq_ignore_ascii_case("json") {
            Some(Format::Json)
        } else {
            None
        }
    }
}

/// Reads and validates every row of `text`; `file` only names the place in errors.
pub fn parse(file: &str, text: &str, format: Format) -> Result<Vec<ImportRow>, Vec<RowError>> {
    let (records, mut errors) = match format {
        Format::Csv => csv_file::read(file, text),
        Format::Json => json_file::read(file, text),
    };

    let mut rows = Vec::with_capacity(records.len());
    for record in &records {
        match row::check(file, record) {
            Ok(row) => rows.push(row),
            Err(row_errors) => errors.extend(row_errors),
        }
    }

    if errors.is_empty() {
        Ok(rows)
    } else {
        errors.sort_by_key(|e| e.line);
        Err(errors)
    }
}

/// Groups rows into cases: one per (client_id, debtor_id, currency). An open_amount below
/// the amount becomes an allocation dated `today`. Cross-row checks: the same invoice number
/// twice for one client with different content, and one debtor id with conflicting details,
/// are errors naming both lines.
pub fn to_cases(rows: &[ImportRow], today: NaiveDate) -> Result<Vec<Case>, Vec<RowError>> {
    group::to_cases(rows, today)
}
