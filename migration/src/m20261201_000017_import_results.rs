//! Results in from any test framework (decision 19 and erratum 13 of `docs/architecture.md`).
//!
//! - Stable test identity: `test_cases.identity_key` (the framework's name for a test, such as
//!   `classname::name`), unique where case names are (per project; per author in the default
//!   project), and `test_case_aliases`, older keys that land on a case (renames keep history).
//! - `import_test_cases(project, known_only, tests)`: the cases of a batch of results by key,
//!   created (ACTIVE, automated, the reporter as author) when unknown. A reporter may create
//!   cases this way only: it runs as the owner and checks that the caller may report in the
//!   project. `import_test_steps(steps)` does the same for steps named by results.
//! - Ad-hoc runs (`test_runs.ad_hoc`: no suite, executions created as results arrive, finished
//!   explicitly), client run keys (`run_key`, unique per project, per reporter in the default
//!   project), `last_activity_at`, and the status `aborted` for a run nobody finished.
//! - `refresh_test_run(run, finish)`: a run's outcome is announced once: a suite run stays
//!   RUNNING while a failed case may still be retried; `finish` ends it with the outcome its
//!   results imply (open executions cancelled). A finished run's status never changes again.
//! - `abort_inactive_test_runs(idle)`: runs without activity for `idle` end ABORTED.
//! - Durations in milliseconds (`duration_ms`) beside the seed's whole seconds, which a
//!   trigger keeps filled (rounded) from whichever of the two a writer sets.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

const UP: &str = r#"
-- durations in milliseconds; the seed's seconds follow them
ALTER TABLE test_executions ADD COLUMN duration_ms INTEGER
    CONSTRAINT ck_test_executions_duration_positive_ms CHECK (duration_ms IS NULL OR duration_ms >= 0);
ALTER TABLE test_executions_archive ADD COLUMN duration_ms INTEGER;
ALTER TABLE test_step_executions ADD COLUMN duration_ms INTEGER
    CONSTRAINT ck_test_step_executions_duration_positive_ms CHECK (duration_ms IS NULL OR duration_ms >= 0);
ALTER TABLE test_step_executions_archive ADD COLUMN duration_ms INTEGER;
-- the rows as they were: no audit entry, no announcement, no new updated_at for the backfill
ALTER TABLE test_executions DISABLE TRIGGER USER;
ALTER TABLE test_step_executions DISABLE TRIGGER USER;
UPDATE test_executions SET duration_ms = least(duration_seconds, 2147483) * 1000 WHERE duration_seconds IS NOT NULL;
UPDATE test_executions_archive SET duration_ms = least(duration_seconds, 2147483) * 1000 WHERE duration_seconds IS NOT NULL;
UPDATE test_step_executions SET duration_ms = least(duration_seconds, 2147483) * 1000 WHERE duration_seconds IS NOT NULL;
UPDATE test_step_executions_archive SET duration_ms = least(duration_seconds, 2147483) * 1000 WHERE duration_seconds IS NOT NULL;
ALTER TABLE test_executions ENABLE TRIGGER USER;
ALTER TABLE test_step_executions ENABLE TRIGGER USER;

CREATE FUNCTION sync_duration() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        IF NEW.duration_ms IS NOT NULL THEN
            NEW.duration_seconds := round(NEW.duration_ms / 1000.0)::int;
        ELSIF NEW.duration_seconds IS NOT NULL THEN
            NEW.duration_ms := least(NEW.duration_seconds, 2147483) * 1000;
        END IF;
    ELSIF NEW.duration_ms IS DISTINCT FROM OLD.duration_ms THEN
        NEW.duration_seconds := round(NEW.duration_ms / 1000.0)::int;
    ELSIF NEW.duration_seconds IS DISTINCT FROM OLD.duration_seconds THEN
        NEW.duration_ms := least(NEW.duration_seconds, 2147483) * 1000;
    END IF;
    RETURN NEW;
END;
$$;
CREATE TRIGGER test_executions_sync_duration BEFORE INSERT OR UPDATE ON test_executions
    FOR EACH ROW EXECUTE FUNCTION sync_duration();
CREATE TRIGGER test_step_executions_sync_duration BEFORE INSERT OR UPDATE ON test_step_executions
    FOR EACH ROW EXECUTE FUNCTION sync_duration();

DROP VIEW test_executions_all;
CREATE VIEW test_executions_all WITH (security_invoker = true) AS
SELECT id, test_case_id, test_run_id, configuration_id, status, started_at, completed_at,
       duration_seconds, error_message, execution_metadata, retry_attempt, created_at,
       updated_at, duration_ms, false AS archived
FROM test_executions
UNION ALL
SELECT id, test_case_id, test_run_id, configuration_id, status, started_at, completed_at,
       duration_seconds, error_message, execution_metadata, retry_attempt, created_at,
       updated_at, duration_ms, true AS archived
FROM test_executions_archive;
GRANT SELECT ON test_executions_all TO application_users;

-- stable test identity
ALTER TABLE test_cases ADD COLUMN identity_key VARCHAR(1000);
CREATE UNIQUE INDEX uq_test_cases_project_identity_key ON test_cases(project_id, identity_key)
    WHERE identity_key IS NOT NULL AND project_id <> '00000000-0000-0000-0000-000000000001';
CREATE UNIQUE INDEX uq_test_cases_identity_key_author ON test_cases(identity_key, author)
    NULLS NOT DISTINCT
    WHERE identity_key IS NOT NULL AND project_id = '00000000-0000-0000-0000-000000000001';

CREATE TABLE test_case_aliases (
    project_id UUID NOT NULL REFERENCES projects(id) ON DELETE CASCADE,
    -- whose key it is: the case's author in the default project, '' in the others
    owner VARCHAR(100) NOT NULL DEFAULT '',
    alias_key VARCHAR(1000) NOT NULL,
    test_case_id UUID NOT NULL REFERENCES test_cases(id) ON DELETE CASCADE,
    created_at TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT NOW(),
    PRIMARY KEY (project_id, owner, alias_key)
);
CREATE INDEX ix_test_case_aliases_test_case_id ON test_case_aliases(test_case_id);
ALTER TABLE test_case_aliases ENABLE ROW LEVEL SECURITY;
GRANT SELECT, INSERT, DELETE ON test_case_aliases TO application_users;
-- an alias follows its case: seen with it, written by whoever may change it
CREATE POLICY test_case_alias_access_policy ON test_case_aliases FOR SELECT TO application_users
    USING (EXISTS (SELECT 1 FROM test_cases tc WHERE tc.id = test_case_id));
CREATE POLICY test_case_alias_insert_policy ON test_case_aliases FOR INSERT TO application_users
    WITH CHECK (EXISTS (SELECT 1 FROM test_cases tc WHERE tc.id = test_case_id
                        AND tc.project_id = test_case_aliases.project_id
                        AND (SELECT app_is_admin()
                             OR tc.project_id = ANY ((SELECT app_projects('write'))::uuid[])
                             OR (tc.project_id = '00000000-0000-0000-0000-000000000001'
                                 AND tc.author = (SELECT app_user_id()) AND (SELECT app_own('write'))))));
CREATE POLICY test_case_alias_delete_policy ON test_case_aliases FOR DELETE TO application_users
    USING (EXISTS (SELECT 1 FROM test_cases tc WHERE tc.id = test_case_id
                   AND (SELECT app_is_admin()
                        OR tc.project_id = ANY ((SELECT app_projects('write'))::uuid[])
                        OR (tc.project_id = '00000000-0000-0000-0000-000000000001'
                            AND tc.author = (SELECT app_user_id()) AND (SELECT app_own('write'))))));

-- whether the caller may report results in a project
CREATE FUNCTION app_may_report(p_project UUID) RETURNS BOOLEAN LANGUAGE sql STABLE AS $$
    SELECT app_is_admin() OR p_project = ANY (app_projects('report'))
        OR (p_project = '00000000-0000-0000-0000-000000000001' AND app_own('report'))
$$;
GRANT EXECUTE ON FUNCTION app_may_report(UUID) TO application_users;


-- The steps of cases named by results: `p_steps` is a JSON array of {case, name}; steps the
-- case has not got are appended to it (type custom), in the order given.
CREATE FUNCTION import_test_steps(p_steps JSONB)
RETURNS TABLE(test_case_id UUID, name TEXT, step_id UUID)
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
BEGIN
    -- a reporter adds steps to the cases of tests (those with an identity key) only; other
    -- cases take steps from those who may change them
    IF EXISTS (SELECT 1 FROM jsonb_to_recordset(p_steps) AS w("case" uuid)
                 LEFT JOIN test_cases tc ON tc.id = w."case"
                WHERE tc.id IS NULL OR NOT app_may_report(tc.project_id)
                   OR (tc.project_id = '00000000-0000-0000-0000-000000000001'
                       AND NOT app_is_admin() AND tc.author IS DISTINCT FROM app_user_id())
                   OR (tc.identity_key IS NULL AND NOT app_may_write_case(tc.id))) THEN
        RAISE EXCEPTION 'the caller may not add steps to these cases' USING ERRCODE = '42501';
    END IF;
    -- writers adding steps to one case take turns (the new steps' positions follow the last)
    PERFORM 1 FROM test_cases
     WHERE id IN (SELECT DISTINCT w."case" FROM jsonb_to_recordset(p_steps) AS w("case" uuid))
     ORDER BY id FOR UPDATE;
    INSERT INTO test_steps(id, test_case_id, order_index, name, step_type)
    SELECT gen_random_uuid(), m."case",
           coalesce((SELECT max(s.order_index) FROM test_steps s WHERE s.test_case_id = m."case"), 0)
             + row_number() OVER (PARTITION BY m."case" ORDER BY m.n),
           m.name, 'custom'
      FROM (SELECT DISTINCT ON (w."case", w.name) w."case", w.name, w.n
              FROM ROWS FROM (jsonb_to_recordset(p_steps) AS ("case" uuid, name text))
                   WITH ORDINALITY AS w("case", name, n)
             WHERE NOT EXISTS (SELECT 1 FROM test_steps s WHERE s.test_case_id = w."case" AND s.name = w.name)
             ORDER BY w."case", w.name, w.n) m
    ON CONFLICT DO NOTHING;
    RETURN QUERY
    SELECT DISTINCT ON (s.test_case_id, s.name) s.test_case_id, s.name::text, s.id
      FROM test_steps s
      JOIN (SELECT DISTINCT w."case", w.name FROM jsonb_to_recordset(p_steps) AS w("case" uuid, name text)) w
        ON s.test_case_id = w."case" AND s.name = w.name
     ORDER BY s.test_case_id, s.name, s.order_index;
END;
$$;
GRANT EXECUTE ON FUNCTION import_test_steps(JSONB) TO application_users;

-- whether the caller may change a case
CREATE FUNCTION app_may_write_case(p_case UUID) RETURNS BOOLEAN LANGUAGE sql STABLE
SECURITY DEFINER SET search_path = public, pg_temp AS $$
    SELECT EXISTS (SELECT 1 FROM test_cases tc WHERE tc.id = p_case
        AND (app_is_admin() OR tc.project_id = ANY (app_projects('write'))
             OR (tc.project_id = '00000000-0000-0000-0000-000000000001'
                 AND tc.author IS NOT DISTINCT FROM app_user_id() AND app_own('write'))))
$$;
GRANT EXECUTE ON FUNCTION app_may_write_case(UUID) TO application_users;

-- Merges a case into another of its project (a renamed test): its executions, live and
-- archived, its step results (onto the target's step of the same name, else its steps move
-- after the target's), its suite memberships and its keys (as aliases) go to the target, and
-- the case is deleted. Refused when both have results in one run.
CREATE FUNCTION merge_test_cases(p_source UUID, p_target UUID) RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
DECLARE
    src test_cases%ROWTYPE;
    dst test_cases%ROWTYPE;
    key_owner TEXT;
BEGIN
    IF NOT (app_may_write_case(p_source) AND app_may_write_case(p_target)) THEN
        RAISE EXCEPTION 'the caller may not change these cases' USING ERRCODE = '42501';
    END IF;
    SELECT * INTO src FROM test_cases WHERE id = p_source FOR UPDATE;
    SELECT * INTO dst FROM test_cases WHERE id = p_target FOR UPDATE;
    IF src.project_id <> dst.project_id THEN
        RAISE EXCEPTION 'the cases are in different projects' USING ERRCODE = '22023';
    END IF;
    IF EXISTS (SELECT 1 FROM test_executions_all a JOIN test_executions_all b
                 ON a.test_run_id = b.test_run_id
                WHERE a.test_case_id = p_source AND b.test_case_id = p_target) THEN
        RAISE EXCEPTION 'both cases have results in one run' USING ERRCODE = '23505',
            CONSTRAINT = 'uq_test_executions_run_case_attempt';
    END IF;
    key_owner := CASE WHEN dst.project_id = '00000000-0000-0000-0000-000000000001'
                      THEN coalesce(dst.author, '') ELSE '' END;
    UPDATE test_step_executions se SET test_step_id = t.id
      FROM test_steps s JOIN test_steps t ON t.test_case_id = p_target AND t.name = s.name
     WHERE s.test_case_id = p_source AND se.test_step_id = s.id;
    UPDATE test_step_executions_archive se SET test_step_id = t.id
      FROM test_steps s JOIN test_steps t ON t.test_case_id = p_target AND t.name = s.name
     WHERE s.test_case_id = p_source AND se.test_step_id = s.id;
    UPDATE test_steps s
       SET test_case_id = p_target,
           order_index = s.order_index + (SELECT coalesce(max(t.order_index), 0) FROM test_steps t
                                           WHERE t.test_case_id = p_target)
     WHERE s.test_case_id = p_source
       AND NOT EXISTS (SELECT 1 FROM test_steps t WHERE t.test_case_id = p_target AND t.name = s.name);
    UPDATE test_executions SET test_case_id = p_target WHERE test_case_id = p_source;
    UPDATE test_executions_archive SET test_case_id = p_target WHERE test_case_id = p_source;
    UPDATE test_suite_test_cases m SET test_case_id = p_target
     WHERE m.test_case_id = p_source
       AND NOT EXISTS (SELECT 1 FROM test_suite_test_cases o
                        WHERE o.test_suite_id = m.test_suite_id AND o.test_case_id = p_target);
    INSERT INTO test_case_aliases(project_id, owner, alias_key, test_case_id)
    SELECT dst.project_id, key_owner, k, p_target
      FROM (SELECT src.identity_key AS k WHERE src.identity_key IS NOT NULL
            UNION SELECT alias_key FROM test_case_aliases WHERE test_case_id = p_source) keys
    ON CONFLICT (project_id, owner, alias_key) DO UPDATE SET test_case_id = EXCLUDED.test_case_id;
    DELETE FROM test_cases WHERE id = p_source;
END;
$$;
GRANT EXECUTE ON FUNCTION merge_test_cases(UUID, UUID) TO application_users;

-- ad-hoc runs, run keys, activity, and the status aborted
ALTER TABLE test_runs
    ADD COLUMN ad_hoc BOOLEAN NOT NULL DEFAULT false,
    ADD COLUMN run_key VARCHAR(200),
    ADD COLUMN last_activity_at TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT NOW(),
    DROP CONSTRAINT ck_test_runs_status,
    ADD CONSTRAINT ck_test_runs_status CHECK (status IN (
        'pending', 'running', 'passed', 'failed', 'cancelled', 'aborted')),
    DROP CONSTRAINT ck_test_runs_completion_logic,
    ADD CONSTRAINT ck_test_runs_completion_logic CHECK (
        (completed_at IS NULL AND status IN ('pending', 'running')) OR
        (completed_at IS NOT NULL AND status IN ('passed', 'failed', 'cancelled', 'aborted')));
-- a run key is its reporter's (in a project): what one reporter's key finds never depends on
-- runs they may not see, and two CI tokens reusing build numbers never collide
CREATE UNIQUE INDEX uq_test_runs_run_key ON test_runs(project_id, triggered_by, run_key)
    NULLS NOT DISTINCT WHERE run_key IS NOT NULL;
CREATE INDEX ix_test_runs_open_activity ON test_runs(last_activity_at)
    WHERE status IN ('pending', 'running');

DROP FUNCTION refresh_test_run(UUID);

-- Ends the runs nobody touched for `p_idle`: ABORTED, their open executions cancelled.
-- Returns the runs it ended.
CREATE FUNCTION abort_inactive_test_runs(p_idle INTERVAL) RETURNS SETOF UUID
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
DECLARE
    ids UUID[];
BEGIN
    SELECT array_agg(id) INTO ids FROM (
        SELECT id FROM test_runs
         WHERE status IN ('pending', 'running') AND last_activity_at < now() - p_idle
         ORDER BY last_activity_at LIMIT 1000
           FOR UPDATE SKIP LOCKED) idle;
    IF ids IS NULL THEN
        RETURN;
    END IF;
    UPDATE test_executions SET status = 'cancelled', completed_at = now()
     WHERE test_run_id = ANY(ids) AND status IN ('pending', 'running');
    RETURN QUERY
    UPDATE test_runs SET status = 'aborted', completed_at = now()
     WHERE id = ANY(ids) RETURNING id;
END;
$$;
-- the server's own task calls it (as the owner); no request may
REVOKE EXECUTE ON FUNCTION abort_inactive_test_runs(INTERVAL) FROM PUBLIC;
"#;

/// `import_test_cases` as this migration made it (migration 18 replaces it and restores it).
pub(crate) const IMPORT_TEST_CASES: &str = r#"
-- The cases of a batch of results, by key: `p_tests` is a JSON array of
-- {key, name, suite, file, tags}. Known keys (and aliases) answer their case; unknown ones
-- adopt a case of the same name and category that has no key yet, else create a case
-- (unless `p_known_only`). A key absent from the answer could not be given a case (its name
-- and category belong to a case with another key).
CREATE FUNCTION import_test_cases(p_project UUID, p_known_only BOOLEAN, p_tests JSONB)
RETURNS TABLE(key TEXT, test_case_id UUID, created BOOLEAN)
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
DECLARE
    me TEXT := app_user_id();
    in_default BOOLEAN := p_project = '00000000-0000-0000-0000-000000000001';
    key_owner TEXT := CASE WHEN p_project = '00000000-0000-0000-0000-000000000001'
                           THEN coalesce(app_user_id(), '') ELSE '' END;
    made UUID[] := '{}';
    found_keys TEXT[];
    found_ids UUID[];
BEGIN
    IF NOT app_may_report(p_project) THEN
        RAISE EXCEPTION 'the caller may not report in project %', p_project USING ERRCODE = '42501';
    END IF;
    -- the keys known already (most, once a project's tests have been seen): one lookup
    SELECT coalesce(array_agg(w.key), '{}'), coalesce(array_agg(coalesce(tc.id, a.test_case_id)), '{}')
      INTO found_keys, found_ids
      FROM jsonb_to_recordset(p_tests) AS w(key text)
      LEFT JOIN test_cases tc ON tc.identity_key = w.key AND tc.project_id = p_project
                             AND (NOT in_default OR tc.author IS NOT DISTINCT FROM me)
      LEFT JOIN test_case_aliases a ON tc.id IS NULL AND a.project_id = p_project
                                   AND a.owner = key_owner AND a.alias_key = w.key
     WHERE tc.id IS NOT NULL OR a.test_case_id IS NOT NULL;
    RETURN QUERY SELECT k, i, false FROM unnest(found_keys, found_ids) AS f(k, i);
    IF p_known_only OR cardinality(found_keys) >= jsonb_array_length(p_tests) THEN
        RETURN;
    END IF;
    IF NOT p_known_only THEN
        WITH missing AS (
            SELECT w.* FROM jsonb_to_recordset(p_tests)
                   AS w(key text, name text, suite text, file text, tags jsonb)
             WHERE NOT EXISTS (SELECT 1 FROM test_cases tc WHERE tc.identity_key = w.key
                                 AND tc.project_id = p_project
                                 AND (NOT in_default OR tc.author IS NOT DISTINCT FROM me))
               AND NOT EXISTS (SELECT 1 FROM test_case_aliases a WHERE a.project_id = p_project
                                 AND a.owner = key_owner AND a.alias_key = w.key)
        ), adopted AS (
            UPDATE test_cases tc SET identity_key = m.key
              FROM missing m
             WHERE tc.project_id = p_project AND tc.identity_key IS NULL AND tc.status <> 'archived'
               AND tc.name = m.name AND tc.category IS NOT DISTINCT FROM m.suite
               AND (NOT in_default OR tc.author IS NOT DISTINCT FROM me)
               -- a case of the catalogue takes a key only from someone who may change it
               AND app_may_write_case(tc.id)
            RETURNING m.key
        ), inserted AS (
            INSERT INTO test_cases(id, name, category, identity_key, status, is_automated, author,
                                   project_id, tags, metadata)
            SELECT gen_random_uuid(), m.name, m.suite, m.key, 'active', true, me, p_project,
                   coalesce(m.tags, '[]'::jsonb),
                   CASE WHEN m.file IS NULL THEN '{}'::jsonb ELSE jsonb_build_object('file', m.file) END
              FROM missing m
             WHERE NOT EXISTS (SELECT 1 FROM adopted d WHERE d.key = m.key)
            ON CONFLICT DO NOTHING
            RETURNING id
        )
        SELECT coalesce(array_agg(id), '{}') INTO made FROM inserted;
        -- a test whose name and category another key's case has (a parametrized test named
        -- without its parameters): named by its key instead
        WITH named AS (
            INSERT INTO test_cases(id, name, category, identity_key, status, is_automated, author,
                                   project_id, tags, metadata)
            SELECT gen_random_uuid(),
                   CASE WHEN length(w.key) <= 255 THEN w.key ELSE '…' || right(w.key, 254) END,
                   w.suite, w.key, 'active', true, me, p_project, coalesce(w.tags, '[]'::jsonb),
                   CASE WHEN w.file IS NULL THEN '{}'::jsonb ELSE jsonb_build_object('file', w.file) END
              FROM jsonb_to_recordset(p_tests) AS w(key text, name text, suite text, file text, tags jsonb)
             WHERE NOT EXISTS (SELECT 1 FROM test_cases tc WHERE tc.identity_key = w.key
                                 AND tc.project_id = p_project
                                 AND (NOT in_default OR tc.author IS NOT DISTINCT FROM me))
               AND NOT EXISTS (SELECT 1 FROM test_case_aliases a WHERE a.project_id = p_project
                                 AND a.owner = key_owner AND a.alias_key = w.key)
            ON CONFLICT DO NOTHING
            RETURNING id
        )
        SELECT made || coalesce(array_agg(id), '{}') INTO made FROM named;
    END IF;
    -- a statement of its own: it sees the cases another writer created meanwhile (whose
    -- insert won over this one's)
    RETURN QUERY
    SELECT w.key, coalesce(tc.id, a.test_case_id), coalesce(tc.id = ANY(made), false)
      FROM jsonb_to_recordset(p_tests) AS w(key text)
      LEFT JOIN test_cases tc ON tc.identity_key = w.key AND tc.project_id = p_project
                             AND (NOT in_default OR tc.author IS NOT DISTINCT FROM me)
      LEFT JOIN test_case_aliases a ON tc.id IS NULL AND a.project_id = p_project
                                   AND a.owner = key_owner AND a.alias_key = w.key
     WHERE (tc.id IS NOT NULL OR a.test_case_id IS NOT NULL)
       -- (a hashed anti-join: keys are never null)
       AND w.key NOT IN (SELECT unnest(found_keys));
END;
$$;
GRANT EXECUTE ON FUNCTION import_test_cases(UUID, BOOLEAN, JSONB) TO application_users;
"#;

/// `refresh_test_run(run, finish)` as this migration made it (migration 18 replaces it and
/// restores it).
pub(crate) const REFRESH_TEST_RUN: &str = r#"
CREATE FUNCTION refresh_test_run(p_run UUID, p_finish BOOLEAN DEFAULT false) RETURNS void
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
           -- a failed case that may still be retried: the run's outcome is not known yet
           count(*) FILTER (WHERE l.status = 'failed'
                            AND l.retry_attempt < coalesce(tc.retry_count, 0)) AS retryable
      INTO c
      FROM (SELECT DISTINCT ON (test_case_id) test_case_id, retry_attempt, status FROM (
                SELECT test_case_id, retry_attempt, status FROM test_executions WHERE test_run_id = p_run
                UNION ALL
                SELECT test_case_id, retry_attempt, status FROM test_executions_archive WHERE test_run_id = p_run
            ) every_attempt ORDER BY test_case_id, retry_attempt DESC) l
      LEFT JOIN test_cases tc ON tc.id = l.test_case_id;
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
GRANT EXECUTE ON FUNCTION refresh_test_run(UUID, BOOLEAN) TO application_users;
"#;

const DOWN: &str = r#"
DROP FUNCTION abort_inactive_test_runs(INTERVAL);
DROP FUNCTION refresh_test_run(UUID, BOOLEAN);
-- migration 8's refresh
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
DROP INDEX ix_test_runs_open_activity;
DROP INDEX uq_test_runs_run_key;
UPDATE test_runs SET status = 'cancelled' WHERE status = 'aborted';
ALTER TABLE test_runs
    DROP CONSTRAINT ck_test_runs_completion_logic,
    ADD CONSTRAINT ck_test_runs_completion_logic CHECK (
        (completed_at IS NULL AND status IN ('pending', 'running')) OR
        (completed_at IS NOT NULL AND status IN ('passed', 'failed', 'cancelled'))),
    DROP CONSTRAINT ck_test_runs_status,
    ADD CONSTRAINT ck_test_runs_status CHECK (status IN (
        'pending', 'running', 'passed', 'failed', 'cancelled')),
    DROP COLUMN last_activity_at,
    DROP COLUMN run_key,
    DROP COLUMN ad_hoc;
DROP FUNCTION merge_test_cases(UUID, UUID);
DROP FUNCTION app_may_write_case(UUID);
DROP FUNCTION import_test_steps(JSONB);
DROP FUNCTION import_test_cases(UUID, BOOLEAN, JSONB);
DROP FUNCTION app_may_report(UUID);
DROP TABLE test_case_aliases;
DROP INDEX uq_test_cases_identity_key_author;
DROP INDEX uq_test_cases_project_identity_key;
ALTER TABLE test_cases DROP COLUMN identity_key;
DROP VIEW test_executions_all;
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
DROP TRIGGER test_step_executions_sync_duration ON test_step_executions;
DROP TRIGGER test_executions_sync_duration ON test_executions;
DROP FUNCTION sync_duration();
ALTER TABLE test_step_executions_archive DROP COLUMN duration_ms;
ALTER TABLE test_step_executions DROP COLUMN duration_ms;
ALTER TABLE test_executions_archive DROP COLUMN duration_ms;
ALTER TABLE test_executions DROP COLUMN duration_ms;
"#;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        db.execute_unprepared(UP).await?;
        db.execute_unprepared(IMPORT_TEST_CASES).await?;
        db.execute_unprepared(REFRESH_TEST_RUN).await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager.get_connection().execute_unprepared(DOWN).await?;
        Ok(())
    }
}
