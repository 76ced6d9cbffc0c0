//! GraphQL objects of identity and access.

use async_graphql::{InputObject, SimpleObject};
use chrono::{DateTime, FixedOffset};
use uuid::Uuid;

use super::Role;
use super::service::TokenRecord;

pub struct Viewer(pub super::Identity);

/// Who is calling, and what their token lets them do.
#[async_graphql::Object]
impl Viewer {
    /// The caller's user id.
    async fn user_id(&self) -> &str {
        &self.0.user_id
    }
    /// The caller's roles.
    async fn roles(&self) -> &[Role] {
        &self.0.roles
    }
    /// Whether this request acts as an admin (an admin's token with neither a project nor
    /// fewer capabilities).
    async fn is_admin(&self) -> bool {
        self.0.is_admin()
    }
    /// The one project the token is limited to, if any.
    async fn token_project(
        &self,
        ctx: &async_graphql::Context<'_>,
    ) -> async_graphql::Result<Option<crate::projects::types::Project>> {
        match self.0.scope.project {
            Some(id) => Ok(crate::projects::loaders::project(ctx, id)
                .await?
                .map(crate::projects::types::Project)),
            None => Ok(None),
        }
    }
    /// What the token may do (all four when it is not limited).
    async fn capabilities(&self) -> Vec<super::Capability> {
        use super::Capability::*;
        [Read, Report, Write, Admin]
            .into_iter()
            .filter(|c| self.0.allows(*c))
            .collect()
    }
    /// The projects the caller belongs to (within the token's project, if it has one), by
    /// key, with their role in each.
    async fn projects(
        &self,
        ctx: &async_graphql::Context<'_>,
    ) -> crate::error::AppResult<Vec<crate::projects::types::ProjectMembership>> {
        let db = super::context::request_db(ctx)?;
        let conn = db.conn().await?;
        Ok(
            crate::projects::service::memberships(&*conn, &self.0.user_id)
                .await?
                .into_iter()
                .filter(|(p, _)| self.0.scope.project.is_none_or(|id| id == p.id))
                .map(
                    |(project, role)| crate::projects::types::ProjectMembership {
                        project: crate::projects::types::Project(project),
                        role,
                    },
                )
                .collect(),
        )
    }
}

/// An API token (never its secret).
#[derive(SimpleObject)]
#[graphql(complex)]
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
    /// What it may do; null when not limited (everything its roles allow).
    pub capabilities: Option<Vec<super::Capability>>,
    /// The one project it acts in, if limited to one.
    #[graphql(skip)]
    pub project_id: Option<Uuid>,
}

#[async_graphql::ComplexObject]
impl ApiToken {
    /// The one project it acts in; null when not limited (or the project is not visible).
    async fn project(
        &self,
        ctx: &async_graphql::Context<'_>,
    ) -> async_graphql::Result<Option<crate::projects::types::Project>> {
        match self.project_id {
            Some(id) => Ok(crate::projects::loaders::project(ctx, id)
                .await?
                .map(crate::projects::types::Project)),
            None => Ok(None),
        }
    }
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
            capabilities: r.capabilities,
            project_id: r.project_id,
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
    /// The one project it may act in (its key; default: not limited). A project's token is
    /// for a member of it, or an admin (who acts there as a maintainer).
    pub project_key: Option<String>,
    /// What it may do (default: everything its roles allow). A CI job reporting results
    /// needs only `REPORT`.
    pub capabilities: Option<Vec<super::Capability>>,
}
