//! The embedded default: the server binary creating, reusing, stopping and recovering its own
//! PostgreSQL cluster.

use std::os::fd::FromRawFd;
use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use tokio::io::AsyncBufReadExt;
use tokio::process::{Child, Command};
use tokio::sync::watch;

use api::db::managed::{ClusterOptions, ManagedCluster};

use crate::helpers::db::temp_data_dir;

/// Generous: a cold start runs initdb and the migrations.
const START_TIMEOUT: Duration = Duration::from_secs(120);

/// A clean stop writes a checkpoint and stops PostgreSQL.
const STOP_TIMEOUT: Duration = Duration::from_secs(60);

/// What the server logs once it is bound and about to serve.
const SERVING_LINE: &str = "GraphiQL on http://";

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

struct Server {
    child: Child,
    pid: i32,
    port: u16,
    /// Every line the server wrote to stderr so far.
    stderr: watch::Receiver<Vec<String>>,
}

impl Server {
    /// The admin token the first start printed, if it did (it is printed before the server
    /// says it serves, so after [`wait_healthy`] it is there or never will be).
    fn printed_token(&self) -> Option<String> {
        self.stderr.borrow().iter().find_map(|l| {
            l.split_whitespace()
                .find(|w| w.starts_with("jbts_"))
                .map(str::to_owned)
        })
    }

    fn signal(&self, signal: Signal) {
        kill(Pid::from_raw(self.pid), signal).expect("signalling the server");
    }
}

impl Drop for Server {
    /// A failing test must not leave its server (and so its cluster) running: SIGTERM makes
    /// it stop its cluster itself.
    fn drop(&mut self) {
        if self.child.try_wait().ok().flatten().is_none() {
            let _ = kill(Pid::from_raw(self.pid), Signal::SIGTERM);
        }
    }
}

fn start_server(data_dir: &Path) -> Server {
    let port = free_port();
    let mut child = Command::new(env!("CARGO_BIN_EXE_jbtestsuite"))
        .arg("--data-dir")
        .arg(data_dir)
        .arg("--listen")
        .arg(format!("127.0.0.1:{port}"))
        .env_remove("DATABASE_URL")
        .env("RUST_LOG", "warn,api::startup=info")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawning the server");
    let pid = child.id().expect("a running child") as i32;
    let (lines_tx, stderr) = watch::channel(Vec::new());
    if let Some(pipe) = child.stderr.take() {
        tokio::spawn(async move {
            let mut lines = tokio::io::BufReader::new(pipe).lines();
            while let Ok(Some(line)) = lines.next_line().await {
                eprintln!("[server] {line}");
                lines_tx.send_modify(|all| all.push(line));
            }
        });
    }
    Server {
        child,
        pid,
        port,
        stderr,
    }
}

/// Waits until the server says it serves; fails if it exits first or takes too long.
async fn wait_healthy(server: &mut Server) {
    let mut lines = server.stderr.clone();
    let serving = lines.wait_for(|all| all.iter().any(|l| l.contains(SERVING_LINE)));
    tokio::select! {
        status = server.child.wait() => panic!("server exited during start: {status:?}"),
        result = tokio::time::timeout(START_TIMEOUT, serving) => {
            assert!(matches!(result, Ok(Ok(_))), "server not serving in time");
        }
    }
}

async fn wait_exit(server: &mut Server) -> std::process::ExitStatus {
    tokio::time::timeout(STOP_TIMEOUT, server.child.wait())
        .await
        .expect("server did not exit in time")
        .expect("waiting for the server")
}

fn postmaster_pid(data_dir: &Path) -> Option<i32> {
    std::fs::read_to_string(data_dir.join("pgdata/postmaster.pid"))
        .ok()?
        .lines()
        .next()?
        .trim()
        .parse()
        .ok()
}

fn alive(pid: i32) -> bool {
    kill(Pid::from_raw(pid), None).is_ok()
        && std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|s| !s.contains(") Z "))
}

/// The postmaster is not this process's child, so its exit is awaited through a pidfd, which
/// becomes readable when the process ends (Linux 5.3+).
async fn wait_dead(pid: i32) {
    // SAFETY: pidfd_open takes a pid and flags and returns a new descriptor or -1.
    let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) };
    if fd < 0 {
        // no such process any more
        assert!(!alive(pid), "pidfd_open failed for a live postmaster {pid}");
        return;
    }
    // SAFETY: the descriptor was just opened and is owned by nothing else.
    let fd = unsafe { std::os::fd::OwnedFd::from_raw_fd(fd as i32) };
    // SAFETY: the OwnedFd is moved in and stays open, the same descriptor, until dropped.
    let exited = unsafe {
        tokio::io::unix::AsyncFd::register_with_interest(fd, tokio::io::Interest::READABLE)
    }
    .map_err(|e| e.to_string())
    .expect("watching the pidfd");
    let ended = tokio::time::timeout(Duration::from_secs(30), exited.readable()).await;
    assert!(ended.is_ok(), "postmaster {pid} still running");
    assert!(!alive(pid), "postmaster {pid} still running");
}

async fn sql(data_dir: &Path, statement: &str) -> Vec<String> {
    let url = format!(
        "postgres://postgres@localhost:5432/jbtestsuite?host={}",
        data_dir.join("run").display()
    );
    let pool = sqlx::postgres::PgPoolOptions::new()
        .max_connections(1)
        .connect(&url)
        .await
        .expect("connecting over the managed socket");
    let rows: Vec<String> = crate::helpers::q::query_scalar(statement)
        .fetch_all(&pool)
        .await
        .expect(statement);
    pool.close().await;
    rows
}

async fn graphql_ok(port: u16, token: &str) {
    let body: serde_json::Value = reqwest::Client::new()
        .post(format!("http://127.0.0.1:{port}/graphql"))
        .bearer_auth(token)
        .json(&serde_json::json!({"query": "{ serverInfo { databaseReachable } }"}))
        .send()
        .await
        .expect("request")
        .json()
        .await
        .expect("json");
    assert_eq!(
        body["data"]["serverInfo"]["databaseReachable"], true,
        "{body}"
    );
}

#[tokio::test]
async fn server_creates_its_cluster_stops_it_on_sigterm_and_reuses_it_on_restart() {
    let dir = temp_data_dir("restart");
    let mut server = start_server(&dir);
    wait_healthy(&mut server).await;
    let token = server
        .printed_token()
        .expect("the first start prints an admin token");
    graphql_ok(server.port, &token).await;
    assert!(
        dir.join("pgdata/PG_VERSION").is_file(),
        "cluster not in the data dir"
    );
    let applied = sql(
        &dir,
        "SELECT version::text FROM seaql_migrations ORDER BY 1",
    )
    .await;
    assert!(!applied.is_empty(), "migrations were not applied");
    sql(&dir, "CREATE TABLE restart_marker(id int)").await;
    let pid = postmaster_pid(&dir).expect("postmaster.pid while running");

    server.signal(Signal::SIGTERM);
    let status = wait_exit(&mut server).await;
    assert!(status.success(), "server exit status {status}");
    assert!(
        !alive(pid),
        "PostgreSQL still running after the server stopped"
    );
    assert!(
        !dir.join("pgdata/postmaster.pid").exists(),
        "cluster not stopped cleanly"
    );

    let mut again = start_server(&dir);
    wait_healthy(&mut again).await;
    graphql_ok(again.port, &token).await;
    assert_eq!(
        again.printed_token(),
        None,
        "a second start must not mint another token"
    );
    let marker = sql(&dir, "SELECT to_regclass('restart_marker')::text").await;
    assert_eq!(marker, vec!["restart_marker".to_owned()], "data not reused");
    again.signal(Signal::SIGINT);
    assert!(wait_exit(&mut again).await.success());
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn server_killed_hard_takes_its_cluster_down_and_the_next_start_recovers() {
    let dir = temp_data_dir("killed");
    let mut server = start_server(&dir);
    wait_healthy(&mut server).await;
    let token = server
        .printed_token()
        .expect("the first start prints an admin token");
    let pid = postmaster_pid(&dir).expect("postmaster.pid while running");
    server.signal(Signal::SIGKILL);
    let _ = wait_exit(&mut server).await;
    wait_dead(pid).await;

    let mut again = start_server(&dir);
    wait_healthy(&mut again).await;
    graphql_ok(again.port, &token).await;
    again.signal(Signal::SIGTERM);
    assert!(wait_exit(&mut again).await.success());
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn second_server_on_the_same_data_dir_is_refused() {
    let dir = temp_data_dir("inuse");
    let mut first = start_server(&dir);
    wait_healthy(&mut first).await;
    let token = first
        .printed_token()
        .expect("the first start prints an admin token");
    let mut second = start_server(&dir);
    let status = wait_exit(&mut second).await;
    assert!(!status.success(), "a second server shared the data dir");
    graphql_ok(first.port, &token).await;
    first.signal(Signal::SIGTERM);
    assert!(wait_exit(&mut first).await.success());
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn without_postgres_binaries_the_server_says_what_to_install_and_creates_nothing() {
    let empty = tempfile::tempdir().expect("tempdir");
    let data_dir = temp_data_dir("nobin");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_jbtestsuite"))
        .arg("--data-dir")
        .arg(&data_dir)
        .arg("--listen")
        .arg("127.0.0.1:0")
        .env_remove("DATABASE_URL")
        .env("JBTS_PG_BIN_DIR", empty.path())
        .stdin(Stdio::null())
        .output()
        .expect("running the server");
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("apt-get install postgresql"), "{stderr}");
    assert!(stderr.contains("DATABASE_URL"), "{stderr}");
    assert!(!data_dir.exists(), "data dir created anyway");
}

#[test]
fn export_schema_prints_the_sdl() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_jbtestsuite"))
        .arg("export-schema")
        .output()
        .expect("running export-schema");
    assert!(out.status.success());
    assert_eq!(String::from_utf8_lossy(&out.stdout), api::schema::sdl());
}

/// The permission bits of `path` (not following a final symlink).
fn mode(path: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::symlink_metadata(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .permissions()
        .mode()
        & 0o7777
}

/// The modes that keep the cluster's files to the service's users: its directories 0700, the
/// files the service writes 0600.
fn assert_private(cluster: &ManagedCluster) {
    let data_dir = cluster.data_dir();
    let cluster_dir = cluster.cluster_dir();
    for dir in [
        data_dir.to_path_buf(),
        cluster_dir.to_path_buf(),
        cluster_dir.join("pgdata"),
        cluster_dir.join("run"),
    ] {
        assert_eq!(mode(&dir), 0o700, "{} is {:o}", dir.display(), mode(&dir));
    }
    for file in [
        cluster_dir.join("postgresql.log"),
        data_dir.join("jbtestsuite.lock"),
    ] {
        assert_eq!(
            mode(&file),
            0o600,
            "{} is {:o}",
            file.display(),
            mode(&file)
        );
    }
}

async fn start_cluster(dir: &Path) -> ManagedCluster {
    let dir = dir.to_path_buf();
    let options = ClusterOptions {
        max_connections: 10,
        ephemeral: true,
    };
    tokio::time::timeout(
        START_TIMEOUT,
        tokio::task::spawn_blocking(move || ManagedCluster::start(&dir, &options)),
    )
    .await
    .expect("the cluster started in time")
    .expect("joining the start")
    .expect("starting the cluster")
}

async fn stop_cluster(cluster: ManagedCluster) {
    tokio::task::spawn_blocking(move || cluster.stop())
        .await
        .expect("joining the stop")
        .expect("stopping the cluster");
}

#[tokio::test]
async fn managed_cluster_when_created_then_its_directories_and_log_are_private() {
    let dir = temp_data_dir("modes");
    let cluster = start_cluster(&dir).await;
    assert_private(&cluster);
    stop_cluster(cluster).await;
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn managed_cluster_when_its_data_dir_was_left_open_then_start_makes_it_private() {
    use std::os::unix::fs::PermissionsExt;
    let dir = temp_data_dir("openmodes");
    let cluster = start_cluster(&dir).await;
    let cluster_dir = cluster.cluster_dir().to_path_buf();
    stop_cluster(cluster).await;
    // as an older version left it
    for (path, mode) in [
        (dir.clone(), 0o755),
        (cluster_dir.clone(), 0o755),
        (cluster_dir.join("postgresql.log"), 0o644),
        (dir.join("jbtestsuite.lock"), 0o644),
    ] {
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode))
            .expect("loosening a mode");
    }
    let cluster = start_cluster(&dir).await;
    assert_private(&cluster);
    stop_cluster(cluster).await;
    let _ = std::fs::remove_dir_all(&dir);
}
