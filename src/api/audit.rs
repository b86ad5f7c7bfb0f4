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
use serde::Deserialize;
use serde_json::json;

use super::auth::{Caller, Permission};
use super::limits::{invalid_page, page_limit};
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

#[derive(Debug, Deserialize)]
pub(super) struct AuditQuery {
    after: Option<String>,
    cursor: Option<String>,
    limit: Option<String>,
    subject: Option<String>,
}

/// `GET /api/v1/audit?after=ID&limit=N&subject=S`: lines oldest first, after
/// the line `after` (or `cursor`, the `next` of the previous page).
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
    let items: Vec<_> = rows
        .iter()
        .map(|r| {
            json!({
                "id": r.id,
                "at": DateTime::<Utc>::from_timestamp_millis(r.at)
                    .map(|t| t.to_rfc3339_opts(SecondsFormat::Millis, true)),
                "actor": r.actor,
                "action": r.action,
                "subject": r.subject,
                "detail": r.detail,
            })
        })
        .collect();
    Ok(Json(json!({ "items": items, "next": next })).into_response())
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
