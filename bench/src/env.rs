//! The benchmark's environment, started with the server's own code: a managed PostgreSQL
//! cluster in a temp dir, the application database, migrations, an admin token, then the
//! server in-process (its pool counting SQL statements) and the raw ceiling server beside it.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use anyhow::Context as _;
use api::db::managed::{ClusterOptions, ManagedCluster};
use sea_orm::DatabaseConnection;
use sea_orm_migration::MigratorTrait;
use tokio::sync::oneshot;

use crate::{Options, progress};

/// Connections the benchmark cluster accepts: the server's pool and listener, the raw
/// server's pool, the seeding and admin pools, with room to spare.
const CLUSTER_MAX_CONNECTIONS: u32 = 200;

/// Connections of the raw ceiling server's pool: the same as the API server's, so that neither
/// side wins by holding more connections.
pub const RAW_POOL_CONNECTIONS: u32 = api::db::POOL_MAX_CONNECTIONS;

/// Connections of the owner pool the benchmark uses for seeding and bookkeeping.
const ADMIN_POOL_CONNECTIONS: u32 = 4;

/// How long the server may take to answer /readyz (database and live listener up).
const READY_TIMEOUT: Duration = Duration::from_secs(30);

/// The database and the cluster behind it.
pub struct Env {
    /// Kept so that the directory lives as long as the cluster.
    dir: tempfile::TempDir,
    cluster: ManagedCluster,
    pub url: String,
    /// The tables' owner, through SeaORM (the token is made by the server's own function).
    pub owner: DatabaseConnection,
    /// The tables' owner, through sqlx: seeding, bookkeeping, ALTER TABLE between phases.
    pub pg: sqlx::PgPool,
    /// Bearer token of an admin, sent by every API request and subscription.
    pub token: String,
}

impl Env {
    /// Starts the cluster, creates and migrates the database, creates the admin token.
    pub async fn start(options: &Options) -> anyhow::Result<Self> {
        let dir = tempfile::Builder::new()
            .prefix("jbts-bench-")
            .tempdir()
            .context("creating the benchmark's temp dir")?;
        let cluster_options = ClusterOptions {
            max_connections: CLUSTER_MAX_CONNECTIONS,
            ephemeral: options.ephemeral,
        };
        progress::say(
            options,
            &format!(
                "starting PostgreSQL in {} ({})",
                dir.path().display(),
                if options.ephemeral {
                    "fsync off"
                } else {
                    "durable: fsync on"
                }
            ),
        );
        let (cluster, url) = api::startup::start_managed(dir.path(), cluster_options)
            .await
            .context("starting the managed PostgreSQL cluster")?;
        let opened = async {
            let owner = api::db::connect(&url, ADMIN_POOL_CONNECTIONS)
                .await
                .context("connecting as the owner")?;
            migration::Migrator::up(&owner, None)
                .await
                .context("applying migrations")?;
            let pg = sqlx::postgres::PgPoolOptions::new()
                .max_connections(ADMIN_POOL_CONNECTIONS)
                .connect(&url)
                .await
                .context("connecting the admin pool")?;
            let (_, token) = api::auth::service::create(
                &owner,
                &api::auth::service::NewToken {
                    user_id: crate::BENCH_USER,
                    roles: &[api::auth::Role::Admin],
                    name: Some("benchmark"),
                    ..Default::default()
                },
            )
            .await
            .map_err(|e| anyhow::anyhow!("creating the admin token: {e:?}"))?;
            Ok::<_, anyhow::Error>((owner, pg, token))
        }
        .await;
        match opened {
            Ok((owner, pg, token)) => Ok(Self {
                dir,
                cluster,
                url,
                owner,
                pg,
                token,
            }),
            Err(e) => {
                let _ = tokio::task::spawn_blocking(move || cluster.stop()).await;
                Err(e)
            }
        }
    }

    /// Closes the pools and stops the cluster; the temp dir goes with it.
    pub async fn stop(self) -> anyhow::Result<()> {
        self.pg.close().await;
        let _ = self.owner.close().await;
        let cluster = self.cluster;
        tokio::task::spawn_blocking(move || cluster.stop())
            .await
            .context("joining the cluster stop")?
            .context("stopping the cluster")?;
        drop(self.dir);
        Ok(())
    }

    /// The benchmark's temp dir (the cluster's data directory is in it): room for what
    /// scenarios start beside it (server processes' logs, a standby).
    pub fn dir(&self) -> &std::path::Path {
        self.dir.path()
    }

    /// The cluster behind [`Env::url`].
    pub fn cluster(&self) -> &ManagedCluster {
        &self.cluster
    }

    /// `SELECT version()`.
    pub async fn postgres_version(&self) -> String {
        sqlx::query_scalar::<_, String>("SELECT version()")
            .fetch_one(&self.pg)
            .await
            .unwrap_or_else(|_| "unknown".to_owned())
    }
}

/// The API server and the raw server, both in this process, on 127.0.0.1:0.
pub struct Servers {
    pub api: SocketAddr,
    pub raw: SocketAddr,
    /// SQL statements the API server's pool ran (its requests and its live reads).
    statements: Arc<AtomicU64>,
    pub client: reqwest::Client,
    stops: Vec<oneshot::Sender<()>>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Servers {
    pub async fn start(env: &Env) -> anyhow::Result<Self> {
        let mut pool = api::db::connect(&env.url, api::db::POOL_MAX_CONNECTIONS)
            .await
            .context("connecting the server's pool")?;
        let statements = Arc::new(AtomicU64::new(0));
        let counter = statements.clone();
        pool.set_metric_callback(move |_| {
            counter.fetch_add(1, Ordering::Relaxed);
        });
        // every subscriber connects from here with the one token, several subscriptions per
        // socket when descriptors run short: the socket bounds would cap the fan-out measured,
        // and the load's clients share one token and address: rate limits would cap it too
        let options = api::config::ServerOptions {
            ws: api::config::WsLimits {
                max_subscriptions_per_socket: usize::MAX,
                max_sockets_per_token: usize::MAX,
                max_sockets_per_address: usize::MAX,
            },
            rate_limits: api::rate_limit::RateLimits::off(),
            ..Default::default()
        };
        let app = api::startup::Application::build_with(
            pool,
            &env.url,
            ([127, 0, 0, 1], 0).into(),
            options,
        )
        .await
        .context("building the server")?;
        let api_addr = app.local_addr()?;
        let (api_stop, api_rx) = oneshot::channel::<()>();
        let api_task = tokio::spawn(async move {
            let _ = app
                .run_until(async move {
                    let _ = api_rx.await;
                })
                .await;
        });

        let raw_pool = sqlx::postgres::PgPoolOptions::new()
            .max_connections(RAW_POOL_CONNECTIONS)
            .connect(&env.url)
            .await
            .context("connecting the raw server's pool")?;
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0))
            .await
            .context("binding the raw server")?;
        let raw_addr = listener.local_addr()?;
        let router = crate::raw::router(raw_pool);
        let (raw_stop, raw_rx) = oneshot::channel::<()>();
        let raw_task = tokio::spawn(async move {
            let _ = axum::serve(listener, router)
                .with_graceful_shutdown(async move {
                    let _ = raw_rx.await;
                })
                .await;
        });

        let client = reqwest::Client::builder()
            .pool_max_idle_per_host(256)
            .tcp_nodelay(true)
            .build()
            .context("building the HTTP client")?;
        let servers = Self {
            api: api_addr,
            raw: raw_addr,
            statements,
            client,
            stops: vec![api_stop, raw_stop],
            tasks: vec![api_task, raw_task],
        };
        servers.wait_ready().await?;
        Ok(servers)
    }

    async fn wait_ready(&self) -> anyhow::Result<()> {
        let url = format!("http://{}/readyz", self.api);
        tokio::time::timeout(READY_TIMEOUT, async {
            loop {
                if self
                    .client
                    .get(&url)
                    .send()
                    .await
                    .is_ok_and(|r| r.status().is_success())
                {
                    return;
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        })
        .await
        .context("the server did not become ready")
    }

    /// Statements the API server has run so far.
    pub fn statements(&self) -> u64 {
        self.statements.load(Ordering::Relaxed)
    }

    pub fn api_url(&self, path: &str) -> String {
        format!("http://{}{}", self.api, path)
    }

    pub fn raw_url(&self, path: &str) -> String {
        format!("http://{}{}", self.raw, path)
    }

    /// Stops both servers and waits for them (open WebSockets get the server's grace).
    pub async fn stop(self) {
        for stop in self.stops {
            let _ = stop.send(());
        }
        for task in self.tasks {
            let _ = task.await;
        }
    }
}

/// Resident memory of this process (VmRSS), in bytes.
pub fn rss_bytes() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}

/// The machine, for the report.
pub fn machine() -> String {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|c| {
            c.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split_once(':'))
                .map(|(_, v)| v.trim().to_owned())
        })
        .unwrap_or_else(|| "unknown CPU".to_owned());
    let cores = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(0);
    let mem_gib = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|m| {
            m.lines()
                .find(|l| l.starts_with("MemTotal:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|kb| kb.parse::<f64>().ok())
        })
        .map(|kb| kb / 1024.0 / 1024.0)
        .unwrap_or(0.0);
    format!("{cpu}, {cores} cores, {mem_gib:.0} GiB")
}

/// `git rev-parse --short HEAD`, marked when tracked files have uncommitted changes.
pub fn commit() -> String {
    let run = |args: &[&str]| {
        std::process::Command::new("git")
            .args(args)
            .output()
            .ok()
            .filter(|o| o.status.success())
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
    };
    match run(&["rev-parse", "--short", "HEAD"]) {
        Some(hash) => match run(&["status", "--porcelain", "--untracked-files=no"]) {
            Some(s) if !s.is_empty() => format!("{hash} (with uncommitted changes)"),
            _ => hash,
        },
        None => "unknown".to_owned(),
    }
}
