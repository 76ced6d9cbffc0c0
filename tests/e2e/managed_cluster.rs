//! The embedded default: the server binary creating, reusing, stopping and recovering its own
//! PostgreSQL cluster.

use std::io::BufRead;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

use crate::helpers::db::temp_data_dir;

/// Generous: a cold start runs initdb and the migrations.
const START_TIMEOUT: Duration = Duration::from_secs(120);

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

struct Server {
    child: Child,
    port: u16,
    /// What the server wrote to stderr so far.
    stderr: Arc<Mutex<Vec<String>>>,
}

impl Server {
    /// The admin token the first start printed, if it did (the server prints it before it
    /// serves; the reader thread may lag a little behind).
    fn printed_token(&self) -> Option<String> {
        let deadline = Instant::now() + Duration::from_secs(2);
        loop {
            let found = self.stderr.lock().ok()?.iter().find_map(|l| {
                l.split_whitespace()
                    .find(|w| w.starts_with("jbts_"))
                    .map(str::to_owned)
            });
            if found.is_some() || Instant::now() > deadline {
                return found;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Server {
    /// A failing test must not leave its server (and so its cluster) running.
    fn drop(&mut self) {
        if self.child.try_wait().ok().flatten().is_none() {
            let _ = kill(Pid::from_raw(self.child.id() as i32), Signal::SIGTERM);
            let _ = self.child.wait();
        }
    }
}

fn start_server(data_dir: &Path) -> Server {
    let port = free_port();
    let child = Command::new(env!("CARGO_BIN_EXE_jbtestsuite"))
        .arg("--data-dir")
        .arg(data_dir)
        .arg("--listen")
        .arg(format!("127.0.0.1:{port}"))
        .env_remove("DATABASE_URL")
        .env("RUST_LOG", "warn")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawning the server");
    let mut child = child;
    let stderr = Arc::new(Mutex::new(Vec::new()));
    if let Some(pipe) = child.stderr.take() {
        let lines = stderr.clone();
        std::thread::spawn(move || {
            for line in std::io::BufReader::new(pipe).lines().map_while(Result::ok) {
                eprintln!("[server] {line}");
                if let Ok(mut l) = lines.lock() {
                    l.push(line);
                }
            }
        });
    }
    Server {
        child,
        port,
        stderr,
    }
}

async fn wait_healthy(server: &mut Server) {
    let client = reqwest::Client::new();
    let deadline = Instant::now() + START_TIMEOUT;
    loop {
        if let Some(status) = server.child.try_wait().expect("try_wait") {
            panic!("server exited during start: {status}");
        }
        let ok = client
            .get(format!("http://127.0.0.1:{}/readyz", server.port))
            .send()
            .await
            .is_ok_and(|r| r.status() == 200);
        if ok {
            return;
        }
        assert!(Instant::now() < deadline, "server not ready in time");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn wait_exit(server: &mut Server) -> std::process::ExitStatus {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Some(status) = server.child.try_wait().expect("try_wait") {
            return status;
        }
        assert!(Instant::now() < deadline, "server did not exit in time");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
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

async fn wait_dead(pid: i32) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while alive(pid) {
        assert!(Instant::now() < deadline, "postmaster {pid} still running");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
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

    kill(Pid::from_raw(server.child.id() as i32), Signal::SIGTERM).expect("sigterm");
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
    kill(Pid::from_raw(again.child.id() as i32), Signal::SIGINT).expect("sigint");
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
    server.child.kill().expect("SIGKILL");
    let _ = server.child.wait();
    wait_dead(pid).await;

    let mut again = start_server(&dir);
    wait_healthy(&mut again).await;
    graphql_ok(again.port, &token).await;
    kill(Pid::from_raw(again.child.id() as i32), Signal::SIGTERM).expect("sigterm");
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
    kill(Pid::from_raw(first.child.id() as i32), Signal::SIGTERM).expect("sigterm");
    assert!(wait_exit(&mut first).await.success());
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn without_postgres_binaries_the_server_says_what_to_install_and_creates_nothing() {
    let empty = tempfile::tempdir().expect("tempdir");
    let data_dir = temp_data_dir("nobin");
    let out = Command::new(env!("CARGO_BIN_EXE_jbtestsuite"))
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
    let out = Command::new(env!("CARGO_BIN_EXE_jbtestsuite"))
        .arg("export-schema")
        .output()
        .expect("running export-schema");
    assert!(out.status.success());
    assert_eq!(String::from_utf8_lossy(&out.stdout), api::schema::sdl());
}
