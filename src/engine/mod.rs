//! The pure engine: one call moves one case one step through its scenario.
//!
//! [`Engine::step`] takes an instance, its scenario, an input (a wake-up or
//! an event) and the current time, and returns the new instance, the
//! journal entries and the actions to send. It does no I/O and reads no
//! clock: the same inputs always give the same outputs, which is what makes
//! simulation, replay and the durable runtime agree.

mod case;
mod event;
mod facts;
mod instance;
mod run;

pub use case::{Address, Allocation, Case, Client, Debtor, DebtorKind, Invoice};
pub use event::{Event, EventError, EventFields, Instalment, OPERATOR_OUTCOMES};
pub use instance::{
    Action, ActionKind, EntryKind, Instance, JournalEntry, PromiseState, Status, Transition,
    WaitState,
};

use std::sync::OnceLock;

use chrono::{DateTime, Utc};

use crate::money::RateTable;
use crate::rules::{Facts, Rules};
use crate::scenario::Scenario;

/// What wakes an instance.
#[allow(clippy::large_enum_variant)] // Inputs are short-lived; boxing buys nothing.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Input {
    /// The instance's wake time has come (or the runtime is catching up).
    Wake,
    /// Something happened to the case, or an operator acted on it.
    Event(Event),
}

/// Why the engine refused an input; the instance is unchanged.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum EngineError {
    /// The instance runs another version of the scenario.
    #[error("instance runs scenario {instance} but was given {given}")]
    VersionMismatch { instance: String, given: String },
    /// The event is malformed or unknown.
    #[error(transparent)]
    Event(#[from] EventError),
    /// The case has no invoice, or invoices in several currencies.
    #[error("case `{case}`: {reason}")]
    BadCase { case: String, reason: String },
}

/// Why a scenario's `applies:` rule could not be decided for a case.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ApplyError {
    #[error(transparent)]
    Case(#[from] EngineError),
    #[error("scenario `{scenario}`, `applies` on line {line}: {message}")]
    Rule {
        scenario: String,
        line: usize,
        message: String,
    },
}

/// The engine with its two read-only companions: the Rhai sandbox and the
/// ECB rate table.
#[derive(Clone, Copy)]
pub struct Engine<'a> {
    pub rules: &'a Rules,
    pub rates: &'a RateTable,
}

/// The process-wide sandbox and the built-in rate table.
pub fn shared() -> Engine<'static> {
    static RULES: OnceLock<Rules> = OnceLock::new();
    static RATES: OnceLock<RateTable> = OnceLock::new();
    Engine {
        rules: RULES.get_or_init(Rules::new),
        rates: RATES.get_or_init(RateTable::builtin),
    }
}

impl<'a> Engine<'a> {
    /// Opens an instance of `scenario` for `case` at `now`. The first step
    /// is scheduled, and anything already due is processed at once.
    pub fn start(
        &self,
        scenario: &Scenario,
        case: Case,
        now: DateTime<Utc>,
    ) -> Result<Transition, EngineError> {
        run::start(self, scenario, case, now)
    }

    /// Whether `scenario`'s `applies:` rule holds for `case` (a scenario
    /// without one applies to every case).
    pub fn applies(
        &self,
        scenario: &Scenario,
        case: &Case,
        now: DateTime<Utc>,
    ) -> Result<bool, ApplyError> {
        let Some(rule) = &scenario.applies else {
            return Ok(true);
        };
        let instance = run::new_instance(scenario, case.clone(), now)?;
        let mut facts = facts::build(&instance, None, now);
        self.rules
            .eval_bool(&rule.expr, &mut facts)
            .map_err(|err| ApplyError::Rule {
                scenario: scenario.name.clone(),
                line: rule.line,
                message: err.message,
            })
    }

    /// The first scenario, in the order given, whose `applies:` holds.
    pub fn choose<'s>(
        &self,
        scenarios: &'s [Scenario],
        case: &Case,
        now: DateTime<Utc>,
    ) -> Result<Option<&'s Scenario>, ApplyError> {
        for scenario in scenarios {
            if self.applies(scenario, case, now)? {
                return Ok(Some(scenario));
            }
        }
        Ok(None)
    }

    /// Moves the instance by one input.
    pub fn step(
        &self,
        instance: &Instance,
        scenario: &Scenario,
        input: &Input,
        now: DateTime<Utc>,
    ) -> Result<Transition, EngineError> {
        if instance.version != scenario.version {
            return Err(EngineError::VersionMismatch {
                instance: format!("{} {}", instance.scenario, instance.version),
                given: format!("{} {}", scenario.name, scenario.version),
            });
        }
        run::step(self, instance, scenario, input, now)
    }
}

/// [`Engine::step`] with the shared sandbox and rate table.
pub fn step(
    instance: &Instance,
    scenario: &Scenario,
    input: &Input,
    now: DateTime<Utc>,
) -> Result<Transition, EngineError> {
    shared().step(instance, scenario, input, now)
}

/// The condition scope the engine builds for `instance` at `now`, with
/// `event` bound inside an event handler. Every condition evaluation in a
/// step builds one; it is public so that benchmarks and tools can measure
/// and inspect exactly what a condition sees.
pub fn condition_facts(instance: &Instance, event: Option<&Event>, now: DateTime<Utc>) -> Facts {
    facts::build(instance, event, now)
}
