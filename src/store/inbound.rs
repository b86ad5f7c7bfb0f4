//! Incoming partner webhooks: each verified delivery, recorded once by its id together with
//! the event it produced, in one transaction; and the deliveries that produced none (an
//! unknown type, no matching case, unreadable content), kept for an operator.
//!
//! This file stores what the API decided; it never reads a partner's payload.

use sea_orm::{ConnectionTrait, TransactionTrait};

use super::{NewEvent, Result, Store};

/// A verified delivery to record.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewDelivery {
    /// `{source}/{the partner's delivery id}`; unique.
    pub id: String,
    /// The `webhooks_in` source it came through.
    pub source: String,
    /// `applied` (it became an event), `unknown_type`, `unmatched` (no case) or `invalid`.
    pub status: String,
    /// The partner's own type for it (`payment_intent.succeeded`, `claim.paid`).
    pub event_type: Option<String>,
    pub instance_id: Option<String>,
    /// Why it produced no event.
    pub reason: Option<String>,
    /// The raw body, as text (lossy for bytes that are not UTF-8).
    pub payload: String,
}

/// A recorded delivery.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InboundDelivery {
    pub id: String,
    pub source: String,
    pub status: String,
    pub event_type: Option<String>,
    pub instance_id: Option<String>,
    pub reason: Option<String>,
    pub payload: Option<String>,
    pub received_at: i64,
}

const COLUMNS: &str = "id, source, status, event_type, instance_id, reason, payload, received_at";

impl Store {
    /// Records a verified delivery and, when it produced one, its event, in one
    /// transaction. Returns `false`, changing nothing, when a delivery with that id was
    /// already recorded: a partner's retry is applied once.
    pub async fn record_delivery(
        &self,
        delivery: &NewDelivery,
        event: Option<&NewEvent>,
        now: i64,
    ) -> Result<bool> {
        let s = self.sql();
        let tx = self.connection().begin().await?;
        let inserted = tx
            .execute_raw(s.stmt(
                "INSERT INTO webhook_deliveries (id, source, received_at, status, event_type, \
                 instance_id, reason, payload) VALUES (?, ?, ?, ?, ?, ?, ?, ?) \
                 ON CONFLICT (id) DO NOTHING",
                vec![
                    delivery.id.clone().into(),
                    delivery.source.clone().into(),
                    now.into(),
                    delivery.status.clone().into(),
                    delivery.event_type.clone().into(),
                    delivery.instance_id.clone().into(),
                    delivery.reason.clone().into(),
                    delivery.payload.clone().into(),
                ],
            ))
            .await?;
        if inserted.rows_affected() == 0 {
            tx.rollback().await?;
            return Ok(false);
        }
        if let Some(event) = event {
            tx.execute_raw(s.stmt(
                "INSERT INTO events (delivery_id, instance_id, type, payload, received_at) \
                 VALUES (?, ?, ?, ?, ?) ON CONFLICT (delivery_id) DO NOTHING",
                vec![
                    event.delivery_id.clone().into(),
                    event.instance_id.clone().into(),
                    event.kind.clone().into(),
                    event.payload.clone().into(),
                    now.into(),
                ],
            ))
            .await?;
        }
        tx.commit().await?;
        Ok(true)
    }

    /// Recorded deliveries, oldest first; with `status`, only those in it (`unknown_type`,
    /// `unmatched`, `invalid`, `applied`).
    pub async fn inbound_deliveries(
        &self,
        status: Option<&str>,
        limit: u64,
    ) -> Result<Vec<InboundDelivery>> {
        let s = self.sql();
        let stmt = match status {
            Some(status) => s.stmt(
                &format!(
                    "SELECT {COLUMNS} FROM webhook_deliveries WHERE status = ? \
                     ORDER BY received_at, id LIMIT ?"
                ),
                vec![status.into(), (limit as i64).into()],
            ),
            None => s.stmt(
                &format!(
                    "SELECT {COLUMNS} FROM webhook_deliveries ORDER BY received_at, id LIMIT ?"
                ),
                vec![(limit as i64).into()],
            ),
        };
        let rows = self.connection().query_all_raw(stmt).await?;
        rows.iter()
            .map(|r| {
                Ok(InboundDelivery {
                    id: r.try_get_by_index(0)?,
                    source: r.try_get_by_index(1)?,
                    status: r.try_get_by_index(2)?,
                    event_type: r.try_get_by_index(3)?,
                    instance_id: r.try_get_by_index(4)?,
                    reason: r.try_get_by_index(5)?,
                    payload: r.try_get_by_index(6)?,
                    received_at: r.try_get_by_index(7)?,
                })
            })
            .collect()
    }
}
