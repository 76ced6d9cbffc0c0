//! Row-level security on every table, completing the spec's two policies into a coherent set.
//!
//! - A member sees and changes the test cases they author, and the steps, executions, step
//!   executions and artifacts of those; an admin sees and changes everything. A member cannot
//!   create or move a case under another author (the policy's check applies to new rows).
//! - Suites and configurations are shared: everyone sees them; their creator or an admin
//!   changes them. A suite's membership rows are visible only for visible cases, so a suite
//!   never reveals another user's case names, nor their number.
//! - Runs carry results of every case in them, so a member sees the runs they triggered; an
//!   admin sees all.
//! - The audit trail: admins read all of it, members the entries of their own actions.
//! - API tokens: members see and revoke their own; only admins create them.
//!
//! The spec's `test_execution_access_policy` is kept with the admin test first, so an admin's
//! scan does not run the per-row EXISTS. `app_user_id()` and `app_is_admin()` read the
//! request's transaction-local settings.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

const UP: &str = r#"
CREATE FUNCTION app_user_id() RETURNS text LANGUAGE sql STABLE AS
$$ SELECT NULLIF(current_setting('app.user_id', true), '') $$;

CREATE FUNCTION app_is_admin() RETURNS boolean LANGUAGE sql STABLE AS
$$ SELECT coalesce('admin' = ANY(string_to_array(current_setting('app.user_roles', true), ',')), false) $$;

GRANT EXECUTE ON FUNCTION app_user_id(), app_is_admin() TO application_users;
GRANT SELECT, INSERT, UPDATE ON api_tokens TO application_users;

DROP POLICY test_execution_access_policy ON test_executions;
CREATE POLICY test_execution_access_policy ON test_executions
    FOR ALL TO application_users
    USING (
        app_is_admin() OR EXISTS (
            SELECT 1 FROM test_cases tc
            WHERE tc.id = test_case_id AND tc.author = app_user_id()
        )
    );

ALTER TABLE test_steps ENABLE ROW LEVEL SECURITY;
CREATE POLICY test_step_access_policy ON test_steps
    FOR ALL TO application_users
    USING (EXISTS (SELECT 1 FROM test_cases tc WHERE tc.id = test_case_id));

ALTER TABLE test_step_executions ENABLE ROW LEVEL SECURITY;
CREATE POLICY test_step_execution_access_policy ON test_step_executions
    FOR ALL TO application_users
    USING (EXISTS (SELECT 1 FROM test_executions te WHERE te.id = test_execution_id));

ALTER TABLE test_artifacts ENABLE ROW LEVEL SECURITY;
CREATE POLICY test_artifact_access_policy ON test_artifacts
    FOR ALL TO application_users
    USING (
        EXISTS (SELECT 1 FROM test_executions te WHERE te.id = test_execution_id)
        OR EXISTS (SELECT 1 FROM test_step_executions tse WHERE tse.id = test_step_execution_id)
    );

ALTER TABLE test_suites ENABLE ROW LEVEL SECURITY;
CREATE POLICY test_suite_read_policy ON test_suites
    FOR SELECT TO application_users USING (true);
CREATE POLICY test_suite_insert_policy ON test_suites
    FOR INSERT TO application_users WITH CHECK (app_is_admin() OR created_by = app_user_id());
CREATE POLICY test_suite_update_policy ON test_suites
    FOR UPDATE TO application_users USING (app_is_admin() OR created_by = app_user_id());
CREATE POLICY test_suite_delete_policy ON test_suites
    FOR DELETE TO application_users USING (app_is_admin() OR created_by = app_user_id());

ALTER TABLE test_suite_test_cases ENABLE ROW LEVEL SECURITY;
CREATE POLICY test_suite_test_case_access_policy ON test_suite_test_cases
    FOR ALL TO application_users
    USING (EXISTS (SELECT 1 FROM test_cases tc WHERE tc.id = test_case_id));

ALTER TABLE configurations ENABLE ROW LEVEL SECURITY;
CREATE POLICY configuration_read_policy ON configurations
    FOR SELECT TO application_users USING (true);
CREATE POLICY configuration_insert_policy ON configurations
    FOR INSERT TO application_users WITH CHECK (app_is_admin() OR created_by = app_user_id());
CREATE POLICY configuration_update_policy ON configurations
    FOR UPDATE TO application_users USING (app_is_admin() OR created_by = app_user_id());
CREATE POLICY configuration_delete_policy ON configurations
    FOR DELETE TO application_users USING (app_is_admin() OR created_by = app_user_id());

ALTER TABLE test_runs ENABLE ROW LEVEL SECURITY;
CREATE POLICY test_run_access_policy ON test_runs
    FOR ALL TO application_users
    USING (app_is_admin() OR triggered_by = app_user_id());

ALTER TABLE audit_log ENABLE ROW LEVEL SECURITY;
CREATE POLICY audit_log_read_policy ON audit_log
    FOR SELECT TO application_users USING (app_is_admin() OR changed_by = app_user_id());
CREATE POLICY audit_log_insert_policy ON audit_log
    FOR INSERT TO application_users WITH CHECK (true);

ALTER TABLE api_tokens ENABLE ROW LEVEL SECURITY;
CREATE POLICY api_token_read_policy ON api_tokens
    FOR SELECT TO application_users USING (app_is_admin() OR user_id = app_user_id());
CREATE POLICY api_token_insert_policy ON api_tokens
    FOR INSERT TO application_users WITH CHECK (app_is_admin());
CREATE POLICY api_token_update_policy ON api_tokens
    FOR UPDATE TO application_users USING (app_is_admin() OR user_id = app_user_id());
"#;

const DOWN: &str = r#"
DROP POLICY IF EXISTS api_token_update_policy ON api_tokens;
DROP POLICY IF EXISTS api_token_insert_policy ON api_tokens;
DROP POLICY IF EXISTS api_token_read_policy ON api_tokens;
ALTER TABLE api_tokens DISABLE ROW LEVEL SECURITY;
DROP POLICY IF EXISTS audit_log_insert_policy ON audit_log;
DROP POLICY IF EXISTS audit_log_read_policy ON audit_log;
ALTER TABLE audit_log DISABLE ROW LEVEL SECURITY;
DROP POLICY IF EXISTS test_run_access_policy ON test_runs;
ALTER TABLE test_runs DISABLE ROW LEVEL SECURITY;
DROP POLICY IF EXISTS configuration_delete_policy ON configurations;
DROP POLICY IF EXISTS configuration_update_policy ON configurations;
DROP POLICY IF EXISTS configuration_insert_policy ON configurations;
DROP POLICY IF EXISTS configuration_read_policy ON configurations;
ALTER TABLE configurations DISABLE ROW LEVEL SECURITY;
DROP POLICY IF EXISTS test_suite_test_case_access_policy ON test_suite_test_cases;
ALTER TABLE test_suite_test_cases DISABLE ROW LEVEL SECURITY;
DROP POLICY IF EXISTS test_suite_delete_policy ON test_suites;
DROP POLICY IF EXISTS test_suite_update_policy ON test_suites;
DROP POLICY IF EXISTS test_suite_insert_policy ON test_suites;
DROP POLICY IF EXISTS test_suite_read_policy ON test_suites;
ALTER TABLE test_suites DISABLE ROW LEVEL SECURITY;
DROP POLICY IF EXISTS test_artifact_access_policy ON test_artifacts;
ALTER TABLE test_artifacts DISABLE ROW LEVEL SECURITY;
DROP POLICY IF EXISTS test_step_execution_access_policy ON test_step_executions;
ALTER TABLE test_step_executions DISABLE ROW LEVEL SECURITY;
DROP POLICY IF EXISTS test_step_access_policy ON test_steps;
ALTER TABLE test_steps DISABLE ROW LEVEL SECURITY;
DROP POLICY IF EXISTS test_execution_access_policy ON test_executions;
CREATE POLICY test_execution_access_policy ON test_executions
    FOR ALL TO application_users
    USING (
        EXISTS (
            SELECT 1 FROM test_cases tc
            WHERE tc.id = test_case_id
            AND (tc.author = current_setting('app.user_id', true) OR
                 'admin' = ANY(string_to_array(current_setting('app.user_roles', true), ',')))
        )
    );
REVOKE ALL ON api_tokens FROM application_users;
DROP FUNCTION IF EXISTS app_is_admin();
DROP FUNCTION IF EXISTS app_user_id();
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
