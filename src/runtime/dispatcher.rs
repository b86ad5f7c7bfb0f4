//! The dispatcher: sends outbox rows through the channel adapters, with a
//! stable idempotency key per action, retries with exponential backoff and
//! jitter, a dead-letter state for what keeps failing, and parking for an
//! irreversible send whose outcome is unknown.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use chrono::{TimeZone, Utc};
use futures_util::future::join_all;
use sha2::{Digest, Sha256};
use tokio::sync::watch;
use tracing::{Instrument, error, info, warn};

use super::{Clock, Metrics, RuntimeError};
use crate::channels::{
    Adapters, Agent, Delivery, DocumentData, MessageKind, RenderExtras, SendError,
    render_message_with,
};
use crate::engine::{Action, Instance};
use crate::store::{OutboxFate, OutboxRow, Store};
use crate::templates::{Brand, TemplateStore};

#[derive(Clone, Debug)]
pub struct DispatcherSettings {
    pub batch_size: u64,
    pub max_attempts: u32,
    pub backoff_base: Duration,
    pub backoff_max: Duration,
    pub lease: Duration,
    pub idle_sleep: Duration,
    /// Sends in flight at once.
    pub concurrency: usize,
    /// Most sends per second per channel.
    pub rate_limits: BTreeMap<crate::scenario::Channel, u32>,
    /// The clients' brands and payment coordinates, by client id; a client not here
    /// signs with its name and gives no payment coordinates.
    pub clients: BTreeMap<String, crate::config::ClientConfig>,
}

impl Default for DispatcherSettings {
    fn default() -> Self {
        DispatcherSettings {
            batch_size: 100,
            max_attempts: 8,
            backoff_base: Duration::from_secs(1),
            backoff_max: Duration::from_secs(3600),
            lease: Duration::from_secs(60),
            idle_sleep: Duration::from_secs(1),
            concurrency: 4,
            rate_limits: BTreeMap::new(),
            clients: BTreeMap::new(),
        }
    }
}

/// The delay before attempt `attempts + 1`: `base × 2^(attempts − 1)`, capped
/// at `max`, then a jitter of up to a quarter taken off, derived from the
/// key so that retries of many rows spread out but stay reproducible.
pub fn backoff(settings: &DispatcherSettings, key: &str, attempts: u32) -> Duration {
    let exp = attempts.saturating_sub(1).min(30);
    let raw = settings
        .backoff_base
        .saturating_mul(1u32 << exp)
        .min(settings.backoff_max);
    let digest = Sha256::digest(format!("{key}/{attempts}").as_bytes());
    let spread = u16::from_be_bytes([digest[0], digest[1]]) as u128;
    let jitter = raw.as_millis() / 4 * spread / u16::MAX as u128;
    raw - Duration::from_millis(jitter as u64)
}

/// Spaces sends on a channel at least `1 / rate` seconds apart, in real
/// time (a provider's limit is on its own clock), across concurrent sends.
#[derive(Debug, Default)]
pub struct RateLimiter {
    next_slot: std::sync::Mutex<BTreeMap<crate::scenario::Channel, std::time::Instant>>,
}

impl RateLimiter {
    /// Waits for the channel's next free slot.
    pub async fn acquire(&self, channel: crate::scenario::Channel, per_second: u32) {
        let interval = Duration::from_secs(1) / per_second.max(1);
        let slot = {
            let Ok(mut slots) = self.next_slot.lock() else {
                return;
            };
            let now = std::time::Instant::now();
            let slot = slots
                .get(&channel)
                .copied()
                .filter(|s| *s > now)
                .unwrap_or(now);
            slots.insert(channel, slot + interval);
            slot
        };
        tokio::time::sleep_until(slot.into()).await;
    }
}

pub struct Dispatcher {
    pub store: Store,
    pub adapters: Adapters,
    pub templates: Arc<TemplateStore>,
    pub owner: String,
    pub settings: DispatcherSettings,
    pub clock: Clock,
    pub metrics: Arc<Metrics>,
    /// Partners' identities by id, for handover letters.
    pub partners: BTreeMap<String, Agent>,
    pub limiter: RateLimiter,
}

impl Dispatcher {
    /// Sends one batch of ready rows. Returns how many were handled.
    pub async fn run_once(&self) -> Result<usize, RuntimeError> {
        let now = self.clock.now_ms();
        let lease_ms = self.settings.lease.as_millis() as i64 * self.clock.speed() as i64;
        let rows = self
            .store
            .claim_outbox(now, self.settings.batch_size, &self.owner, lease_ms)
            .await?;
        // Up to `concurrency` sends are in flight at once; each records its
        // own fate as soon as it is known.
        for chunk in rows.chunks(self.settings.concurrency.max(1)) {
            let results = join_all(chunk.iter().map(|row| self.send_and_record(row))).await;
            for result in results {
                result?;
            }
        }
        Ok(rows.len())
    }

    async fn send_and_record(&self, row: &OutboxRow) -> Result<(), RuntimeError> {
        let fate = self.send(row).await;
        let now = self.clock.now_ms();
        match self
            .store
            .outbox_done(&self.owner, row.id, &fate, now)
            .await
        {
            Ok(()) => Ok(()),
            Err(crate::store::StoreError::LeaseLost { .. }) => {
                warn!(outbox.key = %row.key, "outbox lease lost while sending");
                Ok(())
            }
            Err(err) => Err(err.into()),
        }
    }

    /// When a failed row is tried again: the backoff of its attempts, in
    /// the runtime's (possibly accelerated) time.
    fn retry_at(&self, row: &OutboxRow) -> i64 {
        let delay = backoff(&self.settings, &row.key, row.attempts.max(1) as u32);
        self.clock.now_ms() + delay.as_millis() as i64 * self.clock.speed() as i64
    }

    async fn send(&self, row: &OutboxRow) -> OutboxFate {
        let span = tracing::info_span!("send", outbox.key = %row.key, channel = %row.channel);
        self.send_in_span(row).instrument(span).await
    }

    async fn send_in_span(&self, row: &OutboxRow) -> OutboxFate {
        let (message, client_id) = match self.render(row).await {
            Ok(m) => m,
            Err(why) => {
                error!(error = %why, "cannot build the message; dead letter");
                Metrics::add(&self.metrics.dead_letters, 1);
                return OutboxFate::Dead { error: why };
            }
        };
        if message.kind == MessageKind::Task {
            // A task is not sent: it goes to the operators' work queue.
            let task = serde_json::from_str::<Action>(&row.action)
                .ok()
                .and_then(|a| match a.kind {
                    crate::engine::ActionKind::Task { task, .. } => Some(task),
                    _ => None,
                })
                .unwrap_or_else(|| "task".into());
            let title = message
                .subject
                .clone()
                .unwrap_or_else(|| format!("{task}: {}", message.to.name));
            return match self
                .store
                .open_task(
                    &row.key,
                    &row.instance_id,
                    &task,
                    &title,
                    &message.body,
                    self.clock.now_ms(),
                )
                .await
            {
                Ok(id) => {
                    info!(task.id = id, "task queued for an operator");
                    Metrics::add(&self.metrics.sends, 1);
                    OutboxFate::Sent {
                        provider_id: Some(format!("task-{id}")),
                    }
                }
                Err(err) => {
                    warn!(error = %err, "could not queue the task; will retry");
                    OutboxFate::Retry {
                        at: self.retry_at(row),
                        error: err.to_string(),
                    }
                }
            };
        }
        if let Some(rate) = self.settings.rate_limits.get(&message.channel) {
            self.limiter.acquire(message.channel, *rate).await;
        }
        match self.adapters.for_client(&client_id).send(&message).await {
            Ok(Delivery::Sent { provider_id }) => {
                info!("message sent");
                Metrics::add(&self.metrics.sends, 1);
                OutboxFate::Sent { provider_id }
            }
            Ok(Delivery::Duplicate) => {
                info!("provider already had this key; counted as sent");
                Metrics::add(&self.metrics.sends, 1);
                OutboxFate::Sent { provider_id: None }
            }
            Err(SendError::Permanent(why)) => {
                error!(error = %why, "send refused; dead letter");
                Metrics::add(&self.metrics.dead_letters, 1);
                OutboxFate::Dead { error: why }
            }
            Err(SendError::Unknown(why)) if row.irreversible => {
                error!(error = %why, "outcome unknown on an irreversible channel; parked for an operator");
                Metrics::add(&self.metrics.parked, 1);
                OutboxFate::Parked { error: why }
            }
            Err(SendError::Retryable(why)) | Err(SendError::Unknown(why)) => {
                let attempts = row.attempts.max(1) as u32;
                if attempts >= self.settings.max_attempts {
                    error!(error = %why, attempts, "send keeps failing; dead letter");
                    Metrics::add(&self.metrics.dead_letters, 1);
                    return OutboxFate::Dead {
                        error: format!("{why} (after {attempts} attempts)"),
                    };
                }
                let at = self.retry_at(row);
                warn!(error = %why, attempts, retry_at = at, "send failed; will retry");
                Metrics::add(&self.metrics.send_retries, 1);
                OutboxFate::Retry { at, error: why }
            }
        }
    }

    /// The message of `row`, and the client whose case it is.
    async fn render(&self, row: &OutboxRow) -> Result<(crate::channels::Message, String), String> {
        let action: Action =
            serde_json::from_str(&row.action).map_err(|e| format!("unreadable action: {e}"))?;
        let (_, _, state) = self
            .store
            .instance_state(&row.instance_id)
            .await
            .map_err(|e| e.to_string())?
            .ok_or_else(|| format!("instance {} is gone", row.instance_id))?;
        let instance: Instance =
            serde_json::from_str(&state).map_err(|e| format!("unreadable instance: {e}"))?;
        let today = Utc
            .timestamp_millis_opt(self.clock.now_ms())
            .single()
            .unwrap_or_default()
            .with_timezone(&instance.case.debtor.timezone)
            .date_naive();
        // The configuration's `clients:` wins; else the brand stored for the client (set
        // through the API); else the default, which signs with the client's name.
        let client = self.settings.clients.get(&instance.case.client.id);
        let brand: Brand = match client {
            Some(c) => c.brand.clone(),
            None => self
                .store
                .api_client(&instance.case.client.id)
                .await
                .map_err(|e| e.to_string())?
                .and_then(|row| serde_json::from_str(&row.brand).ok())
                .unwrap_or_default(),
        };
        let extras = RenderExtras {
            agent: instance
                .partner
                .as_ref()
                .and_then(|p| self.partners.get(p))
                .cloned(),
            payment: client
                .map(|c| c.payment.details(&instance.case.id))
                .unwrap_or_default(),
            ..RenderExtras::default()
        };
        let mut message = render_message_with(
            &self.templates,
            &brand,
            &instance,
            &action,
            today,
            &extras,
        )
        .map_err(|e| match &instance.partner {
            Some(p) if extras.agent.is_none() => format!(
                "{e} (partner `{p}` has no details: add it under `partners:` in the configuration)"
            ),
            _ => e.to_string(),
        })?;

        // What the PDFs (letters, invoice copies) are built from travels with the message.
        if let Some(payload) = message.payload.as_object_mut() {
            payload.insert(
                "documents".into(),
                DocumentData::of(&instance, today).to_payload(),
            );
        }
        // A formal notice sent by email carries the notice itself as a PDF letter.
        if message.channel == crate::scenario::Channel::Email
            && let Some(template) = message.template.as_deref()
            && template.starts_with("formal_notice")
        {
            let name = format!("{template}.pdf");
            if !message.attachments.contains(&name) {
                message.attachments.push(name);
            }
        }
        Ok((message, instance.case.client.id))
    }

    /// Runs until `shutdown` turns true; the send in flight finishes first.
    pub async fn run(&self, mut shutdown: watch::Receiver<bool>) -> Result<(), RuntimeError> {
        loop {
            if *shutdown.borrow() {
                return Ok(());
            }
            let handled = match self.run_once().await {
                Ok(n) => n,
                Err(err) => {
                    warn!(error = %err, "dispatcher round failed; retrying after a pause");
                    0
                }
            };
            if handled as u64 >= self.settings.batch_size {
                continue;
            }
            tokio::select! {
                _ = tokio::time::sleep(self.settings.idle_sleep) => {}
                _ = shutdown.changed() => {}
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_rate_limiter_spaces_sends_on_one_channel_only() {
        let limiter = RateLimiter::default();
        let start = std::time::Instant::now();
        for _ in 0..5 {
            limiter.acquire(crate::scenario::Channel::Sms, 20).await;
        }
        // Five slots 50 ms apart: the fifth starts 200 ms after the first.
        assert!(
            start.elapsed() >= Duration::from_millis(200),
            "{:?}",
            start.elapsed()
        );
        let other = std::time::Instant::now();
        limiter.acquire(crate::scenario::Channel::Email, 20).await;
        assert!(
            other.elapsed() < Duration::from_millis(50),
            "another channel is not held up"
        );
    }

    #[test]
    fn backoff_doubles_up_to_the_cap_with_bounded_jitter() {
        let s = DispatcherSettings::default();
        for attempts in 1..12u32 {
            let d = backoff(&s, "k", attempts);
            let raw = Duration::from_secs(1u64 << (attempts - 1)).min(s.backoff_max);
            assert!(
                d <= raw && d >= raw * 3 / 4,
                "attempt {attempts}: {d:?} vs {raw:?}"
            );
        }
        assert_eq!(backoff(&s, "k", 3), backoff(&s, "k", 3), "reproducible");
        assert_ne!(
            backoff(&s, "a", 5),
            backoff(&s, "b", 5),
            "spread across keys"
        );
    }
}
