//! The client's brand: the identity every message is signed with (white label).

use serde::{Deserialize, Serialize};

/// The client's brand as the templates see it under `brand`.
///
/// Every field has a default (empty text, neutral colours), so a client's brand file only
/// names what it overrides.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(default)]
pub struct Brand {
    pub legal_name: String,
    pub trade_name: String,
    pub address: Vec<String>,
    pub registration: BrandRegistration,
    pub phone: String,
    pub email: String,
    pub reply_to: String,
    pub website: String,
    pub logo: String,
    pub signature: String,
    pub colors: BrandColors,
}

/// Company identifiers printed on letters (French SIREN, intra-EU VAT number, RCS entry).
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(default)]
pub struct BrandRegistration {
    pub siren: String,
    pub vat: String,
    pub rcs: String,
}

/// Brand colours as CSS colour strings, for letters and HTML channels.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(default)]
pub struct BrandColors {
    pub primary: String,
    pub secondary: String,
}

impl Default for BrandColors {
    fn default() -> Self {
        BrandColors {
            primary: "#1f2937".to_owned(),
            secondary: "#6b7280".to_owned(),
        }
    }
}

impl Brand {
    /// The brand as templates see it under `brand`, with the usual fall-backs applied: no
    /// trade name means the legal name, no reply-to address means the main email.
    pub fn to_scope(&self) -> serde_json::Value {
        let mut brand = self.clone();
        if brand.trade_name.trim().is_empty() {
            brand.trade_name.clone_from(&brand.legal_name);
        }
        if brand.reply_to.trim().is_empty() {
            brand.reply_to.clone_from(&brand.email);
        }
        serde_json::to_value(brand).unwrap_or(serde_json::Value::Null)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_brand_file_names_only_what_it_overrides() {
        let brand: Brand = serde_json::from_str(
            r##"{ "legal_name": "Acme SAS", "colors": { "primary": "#ff0000" } }"##,
        )
        .expect("a partial brand parses");
        assert_eq!(brand.legal_name, "Acme SAS");
        assert_eq!(brand.colors.primary, "#ff0000");
        assert_eq!(brand.colors.secondary, BrandColors::default().secondary);
        assert!(brand.address.is_empty());
    }

    #[test]
    fn the_scope_falls_back_to_the_legal_name_and_the_main_email() {
        let brand = Brand {
            legal_name: "Acme SAS".to_owned(),
            email: "billing@acme.example".to_owned(),
            ..Brand::default()
        };
        let scope = brand.to_scope();
        assert_eq!(scope["trade_name"], "Acme SAS");
        assert_eq!(scope["reply_to"], "billing@acme.example");
        assert_eq!(scope["registration"]["siren"], "");
    }
}
