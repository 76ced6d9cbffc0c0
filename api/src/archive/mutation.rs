//! Archival over GraphQL.

use chrono::{DateTime, FixedOffset};
use sea_orm::ConnectionTrait;
use uuid::Uuid;

use super::service::{archive, restore};
use super::types::ArchiveReport;
use crate::error::{AppError, AppResult};

fn stmt(sql: &str, values: Vec<sea_orm::Value>) -> sea_orm::Statement {
    sea_orm::Statement::from_sql_and_values(sea_orm::DbBackend::Postgres, sql, values)
}

/// Archival over GraphQL (admins only).
#[derive(Default)]
pub struct ArchiveMutation;

#[async_graphql::Object]
impl ArchiveMutation {
    /// Moves executions completed more than `olderThanDays` ago, with their step results and
    /// artifacts, into the archive (admin). Pinned runs stay. `dryRun` only counts.
    async fn archive_executions(
        &self,
        ctx: &async_graphql::Context<'_>,
        #[graphql(desc = "Age in days of the executions to archive.", default = 90)]
        older_than_days: i32,
        #[graphql(desc = "Only count what would move.", default = false)] dry_run: bool,
    ) -> AppResult<ArchiveReport> {
        let identity = crate::auth::guard::admin(ctx)?;
        let state = ctx
            .data::<crate::state::AppState>()
            .map_err(|_| AppError::internal("state missing"))?;
        let days = crate::input::check_range(
            "olderThanDays",
            older_than_days,
            0,
            super::service::ARCHIVE_DAYS_MAX,
        )?;
        let older_than = std::time::Duration::from_secs(days as u64 * 86_400);
        archive(&state.db, older_than, dry_run, &identity.user_id).await
    }

    /// Puts archived executions back: those of a run, or those completed before a time (admin).
    async fn restore_archived_executions(
        &self,
        ctx: &async_graphql::Context<'_>,
        #[graphql(desc = "Restore this run's executions.")] run_id: Option<Uuid>,
        #[graphql(desc = "Restore executions completed before this time.")] before: Option<
            DateTime<FixedOffset>,
        >,
    ) -> AppResult<ArchiveReport> {
        let identity = crate::auth::guard::admin(ctx)?;
        let state = ctx
            .data::<crate::state::AppState>()
            .map_err(|_| AppError::internal("state missing"))?;
        restore(&state.db, run_id, before, &identity.user_id).await
    }

    /// Pins or unpins a run: a pinned run is never archived.
    async fn pin_test_run(
        &self,
        ctx: &async_graphql::Context<'_>,
        #[graphql(desc = "The run.")] id: Uuid,
        #[graphql(desc = "Pin (true) or unpin (false).", default = true)] pinned: bool,
    ) -> AppResult<crate::runs::types::TestRun> {
        let db = crate::auth::context::request_db(ctx)?;
        db.write(|tx| {
            Box::pin(async move {
                let row = tx
                    .query_one_raw(stmt(
                        "UPDATE test_runs SET pinned = $2 WHERE id = $1 RETURNING *",
                        vec![id.into(), pinned.into()],
                    ))
                    .await?
                    .ok_or_else(|| AppError::not_found("TestRun", id))?;
                use sea_orm::FromQueryResult;
                Ok(entity::test_run::Model::from_query_result(&row, "")?)
            })
        })
        .await
        .map(crate::runs::types::TestRun)
    }
}
