//! Test suites over GraphQL: create, update, delete, the suite's cases connection, and the
//! suite filters. Membership changes are in `catalog_suite_members`.

use serde_json::{Value, json};
use uuid::Uuid;

use crate::helpers::app::TestApp;
use crate::helpers::catalog::{
    assert_bad_input, assert_code, count, create_case, create_suite, data, node_ids, snapshot,
    suite_order, uuid,
};
use crate::helpers::spawn_app;

const SUITE_FIELDS: &str = "id name description tags configuration isActive createdBy createdAt \
    updatedAt testCases { totalCount edges { position node { id } } }";

fn update_mutation() -> String {
    format!(
        "mutation($id: UUID!, $input: UpdateTestSuiteInput!) {{ updateTestSuite(id: $id, input: $input) {{ {SUITE_FIELDS} }} }}"
    )
}

/// `n` cases named `case 1`.. over GraphQL.
pub(crate) async fn cases(app: &TestApp, n: usize) -> Vec<Uuid> {
    let mut out = Vec::with_capacity(n);
    for i in 1..=n {
        out.push(create_case(app, json!({ "name": format!("case {i}") })).await);
    }
    out
}

/// Member ids in stored order, after checking positions are exactly 1..n.
pub(crate) async fn stored_members(app: &TestApp, suite: Uuid) -> Vec<Uuid> {
    let order = suite_order(&app.db.pool().await, suite).await;
    let positions: Vec<Option<i32>> = order.iter().map(|(_, p)| *p).collect();
    assert_eq!(
        positions,
        (1..=order.len() as i32).map(Some).collect::<Vec<_>>(),
        "positions are not 1..n"
    );
    order.into_iter().map(|(id, _)| id).collect()
}

/// The edges of a returned suite's connection: ids in order, positions 1..n.
pub(crate) fn returned_members(suite: &Value) -> Vec<Uuid> {
    let conn = &suite["testCases"];
    let positions: Vec<i64> = conn["edges"]
        .as_array()
        .expect("edges")
        .iter()
        .map(|e| e["position"].as_i64().expect("position"))
        .collect();
    assert_eq!(positions, (1..=positions.len() as i64).collect::<Vec<_>>());
    assert_eq!(conn["totalCount"], json!(positions.len()));
    node_ids(conn)
}

#[tokio::test]
async fn create_test_suite_with_cases_then_they_are_members_in_the_given_order() {
    let app = spawn_app().await;
    let c = cases(&app, 3).await;
    let body = app
        .gql(
            &format!("mutation($input: CreateTestSuiteInput!) {{ createTestSuite(input: $input) {{ {SUITE_FIELDS} }} }}"),
            json!({ "input": { "name": "smoke", "description": "d", "tags": ["fast"],
                "configuration": { "parallel": 2 }, "createdBy": "ann",
                "testCaseIds": [c[2], c[0], c[1]] } }),
        )
        .await;
    let suite = &data(&body)["createTestSuite"];
    assert_eq!(suite["name"], "smoke");
    assert_eq!(suite["tags"], json!(["fast"]));
    assert_eq!(suite["configuration"], json!({ "parallel": 2 }));
    assert_eq!(suite["isActive"], true);
    assert_eq!(suite["createdBy"], "ann");
    assert_eq!(returned_members(suite), [c[2], c[0], c[1]]);
    assert_eq!(
        stored_members(&app, uuid(&suite["id"])).await,
        [c[2], c[0], c[1]]
    );
}

#[tokio::test]
async fn create_test_suite_with_an_unknown_case_then_bad_user_input_and_no_suite() {
    let app = spawn_app().await;
    let c = cases(&app, 1).await;
    let pool = app.db.pool().await;
    let before = snapshot(&pool).await;
    let body = app
        .gql(
            "mutation($input: CreateTestSuiteInput!) { createTestSuite(input: $input) { id } }",
            json!({ "input": { "name": "smoke", "testCaseIds": [c[0], Uuid::now_v7()] } }),
        )
        .await;
    assert_bad_input(&body, "testCaseIds");
    assert_eq!(snapshot(&pool).await, before);
}

#[tokio::test]
async fn test_suite_when_absent_then_null() {
    let app = spawn_app().await;
    let body = app
        .gql(
            "query($id: UUID!) { testSuite(id: $id) { id } }",
            json!({ "id": Uuid::now_v7() }),
        )
        .await;
    assert_eq!(data(&body)["testSuite"], Value::Null);
}

#[tokio::test]
async fn update_test_suite_then_absent_fields_stay_and_null_clears_nullable_ones() {
    let app = spawn_app().await;
    let id = create_suite(
        &app,
        json!({ "name": "smoke", "description": "d", "tags": ["a"], "configuration": { "k": 1 } }),
    )
    .await;
    let body = app
        .gql(
            &update_mutation(),
            json!({ "id": id, "input": { "isActive": false } }),
        )
        .await;
    let s = data(&body)["updateTestSuite"].clone();
    assert_eq!(s["isActive"], false);
    assert_eq!(s["name"], "smoke");
    assert_eq!(s["description"], "d");
    assert_eq!(s["tags"], json!(["a"]));
    let body = app
        .gql(
            &update_mutation(),
            json!({ "id": id, "input": { "description": null, "tags": null, "configuration": null, "name": "fast" } }),
        )
        .await;
    let s = &data(&body)["updateTestSuite"];
    assert_eq!(s["name"], "fast");
    assert_eq!(s["description"], Value::Null);
    assert_eq!(s["tags"], json!([]));
    assert_eq!(s["configuration"], json!({}));
    assert_eq!(s["isActive"], false);
}

#[tokio::test]
async fn update_test_suite_with_invalid_values_then_bad_user_input_and_no_change() {
    let app = spawn_app().await;
    let id = create_suite(&app, json!({ "name": "smoke" })).await;
    let pool = app.db.pool().await;
    let before = snapshot(&pool).await;
    for (input, field) in [
        (json!({ "name": null }), "name"),
        (json!({ "isActive": null }), "isActive"),
        (json!({ "name": "" }), "name"),
        (json!({ "name": "n".repeat(256) }), "name"),
        (json!({ "configuration": [1, 2] }), "configuration"),
    ] {
        let body = app
            .gql(&update_mutation(), json!({ "id": id, "input": input }))
            .await;
        assert_bad_input(&body, field);
    }
    assert_eq!(snapshot(&pool).await, before);
}

#[tokio::test]
async fn update_or_delete_test_suite_when_absent_then_not_found() {
    let app = spawn_app().await;
    let body = app
        .gql(
            &update_mutation(),
            json!({ "id": Uuid::now_v7(), "input": { "name": "x" } }),
        )
        .await;
    assert_code(&body, "NOT_FOUND");
    let body = app
        .gql(
            "mutation($id: UUID!) { deleteTestSuite(id: $id) }",
            json!({ "id": Uuid::now_v7() }),
        )
        .await;
    assert_code(&body, "NOT_FOUND");
}

#[tokio::test]
async fn delete_test_suite_then_its_memberships_go_and_its_cases_stay() {
    let app = spawn_app().await;
    let c = cases(&app, 2).await;
    let suite = create_suite(&app, json!({ "name": "smoke", "testCaseIds": c })).await;
    let body = app
        .gql(
            "mutation($id: UUID!) { deleteTestSuite(id: $id) }",
            json!({ "id": suite }),
        )
        .await;
    assert_eq!(data(&body)["deleteTestSuite"], json!(suite));
    let pool = app.db.pool().await;
    assert_eq!(count(&pool, "test_suites").await, 0);
    assert_eq!(count(&pool, "test_suite_test_cases").await, 0);
    assert_eq!(count(&pool, "test_cases").await, 2);
}

#[tokio::test]
async fn suite_test_cases_connection_then_in_suite_order_with_positions_and_its_own_pages() {
    let app = spawn_app().await;
    let c = cases(&app, 5).await;
    let order = [c[4], c[2], c[0], c[3], c[1]];
    let suite = create_suite(&app, json!({ "name": "smoke", "testCaseIds": order })).await;
    let query = "query($id: UUID!, $first: Int, $after: String, $last: Int, $before: String) {
      testSuite(id: $id) { testCases(first: $first, after: $after, last: $last, before: $before) {
        totalCount edges { cursor position node { id } }
        pageInfo { hasNextPage hasPreviousPage startCursor endCursor } } } }";
    let body = app.gql(query, json!({ "id": suite, "first": 2 })).await;
    let page = &data(&body)["testSuite"]["testCases"];
    assert_eq!(node_ids(page), order[..2]);
    assert_eq!(page["totalCount"], 5, "totalCount counts the whole suite");
    assert_eq!(page["edges"][1]["position"], 2);
    assert_eq!(page["pageInfo"]["hasNextPage"], true);
    let body = app
        .gql(
            query,
            json!({ "id": suite, "first": 2, "after": page["pageInfo"]["endCursor"] }),
        )
        .await;
    let page = &data(&body)["testSuite"]["testCases"];
    assert_eq!(node_ids(page), order[2..4]);
    assert_eq!(page["edges"][0]["position"], 3);
    let body = app.gql(query, json!({ "id": suite, "last": 2 })).await;
    let page = &data(&body)["testSuite"]["testCases"];
    assert_eq!(node_ids(page), order[3..]);
    assert_eq!(page["pageInfo"]["hasPreviousPage"], true);
    assert_eq!(page["pageInfo"]["hasNextPage"], false);
}

#[tokio::test]
async fn test_suites_filtered_then_only_matching_suites() {
    let app = spawn_app().await;
    let c = cases(&app, 2).await;
    create_suite(
        &app,
        json!({ "name": "Smoke web", "createdBy": "ann", "testCaseIds": [c[0]] }),
    )
    .await;
    create_suite(&app, json!({ "name": "nightly", "createdBy": "bob", "isActive": false, "testCaseIds": [c[0], c[1]] })).await;
    create_suite(
        &app,
        json!({ "name": "100% smoke_api", "createdBy": "ann" }),
    )
    .await;
    let query = "query($filter: TestSuiteFilter) { testSuites(filter: $filter, orderBy: { field: NAME, direction: ASC }) {
        totalCount edges { node { name } } } }";
    for (filter, expected) in [
        (
            json!({ "isActive": true }),
            vec!["100% smoke_api", "Smoke web"],
        ),
        (json!({ "isActive": false }), vec!["nightly"]),
        (
            json!({ "createdBy": "ann" }),
            vec!["100% smoke_api", "Smoke web"],
        ),
        (
            json!({ "nameContains": "SMOKE" }),
            vec!["100% smoke_api", "Smoke web"],
        ),
        (json!({ "nameContains": "%" }), vec!["100% smoke_api"]),
        (json!({ "nameContains": "e_w" }), vec![]),
        (json!({ "nameContains": "_" }), vec!["100% smoke_api"]),
        (json!({ "containsTestCase": c[1] }), vec!["nightly"]),
        (
            json!({ "containsTestCase": c[0], "isActive": true }),
            vec!["Smoke web"],
        ),
        (json!({ "containsTestCase": Uuid::now_v7() }), vec![]),
    ] {
        let body = app.gql(query, json!({ "filter": filter })).await;
        let conn = &data(&body)["testSuites"];
        assert_eq!(
            crate::helpers::catalog::node_strings(conn, "name"),
            expected,
            "filter {filter}"
        );
        assert_eq!(conn["totalCount"], json!(expected.len()), "filter {filter}");
    }
}
