//! GraphQL over HTTP as its specification says: POST with a JSON body, GET for queries only
//! (a mutation over GET is 405), and the response in the media type the client prefers of
//! `application/graphql-response+json` and `application/json`. Every error carries
//! `extensions.code`, including those async-graphql raises itself (coercion, validation,
//! limits), which are given `BAD_USER_INPUT` and the argument they concern.
//!
//! # Status codes
//!
//! The status of a response depends on how far the request got, and for a *GraphQL request
//! error* on the media type of the response: an `application/json` client may sit behind
//! proxies that answer 4xx and 5xx themselves, so it can only trust a 200 to carry a GraphQL
//! response, and gets 200 (GraphQL over HTTP, "application/json"); a client accepting
//! `application/graphql-response+json` gets 400 ("application/graphql-response+json").
//!
//! | the request | `application/json` | `application/graphql-response+json` |
//! | --- | --- | --- |
//! | body over `--max-body-bytes` | 413 `PAYLOAD_TOO_LARGE` | 413 |
//! | POST without `Content-Type: application/json` | 415 `BAD_REQUEST` | 415 |
//! | not a well-formed request: body not JSON, not an object, `query` missing or not a string, `variables` or `extensions` not a map, `operationName` not a string | 400 `BAD_REQUEST` | 400 |
//! | refused by a size bound coded `BAD_REQUEST` ([`crate::limits`]: query length, bracket or JSON nesting, number of fragments) | 400 `BAD_REQUEST` | 400 |
//! | no valid token (introspection only needs none) | 401 `UNAUTHENTICATED`, `WWW-Authenticate: Bearer` | 401 |
//! | the token store cannot be reached | 503 `INTERNAL_SERVER_ERROR` | 503 |
//! | GET with a mutation | 405 `METHOD_NOT_ALLOWED`, `Allow: POST` | 405 |
//! | document does not parse | 200 `GRAPHQL_PARSE_FAILED` | 400 |
//! | document does not validate, or breaks a bound on the parsed document (depth, fields, `__schema`) | 200 `BAD_USER_INPUT` | 400 |
//! | the operation cannot be determined, or the variables cannot be coerced | 200 `BAD_USER_INPUT` | 400 |
//! | executed, with or without field errors | 200 | 200 |
//!
//! A GraphQL request error (the three rows before the last) is answered without a `data`
//! entry: nothing was executed. The rows above them are not GraphQL request errors and keep
//! their 4xx (or 5xx) whatever the media type: the request was not well-formed, so there is no
//! GraphQL request to report on (the specification asks for 400); a size bound, like the body
//! limit, refuses a request as too big to be worth reading, most of them before anything
//! recursive reads it (a resource refusal, not a verdict on the document); authentication and
//! the method belong to HTTP, whose 401 (with its challenge) and 405 (with `Allow`) a client
//! acts on, and the specification asks for 401/403 and 405 there.
//!
//! The checks run in the table's order, except that a document is parsed and measured before
//! the token is looked at: a document that does not parse or is too big is refused as such.
//!
//! The media type: the acceptable one with the higher `q` of the two, the GraphQL one on a tie
//! only when named explicitly; `application/json` when there is no `Accept` header, for `*/*`,
//! and when neither is acceptable (the specification allows the server's choice there, and a
//! browser or a script that asks for something else still gets a readable answer).

use async_graphql::parser::types::{
    DocumentOperations, ExecutableDocument, OperationDefinition, OperationType,
};
use axum::Json;
use axum::body::{Body, Bytes};
use axum::extract::{ConnectInfo, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use std::net::SocketAddr;

use crate::rate_limit::{Client, Quota};

use super::persisted::PersistedQueries;

use super::{GRAPHQL_RESPONSE_JSON, HttpState, error_response, response_type};

/// The address a request came from, when the server runs with connect info (as
/// [`crate::startup::Application`] does).
pub(crate) type Peer = Option<axum::Extension<ConnectInfo<SocketAddr>>>;

pub(crate) async fn graphql_post(
    State(state): State<HttpState>,
    peer: Peer,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let json_type = response_type(&headers);
    let mut quota = match admit(&state, peer) {
        Ok(quota) => quota,
        Err(spent) => {
            drain(body, state.max_body_bytes).await;
            return rate_limited(&spent, json_type);
        }
    };
    let mut response = post(&state, &headers, body, json_type, &mut quota).await;
    if let Some(q) = &quota {
        rate_headers(response.headers_mut(), q);
    }
    response
}

async fn post(
    state: &HttpState,
    headers: &HeaderMap,
    body: Body,
    json_type: &'static str,
    quota: &mut Option<Quota>,
) -> Response {
    // a file upload (the GraphQL multipart request spec): `importResults`
    if is_multipart_body(headers) {
        // who sends a file is known before any of it is read
        let header = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok());
        if let Err(e) =
            crate::auth::tokens::authenticate(&state.app.db, &state.tokens, header).await
        {
            let mut res =
                error_response(StatusCode::UNAUTHORIZED, e.code(), &e.message(), json_type);
            res.headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
            return res;
        }
        let max = multipart_max(state);
        if super::declared_length(headers).is_some_and(|n| n > max) {
            return error_response(
                StatusCode::PAYLOAD_TOO_LARGE,
                "PAYLOAD_TOO_LARGE",
                &format!(
                    "the request body exceeds {max} bytes (--import-max-bytes and \
                     --artifact-max-bytes, the larger)"
                ),
                json_type,
            );
        }
        return match multipart(state, headers, body).await {
            Ok(request) => answer(state, request, Method::POST, headers, json_type, quota).await,
            Err(res) => res,
        };
    }
    // the media type first: a body of the wrong type is read past, never kept
    if !is_json_body(headers) {
        drain(body, state.max_body_bytes).await;
        return error_response(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "BAD_REQUEST",
            "POST bodies must be sent with Content-Type: application/json",
            json_type,
        );
    }
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
    if let Err(e) = crate::limits::check_json(&bytes, "the body") {
        return limit_response(&e, json_type);
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
    // async-graphql takes a missing `query` for an empty one, which is a document that does
    // not parse; without the parameter the request is not well-formed at all
    if request.query.is_empty()
        && !PersistedQueries::asked(&request)
        && serde_json::from_slice::<QueryParameter>(&bytes).is_err()
    {
        return missing_query(json_type);
    }
    answer(state, request, Method::POST, headers, json_type, quota).await
}

/// Reads past a refused request's body, up to `limit` bytes, keeping none of it: a client
/// still sending its body when the answer comes would see a broken connection instead of
/// the answer.
pub(crate) async fn drain(body: Body, limit: usize) {
    use futures::StreamExt;
    let mut stream = body.into_data_stream();
    let mut read = 0usize;
    while let Some(Ok(chunk)) = stream.next().await {
        read += chunk.len();
        if read > limit {
            break;
        }
    }
}

/// The `query` parameter of a POST body, only to tell whether it is there.
#[derive(serde::Deserialize)]
struct QueryParameter {
    #[serde(rename = "query")]
    _query: serde::de::IgnoredAny,
}

/// Whether the request says its body is JSON (`application/json`, any parameters).
fn is_json_body(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|media_type| media_type.trim().eq_ignore_ascii_case("application/json"))
}

/// Whether the request is a multipart form (a GraphQL multipart request: a file upload).
fn is_multipart_body(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|media_type| {
            media_type
                .trim()
                .eq_ignore_ascii_case("multipart/form-data")
        })
}

/// The largest multipart request: a report or an artifact, whichever may be larger.
fn multipart_max(state: &HttpState) -> u64 {
    state
        .app
        .options
        .import
        .max_bytes
        .max(state.app.options.artifacts.max_bytes)
}

/// A GraphQL multipart request: its operations, and its one file spooled to a temporary file
/// (bounded by the larger of `--import-max-bytes` and `--artifact-max-bytes`: a report or an
/// artifact; each field then checks its own bound).
async fn multipart(
    state: &HttpState,
    headers: &HeaderMap,
    body: Body,
) -> Result<async_graphql::Request, Response> {
    use futures::TryStreamExt;
    let max = multipart_max(state);
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok());
    let reader = body
        .into_data_stream()
        .map_err(std::io::Error::other)
        .into_async_read();
    let options = async_graphql::http::MultipartOptions::default()
        .max_file_size(usize::try_from(max).unwrap_or(usize::MAX))
        .max_num_files(1);
    async_graphql::http::receive_body(content_type, reader, options)
        .await
        .map_err(|e| {
            let (status, code) = match &e {
                async_graphql::ParseRequestError::PayloadTooLarge => {
                    (StatusCode::PAYLOAD_TOO_LARGE, "PAYLOAD_TOO_LARGE")
                }
                _ => (StatusCode::BAD_REQUEST, "BAD_REQUEST"),
            };
            error_response(
                status,
                code,
                &format!("the multipart request cannot be read: {e}"),
                "application/json",
            )
        })
}

/// A request without the `query` parameter: not a well-formed GraphQL-over-HTTP request.
fn missing_query(json_type: &'static str) -> Response {
    error_response(
        StatusCode::BAD_REQUEST,
        "BAD_REQUEST",
        "the request has no query parameter",
        json_type,
    )
}

/// GET without a query string is a person opening the playground; with one, a query.
pub(crate) async fn graphql_get(
    State(state): State<HttpState>,
    peer: Peer,
    headers: HeaderMap,
    uri: axum::http::Uri,
) -> Response {
    let json_type = response_type(&headers);
    let query = uri.query().unwrap_or("");
    if query.is_empty() {
        return super::pages::graphiql(&headers);
    }
    let mut quota = match admit(&state, peer) {
        Ok(quota) => quota,
        Err(spent) => return rate_limited(&spent, json_type),
    };
    let mut response = get(&state, &headers, &uri, json_type, &mut quota).await;
    if let Some(q) = &quota {
        rate_headers(response.headers_mut(), q);
    }
    response
}

async fn get(
    state: &HttpState,
    headers: &HeaderMap,
    uri: &axum::http::Uri,
    json_type: &'static str,
    quota: &mut Option<Quota>,
) -> Response {
    let query = uri.query().unwrap_or("");
    let parsed = async_graphql::http::parse_query_string(query).and_then(|request| {
        let params = axum::extract::Query::<GetParameters>::try_from_uri(uri)
            .map_err(|e| std::io::Error::other(e.body_text()))?;
        Ok((request, params.0))
    });
    let request = match parsed {
        Ok((mut request, params)) => {
            if params.query.is_none() && !PersistedQueries::asked(&request) {
                return missing_query(json_type);
            }
            if params.operation_name.is_some() {
                request.operation_name = params.operation_name;
            }
            request
        }
        Err(e) => {
            return error_response(
                StatusCode::BAD_REQUEST,
                "BAD_REQUEST",
                &format!("the query string is not a GraphQL request: {e}"),
                json_type,
            );
        }
    };
    answer(state, request, Method::GET, headers, json_type, quota).await
}

/// The parameters of a GET that async-graphql's `parse_query_string` does not read as the
/// specification names them: `operationName` (it reads `operation_name`), and whether `query`
/// is there at all (it takes a missing one for an empty one).
#[derive(serde::Deserialize)]
#[serde(rename_all = "camelCase")]
struct GetParameters {
    query: Option<String>,
    operation_name: Option<String>,
}

/// Counts a request against its client address before anything else is done for it: its
/// address's quota (the token's replaces it once authenticated), or the spent quota that
/// refuses it.
pub(crate) fn admit(state: &HttpState, peer: Peer) -> Result<Option<Quota>, Quota> {
    let Some(axum::Extension(ConnectInfo(address))) = peer else {
        return Ok(None);
    };
    state
        .app
        .rate_limiter
        .take(Client::address(address.ip()))
        .transpose()
}

async fn answer(
    state: &HttpState,
    mut request: async_graphql::Request,
    method: Method,
    headers: &HeaderMap,
    json_type: &'static str,
    quota: &mut Option<Quota>,
) -> Response {
    let keep = match state.persisted.resolve(&mut request) {
        Ok(keep) => keep,
        Err(refused) => {
            let status = refused
                .status
                .unwrap_or_else(|| request_error_status(json_type));
            return error_response(status, refused.code, &refused.message, json_type);
        }
    };
    let operation_name = request.operation_name.clone();
    if let Err(e) = crate::limits::check_request(&mut request) {
        return limit_response(&e, json_type);
    }
    let operation_type = match request.parsed_query() {
        Ok(doc) => operation_of(doc, operation_name.as_deref()),
        Err(e) => {
            return error_response(
                request_error_status(json_type),
                "GRAPHQL_PARSE_FAILED",
                &e.message,
                json_type,
            );
        }
    };
    // An operation that cannot be determined is left to the schema, which reports it as a
    // request error without running anything.
    if method == Method::GET && operation_type.is_some_and(|ty| ty != OperationType::Query) {
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
    let mut identity = None;
    if needs_identity {
        match crate::auth::tokens::authenticate(&state.app.db, &state.tokens, header).await {
            Ok(found) => {
                identity = Some(found.clone());
                request = request.data(crate::auth::extension::Authenticated(found));
                let token = crate::auth::tokens::token_id(header);
                match token.and_then(|id| state.app.rate_limiter.take(Client::Token(id))) {
                    Some(Err(spent)) => {
                        *quota = Some(spent);
                        return rate_limited(&spent, json_type);
                    }
                    Some(Ok(q)) => *quota = Some(q),
                    None => {}
                }
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
    if let Some(q) = quota {
        request = request.data(*q);
    }
    // a document sent with its hash is kept once it parsed and its sender was admitted
    if let Some(hash) = keep
        && request.parsed_query().is_ok()
    {
        state.persisted.keep(hash, &request.query);
    }
    let deadline = tokio::time::Instant::now() + state.app.options.request_timeout;
    // a query may run on a replica: what it takes to execute it again on the primary
    let again = (operation_type == Some(OperationType::Query) && !state.app.replicas.is_empty())
        .then(|| Rebuild::of(&request, identity, *quota));
    let mut response = match execute(state, request, deadline, Watch::default(), json_type).await {
        Ok(response) => response,
        Err(timed_out) => return timed_out,
    };
    if response.1.replica_failed()
        && let Some(again) = again
    {
        // the replica stopped or refused mid-request: a read is safe to do again
        metrics::counter!(crate::telemetry::READ_REPLICA_FALLBACKS, "reason" => "retried")
            .increment(1);
        let primary = Watch::new(crate::auth::context::RequestWatch::primary_only());
        response = match execute(state, again.request(), deadline, primary, json_type).await {
            Ok(response) => response,
            Err(timed_out) => return timed_out,
        };
    }
    let response = response.0;
    let request_error = response.data == async_graphql::Value::Null
        && !response.errors.is_empty()
        && response.errors.iter().all(|e| e.path.is_empty());
    let mut body = serde_json::to_value(&response).unwrap_or_else(|_| json!({}));
    // An internal failure (a transaction that did not commit) is not the client's request
    // error: it keeps its `data: null` and its 200.
    let status = if request_error && !has_code(&body, "INTERNAL_SERVER_ERROR") {
        if let Some(fields) = body.as_object_mut() {
            fields.remove("data");
        }
        request_error_status(json_type)
    } else {
        StatusCode::OK
    };
    let mut res = (status, Json(body)).into_response();
    res.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(json_type));
    res
}

/// The watch of one execution of a request.
type Watch = std::sync::Arc<crate::auth::context::RequestWatch>;

/// A query as it can be executed again (on the primary, after its replica failed it): the
/// request as sent, with what the server added to it (the identity, the quota).
struct Rebuild(Box<dyn FnOnce() -> async_graphql::Request + Send>);

impl Rebuild {
    fn of(
        request: &async_graphql::Request,
        identity: Option<crate::auth::Identity>,
        quota: Option<Quota>,
    ) -> Self {
        let query = request.query.clone();
        let operation_name = request.operation_name.clone();
        let variables = request.variables.clone();
        let extensions = request.extensions.clone();
        Self(Box::new(move || {
            let mut request = async_graphql::Request::new(query).variables(variables);
            request.operation_name = operation_name;
            request.extensions = extensions;
            if let Some(identity) = identity {
                request = request.data(crate::auth::extension::Authenticated(identity));
            }
            if let Some(quota) = quota {
                request = request.data(quota);
            }
            request
        }))
    }

    fn request(self) -> async_graphql::Request {
        (self.0)()
    }
}

/// Executes `request`, reporting to `watch`, until `deadline`: its response and watch, or
/// past the deadline the 504 that answers it (its statement cancelled where it runs).
async fn execute(
    state: &HttpState,
    request: async_graphql::Request,
    deadline: tokio::time::Instant,
    watch: Watch,
    json_type: &'static str,
) -> Result<(async_graphql::Response, Watch), Response> {
    let request = request.data(watch.clone());
    let execution = state.schema.execute(request);
    tokio::pin!(execution);
    tokio::select! {
        response = &mut execution => Ok((response, watch)),
        _ = tokio::time::sleep_until(deadline) => {
            if watch.committing() {
                // what the request did is being committed: its answer must say so
                Ok((execution.await, watch))
            } else {
                // the statement under way stops too, and its connection comes back to the
                // pool: on the replica it runs on, if it runs on one
                if let Some(backend) = watch.backend() {
                    let pool = watch
                        .replica()
                        .map_or_else(|| state.app.db.clone(), |replica| replica.pool);
                    cancel_backend(&pool, backend).await;
                }
                let timeout = state.app.options.request_timeout;
                Err(error_response(
                    StatusCode::GATEWAY_TIMEOUT,
                    "TIMEOUT",
                    &format!(
                        "the request took longer than {} ms and was stopped",
                        timeout.as_millis()
                    ),
                    json_type,
                ))
            }
        }
    }
}

/// Cancels the statement backend `pid` runs (a request's, stopped by its timeout).
async fn cancel_backend(pool: &sea_orm::DatabaseConnection, pid: i32) {
    use sea_orm::ConnectionTrait;
    let cancelled = pool
        .execute_raw(sea_orm::Statement::from_sql_and_values(
            sea_orm::DbBackend::Postgres,
            "SELECT pg_cancel_backend($1)",
            [pid.into()],
        ))
        .await;
    if let Err(e) = cancelled {
        tracing::warn!(error = %e, pid, "cancelling a timed-out request's statement failed");
    }
}

/// A request whose client spent its quota: 429 with `retry-after`.
pub(crate) fn rate_limited(spent: &Quota, json_type: &'static str) -> Response {
    let mut res = error_response(
        StatusCode::TOO_MANY_REQUESTS,
        "RATE_LIMITED",
        &format!(
            "rate limit exceeded: {} requests per window for this {}; the window resets at {} (seconds since the epoch)",
            spent.limit, spent.resource, spent.reset
        ),
        json_type,
    );
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs();
    if let Ok(v) = HeaderValue::from_str(&spent.reset.saturating_sub(now).to_string()) {
        res.headers_mut().insert(header::RETRY_AFTER, v);
    }
    rate_headers(res.headers_mut(), spent);
    res
}

/// GitHub's rate-limit headers.
pub(crate) fn rate_headers(headers: &mut HeaderMap, q: &Quota) {
    for (name, value) in [
        ("x-ratelimit-limit", q.limit.to_string()),
        ("x-ratelimit-remaining", q.remaining.to_string()),
        ("x-ratelimit-used", q.used.to_string()),
        ("x-ratelimit-reset", q.reset.to_string()),
        ("x-ratelimit-resource", q.resource.to_owned()),
    ] {
        if let Ok(v) = HeaderValue::from_str(&value) {
            headers.insert(name, v);
        }
    }
}

/// The status of a GraphQL request error (a document that does not parse or validate, an
/// operation that cannot be determined, variables that cannot be coerced): 200 in
/// `application/json`, which a client trusts only with a 200; 400 in
/// `application/graphql-response+json`, whose status a client can trust.
fn request_error_status(json_type: &str) -> StatusCode {
    if json_type == GRAPHQL_RESPONSE_JSON {
        StatusCode::BAD_REQUEST
    } else {
        StatusCode::OK
    }
}

/// A request refused by a bound of [`crate::limits`], with the bound's code: a size bound
/// (`BAD_REQUEST`) refuses it as too big to read, 400 like the body limit's 413; a document
/// that does not parse, or is too deep or too wide (validation rules of this server), is a
/// GraphQL request error.
fn limit_response(e: &crate::limits::LimitError, json_type: &'static str) -> Response {
    use crate::limits::LimitError;
    let status = match e {
        LimitError::QueryTooLong { .. }
        | LimitError::TooDeeplyNested { .. }
        | LimitError::TooManyFragments { .. }
        | LimitError::VariableTooLarge { .. } => StatusCode::BAD_REQUEST,
        LimitError::Syntax { .. }
        | LimitError::TooDeep { .. }
        | LimitError::TooManyFields { .. }
        | LimitError::TooMuchIntrospection { .. } => request_error_status(json_type),
    };
    error_response(status, e.code(), &e.message(), json_type)
}

/// Whether the operation only asks for the schema (`__schema`, `__type`, `__typename`), which
/// is public: GraphiQL loads it before the user has pasted a token.
fn introspection_only(doc: &ExecutableDocument, name: Option<&str>) -> bool {
    use async_graphql::parser::types::Selection;
    selected_operation(doc, name).is_some_and(|op| {
        op.ty == OperationType::Query
            && op
                .selection_set
                .node
                .items
                .iter()
                .all(|item| match &item.node {
                    Selection::Field(f) => f.node.name.node.starts_with("__"),
                    _ => false,
                })
    })
}

/// The type of the operation the request will run, if it names one that exists.
fn operation_of(doc: &ExecutableDocument, name: Option<&str>) -> Option<OperationType> {
    selected_operation(doc, name).map(|op| op.ty)
}

/// The operation the request will run, selected as async-graphql (GraphQL's GetOperation())
/// selects it: the one named, or the only one (named or not) when none is. `None` when it
/// cannot be determined, and the schema then runs nothing.
fn selected_operation<'a>(
    doc: &'a ExecutableDocument,
    name: Option<&str>,
) -> Option<&'a OperationDefinition> {
    match (&doc.operations, name) {
        (DocumentOperations::Single(op), None) => Some(&op.node),
        (DocumentOperations::Single(_), Some(_)) => None,
        (DocumentOperations::Multiple(ops), Some(name)) => ops.get(name).map(|op| &op.node),
        (DocumentOperations::Multiple(ops), None) if ops.len() == 1 => {
            ops.values().next().map(|op| &op.node)
        }
        _ => None,
    }
}

fn has_code(body: &Value, code: &str) -> bool {
    body["errors"]
        .as_array()
        .is_some_and(|errors| errors.iter().any(|e| e["extensions"]["code"] == code))
}
