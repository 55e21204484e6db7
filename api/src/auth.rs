//! Authentication (who calls: a bearer API token, kept only as a SHA-256 of its secret) kept
//! apart from authorization (may they: a permission per action, granted through roles). ADR
//! 0008 has the role matrix and why tokens are hashed with SHA-256 rather than a password hash.

use axum::{extract::FromRequestParts, http::request::Parts};
use eventlog::{EventLog, StorageError};
use serde::Serialize;
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

pub use domain::user::Role;

/// What a role may do.
pub trait Grants {
    /// Whether the role grants `permission`.
    fn grants(self, permission: Permission) -> bool;
}

impl Grants for Role {
    /// Whether the role grants `permission` (the matrix of ADR 0008).
    fn grants(self, permission: Permission) -> bool {
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

/// A new token for user `user_id`.
pub(crate) async fn create_token(log: &EventLog, user_id: &str) -> Result<String, StorageError> {
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
