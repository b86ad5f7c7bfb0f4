//! Matching a provider's delivery receipt to the outbox row it concerns.
//!
//! This file owns that one lookup; what the receipt means is the API's to decide.

use sea_orm::ConnectionTrait;

use super::{Result, Store};

/// The outbox row a receipt concerns.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReceiptTarget {
    /// The action's idempotency key.
    pub key: String,
    pub instance_id: String,
    pub step: String,
    pub channel: String,
}

impl Store {
    /// The outbox row whose idempotency key is `key`, or else whose provider id is
    /// `provider_id` (the most recent one, should a provider reuse ids).
    pub async fn outbox_for_receipt(
        &self,
        key: Option<&str>,
        provider_id: Option<&str>,
    ) -> Result<Option<ReceiptTarget>> {
        let s = self.sql();
        let stmt = match (key, provider_id) {
            (Some(key), _) => s.stmt(
                "SELECT key, instance_id, step, channel FROM outbox WHERE key = ?",
                vec![key.into()],
            ),
            (None, Some(id)) => s.stmt(
                "SELECT key, instance_id, step, channel FROM outbox WHERE provider_id = ? \
                 ORDER BY id DESC",
                vec![id.into()],
            ),
            (None, None) => return Ok(None),
        };
        let Some(row) = self.db.query_one_raw(stmt).await? else {
            return Ok(None);
        };
        Ok(Some(ReceiptTarget {
            key: row.try_get_by_index(0)?,
            instance_id: row.try_get_by_index(1)?,
            step: row.try_get_by_index(2)?,
            channel: row.try_get_by_index(3)?,
        }))
    }
}
