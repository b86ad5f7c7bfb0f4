//! The engine's rules of motion: when a step is due, what firing it does,
//! how events change the case and which handler answers them. An
//! operator's actions are in the child module `operator`.

mod operator;

use std::collections::BTreeSet;

use chrono::{DateTime, NaiveDate, NaiveTime, TimeZone, Utc};
use rust_decimal::Decimal;

use super::event::Event;
use super::facts;
use super::instance::*;
use super::{Engine, EngineError, Input};
use crate::engine::case::Case;
use crate::money::{late_interest, recovery_indemnity, round};
use crate::scenario::{
    Action as StepAction, Anchor, Channel, Charge, Condition, Flow, Handler, Outcome, Scenario,
    Send, StepRef, TimeExpr, Timing,
};

/// Most steps one call may process, so that a `goto` loop cannot spin.
const MAX_STEPS_PER_CALL: usize = 256;

/// A fresh instance of `sc` for `case`, before any step.
pub(super) fn new_instance(
    sc: &Scenario,
    mut case: Case,
    now: DateTime<Utc>,
) -> Result<Instance, EngineError> {
    let Some(currency) = case.currency() else {
        return Err(EngineError::BadCase {
            case: case.id,
            reason: "it has no invoice".into(),
        });
    };
    if let Some(other) = case.invoices.iter().find(|i| i.currency != currency) {
        return Err(EngineError::BadCase {
            case: case.id.clone(),
            reason: format!(
                "invoice {} is in {}, the case in {}: one case is one currency",
                other.number,
                other.currency.code(),
                currency.code()
            ),
        });
    }
    if case.id.is_empty() {
        case.id = format!("{}/{}", case.client.id, case.debtor.id);
    }
    let paid = case
        .invoices
        .iter()
        .flat_map(|i| i.allocations.iter().map(|a| a.amount))
        .sum();
    let instance = Instance {
        id: case.id.clone(),
        scenario: sc.name.clone(),
        version: sc.version.clone(),
        case,
        currency,
        status: Status::Running,
        outcome: None,
        position: None,
        due_at: None,
        next_wake: None,
        opened: now,
        last_step_at: now,
        wait: None,
        paused_until: None,
        vars: sc.variables.clone(),
        sent_steps: BTreeSet::new(),
        messages: Vec::new(),
        bounced: BTreeSet::new(),
        indemnified: BTreeSet::new(),
        fees: Decimal::ZERO,
        interest: Decimal::ZERO,
        paid,
        disputes_open: 0,
        disputes_total: 0,
        promises_broken: 0,
        promise: None,
        proceeding: false,
        partner: None,
        actions_emitted: 0,
    };
    Ok(instance)
}

pub(super) fn start(
    engine: &Engine<'_>,
    sc: &Scenario,
    case: Case,
    now: DateTime<Utc>,
) -> Result<Transition, EngineError> {
    let instance = new_instance(sc, case, now)?;
    let mut tx = Tx::new(engine, sc, instance, now);
    tx.note(
        EntryKind::Started,
        None,
        format!("case opened on scenario {} {}", sc.name, sc.version),
    );
    match sc.first() {
        Some(first) => tx.enter(first, now),
        None => tx.end(Outcome::Exhausted, "the scenario has no step"),
    }
    tx.run_due();
    Ok(tx.finish())
}

pub(super) fn step(
    engine: &Engine<'_>,
    inst: &Instance,
    sc: &Scenario,
    input: &Input,
    now: DateTime<Utc>,
) -> Result<Transition, EngineError> {
    if let Input::Event(e) = input {
        e.validate()?;
    }
    let mut tx = Tx::new(engine, sc, inst.clone(), now);
    match input {
        Input::Wake => tx.wake(),
        Input::Event(e) => {
            tx.event(e);
            // An event that resumed a wait whose timeout passed meanwhile
            // (a pause during a wait) times it out now, not in the past.
            tx.wake_waiting();
        }
    }
    tx.run_due();
    Ok(tx.finish())
}

/// One engine call in progress.
struct Tx<'e, 's> {
    engine: &'e Engine<'e>,
    sc: &'s Scenario,
    inst: Instance,
    now: DateTime<Utc>,
    journal: Vec<JournalEntry>,
    actions: Vec<Action>,
    cancel_pending: bool,
}

impl<'e, 's> Tx<'e, 's> {
    fn new(engine: &'e Engine<'e>, sc: &'s Scenario, inst: Instance, now: DateTime<Utc>) -> Self {
        Tx {
            engine,
            sc,
            inst,
            now,
            journal: Vec::new(),
            actions: Vec::new(),
            cancel_pending: false,
        }
    }

    fn finish(mut self) -> Transition {
        self.inst.next_wake = self.next_wake();
        Transition {
            instance: self.inst,
            journal: self.journal,
            actions: self.actions,
            cancel_pending: self.cancel_pending,
        }
    }

    fn next_wake(&self) -> Option<DateTime<Utc>> {
        match self.inst.status {
            Status::Running => self.inst.due_at.map(|t| self.open_at(t)),
            Status::Waiting => self.inst.wait.as_ref().map(|w| w.until),
            Status::Paused => self.inst.paused_until,
            Status::Ended | Status::Failed => None,
        }
    }

    // --- journal -------------------------------------------------------

    fn entry(&self, kind: EntryKind, at: Option<StepRef>, detail: String) -> JournalEntry {
        let (stage, step) = match at {
            Some(r) => (
                Some(self.sc.stage_of(r).id.clone()),
                Some(self.sc.step(r).id.clone()),
            ),
            None => (None, None),
        };
        JournalEntry {
            at: self.now,
            stage,
            step,
            kind,
            channel: None,
            template: None,
            detail,
            balance: self.inst.balance(),
            total_due: self.inst.total_due(),
            currency: self.inst.currency,
        }
    }

    fn note(&mut self, kind: EntryKind, at: Option<StepRef>, detail: String) {
        let e = self.entry(kind, at, detail);
        self.journal.push(e);
    }

    // --- time ----------------------------------------------------------

    fn tz(&self) -> chrono_tz::Tz {
        self.inst.case.debtor.timezone
    }

    fn today(&self) -> NaiveDate {
        self.now.with_timezone(&self.tz()).date_naive()
    }

    /// `t` in the debtor's zone, RFC 3339, for the journal's words.
    fn local(&self, t: DateTime<Utc>) -> String {
        t.with_timezone(&self.tz()).to_rfc3339()
    }

    /// The first instant at or after `t` inside the sending window.
    fn open_at(&self, t: DateTime<Utc>) -> DateTime<Utc> {
        match &self.sc.window {
            Some(w) => w.next_open(&self.sc.calendar, self.tz(), t),
            None => t,
        }
    }

    /// A local date at the window's opening time (midnight without one).
    fn at_date(&self, date: NaiveDate) -> DateTime<Utc> {
        let time = self.sc.window.map(|w| w.start).unwrap_or(NaiveTime::MIN);
        let local = date.and_time(time);
        let tz = self.tz();
        tz.from_local_datetime(&local)
            .earliest()
            .or_else(|| {
                tz.from_local_datetime(&(local + chrono::Duration::hours(1)))
                    .earliest()
            })
            .map(|t| t.with_timezone(&Utc))
            .unwrap_or_else(|| Utc.from_utc_datetime(&local))
    }

    fn anchor_date(&self, anchor: Anchor, event: Option<&Event>) -> NaiveDate {
        let case = &self.inst.case;
        match anchor {
            Anchor::Due => case.oldest_due().unwrap_or_else(|| self.today()),
            Anchor::Issued => case
                .open_invoices()
                .map(|i| i.issued)
                .min()
                .or_else(|| case.invoices.iter().map(|i| i.issued).min())
                .unwrap_or_else(|| self.today()),
            Anchor::Opened => self.inst.opened.with_timezone(&self.tz()).date_naive(),
            Anchor::Now => self.today(),
            Anchor::PromiseDate | Anchor::EventDate => event
                .and_then(|e| e.fields.date)
                .or_else(|| event.and_then(|e| e.fields.instalments.last().map(|i| i.date)))
                .or_else(|| self.inst.promise.as_ref().map(|p| p.date))
                .unwrap_or_else(|| self.today()),
            Anchor::PlanEnd => event
                .and_then(|e| e.fields.instalments.iter().map(|i| i.date).max())
                .or_else(|| self.inst.promise.as_ref().map(|p| p.date))
                .unwrap_or_else(|| self.today()),
        }
    }

    fn resolve(&self, te: &TimeExpr, event: Option<&Event>) -> DateTime<Utc> {
        let base = self.anchor_date(te.anchor, event);
        let date = match &te.offset {
            Some((forward, d)) => d.shift_date(&self.sc.calendar, base, *forward),
            None => base,
        };
        self.at_date(date)
    }

    // --- moving through steps ------------------------------------------

    /// Makes `at` the current step, due by its timing counted from `from`.
    fn enter(&mut self, at: StepRef, from: DateTime<Utc>) {
        let step = self.sc.step(at);
        let due = match &step.timing {
            Timing::At(te) => self.resolve(te, None),
            Timing::After(d) => d
                .shift(&self.sc.calendar, &from.with_timezone(&self.tz()), true)
                .with_timezone(&Utc),
            Timing::Immediately => from,
        };
        self.inst.status = Status::Running;
        self.inst.position = Some(at);
        self.inst.due_at = Some(due);
    }

    fn advance(&mut self, from: StepRef) {
        match self.sc.next(from) {
            Some(next) => self.enter(next, self.now),
            None => self.end(Outcome::Exhausted, "the last step has run"),
        }
    }

    fn end(&mut self, outcome: Outcome, why: &str) {
        let at = self.inst.position;
        self.inst.status = Status::Ended;
        self.inst.outcome = Some(outcome);
        self.inst.position = None;
        self.inst.due_at = None;
        self.inst.wait = None;
        self.inst.paused_until = None;
        self.cancel_pending = true;
        self.note(EntryKind::End, at, format!("case ended: {outcome} ({why})"));
    }

    fn fail(&mut self, at: Option<StepRef>, why: String) {
        self.inst.status = Status::Failed;
        self.note(EntryKind::Error, at, why);
    }

    fn flow(&mut self, flow: &Flow, at: Option<StepRef>) {
        match flow {
            Flow::Goto { step, .. } => match self.sc.find_target(step) {
                Some(target) => {
                    self.note(EntryKind::Goto, at, format!("go to {step}"));
                    self.enter(target, self.now);
                }
                None => self.fail(at, format!("goto names no step `{step}`")),
            },
            Flow::End(outcome) => self.end(*outcome, "the scenario says so"),
            Flow::Pause => {
                self.inst.status = Status::Paused;
                self.inst.paused_until = None;
                self.note(
                    EntryKind::Pause,
                    at,
                    "paused until an operator resumes".into(),
                );
            }
        }
    }

    /// Processes every step that is due now.
    fn run_due(&mut self) {
        for _ in 0..MAX_STEPS_PER_CALL {
            if self.inst.status != Status::Running {
                return;
            }
            let (Some(at), Some(due)) = (self.inst.position, self.inst.due_at) else {
                return;
            };
            if self.open_at(due) > self.now {
                return;
            }
            self.fire(at);
        }
        let at = self.inst.position;
        self.fail(
            at,
            format!("more than {MAX_STEPS_PER_CALL} steps in one go: the scenario loops"),
        );
    }

    fn condition(
        &mut self,
        cond: &Condition,
        at: Option<StepRef>,
        event: Option<&Event>,
    ) -> Option<bool> {
        let mut facts = facts::build(&self.inst, event, self.now);
        match self.engine.rules.eval_bool(&cond.expr, &mut facts) {
            Ok(b) => Some(b),
            Err(err) => {
                self.fail(
                    at,
                    format!(
                        "condition `{}` (line {}) failed: {err}",
                        cond.expr.source(),
                        cond.line
                    ),
                );
                None
            }
        }
    }

    /// When the caps allow the next message, if not now.
    fn capped_until(&self) -> Option<DateTime<Utc>> {
        let mut until: Option<DateTime<Utc>> = None;
        for cap in &self.sc.caps {
            let window_start = cap
                .per
                .shift(
                    &self.sc.calendar,
                    &self.now.with_timezone(&self.tz()),
                    false,
                )
                .with_timezone(&Utc);
            let recent: Vec<&DateTime<Utc>> = self
                .inst
                .messages
                .iter()
                .filter(|t| **t > window_start && **t <= self.now)
                .collect();
            if recent.len() as u32 >= cap.messages {
                let k = recent.len() - cap.messages as usize;
                let frees = cap
                    .per
                    .shift(
                        &self.sc.calendar,
                        &recent[k].with_timezone(&self.tz()),
                        true,
                    )
                    .with_timezone(&Utc)
                    + chrono::Duration::seconds(1);
                until = Some(until.map_or(frees, |u| u.max(frees)));
            }
        }
        until
    }

    fn fire(&mut self, at: StepRef) {
        let step = self.sc.step(at);
        if let Some(cond) = &step.when {
            match self.condition(cond, Some(at), None) {
                Some(true) => {}
                Some(false) => {
                    self.note(
                        EntryKind::Skip,
                        Some(at),
                        format!("skipped: `{}` is false", cond.expr.source()),
                    );
                    self.inst.last_step_at = self.now;
                    self.advance(at);
                    return;
                }
                None => return,
            }
        }

        let sends = step
            .actions
            .iter()
            .any(|a| matches!(a, StepAction::Send(s) if counts_as_message(s.channel)));
        if sends && let Some(until) = self.capped_until() {
            self.inst.due_at = Some(until);
            let when = self.open_at(until);
            self.note(
                EntryKind::Deferred,
                Some(at),
                format!("deferred to {} by the message cap", self.local(when)),
            );
            return;
        }

        for action in &step.actions {
            if self.inst.status == Status::Failed {
                return;
            }
            self.act(action, at);
        }
        if self.inst.status == Status::Failed {
            return;
        }
        self.inst.last_step_at = self.now;

        if let Some(wait) = &step.wait {
            let until = wait
                .timeout
                .shift(&self.sc.calendar, &self.now.with_timezone(&self.tz()), true)
                .with_timezone(&Utc);
            self.inst.status = Status::Waiting;
            self.inst.wait = Some(WaitState {
                event: wait.event.clone(),
                until,
                step: at,
            });
            self.note(
                EntryKind::Wait,
                Some(at),
                format!("waiting for {} until {}", wait.event, self.local(until)),
            );
            return;
        }
        match &step.flow {
            Some(flow) => self.flow(flow, Some(at)),
            None => self.advance(at),
        }
    }

    fn language(&self) -> String {
        let lang = &self.inst.case.debtor.language;
        if self.sc.languages.iter().any(|l| l == lang) {
            lang.clone()
        } else {
            self.sc
                .languages
                .first()
                .cloned()
                .unwrap_or_else(|| lang.clone())
        }
    }

    fn key(&mut self, step: &str) -> String {
        self.inst.actions_emitted += 1;
        format!(
            "{}/{}/{}/{}",
            self.inst.id, self.inst.version, step, self.inst.actions_emitted
        )
    }

    fn missing_contact(&self, channel: Channel) -> Option<&'static str> {
        if self.inst.bounced.contains(channel.name()) {
            // TODO: a bounced channel stays unused for the rest of the case:
            // there is no event yet for a debtor's corrected contact details.
            return Some("an earlier message on this channel bounced");
        }
        let d = &self.inst.case.debtor;
        match channel {
            Channel::Email if d.email.is_none() => Some("no email address"),
            Channel::Sms | Channel::Voice | Channel::Message if d.mobile.is_none() => {
                Some("no mobile number")
            }
            Channel::Letter | Channel::RegisteredMail if d.address.is_none() => {
                Some("no postal address")
            }
            Channel::Phone if d.phone.is_none() && d.mobile.is_none() => Some("no phone number"),
            _ => None,
        }
    }

    fn send(&mut self, send: &Send, at: Option<StepRef>, label: &str) {
        if let Some(why) = self.missing_contact(send.channel) {
            let mut e = self.entry(
                EntryKind::Skip,
                at,
                format!("{} not sent: {why}", send.channel),
            );
            e.channel = Some(send.channel);
            e.template = Some(send.template.clone());
            self.journal.push(e);
            return;
        }
        let when = self.open_at(self.now);
        let key = self.key(label);
        self.actions.push(Action {
            key,
            at: when,
            step: label.to_string(),
            kind: ActionKind::Send {
                channel: send.channel,
                template: send.template.clone(),
                language: self.language(),
                attach: send.attach.clone(),
            },
        });
        if counts_as_message(send.channel) {
            self.inst.messages.push(when);
        }
        if let Some(r) = at {
            self.inst.sent_steps.insert(self.sc.step(r).id.clone());
        }
        let mut e = self.entry(
            EntryKind::Send,
            at,
            format!("{} {}", send.channel, send.template),
        );
        e.at = when;
        e.channel = Some(send.channel);
        e.template = Some(send.template.clone());
        self.journal.push(e);
    }

    fn act(&mut self, action: &StepAction, at: StepRef) {
        let step_id = self.sc.step(at).id.clone();
        match action {
            StepAction::Send(send) => self.send(send, Some(at), &step_id),
            StepAction::Charge(charges) => {
                for charge in charges {
                    self.charge(charge, at);
                }
            }
            StepAction::Task(task) => {
                let key = self.key(&step_id);
                self.actions.push(Action {
                    key,
                    at: self.now,
                    step: step_id.clone(),
                    kind: ActionKind::Task {
                        task: task.kind.clone(),
                        template: task.template.clone(),
                        language: self.language(),
                    },
                });
                let mut e = self.entry(EntryKind::Task, Some(at), format!("task: {}", task.kind));
                e.channel = Some(Channel::Phone);
                e.template = task.template.clone();
                self.journal.push(e);
            }
            StepAction::Handover { partner } => {
                self.inst.partner = Some(partner.clone());
                let key = self.key(&step_id);
                self.actions.push(Action {
                    key,
                    at: self.now,
                    step: step_id.clone(),
                    kind: ActionKind::Handover {
                        partner: partner.clone(),
                    },
                });
                let mut e = self.entry(
                    EntryKind::Handover,
                    Some(at),
                    format!("handed over to {partner}"),
                );
                e.channel = Some(Channel::Webhook);
                self.journal.push(e);
            }
            StepAction::Claim { kind } => {
                let Some(policy) = &self.sc.insurer else {
                    self.fail(
                        Some(at),
                        "a claim step needs the scenario's insurer policy".into(),
                    );
                    return;
                };
                let deadline = match kind {
                    crate::scenario::ClaimKind::Notification => policy.notify_within,
                    crate::scenario::ClaimKind::Claim => policy.claim_within,
                };
                let due = self.anchor_date(Anchor::Due, None);
                let last_day = deadline.shift_date(&self.sc.calendar, due, true);
                let late = self.today() > last_day;
                let key = self.key(&step_id);
                self.actions.push(Action {
                    key,
                    at: self.now,
                    step: step_id.clone(),
                    kind: ActionKind::Claim {
                        partner: policy.partner.clone(),
                        claim: *kind,
                        late,
                    },
                });
                let what = match kind {
                    crate::scenario::ClaimKind::Notification => "overdue notification",
                    crate::scenario::ClaimKind::Claim => "claim",
                };
                let detail = if late {
                    format!(
                        "{what} to {} is LATE: the deadline was {last_day}",
                        policy.partner
                    )
                } else {
                    format!("{what} to {}, deadline {last_day}", policy.partner)
                };
                let mut e = self.entry(EntryKind::Claim, Some(at), detail);
                e.channel = Some(Channel::Webhook);
                self.journal.push(e);
            }
            StepAction::Set(pairs) => self.set(pairs, Some(at), None),
        }
    }

    fn set(&mut self, pairs: &[(String, Condition)], at: Option<StepRef>, event: Option<&Event>) {
        for (name, expr) in pairs {
            let mut facts = facts::build(&self.inst, event, self.now);
            match self.engine.rules.eval(&expr.expr, &mut facts) {
                Ok(value) => match facts::from_dynamic(&value) {
                    Some(v) => {
                        self.inst.vars.insert(name.clone(), v);
                        self.note(EntryKind::Set, at, format!("{name} = {value}"));
                    }
                    None => self.fail(
                        at,
                        format!("`set: {name}` gave a value that cannot be kept"),
                    ),
                },
                Err(err) => self.fail(at, format!("`set: {name}` failed: {err}")),
            }
        }
    }

    fn consumer(&self) -> bool {
        self.inst.case.debtor.kind == crate::engine::DebtorKind::Person
    }

    fn charge(&mut self, charge: &Charge, at: StepRef) {
        let currency = self.inst.currency;
        let detail = match charge {
            Charge::RecoveryIndemnity => {
                let new: Vec<String> = self
                    .inst
                    .case
                    .open_invoices()
                    .map(|i| i.number.clone())
                    .filter(|n| !self.inst.indemnified.contains(n))
                    .collect();
                let amount = recovery_indemnity(new.len(), self.consumer(), currency);
                if amount > Decimal::ZERO {
                    self.inst.indemnified.extend(new.iter().cloned());
                }
                self.inst.fees += amount;
                format!(
                    "recovery indemnity {} {} for {} invoice(s)",
                    amount,
                    currency.code(),
                    if amount > Decimal::ZERO { new.len() } else { 0 }
                )
            }
            Charge::LateInterest => {
                let until = self.today();
                let mut total = Decimal::ZERO;
                for inv in &self.inst.case.invoices {
                    let schedule = inv.principal_schedule();
                    match late_interest(
                        self.engine.rates,
                        &self.sc.interest,
                        currency,
                        &schedule,
                        inv.due,
                        until,
                    ) {
                        Ok(b) => total += b.interest,
                        Err(err) => {
                            self.fail(Some(at), format!("late interest on {}: {err}", inv.number));
                            return;
                        }
                    }
                }
                self.inst.interest = total;
                format!("late interest to {until}: {total} {}", currency.code())
            }
            Charge::PenaltyPercent(pct) => {
                let amount = round(self.inst.balance() * *pct / Decimal::ONE_HUNDRED, currency);
                self.inst.fees += amount;
                format!("penalty {pct}%: {amount} {}", currency.code())
            }
            Charge::Fee(amount) => {
                self.inst.fees += *amount;
                format!("fee {amount} {}", currency.code())
            }
        };
        self.note(EntryKind::Charge, Some(at), detail);
    }

    // --- wake-ups and events -------------------------------------------

    fn wake(&mut self) {
        self.wake_paused();
        self.wake_waiting();
    }

    /// Out of a pause, back to what the instance did before it: waiting,
    /// if it was in a wait, otherwise running towards its current step.
    fn unpause(&mut self) {
        self.inst.paused_until = None;
        self.inst.status = if self.inst.wait.is_some() {
            Status::Waiting
        } else {
            Status::Running
        };
    }

    /// Ends a pause whose time has come, and judges the promise it was for.
    fn wake_paused(&mut self) {
        if self.inst.status != Status::Paused {
            return;
        }
        let Some(until) = self.inst.paused_until else {
            return;
        };
        if until > self.now {
            return;
        }
        self.unpause();
        let at = self.inst.position;
        self.note(EntryKind::Resume, at, "pause over".into());
        if let Some(promise) = self.inst.promise.take() {
            let received = self.inst.paid - promise.paid_before;
            let kept = received >= promise.amount || self.inst.balance() <= Decimal::ZERO;
            let kind = if kept {
                "promise.kept"
            } else {
                "promise.broken"
            };
            if !kept {
                self.inst.promises_broken += 1;
            }
            let event = Event {
                id: None,
                kind: kind.into(),
                at: self.now,
                fields: super::event::EventFields {
                    amount: Some(received),
                    date: Some(promise.date),
                    ..Default::default()
                },
            };
            self.note(
                EntryKind::Event,
                at,
                format!("{kind}: {received} received of {} promised", promise.amount),
            );
            self.handle(&event);
        }
        if self.inst.status == Status::Running && self.inst.position.is_none() {
            self.end(Outcome::Exhausted, "nothing left to do");
        }
    }

    /// Times out a wait whose timeout has come.
    fn wake_waiting(&mut self) {
        if self.inst.status != Status::Waiting {
            return;
        }
        let Some(wait) = self.inst.wait.clone() else {
            return;
        };
        if wait.until > self.now {
            return;
        }
        self.inst.wait = None;
        self.inst.status = Status::Running;
        self.note(
            EntryKind::Timeout,
            Some(wait.step),
            format!("no {} before the timeout", wait.event),
        );
        let on_timeout = self
            .sc
            .step(wait.step)
            .wait
            .as_ref()
            .and_then(|w| w.on_timeout.clone());
        match on_timeout {
            Some(flow) => self.flow(&flow, Some(wait.step)),
            None => self.advance(wait.step),
        }
    }

    fn event(&mut self, e: &Event) {
        if e.is_operator() {
            self.operator(e);
            return;
        }
        let at = self.inst.position;
        if matches!(self.inst.status, Status::Ended | Status::Failed) {
            self.note(
                EntryKind::Event,
                at,
                format!(
                    "{} received after the case {}; nothing done",
                    e.kind,
                    self.inst.status.name()
                ),
            );
            return;
        }
        let detail = self.apply(e);
        let mut entry = self.entry(EntryKind::Event, at, detail);
        entry.channel = e.fields.channel.as_deref().and_then(|c| c.parse().ok());
        self.journal.push(entry);

        if self.inst.status == Status::Waiting
            && let Some(wait) = self.inst.wait.clone()
            && wait.event == e.kind
        {
            self.inst.wait = None;
            self.inst.status = Status::Running;
            self.note(
                EntryKind::Resume,
                Some(wait.step),
                format!("{} arrived", e.kind),
            );
            self.advance(wait.step);
        }

        self.handle(e);

        if e.is_payment()
            && self.inst.balance() <= Decimal::ZERO
            && !matches!(self.inst.status, Status::Ended | Status::Failed)
        {
            self.end(Outcome::Paid, "paid in full");
        }
    }

    /// The event's own effect on the case; returns words for the journal.
    fn apply(&mut self, e: &Event) -> String {
        let f = &e.fields;
        let day = e.at.with_timezone(&self.tz()).date_naive();
        let cur = self.inst.currency.code();
        match e.kind.as_str() {
            "payment.received" | "agent.collected" | "insurer.paid" => {
                let amount = f.amount.unwrap_or_default();
                let surplus = self.inst.case.allocate(day, amount, f.invoice.as_deref());
                self.inst.paid += amount;
                let mut text = format!("{}: {amount} {cur}", e.kind);
                if surplus > Decimal::ZERO {
                    text.push_str(&format!(", {surplus} {cur} more than owed"));
                }
                text
            }
            "payment.refunded" => {
                let amount = f.amount.unwrap_or_default();
                let target = self
                    .inst
                    .case
                    .invoices
                    .iter_mut()
                    .filter(|i| !i.allocations.is_empty())
                    .max_by_key(|i| i.allocations.last().map(|a| a.date));
                if let Some(inv) = target {
                    inv.allocations.push(crate::engine::Allocation {
                        date: day,
                        amount: -amount,
                    });
                }
                self.inst.paid -= amount;
                format!("payment refunded: {amount} {cur}")
            }
            "dispute.opened" => {
                self.inst.disputes_open += 1;
                self.inst.disputes_total += 1;
                format!(
                    "dispute opened{}",
                    f.reason
                        .as_ref()
                        .map(|r| format!(": {r}"))
                        .unwrap_or_default()
                )
            }
            "dispute.resolved" => {
                self.inst.disputes_open = (self.inst.disputes_open - 1).max(0);
                "dispute resolved".into()
            }
            "promise.made" => {
                let amount = f.amount.unwrap_or_else(|| self.inst.balance());
                let date = f.date.unwrap_or(day);
                self.inst.promise = Some(PromiseState {
                    date,
                    amount,
                    paid_before: self.inst.paid,
                    instalments: Vec::new(),
                });
                format!("promise to pay {amount} {cur} by {date}")
            }
            "plan.agreed" => {
                let amount: Decimal = f.instalments.iter().map(|i| i.amount).sum();
                let date = f.instalments.iter().map(|i| i.date).max().unwrap_or(day);
                self.inst.promise = Some(PromiseState {
                    date,
                    amount,
                    paid_before: self.inst.paid,
                    instalments: f.instalments.clone(),
                });
                format!(
                    "payment plan: {} instalments, {amount} {cur} by {date}",
                    f.instalments.len()
                )
            }
            "promise.kept" => {
                self.inst.promise = None;
                "promise kept".into()
            }
            "promise.broken" => {
                self.inst.promise = None;
                self.inst.promises_broken += 1;
                "promise broken".into()
            }
            "message.bounced" => {
                let channel = f.channel.clone().unwrap_or_else(|| "email".into());
                self.inst.bounced.insert(channel.clone());
                format!("{channel} bounced")
            }
            "proceeding.opened" => {
                self.inst.proceeding = true;
                format!(
                    "insolvency proceeding opened{}",
                    f.kind
                        .as_ref()
                        .map(|k| format!(": {k}"))
                        .unwrap_or_default()
                )
            }
            other => {
                let mut text = other.to_string();
                for (name, value) in [
                    ("status", &f.status),
                    ("outcome", &f.outcome),
                    ("partner", &f.partner),
                ] {
                    if let Some(v) = value {
                        text.push_str(&format!(", {name} {v}"));
                    }
                }
                text
            }
        }
    }

    /// Runs the first handler of the event's type whose condition holds.
    fn handle(&mut self, e: &Event) {
        let handlers: &'s [Handler] = self.sc.handlers_for(&e.kind);
        for h in handlers {
            if let Some(cond) = &h.when {
                match self.condition(cond, self.inst.position, Some(e)) {
                    Some(true) => {}
                    Some(false) => continue,
                    None => return,
                }
            }
            self.run_handler(h, e);
            return;
        }
    }

    fn run_handler(&mut self, h: &Handler, e: &Event) {
        let at = self.inst.position;
        let label = format!("on.{}", e.kind);
        if !h.set.is_empty() {
            self.set(&h.set, at, Some(e));
        }
        if let Some(send) = &h.send {
            self.send_from_handler(send, &label);
        }
        if h.pause {
            self.inst.status = Status::Paused;
            self.inst.paused_until = None;
            self.note(EntryKind::Pause, at, format!("paused by {}", e.kind));
        }
        if let Some(te) = &h.pause_until {
            let until = self.resolve(te, Some(e));
            self.inst.status = Status::Paused;
            self.inst.paused_until = Some(until);
            self.note(
                EntryKind::Pause,
                at,
                format!("paused by {} until {}", e.kind, self.local(until)),
            );
        }
        if h.resume && self.inst.status == Status::Paused {
            self.unpause();
            self.note(EntryKind::Resume, at, format!("resumed by {}", e.kind));
        }
        if let Some(flow) = &h.flow {
            self.inst.wait = None;
            self.inst.paused_until = None;
            self.flow(flow, at);
        }
    }

    fn send_from_handler(&mut self, send: &Send, label: &str) {
        let at = self.inst.position;
        let before = self.journal.len();
        self.send(send, None, label);
        // Handler sends belong to the event, not to the current step, but
        // the journal still says where the case stood.
        if let Some(r) = at {
            for e in &mut self.journal[before..] {
                e.stage = Some(self.sc.stage_of(r).id.clone());
                e.step = Some(label.to_string());
            }
        }
    }
}

/// Whether a send counts against the message caps (messages to the debtor,
/// not partner webhooks or tasks).
fn counts_as_message(channel: Channel) -> bool {
    !matches!(channel, Channel::Webhook | Channel::Phone)
}
