//! Command line and environment: what to run, where the data lives, where to listen.

use std::net::SocketAddr;
use std::num::NonZeroUsize;
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};
use entity::enums::ArtifactType;

/// Default listen address: loopback only, so a first start exposes nothing to the network.
pub const DEFAULT_LISTEN: &str = "127.0.0.1:8000";

/// Default data directory of the managed cluster, relative to the working directory.
pub const DEFAULT_DATA_DIR: &str = ".jbtestsuite";

/// JBTestSuite: a GraphQL service for managing and running automated tests.
#[derive(Debug, Parser)]
#[command(name = "jbtestsuite", version, about)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,

    #[command(flatten)]
    pub database: DatabaseArgs,

    /// Address to serve HTTP on.
    #[arg(long, env = "JBTS_LISTEN", default_value = DEFAULT_LISTEN, global = true)]
    pub listen: SocketAddr,

    /// Largest request body accepted, in bytes (bulk result reports are the largest).
    #[arg(long, env = "JBTS_MAX_BODY_BYTES", default_value_t = MAX_BODY_BYTES, global = true)]
    pub max_body_bytes: usize,

    /// Most subscriptions open at once on one WebSocket; more are refused with
    /// TOO_MANY_SUBSCRIPTIONS.
    #[arg(long, env = "JBTS_MAX_SUBSCRIPTIONS_PER_SOCKET", default_value_t = nonzero(DEFAULT_MAX_SUBSCRIPTIONS_PER_SOCKET), global = true)]
    pub max_subscriptions_per_socket: NonZeroUsize,

    /// Most WebSockets open at once with one token, in this process; more are closed at
    /// connection_init with 4429 TOO_MANY_CONNECTIONS.
    #[arg(long, env = "JBTS_MAX_SOCKETS_PER_TOKEN", default_value_t = nonzero(DEFAULT_MAX_SOCKETS_PER_TOKEN), global = true)]
    pub max_sockets_per_token: NonZeroUsize,

    /// Most WebSockets open at once from one client address, in this process; more are
    /// refused with HTTP 429 TOO_MANY_CONNECTIONS. Behind a reverse proxy, every client has
    /// the proxy's address.
    #[arg(long, env = "JBTS_MAX_SOCKETS_PER_ADDRESS", default_value_t = nonzero(DEFAULT_MAX_SOCKETS_PER_ADDRESS), global = true)]
    pub max_sockets_per_address: NonZeroUsize,

    /// Do not apply pending migrations at start.
    #[arg(long, global = true)]
    pub no_migrate: bool,

    /// Longest a GraphQL request over HTTP may take before it is answered 504 (e.g. `30s`).
    #[arg(long, env = "JBTS_REQUEST_TIMEOUT", value_parser = humantime::parse_duration,
          default_value = "30s", global = true)]
    pub request_timeout: std::time::Duration,

    /// Longest statement a request or subscription may run before PostgreSQL cancels it.
    #[arg(long, env = "JBTS_STATEMENT_TIMEOUT", value_parser = humantime::parse_duration,
          default_value = "15s", global = true)]
    pub statement_timeout: std::time::Duration,

    /// Longest statement of maintenance (archive, restore, refreshes, VACUUM) and of the
    /// server's own bookkeeping.
    #[arg(long, env = "JBTS_MAINTENANCE_STATEMENT_TIMEOUT", value_parser = humantime::parse_duration,
          default_value = "1h", global = true)]
    pub maintenance_statement_timeout: std::time::Duration,

    /// Requests a token may make per rate-limit window (0: no limit).
    #[arg(long, env = "JBTS_RATE_LIMIT_PER_TOKEN", default_value_t = crate::rate_limit::DEFAULT_PER_TOKEN, global = true)]
    pub rate_limit_per_token: u32,

    /// Requests a client address may make per rate-limit window (0: no limit).
    #[arg(long, env = "JBTS_RATE_LIMIT_PER_ADDRESS", default_value_t = crate::rate_limit::DEFAULT_PER_ADDRESS, global = true)]
    pub rate_limit_per_address: u32,

    /// Length of a rate-limit window (e.g. `1m`).
    #[arg(long, env = "JBTS_RATE_LIMIT_WINDOW", value_parser = humantime::parse_duration,
          default_value = "1m", global = true)]
    pub rate_limit_window: std::time::Duration,

    /// Largest report `POST /api/v1/import` takes, compressed and uncompressed.
    #[arg(long, env = "JBTS_IMPORT_MAX_BYTES", default_value_t = DEFAULT_MAX_IMPORT_BYTES, global = true)]
    pub import_max_bytes: u64,

    /// Longest an import may take (e.g. `10m`).
    #[arg(long, env = "JBTS_IMPORT_TIMEOUT", value_parser = humantime::parse_duration,
          default_value = "10m", global = true)]
    pub import_timeout: std::time::Duration,

    /// Imports running at once in this server process; more are answered 429 (retry).
    #[arg(long, env = "JBTS_MAX_CONCURRENT_IMPORTS", default_value_t = DEFAULT_CONCURRENT_IMPORTS, global = true)]
    pub max_concurrent_imports: usize,

    /// A run nothing was written into for this long ends ABORTED (e.g. `6h`; `0` never).
    #[arg(long, env = "JBTS_RUN_INACTIVITY_TIMEOUT", value_parser = humantime::parse_duration,
          default_value = "6h", global = true)]
    pub run_inactivity_timeout: std::time::Duration,

    /// Where artifacts' bytes are stored: `file:///absolute/dir`, or `s3://bucket/prefix`
    /// with the usual AWS_* environment variables (AWS_ENDPOINT_URL and AWS_ALLOW_HTTP=true
    /// for an S3-compatible server of one's own). Default: `file://<data-dir>/artifacts`.
    #[arg(long, env = "JBTS_ARTIFACT_STORE", global = true)]
    pub artifact_store: Option<String>,

    /// Largest artifact one upload may store (e.g. `1GiB`).
    #[arg(long, env = "JBTS_ARTIFACT_MAX_BYTES", value_parser = parse_bytes,
          default_value = "1GiB", global = true)]
    pub artifact_max_bytes: u64,

    /// Largest artifact of a type, as `TYPE=SIZE` (e.g. `screenshot=20MiB`; repeat, or
    /// comma-separated in the variable). Types without one take `--artifact-max-bytes`.
    #[arg(long = "artifact-type-max-bytes", env = "JBTS_ARTIFACT_TYPE_MAX_BYTES",
          value_parser = parse_type_limit, value_delimiter = ',', global = true)]
    pub artifact_type_max_bytes: Vec<(ArtifactType, u64)>,

    /// How long an artifact's signed download URL (`downloadUrl`) stays valid.
    #[arg(long, env = "JBTS_ARTIFACT_URL_TTL", value_parser = humantime::parse_duration,
          default_value = "15m", global = true)]
    pub artifact_url_ttl: std::time::Duration,

    /// A web origin whose pages may call the API from a browser (CORS), such as
    /// `http://localhost:3000`; repeat for more (comma-separated in the variable). `*`: any
    /// origin, without credentials. None by default: only the server's own pages.
    #[arg(long = "cors-origin", env = "JBTS_CORS_ORIGINS", value_parser = parse_origin,
          value_delimiter = ',', global = true)]
    pub cors_origins: Vec<String>,

    /// Documents kept for automatic persisted queries (clients send a document's SHA-256
    /// instead of the document); the least recently used go first. 0: off.
    #[arg(long, env = "JBTS_PERSISTED_QUERIES", default_value_t = DEFAULT_PERSISTED_QUERIES, global = true)]
    pub persisted_queries: usize,

    /// URL of a read replica (a streaming standby of the database): queries read from it
    /// while it is within --read-replica-max-lag; repeat for several (comma-separated in the
    /// variable). Mutations and live notifications always use the primary.
    #[arg(
        long = "read-database-url",
        env = "JBTS_READ_DATABASE_URLS",
        value_delimiter = ',',
        hide_env_values = true,
        global = true
    )]
    pub read_database_urls: Vec<String>,

    /// Replay lag past which a read replica is skipped and its reads go to the primary: the
    /// most a query may be behind the latest writes (e.g. `5s`).
    #[arg(long, env = "JBTS_READ_REPLICA_MAX_LAG", value_parser = humantime::parse_duration,
          default_value = "5s", global = true)]
    pub read_replica_max_lag: std::time::Duration,

    /// Delay before the second attempt of a webhook delivery that failed (e.g. `5s`); each
    /// further retry waits twice as long, with jitter, up to an hour.
    #[arg(long, env = "JBTS_WEBHOOK_RETRY_BASE", value_parser = humantime::parse_duration,
          default_value = "5s", global = true)]
    pub webhook_retry_base: std::time::Duration,
}

/// A web origin as browsers send it (`scheme://host[:port]`, no path), or `*`.
pub fn parse_origin(s: &str) -> Result<String, String> {
    let s = s.trim();
    if s == "*" {
        return Ok(s.to_owned());
    }
    let refused = |why: &str| {
        format!(
            "'{s}' is not a web origin (such as http://localhost:3000 or https://app.example.com): {why}"
        )
    };
    let origin = s.strip_suffix('/').unwrap_or(s);
    let uri: axum::http::Uri = origin.parse().map_err(|e| refused(&format!("{e}")))?;
    if !matches!(uri.scheme_str(), Some("http" | "https")) {
        return Err(refused("the scheme is not http or https"));
    }
    match uri.authority() {
        None => return Err(refused("it has no host")),
        Some(a) if a.as_str().contains('@') => return Err(refused("it names a user")),
        Some(_) => {}
    }
    if uri
        .path_and_query()
        .is_some_and(|p| p.as_str() != "/" && !p.as_str().is_empty())
    {
        return Err(refused("an origin has no path or query"));
    }
    // browsers leave a scheme's default port out of the origin they send
    let origin = origin.to_ascii_lowercase();
    let origin = match (uri.scheme_str(), uri.port_u16()) {
        (Some("http"), Some(80)) => origin.trim_end_matches(":80").to_owned(),
        (Some("https"), Some(443)) => origin.trim_end_matches(":443").to_owned(),
        _ => origin,
    };
    Ok(origin)
}

/// Default of `--persisted-queries`: the documents of a few front ends, a few KB each.
pub const DEFAULT_PERSISTED_QUERIES: usize = 1_000;

/// A size such as `1048576`, `20MiB` or `1GB`.
pub fn parse_bytes(s: &str) -> Result<u64, String> {
    s.trim()
        .parse::<bytesize::ByteSize>()
        .map(|b| b.as_u64())
        .map_err(|e| format!("'{s}' is not a size (such as 20MiB or 1048576): {e}"))
}

/// A `TYPE=SIZE` limit of `--artifact-type-max-bytes`.
fn parse_type_limit(s: &str) -> Result<(ArtifactType, u64), String> {
    let (kind, size) = s
        .split_once('=')
        .ok_or_else(|| format!("'{s}' is not TYPE=SIZE (such as screenshot=20MiB)"))?;
    let kind = artifact_type_named(kind.trim()).ok_or_else(|| {
        format!(
            "'{kind}' is not an artifact type: the types are {}",
            ARTIFACT_TYPES.map(|(name, _)| name).join(", ")
        )
    })?;
    Ok((kind, parse_bytes(size)?))
}

/// The artifact types by their names (as in the database and in URLs).
pub const ARTIFACT_TYPES: [(&str, ArtifactType); 7] = [
    ("screenshot", ArtifactType::Screenshot),
    ("video", ArtifactType::Video),
    ("log", ArtifactType::Log),
    ("trace", ArtifactType::Trace),
    ("har", ArtifactType::Har),
    ("report", ArtifactType::Report),
    ("other", ArtifactType::Other),
];

/// The artifact type named `name` (lowercase or as GraphQL spells it).
pub fn artifact_type_named(name: &str) -> Option<ArtifactType> {
    ARTIFACT_TYPES
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case(name))
        .map(|(_, t)| *t)
}

impl Cli {
    /// The serving options these arguments give.
    pub fn server_options(&self) -> ServerOptions {
        ServerOptions {
            max_body_bytes: self.max_body_bytes,
            request_timeout: self.request_timeout,
            statements: StatementLimits {
                statement_timeout: self.statement_timeout,
            },
            rate_limits: crate::rate_limit::RateLimits {
                per_token: self.rate_limit_per_token,
                per_address: self.rate_limit_per_address,
                window: self.rate_limit_window,
            },
            ws: WsLimits {
                max_subscriptions_per_socket: self.max_subscriptions_per_socket.get(),
                max_sockets_per_token: self.max_sockets_per_token.get(),
                max_sockets_per_address: self.max_sockets_per_address.get(),
            },
            import: ImportLimits {
                max_bytes: self.import_max_bytes,
                timeout: self.import_timeout,
                concurrent: self.max_concurrent_imports,
                recount_every: DEFAULT_IMPORT_RECOUNT_EVERY,
            },
            run_inactivity_timeout: self.run_inactivity_timeout,
            artifacts: ArtifactOptions {
                store: Some(
                    self.artifact_store
                        .clone()
                        .unwrap_or_else(|| default_artifact_store(&self.database.data_dir)),
                ),
                store_options: Vec::new(),
                max_bytes: self.artifact_max_bytes,
                type_max_bytes: self.artifact_type_max_bytes.clone(),
                url_ttl: self.artifact_url_ttl,
                collect_every: DEFAULT_ARTIFACT_COLLECT_EVERY,
            },
            cors_origins: self.cors_origins.clone(),
            persisted_queries: self.persisted_queries,
            webhooks: WebhookOptions {
                retry_base: self.webhook_retry_base,
            },
            read_replicas: ReplicaOptions {
                urls: self.read_database_urls.clone(),
                max_lag: self.read_replica_max_lag,
            },
        }
    }
}

/// The default artifact store: `artifacts` in the data directory (made absolute).
pub fn default_artifact_store(data_dir: &std::path::Path) -> String {
    let dir = std::path::absolute(data_dir.join("artifacts"))
        .unwrap_or_else(|_| data_dir.join("artifacts"));
    format!("file://{}", dir.display())
}

/// Default of `--artifact-max-bytes`: a long screen recording.
pub const DEFAULT_ARTIFACT_MAX_BYTES: u64 = 1024 * 1024 * 1024;

/// Default of `--artifact-url-ttl`: long enough to open a page of screenshots and a video.
pub const DEFAULT_ARTIFACT_URL_TTL: std::time::Duration = std::time::Duration::from_secs(15 * 60);

/// How often a server collects the blobs nothing refers to any more, by default.
pub const DEFAULT_ARTIFACT_COLLECT_EVERY: std::time::Duration = std::time::Duration::from_secs(30);

/// Where artifacts' bytes go and how large they may be.
#[derive(Debug, Clone)]
pub struct ArtifactOptions {
    /// The store's URL (`file:///dir`, `s3://bucket/prefix`); `None`: a temporary directory
    /// of the process, removed when it ends (for tests and tools, never for `serve`).
    pub store: Option<String>,
    /// Settings of an S3 store beside the environment's (`object_store`'s keys, such as
    /// `aws_endpoint`): for a server embedded in another program, such as the tests.
    pub store_options: Vec<(String, String)>,
    /// Largest artifact of one upload.
    pub max_bytes: u64,
    /// Largest artifact of some types (below `max_bytes` or not: the smaller applies).
    pub type_max_bytes: Vec<(ArtifactType, u64)>,
    /// How long a signed download URL stays valid.
    pub url_ttl: std::time::Duration,
    /// How often a server collects the blobs nothing refers to any more.
    pub collect_every: std::time::Duration,
}

impl ArtifactOptions {
    /// The largest artifact of type `kind` one upload may store.
    pub fn limit(&self, kind: ArtifactType) -> u64 {
        self.type_max_bytes
            .iter()
            .rev()
            .find(|(t, _)| *t == kind)
            .map_or(self.max_bytes, |(_, n)| (*n).min(self.max_bytes))
    }
}

impl Default for ArtifactOptions {
    fn default() -> Self {
        Self {
            store: None,
            store_options: Vec::new(),
            max_bytes: DEFAULT_ARTIFACT_MAX_BYTES,
            type_max_bytes: Vec::new(),
            url_ttl: DEFAULT_ARTIFACT_URL_TTL,
            collect_every: DEFAULT_ARTIFACT_COLLECT_EVERY,
        }
    }
}

/// Largest request body accepted by default (`--max-body-bytes` changes it). Bulk result
/// reports of 10,000 items with step results fit; anything bigger is answered 413 with a
/// coded error, before it is read into memory whole.
pub const MAX_BODY_BYTES: usize = 32 * 1024 * 1024;

/// Default of `--max-subscriptions-per-socket`: a dashboard follows a few runs per socket; a
/// wall of runs is some dozens. Each subscription costs the server a stream and its reads.
pub const DEFAULT_MAX_SUBSCRIPTIONS_PER_SOCKET: usize = 100;

/// Default of `--max-sockets-per-token`: a team's dashboard token open on many screens and
/// browser tabs stays far below it; a leaked or runaway token cannot take the server's sockets.
pub const DEFAULT_MAX_SOCKETS_PER_TOKEN: usize = 500;

/// Default of `--max-sockets-per-address`: an office behind one NAT address stays below it.
/// Behind a reverse proxy every client has the proxy's address: raise it there.
pub const DEFAULT_MAX_SOCKETS_PER_ADDRESS: usize = 1_000;

/// Bounds on the WebSocket endpoint (command-line options), counted per server process.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WsLimits {
    /// Subscriptions (operations) open at once on one socket.
    pub max_subscriptions_per_socket: usize,
    /// Sockets open at once with one token (counted at `connection_init`).
    pub max_sockets_per_token: usize,
    /// Sockets open at once from one client address (counted before the upgrade).
    pub max_sockets_per_address: usize,
}

impl Default for WsLimits {
    fn default() -> Self {
        Self {
            max_subscriptions_per_socket: DEFAULT_MAX_SUBSCRIPTIONS_PER_SOCKET,
            max_sockets_per_token: DEFAULT_MAX_SOCKETS_PER_TOKEN,
            max_sockets_per_address: DEFAULT_MAX_SOCKETS_PER_ADDRESS,
        }
    }
}

/// Default longest statement of a request: far above any query the indexes serve (the slowest
/// analytics list takes about a second at a million executions), far below a client's patience.
pub const DEFAULT_STATEMENT_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(15);

/// Time limits of the statements run for clients (requests and subscriptions' reads).
#[derive(Debug, Clone, Copy)]
pub struct StatementLimits {
    /// Longest statement: PostgreSQL cancels it (`TIMEOUT` for the client).
    pub statement_timeout: std::time::Duration,
}

impl Default for StatementLimits {
    fn default() -> Self {
        Self {
            statement_timeout: DEFAULT_STATEMENT_TIMEOUT,
        }
    }
}

/// Default longest GraphQL request over HTTP.
pub const DEFAULT_REQUEST_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(30);

/// How a server serves: bounds and limits of what clients may ask.
#[derive(Debug, Clone)]
pub struct ServerOptions {
    /// Largest request body.
    pub max_body_bytes: usize,
    /// Longest GraphQL request over HTTP (504 `TIMEOUT` past it).
    pub request_timeout: std::time::Duration,
    /// Time limits of clients' statements.
    pub statements: StatementLimits,
    /// Requests per window and token or address.
    pub rate_limits: crate::rate_limit::RateLimits,
    /// Bounds on the WebSocket endpoint.
    pub ws: WsLimits,
    /// Bounds on report imports.
    pub import: ImportLimits,
    /// A run nothing was written into for this long ends ABORTED.
    pub run_inactivity_timeout: std::time::Duration,
    /// Artifacts' store and limits.
    pub artifacts: ArtifactOptions,
    /// Web origins allowed to call the API from a browser (`*`: any, without credentials).
    pub cors_origins: Vec<String>,
    /// Documents kept for automatic persisted queries (0: off).
    pub persisted_queries: usize,
    /// How webhooks are delivered.
    pub webhooks: WebhookOptions,
    /// The read replicas and their lag bound.
    pub read_replicas: ReplicaOptions,
}

/// Default of `--read-replica-max-lag`: a dashboard or a report reading a few seconds behind
/// the latest results is still current for a person; a replica further behind (replay paused,
/// a long query holding it back) would show a run that seems stuck.
pub const DEFAULT_READ_REPLICA_MAX_LAG: std::time::Duration = std::time::Duration::from_secs(5);

/// Where reads may go besides the primary.
#[derive(Clone)]
pub struct ReplicaOptions {
    /// Connection URLs of the read replicas (streaming standbys of the primary).
    pub urls: Vec<String>,
    /// Replay lag past which a replica is skipped.
    pub max_lag: std::time::Duration,
}

impl Default for ReplicaOptions {
    fn default() -> Self {
        Self {
            urls: Vec::new(),
            max_lag: DEFAULT_READ_REPLICA_MAX_LAG,
        }
    }
}

/// The URLs without their credentials: options are logged.
impl std::fmt::Debug for ReplicaOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let urls: Vec<String> = self
            .urls
            .iter()
            .map(|u| crate::db::url::redacted(u))
            .collect();
        f.debug_struct("ReplicaOptions")
            .field("urls", &urls)
            .field("max_lag", &self.max_lag)
            .finish()
    }
}

/// Default of `--webhook-retry-base`: a receiver that restarts is back within seconds.
pub const DEFAULT_WEBHOOK_RETRY_BASE: std::time::Duration = std::time::Duration::from_secs(5);

/// How webhooks are delivered.
#[derive(Debug, Clone, Copy)]
pub struct WebhookOptions {
    /// Delay before the first retry of a failed delivery; doubled for each further one.
    pub retry_base: std::time::Duration,
}

impl Default for WebhookOptions {
    fn default() -> Self {
        Self {
            retry_base: DEFAULT_WEBHOOK_RETRY_BASE,
        }
    }
}

/// Default largest report (`--import-max-bytes`), compressed or not: a 100,000-test JUnit
/// file with messages is about 25 MB.
pub const DEFAULT_MAX_IMPORT_BYTES: u64 = 256 * 1024 * 1024;

/// Default of `--max-concurrent-imports`: on 2 cores, a few imports keep PostgreSQL busy.
pub const DEFAULT_CONCURRENT_IMPORTS: usize = 4;

/// Default time an import may take (`--import-timeout`).
pub const DEFAULT_IMPORT_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(600);

/// Default interval of an import's recounts: live counters every 2 s.
pub const DEFAULT_IMPORT_RECOUNT_EVERY: std::time::Duration = std::time::Duration::from_secs(2);

/// Bounds on report imports (`POST /api/v1/import`, `importResults`).
#[derive(Debug, Clone, Copy)]
pub struct ImportLimits {
    /// Largest report, compressed and uncompressed.
    pub max_bytes: u64,
    /// Longest an import may take.
    pub timeout: std::time::Duration,
    /// Imports at once (per server process); more are answered 429.
    pub concurrent: usize,
    /// How often an import recounts its run's counters (a recount reads the whole run, so
    /// once a batch would grow with the run's size); the first batch and the end always do.
    pub recount_every: std::time::Duration,
}

impl Default for ImportLimits {
    fn default() -> Self {
        Self {
            max_bytes: DEFAULT_MAX_IMPORT_BYTES,
            timeout: DEFAULT_IMPORT_TIMEOUT,
            concurrent: DEFAULT_CONCURRENT_IMPORTS,
            recount_every: DEFAULT_IMPORT_RECOUNT_EVERY,
        }
    }
}

/// Default of `--run-inactivity-timeout`.
pub const DEFAULT_RUN_INACTIVITY_TIMEOUT: std::time::Duration =
    std::time::Duration::from_secs(6 * 3600);

impl Default for ServerOptions {
    fn default() -> Self {
        Self {
            max_body_bytes: MAX_BODY_BYTES,
            request_timeout: DEFAULT_REQUEST_TIMEOUT,
            statements: Default::default(),
            rate_limits: Default::default(),
            ws: Default::default(),
            import: Default::default(),
            run_inactivity_timeout: DEFAULT_RUN_INACTIVITY_TIMEOUT,
            artifacts: ArtifactOptions::default(),
            cors_origins: Vec::new(),
            persisted_queries: DEFAULT_PERSISTED_QUERIES,
            webhooks: WebhookOptions::default(),
            read_replicas: ReplicaOptions::default(),
        }
    }
}

/// A default bound as clap shows it; the defaults are constants above zero.
const fn nonzero(n: usize) -> NonZeroUsize {
    match NonZeroUsize::new(n) {
        Some(n) => n,
        None => NonZeroUsize::MIN,
    }
}

/// What `jbtestsuite report` sends, where, and into which run.
#[derive(Debug, Clone, Args)]
pub struct ReportArgs {
    /// Report files (JUnit XML, CTRF JSON), or bundles (.zip, .tar.gz) of a report and the
    /// screenshots and other files it refers to, sent in order into one run.
    #[arg(required = true)]
    pub files: Vec<PathBuf>,
    /// The server's base URL.
    #[arg(long, env = "JBTS_URL", default_value = "http://127.0.0.1:8000")]
    pub url: String,
    /// An API token that may report in the project.
    #[arg(long, env = "JBTS_TOKEN", hide_env_values = true)]
    pub token: String,
    /// junit, ctrf or auto.
    #[arg(long, default_value = "auto")]
    pub format: String,
    /// The project's key (default: the token's project, else `default`).
    #[arg(long)]
    pub project: Option<String>,
    /// The run's key, such as the CI build id: shards and retried jobs with the same key land
    /// in one run.
    #[arg(long)]
    pub run_key: Option<String>,
    /// The run's name (default: the run key, or the report's).
    #[arg(long)]
    pub run_name: Option<String>,
    /// End the run after the last file, with the outcome its results imply.
    #[arg(long)]
    pub finish: bool,
    /// Reject results for tests no case has yet, instead of creating the cases.
    #[arg(long)]
    pub known_tests_only: bool,
    /// Exit with code 2 when the run has failed tests.
    #[arg(long)]
    pub fail_on_test_failure: bool,
    /// The commit tested (default: the CI's, from GITHUB_SHA, CI_COMMIT_SHA or GIT_COMMIT).
    #[arg(long)]
    pub commit: Option<String>,
    /// The branch tested (default: the CI's, from GITHUB_HEAD_REF or GITHUB_REF_NAME,
    /// CI_COMMIT_REF_NAME, or GIT_BRANCH).
    #[arg(long)]
    pub branch: Option<String>,
    /// The CI build's page (default: the CI's: the GitHub Actions run, CI_JOB_URL or
    /// BUILD_URL).
    #[arg(long)]
    pub build_url: Option<String>,
    /// The environment tested (staging, ...).
    #[arg(long)]
    pub environment: Option<String>,
    /// After the last file, finish the run, evaluate the quality gate (new failures against
    /// the previous run of the branch, quarantined tests excluded), print the verdict and
    /// exit with code 3 when it fails.
    #[arg(long)]
    pub gate: bool,
    /// With --gate: new failures allowed (default 0).
    #[arg(long, requires = "gate")]
    pub max_new_failures: Option<u32>,
    /// With --gate: lowest pass rate allowed, 0 to 1 (such as 0.95).
    #[arg(long, requires = "gate")]
    pub min_pass_rate: Option<f64>,
    /// Longest one upload may take.
    #[arg(long, value_parser = humantime::parse_duration, default_value = "10m")]
    pub timeout: std::time::Duration,
}

/// Where the database is.
#[derive(Debug, Clone, Args)]
pub struct DatabaseArgs {
    /// URL of an existing PostgreSQL database. Without it the service creates and runs its own
    /// cluster in --data-dir.
    #[arg(long, env = "DATABASE_URL", global = true, hide_env_values = true)]
    pub database_url: Option<String>,

    /// Data directory of the managed PostgreSQL cluster (ignored with DATABASE_URL).
    #[arg(long, env = "JBTS_DATA_DIR", default_value = DEFAULT_DATA_DIR, global = true)]
    pub data_dir: PathBuf,
}

#[derive(Debug, Clone, Subcommand)]
pub enum Command {
    /// Serve the GraphQL API (the default).
    Serve,
    /// Serve with a demo: a seeded "Demo shop" project and a simulated CI reporting runs live.
    ///
    /// Serves as `serve` does (same options, same database), and seeds once a project with
    /// suites, test cases and a week of run history; a simulated CI then reports runs through
    /// the API until the server stops. Prints the dashboard's URL with an admin token named
    /// "demo" (a new one each start; the previous one is revoked).
    Demo {
        /// How often the simulated CI starts a run (e.g. `20s`); each run reports its results
        /// over 15 to 30 seconds.
        #[arg(long, value_parser = crate::demo::parse_every, default_value = "20s")]
        every: std::time::Duration,
    },
    /// Manage the database schema.
    Migrate {
        #[command(subcommand)]
        action: MigrateAction,
    },
    /// Print the GraphQL schema (SDL) to standard output.
    ExportSchema,
    /// Archive completed executions older than a cutoff (with their step results and artifacts).
    Archive {
        /// Age of the executions to archive, e.g. `90d`.
        #[arg(long, value_parser = humantime::parse_duration, default_value = "90d")]
        older_than: std::time::Duration,
        /// Only count what would move.
        #[arg(long)]
        dry_run: bool,
    },
    /// Put archived executions back.
    Restore {
        /// Restore this run's executions.
        #[arg(long)]
        run: Option<uuid::Uuid>,
        /// Restore executions completed before this time (RFC 3339).
        #[arg(long)]
        before: Option<chrono::DateTime<chrono::FixedOffset>>,
    },
    /// Database maintenance: VACUUM ANALYZE, upcoming audit partitions, rebuild bloated
    /// indexes; the artifact store's orphan sweep (blobs nothing refers to, leftovers of
    /// interrupted uploads).
    Maintenance {
        /// Months of audit partitions to create ahead.
        #[arg(long, default_value_t = 3)]
        months_ahead: i32,
    },
    /// Delete, for good, runs finished before a cutoff (pinned runs excepted) with their
    /// executions, live and archived, and the artifacts' bytes nothing refers to any more.
    Purge {
        /// Age of the runs to delete, e.g. `365d`.
        #[arg(long, value_parser = humantime::parse_duration)]
        older_than: std::time::Duration,
        /// Only count what would go.
        #[arg(long)]
        dry_run: bool,
    },
    /// Send test report files (JUnit XML, CTRF JSON) to a server: the one line a CI job
    /// adds. Exit code 0 when imported (whatever the tests did), 1 when an upload failed, 2
    /// with --fail-on-test-failure when the run has failed tests.
    Report(ReportArgs),
    /// Manage API tokens.
    Token {
        #[command(subcommand)]
        action: TokenAction,
    },
    /// Manage projects and their members.
    Project {
        #[command(subcommand)]
        action: ProjectAction,
    },
}

#[derive(Debug, Clone, Subcommand)]
pub enum ProjectAction {
    /// Create a project.
    Create {
        /// Its key: 1 to 64 lowercase letters, digits and dashes (`web-shop`).
        key: String,
        /// Display name (default: the key).
        #[arg(long)]
        name: Option<String>,
        /// What it is about.
        #[arg(long)]
        description: Option<String>,
    },
    /// List projects with their members.
    List,
    /// Give a user a role in a project (adding them if needed).
    AddMember {
        /// The project's key.
        key: String,
        /// The user.
        user: String,
        /// Their role.
        #[arg(long, value_enum, default_value = "member")]
        role: ProjectRoleArg,
    },
    /// Remove a user from a project.
    RemoveMember {
        /// The project's key.
        key: String,
        /// The user.
        user: String,
    },
}

/// Project roles on the command line.
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum ProjectRoleArg {
    Viewer,
    Member,
    Maintainer,
}

#[derive(Debug, Clone, Subcommand)]
pub enum TokenAction {
    /// Create a token and print it (once: only its hash is kept).
    Create {
        /// User the token authenticates as.
        #[arg(long)]
        user: String,
        /// Role it grants (repeat for several).
        #[arg(long = "role", value_enum, required = true)]
        roles: Vec<RoleArg>,
        /// What the token is for.
        #[arg(long)]
        name: Option<String>,
        /// Lifetime, e.g. `90d`, `12h` (default: no expiry).
        #[arg(long, value_parser = humantime::parse_duration)]
        expires_in: Option<std::time::Duration>,
        /// The one project the token may act in (its key); the user must be a member.
        #[arg(long)]
        project: Option<String>,
        /// What the token may do (repeat for several; default: everything the user's roles
        /// allow). A CI job reporting results needs only `report`.
        #[arg(long = "capability", value_enum)]
        capabilities: Vec<CapabilityArg>,
    },
    /// List tokens (never their secrets).
    List,
    /// Revoke a token by id.
    Revoke {
        /// The token's id (as listed).
        id: uuid::Uuid,
    },
}

/// Token capabilities on the command line.
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum CapabilityArg {
    Read,
    Report,
    Write,
    Admin,
}

/// Roles on the command line.
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum RoleArg {
    Admin,
    Member,
}

#[derive(Debug, Clone, Subcommand)]
pub enum MigrateAction {
    /// Apply all pending migrations.
    Up,
    /// Revert the most recent migrations.
    Down {
        /// How many migrations to revert.
        #[arg(long, default_value_t = 1)]
        steps: u32,
    },
    /// List migrations and whether each is applied.
    Status,
    /// Drop everything and apply all migrations from scratch.
    Fresh,
}
