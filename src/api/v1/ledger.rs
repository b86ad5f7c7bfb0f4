//! The ledger of a case: invoices (create, change, cancel, credit note),
//! payments, disputes, promises and payment plans.
//!
//! New invoices go through the import's rules and its write path: a debtor
//! without a case gets one, started on the first scenario that applies,
//! and a debtor with a running case sees the invoice join it. Payments,
//! disputes, promises and plans are recorded as events for the case's
//! instance; the scheduler applies them, and its step writes the payment,
//! dispute and promise rows.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use chrono::NaiveDate;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::clients::check_records;
use super::{
    ApiJson, ApiPath, ApiQuery, OptionalJson, PageQuery, audit, busy, invalid, next_cursor,
    not_found, reply, scenarios_in_force,
};
use crate::api::auth::{Caller, Permission};
use crate::api::{AppState, Intake, Problem, internal, record};
use crate::engine::{Allocation, Case, EntryKind, EventFields, Instalment, Instance, JournalEntry};
use crate::import::{ImportRow, RowError, to_cases};
use crate::money::{Currency, minor_units, parse_amount, round};
use crate::runtime::{import_batch, journal_row};
use crate::store::{CaseRow, DomainRow, InvoiceRow, LedgerWrite, StateChange};

pub(super) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create_invoices))
        .routes(routes!(get_invoice, update_invoice))
        .routes(routes!(cancel_invoice))
        .routes(routes!(credit_note))
        .routes(routes!(list_payments, record_payment))
        .routes(routes!(list_disputes, open_dispute))
        .routes(routes!(resolve_dispute))
        .routes(routes!(make_promise))
        .routes(routes!(agree_plan))
}

// --- invoices -------------------------------------------------------------

/// One new invoice. Amounts are decimal strings (`"1250.00"`), dates
/// `YYYY-MM-DD`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewInvoice {
    pub client_id: String,
    /// The debtor, created first with `POST /api/v1/clients/{client_id}/debtors`.
    pub debtor_id: String,
    pub number: String,
    pub issued: String,
    pub due: String,
    pub amount: String,
    /// ISO 4217.
    pub currency: String,
    /// What is still owed, when less than `amount`.
    pub open_amount: Option<String>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewInvoices {
    /// 1 to 500 invoices.
    pub invoices: Vec<NewInvoice>,
}

/// A case the new invoices went to.
#[derive(Debug, Serialize, ToSchema)]
pub struct CaseTouched {
    pub case_id: String,
    pub instance_id: String,
    /// Whether the case was opened by this request.
    pub opened: bool,
    /// The invoices that joined it.
    pub invoices: Vec<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct InvoicesCreated {
    pub cases: Vec<CaseTouched>,
    /// Invoices that existed already with the same values.
    pub unchanged: Vec<String>,
}

/// An invoice as stored, with what is still open on it.
#[derive(Debug, Serialize, ToSchema)]
pub struct InvoiceOut {
    pub client_id: String,
    pub number: String,
    pub debtor_id: String,
    pub case_id: String,
    pub issued: String,
    pub due: String,
    pub amount: String,
    pub currency: String,
    /// `open`, `credited` (fully) or `cancelled`.
    pub status: String,
    /// The open amount as the case's instance sees it.
    pub open: Option<String>,
}

/// The API's name for an import column of an invoice.
fn invoice_field(column: &str) -> String {
    match column {
        "invoice_number" => "number".into(),
        other => other.into(),
    }
}

fn row_problem(errors: &[RowError], prefix: impl Fn(usize) -> String) -> Problem {
    let details: Vec<String> = errors
        .iter()
        .map(|e| {
            let index = e.line.saturating_sub(2);
            let message = match e.message.rfind(" (object ") {
                Some(i) => &e.message[..i],
                None => &e.message,
            };
            match &e.column {
                Some(c) => format!("{}{}: {message}", prefix(index), invoice_field(c)),
                None => format!("{}: {message}", prefix(index).trim_end_matches('.')),
            }
        })
        .collect();
    Problem::new(
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid_field",
        details.join("; "),
    )
}

/// The import record of a new invoice, with its client's and debtor's
/// stored details.
async fn invoice_record(
    state: &AppState,
    caller: &Caller,
    index: usize,
    item: &NewInvoice,
) -> Result<Map<String, Value>, Problem> {
    let at = |field: &str| format!("invoices[{index}].{field}");
    caller.reach(&item.client_id, "client")?;
    let Some(client) = state
        .store
        .api_client(&item.client_id)
        .await
        .map_err(internal)?
    else {
        return Err(invalid(
            &at("client_id"),
            format!("no client `{}`", item.client_id),
        ));
    };
    let Some(debtor) = state
        .store
        .api_debtor(&item.client_id, &item.debtor_id)
        .await
        .map_err(internal)?
    else {
        return Err(invalid(
            &at("debtor_id"),
            format!(
                "client `{}` has no debtor `{}`; create it with POST /api/v1/clients/{{client_id}}/debtors",
                item.client_id, item.debtor_id
            ),
        ));
    };
    let out = super::clients::debtor_out(state, debtor).await?;
    let mut m = Map::new();
    let mut put = |k: &str, v: Option<String>| {
        if let Some(v) = v {
            m.insert(k.to_string(), Value::String(v));
        }
    };
    put("client_id", Some(client.id));
    put("client_name", Some(client.name));
    put("client_country", client.country);
    put("debtor_id", Some(out.id));
    put("debtor_kind", Some(out.kind));
    put("debtor_name", Some(out.name));
    put("debtor_country", out.country);
    put("debtor_language", Some(out.language));
    put("debtor_timezone", Some(out.timezone));
    put("debtor_email", out.email);
    put("debtor_mobile", out.mobile);
    put("debtor_phone", out.phone);
    put("siren", out.siren);
    put("vat", out.vat);
    put("invoice_number", Some(item.number.clone()));
    put("issued", Some(item.issued.clone()));
    put("due", Some(item.due.clone()));
    put("amount", Some(item.amount.clone()));
    put("currency", Some(item.currency.clone()));
    put("open_amount", item.open_amount.clone());
    if let Some(a) = out.address {
        put("postcode", a.postcode);
        put("city", a.city);
        if !a.lines.is_empty() {
            m.insert("address".into(), serde_json::json!(a.lines));
        }
    }
    Ok(m)
}

fn same_invoice(stored: &InvoiceRow, row: &ImportRow) -> bool {
    stored.debtor_id == row.debtor_id
        && stored.issued == row.issued.to_string()
        && stored.due == row.due.to_string()
        && parse_amount(&stored.amount).ok() == Some(row.amount)
        && stored.currency == row.currency.code()
}

/// A journal line for an API change to an instance.
fn note(inst: &Instance, now: chrono::DateTime<chrono::Utc>, detail: String) -> JournalEntry {
    JournalEntry {
        at: now,
        stage: None,
        step: None,
        kind: EntryKind::Event,
        channel: None,
        template: None,
        detail,
        balance: inst.balance(),
        total_due: inst.total_due(),
        currency: inst.currency,
    }
}

/// The running instance of a case, with its state, or 409 when it ended.
async fn running_instance(
    state: &AppState,
    case_id: &str,
) -> Result<Option<(String, Instance)>, Problem> {
    let instances = state
        .store
        .api_instances_of_case(case_id)
        .await
        .map_err(internal)?;
    if instances.is_empty() {
        return Ok(None);
    }
    let Some(live) = instances.iter().rev().find(|i| i.status != "ended") else {
        return Err(Problem::new(
            StatusCode::CONFLICT,
            "case_ended",
            format!("case {case_id} has ended; its invoices cannot change any more"),
        ));
    };
    let Some((_, _, text)) = state
        .store
        .instance_state(&live.id)
        .await
        .map_err(internal)?
    else {
        return Err(not_found("instance"));
    };
    let inst: Instance = serde_json::from_str(&text).map_err(internal)?;
    Ok(Some((live.id.clone(), inst)))
}

#[utoipa::path(post, path = "/api/v1/invoices", tag = "invoices",
    request_body = NewInvoices,
    responses(
        (status = 201, body = InvoicesCreated),
        (status = 400, body = super::ProblemBody, content_type = "application/problem+json"),
        (status = 401, body = super::ProblemBody, content_type = "application/problem+json"),
        (status = 403, body = super::ProblemBody, content_type = "application/problem+json"),
        (status = 404, body = super::ProblemBody, content_type = "application/problem+json"),
        (status = 409, body = super::ProblemBody, content_type = "application/problem+json"),
        (status = 422, body = super::ProblemBody, content_type = "application/problem+json"),
    ))]
/// Creates invoices: each opens its debtor's case (started on the first
/// scenario that applies) or joins the running one. Every invoice is
/// checked first; one bad invoice and nothing is written.
async fn create_invoices(
    State(state): State<AppState>,
    caller: Caller,
    ApiJson(body): ApiJson<NewInvoices>,
) -> Result<Response, Problem> {
    caller.require(Permission::WriteLedger)?;
    if body.invoices.is_empty() || body.invoices.len() > super::MAX_PAGE as usize {
        return Err(invalid("invoices", "give 1 to 500 invoices"));
    }
    let now = state.clock.now();
    let mut records = Vec::with_capacity(body.invoices.len());
    for (i, item) in body.invoices.iter().enumerate() {
        records.push(invoice_record(&state, &caller, i, item).await?);
    }
    let rows = check_records(records, |i| format!("invoices[{i}]."), invoice_field)?;
    let cases = to_cases(&rows, now.date_naive())
        .map_err(|errors| row_problem(&errors, |i| format!("invoices[{i}].")))?;

    let mut unchanged = Vec::new();
    let mut touched = Vec::new();
    let mut joins = Vec::new();
    let mut ledger = Vec::new();
    let mut new_cases: Vec<Case> = Vec::new();
    for mut case in cases {
        let mut fresh = Vec::new();
        for invoice in case.invoices.drain(..) {
            let index = rows
                .iter()
                .position(|r| r.invoice_number == invoice.number && r.client_id == case.client.id)
                .unwrap_or(0);
            match state
                .store
                .api_invoice(&case.client.id, &invoice.number)
                .await
                .map_err(internal)?
            {
                Some(stored) if same_invoice(&stored.row, &rows[index]) => {
                    unchanged.push(invoice.number.clone());
                }
                Some(_) => {
                    return Err(Problem::new(
                        StatusCode::CONFLICT,
                        "already_exists",
                        format!(
                            "invoices[{index}].number: invoice `{}` exists with other values; change it with PUT",
                            invoice.number
                        ),
                    ));
                }
                None => fresh.push(invoice),
            }
        }
        if fresh.is_empty() {
            continue;
        }
        case.invoices = fresh;
        match running_instance(&state, &case.id).await? {
            Some((id, mut inst)) => {
                let numbers: Vec<String> = case.invoices.iter().map(|i| i.number.clone()).collect();
                for invoice in &case.invoices {
                    ledger.push(LedgerWrite::Invoice(InvoiceRow {
                        client_id: case.client.id.clone(),
                        number: invoice.number.clone(),
                        debtor_id: case.debtor.id.clone(),
                        case_id: case.id.clone(),
                        issued: invoice.issued.to_string(),
                        due: invoice.due.to_string(),
                        amount: invoice.amount.to_string(),
                        currency: invoice.currency.code().to_string(),
                    }));
                }
                inst.case.invoices.extend(case.invoices.iter().cloned());
                inst.case
                    .invoices
                    .sort_by(|a, b| (a.due, &a.number).cmp(&(b.due, &b.number)));
                let entry = note(
                    &inst,
                    now,
                    format!("invoice(s) {} joined the case", numbers.join(", ")),
                );
                joins.push(StateChange {
                    instance_id: id.clone(),
                    state: serde_json::to_string(&inst).map_err(internal)?,
                    journal: vec![journal_row(&id, &entry)],
                });
                touched.push(CaseTouched {
                    case_id: case.id.clone(),
                    instance_id: id,
                    opened: false,
                    invoices: numbers,
                });
            }
            None => new_cases.push(case),
        }
    }

    // Cases to open: each on the first scenario in force whose `applies` holds.
    let mut started = Vec::new();
    if !new_cases.is_empty() {
        let scenarios = scenarios_in_force(&state.store).await?;
        let engine = crate::engine::shared();
        for case in new_cases {
            let chosen = engine
                .choose(&scenarios, &case, now)
                .map_err(|e| invalid("invoices", e))?;
            let Some(sc) = chosen else {
                return Err(invalid(
                    "invoices",
                    format!(
                        "no scenario applies to case {}; upload one with POST /api/v1/scenarios",
                        case.id
                    ),
                ));
            };
            let t = engine
                .start(sc, case.clone(), now)
                .map_err(|e| invalid("invoices", e))?;
            touched.push(CaseTouched {
                case_id: case.id.clone(),
                instance_id: t.instance.id.clone(),
                opened: true,
                invoices: case.invoices.iter().map(|i| i.number.clone()).collect(),
            });
            started.push((case, sc.clone(), t));
        }
    }

    // Joins first: they are refused as a whole when an instance is busy,
    // before anything else is written.
    // TODO: joins and new cases commit in two transactions; a database
    // failure between them leaves the joins written without the new cases.
    if !joins.is_empty()
        && !state
            .store
            .api_change(&joins, &ledger, now.timestamp_millis())
            .await
            .map_err(internal)?
    {
        return Err(busy("of a case these invoices join"));
    }
    if !started.is_empty() {
        let refs: Vec<_> = started
            .iter()
            .map(|(c, sc, t)| (c.clone(), sc, t.clone()))
            .collect();
        let batch = import_batch(&refs, now);
        state
            .store
            .import(&batch, now.timestamp_millis())
            .await
            .map_err(internal)?;
    }
    state.notify.notify_one();
    for t in &touched {
        audit(
            &state,
            &caller,
            "invoice.create",
            &format!("case:{}", t.case_id),
            &t.invoices.join(","),
        )
        .await?;
    }
    Ok(reply(
        StatusCode::CREATED,
        &InvoicesCreated {
            cases: touched,
            unchanged,
        },
    ))
}

/// An invoice, its case's running instance, and the invoice's place in it.
struct InvoiceContext {
    stored: crate::store::InvoiceRecord,
    running: Option<(String, Instance)>,
}

async fn invoice_context(
    state: &AppState,
    caller: &Caller,
    client_id: &str,
    number: &str,
) -> Result<InvoiceContext, Problem> {
    caller.reach(client_id, "invoice")?;
    let stored = state
        .store
        .api_invoice(client_id, number)
        .await
        .map_err(internal)?
        .ok_or_else(|| not_found("invoice"))?;
    let running = running_instance(state, &stored.row.case_id).await?;
    Ok(InvoiceContext { stored, running })
}

fn invoice_out(ctx: &InvoiceContext) -> InvoiceOut {
    let r = &ctx.stored.row;
    let open = ctx.running.as_ref().and_then(|(_, inst)| {
        inst.case
            .invoices
            .iter()
            .find(|i| i.number == r.number)
            .map(|i| round(i.open(), i.currency).to_string())
    });
    InvoiceOut {
        client_id: r.client_id.clone(),
        number: r.number.clone(),
        debtor_id: r.debtor_id.clone(),
        case_id: r.case_id.clone(),
        issued: r.issued.clone(),
        due: r.due.clone(),
        amount: r.amount.clone(),
        currency: r.currency.clone(),
        status: ctx.stored.status.clone(),
        open,
    }
}

/// An amount above zero, with no more decimals than the currency has.
pub(super) fn money(field: &str, text: &str, currency: Currency) -> Result<Decimal, Problem> {
    let amount = parse_amount(text).map_err(|e| invalid(field, e))?;
    if amount <= Decimal::ZERO {
        return Err(invalid(field, "must be above zero"));
    }
    if let Some(dp) = minor_units(currency)
        && amount.normalize().scale() > dp
    {
        return Err(invalid(
            field,
            format!("{} has {dp} decimal(s); `{text}` has more", currency.code()),
        ));
    }
    Ok(amount)
}

pub(super) fn date(field: &str, text: &str) -> Result<NaiveDate, Problem> {
    NaiveDate::parse_from_str(text.trim(), "%Y-%m-%d")
        .map_err(|_| invalid(field, format!("`{text}` is not a date; write YYYY-MM-DD")))
}

/// Writes an instance's new state (when the case has one running) with
/// the ledger rows; 409 when the instance is busy.
async fn write_invoice_change(
    state: &AppState,
    ctx: &InvoiceContext,
    detail: String,
    ledger: Vec<LedgerWrite>,
) -> Result<(), Problem> {
    let now = state.clock.now();
    let states = match &ctx.running {
        Some((id, inst)) => vec![StateChange {
            instance_id: id.clone(),
            state: serde_json::to_string(inst).map_err(internal)?,
            journal: vec![journal_row(id, &note(inst, now, detail))],
        }],
        None => Vec::new(),
    };
    if !state
        .store
        .api_change(&states, &ledger, now.timestamp_millis())
        .await
        .map_err(internal)?
    {
        return Err(busy(&ctx.stored.row.case_id));
    }
    state.notify.notify_one();
    Ok(())
}

#[utoipa::path(get, path = "/api/v1/clients/{client_id}/invoices/{number}", tag = "invoices",
    params(("client_id" = String, Path, example = "atelier-dupont"), ("number" = String, Path, example = "F-00001-0")),
    responses(
        (status = 200, body = InvoiceOut),
        (status = 401, body = super::ProblemBody, content_type = "application/problem+json"),
        (status = 403, body = super::ProblemBody, content_type = "application/problem+json"),
        (status = 404, body = super::ProblemBody, content_type = "application/problem+json"),
    ))]
/// One invoice.
async fn get_invoice(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath((client_id, number)): ApiPath<(String, String)>,
) -> Result<Response, Problem> {
    caller.require(Permission::ReadCases)?;
    caller.reach(&client_id, "invoice")?;
    let stored = state
        .store
        .api_invoice(&client_id, &number)
        .await
        .map_err(internal)?
        .ok_or_else(|| not_found("invoice"))?;
    // An ended case still shows its invoice, without an open amount.
    let running = running_instance(&state, &stored.row.case_id)
        .await
        .unwrap_or(None);
    Ok(reply(
        StatusCode::OK,
        &invoice_out(&InvoiceContext { stored, running }),
    ))
}

/// What may change on an invoice.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct InvoiceChange {
    /// `YYYY-MM-DD`, not before the issue date.
    pub due: Option<String>,
    /// Decimal string, not below what is already paid.
    pub amount: Option<String>,
}

#[utoipa::path(put, path = "/api/v1/clients/{client_id}/invoices/{number}", tag = "invoices",
    params(("client_id" = String, Path, example = "atelier-dupont"), ("number" = String, Path, example = "F-00001-0")),
    request_body = InvoiceChange,
    responses(
        (status = 200, body = InvoiceOut),
        (status = 400, body = super::ProblemBody, content_type = "application/problem+json"),
        (status = 401, body = super::ProblemBody, content_type = "application/problem+json"),
        (status = 403, body = super::ProblemBody, content_type = "application/problem+json"),
        (status = 404, body = super::ProblemBody, content_type = "application/problem+json"),
        (status = 409, body = super::ProblemBody, content_type = "application/problem+json"),
        (status = 422, body = super::ProblemBody, content_type = "application/problem+json"),
    ))]
/// Changes an open invoice's due date or amount.
async fn update_invoice(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath((client_id, number)): ApiPath<(String, String)>,
    ApiJson(body): ApiJson<InvoiceChange>,
) -> Result<Response, Problem> {
    caller.require(Permission::WriteLedger)?;
    let mut ctx = invoice_context(&state, &caller, &client_id, &number).await?;
    if ctx.stored.status != "open" {
        return Err(Problem::new(
            StatusCode::CONFLICT,
            "invoice_not_open",
            format!("invoice {number} is {}", ctx.stored.status),
        ));
    }
    let currency = crate::money::parse_currency(&ctx.stored.row.currency).map_err(internal)?;
    let issued = date("issued", &ctx.stored.row.issued)?;
    let due = match &body.due {
        Some(d) => {
            let d = date("due", d)?;
            if d < issued {
                return Err(invalid("due", format!("is before the issue date {issued}")));
            }
            d
        }
        None => date("due", &ctx.stored.row.due)?,
    };
    let amount = match &body.amount {
        Some(a) => money("amount", a, currency)?,
        None => parse_amount(&ctx.stored.row.amount).map_err(internal)?,
    };
    if let Some((_, inst)) = &mut ctx.running
        && let Some(inv) = inst.case.invoices.iter_mut().find(|i| i.number == number)
    {
        let paid: Decimal = inv.allocations.iter().map(|a| a.amount).sum();
        if amount < paid {
            return Err(invalid(
                "amount",
                format!("is below the {paid} already paid"),
            ));
        }
        inv.due = due;
        inv.amount = amount;
    }
    ctx.stored.row.due = due.to_string();
    ctx.stored.row.amount = amount.to_string();
    write_invoice_change(
        &state,
        &ctx,
        format!("invoice {number} changed: due {due}, amount {amount}"),
        vec![LedgerWrite::InvoiceChanged {
            client_id: client_id.clone(),
            number: number.clone(),
            due: due.to_string(),
            amount: amount.to_string(),
            status: "open".into(),
        }],
    )
    .await?;
    audit(
        &state,
        &caller,
        "invoice.update",
        &format!("invoice:{client_id}/{number}"),
        &format!("due {due}, amount {amount}"),
    )
    .await?;
    Ok(reply(StatusCode::OK, &invoice_out(&ctx)))
}

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Reason {
    pub reason: Option<String>,
}

#[utoipa::path(post, path = "/api/v1/clients/{client_id}/invoices/{number}/cancel", tag = "invoices",
    params(("client_id" = String, Path, example = "atelier-dupont"), ("number" = String, Path, example = "F-00001-0")),
    request_body = Reason,
    responses(
        (status = 200, body = InvoiceOut),
        (status = 400, body = super::ProblemBody, content_type = "application/problem+json"),
        (status = 401, body = super::ProblemBody, content_type = "application/problem+json"),
        (status = 403, body = super::ProblemBody, content_type = "application/problem+json"),
        (status = 404, body = super::ProblemBody, content_type = "application/problem+json"),
        (status = 409, body = super::ProblemBody, content_type = "application/problem+json"),
    ))]
/// Cancels an invoice: its case stops collecting it.
async fn cancel_invoice(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath((client_id, number)): ApiPath<(String, String)>,
    OptionalJson(body): OptionalJson<Reason>,
) -> Result<Response, Problem> {
    caller.require(Permission::WriteLedger)?;
    let mut ctx = invoice_context(&state, &caller, &client_id, &number).await?;
    if ctx.stored.status == "cancelled" {
        return Err(Problem::new(
            StatusCode::CONFLICT,
            "invoice_not_open",
            format!("invoice {number} is cancelled already"),
        ));
    }
    if let Some((_, inst)) = &mut ctx.running {
        // TODO: cancelling a case's last invoice leaves the case running
        // with nothing owed until its next step; there is no engine event
        // yet that ends a case because its invoices went away.
        inst.case.invoices.retain(|i| i.number != number);
    }
    ctx.stored.status = "cancelled".into();
    let reason = body.reason.unwrap_or_default();
    write_invoice_change(
        &state,
        &ctx,
        format!("invoice {number} cancelled"),
        vec![LedgerWrite::InvoiceChanged {
            client_id: client_id.clone(),
            number: number.clone(),
            due: ctx.stored.row.due.clone(),
            amount: ctx.stored.row.amount.clone(),
            status: "cancelled".into(),
        }],
    )
    .await?;
    audit(
        &state,
        &caller,
        "invoice.cancel",
        &format!("invoice:{client_id}/{number}"),
        &reason,
    )
    .await?;
    Ok(reply(StatusCode::OK, &invoice_out(&ctx)))
}

/// A credit note against one invoice.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreditNote {
    /// Decimal string, at most what is open on the invoice.
    pub amount: String,
    /// `YYYY-MM-DD`; default today.
    pub date: Option<String>,
    /// The credit note's own number.
    pub reference: Option<String>,
}

#[utoipa::path(post, path = "/api/v1/clients/{client_id}/invoices/{number}/credit-notes", tag = "invoices",
    params(("client_id" = String, Path, example = "atelier-dupont"), ("number" = String, Path, example = "F-00001-0")),
    request_body = CreditNote,
    responses(
        (status = 201, body = InvoiceOut),
        (status = 400, body = super::ProblemBody, content_type = "application/problem+json"),
        (status = 401, body = super::ProblemBody, content_type = "application/problem+json"),
        (status = 403, body = super::ProblemBody, content_type = "application/problem+json"),
        (status = 404, body = super::ProblemBody, content_type = "application/problem+json"),
        (status = 409, body = super::ProblemBody, content_type = "application/problem+json"),
        (status = 422, body = super::ProblemBody, content_type = "application/problem+json"),
    ))]
/// Credits part or all of an invoice: what is open on it goes down, and
/// the credit note is kept among the case's payments (source `credit_note`).
async fn credit_note(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath((client_id, number)): ApiPath<(String, String)>,
    ApiJson(body): ApiJson<CreditNote>,
) -> Result<Response, Problem> {
    caller.require(Permission::WriteLedger)?;
    let mut ctx = invoice_context(&state, &caller, &client_id, &number).await?;
    if ctx.stored.status != "open" {
        return Err(Problem::new(
            StatusCode::CONFLICT,
            "invoice_not_open",
            format!("invoice {number} is {}", ctx.stored.status),
        ));
    }
    let currency = crate::money::parse_currency(&ctx.stored.row.currency).map_err(internal)?;
    let amount = money("amount", &body.amount, currency)?;
    let on = match &body.date {
        Some(d) => date("date", d)?,
        None => state.clock.now().date_naive(),
    };
    let Some((_, inst)) = &mut ctx.running else {
        return Err(Problem::new(
            StatusCode::CONFLICT,
            "case_ended",
            format!("the case of invoice {number} is not running"),
        ));
    };
    let Some(inv) = inst.case.invoices.iter_mut().find(|i| i.number == number) else {
        return Err(Problem::new(
            StatusCode::CONFLICT,
            "invoice_not_open",
            format!("invoice {number} is not collected by its case any more"),
        ));
    };
    let open = inv.open();
    if amount > open {
        return Err(invalid(
            "amount",
            format!("is above the {open} open on the invoice"),
        ));
    }
    inv.allocations.push(Allocation { date: on, amount });
    let fully = amount == open;
    if fully {
        ctx.stored.status = "credited".into();
    }
    let row = &ctx.stored.row;
    let ledger = vec![
        LedgerWrite::Domain(DomainRow::Payment {
            client_id: row.client_id.clone(),
            debtor_id: row.debtor_id.clone(),
            case_id: row.case_id.clone(),
            amount: amount.to_string(),
            currency: row.currency.clone(),
            received_on: on.to_string(),
            reference: body.reference.clone(),
            source: "credit_note".into(),
            allocations: vec![(number.clone(), amount.to_string())],
        }),
        LedgerWrite::InvoiceChanged {
            client_id: row.client_id.clone(),
            number: number.clone(),
            due: row.due.clone(),
            amount: row.amount.clone(),
            status: ctx.stored.status.clone(),
        },
    ];
    write_invoice_change(
        &state,
        &ctx,
        format!("credit note of {amount} on invoice {number}"),
        ledger,
    )
    .await?;
    audit(
        &state,
        &caller,
        "invoice.credit_note",
        &format!("invoice:{client_id}/{number}"),
        &amount.to_string(),
    )
    .await?;
    Ok(reply(StatusCode::CREATED, &invoice_out(&ctx)))
}

// --- events on a case -----------------------------------------------------

/// An event recorded for a case's instance.
#[derive(Debug, Serialize, ToSchema)]
pub struct Accepted {
    /// `accepted`, or `duplicate` for a delivery id seen before.
    pub status: String,
    pub instance_id: String,
    /// The event type recorded.
    pub event: String,
}

/// 404 unless the case exists and the token reaches its client.
pub(super) async fn reach_case(
    state: &AppState,
    caller: &Caller,
    case_id: &str,
) -> Result<CaseRow, Problem> {
    let case = state
        .store
        .api_case(case_id)
        .await
        .map_err(internal)?
        .ok_or_else(|| not_found("case"))?;
    caller.reach(&case.client_id, "case")?;
    Ok(case)
}

/// Records `kind` for the instance `instance_id` of `client_id`, audits it
/// and answers 202.
pub(super) async fn record_event(
    state: &AppState,
    caller: &Caller,
    client_id: &str,
    instance_id: &str,
    kind: &str,
    fields: EventFields,
) -> Result<Response, Problem> {
    let intake = Intake {
        id: None,
        kind: kind.to_string(),
        client_id: client_id.to_string(),
        debtor_id: None,
        case_id: Some(instance_id.to_string()),
        at: None,
        fields,
    };
    let (new, instance) = record(&state.store, intake, None, state.clock.now()).await?;
    state.notify.notify_one();
    audit(state, caller, kind, &format!("instance:{instance}"), "").await?;
    Ok(reply(
        StatusCode::ACCEPTED,
        &Accepted {
            status: if new { "accepted" } else { "duplicate" }.into(),
            instance_id: instance,
            event: kind.to_string(),
        },
    ))
}

/// Records `kind` for the running instance of a case.
async fn case_event(
    state: &AppState,
    caller: &Caller,
    case_id: &str,
    kind: &str,
    fields: EventFields,
) -> Result<Response, Problem> {
    caller.require(Permission::WriteLedger)?;
    let case = reach_case(state, caller, case_id).await?;
    let instances = state
        .store
        .api_instances_of_case(&case.id)
        .await
        .map_err(internal)?;
    let Some(live) = instances.iter().rev().find(|i| i.status != "ended") else {
        return Err(Problem::new(
            StatusCode::CONFLICT,
            "case_ended",
            format!("case {case_id} has no running instance"),
        ));
    };
    record_event(state, caller, &case.client_id, &live.id, kind, fields).await
}

/// A payment received for a case.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PaymentIn {
    /// Decimal string above zero.
    pub amount: String,
    /// `YYYY-MM-DD`, when it was received; default today.
    pub date: Option<String>,
    pub reference: Option<String>,
    /// The invoice it pays; default: the oldest open ones first.
    pub invoice: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct PaymentOut {
    pub id: i64,
    pub amount: String,
    pub currency: String,
    pub received_on: String,
    pub reference: Option<String>,
    /// `api`, `bank`, `credit_note`…
    pub source: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct PaymentList {
    pub items: Vec<PaymentOut>,
    pub next_cursor: Option<String>,
}

#[utoipa::path(post, path = "/api/v1/cases/{case_id}/payments", tag = "payments",
    params(("case_id" = String, Path, description = "a case id; its `/` written `%2F`", example = "atelier-dupont/D0001")),
    request_body = PaymentIn,
    responses(
        (status = 202, body = Accepted),
        (status = 400, body = super::ProblemBody, content_type = "application/problem+json"),
        (status = 401, body = super::ProblemBody, content_type = "application/problem+json"),
        (status = 403, body = super::ProblemBody, content_type = "application/problem+json"),
        (status = 404, body = super::ProblemBody, content_type = "application/problem+json"),
        (status = 409, body = super::ProblemBody, content_type = "application/problem+json"),
        (status = 422, body = super::ProblemBody, content_type = "application/problem+json"),
    ))]
/// Records a payment: a `payment.received` event for the case.
async fn record_payment(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(case_id): ApiPath<String>,
    ApiJson(body): ApiJson<PaymentIn>,
) -> Result<Response, Problem> {
    caller.require(Permission::WriteLedger)?;
    let case = reach_case(&state, &caller, &case_id).await?;
    let currency = crate::money::parse_currency(&case.currency).map_err(internal)?;
    let amount = money("amount", &body.amount, currency)?;
    let date = body.date.as_deref().map(|d| date("date", d)).transpose()?;
    let fields = EventFields {
        amount: Some(amount),
        date,
        reference: body.reference,
        invoice: body.invoice,
        ..EventFields::default()
    };
    case_event(&state, &caller, &case_id, "payment.received", fields).await
}

#[utoipa::path(get, path = "/api/v1/cases/{case_id}/payments", tag = "payments",
    params(("case_id" = String, Path, description = "a case id; its `/` written `%2F`", example = "atelier-dupont/D0001"), PageQuery),
    responses(
        (status = 200, body = PaymentList),
        (status = 400, body = super::ProblemBody, content_type = "application/problem+json"),
        (status = 401, body = super::ProblemBody, content_type = "application/problem+json"),
        (status = 403, body = super::ProblemBody, content_type = "application/problem+json"),
        (status = 404, body = super::ProblemBody, content_type = "application/problem+json"),
    ))]
/// The payments (and credit notes) of a case, oldest first.
async fn list_payments(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(case_id): ApiPath<String>,
    ApiQuery(page): ApiQuery<PageQuery>,
) -> Result<Response, Problem> {
    caller.require(Permission::ReadCases)?;
    reach_case(&state, &caller, &case_id).await?;
    let limit = page.limit()?;
    let rows = state
        .store
        .api_payments(&case_id, page.after_number()?, limit)
        .await
        .map_err(internal)?;
    let last = rows.last().map(|r| r.id.to_string());
    let next = next_cursor(last.as_deref(), rows.len(), limit);
    let items = rows
        .into_iter()
        .map(|p| PaymentOut {
            id: p.id,
            amount: p.amount,
            currency: p.currency,
            received_on: p.received_on,
            reference: p.reference,
            source: p.source,
        })
        .collect();
    Ok(reply(
        StatusCode::OK,
        &PaymentList {
            items,
            next_cursor: next,
        },
    ))
}

/// A dispute to open.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DisputeIn {
    pub reason: Option<String>,
    /// The invoice disputed; default: the whole case.
    pub invoice: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct DisputeOut {
    pub id: i64,
    pub invoice: Option<String>,
    pub reason: Option<String>,
    pub opened_at: String,
    pub resolved_at: Option<String>,
}

#[utoipa::path(post, path = "/api/v1/cases/{case_id}/disputes", tag = "disputes",
    params(("case_id" = String, Path, description = "a case id; its `/` written `%2F`", example = "atelier-dupont/D0001")),
    request_body = DisputeIn,
    responses(
        (status = 202, body = Accepted),
        (status = 400, body = super::ProblemBody, content_type = "application/problem+json"),
        (status = 401, body = super::ProblemBody, content_type = "application/problem+json"),
        (status = 403, body = super::ProblemBody, content_type = "application/problem+json"),
        (status = 404, body = super::ProblemBody, content_type = "application/problem+json"),
        (status = 409, body = super::ProblemBody, content_type = "application/problem+json"),
    ))]
/// Opens a dispute: a `dispute.opened` event for the case.
async fn open_dispute(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(case_id): ApiPath<String>,
    OptionalJson(body): OptionalJson<DisputeIn>,
) -> Result<Response, Problem> {
    let fields = EventFields {
        reason: body.reason,
        invoice: body.invoice,
        ..EventFields::default()
    };
    case_event(&state, &caller, &case_id, "dispute.opened", fields).await
}

#[utoipa::path(post, path = "/api/v1/cases/{case_id}/disputes/resolve", tag = "disputes",
    params(("case_id" = String, Path, description = "a case id; its `/` written `%2F`", example = "atelier-dupont/D0001")),
    request_body = Reason,
    responses(
        (status = 202, body = Accepted),
        (status = 400, body = super::ProblemBody, content_type = "application/problem+json"),
        (status = 401, body = super::ProblemBody, content_type = "application/problem+json"),
        (status = 403, body = super::ProblemBody, content_type = "application/problem+json"),
        (status = 404, body = super::ProblemBody, content_type = "application/problem+json"),
        (status = 409, body = super::ProblemBody, content_type = "application/problem+json"),
    ))]
/// Resolves the case's oldest open dispute: a `dispute.resolved` event.
async fn resolve_dispute(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(case_id): ApiPath<String>,
    OptionalJson(body): OptionalJson<Reason>,
) -> Result<Response, Problem> {
    let fields = EventFields {
        reason: body.reason,
        ..EventFields::default()
    };
    case_event(&state, &caller, &case_id, "dispute.resolved", fields).await
}

#[utoipa::path(get, path = "/api/v1/cases/{case_id}/disputes", tag = "disputes",
    params(("case_id" = String, Path, description = "a case id; its `/` written `%2F`", example = "atelier-dupont/D0001")),
    responses(
        (status = 200, body = Vec<DisputeOut>),
        (status = 401, body = super::ProblemBody, content_type = "application/problem+json"),
        (status = 403, body = super::ProblemBody, content_type = "application/problem+json"),
        (status = 404, body = super::ProblemBody, content_type = "application/problem+json"),
    ))]
/// The disputes of a case, oldest first.
async fn list_disputes(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(case_id): ApiPath<String>,
) -> Result<Response, Problem> {
    caller.require(Permission::ReadCases)?;
    reach_case(&state, &caller, &case_id).await?;
    let rows = state.store.api_disputes(&case_id).await.map_err(internal)?;
    let items: Vec<DisputeOut> = rows
        .into_iter()
        .map(|d| DisputeOut {
            id: d.id,
            invoice: d.invoice,
            reason: d.reason,
            opened_at: super::time(d.opened_at),
            resolved_at: d.resolved_at.map(super::time),
        })
        .collect();
    Ok(reply(StatusCode::OK, &items))
}

/// A promise to pay by a date.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PromiseIn {
    /// `YYYY-MM-DD`.
    pub date: String,
    /// Decimal string; default: everything owed.
    pub amount: Option<String>,
}

#[utoipa::path(post, path = "/api/v1/cases/{case_id}/promises", tag = "promises",
    params(("case_id" = String, Path, description = "a case id; its `/` written `%2F`", example = "atelier-dupont/D0001")),
    request_body = PromiseIn,
    responses(
        (status = 202, body = Accepted),
        (status = 400, body = super::ProblemBody, content_type = "application/problem+json"),
        (status = 401, body = super::ProblemBody, content_type = "application/problem+json"),
        (status = 403, body = super::ProblemBody, content_type = "application/problem+json"),
        (status = 404, body = super::ProblemBody, content_type = "application/problem+json"),
        (status = 409, body = super::ProblemBody, content_type = "application/problem+json"),
        (status = 422, body = super::ProblemBody, content_type = "application/problem+json"),
    ))]
/// Records a promise to pay: a `promise.made` event.
async fn make_promise(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(case_id): ApiPath<String>,
    ApiJson(body): ApiJson<PromiseIn>,
) -> Result<Response, Problem> {
    caller.require(Permission::WriteLedger)?;
    let case = reach_case(&state, &caller, &case_id).await?;
    let currency = crate::money::parse_currency(&case.currency).map_err(internal)?;
    let fields = EventFields {
        date: Some(date("date", &body.date)?),
        amount: body
            .amount
            .as_deref()
            .map(|a| money("amount", a, currency))
            .transpose()?,
        ..EventFields::default()
    };
    case_event(&state, &caller, &case_id, "promise.made", fields).await
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct InstalmentIn {
    /// `YYYY-MM-DD`.
    pub date: String,
    /// Decimal string.
    pub amount: String,
}

/// A payment plan.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PlanIn {
    /// 1 to 120 instalments.
    pub instalments: Vec<InstalmentIn>,
}

#[utoipa::path(post, path = "/api/v1/cases/{case_id}/plans", tag = "promises",
    params(("case_id" = String, Path, description = "a case id; its `/` written `%2F`", example = "atelier-dupont/D0001")),
    request_body = PlanIn,
    responses(
        (status = 202, body = Accepted),
        (status = 400, body = super::ProblemBody, content_type = "application/problem+json"),
        (status = 401, body = super::ProblemBody, content_type = "application/problem+json"),
        (status = 403, body = super::ProblemBody, content_type = "application/problem+json"),
        (status = 404, body = super::ProblemBody, content_type = "application/problem+json"),
        (status = 409, body = super::ProblemBody, content_type = "application/problem+json"),
        (status = 422, body = super::ProblemBody, content_type = "application/problem+json"),
    ))]
/// Records a payment plan: a `plan.agreed` event.
async fn agree_plan(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(case_id): ApiPath<String>,
    ApiJson(body): ApiJson<PlanIn>,
) -> Result<Response, Problem> {
    caller.require(Permission::WriteLedger)?;
    let case = reach_case(&state, &caller, &case_id).await?;
    if body.instalments.is_empty() || body.instalments.len() > 120 {
        return Err(invalid("instalments", "give 1 to 120 instalments"));
    }
    let currency = crate::money::parse_currency(&case.currency).map_err(internal)?;
    let mut instalments = Vec::with_capacity(body.instalments.len());
    for (i, inst) in body.instalments.iter().enumerate() {
        let date = date(&format!("instalments[{i}].date"), &inst.date)?;
        if instalments
            .last()
            .is_some_and(|p: &Instalment| p.date >= date)
        {
            return Err(invalid(
                &format!("instalments[{i}].date"),
                "must come after the instalment before it",
            ));
        }
        instalments.push(Instalment {
            date,
            amount: money(&format!("instalments[{i}].amount"), &inst.amount, currency)?,
        });
    }
    let fields = EventFields {
        instalments,
        ..EventFields::default()
    };
    case_event(&state, &caller, &case_id, "plan.agreed", fields).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_amount_with_more_decimals_than_its_currency_is_refused() {
        let eur = crate::money::parse_currency("EUR").unwrap();
        assert_eq!(money("amount", "12.50", eur).unwrap().to_string(), "12.50");
        let p = money("amount", "12.505", eur).unwrap_err();
        assert!(p.detail.starts_with("amount: "), "{}", p.detail);
        assert!(money("amount", "0", eur).is_err());
        assert!(money("amount", "1,5", eur).is_err());
    }

    #[test]
    fn import_errors_are_named_by_invoice_index_and_api_field() {
        let errors = vec![RowError {
            file: "request".into(),
            line: 3,
            column: Some("invoice_number".into()),
            message: "must not be empty (object 2)".into(),
        }];
        let p = row_problem(&errors, |i| format!("invoices[{i}]."));
        assert_eq!(p.detail, "invoices[1].number: must not be empty");
    }
}
