//! HTTP routes: GraphQL over HTTP, GraphiQL, WebSocket subscriptions, health and readiness.

use async_graphql::http::GraphiQLSource;
use async_graphql_axum::{GraphQLRequest, GraphQLResponse, GraphQLSubscription};
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde_json::json;
use tower_http::limit::RequestBodyLimitLayer;
use tower_http::trace::TraceLayer;

use crate::schema::AppSchema;
use crate::state::AppState;

/// Largest request body accepted. Bulk result reports of 10,000 items with step results fit;
/// anything bigger is rejected with 413 before it is read into memory.
pub const MAX_BODY_BYTES: usize = 32 * 1024 * 1024;

/// Path of the GraphQL endpoint (POST, and GET for queries and the GraphiQL page).
pub const GRAPHQL_PATH: &str = "/graphql";

/// Path of the GraphQL WebSocket endpoint (graphql-transport-ws).
pub const GRAPHQL_WS_PATH: &str = "/graphql/ws";

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
        .layer(RequestBodyLimitLayer::new(MAX_BODY_BYTES))
        .layer(TraceLayer::new_for_http())
}

async fn graphql_post(State(state): State<HttpState>, req: GraphQLRequest) -> GraphQLResponse {
    state.schema.execute(req.into_inner()).await.into()
}

/// GET without a query string is a person opening the playground; with one, a query.
async fn graphql_get(State(state): State<HttpState>, req: axum::extract::Request) -> Response {
    use axum::extract::FromRequest;
    if req.uri().query().is_none_or(str::is_empty) {
        return Html(graphiql_page()).into_response();
    }
    match <GraphQLRequest as FromRequest<()>>::from_request(req, &()).await {
        Ok(req) => {
            GraphQLResponse::from(state.schema.execute(req.into_inner()).await).into_response()
        }
        Err(rejection) => rejection.into_response(),
    }
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
