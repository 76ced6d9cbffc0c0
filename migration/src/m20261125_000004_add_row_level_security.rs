//! The `application_users` role and the spec's row-level security policies.
//!
//! The API connects as the tables' owner, who bypasses RLS; each request switches to this
//! non-owner role (`SET LOCAL ROLE application_users`) so that the policies apply. The role is
//! cluster-wide while this migration is per database, so `up` creates it only if absent and
//! `down` drops it only when no other database still uses it.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

/// Tables the request role reads and writes.
const TABLES: &str = "configurations, test_cases, test_steps, test_suites, \
    test_suite_test_cases, test_runs, test_executions, test_step_executions, test_artifacts, \
    audit_log";

fn up_sql() -> String {
    format!(
        r#"
DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'application_users') THEN
        CREATE ROLE application_users NOLOGIN;
    END IF;
END
$$;

GRANT USAGE ON SCHEMA public TO application_users;
GRANT SELECT, INSERT, UPDATE, DELETE ON {TABLES} TO application_users;

ALTER TABLE test_cases ENABLE ROW LEVEL SECURITY;
ALTER TABLE test_executions ENABLE ROW LEVEL SECURITY;

CREATE POLICY test_case_access_policy ON test_cases
    FOR ALL TO application_users
    USING (
        author = current_setting('app.user_id', true) OR
        'admin' = ANY(string_to_array(current_setting('app.user_roles', true), ','))
    );

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
"#
    )
}

fn down_sql() -> String {
    format!(
        r#"
DROP POLICY IF EXISTS test_execution_access_policy ON test_executions;
DROP POLICY IF EXISTS test_case_access_policy ON test_cases;
ALTER TABLE test_executions DISABLE ROW LEVEL SECURITY;
ALTER TABLE test_cases DISABLE ROW LEVEL SECURITY;
REVOKE ALL ON {TABLES} FROM application_users;
REVOKE USAGE ON SCHEMA public FROM application_users;
DO $$
BEGIN
    DROP ROLE IF EXISTS application_users;
EXCEPTION WHEN dependent_objects_still_exist THEN
    -- another database of this cluster still grants to it
    NULL;
END
$$;
"#
    )
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
