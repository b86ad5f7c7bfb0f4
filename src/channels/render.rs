//! Builds the [`Message`] for an outbox action: the template scope from the instance, the
//! brand and what the dispatcher knows besides, then the rendered subject and body.

use chrono::NaiveDate;
use rust_decimal::{Decimal, RoundingStrategy};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::{Message, MessageKind, Recipient};
use crate::engine::{Action, ActionKind, Instance, Invoice};
use crate::scenario::{Attachment, Channel, ClaimKind};
use crate::templates::{Brand, TemplateError, TemplateStore};

/// Why a message could not be built.
#[derive(Debug, thiserror::Error)]
pub enum RenderError {
    /// The template is missing or failed to render (the error names the file and place).
    #[error("action `{key}`: {source}")]
    Template {
        key: String,
        #[source]
        source: TemplateError,
    },
}

/// What the scope needs that an [`Instance`] does not hold: payment details, the collection
/// agent a case was handed to, the reason the debtor gave for a dispute. Every field is
/// optional; [`render_message`] uses the default.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct RenderExtras {
    pub payment: PaymentDetails,
    /// The agent of a handover, as letters name it (`agent` in the scope).
    pub agent: Option<Agent>,
    /// The debtor's words for the open dispute (`dispute.reason`).
    pub dispute_reason: Option<String>,
}

/// How the debtor can pay (`payment` in the scope). Empty fields are left out of messages.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct PaymentDetails {
    pub iban: String,
    pub bic: String,
    /// A payment page for this case.
    pub link: String,
    /// The reference to quote with a transfer; empty means the case id.
    pub reference: String,
}

/// A collection agent as letters present it.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Agent {
    pub name: String,
    pub address: Vec<String>,
    /// Legal identity line (registration, licence).
    pub registration: String,
}

/// Builds the message for `action` with no extras: see [`render_message_with`].
pub fn render_message(
    store: &TemplateStore,
    brand: &Brand,
    instance: &Instance,
    action: &Action,
    today: NaiveDate,
) -> Result<Message, RenderError> {
    render_message_with(
        store,
        brand,
        instance,
        action,
        today,
        &RenderExtras::default(),
    )
}

/// Builds the message for `action`: renders its template (subject and body) in the action's
/// language with the case, brand and open invoices as the scope; a task without template,
/// a handover and a claim get a plain body describing them.
pub fn render_message_with(
    store: &TemplateStore,
    brand: &Brand,
    instance: &Instance,
    action: &Action,
    today: NaiveDate,
    extras: &RenderExtras,
) -> Result<Message, RenderError> {
    let (channel, kind, template, language, partner) = match &action.kind {
        ActionKind::Send {
            channel,
            template,
            language,
            ..
        } => (
            *channel,
            MessageKind::Send,
            Some(template.clone()),
            language.clone(),
            None,
        ),
        ActionKind::Task {
            template, language, ..
        } => (
            Channel::Phone,
            MessageKind::Task,
            template.clone(),
            language.clone(),
            None,
        ),
        ActionKind::Handover { partner } => (
            Channel::Webhook,
            MessageKind::Handover,
            None,
            instance.case.debtor.language.clone(),
            Some(partner.clone()),
        ),
        ActionKind::Claim { partner, .. } => (
            Channel::Webhook,
            MessageKind::Claim,
            None,
            instance.case.debtor.language.clone(),
            Some(partner.clone()),
        ),
    };

    let scope = scope(brand, instance, action, today, &language, extras);

    let (subject, body) = match &template {
        Some(name) => {
            let rendered =
                store
                    .render(&language, name, &scope)
                    .map_err(|source| RenderError::Template {
                        key: action.key.clone(),
                        source,
                    })?;
            (rendered.subject, rendered.body)
        }
        None => (None, describe(instance, action, today)),
    };

    let attachments = match &action.kind {
        ActionKind::Send { attach, .. } => attachment_names(instance, attach),
        _ => Vec::new(),
    };
    let payload = match kind {
        MessageKind::Handover | MessageKind::Claim => {
            json!({ "action": action.kind, "step": action.step, "scope": scope })
        }
        // The brand travels with the message, so that the email adapter can
        // send from the client's own reply address.
        _ => json!({ "action": action.kind, "step": action.step, "brand": scope["brand"] }),
    };

    Ok(Message {
        key: action.key.clone(),
        case_id: instance.case.id.clone(),
        channel,
        template,
        language,
        subject,
        body,
        to: recipient(instance, partner),
        attachments,
        kind,
        payload,
    })
}

/// The template scope, in the shape of `templates::sample_context`.
fn scope(
    brand: &Brand,
    instance: &Instance,
    action: &Action,
    today: NaiveDate,
    lang: &str,
    extras: &RenderExtras,
) -> Value {
    let case = &instance.case;
    let debtor = &case.debtor;
    let currency = instance.currency.code();
    let open: Vec<&Invoice> = case.open_invoices().collect();
    let oldest_due = case.oldest_due();
    let days_overdue = oldest_due.map_or(0, |due| (today - due).num_days().max(0));

    let mut brand = brand.clone();
    if brand.legal_name.trim().is_empty() {
        brand.legal_name.clone_from(&case.client.name);
    }

    let client_country = case.client.country.clone().unwrap_or_default();
    let address = debtor.address.clone().unwrap_or_default();
    let address_country = address
        .country
        .or_else(|| debtor.country.clone())
        .unwrap_or_else(|| client_country.clone());

    let reference = if extras.payment.reference.trim().is_empty() {
        case.id.clone()
    } else {
        extras.payment.reference.clone()
    };

    let mut scope = json!({
        "lang": lang,
        "today": today.to_string(),
        "client": { "id": case.client.id, "name": case.client.name, "country": client_country },
        "brand": brand.to_scope(),
        "debtor": {
            "id": debtor.id,
            "kind": debtor.kind.name(),
            "name": debtor.name,
            "country": debtor.country.clone().unwrap_or_else(|| address_country.clone()),
            "language": debtor.language,
            "email": debtor.email.clone().unwrap_or_default(),
            "mobile": debtor.mobile.clone().unwrap_or_default(),
            "phone": debtor.phone.clone().unwrap_or_default(),
            "address": {
                "lines": address.lines,
                "postcode": address.postcode.unwrap_or_default(),
                "city": address.city.unwrap_or_default(),
                "country": address_country,
            },
        },
        "case": {
            "reference": case.id,
            "balance": amount(instance.balance()),
            "currency": currency,
            "fees": amount(instance.fees),
            "interest": amount(instance.interest),
            "total_due": amount(instance.total_due()),
            "days_overdue": days_overdue,
            "open_invoices": open.len(),
            "oldest_due": oldest_due.map(|d| d.to_string()).unwrap_or_default(),
        },
        "invoices": open.iter().map(|inv| json!({
            "number": inv.number,
            "issued": inv.issued.to_string(),
            "due": inv.due.to_string(),
            "amount": amount(inv.amount),
            "balance": amount(inv.open()),
            "currency": inv.currency.code(),
        })).collect::<Vec<_>>(),
        // TODO: the stage's id needs the scenario, which the dispatcher does not pass; no
        // shipped template uses it.
        "step": { "id": action.step, "stage": "" },
        "payment": {
            "iban": extras.payment.iban,
            "bic": extras.payment.bic,
            "link": extras.payment.link,
            "reference": reference,
        },
    });

    // The optional parts: present only when the case has them, so that `{{#if promise}}`
    // reads naturally and `requires:` fails clearly.
    let Some(object) = scope.as_object_mut() else {
        return scope;
    };
    if let Some(promise) = &instance.promise {
        object.insert(
            "promise".into(),
            json!({ "date": promise.date.to_string(), "amount": amount(promise.amount) }),
        );
        if !promise.instalments.is_empty() {
            let instalments: Vec<Value> = promise
                .instalments
                .iter()
                .map(|i| json!({ "date": i.date.to_string(), "amount": amount(i.amount) }))
                .collect();
            object.insert("plan".into(), json!({ "instalments": instalments }));
        }
    }
    if instance.disputes_open > 0 || extras.dispute_reason.is_some() {
        // TODO: the engine does not keep the reason a debtor gave; until it does, a dispute
        // without one is quoted with words that fit any reason.
        let reason = extras
            .dispute_reason
            .clone()
            .unwrap_or_else(|| unstated_reason(lang).to_owned());
        object.insert("dispute".into(), json!({ "reason": reason }));
    }
    if let Some(agent) = &extras.agent {
        object.insert("agent".into(), json!(agent));
    }
    scope
}

/// An amount as the scope carries it: a decimal string with two places, halves rounded
/// away from zero.
fn amount(value: Decimal) -> String {
    let rounded = value.round_dp_with_strategy(2, RoundingStrategy::MidpointAwayFromZero);
    format!("{rounded:.2}")
}

/// What stands for a dispute's reason when none was recorded.
fn unstated_reason(lang: &str) -> &'static str {
    match lang {
        "fr" => "motif indiqué dans votre message",
        "es" => "motivo indicado en su mensaje",
        _ => "as stated in your message",
    }
}

fn recipient(instance: &Instance, partner: Option<String>) -> Recipient {
    let debtor = &instance.case.debtor;
    let mut address = Vec::new();
    if let Some(a) = &debtor.address {
        address.extend(a.lines.iter().cloned());
        let town = [a.postcode.as_deref(), a.city.as_deref()]
            .into_iter()
            .flatten()
            .collect::<Vec<_>>()
            .join(" ");
        if !town.is_empty() {
            address.push(town);
        }
        if let Some(country) = a.country.as_ref().or(debtor.country.as_ref()) {
            address.push(country.clone());
        }
    }
    Recipient {
        name: debtor.name.clone(),
        email: debtor.email.clone(),
        mobile: debtor.mobile.clone(),
        phone: debtor.phone.clone(),
        fax: debtor.fax.clone(),
        address,
        partner,
    }
}

/// The body of an action without template: what to do, for whom, and how much is open.
fn describe(instance: &Instance, action: &Action, today: NaiveDate) -> String {
    let case = &instance.case;
    let what = match &action.kind {
        ActionKind::Send { template, .. } => format!("send `{template}`"),
        ActionKind::Task { task, .. } => format!("task `{task}`"),
        ActionKind::Handover { partner } => format!("hand the case over to `{partner}`"),
        ActionKind::Claim {
            partner,
            claim,
            late,
        } => {
            let claim = match claim {
                ClaimKind::Notification => "overdue notification",
                ClaimKind::Claim => "claim",
            };
            let late = if *late {
                " (after the policy's deadline)"
            } else {
                ""
            };
            format!("{claim} to `{partner}`{late}")
        }
    };
    let currency = instance.currency.code();
    let mut body = format!(
        "{what}\ncase: {}\nstep: {}\ndebtor: {} ({})\nbalance: {} {currency}\ntotal due: {} \
         {currency}\nas of: {today}\n",
        case.id,
        action.step,
        case.debtor.name,
        case.debtor.id,
        amount(instance.balance()),
        amount(instance.total_due()),
    );
    for inv in case.open_invoices() {
        body.push_str(&format!(
            "invoice {} due {}: {} {}\n",
            inv.number,
            inv.due,
            amount(inv.open()),
            inv.currency.code()
        ));
    }
    body
}

/// The documents a send attaches, by file name.
fn attachment_names(instance: &Instance, attach: &[Attachment]) -> Vec<String> {
    let case = &instance.case;
    let mut names = Vec::new();
    for a in attach {
        match a {
            Attachment::Invoices => names.extend(
                case.open_invoices()
                    .map(|inv| format!("invoice-{}.pdf", inv.number)),
            ),
            Attachment::DuplicateInvoice => {
                let oldest = case
                    .open_invoices()
                    .min_by_key(|inv| (inv.due, &inv.number));
                if let Some(inv) = oldest {
                    names.push(format!("duplicate-{}.pdf", inv.number));
                }
            }
            Attachment::Statement => names.push("statement.pdf".to_owned()),
        }
    }
    names.dedup();
    names
}

#[cfg(test)]
mod tests {
    use rust_decimal_macros::dec;

    use super::*;

    #[test]
    fn amounts_are_decimal_strings_with_two_places() {
        assert_eq!(amount(dec!(1250)), "1250.00");
        assert_eq!(amount(dec!(480.5)), "480.50");
        assert_eq!(amount(dec!(16.365)), "16.37");
    }

    #[test]
    fn an_unrecorded_dispute_reason_reads_in_the_message_language() {
        assert!(unstated_reason("fr").starts_with("motif"));
        assert!(unstated_reason("de").starts_with("as stated"));
    }
}
