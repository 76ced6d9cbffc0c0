//! The test cluster and per-test databases.
//!
//! One managed cluster per test process (the server's own code), started on first use under
//! the system temp dir with settings for speed (no fsync), or `TEST_DATABASE_URL` when set
//! (a maintenance database URL of a server the tests may create databases on). A template
//! database is migrated once; each test gets a clone of it (`CREATE DATABASE ... TEMPLATE`),
//! dropped when the test ends. Separate databases also isolate LISTEN/NOTIFY between tests.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use api::db::managed::{ClusterOptions, ManagedCluster};
use migration::MigratorTrait;
use sqlx::{AssertSqlSafe, Connection, Executor, PgConnection};

/// Connections the test cluster accepts: tests run in parallel and each app holds a pool plus
/// a listener, besides the test's own connections.
const TEST_MAX_CONNECTIONS: u32 = 500;

/// Prefix of test cluster directories under the system temp dir.
const CLUSTER_DIR_PREFIX: &str = "jbts-test-";

struct Harness {
    /// URL of the maintenance database (`postgres`), where databases are created and dropped.
    admin_url: String,
    template: String,
    /// Kept for the life of the process; its postmaster dies with the process.
    _cluster: Option<ManagedCluster>,
}

static HARNESS: OnceLock<Harness> = OnceLock::new();

fn harness() -> &'static Harness {
    HARNESS.get_or_init(|| {
        // Initialise on a thread of its own with its own runtime: the calling test's runtime
        // may be a current-thread one, and nothing created here may be tied to it.
        std::thread::spawn(|| {
            tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("test harness runtime")
                .block_on(init_harness())
        })
        .join()
        .expect("test harness initialisation panicked")
    })
}

async fn init_harness() -> Harness {
    let (admin_url, cluster) = match std::env::var("TEST_DATABASE_URL") {
        Ok(url) if !url.is_empty() => (url, None),
        _ => {
            remove_stale_clusters();
            let dir =
                std::env::temp_dir().join(format!("{CLUSTER_DIR_PREFIX}{}", std::process::id()));
            let _ = std::fs::remove_dir_all(&dir);
            let options = ClusterOptions {
                max_connections: TEST_MAX_CONNECTIONS,
                ephemeral: true,
            };
            let cluster =
                tokio::task::spawn_blocking(move || ManagedCluster::start(&dir, &options))
                    .await
                    .expect("join")
                    .expect("starting the test PostgreSQL cluster");
            (cluster.url("postgres"), Some(cluster))
        }
    };
    let template = format!("jbts_template_{}", std::process::id());
    let mut admin = PgConnection::connect(&admin_url)
        .await
        .expect("connecting to the test server");
    admin
        .execute(AssertSqlSafe(format!(
            "DROP DATABASE IF EXISTS {template} WITH (FORCE)"
        )))
        .await
        .expect("dropping an old template");
    admin
        .execute(AssertSqlSafe(format!("CREATE DATABASE {template}")))
        .await
        .expect("creating the template database");
    let template_url = database_url(&admin_url, &template);
    let db = sea_orm::Database::connect(&template_url)
        .await
        .expect("connecting to the template");
    migration::Migrator::up(&db, None)
        .await
        .expect("migrating the template");
    db.close().await.expect("closing the template connection");
    Harness {
        admin_url,
        template,
        _cluster: cluster,
    }
}

/// Clusters of earlier test processes that were killed before they could clean up.
fn remove_stale_clusters() {
    let Ok(entries) = std::fs::read_dir(std::env::temp_dir()) else {
        return;
    };
    for entry in entries.filter_map(Result::ok) {
        let name = entry.file_name();
        let Some(pid) = name
            .to_str()
            .and_then(|n| n.strip_prefix(CLUSTER_DIR_PREFIX))
            .and_then(|p| p.parse::<i32>().ok())
        else {
            continue;
        };
        if !Path::new(&format!("/proc/{pid}")).exists() {
            let _ = std::fs::remove_dir_all(entry.path());
        }
    }
}

/// `url` with its database replaced by `database` (query parameters kept).
pub fn database_url(url: &str, database: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((b, q)) => (b, Some(q)),
        None => (url, None),
    };
    let scheme_end = base.find("://").map(|i| i + 3).unwrap_or(0);
    let path_start = base[scheme_end..]
        .find('/')
        .map(|i| i + scheme_end)
        .unwrap_or(base.len());
    let mut out = format!("{}/{}", &base[..path_start], database);
    if let Some(q) = query {
        out.push('?');
        out.push_str(q);
    }
    out
}

/// A database of the test's own, cloned from the migrated template, dropped on drop.
pub struct TestDb {
    pub name: String,
    pub url: String,
    /// The maintenance database it is dropped through.
    admin_url: String,
}

impl TestDb {
    /// A fresh, migrated database.
    pub async fn new() -> Self {
        let h = harness();
        let name = format!("jbts_t_{}", uuid::Uuid::new_v4().simple());
        let mut admin = PgConnection::connect(&h.admin_url)
            .await
            .expect("connecting to the test server");
        admin
            .execute(AssertSqlSafe(format!(
                "CREATE DATABASE {name} TEMPLATE {}",
                h.template
            )))
            .await
            .expect("cloning the template database");
        let _ = admin.close().await;
        Self {
            url: database_url(&h.admin_url, &name),
            name,
            admin_url: h.admin_url.clone(),
        }
    }

    /// A fresh database on the server of `admin_url` (a cluster of the test's own), migrated
    /// from scratch.
    pub async fn migrated_on(admin_url: &str) -> Self {
        let name = format!("jbts_t_{}", uuid::Uuid::new_v4().simple());
        let mut admin = PgConnection::connect(admin_url)
            .await
            .expect("connecting to the test's server");
        admin
            .execute(AssertSqlSafe(format!("CREATE DATABASE {name}")))
            .await
            .expect("creating the test database");
        let _ = admin.close().await;
        let url = database_url(admin_url, &name);
        let db = sea_orm::Database::connect(&url)
            .await
            .expect("connecting to the test database");
        migration::Migrator::up(&db, None)
            .await
            .expect("migrating the test database");
        db.close().await.expect("closing the migration connection");
        Self {
            url,
            name,
            admin_url: admin_url.to_owned(),
        }
    }

    /// A plain sqlx pool on this database, for assertions about what it holds.
    pub async fn pool(&self) -> sqlx::PgPool {
        sqlx::postgres::PgPoolOptions::new()
            .max_connections(4)
            .connect(&self.url)
            .await
            .expect("connecting to the test database")
    }

    /// A SeaORM connection on this database.
    pub async fn sea(&self) -> sea_orm::DatabaseConnection {
        sea_orm::Database::connect(&self.url)
            .await
            .expect("connecting to the test database")
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        let admin_url = self.admin_url.clone();
        let name = self.name.clone();
        // Drop runs inside the test's runtime, which cannot be blocked on: use a thread.
        let _ = std::thread::spawn(move || {
            let Ok(rt) = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            else {
                return;
            };
            rt.block_on(async move {
                if let Ok(mut admin) = PgConnection::connect(&admin_url).await {
                    let _ = admin
                        .execute(AssertSqlSafe(format!(
                            "DROP DATABASE IF EXISTS {name} WITH (FORCE)"
                        )))
                        .await;
                    let _ = admin.close().await;
                }
            });
        })
        .join();
    }
}

/// A pool on the maintenance database of the test server.
pub async fn admin_pool() -> sqlx::PgPool {
    sqlx::postgres::PgPoolOptions::new()
        .max_connections(1)
        .connect(&harness().admin_url)
        .await
        .expect("connecting to the maintenance database")
}

/// A temp directory path for a test's own data directory (not created).
pub fn temp_data_dir(tag: &str) -> PathBuf {
    std::env::temp_dir().join(format!(
        "jbts-{tag}-{}-{}",
        std::process::id(),
        &uuid::Uuid::new_v4().simple().to_string()[..8]
    ))
}
