//! Cheaper batches of imported results (the import's throughput, `BENCHMARKS.md`).
//!
//! - `known_test_cases(project, keys)`: a batch's known keys by key alone (no JSON of the
//!   tests to build and parse when, as is usual, every test is known).
//! - `import_test_cases`: the cases it creates or adopts are answered from the writing
//!   statement itself; the keys are looked up again only for the few an insert skipped (a
//!   name another key's case has, or a case another writer created meanwhile). Before, every
//!   batch of new keys was matched against the table three more times.
//! - `refresh_test_run`: a case's retry allowance is looked up for the failed latest attempts
//!   of suite runs only (the only runs whose outcome waits for retries), not for every case of
//!   the run at every recount, and the sort of a large run's attempts stays in memory.
//! - `test_result_reports` (the idempotency keys of results) loses its foreign keys: each
//!   result paid two referential checks against rows its own transaction had just written or
//!   locked (a sixth of an import's statement time). What they did on delete, triggers do:
//!   the keys of deleted (or truncated) executions and runs go with them.

use sea_orm_migration::prelude::*;

use crate::m20261201_000017_import_results::{IMPORT_TEST_CASES, REFRESH_TEST_RUN};

#[derive(DeriveMigrationName)]
pub struct Migration;

const UP: &str = r#"
ALTER TABLE test_result_reports
    DROP CONSTRAINT test_result_reports_test_execution_id_fkey,
    DROP CONSTRAINT test_result_reports_test_run_id_fkey;
-- (the owner's: the keys go whoever deletes, as a cascade's would)
CREATE FUNCTION forget_result_reports() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
BEGIN
    IF TG_OP = 'TRUNCATE' THEN
        TRUNCATE test_result_reports;
    ELSIF TG_TABLE_NAME = 'test_executions' THEN
        DELETE FROM test_result_reports r USING old_rows o WHERE r.test_execution_id = o.id;
    ELSE
        DELETE FROM test_result_reports r USING old_rows o WHERE r.test_run_id = o.id;
    END IF;
    RETURN NULL;
END;
$$;
CREATE TRIGGER test_executions_forget_reports AFTER DELETE ON test_executions
    REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION forget_result_reports();
CREATE TRIGGER test_runs_forget_reports AFTER DELETE ON test_runs
    REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION forget_result_reports();
CREATE TRIGGER test_executions_truncate_reports AFTER TRUNCATE ON test_executions
    FOR EACH STATEMENT EXECUTE FUNCTION forget_result_reports();
CREATE TRIGGER test_runs_truncate_reports AFTER TRUNCATE ON test_runs
    FOR EACH STATEMENT EXECUTE FUNCTION forget_result_reports();

-- The cases of known keys (and aliases) in a project, for a caller who may report there: the
-- first lookup of a batch of results, by key alone (`import_test_cases` then takes the rest).
CREATE FUNCTION known_test_cases(p_project UUID, p_keys TEXT[])
RETURNS TABLE(key TEXT, test_case_id UUID)
LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = public, pg_temp AS $$
DECLARE
    me TEXT := app_user_id();
BEGIN
    IF NOT app_may_report(p_project) THEN
        RAISE EXCEPTION 'the caller may not report in project %', p_project USING ERRCODE = '42501';
    END IF;
    -- Two statements whose project conditions are literal where the unique indexes' are: a
    -- plan cached for any project (PL/pgSQL's generic plan) still finds keys through them,
    -- not by reading every case.
    IF p_project = '00000000-0000-0000-0000-000000000001' THEN
        -- keys are their authors' in the default project
        RETURN QUERY
        SELECT w.k, coalesce(tc.id, a.test_case_id)
          FROM unnest(p_keys) AS w(k)
          LEFT JOIN test_cases tc
                 ON tc.identity_key = w.k AND tc.author IS NOT DISTINCT FROM me
                AND tc.project_id = '00000000-0000-0000-0000-000000000001'
          LEFT JOIN test_case_aliases a
                 ON tc.id IS NULL AND a.project_id = '00000000-0000-0000-0000-000000000001'
                AND a.owner = coalesce(me, '') AND a.alias_key = w.k
         WHERE tc.id IS NOT NULL OR a.test_case_id IS NOT NULL;
    ELSE
        RETURN QUERY
        SELECT w.k, coalesce(tc.id, a.test_case_id)
          FROM unnest(p_keys) AS w(k)
          LEFT JOIN test_cases tc
                 ON tc.identity_key = w.k AND tc.project_id = p_project
                AND tc.project_id <> '00000000-0000-0000-0000-000000000001'
          LEFT JOIN test_case_aliases a
                 ON tc.id IS NULL AND a.project_id = p_project AND a.owner = '' AND a.alias_key = w.k
         WHERE tc.id IS NOT NULL OR a.test_case_id IS NOT NULL;
    END IF;
END;
$$;
GRANT EXECUTE ON FUNCTION known_test_cases(UUID, TEXT[]) TO application_users;

-- The cases of a batch of results, by key: `p_tests` is a JSON array of
-- {key, name, suite, file, tags} (each key once). Known keys (and aliases) answer their case;
-- unknown ones adopt a case of the same name and category that has no key yet, else create a
-- case (unless `p_known_only`). A key absent from the answer could not be given a case (its
-- name and category belong to a case with another key, which the key's name did not avoid).
CREATE OR REPLACE FUNCTION import_test_cases(p_project UUID, p_known_only BOOLEAN, p_tests JSONB)
RETURNS TABLE(key TEXT, test_case_id UUID, created BOOLEAN)
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
DECLARE
    me TEXT := app_user_id();
    in_default BOOLEAN := p_project = '00000000-0000-0000-0000-000000000001';
    wanted INT := jsonb_array_length(p_tests);
    found_keys TEXT[];
    found_ids UUID[];
    done_keys TEXT[];
    done_ids UUID[];
    done_created BOOLEAN[];
    named_keys TEXT[];
    named_ids UUID[];
BEGIN
    IF NOT app_may_report(p_project) THEN
        RAISE EXCEPTION 'the caller may not report in project %', p_project USING ERRCODE = '42501';
    END IF;
    -- the keys known already (a writer may have created some since the caller looked)
    SELECT coalesce(array_agg(f.key), '{}'), coalesce(array_agg(f.test_case_id), '{}')
      INTO found_keys, found_ids
      FROM known_test_cases(p_project,
               ARRAY(SELECT w.key FROM jsonb_to_recordset(p_tests) AS w(key text))) f;
    RETURN QUERY SELECT k, i, false FROM unnest(found_keys, found_ids) AS f(k, i);
    IF p_known_only OR cardinality(found_keys) >= wanted THEN
        RETURN;
    END IF;
    -- the others: a keyless case of the same name and category takes the key, or a case is
    -- created; both answered by the statement that writes them
    WITH missing AS (
        SELECT w.* FROM jsonb_to_recordset(p_tests)
               AS w(key text, name text, suite text, file text, tags jsonb)
         -- (a hashed anti-join: keys are never null)
         WHERE w.key NOT IN (SELECT unnest(found_keys))
    ), adopted AS (
        UPDATE test_cases tc SET identity_key = m.key
          FROM missing m
         WHERE tc.project_id = p_project AND tc.identity_key IS NULL AND tc.status <> 'archived'
           AND tc.name = m.name AND tc.category IS NOT DISTINCT FROM m.suite
           AND (NOT in_default OR tc.author IS NOT DISTINCT FROM me)
           -- a case of the catalogue takes a key only from someone who may change it
           AND app_may_write_case(tc.id)
        RETURNING m.key, tc.id
    ), inserted AS (
        INSERT INTO test_cases(id, name, category, identity_key, status, is_automated, author,
                               project_id, tags, metadata)
        SELECT gen_random_uuid(), m.name, m.suite, m.key, 'active', true, me, p_project,
               coalesce(m.tags, '[]'::jsonb),
               CASE WHEN m.file IS NULL THEN '{}'::jsonb ELSE jsonb_build_object('file', m.file) END
          FROM missing m
         WHERE NOT EXISTS (SELECT 1 FROM adopted d WHERE d.key = m.key)
        ON CONFLICT DO NOTHING
        RETURNING identity_key, id
    )
    SELECT coalesce(array_agg(d.k), '{}'), coalesce(array_agg(d.i), '{}'), coalesce(array_agg(d.c), '{}')
      INTO done_keys, done_ids, done_created
      FROM (SELECT a.key AS k, a.id AS i, false AS c FROM adopted a
            UNION ALL
            SELECT n.identity_key, n.id, true FROM inserted n) d;
    RETURN QUERY SELECT k, i, c FROM unnest(done_keys, done_ids, done_created) AS f(k, i, c);
    IF cardinality(found_keys) + cardinality(done_keys) >= wanted THEN
        RETURN;
    END IF;
    -- what an insert skipped. A test whose name and category another key's case has (a
    -- parametrized test named without its parameters): named by its key instead
    WITH leftover AS (
        SELECT w.* FROM jsonb_to_recordset(p_tests)
               AS w(key text, name text, suite text, file text, tags jsonb)
         WHERE w.key NOT IN (SELECT unnest(found_keys))
           AND w.key NOT IN (SELECT unnest(done_keys))
    ), named AS (
        INSERT INTO test_cases(id, name, category, identity_key, status, is_automated, author,
                               project_id, tags, metadata)
        SELECT gen_random_uuid(),
               CASE WHEN length(l.key) <= 255 THEN l.key ELSE '…' || right(l.key, 254) END,
               l.suite, l.key, 'active', true, me, p_project, coalesce(l.tags, '[]'::jsonb),
               CASE WHEN l.file IS NULL THEN '{}'::jsonb ELSE jsonb_build_object('file', l.file) END
          FROM leftover l
        ON CONFLICT DO NOTHING
        RETURNING identity_key, id
    )
    SELECT coalesce(array_agg(n.identity_key::text), '{}'), coalesce(array_agg(n.id), '{}')
      INTO named_keys, named_ids
      FROM named n;
    RETURN QUERY SELECT k, i, true FROM unnest(named_keys, named_ids) AS f(k, i);
    -- a statement of its own: it sees the cases another writer created meanwhile (whose
    -- insert won over this one's)
    RETURN QUERY
    SELECT f.key, f.test_case_id, false
      FROM known_test_cases(p_project, ARRAY(
               SELECT w.key FROM jsonb_to_recordset(p_tests) AS w(key text)
                WHERE w.key NOT IN (SELECT unnest(found_keys))
                  AND w.key NOT IN (SELECT unnest(done_keys))
                  AND w.key NOT IN (SELECT unnest(named_keys)))) f;
END;
$$;

-- A run's counters and outcome (migration 17), recounted over the latest attempt of each case.
CREATE OR REPLACE FUNCTION refresh_test_run(p_run UUID, p_finish BOOLEAN DEFAULT false) RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp SET work_mem = '64MB' AS $$
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
    IF p_finish AND cur.status IN ('pending', 'running') THEN
        UPDATE test_executions SET status = 'cancelled', completed_at = now()
         WHERE test_run_id = p_run AND status IN ('pending', 'running');
    END IF;
    SELECT count(*) AS total,
           count(*) FILTER (WHERE l.status = 'passed') AS passed,
           count(*) FILTER (WHERE l.status = 'failed') AS failed,
           count(*) FILTER (WHERE l.status = 'skipped') AS skipped,
           count(*) FILTER (WHERE l.status IN ('pending', 'running')) AS open,
           count(*) FILTER (WHERE l.status <> 'pending') AS begun,
           -- a failed case of a suite run that may still be retried: the run's outcome is not
           -- known yet (an ad-hoc run ends when it is finished; its cases' allowance is moot)
           count(*) FILTER (WHERE CASE WHEN l.status = 'failed' AND NOT cur.ad_hoc
                                       THEN l.retry_attempt < coalesce(
                                                (SELECT tc.retry_count FROM test_cases tc
                                                  WHERE tc.id = l.test_case_id), 0)
                                       ELSE false END) AS retryable
      INTO c
      FROM (SELECT DISTINCT ON (test_case_id) test_case_id, retry_attempt, status FROM (
                SELECT test_case_id, retry_attempt, status FROM test_executions WHERE test_run_id = p_run
                UNION ALL
                SELECT test_case_id, retry_attempt, status FROM test_executions_archive WHERE test_run_id = p_run
            ) every_attempt ORDER BY test_case_id, retry_attempt DESC) l;
    new_status := cur.status;
    new_started := cur.started_at;
    new_completed := cur.completed_at;
    -- a finished run (passed, failed, cancelled, aborted) keeps its outcome
    IF cur.status IN ('pending', 'running') THEN
        IF p_finish THEN
            new_status := CASE WHEN c.failed > 0 THEN 'failed'
                               WHEN c.passed + c.skipped > 0 THEN 'passed'
                               ELSE 'aborted' END;
            new_completed := now();
        ELSIF NOT cur.ad_hoc AND c.total > 0 AND c.open = 0 AND c.retryable = 0 THEN
            new_status := CASE WHEN c.failed > 0 THEN 'failed' ELSE 'passed' END;
            new_completed := now();
        ELSIF c.begun > 0 OR cur.started_at IS NOT NULL THEN
            new_status := 'running';
        END IF;
        IF c.begun > 0 THEN
            new_started := coalesce(cur.started_at, now());
        END IF;
    END IF;
    IF (cur.total_tests, cur.passed_tests, cur.failed_tests, cur.skipped_tests,
        cur.status, cur.started_at, cur.completed_at)
       IS DISTINCT FROM
       (c.total::int, c.passed::int, c.failed::int, c.skipped::int,
        new_status, new_started, new_completed)
       OR cur.last_activity_at < now() - interval '10 seconds' THEN
        UPDATE test_runs
           SET total_tests = c.total, passed_tests = c.passed, failed_tests = c.failed,
               skipped_tests = c.skipped, status = new_status, started_at = new_started,
               completed_at = new_completed, last_activity_at = now()
         WHERE id = p_run;
    END IF;
END;
$$;
"#;

const DOWN: &str = r#"
DROP FUNCTION known_test_cases(UUID, TEXT[]);
DROP TRIGGER test_runs_truncate_reports ON test_runs;
DROP TRIGGER test_executions_truncate_reports ON test_executions;
DROP TRIGGER test_runs_forget_reports ON test_runs;
DROP TRIGGER test_executions_forget_reports ON test_executions;
DROP FUNCTION forget_result_reports();
-- keys whose rows went while no constraint held them
DELETE FROM test_result_reports r
 WHERE NOT EXISTS (SELECT 1 FROM test_executions e WHERE e.id = r.test_execution_id)
    OR NOT EXISTS (SELECT 1 FROM test_runs t WHERE t.id = r.test_run_id);
ALTER TABLE test_result_reports
    ADD CONSTRAINT test_result_reports_test_execution_id_fkey FOREIGN KEY (test_execution_id)
        REFERENCES test_executions(id) ON DELETE CASCADE,
    ADD CONSTRAINT test_result_reports_test_run_id_fkey FOREIGN KEY (test_run_id)
        REFERENCES test_runs(id) ON DELETE CASCADE;
"#;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager.get_connection().execute_unprepared(UP).await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        db.execute_unprepared(DOWN).await?;
        // migration 17's functions (the same signatures: CREATE OR REPLACE takes them back)
        for sql in [IMPORT_TEST_CASES, REFRESH_TEST_RUN] {
            db.execute_unprepared(&sql.replace("CREATE FUNCTION", "CREATE OR REPLACE FUNCTION"))
                .await?;
        }
        Ok(())
    }
}
