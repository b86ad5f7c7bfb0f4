//! Checks across a whole scenario: ids, jumps, templates, reachability and
//! the credit insurer's deadlines.

use std::collections::{BTreeMap, BTreeSet};

use super::diag::Diagnostic;
use super::model::*;
use crate::calendar::Unit;
use crate::rules::suggest;

/// What the checker needs to know of the templates.
pub trait TemplateLookup {
    /// Whether template `name` exists in language `lang`.
    fn has_template(&self, lang: &str, name: &str) -> bool;
}

/// Every cross-step problem of `scenario`; `templates` is `None` when no
/// template folder is known (then template names are not checked).
pub fn check(scenario: &Scenario, templates: Option<&dyn TemplateLookup>) -> Vec<Diagnostic> {
    let file = scenario.file.as_str();
    let mut out = Vec::new();

    let mut seen: BTreeMap<&str, (usize, usize)> = BTreeMap::new();
    for stage in &scenario.stages {
        for step in &stage.steps {
            if let Some((line, _)) = seen.get(step.id.as_str()) {
                out.push(Diagnostic::error(
                    file,
                    step.line,
                    step.column,
                    format!(
                        "duplicate step id `{}` (first defined on line {line})",
                        step.id
                    ),
                ));
            } else {
                seen.insert(&step.id, (step.line, step.column));
            }
        }
    }
    let mut stage_ids = BTreeSet::new();
    for stage in &scenario.stages {
        if !stage_ids.insert(stage.id.as_str()) {
            out.push(Diagnostic::error(
                file,
                0,
                0,
                format!("duplicate stage id `{}`", stage.id),
            ));
        }
    }

    let targets: Vec<&str> = scenario
        .stages
        .iter()
        .flat_map(|s| std::iter::once(s.id.as_str()).chain(s.steps.iter().map(|st| st.id.as_str())))
        .collect();
    let goto_check = |flow: &Flow, out: &mut Vec<Diagnostic>| {
        if let Flow::Goto { step, line, column } = flow
            && scenario.find_target(step).is_none()
        {
            let hint = suggest(step, targets.iter().copied());
            out.push(Diagnostic::error(
                file,
                *line,
                *column,
                format!("`goto` names no step or stage `{step}`{hint}"),
            ));
        }
    };
    for stage in &scenario.stages {
        for step in &stage.steps {
            if let Some(flow) = &step.flow {
                goto_check(flow, &mut out);
            }
            if let Some(Wait {
                on_timeout: Some(flow),
                ..
            }) = &step.wait
            {
                goto_check(flow, &mut out);
            }
        }
    }
    for set in &scenario.handlers {
        for h in &set.handlers {
            if let Some(flow) = &h.flow {
                goto_check(flow, &mut out);
            }
        }
    }

    check_variables(scenario, &mut out);
    if let Some(templates) = templates {
        check_templates(scenario, templates, &mut out);
    }
    check_reachability(scenario, &mut out);
    check_insurer(scenario, &mut out);
    out
}

fn sends(scenario: &Scenario) -> Vec<(&Send, Option<&Task>)> {
    let mut all = Vec::new();
    for stage in &scenario.stages {
        for step in &stage.steps {
            for action in &step.actions {
                match action {
                    Action::Send(send) => all.push((send, None)),
                    Action::Task(task) if task.template.is_some() => {
                        all.push((&DUMMY_SEND, Some(task)));
                    }
                    _ => {}
                }
            }
        }
    }
    for set in &scenario.handlers {
        for h in &set.handlers {
            if let Some(send) = &h.send {
                all.push((send, None));
            }
        }
    }
    all
}

static DUMMY_SEND: Send = Send {
    channel: Channel::Phone,
    template: String::new(),
    attach: Vec::new(),
    line: 0,
    column: 0,
};

fn check_templates(scenario: &Scenario, templates: &dyn TemplateLookup, out: &mut Vec<Diagnostic>) {
    for (send, task) in sends(scenario) {
        let (name, line, column) = match task {
            Some(t) => (t.template.as_deref().unwrap_or_default(), t.line, t.column),
            None => (send.template.as_str(), send.line, send.column),
        };
        let missing: Vec<&str> = scenario
            .languages
            .iter()
            .map(String::as_str)
            .filter(|lang| !templates.has_template(lang, name))
            .collect();
        if !missing.is_empty() {
            out.push(Diagnostic::error(
                &scenario.file,
                line,
                column,
                format!(
                    "template `{name}` does not exist in {} (the scenario sends in {})",
                    missing.join(", "),
                    scenario.languages.join(", ")
                ),
            ));
        }
    }
}

fn check_variables(scenario: &Scenario, out: &mut Vec<Diagnostic>) {
    let declared: Vec<&str> = scenario.variables.keys().map(String::as_str).collect();
    let check = |name: &str, cond: &Condition, out: &mut Vec<Diagnostic>| {
        if !scenario.variables.contains_key(name) {
            let hint = suggest(name, declared.iter().copied());
            out.push(Diagnostic::error(
                &scenario.file,
                cond.line,
                cond.column,
                format!("`set` changes `{name}`, which `variables:` does not declare{hint}"),
            ));
        }
    };
    for stage in &scenario.stages {
        for step in &stage.steps {
            for action in &step.actions {
                if let Action::Set(pairs) = action {
                    for (name, cond) in pairs {
                        check(name, cond, out);
                    }
                }
            }
        }
    }
    for set in &scenario.handlers {
        for h in &set.handlers {
            for (name, cond) in &h.set {
                check(name, cond, out);
            }
        }
    }
}

/// A step is unreachable when the step before it always jumps away or ends
/// and nothing jumps to it.
fn check_reachability(scenario: &Scenario, out: &mut Vec<Diagnostic>) {
    let mut jumped_to = BTreeSet::new();
    let mut note = |flow: &Flow| {
        if let Flow::Goto { step, .. } = flow
            && let Some(at) = scenario.find_target(step)
        {
            jumped_to.insert(at);
        }
    };
    for stage in &scenario.stages {
        for step in &stage.steps {
            if let Some(flow) = &step.flow {
                note(flow);
            }
            if let Some(Wait {
                on_timeout: Some(flow),
                ..
            }) = &step.wait
            {
                note(flow);
            }
        }
    }
    for set in &scenario.handlers {
        for h in &set.handlers {
            if let Some(flow) = &h.flow {
                note(flow);
            }
        }
    }

    let mut reachable = true;
    let mut at = scenario.first();
    while let Some(here) = at {
        let step = scenario.step(here);
        if jumped_to.contains(&here) {
            reachable = true;
        }
        if !reachable {
            out.push(Diagnostic::warning(
                &scenario.file,
                step.line,
                step.column,
                format!("step `{}` is unreachable: the step before always leaves and nothing jumps here", step.id),
            ));
        }
        let always_leaves = step.when.is_none()
            && matches!(step.flow, Some(Flow::Goto { .. }) | Some(Flow::End(_)));
        if always_leaves {
            reachable = false;
        }
        at = scenario.next(here);
    }
}

/// Warns when a claim step anchored on the due date falls after the
/// policy's deadline.
fn check_insurer(scenario: &Scenario, out: &mut Vec<Diagnostic>) {
    for stage in &scenario.stages {
        for step in &stage.steps {
            for action in &step.actions {
                let Action::Claim { kind } = action else {
                    continue;
                };
                let Some(policy) = &scenario.insurer else {
                    out.push(Diagnostic::error(
                        &scenario.file,
                        step.line,
                        step.column,
                        "a `claim` step needs the scenario's `insurer:` policy (partner and deadlines)",
                    ));
                    continue;
                };
                let deadline = match kind {
                    ClaimKind::Notification => policy.notify_within,
                    ClaimKind::Claim => policy.claim_within,
                };
                if let Timing::At(TimeExpr {
                    anchor: Anchor::Due,
                    offset: Some((true, d)),
                }) = &step.timing
                    && approx_days(d) > approx_days(&deadline)
                {
                    out.push(Diagnostic::warning(
                        &scenario.file,
                        step.line,
                        step.column,
                        format!("step `{}` claims at due + {d}, after the policy's deadline of due + {deadline}", step.id),
                    ));
                }
            }
        }
    }
}

fn approx_days(d: &crate::calendar::Duration) -> i64 {
    match d.unit {
        Unit::Hours => d.amount / 24,
        Unit::Days => d.amount,
        Unit::BusinessDays => d.amount * 7 / 5,
        Unit::Weeks => d.amount * 7,
        Unit::Months => d.amount * 30,
    }
}
