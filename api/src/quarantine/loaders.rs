//! The active quarantine of each of a level of cases, in one statement ([`crate::loader`]).

use std::collections::HashMap;

use async_graphql::Context;
use sea_orm::DatabaseTransaction;
use uuid::Uuid;

use super::service::{self, Quarantine};
use crate::error::AppResult;
use crate::loader::{Batch, load_one};

/// The active quarantine of each case.
pub struct ActiveQuarantineOfCase;

impl Batch for ActiveQuarantineOfCase {
    type Key = Uuid;
    type Value = Quarantine;

    async fn read(
        conn: &DatabaseTransaction,
        keys: &[Uuid],
    ) -> AppResult<HashMap<Uuid, Quarantine>> {
        service::active_of(conn, keys).await
    }
}

/// A case's active quarantine, if it has one (through the loader).
pub async fn active(
    ctx: &Context<'_>,
    case: Uuid,
) -> async_graphql::Result<Option<super::types::TestCaseQuarantine>> {
    Ok(load_one::<ActiveQuarantineOfCase>(ctx, case)
        .await?
        .map(super::types::TestCaseQuarantine))
}
