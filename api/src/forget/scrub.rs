//! Erasing a forgotten customer's personal values from the copies kept beside the log, in the
//! forget's transaction. A row is the customer's when its text names one of their ids (webhook
//! deliveries and their attempts, stored API answers) or it answers one of their events
//! (partners' answers to outbound calls); other rows are never touched. In a row, JSON is
//! parsed and only string values change: a string that is one of the values becomes
//! `[erased]`, and values of four characters or more are also erased where they stand inside a
//! string (a name in a sentence). Text that is not JSON (error messages) gets the same rule.

use eventlog::{on_tx, privacy::ERASED, Backend, LogTransaction, StorageError};
use serde_json::Value;

use super::traces::Traces;

/// Ids bound per query: far below either backend's limit on parameters.
const CHUNK: usize = 100;

/// Values shorter than this are erased only where they are a whole string: `1` or `75` inside
/// other text is more likely something else.
const SHORTEST_INSIDE: usize = 4;

/// Erases `traces`' values from every copy tied to the customer; answers how many rows changed.
pub(super) async fn erase(
    tx: &mut LogTransaction,
    backend: Backend,
    traces: &Traces,
) -> Result<u64, StorageError> {
    let find = match backend {
        Backend::Postgres => "strpos",
        Backend::Sqlite => "instr",
    };
    let mut changed = 0;
    // Webhook deliveries whose body names the customer, and their attempts.
    let deliveries: Vec<(String, String, String, Option<String>)> = rows_naming(
        tx,
        "SELECT source, event_id, body, last_error FROM webhook_inbox WHERE {tie}",
        &format!("{find}(body, $#) > 0"),
        &traces.ids,
    )
    .await?;
    for (source, event_id, body, last_error) in deliveries {
        let new_body = scrub(&body, &traces.values);
        let new_error = last_error.as_deref().and_then(|e| scrub(e, &traces.values));
        if new_body.is_some() || new_error.is_some() {
            changed += execute(
                tx,
                "UPDATE webhook_inbox SET body = $1, last_error = $2 \
                 WHERE source = $3 AND event_id = $4",
                &[
                    Some(new_body.unwrap_or(body)),
                    new_error.or(last_error),
                    Some(source.clone()),
                    Some(event_id.clone()),
                ],
            )
            .await?;
        }
        let attempts: Vec<(i64, Option<String>)> = on_tx!(&mut *tx, |conn, _time| {
            sqlx::query_as(
                "SELECT CAST(attempt AS BIGINT), error FROM webhook_inbox_attempts \
                 WHERE source = $1 AND event_id = $2",
            )
            .bind(&source)
            .bind(&event_id)
            .fetch_all(&mut *conn)
            .await
        })
        .map_err(database("reading a delivery's attempts"))?;
        for (attempt, error) in attempts {
            if let Some(error) = error.as_deref().and_then(|e| scrub(e, &traces.values)) {
                changed += on_tx!(&mut *tx, |conn, _time| {
                    sqlx::query(
                        "UPDATE webhook_inbox_attempts SET error = $1 \
                         WHERE source = $2 AND event_id = $3 AND attempt = $4",
                    )
                    .bind(&error)
                    .bind(&source)
                    .bind(&event_id)
                    .bind(i32::try_from(attempt).unwrap_or(i32::MAX))
                    .execute(&mut *conn)
                    .await
                    .map(|done| done.rows_affected())
                })
                .map_err(database("erasing a delivery attempt's error"))?;
            }
        }
    }
    // Answers stored for idempotent replays that name the customer.
    let answers: Vec<(String, String, String)> = rows_naming(
        tx,
        "SELECT actor, idempotency_key, response_body FROM idempotent_requests WHERE {tie}",
        &format!("{find}(response_body, $#) > 0"),
        &traces.ids,
    )
    .await?;
    for (actor, key, body) in answers {
        if let Some(body) = scrub(&body, &traces.values) {
            changed += execute(
                tx,
                "UPDATE idempotent_requests SET response_body = $1 \
                 WHERE actor = $2 AND idempotency_key = $3",
                &[Some(body), Some(actor), Some(key)],
            )
            .await?;
        }
    }
    // Partners' answers to the calls made for the customer's events.
    let attempts: Vec<(i64, Option<String>, Option<String>)> = rows_naming(
        tx,
        "SELECT id, answer, error FROM outbound_attempts WHERE {tie}",
        "event_id = $#",
        &traces.event_ids,
    )
    .await?;
    for (id, answer, error) in attempts {
        let new_answer = answer.as_deref().and_then(|a| scrub(a, &traces.values));
        let new_error = error.as_deref().and_then(|e| scrub(e, &traces.values));
        if new_answer.is_some() || new_error.is_some() {
            changed += on_tx!(&mut *tx, |conn, _time| {
                sqlx::query("UPDATE outbound_attempts SET answer = $1, error = $2 WHERE id = $3")
                    .bind(new_answer.or(answer))
                    .bind(new_error.or(error))
                    .bind(id)
                    .execute(&mut *conn)
                    .await
                    .map(|done| done.rows_affected())
            })
            .map_err(database("erasing a partner's answer"))?;
        }
    }
    // The CRM's contact: nothing of it is kept.
    changed += execute(
        tx,
        "UPDATE crm_customers SET name = $1, email = $1, phone = NULL \
         WHERE customer_id = $2 AND email <> $1",
        &[Some(ERASED.to_owned()), Some(traces.customer_id.clone())],
    )
    .await?;
    Ok(changed)
}

/// The rows `select` answers where `tie` (with `$#` for the id) holds for one of `ids`, each
/// once, asked `CHUNK` ids at a time (`{tie}` in `select` stands for the condition).
async fn rows_naming<T>(
    tx: &mut LogTransaction,
    select: &str,
    tie: &str,
    ids: &[String],
) -> Result<Vec<T>, StorageError>
where
    T: Send + Unpin + PartialEq,
    T: for<'r> sqlx::FromRow<'r, sqlx::postgres::PgRow>,
    T: for<'r> sqlx::FromRow<'r, sqlx::sqlite::SqliteRow>,
{
    let mut rows: Vec<T> = Vec::new();
    for chunk in ids.chunks(CHUNK) {
        let condition: Vec<String> = (1..=chunk.len())
            .map(|n| tie.replace("$#", &format!("${n}")))
            .collect();
        let sql = select.replace("{tie}", &format!("({})", condition.join(" OR ")));
        let found: Vec<T> = on_tx!(&mut *tx, |conn, _time| {
            let mut query = sqlx::query_as(&sql);
            for id in chunk {
                query = query.bind(id);
            }
            query.fetch_all(&mut *conn).await
        })
        .map_err(database("finding copies of a customer's data"))?;
        for row in found {
            if !rows.contains(&row) {
                rows.push(row);
            }
        }
    }
    Ok(rows)
}

async fn execute(
    tx: &mut LogTransaction,
    sql: &str,
    params: &[Option<String>],
) -> Result<u64, StorageError> {
    on_tx!(&mut *tx, |conn, _time| {
        let mut query = sqlx::query(sql);
        for param in params {
            query = query.bind(param.as_deref());
        }
        query
            .execute(&mut *conn)
            .await
            .map(|done| done.rows_affected())
    })
    .map_err(database("erasing copies of a customer's data"))
}

fn database(context: &'static str) -> impl Fn(sqlx::Error) -> StorageError {
    move |source| StorageError::Database { context, source }
}

/// `text` with `values` erased, if any was there: JSON's string values only, else the text.
fn scrub(text: &str, values: &[String]) -> Option<String> {
    match serde_json::from_str::<Value>(text) {
        Ok(mut json) if json.is_object() || json.is_array() => {
            scrub_json(&mut json, values).then(|| json.to_string())
        }
        _ => scrub_text(text, values),
    }
}

fn scrub_json(json: &mut Value, values: &[String]) -> bool {
    match json {
        Value::String(text) => match scrub_text(text, values) {
            Some(erased) => {
                *text = erased;
                true
            }
            None => false,
        },
        Value::Array(items) => items
            .iter_mut()
            .fold(false, |changed, item| scrub_json(item, values) | changed),
        Value::Object(fields) => fields
            .values_mut()
            .fold(false, |changed, item| scrub_json(item, values) | changed),
        _ => false,
    }
}

fn scrub_text(text: &str, values: &[String]) -> Option<String> {
    if values.iter().any(|value| text.trim() == value) {
        return Some(ERASED.to_owned());
    }
    let mut out = text.to_owned();
    for value in values
        .iter()
        .filter(|v| v.chars().count() >= SHORTEST_INSIDE)
    {
        if out.contains(value.as_str()) {
            out = out.replace(value.as_str(), ERASED);
        }
    }
    (out != text).then_some(out)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use serde_json::json;

    use super::*;

    fn values() -> Vec<String> {
        ["Ana Lima", "Hauptstrasse 1", "ana@example.org", "1"]
            .map(str::to_owned)
            .to_vec()
    }

    #[test]
    fn only_string_values_change_and_short_values_only_whole() {
        let body = json!({
            "id": "evt_1Ana", "amount": 1, "1": "1",
            "billing": {"name": "Ana Lima", "line1": "Hauptstrasse 1", "note": "for Ana Lima, floor 1"},
            "email": "ana@example.org", "items": ["Ana Lima", 11, "pi_1x"],
        })
        .to_string();
        let erased: Value = serde_json::from_str(&scrub(&body, &values()).unwrap()).unwrap();
        assert_eq!(
            erased,
            json!({
                "id": "evt_1Ana", "amount": 1, "1": ERASED,
                "billing": {"name": ERASED, "line1": ERASED, "note": "for [erased], floor 1"},
                "email": ERASED, "items": [ERASED, 11, "pi_1x"],
            })
        );
    }

    #[test]
    fn text_that_is_not_json_is_scrubbed_as_text_and_untouched_text_is_no_change() {
        assert_eq!(
            scrub("no such recipient: Ana Lima (1)", &values()).unwrap(),
            "no such recipient: [erased] (1)"
        );
        assert_eq!(scrub(r#"{"status":"ok","n":1}"#, &values()), None);
        assert_eq!(scrub("unknown sku", &values()), None);
    }
}
