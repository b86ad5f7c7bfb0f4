//! From a positioned YAML tree to a typed [`Scenario`], collecting every
//! problem on the way instead of stopping at the first.

use std::collections::BTreeMap;
use std::str::FromStr;

use sha2::{Digest, Sha256};

use super::diag::Diagnostic;
use super::model::*;
use super::yaml::{self, Node, Value};
use crate::calendar::{Calendar, Country, Duration, Window};
use crate::money::{InterestBasis, Jurisdiction};
use crate::rules::{Rules, suggest};

/// Event types a scenario can handle or wait for.
pub const EVENT_TYPES: &[&str] = &[
    "payment.received",
    "payment.refunded",
    "dispute.opened",
    "dispute.resolved",
    "promise.made",
    "promise.kept",
    "promise.broken",
    "plan.agreed",
    "message.delivered",
    "message.bounced",
    "message.opened",
    "message.replied",
    "task.outcome",
    "partner.status",
    "agent.accepted",
    "agent.collected",
    "agent.closed",
    "insurer.accepted",
    "insurer.paid",
    "insurer.refused",
    "proceeding.opened",
    "operator.pause",
    "operator.resume",
    "operator.skip",
    "operator.close",
];

const TOP_KEYS: &[&str] = &[
    "scenario",
    "description",
    "applies",
    "calendar",
    "window",
    "languages",
    "caps",
    "interest",
    "insurer",
    "variables",
    "stages",
    "on",
];
const STAGE_KEYS: &[&str] = &["id", "description", "steps"];
const STEP_KEYS: &[&str] = &[
    "id",
    "description",
    "at",
    "after",
    "when",
    "send",
    "charge",
    "task",
    "handover",
    "claim",
    "set",
    "wait",
    "goto",
    "end",
    "pause",
];
const SEND_KEYS: &[&str] = &["channel", "template", "attach"];
const TASK_KEYS: &[&str] = &["kind", "template"];
const HANDOVER_KEYS: &[&str] = &["partner"];
const WAIT_KEYS: &[&str] = &["event", "timeout", "on_timeout"];
const FLOW_KEYS: &[&str] = &["goto", "end"];
const HANDLER_KEYS: &[&str] = &[
    "when",
    "pause",
    "resume",
    "pause_until",
    "send",
    "set",
    "goto",
    "end",
];
const CAP_KEYS: &[&str] = &["messages", "per"];
const INTEREST_KEYS: &[&str] = &["jurisdiction", "rate"];
const INSURER_KEYS: &[&str] = &["partner", "notify_within", "claim_within"];

/// The result of loading: a scenario when nothing was an error, and every
/// diagnostic found either way.
pub struct Loaded {
    pub scenario: Option<Scenario>,
    pub diagnostics: Vec<Diagnostic>,
}

/// Loads a scenario from its text. `file` names it in diagnostics.
pub fn load(rules: &Rules, file: &str, source: &str) -> Loaded {
    let mut loaded = load_partial(rules, file, source);
    if loaded.diagnostics.iter().any(Diagnostic::is_error) {
        loaded.scenario = None;
    }
    loaded
}

/// Like [`load`], but keeps what could be read even when there are errors
/// (the parts in error left out), so that the checker can still look at it.
pub(super) fn load_partial(rules: &Rules, file: &str, source: &str) -> Loaded {
    let root = match yaml::parse(source) {
        Ok(root) => root,
        Err(err) => {
            return Loaded {
                scenario: None,
                diagnostics: vec![Diagnostic::error(file, err.line, err.column, err.message)],
            };
        }
    };
    let mut cx = Cx {
        rules,
        file,
        source,
        diags: Vec::new(),
    };
    let scenario = cx.scenario(&root);
    Loaded {
        scenario,
        diagnostics: cx.diags,
    }
}

/// The version of a scenario text: the first 16 hex digits of its SHA-256.
pub fn version_of(source: &str) -> String {
    let digest = Sha256::digest(source.as_bytes());
    digest.iter().take(8).map(|b| format!("{b:02x}")).collect()
}

struct Cx<'a> {
    rules: &'a Rules,
    file: &'a str,
    source: &'a str,
    diags: Vec<Diagnostic>,
}

/// The entries of a mapping, looked up by key.
struct Fields<'n> {
    entries: &'n [(Node, Node)],
}

impl<'n> Fields<'n> {
    fn get(&self, key: &str) -> Option<&'n Node> {
        self.entries
            .iter()
            .find(|(k, _)| k.as_text().as_deref() == Some(key))
            .map(|(_, v)| v)
    }
}

impl<'a> Cx<'a> {
    fn error(&mut self, node: &Node, message: impl Into<String>) {
        self.diags.push(Diagnostic::error(
            self.file,
            node.pos.line,
            node.pos.column,
            message,
        ));
    }

    /// An error at a line and column inside a scalar's own text.
    fn error_inside(
        &mut self,
        node: &Node,
        line: usize,
        column: usize,
        message: impl Into<String>,
    ) {
        let (line, column) = node.locate(self.source, line, column);
        self.diags
            .push(Diagnostic::error(self.file, line, column, message));
    }

    fn warning(&mut self, node: &Node, message: impl Into<String>) {
        self.diags.push(Diagnostic::warning(
            self.file,
            node.pos.line,
            node.pos.column,
            message,
        ));
    }

    /// A mapping whose keys must all be in `allowed`; unknown keys are
    /// reported with the closest allowed one.
    fn fields<'n>(&mut self, node: &'n Node, what: &str, allowed: &[&str]) -> Option<Fields<'n>> {
        let Some(entries) = node.as_map() else {
            self.error(
                node,
                format!("{what} must be a mapping, found {}", node.kind()),
            );
            return None;
        };
        let mut seen: Vec<String> = Vec::new();
        for (key, _) in entries {
            let Some(name) = key.as_text() else {
                self.error(key, format!("keys of {what} must be words"));
                continue;
            };
            if seen.contains(&name) {
                self.error(key, format!("`{name}` is given twice in {what}"));
            }
            if !allowed.contains(&name.as_str()) {
                let hint = suggest(&name, allowed.iter().copied());
                let hint = if hint.is_empty() {
                    format!("; expected one of: {}", allowed.join(", "))
                } else {
                    hint
                };
                self.error(key, format!("unknown key `{name}` in {what}{hint}"));
            }
            seen.push(name);
        }
        Some(Fields { entries })
    }

    fn required<'n>(
        &mut self,
        parent: &Node,
        fields: &Fields<'n>,
        key: &str,
        what: &str,
    ) -> Option<&'n Node> {
        let found = fields.get(key);
        if found.is_none() {
            self.error(parent, format!("{what} needs `{key}`"));
        }
        found
    }

    fn text(&mut self, node: &Node, what: &str) -> Option<String> {
        match &node.value {
            Value::String(s) | Value::Number(s) => Some(s.clone()),
            _ => {
                self.error(node, format!("{what} must be text, found {}", node.kind()));
                None
            }
        }
    }

    fn ident(&mut self, node: &Node, what: &str) -> Option<String> {
        let text = self.text(node, what)?;
        let valid = !text.is_empty()
            && text.chars().next().is_some_and(|c| c.is_ascii_lowercase())
            && text
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '-');
        if !valid {
            self.error(
                node,
                format!("{what} `{text}` must be lowercase letters, digits, `_` or `-`, starting with a letter"),
            );
            return None;
        }
        Some(text)
    }

    fn boolean(&mut self, node: &Node, what: &str) -> Option<bool> {
        match node.value {
            Value::Bool(b) => Some(b),
            _ => {
                self.error(
                    node,
                    format!("{what} must be true or false, found {}", node.kind()),
                );
                None
            }
        }
    }

    fn duration(&mut self, node: &Node, what: &str) -> Option<Duration> {
        let text = self.text(node, what)?;
        match Duration::from_str(text.trim()) {
            Ok(d) => Some(d),
            Err(err) => {
                self.error_inside(
                    node,
                    1,
                    err.offset + 1,
                    format!("bad duration `{text}` in {what}: {}", err.message),
                );
                None
            }
        }
    }

    fn condition(&mut self, node: &Node, what: &str, extra: &[&str]) -> Option<Condition> {
        let text = match &node.value {
            Value::Bool(b) => b.to_string(),
            _ => self.text(node, what)?,
        };
        // A block scalar keeps its final line break; Rhai would place an
        // "incomplete" error on the line after it, past the end of the value.
        let text = text.trim_end();
        match self.rules.compile(text, extra) {
            Ok(expr) => Some(Condition {
                expr,
                line: node.pos.line,
                column: node.pos.column,
            }),
            Err(errors) => {
                for err in errors {
                    self.error_inside(
                        node,
                        err.line,
                        err.column,
                        format!("in {what}: {}", err.message),
                    );
                }
                None
            }
        }
    }

    /// `ANCHOR`, `ANCHOR + DURATION` or `ANCHOR - DURATION`.
    fn time_expr(&mut self, node: &Node, what: &str, anchors: &[&str]) -> Option<TimeExpr> {
        let text = self.text(node, what)?;
        let trimmed = text.trim_end();
        let split = trimmed.find(['+', '-']);
        let (anchor_text, rest) = match split {
            Some(i) => (&trimmed[..i], Some((i, &trimmed[i..]))),
            None => (trimmed, None),
        };
        let anchor_name = anchor_text.trim();
        let anchor = match Anchor::parse(anchor_name).filter(|_| anchors.contains(&anchor_name)) {
            Some(a) => a,
            None => {
                let hint = suggest(anchor_name, anchors.iter().copied());
                let lead = anchor_text.len() - anchor_text.trim_start().len();
                self.error_inside(node, 1, lead + 1, format!(
                        "unknown anchor `{anchor_name}` in {what}{hint}; use {} with an optional `+ 5bd` or `- 3d`",
                        anchors.join(", ")
                    ));
                return None;
            }
        };
        let Some((sign_at, rest)) = rest else {
            return Some(TimeExpr {
                anchor,
                offset: None,
            });
        };
        let forward = rest.starts_with('+');
        let body = &rest[1..];
        let lead = body.len() - body.trim_start().len();
        let duration_text = body.trim();
        match Duration::from_str(duration_text) {
            Ok(d) => Some(TimeExpr {
                anchor,
                offset: Some((forward, d)),
            }),
            Err(err) => {
                let at = sign_at + 1 + lead + err.offset;
                self.error_inside(
                    node,
                    1,
                    at + 1,
                    format!("bad duration `{duration_text}` in {what}: {}", err.message),
                );
                None
            }
        }
    }

    fn list<'n>(&mut self, node: &'n Node, what: &str) -> &'n [Node] {
        match &node.value {
            Value::Seq(items) => items,
            _ => {
                self.error(
                    node,
                    format!("{what} must be a list, found {}", node.kind()),
                );
                &[]
            }
        }
    }

    fn scenario(&mut self, root: &Node) -> Option<Scenario> {
        let top = self.fields(root, "the scenario", TOP_KEYS)?;

        let name = self
            .required(root, &top, "scenario", "a scenario")
            .and_then(|n| self.ident(n, "the scenario name"));
        let description = top
            .get("description")
            .and_then(|n| self.text(n, "description"));
        let applies = top
            .get("applies")
            .and_then(|n| self.condition(n, "`applies`", &[]));

        let country = top.get("calendar").and_then(|n| {
            let text = self.text(n, "calendar")?;
            match Country::from_str(&text) {
                Ok(c) => Some(c),
                Err(err) => {
                    self.error(n, format!("unknown calendar `{text}`: {err}"));
                    None
                }
            }
        });
        let window = top.get("window").and_then(|n| {
            let text = self.text(n, "window")?;
            match Window::from_str(text.trim()) {
                Ok(w) => Some(w),
                Err(err) => {
                    self.error_inside(
                        n,
                        1,
                        err.offset + 1,
                        format!("bad window `{text}`: {}", err.message),
                    );
                    None
                }
            }
        });
        let languages = match top.get("languages") {
            Some(n) => self
                .list(n, "languages")
                .iter()
                .filter_map(|item| self.ident(item, "a language"))
                .collect(),
            None => vec![
                country
                    .map(|c| c.default_language())
                    .unwrap_or("en")
                    .to_string(),
            ],
        };
        let caps = match top.get("caps") {
            Some(n) => self
                .list(n, "caps")
                .iter()
                .filter_map(|item| self.cap(item))
                .collect(),
            None => Vec::new(),
        };
        let interest = match top.get("interest") {
            Some(n) => self
                .interest(n)
                .unwrap_or(InterestBasis::Statutory(Jurisdiction::EU)),
            None => InterestBasis::Statutory(match country {
                Some(Country::FR) => Jurisdiction::FR,
                Some(Country::ES) => Jurisdiction::ES,
                _ => Jurisdiction::EU,
            }),
        };
        let insurer = top.get("insurer").and_then(|n| self.insurer(n));
        let variables = top
            .get("variables")
            .map(|n| self.variables(n))
            .unwrap_or_default();

        let stages = match self.required(root, &top, "stages", "a scenario") {
            Some(n) => {
                let items = self.list(n, "stages");
                if items.is_empty() && matches!(n.value, Value::Seq(_)) {
                    self.error(n, "a scenario needs at least one stage");
                }
                items.iter().filter_map(|s| self.stage(s)).collect()
            }
            None => Vec::new(),
        };
        let handlers = top
            .get("on")
            .map(|n| self.handler_sets(n))
            .unwrap_or_default();

        Some(Scenario {
            name: name?,
            description,
            version: version_of(self.source),
            file: self.file.to_string(),
            applies,
            calendar: Calendar::new(country),
            country,
            window,
            languages,
            caps,
            interest,
            insurer,
            variables,
            stages,
            handlers,
        })
    }

    fn cap(&mut self, node: &Node) -> Option<Cap> {
        let f = self.fields(node, "a cap", CAP_KEYS)?;
        let messages = self.required(node, &f, "messages", "a cap")?;
        let per = self.required(node, &f, "per", "a cap")?;
        let count = match messages.as_text().and_then(|t| t.parse::<u32>().ok()) {
            Some(c) if c > 0 => c,
            _ => {
                self.error(messages, "`messages` must be a whole number above 0");
                return None;
            }
        };
        Some(Cap {
            messages: count,
            per: self.duration(per, "`per`")?,
        })
    }

    fn interest(&mut self, node: &Node) -> Option<InterestBasis> {
        if let Some(text) = node.as_text() {
            return match Jurisdiction::from_str(&text) {
                Ok(j) => Some(InterestBasis::Statutory(j)),
                Err(_) => {
                    self.error(node, format!("unknown jurisdiction `{text}`: use FR, ES or EU, or `rate: 12.5` for a contractual rate"));
                    None
                }
            };
        }
        let f = self.fields(node, "`interest`", INTEREST_KEYS)?;
        if let Some(rate) = f.get("rate") {
            let text = self.text(rate, "`rate`")?;
            return match rust_decimal::Decimal::from_str(text.trim().trim_end_matches('%')) {
                Ok(r) if r >= rust_decimal::Decimal::ZERO => {
                    Some(InterestBasis::Contractual { rate: r })
                }
                _ => {
                    self.error(
                        rate,
                        format!("`rate` must be a yearly percentage such as 12.5, found `{text}`"),
                    );
                    None
                }
            };
        }
        let j = self.required(node, &f, "jurisdiction", "`interest`")?;
        self.interest(j)
    }

    fn insurer(&mut self, node: &Node) -> Option<InsurerPolicy> {
        let f = self.fields(node, "`insurer`", INSURER_KEYS)?;
        let partner = self
            .required(node, &f, "partner", "`insurer`")
            .and_then(|n| self.ident(n, "the insurer partner"));
        let notify = self
            .required(node, &f, "notify_within", "`insurer`")
            .and_then(|n| self.duration(n, "`notify_within`"));
        let claim = self
            .required(node, &f, "claim_within", "`insurer`")
            .and_then(|n| self.duration(n, "`claim_within`"));
        Some(InsurerPolicy {
            partner: partner?,
            notify_within: notify?,
            claim_within: claim?,
        })
    }

    fn variables(&mut self, node: &Node) -> BTreeMap<String, VarValue> {
        let Some(entries) = node.as_map() else {
            self.error(node, "`variables` must be a mapping of names to values");
            return BTreeMap::new();
        };
        let mut out = BTreeMap::new();
        for (k, v) in entries {
            let Some(name) = self.ident(k, "a variable name") else {
                continue;
            };
            let value = match &v.value {
                Value::Bool(b) => VarValue::Bool(*b),
                Value::Number(t) => match t.parse::<i64>() {
                    Ok(i) => VarValue::Int(i),
                    Err(_) => match rust_decimal::Decimal::from_str(t) {
                        Ok(d) => VarValue::Decimal(d),
                        Err(_) => {
                            self.error(v, format!("`{t}` is not a number relance can hold"));
                            continue;
                        }
                    },
                },
                Value::String(s) => VarValue::Text(s.clone()),
                _ => {
                    self.error(
                        v,
                        format!("variable `{name}` must be a boolean, a number or text"),
                    );
                    continue;
                }
            };
            out.insert(name, value);
        }
        out
    }

    fn stage(&mut self, node: &Node) -> Option<Stage> {
        let f = self.fields(node, "a stage", STAGE_KEYS)?;
        let id = self
            .required(node, &f, "id", "a stage")
            .and_then(|n| self.ident(n, "a stage id"));
        let steps_node = self.required(node, &f, "steps", "a stage");
        let steps: Vec<Step> = match steps_node {
            Some(n) => self
                .list(n, "steps")
                .iter()
                .filter_map(|s| self.step(s))
                .collect(),
            None => Vec::new(),
        };
        if let Some(n) = steps_node
            && matches!(&n.value, Value::Seq(items) if items.is_empty())
        {
            self.warning(n, "this stage has no steps");
        }
        Some(Stage { id: id?, steps })
    }

    fn step(&mut self, node: &Node) -> Option<Step> {
        let f = self.fields(node, "a step", STEP_KEYS)?;
        let id = self
            .required(node, &f, "id", "a step")
            .and_then(|n| self.ident(n, "a step id"));

        let timing = match (f.get("at"), f.get("after")) {
            (Some(at), Some(_)) => {
                self.error(at, "a step takes `at` or `after`, not both");
                Timing::Immediately
            }
            (Some(at), None) => self
                .time_expr(at, "`at`", Anchor::STEP_ANCHORS)
                .map(Timing::At)
                .unwrap_or(Timing::Immediately),
            (None, Some(after)) => self
                .duration(after, "`after`")
                .map(Timing::After)
                .unwrap_or(Timing::Immediately),
            (None, None) => Timing::Immediately,
        };
        let when = f.get("when").and_then(|n| self.condition(n, "`when`", &[]));

        let mut actions = Vec::new();
        if let Some(n) = f.get("charge") {
            let charges = self.charges(n);
            if !charges.is_empty() {
                actions.push(Action::Charge(charges));
            }
        }
        if let Some(n) = f.get("set") {
            actions.push(Action::Set(self.set(n, &[])));
        }
        if let Some(send) = f.get("send").and_then(|n| self.send(n)) {
            actions.push(Action::Send(send));
        }
        if let Some(task) = f.get("task").and_then(|n| self.task(n)) {
            actions.push(Action::Task(task));
        }
        if let Some(n) = f.get("claim") {
            let kind = match n.as_text().as_deref() {
                Some("notification") => Some(ClaimKind::Notification),
                Some("claim") => Some(ClaimKind::Claim),
                _ => {
                    self.error(
                        n,
                        "`claim` is `notification` (overdue notification) or `claim`",
                    );
                    None
                }
            };
            if let Some(kind) = kind {
                actions.push(Action::Claim { kind });
            }
        }
        if let Some(n) = f.get("handover") {
            let partner = self
                .fields(n, "`handover`", HANDOVER_KEYS)
                .and_then(|hf| self.required(n, &hf, "partner", "`handover`"))
                .and_then(|p| self.ident(p, "the partner"));
            if let Some(partner) = partner {
                actions.push(Action::Handover { partner });
            }
        }

        let wait = f.get("wait").and_then(|n| self.wait(n));
        let flow = self.flow(node, &f);
        if wait.is_some() && flow.is_some() {
            self.error(
                node,
                "a step that waits cannot also `goto`, `end` or `pause`",
            );
        }

        Some(Step {
            id: id?,
            line: node.pos.line,
            column: node.pos.column,
            timing,
            when,
            actions,
            wait,
            flow,
        })
    }

    /// `goto`, `end` and `pause` (at most one of them).
    fn flow(&mut self, node: &Node, f: &Fields<'_>) -> Option<Flow> {
        let mut flows = Vec::new();
        if let Some(n) = f.get("goto")
            && let Some(step) = self.ident(n, "`goto`")
        {
            flows.push(Flow::Goto {
                step,
                line: n.pos.line,
                column: n.pos.column,
            });
        }
        if let Some(n) = f.get("end") {
            let text = self.text(n, "`end`").unwrap_or_default();
            match Outcome::parse(&text) {
                Some(o) => flows.push(Flow::End(o)),
                None => {
                    let hint = suggest(&text, Outcome::NAMES.iter().copied());
                    self.error(
                        n,
                        format!(
                            "unknown outcome `{text}`{hint}; use one of {}",
                            Outcome::NAMES.join(", ")
                        ),
                    );
                }
            }
        }
        if let Some(n) = f.get("pause")
            && self.boolean(n, "`pause`") == Some(true)
        {
            flows.push(Flow::Pause);
        }
        if flows.len() > 1 {
            self.error(node, "use only one of `goto`, `end` and `pause`");
        }
        flows.into_iter().next()
    }

    fn charges(&mut self, node: &Node) -> Vec<Charge> {
        let items: Vec<&Node> = match &node.value {
            Value::Seq(items) => items.iter().collect(),
            _ => vec![node],
        };
        let mut out = Vec::new();
        for item in items {
            if let Some(text) = item.as_text() {
                match text.as_str() {
                    "recovery_indemnity" => out.push(Charge::RecoveryIndemnity),
                    "late_interest" => out.push(Charge::LateInterest),
                    other => {
                        let hint =
                            suggest(other, ["recovery_indemnity", "late_interest"].into_iter());
                        self.error(item, format!("unknown charge `{other}`{hint}; use recovery_indemnity, late_interest, {{ penalty: \"10%\" }} or {{ fee: \"15.00\" }}"));
                    }
                }
                continue;
            }
            let Some(f) = self.fields(item, "a charge", &["penalty", "fee"]) else {
                continue;
            };
            if let Some(p) = f.get("penalty") {
                let text = p.as_text().unwrap_or_default();
                match text.trim().strip_suffix('%').map(str::trim).map(rust_decimal::Decimal::from_str) {
                    Some(Ok(pct)) if pct > rust_decimal::Decimal::ZERO => out.push(Charge::PenaltyPercent(pct)),
                    _ => self.error(p, format!("`penalty` is a percentage of the open balance such as \"10%\", found `{text}`")),
                }
            }
            if let Some(fee) = f.get("fee") {
                let text = fee.as_text().unwrap_or_default();
                match rust_decimal::Decimal::from_str(text.trim()) {
                    Ok(amount) if amount > rust_decimal::Decimal::ZERO => {
                        out.push(Charge::Fee(amount))
                    }
                    _ => self.error(
                        fee,
                        format!("`fee` is an amount such as \"15.00\", found `{text}`"),
                    ),
                }
            }
        }
        out
    }

    fn set(&mut self, node: &Node, extra: &[&str]) -> Vec<(String, Condition)> {
        let Some(entries) = node.as_map() else {
            self.error(node, "`set` must map variable names to Rhai expressions");
            return Vec::new();
        };
        let mut out = Vec::new();
        for (k, v) in entries {
            let Some(name) = self.ident(k, "a variable name") else {
                continue;
            };
            if let Some(expr) = self.condition(v, &format!("`set: {name}`"), extra) {
                out.push((name, expr));
            }
        }
        out
    }

    fn send(&mut self, node: &Node) -> Option<Send> {
        let f = self.fields(node, "`send`", SEND_KEYS)?;
        let channel_node = self.required(node, &f, "channel", "`send`");
        let template_node = self.required(node, &f, "template", "`send`");
        let channel = channel_node.and_then(|n| {
            let text = self.text(n, "`channel`")?;
            match Channel::from_str(&text) {
                Ok(c) => Some(c),
                Err(message) => {
                    self.error(n, message);
                    None
                }
            }
        });
        let template = template_node.and_then(|n| self.ident(n, "a template name"));
        let mut attach = Vec::new();
        if let Some(n) = f.get("attach") {
            let items: Vec<&Node> = match &n.value {
                Value::Seq(items) => items.iter().collect(),
                _ => vec![n],
            };
            for item in items {
                let text = item.as_text().unwrap_or_default();
                match Attachment::parse(&text) {
                    Some(a) => attach.push(a),
                    None => {
                        let hint = suggest(&text, Attachment::NAMES.iter().copied());
                        self.error(
                            item,
                            format!(
                                "unknown attachment `{text}`{hint}; use {}",
                                Attachment::NAMES.join(", ")
                            ),
                        );
                    }
                }
            }
        }
        let at = template_node.unwrap_or(node);
        Some(Send {
            channel: channel?,
            template: template?,
            attach,
            line: at.pos.line,
            column: at.pos.column,
        })
    }

    fn task(&mut self, node: &Node) -> Option<Task> {
        let f = self.fields(node, "`task`", TASK_KEYS)?;
        let kind = self
            .required(node, &f, "kind", "`task`")
            .and_then(|n| self.ident(n, "the task kind"));
        let template_node = f.get("template");
        let template = template_node.and_then(|n| self.ident(n, "a template name"));
        let at = template_node.unwrap_or(node);
        Some(Task {
            kind: kind?,
            template,
            line: at.pos.line,
            column: at.pos.column,
        })
    }

    fn event_name(&mut self, node: &Node) -> Option<String> {
        let text = self.text(node, "an event type")?;
        if text.starts_with("operator.") {
            let message = format!(
                "`{text}` is an operator's action, which the engine applies itself: a scenario cannot wait for or handle it"
            );
            self.error(node, message);
            return None;
        }
        if EVENT_TYPES.contains(&text.as_str()) {
            return Some(text);
        }
        let hint = suggest(&text, EVENT_TYPES.iter().copied());
        self.error(node, format!("unknown event `{text}`{hint}"));
        None
    }

    fn wait(&mut self, node: &Node) -> Option<Wait> {
        let f = self.fields(node, "`wait`", WAIT_KEYS)?;
        let event = self
            .required(node, &f, "event", "`wait`")
            .and_then(|n| self.event_name(n));
        let timeout = self
            .required(node, &f, "timeout", "`wait`")
            .and_then(|n| self.duration(n, "`timeout`"));
        let on_timeout = match f.get("on_timeout") {
            Some(n) => {
                let tf = self.fields(n, "`on_timeout`", FLOW_KEYS)?;
                self.flow(n, &tf)
            }
            None => None,
        };
        Some(Wait {
            event: event?,
            timeout: timeout?,
            on_timeout,
        })
    }

    fn handler_sets(&mut self, node: &Node) -> Vec<HandlerSet> {
        let Some(entries) = node.as_map() else {
            self.error(node, "`on` must map event types to handlers");
            return Vec::new();
        };
        let mut out = Vec::new();
        for (k, v) in entries {
            let Some(event) = self.event_name(k) else {
                continue;
            };
            let items: Vec<&Node> = match &v.value {
                Value::Seq(items) => items.iter().collect(),
                _ => vec![v],
            };
            let handlers = items.into_iter().filter_map(|h| self.handler(h)).collect();
            out.push(HandlerSet { event, handlers });
        }
        out
    }

    fn handler(&mut self, node: &Node) -> Option<Handler> {
        let f = self.fields(node, "an event handler", HANDLER_KEYS)?;
        let extra = ["event"];
        let when = f
            .get("when")
            .and_then(|n| self.condition(n, "`when`", &extra));
        let pause = f
            .get("pause")
            .and_then(|n| self.boolean(n, "`pause`"))
            .unwrap_or(false);
        let resume = f
            .get("resume")
            .and_then(|n| self.boolean(n, "`resume`"))
            .unwrap_or(false);
        let pause_until = f
            .get("pause_until")
            .and_then(|n| self.time_expr(n, "`pause_until`", Anchor::HANDLER_ANCHORS));
        let send = f.get("send").and_then(|n| self.send(n));
        let set = f
            .get("set")
            .map(|n| self.set(n, &extra))
            .unwrap_or_default();

        let mut flow = None;
        if let Some(n) = f.get("goto")
            && let Some(step) = self.ident(n, "`goto`")
        {
            flow = Some(Flow::Goto {
                step,
                line: n.pos.line,
                column: n.pos.column,
            });
        }
        if let Some(n) = f.get("end") {
            let text = self.text(n, "`end`").unwrap_or_default();
            match Outcome::parse(&text) {
                Some(o) if flow.is_none() => flow = Some(Flow::End(o)),
                Some(_) => self.error(n, "a handler takes `goto` or `end`, not both"),
                None => {
                    let hint = suggest(&text, Outcome::NAMES.iter().copied());
                    self.error(
                        n,
                        format!(
                            "unknown outcome `{text}`{hint}; use one of {}",
                            Outcome::NAMES.join(", ")
                        ),
                    );
                }
            }
        }
        let pausing = [pause, resume, pause_until.is_some()]
            .iter()
            .filter(|b| **b)
            .count();
        if pausing > 1 {
            self.error(
                node,
                "a handler takes one of `pause`, `resume` and `pause_until`",
            );
        }
        Some(Handler {
            when,
            pause,
            resume,
            pause_until,
            send,
            set,
            flow,
        })
    }
}
