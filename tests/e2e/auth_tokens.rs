//! Authentication: tokens over HTTP and WebSocket, roles, the token API and command line.

use api::auth::Role;
use futures::{SinkExt, StreamExt};
use reqwest::Method;
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

use crate::helpers::spawn_app;

const VIEWER: &str = "{ viewer { userId roles } }";

fn code(body: &Value) -> &str {
    body["errors"][0]["extensions"]["code"]
        .as_str()
        .unwrap_or("<none>")
}

async fn post_with_header(app: &crate::helpers::TestApp, header: Option<&str>) -> (u16, Value) {
    let mut req = app
        .http_anonymous(Method::POST, "/graphql")
        .json(&json!({ "query": VIEWER }));
    if let Some(h) = header {
        req = req.header("authorization", h);
    }
    let res = req.send().await.expect("request");
    let status = res.status().as_u16();
    (status, res.json().await.expect("json"))
}

#[tokio::test]
async fn viewer_reports_the_tokens_identity() {
    let app = spawn_app().await;
    let token = app.token("alice", &[Role::Member]).await;
    let body = app.gql_as(&token, VIEWER, json!({})).await;
    assert_eq!(
        body["data"]["viewer"],
        json!({"userId": "alice", "roles": ["MEMBER"]}),
        "{body}"
    );
}

#[tokio::test]
async fn missing_malformed_wrong_scheme_unknown_tokens_are_unauthenticated() {
    let app = spawn_app().await;
    let valid_id_wrong_secret = {
        let t = app.token("alice", &[Role::Member]).await;
        let (head, _) = t.rsplit_once('_').expect("token shape");
        format!("{head}_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA")
    };
    let cases = [
        None,
        Some("".to_owned()),
        Some("Bearer".to_owned()),
        Some("Bearer not-a-token".to_owned()),
        Some(format!("Basic {}", app.admin_token)),
        Some(format!(
            "Bearer jbts_{}_secret",
            uuid::Uuid::new_v4().simple()
        )),
        Some(format!("Bearer {valid_id_wrong_secret}")),
    ];
    for header in cases {
        let (status, body) = post_with_header(&app, header.as_deref()).await;
        assert_eq!(status, 401, "{header:?}: {body}");
        assert_eq!(code(&body), "UNAUTHENTICATED", "{header:?}: {body}");
        assert_eq!(body["data"], Value::Null);
    }
}

#[tokio::test]
async fn expired_and_revoked_tokens_are_unauthenticated() {
    let app = spawn_app().await;
    let expired = app.token("alice", &[Role::Member]).await;
    let revoked = app.token("bob", &[Role::Member]).await;
    let pool = app.db.pool().await;
    crate::helpers::q::query(
        "UPDATE api_tokens SET expires_at = now() - interval '1 second' WHERE user_id = 'alice'",
    )
    .execute(&pool)
    .await
    .expect("expire");
    crate::helpers::q::query("UPDATE api_tokens SET revoked_at = now() WHERE user_id = 'bob'")
        .execute(&pool)
        .await
        .expect("revoke");
    for token in [expired, revoked] {
        let (status, body) = post_with_header(&app, Some(&format!("Bearer {token}"))).await;
        assert_eq!((status, code(&body)), (401, "UNAUTHENTICATED"), "{body}");
    }
}

#[tokio::test]
async fn token_revoked_through_the_api_stops_working_at_once() {
    let app = spawn_app().await;
    let token = app.token("alice", &[Role::Member]).await;
    assert_eq!(
        app.gql_as(&token, VIEWER, json!({})).await["data"]["viewer"]["userId"],
        "alice"
    );
    let tokens = app
        .gql_as(&token, "{ apiTokens { id userId } }", json!({}))
        .await;
    let id = tokens["data"]["apiTokens"][0]["id"]
        .as_str()
        .expect("own token listed")
        .to_owned();
    let revoked = app
        .gql_as(
            &token,
            "mutation($id: UUID!) { revokeApiToken(id: $id) { id revokedAt } }",
            json!({"id": id}),
        )
        .await;
    assert!(
        revoked["data"]["revokeApiToken"]["revokedAt"].is_string(),
        "{revoked}"
    );
    let (status, body) = post_with_header(&app, Some(&format!("Bearer {token}"))).await;
    assert_eq!((status, code(&body)), (401, "UNAUTHENTICATED"), "{body}");
}

#[tokio::test]
async fn admin_creates_a_token_that_then_authenticates() {
    let app = spawn_app().await;
    let body = app
        .gql(
            "mutation { createApiToken(input: {userId: \"carol\", roles: [MEMBER], name: \"ci\"}) { token apiToken { id userId roles name revokedAt } } }",
            json!({}),
        )
        .await;
    let token = body["data"]["createApiToken"]["token"]
        .as_str()
        .expect("token shown once")
        .to_owned();
    assert!(token.starts_with("jbts_"));
    assert_eq!(
        body["data"]["createApiToken"]["apiToken"]["roles"],
        json!(["MEMBER"])
    );
    let viewer = app.gql_as(&token, VIEWER, json!({})).await;
    assert_eq!(viewer["data"]["viewer"]["userId"], "carol");
    // only a hash is stored
    let stored: i64 = crate::helpers::q::query_scalar(format!(
        "SELECT count(*) FROM api_tokens WHERE user_id = 'carol' AND position('{token}' in secret_hash::text) = 0"
    ))
    .fetch_one(&app.db.pool().await)
    .await
    .expect("count");
    assert_eq!(stored, 1);
    let listed: Vec<String> =
        crate::helpers::q::query_scalar("SELECT to_jsonb(t)::text FROM api_tokens t")
            .fetch_all(&app.db.pool().await)
            .await
            .expect("rows");
    assert!(
        listed.iter().all(|row| !row.contains(&token)),
        "token stored in clear"
    );
}

#[tokio::test]
async fn member_calling_admin_mutations_is_forbidden() {
    let app = spawn_app().await;
    let token = app.token("alice", &[Role::Member]).await;
    let body = app
        .gql_as(
            &token,
            "mutation { createApiToken(input: {userId: \"alice\", roles: [ADMIN]}) { token } }",
            json!({}),
        )
        .await;
    assert_eq!(code(&body), "FORBIDDEN", "{body}");
    let count: i64 = crate::helpers::q::query_scalar(
        "SELECT count(*) FROM api_tokens WHERE 'admin' = ANY(roles) AND user_id = 'alice'",
    )
    .fetch_one(&app.db.pool().await)
    .await
    .expect("count");
    assert_eq!(count, 0);
}

#[tokio::test]
async fn member_lists_only_own_tokens_and_cannot_revoke_anothers() {
    let app = spawn_app().await;
    let alice = app.token("alice", &[Role::Member]).await;
    let _bob = app.token("bob", &[Role::Member]).await;
    let listed = app
        .gql_as(&alice, "{ apiTokens { userId } }", json!({}))
        .await;
    assert_eq!(
        listed["data"]["apiTokens"],
        json!([{"userId": "alice"}]),
        "{listed}"
    );
    let bob_id: uuid::Uuid =
        crate::helpers::q::query_scalar("SELECT id FROM api_tokens WHERE user_id = 'bob'")
            .fetch_one(&app.db.pool().await)
            .await
            .expect("bob's token");
    let body = app
        .gql_as(
            &alice,
            "mutation($id: UUID!) { revokeApiToken(id: $id) { id } }",
            json!({"id": bob_id}),
        )
        .await;
    assert_eq!(code(&body), "NOT_FOUND", "{body}");
    let revoked: i64 = crate::helpers::q::query_scalar(
        "SELECT count(*) FROM api_tokens WHERE revoked_at IS NOT NULL",
    )
    .fetch_one(&app.db.pool().await)
    .await
    .expect("count");
    assert_eq!(revoked, 0);
    let all = app.gql("{ apiTokens { userId } }", json!({})).await;
    assert_eq!(
        all["data"]["apiTokens"].as_array().map(Vec::len),
        Some(3),
        "admin sees every token: {all}"
    );
}

#[tokio::test]
async fn introspection_graphiql_and_health_need_no_token() {
    let app = spawn_app().await;
    let res = app
        .http_anonymous(Method::POST, "/graphql")
        .json(&json!({"query": "{ __schema { queryType { name } } }"}))
        .send()
        .await
        .expect("request");
    assert_eq!(res.status(), 200);
    let body: Value = res.json().await.expect("json");
    assert_eq!(body["data"]["__schema"]["queryType"]["name"], "QueryRoot");
    for path in ["/graphql", "/healthz", "/readyz"] {
        let res = app
            .http_anonymous(Method::GET, path)
            .send()
            .await
            .expect("request");
        assert_eq!(res.status(), 200, "{path}");
    }
    // a data field next to introspection is not public
    let res = app
        .http_anonymous(Method::POST, "/graphql")
        .json(&json!({"query": "{ __typename testCases { totalCount } }"}))
        .send()
        .await
        .expect("request");
    assert_eq!(res.status(), 401);
}

/// A named operation is the document's only one even when the request does not name it, so
/// introspection in it is as public as in an anonymous one.
#[tokio::test]
async fn introspection_in_an_unnamed_request_for_a_named_operation_needs_no_token() {
    let app = spawn_app().await;
    let res = app
        .http_anonymous(Method::POST, "/graphql")
        .json(&json!({
            "query": "query Type($name: String!) { __type(name: $name) { name } }",
            "variables": { "name": "QueryRoot" },
        }))
        .send()
        .await
        .expect("request");
    assert_eq!(res.status(), 200);
    let body: Value = res.json().await.expect("json");
    assert_eq!(body["data"]["__type"]["name"], "QueryRoot", "{body}");
}

async fn ws_connect(
    app: &crate::helpers::TestApp,
) -> tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>> {
    let mut request = format!("ws://{}/graphql/ws", app.addr)
        .into_client_request()
        .expect("request");
    request.headers_mut().insert(
        "sec-websocket-protocol",
        "graphql-transport-ws".parse().expect("header"),
    );
    tokio_tungstenite::connect_async(request)
        .await
        .expect("connect")
        .0
}

async fn next_close_code(
    ws: &mut tokio_tungstenite::WebSocketStream<
        tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>,
    >,
    wait: std::time::Duration,
) -> Option<u16> {
    let msg = tokio::time::timeout(wait, ws.next()).await.ok()??.ok()?;
    match msg {
        Message::Close(Some(frame)) => Some(frame.code.into()),
        _ => None,
    }
}

#[tokio::test]
async fn websocket_with_a_bad_token_is_closed_forbidden() {
    let app = spawn_app().await;
    let mut ws = ws_connect(&app).await;
    let init = json!({"type": "connection_init", "payload": {"authorization": "Bearer nope"}});
    ws.send(Message::text(init.to_string()))
        .await
        .expect("send");
    assert_eq!(
        next_close_code(&mut ws, std::time::Duration::from_secs(5)).await,
        Some(4403)
    );
}

#[tokio::test]
async fn websocket_subscribing_before_init_is_closed_unauthorized() {
    let app = spawn_app().await;
    let mut ws = ws_connect(&app).await;
    let subscribe =
        json!({"type": "subscribe", "id": "1", "payload": {"query": "{ viewer { userId } }"}});
    ws.send(Message::text(subscribe.to_string()))
        .await
        .expect("send");
    assert_eq!(
        next_close_code(&mut ws, std::time::Duration::from_secs(5)).await,
        Some(4401)
    );
}

#[tokio::test]
async fn websocket_that_never_initialises_is_closed_after_the_timeout() {
    let app = spawn_app().await;
    let mut ws = ws_connect(&app).await;
    let wait = api::http::WS_INIT_TIMEOUT + std::time::Duration::from_secs(5);
    assert_eq!(next_close_code(&mut ws, wait).await, Some(4408));
}

#[tokio::test]
async fn websocket_operations_run_as_the_connections_identity() {
    let app = spawn_app().await;
    let token = app.token("alice", &[Role::Member]).await;
    let mut ws = ws_connect(&app).await;
    let init =
        json!({"type": "connection_init", "payload": {"authorization": format!("Bearer {token}")}});
    ws.send(Message::text(init.to_string()))
        .await
        .expect("init");
    let ack = tokio::time::timeout(std::time::Duration::from_secs(5), ws.next())
        .await
        .expect("ack")
        .expect("msg")
        .expect("frame");
    assert!(ack.to_text().expect("text").contains("connection_ack"));
    let subscribe = json!({"type": "subscribe", "id": "1", "payload": {"query": "{ viewer { userId } testCases { totalCount } }"}});
    ws.send(Message::text(subscribe.to_string()))
        .await
        .expect("subscribe");
    let next = tokio::time::timeout(std::time::Duration::from_secs(5), ws.next())
        .await
        .expect("next")
        .expect("msg")
        .expect("frame");
    let next: Value = serde_json::from_str(next.to_text().expect("text")).expect("json");
    assert_eq!(
        next["payload"]["data"]["viewer"]["userId"], "alice",
        "{next}"
    );
    assert_eq!(
        next["payload"]["data"]["testCases"]["totalCount"], 0,
        "{next}"
    );
}

#[test]
fn token_cli_creates_lists_and_revokes() {
    let data_dir = crate::helpers::db::temp_data_dir("tokencli");
    let bin = env!("CARGO_BIN_EXE_jbtestsuite");
    let run = |args: &[&str]| {
        std::process::Command::new(bin)
            .args(args)
            .arg("--data-dir")
            .arg(&data_dir)
            .env_remove("DATABASE_URL")
            .env("RUST_LOG", "warn")
            .output()
            .expect("running the cli")
    };
    let created = run(&[
        "token",
        "create",
        "--user",
        "ci-bot",
        "--role",
        "member",
        "--name",
        "ci",
        "--expires-in",
        "30d",
    ]);
    assert!(
        created.status.success(),
        "{}",
        String::from_utf8_lossy(&created.stderr)
    );
    let token = String::from_utf8_lossy(&created.stdout).trim().to_owned();
    assert!(token.starts_with("jbts_"), "{token}");
    let listed = run(&["token", "list"]);
    let listing = String::from_utf8_lossy(&listed.stdout).to_string();
    assert!(
        listing.contains("ci-bot") && listing.contains("active"),
        "{listing}"
    );
    assert!(!listing.contains(&token), "the list shows secrets");
    let id = listing.split_whitespace().next().expect("an id").to_owned();
    let revoked = run(&["token", "revoke", &id]);
    assert!(
        revoked.status.success(),
        "{}",
        String::from_utf8_lossy(&revoked.stderr)
    );
    let listed = run(&["token", "list"]);
    assert!(String::from_utf8_lossy(&listed.stdout).contains("revoked"));
    let _ = std::fs::remove_dir_all(&data_dir);
}
