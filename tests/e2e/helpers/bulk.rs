//! Bulk reporting helpers: report items, sending a report, and reading each item's outcome.

use serde_json::{Value, json};
use uuid::Uuid;

use super::app::TestApp;
use super::catalog::data;
use super::runs::artifact;

pub const REPORT_RESULTS: &str = "mutation($run: UUID!, $results: [ReportResultInput!]!) {
  reportResults(runId: $run, results: $results) {
    accepted duplicates rejected
    run { id status totalTests passedTests failedTests skippedTests }
    results { idempotencyKey ok duplicate executionId errorCode errorField }
  } }";

/// A bulk report item: `key` reports `outcome` for `case`, without steps or artifacts.
pub fn item(key: &str, case: Uuid, outcome: &str) -> Value {
    json!({ "idempotencyKey": key, "testCaseId": case, "status": outcome })
}

/// A bulk report item with a result for each of `steps` (all PASSED, or the first FAILED when
/// the outcome is FAILED) and one log artifact.
pub fn full_item(key: &str, case: Uuid, outcome: &str, steps: &[Uuid]) -> Value {
    let steps: Vec<Value> = steps
        .iter()
        .enumerate()
        .map(|(k, s)| {
            let status = if outcome == "FAILED" && k == 0 {
                "FAILED"
            } else {
                "PASSED"
            };
            json!({ "stepId": s, "status": status, "durationSeconds": 1, "actualResult": "seen",
                    "stepMetadata": { "k": k } })
        })
        .collect();
    json!({
        "idempotencyKey": key, "testCaseId": case, "status": outcome, "durationSeconds": 7,
        "executionMetadata": { "runner": "ci-1" }, "steps": steps,
        "artifacts": [artifact("LOG", &format!("{key}.log"))],
    })
}

/// Sends a bulk report as the admin and returns the body.
pub async fn report_results(app: &TestApp, run: Uuid, results: Vec<Value>) -> Value {
    app.gql(REPORT_RESULTS, json!({ "run": run, "results": results }))
        .await
}

/// (ok, duplicate, errorCode, errorField) of an item of a bulk report.
pub type ItemOutcome = (bool, bool, Option<String>, Option<String>);

/// The `reportResults` payload of a response that must have succeeded.
pub fn payload(body: &Value) -> &Value {
    &data(body)["reportResults"]
}

/// Each item's outcome of a bulk report.
pub fn outcomes(body: &Value) -> Vec<ItemOutcome> {
    payload(body)["results"]
        .as_array()
        .expect("results")
        .iter()
        .map(|r| {
            (
                r["ok"] == true,
                r["duplicate"] == true,
                r["errorCode"].as_str().map(str::to_owned),
                r["errorField"].as_str().map(str::to_owned),
            )
        })
        .collect()
}

/// A written item.
pub fn written() -> ItemOutcome {
    (true, false, None, None)
}

/// An item an earlier report recorded.
pub fn duplicate() -> ItemOutcome {
    (true, true, None, None)
}

/// An item rejected with `code`, naming `field`.
pub fn rejected(code: &str, field: &str) -> ItemOutcome {
    (false, false, Some(code.to_owned()), Some(field.to_owned()))
}
