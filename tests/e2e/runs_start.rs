//! Starting a run of a suite: the run plus one PENDING execution per active case of the suite
//! (drafts, archived and deprecated cases left out), in the suite's order; an unknown suite or
//! one without an active case is an error that writes nothing.

use serde_json::{Value, json};
use uuid::Uuid;

use crate::helpers::catalog::{assert_bad_input, create_configuration, data, uuid};
use crate::helpers::q::{query, query_as, query_scalar};
use crate::helpers::runs::{ADMIN, START_RUN, SeedSpec, assert_code, assert_exact, seed, snapshot};
use crate::helpers::spawn_app;

const RUN_EXECUTIONS: &str = "query($id: UUID!) {
  testRun(id: $id) { executions(first: 100) { totalCount edges { node { id testCaseId status retryAttempt } } } } }";

#[tokio::test]
async fn start_run_when_suite_has_active_cases_then_one_pending_execution_each_in_suite_order() {
    let app = spawn_app().await;
    let pool = app.db.pool().await;
    let seeded = seed(
        &app,
        &SeedSpec {
            cases: 4,
            ..SeedSpec::default()
        },
    )
    .await;
    // the suite's order is the reverse of the cases' creation order, and it also holds a draft
    // and an archived case, placed first
    query(
        "WITH c AS (INSERT INTO test_cases(name, status) VALUES ('a draft', 'draft'), ('an archived', 'archived')
                    RETURNING id)
         INSERT INTO test_suite_test_cases(test_suite_id, test_case_id, order_index) SELECT $1, id, 0 FROM c",
    )
    .bind(seeded.suite)
    .execute(&pool)
    .await
    .expect("inactive members");
    query("UPDATE test_suite_test_cases SET order_index = 10 - order_index WHERE test_suite_id = $1 AND order_index > 0")
        .bind(seeded.suite)
        .execute(&pool)
        .await
        .expect("reordering");
    let body = app
        .gql(
            START_RUN,
            json!({ "input": { "suiteId": seeded.suite, "name": "nightly" } }),
        )
        .await;
    let run = &data(&body)["startTestRun"];
    assert_eq!(run["status"], "PENDING", "{body}");
    assert_eq!(run["totalTests"], 4);
    assert_eq!(
        (
            &run["passedTests"],
            &run["failedTests"],
            &run["skippedTests"]
        ),
        (&json!(0), &json!(0), &json!(0))
    );
    assert_eq!(run["triggeredBy"], ADMIN);
    assert_eq!(run["runConfiguration"], json!({}));
    assert!(run["startedAt"].is_null() && run["completedAt"].is_null());
    let run_id = uuid(&run["id"]);

    let mut expected = seeded.cases.clone();
    expected.reverse();
    let listed = app.gql(RUN_EXECUTIONS, json!({ "id": run_id })).await;
    let connection = &data(&listed)["testRun"]["executions"];
    assert_eq!(connection["totalCount"], 4);
    let cases: Vec<Uuid> = connection["edges"]
        .as_array()
        .expect("edges")
        .iter()
        .map(|e| uuid(&e["node"]["testCaseId"]))
        .collect();
    assert_eq!(cases, expected, "executions in the suite's order");
    for edge in connection["edges"].as_array().expect("edges") {
        assert_eq!(edge["node"]["status"], "PENDING");
        assert_eq!(edge["node"]["retryAttempt"], 0);
    }
    let in_db: Vec<Uuid> = query_scalar(
        "SELECT test_case_id FROM test_executions WHERE test_run_id = $1 ORDER BY created_at, id",
    )
    .bind(run_id)
    .fetch_all(&pool)
    .await
    .expect("executions");
    assert_eq!(in_db, expected);
    assert_exact(&pool, run_id, "the start").await;
}

#[tokio::test]
async fn start_run_when_suite_unknown_then_not_found_and_nothing_written() {
    let app = spawn_app().await;
    let pool = app.db.pool().await;
    let before = snapshot(&pool).await;
    let body = app
        .gql(
            START_RUN,
            json!({ "input": { "suiteId": Uuid::now_v7(), "name": "nightly" } }),
        )
        .await;
    assert_code(&body, "NOT_FOUND");
    assert_eq!(snapshot(&pool).await, before);
}

#[tokio::test]
async fn start_run_when_suite_has_no_active_case_then_bad_user_input_and_nothing_written() {
    let app = spawn_app().await;
    let pool = app.db.pool().await;
    let inactive: Uuid = query_scalar(
        "WITH s AS (INSERT INTO test_suites(name) VALUES ('inactive') RETURNING id),
              c AS (INSERT INTO test_cases(name, status) VALUES ('d', 'draft'), ('a', 'archived'), ('x', 'deprecated')
                    RETURNING id),
              m AS (INSERT INTO test_suite_test_cases(test_suite_id, test_case_id) SELECT s.id, c.id FROM s, c)
         SELECT id FROM s",
    )
    .fetch_one(&pool)
    .await
    .expect("inactive suite");
    let empty: Uuid = query_scalar("INSERT INTO test_suites(name) VALUES ('empty') RETURNING id")
        .fetch_one(&pool)
        .await
        .expect("empty suite");
    let before = snapshot(&pool).await;
    // the answer says why: which statuses the cases have, or that there are none
    for (suite, why) in [
        (
            inactive,
            "(1 archived, 1 deprecated, 1 draft): a case runs once its status is ACTIVE",
        ),
        (
            empty,
            "no test cases to run: add some with addTestCasesToSuite",
        ),
    ] {
        let body = app
            .gql(
                START_RUN,
                json!({ "input": { "suiteId": suite, "name": "nightly" } }),
            )
            .await;
        assert_bad_input(&body, "suiteId");
        let message = body["errors"][0]["message"].as_str().unwrap_or_default();
        assert!(message.contains(why), "{body}");
        assert_eq!(snapshot(&pool).await, before);
    }
}

#[tokio::test]
async fn start_run_with_a_configuration_and_settings_then_the_run_and_its_executions_carry_them() {
    let app = spawn_app().await;
    let pool = app.db.pool().await;
    let seeded = seed(&app, &SeedSpec::default()).await;
    let config =
        create_configuration(&app, json!({ "name": "firefox", "configType": "BROWSER" })).await;
    let body = app
        .gql(
            START_RUN,
            json!({ "input": {
                "suiteId": seeded.suite, "name": "on firefox", "configurationId": config,
                "runConfiguration": { "parallel": 4, "headless": true },
            } }),
        )
        .await;
    let run = &data(&body)["startTestRun"];
    assert_eq!(run["configurationId"], json!(config));
    assert_eq!(
        run["runConfiguration"],
        json!({ "parallel": 4, "headless": true })
    );
    let run_id = uuid(&run["id"]);
    let (stored, configured): (Value, i64) = query_as(
        "SELECT r.run_configuration,
                (SELECT count(*) FROM test_executions e WHERE e.test_run_id = r.id AND e.configuration_id = $2)
         FROM test_runs r WHERE r.id = $1",
    )
    .bind(run_id)
    .bind(config)
    .fetch_one(&pool)
    .await
    .expect("run");
    assert_eq!(stored, json!({ "parallel": 4, "headless": true }));
    assert_eq!(configured, 3, "every execution runs with the configuration");
}
