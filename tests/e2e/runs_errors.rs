//! Malformed input to the runs' mutations, table-driven: each is its coded error (with the
//! field at fault where there is one), never a 500, and writes nothing.

use serde_json::{Value, json};
use uuid::Uuid;

use crate::helpers::catalog::{data, first_error, post, uuid};
use crate::helpers::runs::{
    ATTACH, COMPLETE, REPORT_STEP, RETRY, Run, START_EXECUTION, START_RUN, artifact, report_step,
    run_of, snapshot,
};
use crate::helpers::spawn_app;

const BAD: &str = "BAD_USER_INPUT";

/// A request that must fail: what it is, the request, the expected code and field.
struct Row {
    what: &'static str,
    query: &'static str,
    variables: Value,
    code: &'static str,
    field: Option<&'static str>,
}

fn row(
    what: &'static str,
    query: &'static str,
    variables: Value,
    code: &'static str,
    field: Option<&'static str>,
) -> Row {
    Row {
        what,
        query,
        variables,
        code,
        field,
    }
}

/// Sends each row, checks it is not a server error, is coded as expected, and wrote nothing.
async fn check(app: &crate::helpers::TestApp, rows: Vec<Row>) {
    let pool = app.db.pool().await;
    let before = snapshot(&pool).await;
    for r in rows {
        let (status, body) = post(app, r.query, r.variables.clone()).await;
        assert!(
            status == reqwest::StatusCode::OK || status == reqwest::StatusCode::BAD_REQUEST,
            "{}: status {status}: {body}",
            r.what
        );
        let error = first_error(&body);
        assert_eq!(error["extensions"]["code"], r.code, "{}: {body}", r.what);
        if let Some(field) = r.field {
            assert_eq!(error["extensions"]["field"], field, "{}: {body}", r.what);
        }
        assert_eq!(
            snapshot(&pool).await,
            before,
            "{}: something was written",
            r.what
        );
    }
}

/// An artifact input with `field` set to `value`.
fn artifact_with(field: &str, value: Value) -> Value {
    let mut a = artifact("LOG", "a.log");
    a[field] = value;
    a
}

async fn fixture(app: &crate::helpers::TestApp) -> (Run, Uuid) {
    let run = run_of(app, 2, 1).await;
    let step = uuid(
        &data(&report_step(app, run.executions[0], run.steps[0][0], "RUNNING").await)["reportStepResult"]
            ["id"],
    );
    (run, step)
}

#[tokio::test]
async fn malformed_run_starts_then_coded_errors_and_nothing_written() {
    let app = spawn_app().await;
    let (run, _) = fixture(&app).await;
    let start = |input: Value| json!({ "input": input });
    let s = run.suite;
    check(
        &app,
        vec![
            row(
                "empty name",
                START_RUN,
                start(json!({ "suiteId": s, "name": "" })),
                BAD,
                Some("name"),
            ),
            row(
                "blank name",
                START_RUN,
                start(json!({ "suiteId": s, "name": "   " })),
                BAD,
                Some("name"),
            ),
            row(
                "name too long",
                START_RUN,
                start(json!({ "suiteId": s, "name": "n".repeat(256) })),
                BAD,
                Some("name"),
            ),
            row(
                "settings not an object",
                START_RUN,
                start(json!({ "suiteId": s, "name": "n", "runConfiguration": [1, 2] })),
                BAD,
                Some("runConfiguration"),
            ),
            row(
                "unknown configuration",
                START_RUN,
                start(json!({ "suiteId": s, "name": "n", "configurationId": Uuid::now_v7() })),
                BAD,
                Some("configurationId"),
            ),
            row(
                "triggeredBy too long",
                START_RUN,
                start(json!({ "suiteId": s, "name": "n", "triggeredBy": "u".repeat(101) })),
                BAD,
                Some("triggeredBy"),
            ),
            row(
                "suite id not a UUID",
                START_RUN,
                start(json!({ "suiteId": "nope", "name": "n" })),
                BAD,
                None,
            ),
            row(
                "name missing",
                START_RUN,
                start(json!({ "suiteId": s })),
                BAD,
                None,
            ),
        ],
    )
    .await;
}

#[tokio::test]
async fn malformed_execution_changes_then_coded_errors_and_nothing_written() {
    let app = spawn_app().await;
    let (run, _) = fixture(&app).await;
    let e = run.executions[0];
    let unknown = Uuid::now_v7();
    check(
        &app,
        vec![
            row(
                "start unknown",
                START_EXECUTION,
                json!({ "id": unknown }),
                "NOT_FOUND",
                None,
            ),
            row(
                "step result with a negative duration",
                REPORT_STEP,
                json!({ "e": e, "s": run.steps[0][0], "status": "PASSED", "duration": -1 }),
                BAD,
                Some("durationSeconds"),
            ),
            row(
                "step result of an unknown execution",
                REPORT_STEP,
                json!({ "e": unknown, "s": run.steps[0][0], "status": "PASSED" }),
                "NOT_FOUND",
                None,
            ),
            row(
                "step result of an unknown step",
                REPORT_STEP,
                json!({ "e": e, "s": unknown, "status": "PASSED" }),
                BAD,
                Some("stepId"),
            ),
            row(
                "step result with an unknown status",
                REPORT_STEP,
                json!({ "e": e, "s": run.steps[0][0], "status": "EXPLODED" }),
                BAD,
                None,
            ),
            row(
                "completion with a negative duration",
                COMPLETE,
                json!({ "id": e, "status": "PASSED", "duration": -3 }),
                BAD,
                Some("durationSeconds"),
            ),
            row(
                "completion with metadata not an object",
                COMPLETE,
                json!({ "id": e, "status": "PASSED", "meta": "text" }),
                BAD,
                Some("executionMetadata"),
            ),
            row(
                "completion as CANCELLED",
                COMPLETE,
                json!({ "id": e, "status": "CANCELLED" }),
                BAD,
                None,
            ),
            row(
                "completion of an unknown execution",
                COMPLETE,
                json!({ "id": unknown, "status": "PASSED" }),
                "NOT_FOUND",
                None,
            ),
            row(
                "retry unknown",
                RETRY,
                json!({ "id": unknown }),
                "NOT_FOUND",
                None,
            ),
            row(
                "retry with a bad id",
                RETRY,
                json!({ "id": "12" }),
                BAD,
                None,
            ),
        ],
    )
    .await;
}

#[tokio::test]
async fn malformed_artifacts_then_coded_errors_and_nothing_written() {
    let app = spawn_app().await;
    let (run, step) = fixture(&app).await;
    let on = |artifact: Value| json!({ "input": { "executionId": run.executions[0], "artifact": artifact } });
    check(
        &app,
        vec![
            row("empty file name", ATTACH, on(artifact_with("fileName", json!(""))), BAD, Some("artifact.fileName")),
            row(
                "file name too long",
                ATTACH,
                on(artifact_with("fileName", json!("f".repeat(256)))),
                BAD,
                Some("artifact.fileName"),
            ),
            row("empty file path", ATTACH, on(artifact_with("filePath", json!(""))), BAD, Some("artifact.filePath")),
            row(
                "file path too long",
                ATTACH,
                on(artifact_with("filePath", json!("p".repeat(1001)))),
                BAD,
                Some("artifact.filePath"),
            ),
            row(
                "MIME type too long",
                ATTACH,
                on(artifact_with("mimeType", json!("m".repeat(101)))),
                BAD,
                Some("artifact.mimeType"),
            ),
            row("negative size", ATTACH, on(artifact_with("fileSize", json!(-1))), BAD, Some("artifact.fileSize")),
            row("fractional size", ATTACH, on(artifact_with("fileSize", json!(1.5))), BAD, Some("artifact.fileSize")),
            row(
                "metadata not an object",
                ATTACH,
                on(artifact_with("metadata", json!([1]))),
                BAD,
                Some("artifact.metadata"),
            ),
            row(
                "unknown type",
                ATTACH,
                on(artifact_with("artifactType", json!("HOLOGRAM"))),
                BAD,
                None,
            ),
            row(
                "unknown execution",
                ATTACH,
                json!({ "input": { "executionId": Uuid::now_v7(), "artifact": artifact("LOG", "a") } }),
                "NOT_FOUND",
                None,
            ),
            row(
                "unknown step result",
                ATTACH,
                json!({ "input": { "stepExecutionId": Uuid::now_v7(), "artifact": artifact("LOG", "a") } }),
                "NOT_FOUND",
                None,
            ),
            row(
                "both owners",
                ATTACH,
                json!({ "input": { "executionId": run.executions[0], "stepExecutionId": step, "artifact": artifact("LOG", "a") } }),
                BAD,
                Some("executionId"),
            ),
        ],
    )
    .await;
}
