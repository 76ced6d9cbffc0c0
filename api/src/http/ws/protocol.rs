//! The two GraphQL-over-WebSocket protocols as the gate sees them: which one a socket speaks,
//! the kinds of client messages, why a socket is closed (code, `extensions.code`, reason), and
//! the few messages the gate writes itself.
//!
//! - graphql-transport-ws (<https://github.com/enisdenjo/graphql-ws/blob/master/PROTOCOL.md>):
//!   refusals of the connection are close codes with a reason; a refused operation is an
//!   `error` message whose payload is a list of GraphQL errors.
//! - the legacy graphql-ws of subscriptions-transport-ws: it has no close codes of its own, so
//!   a refused connection is told with `connection_error` first, then closed with the same
//!   code and reason; a refused operation is an `error` message with one GraphQL error.

use axum::extract::ws::{CloseFrame, Message};
use axum::http::{HeaderMap, header};
use serde::Deserialize;
use serde_json::json;

use crate::auth::tokens::Refusal;

/// Longest close reason: a close frame's payload is at most 125 bytes, two of them the code.
pub const MAX_CLOSE_REASON_BYTES: usize = 123;

/// The protocol a socket speaks, from its `Sec-WebSocket-Protocol`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protocol {
    /// graphql-transport-ws (the graphql-ws library).
    TransportWs,
    /// graphql-ws of subscriptions-transport-ws (legacy).
    LegacyWs,
}

impl Protocol {
    /// The first protocol the client offers that is served, in the client's order, as
    /// async-graphql-axum's `GraphQLProtocol` picks it: the gate and the engine agree.
    pub fn from_headers(headers: &HeaderMap) -> Option<Self> {
        headers
            .get(header::SEC_WEBSOCKET_PROTOCOL)?
            .to_str()
            .ok()?
            .split(',')
            .find_map(|p| Self::from_name(p.trim()))
    }

    fn from_name(name: &str) -> Option<Self> {
        if name.eq_ignore_ascii_case("graphql-transport-ws") {
            Some(Self::TransportWs)
        } else if name.eq_ignore_ascii_case("graphql-ws") {
            Some(Self::LegacyWs)
        } else {
            None
        }
    }

    /// The name answered in `Sec-WebSocket-Protocol`.
    pub fn name(self) -> &'static str {
        match self {
            Self::TransportWs => "graphql-transport-ws",
            Self::LegacyWs => "graphql-ws",
        }
    }

    /// The message carrying a result of operation `id` (`next`, or the legacy `data`), around
    /// `payload`, a GraphQL response already serialised: the same bytes async-graphql's engine
    /// writes (`type`, `id`, `payload`, in that order).
    pub fn next_message(self, id: &str, payload: &str) -> Message {
        let kind = match self {
            Self::TransportWs => "next",
            Self::LegacyWs => "data",
        };
        let id = serde_json::Value::from(id).to_string();
        let mut text = String::with_capacity(payload.len() + id.len() + 32);
        text.push_str("{\"type\":\"");
        text.push_str(kind);
        text.push_str("\",\"id\":");
        text.push_str(&id);
        text.push_str(",\"payload\":");
        text.push_str(payload);
        text.push('}');
        Message::Text(text.into())
    }

    /// The `complete` message ending operation `id`.
    pub fn complete(self, id: &str) -> Message {
        // the type first, as the engine writes it (see [`ended_operation`])
        let id = serde_json::Value::from(id).to_string();
        Message::Text(format!("{{\"type\":\"complete\",\"id\":{id}}}").into())
    }

    /// The `error` message refusing operation `id`, with `extensions.code`.
    pub fn operation_error(self, id: &str, code: &str, message: &str) -> Message {
        let error = json!({ "message": message, "extensions": { "code": code } });
        let payload = match self {
            Self::TransportWs => json!([error]),
            Self::LegacyWs => error,
        };
        Message::Text(
            json!({ "type": "error", "id": id, "payload": payload })
                .to_string()
                .into(),
        )
    }
}

/// What a client message is, whichever protocol's spelling it uses (async-graphql's engine
/// accepts both spellings in both protocols, so the gate does too).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Init,
    Subscribe,
    Complete,
    Ping,
    Pong,
    Terminate,
    Unknown,
}

/// The part of a client message the gate reads before anything else: its type and id. The
/// payload is skipped without recursion (serde_json ignores a value with a loop of its own),
/// so that a deeply nested payload can still be refused by the id it came with.
#[derive(Debug, Deserialize)]
pub struct Envelope {
    #[serde(rename = "type")]
    kind: String,
    #[serde(default)]
    pub id: Option<String>,
}

impl Envelope {
    /// Reads a message's type and id.
    pub fn read(bytes: &[u8]) -> Result<Self, String> {
        serde_json::from_slice(bytes).map_err(|e| e.to_string())
    }

    pub fn kind(&self) -> Kind {
        match self.kind.as_str() {
            "connection_init" => Kind::Init,
            "subscribe" | "start" => Kind::Subscribe,
            "complete" | "stop" => Kind::Complete,
            "ping" => Kind::Ping,
            "pong" => Kind::Pong,
            "connection_terminate" => Kind::Terminate,
            _ => Kind::Unknown,
        }
    }
}

/// The id of the operation an outgoing message ends (`complete`, `error`), found without
/// parsing the others: the engine serialises the type first, and these messages are small.
pub fn ended_operation(text: &str) -> Option<String> {
    if !(text.starts_with(r#"{"type":"complete""#) || text.starts_with(r#"{"type":"error""#)) {
        return None;
    }
    #[derive(Deserialize)]
    struct Ended {
        id: String,
    }
    serde_json::from_str::<Ended>(text).ok().map(|e| e.id)
}

/// Why the gate closes a socket.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Closing {
    /// The close code.
    pub code: u16,
    /// The `extensions.code` of the legacy protocol's `connection_error`.
    pub error_code: &'static str,
    /// The close reason, at most [`MAX_CLOSE_REASON_BYTES`].
    pub reason: String,
}

impl Closing {
    fn new(code: u16, error_code: &'static str, reason: impl Into<String>) -> Self {
        Self {
            code,
            error_code,
            reason: fit_reason(reason.into()),
        }
    }

    /// 4400: the message is not one the protocol knows.
    pub fn bad_request(detail: &str) -> Self {
        Self::new(
            4400,
            "BAD_REQUEST",
            format!("Invalid message received: {detail}"),
        )
    }

    /// 4401: an operation before `connection_ack`.
    pub fn unauthorized() -> Self {
        Self::new(4401, "UNAUTHENTICATED", "Unauthorized")
    }

    /// 4401: a `connection_init` without a token.
    pub fn no_token() -> Self {
        Self::new(
            4401,
            "UNAUTHENTICATED",
            "Unauthorized: connection_init carries no authorization token",
        )
    }

    /// 4403: the token is not (or no longer) acceptable; each refusal has its own reason.
    pub fn forbidden(refusal: Refusal) -> Self {
        Self::new(
            4403,
            "FORBIDDEN",
            format!("Forbidden: {}", refusal.message()),
        )
    }

    /// 4403: the token now names another user or other roles than the socket was opened with.
    pub fn identity_changed() -> Self {
        Self::new(
            4403,
            "FORBIDDEN",
            "Forbidden: the token's user or roles changed; connect again",
        )
    }

    /// 4408: no `connection_init` in time.
    pub fn init_timeout() -> Self {
        Self::new(4408, "INIT_TIMEOUT", "Connection initialisation timeout")
    }

    /// 4409: an operation id already in use.
    pub fn duplicate(id: &str) -> Self {
        Self::new(
            4409,
            "CONFLICT",
            format!("Subscriber for {id} already exists"),
        )
    }

    /// 4429: a second `connection_init`.
    pub fn second_init() -> Self {
        Self::new(
            4429,
            "TOO_MANY_INIT_REQUESTS",
            "Too many initialisation requests",
        )
    }

    /// 4429: the token has as many sockets open as it may.
    pub fn too_many_sockets(max: usize) -> Self {
        Self::new(
            4429,
            "TOO_MANY_CONNECTIONS",
            format!("TOO_MANY_CONNECTIONS: at most {max} sockets may be open with one token"),
        )
    }

    /// 1009: a message larger than the bound.
    pub fn too_big(max: usize) -> Self {
        Self::new(
            1009,
            "MESSAGE_TOO_BIG",
            format!("Message too big: at most {max} bytes are accepted"),
        )
    }

    /// 1011: the server failed (the database); the client may connect again.
    pub fn internal() -> Self {
        Self::new(
            1011,
            "INTERNAL_SERVER_ERROR",
            "Internal server error: the token could not be checked; connect again",
        )
    }

    /// The messages that tell the client, in `protocol`.
    pub fn messages(&self, protocol: Protocol) -> Vec<Message> {
        let close = Message::Close(Some(CloseFrame {
            code: self.code,
            reason: self.reason.clone().into(),
        }));
        match protocol {
            Protocol::TransportWs => vec![close],
            Protocol::LegacyWs => {
                let error = json!({
                    "type": "connection_error",
                    "payload": { "message": self.reason, "extensions": { "code": self.error_code } }
                });
                vec![Message::Text(error.to_string().into()), close]
            }
        }
    }
}

/// `reason` cut to [`MAX_CLOSE_REASON_BYTES`] at a character boundary (a client's operation
/// id is part of some reasons, and a close frame with a longer reason cannot be sent).
fn fit_reason(mut reason: String) -> String {
    if reason.len() > MAX_CLOSE_REASON_BYTES {
        let mut end = MAX_CLOSE_REASON_BYTES;
        while !reason.is_char_boundary(end) {
            end -= 1;
        }
        reason.truncate(end);
    }
    reason
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_reason_fits_a_close_frame() {
        let refusals = [
            Refusal::Missing,
            Refusal::Scheme,
            Refusal::Malformed,
            Refusal::Invalid,
            Refusal::Revoked,
            Refusal::Expired,
        ];
        let mut closings: Vec<Closing> = refusals.into_iter().map(Closing::forbidden).collect();
        closings.extend([
            Closing::bad_request(&"x".repeat(500)),
            Closing::unauthorized(),
            Closing::no_token(),
            Closing::identity_changed(),
            Closing::init_timeout(),
            Closing::duplicate(&"é".repeat(200)),
            Closing::second_init(),
            Closing::too_many_sockets(usize::MAX),
            Closing::too_big(usize::MAX),
            Closing::internal(),
        ]);
        for c in closings {
            assert!(c.reason.len() <= MAX_CLOSE_REASON_BYTES, "{c:?}");
        }
    }

    #[test]
    fn each_refusal_has_its_own_reason() {
        let reasons: std::collections::HashSet<String> = [
            Refusal::Scheme,
            Refusal::Malformed,
            Refusal::Invalid,
            Refusal::Revoked,
            Refusal::Expired,
        ]
        .into_iter()
        .map(|r| Closing::forbidden(r).reason)
        .collect();
        assert_eq!(reasons.len(), 5);
    }

    #[test]
    fn a_deeply_nested_payload_still_gives_its_type_and_id() {
        let deep = format!(
            r#"{{"type":"subscribe","id":"7","payload":{}1{}}}"#,
            "[".repeat(100_000),
            "]".repeat(100_000)
        );
        let envelope = Envelope::read(deep.as_bytes()).expect("an envelope");
        assert_eq!(envelope.kind(), Kind::Subscribe);
        assert_eq!(envelope.id.as_deref(), Some("7"));
    }

    #[test]
    fn a_result_message_is_the_engines_shape_around_the_shared_payload() {
        let payload = r#"{"data":{"x":1}}"#;
        for (protocol, kind) in [
            (Protocol::TransportWs, "next"),
            (Protocol::LegacyWs, "data"),
        ] {
            let Message::Text(text) = protocol.next_message("a\"b", payload) else {
                panic!("not text");
            };
            let value: serde_json::Value = serde_json::from_str(text.as_str()).expect("json");
            assert_eq!(value["type"], kind);
            assert_eq!(value["id"], "a\"b");
            assert_eq!(value["payload"]["data"]["x"], 1);
            assert!(
                text.as_str()
                    .starts_with(&format!("{{\"type\":\"{kind}\",\"id\":"))
            );
        }
        let Message::Text(done) = Protocol::TransportWs.complete("7") else {
            panic!("not text");
        };
        assert_eq!(ended_operation(done.as_str()).as_deref(), Some("7"));
    }

    #[test]
    fn only_complete_and_error_messages_end_an_operation() {
        assert_eq!(
            ended_operation(r#"{"type":"complete","id":"a"}"#).as_deref(),
            Some("a")
        );
        assert_eq!(
            ended_operation(r#"{"type":"error","id":"b","payload":[]}"#).as_deref(),
            Some("b")
        );
        assert_eq!(
            ended_operation(r#"{"type":"next","id":"a","payload":{}}"#),
            None
        );
    }

    #[test]
    fn the_clients_first_served_protocol_is_chosen() {
        let mut headers = HeaderMap::new();
        headers.insert(
            header::SEC_WEBSOCKET_PROTOCOL,
            "other, graphql-ws, graphql-transport-ws"
                .parse()
                .expect("value"),
        );
        assert_eq!(Protocol::from_headers(&headers), Some(Protocol::LegacyWs));
    }
}
