//! The audit log seen from the API: who changed what, and who read a
//! debtor's personal data, with `GET /api/v1/audit` to read it back.
//!
//! Handlers call [`audit`] after a change and [`audit_read`] when they
//! answer with personal data. The log is append-only: there is no endpoint,
//! store method or command that changes or deletes a line, and the database
//! refuses it too. A line names the caller (`token:<id>`), an action, a
//! subject and a detail; the detail says *what* was read or changed, never
//! the personal data itself.

use axum::Json;
use axum::extract::{Query, State};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, SecondsFormat, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::auth::{Caller, Permission};
use super::limits::{invalid_page, page_limit};
use super::v1::ProblemBody;
use super::{AppState, Problem, internal};
use crate::store::Store;

/// The action of a personal-data read.
pub const READ_PERSONAL: &str = "personal.read";

/// Appends one line to the audit log for `caller`. `now` is Unix
/// milliseconds. A failure is a 500 problem: a change whose audit line is
/// lost is not reported as a success.
pub async fn audit(
    store: &Store,
    caller: &Caller,
    action: &str,
    subject: &str,
    detail: &str,
    now: i64,
) -> Result<(), Problem> {
    store
        .audit(&caller.actor(), action, subject, detail, now)
        .await
        .map_err(internal)
}

/// Appends the line for a read of personal data: `subject` is whose data
/// (`debtor:acme/D-1001`), `what` which of it (`contacts`, `address`).
pub async fn audit_read(
    store: &Store,
    caller: &Caller,
    subject: &str,
    what: &str,
    now: i64,
) -> Result<(), Problem> {
    audit(store, caller, READ_PERSONAL, subject, what, now).await
}

/// Which audit lines to list.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(super) struct AuditQuery {
    /// The id of the line the page starts after (default: from the first).
    #[param(value_type = Option<u64>)]
    after: Option<String>,
    /// `next` of the previous page; the same as `after`.
    #[param(value_type = Option<u64>)]
    cursor: Option<String>,
    /// At most this many lines (1 to 500, default 50).
    #[param(value_type = Option<u64>, minimum = 1, maximum = 500)]
    limit: Option<String>,
    /// Only the lines about this subject (`case:…`, `debtor:acme/D-1001`).
    subject: Option<String>,
}

/// One line of the audit log.
#[derive(Debug, Serialize, ToSchema)]
pub(super) struct AuditLine {
    id: i64,
    /// When it was written (RFC 3339, UTC).
    #[schema(format = DateTime)]
    at: Option<String>,
    /// Who: `token:<id>`, or `cli`.
    actor: String,
    /// What was done (`client.create`, `personal.read`, `event.record`…).
    action: String,
    /// What it was done to (`client:acme`, `debtor:acme/D-1001`).
    subject: String,
    /// What was read or changed, never the personal data itself.
    detail: String,
}

/// A page of the audit log, oldest first.
#[derive(Debug, Serialize, ToSchema)]
pub(super) struct AuditPage {
    items: Vec<AuditLine>,
    /// The `cursor` of the next page, when this one was full.
    next: Option<String>,
}

/// `GET /api/v1/audit?after=ID&limit=N&subject=S`: lines oldest first, after
/// the line `after` (or `cursor`, the `next` of the previous page).
#[utoipa::path(get, path = "/api/v1/audit", tag = "audit",
    operation_id = "list_audit",
    summary = "Read the audit log",
    description = "Needs an admin token. Lines come oldest first; \
                   pass `next` as `cursor` for the next page.",
    params(AuditQuery),
    responses(
        (status = 200, body = AuditPage),
        (status = 400, body = ProblemBody, content_type = "application/problem+json"),
        (status = 401, body = ProblemBody, content_type = "application/problem+json"),
        (status = 403, body = ProblemBody, content_type = "application/problem+json"),
        (status = 429, body = ProblemBody, content_type = "application/problem+json"),
    ))]
pub(super) async fn list(
    State(state): State<AppState>,
    caller: Caller,
    query: Result<Query<AuditQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Response, Problem> {
    caller.require(Permission::ReadAudit)?;
    let Query(query) = query.map_err(|e| invalid_page(e.body_text()))?;
    let limit = page_limit(query.limit.as_deref())?;
    let after = match query.after.as_deref().or(query.cursor.as_deref()) {
        None | Some("") => 0,
        Some(text) => text
            .parse::<i64>()
            .ok()
            .filter(|n| *n >= 0)
            .ok_or_else(|| invalid_page(format!("after `{text}` is not an audit line id")))?,
    };
    let rows = state
        .store
        .audit_log(after, limit, query.subject.as_deref())
        .await
        .map_err(internal)?;
    let next = if rows.len() as u64 == limit {
        rows.last().map(|r| r.id.to_string())
    } else {
        None
    };
    let items = rows
        .into_iter()
        .map(|r| AuditLine {
            id: r.id,
            at: DateTime::<Utc>::from_timestamp_millis(r.at)
                .map(|t| t.to_rfc3339_opts(SecondsFormat::Millis, true)),
            actor: r.actor,
            action: r.action,
            subject: r.subject,
            detail: r.detail,
        })
        .collect();
    Ok(Json(AuditPage { items, next }).into_response())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::auth::{Role, Scope};
    use crate::store::Synchronous;

    #[tokio::test]
    async fn audit_lines_name_the_token_and_come_back_in_order() {
        let store = Store::open("sqlite::memory:", Synchronous::Full)
            .await
            .unwrap();
        store.migrate().await.unwrap();
        let caller = Caller {
            token_id: "tok_1".into(),
            role: Role::Operator,
            scope: Scope::All,
        };
        audit(
            &store,
            &caller,
            "event.record",
            "case:c1",
            "payment.received",
            5,
        )
        .await
        .unwrap();
        audit_read(&store, &caller, "debtor:acme/D-1", "contacts", 6)
            .await
            .unwrap();
        let rows = store.audit_log(0, 10, None).await.unwrap();
        assert_eq!(rows.len(), 2);
        assert_eq!(rows[0].actor, "token:tok_1");
        assert_eq!(rows[1].action, READ_PERSONAL);
        assert_eq!(rows[1].detail, "contacts");
        let only = store
            .audit_log(0, 10, Some("debtor:acme/D-1"))
            .await
            .unwrap();
        assert_eq!(only.len(), 1);
        assert_eq!(
            store.audit_log(rows[0].id, 10, None).await.unwrap().len(),
            1
        );
    }

    #[tokio::test]
    async fn the_database_refuses_to_change_or_delete_an_audit_line() {
        use sea_orm::ConnectionTrait;
        let store = Store::open("sqlite::memory:", Synchronous::Full)
            .await
            .unwrap();
        store.migrate().await.unwrap();
        store
            .audit("cli", "token.create", "token:t", "", 1)
            .await
            .unwrap();
        let db = store.connection();
        assert!(
            db.execute_unprepared("UPDATE audit_log SET actor = 'someone else'")
                .await
                .is_err()
        );
        assert!(
            db.execute_unprepared("DELETE FROM audit_log")
                .await
                .is_err()
        );
        assert_eq!(store.audit_log(0, 10, None).await.unwrap()[0].actor, "cli");
    }
}
