//! Reading read models: rows come back as JSON objects (one SQL text per backend generated
//! from the table) and lists page newest first with keyset cursors.

use chrono::{DateTime, Utc};
use eventlog::{sqlite_time, EventLog, StorageError};
use serde::{de::DeserializeOwned, Serialize};

use crate::table::Table;

/// A page of a list.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct Page<T> {
    /// Newest first.
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

/// A filtered list of one table, newest first by a time column then an id column.
#[derive(Debug)]
pub(crate) struct List<'a> {
    table: &'a Table,
    time: &'static str,
    id: &'static str,
    conditions: Vec<String>,
    params: Vec<Param>,
}

impl<'a> List<'a> {
    /// The rows of `table` by `time` then `id`, descending.
    pub fn new(table: &'a Table, time: &'static str, id: &'static str) -> Self {
        Self {
            table,
            time,
            id,
            conditions: Vec::new(),
            params: Vec::new(),
        }
    }

    fn with(mut self, condition: impl FnOnce(usize) -> String, param: Param) -> Self {
        self.params.push(param);
        self.conditions.push(condition(self.params.len()));
        self
    }

    /// Only rows whose `column` equals `value`, if given.
    pub fn equal(self, column: &'static str, value: Option<&String>) -> Self {
        match value {
            Some(value) => self.with(|n| format!("{column} = ${n}"), Param::Text(value.clone())),
            None => self,
        }
    }

    /// Only rows whose time column is at or after `from`, if given.
    pub fn since(self, from: Option<DateTime<Utc>>) -> Self {
        let time = self.time;
        match from {
            Some(at) => self.with(|n| format!("{time} >= ${n}"), Param::Time(at)),
            None => self,
        }
    }

    /// Only rows whose time column is before `to`, if given.
    pub fn before(self, to: Option<DateTime<Utc>>) -> Self {
        let time = self.time;
        match to {
            Some(at) => self.with(|n| format!("{time} < ${n}"), Param::Time(at)),
            None => self,
        }
    }

    /// At most `limit` (1 to 200) rows after `cursor`; `key` gives a row's time and id.
    pub async fn page<T: DeserializeOwned>(
        self,
        log: &EventLog,
        cursor: Option<&str>,
        limit: u32,
        key: impl Fn(&T) -> (DateTime<Utc>, String),
    ) -> Result<Page<T>, QueryError> {
        let limit = limit.clamp(1, 200);
        let mut list = self;
        if let Some(cursor) = cursor {
            let (at, id) = parse_cursor(cursor)?;
            let (time, id_column) = (list.time, list.id);
            list.params.push(Param::Time(at));
            list.params.push(Param::Text(id));
            let n = list.params.len();
            list.conditions
                .push(format!("({time}, {id_column}) < (${}, ${n})", n - 1));
        }
        let filter = if list.conditions.is_empty() {
            String::new()
        } else {
            format!("WHERE {}", list.conditions.join(" AND "))
        };
        let sql = format!(
            "SELECT {} FROM {} t {filter} ORDER BY {} DESC, {} DESC LIMIT {limit}",
            list.table.json_row(log.backend()),
            list.table.name,
            list.time,
            list.id
        );
        let items: Vec<T> = rows(log, &sql, &list.params).await?;
        let next_cursor = if items.len() == limit as usize {
            items.last().map(|last| {
                let (at, id) = key(last);
                format!("{}~{id}", sqlite_time(at))
            })
        } else {
            None
        };
        Ok(Page { items, next_cursor })
    }
}

fn parse_cursor(cursor: &str) -> Result<(DateTime<Utc>, String), QueryError> {
    let (at, id) = cursor.split_once('~').ok_or(QueryError::InvalidCursor)?;
    let at = DateTime::parse_from_rfc3339(at).map_err(|_| QueryError::InvalidCursor)?;
    Ok((at.with_timezone(&Utc), id.to_owned()))
}
