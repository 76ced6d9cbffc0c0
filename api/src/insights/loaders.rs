//! The insights' relations, each read for a whole level of parents at once
//! ([`crate::loader`]): the runs of a page get their baselines in one statement, their
//! comparisons in another, and the streaks of their still-failing cases in a third.

use std::collections::HashMap;
use std::sync::Arc;

use async_graphql::Context;
use entity::test_run;
use sea_orm::DatabaseTransaction;
use uuid::Uuid;

use super::compare::{self, Compared, Request, Streak};
use crate::error::AppResult;
use crate::loader::{Batch, load_one};

/// The baseline of each run.
pub struct Baselines;

impl Batch for Baselines {
    type Key = Uuid;
    type Value = test_run::Model;

    async fn read(
        conn: &DatabaseTransaction,
        keys: &[Uuid],
    ) -> AppResult<HashMap<Uuid, Self::Value>> {
        compare::baselines(conn, keys).await
    }
}

/// Comparisons of pairs of runs.
pub struct Comparisons;

impl Batch for Comparisons {
    type Key = Request;
    type Value = Arc<Compared>;

    async fn read(
        conn: &DatabaseTransaction,
        keys: &[Request],
    ) -> AppResult<HashMap<Request, Self::Value>> {
        compare::compare(conn, keys).await
    }
}

/// The failing streak of each (base run, case).
pub struct Streaks;

impl Batch for Streaks {
    type Key = (Uuid, Uuid);
    type Value = Streak;

    async fn read(
        conn: &DatabaseTransaction,
        keys: &[(Uuid, Uuid)],
    ) -> AppResult<HashMap<(Uuid, Uuid), Self::Value>> {
        compare::streaks(conn, keys).await
    }
}

/// The baseline of run `head`, if it has one.
pub async fn baseline(
    ctx: &Context<'_>,
    head: Uuid,
) -> async_graphql::Result<Option<test_run::Model>> {
    load_one::<Baselines>(ctx, head).await
}

/// The comparison `request` asks for.
pub async fn comparison(
    ctx: &Context<'_>,
    request: Request,
) -> async_graphql::Result<Option<Arc<Compared>>> {
    load_one::<Comparisons>(ctx, request).await
}

/// The failing streak of `case` up to run `base`.
pub async fn streak(
    ctx: &Context<'_>,
    base: Uuid,
    case: Uuid,
) -> async_graphql::Result<Option<Streak>> {
    load_one::<Streaks>(ctx, (base, case)).await
}
