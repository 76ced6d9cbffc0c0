//! GraphQL objects of identity and access.

use async_graphql::{InputObject, SimpleObject};
use chrono::{DateTime, FixedOffset};
use uuid::Uuid;

use super::Role;
use super::service::TokenRecord;

/// Who is calling.
#[derive(SimpleObject)]
pub struct Viewer {
    /// The caller's user id.
    pub user_id: String,
    /// The caller's roles.
    pub roles: Vec<Role>,
}

/// An API token (never its secret).
#[derive(SimpleObject)]
pub struct ApiToken {
    /// Unique id (also the public part of the token).
    pub id: Uuid,
    /// User the token authenticates as.
    pub user_id: String,
    /// What the token is for.
    pub name: Option<String>,
    /// Roles it grants.
    pub roles: Vec<Role>,
    /// When it was created.
    pub created_at: DateTime<FixedOffset>,
    /// When it was last used (to the minute).
    pub last_used_at: Option<DateTime<FixedOffset>>,
    /// When it stops working, if ever.
    pub expires_at: Option<DateTime<FixedOffset>>,
    /// When it was revoked, if it was.
    pub revoked_at: Option<DateTime<FixedOffset>>,
}

impl From<TokenRecord> for ApiToken {
    fn from(r: TokenRecord) -> Self {
        Self {
            id: r.id,
            user_id: r.user_id,
            name: r.name,
            roles: r.roles,
            created_at: r.created_at,
            last_used_at: r.last_used_at,
            expires_at: r.expires_at,
            revoked_at: r.revoked_at,
        }
    }
}

/// A token just created: the token text is shown this once.
#[derive(SimpleObject)]
pub struct CreatedApiToken {
    /// The token to send as `Authorization: Bearer <token>`. Not retrievable later.
    pub token: String,
    /// Its record.
    pub api_token: ApiToken,
}

/// A new API token.
#[derive(InputObject)]
pub struct CreateApiTokenInput {
    /// User the token authenticates as.
    pub user_id: String,
    /// Roles it grants.
    pub roles: Vec<Role>,
    /// What it is for.
    pub name: Option<String>,
    /// When it stops working (default: never).
    pub expires_at: Option<DateTime<FixedOffset>>,
}
