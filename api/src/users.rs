//! User administration as events. Creating a user, changing its role and deactivating it are
//! decided by the User aggregate (`domain::user`) and appended to its stream (`user/{user id}`)
//! with the actor who did it, in the same transaction as the change to `api_users`, the row
//! authentication reads: the audit trail answers who gave whom which role, and when, and it
//! never disagrees with who may call (ADR 0022). Secrets (tokens) stay out of the log.

use chrono::{DateTime, TimeZone, Utc};
use domain::{
    user::{
        Role, User, UserCommand, UserCreated, UserDeactivated, UserError as Refusal, UserEvent,
    },
    Context, Decider, NonEmptyText,
};
use eventlog::{
    Append, AppendError, EventLog, ExpectedVersion, LogTransaction, Metadata, StorageError,
    StreamId,
};

use crate::{
    auth::create_token,
    db::{now_ms, storage},
};

/// The actor of changes made before users were events, recorded when such a user is first
/// changed (see [`history_before_the_log`]).
const BACKFILL_ACTOR: &str = "system:users-before-the-log";

/// Who runs a change on the command line, as its events' actor: `cli:{the account's name}`
/// (`USER`, else `LOGNAME`, else `unknown`). The command line is the service owner's, on its
/// host: the name is what that host says, not a proof.
pub fn command_line_actor() -> String {
    let account = std::env::var("USER")
        .or_else(|_| std::env::var("LOGNAME"))
        .unwrap_or_else(|_| "unknown".to_owned());
    format!("cli:{account}")
}

/// Why a user could not be created or changed.
#[derive(Debug, thiserror::Error)]
pub enum UserError {
    /// The name is taken.
    #[error("a user named {0:?} exists")]
    NameTaken(String),
    /// The name is empty or too long.
    #[error("a user name must have 1 to 100 characters and no control characters")]
    InvalidName,
    /// The user is deactivated: its role and password stay as they were.
    #[error("the user {0:?} is deactivated")]
    Deactivated(String),
    /// The new password is refused.
    #[error("{0}")]
    WeakPassword(&'static str),
    /// Another change of the same user kept winning the race.
    #[error("the user {0:?} is being changed by someone else; try again")]
    Contended(String),
    /// What is stored of the user cannot be read (an undecodable event, an unknown role), or
    /// the log refused the append.
    #[error("user {name:?}: {reason}")]
    Inconsistent {
        /// The user.
        name: String,
        /// What is wrong.
        reason: String,
    },
    /// The database failed.
    #[error(transparent)]
    Storage(#[from] StorageError),
}

/// The error of an append for user `name`.
fn append_error(name: &str, error: AppendError) -> UserError {
    match error {
        AppendError::Storage(error) => UserError::Storage(error),
        other => UserError::Inconsistent {
            name: name.to_owned(),
            reason: other.to_string(),
        },
    }
}

/// Creates user `name` with `role`, as `actor` (`cli:ana`), and a first token; answers the
/// token, which is shown once and stored only as a hash.
pub async fn create_user(
    log: &EventLog,
    name: &str,
    role: Role,
    actor: &str,
) -> Result<String, UserError> {
    let name = user_name(name)?;
    let user_id = uuid::Uuid::now_v7().to_string();
    let command = UserCommand::Create {
        name: name.clone(),
        role,
    };
    let events = decide(&None, command)?;
    let mut tx = log.begin().await?;
    log.append_in(&mut tx, append(&user_id, 0, &[], &events, actor))
        .await
        .map_err(|error| append_error(name.as_str(), error))?;
    let inserted = eventlog::on_tx!(&mut tx, |conn, _time| {
        sqlx::query("INSERT INTO api_users (user_id, name, role, created_at_ms) VALUES ($1, $2, $3, $4) ON CONFLICT (name) DO NOTHING")
            .bind(&user_id).bind(name.as_str()).bind(role.name()).bind(now_ms())
            .execute(&mut *conn).await.map(|done| done.rows_affected())
    })
    .map_err(storage("creating a user"))?;
    if inserted == 0 {
        tx.rollback().await?;
        return Err(UserError::NameTaken(name.to_string()));
    }
    tx.commit().await?;
    log.wake_subscribers();
    Ok(create_token(log, &user_id).await?)
}

/// Gives user `name` `role` from its next request on, as `actor`; false if there is no such
/// user. A deactivated user keeps its role.
pub async fn set_role(
    log: &EventLog,
    name: &str,
    role: Role,
    actor: &str,
) -> Result<bool, UserError> {
    change(log, name, UserCommand::ChangeRole { role }, actor, None).await
}

/// Sets user `name`'s password (12 to 256 characters), as `actor`; its console sessions end.
/// False if there is no such user; a deactivated user's is refused. The event says the
/// password changed; only an argon2id hash of it is stored, in `api_users`.
pub async fn set_password(
    log: &EventLog,
    name: &str,
    password: &str,
    actor: &str,
) -> Result<bool, UserError> {
    crate::console::password::check_new(password).map_err(UserError::WeakPassword)?;
    let password = password.to_owned();
    // Hashing takes tens of milliseconds of CPU: off the async workers.
    let hash = tokio::task::spawn_blocking(move || crate::console::password::hash(&password))
        .await
        .map_err(|error| UserError::Inconsistent {
            name: name.to_owned(),
            reason: format!("hashing the password: {error}"),
        })?;
    change(log, name, UserCommand::SetPassword, actor, Some(&hash)).await
}

/// Deactivates user `name`, as `actor`: every token of theirs is refused from the next request
/// on. The user stays, so that the events they caused keep naming them. False if there is no
/// such active user.
pub async fn deactivate_user(log: &EventLog, name: &str, actor: &str) -> Result<bool, UserError> {
    let Some(user) = find(log, name).await? else {
        return Ok(false);
    };
    if user.deactivated_at_ms.is_some() {
        return Ok(false);
    }
    change(log, name, UserCommand::Deactivate, actor, None).await
}

/// A user's row in `api_users`.
#[derive(Debug, sqlx::FromRow)]
struct Row {
    user_id: String,
    name: String,
    role: String,
    created_at_ms: i64,
    deactivated_at_ms: Option<i64>,
}

async fn find(log: &EventLog, name: &str) -> Result<Option<Row>, UserError> {
    let sql = "SELECT user_id, name, role, created_at_ms, deactivated_at_ms FROM api_users \
               WHERE name = $1";
    Ok(eventlog::on_writer!(log, |pool, _time| sqlx::query_as(sql)
        .bind(name)
        .fetch_optional(pool)
        .await)
    .map_err(storage("finding a user"))?)
}

/// How long a password reset link works.
const RESET_VALID_FOR: chrono::Duration = chrono::Duration::hours(1);

/// Issues user `name` a one-time link to set its password, valid for an hour, as `actor`;
/// answers the link's token (shown once, stored only as a SHA-256), or nothing if there is no
/// such user. A deactivated user's is refused.
pub async fn issue_reset(
    log: &EventLog,
    name: &str,
    actor: &str,
) -> Result<Option<String>, UserError> {
    let token = crate::console::session::token();
    let command = UserCommand::IssueReset {
        expires_at: Utc::now() + RESET_VALID_FOR,
    };
    let issued = change(log, name, command, actor, Some(&sha256_hex(&token))).await?;
    Ok(issued.then_some(token))
}

/// Whether the reset link of `token` still works: issued, not used, not expired, its user
/// active.
pub async fn reset_is_open(log: &EventLog, token: &str) -> Result<bool, UserError> {
    Ok(open_reset(log, token).await?.is_some())
}

/// The name of the user of the open reset link of `token`.
async fn open_reset(log: &EventLog, token: &str) -> Result<Option<String>, UserError> {
    let sql = "SELECT u.name FROM password_resets r JOIN api_users u ON u.user_id = r.user_id \
               WHERE r.token_sha256 = $1 AND r.used_at_ms IS NULL AND r.expires_at_ms > $2 \
               AND u.deactivated_at_ms IS NULL";
    Ok(
        eventlog::on_writer!(log, |pool, _time| sqlx::query_scalar(sql)
            .bind(sha256_hex(token))
            .bind(now_ms())
            .fetch_optional(pool)
            .await)
        .map_err(storage("finding a password reset"))?,
    )
}

/// Sets the password of the user of reset link `token` to `password`, as that user, and uses
/// the link up; false if the link does not work (used, expired, unknown, its user deactivated).
/// A refused password leaves the link working.
pub async fn use_reset(log: &EventLog, token: &str, password: &str) -> Result<bool, UserError> {
    crate::console::password::check_new(password).map_err(UserError::WeakPassword)?;
    let Some(name) = open_reset(log, token).await? else {
        return Ok(false);
    };
    // Used up first, by whoever gets there first: a link works once.
    let used = eventlog::on_writer!(log, |pool, _time| sqlx::query(
        "UPDATE password_resets SET used_at_ms = $2 \
         WHERE token_sha256 = $1 AND used_at_ms IS NULL AND expires_at_ms > $2"
    )
    .bind(sha256_hex(token))
    .bind(now_ms())
    .execute(pool)
    .await
    .map(|done| done.rows_affected()))
    .map_err(storage("using a password reset"))?;
    if used == 0 {
        return Ok(false);
    }
    set_password(log, &name, password, &format!("user:{name}")).await
}

fn sha256_hex(secret: &str) -> String {
    use sha2::Digest as _;
    hex::encode(sha2::Sha256::digest(secret.as_bytes()))
}

/// Decides `command` for user `name` on its stream and applies it to its row, in one
/// transaction; false if there is no such user. `secret` is what the row keeps of the
/// command's secret: a new password's hash, a reset link's SHA-256.
async fn change(
    log: &EventLog,
    name: &str,
    command: UserCommand,
    actor: &str,
    secret: Option<&str>,
) -> Result<bool, UserError> {
    for _ in 0..5 {
        let Some(row) = find(log, name).await? else {
            return Ok(false);
        };
        let stream = StreamId::new(domain::user::AGGREGATE_TYPE, &row.user_id);
        let history = log.read_stream(&stream, 1).await?;
        let version = history.last().map_or(0, |event| event.sequence);
        let mut past: Vec<UserEvent> = Vec::with_capacity(history.len());
        for recorded in &history {
            let event = <UserEvent as domain::EventCodec>::decode(
                &recorded.event_type,
                recorded.event_version,
                &recorded.payload,
            )
            .map_err(|error| UserError::Inconsistent {
                name: row.name.clone(),
                reason: error.to_string(),
            })?;
            past.push(event);
        }
        let backfill = if history.is_empty() {
            history_before_the_log(&row)?
        } else {
            vec![]
        };
        let state = User::fold(past.iter().chain(&backfill));
        let events = decide(&state, command.clone())?;
        if events.is_empty() && backfill.is_empty() {
            return Ok(true);
        }
        let mut tx = log.begin().await?;
        match log
            .append_in(
                &mut tx,
                append(&row.user_id, version, &backfill, &events, actor),
            )
            .await
        {
            Ok(_) => {}
            Err(AppendError::WrongExpectedVersion { .. }) => {
                tx.rollback().await?;
                continue;
            }
            Err(error) => return Err(append_error(name, error)),
        }
        for event in &events {
            apply(&mut tx, &row.user_id, event, secret).await?;
        }
        tx.commit().await?;
        log.wake_subscribers();
        return Ok(true);
    }
    Err(UserError::Contended(name.to_owned()))
}

/// What `api_users` says of a user made before users were events, as the events that would
/// have said it: created (at its creation time, with the role it has now) and, if so,
/// deactivated. Recorded with the first change of that user, under [`BACKFILL_ACTOR`].
fn history_before_the_log(row: &Row) -> Result<Vec<UserEvent>, UserError> {
    let name = NonEmptyText::parse(&row.name).map_err(|_| UserError::InvalidName)?;
    let role = Role::named(&row.role).ok_or_else(|| UserError::Inconsistent {
        name: row.name.clone(),
        reason: format!("no role {:?}", row.role),
    })?;
    let mut events = vec![UserEvent::UserCreated(UserCreated {
        name: name.clone(),
        role,
        created_at: at(row.created_at_ms),
    })];
    if let Some(ms) = row.deactivated_at_ms {
        events.push(UserEvent::UserDeactivated(UserDeactivated {
            name,
            deactivated_at: at(ms),
        }));
    }
    Ok(events)
}

fn at(ms: i64) -> DateTime<Utc> {
    Utc.timestamp_millis_opt(ms).single().unwrap_or_default()
}

/// The user's decision on `command`; its refusals as this module's errors.
fn decide(
    state: &<User as Decider>::State,
    command: UserCommand,
) -> Result<Vec<UserEvent>, UserError> {
    let ctx = Context::new(Utc::now(), uuid::Uuid::now_v7);
    User::decide(state, command, &ctx).map_err(|refusal| {
        let name = state
            .as_ref()
            .map_or_else(String::new, |user| user.name.to_string());
        match refusal {
            Refusal::Deactivated => UserError::Deactivated(name),
            Refusal::AlreadyExists => UserError::NameTaken(name),
            // A row without a stream is given its history first, so a user found is never
            // missing from the log.
            Refusal::NotFound => UserError::Inconsistent {
                name,
                reason: "no user stream".to_owned(),
            },
        }
    })
}

/// The append of `backfill` (as [`BACKFILL_ACTOR`]) and `events` (as `actor`) to the user's
/// stream at `version`.
fn append(
    user_id: &str,
    version: i64,
    backfill: &[UserEvent],
    events: &[UserEvent],
    actor: &str,
) -> Append {
    let by = |actor: &str| Metadata {
        actor: Some(actor.to_owned()),
        source: Some("users".to_owned()),
        ..Metadata::default()
    };
    let mut new_events = commands::new_events(backfill, &by(BACKFILL_ACTOR));
    new_events.extend(commands::new_events(events, &by(actor)));
    Append::new(
        StreamId::new(domain::user::AGGREGATE_TYPE, user_id),
        ExpectedVersion::at(version),
        new_events,
    )
}

/// Writes `event`'s change into the user's row, inside the transaction that appends it.
async fn apply(
    tx: &mut LogTransaction,
    user_id: &str,
    event: &UserEvent,
    secret: Option<&str>,
) -> Result<(), UserError> {
    let (sql, value): (&str, Value) = match event {
        UserEvent::UserCreated(_) => return Ok(()),
        UserEvent::UserPasswordResetIssued(issued) => {
            let Some(token_sha256) = secret else {
                return Ok(());
            };
            eventlog::on_tx!(&mut *tx, |conn, _time| sqlx::query(
                "INSERT INTO password_resets (token_sha256, user_id, created_at_ms, \
                 expires_at_ms) VALUES ($1, $2, $3, $4)"
            )
            .bind(token_sha256)
            .bind(user_id)
            .bind(issued.issued_at.timestamp_millis())
            .bind(issued.expires_at.timestamp_millis())
            .execute(&mut *conn)
            .await
            .map(|_| ()))
            .map_err(storage("issuing a password reset"))?;
            return Ok(());
        }
        UserEvent::UserPasswordChanged(changed) => {
            let Some(hash) = secret else {
                return Ok(());
            };
            eventlog::on_tx!(&mut *tx, |conn, _time| {
                let stored =
                    sqlx::query("UPDATE api_users SET password_hash = $2 WHERE user_id = $1")
                        .bind(user_id)
                        .bind(hash)
                        .execute(&mut *conn)
                        .await;
                // The user's sessions end with the old password.
                let ended = sqlx::query(
                    "UPDATE console_sessions SET ended_at_ms = $2 \
                     WHERE user_id = $1 AND ended_at_ms IS NULL",
                )
                .bind(user_id)
                .bind(changed.changed_at.timestamp_millis());
                match stored {
                    Ok(_) => ended.execute(&mut *conn).await.map(|_| ()),
                    Err(error) => Err(error),
                }
            })
            .map_err(storage("setting a password"))?;
            return Ok(());
        }
        UserEvent::UserRoleChanged(changed) => (
            "UPDATE api_users SET role = $2 WHERE user_id = $1",
            Value::Text(changed.to.name()),
        ),
        UserEvent::UserDeactivated(deactivated) => (
            "UPDATE api_users SET deactivated_at_ms = $2 WHERE user_id = $1",
            Value::Ms(deactivated.deactivated_at.timestamp_millis()),
        ),
    };
    eventlog::on_tx!(&mut *tx, |conn, _time| match value {
        Value::Text(text) =>
            sqlx::query(sql)
                .bind(user_id)
                .bind(text)
                .execute(&mut *conn)
                .await,
        Value::Ms(ms) =>
            sqlx::query(sql)
                .bind(user_id)
                .bind(ms)
                .execute(&mut *conn)
                .await,
    }
    .map(|_| ()))
    .map_err(storage("changing a user"))?;
    Ok(())
}

/// A value bound into a row's update.
enum Value {
    Text(&'static str),
    Ms(i64),
}

/// A user name: 1 to 100 characters, no control characters, trimmed.
fn user_name(raw: &str) -> Result<NonEmptyText, UserError> {
    let name = NonEmptyText::parse(raw).map_err(|_| UserError::InvalidName)?;
    if name.as_str().chars().count() > 100 {
        return Err(UserError::InvalidName);
    }
    Ok(name)
}
