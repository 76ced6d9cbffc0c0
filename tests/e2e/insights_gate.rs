//! The quality gate: a run fails it for new failures against its baseline (quarantined cases
//! left out), an unfinished state, a low pass rate or duration regressions, with a reason per
//! rule; `evaluateQualityGate` raises `quality_gate.failed` for the project's webhooks in the
//! same transaction; the reporter's `--gate` prints the verdict and exits 3 when it fails.

use serde_json::{Value, json};
use uuid::Uuid;

use crate::helpers::catalog::{assert_bad_input, assert_code, data, uuid};
use crate::helpers::q::{query, query_scalar};
use crate::helpers::{TestApp, spawn_app};

const START: &str = "mutation($input: StartTestRunInput!) { startTestRun(input: $input) { id } }";

const REPORT: &str = "mutation($run: UUID!, $results: [ReportResultInput!]!) {
  reportResults(runId: $run, results: $results) { rejected } }";

const GATE: &str = "query($run: UUID!, $rules: QualityGateRules) {
  qualityGate(runId: $run, rules: $rules) { status baseline { id } run { id }
    reasons { rule passed message actual expected }
    comparison { counts { newFailures } newFailures { testCase { name } } } } }";

const EVALUATE: &str = "mutation($run: UUID!, $rules: QualityGateRules) {
  evaluateQualityGate(runId: $run, rules: $rules) { status reasons { rule passed } } }";

/// The default project, where ad-hoc runs go.
const DEFAULT_PROJECT: &str = "00000000-0000-0000-0000-000000000001";

/// An ad-hoc run of branch `main` with `results` (name, outcome, duration in ms), finished
/// when `finish`.
async fn run(app: &TestApp, results: &[(&str, &str, f64)], finish: bool) -> Uuid {
    let body = app
        .gql(
            START,
            json!({ "input": { "name": "build", "branch": "main" } }),
        )
        .await;
    let id = uuid(&data(&body)["startTestRun"]["id"]);
    let items: Vec<Value> = results
        .iter()
        .map(|(name, status, ms)| {
            json!({ "idempotencyKey": name, "testKey": format!("gate::{name}"),
                    "testName": name, "status": status, "durationMs": ms,
                    "errorMessage": if *status == "FAILED" { Some("it broke") } else { None } })
        })
        .collect();
    let body = app
        .gql(REPORT, json!({ "run": id, "results": items }))
        .await;
    assert_eq!(data(&body)["reportResults"]["rejected"], 0, "{body}");
    if finish {
        let body = app
            .gql(
                "mutation($id: UUID!) { finishTestRun(id: $id) { id } }",
                json!({ "id": id }),
            )
            .await;
        data(&body);
    }
    id
}

fn reason<'a>(result: &'a Value, rule: &str) -> &'a Value {
    result["reasons"]
        .as_array()
        .and_then(|r| r.iter().find(|r| r["rule"] == rule))
        .unwrap_or_else(|| panic!("no {rule} reason: {result}"))
}

async fn case_of(app: &TestApp, name: &str) -> Uuid {
    query_scalar("SELECT id FROM test_cases WHERE name = $1")
        .bind(name)
        .fetch_one(&app.db.pool().await)
        .await
        .expect("the case")
}

#[tokio::test]
async fn quality_gate_when_new_failures_then_failed_and_quarantined_cases_left_out() {
    let app = spawn_app().await;
    let base = run(
        &app,
        &[
            ("a", "PASSED", 10.0),
            ("b", "PASSED", 10.0),
            ("c", "FAILED", 10.0),
            ("d", "PASSED", 10.0),
        ],
        true,
    )
    .await;
    let head = run(
        &app,
        &[
            ("a", "FAILED", 10.0),
            ("b", "FAILED", 10.0),
            ("c", "FAILED", 10.0),
            ("d", "PASSED", 500.0),
        ],
        true,
    )
    .await;
    let body = app.gql(GATE, json!({ "run": head })).await;
    let gate = &data(&body)["qualityGate"];
    assert_eq!(gate["status"], "FAILED", "{body}");
    assert_eq!(gate["baseline"]["id"], json!(base));
    // `c` failed before too: only `a` and `b` are new
    let new = reason(gate, "MAX_NEW_FAILURES");
    assert_eq!(
        (&new["passed"], &new["actual"], &new["expected"]),
        (&json!(false), &json!(2.0), &json!(0.0))
    );
    assert_eq!(reason(gate, "REQUIRE_FINISHED")["passed"], true);
    assert_eq!(gate["comparison"]["counts"]["newFailures"], 2);
    // a quarantined case's failure does not count
    query(
        "INSERT INTO test_case_quarantines(test_case_id, project_id, reason, owner)
         VALUES ($1, $2::uuid, 'flaky on CI', 'test-admin')",
    )
    .bind(case_of(&app, "a").await)
    .bind(DEFAULT_PROJECT)
    .execute(&app.db.pool().await)
    .await
    .expect("a quarantine");
    let body = app
        .gql(
            GATE,
            json!({ "run": head, "rules": { "maxNewFailures": 1, "minPassRate": 0.5,
                    "maxDurationRegressions": 0 } }),
        )
        .await;
    let gate = &data(&body)["qualityGate"];
    let new = reason(gate, "MAX_NEW_FAILURES");
    assert_eq!(
        (&new["passed"], &new["actual"]),
        (&json!(true), &json!(1.0))
    );
    // pass rate: 1 passed of 3 rated (a's failure left out)
    let rate = reason(gate, "MIN_PASS_RATE");
    assert_eq!(rate["passed"], false, "{body}");
    assert!((rate["actual"].as_f64().unwrap_or(0.0) - 1.0 / 3.0).abs() < 1e-9);
    // `d` took 500 ms instead of 10
    assert_eq!(reason(gate, "MAX_DURATION_REGRESSIONS")["actual"], 1.0);
    assert_eq!(gate["status"], "FAILED");
    let body = app
        .gql(
            GATE,
            json!({ "run": head, "rules": { "maxNewFailures": 1, "minPassRate": 0.3 } }),
        )
        .await;
    assert_eq!(data(&body)["qualityGate"]["status"], "PASSED", "{body}");
    // an explicit baseline: against itself nothing is new
    let body = app
        .gql(
            GATE,
            json!({ "run": head, "rules": { "baselineRunId": head } }),
        )
        .await;
    assert_eq!(data(&body)["qualityGate"]["status"], "PASSED", "{body}");
}

#[tokio::test]
async fn quality_gate_when_run_unfinished_or_without_baseline_then_says_why() {
    let app = spawn_app().await;
    let open = run(&app, &[("a", "PASSED", 1.0), ("b", "FAILED", 1.0)], false).await;
    let body = app.gql(GATE, json!({ "run": open })).await;
    let gate = &data(&body)["qualityGate"];
    assert_eq!(gate["status"], "FAILED");
    let finished = reason(gate, "REQUIRE_FINISHED");
    assert_eq!(finished["passed"], false);
    assert!(
        finished["message"]
            .as_str()
            .is_some_and(|m| m.contains("not finished")),
        "{body}"
    );
    // no baseline: every failure is new
    assert!(gate["baseline"].is_null() && gate["comparison"].is_null());
    assert_eq!(reason(gate, "MAX_NEW_FAILURES")["actual"], 1.0);
    let body = app
        .gql(
            GATE,
            json!({ "run": open, "rules": { "requireFinished": false, "maxNewFailures": 1 } }),
        )
        .await;
    let gate = &data(&body)["qualityGate"];
    assert_eq!(gate["status"], "PASSED", "{body}");
    assert!(
        gate["reasons"]
            .as_array()
            .is_some_and(|r| r.iter().all(|r| r["rule"] != "REQUIRE_FINISHED"))
    );
}

#[tokio::test]
async fn quality_gate_when_inputs_are_bad_then_coded_errors() {
    let app = spawn_app().await;
    let id = run(&app, &[("a", "PASSED", 1.0)], true).await;
    for (rules, field) in [
        (json!({ "minPassRate": 1.5 }), "rules.minPassRate"),
        (json!({ "maxNewFailures": -1 }), "rules.maxNewFailures"),
        (
            json!({ "maxDurationRegressions": 2_000_000 }),
            "rules.maxDurationRegressions",
        ),
        (json!({ "durationThreshold": 0 }), "rules.durationThreshold"),
    ] {
        let body = app.gql(GATE, json!({ "run": id, "rules": rules })).await;
        assert_bad_input(&body, field);
    }
    let body = app.gql(GATE, json!({ "run": Uuid::new_v4() })).await;
    assert_code(&body, "NOT_FOUND");
    let body = app
        .gql(
            GATE,
            json!({ "run": id, "rules": { "baselineRunId": Uuid::new_v4() } }),
        )
        .await;
    assert_code(&body, "NOT_FOUND");
    let body = app.gql(EVALUATE, json!({ "run": Uuid::new_v4() })).await;
    assert_code(&body, "NOT_FOUND");
}

#[tokio::test]
async fn evaluate_quality_gate_when_failed_then_its_webhook_event_is_queued_with_the_run() {
    let app = spawn_app().await;
    let pool = app.db.pool().await;
    query(
        "INSERT INTO webhooks(project_id, url, secret, events)
         VALUES ($1::uuid, 'http://127.0.0.1:9/hook', 'sixteen-char-secret', ARRAY['quality_gate.failed'])",
    )
    .bind(DEFAULT_PROJECT)
    .execute(&pool)
    .await
    .expect("a webhook");
    run(&app, &[("a", "PASSED", 1.0)], true).await;
    let body = app
        .gql(
            START,
            json!({ "input": { "name": "build", "branch": "main", "commitSha": "abc123",
                    "buildUrl": "https://ci.example/5" } }),
        )
        .await;
    let head = uuid(&data(&body)["startTestRun"]["id"]);
    let body = app
        .gql(
            REPORT,
            json!({ "run": head, "results": [{ "idempotencyKey": "a", "testKey": "gate::a",
                    "testName": "a", "status": "FAILED" }] }),
        )
        .await;
    data(&body);
    app.gql(
        "mutation($id: UUID!) { finishTestRun(id: $id) { id } }",
        json!({ "id": head }),
    )
    .await;
    let gate_events = || async {
        query_scalar::<Value>(
            "SELECT coalesce(jsonb_agg(payload), '[]') FROM webhook_deliveries
             WHERE event = 'quality_gate.failed'",
        )
        .fetch_one(&pool)
        .await
        .expect("deliveries")
    };
    // the query alone raises nothing
    data(&app.gql(GATE, json!({ "run": head })).await);
    assert_eq!(gate_events().await, json!([]));
    let body = app.gql(EVALUATE, json!({ "run": head })).await;
    assert_eq!(data(&body)["evaluateQualityGate"]["status"], "FAILED");
    let events = gate_events().await;
    assert_eq!(events.as_array().map(Vec::len), Some(1), "{events}");
    let payload = &events[0]["data"];
    assert_eq!(payload["run"]["id"], json!(head));
    assert_eq!(payload["run"]["commitSha"], "abc123");
    assert_eq!(payload["run"]["branch"], "main");
    assert_eq!(payload["run"]["buildUrl"], "https://ci.example/5");
    assert_eq!(payload["status"], "FAILED");
    assert_eq!(
        payload["reasons"][1]["rule"], "MAX_NEW_FAILURES",
        "{payload}"
    );
    let subject: Option<Uuid> = query_scalar(
        "SELECT subject_id FROM webhook_deliveries WHERE event = 'quality_gate.failed'",
    )
    .fetch_one(&pool)
    .await
    .expect("subject");
    assert_eq!(subject, Some(head));
    // a gate that passes raises nothing
    let body = app
        .gql(
            EVALUATE,
            json!({ "run": head, "rules": { "maxNewFailures": 5 } }),
        )
        .await;
    assert_eq!(data(&body)["evaluateQualityGate"]["status"], "PASSED");
    assert_eq!(gate_events().await.as_array().map(Vec::len), Some(1));
    // a viewer of the project may read the gate, not raise its event
    crate::helpers::projects::member(&app, "default", "viewer-1", "VIEWER").await;
    let viewer = crate::helpers::projects::token(&app, "viewer-1", None, None).await;
    let body = app.gql_as(&viewer, EVALUATE, json!({ "run": head })).await;
    assert_code(&body, "FORBIDDEN");
}

#[tokio::test]
async fn reporter_gate_when_a_test_newly_fails_then_prints_the_verdict_and_exits_3() {
    let app = spawn_app().await;
    let pool = app.db.pool().await;
    let dir = tempfile::tempdir().expect("dir");
    let passing = dir.path().join("passing.xml");
    let failing = dir.path().join("failing.xml");
    std::fs::write(
        &passing,
        r#"<testsuite name="s"><testcase classname="c" name="one"/><testcase classname="c" name="two"/></testsuite>"#,
    )
    .expect("write");
    std::fs::write(
        &failing,
        r#"<testsuite name="s"><testcase classname="c" name="one"><failure message="broke"/></testcase><testcase classname="c" name="two"/></testsuite>"#,
    )
    .expect("write");
    let bin = env!("CARGO_BIN_EXE_jbtestsuite");
    let report = |file: &std::path::Path, build: &str, extra: &[&str]| {
        let mut cmd = std::process::Command::new(bin);
        cmd.arg("report")
            .arg(file)
            .args(["--gate", "--run-key", build])
            .args(extra)
            .arg("--url")
            .arg(app.url(""))
            .env("JBTS_TOKEN", &app.admin_token)
            .env_remove("DATABASE_URL");
        for var in [
            "GITHUB_HEAD_REF",
            "CI_COMMIT_SHA",
            "CI_COMMIT_REF_NAME",
            "CI_JOB_URL",
            "GIT_COMMIT",
            "GIT_BRANCH",
            "BUILD_URL",
        ] {
            cmd.env_remove(var);
        }
        // as GitHub Actions sets them
        cmd.env("GITHUB_SHA", format!("AAAA{build}"))
            .env("GITHUB_REF_NAME", "main")
            .env("GITHUB_SERVER_URL", "https://github.example")
            .env("GITHUB_REPOSITORY", "shop/web")
            .env("GITHUB_RUN_ID", build);
        async move {
            tokio::task::spawn_blocking(move || cmd.output())
                .await
                .expect("join")
                .expect("run the cli")
        }
    };
    let out = report(&passing, "101", &[]).await;
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    assert_eq!(out.status.code(), Some(0), "{stdout}");
    assert!(stdout.contains("quality gate: PASSED"), "{stdout}");
    let stored: (String, String, String, String) = crate::helpers::q::query_as(
        "SELECT commit_sha, branch, build_url, status FROM test_runs WHERE run_key = '101'",
    )
    .fetch_one(&pool)
    .await
    .expect("the run");
    assert_eq!(
        stored,
        (
            "aaaa101".to_owned(),
            "main".to_owned(),
            "https://github.example/shop/web/actions/runs/101".to_owned(),
            "passed".to_owned()
        )
    );
    // `one` newly fails against build 101: the gate fails, the job with code 3
    let out = report(&failing, "102", &[]).await;
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    assert_eq!(
        out.status.code(),
        Some(3),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("quality gate: FAILED"), "{stdout}");
    assert!(
        stdout.contains("FAILED MAX_NEW_FAILURES: 1 new failures"),
        "{stdout}"
    );
    // the same failure in the next build is not new; a pass-rate rule still holds it to 0.9
    let out = report(&failing, "103", &[]).await;
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    let out = report(&failing, "104", &["--min-pass-rate", "0.9"]).await;
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    assert_eq!(out.status.code(), Some(3), "{stdout}");
    assert!(stdout.contains("MIN_PASS_RATE"), "{stdout}");
}
