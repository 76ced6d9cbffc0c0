//! What test runs need beyond the spec's tables: idempotent bulk reporting, one result per step
//! of an execution, one execution per attempt, and the NOTIFY triggers live dashboards feed on.
//!
//! - `test_result_reports`: the idempotency keys of reported results, so a CI retry of a batch
//!   never writes an execution twice.
//! - `uq_test_executions_run_case_attempt`: one execution per attempt of a case in a run.
//! - `uq_test_step_executions_execution_step`: one result per step of an execution, so that a
//!   repeated report updates it instead of adding another.
//! - `notify_live_change()`: statement-level triggers with transition tables on runs,
//!   executions and step executions send one notification per run per statement on channel
//!   `jbts_live` (delivered at commit), whatever the number of rows: a sequence number, the
//!   run, the kind of rows, and at most 100 of their ids (payloads stay far below PostgreSQL's
//!   8000-byte limit). It runs as the function's owner so that it sees the run of every row.
//! - `refresh_test_run(run)`: recounts a run's counters over the latest attempt of each case
//!   and moves the run along (RUNNING once an execution began; PASSED, or FAILED if any
//!   failed, once none is open; back to RUNNING when a retry reopens it). It locks the run row
//!   so that concurrent writers take turns and each recount sees the others' committed rows,
//!   runs as the owner so that a member's write recounts every case of the run, and writes
//!   only when something changed.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

const UP: &str = r#"
CREATE TABLE test_result_reports (
    test_run_id UUID NOT NULL REFERENCES test_runs(id) ON DELETE CASCADE,
    idempotency_key VARCHAR(200) NOT NULL,
    test_execution_id UUID NOT NULL REFERENCES test_executions(id) ON DELETE CASCADE,
    created_at TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT NOW(),
    PRIMARY KEY (test_run_id, idempotency_key)
);
CREATE INDEX ix_test_result_reports_test_execution_id ON test_result_reports(test_execution_id);

ALTER TABLE test_result_reports ENABLE ROW LEVEL SECURITY;
CREATE POLICY test_result_report_access_policy ON test_result_reports
    FOR ALL TO application_users
    USING (EXISTS (SELECT 1 FROM test_executions te WHERE te.id = test_execution_id));
GRANT SELECT, INSERT, UPDATE, DELETE ON test_result_reports TO application_users;

CREATE UNIQUE INDEX uq_test_executions_run_case_attempt
    ON test_executions(test_run_id, test_case_id, retry_attempt);
CREATE UNIQUE INDEX uq_test_step_executions_execution_step
    ON test_step_executions(test_execution_id, test_step_id);

-- a case's executions newest first (its history connection and its last execution)
CREATE INDEX ix_test_executions_case_created ON test_executions(test_case_id, created_at DESC, id DESC);

CREATE SEQUENCE live_event_seq;
GRANT USAGE ON SEQUENCE live_event_seq TO application_users;

CREATE FUNCTION notify_live_change() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
DECLARE
    r RECORD;
BEGIN
    IF TG_TABLE_NAME = 'test_runs' THEN
        FOR r IN SELECT id AS run, ARRAY[id] AS ids, 1 AS n FROM new_rows LOOP
            PERFORM pg_notify('jbts_live', json_build_object(
                'seq', nextval('live_event_seq'), 'run', r.run, 'kind', 'run',
                'ids', to_json(r.ids), 'count', r.n)::text);
        END LOOP;
    ELSIF TG_TABLE_NAME = 'test_executions' THEN
        FOR r IN
            SELECT test_run_id AS run, (array_agg(id ORDER BY id))[1:100] AS ids, count(*) AS n
            FROM new_rows WHERE test_run_id IS NOT NULL GROUP BY test_run_id
        LOOP
            PERFORM pg_notify('jbts_live', json_build_object(
                'seq', nextval('live_event_seq'), 'run', r.run, 'kind', 'execution',
                'ids', to_json(r.ids), 'count', r.n)::text);
        END LOOP;
    ELSE
        FOR r IN
            SELECT te.test_run_id AS run, (array_agg(n.id ORDER BY n.id))[1:100] AS ids, count(*) AS n,
                   (array_agg(DISTINCT n.test_execution_id))[1:20] AS executions
            FROM new_rows n JOIN test_executions te ON te.id = n.test_execution_id
            WHERE te.test_run_id IS NOT NULL GROUP BY te.test_run_id
        LOOP
            PERFORM pg_notify('jbts_live', json_build_object(
                'seq', nextval('live_event_seq'), 'run', r.run, 'kind', 'step',
                'ids', to_json(r.ids), 'count', r.n, 'executions', to_json(r.executions))::text);
        END LOOP;
    END IF;
    RETURN NULL;
END;
$$;

CREATE FUNCTION refresh_test_run(p_run UUID) RETURNS void
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
GRANT EXECUTE ON FUNCTION refresh_test_run(UUID) TO application_users;

CREATE TRIGGER test_runs_notify_insert AFTER INSERT ON test_runs
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION notify_live_change();
CREATE TRIGGER test_runs_notify_update AFTER UPDATE ON test_runs
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION notify_live_change();
CREATE TRIGGER test_executions_notify_insert AFTER INSERT ON test_executions
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION notify_live_change();
CREATE TRIGGER test_executions_notify_update AFTER UPDATE ON test_executions
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION notify_live_change();
CREATE TRIGGER test_step_executions_notify_insert AFTER INSERT ON test_step_executions
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION notify_live_change();
CREATE TRIGGER test_step_executions_notify_update AFTER UPDATE ON test_step_executions
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION notify_live_change();
"#;

const DOWN: &str = r#"
DROP TRIGGER IF EXISTS test_step_executions_notify_update ON test_step_executions;
DROP TRIGGER IF EXISTS test_step_executions_notify_insert ON test_step_executions;
DROP TRIGGER IF EXISTS test_executions_notify_update ON test_executions;
DROP TRIGGER IF EXISTS test_executions_notify_insert ON test_executions;
DROP TRIGGER IF EXISTS test_runs_notify_update ON test_runs;
DROP TRIGGER IF EXISTS test_runs_notify_insert ON test_runs;
DROP FUNCTION IF EXISTS notify_live_change();
DROP FUNCTION IF EXISTS refresh_test_run(UUID);
DROP SEQUENCE IF EXISTS live_event_seq;
DROP INDEX IF EXISTS ix_test_executions_case_created;
DROP INDEX IF EXISTS uq_test_step_executions_execution_step;
DROP INDEX IF EXISTS uq_test_executions_run_case_attempt;
DROP TABLE IF EXISTS test_result_reports;
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
