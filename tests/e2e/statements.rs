//! Every relation and per-parent field goes through a loader: listing cases, suites and runs
//! with every field of theirs runs the same statements whatever the page size, at most one
//! per field and level.

use serde_json::{Value, json};

use crate::helpers::app::TestApp;
use crate::helpers::catalog::{data, warm_up};
use crate::helpers::spawn_app;

/// 60 cases (two steps each, in 20 suites of 10), 20 runs of a suite each with an execution
/// per case (failed ones with a failed step result and an artifact), one update of every case,
/// suite and run: every field below has rows, and every history an entry besides its insert.
async fn seed(app: &TestApp) {
    let pool = app.db.pool().await;
    crate::helpers::q::query(
        "WITH cfg AS (INSERT INTO configurations(name, config_type) VALUES ('chrome', 'browser') RETURNING id),
              c AS (INSERT INTO test_cases(name, category, author, status, configuration_id)
                    SELECT 'case ' || i, 'listing', 'test-admin', 'active', cfg.id
                    FROM generate_series(1, 60) AS i, cfg RETURNING id, name),
              st AS (INSERT INTO test_steps(test_case_id, order_index, name, step_type)
                     SELECT c.id, k, 'step ' || k, 'click' FROM c, generate_series(1, 2) AS k RETURNING 1),
              s AS (INSERT INTO test_suites(name, created_by)
                    SELECT 'suite ' || i, 'test-admin' FROM generate_series(1, 20) AS i RETURNING id, name)
         INSERT INTO test_suite_test_cases(test_suite_id, test_case_id, order_index)
         SELECT s.id, c.id, row_number() OVER (PARTITION BY s.id ORDER BY c.name)
         FROM s JOIN c ON (substring(c.name from 6)::int % 20) = (substring(s.name from 7)::int % 20)
            OR (substring(c.name from 6)::int + 1) % 20 = (substring(s.name from 7)::int % 20)",
    )
    .execute(&pool)
    .await
    .expect("seeding the catalogue");
    crate::helpers::q::query(
        "WITH r AS (INSERT INTO test_runs(name, test_suite_id, status, triggered_by, started_at, completed_at,
                                          total_tests, passed_tests, failed_tests)
                    SELECT 'run of ' || s.name, s.id, 'failed', 'test-admin', now(), now(), 0, 0, 0
                    FROM test_suites s RETURNING id, test_suite_id),
              e AS (INSERT INTO test_executions(test_case_id, test_run_id, status, started_at, completed_at,
                                                duration_seconds, error_message)
                    SELECT m.test_case_id, r.id,
                           CASE WHEN m.order_index % 2 = 0 THEN 'failed' ELSE 'passed' END,
                           now(), now(), 3,
                           CASE WHEN m.order_index % 2 = 0 THEN 'Timeout after 30 ms' END
                    FROM r JOIN test_suite_test_cases m ON m.test_suite_id = r.test_suite_id
                    RETURNING id, test_case_id, status),
              se AS (INSERT INTO test_step_executions(test_execution_id, test_step_id, status, started_at,
                                                      completed_at, duration_seconds, error_message)
                     SELECT e.id, ts.id, 'failed', now(), now(), 1, 'element not found'
                     FROM e JOIN test_steps ts ON ts.test_case_id = e.test_case_id AND ts.order_index = 1
                     WHERE e.status = 'failed' RETURNING id, test_execution_id)
         INSERT INTO test_artifacts(test_execution_id, test_step_execution_id, artifact_type, file_name, file_path)
         SELECT se.test_execution_id, se.id, 'screenshot', 'shot.png', '/shots/shot.png' FROM se",
    )
    .execute(&pool)
    .await
    .expect("seeding the runs");
    for table in ["test_cases", "test_suites", "test_runs"] {
        crate::helpers::q::query(format!("UPDATE {table} SET name = name || ' (renamed)'"))
            .execute(&pool)
            .await
            .expect("renaming");
    }
}

const CASES: &str = "query($n: Int) { testCases(first: $n) { totalCount edges { node {
    id configuration { id } steps { id } suites { id }
    executions(first: 5) { totalCount edges { node { id stepExecutions { id testStep { id } artifacts { id } } artifacts { id } } } }
    lastExecution { id } history(first: 5) { totalCount edges { node { id changedFields } } }
    stats { totalExecutions } flakiness { flakyScore } failingSteps { stepId failureCount }
} } } }";

const SUITES: &str = "query($n: Int) { testSuites(first: $n) { totalCount edges { node {
    id stats { runs avgPassRate } history(first: 5) { totalCount edges { node { id } } }
    testCases(first: 5) { totalCount edges { position node { id steps { id } } } }
} } } }";

const RUNS: &str = "query($n: Int) { testRuns(first: $n) { totalCount edges { node {
    id testSuite { id } configuration { id } stats { passRate retries }
    history(first: 5) { totalCount edges { node { id } } }
    executions(first: 5) { totalCount edges { node { id testCase { id } testRun { id }
        stepExecutions { id testStep { id } } } } }
} } } }";

/// The statements `query` runs with page size `n`, and its answer.
async fn measure(app: &TestApp, query: &str, n: i64) -> (u64, Value) {
    warm_up(app).await;
    let before = app.statements();
    let body = app.gql(query, json!({ "n": n })).await;
    let ran = app.statements() - before;
    (ran, data(&body).clone())
}

/// Asserts the listing runs the same statements for a page of 2 as for a page of `n`, at most
/// `budget` (the security settings, then one per field and level that reads).
async fn assert_flat(app: &TestApp, query: &str, list: &str, n: i64, budget: u64) -> Value {
    let (few, small) = measure(app, query, 2).await;
    let (many, large) = measure(app, query, n).await;
    assert_eq!(small[list]["edges"].as_array().map(Vec::len), Some(2));
    assert_eq!(
        large[list]["edges"].as_array().map(Vec::len),
        Some(n as usize),
        "{large}"
    );
    eprintln!("{list}: {few} statements for a page of 2, {many} for a page of {n}");
    assert_eq!(few, many, "{list}: {few} statements for 2, {many} for {n}");
    assert!(many <= budget, "{list}: {many} statements, budget {budget}");
    large
}

#[tokio::test]
async fn listing_cases_suites_and_runs_with_every_field_then_statements_independent_of_the_page_size()
 {
    let app = spawn_app().await;
    seed(&app).await;
    // settings, the page with its total, then: configuration, steps, suites, executions page,
    // their step results, their steps, their artifacts, step results' artifacts, last
    // execution, history, stats, flakiness, failing steps
    let cases = assert_flat(&app, CASES, "testCases", 50, 15).await;
    let some = cases["testCases"]["edges"]
        .as_array()
        .expect("edges")
        .iter()
        .find(|e| {
            !e["node"]["failingSteps"]
                .as_array()
                .is_some_and(Vec::is_empty)
        })
        .expect("a case with a failing step")
        .clone();
    assert!(
        some["node"]["history"]["totalCount"].as_i64() >= Some(2),
        "{some}"
    );
    assert!(
        some["node"]["executions"]["totalCount"].as_i64() >= Some(1),
        "{some}"
    );
    // settings, page, stats, history, the cases page, their steps
    let suites = assert_flat(&app, SUITES, "testSuites", 20, 6).await;
    assert_eq!(suites["testSuites"]["edges"][0]["node"]["stats"]["runs"], 1);
    // settings, page, suite, configuration, stats, history, executions page, their cases,
    // their runs, their step results, the results' steps
    let runs = assert_flat(&app, RUNS, "testRuns", 20, 11).await;
    assert!(runs["testRuns"]["edges"][0]["node"]["executions"]["totalCount"].as_i64() >= Some(2));
}
