//! Webhooks' relations, each read for a whole level of parents at once ([`crate::loader`]).

use std::collections::HashMap;

use async_graphql::Context;
use sea_orm::DatabaseTransaction;
use uuid::Uuid;

use super::service::{self, AttemptRow, DeliveryPages, DeliveryRow};
use super::types::WebhookDeliveryStatus;
use crate::error::{AppError, AppResult};
use crate::loader::{Batch, load_one};
use crate::pagination::{Fetched, PageArgs};

/// A page of each webhook's deliveries, with its count.
pub struct DeliveriesOfWebhook;

impl Batch for DeliveriesOfWebhook {
    type Key = (Uuid, PageArgs, Option<WebhookDeliveryStatus>);
    type Value = (Fetched<DeliveryRow>, i64);

    async fn read(conn: &DatabaseTransaction, keys: &[Self::Key]) -> AppResult<DeliveryPages> {
        service::delivery_pages(conn, keys).await
    }
}

/// The attempts of each delivery.
pub struct AttemptsOfDelivery;

impl Batch for AttemptsOfDelivery {
    type Key = Uuid;
    type Value = Vec<AttemptRow>;

    async fn read(
        conn: &DatabaseTransaction,
        keys: &[Uuid],
    ) -> AppResult<HashMap<Uuid, Self::Value>> {
        service::attempts_of(conn, keys).await
    }
}

pub async fn deliveries_page(
    ctx: &Context<'_>,
    webhook: Uuid,
    args: PageArgs,
    status: Option<WebhookDeliveryStatus>,
) -> async_graphql::Result<(Fetched<DeliveryRow>, i64)> {
    Ok(
        load_one::<DeliveriesOfWebhook>(ctx, (webhook, args, status))
            .await?
            .ok_or_else(|| AppError::internal("delivery page missing"))?,
    )
}

pub async fn attempts(ctx: &Context<'_>, delivery: Uuid) -> async_graphql::Result<Vec<AttemptRow>> {
    Ok(load_one::<AttemptsOfDelivery>(ctx, delivery)
        .await?
        .unwrap_or_default())
}
