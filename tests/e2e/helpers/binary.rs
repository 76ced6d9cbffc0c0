//! The service's own binary, run as a server by a test: on a free port and a data directory of
//! the test's, its standard error gathered line by line (and echoed with a prefix), stopped with
//! SIGTERM when dropped so that it stops its cluster itself.

use std::path::Path;
use std::process::Stdio;

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use tokio::io::AsyncBufReadExt;
use tokio::process::{Child, Command};
use tokio::sync::watch;

/// A loopback port nothing listens on now.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

/// A running `jbtestsuite` process.
pub struct Running {
    pub child: Child,
    pub pid: i32,
    pub port: u16,
    /// Every line it wrote to stderr so far.
    pub stderr: watch::Receiver<Vec<String>>,
}

/// Runs `jbtestsuite <args> --data-dir <data_dir> --listen 127.0.0.1:<free port>` with
/// `RUST_LOG=<log>`, outside any `DATABASE_URL`; its lines are echoed as `[<name>] ...`.
pub fn run(name: &'static str, args: &[&str], data_dir: &Path, log: &str) -> Running {
    let port = free_port();
    let mut child = Command::new(env!("CARGO_BIN_EXE_jbtestsuite"))
        .args(args)
        .arg("--data-dir")
        .arg(data_dir)
        .arg("--listen")
        .arg(format!("127.0.0.1:{port}"))
        .env_remove("DATABASE_URL")
        .env("RUST_LOG", log)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("spawning jbtestsuite {args:?}: {e}"));
    let pid = child.id().expect("a running child") as i32;
    let (lines_tx, stderr) = watch::channel(Vec::new());
    if let Some(pipe) = child.stderr.take() {
        tokio::spawn(async move {
            let mut lines = tokio::io::BufReader::new(pipe).lines();
            while let Ok(Some(line)) = lines.next_line().await {
                eprintln!("[{name}] {line}");
                lines_tx.send_modify(|all| all.push(line));
            }
        });
    }
    Running {
        child,
        pid,
        port,
        stderr,
    }
}

impl Running {
    /// A GraphQL request to it with `token`.
    pub async fn gql(
        &self,
        token: &str,
        query: &str,
        variables: serde_json::Value,
    ) -> reqwest::Response {
        reqwest::Client::new()
            .post(format!("http://127.0.0.1:{}/graphql", self.port))
            .bearer_auth(token)
            .json(&serde_json::json!({ "query": query, "variables": variables }))
            .send()
            .await
            .expect("a GraphQL request")
    }
}

impl Drop for Running {
    /// A failing test must not leave its server (and so its cluster) running: SIGTERM makes
    /// it stop its cluster itself.
    fn drop(&mut self) {
        if self.child.try_wait().ok().flatten().is_none() {
            let _ = kill(Pid::from_raw(self.pid), Signal::SIGTERM);
        }
    }
}
