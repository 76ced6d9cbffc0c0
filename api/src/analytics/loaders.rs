//! Analytics of each of a level of cases, runs or suites, in one statement per level
//! ([`crate::loader`]).

use std::collections::HashMap;

use async_graphql::Context;
use sea_orm::DatabaseTransaction;
use uuid::Uuid;

use super::service;
use super::types::{CaseStats, FailingStep, Flakiness, RunStats, StatsWindow, SuiteStats};
use crate::error::{AppError, AppResult};
use crate::input::check_range;
use crate::loader::{Batch, load_one};

/// Statistics of cases, batched per window (the window's JSON as part of the key).
pub struct StatsOfCase;

impl Batch for StatsOfCase {
    type Key = (Uuid, String);
    type Value = CaseStats;

    async fn read(
        conn: &DatabaseTransaction,
        keys: &[(Uuid, String)],
    ) -> AppResult<HashMap<(Uuid, String), CaseStats>> {
        let mut groups: HashMap<&String, Vec<Uuid>> = HashMap::new();
        for (case, window) in keys {
            groups.entry(window).or_default().push(*case);
        }
        let mut out = HashMap::new();
        for (window_key, cases) in groups {
            let window: StatsWindow =
                serde_json::from_str(window_key).map_err(AppError::internal)?;
            let stats = service::case_stats(conn, &cases, &window).await?;
            for case in cases {
                out.insert(
                    (case, window_key.clone()),
                    stats.get(&case).cloned().unwrap_or_default(),
                );
            }
        }
        Ok(out)
    }
}

/// Flakiness of cases, batched per sample size.
pub struct FlakinessOfCase;

impl Batch for FlakinessOfCase {
    type Key = (Uuid, i32);
    type Value = Flakiness;

    async fn read(
        conn: &DatabaseTransaction,
        keys: &[(Uuid, i32)],
    ) -> AppResult<HashMap<(Uuid, i32), Flakiness>> {
        let mut groups: HashMap<i32, Vec<Uuid>> = HashMap::new();
        for (case, n) in keys {
            groups.entry(*n).or_default().push(*case);
        }
        let mut out = HashMap::new();
        for (n, cases) in groups {
            let found = service::flakiness(conn, &cases, n).await?;
            for case in cases {
                out.insert((case, n), found.get(&case).cloned().unwrap_or_default());
            }
        }
        Ok(out)
    }
}

/// A case's statistics (through the loader).
pub async fn case_stats(
    ctx: &Context<'_>,
    case: Uuid,
    window: StatsWindow,
) -> async_graphql::Result<CaseStats> {
    let key = serde_json::to_string(&window).map_err(AppError::internal)?;
    Ok(load_one::<StatsOfCase>(ctx, (case, key))
        .await?
        .unwrap_or_default())
}

/// A case's flakiness (through the loader).
pub async fn case_flakiness(
    ctx: &Context<'_>,
    case: Uuid,
    last_n: i32,
) -> async_graphql::Result<Flakiness> {
    check_range("lastN", last_n, 2, service::MAX_FLAKINESS_SAMPLE)?;
    Ok(load_one::<FlakinessOfCase>(ctx, (case, last_n))
        .await?
        .unwrap_or_default())
}

/// The failing steps of each case.
pub struct FailingStepsOfCase;

impl Batch for FailingStepsOfCase {
    type Key = Uuid;
    type Value = Vec<FailingStep>;

    async fn read(
        conn: &DatabaseTransaction,
        keys: &[Uuid],
    ) -> AppResult<HashMap<Uuid, Self::Value>> {
        service::failing_steps(conn, keys).await
    }
}

/// Aggregates of each run.
pub struct StatsOfRun;

impl Batch for StatsOfRun {
    type Key = Uuid;
    type Value = RunStats;

    async fn read(conn: &DatabaseTransaction, keys: &[Uuid]) -> AppResult<HashMap<Uuid, RunStats>> {
        service::run_stats(conn, keys).await
    }
}

/// Aggregates of each suite's runs, batched per window of days.
pub struct StatsOfSuite;

impl Batch for StatsOfSuite {
    type Key = (Uuid, Option<i32>);
    type Value = SuiteStats;

    async fn read(
        conn: &DatabaseTransaction,
        keys: &[(Uuid, Option<i32>)],
    ) -> AppResult<HashMap<(Uuid, Option<i32>), SuiteStats>> {
        let mut groups: HashMap<Option<i32>, Vec<Uuid>> = HashMap::new();
        for (suite, days) in keys {
            groups.entry(*days).or_default().push(*suite);
        }
        let mut out = HashMap::new();
        for (days, suites) in groups {
            for (suite, stats) in service::suite_stats(conn, &suites, days).await? {
                out.insert((suite, days), stats);
            }
        }
        Ok(out)
    }
}

/// A case's failing steps (through the loader).
pub async fn failing_steps(
    ctx: &Context<'_>,
    case: Uuid,
) -> async_graphql::Result<Vec<FailingStep>> {
    Ok(load_one::<FailingStepsOfCase>(ctx, case)
        .await?
        .unwrap_or_default())
}

/// A run's aggregates (through the loader).
pub async fn run_stats(ctx: &Context<'_>, run: Uuid) -> async_graphql::Result<RunStats> {
    load_one::<StatsOfRun>(ctx, run)
        .await?
        .ok_or_else(|| AppError::internal("run stats missing").into())
}

/// A suite's aggregates (through the loader).
pub async fn suite_stats(
    ctx: &Context<'_>,
    suite: Uuid,
    days: Option<i32>,
) -> async_graphql::Result<SuiteStats> {
    load_one::<StatsOfSuite>(ctx, (suite, days))
        .await?
        .ok_or_else(|| AppError::internal("suite stats missing").into())
}
