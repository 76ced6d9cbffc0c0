//! HTTP routes: GraphQL over HTTP, GraphiQL, WebSocket subscriptions, health and readiness.
//!
//! - `graphql`: GraphQL over HTTP (POST, GET) and the GraphiQL page.
//! - `ws`: GraphQL over WebSocket (graphql-transport-ws and the legacy graphql-ws).
//! - `import`: `POST /api/v1/import`, report files (JUnit XML, CTRF) in.
//! - `pages`: the dashboard at `/`, GraphiQL, and their files under `/assets/`.
//! - `metrics`: `/metrics`, the process's figures in Prometheus' text format.
//! - `cors`: cross-origin requests from other origins' pages (`--cors-origin`).
//! - `artifacts`: artifacts' bytes in (`PUT /api/v1/artifacts/{id}/content`,
//!   `POST /api/v1/executions/{id}/artifacts`) and out (`GET /api/v1/artifacts/{id}`).

mod artifacts;
mod cors;
mod graphql;
mod import;
mod metrics;
mod pages;
mod persisted;
mod ws;

pub use artifacts::{ARTIFACTS_PATH, EXECUTIONS_PATH};
pub use import::IMPORT_PATH;

pub use pages::ASSETS_PATH;
pub use ws::{
    WS_CLOSE_REPLY_TIMEOUT, WS_FLUSH_TIMEOUT, WS_INIT_TIMEOUT, WS_MAX_MESSAGE_BYTES,
    WS_MAX_READ_BYTES, WS_PING_INTERVAL, WS_READ_BUFFER_BYTES,
};

use std::any::Any;

use axum::extract::{DefaultBodyLimit, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde_json::json;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::trace::TraceLayer;

use crate::schema::AppSchema;
use std::sync::Arc;

use crate::auth::tokens::TokenCache;
use crate::live::hub::Hub;
use crate::state::AppState;

/// Path of the GraphQL endpoint (POST, and GET for queries and the GraphiQL page).
pub const GRAPHQL_PATH: &str = "/graphql";

/// Path of the GraphQL WebSocket endpoint (graphql-transport-ws).
pub const GRAPHQL_WS_PATH: &str = "/graphql/ws";

/// Media type of GraphQL responses (GraphQL over HTTP).
pub(crate) const GRAPHQL_RESPONSE_JSON: &str = "application/graphql-response+json";

/// What the routes serve: the schema, the shared state, and the token cache and live hub of
/// the process.
#[derive(Clone)]
pub struct Served {
    pub schema: AppSchema,
    pub app: AppState,
    pub tokens: Arc<TokenCache>,
    pub hub: Arc<Hub>,
}

#[derive(Clone)]
pub(crate) struct HttpState {
    pub(crate) schema: AppSchema,
    pub(crate) app: AppState,
    pub(crate) tokens: Arc<TokenCache>,
    pub(crate) hub: Arc<Hub>,
    pub(crate) max_body_bytes: usize,
    pub(crate) ws: Arc<ws::WsShared>,
    pub(crate) persisted: Arc<persisted::PersistedQueries>,
}

/// The service's router (its options, such as the largest body, are `app.options`).
pub fn router(served: Served) -> Router {
    router_with_routes(served, Router::new())
}

/// The service's router with `extra` routes merged in, under the same layers (tracing, and a
/// panic answered as a coded 500): for tests that need a route the service has not. The
/// WebSocket endpoint bounds sockets per client address when served with connect info
/// (`into_make_service_with_connect_info`), as [`crate::startup::Application`] does.
pub fn router_with_routes(served: Served, extra: Router) -> Router {
    let Served {
        schema,
        app,
        tokens,
        hub,
    } = served;
    crate::telemetry::metrics();
    let cors_origins = app.options.cors_origins.clone();
    let state = HttpState {
        schema,
        max_body_bytes: app.options.max_body_bytes,
        ws: Arc::new(ws::WsShared::new(app.options.ws)),
        persisted: Arc::new(persisted::PersistedQueries::new(
            app.options.persisted_queries,
        )),
        app,
        tokens,
        hub,
    };
    let router = Router::new()
        .route(
            GRAPHQL_PATH,
            get(graphql::graphql_get).post(graphql::graphql_post),
        )
        .route(GRAPHQL_WS_PATH, get(ws::graphql_ws))
        .route(
            IMPORT_PATH,
            axum::routing::post(import::import).fallback(import::wrong_method),
        )
        .route(
            &format!("{ARTIFACTS_PATH}/{{id}}"),
            get(artifacts::download).fallback(artifacts::wrong_method),
        )
        .route(
            &format!("{ARTIFACTS_PATH}/{{id}}/content"),
            axum::routing::put(artifacts::upload).fallback(artifacts::wrong_method),
        )
        .route(
            &format!("{EXECUTIONS_PATH}/{{id}}/artifacts"),
            axum::routing::post(artifacts::create).fallback(artifacts::wrong_method),
        )
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics::metrics))
        .route("/", get(pages::dashboard))
        .route(&format!("{ASSETS_PATH}/{{*path}}"), get(pages::asset))
        .with_state(state)
        .merge(extra)
        .layer(DefaultBodyLimit::disable())
        // inside the trace layer, so that a panic is traced as the 500 it is answered with
        .layer(CatchPanicLayer::custom(panic_response))
        // outside the panic layer: a panic is counted as the 500 it is answered with
        .layer(axum::middleware::from_fn(metrics::count_request));
    // outside the routes: a preflight is answered before a route could refuse its method
    let router = match cors::layer(&cors_origins) {
        Some(cors) => router.layer(cors),
        None => router,
    };
    router.layer(TraceLayer::new_for_http())
}

/// The answer to a request whose handler panicked: a coded 500, the panic logged. Only that
/// request's future is dropped (with whatever it held); the process and its connections serve
/// on.
fn panic_response(panic: Box<dyn Any + Send + 'static>) -> Response {
    let message = panic
        .downcast_ref::<String>()
        .map(String::as_str)
        .or_else(|| panic.downcast_ref::<&str>().copied())
        .unwrap_or("a panic without a message");
    tracing::error!(panic = message, "a request panicked; answered 500");
    error_response(
        StatusCode::INTERNAL_SERVER_ERROR,
        "INTERNAL_SERVER_ERROR",
        "internal server error",
        "application/json",
    )
}

/// A GraphQL error response with one coded error.
pub(crate) fn error_response(
    status: StatusCode,
    code: &str,
    message: &str,
    json_type: &'static str,
) -> Response {
    ::metrics::counter!(crate::telemetry::HTTP_ERRORS, "code" => code.to_owned()).increment(1);
    let body = json!({
        "errors": [{ "message": message, "extensions": { "code": code } }]
    });
    let mut res = (status, Json(body)).into_response();
    res.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(json_type));
    res
}

/// The response media type the client prefers: `application/graphql-response+json` when it
/// is acceptable with a higher `q` than `application/json`, or as high and named explicitly;
/// else `application/json` (also for `*/*`, no `Accept` at all, or nothing acceptable). See
/// the [`graphql`] module for how the choice sets the status of a request error.
pub(crate) fn response_type(headers: &HeaderMap) -> &'static str {
    let mut graphql = Acceptance::default();
    let mut json = Acceptance::default();
    for accept in headers.get_all(header::ACCEPT) {
        let Ok(accept) = accept.to_str() else {
            continue;
        };
        for range in accept.split(',') {
            let mut parts = range.split(';');
            let media_range = parts.next().unwrap_or("").trim().to_ascii_lowercase();
            let q = parts
                .filter_map(|p| p.split_once('='))
                .find(|(name, _)| name.trim().eq_ignore_ascii_case("q"))
                .and_then(|(_, value)| value.trim().parse::<f32>().ok())
                .unwrap_or(1.0);
            let specificity = match media_range.as_str() {
                "*/*" => 1,
                "application/*" => 2,
                _ => 3,
            };
            if specificity < 3 || media_range == GRAPHQL_RESPONSE_JSON {
                graphql.offer(specificity, q);
            }
            if specificity < 3 || media_range == "application/json" {
                json.offer(specificity, q);
            }
        }
    }
    let explicit = graphql.specificity == 3;
    if graphql.q > 0.0 && (graphql.q > json.q || (graphql.q == json.q && explicit)) {
        GRAPHQL_RESPONSE_JSON
    } else {
        "application/json"
    }
}

/// How acceptable a media type is: the `q` of the most specific range that matches it.
#[derive(Default)]
struct Acceptance {
    /// 0 when no range matched, 1 for `*/*`, 2 for `type/*`, 3 for the type itself.
    specificity: u8,
    q: f32,
}

impl Acceptance {
    fn offer(&mut self, specificity: u8, q: f32) {
        if specificity > self.specificity {
            self.specificity = specificity;
            self.q = q;
        }
    }
}

/// The caller of a plain HTTP request (`/api/v1/...`): authenticated by its bearer token and
/// counted against the token's rate limit (`quota` says where it stands). The error is the
/// answer to send; the caller drains the body first if it has one.
pub(crate) async fn bearer_caller(
    state: &HttpState,
    headers: &HeaderMap,
    quota: &mut Option<crate::rate_limit::Quota>,
) -> Result<crate::auth::Identity, Response> {
    let header = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok());
    let identity =
        match crate::auth::tokens::authenticate(&state.app.db, &state.tokens, header).await {
            Ok(identity) => identity,
            Err(e) => {
                let status = if matches!(e, crate::error::AppError::Internal { .. }) {
                    StatusCode::SERVICE_UNAVAILABLE
                } else {
                    StatusCode::UNAUTHORIZED
                };
                let mut res = error_response(status, e.code(), &e.message(), "application/json");
                res.headers_mut()
                    .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
                return Err(res);
            }
        };
    let token = crate::auth::tokens::token_id(header);
    match token.and_then(|id| {
        state
            .app
            .rate_limiter
            .take(crate::rate_limit::Client::Token(id))
    }) {
        Some(Err(spent)) => {
            *quota = Some(spent);
            return Err(graphql::rate_limited(&spent, "application/json"));
        }
        Some(Ok(q)) => *quota = Some(q),
        None => {}
    }
    Ok(identity)
}

/// The body's length as the request declares it (`Content-Length`), if it does.
pub(crate) fn declared_length(headers: &HeaderMap) -> Option<u64> {
    headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse().ok())
}

/// Whether the client's copy is current: an `If-None-Match` tag (compared weakly: `W/"x"`
/// matches `"x"`), or `*`, matches `etag`.
pub(crate) fn not_modified(headers: &HeaderMap, etag: &str) -> bool {
    headers
        .get_all(header::IF_NONE_MATCH)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|t| {
            let t = t.trim();
            t == "*" || t.strip_prefix("W/").unwrap_or(t) == etag
        })
}

/// The first query parameter not among `taken`, as the message that refuses it.
pub(crate) fn unknown_parameter<'a>(
    params: impl IntoIterator<Item = &'a String>,
    taken: &[&str],
) -> Option<(String, String)> {
    params
        .into_iter()
        .find(|k| !taken.contains(&k.as_str()))
        .map(|unknown| {
            (
                unknown.clone(),
                format!(
                    "unknown parameter '{unknown}': the parameters are {}",
                    taken.join(", ")
                ),
            )
        })
}

/// Admits a plain HTTP request (the rate limit per client address), runs `answer` with the
/// quota it stands at, and adds the rate headers to what it answers; a refused request's
/// body is drained so that the client reads the answer.
pub(crate) async fn admitted<F, Fut>(
    state: HttpState,
    peer: graphql::Peer,
    body: Option<axum::body::Body>,
    answer: F,
) -> Response
where
    F: FnOnce(HttpState, Option<axum::body::Body>, Option<crate::rate_limit::Quota>) -> Fut,
    Fut: std::future::Future<Output = (Response, Option<crate::rate_limit::Quota>)>,
{
    let quota = match graphql::admit(&state, peer) {
        Ok(quota) => quota,
        Err(spent) => {
            if let Some(body) = body {
                graphql::drain(body, state.max_body_bytes).await;
            }
            return graphql::rate_limited(&spent, "application/json");
        }
    };
    let (mut response, quota) = answer(state, body, quota).await;
    if let Some(q) = &quota {
        graphql::rate_headers(response.headers_mut(), q);
    }
    response
}

/// As [`admitted`], for a request with a body that needs its caller: `answer` runs with the
/// identity the bearer token authenticates (counted against the token's rate limit); without
/// one the body is drained and the refusal answered.
pub(crate) async fn with_caller<F, Fut>(
    state: HttpState,
    peer: graphql::Peer,
    headers: &HeaderMap,
    body: axum::body::Body,
    answer: F,
) -> Response
where
    F: FnOnce(HttpState, crate::auth::Identity, axum::body::Body) -> Fut,
    Fut: std::future::Future<Output = Response>,
{
    admitted(
        state,
        peer,
        Some(body),
        |state, body, mut quota| async move {
            let body = body.unwrap_or_default();
            match bearer_caller(&state, headers, &mut quota).await {
                Ok(identity) => (answer(state, identity, body).await, quota),
                Err(refused) => {
                    graphql::drain(body, state.max_body_bytes).await;
                    (refused, quota)
                }
            }
        },
    )
    .await
}

/// An [`crate::error::AppError`] as the answer to a plain HTTP request: its status and code.
pub(crate) fn app_error_response(e: &crate::error::AppError) -> Response {
    if let crate::error::AppError::Internal { cause } = e {
        tracing::error!(%cause, "internal error");
    }
    ::metrics::counter!(crate::telemetry::HTTP_ERRORS, "code" => e.code()).increment(1);
    let status = StatusCode::from_u16(e.http_status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut extensions = json!({ "code": e.code() });
    if let Some(field) = e.field() {
        extensions["field"] = json!(field);
    }
    let body = json!({ "errors": [{ "message": e.message(), "extensions": extensions }] });
    (status, Json(body)).into_response()
}

/// The process is up.
async fn healthz() -> impl IntoResponse {
    Json(json!({ "status": "ok" }))
}

/// The process can serve: its database answers. Its read replicas are listed with their
/// state and lag; one down or lagging never makes the process unready (the primary serves
/// its reads).
async fn readyz(State(state): State<HttpState>) -> impl IntoResponse {
    let replicas: Vec<_> = state
        .app
        .replicas
        .states()
        .into_iter()
        .map(|r| {
            json!({
                "replica": r.label,
                "state": r.state.as_str(),
                "lagSeconds": r.lag.map(|lag| lag.as_secs_f64()),
                "failed": r.failed,
            })
        })
        .collect();
    let database = crate::db::ping(&state.app.db).await;
    let listener = state.hub.state();
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
            "subscribers": state.hub.subscribers(),
            // this process's own figures (the metrics of several servers in one process mix)
            "liveStreams": state.ws.fanout.streams(),
            "liveStreamMessages": state.ws.fanout.messages(),
            "liveWakeups": state.hub.wakeups(),
            "liveNotifications": state.hub.notifications(),
            "readReplicas": replicas,
        })),
    )
}
