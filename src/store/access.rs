//! API tokens, the audit log and the responses kept for idempotent retries.
//!
//! Tokens are stored as the SHA-256 of their text, never the text itself;
//! the audit log is append-only: this module has no statement that updates
//! or deletes an audit row (and the database refuses one, see migration 3).
//! It stores what the API decides; it decides nothing about HTTP.

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use sea_orm::{ConnectionTrait, QueryResult};

use super::{Result, Store, StoreError};

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

/// What [`Store::claim_idempotency_key`] found for a key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum KeyClaim {
    /// The key is new (or its old use expired): this request runs, and must
    /// end with [`Store::finish_idempotency_key`] or
    /// [`Store::release_idempotency_key`].
    Claimed,
    /// A request with this key is still running.
    InFlight,
    /// The key was used for another request (method, path or body).
    Mismatch,
    /// The key's request has answered: this is its answer.
    Done(StoredResponse),
}

/// A response kept for replays.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredResponse {
    pub status: u16,
    pub content_type: Option<String>,
    pub body: Vec<u8>,
}

/// One request as an idempotency key identifies it.
#[derive(Clone, Copy, Debug)]
pub struct KeyedRequest<'a> {
    pub token_id: &'a str,
    pub key: &'a str,
    pub method: &'a str,
    pub path: &'a str,
    pub body_hash: &'a str,
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

    /// Every token, oldest first (never their secrets: they are not kept).
    pub async fn tokens(&self) -> Result<Vec<TokenRow>> {
        let s = self.sql();
        let rows = self
            .connection()
            .query_all_raw(s.stmt(
                "SELECT id, role, clients, label, created_at, revoked_at FROM api_tokens ORDER BY created_at, id",
                vec![],
            ))
            .await?;
        rows.iter().map(token_row).collect()
    }

    /// Revokes a token from `now` on; false when no live token has that id
    /// (unknown, or revoked already: the first revocation time is kept).
    pub async fn revoke_token(&self, id: &str, now: i64) -> Result<bool> {
        let s = self.sql();
        let done = self
            .connection()
            .execute_raw(s.stmt(
                "UPDATE api_tokens SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL",
                vec![now.into(), id.into()],
            ))
            .await?;
        Ok(done.rows_affected() == 1)
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
        row.as_ref().map(token_row).transpose()
    }

    /// The client whose case an instance runs, for access checks.
    pub async fn instance_client(&self, instance_id: &str) -> Result<Option<String>> {
        let s = self.sql();
        let row = self
            .connection()
            .query_one_raw(s.stmt(
                "SELECT c.client_id FROM instances i JOIN cases c ON c.id = i.case_id WHERE i.id = ?",
                vec![instance_id.into()],
            ))
            .await?;
        row.map(|r| r.try_get_by_index(0))
            .transpose()
            .map_err(Into::into)
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

    /// The audit log, oldest first, from after `after_id`, at most `limit`
    /// lines; only lines about `subject` when one is given.
    pub async fn audit_log(
        &self,
        after_id: i64,
        limit: u64,
        subject: Option<&str>,
    ) -> Result<Vec<AuditRow>> {
        let s = self.sql();
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let statement = match subject {
            Some(subject) => s.stmt(
                "SELECT id, at, actor, action, subject, detail FROM audit_log WHERE subject = ? AND id > ? ORDER BY id LIMIT ?",
                vec![subject.into(), after_id.into(), limit.into()],
            ),
            None => s.stmt(
                "SELECT id, at, actor, action, subject, detail FROM audit_log WHERE id > ? ORDER BY id LIMIT ?",
                vec![after_id.into(), limit.into()],
            ),
        };
        let rows = self.connection().query_all_raw(statement).await?;
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

impl Store {
    /// Claims an idempotency key for a request, atomically: of two requests
    /// with one key, one claims it and the other sees it in flight. A use
    /// of the key older than `expired_before`, or a claim still running
    /// since before `stale_before` (its process died), is forgotten first.
    pub async fn claim_idempotency_key(
        &self,
        request: KeyedRequest<'_>,
        now: i64,
        expired_before: i64,
        stale_before: i64,
    ) -> Result<KeyClaim> {
        let s = self.sql();
        let db = self.connection();
        db.execute_raw(s.stmt(
            "DELETE FROM idempotency_keys WHERE token_id = ? AND idem_key = ? \
             AND (created_at < ? OR (status IS NULL AND created_at < ?))",
            vec![
                request.token_id.into(),
                request.key.into(),
                expired_before.into(),
                stale_before.into(),
            ],
        ))
        .await?;
        let inserted = db
            .execute_raw(s.stmt(
                "INSERT INTO idempotency_keys (token_id, idem_key, method, path, body_hash, created_at) \
                 VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (token_id, idem_key) DO NOTHING",
                vec![
                    request.token_id.into(),
                    request.key.into(),
                    request.method.into(),
                    request.path.into(),
                    request.body_hash.into(),
                    now.into(),
                ],
            ))
            .await?;
        if inserted.rows_affected() == 1 {
            return Ok(KeyClaim::Claimed);
        }

        let row = db
            .query_one_raw(s.stmt(
                "SELECT method, path, body_hash, status, content_type, body FROM idempotency_keys \
                 WHERE token_id = ? AND idem_key = ?",
                vec![request.token_id.into(), request.key.into()],
            ))
            .await?;
        // Released between the insert and this read: the caller may retry.
        let Some(r) = row else {
            return Ok(KeyClaim::InFlight);
        };
        let method: String = r.try_get_by_index(0)?;
        let path: String = r.try_get_by_index(1)?;
        let body_hash: String = r.try_get_by_index(2)?;
        if method != request.method || path != request.path || body_hash != request.body_hash {
            return Ok(KeyClaim::Mismatch);
        }
        let status: Option<i64> = r.try_get_by_index(3)?;
        let Some(status) = status else {
            return Ok(KeyClaim::InFlight);
        };
        let content_type: Option<String> = r.try_get_by_index(4)?;
        let body: Option<String> = r.try_get_by_index(5)?;
        let body = body
            .map(|b| BASE64.decode(b.as_bytes()))
            .transpose()
            .map_err(|e| StoreError::Corrupt {
                what: "idempotency_keys.body".into(),
                reason: e.to_string(),
            })?
            .unwrap_or_default();
        Ok(KeyClaim::Done(StoredResponse {
            status: u16::try_from(status).unwrap_or(500),
            content_type,
            body,
        }))
    }

    /// Keeps the answer of a claimed key's request, for its replays.
    pub async fn finish_idempotency_key(
        &self,
        token_id: &str,
        key: &str,
        response: &StoredResponse,
    ) -> Result<()> {
        let s = self.sql();
        self.connection()
            .execute_raw(s.stmt(
                "UPDATE idempotency_keys SET status = ?, content_type = ?, body = ? \
                 WHERE token_id = ? AND idem_key = ? AND status IS NULL",
                vec![
                    i64::from(response.status).into(),
                    response.content_type.clone().into(),
                    BASE64.encode(&response.body).into(),
                    token_id.into(),
                    key.into(),
                ],
            ))
            .await?;
        Ok(())
    }

    /// Forgets a claimed key whose request did not answer usefully (a 5xx,
    /// a dropped connection), so that the client can retry with it.
    pub async fn release_idempotency_key(&self, token_id: &str, key: &str) -> Result<()> {
        let s = self.sql();
        self.connection()
            .execute_raw(s.stmt(
                "DELETE FROM idempotency_keys WHERE token_id = ? AND idem_key = ? AND status IS NULL",
                vec![token_id.into(), key.into()],
            ))
            .await?;
        Ok(())
    }

    /// Forgets every key used before `before`: how many.
    pub async fn purge_idempotency_keys(&self, before: i64) -> Result<u64> {
        let s = self.sql();
        let done = self
            .connection()
            .execute_raw(s.stmt(
                "DELETE FROM idempotency_keys WHERE created_at < ?",
                vec![before.into()],
            ))
            .await?;
        Ok(done.rows_affected())
    }
}

fn token_row(r: &QueryResult) -> Result<TokenRow> {
    Ok(TokenRow {
        id: r.try_get_by_index(0)?,
        role: r.try_get_by_index(1)?,
        clients: r.try_get_by_index(2)?,
        label: r.try_get_by_index(3)?,
        created_at: r.try_get_by_index(4)?,
        revoked_at: r.try_get_by_index(5)?,
    })
}
