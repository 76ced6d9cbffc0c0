//! Concurrent completions: hundreds of HTTP mutations at once on one run, over many client
//! connections and the server's small pool; the counters equal their recount and the run ends
//! in the right status.

use serde_json::{Value, json};
use uuid::Uuid;

use crate::helpers::app::TestApp;
use crate::helpers::runs::{COMPLETE, assert_exact, run_of, run_state};
use crate::helpers::spawn_app;

/// Executions completed at once.
const CONCURRENT: usize = 200;

/// Sends every (execution, outcome) completion at once, each from a task of its own, and
/// returns the response bodies.
async fn complete_all(app: &TestApp, completions: Vec<(Uuid, &'static str)>) -> Vec<Value> {
    let url = app.url("/graphql");
    let tasks: Vec<_> = completions
        .into_iter()
        .map(|(execution, outcome)| {
            let client = app.client.clone();
            let url = url.clone();
            let token = app.admin_token.clone();
            tokio::spawn(async move {
                client
                    .post(url)
                    .bearer_auth(token)
                    .json(&json!({ "query": COMPLETE, "variables": { "id": execution, "status": outcome } }))
                    .send()
                    .await
                    .expect("sending a completion")
                    .json::<Value>()
                    .await
                    .expect("a JSON body")
            })
        })
        .collect();
    let mut bodies = Vec::with_capacity(tasks.len());
    for task in tasks {
        bodies.push(task.await.expect("a completion task"));
    }
    bodies
}

fn outcome_of(i: usize) -> &'static str {
    match i % 10 {
        0 => "FAILED",
        1 | 2 => "SKIPPED",
        _ => "PASSED",
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_hundred_concurrent_completions_then_exact_counters_and_the_run_failed() {
    let app = spawn_app().await;
    let pool = app.db.pool().await;
    let run = run_of(&app, CONCURRENT, 0).await;
    let completions = run
        .executions
        .iter()
        .enumerate()
        .map(|(i, e)| (*e, outcome_of(i)))
        .collect();
    for body in complete_all(&app, completions).await {
        assert!(body["errors"].is_null(), "{body}");
    }
    let c = assert_exact(&pool, run.id, "concurrent completions").await;
    assert_eq!((c.total, c.passed, c.failed, c.skipped), (200, 140, 20, 40));
    assert_eq!(
        run_state(&pool, run.id).await,
        ("failed".to_owned(), true, true)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn every_completion_sent_twice_at_once_then_counted_once_and_the_run_passed() {
    let app = spawn_app().await;
    let pool = app.db.pool().await;
    let run = run_of(&app, CONCURRENT / 2, 0).await;
    let completions = run
        .executions
        .iter()
        .flat_map(|e| [(*e, "PASSED"), (*e, "PASSED")])
        .collect();
    for body in complete_all(&app, completions).await {
        assert!(body["errors"].is_null(), "{body}");
    }
    let c = assert_exact(&pool, run.id, "repeated concurrent completions").await;
    assert_eq!((c.total, c.passed, c.failed), (100, 100, 0));
    assert_eq!(
        run_state(&pool, run.id).await,
        ("passed".to_owned(), true, true)
    );
}
