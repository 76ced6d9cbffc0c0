//! Live subscriptions over real sockets and a real PostgreSQL.

use serde_json::{Value, json};
use uuid::Uuid;

use crate::helpers::ws::WsClient;
use crate::helpers::{TestApp, spawn_app};

pub(crate) const PROGRESS: &str = "subscription($id: UUID!) { testRunProgress(runId: $id) {
    runId status totalTests passedTests failedTests skippedTests pendingTests runningTests percentComplete
    seq snapshot changedExecutions { id status testCaseName } } }";

/// This server's own figure `name` from /readyz (the metrics of the servers tests run in one
/// process mix): `subscribers`, `liveStreams`, `liveStreamMessages`, `liveWakeups`,
/// `liveNotifications`.
pub(crate) async fn live_figure(app: &TestApp, name: &str) -> f64 {
    let (_, body) = app.readyz().await;
    body[name]
        .as_f64()
        .unwrap_or_else(|| panic!("no {name} in {body}"))
}

/// Channel of the fence [`announced`] sends after the writes it waits for.
const FENCE: &str = "jbts_test_fence";

/// Listens for run changes from now on; [`announced`] then waits until the server received
/// every change announced since.
pub(crate) struct Announcements {
    listener: sqlx::postgres::PgListener,
    pool: sqlx::PgPool,
    /// The server's count when listening began.
    before: f64,
}

pub(crate) async fn announcements(app: &TestApp) -> Announcements {
    // read first: a change committed meanwhile is then at worst not waited for, never
    // counted twice (a count the server would never reach)
    let before = live_figure(app, "liveNotifications").await;
    let pool = app.db.pool().await;
    let mut listener = sqlx::postgres::PgListener::connect_with(&pool)
        .await
        .expect("listener");
    listener
        .listen_all([api::live::event::CHANNEL, FENCE])
        .await
        .expect("listen");
    Announcements {
        listener,
        pool,
        before,
    }
}

/// Waits until the server received every run change committed since `announcements`: a
/// subscription made after this follows with all of them in its first state, none pending.
pub(crate) async fn announced(app: &TestApp, mut seen: Announcements) {
    // notifications reach a listener in commit order: those before the fence are all of them
    crate::helpers::q::query(format!("NOTIFY {FENCE}"))
        .execute(&seen.pool)
        .await
        .expect("fence");
    let mut changes = 0.0;
    loop {
        let note = tokio::time::timeout(std::time::Duration::from_secs(10), seen.listener.recv())
            .await
            .expect("the fence within 10 s")
            .expect("a notification");
        if note.channel() == FENCE {
            break;
        }
        changes += 1.0;
    }
    let target = seen.before + changes;
    crate::helpers::eventually(
        &format!("the server to receive {changes} run changes"),
        std::time::Duration::from_secs(10),
        || async { live_figure(app, "liveNotifications").await >= target },
    )
    .await;
}

/// A suite of `n` active cases started as a run, its changes received by the server; returns
/// (run id, execution ids).
pub(crate) async fn started_run(app: &TestApp, n: usize) -> (Uuid, Vec<Uuid>) {
    let seen = announcements(app).await;
    let pool = app.db.pool().await;
    crate::helpers::q::query(format!(
        "INSERT INTO test_cases(name, status, author) SELECT 'live case ' || g, 'active', 'test-admin' FROM generate_series(1, {n}) g"
    ))
    .execute(&pool)
    .await
    .expect("cases");
    let suite: Uuid = crate::helpers::q::query_scalar(
        "INSERT INTO test_suites(name, created_by) VALUES ('live', 'test-admin') RETURNING id",
    )
    .fetch_one(&pool)
    .await
    .expect("suite");
    crate::helpers::q::query(format!(
        "INSERT INTO test_suite_test_cases(test_suite_id, test_case_id, order_index)
         SELECT '{suite}', id, row_number() OVER (ORDER BY name) FROM test_cases"
    ))
    .execute(&pool)
    .await
    .expect("members");
    let body = app
        .gql(
            "mutation($s: UUID!) { startTestRun(input: {suiteId: $s, name: \"live\"}) { id executions(first: 100) { edges { node { id } } } } }",
            json!({"s": suite}),
        )
        .await;
    let run: Uuid = body["data"]["startTestRun"]["id"]
        .as_str()
        .expect("run")
        .parse()
        .expect("uuid");
    let executions = body["data"]["startTestRun"]["executions"]["edges"]
        .as_array()
        .expect("edges")
        .iter()
        .map(|e| e["node"]["id"].as_str().expect("id").parse().expect("uuid"))
        .collect();
    announced(app, seen).await;
    (run, executions)
}

pub(crate) async fn complete(app: &TestApp, execution: Uuid, status: &str) -> Value {
    app.gql(
        &format!("mutation($id: UUID!) {{ completeTestExecution(id: $id, status: {status}) {{ status }} }}"),
        json!({"id": execution}),
    )
    .await
}

async fn db_counters(app: &TestApp, run: Uuid) -> (String, i64, i64, i64) {
    crate::helpers::q::query_as(format!(
        "SELECT status::text, passed_tests::bigint, failed_tests::bigint, total_tests::bigint FROM test_runs WHERE id = '{run}'"
    ))
    .fetch_one(&app.db.pool().await)
    .await
    .expect("run row")
}

fn matches_db(p: &Value, db: &(String, i64, i64, i64)) -> bool {
    p["testRunProgress"]["status"]
        .as_str()
        .map(str::to_lowercase)
        .as_deref()
        == Some(db.0.as_str())
        && p["testRunProgress"]["passedTests"] == db.1
        && p["testRunProgress"]["failedTests"] == db.2
        && p["testRunProgress"]["totalTests"] == db.3
}

#[tokio::test]
async fn progress_starts_with_a_snapshot_and_ends_on_the_databases_final_state() {
    let app = spawn_app().await;
    let (run, executions) = started_run(&app, 3).await;
    let mut ws = WsClient::connect(app.addr, &app.admin_token).await;
    ws.subscribe("p", PROGRESS, json!({"id": run})).await;
    let first = ws.next_data("p").await.expect("first message");
    assert_eq!(
        first["data"]["testRunProgress"]["snapshot"], true,
        "{first}"
    );
    assert_eq!(first["data"]["testRunProgress"]["status"], "PENDING");
    assert_eq!(first["data"]["testRunProgress"]["pendingTests"], 3);

    assert!(complete(&app, executions[0], "PASSED").await["errors"].is_null());
    let after_one = ws
        .until("p", |p| p["data"]["testRunProgress"]["passedTests"] == 1)
        .await;
    assert_eq!(
        after_one["data"]["testRunProgress"]["status"], "RUNNING",
        "{after_one}"
    );
    let changed = &after_one["data"]["testRunProgress"]["changedExecutions"];
    assert!(
        changed
            .as_array()
            .is_some_and(|c| c.iter().any(|e| e["id"] == executions[0].to_string())),
        "{after_one}"
    );

    complete(&app, executions[1], "FAILED").await;
    complete(&app, executions[2], "PASSED").await;
    let last = ws
        .until("p", |p| p["data"]["testRunProgress"]["status"] == "FAILED")
        .await;
    let db = db_counters(&app, run).await;
    assert!(matches_db(&last["data"], &db), "{last} vs {db:?}");
    assert_eq!(last["data"]["testRunProgress"]["percentComplete"], 100.0);
    let seqs_increase = last["data"]["testRunProgress"]["seq"].as_i64()
        > after_one["data"]["testRunProgress"]["seq"].as_i64();
    assert!(seqs_increase);
}

#[tokio::test]
async fn a_change_made_with_plain_sql_reaches_the_subscriber() {
    let app = spawn_app().await;
    let (run, executions) = started_run(&app, 2).await;
    let mut ws = WsClient::connect(app.addr, &app.admin_token).await;
    ws.subscribe(
        "e",
        "subscription($id: UUID!) { testExecutionUpdates(runId: $id) { id status } }",
        json!({"id": run}),
    )
    .await;
    // the current executions come first
    for _ in 0..2 {
        let m = ws.next_data("e").await.expect("initial execution");
        assert_eq!(m["data"]["testExecutionUpdates"]["status"], "PENDING");
    }
    crate::helpers::q::query(format!(
        "UPDATE test_executions SET status = 'running', started_at = now() WHERE id = '{}'",
        executions[1]
    ))
    .execute(&app.db.pool().await)
    .await
    .expect("plain sql");
    let target = executions[1].to_string();
    // earlier notifications (the run's start) may still arrive first: wait for this change
    let m = ws
        .until("e", |m| {
            m["data"]["testExecutionUpdates"]["id"] == target.as_str()
                && m["data"]["testExecutionUpdates"]["status"] != "PENDING"
        })
        .await;
    assert_eq!(m["data"]["testExecutionUpdates"]["status"], "RUNNING");
}

#[tokio::test]
async fn bulk_report_reaches_the_subscriber_as_one_coalesced_state() {
    let app = spawn_app().await;
    let (run, _) = started_run(&app, 50).await;
    let cases: Vec<String> =
        crate::helpers::q::query_scalar("SELECT id::text FROM test_cases ORDER BY name")
            .fetch_all(&app.db.pool().await)
            .await
            .expect("cases");
    let mut ws = WsClient::connect(app.addr, &app.admin_token).await;
    ws.subscribe("p", PROGRESS, json!({"id": run})).await;
    ws.next_data("p").await.expect("snapshot");
    let results: Vec<Value> = cases
        .iter()
        .enumerate()
        .map(|(i, c)| json!({"idempotencyKey": format!("k{i}"), "testCaseId": c, "status": if i % 10 == 0 { "FAILED" } else { "PASSED" }}))
        .collect();
    let body = app
        .gql("mutation($r: UUID!, $results: [ReportResultInput!]!) { reportResults(runId: $r, results: $results) { accepted } }", json!({"r": run, "results": results}))
        .await;
    assert_eq!(body["data"]["reportResults"]["accepted"], 50, "{body}");
    let last = ws
        .until("p", |p| p["data"]["testRunProgress"]["status"] == "FAILED")
        .await;
    assert!(
        matches_db(&last["data"], &db_counters(&app, run).await),
        "{last}"
    );
    assert_eq!(last["data"]["testRunProgress"]["failedTests"], 5);
}

#[tokio::test]
async fn listener_killed_mid_run_still_converges_to_the_final_state() {
    let app = spawn_app().await;
    let (run, executions) = started_run(&app, 4).await;
    let mut ws = WsClient::connect(app.addr, &app.admin_token).await;
    ws.subscribe("p", PROGRESS, json!({"id": run})).await;
    ws.next_data("p").await.expect("snapshot");
    complete(&app, executions[0], "PASSED").await;
    ws.until("p", |p| p["data"]["testRunProgress"]["passedTests"] == 1)
        .await;

    // drop the listener's connection, then finish the run while it is away
    let pool = crate::helpers::db::admin_pool().await;
    let killed: Vec<bool> = crate::helpers::q::query_scalar(format!(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{}' AND query ILIKE 'LISTEN%'",
        app.db.name
    ))
    .fetch_all(&pool)
    .await
    .expect("terminate");
    assert!(!killed.is_empty(), "no listener connection found");
    for e in &executions[1..] {
        complete(&app, *e, "PASSED").await;
    }
    let last = ws
        .until("p", |p| p["data"]["testRunProgress"]["status"] == "PASSED")
        .await;
    assert!(
        matches_db(&last["data"], &db_counters(&app, run).await),
        "{last}"
    );
}

#[tokio::test]
async fn a_mutation_through_one_server_reaches_a_subscriber_of_another() {
    let app = spawn_app().await;
    let (run, executions) = started_run(&app, 1).await;
    // a second server process on the same database
    let conn = api::db::connect(&app.db.url, 5).await.expect("pool");
    let other =
        api::startup::Application::build(conn, &app.db.url, "127.0.0.1:0".parse().expect("addr"))
            .await
            .expect("second server");
    let other_addr = other.local_addr().expect("addr");
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(other.run_until(async move {
        let _ = stopped.await;
    }));
    let mut ws = WsClient::connect(other_addr, &app.admin_token).await;
    ws.subscribe("p", PROGRESS, json!({"id": run})).await;
    ws.next_data("p").await.expect("snapshot");
    complete(&app, executions[0], "PASSED").await;
    let last = ws
        .until("p", |p| p["data"]["testRunProgress"]["status"] == "PASSED")
        .await;
    assert_eq!(last["data"]["testRunProgress"]["passedTests"], 1);
    let _ = stop.send(());
}

#[tokio::test]
async fn member_cannot_follow_a_run_they_cannot_see() {
    let app = spawn_app().await;
    let (run, _) = started_run(&app, 1).await;
    let member = app.token("mallory", &[api::auth::Role::Member]).await;
    let mut ws = WsClient::connect(app.addr, &member).await;
    ws.subscribe("p", PROGRESS, json!({"id": run})).await;
    let m = ws.next_message().await.expect("an answer");
    let code = m["payload"][0]["extensions"]["code"]
        .as_str()
        .or_else(|| m["payload"]["errors"][0]["extensions"]["code"].as_str());
    assert_eq!(code, Some("NOT_FOUND"), "{m}");
}

#[tokio::test]
async fn readyz_reports_the_live_listener() {
    let app = spawn_app().await;
    crate::helpers::eventually(
        "/readyz to show the live listener connected",
        std::time::Duration::from_secs(10),
        || async { app.readyz().await.1["liveListener"] == "connected" },
    )
    .await;
}

#[tokio::test]
async fn legacy_graphql_ws_protocol_is_served_too() {
    use futures::{SinkExt, StreamExt};
    use tokio_tungstenite::tungstenite::Message;
    use tokio_tungstenite::tungstenite::client::IntoClientRequest;

    let app = spawn_app().await;
    let (run, _) = started_run(&app, 1).await;
    let mut request = format!("ws://{}/graphql/ws", app.addr)
        .into_client_request()
        .expect("request");
    request.headers_mut().insert(
        "sec-websocket-protocol",
        "graphql-ws".parse().expect("header"),
    );
    let (mut ws, response) = tokio_tungstenite::connect_async(request)
        .await
        .expect("connect");
    assert_eq!(response.headers()["sec-websocket-protocol"], "graphql-ws");
    let init = json!({"type": "connection_init", "payload": {"authorization": format!("Bearer {}", app.admin_token)}});
    ws.send(Message::text(init.to_string()))
        .await
        .expect("init");
    let start = json!({"type": "start", "id": "1", "payload": {"query": PROGRESS, "variables": {"id": run}}});
    ws.send(Message::text(start.to_string()))
        .await
        .expect("start");
    let deadline = std::time::Instant::now() + crate::helpers::ws::MESSAGE_TIMEOUT;
    loop {
        assert!(
            std::time::Instant::now() < deadline,
            "no data over graphql-ws"
        );
        let msg = tokio::time::timeout(crate::helpers::ws::MESSAGE_TIMEOUT, ws.next())
            .await
            .expect("a message")
            .expect("open")
            .expect("frame");
        let Ok(text) = msg.to_text() else { continue };
        let v: Value = serde_json::from_str(text).unwrap_or(Value::Null);
        if v["type"] == "data" {
            assert_eq!(
                v["payload"]["data"]["testRunProgress"]["totalTests"], 1,
                "{v}"
            );
            break;
        }
    }
}

#[tokio::test]
async fn shutdown_completes_open_subscriptions_cleanly() {
    let app = spawn_app().await;
    let (run, _) = started_run(&app, 1).await;
    let conn = api::db::connect(&app.db.url, 5).await.expect("pool");
    let server =
        api::startup::Application::build(conn, &app.db.url, "127.0.0.1:0".parse().expect("addr"))
            .await
            .expect("server");
    let addr = server.local_addr().expect("addr");
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let serving = tokio::spawn(server.run_until(async move {
        let _ = stopped.await;
    }));
    let mut ws = WsClient::connect(addr, &app.admin_token).await;
    ws.subscribe("p", PROGRESS, json!({"id": run})).await;
    ws.next_data("p").await.expect("snapshot");
    let _ = stop.send(());
    // the subscription is completed, not cut off
    let mut completed = false;
    while let Some(m) = ws.next_message().await {
        if m["type"] == "complete" && m["id"] == "p" {
            completed = true;
            break;
        }
    }
    assert!(completed, "no complete message before the socket closed");
    let result = tokio::time::timeout(std::time::Duration::from_secs(15), serving).await;
    assert!(result.is_ok(), "the server did not stop");
}
