//! The GraphQL-over-HTTP audits of the reference implementation (the npm package
//! `graphql-http`, pinned in tests/http-audit/) run against the real server: no audit may end
//! in a warning (a SHOULD broken) or an error (a MUST broken).
//!
//! Needs Node.js with npm; the audit's locked packages are installed on first use
//! (`npm ci --prefix tests/http-audit`, which .ci/run also runs).

use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use serde_json::Value;

use crate::helpers::{TestApp, spawn_app};

/// The audits are about sixty small requests, one at a time, plus Node's start.
const AUDIT_TIMEOUT: Duration = Duration::from_secs(120);

/// Fewer results than this means the audit did not run what it should have.
const MIN_AUDITS: usize = 50;

fn audit_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/http-audit")
}

/// Installs the audit's locked packages unless they are there, once for the test process.
async fn install_audit(dir: &std::path::Path) {
    static INSTALLED: tokio::sync::Mutex<bool> = tokio::sync::Mutex::const_new(false);
    let mut installed = INSTALLED.lock().await;
    if *installed || dir.join("node_modules/graphql-http/package.json").is_file() {
        *installed = true;
        return;
    }
    let output = tokio::process::Command::new("npm")
        .args(["ci", "--ignore-scripts", "--no-audit", "--no-fund", "--prefix"])
        .arg(dir)
        .output()
        .await
        .unwrap_or_else(|e| {
            panic!("running `npm` failed ({e}): install Node.js with npm (on Debian `apt-get install nodejs npm`)")
        });
    assert!(
        output.status.success(),
        "installing the graphql-http audit failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    *installed = true;
}

/// Runs every audit against `app`'s endpoint, with `token` as bearer if given; the results.
async fn run_audit(app: &TestApp, token: Option<&str>) -> Vec<Value> {
    let dir = audit_dir();
    install_audit(&dir).await;
    let mut command = tokio::process::Command::new("node");
    command
        .arg(dir.join("audit.mjs"))
        .arg(app.url("/graphql"))
        .current_dir(&dir)
        .env_remove("JBTS_AUDIT_TOKEN")
        .stdin(Stdio::null())
        .kill_on_drop(true);
    if let Some(token) = token {
        command.env("JBTS_AUDIT_TOKEN", token);
    }
    let child = command.output();
    let output = match tokio::time::timeout(AUDIT_TIMEOUT, child).await {
        Ok(Ok(output)) => output,
        Ok(Err(e)) => panic!(
            "running `node` failed ({e}): install Node.js (on Debian `apt-get install nodejs npm`); \
             .ci/run does this"
        ),
        Err(_) => panic!("the audit did not finish within {AUDIT_TIMEOUT:?}"),
    };
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "the audit failed: {stderr}");
    let results: Vec<Value> = serde_json::from_slice(&output.stdout)
        .unwrap_or_else(|e| panic!("the audit's output is not a JSON array ({e}): {stderr}"));
    assert!(
        results.len() >= MIN_AUDITS,
        "only {} audits ran: {results:?}",
        results.len()
    );
    results
}

/// Every audit that ended in a warning or an error, by id and name, with why and the answer.
fn failures(results: &[Value]) -> Vec<String> {
    let mut counts = std::collections::BTreeMap::<&str, usize>::new();
    for r in results {
        *counts
            .entry(r["status"].as_str().unwrap_or("?"))
            .or_default() += 1;
    }
    eprintln!("graphql-http audit: {} audits, {counts:?}", results.len());
    results
        .iter()
        .filter(|r| r["status"] != "ok")
        .inspect(|r| {
            eprintln!(
                "  {} {} {}: {}",
                r["status"], r["id"], r["name"], r["reason"]
            )
        })
        .filter(|r| r["status"] == "warn" || r["status"] == "error")
        .map(|r| {
            format!(
                "{} {} {}: {} (answered {} {})",
                r["status"],
                r["id"],
                r["name"],
                r["reason"],
                r["responseStatus"],
                r["responseBody"]
            )
        })
        .collect()
}

#[tokio::test]
async fn graphql_http_audit_when_sent_with_a_token_then_no_warnings_or_errors() {
    let app = spawn_app().await;
    let results = run_audit(&app, Some(&app.admin_token)).await;
    let failed = failures(&results);
    assert!(failed.is_empty(), "audits failed:\n{}", failed.join("\n"));
}

/// The audits ask almost only for `__typename` and `__type`: introspection, which is public.
#[tokio::test]
async fn graphql_http_audit_when_sent_without_a_token_then_no_warnings_or_errors() {
    let app = spawn_app().await;
    let results = run_audit(&app, None).await;
    let failed = failures(&results);
    assert!(failed.is_empty(), "audits failed:\n{}", failed.join("\n"));
}
