//! Entry points of analytics.

use async_graphql::{Context, Object};
use uuid::Uuid;

use super::lists::{CaseStatsConnection, CaseStatsRow, FailingTestCase, FlakyTestCase};
use super::service;
use super::types::{DailyPassRate, FailureFilter, FailureGroup, StatsWindow};
use crate::auth::context::request_db;
use crate::catalog::types::TestCase;
use crate::error::AppResult;

#[derive(Default)]
pub struct AnalyticsQuery;

#[Object]
impl AnalyticsQuery {
    /// The flakiest cases: among cases that failed in the last `days`, the highest flaky scores
    /// (those whose outcome flipped or that passed on a retry); with `classification`, the
    /// cases of that class instead, highest scores first.
    async fn flakiest_test_cases(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "How many (1 to 500).", default = 50)] limit: i32,
        #[graphql(desc = "Executions per case the score looks at.", default = 20)] last_n: i32,
        #[graphql(desc = "Days of history considered.", default = 30)] days: i32,
        #[graphql(desc = "Only this project's cases (its key).")] project_key: Option<String>,
        #[graphql(desc = "Only cases of this classification (BROKEN ones included).")]
        classification: Option<super::types::FlakyClassification>,
    ) -> async_graphql::Result<Vec<FlakyTestCase>> {
        let rows = {
            let db = request_db(ctx)?;
            if last_n == service::SUMMARY_SAMPLE {
                // authenticated first (the refresh is work for the database), then the cases
                // changed so far recomputed in a short transaction of their own, before the
                // request's own begins: the request reads them, no other reader waits for this
                // request to end, and the request holds no idle transaction meanwhile
                crate::auth::guard::identity(ctx)?;
                if service::refresh_flakiness(db.pool_outside_request()).await? > 0 {
                    // what it recomputed is on the primary first: read it there
                    db.read_primary();
                }
            }
            let conn = db.conn().await?;
            let project =
                crate::projects::service::resolve_id(&*conn, "projectKey", project_key.as_deref())
                    .await?;
            service::flakiest(&*conn, limit, last_n, days, project, classification).await?
        };
        let cases =
            crate::catalog::loaders::cases(ctx, rows.iter().map(|(id, _)| *id).collect()).await?;
        Ok(rows
            .into_iter()
            .filter_map(|(id, flakiness)| {
                cases.get(&id).cloned().map(|case| FlakyTestCase {
                    test_case: TestCase(case),
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
        #[graphql(desc = "Only this project's cases (its key).")] project_key: Option<String>,
    ) -> async_graphql::Result<Vec<FailingTestCase>> {
        let rows = {
            let db = request_db(ctx)?;
            let conn = db.conn().await?;
            let project =
                crate::projects::service::resolve_id(&*conn, "projectKey", project_key.as_deref())
                    .await?;
            service::most_failing(&*conn, limit, days, project).await?
        };
        let cases = crate::catalog::loaders::cases(ctx, rows.iter().map(|r| r.0).collect()).await?;
        Ok(rows
            .into_iter()
            .filter_map(|(id, failures, executions, last_failure_at)| {
                cases.get(&id).cloned().map(|case| FailingTestCase {
                    test_case: TestCase(case),
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
        if filter.as_ref().is_none_or(super::failures::kept_answers) {
            // as for the flakiest list: authenticated first, then the kept groups brought up to
            // date in a short transaction of their own, before the request's statements read
            crate::auth::guard::identity(ctx)?;
            if super::failures::fold(db.pool_outside_request()).await? > 0 {
                // what it folded is on the primary first: read it there
                db.read_primary();
            }
        }
        let conn = db.conn().await?;
        let filter = crate::projects::service::resolved(&*conn, filter).await?;
        super::failures::failure_groups(&*conn, &filter, limit).await
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
            crate::catalog::inputs::TestCaseFilter,
        >,
        #[graphql(desc = "Which executions count.")] window: Option<StatsWindow>,
        #[graphql(desc = "Ordering (default: failure rate, highest first).")] order_by: Option<
            super::types::CaseStatsOrder,
        >,
        #[graphql(desc = "Page size (default 20, at most 100).")] first: Option<i32>,
        #[graphql(desc = "Cursor after which the page starts.")] after: Option<String>,
    ) -> AppResult<CaseStatsConnection> {
        let db = request_db(ctx)?;
        let conn = db.conn().await?;
        let args = crate::pagination::PageArgs {
            first,
            after,
            last: None,
            before: None,
        };
        let filter = crate::projects::service::resolved(&*conn, filter).await?;
        let (fetched, total) = service::stats_page(
            &*conn,
            &filter,
            &window.unwrap_or_default(),
            order_by,
            &args,
        )
        .await?;
        Ok(crate::connection::plain(fetched, total, |(case, stats)| {
            CaseStatsRow {
                test_case: TestCase(case),
                stats,
            }
        }))
    }
}
