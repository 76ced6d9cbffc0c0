//! Failure groups kept as results arrive: after every kind of change they equal the groups
//! computed on demand and a rebuild from scratch; concurrent writers of one group never wait
//! for each other; a member reads the kept groups of whole projects only.

use std::time::Duration;

use api::analytics::failures;
use api::analytics::types::{FailureFilter, FailureGroup};
use serde_json::{Value, json};
use sqlx::PgPool;
use uuid::Uuid;

use crate::helpers::catalog::data;
use crate::helpers::projects::{member, project, token};
use crate::helpers::q::{query, query_scalar};
use crate::helpers::{TestApp, spawn_app};

const GROUPS: &str = "query($f: FailureFilter) { failureGroups(filter: $f, limit: 500) {
  fingerprint count affectedTestCases affectedRuns firstSeenAt lastSeenAt examples } }";

/// How long a writer may wait for a lock before the concurrency test counts it as blocked.
const LOCK_WAIT: &str = "2s";

async fn case(pool: &PgPool, name: &str, project: Option<Uuid>) -> Uuid {
    query_scalar(
        "INSERT INTO test_cases(name, status, author, project_id)
         VALUES ($1, 'active', 'test-admin', coalesce($2, '00000000-0000-0000-0000-000000000001'::uuid))
         RETURNING id",
    )
    .bind(name)
    .bind(project)
    .fetch_one(pool)
    .await
    .expect("case")
}

async fn run(pool: &PgPool, project: Option<Uuid>) -> Uuid {
    query_scalar(
        "INSERT INTO test_runs(name, triggered_by, project_id)
         VALUES ('r', 'ci', coalesce($1, '00000000-0000-0000-0000-000000000001'::uuid)) RETURNING id",
    )
    .bind(project)
    .fetch_one(pool)
    .await
    .expect("run")
}

/// A failed execution of `case` in `run`, completed `days_ago` (fractional) days ago.
async fn failure(
    pool: &PgPool,
    case: Uuid,
    run: Option<Uuid>,
    message: &str,
    days_ago: f64,
) -> Uuid {
    query_scalar(
        "INSERT INTO test_executions(test_case_id, test_run_id, status, error_message, started_at,
                                     completed_at, retry_attempt)
         VALUES ($1, $2, 'failed', $3, now() - $4 * interval '1 day', now() - $4 * interval '1 day',
                 (SELECT count(*) FROM test_executions WHERE test_case_id = $1 AND test_run_id IS NOT DISTINCT FROM $2))
         RETURNING id",
    )
    .bind(case)
    .bind(run)
    .bind(message)
    .bind(days_ago)
    .fetch_one(pool)
    .await
    .expect("failure")
}

async fn project_id(pool: &PgPool, key: &str) -> Uuid {
    query_scalar("SELECT id FROM projects WHERE key = $1")
        .bind(key)
        .fetch_one(pool)
        .await
        .expect("project")
}

/// The kept tables, row by row.
async fn kept_rows(pool: &PgPool) -> Vec<String> {
    query_scalar(
        "SELECT format('group %s %s %s %s %s %s %s %s', project_id, fingerprint, failures,
                       affected_test_cases, affected_runs, first_seen_at, last_seen_at, examples)
         FROM failure_groups
         UNION ALL
         SELECT format('case %s %s %s %s %s %s %s', fingerprint_hash, test_case_id, project_id,
                       failures, first_seen_at, last_seen_at, examples) FROM failure_group_cases
         UNION ALL
         SELECT format('run %s %s %s %s', fingerprint_hash, test_run_id, project_id, failures)
         FROM failure_group_runs
         ORDER BY 1",
    )
    .fetch_all(pool)
    .await
    .expect("kept rows")
}

/// The kept groups (read as the admin, through the API, and as the owner) equal the groups
/// computed on demand, and the kept tables equal their rebuild from scratch; returns the
/// groups.
async fn assert_kept_exact(app: &TestApp, when: &str) -> Vec<FailureGroup> {
    let pool = app.db.pool().await;
    let owner = app.db.sea().await;
    let through_api = app.gql(GROUPS, json!({})).await;
    let api_groups = groups_of(&through_api);
    failures::fold(&owner).await.expect("fold");
    let kept = failures::failure_groups(&owner, &FailureFilter::default(), 500)
        .await
        .expect("kept groups");
    let computed = failures::grouped_on_demand(&owner, &FailureFilter::default(), 500)
        .await
        .expect("groups on demand");
    assert_eq!(kept, computed, "{when}: kept vs on demand");
    assert_eq!(api_groups, summary(&computed), "{when}: API vs on demand");
    let incremental = kept_rows(&pool).await;
    query("SELECT rebuild_failure_groups()")
        .execute(&pool)
        .await
        .expect("rebuild");
    assert_eq!(
        incremental,
        kept_rows(&pool).await,
        "{when}: kept vs rebuilt"
    );
    computed
}

/// What the API shows of groups, comparable: (fingerprint, count, cases, runs, first, last,
/// examples), times as instants.
type Shown = (String, i64, i64, i64, Option<i64>, Option<i64>, Vec<String>);

fn micros(v: &Value) -> Option<i64> {
    v.as_str().map(|s| {
        chrono::DateTime::parse_from_rfc3339(s)
            .expect("a timestamp")
            .timestamp_micros()
    })
}

fn groups_of(body: &Value) -> Vec<Shown> {
    data(body)["failureGroups"]
        .as_array()
        .unwrap_or_else(|| panic!("groups: {body}"))
        .iter()
        .map(|g| {
            (
                g["fingerprint"].as_str().expect("fingerprint").to_owned(),
                g["count"].as_i64().expect("count"),
                g["affectedTestCases"].as_i64().expect("cases"),
                g["affectedRuns"].as_i64().expect("runs"),
                micros(&g["firstSeenAt"]),
                micros(&g["lastSeenAt"]),
                serde_json::from_value(g["examples"].clone()).expect("examples"),
            )
        })
        .collect()
}

fn summary(groups: &[FailureGroup]) -> Vec<Shown> {
    groups
        .iter()
        .map(|g| {
            (
                g.fingerprint.clone(),
                g.count,
                g.affected_test_cases,
                g.affected_runs,
                g.first_seen_at.map(|t| t.timestamp_micros()),
                g.last_seen_at.map(|t| t.timestamp_micros()),
                g.examples.clone(),
            )
        })
        .collect()
}

fn find<'a>(groups: &'a [FailureGroup], fingerprint: &str) -> &'a FailureGroup {
    groups
        .iter()
        .find(|g| g.fingerprint == fingerprint)
        .unwrap_or_else(|| panic!("no group {fingerprint} in {groups:?}"))
}

const TIMEOUT: &str = "timeout after <n> ms";
const NOT_FOUND: &str = "element not found: .item-<n>";

#[tokio::test]
async fn failure_groups_when_results_are_written_changed_and_deleted_then_kept_equal_on_demand() {
    let app = spawn_app().await;
    let pool = app.db.pool().await;
    let (a, b, c) = (
        case(&pool, "a", None).await,
        case(&pool, "b", None).await,
        case(&pool, "c", None).await,
    );
    let (r1, r2) = (run(&pool, None).await, run(&pool, None).await);
    failure(&pool, a, Some(r1), "Timeout after 100 ms", 3.0).await;
    let latest = failure(&pool, a, Some(r2), "Timeout after 200 ms", 1.0).await;
    failure(&pool, b, Some(r1), "Timeout after 300 ms", 2.0).await;
    failure(&pool, c, Some(r2), "Element not found: .item-4", 2.0).await;
    // of no run: counted, in no run
    failure(&pool, c, None, "Timeout after 5 ms", 4.0).await;
    let groups = assert_kept_exact(&app, "inserted").await;
    let timeout = find(&groups, TIMEOUT);
    assert_eq!(
        (
            timeout.count,
            timeout.affected_test_cases,
            timeout.affected_runs
        ),
        (4, 3, 2)
    );
    assert_eq!(
        timeout.examples,
        [
            "Timeout after 100 ms",
            "Timeout after 200 ms",
            "Timeout after 300 ms"
        ]
    );
    let (first, last): (chrono::DateTime<chrono::Utc>, chrono::DateTime<chrono::Utc>) =
        crate::helpers::q::query_as(
            "SELECT min(completed_at), max(completed_at) FROM test_executions
             WHERE error_message LIKE 'Timeout%'",
        )
        .fetch_one(&pool)
        .await
        .expect("times");
    assert_eq!(timeout.first_seen_at.map(|t| t.to_utc()), Some(first));
    assert_eq!(timeout.last_seen_at.map(|t| t.to_utc()), Some(last));

    // a pending execution fails
    let pending: Uuid = query_scalar(
        "INSERT INTO test_executions(test_case_id, test_run_id, status, retry_attempt)
         VALUES ($1, $2, 'pending', 5) RETURNING id",
    )
    .bind(b)
    .bind(r2)
    .fetch_one(&pool)
    .await
    .expect("pending");
    query(
        "UPDATE test_executions SET status = 'failed', error_message = 'Element not found: .item-9',
                completed_at = now() WHERE id = $1",
    )
    .bind(pending)
    .execute(&pool)
    .await
    .expect("failed");
    let groups = assert_kept_exact(&app, "pending to failed").await;
    assert_eq!(find(&groups, NOT_FOUND).affected_runs, 1);
    assert_eq!(find(&groups, NOT_FOUND).affected_test_cases, 2);

    // the latest failure passes on a retry reported over it: the last seen goes back
    query("UPDATE test_executions SET status = 'passed', error_message = NULL WHERE id = $1")
        .bind(latest)
        .execute(&pool)
        .await
        .expect("passed");
    let groups = assert_kept_exact(&app, "failed to passed").await;
    assert_eq!(find(&groups, TIMEOUT).count, 3);
    assert!(find(&groups, TIMEOUT).last_seen_at < timeout.last_seen_at);
    assert_eq!(
        find(&groups, TIMEOUT).examples,
        [
            "Timeout after 100 ms",
            "Timeout after 300 ms",
            "Timeout after 5 ms"
        ]
    );

    // a message changes its group; a failure changes its completion time; an update that
    // changes nothing of a failure
    query("UPDATE test_executions SET error_message = 'Element not found: .item-1' WHERE error_message = 'Timeout after 300 ms'")
        .execute(&pool)
        .await
        .expect("message");
    query("UPDATE test_executions SET completed_at = completed_at - interval '10 days' WHERE error_message = 'Timeout after 100 ms'")
        .execute(&pool)
        .await
        .expect("time");
    query("UPDATE test_executions SET duration_seconds = 3 WHERE status = 'failed'")
        .execute(&pool)
        .await
        .expect("duration");
    assert_kept_exact(&app, "messages and times changed").await;

    // a run deleted: its executions stay, of no run; a case deleted: its executions go
    query("DELETE FROM test_runs WHERE id = $1")
        .bind(r1)
        .execute(&pool)
        .await
        .expect("run deleted");
    let groups = assert_kept_exact(&app, "run deleted").await;
    assert_eq!(find(&groups, TIMEOUT).affected_runs, 0);
    query("DELETE FROM test_cases WHERE id = $1")
        .bind(c)
        .execute(&pool)
        .await
        .expect("case deleted");
    assert_kept_exact(&app, "case deleted").await;
    query("DELETE FROM test_executions WHERE test_case_id = $1")
        .bind(a)
        .execute(&pool)
        .await
        .expect("executions deleted");
    let groups = assert_kept_exact(&app, "executions deleted").await;
    assert!(
        groups.iter().all(|g| g.fingerprint != TIMEOUT),
        "{groups:?}"
    );
}

#[tokio::test]
async fn failure_groups_when_executions_are_archived_and_restored_then_kept_follow() {
    let app = spawn_app().await;
    let pool = app.db.pool().await;
    let (a, b) = (case(&pool, "a", None).await, case(&pool, "b", None).await);
    let (old, recent) = (run(&pool, None).await, run(&pool, None).await);
    failure(&pool, a, Some(old), "Timeout after 1 ms", 120.0).await;
    failure(&pool, b, Some(old), "Timeout after 2 ms", 119.0).await;
    failure(&pool, a, Some(recent), "Timeout after 3 ms", 1.0).await;
    let before = assert_kept_exact(&app, "seeded").await;
    let archived = app
        .gql(
            "mutation { archiveExecutions(olderThanDays: 90) { executions } }",
            json!({}),
        )
        .await;
    assert_eq!(data(&archived)["archiveExecutions"]["executions"], 2);
    let groups = assert_kept_exact(&app, "archived").await;
    let timeout = find(&groups, TIMEOUT);
    assert_eq!(
        (
            timeout.count,
            timeout.affected_test_cases,
            timeout.affected_runs
        ),
        (1, 1, 1)
    );
    let restored = app
        .gql(
            "mutation($r: UUID!) { restoreArchivedExecutions(runId: $r) { executions } }",
            json!({ "r": old }),
        )
        .await;
    assert_eq!(
        data(&restored)["restoreArchivedExecutions"]["executions"],
        2
    );
    assert_eq!(assert_kept_exact(&app, "restored").await, before);
}

#[tokio::test]
async fn failure_groups_when_two_writers_fail_alike_then_neither_waits_for_the_other() {
    let app = spawn_app().await;
    let pool = app.db.pool().await;
    let a = case(&pool, "a", None).await;
    let shared = run(&pool, None).await;
    failure(&pool, a, Some(shared), "Timeout after 1 ms", 1.0).await;
    assert_kept_exact(&app, "seeded").await;
    let insert = "INSERT INTO test_executions(test_case_id, test_run_id, status, error_message,
                                              completed_at, retry_attempt)
                  VALUES ($1, $2, 'failed', $3, now(), $4)";
    // the first shard writes and stays open
    let mut first = pool.begin().await.expect("first");
    query(insert)
        .bind(a)
        .bind(shared)
        .bind("Timeout after 2 ms")
        .bind(1)
        .execute(&mut *first)
        .await
        .expect("first writes");
    // the second writes the same group, and commits, without waiting for a lock
    let mut second = pool.begin().await.expect("second");
    query(format!("SET LOCAL lock_timeout = '{LOCK_WAIT}'"))
        .execute(&mut *second)
        .await
        .expect("lock timeout");
    query(insert)
        .bind(a)
        .bind(shared)
        .bind("Timeout after 3 ms")
        .bind(2)
        .execute(&mut *second)
        .await
        .expect("the second writer is not blocked");
    let mut backends = Vec::new();
    for tx in [&mut first, &mut second] {
        let pid: i32 = query_scalar("SELECT pg_backend_pid()")
            .fetch_one(&mut **tx)
            .await
            .expect("backend");
        backends.push(pid);
    }
    let waiting: i64 =
        query_scalar("SELECT count(*) FROM pg_locks WHERE pid = ANY($1) AND NOT granted")
            .bind(&backends)
            .fetch_one(&pool)
            .await
            .expect("locks");
    assert_eq!(waiting, 0, "a lock is waited for");
    tokio::time::timeout(Duration::from_secs(10), second.commit())
        .await
        .expect("the second commits while the first is open")
        .expect("commit");
    // a fold meanwhile does not wait for the open writer either, and counts what committed
    let mut folding = pool.begin().await.expect("fold");
    query(format!("SET LOCAL lock_timeout = '{LOCK_WAIT}'"))
        .execute(&mut *folding)
        .await
        .expect("lock timeout");
    query("SELECT fold_failure_groups()")
        .execute(&mut *folding)
        .await
        .expect("the fold is not blocked");
    folding.commit().await.expect("fold commits");
    let kept: i64 = query_scalar("SELECT failures FROM failure_groups")
        .fetch_one(&pool)
        .await
        .expect("kept");
    assert_eq!(kept, 2);
    first.commit().await.expect("first commits");
    let groups = assert_kept_exact(&app, "both committed").await;
    assert_eq!(find(&groups, TIMEOUT).count, 3);
}

#[tokio::test]
async fn failure_groups_when_a_member_reads_then_only_their_projects_as_on_demand() {
    let app = spawn_app().await;
    let pool = app.db.pool().await;
    project(&app, "alpha").await;
    project(&app, "beta").await;
    member(&app, "alpha", "mia", "MEMBER").await;
    let (alpha, beta) = (
        project_id(&pool, "alpha").await,
        project_id(&pool, "beta").await,
    );
    let (a, b) = (
        case(&pool, "a", Some(alpha)).await,
        case(&pool, "b", Some(beta)).await,
    );
    let (ra, rb) = (run(&pool, Some(alpha)).await, run(&pool, Some(beta)).await);
    failure(&pool, a, Some(ra), "Timeout after 1 ms", 2.0).await;
    failure(&pool, a, Some(ra), "Timeout after 2 ms", 1.0).await;
    failure(&pool, b, Some(rb), "Timeout after 3 ms", 1.5).await;
    failure(&pool, b, Some(rb), "Element not found: .item-2", 1.0).await;
    failure(&pool, b, None, "Timeout after 4 ms", 0.5).await;
    // the admin's kept groups span both projects and the executions of no run
    let all = assert_kept_exact(&app, "seeded").await;
    let timeout = find(&all, TIMEOUT);
    assert_eq!(
        (
            timeout.count,
            timeout.affected_test_cases,
            timeout.affected_runs
        ),
        (4, 2, 2)
    );

    let owner = app.db.sea().await;
    let in_alpha = FailureFilter {
        project_id: Some(alpha),
        ..FailureFilter::default()
    };
    let expected = summary(
        &failures::grouped_on_demand(&owner, &in_alpha, 500)
            .await
            .expect("alpha on demand"),
    );
    assert_eq!(expected.len(), 1, "{expected:?}");
    assert_eq!((expected[0].1, expected[0].2, expected[0].3), (2, 1, 1));
    // a token of alpha: its kept groups; an unscoped one (the author's rule applies): on
    // demand; the admin's view of alpha: kept. All the same.
    let scoped = token(&app, "mia", Some("alpha"), None).await;
    let unscoped = token(&app, "mia", None, None).await;
    for (who, body) in [
        ("scoped", app.gql_as(&scoped, GROUPS, json!({})).await),
        ("unscoped", app.gql_as(&unscoped, GROUPS, json!({})).await),
        (
            "unscoped, alpha",
            app.gql_as(&unscoped, GROUPS, json!({ "f": { "projectKey": "alpha" } }))
                .await,
        ),
        (
            "admin, alpha",
            app.gql(GROUPS, json!({ "f": { "projectKey": "alpha" } }))
                .await,
        ),
    ] {
        assert_eq!(groups_of(&body), expected, "{who}: {body}");
    }
    // beta is not theirs to name
    let body = app
        .gql_as(&scoped, GROUPS, json!({ "f": { "projectKey": "beta" } }))
        .await;
    assert_eq!(
        body["errors"][0]["extensions"]["code"], "BAD_USER_INPUT",
        "{body}"
    );
}

#[tokio::test]
async fn failure_groups_when_since_reaches_too_far_back_then_bad_input() {
    let app = spawn_app().await;
    let since = chrono::Utc::now() - chrono::Duration::days(failures::ON_DEMAND_MAX_DAYS + 1);
    let body = app
        .gql(GROUPS, json!({ "f": { "since": since.to_rfc3339() } }))
        .await;
    assert_eq!(
        body["errors"][0]["extensions"]["code"], "BAD_USER_INPUT",
        "{body}"
    );
    assert_eq!(
        body["errors"][0]["extensions"]["field"], "filter.since",
        "{body}"
    );
}
