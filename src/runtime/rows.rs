//! Translating the engine's values into the store's rows.

use chrono::{DateTime, Utc};

use crate::engine::{Action, ActionKind, Case, Instance, JournalEntry, Transition};
use crate::money::round;
use crate::scenario::{Channel, Scenario};
use crate::store::{
    CaseRow, ClientRow, ContactRow, DebtorRow, ImportBatch, InstanceRow, InvoiceRow, JournalRow,
    OutboxInsert,
};

pub fn journal_row(instance_id: &str, e: &JournalEntry) -> JournalRow {
    JournalRow {
        instance_id: instance_id.to_string(),
        at: e.at.timestamp_millis(),
        kind: e.kind.name().to_string(),
        stage: e.stage.clone(),
        step: e.step.clone(),
        channel: e.channel.map(|c| c.name().to_string()),
        template: e.template.clone(),
        detail: e.detail.clone(),
        balance: round(e.balance, e.currency).to_string(),
        total_due: round(e.total_due, e.currency).to_string(),
        currency: e.currency.code().to_string(),
    }
}

/// The channel an action leaves on, and whether it can never be repeated.
pub fn action_channel(a: &Action) -> (Channel, bool) {
    match &a.kind {
        ActionKind::Send { channel, .. } => (*channel, channel.is_irreversible()),
        ActionKind::Task { .. } => (Channel::Phone, false),
        ActionKind::Handover { .. } | ActionKind::Claim { .. } => (Channel::Webhook, true),
    }
}

pub fn outbox_row(instance_id: &str, a: &Action) -> OutboxInsert {
    let (channel, irreversible) = action_channel(a);
    OutboxInsert {
        key: a.key.clone(),
        instance_id: instance_id.to_string(),
        step: a.step.clone(),
        channel: channel.name().to_string(),
        action: serde_json::to_string(a).unwrap_or_default(),
        irreversible,
        not_before: a.at.timestamp_millis(),
    }
}

/// The stage an instance stands in, for counts.
pub fn stage_of(sc: &Scenario, inst: &Instance) -> Option<String> {
    inst.position.map(|p| sc.stage_of(p).id.clone())
}

pub fn state_json(inst: &Instance) -> String {
    serde_json::to_string(inst).unwrap_or_default()
}

/// Rows for new cases and their started instances.
pub fn import_batch(
    started: &[(Case, &Scenario, Transition)],
    opened: DateTime<Utc>,
) -> ImportBatch {
    let mut b = ImportBatch::default();
    let mut clients = std::collections::BTreeSet::new();
    let mut debtors = std::collections::BTreeSet::new();
    for (case, sc, t) in started {
        let inst = &t.instance;
        if clients.insert(case.client.id.clone()) {
            b.clients.push(ClientRow {
                id: case.client.id.clone(),
                name: case.client.name.clone(),
                country: case.client.country.clone(),
                brand: "{}".into(),
            });
        }
        let d = &case.debtor;
        if debtors.insert((case.client.id.clone(), d.id.clone())) {
            b.debtors.push(DebtorRow {
                client_id: case.client.id.clone(),
                id: d.id.clone(),
                kind: d.kind.name().to_string(),
                name: d.name.clone(),
                country: d.country.clone(),
                language: d.language.clone(),
                timezone: d.timezone.name().to_string(),
                siren: d.siren.clone(),
                vat: d.vat.clone(),
            });
            for (kind, value) in [
                ("email", &d.email),
                ("mobile", &d.mobile),
                ("phone", &d.phone),
            ] {
                if let Some(v) = value {
                    b.contacts.push(ContactRow {
                        client_id: case.client.id.clone(),
                        debtor_id: d.id.clone(),
                        kind: kind.into(),
                        value: v.clone(),
                    });
                }
            }
        }
        b.cases.push(CaseRow {
            id: inst.id.clone(),
            client_id: case.client.id.clone(),
            debtor_id: d.id.clone(),
            currency: inst.currency.code().to_string(),
            opened_at: opened.timestamp_millis(),
        });
        for i in &case.invoices {
            b.invoices.push(InvoiceRow {
                client_id: case.client.id.clone(),
                number: i.number.clone(),
                debtor_id: d.id.clone(),
                case_id: inst.id.clone(),
                issued: i.issued.to_string(),
                due: i.due.to_string(),
                amount: i.amount.to_string(),
                currency: i.currency.code().to_string(),
            });
        }
        b.instances.push(InstanceRow {
            id: inst.id.clone(),
            case_id: inst.id.clone(),
            scenario: inst.scenario.clone(),
            version: inst.version.clone(),
            status: inst.status.name().to_string(),
            stage: stage_of(sc, inst),
            next_wake: inst.next_wake.map(|t| t.timestamp_millis()),
            state: state_json(inst),
        });
        b.journal
            .extend(t.journal.iter().map(|e| journal_row(&inst.id, e)));
        b.outbox
            .extend(t.actions.iter().map(|a| outbox_row(&inst.id, a)));
    }
    b
}
