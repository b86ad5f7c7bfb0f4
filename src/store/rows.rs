//! The rows the store reads and writes.

/// A stored scenario version.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ScenarioVersionRow {
    pub name: String,
    pub version: String,
    pub yaml: String,
    pub created_at: i64,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClientRow {
    pub id: String,
    pub name: String,
    pub country: Option<String>,
    /// The client's brand, JSON.
    pub brand: String,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DebtorRow {
    pub client_id: String,
    pub id: String,
    pub kind: String,
    pub name: String,
    pub country: Option<String>,
    pub language: String,
    pub timezone: String,
    pub siren: Option<String>,
    pub vat: Option<String>,
}

/// One way to reach a debtor: `email`, `mobile`, `phone` or `address`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ContactRow {
    pub client_id: String,
    pub debtor_id: String,
    pub kind: String,
    pub value: String,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CaseRow {
    pub id: String,
    pub client_id: String,
    pub debtor_id: String,
    pub currency: String,
    pub opened_at: i64,
}

/// Dates are `YYYY-MM-DD`, amounts decimal strings.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InvoiceRow {
    pub client_id: String,
    pub number: String,
    pub debtor_id: String,
    pub case_id: String,
    pub issued: String,
    pub due: String,
    pub amount: String,
    pub currency: String,
}

/// A new instance: its engine state as JSON.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InstanceRow {
    pub id: String,
    pub case_id: String,
    pub scenario: String,
    pub version: String,
    pub status: String,
    pub stage: Option<String>,
    pub next_wake: Option<i64>,
    pub state: String,
}

/// Everything an import writes, in one transaction.
#[derive(Clone, Debug, Default)]
pub struct ImportBatch {
    pub clients: Vec<ClientRow>,
    pub debtors: Vec<DebtorRow>,
    pub contacts: Vec<ContactRow>,
    pub cases: Vec<CaseRow>,
    pub invoices: Vec<InvoiceRow>,
    pub instances: Vec<InstanceRow>,
    pub journal: Vec<JournalRow>,
    pub outbox: Vec<OutboxInsert>,
}

/// What an import changed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ImportStats {
    pub cases: u64,
    pub invoices: u64,
    pub instances: u64,
}

/// A journal line; times in Unix milliseconds.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct JournalRow {
    pub instance_id: String,
    pub at: i64,
    pub kind: String,
    pub stage: Option<String>,
    pub step: Option<String>,
    pub channel: Option<String>,
    pub template: Option<String>,
    pub detail: String,
    pub balance: String,
    pub total_due: String,
    pub currency: String,
}

/// A send to write to the outbox; `action` is the engine's action, JSON.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OutboxInsert {
    pub key: String,
    pub instance_id: String,
    pub step: String,
    pub channel: String,
    pub action: String,
    pub irreversible: bool,
    pub not_before: i64,
}

/// An outbox row leased for sending.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OutboxRow {
    pub id: i64,
    pub key: String,
    pub instance_id: String,
    pub step: String,
    pub channel: String,
    pub action: String,
    pub irreversible: bool,
    /// Attempts so far, this one included.
    pub attempts: i64,
}

/// What became of a send.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum OutboxFate {
    Sent {
        provider_id: Option<String>,
    },
    /// Try again at `at` (Unix milliseconds).
    Retry {
        at: i64,
        error: String,
    },
    /// Gave up: the dead-letter queue, for an operator to retry.
    Dead {
        error: String,
    },
    /// Outcome unknown on an irreversible channel: an operator decides.
    Parked {
        error: String,
    },
}

/// An event not yet applied to its instance.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PendingEvent {
    pub id: i64,
    /// The engine's event, JSON.
    pub payload: String,
}

/// An instance leased to one scheduler.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClaimedInstance {
    pub id: String,
    pub scenario: String,
    pub version: String,
    pub state: String,
    /// Its events waiting to be applied, oldest first.
    pub events: Vec<PendingEvent>,
}

/// The outcome of one instance's steps in a batch.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StepRecord {
    pub id: String,
    pub state: String,
    pub status: String,
    pub stage: Option<String>,
    pub next_wake: Option<i64>,
    /// Engine calls made for this instance in the batch.
    pub steps: u64,
    pub journal: Vec<JournalRow>,
    pub outbox: Vec<OutboxInsert>,
    pub events_applied: Vec<i64>,
    /// Events refused by the engine, with why: marked so they are not retried.
    pub events_refused: Vec<(i64, String)>,
    /// The case ended: pending sends are cancelled.
    pub cancel_pending: bool,
    /// Payments, disputes and promises the step recorded, for the
    /// accounts-receivable tables.
    pub domain: Vec<DomainRow>,
}

/// A change to the accounts-receivable tables that goes with a step.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DomainRow {
    /// Money received, and how it was allocated to invoices.
    Payment {
        client_id: String,
        debtor_id: String,
        case_id: String,
        amount: String,
        currency: String,
        received_on: String,
        reference: Option<String>,
        source: String,
        allocations: Vec<(String, String)>,
    },
    DisputeOpened {
        case_id: String,
        invoice: Option<String>,
        reason: Option<String>,
        at: i64,
    },
    DisputeResolved {
        case_id: String,
        at: i64,
    },
    /// A promise to pay (`kind` promise) or a payment plan (`kind` plan).
    Promise {
        case_id: String,
        kind: String,
        due_on: String,
        amount: String,
        instalments: String,
        at: i64,
    },
    /// The running promise of a case was kept or broken.
    PromiseSettled {
        case_id: String,
        status: String,
    },
}

/// A new event for an instance.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewEvent {
    pub delivery_id: Option<String>,
    pub instance_id: String,
    pub kind: String,
    pub payload: String,
}

/// Counts for status, metrics and readiness.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct StatusReport {
    /// (status, count) of instances.
    pub instances: Vec<(String, i64)>,
    /// (status, count) of outbox rows.
    pub outbox: Vec<(String, i64)>,
    /// Instances due now.
    pub due_now: i64,
    pub events_pending: i64,
    pub journal_entries: i64,
    /// (stage, status, count) of instances.
    pub stages: Vec<(Option<String>, String, i64)>,
}

/// An instance moved to another scenario version by an operator.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MigratedInstance {
    pub id: String,
    pub version: String,
    pub state: String,
    pub stage: Option<String>,
    pub next_wake: Option<i64>,
}
