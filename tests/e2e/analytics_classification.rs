//! Flaky classification: HEALTHY / FLAKY / BROKEN from same-commit evidence, passes on retry,
//! flip rates and failing streaks; runs flagged as infrastructure failures left out; the
//! project's minimum sample; automatic quarantine of FLAKY cases only; the refresh's cost.

use serde_json::{Value, json};
use sqlx::PgPool;
use uuid::Uuid;

use crate::helpers::catalog::{assert_bad_input, data};
use crate::helpers::q::{query, query_scalar};
use crate::helpers::{TestApp, spawn_app};

/// A case of the default project, authored by `author`.
async fn case(pool: &PgPool, name: &str, author: &str) -> Uuid {
    query_scalar(
        "INSERT INTO test_cases(name, status, author, retry_count) VALUES ($1, 'active', $2, 3)
         RETURNING id",
    )
    .bind(name)
    .bind(author)
    .fetch_one(pool)
    .await
    .expect("case")
}

/// A run on `commit` with `results` (case, status, attempt) in order, finished as the API
/// finishes runs (`refresh_test_run(run, true)`: outcome, infrastructure flag).
async fn finished_run(pool: &PgPool, commit: Option<&str>, results: &[(Uuid, &str, i32)]) -> Uuid {
    let run: Uuid = query_scalar(
        "INSERT INTO test_runs(name, triggered_by, status, ad_hoc, commit_sha)
         VALUES ('r', 'test-admin', 'running', true, $1) RETURNING id",
    )
    .bind(commit)
    .fetch_one(pool)
    .await
    .expect("run");
    for (case, status, attempt) in results {
        query(
            "INSERT INTO test_executions(test_case_id, test_run_id, status, retry_attempt,
                                         started_at, completed_at, created_at)
             VALUES ($1, $2, $3, $4, clock_timestamp(), clock_timestamp(), clock_timestamp())",
        )
        .bind(case)
        .bind(run)
        .bind(status)
        .bind(attempt)
        .execute(pool)
        .await
        .expect("execution");
    }
    query("SELECT refresh_test_run($1, true)")
        .bind(run)
        .execute(pool)
        .await
        .expect("finish");
    run
}

const FLAKINESS: &str = "query($id: UUID!) { testCase(id: $id) { flakiness {
    classification classificationReasons { code text } sameCommitFlips sampleSize failures
    passedOnRetry confidence classifiedAt failureProbability { mean lower upper } } } }";

/// A case's flakiness, computed on demand over its last 20 results.
async fn flakiness(app: &TestApp, case: Uuid) -> Value {
    let body = app.gql(FLAKINESS, json!({ "id": case })).await;
    data(&body)["testCase"]["flakiness"].clone()
}

fn codes(flakiness: &Value) -> Vec<String> {
    flakiness["classificationReasons"]
        .as_array()
        .expect("reasons")
        .iter()
        .map(|r| {
            assert!(r["text"].as_str().is_some_and(|t| !t.is_empty()), "{r}");
            r["code"].as_str().expect("code").to_owned()
        })
        .collect()
}

/// The ids of the flakiest list filtered by `class` (after the kept summary's refresh).
async fn listed(app: &TestApp, class: &str) -> Vec<Uuid> {
    let body = app
        .gql(
            "query($c: FlakyClassification) { flakiestTestCases(classification: $c) {
                testCase { id } flakiness { classification classifiedAt } } }",
            json!({ "c": class }),
        )
        .await;
    data(&body)["flakiestTestCases"]
        .as_array()
        .expect("list")
        .iter()
        .map(|c| {
            assert_eq!(c["flakiness"]["classification"], class, "{c}");
            assert!(c["flakiness"]["classifiedAt"].is_string(), "{c}");
            crate::helpers::catalog::uuid(&c["testCase"]["id"])
        })
        .collect()
}

/// The kept classification of a case (after a refresh).
async fn kept(pool: &PgPool, case: Uuid) -> Option<String> {
    query("SELECT refresh_test_case_flakiness()")
        .execute(pool)
        .await
        .expect("refresh");
    query_scalar("SELECT classification::text FROM test_case_flakiness WHERE test_case_id = $1")
        .bind(case)
        .fetch_optional(pool)
        .await
        .expect("kept")
}

#[tokio::test]
async fn classification_when_a_case_passes_and_fails_on_one_commit_then_flaky_with_certainty() {
    let app = spawn_app().await;
    let pool = app.db.pool().await;
    let c = case(&pool, "same commit", "test-admin").await;
    finished_run(&pool, Some("abc123"), &[(c, "passed", 0)]).await;
    finished_run(&pool, Some("abc123"), &[(c, "failed", 0)]).await;
    let f = flakiness(&app, c).await;
    assert_eq!(f["classification"], "FLAKY", "{f}");
    assert_eq!(f["sameCommitFlips"], 1, "{f}");
    // direct evidence needs no minimum sample
    assert_eq!(f["sampleSize"], 2);
    assert_eq!(codes(&f), ["SAME_COMMIT"]);
    assert_eq!(f["confidence"], 1.0);
    // Beta(2, 2): mean 0.5, symmetric interval
    assert_eq!(f["failureProbability"]["mean"], 0.5);
    assert_eq!(listed(&app, "FLAKY").await, [c]);
    // the same outcomes on two commits are not same-commit evidence
    let other = case(&pool, "two commits", "test-admin").await;
    finished_run(&pool, Some("aaa"), &[(other, "passed", 0)]).await;
    finished_run(&pool, Some("bbb"), &[(other, "failed", 0)]).await;
    assert_eq!(flakiness(&app, other).await["classification"], "HEALTHY");
}

#[tokio::test]
async fn classification_when_a_case_passes_on_a_retry_then_flaky() {
    let app = spawn_app().await;
    let pool = app.db.pool().await;
    let c = case(&pool, "retried", "test-admin").await;
    finished_run(&pool, None, &[(c, "passed", 0)]).await;
    finished_run(&pool, None, &[(c, "failed", 0), (c, "passed", 1)]).await;
    let f = flakiness(&app, c).await;
    assert_eq!(f["classification"], "FLAKY", "{f}");
    assert_eq!(f["passedOnRetry"], 1);
    assert_eq!(codes(&f), ["PASSED_ON_RETRY"]);
    assert_eq!(f["confidence"], 1.0);
}

#[tokio::test]
async fn classification_when_the_latest_three_runs_failed_then_broken() {
    let app = spawn_app().await;
    let pool = app.db.pool().await;
    let c = case(&pool, "broken", "test-admin").await;
    for commit in ["a1", "a2", "a3"] {
        finished_run(&pool, Some(commit), &[(c, "passed", 0)]).await;
    }
    for commit in ["b1", "b2"] {
        finished_run(&pool, Some(commit), &[(c, "failed", 0)]).await;
    }
    // two failed runs are a bad streak, not yet broken
    assert_eq!(flakiness(&app, c).await["classification"], "HEALTHY");
    finished_run(&pool, Some("b3"), &[(c, "failed", 0), (c, "failed", 1)]).await;
    let f = flakiness(&app, c).await;
    assert_eq!(f["classification"], "BROKEN", "{f}");
    assert_eq!(codes(&f), ["CONSECUTIVE_FAILURES"]);
    // Beta(5, 4) after 4 failures in 7 results: P(p > 0.9) is small, and said so
    let confidence = f["confidence"].as_f64().expect("confidence");
    assert!(confidence > 0.0 && confidence < 0.1, "{f}");
    assert_eq!(listed(&app, "BROKEN").await, [c]);
    assert_eq!(listed(&app, "FLAKY").await, Vec::<Uuid>::new());
    // a pass on a retry among the latest runs is no broken case
    let recovering = case(&pool, "recovering", "test-admin").await;
    finished_run(&pool, None, &[(recovering, "failed", 0)]).await;
    finished_run(
        &pool,
        None,
        &[(recovering, "failed", 0), (recovering, "passed", 1)],
    )
    .await;
    finished_run(&pool, None, &[(recovering, "failed", 0)]).await;
    assert_eq!(flakiness(&app, recovering).await["classification"], "FLAKY");
}

#[tokio::test]
async fn classification_when_a_case_always_passes_then_healthy_with_its_posterior() {
    let app = spawn_app().await;
    let pool = app.db.pool().await;
    let c = case(&pool, "steady", "test-admin").await;
    for k in 0..10 {
        finished_run(&pool, Some(&format!("c{k}")), &[(c, "passed", 0)]).await;
    }
    let f = flakiness(&app, c).await;
    assert_eq!(f["classification"], "HEALTHY", "{f}");
    assert_eq!(codes(&f), Vec::<String>::new());
    // Beta(1, 11): mean 1/12, interval [1 − 0.95^(1/11), 1 − 0.05^(1/11)], P(p < 0.1) = 1 − 0.9^11
    let round = |x: f64| (x * 10_000.0).round() / 10_000.0;
    assert_eq!(f["failureProbability"]["mean"], round(1.0 / 12.0));
    assert_eq!(
        f["failureProbability"]["lower"],
        round(1.0 - 0.95_f64.powf(1.0 / 11.0))
    );
    assert_eq!(
        f["failureProbability"]["upper"],
        round(1.0 - 0.05_f64.powf(1.0 / 11.0))
    );
    assert_eq!(f["confidence"], round(1.0 - 0.9_f64.powi(11)));
    assert_eq!(kept(&pool, c).await.as_deref(), Some("HEALTHY"));
}

#[tokio::test]
async fn classification_when_a_run_is_an_outage_then_its_results_do_not_make_tests_flaky() {
    let app = spawn_app().await;
    let pool = app.db.pool().await;
    let mut cases = Vec::new();
    for k in 0..10 {
        cases.push(case(&pool, &format!("suite case {k}"), "test-admin").await);
    }
    let passing: Vec<(Uuid, &str, i32)> = cases.iter().map(|c| (*c, "passed", 0)).collect();
    finished_run(&pool, Some("deadbeef"), &passing).await;
    // the same commit again, 9 of 10 failing: an outage
    let outage: Vec<(Uuid, &str, i32)> = cases
        .iter()
        .enumerate()
        .map(|(k, c)| (*c, if k == 0 { "passed" } else { "failed" }, 0))
        .collect();
    let run = finished_run(&pool, Some("deadbeef"), &outage).await;
    let body = app
        .gql(
            "query($id: UUID!) { testRun(id: $id) { status failedTests infrastructureFailure } }",
            json!({ "id": run }),
        )
        .await;
    assert_eq!(
        data(&body)["testRun"],
        json!({ "status": "FAILED", "failedTests": 9, "infrastructureFailure": true })
    );
    for c in &cases {
        let f = flakiness(&app, *c).await;
        assert_eq!(f["classification"], "HEALTHY", "{f}");
        assert_eq!(f["sampleSize"], 1, "{f}");
        assert_eq!(kept(&pool, *c).await.as_deref(), Some("HEALTHY"));
    }
    assert_eq!(listed(&app, "FLAKY").await, Vec::<Uuid>::new());

    // a maintainer says it was the tests after all: the run's cases are reclassified
    let body = app
        .gql(
            "mutation($id: UUID!) { markInfrastructureFailure(runId: $id, value: false) {
                infrastructureFailure } }",
            json!({ "id": run }),
        )
        .await;
    assert_eq!(
        data(&body)["markInfrastructureFailure"]["infrastructureFailure"],
        false
    );
    assert_eq!(kept(&pool, cases[1]).await.as_deref(), Some("FLAKY"));
    assert_eq!(kept(&pool, cases[0]).await.as_deref(), Some("HEALTHY"));
    let audited: i64 = query_scalar(
        "SELECT count(*) FROM audit_log WHERE table_name = 'test_runs' AND record_id = $1
           AND operation = 'UPDATE' AND changed_by = 'test-admin'
           AND (old_values ->> 'infrastructure_failure')::boolean
           AND NOT (new_values ->> 'infrastructure_failure')::boolean",
    )
    .bind(run)
    .fetch_one(&pool)
    .await
    .expect("audit");
    assert_eq!(audited, 1);

    // a smaller run failing as much is no outage: too few results to tell
    let few: Vec<(Uuid, &str, i32)> = cases[..5].iter().map(|c| (*c, "failed", 0)).collect();
    let small = finished_run(&pool, Some("cafe"), &few).await;
    let flagged: bool = query_scalar("SELECT infrastructure_failure FROM test_runs WHERE id = $1")
        .bind(small)
        .fetch_one(&pool)
        .await
        .expect("flag");
    assert!(!flagged);
}

#[tokio::test]
async fn classification_when_flips_are_fewer_than_the_minimum_sample_then_healthy_until_enough() {
    let app = spawn_app().await;
    let pool = app.db.pool().await;
    let c = case(&pool, "alternating", "test-admin").await;
    for (k, status) in ["passed", "failed", "passed", "failed"].iter().enumerate() {
        finished_run(&pool, Some(&format!("x{k}")), &[(c, status, 0)]).await;
    }
    let f = flakiness(&app, c).await;
    assert_eq!(f["classification"], "HEALTHY", "{f}");
    assert_eq!(codes(&f), ["SAMPLE_TOO_SMALL"]);
    // the project asks for fewer results
    let body = app
        .gql(
            "mutation { updateProject(key: \"default\", input: {flakyMinSample: 4}) {
                flakyMinSample infraFailureShare autoQuarantineFlaky } }",
            json!({}),
        )
        .await;
    assert_eq!(
        data(&body)["updateProject"],
        json!({ "flakyMinSample": 4, "infraFailureShare": 0.5, "autoQuarantineFlaky": false })
    );
    let f = flakiness(&app, c).await;
    assert_eq!(f["classification"], "FLAKY", "{f}");
    assert_eq!(codes(&f), ["FLIP_RATE"]);
    // settings out of bounds
    for (input, field) in [
        (json!({ "flakyMinSample": 1 }), "input.flakyMinSample"),
        (json!({ "flakyMinSample": 21 }), "input.flakyMinSample"),
        (
            json!({ "infraFailureShare": 0.01 }),
            "input.infraFailureShare",
        ),
        (
            json!({ "infraFailureShare": 1.5 }),
            "input.infraFailureShare",
        ),
    ] {
        let body = app
            .gql(
                "mutation($i: UpdateProjectInput!) { updateProject(key: \"default\", input: $i) { key } }",
                json!({ "i": input }),
            )
            .await;
        assert_bad_input(&body, field);
    }
    let stored: i32 = query_scalar("SELECT flaky_min_sample FROM projects WHERE key = 'default'")
        .fetch_one(&pool)
        .await
        .expect("setting");
    assert_eq!(stored, 4);
}

#[tokio::test]
async fn auto_quarantine_when_a_case_becomes_flaky_then_quarantined_and_never_when_broken() {
    let app = spawn_app().await;
    let pool = app.db.pool().await;
    let body = app
        .gql(
            "mutation { updateProject(key: \"default\", input: {autoQuarantineFlaky: true}) {
                autoQuarantineFlaky } }",
            json!({}),
        )
        .await;
    assert_eq!(data(&body)["updateProject"]["autoQuarantineFlaky"], true);
    query(
        "INSERT INTO webhooks(project_id, url, secret, events)
         VALUES ('00000000-0000-0000-0000-000000000001', 'http://127.0.0.1:9/hook',
                 'a-secret-of-sixteen-bytes', ARRAY['case.flaky', 'case.broken'])",
    )
    .execute(&pool)
    .await
    .expect("webhook");
    let flaky = case(&pool, "flaky", "alice").await;
    let broken = case(&pool, "broken", "bob").await;
    finished_run(
        &pool,
        Some("s1"),
        &[(flaky, "passed", 0), (broken, "passed", 0)],
    )
    .await;
    for commit in ["s1", "s2", "s3"] {
        finished_run(
            &pool,
            Some(commit),
            &[(flaky, "failed", 0), (broken, "failed", 0)],
        )
        .await;
    }
    finished_run(
        &pool,
        Some("s4"),
        &[(flaky, "passed", 0), (broken, "failed", 0)],
    )
    .await;
    // the read refreshes the kept classification, which quarantines
    assert_eq!(listed(&app, "FLAKY").await, [flaky]);
    assert_eq!(listed(&app, "BROKEN").await, [broken]);
    let body = app
        .gql(
            "{ quarantinedTests { totalCount nodes { testCaseId owner reason automatic createdBy
                expiresAt active } } }",
            json!({}),
        )
        .await;
    let list = &data(&body)["quarantinedTests"];
    assert_eq!(list["totalCount"], 1, "{body}");
    let q = &list["nodes"][0];
    assert_eq!(q["testCaseId"], flaky.to_string());
    assert_eq!(q["owner"], "alice");
    assert_eq!(q["automatic"], true);
    assert_eq!(q["createdBy"], Value::Null);
    assert_eq!(q["active"], true);
    assert!(
        q["reason"]
            .as_str()
            .is_some_and(|r| r.starts_with("automatically: flaky (")),
        "{q}"
    );
    let days: f64 = query_scalar(
        "SELECT extract(epoch FROM expires_at - created_at)::float8 / 86400
         FROM test_case_quarantines WHERE test_case_id = $1",
    )
    .bind(flaky)
    .fetch_one(&pool)
    .await
    .expect("expiry");
    assert!((days - 14.0).abs() < 0.01, "{days}");
    // each change of class raised its event once, whatever the number of refreshes
    assert_eq!(listed(&app, "FLAKY").await, [flaky]);
    let events: Vec<(String, Uuid, Value)> = sqlx::query_as(
        "SELECT event::text, subject_id, payload -> 'data' FROM webhook_deliveries ORDER BY event",
    )
    .fetch_all(&pool)
    .await
    .expect("deliveries");
    assert_eq!(events.len(), 2, "{events:?}");
    assert_eq!((events[0].0.as_str(), events[0].1), ("case.broken", broken));
    assert_eq!((events[1].0.as_str(), events[1].1), ("case.flaky", flaky));
    let payload = &events[1].2;
    assert_eq!(payload["testCase"], json!({ "id": flaky, "name": "flaky" }));
    assert_eq!(payload["classification"], "FLAKY");
    assert_eq!(payload["previous"], Value::Null);
    assert_eq!(payload["reasons"][0]["code"], "SAME_COMMIT", "{payload}");
    assert_eq!(events[0].2["reasons"][0]["code"], "CONSECUTIVE_FAILURES");
    let broken_quarantined: i64 =
        query_scalar("SELECT count(*) FROM test_case_quarantines WHERE test_case_id = $1")
            .bind(broken)
            .fetch_one(&pool)
            .await
            .expect("count");
    assert_eq!(broken_quarantined, 0);
}

/// Cases of the refresh's cost measure, and results per case.
const COST_CASES: i64 = 3_000;
const COST_RESULTS: i64 = 20;

#[tokio::test]
async fn classification_refresh_cost_per_changed_case_is_printed() {
    let app = spawn_app().await;
    let pool = app.db.pool().await;
    query(
        "WITH c AS (INSERT INTO test_cases(name, status, author)
                    SELECT 'cost ' || g, 'active', 'test-admin' FROM generate_series(1, $1) g
                    RETURNING id),
              r AS (INSERT INTO test_runs(name, status, commit_sha, started_at, completed_at)
                    SELECT 'r' || g, 'passed', 'c' || (g / 2), now(), now()
                    FROM generate_series(1, $2) g
                    RETURNING id, substr(name, 2)::int AS k)
         INSERT INTO test_executions(test_case_id, test_run_id, status, created_at, started_at,
                                     completed_at)
         SELECT c.id, r.id, CASE WHEN random() < 0.1 THEN 'failed' ELSE 'passed' END,
                now() - r.k * interval '1 minute', now() - r.k * interval '1 minute',
                now() - r.k * interval '1 minute'
         FROM c CROSS JOIN r",
    )
    .bind(COST_CASES)
    .bind(COST_RESULTS)
    .execute(&pool)
    .await
    .expect("seed");
    query("SELECT refresh_test_case_flakiness()")
        .execute(&pool)
        .await
        .expect("first refresh");
    // every case changed again: one more result each
    query(
        "INSERT INTO test_executions(test_case_id, status, started_at, completed_at)
         SELECT id, 'failed', now(), now() FROM test_cases WHERE name LIKE 'cost %'",
    )
    .execute(&pool)
    .await
    .expect("changes");
    let started = std::time::Instant::now();
    let n: i32 = query_scalar("SELECT refresh_test_case_flakiness()")
        .fetch_one(&pool)
        .await
        .expect("refresh");
    let elapsed = started.elapsed();
    assert_eq!(i64::from(n), COST_CASES);
    println!(
        "classification refresh: {n} changed cases in {:.1} ms, {:.3} ms per case",
        elapsed.as_secs_f64() * 1000.0,
        elapsed.as_secs_f64() * 1000.0 / f64::from(n)
    );
}
