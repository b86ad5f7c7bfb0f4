//! The typed scenario: what the loader builds from YAML and the engine runs.

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use crate::calendar::{Calendar, Country, Duration, Window};
use crate::money::InterestBasis;
use crate::rules::Expr;

/// A loaded, checked scenario version.
#[derive(Clone, Debug)]
pub struct Scenario {
    /// `scenario:`, the name a case refers to.
    pub name: String,
    pub description: Option<String>,
    /// Hash of the file's content: the scenario version.
    pub version: String,
    /// The file the scenario came from, as the user named it.
    pub file: String,
    /// Which cases the scenario applies to.
    pub applies: Option<Condition>,
    pub calendar: Calendar,
    pub country: Option<Country>,
    pub window: Option<Window>,
    /// Languages the scenario sends in: templates must exist for each.
    pub languages: Vec<String>,
    pub caps: Vec<Cap>,
    pub interest: InterestBasis,
    pub insurer: Option<InsurerPolicy>,
    pub variables: BTreeMap<String, VarValue>,
    pub stages: Vec<Stage>,
    pub handlers: Vec<HandlerSet>,
}

/// A compiled Rhai condition with the place it was written.
#[derive(Clone, Debug)]
pub struct Condition {
    pub expr: Expr,
    pub line: usize,
    pub column: usize,
}

/// "at most `messages` messages per debtor per `per`".
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Cap {
    pub messages: u32,
    pub per: Duration,
}

/// The client's credit-insurance policy deadlines, counted from the due
/// date of the oldest invoice.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InsurerPolicy {
    /// Partner id of the insurer.
    pub partner: String,
    /// Overdue notification deadline (menace de sinistre).
    pub notify_within: Duration,
    /// Claim deadline.
    pub claim_within: Duration,
}

/// A scenario variable's initial value.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum VarValue {
    Bool(bool),
    Int(i64),
    Decimal(Decimal),
    Text(String),
}

#[derive(Clone, Debug)]
pub struct Stage {
    pub id: String,
    pub steps: Vec<Step>,
}

/// Where a step stands in the scenario: stage and step index.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct StepRef {
    pub stage: usize,
    pub step: usize,
}

#[derive(Clone, Debug)]
pub struct Step {
    pub id: String,
    pub line: usize,
    pub column: usize,
    pub timing: Timing,
    pub when: Option<Condition>,
    pub actions: Vec<Action>,
    pub wait: Option<Wait>,
    pub flow: Option<Flow>,
}

/// When a step becomes due.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Timing {
    /// `at: due + 5bd`: on the case's dates.
    At(TimeExpr),
    /// `after: 7d`: after the previous step was processed.
    After(Duration),
    /// Neither: right after the previous step.
    Immediately,
}

/// A point in time written as an anchor plus or minus a duration.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TimeExpr {
    pub anchor: Anchor,
    pub offset: Option<(bool, Duration)>,
}

impl fmt::Display for TimeExpr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.anchor.name())?;
        if let Some((forward, d)) = &self.offset {
            write!(f, " {} {d}", if *forward { '+' } else { '-' })?;
        }
        Ok(())
    }
}

/// What a time expression counts from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Anchor {
    /// Due date of the case's oldest invoice.
    Due,
    /// Issue date of the case's oldest invoice.
    Issued,
    /// When the case was opened (the instance started).
    Opened,
    /// The time of the event or wake being handled.
    Now,
    /// The date of the promise to pay being handled.
    PromiseDate,
    /// The date of the last instalment of the payment plan.
    PlanEnd,
    /// The `date` field of the event being handled.
    EventDate,
}

impl Anchor {
    pub const STEP_ANCHORS: &'static [&'static str] = &["due", "issued", "opened"];
    pub const HANDLER_ANCHORS: &'static [&'static str] = &[
        "due",
        "issued",
        "opened",
        "now",
        "promise.date",
        "plan.end",
        "event.date",
    ];

    pub fn parse(name: &str) -> Option<Anchor> {
        Some(match name {
            "due" => Anchor::Due,
            "issued" => Anchor::Issued,
            "opened" => Anchor::Opened,
            "now" => Anchor::Now,
            "promise.date" => Anchor::PromiseDate,
            "plan.end" => Anchor::PlanEnd,
            "event.date" => Anchor::EventDate,
            _ => return None,
        })
    }

    pub fn name(self) -> &'static str {
        match self {
            Anchor::Due => "due",
            Anchor::Issued => "issued",
            Anchor::Opened => "opened",
            Anchor::Now => "now",
            Anchor::PromiseDate => "promise.date",
            Anchor::PlanEnd => "plan.end",
            Anchor::EventDate => "event.date",
        }
    }
}

/// The channels a message can go out on.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Channel {
    Email,
    Sms,
    Letter,
    RegisteredMail,
    Fax,
    Voice,
    Message,
    Phone,
    Webhook,
}

impl Channel {
    pub const ALL: &'static [Channel] = &[
        Channel::Email,
        Channel::Sms,
        Channel::Letter,
        Channel::RegisteredMail,
        Channel::Fax,
        Channel::Voice,
        Channel::Message,
        Channel::Phone,
        Channel::Webhook,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Channel::Email => "email",
            Channel::Sms => "sms",
            Channel::Letter => "letter",
            Channel::RegisteredMail => "registered_mail",
            Channel::Fax => "fax",
            Channel::Voice => "voice",
            Channel::Message => "message",
            Channel::Phone => "phone",
            Channel::Webhook => "webhook",
        }
    }

    /// Whether a send on this channel can never be taken back or repeated
    /// safely (an operator decides when its outcome is unknown).
    pub fn is_irreversible(self) -> bool {
        matches!(self, Channel::RegisteredMail | Channel::Webhook)
    }
}

impl fmt::Display for Channel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Channel {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Channel::ALL
            .iter()
            .copied()
            .find(|c| c.name() == s)
            .ok_or_else(|| {
                let hint = crate::rules::suggest(s, Channel::ALL.iter().map(|c| c.name()));
                format!("unknown channel `{s}`{hint}")
            })
    }
}

/// A message to send.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Send {
    pub channel: Channel,
    pub template: String,
    pub attach: Vec<Attachment>,
    pub line: usize,
    pub column: usize,
}

/// Documents that go with a message.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Attachment {
    /// The open invoices, as PDF.
    Invoices,
    /// A duplicate of the oldest open invoice.
    DuplicateInvoice,
    /// A statement of account.
    Statement,
}

impl Attachment {
    pub const NAMES: &'static [&'static str] = &["invoices", "duplicate_invoice", "statement"];

    pub fn parse(s: &str) -> Option<Attachment> {
        Some(match s {
            "invoices" => Attachment::Invoices,
            "duplicate_invoice" => Attachment::DuplicateInvoice,
            "statement" => Attachment::Statement,
            _ => return None,
        })
    }
}

/// A charge added to the case.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Charge {
    /// Fixed recovery indemnity per invoice (business debtors only).
    RecoveryIndemnity,
    /// Late interest up to the step's date, by the scenario's `interest:`.
    LateInterest,
    /// Contractual penalty: a percentage of the open balance.
    PenaltyPercent(Decimal),
    /// A fixed fee.
    Fee(Decimal),
}

/// A task for a person.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Task {
    /// `call`, `approve_letter`, `review` or any word the team uses.
    pub kind: String,
    pub template: Option<String>,
    pub line: usize,
    pub column: usize,
}

/// One thing a step does; a step runs its actions in a fixed order:
/// charge, set, send, task, claim, handover.
#[derive(Clone, Debug)]
pub enum Action {
    Send(Send),
    Charge(Vec<Charge>),
    Task(Task),
    /// Hand the file to a partner (collection agent, bailiff, lawyer).
    Handover {
        partner: String,
    },
    /// Notify or claim to the client's credit insurer.
    Claim {
        kind: ClaimKind,
    },
    /// Change scenario variables.
    Set(Vec<(String, Condition)>),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ClaimKind {
    /// Overdue notification (déclaration de menace de sinistre).
    Notification,
    /// The claim itself.
    Claim,
}

/// Wait for a partner's event after a step, with a timeout.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Wait {
    pub event: String,
    pub timeout: Duration,
    pub on_timeout: Option<Flow>,
}

/// Where the case goes after a step or a handler.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Flow {
    Goto {
        step: String,
        line: usize,
        column: usize,
    },
    End(Outcome),
    Pause,
}

/// How a case ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    Paid,
    WrittenOff,
    HandedOver,
    Disputed,
    Insolvent,
    Claimed,
    Cancelled,
    /// The last step ran and nothing ended the case.
    Exhausted,
    /// Closed by an operator on an agreement with the debtor (a settlement).
    Settled,
}

impl Outcome {
    pub const NAMES: &'static [&'static str] = &[
        "paid",
        "written_off",
        "handed_over",
        "disputed",
        "insolvent",
        "claimed",
        "cancelled",
        "exhausted",
        "settled",
    ];

    pub fn parse(s: &str) -> Option<Outcome> {
        Some(match s {
            "paid" => Outcome::Paid,
            "written_off" => Outcome::WrittenOff,
            "handed_over" => Outcome::HandedOver,
            "disputed" => Outcome::Disputed,
            "insolvent" => Outcome::Insolvent,
            "claimed" => Outcome::Claimed,
            "cancelled" => Outcome::Cancelled,
            "exhausted" => Outcome::Exhausted,
            "settled" => Outcome::Settled,
            _ => return None,
        })
    }

    pub fn name(self) -> &'static str {
        Self::NAMES[self as usize]
    }
}

impl fmt::Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The handlers of one event type, tried in order: the first whose `when`
/// holds runs.
#[derive(Clone, Debug)]
pub struct HandlerSet {
    pub event: String,
    pub handlers: Vec<Handler>,
}

#[derive(Clone, Debug, Default)]
pub struct Handler {
    pub when: Option<Condition>,
    pub pause: bool,
    pub resume: bool,
    pub pause_until: Option<TimeExpr>,
    pub send: Option<Send>,
    pub set: Vec<(String, Condition)>,
    pub flow: Option<Flow>,
}

impl Scenario {
    pub fn step(&self, at: StepRef) -> &Step {
        &self.stages[at.stage].steps[at.step]
    }

    pub fn stage_of(&self, at: StepRef) -> &Stage {
        &self.stages[at.stage]
    }

    /// The first step, if the scenario has any.
    pub fn first(&self) -> Option<StepRef> {
        self.next_from(StepRef { stage: 0, step: 0 }, true)
    }

    /// The step after `at`, across stages.
    pub fn next(&self, at: StepRef) -> Option<StepRef> {
        self.next_from(at, false)
    }

    fn next_from(&self, at: StepRef, inclusive: bool) -> Option<StepRef> {
        let mut stage = at.stage;
        let mut step = if inclusive { at.step } else { at.step + 1 };
        while stage < self.stages.len() {
            if step < self.stages[stage].steps.len() {
                return Some(StepRef { stage, step });
            }
            stage += 1;
            step = 0;
        }
        None
    }

    /// Finds a step by id.
    pub fn find(&self, id: &str) -> Option<StepRef> {
        self.stages.iter().enumerate().find_map(|(si, stage)| {
            stage
                .steps
                .iter()
                .position(|s| s.id == id)
                .map(|step| StepRef { stage: si, step })
        })
    }

    /// Finds a step by id, or the first step of a stage by the stage's id.
    pub fn find_target(&self, id: &str) -> Option<StepRef> {
        self.find(id).or_else(|| {
            let stage = self.stages.iter().position(|s| s.id == id)?;
            self.next_from(StepRef { stage, step: 0 }, true)
                .filter(|r| r.stage == stage)
        })
    }

    pub fn handlers_for(&self, event: &str) -> &[Handler] {
        self.handlers
            .iter()
            .find(|h| h.event == event)
            .map(|h| h.handlers.as_slice())
            .unwrap_or(&[])
    }
}
