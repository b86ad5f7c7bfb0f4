//! Database migrations for relance, for SQLite and PostgreSQL alike.
//!
//! Each migration is plain SQL with two spellings where the databases
//! differ (an auto-incremented key). They run on start (`relance serve`) and
//! by `relance migrate`.

pub use sea_orm_migration::prelude::*;

mod m20261203_000001_initial;
mod m20261203_000002_tasks;
mod m20261203_000003_access;
mod m20261203_000004_inbound;

pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(m20261203_000001_initial::Migration),
            Box::new(m20261203_000002_tasks::Migration),
            Box::new(m20261203_000003_access::Migration),
            Box::new(m20261203_000004_inbound::Migration),
        ]
    }
}
