//! Ad-hoc runs and stable test identity over GraphQL: a run without a suite takes results by
//! test key (unknown keys create their cases), run keys make starts idempotent, finishTestRun
//! ends a run with the outcome its results imply, an idle run ends ABORTED, a run's outcome is
//! announced once (not FAILED while a retry may follow), aliases and merges keep a renamed
//! test's history, and durations are fractional.

use serde_json::{Value, json};
use uuid::Uuid;

use crate::helpers::catalog::{assert_code, count, data, uuid};
use crate::helpers::q::{query_as, query_scalar};
use crate::helpers::runs::{SeedSpec, assert_exact, complete, retry, run_state, run_with};
use crate::helpers::{TestApp, spawn_app, spawn_app_with};

const START: &str = "mutation($input: StartTestRunInput!) {
  startTestRun(input: $input) { id status adHoc runKey totalTests } }";

const REPORT: &str = "mutation($run: UUID!, $results: [ReportResultInput!]!, $known: Boolean) {
  reportResults(runId: $run, results: $results, knownTestsOnly: $known) {
    accepted duplicates rejected
    run { id status totalTests passedTests failedTests }
    results { ok duplicate executionId errorCode errorField errorMessage } } }";

const FINISH: &str = "mutation($id: UUID!) { finishTestRun(id: $id) {
  id status completedAt totalTests passedTests failedTests } }";

async fn start_adhoc(app: &TestApp, name: &str, key: Option<&str>) -> Value {
    let body = app
        .gql(START, json!({ "input": { "name": name, "runKey": key } }))
        .await;
    data(&body)["startTestRun"].clone()
}

fn by_key(key: &str, test: &str, status: &str) -> Value {
    json!({ "idempotencyKey": key, "testKey": test, "testSuite": "checkout.CartTest",
            "testName": test.rsplit("::").next().unwrap_or(test), "status": status,
            "durationMs": 12.6 })
}

#[tokio::test]
async fn an_adhoc_run_takes_results_by_key_and_creates_their_cases_once() {
    let app = spawn_app().await;
    let pool = app.db.pool().await;
    let run = start_adhoc(&app, "ad hoc", None).await;
    assert_eq!(
        (run["adHoc"].clone(), run["status"].clone()),
        (json!(true), json!("PENDING"))
    );
    let id = uuid(&run["id"]);
    let body = app
        .gql(
            REPORT,
            json!({ "run": id, "results": [
                by_key("1", "CartTest::adds", "PASSED"),
                by_key("2", "CartTest::removes", "FAILED"),
            ] }),
        )
        .await;
    let p = &data(&body)["reportResults"];
    assert_eq!(p["accepted"], 2, "{body}");
    // an ad-hoc run does not end by itself: more results may come
    assert_eq!(p["run"]["status"], "RUNNING");
    type CaseRow = (String, String, String, bool, Option<String>, Option<String>);
    let cases: Vec<CaseRow> = query_as(
        "SELECT identity_key, name, status::text, is_automated, author, category FROM test_cases ORDER BY 1",
    )
    .fetch_all(&pool)
    .await
    .expect("cases");
    assert_eq!(cases.len(), 2);
    assert_eq!(cases[0].0, "CartTest::adds");
    assert_eq!(cases[0].1, "adds");
    assert_eq!(cases[0].2, "active");
    assert!(cases[0].3);
    assert_eq!(cases[0].4.as_deref(), Some("test-admin"));
    assert_eq!(cases[0].5.as_deref(), Some("checkout.CartTest"));
    let ms: Vec<(Option<i32>, Option<i32>)> =
        query_as("SELECT duration_ms, duration_seconds FROM test_executions")
            .fetch_all(&pool)
            .await
            .expect("durations");
    assert!(ms.iter().all(|d| *d == (Some(13), Some(0))), "{ms:?}");

    // a second run lands on the same cases
    let second = uuid(&start_adhoc(&app, "again", None).await["id"]);
    let body = app
        .gql(
            REPORT,
            json!({ "run": second, "results": [by_key("1", "CartTest::adds", "PASSED")] }),
        )
        .await;
    assert_eq!(data(&body)["reportResults"]["accepted"], 1, "{body}");
    assert_eq!(count(&pool, "test_cases").await, 2);

    // known tests only: an unknown key is refused, and no case is made for it
    let body = app
        .gql(
            REPORT,
            json!({ "run": second, "known": true,
                    "results": [by_key("9", "CartTest::brand_new", "PASSED")] }),
        )
        .await;
    let p = &data(&body)["reportResults"];
    assert_eq!(p["results"][0]["errorCode"], "NOT_FOUND", "{body}");
    assert_eq!(count(&pool, "test_cases").await, 2);

    // a result already reported is a duplicate; a re-run's new result for the case is its
    // next attempt (an ad-hoc run takes what a re-run job sends)
    let body = app
        .gql(
            REPORT,
            json!({ "run": second, "results": [
                by_key("1", "CartTest::adds", "FAILED"),
                by_key("rerun", "CartTest::adds", "FAILED"),
            ] }),
        )
        .await;
    let results = &data(&body)["reportResults"]["results"];
    assert_eq!(results[0]["duplicate"], true, "{body}");
    assert_eq!(results[1]["ok"], true, "{body}");
    assert_eq!(results[1]["duplicate"], false, "{body}");
    let attempts: Vec<(i32, String)> = query_as(
        "SELECT e.retry_attempt, e.status::text FROM test_executions e
         JOIN test_cases tc ON tc.id = e.test_case_id
         WHERE e.test_run_id = $1 AND tc.identity_key = 'CartTest::adds' ORDER BY 1",
    )
    .bind(second)
    .fetch_all(&pool)
    .await
    .expect("attempts");
    assert_eq!(
        attempts,
        [(0, "passed".to_owned()), (1, "failed".to_owned())]
    );
}

#[tokio::test]
async fn a_run_key_answers_the_same_run_and_finish_ends_it_once() {
    let app = spawn_app().await;
    let pool = app.db.pool().await;
    let first = start_adhoc(&app, "build 12", Some("ci-12")).await;
    let again = start_adhoc(&app, "build 12 (retried job)", Some("ci-12")).await;
    assert_eq!(first["id"], again["id"]);
    assert_eq!(first["runKey"], "ci-12");
    assert_eq!(count(&pool, "test_runs").await, 1);
    let id = uuid(&first["id"]);
    let body = app
        .gql(
            REPORT,
            json!({ "run": id, "results": [
                by_key("a", "T::one", "PASSED"), by_key("b", "T::two", "SKIPPED")] }),
        )
        .await;
    assert_eq!(data(&body)["reportResults"]["accepted"], 2, "{body}");
    let body = app.gql(FINISH, json!({ "id": id })).await;
    let run = &data(&body)["finishTestRun"];
    assert_eq!(run["status"], "PASSED", "{body}");
    assert!(run["completedAt"].is_string());
    // finishing again answers the run as it is; results after the end are refused
    let body = app.gql(FINISH, json!({ "id": id })).await;
    assert_eq!(
        data(&body)["finishTestRun"]["completedAt"],
        run["completedAt"]
    );
    let body = app
        .gql(
            REPORT,
            json!({ "run": id, "results": [by_key("c", "T::three", "FAILED")] }),
        )
        .await;
    assert_eq!(
        data(&body)["reportResults"]["results"][0]["errorCode"],
        "CONFLICT"
    );
    assert_eq!(run_state(&pool, id).await.0, "passed");

    // a suite run finished early: its unreported executions are cancelled
    let suite_run = run_with(
        &app,
        &SeedSpec {
            cases: 3,
            steps: 1,
            ..SeedSpec::default()
        },
    )
    .await;
    data(&complete(&app, suite_run.executions[0], "FAILED").await);
    let body = app.gql(FINISH, json!({ "id": suite_run.id })).await;
    assert_eq!(data(&body)["finishTestRun"]["status"], "FAILED", "{body}");
    let open: i64 = query_scalar(
        "SELECT count(*) FROM test_executions WHERE test_run_id = $1 AND status = 'cancelled'",
    )
    .bind(suite_run.id)
    .fetch_one(&pool)
    .await
    .expect("cancelled");
    assert_eq!(open, 2);
    assert_exact(&pool, suite_run.id, "finish").await;

    // a run with nothing reported ends ABORTED
    let empty = uuid(&start_adhoc(&app, "empty", None).await["id"]);
    let body = app.gql(FINISH, json!({ "id": empty })).await;
    assert_eq!(data(&body)["finishTestRun"]["status"], "ABORTED", "{body}");
}

#[tokio::test]
async fn a_run_nobody_writes_into_ends_aborted() {
    let options = api::config::ServerOptions {
        run_inactivity_timeout: std::time::Duration::from_secs(1),
        ..Default::default()
    };
    let app = spawn_app_with(options).await;
    let pool = app.db.pool().await;
    let run = uuid(&start_adhoc(&app, "forgotten", Some("ci-1")).await["id"]);
    let body = app
        .gql(
            REPORT,
            json!({ "run": run, "results": [by_key("a", "T::one", "PASSED")] }),
        )
        .await;
    assert_eq!(data(&body)["reportResults"]["accepted"], 1, "{body}");
    let suite_run = run_with(
        &app,
        &SeedSpec {
            cases: 2,
            steps: 1,
            ..SeedSpec::default()
        },
    )
    .await;
    // the sweeper's change is announced like any other: wait for the runs' announcements,
    // looking at their statuses after each (and once first, for one already made)
    let mut listener = sqlx::postgres::PgListener::connect_with(&pool)
        .await
        .expect("listener");
    listener.listen("jbts_live").await.expect("listen");
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(20);
    loop {
        let statuses: Vec<String> =
            query_scalar("SELECT status::text FROM test_runs WHERE id = ANY($1) ORDER BY id")
                .bind(vec![run, suite_run.id])
                .fetch_all(&pool)
                .await
                .expect("statuses");
        if statuses.iter().all(|s| s == "aborted") {
            break;
        }
        let announced = tokio::time::timeout_at(deadline, listener.recv()).await;
        assert!(announced.is_ok(), "still {statuses:?}");
    }
    let open: i64 =
        query_scalar("SELECT count(*) FROM test_executions WHERE status IN ('pending', 'running')")
            .fetch_one(&pool)
            .await
            .expect("open");
    assert_eq!(open, 0);
    let body = app
        .gql(
            "query($id: UUID!) { testRun(id: $id) { status completedAt } }",
            json!({ "id": run }),
        )
        .await;
    assert_eq!(data(&body)["testRun"]["status"], "ABORTED", "{body}");
}

#[tokio::test]
async fn a_run_is_not_failed_while_a_failed_case_may_still_be_retried() {
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
    data(&complete(&app, run.executions[0], "PASSED").await);
    data(&complete(&app, run.executions[1], "FAILED").await);
    // every execution ended, but the failure may be retried: the outcome is not known yet
    assert_eq!(
        run_state(&pool, run.id).await,
        ("running".to_owned(), true, false)
    );
    let retried = uuid(&data(&retry(&app, run.executions[1]).await)["retryTestExecution"]["id"]);
    data(&complete(&app, retried, "PASSED").await);
    assert_eq!(
        run_state(&pool, run.id).await,
        ("passed".to_owned(), true, true)
    );
    // the run was never announced FAILED
    let failed_entries: i64 = query_scalar(
        "SELECT count(*) FROM audit_log WHERE table_name = 'test_runs' AND record_id = $1
           AND new_values->>'status' = 'failed'",
    )
    .bind(run.id)
    .fetch_one(&pool)
    .await
    .expect("audit");
    assert_eq!(failed_entries, 0);

    // with the retries used up, a failure ends the run FAILED
    let run = run_with(
        &app,
        &SeedSpec {
            cases: 1,
            steps: 1,
            retry_count: 1,
            ..SeedSpec::default()
        },
    )
    .await;
    data(&complete(&app, run.executions[0], "FAILED").await);
    let retried = uuid(&data(&retry(&app, run.executions[0]).await)["retryTestExecution"]["id"]);
    data(&complete(&app, retried, "FAILED").await);
    assert_eq!(
        run_state(&pool, run.id).await,
        ("failed".to_owned(), true, true)
    );
}

#[tokio::test]
async fn aliases_and_merges_keep_a_renamed_tests_history() {
    let app = spawn_app().await;
    let pool = app.db.pool().await;
    let first = uuid(&start_adhoc(&app, "before the rename", None).await["id"]);
    let body = app
        .gql(
            REPORT,
            json!({ "run": first, "results": [by_key("a", "Cart::adds_item", "PASSED")] }),
        )
        .await;
    assert_eq!(data(&body)["reportResults"]["accepted"], 1, "{body}");
    let old_case: Uuid =
        query_scalar("SELECT id FROM test_cases WHERE identity_key = 'Cart::adds_item'")
            .fetch_one(&pool)
            .await
            .expect("case");

    // the test is renamed; an alias sends the new key's results to the old case
    let body = app
        .gql(
            "mutation($id: UUID!, $key: String!) { addTestCaseAlias(testCaseId: $id, key: $key) {
               identityKey aliases } }",
            json!({ "id": old_case, "key": "Cart::adds_an_item" }),
        )
        .await;
    assert_eq!(
        data(&body)["addTestCaseAlias"]["aliases"],
        json!(["Cart::adds_an_item"]),
        "{body}"
    );
    let second = uuid(&start_adhoc(&app, "after the rename", None).await["id"]);
    let body = app
        .gql(
            REPORT,
            json!({ "run": second, "results": [by_key("a", "Cart::adds_an_item", "FAILED")] }),
        )
        .await;
    assert_eq!(data(&body)["reportResults"]["accepted"], 1, "{body}");
    assert_eq!(count(&pool, "test_cases").await, 1);

    // another renamed test already made a new case: merging moves its history over
    let third = uuid(&start_adhoc(&app, "other", None).await["id"]);
    app.gql(
        REPORT,
        json!({ "run": third, "results": [by_key("x", "Cart::empties", "PASSED")] }),
    )
    .await;
    let fourth = uuid(&start_adhoc(&app, "other renamed", None).await["id"]);
    app.gql(
        REPORT,
        json!({ "run": fourth, "results": [by_key("x", "Cart::clears", "PASSED")] }),
    )
    .await;
    let ids: Vec<(String, Uuid)> = query_as(
        "SELECT identity_key, id FROM test_cases WHERE identity_key IN ('Cart::empties', 'Cart::clears') ORDER BY 1",
    )
    .fetch_all(&pool)
    .await
    .expect("ids");
    let (clears, empties) = (ids[0].1, ids[1].1);
    let body = app
        .gql(
            "mutation($s: UUID!, $t: UUID!) { mergeTestCases(sourceId: $s, targetId: $t) {
               id identityKey aliases } }",
            json!({ "s": empties, "t": clears }),
        )
        .await;
    let merged = &data(&body)["mergeTestCases"];
    assert_eq!(merged["aliases"], json!(["Cart::empties"]), "{body}");
    let history: i64 = query_scalar("SELECT count(*) FROM test_executions WHERE test_case_id = $1")
        .bind(clears)
        .fetch_one(&pool)
        .await
        .expect("history");
    assert_eq!(history, 2);
    assert_eq!(count(&pool, "test_cases").await, 2);
    // results for the old key land on the merged case
    let fifth = uuid(&start_adhoc(&app, "late shard", None).await["id"]);
    app.gql(
        REPORT,
        json!({ "run": fifth, "results": [by_key("x", "Cart::empties", "PASSED")] }),
    )
    .await;
    let history: i64 = query_scalar("SELECT count(*) FROM test_executions WHERE test_case_id = $1")
        .bind(clears)
        .fetch_one(&pool)
        .await
        .expect("history");
    assert_eq!(history, 3);
    // cases with results in one run cannot be merged; a case not into itself
    let body = app
        .gql(
            "mutation($s: UUID!, $t: UUID!) { mergeTestCases(sourceId: $s, targetId: $t) { id } }",
            json!({ "s": old_case, "t": old_case }),
        )
        .await;
    assert_code(&body, "BAD_USER_INPUT");
}

#[tokio::test]
async fn durations_take_fractions_in_seconds_or_milliseconds_but_not_both() {
    let app = spawn_app().await;
    let run = uuid(&start_adhoc(&app, "durations", None).await["id"]);
    let body = app
        .gql(
            REPORT,
            json!({ "run": run, "results": [
                { "idempotencyKey": "s", "testKey": "D::seconds", "status": "PASSED", "durationSeconds": 0.532 },
                { "idempotencyKey": "m", "testKey": "D::millis", "status": "PASSED", "durationMs": 1499.5 },
                { "idempotencyKey": "b", "testKey": "D::both", "status": "PASSED", "durationMs": 1, "durationSeconds": 1 },
                { "idempotencyKey": "n", "testKey": "D::negative", "status": "PASSED", "durationMs": -1 },
            ] }),
        )
        .await;
    let p = &data(&body)["reportResults"];
    assert_eq!(p["accepted"], 2, "{body}");
    assert_eq!(p["results"][2]["errorCode"], "BAD_USER_INPUT");
    assert_eq!(p["results"][2]["errorField"], "results.2.durationMs");
    assert_eq!(p["results"][3]["errorField"], "results.3.durationMs");
    let body = app
        .gql(
            "query($id: UUID!) { testRun(id: $id) { executions(first: 5) { nodes {
               durationMs durationSeconds testCase { identityKey } } } } }",
            json!({ "id": run }),
        )
        .await;
    let mut got: Vec<(String, Value, Value)> = data(&body)["testRun"]["executions"]["nodes"]
        .as_array()
        .expect("nodes")
        .iter()
        .map(|n| {
            (
                n["testCase"]["identityKey"]
                    .as_str()
                    .unwrap_or("")
                    .to_owned(),
                n["durationMs"].clone(),
                n["durationSeconds"].clone(),
            )
        })
        .collect();
    got.sort_by(|a, b| a.0.cmp(&b.0));
    assert_eq!(
        got,
        [
            ("D::millis".to_owned(), json!(1500), json!(2)),
            ("D::seconds".to_owned(), json!(532), json!(1)),
        ]
    );
}
