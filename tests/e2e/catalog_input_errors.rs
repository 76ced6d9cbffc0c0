//! Malformed input, table-driven: bad UUIDs (literal, variable, in lists), out-of-range and
//! mistyped numbers, non-array tags, unknown enum values, fields and arguments, text
//! PostgreSQL cannot store. Each is BAD_USER_INPUT, never a 500, and writes nothing.

use serde_json::json;

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
