//! A WebSocket lives no longer than its token: revocation (through GraphQL, SQL or another
//! server process), expiry, deletion and a change of roles close it with 4403 and a reason;
//! every subscribe checks the token again; a listener reconnection re-checks every socket.

use std::time::Duration;

use api::auth::Role;
use serde_json::{Value, json};

use crate::helpers::app::token_id;
use crate::helpers::runs::{complete, run_of};
use crate::helpers::spawn_app;
use crate::helpers::ws::{LEGACY_WS, WsClient};

/// The promise: a changed token's sockets are closed within 5 s, in every server process.
const CLOSE_DEADLINE: Duration = Duration::from_secs(5);

const PROGRESS: &str =
    "subscription($id: UUID!) { testRunProgress(runId: $id) { status passedTests snapshot } }";

/// A subscription that sends nothing until a run changes: it keeps an operation open.
const RUNS: &str = "subscription { testRunsUpdates { name status } }";

const REVOKE: &str = "mutation($id: UUID!) { revokeApiToken(id: $id) { revokedAt } }";

/// Revokes `token` with SQL, as an operator would.
async fn revoke_by_sql(app: &crate::helpers::TestApp, token: &str) {
    crate::helpers::q::query("UPDATE api_tokens SET revoked_at = now() WHERE id = $1")
        .bind(token_id(token))
        .execute(&app.db.pool().await)
        .await
        .expect("revoking by SQL");
}

/// Turns the announcing triggers off, so that a change reaches no server by notification.
async fn silence_token_announcements(app: &crate::helpers::TestApp) {
    crate::helpers::q::query("ALTER TABLE api_tokens DISABLE TRIGGER USER")
        .execute(&app.db.pool().await)
        .await
        .expect("disabling the token triggers");
}

fn assert_forbidden(closed: &(u16, String), why: &str) {
    assert_eq!(closed.0, 4403, "{closed:?}");
    assert!(closed.1.contains(why), "{closed:?}");
}

#[tokio::test]
async fn socket_is_closed_when_an_admin_revokes_its_token_through_graphql() {
    let app = spawn_app().await;
    let alice = app.token("alice", &[Role::Member]).await;
    let mut ws = WsClient::connect(app.addr, &alice).await;
    ws.subscribe("runs", RUNS, json!({})).await;
    let body = app.gql(REVOKE, json!({"id": token_id(&alice)})).await;
    assert!(body["errors"].is_null(), "{body}");
    assert_forbidden(&ws.closed_within(CLOSE_DEADLINE).await, "revoked");
}

#[tokio::test]
async fn events_stop_when_the_token_is_revoked_by_sql() {
    let app = spawn_app().await;
    let run = run_of(&app, 2, 1).await;
    let dashboard = app.token("dashboard", &[Role::Admin]).await;
    let mut ws = WsClient::connect(app.addr, &dashboard).await;
    ws.subscribe("p", PROGRESS, json!({"id": run.id})).await;
    let snapshot = ws.next_data("p").await.expect("the snapshot");
    assert_eq!(snapshot["data"]["testRunProgress"]["snapshot"], true);
    complete(&app, run.executions[0], "PASSED").await;
    ws.until("p", |p| p["data"]["testRunProgress"]["passedTests"] == 1)
        .await;

    revoke_by_sql(&app, &dashboard).await;
    assert_forbidden(&ws.closed_within(CLOSE_DEADLINE).await, "revoked");
    complete(&app, run.executions[1], "PASSED").await;
    ws.assert_ended().await;
}

#[tokio::test]
async fn socket_is_closed_when_its_token_is_revoked_through_another_server() {
    let app = spawn_app().await;
    let other = app.spawn_server(Default::default()).await;
    let alice = app.token("alice", &[Role::Member]).await;
    let mut ws = WsClient::connect(app.addr, &alice).await;
    ws.subscribe("runs", RUNS, json!({})).await;
    let body = other
        .gql_as(&app.admin_token, REVOKE, json!({"id": token_id(&alice)}))
        .await;
    assert!(body["errors"].is_null(), "{body}");
    assert_forbidden(&ws.closed_within(CLOSE_DEADLINE).await, "revoked");
}

#[tokio::test]
async fn socket_is_closed_when_its_token_is_revoked_with_the_command_line() {
    let app = spawn_app().await;
    let alice = app.token("alice", &[Role::Member]).await;
    let mut ws = WsClient::connect(app.addr, &alice).await;
    ws.subscribe("runs", RUNS, json!({})).await;
    let revoked = tokio::process::Command::new(env!("CARGO_BIN_EXE_jbtestsuite"))
        .args([
            "token",
            "revoke",
            &token_id(&alice).to_string(),
            "--no-migrate",
        ])
        .env("DATABASE_URL", &app.db.url)
        .env("RUST_LOG", "warn")
        .output()
        .await
        .expect("running the command line");
    assert!(
        revoked.status.success(),
        "{}",
        String::from_utf8_lossy(&revoked.stderr)
    );
    assert_forbidden(&ws.closed_within(CLOSE_DEADLINE).await, "revoked");
}

#[tokio::test]
async fn socket_is_closed_when_its_token_expires() {
    let app = spawn_app().await;
    let expires_at = chrono::Utc::now() + chrono::Duration::seconds(2);
    let alice = app
        .token_expiring("alice", &[Role::Member], expires_at)
        .await;
    let mut ws = WsClient::connect(app.addr, &alice).await;
    ws.subscribe("runs", RUNS, json!({})).await;
    let closed = ws
        .closed_within(Duration::from_secs(2) + CLOSE_DEADLINE)
        .await;
    assert!(chrono::Utc::now() >= expires_at, "closed before the expiry");
    assert_forbidden(&closed, "expired");
}

#[tokio::test]
async fn socket_is_closed_when_its_token_is_deleted() {
    let app = spawn_app().await;
    let alice = app.token("alice", &[Role::Member]).await;
    let mut ws = WsClient::connect(app.addr, &alice).await;
    crate::helpers::q::query("DELETE FROM api_tokens WHERE id = $1")
        .bind(token_id(&alice))
        .execute(&app.db.pool().await)
        .await
        .expect("deleting the token");
    assert_forbidden(&ws.closed_within(CLOSE_DEADLINE).await, "invalid token");
}

#[tokio::test]
async fn socket_is_closed_when_its_tokens_roles_change() {
    let app = spawn_app().await;
    let ops = app.token("ops", &[Role::Admin]).await;
    let mut ws = WsClient::connect(app.addr, &ops).await;
    crate::helpers::q::query("UPDATE api_tokens SET roles = '{member}' WHERE id = $1")
        .bind(token_id(&ops))
        .execute(&app.db.pool().await)
        .await
        .expect("demoting the token");
    assert_forbidden(&ws.closed_within(CLOSE_DEADLINE).await, "roles changed");
}

#[tokio::test]
async fn subscribe_after_an_unannounced_revocation_is_refused() {
    let app = spawn_app().await;
    silence_token_announcements(&app).await;
    let alice = app.token("alice", &[Role::Member]).await;
    let mut ws = WsClient::connect(app.addr, &alice).await;
    // through this server: its cache forgets the token, and no announcement closes the socket
    let body = app.gql(REVOKE, json!({"id": token_id(&alice)})).await;
    assert!(body["errors"].is_null(), "{body}");
    ws.subscribe("v", "{ viewer { userId } }", json!({})).await;
    match ws.next_frame_within(CLOSE_DEADLINE).await {
        crate::helpers::ws::Frame::Closed(code, reason) => {
            assert_forbidden(&(code, reason), "revoked")
        }
        other => panic!("the subscribe was served: {other:?}"),
    }
}

#[tokio::test]
async fn sockets_recheck_their_tokens_when_the_listener_reconnects() {
    let app = spawn_app().await;
    silence_token_announcements(&app).await;
    let alice = app.token("alice", &[Role::Member]).await;
    let mut ws = WsClient::connect(app.addr, &alice).await;
    ws.subscribe("runs", RUNS, json!({})).await;
    // a revocation the server cannot hear of: it happens while no one listens
    revoke_by_sql(&app, &alice).await;
    let admin = crate::helpers::db::admin_pool().await;
    let killed: Vec<bool> = crate::helpers::q::query_scalar(format!(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{}' AND query ILIKE 'LISTEN%'",
        app.db.name
    ))
    .fetch_all(&admin)
    .await
    .expect("terminating the listener");
    assert!(!killed.is_empty(), "no listener connection found");
    let closed = ws
        .closed_within(api::live::hub::RECONNECT_MAX + CLOSE_DEADLINE)
        .await;
    assert_forbidden(&closed, "revoked");
}

#[tokio::test]
async fn legacy_socket_is_told_why_before_it_is_closed_on_revocation() {
    let app = spawn_app().await;
    let alice = app.token("alice", &[Role::Member]).await;
    let mut ws = WsClient::connect_with(app.addr, LEGACY_WS, &alice).await;
    ws.send(json!({"type": "start", "id": "runs", "payload": {"query": RUNS}}))
        .await;
    revoke_by_sql(&app, &alice).await;
    let error: Value = match ws.next_frame_within(CLOSE_DEADLINE).await {
        crate::helpers::ws::Frame::Message(m) => m,
        other => panic!("no connection_error: {other:?}"),
    };
    assert_eq!(error["type"], "connection_error", "{error}");
    assert_eq!(
        error["payload"]["extensions"]["code"], "FORBIDDEN",
        "{error}"
    );
    assert_forbidden(&ws.closed().await, "revoked");
}
