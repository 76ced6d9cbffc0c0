//! A graphql-transport-ws client for subscription tests.

use std::time::Duration;

use futures::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

/// How long a test waits for an expected message.
pub const MESSAGE_TIMEOUT: Duration = Duration::from_secs(10);

pub struct WsClient {
    ws: WebSocketStream<MaybeTlsStream<TcpStream>>,
}

impl WsClient {
    /// Connects to `addr` and authenticates with `token`.
    pub async fn connect(addr: std::net::SocketAddr, token: &str) -> Self {
        let mut request = format!("ws://{addr}/graphql/ws")
            .into_client_request()
            .expect("request");
        request.headers_mut().insert(
            "sec-websocket-protocol",
            "graphql-transport-ws".parse().expect("header"),
        );
        let (ws, _) = tokio_tungstenite::connect_async(request)
            .await
            .expect("connect");
        let mut client = Self { ws };
        client
            .send(json!({"type": "connection_init", "payload": {"authorization": format!("Bearer {token}")}}))
            .await;
        let ack = client.next_message().await.expect("connection_ack");
        assert_eq!(ack["type"], "connection_ack", "{ack}");
        client
    }

    async fn send(&mut self, message: Value) {
        self.ws
            .send(Message::text(message.to_string()))
            .await
            .expect("send");
    }

    /// Starts subscription `id`.
    pub async fn subscribe(&mut self, id: &str, query: &str, variables: Value) {
        self.send(json!({"type": "subscribe", "id": id, "payload": {"query": query, "variables": variables}}))
            .await;
    }

    /// The next protocol message (pings answered), or None on timeout or close.
    pub async fn next_message(&mut self) -> Option<Value> {
        loop {
            let msg = tokio::time::timeout(MESSAGE_TIMEOUT, self.ws.next())
                .await
                .ok()??
                .ok()?;
            match msg {
                Message::Text(t) => {
                    let v: Value = serde_json::from_str(&t).ok()?;
                    if v["type"] == "ping" {
                        self.send(json!({"type": "pong"})).await;
                        continue;
                    }
                    return Some(v);
                }
                Message::Close(_) => return None,
                _ => continue,
            }
        }
    }

    /// The data of the next `next` message of subscription `id`.
    pub async fn next_data(&mut self, id: &str) -> Option<Value> {
        loop {
            let m = self.next_message().await?;
            if m["id"] == id && m["type"] == "next" {
                return Some(m["payload"].clone());
            }
        }
    }

    /// Reads `next` payloads of `id` until `done` holds for one, which it returns.
    pub async fn until(&mut self, id: &str, done: impl Fn(&Value) -> bool) -> Value {
        loop {
            let payload = self
                .next_data(id)
                .await
                .expect("a message before the timeout");
            if done(&payload) {
                return payload;
            }
        }
    }
}
