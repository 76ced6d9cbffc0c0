//! The catalogue's relations, each read for a whole level of parents at once
//! ([`crate::loader`]).

use std::collections::HashMap;

use async_graphql::Context;
use entity::{configuration, test_case, test_step, test_suite};
use sea_orm::DatabaseTransaction;
use uuid::Uuid;

use super::service;
use crate::error::{AppError, AppResult};
use crate::loader::{Batch, ById, load_many, load_one};
use crate::pagination::{Fetched, PageArgs};

/// The steps of each case, in order.
pub struct StepsOfCase;

impl Batch for StepsOfCase {
    type Key = Uuid;
    type Value = Vec<test_step::Model>;

    async fn read(
        conn: &DatabaseTransaction,
        keys: &[Uuid],
    ) -> AppResult<HashMap<Uuid, Self::Value>> {
        service::steps::of_cases(conn, keys).await
    }
}

/// The aliases of each case.
pub struct AliasesOfCase;

impl Batch for AliasesOfCase {
    type Key = Uuid;
    type Value = Vec<String>;

    async fn read(
        conn: &DatabaseTransaction,
        keys: &[Uuid],
    ) -> AppResult<HashMap<Uuid, Self::Value>> {
        service::identity::aliases_of(conn, keys).await
    }
}

/// The suites of each case, by name.
pub struct SuitesOfCase;

impl Batch for SuitesOfCase {
    type Key = Uuid;
    type Value = Vec<test_suite::Model>;

    async fn read(
        conn: &DatabaseTransaction,
        keys: &[Uuid],
    ) -> AppResult<HashMap<Uuid, Self::Value>> {
        service::suites::of_cases(conn, keys).await
    }
}

/// A page of each suite's test cases, in the suite's order, with the suite's count.
pub struct CasesOfSuite;

impl Batch for CasesOfSuite {
    type Key = (Uuid, PageArgs);
    type Value = (Fetched<(i32, test_case::Model)>, i64);

    async fn read(
        conn: &DatabaseTransaction,
        keys: &[(Uuid, PageArgs)],
    ) -> AppResult<HashMap<(Uuid, PageArgs), Self::Value>> {
        service::suites::case_pages(conn, keys).await
    }
}

/// Several cases by id, in one batch.
pub async fn cases(
    ctx: &Context<'_>,
    ids: Vec<Uuid>,
) -> async_graphql::Result<HashMap<Uuid, test_case::Model>> {
    load_many::<ById<test_case::Model>>(ctx, ids).await
}

pub async fn case(ctx: &Context<'_>, id: Uuid) -> async_graphql::Result<Option<test_case::Model>> {
    load_one::<ById<test_case::Model>>(ctx, id).await
}

pub async fn configuration(
    ctx: &Context<'_>,
    id: Uuid,
) -> async_graphql::Result<Option<configuration::Model>> {
    load_one::<ById<configuration::Model>>(ctx, id).await
}

pub async fn steps_of_case(
    ctx: &Context<'_>,
    id: Uuid,
) -> async_graphql::Result<Vec<test_step::Model>> {
    Ok(load_one::<StepsOfCase>(ctx, id).await?.unwrap_or_default())
}

pub async fn aliases_of_case(ctx: &Context<'_>, id: Uuid) -> async_graphql::Result<Vec<String>> {
    Ok(load_one::<AliasesOfCase>(ctx, id)
        .await?
        .unwrap_or_default())
}

pub async fn suites_of_case(
    ctx: &Context<'_>,
    id: Uuid,
) -> async_graphql::Result<Vec<test_suite::Model>> {
    Ok(load_one::<SuitesOfCase>(ctx, id).await?.unwrap_or_default())
}

/// A page of a suite's cases with their positions, and the suite's count.
pub async fn suite_cases_page(
    ctx: &Context<'_>,
    suite: Uuid,
    args: PageArgs,
) -> async_graphql::Result<(Fetched<(i32, test_case::Model)>, i64)> {
    Ok(load_one::<CasesOfSuite>(ctx, (suite, args))
        .await?
        .ok_or_else(|| AppError::internal("suite page missing"))?)
}
