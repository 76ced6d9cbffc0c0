//! A GraphQL-over-WebSocket client for subscription tests: graphql-transport-ws by default,
//! the legacy graphql-ws on request; it reads close frames' codes and reasons.

use std::time::Duration;

use futures::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

/// How long a test waits for an expected message.
pub const MESSAGE_TIMEOUT: Duration = Duration::from_secs(10);

/// The modern protocol (graphql-ws library).
pub const TRANSPORT_WS: &str = "graphql-transport-ws";

/// The legacy protocol (subscriptions-transport-ws).
pub const LEGACY_WS: &str = "graphql-ws";

/// What the server did next.
#[derive(Debug)]
pub enum Frame {
    /// A protocol message.
    Message(Value),
    /// A close frame (code, reason).
    Closed(u16, String),
    /// The connection ended without a close frame, or after one.
    Ended,
    /// Nothing within the wait.
    TimedOut,
}

pub struct WsClient {
    ws: WebSocketStream<MaybeTlsStream<TcpStream>>,
}

impl WsClient {
    /// Connects to `addr` and authenticates with `token`.
    pub async fn connect(addr: std::net::SocketAddr, token: &str) -> Self {
        Self::connect_with(addr, TRANSPORT_WS, token).await
    }

    /// Connects to `addr` speaking `protocol` and authenticates with `token`.
    pub async fn connect_with(addr: std::net::SocketAddr, protocol: &str, token: &str) -> Self {
        let mut client = Self::open(addr, protocol).await;
        client.init(token).await;
        let ack = client.next_message().await.expect("connection_ack");
        assert_eq!(ack["type"], "connection_ack", "{ack}");
        client
    }

    /// Opens a socket speaking `protocol`, without initialising it.
    pub async fn open(addr: std::net::SocketAddr, protocol: &str) -> Self {
        match Self::try_open(addr, protocol).await {
            Ok(client) => client,
            Err((status, body)) => panic!("upgrade refused with {status}: {body}"),
        }
    }

    /// Opens a socket, or the HTTP status and JSON body the upgrade was refused with.
    pub async fn try_open(
        addr: std::net::SocketAddr,
        protocol: &str,
    ) -> Result<Self, (u16, Value)> {
        let mut request = format!("ws://{addr}/graphql/ws")
            .into_client_request()
            .expect("request");
        request
            .headers_mut()
            .insert("sec-websocket-protocol", protocol.parse().expect("header"));
        match tokio_tungstenite::connect_async(request).await {
            Ok((ws, _)) => Ok(Self { ws }),
            Err(tokio_tungstenite::tungstenite::Error::Http(response)) => {
                let body = response
                    .body()
                    .as_deref()
                    .and_then(|b| serde_json::from_slice(b).ok())
                    .unwrap_or(Value::Null);
                Err((response.status().as_u16(), body))
            }
            Err(e) => panic!("connect: {e}"),
        }
    }

    /// Sends `connection_init` with `token` as bearer.
    pub async fn init(&mut self, token: &str) {
        self.send(json!({"type": "connection_init", "payload": {"authorization": format!("Bearer {token}")}}))
            .await;
    }

    /// Sends a JSON message.
    pub async fn send(&mut self, message: Value) {
        self.send_text(&message.to_string()).await;
    }

    /// Sends a text frame as is.
    pub async fn send_text(&mut self, text: &str) {
        self.ws.send(Message::text(text)).await.expect("send");
    }

    /// Starts subscription `id`.
    pub async fn subscribe(&mut self, id: &str, query: &str, variables: Value) {
        self.send(json!({"type": "subscribe", "id": id, "payload": {"query": query, "variables": variables}}))
            .await;
    }

    /// Completes subscription `id` (the client stops listening).
    pub async fn complete(&mut self, id: &str) {
        self.send(json!({"type": "complete", "id": id})).await;
    }

    /// What the server does next within `wait` (pings answered).
    pub async fn next_frame_within(&mut self, wait: Duration) -> Frame {
        loop {
            let msg = match tokio::time::timeout(wait, self.ws.next()).await {
                Err(_) => return Frame::TimedOut,
                Ok(None) | Ok(Some(Err(_))) => return Frame::Ended,
                Ok(Some(Ok(msg))) => msg,
            };
            match msg {
                Message::Text(t) => {
                    let v: Value = serde_json::from_str(&t).expect("a JSON message");
                    if v["type"] == "ping" {
                        self.send(json!({"type": "pong"})).await;
                        continue;
                    }
                    return Frame::Message(v);
                }
                Message::Close(Some(frame)) => {
                    return Frame::Closed(frame.code.into(), frame.reason.to_string());
                }
                Message::Close(None) => return Frame::Closed(1005, String::new()),
                _ => continue,
            }
        }
    }

    /// The close frame's code and reason, within `wait`; the messages before it are skipped
    /// (an event may be on its way when the server decides to close).
    pub async fn closed_within(&mut self, wait: Duration) -> (u16, String) {
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            match self.next_frame_within(left).await {
                Frame::Message(_) => continue,
                Frame::Closed(code, reason) => return (code, reason),
                other => panic!("no close frame within {wait:?}: {other:?}"),
            }
        }
    }

    /// The close frame's code and reason, messages before it skipped.
    pub async fn closed(&mut self) -> (u16, String) {
        self.closed_within(MESSAGE_TIMEOUT).await
    }

    /// Asserts that the server sends nothing more: the connection is over.
    pub async fn assert_ended(&mut self) {
        match self.next_frame_within(MESSAGE_TIMEOUT).await {
            Frame::Ended => {}
            other => panic!("the socket still speaks: {other:?}"),
        }
    }

    /// The next protocol message (pings answered), or None on timeout or close.
    pub async fn next_message(&mut self) -> Option<Value> {
        match self.next_frame_within(MESSAGE_TIMEOUT).await {
            Frame::Message(v) => Some(v),
            _ => None,
        }
    }

    /// The next message about operation `id` (others skipped), or None on timeout or close.
    pub async fn next_about(&mut self, id: &str) -> Option<Value> {
        loop {
            let m = self.next_message().await?;
            if m["id"] == id {
                return Some(m);
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
