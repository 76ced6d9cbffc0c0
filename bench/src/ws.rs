//! A minimal graphql-transport-ws client for the subscription scenario, with small buffers so
//! that the client's own memory per connection stays small next to the server's.

use anyhow::Context as _;
use futures::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

/// Read buffer of a client connection: messages here are a few hundred bytes; tungstenite's
/// default (128 KiB) would make the client, not the server, dominate resident memory.
const CLIENT_READ_BUFFER: usize = 4 * 1024;

/// How long a connection may take to be acknowledged.
const ACK_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(30);

pub type Ws = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// Connects to `ws://{addr}{path}` and completes `connection_init` with `token`.
pub async fn connect(addr: std::net::SocketAddr, path: &str, token: &str) -> anyhow::Result<Ws> {
    let mut request = format!("ws://{addr}{path}")
        .into_client_request()
        .context("WebSocket request")?;
    request.headers_mut().insert(
        "sec-websocket-protocol",
        "graphql-transport-ws".parse().context("header value")?,
    );
    let config = WebSocketConfig::default()
        .read_buffer_size(CLIENT_READ_BUFFER)
        .write_buffer_size(0);
    let (mut ws, _) = tokio_tungstenite::connect_async_with_config(request, Some(config), true)
        .await
        .context("WebSocket connect")?;
    send(
        &mut ws,
        &json!({"type": "connection_init", "payload": {"authorization": format!("Bearer {token}")}}),
    )
    .await?;
    let ack = tokio::time::timeout(ACK_TIMEOUT, async {
        while let Some(msg) = ws.next().await {
            if let Message::Text(t) = msg? {
                let v: Value = serde_json::from_str(t.as_str())?;
                if v["type"] == "connection_ack" {
                    return Ok::<_, anyhow::Error>(());
                }
                anyhow::bail!("expected connection_ack, got {v}");
            }
        }
        anyhow::bail!("closed before connection_ack")
    })
    .await
    .context("connection_ack timed out")?;
    ack?;
    Ok(ws)
}

pub async fn send(ws: &mut Ws, message: &Value) -> anyhow::Result<()> {
    ws.send(Message::text(message.to_string()))
        .await
        .context("WebSocket send")
}

/// Starts subscription `id`.
pub async fn subscribe(ws: &mut Ws, id: &str, query: &str, variables: Value) -> anyhow::Result<()> {
    send(
        ws,
        &json!({"type": "subscribe", "id": id, "payload": {"query": query, "variables": variables}}),
    )
    .await
}
