//! Business days, public holidays, sending windows and durations.
//!
//! This module owns the arithmetic of time that scenarios rely on: which days are business
//! days in a country, how `5bd` or `1m` moves a date or an instant across weekends, holidays
//! and DST changes, and when a sending window next opens in a debtor's zone. It is pure: no
//! clock, no I/O, no knowledge of cases or scenarios.

/// Serializes a type through its `Display` and reads it back through its
/// `FromStr`, so that YAML and JSON hold the text an author writes ("5bd").
macro_rules! serde_as_text {
    ($ty:ty) => {
        impl serde::Serialize for $ty {
            fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.collect_str(self)
            }
        }

        impl<'de> serde::Deserialize<'de> for $ty {
            fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                let text = <String as serde::Deserialize>::deserialize(deserializer)?;
                text.parse().map_err(serde::de::Error::custom)
            }
        }
    };
}
pub(crate) use serde_as_text;

mod business;
mod country;
mod duration;
mod holidays;
mod window;
mod zone;

pub use business::Calendar;
pub use country::{Country, CountryError};
pub use duration::{Duration, DurationError, Unit};
pub use holidays::{Holiday, easter_sunday, holidays};
pub use window::{Window, WindowError};
