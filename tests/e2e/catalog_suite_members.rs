//! A suite's ordered membership over GraphQL: add at a position, remove closing the gaps,
//! reorder; every refusal leaves the suite as it was.

use serde_json::json;
use uuid::Uuid;

use crate::catalog_suites::{cases, returned_members, stored_members};
use crate::helpers::catalog::{
    assert_bad_input, assert_code, assert_error, count, create_suite, data, snapshot,
};
use crate::helpers::spawn_app;

const ADD: &str = "mutation($suite: UUID!, $ids: [UUID!]!, $position: Int) {
  addTestCasesToSuite(suiteId: $suite, testCaseIds: $ids, position: $position) {
    id testCases(first: 100) { totalCount edges { position node { id } } }
  }
}";

const REMOVE: &str = "mutation($suite: UUID!, $ids: [UUID!]!) {
  removeTestCasesFromSuite(suiteId: $suite, testCaseIds: $ids) {
    id testCases(first: 100) { totalCount edges { position node { id } } }
  }
}";

const REORDER: &str = "mutation($suite: UUID!, $ids: [UUID!]!) {
  reorderSuiteTestCases(suiteId: $suite, testCaseIds: $ids) {
    id testCases(first: 100) { totalCount edges { position node { id } } }
  }
}";

#[tokio::test]
async fn add_test_cases_to_suite_without_a_position_then_they_are_appended_in_order() {
    let app = spawn_app().await;
    let c = cases(&app, 4).await;
    let suite = create_suite(&app, json!({ "name": "smoke", "testCaseIds": [c[0]] })).await;
    let body = app
        .gql(ADD, json!({ "suite": suite, "ids": [c[3], c[1], c[2]] }))
        .await;
    let returned = returned_members(&data(&body)["addTestCasesToSuite"]);
    assert_eq!(returned, [c[0], c[3], c[1], c[2]]);
    assert_eq!(stored_members(&app, suite).await, returned);
}

#[tokio::test]
async fn add_test_cases_to_suite_at_a_position_then_they_are_inserted_there() {
    let app = spawn_app().await;
    let c = cases(&app, 6).await;
    let suite = create_suite(
        &app,
        json!({ "name": "smoke", "testCaseIds": [c[0], c[1], c[2]] }),
    )
    .await;
    let body = app
        .gql(
            ADD,
            json!({ "suite": suite, "ids": [c[3], c[4]], "position": 2 }),
        )
        .await;
    let expected = [c[0], c[3], c[4], c[1], c[2]];
    assert_eq!(
        returned_members(&data(&body)["addTestCasesToSuite"]),
        expected
    );
    let body = app
        .gql(ADD, json!({ "suite": suite, "ids": [c[5]], "position": 1 }))
        .await;
    data(&body);
    let expected = [c[5], c[0], c[3], c[4], c[1], c[2]];
    assert_eq!(stored_members(&app, suite).await, expected);
}

#[tokio::test]
async fn add_test_cases_to_suite_when_invalid_then_the_error_code_and_nothing_changes() {
    let app = spawn_app().await;
    let c = cases(&app, 3).await;
    let suite = create_suite(&app, json!({ "name": "smoke", "testCaseIds": [c[0]] })).await;
    let pool = app.db.pool().await;
    let before = snapshot(&pool).await;
    for (vars, code, field) in [
        (
            json!({ "ids": [c[1], Uuid::now_v7()] }),
            "BAD_USER_INPUT",
            "testCaseIds",
        ),
        (json!({ "ids": [c[1], c[0]] }), "CONFLICT", "testCaseIds"),
        (
            json!({ "ids": [c[1], c[1]] }),
            "BAD_USER_INPUT",
            "testCaseIds",
        ),
        (json!({ "ids": [] }), "BAD_USER_INPUT", "testCaseIds"),
        (
            json!({ "ids": [c[1]], "position": 0 }),
            "BAD_USER_INPUT",
            "position",
        ),
        (
            json!({ "ids": [c[1]], "position": 3 }),
            "BAD_USER_INPUT",
            "position",
        ),
    ] {
        let mut vars = vars;
        vars["suite"] = json!(suite);
        let body = app.gql(ADD, vars).await;
        assert_error(&body, code, field);
    }
    assert_eq!(snapshot(&pool).await, before);
}

#[tokio::test]
async fn add_test_cases_to_suite_when_the_suite_is_absent_then_not_found() {
    let app = spawn_app().await;
    let c = cases(&app, 1).await;
    let body = app
        .gql(ADD, json!({ "suite": Uuid::now_v7(), "ids": [c[0]] }))
        .await;
    assert_code(&body, "NOT_FOUND");
}

#[tokio::test]
async fn remove_test_cases_from_suite_then_the_gaps_close() {
    let app = spawn_app().await;
    let c = cases(&app, 5).await;
    let suite = create_suite(&app, json!({ "name": "smoke", "testCaseIds": c })).await;
    let body = app
        .gql(REMOVE, json!({ "suite": suite, "ids": [c[3], c[0]] }))
        .await;
    let expected = [c[1], c[2], c[4]];
    assert_eq!(
        returned_members(&data(&body)["removeTestCasesFromSuite"]),
        expected
    );
    assert_eq!(stored_members(&app, suite).await, expected);
    assert_eq!(
        count(&app.db.pool().await, "test_cases").await,
        5,
        "cases stay"
    );
}

#[tokio::test]
async fn remove_test_cases_from_suite_when_one_is_not_a_member_then_bad_user_input() {
    let app = spawn_app().await;
    let c = cases(&app, 3).await;
    let suite = create_suite(
        &app,
        json!({ "name": "smoke", "testCaseIds": [c[0], c[1]] }),
    )
    .await;
    let pool = app.db.pool().await;
    let before = snapshot(&pool).await;
    for ids in [
        vec![c[0], c[2]],
        vec![Uuid::now_v7()],
        vec![c[0], c[0]],
        vec![],
    ] {
        let body = app.gql(REMOVE, json!({ "suite": suite, "ids": ids })).await;
        assert_bad_input(&body, "testCaseIds");
    }
    assert_eq!(snapshot(&pool).await, before);
}

#[tokio::test]
async fn reorder_suite_test_cases_then_the_new_order_is_stored() {
    let app = spawn_app().await;
    let c = cases(&app, 4).await;
    let suite = create_suite(&app, json!({ "name": "smoke", "testCaseIds": c })).await;
    let order = [c[3], c[1], c[0], c[2]];
    let body = app
        .gql(REORDER, json!({ "suite": suite, "ids": order }))
        .await;
    assert_eq!(
        returned_members(&data(&body)["reorderSuiteTestCases"]),
        order
    );
    assert_eq!(stored_members(&app, suite).await, order);
}

#[tokio::test]
async fn reorder_suite_test_cases_when_not_exactly_the_members_then_bad_user_input() {
    let app = spawn_app().await;
    let c = cases(&app, 4).await;
    let suite = create_suite(
        &app,
        json!({ "name": "smoke", "testCaseIds": [c[0], c[1], c[2]] }),
    )
    .await;
    let pool = app.db.pool().await;
    let before = snapshot(&pool).await;
    for (what, ids) in [
        ("missing", vec![c[2], c[1]]),
        ("extra unknown", vec![c[2], c[1], c[0], Uuid::now_v7()]),
        ("non-member case", vec![c[2], c[1], c[3]]),
        ("duplicate", vec![c[2], c[1], c[0], c[0]]),
        ("duplicate replacing one", vec![c[2], c[1], c[1]]),
        ("empty", vec![]),
    ] {
        let body = app
            .gql(REORDER, json!({ "suite": suite, "ids": ids }))
            .await;
        assert_eq!(
            body["errors"][0]["extensions"]["code"], "BAD_USER_INPUT",
            "{what}: {body}"
        );
        assert_bad_input(&body, "testCaseIds");
    }
    assert_eq!(snapshot(&pool).await, before);
}
