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
