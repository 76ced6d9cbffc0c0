//! Read replicas: queries read from a real streaming standby (made with `pg_basebackup` from a
//! primary of the test's own) under the same security context; mutations, and every operation
//! of a document with a mutation, use the primary; a replica over the lag bound or stopped is
//! skipped (reads on the primary), shows in `/readyz` and `/metrics`, and serves again once
//! back.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use serde_json::{Value, json};

use crate::helpers::projects::{member, project, token};
use api::db::replicas::ReadReplicas;
use sqlx::Connection;

use crate::helpers::eventually;
use crate::helpers::standby::{REPLICA_TIMEOUT, Replicated};

/// Every case the caller sees, by name.
const CASES: &str = "{ testCases(first: 100) { edges { node { name } } } }";

/// A lag bound no test reaches: the replica serves however long its replay is paused.
const FOREVER: Duration = Duration::from_secs(3600);

/// Concurrent clients querying while the replica is stopped: several reads are under way on
/// it when it goes.
const CLIENTS: usize = 4;

/// The case names of a `testCases` answer, sorted; panics on errors.
fn names(body: &Value) -> Vec<String> {
    assert!(body["errors"].is_null(), "{body}");
    let mut names: Vec<String> = body["data"]["testCases"]["edges"]
        .as_array()
        .unwrap_or_else(|| panic!("{body}"))
        .iter()
        .map(|e| e["node"]["name"].as_str().expect("a name").to_owned())
        .collect();
    names.sort();
    names
}

/// Creates case `name` in project `key` through a mutation, which answers what it wrote.
async fn write_case(r: &Replicated, name: &str, key: &str) {
    let body = r
        .app
        .gql(
            "mutation($input: CreateTestCaseInput!) { createTestCase(input: $input) { name } }",
            json!({ "input": { "name": name, "projectKey": key } }),
        )
        .await;
    assert_eq!(body["data"]["createTestCase"]["name"], name, "{body}");
}

fn sorted(names: &[&str]) -> Vec<String> {
    let mut names: Vec<String> = names.iter().map(|n| (*n).to_owned()).collect();
    names.sort();
    names
}

#[tokio::test]
async fn query_when_the_replica_serves_then_it_reads_there_under_the_callers_visibility() {
    let r = Replicated::start(FOREVER).await;
    project(&r.app, "web-shop").await;
    project(&r.app, "mobile").await;
    member(&r.app, "web-shop", "alice", "MEMBER").await;
    let alice = token(&r.app, "alice", None, None).await;
    write_case(&r, "web case", "web-shop").await;
    write_case(&r, "mobile case", "mobile").await;
    r.pause_replay().await;
    write_case(&r, "written while paused", "web-shop").await;

    let on_replica = r.reads_on("replica").await;
    // the replica has not replayed the last write: the queries were answered there
    assert_eq!(
        names(&r.app.gql(CASES, json!({})).await),
        sorted(&["mobile case", "web case"])
    );
    // and under alice's security context: only her project's cases
    assert_eq!(
        names(&r.app.gql_as(&alice, CASES, json!({})).await),
        sorted(&["web case"])
    );
    assert_eq!(r.reads_on("replica").await, on_replica + 2.0);

    r.resume_replay().await;
    eventually(
        "the replica to show the last write",
        REPLICA_TIMEOUT,
        || async { names(&r.app.gql(CASES, json!({})).await).len() == 3 },
    )
    .await;
}

#[tokio::test]
async fn mutation_document_when_replay_is_paused_then_its_query_reads_the_primary() {
    let r = Replicated::start(FOREVER).await;
    project(&r.app, "web-shop").await;
    write_case(&r, "before", "web-shop").await;
    r.pause_replay().await;
    write_case(&r, "after", "web-shop").await;

    // the query of a document that also holds a mutation runs on the primary: it sees the
    // write the replica has not replayed
    let document = format!(
        "query Cases {CASES} mutation Write {{ createTestCase(input: {{ name: \"x\", \
         projectKey: \"web-shop\" }}) {{ id }} }}"
    );
    let on_primary = r
        .app
        .http(reqwest::Method::POST, "/graphql")
        .json(&json!({ "query": document, "operationName": "Cases" }))
        .send()
        .await
        .expect("POST /graphql")
        .json::<Value>()
        .await
        .expect("a GraphQL answer");
    assert_eq!(names(&on_primary), sorted(&["after", "before"]));
    // a query alone reads the replica, which has not
    assert_eq!(
        names(&r.app.gql(CASES, json!({})).await),
        sorted(&["before"])
    );
}

#[tokio::test]
async fn replica_when_its_lag_passes_the_bound_then_reads_go_to_the_primary_until_it_catches_up() {
    let r = Replicated::start(Duration::from_millis(500)).await;
    project(&r.app, "web-shop").await;
    write_case(&r, "before", "web-shop").await;
    r.pause_replay().await;
    write_case(&r, "after", "web-shop").await;

    r.wait_for_state("lagging").await;
    let on_replica = r.reads_on("replica").await;
    // fresh data: the primary answered
    assert_eq!(
        names(&r.app.gql(CASES, json!({})).await),
        sorted(&["after", "before"])
    );
    assert_eq!(r.reads_on("replica").await, on_replica);
    let (status, ready) = r.readyz().await;
    assert_eq!(
        status, 200,
        "a lagging replica never makes the server unready"
    );
    let replica = &ready["readReplicas"][0];
    assert_eq!(replica["state"], "lagging", "{ready}");
    assert!(
        replica["lagSeconds"].as_f64().expect("a lag") > 0.5,
        "{ready}"
    );
    assert!(
        !replica["replica"]
            .as_str()
            .expect("a label")
            .contains("postgres@"),
        "{ready}"
    );
    let metrics = r.metrics().await;
    assert!(
        metrics
            .lines()
            .any(|l| l.starts_with("jbts_read_replica_state{")
                && l.contains("state=\"lagging\"")
                && l.ends_with(" 1")),
        "{metrics}"
    );

    r.resume_replay().await;
    r.wait_for_state("ok").await;
    let on_replica = r.reads_on("replica").await;
    assert_eq!(
        names(&r.app.gql(CASES, json!({})).await),
        sorted(&["after", "before"])
    );
    assert_eq!(r.reads_on("replica").await, on_replica + 1.0);
}

#[tokio::test]
async fn replica_when_stopped_while_queries_run_then_every_query_answers_and_it_serves_once_back() {
    let mut r = Replicated::start(FOREVER).await;
    project(&r.app, "web-shop").await;
    write_case(&r, "one", "web-shop").await;
    write_case(&r, "two", "web-shop").await;
    r.caught_up().await;
    let expected = sorted(&["one", "two"]);

    let stop = Arc::new(AtomicBool::new(false));
    let clients: Vec<_> = (0..CLIENTS)
        .map(|_| {
            let stop = stop.clone();
            let client = r.app.client.clone();
            let url = r.app.url("/graphql");
            let token = r.app.admin_token.clone();
            tokio::spawn(async move {
                let mut answers = Vec::new();
                while !stop.load(Ordering::Acquire) {
                    let body: Value = client
                        .post(&url)
                        .bearer_auth(&token)
                        .json(&json!({ "query": CASES }))
                        .send()
                        .await
                        .expect("POST /graphql")
                        .json()
                        .await
                        .expect("a GraphQL answer");
                    answers.push(body);
                }
                answers
            })
        })
        .collect();
    let on_replica = r.reads_on("replica").await;
    eventually(
        "queries to read on the replica",
        REPLICA_TIMEOUT,
        || async { r.reads_on("replica").await > on_replica + 10.0 },
    )
    .await;
    r.stop_standby_immediately().await;
    r.wait_for_state("down").await;
    let on_primary = r.reads_on("primary").await;
    eventually(
        "queries to read on the primary",
        REPLICA_TIMEOUT,
        || async { r.reads_on("primary").await > on_primary + 10.0 },
    )
    .await;
    stop.store(true, Ordering::Release);
    let mut answered = 0;
    for client in clients {
        for body in client.await.expect("a client") {
            assert_eq!(names(&body), expected);
            answered += 1;
        }
    }
    assert!(answered > 20, "{answered} queries");
    let (status, ready) = r.readyz().await;
    assert_eq!(
        status, 200,
        "a stopped replica never makes the server unready"
    );
    assert_eq!(ready["readReplicas"][0]["state"], "down", "{ready}");

    r.start_standby_again().await;
    r.wait_for_state("ok").await;
    let on_replica = r.reads_on("replica").await;
    assert_eq!(names(&r.app.gql(CASES, json!({})).await), expected);
    assert_eq!(r.reads_on("replica").await, on_replica + 1.0);
}

#[tokio::test]
async fn query_when_its_replica_stops_mid_request_then_the_primary_answers_it() {
    let mut r = Replicated::start(FOREVER).await;
    project(&r.app, "web-shop").await;
    write_case(&r, "one", "web-shop").await;
    // the standby replays an exclusive lock of the cases' table taken on the primary, and
    // keeps it once its replay is paused, while the primary lets it go: a query of the
    // cases on the replica then waits there, mid-request
    let mut primary = sqlx::PgConnection::connect(&r.app.db.url)
        .await
        .expect("connecting to the primary");
    sqlx::raw_sql("BEGIN; LOCK TABLE test_cases IN ACCESS EXCLUSIVE MODE")
        .execute(&mut primary)
        .await
        .expect("locking the cases");
    r.pause_replay().await;
    sqlx::raw_sql("ROLLBACK")
        .execute(&mut primary)
        .await
        .expect("letting the lock go");

    let retried = r.fallbacks("retried").await;
    let client = r.app.client.clone();
    let url = r.app.url("/graphql");
    let token = r.app.admin_token.clone();
    let query = tokio::spawn(async move {
        client
            .post(&url)
            .bearer_auth(&token)
            .json(&json!({ "query": CASES }))
            .send()
            .await
            .expect("POST /graphql")
            .json::<Value>()
            .await
            .expect("a GraphQL answer")
    });
    eventually("the query to wait on the replica", REPLICA_TIMEOUT, || {
        r.reads_waiting_on_the_standby()
    })
    .await;
    r.stop_standby_immediately().await;

    let body = tokio::time::timeout(REPLICA_TIMEOUT, query)
        .await
        .expect("the query answered in time")
        .expect("the query's task");
    assert_eq!(names(&body), sorted(&["one"]));
    assert_eq!(r.fallbacks("retried").await, retried + 1.0);
}

#[tokio::test]
async fn choose_caught_up_when_replay_is_paused_then_none_until_the_replica_replays() {
    let r = Replicated::start(FOREVER).await;
    project(&r.app, "web-shop").await;
    let (_serving, stopped) = tokio::sync::watch::channel(false);
    let options = api::config::ReplicaOptions {
        urls: vec![r.standby_url()],
        max_lag: FOREVER,
    };
    let replicas = ReadReplicas::start(&options, stopped).await;
    let primary = r.app.db.sea().await;
    let (replicas, primary) = (&replicas, &primary);
    eventually(
        "a replica to have replayed all",
        REPLICA_TIMEOUT,
        || async move { replicas.choose_caught_up(primary).await.is_some() },
    )
    .await;

    r.pause_replay().await;
    write_case(&r, "after", "web-shop").await;
    assert!(replicas.choose_caught_up(primary).await.is_none());
    // behind the primary, but within the lag bound: still a replica for plain queries
    assert!(replicas.choose().is_some());

    r.resume_replay().await;
    eventually(
        "the replica to replay the write",
        REPLICA_TIMEOUT,
        || async move { replicas.choose_caught_up(primary).await.is_some() },
    )
    .await;
}
