//! Cases, scenario instances with their journals, and the operator's
//! actions on an instance: pause, resume, skip, retry, close, migrate.
//!
//! Pause, resume, skip and close are recorded as `operator.*` events that
//! the scheduler applies like any other; retry puts the instance's dead
//! letters back in the outbox; migrate moves it to another version of its
//! scenario with the planner the command line uses. No personal data of
//! the debtor is shown here: a case names its debtor by id only.

use std::collections::BTreeMap;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::ledger::{InvoiceOut, Reason, reach_case, record_event};
use super::{
    ApiJson, ApiPath, ApiQuery, OptionalJson, PageQuery, audit, busy, invalid, next_cursor,
    not_found, reply, scenario_version, time,
};
use crate::api::auth::{Caller, Permission, Scope};
use crate::api::{AppState, Problem, internal};
use crate::engine::{EventFields, Instance};
use crate::money::round;
use crate::runtime::{MigrateError, plan_migration};
use crate::store::{InstanceFilter, InstanceSummary};

pub(super) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_cases))
        .routes(routes!(get_case))
        .routes(routes!(list_instances))
        .routes(routes!(get_instance))
        .routes(routes!(pause))
        .routes(routes!(resume))
        .routes(routes!(skip))
        .routes(routes!(close))
        .routes(routes!(retry))
        .routes(routes!(migrate))
}

fn scope_filter(caller: &Caller) -> Option<&[String]> {
    match &caller.scope {
        Scope::All => None,
        Scope::Clients(ids) => Some(ids.as_slice()),
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct CaseOut {
    /// `client/debtor`, or `client/debtor/CURRENCY`.
    pub id: String,
    pub client_id: String,
    pub debtor_id: String,
    pub currency: String,
    pub opened_at: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct CaseList {
    pub items: Vec<CaseOut>,
    pub next_cursor: Option<String>,
}

/// A case with what it owes.
#[derive(Debug, Serialize, ToSchema)]
pub struct CaseDetail {
    #[serde(flatten)]
    pub case: CaseOut,
    /// Principal still open, decimal string.
    pub balance: Option<String>,
    /// Balance plus fees and late interest.
    pub total_due: Option<String>,
    pub fees: Option<String>,
    pub interest: Option<String>,
    pub invoices: Vec<InvoiceOut>,
    pub instances: Vec<InstanceOut>,
}

/// An instance as lists show it.
#[derive(Debug, Serialize, ToSchema)]
pub struct InstanceOut {
    pub id: String,
    pub case_id: String,
    pub client_id: String,
    pub scenario: String,
    pub version: String,
    /// running, waiting, paused, ended or failed.
    pub status: String,
    pub stage: Option<String>,
    pub next_wake: Option<String>,
    pub updated_at: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct InstanceList {
    pub items: Vec<InstanceOut>,
    pub next_cursor: Option<String>,
}

/// One line of an instance's journal.
#[derive(Debug, Serialize, ToSchema)]
pub struct JournalOut {
    pub at: String,
    pub kind: String,
    pub stage: Option<String>,
    pub step: Option<String>,
    pub channel: Option<String>,
    pub template: Option<String>,
    pub detail: String,
    pub balance: String,
    pub total_due: String,
    pub currency: String,
}

/// An instance with its position, balance and journal.
#[derive(Debug, Serialize, ToSchema)]
pub struct InstanceDetail {
    #[serde(flatten)]
    pub instance: InstanceOut,
    /// The step it stands on.
    pub step: Option<String>,
    /// How it ended (paid, written_off…).
    pub outcome: Option<String>,
    pub balance: Option<String>,
    pub total_due: Option<String>,
    pub journal: Vec<JournalOut>,
}

fn instance_out(i: InstanceSummary) -> InstanceOut {
    InstanceOut {
        id: i.id,
        case_id: i.case_id,
        client_id: i.client_id,
        scenario: i.scenario,
        version: i.version,
        status: i.status,
        stage: i.stage,
        next_wake: i.next_wake.map(time),
        updated_at: time(i.updated_at),
    }
}

fn case_out(c: crate::store::CaseRow) -> CaseOut {
    CaseOut {
        opened_at: time(c.opened_at),
        id: c.id,
        client_id: c.client_id,
        debtor_id: c.debtor_id,
        currency: c.currency,
    }
}

#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct CaseQuery {
    /// Only this client's cases.
    pub client_id: Option<String>,
    /// At most this many items (1 to 500, default 50).
    pub limit: Option<u64>,
    /// `next_cursor` of the previous page.
    pub cursor: Option<String>,
}

#[utoipa::path(get, path = "/api/v1/cases", tag = "cases",
    params(CaseQuery),
    responses(
        (status = 200, body = CaseList),
        (status = 400, body = super::ProblemBody, content_type = "application/problem+json"),
        (status = 401, body = super::ProblemBody, content_type = "application/problem+json"),
        (status = 403, body = super::ProblemBody, content_type = "application/problem+json"),
    ))]
/// The cases the token reaches, by id.
async fn list_cases(
    State(state): State<AppState>,
    caller: Caller,
    ApiQuery(q): ApiQuery<CaseQuery>,
) -> Result<Response, Problem> {
    caller.require(Permission::ReadCases)?;
    let page = PageQuery {
        limit: q.limit,
        cursor: q.cursor,
    };
    let limit = page.limit()?;
    let rows = state
        .store
        .api_cases(
            scope_filter(&caller),
            q.client_id.as_deref(),
            &page.after()?,
            limit,
        )
        .await
        .map_err(internal)?;
    let next = next_cursor(rows.last().map(|r| r.id.as_str()), rows.len(), limit);
    let items = rows.into_iter().map(case_out).collect();
    Ok(reply(
        StatusCode::OK,
        &CaseList {
            items,
            next_cursor: next,
        },
    ))
}

/// The stored state of an instance, when it reads.
async fn instance_state(state: &AppState, id: &str) -> Result<Option<Instance>, Problem> {
    let Some((_, _, text)) = state.store.instance_state(id).await.map_err(internal)? else {
        return Ok(None);
    };
    Ok(serde_json::from_str(&text).ok())
}

#[utoipa::path(get, path = "/api/v1/cases/{case_id}", tag = "cases",
    params(("case_id" = String, Path, description = "a case id; its `/` written `%2F`", example = "atelier-dupont/D0001")),
    responses(
        (status = 200, body = CaseDetail),
        (status = 401, body = super::ProblemBody, content_type = "application/problem+json"),
        (status = 403, body = super::ProblemBody, content_type = "application/problem+json"),
        (status = 404, body = super::ProblemBody, content_type = "application/problem+json"),
    ))]
/// One case with its balance, invoices and instances.
async fn get_case(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(case_id): ApiPath<String>,
) -> Result<Response, Problem> {
    caller.require(Permission::ReadCases)?;
    let case = reach_case(&state, &caller, &case_id).await?;
    let instances = state
        .store
        .api_instances_of_case(&case.id)
        .await
        .map_err(internal)?;
    let latest = match instances.last() {
        Some(i) => instance_state(&state, &i.id).await?,
        None => None,
    };
    let money = |f: &dyn Fn(&Instance) -> rust_decimal::Decimal| {
        latest
            .as_ref()
            .map(|inst| round(f(inst), inst.currency).to_string())
    };
    let invoices = state
        .store
        .api_invoices_of_case(&case.id)
        .await
        .map_err(internal)?
        .into_iter()
        .map(|r| {
            let open = latest.as_ref().and_then(|inst| {
                inst.case
                    .invoices
                    .iter()
                    .find(|i| i.number == r.row.number)
                    .map(|i| round(i.open(), i.currency).to_string())
            });
            InvoiceOut {
                client_id: r.row.client_id,
                number: r.row.number,
                debtor_id: r.row.debtor_id,
                case_id: r.row.case_id,
                issued: r.row.issued,
                due: r.row.due,
                amount: r.row.amount,
                currency: r.row.currency,
                status: r.status,
                open,
            }
        })
        .collect();
    let detail = CaseDetail {
        balance: money(&|i| i.balance()),
        total_due: money(&|i| i.total_due()),
        fees: money(&|i| i.fees),
        interest: money(&|i| i.interest),
        case: case_out(case),
        invoices,
        instances: instances.into_iter().map(instance_out).collect(),
    };
    Ok(reply(StatusCode::OK, &detail))
}

#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct InstanceQuery {
    /// running, waiting, paused, ended or failed.
    pub status: Option<String>,
    pub client_id: Option<String>,
    pub scenario: Option<String>,
    pub stage: Option<String>,
    /// At most this many items (1 to 500, default 50).
    pub limit: Option<u64>,
    /// `next_cursor` of the previous page.
    pub cursor: Option<String>,
}

#[utoipa::path(get, path = "/api/v1/instances", tag = "instances",
    params(InstanceQuery),
    responses(
        (status = 200, body = InstanceList),
        (status = 400, body = super::ProblemBody, content_type = "application/problem+json"),
        (status = 401, body = super::ProblemBody, content_type = "application/problem+json"),
        (status = 403, body = super::ProblemBody, content_type = "application/problem+json"),
    ))]
/// Instances, filtered by status, client, scenario and stage, by id.
async fn list_instances(
    State(state): State<AppState>,
    caller: Caller,
    ApiQuery(q): ApiQuery<InstanceQuery>,
) -> Result<Response, Problem> {
    caller.require(Permission::ReadCases)?;
    let page = PageQuery {
        limit: q.limit,
        cursor: q.cursor,
    };
    let limit = page.limit()?;
    let filter = InstanceFilter {
        status: q.status,
        client_id: q.client_id,
        scenario: q.scenario,
        stage: q.stage,
    };
    let rows = state
        .store
        .api_instances(scope_filter(&caller), &filter, &page.after()?, limit)
        .await
        .map_err(internal)?;
    let next = next_cursor(rows.last().map(|r| r.id.as_str()), rows.len(), limit);
    let items = rows.into_iter().map(instance_out).collect();
    Ok(reply(
        StatusCode::OK,
        &InstanceList {
            items,
            next_cursor: next,
        },
    ))
}

/// 404 unless the instance exists and the token reaches its client.
async fn reach_instance(
    state: &AppState,
    caller: &Caller,
    id: &str,
) -> Result<InstanceSummary, Problem> {
    let inst = state
        .store
        .api_instance(id)
        .await
        .map_err(internal)?
        .ok_or_else(|| not_found("instance"))?;
    caller.reach(&inst.client_id, "instance")?;
    Ok(inst)
}

#[utoipa::path(get, path = "/api/v1/instances/{instance_id}", tag = "instances",
    params(("instance_id" = String, Path, description = "an instance id; its `/` written `%2F`", example = "atelier-dupont/D0001")),
    responses(
        (status = 200, body = InstanceDetail),
        (status = 401, body = super::ProblemBody, content_type = "application/problem+json"),
        (status = 403, body = super::ProblemBody, content_type = "application/problem+json"),
        (status = 404, body = super::ProblemBody, content_type = "application/problem+json"),
    ))]
/// One instance with its position, balance and journal, oldest first.
async fn get_instance(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<String>,
) -> Result<Response, Problem> {
    caller.require(Permission::ReadCases)?;
    let summary = reach_instance(&state, &caller, &id).await?;
    let inst = instance_state(&state, &id).await?;
    let scenario = scenario_version(&state.store, &summary.scenario, &summary.version).await?;
    let step = match (&inst, &scenario) {
        (Some(i), Some(sc)) => i.position.map(|p| sc.step(p).id.clone()),
        _ => None,
    };
    let outcome = inst.as_ref().and_then(|i| {
        i.outcome
            .and_then(|o| serde_json::to_value(o).ok())
            .and_then(|v| v.as_str().map(str::to_string))
    });
    let journal = state
        .store
        .journal(&id)
        .await
        .map_err(internal)?
        .into_iter()
        .map(|j| JournalOut {
            at: time(j.at),
            kind: j.kind,
            stage: j.stage,
            step: j.step,
            channel: j.channel,
            template: j.template,
            detail: j.detail,
            balance: j.balance,
            total_due: j.total_due,
            currency: j.currency,
        })
        .collect();
    let detail = InstanceDetail {
        step,
        outcome,
        balance: inst
            .as_ref()
            .map(|i| round(i.balance(), i.currency).to_string()),
        total_due: inst
            .as_ref()
            .map(|i| round(i.total_due(), i.currency).to_string()),
        instance: instance_out(summary),
        journal,
    };
    Ok(reply(StatusCode::OK, &detail))
}

/// Records an operator's event for an instance that has not ended.
async fn operator_event(
    state: &AppState,
    caller: &Caller,
    id: &str,
    kind: &str,
    fields: EventFields,
) -> Result<Response, Problem> {
    caller.require(Permission::Operate)?;
    let inst = reach_instance(state, caller, id).await?;
    if inst.status == "ended" {
        return Err(Problem::new(
            StatusCode::CONFLICT,
            "case_ended",
            format!("instance {id} has ended"),
        ));
    }
    record_event(state, caller, &inst.client_id, id, kind, fields).await
}

#[utoipa::path(post, path = "/api/v1/instances/{instance_id}/pause", tag = "operator",
    params(("instance_id" = String, Path, description = "an instance id; its `/` written `%2F`", example = "atelier-dupont/D0001")),
    request_body = Reason,
    responses(
        (status = 202, body = super::ledger::Accepted),
        (status = 400, body = super::ProblemBody, content_type = "application/problem+json"),
        (status = 401, body = super::ProblemBody, content_type = "application/problem+json"),
        (status = 403, body = super::ProblemBody, content_type = "application/problem+json"),
        (status = 404, body = super::ProblemBody, content_type = "application/problem+json"),
        (status = 409, body = super::ProblemBody, content_type = "application/problem+json"),
        (status = 422, body = super::ProblemBody, content_type = "application/problem+json"),
    ))]
/// Pauses an instance until it is resumed (`operator.pause`).
async fn pause(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<String>,
    OptionalJson(body): OptionalJson<Reason>,
) -> Result<Response, Problem> {
    let fields = EventFields {
        reason: body.reason,
        ..EventFields::default()
    };
    operator_event(&state, &caller, &id, "operator.pause", fields).await
}

#[utoipa::path(post, path = "/api/v1/instances/{instance_id}/resume", tag = "operator",
    params(("instance_id" = String, Path, description = "an instance id; its `/` written `%2F`", example = "atelier-dupont/D0001")),
    request_body = Reason,
    responses(
        (status = 202, body = super::ledger::Accepted),
        (status = 400, body = super::ProblemBody, content_type = "application/problem+json"),
        (status = 401, body = super::ProblemBody, content_type = "application/problem+json"),
        (status = 403, body = super::ProblemBody, content_type = "application/problem+json"),
        (status = 404, body = super::ProblemBody, content_type = "application/problem+json"),
        (status = 409, body = super::ProblemBody, content_type = "application/problem+json"),
        (status = 422, body = super::ProblemBody, content_type = "application/problem+json"),
    ))]
/// Resumes a paused instance (`operator.resume`).
async fn resume(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<String>,
    OptionalJson(body): OptionalJson<Reason>,
) -> Result<Response, Problem> {
    let fields = EventFields {
        reason: body.reason,
        ..EventFields::default()
    };
    operator_event(&state, &caller, &id, "operator.resume", fields).await
}

#[utoipa::path(post, path = "/api/v1/instances/{instance_id}/skip", tag = "operator",
    params(("instance_id" = String, Path, description = "an instance id; its `/` written `%2F`", example = "atelier-dupont/D0001")),
    request_body = Reason,
    responses(
        (status = 202, body = super::ledger::Accepted),
        (status = 400, body = super::ProblemBody, content_type = "application/problem+json"),
        (status = 401, body = super::ProblemBody, content_type = "application/problem+json"),
        (status = 403, body = super::ProblemBody, content_type = "application/problem+json"),
        (status = 404, body = super::ProblemBody, content_type = "application/problem+json"),
        (status = 409, body = super::ProblemBody, content_type = "application/problem+json"),
        (status = 422, body = super::ProblemBody, content_type = "application/problem+json"),
    ))]
/// Leaves the step the instance waits in and goes on with the next
/// (`operator.skip`).
async fn skip(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<String>,
    OptionalJson(body): OptionalJson<Reason>,
) -> Result<Response, Problem> {
    let fields = EventFields {
        reason: body.reason,
        ..EventFields::default()
    };
    operator_event(&state, &caller, &id, "operator.skip", fields).await
}

/// How an operator closes an instance.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CloseIn {
    /// paid, settled, written_off or cancelled.
    pub outcome: String,
    pub reason: Option<String>,
}

/// The outcomes an operator may close with.
pub const CLOSE_OUTCOMES: [&str; 4] = ["paid", "settled", "written_off", "cancelled"];

#[utoipa::path(post, path = "/api/v1/instances/{instance_id}/close", tag = "operator",
    params(("instance_id" = String, Path, description = "an instance id; its `/` written `%2F`", example = "atelier-dupont/D0001")),
    request_body = CloseIn,
    responses(
        (status = 202, body = super::ledger::Accepted),
        (status = 400, body = super::ProblemBody, content_type = "application/problem+json"),
        (status = 401, body = super::ProblemBody, content_type = "application/problem+json"),
        (status = 403, body = super::ProblemBody, content_type = "application/problem+json"),
        (status = 404, body = super::ProblemBody, content_type = "application/problem+json"),
        (status = 409, body = super::ProblemBody, content_type = "application/problem+json"),
        (status = 422, body = super::ProblemBody, content_type = "application/problem+json"),
    ))]
/// Ends an instance with an outcome (`operator.close`).
async fn close(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<String>,
    ApiJson(body): ApiJson<CloseIn>,
) -> Result<Response, Problem> {
    if !CLOSE_OUTCOMES.contains(&body.outcome.as_str()) {
        caller.require(Permission::Operate)?;
        return Err(invalid(
            "outcome",
            format!(
                "`{}` is not one of {}",
                body.outcome,
                CLOSE_OUTCOMES.join(", ")
            ),
        ));
    }
    let fields = EventFields {
        outcome: Some(body.outcome),
        reason: body.reason,
        ..EventFields::default()
    };
    operator_event(&state, &caller, &id, "operator.close", fields).await
}

/// The dead letters put back in the queue.
#[derive(Debug, Serialize, ToSchema)]
pub struct Retried {
    /// Outbox row ids.
    pub requeued: Vec<i64>,
}

#[utoipa::path(post, path = "/api/v1/instances/{instance_id}/retry", tag = "operator",
    params(("instance_id" = String, Path, description = "an instance id; its `/` written `%2F`", example = "atelier-dupont/D0001")),
    responses(
        (status = 200, body = Retried),
        (status = 401, body = super::ProblemBody, content_type = "application/problem+json"),
        (status = 403, body = super::ProblemBody, content_type = "application/problem+json"),
        (status = 404, body = super::ProblemBody, content_type = "application/problem+json"),
    ))]
/// Puts the instance's dead or parked sends back in the outbox queue.
async fn retry(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<String>,
) -> Result<Response, Problem> {
    caller.require(Permission::Operate)?;
    reach_instance(&state, &caller, &id).await?;
    let now = state.clock.now_ms();
    let mut requeued = Vec::new();
    for row in state.store.api_dead_letters(&id).await.map_err(internal)? {
        if state
            .store
            .outbox_requeue(row, now)
            .await
            .map_err(internal)?
        {
            requeued.push(row);
        }
    }
    audit(
        &state,
        &caller,
        "instance.retry",
        &format!("instance:{id}"),
        &requeued
            .iter()
            .map(i64::to_string)
            .collect::<Vec<_>>()
            .join(","),
    )
    .await?;
    Ok(reply(StatusCode::OK, &Retried { requeued }))
}

/// A move to another version of the instance's scenario.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MigrateIn {
    /// A stored version of the same scenario (`GET /api/v1/scenarios`).
    pub to_version: String,
    /// Old step id → new step id.
    #[serde(default)]
    pub mapping: BTreeMap<String, String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Migrated {
    pub instance_id: String,
    pub from_version: String,
    pub to_version: String,
    /// False when it was on that version already.
    pub moved: bool,
}

#[utoipa::path(post, path = "/api/v1/instances/{instance_id}/migrate", tag = "operator",
    params(("instance_id" = String, Path, description = "an instance id; its `/` written `%2F`", example = "atelier-dupont/D0001")),
    request_body = MigrateIn,
    responses(
        (status = 200, body = Migrated),
        (status = 400, body = super::ProblemBody, content_type = "application/problem+json"),
        (status = 401, body = super::ProblemBody, content_type = "application/problem+json"),
        (status = 403, body = super::ProblemBody, content_type = "application/problem+json"),
        (status = 404, body = super::ProblemBody, content_type = "application/problem+json"),
        (status = 409, body = super::ProblemBody, content_type = "application/problem+json"),
        (status = 422, body = super::ProblemBody, content_type = "application/problem+json"),
    ))]
/// Moves an instance to another version of its scenario, its current step
/// mapped to a step of the new version.
async fn migrate(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<String>,
    ApiJson(body): ApiJson<MigrateIn>,
) -> Result<Response, Problem> {
    caller.require(Permission::Operate)?;
    let inst = reach_instance(&state, &caller, &id).await?;
    if inst.status == "ended" {
        return Err(Problem::new(
            StatusCode::CONFLICT,
            "case_ended",
            format!("instance {id} has ended"),
        ));
    }
    let Some(target) = scenario_version(&state.store, &inst.scenario, &body.to_version).await?
    else {
        return Err(invalid(
            "to_version",
            format!(
                "scenario {} has no stored version `{}`",
                inst.scenario, body.to_version
            ),
        ));
    };
    let Some(old) = scenario_version(&state.store, &inst.scenario, &inst.version).await? else {
        return Err(internal(format!(
            "scenario {} version {} is not stored",
            inst.scenario, inst.version
        )));
    };
    let Some((_, _, text)) = state.store.instance_state(&id).await.map_err(internal)? else {
        return Err(not_found("instance"));
    };
    let versions = BTreeMap::from([(inst.version.clone(), old)]);
    let now = state.clock.now();
    let plan = plan_migration(
        &target,
        &versions,
        &body.mapping,
        &[(id.clone(), inst.version.clone(), text)],
        now,
    )
    .map_err(|e| match e {
        MigrateError::UnknownStep { step, .. } => invalid(
            "mapping",
            format!("version {} has no step `{step}`", body.to_version),
        ),
        other => internal(other),
    })?;
    if let Some(u) = plan.unmapped.first() {
        return Err(invalid("mapping", format!("does not cover instance {u}")));
    }
    let moved = !plan.rows.is_empty();
    if moved {
        let n = state
            .store
            .rewrite_instances(&plan.rows, &plan.journal, now.timestamp_millis())
            .await
            .map_err(internal)?;
        if n == 0 {
            return Err(busy(&id));
        }
        state.notify.notify_one();
    }
    audit(
        &state,
        &caller,
        "instance.migrate",
        &format!("instance:{id}"),
        &format!("{} -> {}", inst.version, body.to_version),
    )
    .await?;
    Ok(reply(
        StatusCode::OK,
        &Migrated {
            instance_id: id,
            from_version: inst.version,
            to_version: body.to_version,
            moved,
        },
    ))
}
