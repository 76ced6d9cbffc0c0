//! Bulk reporting by construction: a report runs the same number of SQL statements whatever
//! its number of items (multi-row writes), and the counters stay exact.

use serde_json::Value;

use crate::helpers::app::TestApp;
use crate::helpers::bulk::{full_item, report_results};
use crate::helpers::catalog::{data, warm_up};
use crate::helpers::runs::{assert_exact, run_of};
use crate::helpers::spawn_app;

/// Statements one report may run, whatever its size: the request's security settings, the
/// run's lock, the recorded keys, the latest attempts, the steps of the cases, the four
/// multi-row writes (executions, step results, artifacts, keys), the recount and the run read
/// back.
const REPORT_BUDGET: u64 = 11;

/// Sends a report of `items` and returns its body and the number of statements it ran.
async fn measure(app: &TestApp, run: uuid::Uuid, items: Vec<Value>) -> (Value, u64) {
    warm_up(app).await;
    let before = app.statements();
    let body = report_results(app, run, items).await;
    (body, app.statements() - before)
}

#[tokio::test]
async fn ten_or_a_thousand_items_then_the_same_number_of_statements() {
    let app = spawn_app().await;
    let pool = app.db.pool().await;
    let run = run_of(&app, 1010, 2).await;
    let items = |range: std::ops::Range<usize>| -> Vec<Value> {
        range
            .map(|i| {
                let outcome = if i % 7 == 0 { "FAILED" } else { "PASSED" };
                full_item(&format!("k{i}"), run.cases[i], outcome, &run.steps[i])
            })
            .collect()
    };
    let (small, ten) = measure(&app, run.id, items(0..10)).await;
    assert_eq!(data(&small)["reportResults"]["accepted"], 10, "{small}");
    let (big, thousand) = measure(&app, run.id, items(10..1010)).await;
    assert_eq!(data(&big)["reportResults"]["accepted"], 1000);
    assert_eq!(
        thousand, ten,
        "a thousand items ran {thousand} statements, ten ran {ten}"
    );
    assert!(ten <= REPORT_BUDGET, "{ten} statements for a report");
    assert_eq!(data(&big)["reportResults"]["run"]["status"], "FAILED");
    let c = assert_exact(&pool, run.id, "a thousand results").await;
    assert_eq!((c.total, c.passed + c.failed), (1010, 1010));
    assert_eq!(
        crate::helpers::catalog::count(&pool, "test_step_executions").await,
        2020
    );
    assert_eq!(
        crate::helpers::catalog::count(&pool, "test_artifacts").await,
        1010
    );
}
