//! The embedded default: the server binary creating, reusing, stopping and recovering its own
//! PostgreSQL cluster.

use std::os::fd::FromRawFd;
use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use tokio::process::Command;

use api::db::managed::{Cluster, ClusterOptions, ManagedCluster};

use crate::helpers::db::temp_data_dir;

/// Generous: a cold start runs initdb and the migrations.
const START_TIMEOUT: Duration = Duration::from_secs(120);

/// A clean stop writes a checkpoint and stops PostgreSQL.
const STOP_TIMEOUT: Duration = Duration::from_secs(60);

/// What the server logs once it is bound and about to serve.
const SERVING_LINE: &str = "GraphiQL on http://";

/// The server's and the commands' log: start-up and the managed cluster (its connection lines,
/// who holds the data directory).
const LOG_FILTER: &str = "warn,api::startup=info,api::db::managed=info";

/// A command beside a server: it connects, or starts and stops a cluster, within this.
const COMMAND_TIMEOUT: Duration = Duration::from_secs(120);

/// The server of a test (see [`crate::helpers::binary`]).
type Server = crate::helpers::binary::Running;

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

    /// The first line of the server's standard error containing `text`, waiting for it; None
    /// once the server closed its standard error without writing one, or after
    /// [`START_TIMEOUT`].
    async fn line_containing(&self, text: &str) -> Option<String> {
        let mut lines = self.stderr.clone();
        let found = |all: &Vec<String>| all.iter().find(|l| l.contains(text)).cloned();
        let wait = async {
            loop {
                if let Some(line) = found(&lines.borrow_and_update()) {
                    return Some(line);
                }
                if lines.changed().await.is_err() {
                    return found(&lines.borrow());
                }
            }
        };
        tokio::time::timeout(START_TIMEOUT, wait)
            .await
            .ok()
            .flatten()
    }

    /// Everything the server wrote to its standard error, once it closed it.
    async fn all_stderr(&self) -> String {
        let mut lines = self.stderr.clone();
        let closed = async { while lines.changed().await.is_ok() {} };
        tokio::time::timeout(STOP_TIMEOUT, closed)
            .await
            .expect("the server closed its standard error in time");
        self.stderr.borrow().join("\n")
    }

    fn signal(&self, signal: Signal) {
        kill(Pid::from_raw(self.pid), signal).expect("signalling the server");
    }
}

fn start_server(data_dir: &Path) -> Server {
    crate::helpers::binary::run("server", &[], data_dir, LOG_FILTER)
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

async fn graphql_ok(server: &Server, token: &str) {
    let body: serde_json::Value = server
        .gql(
            token,
            "{ serverInfo { databaseReachable } }",
            serde_json::json!({}),
        )
        .await
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
    graphql_ok(&server, &token).await;
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
    graphql_ok(&again, &token).await;
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
    graphql_ok(&again, &token).await;
    again.signal(Signal::SIGTERM);
    assert!(wait_exit(&mut again).await.success());
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn second_server_on_the_same_data_dir_is_refused_saying_which_process_serves() {
    let dir = temp_data_dir("inuse");
    let mut first = start_server(&dir);
    wait_healthy(&mut first).await;
    let token = first
        .printed_token()
        .expect("the first start prints an admin token");
    let mut second = start_server(&dir);
    let status = wait_exit(&mut second).await;
    assert!(!status.success(), "a second server shared the data dir");
    let refusal = second.all_stderr().await;
    for what in [
        "is in use by".to_owned(),
        format!("a jbtestsuite server (pid {}", first.pid),
        format!("serving on http://127.0.0.1:{}", first.port),
        "--data-dir".to_owned(),
        "DATABASE_URL='postgres://postgres@/jbtestsuite?host=".to_owned(),
    ] {
        assert!(refusal.contains(&what), "{what:?} not in: {refusal}");
    }
    graphql_ok(&first, &token).await;
    first.signal(Signal::SIGTERM);
    assert!(wait_exit(&mut first).await.success());
    let _ = std::fs::remove_dir_all(&dir);
}

/// Runs the binary with `args` (the data directory is the caller's to give), without
/// DATABASE_URL unless `env` sets it.
async fn run_command(args: &[&str], env: &[(&str, &str)]) -> std::process::Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_jbtestsuite"));
    cmd.args(args)
        .env_remove("DATABASE_URL")
        .env("RUST_LOG", LOG_FILTER)
        .envs(env.iter().copied())
        .stdin(Stdio::null())
        .kill_on_drop(true);
    let out = tokio::time::timeout(COMMAND_TIMEOUT, cmd.output())
        .await
        .unwrap_or_else(|_| panic!("{args:?} did not finish in time"))
        .expect("running the command");
    eprintln!(
        "[{}] {}",
        args.join(" "),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// The user a token authenticates as, asked of the server over HTTP.
async fn viewer(server: &Server, token: &str) -> String {
    let body: serde_json::Value = server
        .gql(token, "{ viewer { userId } }", serde_json::json!({}))
        .await
        .json()
        .await
        .expect("json");
    body["data"]["viewer"]["userId"]
        .as_str()
        .unwrap_or_else(|| panic!("no viewer: {body}"))
        .to_owned()
}

/// The token a `token create` printed on its standard output.
fn created_token(out: &std::process::Output) -> String {
    let stdout = String::from_utf8_lossy(&out.stdout);
    stdout
        .split_whitespace()
        .find(|w| w.starts_with("jbts_"))
        .unwrap_or_else(|| panic!("no token printed: {stdout}"))
        .to_owned()
}

#[tokio::test]
async fn token_commands_beside_a_serving_server_use_its_cluster_and_leave_it_serving() {
    let dir = temp_data_dir("beside");
    let mut server = start_server(&dir);
    wait_healthy(&mut server).await;
    let postmaster = postmaster_pid(&dir).expect("postmaster.pid while serving");
    // the command the first start suggests, as printed (after `cargo run --release --`)
    let hint = server
        .line_containing("cargo run --release -- token create")
        .await
        .expect("the first start says how to make more tokens");
    let (_, args) = hint
        .split_once("cargo run --release -- ")
        .expect("the hint runs the binary through cargo");
    let args: Vec<&str> = args.split_whitespace().collect();
    assert!(
        args.windows(2)
            .any(|w| w == ["--data-dir", dir.to_str().expect("a UTF-8 temp dir")]),
        "the hint names the server's data dir: {hint}"
    );

    let created = run_command(&args, &[]).await;
    assert!(
        created.status.success(),
        "token create beside the server failed"
    );
    let token = created_token(&created);
    let listed = run_command(
        &["token", "list", "--data-dir", dir.to_str().expect("utf-8")],
        &[],
    )
    .await;
    assert!(
        listed.status.success(),
        "token list beside the server failed"
    );
    let list = String::from_utf8_lossy(&listed.stdout);
    assert!(
        list.contains("alice") && list.contains("local-admin"),
        "{list}"
    );

    assert_eq!(viewer(&server, &token).await, "alice");
    assert_eq!(
        postmaster_pid(&dir),
        Some(postmaster),
        "the commands restarted the server's cluster"
    );
    assert!(alive(postmaster), "a command stopped the server's cluster");
    assert!(
        server
            .child
            .try_wait()
            .expect("polling the server")
            .is_none(),
        "the server stopped"
    );

    server.signal(Signal::SIGTERM);
    assert!(wait_exit(&mut server).await.success());
    assert!(!alive(postmaster), "the server did not stop its cluster");
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn command_with_no_server_running_starts_the_cluster_and_stops_it_after() {
    let dir = temp_data_dir("alone");
    let dir_arg = dir.to_str().expect("utf-8");
    let created = run_command(
        &[
            "token",
            "create",
            "--user",
            "bob",
            "--role",
            "admin",
            "--data-dir",
            dir_arg,
        ],
        &[],
    )
    .await;
    assert!(created.status.success(), "token create alone failed");
    let token = created_token(&created);
    assert!(
        dir.join("pgdata/PG_VERSION").is_file(),
        "no cluster was created"
    );
    assert!(
        !dir.join("pgdata/postmaster.pid").exists(),
        "the command left its cluster running"
    );
    assert!(
        !dir.join("jbtestsuite.owner").exists(),
        "the command left its note behind"
    );

    // and a server started afterwards finds bob's token
    let mut server = start_server(&dir);
    wait_healthy(&mut server).await;
    assert_eq!(server.printed_token(), None, "a token existed already");
    assert_eq!(viewer(&server, &token).await, "bob");
    server.signal(Signal::SIGTERM);
    assert!(wait_exit(&mut server).await.success());
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn server_started_while_a_command_runs_the_cluster_waits_for_it_then_serves() {
    let dir = temp_data_dir("waits");
    // this test process plays the command that runs the cluster
    let command = {
        let dir = dir.clone();
        let options = ClusterOptions {
            max_connections: 10,
            ephemeral: true,
        };
        tokio::task::spawn_blocking(move || ManagedCluster::start_or_attach(&dir, &options))
            .await
            .expect("joining the start")
            .expect("starting the cluster as a command")
    };
    let Cluster::Started(command) = command else {
        panic!("nothing served, yet the command found a running cluster");
    };
    let mut server = start_server(&dir);
    let waiting = server
        .line_containing("waiting for it to finish")
        .await
        .expect("the server says what it waits for");
    assert!(
        waiting.contains(&format!(
            "a jbtestsuite command (pid {}",
            std::process::id()
        )),
        "{waiting}"
    );
    assert!(
        server.child.try_wait().expect("polling").is_none(),
        "the server gave up instead of waiting"
    );
    stop_cluster(command).await;
    wait_healthy(&mut server).await;
    let token = server
        .printed_token()
        .expect("the first start prints an admin token");
    graphql_ok(&server, &token).await;
    server.signal(Signal::SIGTERM);
    assert!(wait_exit(&mut server).await.success());
    let _ = std::fs::remove_dir_all(&dir);
}

/// The `DATABASE_URL='...'` the server's log prints.
async fn printed_database_url(server: &Server) -> String {
    let line = server
        .line_containing("DATABASE_URL='")
        .await
        .expect("the log prints a DATABASE_URL");
    let (_, rest) = line.split_once("DATABASE_URL='").expect("quoted");
    rest.split_once('\'')
        .map(|(url, _)| url.to_owned())
        .expect("closing quote")
}

#[tokio::test]
async fn printed_database_url_when_used_by_a_command_and_a_pool_then_both_connect() {
    let dir = temp_data_dir("dburl");
    let mut server = start_server(&dir);
    wait_healthy(&mut server).await;
    let url = printed_database_url(&server).await;
    assert!(
        url.starts_with("postgres://postgres@/jbtestsuite?host=/"),
        "{url}"
    );

    let pool = api::db::connect(&url, 1).await.expect("connecting with it");
    assert!(api::db::ping(&pool).await);
    let _ = pool.close().await;
    // a command given it (and a data dir where nothing is) uses the server's database
    let elsewhere = temp_data_dir("dburl-elsewhere");
    let listed = run_command(
        &[
            "token",
            "list",
            "--data-dir",
            elsewhere.to_str().expect("utf-8"),
        ],
        &[("DATABASE_URL", &url)],
    )
    .await;
    assert!(listed.status.success(), "token list with the printed URL");
    assert!(
        String::from_utf8_lossy(&listed.stdout).contains("local-admin"),
        "not the server's database"
    );
    assert!(
        !elsewhere.exists(),
        "a cluster was made despite DATABASE_URL"
    );

    server.signal(Signal::SIGTERM);
    assert!(wait_exit(&mut server).await.success());
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn socket_urls_in_libpq_forms_when_connecting_then_each_reaches_the_cluster() {
    let dir = temp_data_dir("urlforms");
    let cluster = start_cluster(&dir).await;
    let socket = dir.join("run");
    let socket = socket.to_str().expect("utf-8");
    let encoded = socket.replace('/', "%2F");
    for url in [
        format!("postgres://postgres@/postgres?host={socket}"),
        format!("postgresql://postgres@/postgres?host={encoded}"),
        format!("postgres://postgres@{encoded}/postgres"),
        format!("postgres://postgres@{encoded}:5432/postgres"),
        format!("postgres:///postgres?host={socket}&user=postgres"),
        format!("postgres://postgres@:5432/postgres?host={socket}"),
    ] {
        let pool = api::db::connect(&url, 1)
            .await
            .unwrap_or_else(|e| panic!("{url}: {e}"));
        assert!(api::db::ping(&pool).await, "{url}");
        let _ = pool.close().await;
    }
    stop_cluster(cluster).await;
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
