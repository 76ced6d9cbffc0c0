//! Flakiness kept per case, so that the flakiest cases are read, not computed, at any size.
//!
//! Computed on demand, the flakiest list read the last 20 passed/failed executions of every
//! case that failed recently: about 200,000 index entries and their rows at 1M executions,
//! 1.4–2.9 s. Errata 4 rules out a materialized view refreshed by every statement; instead:
//!
//! - `test_case_flakiness_of(case_ids, sample)`: the one definition of a case's flakiness over
//!   its last `sample` passed/failed executions (flips between consecutive outcomes, runs
//!   recovered by a retry, the score). The on-demand queries call it under the caller's
//!   policies; the kept summary is made of its output, so both always agree.
//! - `test_case_flakiness`: that output for the default sample (20) for every case with
//!   passed/failed executions, with the time of the case's last failure.
//! - The write path only notes which cases changed: a statement-level trigger on
//!   `test_executions` appends their ids to `test_case_flakiness_pending` (one INSERT per
//!   statement, no index, no uniqueness, so concurrent writers never wait on each other).
//! - `refresh_test_case_flakiness()` recomputes the noted cases (20 index entries each) and
//!   empties the list; readers call it first, so a read always reflects every committed write.
//!   One refresh at a time (a transaction-level advisory lock): a second one waits and then
//!   finds the list empty. The server also refreshes in the background and `maintenance`
//!   does, so a reader rarely has anything left to do.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

const UP: &str = r#"
CREATE FUNCTION test_case_flakiness_of(case_ids UUID[], sample INT)
RETURNS TABLE(test_case_id UUID, sample_size BIGINT, failures BIGINT, flips BIGINT,
              failed_runs BIGINT, recovered BIGINT, score FLOAT8)
LANGUAGE sql STABLE AS $$
    WITH sample AS (
        SELECT c.id AS case_id, x.test_run_id, x.status, x.retry_attempt, x.rn
        FROM (SELECT DISTINCT unnest(case_ids) AS id) c
        CROSS JOIN LATERAL (
            SELECT e.test_run_id, e.status, e.retry_attempt,
                   row_number() OVER (ORDER BY e.created_at DESC, e.id DESC) AS rn
            FROM test_executions e
            WHERE e.test_case_id = c.id AND e.status IN ('passed', 'failed')
            ORDER BY e.created_at DESC, e.id DESC
            LIMIT sample) x),
    flipped AS (
        SELECT case_id, count(*) AS n,
               count(*) FILTER (WHERE status = 'failed') AS failures,
               count(*) FILTER (WHERE status <> prev) AS flips
        FROM (SELECT case_id, status,
                     lag(status) OVER (PARTITION BY case_id ORDER BY rn DESC) AS prev
              FROM sample) s
        GROUP BY case_id),
    retried AS (
        SELECT case_id,
               count(*) FILTER (WHERE had_failure) AS failed_runs,
               count(*) FILTER (WHERE had_failure AND passed_on_retry) AS recovered
        FROM (SELECT case_id, test_run_id,
                     bool_or(status = 'failed') AS had_failure,
                     bool_or(status = 'passed' AND retry_attempt > 0) AS passed_on_retry
              FROM sample WHERE test_run_id IS NOT NULL GROUP BY 1, 2) r
        GROUP BY case_id)
    SELECT f.case_id, f.n, f.failures, f.flips,
           coalesce(r.failed_runs, 0), coalesce(r.recovered, 0),
           greatest(CASE WHEN f.n > 1 THEN f.flips::float8 / (f.n - 1) ELSE 0 END,
                    CASE WHEN coalesce(r.failed_runs, 0) > 0
                         THEN r.recovered::float8 / r.failed_runs ELSE 0 END)
    FROM flipped f LEFT JOIN retried r USING (case_id)
$$;
GRANT EXECUTE ON FUNCTION test_case_flakiness_of(UUID[], INT) TO application_users;

-- no foreign key: a refresh never waits on a case being deleted (the case's executions go
-- with it, which notes the case, and the next refresh drops its row)
CREATE TABLE test_case_flakiness (
    test_case_id UUID PRIMARY KEY,
    sample_size BIGINT NOT NULL,
    failures BIGINT NOT NULL,
    flips BIGINT NOT NULL,
    failed_runs BIGINT NOT NULL,
    recovered BIGINT NOT NULL,
    score FLOAT8 NOT NULL,
    last_failed_at TIMESTAMP WITH TIME ZONE,
    refreshed_at TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT now()
);
CREATE INDEX ix_test_case_flakiness_flaky ON test_case_flakiness(score DESC, test_case_id)
    WHERE flips > 0 OR recovered > 0;
ALTER TABLE test_case_flakiness ENABLE ROW LEVEL SECURITY;
CREATE POLICY test_case_flakiness_access_policy ON test_case_flakiness FOR SELECT TO application_users
    USING ((SELECT app_is_admin()) OR EXISTS (SELECT 1 FROM test_cases tc WHERE tc.id = test_case_id));
GRANT SELECT ON test_case_flakiness TO application_users;

-- written by the trigger and emptied by the refresh, both as the owner: no grant, no policy
CREATE TABLE test_case_flakiness_pending (test_case_id UUID NOT NULL);
ALTER TABLE test_case_flakiness_pending ENABLE ROW LEVEL SECURITY;

CREATE FUNCTION note_flakiness_pending() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
BEGIN
    -- only passed and failed executions enter a sample or a last failure
    IF TG_OP = 'INSERT' THEN
        INSERT INTO test_case_flakiness_pending
        SELECT DISTINCT test_case_id FROM new_rows WHERE status IN ('passed', 'failed');
    ELSIF TG_OP = 'DELETE' THEN
        INSERT INTO test_case_flakiness_pending
        SELECT DISTINCT test_case_id FROM old_rows WHERE status IN ('passed', 'failed');
    ELSE
        INSERT INTO test_case_flakiness_pending
        SELECT test_case_id FROM new_rows WHERE status IN ('passed', 'failed')
        UNION
        SELECT test_case_id FROM old_rows WHERE status IN ('passed', 'failed');
    END IF;
    RETURN NULL;
END;
$$;

CREATE TRIGGER test_executions_flakiness_insert AFTER INSERT ON test_executions
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION note_flakiness_pending();
CREATE TRIGGER test_executions_flakiness_update AFTER UPDATE ON test_executions
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION note_flakiness_pending();
CREATE TRIGGER test_executions_flakiness_delete AFTER DELETE ON test_executions
    REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION note_flakiness_pending();

-- Returns how many cases it recomputed.
CREATE FUNCTION refresh_test_case_flakiness() RETURNS INT
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
DECLARE
    ids UUID[];
BEGIN
    PERFORM pg_advisory_xact_lock(hashtext('test_case_flakiness'));
    WITH taken AS (DELETE FROM test_case_flakiness_pending RETURNING test_case_id)
    SELECT array_agg(DISTINCT test_case_id) INTO ids FROM taken;
    IF ids IS NULL THEN
        RETURN 0;
    END IF;
    DELETE FROM test_case_flakiness WHERE test_case_id = ANY(ids);
    INSERT INTO test_case_flakiness(test_case_id, sample_size, failures, flips, failed_runs,
                                    recovered, score, last_failed_at)
    SELECT f.test_case_id, f.sample_size, f.failures, f.flips, f.failed_runs, f.recovered, f.score,
           (SELECT max(e.completed_at) FROM test_executions e
            WHERE e.test_case_id = f.test_case_id AND e.status = 'failed')
    FROM test_case_flakiness_of(ids, 20) f;
    RETURN cardinality(ids);
END;
$$;
GRANT EXECUTE ON FUNCTION refresh_test_case_flakiness() TO application_users;

-- the cases that already have results are computed by the first refresh
INSERT INTO test_case_flakiness_pending
SELECT DISTINCT test_case_id FROM test_executions WHERE status IN ('passed', 'failed');
"#;

const DOWN: &str = r#"
DROP TRIGGER IF EXISTS test_executions_flakiness_delete ON test_executions;
DROP TRIGGER IF EXISTS test_executions_flakiness_update ON test_executions;
DROP TRIGGER IF EXISTS test_executions_flakiness_insert ON test_executions;
DROP FUNCTION IF EXISTS refresh_test_case_flakiness();
DROP FUNCTION IF EXISTS note_flakiness_pending();
DROP TABLE IF EXISTS test_case_flakiness_pending;
DROP TABLE IF EXISTS test_case_flakiness;
DROP FUNCTION IF EXISTS test_case_flakiness_of(UUID[], INT);
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
