//! The dataset, written with set-based SQL (INSERT ... SELECT over generate_series), in
//! chunks of runs so that a progress bar moves.
//!
//! Ids are deterministic (`md5('case:' || i)::uuid` and so on) so that later statements can
//! refer to rows without lookups. Seeding runs with `session_replication_role = replica`:
//! audit, NOTIFY and `updated_at` triggers (and FK checks) do not fire, so the audit log starts
//! empty and seeding sends no notifications; the data itself obeys every constraint.
//!
//! Shape: every suite holds `executions_per_run` cases (each case sits in two suites); every
//! run executes its suite's cases once, spread over the last 90 days. About 6% of executions
//! fail with one of five error templates (numbers, ids and addresses varying), 3% are
//! skipped; every 25th case is flaky and fails 40% of the time.

use std::collections::HashMap;
use std::time::Instant;

use anyhow::Context as _;
use sqlx::Row;
use uuid::Uuid;

use crate::env::Env;
use crate::options::Dataset;
use crate::{Options, progress};

/// Days of history the seeded runs spread over.
const HISTORY_DAYS: f64 = 90.0;

/// Runs written per statement: small enough for the bar to move, large enough that statement
/// overhead does not matter (100 runs = 10k executions, 80k step executions).
const RUNS_PER_CHUNK: i64 = 100;

/// What was seeded, and how long it took.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Seeded {
    pub dataset: Dataset,
    pub seconds: f64,
}

impl Seeded {
    pub fn describe(&self) -> String {
        let d = &self.dataset;
        format!(
            "{} cases × {} steps, {} suites, {} runs, {} executions, {} step executions (seeded in {:.0} s)",
            thousands(d.cases),
            d.steps_per_case,
            thousands(d.suites),
            thousands(d.runs),
            thousands(d.executions()),
            thousands(d.step_executions()),
            self.seconds
        )
    }
}

/// `1234567` as `1,234,567`.
pub fn thousands(n: i64) -> String {
    let s = n.abs().to_string();
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    if n < 0 { format!("-{out}") } else { out }
}

const CONFIGURATIONS: &str = "
INSERT INTO configurations(id, name, config_type, configuration_data, created_by)
SELECT md5('config:' || k)::uuid,
       (ARRAY['chrome', 'staging', 'parallel-8', 'slack', 'jira'])[k],
       (ARRAY['browser', 'environment', 'execution', 'notification', 'integration'])[k],
       jsonb_build_object('k', k), 'bench-admin'
FROM generate_series(1, 5) AS k";

const CASES: &str = "
WITH w AS (SELECT
    ARRAY['login', 'logout', 'checkout', 'cart', 'search', 'payment', 'profile', 'settings',
          'signup', 'password', 'invoice', 'report', 'upload', 'download', 'notification',
          'dashboard', 'filter', 'export', 'import', 'session'] AS a,
    ARRAY['succeeds', 'fails gracefully', 'times out', 'validates input', 'shows an error',
          'redirects', 'persists', 'retries', 'renders', 'is accessible'] AS v,
    ARRAY['chrome', 'firefox', 'safari', 'mobile', 'api', 'admin', 'guest', 'premium', 'eu', 'us'] AS x)
INSERT INTO test_cases(id, name, description, status, priority, tags, metadata, author, category,
                       expected_duration_seconds, is_automated, retry_count, configuration_id,
                       created_at, updated_at, project_id)
SELECT md5('case:' || i)::uuid,
       initcap(a[1 + i % 20]) || ' ' || v[1 + (i / 20) % 10] || ' #' || i,
       'Verifies that ' || a[1 + i % 20] || ' ' || v[1 + (i / 20) % 10] || ' for ' || x[1 + (i / 7) % 10]
           || ' users when ' || a[1 + (i / 3) % 20] || ' ' || v[1 + (i / 11) % 10] || '.',
       CASE WHEN i % 20 = 0 THEN 'draft' WHEN i % 20 = 1 THEN 'deprecated'
            WHEN i % 50 = 2 THEN 'archived' ELSE 'active' END,
       (ARRAY['critical', 'high', 'medium', 'low'])[1 + i % 4],
       jsonb_build_array(a[1 + i % 20], x[1 + (i / 7) % 10]),
       jsonb_build_object('team', 'team-' || (i % 12), 'component', a[1 + i % 20]),
       'user' || (i % 50),
       a[1 + (i / 13) % 20],
       10 + i % 300, true, i % 3,
       md5('config:' || (1 + i % 5))::uuid,
       now() - i * interval '37 seconds', now() - i * interval '37 seconds',
       md5('project:' || (1 + (i / 7) % 50))::uuid
FROM generate_series(1, $1::bigint) AS i, w";

/// The projects the cases are spread over (every case in one of 50, independently of its
/// author), and one member of 3 of them.
const PROJECTS: &str = "
WITH p AS (INSERT INTO projects(id, key, name)
           SELECT md5('project:' || k)::uuid, 'project-' || k, 'Project ' || k
           FROM generate_series(1, 50) AS k RETURNING id, key)
INSERT INTO project_members(project_id, user_id, role)
SELECT id, $1, 'member' FROM p WHERE key IN ('project-1', 'project-2', 'project-3')";

/// A member of 3 of the 50 projects, author of nothing: sees the 3 projects' cases.
pub const BENCH_PROJECTS_MEMBER: &str = "lead";

const STEPS: &str = "
INSERT INTO test_steps(id, test_case_id, order_index, name, description, step_type, selector,
                       input_data, expected_result, timeout_seconds)
SELECT md5('step:' || i || ':' || k)::uuid, md5('case:' || i)::uuid, k,
       (ARRAY['Open page', 'Click button', 'Type text', 'Wait for element', 'Assert text',
              'Take screenshot', 'Call API', 'Custom check'])[1 + (k - 1) % 8] || ' ' || k,
       'Step ' || k || ' of case ' || i,
       (ARRAY['navigate', 'click', 'type', 'wait', 'assert', 'screenshot', 'api_call', 'custom'])[1 + (k - 1) % 8],
       '#el-' || k, 'input ' || k, 'expected ' || k, 30
FROM generate_series(1, $1::bigint) AS i, generate_series(1, $2::int) AS k";

const SUITES: &str = "
INSERT INTO test_suites(id, name, description, tags, created_by, created_at, updated_at)
SELECT md5('suite:' || j)::uuid, 'Suite ' || j, 'Regression suite ' || j, '[\"regression\"]'::jsonb,
       'user' || (j % 50), now() - j * interval '1 hour', now() - j * interval '1 hour'
FROM generate_series(0, $1::bigint - 1) AS j";

/// Suite `j` holds `$3` cases from `j * (cases / suites)` on, wrapping around.
const MEMBERS: &str = "
INSERT INTO test_suite_test_cases(test_suite_id, test_case_id, order_index)
SELECT md5('suite:' || j)::uuid, md5('case:' || (((j * ($2::bigint / $1::bigint) + t) % $2::bigint) + 1))::uuid, t + 1
FROM generate_series(0, $1::bigint - 1) AS j, generate_series(0, $3::bigint - 1) AS t";

/// Runs `$1`..`$2` (0-based) of `$3` in all; `$4` suites; `$5` cases per run; `$6` days of
/// history. Run `r` starts `(total - r)` slices of the history ago.
const RUNS: &str = "
INSERT INTO test_runs(id, test_suite_id, configuration_id, name, status, started_at, completed_at,
                      total_tests, run_configuration, triggered_by, created_at, updated_at)
SELECT md5('run:' || r)::uuid, md5('suite:' || (r % $4::bigint))::uuid, md5('config:' || (1 + r % 5))::uuid,
       'Nightly #' || r, 'passed', s.at, s.at + interval '30 minutes', $5::int,
       jsonb_build_object('branch', 'main', 'shard', r % 4), 'ci', s.at, s.at
FROM generate_series($1::bigint, $2::bigint - 1) AS r,
     LATERAL (SELECT now() - ($3::bigint - r) * ($6::float8 / $3::bigint) * interval '1 day' AS at) AS s";

/// Executions of runs `$1`..`$2`: one per case of the run's suite. `$3` cases, `$4` suites,
/// `$5` cases per run, `$6` runs, `$7` days of history.
const EXECUTIONS: &str = "
INSERT INTO test_executions(id, test_case_id, test_run_id, configuration_id, status, started_at,
                            completed_at, duration_seconds, error_message, execution_metadata,
                            retry_attempt, created_at, updated_at)
SELECT md5('exec:' || r || ':' || t)::uuid, md5('case:' || c.c)::uuid, md5('run:' || r)::uuid,
       md5('config:' || (1 + r % 5))::uuid, o.status, o.st, o.st + o.d * interval '1 second', o.d,
       CASE WHEN o.status = 'failed' THEN (ARRAY[
           'Timeout after ' || (1000 + o.h * 7) || ' ms waiting for selector #btn-' || (o.h % 97),
           'Expected status 200 but got ' || (400 + o.h % 100) || ' from /api/v1/orders/' || md5(o.h::text)::uuid,
           'Element not found: .item-' || (o.h % 40),
           'AssertionError: expected \"Total: ' || o.h || '\" to equal \"Total: ' || (o.h + 1) || '\"',
           'Connection refused: 127.0.0.1:' || (5000 + o.h % 1000)])[1 + c.c % 5] END,
       jsonb_build_object('agent', 'runner-' || (t % 8)), 0, o.st, o.st
FROM generate_series($1::bigint, $2::bigint - 1) AS r,
     generate_series(0, $5::bigint - 1) AS t,
     LATERAL (SELECT ((r % $4::bigint) * ($3::bigint / $4::bigint) + t) % $3::bigint + 1 AS c) AS c,
     LATERAL (SELECT now() - ($6::bigint - r) * ($7::float8 / $6::bigint) * interval '1 day' + t * interval '10 seconds' AS st,
                     abs(hashint8(r * 100003 + t)) % 1000 AS h) AS b,
     LATERAL (SELECT b.st, b.h, 1 + b.h % 120 AS d,
                     CASE WHEN c.c % 25 = 0 AND b.h < 400 THEN 'failed'
                          WHEN c.c % 25 <> 0 AND b.h < 60 THEN 'failed'
                          WHEN b.h < 90 THEN 'skipped' ELSE 'passed' END AS status) AS o";

/// Step results of the executions of runs `$1`..`$2`: the first `$3` steps of each case; the
/// last of them fails when the execution failed.
const STEP_EXECUTIONS: &str = "
INSERT INTO test_step_executions(id, test_execution_id, test_step_id, status, started_at, completed_at,
                                 duration_seconds, error_message, actual_result, step_metadata,
                                 created_at, updated_at)
SELECT gen_random_uuid(), e.id, s.id,
       CASE WHEN e.status = 'failed' AND s.order_index = $3::int THEN 'failed'
            WHEN e.status = 'skipped' THEN 'skipped' ELSE 'passed' END,
       e.started_at + (s.order_index - 1) * interval '1 second',
       e.started_at + s.order_index * interval '1 second', 1,
       CASE WHEN e.status = 'failed' AND s.order_index = $3::int THEN e.error_message END,
       'ok', '{}'::jsonb, e.started_at, e.started_at
FROM test_executions e
JOIN test_steps s ON s.test_case_id = e.test_case_id AND s.order_index <= $3::int
WHERE e.test_run_id IN (SELECT md5('run:' || r)::uuid FROM generate_series($1::bigint, $2::bigint - 1) AS r)";

const RUN_COUNTERS: &str = "
UPDATE test_runs r SET passed_tests = c.passed, failed_tests = c.failed, skipped_tests = c.skipped,
       status = CASE WHEN c.failed > 0 THEN 'failed' ELSE 'passed' END
FROM (SELECT test_run_id,
             count(*) FILTER (WHERE status = 'passed') AS passed,
             count(*) FILTER (WHERE status = 'failed') AS failed,
             count(*) FILTER (WHERE status = 'skipped') AS skipped
      FROM test_executions GROUP BY test_run_id) c
WHERE c.test_run_id = r.id";

/// Writes the dataset of `options.size`.
pub async fn seed(env: &Env, options: &Options) -> anyhow::Result<Seeded> {
    let d = options.size.dataset();
    anyhow::ensure!(
        d.executions_per_run <= d.cases && d.step_results_per_execution <= d.steps_per_case,
        "inconsistent dataset size"
    );
    let started = Instant::now();
    let mut conn = env.pg.acquire().await?;
    sqlx::query("SET session_replication_role = replica")
        .execute(&mut *conn)
        .await?;
    let chunks = (d.runs as u64).div_ceil(RUNS_PER_CHUNK as u64);
    let bar = progress::bar(options, 3 + 2 * chunks + 2, "seeding the catalogue");
    sqlx::query(CONFIGURATIONS)
        .execute(&mut *conn)
        .await
        .context("configurations")?;
    sqlx::query(PROJECTS)
        .bind(BENCH_PROJECTS_MEMBER)
        .execute(&mut *conn)
        .await
        .context("projects")?;
    sqlx::query(CASES)
        .bind(d.cases)
        .execute(&mut *conn)
        .await
        .context("test cases")?;
    bar.inc(1);
    sqlx::query(STEPS)
        .bind(d.cases)
        .bind(d.steps_per_case as i32)
        .execute(&mut *conn)
        .await
        .context("test steps")?;
    bar.inc(1);
    sqlx::query(SUITES)
        .bind(d.suites)
        .execute(&mut *conn)
        .await
        .context("suites")?;
    sqlx::query(MEMBERS)
        .bind(d.suites)
        .bind(d.cases)
        .bind(d.executions_per_run)
        .execute(&mut *conn)
        .await
        .context("suite members")?;
    bar.inc(1);
    bar.set_message("seeding runs and executions");
    let mut from = 0;
    while from < d.runs {
        let to = (from + RUNS_PER_CHUNK).min(d.runs);
        sqlx::query(RUNS)
            .bind(from)
            .bind(to)
            .bind(d.runs)
            .bind(d.suites)
            .bind(d.executions_per_run as i32)
            .bind(HISTORY_DAYS)
            .execute(&mut *conn)
            .await
            .context("runs")?;
        sqlx::query(EXECUTIONS)
            .bind(from)
            .bind(to)
            .bind(d.cases)
            .bind(d.suites)
            .bind(d.executions_per_run)
            .bind(d.runs)
            .bind(HISTORY_DAYS)
            .execute(&mut *conn)
            .await
            .context("executions")?;
        bar.inc(1);
        sqlx::query(STEP_EXECUTIONS)
            .bind(from)
            .bind(to)
            .bind(d.step_results_per_execution as i32)
            .execute(&mut *conn)
            .await
            .context("step executions")?;
        bar.inc(1);
        from = to;
    }
    bar.set_message("run counters, VACUUM ANALYZE");
    sqlx::query(RUN_COUNTERS)
        .execute(&mut *conn)
        .await
        .context("run counters")?;
    sqlx::query("RESET session_replication_role")
        .execute(&mut *conn)
        .await?;
    bar.inc(1);
    sqlx::raw_sql("VACUUM ANALYZE")
        .execute(&mut *conn)
        .await
        .context("VACUUM ANALYZE")?;
    bar.inc(1);
    bar.finish_and_clear();
    let seeded = Seeded {
        dataset: d,
        seconds: started.elapsed().as_secs_f64(),
    };
    progress::say(options, &format!("seeded {}", seeded.describe()));
    Ok(seeded)
}

/// A run created for a write scenario: pending executions with their cases' steps.
#[derive(Debug, Clone)]
pub struct PendingRun {
    pub id: Uuid,
    pub executions: Vec<PendingExecution>,
}

#[derive(Debug, Clone)]
pub struct PendingExecution {
    pub id: Uuid,
    pub case_id: Uuid,
    /// The case's first steps, in order.
    pub steps: Vec<Uuid>,
}

/// `$2` runs named `$1 #k` of `$3` pending executions each, cases taken in turn from `$5`
/// (modulo `$4` cases).
const PENDING_RUNS: &str = "
WITH runs AS (
    INSERT INTO test_runs(id, name, status, total_tests, triggered_by)
    SELECT gen_random_uuid(), $1 || ' #' || k, 'pending', $3::int, 'bench-admin'
    FROM generate_series(0, $2::bigint - 1) AS k
    RETURNING id, name),
numbered AS (SELECT id, row_number() OVER (ORDER BY name) - 1 AS k FROM runs)
INSERT INTO test_executions(test_case_id, test_run_id, status, created_at)
SELECT md5('case:' || ((($5::bigint + n.k) * $3::bigint + t) % $4::bigint + 1))::uuid, n.id, 'pending',
       now() + t * interval '1 microsecond'
FROM numbered n, generate_series(0, $3::bigint - 1) AS t";

const PENDING_RUN_ROWS: &str = "
SELECT e.test_run_id, e.id, e.test_case_id, array_agg(s.id ORDER BY s.order_index) AS steps
FROM test_runs r
JOIN test_executions e ON e.test_run_id = r.id
JOIN test_steps s ON s.test_case_id = e.test_case_id AND s.order_index <= $2::int
WHERE r.name LIKE $1 || ' #%'
GROUP BY e.test_run_id, e.id, e.test_case_id, e.created_at
ORDER BY e.test_run_id, e.created_at";

/// Creates `runs` pending runs named `<tag> #k` of `executions` pending executions each (the
/// cases taken in turn from `offset`), as the owner and without triggers (setting up is not
/// measured), and returns them with the first `steps` steps of each case. `tag` must not
/// contain `%` or `_`.
pub async fn pending_runs(
    env: &Env,
    tag: &str,
    runs: usize,
    executions: usize,
    steps: usize,
    cases: i64,
    offset: i64,
) -> anyhow::Result<Vec<PendingRun>> {
    let mut conn = env.pg.acquire().await?;
    sqlx::query("SET session_replication_role = replica")
        .execute(&mut *conn)
        .await?;
    let inserted = sqlx::query(PENDING_RUNS)
        .bind(tag)
        .bind(runs as i64)
        .bind(executions as i32)
        .bind(cases)
        .bind(offset)
        .execute(&mut *conn)
        .await
        .context("creating pending runs");
    sqlx::query("RESET session_replication_role")
        .execute(&mut *conn)
        .await?;
    inserted?;
    let rows = sqlx::query(PENDING_RUN_ROWS)
        .bind(tag)
        .bind(steps as i32)
        .fetch_all(&mut *conn)
        .await
        .context("reading pending runs")?;
    let mut order = Vec::new();
    let mut by_run: HashMap<Uuid, Vec<PendingExecution>> = HashMap::new();
    for row in rows {
        let run: Uuid = row.try_get("test_run_id")?;
        let execution = PendingExecution {
            id: row.try_get("id")?,
            case_id: row.try_get("test_case_id")?,
            steps: row.try_get("steps")?,
        };
        by_run
            .entry(run)
            .or_insert_with(|| {
                order.push(run);
                Vec::new()
            })
            .push(execution);
    }
    Ok(order
        .into_iter()
        .map(|id| PendingRun {
            executions: by_run.remove(&id).unwrap_or_default(),
            id,
        })
        .collect())
}
