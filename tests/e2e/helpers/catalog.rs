//! Catalogue helpers: create records over GraphQL, read connections, assert error codes, and
//! take snapshots of what the catalogue tables hold.

use serde_json::{Value, json};
use sqlx::PgPool;
use uuid::Uuid;

use super::app::TestApp;

/// Most pages a walk reads before it is considered stuck.
const MAX_WALK_PAGES: usize = 500;

/// The catalogue tables, and the audit log their triggers write to.
pub const CATALOG_TABLES: &[&str] = &[
    "configurations",
    "test_cases",
    "test_steps",
    "test_suites",
    "test_suite_test_cases",
    "audit_log",
];

/// The `data` of a response that must have succeeded.
pub fn data(body: &Value) -> &Value {
    assert!(body["errors"].is_null(), "unexpected errors: {body}");
    &body["data"]
}

/// Asserts that the response has errors, every one of them coded, and returns the first.
pub fn first_error(body: &Value) -> &Value {
    let errors = body["errors"]
        .as_array()
        .unwrap_or_else(|| panic!("expected errors: {body}"));
    assert!(!errors.is_empty(), "expected errors: {body}");
    for e in errors {
        assert!(
            e["extensions"]["code"].is_string(),
            "an error without extensions.code: {body}"
        );
    }
    &errors[0]
}

/// Asserts that the first error has `code`.
pub fn assert_code(body: &Value, code: &str) {
    let error = first_error(body);
    assert_eq!(error["extensions"]["code"], code, "{body}");
}

/// Asserts that the first error has `code` and names `field`.
pub fn assert_error(body: &Value, code: &str, field: &str) {
    let error = first_error(body);
    assert_eq!(error["extensions"]["code"], code, "{body}");
    assert_eq!(error["extensions"]["field"], field, "{body}");
}

/// Asserts BAD_USER_INPUT naming `field`.
pub fn assert_bad_input(body: &Value, field: &str) {
    assert_error(body, "BAD_USER_INPUT", field);
}

/// A UUID out of a JSON string.
pub fn uuid(v: &Value) -> Uuid {
    v.as_str()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("not a UUID: {v}"))
}

/// The node ids of a connection's edges, in order.
pub fn node_ids(connection: &Value) -> Vec<Uuid> {
    connection["edges"]
        .as_array()
        .unwrap_or_else(|| panic!("not a connection: {connection}"))
        .iter()
        .map(|e| uuid(&e["node"]["id"]))
        .collect()
}

/// The `field` of each node of a connection's edges, as strings, in order.
pub fn node_strings(connection: &Value, field: &str) -> Vec<String> {
    connection["edges"]
        .as_array()
        .unwrap_or_else(|| panic!("not a connection: {connection}"))
        .iter()
        .map(|e| e["node"][field].as_str().unwrap_or_default().to_owned())
        .collect()
}

/// The ids of a list of objects.
pub fn ids(list: &Value) -> Vec<Uuid> {
    list.as_array()
        .unwrap_or_else(|| panic!("not a list: {list}"))
        .iter()
        .map(|o| uuid(&o["id"]))
        .collect()
}

/// Creates a test case over GraphQL and returns its id.
pub async fn create_case(app: &TestApp, input: Value) -> Uuid {
    let body = app
        .gql(
            "mutation($input: CreateTestCaseInput!) { createTestCase(input: $input) { id } }",
            json!({ "input": input }),
        )
        .await;
    uuid(&data(&body)["createTestCase"]["id"])
}

/// Creates a test case with `steps` step names (all CLICK) and returns its id and step ids.
pub async fn create_case_with_steps(
    app: &TestApp,
    name: &str,
    steps: &[&str],
) -> (Uuid, Vec<Uuid>) {
    let steps: Vec<Value> = steps
        .iter()
        .map(|s| json!({ "name": s, "stepType": "CLICK" }))
        .collect();
    let body = app
        .gql(
            "mutation($input: CreateTestCaseInput!) { createTestCase(input: $input) { id steps { id } } }",
            json!({ "input": { "name": name, "steps": steps } }),
        )
        .await;
    let case = &data(&body)["createTestCase"];
    (uuid(&case["id"]), ids(&case["steps"]))
}

/// Creates a test suite over GraphQL and returns its id.
pub async fn create_suite(app: &TestApp, input: Value) -> Uuid {
    let body = app
        .gql(
            "mutation($input: CreateTestSuiteInput!) { createTestSuite(input: $input) { id } }",
            json!({ "input": input }),
        )
        .await;
    uuid(&data(&body)["createTestSuite"]["id"])
}

/// Creates a configuration over GraphQL and returns its id.
pub async fn create_configuration(app: &TestApp, input: Value) -> Uuid {
    let body = app
        .gql(
            "mutation($input: CreateConfigurationInput!) { createConfiguration(input: $input) { id } }",
            json!({ "input": input }),
        )
        .await;
    uuid(&data(&body)["createConfiguration"]["id"])
}

/// Number of rows of `table`.
pub async fn count(pool: &PgPool, table: &str) -> i64 {
    super::q::query_scalar(format!("SELECT count(*) FROM {table}"))
        .fetch_one(pool)
        .await
        .expect("counting rows")
}

/// Everything the catalogue tables hold, as text, to prove that a request changed nothing.
pub async fn snapshot(pool: &PgPool) -> String {
    let mut out = String::new();
    for table in CATALOG_TABLES {
        let rows: String = super::q::query_scalar(format!(
            "SELECT coalesce(jsonb_agg(to_jsonb(t) ORDER BY to_jsonb(t)::text), '[]')::text FROM {table} t"
        ))
        .fetch_one(pool)
        .await
        .expect("snapshot of a table");
        out.push_str(table);
        out.push_str(": ");
        out.push_str(&rows);
        out.push('\n');
    }
    out
}

/// The step ids of a case by `order_index`, with their indexes.
pub async fn step_order(pool: &PgPool, case: Uuid) -> Vec<(Uuid, i32)> {
    super::q::query_as(
        "SELECT id, order_index FROM test_steps WHERE test_case_id = $1 ORDER BY order_index",
    )
    .bind(case)
    .fetch_all(pool)
    .await
    .expect("reading step order")
}

/// The case ids of a suite by position, with their positions.
pub async fn suite_order(pool: &PgPool, suite: Uuid) -> Vec<(Uuid, Option<i32>)> {
    super::q::query_as(
        "SELECT test_case_id, order_index FROM test_suite_test_cases WHERE test_suite_id = $1 \
         ORDER BY order_index NULLS LAST, test_case_id",
    )
    .bind(suite)
    .fetch_all(pool)
    .await
    .expect("reading suite order")
}

/// Ids returned by a SQL query, in order.
pub async fn sql_ids(pool: &PgPool, sql: &str) -> Vec<Uuid> {
    super::q::query_scalar(sql.to_owned())
        .fetch_all(pool)
        .await
        .expect("reading ids")
}

/// Which way a walk reads a connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Walk {
    /// `first` / `after` from the start.
    Forward,
    /// `last` / `before` from the end.
    Backward,
}

/// Reads every page of the connection at `path` (object keys from `data`) of `query`, which
/// takes `$first: Int, $after: String, $last: Int, $before: String` besides `vars`, `size` items
/// at a time, and returns the node ids in the connection's order. Checks each page's size and
/// `pageInfo` along the way.
pub async fn walk(
    app: &TestApp,
    query: &str,
    path: &[&str],
    vars: Value,
    size: usize,
    way: Walk,
) -> Vec<Uuid> {
    let mut all: Vec<Uuid> = Vec::new();
    let mut cursor: Option<String> = None;
    for page in 0..MAX_WALK_PAGES {
        let mut v = vars.clone();
        match way {
            Walk::Forward => {
                v["first"] = json!(size);
                v["after"] = json!(cursor);
            }
            Walk::Backward => {
                v["last"] = json!(size);
                v["before"] = json!(cursor);
            }
        }
        let body = app.gql(query, v).await;
        let mut conn = data(&body);
        for key in path {
            conn = &conn[*key];
        }
        let ids = node_ids(conn);
        let info = &conn["pageInfo"];
        let more = match way {
            Walk::Forward => info["hasNextPage"] == true,
            Walk::Backward => info["hasPreviousPage"] == true,
        };
        let came_from = match way {
            Walk::Forward => info["hasPreviousPage"] == true,
            Walk::Backward => info["hasNextPage"] == true,
        };
        assert_eq!(came_from, page > 0, "pageInfo of page {page}: {body}");
        assert!(ids.len() <= size, "page larger than asked: {body}");
        if more {
            assert_eq!(ids.len(), size, "short page with more to come: {body}");
        }
        if !ids.is_empty() {
            let edges = conn["edges"].as_array().expect("edges");
            assert_eq!(info["startCursor"], edges[0]["cursor"], "{body}");
            assert_eq!(
                info["endCursor"],
                edges[edges.len() - 1]["cursor"],
                "{body}"
            );
        }
        match way {
            Walk::Forward => {
                all.extend(ids);
                cursor = info["endCursor"].as_str().map(str::to_owned);
            }
            Walk::Backward => {
                let mut ids = ids;
                ids.extend(all);
                all = ids;
                cursor = info["startCursor"].as_str().map(str::to_owned);
            }
        }
        if !more {
            return all;
        }
    }
    panic!("the walk did not end after {MAX_WALK_PAGES} pages");
}

/// Asserts that `got` is `expected`, and that it has no duplicates.
pub fn assert_same_order(got: &[Uuid], expected: &[Uuid], what: &str) {
    let distinct: std::collections::HashSet<&Uuid> = got.iter().collect();
    assert_eq!(distinct.len(), got.len(), "{what}: duplicates in {got:?}");
    assert_eq!(got.len(), expected.len(), "{what}: omissions or extras");
    assert_eq!(got, expected, "{what}: wrong order");
}

/// POSTs a GraphQL request and returns the HTTP status with the body.
pub async fn post(app: &TestApp, query: &str, variables: Value) -> (reqwest::StatusCode, Value) {
    let res = app
        .http(reqwest::Method::POST, "/graphql")
        .json(&json!({ "query": query, "variables": variables }))
        .send()
        .await
        .expect("sending the GraphQL request");
    let status = res.status();
    let body = res.json().await.expect("a JSON body");
    (status, body)
}

/// Makes the server authenticate the test's token once, so that a request measured next with
/// `app.statements()` counts only its own statements: the token's row is then cached, and its
/// last use is marked recent first so that no background stamp of it runs meanwhile. Call it
/// before a test's first request when that test measures later, and again right before
/// measuring.
pub async fn warm_up(app: &TestApp) {
    let pool = app.db.pool().await;
    super::q::query("UPDATE api_tokens SET last_used_at = now()")
        .execute(&pool)
        .await
        .expect("marking the tokens used");
    let body = app
        .gql("{ testCases(first: 0) { edges { cursor } } }", json!({}))
        .await;
    data(&body);
}
