//! PostgreSQL roles: the schema's owner migrates; a service role reads every table, writes
//! the tables beside the log, and appends to the log only through `append_events()` (ADR
//! 0021). On such a role `serve` does not migrate: it checks that the schema is current.

use sqlx::PgPool;

use crate::error::{Context, StorageError};

/// The tables a service role may only read: the log, its keys, the migrations' record.
const APPEND_ONLY: [&str; 3] = ["events", "event_idempotency_keys", "_sqlx_migrations"];

/// The tables a service role may read and add to, never change: the hash chain's links and
/// its seals.
const INSERT_ONLY: [&str; 2] = ["event_links", "audit_seals"];

/// `append_events()`'s signature, as GRANT names it.
const APPEND_EVENTS: &str = "append_events(text[], text[], bigint[], text[], int[], int[], \
     uuid[], text[], int[], jsonb[], jsonb[])";

/// Whether the connected role may migrate: the database is fresh (no migrations table yet),
/// or the role owns the migrations table (or is a member of its owner, or a superuser).
pub(crate) async fn can_migrate(pool: &PgPool) -> Result<bool, StorageError> {
    sqlx::query_scalar(
        "SELECT CASE WHEN to_regclass('_sqlx_migrations') IS NULL THEN true \
         ELSE pg_has_role(current_user, \
              (SELECT relowner FROM pg_class WHERE oid = to_regclass('_sqlx_migrations')), \
              'USAGE') END",
    )
    .fetch_one(pool)
    .await
    .context("asking whether this role owns the schema")
}

/// Grants `role` what `serve` needs and no more (see the module). Run as the schema's owner
/// after `migrate`; running it again (after a later migration) is harmless. Tables the owner
/// makes later (a read model's rebuild) are granted by default privileges.
pub(crate) async fn grant_service_role(pool: &PgPool, role: &str) -> Result<(), StorageError> {
    let mut tx = pool.begin().await.context("beginning the grants")?;
    let (role, schema): (String, String) =
        sqlx::query_as("SELECT quote_ident($1), quote_ident(current_schema())")
            .bind(role)
            .fetch_one(&mut *tx)
            .await
            .context("quoting the role's name")?;
    let tables: Vec<String> = sqlx::query_scalar(
        "SELECT quote_ident(tablename) FROM pg_tables WHERE schemaname = current_schema()",
    )
    .fetch_all(&mut *tx)
    .await
    .context("listing the schema's tables")?;
    let mut statements = vec![
        // Before PostgreSQL 15 every role may create objects in `public`; one made there could
        // shadow a function append_events() calls.
        format!("REVOKE CREATE ON SCHEMA {schema} FROM PUBLIC"),
        format!("GRANT USAGE ON SCHEMA {schema} TO {role}"),
        format!("GRANT SELECT ON ALL TABLES IN SCHEMA {schema} TO {role}"),
        format!("GRANT EXECUTE ON FUNCTION {APPEND_EVENTS} TO {role}"),
        format!(
            "ALTER DEFAULT PRIVILEGES IN SCHEMA {schema} \
             GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO {role}"
        ),
    ];
    for table in &tables {
        if INSERT_ONLY.contains(&table.as_str()) {
            statements.push(format!("GRANT SELECT, INSERT ON {table} TO {role}"));
            statements.push(format!(
                "REVOKE UPDATE, DELETE, TRUNCATE, REFERENCES, TRIGGER ON {table} FROM {role}"
            ));
        } else if APPEND_ONLY.contains(&table.as_str()) {
            statements.push(format!(
                "REVOKE INSERT, UPDATE, DELETE, TRUNCATE, REFERENCES, TRIGGER \
                 ON {table} FROM {role}"
            ));
        } else {
            statements.push(format!(
                "GRANT SELECT, INSERT, UPDATE, DELETE ON {table} TO {role}"
            ));
        }
    }
    for statement in &statements {
        sqlx::query(statement)
            .execute(&mut *tx)
            .await
            .context("granting the service role")?;
    }
    tx.commit().await.context("committing the grants")
}
