//! The life of a run over HTTP: starting executions, reporting step results, completing
//! executions, and the run moving along by itself (RUNNING with its first started execution,
//! PASSED or FAILED with its last completed one). Starting runs is in `runs_start`.

use serde_json::{Value, json};

use crate::helpers::catalog::{data, node_ids, uuid};
use crate::helpers::q::{query, query_as};
use crate::helpers::runs::{
    COMPLETE, REPORT_STEP, assert_exact, complete, count_where, execution_status, report_step,
    run_of, run_state, snapshot, start_execution,
};
use crate::helpers::spawn_app;

#[tokio::test]
async fn start_execution_when_pending_then_running_and_the_run_running() {
    let app = spawn_app().await;
    let pool = app.db.pool().await;
    let run = run_of(&app, 2, 1).await;
    let body = start_execution(&app, run.executions[0]).await;
    let started = &data(&body)["startTestExecution"];
    assert_eq!(started["status"], "RUNNING");
    assert!(started["startedAt"].is_string(), "{body}");
    assert_eq!(execution_status(&pool, run.executions[0]).await, "running");
    assert_eq!(
        run_state(&pool, run.id).await,
        ("running".to_owned(), true, false)
    );
    assert_eq!(execution_status(&pool, run.executions[1]).await, "pending");
    assert_exact(&pool, run.id, "a start").await;
}

#[tokio::test]
async fn start_execution_twice_then_harmless() {
    let app = spawn_app().await;
    let pool = app.db.pool().await;
    let run = run_of(&app, 2, 1).await;
    let first = start_execution(&app, run.executions[0]).await;
    let before = snapshot(&pool).await;
    let second = start_execution(&app, run.executions[0]).await;
    assert_eq!(
        data(&second)["startTestExecution"]["startedAt"],
        data(&first)["startTestExecution"]["startedAt"]
    );
    assert_eq!(snapshot(&pool).await, before, "nothing changed");
}

#[tokio::test]
async fn report_step_when_execution_pending_then_one_step_row_and_the_execution_running() {
    let app = spawn_app().await;
    let pool = app.db.pool().await;
    let run = run_of(&app, 2, 2).await;
    let body = app
        .gql(
            REPORT_STEP,
            json!({ "e": run.executions[0], "s": run.steps[0][1], "status": "FAILED",
                    "actual": "a 500 page", "error": "expected 200", "duration": 3 }),
        )
        .await;
    let step = &data(&body)["reportStepResult"];
    assert_eq!(step["status"], "FAILED");
    assert_eq!(step["testStepId"], json!(run.steps[0][1]));
    assert!(step["completedAt"].is_string(), "a finished step: {body}");
    let (status, actual, error, duration): (String, String, String, i32) = query_as(
        "SELECT status::text, actual_result, error_message, duration_seconds FROM test_step_executions
         WHERE test_execution_id = $1 AND test_step_id = $2",
    )
    .bind(run.executions[0])
    .bind(run.steps[0][1])
    .fetch_one(&pool)
    .await
    .expect("the step result");
    assert_eq!(
        (status.as_str(), actual.as_str(), error.as_str(), duration),
        ("failed", "a 500 page", "expected 200", 3)
    );
    assert_eq!(execution_status(&pool, run.executions[0]).await, "running");
    assert_eq!(run_state(&pool, run.id).await.0, "running");
}

#[tokio::test]
async fn report_step_again_then_the_same_row_is_updated_without_a_duplicate() {
    let app = spawn_app().await;
    let pool = app.db.pool().await;
    let run = run_of(&app, 1, 2).await;
    let first = report_step(&app, run.executions[0], run.steps[0][0], "RUNNING").await;
    let first_id = uuid(&data(&first)["reportStepResult"]["id"]);
    assert!(data(&first)["reportStepResult"]["completedAt"].is_null());
    let again = app
        .gql(
            REPORT_STEP,
            json!({ "e": run.executions[0], "s": run.steps[0][0], "status": "PASSED", "actual": "ok" }),
        )
        .await;
    let again = &data(&again)["reportStepResult"];
    assert_eq!(uuid(&again["id"]), first_id, "the same row");
    assert_eq!(again["status"], "PASSED");
    assert!(again["completedAt"].is_string());
    assert_eq!(
        count_where(
            &pool,
            "test_step_executions",
            &format!("test_execution_id = '{}'", run.executions[0])
        )
        .await,
        1
    );
    let (status, actual): (String, String) =
        query_as("SELECT status::text, actual_result FROM test_step_executions WHERE id = $1")
            .bind(first_id)
            .fetch_one(&pool)
            .await
            .expect("the step result");
    assert_eq!((status.as_str(), actual.as_str()), ("passed", "ok"));
}

#[tokio::test]
async fn report_step_of_another_case_then_bad_user_input_and_nothing_written() {
    let app = spawn_app().await;
    let pool = app.db.pool().await;
    let run = run_of(&app, 2, 1).await;
    let before = snapshot(&pool).await;
    let body = report_step(&app, run.executions[0], run.steps[1][0], "PASSED").await;
    crate::helpers::catalog::assert_bad_input(&body, "stepId");
    assert_eq!(snapshot(&pool).await, before);
}

#[tokio::test]
async fn complete_with_a_duration_then_completed_at_and_duration_set_and_details_stored() {
    let app = spawn_app().await;
    let pool = app.db.pool().await;
    let run = run_of(&app, 2, 1).await;
    let body = app
        .gql(
            COMPLETE,
            json!({ "id": run.executions[0], "status": "FAILED", "error": "timeout",
                    "meta": { "browser": "chrome", "shard": 2 }, "duration": 42 }),
        )
        .await;
    let done = &data(&body)["completeTestExecution"];
    assert_eq!(done["status"], "FAILED");
    assert_eq!(done["durationSeconds"], 42);
    assert_eq!(done["errorMessage"], "timeout");
    assert_eq!(
        done["executionMetadata"],
        json!({ "browser": "chrome", "shard": 2 })
    );
    let (span, duration, error, meta): (f64, i32, String, Value) = query_as(
        "SELECT extract(epoch FROM completed_at - started_at)::float8, duration_seconds, error_message,
                execution_metadata
         FROM test_executions WHERE id = $1",
    )
    .bind(run.executions[0])
    .fetch_one(&pool)
    .await
    .expect("the execution");
    assert_eq!(
        span, 42.0,
        "a never-started execution started `duration` before its completion"
    );
    assert_eq!(duration, 42);
    assert_eq!(error, "timeout");
    assert_eq!(meta, json!({ "browser": "chrome", "shard": 2 }));
}

#[tokio::test]
async fn complete_without_a_duration_then_the_duration_is_the_time_since_it_started() {
    let app = spawn_app().await;
    let pool = app.db.pool().await;
    let run = run_of(&app, 2, 1).await;
    data(&start_execution(&app, run.executions[0]).await);
    // it started ten seconds ago
    query("UPDATE test_executions SET started_at = now() - interval '10 seconds' WHERE id = $1")
        .bind(run.executions[0])
        .execute(&pool)
        .await
        .expect("backdating");
    data(&complete(&app, run.executions[0], "PASSED").await);
    let (span, duration): (f64, i32) = query_as(
        "SELECT extract(epoch FROM completed_at - started_at)::float8, duration_seconds
         FROM test_executions WHERE id = $1",
    )
    .bind(run.executions[0])
    .fetch_one(&pool)
    .await
    .expect("the execution");
    assert!(duration >= 10, "{duration}");
    assert!(
        (span - f64::from(duration)).abs() <= 1.0,
        "{span} vs {duration}"
    );
}

#[tokio::test]
async fn complete_the_last_execution_when_none_failed_then_the_run_passed() {
    let app = spawn_app().await;
    let pool = app.db.pool().await;
    let run = run_of(&app, 3, 1).await;
    data(&complete(&app, run.executions[0], "PASSED").await);
    assert_eq!(
        run_state(&pool, run.id).await,
        ("running".to_owned(), true, false),
        "a completion starts the run"
    );
    data(&complete(&app, run.executions[1], "SKIPPED").await);
    assert_eq!(run_state(&pool, run.id).await.0, "running", "one is open");
    data(&complete(&app, run.executions[2], "PASSED").await);
    assert_eq!(
        run_state(&pool, run.id).await,
        ("passed".to_owned(), true, true)
    );
    let c = assert_exact(&pool, run.id, "the last completion").await;
    assert_eq!((c.total, c.passed, c.failed, c.skipped), (3, 2, 0, 1));
}

#[tokio::test]
async fn complete_the_last_execution_when_one_failed_then_the_run_failed() {
    let app = spawn_app().await;
    let pool = app.db.pool().await;
    let run = run_of(&app, 3, 1).await;
    data(&complete(&app, run.executions[0], "FAILED").await);
    data(&complete(&app, run.executions[1], "PASSED").await);
    assert_eq!(run_state(&pool, run.id).await.0, "running");
    data(&complete(&app, run.executions[2], "PASSED").await);
    assert_eq!(
        run_state(&pool, run.id).await,
        ("failed".to_owned(), true, true)
    );
    let c = assert_exact(&pool, run.id, "the last completion").await;
    assert_eq!((c.total, c.passed, c.failed, c.skipped), (3, 2, 1, 0));
}

#[tokio::test]
async fn started_run_lists_through_graphql_with_its_counters() {
    let app = spawn_app().await;
    let run = run_of(&app, 3, 0).await;
    data(&complete(&app, run.executions[1], "FAILED").await);
    let body = app
        .gql(
            "query($id: UUID!) { testRun(id: $id) {
               status totalTests passedTests failedTests skippedTests testSuiteId testSuite { id }
               executions { edges { node { id } } } } }",
            json!({ "id": run.id }),
        )
        .await;
    let got = &data(&body)["testRun"];
    assert_eq!(got["status"], "RUNNING");
    assert_eq!(
        (&got["totalTests"], &got["passedTests"], &got["failedTests"]),
        (&json!(3), &json!(0), &json!(1))
    );
    assert_eq!(got["testSuiteId"], json!(run.suite));
    assert_eq!(got["testSuite"]["id"], json!(run.suite));
    assert_eq!(node_ids(&got["executions"]), run.executions);
}
