//! Report imports: posting a file to `POST /api/v1/import`, and the committed fixtures.

use std::path::PathBuf;

use serde_json::Value;

use super::app::TestApp;

/// A committed fixture report (`tests/fixtures/import`).
pub fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/import")
        .join(name)
}

/// The bytes of a fixture report.
pub fn fixture_bytes(name: &str) -> Vec<u8> {
    std::fs::read(fixture(name)).expect("fixture")
}

/// Posts `body` as a report with the query string `query` (e.g. `runKey=b1&finish=true`) and
/// `token`: the status and the JSON answer.
pub async fn import_as(
    app: &TestApp,
    token: &str,
    query: &str,
    body: impl Into<reqwest::Body>,
) -> (reqwest::StatusCode, Value) {
    let res = app
        .http_as(
            token,
            reqwest::Method::POST,
            &format!("/api/v1/import?{query}"),
        )
        .body(body)
        .send()
        .await
        .expect("import request");
    let status = res.status();
    let text = res.text().await.expect("import answer");
    let value = serde_json::from_str(&text).unwrap_or(Value::String(text));
    (status, value)
}

/// As [`import_as`], as the admin.
pub async fn import(
    app: &TestApp,
    query: &str,
    body: impl Into<reqwest::Body>,
) -> (reqwest::StatusCode, Value) {
    import_as(app, &app.admin_token, query, body).await
}

/// The code of a refused import.
pub fn code(answer: &Value) -> &str {
    answer["errors"][0]["extensions"]["code"]
        .as_str()
        .unwrap_or("")
}

/// A JUnit report of `n` test cases in `classes` classes, every tenth failing with a message;
/// `prefix` makes the names distinct between reports.
pub fn junit(prefix: &str, n: usize, classes: usize) -> String {
    let mut xml = String::from(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<testsuites name=\"generated\">\n",
    );
    let classes = classes.max(1);
    for c in 0..classes {
        xml.push_str(&format!("  <testsuite name=\"{prefix}.Class{c}\">\n"));
        for i in (c..n).step_by(classes) {
            xml.push_str(&format!(
                "    <testcase classname=\"{prefix}.Class{c}\" name=\"test_{i}\" time=\"0.{:03}\">",
                i % 1000
            ));
            if i % 10 == 3 {
                xml.push_str(&format!(
                    "<failure message=\"expected {i} but was {}\">at {prefix}.Class{c}.test_{i}(Class{c}.java:{i})</failure>",
                    i + 1
                ));
            }
            xml.push_str("</testcase>\n");
        }
        xml.push_str("  </testsuite>\n");
    }
    xml.push_str("</testsuites>\n");
    xml
}
