//! The audit trail partitioned by month, its row-level security, archive tables for lossless
//! archival, pinned runs, and the error fingerprint analytics groups failures by.
//!
//! - `audit_log` becomes a declaratively partitioned table (by `changed_at`, monthly), with a
//!   default partition so that an insert never fails for lack of one.
//!   `create_audit_partition(month)` creates a month's partition (moving any rows the default
//!   partition holds for it); maintenance creates upcoming months ahead of time. A partitioned
//!   table's primary key must contain the partition key: it is `(id, changed_at)`.
//! - Members read the audit entries of records they can see; admins read all.
//! - `test_executions_archive`, `test_step_executions_archive`, `test_artifacts_archive`: the
//!   same columns as the live tables plus `archived_at`. Archival moves executions with their
//!   step results and artifacts (errata 6) in one transaction per batch; restore moves them
//!   back unchanged (bulk reports' idempotency keys travel with them). Row-level security
//!   applies to them as to the live tables.
//! - `test_runs.pinned`: a pinned run is never archived.
//! - `refresh_test_run` counts archived executions too, so a run's counters stay truthful.
//! - `audit_trigger` skips per-row entries while `app.archiving` is on: an archival records one
//!   ARCHIVE entry with its counts instead of a DELETE per moved row.
//! - `error_fingerprint(text)`: an error message with numbers, UUIDs, hex, quoted strings and
//!   paths replaced by placeholders, so that failures differing only in those group together.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

const UP: &str = r#"
ALTER TABLE audit_log RENAME TO audit_log_unpartitioned;
ALTER INDEX ix_audit_log_table_record RENAME TO ix_audit_log_unpartitioned_table_record;
ALTER INDEX ix_audit_log_changed_at RENAME TO ix_audit_log_unpartitioned_changed_at;
ALTER INDEX ix_audit_log_changed_by RENAME TO ix_audit_log_unpartitioned_changed_by;
ALTER TABLE audit_log_unpartitioned RENAME CONSTRAINT audit_log_pkey TO audit_log_unpartitioned_pkey;

CREATE TABLE audit_log (
    id UUID NOT NULL DEFAULT gen_random_uuid(),
    table_name VARCHAR(100) NOT NULL,
    record_id UUID NOT NULL,
    operation VARCHAR(10) NOT NULL,
    old_values JSONB,
    new_values JSONB,
    changed_by VARCHAR(100),
    changed_at TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT NOW(),
    PRIMARY KEY (id, changed_at)
) PARTITION BY RANGE (changed_at);

CREATE TABLE audit_log_default PARTITION OF audit_log DEFAULT;

CREATE INDEX ix_audit_log_table_record ON audit_log(table_name, record_id, changed_at DESC);
CREATE INDEX ix_audit_log_changed_at ON audit_log(changed_at DESC);
CREATE INDEX ix_audit_log_changed_by ON audit_log(changed_by);

CREATE FUNCTION create_audit_partition(month DATE) RETURNS text LANGUAGE plpgsql AS $$
DECLARE
    first_day DATE := date_trunc('month', month)::date;
    next_day DATE := (date_trunc('month', month) + interval '1 month')::date;
    part TEXT := 'audit_log_' || to_char(first_day, 'YYYY_MM');
BEGIN
    IF to_regclass(part) IS NOT NULL THEN
        RETURN part;
    END IF;
    -- rows the default partition holds for this month move into the new partition
    CREATE TEMP TABLE audit_partition_move ON COMMIT DROP AS
        SELECT * FROM audit_log_default WHERE changed_at >= first_day AND changed_at < next_day;
    DELETE FROM audit_log_default WHERE changed_at >= first_day AND changed_at < next_day;
    EXECUTE format('CREATE TABLE %I PARTITION OF audit_log FOR VALUES FROM (%L) TO (%L)',
                   part, first_day, next_day);
    INSERT INTO audit_log SELECT * FROM audit_partition_move;
    DROP TABLE audit_partition_move;
    RETURN part;
END;
$$;

SELECT create_audit_partition((date_trunc('month', now()) + n * interval '1 month')::date)
FROM generate_series(-1, 3) n;

INSERT INTO audit_log(id, table_name, record_id, operation, old_values, new_values, changed_by, changed_at)
SELECT id, table_name, record_id, operation, old_values, new_values, changed_by, coalesce(changed_at, now())
FROM audit_log_unpartitioned;
DROP TABLE audit_log_unpartitioned;

ALTER TABLE audit_log ENABLE ROW LEVEL SECURITY;
GRANT SELECT, INSERT ON audit_log TO application_users;
CREATE POLICY audit_log_insert_policy ON audit_log
    FOR INSERT TO application_users WITH CHECK (true);

ALTER TABLE test_runs ADD COLUMN pinned BOOLEAN NOT NULL DEFAULT false;

CREATE TABLE test_executions_archive (LIKE test_executions INCLUDING DEFAULTS INCLUDING CONSTRAINTS);
ALTER TABLE test_executions_archive ADD PRIMARY KEY (id),
    ADD COLUMN archived_at TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT NOW();
CREATE INDEX ix_test_executions_archive_test_case_id ON test_executions_archive(test_case_id, completed_at DESC);
CREATE INDEX ix_test_executions_archive_test_run_id ON test_executions_archive(test_run_id);
CREATE INDEX ix_test_executions_archive_completed_at ON test_executions_archive(completed_at);

CREATE TABLE test_step_executions_archive (LIKE test_step_executions INCLUDING DEFAULTS INCLUDING CONSTRAINTS);
ALTER TABLE test_step_executions_archive ADD PRIMARY KEY (id),
    ADD COLUMN archived_at TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT NOW();
CREATE INDEX ix_test_step_executions_archive_execution ON test_step_executions_archive(test_execution_id);

CREATE TABLE test_artifacts_archive (LIKE test_artifacts INCLUDING DEFAULTS INCLUDING CONSTRAINTS);
ALTER TABLE test_artifacts_archive ADD PRIMARY KEY (id),
    ADD COLUMN archived_at TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT NOW();
CREATE INDEX ix_test_artifacts_archive_execution ON test_artifacts_archive(test_execution_id);

CREATE TABLE test_result_reports_archive (LIKE test_result_reports INCLUDING DEFAULTS);
ALTER TABLE test_result_reports_archive ADD PRIMARY KEY (test_run_id, idempotency_key);
CREATE INDEX ix_test_result_reports_archive_execution ON test_result_reports_archive(test_execution_id);
ALTER TABLE test_result_reports_archive ENABLE ROW LEVEL SECURITY;
CREATE POLICY test_result_report_archive_access_policy ON test_result_reports_archive
    FOR ALL TO application_users
    USING (EXISTS (SELECT 1 FROM test_executions_archive te WHERE te.id = test_execution_id));

ALTER TABLE test_executions_archive ENABLE ROW LEVEL SECURITY;
CREATE POLICY test_execution_archive_access_policy ON test_executions_archive
    FOR ALL TO application_users
    USING (app_is_admin() OR EXISTS (
        SELECT 1 FROM test_cases tc WHERE tc.id = test_case_id AND tc.author = app_user_id()));
ALTER TABLE test_step_executions_archive ENABLE ROW LEVEL SECURITY;
CREATE POLICY test_step_execution_archive_access_policy ON test_step_executions_archive
    FOR ALL TO application_users
    USING (EXISTS (SELECT 1 FROM test_executions_archive te WHERE te.id = test_execution_id));
ALTER TABLE test_artifacts_archive ENABLE ROW LEVEL SECURITY;
CREATE POLICY test_artifact_archive_access_policy ON test_artifacts_archive
    FOR ALL TO application_users
    USING (EXISTS (SELECT 1 FROM test_executions_archive te WHERE te.id = test_execution_id));
GRANT SELECT, INSERT, DELETE ON test_executions_archive, test_step_executions_archive,
    test_artifacts_archive TO application_users;

CREATE POLICY audit_log_read_policy ON audit_log
    FOR SELECT TO application_users
    USING (app_is_admin() OR CASE table_name
        WHEN 'test_cases' THEN EXISTS (SELECT 1 FROM test_cases t WHERE t.id = record_id)
        WHEN 'test_steps' THEN EXISTS (SELECT 1 FROM test_steps t WHERE t.id = record_id)
        WHEN 'test_suites' THEN EXISTS (SELECT 1 FROM test_suites t WHERE t.id = record_id)
        WHEN 'test_suite_test_cases' THEN EXISTS (
            SELECT 1 FROM test_cases t
            WHERE t.id = (coalesce(new_values, old_values) ->> 'test_case_id')::uuid)
        WHEN 'configurations' THEN EXISTS (SELECT 1 FROM configurations t WHERE t.id = record_id)
        WHEN 'test_runs' THEN EXISTS (SELECT 1 FROM test_runs t WHERE t.id = record_id)
        WHEN 'test_executions' THEN EXISTS (SELECT 1 FROM test_executions t WHERE t.id = record_id)
            OR EXISTS (SELECT 1 FROM test_executions_archive t WHERE t.id = record_id)
        WHEN 'test_step_executions' THEN EXISTS (SELECT 1 FROM test_step_executions t WHERE t.id = record_id)
        WHEN 'test_artifacts' THEN EXISTS (SELECT 1 FROM test_artifacts t WHERE t.id = record_id)
        ELSE false END);

CREATE OR REPLACE FUNCTION audit_trigger()
RETURNS TRIGGER AS $$
DECLARE
    key_column TEXT := TG_ARGV[0];
    second_key TEXT := TG_ARGV[1];
    actor TEXT := NULLIF(current_setting('app.user_id', true), '');
BEGIN
    IF current_setting('app.archiving', true) = 'on' THEN
        RETURN NULL;
    END IF;
    IF TG_OP = 'INSERT' THEN
        INSERT INTO audit_log(table_name, record_id, operation, new_values, changed_by)
        SELECT TG_TABLE_NAME, (to_jsonb(n) ->> key_column)::uuid, 'INSERT', to_jsonb(n), actor
        FROM new_rows n;
    ELSIF TG_OP = 'UPDATE' THEN
        INSERT INTO audit_log(table_name, record_id, operation, old_values, new_values, changed_by)
        SELECT TG_TABLE_NAME, (n.v ->> key_column)::uuid, 'UPDATE', o.v, n.v, actor
        FROM (SELECT to_jsonb(r) AS v FROM new_rows r) n
        JOIN (SELECT to_jsonb(r) AS v FROM old_rows r) o
          ON o.v ->> key_column = n.v ->> key_column
         AND (second_key IS NULL OR o.v ->> second_key = n.v ->> second_key);
    ELSIF TG_OP = 'DELETE' THEN
        INSERT INTO audit_log(table_name, record_id, operation, old_values, changed_by)
        SELECT TG_TABLE_NAME, (to_jsonb(o) ->> key_column)::uuid, 'DELETE', to_jsonb(o), actor
        FROM old_rows o;
    END IF;
    RETURN NULL;
END;
$$ LANGUAGE plpgsql;

CREATE OR REPLACE FUNCTION refresh_test_run(p_run UUID) RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
DECLARE
    cur test_runs%ROWTYPE;
    c RECORD;
    new_status VARCHAR(20);
    new_started TIMESTAMP WITH TIME ZONE;
    new_completed TIMESTAMP WITH TIME ZONE;
BEGIN
    SELECT * INTO cur FROM test_runs WHERE id = p_run FOR UPDATE;
    IF NOT FOUND THEN
        RETURN;
    END IF;
    SELECT count(*) AS total,
           count(*) FILTER (WHERE status = 'passed') AS passed,
           count(*) FILTER (WHERE status = 'failed') AS failed,
           count(*) FILTER (WHERE status = 'skipped') AS skipped,
           count(*) FILTER (WHERE status IN ('pending', 'running')) AS open,
           count(*) FILTER (WHERE status <> 'pending') AS begun
      INTO c
      FROM (SELECT DISTINCT ON (test_case_id) status FROM (
                SELECT test_case_id, retry_attempt, status FROM test_executions WHERE test_run_id = p_run
                UNION ALL
                SELECT test_case_id, retry_attempt, status FROM test_executions_archive WHERE test_run_id = p_run
            ) every_attempt ORDER BY test_case_id, retry_attempt DESC) latest;
    new_status := cur.status;
    new_started := cur.started_at;
    new_completed := cur.completed_at;
    IF cur.status <> 'cancelled' THEN
        IF c.total > 0 AND c.open = 0 THEN
            new_status := CASE WHEN c.failed > 0 THEN 'failed' ELSE 'passed' END;
            new_completed := coalesce(cur.completed_at, now());
        -- a run once started stays started, even when a retry leaves only pending attempts
        ELSIF c.begun > 0 OR cur.started_at IS NOT NULL THEN
            new_status := 'running';
            new_completed := NULL;
        END IF;
        IF c.begun > 0 THEN
            new_started := coalesce(cur.started_at, now());
        END IF;
    END IF;
    IF (cur.total_tests, cur.passed_tests, cur.failed_tests, cur.skipped_tests,
        cur.status, cur.started_at, cur.completed_at)
       IS DISTINCT FROM
       (c.total::int, c.passed::int, c.failed::int, c.skipped::int,
        new_status, new_started, new_completed) THEN
        UPDATE test_runs
           SET total_tests = c.total, passed_tests = c.passed, failed_tests = c.failed,
               skipped_tests = c.skipped, status = new_status, started_at = new_started,
               completed_at = new_completed
         WHERE id = p_run;
    END IF;
END;
$$;

CREATE FUNCTION error_fingerprint(message TEXT) RETURNS TEXT LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT btrim(regexp_replace(
        regexp_replace(
        regexp_replace(
        regexp_replace(
        regexp_replace(
        regexp_replace(lower(message),
            '[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}', '<uuid>', 'g'),
            '"[^"]*"|''[^'']*''', '<str>', 'g'),
            '(\m[a-z]:)?(/|\\)[^\s:,;()]+', '<path>', 'g'),
            '\m0x[0-9a-f]+\M|\m[0-9a-f]*[0-9][0-9a-f]*[a-f][0-9a-f]*\M|\m[0-9a-f]*[a-f][0-9a-f]*[0-9][0-9a-f]*\M', '<hex>', 'g'),
            '\d+(\.\d+)?', '<n>', 'g'),
        '\s+', ' ', 'g'))
$$;
"#;

const DOWN: &str = r#"
DROP POLICY IF EXISTS audit_log_read_policy ON audit_log;
DROP FUNCTION IF EXISTS error_fingerprint(TEXT);
DROP TABLE IF EXISTS test_result_reports_archive;
DROP TABLE IF EXISTS test_artifacts_archive;
DROP TABLE IF EXISTS test_step_executions_archive;
DROP TABLE IF EXISTS test_executions_archive;
ALTER TABLE test_runs DROP COLUMN IF EXISTS pinned;

CREATE OR REPLACE FUNCTION refresh_test_run(p_run UUID) RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
DECLARE
    cur test_runs%ROWTYPE;
    c RECORD;
    new_status VARCHAR(20);
    new_started TIMESTAMP WITH TIME ZONE;
    new_completed TIMESTAMP WITH TIME ZONE;
BEGIN
    SELECT * INTO cur FROM test_runs WHERE id = p_run FOR UPDATE;
    IF NOT FOUND THEN
        RETURN;
    END IF;
    SELECT count(*) AS total,
           count(*) FILTER (WHERE status = 'passed') AS passed,
           count(*) FILTER (WHERE status = 'failed') AS failed,
           count(*) FILTER (WHERE status = 'skipped') AS skipped,
           count(*) FILTER (WHERE status IN ('pending', 'running')) AS open,
           count(*) FILTER (WHERE status <> 'pending') AS begun
      INTO c
      FROM (SELECT DISTINCT ON (test_case_id) status FROM test_executions
            WHERE test_run_id = p_run ORDER BY test_case_id, retry_attempt DESC) latest;
    new_status := cur.status;
    new_started := cur.started_at;
    new_completed := cur.completed_at;
    IF cur.status <> 'cancelled' THEN
        IF c.total > 0 AND c.open = 0 THEN
            new_status := CASE WHEN c.failed > 0 THEN 'failed' ELSE 'passed' END;
            new_completed := coalesce(cur.completed_at, now());
        -- a run once started stays started, even when a retry leaves only pending attempts
        ELSIF c.begun > 0 OR cur.started_at IS NOT NULL THEN
            new_status := 'running';
            new_completed := NULL;
        END IF;
        IF c.begun > 0 THEN
            new_started := coalesce(cur.started_at, now());
        END IF;
    END IF;
    IF (cur.total_tests, cur.passed_tests, cur.failed_tests, cur.skipped_tests,
        cur.status, cur.started_at, cur.completed_at)
       IS DISTINCT FROM
       (c.total::int, c.passed::int, c.failed::int, c.skipped::int,
        new_status, new_started, new_completed) THEN
        UPDATE test_runs
           SET total_tests = c.total, passed_tests = c.passed, failed_tests = c.failed,
               skipped_tests = c.skipped, status = new_status, started_at = new_started,
               completed_at = new_completed
         WHERE id = p_run;
    END IF;
END;
$$;

CREATE TABLE audit_log_unpartitioned (
    id UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    table_name VARCHAR(100) NOT NULL,
    record_id UUID NOT NULL,
    operation VARCHAR(10) NOT NULL,
    old_values JSONB,
    new_values JSONB,
    changed_by VARCHAR(100),
    changed_at TIMESTAMP WITH TIME ZONE DEFAULT NOW()
);
INSERT INTO audit_log_unpartitioned SELECT * FROM audit_log;
DROP TABLE audit_log;
DROP FUNCTION IF EXISTS create_audit_partition(DATE);
ALTER TABLE audit_log_unpartitioned RENAME TO audit_log;
ALTER TABLE audit_log RENAME CONSTRAINT audit_log_unpartitioned_pkey TO audit_log_pkey;
CREATE INDEX ix_audit_log_table_record ON audit_log(table_name, record_id, changed_at DESC);
CREATE INDEX ix_audit_log_changed_at ON audit_log(changed_at DESC);
CREATE INDEX ix_audit_log_changed_by ON audit_log(changed_by);
ALTER TABLE audit_log ENABLE ROW LEVEL SECURITY;
GRANT SELECT, INSERT, UPDATE, DELETE ON audit_log TO application_users;
CREATE POLICY audit_log_read_policy ON audit_log
    FOR SELECT TO application_users USING (app_is_admin() OR changed_by = app_user_id());
CREATE POLICY audit_log_insert_policy ON audit_log
    FOR INSERT TO application_users WITH CHECK (true);
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
