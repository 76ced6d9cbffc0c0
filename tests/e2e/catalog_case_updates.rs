//! Updating test cases over GraphQL: absent fields stay, `null` clears a nullable field and is
//! refused for a required one, status changes, name conflicts, `updatedAt`.

use serde_json::{Value, json};
use uuid::Uuid;

use crate::catalog_cases::{read_case, update_mutation};
use crate::helpers::catalog::{
    assert_bad_input, assert_code, assert_error, create_case, create_configuration, data, snapshot,
};
use crate::helpers::spawn_app;

#[tokio::test]
async fn update_test_case_when_fields_are_absent_then_they_are_untouched() {
    let app = spawn_app().await;
    let input = json!({ "name": "login", "description": "d", "priority": "HIGH", "tags": ["a"],
        "metadata": { "k": 1 }, "author": "ann", "category": "auth", "expectedDurationSeconds": 5,
        "retryCount": 2 });
    let id = create_case(&app, input).await;
    let before = read_case(&app, id).await;
    let body = app
        .gql(
            &update_mutation(),
            json!({ "id": id, "input": { "retryCount": 4 } }),
        )
        .await;
    let after = data(&body)["updateTestCase"].clone();
    assert_eq!(after["retryCount"], 4);
    for field in [
        "name",
        "description",
        "status",
        "priority",
        "tags",
        "metadata",
        "author",
        "category",
        "expectedDurationSeconds",
        "isAutomated",
        "configurationId",
        "createdAt",
    ] {
        assert_eq!(after[field], before[field], "{field} changed");
    }
    assert_eq!(
        read_case(&app, id).await,
        after,
        "returned object is what is stored"
    );
}

#[tokio::test]
async fn update_test_case_with_an_empty_input_then_returns_it_unchanged() {
    let app = spawn_app().await;
    let id = create_case(&app, json!({ "name": "login" })).await;
    let before = read_case(&app, id).await;
    let body = app
        .gql(&update_mutation(), json!({ "id": id, "input": {} }))
        .await;
    assert_eq!(data(&body)["updateTestCase"], before);
}

#[tokio::test]
async fn update_test_case_when_nullable_fields_are_null_then_they_are_cleared() {
    let app = spawn_app().await;
    let config =
        create_configuration(&app, json!({ "name": "chrome", "configType": "BROWSER" })).await;
    let id = create_case(
        &app,
        json!({ "name": "login", "description": "d", "tags": ["a"], "metadata": { "k": 1 },
            "author": "ann", "category": "auth", "expectedDurationSeconds": 5,
            "configurationId": config }),
    )
    .await;
    let input = json!({ "description": null, "tags": null, "metadata": null, "author": null,
        "category": null, "expectedDurationSeconds": null, "configurationId": null });
    let body = app
        .gql(&update_mutation(), json!({ "id": id, "input": input }))
        .await;
    let after = &data(&body)["updateTestCase"];
    for field in [
        "description",
        "author",
        "category",
        "expectedDurationSeconds",
        "configurationId",
    ] {
        assert_eq!(after[field], Value::Null, "{field} not cleared");
    }
    assert_eq!(after["tags"], json!([]));
    assert_eq!(after["metadata"], json!({}));
    let pool = app.db.pool().await;
    let (description, category): (Option<String>, Option<String>) =
        crate::helpers::q::query_as("SELECT description, category FROM test_cases WHERE id = $1")
            .bind(id)
            .fetch_one(&pool)
            .await
            .expect("case");
    assert_eq!((description, category), (None, None));
}

#[tokio::test]
async fn update_test_case_when_a_non_nullable_field_is_null_then_bad_user_input_and_no_change() {
    let app = spawn_app().await;
    let id = create_case(&app, json!({ "name": "login" })).await;
    let pool = app.db.pool().await;
    let before = snapshot(&pool).await;
    for field in ["name", "status", "priority", "isAutomated", "retryCount"] {
        let mut input = json!({ "description": "changed" });
        input[field] = Value::Null;
        let body = app
            .gql(&update_mutation(), json!({ "id": id, "input": input }))
            .await;
        assert_bad_input(&body, field);
    }
    assert_eq!(snapshot(&pool).await, before);
}

#[tokio::test]
async fn update_test_case_when_absent_then_not_found() {
    let app = spawn_app().await;
    for input in [json!({ "name": "x" }), json!({})] {
        let body = app
            .gql(
                &update_mutation(),
                json!({ "id": Uuid::now_v7(), "input": input }),
            )
            .await;
        assert_code(&body, "NOT_FOUND");
    }
}

#[tokio::test]
async fn update_test_case_status_then_each_transition_is_stored() {
    let app = spawn_app().await;
    let id = create_case(&app, json!({ "name": "login" })).await;
    let pool = app.db.pool().await;
    for (status, stored) in [
        ("ACTIVE", "active"),
        ("DEPRECATED", "deprecated"),
        ("ARCHIVED", "archived"),
        ("DRAFT", "draft"),
    ] {
        let body = app
            .gql(
                &update_mutation(),
                json!({ "id": id, "input": { "status": status } }),
            )
            .await;
        assert_eq!(data(&body)["updateTestCase"]["status"], status);
        let db: String =
            crate::helpers::q::query_scalar("SELECT status FROM test_cases WHERE id = $1")
                .bind(id)
                .fetch_one(&pool)
                .await
                .expect("status");
        assert_eq!(db, stored);
    }
}

#[tokio::test]
async fn update_test_case_when_archived_then_its_name_may_be_reused_but_not_revived() {
    let app = spawn_app().await;
    let old = create_case(&app, json!({ "name": "login", "category": "auth" })).await;
    let body = app
        .gql(
            &update_mutation(),
            json!({ "id": old, "input": { "status": "ARCHIVED" } }),
        )
        .await;
    data(&body);
    create_case(&app, json!({ "name": "login", "category": "auth" })).await;
    let body = app
        .gql(
            &update_mutation(),
            json!({ "id": old, "input": { "status": "ACTIVE" } }),
        )
        .await;
    assert_error(&body, "CONFLICT", "name");
}

#[tokio::test]
async fn update_test_case_when_the_name_is_taken_in_the_category_then_conflict() {
    let app = spawn_app().await;
    create_case(&app, json!({ "name": "login", "category": "auth" })).await;
    let other = create_case(&app, json!({ "name": "logout", "category": "auth" })).await;
    let body = app
        .gql(
            &update_mutation(),
            json!({ "id": other, "input": { "name": "login" } }),
        )
        .await;
    assert_error(&body, "CONFLICT", "name");
    let pool = app.db.pool().await;
    let name: String = crate::helpers::q::query_scalar("SELECT name FROM test_cases WHERE id = $1")
        .bind(other)
        .fetch_one(&pool)
        .await
        .expect("name");
    assert_eq!(name, "logout");
}

#[tokio::test]
async fn update_test_case_then_updated_at_moves() {
    let app = spawn_app().await;
    let id = create_case(&app, json!({ "name": "login" })).await;
    let before = read_case(&app, id).await;
    let body = app
        .gql(
            &update_mutation(),
            json!({ "id": id, "input": { "description": "now" } }),
        )
        .await;
    let after = &data(&body)["updateTestCase"];
    let parse = |v: &Value| {
        chrono::DateTime::parse_from_rfc3339(v.as_str().expect("timestamp")).expect("rfc3339")
    };
    assert!(parse(&after["updatedAt"]) > parse(&before["updatedAt"]));
    assert_eq!(after["createdAt"], before["createdAt"]);
}
