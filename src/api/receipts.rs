//! Delivery receipts: `POST /api/v1/receipts/{provider}` takes a provider's callback
//! (delivered, bounced, failed, opened, replied), matches it to the outbox row it concerns and
//! records the matching `message.*` event for that row's instance.
//!
//! The handler only records; the scheduler applies the event. It never changes the outbox row
//! itself: what a bounce means is the scenario's to decide.

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use serde::Deserialize;
use utoipa::openapi::RefOr;
use utoipa::openapi::schema::{ObjectBuilder, Schema, SchemaType, Type};
use utoipa::{PartialSchema, ToSchema};

use super::partners::SignatureHeaders;
use super::v1::ProblemBody;
use super::{AppState, Problem, Recorded, internal};
use crate::engine::{Event, EventFields};

/// The providers a receipt may come from, as the path spells them.
pub const RECEIPT_PROVIDERS: &[&str] = &[
    "smtp", "sms", "webhook", "post", "fax", "voice", "message", "generic",
];

/// The longest `proof` text a receipt may carry; a scanned proof goes by `proof_url`.
pub const MAX_PROOF_CHARS: usize = 500;

/// A delivery receipt, as posted.
#[derive(Debug, Deserialize, ToSchema)]
#[schema(example = json!({"key": "case-42/reminder-1/email", "status": "delivered"}))]
#[serde(deny_unknown_fields)]
pub struct Receipt {
    /// The receipt's own id; the `Idempotency-Key` or `webhook-id` header may give it
    /// instead. Without any, the key and status stand for it.
    #[serde(default)]
    pub id: Option<String>,
    /// The action's idempotency key (what relance gave the provider).
    #[serde(default)]
    pub key: Option<String>,
    /// The provider's own message id, when the key is not known.
    #[serde(default)]
    pub provider_id: Option<String>,
    pub status: ReceiptStatus,
    /// The channel; default: the outbox row's.
    #[serde(default)]
    pub channel: Option<String>,
    /// When it happened (RFC 3339); default: when it was received.
    #[serde(default)]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub at: Option<DateTime<Utc>>,
    /// The provider's reason (a bounce code, an error text).
    #[serde(default)]
    pub reason: Option<String>,
    /// The address an incoming reply was sent to: replies to relance's emails go to the
    /// case's Reply-To sub-address (`credit+case-…@`), so with `status: replied` and no
    /// `key`, it names the case.
    #[serde(default)]
    pub to: Option<String>,
    /// A letter's tracking number: the provider id the `post` adapter recorded, so it
    /// finds the message when neither `key` nor `provider_id` is given.
    #[serde(default)]
    pub tracking: Option<String>,
    /// Where the proof of delivery (the signed acknowledgement of receipt) can be fetched.
    #[serde(default)]
    pub proof_url: Option<String>,
    /// The proof of delivery as text (who signed, when), at most 500 characters
    /// ([`MAX_PROOF_CHARS`]).
    #[serde(default)]
    #[schema(max_length = 500)]
    pub proof: Option<String>,
}

impl Receipt {
    /// The proof of delivery as the journal shows it (`tracking RR1, proof https://…`), or
    /// none.
    fn proof_line(&self) -> Option<String> {
        let parts: Vec<String> = [
            ("tracking", &self.tracking),
            ("proof", &self.proof_url),
            ("proof", &self.proof),
        ]
        .into_iter()
        .filter_map(|(name, value)| {
            let value = value.as_deref()?.trim();
            (!value.is_empty()).then(|| format!("{name} {value}"))
        })
        .collect();
        (!parts.is_empty()).then(|| parts.join(", "))
    }

    /// What is wrong with the proof fields, if anything.
    fn proof_problem(&self) -> Option<String> {
        if let Some(url) = self.proof_url.as_deref().map(str::trim)
            && !(url.starts_with("https://") || url.starts_with("http://"))
        {
            return Some(format!(
                "`proof_url` must be a web address (https://…), not `{url}`"
            ));
        }
        if self
            .proof
            .as_deref()
            .is_some_and(|p| p.chars().count() > MAX_PROOF_CHARS)
        {
            return Some(format!(
                "`proof` is longer than {MAX_PROOF_CHARS} characters; give a document by \
                 `proof_url` instead"
            ));
        }
        None
    }
}

/// What happened to a message.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ReceiptStatus {
    Delivered,
    Bounced,
    Failed,
    Opened,
    Replied,
}

impl ReceiptStatus {
    pub fn name(self) -> &'static str {
        match self {
            ReceiptStatus::Delivered => "delivered",
            ReceiptStatus::Bounced => "bounced",
            ReceiptStatus::Failed => "failed",
            ReceiptStatus::Opened => "opened",
            ReceiptStatus::Replied => "replied",
        }
    }

    /// The event a receipt becomes; a failure is a bounce, since for the scenario both
    /// mean the message did not reach the debtor.
    pub fn event_type(self) -> &'static str {
        match self {
            ReceiptStatus::Delivered => "message.delivered",
            ReceiptStatus::Bounced | ReceiptStatus::Failed => "message.bounced",
            ReceiptStatus::Opened => "message.opened",
            ReceiptStatus::Replied => "message.replied",
        }
    }
}

/// A receipt provider's name, as the path spells it, for the OpenAPI
/// document: one of [`RECEIPT_PROVIDERS`].
pub(super) struct ProviderName;

impl PartialSchema for ProviderName {
    fn schema() -> RefOr<Schema> {
        ObjectBuilder::new()
            .schema_type(SchemaType::new(Type::String))
            .enum_values(Some(RECEIPT_PROVIDERS.iter().copied()))
            .into()
    }
}

impl ToSchema for ProviderName {}

/// `POST /api/v1/receipts/{provider}`: 202 when recorded, 200 when that receipt was
/// already recorded, 404 for an unknown provider or message.
#[utoipa::path(post, path = "/api/v1/receipts/{provider}", tag = "callbacks",
    operation_id = "receive_receipt",
    summary = "Record a provider's delivery receipt",
    description = "A provider's delivery receipt. It takes no token: a provider configured \
                   in `webhooks_in` under the same id must sign it (Standard Webhooks or \
                   Stripe headers); any other provider's receipt is taken unsigned.",
    security(()),
    params(
        ("provider" = inline(ProviderName), Path, description = "who sends the receipt"),
        ("Idempotency-Key" = Option<String>, Header,
            description = "the receipt's id, when the body gives none"),
        SignatureHeaders,
    ),
    request_body = Receipt,
    responses(
        (status = 202, description = "recorded; the scheduler applies it", body = Recorded),
        (status = 200, description = "recorded before", body = Recorded),
        (status = 400, body = ProblemBody, content_type = "application/problem+json"),
        (status = 401, description = "a configured provider's signature is missing or wrong",
            body = ProblemBody, content_type = "application/problem+json"),
        (status = 404, description = "no such provider, or no message sent by relance matches",
            body = ProblemBody, content_type = "application/problem+json"),
        (status = 413, body = ProblemBody, content_type = "application/problem+json"),
        (status = 422, body = ProblemBody, content_type = "application/problem+json"),
    ))]
pub(super) async fn receive(
    State(state): State<AppState>,
    Path(provider): Path<String>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    // A provider configured in `webhooks_in` under the same id must sign its receipts.
    // TODO: a provider that is not configured there is still taken unsigned; put the
    // endpoint behind a trusted network, or configure every provider, until that changes.
    if let Some(source) = state.inbound.get(&provider)
        && let Err(p) = super::partners::check(source, &headers, &body)
    {
        return p.into_response();
    }
    if !RECEIPT_PROVIDERS.contains(&provider.as_str()) {
        return Problem::new(
            StatusCode::NOT_FOUND,
            "unknown_provider",
            format!(
                "no receipt provider `{provider}`: the providers are {}",
                RECEIPT_PROVIDERS.join(", ")
            ),
        )
        .into_response();
    }
    let receipt: Receipt = match super::parse_json(&body) {
        Ok(r) => r,
        Err(p) => return p.into_response(),
    };
    let header_id = super::delivery_id(&headers);
    match record_receipt(&state, &provider, receipt, header_id).await {
        Ok((new, instance)) => {
            if new {
                state.notify.notify_one();
            }
            Recorded::answer(new, Some(instance))
        }
        Err(p) => p.into_response(),
    }
}

/// Records `receipt` as an event; returns (new?, instance id).
pub(super) async fn record_receipt(
    state: &AppState,
    provider: &str,
    receipt: Receipt,
    header_id: Option<String>,
) -> Result<(bool, String), Problem> {
    // A tracking number is the provider id the post adapter recorded.
    let provider_id = receipt.provider_id.clone().or(receipt.tracking.clone());
    if receipt.key.is_none() && provider_id.is_none() && receipt.to.is_some() {
        return record_reply(state, provider, receipt, header_id).await;
    }
    if receipt.key.is_none() && provider_id.is_none() {
        return Err(Problem::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_receipt",
            "give `key` (the idempotency key relance sent), `provider_id`, `tracking`, or `to` \
             for a reply",
        ));
    }
    if let Some(problem) = receipt.proof_problem() {
        return Err(Problem::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_receipt",
            problem,
        ));
    }
    let target = state
        .store
        .outbox_for_receipt(receipt.key.as_deref(), provider_id.as_deref())
        .await
        .map_err(internal)?;
    let Some(target) = target else {
        let named = match (&receipt.key, &provider_id) {
            (Some(key), _) => format!("key `{key}`"),
            (None, Some(id)) => format!("provider id or tracking number `{id}`"),
            (None, None) => String::new(),
        };
        return Err(Problem::new(
            StatusCode::NOT_FOUND,
            "message_not_found",
            format!("no message sent by relance has {named}"),
        ));
    };

    let status = receipt.status;
    let proof = receipt.proof_line();
    let delivery = receipt
        .id
        .or(header_id)
        .map(|id| format!("receipt/{provider}/{id}"))
        .unwrap_or_else(|| format!("receipt/{}/{}", target.key, status.name()));
    let now = state.clock.now();
    let event = Event {
        id: Some(delivery),
        kind: status.event_type().to_string(),
        at: receipt.at.unwrap_or(now),
        fields: EventFields {
            channel: Some(receipt.channel.unwrap_or_else(|| target.channel.clone())),
            step: Some(target.step.clone()),
            reference: Some(target.key.clone()),
            status: Some(status.name().to_string()),
            reason: receipt.reason,
            // The proof of delivery is the outcome of the send, so the journal shows it.
            outcome: proof,
            ..EventFields::default()
        },
    };
    event.validate().map_err(|e| {
        Problem::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_event",
            e.to_string(),
        )
    })?;
    let new = super::store_event(&state.store, &target.instance_id, &event, now).await?;
    tracing::info!(
        instance.id = %target.instance_id,
        key = %target.key,
        receipt.provider = provider,
        receipt.status = status.name(),
        new,
        "delivery receipt"
    );
    Ok((new, target.instance_id))
}

/// A reply that came back to a case's Reply-To sub-address: `message.replied` for that
/// case's instance.
async fn record_reply(
    state: &AppState,
    provider: &str,
    receipt: Receipt,
    header_id: Option<String>,
) -> Result<(bool, String), Problem> {
    let invalid =
        |detail: String| Problem::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid_receipt", detail);
    if receipt.status != ReceiptStatus::Replied {
        return Err(invalid(
            "`to` finds the case of a reply only: give `status: replied`, or the message's `key`"
                .into(),
        ));
    }
    let address = receipt.to.as_deref().unwrap_or_default();
    let Some(case_id) = crate::channels::case_id_from_address(address) else {
        return Err(invalid(
            "`to` is not a reply address relance gave (no `+case-…` sub-address)".into(),
        ));
    };
    // An instance has its case's id.
    if state
        .store
        .instance_state(&case_id)
        .await
        .map_err(internal)?
        .is_none()
    {
        return Err(Problem::new(
            StatusCode::NOT_FOUND,
            "message_not_found",
            format!("the reply address names case `{case_id}`, which relance does not know"),
        ));
    }
    let now = state.clock.now();
    let at = receipt.at.unwrap_or(now);
    let delivery = receipt
        .id
        .or(header_id)
        .map(|id| format!("receipt/{provider}/{id}"))
        .unwrap_or_else(|| format!("reply/{case_id}/{}", at.timestamp_millis()));
    let event = Event {
        id: Some(delivery),
        kind: "message.replied".into(),
        at,
        fields: EventFields {
            channel: Some(receipt.channel.unwrap_or_else(|| "email".into())),
            status: Some("replied".into()),
            reason: receipt.reason,
            ..EventFields::default()
        },
    };
    let new = super::store_event(&state.store, &case_id, &event, now).await?;
    tracing::info!(instance.id = %case_id, receipt.provider = provider, new, "reply received");
    Ok((new, case_id))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failure_becomes_a_bounce_and_the_rest_keep_their_name() {
        assert_eq!(ReceiptStatus::Failed.event_type(), "message.bounced");
        assert_eq!(ReceiptStatus::Bounced.event_type(), "message.bounced");
        assert_eq!(ReceiptStatus::Delivered.event_type(), "message.delivered");
        assert_eq!(ReceiptStatus::Opened.event_type(), "message.opened");
        assert_eq!(ReceiptStatus::Replied.event_type(), "message.replied");
    }

    #[test]
    fn a_receipt_with_an_unknown_status_is_refused() {
        let bad = serde_json::from_str::<Receipt>(r#"{"key":"k","status":"lost"}"#);
        assert!(bad.is_err());
        let good: Receipt = serde_json::from_str(r#"{"key":"k","status":"bounced"}"#).unwrap();
        assert_eq!(good.status, ReceiptStatus::Bounced);
        assert_eq!(good.proof_line(), None);
    }

    #[test]
    fn a_proof_of_delivery_reads_as_one_line_and_must_be_short_or_a_link() {
        let receipt: Receipt = serde_json::from_str(
            r#"{"tracking":"RR1","status":"delivered","proof_url":"https://p.example/ar/RR1",
                "proof":"signed by J. Martin"}"#,
        )
        .unwrap();
        assert_eq!(
            receipt.proof_line().as_deref(),
            Some("tracking RR1, proof https://p.example/ar/RR1, proof signed by J. Martin")
        );
        assert_eq!(receipt.proof_problem(), None);

        let bad: Receipt = serde_json::from_str(
            r#"{"tracking":"RR1","status":"delivered","proof_url":"file:///x"}"#,
        )
        .unwrap();
        assert!(bad.proof_problem().is_some());
        let long = format!(
            r#"{{"tracking":"RR1","status":"delivered","proof":"{}"}}"#,
            "x".repeat(MAX_PROOF_CHARS + 1)
        );
        let long: Receipt = serde_json::from_str(&long).unwrap();
        assert!(long.proof_problem().is_some());
    }
}
