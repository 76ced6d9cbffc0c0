//! A primary cluster of the test's own with a streaming standby of it (`pg_basebackup -R`,
//! the server's own [`ManagedCluster::start_standby`]), and the server reading from the
//! standby: replay paused and resumed, the standby stopped and started again.

use std::path::PathBuf;
use std::time::Duration;

use api::db::managed::{ClusterOptions, ManagedCluster};
use serde_json::Value;
use sqlx::{Connection, PgConnection};

use super::app::{TestApp, spawn_app_on};
use super::db::{TestDb, temp_data_dir};
use super::wait::eventually;

/// Connections of each cluster: one server's pools and the test's own, and a hot standby
/// needs at least the primary's.
const MAX_CONNECTIONS: u32 = 100;

/// How long the standby may take to replay what the primary wrote, to pause or resume, to
/// stop or start, and the server to see it.
pub const REPLICA_TIMEOUT: Duration = Duration::from_secs(30);

fn options() -> ClusterOptions {
    ClusterOptions {
        max_connections: MAX_CONNECTIONS,
        ephemeral: true,
    }
}

/// The directories of the test's clusters, removed once both stopped.
struct Dirs(Vec<PathBuf>);

impl Drop for Dirs {
    fn drop(&mut self) {
        for dir in &self.0 {
            let _ = std::fs::remove_dir_all(dir);
        }
    }
}

/// The server on a primary with a streaming standby as its read replica. Fields drop in
/// order: the server, the standby, the primary, their directories.
pub struct Replicated {
    pub app: TestApp,
    /// Held while the test runs: the replica figures its assertions read are the process's
    /// metrics, which every server with replicas adds to, so such tests take turns.
    _turn: tokio::sync::MutexGuard<'static, ()>,
    standby: Option<ManagedCluster>,
    _primary: ManagedCluster,
    standby_dir: PathBuf,
    _dirs: Dirs,
}

impl Replicated {
    /// A migrated primary, its standby, and the server reading from the standby while it is
    /// within `max_lag`.
    pub async fn start(max_lag: Duration) -> Self {
        static TURN: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());
        let turn = TURN.lock().await;
        let primary_dir = temp_data_dir("primary");
        let standby_dir = temp_data_dir("standby");
        let dirs = Dirs(vec![primary_dir.clone(), standby_dir.clone()]);
        let dir = primary_dir.clone();
        let primary = tokio::task::spawn_blocking(move || ManagedCluster::start(&dir, &options()))
            .await
            .expect("join")
            .expect("starting the primary");
        let db = TestDb::migrated_on(&primary.url("postgres")).await;
        let (primary, standby) = {
            let dir = standby_dir.clone();
            tokio::task::spawn_blocking(move || {
                let standby = primary.start_standby(&dir);
                (primary, standby)
            })
            .await
            .expect("join")
        };
        let standby = standby.expect("starting the standby");
        let server = api::config::ServerOptions {
            read_replicas: api::config::ReplicaOptions {
                urls: vec![standby.url(&db.name)],
                max_lag,
            },
            ..Default::default()
        };
        let app = spawn_app_on(db, server).await;
        let this = Self {
            app,
            _turn: turn,
            standby: Some(standby),
            _primary: primary,
            standby_dir,
            _dirs: dirs,
        };
        this.wait_for_state("ok").await;
        this
    }

    /// The URL of the test's database on the standby, as the server reads it.
    pub fn standby_url(&self) -> String {
        let standby = self.standby.as_ref().expect("the standby runs");
        standby.url(&self.app.db.name)
    }

    /// A superuser connection to the standby's maintenance database.
    async fn standby_admin(&self) -> sqlx::PgPool {
        let standby = self.standby.as_ref().expect("the standby runs");
        sqlx::postgres::PgPoolOptions::new()
            .max_connections(1)
            .connect(&standby.url("postgres"))
            .await
            .expect("connecting to the standby")
    }

    /// Waits until the standby has replayed everything the primary wrote so far.
    pub async fn caught_up(&self) {
        let mut primary = PgConnection::connect(&self.app.db.url)
            .await
            .expect("connecting to the primary");
        // the test cluster commits asynchronously, and WAL that no commit follows (a lock
        // taken, say) waits for the next one to be written: one, waited for, writes it all
        sqlx::raw_sql("SET synchronous_commit = on; SELECT txid_current()")
            .execute(&mut primary)
            .await
            .expect("writing the primary's WAL");
        let (lsn,): (String,) = sqlx::query_as("SELECT pg_current_wal_insert_lsn()::text")
            .fetch_one(&mut primary)
            .await
            .expect("the primary's position");
        let standby = &self.standby_admin().await;
        let lsn = &lsn;
        eventually(
            "the standby to replay the primary's writes",
            REPLICA_TIMEOUT,
            || async move {
                let (done,): (bool,) =
                    sqlx::query_as("SELECT pg_last_wal_replay_lsn() >= $1::text::pg_lsn")
                        .bind(lsn)
                        .fetch_one(standby)
                        .await
                        .expect("the standby's position");
                done
            },
        )
        .await;
    }

    /// Pauses the standby's replay (`pg_wal_replay_pause()`), once it has replayed what the
    /// primary wrote so far, and waits until it is paused.
    pub async fn pause_replay(&self) {
        self.caught_up().await;
        let standby = &self.standby_admin().await;
        sqlx::query("SELECT pg_wal_replay_pause()")
            .execute(standby)
            .await
            .expect("pausing replay");
        eventually(
            "the standby's replay to pause",
            REPLICA_TIMEOUT,
            || async move {
                let (state,): (String,) = sqlx::query_as("SELECT pg_get_wal_replay_pause_state()")
                    .fetch_one(standby)
                    .await
                    .expect("the replay's state");
                state == "paused"
            },
        )
        .await;
    }

    /// Resumes the standby's replay.
    pub async fn resume_replay(&self) {
        let standby = self.standby_admin().await;
        sqlx::query("SELECT pg_wal_replay_resume()")
            .execute(&standby)
            .await
            .expect("resuming replay");
    }

    /// Stops the standby at once, as `pg_ctl stop -m immediate` does (SIGQUIT to its
    /// postmaster: no checkpoint, every session cut), and waits until it is gone.
    pub async fn stop_standby_immediately(&mut self) {
        use nix::sys::signal::{Signal, kill};
        use nix::unistd::Pid;
        let standby = self.standby.take().expect("the standby runs");
        let pid = Pid::from_raw(standby.pid() as i32);
        kill(pid, Signal::SIGQUIT).expect("stopping the standby");
        eventually("the standby to stop", REPLICA_TIMEOUT, || async {
            // the postmaster is reaped by the thread that started it
            kill(pid, None).is_err()
        })
        .await;
        drop(standby);
    }

    /// Starts the stopped standby again on its data directory: it recovers and streams.
    pub async fn start_standby_again(&mut self) {
        let dir = self.standby_dir.clone();
        let standby = tokio::task::spawn_blocking(move || ManagedCluster::start(&dir, &options()))
            .await
            .expect("join")
            .expect("starting the standby again");
        self.standby = Some(standby);
    }

    /// `/readyz`: status and body.
    pub async fn readyz(&self) -> (u16, Value) {
        self.app.readyz().await
    }

    /// Waits until `/readyz` shows the replica in `state` (`ok`, `lagging`, `down`).
    pub async fn wait_for_state(&self, state: &str) {
        eventually(
            &format!("the replica to be {state}"),
            REPLICA_TIMEOUT,
            || async {
                let (_, body) = self.readyz().await;
                body["readReplicas"][0]["state"] == state
            },
        )
        .await;
    }

    /// `/metrics` as text.
    pub async fn metrics(&self) -> String {
        self.app
            .http_anonymous(reqwest::Method::GET, "/metrics")
            .send()
            .await
            .expect("GET /metrics")
            .text()
            .await
            .expect("metrics text")
    }

    /// The reads counted on `target` (`replica`, `primary`) so far.
    pub async fn reads_on(&self, target: &str) -> f64 {
        let metric = format!("jbts_db_reads_total{{target=\"{target}\"}} ");
        self.metrics()
            .await
            .lines()
            .find_map(|l| l.strip_prefix(&metric))
            .map_or(0.0, |n| n.trim().parse().expect("a count"))
    }
}

impl Replicated {
    /// The reads of the server's requests counted as gone to the primary instead of the
    /// replica for `reason` (`none`, `begin_failed`, `retried`, ...).
    pub async fn fallbacks(&self, reason: &str) -> f64 {
        let metric = format!("jbts_read_replica_fallbacks_total{{reason=\"{reason}\"}} ");
        self.metrics()
            .await
            .lines()
            .find_map(|l| l.strip_prefix(&metric))
            .map_or(0.0, |n| n.trim().parse().expect("a count"))
    }

    /// Whether a statement of the server's waits for a lock on the standby.
    pub async fn reads_waiting_on_the_standby(&self) -> bool {
        let standby = self.standby_admin().await;
        let (waiting,): (i64,) = sqlx::query_as(
            "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' \
             AND datname <> 'postgres'",
        )
        .fetch_one(&standby)
        .await
        .expect("the standby's sessions");
        waiting > 0
    }
}
