//! Listing test cases: every filter and every ordering. Search is in `catalog_search`.

use serde_json::{Value, json};

use crate::helpers::app::TestApp;
use crate::helpers::catalog::{assert_bad_input, data, node_strings};
use crate::helpers::spawn_app;

pub(crate) const LIST: &str =
    "query($filter: TestCaseFilter, $orderBy: TestCaseOrder, $first: Int) {
  testCases(filter: $filter, orderBy: $orderBy, first: $first) {
    totalCount edges { cursor snippet rank node { id name priority } }
    pageInfo { hasNextPage hasPreviousPage }
  }
}";

/// Five cases differing in every filtered attribute, in one statement.
async fn seed_attributes(app: &TestApp) {
    let pool = app.db.pool().await;
    crate::helpers::q::query(
        "INSERT INTO test_cases(name, status, priority, tags, metadata, author, category, is_automated, created_at) VALUES
         ('a', 'draft',      'low',      '[\"smoke\", \"ui\"]',  '{\"team\": \"web\", \"level\": 1}', 'ann', 'auth', true,  '2024-01-01T00:00:00Z'),
         ('b', 'active',     'high',     '[\"smoke\"]',          '{\"team\": \"api\"}',               'bob', 'auth', false, '2024-02-01T00:00:00Z'),
         ('c', 'archived',   'critical', '[\"ui\"]',             '{\"team\": \"web\", \"level\": 2}', 'ann', 'pay',  true,  '2024-03-01T00:00:00Z'),
         ('d', 'deprecated', 'medium',   '[]',                   '{}',                                'cid', NULL,   false, '2024-04-01T00:00:00Z'),
         ('e', 'active',     'critical', '[\"api\", \"smoke\"]', '{\"team\": \"web\"}',               'bob', 'pay',  true,  '2024-05-01T00:00:00Z')",
    )
    .execute(&pool)
    .await
    .expect("seeding cases");
}

/// Names of the cases matching `filter`, by name, after checking `totalCount` agrees.
async fn names(app: &TestApp, filter: Value) -> Vec<String> {
    let body = app
        .gql(
            LIST,
            json!({ "filter": filter, "orderBy": { "field": "NAME", "direction": "ASC" } }),
        )
        .await;
    let conn = &data(&body)["testCases"];
    let names = node_strings(conn, "name");
    assert_eq!(conn["totalCount"], json!(names.len()), "{body}");
    names
}

async fn check_filters(app: &TestApp, table: &[(Value, &[&str])]) {
    for (filter, expected) in table {
        assert_eq!(
            names(app, filter.clone()).await,
            *expected,
            "filter {filter}"
        );
    }
}

#[tokio::test]
async fn test_cases_filtered_by_status_or_priority_then_any_of_the_values_match() {
    let app = spawn_app().await;
    seed_attributes(&app).await;
    check_filters(
        &app,
        &[
            (json!({ "status": ["ACTIVE"] }), &["b", "e"]),
            (json!({ "status": ["DRAFT", "ARCHIVED"] }), &["a", "c"]),
            (json!({ "status": [] }), &[]),
            (json!({ "priority": ["CRITICAL"] }), &["c", "e"]),
            (json!({ "priority": ["LOW", "MEDIUM"] }), &["a", "d"]),
        ],
    )
    .await;
}

#[tokio::test]
async fn test_cases_filtered_by_category_author_or_automation_then_equal_values_match() {
    let app = spawn_app().await;
    seed_attributes(&app).await;
    check_filters(
        &app,
        &[
            (json!({ "category": "auth" }), &["a", "b"]),
            (json!({ "category": "nope" }), &[]),
            (json!({ "author": "ann" }), &["a", "c"]),
            (json!({ "isAutomated": false }), &["b", "d"]),
            (json!({ "isAutomated": true }), &["a", "c", "e"]),
        ],
    )
    .await;
}

#[tokio::test]
async fn test_cases_filtered_by_tags_then_all_or_any_must_be_present() {
    let app = spawn_app().await;
    seed_attributes(&app).await;
    check_filters(
        &app,
        &[
            (json!({ "tagsAll": ["smoke"] }), &["a", "b", "e"]),
            (json!({ "tagsAll": ["smoke", "ui"] }), &["a"]),
            (json!({ "tagsAny": ["ui", "api"] }), &["a", "c", "e"]),
            (json!({ "tagsAny": ["none"] }), &[]),
            (json!({ "tagsAll": [] }), &["a", "b", "c", "d", "e"]),
        ],
    )
    .await;
}

#[tokio::test]
async fn test_cases_filtered_by_metadata_then_containment_is_used() {
    let app = spawn_app().await;
    seed_attributes(&app).await;
    check_filters(
        &app,
        &[
            (
                json!({ "metadataContains": { "team": "web" } }),
                &["a", "c", "e"],
            ),
            (
                json!({ "metadataContains": { "team": "web", "level": 2 } }),
                &["c"],
            ),
            (
                json!({ "metadataContains": {} }),
                &["a", "b", "c", "d", "e"],
            ),
        ],
    )
    .await;
}

#[tokio::test]
async fn test_cases_filtered_by_metadata_that_is_not_an_object_then_bad_user_input() {
    let app = spawn_app().await;
    let body = app
        .gql(LIST, json!({ "filter": { "metadataContains": ["team"] } }))
        .await;
    assert_bad_input(&body, "filter.metadataContains");
}

#[tokio::test]
async fn test_cases_filtered_by_creation_time_then_after_is_inclusive_and_before_exclusive() {
    let app = spawn_app().await;
    seed_attributes(&app).await;
    check_filters(
        &app,
        &[
            (json!({ "createdAfter": "2024-03-01T00:00:00Z" }), &["c", "d", "e"]),
            (json!({ "createdBefore": "2024-03-01T00:00:00Z" }), &["a", "b"]),
            (
                json!({ "createdAfter": "2024-02-01T00:00:00+00:00", "createdBefore": "2024-04-01T00:00:00Z" }),
                &["b", "c"],
            ),
            (json!({ "createdAfter": "2024-02-29T22:00:00-02:00" }), &["c", "d", "e"]),
        ],
    )
    .await;
}

#[tokio::test]
async fn test_cases_with_several_filters_then_all_must_hold() {
    let app = spawn_app().await;
    seed_attributes(&app).await;
    check_filters(
        &app,
        &[
            (
                json!({ "status": ["ACTIVE", "ARCHIVED"], "tagsAny": ["smoke"], "author": "bob" }),
                &["b", "e"],
            ),
            (
                json!({ "priority": ["CRITICAL"], "category": "pay", "isAutomated": true,
                        "metadataContains": { "level": 2 } }),
                &["c"],
            ),
        ],
    )
    .await;
}

#[tokio::test]
async fn order_by_priority_then_severity_order_not_alphabetical() {
    let app = spawn_app().await;
    seed_attributes(&app).await;
    let priorities = |body: &Value| node_strings(&data(body)["testCases"], "priority");
    let desc = app
        .gql(
            LIST,
            json!({ "orderBy": { "field": "PRIORITY", "direction": "DESC" } }),
        )
        .await;
    assert_eq!(
        priorities(&desc),
        ["CRITICAL", "CRITICAL", "HIGH", "MEDIUM", "LOW"]
    );
    let asc = app
        .gql(
            LIST,
            json!({ "orderBy": { "field": "PRIORITY", "direction": "ASC" } }),
        )
        .await;
    assert_eq!(
        priorities(&asc),
        ["LOW", "MEDIUM", "HIGH", "CRITICAL", "CRITICAL"]
    );
}

#[tokio::test]
async fn order_by_name_then_ascending_or_descending() {
    let app = spawn_app().await;
    seed_attributes(&app).await;
    let body = app
        .gql(
            LIST,
            json!({ "orderBy": { "field": "NAME", "direction": "DESC" } }),
        )
        .await;
    assert_eq!(
        node_strings(&data(&body)["testCases"], "name"),
        ["e", "d", "c", "b", "a"]
    );
    let body = app
        .gql(LIST, json!({ "orderBy": { "field": "NAME" } }))
        .await;
    assert_eq!(
        node_strings(&data(&body)["testCases"], "name"),
        ["e", "d", "c", "b", "a"],
        "descending by default"
    );
}

#[tokio::test]
async fn order_by_default_then_newest_first_and_created_at_ascending_reverses_it() {
    let app = spawn_app().await;
    seed_attributes(&app).await;
    let body = app.gql(LIST, json!({})).await;
    assert_eq!(
        node_strings(&data(&body)["testCases"], "name"),
        ["e", "d", "c", "b", "a"]
    );
    let body = app
        .gql(
            LIST,
            json!({ "orderBy": { "field": "CREATED_AT", "direction": "ASC" } }),
        )
        .await;
    assert_eq!(
        node_strings(&data(&body)["testCases"], "name"),
        ["a", "b", "c", "d", "e"]
    );
}

#[tokio::test]
async fn order_by_updated_at_then_the_last_changed_comes_first() {
    let app = spawn_app().await;
    seed_attributes(&app).await;
    let pool = app.db.pool().await;
    // the seed shares one updated_at; "c" changes later
    crate::helpers::q::query("UPDATE test_cases SET description = 'latest' WHERE name = 'c'")
        .execute(&pool)
        .await
        .expect("touch c");
    let body = app
        .gql(
            LIST,
            json!({ "orderBy": { "field": "UPDATED_AT", "direction": "DESC" } }),
        )
        .await;
    assert_eq!(node_strings(&data(&body)["testCases"], "name")[0], "c");
    let body = app
        .gql(
            LIST,
            json!({ "orderBy": { "field": "UPDATED_AT", "direction": "ASC" } }),
        )
        .await;
    assert_eq!(node_strings(&data(&body)["testCases"], "name")[4], "c");
}
