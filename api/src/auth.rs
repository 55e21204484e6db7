//! Authentication (who calls: a bearer API token, kept only as a SHA-256 of its secret) kept
//! apart from authorization (may they: a permission per action, granted through roles). ADR
//! 0008 has the role matrix and why tokens are hashed with SHA-256 rather than a password hash.

use std::fmt;

use axum::{extract::FromRequestParts, http::request::Parts};
use eventlog::{EventLog, StorageError};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use utoipa::ToSchema;

use crate::{
    callers::KnownCallers,
    db::{now_ms, storage},
    problem::Problem,
    AppState,
};

/// What a caller may do: one permission per action and resource, named `resource.action`.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    PartialOrd,
    Ord,
    Serialize,
    ToSchema,
    strum::IntoStaticStr,
    strum::VariantArray,
)]
#[serde(rename_all = "snake_case")]
#[allow(missing_docs)]
pub enum Permission {
    #[strum(serialize = "orders.view")]
    OrdersView,
    #[strum(serialize = "orders.create")]
    OrdersCreate,
    #[strum(serialize = "orders.edit")]
    OrdersEdit,
    #[strum(serialize = "orders.cancel")]
    OrdersCancel,
    #[strum(serialize = "payments.view")]
    PaymentsView,
    #[strum(serialize = "payments.create")]
    PaymentsCreate,
    #[strum(serialize = "payments.approve")]
    PaymentsApprove,
    #[strum(serialize = "payments.cancel")]
    PaymentsCancel,
    #[strum(serialize = "shipments.view")]
    ShipmentsView,
    #[strum(serialize = "shipments.edit")]
    ShipmentsEdit,
    #[strum(serialize = "audit.view")]
    AuditView,
    #[strum(serialize = "attention.view")]
    AttentionView,
    #[strum(serialize = "attention.resolve")]
    AttentionResolve,
    #[strum(serialize = "integrations.view")]
    IntegrationsView,
    #[strum(serialize = "catalog.view")]
    CatalogView,
    #[strum(serialize = "customers.view")]
    CustomersView,
    #[strum(serialize = "reports.view")]
    ReportsView,
    #[strum(serialize = "admin")]
    Admin,
}

impl Permission {
    /// Every permission.
    pub const ALL: &'static [Self] = <Self as strum::VariantArray>::VARIANTS;

    /// Its name, `orders.view`.
    pub fn name(self) -> &'static str {
        self.into()
    }
}

/// A role: a named set of permissions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Everything, including users and tokens.
    Admin,
    /// Runs orders and shipments day to day; may request payments, not move money; reads the
    /// customers' contact data (to reach them about an order).
    Operator,
    /// Moves money: captures, refunds, voids.
    Finance,
    /// Reads everything but personal contact data, and the audit trail; changes nothing.
    Auditor,
    /// Reads orders, payments, shipments, the catalog and the reports.
    Viewer,
}

impl Role {
    /// Every role.
    pub const ALL: [Self; 5] = [
        Self::Admin,
        Self::Operator,
        Self::Finance,
        Self::Auditor,
        Self::Viewer,
    ];

    /// Its name.
    pub const fn name(self) -> &'static str {
        match self {
            Self::Admin => "admin",
            Self::Operator => "operator",
            Self::Finance => "finance",
            Self::Auditor => "auditor",
            Self::Viewer => "viewer",
        }
    }

    /// The role called `name`.
    pub fn named(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|role| role.name() == name)
    }

    /// Whether the role grants `permission` (the matrix of ADR 0008).
    pub const fn grants(self, permission: Permission) -> bool {
        use Permission as P;
        // Reading the business, not its people: customer contacts (personal data) are for the
        // roles that must reach a customer.
        let view = matches!(
            permission,
            P::OrdersView
                | P::PaymentsView
                | P::ShipmentsView
                | P::AttentionView
                | P::CatalogView
                | P::ReportsView
        );
        match self {
            Self::Admin => true,
            Self::Operator => {
                view || matches!(
                    permission,
                    P::OrdersCreate
                        | P::OrdersEdit
                        | P::OrdersCancel
                        | P::PaymentsCreate
                        | P::ShipmentsEdit
                        | P::AttentionResolve
                        | P::IntegrationsView
                        | P::CustomersView
                )
            }
            Self::Finance => {
                view || matches!(
                    permission,
                    P::PaymentsCreate
                        | P::PaymentsApprove
                        | P::PaymentsCancel
                        | P::AttentionResolve
                        | P::IntegrationsView
                )
            }
            Self::Auditor => view || matches!(permission, P::AuditView | P::IntegrationsView),
            Self::Viewer => view,
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// An authenticated caller.
#[derive(Debug, Clone)]
pub struct Caller {
    /// The user's id.
    pub user_id: String,
    /// The user's name.
    pub name: String,
    /// The user's role.
    pub role: Role,
}

impl Caller {
    /// The actor recorded in event metadata: `user:{name}`.
    pub fn actor(&self) -> String {
        format!("user:{}", self.name)
    }

    /// Ok if the caller's role grants `permission`, else a 403 problem.
    pub fn require(&self, permission: Permission) -> Result<(), Problem> {
        if self.role.grants(permission) {
            Ok(())
        } else {
            Err(Problem::forbidden(permission.name()))
        }
    }
}

impl FromRequestParts<AppState> for Caller {
    type Rejection = Problem;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Problem> {
        if let Some(caller) = parts.extensions.get::<Caller>() {
            return Ok(caller.clone());
        }
        let header = parts
            .headers
            .get(axum::http::header::AUTHORIZATION)
            .ok_or_else(|| {
                Problem::unauthenticated("send an API token: Authorization: Bearer <token>")
            })?;
        let token = header.to_str().ok().and_then(bearer_token).ok_or_else(|| {
            Problem::unauthenticated("the Authorization header must be `Bearer <token>`")
        })?;
        let caller = authenticate_known(&state.log, &state.callers, token)
            .await?
            .ok_or_else(|| Problem::unauthenticated("the token is unknown or revoked"))?;
        parts.extensions.insert(caller.clone());
        Ok(caller)
    }
}

/// The token of an `Authorization: Bearer <token>` value; the scheme is case-insensitive
/// (RFC 9110 §11.1), as is the space around the token.
fn bearer_token(value: &str) -> Option<&str> {
    let (scheme, token) = value.trim().split_once(' ')?;
    let token = token.trim_start_matches(' ');
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then_some(token)
}

fn sha256_hex(secret: &str) -> String {
    hex::encode(Sha256::digest(secret.as_bytes()))
}

/// The caller holding `token` (`bo_{token id}_{secret}`), if it is known, not revoked, and its
/// user not deactivated.
pub async fn authenticate(log: &EventLog, token: &str) -> Result<Option<Caller>, StorageError> {
    authenticate_known(log, &KnownCallers::default(), token).await
}

/// The same as [`authenticate`], answered from `known` when it knows the token.
async fn authenticate_known(
    log: &EventLog,
    known: &KnownCallers,
    token: &str,
) -> Result<Option<Caller>, StorageError> {
    let Some((token_id, secret)) = token
        .strip_prefix("bo_")
        .and_then(|rest| rest.split_once('_'))
    else {
        return Ok(None);
    };
    let lookup = match known.get(token_id) {
        Ok((stored, caller)) => return Ok(secret_matches(secret, &stored).then_some(caller)),
        Err(lookup) => lookup,
    };
    let sql = "SELECT t.secret_sha256, u.user_id, u.name, u.role FROM api_tokens t \
               JOIN api_users u ON u.user_id = t.user_id \
               WHERE t.token_id = $1 AND t.revoked_at_ms IS NULL AND u.deactivated_at_ms IS NULL";
    let row: Option<(String, String, String, String)> =
        eventlog::on_readers!(log, |pool, _time| {
            sqlx::query_as(sql)
                .bind(token_id)
                .fetch_optional(pool)
                .await
        })
        .map_err(storage("authenticating"))?;
    let Some((stored, user_id, name, role)) = row else {
        return Ok(None);
    };
    let (true, Some(role)) = (secret_matches(secret, &stored), Role::named(&role)) else {
        return Ok(None);
    };
    let caller = Caller {
        user_id,
        name,
        role,
    };
    known.remember(lookup, token_id, &stored, &caller);
    Ok(Some(caller))
}

/// Whether `secret` hashes to `stored` (hex SHA-256), compared in constant time.
fn secret_matches(secret: &str, stored: &str) -> bool {
    sha256_hex(secret)
        .as_bytes()
        .ct_eq(stored.as_bytes())
        .into()
}

/// A token as listed: never its secret.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct TokenInfo {
    /// The token's id (the part after `bo_`).
    pub token_id: String,
    /// Its user.
    pub user: String,
    /// The user's role.
    pub role: String,
    /// When it was made (Unix ms).
    pub created_at_ms: i64,
    /// When it was revoked, if it was.
    pub revoked_at_ms: Option<i64>,
}

/// Why a user could not be created.
#[derive(Debug, thiserror::Error)]
pub enum UserError {
    /// The name is taken.
    #[error("a user named {0:?} exists")]
    NameTaken(String),
    /// The name is empty or too long.
    #[error("a user name must have 1 to 100 characters")]
    InvalidName,
    /// The database failed.
    #[error(transparent)]
    Storage(#[from] StorageError),
}

/// Creates user `name` with `role` and a first token; answers the token, which is shown once
/// and stored only as a hash.
pub async fn create_user(log: &EventLog, name: &str, role: Role) -> Result<String, UserError> {
    if name.trim().is_empty() || name.len() > 100 {
        return Err(UserError::InvalidName);
    }
    let user_id = uuid::Uuid::now_v7().to_string();
    let inserted = eventlog::on_writer!(log, |pool, _time| {
        sqlx::query("INSERT INTO api_users (user_id, name, role, created_at_ms) VALUES ($1, $2, $3, $4) ON CONFLICT (name) DO NOTHING")
            .bind(&user_id).bind(name).bind(role.name()).bind(now_ms())
            .execute(pool).await.map(|done| done.rows_affected())
    })
    .map_err(storage("creating a user"))?;
    if inserted == 0 {
        return Err(UserError::NameTaken(name.to_owned()));
    }
    Ok(create_token(log, &user_id).await?)
}

/// A new token for user `user_id`.
pub async fn create_token(log: &EventLog, user_id: &str) -> Result<String, StorageError> {
    let token_id = uuid::Uuid::new_v4().simple().to_string();
    let secret = format!(
        "{}{}",
        uuid::Uuid::new_v4().simple(),
        uuid::Uuid::new_v4().simple()
    );
    eventlog::on_writer!(log, |pool, _time| {
        sqlx::query("INSERT INTO api_tokens (token_id, user_id, secret_sha256, created_at_ms) VALUES ($1, $2, $3, $4)")
            .bind(&token_id).bind(user_id).bind(sha256_hex(&secret)).bind(now_ms())
            .execute(pool).await.map(|_| ())
    })
    .map_err(storage("creating a token"))?;
    Ok(format!("bo_{token_id}_{secret}"))
}

/// Every token, newest first.
pub async fn list_tokens(log: &EventLog) -> Result<Vec<TokenInfo>, StorageError> {
    let sql = "SELECT t.token_id, u.name, u.role, t.created_at_ms, t.revoked_at_ms \
               FROM api_tokens t JOIN api_users u ON u.user_id = t.user_id \
               ORDER BY t.created_at_ms DESC, t.token_id";
    let rows: Vec<(String, String, String, i64, Option<i64>)> =
        eventlog::on_readers!(log, |pool, _time| {
            sqlx::query_as(sql).fetch_all(pool).await
        })
        .map_err(storage("listing tokens"))?;
    Ok(rows
        .into_iter()
        .map(
            |(token_id, user, role, created_at_ms, revoked_at_ms)| TokenInfo {
                token_id,
                user,
                role,
                created_at_ms,
                revoked_at_ms,
            },
        )
        .collect())
}

/// Revokes token `token_id` (refused at once from then on); false if there is no such live
/// token.
pub async fn revoke_token(log: &EventLog, token_id: &str) -> Result<bool, StorageError> {
    let revoked = eventlog::on_writer!(log, |pool, _time| {
        sqlx::query("UPDATE api_tokens SET revoked_at_ms = $2 WHERE token_id = $1 AND revoked_at_ms IS NULL")
            .bind(token_id).bind(now_ms())
            .execute(pool).await.map(|done| done.rows_affected())
    })
    .map_err(storage("revoking a token"))?;
    Ok(revoked > 0)
}

/// Gives user `name` `role`, from its next request on; false if there is no such user.
pub async fn set_role(log: &EventLog, name: &str, role: Role) -> Result<bool, StorageError> {
    let changed = eventlog::on_writer!(log, |pool, _time| {
        sqlx::query("UPDATE api_users SET role = $2 WHERE name = $1")
            .bind(name)
            .bind(role.name())
            .execute(pool)
            .await
            .map(|done| done.rows_affected())
    })
    .map_err(storage("changing a role"))?;
    Ok(changed > 0)
}

/// Deactivates user `name`: every token of theirs is refused from the next request on. The
/// user stays, so that the events they caused keep naming them. False if there is no such
/// active user.
pub async fn deactivate_user(log: &EventLog, name: &str) -> Result<bool, StorageError> {
    let changed = eventlog::on_writer!(log, |pool, _time| {
        sqlx::query("UPDATE api_users SET deactivated_at_ms = $2 WHERE name = $1 AND deactivated_at_ms IS NULL")
            .bind(name).bind(now_ms())
            .execute(pool).await.map(|done| done.rows_affected())
    })
    .map_err(storage("deactivating a user"))?;
    Ok(changed > 0)
}

/// A new token for active user `name` (as when a token is lost: revoke the old one too);
/// nothing if there is no such active user.
pub async fn issue_token(log: &EventLog, name: &str) -> Result<Option<String>, StorageError> {
    let user_id: Option<String> = eventlog::on_readers!(log, |pool, _time| {
        sqlx::query_scalar(
            "SELECT user_id FROM api_users WHERE name = $1 AND deactivated_at_ms IS NULL",
        )
        .bind(name)
        .fetch_optional(pool)
        .await
    })
    .map_err(storage("finding a user"))?;
    match user_id {
        Some(user_id) => Ok(Some(create_token(log, &user_id).await?)),
        None => Ok(None),
    }
}

#[cfg(test)]
mod tests {
    use super::bearer_token;

    #[test]
    fn the_bearer_scheme_is_case_insensitive_and_needs_a_token() {
        for value in [
            "Bearer bo_1_x",
            "bearer bo_1_x",
            "BEARER  bo_1_x",
            " bEaReR bo_1_x",
        ] {
            assert_eq!(bearer_token(value), Some("bo_1_x"), "{value:?}");
        }
        for value in [
            "Basic bo_1_x",
            "Bearer",
            "Bearer ",
            "Bearerbo_1_x",
            "bo_1_x",
        ] {
            assert_eq!(bearer_token(value), None, "{value:?}");
        }
    }
}
