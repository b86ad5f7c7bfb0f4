//! Writing one SQL text for both databases: `?` placeholders become `$n`
//! on PostgreSQL, and set-based statements are built for any row count.

use sea_orm::{DbBackend, Statement, Value};

pub(super) struct Sql {
    backend: DbBackend,
}

impl Sql {
    pub(super) fn new(backend: DbBackend) -> Self {
        Sql { backend }
    }

    /// A statement from SQL written with `?` placeholders.
    pub(super) fn stmt(&self, sql: &str, values: Vec<Value>) -> Statement {
        let text = match self.backend {
            DbBackend::Postgres => numbered(sql),
            _ => sql.to_string(),
        };
        Statement::from_sql_and_values(self.backend, text, values)
    }

    /// `WITH name(cols…) AS (VALUES (…), …)` for `rows` rows; on PostgreSQL
    /// each placeholder is cast to its column's type, since a `VALUES` list
    /// gives the planner nothing else to go by.
    pub(super) fn values_cte(
        &self,
        name: &str,
        cols: &[&str],
        rows: usize,
        types: &[&str],
    ) -> String {
        let row = match self.backend {
            DbBackend::Postgres => format!(
                "({})",
                types
                    .iter()
                    .map(|t| format!("CAST(? AS {t})"))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            _ => format!("({})", marks(cols.len())),
        };
        let rows_text = vec![row; rows].join(", ");
        format!("WITH {name}({}) AS (VALUES {rows_text})", cols.join(", "))
    }
}

/// `?, ?, ?` for `n` values.
pub(super) fn marks(n: usize) -> String {
    vec!["?"; n].join(", ")
}

/// `(?, ?), (?, ?)` for `rows` rows of `cols` values.
pub(super) fn tuples(rows: usize, cols: usize) -> String {
    let one = format!("({})", marks(cols));
    vec![one; rows].join(", ")
}

fn numbered(sql: &str) -> String {
    let mut out = String::with_capacity(sql.len() + 16);
    let mut n = 0;
    let mut quoted = false;
    for c in sql.chars() {
        match c {
            '\'' => {
                quoted = !quoted;
                out.push(c);
            }
            '?' if !quoted => {
                n += 1;
                out.push('$');
                out.push_str(&n.to_string());
            }
            _ => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_are_numbered_for_postgres_outside_quotes() {
        assert_eq!(
            numbered("a = ? AND b = '?' AND c IN (?, ?)"),
            "a = $1 AND b = '?' AND c IN ($2, $3)"
        );
        assert_eq!(tuples(2, 3), "(?, ?, ?), (?, ?, ?)");
    }
}
