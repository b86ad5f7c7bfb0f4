//! The scheduler: claims due instances in batches, runs each through the
//! engine (its waiting events first, then its wake-up) and commits the whole
//! batch in one transaction. It sleeps until the next wake time or until an
//! event arrives; it never busy-polls.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, TimeZone, Utc};
use tokio::sync::{Notify, watch};
use tracing::{info, warn};

use super::rows::{domain_rows, journal_row, outbox_row, stage_of, state_json};
use super::{Clock, Metrics, RuntimeError, ScenarioSet};
use crate::engine::{Engine, Event, Input, Instance, Status};
use crate::money::RateTable;
use crate::store::{ClaimedInstance, StepRecord, Store};

/// Most engine calls for one instance in one batch: wake-ups that keep
/// asking to be woken at once are a loop, not work.
const MAX_CALLS_PER_INSTANCE: usize = 64;

#[derive(Clone, Debug)]
pub struct SchedulerSettings {
    pub batch_size: u64,
    pub lease: Duration,
    pub idle_max_sleep: Duration,
}

impl Default for SchedulerSettings {
    fn default() -> Self {
        SchedulerSettings {
            batch_size: 500,
            lease: Duration::from_secs(30),
            idle_max_sleep: Duration::from_secs(60),
        }
    }
}

pub struct Scheduler {
    pub store: Store,
    pub scenarios: Arc<ScenarioSet>,
    pub rates: Arc<RateTable>,
    pub owner: String,
    pub settings: SchedulerSettings,
    pub clock: Clock,
    /// Woken when an event is recorded.
    pub notify: Arc<Notify>,
    pub metrics: Arc<Metrics>,
}

fn utc(ms: i64) -> DateTime<Utc> {
    Utc.timestamp_millis_opt(ms).single().unwrap_or_default()
}

impl Scheduler {
    /// Claims one batch, steps it and commits it. Returns how many
    /// instances were processed.
    pub async fn run_once(&self) -> Result<usize, RuntimeError> {
        let now = self.clock.now_ms();
        let lease_ms = self.settings.lease.as_millis() as i64 * self.clock.speed() as i64;
        let claimed = self
            .store
            .claim_due(now, self.settings.batch_size, &self.owner, lease_ms)
            .await?;
        if claimed.is_empty() {
            return Ok(0);
        }
        let mut records = Vec::with_capacity(claimed.len());
        for c in &claimed {
            records.push(self.advance(c, now).await?);
        }
        let steps: u64 = records.iter().map(|r| r.steps).sum();
        let applied: u64 = records.iter().map(|r| r.events_applied.len() as u64).sum();
        let refused: u64 = records.iter().map(|r| r.events_refused.len() as u64).sum();
        let lost = self.store.commit(&self.owner, &records, now).await?;
        if !lost.is_empty() {
            warn!(
                instances = lost.len(),
                "lease lost before commit; another process took the work over"
            );
            Metrics::add(&self.metrics.lost_leases, 1);
        }
        Metrics::add(&self.metrics.steps, steps);
        Metrics::add(&self.metrics.batches, 1);
        Metrics::add(&self.metrics.events_applied, applied);
        Metrics::add(&self.metrics.events_refused, refused);
        Ok(claimed.len())
    }

    /// Runs one claimed instance up to `now`.
    async fn advance(&self, c: &ClaimedInstance, now_ms: i64) -> Result<StepRecord, RuntimeError> {
        let sc = self
            .scenarios
            .version(&self.store, &c.scenario, &c.version)
            .await?;
        let mut inst: Instance =
            serde_json::from_str(&c.state).map_err(|e| RuntimeError::BadState {
                id: c.id.clone(),
                reason: e.to_string(),
            })?;
        let engine = Engine {
            rules: self.scenarios.rules(),
            rates: &self.rates,
        };
        let now = utc(now_ms);
        let mut record = StepRecord {
            id: c.id.clone(),
            state: String::new(),
            status: String::new(),
            stage: None,
            next_wake: None,
            steps: 0,
            journal: Vec::new(),
            outbox: Vec::new(),
            events_applied: Vec::new(),
            events_refused: Vec::new(),
            cancel_pending: false,
            domain: Vec::new(),
        };
        let _span =
            tracing::info_span!("instance", instance.id = %c.id, scenario.version = %c.version)
                .entered();

        for pending in &c.events {
            let event: Event = match serde_json::from_str(&pending.payload) {
                Ok(e) => e,
                Err(err) => {
                    record
                        .events_refused
                        .push((pending.id, format!("unreadable event: {err}")));
                    continue;
                }
            };
            // An event is applied at the later of its own time and the
            // instance's progress, so that time never runs backwards.
            let at = event.at.min(now).max(inst.last_step_at);
            match engine.step(&inst, &sc, &Input::Event(event.clone()), at) {
                Ok(t) => {
                    record
                        .domain
                        .extend(domain_rows(&inst, &t.instance, Some(&event)));
                    record.steps += 1;
                    record.cancel_pending |= t.cancel_pending;
                    record
                        .journal
                        .extend(t.journal.iter().map(|e| journal_row(&c.id, e)));
                    record
                        .outbox
                        .extend(t.actions.iter().map(|a| outbox_row(&c.id, a)));
                    record.events_applied.push(pending.id);
                    inst = t.instance;
                }
                Err(err) => record.events_refused.push((pending.id, err.to_string())),
            }
        }

        for _ in 0..MAX_CALLS_PER_INSTANCE {
            let Some(wake) = inst.next_wake else { break };
            if wake > now || matches!(inst.status, Status::Ended | Status::Failed) {
                break;
            }
            let t = match engine.step(&inst, &sc, &Input::Wake, now) {
                Ok(t) => t,
                Err(err) => {
                    warn!(error = %err, "instance refused a wake-up");
                    break;
                }
            };
            record.steps += 1;
            record.domain.extend(domain_rows(&inst, &t.instance, None));
            let unchanged = t.journal.is_empty() && t.instance.next_wake == inst.next_wake;
            record.cancel_pending |= t.cancel_pending;
            for e in &t.journal {
                if e.kind == crate::engine::EntryKind::Send {
                    info!(
                        scenario.step = e.step.as_deref().unwrap_or(""),
                        channel = e.channel.map(|c| c.name()).unwrap_or(""),
                        "step fired"
                    );
                }
            }
            record
                .journal
                .extend(t.journal.iter().map(|e| journal_row(&c.id, e)));
            record
                .outbox
                .extend(t.actions.iter().map(|a| outbox_row(&c.id, a)));
            inst = t.instance;
            if unchanged {
                break;
            }
        }

        record.state = state_json(&inst);
        record.status = inst.status.name().to_string();
        record.stage = stage_of(&sc, &inst);
        record.next_wake = inst.next_wake.map(|t| t.timestamp_millis());
        Ok(record)
    }

    /// Runs until `shutdown` turns true: batches back to back while there is
    /// work, then sleeps until the next wake time, an event, or the idle
    /// limit. The batch in flight finishes before it stops.
    pub async fn run(&self, mut shutdown: watch::Receiver<bool>) -> Result<(), RuntimeError> {
        loop {
            if *shutdown.borrow() {
                return Ok(());
            }
            let processed = match self.run_once().await {
                Ok(n) => n,
                Err(err) => {
                    warn!(error = %err, "scheduler batch failed; retrying after a pause");
                    tokio::time::sleep(Duration::from_millis(500)).await;
                    continue;
                }
            };
            if processed as u64 >= self.settings.batch_size {
                continue;
            }
            let wait = match self.store.next_wake().await {
                Ok(Some(t)) => self
                    .clock
                    .real_wait_until(t)
                    .min(self.settings.idle_max_sleep),
                Ok(None) => self.settings.idle_max_sleep,
                Err(_) => Duration::from_millis(500),
            };
            if wait.is_zero() {
                // Work is due now but this batch found none to claim: another
                // process took it between the claim and this look. Yield
                // briefly rather than spin.
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
            tokio::select! {
                _ = tokio::time::sleep(wait) => {}
                _ = self.notify.notified() => {}
                _ = shutdown.changed() => {}
            }
        }
    }
}
