//! Quarantine: quarantining and releasing cases (with owner, reason, expiry and audit),
//! conflicts, permissions, expiry, CI's paged list, and runs whose only failures are
//! quarantined passing; a run's infrastructure-failure flag corrected by a maintainer.

use api::auth::Role;
use serde_json::{Value, json};
use sqlx::PgPool;
use uuid::Uuid;

use crate::helpers::catalog::{assert_bad_input, assert_code, assert_error, data, uuid};
use crate::helpers::projects::{member, project};
use crate::helpers::q::{query, query_scalar};
use crate::helpers::runs::{complete, run_of};
use crate::helpers::{TestApp, spawn_app};

const QUARANTINE: &str = "mutation($id: UUID!, $reason: String!, $expires: DateTime,
  $owner: String) {
  quarantineTestCase(id: $id, reason: $reason, expiresAt: $expires, owner: $owner) {
    id testCaseId testKey owner reason expiresAt automatic createdBy createdAt releasedAt
    active testCase { id name } } }";

const RELEASE: &str = "mutation($id: UUID!, $reason: String) {
  releaseTestCase(id: $id, reason: $reason) {
    id active releasedAt releasedBy releaseReason } }";

const CASE_QUARANTINE: &str =
    "query($id: UUID!) { testCase(id: $id) { quarantine { id owner reason active } } }";

/// A case of `project` (default: the default project) with test key `key`, by `author`.
async fn case_in(pool: &PgPool, project: Option<&str>, key: &str, author: &str) -> Uuid {
    query_scalar(
        "INSERT INTO test_cases(name, status, author, identity_key, project_id)
         VALUES ($1, 'active', $2, $1,
                 coalesce((SELECT id FROM projects WHERE key = $3),
                          '00000000-0000-0000-0000-000000000001'))
         RETURNING id",
    )
    .bind(key)
    .bind(author)
    .bind(project)
    .fetch_one(pool)
    .await
    .expect("case")
}

fn in_days(days: i64) -> String {
    (chrono::Utc::now() + chrono::Duration::days(days)).to_rfc3339()
}

async fn quarantine_as(app: &TestApp, token: &str, case: Uuid, reason: &str) -> Value {
    app.gql_as(
        token,
        QUARANTINE,
        json!({ "id": case, "reason": reason, "expires": in_days(7) }),
    )
    .await
}

#[tokio::test]
async fn quarantine_when_set_and_released_then_shown_on_the_case_and_audited() {
    let app = spawn_app().await;
    let pool = app.db.pool().await;
    let case = case_in(&pool, None, "tests/test_cart.py::test_add", "test-admin").await;
    let body = app
        .gql(
            QUARANTINE,
            json!({ "id": case, "reason": "times out on CI", "expires": in_days(7),
                    "owner": "carol" }),
        )
        .await;
    let q = data(&body)["quarantineTestCase"].clone();
    assert_eq!(q["testCaseId"], case.to_string());
    assert_eq!(q["testKey"], "tests/test_cart.py::test_add");
    assert_eq!(q["owner"], "carol");
    assert_eq!(q["reason"], "times out on CI");
    assert_eq!(q["automatic"], false);
    assert_eq!(q["createdBy"], "test-admin");
    assert_eq!(q["active"], true);
    assert_eq!(q["releasedAt"], Value::Null);
    assert_eq!(q["testCase"]["id"], case.to_string());
    let id = uuid(&q["id"]);
    let shown = app.gql(CASE_QUARANTINE, json!({ "id": case })).await;
    assert_eq!(
        data(&shown)["testCase"]["quarantine"],
        json!({ "id": id, "owner": "carol", "reason": "times out on CI", "active": true })
    );

    let body = app
        .gql(RELEASE, json!({ "id": case, "reason": "fixed the wait" }))
        .await;
    let released = &data(&body)["releaseTestCase"];
    assert_eq!(released["id"], id.to_string());
    assert_eq!(released["active"], false);
    assert_eq!(released["releasedBy"], "test-admin");
    assert_eq!(released["releaseReason"], "fixed the wait");
    assert!(released["releasedAt"].is_string());
    let shown = app.gql(CASE_QUARANTINE, json!({ "id": case })).await;
    assert_eq!(data(&shown)["testCase"]["quarantine"], Value::Null);

    let audit = app
        .gql(
            "query($id: UUID!) { auditLog(filter: {recordType: TEST_CASE_QUARANTINE, recordId: $id}) {
                totalCount nodes { operation changedBy newValues } } }",
            json!({ "id": id }),
        )
        .await;
    let log = &data(&audit)["auditLog"];
    assert_eq!(log["totalCount"], 2, "{audit}");
    let mut ops: Vec<(String, String)> = log["nodes"]
        .as_array()
        .expect("nodes")
        .iter()
        .map(|n| {
            (
                n["operation"].as_str().expect("op").to_owned(),
                n["changedBy"].as_str().expect("by").to_owned(),
            )
        })
        .collect();
    ops.sort();
    assert_eq!(
        ops,
        [
            ("CREATE".to_owned(), "test-admin".to_owned()),
            ("UPDATE".to_owned(), "test-admin".to_owned())
        ]
    );
    // the case can be quarantined again once released
    let again = app
        .gql(QUARANTINE, json!({ "id": case, "reason": "again" }))
        .await;
    assert_eq!(data(&again)["quarantineTestCase"]["expiresAt"], Value::Null);
}

#[tokio::test]
async fn quarantine_when_already_quarantined_then_conflict_and_release_when_not_then_conflict() {
    let app = spawn_app().await;
    let pool = app.db.pool().await;
    let case = case_in(&pool, None, "k", "test-admin").await;
    let first = quarantine_as(&app, &app.admin_token, case, "flaky").await;
    data(&first);
    let second = quarantine_as(&app, &app.admin_token, case, "flaky again").await;
    assert_error(&second, "CONFLICT", "id");
    let rows: i64 = query_scalar("SELECT count(*) FROM test_case_quarantines")
        .fetch_one(&pool)
        .await
        .expect("count");
    assert_eq!(rows, 1);
    data(&app.gql(RELEASE, json!({ "id": case })).await);
    let twice = app.gql(RELEASE, json!({ "id": case })).await;
    assert_error(&twice, "CONFLICT", "id");
    let missing = app.gql(RELEASE, json!({ "id": Uuid::new_v4() })).await;
    assert_code(&missing, "NOT_FOUND");
}

#[tokio::test]
async fn quarantine_when_input_is_out_of_bounds_then_bad_user_input() {
    let app = spawn_app().await;
    let pool = app.db.pool().await;
    let case = case_in(&pool, None, "k", "test-admin").await;
    for (vars, field) in [
        (json!({ "id": case, "reason": "  " }), "reason"),
        (json!({ "id": case, "reason": "x".repeat(1001) }), "reason"),
        (
            json!({ "id": case, "reason": "r", "expires": in_days(-1) }),
            "expiresAt",
        ),
        (
            json!({ "id": case, "reason": "r", "expires": in_days(181) }),
            "expiresAt",
        ),
        (json!({ "id": case, "reason": "r", "owner": "" }), "owner"),
    ] {
        let body = app.gql(QUARANTINE, vars).await;
        assert_bad_input(&body, field);
    }
    let rows: i64 = query_scalar("SELECT count(*) FROM test_case_quarantines")
        .fetch_one(&pool)
        .await
        .expect("count");
    assert_eq!(rows, 0);
}

#[tokio::test]
async fn quarantine_when_the_caller_only_views_the_project_then_forbidden() {
    let app = spawn_app().await;
    let pool = app.db.pool().await;
    project(&app, "web").await;
    member(&app, "web", "vic", "VIEWER").await;
    member(&app, "web", "mo", "MEMBER").await;
    let vic = app.token("vic", &[Role::Member]).await;
    let mo = app.token("mo", &[Role::Member]).await;
    let outsider = app.token("olga", &[Role::Member]).await;
    let case = case_in(&pool, Some("web"), "web-key", "mo").await;
    let refused = quarantine_as(&app, &vic, case, "flaky").await;
    assert_code(&refused, "FORBIDDEN");
    let hidden = quarantine_as(&app, &outsider, case, "flaky").await;
    assert_code(&hidden, "NOT_FOUND");
    data(&quarantine_as(&app, &mo, case, "flaky").await);
    let refused = app.gql_as(&vic, RELEASE, json!({ "id": case })).await;
    assert_code(&refused, "FORBIDDEN");
    // the viewer reads what CI reads; the outsider does not see it
    let list = "{ quarantinedTests(projectKey: \"web\") { totalCount nodes { testKey owner } } }";
    let seen = app.gql_as(&vic, list, json!({})).await;
    assert_eq!(
        data(&seen)["quarantinedTests"],
        json!({ "totalCount": 1, "nodes": [{ "testKey": "web-key", "owner": "mo" }] })
    );
    let unseen = app
        .gql_as(&outsider, "{ quarantinedTests { totalCount } }", json!({}))
        .await;
    assert_eq!(data(&unseen)["quarantinedTests"]["totalCount"], 0);
    let active: i64 = query_scalar(
        "SELECT count(*) FROM test_case_quarantines WHERE released_at IS NULL AND created_by = 'mo'",
    )
    .fetch_one(&pool)
    .await
    .expect("count");
    assert_eq!(active, 1);
}

#[tokio::test]
async fn quarantine_when_expired_then_inactive_at_once_and_released_as_expired_by_the_sweep() {
    let app = spawn_app().await;
    let pool = app.db.pool().await;
    let case = case_in(&pool, None, "k", "test-admin").await;
    let body = quarantine_as(&app, &app.admin_token, case, "flaky").await;
    let id = uuid(&data(&body)["quarantineTestCase"]["id"]);
    // its time passes (as if quarantined two days ago for a day)
    query(
        "UPDATE test_case_quarantines SET created_at = now() - interval '2 days',
                expires_at = now() - interval '1 day' WHERE id = $1",
    )
    .bind(id)
    .execute(&pool)
    .await
    .expect("age");
    let shown = app.gql(CASE_QUARANTINE, json!({ "id": case })).await;
    assert_eq!(data(&shown)["testCase"]["quarantine"], Value::Null);
    let list = app
        .gql("{ quarantinedTests { totalCount } }", json!({}))
        .await;
    assert_eq!(data(&list)["quarantinedTests"]["totalCount"], 0);
    // the background sweep marks it released, as of its expiry, and the audit says why
    let n: i32 = query_scalar("SELECT release_expired_quarantines()")
        .fetch_one(&pool)
        .await
        .expect("sweep");
    assert_eq!(n, 1);
    let (reason, at_expiry): (Option<String>, bool) = sqlx::query_as(
        "SELECT release_reason, released_at = expires_at FROM test_case_quarantines WHERE id = $1",
    )
    .bind(id)
    .fetch_one(&pool)
    .await
    .expect("released");
    assert_eq!(reason.as_deref(), Some("expired"));
    assert!(at_expiry);
    let audited: i64 = query_scalar(
        "SELECT count(*) FROM audit_log WHERE table_name = 'test_case_quarantines'
           AND record_id = $1 AND operation = 'UPDATE'
           AND new_values ->> 'release_reason' = 'expired'",
    )
    .bind(id)
    .fetch_one(&pool)
    .await
    .expect("audit");
    assert_eq!(audited, 1);
    // an expired one the sweep has not reached yet makes way for a new quarantine too
    let body = quarantine_as(&app, &app.admin_token, case, "still flaky").await;
    let second = uuid(&data(&body)["quarantineTestCase"]["id"]);
    query(
        "UPDATE test_case_quarantines SET created_at = now() - interval '2 days',
                expires_at = now() - interval '1 day' WHERE id = $1",
    )
    .bind(second)
    .execute(&pool)
    .await
    .expect("age");
    data(&quarantine_as(&app, &app.admin_token, case, "flaky for good").await);
}

#[tokio::test]
async fn quarantined_tests_when_paged_then_every_active_one_once_newest_first() {
    let app = spawn_app().await;
    let pool = app.db.pool().await;
    let mut cases = Vec::new();
    for k in 0..5 {
        let case = case_in(&pool, None, &format!("key-{k}"), "test-admin").await;
        data(&quarantine_as(&app, &app.admin_token, case, &format!("reason {k}")).await);
        cases.push(case);
    }
    let released = case_in(&pool, None, "released", "test-admin").await;
    data(&quarantine_as(&app, &app.admin_token, released, "gone").await);
    data(&app.gql(RELEASE, json!({ "id": released })).await);
    let q = "query($after: String) { quarantinedTests(first: 2, after: $after) {
        totalCount pageInfo { hasNextPage endCursor } nodes { testCaseId testKey } } }";
    let mut seen = Vec::new();
    let mut after = Value::Null;
    loop {
        let body = app.gql(q, json!({ "after": after })).await;
        let page = &data(&body)["quarantinedTests"];
        assert_eq!(page["totalCount"], 5, "{body}");
        for n in page["nodes"].as_array().expect("nodes") {
            assert!(n["testKey"].as_str().is_some_and(|k| k.starts_with("key-")));
            seen.push(uuid(&n["testCaseId"]));
        }
        if page["pageInfo"]["hasNextPage"] != true {
            break;
        }
        after = page["pageInfo"]["endCursor"].clone();
        assert!(seen.len() < 10, "paging does not end");
    }
    let newest_first: Vec<Uuid> = cases.iter().rev().copied().collect();
    assert_eq!(seen, newest_first);
    let bad = app
        .gql("{ quarantinedTests(first: 101) { totalCount } }", json!({}))
        .await;
    assert_code(&bad, "BAD_USER_INPUT");
}

#[tokio::test]
async fn run_when_its_only_failure_is_quarantined_then_passes_and_shows_it() {
    let app = spawn_app().await;
    let pool = app.db.pool().await;
    let run = run_of(&app, 2, 1).await;
    data(&quarantine_as(&app, &app.admin_token, run.cases[1], "known flaky").await);
    data(&complete(&app, run.executions[0], "PASSED").await);
    data(&complete(&app, run.executions[1], "FAILED").await);
    let q = "query($id: UUID!) { testRun(id: $id) { status passedTests failedTests
        quarantinedFailedTests infrastructureFailure } }";
    let body = app.gql(q, json!({ "id": run.id })).await;
    assert_eq!(
        data(&body)["testRun"],
        json!({ "status": "PASSED", "passedTests": 1, "failedTests": 1,
                "quarantinedFailedTests": 1, "infrastructureFailure": false })
    );
    // released, the same failure fails the next run
    data(&app.gql(RELEASE, json!({ "id": run.cases[1] })).await);
    let (next, by_case) = crate::helpers::runs::start_run(&app, run.suite, "after release").await;
    data(&complete(&app, by_case[&run.cases[0]], "PASSED").await);
    data(&complete(&app, by_case[&run.cases[1]], "FAILED").await);
    let body = app.gql(q, json!({ "id": next })).await;
    assert_eq!(data(&body)["testRun"]["status"], "FAILED");
    assert_eq!(data(&body)["testRun"]["quarantinedFailedTests"], 0);
    let stored: (i32, i32) = sqlx::query_as(
        "SELECT failed_tests, quarantined_failed_tests FROM test_runs WHERE id = $1",
    )
    .bind(run.id)
    .fetch_one(&pool)
    .await
    .expect("run");
    assert_eq!(stored, (1, 1));
}

#[tokio::test]
async fn mark_infrastructure_failure_when_not_a_maintainer_or_the_run_is_open_then_refused() {
    let app = spawn_app().await;
    project(&app, "web").await;
    member(&app, "web", "mo", "MEMBER").await;
    member(&app, "web", "max", "MAINTAINER").await;
    let mo = app.token("mo", &[Role::Member]).await;
    let max = app.token("max", &[Role::Member]).await;
    let pool = app.db.pool().await;
    let run: Uuid = query_scalar(
        "INSERT INTO test_runs(name, triggered_by, status, project_id)
         SELECT 'r', 'mo', 'running', id FROM projects WHERE key = 'web' RETURNING id",
    )
    .fetch_one(&pool)
    .await
    .expect("run");
    let m = "mutation($id: UUID!) { markInfrastructureFailure(runId: $id, value: true) {
        infrastructureFailure } }";
    assert_error(
        &app.gql_as(&max, m, json!({ "id": run })).await,
        "CONFLICT",
        "runId",
    );
    query("UPDATE test_runs SET status = 'failed', completed_at = now() WHERE id = $1")
        .bind(run)
        .execute(&pool)
        .await
        .expect("finish");
    assert_code(&app.gql_as(&mo, m, json!({ "id": run })).await, "FORBIDDEN");
    let body = app.gql_as(&max, m, json!({ "id": run })).await;
    assert_eq!(
        data(&body)["markInfrastructureFailure"]["infrastructureFailure"],
        true
    );
}
