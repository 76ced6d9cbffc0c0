//! Database access: the managed cluster or an external server, the connection pool, and
//! migrations.

pub mod managed;
pub mod replicas;
pub mod url;

use std::time::Duration;

use sea_orm::{ConnectOptions, ConnectionTrait, Database, DatabaseConnection, DbErr, Statement};

/// Connections a server keeps in its pool. Requests hold one for their transaction; two cores
/// saturate long before 20 concurrent statements, so more would only queue inside PostgreSQL.
pub const POOL_MAX_CONNECTIONS: u32 = 20;

/// How long a request waits for a pooled connection before failing instead of hanging.
pub const POOL_ACQUIRE_TIMEOUT: Duration = Duration::from_secs(10);

/// How long establishing a new connection may take.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// Default longest statement of the pool's own work (migrations, maintenance, archival,
/// refreshes, token lookups): requests set their own, shorter limit in their transactions.
pub const DEFAULT_MAINTENANCE_STATEMENT_TIMEOUT: Duration = Duration::from_secs(3600);

/// PostgreSQL's JIT compilation, off for every connection. Statements that read many
/// executions under row-level security (a policy check per row) are costed far above
/// `jit_above_cost`, so JIT compiled them on every call: measured at 1M executions, 3 s of
/// compiling for 0.1 s of work comparing two 10,000-test runs. The service's statements are
/// index-served and short; none gains from it.
const JIT: &str = "off";

/// Opens the connection pool for `url`, its statements limited to
/// [`DEFAULT_MAINTENANCE_STATEMENT_TIMEOUT`].
pub async fn connect(url: &str, max_connections: u32) -> Result<DatabaseConnection, DbErr> {
    connect_with(url, max_connections, DEFAULT_MAINTENANCE_STATEMENT_TIMEOUT).await
}

/// Opens the connection pool for `url` (any libpq form, see [`url::normalize`]); a statement
/// of its own (outside a request's transaction, which sets a shorter limit) may run for
/// `statement_timeout`.
#[tracing::instrument(skip_all)]
pub async fn connect_with(
    url: &str,
    max_connections: u32,
    statement_timeout: Duration,
) -> Result<DatabaseConnection, DbErr> {
    let mut options = ConnectOptions::new(url::normalize(url));
    let timeout = format!("{}", statement_timeout.as_millis());
    options
        .max_connections(max_connections)
        .min_connections(1)
        .connect_timeout(CONNECT_TIMEOUT)
        .acquire_timeout(POOL_ACQUIRE_TIMEOUT)
        .sqlx_logging(false)
        .map_sqlx_postgres_opts(move |o| {
            o.options([("statement_timeout", timeout.as_str()), ("jit", JIT)])
        });
    Database::connect(options).await
}

/// Creates `database` through the maintenance connection `admin` unless it exists.
pub async fn ensure_database(admin: &DatabaseConnection, database: &str) -> Result<bool, DbErr> {
    let exists = admin
        .query_one_raw(Statement::from_sql_and_values(
            sea_orm::DbBackend::Postgres,
            "SELECT 1 FROM pg_database WHERE datname = $1",
            [database.into()],
        ))
        .await?
        .is_some();
    if !exists {
        admin
            .execute_unprepared(&format!("CREATE DATABASE {}", quote_ident(database)))
            .await?;
    }
    Ok(!exists)
}

/// Quotes an SQL identifier.
pub fn quote_ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// Whether the database answers a trivial query.
pub async fn ping(db: &DatabaseConnection) -> bool {
    db.execute_unprepared("SELECT 1").await.is_ok()
}

/// `SELECT version()`, or None when the database does not answer.
pub async fn server_version(db: &DatabaseConnection) -> Option<String> {
    let row = db
        .query_one_raw(Statement::from_string(
            sea_orm::DbBackend::Postgres,
            "SELECT version() AS v",
        ))
        .await
        .ok()??;
    row.try_get::<String>("", "v").ok()
}
