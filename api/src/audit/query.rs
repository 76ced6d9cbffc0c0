//! Read entry point of the audit trail.

use async_graphql::{Context, Object};

use super::service;
use super::types::{AuditEntryConnection, AuditLogFilter};
use crate::auth::context::request_db;
use crate::connection::plain;
use crate::error::AppResult;
use crate::pagination::{PageArgs, selected};

#[derive(Default)]
pub struct AuditQuery;

#[Object]
impl AuditQuery {
    /// The audit trail, newest first: every change of every record the caller can see.
    async fn audit_log(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Which entries.")] filter: Option<AuditLogFilter>,
        #[graphql(desc = "Page size from the start (default 20, at most 100).")] first: Option<i32>,
        #[graphql(desc = "Cursor after which the page starts.")] after: Option<String>,
        #[graphql(desc = "Page size from the end (at most 100).")] last: Option<i32>,
        #[graphql(desc = "Cursor before which the page ends.")] before: Option<String>,
    ) -> AppResult<AuditEntryConnection> {
        let page = PageArgs {
            first,
            after,
            last,
            before,
        };
        crate::auth::guard::identity(ctx)?;
        let db = request_db(ctx)?;
        let conn = db.conn().await?;
        let filter = crate::projects::service::resolved(&*conn, filter).await?;
        let (fetched, total) = service::list(&*conn, filter, &page, selected(ctx)).await?;
        Ok(plain(fetched, total, |e| e))
    }
}
