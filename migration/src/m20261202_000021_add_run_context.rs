//! The context a run was made in, and what its outcome leaves out.
//!
//! - `commit_sha`, `branch`, `build_url`, `environment`: where the results come from, as
//!   columns (not only keys of `run_configuration`), so that "the previous finished run of this
//!   suite on this branch" is an index lookup and flaky classification can see two results of
//!   the same commit. Checked here for length and shape; the API normalises them first.
//! - `infrastructure_failure`: a finished run in which most tests failed (an outage, not the
//!   tests): its results are left out of flaky classification.
//! - `quarantined_failed_tests`: failures of cases that were quarantined when the run's outcome
//!   was decided; they are counted in `failed_tests` (shown) but do not fail the run.
//!
//! `ix_test_runs_previous` serves the baseline lookup: finished runs of a project by branch
//! and suite (NULL for ad-hoc runs), newest first.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

const UP: &str = r#"
ALTER TABLE test_runs
    ADD COLUMN commit_sha VARCHAR(64),
    ADD COLUMN branch VARCHAR(255),
    ADD COLUMN build_url VARCHAR(2000),
    ADD COLUMN environment VARCHAR(100),
    ADD COLUMN infrastructure_failure BOOLEAN NOT NULL DEFAULT false,
    ADD COLUMN quarantined_failed_tests INTEGER NOT NULL DEFAULT 0,
    ADD CONSTRAINT ck_test_runs_commit_sha CHECK (commit_sha ~ '^[0-9A-Za-z._-]{1,64}$'),
    ADD CONSTRAINT ck_test_runs_branch CHECK (length(btrim(branch)) > 0),
    ADD CONSTRAINT ck_test_runs_build_url CHECK (build_url ~ '^https?://'),
    ADD CONSTRAINT ck_test_runs_environment CHECK (length(btrim(environment)) > 0),
    ADD CONSTRAINT ck_test_runs_quarantined_failed CHECK (
        quarantined_failed_tests >= 0 AND quarantined_failed_tests <= failed_tests);

CREATE INDEX ix_test_runs_previous ON test_runs(project_id, branch, test_suite_id, completed_at DESC)
    WHERE status IN ('passed', 'failed');
CREATE INDEX ix_test_runs_commit_sha ON test_runs(project_id, commit_sha) WHERE commit_sha IS NOT NULL;
"#;

const DOWN: &str = r#"
DROP INDEX IF EXISTS ix_test_runs_commit_sha;
DROP INDEX IF EXISTS ix_test_runs_previous;
ALTER TABLE test_runs
    DROP COLUMN quarantined_failed_tests,
    DROP COLUMN infrastructure_failure,
    DROP COLUMN environment,
    DROP COLUMN build_url,
    DROP COLUMN branch,
    DROP COLUMN commit_sha;
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
