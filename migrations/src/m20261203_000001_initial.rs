//! The first schema: the domain (clients, debtors, invoices, payments,
//! disputes, promises, cases), the runtime (scenario versions, instances,
//! journal, outbox, events) and the edges (webhook deliveries, audit log).
//!
//! Amounts are decimal strings (TEXT), never floating point; times are Unix
//! milliseconds (BIGINT, UTC); dates are `YYYY-MM-DD` text.

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::DbBackend;

#[derive(DeriveMigrationName)]
pub struct Migration;

const SCHEMA: &str = r#"
CREATE TABLE clients (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    country TEXT,
    brand TEXT NOT NULL DEFAULT '{}',
    created_at BIGINT NOT NULL
);
CREATE TABLE debtors (
    client_id TEXT NOT NULL REFERENCES clients(id),
    id TEXT NOT NULL,
    kind TEXT NOT NULL,
    name TEXT NOT NULL,
    country TEXT,
    language TEXT NOT NULL,
    timezone TEXT NOT NULL,
    siren TEXT,
    vat TEXT,
    risk TEXT,
    risk_score BIGINT,
    credit_limit TEXT,
    watch BOOLEAN NOT NULL DEFAULT FALSE,
    PRIMARY KEY (client_id, id)
);
CREATE TABLE contacts (
    id {ID},
    client_id TEXT NOT NULL,
    debtor_id TEXT NOT NULL,
    kind TEXT NOT NULL,
    value TEXT NOT NULL,
    FOREIGN KEY (client_id, debtor_id) REFERENCES debtors(client_id, id),
    UNIQUE (client_id, debtor_id, kind, value)
);
CREATE TABLE cases (
    id TEXT PRIMARY KEY,
    client_id TEXT NOT NULL,
    debtor_id TEXT NOT NULL,
    currency TEXT NOT NULL,
    opened_at BIGINT NOT NULL,
    FOREIGN KEY (client_id, debtor_id) REFERENCES debtors(client_id, id)
);
CREATE TABLE invoices (
    client_id TEXT NOT NULL,
    number TEXT NOT NULL,
    debtor_id TEXT NOT NULL,
    case_id TEXT NOT NULL REFERENCES cases(id),
    issued TEXT NOT NULL,
    due TEXT NOT NULL,
    amount TEXT NOT NULL,
    currency TEXT NOT NULL,
    status TEXT NOT NULL DEFAULT 'open',
    PRIMARY KEY (client_id, number)
);
CREATE TABLE payments (
    id {ID},
    client_id TEXT NOT NULL,
    debtor_id TEXT NOT NULL,
    case_id TEXT,
    amount TEXT NOT NULL,
    currency TEXT NOT NULL,
    received_on TEXT NOT NULL,
    reference TEXT,
    source TEXT NOT NULL
);
CREATE TABLE allocations (
    id {ID},
    payment_id BIGINT NOT NULL REFERENCES payments(id),
    client_id TEXT NOT NULL,
    invoice_number TEXT NOT NULL,
    amount TEXT NOT NULL
);
CREATE TABLE disputes (
    id {ID},
    case_id TEXT NOT NULL REFERENCES cases(id),
    invoice_number TEXT,
    reason TEXT,
    opened_at BIGINT NOT NULL,
    resolved_at BIGINT
);
CREATE TABLE promises (
    id {ID},
    case_id TEXT NOT NULL REFERENCES cases(id),
    kind TEXT NOT NULL,
    due_on TEXT NOT NULL,
    amount TEXT NOT NULL,
    instalments TEXT NOT NULL DEFAULT '[]',
    status TEXT NOT NULL DEFAULT 'running',
    made_at BIGINT NOT NULL
);
CREATE TABLE scenario_versions (
    name TEXT NOT NULL,
    version TEXT NOT NULL,
    yaml TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (name, version)
);
CREATE TABLE instances (
    id TEXT PRIMARY KEY,
    case_id TEXT NOT NULL REFERENCES cases(id),
    scenario TEXT NOT NULL,
    version TEXT NOT NULL,
    status TEXT NOT NULL,
    stage TEXT,
    next_wake BIGINT,
    state TEXT NOT NULL,
    lease_owner TEXT,
    lease_until BIGINT,
    steps BIGINT NOT NULL DEFAULT 0,
    updated_at BIGINT NOT NULL
);
CREATE INDEX instances_due ON instances (next_wake) WHERE next_wake IS NOT NULL;
CREATE TABLE journal (
    id {ID},
    instance_id TEXT NOT NULL,
    at BIGINT NOT NULL,
    kind TEXT NOT NULL,
    stage TEXT,
    step TEXT,
    channel TEXT,
    template TEXT,
    detail TEXT NOT NULL,
    balance TEXT NOT NULL,
    total_due TEXT NOT NULL,
    currency TEXT NOT NULL
);
CREATE INDEX journal_instance ON journal (instance_id, id);
CREATE TABLE outbox (
    id {ID},
    key TEXT NOT NULL UNIQUE,
    instance_id TEXT NOT NULL,
    step TEXT NOT NULL,
    channel TEXT NOT NULL,
    action TEXT NOT NULL,
    irreversible BOOLEAN NOT NULL,
    not_before BIGINT NOT NULL,
    status TEXT NOT NULL,
    attempts BIGINT NOT NULL DEFAULT 0,
    next_attempt BIGINT NOT NULL,
    last_error TEXT,
    provider_id TEXT,
    lease_owner TEXT,
    lease_until BIGINT,
    created_at BIGINT NOT NULL,
    sent_at BIGINT
);
CREATE INDEX outbox_ready ON outbox (status, next_attempt);
CREATE INDEX outbox_instance ON outbox (instance_id);
CREATE TABLE events (
    id {ID},
    delivery_id TEXT UNIQUE,
    instance_id TEXT NOT NULL,
    type TEXT NOT NULL,
    payload TEXT NOT NULL,
    received_at BIGINT NOT NULL,
    applied_at BIGINT,
    error TEXT
);
CREATE INDEX events_pending ON events (instance_id, id) WHERE applied_at IS NULL;
CREATE TABLE webhook_deliveries (
    id TEXT PRIMARY KEY,
    source TEXT NOT NULL,
    received_at BIGINT NOT NULL,
    status TEXT NOT NULL
);
CREATE TABLE audit_log (
    id {ID},
    at BIGINT NOT NULL,
    actor TEXT NOT NULL,
    action TEXT NOT NULL,
    subject TEXT NOT NULL,
    detail TEXT NOT NULL DEFAULT ''
);
"#;

const DROP: &str = "audit_log webhook_deliveries events outbox journal instances scenario_versions \
                    promises disputes allocations payments invoices cases contacts debtors clients";

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let id = match manager.get_database_backend() {
            DbBackend::Postgres => "BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY",
            _ => "INTEGER PRIMARY KEY AUTOINCREMENT",
        };
        let sql = SCHEMA.replace("{ID}", id);
        let db = manager.get_connection();
        for statement in sql.split(';').map(str::trim).filter(|s| !s.is_empty()) {
            db.execute_unprepared(statement).await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        for table in DROP.split_whitespace() {
            db.execute_unprepared(&format!("DROP TABLE IF EXISTS {table}"))
                .await?;
        }
        Ok(())
    }
}
