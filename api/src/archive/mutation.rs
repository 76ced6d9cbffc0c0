//! Archival over GraphQL.

use chrono::{DateTime, FixedOffset};
use uuid::Uuid;

use super::service::{archive, restore};
use super::types::ArchiveReport;
use crate::error::{AppError, AppResult};

/// Archival over GraphQL (admins only).
#[derive(Default)]
pub struct ArchiveMutation;

#[async_graphql::Object]
impl ArchiveMutation {
    /// Moves executions completed more than `olderThanDays` ago, with their step results and
    /// artifacts, into the archive (admin). Pinned runs stay. `dryRun` only counts. A long
    /// archival goes on to its end if the request times out (the audit log records it).
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
        let db = state.db.clone();
        // its own task: archival goes on to the end (and its audit entry) when the request
        // stops waiting for it at its time limit
        tokio::spawn(async move { archive(&db, older_than, dry_run, &identity.user_id).await })
            .await
            .map_err(AppError::internal)?
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
        let db = state.db.clone();
        tokio::spawn(async move { restore(&db, run_id, before, &identity.user_id).await })
            .await
            .map_err(AppError::internal)?
    }

    /// Pins or unpins a run: a pinned run is never archived.
    async fn pin_test_run(
        &self,
        ctx: &async_graphql::Context<'_>,
        #[graphql(desc = "The run.")] id: Uuid,
        #[graphql(desc = "Pin (true) or unpin (false).", default = true)] pinned: bool,
    ) -> AppResult<crate::runs::types::TestRun> {
        let db = crate::auth::context::request_db(ctx)?;
        db.write(|tx| Box::pin(async move { crate::runs::service::pin_run(tx, id, pinned).await }))
            .await
            .map(crate::runs::types::TestRun)
    }
}
