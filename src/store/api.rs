//! The queries behind the REST resources of `/api/v1`: lists paged by id,
//! single rows, and the changes an API call makes to a case.
//!
//! Every list is one statement with a keyset cursor (`id > cursor ORDER BY
//! id LIMIT n`), never an offset, and takes the clients a caller may see as
//! a filter, so that another client's rows are never read. This module
//! knows rows only: what an instance's state means is the caller's business.

use sea_orm::{ConnectionTrait, TransactionTrait, Value};

use super::sql::{self, Sql};
use super::{
    CaseRow, ClientRow, ContactRow, DebtorRow, DomainRow, InvoiceRow, JournalRow, Result, Store,
    insert_journal, write_domain,
};

/// The clients a query may read: `None` for every client.
pub type ClientFilter<'a> = Option<&'a [String]>;

/// An instance as lists show it (its state left out).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InstanceSummary {
    pub id: String,
    pub case_id: String,
    pub client_id: String,
    pub debtor_id: String,
    pub scenario: String,
    pub version: String,
    pub status: String,
    pub stage: Option<String>,
    pub next_wake: Option<i64>,
    pub updated_at: i64,
}

/// Filters of the instance list; `None` matches everything.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct InstanceFilter {
    pub status: Option<String>,
    pub client_id: Option<String>,
    pub scenario: Option<String>,
    pub stage: Option<String>,
}

/// A stored invoice with its status (`open`, `cancelled`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InvoiceRecord {
    pub row: InvoiceRow,
    pub status: String,
}

/// A payment (or credit note) of a case.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PaymentRecord {
    pub id: i64,
    pub amount: String,
    pub currency: String,
    pub received_on: String,
    pub reference: Option<String>,
    pub source: String,
}

/// A dispute of a case.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DisputeRecord {
    pub id: i64,
    pub invoice: Option<String>,
    pub reason: Option<String>,
    pub opened_at: i64,
    pub resolved_at: Option<i64>,
}

/// What an API call writes besides an instance's new state.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LedgerWrite {
    /// A new invoice of the case (kept as it is when its number exists).
    Invoice(InvoiceRow),
    /// A changed invoice: its amount, due date and status.
    InvoiceChanged {
        client_id: String,
        number: String,
        due: String,
        amount: String,
        status: String,
    },
    /// The debtor's details and the whole set of its contacts.
    Debtor(DebtorRow, Vec<ContactRow>),
    /// A payment row (a credit note is one, with source `credit_note`).
    Domain(DomainRow),
}

/// An instance's new state after an API change, with its journal line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StateChange {
    pub instance_id: String,
    pub state: String,
    pub journal: Vec<JournalRow>,
}

/// `AND column IN (?, …)` for a client filter, with its values.
fn client_clause(column: &str, filter: ClientFilter, values: &mut Vec<Value>) -> String {
    match filter {
        None => String::new(),
        Some([]) => " AND 1 = 0".to_string(),
        Some(ids) => {
            values.extend(ids.iter().map(|id| Value::from(id.clone())));
            format!(" AND {column} IN ({})", sql::marks(ids.len()))
        }
    }
}

impl Store {
    // --- clients ----------------------------------------------------------

    /// Clients after `after` in id order.
    pub async fn api_clients(
        &self,
        filter: ClientFilter<'_>,
        after: &str,
        limit: u64,
    ) -> Result<Vec<ClientRow>> {
        let s = self.sql();
        let mut values = vec![Value::from(after)];
        let clause = client_clause("id", filter, &mut values);
        values.push((limit as i64).into());
        let rows = self
            .connection()
            .query_all_raw(s.stmt(
                &format!(
                    "SELECT id, name, country, brand FROM clients WHERE id > ?{clause} ORDER BY id LIMIT ?"
                ),
                values,
            ))
            .await?;
        rows.iter().map(client_row).collect()
    }

    pub async fn api_client(&self, id: &str) -> Result<Option<ClientRow>> {
        let s = self.sql();
        let row = self
            .connection()
            .query_one_raw(s.stmt(
                "SELECT id, name, country, brand FROM clients WHERE id = ?",
                vec![id.into()],
            ))
            .await?;
        row.as_ref().map(client_row).transpose()
    }

    /// Creates a client or changes its name, country and brand; returns
    /// whether it was new.
    pub async fn api_put_client(&self, client: &ClientRow, now: i64) -> Result<bool> {
        let s = self.sql();
        let tx = self.connection().begin().await?;
        let existed = tx
            .query_one_raw(s.stmt(
                "SELECT id FROM clients WHERE id = ?",
                vec![client.id.clone().into()],
            ))
            .await?
            .is_some();
        if existed {
            tx.execute_raw(s.stmt(
                "UPDATE clients SET name = ?, country = ?, brand = ? WHERE id = ?",
                vec![
                    client.name.clone().into(),
                    client.country.clone().into(),
                    client.brand.clone().into(),
                    client.id.clone().into(),
                ],
            ))
            .await?;
        } else {
            tx.execute_raw(s.stmt(
                "INSERT INTO clients (id, name, country, brand, created_at) VALUES (?, ?, ?, ?, ?)",
                vec![
                    client.id.clone().into(),
                    client.name.clone().into(),
                    client.country.clone().into(),
                    client.brand.clone().into(),
                    now.into(),
                ],
            ))
            .await?;
        }
        tx.commit().await?;
        Ok(!existed)
    }

    // --- debtors ----------------------------------------------------------

    /// Debtors of a client after `after` in id order.
    pub async fn api_debtors(
        &self,
        client_id: &str,
        after: &str,
        limit: u64,
    ) -> Result<Vec<DebtorRow>> {
        let s = self.sql();
        let rows = self
            .connection()
            .query_all_raw(s.stmt(
                "SELECT client_id, id, kind, name, country, language, timezone, siren, vat FROM debtors \
                 WHERE client_id = ? AND id > ? ORDER BY id LIMIT ?",
                vec![client_id.into(), after.into(), (limit as i64).into()],
            ))
            .await?;
        rows.iter().map(debtor_row).collect()
    }

    pub async fn api_debtor(&self, client_id: &str, id: &str) -> Result<Option<DebtorRow>> {
        let s = self.sql();
        let row = self
            .connection()
            .query_one_raw(s.stmt(
                "SELECT client_id, id, kind, name, country, language, timezone, siren, vat FROM debtors \
                 WHERE client_id = ? AND id = ?",
                vec![client_id.into(), id.into()],
            ))
            .await?;
        row.as_ref().map(debtor_row).transpose()
    }

    /// A debtor's contacts, in the order they were added.
    pub async fn api_contacts(&self, client_id: &str, debtor_id: &str) -> Result<Vec<ContactRow>> {
        let s = self.sql();
        let rows = self
            .connection()
            .query_all_raw(s.stmt(
                "SELECT client_id, debtor_id, kind, value FROM contacts WHERE client_id = ? AND debtor_id = ? ORDER BY id",
                vec![client_id.into(), debtor_id.into()],
            ))
            .await?;
        rows.iter()
            .map(|r| {
                Ok(ContactRow {
                    client_id: r.try_get_by_index(0)?,
                    debtor_id: r.try_get_by_index(1)?,
                    kind: r.try_get_by_index(2)?,
                    value: r.try_get_by_index(3)?,
                })
            })
            .collect()
    }

    /// Creates a debtor with its contacts; returns false when it exists.
    pub async fn api_create_debtor(
        &self,
        debtor: &DebtorRow,
        contacts: &[ContactRow],
    ) -> Result<bool> {
        let s = self.sql();
        let tx = self.connection().begin().await?;
        let done = tx
            .execute_raw(s.stmt(
                "INSERT INTO debtors (client_id, id, kind, name, country, language, timezone, siren, vat) \
                 VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (client_id, id) DO NOTHING",
                debtor_values(debtor),
            ))
            .await?;
        if done.rows_affected() == 0 {
            return Ok(false);
        }
        insert_contacts(&tx, &s, contacts).await?;
        tx.commit().await?;
        Ok(true)
    }

    // --- cases and instances ----------------------------------------------

    /// Cases after `after` in id order, of one client or of all it may see.
    pub async fn api_cases(
        &self,
        filter: ClientFilter<'_>,
        client_id: Option<&str>,
        after: &str,
        limit: u64,
    ) -> Result<Vec<CaseRow>> {
        let s = self.sql();
        let mut values = vec![Value::from(after)];
        let mut clause = client_clause("client_id", filter, &mut values);
        if let Some(c) = client_id {
            clause.push_str(" AND client_id = ?");
            values.push(c.into());
        }
        values.push((limit as i64).into());
        let rows = self
            .connection()
            .query_all_raw(s.stmt(
                &format!(
                    "SELECT id, client_id, debtor_id, currency, opened_at FROM cases WHERE id > ?{clause} ORDER BY id LIMIT ?"
                ),
                values,
            ))
            .await?;
        rows.iter().map(case_row).collect()
    }

    pub async fn api_case(&self, id: &str) -> Result<Option<CaseRow>> {
        let s = self.sql();
        let row = self
            .connection()
            .query_one_raw(s.stmt(
                "SELECT id, client_id, debtor_id, currency, opened_at FROM cases WHERE id = ?",
                vec![id.into()],
            ))
            .await?;
        row.as_ref().map(case_row).transpose()
    }

    /// The cases of one debtor, newest first.
    pub async fn api_cases_of_debtor(
        &self,
        client_id: &str,
        debtor_id: &str,
    ) -> Result<Vec<CaseRow>> {
        let s = self.sql();
        let rows = self
            .connection()
            .query_all_raw(s.stmt(
                "SELECT id, client_id, debtor_id, currency, opened_at FROM cases WHERE client_id = ? AND debtor_id = ? \
                 ORDER BY opened_at DESC, id",
                vec![client_id.into(), debtor_id.into()],
            ))
            .await?;
        rows.iter().map(case_row).collect()
    }

    /// Instances after `after` in id order, filtered.
    pub async fn api_instances(
        &self,
        clients: ClientFilter<'_>,
        filter: &InstanceFilter,
        after: &str,
        limit: u64,
    ) -> Result<Vec<InstanceSummary>> {
        let s = self.sql();
        let mut values = vec![Value::from(after)];
        let mut clause = client_clause("c.client_id", clients, &mut values);
        for (column, value) in [
            ("i.status", &filter.status),
            ("c.client_id", &filter.client_id),
            ("i.scenario", &filter.scenario),
            ("i.stage", &filter.stage),
        ] {
            if let Some(v) = value {
                clause.push_str(&format!(" AND {column} = ?"));
                values.push(v.clone().into());
            }
        }
        values.push((limit as i64).into());
        let rows = self
            .connection()
            .query_all_raw(s.stmt(
                &format!(
                    "SELECT {INSTANCE_COLUMNS} FROM instances i JOIN cases c ON c.id = i.case_id \
                     WHERE i.id > ?{clause} ORDER BY i.id LIMIT ?"
                ),
                values,
            ))
            .await?;
        rows.iter().map(instance_summary).collect()
    }

    pub async fn api_instance(&self, id: &str) -> Result<Option<InstanceSummary>> {
        let s = self.sql();
        let row = self
            .connection()
            .query_one_raw(s.stmt(
                &format!(
                    "SELECT {INSTANCE_COLUMNS} FROM instances i JOIN cases c ON c.id = i.case_id WHERE i.id = ?"
                ),
                vec![id.into()],
            ))
            .await?;
        row.as_ref().map(instance_summary).transpose()
    }

    /// The instances of a case, oldest first.
    pub async fn api_instances_of_case(&self, case_id: &str) -> Result<Vec<InstanceSummary>> {
        let s = self.sql();
        let rows = self
            .connection()
            .query_all_raw(s.stmt(
                &format!(
                    "SELECT {INSTANCE_COLUMNS} FROM instances i JOIN cases c ON c.id = i.case_id \
                     WHERE i.case_id = ? ORDER BY i.id"
                ),
                vec![case_id.into()],
            ))
            .await?;
        rows.iter().map(instance_summary).collect()
    }

    /// Ids of an instance's dead or parked outbox rows.
    pub async fn api_dead_letters(&self, instance_id: &str) -> Result<Vec<i64>> {
        let s = self.sql();
        let rows = self
            .connection()
            .query_all_raw(s.stmt(
                "SELECT id FROM outbox WHERE instance_id = ? AND status IN ('dead', 'parked') ORDER BY id",
                vec![instance_id.into()],
            ))
            .await?;
        rows.iter().map(|r| Ok(r.try_get_by_index(0)?)).collect()
    }

    // --- ledger -----------------------------------------------------------

    pub async fn api_invoice(
        &self,
        client_id: &str,
        number: &str,
    ) -> Result<Option<InvoiceRecord>> {
        let s = self.sql();
        let row = self
            .connection()
            .query_one_raw(s.stmt(
                "SELECT client_id, number, debtor_id, case_id, issued, due, amount, currency, status FROM invoices \
                 WHERE client_id = ? AND number = ?",
                vec![client_id.into(), number.into()],
            ))
            .await?;
        row.as_ref().map(invoice_record).transpose()
    }

    /// The invoices of a case, by due date.
    pub async fn api_invoices_of_case(&self, case_id: &str) -> Result<Vec<InvoiceRecord>> {
        let s = self.sql();
        let rows = self
            .connection()
            .query_all_raw(s.stmt(
                "SELECT client_id, number, debtor_id, case_id, issued, due, amount, currency, status FROM invoices \
                 WHERE case_id = ? ORDER BY due, number",
                vec![case_id.into()],
            ))
            .await?;
        rows.iter().map(invoice_record).collect()
    }

    /// Payments of a case after id `after`.
    pub async fn api_payments(
        &self,
        case_id: &str,
        after: i64,
        limit: u64,
    ) -> Result<Vec<PaymentRecord>> {
        let s = self.sql();
        let rows = self
            .connection()
            .query_all_raw(s.stmt(
                "SELECT id, amount, currency, received_on, reference, source FROM payments \
                 WHERE case_id = ? AND id > ? ORDER BY id LIMIT ?",
                vec![case_id.into(), after.into(), (limit as i64).into()],
            ))
            .await?;
        rows.iter()
            .map(|r| {
                Ok(PaymentRecord {
                    id: r.try_get_by_index(0)?,
                    amount: r.try_get_by_index(1)?,
                    currency: r.try_get_by_index(2)?,
                    received_on: r.try_get_by_index(3)?,
                    reference: r.try_get_by_index(4)?,
                    source: r.try_get_by_index(5)?,
                })
            })
            .collect()
    }

    /// Disputes of a case, oldest first.
    pub async fn api_disputes(&self, case_id: &str) -> Result<Vec<DisputeRecord>> {
        let s = self.sql();
        let rows = self
            .connection()
            .query_all_raw(s.stmt(
                "SELECT id, invoice_number, reason, opened_at, resolved_at FROM disputes WHERE case_id = ? ORDER BY id",
                vec![case_id.into()],
            ))
            .await?;
        rows.iter()
            .map(|r| {
                Ok(DisputeRecord {
                    id: r.try_get_by_index(0)?,
                    invoice: r.try_get_by_index(1)?,
                    reason: r.try_get_by_index(2)?,
                    opened_at: r.try_get_by_index(3)?,
                    resolved_at: r.try_get_by_index(4)?,
                })
            })
            .collect()
    }

    /// Writes instances' new states with the ledger rows that go with
    /// them, in one transaction. An instance leased by a scheduler right now
    /// is not overwritten: then nothing is written and `false` returned, so
    /// that the caller can say "try again".
    pub async fn api_change(
        &self,
        states: &[StateChange],
        ledger: &[LedgerWrite],
        now: i64,
    ) -> Result<bool> {
        let s = self.sql();
        let tx = self.connection().begin().await?;
        for change in states {
            let done = tx
                .execute_raw(s.stmt(
                    "UPDATE instances SET state = ?, updated_at = ? WHERE id = ? AND (lease_until IS NULL OR lease_until < ?)",
                    vec![
                        change.state.clone().into(),
                        now.into(),
                        change.instance_id.clone().into(),
                        now.into(),
                    ],
                ))
                .await?;
            if done.rows_affected() == 0 {
                tx.rollback().await?;
                return Ok(false);
            }
        }
        let journal: Vec<JournalRow> = states.iter().flat_map(|c| c.journal.clone()).collect();
        insert_journal(&tx, &s, &journal).await?;
        let mut domain = Vec::new();
        for write in ledger {
            match write {
                LedgerWrite::Invoice(i) => {
                    tx.execute_raw(s.stmt(
                        "INSERT INTO invoices (client_id, number, debtor_id, case_id, issued, due, amount, currency) \
                         VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (client_id, number) DO NOTHING",
                        vec![
                            i.client_id.clone().into(),
                            i.number.clone().into(),
                            i.debtor_id.clone().into(),
                            i.case_id.clone().into(),
                            i.issued.clone().into(),
                            i.due.clone().into(),
                            i.amount.clone().into(),
                            i.currency.clone().into(),
                        ],
                    ))
                    .await?;
                }
                LedgerWrite::InvoiceChanged {
                    client_id,
                    number,
                    due,
                    amount,
                    status,
                } => {
                    tx.execute_raw(s.stmt(
                        "UPDATE invoices SET due = ?, amount = ?, status = ? WHERE client_id = ? AND number = ?",
                        vec![
                            due.clone().into(),
                            amount.clone().into(),
                            status.clone().into(),
                            client_id.clone().into(),
                            number.clone().into(),
                        ],
                    ))
                    .await?;
                }
                LedgerWrite::Debtor(d, contacts) => {
                    let mut values = debtor_values(d);
                    // The key goes last, for the WHERE.
                    let id = values.remove(1);
                    let client = values.remove(0);
                    values.extend([client, id]);
                    tx.execute_raw(s.stmt(
                        "UPDATE debtors SET kind = ?, name = ?, country = ?, language = ?, timezone = ?, siren = ?, vat = ? \
                         WHERE client_id = ? AND id = ?",
                        values,
                    ))
                    .await?;
                    tx.execute_raw(s.stmt(
                        "DELETE FROM contacts WHERE client_id = ? AND debtor_id = ?",
                        vec![d.client_id.clone().into(), d.id.clone().into()],
                    ))
                    .await?;
                    insert_contacts(&tx, &s, contacts).await?;
                }
                LedgerWrite::Domain(row) => domain.push(row),
            }
        }
        write_domain(&tx, &s, &domain).await?;
        tx.commit().await?;
        Ok(true)
    }
}

const INSTANCE_COLUMNS: &str = "i.id, i.case_id, c.client_id, c.debtor_id, i.scenario, i.version, i.status, i.stage, i.next_wake, i.updated_at";

async fn insert_contacts(
    tx: &impl ConnectionTrait,
    s: &Sql,
    contacts: &[ContactRow],
) -> Result<()> {
    if contacts.is_empty() {
        return Ok(());
    }
    let mut values = Vec::with_capacity(contacts.len() * 4);
    for c in contacts {
        values.extend([
            c.client_id.clone().into(),
            c.debtor_id.clone().into(),
            c.kind.clone().into(),
            c.value.clone().into(),
        ]);
    }
    tx.execute_raw(s.stmt(
        &format!(
            "INSERT INTO contacts (client_id, debtor_id, kind, value) VALUES {} \
             ON CONFLICT (client_id, debtor_id, kind, value) DO NOTHING",
            sql::tuples(contacts.len(), 4)
        ),
        values,
    ))
    .await?;
    Ok(())
}

fn debtor_values(d: &DebtorRow) -> Vec<Value> {
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
}

fn client_row(r: &sea_orm::QueryResult) -> Result<ClientRow> {
    Ok(ClientRow {
        id: r.try_get_by_index(0)?,
        name: r.try_get_by_index(1)?,
        country: r.try_get_by_index(2)?,
        brand: r.try_get_by_index(3)?,
    })
}

fn debtor_row(r: &sea_orm::QueryResult) -> Result<DebtorRow> {
    Ok(DebtorRow {
        client_id: r.try_get_by_index(0)?,
        id: r.try_get_by_index(1)?,
        kind: r.try_get_by_index(2)?,
        name: r.try_get_by_index(3)?,
        country: r.try_get_by_index(4)?,
        language: r.try_get_by_index(5)?,
        timezone: r.try_get_by_index(6)?,
        siren: r.try_get_by_index(7)?,
        vat: r.try_get_by_index(8)?,
    })
}

fn case_row(r: &sea_orm::QueryResult) -> Result<CaseRow> {
    Ok(CaseRow {
        id: r.try_get_by_index(0)?,
        client_id: r.try_get_by_index(1)?,
        debtor_id: r.try_get_by_index(2)?,
        currency: r.try_get_by_index(3)?,
        opened_at: r.try_get_by_index(4)?,
    })
}

fn instance_summary(r: &sea_orm::QueryResult) -> Result<InstanceSummary> {
    Ok(InstanceSummary {
        id: r.try_get_by_index(0)?,
        case_id: r.try_get_by_index(1)?,
        client_id: r.try_get_by_index(2)?,
        debtor_id: r.try_get_by_index(3)?,
        scenario: r.try_get_by_index(4)?,
        version: r.try_get_by_index(5)?,
        status: r.try_get_by_index(6)?,
        stage: r.try_get_by_index(7)?,
        next_wake: r.try_get_by_index(8)?,
        updated_at: r.try_get_by_index(9)?,
    })
}

fn invoice_record(r: &sea_orm::QueryResult) -> Result<InvoiceRecord> {
    Ok(InvoiceRecord {
        row: InvoiceRow {
            client_id: r.try_get_by_index(0)?,
            number: r.try_get_by_index(1)?,
            debtor_id: r.try_get_by_index(2)?,
            case_id: r.try_get_by_index(3)?,
            issued: r.try_get_by_index(4)?,
            due: r.try_get_by_index(5)?,
            amount: r.try_get_by_index(6)?,
            currency: r.try_get_by_index(7)?,
        },
        status: r.try_get_by_index(8)?,
    })
}
