//! Read entry points of projects.

use async_graphql::{Context, Object};

use super::service::{self, ProjectFilter};
use super::types::{Project, ProjectConnection};
use crate::auth::context::request_db;
use crate::connection::plain;
use crate::error::AppResult;
use crate::pagination::{PageArgs, selected};

#[derive(Default)]
pub struct ProjectsQuery;

#[Object]
impl ProjectsQuery {
    /// The projects the caller sees (those they belong to, the default project, and for an
    /// admin all), by key, a page at a time.
    async fn projects(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Which projects.")] filter: Option<ProjectFilter>,
        #[graphql(desc = "Page size from the start (default 20, at most 100).")] first: Option<i32>,
        #[graphql(desc = "Cursor after which the page starts.")] after: Option<String>,
        #[graphql(desc = "Page size from the end (at most 100).")] last: Option<i32>,
        #[graphql(desc = "Cursor before which the page ends.")] before: Option<String>,
    ) -> AppResult<ProjectConnection> {
        crate::auth::guard::identity(ctx)?;
        let db = request_db(ctx)?;
        let conn = db.conn().await?;
        let args = PageArgs {
            first,
            after,
            last,
            before,
        };
        let (rows, total) =
            service::list(&*conn, filter.unwrap_or_default(), &args, selected(ctx)).await?;
        Ok(plain(rows, total, Project))
    }

    /// A project by key; null when it does not exist or the caller does not see it.
    async fn project(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The project's key.")] key: String,
    ) -> AppResult<Option<Project>> {
        crate::auth::guard::identity(ctx)?;
        service::check_key("key", &key)?;
        let db = request_db(ctx)?;
        let conn = db.conn().await?;
        Ok(service::by_key(&*conn, &key).await?.map(Project))
    }
}
