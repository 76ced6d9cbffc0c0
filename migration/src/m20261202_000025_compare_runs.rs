//! The baseline of a run, found by one index lookup.
//!
//! A run is compared with its baseline: the latest run of the same project, suite (or both ad
//! hoc), branch and environment that finished (passed or failed) before it was created and was
//! not an infrastructure failure. Suite, branch and environment may each be NULL and NULL
//! matches NULL, which `=` cannot say and `IS NOT DISTINCT FROM` cannot use an index for: the
//! key holds them through `coalesce` with a value no row may have (a blank branch or
//! environment is refused by their CHECKs; no suite has the nil UUID), and the lookups write
//! the same expressions. `ix_test_runs_previous` (migration 21) stays for lookups by branch.
//! The index is partial: only finished runs that may be baselines, newest first.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

const UP: &str = r#"
CREATE INDEX ix_test_runs_baseline ON test_runs (
    project_id,
    (coalesce(test_suite_id, '00000000-0000-0000-0000-000000000000'::uuid)),
    (coalesce(branch, '')),
    (coalesce(environment, '')),
    completed_at DESC,
    id DESC)
    WHERE status IN ('passed', 'failed') AND NOT infrastructure_failure;
"#;

const DOWN: &str = r#"
DROP INDEX IF EXISTS ix_test_runs_baseline;
"#;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager.get_connection().execute_unprepared(UP).await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager.get_connection().execute_unprepared(DOWN).await?;
        Ok(())
    }
}
