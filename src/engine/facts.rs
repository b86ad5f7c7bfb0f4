//! Builds the condition scope of an instance for the Rhai sandbox.

use chrono::{DateTime, Utc};
use rhai::{Dynamic, Map};

use super::event::Event;
use super::instance::Instance;
use crate::rules::{Facts, History};
use crate::scenario::VarValue;

fn opt(value: &Option<String>) -> Dynamic {
    match value {
        Some(v) => v.clone().into(),
        None => Dynamic::UNIT,
    }
}

fn var_value(v: &VarValue) -> Dynamic {
    match v {
        VarValue::Bool(b) => (*b).into(),
        VarValue::Int(i) => (*i).into(),
        VarValue::Decimal(d) => (*d).into(),
        VarValue::Text(t) => t.clone().into(),
    }
}

/// Turns a value computed by `set:` back into a variable value.
pub(super) fn from_dynamic(value: &Dynamic) -> Option<VarValue> {
    if let Ok(b) = value.as_bool() {
        return Some(VarValue::Bool(b));
    }
    if let Ok(i) = value.as_int() {
        return Some(VarValue::Int(i));
    }
    if let Some(d) = value.clone().try_cast::<rust_decimal::Decimal>() {
        return Some(VarValue::Decimal(d));
    }
    value
        .clone()
        .into_immutable_string()
        .ok()
        .map(|s| VarValue::Text(s.to_string()))
}

pub(super) fn build(inst: &Instance, event: Option<&Event>, now: DateTime<Utc>) -> Facts {
    let case = &inst.case;
    let d = &case.debtor;
    let today = now.with_timezone(&d.timezone).date_naive();
    let mut facts = Facts::default();
    let scope = &mut facts.scope;

    scope.push("balance", inst.balance());
    scope.push("currency", inst.currency.code().to_string());
    scope.push("fees", inst.fees);
    scope.push("interest", inst.interest);
    scope.push("total_due", inst.total_due());
    scope.push("paid", inst.paid);
    let oldest = case.oldest_due();
    scope.push(
        "days_overdue",
        oldest.map(|due| (today - due).num_days()).unwrap_or(0),
    );
    scope.push("open_invoices", case.open_invoices().count() as i64);
    scope.push(
        "oldest_due",
        oldest.map(|d| d.to_string()).unwrap_or_default(),
    );
    scope.push("disputes_open", inst.disputes_open);
    scope.push("disputes_total", inst.disputes_total);
    scope.push("promises_broken", inst.promises_broken);
    scope.push("promise_active", inst.promise.is_some());
    scope.push("proceeding", inst.proceeding);
    scope.push("messages_sent", inst.messages.len() as i64);

    let mut debtor = Map::new();
    debtor.insert("id".into(), d.id.clone().into());
    debtor.insert("kind".into(), d.kind.name().into());
    debtor.insert("name".into(), d.name.clone().into());
    debtor.insert("country".into(), opt(&d.country));
    debtor.insert("language".into(), d.language.clone().into());
    debtor.insert("timezone".into(), d.timezone.name().into());
    debtor.insert("email".into(), opt(&d.email));
    debtor.insert("mobile".into(), opt(&d.mobile));
    debtor.insert("phone".into(), opt(&d.phone));
    debtor.insert("fax".into(), opt(&d.fax));
    debtor.insert("has_fax".into(), d.fax.is_some().into());
    debtor.insert("has_email".into(), d.email.is_some().into());
    debtor.insert("has_mobile".into(), d.mobile.is_some().into());
    debtor.insert("has_address".into(), d.address.is_some().into());
    debtor.insert("siren".into(), opt(&d.siren));
    debtor.insert("vat".into(), opt(&d.vat));
    debtor.insert("risk".into(), opt(&d.risk));
    debtor.insert(
        "risk_score".into(),
        d.risk_score.map(Dynamic::from).unwrap_or(Dynamic::UNIT),
    );
    debtor.insert(
        "credit_limit".into(),
        d.credit_limit.map(Dynamic::from).unwrap_or(Dynamic::UNIT),
    );
    debtor.insert("watch".into(), d.watch.into());
    scope.push("debtor", debtor);

    let mut client = Map::new();
    client.insert("id".into(), case.client.id.clone().into());
    client.insert("name".into(), case.client.name.clone().into());
    client.insert("country".into(), opt(&case.client.country));
    scope.push("client", client);

    let vars: Map = inst
        .vars
        .iter()
        .map(|(k, v)| (k.as_str().into(), var_value(v)))
        .collect();
    scope.push("vars", vars);

    if let Some(e) = event {
        let f = &e.fields;
        let mut m = Map::new();
        m.insert("type".into(), e.kind.clone().into());
        m.insert(
            "amount".into(),
            f.amount.map(Dynamic::from).unwrap_or(Dynamic::UNIT),
        );
        m.insert("currency".into(), opt(&f.currency));
        m.insert("invoice".into(), opt(&f.invoice));
        m.insert("reference".into(), opt(&f.reference));
        m.insert("reason".into(), opt(&f.reason));
        m.insert(
            "date".into(),
            f.date
                .map(|d| d.to_string().into())
                .unwrap_or(Dynamic::UNIT),
        );
        m.insert("channel".into(), opt(&f.channel));
        m.insert("step".into(), opt(&f.step));
        m.insert("partner".into(), opt(&f.partner));
        m.insert("status".into(), opt(&f.status));
        m.insert("outcome".into(), opt(&f.outcome));
        m.insert("kind".into(), opt(&f.kind));
        m.insert("instalments".into(), (f.instalments.len() as i64).into());
        m.insert(
            "full".into(),
            (e.is_payment() && inst.balance() <= rust_decimal::Decimal::ZERO).into(),
        );
        scope.push("event", m);
    } else {
        scope.push("event", Dynamic::UNIT);
    }

    facts.history = History {
        sent: inst.sent_steps.clone(),
        messages: inst.messages.iter().map(|t| t.timestamp()).collect(),
        bounced: inst.bounced.clone(),
        now: now.timestamp(),
    };
    facts
}
