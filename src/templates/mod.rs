//! Message templates: Handlebars files per language, the render scope, the locale helpers
//! (`money`, `date`, …) and the client's brand.
//!
//! This module owns turning a template and a render context into text. It does not decide
//! which template or language a case needs (the scenario does), it does not build the context
//! from stored data, and it never sends anything: storage, HTTP and channels stay outside.

mod brand;
mod catalog;
mod check;
mod format;
mod helpers;
pub mod image;
pub mod pdf;
mod sample;
mod source;

use std::path::PathBuf;

pub use brand::{Brand, BrandColors, BrandRegistration};
pub use catalog::TemplateStore;
pub use format::{DateStyle, FormatError, format_date, format_money, format_number};
pub use sample::sample_context;

/// A rendered message: the subject (when the template has a `subject:` header) and the body.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rendered {
    pub subject: Option<String>,
    pub body: String,
}

/// A problem found in a template file, at a 1-based line and column of that file (line and
/// column 0 when it concerns the whole file or folder, such as a misplaced file).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TemplateDiagnostic {
    pub file: PathBuf,
    pub line: usize,
    pub column: usize,
    pub message: String,
    pub is_warning: bool,
}

impl std::fmt::Display for TemplateDiagnostic {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let level = if self.is_warning { "warning" } else { "error" };
        write!(
            f,
            "{}:{}:{}: {level}: {}",
            self.file.display(),
            self.line,
            self.column,
            self.message
        )
    }
}

/// Why a template could not be rendered.
#[derive(Debug, thiserror::Error)]
pub enum TemplateError {
    /// No template of that name in that language.
    #[error("no template `{name}` in language `{lang}`{hint}")]
    UnknownTemplate {
        lang: String,
        name: String,
        /// A ready-to-print suggestion (" (did you mean `x`?)"), or empty.
        hint: String,
    },
    /// Rendering failed inside a template file (a missing field in strict mode, a helper
    /// given a bad amount or date, …).
    #[error("{}:{line}:{column}: {message}", file.display())]
    Render {
        file: PathBuf,
        line: usize,
        column: usize,
        message: String,
    },
}
