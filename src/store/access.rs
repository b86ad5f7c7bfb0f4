//! API tokens and the audit log.
//!
//! Tokens are stored as the SHA-256 of their text, never the text itself;
//! the audit log is append-only: this module has no statement that updates
//! or deletes an audit row.

use sea_orm::ConnectionTrait;

use super::{Result, Store};

/// A stored API token (without its secret, which is never kept).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TokenRow {
    pub id: String,
    pub role: String,
    /// The clients it reaches, as a JSON array of ids; `["*"]` for all.
    pub clients: String,
    pub label: String,
    pub created_at: i64,
    pub revoked_at: Option<i64>,
}

/// One line of the audit log.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AuditRow {
    pub id: i64,
    pub at: i64,
    pub actor: String,
    pub action: String,
    pub subject: String,
    pub detail: String,
}

impl Store {
    /// Stores a new token under the hash of its secret.
    pub async fn create_token(
        &self,
        id: &str,
        hash: &str,
        role: &str,
        clients: &str,
        label: &str,
        now: i64,
    ) -> Result<()> {
        let s = self.sql();
        self.connection()
            .execute_raw(s.stmt(
                "INSERT INTO api_tokens (id, hash, role, clients, label, created_at) VALUES (?, ?, ?, ?, ?, ?)",
                vec![id.into(), hash.into(), role.into(), clients.into(), label.into(), now.into()],
            ))
            .await?;
        Ok(())
    }

    /// The token whose secret hashes to `hash`, revoked or not.
    pub async fn token_by_hash(&self, hash: &str) -> Result<Option<TokenRow>> {
        let s = self.sql();
        let row = self
            .connection()
            .query_one_raw(s.stmt(
                "SELECT id, role, clients, label, created_at, revoked_at FROM api_tokens WHERE hash = ?",
                vec![hash.into()],
            ))
            .await?;
        let Some(r) = row else { return Ok(None) };
        Ok(Some(TokenRow {
            id: r.try_get_by_index(0)?,
            role: r.try_get_by_index(1)?,
            clients: r.try_get_by_index(2)?,
            label: r.try_get_by_index(3)?,
            created_at: r.try_get_by_index(4)?,
            revoked_at: r.try_get_by_index(5)?,
        }))
    }

    /// Appends one line to the audit log.
    pub async fn audit(
        &self,
        actor: &str,
        action: &str,
        subject: &str,
        detail: &str,
        now: i64,
    ) -> Result<()> {
        let s = self.sql();
        self.connection()
            .execute_raw(s.stmt(
                "INSERT INTO audit_log (at, actor, action, subject, detail) VALUES (?, ?, ?, ?, ?)",
                vec![
                    now.into(),
                    actor.into(),
                    action.into(),
                    subject.into(),
                    detail.into(),
                ],
            ))
            .await?;
        Ok(())
    }

    /// The audit log, oldest first, from after `after_id`, at most `limit` lines.
    pub async fn audit_log(&self, after_id: i64, limit: u64) -> Result<Vec<AuditRow>> {
        let s = self.sql();
        let rows = self
            .connection()
            .query_all_raw(s.stmt(
                "SELECT id, at, actor, action, subject, detail FROM audit_log WHERE id > ? ORDER BY id LIMIT ?",
                vec![after_id.into(), (limit as i64).into()],
            ))
            .await?;
        rows.iter()
            .map(|r| {
                Ok(AuditRow {
                    id: r.try_get_by_index(0)?,
                    at: r.try_get_by_index(1)?,
                    actor: r.try_get_by_index(2)?,
                    action: r.try_get_by_index(3)?,
                    subject: r.try_get_by_index(4)?,
                    detail: r.try_get_by_index(5)?,
                })
            })
            .collect()
    }
}
