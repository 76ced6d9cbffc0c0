//! Runs helpers: seed active cases with steps in a suite (one statement), start runs, drive
//! executions over GraphQL, and read what the run tables hold (counters and their recount,
//! statuses, snapshots).

use std::collections::HashMap;

use serde_json::{Value, json};
use sqlx::PgPool;
use uuid::Uuid;

use super::app::TestApp;
use super::catalog::{data, first_error, uuid};
use super::q::{query, query_as, query_scalar};

/// The tables a run writes to.
pub const RUN_TABLES: &[&str] = &[
    "test_runs",
    "test_executions",
    "test_step_executions",
    "test_artifacts",
    "test_result_reports",
];

/// User id of the admin token the harness sends by default.
pub const ADMIN: &str = "test-admin";

pub const START_RUN: &str = "mutation($input: StartTestRunInput!) {
  startTestRun(input: $input) {
    id name status totalTests passedTests failedTests skippedTests triggeredBy runConfiguration
    configurationId startedAt completedAt
  } }";
pub const START_EXECUTION: &str =
    "mutation($id: UUID!) { startTestExecution(id: $id) { id status startedAt } }";
pub const REPORT_STEP: &str = "mutation($e: UUID!, $s: UUID!, $status: StepExecutionStatus!,
  $actual: String, $error: String, $duration: Float) {
  reportStepResult(executionId: $e, stepId: $s, status: $status, actualResult: $actual,
    errorMessage: $error, durationSeconds: $duration) {
    id testExecutionId testStepId status actualResult errorMessage durationSeconds completedAt
  } }";
pub const COMPLETE: &str = "mutation($id: UUID!, $status: Outcome!, $error: String, $meta: JSON,
  $duration: Float) {
  completeTestExecution(id: $id, status: $status, errorMessage: $error, executionMetadata: $meta,
    durationSeconds: $duration) {
    id status startedAt completedAt durationSeconds errorMessage executionMetadata
  } }";
pub const RETRY: &str = "mutation($id: UUID!) {
  retryTestExecution(id: $id) { id testCaseId testRunId status retryAttempt } }";
pub const CANCEL: &str =
    "mutation($id: UUID!) { cancelTestRun(id: $id) { id status completedAt } }";
pub const ATTACH: &str = "mutation($input: AttachArtifactInput!) {
  attachArtifact(input: $input) {
    id testExecutionId testStepExecutionId artifactType fileName filePath mimeType fileSize metadata
  } }";
/// What to seed: `cases` active cases of `steps` steps each, by `author`, allowing
/// `retry_count` retries, members of one new suite in creation order.
#[derive(Debug, Clone)]
pub struct SeedSpec<'a> {
    pub cases: usize,
    pub steps: usize,
    pub author: &'a str,
    pub retry_count: i32,
}

impl Default for SeedSpec<'_> {
    fn default() -> Self {
        Self {
            cases: 3,
            steps: 2,
            author: ADMIN,
            retry_count: 0,
        }
    }
}

/// A seeded suite: its cases in suite order, and each case's steps in step order.
#[derive(Debug, Clone)]
pub struct Seeded {
    pub suite: Uuid,
    pub cases: Vec<Uuid>,
    pub steps: Vec<Vec<Uuid>>,
}

/// A started run over a seeded suite; `executions[i]` is the first attempt of `cases[i]`.
#[derive(Debug, Clone)]
pub struct Run {
    pub id: Uuid,
    pub suite: Uuid,
    pub cases: Vec<Uuid>,
    pub steps: Vec<Vec<Uuid>>,
    pub executions: Vec<Uuid>,
}

/// Seeds a suite of active cases with steps, in one SQL statement.
pub async fn seed(app: &TestApp, spec: &SeedSpec<'_>) -> Seeded {
    let pool = app.db.pool().await;
    let suite = Uuid::new_v4();
    let tag = format!("s{}", &suite.simple().to_string()[..8]);
    let cases: Vec<Uuid> = (0..spec.cases).map(|_| Uuid::new_v4()).collect();
    let steps: Vec<Vec<Uuid>> = cases
        .iter()
        .map(|_| (0..spec.steps).map(|_| Uuid::new_v4()).collect())
        .collect();
    let mut step_ids = Vec::new();
    let mut step_cases = Vec::new();
    let mut step_orders = Vec::new();
    for (case, ids) in cases.iter().zip(&steps) {
        for (k, id) in ids.iter().enumerate() {
            step_ids.push(*id);
            step_cases.push(*case);
            step_orders.push(k as i32 + 1);
        }
    }
    query(
        "WITH s AS (INSERT INTO test_suites(id, name, created_by) VALUES ($1, $2, $3) RETURNING id),
              c AS (INSERT INTO test_cases(id, name, status, author, retry_count)
                    SELECT u.id, $2 || ' case ' || u.n, 'active', $3, $5
                    FROM unnest($4::uuid[]) WITH ORDINALITY AS u(id, n) RETURNING id),
              st AS (INSERT INTO test_steps(id, test_case_id, order_index, name, step_type)
                     SELECT u.id, u.case_id, u.k, 'step ' || u.k, 'click'
                     FROM unnest($6::uuid[], $7::uuid[], $8::int[]) AS u(id, case_id, k) RETURNING 1)
         INSERT INTO test_suite_test_cases(test_suite_id, test_case_id, order_index)
         SELECT $1, u.id, u.n FROM unnest($4::uuid[]) WITH ORDINALITY AS u(id, n)",
    )
    .bind(suite)
    .bind(&tag)
    .bind(spec.author)
    .bind(&cases)
    .bind(spec.retry_count)
    .bind(&step_ids)
    .bind(&step_cases)
    .bind(&step_orders)
    .execute(&pool)
    .await
    .expect("seeding a suite");
    Seeded {
        suite,
        cases,
        steps,
    }
}

/// Starts a run of `suite` as the admin and returns its id and the first attempt of each case,
/// by case.
pub async fn start_run(app: &TestApp, suite: Uuid, name: &str) -> (Uuid, HashMap<Uuid, Uuid>) {
    let body = app
        .gql(
            START_RUN,
            json!({ "input": { "suiteId": suite, "name": name } }),
        )
        .await;
    let run = uuid(&data(&body)["startTestRun"]["id"]);
    (run, first_attempts(&app.db.pool().await, run).await)
}

/// The first attempt of each case of a run, by case.
pub async fn first_attempts(pool: &PgPool, run: Uuid) -> HashMap<Uuid, Uuid> {
    query_as::<(Uuid, Uuid)>(
        "SELECT test_case_id, id FROM test_executions WHERE test_run_id = $1 AND retry_attempt = 0",
    )
    .bind(run)
    .fetch_all(pool)
    .await
    .expect("reading executions")
    .into_iter()
    .collect()
}

/// Seeds a suite per `spec` and starts a run of it as the admin.
pub async fn run_with(app: &TestApp, spec: &SeedSpec<'_>) -> Run {
    let seeded = seed(app, spec).await;
    let (id, by_case) = start_run(app, seeded.suite, "nightly").await;
    let executions = seeded
        .cases
        .iter()
        .map(|c| *by_case.get(c).expect("an execution per case"))
        .collect();
    Run {
        id,
        suite: seeded.suite,
        cases: seeded.cases,
        steps: seeded.steps,
        executions,
    }
}

/// A run of `cases` active cases with `steps` steps each, started by the admin.
pub async fn run_of(app: &TestApp, cases: usize, steps: usize) -> Run {
    run_with(
        app,
        &SeedSpec {
            cases,
            steps,
            ..SeedSpec::default()
        },
    )
    .await
}

/// Asserts that the response failed with `code` (every error coded).
pub fn assert_code(body: &Value, expected: &str) {
    assert_eq!(first_error(body)["extensions"]["code"], expected, "{body}");
}

/// Marks an execution RUNNING.
pub async fn start_execution(app: &TestApp, execution: Uuid) -> Value {
    app.gql(START_EXECUTION, json!({ "id": execution })).await
}

/// Reports a step's result with only a status.
pub async fn report_step(app: &TestApp, execution: Uuid, step: Uuid, status: &str) -> Value {
    app.gql(
        REPORT_STEP,
        json!({ "e": execution, "s": step, "status": status }),
    )
    .await
}

/// Completes an execution with an outcome (PASSED, FAILED or SKIPPED).
pub async fn complete(app: &TestApp, execution: Uuid, outcome: &str) -> Value {
    app.gql(COMPLETE, json!({ "id": execution, "status": outcome }))
        .await
}

/// Retries a failed execution.
pub async fn retry(app: &TestApp, execution: Uuid) -> Value {
    app.gql(RETRY, json!({ "id": execution })).await
}

/// Cancels a run.
pub async fn cancel(app: &TestApp, run: Uuid) -> Value {
    app.gql(CANCEL, json!({ "id": run })).await
}

/// A run's counters, as stored or as recounted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Counters {
    pub total: i32,
    pub passed: i32,
    pub failed: i32,
    pub skipped: i32,
}

/// The counters stored on the run.
pub async fn counters(pool: &PgPool, run: Uuid) -> Counters {
    let (total, passed, failed, skipped): (i32, i32, i32, i32) = query_as(
        "SELECT total_tests, passed_tests, failed_tests, skipped_tests FROM test_runs WHERE id = $1",
    )
    .bind(run)
    .fetch_one(pool)
    .await
    .expect("reading the run's counters");
    Counters {
        total,
        passed,
        failed,
        skipped,
    }
}

/// The counters recounted from the executions: one per case, its attempt with the highest
/// `retry_attempt` deciding.
pub async fn recount(pool: &PgPool, run: Uuid) -> Counters {
    let (total, passed, failed, skipped): (i64, i64, i64, i64) = query_as(
        "SELECT count(*),
                count(*) FILTER (WHERE e.status = 'passed'),
                count(*) FILTER (WHERE e.status = 'failed'),
                count(*) FILTER (WHERE e.status = 'skipped')
         FROM test_executions e
         WHERE e.test_run_id = $1
           AND e.retry_attempt = (SELECT max(o.retry_attempt) FROM test_executions o
                                  WHERE o.test_run_id = e.test_run_id AND o.test_case_id = e.test_case_id)",
    )
    .bind(run)
    .fetch_one(pool)
    .await
    .expect("recounting a run");
    Counters {
        total: total as i32,
        passed: passed as i32,
        failed: failed as i32,
        skipped: skipped as i32,
    }
}

/// Asserts that the run's counters equal their recount, and returns them.
pub async fn assert_exact(pool: &PgPool, run: Uuid, when: &str) -> Counters {
    let stored = counters(pool, run).await;
    assert_eq!(stored, recount(pool, run).await, "counters after {when}");
    stored
}

/// The run's status (lower case, as stored), whether it has `started_at` and whether it has
/// `completed_at`.
pub async fn run_state(pool: &PgPool, run: Uuid) -> (String, bool, bool) {
    query_as(
        "SELECT status::text, started_at IS NOT NULL, completed_at IS NOT NULL FROM test_runs WHERE id = $1",
    )
    .bind(run)
    .fetch_one(pool)
    .await
    .expect("reading the run")
}

/// The execution's status, as stored.
pub async fn execution_status(pool: &PgPool, execution: Uuid) -> String {
    query_scalar("SELECT status::text FROM test_executions WHERE id = $1")
        .bind(execution)
        .fetch_one(pool)
        .await
        .expect("reading the execution")
}

/// Number of rows of `table` matching `condition` (SQL text).
pub async fn count_where(pool: &PgPool, table: &str, condition: &str) -> i64 {
    query_scalar(format!("SELECT count(*) FROM {table} WHERE {condition}"))
        .fetch_one(pool)
        .await
        .expect("counting rows")
}

/// Everything the run tables hold (timestamps included), as text, to prove that a request
/// changed nothing.
pub async fn snapshot(pool: &PgPool) -> String {
    let mut out = String::new();
    for table in RUN_TABLES {
        let rows: String = query_scalar(format!(
            "SELECT coalesce(jsonb_agg(to_jsonb(t) ORDER BY to_jsonb(t)::text), '[]')::text FROM {table} t"
        ))
        .fetch_one(pool)
        .await
        .expect("snapshot of a table");
        out.push_str(table);
        out.push_str(": ");
        out.push_str(&rows);
        out.push('\n');
    }
    out
}

/// An artifact input of `kind` named `name`.
pub fn artifact(kind: &str, name: &str) -> Value {
    json!({
        "artifactType": kind,
        "fileName": name,
        "filePath": format!("/artifacts/{name}"),
        "mimeType": "application/octet-stream",
        "fileSize": 1024,
        "metadata": { "source": "ci" },
    })
}
