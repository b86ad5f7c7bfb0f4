//! The static check of templates against the render scope.

use super::TemplateDiagnostic;
use super::catalog::Language;
use serde_json::Value;

pub(crate) fn check_language(_language: &Language, _scope: &Value) -> Vec<TemplateDiagnostic> {
    Vec::new()
}
