//! The HTTP surface of a running server.

use serde_json::json;

use crate::helpers::spawn_app;

#[tokio::test]
async fn healthz_answers_ok() {
    let app = spawn_app().await;
    let res = app
        .client
        .get(app.url("/healthz"))
        .send()
        .await
        .expect("request");
    assert_eq!(res.status(), 200);
    let body: serde_json::Value = res.json().await.expect("json");
    assert_eq!(body["status"], "ok");
}

#[tokio::test]
async fn readyz_reports_the_database_reachable() {
    let app = spawn_app().await;
    let res = app
        .client
        .get(app.url("/readyz"))
        .send()
        .await
        .expect("request");
    assert_eq!(res.status(), 200);
    let body: serde_json::Value = res.json().await.expect("json");
    assert_eq!(body["database"], true);
}

#[tokio::test]
async fn get_graphql_without_a_query_serves_graphiql() {
    let app = spawn_app().await;
    let res = app
        .client
        .get(app.url("/graphql"))
        .header("accept", "text/html")
        .send()
        .await
        .expect("request");
    assert_eq!(res.status(), 200);
    assert!(
        res.headers()["content-type"]
            .to_str()
            .expect("ct")
            .starts_with("text/html")
    );
    let html = res.text().await.expect("body");
    assert!(html.contains("graphiql"), "not the GraphiQL page");
    let script = app
        .client
        .get(app.url("/assets/session.js"))
        .send()
        .await
        .expect("script")
        .text()
        .await
        .expect("body");
    assert!(
        script.contains("'/graphql/ws'"),
        "subscriptions endpoint not wired"
    );
}

#[tokio::test]
async fn server_info_query_reports_version_and_database() {
    let app = spawn_app().await;
    let body = app
        .gql(
            "{ serverInfo { version databaseReachable postgresVersion } }",
            json!({}),
        )
        .await;
    assert_eq!(body["errors"], serde_json::Value::Null, "{body}");
    assert_eq!(
        body["data"]["serverInfo"]["version"],
        env!("CARGO_PKG_VERSION")
    );
    assert_eq!(body["data"]["serverInfo"]["databaseReachable"], true);
    assert!(
        body["data"]["serverInfo"]["postgresVersion"]
            .as_str()
            .is_some_and(|v| v.starts_with("PostgreSQL")),
        "{body}"
    );
}

#[tokio::test]
async fn graphql_get_with_a_query_executes_it() {
    let app = spawn_app().await;
    let res = app
        .http(reqwest::Method::GET, "/graphql")
        .query(&[("query", "{ serverInfo { databaseReachable } }")])
        .send()
        .await
        .expect("request");
    assert_eq!(res.status(), 200);
    let body: serde_json::Value = res.json().await.expect("json");
    assert_eq!(body["data"]["serverInfo"]["databaseReachable"], true);
}

#[tokio::test]
async fn websocket_endpoint_accepts_graphql_transport_ws() {
    use futures::{SinkExt, StreamExt};
    use tokio_tungstenite::tungstenite::Message;
    use tokio_tungstenite::tungstenite::client::IntoClientRequest;

    let app = spawn_app().await;
    let mut request = format!("ws://{}/graphql/ws", app.addr)
        .into_client_request()
        .expect("request");
    request.headers_mut().insert(
        "sec-websocket-protocol",
        "graphql-transport-ws".parse().expect("header"),
    );
    let (mut ws, response) = tokio_tungstenite::connect_async(request)
        .await
        .expect("connect");
    assert_eq!(
        response.headers()["sec-websocket-protocol"],
        "graphql-transport-ws"
    );
    let init = json!({
        "type": "connection_init",
        "payload": { "authorization": format!("Bearer {}", app.admin_token) }
    });
    ws.send(Message::text(init.to_string()))
        .await
        .expect("init");
    let ack = tokio::time::timeout(std::time::Duration::from_secs(5), ws.next())
        .await
        .expect("ack in time")
        .expect("a message")
        .expect("a frame");
    let ack: serde_json::Value = serde_json::from_str(ack.to_text().expect("text"))
        .unwrap_or_else(|_| panic!("not JSON: {ack:?}"));
    assert_eq!(ack["type"], "connection_ack");
}

#[test]
fn schema_graphql_is_up_to_date() {
    let committed = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/schema.graphql"))
        .unwrap_or_default();
    let current = api::schema::sdl();
    assert!(
        committed == current,
        "schema.graphql is stale: regenerate it with `cargo run -- export-schema > schema.graphql`"
    );
}

#[tokio::test]
async fn readyz_reports_unavailable_when_the_database_is_gone() {
    let app = spawn_app().await;
    let admin = crate::helpers::db::admin_pool().await;
    // terminate the app's connections and forbid new ones
    crate::helpers::q::query(format!(
        "ALTER DATABASE {} WITH ALLOW_CONNECTIONS false",
        app.db.name
    ))
    .execute(&admin)
    .await
    .expect("forbid connections");
    crate::helpers::q::query(format!(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{}' AND pid <> pg_backend_pid()",
        app.db.name
    ))
    .execute(&admin)
    .await
    .expect("terminate");
    let res = app
        .client
        .get(app.url("/readyz"))
        .send()
        .await
        .expect("request");
    assert_eq!(res.status(), 503);
    let body: serde_json::Value = res.json().await.expect("json");
    assert_eq!(body["database"], false);
}

#[tokio::test]
async fn statement_counter_sees_the_servers_queries() {
    let app = spawn_app().await;
    let before = app.statements();
    let body = app
        .gql(
            "{ testCases { totalCount edges { node { id } } } }",
            json!({}),
        )
        .await;
    assert_eq!(body["data"]["testCases"]["totalCount"], 0, "{body}");
    // the token lookup and its last-use stamp (first use only, the stamp off the request's
    // path), the request's security settings, the page, the count
    let first = app.statements() - before;
    assert!((4..=5).contains(&first), "{first} statements");
    // let the last-use stamp land, so that it is not counted against the next request
    let pool = app.db.pool().await;
    tokio::time::timeout(std::time::Duration::from_secs(5), async {
        loop {
            let stamped: bool = crate::helpers::q::query_scalar(
                "SELECT last_used_at IS NOT NULL FROM api_tokens WHERE user_id = 'test-admin'",
            )
            .fetch_one(&pool)
            .await
            .expect("stamp");
            if stamped {
                break;
            }
            tokio::task::yield_now().await;
        }
    })
    .await
    .expect("last use stamped");
    let before = app.statements();
    app.gql("{ testCases { totalCount } }", json!({})).await;
    assert_eq!(
        app.statements() - before,
        2,
        "token cached: settings and the count"
    );
}
