//! Statistics, flakiness, failure groups and trends against hand-computed expectations.

use serde_json::{Value, json};
use uuid::Uuid;

use crate::helpers::{TestApp, spawn_app};

/// A case with executions given as (status, duration, started days ago, run, attempt).
async fn case_with(
    app: &TestApp,
    name: &str,
    executions: &[(&str, i32, f64, Option<Uuid>, i32)],
) -> Uuid {
    case_by(app, "test-admin", name, executions).await
}

/// As [`case_with`], authored by `author`.
async fn case_by(
    app: &TestApp,
    author: &str,
    name: &str,
    executions: &[(&str, i32, f64, Option<Uuid>, i32)],
) -> Uuid {
    let pool = app.db.pool().await;
    let case: Uuid = crate::helpers::q::query_scalar(format!(
        "INSERT INTO test_cases(name, status, author, retry_count) VALUES ('{name}', 'active', '{author}', 3) RETURNING id"
    ))
    .fetch_one(&pool)
    .await
    .expect("case");
    for (i, (status, duration, days_ago, run, attempt)) in executions.iter().enumerate() {
        let run = run
            .map(|r| format!("'{r}'"))
            .unwrap_or_else(|| "NULL".to_owned());
        crate::helpers::q::query(format!(
            "INSERT INTO test_executions(test_case_id, test_run_id, status, duration_seconds, retry_attempt,
                                         started_at, completed_at, created_at)
             VALUES ('{case}', {run}, '{status}', {duration}, {attempt},
                     now() - interval '{days_ago} days', now() - interval '{days_ago} days' + interval '{i} seconds',
                     now() - interval '{days_ago} days')"
        ))
        .execute(&pool)
        .await
        .expect("execution");
    }
    case
}

async fn run(app: &TestApp) -> Uuid {
    crate::helpers::q::query_scalar(
        "INSERT INTO test_runs(name, triggered_by) VALUES ('r', 'test-admin') RETURNING id",
    )
    .fetch_one(&app.db.pool().await)
    .await
    .expect("run")
}

const STATS: &str = "query($id: UUID!, $w: StatsWindow) { testCase(id: $id) { stats(window: $w) {
    totalExecutions passed failed skipped successRate avgDuration minDuration maxDuration medianDuration
    p95Duration executionsLast30Days executionsPrevious30Days stabilityRating firstExecutedAt lastExecutedAt } } }";

#[tokio::test]
async fn case_stats_match_hand_computed_values() {
    let app = spawn_app().await;
    let case = case_with(
        &app,
        "stats",
        &[
            ("passed", 10, 1.0, None, 0),
            ("failed", 20, 2.0, None, 0),
            ("passed", 30, 3.0, None, 0),
            ("passed", 40, 29.0, None, 0),
            ("failed", 100, 31.0, None, 0),
            ("skipped", 0, 59.0, None, 0),
            ("passed", 50, 61.0, None, 0),
        ],
    )
    .await;
    let body = app.gql(STATS, json!({"id": case})).await;
    let s = &body["data"]["testCase"]["stats"];
    assert_eq!(s["totalExecutions"], 7, "{body}");
    assert_eq!(
        (
            s["passed"].clone(),
            s["failed"].clone(),
            s["skipped"].clone()
        ),
        (json!(4), json!(2), json!(1))
    );
    // passed / (passed + failed)
    assert_eq!(s["successRate"], 66.67);
    // durations 0, 10, 20, 30, 40, 50, 100
    assert_eq!(s["minDuration"], 0);
    assert_eq!(s["maxDuration"], 100);
    assert_eq!(s["medianDuration"], 30.0);
    // p95: 0.95 * 6 = 5.7 -> 50 + 0.7 * (100 - 50)
    assert_eq!(s["p95Duration"], 85.0);
    assert!((s["avgDuration"].as_f64().expect("avg") - 250.0 / 7.0).abs() < 1e-3);
    // 30-day windows: 1, 2, 3, 29 days ago vs 31, 59 days ago; 61 days ago in neither
    assert_eq!(s["executionsLast30Days"], 4);
    assert_eq!(s["executionsPrevious30Days"], 2);
    assert_eq!(s["stabilityRating"], "MODERATE");

    let windowed = app.gql(STATS, json!({"id": case, "w": {"days": 30}})).await;
    assert_eq!(
        windowed["data"]["testCase"]["stats"]["totalExecutions"], 4,
        "{windowed}"
    );
}

#[tokio::test]
async fn stability_ratings_follow_the_spec() {
    let app = spawn_app().await;
    let never = case_with(&app, "never", &[]).await;
    let stable = case_with(
        &app,
        "stable",
        &[("passed", 1, 1.0, None, 0), ("passed", 1, 2.0, None, 0)],
    )
    .await;
    let unstable = case_with(
        &app,
        "unstable",
        &[
            ("failed", 1, 1.0, None, 0),
            ("failed", 1, 2.0, None, 0),
            ("passed", 1, 3.0, None, 0),
        ],
    )
    .await;
    for (case, rating) in [
        (never, "NEVER_EXECUTED"),
        (stable, "STABLE"),
        (unstable, "UNSTABLE"),
    ] {
        let body = app.gql(STATS, json!({"id": case})).await;
        assert_eq!(
            body["data"]["testCase"]["stats"]["stabilityRating"], rating,
            "{body}"
        );
    }
}

const FLAKINESS: &str = "query($id: UUID!, $n: Int!) { testCase(id: $id) { flakiness(lastN: $n) {
    flakyScore reasons sampleSize flips failures passedOnRetry } } }";

#[tokio::test]
async fn alternating_outcomes_flip_and_score_one() {
    let app = spawn_app().await;
    let case = case_with(
        &app,
        "flappy",
        &[
            ("passed", 1, 5.0, None, 0),
            ("failed", 1, 4.0, None, 0),
            ("passed", 1, 3.0, None, 0),
            ("failed", 1, 2.0, None, 0),
            ("passed", 1, 1.0, None, 0),
        ],
    )
    .await;
    let body = app.gql(FLAKINESS, json!({"id": case, "n": 20})).await;
    let f = &body["data"]["testCase"]["flakiness"];
    assert_eq!(f["flips"], 4, "{body}");
    assert_eq!(f["sampleSize"], 5);
    assert_eq!(f["flakyScore"], 1.0);
    assert_eq!(f["reasons"], json!(["STATUS_FLIPS"]));
    // the last 3 only: passed, failed, passed -> 2 flips over 2 gaps
    let last3 = app.gql(FLAKINESS, json!({"id": case, "n": 3})).await;
    assert_eq!(last3["data"]["testCase"]["flakiness"]["flips"], 2);
    assert_eq!(last3["data"]["testCase"]["flakiness"]["sampleSize"], 3);
}

#[tokio::test]
async fn passing_on_retry_in_the_same_run_is_a_reason() {
    let app = spawn_app().await;
    let r1 = run(&app).await;
    let r2 = run(&app).await;
    let case = case_with(
        &app,
        "retried",
        &[
            ("failed", 1, 4.0, Some(r1), 0),
            ("passed", 1, 3.9, Some(r1), 1),
            ("passed", 1, 2.0, Some(r2), 0),
            ("passed", 1, 1.0, None, 0),
        ],
    )
    .await;
    let steady = case_with(
        &app,
        "steady",
        &[("passed", 1, 2.0, None, 0), ("passed", 1, 1.0, None, 0)],
    )
    .await;
    let body = app.gql(FLAKINESS, json!({"id": case, "n": 20})).await;
    let f = &body["data"]["testCase"]["flakiness"];
    assert_eq!(f["passedOnRetry"], 1, "{body}");
    assert!(
        f["reasons"]
            .as_array()
            .is_some_and(|r| r.contains(&json!("PASSED_ON_RETRY")))
    );
    // one run with a failure, recovered: 1 / 1
    assert_eq!(f["flakyScore"], 1.0);
    let body = app.gql(FLAKINESS, json!({"id": steady, "n": 20})).await;
    assert_eq!(body["data"]["testCase"]["flakiness"]["flakyScore"], 0.0);
    assert_eq!(body["data"]["testCase"]["flakiness"]["reasons"], json!([]));

    let list = app
        .gql(
            "{ flakiestTestCases(limit: 10) { testCase { name } flakiness { flakyScore } } }",
            json!({}),
        )
        .await;
    let names: Vec<&str> = list["data"]["flakiestTestCases"]
        .as_array()
        .expect("list")
        .iter()
        .filter_map(|c| c["testCase"]["name"].as_str())
        .collect();
    assert_eq!(names, ["retried"], "{list}");
    let bad = app.gql(FLAKINESS, json!({"id": case, "n": 1})).await;
    assert_eq!(bad["errors"][0]["extensions"]["code"], "BAD_USER_INPUT");
}

#[tokio::test]
async fn error_fingerprints_strip_numbers_uuids_hex_strings_and_paths() {
    let app = spawn_app().await;
    let pool = app.db.pool().await;
    let pairs = [
        (
            "Timeout after 3000 ms waiting for #login-42",
            "Timeout after 5000 ms waiting for #login-7",
        ),
        (
            "record 0b5e8f43-6a3e-4c7b-9a6e-1f2d3c4b5a69 missing",
            "record 7c0e2a11-1111-4222-8333-944455556666 missing",
        ),
        (
            "expected \"foo\" but got 'bar'",
            "expected \"a much longer string\" but got 'x'",
        ),
        (
            "crash at /home/ci/work/app/src/main.js:12",
            "crash at /tmp/other/file.ts:99",
        ),
        ("segfault at 0xdeadbeef", "segfault at 0x7fff1234"),
    ];
    for (a, b) in pairs {
        let (fa, fb): (String, String) =
            crate::helpers::q::query_as("SELECT error_fingerprint($1), error_fingerprint($2)")
                .bind(a)
                .bind(b)
                .fetch_one(&pool)
                .await
                .expect("fingerprints");
        assert_eq!(fa, fb, "{a} / {b}");
        assert!(
            !fa.chars().any(|c| c.is_ascii_digit()),
            "digits left in {fa}"
        );
    }
    let (x, y): (String, String) = crate::helpers::q::query_as(
        "SELECT error_fingerprint('element not found'), error_fingerprint('element not visible')",
    )
    .fetch_one(&pool)
    .await
    .expect("fingerprints");
    assert_ne!(x, y);
}

#[tokio::test]
async fn failure_groups_count_by_fingerprint_with_examples() {
    let app = spawn_app().await;
    let a = case_with(
        &app,
        "a",
        &[("failed", 1, 1.0, None, 0), ("failed", 1, 2.0, None, 0)],
    )
    .await;
    let b = case_with(&app, "b", &[("failed", 1, 1.0, None, 0)]).await;
    let pool = app.db.pool().await;
    crate::helpers::q::query(format!(
        "UPDATE test_executions SET error_message = CASE WHEN test_case_id = '{b}' THEN 'Assertion failed: expected 3 items'
                ELSE 'Timeout after ' || (extract(epoch FROM started_at)::bigint % 1000) || ' ms' END"
    ))
    .execute(&pool)
    .await
    .expect("messages");
    let body = app
        .gql(
            "{ failureGroups { fingerprint count affectedTestCases examples } }",
            json!({}),
        )
        .await;
    let groups = body["data"]["failureGroups"]
        .as_array()
        .expect("groups")
        .clone();
    assert_eq!(groups.len(), 2, "{body}");
    assert_eq!(groups[0]["count"], 2);
    assert_eq!(groups[0]["fingerprint"], "timeout after <n> ms");
    assert_eq!(groups[0]["affectedTestCases"], 1);
    assert!(
        groups[0]["examples"]
            .as_array()
            .is_some_and(|e| !e.is_empty())
    );
    assert_eq!(groups[1]["count"], 1);
    let only_a = app
        .gql(
            "query($c: UUID!) { failureGroups(filter: {testCaseId: $c}) { count } }",
            json!({"c": a}),
        )
        .await;
    assert_eq!(only_a["data"]["failureGroups"], json!([{"count": 2}]));
}

#[tokio::test]
async fn pass_rate_trend_counts_each_day() {
    let app = spawn_app().await;
    case_with(
        &app,
        "trend",
        &[
            ("passed", 1, 0.0, None, 0),
            ("failed", 1, 0.0, None, 0),
            ("passed", 1, 1.0, None, 0),
        ],
    )
    .await;
    let today = chrono::Utc::now().date_naive();
    let from = today - chrono::Duration::days(2);
    let body = app
        .gql(
            "query($f: NaiveDate!, $t: NaiveDate!) { passRateTrend(from: $f, to: $t) { day passed failed passRate } }",
            json!({"f": from.to_string(), "t": today.to_string()}),
        )
        .await;
    let days: Vec<Value> = body["data"]["passRateTrend"]
        .as_array()
        .expect("days")
        .clone();
    assert_eq!(days.len(), 3, "{body}");
    let total_passed: i64 = days.iter().map(|d| d["passed"].as_i64().unwrap_or(0)).sum();
    let total_failed: i64 = days.iter().map(|d| d["failed"].as_i64().unwrap_or(0)).sum();
    assert_eq!((total_passed, total_failed), (2, 1));
    assert_eq!(days[0]["passRate"], Value::Null);
    let too_long = app
        .gql(
            "{ passRateTrend(from: \"2020-01-01\", to: \"2026-01-01\") { day } }",
            json!({}),
        )
        .await;
    assert_eq!(
        too_long["errors"][0]["extensions"]["code"],
        "BAD_USER_INPUT"
    );
}

#[tokio::test]
async fn stats_slice_by_configuration_and_run_configuration() {
    let app = spawn_app().await;
    let pool = app.db.pool().await;
    let case = case_with(
        &app,
        "sliced",
        &[
            ("passed", 1, 1.0, None, 0),
            ("failed", 1, 2.0, None, 0),
            ("failed", 1, 3.0, None, 0),
        ],
    )
    .await;
    let cfg: Uuid = crate::helpers::q::query_scalar(
        "INSERT INTO configurations(name, config_type) VALUES ('firefox', 'browser') RETURNING id",
    )
    .fetch_one(&pool)
    .await
    .expect("config");
    let nightly: Uuid = crate::helpers::q::query_scalar(
        "INSERT INTO test_runs(name, run_configuration) VALUES ('n', '{\"env\": \"staging\"}') RETURNING id",
    )
    .fetch_one(&pool)
    .await
    .expect("run");
    crate::helpers::q::query(format!(
        "UPDATE test_executions SET configuration_id = '{cfg}', test_run_id = '{nightly}'
         WHERE id = (SELECT id FROM test_executions WHERE test_case_id = '{case}' AND status = 'passed')"
    ))
    .execute(&pool)
    .await
    .expect("slice");
    let by_config = app
        .gql(STATS, json!({"id": case, "w": {"configurationId": cfg}}))
        .await;
    assert_eq!(
        by_config["data"]["testCase"]["stats"]["totalExecutions"], 1,
        "{by_config}"
    );
    assert_eq!(
        by_config["data"]["testCase"]["stats"]["stabilityRating"],
        "STABLE"
    );
    let by_run_config = app
        .gql(
            STATS,
            json!({"id": case, "w": {"runConfiguration": {"env": "staging"}}}),
        )
        .await;
    assert_eq!(
        by_run_config["data"]["testCase"]["stats"]["passed"], 1,
        "{by_run_config}"
    );
    let all = app.gql(STATS, json!({"id": case})).await;
    assert_eq!(all["data"]["testCase"]["stats"]["totalExecutions"], 3);
}

#[tokio::test]
async fn stats_of_a_page_of_cases_take_one_statement() {
    let app = spawn_app().await;
    for i in 0..5 {
        case_with(&app, &format!("paged {i}"), &[("passed", 1, 1.0, None, 0)]).await;
    }
    let q = "{ testCases(first: 50) { edges { node { stats { totalExecutions } } } } }";
    // token cached and its last-use stamp settled, so only the request's statements count
    crate::helpers::catalog::warm_up(&app).await;
    let before = app.statements();
    let body = app.gql(q, json!({})).await;
    let edges = body["data"]["testCases"]["edges"]
        .as_array()
        .expect("edges");
    assert_eq!(edges.len(), 5);
    assert!(
        edges
            .iter()
            .all(|e| e["node"]["stats"]["totalExecutions"] == 1),
        "{body}"
    );
    // security settings, the page, the stats of all five
    assert_eq!(app.statements() - before, 3);
}

#[tokio::test]
async fn test_case_stats_list_orders_by_a_statistic_with_keyset_pages() {
    let app = spawn_app().await;
    case_with(
        &app,
        "half",
        &[("passed", 10, 1.0, None, 0), ("failed", 30, 2.0, None, 0)],
    )
    .await;
    case_with(
        &app,
        "broken",
        &[("failed", 5, 1.0, None, 0), ("failed", 5, 2.0, None, 0)],
    )
    .await;
    case_with(&app, "unrun", &[]).await;
    let q = "query($after: String, $o: CaseStatsOrder) { testCaseStats(first: 2, after: $after, orderBy: $o) {
        edges { cursor node { testCase { name } stats { totalExecutions failed successRate avgDuration } } }
        pageInfo { hasNextPage endCursor } } }";
    let first = app.gql(q, json!({})).await;
    let names = |b: &Value| -> Vec<String> {
        b["data"]["testCaseStats"]["edges"]
            .as_array()
            .map(|e| {
                e.iter()
                    .filter_map(|x| x["node"]["testCase"]["name"].as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default()
    };
    assert_eq!(names(&first), ["broken", "half"], "{first}");
    assert_eq!(
        first["data"]["testCaseStats"]["edges"][1]["node"]["stats"]["successRate"],
        50.0
    );
    assert_eq!(
        first["data"]["testCaseStats"]["pageInfo"]["hasNextPage"],
        true
    );
    let cursor = first["data"]["testCaseStats"]["pageInfo"]["endCursor"].clone();
    let second = app.gql(q, json!({"after": cursor})).await;
    assert_eq!(names(&second), ["unrun"], "{second}");
    assert_eq!(
        second["data"]["testCaseStats"]["pageInfo"]["hasNextPage"],
        false
    );
    let by_duration = app
        .gql(
            q,
            json!({"o": {"field": "AVG_DURATION", "direction": "DESC"}}),
        )
        .await;
    assert_eq!(names(&by_duration), ["half", "broken"], "{by_duration}");
    let wrong = app
        .gql(q, json!({"after": cursor, "o": {"field": "EXECUTIONS"}}))
        .await;
    assert_eq!(wrong["errors"][0]["extensions"]["code"], "BAD_USER_INPUT");
}

const FLAKIEST: &str = "query($n: Int!) { flakiestTestCases(limit: 10, lastN: $n) {
    testCase { name } flakiness { flakyScore sampleSize flips failures passedOnRetry } } }";

/// (name, flakiness) of the flakiest list.
async fn flakiest_as(app: &TestApp, token: Option<&str>, n: i32) -> Vec<(String, Value)> {
    let body = match token {
        Some(t) => app.gql_as(t, FLAKIEST, json!({"n": n})).await,
        None => app.gql(FLAKIEST, json!({"n": n})).await,
    };
    body["data"]["flakiestTestCases"]
        .as_array()
        .unwrap_or_else(|| panic!("{body}"))
        .iter()
        .map(|c| {
            (
                c["testCase"]["name"].as_str().expect("name").to_owned(),
                c["flakiness"].clone(),
            )
        })
        .collect()
}

/// Rows of the kept summary that differ from the flakiness computed now from the executions.
async fn summary_drift(app: &TestApp) -> i64 {
    crate::helpers::q::query_scalar(
        "SELECT count(*) FROM (
             (SELECT test_case_id, sample_size, failures, flips, failed_runs, recovered, score
              FROM test_case_flakiness
              EXCEPT
              SELECT * FROM test_case_flakiness_of(ARRAY(SELECT id FROM test_cases), 20))
             UNION ALL
             (SELECT * FROM test_case_flakiness_of(ARRAY(SELECT id FROM test_cases), 20)
              EXCEPT
              SELECT test_case_id, sample_size, failures, flips, failed_runs, recovered, score
              FROM test_case_flakiness)) d",
    )
    .fetch_one(&app.db.pool().await)
    .await
    .expect("drift")
}

#[tokio::test]
async fn flakiest_list_follows_every_write_over_the_last_twenty() {
    let app = spawn_app().await;
    let pool = app.db.pool().await;
    // five alternating outcomes 30..26 days ago (one failure within the 30 days), then twenty
    // passes: the last 20 are steady, the last 25 are not
    let mut history: Vec<(&str, i32, f64, Option<Uuid>, i32)> = (0..5)
        .map(|i| {
            let status = if i % 2 == 0 { "passed" } else { "failed" };
            (status, 1, 29.5 - f64::from(i), None, 0)
        })
        .collect();
    history.extend((0..20).map(|i| ("passed", 1, 20.0 - f64::from(i) * 0.5, None, 0)));
    let case = case_with(&app, "settled", &history).await;

    assert_eq!(flakiest_as(&app, None, 20).await, vec![]);
    let wider = flakiest_as(&app, None, 25).await;
    assert_eq!(wider.len(), 1, "{wider:?}");
    assert_eq!(wider[0].1["flips"], 4, "{wider:?}");
    assert_eq!(wider[0].1["sampleSize"], 25);

    // a new failure is seen by the very next read: one flip over the last 20
    crate::helpers::q::query(format!(
        "INSERT INTO test_executions(test_case_id, status, started_at, completed_at)
         VALUES ('{case}', 'failed', now(), now())"
    ))
    .execute(&pool)
    .await
    .expect("insert");
    let listed = flakiest_as(&app, None, 20).await;
    assert_eq!(listed.len(), 1, "{listed:?}");
    assert_eq!(listed[0].0, "settled");
    assert_eq!(
        listed[0].1,
        json!({"flakyScore": 0.053, "sampleSize": 20, "flips": 1, "failures": 1, "passedOnRetry": 0}),
        "1 flip over 19 gaps"
    );
    assert_eq!(summary_drift(&app).await, 0);

    // updated to passed: steady again
    crate::helpers::q::query(format!(
        "UPDATE test_executions SET status = 'passed' WHERE test_case_id = '{case}' AND started_at > now() - interval '1 hour'"
    ))
    .execute(&pool)
    .await
    .expect("update");
    assert_eq!(flakiest_as(&app, None, 20).await, vec![]);

    // deleting the newest passes brings the old flips back into the last 20
    crate::helpers::q::query(format!(
        "DELETE FROM test_executions WHERE id IN (SELECT id FROM test_executions
         WHERE test_case_id = '{case}' ORDER BY created_at DESC LIMIT 6)"
    ))
    .execute(&pool)
    .await
    .expect("delete");
    let back = flakiest_as(&app, None, 20).await;
    assert_eq!(back.len(), 1, "{back:?}");
    assert_eq!(back[0].1["sampleSize"], 20);
    assert_eq!(back[0].1["flips"], 4);
    assert_eq!(summary_drift(&app).await, 0);

    // the case's last failure leaves the window: no longer listed, however flaky
    crate::helpers::q::query(format!(
        "UPDATE test_executions SET completed_at = now() - interval '31 days'
         WHERE test_case_id = '{case}' AND status = 'failed'"
    ))
    .execute(&pool)
    .await
    .expect("age");
    assert_eq!(flakiest_as(&app, None, 20).await, vec![]);
    assert_eq!(flakiest_as(&app, None, 25).await, vec![]);

    // deleting the case drops its kept row
    crate::helpers::q::query(format!("DELETE FROM test_cases WHERE id = '{case}'"))
        .execute(&pool)
        .await
        .expect("delete case");
    assert_eq!(flakiest_as(&app, None, 20).await, vec![]);
    let kept: i64 = crate::helpers::q::query_scalar(format!(
        "SELECT count(*) FROM test_case_flakiness WHERE test_case_id = '{case}'"
    ))
    .fetch_one(&pool)
    .await
    .expect("kept");
    assert_eq!(kept, 0);
}

#[tokio::test]
async fn flakiest_list_shows_a_member_only_their_cases() {
    let app = spawn_app().await;
    let flappy = [
        ("passed", 1, 3.0, None, 0),
        ("failed", 1, 2.0, None, 0),
        ("passed", 1, 1.0, None, 0),
    ];
    case_by(&app, "alice", "alice flappy", &flappy).await;
    case_by(&app, "bob", "bob flappy", &flappy).await;
    // without a token: refused before any refresh
    let anonymous: Value = app
        .http_anonymous(reqwest::Method::POST, "/graphql")
        .json(&json!({ "query": "{ flakiestTestCases { flakiness { flakyScore } } }" }))
        .send()
        .await
        .expect("request")
        .json()
        .await
        .expect("json");
    assert_eq!(
        anonymous["errors"][0]["extensions"]["code"], "UNAUTHENTICATED",
        "{anonymous}"
    );
    assert_eq!(pending_cases(&app).await, 2);
    let alice = app.token("alice", &[api::auth::Role::Member]).await;
    for n in [20, 5] {
        let mine = flakiest_as(&app, Some(&alice), n).await;
        let names: Vec<&str> = mine.iter().map(|(name, _)| name.as_str()).collect();
        assert_eq!(names, ["alice flappy"], "lastN {n}");
        let all = flakiest_as(&app, None, n).await;
        let mut names: Vec<&str> = all.iter().map(|(name, _)| name.as_str()).collect();
        names.sort_unstable();
        assert_eq!(names, ["alice flappy", "bob flappy"], "lastN {n}");
    }
    // the kept summary itself is under row-level security: as alice, one of its two rows
    let pool = app.db.pool().await;
    let mut tx = pool.begin().await.expect("begin");
    crate::helpers::q::query(
        "SELECT app_begin_request('alice', 'member', 'application_users', NULL, NULL, '15s')",
    )
    .execute(&mut *tx)
    .await
    .expect("context");
    let seen: i64 = crate::helpers::q::query_scalar("SELECT count(*) FROM test_case_flakiness")
        .fetch_one(&mut *tx)
        .await
        .expect("count");
    tx.rollback().await.expect("rollback");
    let total: i64 = crate::helpers::q::query_scalar("SELECT count(*) FROM test_case_flakiness")
        .fetch_one(&pool)
        .await
        .expect("count");
    assert_eq!((seen, total), (1, 2));
}

#[tokio::test]
async fn flakiest_list_follows_archival_and_restore() {
    let app = spawn_app().await;
    // flaky twenty days ago, steady in the last ten: archiving past ten days leaves it steady
    let mut history: Vec<(&str, i32, f64, Option<Uuid>, i32)> = (0..4)
        .map(|i| {
            let status = if i % 2 == 0 { "passed" } else { "failed" };
            (status, 1, 20.0 - f64::from(i), None, 0)
        })
        .collect();
    history.extend((0..3).map(|i| ("passed", 1, 5.0 - f64::from(i), None, 0)));
    case_with(&app, "once flaky", &history).await;
    let before = flakiest_as(&app, None, 20).await;
    assert_eq!(before.len(), 1, "{before:?}");
    assert_eq!(before[0].1["sampleSize"], 7);

    let archived = app
        .gql(
            "mutation { archiveExecutions(olderThanDays: 10) { executions } }",
            json!({}),
        )
        .await;
    assert_eq!(
        archived["data"]["archiveExecutions"]["executions"], 4,
        "{archived}"
    );
    assert_eq!(flakiest_as(&app, None, 20).await, vec![]);
    assert_eq!(summary_drift(&app).await, 0);

    let restored = app
        .gql(
            "mutation($b: DateTime!) { restoreArchivedExecutions(before: $b) { executions } }",
            json!({"b": chrono::Utc::now().to_rfc3339()}),
        )
        .await;
    assert_eq!(
        restored["data"]["restoreArchivedExecutions"]["executions"], 4,
        "{restored}"
    );
    assert_eq!(flakiest_as(&app, None, 20).await, before);
    assert_eq!(summary_drift(&app).await, 0);
}

/// Cases noted as changed and not yet recomputed.
async fn pending_cases(app: &TestApp) -> i64 {
    crate::helpers::q::query_scalar(
        "SELECT count(DISTINCT test_case_id) FROM test_case_flakiness_pending",
    )
    .fetch_one(&app.db.pool().await)
    .await
    .expect("pending")
}

#[test]
fn maintenance_command_refreshes_the_kept_flakiness() {
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let app = runtime.block_on(async {
        let app = spawn_app().await;
        case_with(
            &app,
            "flappy",
            &[("passed", 1, 2.0, None, 0), ("failed", 1, 1.0, None, 0)],
        )
        .await;
        assert_eq!(pending_cases(&app).await, 1);
        app
    });
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_jbtestsuite"))
        .args(["maintenance", "--database-url", &app.db.url])
        .env("RUST_LOG", "warn")
        .output()
        .expect("running maintenance");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("flakiness of 1 changed cases refreshed"),
        "{text}"
    );
    runtime.block_on(async {
        assert_eq!(pending_cases(&app).await, 0);
        assert_eq!(summary_drift(&app).await, 0);
    });
}

#[tokio::test]
async fn the_server_refreshes_the_kept_flakiness_in_the_background() {
    use tokio::io::AsyncBufReadExt;

    let app = spawn_app().await;
    case_with(
        &app,
        "flappy",
        &[("passed", 1, 2.0, None, 0), ("failed", 1, 1.0, None, 0)],
    )
    .await;
    assert_eq!(pending_cases(&app).await, 1);
    // killed when the test ends, however it ends
    let mut server = tokio::process::Command::new(env!("CARGO_BIN_EXE_jbtestsuite"))
        .args([
            "serve",
            "--database-url",
            &app.db.url,
            "--listen",
            "127.0.0.1:0",
        ])
        .env("RUST_LOG", "warn,api::startup=debug")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("starting the server");
    let mut log = tokio::io::BufReader::new(server.stderr.take().expect("stderr")).lines();
    // nobody reads the list: the server's own schedule recomputes it, and says so
    let deadline = api::startup::ANALYTICS_REFRESH_INTERVAL * 4;
    let refreshed = tokio::time::timeout(deadline, async {
        while let Ok(Some(line)) = log.next_line().await {
            if line.contains("flakiness refreshed") {
                return true;
            }
        }
        false
    })
    .await;
    assert_eq!(refreshed, Ok(true), "no refresh within {deadline:?}");
    assert_eq!(pending_cases(&app).await, 0);
    assert_eq!(summary_drift(&app).await, 0);
}
