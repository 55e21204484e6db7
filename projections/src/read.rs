//! Reading read models: rows come back as JSON objects (one SQL text per backend generated
//! from the table) and lists page with keyset cursors, newest first or by key.

use chrono::{DateTime, Utc};
use eventlog::{sqlite_time, EventLog, StorageError};
use serde::{de::DeserializeOwned, Serialize};

use crate::table::{Backend, Kind, Table};

/// A page of a list.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct Page<T> {
    /// In the list's order: newest first, or by key where the list says so.
    pub items: Vec<T>,
    /// Pass back to get the next page; none on the last page.
    pub next_cursor: Option<String>,
}

/// Why a query failed.
#[derive(Debug, thiserror::Error)]
pub enum QueryError {
    /// The cursor is not one this list gave out.
    #[error("invalid cursor")]
    InvalidCursor,
    /// The database failed.
    #[error(transparent)]
    Storage(#[from] StorageError),
}

pub(crate) use eventlog::Param;

/// The rows `sql` (selecting one JSON text column) answers with `params` bound in order.
pub(crate) async fn rows<T: DeserializeOwned>(
    log: &EventLog,
    sql: &str,
    params: &[Param],
) -> Result<Vec<T>, StorageError> {
    eventlog::json_rows(log, sql, params, "reading a read model").await
}

/// The rows of `table` whose `column` equals `value`, ordered by `order`.
pub(crate) async fn rows_where<T: DeserializeOwned>(
    log: &EventLog,
    table: &Table,
    column: &str,
    value: &str,
    order: &str,
) -> Result<Vec<T>, StorageError> {
    let sql = format!(
        "SELECT {} FROM {} t WHERE {column} = $1 ORDER BY {order}",
        table.json_row(log.backend()),
        table.name
    );
    rows(log, &sql, &[Param::Text(value.to_owned())]).await
}

/// A filtered list of one table, paged by keyset cursors over the columns it is ordered by:
/// newest first by a time column then an id column, or by the table's key.
#[derive(Debug)]
pub(crate) struct List<'a> {
    table: &'a Table,
    /// The columns it is ordered by, together unique.
    order: Vec<&'static str>,
    descending: bool,
    /// Whether its text is compared by bytes on both backends (PostgreSQL's `C` collation,
    /// SQLite's default), so that a list by key pages the same on either whatever the
    /// database's locale. The newest-first lists break ties by UUIDs, which every collation
    /// orders alike, and keep to their `(time, id)` indexes.
    bytewise: bool,
    conditions: Vec<Condition>,
    params: Vec<Param>,
}

/// A condition on the rows, rendered for the backend when the list is read.
#[derive(Debug)]
enum Condition {
    /// `column op $n`.
    Compare {
        column: &'static str,
        op: &'static str,
        n: usize,
    },
    /// A boolean column is true, or false.
    Flag { column: &'static str, value: bool },
    /// The rows after the cursor, whose values are `$n` onwards.
    After { n: usize },
}

impl<'a> List<'a> {
    /// The rows of `table`, newest first: by `time` then `id`, descending.
    pub fn new(table: &'a Table, time: &'static str, id: &'static str) -> Self {
        Self::ordered(table, vec![time, id], true, false)
    }

    /// The rows of `table` by its key, ascending.
    pub fn by_key(table: &'a Table) -> Self {
        Self::ordered(table, table.key.to_vec(), false, true)
    }

    fn ordered(
        table: &'a Table,
        order: Vec<&'static str>,
        descending: bool,
        bytewise: bool,
    ) -> Self {
        Self {
            table,
            order,
            descending,
            bytewise,
            conditions: Vec::new(),
            params: Vec::new(),
        }
    }

    fn compare(mut self, column: &'static str, op: &'static str, value: Option<Param>) -> Self {
        if let Some(value) = value {
            self.params.push(value);
            let n = self.params.len();
            self.conditions.push(Condition::Compare { column, op, n });
        }
        self
    }

    /// Only rows whose `column` equals `value`, if given.
    pub fn equal(self, column: &'static str, value: Option<&String>) -> Self {
        self.compare(column, "=", value.cloned().map(Param::Text))
    }

    /// Only rows whose time `column` is at or after `from`, if given.
    pub fn since(self, column: &'static str, from: Option<DateTime<Utc>>) -> Self {
        self.compare(column, ">=", from.map(Param::Time))
    }

    /// Only rows whose time `column` is before `to`, if given.
    pub fn before(self, column: &'static str, to: Option<DateTime<Utc>>) -> Self {
        self.compare(column, "<", to.map(Param::Time))
    }

    /// Only rows whose text `column` sorts at or after `from`, if given.
    pub fn from(self, column: &'static str, from: Option<String>) -> Self {
        self.compare(column, ">=", from.map(Param::Text))
    }

    /// Only rows whose text `column` sorts at or before `to`, if given.
    pub fn through(self, column: &'static str, to: Option<String>) -> Self {
        self.compare(column, "<=", to.map(Param::Text))
    }

    /// Only rows whose boolean `column` is `value`, if given.
    pub fn flag(mut self, column: &'static str, value: Option<bool>) -> Self {
        if let Some(value) = value {
            self.conditions.push(Condition::Flag { column, value });
        }
        self
    }

    fn kind(&self, column: &str) -> Option<Kind> {
        self.table
            .columns
            .iter()
            .find(|c| c.name == column)
            .map(|c| c.kind)
    }

    /// `column` as compared and ordered.
    fn ordered_by(&self, column: &str, backend: Backend) -> String {
        match (self.kind(column), backend) {
            (Some(Kind::Text), Backend::Postgres) if self.bytewise => {
                format!("{column} COLLATE \"C\"")
            }
            _ => column.to_owned(),
        }
    }

    fn render(&self, condition: &Condition, backend: Backend) -> String {
        match condition {
            // Equality needs no collation (and keeps the indexes usable).
            Condition::Compare { column, op: "=", n } => format!("{column} = ${n}"),
            Condition::Compare { column, op, n } => {
                format!("{} {op} ${n}", self.ordered_by(column, backend))
            }
            Condition::Flag {
                column,
                value: true,
            } => (*column).to_owned(),
            Condition::Flag {
                column,
                value: false,
            } => format!("NOT {column}"),
            Condition::After { n } => {
                let columns: Vec<String> = self
                    .order
                    .iter()
                    .map(|c| self.ordered_by(c, backend))
                    .collect();
                let values: Vec<String> = (0..self.order.len())
                    .map(|i| format!("${}", n + i))
                    .collect();
                let op = if self.descending { "<" } else { ">" };
                format!("({}) {op} ({})", columns.join(", "), values.join(", "))
            }
        }
    }

    /// At most `limit` (1 to 200) rows after `cursor`, in the list's order.
    pub async fn page<T: DeserializeOwned>(
        mut self,
        log: &EventLog,
        cursor: Option<&str>,
        limit: u32,
    ) -> Result<Page<T>, QueryError> {
        let limit = limit.clamp(1, 200);
        let backend = log.backend();
        if let Some(cursor) = cursor {
            let values = self.parse_cursor(cursor)?;
            let n = self.params.len() + 1;
            self.params.extend(values);
            self.conditions.push(Condition::After { n });
        }
        let filter = if self.conditions.is_empty() {
            String::new()
        } else {
            let conditions: Vec<String> = self
                .conditions
                .iter()
                .map(|c| self.render(c, backend))
                .collect();
            format!("WHERE {}", conditions.join(" AND "))
        };
        let direction = if self.descending { "DESC" } else { "ASC" };
        let order: Vec<String> = self
            .order
            .iter()
            .map(|c| format!("{} {direction}", self.ordered_by(c, backend)))
            .collect();
        let sql = format!(
            "SELECT {} FROM {} t {filter} ORDER BY {} LIMIT {limit}",
            self.table.json_row(backend),
            self.table.name,
            order.join(", ")
        );
        let found: Vec<serde_json::Value> = rows(log, &sql, &self.params).await?;
        let next_cursor = match found.last() {
            Some(last) if found.len() == limit as usize => Some(self.cursor_of(last)?),
            _ => None,
        };
        let items = found
            .into_iter()
            .map(serde_json::from_value)
            .collect::<Result<_, _>>()
            .map_err(|e| unreadable(Box::new(e)))?;
        Ok(Page { items, next_cursor })
    }

    /// The cursor after `row`: its values of the order columns (times in one fixed form).
    fn cursor_of(&self, row: &serde_json::Value) -> Result<String, StorageError> {
        let mut values = Vec::with_capacity(self.order.len());
        for column in &self.order {
            let value = &row[*column];
            let text = match (self.kind(column), value) {
                (Some(Kind::Time), serde_json::Value::String(at)) => {
                    DateTime::parse_from_rfc3339(at)
                        .map(|at| sqlite_time(at.with_timezone(&Utc)))
                        .map_err(|e| unreadable(Box::new(e)))?
                }
                (_, serde_json::Value::String(text)) => text.clone(),
                (_, serde_json::Value::Number(n)) => n.to_string(),
                _ => {
                    return Err(unreadable(
                        format!("no value of {column} to page by").into(),
                    ))
                }
            };
            values.push(escape(&text));
        }
        Ok(values.join("~"))
    }

    /// The values a cursor holds, one per order column, as the column's kind binds.
    fn parse_cursor(&self, cursor: &str) -> Result<Vec<Param>, QueryError> {
        let parts: Vec<&str> = cursor.split('~').collect();
        if parts.len() != self.order.len() {
            return Err(QueryError::InvalidCursor);
        }
        parts
            .into_iter()
            .zip(&self.order)
            .map(|(part, column)| {
                let text = unescape(part).ok_or(QueryError::InvalidCursor)?;
                Ok(match self.kind(column) {
                    Some(Kind::Time) => DateTime::parse_from_rfc3339(&text)
                        .map(|at| Param::Time(at.with_timezone(&Utc)))
                        .map_err(|_| QueryError::InvalidCursor)?,
                    Some(Kind::Int) => text
                        .parse()
                        .map(Param::Int)
                        .map_err(|_| QueryError::InvalidCursor)?,
                    _ => Param::Text(text),
                })
            })
            .collect()
    }
}

fn unreadable(source: Box<dyn std::error::Error + Send + Sync>) -> StorageError {
    StorageError::Database {
        context: "reading a read model",
        source: sqlx::Error::Decode(source),
    }
}

/// A value in a cursor: `%` and the separator `~` escaped, so that any text pages.
fn escape(value: &str) -> String {
    value.replace('%', "%25").replace('~', "%7E")
}

/// The value [`escape`] made; `None` for an escape it does not make.
fn unescape(part: &str) -> Option<String> {
    let mut out = String::with_capacity(part.len());
    let mut rest = part;
    while let Some(at) = rest.find('%') {
        out.push_str(&rest[..at]);
        let escaped = rest.get(at..at + 3)?;
        out.push(match escaped {
            "%25" => '%',
            "%7E" => '~',
            _ => return None,
        });
        rest = &rest[at + 3..];
    }
    out.push_str(rest);
    Some(out)
}
