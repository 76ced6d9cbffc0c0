//! `attachArtifact`: an artifact's metadata on an execution or on a step result, exactly one of
//! them.

use serde_json::{Value, json};
use uuid::Uuid;

use crate::helpers::catalog::{assert_bad_input, data, uuid};
use crate::helpers::q::query_as;
use crate::helpers::runs::{ATTACH, artifact, report_step, run_of, snapshot};
use crate::helpers::spawn_app;

#[tokio::test]
async fn attach_to_an_execution_then_its_metadata_stored_on_the_execution() {
    let app = spawn_app().await;
    let pool = app.db.pool().await;
    let run = run_of(&app, 1, 1).await;
    let body = app
        .gql(
            ATTACH,
            json!({ "input": { "executionId": run.executions[0], "artifact": {
                "artifactType": "TRACE", "fileName": "trace.zip", "filePath": "/traces/trace.zip",
                "mimeType": "application/zip", "fileSize": 5_000_000_000i64, "metadata": { "browser": "chromium" },
            } } }),
        )
        .await;
    let a = &data(&body)["attachArtifact"];
    assert_eq!(a["testExecutionId"], json!(run.executions[0]));
    assert!(a["testStepExecutionId"].is_null());
    assert_eq!(a["fileSize"], json!(5_000_000_000.0), "sizes beyond 2^31");
    let row: (Uuid, Option<Uuid>, String, String, String, String, i64, Value) = query_as(
        "SELECT test_execution_id, test_step_execution_id, artifact_type::text, file_name, file_path,
                mime_type, file_size, metadata FROM test_artifacts WHERE id = $1",
    )
    .bind(uuid(&a["id"]))
    .fetch_one(&pool)
    .await
    .expect("the artifact");
    assert_eq!(
        row,
        (
            run.executions[0],
            None,
            "trace".to_owned(),
            "trace.zip".to_owned(),
            "/traces/trace.zip".to_owned(),
            "application/zip".to_owned(),
            5_000_000_000,
            json!({ "browser": "chromium" }),
        )
    );
}

#[tokio::test]
async fn attach_to_a_step_result_then_it_belongs_to_the_step_result_and_its_execution() {
    let app = spawn_app().await;
    let pool = app.db.pool().await;
    let run = run_of(&app, 1, 1).await;
    let step = uuid(
        &data(&report_step(&app, run.executions[0], run.steps[0][0], "FAILED").await)["reportStepResult"]
            ["id"],
    );
    let body = app
        .gql(
            ATTACH,
            json!({ "input": { "stepExecutionId": step, "artifact": artifact("SCREENSHOT", "fail.png") } }),
        )
        .await;
    let a = &data(&body)["attachArtifact"];
    assert_eq!(a["testStepExecutionId"], json!(step));
    assert_eq!(a["testExecutionId"], json!(run.executions[0]));
    let (execution, step_execution): (Uuid, Uuid) = query_as(
        "SELECT test_execution_id, test_step_execution_id FROM test_artifacts WHERE id = $1",
    )
    .bind(uuid(&a["id"]))
    .fetch_one(&pool)
    .await
    .expect("the artifact");
    assert_eq!((execution, step_execution), (run.executions[0], step));
}

#[tokio::test]
async fn attach_to_neither_or_both_then_bad_user_input_and_nothing_written() {
    let app = spawn_app().await;
    let pool = app.db.pool().await;
    let run = run_of(&app, 1, 1).await;
    let step = uuid(
        &data(&report_step(&app, run.executions[0], run.steps[0][0], "PASSED").await)["reportStepResult"]
            ["id"],
    );
    let before = snapshot(&pool).await;
    for input in [
        json!({ "artifact": artifact("LOG", "a.log") }),
        json!({ "executionId": run.executions[0], "stepExecutionId": step, "artifact": artifact("LOG", "a.log") }),
    ] {
        let body = app.gql(ATTACH, json!({ "input": input })).await;
        assert_bad_input(&body, "executionId");
        assert_eq!(snapshot(&pool).await, before, "{input}");
    }
}
