//! HTTP routes: GraphQL over HTTP, GraphiQL, WebSocket subscriptions, health and readiness.
//!
//! GraphQL over HTTP as its specification says: POST with a JSON body, GET for queries only
//! (a mutation over GET is 405), `application/graphql-response+json` when the client accepts
//! it, and 4xx for a request that cannot be parsed or validated. Every error carries
//! `extensions.code`, including those async-graphql raises itself (coercion, validation,
//! limits), which are given `BAD_USER_INPUT` and the argument they concern.

use async_graphql::http::GraphiQLSource;
use async_graphql::parser::types::OperationType;
use async_graphql_axum::GraphQLSubscription;
use axum::body::{Body, Bytes};
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde_json::{Value, json};
use tower_http::trace::TraceLayer;

use crate::schema::AppSchema;
use crate::state::AppState;

/// Largest request body accepted. Bulk result reports of 10,000 items with step results fit;
/// anything bigger is answered 413 with a coded error, before it is read into memory whole.
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
}

/// The service's router.
pub fn router(schema: AppSchema, app: AppState) -> Router {
    let state = HttpState {
        schema: schema.clone(),
        app,
    };
    Router::new()
        .route(GRAPHQL_PATH, get(graphql_get).post(graphql_post))
        .route_service(GRAPHQL_WS_PATH, GraphQLSubscription::new(schema))
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
    let bytes: Bytes = match axum::body::to_bytes(body, MAX_BODY_BYTES).await {
        Ok(b) => b,
        Err(_) => {
            return error_response(
                StatusCode::PAYLOAD_TOO_LARGE,
                "PAYLOAD_TOO_LARGE",
                &format!("the request body exceeds {MAX_BODY_BYTES} bytes"),
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
    _headers: &HeaderMap,
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

    let db = crate::auth::RequestDb::new(state.app.db.clone(), None);
    let request = crate::schema::prepare_request(request, &db);
    let mut response = state.schema.execute(request).await;
    if let Err(e) = db.finish().await {
        response = async_graphql::Response::from_errors(vec![
            async_graphql::Error::from(e).into_server_error(async_graphql::Pos::default()),
        ]);
    }
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

/// The GraphiQL playground, wired to the HTTP and WebSocket endpoints.
pub fn graphiql_page() -> String {
    GraphiQLSource::build()
        .endpoint(GRAPHQL_PATH)
        .subscription_endpoint(GRAPHQL_WS_PATH)
        .title("JBTestSuite GraphiQL")
        .finish()
}

/// The process is up.
async fn healthz() -> impl IntoResponse {
    Json(json!({ "status": "ok" }))
}

/// The process can serve: its database answers.
async fn readyz(State(state): State<HttpState>) -> impl IntoResponse {
    let database = crate::db::ping(&state.app.db).await;
    let status = if database {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (
        status,
        Json(json!({
            "status": if database { "ready" } else { "unavailable" },
            "database": database,
        })),
    )
}
