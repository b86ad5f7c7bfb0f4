//! The durable state of one scenario run, and what one step produces:
//! journal entries and actions.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, NaiveDate, Utc};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use super::case::Case;
use super::event::Instalment;
use crate::money::{Currency, currency_code};
use crate::scenario::{Attachment, Channel, ClaimKind, Outcome, StepRef, VarValue};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// Waiting for the current step's time.
    Running,
    /// Waiting for a partner's event, with a timeout.
    Waiting,
    /// Paused by an event (dispute, promise), possibly until a time.
    Paused,
    /// Over, with an outcome.
    Ended,
    /// Stopped by an error an operator must look at.
    Failed,
}

impl Status {
    pub fn name(self) -> &'static str {
        match self {
            Status::Running => "running",
            Status::Waiting => "waiting",
            Status::Paused => "paused",
            Status::Ended => "ended",
            Status::Failed => "failed",
        }
    }
}

/// What the instance waits for after a step.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct WaitState {
    pub event: String,
    pub until: DateTime<Utc>,
    pub step: StepRef,
}

/// A promise to pay, or a payment plan, that is running.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PromiseState {
    /// Date by which it is due (the last instalment for a plan).
    pub date: NaiveDate,
    pub amount: Decimal,
    /// `paid` when the promise was made, to see what came in since.
    pub paid_before: Decimal,
    #[serde(default)]
    pub instalments: Vec<Instalment>,
}

/// The run of one scenario version for one case.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Instance {
    pub id: String,
    pub scenario: String,
    pub version: String,
    pub case: Case,
    #[serde(with = "currency_code")]
    pub currency: Currency,
    pub status: Status,
    pub outcome: Option<Outcome>,
    /// The current step (the next to fire, or the one waited on).
    pub position: Option<StepRef>,
    /// When the current step is due, before the sending window applies.
    pub due_at: Option<DateTime<Utc>>,
    /// When the engine wants to be called again.
    pub next_wake: Option<DateTime<Utc>>,
    pub opened: DateTime<Utc>,
    pub last_step_at: DateTime<Utc>,
    pub wait: Option<WaitState>,
    pub paused_until: Option<DateTime<Utc>>,
    pub vars: BTreeMap<String, VarValue>,
    pub sent_steps: BTreeSet<String>,
    pub messages: Vec<DateTime<Utc>>,
    pub bounced: BTreeSet<String>,
    /// Invoices the recovery indemnity was charged for.
    pub indemnified: BTreeSet<String>,
    pub fees: Decimal,
    pub interest: Decimal,
    pub paid: Decimal,
    pub disputes_open: i64,
    pub disputes_total: i64,
    pub promises_broken: i64,
    pub promise: Option<PromiseState>,
    pub proceeding: bool,
    /// The partner the case was handed over to, if it was.
    #[serde(default)]
    pub partner: Option<String>,
    /// How many actions the instance has produced: the last part of each
    /// action's idempotency key.
    pub actions_emitted: u64,
}

impl Instance {
    pub fn balance(&self) -> Decimal {
        self.case.balance()
    }

    pub fn total_due(&self) -> Decimal {
        self.case.balance() + self.fees + self.interest
    }
}

/// Kinds of journal entries.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EntryKind {
    Started,
    Event,
    Send,
    Task,
    Charge,
    Handover,
    Claim,
    Set,
    Skip,
    Deferred,
    Wait,
    Timeout,
    Pause,
    Resume,
    Goto,
    End,
    Error,
}

impl EntryKind {
    pub fn name(self) -> &'static str {
        match self {
            EntryKind::Started => "started",
            EntryKind::Event => "event",
            EntryKind::Send => "send",
            EntryKind::Task => "task",
            EntryKind::Charge => "charge",
            EntryKind::Handover => "handover",
            EntryKind::Claim => "claim",
            EntryKind::Set => "set",
            EntryKind::Skip => "skip",
            EntryKind::Deferred => "deferred",
            EntryKind::Wait => "wait",
            EntryKind::Timeout => "timeout",
            EntryKind::Pause => "pause",
            EntryKind::Resume => "resume",
            EntryKind::Goto => "goto",
            EntryKind::End => "end",
            EntryKind::Error => "error",
        }
    }
}

/// One line of an instance's append-only history.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct JournalEntry {
    pub at: DateTime<Utc>,
    pub stage: Option<String>,
    pub step: Option<String>,
    pub kind: EntryKind,
    pub channel: Option<Channel>,
    pub template: Option<String>,
    /// Words for people: what happened and why.
    pub detail: String,
    /// Open principal after the entry.
    pub balance: Decimal,
    /// Principal plus fees plus interest after the entry.
    pub total_due: Decimal,
    #[serde(with = "currency_code")]
    pub currency: Currency,
}

/// What an action asks a channel or a person to do.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ActionKind {
    Send {
        channel: Channel,
        template: String,
        language: String,
        attach: Vec<Attachment>,
    },
    Task {
        task: String,
        template: Option<String>,
        language: String,
    },
    Handover {
        partner: String,
    },
    Claim {
        partner: String,
        claim: ClaimKind,
        /// Sent after the policy's deadline.
        late: bool,
    },
}

/// One send or task, written to the outbox with the step that made it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Action {
    /// Stable idempotency key: instance, version, step, sequence.
    pub key: String,
    /// Not before this time (the sending window applies).
    pub at: DateTime<Utc>,
    pub step: String,
    pub kind: ActionKind,
}

/// What one call of the engine produced.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Transition {
    pub instance: Instance,
    pub journal: Vec<JournalEntry>,
    pub actions: Vec<Action>,
    /// The case ended: actions still waiting in the outbox must not go.
    pub cancel_pending: bool,
}
