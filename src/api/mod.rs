//! HTTP: health, readiness, Prometheus metrics, the event intake, the
//! audit log and the providers' callbacks; the REST resources are in `v1`.
//!
//! Handlers parse, check and hand over to the store; they never run the
//! engine themselves: the scheduler applies what they record.
//!
//! Routes in `token_routes` need an API token; around them, from the
//! outside in: the token check (401), the per-token rate limit (429) and
//! the `Idempotency-Key` replay of POST and PATCH. Health, readiness,
//! metrics and the provider callbacks of `callback_routes` stay outside
//! those layers. Both route lists are `OpenApiRouter`s: what they serve
//! under `/api/v1` is what the OpenAPI document of [`v1::openapi`] says.

pub mod audit;
pub mod auth;
pub mod idempotency;
pub mod limits;
mod partners;
pub mod problems;
mod receipts;
pub mod signature;
pub mod v1;

use std::sync::Arc;

use axum::extract::{DefaultBodyLimit, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::json;
use tokio::sync::Notify;
use utoipa::ToSchema;
use utoipa::openapi::schema::{ObjectBuilder, Schema, SchemaType, Type};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::engine::{Event, EventFields};
use crate::runtime::{Clock, Metrics};
use crate::scenario::EVENT_TYPES;
use crate::store::{NewEvent, Store};
use auth::{Caller, Permission};
use limits::Limits;

pub use partners::{InboundSource, InboundSources};
pub use receipts::{RECEIPT_PROVIDERS, Receipt, ReceiptStatus};

/// What the handlers share.
#[derive(Clone)]
pub struct AppState {
    pub store: Store,
    pub metrics: Arc<Metrics>,
    pub notify: Arc<Notify>,
    pub clock: Clock,
    /// The sources of signed partner webhooks (`webhooks_in`).
    pub inbound: Arc<InboundSources>,
}

/// The router, with a request body limit and the default rate limit.
pub fn router(state: AppState, body_limit: usize) -> Router {
    router_with(state, Limits::with_body_limit(body_limit))
}

/// The routes that need an API token. A route added here is authenticated,
/// rate-limited per token, and honours `Idempotency-Key` on POST and PATCH;
/// its handler takes a [`Caller`] and asks it for a permission.
fn token_routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(intake))
        .routes(routes!(audit::list))
        .merge(v1::resources())
}

/// The providers' and partners' callbacks: no token, no rate limit, no
/// idempotency layer; each checks its own signature.
fn callback_routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(receipts::receive))
        .routes(routes!(partners::receive))
}

/// The router with every limit given.
pub fn router_with(state: AppState, limits: Limits) -> Router {
    let (api, _) = token_routes().split_for_parts();
    let api = idempotency::keep_answers(
        api,
        idempotency::Keys::new(state.store.clone(), limits.body_limit),
    );
    let api = limits::rate_limit(
        api,
        Arc::new(limits::RateLimiter::new(
            limits.rate_limit_per_second,
            limits.rate_limit_burst,
        )),
    );
    let api = auth::require_token(api, &state);
    let (callbacks, _) = callback_routes().split_for_parts();
    Router::new()
        .route("/health", get(health))
        .route("/ready", get(ready))
        .route("/metrics", get(metrics))
        .merge(callbacks)
        .merge(v1::document())
        .merge(api)
        .layer(DefaultBodyLimit::max(limits.body_limit))
        .layer(axum::middleware::from_fn_with_state(
            limits.body_limit,
            limits::body_too_large,
        ))
        .with_state(state)
}

/// An error as `application/problem+json`, with a stable code.
#[derive(Debug)]
pub struct Problem {
    status: StatusCode,
    code: &'static str,
    detail: String,
}

impl Problem {
    /// A problem with one of the codes of [`problems::PROBLEM_CODES`]; in
    /// debug builds (every test) a code missing there, or answered with
    /// another status than the table's, panics.
    pub fn new(status: StatusCode, code: &'static str, detail: impl Into<String>) -> Self {
        debug_assert!(
            problems::status_of(code).is_some(),
            "problem code `{code}` is not in PROBLEM_CODES (src/api/problems.rs)"
        );
        debug_assert!(
            problems::status_of(code).is_none_or(|s| s == status.as_u16()),
            "problem code `{code}` is answered with {} in PROBLEM_CODES, not {}",
            problems::status_of(code).unwrap_or_default(),
            status.as_u16()
        );
        Problem {
            status,
            code,
            detail: detail.into(),
        }
    }

    /// The stable code.
    pub fn code(&self) -> &'static str {
        self.code
    }

    pub fn status(&self) -> StatusCode {
        self.status
    }
}

impl IntoResponse for Problem {
    fn into_response(self) -> Response {
        let body = json!({
            "type": format!("urn:relance:problem:{}", self.code),
            "title": self.code,
            "status": self.status.as_u16(),
            "detail": self.detail,
        });
        (
            self.status,
            [(header::CONTENT_TYPE, "application/problem+json")],
            body.to_string(),
        )
            .into_response()
    }
}

async fn health() -> &'static str {
    "ok\n"
}

async fn ready(State(state): State<AppState>) -> Response {
    match state.store.ping().await {
        Ok(()) => (StatusCode::OK, "ready\n").into_response(),
        Err(err) => Problem::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "database_unavailable",
            err.to_string(),
        )
        .into_response(),
    }
}

async fn metrics(State(state): State<AppState>) -> Response {
    let mut out = state.metrics.render();
    if let Ok(report) = state.store.status(state.clock.now_ms()).await {
        out.push_str(
            "# HELP relance_instances instances by status\n# TYPE relance_instances gauge\n",
        );
        for (status, n) in &report.instances {
            out.push_str(&format!("relance_instances{{status=\"{status}\"}} {n}\n"));
        }
        out.push_str("# HELP relance_outbox outbox rows by status\n# TYPE relance_outbox gauge\n");
        for (status, n) in &report.outbox {
            out.push_str(&format!("relance_outbox{{status=\"{status}\"}} {n}\n"));
        }
        out.push_str(&format!(
            "# HELP relance_due_instances instances due now\n# TYPE relance_due_instances gauge\nrelance_due_instances {}\n",
            report.due_now
        ));
    }
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], out).into_response()
}

/// An event posted to the intake: its type, how to find its case, and its
/// fields (amounts as decimal strings).
#[derive(Debug, Deserialize, ToSchema)]
#[schema(example = json!({
    "id": "bank-2026-0042",
    "type": "payment.received",
    "client_id": "atelier-dupont",
    "invoice": "F-2026-001",
    "amount": "120.00",
    "currency": "EUR",
    "at": "2026-12-01T09:30:00Z",
}))]
pub struct Intake {
    /// Delivery id; the `Idempotency-Key` header may give it instead.
    #[serde(default)]
    pub id: Option<String>,
    /// One of the event types relance knows.
    #[serde(rename = "type")]
    #[schema(schema_with = event_type_schema)]
    pub kind: String,
    pub client_id: String,
    #[serde(default)]
    pub debtor_id: Option<String>,
    #[serde(default)]
    pub case_id: Option<String>,
    /// When it happened (RFC 3339); default: when it was received.
    #[serde(default)]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub at: Option<DateTime<Utc>>,
    #[serde(flatten)]
    #[schema(value_type = EventFieldsDoc)]
    pub fields: EventFields,
}

/// The schema of an event's `type`: one of [`EVENT_TYPES`].
fn event_type_schema() -> Schema {
    ObjectBuilder::new()
        .schema_type(SchemaType::new(Type::String))
        .enum_values(Some(EVENT_TYPES.iter().copied()))
        .description(Some("one of the event types relance knows"))
        .into()
}

/// The fields an event may carry, for the OpenAPI document: the engine's
/// `EventFields`, which knows nothing of OpenAPI, described by hand (a unit
/// test checks that both name the same fields). Which fields an event
/// needs depends on its type.
#[derive(ToSchema)]
#[schema(as = EventFields)]
#[allow(dead_code)]
struct EventFieldsDoc {
    /// A decimal string (`120.50`), in `currency`.
    #[schema(example = "120.50")]
    amount: Option<String>,
    /// ISO 4217.
    #[schema(example = "EUR")]
    currency: Option<String>,
    /// The invoice number the event concerns.
    invoice: Option<String>,
    /// A payment's or provider's reference.
    reference: Option<String>,
    reason: Option<String>,
    /// A promise's date, the date an operator's pause lasts until, or any
    /// date the event names (`YYYY-MM-DD`).
    #[schema(format = Date)]
    date: Option<String>,
    /// The channel of a delivery receipt.
    channel: Option<String>,
    /// The step whose message a receipt concerns; for `operator.skip`, the
    /// step to skip.
    step: Option<String>,
    partner: Option<String>,
    status: Option<String>,
    /// The outcome of a partner's file, of a phone task, or of an
    /// `operator.close`.
    outcome: Option<String>,
    /// The kind of an insolvency proceeding: safeguard, receivership,
    /// liquidation.
    kind: Option<String>,
    /// A payment plan's instalments.
    instalments: Option<Vec<InstalmentDoc>>,
}

/// One instalment of a payment plan.
#[derive(ToSchema)]
#[schema(as = Instalment)]
#[allow(dead_code)]
struct InstalmentDoc {
    #[schema(format = Date, example = "2027-01-15")]
    date: String,
    /// A decimal string.
    #[schema(example = "50.00")]
    amount: String,
}

/// What the intake, a receipt or a webhook recorded.
#[derive(Debug, Serialize, ToSchema)]
pub struct Recorded {
    pub status: RecordedStatus,
    /// The instance of the case the event went to; none for a webhook
    /// stored for an operator.
    pub instance: Option<String>,
    /// How a stored webhook was stored: `unknown_type` or `unmatched`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stored_as: Option<String>,
    /// Why a stored webhook was not applied.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// Whether a delivery was new.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum RecordedStatus {
    /// New: recorded for the scheduler to apply (202).
    Accepted,
    /// Recorded before under the same delivery id: nothing changed (200).
    Duplicate,
    /// A verified webhook relance cannot apply, kept for an operator (202).
    Stored,
}

impl Recorded {
    /// The answer to a new (202) or already recorded (200) delivery.
    pub fn answer(new: bool, instance: Option<String>) -> Response {
        let (code, status) = if new {
            (StatusCode::ACCEPTED, RecordedStatus::Accepted)
        } else {
            (StatusCode::OK, RecordedStatus::Duplicate)
        };
        let body = Recorded {
            status,
            instance,
            stored_as: None,
            reason: None,
        };
        (code, Json(body)).into_response()
    }
}

/// Records an intake event for its case; returns (new?, instance id).
pub async fn record(
    store: &Store,
    intake: Intake,
    delivery: Option<String>,
    now: DateTime<Utc>,
) -> Result<(bool, String), Problem> {
    // The event is checked before its case is looked up: a malformed event
    // is a 422 whichever case it names.
    let probe = Event {
        id: None,
        kind: intake.kind.clone(),
        at: now,
        fields: intake.fields.clone(),
    };
    probe.validate().map_err(|e| {
        Problem::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_event",
            e.to_string(),
        )
    })?;
    let instance = match &intake.case_id {
        // A case of another client is no case of this one.
        Some(id) => store
            .instance_client(id)
            .await
            .map_err(internal)?
            .filter(|client| *client == intake.client_id)
            .map(|_| id.clone()),
        None => store
            .correlate(
                &intake.client_id,
                intake.debtor_id.as_deref(),
                intake.fields.invoice.as_deref(),
            )
            .await
            .map_err(internal)?,
    };
    let Some(instance_id) = instance else {
        return Err(Problem::new(
            StatusCode::NOT_FOUND,
            "case_not_found",
            format!(
                "no case of client `{}` matches {}",
                intake.client_id,
                match (&intake.case_id, &intake.debtor_id, &intake.fields.invoice) {
                    (Some(c), _, _) => format!("case `{c}`"),
                    (_, _, Some(i)) => format!("invoice `{i}`"),
                    (_, Some(d), _) => format!("debtor `{d}`"),
                    _ => "nothing: give case_id, debtor_id or invoice".to_string(),
                }
            ),
        ));
    };
    let event = Event {
        id: delivery.clone().or(intake.id.clone()),
        kind: intake.kind,
        at: intake.at.unwrap_or(now),
        fields: intake.fields,
    };
    let new = store_event(store, &instance_id, &event, now).await?;
    Ok((new, instance_id))
}

/// Stores `event` for `instance_id`, once by its delivery id (`event.id`); whether it was
/// new.
pub(crate) async fn store_event(
    store: &Store,
    instance_id: &str,
    event: &Event,
    now: DateTime<Utc>,
) -> Result<bool, Problem> {
    let payload = serde_json::to_string(event).map_err(internal)?;
    store
        .record_event(
            &NewEvent {
                delivery_id: event.id.clone(),
                instance_id: instance_id.to_string(),
                kind: event.kind.clone(),
                payload,
            },
            now.timestamp_millis(),
        )
        .await
        .map_err(internal)
}

fn internal(err: impl ToString) -> Problem {
    Problem::new(
        StatusCode::INTERNAL_SERVER_ERROR,
        "internal",
        err.to_string(),
    )
}

/// A JSON body, or a 400 problem naming the line and column.
fn parse_json<T: serde::de::DeserializeOwned>(body: &[u8]) -> Result<T, Problem> {
    serde_json::from_slice(body).map_err(|err| {
        Problem::new(
            StatusCode::BAD_REQUEST,
            "invalid_json",
            format!("line {} column {}: {err}", err.line(), err.column()),
        )
    })
}

/// The sender's delivery id: `Idempotency-Key`, or Standard Webhooks' `webhook-id`.
fn delivery_id(headers: &HeaderMap) -> Option<String> {
    headers
        .get("idempotency-key")
        .or_else(|| headers.get("webhook-id"))
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
}

/// `POST /api/v1/events`: a token with [`Permission::PostEvents`] that
/// reaches the event's client; a new event is audited.
#[utoipa::path(post, path = "/api/v1/events", tag = "events",
    operation_id = "post_event",
    summary = "Record an event for its case",
    description = "Needs a token of the admin, operator or partner role that reaches the \
                   event's client. The event is checked, then its case is found by `case_id`, or by \
                   the client's invoice or debtor; the scheduler applies it.",
    request_body = Intake,
    params(
        ("Idempotency-Key" = Option<String>, Header,
            description = "the delivery id; a retry with the same key and body is answered \
                           as the first time, with another body is a 409"),
    ),
    responses(
        (status = 202, description = "recorded; the scheduler applies it", body = Recorded),
        (status = 200, description = "recorded before under the same delivery id", body = Recorded),
        (status = 400, body = v1::ProblemBody, content_type = "application/problem+json"),
        (status = 401, body = v1::ProblemBody, content_type = "application/problem+json"),
        (status = 403, body = v1::ProblemBody, content_type = "application/problem+json"),
        (status = 404, description = "no case of the client matches",
            body = v1::ProblemBody, content_type = "application/problem+json"),
        (status = 409, description = "the `Idempotency-Key` was used with another body",
            body = v1::ProblemBody, content_type = "application/problem+json"),
        (status = 413, body = v1::ProblemBody, content_type = "application/problem+json"),
        (status = 422, description = "the event's type or fields are wrong",
            body = v1::ProblemBody, content_type = "application/problem+json"),
        (status = 429, body = v1::ProblemBody, content_type = "application/problem+json"),
    ))]
async fn intake(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    if let Err(p) = caller.require(Permission::PostEvents) {
        return p.into_response();
    }
    let intake: Intake = match parse_json(&body) {
        Ok(i) => i,
        Err(p) => return p.into_response(),
    };
    if let Err(p) = caller.reach(&intake.client_id, "case") {
        return p.into_response();
    }
    let delivery = delivery_id(&headers);
    let kind = intake.kind.clone();
    let named = delivery.clone().or_else(|| intake.id.clone());
    let now = state.clock.now();
    match record(&state.store, intake, delivery, now).await {
        Ok((true, instance)) => {
            state.notify.notify_one();
            // TODO: the audit line is written after the event, not in its
            // transaction: a crash between the two leaves an unaudited event.
            let detail = match &named {
                Some(d) => format!("{kind} (delivery {d})"),
                None => kind,
            };
            let subject = format!("instance:{instance}");
            if let Err(p) = audit::audit(
                &state.store,
                &caller,
                "event.record",
                &subject,
                &detail,
                now.timestamp_millis(),
            )
            .await
            {
                return p.into_response();
            }
            Recorded::answer(true, Some(instance))
        }
        Ok((false, instance)) => Recorded::answer(false, Some(instance)),
        Err(p) => p.into_response(),
    }
}
