//! One definition of "the executions, live and archived": the view `test_executions_all`,
//! every column of `test_executions` and whether the row is archived. Analytics that include
//! archived executions read it instead of spelling out a `UNION ALL` of both tables' columns
//! (which a new column would break at run time). It runs with the caller's rights
//! (`security_invoker`), so both tables' row-level security applies to whoever reads it.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

const UP: &str = r#"
CREATE VIEW test_executions_all WITH (security_invoker = true) AS
SELECT id, test_case_id, test_run_id, configuration_id, status, started_at, completed_at,
       duration_seconds, error_message, execution_metadata, retry_attempt, created_at,
       updated_at, false AS archived
FROM test_executions
UNION ALL
SELECT id, test_case_id, test_run_id, configuration_id, status, started_at, completed_at,
       duration_seconds, error_message, execution_metadata, retry_attempt, created_at,
       updated_at, true AS archived
FROM test_executions_archive;
GRANT SELECT ON test_executions_all TO application_users;
"#;

const DOWN: &str = "DROP VIEW IF EXISTS test_executions_all;";

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
