//! The condition scope: every variable, field and function a condition may
//! name, with its type, so that the checker can refuse what does not exist
//! and the README can list it.

use rhai::{Dynamic, Map, Scope};
use rust_decimal::Decimal;

/// One variable of the condition scope.
#[derive(Clone, Copy, Debug)]
pub struct ScopeVariable {
    /// Name as written in a condition.
    pub name: &'static str,
    /// Rhai type, as documented.
    pub kind: &'static str,
    /// What it holds.
    pub doc: &'static str,
}

const fn var(name: &'static str, kind: &'static str, doc: &'static str) -> ScopeVariable {
    ScopeVariable { name, kind, doc }
}

/// Variables present in every condition.
pub const SCOPE_VARIABLES: &[ScopeVariable] = &[
    var(
        "balance",
        "decimal",
        "open principal of the case's invoices",
    ),
    var("currency", "string", "ISO code of the case's currency"),
    var(
        "fees",
        "decimal",
        "fixed indemnities and penalties charged so far",
    ),
    var("interest", "decimal", "late interest charged so far"),
    var("total_due", "decimal", "balance + fees + interest"),
    var("paid", "decimal", "total received on the case"),
    var(
        "days_overdue",
        "int",
        "days since the oldest open invoice fell due (negative before)",
    ),
    var(
        "open_invoices",
        "int",
        "number of invoices with an open balance",
    ),
    var(
        "oldest_due",
        "string",
        "due date of the oldest open invoice, YYYY-MM-DD",
    ),
    var("disputes_open", "int", "disputes open now"),
    var("disputes_total", "int", "disputes ever opened on the case"),
    var(
        "promises_broken",
        "int",
        "promises to pay (and payment plans) broken",
    ),
    var(
        "promise_active",
        "bool",
        "a promise to pay or payment plan is running",
    ),
    var(
        "proceeding",
        "bool",
        "an insolvency proceeding is open against the debtor",
    ),
    var(
        "messages_sent",
        "int",
        "messages sent to the debtor on this case",
    ),
    var("debtor", "map", "the debtor: see the debtor fields"),
    var(
        "client",
        "map",
        "the client (creditor): see the client fields",
    ),
    var(
        "vars",
        "map",
        "the scenario's own variables (`variables:`, changed by `set:`)",
    ),
];

/// Fields of `debtor`. A missing contact or risk field is `()`.
pub const DEBTOR_FIELDS: &[&str] = &[
    "id",
    "kind",
    "name",
    "country",
    "language",
    "timezone",
    "email",
    "mobile",
    "phone",
    "fax",
    "has_fax",
    "has_email",
    "has_mobile",
    "has_address",
    "siren",
    "vat",
    "risk",
    "risk_score",
    "credit_limit",
    "watch",
];

/// Fields of `client`.
pub const CLIENT_FIELDS: &[&str] = &["id", "name", "country"];

/// Fields of `event`, present inside event handlers only (a field the
/// event does not carry is `()`).
pub const EVENT_FIELDS: &[&str] = &[
    "type",
    "amount",
    "currency",
    "invoice",
    "reference",
    "reason",
    "date",
    "channel",
    "step",
    "partner",
    "status",
    "outcome",
    "kind",
    "instalments",
    "full",
];

/// A function of the condition scope.
#[derive(Clone, Copy, Debug)]
pub struct ScopeFunction {
    /// Name as called.
    pub name: &'static str,
    /// Signature, as documented.
    pub signature: &'static str,
    /// What it answers.
    pub doc: &'static str,
}

/// The functions relance adds to Rhai's standard ones.
pub const FUNCTIONS: &[ScopeFunction] = &[
    ScopeFunction {
        name: "sent",
        signature: "sent(step: string) -> bool",
        doc: "the step has sent its message on this case",
    },
    ScopeFunction {
        name: "messages_in_last",
        signature: "messages_in_last(days: int) -> int",
        doc: "messages sent to the debtor in the last `days` days",
    },
    ScopeFunction {
        name: "bounced",
        signature: "bounced(channel: string) -> bool",
        doc: "a message on that channel has bounced",
    },
];

/// A scope holding every declared variable with a placeholder value, for
/// compiling in strict-variables mode.
pub(super) fn declared_scope(extra: &[&str]) -> Scope<'static> {
    let mut scope = Scope::new();
    for v in SCOPE_VARIABLES {
        let value: Dynamic = match v.kind {
            "decimal" => Decimal::ZERO.into(),
            "int" => 0_i64.into(),
            "bool" => false.into(),
            "string" => "".into(),
            _ => Map::new().into(),
        };
        scope.push_dynamic(v.name, value);
    }
    for name in extra {
        scope.push_dynamic(*name, Map::new().into());
    }
    scope
}

/// The fields an object of the scope has, if relance knows them.
pub(super) fn fields_of(object: &str, extra: &[&str]) -> Option<&'static [&'static str]> {
    match object {
        "debtor" => Some(DEBTOR_FIELDS),
        "client" => Some(CLIENT_FIELDS),
        "event" if extra.contains(&"event") => Some(EVENT_FIELDS),
        _ => None,
    }
}

/// `", did you mean `x`?"` when a candidate is close enough, else "".
///
/// Close enough is a Jaro-Winkler similarity above 0.8, or one edit away
/// (a swap of two neighbours counts as one edit) for names of three letters
/// or more, so that short slips such as `edn` for `end` are caught too. The
/// fewest edits win, then the highest similarity.
pub fn suggest<'a>(name: &str, candidates: impl Iterator<Item = &'a str>) -> String {
    candidates
        .map(|c| {
            (
                strsim::osa_distance(name, c),
                strsim::jaro_winkler(name, c),
                c,
            )
        })
        .filter(|(edits, score, _)| *score > 0.8 || (*edits <= 1 && name.chars().count() >= 3))
        .min_by(|a, b| a.0.cmp(&b.0).then(b.1.total_cmp(&a.1)))
        .map(|(_, _, c)| format!(", did you mean `{c}`?"))
        .unwrap_or_default()
}
