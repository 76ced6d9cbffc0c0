//! Logging (`tracing` to standard error, filtered by `RUST_LOG`) and metrics (the `metrics`
//! facade, rendered in Prometheus' text format at `/metrics`).
//!
//! Every metric of the service is named here, so that what `/metrics` shows is listed in one
//! place; the code that counts uses the `metrics` macros with these names.

use std::collections::HashSet;
use std::sync::{Mutex, OnceLock};

use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use tracing_subscriber::EnvFilter;

/// Filter used when `RUST_LOG` is not set: the service at info, chatty libraries at warn.
pub const DEFAULT_FILTER: &str =
    "info,sqlx=warn,sea_orm=warn,sea_orm_migration=warn,tower_http=warn";

/// Installs the global subscriber. Safe to call more than once (later calls do nothing).
pub fn init() {
    let filter =
        EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(DEFAULT_FILTER));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .try_init();
}

/// HTTP requests answered, by route (its pattern), method and status.
pub const HTTP_REQUESTS: &str = "jbts_http_requests_total";
/// Time to answer an HTTP request (to its response head), by route and method, in seconds.
pub const HTTP_DURATION: &str = "jbts_http_request_duration_seconds";
/// Coded errors answered by the HTTP layer before or beside GraphQL (authentication, rate
/// limits, bodies, imports, artifacts), by code.
pub const HTTP_ERRORS: &str = "jbts_http_errors_total";
/// GraphQL operations executed (HTTP and WebSocket; a subscription at its first message), by
/// operation name (`unauthenticated` without a token), type and outcome (`ok`,
/// `field_errors`, `request_error`).
pub const GRAPHQL_OPERATIONS: &str = "jbts_graphql_operations_total";
/// Time to execute a GraphQL query or mutation, in seconds.
pub const GRAPHQL_DURATION: &str = "jbts_graphql_operation_duration_seconds";
/// Errors in GraphQL responses, by `extensions.code`.
pub const GRAPHQL_ERRORS: &str = "jbts_graphql_errors_total";
/// WebSockets open now.
pub const WS_OPEN: &str = "jbts_websockets_open";
/// WebSocket messages sent to clients (`next`, `error`, `complete`, ...).
pub const WS_MESSAGES: &str = "jbts_websocket_messages_sent_total";
/// Subscriptions (streams following the live hub) open now.
pub const SUBSCRIPTIONS_OPEN: &str = "jbts_subscriptions_open";
/// Notifications received from PostgreSQL (LISTEN), before coalescing.
pub const LIVE_NOTIFICATIONS: &str = "jbts_live_notifications_total";
/// Events the live hub sent to its subscriptions (one per run and coalescing window).
pub const LIVE_EVENTS: &str = "jbts_live_events_total";
/// Subscriptions woken by live events: each event wakes the followers of its run's topics
/// only, so this grows with the subscribers an event concerns, not with all of them.
pub const LIVE_WAKEUPS: &str = "jbts_live_wakeups_total";
/// Shared subscription streams running now: one per distinct document, variables and
/// visibility, however many clients follow it.
pub const LIVE_STREAMS_OPEN: &str = "jbts_live_streams_open";
/// Messages a shared subscription stream produced (each serialised once, whatever the number
/// of clients it went to).
pub const LIVE_STREAM_MESSAGES: &str = "jbts_live_stream_messages_total";
/// Resynchronisations: every subscription re-reads, after a listener reconnect
/// (`reason="reconnect"`) or a subscription that fell behind (`reason="lagged"`).
pub const LIVE_RESYNCS: &str = "jbts_live_resyncs_total";
/// Reconnections of the LISTEN connection after it dropped.
pub const LIVE_RECONNECTS: &str = "jbts_live_listener_reconnects_total";
/// Whether the LISTEN connection is up (1) or not (0).
pub const LIVE_CONNECTED: &str = "jbts_live_listener_connected";
/// Database connections of the pool in use, and idle.
pub const POOL_IN_USE: &str = "jbts_db_pool_connections_in_use";
/// Idle database connections of the pool.
pub const POOL_IDLE: &str = "jbts_db_pool_connections_idle";
/// Report imports ended, by outcome (`ok`, or the refusal's code).
pub const IMPORTS: &str = "jbts_imports_total";
/// Results of imports, by what became of them (`accepted`, `duplicate`, `rejected`).
pub const IMPORT_RESULTS: &str = "jbts_import_results_total";
/// Artifacts whose uploaded bytes were placed in the store (uploads, and files of imported
/// bundles), counted when placed: a transaction that then fails leaves them to the
/// collector. Refused uploads are counted by their codes in the error counts.
pub const ARTIFACT_UPLOADS: &str = "jbts_artifact_uploads_total";
/// Bytes of the artifacts stored by uploads.
pub const ARTIFACT_UPLOAD_BYTES: &str = "jbts_artifact_upload_bytes_total";
/// Blobs the collector deleted.
pub const ARTIFACT_BLOBS_COLLECTED: &str = "jbts_artifact_blobs_collected_total";
/// Webhook delivery attempts ended, by outcome (`delivered`, `retrying`, `failed`).
pub const WEBHOOK_DELIVERIES: &str = "jbts_webhook_deliveries_total";
/// Time a webhook's receiver took to answer an attempt (or to fail it).
pub const WEBHOOK_ATTEMPT_DURATION: &str = "jbts_webhook_attempt_duration_seconds";

/// Whether a read replica answers its monitor (1) or not (0), by replica (`host:port/db`).
pub const READ_REPLICA_UP: &str = "jbts_read_replica_up";
/// A read replica's replay lag when its monitor last asked, in seconds, by replica.
pub const READ_REPLICA_LAG: &str = "jbts_read_replica_lag_seconds";
/// A read replica's state (1 for the one it is in: `ok`, `lagging`, `down`), by replica.
pub const READ_REPLICA_STATE: &str = "jbts_read_replica_state";
/// Request transactions that only read, by where they ran (`target="replica"` or
/// `"primary"`).
pub const DB_READS: &str = "jbts_db_reads_total";
/// Reads that could have gone to a replica and went to the primary, by why (`none`: no
/// replica OK and within the lag bound; `begin_failed`: beginning on the replica failed;
/// `retried`: the replica failed mid-request and the request was executed again on the
/// primary; `refreshed`: the request wrote a refresh first; `behind`: no replica had caught
/// up with the primary in time).
pub const READ_REPLICA_FALLBACKS: &str = "jbts_read_replica_fallbacks_total";

/// Latency buckets of the histograms, in seconds: from a cached read to a long import.
const BUCKETS: &[f64] = &[
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
];

static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();

/// The process's metrics, installing their recorder on first use. A process has one
/// recorder: servers started in the same process (as tests do) share their figures.
pub fn metrics() -> &'static PrometheusHandle {
    HANDLE.get_or_init(|| {
        let builder = PrometheusBuilder::new()
            .set_buckets(BUCKETS)
            .expect("the buckets are not empty");
        let recorder = builder.build_recorder();
        let handle = recorder.handle();
        if metrics::set_global_recorder(recorder).is_err() {
            tracing::warn!("another metrics recorder is installed; /metrics shows nothing");
        }
        describe();
        handle
    })
}

/// Most distinct operation names counted apart; later ones are counted as `other`, so that
/// clients choosing names cannot grow the metrics without bound.
const OPERATION_NAMES: usize = 200;

/// Longest operation name counted under its own name.
const OPERATION_NAME_MAX: usize = 64;

/// The label an operation is counted under: its name while the set of names is small,
/// `anonymous` without one, `other` past the bound.
pub fn operation_label(name: Option<&str>) -> String {
    static SEEN: OnceLock<Mutex<HashSet<String>>> = OnceLock::new();
    let Some(name) = name.filter(|n| !n.is_empty()) else {
        return "anonymous".to_owned();
    };
    if name.len() > OPERATION_NAME_MAX {
        return "other".to_owned();
    }
    let mut seen = SEEN
        .get_or_init(Default::default)
        .lock()
        .unwrap_or_else(|p| p.into_inner());
    if seen.contains(name) {
        return name.to_owned();
    }
    if seen.len() < OPERATION_NAMES {
        seen.insert(name.to_owned());
        return name.to_owned();
    }
    "other".to_owned()
}

/// Counts GraphQL operations, their time and their errors' codes, for every transport. Added
/// before [`crate::codes::ErrorCodes`], it sees the codes that extension gives.
pub struct GraphqlMetrics;

impl async_graphql::extensions::ExtensionFactory for GraphqlMetrics {
    fn create(&self) -> std::sync::Arc<dyn async_graphql::extensions::Extension> {
        std::sync::Arc::new(OperationMetrics::default())
    }
}

/// What one request's operation is, once known.
#[derive(Default)]
struct OperationMetrics {
    operation: Operation,
}

/// What is known of an operation: its name (as the request gives it, then as the document
/// defines it), its type and whether its caller has a token, once the document parsed.
type Operation = std::sync::Arc<Mutex<Known>>;

#[derive(Default)]
struct Known {
    name: Option<String>,
    kind: Option<&'static str>,
    authenticated: bool,
}

/// Counts an operation that answered `response`, under its name when its caller has a token
/// (a caller without one, who may only introspect, cannot fill the bounded set of names);
/// `started`: when it started, for its latency (none for subscriptions, whose first answer
/// may wait for a change as long as it takes).
fn count_operation(
    operation: &Operation,
    response: &async_graphql::Response,
    started: Option<std::time::Instant>,
) {
    let (name, kind) = {
        let operation = operation.lock().unwrap_or_else(|p| p.into_inner());
        let name = if operation.authenticated {
            operation_label(operation.name.as_deref())
        } else {
            "unauthenticated".to_owned()
        };
        (name, operation.kind.unwrap_or("unknown"))
    };
    let outcome = if response.errors.is_empty() {
        "ok"
    } else if response.data == async_graphql::Value::Null
        && response.errors.iter().all(|e| e.path.is_empty())
    {
        "request_error"
    } else {
        "field_errors"
    };
    metrics::counter!(GRAPHQL_OPERATIONS, "operation" => name.clone(), "type" => kind, "outcome" => outcome)
        .increment(1);
    if let Some(started) = started {
        metrics::histogram!(GRAPHQL_DURATION, "operation" => name, "type" => kind)
            .record(started.elapsed().as_secs_f64());
    }
    count_errors(response);
}

/// Counts a response's errors by their codes.
fn count_errors(response: &async_graphql::Response) {
    for error in &response.errors {
        let code = error
            .extensions
            .as_ref()
            .and_then(|e| e.get("code"))
            .and_then(|c| match c {
                async_graphql::Value::String(s) => Some(s.clone()),
                async_graphql::Value::Enum(s) => Some(s.to_string()),
                _ => None,
            })
            .unwrap_or_else(|| "UNCODED".to_owned());
        metrics::counter!(GRAPHQL_ERRORS, "code" => code).increment(1);
    }
}

#[async_graphql::async_trait::async_trait]
impl async_graphql::extensions::Extension for OperationMetrics {
    async fn prepare_request(
        &self,
        ctx: &async_graphql::extensions::ExtensionContext<'_>,
        request: async_graphql::Request,
        next: async_graphql::extensions::NextPrepareRequest<'_>,
    ) -> async_graphql::ServerResult<async_graphql::Request> {
        self.operation
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .name
            .clone_from(&request.operation_name);
        next.run(ctx, request).await
    }

    async fn parse_query(
        &self,
        ctx: &async_graphql::extensions::ExtensionContext<'_>,
        query: &str,
        variables: &async_graphql::Variables,
        next: async_graphql::extensions::NextParseQuery<'_>,
    ) -> async_graphql::ServerResult<async_graphql::parser::types::ExecutableDocument> {
        use async_graphql::parser::types::{DocumentOperations, OperationType};
        let document = next.run(ctx, query, variables).await?;
        let mut operation = self.operation.lock().unwrap_or_else(|p| p.into_inner());
        // (the request's data is known from here on, a socket's from its connection_init)
        operation.authenticated = ctx
            .data_opt::<crate::auth::extension::Authenticated>()
            .is_some();
        let ty = match (&document.operations, operation.name.as_deref()) {
            (DocumentOperations::Single(op), _) => Some(op.node.ty),
            (DocumentOperations::Multiple(ops), Some(name)) => ops.get(name).map(|op| op.node.ty),
            (DocumentOperations::Multiple(ops), None) => ops
                .values()
                .next()
                .filter(|_| ops.len() == 1)
                .map(|op| op.node.ty),
        };
        // the name counted is one the document defines (not any name a request gives)
        operation.name = match (&document.operations, ty) {
            (DocumentOperations::Multiple(ops), Some(_)) => match operation.name.as_deref() {
                Some(name) if ops.contains_key(name) => Some(name.to_owned()),
                _ if ops.len() == 1 => ops.keys().next().map(|k| k.to_string()),
                _ => None,
            },
            _ => None,
        };
        operation.kind = ty.map(|ty| match ty {
            OperationType::Query => "query",
            OperationType::Mutation => "mutation",
            OperationType::Subscription => "subscription",
        });
        Ok(document)
    }

    async fn request(
        &self,
        ctx: &async_graphql::extensions::ExtensionContext<'_>,
        next: async_graphql::extensions::NextRequest<'_>,
    ) -> async_graphql::Response {
        let started = std::time::Instant::now();
        let response = next.run(ctx).await;
        count_operation(&self.operation, &response, Some(started));
        response
    }

    fn subscribe<'s>(
        &self,
        ctx: &async_graphql::extensions::ExtensionContext<'_>,
        stream: futures::stream::BoxStream<'s, async_graphql::Response>,
        next: async_graphql::extensions::NextSubscribe<'_>,
    ) -> futures::stream::BoxStream<'s, async_graphql::Response> {
        use futures::StreamExt;
        // the document parses as the stream starts: the first message is counted as the
        // operation, with its type and name known by then
        let operation = self.operation.clone();
        let mut first = true;
        let counted = stream.map(move |response| {
            if std::mem::take(&mut first) {
                count_operation(&operation, &response, None);
            } else {
                count_errors(&response);
            }
            response
        });
        next.run(ctx, Box::pin(counted))
    }
}

/// The `# HELP` lines of the metrics.
fn describe() {
    use metrics::{Unit, describe_counter, describe_gauge, describe_histogram};
    describe_counter!(
        HTTP_REQUESTS,
        "HTTP requests answered, by route, method and status"
    );
    describe_histogram!(
        HTTP_DURATION,
        Unit::Seconds,
        "Time to answer an HTTP request, by route and method"
    );
    describe_counter!(
        HTTP_ERRORS,
        "Coded errors answered by the HTTP layer, by code"
    );
    describe_counter!(
        GRAPHQL_OPERATIONS,
        "GraphQL operations executed, by operation name, type and outcome"
    );
    describe_histogram!(
        GRAPHQL_DURATION,
        Unit::Seconds,
        "Time to execute a GraphQL query or mutation"
    );
    describe_counter!(GRAPHQL_ERRORS, "Errors in GraphQL responses, by code");
    describe_gauge!(WS_OPEN, "WebSockets open now");
    describe_counter!(WS_MESSAGES, "WebSocket messages sent to clients");
    describe_gauge!(
        SUBSCRIPTIONS_OPEN,
        "Subscriptions following the live hub now"
    );
    describe_counter!(LIVE_NOTIFICATIONS, "Notifications received from PostgreSQL");
    describe_counter!(LIVE_EVENTS, "Events the live hub sent to its subscriptions");
    describe_counter!(
        LIVE_WAKEUPS,
        "Subscription streams woken by live events (only those of the event's run)"
    );
    describe_gauge!(
        LIVE_STREAMS_OPEN,
        "Shared subscription streams now: one per document, variables and visibility"
    );
    describe_counter!(
        LIVE_STREAM_MESSAGES,
        "Messages shared subscription streams produced, each serialised once"
    );
    describe_counter!(
        LIVE_RESYNCS,
        "Resynchronisations of every subscription, by reason (reconnect, lagged)"
    );
    describe_counter!(LIVE_RECONNECTS, "Reconnections of the LISTEN connection");
    describe_gauge!(
        LIVE_CONNECTED,
        "Whether the LISTEN connection is up (1) or not (0)"
    );
    describe_gauge!(
        READ_REPLICA_UP,
        "Whether a read replica answers its monitor (1) or not (0)"
    );
    describe_gauge!(
        READ_REPLICA_LAG,
        Unit::Seconds,
        "A read replica's replay lag when last asked"
    );
    describe_gauge!(
        READ_REPLICA_STATE,
        "A read replica's state (1 for its state: ok, lagging, down)"
    );
    describe_counter!(
        DB_READS,
        "Request transactions that only read, by where they ran (replica, primary)"
    );
    describe_counter!(
        READ_REPLICA_FALLBACKS,
        "Reads that could have gone to a replica and went to the primary, by why"
    );
    describe_gauge!(POOL_IN_USE, "Database connections of the pool in use");
    describe_gauge!(POOL_IDLE, "Idle database connections of the pool");
    describe_counter!(IMPORTS, "Report imports ended, by outcome");
    describe_counter!(IMPORT_RESULTS, "Results of imports, by what became of them");
    describe_counter!(
        ARTIFACT_UPLOADS,
        "Artifacts whose uploaded bytes were stored"
    );
    describe_counter!(
        ARTIFACT_UPLOAD_BYTES,
        Unit::Bytes,
        "Bytes of the artifacts stored by uploads"
    );
    describe_counter!(ARTIFACT_BLOBS_COLLECTED, "Blobs the collector deleted");
    describe_counter!(
        WEBHOOK_DELIVERIES,
        "Webhook delivery attempts ended, by outcome (delivered, retrying, failed)"
    );
    describe_histogram!(
        WEBHOOK_ATTEMPT_DURATION,
        Unit::Seconds,
        "Time a webhook's receiver took to answer an attempt"
    );
}
