//! Read entry points of runs and executions.

use async_graphql::{Context, Object};
use uuid::Uuid;

use super::service;
use super::types::{
    ExecutionPage, TestExecution, TestExecutionFilter, TestRun, TestRunConnection, TestRunFilter,
};
use crate::auth::context::request_db;
use crate::connection::plain;
use crate::error::AppResult;
use crate::pagination::{PageArgs, selected};

#[derive(Default)]
pub struct RunsQuery;

#[Object]
impl RunsQuery {
    /// A test run by id; null when absent.
    async fn test_run(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The run's id.")] id: Uuid,
    ) -> AppResult<Option<TestRun>> {
        let db = request_db(ctx)?;
        let conn = db.conn().await?;
        Ok(service::get_run(&*conn, id).await?.map(TestRun))
    }

    /// Test runs matching a filter, newest first, a page at a time.
    async fn test_runs(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Which runs.")] filter: Option<TestRunFilter>,
        #[graphql(desc = "Page size from the start (default 20, at most 100).")] first: Option<i32>,
        #[graphql(desc = "Cursor after which the page starts.")] after: Option<String>,
        #[graphql(desc = "Page size from the end (at most 100).")] last: Option<i32>,
        #[graphql(desc = "Cursor before which the page ends.")] before: Option<String>,
    ) -> AppResult<TestRunConnection> {
        let db = request_db(ctx)?;
        let conn = db.conn().await?;
        let args = PageArgs {
            first,
            after,
            last,
            before,
        };
        let filter = crate::projects::service::resolved(&*conn, filter).await?;
        let (rows, total) = service::lists::runs(&*conn, filter, &args, selected(ctx)).await?;
        Ok(plain(rows, total, TestRun))
    }

    /// A test execution by id; null when absent.
    async fn test_execution(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The execution's id.")] id: Uuid,
    ) -> AppResult<Option<TestExecution>> {
        let db = request_db(ctx)?;
        let conn = db.conn().await?;
        Ok(service::get_execution(&*conn, id).await?.map(TestExecution))
    }

    /// Test executions matching a filter, newest first, a page at a time.
    async fn test_executions(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Which executions.")] filter: Option<TestExecutionFilter>,
        #[graphql(desc = "Page size from the start (default 20, at most 100).")] first: Option<i32>,
        #[graphql(desc = "Cursor after which the page starts.")] after: Option<String>,
        #[graphql(desc = "Page size from the end (at most 100).")] last: Option<i32>,
        #[graphql(desc = "Cursor before which the page ends.")] before: Option<String>,
    ) -> AppResult<ExecutionPage> {
        let db = request_db(ctx)?;
        let conn = db.conn().await?;
        let args = PageArgs {
            first,
            after,
            last,
            before,
        };
        let filter = crate::projects::service::resolved(&*conn, filter).await?;
        let (rows, total) =
            service::lists::executions(&*conn, filter, &args, selected(ctx)).await?;
        Ok(plain(rows, total, TestExecution))
    }
}
