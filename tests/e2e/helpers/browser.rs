//! A real browser for the pages' tests: Debian's headless Chromium, driven through its
//! ChromeDriver (WebDriver) by fantoccini. The browser resolves no host but the loopback
//! addresses, so a page that loaded anything from elsewhere would show it.

use std::path::PathBuf;
use std::process::Stdio;
use std::time::{Duration, Instant};

use fantoccini::wd::Capabilities;
use serde_json::{Value, json};

/// A browser session, with its driver process (and the browser under it) ended on drop.
pub struct Browser {
    pub client: fantoccini::Client,
    driver: tokio::process::Child,
    /// Where this test's screenshots go (kept after the test, its path printed).
    pub shots: PathBuf,
    _profile: tempfile::TempDir,
}

/// The first of `candidates` that exists.
fn program(candidates: &[&str]) -> PathBuf {
    candidates
        .iter()
        .map(PathBuf::from)
        .find(|p| p.exists())
        .unwrap_or_else(|| {
            panic!(
                "none of {candidates:?} is installed: the browser tests need Debian's chromium \
                 and chromium-driver packages (.ci/run installs them)"
            )
        })
}

impl Browser {
    /// Starts a headless Chromium for the test `name`.
    pub async fn start(name: &str) -> Self {
        let chromium = program(&["/usr/bin/chromium", "/usr/bin/chromium-browser"]);
        let chromedriver = program(&["/usr/bin/chromedriver", "/usr/lib/chromium/chromedriver"]);
        let port = {
            let l = std::net::TcpListener::bind("127.0.0.1:0").expect("free port");
            l.local_addr().expect("addr").port()
        };
        let mut command = tokio::process::Command::new(chromedriver);
        command
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            // its own process group: the browser it starts ends with it
            .process_group(0);
        let driver = command.spawn().expect("chromedriver starts");
        let profile = tempfile::tempdir().expect("profile dir");
        let shots = tempfile::Builder::new()
            .prefix(&format!("jbts-browser-{name}-"))
            .tempdir()
            .expect("screenshot dir")
            .keep();
        let mut capabilities = Capabilities::new();
        capabilities.insert(
            "goog:chromeOptions".to_owned(),
            json!({
                "binary": chromium,
                "args": [
                    "--headless=new",
                    "--no-sandbox",
                    "--disable-gpu",
                    "--disable-dev-shm-usage",
                    "--disable-quic",
                    "--no-first-run",
                    "--disable-background-networking",
                    "--disable-component-update",
                    "--disable-sync",
                    "--disable-extensions",
                    "--window-size=1280,900",
                    "--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE 127.0.0.1",
                    format!("--user-data-dir={}", profile.path().display()),
                ],
            }),
        );
        let connector = hyper_util::client::legacy::connect::HttpConnector::new();
        let url = format!("http://127.0.0.1:{port}");
        let deadline = Instant::now() + Duration::from_secs(30);
        let client = loop {
            match fantoccini::ClientBuilder::new(connector.clone())
                .capabilities(capabilities.clone())
                .connect(&url)
                .await
            {
                Ok(client) => break client,
                Err(e) if Instant::now() < deadline => {
                    let _ = e;
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                Err(e) => panic!("no browser session: {e}"),
            }
        };
        Self {
            client,
            driver,
            shots,
            _profile: profile,
        }
    }

    /// Runs `script` (a function body; `return` gives its value) in the page.
    pub async fn eval(&self, script: &str) -> Value {
        self.client
            .execute(script, Vec::new())
            .await
            .unwrap_or_else(|e| panic!("script failed: {e}\n{script}"))
    }

    /// Waits until `script` returns a truthy value, which it returns; panics with `what` and
    /// a screenshot's path after `within`.
    pub async fn until(&self, what: &str, within: Duration, script: &str) -> Value {
        let deadline = Instant::now() + within;
        loop {
            let value = self.client.execute(script, Vec::new()).await;
            match value {
                Ok(v) if truthy(&v) => return v,
                _ if Instant::now() < deadline => {
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
                other => {
                    let shot = self.screenshot("timeout").await;
                    panic!(
                        "waited {within:?} for {what}; last answer {other:?}; the page: {}",
                        shot.display()
                    );
                }
            }
        }
    }

    /// The text of the dialog the page opens (`alert`, `confirm`), waited for.
    pub async fn dialog(&self, within: Duration) -> String {
        let deadline = Instant::now() + within;
        loop {
            match self.client.get_alert_text().await {
                Ok(text) => return text,
                Err(_) if Instant::now() < deadline => {
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
                Err(e) => panic!("no dialog within {within:?}: {e}"),
            }
        }
    }

    /// Saves a screenshot of the page as `<name>.png` in the test's directory.
    pub async fn screenshot(&self, name: &str) -> PathBuf {
        let png = self.client.screenshot().await.expect("screenshot");
        let path = self.shots.join(format!("{name}.png"));
        std::fs::write(&path, png).expect("screenshot written");
        eprintln!("screenshot: {}", path.display());
        path
    }

    /// Ends the session and the browser.
    pub async fn close(mut self) {
        let _ = self.client.clone().close().await;
        let _ = self.driver.kill().await;
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        // a failed test: the browser goes with its driver's process group
        if let Some(pid) = self.driver.id() {
            let _ = nix::sys::signal::killpg(
                nix::unistd::Pid::from_raw(pid as i32),
                nix::sys::signal::Signal::SIGKILL,
            );
        }
    }
}

fn truthy(v: &Value) -> bool {
    match v {
        Value::Null => false,
        Value::Bool(b) => *b,
        Value::Number(n) => n.as_f64().is_some_and(|f| f != 0.0),
        Value::String(s) => !s.is_empty(),
        _ => true,
    }
}
