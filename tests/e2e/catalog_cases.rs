//! Test cases over GraphQL: create (with steps, all or nothing), read with their relations,
//! delete. Updates are in `catalog_case_updates`.

use serde_json::{Value, json};
use uuid::Uuid;

use crate::helpers::catalog::{
    assert_bad_input, assert_code, count, create_case, create_case_with_steps,
    create_configuration, create_suite, data, ids, snapshot, uuid,
};
use crate::helpers::spawn_app;

const CASE_FIELDS: &str = "id name description status priority tags metadata author category \
    expectedDurationSeconds isAutomated retryCount configurationId createdAt updatedAt";

fn create_mutation() -> String {
    format!(
        "mutation($input: CreateTestCaseInput!) {{ createTestCase(input: $input) {{ {CASE_FIELDS} \
         steps {{ id orderIndex name stepType timeoutSeconds isOptional continueOnFailure configuration }} }} }}"
    )
}

pub(crate) fn update_mutation() -> String {
    format!(
        "mutation($id: UUID!, $input: UpdateTestCaseInput!) {{ updateTestCase(id: $id, input: $input) {{ {CASE_FIELDS} }} }}"
    )
}

pub(crate) async fn read_case(app: &crate::helpers::app::TestApp, id: Uuid) -> Value {
    let body = app
        .gql(
            &format!("query($id: UUID!) {{ testCase(id: $id) {{ {CASE_FIELDS} }} }}"),
            json!({ "id": id }),
        )
        .await;
    data(&body)["testCase"].clone()
}

#[tokio::test]
async fn create_test_case_with_only_a_name_then_defaults_apply() {
    let app = spawn_app().await;
    let body = app
        .gql(&create_mutation(), json!({ "input": { "name": "login" } }))
        .await;
    let case = &data(&body)["createTestCase"];
    assert_eq!(case["name"], "login");
    assert_eq!(case["status"], "DRAFT");
    assert_eq!(case["priority"], "MEDIUM");
    assert_eq!(case["tags"], json!([]));
    assert_eq!(case["metadata"], json!({}));
    assert_eq!(case["isAutomated"], true);
    assert_eq!(case["retryCount"], 0);
    assert_eq!(case["steps"], json!([]));
    let pool = app.db.pool().await;
    let (status, priority): (String, String) =
        crate::helpers::q::query_as("SELECT status, priority FROM test_cases WHERE id = $1")
            .bind(uuid(&case["id"]))
            .fetch_one(&pool)
            .await
            .expect("stored case");
    assert_eq!((status.as_str(), priority.as_str()), ("draft", "medium"));
}

#[tokio::test]
async fn create_test_case_with_every_field_then_returns_and_stores_them() {
    let app = spawn_app().await;
    let config =
        create_configuration(&app, json!({ "name": "chrome", "configType": "BROWSER" })).await;
    let input = json!({
        "name": "checkout", "description": "pays with a card", "status": "ACTIVE",
        "priority": "CRITICAL", "tags": ["smoke", "pay", "smoke"], "metadata": { "jira": "PAY-1" },
        "author": "ann", "category": "payments", "expectedDurationSeconds": 90,
        "isAutomated": false, "retryCount": 3, "configurationId": config,
    });
    let body = app.gql(&create_mutation(), json!({ "input": input })).await;
    let case = data(&body)["createTestCase"].clone();
    assert_eq!(case["status"], "ACTIVE");
    assert_eq!(case["priority"], "CRITICAL");
    assert_eq!(case["tags"], json!(["smoke", "pay"]), "tags are distinct");
    assert_eq!(case["metadata"], json!({ "jira": "PAY-1" }));
    assert_eq!(case["expectedDurationSeconds"], 90);
    assert_eq!(case["isAutomated"], false);
    assert_eq!(case["retryCount"], 3);
    assert_eq!(case["configurationId"], json!(config));
    let mut stored = read_case(&app, uuid(&case["id"])).await;
    stored["steps"] = json!([]);
    assert_eq!(stored, case);
}

#[tokio::test]
async fn create_test_case_with_steps_then_steps_are_numbered_in_the_given_order() {
    let app = spawn_app().await;
    let input = json!({ "name": "login", "steps": [
        { "name": "open", "stepType": "NAVIGATE", "inputData": "/login" },
        { "name": "type", "stepType": "TYPE", "timeoutSeconds": 5, "isOptional": true },
        { "name": "submit", "stepType": "CLICK", "continueOnFailure": true, "configuration": { "x": 1 } },
    ]});
    let body = app.gql(&create_mutation(), json!({ "input": input })).await;
    let steps = data(&body)["createTestCase"]["steps"].clone();
    let names: Vec<&str> = steps
        .as_array()
        .expect("steps")
        .iter()
        .map(|s| s["name"].as_str().expect("name"))
        .collect();
    assert_eq!(names, ["open", "type", "submit"]);
    assert_eq!(steps[0]["orderIndex"], 1);
    assert_eq!(steps[2]["orderIndex"], 3);
    assert_eq!(steps[0]["timeoutSeconds"], 30, "default timeout");
    assert_eq!(steps[1]["timeoutSeconds"], 5);
    assert_eq!(steps[1]["isOptional"], true);
    assert_eq!(steps[2]["continueOnFailure"], true);
    assert_eq!(steps[2]["configuration"], json!({ "x": 1 }));
    let pool = app.db.pool().await;
    let stored =
        crate::helpers::catalog::step_order(&pool, uuid(&body["data"]["createTestCase"]["id"]))
            .await;
    assert_eq!(
        stored.iter().map(|(id, _)| *id).collect::<Vec<_>>(),
        ids(&steps)
    );
}

#[tokio::test]
async fn create_test_case_when_a_later_step_is_invalid_then_nothing_is_written() {
    let app = spawn_app().await;
    let pool = app.db.pool().await;
    let before = snapshot(&pool).await;
    for bad_step in [
        json!({ "name": "wait", "stepType": "WAIT", "timeoutSeconds": 0 }),
        json!({ "name": "x".repeat(256), "stepType": "WAIT" }),
        json!({ "name": " ", "stepType": "WAIT" }),
        json!({ "name": "wait", "stepType": "WAIT", "configuration": [1] }),
        json!({ "name": "wait", "stepType": "WAIT", "selector": "s".repeat(501) }),
    ] {
        let input = json!({ "name": "login", "steps": [
            { "name": "open", "stepType": "NAVIGATE" }, bad_step,
        ]});
        let body = app.gql(&create_mutation(), json!({ "input": input })).await;
        assert_code(&body, "BAD_USER_INPUT");
        let field = body["errors"][0]["extensions"]["field"]
            .as_str()
            .unwrap_or("");
        assert!(
            field.starts_with("steps.1."),
            "field names the step: {body}"
        );
    }
    assert_eq!(snapshot(&pool).await, before, "something was written");
}

#[tokio::test]
async fn create_test_case_when_the_database_rejects_it_then_no_step_is_written() {
    let app = spawn_app().await;
    let pool = app.db.pool().await;
    let input = json!({ "name": "login", "retryCount": 11, "steps": [
        { "name": "open", "stepType": "NAVIGATE" },
    ]});
    let body = app.gql(&create_mutation(), json!({ "input": input })).await;
    assert_bad_input(&body, "retryCount");
    assert_eq!(count(&pool, "test_cases").await, 0);
    assert_eq!(count(&pool, "test_steps").await, 0);
    assert_eq!(count(&pool, "audit_log").await, 0);
}

#[tokio::test]
async fn test_case_when_absent_then_null() {
    let app = spawn_app().await;
    let body = app
        .gql(
            "query($id: UUID!) { testCase(id: $id) { id } }",
            json!({ "id": Uuid::now_v7() }),
        )
        .await;
    assert_eq!(data(&body)["testCase"], Value::Null);
}

#[tokio::test]
async fn test_case_relations_then_steps_by_index_suites_by_name_and_configuration() {
    let app = spawn_app().await;
    let pool = app.db.pool().await;
    let config =
        create_configuration(&app, json!({ "name": "chrome", "configType": "BROWSER" })).await;
    let case = create_case(&app, json!({ "name": "login", "configurationId": config })).await;
    // steps stored out of insertion order
    crate::helpers::q::query(
        "INSERT INTO test_steps(test_case_id, order_index, name, step_type) \
         SELECT $1, i, 'step ' || i, 'click' FROM unnest(ARRAY[3, 1, 2]) AS i",
    )
    .bind(case)
    .execute(&pool)
    .await
    .expect("steps");
    let zeta = create_suite(&app, json!({ "name": "zeta", "testCaseIds": [case] })).await;
    let alpha = create_suite(&app, json!({ "name": "alpha", "testCaseIds": [case] })).await;
    create_suite(&app, json!({ "name": "unrelated" })).await;
    let body = app
        .gql(
            "query($id: UUID!) { testCase(id: $id) { id configuration { id name configType }
               steps { orderIndex name testCase { id } } suites { id name } } }",
            json!({ "id": case }),
        )
        .await;
    let got = &data(&body)["testCase"];
    assert_eq!(got["configuration"]["id"], json!(config));
    assert_eq!(got["configuration"]["configType"], "BROWSER");
    let orders: Vec<i64> = got["steps"]
        .as_array()
        .expect("steps")
        .iter()
        .map(|s| s["orderIndex"].as_i64().expect("index"))
        .collect();
    assert_eq!(orders, [1, 2, 3]);
    assert_eq!(got["steps"][0]["name"], "step 1");
    assert_eq!(got["steps"][1]["testCase"]["id"], json!(case));
    assert_eq!(ids(&got["suites"]), [alpha, zeta]);
}

#[tokio::test]
async fn test_case_without_configuration_then_configuration_is_null() {
    let app = spawn_app().await;
    let case = create_case(&app, json!({ "name": "login" })).await;
    let body = app
        .gql(
            "query($id: UUID!) { testCase(id: $id) { configuration { id } suites { id } steps { id } } }",
            json!({ "id": case }),
        )
        .await;
    let got = &data(&body)["testCase"];
    assert_eq!(got["configuration"], Value::Null);
    assert_eq!(got["suites"], json!([]));
    assert_eq!(got["steps"], json!([]));
}

#[tokio::test]
async fn delete_test_case_then_its_steps_and_memberships_go_and_its_id_is_returned() {
    let app = spawn_app().await;
    let (case, _) = create_case_with_steps(&app, "login", &["a", "b"]).await;
    let keep = create_case(&app, json!({ "name": "keep" })).await;
    let suite = create_suite(
        &app,
        json!({ "name": "smoke", "testCaseIds": [case, keep] }),
    )
    .await;
    let body = app
        .gql(
            "mutation($id: UUID!) { deleteTestCase(id: $id) }",
            json!({ "id": case }),
        )
        .await;
    assert_eq!(data(&body)["deleteTestCase"], json!(case));
    let pool = app.db.pool().await;
    assert_eq!(count(&pool, "test_cases").await, 1);
    assert_eq!(count(&pool, "test_steps").await, 0);
    let members = crate::helpers::catalog::suite_order(&pool, suite).await;
    assert_eq!(
        members.iter().map(|(id, _)| *id).collect::<Vec<_>>(),
        [keep]
    );
}

#[tokio::test]
async fn delete_test_case_when_absent_then_not_found() {
    let app = spawn_app().await;
    create_case(&app, json!({ "name": "login" })).await;
    let body = app
        .gql(
            "mutation($id: UUID!) { deleteTestCase(id: $id) }",
            json!({ "id": Uuid::now_v7() }),
        )
        .await;
    assert_code(&body, "NOT_FOUND");
    assert_eq!(count(&app.db.pool().await, "test_cases").await, 1);
}
