//! Run context and run comparison: runs carry their commit, branch, build URL and environment
//! (given, or from their configuration; kept by a run started again by its key), and a run is
//! compared with its baseline (the previous finished run of its suite, branch and environment)
//! case by case, by each case's last attempt: new failures, fixed, still failing (since when),
//! new and missing tests, duration regressions. Two 10,000-test runs are compared once for
//! the figures (printed, not asserted).

use std::collections::HashMap;

use serde_json::{Value, json};
use uuid::Uuid;

use crate::helpers::catalog::{assert_bad_input, assert_code, data, uuid};
use crate::helpers::q::{query, query_scalar};
use crate::helpers::{TestApp, spawn_app};

const START: &str = "mutation($input: StartTestRunInput!) {
  startTestRun(input: $input) { id commitSha branch buildUrl environment runKey } }";

const REPORT: &str = "mutation($run: UUID!, $results: [ReportResultInput!]!) {
  reportResults(runId: $run, results: $results) {
    rejected results { ok executionId errorMessage } } }";

const FINISH: &str = "mutation($id: UUID!) { finishTestRun(id: $id) { id status } }";

const LISTS: &str = "counts { newFailures fixed stillFailing newTests missingTests
    durationRegressions unchanged }
  newFailures { ...entry } fixed { ...entry } stillFailing { ...entry
    failingStreak { since runId runs complete } }
  newTests { ...entry } missingTests { ...entry } durationRegressions { ...entry }";

const ENTRY: &str = "fragment entry on ComparedCase { testCaseId testCase { name } baseStatus
  headStatus baseExecutionId headExecutionId baseDurationMs headDurationMs errorFingerprint }";

/// One result: the test's name, its outcome, its duration, its error.
type Result<'a> = (&'a str, &'a str, f64, Option<&'a str>);

/// An ad-hoc run on `branch` with `results` (reported in order: a test named twice gets a
/// second attempt), finished; its id and each test's case.
async fn finished_run(
    app: &TestApp,
    branch: Option<&str>,
    results: &[Result<'_>],
) -> (Uuid, HashMap<String, Uuid>) {
    let body = app
        .gql(
            START,
            json!({ "input": { "name": "nightly", "branch": branch, "environment": "ci" } }),
        )
        .await;
    let run = uuid(&data(&body)["startTestRun"]["id"]);
    let pool = app.db.pool().await;
    let mut cases = HashMap::new();
    for (i, (name, status, ms, error)) in results.iter().enumerate() {
        // one report per result: a test's second result is its next attempt
        let body = app
            .gql(
                REPORT,
                json!({ "run": run, "results": [{
                    "idempotencyKey": format!("{name}-{i}"),
                    "testKey": format!("compare::{name}"),
                    "testName": name,
                    "status": status,
                    "durationMs": ms,
                    "errorMessage": error,
                }] }),
            )
            .await;
        let outcome = &data(&body)["reportResults"]["results"][0];
        assert_eq!(outcome["ok"], true, "{body}");
        let case: Uuid = query_scalar("SELECT test_case_id FROM test_executions WHERE id = $1")
            .bind(uuid(&outcome["executionId"]))
            .fetch_one(&pool)
            .await
            .expect("the execution's case");
        cases.insert((*name).to_owned(), case);
    }
    let body = app.gql(FINISH, json!({ "id": run })).await;
    data(&body);
    (run, cases)
}

fn names(list: &Value) -> Vec<String> {
    let mut out: Vec<String> = list
        .as_array()
        .expect("a list")
        .iter()
        .map(|e| e["testCase"]["name"].as_str().expect("a name").to_owned())
        .collect();
    out.sort();
    out
}

#[tokio::test]
async fn run_context_when_given_or_configured_then_stored_normalised_and_kept_by_its_key() {
    let app = spawn_app().await;
    let body = app
        .gql(
            START,
            json!({ "input": { "name": "a", "commitSha": " ABCDEF1234 ", "branch": " main ",
                    "buildUrl": "https://ci.example/builds/7", "environment": "staging",
                    "runKey": "build-7" } }),
        )
        .await;
    let run = &data(&body)["startTestRun"];
    assert_eq!(
        [
            &run["commitSha"],
            &run["branch"],
            &run["buildUrl"],
            &run["environment"]
        ],
        [
            &json!("abcdef1234"),
            &json!("main"),
            &json!("https://ci.example/builds/7"),
            &json!("staging")
        ]
    );
    // the same key again: the run keeps its context; what it lacks it would gain
    let again = app
        .gql(
            START,
            json!({ "input": { "name": "a", "branch": "other", "runKey": "build-7" } }),
        )
        .await;
    assert_eq!(data(&again)["startTestRun"]["id"], run["id"]);
    assert_eq!(data(&again)["startTestRun"]["branch"], "main");
    let bare = app
        .gql(
            START,
            json!({ "input": { "name": "b", "runKey": "build-8" } }),
        )
        .await;
    assert!(data(&bare)["startTestRun"]["branch"].is_null());
    let filled = app
        .gql(
            START,
            json!({ "input": { "name": "b", "runKey": "build-8", "branch": "dev",
                    "commitSha": "fff" } }),
        )
        .await;
    assert_eq!(data(&filled)["startTestRun"]["branch"], "dev");
    assert_eq!(data(&filled)["startTestRun"]["commitSha"], "fff");
    // from the run configuration's usual keys, each only when valid
    let configured = app
        .gql(
            START,
            json!({ "input": { "name": "c", "runConfiguration": {
                "commit": "CAFE42", "branch": "feature/x", "buildUrl": "not a url",
                "environment": "qa" } } }),
        )
        .await;
    let c = &data(&configured)["startTestRun"];
    assert_eq!(
        [
            &c["commitSha"],
            &c["branch"],
            &c["buildUrl"],
            &c["environment"]
        ],
        [
            &json!("cafe42"),
            &json!("feature/x"),
            &Value::Null,
            &json!("qa")
        ]
    );
    // explicit values are checked
    for (field, value) in [
        ("commitSha", json!("not a sha!")),
        ("commitSha", json!("a".repeat(65))),
        ("branch", json!("   ")),
        ("buildUrl", json!("ftp://ci.example/1")),
        ("environment", json!("e".repeat(101))),
    ] {
        let mut input = json!({ "name": "bad" });
        input[field] = value;
        let body = app.gql(START, json!({ "input": input })).await;
        assert_bad_input(&body, field);
    }
    // the import endpoint takes the same, as parameters
    let (status, answer) = crate::helpers::import::import(
        &app,
        "runKey=imp-1&commitSha=BEEF&branch=main&buildUrl=https%3A%2F%2Fci.example%2F9",
        r#"<testsuite name="s"><testcase classname="c" name="t"/></testsuite>"#,
    )
    .await;
    assert_eq!(status, 200, "{answer}");
    let pool = app.db.pool().await;
    let stored: (Option<String>, Option<String>, Option<String>) = crate::helpers::q::query_as(
        "SELECT commit_sha, branch, build_url FROM test_runs WHERE run_key = 'imp-1'",
    )
    .fetch_one(&pool)
    .await
    .expect("the imported run");
    assert_eq!(
        stored,
        (
            Some("beef".to_owned()),
            Some("main".to_owned()),
            Some("https://ci.example/9".to_owned())
        )
    );
    let (status, answer) = crate::helpers::import::import(
        &app,
        "runKey=imp-2&commitSha=no%20way",
        r#"<testsuite name="s"><testcase classname="c" name="t"/></testsuite>"#,
    )
    .await;
    assert_eq!(status, 400, "{answer}");
    // runs filtered by branch and commit
    let body = app
        .gql(
            "{ byBranch: testRuns(filter: { branch: \"main\" }) { totalCount }
               byCommit: testRuns(filter: { commitSha: \"ABCDEF1234\" }) { nodes { id } } }",
            json!({}),
        )
        .await;
    assert_eq!(data(&body)["byBranch"]["totalCount"], 2, "{body}");
    assert_eq!(data(&body)["byCommit"]["nodes"][0]["id"], run["id"]);
}

#[tokio::test]
async fn compare_runs_when_a_crafted_pair_then_every_list_is_exact() {
    let app = spawn_app().await;
    // an older run: `long` already failed, `streak` passed
    let (older, _) = finished_run(
        &app,
        Some("main"),
        &[
            ("long", "FAILED", 10.0, Some("old failure")),
            ("streak", "PASSED", 10.0, None),
        ],
    )
    .await;
    let (base, cases) = finished_run(
        &app,
        Some("main"),
        &[
            ("breaks", "PASSED", 50.0, None),
            ("heals", "FAILED", 50.0, Some("expected 1 got 2")),
            ("streak", "FAILED", 50.0, Some("boom 1")),
            ("long", "FAILED", 50.0, Some("boom 2")),
            ("slows", "PASSED", 100.0, None),
            ("jitters", "PASSED", 300.0, None),
            ("goes", "PASSED", 10.0, None),
            ("wakes", "SKIPPED", 10.0, None),
            ("retried", "PASSED", 10.0, None),
            ("steady", "PASSED", 10.0, None),
        ],
    )
    .await;
    // a run of another branch and one that was an outage are never baselines
    finished_run(&app, Some("feature"), &[("breaks", "PASSED", 1.0, None)]).await;
    let (outage, _) = finished_run(&app, Some("main"), &[("breaks", "FAILED", 1.0, None)]).await;
    let pool = app.db.pool().await;
    query("UPDATE test_runs SET infrastructure_failure = true WHERE id = $1")
        .bind(outage)
        .execute(&pool)
        .await
        .expect("an outage");
    let (head, head_cases) = finished_run(
        &app,
        Some("main"),
        &[
            (
                "breaks",
                "FAILED",
                50.0,
                Some("timeout after 3000 ms at /srv/app/x.js:12"),
            ),
            ("heals", "PASSED", 50.0, None),
            ("streak", "FAILED", 50.0, Some("boom 3")),
            ("long", "FAILED", 50.0, Some("boom 4")),
            ("slows", "PASSED", 350.0, None),
            ("jitters", "PASSED", 420.0, None),
            ("wakes", "PASSED", 10.0, None),
            ("retried", "FAILED", 10.0, Some("flaky")),
            ("retried", "PASSED", 10.0, None),
            ("steady", "PASSED", 10.0, None),
            ("arrives", "PASSED", 10.0, None),
            ("arrives_broken", "FAILED", 10.0, Some("never worked")),
        ],
    )
    .await;
    let query_text = format!(
        "query($id: UUID!) {{ testRun(id: $id) {{ baseline {{ id }} comparison {{
           base {{ id }} head {{ id }} durationThreshold {LISTS} }} }} }} {ENTRY}"
    );
    let body = app.gql(&query_text, json!({ "id": head })).await;
    let run = &data(&body)["testRun"];
    assert_eq!(run["baseline"]["id"], json!(base), "{body}");
    let c = &run["comparison"];
    assert_eq!(c["base"]["id"], json!(base));
    assert_eq!(c["durationThreshold"], 0.5);
    assert_eq!(
        c["counts"],
        json!({ "newFailures": 2, "fixed": 1, "stillFailing": 2, "newTests": 2,
                "missingTests": 1, "durationRegressions": 1, "unchanged": 4 }),
        "{body}"
    );
    assert_eq!(names(&c["newFailures"]), ["arrives_broken", "breaks"]);
    assert_eq!(names(&c["fixed"]), ["heals"]);
    assert_eq!(names(&c["stillFailing"]), ["long", "streak"]);
    assert_eq!(names(&c["newTests"]), ["arrives", "arrives_broken"]);
    assert_eq!(names(&c["missingTests"]), ["goes"]);
    assert_eq!(names(&c["durationRegressions"]), ["slows"]);
    let breaks = c["newFailures"]
        .as_array()
        .and_then(|l| l.iter().find(|e| e["testCase"]["name"] == "breaks"))
        .expect("breaks");
    assert_eq!(breaks["testCaseId"], json!(cases["breaks"]));
    assert_eq!(
        (&breaks["baseStatus"], &breaks["headStatus"]),
        (&json!("PASSED"), &json!("FAILED"))
    );
    assert_eq!(
        breaks["errorFingerprint"],
        "timeout after <n> ms at <path>:<n>"
    );
    let expected_execution: Uuid =
        query_scalar("SELECT id FROM test_executions WHERE test_run_id = $1 AND test_case_id = $2")
            .bind(head)
            .bind(cases["breaks"])
            .fetch_one(&pool)
            .await
            .expect("the head execution");
    assert_eq!(breaks["headExecutionId"], json!(expected_execution));
    let fixed = &c["fixed"][0];
    assert_eq!(fixed["errorFingerprint"], "expected <n> got <n>");
    assert!(fixed["headExecutionId"].is_string() && fixed["baseExecutionId"].is_string());
    let slows = &c["durationRegressions"][0];
    assert_eq!(
        (&slows["baseDurationMs"], &slows["headDurationMs"]),
        (&json!(100), &json!(350))
    );
    let missing = &c["missingTests"][0];
    assert!(missing["headStatus"].is_null() && missing["baseStatus"] == "PASSED");
    // since when: `long` has failed since the older run, `streak` since the base run
    let streaks: HashMap<String, Value> = c["stillFailing"]
        .as_array()
        .expect("still failing")
        .iter()
        .map(|e| {
            (
                e["testCase"]["name"].as_str().unwrap_or("").to_owned(),
                e["failingStreak"].clone(),
            )
        })
        .collect();
    assert_eq!(streaks["long"]["runId"], json!(older));
    assert_eq!(streaks["long"]["runs"], 2);
    assert_eq!(streaks["long"]["complete"], true);
    assert_eq!(streaks["streak"]["runId"], json!(base));
    assert_eq!(streaks["streak"]["runs"], 1);
    assert_eq!(head_cases["retried"], cases["retried"]);

    // compareRuns says the same; `first` bounds each list, and a tighter threshold finds more
    let body = app
        .gql(
            &format!(
                "query($b: UUID!, $h: UUID!) {{ compareRuns(base: $b, head: $h,
                   durationThreshold: 0.2) {{ counts {{ newFailures durationRegressions }}
                   one: newFailures(first: 1) {{ ...entry }} newFailures {{ ...entry }}
                   durationRegressions {{ ...entry }} }} }} {ENTRY}"
            ),
            json!({ "b": base, "h": head }),
        )
        .await;
    let c = &data(&body)["compareRuns"];
    assert_eq!(c["counts"]["newFailures"], 2);
    assert_eq!(c["one"].as_array().map(Vec::len), Some(1));
    assert_eq!(c["newFailures"].as_array().map(Vec::len), Some(2));
    assert_eq!(names(&c["durationRegressions"]), ["jitters", "slows"]);
    // most slowed down first
    assert_eq!(c["durationRegressions"][0]["testCase"]["name"], "slows");

    // errors: an unknown run, runs of two projects, bad bounds
    let compare = "query($b: UUID!, $h: UUID!, $t: Float) { compareRuns(base: $b, head: $h,
        durationThreshold: $t) { counts { fixed } newFailures(first: 5000) { testCaseId } } }";
    let body = app
        .gql(compare, json!({ "b": Uuid::new_v4(), "h": head }))
        .await;
    assert_code(&body, "BAD_USER_INPUT");
    let plain = "query($b: UUID!, $h: UUID!, $t: Float) { compareRuns(base: $b, head: $h,
        durationThreshold: $t) { counts { fixed } } }";
    let body = app
        .gql(plain, json!({ "b": Uuid::new_v4(), "h": head }))
        .await;
    assert_code(&body, "NOT_FOUND");
    let body = app
        .gql(plain, json!({ "b": base, "h": head, "t": -1.0 }))
        .await;
    assert_bad_input(&body, "durationThreshold");
    crate::helpers::projects::project(&app, "other").await;
    let body = app
        .gql(
            START,
            json!({ "input": { "name": "elsewhere", "projectKey": "other" } }),
        )
        .await;
    let elsewhere = uuid(&data(&body)["startTestRun"]["id"]);
    let body = app.gql(plain, json!({ "b": base, "h": elsewhere })).await;
    assert_bad_input(&body, "head");
    // the first run of a series has no baseline
    let body = app
        .gql(
            "query($id: UUID!) { testRun(id: $id) { baseline { id } comparison { counts { fixed } } } }",
            json!({ "id": older }),
        )
        .await;
    assert!(data(&body)["testRun"]["comparison"].is_null(), "{body}");
}

#[tokio::test]
async fn comparisons_of_a_page_of_runs_when_listed_then_read_in_a_bounded_number_of_statements() {
    let app = spawn_app().await;
    for i in 0..4 {
        finished_run(
            &app,
            Some("main"),
            &[
                ("a", if i % 2 == 0 { "PASSED" } else { "FAILED" }, 5.0, None),
                ("b", "FAILED", 5.0, Some("always")),
            ],
        )
        .await;
    }
    let page = "{ testRuns(first: 10) { nodes { id comparison { counts { newFailures fixed }
        stillFailing { testCaseId failingStreak { runs } } } } } }";
    let before = app.statements();
    let body = app.gql(page, json!({})).await;
    let used = app.statements() - before;
    let nodes = data(&body)["testRuns"]["nodes"]
        .as_array()
        .expect("runs")
        .clone();
    assert_eq!(nodes.len(), 4);
    assert_eq!(
        nodes.iter().filter(|n| n["comparison"].is_null()).count(),
        1
    );
    // the newest run: `b` has failed in all four runs (the base and the two before it)
    assert_eq!(
        nodes[0]["comparison"]["stillFailing"][0]["failingStreak"]["runs"],
        3
    );
    // the page, its baselines, their comparisons, the streaks: not a statement per run
    assert!(used <= 12, "{used} statements for a page of 4 comparisons");
}

#[tokio::test]
async fn compare_runs_when_two_ten_thousand_test_runs_then_figures_are_printed() {
    const CASES: i64 = 10_000;
    // other runs' executions, so that the two runs are found among a million
    const BACKGROUND_RUNS: i64 = 98;
    let app = spawn_app().await;
    let pool = app.db.pool().await;
    let started = std::time::Instant::now();
    let superuser: bool =
        query_scalar("SELECT rolsuper FROM pg_roles WHERE rolname = current_user")
            .fetch_one(&pool)
            .await
            .expect("role");
    let mut tx = pool.begin().await.expect("tx");
    if superuser {
        // the data is the test's: its triggers' bookkeeping is not what is measured
        query("SET LOCAL session_replication_role = replica")
            .execute(&mut *tx)
            .await
            .expect("replica role");
    }
    query(
        "INSERT INTO test_cases(id, name, status, author)
         SELECT (lpad(to_hex(g), 8, '0') || '-0000-4000-8000-000000000000')::uuid,
                'big case ' || g, 'active', 'test-admin'
         FROM generate_series(1, $1) g",
    )
    .bind(CASES)
    .execute(&mut *tx)
    .await
    .expect("cases");
    query(
        "INSERT INTO test_runs(id, name, status, total_tests, branch, created_at, started_at,
                               completed_at)
         SELECT (lpad(to_hex(r), 8, '0') || '-0000-4000-8000-000000000001')::uuid,
                'big run ' || r, 'passed', 0, CASE WHEN r <= 2 THEN 'main' ELSE 'bg' END,
                now() - (200 - r) * interval '1 hour', now() - (200 - r) * interval '1 hour',
                now() - (200 - r) * interval '1 hour' + interval '10 minutes'
         FROM generate_series(1, $1) r",
    )
    .bind(BACKGROUND_RUNS + 2)
    .execute(&mut *tx)
    .await
    .expect("runs");
    // run 1 is the base, run 2 the head: 1% newly failing, 1% fixed, 1% slower, 100 cases
    // swapped for others
    query(
        "INSERT INTO test_executions(test_case_id, test_run_id, status, duration_ms,
                                     error_message, completed_at, retry_attempt)
         SELECT (lpad(to_hex(g), 8, '0') || '-0000-4000-8000-000000000000')::uuid,
                (lpad(to_hex(r), 8, '0') || '-0000-4000-8000-000000000001')::uuid,
                CASE WHEN r = 2 AND g % 100 = 1 THEN 'failed'
                     WHEN r = 1 AND g % 100 = 2 THEN 'failed'
                     WHEN g % 500 = 3 THEN 'failed' ELSE 'passed' END,
                CASE WHEN r = 2 AND g % 100 = 4 THEN 900 ELSE 100 + g % 50 END,
                CASE WHEN g % 100 IN (1, 2) OR g % 500 = 3
                     THEN 'assertion ' || g || ' failed at line ' || (g % 70) END,
                now(), 0
         FROM generate_series(1, $1) r, generate_series(1, $2) g
         WHERE NOT (r = 1 AND g > $2 - 100) AND NOT (r = 2 AND g <= 100)",
    )
    .bind(BACKGROUND_RUNS + 2)
    .bind(CASES)
    .execute(&mut *tx)
    .await
    .expect("executions");
    tx.commit().await.expect("commit");
    query("VACUUM ANALYZE test_executions")
        .execute(&pool)
        .await
        .expect("vacuum");
    query("ANALYZE test_runs")
        .execute(&pool)
        .await
        .expect("analyze");
    let total: i64 = query_scalar("SELECT count(*) FROM test_executions")
        .fetch_one(&pool)
        .await
        .expect("count");
    eprintln!(
        "compareRuns figures: {total} executions built in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    let base = Uuid::parse_str("00000001-0000-4000-8000-000000000001").expect("id");
    let head = Uuid::parse_str("00000002-0000-4000-8000-000000000001").expect("id");
    if std::env::var("JBTS_EXPLAIN").is_ok() {
        use sea_orm::{ConnectionTrait, TransactionTrait};
        let sea = app.db.sea().await;
        let request = api::insights::compare::Request {
            base,
            head,
            threshold_bits: 0.5f64.to_bits(),
            limits: [100; 6],
            quarantine: false,
        };
        let stmt = api::insights::compare::statement(&[request]);
        for role in [None, Some("application_admins"), Some("application_users")] {
            let tx = sea.begin().await.expect("tx");
            tx.execute_unprepared("SET LOCAL jit = off")
                .await
                .expect("jit off");
            if let Some(role) = role {
                tx.execute_unprepared(&format!(
                    "SELECT app_begin_request('test-admin', '{}', '{role}', NULL, NULL, '60s')",
                    if role == "application_admins" {
                        "admin"
                    } else {
                        "member"
                    }
                ))
                .await
                .expect("request context");
            }
            let rows = tx
                .query_all_raw(sea_orm::Statement::from_sql_and_values(
                    sea_orm::DbBackend::Postgres,
                    format!("EXPLAIN (ANALYZE, BUFFERS) {}", stmt.sql),
                    stmt.values.clone().map(|v| v.0).unwrap_or_default(),
                ))
                .await
                .expect("explain");
            eprintln!("---- plan as {role:?}");
            for row in rows {
                let line: String = row.try_get_by_index(0).expect("line");
                eprintln!("{line}");
            }
            let _ = tx.rollback().await;
        }
    }
    let text = format!(
        "query($b: UUID!, $h: UUID!) {{ compareRuns(base: $b, head: $h) {{ {LISTS} }} }} {ENTRY}"
    );
    let mut times = Vec::new();
    let mut last = Value::Null;
    for _ in 0..7 {
        let t = std::time::Instant::now();
        last = app.gql(&text, json!({ "b": base, "h": head })).await;
        times.push(t.elapsed().as_secs_f64() * 1000.0);
    }
    let counts = &data(&last)["compareRuns"]["counts"];
    assert_eq!(counts["missingTests"], 100, "{counts}");
    assert_eq!(counts["newTests"], 100, "{counts}");
    times.sort_by(f64::total_cmp);
    eprintln!(
        "compareRuns of two {CASES}-test runs among {total} executions, every list (100 entries \
         each, streaks included), over HTTP: min {:.1} ms, median {:.1} ms, max {:.1} ms; \
         counts {counts}",
        times[0],
        times[times.len() / 2],
        times[times.len() - 1]
    );
    let counts_only = "query($b: UUID!, $h: UUID!) { compareRuns(base: $b, head: $h) {
        counts { newFailures fixed stillFailing newTests missingTests durationRegressions
        unchanged } } }";
    let mut times = Vec::new();
    for _ in 0..7 {
        let t = std::time::Instant::now();
        data(&app.gql(counts_only, json!({ "b": base, "h": head })).await);
        times.push(t.elapsed().as_secs_f64() * 1000.0);
    }
    times.sort_by(f64::total_cmp);
    eprintln!(
        "compareRuns counts only: min {:.1} ms, median {:.1} ms, max {:.1} ms",
        times[0],
        times[times.len() / 2],
        times[times.len() - 1]
    );
}
