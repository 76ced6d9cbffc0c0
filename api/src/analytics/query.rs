//! Entry points of analytics, and the loaders that batch per-case statistics over a page.

use std::collections::HashMap;
use std::sync::Arc;

use async_graphql::dataloader::{DataLoader, Loader};
use async_graphql::{Context, Object};
use uuid::Uuid;

use super::service;
use super::types::{
    CaseStats, DailyPassRate, FailingTestCase, FailureFilter, FailureGroup, Flakiness,
    FlakyTestCase, StatsWindow,
};
use crate::auth::RequestDb;
use crate::auth::context::request_db;
use crate::catalog::types::TestCase;
use crate::error::{AppError, AppResult};

/// Statistics of cases, batched per window.
pub struct CaseStatsLoader(pub Arc<RequestDb>);

impl Loader<(Uuid, String)> for CaseStatsLoader {
    type Value = CaseStats;
    type Error = async_graphql::Error;

    async fn load(
        &self,
        keys: &[(Uuid, String)],
    ) -> Result<HashMap<(Uuid, String), CaseStats>, Self::Error> {
        let mut groups: HashMap<&String, Vec<Uuid>> = HashMap::new();
        for (case, window) in keys {
            groups.entry(window).or_default().push(*case);
        }
        let mut out = HashMap::new();
        for (window_key, cases) in groups {
            let window: StatsWindow =
                serde_json::from_str(window_key).map_err(AppError::internal)?;
            let conn = self.0.conn().await?;
            let stats = service::case_stats(&*conn, &cases, &window).await?;
            drop(conn);
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
pub struct FlakinessLoader(pub Arc<RequestDb>);

impl Loader<(Uuid, i32)> for FlakinessLoader {
    type Value = Flakiness;
    type Error = async_graphql::Error;

    async fn load(
        &self,
        keys: &[(Uuid, i32)],
    ) -> Result<HashMap<(Uuid, i32), Flakiness>, Self::Error> {
        let mut groups: HashMap<i32, Vec<Uuid>> = HashMap::new();
        for (case, n) in keys {
            groups.entry(*n).or_default().push(*case);
        }
        let mut out = HashMap::new();
        for (n, cases) in groups {
            let conn = self.0.conn().await?;
            let found = service::flakiness(&*conn, &cases, n).await?;
            drop(conn);
            for case in cases {
                let f = found.get(&case).cloned().unwrap_or(Flakiness {
                    flaky_score: 0.0,
                    reasons: vec![],
                    sample_size: 0,
                    flips: 0,
                    failures: 0,
                    passed_on_retry: 0,
                });
                out.insert((case, n), f);
            }
        }
        Ok(out)
    }
}

/// Adds the analytics loaders to a request.
pub fn register(
    req: async_graphql::Request,
    db: &Arc<RequestDb>,
    activity: &crate::catalog::loaders::LoadActivity,
) -> async_graphql::Request {
    req.data(activity.loader(CaseStatsLoader(db.clone())))
        .data(activity.loader(FlakinessLoader(db.clone())))
}

fn touch(ctx: &Context<'_>) {
    if let Ok(activity) = ctx.data::<crate::catalog::loaders::LoadActivity>() {
        activity.touch();
    }
}

/// A case's statistics (through the loader).
pub async fn case_stats(
    ctx: &Context<'_>,
    case: Uuid,
    window: StatsWindow,
) -> async_graphql::Result<CaseStats> {
    let key = serde_json::to_string(&window).map_err(AppError::internal)?;
    touch(ctx);
    let loader = ctx
        .data::<DataLoader<CaseStatsLoader>>()
        .map_err(|_| AppError::internal("stats loader missing"))?;
    Ok(loader.load_one((case, key)).await?.unwrap_or_default())
}

/// A case's flakiness (through the loader).
pub async fn case_flakiness(
    ctx: &Context<'_>,
    case: Uuid,
    last_n: i32,
) -> async_graphql::Result<Flakiness> {
    if !(2..=service::MAX_FLAKINESS_SAMPLE).contains(&last_n) {
        return Err(AppError::bad_input(
            "lastN",
            format!(
                "lastN must be between 2 and {}",
                service::MAX_FLAKINESS_SAMPLE
            ),
        )
        .into());
    }
    touch(ctx);
    let loader = ctx
        .data::<DataLoader<FlakinessLoader>>()
        .map_err(|_| AppError::internal("flakiness loader missing"))?;
    loader
        .load_one((case, last_n))
        .await?
        .ok_or_else(|| AppError::internal("flakiness missing").into())
}

/// The listed cases, in one statement (the catalogue's case loader).
async fn cases_by_id(
    ctx: &Context<'_>,
    ids: Vec<Uuid>,
) -> async_graphql::Result<HashMap<Uuid, TestCase>> {
    crate::catalog::loaders::cases(ctx, ids).await
}

#[derive(Default)]
pub struct AnalyticsQuery;

#[Object]
impl AnalyticsQuery {
    /// The flakiest cases: among cases that failed in the last `days`, the highest flaky scores.
    async fn flakiest_test_cases(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "How many (1 to 500).", default = 50)] limit: i32,
        #[graphql(desc = "Executions per case the score looks at.", default = 20)] last_n: i32,
        #[graphql(desc = "Days of history considered.", default = 30)] days: i32,
    ) -> async_graphql::Result<Vec<FlakyTestCase>> {
        let rows = {
            let db = request_db(ctx)?;
            if last_n == service::SUMMARY_SAMPLE {
                // authenticated first (the refresh is work for the database), then the cases
                // changed so far recomputed in a short transaction of their own, so that the
                // request reads them and no other reader waits for this request to end
                drop(db.conn().await?);
                service::refresh_flakiness(db.pool_outside_request()).await?;
            }
            let conn = db.conn().await?;
            service::flakiest(&*conn, limit, last_n, days).await?
        };
        let cases = cases_by_id(ctx, rows.iter().map(|(id, _)| *id).collect()).await?;
        Ok(rows
            .into_iter()
            .filter_map(|(id, flakiness)| {
                cases.get(&id).cloned().map(|test_case| FlakyTestCase {
                    test_case,
                    flakiness,
                })
            })
            .collect())
    }

    /// The cases with the most failures in the last `days`.
    async fn most_failing_test_cases(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "How many (1 to 500).", default = 50)] limit: i32,
        #[graphql(desc = "Days of history considered.", default = 30)] days: i32,
    ) -> async_graphql::Result<Vec<FailingTestCase>> {
        let rows = {
            let db = request_db(ctx)?;
            let conn = db.conn().await?;
            service::most_failing(&*conn, limit, days).await?
        };
        let cases = cases_by_id(ctx, rows.iter().map(|r| r.0).collect()).await?;
        Ok(rows
            .into_iter()
            .filter_map(|(id, failures, executions, last_failure_at)| {
                cases.get(&id).cloned().map(|test_case| FailingTestCase {
                    test_case,
                    failures,
                    executions,
                    last_failure_at,
                })
            })
            .collect())
    }

    /// Failures grouped by normalised error message, most frequent first.
    async fn failure_groups(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Which failures.")] filter: Option<FailureFilter>,
        #[graphql(desc = "How many groups (1 to 500).", default = 50)] limit: i32,
    ) -> AppResult<Vec<FailureGroup>> {
        let db = request_db(ctx)?;
        let conn = db.conn().await?;
        service::failure_groups(&*conn, &filter.unwrap_or_default(), limit).await
    }

    /// Daily pass rate over a date range (inclusive), of everything or of a suite or a case.
    async fn pass_rate_trend(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "First day.")] from: chrono::NaiveDate,
        #[graphql(desc = "Last day.")] to: chrono::NaiveDate,
        #[graphql(desc = "Only runs of this suite.")] suite_id: Option<Uuid>,
        #[graphql(desc = "Only this case.")] test_case_id: Option<Uuid>,
        #[graphql(desc = "Configuration slice and archive inclusion.")] window: Option<StatsWindow>,
    ) -> AppResult<Vec<DailyPassRate>> {
        let db = request_db(ctx)?;
        let conn = db.conn().await?;
        service::trend(
            &*conn,
            from,
            to,
            suite_id,
            test_case_id,
            &window.unwrap_or_default(),
        )
        .await
    }
}

#[derive(Default)]
pub struct CaseStatsQuery;

#[Object]
impl CaseStatsQuery {
    /// Statistics of the cases matching a filter, ordered by a statistic, a page at a time.
    #[allow(clippy::too_many_arguments)]
    async fn test_case_stats(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Which cases (no search).")] filter: Option<
            crate::catalog::types::TestCaseFilter,
        >,
        #[graphql(desc = "Which executions count.")] window: Option<StatsWindow>,
        #[graphql(desc = "Ordering (default: failure rate, highest first).")] order_by: Option<
            super::types::CaseStatsOrder,
        >,
        #[graphql(desc = "Page size (default 20, at most 100).")] first: Option<i32>,
        #[graphql(desc = "Cursor after which the page starts.")] after: Option<String>,
    ) -> AppResult<super::types::CaseStatsConnection> {
        let db = request_db(ctx)?;
        let conn = db.conn().await?;
        let args = crate::pagination::PageArgs {
            first,
            after,
            last: None,
            before: None,
        };
        let (rows, page_info) = service::stats_page(
            &*conn,
            &filter.unwrap_or_default(),
            &window.unwrap_or_default(),
            order_by,
            &args,
        )
        .await?;
        Ok(super::types::CaseStatsConnection {
            edges: rows
                .into_iter()
                .map(|(cursor, case, stats)| super::types::CaseStatsEdge {
                    cursor,
                    node: super::types::CaseStatsRow {
                        test_case: TestCase(case),
                        stats,
                    },
                })
                .collect(),
            page_info,
        })
    }
}
