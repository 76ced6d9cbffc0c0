//! Simulated CI runs: a run of a suite is started, then each execution reported as a test
//! runner reports it (started, its steps one by one, completed; a failure retried while the
//! case allows), spread over the run's length, then the run is finished. Every write is a
//! GraphQL mutation, so live subscribers see each one.

use std::time::Duration;

use rand::rngs::StdRng;
use rand::{Rng, RngCore, SeedableRng};
use serde_json::{Value, json};
use uuid::Uuid;

use super::catalogue::{Behaviour, FIREFOX};
use super::seed::{Case, Catalogue, FIRST_BUILD};
use super::{CI_USER, Demo, RUN_LENGTH_MS, RUNS_AT_ONCE, persist};

/// Chance that a stable case fails anyway in a live run, for an infrastructure hiccup
/// (a reset connection, a hung socket): CI has those, and failure groups show them apart.
const HICCUP: f64 = 0.01;

/// Share of storefront runs in Firefox; the rest run in Chrome.
const FIREFOX_PERCENT: u32 = 30;

const UI_HICCUP: &str =
    "Error: page.goto: net::ERR_CONNECTION_RESET at https://staging.shop.example/
Call log:
  - navigating to \"https://staging.shop.example/\", waiting until \"load\"

    at tests/support/fixtures.ts:19:16";

const API_HICCUP: &str = "FetchError: request to https://staging.shop.example/api/payments/v1/charges failed, reason: socket hang up
    at ClientRequest.<anonymous> (node_modules/node-fetch/lib/index.js:1491:11)
    at request (tests/api/support/http.ts:14:18)";

/// The environment the simulated builds test.
const DEMO_ENVIRONMENT: &str = "staging";

/// Where the simulated CI's builds would be (a page per build number).
const DEMO_CI_URL: &str = "https://ci.shop.example/builds";

/// Branches the simulated builds are of, `main` most often.
const BRANCHES: &[&str] = &[
    "main",
    "main",
    "main",
    "main",
    "feature/one-click-checkout",
    "fix/coupon-expiry",
    "renovate/playwright-1.49",
];

/// How a run's outcomes are decided.
#[derive(Debug, Clone, Copy)]
pub enum Mode {
    /// At random, as the catalogue's percentages say.
    Live,
    /// The history's `round`-th run of a suite: flaky cases fail in alternate rounds (each
    /// one shows flips within three rounds), half of them passing on a retry.
    History { round: usize },
}

/// A run the demo started, and what is left to report in it.
#[derive(Debug, Clone)]
pub struct DemoRun {
    pub id: Uuid,
    /// Its suite: an index into [`Catalogue::suites`].
    pub suite: usize,
    /// Its configuration's name.
    pub configuration: Option<&'static str>,
    /// Whether it had finished already (a history run seeded earlier).
    pub finished: bool,
    /// Its open executions, as created: (execution, case, attempt).
    pub open: Vec<(Uuid, Uuid, i64)>,
}

/// One attempt of an execution as it will be reported.
struct Attempt {
    outcome: &'static str,
    steps: Vec<StepResult>,
    error: Option<String>,
    metadata: Value,
    duration_ms: u64,
}

struct StepResult {
    id: Uuid,
    status: &'static str,
    duration_ms: Option<u64>,
    error: Option<String>,
    actual: Option<String>,
}

/// Time a step of `kind` takes, in milliseconds.
fn step_ms(kind: &str, rng: &mut StdRng) -> u64 {
    let range = match kind {
        "NAVIGATE" => 700..=2_600,
        "CLICK" => 90..=700,
        "TYPE" => 150..=1_200,
        "API_CALL" => 40..=650,
        "ASSERT" => 5..=150,
        "WAIT" => 1_500..=7_000,
        "SCREENSHOT" => 100..=400,
        _ => 200..=1_500,
    };
    rng.gen_range(range)
}

/// An error text with its `{req}` and `{ms}` filled in.
fn fill(template: &str, rng: &mut StdRng) -> String {
    template
        .replace(
            "{req}",
            &format!("{:012x}", rng.next_u64() & 0xffff_ffff_ffff),
        )
        .replace("{ms}", &rng.gen_range(10_000..14_000u32).to_string())
}

fn metadata(attempt: usize, rng: &mut StdRng) -> Value {
    json!({ "worker": format!("ci-runner-{}", rng.gen_range(1..=4)), "attempt": attempt + 1 })
}

/// A passing attempt of `case`.
fn passing(case: &Case, attempt: usize, rng: &mut StdRng) -> Attempt {
    failing_at(case, None, "", "", attempt, rng)
}

/// An attempt of `case` failing at step `at` with `error` (passing when `at` is None): the
/// steps before pass, the failing one fails, those after are not run.
fn failing_at(
    case: &Case,
    at: Option<usize>,
    error: &str,
    actual: &str,
    attempt: usize,
    rng: &mut StdRng,
) -> Attempt {
    let at = at.map(|k| k.min(case.steps.len().saturating_sub(1)));
    let error = at.map(|_| fill(error, rng));
    let mut steps = Vec::new();
    let mut total = rng.gen_range(250..=1_800);
    for (i, id) in case.steps.iter().enumerate() {
        let kind = case.spec.steps.get(i).map_or("CUSTOM", |s| s.kind);
        let step = match at {
            Some(k) if i > k => StepResult {
                id: *id,
                status: "SKIPPED",
                duration_ms: None,
                error: None,
                actual: None,
            },
            Some(k) if i == k => StepResult {
                id: *id,
                status: "FAILED",
                // a failure is mostly a wait that ran out
                duration_ms: Some(step_ms(kind, rng) * 3 + rng.gen_range(2_000..=5_000)),
                error: error
                    .as_deref()
                    .and_then(|e| e.lines().next())
                    .map(str::to_owned),
                actual: Some(actual.to_owned()),
            },
            _ => StepResult {
                id: *id,
                status: "PASSED",
                duration_ms: Some(step_ms(kind, rng)),
                error: None,
                actual: None,
            },
        };
        total += step.duration_ms.unwrap_or(0);
        steps.push(step);
    }
    Attempt {
        outcome: if at.is_some() { "FAILED" } else { "PASSED" },
        steps,
        error,
        metadata: metadata(attempt, rng),
        duration_ms: total,
    }
}

/// The attempts `case` makes in a run with `configuration` (an unknown case: one pass).
fn plan(
    case: Option<&Case>,
    configuration: Option<&str>,
    mode: Mode,
    rng: &mut StdRng,
) -> Vec<Attempt> {
    let Some(case) = case else {
        return vec![Attempt {
            outcome: "PASSED",
            steps: Vec::new(),
            error: None,
            metadata: metadata(0, rng),
            duration_ms: rng.gen_range(300..=3_000),
        }];
    };
    let retries = case.spec.retries().max(0) as usize;
    match case.spec.behaviour {
        Behaviour::Stable => {
            if matches!(mode, Mode::Live) && rng.gen_bool(HICCUP) {
                let api = case
                    .spec
                    .steps
                    .first()
                    .is_some_and(|s| s.kind == "API_CALL");
                let error = if api { API_HICCUP } else { UI_HICCUP };
                vec![failing_at(
                    case,
                    Some(0),
                    error,
                    "The request never got an answer",
                    0,
                    rng,
                )]
            } else {
                vec![passing(case, 0, rng)]
            }
        }
        Behaviour::Broken {
            step,
            error,
            actual,
        } => (0..=retries)
            .map(|k| failing_at(case, Some(step), error, actual, k, rng))
            .collect(),
        Behaviour::Flaky {
            step,
            percent,
            recovers,
            error,
            actual,
        } => {
            let fails = match mode {
                Mode::Live => rng.gen_range(0..100) < percent,
                Mode::History { round } => (round + case.position) % 2 == 1,
            };
            let mut attempts = Vec::new();
            if !fails {
                attempts.push(passing(case, 0, rng));
                return attempts;
            }
            attempts.push(failing_at(case, Some(step), error, actual, 0, rng));
            for k in 1..=retries {
                let recovered = match mode {
                    Mode::Live => rng.gen_range(0..100) < recovers,
                    Mode::History { .. } => case.position % 2 == 0,
                };
                if recovered {
                    attempts.push(passing(case, k, rng));
                    break;
                }
                attempts.push(failing_at(case, Some(step), error, actual, k, rng));
            }
            attempts
        }
        Behaviour::Skipped { on, reason } => {
            if on.is_none() || on == configuration {
                vec![Attempt {
                    outcome: "SKIPPED",
                    steps: Vec::new(),
                    error: None,
                    metadata: json!({ "skipReason": reason }),
                    duration_ms: 0,
                }]
            } else {
                vec![passing(case, 0, rng)]
            }
        }
    }
}

fn is_finished(status: &Value) -> bool {
    matches!(
        status.as_str(),
        Some("PASSED" | "FAILED" | "CANCELLED" | "ABORTED")
    )
}

impl Demo {
    /// Starts a run of suite `suite` (or answers the run with key `run_key`, when there is one).
    pub(super) async fn start_run(
        &self,
        catalogue: &Catalogue,
        suite: usize,
        build: u64,
        configuration: Option<&'static str>,
        run_key: Option<String>,
        rng: &mut StdRng,
    ) -> anyhow::Result<DemoRun> {
        let spec = catalogue
            .suites
            .get(suite)
            .ok_or_else(|| anyhow::anyhow!("no suite {suite}"))?;
        let branch = BRANCHES[rng.gen_range(0..BRANCHES.len())];
        let commit = format!("{:07x}", rng.next_u32() & 0x0fff_ffff);
        let started = self
            .gql(
                "mutation($input: StartTestRunInput!) { startTestRun(input: $input) { id status \
                 executions(first: 100) { nodes { id testCaseId status retryAttempt } } } }",
                json!({ "input": {
                    "suiteId": spec.id,
                    "name": format!("{} #{build}", spec.spec.name),
                    "configurationId": configuration.and_then(|c| catalogue.configuration(c)),
                    "runKey": run_key,
                    "triggeredBy": CI_USER,
                    // the run's context: each run is compared with the previous one of its
                    // suite on its branch
                    "commitSha": commit,
                    "branch": branch,
                    "environment": DEMO_ENVIRONMENT,
                    "buildUrl": format!("{DEMO_CI_URL}/{build}"),
                    "runConfiguration": {
                        "ci": "jbtestsuite demo",
                        "build": build,
                        "branch": branch,
                        "commit": commit,
                        "trigger": if branch == "main" { "push" } else { "pull_request" },
                    },
                } }),
            )
            .await?;
        let run = &started["startTestRun"];
        let id: Uuid = serde_json::from_value(run["id"].clone())?;
        let mut open = Vec::new();
        for e in run["executions"]["nodes"]
            .as_array()
            .map(Vec::as_slice)
            .unwrap_or_default()
        {
            if matches!(e["status"].as_str(), Some("PENDING" | "RUNNING")) {
                open.push((
                    serde_json::from_value(e["id"].clone())?,
                    serde_json::from_value(e["testCaseId"].clone())?,
                    e["retryAttempt"].as_i64().unwrap_or(0),
                ));
            }
        }
        Ok(DemoRun {
            id,
            suite,
            configuration,
            finished: is_finished(&run["status"]),
            open,
        })
    }

    /// Starts a live run of a suite picked at random, numbered `build`; nothing is reported
    /// in it yet.
    pub async fn start_live_run(
        &self,
        catalogue: &Catalogue,
        build: u64,
        seed: u64,
    ) -> anyhow::Result<DemoRun> {
        let rng = &mut StdRng::seed_from_u64(seed);
        let suite = rng.gen_range(0..catalogue.suites.len().max(1));
        let configurations = catalogue
            .suites
            .get(suite)
            .map(|s| s.spec.configurations)
            .unwrap_or_default();
        let configuration =
            if configurations.contains(&FIREFOX) && rng.gen_range(0..100) < FIREFOX_PERCENT {
                Some(FIREFOX)
            } else {
                configurations.first().copied()
            };
        self.start_run(catalogue, suite, build, configuration, None, rng)
            .await
    }

    /// Reports `run`'s open executions one after the other, evenly over `spread`, then
    /// finishes it.
    pub async fn play(
        &self,
        catalogue: &Catalogue,
        run: &DemoRun,
        mode: Mode,
        spread: Duration,
        seed: u64,
    ) -> anyhow::Result<()> {
        let rng = &mut StdRng::seed_from_u64(seed);
        self.play_with(catalogue, run, mode, spread, rng).await
    }

    /// As [`Demo::play`], with the caller's random numbers (the history's are seeded per run).
    pub(super) async fn play_with(
        &self,
        catalogue: &Catalogue,
        run: &DemoRun,
        mode: Mode,
        spread: Duration,
        rng: &mut StdRng,
    ) -> anyhow::Result<()> {
        let plans: Vec<(Uuid, Vec<Attempt>)> = run
            .open
            .iter()
            .map(|(execution, case, attempt)| {
                let mut attempts = plan(catalogue.case(*case), run.configuration, mode, rng);
                // an interrupted seeding resumes at the attempt it reached
                let reached = usize::try_from(*attempt).unwrap_or(0);
                attempts.drain(..reached.min(attempts.len().saturating_sub(1)));
                (*execution, attempts)
            })
            .collect();
        let events: usize = plans
            .iter()
            .flat_map(|(_, attempts)| attempts.iter().map(|a| a.steps.len() + 2))
            .sum();
        let pause = spread / events.max(1) as u32;
        let wait = || async move {
            if !pause.is_zero() {
                tokio::time::sleep(pause).await;
            }
        };
        for (execution, attempts) in plans {
            let mut id = execution;
            for (k, attempt) in attempts.into_iter().enumerate() {
                if k > 0 {
                    let retried = self
                        .gql(
                            "mutation($id: UUID!) { retryTestExecution(id: $id) { id } }",
                            json!({ "id": id }),
                        )
                        .await?;
                    id = serde_json::from_value(retried["retryTestExecution"]["id"].clone())?;
                }
                if attempt.outcome != "SKIPPED" {
                    self.gql(
                        "mutation($id: UUID!) { startTestExecution(id: $id) { id } }",
                        json!({ "id": id }),
                    )
                    .await?;
                    wait().await;
                }
                for step in &attempt.steps {
                    self.gql(
                        "mutation($e: UUID!, $s: UUID!, $status: StepExecutionStatus!, \
                         $actual: String, $error: String, $ms: Float) { reportStepResult(\
                         executionId: $e, stepId: $s, status: $status, actualResult: $actual, \
                         errorMessage: $error, durationMs: $ms) { id } }",
                        json!({
                            "e": id,
                            "s": step.id,
                            "status": step.status,
                            "actual": step.actual,
                            "error": step.error,
                            "ms": step.duration_ms,
                        }),
                    )
                    .await?;
                    wait().await;
                }
                self.gql(
                    "mutation($id: UUID!, $status: Outcome!, $error: String, $meta: JSON, \
                     $ms: Float) { completeTestExecution(id: $id, status: $status, \
                     errorMessage: $error, executionMetadata: $meta, durationMs: $ms) { id } }",
                    json!({
                        "id": id,
                        "status": attempt.outcome,
                        "error": attempt.error,
                        "meta": attempt.metadata,
                        "ms": attempt.duration_ms,
                    }),
                )
                .await?;
                wait().await;
            }
        }
        self.gql(
            "mutation($id: UUID!) { finishTestRun(id: $id) { id } }",
            json!({ "id": run.id }),
        )
        .await?;
        Ok(())
    }

    /// One live run, numbered `build`, from start to finish over `spread`; a run that cannot
    /// be finished is cancelled rather than left open.
    pub async fn simulate_run(
        &self,
        catalogue: &Catalogue,
        build: u64,
        spread: Duration,
        seed: u64,
    ) -> anyhow::Result<Uuid> {
        let rng = &mut StdRng::seed_from_u64(seed);
        let run = self
            .start_live_run(catalogue, build, rng.next_u64())
            .await?;
        if let Err(e) = self
            .play_with(catalogue, &run, Mode::Live, spread, rng)
            .await
        {
            let cancelled = self
                .gql(
                    "mutation($id: UUID!) { cancelTestRun(id: $id) { id } }",
                    json!({ "id": run.id }),
                )
                .await;
            if let Err(c) = cancelled {
                tracing::warn!(run = %run.id, error = %format!("{c:#}"), "demo: cancelling a broken run failed");
            }
            return Err(e);
        }
        Ok(run.id)
    }

    /// Starts a simulated run every `every` (when fewer than [`RUNS_AT_ONCE`] are open),
    /// forever; a failed run is logged, and the next one starts on time. Dropped with the
    /// server, it takes its open runs with it (the next demo cancels what they left open).
    pub async fn simulate_forever(&self, catalogue: &Catalogue, every: Duration) {
        let mut build = FIRST_BUILD + persist("counting the runs", || self.run_count()).await;
        let mut rng = StdRng::from_entropy();
        let mut ticks = tokio::time::interval(every);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut open = tokio::task::JoinSet::new();
        loop {
            ticks.tick().await;
            while let Some(done) = open.try_join_next() {
                if let Err(e) = done {
                    tracing::warn!(error = %e, "demo: a simulated run stopped");
                }
            }
            if open.len() >= RUNS_AT_ONCE {
                tracing::debug!("demo: {RUNS_AT_ONCE} runs still open; this turn is skipped");
                continue;
            }
            let (demo, catalogue, seed) = (self.clone(), catalogue.clone(), rng.next_u64());
            let spread = Duration::from_millis(rng.gen_range(RUN_LENGTH_MS));
            let number = build;
            build += 1;
            open.spawn(async move {
                match demo.simulate_run(&catalogue, number, spread, seed).await {
                    Ok(run) => tracing::debug!(%run, build = number, "demo: simulated run finished"),
                    Err(e) => tracing::warn!(build = number, error = %format!("{e:#}"), "demo: simulated run failed"),
                }
            });
        }
    }
}
