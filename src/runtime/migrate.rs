//! Moving instances to another version of their scenario, with an
//! operator's explicit step-to-step mapping.
//!
//! This module only plans: from the instances' stored states and the
//! compiled versions it computes their new states and journal lines, and
//! names the instances the mapping does not cover. Writing the plan is the
//! store's `rewrite_instances`; the command line and the API both call it.

use std::collections::BTreeMap;
use std::sync::Arc;

use chrono::{DateTime, Utc};

use super::journal_row;
use crate::engine::{EntryKind, Instance, JournalEntry};
use crate::scenario::Scenario;
use crate::store::{JournalRow, MigratedInstance};

/// Why a migration cannot be planned.
#[derive(Debug, thiserror::Error)]
pub enum MigrateError {
    /// The mapping names a step the target version does not have.
    #[error("version {to} of {scenario} has no step `{step}`")]
    UnknownStep {
        scenario: String,
        to: String,
        step: String,
    },
    /// An instance's version was not given to the planner.
    #[error("scenario {scenario} version {version} is not known")]
    UnknownVersion { scenario: String, version: String },
    #[error("instance {id}: stored state is unreadable: {reason}")]
    BadState { id: String, reason: String },
}

/// What a migration writes, and what it leaves where it is.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct MigrationPlan {
    pub rows: Vec<MigratedInstance>,
    pub journal: Vec<JournalRow>,
    /// Instances on a step the mapping does not cover: `id (on step `s`)`.
    pub unmapped: Vec<String>,
}

/// Checks that every step the mapping leads to exists in `target`.
pub fn check_mapping(
    target: &Scenario,
    mapping: &BTreeMap<String, String>,
) -> Result<(), MigrateError> {
    for new in mapping.values() {
        if target.find(new).is_none() {
            return Err(MigrateError::UnknownStep {
                scenario: target.name.clone(),
                to: target.version.clone(),
                step: new.clone(),
            });
        }
    }
    Ok(())
}

/// Plans moving `instances` — (id, version, state JSON) — to `target`.
/// `versions` holds the compiled versions they are on now; instances
/// already on the target version are left out.
pub fn plan_migration(
    target: &Scenario,
    versions: &BTreeMap<String, Arc<Scenario>>,
    mapping: &BTreeMap<String, String>,
    instances: &[(String, String, String)],
    now: DateTime<Utc>,
) -> Result<MigrationPlan, MigrateError> {
    check_mapping(target, mapping)?;
    let to = &target.version;
    let mut plan = MigrationPlan::default();
    for (id, version, state) in instances {
        if version == to {
            continue;
        }
        let old = versions
            .get(version)
            .ok_or_else(|| MigrateError::UnknownVersion {
                scenario: target.name.clone(),
                version: version.clone(),
            })?;
        let mut inst: Instance =
            serde_json::from_str(state).map_err(|e| MigrateError::BadState {
                id: id.clone(),
                reason: e.to_string(),
            })?;
        let position = inst.position.map(|p| old.step(p).id.clone());
        let new_position = match &position {
            None => None,
            Some(step) => match mapping.get(step) {
                Some(new) => target.find(new),
                None => {
                    plan.unmapped.push(format!("{id} (on step `{step}`)"));
                    continue;
                }
            },
        };
        inst.version = to.clone();
        inst.position = new_position;
        let stage = new_position.map(|p| target.stage_of(p).id.clone());
        let entry = JournalEntry {
            at: now,
            stage: stage.clone(),
            step: new_position.map(|p| target.step(p).id.clone()),
            kind: EntryKind::Goto,
            channel: None,
            template: None,
            detail: format!(
                "migrated from version {version} step {} to version {to}",
                position.as_deref().unwrap_or("-")
            ),
            balance: inst.balance(),
            total_due: inst.total_due(),
            currency: inst.currency,
        };
        plan.journal.push(journal_row(id, &entry));
        let state = serde_json::to_string(&inst).map_err(|e| MigrateError::BadState {
            id: id.clone(),
            reason: e.to_string(),
        })?;
        plan.rows.push(MigratedInstance {
            id: id.clone(),
            version: to.clone(),
            state,
            stage,
            next_wake: inst.next_wake.map(|t| t.timestamp_millis()),
        });
    }
    Ok(plan)
}
