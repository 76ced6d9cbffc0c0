//! The hot row-level security policies, rewritten so that the caller's identity is computed
//! once per statement (`(SELECT app_user_id())` is an init plan) and an admin's check comes
//! first. Written as function calls per row, the policies were evaluated row by row and
//! misestimated by the planner (a listing of 20 cases read every matching case and sorted
//! them instead of stopping early on an index). Same rules, cheaper plans.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

/// (policy, table, new USING, previous USING)
const POLICIES: &[(&str, &str, &str, &str)] = &[
    (
        "test_case_access_policy",
        "test_cases",
        "(SELECT app_is_admin()) OR author = (SELECT app_user_id())",
        "author = current_setting('app.user_id', true) OR \
         'admin' = ANY(string_to_array(current_setting('app.user_roles', true), ','))",
    ),
    (
        "test_execution_access_policy",
        "test_executions",
        "(SELECT app_is_admin()) OR EXISTS (SELECT 1 FROM test_cases tc \
         WHERE tc.id = test_case_id AND tc.author = (SELECT app_user_id()))",
        "app_is_admin() OR EXISTS (SELECT 1 FROM test_cases tc \
         WHERE tc.id = test_case_id AND tc.author = app_user_id())",
    ),
    (
        "test_step_access_policy",
        "test_steps",
        "(SELECT app_is_admin()) OR EXISTS (SELECT 1 FROM test_cases tc WHERE tc.id = test_case_id)",
        "EXISTS (SELECT 1 FROM test_cases tc WHERE tc.id = test_case_id)",
    ),
    (
        "test_step_execution_access_policy",
        "test_step_executions",
        "(SELECT app_is_admin()) OR EXISTS (SELECT 1 FROM test_executions te WHERE te.id = test_execution_id)",
        "EXISTS (SELECT 1 FROM test_executions te WHERE te.id = test_execution_id)",
    ),
    (
        "test_artifact_access_policy",
        "test_artifacts",
        "(SELECT app_is_admin()) \
         OR EXISTS (SELECT 1 FROM test_executions te WHERE te.id = test_execution_id) \
         OR EXISTS (SELECT 1 FROM test_step_executions tse WHERE tse.id = test_step_execution_id)",
        "EXISTS (SELECT 1 FROM test_executions te WHERE te.id = test_execution_id) \
         OR EXISTS (SELECT 1 FROM test_step_executions tse WHERE tse.id = test_step_execution_id)",
    ),
    (
        "test_suite_test_case_access_policy",
        "test_suite_test_cases",
        "(SELECT app_is_admin()) OR EXISTS (SELECT 1 FROM test_cases tc WHERE tc.id = test_case_id)",
        "EXISTS (SELECT 1 FROM test_cases tc WHERE tc.id = test_case_id)",
    ),
    (
        "test_run_access_policy",
        "test_runs",
        "(SELECT app_is_admin()) OR triggered_by = (SELECT app_user_id())",
        "app_is_admin() OR triggered_by = app_user_id()",
    ),
    (
        "test_result_report_access_policy",
        "test_result_reports",
        "(SELECT app_is_admin()) OR EXISTS (SELECT 1 FROM test_executions te WHERE te.id = test_execution_id)",
        "EXISTS (SELECT 1 FROM test_executions te WHERE te.id = test_execution_id)",
    ),
];

fn sql(new: bool) -> String {
    POLICIES
        .iter()
        .map(|(policy, table, next, previous)| {
            let expr = if new { next } else { previous };
            format!("ALTER POLICY {policy} ON {table} USING ({expr});\n")
        })
        .collect()
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .get_connection()
            .execute_unprepared(&sql(true))
            .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .get_connection()
            .execute_unprepared(&sql(false))
            .await?;
        Ok(())
    }
}
