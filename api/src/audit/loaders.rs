//! The history of each of a level of records, in one statement ([`crate::loader`]).

use std::collections::HashMap;

use async_graphql::Context;
use sea_orm::DatabaseTransaction;
use uuid::Uuid;

use super::service;
use super::types::{AuditEntry, AuditEntryConnection, AuditedType};
use crate::connection::plain;
use crate::error::{AppError, AppResult};
use crate::loader::{Batch, load_one};
use crate::pagination::{Fetched, PageArgs};
use crate::sql::Total;

/// A page of the history of each record, with its count.
pub struct HistoryOf;

impl Batch for HistoryOf {
    type Key = ((&'static str, Uuid), PageArgs);
    type Value = (Fetched<AuditEntry>, i64);

    async fn read(
        conn: &DatabaseTransaction,
        keys: &[Self::Key],
    ) -> AppResult<HashMap<Self::Key, Self::Value>> {
        service::history_pages(conn, keys).await
    }
}

/// The history of one record of type `ty`, newest first.
pub async fn history(
    ctx: &Context<'_>,
    ty: AuditedType,
    record: Uuid,
    first: Option<i32>,
    after: Option<String>,
) -> async_graphql::Result<AuditEntryConnection> {
    let args = PageArgs {
        first,
        after,
        last: None,
        before: None,
    };
    let (fetched, total) = load_one::<HistoryOf>(ctx, ((ty.table(), record), args))
        .await?
        .ok_or_else(|| AppError::internal("history page missing"))?;
    Ok(plain(fetched, Total::Known(total), |e| e))
}
