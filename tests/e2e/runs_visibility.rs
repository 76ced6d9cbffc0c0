//! Members and runs: a member sees the runs they triggered and the executions of the cases they
//! author, and nothing else; they cannot act on what they cannot see, nor start a run as
//! someone else. Two members, Alice and Bob.

use api::auth::Role;
use serde_json::json;
use uuid::Uuid;

use crate::helpers::bulk::{REPORT_RESULTS, item};
use crate::helpers::catalog::{data, node_ids, uuid};
use crate::helpers::runs::{
    ATTACH, COMPLETE, REPORT_STEP, START_EXECUTION, START_RUN, SeedSpec, artifact, assert_code,
    assert_exact, first_attempts, run_state, seed, snapshot,
};
use crate::helpers::{TestApp, spawn_app};

struct World {
    app: TestApp,
    alice: String,
    bob: String,
    /// Alice's suite of two cases (hers).
    alice_cases: Vec<Uuid>,
    alice_suite: Uuid,
    /// Bob's suite of one case (his).
    bob_suite: Uuid,
}

async fn world() -> World {
    let app = spawn_app().await;
    let alice = app.token("alice", &[Role::Member]).await;
    let bob = app.token("bob", &[Role::Member]).await;
    let a = seed(
        &app,
        &SeedSpec {
            cases: 2,
            steps: 1,
            author: "alice",
            ..SeedSpec::default()
        },
    )
    .await;
    let b = seed(
        &app,
        &SeedSpec {
            cases: 1,
            steps: 1,
            author: "bob",
            ..SeedSpec::default()
        },
    )
    .await;
    World {
        app,
        alice,
        bob,
        alice_cases: a.cases,
        alice_suite: a.suite,
        bob_suite: b.suite,
    }
}

/// Starts a run of `suite` as the holder of `token`.
async fn start_as(app: &TestApp, token: &str, suite: Uuid) -> Uuid {
    let body = app
        .gql_as(
            token,
            START_RUN,
            json!({ "input": { "suiteId": suite, "name": "mine" } }),
        )
        .await;
    uuid(&data(&body)["startTestRun"]["id"])
}

/// A run of a suite holding Alice's two cases and Bob's one, started by the admin for Alice.
async fn shared_run(w: &World) -> Uuid {
    let pool = w.app.db.pool().await;
    crate::helpers::q::query(
        "INSERT INTO test_suite_test_cases(test_suite_id, test_case_id, order_index)
         SELECT $1, test_case_id, 10 FROM test_suite_test_cases WHERE test_suite_id = $2",
    )
    .bind(w.alice_suite)
    .bind(w.bob_suite)
    .execute(&pool)
    .await
    .expect("adding Bob's case");
    let body = w
        .app
        .gql(
            START_RUN,
            json!({ "input": { "suiteId": w.alice_suite, "name": "shared", "triggeredBy": "alice" } }),
        )
        .await;
    uuid(&data(&body)["startTestRun"]["id"])
}

#[tokio::test]
async fn member_lists_and_reads_only_the_runs_they_triggered() {
    let w = world().await;
    let alices = start_as(&w.app, &w.alice, w.alice_suite).await;
    let bobs = start_as(&w.app, &w.bob, w.bob_suite).await;
    let list = "{ testRuns { totalCount edges { node { id triggeredBy } } } }";
    let body = w.app.gql_as(&w.alice, list, json!({})).await;
    assert_eq!(node_ids(&data(&body)["testRuns"]), [alices]);
    assert_eq!(data(&body)["testRuns"]["totalCount"], 1);
    assert_eq!(
        data(&body)["testRuns"]["edges"][0]["node"]["triggeredBy"],
        "alice"
    );
    let by_id = "query($id: UUID!) { testRun(id: $id) { id } }";
    let body = w.app.gql_as(&w.alice, by_id, json!({ "id": bobs })).await;
    assert!(data(&body)["testRun"].is_null(), "{body}");
    let body = w
        .app
        .gql_as(
            &w.alice,
            "query($f: TestRunFilter) { testRuns(filter: $f) { totalCount } }",
            json!({ "f": { "triggeredBy": "bob" } }),
        )
        .await;
    assert_eq!(data(&body)["testRuns"]["totalCount"], 0);
    let admin = w.app.gql(list, json!({})).await;
    assert_eq!(data(&admin)["testRuns"]["totalCount"], 2);
}

#[tokio::test]
async fn member_sees_only_the_executions_of_their_own_cases() {
    let w = world().await;
    let run = shared_run(&w).await;
    let pool = w.app.db.pool().await;
    let by_case = first_attempts(&pool, run).await;
    assert_eq!(by_case.len(), 3);
    let alices: Vec<Uuid> = w.alice_cases.iter().map(|c| by_case[c]).collect();
    let bobs = by_case
        .iter()
        .find(|(c, _)| !w.alice_cases.contains(c))
        .map(|(_, e)| *e)
        .expect("Bob's execution");

    let query = "query($run: UUID!) {
      testRun(id: $run) { totalTests executions { totalCount edges { node { id } } } }
      testExecutions(filter: {runId: $run}) { totalCount } }";
    let body = w.app.gql_as(&w.alice, query, json!({ "run": run })).await;
    let d = data(&body);
    assert_eq!(d["testRun"]["totalTests"], 3, "the run counts every case");
    assert_eq!(node_ids(&d["testRun"]["executions"]), alices);
    assert_eq!(d["testRun"]["executions"]["totalCount"], 2);
    assert_eq!(d["testExecutions"]["totalCount"], 2);

    let body = w.app.gql_as(&w.bob, query, json!({ "run": run })).await;
    let d = data(&body);
    assert!(d["testRun"].is_null(), "Bob did not trigger it: {body}");
    assert_eq!(d["testExecutions"]["totalCount"], 1, "his own case's");
    let one = "query($id: UUID!) { testExecution(id: $id) { id } }";
    let body = w.app.gql_as(&w.bob, one, json!({ "id": alices[0] })).await;
    assert!(data(&body)["testExecution"].is_null());
    let body = w.app.gql_as(&w.alice, one, json!({ "id": bobs })).await;
    assert!(data(&body)["testExecution"].is_null());
}

#[tokio::test]
async fn member_drives_their_own_run_then_it_finishes_with_exact_counters() {
    let w = world().await;
    let run = start_as(&w.app, &w.alice, w.alice_suite).await;
    let pool = w.app.db.pool().await;
    let by_case = first_attempts(&pool, run).await;
    let step: Uuid =
        crate::helpers::q::query_scalar("SELECT id FROM test_steps WHERE test_case_id = $1")
            .bind(w.alice_cases[0])
            .fetch_one(&pool)
            .await
            .expect("step");
    let first = by_case[&w.alice_cases[0]];
    let second = by_case[&w.alice_cases[1]];
    data(
        &w.app
            .gql_as(&w.alice, START_EXECUTION, json!({ "id": first }))
            .await,
    );
    data(
        &w.app
            .gql_as(
                &w.alice,
                REPORT_STEP,
                json!({ "e": first, "s": step, "status": "PASSED" }),
            )
            .await,
    );
    data(
        &w.app
            .gql_as(
                &w.alice,
                COMPLETE,
                json!({ "id": first, "status": "PASSED" }),
            )
            .await,
    );
    let body = w
        .app
        .gql_as(
            &w.alice,
            REPORT_RESULTS,
            json!({ "run": run, "results": [item("k", w.alice_cases[1], "FAILED")] }),
        )
        .await;
    assert_eq!(data(&body)["reportResults"]["accepted"], 1, "{body}");
    assert_eq!(
        run_state(&pool, run).await,
        ("failed".to_owned(), true, true)
    );
    let c = assert_exact(&pool, run, "a member's run").await;
    assert_eq!((c.total, c.passed, c.failed), (2, 1, 1));
    assert_eq!(
        crate::helpers::runs::execution_status(&pool, second).await,
        "failed"
    );
}

#[tokio::test]
async fn member_acting_on_anothers_run_or_execution_then_not_found_and_nothing_written() {
    let w = world().await;
    let run = start_as(&w.app, &w.alice, w.alice_suite).await;
    let pool = w.app.db.pool().await;
    let execution = first_attempts(&pool, run).await[&w.alice_cases[0]];
    let before = snapshot(&pool).await;
    let attempts = [
        (START_EXECUTION, json!({ "id": execution })),
        (COMPLETE, json!({ "id": execution, "status": "PASSED" })),
        (
            "mutation($id: UUID!) { retryTestExecution(id: $id) { id } }",
            json!({ "id": execution }),
        ),
        (
            "mutation($id: UUID!) { cancelTestRun(id: $id) { id } }",
            json!({ "id": run }),
        ),
        (
            REPORT_RESULTS,
            json!({ "run": run, "results": [item("k", w.alice_cases[0], "PASSED")] }),
        ),
        (
            ATTACH,
            json!({ "input": { "executionId": execution, "artifact": artifact("LOG", "x") } }),
        ),
    ];
    for (query, vars) in attempts {
        let body = w.app.gql_as(&w.bob, query, vars).await;
        assert_code(&body, "NOT_FOUND");
        assert_eq!(snapshot(&pool).await, before, "{query}");
    }
}

#[tokio::test]
async fn member_starting_a_run_as_someone_else_then_forbidden_and_nothing_written() {
    let w = world().await;
    let pool = w.app.db.pool().await;
    let before = snapshot(&pool).await;
    let body = w
        .app
        .gql_as(
            &w.alice,
            START_RUN,
            json!({ "input": { "suiteId": w.alice_suite, "name": "forged", "triggeredBy": "bob" } }),
        )
        .await;
    assert_code(&body, "FORBIDDEN");
    assert_eq!(snapshot(&pool).await, before);
}
