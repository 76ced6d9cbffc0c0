//! Admins and members under separate database roles, so that each gets the plans of its own
//! rule instead of both paying for an OR of the two.
//!
//! The policies read `(SELECT app_is_admin()) OR author = (SELECT app_user_id())`. The planner
//! cannot know the admin flag when planning, so for an admin it kept a per-row filter that
//! needs the rows themselves (a count could no longer be an index-only scan: 0.5× the owner's
//! throughput on a page of cases), and for a member the OR hid `author = ...` from the indexes
//! (0.24× the same query written with the author condition by hand).
//!
//! Now an admin's request runs as `application_admins`, a member of `application_users` (so it
//! has the same privileges) with a `USING (true)` policy on every table an admin sees whole:
//! permissive policies are OR-ed, `true OR ...` folds to `true`, and an admin's statements are
//! planned exactly as the owner's. A member's request runs as `application_users`, whose hot
//! policies lose their admin half: `author = (SELECT app_user_id())` reaches the author index.
//! The role, chosen per request from the token like `app.user_roles`, is what makes an admin.
//!
//! `application_admins` needs no superuser (it does not bypass RLS: it has policies); an owner
//! who is not a superuser is made a member of both roles, to switch to them. Like
//! `application_users` it is cluster-wide: created if absent, dropped only when no other
//! database still uses it.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

/// Tables an admin reads and changes whole, with the commands their member policies cover.
const ADMIN_POLICIES: &[(&str, &str)] = &[
    ("test_cases", "ALL"),
    ("test_steps", "ALL"),
    ("test_suites", "ALL"),
    ("test_suite_test_cases", "ALL"),
    ("configurations", "ALL"),
    ("test_runs", "ALL"),
    ("test_executions", "ALL"),
    ("test_step_executions", "ALL"),
    ("test_artifacts", "ALL"),
    ("test_result_reports", "ALL"),
    ("test_executions_archive", "ALL"),
    ("test_case_flakiness", "SELECT"),
    ("audit_log", "SELECT"),
    ("api_tokens", "SELECT"),
    ("api_tokens", "INSERT"),
    ("api_tokens", "UPDATE"),
];

/// (policy, table, member USING, previous USING)
const MEMBER_POLICIES: &[(&str, &str, &str, &str)] = &[
    (
        "test_case_access_policy",
        "test_cases",
        "author = (SELECT app_user_id())",
        "(SELECT app_is_admin()) OR author = (SELECT app_user_id())",
    ),
    (
        "test_execution_access_policy",
        "test_executions",
        "EXISTS (SELECT 1 FROM test_cases tc \
         WHERE tc.id = test_case_id AND tc.author = (SELECT app_user_id()))",
        "(SELECT app_is_admin()) OR EXISTS (SELECT 1 FROM test_cases tc \
         WHERE tc.id = test_case_id AND tc.author = (SELECT app_user_id()))",
    ),
    (
        "test_step_access_policy",
        "test_steps",
        "EXISTS (SELECT 1 FROM test_cases tc WHERE tc.id = test_case_id)",
        "(SELECT app_is_admin()) OR EXISTS (SELECT 1 FROM test_cases tc WHERE tc.id = test_case_id)",
    ),
    (
        "test_step_execution_access_policy",
        "test_step_executions",
        "EXISTS (SELECT 1 FROM test_executions te WHERE te.id = test_execution_id)",
        "(SELECT app_is_admin()) OR EXISTS (SELECT 1 FROM test_executions te WHERE te.id = test_execution_id)",
    ),
    (
        "test_artifact_access_policy",
        "test_artifacts",
        "EXISTS (SELECT 1 FROM test_executions te WHERE te.id = test_execution_id) \
         OR EXISTS (SELECT 1 FROM test_step_executions tse WHERE tse.id = test_step_execution_id)",
        "(SELECT app_is_admin()) \
         OR EXISTS (SELECT 1 FROM test_executions te WHERE te.id = test_execution_id) \
         OR EXISTS (SELECT 1 FROM test_step_executions tse WHERE tse.id = test_step_execution_id)",
    ),
    (
        "test_suite_test_case_access_policy",
        "test_suite_test_cases",
        "EXISTS (SELECT 1 FROM test_cases tc WHERE tc.id = test_case_id)",
        "(SELECT app_is_admin()) OR EXISTS (SELECT 1 FROM test_cases tc WHERE tc.id = test_case_id)",
    ),
    (
        "test_run_access_policy",
        "test_runs",
        "triggered_by = (SELECT app_user_id())",
        "(SELECT app_is_admin()) OR triggered_by = (SELECT app_user_id())",
    ),
    (
        "test_result_report_access_policy",
        "test_result_reports",
        "EXISTS (SELECT 1 FROM test_executions te WHERE te.id = test_execution_id)",
        "(SELECT app_is_admin()) OR EXISTS (SELECT 1 FROM test_executions te WHERE te.id = test_execution_id)",
    ),
    (
        "test_case_flakiness_access_policy",
        "test_case_flakiness",
        "EXISTS (SELECT 1 FROM test_cases tc WHERE tc.id = test_case_id)",
        "(SELECT app_is_admin()) OR EXISTS (SELECT 1 FROM test_cases tc WHERE tc.id = test_case_id)",
    ),
];

fn admin_policy_name(table: &str, command: &str) -> String {
    format!("{table}_admin_{}_policy", command.to_lowercase())
}

fn up_sql() -> String {
    let mut sql = String::from(
        r#"
DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'application_admins') THEN
        CREATE ROLE application_admins NOLOGIN;
    END IF;
END
$$;
GRANT application_users TO application_admins;
-- the connecting user switches to both roles per request: a superuser may anyway, any other
-- owner needs to be a member
DO $$
BEGIN
    IF NOT (SELECT rolsuper FROM pg_roles WHERE rolname = current_user) THEN
        EXECUTE format('GRANT application_users, application_admins TO %I', current_user);
    END IF;
END
$$;
"#,
    );
    for (table, command) in ADMIN_POLICIES {
        let name = admin_policy_name(table, command);
        let clauses = match *command {
            "SELECT" => "USING (true)",
            "INSERT" => "WITH CHECK (true)",
            _ => "USING (true) WITH CHECK (true)",
        };
        sql.push_str(&format!(
            "CREATE POLICY {name} ON {table} FOR {command} TO application_admins {clauses};\n"
        ));
    }
    for (policy, table, member, _) in MEMBER_POLICIES {
        sql.push_str(&format!(
            "ALTER POLICY {policy} ON {table} USING ({member});\n"
        ));
    }
    sql
}

fn down_sql() -> String {
    let mut sql = String::new();
    for (policy, table, _, previous) in MEMBER_POLICIES {
        sql.push_str(&format!(
            "ALTER POLICY {policy} ON {table} USING ({previous});\n"
        ));
    }
    for (table, command) in ADMIN_POLICIES {
        let name = admin_policy_name(table, command);
        sql.push_str(&format!("DROP POLICY IF EXISTS {name} ON {table};\n"));
    }
    sql.push_str(
        r#"
DO $$
BEGIN
    DROP ROLE IF EXISTS application_admins;
EXCEPTION WHEN dependent_objects_still_exist THEN
    -- another database of this cluster still has policies for it
    NULL;
END
$$;
"#,
    );
    sql
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .get_connection()
            .execute_unprepared(&up_sql())
            .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .get_connection()
            .execute_unprepared(&down_sql())
            .await?;
        Ok(())
    }
}
