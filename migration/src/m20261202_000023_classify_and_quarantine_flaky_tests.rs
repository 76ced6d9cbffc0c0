//! Flaky, broken or healthy: each case classified from its recent results, runs that were
//! outages left out, and flaky cases quarantined so that their failures stop failing runs.
//!
//! - Project settings: `infra_failure_share` (a finished run with at least
//!   [`INFRA_MIN_RESULTS`] passed/failed outcomes, more than this share of them failed, is an
//!   infrastructure failure), `auto_quarantine_flaky` (cases that become FLAKY are quarantined
//!   automatically) and `flaky_min_sample` (fewest results a flip rate is judged on).
//! - `refresh_test_run` (migration 18's, everything it did kept) decides, when a run's outcome
//!   is decided, whether the run was an infrastructure failure, and counts the failures of
//!   quarantined cases into `quarantined_failed_tests`: they are shown (still in
//!   `failed_tests`) but do not fail the run. That is O(run) once per run, when it finishes,
//!   never per write. A change of a run's `infrastructure_failure` or `commit_sha` (the
//!   decision, or a maintainer's correction) notes its cases for the flakiness refresh, once
//!   (a row trigger whose WHEN leaves every other update of a run free).
//! - `test_case_classification_of(case_ids, sample)`: the one definition of a case's
//!   classification over its last `sample` passed/failed executions outside infrastructure
//!   failures: the flakiness of migration 11 (flips, runs recovered by a retry, the score),
//!   the commits with both a pass and a fail (same-commit evidence, through
//!   `test_runs.commit_sha`), and the streak of latest runs without a pass. BROKEN: the
//!   latest [`BROKEN_MIN_RUNS`] or more runs all failed with no pass on a retry; FLAKY: a pass
//!   and a fail on one commit, or a pass on a retry, or a flip rate of at least
//!   [`FLAKY_FLIP_RATE`] (and [`FLAKY_MIN_FLIPS`] changes) over at least the project's
//!   `flaky_min_sample` results; else
//!   HEALTHY. `test_case_flakiness_of` keeps its columns and reads them from it, so the
//!   on-demand flakiness and the kept one still agree.
//! - `test_case_flakiness` keeps the classification with its reasons and `classified_at`
//!   (when it last changed), indexed by classification and score for the flakiest list's
//!   filter. The refresh (the pending pattern of migration 11: still O(1) per write, the
//!   noted cases recomputed later) upserts instead of replacing, so that it sees a change of
//!   class: a case that becomes FLAKY or BROKEN raises `case.flaky` / `case.broken`
//!   (`enqueue_webhook_event`, migration 22), and one that becomes FLAKY in a project with
//!   `auto_quarantine_flaky` is quarantined for [`AUTO_QUARANTINE_DAYS`] days, owned by the
//!   case's author. A BROKEN case is never quarantined automatically: it needs fixing.
//! - `test_case_quarantines`: who quarantined a case, why, until when, and its release. At
//!   most one unreleased per case (`uq_test_case_quarantines_active`). Active means
//!   `released_at IS NULL AND (expires_at IS NULL OR expires_at > now())`: every reader uses
//!   exactly that, so an expired quarantine stops counting at once; an index cannot say
//!   `now()`, so `release_expired_quarantines()` (run by the server in the background) marks
//!   expired ones released with the reason `expired`, which the audit trail then shows, and a
//!   new quarantine of the case releases its expired one first. Row-level security follows
//!   the case: read with it, written by whoever may change it. Audited.
//!
//! The classification of existing cases is computed here, once, so that the upgrade raises no
//! event for cases that were already flaky.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

/// Fewest passed/failed outcomes a finished run needs before its failure share can make it an
/// infrastructure failure: a run of three tests with two failures says nothing of an outage.
pub const INFRA_MIN_RESULTS: i32 = 10;

/// Share of outcome changes between consecutive results from which a case is FLAKY (given the
/// project's minimum sample): one result in five changing is far more than a real regression
/// (one change) and its fix (another) make over 20 results.
pub const FLAKY_FLIP_RATE: f64 = 0.2;

/// Fewest outcome changes that make a case FLAKY by its flip rate: a regression and its fix
/// are two changes of a healthy case, so a small sample needs a third before its flip rate
/// means anything.
pub const FLAKY_MIN_FLIPS: i32 = 3;

/// Latest runs that must all have failed, with no pass on a retry, for a case to be BROKEN:
/// fewer could be a flaky case's bad streak.
pub const BROKEN_MIN_RUNS: i32 = 3;

/// How long an automatic quarantine lasts: long enough for its owner to look, short enough
/// that a forgotten one ends by itself.
pub const AUTO_QUARANTINE_DAYS: i32 = 14;

/// Longest quarantine anyone may set: a quarantine is a stop-gap, not a way to delete a test.
pub const MAX_QUARANTINE_DAYS: i32 = 180;

const CLASSIFICATION_OF: &str = r#"
-- A case's classification over its last `sample` passed/failed executions outside runs that
-- were infrastructure failures.
CREATE FUNCTION test_case_classification_of(case_ids UUID[], sample INT)
RETURNS TABLE(test_case_id UUID, sample_size BIGINT, failures BIGINT, flips BIGINT,
              failed_runs BIGINT, recovered BIGINT, score FLOAT8, same_commit_flips BIGINT,
              failing_streak BIGINT, min_sample INT, classification TEXT, reasons JSONB)
LANGUAGE sql STABLE AS $$
    WITH sample AS (
        SELECT c.id AS case_id, x.test_run_id, x.outcome_of, x.status, x.retry_attempt,
               x.commit_sha, x.rn
        FROM (SELECT DISTINCT unnest(case_ids) AS id) c
        CROSS JOIN LATERAL (
            SELECT e.test_run_id, coalesce(e.test_run_id, e.id) AS outcome_of, e.status,
                   e.retry_attempt, r.commit_sha,
                   row_number() OVER (ORDER BY e.created_at DESC, e.id DESC) AS rn
            FROM test_executions e
            LEFT JOIN test_runs r ON r.id = e.test_run_id
            WHERE e.test_case_id = c.id AND e.status IN ('passed', 'failed')
              AND r.infrastructure_failure IS NOT TRUE
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
        GROUP BY case_id),
    commits AS (
        SELECT case_id, count(*) AS same_commit
        FROM (SELECT case_id FROM sample WHERE commit_sha IS NOT NULL
              GROUP BY case_id, commit_sha
              HAVING bool_or(status = 'passed') AND bool_or(status = 'failed')) s
        GROUP BY case_id),
    -- each run's outcome (an execution without a run is one of its own), newest first
    outcomes AS (
        SELECT case_id, bool_or(status = 'passed') AS passed,
               row_number() OVER (PARTITION BY case_id ORDER BY min(rn)) AS k
        FROM sample GROUP BY case_id, outcome_of),
    streaks AS (
        SELECT case_id, coalesce(min(k) FILTER (WHERE passed) - 1, count(*)) AS streak
        FROM outcomes GROUP BY case_id),
    measured AS (
        SELECT f.case_id, f.n, f.failures, f.flips,
               coalesce(r.failed_runs, 0) AS failed_runs, coalesce(r.recovered, 0) AS recovered,
               coalesce(m.same_commit, 0) AS same_commit, s.streak,
               CASE WHEN f.n > 1 THEN f.flips::float8 / (f.n - 1) ELSE 0 END AS flip_rate,
               coalesce((SELECT p.flaky_min_sample FROM test_cases tc
                         JOIN projects p ON p.id = tc.project_id WHERE tc.id = f.case_id), 5)
                   AS min_sample
        FROM flipped f
        JOIN streaks s USING (case_id)
        LEFT JOIN retried r USING (case_id)
        LEFT JOIN commits m USING (case_id)),
    classified AS (
        SELECT *,
               CASE WHEN streak >= {BROKEN_MIN_RUNS} THEN 'BROKEN'
                    WHEN same_commit > 0 OR recovered > 0
                         OR (flip_rate >= {FLAKY_FLIP_RATE} AND flips >= {FLAKY_MIN_FLIPS} AND n >= min_sample) THEN 'FLAKY'
                    ELSE 'HEALTHY' END AS class
        FROM measured)
    SELECT case_id, n, failures, flips, failed_runs, recovered,
           greatest(flip_rate, CASE WHEN failed_runs > 0
                                    THEN recovered::float8 / failed_runs ELSE 0 END),
           same_commit, streak, min_sample, class,
           CASE class
               WHEN 'BROKEN' THEN jsonb_build_array(jsonb_build_object(
                   'code', 'CONSECUTIVE_FAILURES',
                   'text', format('failed in each of its last %s runs, with no pass on a retry',
                                  streak)))
               WHEN 'FLAKY' THEN
                   CASE WHEN same_commit > 0 THEN jsonb_build_array(jsonb_build_object(
                       'code', 'SAME_COMMIT',
                       'text', format('passed and failed on the same commit (%s %s)', same_commit,
                                      CASE WHEN same_commit = 1 THEN 'commit' ELSE 'commits' END)))
                        ELSE '[]'::jsonb END
                   || CASE WHEN recovered > 0 THEN jsonb_build_array(jsonb_build_object(
                       'code', 'PASSED_ON_RETRY',
                       'text', format('passed on a retry in %s of %s runs with a failure',
                                      recovered, failed_runs)))
                      ELSE '[]'::jsonb END
                   || CASE WHEN flip_rate >= {FLAKY_FLIP_RATE} AND flips >= {FLAKY_MIN_FLIPS} AND n >= min_sample
                           THEN jsonb_build_array(jsonb_build_object(
                       'code', 'FLIP_RATE',
                       'text', format('its outcome changed %s times in %s results (%s%%, from %s%% it is flaky)',
                                      flips, n, round(flip_rate * 100), round({FLAKY_FLIP_RATE} * 100))))
                      ELSE '[]'::jsonb END
               ELSE
                   CASE WHEN flip_rate >= {FLAKY_FLIP_RATE} AND flips >= {FLAKY_MIN_FLIPS} AND n < min_sample
                        THEN jsonb_build_array(jsonb_build_object(
                       'code', 'SAMPLE_TOO_SMALL',
                       'text', format('its outcome changed %s times in %s results, but its flip rate is judged from %s results',
                                      flips, n, min_sample)))
                        ELSE '[]'::jsonb END
           END
    FROM classified
$$;
GRANT EXECUTE ON FUNCTION test_case_classification_of(UUID[], INT) TO application_users;

-- migration 11's definition, now read from the classification (infrastructure failures left out)
CREATE OR REPLACE FUNCTION test_case_flakiness_of(case_ids UUID[], sample INT)
RETURNS TABLE(test_case_id UUID, sample_size BIGINT, failures BIGINT, flips BIGINT,
              failed_runs BIGINT, recovered BIGINT, score FLOAT8)
LANGUAGE sql STABLE AS $$
    SELECT f.test_case_id, f.sample_size, f.failures, f.flips, f.failed_runs, f.recovered, f.score
    FROM test_case_classification_of(case_ids, sample) f
$$;
"#;

const TABLES: &str = r#"
ALTER TABLE projects
    ADD COLUMN infra_failure_share FLOAT8 NOT NULL DEFAULT 0.5,
    ADD COLUMN auto_quarantine_flaky BOOLEAN NOT NULL DEFAULT false,
    ADD COLUMN flaky_min_sample INTEGER NOT NULL DEFAULT 5,
    ADD CONSTRAINT ck_projects_infra_failure_share
        CHECK (infra_failure_share >= 0.05 AND infra_failure_share <= 1),
    ADD CONSTRAINT ck_projects_flaky_min_sample CHECK (flaky_min_sample BETWEEN 2 AND 20);

ALTER TABLE test_case_flakiness
    ADD COLUMN same_commit_flips BIGINT NOT NULL DEFAULT 0,
    ADD COLUMN failing_streak BIGINT NOT NULL DEFAULT 0,
    ADD COLUMN classification VARCHAR(10) NOT NULL DEFAULT 'HEALTHY',
    ADD COLUMN reasons JSONB NOT NULL DEFAULT '[]',
    ADD COLUMN classified_at TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT now(),
    ADD CONSTRAINT ck_test_case_flakiness_classification
        CHECK (classification IN ('HEALTHY', 'FLAKY', 'BROKEN'));
-- the flakiest list filtered by classification, in the order it reads
CREATE INDEX ix_test_case_flakiness_classification
    ON test_case_flakiness(classification, score DESC, test_case_id);

CREATE TABLE test_case_quarantines (
    id UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    test_case_id UUID NOT NULL REFERENCES test_cases(id) ON DELETE CASCADE,
    project_id UUID NOT NULL REFERENCES projects(id) ON DELETE CASCADE,
    owner VARCHAR(100),
    reason VARCHAR(1000) NOT NULL,
    expires_at TIMESTAMP WITH TIME ZONE,
    automatic BOOLEAN NOT NULL DEFAULT false,
    created_by VARCHAR(100),
    created_at TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT now(),
    released_at TIMESTAMP WITH TIME ZONE,
    released_by VARCHAR(100),
    release_reason VARCHAR(1000),
    CONSTRAINT ck_test_case_quarantines_reason CHECK (btrim(reason) <> ''),
    CONSTRAINT ck_test_case_quarantines_owner CHECK (btrim(owner) <> ''),
    CONSTRAINT ck_test_case_quarantines_expires_at CHECK (
        expires_at > created_at AND expires_at <= created_at + interval '{MAX_QUARANTINE_DAYS} days')
);
-- at most one unreleased quarantine per case (an expired one is released by the next)
CREATE UNIQUE INDEX uq_test_case_quarantines_active ON test_case_quarantines(test_case_id)
    WHERE released_at IS NULL;
CREATE INDEX ix_test_case_quarantines_test_case_id
    ON test_case_quarantines(test_case_id, created_at DESC);
-- CI's list: a project's unreleased quarantines, newest first
CREATE INDEX ix_test_case_quarantines_project_id
    ON test_case_quarantines(project_id, created_at DESC, id);
CREATE INDEX ix_test_case_quarantines_expiring ON test_case_quarantines(expires_at)
    WHERE released_at IS NULL AND expires_at IS NOT NULL;

ALTER TABLE test_case_quarantines ENABLE ROW LEVEL SECURITY;
GRANT SELECT, INSERT, UPDATE ON test_case_quarantines TO application_users;
CREATE POLICY test_case_quarantine_read_policy ON test_case_quarantines
    FOR SELECT TO application_users
    USING (EXISTS (SELECT 1 FROM test_cases tc WHERE tc.id = test_case_id));
CREATE POLICY test_case_quarantine_insert_policy ON test_case_quarantines
    FOR INSERT TO application_users
    WITH CHECK (app_may_write_case(test_case_id)
                AND project_id = (SELECT tc.project_id FROM test_cases tc WHERE tc.id = test_case_id));
CREATE POLICY test_case_quarantine_update_policy ON test_case_quarantines
    FOR UPDATE TO application_users
    USING (app_may_write_case(test_case_id)) WITH CHECK (app_may_write_case(test_case_id));

CREATE TRIGGER test_case_quarantines_audit_insert AFTER INSERT ON test_case_quarantines
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION audit_trigger('id');
CREATE TRIGGER test_case_quarantines_audit_update AFTER UPDATE ON test_case_quarantines
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION audit_trigger('id');
CREATE TRIGGER test_case_quarantines_audit_delete AFTER DELETE ON test_case_quarantines
    REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION audit_trigger('id');
-- an entry about a quarantine is read with the quarantine (a policy of its own: OR-ed with
-- the log's other read policy, which it leaves as it is)
CREATE POLICY audit_log_quarantine_read_policy ON audit_log FOR SELECT TO application_users
    USING (table_name = 'test_case_quarantines'
           AND EXISTS (SELECT 1 FROM test_case_quarantines t WHERE t.id = record_id));

-- Marks the quarantines whose expiry has passed released, as of their expiry, with the
-- reason `expired`; returns how many. Readers never wait for it: they read the expiry.
CREATE FUNCTION release_expired_quarantines() RETURNS INT
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
DECLARE
    n INT;
BEGIN
    UPDATE test_case_quarantines SET released_at = expires_at, release_reason = 'expired'
     WHERE released_at IS NULL AND expires_at <= now();
    GET DIAGNOSTICS n = ROW_COUNT;
    RETURN n;
END;
$$;

-- A run's cases are noted for the flakiness refresh when what their results mean changes:
-- the run is (or is no longer) an infrastructure failure, or its commit changes.
CREATE FUNCTION note_run_cases_pending() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
BEGIN
    INSERT INTO test_case_flakiness_pending
    SELECT DISTINCT test_case_id FROM test_executions
     WHERE test_run_id = NEW.id AND status IN ('passed', 'failed');
    RETURN NULL;
END;
$$;
CREATE TRIGGER test_runs_flakiness_context AFTER UPDATE OF infrastructure_failure, commit_sha
    ON test_runs FOR EACH ROW
    WHEN (OLD.infrastructure_failure IS DISTINCT FROM NEW.infrastructure_failure
          OR OLD.commit_sha IS DISTINCT FROM NEW.commit_sha)
    EXECUTE FUNCTION note_run_cases_pending();
"#;

const REFRESH: &str = r#"
-- Returns how many cases it recomputed.
CREATE OR REPLACE FUNCTION refresh_test_case_flakiness() RETURNS INT
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
DECLARE
    ids UUID[];
    changes JSONB;
    ch RECORD;
BEGIN
    PERFORM pg_advisory_xact_lock(hashtext('test_case_flakiness'));
    WITH taken AS (DELETE FROM test_case_flakiness_pending RETURNING test_case_id)
    SELECT array_agg(DISTINCT test_case_id) INTO ids FROM taken;
    IF ids IS NULL THEN
        RETURN 0;
    END IF;
    -- one statement: the previous classes are read in the snapshot the upsert starts from
    WITH fresh AS (
        SELECT f.*, (SELECT max(e.completed_at) FROM test_executions e
                     WHERE e.test_case_id = f.test_case_id AND e.status = 'failed') AS last_failed_at
        FROM test_case_classification_of(ids, 20) f),
    previous AS (
        SELECT k.test_case_id, k.classification FROM test_case_flakiness k
         WHERE k.test_case_id = ANY(ids)),
    gone AS (
        DELETE FROM test_case_flakiness k
         WHERE k.test_case_id = ANY(ids)
           AND NOT EXISTS (SELECT 1 FROM fresh f WHERE f.test_case_id = k.test_case_id)),
    kept AS (
        INSERT INTO test_case_flakiness AS k (test_case_id, sample_size, failures, flips,
               failed_runs, recovered, score, last_failed_at, same_commit_flips, failing_streak,
               classification, reasons, classified_at, refreshed_at)
        SELECT f.test_case_id, f.sample_size, f.failures, f.flips, f.failed_runs, f.recovered,
               f.score, f.last_failed_at, f.same_commit_flips, f.failing_streak,
               f.classification, f.reasons, now(), now()
          FROM fresh f
        ON CONFLICT (test_case_id) DO UPDATE
           SET sample_size = EXCLUDED.sample_size, failures = EXCLUDED.failures,
               flips = EXCLUDED.flips, failed_runs = EXCLUDED.failed_runs,
               recovered = EXCLUDED.recovered, score = EXCLUDED.score,
               last_failed_at = EXCLUDED.last_failed_at,
               same_commit_flips = EXCLUDED.same_commit_flips,
               failing_streak = EXCLUDED.failing_streak,
               classification = EXCLUDED.classification, reasons = EXCLUDED.reasons,
               classified_at = CASE WHEN k.classification = EXCLUDED.classification
                                    THEN k.classified_at ELSE now() END,
               refreshed_at = now()
        RETURNING k.test_case_id, k.classification, k.reasons)
    SELECT coalesce(jsonb_agg(jsonb_build_object(
               'id', kept.test_case_id, 'classification', kept.classification,
               'previous', p.classification, 'reasons', kept.reasons)), '[]'::jsonb)
      INTO changes
      FROM kept LEFT JOIN previous p ON p.test_case_id = kept.test_case_id
     WHERE kept.classification IN ('FLAKY', 'BROKEN')
       AND kept.classification IS DISTINCT FROM p.classification;
    -- what a case becoming FLAKY or BROKEN sets off: its event, and the opt-in quarantine
    FOR ch IN
        SELECT x.id, x.classification, x.previous, x.reasons, tc.name, tc.author, tc.project_id,
               p.auto_quarantine_flaky
          FROM jsonb_to_recordset(changes) AS x(id UUID, classification TEXT, previous TEXT, reasons JSONB)
          JOIN test_cases tc ON tc.id = x.id
          JOIN projects p ON p.id = tc.project_id
    LOOP
        PERFORM enqueue_webhook_event(ch.project_id,
            CASE ch.classification WHEN 'FLAKY' THEN 'case.flaky' ELSE 'case.broken' END, ch.id,
            jsonb_build_object('testCase', jsonb_build_object('id', ch.id, 'name', ch.name),
                               'classification', ch.classification, 'previous', ch.previous,
                               'reasons', ch.reasons));
        IF ch.classification = 'FLAKY' AND ch.auto_quarantine_flaky THEN
            UPDATE test_case_quarantines SET released_at = expires_at, release_reason = 'expired'
             WHERE test_case_id = ch.id AND released_at IS NULL AND expires_at <= now();
            INSERT INTO test_case_quarantines(test_case_id, project_id, owner, reason, expires_at,
                                              automatic)
            VALUES (ch.id, ch.project_id, nullif(btrim(ch.author), ''),
                    left('automatically: flaky (' || coalesce((
                        SELECT string_agg(r ->> 'text', '; ')
                          FROM jsonb_array_elements(ch.reasons) r), 'no reason recorded') || ')', 1000),
                    now() + interval '{AUTO_QUARANTINE_DAYS} days', true)
            -- already quarantined (by someone, or automatically before): left as it is
            ON CONFLICT DO NOTHING;
        END IF;
    END LOOP;
    RETURN cardinality(ids);
END;
$$;
"#;

const REFRESH_TEST_RUN: &str = r#"
-- A run's counters and outcome (migrations 17 and 18), recounted over the latest attempt of
-- each case; when the outcome is decided, failures of quarantined cases do not decide it, and
-- a run that most of its tests failed is flagged as an infrastructure failure.
CREATE OR REPLACE FUNCTION refresh_test_run(p_run UUID, p_finish BOOLEAN DEFAULT false) RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp SET work_mem = '64MB' AS $$
DECLARE
    cur test_runs%ROWTYPE;
    c RECORD;
    new_status VARCHAR(20);
    new_started TIMESTAMP WITH TIME ZONE;
    new_completed TIMESTAMP WITH TIME ZONE;
    deciding BOOLEAN;
    quarantined INT;
    infra BOOLEAN;
    share FLOAT8;
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
    -- decided once; a later recount (a late result) only keeps the count within the failures
    quarantined := least(cur.quarantined_failed_tests, c.failed::int);
    infra := cur.infrastructure_failure;
    -- a finished run (passed, failed, cancelled, aborted) keeps its outcome
    IF cur.status IN ('pending', 'running') THEN
        deciding := p_finish OR (NOT cur.ad_hoc AND c.total > 0 AND c.open = 0 AND c.retryable = 0);
        IF deciding THEN
            -- the failed cases quarantined now: shown, not deciding (O(run), once per run)
            quarantined := 0;
            IF c.failed > 0 THEN
                SELECT count(*) INTO quarantined
                  FROM (SELECT DISTINCT ON (test_case_id) test_case_id, status FROM (
                            SELECT test_case_id, retry_attempt, status FROM test_executions WHERE test_run_id = p_run
                            UNION ALL
                            SELECT test_case_id, retry_attempt, status FROM test_executions_archive WHERE test_run_id = p_run
                        ) every_attempt ORDER BY test_case_id, retry_attempt DESC) l
                 WHERE l.status = 'failed'
                   AND EXISTS (SELECT 1 FROM test_case_quarantines q
                                WHERE q.test_case_id = l.test_case_id AND q.released_at IS NULL
                                  AND (q.expires_at IS NULL OR q.expires_at > now()));
            END IF;
            SELECT p.infra_failure_share INTO share FROM projects p WHERE p.id = cur.project_id;
            infra := CASE WHEN c.passed + c.failed >= {INFRA_MIN_RESULTS}
                          THEN c.failed::float8 / (c.passed + c.failed) > coalesce(share, 0.5)
                          ELSE false END;
        END IF;
        IF p_finish THEN
            new_status := CASE WHEN c.failed > quarantined THEN 'failed'
                               WHEN c.passed + c.skipped + quarantined > 0 THEN 'passed'
                               ELSE 'aborted' END;
            new_completed := now();
        ELSIF deciding THEN
            new_status := CASE WHEN c.failed > quarantined THEN 'failed' ELSE 'passed' END;
            new_completed := now();
        ELSIF c.begun > 0 OR cur.started_at IS NOT NULL THEN
            new_status := 'running';
        END IF;
        IF c.begun > 0 THEN
            new_started := coalesce(cur.started_at, now());
        END IF;
    END IF;
    IF (cur.total_tests, cur.passed_tests, cur.failed_tests, cur.skipped_tests,
        cur.status, cur.started_at, cur.completed_at, cur.quarantined_failed_tests,
        cur.infrastructure_failure)
       IS DISTINCT FROM
       (c.total::int, c.passed::int, c.failed::int, c.skipped::int,
        new_status, new_started, new_completed, quarantined, infra)
       OR cur.last_activity_at < now() - interval '10 seconds' THEN
        UPDATE test_runs
           SET total_tests = c.total, passed_tests = c.passed, failed_tests = c.failed,
               skipped_tests = c.skipped, status = new_status, started_at = new_started,
               completed_at = new_completed, last_activity_at = now(),
               quarantined_failed_tests = quarantined, infrastructure_failure = infra
         WHERE id = p_run;
    END IF;
END;
$$;
"#;

/// The classification of the cases that have one already, computed once (no event).
const CLASSIFY_EXISTING: &str = r#"
UPDATE test_case_flakiness k
   SET same_commit_flips = f.same_commit_flips, failing_streak = f.failing_streak,
       classification = f.classification, reasons = f.reasons
  FROM test_case_classification_of(ARRAY(SELECT test_case_id FROM test_case_flakiness), 20) f
 WHERE f.test_case_id = k.test_case_id;
"#;

const DOWN: &str = r#"
DROP TRIGGER IF EXISTS test_runs_flakiness_context ON test_runs;
DROP FUNCTION IF EXISTS note_run_cases_pending();
DROP FUNCTION IF EXISTS release_expired_quarantines();
DROP POLICY IF EXISTS audit_log_quarantine_read_policy ON audit_log;
DELETE FROM audit_log WHERE table_name = 'test_case_quarantines';
DROP TABLE IF EXISTS test_case_quarantines;
DROP INDEX IF EXISTS ix_test_case_flakiness_classification;
ALTER TABLE test_case_flakiness
    DROP CONSTRAINT IF EXISTS ck_test_case_flakiness_classification,
    DROP COLUMN IF EXISTS classified_at,
    DROP COLUMN IF EXISTS reasons,
    DROP COLUMN IF EXISTS classification,
    DROP COLUMN IF EXISTS failing_streak,
    DROP COLUMN IF EXISTS same_commit_flips;
ALTER TABLE projects
    DROP CONSTRAINT IF EXISTS ck_projects_flaky_min_sample,
    DROP CONSTRAINT IF EXISTS ck_projects_infra_failure_share,
    DROP COLUMN IF EXISTS flaky_min_sample,
    DROP COLUMN IF EXISTS auto_quarantine_flaky,
    DROP COLUMN IF EXISTS infra_failure_share;

-- migration 11's definitions
CREATE OR REPLACE FUNCTION test_case_flakiness_of(case_ids UUID[], sample INT)
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
DROP FUNCTION IF EXISTS test_case_classification_of(UUID[], INT);

CREATE OR REPLACE FUNCTION refresh_test_case_flakiness() RETURNS INT
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

-- migration 18's
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

/// `sql` with the named constants written in.
fn with_constants(sql: &str) -> String {
    sql.replace("{INFRA_MIN_RESULTS}", &INFRA_MIN_RESULTS.to_string())
        .replace("{FLAKY_FLIP_RATE}", &FLAKY_FLIP_RATE.to_string())
        .replace("{BROKEN_MIN_RUNS}", &BROKEN_MIN_RUNS.to_string())
        .replace("{FLAKY_MIN_FLIPS}", &FLAKY_MIN_FLIPS.to_string())
        .replace("{AUTO_QUARANTINE_DAYS}", &AUTO_QUARANTINE_DAYS.to_string())
        .replace("{MAX_QUARANTINE_DAYS}", &MAX_QUARANTINE_DAYS.to_string())
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        for sql in [
            TABLES,
            CLASSIFICATION_OF,
            REFRESH,
            REFRESH_TEST_RUN,
            CLASSIFY_EXISTING,
        ] {
            db.execute_unprepared(&with_constants(sql)).await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager.get_connection().execute_unprepared(DOWN).await?;
        Ok(())
    }
}
