//! Retries and cancellation: a retry is a new attempt (every attempt kept) up to the case's retry
//! count, the latest attempt of each case decides the counters, and a run is not FAILED while a
//! failed case may still be retried (its outcome is announced once); cancelling closes the
//! run's open executions, twice harmlessly. The counters equal their recount after every kind
//! of change.

use serde_json::json;

use crate::helpers::catalog::{data, uuid};
use crate::helpers::q::query_as;
use crate::helpers::runs::{
    SeedSpec, assert_code, assert_exact, cancel, complete, count_where, execution_status,
    report_step, retry, run_of, run_state, run_with, snapshot, start_execution,
};
use crate::helpers::spawn_app;

/// A spec of `cases` cases of one step each, allowing `retries` retries.
fn retrying(cases: usize, retries: i32) -> SeedSpec<'static> {
    SeedSpec {
        cases,
        steps: 1,
        retry_count: retries,
        ..SeedSpec::default()
    }
}

#[tokio::test]
async fn retry_a_failed_execution_then_a_new_pending_attempt_and_the_old_one_kept() {
    let app = spawn_app().await;
    let pool = app.db.pool().await;
    let run = run_with(&app, &retrying(2, 1)).await;
    data(&complete(&app, run.executions[0], "FAILED").await);
    let body = retry(&app, run.executions[0]).await;
    let attempt = &data(&body)["retryTestExecution"];
    assert_eq!(attempt["retryAttempt"], 1);
    assert_eq!(attempt["status"], "PENDING");
    assert_eq!(attempt["testCaseId"], json!(run.cases[0]));
    assert_eq!(attempt["testRunId"], json!(run.id));
    let attempts: Vec<(i32, String)> = query_as(
        "SELECT retry_attempt, status::text FROM test_executions
         WHERE test_run_id = $1 AND test_case_id = $2 ORDER BY retry_attempt",
    )
    .bind(run.id)
    .bind(run.cases[0])
    .fetch_all(&pool)
    .await
    .expect("attempts");
    assert_eq!(
        attempts,
        [(0, "failed".to_owned()), (1, "pending".to_owned())]
    );
    let c = assert_exact(&pool, run.id, "a retry").await;
    assert_eq!(
        (c.total, c.failed),
        (2, 0),
        "the pending attempt replaces the failure"
    );
}

#[tokio::test]
async fn retry_up_to_the_retry_count_then_conflict_beyond_and_every_attempt_kept() {
    let app = spawn_app().await;
    let pool = app.db.pool().await;
    let run = run_with(&app, &retrying(1, 2)).await;
    let mut latest = run.executions[0];
    for expected in 1..=2 {
        data(&complete(&app, latest, "FAILED").await);
        let body = retry(&app, latest).await;
        let attempt = &data(&body)["retryTestExecution"];
        assert_eq!(attempt["retryAttempt"], expected);
        latest = uuid(&attempt["id"]);
        assert_exact(&pool, run.id, "a retry").await;
    }
    data(&complete(&app, latest, "FAILED").await);
    let before = snapshot(&pool).await;
    let body = retry(&app, latest).await;
    assert_code(&body, "CONFLICT");
    assert_eq!(snapshot(&pool).await, before, "nothing written");
    assert_eq!(
        count_where(
            &pool,
            "test_executions",
            &format!("test_run_id = '{}'", run.id)
        )
        .await,
        3,
        "the first attempt and two retries"
    );
    assert_eq!(run_state(&pool, run.id).await.0, "failed");
}

#[tokio::test]
async fn retry_when_the_case_allows_none_then_conflict() {
    let app = spawn_app().await;
    let pool = app.db.pool().await;
    let run = run_with(&app, &retrying(2, 0)).await;
    data(&complete(&app, run.executions[0], "FAILED").await);
    let before = snapshot(&pool).await;
    assert_code(&retry(&app, run.executions[0]).await, "CONFLICT");
    assert_eq!(snapshot(&pool).await, before);
}

#[tokio::test]
async fn retry_when_not_failed_then_conflict_and_nothing_written() {
    let app = spawn_app().await;
    let pool = app.db.pool().await;
    let run = run_with(&app, &retrying(4, 3)).await;
    data(&complete(&app, run.executions[0], "PASSED").await);
    data(&complete(&app, run.executions[1], "SKIPPED").await);
    data(&start_execution(&app, run.executions[2]).await);
    let before = snapshot(&pool).await;
    // passed, skipped, running, pending
    for execution in &run.executions {
        let body = retry(&app, *execution).await;
        assert_code(&body, "CONFLICT");
    }
    assert_eq!(snapshot(&pool).await, before);
}

#[tokio::test]
async fn retry_an_attempt_that_has_a_later_one_then_conflict() {
    let app = spawn_app().await;
    let pool = app.db.pool().await;
    let run = run_with(&app, &retrying(1, 3)).await;
    data(&complete(&app, run.executions[0], "FAILED").await);
    let second = uuid(&data(&retry(&app, run.executions[0]).await)["retryTestExecution"]["id"]);
    data(&complete(&app, second, "FAILED").await);
    let before = snapshot(&pool).await;
    assert_code(&retry(&app, run.executions[0]).await, "CONFLICT");
    assert_eq!(snapshot(&pool).await, before);
}

#[tokio::test]
async fn a_failure_that_may_be_retried_leaves_the_run_running_until_its_retry_ends() {
    let app = spawn_app().await;
    let pool = app.db.pool().await;
    let run = run_with(&app, &retrying(2, 1)).await;
    data(&complete(&app, run.executions[0], "PASSED").await);
    data(&complete(&app, run.executions[1], "FAILED").await);
    // announced once: not FAILED while the failure may still be retried
    assert_eq!(
        run_state(&pool, run.id).await,
        ("running".to_owned(), true, false)
    );
    let attempt = uuid(&data(&retry(&app, run.executions[1]).await)["retryTestExecution"]["id"]);
    assert_eq!(
        run_state(&pool, run.id).await,
        ("running".to_owned(), true, false)
    );
    assert_exact(&pool, run.id, "the retry").await;
    data(&complete(&app, attempt, "FAILED").await);
    assert_eq!(
        run_state(&pool, run.id).await,
        ("failed".to_owned(), true, true),
        "no retry left: the run's outcome is known"
    );
}

#[tokio::test]
async fn a_failure_without_retries_ends_the_run_failed_at_once() {
    let app = spawn_app().await;
    let pool = app.db.pool().await;
    let run = run_with(&app, &retrying(1, 0)).await;
    data(&complete(&app, run.executions[0], "FAILED").await);
    assert_eq!(
        run_state(&pool, run.id).await,
        ("failed".to_owned(), true, true)
    );
    assert_code(&retry(&app, run.executions[0]).await, "CONFLICT");
    assert_exact(&pool, run.id, "a failure without retries").await;
}

#[tokio::test]
async fn retry_that_passes_then_the_latest_attempt_decides_and_the_run_passed() {
    let app = spawn_app().await;
    let pool = app.db.pool().await;
    let run = run_with(&app, &retrying(2, 1)).await;
    data(&complete(&app, run.executions[0], "PASSED").await);
    data(&complete(&app, run.executions[1], "FAILED").await);
    let attempt = uuid(&data(&retry(&app, run.executions[1]).await)["retryTestExecution"]["id"]);
    data(&complete(&app, attempt, "PASSED").await);
    assert_eq!(
        run_state(&pool, run.id).await,
        ("passed".to_owned(), true, true)
    );
    let c = assert_exact(&pool, run.id, "the passing retry").await;
    assert_eq!((c.total, c.passed, c.failed, c.skipped), (2, 2, 0, 0));
    assert_eq!(execution_status(&pool, run.executions[1]).await, "failed");
}

#[tokio::test]
async fn counters_equal_their_recount_after_every_kind_of_change() {
    let app = spawn_app().await;
    let pool = app.db.pool().await;
    let run = run_with(&app, &retrying(5, 2)).await;
    let e = &run.executions;
    assert_exact(&pool, run.id, "the start").await;
    data(&start_execution(&app, e[0]).await);
    assert_exact(&pool, run.id, "a start").await;
    data(&report_step(&app, e[1], run.steps[1][0], "FAILED").await);
    assert_exact(&pool, run.id, "a step result").await;
    data(&complete(&app, e[0], "PASSED").await);
    assert_exact(&pool, run.id, "a pass").await;
    data(&complete(&app, e[1], "FAILED").await);
    assert_exact(&pool, run.id, "a failure").await;
    data(&complete(&app, e[2], "SKIPPED").await);
    assert_exact(&pool, run.id, "a skip").await;
    let again = uuid(&data(&retry(&app, e[1]).await)["retryTestExecution"]["id"]);
    assert_exact(&pool, run.id, "a retry").await;
    data(&complete(&app, again, "FAILED").await);
    assert_exact(&pool, run.id, "a failed retry").await;
    let third = uuid(&data(&retry(&app, again).await)["retryTestExecution"]["id"]);
    data(&complete(&app, third, "PASSED").await);
    assert_exact(&pool, run.id, "a passing retry").await;
    data(&complete(&app, e[0], "PASSED").await);
    assert_exact(&pool, run.id, "a repeated completion").await;
    data(&cancel(&app, run.id).await);
    let c = assert_exact(&pool, run.id, "a cancellation").await;
    assert_eq!((c.total, c.passed, c.failed, c.skipped), (5, 2, 0, 1));
}

#[tokio::test]
async fn cancel_a_run_then_its_open_executions_cancelled_and_finished_ones_kept() {
    let app = spawn_app().await;
    let pool = app.db.pool().await;
    let run = run_of(&app, 3, 1).await;
    data(&complete(&app, run.executions[0], "PASSED").await);
    data(&start_execution(&app, run.executions[1]).await);
    let body = cancel(&app, run.id).await;
    assert_eq!(data(&body)["cancelTestRun"]["status"], "CANCELLED");
    assert!(data(&body)["cancelTestRun"]["completedAt"].is_string());
    assert_eq!(
        run_state(&pool, run.id).await,
        ("cancelled".to_owned(), true, true)
    );
    let statuses: Vec<(String, bool)> = query_as(
        "SELECT status::text, completed_at IS NOT NULL FROM test_executions
         WHERE test_run_id = $1 ORDER BY created_at, id",
    )
    .bind(run.id)
    .fetch_all(&pool)
    .await
    .expect("executions");
    assert_eq!(
        statuses,
        [
            ("passed".to_owned(), true),
            ("cancelled".to_owned(), true),
            ("cancelled".to_owned(), true),
        ]
    );
    assert_exact(&pool, run.id, "a cancellation").await;
}

#[tokio::test]
async fn cancel_twice_then_the_second_is_harmless() {
    let app = spawn_app().await;
    let pool = app.db.pool().await;
    let run = run_of(&app, 2, 1).await;
    data(&cancel(&app, run.id).await);
    let before = snapshot(&pool).await;
    let body = cancel(&app, run.id).await;
    assert_eq!(data(&body)["cancelTestRun"]["status"], "CANCELLED");
    assert_eq!(snapshot(&pool).await, before);
}

#[tokio::test]
async fn cancel_a_finished_run_then_conflict_and_nothing_written() {
    let app = spawn_app().await;
    let pool = app.db.pool().await;
    let run = run_of(&app, 1, 1).await;
    data(&complete(&app, run.executions[0], "PASSED").await);
    let before = snapshot(&pool).await;
    assert_code(&cancel(&app, run.id).await, "CONFLICT");
    assert_eq!(snapshot(&pool).await, before);
}

#[tokio::test]
async fn cancel_an_unknown_run_then_not_found() {
    let app = spawn_app().await;
    assert_code(&cancel(&app, uuid::Uuid::now_v7()).await, "NOT_FOUND");
}
