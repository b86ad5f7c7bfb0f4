//! Events that reach a case from outside: payments, disputes, promises,
//! delivery receipts, partners' and insurers' news, insolvency, and the
//! actions of an operator (`operator.pause`, `operator.resume`,
//! `operator.skip`, `operator.close`). This module owns their shape and
//! their validation; what they do to an instance is the engine's `run`.

use chrono::{DateTime, NaiveDate, Utc};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use crate::scenario::{EVENT_TYPES, Outcome};

/// The outcomes an operator may close a case with (`operator.close`).
pub const OPERATOR_OUTCOMES: &[Outcome] = &[
    Outcome::Paid,
    Outcome::Settled,
    Outcome::WrittenOff,
    Outcome::Cancelled,
];

/// One instalment of a payment plan.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Instalment {
    pub date: NaiveDate,
    pub amount: Decimal,
}

/// The fields an event may carry; which ones it must carry depends on its
/// type (see [`Event::validate`]).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EventFields {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub amount: Option<Decimal>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub currency: Option<String>,
    /// Invoice number the event concerns.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub invoice: Option<String>,
    /// Payment or provider reference.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reference: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// Promise date, the date an operator's pause lasts until, or any date
    /// the event names.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub date: Option<NaiveDate>,
    /// Channel of a delivery receipt.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub channel: Option<String>,
    /// Step whose message the receipt concerns; for `operator.skip`, the
    /// step the operator means to skip.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub step: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub partner: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
    /// Outcome of a partner's file, of a phone task, or of an operator's
    /// `operator.close`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub outcome: Option<String>,
    /// Kind of insolvency proceeding: safeguard, receivership, liquidation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub instalments: Vec<Instalment>,
}

/// An event, at the time it happened.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Event {
    /// Delivery id, when the sender gave one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// One of [`EVENT_TYPES`].
    #[serde(rename = "type")]
    pub kind: String,
    pub at: DateTime<Utc>,
    #[serde(flatten)]
    pub fields: EventFields,
}

/// Why an event cannot be applied.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum EventError {
    /// The type is not one relance knows.
    #[error("unknown event type `{kind}`{hint}")]
    UnknownType { kind: String, hint: String },
    /// A field the type needs is missing or wrong.
    #[error("`{kind}` needs {what}")]
    MissingField { kind: String, what: &'static str },
    /// A field holds a value the type does not accept.
    #[error("`{kind}`: {field} `{value}` is not one of {allowed}{hint}")]
    BadValue {
        kind: String,
        field: &'static str,
        value: String,
        /// The accepted values, comma-separated.
        allowed: String,
        hint: String,
    },
}

impl Event {
    /// Checks that the type exists and carries what it needs.
    pub fn validate(&self) -> Result<(), EventError> {
        let kind = self.kind.as_str();
        if !EVENT_TYPES.contains(&kind) {
            return Err(EventError::UnknownType {
                kind: self.kind.clone(),
                hint: crate::rules::suggest(kind, EVENT_TYPES.iter().copied()),
            });
        }
        let need = |what: &'static str| {
            Err(EventError::MissingField {
                kind: self.kind.clone(),
                what,
            })
        };
        let f = &self.fields;
        match kind {
            "payment.received" | "payment.refunded" | "agent.collected" | "insurer.paid" => {
                match f.amount {
                    Some(a) if a > Decimal::ZERO => Ok(()),
                    Some(_) => need("an `amount` above zero"),
                    None => need("an `amount`"),
                }
            }
            "promise.made" if f.date.is_none() => need("a `date` (YYYY-MM-DD)"),
            "plan.agreed" if f.instalments.is_empty() => {
                need("`instalments`: a list of { date, amount }")
            }
            "operator.close" => match &f.outcome {
                None => need("an `outcome`: one of paid, settled, written_off, cancelled"),
                Some(_) => self.close_outcome().map(|_| ()),
            },
            _ => Ok(()),
        }
    }

    /// The outcome an `operator.close` names, checked against
    /// [`OPERATOR_OUTCOMES`].
    pub fn close_outcome(&self) -> Result<Outcome, EventError> {
        let value = self.fields.outcome.as_deref().unwrap_or_default();
        let allowed = || OPERATOR_OUTCOMES.iter().map(|o| o.name());
        match Outcome::parse(value) {
            Some(o) if OPERATOR_OUTCOMES.contains(&o) => Ok(o),
            _ => Err(EventError::BadValue {
                kind: self.kind.clone(),
                field: "outcome",
                value: value.to_string(),
                allowed: allowed().collect::<Vec<_>>().join(", "),
                hint: crate::rules::suggest(value, allowed()),
            }),
        }
    }

    /// Whether the event is an operator's action rather than news about the
    /// case.
    pub fn is_operator(&self) -> bool {
        self.kind.starts_with("operator.")
    }

    /// Whether the event brings money in for the case.
    pub fn is_payment(&self) -> bool {
        matches!(
            self.kind.as_str(),
            "payment.received" | "agent.collected" | "insurer.paid"
        )
    }
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;

    fn close(outcome: Option<&str>) -> Event {
        Event {
            id: None,
            kind: "operator.close".into(),
            at: Utc.with_ymd_and_hms(2026, 3, 2, 9, 0, 0).unwrap(),
            fields: EventFields {
                outcome: outcome.map(String::from),
                ..Default::default()
            },
        }
    }

    #[test]
    fn operator_close_without_an_outcome_is_refused_with_the_allowed_ones() {
        let err = close(None).validate().unwrap_err();

        assert_eq!(
            err.to_string(),
            "`operator.close` needs an `outcome`: one of paid, settled, written_off, cancelled"
        );
    }

    #[test]
    fn operator_close_with_an_unknown_outcome_lists_the_allowed_ones_and_a_suggestion() {
        let err = close(Some("setled")).validate().unwrap_err();

        assert_eq!(
            err.to_string(),
            "`operator.close`: outcome `setled` is not one of paid, settled, written_off, \
             cancelled, did you mean `settled`?"
        );
    }

    #[test]
    fn operator_close_refuses_outcomes_only_the_scenario_may_give() {
        for outcome in ["exhausted", "handed_over", "insolvent"] {
            let err = close(Some(outcome)).validate().unwrap_err();
            assert!(
                matches!(err, EventError::BadValue { .. }),
                "{outcome}: {err}"
            );
        }
    }

    #[test]
    fn operator_close_accepts_each_operator_outcome() {
        for outcome in OPERATOR_OUTCOMES {
            let event = close(Some(outcome.name()));
            assert_eq!(event.validate(), Ok(()));
            assert_eq!(event.close_outcome(), Ok(*outcome));
        }
    }

    #[test]
    fn operator_pause_resume_and_skip_need_no_field() {
        for kind in ["operator.pause", "operator.resume", "operator.skip"] {
            let mut event = close(None);
            event.kind = kind.into();
            assert_eq!(event.validate(), Ok(()), "{kind}");
            assert!(event.is_operator());
        }
    }
}
