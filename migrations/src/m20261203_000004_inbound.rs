//! Incoming partner webhooks: each verified delivery keeps what it said and what became
//! of it, so that one of an unknown type, or one that matches no case, is never lost.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

/// The columns added to `webhook_deliveries` (id, source, received_at, status).
const COLUMNS: &[(&str, &str)] = &[
    ("event_type", "TEXT"),
    ("instance_id", "TEXT"),
    ("reason", "TEXT"),
    ("payload", "TEXT"),
];

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        for (name, kind) in COLUMNS {
            db.execute_unprepared(&format!(
                "ALTER TABLE webhook_deliveries ADD COLUMN {name} {kind}"
            ))
            .await?;
        }
        db.execute_unprepared(
            "CREATE INDEX webhook_deliveries_status ON webhook_deliveries (status, received_at)",
        )
        .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        db.execute_unprepared("DROP INDEX IF EXISTS webhook_deliveries_status")
            .await?;
        for (name, _) in COLUMNS {
            db.execute_unprepared(&format!(
                "ALTER TABLE webhook_deliveries DROP COLUMN {name}"
            ))
            .await?;
        }
        Ok(())
    }
}
