//! Who is calling: API tokens, their roles and the clients they reach.
//!
//! A request carries `Authorization: Bearer <token>`. The token's text is
//! never stored: the store keeps its SHA-256, and [`Caller`] is what a
//! handler gets once the hash matched a live token. Handlers then ask
//! [`Caller::require`] for the permission their endpoint needs (403 when
//! the role lacks it) and [`Caller::reach`] for the client a resource
//! belongs to (404 when the token may not see that client, so that another
//! client's ids cannot even be probed).
//!
//! Routes behind [`require_token`] are refused with 401 before anything else
//! runs; the check leaves the [`Caller`] in the request, where the rate limit,
//! the idempotency layer and the handlers find it.
//!
//! This module decides nothing about what an endpoint does; it only says who
//! the caller is and what the caller may do.

use axum::Router;
use axum::extract::{FromRequestParts, Request, State};
use axum::http::StatusCode;
use axum::http::request::Parts;
use axum::middleware::{Next, from_fn_with_state};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use sha2::{Digest, Sha256};

use super::{AppState, Problem, internal};
use crate::store::{Store, StoreError};

/// A token's role.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Role {
    /// Everything, every client.
    Admin,
    /// Scenarios: upload and read; cases read-only.
    Author,
    /// Day-to-day work on cases: ledger, disputes, promises, operator actions.
    Operator,
    /// Reads cases and scenarios, no personal data, changes nothing.
    Viewer,
    /// A partner system: posts events for its clients' cases.
    Partner,
}

/// Every role, in the order the CLI and the docs list them.
pub const ROLES: [Role; 5] = [
    Role::Admin,
    Role::Author,
    Role::Operator,
    Role::Viewer,
    Role::Partner,
];

/// What an endpoint needs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Permission {
    /// Cases, instances and their journals, without personal data.
    ReadCases,
    /// A debtor's personal data (name, contacts, address); every read is audited.
    ReadPersonal,
    /// Clients' debtors, invoices, credit notes, payments, disputes, promises.
    WriteLedger,
    /// Operator actions on an instance: pause, resume, skip, retry, close, migrate.
    Operate,
    ReadScenarios,
    WriteScenarios,
    /// Clients themselves (create, update).
    ManageClients,
    /// Events from partner systems (`POST /api/v1/events`).
    PostEvents,
    /// The audit log.
    ReadAudit,
}

impl Role {
    pub fn name(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::Author => "author",
            Role::Operator => "operator",
            Role::Viewer => "viewer",
            Role::Partner => "partner",
        }
    }

    /// The role a name spells (`scenario_author` is accepted for `author`).
    pub fn parse(name: &str) -> Option<Role> {
        match name {
            "admin" => Some(Role::Admin),
            "author" | "scenario_author" | "scenario-author" => Some(Role::Author),
            "operator" => Some(Role::Operator),
            "viewer" => Some(Role::Viewer),
            "partner" => Some(Role::Partner),
            _ => None,
        }
    }

    /// The role × permission table.
    pub fn allows(self, permission: Permission) -> bool {
        use Permission::*;
        match self {
            Role::Admin => true,
            Role::Author => matches!(permission, ReadCases | ReadScenarios | WriteScenarios),
            Role::Operator => matches!(
                permission,
                ReadCases | ReadPersonal | WriteLedger | Operate | ReadScenarios | PostEvents
            ),
            Role::Viewer => matches!(permission, ReadCases | ReadScenarios),
            Role::Partner => matches!(permission, PostEvents),
        }
    }
}

/// The clients a token reaches.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Scope {
    All,
    Clients(Vec<String>),
}

impl Scope {
    /// From the stored JSON array (`["*"]` for all).
    pub fn from_json(text: &str) -> Option<Scope> {
        let ids: Vec<String> = serde_json::from_str(text).ok()?;
        if ids.iter().any(|id| id == "*") {
            Some(Scope::All)
        } else {
            Some(Scope::Clients(ids))
        }
    }

    pub fn to_json(&self) -> String {
        match self {
            Scope::All => r#"["*"]"#.to_string(),
            Scope::Clients(ids) => serde_json::to_string(ids).unwrap_or_else(|_| "[]".into()),
        }
    }

    pub fn contains(&self, client_id: &str) -> bool {
        match self {
            Scope::All => true,
            Scope::Clients(ids) => ids.iter().any(|id| id == client_id),
        }
    }
}

/// The authenticated caller of a request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Caller {
    pub token_id: String,
    pub role: Role,
    pub scope: Scope,
}

impl Caller {
    /// 403 unless the role has `permission`.
    pub fn require(&self, permission: Permission) -> Result<(), Problem> {
        if self.role.allows(permission) {
            Ok(())
        } else {
            Err(Problem::new(
                StatusCode::FORBIDDEN,
                "forbidden",
                format!(
                    "a {} token may not do this ({permission:?})",
                    self.role.name()
                ),
            ))
        }
    }

    /// 404 unless the token reaches `client_id`: another client's resources
    /// do not exist for it. `what` names the resource for the message.
    pub fn reach(&self, client_id: &str, what: &str) -> Result<(), Problem> {
        if self.scope.contains(client_id) {
            Ok(())
        } else {
            Err(Problem::new(
                StatusCode::NOT_FOUND,
                "not_found",
                format!("no {what} here"),
            ))
        }
    }

    /// Whether the token reaches `client_id` (for filtering lists).
    pub fn sees(&self, client_id: &str) -> bool {
        self.scope.contains(client_id)
    }

    /// How the audit log names this caller.
    pub fn actor(&self) -> String {
        format!("token:{}", self.token_id)
    }
}

/// The hash a token is stored under: SHA-256, hex.
pub fn token_hash(token: &str) -> String {
    let digest = Sha256::digest(token.as_bytes());
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

/// A token created for a role and scope: its id and its secret text, which
/// is shown once and never stored.
#[derive(Clone, Debug)]
pub struct NewToken {
    pub id: String,
    pub secret: String,
}

/// Why a token could not be created.
#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    #[error("no randomness from the operating system: {0}")]
    Random(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Creates and stores a token; the secret is `rl_` and 32 random bytes.
pub async fn create_token(
    store: &Store,
    role: Role,
    scope: &Scope,
    label: &str,
    now: i64,
) -> Result<NewToken, TokenError> {
    let mut id_bytes = [0u8; 6];
    let mut secret_bytes = [0u8; 32];
    getrandom::fill(&mut id_bytes).map_err(|e| TokenError::Random(e.to_string()))?;
    getrandom::fill(&mut secret_bytes).map_err(|e| TokenError::Random(e.to_string()))?;
    let id = format!(
        "tok_{}",
        id_bytes
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect::<String>()
    );
    let secret = format!("rl_{}", URL_SAFE_NO_PAD.encode(secret_bytes));
    store
        .create_token(
            &id,
            &token_hash(&secret),
            role.name(),
            &scope.to_json(),
            label,
            now,
        )
        .await?;
    Ok(NewToken { id, secret })
}

fn unauthorized(detail: &str) -> Problem {
    Problem::new(StatusCode::UNAUTHORIZED, "unauthorized", detail)
}

/// Who sends a request with these headers: 401 without a live token.
pub async fn authenticate(
    store: &Store,
    headers: &axum::http::HeaderMap,
) -> Result<Caller, Problem> {
    let header = headers
        .get(axum::http::header::AUTHORIZATION)
        .ok_or_else(|| unauthorized("an `Authorization: Bearer <token>` header is needed"))?;
    let token = header
        .to_str()
        .ok()
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .ok_or_else(|| unauthorized("the Authorization header must be `Bearer <token>`"))?;
    let row = store
        .token_by_hash(&token_hash(token))
        .await
        .map_err(internal)?
        .filter(|row| row.revoked_at.is_none())
        .ok_or_else(|| unauthorized("unknown or revoked token"))?;
    let role = Role::parse(&row.role).ok_or_else(|| internal("stored token has no known role"))?;
    let scope =
        Scope::from_json(&row.clients).ok_or_else(|| internal("stored token has a bad scope"))?;
    Ok(Caller {
        token_id: row.id,
        role,
        scope,
    })
}

impl FromRequestParts<AppState> for Caller {
    type Rejection = Problem;

    /// The caller [`require_token`] found, or the token check itself on a
    /// route outside it.
    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Problem> {
        if let Some(caller) = parts.extensions.get::<Caller>() {
            return Ok(caller.clone());
        }
        authenticate(&state.store, &parts.headers).await
    }
}

async fn check_token(State(state): State<AppState>, mut request: Request, next: Next) -> Response {
    match authenticate(&state.store, request.headers()).await {
        Ok(caller) => {
            request.extensions_mut().insert(caller);
            next.run(request).await
        }
        Err(problem) => problem.into_response(),
    }
}

/// Every route of `routes` needs a live token: the check runs before the
/// layers added earlier and before the handler.
pub fn require_token(routes: Router<AppState>, state: &AppState) -> Router<AppState> {
    routes.route_layer(from_fn_with_state(state.clone(), check_token))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles_round_trip_through_their_names() {
        for role in ROLES {
            assert_eq!(Role::parse(role.name()), Some(role));
        }
        assert_eq!(Role::parse("root"), None);
    }

    #[test]
    fn only_admin_manages_clients_and_a_viewer_changes_nothing() {
        for role in ROLES {
            assert_eq!(role.allows(Permission::ManageClients), role == Role::Admin);
        }
        for p in [
            Permission::WriteLedger,
            Permission::Operate,
            Permission::WriteScenarios,
            Permission::PostEvents,
            Permission::ReadPersonal,
        ] {
            assert!(!Role::Viewer.allows(p), "{p:?}");
        }
    }

    #[test]
    fn a_scope_reaches_only_its_clients() {
        let scope = Scope::from_json(r#"["acme"]"#).unwrap();
        assert!(scope.contains("acme"));
        assert!(!scope.contains("globex"));
        assert_eq!(Scope::from_json(r#"["*"]"#), Some(Scope::All));
        assert_eq!(Scope::from_json(&scope.to_json()), Some(scope));
        assert_eq!(Scope::from_json("acme"), None);
    }

    #[test]
    fn the_stored_hash_is_not_the_token() {
        let hash = token_hash("rl_secret");
        assert_eq!(hash.len(), 64);
        assert!(!hash.contains("secret"));
        assert_eq!(hash, token_hash("rl_secret"));
    }
}
