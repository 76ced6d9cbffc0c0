//! Read entry points of the catalogue.

use async_graphql::{Context, Object};
use uuid::Uuid;

use super::inputs::{CatalogOrder, ConfigurationFilter, TestCaseFilter, TestCaseOrder};
use super::service;
use super::types::{
    Configuration, ConfigurationConnection, SearchMatch, TestCase, TestCaseConnection, TestSuite,
    TestSuiteConnection,
};
use crate::auth::context::request_db;
use crate::connection::{connection, plain};
use crate::error::AppResult;
use crate::pagination::{PageArgs, selected};

#[derive(Default)]
pub struct CatalogQuery;

#[Object]
impl CatalogQuery {
    /// A test case by id; null when absent.
    async fn test_case(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The case's id.")] id: Uuid,
    ) -> AppResult<Option<TestCase>> {
        let db = request_db(ctx)?;
        let conn = db.conn().await?;
        Ok(service::cases::get(&*conn, id).await?.map(TestCase))
    }

    /// Test cases matching a filter, a page at a time.
    #[allow(clippy::too_many_arguments)]
    async fn test_cases(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Which cases.")] filter: Option<TestCaseFilter>,
        #[graphql(desc = "Ordering (default: newest first; by relevance when searching).")]
        order_by: Option<TestCaseOrder>,
        #[graphql(desc = "Page size from the start (default 20, at most 100).")] first: Option<i32>,
        #[graphql(desc = "Cursor after which the page starts.")] after: Option<String>,
        #[graphql(desc = "Page size from the end (at most 100).")] last: Option<i32>,
        #[graphql(desc = "Cursor before which the page ends.")] before: Option<String>,
    ) -> AppResult<TestCaseConnection> {
        let db = request_db(ctx)?;
        let conn = db.conn().await?;
        let args = PageArgs {
            first,
            after,
            last,
            before,
        };
        let filter = crate::projects::service::resolved(&*conn, filter).await?;
        let edges = ctx.look_ahead().field("edges");
        let fields = service::cases::SearchFields {
            combined: edges.field("snippet").exists(),
            name: edges.field("nameSnippet").exists(),
            description: edges.field("descriptionSnippet").exists(),
            rank: edges.field("rank").exists(),
        };
        let (hits, total) =
            service::cases::list(&*conn, filter, order_by, &args, selected(ctx), fields).await?;
        Ok(connection(hits, total, |h| {
            (
                TestCase(h.case),
                SearchMatch {
                    snippet: h.snippet,
                    name_snippet: h.name_snippet,
                    description_snippet: h.description_snippet,
                    rank: h.rank,
                },
            )
        }))
    }

    /// A test suite by id; null when absent.
    async fn test_suite(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The suite's id.")] id: Uuid,
    ) -> AppResult<Option<TestSuite>> {
        let db = request_db(ctx)?;
        let conn = db.conn().await?;
        Ok(service::suites::get(&*conn, id).await?.map(TestSuite))
    }

    /// Test suites matching a filter, a page at a time.
    #[allow(clippy::too_many_arguments)]
    async fn test_suites(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Which suites.")] filter: Option<super::inputs::TestSuiteFilter>,
        #[graphql(desc = "Ordering (default: newest first).")] order_by: Option<CatalogOrder>,
        #[graphql(desc = "Page size from the start (default 20, at most 100).")] first: Option<i32>,
        #[graphql(desc = "Cursor after which the page starts.")] after: Option<String>,
        #[graphql(desc = "Page size from the end (at most 100).")] last: Option<i32>,
        #[graphql(desc = "Cursor before which the page ends.")] before: Option<String>,
    ) -> AppResult<TestSuiteConnection> {
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
            service::suites::list(&*conn, filter, order_by, &args, selected(ctx)).await?;
        Ok(plain(rows, total, TestSuite))
    }

    /// A configuration by id; null when absent.
    async fn configuration(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The configuration's id.")] id: Uuid,
    ) -> AppResult<Option<Configuration>> {
        let db = request_db(ctx)?;
        let conn = db.conn().await?;
        Ok(service::configurations::get(&*conn, id)
            .await?
            .map(Configuration))
    }

    /// Configurations matching a filter, a page at a time.
    #[allow(clippy::too_many_arguments)]
    async fn configurations(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Which configurations.")] filter: Option<ConfigurationFilter>,
        #[graphql(desc = "Ordering (default: newest first).")] order_by: Option<CatalogOrder>,
        #[graphql(desc = "Page size from the start (default 20, at most 100).")] first: Option<i32>,
        #[graphql(desc = "Cursor after which the page starts.")] after: Option<String>,
        #[graphql(desc = "Page size from the end (at most 100).")] last: Option<i32>,
        #[graphql(desc = "Cursor before which the page ends.")] before: Option<String>,
    ) -> AppResult<ConfigurationConnection> {
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
            service::configurations::list(&*conn, filter, order_by, &args, selected(ctx)).await?;
        Ok(plain(rows, total, Configuration))
    }
}
