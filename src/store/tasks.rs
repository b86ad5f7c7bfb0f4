//! The operators' work queue: open tasks, and closing one with its outcome,
//! which becomes a `task.outcome` event for the case in the same transaction.

use sea_orm::{ConnectionTrait, TransactionTrait};

use super::{Result, Store};

/// A task waiting for, or done by, an operator.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TaskRow {
    pub id: i64,
    pub key: String,
    pub instance_id: String,
    pub kind: String,
    pub title: String,
    pub body: String,
    pub status: String,
    pub outcome: Option<String>,
    pub opened_at: i64,
}

impl Store {
    /// Puts a task in the queue; the same key twice is one task. Returns its id.
    pub async fn open_task(
        &self,
        key: &str,
        instance_id: &str,
        kind: &str,
        title: &str,
        body: &str,
        now: i64,
    ) -> Result<i64> {
        let s = self.sql();
        self.connection()
            .execute_raw(s.stmt(
                "INSERT INTO tasks (key, instance_id, kind, title, body, opened_at) VALUES (?, ?, ?, ?, ?, ?) \
                 ON CONFLICT (key) DO NOTHING",
                vec![key.into(), instance_id.into(), kind.into(), title.into(), body.into(), now.into()],
            ))
            .await?;
        let row = self
            .connection()
            .query_one_raw(s.stmt("SELECT id FROM tasks WHERE key = ?", vec![key.into()]))
            .await?;
        Ok(match row {
            Some(r) => r.try_get_by_index(0)?,
            None => 0,
        })
    }

    /// Tasks in a state (`open` or `done`), oldest first.
    pub async fn tasks(&self, status: &str, limit: u64) -> Result<Vec<TaskRow>> {
        let s = self.sql();
        let rows = self
            .connection()
            .query_all_raw(s.stmt(
                "SELECT id, key, instance_id, kind, title, body, status, outcome, opened_at FROM tasks \
                 WHERE status = ? ORDER BY id LIMIT ?",
                vec![status.into(), (limit as i64).into()],
            ))
            .await?;
        rows.iter()
            .map(|r| {
                Ok(TaskRow {
                    id: r.try_get_by_index(0)?,
                    key: r.try_get_by_index(1)?,
                    instance_id: r.try_get_by_index(2)?,
                    kind: r.try_get_by_index(3)?,
                    title: r.try_get_by_index(4)?,
                    body: r.try_get_by_index(5)?,
                    status: r.try_get_by_index(6)?,
                    outcome: r.try_get_by_index(7)?,
                    opened_at: r.try_get_by_index(8)?,
                })
            })
            .collect()
    }

    /// Closes an open task with its outcome and records the `task.outcome`
    /// event for its case, both in one transaction (the event's delivery id
    /// is the task's, so closing twice applies once). Returns the task's
    /// instance, or `None` when no open task has that id.
    pub async fn close_task(
        &self,
        id: i64,
        outcome: &str,
        note: Option<&str>,
        actor: &str,
        event_payload: impl Fn(&TaskRow) -> String,
        now: i64,
    ) -> Result<Option<String>> {
        let s = self.sql();
        let tx = self.connection().begin().await?;
        let row = tx
            .query_one_raw(s.stmt(
                "SELECT id, key, instance_id, kind, title, body, status, outcome, opened_at FROM tasks \
                 WHERE id = ? AND status = 'open'",
                vec![id.into()],
            ))
            .await?;
        let Some(r) = row else {
            return Ok(None);
        };
        let task = TaskRow {
            id: r.try_get_by_index(0)?,
            key: r.try_get_by_index(1)?,
            instance_id: r.try_get_by_index(2)?,
            kind: r.try_get_by_index(3)?,
            title: r.try_get_by_index(4)?,
            body: r.try_get_by_index(5)?,
            status: r.try_get_by_index(6)?,
            outcome: r.try_get_by_index(7)?,
            opened_at: r.try_get_by_index(8)?,
        };
        tx.execute_raw(s.stmt(
            "UPDATE tasks SET status = 'done', outcome = ?, note = ?, closed_at = ?, closed_by = ? WHERE id = ?",
            vec![outcome.into(), note.map(str::to_string).into(), now.into(), actor.into(), id.into()],
        ))
        .await?;
        tx.execute_raw(s.stmt(
            "INSERT INTO events (delivery_id, instance_id, type, payload, received_at) VALUES (?, ?, 'task.outcome', ?, ?) \
             ON CONFLICT (delivery_id) DO NOTHING",
            vec![format!("task-{id}").into(), task.instance_id.clone().into(), event_payload(&task).into(), now.into()],
        ))
        .await?;
        tx.execute_raw(s.stmt(
            "INSERT INTO audit_log (at, actor, action, subject, detail) VALUES (?, ?, 'task.close', ?, ?)",
            vec![now.into(), actor.into(), format!("task {id}").into(), outcome.into()],
        ))
        .await?;
        tx.commit().await?;
        Ok(Some(task.instance_id))
    }
}
