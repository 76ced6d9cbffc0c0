//! Bulk reporting (`reportResults`): each item completes its case's latest attempt with its step
//! results and artifacts and gets its own outcome; valid items are written once even when
//! others are rejected, and re-sending a batch changes nothing. Errors are in
//! `runs_bulk_errors`.

use serde_json::{Value, json};
use uuid::Uuid;

use crate::helpers::bulk::{
    ItemOutcome, duplicate, full_item, item, outcomes, payload, rejected, report_results, written,
};
use crate::helpers::catalog::{count, data, uuid};
use crate::helpers::q::query_as;
use crate::helpers::runs::{
    SeedSpec, assert_exact, complete, count_where, execution_status, report_step, retry, run_of,
    run_state, run_with, snapshot,
};
use crate::helpers::spawn_app;

#[tokio::test]
async fn report_results_then_each_item_written_with_its_steps_and_artifacts() {
    let app = spawn_app().await;
    let pool = app.db.pool().await;
    let run = run_of(&app, 3, 2).await;
    let body = report_results(
        &app,
        run.id,
        vec![
            full_item("a", run.cases[0], "PASSED", &run.steps[0]),
            full_item("b", run.cases[1], "FAILED", &run.steps[1][..1]),
            item("c", run.cases[2], "SKIPPED"),
        ],
    )
    .await;
    let p = payload(&body);
    assert_eq!(
        (&p["accepted"], &p["duplicates"], &p["rejected"]),
        (&json!(3), &json!(0), &json!(0))
    );
    assert_eq!(outcomes(&body), [written(), written(), written()]);
    let executions: Vec<Uuid> = p["results"]
        .as_array()
        .expect("results")
        .iter()
        .map(|r| uuid(&r["executionId"]))
        .collect();
    assert_eq!(executions, run.executions);
    assert_eq!(p["run"]["status"], "FAILED", "{body}");
    assert_eq!(
        run_state(&pool, run.id).await,
        ("failed".to_owned(), true, true)
    );
    let c = assert_exact(&pool, run.id, "a bulk report").await;
    assert_eq!((c.total, c.passed, c.failed, c.skipped), (3, 1, 1, 1));

    let (status, duration, span, meta): (String, i32, f64, Value) = query_as(
        "SELECT status::text, duration_seconds, extract(epoch FROM completed_at - started_at)::float8,
                execution_metadata
         FROM test_executions WHERE id = $1",
    )
    .bind(run.executions[0])
    .fetch_one(&pool)
    .await
    .expect("the execution");
    assert_eq!((status.as_str(), duration, span), ("passed", 7, 7.0));
    assert_eq!(meta, json!({ "runner": "ci-1" }));
    let steps: Vec<(Uuid, String, String, Value)> = query_as(
        "SELECT se.test_step_id, se.status::text, se.actual_result, se.step_metadata
         FROM test_step_executions se JOIN test_steps s ON s.id = se.test_step_id
         WHERE se.test_execution_id = ANY($1) ORDER BY s.test_case_id = $2 DESC, s.order_index",
    )
    .bind(&run.executions)
    .bind(run.cases[0])
    .fetch_all(&pool)
    .await
    .expect("step results");
    assert_eq!(
        steps,
        [
            (
                run.steps[0][0],
                "passed".to_owned(),
                "seen".to_owned(),
                json!({ "k": 0 })
            ),
            (
                run.steps[0][1],
                "passed".to_owned(),
                "seen".to_owned(),
                json!({ "k": 1 })
            ),
            (
                run.steps[1][0],
                "failed".to_owned(),
                "seen".to_owned(),
                json!({ "k": 0 })
            ),
        ]
    );
    let artifacts: Vec<(Uuid, String)> = query_as(
        "SELECT test_execution_id, file_name FROM test_artifacts
         WHERE test_step_execution_id IS NULL ORDER BY file_name",
    )
    .fetch_all(&pool)
    .await
    .expect("artifacts");
    assert_eq!(
        artifacts,
        [
            (run.executions[0], "a.log".to_owned()),
            (run.executions[1], "b.log".to_owned()),
        ]
    );
    assert_eq!(count(&pool, "test_result_reports").await, 3);
}

#[tokio::test]
async fn delete_or_truncate_executions_or_runs_then_their_result_keys_go_with_them() {
    let app = spawn_app().await;
    let pool = app.db.pool().await;
    let run = run_of(&app, 3, 0).await;
    let body = report_results(
        &app,
        run.id,
        vec![
            item("a", run.cases[0], "PASSED"),
            item("b", run.cases[1], "FAILED"),
            item("c", run.cases[2], "SKIPPED"),
        ],
    )
    .await;
    assert_eq!(outcomes(&body), [written(), written(), written()], "{body}");
    let keys = |run: Uuid| {
        let pool = pool.clone();
        async move {
            let keys: Vec<(String,)> = query_as(
                "SELECT idempotency_key FROM test_result_reports WHERE test_run_id = $1
                 ORDER BY idempotency_key",
            )
            .bind(run)
            .fetch_all(&pool)
            .await
            .expect("keys");
            keys.into_iter().map(|(k,)| k).collect::<Vec<_>>()
        }
    };
    assert_eq!(keys(run.id).await, ["a", "b", "c"]);
    sqlx::query("DELETE FROM test_executions WHERE id = $1")
        .bind(run.executions[1])
        .execute(&pool)
        .await
        .expect("delete an execution");
    assert_eq!(
        keys(run.id).await,
        ["a", "c"],
        "the deleted execution's key"
    );
    sqlx::query("DELETE FROM test_runs WHERE id = $1")
        .bind(run.id)
        .execute(&pool)
        .await
        .expect("delete the run");
    assert_eq!(
        keys(run.id).await,
        Vec::<String>::new(),
        "the deleted run's keys"
    );
    assert_eq!(count(&pool, "test_result_reports").await, 0);

    // and a truncated table's
    let again = run_of(&app, 2, 0).await;
    let body = report_results(
        &app,
        again.id,
        vec![
            item("d", again.cases[0], "PASSED"),
            item("e", again.cases[1], "PASSED"),
        ],
    )
    .await;
    assert_eq!(outcomes(&body), [written(), written()], "{body}");
    assert_eq!(keys(again.id).await, ["d", "e"]);
    sqlx::query("TRUNCATE test_executions CASCADE")
        .execute(&pool)
        .await
        .expect("truncate");
    assert_eq!(
        count(&pool, "test_result_reports").await,
        0,
        "the truncated executions' keys"
    );
}

/// A batch of two valid items and one of each kind of invalid one, over a run of six cases of
/// two steps, the fifth of which already PASSED.
fn mixed_batch(run: &crate::helpers::runs::Run) -> Vec<Value> {
    let mut negative = item("neg", run.cases[2], "PASSED");
    negative["durationSeconds"] = json!(-1);
    let mut not_object = item("meta", run.cases[3], "PASSED");
    not_object["executionMetadata"] = json!([1, 2]);
    vec![
        full_item("ok-1", run.cases[0], "PASSED", &run.steps[0]),
        item("unknown", Uuid::now_v7(), "PASSED"),
        full_item("foreign-step", run.cases[1], "PASSED", &run.steps[2]),
        negative,
        item("ok-1", run.cases[3], "FAILED"),
        not_object,
        item("flip", run.cases[4], "FAILED"),
        full_item("ok-2", run.cases[5], "FAILED", &run.steps[5]),
    ]
}

fn mixed_outcomes() -> Vec<ItemOutcome> {
    vec![
        written(),
        rejected("BAD_USER_INPUT", "results.1.testCaseId"),
        rejected("BAD_USER_INPUT", "results.2.steps.0.stepId"),
        rejected("BAD_USER_INPUT", "results.3.durationSeconds"),
        rejected("BAD_USER_INPUT", "results.4.idempotencyKey"),
        rejected("BAD_USER_INPUT", "results.5.executionMetadata"),
        rejected("CONFLICT", "results.6.testCaseId"),
        written(),
    ]
}

#[tokio::test]
async fn mixed_batch_then_valid_items_written_once_and_invalid_ones_reported_per_item() {
    let app = spawn_app().await;
    let pool = app.db.pool().await;
    let run = run_of(&app, 6, 2).await;
    data(&complete(&app, run.executions[4], "PASSED").await);
    let body = report_results(&app, run.id, mixed_batch(&run)).await;
    assert_eq!(outcomes(&body), mixed_outcomes(), "{body}");
    let p = payload(&body);
    assert_eq!(
        (&p["accepted"], &p["duplicates"], &p["rejected"]),
        (&json!(2), &json!(0), &json!(6))
    );
    let statuses: Vec<String> =
        futures::future::join_all(run.executions.iter().map(|e| execution_status(&pool, *e))).await;
    assert_eq!(
        statuses,
        [
            "passed", "pending", "pending", "pending", "passed", "failed"
        ]
    );
    assert_eq!(count(&pool, "test_result_reports").await, 2);
    assert_eq!(count(&pool, "test_step_executions").await, 4);
    assert_eq!(count(&pool, "test_artifacts").await, 2);
    assert_eq!(
        count_where(
            &pool,
            "test_executions",
            &format!("test_run_id = '{}'", run.id)
        )
        .await,
        6,
        "no execution added"
    );
    assert_exact(&pool, run.id, "a mixed batch").await;
}

#[tokio::test]
async fn resend_the_same_batch_then_nothing_changes_and_valid_items_are_duplicates() {
    let app = spawn_app().await;
    let pool = app.db.pool().await;
    let run = run_of(&app, 6, 2).await;
    data(&complete(&app, run.executions[4], "PASSED").await);
    let first = report_results(&app, run.id, mixed_batch(&run)).await;
    let before = snapshot(&pool).await;
    let again = report_results(&app, run.id, mixed_batch(&run)).await;
    let mut expected = mixed_outcomes();
    expected[0] = duplicate();
    expected[7] = duplicate();
    assert_eq!(outcomes(&again), expected, "{again}");
    let p = payload(&again);
    assert_eq!(
        (&p["accepted"], &p["duplicates"], &p["rejected"]),
        (&json!(0), &json!(2), &json!(6))
    );
    for i in [0, 7] {
        assert_eq!(
            payload(&first)["results"][i]["executionId"],
            p["results"][i]["executionId"]
        );
    }
    assert_eq!(
        snapshot(&pool).await,
        before,
        "row counts and updated_at unchanged"
    );
}

#[tokio::test]
async fn a_key_reported_before_with_other_content_then_a_duplicate_and_nothing_changes() {
    let app = spawn_app().await;
    let pool = app.db.pool().await;
    let run = run_of(&app, 2, 1).await;
    data(&report_results(&app, run.id, vec![item("k", run.cases[0], "PASSED")]).await);
    let before = snapshot(&pool).await;
    let body = report_results(&app, run.id, vec![item("k", run.cases[1], "FAILED")]).await;
    assert_eq!(outcomes(&body), [duplicate()]);
    assert_eq!(
        payload(&body)["results"][0]["executionId"],
        json!(run.executions[0])
    );
    assert_eq!(snapshot(&pool).await, before);
}

#[tokio::test]
async fn report_results_for_the_last_cases_then_the_run_passed() {
    let app = spawn_app().await;
    let pool = app.db.pool().await;
    let run = run_of(&app, 3, 1).await;
    data(&complete(&app, run.executions[0], "PASSED").await);
    let body = report_results(
        &app,
        run.id,
        vec![
            item("b", run.cases[1], "PASSED"),
            item("c", run.cases[2], "SKIPPED"),
        ],
    )
    .await;
    assert_eq!(payload(&body)["run"]["status"], "PASSED");
    assert_eq!(
        run_state(&pool, run.id).await,
        ("passed".to_owned(), true, true)
    );
    let c = assert_exact(&pool, run.id, "the closing report").await;
    assert_eq!((c.passed, c.skipped), (2, 1));
}

#[tokio::test]
async fn report_results_after_a_retry_then_the_latest_attempt_is_completed() {
    let app = spawn_app().await;
    let pool = app.db.pool().await;
    let run = run_with(
        &app,
        &SeedSpec {
            cases: 2,
            steps: 1,
            retry_count: 1,
            ..SeedSpec::default()
        },
    )
    .await;
    data(&complete(&app, run.executions[0], "FAILED").await);
    data(&complete(&app, run.executions[1], "PASSED").await);
    let attempt = uuid(&data(&retry(&app, run.executions[0]).await)["retryTestExecution"]["id"]);
    let body = report_results(&app, run.id, vec![item("again", run.cases[0], "PASSED")]).await;
    assert_eq!(outcomes(&body), [written()]);
    assert_eq!(payload(&body)["results"][0]["executionId"], json!(attempt));
    assert_eq!(execution_status(&pool, attempt).await, "passed");
    assert_eq!(execution_status(&pool, run.executions[0]).await, "failed");
    assert_eq!(run_state(&pool, run.id).await.0, "passed");
    assert_exact(&pool, run.id, "a report over a retry").await;
}

#[tokio::test]
async fn report_results_over_reported_steps_then_the_step_rows_are_updated_not_duplicated() {
    let app = spawn_app().await;
    let pool = app.db.pool().await;
    let run = run_of(&app, 1, 2).await;
    data(&report_step(&app, run.executions[0], run.steps[0][0], "RUNNING").await);
    let body = report_results(
        &app,
        run.id,
        vec![full_item("k", run.cases[0], "PASSED", &run.steps[0])],
    )
    .await;
    assert_eq!(outcomes(&body), [written()]);
    let steps: Vec<String> = crate::helpers::q::query_scalar(
        "SELECT status::text FROM test_step_executions WHERE test_execution_id = $1 ORDER BY test_step_id",
    )
    .bind(run.executions[0])
    .fetch_all(&pool)
    .await
    .expect("steps");
    assert_eq!(steps, ["passed", "passed"]);
}
