//! Failure groups kept per project and error fingerprint, so that the top groups are read, not
//! computed, at any size.
//!
//! Grouped on demand, `failureGroups` fingerprinted every failed execution (a regular
//! expression per message) and grouped them all: 675–814 ms at 1M executions. Errata 4 rules
//! out a summary refreshed by every statement, and two CI shards failing with the same error
//! must never wait for each other on the group's row; so, as the kept flakiness (migration 11):
//!
//! - The write path only appends notes: a statement-level trigger on `test_executions`
//!   (insert, update, delete) appends each changed failed row's contribution (its message, case,
//!   run, completion time, +1 or -1) to `failure_group_pending`: one INSERT per statement, no
//!   index, no uniqueness, no fingerprinting, so concurrent writers never wait on each other.
//!   Passed and pending rows cost nothing but the scan of the statement's transition table.
//! - `fold_failure_groups()` applies the notes and empties the list, one fold at a time (a
//!   transaction-level advisory lock; a second waits, then finds the list empty): the kept
//!   tables are `failure_groups` (per project and fingerprint: failures, first and last seen,
//!   the three alphabetically first distinct messages, and the distinct cases and runs it spans),
//!   whose distinct counts are maintained through `failure_group_cases` (per fingerprint, case
//!   and project) and `failure_group_runs` (per fingerprint and run). A removed failure that
//!   held a case's first/last time or one of its examples makes the fold recompute that case's
//!   row from the case's failed executions, and then its group from the group's case rows:
//!   work for the fold, never for the writer. Readers fold first, so a read reflects every
//!   committed write; the server folds in the background and `maintenance` does, so a reader
//!   rarely has anything left to do.
//! - The project of a group is that of the run (whose project decides who reads an execution);
//!   executions of no run (their run was deleted) are kept under the nil id, which only admins
//!   read. A deleted run's project is known from `failure_group_runs`.
//! - Archival deletes executions and restoring inserts them: the kept groups follow
//!   `test_executions` exactly as the on-demand query does. TRUNCATE empties them.
//! - `rebuild_failure_groups()` recomputes everything from `test_executions` (the backfill
//!   here, and a repair after writes made with triggers off); writers wait for it.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

const UP: &str = r#"
CREATE TABLE failure_groups (
    project_id UUID NOT NULL,
    fingerprint_hash UUID NOT NULL,
    fingerprint TEXT NOT NULL,
    failures BIGINT NOT NULL,
    affected_test_cases BIGINT NOT NULL,
    affected_runs BIGINT NOT NULL,
    first_seen_at TIMESTAMP WITH TIME ZONE,
    last_seen_at TIMESTAMP WITH TIME ZONE,
    examples TEXT[] NOT NULL,
    PRIMARY KEY (project_id, fingerprint_hash)
);
-- the top groups of a project; ties are broken by the fingerprint at read time (a fingerprint
-- may be too long for an index entry)
CREATE INDEX ix_failure_groups_project_failures ON failure_groups(project_id, failures DESC);
CREATE INDEX ix_failure_groups_failures ON failure_groups(failures DESC);

CREATE TABLE failure_group_cases (
    fingerprint_hash UUID NOT NULL,
    test_case_id UUID NOT NULL,
    project_id UUID NOT NULL,
    failures BIGINT NOT NULL,
    first_seen_at TIMESTAMP WITH TIME ZONE,
    last_seen_at TIMESTAMP WITH TIME ZONE,
    examples TEXT[] NOT NULL,
    PRIMARY KEY (fingerprint_hash, test_case_id, project_id)
);

CREATE TABLE failure_group_runs (
    fingerprint_hash UUID NOT NULL,
    test_run_id UUID NOT NULL,
    project_id UUID NOT NULL,
    failures BIGINT NOT NULL,
    PRIMARY KEY (fingerprint_hash, test_run_id)
);

-- written by the trigger and emptied by the fold, both as the owner: no grant, no policy
CREATE TABLE failure_group_pending (
    error_message TEXT NOT NULL,
    test_case_id UUID NOT NULL,
    test_run_id UUID,
    completed_at TIMESTAMP WITH TIME ZONE,
    delta SMALLINT NOT NULL
);

-- what a caller reads of the kept groups is what it reads of the executions they count: all
-- for an admin, a project's for those who read all its runs (executions of no run: admins)
ALTER TABLE failure_groups ENABLE ROW LEVEL SECURITY;
ALTER TABLE failure_group_cases ENABLE ROW LEVEL SECURITY;
ALTER TABLE failure_group_runs ENABLE ROW LEVEL SECURITY;
ALTER TABLE failure_group_pending ENABLE ROW LEVEL SECURITY;
GRANT SELECT ON failure_groups, failure_group_cases, failure_group_runs TO application_users;
CREATE POLICY failure_groups_admin_read_policy ON failure_groups FOR SELECT
    TO application_admins USING (true);
CREATE POLICY failure_groups_project_read_policy ON failure_groups FOR SELECT
    TO application_project_users USING (project_id = ANY ((SELECT app_projects('runs'))::uuid[]));
CREATE POLICY failure_group_cases_admin_read_policy ON failure_group_cases FOR SELECT
    TO application_admins USING (true);
CREATE POLICY failure_group_cases_project_read_policy ON failure_group_cases FOR SELECT
    TO application_project_users USING (project_id = ANY ((SELECT app_projects('runs'))::uuid[]));
CREATE POLICY failure_group_runs_admin_read_policy ON failure_group_runs FOR SELECT
    TO application_admins USING (true);
CREATE POLICY failure_group_runs_project_read_policy ON failure_group_runs FOR SELECT
    TO application_project_users USING (project_id = ANY ((SELECT app_projects('runs'))::uuid[]));

-- The three alphabetically first distinct messages of two lists (what the on-demand query's
-- `(array_agg(DISTINCT message ORDER BY message))[1:3]` gives), and its aggregate.
CREATE FUNCTION failure_group_examples(a TEXT[], b TEXT[]) RETURNS TEXT[]
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT coalesce(array_agg(m ORDER BY m), '{}')
    FROM (SELECT DISTINCT m FROM unnest(coalesce(a, '{}') || coalesce(b, '{}')) AS m
          WHERE m IS NOT NULL ORDER BY m LIMIT 3) s
$$;
CREATE AGGREGATE failure_group_examples_agg(TEXT[]) (
    SFUNC = failure_group_examples, STYPE = TEXT[], INITCOND = '{}');
GRANT EXECUTE ON FUNCTION failure_group_examples(TEXT[], TEXT[]) TO application_users;
GRANT EXECUTE ON FUNCTION failure_group_examples_agg(TEXT[]) TO application_users;

CREATE FUNCTION note_failure_group_pending() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
BEGIN
    -- only failed executions with a message are grouped
    IF TG_OP = 'INSERT' THEN
        INSERT INTO failure_group_pending
        SELECT error_message, test_case_id, test_run_id, completed_at, 1 FROM new_rows
        WHERE status = 'failed' AND error_message IS NOT NULL;
    ELSIF TG_OP = 'DELETE' THEN
        INSERT INTO failure_group_pending
        SELECT error_message, test_case_id, test_run_id, completed_at, -1 FROM old_rows
        WHERE status = 'failed' AND error_message IS NOT NULL;
    ELSIF EXISTS (SELECT 1 FROM old_rows WHERE status = 'failed' AND error_message IS NOT NULL) THEN
        -- failed rows left or changed: what changed of them is taken out, then put back
        INSERT INTO failure_group_pending
        SELECT o.error_message, o.test_case_id, o.test_run_id, o.completed_at, -1
        FROM old_rows o LEFT JOIN new_rows n ON n.id = o.id
        WHERE o.status = 'failed' AND o.error_message IS NOT NULL
          AND (n.id IS NULL OR n.status <> 'failed' OR n.error_message IS DISTINCT FROM o.error_message
               OR n.test_case_id <> o.test_case_id OR n.test_run_id IS DISTINCT FROM o.test_run_id
               OR n.completed_at IS DISTINCT FROM o.completed_at)
        UNION ALL
        SELECT n.error_message, n.test_case_id, n.test_run_id, n.completed_at, 1
        FROM new_rows n LEFT JOIN old_rows o ON o.id = n.id
        WHERE n.status = 'failed' AND n.error_message IS NOT NULL
          AND (o.id IS NULL OR o.status <> 'failed' OR o.error_message IS DISTINCT FROM n.error_message
               OR o.test_case_id <> n.test_case_id OR o.test_run_id IS DISTINCT FROM n.test_run_id
               OR o.completed_at IS DISTINCT FROM n.completed_at);
    ELSE
        -- the common update: pending or running rows completed
        INSERT INTO failure_group_pending
        SELECT error_message, test_case_id, test_run_id, completed_at, 1 FROM new_rows
        WHERE status = 'failed' AND error_message IS NOT NULL;
    END IF;
    RETURN NULL;
END;
$$;

CREATE TRIGGER test_executions_failure_groups_insert AFTER INSERT ON test_executions
    REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION note_failure_group_pending();
CREATE TRIGGER test_executions_failure_groups_update AFTER UPDATE ON test_executions
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION note_failure_group_pending();
CREATE TRIGGER test_executions_failure_groups_delete AFTER DELETE ON test_executions
    REFERENCING OLD TABLE AS old_rows
    FOR EACH STATEMENT EXECUTE FUNCTION note_failure_group_pending();

CREATE FUNCTION forget_failure_groups() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
BEGIN
    DELETE FROM failure_group_pending;
    DELETE FROM failure_group_runs;
    DELETE FROM failure_group_cases;
    DELETE FROM failure_groups;
    RETURN NULL;
END;
$$;
CREATE TRIGGER test_executions_failure_groups_truncate AFTER TRUNCATE ON test_executions
    FOR EACH STATEMENT EXECUTE FUNCTION forget_failure_groups();

-- One net change of the fold: a failure's contribution, resolved to its project.
CREATE TYPE failure_group_change AS (
    project_id UUID, fingerprint_hash UUID, fingerprint TEXT, test_case_id UUID,
    test_run_id UUID, completed_at TIMESTAMP WITH TIME ZONE, error_message TEXT, delta BIGINT);
-- What the fold did to one case row, or to the runs of one group.
CREATE TYPE failure_group_case_change AS (
    project_id UUID, fingerprint_hash UUID, fingerprint TEXT, test_case_id UUID,
    failures BIGINT, delta BIGINT, first_seen_at TIMESTAMP WITH TIME ZONE,
    last_seen_at TIMESTAMP WITH TIME ZONE, examples TEXT[], recompute BOOLEAN);
CREATE TYPE failure_group_count AS (project_id UUID, fingerprint_hash UUID, n BIGINT);

-- Applies the pending notes to the kept groups; returns how many notes it applied.
CREATE FUNCTION fold_failure_groups() RETURNS INT
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
DECLARE
    notes INT;
    changes failure_group_change[];
    cases failure_group_case_change[];
    runs failure_group_count[];
BEGIN
    PERFORM pg_advisory_xact_lock(hashtext('failure_groups'));
    -- the notes, netted (an update that changed nothing of a failure cancels out) and
    -- resolved to their run's project: the kept one for a run deleted since (a note of a
    -- deleted run not kept is cancelled by another of the same run: it is dropped)
    WITH taken AS (DELETE FROM failure_group_pending RETURNING *),
    net AS (
        SELECT md5(f)::uuid AS fingerprint_hash, f AS fingerprint, test_case_id, test_run_id,
               completed_at, error_message, sum(delta) AS delta, count(*) AS n
        FROM (SELECT error_fingerprint(error_message) AS f, * FROM taken) t
        GROUP BY f, test_case_id, test_run_id, completed_at, error_message)
    SELECT sum(n)::int,
           array_agg(ROW(x.project_id, x.fingerprint_hash, x.fingerprint, x.test_case_id,
                         x.test_run_id, x.completed_at, x.error_message, x.delta)::failure_group_change)
               FILTER (WHERE x.delta <> 0 AND x.project_id IS NOT NULL)
    INTO notes, changes
    FROM (SELECT n.*, coalesce(k.project_id, r.project_id,
                               CASE WHEN n.test_run_id IS NULL THEN '00000000-0000-0000-0000-000000000000'::uuid END)
                          AS project_id
          FROM net n
          LEFT JOIN failure_group_runs k
                 ON k.fingerprint_hash = n.fingerprint_hash AND k.test_run_id = n.test_run_id
          LEFT JOIN test_runs r ON r.id = n.test_run_id) x;
    IF changes IS NULL THEN
        RETURN coalesce(notes, 0);
    END IF;

    -- runs: a group spans a run while the run has failures of it
    WITH d AS (SELECT c.project_id, c.fingerprint_hash, c.test_run_id, sum(c.delta) AS delta
               FROM unnest(changes) c WHERE c.test_run_id IS NOT NULL GROUP BY 1, 2, 3),
    up AS (INSERT INTO failure_group_runs AS k (fingerprint_hash, test_run_id, project_id, failures)
           SELECT fingerprint_hash, test_run_id, project_id, delta FROM d WHERE delta <> 0
           ON CONFLICT (fingerprint_hash, test_run_id) DO UPDATE SET failures = k.failures + EXCLUDED.failures
           RETURNING k.fingerprint_hash, k.test_run_id, k.project_id, k.failures)
    SELECT array_agg(ROW(g.project_id, g.fingerprint_hash, g.n)::failure_group_count) INTO runs
    FROM (SELECT up.project_id, up.fingerprint_hash,
                 count(*) FILTER (WHERE up.failures > 0 AND up.failures - d.delta <= 0)
                 - count(*) FILTER (WHERE up.failures <= 0 AND up.failures - d.delta > 0) AS n
          FROM up JOIN d USING (fingerprint_hash, test_run_id) GROUP BY 1, 2) g;
    DELETE FROM failure_group_runs k USING unnest(changes) c
    WHERE k.fingerprint_hash = c.fingerprint_hash AND k.test_run_id = c.test_run_id AND k.failures <= 0;

    -- cases: counts and what the added failures bring; a removed failure at the case's first
    -- or last time, or with one of its examples, has the case recomputed
    WITH d AS (SELECT c.project_id, c.fingerprint_hash, min(c.fingerprint) AS fingerprint,
                      c.test_case_id, sum(c.delta) AS delta,
                      min(c.completed_at) FILTER (WHERE c.delta > 0) AS first_at,
                      max(c.completed_at) FILTER (WHERE c.delta > 0) AS last_at,
                      failure_group_examples(array_agg(c.error_message) FILTER (WHERE c.delta > 0), '{}')
                          AS examples
               FROM unnest(changes) c GROUP BY c.project_id, c.fingerprint_hash, c.test_case_id),
    up AS (INSERT INTO failure_group_cases AS k (fingerprint_hash, test_case_id, project_id, failures,
                                                 first_seen_at, last_seen_at, examples)
           SELECT fingerprint_hash, test_case_id, project_id, delta, first_at, last_at, examples FROM d
           ON CONFLICT (fingerprint_hash, test_case_id, project_id) DO UPDATE SET
               failures = k.failures + EXCLUDED.failures,
               first_seen_at = least(k.first_seen_at, EXCLUDED.first_seen_at),
               last_seen_at = greatest(k.last_seen_at, EXCLUDED.last_seen_at),
               examples = failure_group_examples(k.examples, EXCLUDED.examples)
           RETURNING k.*)
    SELECT array_agg(ROW(up.project_id, up.fingerprint_hash, d.fingerprint, up.test_case_id,
                         up.failures, d.delta, d.first_at, d.last_at, d.examples,
                         up.failures > 0 AND EXISTS (
                             SELECT 1 FROM unnest(changes) c
                             WHERE c.delta < 0 AND c.project_id = up.project_id
                               AND c.fingerprint_hash = up.fingerprint_hash
                               AND c.test_case_id = up.test_case_id
                               AND (c.completed_at <= up.first_seen_at OR c.completed_at >= up.last_seen_at
                                    OR c.error_message = ANY (up.examples))))::failure_group_case_change)
    INTO cases
    FROM up JOIN d USING (project_id, fingerprint_hash, test_case_id);
    UPDATE failure_group_cases k
    SET first_seen_at = x.first_at, last_seen_at = x.last_at, examples = x.examples
    FROM unnest(cases) c
    CROSS JOIN LATERAL (
        SELECT min(e.completed_at) AS first_at, max(e.completed_at) AS last_at,
               coalesce((array_agg(DISTINCT e.error_message ORDER BY e.error_message))[1:3], '{}') AS examples
        FROM test_executions e LEFT JOIN test_runs r ON r.id = e.test_run_id
        WHERE e.test_case_id = c.test_case_id AND e.status = 'failed' AND e.error_message IS NOT NULL
          AND coalesce(r.project_id, '00000000-0000-0000-0000-000000000000'::uuid) = c.project_id
          AND md5(error_fingerprint(e.error_message))::uuid = c.fingerprint_hash) x
    WHERE c.recompute AND k.fingerprint_hash = c.fingerprint_hash
      AND k.test_case_id = c.test_case_id AND k.project_id = c.project_id;
    DELETE FROM failure_group_cases k USING unnest(cases) c
    WHERE c.failures <= 0 AND k.fingerprint_hash = c.fingerprint_hash
      AND k.test_case_id = c.test_case_id AND k.project_id = c.project_id;

    -- groups: sums and what the added failures bring; a recomputed or emptied case row has
    -- the group's times and examples recomputed from its case rows
    INSERT INTO failure_groups AS k (project_id, fingerprint_hash, fingerprint, failures,
                                     affected_test_cases, affected_runs, first_seen_at,
                                     last_seen_at, examples)
    SELECT g.project_id, g.fingerprint_hash, g.fingerprint, g.delta, g.cases,
           coalesce(r.n, 0), g.first_at, g.last_at, g.examples
    FROM (SELECT c.project_id, c.fingerprint_hash, min(c.fingerprint) AS fingerprint,
                 sum(c.delta) AS delta,
                 count(*) FILTER (WHERE c.failures > 0 AND c.failures - c.delta <= 0)
                 - count(*) FILTER (WHERE c.failures <= 0 AND c.failures - c.delta > 0) AS cases,
                 min(c.first_seen_at) AS first_at, max(c.last_seen_at) AS last_at,
                 failure_group_examples_agg(c.examples) AS examples
          FROM unnest(cases) c GROUP BY 1, 2) g
    LEFT JOIN unnest(runs) r USING (project_id, fingerprint_hash)
    ON CONFLICT (project_id, fingerprint_hash) DO UPDATE SET
        failures = k.failures + EXCLUDED.failures,
        affected_test_cases = k.affected_test_cases + EXCLUDED.affected_test_cases,
        affected_runs = k.affected_runs + EXCLUDED.affected_runs,
        first_seen_at = least(k.first_seen_at, EXCLUDED.first_seen_at),
        last_seen_at = greatest(k.last_seen_at, EXCLUDED.last_seen_at),
        examples = failure_group_examples(k.examples, EXCLUDED.examples);
    UPDATE failure_groups k
    SET first_seen_at = x.first_at, last_seen_at = x.last_at, examples = x.examples
    FROM (SELECT DISTINCT c.project_id, c.fingerprint_hash FROM unnest(cases) c
          WHERE c.recompute OR (c.failures <= 0 AND c.failures - c.delta > 0)) g
    CROSS JOIN LATERAL (
        SELECT min(s.first_seen_at) AS first_at, max(s.last_seen_at) AS last_at,
               failure_group_examples_agg(s.examples) AS examples
        FROM failure_group_cases s
        WHERE s.fingerprint_hash = g.fingerprint_hash AND s.project_id = g.project_id) x
    WHERE k.project_id = g.project_id AND k.fingerprint_hash = g.fingerprint_hash;
    DELETE FROM failure_groups k USING (SELECT DISTINCT project_id, fingerprint_hash FROM unnest(cases)) g
    WHERE k.project_id = g.project_id AND k.fingerprint_hash = g.fingerprint_hash AND k.failures <= 0;
    RETURN notes;
END;
$$;
GRANT EXECUTE ON FUNCTION fold_failure_groups() TO application_users;

-- Recomputes the kept groups from test_executions; returns the groups kept. Writers of
-- executions wait for it (a note written meanwhile would count twice).
CREATE FUNCTION rebuild_failure_groups() RETURNS BIGINT
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
DECLARE
    kept BIGINT;
BEGIN
    PERFORM pg_advisory_xact_lock(hashtext('failure_groups'));
    LOCK TABLE test_executions IN SHARE MODE;
    DELETE FROM failure_group_pending;
    DELETE FROM failure_group_runs;
    DELETE FROM failure_group_cases;
    DELETE FROM failure_groups;
    WITH f AS MATERIALIZED (
        SELECT md5(x.fingerprint)::uuid AS fingerprint_hash, x.*
        FROM (SELECT error_fingerprint(e.error_message) AS fingerprint, e.test_case_id,
                     e.test_run_id, e.completed_at, e.error_message,
                     coalesce(r.project_id, '00000000-0000-0000-0000-000000000000'::uuid) AS project_id
              FROM test_executions e LEFT JOIN test_runs r ON r.id = e.test_run_id
              WHERE e.status = 'failed' AND e.error_message IS NOT NULL) x),
    c AS (INSERT INTO failure_group_cases(fingerprint_hash, test_case_id, project_id, failures,
                                          first_seen_at, last_seen_at, examples)
          SELECT fingerprint_hash, test_case_id, project_id, count(*), min(completed_at),
                 max(completed_at), (array_agg(DISTINCT error_message ORDER BY error_message))[1:3]
          FROM f GROUP BY fingerprint_hash, test_case_id, project_id),
    r AS (INSERT INTO failure_group_runs(fingerprint_hash, test_run_id, project_id, failures)
          SELECT fingerprint_hash, test_run_id, min(project_id::text)::uuid, count(*)
          FROM f WHERE test_run_id IS NOT NULL GROUP BY fingerprint_hash, test_run_id),
    g AS (INSERT INTO failure_groups(project_id, fingerprint_hash, fingerprint, failures,
                                     affected_test_cases, affected_runs, first_seen_at,
                                     last_seen_at, examples)
          SELECT project_id, fingerprint_hash, min(fingerprint), count(*),
                 count(DISTINCT test_case_id), count(DISTINCT test_run_id), min(completed_at),
                 max(completed_at), (array_agg(DISTINCT error_message ORDER BY error_message))[1:3]
          FROM f GROUP BY project_id, fingerprint_hash RETURNING 1)
    SELECT count(*) INTO kept FROM g;
    RETURN kept;
END;
$$;

SELECT rebuild_failure_groups();
"#;

const DOWN: &str = r#"
DROP TRIGGER IF EXISTS test_executions_failure_groups_truncate ON test_executions;
DROP TRIGGER IF EXISTS test_executions_failure_groups_delete ON test_executions;
DROP TRIGGER IF EXISTS test_executions_failure_groups_update ON test_executions;
DROP TRIGGER IF EXISTS test_executions_failure_groups_insert ON test_executions;
DROP FUNCTION IF EXISTS rebuild_failure_groups();
DROP FUNCTION IF EXISTS fold_failure_groups();
DROP TYPE IF EXISTS failure_group_count;
DROP TYPE IF EXISTS failure_group_case_change;
DROP TYPE IF EXISTS failure_group_change;
DROP FUNCTION IF EXISTS forget_failure_groups();
DROP FUNCTION IF EXISTS note_failure_group_pending();
DROP AGGREGATE IF EXISTS failure_group_examples_agg(TEXT[]);
DROP FUNCTION IF EXISTS failure_group_examples(TEXT[], TEXT[]);
DROP TABLE IF EXISTS failure_group_pending;
DROP TABLE IF EXISTS failure_group_runs;
DROP TABLE IF EXISTS failure_group_cases;
DROP TABLE IF EXISTS failure_groups;
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
