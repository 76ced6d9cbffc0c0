//! Malformed input, table-driven: bad UUIDs (literal, variable, in lists), out-of-range and
//! mistyped numbers, non-array tags, unknown enum values, fields and arguments, text
//! PostgreSQL cannot store. Each is BAD_USER_INPUT, never a 500, and writes nothing.

use serde_json::{Value, json};

use crate::catalog_errors::{
    ADD_CASES, ADD_STEP, CREATE_CASE, CREATE_CONFIGURATION, LIST_CASES, UPDATE_CASE, check,
    fixture, row,
};
use crate::helpers::spawn_app;

#[tokio::test]
async fn malformed_values_then_bad_user_input_before_anything_runs() {
    let app = spawn_app().await;
    let f = fixture(&app).await;
    let bad = "BAD_USER_INPUT";
    let rows = vec![
        row(
            "bad UUID literal",
            "{ testCase(id: \"nope\") { id } }",
            json!({}),
            bad,
            None,
        ),
        row(
            "bad UUID variable",
            "query($id: UUID!) { testCase(id: $id) { id } }",
            json!({ "id": "nope" }),
            bad,
            None,
        ),
        row(
            "bad UUID in a list",
            ADD_CASES,
            json!({ "suite": f.suite, "ids": [f.case, "123"] }),
            bad,
            None,
        ),
        row(
            "bad UUID in an input",
            CREATE_CASE,
            json!({ "input": { "name": "n", "configurationId": "zz" } }),
            bad,
            None,
        ),
        row(
            "null for a required variable",
            "query($id: UUID!) { testCase(id: $id) { id } }",
            json!({ "id": null }),
            bad,
            None,
        ),
        row(
            "Int out of range, literal",
            "mutation { createTestCase(input: { name: \"n\", retryCount: 3000000000 }) { id } }",
            json!({}),
            bad,
            None,
        ),
        row(
            "Int out of range, variable",
            CREATE_CASE,
            json!({ "input": { "name": "n", "retryCount": 3_000_000_000i64 } }),
            bad,
            None,
        ),
        row(
            "page size out of range",
            LIST_CASES,
            json!({ "first": 3_000_000_000i64 }),
            bad,
            None,
        ),
        row(
            "Float for an Int",
            CREATE_CASE,
            json!({ "input": { "name": "n", "expectedDurationSeconds": 1.5 } }),
            bad,
            None,
        ),
        row(
            "tags an object",
            CREATE_CASE,
            json!({ "input": { "name": "n", "tags": { "a": 1 } } }),
            bad,
            None,
        ),
        row(
            "tags of numbers",
            CREATE_CASE,
            json!({ "input": { "name": "n", "tags": [1, 2] } }),
            bad,
            None,
        ),
        row(
            "tags a number",
            UPDATE_CASE,
            json!({ "id": f.case, "input": { "tags": 7 } }),
            bad,
            None,
        ),
        row(
            "name a number",
            CREATE_CASE,
            json!({ "input": { "name": 5 } }),
            bad,
            None,
        ),
        row(
            "name missing",
            CREATE_CASE,
            json!({ "input": {} }),
            bad,
            None,
        ),
        row(
            "unknown input field",
            CREATE_CASE,
            json!({ "input": { "name": "n", "colour": "red" } }),
            bad,
            None,
        ),
        row(
            "unknown enum value, variable",
            CREATE_CASE,
            json!({ "input": { "name": "n", "status": "BOGUS" } }),
            bad,
            None,
        ),
        row(
            "enum value in lower case",
            CREATE_CASE,
            json!({ "input": { "name": "n", "priority": "high" } }),
            bad,
            None,
        ),
        row(
            "unknown enum value, literal",
            "mutation { createTestCase(input: { name: \"n\", priority: URGENT }) { id } }",
            json!({}),
            bad,
            None,
        ),
        row(
            "unknown enum value in a filter",
            LIST_CASES,
            json!({ "filter": { "status": ["NOPE"] } }),
            bad,
            None,
        ),
        row(
            "unknown step type",
            ADD_STEP,
            json!({ "case": f.case, "input": { "name": "s", "stepType": "JUMP" } }),
            bad,
            None,
        ),
        row(
            "unknown config type",
            CREATE_CONFIGURATION,
            json!({ "input": { "name": "c", "configType": "PRINTER" } }),
            bad,
            None,
        ),
        row(
            "bad timestamp",
            LIST_CASES,
            json!({ "filter": { "createdAfter": "yesterday" } }),
            bad,
            None,
        ),
        row(
            "unknown argument",
            "{ testCases(size: 3) { totalCount } }",
            json!({}),
            bad,
            None,
        ),
        row(
            "unknown field",
            "{ testCases { total } }",
            json!({}),
            bad,
            None,
        ),
        row(
            "NUL in a name",
            CREATE_CASE,
            json!({ "input": { "name": "a\u{0}b" } }),
            bad,
            None,
        ),
        row(
            "NUL in metadata",
            CREATE_CASE,
            json!({ "input": { "name": "n", "metadata": { "k": "a\u{0}b" } } }),
            bad,
            None,
        ),
    ];
    check(&app, rows).await;
}

/// The values of the enums the rows below get wrong, as the schema lists them.
const CASE_STATUSES: &[&str] = &["ACTIVE", "ARCHIVED", "DEPRECATED", "DRAFT"];
const PRIORITIES: &[&str] = &["CRITICAL", "HIGH", "LOW", "MEDIUM"];
const RUN_STATUSES: &[&str] = &[
    "ABORTED",
    "CANCELLED",
    "FAILED",
    "PASSED",
    "PENDING",
    "RUNNING",
];

/// A request that sends an enum a value it does not have, and what the error must say.
struct BadEnum {
    what: &'static str,
    query: &'static str,
    variables: Value,
    value: &'static str,
    enum_name: &'static str,
    values: &'static [&'static str],
}

/// Asserts that `error` refuses `bad`'s value as a value of its enum, listing the enum's values
/// in `extensions.validValues` and in its message.
fn assert_lists_valid_values(error: &Value, bad: &BadEnum) {
    assert_eq!(
        error["extensions"]["code"], "BAD_USER_INPUT",
        "{}: {error}",
        bad.what
    );
    assert_eq!(
        error["extensions"]["validValues"],
        json!(bad.values),
        "{}: {error}",
        bad.what
    );
    let said = format!(
        "\"{}\" is not a valid {}; valid values: {}",
        bad.value,
        bad.enum_name,
        bad.values.join(", ")
    );
    let message = error["message"].as_str().unwrap_or_default();
    assert!(
        message.contains(&said),
        "{}: {message:?} does not say {said:?}",
        bad.what
    );
}

#[tokio::test]
async fn unknown_enum_value_over_http_then_the_error_lists_the_valid_values() {
    let app = spawn_app().await;
    let rows = [
        BadEnum {
            what: "literal",
            query: "mutation { createTestCase(input: { name: \"n\", status: BOGUS }) { id } }",
            variables: json!({}),
            value: "BOGUS",
            enum_name: "TestCaseStatus",
            values: CASE_STATUSES,
        },
        BadEnum {
            what: "variable",
            query: CREATE_CASE,
            variables: json!({ "input": { "name": "n", "status": "BOGUS" } }),
            value: "BOGUS",
            enum_name: "TestCaseStatus",
            values: CASE_STATUSES,
        },
        BadEnum {
            what: "variable of the enum's own type",
            query: "mutation($p: Priority) { createTestCase(input: { name: \"n\", priority: $p }) { id } }",
            variables: json!({ "p": "URGENT" }),
            value: "URGENT",
            enum_name: "Priority",
            values: PRIORITIES,
        },
        BadEnum {
            what: "in a list of a filter",
            query: LIST_CASES,
            variables: json!({ "filter": { "status": ["ACTIVE", "NOPE"] } }),
            value: "NOPE",
            enum_name: "TestCaseStatus",
            values: CASE_STATUSES,
        },
    ];
    for bad in &rows {
        let (status, body) =
            crate::helpers::catalog::post(&app, bad.query, bad.variables.clone()).await;
        assert!(!status.is_server_error(), "{}: {status}: {body}", bad.what);
        let error = crate::helpers::catalog::first_error(&body);
        assert_lists_valid_values(error, bad);
    }
}

#[tokio::test]
async fn unknown_enum_value_over_websocket_then_the_error_lists_the_valid_values() {
    use crate::helpers::ws::{LEGACY_WS, TRANSPORT_WS, WsClient};
    let app = spawn_app().await;
    let requests = [
        BadEnum {
            what: "literal in a subscription",
            query: "subscription { testRunsUpdates(filter: { status: [BOGUS] }) { runId } }",
            variables: json!({}),
            value: "BOGUS",
            enum_name: "RunStatus",
            values: RUN_STATUSES,
        },
        BadEnum {
            what: "variable in a query",
            query: "query($f: TestCaseFilter) { testCases(filter: $f) { totalCount } }",
            variables: json!({ "f": { "status": ["NOPE"] } }),
            value: "NOPE",
            enum_name: "TestCaseStatus",
            values: CASE_STATUSES,
        },
    ];
    for protocol in [TRANSPORT_WS, LEGACY_WS] {
        let mut ws = WsClient::connect_with(app.addr, protocol, &app.admin_token).await;
        let start = if protocol == TRANSPORT_WS {
            "subscribe"
        } else {
            "start"
        };
        for (n, bad) in requests.iter().enumerate() {
            let id = n.to_string();
            ws.send(json!({
                "type": start,
                "id": id,
                "payload": { "query": bad.query, "variables": bad.variables }
            }))
            .await;
            let answer = ws.next_about(&id).await.expect("an answer");
            // an error message carries the errors themselves (graphql-transport-ws), or a
            // payload with them (graphql-ws)
            let errors = if answer["payload"].is_array() {
                answer["payload"].clone()
            } else {
                answer["payload"]["errors"].clone()
            };
            assert_lists_valid_values(&errors[0], bad);
        }
    }
}
