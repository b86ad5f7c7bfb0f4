//! Translating the engine's values into the store's rows.

use chrono::{DateTime, Utc};

use crate::engine::{Action, ActionKind, Case, Instance, JournalEntry, Transition};
use crate::money::round;
use crate::scenario::{Channel, Scenario};
use crate::store::{
    CaseRow, ClientRow, ContactRow, DebtorRow, DomainRow, ImportBatch, InstanceRow, InvoiceRow,
    JournalRow, OutboxInsert,
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
                ("fax", &d.fax),
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

/// The accounts-receivable rows a transition from `before` to `after`
/// records: the payment and its allocations, a dispute opened or resolved,
/// a promise made, kept or broken.
pub fn domain_rows(
    before: &Instance,
    after: &Instance,
    event: Option<&crate::engine::Event>,
) -> Vec<DomainRow> {
    let case = &after.case;
    let case_id = after.id.clone();
    let mut rows = Vec::new();
    if let Some(e) = event {
        let at = e.at.timestamp_millis();
        let day =
            e.at.with_timezone(&case.debtor.timezone)
                .date_naive()
                .to_string();
        match e.kind.as_str() {
            "payment.received" | "agent.collected" | "insurer.paid" | "payment.refunded" => {
                let sign = if e.kind == "payment.refunded" { -1 } else { 1 };
                let amount =
                    e.fields.amount.unwrap_or_default() * rust_decimal::Decimal::from(sign);
                let mut allocations = Vec::new();
                for (b, a) in before.case.invoices.iter().zip(&case.invoices) {
                    let added: rust_decimal::Decimal = a
                        .allocations
                        .iter()
                        .skip(b.allocations.len())
                        .map(|x| x.amount)
                        .sum();
                    if !added.is_zero() {
                        allocations
                            .push((a.number.clone(), round(added, after.currency).to_string()));
                    }
                }
                rows.push(DomainRow::Payment {
                    client_id: case.client.id.clone(),
                    debtor_id: case.debtor.id.clone(),
                    case_id: case_id.clone(),
                    amount: round(amount, after.currency).to_string(),
                    currency: after.currency.code().to_string(),
                    received_on: day,
                    reference: e.fields.reference.clone(),
                    source: e.kind.clone(),
                    allocations,
                });
            }
            "dispute.opened" => rows.push(DomainRow::DisputeOpened {
                case_id: case_id.clone(),
                invoice: e.fields.invoice.clone(),
                reason: e.fields.reason.clone(),
                at,
            }),
            "dispute.resolved" => rows.push(DomainRow::DisputeResolved {
                case_id: case_id.clone(),
                at,
            }),
            _ => {}
        }
    }
    if let Some(p) = &after.promise
        && before.promise.as_ref() != Some(p)
    {
        if before.promise.is_some() {
            rows.push(DomainRow::PromiseSettled {
                case_id: case_id.clone(),
                status: "replaced".into(),
            });
        }
        rows.push(DomainRow::Promise {
            case_id,
            kind: if p.instalments.is_empty() {
                "promise"
            } else {
                "plan"
            }
            .into(),
            due_on: p.date.to_string(),
            amount: round(p.amount, after.currency).to_string(),
            instalments: serde_json::to_string(&p.instalments).unwrap_or_else(|_| "[]".into()),
            at: event
                .map(|e| e.at)
                .unwrap_or(after.last_step_at)
                .timestamp_millis(),
        });
    } else if before.promise.is_some() && after.promise.is_none() {
        let status = if after.promises_broken > before.promises_broken {
            "broken"
        } else {
            "kept"
        };
        rows.push(DomainRow::PromiseSettled {
            case_id,
            status: status.into(),
        });
    }
    rows
}
