//! The helpers a template author can call, registered on every language's registry.
//!
//! Each helper reads the language from the root `lang` field, takes amounts as decimal
//! strings and dates as `YYYY-MM-DD`, and fails with a message naming itself and the bad
//! value rather than printing something wrong.

use chrono::Days;
use handlebars::{
    Context, Handlebars, Helper, HelperDef, RenderContext, RenderError, RenderErrorReason,
    ScopedJson,
};
use rust_decimal::Decimal;
use serde_json::Value as Json;

use super::format::{self, DateStyle};

/// What the checker knows of a helper: how many positional parameters it takes and which
/// named (hash) options it accepts.
#[derive(Clone, Copy, Debug)]
pub(crate) struct HelperSpec {
    pub name: &'static str,
    pub min_params: usize,
    /// `usize::MAX` for "any number".
    pub max_params: usize,
    pub options: &'static [&'static str],
    /// Block helpers (`#if`, `#each`, …) take a block; the others are used inline.
    pub block: bool,
}

const fn spec(name: &'static str, min: usize, max: usize) -> HelperSpec {
    HelperSpec {
        name,
        min_params: min,
        max_params: max,
        options: &[],
        block: false,
    }
}

const fn block(name: &'static str) -> HelperSpec {
    HelperSpec {
        name,
        min_params: 1,
        max_params: 1,
        options: &[],
        block: true,
    }
}

/// Every helper a template may call: Handlebars' built-ins, then ours.
pub(crate) const HELPERS: &[HelperSpec] = &[
    HelperSpec {
        options: &["includeZero"],
        ..block("if")
    },
    HelperSpec {
        options: &["includeZero"],
        ..block("unless")
    },
    block("each"),
    block("with"),
    spec("lookup", 2, 2),
    spec("eq", 2, 2),
    spec("ne", 2, 2),
    spec("gt", 2, 2),
    spec("gte", 2, 2),
    spec("lt", 2, 2),
    spec("lte", 2, 2),
    spec("and", 1, usize::MAX),
    spec("or", 1, usize::MAX),
    spec("not", 1, 1),
    spec("len", 1, 1),
    HelperSpec {
        options: &["plain"],
        ..spec("money", 2, 2)
    },
    HelperSpec {
        options: &["plain"],
        ..spec("decimal", 1, 1)
    },
    spec("date", 1, 2),
    spec("add_days", 2, 2),
    spec("upper", 1, 1),
    spec("lower", 1, 1),
    spec("default", 2, 2),
    spec("join", 1, 2),
    spec("iban", 1, 1),
    spec("plural", 3, 3),
    spec("nonzero", 1, 1),
];

/// The spec of a helper, if it is one.
pub(crate) fn helper_spec(name: &str) -> Option<&'static HelperSpec> {
    HELPERS.iter().find(|h| h.name == name)
}

/// Registers our helpers (the built-ins are already there).
pub(crate) fn register(registry: &mut Handlebars<'static>) {
    let ours: [(&'static str, HelperFn); 11] = [
        ("money", money),
        ("decimal", decimal),
        ("date", date),
        ("add_days", add_days),
        ("upper", upper),
        ("lower", lower),
        ("default", default),
        ("join", join),
        ("iban", iban),
        ("plural", plural),
        ("nonzero", nonzero),
    ];
    for (name, run) in ours {
        registry.register_helper(name, Box::new(ValueHelper { name, run }));
    }
}

type HelperFn = fn(&Call<'_, '_>) -> Result<Json, String>;

/// A helper that computes one value, so that it can also be used as a subexpression
/// (`{{date (add_days today 8) "long"}}`).
struct ValueHelper {
    name: &'static str,
    run: HelperFn,
}

impl HelperDef for ValueHelper {
    fn call_inner<'reg: 'rc, 'rc>(
        &self,
        h: &Helper<'rc>,
        _: &'reg Handlebars<'reg>,
        ctx: &'rc Context,
        _: &mut RenderContext<'reg, 'rc>,
    ) -> Result<ScopedJson<'rc>, RenderError> {
        let lang = ctx
            .data()
            .get("lang")
            .and_then(Json::as_str)
            .unwrap_or("en");
        let call = Call { helper: h, lang };
        (self.run)(&call)
            .map(ScopedJson::Derived)
            .map_err(|message| {
                RenderErrorReason::Other(format!("`{}`: {message}", self.name)).into()
            })
    }
}

/// One call of a helper: its parameters and the language being rendered.
struct Call<'a, 'rc> {
    helper: &'a Helper<'rc>,
    lang: &'a str,
}

impl Call<'_, '_> {
    /// The value of a positional parameter; a missing one is an error (strict mode).
    fn value(&self, index: usize, what: &str) -> Result<&Json, String> {
        let Some(param) = self.helper.param(index) else {
            return Err(format!("the {what} (parameter {}) is not given", index + 1));
        };
        if param.is_value_missing() {
            let path = param.relative_path().map_or("?", String::as_str);
            return Err(format!(
                "the {what} `{path}` is missing from the render context"
            ));
        }
        Ok(param.value())
    }

    /// A positional parameter as text (numbers are written as they are).
    fn text(&self, index: usize, what: &str) -> Result<String, String> {
        match self.value(index, what)? {
            Json::String(s) => Ok(s.clone()),
            Json::Number(n) => Ok(n.to_string()),
            Json::Bool(b) => Ok(b.to_string()),
            Json::Null => Err(format!("the {what} is null")),
            _ => Err(format!(
                "the {what} must be a text or a number, not a list or an object"
            )),
        }
    }

    fn amount(&self, index: usize, what: &str) -> Result<Decimal, String> {
        format::parse_amount(&self.text(index, what)?).map_err(|e| e.to_string())
    }

    /// A named option that is true when given as `name=true`.
    fn flag(&self, name: &str) -> bool {
        self.helper
            .hash_get(name)
            .and_then(|v| v.value().as_bool())
            .unwrap_or(false)
    }
}

/// `{{money amount currency}}`: `1 234,56 €` (fr), `€1,234.56` (en), `1.234,56 €` (es).
/// `plain=true` uses ordinary spaces only (for SMS).
fn money(call: &Call<'_, '_>) -> Result<Json, String> {
    let amount = call.amount(0, "amount")?;
    let currency = call.text(1, "currency")?;
    format::format_money(amount, &currency, call.lang, call.flag("plain"))
        .map(Json::String)
        .map_err(|e| e.to_string())
}

/// `{{decimal value}}`: a decimal with the separators of the language, its decimals kept.
/// (Not named `number`: that is the field of an invoice.)
fn decimal(call: &Call<'_, '_>) -> Result<Json, String> {
    let value = call.amount(0, "number")?;
    Ok(Json::String(format::format_number(
        value,
        call.lang,
        call.flag("plain"),
    )))
}

/// `{{date value}}` or `{{date value "long"}}`.
fn date(call: &Call<'_, '_>) -> Result<Json, String> {
    let day = format::parse_date(&call.text(0, "date")?).map_err(|e| e.to_string())?;
    let style = match call.helper.param(1) {
        None => DateStyle::Short,
        Some(_) => call
            .text(1, "style")?
            .parse()
            .map_err(|e: format::FormatError| e.to_string())?,
    };
    Ok(Json::String(format::format_date(day, call.lang, style)))
}

/// `{{add_days today 8}}`: the `YYYY-MM-DD` date that many calendar days later (or earlier,
/// when negative), to state a deadline.
fn add_days(call: &Call<'_, '_>) -> Result<Json, String> {
    let day = format::parse_date(&call.text(0, "date")?).map_err(|e| e.to_string())?;
    let count = call.text(1, "number of days")?;
    let Ok(count) = count.trim().parse::<i64>() else {
        return Err(format!("`{count}` is not a whole number of days"));
    };
    let shifted = if count >= 0 {
        day.checked_add_days(Days::new(count.unsigned_abs()))
    } else {
        day.checked_sub_days(Days::new(count.unsigned_abs()))
    };
    shifted
        .map(|d| Json::String(d.format("%Y-%m-%d").to_string()))
        .ok_or_else(|| format!("{day} plus {count} days is out of the calendar"))
}

fn upper(call: &Call<'_, '_>) -> Result<Json, String> {
    Ok(Json::String(call.text(0, "text")?.to_uppercase()))
}

fn lower(call: &Call<'_, '_>) -> Result<Json, String> {
    Ok(Json::String(call.text(0, "text")?.to_lowercase()))
}

/// `{{default value fallback}}`: `value` unless it is missing, null or empty text.
fn default(call: &Call<'_, '_>) -> Result<Json, String> {
    let first = call
        .helper
        .param(0)
        .filter(|p| !p.is_value_missing())
        .map(|p| p.value());
    match first {
        Some(Json::Null) | None => Ok(call.value(1, "fallback")?.clone()),
        Some(Json::String(s)) if s.trim().is_empty() => Ok(call.value(1, "fallback")?.clone()),
        Some(v) => Ok(v.clone()),
    }
}

/// `{{join brand.address ", "}}`: the non-empty items of a list, joined (default `, `).
fn join(call: &Call<'_, '_>) -> Result<Json, String> {
    let Json::Array(items) = call.value(0, "list")? else {
        return Err("expects a list, such as `brand.address`".to_owned());
    };
    let separator = match call.helper.param(1) {
        None => ", ".to_owned(),
        Some(_) => call.text(1, "separator")?,
    };
    let parts: Vec<String> = items
        .iter()
        .filter_map(|item| match item {
            Json::String(s) if !s.trim().is_empty() => Some(s.clone()),
            Json::Number(n) => Some(n.to_string()),
            _ => None,
        })
        .collect();
    Ok(Json::String(parts.join(&separator)))
}

/// `{{iban payment.iban}}`: the IBAN in groups of four, as printed on paper.
fn iban(call: &Call<'_, '_>) -> Result<Json, String> {
    let compact: String = call
        .text(0, "IBAN")?
        .chars()
        .filter(|c| !c.is_whitespace())
        .map(|c| c.to_ascii_uppercase())
        .collect();
    let groups: Vec<String> = compact
        .chars()
        .collect::<Vec<_>>()
        .chunks(4)
        .map(|chunk| chunk.iter().collect())
        .collect();
    Ok(Json::String(groups.join(" ")))
}

/// `{{plural case.open_invoices "facture" "factures"}}`: the singular or the plural word.
/// French takes the singular for 0 and 1, English and Spanish only for 1.
fn plural(call: &Call<'_, '_>) -> Result<Json, String> {
    let count = call.amount(0, "count")?;
    let singular = if call.lang == "fr" {
        count.abs() < Decimal::TWO
    } else {
        count.abs() == Decimal::ONE
    };
    let index = if singular { 1 } else { 2 };
    Ok(Json::String(call.text(index, "word")?))
}

/// `{{#if (nonzero case.fees)}}`: true when the amount is not zero (`"0.00"` is zero).
fn nonzero(call: &Call<'_, '_>) -> Result<Json, String> {
    Ok(Json::Bool(!call.amount(0, "amount")?.is_zero()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_helper_the_checker_knows_is_registered() {
        let mut registry = Handlebars::new();
        registry.set_strict_mode(true);
        register(&mut registry);
        for spec in HELPERS {
            let source = if spec.block {
                format!("{{{{#{0}}}}}{{{{/{0}}}}}", spec.name)
            } else {
                format!("{{{{{}}}}}", spec.name)
            };
            // Called without its parameters, a helper fails in its own way; an unknown name
            // would be looked up as a missing field instead.
            if let Err(err) = registry.render_template(&source, &serde_json::json!({})) {
                assert!(
                    !matches!(err.reason(), RenderErrorReason::MissingVariable(_)),
                    "`{}` is not registered",
                    spec.name
                );
            }
        }
    }

    #[test]
    fn no_helper_hides_a_field_of_a_list_item() {
        // Inside `{{#each invoices}}` fields are written bare (`{{number}}`), where a helper
        // of the same name would win. `date` (of an instalment) is the one exception: the
        // checker explains `{{date}}` alone, and `{{date date}}` formats it.
        let scope = crate::templates::sample_context("en");
        let mut fields = Vec::new();
        collect_item_fields(&scope, false, &mut fields);
        for spec in HELPERS.iter().filter(|s| s.name != "date") {
            assert!(
                !fields.iter().any(|f| f == spec.name),
                "`{}` is a field too",
                spec.name
            );
        }
    }

    fn collect_item_fields(value: &Json, in_list: bool, out: &mut Vec<String>) {
        match value {
            Json::Object(map) => {
                for (key, inner) in map {
                    if in_list {
                        out.push(key.clone());
                    }
                    collect_item_fields(inner, false, out);
                }
            }
            Json::Array(items) => items.iter().for_each(|i| collect_item_fields(i, true, out)),
            _ => {}
        }
    }
}
