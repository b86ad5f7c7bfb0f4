//! The durable runtime: the scheduler steps due instances through the pure
//! engine and commits each batch in one transaction; the dispatcher sends
//! the outbox through the channel adapters.
//!
//! The runtime owns the loops, the leases and the translation between the
//! engine's values and the store's rows; it decides nothing about a case
//! itself: that is the engine's job.

mod clock;
pub mod demo;
mod dispatcher;
mod migrate;
mod rows;
mod scenarios;
mod scheduler;
pub mod service;

pub use clock::Clock;
pub use dispatcher::{Dispatcher, DispatcherSettings, RateLimiter, backoff};
pub use migrate::{MigrateError, MigrationPlan, check_mapping, plan_migration};
pub use rows::{import_batch, journal_row, outbox_row};
pub use scenarios::ScenarioSet;
pub use scheduler::{Scheduler, SchedulerSettings};

use std::sync::atomic::{AtomicU64, Ordering};

use crate::scenario::Diagnostic;
use crate::store::StoreError;

/// What stops the runtime.
#[derive(Debug, thiserror::Error)]
pub enum RuntimeError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("{what}: {source}")]
    Io {
        what: String,
        source: std::io::Error,
    },
    /// Scenarios that do not load.
    #[error("{}", .0.iter().map(|d| d.to_string()).collect::<Vec<_>>().join("\n"))]
    Scenarios(Vec<Diagnostic>),
    /// An instance runs a version nobody stored.
    #[error("scenario {name} version {version} is neither on disk nor in the database")]
    UnknownVersion { name: String, version: String },
    /// A stored value does not read back.
    #[error("instance {id}: stored state is unreadable: {reason}")]
    BadState { id: String, reason: String },
}

/// Counters exposed on `/metrics`.
#[derive(Debug, Default)]
pub struct Metrics {
    pub steps: AtomicU64,
    pub batches: AtomicU64,
    pub events_applied: AtomicU64,
    pub events_refused: AtomicU64,
    pub sends: AtomicU64,
    pub send_retries: AtomicU64,
    pub dead_letters: AtomicU64,
    pub parked: AtomicU64,
    pub lost_leases: AtomicU64,
}

impl Metrics {
    pub(crate) fn add(counter: &AtomicU64, n: u64) {
        counter.fetch_add(n, Ordering::Relaxed);
    }

    /// The counters in Prometheus' text format.
    pub fn render(&self) -> String {
        let mut out = String::new();
        for (name, help, value) in [
            ("relance_steps_total", "engine calls committed", &self.steps),
            (
                "relance_batches_total",
                "scheduler batches committed",
                &self.batches,
            ),
            (
                "relance_events_applied_total",
                "events applied to instances",
                &self.events_applied,
            ),
            (
                "relance_events_refused_total",
                "events the engine refused",
                &self.events_refused,
            ),
            ("relance_sends_total", "outbox rows sent", &self.sends),
            (
                "relance_send_retries_total",
                "sends scheduled for a retry",
                &self.send_retries,
            ),
            (
                "relance_dead_letters_total",
                "sends moved to the dead-letter queue",
                &self.dead_letters,
            ),
            (
                "relance_parked_total",
                "irreversible sends parked for an operator",
                &self.parked,
            ),
            (
                "relance_lost_leases_total",
                "batches whose lease another process took over",
                &self.lost_leases,
            ),
        ] {
            out.push_str(&format!(
                "# HELP {name} {help}\n# TYPE {name} counter\n{name} {}\n",
                value.load(Ordering::Relaxed)
            ));
        }
        out
    }
}
