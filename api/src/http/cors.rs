//! Cross-origin requests from browsers (CORS), for front ends served from another origin
//! (`--cors-origin`). Off by default: without an allowed origin no `Access-Control-*` header
//! is ever sent, and a browser keeps other origins' pages from reading the answers.
//!
//! Named origins may send credentials (`fetch(..., { credentials: "include" })`); `*` allows
//! every origin without credentials, as the Fetch standard requires (a wildcard and
//! credentials together are refused by browsers). The API authenticates with a bearer token in
//! `Authorization`, which a cross-origin page sends as a request header either way: the
//! preflight allows it.

use std::time::Duration;

use axum::http::{HeaderName, HeaderValue, Method, header};
use tower_http::cors::{AllowOrigin, CorsLayer};

/// How long a browser may keep a preflight's answer.
const PREFLIGHT_MAX_AGE: Duration = Duration::from_secs(600);

/// The layer answering preflights and adding CORS headers for `origins`; `None` when there
/// are none (CORS off).
pub(crate) fn layer(origins: &[String]) -> Option<CorsLayer> {
    if origins.is_empty() {
        return None;
    }
    let layer = CorsLayer::new()
        .allow_methods([
            Method::GET,
            Method::HEAD,
            Method::POST,
            Method::PUT,
            Method::OPTIONS,
        ])
        .allow_headers([
            header::AUTHORIZATION,
            header::CONTENT_TYPE,
            header::CONTENT_ENCODING,
            header::RANGE,
            header::IF_NONE_MATCH,
            header::IF_RANGE,
            HeaderName::from_static("content-digest"),
        ])
        .expose_headers([
            header::LOCATION,
            header::ETAG,
            header::CONTENT_DISPOSITION,
            header::CONTENT_RANGE,
            header::CONTENT_LENGTH,
            header::RETRY_AFTER,
            header::WWW_AUTHENTICATE,
            HeaderName::from_static("x-ratelimit-limit"),
            HeaderName::from_static("x-ratelimit-remaining"),
            HeaderName::from_static("x-ratelimit-used"),
            HeaderName::from_static("x-ratelimit-reset"),
            HeaderName::from_static("x-ratelimit-resource"),
        ])
        .max_age(PREFLIGHT_MAX_AGE);
    if origins.iter().any(|o| o == "*") {
        return Some(layer.allow_origin(AllowOrigin::any()));
    }
    let origins: Vec<HeaderValue> = origins
        .iter()
        .filter_map(|o| HeaderValue::from_str(o).ok())
        .collect();
    Some(
        layer
            .allow_origin(AllowOrigin::list(origins))
            .allow_credentials(true),
    )
}
