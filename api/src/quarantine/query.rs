//! Read entry points of quarantine.

use async_graphql::{Context, Object};

use super::service;
use super::types::{TestCaseQuarantine, TestCaseQuarantineConnection};
use crate::auth::context::request_db;
use crate::connection::plain;
use crate::error::AppResult;
use crate::pagination::{PageArgs, selected};

#[derive(Default)]
pub struct QuarantineQuery;

#[Object]
impl QuarantineQuery {
    /// The cases quarantined now (not released, not expired) that the caller sees, newest
    /// first, a page at a time: what a CI job reads before it runs, to know which failures
    /// not to fail the build on (each with its test key).
    async fn quarantined_tests(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Only this project's cases (its key).")] project_key: Option<String>,
        #[graphql(desc = "Page size (default 20, at most 100).")] first: Option<i32>,
        #[graphql(desc = "Cursor after which the page starts.")] after: Option<String>,
    ) -> AppResult<TestCaseQuarantineConnection> {
        let db = request_db(ctx)?;
        let conn = db.conn().await?;
        let project =
            crate::projects::service::resolve_id(&*conn, "projectKey", project_key.as_deref())
                .await?;
        let args = PageArgs {
            first,
            after,
            last: None,
            before: None,
        };
        let (rows, total) = service::list(&*conn, project, &args, selected(ctx)).await?;
        Ok(plain(rows, total, TestCaseQuarantine))
    }
}
