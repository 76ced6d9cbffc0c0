//! Illegal transitions are a CONFLICT and write nothing; repeating the same completion is
//! harmless and counts nothing twice.

use crate::helpers::catalog::data;
use crate::helpers::runs::{
    assert_code, assert_exact, cancel, complete, report_step, retry, run_of, run_state, snapshot,
    start_execution,
};
use crate::helpers::spawn_app;

#[tokio::test]
async fn complete_twice_with_different_outcomes_then_conflict_and_nothing_written() {
    let app = spawn_app().await;
    let pool = app.db.pool().await;
    let run = run_of(&app, 2, 1).await;
    data(&complete(&app, run.executions[0], "PASSED").await);
    let before = snapshot(&pool).await;
    for other in ["FAILED", "SKIPPED"] {
        assert_code(&complete(&app, run.executions[0], other).await, "CONFLICT");
        assert_eq!(snapshot(&pool).await, before, "{other}");
    }
}

#[tokio::test]
async fn complete_twice_with_the_same_outcome_then_idempotent_without_double_counting() {
    let app = spawn_app().await;
    let pool = app.db.pool().await;
    let run = run_of(&app, 3, 1).await;
    data(&complete(&app, run.executions[0], "FAILED").await);
    let before = snapshot(&pool).await;
    for _ in 0..3 {
        let body = complete(&app, run.executions[0], "FAILED").await;
        assert_eq!(data(&body)["completeTestExecution"]["status"], "FAILED");
    }
    assert_eq!(
        snapshot(&pool).await,
        before,
        "nothing rewritten, not even updated_at"
    );
    let c = assert_exact(&pool, run.id, "repeated completions").await;
    assert_eq!((c.total, c.failed), (3, 1));
}

#[tokio::test]
async fn repeat_the_last_completion_of_a_finished_run_then_it_stays_finished_and_counted_once() {
    let app = spawn_app().await;
    let pool = app.db.pool().await;
    let run = run_of(&app, 2, 1).await;
    data(&complete(&app, run.executions[0], "PASSED").await);
    data(&complete(&app, run.executions[1], "PASSED").await);
    let before = snapshot(&pool).await;
    data(&complete(&app, run.executions[1], "PASSED").await);
    assert_eq!(snapshot(&pool).await, before);
    assert_eq!(run_state(&pool, run.id).await.0, "passed");
    let c = assert_exact(&pool, run.id, "a repeated completion").await;
    assert_eq!((c.total, c.passed), (2, 2));
}

#[tokio::test]
async fn report_a_step_on_a_cancelled_run_then_conflict_and_nothing_written() {
    let app = spawn_app().await;
    let pool = app.db.pool().await;
    let run = run_of(&app, 2, 1).await;
    data(&cancel(&app, run.id).await);
    let before = snapshot(&pool).await;
    let body = report_step(&app, run.executions[0], run.steps[0][0], "PASSED").await;
    assert_code(&body, "CONFLICT");
    assert_eq!(snapshot(&pool).await, before);
}

#[tokio::test]
async fn report_a_step_on_a_completed_execution_then_conflict_and_nothing_written() {
    let app = spawn_app().await;
    let pool = app.db.pool().await;
    let run = run_of(&app, 2, 1).await;
    data(&complete(&app, run.executions[0], "PASSED").await);
    let before = snapshot(&pool).await;
    let body = report_step(&app, run.executions[0], run.steps[0][0], "FAILED").await;
    assert_code(&body, "CONFLICT");
    assert_eq!(snapshot(&pool).await, before);
}

#[tokio::test]
async fn start_a_completed_execution_then_conflict_and_nothing_written() {
    let app = spawn_app().await;
    let pool = app.db.pool().await;
    let run = run_of(&app, 2, 1).await;
    data(&complete(&app, run.executions[0], "SKIPPED").await);
    let before = snapshot(&pool).await;
    assert_code(&start_execution(&app, run.executions[0]).await, "CONFLICT");
    assert_eq!(snapshot(&pool).await, before);
}

#[tokio::test]
async fn start_an_execution_of_a_cancelled_run_then_conflict_and_nothing_written() {
    let app = spawn_app().await;
    let pool = app.db.pool().await;
    let run = run_of(&app, 2, 1).await;
    data(&cancel(&app, run.id).await);
    let before = snapshot(&pool).await;
    assert_code(&start_execution(&app, run.executions[0]).await, "CONFLICT");
    assert_eq!(snapshot(&pool).await, before);
}

#[tokio::test]
async fn complete_an_execution_of_a_cancelled_run_then_conflict_and_nothing_written() {
    let app = spawn_app().await;
    let pool = app.db.pool().await;
    let run = run_of(&app, 2, 1).await;
    data(&start_execution(&app, run.executions[0]).await);
    data(&cancel(&app, run.id).await);
    let before = snapshot(&pool).await;
    for (execution, outcome) in [
        (run.executions[0], "PASSED"),
        (run.executions[1], "FAILED"),
        (run.executions[1], "SKIPPED"),
    ] {
        assert_code(&complete(&app, execution, outcome).await, "CONFLICT");
    }
    assert_eq!(snapshot(&pool).await, before);
}

#[tokio::test]
async fn retry_in_a_cancelled_run_then_conflict_and_nothing_written() {
    let app = spawn_app().await;
    let pool = app.db.pool().await;
    let run = crate::helpers::runs::run_with(
        &app,
        &crate::helpers::runs::SeedSpec {
            cases: 2,
            steps: 1,
            retry_count: 3,
            ..Default::default()
        },
    )
    .await;
    data(&complete(&app, run.executions[0], "FAILED").await);
    data(&cancel(&app, run.id).await);
    let before = snapshot(&pool).await;
    assert_code(&retry(&app, run.executions[0]).await, "CONFLICT");
    assert_eq!(snapshot(&pool).await, before);
}
