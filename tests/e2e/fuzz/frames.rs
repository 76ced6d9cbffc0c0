//! WebSocket cases: a subprotocol, usually a valid `connection_init`, then protocol messages
//! with random payloads, text, binary and control frames.

use serde_json::{Value, json};

use super::cases::{Ctx, Frame, WsCase, doc};
use super::document::Builder;
use super::draw::{Gen, nasty_string};
use super::schema::{Doc, Root};
use super::shapes::pathological;
use super::syntax::{json_text, json_value, soup};

/// A subscription the server can start, a token soup, or (once `subscribe` is bounded) a
/// pathological document.
fn subscription_document(g: &mut Gen, ctx: &Ctx) -> Doc {
    if ctx.ws_bounded && g.chance(15) {
        return pathological(g, ctx);
    }
    if g.chance(10) {
        return doc(soup(g, &ctx.schema.names));
    }
    let root = if g.chance(85) {
        Root::Subscription
    } else {
        Root::Query
    };
    Builder::new(g, &ctx.schema, &ctx.pool).document(root)
}

/// A text frame holding `message`.
fn text(message: Value) -> Frame {
    Frame::Text(message.to_string())
}

fn ws_message(g: &mut Gen, ctx: &Ctx) -> Frame {
    match g.below(16) {
        0..=4 => {
            let d = subscription_document(g, ctx);
            let mut payload = json!({ "query": d.query, "variables": d.variables });
            if let Some(name) = d.operation_name {
                payload["operationName"] = json!(name);
            }
            let id = match g.below(6) {
                0 => json!(""),
                1 => json!(nasty_string(g)),
                2 => json_value(g),
                _ => json!(g.below(3).to_string()),
            };
            text(json!({ "type": "subscribe", "id": id, "payload": payload }))
        }
        5 => text(json!({ "type": "subscribe", "id": "1", "payload": json_value(g) })),
        6 => text(json!({ "type": "complete", "id": g.below(3).to_string() })),
        7 => {
            let kind = *g.pick(&["ping", "pong"]);
            text(json!({ "type": kind, "payload": json_value(g) }))
        }
        8 => text(init(&ctx.admin)),
        9 => text(json!({ "type": "connection_init", "payload": json_value(g) })),
        10 => {
            let kind = match g.below(4) {
                0 => json!(nasty_string(g)),
                1 => json!(g.pick(&["start", "stop", "connection_terminate", "next", "error"])),
                2 => json_value(g),
                _ => json!("x".repeat(g.range(100, 5_000))),
            };
            text(json!({ "type": kind, "id": "1", "payload": json_value(g) }))
        }
        11 => Frame::Text(json_text(g)),
        12 => Frame::Text(g.any_text(0, 200)),
        13 => Frame::Binary(g.bytes(300)),
        14 => Frame::Ping(g.bytes(125)),
        _ => Frame::Pong(g.bytes(125)),
    }
}

/// `connection_init` with `token`.
fn init(token: &str) -> Value {
    json!({ "type": "connection_init", "payload": { "authorization": format!("Bearer {token}") } })
}

/// A connection: a subprotocol (mostly graphql-transport-ws), usually a valid
/// `connection_init` first, then random protocol messages, text, binary and control frames.
pub fn ws_case(g: &mut Gen, ctx: &Ctx) -> WsCase {
    let protocol = match g.below(20) {
        0 => None,
        1 => Some(g.text_of("abcdefghijklmnopqrstuvwxyz-", 0, 20)),
        2 | 3 => Some("graphql-ws".to_owned()),
        _ => Some("graphql-transport-ws".to_owned()),
    };
    let mut frames = Vec::new();
    match g.below(10) {
        0..=6 => frames.push(text(init(&ctx.admin))),
        7 => frames.push(text(init(&ctx.member))),
        _ => {}
    }
    for _ in 0..g.range(1, 6) {
        frames.push(ws_message(g, ctx));
    }
    if g.chance(3) {
        frames.push(Frame::Close(
            *g.pick(&[1000, 1001, 1002, 3000, 4999]),
            g.any_text(0, 20),
        ));
    }
    WsCase { protocol, frames }
}
