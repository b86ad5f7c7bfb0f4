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

#[cfg(test)]
mod tests {
    use chrono::{NaiveDate, TimeZone};
    use rust_decimal::Decimal;

    use super::*;
    use crate::engine::{Case, Client, Debtor, DebtorKind, Invoice, shared};
    use crate::money::Currency;

    fn scenario(first_step: &str) -> Scenario {
        let text = format!(
            "scenario: plan\nstages:\n  - id: reminders\n    steps:\n      - id: {first_step}\n        at: due + 10d\n        send: {{ channel: email, template: reminder_email }}\n      - id: last\n        after: 7d\n        send: {{ channel: email, template: reminder_email }}\n"
        );
        let loaded = crate::scenario::load(shared().rules, "plan.yaml", &text);
        loaded.scenario.expect("the test scenario loads")
    }

    fn case() -> Case {
        Case {
            id: "acme/D-1".into(),
            client: Client {
                id: "acme".into(),
                name: "Acme".into(),
                country: Some("FR".into()),
            },
            debtor: Debtor {
                id: "D-1".into(),
                kind: DebtorKind::Company,
                name: "D".into(),
                country: Some("FR".into()),
                language: "fr".into(),
                timezone: chrono_tz::Europe::Paris,
                email: Some("d@example.com".into()),
                mobile: None,
                phone: None,
                fax: None,
                address: None,
                siren: None,
                vat: None,
                risk: None,
                risk_score: None,
                credit_limit: None,
                watch: false,
            },
            invoices: vec![Invoice {
                number: "INV-1".into(),
                issued: NaiveDate::from_ymd_opt(2026, 11, 1).unwrap(),
                due: NaiveDate::from_ymd_opt(2026, 11, 30).unwrap(),
                amount: Decimal::new(10_000, 2),
                currency: Currency::EUR,
                allocations: Vec::new(),
            }],
        }
    }

    #[test]
    fn an_instance_moves_only_when_the_mapping_covers_its_step() {
        let now = Utc.with_ymd_and_hms(2026, 12, 1, 9, 0, 0).unwrap();
        let old = scenario("first");
        let new = scenario("gentle_first");
        assert_ne!(old.version, new.version);
        let started = shared().start(&old, case(), now).unwrap();
        let state = serde_json::to_string(&started.instance).unwrap();
        let instances = vec![("acme/D-1".to_string(), old.version.clone(), state)];
        let versions = BTreeMap::from([(old.version.clone(), Arc::new(old))]);

        let plan = plan_migration(&new, &versions, &BTreeMap::new(), &instances, now).unwrap();
        assert!(plan.rows.is_empty());
        assert_eq!(plan.unmapped, ["acme/D-1 (on step `first`)"]);

        let mapping = BTreeMap::from([("first".to_string(), "gentle_first".to_string())]);
        let plan = plan_migration(&new, &versions, &mapping, &instances, now).unwrap();
        assert_eq!(plan.rows.len(), 1);
        assert_eq!(plan.rows[0].version, new.version);
        assert_eq!(plan.rows[0].stage.as_deref(), Some("reminders"));
        let moved: Instance = serde_json::from_str(&plan.rows[0].state).unwrap();
        assert_eq!(
            moved.position.map(|p| new.step(p).id.clone()).as_deref(),
            Some("gentle_first")
        );
        assert!(plan.journal[0].detail.starts_with("migrated from version"));
    }

    #[test]
    fn a_mapping_to_a_step_the_target_lacks_is_refused() {
        let target = scenario("first");
        let mapping = BTreeMap::from([("first".to_string(), "nowhere".to_string())]);
        let err = check_mapping(&target, &mapping).unwrap_err();
        assert!(err.to_string().contains("no step `nowhere`"), "{err}");
    }
}
