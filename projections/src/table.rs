//! A read-model table described once, in code: its DDL on both backends, its set-based writes
//! and its reads are all generated from the same column list, so the two backends cannot
//! drift apart and a rebuild can create the same table under another name.
//!
//! Rows travel as JSON on both backends: one statement writes a whole batch's rows
//! (`json_to_recordset` on PostgreSQL, `json_each` on SQLite), and reads come back as one
//! JSON object per row, which serde turns into the row type.

use std::fmt::Write as _;

use eventlog::{LogTransaction, StorageError};
use serde::Serialize;

use crate::model::Batch;

/// The suffix of a rebuild's shadow tables (ADR 0006).
pub(crate) const SHADOW: &str = "__rebuild";

// The backend a statement is generated for.
pub(crate) use eventlog::Backend;

/// What a column holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    Text,
    Int,
    /// `timestamptz` on PostgreSQL; fixed-width RFC 3339 text on SQLite (text order is time
    /// order).
    Time,
    /// `boolean` on PostgreSQL; 0 or 1 on SQLite; read back as JSON `true` or `false` on both.
    Bool,
}

impl Kind {
    fn sql_type(self, backend: Backend) -> &'static str {
        match (self, backend) {
            (Self::Text, Backend::Postgres) => "text",
            (Self::Int, Backend::Postgres) => "bigint",
            (Self::Time, Backend::Postgres) => "timestamptz",
            (Self::Bool, Backend::Postgres) => "boolean",
            (Self::Text | Self::Time, Backend::Sqlite) => "TEXT",
            (Self::Int | Self::Bool, Backend::Sqlite) => "INTEGER",
        }
    }
}

/// A column: its name, kind and whether it may be NULL.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Column {
    pub name: &'static str,
    pub kind: Kind,
    pub nullable: bool,
}

pub(crate) const fn col(name: &'static str, kind: Kind) -> Column {
    Column {
        name,
        kind,
        nullable: false,
    }
}

pub(crate) const fn nullable(name: &'static str, kind: Kind) -> Column {
    Column {
        name,
        kind,
        nullable: true,
    }
}

/// A read-model table.
#[derive(Debug)]
pub(crate) struct Table {
    pub name: &'static str,
    pub columns: &'static [Column],
    pub key: &'static [&'static str],
    /// Secondary indexes: a name suffix and the indexed expression list.
    pub indexes: &'static [(&'static str, &'static str)],
}

impl Table {
    /// The table's name with `suffix` (empty for the live table).
    pub fn named(&self, suffix: &str) -> String {
        format!("{}{suffix}", self.name)
    }

    fn column_list(&self) -> String {
        self.columns
            .iter()
            .map(|c| c.name)
            .collect::<Vec<_>>()
            .join(", ")
    }

    /// `CREATE TABLE` for the table under `suffix`, without secondary indexes.
    pub fn create(&self, backend: Backend, suffix: &str, if_not_exists: bool) -> String {
        let name = self.named(suffix);
        let mut sql = format!(
            "CREATE TABLE {}{name} (",
            if if_not_exists { "IF NOT EXISTS " } else { "" }
        );
        for column in self.columns {
            let null = if column.nullable { "" } else { " NOT NULL" };
            let _ = write!(
                sql,
                "{} {}{null}, ",
                column.name,
                column.kind.sql_type(backend)
            );
        }
        let _ = write!(
            sql,
            "CONSTRAINT {name}_pkey PRIMARY KEY ({}))",
            self.key.join(", ")
        );
        sql
    }

    /// `CREATE INDEX` statements for the live table.
    pub fn create_indexes(&self, if_not_exists: bool) -> Vec<String> {
        let exists = if if_not_exists { "IF NOT EXISTS " } else { "" };
        self.indexes
            .iter()
            .map(|(suffix, columns)| {
                format!(
                    "CREATE INDEX {exists}{0}_{suffix} ON {0} ({columns})",
                    self.name
                )
            })
            .collect()
    }

    /// A `SELECT` of the columns of JSON array parameter `$n`'s objects.
    fn select_json_rows(&self, backend: Backend, n: usize) -> String {
        match backend {
            Backend::Postgres => {
                let types = self
                    .columns
                    .iter()
                    .map(|c| format!("{} {}", c.name, c.kind.sql_type(backend)))
                    .collect::<Vec<_>>()
                    .join(", ");
                // `json`, not `jsonb`: the text is read once, without building a jsonb value
                // first (measured: 40 % less time for a batch of 5 000 rows).
                format!(
                    "SELECT {} FROM json_to_recordset(${n}::json) AS r({types})",
                    self.column_list()
                )
            }
            Backend::Sqlite => {
                let values = self
                    .columns
                    .iter()
                    .map(|c| format!("value ->> '$.{0}' AS {0}", c.name))
                    .collect::<Vec<_>>()
                    .join(", ");
                // `WHERE true` lets SQLite parse the upsert clause that may follow.
                format!("SELECT {values} FROM json_each(${n}) WHERE true")
            }
        }
    }

    /// Inserts the rows of JSON array `$1`, replacing rows with the same key.
    pub fn upsert(&self, backend: Backend, suffix: &str) -> String {
        let updates = self
            .columns
            .iter()
            .filter(|c| !self.key.contains(&c.name))
            .map(|c| format!("{0} = excluded.{0}", c.name))
            .collect::<Vec<_>>()
            .join(", ");
        format!(
            "INSERT INTO {} ({}) {} ON CONFLICT ({}) DO UPDATE SET {updates}",
            self.named(suffix),
            self.column_list(),
            self.select_json_rows(backend, 1),
            self.key.join(", ")
        )
    }

    /// Inserts the contributions of JSON array `$1` (one row per event, `position` its log
    /// position), summing every other non-key column per key into the stored row, except the
    /// contributions the row has already taken: those at or below its `position`. Contributions
    /// to a row come in log order, so a batch applied again (a checkpoint moved back) adds
    /// nothing twice.
    pub fn add_once(&self, backend: Backend, suffix: &str, position: &str) -> String {
        let name = self.named(suffix);
        let sums: Vec<&str> = self
            .columns
            .iter()
            .map(|c| c.name)
            .filter(|c| !self.key.contains(c) && *c != position)
            .collect();
        let keys = self
            .key
            .iter()
            .map(|k| format!("r.{k}"))
            .collect::<Vec<_>>();
        let select = keys
            .iter()
            .cloned()
            .chain(sums.iter().map(|c| format!("sum(r.{c})")))
            .chain([format!("max(r.{position})")])
            .collect::<Vec<_>>()
            .join(", ");
        let join = self
            .key
            .iter()
            .map(|k| format!("d.{k} = r.{k}"))
            .collect::<Vec<_>>()
            .join(" AND ");
        let updates = sums
            .iter()
            .map(|c| format!("{c} = {name}.{c} + excluded.{c}"))
            .chain([format!("{position} = excluded.{position}")])
            .collect::<Vec<_>>()
            .join(", ");
        let columns = self
            .key
            .iter()
            .copied()
            .chain(sums.iter().copied())
            .chain([position])
            .collect::<Vec<_>>()
            .join(", ");
        format!(
            "INSERT INTO {name} ({columns}) SELECT {select} FROM ({}) r \
             LEFT JOIN {name} d ON {join} \
             WHERE d.{position} IS NULL OR r.{position} > d.{position} \
             GROUP BY {} ON CONFLICT ({}) DO UPDATE SET {updates}",
            self.select_json_rows(backend, 1),
            keys.join(", "),
            self.key.join(", ")
        )
    }

    /// An expression of one row of alias `t` as a JSON object (text), for serde.
    pub fn json_row(&self, backend: Backend) -> String {
        match backend {
            Backend::Postgres => "to_jsonb(t)::text".to_owned(),
            Backend::Sqlite => {
                let pairs = self
                    .columns
                    .iter()
                    .map(|c| match c.kind {
                        // SQLite has no boolean: its 0 or 1 read back as JSON `false` or `true`.
                        Kind::Bool => format!(
                            "'{0}', json(CASE WHEN t.{0} IS NULL THEN 'null' \
                             WHEN t.{0} THEN 'true' ELSE 'false' END)",
                            c.name
                        ),
                        _ => format!("'{0}', t.{0}", c.name),
                    })
                    .collect::<Vec<_>>()
                    .join(", ");
                format!("json_object({pairs})")
            }
        }
    }

    /// Every row as JSON text in key order: what a digest of the table is taken over.
    pub fn dump(&self, backend: Backend) -> String {
        format!(
            "SELECT {} FROM {} t ORDER BY {}",
            self.json_row(backend),
            self.name,
            self.key.join(", ")
        )
    }
}

/// The stored name of a status: its serde name, as the domain spells it.
pub(crate) fn name_of(status: &impl serde::Serialize) -> String {
    match serde_json::to_value(status) {
        Ok(serde_json::Value::String(name)) => name,
        _ => String::from("unknown"),
    }
}

/// The statements a read model writes for one batch: set-based upserts, each with its rows
/// as one JSON array. Computing them needs no transaction, so the projection computes one read
/// model's writes while the database executes the previous one's.
#[derive(Debug, Default)]
#[must_use = "writes do nothing until executed"]
pub(crate) struct Writes(Vec<(String, String)>);

impl Writes {
    /// Inserts `rows` into `table`, replacing rows with the same key; nothing if there are none.
    pub fn upsert<T: Serialize>(
        &mut self,
        batch: &Batch<'_>,
        table: &Table,
        rows: &[T],
    ) -> Result<(), serde_json::Error> {
        if !rows.is_empty() {
            let sql = table.upsert(batch.backend, batch.suffix);
            self.0.push((sql, serde_json::to_string(rows)?));
        }
        Ok(())
    }

    /// Adds the per-event contributions `rows` to `table`'s rows once each (see
    /// [`Table::add_once`]); nothing if there are none.
    pub fn add_once<T: Serialize>(
        &mut self,
        batch: &Batch<'_>,
        table: &Table,
        position: &str,
        rows: &[T],
    ) -> Result<(), serde_json::Error> {
        if !rows.is_empty() {
            let sql = table.add_once(batch.backend, batch.suffix, position);
            self.0.push((sql, serde_json::to_string(rows)?));
        }
        Ok(())
    }

    /// Runs the statements, in order, within `tx`.
    pub async fn execute(self, tx: &mut LogTransaction) -> Result<(), StorageError> {
        for (sql, rows) in self.0 {
            eventlog::on_tx!(&mut *tx, |conn, _time| sqlx::query(&sql)
                .bind(rows)
                .execute(&mut *conn)
                .await
                .map(|_| ()))
            .map_err(|source| StorageError::Database {
                context: "writing a read model",
                source,
            })?;
        }
        Ok(())
    }
}

/// Runs `sql` (DDL) within `tx`.
pub(crate) async fn execute(tx: &mut LogTransaction, sql: &str) -> Result<(), StorageError> {
    eventlog::on_tx!(tx, |conn, _time| sqlx::query(sql)
        .execute(&mut *conn)
        .await
        .map(|_| ()))
    .map_err(|source| StorageError::Database {
        context: "changing read-model tables",
        source,
    })
}

/// Serde of the tables' times: written fixed-width (text order is time order on SQLite), read
/// as any RFC 3339 time.
pub(crate) mod time {
    use chrono::{DateTime, Utc};
    use serde::{Deserialize, Deserializer, Serializer};

    pub(crate) fn serialize<S: Serializer>(at: &DateTime<Utc>, to: S) -> Result<S::Ok, S::Error> {
        to.serialize_str(&eventlog::sqlite_time(*at))
    }

    pub(crate) fn deserialize<'de, D: Deserializer<'de>>(
        from: D,
    ) -> Result<DateTime<Utc>, D::Error> {
        DateTime::<Utc>::deserialize(from)
    }
}

/// The same as [`time`], for optional times.
pub(crate) mod optional_time {
    use chrono::{DateTime, Utc};
    use serde::{Deserialize, Deserializer, Serializer};

    pub(crate) fn serialize<S: Serializer>(
        at: &Option<DateTime<Utc>>,
        to: S,
    ) -> Result<S::Ok, S::Error> {
        match at {
            Some(at) => to.serialize_str(&eventlog::sqlite_time(*at)),
            None => to.serialize_none(),
        }
    }

    pub(crate) fn deserialize<'de, D: Deserializer<'de>>(
        from: D,
    ) -> Result<Option<DateTime<Utc>>, D::Error> {
        Option::<DateTime<Utc>>::deserialize(from)
    }
}
