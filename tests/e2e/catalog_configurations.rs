//! Configurations over GraphQL: create, the active name-and-type uniqueness, update, delete,
//! and the configuration filters.

use serde_json::{Value, json};
use uuid::Uuid;

use crate::helpers::catalog::{
    assert_bad_input, assert_code, assert_error, count, create_case, create_configuration, data,
    node_strings, snapshot,
};
use crate::helpers::spawn_app;

const FIELDS: &str =
    "id name description configType configurationData isActive createdBy createdAt updatedAt";

fn create_mutation() -> String {
    format!(
        "mutation($input: CreateConfigurationInput!) {{ createConfiguration(input: $input) {{ {FIELDS} }} }}"
    )
}

fn update_mutation() -> String {
    format!(
        "mutation($id: UUID!, $input: UpdateConfigurationInput!) {{ updateConfiguration(id: $id, input: $input) {{ {FIELDS} }} }}"
    )
}

#[tokio::test]
async fn create_configuration_then_returns_and_stores_it() {
    let app = spawn_app().await;
    let body = app
        .gql(
            &create_mutation(),
            json!({ "input": { "name": "chrome", "configType": "BROWSER", "description": "d",
                "configurationData": { "headless": true }, "createdBy": "ann" } }),
        )
        .await;
    let c = data(&body)["createConfiguration"].clone();
    assert_eq!(c["configType"], "BROWSER");
    assert_eq!(c["configurationData"], json!({ "headless": true }));
    assert_eq!(c["isActive"], true);
    assert_eq!(c["createdBy"], "ann");
    let read = app
        .gql(
            &format!("query($id: UUID!) {{ configuration(id: $id) {{ {FIELDS} }} }}"),
            json!({ "id": c["id"] }),
        )
        .await;
    assert_eq!(data(&read)["configuration"], c);
    let pool = app.db.pool().await;
    let kind: String = crate::helpers::q::query_scalar("SELECT config_type FROM configurations")
        .fetch_one(&pool)
        .await
        .expect("stored");
    assert_eq!(kind, "browser");
}

#[tokio::test]
async fn create_configuration_without_data_then_data_is_an_empty_object() {
    let app = spawn_app().await;
    let body = app
        .gql(
            &create_mutation(),
            json!({ "input": { "name": "ci", "configType": "EXECUTION" } }),
        )
        .await;
    assert_eq!(
        data(&body)["createConfiguration"]["configurationData"],
        json!({})
    );
}

#[tokio::test]
async fn configuration_when_absent_then_null() {
    let app = spawn_app().await;
    let body = app
        .gql(
            "query($id: UUID!) { configuration(id: $id) { id } }",
            json!({ "id": Uuid::now_v7() }),
        )
        .await;
    assert_eq!(data(&body)["configuration"], Value::Null);
}

#[tokio::test]
async fn create_configuration_when_an_active_one_has_the_name_and_type_then_conflict() {
    let app = spawn_app().await;
    create_configuration(&app, json!({ "name": "chrome", "configType": "BROWSER" })).await;
    let pool = app.db.pool().await;
    let before = snapshot(&pool).await;
    let body = app
        .gql(
            &create_mutation(),
            json!({ "input": { "name": "chrome", "configType": "BROWSER" } }),
        )
        .await;
    assert_error(&body, "CONFLICT", "name");
    assert_eq!(snapshot(&pool).await, before);
}

#[tokio::test]
async fn create_configuration_with_the_name_when_inactive_or_another_type_then_allowed() {
    let app = spawn_app().await;
    create_configuration(&app, json!({ "name": "chrome", "configType": "BROWSER" })).await;
    create_configuration(
        &app,
        json!({ "name": "chrome", "configType": "BROWSER", "isActive": false }),
    )
    .await;
    create_configuration(
        &app,
        json!({ "name": "chrome", "configType": "BROWSER", "isActive": false }),
    )
    .await;
    create_configuration(
        &app,
        json!({ "name": "chrome", "configType": "ENVIRONMENT" }),
    )
    .await;
    assert_eq!(count(&app.db.pool().await, "configurations").await, 4);
}

#[tokio::test]
async fn update_configuration_when_it_would_duplicate_an_active_one_then_conflict() {
    let app = spawn_app().await;
    create_configuration(&app, json!({ "name": "chrome", "configType": "BROWSER" })).await;
    let inactive = create_configuration(
        &app,
        json!({ "name": "chrome", "configType": "BROWSER", "isActive": false }),
    )
    .await;
    let other =
        create_configuration(&app, json!({ "name": "firefox", "configType": "BROWSER" })).await;
    let pool = app.db.pool().await;
    let before = snapshot(&pool).await;
    for (id, input) in [
        (inactive, json!({ "isActive": true })),
        (other, json!({ "name": "chrome" })),
    ] {
        let body = app
            .gql(&update_mutation(), json!({ "id": id, "input": input }))
            .await;
        assert_error(&body, "CONFLICT", "name");
    }
    assert_eq!(snapshot(&pool).await, before);
}

#[tokio::test]
async fn update_configuration_then_absent_fields_stay_and_null_clears_the_description() {
    let app = spawn_app().await;
    let id = create_configuration(
        &app,
        json!({ "name": "chrome", "configType": "BROWSER", "description": "d",
            "configurationData": { "v": 1 } }),
    )
    .await;
    let body = app
        .gql(
            &update_mutation(),
            json!({ "id": id, "input": { "configType": "ENVIRONMENT", "description": null } }),
        )
        .await;
    let c = &data(&body)["updateConfiguration"];
    assert_eq!(c["configType"], "ENVIRONMENT");
    assert_eq!(c["description"], Value::Null);
    assert_eq!(c["name"], "chrome");
    assert_eq!(c["configurationData"], json!({ "v": 1 }));
    assert_eq!(c["isActive"], true);
    let body = app
        .gql(
            &update_mutation(),
            json!({ "id": id, "input": { "configurationData": { "v": 2 }, "isActive": false } }),
        )
        .await;
    let c = &data(&body)["updateConfiguration"];
    assert_eq!(c["configurationData"], json!({ "v": 2 }));
    assert_eq!(c["isActive"], false);
}

#[tokio::test]
async fn update_configuration_with_invalid_values_then_bad_user_input_and_no_change() {
    let app = spawn_app().await;
    let id = create_configuration(&app, json!({ "name": "chrome", "configType": "BROWSER" })).await;
    let pool = app.db.pool().await;
    let before = snapshot(&pool).await;
    for (input, field) in [
        (json!({ "name": null }), "name"),
        (json!({ "configType": null }), "configType"),
        (json!({ "configurationData": null }), "configurationData"),
        (json!({ "isActive": null }), "isActive"),
        (json!({ "configurationData": "on" }), "configurationData"),
        (json!({ "name": "  " }), "name"),
    ] {
        let body = app
            .gql(&update_mutation(), json!({ "id": id, "input": input }))
            .await;
        assert_bad_input(&body, field);
    }
    assert_eq!(snapshot(&pool).await, before);
}

#[tokio::test]
async fn update_or_delete_configuration_when_absent_then_not_found() {
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
            "mutation($id: UUID!) { deleteConfiguration(id: $id) }",
            json!({ "id": Uuid::now_v7() }),
        )
        .await;
    assert_code(&body, "NOT_FOUND");
}

#[tokio::test]
async fn delete_configuration_then_cases_using_it_keep_none() {
    let app = spawn_app().await;
    let config =
        create_configuration(&app, json!({ "name": "chrome", "configType": "BROWSER" })).await;
    let case = create_case(&app, json!({ "name": "login", "configurationId": config })).await;
    let body = app
        .gql(
            "mutation($id: UUID!) { deleteConfiguration(id: $id) }",
            json!({ "id": config }),
        )
        .await;
    assert_eq!(data(&body)["deleteConfiguration"], json!(config));
    let body = app
        .gql(
            "query($id: UUID!) { testCase(id: $id) { configurationId configuration { id } } }",
            json!({ "id": case }),
        )
        .await;
    assert_eq!(data(&body)["testCase"]["configurationId"], Value::Null);
    assert_eq!(count(&app.db.pool().await, "configurations").await, 0);
}

#[tokio::test]
async fn configurations_filtered_then_only_matching_ones() {
    let app = spawn_app().await;
    let pool = app.db.pool().await;
    crate::helpers::q::query(
        "INSERT INTO configurations(name, config_type, is_active) VALUES
         ('Chrome', 'browser', true), ('firefox', 'browser', false), ('staging', 'environment', true),
         ('slack', 'notification', true), ('jira_sync', 'integration', false)",
    )
    .execute(&pool)
    .await
    .expect("seeding configurations");
    let query = "query($filter: ConfigurationFilter) {
      configurations(filter: $filter, orderBy: { field: NAME, direction: ASC }) {
        totalCount edges { node { name } } } }";
    for (filter, expected) in [
        (
            json!({ "configType": ["BROWSER"] }),
            vec!["Chrome", "firefox"],
        ),
        (
            json!({ "configType": ["ENVIRONMENT", "INTEGRATION"] }),
            vec!["jira_sync", "staging"],
        ),
        (json!({ "configType": [] }), vec![]),
        (json!({ "isActive": false }), vec!["firefox", "jira_sync"]),
        (json!({ "nameContains": "CHROME" }), vec!["Chrome"]),
        (json!({ "nameContains": "a_s" }), vec!["jira_sync"]),
        (json!({ "nameContains": "_" }), vec!["jira_sync"]),
        (
            json!({ "configType": ["BROWSER"], "isActive": true }),
            vec!["Chrome"],
        ),
    ] {
        let body = app.gql(query, json!({ "filter": filter })).await;
        let conn = &data(&body)["configurations"];
        assert_eq!(node_strings(conn, "name"), expected, "filter {filter}");
        assert_eq!(conn["totalCount"], json!(expected.len()), "filter {filter}");
    }
}
