//! The countries relance has a calendar for, with their default zone and language.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A country with a national holiday calendar, named by its ISO 3166-1 alpha-2 code.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Country {
    FR,
    ES,
    DE,
    IT,
    BE,
    NL,
    GB,
}

/// A country code that relance has no calendar for.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("unknown country \"{input}\": use FR, ES, DE, IT, BE, NL or GB (UK is accepted for GB)")]
pub struct CountryError {
    /// The text that was given.
    pub input: String,
}

impl Country {
    /// Every country, in declaration order.
    pub const ALL: [Country; 7] = [
        Country::FR,
        Country::ES,
        Country::DE,
        Country::IT,
        Country::BE,
        Country::NL,
        Country::GB,
    ];

    /// The two-letter code, e.g. `"FR"`.
    pub fn code(self) -> &'static str {
        match self {
            Country::FR => "FR",
            Country::ES => "ES",
            Country::DE => "DE",
            Country::IT => "IT",
            Country::BE => "BE",
            Country::NL => "NL",
            Country::GB => "GB",
        }
    }

    /// The country's name in English, e.g. `"France"`.
    pub fn name(self) -> &'static str {
        match self {
            Country::FR => "France",
            Country::ES => "Spain",
            Country::DE => "Germany",
            Country::IT => "Italy",
            Country::BE => "Belgium",
            Country::NL => "Netherlands",
            Country::GB => "United Kingdom",
        }
    }

    /// The time zone of the country's capital, used when a debtor has none of their own.
    pub fn default_timezone(self) -> chrono_tz::Tz {
        use chrono_tz::Europe;
        match self {
            Country::FR => Europe::Paris,
            Country::ES => Europe::Madrid,
            Country::DE => Europe::Berlin,
            Country::IT => Europe::Rome,
            Country::BE => Europe::Brussels,
            Country::NL => Europe::Amsterdam,
            Country::GB => Europe::London,
        }
    }

    /// The ISO 639-1 language used when a debtor has none of their own. Belgium defaults to
    /// French; set the debtor's language for Dutch- or German-speaking debtors.
    pub fn default_language(self) -> &'static str {
        match self {
            Country::FR | Country::BE => "fr",
            Country::ES => "es",
            Country::DE => "de",
            Country::IT => "it",
            Country::NL => "nl",
            Country::GB => "en",
        }
    }
}

impl fmt::Display for Country {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

impl FromStr for Country {
    type Err = CountryError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if s.eq_ignore_ascii_case("UK") {
            return Ok(Country::GB);
        }
        Country::ALL
            .into_iter()
            .find(|c| c.code().eq_ignore_ascii_case(s))
            .ok_or_else(|| CountryError {
                input: s.to_owned(),
            })
    }
}

impl Serialize for Country {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.code())
    }
}

impl<'de> Deserialize<'de> for Country {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parsing_ignores_case_and_accepts_uk_for_gb() {
        assert_eq!("fr".parse::<Country>(), Ok(Country::FR));
        assert_eq!("Nl".parse::<Country>(), Ok(Country::NL));
        assert_eq!("uk".parse::<Country>(), Ok(Country::GB));
        assert_eq!("GB".parse::<Country>(), Ok(Country::GB));
    }

    #[test]
    fn unknown_country_error_lists_the_known_ones() {
        let err = "PT".parse::<Country>().unwrap_err();
        assert_eq!(
            err.to_string(),
            "unknown country \"PT\": use FR, ES, DE, IT, BE, NL or GB (UK is accepted for GB)"
        );
        assert!(" FR".parse::<Country>().is_err());
    }

    #[test]
    fn display_and_serde_use_the_two_letter_code() {
        for country in Country::ALL {
            assert_eq!(country.to_string().parse::<Country>(), Ok(country));
            let json = serde_json::to_string(&country).unwrap();
            assert_eq!(json, format!("\"{country}\""));
            assert_eq!(serde_json::from_str::<Country>(&json).unwrap(), country);
        }
        assert_eq!(
            serde_json::from_str::<Country>("\"uk\"").unwrap(),
            Country::GB
        );
        assert!(serde_json::from_str::<Country>("\"XX\"").is_err());
    }

    #[test]
    fn defaults_follow_the_capital_and_main_language() {
        assert_eq!(Country::GB.default_timezone(), chrono_tz::Europe::London);
        assert_eq!(Country::ES.default_timezone(), chrono_tz::Europe::Madrid);
        assert_eq!(Country::BE.default_language(), "fr");
        assert_eq!(Country::GB.default_language(), "en");
    }
}
