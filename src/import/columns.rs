//! The documented columns of an import file, and the suggestion for a misspelt one.

/// Every column, in the documented order, with whether a row must give it.
pub(crate) const COLUMNS: [(&str, bool); 24] = [
    ("client_id", true),
    ("client_name", false),
    ("client_country", false),
    ("debtor_id", true),
    ("debtor_kind", true),
    ("debtor_name", true),
    ("debtor_country", false),
    ("debtor_language", false),
    ("debtor_timezone", false),
    ("debtor_email", false),
    ("debtor_mobile", false),
    ("debtor_phone", false),
    ("debtor_fax", false),
    ("address", false),
    ("postcode", false),
    ("city", false),
    ("siren", false),
    ("vat", false),
    ("invoice_number", true),
    ("issued", true),
    ("due", true),
    ("amount", true),
    ("currency", true),
    ("open_amount", false),
];

/// The required columns, in the documented order.
pub(crate) fn required() -> impl Iterator<Item = &'static str> {
    COLUMNS
        .iter()
        .filter(|(_, required)| *required)
        .map(|(name, _)| *name)
}

pub(crate) fn is_known(name: &str) -> bool {
    COLUMNS.iter().any(|(known, _)| *known == name)
}

/// The message for a column that is not documented, with the nearest documented name
/// when one is close enough to be a typo.
pub(crate) fn unknown_message(name: &str) -> String {
    let wanted = name.to_ascii_lowercase();
    let nearest = COLUMNS
        .iter()
        .map(|(known, _)| (strsim::jaro_winkler(&wanted, known), *known))
        .max_by(|a, b| a.0.total_cmp(&b.0));
    match nearest {
        Some((score, known)) if score >= 0.85 => {
            format!("unknown column; did you mean `{known}`?")
        }
        _ => "unknown column; see the documented import columns".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_typo_gets_the_nearest_column_suggested() {
        assert_eq!(
            unknown_message("ammount"),
            "unknown column; did you mean `amount`?"
        );
        assert_eq!(
            unknown_message("Debtor_Email"),
            "unknown column; did you mean `debtor_email`?"
        );
        assert_eq!(
            unknown_message("colour"),
            "unknown column; see the documented import columns"
        );
    }

    #[test]
    fn nine_columns_are_required() {
        assert_eq!(required().count(), 9);
        assert!(is_known("open_amount"));
        assert!(!is_known("Amount"));
    }
}
