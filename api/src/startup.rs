//! Start-up: open the database (managed or external), migrate, bind, serve, shut down.

use std::future::Future;
use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use anyhow::Context as _;
use sea_orm::DatabaseConnection;
use sea_orm_migration::MigratorTrait;
use tokio::net::TcpListener;

use crate::config::{
    Cli, Command, DatabaseArgs, MigrateAction, ProjectAction, ServerOptions, TokenAction,
};
use crate::db::managed::{self, ClusterOptions, ManagedCluster};
use crate::state::AppState;

/// How long open connections (WebSocket subscriptions included) get to finish after a shutdown
/// signal before the server stops regardless.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(10);

/// An opened database: the pool, and the managed cluster behind it if any.
pub struct OpenDatabase {
    pub db: DatabaseConnection,
    pub url: String,
    pub cluster: Option<ManagedCluster>,
}

impl OpenDatabase {
    /// Closes the pool, then stops the managed cluster.
    pub async fn close(self) -> anyhow::Result<()> {
        let _ = self.db.close().await;
        if let Some(cluster) = self.cluster {
            tokio::task::spawn_blocking(move || cluster.stop())
                .await
                .context("joining the cluster stop")??;
        }
        Ok(())
    }

    /// Says in the data directory that this server serves on `addr` (its migrations applied):
    /// from then on commands use its cluster through the socket instead of waiting for it.
    pub fn announce_serving(&self, addr: SocketAddr) {
        if let Some(cluster) = &self.cluster
            && let Err(e) = cluster.announce_serving(&addr.to_string())
        {
            tracing::warn!(
                error = %e,
                "could not say in the data directory that this server serves; commands on it \
                 wait for this server to stop"
            );
        }
    }
}

/// How many times a command opens the managed database when the server whose cluster it used
/// does not answer (it stopped meanwhile): the next time it finds nobody and starts the cluster
/// itself.
const OPEN_ATTEMPTS: u32 = 2;

/// Starts (creating if needed) the managed cluster in `data_dir`, as a server, and creates the
/// application database in it. Blocking work runs off the async threads.
pub async fn start_managed(
    data_dir: &Path,
    options: ClusterOptions,
) -> anyhow::Result<(ManagedCluster, String)> {
    let dir = data_dir.to_path_buf();
    let cluster = tokio::task::spawn_blocking(move || ManagedCluster::start(&dir, &options))
        .await
        .context("joining the cluster start")??;
    let url = create_app_database(&cluster).await?;
    Ok((cluster, url))
}

/// The managed database for a command: a serving server's, through its socket (nothing to
/// stop then), or the cluster started for this command, to stop when done.
async fn start_or_attach(
    data_dir: &Path,
    options: ClusterOptions,
) -> anyhow::Result<(Option<ManagedCluster>, String)> {
    let dir = data_dir.to_path_buf();
    let found =
        tokio::task::spawn_blocking(move || ManagedCluster::start_or_attach(&dir, &options))
            .await
            .context("joining the cluster start")??;
    match found {
        managed::Cluster::Started(cluster) => {
            let url = create_app_database(&cluster).await?;
            Ok((Some(cluster), url))
        }
        managed::Cluster::Running(running) => Ok((None, running.url(managed::APP_DATABASE))),
    }
}

/// Creates the application database in a cluster this process started, unless it exists;
/// its URL.
async fn create_app_database(cluster: &ManagedCluster) -> anyhow::Result<String> {
    let admin = crate::db::connect(&cluster.url("postgres"), 1)
        .await
        .context("connecting to the managed cluster")?;
    if crate::db::ensure_database(&admin, managed::APP_DATABASE).await? {
        tracing::info!(
            database = managed::APP_DATABASE,
            "created the application database"
        );
    }
    let _ = admin.close().await;
    Ok(cluster.url(managed::APP_DATABASE))
}

/// Opens the database the arguments name for a command: DATABASE_URL, or the managed cluster
/// (a serving server's, or started for the command); the pool's own statements (maintenance,
/// migrations) limited to `statement_timeout`.
pub async fn open_database(
    args: &DatabaseArgs,
    statement_timeout: Duration,
) -> anyhow::Result<OpenDatabase> {
    open_database_as(args, statement_timeout, managed::Role::Command).await
}

/// As [`open_database`], for `role`: a server runs the managed cluster itself, for as long as
/// it serves.
pub async fn open_database_as(
    args: &DatabaseArgs,
    statement_timeout: Duration,
    role: managed::Role,
) -> anyhow::Result<OpenDatabase> {
    let mut attempt = 1;
    loop {
        let (cluster, url) = match (&args.database_url, role) {
            (Some(url), _) => (None, crate::db::url::normalize(url)),
            (None, managed::Role::Serve) => {
                let (cluster, url) =
                    start_managed(&args.data_dir, ClusterOptions::default()).await?;
                (Some(cluster), url)
            }
            (None, managed::Role::Command) => {
                start_or_attach(&args.data_dir, ClusterOptions::default()).await?
            }
        };
        let attached = args.database_url.is_none() && cluster.is_none();
        match crate::db::connect_with(&url, crate::db::POOL_MAX_CONNECTIONS, statement_timeout)
            .await
        {
            Ok(db) => return Ok(OpenDatabase { db, url, cluster }),
            Err(e) => {
                if let Some(cluster) = cluster {
                    let _ = tokio::task::spawn_blocking(move || cluster.stop()).await;
                }
                if attached && attempt < OPEN_ATTEMPTS {
                    tracing::warn!(
                        error = %e,
                        "the serving server's database did not answer; looking again"
                    );
                    attempt += 1;
                    continue;
                }
                return Err(e).context("connecting to the database");
            }
        }
    }
}

/// A bound, ready-to-serve HTTP application.
pub struct Application {
    listener: TcpListener,
    router: axum::Router,
    shutdown: std::sync::Arc<tokio::sync::watch::Sender<bool>>,
    hub: std::sync::Arc<crate::live::hub::Hub>,
    db: DatabaseConnection,
    options: ServerOptions,
    artifacts: crate::artifacts::Artifacts,
}

/// A background task that stops with its owner.
struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Ends the runs nothing was written into for `idle` as ABORTED (their open executions
/// cancelled), checking a few times per `idle` (at most once a minute): nothing stays
/// RUNNING forever.
async fn abort_inactive_runs(db: DatabaseConnection, idle: Duration) {
    use sea_orm::ConnectionTrait;
    if idle.is_zero() {
        // `--run-inactivity-timeout 0`: runs are never aborted
        return;
    }
    let every = (idle / 4).clamp(Duration::from_millis(200), Duration::from_secs(60));
    let mut ticks = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticks.tick().await;
        let ended = db
            .query_all_raw(sea_orm::Statement::from_sql_and_values(
                sea_orm::DbBackend::Postgres,
                "SELECT abort_inactive_test_runs($1::interval) AS id",
                [format!("{} milliseconds", idle.as_millis()).into()],
            ))
            .await;
        match ended {
            Ok(rows) if rows.is_empty() => {}
            Ok(rows) => tracing::info!(runs = rows.len(), "inactive runs aborted"),
            Err(e) => tracing::warn!(error = ?e, "aborting inactive runs failed"),
        }
    }
}

impl Application {
    /// Builds the schema and router over `db` and binds `listen` (port 0 picks a free port),
    /// with the default options.
    pub async fn build(
        db: DatabaseConnection,
        url: &str,
        listen: SocketAddr,
    ) -> anyhow::Result<Self> {
        Self::build_with(db, url, listen, ServerOptions::default()).await
    }

    /// As [`Application::build`], with `options`.
    pub async fn build_with(
        db: DatabaseConnection,
        url: &str,
        listen: SocketAddr,
        options: ServerOptions,
    ) -> anyhow::Result<Self> {
        Self::build_with_routes(db, url, listen, options, axum::Router::new()).await
    }

    /// As [`Application::build_with`], serving `extra` routes besides the service's own, under
    /// the same layers: for tests that need a route the service has not.
    pub async fn build_with_routes(
        db: DatabaseConnection,
        url: &str,
        listen: SocketAddr,
        options: ServerOptions,
        extra: axum::Router,
    ) -> anyhow::Result<Self> {
        let artifacts = crate::artifacts::Artifacts::open(&db, &options.artifacts)
            .await
            .context("opening the artifact store")?;
        let mut state = AppState::new(db.clone(), options.clone(), artifacts.clone());
        // a replica that does not answer is DOWN until it does: never a reason not to serve
        state.replicas =
            crate::db::replicas::ReadReplicas::start(&options.read_replicas, state.stopped()).await;
        let tokens = std::sync::Arc::new(crate::auth::tokens::TokenCache::default());
        let hub = crate::live::hub::Hub::start(
            url.to_owned(),
            state.db.clone(),
            tokens.clone(),
            state.stopped(),
            options.statements,
            state.replicas.clone(),
        );
        // stops with the live hub, when the server shuts down
        crate::webhooks::deliver::start(
            url.to_owned(),
            options.webhooks,
            hub.webhooks(),
            state.stopped(),
        );
        let schema = crate::schema::build(state.clone(), tokens.clone(), hub.clone());
        let shutdown = state.shutdown.clone();
        let served = crate::http::Served {
            schema,
            app: state,
            tokens,
            hub: hub.clone(),
        };
        let router = crate::http::router_with_routes(served, extra);
        let listener = TcpListener::bind(listen)
            .await
            .with_context(|| format!("binding {listen}"))?;
        Ok(Self {
            listener,
            router,
            shutdown,
            hub,
            db,
            options,
            artifacts,
        })
    }

    /// Resolves once live updates flow (the hub's listener is connected): from then on no
    /// committed change is missed by subscribers.
    pub fn live_ready(&self) -> impl Future<Output = ()> + Send + 'static {
        let hub = self.hub.clone();
        async move { hub.connected().await }
    }

    /// The address actually bound.
    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// Serves until `shutdown` resolves, then lets open connections finish for at most
    /// [`SHUTDOWN_GRACE`].
    pub async fn run_until(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()> {
        let (tx, rx) = tokio::sync::watch::channel(false);
        let live = self.shutdown.clone();
        let sweeper = tokio::spawn(abort_inactive_runs(
            self.db.clone(),
            self.options.run_inactivity_timeout,
        ));
        let _sweeper = AbortOnDrop(sweeper);
        let _collector = AbortOnDrop(tokio::spawn(
            crate::artifacts::service::collect_periodically(
                self.db.clone(),
                self.artifacts.clone(),
                self.options.artifacts.collect_every,
            ),
        ));
        // with each connection's address: the WebSocket endpoint bounds sockets per address
        let service = self
            .router
            .into_make_service_with_connect_info::<SocketAddr>();
        let serve = axum::serve(self.listener, service).with_graceful_shutdown(async move {
            shutdown.await;
            // live streams end, so that their WebSocket connections can close
            let _ = live.send(true);
            let _ = tx.send(true);
        });
        let mut rx_grace = rx.clone();
        tokio::select! {
            result = serve => result,
            _ = async move {
                let _ = rx_grace.wait_for(|stopping| *stopping).await;
                tokio::time::sleep(SHUTDOWN_GRACE).await;
            } => {
                tracing::warn!("connections still open after the shutdown grace period; closing them");
                Ok(())
            }
        }
    }
}

/// Resolves on SIGINT (Ctrl-C) or SIGTERM.
pub fn shutdown_signal() -> impl Future<Output = ()> + Send + 'static {
    use tokio::signal::unix::{SignalKind, signal};
    // the handlers are installed now, not when the future is first polled: a signal sent as
    // soon as the server says it serves stops it gracefully, like any other
    let interrupt = signal(SignalKind::interrupt());
    let terminate = signal(SignalKind::terminate());
    async move {
        let received = async |s: std::io::Result<tokio::signal::unix::Signal>| match s {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        };
        tokio::select! {
            _ = received(interrupt) => {},
            _ = received(terminate) => {},
        }
        tracing::info!("shutdown signal received");
    }
}

/// The artifact store the command line names (its default beside the data directory).
fn artifact_store(cli: &Cli) -> anyhow::Result<crate::artifacts::ArtifactStore> {
    let options = cli.server_options().artifacts;
    let url = options
        .store
        .context("the command line always names an artifact store")?;
    crate::artifacts::ArtifactStore::open_with(&url, &options.store_options)
        .map_err(anyhow::Error::msg)
}

/// Runs the command line.
pub async fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command.clone().unwrap_or(Command::Serve) {
        Command::ExportSchema => {
            print!("{}", crate::schema::sdl());
            Ok(())
        }
        Command::Serve => serve(&cli, None).await,
        Command::Demo { every } => {
            let options = cli.server_options();
            let demo: Beside =
                Box::new(move |db, addr| Box::pin(crate::demo::run(db, addr, options, every)));
            serve(&cli, Some(demo)).await
        }
        Command::Report(args) => crate::reporter::report(args).await,
        Command::Archive {
            older_than,
            dry_run,
        } => {
            let open = open_migrated(&cli).await?;
            let result = crate::archive::archive(&open.db, older_than, dry_run, "cli")
                .await
                .map_err(|e| anyhow::anyhow!("{}", error_text(e)));
            open.close().await?;
            let r = result?;
            println!(
                "{} {} executions, {} step results, {} artifacts in {} batches",
                if dry_run { "would archive" } else { "archived" },
                r.executions,
                r.step_executions,
                r.artifacts,
                r.batches
            );
            Ok(())
        }
        Command::Restore { run, before } => {
            let open = open_migrated(&cli).await?;
            let result = crate::archive::restore(&open.db, run, before, "cli")
                .await
                .map_err(|e| anyhow::anyhow!("{}", error_text(e)));
            open.close().await?;
            let r = result?;
            println!(
                "restored {} executions, {} step results, {} artifacts",
                r.executions, r.step_executions, r.artifacts
            );
            Ok(())
        }
        Command::Purge {
            older_than,
            dry_run,
        } => {
            let open = open_migrated(&cli).await?;
            let result = async {
                let store = artifact_store(&cli)?;
                crate::archive::service::purge(&open.db, &store, older_than, dry_run, "cli")
                    .await
                    .map_err(|e| anyhow::anyhow!("{}", error_text(e)))
            }
            .await;
            open.close().await?;
            let r = result?;
            if dry_run {
                println!(
                    "would purge {} runs, {} executions, {} artifacts",
                    r.runs, r.executions, r.artifacts
                );
            } else {
                println!(
                    "purged {} runs, {} executions, {} artifacts; {} blobs ({} bytes) removed \
                     from the artifact store",
                    r.runs, r.executions, r.artifacts, r.blobs, r.bytes
                );
            }
            Ok(())
        }
        Command::Maintenance { months_ahead } => {
            let open = open_migrated(&cli).await?;
            let result = async {
                let mut done = crate::archive::maintenance(&open.db, months_ahead)
                    .await
                    .map_err(|e| anyhow::anyhow!("{}", error_text(e)))?;
                let store = artifact_store(&cli)?;
                let swept = crate::artifacts::sweep(
                    &open.db,
                    &store,
                    crate::artifacts::service::ORPHAN_AGE,
                )
                .await
                .map_err(|e| anyhow::anyhow!("{}", error_text(e)))?;
                done.push(format!(
                    "artifact store: {} unreferenced blobs ({} bytes) removed, {} objects \
                     without a row and {} unfinished uploads removed, {} blobs missing",
                    swept.collected.blobs,
                    swept.collected.bytes,
                    swept.orphans,
                    swept.staging,
                    swept.missing
                ));
                Ok::<_, anyhow::Error>(done)
            }
            .await;
            open.close().await?;
            for line in result? {
                println!("{line}");
            }
            Ok(())
        }
        Command::Token { action } => {
            let open = open_database(&cli.database, cli.maintenance_statement_timeout).await?;
            let result = async {
                if !cli.no_migrate {
                    migration::Migrator::up(&open.db, None).await?;
                }
                token_command(&open.db, action).await
            }
            .await;
            open.close().await?;
            result
        }
        Command::Project { action } => {
            let open = open_database(&cli.database, cli.maintenance_statement_timeout).await?;
            let result = async {
                if !cli.no_migrate {
                    migration::Migrator::up(&open.db, None).await?;
                }
                project_command(&open.db, action).await
            }
            .await;
            open.close().await?;
            result
        }
        Command::Migrate { action } => {
            let open = open_database(&cli.database, cli.maintenance_statement_timeout).await?;
            let result = migrate(&open.db, action).await;
            open.close().await?;
            result
        }
    }
}

async fn migrate(db: &DatabaseConnection, action: MigrateAction) -> anyhow::Result<()> {
    use migration::Migrator;
    match action {
        MigrateAction::Up => Migrator::up(db, None).await?,
        MigrateAction::Down { steps } => Migrator::down(db, Some(steps)).await?,
        MigrateAction::Fresh => Migrator::fresh(db).await?,
        MigrateAction::Status => {
            for m in Migrator::get_migration_with_status(db).await? {
                println!("{:<10} {}", format!("{:?}", m.status()), m.name());
            }
        }
    }
    Ok(())
}

/// Opens the database and applies pending migrations (unless `--no-migrate`).
async fn open_migrated(cli: &Cli) -> anyhow::Result<OpenDatabase> {
    let open = open_database(&cli.database, cli.maintenance_statement_timeout).await?;
    if !cli.no_migrate
        && let Err(e) = migration::Migrator::up(&open.db, None).await
    {
        open.close().await?;
        return Err(e).context("applying migrations");
    }
    Ok(open)
}

async fn token_command(db: &DatabaseConnection, action: TokenAction) -> anyhow::Result<()> {
    use crate::auth::service;
    let to_anyhow = |e: crate::error::AppError| anyhow::anyhow!("{}", error_text(e));
    match action {
        TokenAction::Create {
            user,
            roles,
            name,
            expires_in,
            project,
            capabilities,
        } => {
            let roles: Vec<crate::auth::Role> = roles.into_iter().map(Into::into).collect();
            let expires_at = match expires_in {
                Some(d) => Some(
                    (chrono::Utc::now()
                        + chrono::Duration::from_std(d).context("--expires-in is too long")?)
                    .fixed_offset(),
                ),
                None => None,
            };
            let capabilities: Option<Vec<crate::auth::Capability>> = if capabilities.is_empty() {
                None
            } else {
                Some(capabilities.into_iter().map(Into::into).collect())
            };
            let (record, token) = service::create(
                db,
                &service::NewToken {
                    user_id: &user,
                    roles: &roles,
                    name: name.as_deref(),
                    expires_at,
                    project_key: project.as_deref(),
                    capabilities: capabilities.as_deref(),
                },
            )
            .await
            .map_err(to_anyhow)?;
            eprintln!(
                "created token {} for {} (shown once; only its hash is stored):",
                record.id, record.user_id
            );
            println!("{token}");
        }
        TokenAction::List => {
            let keys: std::collections::HashMap<uuid::Uuid, String> = all_projects(db)
                .await?
                .into_iter()
                .map(|p| (p.id, p.key))
                .collect();
            for t in service::list(db, None).await.map_err(to_anyhow)? {
                let roles: Vec<&str> = t.roles.iter().map(|r| r.as_str()).collect();
                let state = if t.revoked_at.is_some() {
                    "revoked"
                } else if t.expires_at.is_some_and(|e| e <= chrono::Utc::now()) {
                    "expired"
                } else {
                    "active"
                };
                let scope = match (&t.project_id, &t.capabilities) {
                    (None, None) => String::new(),
                    (project, caps) => format!(
                        " [{}{}]",
                        project
                            .map(|p| format!(
                                "project {} ",
                                keys.get(&p).cloned().unwrap_or_else(|| p.to_string())
                            ))
                            .unwrap_or_default(),
                        caps.as_ref()
                            .map(|c| c.iter().map(|c| c.as_str()).collect::<Vec<_>>().join(","))
                            .unwrap_or_else(|| "all".to_owned())
                    ),
                };
                println!(
                    "{}  {:<20} {:<14} {:<8} {}{scope}",
                    t.id,
                    t.user_id,
                    roles.join(","),
                    state,
                    t.name.unwrap_or_default()
                );
            }
        }
        TokenAction::Revoke { id } => {
            let t = service::revoke(db, id).await.map_err(to_anyhow)?;
            println!("revoked {} ({})", t.id, t.user_id);
        }
    }
    Ok(())
}

/// The command line's projects, as the tables' owner (an operator on the server's machine):
/// the same services as the API, with the operator acting as an admin.
async fn project_command(db: &DatabaseConnection, action: ProjectAction) -> anyhow::Result<()> {
    use crate::projects::service;
    let to_anyhow = |e: crate::error::AppError| anyhow::anyhow!("{}", error_text(e));
    let operator = crate::auth::Identity::unscoped("operator", vec![crate::auth::Role::Admin]);
    match action {
        ProjectAction::Create {
            key,
            name,
            description,
        } => {
            let name = name.unwrap_or_else(|| key.clone());
            let p = service::create(db, &key, &name, description.as_deref(), "operator")
                .await
                .map_err(to_anyhow)?;
            println!("created project {} ({})", p.key, p.id);
        }
        ProjectAction::List => {
            let projects = all_projects(db).await?;
            let ids: Vec<uuid::Uuid> = projects.iter().map(|p| p.id).collect();
            let members = service::members_of(db, &ids).await.map_err(to_anyhow)?;
            for p in projects {
                let list: Vec<String> = members
                    .get(&p.id)
                    .map(|ms| {
                        ms.iter()
                            .map(|m| format!("{} ({})", m.user_id, m.role))
                            .collect()
                    })
                    .unwrap_or_default();
                println!(
                    "{:<24} {}{}  {}",
                    p.key,
                    p.name,
                    if p.archived { " [archived]" } else { "" },
                    list.join(", ")
                );
            }
        }
        ProjectAction::AddMember { key, user, role } => {
            let (p, m) = service::set_member(db, &operator, &key, &user, role.into())
                .await
                .map_err(to_anyhow)?;
            println!("{} is {} of {}", m.user_id, m.role, p.key);
        }
        ProjectAction::RemoveMember { key, user } => {
            let p = service::remove_member(db, &operator, &key, &user)
                .await
                .map_err(to_anyhow)?;
            println!("removed {user} from {}", p.key);
        }
    }
    Ok(())
}

/// Every project, archived too, by key (as the tables' owner), a page of 100 at a time.
async fn all_projects(db: &DatabaseConnection) -> anyhow::Result<Vec<entity::project::Model>> {
    let mut projects = Vec::new();
    let mut after = None;
    loop {
        let (page, _) = crate::projects::service::list(
            db,
            crate::projects::service::ProjectFilter {
                include_archived: Some(true),
                search: None,
            },
            &crate::pagination::PageArgs {
                first: Some(100),
                after: after.take(),
                ..Default::default()
            },
            crate::pagination::Selected {
                rows: true,
                total: false,
            },
        )
        .await
        .map_err(|e| anyhow::anyhow!("{}", error_text(e)))?;
        let more = page.has_next_page;
        after = page.rows.last().map(|(cursor, _)| cursor.clone());
        projects.extend(page.rows.into_iter().map(|(_, p)| p));
        if !more || after.is_none() {
            return Ok(projects);
        }
    }
}

/// A service error as a line of text for the command line.
fn error_text(e: crate::error::AppError) -> String {
    match e {
        // an operator sees the cause a client would not
        crate::error::AppError::Internal { cause } => cause,
        other => other.message(),
    }
}

/// User id of the token created on the first start of a managed database.
pub const LOCAL_ADMIN_USER: &str = "local-admin";

/// On a managed database with no token at all, creates an admin token and prints it with a
/// request that uses it and the command that makes more (as `cargo run` runs it, on this
/// server's data directory, while the server runs), so that a first start is never a dead end.
async fn ensure_first_token(
    db: &DatabaseConnection,
    addr: SocketAddr,
    data_dir: &Path,
) -> anyhow::Result<()> {
    use crate::auth::service;
    let to_anyhow = |e: crate::error::AppError| anyhow::anyhow!("{}", error_text(e));
    if service::any_exists(db).await.map_err(to_anyhow)? {
        return Ok(());
    }
    let (_, token) = service::create(
        db,
        &service::NewToken {
            user_id: LOCAL_ADMIN_USER,
            roles: &[crate::auth::Role::Admin],
            name: Some("created on first start"),
            ..Default::default()
        },
    )
    .await
    .map_err(to_anyhow)?;
    let data_dir = if data_dir == Path::new(crate::config::DEFAULT_DATA_DIR) {
        String::new()
    } else {
        format!(" --data-dir {}", shell_word(&data_dir.to_string_lossy()))
    };
    eprintln!(
        "\nFirst start: an admin API token was created (shown once):\n\n  {token}\n\n\
         More tokens, beside the running server:\n  \
         cargo run --release -- token create --user alice --role member --name laptop{data_dir}\n\n\
         Try it:\n  curl -s http://{addr}/graphql -H 'Authorization: Bearer {token}' \\\n    \
         -H 'Content-Type: application/json' -d '{{\"query\":\"{{ viewer {{ userId roles }} }}\"}}'\n\n\
         In a browser: the dashboard, http://{addr}/#token={token}\n  \
         (the link keeps the token in the browser), and GraphiQL, http://{addr}/graphql\n  \
         (paste the token into its API token field).\n"
    );
    Ok(())
}

/// `word` as one shell word: quoted unless it is plain.
fn shell_word(word: &str) -> String {
    let plain = !word.is_empty()
        && word
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"/._-+,:=@%".contains(&b));
    if plain {
        word.to_owned()
    } else {
        format!("'{}'", word.replace('\'', r"'\''"))
    }
}

/// Work beside a server, started once it listens (given its pool and address) and dropped
/// when it stops: `demo`'s seeding and simulated CI.
pub type Beside = Box<
    dyn FnOnce(DatabaseConnection, SocketAddr) -> futures::future::BoxFuture<'static, ()> + Send,
>;

async fn serve(cli: &Cli, beside: Option<Beside>) -> anyhow::Result<()> {
    let open = open_database_as(
        &cli.database,
        cli.maintenance_statement_timeout,
        managed::Role::Serve,
    )
    .await?;
    let result = serve_on(&open, cli, beside).await;
    open.close().await?;
    result
}

async fn serve_on(open: &OpenDatabase, cli: &Cli, beside: Option<Beside>) -> anyhow::Result<()> {
    if cli.no_migrate {
        tracing::info!("--no-migrate: pending migrations are not applied");
    } else {
        migration::Migrator::up(&open.db, None)
            .await
            .context("applying migrations")?;
    }
    let app = Application::build_with(open.db.clone(), &open.url, cli.listen, cli.server_options())
        .await?;
    let addr = app.local_addr()?;
    if open.cluster.is_some() {
        ensure_first_token(&open.db, addr, &cli.database.data_dir).await?;
    }
    let stop = shutdown_signal();
    open.announce_serving(addr);
    tracing::info!(
        "Dashboard on http://{addr}/ ; GraphiQL on http://{addr}/graphql ; WebSocket \
         subscriptions on ws://{addr}/graphql/ws ; metrics on http://{addr}/metrics"
    );
    let refresher = tokio::spawn(refresh_analytics(open.db.clone()));
    let beside = beside.map(|start| AbortOnDrop(tokio::spawn(start(open.db.clone(), addr))));
    let served = app.run_until(stop).await;
    drop(beside);
    refresher.abort();
    served?;
    tracing::info!("server stopped");
    Ok(())
}

/// How often the server recomputes the kept flakiness of the cases changed meanwhile, and
/// folds the failures noted meanwhile into the kept failure groups.
pub const ANALYTICS_REFRESH_INTERVAL: Duration = Duration::from_secs(5);

/// Keeps the analytics summaries close to the data in the background, so that the readers
/// (who refresh first, and so are always exact) rarely find anything left to recompute.
async fn refresh_analytics(db: DatabaseConnection) {
    let mut ticks = tokio::time::interval_at(
        tokio::time::Instant::now() + ANALYTICS_REFRESH_INTERVAL,
        ANALYTICS_REFRESH_INTERVAL,
    );
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticks.tick().await;
        match crate::analytics::service::refresh_flakiness(&db).await {
            Ok(0) => {}
            Ok(n) => tracing::debug!(cases = n, "flakiness refreshed"),
            Err(e) => tracing::warn!(error = ?e, "refreshing flakiness failed"),
        }
        // expired quarantines stopped counting at their expiry; released here, audited
        match crate::quarantine::service::release_expired(&db).await {
            Ok(0) => {}
            Ok(n) => tracing::info!(quarantines = n, "expired quarantines released"),
            Err(e) => tracing::warn!(error = ?e, "releasing expired quarantines failed"),
        }
        match crate::analytics::failures::fold(&db).await {
            Ok(0) => {}
            Ok(n) => tracing::debug!(notes = n, "failure groups folded"),
            Err(e) => tracing::warn!(error = ?e, "folding failure groups failed"),
        }
    }
}
