//! The static check of templates against the render scope.
//!
//! It walks the compiled Handlebars elements with a model of the scope (the sample context)
//! and a stack of contexts (`#each`, `#with`, block params), and reports each field, helper
//! or partial that does not exist, at the line and column where the file uses it. It renders
//! nothing.

use std::collections::BTreeSet;
use std::path::Path;

use handlebars::template::{
    BlockParam, DecoratorTemplate, HelperTemplate, Parameter, Template, TemplateElement,
};
use handlebars::{Path as HbsPath, PathSeg};
use serde_json::Value;

use super::TemplateDiagnostic;
use super::catalog::{Language, TemplateFile, at, closest};
use super::format;
use super::helpers::{self, HELPERS};
use super::source::{Section, offset_of, position_of};

/// Parts of the scope that a case may not have; using them outside a guard such as
/// `{{#if promise}}` fails at render time for the cases without them.
const OPTIONAL: &[&str] = &["promise", "plan", "dispute", "agent"];

/// The path segment of "any item" of a list, inside `#each`.
const ANY_ITEM: &str = "*";

/// How deep partials may include partials before the checker stops following them.
const MAX_PARTIAL_DEPTH: usize = 8;

/// Checks every template and partial of one language against `scope`.
pub(crate) fn check_language(language: &Language, scope: &Value) -> Vec<TemplateDiagnostic> {
    let mut checker = Checker {
        language,
        diagnostics: Vec::new(),
        used_partials: BTreeSet::new(),
        partial_stack: Vec::new(),
    };

    for (name, file) in &language.templates {
        let mut required = Vec::new();
        for requirement in &file.requires {
            if scope.get(&requirement.name).is_some() {
                required.push(requirement.name.clone());
                continue;
            }
            let hint = scope
                .as_object()
                .and_then(|fields| closest(&requirement.name, fields.keys().map(String::as_str)))
                .map(|best| format!(" (did you mean `{best}`?)"))
                .unwrap_or_default();
            let message = format!(
                "`requires: {}` names no part of the render scope{hint}",
                requirement.name
            );
            checker.diagnostics.push(at(
                &file.path,
                requirement.line,
                requirement.column,
                message,
                false,
            ));
        }
        if let Some(subject) = &file.source.subject {
            let key = TemplateFile::subject_key(name);
            checker.check_section(&key, &file.path, subject, scope, &required);
        }
        checker.check_section(name, &file.path, &file.source.body, scope, &required);
    }
    for (name, file) in &language.partials {
        if !checker.used_partials.contains(name) {
            checker.check_section(name, &file.path, &file.source.body, scope, &[]);
        }
    }

    let mut diagnostics = checker.diagnostics;
    diagnostics.sort_by(|a, b| {
        (&a.file, a.line, a.column, &a.message).cmp(&(&b.file, b.line, b.column, &b.message))
    });
    diagnostics.dedup();
    diagnostics
}

struct Checker<'a> {
    language: &'a Language,
    diagnostics: Vec<TemplateDiagnostic>,
    used_partials: BTreeSet<String>,
    partial_stack: Vec<String>,
}

/// Where the walk is: the file, and the section of it that was compiled.
#[derive(Clone, Copy)]
struct Place<'a> {
    file: &'a Path,
    section: &'a Section,
}

/// What a path leads to: the part of the scope model (`None`: unknown, anything goes) and
/// the path from the root, to know which optional part it belongs to.
#[derive(Clone, Debug)]
struct Resolved<'v> {
    model: Option<&'v Value>,
    path: Vec<String>,
}

/// One context of the stack: the root, or what `#each` / `#with` moved into.
#[derive(Clone, Debug)]
struct Frame<'v> {
    context: Resolved<'v>,
    /// `@index`, `@first`, `@last` are defined (inside `#each`).
    item_locals: bool,
    /// `@key` is defined (inside `#each` over an object).
    key_local: bool,
    block_params: Vec<(String, Resolved<'v>)>,
}

/// Where the search for the next token of a tag stands, and where the tag ends.
#[derive(Clone, Copy, Debug)]
struct Cursor {
    at: usize,
    end: usize,
}

/// A parameter's place in a call: which helper, which position (`usize::MAX` for an
/// option), and whether the use tests for presence itself (`#if promise`).
#[derive(Clone, Copy, Debug)]
struct Arg<'n> {
    helper: &'n str,
    index: usize,
    exempt: bool,
}

struct Scope<'v> {
    frames: Vec<Frame<'v>>,
    /// Optional parts made safe by an enclosing `#if`, `#with` or `#each`.
    guarded: Vec<String>,
}

impl<'a> Checker<'a> {
    fn check_section(
        &mut self,
        key: &str,
        file: &'a Path,
        section: &'a Section,
        scope: &Value,
        required: &[String],
    ) {
        let Some(template) = self.language.registry.get_template(key) else {
            return;
        };
        let mut scope = Scope {
            frames: vec![Frame {
                context: Resolved {
                    model: Some(scope),
                    path: Vec::new(),
                },
                item_locals: false,
                key_local: false,
                block_params: Vec::new(),
            }],
            guarded: required.to_vec(),
        };
        self.walk(template, Place { file, section }, &mut scope);
    }

    fn report(&mut self, place: Place<'_>, offset: usize, message: String, is_warning: bool) {
        let (line, column) = position_of(&place.section.text, offset);
        let (line, column) = place.section.to_file(line, column);
        self.diagnostics
            .push(at(place.file, line, column, message, is_warning));
    }

    fn walk<'v>(&mut self, template: &Template, place: Place<'a>, scope: &mut Scope<'v>) {
        for (index, element) in template.elements.iter().enumerate() {
            let start = template
                .mapping
                .get(index)
                .map(|m| offset_of(&place.section.text, m.0, m.1));
            let Some(start) = start else {
                continue;
            };
            match element {
                TemplateElement::RawString(_) | TemplateElement::Comment(_) => {}
                TemplateElement::Expression(ht) | TemplateElement::HtmlExpression(ht) => {
                    self.expression(ht, start, place, scope);
                }
                TemplateElement::HelperBlock(ht) => {
                    let else_tags = else_tags(&place.section.text, start);
                    self.block(ht, start, &else_tags, 0, place, scope);
                }
                TemplateElement::PartialExpression(dt) | TemplateElement::PartialBlock(dt) => {
                    self.partial(dt, start, place, scope);
                }
                // TODO: decorators, and so inline partials (`{{#*inline}}`), are only flagged:
                // following them needs a model of the partials they define.
                TemplateElement::DecoratorExpression(_) | TemplateElement::DecoratorBlock(_) => {
                    self.report(
                        place,
                        start,
                        "decorators (`{{* …}}`) are not checked".to_owned(),
                        true,
                    );
                }
                _ => {}
            }
        }
    }

    /// `{{path}}` or `{{helper params…}}`.
    fn expression<'v>(
        &mut self,
        ht: &HelperTemplate,
        start: usize,
        place: Place<'a>,
        scope: &mut Scope<'v>,
    ) {
        let end = tag_end(&place.section.text, start);
        let mut cursor = Cursor { at: start + 2, end };
        let name = ht.name.as_name().unwrap_or_default();
        let is_call =
            !ht.params.is_empty() || !ht.hash.is_empty() || helpers::helper_spec(name).is_some();
        let shadows_field = ht.params.is_empty()
            && ht.hash.is_empty()
            && scope
                .frames
                .last()
                .and_then(|f| f.context.model)
                .and_then(|m| m.get(name))
                .is_some();
        if is_call && shadows_field {
            let offset = find_token(&place.section.text, cursor.at, end, name).unwrap_or(start);
            let message = format!(
                "`{name}` alone calls the helper `{name}`, not the field: write {{{{this.{name}}}}} \
                 to print the field, or {{{{{name} {name}}}}} to format it"
            );
            self.report(place, offset, message, false);
            return;
        }
        if is_call {
            self.call(ht, &mut cursor, false, place, scope);
            return;
        }

        let Parameter::Path(path) = &ht.name else {
            return;
        };
        let offset = find_token(&place.section.text, cursor.at, end, name).unwrap_or(start);
        let Some(resolved) = self.use_path(path, offset, false, place, scope) else {
            return;
        };
        match resolved.model {
            Some(Value::Object(_)) => self.report(
                place,
                offset,
                format!(
                    "`{name}` is a group of fields and prints as `[object]`: name one of its fields"
                ),
                true,
            ),
            Some(Value::Array(_)) => self.report(
                place,
                offset,
                format!(
                    "`{name}` is a list: print it with {{{{join {name}}}}} or {{{{#each {name}}}}}"
                ),
                true,
            ),
            _ => {}
        }
    }

    /// A helper call: its name, its parameters and its options. Returns what each
    /// positional parameter resolves to (`None` for literals and unknown values).
    fn call<'v>(
        &mut self,
        ht: &HelperTemplate,
        cursor: &mut Cursor,
        is_block: bool,
        place: Place<'a>,
        scope: &mut Scope<'v>,
    ) -> Vec<Option<Resolved<'v>>> {
        let text = &place.section.text;
        let end = cursor.end;
        let name = ht.name.as_name().unwrap_or_default().to_owned();
        let name_at = find_token(text, cursor.at, end, &name).unwrap_or(cursor.at);
        cursor.at = name_at + name.len();

        match helpers::helper_spec(&name) {
            None => {
                let hint = closest(&name, HELPERS.iter().map(|h| h.name))
                    .map(|best| format!(" (did you mean `{best}`?)"))
                    .unwrap_or_default();
                let what = if is_block { "block helper" } else { "helper" };
                self.report(
                    place,
                    name_at,
                    format!("unknown {what} `{name}`{hint}"),
                    false,
                );
            }
            Some(spec) => {
                if spec.block && !is_block {
                    let message = format!(
                        "`{name}` is a block helper: write {{{{#{name} …}}}} … {{{{/{name}}}}}"
                    );
                    self.report(place, name_at, message, false);
                } else if !spec.block && is_block {
                    let message = format!("`{name}` is not a block helper: write {{{{{name} …}}}}");
                    self.report(place, name_at, message, false);
                }
                let count = ht.params.len();
                if count < spec.min_params || count > spec.max_params {
                    let expected = match (spec.min_params, spec.max_params) {
                        (min, max) if min == max => format!("{min}"),
                        (min, usize::MAX) => format!("at least {min}"),
                        (min, max) => format!("{min} to {max}"),
                    };
                    let message =
                        format!("`{name}` takes {expected} parameter(s), this call gives {count}");
                    self.report(place, name_at, message, false);
                }
                let mut keys: Vec<&String> = ht.hash.keys().collect();
                keys.sort();
                for key in keys {
                    if !spec.options.contains(&key.as_str()) {
                        let offset =
                            find_token(text, name_at, end, &format!("{key}=")).unwrap_or(name_at);
                        let message = match spec.options {
                            [] => format!("`{name}` takes no option `{key}=`"),
                            known => format!(
                                "`{name}` has no option `{key}=` (it knows {})",
                                known.join(", ")
                            ),
                        };
                        self.report(place, offset, message, false);
                    }
                }
            }
        }

        let has_inverse = ht.inverse.is_some();
        let mut resolved = Vec::with_capacity(ht.params.len());
        for (index, param) in ht.params.iter().enumerate() {
            let exempt = match name.as_str() {
                "if" | "unless" | "default" => index == 0,
                "each" | "with" => has_inverse,
                _ => false,
            };
            let arg = Arg {
                helper: &name,
                index,
                exempt,
            };
            resolved.push(self.param(arg, param, cursor, place, scope));
        }

        let mut hash: Vec<(&String, &Parameter)> = ht.hash.iter().collect();
        hash.sort_by_key(|(key, _)| *key);
        for (key, value) in hash {
            let at = find_token(text, name_at, end, &format!("{key}="))
                .map_or(cursor.at, |at| at + key.len() + 1);
            let arg = Arg {
                helper: &name,
                index: usize::MAX,
                exempt: false,
            };
            self.param(arg, value, &mut Cursor { at, end }, place, scope);
        }
        resolved
    }

    /// One parameter of a helper call.
    fn param<'v>(
        &mut self,
        arg: Arg<'_>,
        param: &Parameter,
        cursor: &mut Cursor,
        place: Place<'a>,
        scope: &mut Scope<'v>,
    ) -> Option<Resolved<'v>> {
        let text = &place.section.text;
        match param {
            Parameter::Path(path) => {
                let raw = param.as_name().unwrap_or_default();
                let offset = find_token(text, cursor.at, cursor.end, raw).unwrap_or(cursor.at);
                cursor.at = offset + raw.len();
                self.use_path(path, offset, arg.exempt, place, scope)
            }
            Parameter::Literal(value) => {
                let literal_at = literal_offset(text, cursor.at, cursor.end, value);
                if let Some(offset) = literal_at {
                    cursor.at = offset + 1;
                }
                let offset = literal_at.unwrap_or(cursor.at);
                if let Some(problem) = literal_problem(arg.helper, arg.index, value) {
                    self.report(place, offset, problem, false);
                }
                None
            }
            Parameter::Subexpression(sub) => {
                if let Some(open) = text.get(cursor.at..cursor.end).and_then(|t| t.find('(')) {
                    cursor.at += open + 1;
                }
                if let TemplateElement::Expression(inner) = sub.as_element() {
                    self.call(inner, cursor, false, place, scope);
                }
                None
            }
            _ => None,
        }
    }

    /// `{{#helper …}} … {{else …}} … {{/helper}}`; `else_tags` are the offsets of the
    /// block's `{{else}}` tags, `next_else` the one of this block's else-chain that comes next.
    fn block<'v>(
        &mut self,
        ht: &HelperTemplate,
        start: usize,
        else_tags: &[usize],
        next_else: usize,
        place: Place<'a>,
        scope: &mut Scope<'v>,
    ) {
        let text = &place.section.text;
        let mut cursor = Cursor {
            at: start + 2,
            end: tag_end(text, start),
        };
        let args = self.call(ht, &mut cursor, true, place, scope);
        let first = args.into_iter().next().flatten();
        let name = ht.name.as_name().unwrap_or_default();
        let guard = first
            .as_ref()
            .and_then(|r| r.path.first())
            .filter(|root| OPTIONAL.contains(&root.as_str()))
            .cloned();

        if let Some(body) = &ht.template {
            let mut pushed_guard = false;
            if let Some(root) = &guard
                && name != "unless"
            {
                scope.guarded.push(root.clone());
                pushed_guard = true;
            }
            match name {
                "each" => {
                    let frame = each_frame(first.as_ref(), ht.block_param.as_ref());
                    scope.frames.push(frame);
                    self.walk(body, place, scope);
                    scope.frames.pop();
                }
                "with" => {
                    let context = first.clone().unwrap_or(Resolved {
                        model: None,
                        path: Vec::new(),
                    });
                    let outer = scope.frames.last();
                    let mut frame = Frame {
                        context: context.clone(),
                        item_locals: outer.is_some_and(|f| f.item_locals),
                        key_local: outer.is_some_and(|f| f.key_local),
                        block_params: Vec::new(),
                    };
                    if let Some(BlockParam::Single(Parameter::Name(param))) = &ht.block_param {
                        frame.block_params.push((param.clone(), context));
                    }
                    scope.frames.push(frame);
                    self.walk(body, place, scope);
                    scope.frames.pop();
                }
                _ => self.walk(body, place, scope),
            }
            if pushed_guard {
                scope.guarded.pop();
            }
        }

        let Some(inverse) = &ht.inverse else {
            return;
        };
        let mut pushed_guard = false;
        if let Some(root) = &guard
            && name == "unless"
        {
            scope.guarded.push(root.clone());
            pushed_guard = true;
        }
        match chained(ht, inverse) {
            Some(node) => {
                let else_at = else_tags.get(next_else).copied().unwrap_or(start);
                self.block(node, else_at, else_tags, next_else + 1, place, scope);
            }
            None => self.walk(inverse, place, scope),
        }
        if pushed_guard {
            scope.guarded.pop();
        }
    }

    /// `{{> name}}`: checks the partial where it is included, with the context there.
    fn partial<'v>(
        &mut self,
        dt: &DecoratorTemplate,
        start: usize,
        place: Place<'a>,
        scope: &mut Scope<'v>,
    ) {
        let text = &place.section.text;
        let end = tag_end(text, start);
        let name = dt.name.as_name().unwrap_or_default().to_owned();
        let name_at = find_token(text, start + 2, end, &name).unwrap_or(start);
        let mut cursor = Cursor {
            at: name_at + name.len(),
            end,
        };

        let mut context = None;
        for (index, param) in dt.params.iter().enumerate() {
            let arg = Arg {
                helper: ">",
                index,
                exempt: false,
            };
            let resolved = self.param(arg, param, &mut cursor, place, scope);
            if index == 0 {
                context = Some(resolved);
            }
        }
        for value in dt.hash.values() {
            let arg = Arg {
                helper: ">",
                index: usize::MAX,
                exempt: false,
            };
            self.param(arg, value, &mut cursor, place, scope);
        }

        if let Some(body) = &dt.template {
            self.walk(body, place, scope);
        }

        let language = self.language;
        let Some(file) = language.partials.get(&name) else {
            let hint = closest(&name, language.partials.keys().map(String::as_str))
                .map(|best| format!(" (did you mean `{best}`?)"))
                .unwrap_or_default();
            let message = format!(
                "no partial `{name}` in this language{hint}: partials are files named `_{name}.hbs`"
            );
            self.report(place, name_at, message, false);
            return;
        };
        self.used_partials.insert(name.clone());
        if self.partial_stack.contains(&name) || self.partial_stack.len() >= MAX_PARTIAL_DEPTH {
            return;
        }
        let Some(template) = language.registry.get_template(&name) else {
            return;
        };

        let pushed = context.is_some() || !dt.hash.is_empty();
        if pushed {
            // TODO: with hash options the partial sees its context merged with them; the model
            // does not follow that merge, so such a partial is checked against "anything".
            let context = match context.flatten() {
                Some(resolved) if dt.hash.is_empty() => resolved,
                _ => Resolved {
                    model: None,
                    path: Vec::new(),
                },
            };
            scope.frames.push(Frame {
                context,
                item_locals: false,
                key_local: false,
                block_params: Vec::new(),
            });
        }
        self.partial_stack.push(name);
        let inner = Place {
            file: &file.path,
            section: &file.source.body,
        };
        self.walk(template, inner, scope);
        self.partial_stack.pop();
        if pushed {
            scope.frames.pop();
        }
    }

    /// Resolves a path used at `offset`, reporting what is wrong with it. `exempt`: the use
    /// itself tests for presence (`#if promise`), so an optional part is fine there.
    fn use_path<'v>(
        &mut self,
        path: &HbsPath,
        offset: usize,
        exempt: bool,
        place: Place<'a>,
        scope: &Scope<'v>,
    ) -> Option<Resolved<'v>> {
        let resolved = match path {
            HbsPath::Local((level, name, raw)) => {
                self.use_local(*level, name, raw, offset, place, scope);
                return None;
            }
            HbsPath::Relative((segments, raw)) => match resolve(segments, raw, scope) {
                Ok(resolved) => resolved,
                Err(message) => {
                    self.report(place, offset, message, false);
                    return None;
                }
            },
        };

        if !exempt {
            if let Some(root) = resolved.path.first()
                && OPTIONAL.contains(&root.as_str())
                && !scope.guarded.contains(root)
            {
                let message = format!(
                    "`{root}` may be absent from the render context (not every case has one): \
                     use this inside {{{{#if {root}}}}} … {{{{/if}}}}"
                );
                self.report(place, offset, message, true);
            }
            if let Some(index) = resolved
                .path
                .iter()
                .find_map(|s| s.parse::<usize>().ok().filter(|i| *i > 0))
            {
                let message = format!(
                    "item {index} of a list exists only when the list has at least {} items",
                    index + 1
                );
                self.report(place, offset, message, true);
            }
        }
        Some(resolved)
    }

    fn use_local(
        &mut self,
        level: usize,
        name: &str,
        raw: &str,
        offset: usize,
        place: Place<'a>,
        scope: &Scope<'_>,
    ) {
        let frame = scope
            .frames
            .len()
            .checked_sub(level + 1)
            .map(|i| &scope.frames[i]);
        let Some(frame) = frame else {
            self.report(
                place,
                offset,
                format!("`{raw}` climbs above the top of the template"),
                false,
            );
            return;
        };
        let defined = match name {
            "index" | "first" | "last" => frame.item_locals,
            "key" => frame.key_local,
            _ => {
                let message = format!(
                    "unknown data variable `{raw}`: the known ones are @index, @first, @last, \
                     @key (inside {{{{#each}}}}) and @root"
                );
                self.report(place, offset, message, false);
                return;
            }
        };
        if !defined {
            let message = match name {
                "key" => format!("`{raw}` is defined only inside {{{{#each}}}} over an object"),
                _ => format!("`{raw}` is defined only inside {{{{#each}}}}"),
            };
            self.report(place, offset, message, false);
        }
    }
}

/// Resolves a relative path (`a.b`, `this`, `../a`, `@root.a`, a block param) in the scope
/// model, as Handlebars does: block params first, then the context `../` climbs to.
fn resolve<'v>(segments: &[PathSeg], raw: &str, scope: &Scope<'v>) -> Result<Resolved<'v>, String> {
    let mut ups = 0;
    let mut from_root = false;
    let mut names = Vec::with_capacity(segments.len());
    for segment in segments {
        match segment {
            PathSeg::Named(name) => names.push(name.as_str()),
            PathSeg::Ruled(rule) if names.is_empty() => match format!("{rule:?}").as_str() {
                "path_up" => ups += 1,
                "path_root" => from_root = true,
                _ => {}
            },
            _ => {}
        }
    }

    let block_param = match (from_root, names.first()) {
        (false, Some(first)) => scope
            .frames
            .iter()
            .rev()
            .find_map(|f| f.block_params.iter().find(|(n, _)| n == first))
            .map(|(_, resolved)| resolved.clone()),
        _ => None,
    };

    let (mut current, rest) = if let Some(param) = block_param {
        (param, &names[1..])
    } else if from_root {
        (scope.frames[0].context.clone(), &names[..])
    } else {
        let Some(index) = scope.frames.len().checked_sub(ups + 1) else {
            return Err(format!(
                "`{raw}` climbs above the top of the template (too many `../`)"
            ));
        };
        (scope.frames[index].context.clone(), &names[..])
    };

    for name in rest {
        let next = match current.model {
            None | Some(Value::Null) => None,
            Some(Value::Object(fields)) => match fields.get(*name) {
                Some(value) => Some(value),
                None => {
                    let hint = closest(name, fields.keys().map(String::as_str))
                        .map(|best| format!("; did you mean `{best}`?"))
                        .unwrap_or_else(|| {
                            let known: Vec<&str> = fields.keys().map(String::as_str).collect();
                            format!("; it has {}", known.join(", "))
                        });
                    let owner = match current.path.is_empty() {
                        true => "the scope".to_owned(),
                        false => shown_path(&current.path),
                    };
                    return Err(format!(
                        "`{raw}` is not in the render scope: {owner} has no field `{name}`{hint}"
                    ));
                }
            },
            Some(Value::Array(items)) => {
                if name.parse::<usize>().is_err() {
                    let list = shown_path(&current.path);
                    return Err(format!(
                        "`{raw}`: {list} is a list, so `{name}` is not a field of it; take an item \
                         by number (`….0`), go through it with {{{{#each}}}}, or count it with \
                         {{{{len}}}}"
                    ));
                }
                items.first()
            }
            Some(_) => {
                return Err(format!(
                    "`{raw}` is not in the render scope: {} is a single value and has no field \
                     `{name}`",
                    shown_path(&current.path)
                ));
            }
        };
        current.path.push((*name).to_owned());
        current.model = next;
    }
    Ok(current)
}

/// How a resolved path is named in messages: `` `case.balance` ``, `` an item of `invoices` ``.
fn shown_path(path: &[String]) -> String {
    match path.split_last() {
        Some((last, list)) if last == ANY_ITEM => format!("an item of {}", shown_path(list)),
        _ => format!("`{}`", path.join(".")),
    }
}

/// The context `#each` moves into: one item of the list (or one value of the object).
fn each_frame<'v>(list: Option<&Resolved<'v>>, block_param: Option<&BlockParam>) -> Frame<'v> {
    let (item_model, key_local) = match list.and_then(|r| r.model) {
        Some(Value::Array(items)) => (items.first(), false),
        Some(_) => (None, true),
        None => (None, true),
    };
    let mut item_path = list.map(|r| r.path.clone()).unwrap_or_default();
    item_path.push(ANY_ITEM.to_owned());
    let item = Resolved {
        model: item_model,
        path: item_path,
    };
    let any = Resolved {
        model: None,
        path: Vec::new(),
    };

    let mut block_params = Vec::new();
    match block_param {
        Some(BlockParam::Single(Parameter::Name(name))) => {
            block_params.push((name.clone(), item.clone()));
        }
        Some(BlockParam::Pair((Parameter::Name(value), Parameter::Name(index)))) => {
            block_params.push((value.clone(), item.clone()));
            block_params.push((index.clone(), any));
        }
        _ => {}
    }
    Frame {
        context: item,
        item_locals: true,
        key_local,
        block_params,
    }
}

/// The next node of an `{{else if …}}` chain, when `inverse` is one rather than a plain
/// `{{else}}` branch (Handlebars wraps chain nodes in a template without positions).
fn chained<'t>(ht: &HelperTemplate, inverse: &'t Template) -> Option<&'t HelperTemplate> {
    if !ht.chain || !inverse.mapping.is_empty() || inverse.elements.len() != 1 {
        return None;
    }
    match &inverse.elements[0] {
        TemplateElement::HelperBlock(node) if node.chain => Some(node),
        _ => None,
    }
}

/// What is wrong with a literal given to one of our helpers, if anything.
fn literal_problem(helper: &str, index: usize, value: &Value) -> Option<String> {
    let text = value.as_str();
    match (helper, index, text) {
        ("money", 1, Some(code)) => {
            format::format_money(rust_decimal::Decimal::ZERO, code, "en", false)
                .err()
                .map(|e| e.to_string())
        }
        ("date", 1, Some(style)) => style
            .parse::<format::DateStyle>()
            .err()
            .map(|e| e.to_string()),
        ("date" | "add_days", 0, Some(day)) => format::parse_date(day).err().map(|e| e.to_string()),
        ("money" | "decimal" | "nonzero", 0, Some(amount)) => {
            format::parse_amount(amount).err().map(|e| e.to_string())
        }
        _ => None,
    }
}

/// The offset just after the `{{` … `}}` tag that starts at `start`.
fn tag_end(text: &str, start: usize) -> usize {
    text[start..]
        .find("}}")
        .map_or(text.len(), |i| start + i + 2)
}

fn is_path_char(c: char) -> bool {
    c.is_alphanumeric() || matches!(c, '_' | '.' | '@' | '[' | ']' | '-' | '$' | '/')
}

/// The first occurrence of `token` in `text[from..to]` that stands on its own (not part of a
/// longer name).
fn find_token(text: &str, from: usize, to: usize, token: &str) -> Option<usize> {
    let to = to.min(text.len());
    if token.is_empty() || from >= to {
        return None;
    }
    let window = text.get(from..to)?;
    let mut search = 0;
    while let Some(found) = window[search..].find(token) {
        let begin = search + found;
        let finish = begin + token.len();
        let before_ok = window[..begin]
            .chars()
            .next_back()
            .is_none_or(|c| !is_path_char(c));
        let after_ok = token.ends_with('=')
            || window[finish..]
                .chars()
                .next()
                .is_none_or(|c| !is_path_char(c));
        if before_ok && after_ok {
            return Some(from + begin);
        }
        search = begin + token.len().max(1);
    }
    None
}

/// Where a literal parameter is written, searched from `from` (strings by their opening
/// quote, other literals by their text).
fn literal_offset(text: &str, from: usize, to: usize, value: &Value) -> Option<usize> {
    let window = text.get(from..to)?;
    let found = match value {
        Value::String(_) => window.find(['"', '\'']),
        other => {
            let written = other.to_string();
            find_token(text, from, to, &written).map(|at| at - from)
        }
    };
    found.map(|i| from + i)
}

/// The offsets of the `{{else …}}` tags that belong to the block opened at `open` (not those
/// of blocks nested inside it).
fn else_tags(text: &str, open: usize) -> Vec<usize> {
    let mut tags = Vec::new();
    let mut depth = 0usize;
    let mut cursor = open;
    while let Some(found) = text[cursor..].find("{{") {
        let start = cursor + found;
        if text[..start].ends_with('\\') {
            cursor = start + 2;
            continue;
        }
        let inner = &text[start + 2..];
        if inner.starts_with("!--") {
            cursor = inner.find("--}}").map_or(text.len(), |i| start + 2 + i + 4);
            continue;
        }
        let Some(close) = inner.find("}}") else {
            break;
        };
        cursor = start + 2 + close + 2;
        let body = inner[..close].trim_start_matches(['{', '~']).trim_start();
        if body.starts_with('!') {
            continue;
        }
        if body.starts_with('#') {
            depth += 1;
        } else if body.starts_with('/') {
            depth = depth.saturating_sub(1);
            if depth == 0 {
                break;
            }
        } else if depth == 1 && is_else(body) {
            tags.push(start);
        } else if let Some(rest) = body.strip_prefix('^')
            && !rest.trim_end_matches(['~', '}']).trim().is_empty()
        {
            depth += 1;
        }
    }
    tags
}

fn is_else(body: &str) -> bool {
    let body = body.trim_end_matches(['~', '}']).trim_end();
    if body == "^" {
        return true;
    }
    body.strip_prefix("else").is_some_and(|rest| {
        rest.chars()
            .next()
            .is_none_or(|c| c.is_whitespace() || c == '~')
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn else_tags_skip_the_elses_of_nested_blocks() {
        let text = "{{#if a}}A{{#if b}}x{{else}}y{{/if}}{{else if c}}C{{else}}D{{/if}}";
        let tags = else_tags(text, 0);
        assert_eq!(tags.len(), 2);
        assert!(text[tags[0]..].starts_with("{{else if c}}"));
        assert!(text[tags[1]..].starts_with("{{else}}D"));
    }

    #[test]
    fn find_token_ignores_longer_names_that_contain_the_token() {
        let text = "{{money case.balance_x case.balance}}";
        let at = find_token(text, 0, text.len(), "case.balance").unwrap();
        assert_eq!(&text[at..at + 13], "case.balance}");
    }
}
