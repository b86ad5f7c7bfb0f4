//! Clients (the creditors relance works for) and their debtors.
//!
//! A debtor's details are checked by the same rules as an import row, so
//! that a debtor created here is one an import would accept. Every read of
//! a debtor is audited: it carries personal data.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::{
    ApiJson, ApiPath, ApiQuery, PageQuery, audit, busy, invalid, next_cursor, not_found, reply,
};
use crate::api::auth::{Caller, Permission, Scope};
use crate::api::{AppState, Problem, internal};
use crate::engine::{Address, Debtor, Instance};
use crate::import::{Format, ImportRow, parse};
use crate::store::{ClientRow, ContactRow, DebtorRow, LedgerWrite, StateChange};

pub(super) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_clients, create_client))
        .routes(routes!(get_client, update_client))
        .routes(routes!(list_debtors, create_debtor))
        .routes(routes!(get_debtor, update_debtor))
}

/// A client as the API shows it.
#[derive(Debug, Serialize, ToSchema)]
pub struct ClientOut {
    pub id: String,
    pub name: String,
    /// ISO 3166 alpha-2.
    pub country: Option<String>,
    /// The brand messages carry (free-form object).
    #[schema(value_type = Object)]
    pub brand: Value,
}

/// A client to create (`id` needed) or update.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ClientIn {
    /// Needed to create; when updating, the same as in the path or left out.
    pub id: Option<String>,
    pub name: String,
    pub country: Option<String>,
    #[schema(value_type = Option<Object>)]
    pub brand: Option<Map<String, Value>>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ClientList {
    pub items: Vec<ClientOut>,
    pub next_cursor: Option<String>,
}

fn client_out(row: ClientRow) -> ClientOut {
    ClientOut {
        brand: serde_json::from_str(&row.brand).unwrap_or_else(|_| json!({})),
        id: row.id,
        name: row.name,
        country: row.country,
    }
}

/// Checks an id: 1 to 100 characters, no control character.
pub(super) fn check_id(field: &str, id: &str) -> Result<(), Problem> {
    if id.is_empty() || id.chars().count() > 100 || id.chars().any(char::is_control) {
        return Err(invalid(
            field,
            "give 1 to 100 characters, without control characters",
        ));
    }
    Ok(())
}

fn check_client(body: &ClientIn) -> Result<Option<String>, Problem> {
    if body.name.trim().is_empty() {
        return Err(invalid("name", "must not be empty"));
    }
    match body.country.as_deref().map(str::trim) {
        None | Some("") => Ok(None),
        Some(c) if c.len() == 2 && c.chars().all(|ch| ch.is_ascii_alphabetic()) => {
            let c = c.to_ascii_uppercase();
            Ok(Some(if c == "UK" { "GB".into() } else { c }))
        }
        Some(c) => Err(invalid(
            "country",
            format!("`{c}` is not an ISO 3166 alpha-2 code (FR, ES, DE…)"),
        )),
    }
}

#[utoipa::path(get, path = "/api/v1/clients", tag = "clients",
    params(PageQuery),
    responses(
        (status = 200, body = ClientList),
        (status = 400, body = super::ProblemBody, content_type = "application/problem+json"),
        (status = 401, body = super::ProblemBody, content_type = "application/problem+json"),
        (status = 403, body = super::ProblemBody, content_type = "application/problem+json"),
    ))]
/// The clients the token reaches, by id.
async fn list_clients(
    State(state): State<AppState>,
    caller: Caller,
    ApiQuery(page): ApiQuery<PageQuery>,
) -> Result<Response, Problem> {
    caller.require(Permission::ReadCases)?;
    let limit = page.limit()?;
    let filter = match &caller.scope {
        Scope::All => None,
        Scope::Clients(ids) => Some(ids.as_slice()),
    };
    let rows = state
        .store
        .api_clients(filter, &page.after()?, limit)
        .await
        .map_err(internal)?;
    let next = next_cursor(rows.last().map(|r| r.id.as_str()), rows.len(), limit);
    let items = rows.into_iter().map(client_out).collect();
    Ok(reply(
        StatusCode::OK,
        &ClientList {
            items,
            next_cursor: next,
        },
    ))
}

#[utoipa::path(post, path = "/api/v1/clients", tag = "clients",
    request_body = ClientIn,
    responses(
        (status = 201, body = ClientOut),
        (status = 400, body = super::ProblemBody, content_type = "application/problem+json"),
        (status = 401, body = super::ProblemBody, content_type = "application/problem+json"),
        (status = 403, body = super::ProblemBody, content_type = "application/problem+json"),
        (status = 409, body = super::ProblemBody, content_type = "application/problem+json"),
        (status = 422, body = super::ProblemBody, content_type = "application/problem+json"),
    ))]
/// Creates a client.
async fn create_client(
    State(state): State<AppState>,
    caller: Caller,
    ApiJson(body): ApiJson<ClientIn>,
) -> Result<Response, Problem> {
    caller.require(Permission::ManageClients)?;
    let Some(id) = body.id.clone() else {
        return Err(invalid("id", "is needed to create a client"));
    };
    check_id("id", &id)?;
    caller.reach(&id, "client")?;
    let country = check_client(&body)?;
    if state
        .store
        .api_client(&id)
        .await
        .map_err(internal)?
        .is_some()
    {
        return Err(Problem::new(
            StatusCode::CONFLICT,
            "already_exists",
            format!("client `{id}` exists; change it with PUT /api/v1/clients/{{client_id}}"),
        ));
    }
    let row = ClientRow {
        id: id.clone(),
        name: body.name.trim().to_string(),
        country,
        brand: Value::Object(body.brand.unwrap_or_default()).to_string(),
    };
    state
        .store
        .api_put_client(&row, state.clock.now_ms())
        .await
        .map_err(internal)?;
    audit(
        &state,
        &caller,
        "client.create",
        &format!("client:{id}"),
        "",
    )
    .await?;
    Ok(reply(StatusCode::CREATED, &client_out(row)))
}

#[utoipa::path(get, path = "/api/v1/clients/{client_id}", tag = "clients",
    params(("client_id" = String, Path, example = "atelier-dupont")),
    responses(
        (status = 200, body = ClientOut),
        (status = 401, body = super::ProblemBody, content_type = "application/problem+json"),
        (status = 403, body = super::ProblemBody, content_type = "application/problem+json"),
        (status = 404, body = super::ProblemBody, content_type = "application/problem+json"),
    ))]
/// One client.
async fn get_client(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(client_id): ApiPath<String>,
) -> Result<Response, Problem> {
    caller.require(Permission::ReadCases)?;
    caller.reach(&client_id, "client")?;
    let row = state
        .store
        .api_client(&client_id)
        .await
        .map_err(internal)?
        .ok_or_else(|| not_found("client"))?;
    Ok(reply(StatusCode::OK, &client_out(row)))
}

#[utoipa::path(put, path = "/api/v1/clients/{client_id}", tag = "clients",
    params(("client_id" = String, Path, example = "atelier-dupont")),
    request_body = ClientIn,
    responses(
        (status = 200, body = ClientOut),
        (status = 400, body = super::ProblemBody, content_type = "application/problem+json"),
        (status = 401, body = super::ProblemBody, content_type = "application/problem+json"),
        (status = 403, body = super::ProblemBody, content_type = "application/problem+json"),
        (status = 404, body = super::ProblemBody, content_type = "application/problem+json"),
        (status = 422, body = super::ProblemBody, content_type = "application/problem+json"),
    ))]
/// Changes a client's name, country and brand.
async fn update_client(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(client_id): ApiPath<String>,
    ApiJson(body): ApiJson<ClientIn>,
) -> Result<Response, Problem> {
    caller.require(Permission::ManageClients)?;
    caller.reach(&client_id, "client")?;
    if body.id.as_ref().is_some_and(|id| *id != client_id) {
        return Err(invalid("id", "differs from the client in the path"));
    }
    let country = check_client(&body)?;
    let Some(old) = state.store.api_client(&client_id).await.map_err(internal)? else {
        return Err(not_found("client"));
    };
    let brand = match body.brand {
        Some(b) => Value::Object(b).to_string(),
        None => old.brand,
    };
    let row = ClientRow {
        id: client_id.clone(),
        name: body.name.trim().to_string(),
        country,
        brand,
    };
    state
        .store
        .api_put_client(&row, state.clock.now_ms())
        .await
        .map_err(internal)?;
    audit(
        &state,
        &caller,
        "client.update",
        &format!("client:{client_id}"),
        "",
    )
    .await?;
    Ok(reply(StatusCode::OK, &client_out(row)))
}

// --- debtors --------------------------------------------------------------

/// A postal address.
#[derive(Clone, Debug, Default, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AddressIn {
    #[serde(default)]
    pub lines: Vec<String>,
    pub postcode: Option<String>,
    pub city: Option<String>,
}

/// A debtor to create (`id` needed) or replace.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DebtorIn {
    /// The client's own id for the debtor; needed to create.
    pub id: Option<String>,
    /// `company` or `person`.
    pub kind: String,
    pub name: String,
    /// ISO 3166 alpha-2.
    pub country: Option<String>,
    /// ISO 639-1; default from the country.
    pub language: Option<String>,
    /// IANA zone; default from the country.
    pub timezone: Option<String>,
    pub email: Option<String>,
    pub mobile: Option<String>,
    pub phone: Option<String>,
    pub fax: Option<String>,
    pub address: Option<AddressIn>,
    /// 9 digits.
    pub siren: Option<String>,
    pub vat: Option<String>,
}

/// A debtor with its contacts (personal data: every read is audited).
#[derive(Debug, Serialize, ToSchema)]
pub struct DebtorOut {
    pub client_id: String,
    pub id: String,
    pub kind: String,
    pub name: String,
    pub country: Option<String>,
    pub language: String,
    pub timezone: String,
    pub email: Option<String>,
    pub mobile: Option<String>,
    pub phone: Option<String>,
    pub fax: Option<String>,
    pub address: Option<AddressIn>,
    pub siren: Option<String>,
    pub vat: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct DebtorList {
    pub items: Vec<DebtorOut>,
    pub next_cursor: Option<String>,
}

/// The import columns a debtor's fields fill, and back.
const DEBTOR_FIELDS: [(&str, &str); 15] = [
    ("debtor_id", "id"),
    ("debtor_kind", "kind"),
    ("debtor_name", "name"),
    ("debtor_country", "country"),
    ("debtor_language", "language"),
    ("debtor_timezone", "timezone"),
    ("debtor_email", "email"),
    ("debtor_mobile", "mobile"),
    ("debtor_phone", "phone"),
    ("debtor_fax", "fax"),
    ("address", "address.lines"),
    ("postcode", "address.postcode"),
    ("city", "address.city"),
    ("siren", "siren"),
    ("vat", "vat"),
];

/// The import record of a debtor's fields (as JSON values of the import's
/// JSON format).
pub(super) fn debtor_record(id: &str, body: &DebtorIn) -> Map<String, Value> {
    let mut m = Map::new();
    let mut put = |k: &str, v: &Option<String>| {
        if let Some(v) = v {
            m.insert(k.to_string(), Value::String(v.clone()));
        }
    };
    put("debtor_id", &Some(id.to_string()));
    put("debtor_kind", &Some(body.kind.clone()));
    put("debtor_name", &Some(body.name.clone()));
    put("debtor_country", &body.country);
    put("debtor_language", &body.language);
    put("debtor_timezone", &body.timezone);
    put("debtor_email", &body.email);
    put("debtor_mobile", &body.mobile);
    put("debtor_phone", &body.phone);
    put("debtor_fax", &body.fax);
    put("siren", &body.siren);
    put("vat", &body.vat);
    if let Some(a) = &body.address {
        put("postcode", &a.postcode);
        put("city", &a.city);
        if !a.lines.is_empty() {
            m.insert("address".into(), json!(a.lines));
        }
    }
    m
}

/// Checks records with the import's rules; each error names the field as
/// `rename` spells it, prefixed by `prefix(index)`.
pub(super) fn check_records(
    records: Vec<Map<String, Value>>,
    prefix: impl Fn(usize) -> String,
    rename: impl Fn(&str) -> String,
) -> Result<Vec<ImportRow>, Problem> {
    // One object a line, so that object i starts on line i + 2.
    let lines: Vec<String> = records
        .into_iter()
        .map(|r| Value::Object(r).to_string())
        .collect();
    let text = format!("[\n{}\n]", lines.join(",\n"));
    parse("request", &text, Format::Json).map_err(|errors| {
        let details: Vec<String> = errors
            .iter()
            .map(|e| {
                let message = strip_object(&e.message);
                let index = e.line.saturating_sub(2);
                match &e.column {
                    Some(c) => format!("{}{}: {message}", prefix(index), rename(c)),
                    None => format!("{}: {message}", prefix(index).trim_end_matches('.')),
                }
            })
            .collect();
        Problem::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_field",
            details.join("; "),
        )
    })
}

/// The import's message without its " (object N)".
fn strip_object(message: &str) -> String {
    match message.rfind(" (object ") {
        Some(i) if message.ends_with(')') => message[..i].to_string(),
        _ => message.to_string(),
    }
}

fn debtor_field(column: &str) -> String {
    DEBTOR_FIELDS
        .iter()
        .find(|(c, _)| *c == column)
        .map(|(_, f)| f.to_string())
        .unwrap_or_else(|| column.to_string())
}

/// Checks a debtor's fields by the import's rules (with a stand-in invoice).
fn check_debtor(client_id: &str, id: &str, body: &DebtorIn) -> Result<ImportRow, Problem> {
    let mut record = debtor_record(id, body);
    for (k, v) in [
        ("client_id", client_id),
        ("invoice_number", "-"),
        ("issued", "2000-01-01"),
        ("due", "2000-01-01"),
        ("amount", "1"),
        ("currency", "EUR"),
    ] {
        record.insert(k.into(), Value::String(v.into()));
    }
    let mut rows = check_records(vec![record], |_| String::new(), debtor_field)?;
    rows.pop()
        .ok_or_else(|| internal("a checked debtor vanished"))
}

/// The stored rows of a checked debtor.
fn debtor_rows(client_id: &str, row: &ImportRow, body: &DebtorIn) -> (DebtorRow, Vec<ContactRow>) {
    let debtor = DebtorRow {
        client_id: client_id.to_string(),
        id: row.debtor_id.clone(),
        kind: row.debtor_kind.name().to_string(),
        name: row.debtor_name.clone(),
        country: row.debtor_country.clone(),
        language: row.debtor_language.clone(),
        timezone: row.debtor_timezone.name().to_string(),
        siren: row.siren.clone(),
        vat: row.vat.clone(),
    };
    let contact = |kind: &str, value: String| ContactRow {
        client_id: client_id.to_string(),
        debtor_id: row.debtor_id.clone(),
        kind: kind.to_string(),
        value,
    };
    let mut contacts = Vec::new();
    for (kind, value) in [
        ("email", &row.debtor_email),
        ("mobile", &row.debtor_mobile),
        ("phone", &row.debtor_phone),
        ("fax", &row.debtor_fax),
    ] {
        if let Some(v) = value {
            contacts.push(contact(kind, v.clone()));
        }
    }
    if let Some(a) = &body.address {
        let address = AddressIn {
            lines: row.address_lines.clone(),
            postcode: row.postcode.clone(),
            city: row.city.clone(),
        };
        if !a.lines.is_empty() || a.postcode.is_some() || a.city.is_some() {
            contacts.push(contact("address", json!(address).to_string()));
        }
    }
    (debtor, contacts)
}

/// The debtor as the engine sees it, keeping what the API does not set
/// (risk, credit limit, watch flag) from `old`.
fn engine_debtor(row: &ImportRow, old: &Debtor) -> Debtor {
    let address = (!row.address_lines.is_empty() || row.postcode.is_some() || row.city.is_some())
        .then(|| Address {
            lines: row.address_lines.clone(),
            postcode: row.postcode.clone(),
            city: row.city.clone(),
            country: row.debtor_country.clone(),
        });
    Debtor {
        id: row.debtor_id.clone(),
        kind: row.debtor_kind,
        name: row.debtor_name.clone(),
        country: row.debtor_country.clone(),
        language: row.debtor_language.clone(),
        timezone: row.debtor_timezone,
        email: row.debtor_email.clone(),
        mobile: row.debtor_mobile.clone(),
        phone: row.debtor_phone.clone(),
        fax: row.debtor_fax.clone(),
        address,
        siren: row.siren.clone(),
        vat: row.vat.clone(),
        risk: old.risk.clone(),
        risk_score: old.risk_score,
        credit_limit: old.credit_limit,
        watch: old.watch,
    }
}

/// A debtor with its contacts, as the API shows it.
pub(super) async fn debtor_out(state: &AppState, row: DebtorRow) -> Result<DebtorOut, Problem> {
    let contacts = state
        .store
        .api_contacts(&row.client_id, &row.id)
        .await
        .map_err(internal)?;
    let find = |kind: &str| {
        contacts
            .iter()
            .find(|c| c.kind == kind)
            .map(|c| c.value.clone())
    };
    Ok(DebtorOut {
        email: find("email"),
        mobile: find("mobile"),
        phone: find("phone"),
        fax: find("fax"),
        address: find("address").and_then(|a| serde_json::from_str(&a).ok()),
        client_id: row.client_id,
        id: row.id,
        kind: row.kind,
        name: row.name,
        country: row.country,
        language: row.language,
        timezone: row.timezone,
        siren: row.siren,
        vat: row.vat,
    })
}

/// 404 unless the client exists and the token reaches it.
async fn reach_client(state: &AppState, caller: &Caller, client_id: &str) -> Result<(), Problem> {
    caller.reach(client_id, "client")?;
    match state.store.api_client(client_id).await.map_err(internal)? {
        Some(_) => Ok(()),
        None => Err(not_found("client")),
    }
}

#[utoipa::path(get, path = "/api/v1/clients/{client_id}/debtors", tag = "debtors",
    params(("client_id" = String, Path, example = "atelier-dupont"), PageQuery),
    responses(
        (status = 200, body = DebtorList),
        (status = 400, body = super::ProblemBody, content_type = "application/problem+json"),
        (status = 401, body = super::ProblemBody, content_type = "application/problem+json"),
        (status = 403, body = super::ProblemBody, content_type = "application/problem+json"),
        (status = 404, body = super::ProblemBody, content_type = "application/problem+json"),
    ))]
/// A client's debtors, by id, with their contacts (audited).
async fn list_debtors(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(client_id): ApiPath<String>,
    ApiQuery(page): ApiQuery<PageQuery>,
) -> Result<Response, Problem> {
    caller.require(Permission::ReadPersonal)?;
    reach_client(&state, &caller, &client_id).await?;
    let limit = page.limit()?;
    let rows = state
        .store
        .api_debtors(&client_id, &page.after()?, limit)
        .await
        .map_err(internal)?;
    let next = next_cursor(rows.last().map(|r| r.id.as_str()), rows.len(), limit);
    let ids: Vec<String> = rows.iter().map(|r| r.id.clone()).collect();
    let mut items = Vec::with_capacity(rows.len());
    for row in rows {
        items.push(debtor_out(&state, row).await?);
    }
    audit(
        &state,
        &caller,
        "debtor.list",
        &format!("client:{client_id}"),
        &ids.join(","),
    )
    .await?;
    Ok(reply(
        StatusCode::OK,
        &DebtorList {
            items,
            next_cursor: next,
        },
    ))
}

#[utoipa::path(post, path = "/api/v1/clients/{client_id}/debtors", tag = "debtors",
    params(("client_id" = String, Path, example = "atelier-dupont")),
    request_body = DebtorIn,
    responses(
        (status = 201, body = DebtorOut),
        (status = 400, body = super::ProblemBody, content_type = "application/problem+json"),
        (status = 401, body = super::ProblemBody, content_type = "application/problem+json"),
        (status = 403, body = super::ProblemBody, content_type = "application/problem+json"),
        (status = 404, body = super::ProblemBody, content_type = "application/problem+json"),
        (status = 409, body = super::ProblemBody, content_type = "application/problem+json"),
        (status = 422, body = super::ProblemBody, content_type = "application/problem+json"),
    ))]
/// Creates a debtor of a client.
async fn create_debtor(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(client_id): ApiPath<String>,
    ApiJson(body): ApiJson<DebtorIn>,
) -> Result<Response, Problem> {
    caller.require(Permission::WriteLedger)?;
    reach_client(&state, &caller, &client_id).await?;
    let Some(id) = body.id.clone() else {
        return Err(invalid("id", "is needed to create a debtor"));
    };
    check_id("id", &id)?;
    let row = check_debtor(&client_id, &id, &body)?;
    let (debtor, contacts) = debtor_rows(&client_id, &row, &body);
    if !state
        .store
        .api_create_debtor(&debtor, &contacts)
        .await
        .map_err(internal)?
    {
        return Err(Problem::new(
            StatusCode::CONFLICT,
            "already_exists",
            format!("debtor `{id}` exists; replace it with PUT"),
        ));
    }
    audit(
        &state,
        &caller,
        "debtor.create",
        &format!("debtor:{client_id}/{id}"),
        "",
    )
    .await?;
    Ok(reply(
        StatusCode::CREATED,
        &debtor_out(&state, debtor).await?,
    ))
}

#[utoipa::path(get, path = "/api/v1/clients/{client_id}/debtors/{debtor_id}", tag = "debtors",
    params(("client_id" = String, Path, example = "atelier-dupont"), ("debtor_id" = String, Path, example = "D0001")),
    responses(
        (status = 200, body = DebtorOut),
        (status = 401, body = super::ProblemBody, content_type = "application/problem+json"),
        (status = 403, body = super::ProblemBody, content_type = "application/problem+json"),
        (status = 404, body = super::ProblemBody, content_type = "application/problem+json"),
    ))]
/// One debtor with its contacts (audited).
async fn get_debtor(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath((client_id, debtor_id)): ApiPath<(String, String)>,
) -> Result<Response, Problem> {
    caller.require(Permission::ReadPersonal)?;
    caller.reach(&client_id, "debtor")?;
    let row = state
        .store
        .api_debtor(&client_id, &debtor_id)
        .await
        .map_err(internal)?
        .ok_or_else(|| not_found("debtor"))?;
    let out = debtor_out(&state, row).await?;
    audit(
        &state,
        &caller,
        "debtor.read",
        &format!("debtor:{client_id}/{debtor_id}"),
        "",
    )
    .await?;
    Ok(reply(StatusCode::OK, &out))
}

#[utoipa::path(put, path = "/api/v1/clients/{client_id}/debtors/{debtor_id}", tag = "debtors",
    params(("client_id" = String, Path, example = "atelier-dupont"), ("debtor_id" = String, Path, example = "D0001")),
    request_body = DebtorIn,
    responses(
        (status = 200, body = DebtorOut),
        (status = 400, body = super::ProblemBody, content_type = "application/problem+json"),
        (status = 401, body = super::ProblemBody, content_type = "application/problem+json"),
        (status = 403, body = super::ProblemBody, content_type = "application/problem+json"),
        (status = 404, body = super::ProblemBody, content_type = "application/problem+json"),
        (status = 409, body = super::ProblemBody, content_type = "application/problem+json"),
        (status = 422, body = super::ProblemBody, content_type = "application/problem+json"),
    ))]
/// Replaces a debtor's details and contacts; its running cases see them
/// from their next step on.
async fn update_debtor(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath((client_id, debtor_id)): ApiPath<(String, String)>,
    ApiJson(body): ApiJson<DebtorIn>,
) -> Result<Response, Problem> {
    caller.require(Permission::WriteLedger)?;
    caller.reach(&client_id, "debtor")?;
    if body.id.as_ref().is_some_and(|id| *id != debtor_id) {
        return Err(invalid("id", "differs from the debtor in the path"));
    }
    if state
        .store
        .api_debtor(&client_id, &debtor_id)
        .await
        .map_err(internal)?
        .is_none()
    {
        return Err(not_found("debtor"));
    }
    let row = check_debtor(&client_id, &debtor_id, &body)?;
    let (debtor, contacts) = debtor_rows(&client_id, &row, &body);

    // The running instances of the debtor's cases carry its details too.
    let mut states = Vec::new();
    for case in state
        .store
        .api_cases_of_debtor(&client_id, &debtor_id)
        .await
        .map_err(internal)?
    {
        for inst in state
            .store
            .api_instances_of_case(&case.id)
            .await
            .map_err(internal)?
        {
            if inst.status == "ended" {
                continue;
            }
            let Some((_, _, text)) = state
                .store
                .instance_state(&inst.id)
                .await
                .map_err(internal)?
            else {
                continue;
            };
            let mut instance: Instance = serde_json::from_str(&text).map_err(internal)?;
            instance.case.debtor = engine_debtor(&row, &instance.case.debtor);
            states.push(StateChange {
                instance_id: inst.id.clone(),
                state: serde_json::to_string(&instance).map_err(internal)?,
                journal: Vec::new(),
            });
        }
    }
    let written = state
        .store
        .api_change(
            &states,
            &[LedgerWrite::Debtor(debtor.clone(), contacts)],
            state.clock.now_ms(),
        )
        .await
        .map_err(internal)?;
    if !written {
        return Err(busy(&format!("of debtor {debtor_id}")));
    }
    audit(
        &state,
        &caller,
        "debtor.update",
        &format!("debtor:{client_id}/{debtor_id}"),
        &format!("{} running case(s) updated", states.len()),
    )
    .await?;
    Ok(reply(StatusCode::OK, &debtor_out(&state, debtor).await?))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body(kind: &str, email: Option<&str>) -> DebtorIn {
        DebtorIn {
            id: None,
            kind: kind.into(),
            name: "Dupont SARL".into(),
            country: Some("FR".into()),
            language: None,
            timezone: None,
            email: email.map(str::to_string),
            mobile: None,
            phone: None,
            fax: None,
            address: None,
            siren: None,
            vat: None,
        }
    }

    #[test]
    fn a_debtor_is_checked_by_the_import_rules_and_defaults_from_its_country() {
        let row = check_debtor("acme", "D-1", &body("company", Some("a@b.fr"))).unwrap();
        assert_eq!(row.debtor_language, "fr");
        assert_eq!(row.debtor_timezone.name(), "Europe/Paris");
    }

    #[test]
    fn a_bad_debtor_field_is_named_as_the_api_spells_it() {
        let Err(p) = check_debtor("acme", "D-1", &body("robot", Some("nope"))) else {
            panic!("a robot is not a debtor kind");
        };
        assert_eq!(p.status, StatusCode::UNPROCESSABLE_ENTITY);
        assert!(p.detail.contains("kind: "), "{}", p.detail);
        assert!(p.detail.contains("email: "), "{}", p.detail);
        assert!(!p.detail.contains("debtor_"), "{}", p.detail);
    }
}
