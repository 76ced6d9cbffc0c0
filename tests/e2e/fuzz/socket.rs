//! Running a WebSocket case: frames sent, then a `ping` whose `pong` proves that the server
//! read them, or a close frame; a connection dropped without one is a finding.

use std::time::Duration;

use futures::{FutureExt, SinkExt, StreamExt};
use reqwest::header::HeaderValue;
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;

use super::cases::{Frame, WsCase};
use super::wire::{
    ANSWER_TIMEOUT, Finding, Property, check_body, check_errors, finding, normalize,
};

/// How long a WebSocket case replayed slowly waits for the server after each frame.
const SLOW_PAUSE: Duration = Duration::from_millis(150);

/// Longest wait for the server's reply to the client's close frame at the end of a case.
const CLOSE_TIMEOUT: Duration = Duration::from_secs(2);

fn to_message(frame: &Frame) -> Message {
    match frame {
        Frame::Text(t) => Message::text(t.clone()),
        Frame::Binary(b) => Message::binary(b.clone()),
        Frame::Ping(b) => Message::Ping(b.clone().into()),
        Frame::Pong(b) => Message::Pong(b.clone().into()),
        Frame::Close(code, reason) => Message::Close(Some(CloseFrame {
            code: (*code).into(),
            reason: reason.clone().into(),
        })),
    }
}

/// What a WebSocket case has seen so far.
#[derive(Default)]
struct WsSeen {
    closed: Option<String>,
    pongs: usize,
    found: Vec<Finding>,
}

impl WsSeen {
    /// Takes in one item of the stream; false once nothing more will come.
    fn take(
        &mut self,
        item: Option<Result<Message, tokio_tungstenite::tungstenite::Error>>,
    ) -> bool {
        match item {
            Some(Ok(Message::Text(t))) => {
                let v: Value = serde_json::from_str(&t).unwrap_or(Value::Null);
                match v["type"].as_str() {
                    Some("pong") => self.pongs += 1,
                    Some("next") | Some("data") => {
                        let errors = v["payload"]["errors"]
                            .as_array()
                            .cloned()
                            .unwrap_or_default();
                        self.found.extend(check_errors(&errors, "ws next", &t));
                    }
                    Some("error") | Some("connection_error") => {
                        let errors = match &v["payload"] {
                            Value::Array(a) => a.clone(),
                            other => vec![other.clone()],
                        };
                        self.found.extend(check_errors(&errors, "ws error", &t));
                    }
                    _ => {}
                }
                true
            }
            Some(Ok(Message::Close(frame))) => {
                self.closed = Some(frame.map_or("no status".to_owned(), |f| {
                    format!("{} {}", f.code, f.reason)
                }));
                false
            }
            Some(Ok(_)) => true,
            Some(Err(e)) => {
                if self.closed.is_none() {
                    self.found.push(finding(
                        Property::WsCloseFrame,
                        ws_error_signature(&e),
                        format!("{e:?}"),
                    ));
                }
                false
            }
            None => {
                if self.closed.is_none() {
                    self.found
                        .push(finding(Property::WsCloseFrame, "stream ended", ""));
                }
                false
            }
        }
    }
}

fn ws_error_signature(e: &tokio_tungstenite::tungstenite::Error) -> String {
    use tokio_tungstenite::tungstenite::Error;
    match e {
        Error::Protocol(p) => format!("protocol error: {p}"),
        Error::Io(io) => format!("io error: {:?}", io.kind()),
        other => normalize(&other.to_string()),
    }
}

/// Sends a WebSocket case. A connection reset instead of a close frame is tried again with a
/// pause after each frame: a server that closes with frames of the client still unread resets
/// the connection, which can destroy the close frame it has just sent. If the close frame
/// arrives when the client waits, the server did close properly, only without draining the
/// connection first; that is reported apart. If not, the slow attempt's findings are the ones
/// kept.
pub async fn run_ws(addr: std::net::SocketAddr, case: &WsCase) -> Vec<Finding> {
    let found = ws_attempt(addr, case, None).await;
    let reset = found
        .iter()
        .any(|f| f.property == Property::WsCloseFrame && f.signature.starts_with("io error"));
    if !reset {
        return found;
    }
    let slow = ws_attempt(addr, case, Some(SLOW_PAUSE)).await;
    if slow.iter().any(|f| f.property == Property::WsCloseFrame) {
        // what the server does when nothing is in flight says why, without the reset's noise
        return slow;
    }
    found
        .into_iter()
        .map(|mut f| {
            if f.property == Property::WsCloseFrame {
                f.property = Property::WsUndrained;
            }
            f
        })
        .collect()
}

/// Connects, sends the frames (stopping once the server has closed; with `pause`, reading what
/// the server says after each), then a graphql-transport-ws `ping` whose `pong` proves the
/// server has read them all; then awaits that pong or a close frame.
async fn ws_attempt(
    addr: std::net::SocketAddr,
    case: &WsCase,
    pause: Option<Duration>,
) -> Vec<Finding> {
    let mut request = match format!("ws://{addr}/graphql/ws").into_client_request() {
        Ok(r) => r,
        Err(_) => return Vec::new(),
    };
    if let Some(p) = case
        .protocol
        .as_deref()
        .and_then(|p| HeaderValue::from_str(p).ok())
    {
        request.headers_mut().insert("sec-websocket-protocol", p);
    }
    let connected =
        tokio::time::timeout(ANSWER_TIMEOUT, tokio_tungstenite::connect_async(request)).await;
    let mut ws = match connected {
        Err(_) => return vec![finding(Property::Answered, "websocket handshake hung", "")],
        Ok(Err(tokio_tungstenite::tungstenite::Error::Http(res))) => {
            let status = res.status().as_u16();
            let body = res.body().clone().unwrap_or_default();
            if status >= 500 {
                return vec![finding(
                    Property::No5xx,
                    format!("websocket handshake {status}"),
                    String::from_utf8_lossy(&body),
                )];
            }
            return check_handshake_refusal(status, &body);
        }
        Ok(Err(e)) => {
            return vec![finding(
                Property::Answered,
                format!("websocket handshake failed: {}", normalize(&e.to_string())),
                format!("{e:?}"),
            )];
        }
        Ok(Ok((ws, _))) => ws,
    };
    // the probe's pong is the last one: the case's own `ping` messages are answered before it
    let pongs = 1 + case
        .frames
        .iter()
        .filter(|f| matches!(f, Frame::Text(t) if is_ping(t)))
        .count();
    let mut seen = WsSeen::default();
    let mut open = true;
    for frame in &case.frames {
        while open && let Some(item) = ws.next().now_or_never() {
            open = seen.take(item);
        }
        if !open || ws.send(to_message(frame)).await.is_err() {
            break;
        }
        if matches!(frame, Frame::Close(..)) {
            break;
        }
        if let Some(pause) = pause {
            while open && let Ok(item) = tokio::time::timeout(pause, ws.next()).await {
                open = seen.take(item);
            }
        }
    }
    if open {
        let _ = ws
            .send(Message::text(json!({ "type": "ping" }).to_string()))
            .await;
        loop {
            match tokio::time::timeout(ANSWER_TIMEOUT, ws.next()).await {
                Err(_) => {
                    seen.found.push(finding(
                        Property::Answered,
                        "websocket: neither pong nor close",
                        "",
                    ));
                    break;
                }
                Ok(item) => {
                    if !seen.take(item) || seen.pongs >= pongs {
                        break;
                    }
                }
            }
        }
    }
    if seen.pongs >= pongs && seen.closed.is_none() {
        let _ = ws.send(Message::Close(None)).await;
        let _ =
            tokio::time::timeout(CLOSE_TIMEOUT, async { while ws.next().await.is_some() {} }).await;
    }
    seen.found
}

/// Whether a text frame is a graphql-transport-ws `ping`, which the server answers with `pong`.
fn is_ping(text: &str) -> bool {
    serde_json::from_str::<Value>(text).is_ok_and(|v| v["type"] == "ping")
}

/// A refused handshake (a subprotocol the server does not speak) is a 4xx whose body, if any,
/// should be a coded error.
fn check_handshake_refusal(status: u16, body: &[u8]) -> Vec<Finding> {
    if body.is_empty() {
        return vec![finding(
            Property::Coded,
            format!("websocket handshake {status} with an empty body"),
            status.to_string(),
        )];
    }
    check_body(status, body)
}
