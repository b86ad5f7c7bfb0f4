//! The REST resources under `/api/v1`, and the OpenAPI document of every
//! route under `/api/v1`.
//!
//! Each handler asks the [`Caller`] for the permission its endpoint needs
//! and for the client the resource belongs to, writes through the store,
//! and appends every change, and every read of a debtor's personal data,
//! to the audit log. The OpenAPI document at `/api/v1/openapi.json` is
//! generated from the handlers' annotations and types, from the same
//! routers that serve them (the resources here, the event intake, the audit
//! log and the provider callbacks of `api`), so it cannot drift from the
//! routes. Handlers never run the engine's steps on a live case:
//! what changes a case's course is recorded as an event, which the
//! scheduler applies.

mod cases;
mod clients;
mod ledger;
mod scenarios;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, OnceLock};

use axum::extract::{FromRequest, FromRequestParts, Path, Query, Request};
use axum::http::request::Parts;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::{Json, Router};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Utc};
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::json;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{IntoParams, Modify, OpenApi, ToSchema};
use utoipa_axum::router::OpenApiRouter;

use super::auth::Caller;
use super::{AppState, Problem, internal};
use crate::scenario::{self, Scenario};
use crate::store::Store;

pub use super::limits::{DEFAULT_PAGE_SIZE as DEFAULT_PAGE, MAX_PAGE_SIZE as MAX_PAGE};

#[derive(OpenApi)]
#[openapi(
    info(
        title = "relance",
        description = "Collect unpaid invoices under the creditor's brand: clients, debtors, \
                       invoices, cases, scenario instances and their operator actions, the \
                       event intake, the audit log, and the providers' and partners' \
                       callbacks (delivery receipts and signed webhooks, which take no token)."
    ),
    modifiers(&Bearer),
    security(("bearer" = [])),
    components(schemas(ProblemBody))
)]
struct ApiDoc;

/// Adds the bearer token scheme every endpoint uses but the callbacks.
struct Bearer;

impl Modify for Bearer {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some("an API token from `relance token create`"))
                    .build(),
            ),
        );
    }
}

/// The REST resources of `/api/v1`, with their documentation. Every route
/// here needs a token: `api` serves them inside its token layers.
pub(super) fn resources() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .merge(clients::routes())
        .merge(ledger::routes())
        .merge(cases::routes())
        .merge(scenarios::routes())
}

/// The OpenAPI document of `/api/v1`, as served: the routes that need a
/// token (the resources among them) and the callbacks that need none,
/// documented by the same routers that serve them.
pub fn openapi() -> utoipa::openapi::OpenApi {
    let mut doc = ApiDoc::openapi();
    doc.merge(super::token_routes().into_openapi());
    doc.merge(super::callback_routes().into_openapi());
    doc
}

/// `GET /api/v1/openapi.json`, the document of every route under
/// `/api/v1`; it needs no token, so that tools can read it before they
/// have one.
pub fn document() -> Router<AppState> {
    let doc = Arc::new(openapi());
    Router::new().route(
        "/api/v1/openapi.json",
        axum::routing::get(move || {
            let doc = doc.clone();
            async move { Json(doc.as_ref().clone()) }
        }),
    )
}

/// An error as served: `application/problem+json`.
#[derive(ToSchema)]
#[allow(dead_code)]
pub(super) struct ProblemBody {
    /// `urn:relance:problem:<code>`.
    r#type: String,
    /// The stable code.
    title: String,
    status: u16,
    /// What is wrong, naming the field (`invoices[0].amount: …`).
    detail: String,
    /// Scenario diagnostics, on a refused upload.
    errors: Option<Vec<scenarios::DiagnosticOut>>,
}

/// `limit` and `cursor` of a list.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PageQuery {
    /// At most this many items (1 to 500, default 50).
    pub limit: Option<u64>,
    /// `next_cursor` of the previous page.
    pub cursor: Option<String>,
}

impl PageQuery {
    /// The page size, or a 400 naming `limit`.
    pub fn limit(&self) -> Result<u64, Problem> {
        super::limits::page_size(self.limit)
    }

    /// The id the page starts after (empty: from the start).
    pub fn after(&self) -> Result<String, Problem> {
        let Some(cursor) = &self.cursor else {
            return Ok(String::new());
        };
        URL_SAFE_NO_PAD
            .decode(cursor)
            .ok()
            .and_then(|b| String::from_utf8(b).ok())
            .ok_or_else(|| {
                bad_request(
                    "invalid_page",
                    "cursor: not a cursor this API gave; pass `next_cursor` as it came",
                )
            })
    }

    /// The numeric id the page starts after (0: from the start).
    pub fn after_number(&self) -> Result<i64, Problem> {
        let after = self.after()?;
        if after.is_empty() {
            return Ok(0);
        }
        after.parse().map_err(|_| {
            bad_request(
                "invalid_page",
                "cursor: not a cursor of this list; pass `next_cursor` as it came",
            )
        })
    }
}

/// The cursor of the next page: the last id, when the page was full.
pub fn next_cursor(last: Option<&str>, count: usize, limit: u64) -> Option<String> {
    match last {
        Some(id) if count as u64 >= limit => Some(URL_SAFE_NO_PAD.encode(id)),
        _ => None,
    }
}

/// A JSON body, or a 400 problem naming the field where it went wrong.
pub struct ApiJson<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for ApiJson<T> {
    type Rejection = Problem;

    async fn from_request(req: Request, state: &S) -> Result<Self, Problem> {
        let bytes = axum::body::Bytes::from_request(req, state)
            .await
            .map_err(body_rejection)?;
        parse_body(&bytes).map(ApiJson)
    }
}

/// A JSON body whose fields are all optional: an empty body is the default.
pub struct OptionalJson<T>(pub T);

impl<T: DeserializeOwned + Default, S: Send + Sync> FromRequest<S> for OptionalJson<T> {
    type Rejection = Problem;

    async fn from_request(req: Request, state: &S) -> Result<Self, Problem> {
        let bytes = axum::body::Bytes::from_request(req, state)
            .await
            .map_err(body_rejection)?;
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return Ok(OptionalJson(T::default()));
        }
        parse_body(&bytes).map(OptionalJson)
    }
}

/// A body as bytes, or a problem when it cannot be read.
pub struct RawBody(pub axum::body::Bytes);

impl<S: Send + Sync> FromRequest<S> for RawBody {
    type Rejection = Problem;

    async fn from_request(req: Request, state: &S) -> Result<Self, Problem> {
        axum::body::Bytes::from_request(req, state)
            .await
            .map(RawBody)
            .map_err(body_rejection)
    }
}

/// A body that could not be read: too large, or cut short.
fn body_rejection(e: axum::extract::rejection::BytesRejection) -> Problem {
    if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
        Problem::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "body_too_large",
            e.body_text(),
        )
    } else {
        bad_request("invalid_json", e.body_text())
    }
}

/// Parses a JSON body; errors name the field path (`invoices[0].amount`).
pub fn parse_body<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, Problem> {
    let mut de = serde_json::Deserializer::from_slice(bytes);
    serde_path_to_error::deserialize(&mut de).map_err(|err| {
        let path = err.path().to_string();
        let inner = err.into_inner();
        let at = format!("line {} column {}", inner.line(), inner.column());
        let message = strip_position(&inner.to_string());
        let detail = if path == "." || path.is_empty() {
            format!("{message} ({at})")
        } else {
            format!("{path}: {message}")
        };
        bad_request("invalid_json", detail)
    })
}

/// serde_json's message without its trailing "at line L column C".
fn strip_position(message: &str) -> String {
    match message.rfind(" at line ") {
        Some(i) => message[..i].to_string(),
        None => message.to_string(),
    }
}

/// Query parameters, or a 400 problem.
pub struct ApiQuery<T>(pub T);

impl<T: DeserializeOwned + Send, S: Send + Sync> FromRequestParts<S> for ApiQuery<T> {
    type Rejection = Problem;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Problem> {
        Query::<T>::from_request_parts(parts, state)
            .await
            .map(|Query(q)| ApiQuery(q))
            .map_err(|e| bad_request("invalid_page", e.body_text()))
    }
}

/// Path parameters, or a 400 problem.
pub struct ApiPath<T>(pub T);

impl<T: DeserializeOwned + Send, S: Send + Sync> FromRequestParts<S> for ApiPath<T> {
    type Rejection = Problem;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Problem> {
        Path::<T>::from_request_parts(parts, state)
            .await
            .map(|Path(p)| ApiPath(p))
            .map_err(|e| {
                // A path that does not even decode names no resource.
                Problem::new(StatusCode::NOT_FOUND, "not_found", e.body_text())
            })
    }
}

pub fn bad_request(code: &'static str, detail: impl Into<String>) -> Problem {
    Problem::new(StatusCode::BAD_REQUEST, code, detail)
}

/// 422: the request is well formed, but a field's value is wrong.
pub fn invalid(field: &str, message: impl std::fmt::Display) -> Problem {
    Problem::new(
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid_field",
        format!("{field}: {message}"),
    )
}

pub fn not_found(what: &str) -> Problem {
    Problem::new(
        StatusCode::NOT_FOUND,
        "not_found",
        format!("no {what} here"),
    )
}

/// 409: an instance is being stepped right now.
pub fn busy(id: &str) -> Problem {
    Problem::new(
        StatusCode::CONFLICT,
        "instance_busy",
        format!("instance {id} is being stepped right now; send the request again"),
    )
}

/// Appends a line to the audit log; a failure to audit fails the request.
pub async fn audit(
    state: &AppState,
    caller: &Caller,
    action: &str,
    subject: &str,
    detail: &str,
) -> Result<(), Problem> {
    super::audit::audit(
        &state.store,
        caller,
        action,
        subject,
        detail,
        state.clock.now_ms(),
    )
    .await
}

/// A JSON response with a status.
pub fn reply<T: serde::Serialize>(status: StatusCode, body: &T) -> Response {
    (status, Json(body)).into_response()
}

/// A 422 problem carrying a list of scenario diagnostics.
pub fn diagnostics_problem(detail: String, errors: &[scenarios::DiagnosticOut]) -> Response {
    let body = json!({
        "type": "urn:relance:problem:invalid_scenario",
        "title": "invalid_scenario",
        "status": 422,
        "detail": detail,
        "errors": errors,
    });
    (
        StatusCode::UNPROCESSABLE_ENTITY,
        [(header::CONTENT_TYPE, "application/problem+json")],
        body.to_string(),
    )
        .into_response()
}

/// Milliseconds as RFC 3339 UTC, for responses.
pub fn time(ms: i64) -> String {
    DateTime::<Utc>::from_timestamp_millis(ms)
        .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true))
        .unwrap_or_default()
}

/// Compiled scenario versions by (name, version).
type Compiled = Mutex<BTreeMap<(String, String), Arc<Scenario>>>;

/// Stored scenario versions compiled once, shared by every request.
fn compiled() -> &'static Compiled {
    static CACHE: OnceLock<Compiled> = OnceLock::new();
    CACHE.get_or_init(Default::default)
}

/// A stored scenario version, compiled; `None` when nobody stored it.
pub async fn scenario_version(
    store: &Store,
    name: &str,
    version: &str,
) -> Result<Option<Arc<Scenario>>, Problem> {
    let key = (name.to_string(), version.to_string());
    if let Some(s) = compiled().lock().ok().and_then(|m| m.get(&key).cloned()) {
        return Ok(Some(s));
    }
    let versions = store.scenario_versions().await.map_err(internal)?;
    let Some(stored) = versions
        .into_iter()
        .find(|v| v.name == name && v.version == version)
    else {
        return Ok(None);
    };
    compile(&stored.name, &stored.version, &stored.yaml).map(Some)
}

fn compile(name: &str, version: &str, yaml: &str) -> Result<Arc<Scenario>, Problem> {
    let key = (name.to_string(), version.to_string());
    if let Some(s) = compiled().lock().ok().and_then(|m| m.get(&key).cloned()) {
        return Ok(s);
    }
    let loaded = scenario::load(
        crate::engine::shared().rules,
        &format!("{name}@{version}"),
        yaml,
    );
    let scenario = loaded
        .scenario
        .map(Arc::new)
        .ok_or_else(|| internal(format!("stored scenario {name}@{version} does not load")))?;
    if let Ok(mut m) = compiled().lock() {
        m.insert(key, scenario.clone());
    }
    Ok(scenario)
}

/// The scenarios new cases choose among: the newest stored version of
/// each scenario, by name. `relance serve` stores the versions of its
/// scenario folder when it starts, and `POST /api/v1/scenarios` adds more.
pub async fn scenarios_in_force(store: &Store) -> Result<Vec<Scenario>, Problem> {
    let versions = store.scenario_versions().await.map_err(internal)?;
    let mut newest: BTreeMap<String, crate::store::ScenarioVersionRow> = BTreeMap::new();
    for v in versions {
        match newest.get(&v.name) {
            Some(seen) if seen.created_at > v.created_at => {}
            _ => {
                newest.insert(v.name.clone(), v);
            }
        }
    }
    newest
        .values()
        .map(|v| compile(&v.name, &v.version, &v.yaml).map(|s| (*s).clone()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cursor_round_trips_and_a_forged_one_is_refused() {
        let cursor = next_cursor(Some("acme/D-1"), 2, 2).unwrap();
        let page = PageQuery {
            limit: None,
            cursor: Some(cursor),
        };
        assert_eq!(page.after().unwrap(), "acme/D-1");
        let forged = PageQuery {
            limit: None,
            cursor: Some("!!".into()),
        };
        assert!(forged.after().is_err());
        assert_eq!(next_cursor(Some("x"), 1, 2), None);
    }

    #[test]
    fn page_sizes_beyond_the_limit_are_refused() {
        let page = |n| PageQuery {
            limit: Some(n),
            cursor: None,
        };
        assert_eq!(page(500).limit().unwrap(), 500);
        assert!(page(501).limit().is_err());
        assert!(page(0).limit().is_err());
        assert_eq!(PageQuery::default().limit().unwrap(), DEFAULT_PAGE);
    }

    #[test]
    fn body_errors_name_the_field_path() {
        #[derive(Debug, Deserialize)]
        #[allow(dead_code)]
        struct Item {
            amount: String,
        }
        #[derive(Debug, Deserialize)]
        #[allow(dead_code)]
        struct Body {
            invoices: Vec<Item>,
        }
        let Err(problem) = parse_body::<Body>(br#"{"invoices": [{"amount": 12}]}"#) else {
            panic!("a number is not a string");
        };
        assert_eq!(problem.status, StatusCode::BAD_REQUEST);
        assert!(
            problem.detail.starts_with("invoices[0].amount: "),
            "{}",
            problem.detail
        );
    }

    #[test]
    fn the_document_names_the_bearer_scheme() {
        let doc = serde_json::to_value(openapi()).unwrap();
        assert_eq!(
            doc["components"]["securitySchemes"]["bearer"]["scheme"],
            "bearer"
        );
        assert!(doc["paths"]["/api/v1/clients"]["get"].is_object());
    }

    #[test]
    fn the_event_fields_schema_names_every_field_the_engine_takes() {
        use crate::engine::{EventFields, Instalment};
        use rust_decimal::Decimal;

        let date = chrono::NaiveDate::from_ymd_opt(2027, 1, 15).unwrap();
        let text = Some(String::from("x"));
        let every = EventFields {
            amount: Some(Decimal::ONE),
            currency: text.clone(),
            invoice: text.clone(),
            reference: text.clone(),
            reason: text.clone(),
            date: Some(date),
            channel: text.clone(),
            step: text.clone(),
            partner: text.clone(),
            status: text.clone(),
            outcome: text.clone(),
            kind: text,
            instalments: vec![Instalment {
                date,
                amount: Decimal::ONE,
            }],
        };
        let serde_json::Value::Object(taken) = serde_json::to_value(&every).unwrap() else {
            panic!("event fields are an object");
        };
        let doc = serde_json::to_value(openapi()).unwrap();
        let schemas = &doc["components"]["schemas"];
        let described = schemas["EventFields"]["properties"].as_object().unwrap();
        let mut taken: Vec<&String> = taken.keys().collect();
        let mut described: Vec<&String> = described.keys().collect();
        taken.sort();
        described.sort();
        assert_eq!(taken, described);
        let instalment = schemas["Instalment"]["properties"].as_object().unwrap();
        assert_eq!(
            instalment.keys().collect::<Vec<_>>(),
            ["amount", "date"].iter().collect::<Vec<_>>()
        );
    }

    #[test]
    fn every_operation_has_its_own_id() {
        let doc = serde_json::to_value(openapi()).unwrap();
        let mut ids: Vec<&str> = doc["paths"]
            .as_object()
            .unwrap()
            .values()
            .flat_map(|item| item.as_object().unwrap().values())
            .map(|op| op["operationId"].as_str().unwrap())
            .collect();
        let all = ids.len();
        ids.sort_unstable();
        ids.dedup();
        assert_eq!(ids.len(), all, "operation ids repeat: {ids:?}");
    }
}
