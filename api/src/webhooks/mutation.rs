//! Write entry points of webhooks.

use async_graphql::{Context, Object};
use uuid::Uuid;

use super::service;
use super::types::{CreateWebhookInput, UpdateWebhookInput, Webhook, WebhookDelivery};
use crate::auth::context::request_db;
use crate::error::AppResult;

#[derive(Default)]
pub struct WebhooksMutation;

#[Object]
impl WebhooksMutation {
    /// Subscribes a URL to a project's events (its maintainers, or an admin). Events raised
    /// from then on are POSTed to it, signed with the secret.
    async fn create_webhook(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Its URL, secret, events, format and project.")] input: CreateWebhookInput,
    ) -> AppResult<Webhook> {
        let identity = crate::auth::guard::identity(ctx)?;
        let db = request_db(ctx)?;
        let webhook = db
            .write(|tx| Box::pin(async move { service::create(tx, &identity, input).await }))
            .await?;
        Ok(Webhook(webhook))
    }

    /// Changes a webhook (its project's maintainers, or an admin).
    async fn update_webhook(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The webhook's id.")] id: Uuid,
        #[graphql(desc = "What changes.")] input: UpdateWebhookInput,
    ) -> AppResult<Webhook> {
        let identity = crate::auth::guard::identity(ctx)?;
        let db = request_db(ctx)?;
        let webhook = db
            .write(|tx| Box::pin(async move { service::update(tx, &identity, id, input).await }))
            .await?;
        Ok(Webhook(webhook))
    }

    /// Deletes a webhook with its delivery log (its project's maintainers, or an admin);
    /// returns its id.
    async fn delete_webhook(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The webhook's id.")] id: Uuid,
    ) -> AppResult<Uuid> {
        let identity = crate::auth::guard::identity(ctx)?;
        let db = request_db(ctx)?;
        db.write(|tx| Box::pin(async move { service::delete(tx, &identity, id).await }))
            .await
    }

    /// Sends a failed delivery once more, as it was (same id, same envelope); CONFLICT unless
    /// it failed.
    async fn redeliver_webhook_delivery(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The delivery's id.")] id: Uuid,
    ) -> AppResult<WebhookDelivery> {
        let identity = crate::auth::guard::identity(ctx)?;
        let db = request_db(ctx)?;
        let delivery = db
            .write(|tx| Box::pin(async move { service::redeliver(tx, &identity, id).await }))
            .await?;
        Ok(WebhookDelivery(delivery))
    }

    /// Sends a `ping` event to a webhook, whatever events it subscribes to, to check that its
    /// receiver answers and verifies the signature; the delivery shows how it went.
    async fn test_webhook(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The webhook's id.")] id: Uuid,
    ) -> AppResult<WebhookDelivery> {
        let identity = crate::auth::guard::identity(ctx)?;
        let db = request_db(ctx)?;
        let delivery = db
            .write(|tx| Box::pin(async move { service::ping(tx, &identity, id).await }))
            .await?;
        Ok(WebhookDelivery(delivery))
    }
}
