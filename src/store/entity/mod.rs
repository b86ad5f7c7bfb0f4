//! sea-orm entities of every table, for reads and tools; the hot write
//! path uses set-based statements instead (see the module above).

pub mod allocations;
pub mod audit_log;
pub mod cases;
pub mod clients;
pub mod contacts;
pub mod debtors;
pub mod disputes;
pub mod events;
pub mod instances;
pub mod invoices;
pub mod journal;
pub mod outbox;
pub mod payments;
pub mod promises;
pub mod scenario_versions;
pub mod webhook_deliveries;
