//! `POST /api/v1/import`: reports written by real test frameworks (the committed fixtures)
//! come in with their counts, attempts, steps and attachments; importing twice changes
//! nothing; shards with one run key land in one run; gzip; durations in milliseconds; live
//! progress during an import. Refusals and bounds are in `import_errors`.

use std::collections::HashMap;

use serde_json::{Value, json};
use uuid::Uuid;

use crate::helpers::catalog::{count, data};
use crate::helpers::import::{fixture, fixture_bytes, import, import_as, junit};
use crate::helpers::q::{query_as, query_scalar};
use crate::helpers::runs::{assert_exact, snapshot};
use crate::helpers::spawn_app;

fn run_id(answer: &Value) -> Uuid {
    answer["run"]["id"]
        .as_str()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no run in {answer}"))
}

#[tokio::test]
async fn every_fixture_imports_with_the_counts_its_tool_reported() {
    let app = spawn_app().await;
    let pool = app.db.pool().await;
    let expected: HashMap<String, Value> =
        serde_json::from_slice(&fixture_bytes("expected.json")).expect("expected.json");
    assert!(expected.len() >= 9, "{expected:?}");
    for (file, want) in &expected {
        let (status, answer) = import(
            &app,
            &format!("runKey=fixture-{file}&finish=true"),
            fixture_bytes(file),
        )
        .await;
        assert_eq!(status, 200, "{file}: {answer}");
        assert_eq!(answer["format"], want["format"], "{file}");
        let tests = want["tests"].as_i64().expect("tests");
        assert_eq!(answer["accepted"], json!(tests), "{file}: {answer}");
        assert_eq!(answer["rejected"], json!(0), "{file}: {answer}");
        let run = &answer["run"];
        for (field, key) in [
            ("totalTests", "tests"),
            ("passedTests", "passed"),
            ("failedTests", "failed"),
            ("skippedTests", "skipped"),
        ] {
            assert_eq!(run[field], want[key], "{file}: {field} in {answer}");
        }
        let failed = want["failed"].as_i64().unwrap_or(0);
        assert_eq!(
            run["status"],
            if failed > 0 { "FAILED" } else { "PASSED" },
            "{file}"
        );
        let id = run_id(&answer);
        assert_exact(&pool, id, file).await;
        // tests that ran more than once keep every attempt
        let retried: i64 = query_scalar(
            "SELECT count(DISTINCT test_case_id) FROM test_executions
             WHERE test_run_id = $1 AND retry_attempt > 0",
        )
        .bind(id)
        .fetch_one(&pool)
        .await
        .expect("retried");
        assert_eq!(json!(retried), want["retried"], "{file}: retried");
        for key in want["keys"].as_array().expect("keys") {
            let found: i64 = query_scalar(
                "SELECT count(*) FROM test_cases tc JOIN test_executions e ON e.test_case_id = tc.id
                 WHERE tc.identity_key = $1 AND e.test_run_id = $2",
            )
            .bind(key.as_str().expect("key"))
            .bind(id)
            .fetch_one(&pool)
            .await
            .expect("key");
            assert!(found >= 1, "{file}: no result for key {key}");
        }
    }
    // the created cases are active, automated, the reporter's, with a category
    let (statuses, automated, authors): (Vec<String>, Vec<bool>, Vec<Option<String>>) = query_as(
        "SELECT array_agg(DISTINCT status::text), array_agg(DISTINCT is_automated),
                array_agg(DISTINCT author) FROM test_cases",
    )
    .fetch_one(&pool)
    .await
    .expect("cases");
    assert_eq!(statuses, ["active"]);
    assert_eq!(automated, [true]);
    assert_eq!(authors, [Some("test-admin".to_owned())]);
}

#[tokio::test]
async fn surefire_reruns_and_flaky_failures_become_attempts_of_one_result() {
    let app = spawn_app().await;
    let pool = app.db.pool().await;
    let (status, answer) = import(
        &app,
        "runKey=surefire",
        fixture_bytes("handwritten-surefire-flaky-rerun.xml"),
    )
    .await;
    assert_eq!(status, 200, "{answer}");
    let rows: Vec<(String, i32, String, Option<Value>)> = query_as(
        "SELECT tc.identity_key, e.retry_attempt, e.status::text, e.execution_metadata
         FROM test_executions e JOIN test_cases tc ON tc.id = e.test_case_id
         WHERE e.test_run_id = $1 AND tc.identity_key IN (
             SELECT tc2.identity_key FROM test_cases tc2 JOIN test_executions e2 ON e2.test_case_id = tc2.id
             WHERE e2.retry_attempt > 0)
         ORDER BY 1, 2",
    )
    .bind(run_id(&answer))
    .fetch_all(&pool)
    .await
    .expect("attempts");
    let flaky: Vec<_> = rows
        .iter()
        .filter(|r| r.3.as_ref().is_some_and(|m| m["flaky"] == json!(true)))
        .collect();
    assert_eq!(flaky.len(), 1, "{rows:?}");
    let key = &flaky[0].0;
    let attempts: Vec<(i32, &str)> = rows
        .iter()
        .filter(|r| &r.0 == key)
        .map(|r| (r.1, r.2.as_str()))
        .collect();
    assert_eq!(attempts.last().map(|a| a.1), Some("passed"), "{attempts:?}");
    assert!(
        attempts[..attempts.len() - 1]
            .iter()
            .all(|a| a.1 == "failed")
    );
    assert_eq!(
        attempts.iter().map(|a| a.0).collect::<Vec<_>>(),
        (0..attempts.len() as i32).collect::<Vec<_>>()
    );
}

#[tokio::test]
async fn ctrf_steps_attachments_tags_and_parameters_are_kept() {
    let app = spawn_app().await;
    let pool = app.db.pool().await;
    let (status, answer) = import(
        &app,
        "format=ctrf",
        fixture_bytes("handwritten-ctrf-steps-attachments.json"),
    )
    .await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["rejected"], json!(0), "{answer}");
    let run = run_id(&answer);
    let steps: i64 = query_scalar(
        "SELECT count(*) FROM test_step_executions se JOIN test_executions e ON e.id = se.test_execution_id
         JOIN test_steps s ON s.id = se.test_step_id WHERE e.test_run_id = $1 AND s.step_type = 'custom'",
    )
    .bind(run)
    .fetch_one(&pool)
    .await
    .expect("steps");
    assert!(steps > 0, "no step results");
    let artifacts: i64 = query_scalar(
        "SELECT count(*) FROM test_artifacts a JOIN test_executions e ON e.id = a.test_execution_id
         WHERE e.test_run_id = $1",
    )
    .bind(run)
    .fetch_one(&pool)
    .await
    .expect("artifacts");
    assert!(artifacts > 0, "no artifacts");
    let tagged: i64 = query_scalar("SELECT count(*) FROM test_cases WHERE tags <> '[]'::jsonb")
        .fetch_one(&pool)
        .await
        .expect("tags");
    assert!(tagged > 0, "no tags");
    // parametrized results of one test are separate cases, named by their keys
    let parametrized: Vec<String> = query_scalar(
        "SELECT name FROM test_cases WHERE identity_key LIKE '%checkout total[%' ORDER BY 1",
    )
    .fetch_all(&pool)
    .await
    .expect("parametrized");
    assert_eq!(parametrized.len(), 2, "{parametrized:?}");
    // importing the same file again finds the same cases and steps
    let cases = count(&pool, "test_cases").await;
    let step_rows = count(&pool, "test_steps").await;
    let (_, again) = import(
        &app,
        "",
        fixture_bytes("handwritten-ctrf-steps-attachments.json"),
    )
    .await;
    assert_eq!(again["accepted"], answer["accepted"], "{again}");
    assert_eq!(count(&pool, "test_cases").await, cases);
    assert_eq!(count(&pool, "test_steps").await, step_rows);
}

#[tokio::test]
async fn importing_the_same_file_twice_changes_nothing() {
    let app = spawn_app().await;
    let pool = app.db.pool().await;
    let body = fixture_bytes("pytest-xunit2.xml");
    let (_, first) = import(&app, "runKey=build-7", body.clone()).await;
    assert_eq!(first["accepted"], json!(17), "{first}");
    let before = snapshot(&pool).await;
    let cases = count(&pool, "test_cases").await;
    let (status, second) = import(&app, "runKey=build-7", body).await;
    assert_eq!(status, 200, "{second}");
    assert_eq!(
        (
            &second["accepted"],
            &second["duplicates"],
            &second["rejected"]
        ),
        (&json!(0), &json!(17), &json!(0)),
        "{second}"
    );
    assert_eq!(second["run"]["id"], first["run"]["id"]);
    assert_eq!(
        snapshot(&pool).await,
        before,
        "a repeated import changed results"
    );
    assert_eq!(count(&pool, "test_cases").await, cases);
}

#[tokio::test]
async fn eight_parallel_shards_with_one_run_key_land_in_one_run() {
    let app = spawn_app().await;
    let pool = app.db.pool().await;
    let shards: Vec<String> = (0..8)
        .map(|s| junit(&format!("shard{s}"), 250, 5))
        .collect();
    let mut uploads = Vec::new();
    for shard in &shards {
        uploads.push(import(&app, "runKey=ci-42&runName=nightly", shard.clone()));
    }
    let answers = futures::future::join_all(uploads).await;
    let mut runs = std::collections::HashSet::new();
    for (status, answer) in &answers {
        assert_eq!(*status, 200, "{answer}");
        assert_eq!(answer["accepted"], json!(250), "{answer}");
        runs.insert(run_id(answer));
    }
    assert_eq!(runs.len(), 1, "shards went to several runs: {runs:?}");
    let run = *runs.iter().next().expect("run");
    let c = assert_exact(&pool, run, "8 shards").await;
    assert_eq!((c.total, c.failed), (2000, 200));
    assert_eq!(count(&pool, "test_runs").await, 1);
    let (name, ad_hoc, status): (String, bool, String) =
        query_as("SELECT name, ad_hoc, status::text FROM test_runs WHERE id = $1")
            .bind(run)
            .fetch_one(&pool)
            .await
            .expect("run");
    assert_eq!(
        (name.as_str(), ad_hoc, status.as_str()),
        ("nightly", true, "running")
    );
    // an empty upload with finish=true ends it with what its results imply
    let (status, done) = import(&app, "runKey=ci-42&finish=true", junit("none", 0, 1)).await;
    assert_eq!(status, 200, "{done}");
    assert_eq!(done["run"]["status"], "FAILED", "{done}");
}

#[tokio::test]
async fn gzip_bodies_are_read_with_or_without_the_header() {
    use std::io::Write;
    let app = spawn_app().await;
    let xml = junit("zipped", 40, 2);
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(xml.as_bytes()).expect("gzip");
    let gz = gz.finish().expect("gzip");
    let res = app
        .http(reqwest::Method::POST, "/api/v1/import?runKey=gz-1")
        .header("content-encoding", "gzip")
        .body(gz.clone())
        .send()
        .await
        .expect("post");
    assert_eq!(res.status(), 200);
    let answer: Value = res.json().await.expect("json");
    assert_eq!(answer["accepted"], json!(40), "{answer}");
    let (status, answer) = import(&app, "runKey=gz-2", gz).await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["accepted"], json!(40), "{answer}");
}

#[tokio::test]
async fn durations_are_kept_in_milliseconds_and_rounded_to_seconds() {
    let app = spawn_app().await;
    let xml = r#"<testsuite name="s"><testcase classname="c" name="quick" time="0.532"/>
        <testcase classname="c" name="slow" time="2.4996"/><testcase classname="c" name="none"/></testsuite>"#;
    let (status, answer) = import(&app, "runKey=ms", xml).await;
    assert_eq!(status, 200, "{answer}");
    let body = app
        .gql(
            "query($id: UUID!) { testRun(id: $id) { executions(first: 10) { nodes {
               durationMs durationSeconds testCase { name } } } } }",
            json!({ "id": run_id(&answer) }),
        )
        .await;
    let mut got: Vec<(String, Value, Value)> = data(&body)["testRun"]["executions"]["nodes"]
        .as_array()
        .expect("nodes")
        .iter()
        .map(|n| {
            (
                n["testCase"]["name"].as_str().unwrap_or("").to_owned(),
                n["durationMs"].clone(),
                n["durationSeconds"].clone(),
            )
        })
        .collect();
    got.sort_by(|a, b| a.0.cmp(&b.0));
    assert_eq!(
        got,
        [
            ("none".to_owned(), Value::Null, Value::Null),
            ("quick".to_owned(), json!(532), json!(1)),
            ("slow".to_owned(), json!(2500), json!(3)),
        ],
        "{body}"
    );
}

#[tokio::test]
async fn output_and_properties_are_kept_bounded() {
    let app = spawn_app().await;
    let pool = app.db.pool().await;
    let out = "x".repeat(200_000);
    let xml = format!(
        r#"<testsuite name="s"><testcase classname="c" name="noisy" time="1">
           <properties><property name="owner" value="team-a"/></properties>
           <system-out>{out}</system-out><system-err>boom</system-err></testcase></testsuite>"#
    );
    let (status, answer) = import(&app, "", xml).await;
    assert_eq!(status, 200, "{answer}");
    let meta: Value = query_scalar("SELECT execution_metadata FROM test_executions")
        .fetch_one(&pool)
        .await
        .expect("metadata");
    assert_eq!(meta["properties"]["owner"], "team-a", "{meta}");
    assert_eq!(meta["stderr"], "boom");
    let stdout = meta["stdout"].as_str().expect("stdout");
    assert!(
        stdout.starts_with("xxxx") && stdout.len() < 20_000,
        "{}",
        stdout.len()
    );
    assert!(stdout.contains("truncated"), "the cut is not said");
}

#[tokio::test]
async fn a_member_with_a_report_token_imports_into_their_project() {
    let app = spawn_app().await;
    let pool = app.db.pool().await;
    crate::helpers::projects::project(&app, "web-shop").await;
    crate::helpers::projects::member(&app, "web-shop", "ci-bot", "MEMBER").await;
    crate::helpers::projects::member(&app, "web-shop", "watcher", "VIEWER").await;
    let ci =
        crate::helpers::projects::token(&app, "ci-bot", Some("web-shop"), Some(&["REPORT"])).await;
    let (status, answer) =
        import_as(&app, &ci, "runKey=b1&finish=true", junit("shop", 30, 3)).await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["accepted"], json!(30));
    let (project, authors): (String, Vec<String>) = query_as(
        "SELECT p.key, array_agg(DISTINCT tc.author) FROM test_cases tc
         JOIN projects p ON p.id = tc.project_id GROUP BY p.key",
    )
    .fetch_one(&pool)
    .await
    .expect("cases");
    assert_eq!(
        (project.as_str(), authors),
        ("web-shop", vec!["ci-bot".to_owned()])
    );
    // a viewer may read the project, not report into it: refused, nothing written
    let viewer = crate::helpers::projects::token(&app, "watcher", Some("web-shop"), None).await;
    let runs = count(&pool, "test_runs").await;
    let (status, answer) = import_as(&app, &viewer, "runKey=b2", junit("shop2", 3, 1)).await;
    assert_eq!(status, 403, "{answer}");
    assert_eq!(answer["errors"][0]["extensions"]["code"], "FORBIDDEN");
    assert_eq!(count(&pool, "test_runs").await, runs);
}

#[tokio::test]
async fn subscribers_see_a_large_import_progress_batch_by_batch() {
    let app = spawn_app().await;
    let pool = app.db.pool().await;
    let mut listener = sqlx::postgres::PgListener::connect_with(&pool)
        .await
        .expect("listener");
    listener.listen("jbts_live").await.expect("listen");
    let (status, answer) = import(&app, "runKey=big", junit("big", 12_000, 12)).await;
    assert_eq!(status, 200, "{answer}");
    let run = run_id(&answer).to_string();
    // one commit per batch of 5,000 results: the run's executions are announced in 3 commits
    let mut commits = 0;
    while let Ok(Ok(n)) =
        tokio::time::timeout(std::time::Duration::from_secs(2), listener.recv()).await
    {
        let event: Value = serde_json::from_str(n.payload()).expect("event");
        if event["run"] == json!(run) && event["kind"] == "execution" {
            commits += 1;
        }
    }
    assert!(commits >= 3, "{commits} execution announcements");
}

#[tokio::test]
async fn the_reporter_cli_sends_files_into_one_run_and_says_how_it_went() {
    let app = spawn_app().await;
    let pool = app.db.pool().await;
    let bin = env!("CARGO_BIN_EXE_jbtestsuite");
    let run = |args: Vec<String>| {
        let mut cmd = std::process::Command::new(bin);
        cmd.arg("report")
            .args(args)
            .arg("--url")
            .arg(app.url(""))
            .env("JBTS_TOKEN", &app.admin_token)
            .env_remove("DATABASE_URL");
        async move {
            tokio::task::spawn_blocking(move || cmd.output())
                .await
                .expect("join")
                .expect("run the cli")
        }
    };
    let files = [fixture("pytest-xunit1.xml"), fixture("ctrf-jest.json")];
    let out = run(vec![
        files[0].display().to_string(),
        files[1].display().to_string(),
        "--run-key".into(),
        "cli-1".into(),
        "--finish".into(),
    ])
    .await;
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains("17 accepted") && stdout.contains("16 accepted"),
        "{stdout}"
    );
    assert!(stdout.contains("FAILED"), "{stdout}");
    assert_eq!(count(&pool, "test_runs").await, 1);
    // failed tests fail the job only when asked
    let out = run(vec![
        files[0].display().to_string(),
        "--run-key".into(),
        "cli-2".into(),
        "--fail-on-test-failure".into(),
    ])
    .await;
    assert_eq!(
        out.status.code(),
        Some(2),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    // a refused upload is the tool's failure (run off the server's thread, as above)
    let mut cmd = std::process::Command::new(bin);
    cmd.args([
        "report",
        &files[0].display().to_string(),
        "--url",
        &app.url(""),
    ])
    .env("JBTS_TOKEN", "jbts_not_a_token");
    let out = tokio::task::spawn_blocking(move || cmd.output())
        .await
        .expect("join")
        .expect("cli");
    assert_eq!(out.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("401"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// `importResults` through the GraphQL multipart request spec.
async fn upload(app: &crate::helpers::TestApp, bytes: Vec<u8>, variables: Value) -> Value {
    let mut vars = variables;
    vars["file"] = Value::Null;
    let operations = json!({
        "query": "mutation($file: Upload!, $runKey: String, $finish: Boolean) {
          importResults(file: $file, runKey: $runKey, finish: $finish) {
            format accepted duplicates rejected
            run { id status totalTests failedTests runKey adHoc }
            errors { position line column code message } } }",
        "variables": vars,
    });
    let form = reqwest::multipart::Form::new()
        .text("operations", operations.to_string())
        .text("map", r#"{ "0": ["variables.file"] }"#)
        .part(
            "0",
            reqwest::multipart::Part::bytes(bytes).file_name("report.xml"),
        );
    app.http(reqwest::Method::POST, "/graphql")
        .multipart(form)
        .send()
        .await
        .expect("upload")
        .json()
        .await
        .expect("json")
}

#[tokio::test]
async fn import_results_takes_a_report_as_a_graphql_upload() {
    let app = spawn_app().await;
    let body = upload(
        &app,
        fixture_bytes("jest-junit.xml"),
        json!({ "runKey": "gql-1", "finish": true }),
    )
    .await;
    let p = &data(&body)["importResults"];
    assert_eq!(p["format"], "JUNIT", "{body}");
    assert_eq!(p["accepted"], 16, "{body}");
    assert_eq!(
        (&p["run"]["runKey"], &p["run"]["adHoc"], &p["run"]["status"]),
        (&json!("gql-1"), &json!(true), &json!("FAILED"))
    );
    // the same file again: duplicates only, though the run is finished
    let body = upload(
        &app,
        fixture_bytes("jest-junit.xml"),
        json!({ "runKey": "gql-1" }),
    )
    .await;
    let p = &data(&body)["importResults"];
    assert_eq!(
        (&p["duplicates"], &p["accepted"]),
        (&json!(16), &json!(0)),
        "{body}"
    );
    // a malformed file: refused with its place
    let body = upload(
        &app,
        b"<testsuite name=\"s\">\n<testcase".to_vec(),
        json!({}),
    )
    .await;
    let error = &body["errors"][0];
    assert_eq!(error["extensions"]["code"], "BAD_REQUEST", "{body}");
    assert!(error["extensions"]["line"].is_u64(), "{body}");
}

#[tokio::test]
async fn a_rerun_jobs_report_becomes_the_next_attempt_and_a_rejected_result_fails_the_upload() {
    let app = spawn_app().await;
    let pool = app.db.pool().await;
    let failing = r#"<testsuite name="s"><testcase classname="c" name="flips" time="1"><failure message="no"/></testcase></testsuite>"#;
    let passing =
        r#"<testsuite name="s"><testcase classname="c" name="flips" time="2"/></testsuite>"#;
    let (_, first) = import(&app, "runKey=job-9", failing).await;
    assert_eq!(first["accepted"], json!(1), "{first}");
    let (_, again) = import(&app, "runKey=job-9", failing).await;
    assert_eq!(again["duplicates"], json!(1), "{again}");
    let (_, rerun) = import(&app, "runKey=job-9&finish=true", passing).await;
    assert_eq!(rerun["accepted"], json!(1), "{rerun}");
    assert_eq!(rerun["run"]["status"], "PASSED", "{rerun}");
    let attempts: Vec<(i32, String)> =
        query_as("SELECT retry_attempt, status::text FROM test_executions ORDER BY retry_attempt")
            .fetch_all(&pool)
            .await
            .expect("attempts");
    assert_eq!(
        attempts,
        [(0, "failed".to_owned()), (1, "passed".to_owned())]
    );

    // a result the server refuses makes the CLI fail: the run does not hold it
    let dir = tempfile::tempdir().expect("dir");
    let bad = dir.path().join("bad.xml");
    std::fs::write(
        &bad,
        r#"<testsuite name="s"><testcase classname="c" name="ok"/><testcase classname="c" name="t" time="soon"><failure/></testcase></testsuite>"#,
    )
    .expect("write");
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_jbtestsuite"));
    cmd.args(["report", &bad.display().to_string(), "--url", &app.url("")])
        .args(["--fail-on-test-failure", "--finish"])
        .env("JBTS_TOKEN", &app.admin_token);
    let out = tokio::task::spawn_blocking(move || cmd.output())
        .await
        .expect("join")
        .expect("cli");
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("1 results were not imported"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
