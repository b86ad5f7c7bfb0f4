//! Partner webhooks in: `POST /api/v1/webhooks/{source}` takes a signed delivery from a
//! payment provider, a bank, a collection agent or bailiff, a credit insurer, or an email or
//! SMS provider, verifies it on its raw bytes, reads it into a relance event and records
//! both the delivery and the event in one transaction, so that a retry is applied once.
//!
//! A verified delivery is never lost: one of a type relance does not read, one that matches
//! no case, or one whose content is unusable is stored with its payload for an operator.
//! A delivery whose signature fails is refused before its body is read, and nothing is
//! stored. The handler never runs the engine: the scheduler applies what it records.

use std::collections::BTreeMap;
use std::str::FromStr;

use axum::Json;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, NaiveDate, Utc};
use rust_decimal::Decimal;
use serde_json::Value;
use sha2::Digest;
use utoipa::IntoParams;

use super::receipts::{self, Receipt};
use super::signature::{SecretError, StripeSecret, Verified, Verifier, standard_secret};
use super::v1::ProblemBody;
use super::{AppState, Problem, Recorded, RecordedStatus, internal};
use crate::config::{ConfigError, InboundKind, InboundSourceConfig, SignatureScheme};
use crate::engine::{Event, EventFields};
use crate::store::{NewDelivery, NewEvent};

/// One configured source of incoming webhooks.
#[derive(Debug)]
pub struct InboundSource {
    /// The id in its URL.
    pub id: String,
    pub kind: InboundKind,
    pub verifier: Verifier,
    /// The client a delivery is for when it names none.
    pub client_id: Option<String>,
}

/// Every configured source, by id. The default has none: every webhook is 404.
#[derive(Debug, Default)]
pub struct InboundSources(BTreeMap<String, InboundSource>);

impl InboundSources {
    /// The sources of `webhooks_in`, with their secrets read through `var` (the
    /// environment). A variable that is unset or empty, or that holds no `whsec_` secret,
    /// is an error naming it.
    pub fn from_config(
        config: &BTreeMap<String, InboundSourceConfig>,
        var: impl Fn(&str) -> Option<String>,
    ) -> Result<InboundSources, ConfigError> {
        let mut sources = BTreeMap::new();
        for (id, c) in config {
            let mut texts = Vec::new();
            for name in &c.secrets_env {
                let value =
                    var(name)
                        .filter(|v| !v.trim().is_empty())
                        .ok_or_else(|| ConfigError::Env {
                            var: name.clone(),
                            message: format!(
                                "is not set, and webhooks_in.{id}.secrets_env names it for a secret"
                            ),
                        })?;
                texts.push((name, value));
            }
            let bad = |name: &str, e: SecretError| ConfigError::Env {
                var: name.to_string(),
                message: format!("holds no usable webhooks_in.{id} secret: {e}"),
            };
            let verifier = match c.kind {
                SignatureScheme::Standard => Verifier::Standard(
                    texts
                        .iter()
                        .map(|(n, v)| standard_secret(v).map_err(|e| bad(n, e)))
                        .collect::<Result<_, _>>()?,
                ),
                SignatureScheme::Stripe => Verifier::Stripe(
                    texts
                        .iter()
                        .map(|(n, v)| StripeSecret::parse(v).map_err(|e| bad(n, e)))
                        .collect::<Result<_, _>>()?,
                ),
            };
            sources.insert(
                id.clone(),
                InboundSource {
                    id: id.clone(),
                    kind: c.source,
                    verifier,
                    client_id: c.client_id.clone(),
                },
            );
        }
        Ok(InboundSources(sources))
    }

    /// The source with this id.
    pub fn get(&self, id: &str) -> Option<&InboundSource> {
        self.0.get(id)
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// Verifies a delivery from `source` at the system time (signature freshness is about
/// real time, whatever the runtime's clock says), or the 401 problem naming why.
pub(super) fn check(
    source: &InboundSource,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<Verified, Problem> {
    source
        .verifier
        .verify(headers, body, Utc::now().timestamp())
        .map_err(|e| {
            tracing::warn!(
                webhook.source = %source.id,
                webhook.refused = e.code(),
                "webhook refused: {e}"
            );
            Problem::new(StatusCode::UNAUTHORIZED, e.code(), e.to_string())
        })
}

/// The signature headers of a delivery, for the OpenAPI document: a source
/// signs with Standard Webhooks (`webhook-id`, `webhook-timestamp`,
/// `webhook-signature`) or with Stripe's `Stripe-Signature`, as its
/// `webhooks_in` entry says; [`Verifier::verify`] reads them.
#[derive(IntoParams)]
#[into_params(parameter_in = Header)]
#[allow(dead_code)]
pub(super) struct SignatureHeaders {
    /// Standard Webhooks: the delivery's id, the same on every retry.
    #[param(rename = "webhook-id")]
    webhook_id: Option<String>,
    /// Standard Webhooks: when it was signed, in Unix seconds; a signature
    /// older or newer than five minutes is refused.
    #[param(rename = "webhook-timestamp")]
    webhook_timestamp: Option<String>,
    /// Standard Webhooks: `v1,<base64 HMAC-SHA256>`, several separated by
    /// spaces.
    #[param(rename = "webhook-signature")]
    webhook_signature: Option<String>,
    /// Stripe: `t=<Unix seconds>,v1=<hex HMAC-SHA256>`.
    #[param(rename = "Stripe-Signature")]
    stripe_signature: Option<String>,
}

/// `POST /api/v1/webhooks/{source}`: 202 when recorded (applied, or stored for an
/// operator), 200 for a delivery already recorded, 401 for a bad signature, 404 for an
/// unknown source, 400/422 for verified content that cannot be used (stored too).
#[utoipa::path(post, path = "/api/v1/webhooks/{source}", tag = "callbacks",
    operation_id = "receive_webhook",
    summary = "Record a partner's signed webhook",
    description = "A signed delivery from a partner (payment provider, bank, collection \
                   agent, insurer, email or SMS provider). It takes no token: the signature, \
                   checked on the raw body with the source's secrets, stands for it.",
    security(()),
    params(
        ("source" = String, Path, description = "the source's id in `webhooks_in`",
            example = "stripe"),
        SignatureHeaders,
    ),
    request_body(content = Object, content_type = "application/json",
        description = "the partner's own JSON, as it signed it"),
    responses(
        (status = 202, description = "recorded: applied to a case, or stored for an operator",
            body = Recorded),
        (status = 200, description = "recorded before", body = Recorded),
        (status = 400, description = "verified, but not JSON (stored)",
            body = ProblemBody, content_type = "application/problem+json"),
        (status = 401, description = "the signature is missing, stale or wrong",
            body = ProblemBody, content_type = "application/problem+json"),
        (status = 404, description = "no such source in `webhooks_in`",
            body = ProblemBody, content_type = "application/problem+json"),
        (status = 413, body = ProblemBody, content_type = "application/problem+json"),
        (status = 422, description = "verified, but not a usable event (stored)",
            body = ProblemBody, content_type = "application/problem+json"),
    ))]
pub(super) async fn receive(
    State(state): State<AppState>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    let Some(source) = state.inbound.get(&id) else {
        return Problem::new(
            StatusCode::NOT_FOUND,
            "unknown_source",
            format!("no webhook source `{id}` in webhooks_in"),
        )
        .into_response();
    };
    let verified = match check(source, &headers, &body) {
        Ok(v) => v,
        Err(p) => return p.into_response(),
    };
    let answer = match source.kind {
        InboundKind::Email | InboundKind::Sms => receipt(&state, source, verified, &body).await,
        _ => partner(&state, source, verified, &body).await,
    };
    answer.unwrap_or_else(IntoResponse::into_response)
}

/// What a partner's delivery says, read.
enum Reading {
    /// A relance event, and how to find its case.
    Event {
        kind: &'static str,
        at: Option<DateTime<Utc>>,
        fields: Box<EventFields>,
        target: Target,
    },
    /// A type relance does not read from this kind of source.
    Unknown,
    /// Readable as JSON but not usable: why.
    Invalid(String),
}

/// How a delivery names its case (the invoice travels in the event's fields).
#[derive(Debug, Default)]
struct Target {
    case_id: Option<String>,
    client_id: Option<String>,
    debtor_id: Option<String>,
}

/// The relance reading of a payment, agent or insurer delivery, stored with the delivery.
async fn partner(
    state: &AppState,
    source: &InboundSource,
    verified: Verified,
    body: &[u8],
) -> Result<Response, Problem> {
    let now = state.clock.now();
    let parsed = serde_json::from_slice::<Value>(body);
    let not_json = parsed.is_err();
    let (partner_id, partner_type, reading) = match parsed {
        Err(e) => (
            None,
            None,
            Reading::Invalid(format!(
                "not JSON: line {} column {}: {e}",
                e.line(),
                e.column()
            )),
        ),
        Ok(value) => match source.verifier {
            Verifier::Stripe(_) => read_stripe(&value),
            Verifier::Standard(_) => read_standard(source, &value),
        },
    };
    let delivery = verified
        .delivery_id
        .or(partner_id)
        .unwrap_or_else(|| format!("sha256-{}", digest(body)));
    let mut record = NewDelivery {
        id: format!("{}/{delivery}", source.id),
        source: source.id.clone(),
        status: String::new(),
        event_type: partner_type.clone(),
        instance_id: None,
        reason: None,
        payload: String::from_utf8_lossy(body).into_owned(),
    };

    let mut event_row = None;
    match reading {
        Reading::Unknown => {
            record.status = "unknown_type".into();
            record.reason = Some(format!(
                "relance reads no `{}` from a {} source",
                partner_type.as_deref().unwrap_or_default(),
                kind_name(source.kind)
            ));
        }
        Reading::Invalid(why) => {
            record.status = "invalid".into();
            record.reason = Some(why);
        }
        Reading::Event {
            kind,
            at,
            fields,
            target,
        } => {
            let event = Event {
                id: Some(record.id.clone()),
                kind: kind.to_string(),
                at: at.unwrap_or(now),
                fields: *fields,
            };
            match event.validate() {
                Err(e) => {
                    record.status = "invalid".into();
                    record.reason = Some(e.to_string());
                }
                Ok(()) => match find_case(state, source, &target, &event).await? {
                    None => {
                        record.status = "unmatched".into();
                        record.reason = Some("no case matches it".into());
                    }
                    Some(instance) => {
                        record.status = "applied".into();
                        record.instance_id = Some(instance.clone());
                        event_row = Some(NewEvent {
                            delivery_id: Some(record.id.clone()),
                            instance_id: instance,
                            kind: event.kind.clone(),
                            payload: serde_json::to_string(&event).map_err(internal)?,
                        });
                    }
                },
            }
        }
    }

    let new = state
        .store
        .record_delivery(&record, event_row.as_ref(), now.timestamp_millis())
        .await
        .map_err(internal)?;
    tracing::info!(
        webhook.source = %source.id,
        webhook.delivery = %record.id,
        webhook.type = record.event_type.as_deref().unwrap_or("-"),
        webhook.status = %record.status,
        instance.id = record.instance_id.as_deref().unwrap_or("-"),
        new,
        "partner webhook"
    );
    if !new {
        return Ok(duplicate(record.instance_id.as_deref()));
    }
    let reason = record.reason.unwrap_or_default();
    Ok(match record.status.as_str() {
        "applied" => {
            state.notify.notify_one();
            accepted(record.instance_id.as_deref())
        }
        "invalid" if not_json => {
            Problem::new(StatusCode::BAD_REQUEST, "invalid_json", reason).into_response()
        }
        "invalid" => {
            Problem::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid_event", reason).into_response()
        }
        status => stored(status, &reason),
    })
}

/// An email or SMS provider's receipt, through the receipts logic; one that matches no
/// message, or cannot be read, is stored as a delivery.
async fn receipt(
    state: &AppState,
    source: &InboundSource,
    verified: Verified,
    body: &[u8],
) -> Result<Response, Problem> {
    let now = state.clock.now();
    let delivery = verified
        .delivery_id
        .clone()
        .unwrap_or_else(|| format!("sha256-{}", digest(body)));
    let mut record = NewDelivery {
        id: format!("{}/{delivery}", source.id),
        source: source.id.clone(),
        status: "invalid".into(),
        event_type: None,
        instance_id: None,
        reason: None,
        payload: String::from_utf8_lossy(body).into_owned(),
    };

    // A Standard Webhooks envelope carries the receipt in `data`; a bare receipt is read
    // as it is.
    let parsed = serde_json::from_slice::<Value>(body)
        .map_err(|e| Problem::new(StatusCode::BAD_REQUEST, "invalid_json", e.to_string()))
        .and_then(|value| {
            record.event_type = value
                .get("type")
                .and_then(Value::as_str)
                .map(str::to_string);
            let data = match value.get("data") {
                Some(d) if d.is_object() => d.clone(),
                _ => value,
            };
            serde_json::from_value::<Receipt>(data).map_err(|e| {
                Problem::new(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    "invalid_receipt",
                    e.to_string(),
                )
            })
        });
    let outcome = match parsed {
        Ok(r) => receipts::record_receipt(state, &source.id, r, verified.delivery_id).await,
        Err(p) => Err(p),
    };
    let problem = match outcome {
        Ok((true, instance)) => {
            state.notify.notify_one();
            return Ok(accepted(Some(&instance)));
        }
        Ok((false, instance)) => return Ok(duplicate(Some(&instance))),
        Err(p) => p,
    };

    if problem.code == "message_not_found" {
        record.status = "unmatched".into();
    }
    record.reason = Some(problem.detail.clone());
    let new = state
        .store
        .record_delivery(&record, None, now.timestamp_millis())
        .await
        .map_err(internal)?;
    tracing::info!(
        webhook.source = %source.id,
        webhook.delivery = %record.id,
        webhook.status = %record.status,
        new,
        "receipt webhook stored"
    );
    Ok(match (new, record.status.as_str()) {
        (false, _) => duplicate(None),
        (true, "unmatched") => stored("unmatched", &problem.detail),
        (true, _) => problem.into_response(),
    })
}

/// The instance a delivery is for: by case id, or by client and invoice or debtor.
async fn find_case(
    state: &AppState,
    source: &InboundSource,
    target: &Target,
    event: &Event,
) -> Result<Option<String>, Problem> {
    if let Some(id) = &target.case_id {
        let found = state.store.instance_state(id).await.map_err(internal)?;
        return Ok(found.map(|_| id.clone()));
    }
    let Some(client) = target.client_id.as_ref().or(source.client_id.as_ref()) else {
        return Ok(None);
    };
    state
        .store
        .correlate(
            client,
            target.debtor_id.as_deref(),
            event.fields.invoice.as_deref(),
        )
        .await
        .map_err(internal)
}

/// The partner types each kind of source may send, and the relance event each becomes.
/// relance's own event names are accepted too.
fn event_for(kind: InboundKind, partner_type: &str) -> Option<&'static str> {
    let table: &[(&str, &'static str)] = match kind {
        InboundKind::Payment | InboundKind::Bank => &[
            ("payment.received", "payment.received"),
            ("payment.succeeded", "payment.received"),
            ("payment.refunded", "payment.refunded"),
            ("refund.created", "payment.refunded"),
        ],
        InboundKind::Agent => &[
            ("file.accepted", "agent.accepted"),
            ("agent.accepted", "agent.accepted"),
            ("payment.collected", "agent.collected"),
            ("agent.collected", "agent.collected"),
            ("file.closed", "agent.closed"),
            ("agent.closed", "agent.closed"),
            ("file.status", "partner.status"),
            ("partner.status", "partner.status"),
        ],
        InboundKind::Insurer => &[
            ("claim.received", "partner.status"),
            ("claim.accepted", "insurer.accepted"),
            ("insurer.accepted", "insurer.accepted"),
            ("claim.paid", "insurer.paid"),
            ("insurer.paid", "insurer.paid"),
            ("claim.refused", "insurer.refused"),
            ("insurer.refused", "insurer.refused"),
        ],
        InboundKind::Email | InboundKind::Sms => &[],
    };
    table
        .iter()
        .find(|(name, _)| *name == partner_type)
        .map(|(_, event)| *event)
}

fn kind_name(kind: InboundKind) -> &'static str {
    match kind {
        InboundKind::Payment => "payment",
        InboundKind::Bank => "bank",
        InboundKind::Agent => "agent",
        InboundKind::Insurer => "insurer",
        InboundKind::Email => "email",
        InboundKind::Sms => "sms",
    }
}

/// Reads a Standard Webhooks delivery: `{"type", "timestamp", "data": {...}}`, or the same
/// fields at the top level. Returns (the partner's id, its type, the reading).
fn read_standard(
    source: &InboundSource,
    body: &Value,
) -> (Option<String>, Option<String>, Reading) {
    let partner_id = body.get("id").and_then(Value::as_str).map(str::to_string);
    let Some(partner_type) = body.get("type").and_then(Value::as_str) else {
        return (partner_id, None, Reading::Invalid("no `type`".into()));
    };
    let named = Some(partner_type.to_string());
    let Some(kind) = event_for(source.kind, partner_type) else {
        return (partner_id, named, Reading::Unknown);
    };
    let data = match body.get("data") {
        Some(d) if d.is_object() => d,
        _ => body,
    };
    let reading = match fields_of(data) {
        Err(why) => Reading::Invalid(why),
        Ok((mut fields, target, at)) => {
            let partnerish = matches!(source.kind, InboundKind::Agent | InboundKind::Insurer);
            if partnerish && fields.partner.is_none() {
                fields.partner = Some(source.id.clone());
            }
            if partner_type == "claim.received" && fields.status.is_none() {
                fields.status = Some("claim_received".into());
            }
            let at = at.or_else(|| {
                body.get("timestamp")
                    .and_then(Value::as_str)
                    .and_then(|t| DateTime::parse_from_rfc3339(t).ok())
                    .map(|t| t.with_timezone(&Utc))
            });
            Reading::Event {
                kind,
                at,
                fields: Box::new(fields),
                target,
            }
        }
    };
    (partner_id, named, reading)
}

/// The event fields, case target and time a partner's `data` object carries.
fn fields_of(data: &Value) -> Result<(EventFields, Target, Option<DateTime<Utc>>), String> {
    let date = match text(data, "date")? {
        Some(d) => Some(
            NaiveDate::parse_from_str(&d, "%Y-%m-%d")
                .map_err(|_| format!("`date` {d:?} is not YYYY-MM-DD"))?,
        ),
        None => None,
    };
    let at = match text(data, "at")? {
        Some(t) => Some(
            DateTime::parse_from_rfc3339(&t)
                .map_err(|_| format!("`at` {t:?} is not an RFC 3339 time"))?
                .with_timezone(&Utc),
        ),
        None => None,
    };
    let fields = EventFields {
        amount: amount(data, "amount")?,
        currency: text(data, "currency")?,
        invoice: text(data, "invoice")?,
        reference: text(data, "reference")?,
        reason: text(data, "reason")?,
        date,
        partner: text(data, "partner")?,
        status: text(data, "status")?,
        outcome: text(data, "outcome")?,
        ..EventFields::default()
    };
    let target = Target {
        case_id: text(data, "case_id")?,
        client_id: text(data, "client_id")?,
        debtor_id: text(data, "debtor_id")?,
    };
    Ok((fields, target, at))
}

/// Reads a Stripe event: `payment_intent.succeeded` (a payment of `amount_received`) and
/// `charge.refunded` (a refund of what `amount_refunded` grew by), amounts in the
/// currency's minor units, the case named in the object's `metadata` (`case_id`, or
/// `client_id` with `invoice` or `debtor_id`).
fn read_stripe(body: &Value) -> (Option<String>, Option<String>, Reading) {
    let id = body.get("id").and_then(Value::as_str).map(str::to_string);
    let partner_type = body.get("type").and_then(Value::as_str).map(str::to_string);
    let kind = match partner_type.as_deref() {
        Some("payment_intent.succeeded") => "payment.received",
        Some("charge.refunded") => "payment.refunded",
        Some(_) => return (id, partner_type, Reading::Unknown),
        None => return (id, None, Reading::Invalid("no `type`".into())),
    };
    let reading = stripe_event(body, kind).unwrap_or_else(Reading::Invalid);
    (id, partner_type, reading)
}

fn stripe_event(body: &Value, kind: &'static str) -> Result<Reading, String> {
    let object = body.pointer("/data/object").ok_or("no `data.object`")?;
    let minor = |v: Option<&Value>, what: &str| {
        v.and_then(Value::as_i64)
            .ok_or_else(|| format!("`data.object.{what}` is not a whole number"))
    };
    let units = if kind == "payment.received" {
        minor(
            object
                .get("amount_received")
                .or_else(|| object.get("amount")),
            "amount_received",
        )?
    } else {
        let total = minor(object.get("amount_refunded"), "amount_refunded")?;
        let before = body
            .pointer("/data/previous_attributes/amount_refunded")
            .and_then(Value::as_i64)
            .unwrap_or(0);
        total - before
    };
    let code = text(object, "currency")?.ok_or("no `data.object.currency`")?;
    let currency = crate::money::parse_currency(&code).map_err(|e| e.to_string())?;
    let scale = crate::money::minor_units(currency).unwrap_or(0);
    let amount = Decimal::try_new(units, scale).map_err(|e| e.to_string())?;

    let empty = Value::Object(Default::default());
    let metadata = object.get("metadata").unwrap_or(&empty);
    let at = body
        .get("created")
        .and_then(Value::as_i64)
        .and_then(|s| DateTime::from_timestamp(s, 0));
    Ok(Reading::Event {
        kind,
        at,
        fields: Box::new(EventFields {
            amount: Some(amount),
            currency: Some(currency.code().to_string()),
            invoice: text(metadata, "invoice")?,
            reference: text(object, "id")?,
            ..EventFields::default()
        }),
        target: Target {
            case_id: text(metadata, "case_id")?,
            client_id: text(metadata, "client_id")?,
            debtor_id: text(metadata, "debtor_id")?,
        },
    })
}

/// A text field; absent, null or empty is `None`, another JSON type an error.
fn text(v: &Value, key: &str) -> Result<Option<String>, String> {
    match v.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) if s.trim().is_empty() => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.trim().to_string())),
        Some(other) => Err(format!("`{key}` must be a string, not {other}")),
    }
}

/// An amount: a decimal string (`"250.00"`) or a whole number; never a JSON float.
fn amount(v: &Value, key: &str) -> Result<Option<Decimal>, String> {
    match v.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Decimal::from_str(s.trim())
            .map(Some)
            .map_err(|_| format!("`{key}` {s:?} is not a decimal amount")),
        Some(Value::Number(n)) if n.is_i64() || n.is_u64() => Decimal::from_str(&n.to_string())
            .map(Some)
            .map_err(|e| e.to_string()),
        Some(other) => Err(format!(
            "`{key}` must be a decimal string such as \"12.50\", not {other}"
        )),
    }
}

fn digest(body: &[u8]) -> String {
    sha2::Sha256::digest(body)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn accepted(instance: Option<&str>) -> Response {
    Recorded::answer(true, instance.map(str::to_string))
}

fn duplicate(instance: Option<&str>) -> Response {
    Recorded::answer(false, instance.map(str::to_string))
}

fn stored(status: &str, reason: &str) -> Response {
    let body = Recorded {
        status: RecordedStatus::Stored,
        instance: None,
        stored_as: Some(status.to_string()),
        reason: Some(reason.to_string()),
    };
    (StatusCode::ACCEPTED, Json(body)).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn source(kind: InboundKind) -> InboundSource {
        InboundSource {
            id: "p".into(),
            kind,
            verifier: Verifier::Standard(Vec::new()),
            client_id: None,
        }
    }

    #[test]
    fn a_stripe_payment_intent_becomes_a_payment_in_major_units() {
        let body = json!({
            "id": "evt_1", "type": "payment_intent.succeeded", "created": 1_700_000_000,
            "data": {"object": {"id": "pi_1", "amount_received": 123_050, "currency": "eur",
                     "metadata": {"client_id": "acme", "invoice": "F-1"}}}
        });
        let (id, kind, reading) = read_stripe(&body);
        assert_eq!(id.as_deref(), Some("evt_1"));
        assert_eq!(kind.as_deref(), Some("payment_intent.succeeded"));
        let Reading::Event {
            kind,
            fields,
            target,
            ..
        } = reading
        else {
            panic!("a payment");
        };
        assert_eq!(kind, "payment.received");
        assert_eq!(fields.amount, Some(Decimal::new(123_050, 2)));
        assert_eq!(fields.invoice.as_deref(), Some("F-1"));
        assert_eq!(target.client_id.as_deref(), Some("acme"));
    }

    #[test]
    fn a_stripe_refund_counts_only_what_was_refunded_this_time() {
        let body = json!({
            "id": "evt_2", "type": "charge.refunded",
            "data": {"object": {"id": "ch_1", "amount_refunded": 5000, "currency": "jpy"},
                     "previous_attributes": {"amount_refunded": 2000}}
        });
        let Reading::Event { fields, .. } = read_stripe(&body).2 else {
            panic!("a refund");
        };
        assert_eq!(fields.amount, Some(Decimal::from(3000)));
    }

    #[test]
    fn a_float_amount_is_refused_and_a_string_or_whole_number_is_read() {
        assert!(amount(&json!({"amount": 12.5}), "amount").is_err());
        assert_eq!(
            amount(&json!({"amount": "12.50"}), "amount"),
            Ok(Some(Decimal::new(1250, 2)))
        );
        assert_eq!(
            amount(&json!({"amount": 12}), "amount"),
            Ok(Some(Decimal::from(12)))
        );
    }

    #[test]
    fn each_source_kind_reads_only_its_own_types() {
        assert_eq!(
            event_for(InboundKind::Agent, "payment.collected"),
            Some("agent.collected")
        );
        assert_eq!(event_for(InboundKind::Payment, "payment.collected"), None);
        assert_eq!(
            event_for(InboundKind::Insurer, "claim.paid"),
            Some("insurer.paid")
        );
        assert_eq!(event_for(InboundKind::Bank, "claim.paid"), None);
        let (_, _, reading) = read_standard(
            &source(InboundKind::Insurer),
            &json!({"type": "claim.received", "data": {"case_id": "c"}}),
        );
        let Reading::Event { kind, fields, .. } = reading else {
            panic!("an event");
        };
        assert_eq!(kind, "partner.status");
        assert_eq!(fields.status.as_deref(), Some("claim_received"));
        assert_eq!(fields.partner.as_deref(), Some("p"));
        let (_, _, reading) = read_standard(
            &source(InboundKind::Agent),
            &json!({"type": "file.teleported"}),
        );
        assert!(matches!(reading, Reading::Unknown));
    }
}
