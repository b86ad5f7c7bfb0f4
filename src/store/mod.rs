//! Durable storage: SQLite (the embedded default) or PostgreSQL, through
//! sea-orm.
//!
//! The store owns transactions, claims and leases. It knows rows, not the
//! engine: instance state arrives as JSON text, journal and outbox rows as
//! plain records, and the runtime translates. Its write path is set-based:
//! a batch of steps is one `UPDATE … FROM` over a `VALUES` list and one
//! multi-row `INSERT` per table, in one transaction, because each statement,
//! not each row, is what a round trip through the driver costs.

mod access;
mod api;
pub mod entity;
mod inbound;
mod receipts;
mod rows;
mod sql;
mod tasks;

use std::path::Path;
use std::time::Duration;

use migration::{Migrator, MigratorTrait};
use sea_orm::sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqliteSynchronous};
use sea_orm::{
    ConnectOptions, ConnectionTrait, Database, DatabaseConnection, DbBackend, DbErr,
    TransactionTrait, Value,
};

pub use access::{AuditRow, KeyClaim, KeyedRequest, StoredResponse, TokenRow};
pub use api::{
    ClientFilter, DisputeRecord, InstanceFilter, InstanceSummary, InvoiceRecord, LedgerWrite,
    PaymentRecord, StateChange,
};
pub use inbound::{InboundDelivery, NewDelivery};
pub use receipts::ReceiptTarget;
pub use rows::*;
use sql::Sql;
pub use tasks::TaskRow;

/// How hard SQLite pushes each commit to the disk.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Synchronous {
    /// fsync at checkpoints only: a power cut may lose the last commits,
    /// a crash of relance loses nothing.
    Normal,
    /// fsync at every commit: nothing committed is ever lost.
    #[default]
    Full,
}

/// What can go wrong in the store.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The database refused or failed a statement.
    #[error("database: {0}")]
    Db(#[from] DbErr),
    /// A stored value could not be read back.
    #[error("stored {what} is unreadable: {reason}")]
    Corrupt { what: String, reason: String },
    /// A lease was lost: another process took the work over.
    #[error("lease on {what} lost; another process owns it now")]
    LeaseLost { what: String },
}

pub type Result<T> = std::result::Result<T, StoreError>;

/// The database relance keeps its state in.
#[derive(Clone)]
pub struct Store {
    db: DatabaseConnection,
}

/// The default database URL: a SQLite file in the working folder.
pub const DEFAULT_URL: &str = "sqlite://relance.db?mode=rwc";

/// A SQLite URL for a file path, created on first use.
pub fn sqlite_url(path: &Path) -> String {
    format!("sqlite://{}?mode=rwc", path.display())
}

impl Store {
    /// Connects to `url` (`sqlite://FILE?mode=rwc` or `postgres://…`). SQLite
    /// runs in WAL mode with the given durability and one connection, so
    /// that writers never fight over the file.
    pub async fn open(url: &str, synchronous: Synchronous) -> Result<Store> {
        let mut options = ConnectOptions::new(url.to_string());
        options
            .sqlx_logging(false)
            .acquire_timeout(Duration::from_secs(30));
        if url.starts_with("sqlite:") {
            options.max_connections(1).min_connections(1);
            options.map_sqlx_sqlite_opts(move |o: SqliteConnectOptions| {
                o.journal_mode(SqliteJournalMode::Wal)
                    .synchronous(match synchronous {
                        Synchronous::Normal => SqliteSynchronous::Normal,
                        Synchronous::Full => SqliteSynchronous::Full,
                    })
                    .busy_timeout(Duration::from_secs(30))
                    .foreign_keys(true)
            });
        } else {
            options.max_connections(8);
        }
        let db = Database::connect(options).await?;
        Ok(Store { db })
    }

    /// Applies the migrations that have not run yet.
    pub async fn migrate(&self) -> Result<()> {
        Migrator::up(&self.db, None).await?;
        Ok(())
    }

    pub fn backend(&self) -> DbBackend {
        self.db.get_database_backend()
    }

    /// The sea-orm connection, for tools and tests.
    pub fn connection(&self) -> &DatabaseConnection {
        &self.db
    }

    /// Checks the database answers.
    pub async fn ping(&self) -> Result<()> {
        self.db.ping().await?;
        Ok(())
    }

    fn sql(&self) -> Sql {
        Sql::new(self.backend())
    }

    /// Closes the pool.
    pub async fn close(self) -> Result<()> {
        self.db.close().await?;
        Ok(())
    }

    // --- scenarios ------------------------------------------------------

    /// Stores a scenario version's text; storing it again changes nothing.
    pub async fn put_scenario(
        &self,
        name: &str,
        version: &str,
        yaml: &str,
        now: i64,
    ) -> Result<()> {
        let s = self.sql();
        self.db
            .execute_raw(s.stmt(
                "INSERT INTO scenario_versions (name, version, yaml, created_at) VALUES (?, ?, ?, ?) \
                 ON CONFLICT (name, version) DO NOTHING",
                vec![name.into(), version.into(), yaml.into(), now.into()],
            ))
            .await?;
        Ok(())
    }

    /// Every stored scenario version.
    pub async fn scenario_versions(&self) -> Result<Vec<ScenarioVersionRow>> {
        let s = self.sql();
        let rows = self
            .db
            .query_all_raw(s.stmt(
                "SELECT name, version, yaml, created_at FROM scenario_versions ORDER BY name, created_at",
                vec![],
            ))
            .await?;
        rows.iter()
            .map(|r| {
                Ok(ScenarioVersionRow {
                    name: r.try_get_by_index(0)?,
                    version: r.try_get_by_index(1)?,
                    yaml: r.try_get_by_index(2)?,
                    created_at: r.try_get_by_index(3)?,
                })
            })
            .collect()
    }

    // --- import -----------------------------------------------------------

    /// Writes new cases with their client, debtor, contacts, invoices,
    /// instance and first journal and outbox rows, in one transaction.
    /// What exists already (same client, debtor, invoice number, case) is
    /// left as it is, so importing the same file twice changes nothing.
    /// Returns how many cases and invoices were new.
    pub async fn import(&self, batch: &ImportBatch, now: i64) -> Result<ImportStats> {
        let s = self.sql();
        let tx = self.db.begin().await?;
        let mut stats = ImportStats::default();

        let clients = batch.clients.iter().map(|c| {
            vec![
                c.id.clone().into(),
                c.name.clone().into(),
                c.country.clone().into(),
                c.brand.clone().into(),
                now.into(),
            ]
        });
        insert_all(
            &tx,
            &s,
            "clients (id, name, country, brand, created_at)",
            "ON CONFLICT (id) DO NOTHING",
            clients,
        )
        .await?;
        let debtors = batch.debtors.iter().map(|d| {
            vec![
                d.client_id.clone().into(),
                d.id.clone().into(),
                d.kind.clone().into(),
                d.name.clone().into(),
                d.country.clone().into(),
                d.language.clone().into(),
                d.timezone.clone().into(),
                d.siren.clone().into(),
                d.vat.clone().into(),
            ]
        });
        insert_all(
            &tx,
            &s,
            "debtors (client_id, id, kind, name, country, language, timezone, siren, vat)",
            "ON CONFLICT (client_id, id) DO NOTHING",
            debtors,
        )
        .await?;
        let contacts = batch.contacts.iter().map(|c| {
            vec![
                c.client_id.clone().into(),
                c.debtor_id.clone().into(),
                c.kind.clone().into(),
                c.value.clone().into(),
            ]
        });
        insert_all(
            &tx,
            &s,
            "contacts (client_id, debtor_id, kind, value)",
            "ON CONFLICT (client_id, debtor_id, kind, value) DO NOTHING",
            contacts,
        )
        .await?;
        let cases = batch.cases.iter().map(|c| {
            vec![
                c.id.clone().into(),
                c.client_id.clone().into(),
                c.debtor_id.clone().into(),
                c.currency.clone().into(),
                c.opened_at.into(),
            ]
        });
        stats.cases = insert_all(
            &tx,
            &s,
            "cases (id, client_id, debtor_id, currency, opened_at)",
            "ON CONFLICT (id) DO NOTHING",
            cases,
        )
        .await?;
        let invoices = batch.invoices.iter().map(|i| {
            vec![
                i.client_id.clone().into(),
                i.number.clone().into(),
                i.debtor_id.clone().into(),
                i.case_id.clone().into(),
                i.issued.clone().into(),
                i.due.clone().into(),
                i.amount.clone().into(),
                i.currency.clone().into(),
            ]
        });
        stats.invoices = insert_all(
            &tx,
            &s,
            "invoices (client_id, number, debtor_id, case_id, issued, due, amount, currency)",
            "ON CONFLICT (client_id, number) DO NOTHING",
            invoices,
        )
        .await?;
        let mut new_instances = std::collections::BTreeSet::new();
        for chunk in batch.instances.chunks(500) {
            let mut values = Vec::new();
            for i in chunk {
                values.extend([
                    i.id.clone().into(),
                    i.case_id.clone().into(),
                    i.scenario.clone().into(),
                    i.version.clone().into(),
                    i.status.clone().into(),
                    i.stage.clone().into(),
                    i.next_wake.into(),
                    i.state.clone().into(),
                    now.into(),
                ]);
            }
            let inserted = tx
                .query_all_raw(s.stmt(
                    &format!(
                        "INSERT INTO instances (id, case_id, scenario, version, status, stage, next_wake, state, updated_at) VALUES {} \
                         ON CONFLICT (id) DO NOTHING RETURNING id",
                        sql::tuples(chunk.len(), 9)
                    ),
                    values,
                ))
                .await?;
            stats.instances += inserted.len() as u64;
            for r in inserted {
                new_instances.insert(r.try_get_by_index::<String>(0)?);
            }
        }
        // Journal and outbox rows go with new instances only: a re-import
        // repeats nothing.
        let journal: Vec<JournalRow> = batch
            .journal
            .iter()
            .filter(|j| new_instances.contains(&j.instance_id))
            .cloned()
            .collect();
        let outbox: Vec<OutboxInsert> = batch
            .outbox
            .iter()
            .filter(|o| new_instances.contains(&o.instance_id))
            .cloned()
            .collect();
        insert_journal(&tx, &s, &journal).await?;
        insert_outbox(&tx, &s, &outbox, now).await?;
        tx.commit().await?;
        Ok(stats)
    }

    // --- claims and the write path --------------------------------------

    /// Leases up to `limit` instances that are due at `now` or have events
    /// waiting, for `lease_ms`. On PostgreSQL concurrent claimers skip each
    /// other's rows (`FOR UPDATE SKIP LOCKED`); an expired lease is fair game.
    pub async fn claim_due(
        &self,
        now: i64,
        limit: u64,
        owner: &str,
        lease_ms: i64,
    ) -> Result<Vec<ClaimedInstance>> {
        let s = self.sql();
        let lock = if self.backend() == DbBackend::Postgres {
            " FOR UPDATE SKIP LOCKED"
        } else {
            ""
        };
        // Due instances and instances with waiting events are chosen by two
        // separately limited queries: one `OR` over both made SQLite gather
        // and sort every due row for each batch, so a claim cost grew with
        // the number of due instances; the due half now walks the
        // `instances_due` index in order and stops at `limit`.
        let sql_text = format!(
            "UPDATE instances SET lease_owner = ?, lease_until = ? WHERE id IN (\
               SELECT id FROM (\
                 SELECT id, next_wake FROM (\
                   SELECT id, next_wake FROM instances \
                   WHERE next_wake IS NOT NULL AND next_wake <= ? \
                     AND (lease_until IS NULL OR lease_until < ?) \
                   ORDER BY next_wake LIMIT ?{lock}) AS due \
                 UNION \
                 SELECT id, next_wake FROM (\
                   SELECT id, next_wake FROM instances \
                   WHERE (lease_until IS NULL OR lease_until < ?) \
                     AND id IN (SELECT instance_id FROM events WHERE applied_at IS NULL) \
                   LIMIT ?{lock}) AS waiting\
               ) AS candidates ORDER BY next_wake LIMIT ?) \
             RETURNING id, scenario, version, state"
        );
        let tx = self.db.begin().await?;
        let rows = tx
            .query_all_raw(s.stmt(
                &sql_text,
                vec![
                    owner.into(),
                    (now + lease_ms).into(),
                    now.into(),
                    now.into(),
                    (limit as i64).into(),
                    now.into(),
                    (limit as i64).into(),
                    (limit as i64).into(),
                ],
            ))
            .await?;
        let mut claimed: Vec<ClaimedInstance> = rows
            .iter()
            .map(|r| {
                Ok(ClaimedInstance {
                    id: r.try_get_by_index(0)?,
                    scenario: r.try_get_by_index(1)?,
                    version: r.try_get_by_index(2)?,
                    state: r.try_get_by_index(3)?,
                    events: Vec::new(),
                })
            })
            .collect::<Result<_>>()?;
        if !claimed.is_empty() {
            let ids: Vec<Value> = claimed.iter().map(|c| c.id.clone().into()).collect();
            let events = tx
                .query_all_raw(s.stmt(
                    &format!(
                        "SELECT id, instance_id, payload FROM events WHERE applied_at IS NULL AND instance_id IN ({}) ORDER BY id",
                        sql::marks(ids.len())
                    ),
                    ids,
                ))
                .await?;
            for e in events {
                let id: i64 = e.try_get_by_index(0)?;
                let instance: String = e.try_get_by_index(1)?;
                let payload: String = e.try_get_by_index(2)?;
                if let Some(c) = claimed.iter_mut().find(|c| c.id == instance) {
                    c.events.push(PendingEvent { id, payload });
                }
            }
        }
        tx.commit().await?;
        claimed.sort_by(|a, b| a.id.cmp(&b.id));
        Ok(claimed)
    }

    /// Commits a batch of steps in one transaction: every instance's new
    /// state, its journal rows and its outbox rows, the events it applied,
    /// and the cancellation of pending sends of the cases that ended. The
    /// lease of `owner` is released on each. An instance whose lease was lost
    /// is left untouched and reported in the returned list.
    pub async fn commit(&self, owner: &str, steps: &[StepRecord], now: i64) -> Result<Vec<String>> {
        if steps.is_empty() {
            return Ok(Vec::new());
        }
        let s = self.sql();
        let tx = self.db.begin().await?;

        // Which of the batch we still own: work of a lost lease is dropped.
        let ids: Vec<Value> = steps.iter().map(|st| st.id.clone().into()).collect();
        let mut params = vec![Value::from(owner)];
        params.extend(ids);
        let owned_rows = tx
            .query_all_raw(s.stmt(
                &format!(
                    "SELECT id FROM instances WHERE lease_owner = ? AND id IN ({})",
                    sql::marks(steps.len())
                ),
                params,
            ))
            .await?;
        let owned: std::collections::BTreeSet<String> = owned_rows
            .iter()
            .map(|r| r.try_get_by_index::<String>(0))
            .collect::<std::result::Result<_, _>>()?;
        let lost: Vec<String> = steps
            .iter()
            .filter(|st| !owned.contains(&st.id))
            .map(|st| st.id.clone())
            .collect();
        let mine: Vec<&StepRecord> = steps.iter().filter(|st| owned.contains(&st.id)).collect();

        for chunk in mine.chunks(400) {
            let mut values = Vec::new();
            for st in chunk {
                values.extend([
                    st.id.clone().into(),
                    st.state.clone().into(),
                    st.status.clone().into(),
                    st.stage.clone().into(),
                    Value::BigInt(st.next_wake),
                    (st.steps as i64).into(),
                ]);
            }
            let set_from = s.values_cte(
                "v",
                &["id", "state", "status", "stage", "next_wake", "steps"],
                chunk.len(),
                &["TEXT", "TEXT", "TEXT", "TEXT", "BIGINT", "BIGINT"],
            );
            tx.execute_raw(s.stmt(
                &format!(
                    "{set_from} UPDATE instances SET state = v.state, status = v.status, stage = v.stage, next_wake = v.next_wake, \
                     steps = instances.steps + v.steps, lease_owner = NULL, lease_until = NULL, updated_at = ? \
                     FROM v WHERE instances.id = v.id"
                ),
                {
                    values.push(now.into());
                    values
                },
            ))
            .await?;
        }

        let journal: Vec<JournalRow> = mine
            .iter()
            .flat_map(|st| st.journal.iter().cloned())
            .collect();
        insert_journal(&tx, &s, &journal).await?;
        let outbox: Vec<OutboxInsert> = mine
            .iter()
            .flat_map(|st| st.outbox.iter().cloned())
            .collect();
        insert_outbox(&tx, &s, &outbox, now).await?;

        let applied: Vec<Value> = mine
            .iter()
            .flat_map(|st| st.events_applied.iter().map(|&id| Value::from(id)))
            .collect();
        for chunk in applied.chunks(500) {
            let mut params = vec![Value::from(now)];
            params.extend(chunk.iter().cloned());
            tx.execute_raw(s.stmt(
                &format!(
                    "UPDATE events SET applied_at = ? WHERE id IN ({})",
                    sql::marks(chunk.len())
                ),
                params,
            ))
            .await?;
        }
        let refused: Vec<&(i64, String)> = mine
            .iter()
            .flat_map(|st| st.events_refused.iter())
            .collect();
        for (id, why) in refused {
            tx.execute_raw(s.stmt(
                "UPDATE events SET applied_at = ?, error = ? WHERE id = ?",
                vec![now.into(), why.clone().into(), (*id).into()],
            ))
            .await?;
        }

        let domain: Vec<&DomainRow> = mine.iter().flat_map(|st| st.domain.iter()).collect();
        write_domain(&tx, &s, &domain).await?;

        let ended: Vec<Value> = mine
            .iter()
            .filter(|st| st.cancel_pending)
            .map(|st| st.id.clone().into())
            .collect();
        for chunk in ended.chunks(500) {
            tx.execute_raw(s.stmt(
                &format!(
                    "UPDATE outbox SET status = 'cancelled' WHERE status IN ('pending', 'retry') AND instance_id IN ({})",
                    sql::marks(chunk.len())
                ),
                chunk.to_vec(),
            ))
            .await?;
        }
        tx.commit().await?;
        Ok(lost)
    }

    /// Gives back every lease `owner` holds (graceful shutdown).
    pub async fn release(&self, owner: &str) -> Result<()> {
        let s = self.sql();
        self.db
            .execute_raw(s.stmt(
                "UPDATE instances SET lease_owner = NULL, lease_until = NULL WHERE lease_owner = ?",
                vec![owner.into()],
            ))
            .await?;
        self.db
            .execute_raw(s.stmt(
                "UPDATE outbox SET lease_owner = NULL, lease_until = NULL, status = 'pending' \
                 WHERE lease_owner = ? AND status = 'sending'",
                vec![owner.into()],
            ))
            .await?;
        Ok(())
    }

    /// When the earliest work may be claimed: the earliest wake time, or
    /// the end of the lease another process holds on it, whichever is later;
    /// for an instance with events waiting, now (0) or the end of its lease.
    /// `None` when nothing will ever be due.
    pub async fn next_wake(&self) -> Result<Option<i64>> {
        let s = self.sql();
        let from_events = self
            .db
            .query_one_raw(s.stmt(
                "SELECT MIN(COALESCE(i.lease_until, 0)) FROM events e JOIN instances i ON i.id = e.instance_id \
                 WHERE e.applied_at IS NULL",
                vec![],
            ))
            .await?;
        let from_events: Option<i64> = match from_events {
            Some(r) => r.try_get_by_index(0)?,
            None => None,
        };
        let row = self
            .db
            .query_one_raw(s.stmt(
                "SELECT MIN(CASE WHEN lease_until IS NOT NULL AND lease_until > next_wake THEN lease_until ELSE next_wake END) \
                 FROM instances WHERE next_wake IS NOT NULL",
                vec![],
            ))
            .await?;
        let from_wakes: Option<i64> = match row {
            Some(r) => r.try_get_by_index(0)?,
            None => None,
        };
        Ok(match (from_events, from_wakes) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        })
    }

    /// Outbox rows in a state (`dead`, `parked`, `retry`…), oldest first:
    /// (id, key, channel, attempts, last error).
    pub async fn outbox_in(
        &self,
        status: &str,
        limit: u64,
    ) -> Result<Vec<(i64, String, String, i64, Option<String>)>> {
        let s = self.sql();
        let rows = self
            .db
            .query_all_raw(s.stmt(
                "SELECT id, key, channel, attempts, last_error FROM outbox WHERE status = ? ORDER BY id LIMIT ?",
                vec![status.into(), (limit as i64).into()],
            ))
            .await?;
        rows.iter()
            .map(|r| {
                Ok((
                    r.try_get_by_index(0)?,
                    r.try_get_by_index(1)?,
                    r.try_get_by_index(2)?,
                    r.try_get_by_index(3)?,
                    r.try_get_by_index(4)?,
                ))
            })
            .collect()
    }

    // --- events -----------------------------------------------------------

    /// Records an event for an instance. With a delivery id, a second
    /// delivery of the same id is acknowledged and ignored: returns whether
    /// the event was new.
    pub async fn record_event(&self, event: &NewEvent, now: i64) -> Result<bool> {
        let s = self.sql();
        let done = self
            .db
            .execute_raw(s.stmt(
                "INSERT INTO events (delivery_id, instance_id, type, payload, received_at) VALUES (?, ?, ?, ?, ?) \
                 ON CONFLICT (delivery_id) DO NOTHING",
                vec![
                    event.delivery_id.clone().into(),
                    event.instance_id.clone().into(),
                    event.kind.clone().into(),
                    event.payload.clone().into(),
                    now.into(),
                ],
            ))
            .await?;
        Ok(done.rows_affected() > 0)
    }

    /// The instance of a case, found by client and debtor, or by client and
    /// one of its invoice numbers.
    pub async fn correlate(
        &self,
        client_id: &str,
        debtor_id: Option<&str>,
        invoice: Option<&str>,
    ) -> Result<Option<String>> {
        let s = self.sql();
        let row = match (debtor_id, invoice) {
            (_, Some(number)) => {
                self.db
                    .query_one_raw(s.stmt(
                        "SELECT i.id FROM instances i JOIN invoices v ON v.case_id = i.case_id \
                         WHERE v.client_id = ? AND v.number = ?",
                        vec![client_id.into(), number.into()],
                    ))
                    .await?
            }
            (Some(debtor), None) => {
                self.db
                    .query_one_raw(s.stmt(
                        "SELECT i.id FROM instances i JOIN cases c ON c.id = i.case_id \
                         WHERE c.client_id = ? AND c.debtor_id = ? ORDER BY c.opened_at DESC",
                        vec![client_id.into(), debtor.into()],
                    ))
                    .await?
            }
            (None, None) => None,
        };
        Ok(match row {
            Some(r) => Some(r.try_get_by_index(0)?),
            None => None,
        })
    }

    // --- outbox -----------------------------------------------------------

    /// Leases up to `limit` outbox rows ready to go at `now`.
    pub async fn claim_outbox(
        &self,
        now: i64,
        limit: u64,
        owner: &str,
        lease_ms: i64,
    ) -> Result<Vec<OutboxRow>> {
        let s = self.sql();
        let lock = if self.backend() == DbBackend::Postgres {
            " FOR UPDATE SKIP LOCKED"
        } else {
            ""
        };
        let tx = self.db.begin().await?;
        // A send whose lease expired while `sending` may or may not have gone
        // out: irreversible channels are parked for an operator.
        tx.execute_raw(s.stmt(
            "UPDATE outbox SET status = 'parked', last_error = 'the process sending it stopped; outcome unknown', \
             lease_owner = NULL, lease_until = NULL \
             WHERE status = 'sending' AND lease_until < ? AND irreversible",
            vec![now.into()],
        ))
        .await?;
        let rows = tx
            .query_all_raw(s.stmt(
                &format!(
                    "UPDATE outbox SET status = 'sending', lease_owner = ?, lease_until = ?, attempts = attempts + 1 \
                     WHERE id IN (SELECT id FROM outbox \
                        WHERE ((status IN ('pending', 'retry') AND next_attempt <= ? AND not_before <= ?) \
                           OR (status = 'sending' AND lease_until < ? AND NOT irreversible)) \
                        ORDER BY id LIMIT ?{lock}) \
                     RETURNING id, key, instance_id, step, channel, action, irreversible, attempts"
                ),
                vec![owner.into(), (now + lease_ms).into(), now.into(), now.into(), now.into(), (limit as i64).into()],
            ))
            .await?;
        tx.commit().await?;
        let mut out: Vec<OutboxRow> = rows
            .iter()
            .map(|r| {
                Ok(OutboxRow {
                    id: r.try_get_by_index(0)?,
                    key: r.try_get_by_index(1)?,
                    instance_id: r.try_get_by_index(2)?,
                    step: r.try_get_by_index(3)?,
                    channel: r.try_get_by_index(4)?,
                    action: r.try_get_by_index(5)?,
                    irreversible: r.try_get_by_index(6)?,
                    attempts: r.try_get_by_index(7)?,
                })
            })
            .collect::<Result<_>>()?;
        out.sort_by_key(|r| r.id);
        Ok(out)
    }

    /// Records what became of a send.
    pub async fn outbox_done(
        &self,
        owner: &str,
        id: i64,
        fate: &OutboxFate,
        now: i64,
    ) -> Result<()> {
        let s = self.sql();
        let (sql_text, values): (&str, Vec<Value>) = match fate {
            OutboxFate::Sent { provider_id } => (
                "UPDATE outbox SET status = 'sent', provider_id = ?, sent_at = ?, lease_owner = NULL, lease_until = NULL \
                 WHERE id = ? AND lease_owner = ?",
                vec![
                    provider_id.clone().into(),
                    now.into(),
                    id.into(),
                    owner.into(),
                ],
            ),
            OutboxFate::Retry { at, error } => (
                "UPDATE outbox SET status = 'retry', next_attempt = ?, last_error = ?, lease_owner = NULL, lease_until = NULL \
                 WHERE id = ? AND lease_owner = ?",
                vec![(*at).into(), error.clone().into(), id.into(), owner.into()],
            ),
            OutboxFate::Dead { error } => (
                "UPDATE outbox SET status = 'dead', last_error = ?, lease_owner = NULL, lease_until = NULL \
                 WHERE id = ? AND lease_owner = ?",
                vec![error.clone().into(), id.into(), owner.into()],
            ),
            OutboxFate::Parked { error } => (
                "UPDATE outbox SET status = 'parked', last_error = ?, lease_owner = NULL, lease_until = NULL \
                 WHERE id = ? AND lease_owner = ?",
                vec![error.clone().into(), id.into(), owner.into()],
            ),
        };
        let done = self.db.execute_raw(s.stmt(sql_text, values)).await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::LeaseLost {
                what: format!("outbox row {id}"),
            });
        }
        Ok(())
    }

    /// Puts a dead or parked send back in the queue (an operator's retry).
    pub async fn outbox_requeue(&self, id: i64, now: i64) -> Result<bool> {
        let s = self.sql();
        let done = self
            .db
            .execute_raw(s.stmt(
                "UPDATE outbox SET status = 'pending', next_attempt = ?, attempts = 0 WHERE id = ? AND status IN ('dead', 'parked')",
                vec![now.into(), id.into()],
            ))
            .await?;
        Ok(done.rows_affected() > 0)
    }

    /// Instances of a scenario: (id, version, state), those leased now left out.
    pub async fn instances_of(
        &self,
        scenario: &str,
        now: i64,
    ) -> Result<Vec<(String, String, String)>> {
        let s = self.sql();
        let rows = self
            .db
            .query_all_raw(s.stmt(
                "SELECT id, version, state FROM instances WHERE scenario = ? AND (lease_until IS NULL OR lease_until < ?) ORDER BY id",
                vec![scenario.into(), now.into()],
            ))
            .await?;
        rows.iter()
            .map(|r| {
                Ok((
                    r.try_get_by_index(0)?,
                    r.try_get_by_index(1)?,
                    r.try_get_by_index(2)?,
                ))
            })
            .collect()
    }

    /// Moves instances to another scenario version (an operator's explicit
    /// migration): new version, state and stage, and a journal line each, in
    /// one transaction; an instance leased meanwhile is left alone.
    pub async fn rewrite_instances(
        &self,
        rows: &[MigratedInstance],
        journal: &[JournalRow],
        now: i64,
    ) -> Result<u64> {
        let s = self.sql();
        let tx = self.db.begin().await?;
        let mut moved = 0;
        for MigratedInstance {
            id,
            version,
            state,
            stage,
            next_wake,
        } in rows
        {
            let done = tx
                .execute_raw(s.stmt(
                    "UPDATE instances SET version = ?, state = ?, stage = ?, next_wake = ?, updated_at = ? \
                     WHERE id = ? AND (lease_until IS NULL OR lease_until < ?)",
                    vec![version.clone().into(), state.clone().into(), stage.clone().into(), Value::BigInt(*next_wake), now.into(), id.clone().into(), now.into()],
                ))
                .await?;
            moved += done.rows_affected();
        }
        insert_journal(&tx, &s, journal).await?;
        tx.commit().await?;
        Ok(moved)
    }

    /// Retention: removes the journal of cases ended before `journal_before`
    /// (with their sent or cancelled outbox rows), and webhook delivery ids
    /// received before `deliveries_before`. Returns the rows removed.
    pub async fn purge(&self, journal_before: i64, deliveries_before: i64) -> Result<u64> {
        let s = self.sql();
        let tx = self.db.begin().await?;
        let ended = "SELECT id FROM instances WHERE status = 'ended' AND updated_at < ?";
        let j = tx
            .execute_raw(s.stmt(
                &format!("DELETE FROM journal WHERE instance_id IN ({ended})"),
                vec![journal_before.into()],
            ))
            .await?;
        let o = tx
            .execute_raw(s.stmt(
                &format!("DELETE FROM outbox WHERE status IN ('sent', 'cancelled') AND instance_id IN ({ended})"),
                vec![journal_before.into()],
            ))
            .await?;
        let w = tx
            .execute_raw(s.stmt(
                "DELETE FROM webhook_deliveries WHERE received_at < ?",
                vec![deliveries_before.into()],
            ))
            .await?;
        tx.commit().await?;
        Ok(j.rows_affected() + o.rows_affected() + w.rows_affected())
    }

    // --- reading ----------------------------------------------------------

    /// Counts for `relance status`, the metrics and the readiness check.
    pub async fn status(&self, now: i64) -> Result<StatusReport> {
        let s = self.sql();
        let mut report = StatusReport::default();
        for r in self
            .db
            .query_all_raw(s.stmt(
                "SELECT status, COUNT(*) FROM instances GROUP BY status ORDER BY status",
                vec![],
            ))
            .await?
        {
            report
                .instances
                .push((r.try_get_by_index(0)?, r.try_get_by_index(1)?));
        }
        for r in self
            .db
            .query_all_raw(s.stmt(
                "SELECT status, COUNT(*) FROM outbox GROUP BY status ORDER BY status",
                vec![],
            ))
            .await?
        {
            report
                .outbox
                .push((r.try_get_by_index(0)?, r.try_get_by_index(1)?));
        }
        let due = self
            .db
            .query_one_raw(s.stmt(
                "SELECT COUNT(*) FROM instances WHERE next_wake IS NOT NULL AND next_wake <= ?",
                vec![now.into()],
            ))
            .await?;
        report.due_now = match due {
            Some(r) => r.try_get_by_index(0)?,
            None => 0,
        };
        for r in self
            .db
            .query_all_raw(s.stmt(
                "SELECT stage, status, COUNT(*) FROM instances GROUP BY stage, status ORDER BY stage, status",
                vec![],
            ))
            .await?
        {
            report.stages.push((r.try_get_by_index(0)?, r.try_get_by_index(1)?, r.try_get_by_index(2)?));
        }
        report.journal_entries = count(&self.db, &s, "journal").await?;
        report.events_pending = {
            let r = self
                .db
                .query_one_raw(s.stmt(
                    "SELECT COUNT(*) FROM events WHERE applied_at IS NULL",
                    vec![],
                ))
                .await?;
            match r {
                Some(r) => r.try_get_by_index(0)?,
                None => 0,
            }
        };
        Ok(report)
    }

    /// One instance's stored state.
    pub async fn instance_state(&self, id: &str) -> Result<Option<(String, String, String)>> {
        let s = self.sql();
        let row = self
            .db
            .query_one_raw(s.stmt(
                "SELECT scenario, version, state FROM instances WHERE id = ?",
                vec![id.into()],
            ))
            .await?;
        Ok(match row {
            Some(r) => Some((
                r.try_get_by_index(0)?,
                r.try_get_by_index(1)?,
                r.try_get_by_index(2)?,
            )),
            None => None,
        })
    }

    /// An instance's journal, oldest first.
    pub async fn journal(&self, instance_id: &str) -> Result<Vec<JournalRow>> {
        let s = self.sql();
        let rows = self
            .db
            .query_all_raw(s.stmt(
                "SELECT instance_id, at, kind, stage, step, channel, template, detail, balance, total_due, currency \
                 FROM journal WHERE instance_id = ? ORDER BY id",
                vec![instance_id.into()],
            ))
            .await?;
        rows.iter()
            .map(|r| {
                Ok(JournalRow {
                    instance_id: r.try_get_by_index(0)?,
                    at: r.try_get_by_index(1)?,
                    kind: r.try_get_by_index(2)?,
                    stage: r.try_get_by_index(3)?,
                    step: r.try_get_by_index(4)?,
                    channel: r.try_get_by_index(5)?,
                    template: r.try_get_by_index(6)?,
                    detail: r.try_get_by_index(7)?,
                    balance: r.try_get_by_index(8)?,
                    total_due: r.try_get_by_index(9)?,
                    currency: r.try_get_by_index(10)?,
                })
            })
            .collect()
    }

    /// Outbox rows of an instance, oldest first, with their status.
    pub async fn outbox_of(&self, instance_id: &str) -> Result<Vec<(String, String, String)>> {
        let s = self.sql();
        let rows = self
            .db
            .query_all_raw(s.stmt(
                "SELECT key, channel, status FROM outbox WHERE instance_id = ? ORDER BY id",
                vec![instance_id.into()],
            ))
            .await?;
        rows.iter()
            .map(|r| {
                Ok((
                    r.try_get_by_index(0)?,
                    r.try_get_by_index(1)?,
                    r.try_get_by_index(2)?,
                ))
            })
            .collect()
    }
}

async fn count(db: &DatabaseConnection, s: &Sql, table: &str) -> Result<i64> {
    let r = db
        .query_one_raw(s.stmt(&format!("SELECT COUNT(*) FROM {table}"), vec![]))
        .await?;
    Ok(match r {
        Some(r) => r.try_get_by_index(0)?,
        None => 0,
    })
}

/// `INSERT INTO {table_and_columns} VALUES (…), (…) {tail}` for every row,
/// 500 rows a statement; returns the rows inserted.
async fn insert_all(
    tx: &impl ConnectionTrait,
    s: &Sql,
    table_and_columns: &str,
    tail: &str,
    rows: impl Iterator<Item = Vec<Value>>,
) -> Result<u64> {
    let rows: Vec<Vec<Value>> = rows.collect();
    let mut inserted = 0;
    for chunk in rows.chunks(500) {
        let width = chunk[0].len();
        let values: Vec<Value> = chunk.iter().flatten().cloned().collect();
        let done = tx
            .execute_raw(s.stmt(
                &format!(
                    "INSERT INTO {table_and_columns} VALUES {} {tail}",
                    sql::tuples(chunk.len(), width)
                ),
                values,
            ))
            .await?;
        inserted += done.rows_affected();
    }
    Ok(inserted)
}

async fn write_domain(tx: &impl ConnectionTrait, s: &Sql, rows: &[&DomainRow]) -> Result<()> {
    for row in rows {
        match row {
            DomainRow::Payment {
                client_id,
                debtor_id,
                case_id,
                amount,
                currency,
                received_on,
                reference,
                source,
                allocations,
            } => {
                let inserted = tx
                    .query_one_raw(s.stmt(
                        "INSERT INTO payments (client_id, debtor_id, case_id, amount, currency, received_on, reference, source) \
                         VALUES (?, ?, ?, ?, ?, ?, ?, ?) RETURNING id",
                        vec![
                            client_id.clone().into(),
                            debtor_id.clone().into(),
                            case_id.clone().into(),
                            amount.clone().into(),
                            currency.clone().into(),
                            received_on.clone().into(),
                            reference.clone().into(),
                            source.clone().into(),
                        ],
                    ))
                    .await?;
                let Some(id) = inserted else { continue };
                let payment_id: i64 = id.try_get_by_index(0)?;
                if allocations.is_empty() {
                    continue;
                }
                let mut values = Vec::new();
                for (invoice, part) in allocations {
                    values.extend([
                        payment_id.into(),
                        client_id.clone().into(),
                        invoice.clone().into(),
                        part.clone().into(),
                    ]);
                }
                tx.execute_raw(s.stmt(
                    &format!(
                        "INSERT INTO allocations (payment_id, client_id, invoice_number, amount) VALUES {}",
                        sql::tuples(allocations.len(), 4)
                    ),
                    values,
                ))
                .await?;
            }
            DomainRow::DisputeOpened {
                case_id,
                invoice,
                reason,
                at,
            } => {
                tx.execute_raw(s.stmt(
                    "INSERT INTO disputes (case_id, invoice_number, reason, opened_at) VALUES (?, ?, ?, ?)",
                    vec![case_id.clone().into(), invoice.clone().into(), reason.clone().into(), (*at).into()],
                ))
                .await?;
            }
            DomainRow::DisputeResolved { case_id, at } => {
                tx.execute_raw(s.stmt(
                    "UPDATE disputes SET resolved_at = ? WHERE id = \
                     (SELECT MIN(id) FROM disputes WHERE case_id = ? AND resolved_at IS NULL)",
                    vec![(*at).into(), case_id.clone().into()],
                ))
                .await?;
            }
            DomainRow::Promise {
                case_id,
                kind,
                due_on,
                amount,
                instalments,
                at,
            } => {
                tx.execute_raw(s.stmt(
                    "INSERT INTO promises (case_id, kind, due_on, amount, instalments, made_at) VALUES (?, ?, ?, ?, ?, ?)",
                    vec![
                        case_id.clone().into(),
                        kind.clone().into(),
                        due_on.clone().into(),
                        amount.clone().into(),
                        instalments.clone().into(),
                        (*at).into(),
                    ],
                ))
                .await?;
            }
            DomainRow::PromiseSettled { case_id, status } => {
                tx.execute_raw(s.stmt(
                    "UPDATE promises SET status = ? WHERE case_id = ? AND status = 'running'",
                    vec![status.clone().into(), case_id.clone().into()],
                ))
                .await?;
            }
        }
    }
    Ok(())
}

async fn insert_journal(tx: &impl ConnectionTrait, s: &Sql, rows: &[JournalRow]) -> Result<()> {
    for chunk in rows.chunks(1000) {
        let mut values = Vec::with_capacity(chunk.len() * 11);
        for j in chunk {
            values.extend([
                j.instance_id.clone().into(),
                j.at.into(),
                j.kind.clone().into(),
                j.stage.clone().into(),
                j.step.clone().into(),
                j.channel.clone().into(),
                j.template.clone().into(),
                j.detail.clone().into(),
                j.balance.clone().into(),
                j.total_due.clone().into(),
                j.currency.clone().into(),
            ]);
        }
        tx.execute_raw(s.stmt(
            &format!(
                "INSERT INTO journal (instance_id, at, kind, stage, step, channel, template, detail, balance, total_due, currency) VALUES {}",
                sql::tuples(chunk.len(), 11)
            ),
            values,
        ))
        .await?;
    }
    Ok(())
}

async fn insert_outbox(
    tx: &impl ConnectionTrait,
    s: &Sql,
    rows: &[OutboxInsert],
    now: i64,
) -> Result<()> {
    for chunk in rows.chunks(1000) {
        let mut values = Vec::with_capacity(chunk.len() * 10);
        for o in chunk {
            values.extend([
                o.key.clone().into(),
                o.instance_id.clone().into(),
                o.step.clone().into(),
                o.channel.clone().into(),
                o.action.clone().into(),
                o.irreversible.into(),
                o.not_before.into(),
                "pending".into(),
                o.not_before.into(),
                now.into(),
            ]);
        }
        tx.execute_raw(s.stmt(
            &format!(
                "INSERT INTO outbox (key, instance_id, step, channel, action, irreversible, not_before, status, next_attempt, created_at) \
                 VALUES {} ON CONFLICT (key) DO NOTHING",
                sql::tuples(chunk.len(), 10)
            ),
            values,
        ))
        .await?;
    }
    Ok(())
}
