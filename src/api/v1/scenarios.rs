//! Scenario versions: upload (checked first, exactly as `relance check`
//! does) and list.
//!
//! An uploaded scenario that has any error is refused with every
//! diagnostic; one without is stored as a version (named by its content),
//! which new cases then choose among. Running instances stay on the
//! version they started with.

use std::path::Path;
use std::sync::{Arc, OnceLock};

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::{
    ApiPath, ApiQuery, RawBody, audit, bad_request, diagnostics_problem, not_found, reply, time,
};
use crate::api::auth::{Caller, Permission};
use crate::api::{AppState, Problem, internal};
use crate::runtime::service::Templates;
use crate::scenario::{self, TemplateLookup};
use crate::templates::TemplateStore;

pub(super) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_scenarios, upload_scenario))
        .routes(routes!(get_scenario))
}

/// One diagnostic of a refused scenario.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct DiagnosticOut {
    pub file: String,
    /// 1-based; 0 for the whole file.
    pub line: usize,
    /// 1-based, in characters.
    pub column: usize,
    /// error or warning.
    pub severity: String,
    pub message: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ScenarioVersionOut {
    pub name: String,
    /// Derived from the content: the same text is the same version.
    pub version: String,
    pub created_at: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ScenarioText {
    #[serde(flatten)]
    pub version: ScenarioVersionOut,
    pub yaml: String,
}

/// The result of an upload.
#[derive(Debug, Serialize, ToSchema)]
pub struct Uploaded {
    pub name: String,
    pub version: String,
    /// False when this exact version was stored already.
    pub new: bool,
    /// Warnings the checker found (the scenario runs regardless).
    pub warnings: Vec<DiagnosticOut>,
}

#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct UploadQuery {
    /// The file name diagnostics name (default `scenario.yaml`).
    pub file: Option<String>,
}

#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListQuery {
    /// Only the versions of this scenario.
    pub name: Option<String>,
}

/// The templates of the working folder's `templates/`, as `relance check`
/// uses them, loaded once; `None` when there is no such folder.
fn templates() -> Option<&'static Templates> {
    // TODO: use the configured templates folder once the API's state
    // carries the configuration; `relance serve --config` with another
    // folder checks uploads against `templates/` of the working folder.
    static TEMPLATES: OnceLock<Option<Templates>> = OnceLock::new();
    TEMPLATES
        .get_or_init(|| {
            let dir = Path::new("templates");
            if !dir.is_dir() {
                return None;
            }
            TemplateStore::load(dir)
                .ok()
                .map(|s| Templates(Arc::new(s)))
        })
        .as_ref()
}

fn diagnostic_out(d: &scenario::Diagnostic) -> DiagnosticOut {
    DiagnosticOut {
        file: d.file.clone(),
        line: d.line,
        column: d.column,
        severity: d.severity.to_string(),
        message: d.message.clone(),
    }
}

#[utoipa::path(post, path = "/api/v1/scenarios", tag = "scenarios",
    params(UploadQuery),
    request_body(content = String, content_type = "application/yaml",
        description = "the scenario's YAML text"),
    responses(
        (status = 201, body = Uploaded),
        (status = 200, body = Uploaded, description = "this version was stored already"),
        (status = 400, body = super::ProblemBody, content_type = "application/problem+json"),
        (status = 401, body = super::ProblemBody, content_type = "application/problem+json"),
        (status = 403, body = super::ProblemBody, content_type = "application/problem+json"),
        (status = 422, body = super::ProblemBody, content_type = "application/problem+json",
            description = "the checker found errors; `errors` lists every diagnostic"),
    ))]
/// Checks a scenario and stores it as a new version.
async fn upload_scenario(
    State(state): State<AppState>,
    caller: Caller,
    ApiQuery(q): ApiQuery<UploadQuery>,
    RawBody(body): RawBody,
) -> Result<Response, Problem> {
    caller.require(Permission::WriteScenarios)?;
    let Ok(text) = std::str::from_utf8(&body) else {
        return Err(bad_request(
            "invalid_body",
            "the scenario must be UTF-8 text",
        ));
    };
    let file = q.file.unwrap_or_else(|| "scenario.yaml".into());
    let lookup = templates().map(|t| t as &dyn TemplateLookup);
    let loaded = scenario::load_checked(crate::engine::shared().rules, &file, text, lookup);
    let diagnostics: Vec<DiagnosticOut> = loaded.diagnostics.iter().map(diagnostic_out).collect();
    let Some(sc) = loaded.scenario else {
        let errors = loaded.diagnostics.iter().filter(|d| d.is_error()).count();
        return Ok(diagnostics_problem(
            format!("{file}: {errors} error(s); the scenario was not stored"),
            &diagnostics,
        ));
    };
    let existed = state
        .store
        .scenario_versions()
        .await
        .map_err(internal)?
        .iter()
        .any(|v| v.name == sc.name && v.version == sc.version);
    if !existed {
        state
            .store
            .put_scenario(&sc.name, &sc.version, text, state.clock.now_ms())
            .await
            .map_err(internal)?;
        audit(
            &state,
            &caller,
            "scenario.upload",
            &format!("scenario:{}@{}", sc.name, sc.version),
            "",
        )
        .await?;
    }
    let status = if existed {
        StatusCode::OK
    } else {
        StatusCode::CREATED
    };
    Ok(reply(
        status,
        &Uploaded {
            name: sc.name,
            version: sc.version,
            new: !existed,
            warnings: diagnostics,
        },
    ))
}

#[utoipa::path(get, path = "/api/v1/scenarios", tag = "scenarios",
    params(ListQuery),
    responses(
        (status = 200, body = Vec<ScenarioVersionOut>),
        (status = 400, body = super::ProblemBody, content_type = "application/problem+json"),
        (status = 401, body = super::ProblemBody, content_type = "application/problem+json"),
        (status = 403, body = super::ProblemBody, content_type = "application/problem+json"),
    ))]
/// Every stored scenario version, by name then age.
async fn list_scenarios(
    State(state): State<AppState>,
    caller: Caller,
    ApiQuery(q): ApiQuery<ListQuery>,
) -> Result<Response, Problem> {
    caller.require(Permission::ReadScenarios)?;
    let items: Vec<ScenarioVersionOut> = state
        .store
        .scenario_versions()
        .await
        .map_err(internal)?
        .into_iter()
        .filter(|v| q.name.as_ref().is_none_or(|n| *n == v.name))
        .map(|v| ScenarioVersionOut {
            name: v.name,
            version: v.version,
            created_at: time(v.created_at),
        })
        .collect();
    Ok(reply(StatusCode::OK, &items))
}

#[utoipa::path(get, path = "/api/v1/scenarios/{name}/versions/{version}", tag = "scenarios",
    params(("name" = String, Path), ("version" = String, Path)),
    responses(
        (status = 200, body = ScenarioText),
        (status = 401, body = super::ProblemBody, content_type = "application/problem+json"),
        (status = 403, body = super::ProblemBody, content_type = "application/problem+json"),
        (status = 404, body = super::ProblemBody, content_type = "application/problem+json"),
    ))]
/// One stored version with its text.
async fn get_scenario(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath((name, version)): ApiPath<(String, String)>,
) -> Result<Response, Problem> {
    caller.require(Permission::ReadScenarios)?;
    let v = state
        .store
        .scenario_versions()
        .await
        .map_err(internal)?
        .into_iter()
        .find(|v| v.name == name && v.version == version)
        .ok_or_else(|| not_found("scenario version"))?;
    Ok(reply(
        StatusCode::OK,
        &ScenarioText {
            version: ScenarioVersionOut {
                name: v.name,
                version: v.version,
                created_at: time(v.created_at),
            },
            yaml: v.yaml,
        },
    ))
}
