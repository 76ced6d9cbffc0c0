//! The WebSocket endpoint follows graphql-transport-ws's close codes, each refusal with a
//! reason a client can show, and bounds what one message may ask for.

use api::auth::Role;
use serde_json::json;

use crate::helpers::app::token_id;
use crate::helpers::spawn_app;
use crate::helpers::ws::{Frame, LEGACY_WS, TRANSPORT_WS, WsClient};

/// A subscription that sends nothing until a run changes: it keeps an operation open.
const RUNS: &str = "subscription { testRunsUpdates { name status } }";

const VIEWER: &str = "{ viewer { userId } }";

/// A query nested far deeper than any parser's stack allows.
fn deep_query() -> String {
    format!(
        "{{ viewer {}userId{} }}",
        "{ a ".repeat(5_000),
        " }".repeat(5_000)
    )
}

fn error_code(message: &serde_json::Value) -> &str {
    message["payload"][0]["extensions"]["code"]
        .as_str()
        .unwrap_or("<none>")
}

/// Asserts that a query over the socket is still answered.
async fn assert_serves(ws: &mut WsClient, id: &str) {
    ws.subscribe(id, VIEWER, json!({})).await;
    let data = ws.next_data(id).await.expect("an answer");
    assert!(data["data"]["viewer"]["userId"].is_string(), "{data}");
}

#[tokio::test]
async fn init_without_a_token_is_closed_unauthorized() {
    let app = spawn_app().await;
    let mut ws = WsClient::open(app.addr, TRANSPORT_WS).await;
    ws.send(json!({"type": "connection_init", "payload": {}}))
        .await;
    let (code, reason) = ws.closed().await;
    assert_eq!(code, 4401, "{reason}");
    assert!(reason.contains("token"), "{reason}");
}

#[tokio::test]
async fn init_with_a_wrong_secret_is_closed_forbidden_as_invalid() {
    let app = spawn_app().await;
    let alice = app.token("alice", &[Role::Member]).await;
    let wrong = format!("jbts_{}_{}", token_id(&alice).simple(), "x".repeat(43));
    let mut ws = WsClient::open(app.addr, TRANSPORT_WS).await;
    ws.init(&wrong).await;
    let (code, reason) = ws.closed().await;
    assert_eq!(code, 4403, "{reason}");
    assert!(reason.contains("invalid token"), "{reason}");
}

#[tokio::test]
async fn init_with_a_malformed_token_is_closed_forbidden_as_malformed() {
    let app = spawn_app().await;
    let mut ws = WsClient::open(app.addr, TRANSPORT_WS).await;
    ws.init("nope").await;
    let (code, reason) = ws.closed().await;
    assert_eq!(code, 4403, "{reason}");
    assert!(reason.contains("malformed"), "{reason}");
}

#[tokio::test]
async fn init_with_a_revoked_token_is_closed_forbidden_as_revoked() {
    let app = spawn_app().await;
    let alice = app.token("alice", &[Role::Member]).await;
    crate::helpers::q::query("UPDATE api_tokens SET revoked_at = now() WHERE id = $1")
        .bind(token_id(&alice))
        .execute(&app.db.pool().await)
        .await
        .expect("revoking");
    let mut ws = WsClient::open(app.addr, TRANSPORT_WS).await;
    ws.init(&alice).await;
    let (code, reason) = ws.closed().await;
    assert_eq!(code, 4403, "{reason}");
    assert!(reason.contains("revoked"), "{reason}");
}

#[tokio::test]
async fn init_with_an_expired_token_is_closed_forbidden_as_expired() {
    let app = spawn_app().await;
    let alice = app.token("alice", &[Role::Member]).await;
    crate::helpers::q::query(
        "UPDATE api_tokens SET expires_at = now() - interval '1 minute' WHERE id = $1",
    )
    .bind(token_id(&alice))
    .execute(&app.db.pool().await)
    .await
    .expect("expiring");
    let mut ws = WsClient::open(app.addr, TRANSPORT_WS).await;
    ws.init(&alice).await;
    let (code, reason) = ws.closed().await;
    assert_eq!(code, 4403, "{reason}");
    assert!(reason.contains("expired"), "{reason}");
}

#[tokio::test]
async fn legacy_init_without_a_token_gets_a_connection_error_then_4401() {
    let app = spawn_app().await;
    let mut ws = WsClient::open(app.addr, LEGACY_WS).await;
    ws.send(json!({"type": "connection_init"})).await;
    let error = ws.next_message().await.expect("connection_error");
    assert_eq!(error["type"], "connection_error", "{error}");
    assert_eq!(
        error["payload"]["extensions"]["code"], "UNAUTHENTICATED",
        "{error}"
    );
    assert_eq!(ws.closed().await.0, 4401);
}

#[tokio::test]
async fn duplicate_subscription_id_is_closed_with_4409() {
    let app = spawn_app().await;
    let mut ws = WsClient::connect(app.addr, &app.admin_token).await;
    ws.subscribe("a", RUNS, json!({})).await;
    ws.subscribe("a", RUNS, json!({})).await;
    let (code, reason) = ws.closed().await;
    assert_eq!(
        (code, reason.as_str()),
        (4409, "Subscriber for a already exists")
    );
}

#[tokio::test]
async fn subscription_id_is_free_again_once_the_client_completes_it() {
    let app = spawn_app().await;
    let mut ws = WsClient::connect(app.addr, &app.admin_token).await;
    ws.subscribe("a", RUNS, json!({})).await;
    ws.complete("a").await;
    assert_serves(&mut ws, "a").await;
}

#[tokio::test]
async fn subscription_id_is_free_again_once_its_operation_completes() {
    let app = spawn_app().await;
    let mut ws = WsClient::connect(app.addr, &app.admin_token).await;
    assert_serves(&mut ws, "q").await;
    let done = ws.next_about("q").await.expect("complete");
    assert_eq!(done["type"], "complete", "{done}");
    assert_serves(&mut ws, "q").await;
}

#[tokio::test]
async fn second_init_is_closed_with_4429() {
    let app = spawn_app().await;
    let mut ws = WsClient::connect(app.addr, &app.admin_token).await;
    ws.init(&app.admin_token).await;
    let (code, reason) = ws.closed().await;
    assert_eq!(
        (code, reason.as_str()),
        (4429, "Too many initialisation requests")
    );
}

#[tokio::test]
async fn invalid_json_is_closed_with_4400() {
    let app = spawn_app().await;
    let mut ws = WsClient::connect(app.addr, &app.admin_token).await;
    ws.send_text("{not json").await;
    assert_eq!(ws.closed().await.0, 4400);
}

#[tokio::test]
async fn invalid_json_before_init_is_closed_with_4400() {
    let app = spawn_app().await;
    let mut ws = WsClient::open(app.addr, TRANSPORT_WS).await;
    ws.send_text("[]").await;
    assert_eq!(ws.closed().await.0, 4400);
}

#[tokio::test]
async fn unknown_message_type_is_closed_with_4400() {
    let app = spawn_app().await;
    let mut ws = WsClient::connect(app.addr, &app.admin_token).await;
    ws.send(json!({"type": "launch", "id": "1"})).await;
    assert_eq!(ws.closed().await.0, 4400);
}

#[tokio::test]
async fn subscribe_without_a_payload_is_closed_with_4400() {
    let app = spawn_app().await;
    let mut ws = WsClient::connect(app.addr, &app.admin_token).await;
    ws.send(json!({"type": "subscribe", "id": "1"})).await;
    assert_eq!(ws.closed().await.0, 4400);
}

#[tokio::test]
async fn message_beyond_the_size_bound_is_closed_with_1009() {
    let app = spawn_app().await;
    let mut ws = WsClient::connect(app.addr, &app.admin_token).await;
    let padding = "x".repeat(api::http::WS_MAX_MESSAGE_BYTES);
    ws.send(json!({"type": "subscribe", "id": "1", "payload": {"query": format!("{VIEWER} #{padding}")}}))
        .await;
    assert_eq!(ws.closed().await.0, 1009);
}

#[tokio::test]
async fn deep_query_in_subscribe_is_refused_with_a_code_and_the_socket_stays_usable() {
    let app = spawn_app().await;
    let mut ws = WsClient::connect(app.addr, &app.admin_token).await;
    ws.subscribe("deep", &deep_query(), json!({})).await;
    let refused = ws.next_about("deep").await.expect("an error");
    assert_eq!(refused["type"], "error", "{refused}");
    assert_eq!(error_code(&refused), "BAD_REQUEST", "{refused}");
    assert_serves(&mut ws, "after").await;
}

#[tokio::test]
async fn deep_variables_in_subscribe_are_refused_with_a_code_and_the_socket_stays_usable() {
    let app = spawn_app().await;
    let mut ws = WsClient::connect(app.addr, &app.admin_token).await;
    let deep = format!("{}1{}", "[".repeat(5_000), "]".repeat(5_000));
    ws.send_text(&format!(
        r#"{{"type":"subscribe","id":"deep","payload":{{"query":"{VIEWER}","variables":{{"v":{deep}}}}}}}"#
    ))
    .await;
    let refused = ws.next_about("deep").await.expect("an error");
    assert_eq!(refused["type"], "error", "{refused}");
    assert_eq!(error_code(&refused), "BAD_REQUEST", "{refused}");
    assert_serves(&mut ws, "after").await;
}

#[tokio::test]
async fn legacy_deep_query_gets_an_error_with_a_code() {
    let app = spawn_app().await;
    let mut ws = WsClient::connect_with(app.addr, LEGACY_WS, &app.admin_token).await;
    ws.send(json!({"type": "start", "id": "deep", "payload": {"query": deep_query()}}))
        .await;
    let refused = ws.next_about("deep").await.expect("an error");
    assert_eq!(refused["type"], "error", "{refused}");
    assert_eq!(
        refused["payload"]["extensions"]["code"], "BAD_REQUEST",
        "{refused}"
    );
}

#[tokio::test]
async fn pings_before_init_are_answered() {
    let app = spawn_app().await;
    let mut ws = WsClient::open(app.addr, TRANSPORT_WS).await;
    ws.send(json!({"type": "ping"})).await;
    match ws
        .next_frame_within(crate::helpers::ws::MESSAGE_TIMEOUT)
        .await
    {
        Frame::Message(m) => assert_eq!(m["type"], "pong", "{m}"),
        other => panic!("no pong: {other:?}"),
    }
}

#[tokio::test]
async fn subscribe_that_does_not_validate_then_its_errors_carry_codes() {
    let app = spawn_app().await;
    let mut ws = WsClient::connect(app.addr, &app.admin_token).await;
    ws.subscribe("1", "subscription { bogus }", json!({})).await;
    let answer = ws.next_about("1").await.expect("an answer");
    let errors = if answer["payload"].is_array() {
        answer["payload"].clone()
    } else {
        answer["payload"]["errors"].clone()
    };
    assert_eq!(
        errors[0]["extensions"]["code"], "BAD_USER_INPUT",
        "{answer}"
    );
    ws.subscribe(
        "2",
        "query($id: UUID!) { testCase(id: $id) { id } }",
        json!({ "id": "not a uuid" }),
    )
    .await;
    let answer = ws.next_about("2").await.expect("an answer");
    let errors = if answer["payload"].is_array() {
        answer["payload"].clone()
    } else {
        answer["payload"]["errors"].clone()
    };
    assert_eq!(
        errors[0]["extensions"]["code"], "BAD_USER_INPUT",
        "{answer}"
    );
    assert_serves(&mut ws, "3").await;
}

#[tokio::test]
async fn upgrade_without_a_graphql_subprotocol_then_400_with_a_coded_error() {
    let app = spawn_app().await;
    let res = app
        .http_anonymous(reqwest::Method::GET, "/graphql/ws")
        .header("connection", "Upgrade")
        .header("upgrade", "websocket")
        .header("sec-websocket-version", "13")
        .header("sec-websocket-key", "dGhlIHNhbXBsZSBub25jZQ==")
        .send()
        .await
        .expect("request");
    assert_eq!(res.status(), reqwest::StatusCode::BAD_REQUEST);
    let body: serde_json::Value = res.json().await.expect("a JSON body");
    assert_eq!(
        body["errors"][0]["extensions"]["code"], "BAD_REQUEST",
        "{body}"
    );
}
