//! Read entry points of identity and access.

use async_graphql::{Context, Object};

use super::service;
use super::types::{ApiToken, Viewer};
use crate::auth::context::request_db;
use crate::error::AppResult;

#[derive(Default)]
pub struct AuthQuery;

#[Object]
impl AuthQuery {
    /// The caller's identity.
    async fn viewer(&self, ctx: &Context<'_>) -> AppResult<Viewer> {
        Ok(Viewer(super::guard::identity(ctx)?))
    }

    /// API tokens: all of them for an admin, one's own for a member; newest first.
    async fn api_tokens(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Only the tokens of this user.")] user_id: Option<String>,
    ) -> AppResult<Vec<ApiToken>> {
        super::guard::identity(ctx)?;
        let db = request_db(ctx)?;
        let conn = db.conn().await?;
        Ok(service::list(&*conn, user_id.as_deref())
            .await?
            .into_iter()
            .map(ApiToken::from)
            .collect())
    }
}
