//! HTTP routes: GraphQL over HTTP, GraphiQL, WebSocket subscriptions, health and readiness.
//!
//! GraphQL over HTTP as its specification says: POST with a JSON body, GET for queries only
//! (a mutation over GET is 405), `application/graphql-response+json` when the client accepts
//! it, and 4xx for a request that cannot be parsed or validated. Every error carries
//! `extensions.code`, including those async-graphql raises itself (coercion, validation,
//! limits), which are given `BAD_USER_INPUT` and the argument they concern.

use async_graphql::http::GraphiQLSource;
use async_graphql::parser::types::OperationType;
use async_graphql_axum::{GraphQLProtocol, GraphQLWebSocket};
use axum::body::{Body, Bytes};
use axum::extract::ws::{CloseFrame, Message, WebSocket, WebSocketUpgrade};
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use futures::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tower_http::trace::TraceLayer;

use crate::schema::AppSchema;
use crate::state::AppState;

/// Largest request body accepted by default (`--max-body-bytes` changes it). Bulk result
/// reports of 10,000 items with step results fit; anything bigger is answered 413 with a
/// coded error, before it is read into memory whole.
pub const MAX_BODY_BYTES: usize = 32 * 1024 * 1024;

/// Path of the GraphQL endpoint (POST, and GET for queries and the GraphiQL page).
pub const GRAPHQL_PATH: &str = "/graphql";

/// Path of the GraphQL WebSocket endpoint (graphql-transport-ws).
pub const GRAPHQL_WS_PATH: &str = "/graphql/ws";

/// Media type of GraphQL responses (GraphQL over HTTP).
const GRAPHQL_RESPONSE_JSON: &str = "application/graphql-response+json";

#[derive(Clone)]
struct HttpState {
    schema: AppSchema,
    app: AppState,
    max_body_bytes: usize,
}

/// The service's router.
pub fn router(schema: AppSchema, app: AppState) -> Router {
    router_with_body_limit(schema, app, MAX_BODY_BYTES)
}

/// The service's router, accepting request bodies of up to `max_body_bytes`.
pub fn router_with_body_limit(schema: AppSchema, app: AppState, max_body_bytes: usize) -> Router {
    let state = HttpState {
        schema: schema.clone(),
        app,
        max_body_bytes,
    };
    Router::new()
        .route(GRAPHQL_PATH, get(graphql_get).post(graphql_post))
        .route(GRAPHQL_WS_PATH, get(graphql_ws))
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .with_state(state)
        .layer(DefaultBodyLimit::disable())
        .layer(TraceLayer::new_for_http())
}

/// A GraphQL error response with one coded error.
fn error_response(
    status: StatusCode,
    code: &str,
    message: &str,
    json_type: &'static str,
) -> Response {
    let body = json!({
        "errors": [{ "message": message, "extensions": { "code": code } }]
    });
    let mut res = (status, Json(body)).into_response();
    res.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(json_type));
    res
}

/// The response media type the client asked for: the GraphQL one when accepted, else JSON.
fn response_type(headers: &HeaderMap) -> &'static str {
    let accept = headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if accept.contains(GRAPHQL_RESPONSE_JSON) {
        GRAPHQL_RESPONSE_JSON
    } else {
        "application/json"
    }
}

async fn graphql_post(State(state): State<HttpState>, headers: HeaderMap, body: Body) -> Response {
    let json_type = response_type(&headers);
    let limit = state.max_body_bytes;
    let bytes: Bytes = match axum::body::to_bytes(body, limit).await {
        Ok(b) => b,
        Err(_) => {
            return error_response(
                StatusCode::PAYLOAD_TOO_LARGE,
                "PAYLOAD_TOO_LARGE",
                &format!("the request body exceeds {limit} bytes"),
                json_type,
            );
        }
    };
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if !content_type.is_empty() && !content_type.starts_with("application/json") {
        return error_response(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "BAD_REQUEST",
            "POST bodies must be application/json",
            json_type,
        );
    }
    let request: async_graphql::Request = match serde_json::from_slice(&bytes) {
        Ok(r) => r,
        Err(e) => {
            return error_response(
                StatusCode::BAD_REQUEST,
                "BAD_REQUEST",
                &format!("the body is not a GraphQL request: {e}"),
                json_type,
            );
        }
    };
    execute(&state, request, Method::POST, &headers, json_type).await
}

/// GET without a query string is a person opening the playground; with one, a query.
async fn graphql_get(
    State(state): State<HttpState>,
    headers: HeaderMap,
    uri: axum::http::Uri,
) -> Response {
    let json_type = response_type(&headers);
    let query = uri.query().unwrap_or("");
    if query.is_empty() {
        return Html(graphiql_page()).into_response();
    }
    let request = match async_graphql::http::parse_query_string(query) {
        Ok(r) => r,
        Err(e) => {
            return error_response(
                StatusCode::BAD_REQUEST,
                "BAD_REQUEST",
                &format!("the query string is not a GraphQL request: {e}"),
                json_type,
            );
        }
    };
    execute(&state, request, Method::GET, &headers, json_type).await
}

async fn execute(
    state: &HttpState,
    mut request: async_graphql::Request,
    method: Method,
    headers: &HeaderMap,
    json_type: &'static str,
) -> Response {
    let operation_name = request.operation_name.clone();
    let operation_type = match request.parsed_query() {
        Ok(doc) => operation_of(doc, operation_name.as_deref()),
        Err(e) => {
            return error_response(
                StatusCode::BAD_REQUEST,
                "GRAPHQL_PARSE_FAILED",
                &e.message,
                json_type,
            );
        }
    };
    if method == Method::GET && operation_type != Some(OperationType::Query) {
        let mut res = error_response(
            StatusCode::METHOD_NOT_ALLOWED,
            "METHOD_NOT_ALLOWED",
            "only queries may be sent with GET; use POST for mutations",
            json_type,
        );
        res.headers_mut()
            .insert(header::ALLOW, HeaderValue::from_static("POST"));
        return res;
    }

    let needs_identity = match request.parsed_query() {
        Ok(doc) => !introspection_only(doc, operation_name.as_deref()),
        Err(_) => true,
    };
    let header = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok());
    if needs_identity {
        match crate::auth::tokens::authenticate(&state.app.db, &state.app.tokens, header).await {
            Ok(identity) => {
                request = request.data(crate::auth::extension::Authenticated(identity));
            }
            Err(e) => {
                let message = match &e {
                    crate::error::AppError::Unauthenticated { message } => message.clone(),
                    _ => "authentication failed".to_owned(),
                };
                let status = if matches!(e, crate::error::AppError::Internal { .. }) {
                    StatusCode::SERVICE_UNAVAILABLE
                } else {
                    StatusCode::UNAUTHORIZED
                };
                let code = e.code();
                if let crate::error::AppError::Internal { cause } = &e {
                    tracing::error!(%cause, "authentication failed");
                }
                let mut res = error_response(status, code, &message, json_type);
                res.headers_mut()
                    .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
                return res;
            }
        }
    }
    let response = state.schema.execute(request).await;
    let rejected = response.data == async_graphql::Value::Null
        && !response.errors.is_empty()
        && response.errors.iter().all(|e| e.path.is_empty());
    let mut body = serde_json::to_value(&response).unwrap_or_else(|_| json!({}));
    add_missing_codes(&mut body);
    let status = if rejected && !has_code(&body, "INTERNAL_SERVER_ERROR") {
        StatusCode::BAD_REQUEST
    } else {
        StatusCode::OK
    };
    let mut res = (status, Json(body)).into_response();
    res.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(json_type));
    res
}

/// Whether the operation only asks for the schema (`__schema`, `__type`, `__typename`), which
/// is public: GraphiQL loads it before the user has pasted a token.
fn introspection_only(
    doc: &async_graphql::parser::types::ExecutableDocument,
    name: Option<&str>,
) -> bool {
    use async_graphql::parser::types::{DocumentOperations, Selection};
    let op = match (&doc.operations, name) {
        (DocumentOperations::Single(op), _) => op,
        (DocumentOperations::Multiple(ops), Some(name)) => match ops.get(name) {
            Some(op) => op,
            None => return false,
        },
        _ => return false,
    };
    op.node.ty == OperationType::Query
        && op
            .node
            .selection_set
            .node
            .items
            .iter()
            .all(|item| match &item.node {
                Selection::Field(f) => f.node.name.node.starts_with("__"),
                _ => false,
            })
}

/// The type of the operation the request will run, if it names one that exists.
fn operation_of(
    doc: &async_graphql::parser::types::ExecutableDocument,
    name: Option<&str>,
) -> Option<OperationType> {
    use async_graphql::parser::types::DocumentOperations;
    match (&doc.operations, name) {
        (DocumentOperations::Single(op), _) => Some(op.node.ty),
        (DocumentOperations::Multiple(ops), Some(name)) => ops.get(name).map(|op| op.node.ty),
        (DocumentOperations::Multiple(ops), None) if ops.len() == 1 => {
            ops.values().next().map(|op| op.node.ty)
        }
        _ => None,
    }
}

fn has_code(body: &Value, code: &str) -> bool {
    body["errors"]
        .as_array()
        .is_some_and(|errors| errors.iter().any(|e| e["extensions"]["code"] == code))
}

/// Gives `BAD_USER_INPUT` (and the argument or variable concerned, as `field`) to the errors
/// async-graphql raised itself: argument coercion, validation, depth and complexity limits.
fn add_missing_codes(body: &mut Value) {
    let Some(errors) = body.get_mut("errors").and_then(Value::as_array_mut) else {
        return;
    };
    for error in errors {
        if error["extensions"]["code"].is_string() {
            continue;
        }
        let message = error["message"].as_str().unwrap_or("").to_owned();
        let field = quoted_after(&message, "argument \"")
            .or_else(|| quoted_after(&message, "Variable \"$"))
            .or_else(|| quoted_after(&message, "variable \"$"))
            .or_else(|| {
                error["path"]
                    .as_array()
                    .and_then(|p| p.last())
                    .and_then(Value::as_str)
                    .map(str::to_owned)
            })
            .unwrap_or_else(|| "query".to_owned());
        if !error["extensions"].is_object() {
            error["extensions"] = json!({});
        }
        error["extensions"]["code"] = json!("BAD_USER_INPUT");
        error["extensions"]["field"] = json!(field);
    }
}

/// The text between `prefix` and the next `"` in `message`.
fn quoted_after(message: &str, prefix: &str) -> Option<String> {
    let start = message.find(prefix)? + prefix.len();
    let end = message[start..].find('"')? + start;
    Some(message[start..end].to_owned())
}

/// How long a WebSocket client has to send `connection_init` (with its token) before the
/// connection is closed with 4408, as graphql-transport-ws prescribes.
pub const WS_INIT_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

/// Read buffer of a WebSocket connection. Clients send only small protocol messages
/// (`connection_init`, `subscribe`, `pong`); tungstenite's default of 128 KiB is zero-filled on
/// the first read, so every idle subscriber cost 128 KiB of resident memory (found by the
/// benchmark program). Larger messages still arrive: the buffer grows for them.
pub const WS_READ_BUFFER_BYTES: usize = 4 * 1024;

async fn graphql_ws(
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

/// The GraphiQL playground, wired to the HTTP and WebSocket endpoints.
pub fn graphiql_page() -> String {
    GraphiQLSource::build()
        .endpoint(GRAPHQL_PATH)
        .subscription_endpoint(GRAPHQL_WS_PATH)
        .title("JBTestSuite GraphiQL")
        .header("Authorization", "Bearer <paste your token>")
        .finish()
}

/// The process is up.
async fn healthz() -> impl IntoResponse {
    Json(json!({ "status": "ok" }))
}

/// The process can serve: its database answers.
async fn readyz(State(state): State<HttpState>) -> impl IntoResponse {
    let database = crate::db::ping(&state.app.db).await;
    let listener = state.app.hub.state();
    let live = listener == crate::live::hub::ListenerState::Connected;
    let ready = database && live;
    let status = if ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (
        status,
        Json(json!({
            "status": if ready { "ready" } else { "unavailable" },
            "database": database,
            "liveListener": format!("{listener:?}").to_lowercase(),
            "subscribers": state.app.hub.subscribers(),
        })),
    )
}
