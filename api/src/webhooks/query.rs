//! Read entry points of webhooks.

use async_graphql::{Context, Object};
use uuid::Uuid;

use super::service;
use super::types::Webhook;
use crate::auth::context::request_db;
use crate::error::AppResult;

#[derive(Default)]
pub struct WebhooksQuery;

#[Object]
impl WebhooksQuery {
    /// The webhooks of a project, oldest first (its maintainers, or an admin).
    async fn webhooks(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The project's key.")] project_key: String,
    ) -> AppResult<Vec<Webhook>> {
        let identity = crate::auth::guard::identity(ctx)?;
        let db = request_db(ctx)?;
        let conn = db.conn().await?;
        Ok(service::list(&*conn, &identity, "projectKey", &project_key)
            .await?
            .into_iter()
            .map(Webhook)
            .collect())
    }

    /// A webhook by id; null when it does not exist or the caller does not manage it.
    async fn webhook(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The webhook's id.")] id: Uuid,
    ) -> AppResult<Option<Webhook>> {
        crate::auth::guard::identity(ctx)?;
        let db = request_db(ctx)?;
        let conn = db.conn().await?;
        Ok(service::by_id(&*conn, id).await?.map(Webhook))
    }
}
