//! Business days, public holidays, sending windows and durations.
//!
//! This module owns the arithmetic of time that scenarios rely on: which days are business
//! days in a country, how `5bd` or `1m` moves a date or an instant across weekends, holidays
//! and DST changes, and when a sending window next opens in a debtor's zone. It is pure: no
//! clock, no I/O, no knowledge of cases or scenarios.

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
