//! The runs' relations, each read for a whole level of parents at once ([`crate::loader`]).

use std::collections::HashMap;

use async_graphql::Context;
use entity::{test_artifact, test_execution, test_run, test_step, test_step_execution, test_suite};
use sea_orm::DatabaseTransaction;
use uuid::Uuid;

use super::service::relations;
pub use super::service::relations::ExecutionParent;
use crate::error::{AppError, AppResult};
use crate::loader::{Batch, ById, load_one};
use crate::pagination::{Fetched, PageArgs};

/// The step results of each execution, in step order.
pub struct StepExecutionsOf;

impl Batch for StepExecutionsOf {
    type Key = Uuid;
    type Value = Vec<test_step_execution::Model>;

    async fn read(
        conn: &DatabaseTransaction,
        keys: &[Uuid],
    ) -> AppResult<HashMap<Uuid, Self::Value>> {
        relations::step_executions_of(conn, keys).await
    }
}

/// The artifacts of each execution itself.
pub struct ArtifactsOfExecution;

impl Batch for ArtifactsOfExecution {
    type Key = Uuid;
    type Value = Vec<test_artifact::Model>;

    async fn read(
        conn: &DatabaseTransaction,
        keys: &[Uuid],
    ) -> AppResult<HashMap<Uuid, Self::Value>> {
        relations::artifacts_of_executions(conn, keys).await
    }
}

/// The artifacts of each step result.
pub struct ArtifactsOfStepExecution;

impl Batch for ArtifactsOfStepExecution {
    type Key = Uuid;
    type Value = Vec<test_artifact::Model>;

    async fn read(
        conn: &DatabaseTransaction,
        keys: &[Uuid],
    ) -> AppResult<HashMap<Uuid, Self::Value>> {
        relations::artifacts_of_step_executions(conn, keys).await
    }
}

/// The latest execution of each case.
pub struct LastExecutionOf;

impl Batch for LastExecutionOf {
    type Key = Uuid;
    type Value = test_execution::Model;

    async fn read(
        conn: &DatabaseTransaction,
        keys: &[Uuid],
    ) -> AppResult<HashMap<Uuid, Self::Value>> {
        relations::last_executions_of(conn, keys).await
    }
}

/// A page of executions of each run or case, with its count.
pub struct ExecutionsOf;

impl Batch for ExecutionsOf {
    type Key = ((ExecutionParent, Uuid), PageArgs);
    type Value = (Fetched<test_execution::Model>, i64);

    async fn read(
        conn: &DatabaseTransaction,
        keys: &[Self::Key],
    ) -> AppResult<HashMap<Self::Key, Self::Value>> {
        relations::execution_pages(conn, keys).await
    }
}

pub async fn run(ctx: &Context<'_>, id: Uuid) -> async_graphql::Result<Option<test_run::Model>> {
    load_one::<ById<test_run::Model>>(ctx, id).await
}

pub async fn suite(
    ctx: &Context<'_>,
    id: Uuid,
) -> async_graphql::Result<Option<test_suite::Model>> {
    load_one::<ById<test_suite::Model>>(ctx, id).await
}

pub async fn step(ctx: &Context<'_>, id: Uuid) -> async_graphql::Result<Option<test_step::Model>> {
    load_one::<ById<test_step::Model>>(ctx, id).await
}

pub async fn step_executions(
    ctx: &Context<'_>,
    id: Uuid,
) -> async_graphql::Result<Vec<test_step_execution::Model>> {
    Ok(load_one::<StepExecutionsOf>(ctx, id)
        .await?
        .unwrap_or_default())
}

pub async fn execution_artifacts(
    ctx: &Context<'_>,
    id: Uuid,
) -> async_graphql::Result<Vec<test_artifact::Model>> {
    Ok(load_one::<ArtifactsOfExecution>(ctx, id)
        .await?
        .unwrap_or_default())
}

pub async fn step_execution_artifacts(
    ctx: &Context<'_>,
    id: Uuid,
) -> async_graphql::Result<Vec<test_artifact::Model>> {
    Ok(load_one::<ArtifactsOfStepExecution>(ctx, id)
        .await?
        .unwrap_or_default())
}

pub async fn last_execution(
    ctx: &Context<'_>,
    case: Uuid,
) -> async_graphql::Result<Option<test_execution::Model>> {
    load_one::<LastExecutionOf>(ctx, case).await
}

/// A page of a run's or a case's executions, and its count.
pub async fn executions_page(
    ctx: &Context<'_>,
    parent: ExecutionParent,
    id: Uuid,
    args: PageArgs,
) -> async_graphql::Result<(Fetched<test_execution::Model>, i64)> {
    Ok(load_one::<ExecutionsOf>(ctx, ((parent, id), args))
        .await?
        .ok_or_else(|| AppError::internal("execution page missing"))?)
}
