//! Sending a case to the running server and checking what comes back: an answer, no 5xx but a
//! coded INTERNAL_SERVER_ERROR, a code on every error, WebSocket closes with a close frame.

use std::time::Duration;

use reqwest::header::{ACCEPT, AUTHORIZATION, CONTENT_TYPE, HeaderValue};
use serde_json::{Value, json};

use super::cases::{Auth, Case, Ctx, HttpCase};

/// Longest wait for a response or a WebSocket message: far beyond any request the server
/// should take (the slowest ones the fuzzer sends take a few seconds in a debug build on a
/// loaded machine), short enough that a hang costs little of the run's budget.
pub const ANSWER_TIMEOUT: Duration = Duration::from_secs(20);

/// The server's body bound ([`api::config::MAX_BODY_BYTES`]): a longer body may be cut off by
/// the server before the client has sent it all, which is not a dropped answer.
const MAX_BODY_BYTES: usize = api::config::MAX_BODY_BYTES;

/// How much of a response a finding keeps.
const RESPONSE_CHARS: usize = 800;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Property {
    /// No response: the connection dropped or the request hung.
    Answered,
    /// A status of 500 or more, other than a 500 with INTERNAL_SERVER_ERROR.
    No5xx,
    /// An error without `extensions.code`, or an error status with no error.
    Coded,
    /// A caught error: tolerated by the properties, but a bug.
    Internal,
    /// A WebSocket ended without a close frame.
    WsCloseFrame,
    /// A WebSocket was reset when the client sent frames quickly, though the server closes it
    /// with a close frame when the client waits: the server closes without reading what is in
    /// flight, and the reset can destroy its close frame before the client reads it.
    WsUndrained,
    /// The next valid request went unanswered.
    Alive,
}

impl Property {
    pub fn name(self) -> &'static str {
        match self {
            Property::Answered => "no answer",
            Property::No5xx => "5xx",
            Property::Coded => "uncoded error",
            Property::Internal => "INTERNAL_SERVER_ERROR",
            Property::WsCloseFrame => "websocket dropped without a close frame",
            Property::WsUndrained => "websocket reset with the client's frames unread",
            Property::Alive => "next valid request unanswered",
        }
    }
}

/// A broken property, or a caught internal error.
#[derive(Debug, Clone)]
pub struct Finding {
    pub property: Property,
    /// What makes two findings the same bug.
    pub signature: String,
    /// What the server answered, shortened.
    pub response: String,
}

pub fn finding(
    property: Property,
    signature: impl Into<String>,
    response: impl Into<String>,
) -> Finding {
    Finding {
        property,
        signature: signature.into(),
        response: short(&response.into(), RESPONSE_CHARS),
    }
}

pub fn short(text: &str, max: usize) -> String {
    if text.len() <= max {
        return text.to_owned();
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}… ({} bytes)", &text[..end], text.len())
}

/// A message with its variable parts (quoted names, numbers) blotted out, so that the same
/// error about different names is one signature.
pub fn normalize(message: &str) -> String {
    let mut out = String::new();
    let mut quoted = false;
    let mut last_digit = false;
    for c in message.chars() {
        if c == '"' || c == '`' {
            if !quoted {
                out.push_str("\"…\"");
            }
            quoted = !quoted;
            continue;
        }
        if quoted {
            continue;
        }
        if c.is_ascii_digit() {
            if !last_digit {
                out.push('#');
            }
            last_digit = true;
            continue;
        }
        last_digit = false;
        out.push(c);
    }
    short(&out, 160)
}

pub async fn run(
    client: &reqwest::Client,
    ctx: &Ctx,
    addr: std::net::SocketAddr,
    case: &Case,
) -> Vec<Finding> {
    match case {
        Case::Http(http) => send_http(client, ctx, addr, http).await,
        Case::Ws(ws) => super::socket::run_ws(addr, ws).await,
    }
}

async fn send_http(
    client: &reqwest::Client,
    ctx: &Ctx,
    addr: std::net::SocketAddr,
    case: &HttpCase,
) -> Vec<Finding> {
    let base = format!("http://{addr}/graphql");
    let mut req = if case.get {
        if case.query_string.is_empty() {
            client.get(&base)
        } else {
            client.get(format!("{base}?{}", case.query_string))
        }
    } else {
        client.post(&base).body(case.body.clone())
    };
    let header = |value: &str| HeaderValue::from_str(value).ok();
    if let Some(v) = case.content_type.as_deref().and_then(header) {
        req = req.header(CONTENT_TYPE, v);
    }
    if let Some(v) = case.accept.as_deref().and_then(header) {
        req = req.header(ACCEPT, v);
    }
    let authorization = match &case.auth {
        Auth::Admin => Some(format!("Bearer {}", ctx.admin)),
        Auth::Member => Some(format!("Bearer {}", ctx.member)),
        Auth::Anonymous => None,
        Auth::Header(h) => Some(h.clone()),
    };
    if let Some(v) = authorization.as_deref().and_then(header) {
        req = req.header(AUTHORIZATION, v);
    }
    let res = match tokio::time::timeout(ANSWER_TIMEOUT, req.send()).await {
        Err(_) => {
            return vec![finding(
                Property::Answered,
                "no response within the timeout",
                "",
            )];
        }
        Ok(Err(e)) if e.is_builder() => return Vec::new(),
        Ok(Err(_)) if case.body.len() > MAX_BODY_BYTES => return Vec::new(),
        Ok(Err(e)) => {
            return vec![finding(
                Property::Answered,
                "connection dropped",
                format!("{e:?}"),
            )];
        }
        Ok(Ok(res)) => res,
    };
    let status = res.status().as_u16();
    let content_type = res
        .headers()
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned();
    let bytes = match tokio::time::timeout(ANSWER_TIMEOUT, res.bytes()).await {
        Ok(Ok(b)) => b,
        Ok(Err(e)) => {
            return vec![finding(
                Property::Answered,
                "body cut off",
                format!("{status} {e:?}"),
            )];
        }
        Err(_) => {
            return vec![finding(
                Property::Answered,
                "body not sent within the timeout",
                status.to_string(),
            )];
        }
    };
    if status == 200 && case.get && content_type.starts_with("text/html") {
        return Vec::new();
    }
    check_body(status, &bytes)
}

/// The properties of an HTTP answer.
pub fn check_body(status: u16, bytes: &[u8]) -> Vec<Finding> {
    let text = String::from_utf8_lossy(bytes);
    let response = format!("{status} {text}");
    let body: Value = match serde_json::from_slice(bytes) {
        Ok(v) => v,
        Err(_) => {
            let property = if status >= 500 {
                Property::No5xx
            } else {
                Property::Coded
            };
            return vec![finding(
                property,
                format!("{status} with a body that is not JSON"),
                response,
            )];
        }
    };
    let errors = body["errors"].as_array().cloned().unwrap_or_default();
    let mut found = Vec::new();
    if status >= 400 && errors.is_empty() {
        found.push(finding(
            Property::Coded,
            format!("{status} without errors"),
            response.clone(),
        ));
    }
    found.extend(check_errors(&errors, &format!("{status}"), &response));
    let all_internal = !errors.is_empty()
        && errors
            .iter()
            .all(|e| e["extensions"]["code"] == "INTERNAL_SERVER_ERROR");
    if status >= 500 && !(status == 500 && all_internal) {
        found.push(finding(
            Property::No5xx,
            format!("{status}: {}", first_message(&errors)),
            response,
        ));
    }
    found
}

fn first_message(errors: &[Value]) -> String {
    errors
        .first()
        .and_then(|e| e["message"].as_str())
        .map(normalize)
        .unwrap_or_default()
}

/// Errors without `extensions.code`, and INTERNAL_SERVER_ERRORs, found in `errors`.
pub fn check_errors(errors: &[Value], context: &str, response: &str) -> Vec<Finding> {
    let mut found = Vec::new();
    for e in errors {
        let message = normalize(e["message"].as_str().unwrap_or(""));
        match e["extensions"]["code"].as_str() {
            None => {
                // over WebSocket, errors lack codes as a class: one finding, not one per message
                let signature = if context.starts_with("ws") {
                    format!("{context}: errors without extensions.code")
                } else {
                    format!("{context}: {message}")
                };
                found.push(finding(Property::Coded, signature, response))
            }
            Some("INTERNAL_SERVER_ERROR") => {
                let path: Vec<String> = e["path"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .map(|p| match p {
                        Value::String(s) => normalize(s),
                        _ => "#".to_owned(),
                    })
                    .collect();
                found.push(finding(
                    Property::Internal,
                    format!("{context} at {}", path.join(".")),
                    response,
                ));
            }
            Some(_) => {}
        }
    }
    found
}

/// `{ viewer { userId } }` as the admin: 200 and the admin's id.
pub async fn alive(
    client: &reqwest::Client,
    ctx: &Ctx,
    addr: std::net::SocketAddr,
) -> Option<Finding> {
    let sent = client
        .post(format!("http://{addr}/graphql"))
        .bearer_auth(&ctx.admin)
        .json(&json!({ "query": "{ viewer { userId } }" }))
        .send();
    let res = match tokio::time::timeout(ANSWER_TIMEOUT, sent).await {
        Ok(Ok(res)) => res,
        Ok(Err(e)) => {
            return Some(finding(
                Property::Alive,
                "connection failed",
                format!("{e:?}"),
            ));
        }
        Err(_) => return Some(finding(Property::Alive, "no answer within the timeout", "")),
    };
    let status = res.status().as_u16();
    let body: Value = res.json().await.unwrap_or(Value::Null);
    if status != 200 || body["data"]["viewer"]["userId"] != "test-admin" {
        return Some(finding(
            Property::Alive,
            format!("answered {status}"),
            body.to_string(),
        ));
    }
    None
}
