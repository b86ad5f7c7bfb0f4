//! The `log` adapter: records each message through `tracing` and keeps it in memory.

use std::sync::{Mutex, MutexGuard};

use super::{Channel, Delivery, Message, SendError};

/// Logs each message at `info` (key, channel, case, template: no personal data) and the
/// recipient at `debug`, and keeps what it accepted, in order, for tests and demos. A key
/// it has already accepted is reported as [`Delivery::Duplicate`].
#[derive(Debug, Default)]
pub struct LogChannel {
    sent: Mutex<Vec<Message>>,
}

impl LogChannel {
    pub fn new() -> Self {
        LogChannel::default()
    }

    /// The messages accepted so far, oldest first.
    pub fn sent(&self) -> Vec<Message> {
        self.lock().clone()
    }

    fn lock(&self) -> MutexGuard<'_, Vec<Message>> {
        // A panic while holding the lock cannot leave the list half-changed (one push).
        self.sent
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

impl Channel for LogChannel {
    fn name(&self) -> &str {
        "log"
    }

    async fn send(&self, msg: &Message) -> Result<Delivery, SendError> {
        let mut sent = self.lock();
        if sent.iter().any(|m| m.key == msg.key) {
            tracing::info!(key = %msg.key, channel = %msg.channel, "duplicate message, not sent again");
            return Ok(Delivery::Duplicate);
        }
        tracing::info!(
            key = %msg.key,
            channel = %msg.channel,
            case.id = %msg.case_id,
            template = msg.template.as_deref().unwrap_or("-"),
            kind = msg.kind.name(),
            "message sent"
        );
        tracing::debug!(key = %msg.key, to = ?msg.to, subject = ?msg.subject, "message recipient");
        sent.push(msg.clone());
        Ok(Delivery::Sent { provider_id: None })
    }
}
