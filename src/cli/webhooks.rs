//! `relance webhooks list`: the partner webhooks relance verified and stored, above all
//! those it could not place (an unknown type, no matching case, unusable content), so that
//! an operator sees what a partner sent and nothing is lost silently.

use anyhow::bail;
use chrono::{TimeZone, Utc};
use clap::Subcommand;

use super::runtime::{ConfigArg, runtime};
use crate::runtime::service::open_store;

/// What a stored delivery's status may be.
const STATUSES: [&str; 4] = ["unknown_type", "unmatched", "invalid", "applied"];

#[derive(Subcommand, Debug)]
pub enum WebhooksCommand {
    /// Stored deliveries, oldest first.
    List {
        /// unknown_type, unmatched, invalid or applied; default: all.
        #[arg(long)]
        status: Option<String>,
        #[arg(long, default_value_t = 50)]
        limit: u64,
        /// Print each delivery's body too (it may hold personal data).
        #[arg(long)]
        payload: bool,
        #[command(flatten)]
        config: ConfigArg,
    },
}

pub fn webhooks_cmd(cmd: WebhooksCommand) -> anyhow::Result<i32> {
    let WebhooksCommand::List {
        status,
        limit,
        payload,
        config,
    } = cmd;
    if let Some(s) = &status
        && !STATUSES.contains(&s.as_str())
    {
        bail!("--status {s}: use {}", STATUSES.join(", "));
    }
    let config = config.load()?;
    runtime()?.block_on(async {
        let store = open_store(&config).await?;
        let rows = store.inbound_deliveries(status.as_deref(), limit).await?;
        if rows.is_empty() {
            match &status {
                Some(s) => println!("no stored webhook is {s}"),
                None => println!("no webhook stored"),
            }
        }
        for row in rows {
            let at = Utc
                .timestamp_millis_opt(row.received_at)
                .single()
                .map(|t| t.to_rfc3339())
                .unwrap_or_default();
            println!(
                "{at}  {:<12} {:<14} {}  {}",
                row.source,
                row.status,
                row.event_type.as_deref().unwrap_or("-"),
                row.id
            );
            if let Some(instance) = &row.instance_id {
                println!("    instance {instance}");
            }
            if let Some(reason) = &row.reason {
                println!("    {reason}");
            }
            if payload && let Some(body) = &row.payload {
                println!("    {body}");
            }
        }
        anyhow::Ok(0)
    })
}
