//! Bulk reporting's errors: an unknown run, a cancelled run, too many items, and each kind of
//! malformed item, rejected with its code and the field at fault, writing nothing.

use serde_json::{Value, json};
use uuid::Uuid;

use crate::helpers::bulk::{REPORT_RESULTS, item, outcomes, rejected, report_results};
use crate::helpers::catalog::data;
use crate::helpers::runs::{artifact, assert_code, cancel, run_of, snapshot};
use crate::helpers::spawn_app;

#[tokio::test]
async fn report_results_on_a_cancelled_run_then_every_item_conflicts_and_nothing_written() {
    let app = spawn_app().await;
    let pool = app.db.pool().await;
    let run = run_of(&app, 2, 1).await;
    data(&cancel(&app, run.id).await);
    let before = snapshot(&pool).await;
    let body = report_results(
        &app,
        run.id,
        vec![
            item("a", run.cases[0], "PASSED"),
            item("b", run.cases[1], "FAILED"),
        ],
    )
    .await;
    assert_eq!(
        outcomes(&body),
        [rejected("CONFLICT", "runId"), rejected("CONFLICT", "runId")]
    );
    assert_eq!(snapshot(&pool).await, before);
}

#[tokio::test]
async fn report_results_to_an_unknown_run_then_not_found_and_nothing_written() {
    let app = spawn_app().await;
    let pool = app.db.pool().await;
    let run = run_of(&app, 1, 1).await;
    let before = snapshot(&pool).await;
    let body = report_results(
        &app,
        Uuid::now_v7(),
        vec![item("a", run.cases[0], "PASSED")],
    )
    .await;
    assert_code(&body, "NOT_FOUND");
    assert_eq!(snapshot(&pool).await, before);
}

#[tokio::test]
async fn report_results_with_more_items_than_allowed_then_bad_user_input_and_nothing_written() {
    let app = spawn_app().await;
    let pool = app.db.pool().await;
    let run = run_of(&app, 1, 1).await;
    let before = snapshot(&pool).await;
    let items: Vec<Value> = (0..=api::runs::service::bulk::MAX_REPORT_ITEMS)
        .map(|i| item(&format!("k{i}"), run.cases[0], "PASSED"))
        .collect();
    let body = app
        .gql(REPORT_RESULTS, json!({ "run": run.id, "results": items }))
        .await;
    crate::helpers::catalog::assert_bad_input(&body, "results");
    assert_eq!(snapshot(&pool).await, before);
}

#[tokio::test]
async fn malformed_items_then_each_rejected_naming_its_field_and_nothing_written() {
    let app = spawn_app().await;
    let pool = app.db.pool().await;
    let run = run_of(&app, 1, 2).await;
    let case = run.cases[0];
    let steps = &run.steps[0];
    let long_key = "k".repeat(201);
    let mut cases: Vec<(Value, &str)> = Vec::new();
    cases.push((item("  ", case, "PASSED"), "results.0.idempotencyKey"));
    cases.push((item(&long_key, case, "PASSED"), "results.0.idempotencyKey"));
    let mut twice = item("twice", case, "PASSED");
    twice["steps"] = json!([{ "stepId": steps[0], "status": "PASSED" }, { "stepId": steps[0], "status": "FAILED" }]);
    cases.push((twice, "results.0.steps.1.stepId"));
    let mut step_negative = item("sneg", case, "PASSED");
    step_negative["steps"] =
        json!([{ "stepId": steps[1], "status": "PASSED", "durationSeconds": -5 }]);
    cases.push((step_negative, "results.0.steps.0.durationSeconds"));
    let mut step_meta = item("smeta", case, "PASSED");
    step_meta["steps"] =
        json!([{ "stepId": steps[1], "status": "PASSED", "stepMetadata": "text" }]);
    cases.push((step_meta, "results.0.steps.0.stepMetadata"));
    let mut unknown_step = item("sunk", case, "PASSED");
    unknown_step["steps"] = json!([{ "stepId": Uuid::now_v7(), "status": "PASSED" }]);
    cases.push((unknown_step, "results.0.steps.0.stepId"));
    for (field, value) in [
        ("fileName", json!("")),
        ("filePath", json!("p".repeat(1001))),
        ("mimeType", json!("m".repeat(101))),
        ("fileSize", json!(-1)),
        ("fileSize", json!(1.5)),
        ("metadata", json!([1])),
    ] {
        let mut a = artifact("LOG", "x.log");
        a[field] = value;
        let mut bad = item(&format!("art-{field}"), case, "PASSED");
        bad["artifacts"] = json!([a]);
        let expected: &str = match field {
            "fileName" => "results.0.artifacts.0.fileName",
            "filePath" => "results.0.artifacts.0.filePath",
            "mimeType" => "results.0.artifacts.0.mimeType",
            "fileSize" => "results.0.artifacts.0.fileSize",
            _ => "results.0.artifacts.0.metadata",
        };
        cases.push((bad, expected));
    }
    let before = snapshot(&pool).await;
    for (bad, field) in cases {
        let body = report_results(&app, run.id, vec![bad.clone()]).await;
        assert_eq!(
            outcomes(&body),
            [rejected("BAD_USER_INPUT", field)],
            "{bad}: {body}"
        );
        assert_eq!(
            snapshot(&pool).await,
            before,
            "{bad}: something was written"
        );
    }
}
