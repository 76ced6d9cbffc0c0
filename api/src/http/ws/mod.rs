//! GraphQL over WebSocket: graphql-transport-ws and the legacy graphql-ws.
//!
//! async-graphql's protocol engine (through async-graphql-axum's `GraphQLWebSocket`) executes
//! the operations; a gate in front of it ([`gate`]) reads every client frame first. The gate
//! authenticates `connection_init`, enforces the protocol where the engine answers wrongly or
//! not at all (an invalid message, an operation before `connection_ack`, a second
//! `connection_init`, a duplicate operation id), bounds what a socket may ask for (message
//! size, nesting, query, subscriptions per socket, sockets per token), and keeps the socket's
//! token under watch: every `subscribe` checks it again, a change to it announced by the
//! database closes the socket if it is no longer acceptable, and so does its expiry.
//!
//! - `fanout`: subscriptions shared by every client asking the same, executed and serialised
//!   once per message.
//! - `gate`: the gate.
//! - `protocol`: the protocols' messages, close codes and reasons.
//! - `slots`: open sockets counted per client address and per token.

mod fanout;
mod gate;
mod protocol;
mod slots;

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use async_graphql_axum::{GraphQLProtocol, GraphQLWebSocket};
use axum::Extension;
use axum::extract::State;
use axum::extract::connect_info::ConnectInfo;
use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use futures::{SinkExt, StreamExt};

use super::HttpState;
use crate::config::WsLimits;
use gate::{Gate, InitData, Operations};
use protocol::Protocol;
use slots::{SocketCounts, SocketSlot};

/// How long a WebSocket client has to send `connection_init` (with its token) before the
/// connection is closed with 4408, as graphql-transport-ws prescribes.
pub const WS_INIT_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

/// Read buffer of a WebSocket connection. Clients send only small protocol messages
/// (`connection_init`, `subscribe`, `pong`); tungstenite's default of 128 KiB is zero-filled on
/// the first read, so every idle subscriber cost 128 KiB of resident memory (found by the
/// benchmark program). Larger messages still arrive: the buffer grows for them.
pub const WS_READ_BUFFER_BYTES: usize = 4 * 1024;

/// Largest client message accepted: a subscription document with its variables is a few KB,
/// so 64 KiB leaves room for any hand-written or generated one. A larger message closes the
/// socket with 1009 (Message Too Big).
pub const WS_MAX_MESSAGE_BYTES: usize = 64 * 1024;

/// Largest message the socket reads at all: up to it a too large message is read and answered
/// with a clean close (1009); past it the frame is not even buffered and the connection is
/// dropped, so a client cannot make the server hold more than this per socket.
pub const WS_MAX_READ_BYTES: usize = 1024 * 1024;

/// How long a socket the server closes waits for the client's close reply (reading, and
/// discarding, what the client still sends), so that the client reads the close code and
/// reason before the connection goes.
pub const WS_CLOSE_REPLY_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(2);

/// How long the last messages of a finished socket (a close frame) get to reach its client: a
/// client that stopped reading holds no task past it.
pub const WS_FLUSH_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(5);

/// Interval of WebSocket pings to idle connections, so that proxies and load balancers do not
/// drop a dashboard that is waiting for the next change.
pub const WS_PING_INTERVAL: std::time::Duration = std::time::Duration::from_secs(15);

/// Messages queued for a WebSocket before its producers wait: bounds memory per slow client.
const WS_OUTBOX: usize = 256;

/// What every socket of the process shares: its bounds and the open sockets' counts.
#[derive(Default)]
pub(crate) struct WsShared {
    limits: WsLimits,
    /// The shared subscription streams.
    pub(crate) fanout: Arc<fanout::Fanout>,
    addresses: SocketCounts<IpAddr>,
    tokens: SocketCounts<uuid::Uuid>,
}

impl WsShared {
    pub(crate) fn new(limits: WsLimits) -> Self {
        Self {
            limits,
            ..Self::default()
        }
    }
}

/// The upgrade: refused with 429 when the client's address has as many sockets as it may.
pub(crate) async fn graphql_ws(
    State(state): State<HttpState>,
    connect_info: Option<Extension<ConnectInfo<SocketAddr>>>,
    headers: HeaderMap,
    engine_protocol: Result<GraphQLProtocol, StatusCode>,
    upgrade: Result<WebSocketUpgrade, axum::extract::ws::rejection::WebSocketUpgradeRejection>,
) -> Response {
    let upgrade = match upgrade {
        Ok(upgrade) => upgrade,
        Err(rejection) => {
            return super::error_response(
                rejection.status(),
                "BAD_REQUEST",
                &format!("not a WebSocket upgrade: {}", rejection.body_text()),
                "application/json",
            );
        }
    };
    let (Some(protocol), Ok(engine_protocol)) = (Protocol::from_headers(&headers), engine_protocol)
    else {
        return super::error_response(
            StatusCode::BAD_REQUEST,
            "BAD_REQUEST",
            "no GraphQL WebSocket protocol offered: send Sec-WebSocket-Protocol: graphql-transport-ws (or the legacy graphql-ws)",
            "application/json",
        );
    };
    // the address is known whenever the server runs through Application (connect info)
    let address_slot = match connect_info {
        Some(Extension(ConnectInfo(address))) => {
            let max = state.ws.limits.max_sockets_per_address;
            match state.ws.addresses.acquire(address.ip(), max) {
                Some(slot) => Some(slot),
                None => {
                    tracing::info!(%address, "WebSocket refused: too many from this address");
                    return super::error_response(
                        StatusCode::TOO_MANY_REQUESTS,
                        "TOO_MANY_CONNECTIONS",
                        &format!(
                            "at most {max} WebSocket connections may be open from one address"
                        ),
                        "application/json",
                    );
                }
            }
        }
        None => None,
    };
    upgrade
        .read_buffer_size(WS_READ_BUFFER_BYTES)
        .max_message_size(WS_MAX_READ_BYTES)
        .max_frame_size(WS_MAX_READ_BYTES)
        .protocols([protocol.name()])
        .on_upgrade(move |socket| serve_ws(state, engine_protocol, protocol, address_slot, socket))
}

/// Serves one socket: the gate reads, the engine executes, one writer task writes what both
/// and the keep-alive pinger send.
async fn serve_ws(
    state: HttpState,
    engine_protocol: GraphQLProtocol,
    protocol: Protocol,
    address_slot: Option<SocketSlot<IpAddr>>,
    socket: WebSocket,
) {
    let _open = OpenSocket::new();
    let (mut sink, stream) = socket.split();
    let (out_tx, mut out_rx) = futures::channel::mpsc::channel::<Message>(WS_OUTBOX);
    let mut writer = tokio::spawn(async move {
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
    let operations = Arc::new(Operations::default());
    let init_data: InitData = Arc::default();
    let gate = Gate::new(
        protocol,
        &state,
        stream,
        out_tx.clone(),
        operations.clone(),
        init_data.clone(),
    );
    let input = futures::stream::unfold(gate, |mut gate| async move {
        let message = gate.next().await?;
        Some((Ok::<_, axum::Error>(message), gate))
    })
    .fuse();
    // the engine's messages pass here on their way out: a `complete` ends its operation
    let out = out_tx
        .sink_map_err(axum::Error::new)
        .with(move |message: Message| {
            operations.observe(&message);
            if matches!(message, Message::Text(_)) {
                metrics::counter!(crate::telemetry::WS_MESSAGES).increment(1);
            }
            futures::future::ready(Ok::<_, axum::Error>(message))
        });
    GraphQLWebSocket::new_with_pair(out, input, state.schema.clone(), engine_protocol)
        .on_connection_init(move |_| {
            // the gate left the identity here before it forwarded connection_init
            let data = init_data.lock().unwrap_or_else(|p| p.into_inner()).take();
            async move { data.ok_or_else(|| async_graphql::Error::new("not authenticated")) }
        })
        .serve()
        .await;
    pings.abort();
    if tokio::time::timeout(WS_FLUSH_TIMEOUT, &mut writer)
        .await
        .is_err()
    {
        writer.abort();
    }
    drop(address_slot);
}

/// A socket counted as open while it lives (however its task ends).
struct OpenSocket;

impl OpenSocket {
    fn new() -> Self {
        metrics::gauge!(crate::telemetry::WS_OPEN).increment(1.0);
        Self
    }
}

impl Drop for OpenSocket {
    fn drop(&mut self) {
        metrics::gauge!(crate::telemetry::WS_OPEN).decrement(1.0);
    }
}
