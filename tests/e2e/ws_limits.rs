//! Bounds on the WebSocket endpoint: subscriptions per socket, sockets per token and per
//! client address, each refused with a code; a socket that ends gives its place back.

use std::time::Duration;

use api::auth::Role;
use api::config::ServerOptions;
use api::config::WsLimits;
use serde_json::json;

use crate::helpers::spawn_app;
use crate::helpers::ws::{TRANSPORT_WS, WsClient};

/// A subscription that sends nothing until a run changes: it keeps an operation open.
const RUNS: &str = "subscription { testRunsUpdates { name status } }";

/// How long a test retries for a place that a closed socket gives back.
const RELEASE_TIMEOUT: Duration = Duration::from_secs(5);

fn limits(subscriptions: usize, per_token: usize, per_address: usize) -> ServerOptions {
    ServerOptions {
        ws: WsLimits {
            max_subscriptions_per_socket: subscriptions,
            max_sockets_per_token: per_token,
            max_sockets_per_address: per_address,
        },
        ..Default::default()
    }
}

#[tokio::test]
async fn subscriptions_beyond_the_socket_bound_are_refused_and_the_socket_still_works() {
    let app = spawn_app().await;
    let server = app.spawn_server(limits(3, 10, 10)).await;
    let mut ws = WsClient::connect(server.addr, &app.admin_token).await;
    for id in ["1", "2", "3"] {
        ws.subscribe(id, RUNS, json!({})).await;
    }
    ws.subscribe("4", RUNS, json!({})).await;
    let refused = ws.next_about("4").await.expect("an error");
    assert_eq!(refused["type"], "error", "{refused}");
    assert_eq!(
        refused["payload"][0]["extensions"]["code"], "TOO_MANY_SUBSCRIPTIONS",
        "{refused}"
    );
    // a completed subscription makes room
    ws.complete("1").await;
    ws.subscribe("5", "{ viewer { userId } }", json!({})).await;
    let data = ws.next_data("5").await.expect("an answer");
    assert_eq!(data["data"]["viewer"]["userId"], "test-admin", "{data}");
}

#[tokio::test]
async fn sockets_beyond_the_token_bound_are_closed_with_4429_too_many_connections() {
    let app = spawn_app().await;
    let server = app.spawn_server(limits(10, 2, 10)).await;
    let alice = app.token("alice", &[Role::Member]).await;
    let _first = WsClient::connect(server.addr, &alice).await;
    let _second = WsClient::connect(server.addr, &alice).await;
    let mut third = WsClient::open(server.addr, TRANSPORT_WS).await;
    third.init(&alice).await;
    let (code, reason) = third.closed().await;
    assert_eq!(code, 4429, "{reason}");
    assert!(reason.starts_with("TOO_MANY_CONNECTIONS"), "{reason}");
    // another token is counted apart
    WsClient::connect(server.addr, &app.admin_token).await;
}

#[tokio::test]
async fn sockets_beyond_the_address_bound_are_refused_with_429() {
    let app = spawn_app().await;
    let server = app.spawn_server(limits(10, 10, 2)).await;
    let _first = WsClient::open(server.addr, TRANSPORT_WS).await;
    let _second = WsClient::open(server.addr, TRANSPORT_WS).await;
    let Err((status, body)) = WsClient::try_open(server.addr, TRANSPORT_WS).await else {
        panic!("a third socket from the same address was accepted");
    };
    assert_eq!(status, 429, "{body}");
    assert_eq!(
        body["errors"][0]["extensions"]["code"], "TOO_MANY_CONNECTIONS",
        "{body}"
    );
}

#[tokio::test]
async fn a_closed_socket_gives_its_places_back() {
    let app = spawn_app().await;
    let server = app.spawn_server(limits(10, 1, 1)).await;
    let alice = app.token("alice", &[Role::Member]).await;
    let mut first = WsClient::connect(server.addr, &alice).await;
    first.send_text("{not json").await;
    assert_eq!(first.closed().await.0, 4400);
    drop(first);
    // the server notices the end on its own schedule: try again until it has
    let deadline = tokio::time::Instant::now() + RELEASE_TIMEOUT;
    loop {
        if let Ok(mut ws) = WsClient::try_open(server.addr, TRANSPORT_WS).await {
            ws.init(&alice).await;
            match ws.next_message().await {
                Some(ack) if ack["type"] == "connection_ack" => break,
                other => panic!("the token's place was not given back: {other:?}"),
            }
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the address's place was not given back"
        );
        tokio::task::yield_now().await;
    }
}
