//! Shared subscription streams and routing by run: identical subscriptions are executed and
//! serialised once per event, a client joining a running stream gets its own whole state, an
//! event wakes only the subscriptions of its run. Real sockets, real PostgreSQL; the figures
//! come from the server's own /metrics (each test runs in its own process).

use std::time::Duration;

use serde_json::{Value, json};

use crate::helpers::ws::{Frame, LEGACY_WS, TRANSPORT_WS, WsClient};
use crate::helpers::{eventually, spawn_app};
use crate::live::{PROGRESS, announced, announcements, complete, live_figure, started_run};

const EXECUTIONS: &str =
    "subscription($id: UUID!) { testExecutionUpdates(runId: $id) { id status } }";

/// How long a client that should get nothing is watched.
const QUIET: Duration = Duration::from_millis(400);

/// Waits until `done` holds for this server's figure `name`; fails after ten seconds.
async fn metric_until(app: &crate::helpers::TestApp, name: &str, done: impl Fn(f64) -> bool) {
    let done = &done;
    eventually(
        &format!("{name} on /readyz"),
        Duration::from_secs(10),
        || async move { done(live_figure(app, name).await) },
    )
    .await;
}

async fn suite_of(app: &crate::helpers::TestApp, run: uuid::Uuid) -> uuid::Uuid {
    crate::helpers::q::query_scalar(format!(
        "SELECT test_suite_id FROM test_runs WHERE id = '{run}'"
    ))
    .fetch_one(&app.db.pool().await)
    .await
    .expect("the run's suite")
}

fn progress(payload: &Value) -> &Value {
    &payload["data"]["testRunProgress"]
}

/// The next result payload of `id`, whichever protocol's spelling (`next`, `data`).
async fn next_result(ws: &mut WsClient, id: &str) -> Value {
    let m = ws
        .next_about(id)
        .await
        .expect("a message before the timeout");
    assert!(
        m["type"] == "next" || m["type"] == "data",
        "not a result: {m}"
    );
    m
}

#[tokio::test]
async fn identical_subscribers_share_one_execution_and_one_serialisation_per_event() {
    let app = spawn_app().await;
    let (run, executions) = started_run(&app, 3).await;
    let mut clients = Vec::new();
    // a named operation, sent without operationName, shares as an anonymous one does
    let named = PROGRESS.replacen("subscription(", "subscription Progress(", 1);
    assert_ne!(named, PROGRESS);
    for i in 0..12 {
        // one of them speaks the legacy protocol: same stream, its own framing
        let protocol = if i == 0 { LEGACY_WS } else { TRANSPORT_WS };
        let mut ws = WsClient::connect_with(app.addr, protocol, &app.admin_token).await;
        ws.subscribe("p", &named, json!({"id": run})).await;
        let first = next_result(&mut ws, "p").await;
        assert_eq!(progress(&first["payload"])["snapshot"], true, "{first}");
        clients.push((protocol, ws));
    }
    assert_eq!(live_figure(&app, "liveStreams").await, 1.0);
    assert_eq!(live_figure(&app, "subscribers").await, 12.0);

    let before = live_figure(&app, "liveStreamMessages").await;
    complete(&app, executions[0], "PASSED").await;
    let mut payloads = Vec::new();
    for (protocol, ws) in &mut clients {
        let m = next_result(ws, "p").await;
        let expected = if *protocol == LEGACY_WS {
            "data"
        } else {
            "next"
        };
        assert_eq!(m["type"], expected, "{m}");
        let p = progress(&m["payload"]).clone();
        assert_eq!(p["passedTests"], 1, "{p}");
        assert_eq!(p["snapshot"], false, "{p}");
        payloads.push(m["payload"].clone());
    }
    // the very same message for everyone, produced once
    assert!(payloads.iter().all(|p| *p == payloads[0]));
    let produced = live_figure(&app, "liveStreamMessages").await - before;
    assert_eq!(produced, 1.0, "one event, one message produced");
}

#[tokio::test]
async fn a_client_joining_a_running_stream_gets_its_whole_state_and_the_others_nothing_extra() {
    let app = spawn_app().await;
    let (run, executions) = started_run(&app, 3).await;
    let mut first = WsClient::connect(app.addr, &app.admin_token).await;
    first.subscribe("p", PROGRESS, json!({"id": run})).await;
    assert_eq!(
        progress(&next_result(&mut first, "p").await["payload"])["passedTests"],
        0
    );
    complete(&app, executions[0], "PASSED").await;
    assert_eq!(
        progress(&next_result(&mut first, "p").await["payload"])["passedTests"],
        1
    );

    let mut late = WsClient::connect(app.addr, &app.admin_token).await;
    late.subscribe("p", PROGRESS, json!({"id": run})).await;
    let whole = next_result(&mut late, "p").await;
    let p = progress(&whole["payload"]);
    assert_eq!(p["snapshot"], true, "{whole}");
    assert_eq!(p["passedTests"], 1, "the state as it is now: {whole}");
    assert_eq!(
        live_figure(&app, "liveStreams").await,
        1.0,
        "one stream for both"
    );
    // the newcomer's whole state is not sent again to the client that has it
    match first.next_frame_within(QUIET).await {
        Frame::TimedOut => {}
        other => panic!("the first client was sent something: {other:?}"),
    }

    complete(&app, executions[1], "FAILED").await;
    for ws in [&mut first, &mut late] {
        let p = next_result(ws, "p").await;
        assert_eq!(progress(&p["payload"])["failedTests"], 1, "{p}");
        assert_eq!(progress(&p["payload"])["snapshot"], false, "{p}");
    }
}

#[tokio::test]
async fn a_subscriber_right_after_writes_gets_them_in_its_first_state_and_not_again() {
    // two writes back to back: the second's event waits for the run's coalescing window, so
    // a client subscribing meanwhile follows before it goes out, though its first state
    // already holds both
    const ROUNDS: usize = 5;
    let app = spawn_app().await;
    let (run, executions) = started_run(&app, 2 * ROUNDS).await;
    for round in 0..ROUNDS {
        let seen = announcements(&app).await;
        complete(&app, executions[2 * round], "PASSED").await;
        complete(&app, executions[2 * round + 1], "PASSED").await;
        // the server has received both commits' notifications: they were committed before
        // this client follows
        announced(&app, seen).await;
        let mut ws = WsClient::connect(app.addr, &app.admin_token).await;
        ws.subscribe("p", PROGRESS, json!({"id": run})).await;
        let first = next_result(&mut ws, "p").await;
        let p = progress(&first["payload"]);
        assert_eq!(p["snapshot"], true, "{first}");
        assert_eq!(p["passedTests"], 2 * round + 2, "{first}");
        match ws.next_frame_within(QUIET).await {
            Frame::TimedOut => {}
            other => panic!(
                "round {round}: a change already in the first state was sent again: {other:?}"
            ),
        }
        drop(ws);
        // the next round starts a stream of its own
        metric_until(&app, "liveStreams", |v| v == 0.0).await;
    }
}

#[tokio::test]
async fn subscribers_who_see_different_rows_do_not_share_a_stream() {
    let app = spawn_app().await;
    let (run, _) = started_run(&app, 1).await;
    let member = app.token("mallory", &[api::auth::Role::Member]).await;
    let mut admin = WsClient::connect(app.addr, &app.admin_token).await;
    admin.subscribe("p", PROGRESS, json!({"id": run})).await;
    let mut outsider = WsClient::connect(app.addr, &member).await;
    outsider.subscribe("p", PROGRESS, json!({"id": run})).await;
    let seen = next_result(&mut admin, "p").await;
    assert_eq!(progress(&seen["payload"])["totalTests"], 1, "{seen}");
    let refused = outsider.next_about("p").await.expect("an answer");
    let code = refused["payload"]["errors"][0]["extensions"]["code"].as_str();
    assert_eq!(code, Some("NOT_FOUND"), "{refused}");
    assert_eq!(
        outsider.next_about("p").await.expect("the end")["type"],
        "complete"
    );
    // the outsider's stream ended; the admin's runs on
    metric_until(&app, "liveStreams", |v| v == 1.0).await;
}

#[tokio::test]
async fn an_event_wakes_only_the_subscriptions_of_its_run() {
    let app = spawn_app().await;
    let (watched, watched_executions) = started_run(&app, 2).await;
    let mut ws = WsClient::connect(app.addr, &app.admin_token).await;
    ws.subscribe("p", PROGRESS, json!({"id": watched})).await;
    ws.subscribe("e", EXECUTIONS, json!({"id": watched})).await;
    next_result(&mut ws, "p").await;
    next_result(&mut ws, "e").await;
    next_result(&mut ws, "e").await;
    // the watched run's own start may still be announced after its first state: let it pass
    while let Frame::Message(m) = ws.next_frame_within(QUIET).await {
        assert_eq!(m["type"], "next", "{m}");
    }

    // another run of the same suite changes: its events go out, and wake nobody here but a
    // dashboard of every run, which counts them
    let mut probe = WsClient::connect(app.addr, &app.admin_token).await;
    probe
        .subscribe(
            "r",
            "subscription { testRunsUpdates { runId passedTests } }",
            json!({}),
        )
        .await;
    metric_until(&app, "subscribers", |v| v == 3.0).await;
    let woken_before = live_figure(&app, "liveWakeups").await;
    let other = app
        .gql(
            "mutation($r: UUID!) { a: startTestRun(input: {suiteId: $r, name: \"other\"}) { id executions(first: 10) { edges { node { id } } } } }",
            json!({"r": suite_of(&app, watched).await}),
        )
        .await;
    let other_run = other["data"]["a"]["id"].as_str().expect("run").to_owned();
    let other_executions: Vec<uuid::Uuid> = other["data"]["a"]["executions"]["edges"]
        .as_array()
        .expect("executions")
        .iter()
        .map(|e| e["node"]["id"].as_str().expect("id").parse().expect("uuid"))
        .collect();
    assert_eq!(other_executions.len(), 2, "{other}");
    for e in &other_executions {
        complete(&app, *e, "PASSED").await;
    }
    let mut probed = 0.0;
    let mut done = false;
    loop {
        match probe
            .next_frame_within(if done { QUIET } else { Duration::from_secs(10) })
            .await
        {
            Frame::Message(m) if m["type"] == "next" => {
                let run = &m["payload"]["data"]["testRunsUpdates"];
                assert_eq!(run["runId"], other_run.as_str(), "{m}");
                probed += 1.0;
                done |= run["passedTests"] == 2;
            }
            Frame::TimedOut if done => break,
            other => panic!("the dashboard of every run: {other:?}"),
        }
    }
    assert_eq!(
        live_figure(&app, "liveWakeups").await - woken_before,
        probed,
        "an event of another run woke a subscription of the watched run"
    );
    match ws.next_frame_within(QUIET).await {
        Frame::TimedOut => {}
        other => panic!("a message about another run: {other:?}"),
    }
    drop(probe);
    metric_until(&app, "subscribers", |v| v == 2.0).await;
    let woken_before = live_figure(&app, "liveWakeups").await;

    // its own run's change wakes both of its streams
    complete(&app, watched_executions[0], "PASSED").await;
    let mut got = (false, false);
    while !(got.0 && got.1) {
        let m = ws.next_message().await.expect("the change");
        got.0 |= m["id"] == "p";
        got.1 |= m["id"] == "e";
    }
    assert_eq!(live_figure(&app, "liveWakeups").await - woken_before, 2.0);
}

#[tokio::test]
async fn the_stream_stops_when_its_last_client_leaves() {
    let app = spawn_app().await;
    let (run, executions) = started_run(&app, 2).await;
    let mut a = WsClient::connect(app.addr, &app.admin_token).await;
    a.subscribe("p", PROGRESS, json!({"id": run})).await;
    next_result(&mut a, "p").await;
    let mut b = WsClient::connect(app.addr, &app.admin_token).await;
    b.subscribe("p", PROGRESS, json!({"id": run})).await;
    next_result(&mut b, "p").await;
    assert_eq!(live_figure(&app, "liveStreams").await, 1.0);

    // one completes its subscription: the server confirms, the other goes on
    a.complete("p").await;
    assert_eq!(
        a.next_about("p").await.expect("complete")["type"],
        "complete"
    );
    complete(&app, executions[0], "PASSED").await;
    assert_eq!(
        progress(&next_result(&mut b, "p").await["payload"])["passedTests"],
        1
    );
    match a.next_frame_within(QUIET).await {
        Frame::TimedOut => {}
        other => panic!("a completed subscription was sent something: {other:?}"),
    }
    assert_eq!(live_figure(&app, "subscribers").await, 1.0);

    // the id is free again on that socket
    a.subscribe("p", PROGRESS, json!({"id": run})).await;
    assert_eq!(
        progress(&next_result(&mut a, "p").await["payload"])["passedTests"],
        1
    );

    // every client gone: the stream stops
    drop(a);
    drop(b);
    metric_until(&app, "liveStreams", |v| v == 0.0).await;
    metric_until(&app, "subscribers", |v| v == 0.0).await;
}

#[tokio::test]
async fn a_whole_state_larger_than_a_sockets_outbox_reaches_the_client_whole() {
    // more executions than the socket's outbox holds messages: the rest are queued for it
    const CASES: usize = 700;
    let app = spawn_app().await;
    let (run, _) = started_run(&app, CASES).await;
    let mut ws = WsClient::connect(app.addr, &app.admin_token).await;
    ws.subscribe("e", EXECUTIONS, json!({"id": run})).await;
    let mut seen = std::collections::HashSet::new();
    while seen.len() < CASES {
        let m = next_result(&mut ws, "e").await;
        let id = m["payload"]["data"]["testExecutionUpdates"]["id"]
            .as_str()
            .expect("an execution")
            .to_owned();
        seen.insert(id);
    }
    assert_eq!(seen.len(), CASES);
}

#[tokio::test]
async fn a_subscription_with_two_root_fields_gets_both() {
    let app = spawn_app().await;
    let (run, executions) = started_run(&app, 1).await;
    let mut ws = WsClient::connect(app.addr, &app.admin_token).await;
    ws.subscribe(
        "both",
        "subscription($id: UUID!) { testRunProgress(runId: $id) { passedTests }
            testExecutionUpdates(runId: $id) { status } }",
        json!({"id": run}),
    )
    .await;
    let (mut progress_seen, mut execution_seen) = (false, false);
    while !(progress_seen && execution_seen) {
        let m = next_result(&mut ws, "both").await;
        progress_seen |= !m["payload"]["data"]["testRunProgress"].is_null();
        execution_seen |= !m["payload"]["data"]["testExecutionUpdates"].is_null();
    }
    complete(&app, executions[0], "PASSED").await;
    ws.until("both", |p| p["data"]["testRunProgress"]["passedTests"] == 1)
        .await;
}
