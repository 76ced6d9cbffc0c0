//! HTTP routes: GraphQL over HTTP, GraphiQL, WebSocket subscriptions, health and readiness.
//!
//! - `graphql`: GraphQL over HTTP (POST, GET) and the GraphiQL page.
//! - `ws`: GraphQL over WebSocket (graphql-transport-ws and the legacy graphql-ws).

mod graphql;
mod ws;

pub use graphql::graphiql_page;
pub use ws::{
    DEFAULT_MAX_SOCKETS_PER_ADDRESS, DEFAULT_MAX_SOCKETS_PER_TOKEN,
    DEFAULT_MAX_SUBSCRIPTIONS_PER_SOCKET, WS_CLOSE_REPLY_TIMEOUT, WS_FLUSH_TIMEOUT,
    WS_INIT_TIMEOUT, WS_MAX_MESSAGE_BYTES, WS_MAX_READ_BYTES, WS_PING_INTERVAL,
    WS_READ_BUFFER_BYTES, WsLimits,
};

use axum::extract::{DefaultBodyLimit, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde_json::json;
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
pub(crate) const GRAPHQL_RESPONSE_JSON: &str = "application/graphql-response+json";

/// What the HTTP endpoints accept (command-line options).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HttpLimits {
    /// Largest request body, in bytes.
    pub max_body_bytes: usize,
    /// Bounds on the WebSocket endpoint.
    pub ws: WsLimits,
}

impl Default for HttpLimits {
    fn default() -> Self {
        Self {
            max_body_bytes: MAX_BODY_BYTES,
            ws: WsLimits::default(),
        }
    }
}

#[derive(Clone)]
pub(crate) struct HttpState {
    pub(crate) schema: AppSchema,
    pub(crate) app: AppState,
    pub(crate) max_body_bytes: usize,
    pub(crate) ws: std::sync::Arc<ws::WsShared>,
}

/// The service's router.
pub fn router(schema: AppSchema, app: AppState) -> Router {
    router_with_limits(schema, app, HttpLimits::default())
}

/// The service's router, accepting request bodies of up to `max_body_bytes`.
pub fn router_with_body_limit(schema: AppSchema, app: AppState, max_body_bytes: usize) -> Router {
    let limits = HttpLimits {
        max_body_bytes,
        ..HttpLimits::default()
    };
    router_with_limits(schema, app, limits)
}

/// The service's router with `limits`. The WebSocket endpoint bounds sockets per client
/// address when served with connect info (`into_make_service_with_connect_info`), as
/// [`crate::startup::Application`] does.
pub fn router_with_limits(schema: AppSchema, app: AppState, limits: HttpLimits) -> Router {
    let state = HttpState {
        schema: schema.clone(),
        app,
        max_body_bytes: limits.max_body_bytes,
        ws: std::sync::Arc::new(ws::WsShared::new(limits.ws)),
    };
    Router::new()
        .route(
            GRAPHQL_PATH,
            get(graphql::graphql_get).post(graphql::graphql_post),
        )
        .route(GRAPHQL_WS_PATH, get(ws::graphql_ws))
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .with_state(state)
        .layer(DefaultBodyLimit::disable())
        .layer(TraceLayer::new_for_http())
}

/// A GraphQL error response with one coded error.
pub(crate) fn error_response(
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
pub(crate) fn response_type(headers: &HeaderMap) -> &'static str {
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
