//! The scenario language: the YAML model, loading with positions, and the
//! checker.
//!
//! A scenario is read from YAML into a typed [`Scenario`] whose conditions
//! are compiled Rhai; every problem is reported as a [`Diagnostic`] naming
//! the file, line and column. This module reads text only: it never touches
//! storage, HTTP or channels.

mod check;
mod diag;
mod load;
mod model;
pub mod yaml;

pub use check::{TemplateLookup, check};
pub use diag::{Diagnostic, Severity, sort as sort_diagnostics};
pub use load::{EVENT_TYPES, Loaded, load, version_of};
pub use model::*;

use crate::rules::Rules;

/// Loads and checks a scenario in one go: the scenario when it has no
/// error, and every diagnostic, sorted.
///
/// The whole-scenario checks also run when loading found errors, on what
/// could be read, so that one run reports every mistake.
pub fn load_checked(
    rules: &Rules,
    file: &str,
    source: &str,
    templates: Option<&dyn TemplateLookup>,
) -> Loaded {
    let mut loaded = load::load_partial(rules, file, source);
    if let Some(scenario) = &loaded.scenario {
        loaded.diagnostics.extend(check(scenario, templates));
    }
    if loaded.diagnostics.iter().any(Diagnostic::is_error) {
        loaded.scenario = None;
    }
    sort_diagnostics(&mut loaded.diagnostics);
    loaded
}
