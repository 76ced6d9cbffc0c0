//! Page sizes and their limits, empty pages, and the checks on cursors (of another ordering,
//! malformed, of the wrong key type).

use serde_json::{Value, json};

use crate::catalog_pagination::{CASES, CONFIGURATIONS, SUITE_CASES, SUITES, seed_cases};
use crate::helpers::app::TestApp;
use crate::helpers::catalog::{assert_bad_input, data, node_ids};
use crate::helpers::spawn_app;

#[tokio::test]
async fn test_cases_without_a_page_size_then_twenty_are_returned() {
    let app = spawn_app().await;
    seed_cases(&app, 25).await;
    let body = app.gql(CASES, json!({})).await;
    let conn = &data(&body)["testCases"];
    assert_eq!(node_ids(conn).len(), 20);
    assert_eq!(conn["totalCount"], 25);
    assert_eq!(conn["pageInfo"]["hasNextPage"], true);
}

#[tokio::test]
async fn page_size_of_a_hundred_then_accepted_and_beyond_then_bad_user_input() {
    let app = spawn_app().await;
    seed_cases(&app, 101).await;
    let body = app.gql(CASES, json!({ "first": 100 })).await;
    assert_eq!(node_ids(&data(&body)["testCases"]).len(), 100);
    let body = app.gql(CASES, json!({ "last": 100 })).await;
    assert_eq!(node_ids(&data(&body)["testCases"]).len(), 100);
    for (query, extra) in [
        (CASES, json!({})),
        (SUITES, json!({})),
        (CONFIGURATIONS, json!({})),
        (
            SUITE_CASES,
            json!({ "id": create_suite_with_a_case(&app).await }),
        ),
    ] {
        for (arg, value) in [("first", 101), ("last", 101), ("first", -1), ("last", -1)] {
            let mut vars = extra.clone();
            vars[arg] = json!(value);
            let body = app.gql(query, vars).await;
            assert_bad_input(&body, arg);
        }
    }
}

async fn create_suite_with_a_case(app: &TestApp) -> uuid::Uuid {
    let case = crate::helpers::catalog::create_case(app, json!({ "name": "member" })).await;
    crate::helpers::catalog::create_suite(app, json!({ "name": "s", "testCaseIds": [case] })).await
}

#[tokio::test]
async fn page_size_zero_then_no_edges_but_more_pages_reported() {
    let app = spawn_app().await;
    seed_cases(&app, 3).await;
    let body = app.gql(CASES, json!({ "first": 0 })).await;
    let conn = &data(&body)["testCases"];
    assert_eq!(conn["edges"], json!([]));
    assert_eq!(conn["pageInfo"]["hasNextPage"], true);
    assert_eq!(conn["pageInfo"]["startCursor"], Value::Null);
    assert_eq!(conn["totalCount"], 3);
    let body = app.gql(CASES, json!({ "last": 0 })).await;
    let conn = &data(&body)["testCases"];
    assert_eq!(conn["edges"], json!([]));
    assert_eq!(conn["pageInfo"]["hasPreviousPage"], true);
}

#[tokio::test]
async fn empty_lists_then_empty_pages_without_cursors() {
    let app = spawn_app().await;
    for (query, path) in [
        (CASES, "testCases"),
        (SUITES, "testSuites"),
        (CONFIGURATIONS, "configurations"),
    ] {
        for vars in [json!({}), json!({ "first": 5 }), json!({ "last": 5 })] {
            let body = app.gql(query, vars).await;
            let conn = &data(&body)[path];
            assert_eq!(conn["edges"], json!([]), "{body}");
            assert_eq!(
                conn["pageInfo"],
                json!({ "hasNextPage": false, "hasPreviousPage": false, "startCursor": null, "endCursor": null }),
                "{body}"
            );
        }
    }
    let suite = crate::helpers::catalog::create_suite(&app, json!({ "name": "empty" })).await;
    let body = app.gql(SUITE_CASES, json!({ "id": suite })).await;
    assert_eq!(data(&body)["testSuite"]["testCases"]["edges"], json!([]));
}

#[tokio::test]
async fn page_after_the_last_item_then_empty_with_a_previous_page() {
    let app = spawn_app().await;
    seed_cases(&app, 3).await;
    let body = app.gql(CASES, json!({ "first": 3 })).await;
    let end = data(&body)["testCases"]["pageInfo"]["endCursor"].clone();
    let body = app.gql(CASES, json!({ "first": 3, "after": end })).await;
    let conn = &data(&body)["testCases"];
    assert_eq!(conn["edges"], json!([]));
    assert_eq!(conn["pageInfo"]["hasNextPage"], false);
    assert_eq!(conn["pageInfo"]["hasPreviousPage"], true);
    assert_eq!(conn["totalCount"], 3, "totalCount ignores the cursor");
}

#[tokio::test]
async fn first_and_last_together_then_bad_user_input() {
    let app = spawn_app().await;
    seed_cases(&app, 3).await;
    let body = app.gql(CASES, json!({ "first": 2, "last": 2 })).await;
    assert_eq!(
        body["errors"][0]["extensions"]["code"], "BAD_USER_INPUT",
        "{body}"
    );
    let suite = create_suite_with_a_case(&app).await;
    let body = app
        .gql(SUITE_CASES, json!({ "id": suite, "first": 1, "last": 1 }))
        .await;
    assert_eq!(
        body["errors"][0]["extensions"]["code"], "BAD_USER_INPUT",
        "{body}"
    );
}

#[tokio::test]
async fn cursor_of_another_ordering_then_bad_user_input() {
    let app = spawn_app().await;
    seed_cases(&app, 5).await;
    let suite = create_suite_with_a_case(&app).await;
    let by_name = app
        .gql(
            CASES,
            json!({ "first": 2, "orderBy": { "field": "NAME", "direction": "ASC" } }),
        )
        .await;
    let name_cursor = data(&by_name)["testCases"]["pageInfo"]["endCursor"].clone();
    let in_suite = app
        .gql(SUITE_CASES, json!({ "id": suite, "first": 1 }))
        .await;
    let suite_cursor = data(&in_suite)["testSuite"]["testCases"]["pageInfo"]["endCursor"].clone();
    for order in [
        json!({ "field": "NAME", "direction": "DESC" }),
        json!({ "field": "PRIORITY", "direction": "ASC" }),
        json!({ "field": "CREATED_AT", "direction": "ASC" }),
        json!(null),
    ] {
        for arg in ["after", "before"] {
            let mut vars = json!({ "orderBy": order });
            vars[arg] = name_cursor.clone();
            let body = app.gql(CASES, vars).await;
            assert_bad_input(&body, arg);
        }
    }
    let body = app.gql(CASES, json!({ "after": suite_cursor })).await;
    assert_bad_input(&body, "after");
    let body = app
        .gql(SUITE_CASES, json!({ "id": suite, "before": name_cursor }))
        .await;
    assert_bad_input(&body, "before");
}

/// Base64url without padding, as cursors are encoded.
fn base64url(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |n, (i, b)| n | (u32::from(*b) << (16 - 8 * i)));
        for i in 0..=chunk.len() {
            out.push(ALPHABET[((n >> (18 - 6 * i)) & 63) as usize] as char);
        }
    }
    out
}

#[tokio::test]
async fn garbage_cursors_then_bad_user_input() {
    let app = spawn_app().await;
    seed_cases(&app, 5).await;
    let id = uuid::Uuid::now_v7();
    let garbage = [
        "not a cursor!".to_owned(),
        String::new(),
        base64url(b"plain text"),
        base64url(b"{\"o\": \"createdAt:desc\"}"),
        base64url(
            json!({ "o": "createdAt:desc", "k": 5, "i": id })
                .to_string()
                .as_bytes(),
        ),
        base64url(
            json!({ "o": "createdAt:desc", "k": "yesterday", "i": id })
                .to_string()
                .as_bytes(),
        ),
        base64url(
            json!({ "o": "createdAt:desc", "k": "2024-01-01T00:00:00Z", "i": "nope" })
                .to_string()
                .as_bytes(),
        ),
        base64url(
            json!({ "o": "createdAt:desc", "k": [1], "i": id })
                .to_string()
                .as_bytes(),
        ),
    ];
    for cursor in &garbage {
        for arg in ["after", "before"] {
            let mut vars = json!({});
            vars[arg] = json!(cursor);
            let body = app.gql(CASES, vars).await;
            assert_bad_input(&body, arg);
        }
    }
    let by_priority = json!({ "o": "priority:desc", "k": "high", "i": id });
    let body = app
        .gql(
            CASES,
            json!({ "before": base64url(by_priority.to_string().as_bytes()),
                    "orderBy": { "field": "PRIORITY" } }),
        )
        .await;
    assert_bad_input(&body, "before");
}

#[tokio::test]
async fn a_well_formed_cursor_of_the_ordering_then_accepted() {
    let app = spawn_app().await;
    seed_cases(&app, 5).await;
    let cursor = json!({ "o": "createdAt:desc", "k": "2100-01-01T00:00:00.000000Z", "i": uuid::Uuid::nil() });
    let body = app
        .gql(
            CASES,
            json!({ "after": base64url(cursor.to_string().as_bytes()) }),
        )
        .await;
    assert_eq!(
        node_ids(&data(&body)["testCases"]).len(),
        5,
        "all cases are older"
    );
}
