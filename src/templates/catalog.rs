//! The set of template files of one folder, compiled once, one Handlebars registry per
//! language so that partials (`_name.hbs`) resolve within their language.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

use handlebars::{Handlebars, RenderError, RenderErrorReason};
use serde_json::Value;

use super::helpers;
use super::sample::sample_context;
use super::source::{self, Section, SplitSource};
use super::{Rendered, TemplateDiagnostic, TemplateError, check};

/// Every template of a folder, compiled and ready to render.
///
/// The folder holds one sub-folder per language (`fr/`, `en/`, `es/`…), each holding
/// `<name>.hbs` templates and `_<name>.hbs` partials (pieces shared by the templates of that
/// language, included with `{{> name}}`).
#[derive(Debug)]
pub struct TemplateStore {
    languages: BTreeMap<String, Language>,
}

/// The templates of one language.
#[derive(Debug)]
pub(crate) struct Language {
    pub registry: Handlebars<'static>,
    pub templates: BTreeMap<String, TemplateFile>,
    pub partials: BTreeMap<String, TemplateFile>,
}

/// One compiled file.
#[derive(Debug)]
pub(crate) struct TemplateFile {
    pub path: PathBuf,
    pub source: SplitSource,
    /// Optional parts of the scope the template declares it needs (`{{!-- requires: x --}}`).
    pub requires: Vec<Requirement>,
}

/// A `requires:` declaration: this template is only rendered when `name` is in the context.
#[derive(Clone, Debug)]
pub(crate) struct Requirement {
    pub name: String,
    /// 1-based position of the comment in the file.
    pub line: usize,
    pub column: usize,
}

/// The prefix of a comment that declares required parts of the scope.
const REQUIRES: &str = "requires:";

impl TemplateFile {
    /// The registry name of the subject part of template `name`.
    pub fn subject_key(name: &str) -> String {
        format!("{name}.subject")
    }
}

impl TemplateStore {
    /// Loads every `<lang>/<name>.hbs` below `dir`; a template that does not compile is
    /// reported with its file, line and column (collect ALL such errors, don't stop at one).
    pub fn load(dir: &Path) -> Result<Self, Vec<TemplateDiagnostic>> {
        let mut diagnostics = Vec::new();
        let entries = match sorted_entries(dir) {
            Ok(entries) => entries,
            Err(err) => {
                return Err(vec![whole_file(
                    dir,
                    format!("cannot read the template folder: {err}"),
                )]);
            }
        };

        let mut languages = BTreeMap::new();
        for path in entries {
            let Some(name) = path.file_name().and_then(|n| n.to_str()).map(str::to_owned) else {
                continue;
            };
            if name.starts_with('.') {
                continue;
            }
            if path.is_dir() {
                if is_language_code(&name) {
                    languages.insert(name.clone(), load_language(&path, &mut diagnostics));
                } else {
                    diagnostics.push(whole_file(
                        &path,
                        format!(
                            "`{name}` is not a language folder: name it with a language code \
                             such as `fr`, `en` or `es`"
                        ),
                    ));
                }
            } else if path.extension().is_some_and(|e| e == "hbs") {
                diagnostics.push(whole_file(
                    &path,
                    "a template belongs in a language folder, such as `fr/` or `en/`".to_owned(),
                ));
            }
        }

        if diagnostics.is_empty() {
            Ok(TemplateStore { languages })
        } else {
            Err(diagnostics)
        }
    }

    pub fn has(&self, lang: &str, name: &str) -> bool {
        self.languages
            .get(lang)
            .is_some_and(|l| l.templates.contains_key(name))
    }

    /// The language folders, sorted.
    pub fn languages(&self) -> Vec<String> {
        self.languages.keys().cloned().collect()
    }

    /// The template names of a language, sorted (partials are not listed).
    pub fn names(&self, lang: &str) -> Vec<String> {
        self.languages
            .get(lang)
            .map(|l| l.templates.keys().cloned().collect())
            .unwrap_or_default()
    }

    pub fn path_of(&self, lang: &str, name: &str) -> Option<&Path> {
        let language = self.languages.get(lang)?;
        language.templates.get(name).map(|f| f.path.as_path())
    }

    /// Renders template `name` of language `lang`. The root `lang` field of `ctx` is set to
    /// `lang` (helpers format by it); every other field the template uses must be present.
    pub fn render(&self, lang: &str, name: &str, ctx: &Value) -> Result<Rendered, TemplateError> {
        let Some(language) = self.languages.get(lang) else {
            return Err(TemplateError::UnknownTemplate {
                lang: lang.to_owned(),
                name: name.to_owned(),
                hint: hint("language", lang, self.languages.keys()),
            });
        };
        let Some(file) = language.templates.get(name) else {
            return Err(TemplateError::UnknownTemplate {
                lang: lang.to_owned(),
                name: name.to_owned(),
                hint: hint("template", name, language.templates.keys()),
            });
        };

        if let Some(missing) = file
            .requires
            .iter()
            .find(|r| ctx.get(&r.name).is_none_or(Value::is_null))
        {
            return Err(TemplateError::Render {
                file: file.path.clone(),
                line: missing.line,
                column: missing.column,
                message: format!(
                    "this template needs `{0}` in the render context (it declares `requires: {0}`)",
                    missing.name
                ),
            });
        }

        let ctx = with_lang(ctx, lang);
        let body = language
            .registry
            .render(name, ctx.as_ref())
            .map_err(|e| render_error(language, name, e))?;
        let subject = match file.source.subject {
            None => None,
            Some(_) => {
                let key = TemplateFile::subject_key(name);
                let text = language
                    .registry
                    .render(&key, ctx.as_ref())
                    .map_err(|e| render_error(language, &key, e))?;
                Some(text.split_whitespace().collect::<Vec<_>>().join(" "))
            }
        };

        Ok(Rendered {
            subject,
            body: tidy(&body),
        })
    }

    /// Fields a template uses that the scope (the shape above) does not provide, each with the
    /// exact line and column of the use inside the .hbs file; walk the compiled template
    /// (handlebars::template::Template elements: expressions, helper params, block params,
    /// `#each` / `#with` context changes, `this`, `@index`, `../`) rather than rendering.
    pub fn check(&self) -> Vec<TemplateDiagnostic> {
        let mut diagnostics = Vec::new();
        for (lang, language) in &self.languages {
            let scope = sample_context(lang);
            diagnostics.extend(check::check_language(language, &scope));
        }
        diagnostics
    }
}

/// Reads and compiles the files of one language folder, adding what fails to `diagnostics`.
fn load_language(dir: &Path, diagnostics: &mut Vec<TemplateDiagnostic>) -> Language {
    let mut registry = Handlebars::new();
    registry.set_strict_mode(true);
    registry.register_escape_fn(handlebars::no_escape);
    helpers::register(&mut registry);
    let mut language = Language {
        registry,
        templates: BTreeMap::new(),
        partials: BTreeMap::new(),
    };

    let entries = match sorted_entries(dir) {
        Ok(entries) => entries,
        Err(err) => {
            diagnostics.push(whole_file(
                dir,
                format!("cannot read the language folder: {err}"),
            ));
            return language;
        }
    };

    for path in entries {
        if !path.is_file() || path.extension().is_none_or(|e| e != "hbs") {
            continue;
        }
        let stem = path
            .file_stem()
            .and_then(|s| s.to_str())
            .unwrap_or_default();
        let (name, is_partial) = match stem.strip_prefix('_') {
            Some(name) => (name.to_owned(), true),
            None => (stem.to_owned(), false),
        };
        if name.is_empty()
            || !name
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
        {
            diagnostics.push(whole_file(
                &path,
                format!(
                    "`{stem}` is not a template name: use lowercase letters, digits and `_` \
                     (a leading `_` makes a partial)"
                ),
            ));
            continue;
        }

        let text = match fs::read_to_string(&path) {
            Ok(text) => text,
            Err(err) => {
                diagnostics.push(whole_file(
                    &path,
                    format!("cannot read the template: {err}"),
                ));
                continue;
            }
        };
        let split = match source::split(&text) {
            Ok(split) => split,
            Err(err) => {
                diagnostics.push(at(&path, err.line, err.column, err.message, false));
                continue;
            }
        };

        if is_partial {
            if let Some(subject) = &split.subject {
                let (line, column) = subject.to_file(1, 1);
                diagnostics.push(at(
                    &path,
                    line,
                    column.saturating_sub(source::SUBJECT_HEADER.len()).max(1),
                    "a partial has no subject: remove the `subject:` header".to_owned(),
                    false,
                ));
                continue;
            }
            if language.templates.contains_key(&name) {
                diagnostics.push(whole_file(
                    &path,
                    format!("partial `_{name}.hbs` has the same name as template `{name}.hbs`"),
                ));
                continue;
            }
            let compiled = language.registry.register_partial(&name, &split.body.text);
            if let Err(err) = compiled {
                diagnostics.push(compile_diagnostic(&path, &split.body, &err));
                continue;
            }
            let file = TemplateFile {
                path,
                source: split,
                requires: Vec::new(),
            };
            language.partials.insert(name, file);
            continue;
        }

        if language.partials.contains_key(&name) {
            diagnostics.push(whole_file(
                &path,
                format!("template `{name}.hbs` has the same name as partial `_{name}.hbs`"),
            ));
            continue;
        }
        let mut failed = false;
        if let Some(subject) = &split.subject {
            let key = TemplateFile::subject_key(&name);
            if let Err(err) = language
                .registry
                .register_template_string(&key, &subject.text)
            {
                diagnostics.push(compile_diagnostic(&path, subject, &err));
                failed = true;
            }
        }
        if let Err(err) = language
            .registry
            .register_template_string(&name, &split.body.text)
        {
            diagnostics.push(compile_diagnostic(&path, &split.body, &err));
            failed = true;
        }
        if !failed {
            let requires = language
                .registry
                .get_template(&name)
                .map(|t| requirements(t, &split.body))
                .unwrap_or_default();
            let file = TemplateFile {
                path,
                source: split,
                requires,
            };
            language.templates.insert(name, file);
        }
    }
    language
}

/// The `{{!-- requires: promise, plan --}}` declarations among the top-level comments.
fn requirements(template: &handlebars::Template, body: &Section) -> Vec<Requirement> {
    let mut found = Vec::new();
    for (index, element) in template.elements.iter().enumerate() {
        let handlebars::template::TemplateElement::Comment(text) = element else {
            continue;
        };
        let Some(names) = text.trim().strip_prefix(REQUIRES) else {
            continue;
        };
        let (line, column) = template.mapping.get(index).map_or((1, 1), |m| (m.0, m.1));
        let (line, column) = body.to_file(line, column);
        for name in names
            .split([',', ' '])
            .map(str::trim)
            .filter(|n| !n.is_empty())
        {
            found.push(Requirement {
                name: name.to_owned(),
                line,
                column,
            });
        }
    }
    found
}

/// A language folder name: `fr`, `en`, `es`, or a tag with a region such as `fr-ca`.
fn is_language_code(name: &str) -> bool {
    let (primary, region) = match name.split_once('-') {
        Some((p, r)) => (p, Some(r)),
        None => (name, None),
    };
    let primary_ok =
        (2..=3).contains(&primary.len()) && primary.chars().all(|c| c.is_ascii_lowercase());
    let region_ok = region
        .is_none_or(|r| (2..=8).contains(&r.len()) && r.chars().all(|c| c.is_ascii_alphanumeric()));
    primary_ok && region_ok
}

fn sorted_entries(dir: &Path) -> std::io::Result<Vec<PathBuf>> {
    let mut entries = fs::read_dir(dir)?
        .map(|entry| entry.map(|e| e.path()))
        .collect::<std::io::Result<Vec<_>>>()?;
    entries.sort();
    Ok(entries)
}

/// A compile error of one section, at its position in the file.
fn compile_diagnostic(
    path: &Path,
    section: &Section,
    err: &handlebars::TemplateError,
) -> TemplateDiagnostic {
    let (line, column) = err.pos().unwrap_or((1, 1));
    let (line, column) = section.to_file(line, column);
    at(
        path,
        line,
        column,
        format!("does not compile: {}", err.reason()),
        false,
    )
}

/// Maps a Handlebars render error back to the file and position it comes from.
fn render_error(language: &Language, key: &str, err: RenderError) -> TemplateError {
    let failed_in = err.template_name.clone().unwrap_or_else(|| key.to_owned());
    let located = locate(language, &failed_in).or_else(|| locate(language, key));
    let message = match err.reason() {
        RenderErrorReason::MissingVariable(Some(path)) => format!(
            "`{path}` is missing from the render context (templates render in strict mode: \
             every field a template uses must be given; wrap optional parts in {{{{#if …}}}})"
        ),
        RenderErrorReason::MissingVariable(None) => {
            "a value used here is missing from the render context (strict mode)".to_owned()
        }
        RenderErrorReason::PartialNotFound(name) => {
            format!("no partial `{name}`: write it as `_{name}.hbs` in the same language folder")
        }
        RenderErrorReason::HelperNotFound(name) => format!("unknown helper `{name}`"),
        RenderErrorReason::Other(message) => message.clone(),
        other => other.to_string(),
    };

    let Some((path, section)) = located else {
        return TemplateError::Render {
            file: PathBuf::from(key),
            line: 0,
            column: 0,
            message,
        };
    };
    let (line, column) = match (err.line_no, err.column_no) {
        (Some(line), Some(column)) => section.to_file(line, column),
        _ => section.to_file(1, 1),
    };
    TemplateError::Render {
        file: path.to_owned(),
        line,
        column,
        message,
    }
}

/// The file and section behind a registry name (a template, its subject, or a partial).
fn locate<'a>(language: &'a Language, key: &str) -> Option<(&'a Path, &'a Section)> {
    if let Some(name) = key.strip_suffix(".subject")
        && let Some(file) = language.templates.get(name)
        && let Some(subject) = &file.source.subject
    {
        return Some((&file.path, subject));
    }
    language
        .templates
        .get(key)
        .or_else(|| language.partials.get(key))
        .map(|file| (file.path.as_path(), &file.source.body))
}

/// `ctx` with its root `lang` set to `lang`, copied only when it differs.
fn with_lang<'a>(ctx: &'a Value, lang: &str) -> Cow<'a, Value> {
    if ctx.get("lang").and_then(Value::as_str) == Some(lang) || !ctx.is_object() {
        return Cow::Borrowed(ctx);
    }
    let mut owned = ctx.clone();
    if let Some(map) = owned.as_object_mut() {
        map.insert("lang".to_owned(), Value::String(lang.to_owned()));
    }
    Cow::Owned(owned)
}

/// Plain-text clean-up of a rendered body: `\n` line ends, no trailing spaces, at most one
/// blank line in a row (left by optional sections), no blank lines at either end.
fn tidy(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut blank_run = 0;
    for line in text.replace("\r\n", "\n").lines() {
        let line = line.trim_end();
        if line.is_empty() {
            blank_run += 1;
            continue;
        }
        if !out.is_empty() {
            out.push_str(if blank_run > 0 { "\n\n" } else { "\n" });
        }
        blank_run = 0;
        out.push_str(line);
    }
    out
}

/// " (did you mean `x`?)" for the closest known name, or nothing.
pub(crate) fn hint<'a>(
    what: &str,
    wanted: &str,
    known: impl Iterator<Item = &'a String>,
) -> String {
    let known: Vec<&String> = known.collect();
    match closest(wanted, known.iter().map(|s| s.as_str())) {
        Some(best) => format!(" (did you mean `{best}`?)"),
        None if known.is_empty() => format!(" (there is no {what} at all)"),
        None => String::new(),
    }
}

/// The known name closest to `wanted`, when it is close enough to be a likely typo.
pub(crate) fn closest<'a>(wanted: &str, known: impl Iterator<Item = &'a str>) -> Option<&'a str> {
    known
        .map(|k| (strsim::levenshtein(wanted, k), k))
        .filter(|(distance, k)| *distance <= (wanted.len().max(k.len()) / 3).max(1))
        .min()
        .map(|(_, k)| k)
}

pub(crate) fn at(
    path: &Path,
    line: usize,
    column: usize,
    message: String,
    is_warning: bool,
) -> TemplateDiagnostic {
    TemplateDiagnostic {
        file: path.to_owned(),
        line,
        column,
        message,
        is_warning,
    }
}

/// A problem with a whole file or folder: line and column 0.
fn whole_file(path: &Path, message: String) -> TemplateDiagnostic {
    at(path, 0, 0, message, false)
}
