//! Reading runs and executions: by id, filtered lists, keyset pagination, and the relations
//! run → executions, execution → case, step results (in step order) and artifacts, and
//! case → executions (newest first) and its last execution.

use serde_json::json;
use uuid::Uuid;

use crate::helpers::catalog::{Walk, assert_same_order, data, node_ids, sql_ids, uuid, walk};
use crate::helpers::q::query;
use crate::helpers::runs::{
    ATTACH, START_RUN, SeedSpec, artifact, cancel, complete, report_step, retry, run_of, run_with,
    seed, start_execution, start_run,
};
use crate::helpers::spawn_app;

const RUNS: &str =
    "query($filter: TestRunFilter, $first: Int, $after: String, $last: Int, $before: String) {
  testRuns(filter: $filter, first: $first, after: $after, last: $last, before: $before) {
    totalCount edges { cursor node { id } }
    pageInfo { hasNextPage hasPreviousPage startCursor endCursor } } }";

const EXECUTIONS: &str = "query($filter: TestExecutionFilter, $first: Int, $after: String, $last: Int, $before: String) {
  testExecutions(filter: $filter, first: $first, after: $after, last: $last, before: $before) {
    totalCount edges { cursor node { id } }
    pageInfo { hasNextPage hasPreviousPage startCursor endCursor } } }";

const RUN_EXECUTIONS: &str =
    "query($id: UUID!, $first: Int, $after: String, $last: Int, $before: String) {
  testRun(id: $id) { executions(first: $first, after: $after, last: $last, before: $before) {
    totalCount edges { cursor node { id } }
    pageInfo { hasNextPage hasPreviousPage startCursor endCursor } } } }";

#[tokio::test]
async fn test_run_and_test_execution_when_unknown_then_null() {
    let app = spawn_app().await;
    let body = app
        .gql(
            "query($id: UUID!) { testRun(id: $id) { id } testExecution(id: $id) { id } }",
            json!({ "id": Uuid::now_v7() }),
        )
        .await;
    assert_eq!(
        data(&body),
        &json!({ "testRun": null, "testExecution": null })
    );
}

#[tokio::test]
async fn test_runs_filtered_by_suite_status_trigger_and_start_window_then_only_matches() {
    let app = spawn_app().await;
    let pool = app.db.pool().await;
    let a = seed(&app, &SeedSpec::default()).await;
    let b = seed(&app, &SeedSpec::default()).await;
    let (january, _) = start_run(&app, a.suite, "january").await;
    let (february, _) = start_run(&app, a.suite, "february").await;
    let body = app
        .gql(
            START_RUN,
            json!({ "input": { "suiteId": b.suite, "name": "march", "triggeredBy": "ci-bot" } }),
        )
        .await;
    let march = uuid(&data(&body)["startTestRun"]["id"]);
    let (never, _) = start_run(&app, b.suite, "never started").await;
    data(&cancel(&app, february).await);
    for (run, month) in [(january, 1), (february, 2), (march, 3)] {
        query(format!(
            "UPDATE test_runs SET started_at = '2026-0{month}-10T12:00:00Z' WHERE id = $1"
        ))
        .bind(run)
        .execute(&pool)
        .await
        .expect("dating a run");
    }
    query("UPDATE test_runs SET status = 'running' WHERE id = ANY($1)")
        .bind(vec![january, march])
        .execute(&pool)
        .await
        .expect("running");
    let cases = [
        (json!({ "suiteId": a.suite }), vec![february, january]),
        (json!({ "suiteId": b.suite }), vec![never, march]),
        (json!({ "status": ["RUNNING"] }), vec![march, january]),
        (
            json!({ "status": ["PENDING", "CANCELLED"] }),
            vec![never, february],
        ),
        (json!({ "status": ["PASSED"] }), vec![]),
        (json!({ "triggeredBy": "ci-bot" }), vec![march]),
        (
            json!({ "triggeredBy": crate::helpers::runs::ADMIN }),
            vec![never, february, january],
        ),
        (
            json!({ "startedAfter": "2026-02-01T00:00:00Z" }),
            vec![march, february],
        ),
        (
            json!({ "startedBefore": "2026-02-10T12:00:00Z" }),
            vec![january],
        ),
        (
            json!({ "startedAfter": "2026-02-10T12:00:00Z", "startedBefore": "2026-03-01T00:00:00Z" }),
            vec![february],
        ),
        (
            json!({ "suiteId": a.suite, "status": ["RUNNING"], "startedAfter": "2026-01-01T00:00:00Z" }),
            vec![january],
        ),
    ];
    for (filter, expected) in cases {
        let body = app
            .gql(RUNS, json!({ "filter": filter, "first": 100 }))
            .await;
        let runs = &data(&body)["testRuns"];
        assert_eq!(node_ids(runs), expected, "{filter}");
        assert_eq!(runs["totalCount"], expected.len(), "{filter}");
    }
}

#[tokio::test]
async fn test_runs_walked_a_page_at_a_time_either_way_then_newest_first_without_gaps() {
    let app = spawn_app().await;
    let pool = app.db.pool().await;
    let seeded = seed(&app, &SeedSpec::default()).await;
    for i in 0..7 {
        start_run(&app, seeded.suite, &format!("run {i}")).await;
    }
    let expected = sql_ids(
        &pool,
        "SELECT id FROM test_runs ORDER BY created_at DESC, id DESC",
    )
    .await;
    assert_eq!(expected.len(), 7);
    for way in [Walk::Forward, Walk::Backward] {
        let got = walk(&app, RUNS, &["testRuns"], json!({}), 3, way).await;
        assert_same_order(&got, &expected, &format!("testRuns {way:?}"));
    }
}

#[tokio::test]
async fn test_executions_filtered_by_run_case_and_status_then_only_matches() {
    let app = spawn_app().await;
    let pool = app.db.pool().await;
    let seeded = seed(
        &app,
        &SeedSpec {
            cases: 3,
            steps: 1,
            retry_count: 1,
            ..SeedSpec::default()
        },
    )
    .await;
    let (one, first) = start_run(&app, seeded.suite, "one").await;
    let (two, second) = start_run(&app, seeded.suite, "two").await;
    let [c0, c1, c2] = [seeded.cases[0], seeded.cases[1], seeded.cases[2]];
    data(&complete(&app, first[&c0], "FAILED").await);
    let retried = uuid(&data(&retry(&app, first[&c0]).await)["retryTestExecution"]["id"]);
    data(&complete(&app, first[&c1], "PASSED").await);
    data(&start_execution(&app, second[&c2]).await);
    let cases = [
        (
            json!({ "runId": one }),
            vec![retried, first[&c2], first[&c1], first[&c0]],
        ),
        (
            json!({ "testCaseId": c0 }),
            vec![retried, second[&c0], first[&c0]],
        ),
        (
            json!({ "runId": one, "testCaseId": c0 }),
            vec![retried, first[&c0]],
        ),
        (json!({ "status": ["FAILED"] }), vec![first[&c0]]),
        (
            json!({ "status": ["PASSED", "RUNNING"] }),
            vec![second[&c2], first[&c1]],
        ),
        (
            json!({ "runId": two, "status": ["PENDING"] }),
            vec![second[&c1], second[&c0]],
        ),
        (
            json!({ "runId": two, "testCaseId": c1, "status": ["PASSED"] }),
            vec![],
        ),
    ];
    let all = sql_ids(
        &pool,
        "SELECT id FROM test_executions ORDER BY created_at DESC, id DESC",
    )
    .await;
    for (filter, expected) in cases {
        let body = app
            .gql(EXECUTIONS, json!({ "filter": filter, "first": 100 }))
            .await;
        let page = &data(&body)["testExecutions"];
        let got = node_ids(page);
        assert_eq!(page["totalCount"], expected.len(), "{filter}");
        // in the list's newest-first order
        let ordered: Vec<Uuid> = all
            .iter()
            .filter(|id| expected.contains(id))
            .copied()
            .collect();
        assert_eq!(got, ordered, "{filter}");
    }
}

#[tokio::test]
async fn test_executions_and_a_runs_executions_walked_either_way_then_in_order_without_gaps() {
    let app = spawn_app().await;
    let pool = app.db.pool().await;
    let run = run_of(&app, 8, 0).await;
    run_of(&app, 3, 0).await;
    let newest_first = sql_ids(
        &pool,
        "SELECT id FROM test_executions ORDER BY created_at DESC, id DESC",
    )
    .await;
    assert_eq!(newest_first.len(), 11);
    for way in [Walk::Forward, Walk::Backward] {
        let got = walk(&app, EXECUTIONS, &["testExecutions"], json!({}), 4, way).await;
        assert_same_order(&got, &newest_first, &format!("testExecutions {way:?}"));
        let got = walk(
            &app,
            RUN_EXECUTIONS,
            &["testRun", "executions"],
            json!({ "id": run.id }),
            3,
            way,
        )
        .await;
        assert_same_order(&got, &run.executions, &format!("run executions {way:?}"));
    }
}

#[tokio::test]
async fn an_execution_then_its_case_run_step_results_in_step_order_and_artifacts() {
    let app = spawn_app().await;
    let run = run_of(&app, 2, 3).await;
    let execution = run.executions[0];
    // reported last step first
    for step in run.steps[0].iter().rev() {
        data(&report_step(&app, execution, *step, "PASSED").await);
    }
    let body = app
        .gql(
            "query($id: UUID!) { testExecution(id: $id) { stepExecutions { id } } }",
            json!({ "id": execution }),
        )
        .await;
    let first_step_result = uuid(&data(&body)["testExecution"]["stepExecutions"][0]["id"]);
    for input in [
        json!({ "executionId": execution, "artifact": artifact("SCREENSHOT", "1.png") }),
        json!({ "executionId": execution, "artifact": artifact("VIDEO", "2.webm") }),
        json!({ "stepExecutionId": first_step_result, "artifact": artifact("LOG", "step.log") }),
    ] {
        data(&app.gql(ATTACH, json!({ "input": input })).await);
    }
    let body = app
        .gql(
            "query($id: UUID!) { testExecution(id: $id) {
               testCase { id } testRun { id }
               stepExecutions { testStep { id orderIndex } artifacts { fileName } }
               artifacts { fileName artifactType testStepExecutionId } } }",
            json!({ "id": execution }),
        )
        .await;
    let e = &data(&body)["testExecution"];
    assert_eq!(e["testCase"]["id"], json!(run.cases[0]));
    assert_eq!(e["testRun"]["id"], json!(run.id));
    let steps: Vec<Uuid> = e["stepExecutions"]
        .as_array()
        .expect("step results")
        .iter()
        .map(|s| uuid(&s["testStep"]["id"]))
        .collect();
    assert_eq!(steps, run.steps[0], "in step order");
    assert_eq!(
        e["stepExecutions"][0]["artifacts"],
        json!([{ "fileName": "step.log" }])
    );
    assert_eq!(e["stepExecutions"][1]["artifacts"], json!([]));
    assert_eq!(
        e["artifacts"],
        json!([
            { "fileName": "1.png", "artifactType": "SCREENSHOT", "testStepExecutionId": null },
            { "fileName": "2.webm", "artifactType": "VIDEO", "testStepExecutionId": null },
        ]),
        "the execution's own artifacts, oldest first"
    );
}

#[tokio::test]
async fn a_case_then_its_executions_newest_first_and_its_last_execution() {
    let app = spawn_app().await;
    let run_one = run_with(
        &app,
        &SeedSpec {
            cases: 2,
            steps: 1,
            retry_count: 1,
            ..SeedSpec::default()
        },
    )
    .await;
    let case = run_one.cases[0];
    let (_, two) = start_run(&app, run_one.suite, "second").await;
    data(&complete(&app, two[&case], "FAILED").await);
    let retried = uuid(&data(&retry(&app, two[&case]).await)["retryTestExecution"]["id"]);
    let body = app
        .gql(
            "query($id: UUID!) { testCase(id: $id) {
               executions(first: 10) { totalCount edges { node { id } } } lastExecution { id retryAttempt } } }",
            json!({ "id": case }),
        )
        .await;
    let c = &data(&body)["testCase"];
    assert_eq!(
        node_ids(&c["executions"]),
        [retried, two[&case], run_one.executions[0]]
    );
    assert_eq!(c["executions"]["totalCount"], 3);
    assert_eq!(
        c["lastExecution"],
        json!({ "id": retried, "retryAttempt": 1 })
    );
    let never_run = seed(&app, &SeedSpec::default()).await.cases[0];
    let body = app
        .gql(
            "query($id: UUID!) { testCase(id: $id) { executions { totalCount edges { node { id } } } lastExecution { id } } }",
            json!({ "id": never_run }),
        )
        .await;
    assert_eq!(
        data(&body)["testCase"],
        json!({ "executions": { "totalCount": 0, "edges": [] }, "lastExecution": null })
    );
}
