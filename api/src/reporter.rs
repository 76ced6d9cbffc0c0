//! `jbtestsuite report`: the one line a CI job adds to send its report files to a server
//! (`POST /api/v1/import`). Files go one after the other into one run: the run of `--run-key`
//! (created on first use, shared by parallel shards), else a new run that the first file
//! creates. Each file is gzip-compressed on the way. An upload that fails for the network, a
//! 5xx or a 429 is tried again (imports are idempotent: a file sent twice changes nothing).
//!
//! The run gets the commit, branch and build URL of the CI job (`--commit`, `--branch`,
//! `--build-url`, by default from the variables GitHub Actions, GitLab CI and Jenkins set),
//! so that it is compared with the previous run of its branch. With `--gate` the run is
//! finished after the last file and the quality gate is evaluated (`evaluateQualityGate`):
//! the verdict and its reasons are printed.
//!
//! Exit codes: 0 the reports were imported (whatever the tests did), and the gate passed when
//! asked; 1 an upload failed or was refused, or some of its results were not imported, or the
//! gate could not be evaluated; 2 with `--fail-on-test-failure`, the run has failed tests; 3
//! with `--gate`, the quality gate failed. Without `--run-key` the files go into a run keyed
//! by a fresh id.

use std::io::Write;
use std::time::Duration;

use anyhow::{Context, bail};
use serde_json::Value;

pub use crate::config::ReportArgs;

/// The run has failed tests and `--fail-on-test-failure` was given (exit code 2).
#[derive(Debug)]
pub struct TestsFailed {
    pub failed: i64,
}

impl std::fmt::Display for TestsFailed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "the run has {} failed tests", self.failed)
    }
}

impl std::error::Error for TestsFailed {}

/// The quality gate failed (`--gate`; exit code 3).
#[derive(Debug)]
pub struct GateFailed;

impl std::fmt::Display for GateFailed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "the quality gate failed")
    }
}

impl std::error::Error for GateFailed {}

/// The exit code of a failed quality gate: apart from a failed tool (1) and failed tests (2).
pub const GATE_FAILED_EXIT: u8 = 3;

/// The CI job's commit, branch and build URL, from the variables its CI sets: GitHub Actions,
/// GitLab CI, Jenkins (the first that has one).
pub fn ci_context(var: impl Fn(&str) -> Option<String>) -> [Option<String>; 3] {
    let get = |name: &str| var(name).filter(|v| !v.trim().is_empty());
    let commit = get("GITHUB_SHA")
        .or_else(|| get("CI_COMMIT_SHA"))
        .or_else(|| get("GIT_COMMIT"));
    // a pull request's GITHUB_REF_NAME is `123/merge`: its head branch says more
    let branch = get("GITHUB_HEAD_REF")
        .or_else(|| get("GITHUB_REF_NAME"))
        .or_else(|| get("CI_COMMIT_REF_NAME"))
        .or_else(|| {
            get("GIT_BRANCH").map(|b| b.strip_prefix("origin/").map(str::to_owned).unwrap_or(b))
        });
    let github_run = match (
        get("GITHUB_SERVER_URL"),
        get("GITHUB_REPOSITORY"),
        get("GITHUB_RUN_ID"),
    ) {
        (Some(server), Some(repo), Some(run)) => Some(format!(
            "{}/{repo}/actions/runs/{run}",
            server.trim_end_matches('/')
        )),
        _ => None,
    };
    let build_url = github_run
        .or_else(|| get("CI_JOB_URL"))
        .or_else(|| get("BUILD_URL"));
    [commit, branch, build_url]
}

/// Attempts per file when the server cannot be reached or answers 5xx or 429.
const ATTEMPTS: u32 = 4;

/// Sends the files; prints what each import did.
pub async fn report(args: ReportArgs) -> anyhow::Result<()> {
    if args.files.is_empty() {
        bail!("no report file given");
    }
    let base = args.url.trim_end_matches('/');
    let endpoint = format!("{base}/api/v1/import");
    let client = reqwest::Client::builder()
        .timeout(args.timeout)
        .build()
        .context("building the HTTP client")?;
    // a run key of its own when none is given: an upload tried again lands in the same run
    let run_key = args
        .run_key
        .clone()
        .unwrap_or_else(|| format!("report-{}", uuid::Uuid::now_v7()));
    let [ci_commit, ci_branch, ci_build_url] = ci_context(|name| std::env::var(name).ok());
    let context = [
        ("commitSha", args.commit.clone().or(ci_commit)),
        ("branch", args.branch.clone().or(ci_branch)),
        ("buildUrl", args.build_url.clone().or(ci_build_url)),
        ("environment", args.environment.clone()),
    ];
    if let Some(rate) = args.min_pass_rate
        && !(0.0..=1.0).contains(&rate)
    {
        bail!("--min-pass-rate must be between 0 and 1, not {rate}");
    }
    let mut last: Option<Value> = None;
    let mut rejected = 0u64;
    for (i, file) in args.files.iter().enumerate() {
        let bytes = std::fs::read(file).with_context(|| format!("reading {}", file.display()))?;
        let (body, gzipped) = encoded(bytes).context("compressing the report")?;
        let mut query: Vec<(&str, String)> =
            vec![("format", args.format.clone()), ("runKey", run_key.clone())];
        if let Some(name) = &args.run_name {
            query.push(("runName", name.clone()));
        }
        if let Some(project) = &args.project {
            query.push(("project", project.clone()));
        }
        if (args.finish || args.gate) && i + 1 == args.files.len() {
            query.push(("finish", "true".to_owned()));
        }
        for (name, value) in &context {
            if let Some(value) = value {
                query.push((name, value.clone()));
            }
        }
        if args.known_tests_only {
            query.push(("knownTestsOnly", "true".to_owned()));
        }
        let answer = send(&client, &endpoint, &args.token, &query, body, gzipped)
            .await
            .with_context(|| format!("importing {}", file.display()))?;
        rejected += answer["rejected"].as_u64().unwrap_or(0);
        println!(
            "{}: {} accepted, {} duplicates, {} rejected",
            file.display(),
            answer["accepted"],
            answer["duplicates"],
            answer["rejected"]
        );
        for e in answer["errors"].as_array().into_iter().flatten().take(10) {
            println!(
                "  {} {}: {}",
                e["position"].as_str().unwrap_or(""),
                e["code"].as_str().unwrap_or(""),
                e["message"].as_str().unwrap_or("")
            );
        }
        last = Some(answer);
    }
    let Some(answer) = last else {
        bail!("no report was imported");
    };
    let run = &answer["run"];
    println!(
        "run {} ({}): {}; {} tests, {} passed, {} failed, {} skipped",
        run["name"].as_str().unwrap_or(""),
        run["id"].as_str().unwrap_or(""),
        run["status"].as_str().unwrap_or(""),
        run["totalTests"],
        run["passedTests"],
        run["failedTests"],
        run["skippedTests"]
    );
    if rejected > 0 {
        // results the run does not hold: the upload did not do its job
        bail!("{rejected} results were not imported (see above)");
    }
    let failed = run["failedTests"].as_i64().unwrap_or(0);
    let gate_passed = match (args.gate, run["id"].as_str()) {
        (true, Some(id)) => gate(&client, base, &args, id).await?,
        (true, None) => bail!("the server did not say which run it imported into"),
        (false, _) => true,
    };
    if !gate_passed {
        return Err(GateFailed.into());
    }
    if args.fail_on_test_failure && failed > 0 {
        return Err(TestsFailed { failed }.into());
    }
    Ok(())
}

/// Evaluates the quality gate of run `id` and prints the verdict; whether it passed.
async fn gate(
    client: &reqwest::Client,
    base: &str,
    args: &ReportArgs,
    id: &str,
) -> anyhow::Result<bool> {
    let mut rules = serde_json::Map::new();
    if let Some(n) = args.max_new_failures {
        rules.insert("maxNewFailures".to_owned(), n.into());
    }
    if let Some(rate) = args.min_pass_rate {
        rules.insert("minPassRate".to_owned(), rate.into());
    }
    let body = serde_json::json!({
        "query": "mutation($run: UUID!, $rules: QualityGateRules) { \
                  evaluateQualityGate(runId: $run, rules: $rules) { status \
                  baseline { id name } reasons { rule passed message } } }",
        "variables": { "run": id, "rules": Value::Object(rules) },
    });
    let endpoint = format!("{base}{}", crate::http::GRAPHQL_PATH);
    let res = client
        .post(&endpoint)
        .bearer_auth(&args.token)
        .json(&body)
        .send()
        .await
        .with_context(|| format!("evaluating the quality gate at {endpoint}"))?;
    let status = res.status();
    let answer: Value = res.json().await.unwrap_or(Value::Null);
    if let Some(error) = answer["errors"].get(0) {
        bail!(
            "the quality gate could not be evaluated ({status} {}): {}",
            error["extensions"]["code"].as_str().unwrap_or(""),
            error["message"].as_str().unwrap_or("")
        );
    }
    let result = &answer["data"]["evaluateQualityGate"];
    let verdict = result["status"].as_str().unwrap_or("");
    if verdict.is_empty() {
        bail!("the quality gate could not be evaluated ({status})");
    }
    match result["baseline"]["id"].as_str() {
        Some(baseline) => println!(
            "quality gate: {verdict} (compared with run {} ({baseline}))",
            result["baseline"]["name"].as_str().unwrap_or("")
        ),
        None => println!("quality gate: {verdict} (no earlier run of the branch to compare with)"),
    }
    for reason in result["reasons"].as_array().into_iter().flatten() {
        let mark = if reason["passed"].as_bool() == Some(true) {
            "ok"
        } else {
            "FAILED"
        };
        println!(
            "  {mark} {}: {}",
            reason["rule"].as_str().unwrap_or(""),
            reason["message"].as_str().unwrap_or("")
        );
    }
    Ok(verdict == "PASSED")
}

/// A file as it is sent: gzip-compressed (`true`), unless it is compressed already (a zip or
/// tar.gz bundle, a `.gz` report), which is sent as it is.
fn encoded(bytes: Vec<u8>) -> std::io::Result<(Vec<u8>, bool)> {
    if bytes.starts_with(b"PK\x03\x04") || bytes.starts_with(&[0x1f, 0x8b]) {
        return Ok((bytes, false));
    }
    Ok((gzip(&bytes)?, true))
}

fn gzip(bytes: &[u8]) -> std::io::Result<Vec<u8>> {
    let mut out = flate2::write::GzEncoder::new(
        Vec::with_capacity(bytes.len() / 8),
        flate2::Compression::fast(),
    );
    out.write_all(bytes)?;
    out.finish()
}

/// One upload, tried again on a failure that may pass.
async fn send(
    client: &reqwest::Client,
    endpoint: &str,
    token: &str,
    query: &[(&str, String)],
    body: Vec<u8>,
    gzipped: bool,
) -> anyhow::Result<Value> {
    let mut wait = Duration::from_millis(500);
    for attempt in 1..=ATTEMPTS {
        let mut request = client
            .post(endpoint)
            .query(query)
            .bearer_auth(token)
            .header("content-type", "application/octet-stream");
        if gzipped {
            request = request.header("content-encoding", "gzip");
        }
        let sent = request.body(body.clone()).send().await;
        let again = match sent {
            Ok(res) => {
                let status = res.status();
                let text = res.text().await.unwrap_or_default();
                let value: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
                if status.is_success() {
                    return Ok(value);
                }
                let message = value["errors"][0]["message"]
                    .as_str()
                    .map(str::to_owned)
                    .unwrap_or_else(|| text.chars().take(500).collect());
                let code = value["errors"][0]["extensions"]["code"]
                    .as_str()
                    .unwrap_or("")
                    .to_owned();
                if !(status.is_server_error() || status.as_u16() == 429) || attempt == ATTEMPTS {
                    bail!("the server answered {status} {code}: {message}");
                }
                format!("{status} {code}: {message}")
            }
            Err(e) => {
                if attempt == ATTEMPTS {
                    return Err(e).context(format!("sending to {endpoint}"));
                }
                e.to_string()
            }
        };
        eprintln!("upload attempt {attempt} failed ({again}); trying again in {wait:?}");
        tokio::time::sleep(wait).await;
        wait *= 2;
    }
    bail!("the upload failed")
}
