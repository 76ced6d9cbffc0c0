//! GraphQL over WebSocket: the token comes with `connection_init`, then async-graphql's
//! protocol serves the socket, with keep-alive pings beside it.

use async_graphql_axum::{GraphQLProtocol, GraphQLWebSocket};
use axum::extract::State;
use axum::extract::ws::{CloseFrame, Message, WebSocket, WebSocketUpgrade};
use axum::response::Response;
use futures::{SinkExt, StreamExt};
use serde_json::Value;

use super::HttpState;

/// How long a WebSocket client has to send `connection_init` (with its token) before the
/// connection is closed with 4408, as graphql-transport-ws prescribes.
pub const WS_INIT_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

/// Read buffer of a WebSocket connection. Clients send only small protocol messages
/// (`connection_init`, `subscribe`, `pong`); tungstenite's default of 128 KiB is zero-filled on
/// the first read, so every idle subscriber cost 128 KiB of resident memory (found by the
/// benchmark program). Larger messages still arrive: the buffer grows for them.
pub const WS_READ_BUFFER_BYTES: usize = 4 * 1024;

pub(crate) async fn graphql_ws(
    State(state): State<HttpState>,
    protocol: GraphQLProtocol,
    upgrade: WebSocketUpgrade,
) -> Response {
    upgrade
        .read_buffer_size(WS_READ_BUFFER_BYTES)
        .protocols(async_graphql::http::ALL_WEBSOCKET_PROTOCOLS)
        .on_upgrade(move |socket| serve_ws(state, protocol, socket))
}

async fn close_ws(socket: &mut WebSocket, code: u16, reason: &'static str) {
    let _ = socket
        .send(Message::Close(Some(CloseFrame {
            code,
            reason: reason.into(),
        })))
        .await;
}

/// Authenticates the connection from its `connection_init` payload
/// (`{"authorization": "Bearer <token>"}`), then hands the socket to the GraphQL protocol.
async fn serve_ws(state: HttpState, protocol: GraphQLProtocol, mut socket: WebSocket) {
    let first = match tokio::time::timeout(WS_INIT_TIMEOUT, socket.recv()).await {
        Err(_) => return close_ws(&mut socket, 4408, "Connection initialisation timeout").await,
        Ok(None) | Ok(Some(Err(_))) => return,
        Ok(Some(Ok(message))) => message,
    };
    let text = match &first {
        Message::Text(t) => t.to_string(),
        _ => return close_ws(&mut socket, 4400, "expected connection_init").await,
    };
    let init: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
    if init["type"] != "connection_init" {
        return close_ws(&mut socket, 4401, "Unauthorized").await;
    }
    let payload = &init["payload"];
    let header = payload["authorization"]
        .as_str()
        .or_else(|| payload["Authorization"].as_str());
    let identity =
        match crate::auth::tokens::authenticate(&state.app.db, &state.app.tokens, header).await {
            Ok(identity) => identity,
            Err(e) => {
                tracing::info!(error = ?e, "WebSocket connection refused");
                return close_ws(&mut socket, 4403, "Forbidden").await;
            }
        };
    let mut data = async_graphql::Data::default();
    data.insert(crate::auth::extension::Authenticated(identity));
    let (mut sink, stream) = socket.split();
    // the init message was consumed here; replay it so the protocol acknowledges it
    let stream = futures::stream::once(async move { Ok::<_, axum::Error>(first) }).chain(stream);
    // the protocol's messages and our keep-alive pings share the socket through a channel
    let (out_tx, mut out_rx) = futures::channel::mpsc::channel::<Message>(WS_OUTBOX);
    let writer = tokio::spawn(async move {
        while let Some(message) = out_rx.next().await {
            if sink.send(message).await.is_err() {
                break;
            }
        }
        let _ = sink.close().await;
    });
    let mut pinger = out_tx.clone();
    let pings = tokio::spawn(async move {
        let mut every = tokio::time::interval(WS_PING_INTERVAL);
        every.tick().await;
        loop {
            every.tick().await;
            if pinger
                .send(Message::Ping(Default::default()))
                .await
                .is_err()
            {
                break;
            }
        }
    });
    let out = out_tx.sink_map_err(axum::Error::new);
    GraphQLWebSocket::new_with_pair(out, stream, state.schema.clone(), protocol)
        .with_data(data)
        .serve()
        .await;
    pings.abort();
    let _ = writer.await;
}

/// Interval of WebSocket pings to idle connections, so that proxies and load balancers do not
/// drop a dashboard that is waiting for the next change.
pub const WS_PING_INTERVAL: std::time::Duration = std::time::Duration::from_secs(15);

/// Messages queued for a WebSocket before its producers wait: bounds memory per slow client.
const WS_OUTBOX: usize = 256;
