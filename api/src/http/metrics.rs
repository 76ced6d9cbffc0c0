//! `/metrics`: the process's figures in Prometheus' text format (see
//! [`crate::telemetry`] for what each is), and the count of every HTTP request answered.
//!
//! The figures are the process's: behind a load balancer, scrape each server process. They
//! hold counts, times and operation names (at most a few hundred), never a request's data.

use axum::extract::{MatchedPath, Request, State};
use axum::http::{HeaderValue, Method, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::telemetry;

use super::HttpState;

/// The figures, with the gauges read now (pool, subscriptions, listener).
pub(crate) async fn metrics(State(state): State<HttpState>) -> Response {
    let pool = state.app.db.get_postgres_connection_pool();
    let size = pool.size() as f64;
    let idle = pool.num_idle() as f64;
    metrics::gauge!(telemetry::POOL_IN_USE).set(size - idle);
    metrics::gauge!(telemetry::POOL_IDLE).set(idle);
    metrics::gauge!(telemetry::SUBSCRIPTIONS_OPEN).set(state.hub.subscribers() as f64);
    let connected = state.hub.state() == crate::live::hub::ListenerState::Connected;
    metrics::gauge!(telemetry::LIVE_CONNECTED).set(if connected { 1.0 } else { 0.0 });
    let handle = telemetry::metrics();
    handle.run_upkeep();
    let mut response = handle.render().into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
    );
    response
}

/// Counts a request by its route's pattern (never its path, whose ids are unbounded), method
/// and status, and times it to its response head.
pub(crate) async fn count_request(request: Request, next: Next) -> Response {
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_owned(), |p| p.as_str().to_owned());
    // methods are any token a client sends: the standard ones are counted apart
    let method = match *request.method() {
        Method::GET => "GET",
        Method::HEAD => "HEAD",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::DELETE => "DELETE",
        Method::OPTIONS => "OPTIONS",
        Method::PATCH => "PATCH",
        _ => "other",
    };
    let started = std::time::Instant::now();
    let response = next.run(request).await;
    let status = response.status().as_u16().to_string();
    metrics::counter!(telemetry::HTTP_REQUESTS, "route" => route.clone(), "method" => method, "status" => status)
        .increment(1);
    metrics::histogram!(telemetry::HTTP_DURATION, "route" => route, "method" => method)
        .record(started.elapsed().as_secs_f64());
    response
}
