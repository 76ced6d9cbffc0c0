//! What a run measures and for how long: the dataset size, the scenarios, and every duration,
//! concurrency and count as a named constant saying why it is what it is.

use std::path::PathBuf;
use std::time::Duration;

/// Size of the seeded dataset.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Size {
    /// A few hundred cases: proves the program works, in seconds.
    Quick,
    /// The default: 10k cases × 8 steps, 200 suites, 2k runs, 200k executions, 1.6M
    /// step executions.
    Default,
    /// The large dataset: 1M executions and 5M step executions.
    Large,
}

/// Counts of the seeded dataset.
#[derive(Debug, Clone, Copy, serde::Serialize)]
pub struct Dataset {
    pub cases: i64,
    pub steps_per_case: i64,
    pub suites: i64,
    pub runs: i64,
    /// Executions per run (each run executes its suite's cases once).
    pub executions_per_run: i64,
    /// Step results per execution (the first ones of the case's steps).
    pub step_results_per_execution: i64,
}

impl Dataset {
    pub fn executions(&self) -> i64 {
        self.runs * self.executions_per_run
    }

    pub fn step_executions(&self) -> i64 {
        self.executions() * self.step_results_per_execution
    }
}

impl Size {
    pub fn dataset(self) -> Dataset {
        match self {
            Size::Quick => Dataset {
                cases: 400,
                steps_per_case: 8,
                suites: 8,
                runs: 40,
                executions_per_run: 100,
                step_results_per_execution: 8,
            },
            Size::Default => Dataset {
                cases: 10_000,
                steps_per_case: 8,
                suites: 200,
                runs: 2_000,
                executions_per_run: 100,
                step_results_per_execution: 8,
            },
            // 10k runs of 100 cases = 1M executions; 5 step results each = 5M
            Size::Large => Dataset {
                cases: 10_000,
                steps_per_case: 8,
                suites: 200,
                runs: 10_000,
                executions_per_run: 100,
                step_results_per_execution: 5,
            },
        }
    }
}

/// The four scenarios of the issue.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Scenario {
    /// Queries (a) list, (b) nested dashboard, (c) search, vs raw; statements; RLS cost.
    Queries,
    /// Bulk and single result reporting vs raw INSERT; NOTIFY trigger cost.
    Ingest,
    /// Subscribers while a writer completes executions.
    Live,
    /// Analytics queries through the API.
    Analytics,
    /// A 100,000-test JUnit report through the import endpoint vs raw INSERT; memory; shards.
    Import,
    /// A 200 MB artifact up and down vs the store's own client; memory; 1,000 screenshots.
    Artifacts,
    /// Run comparison, quality gate, quarantined tests, flaky classification refresh and
    /// webhook delivery latency.
    Insights,
    /// Executions and step results copied into monthly partitions as the migration plan
    /// proposes (rows/s), and the API's reads on both shapes; the copies are dropped after.
    Partitioning,
    /// Commits per second that each NOTIFY through the live triggers, vs the same commits
    /// without NOTIFY, on 1, 4 and 16 connections; what the server's listener gets through.
    Ceiling,
    /// Several server processes on one database vs one: commit → client latency, a restart
    /// losing no final state; queries read on a streaming standby vs the primary.
    Replicas,
}

/// Client connections kept in flight against the query endpoints. The machine has 2 cores
/// shared by the server, PostgreSQL and this client: 4 in flight keeps the server busy (one
/// request in PostgreSQL while another is serialised) without the client starving it.
pub const QUERY_CONCURRENCY: usize = 4;

/// Bulk reports in flight. A report of 1,000 step results keeps PostgreSQL busy for tens of
/// milliseconds; two overlap the HTTP/JSON work of one with the SQL of the other.
pub const INGEST_CONCURRENCY: usize = 2;

/// Single `reportStepResult` callers in flight, each on its own run as parallel CI jobs are.
pub const STEP_CONCURRENCY: usize = 4;

/// Executions per bulk report: 125 executions × 8 steps = the 1,000 step results.
pub const BATCH_EXECUTIONS: usize = 125;

/// Step results per reported execution (the seeded cases have 8 steps).
pub const BATCH_STEPS: usize = 8;

/// Interleaved rounds per comparison (subject, ceiling, subject, ceiling, ...): drift of a
/// shared machine then hits both sides alike instead of whichever ran second.
pub const ROUNDS: usize = 2;

/// Requests measured one at a time to count the SQL statements of each query; the median is
/// reported, so a token-cache refresh in one of them does not count.
pub const STATEMENT_SAMPLES: usize = 9;

/// Default number of subscribers (the first figure); 10,000 with `--subscribers`.
pub const DEFAULT_SUBSCRIBERS: usize = 1_000;

/// Subscribers in `--quick`: enough to exercise fan-out and both subscription kinds.
pub const QUICK_SUBSCRIBERS: usize = 40;

/// WebSocket handshakes in flight while subscribers connect: bounded so that connecting
/// 10,000 does not queue thousands of snapshot reads at once behind the pool.
pub const CONNECT_CONCURRENCY: usize = 32;

/// Subscribers of each run while they are spread over many runs (half of each kind): 10,000
/// subscribers over 1,000 runs.
pub const SUBSCRIBERS_PER_RUN: usize = 10;

/// Runs changed per second while subscribers are spread over many runs, each change one
/// execution completed: a busy CI fleet's pace, far above one run's.
pub const SPREAD_CHANGES_PER_SECOND: f64 = 500.0;

/// The same in `--quick`: a few runs, each still changed less often than the hub's
/// coalescing window, so that every change is an event of its own.
pub const QUICK_SPREAD_CHANGES_PER_SECOND: f64 = 40.0;

/// Time for every subscriber to reach the run's final state after the writer's last commit,
/// before those that have not are counted as missing it.
pub const LIVE_SETTLE_TIMEOUT: Duration = Duration::from_secs(60);

/// Repetitions of each analytics query (sequential; p50/p95 over them).
pub const ANALYTICS_ITERATIONS: usize = 15;

/// Runs ended one after another for the webhook delivery latency: enough for a p99 that is
/// not the maximum of a handful.
pub const WEBHOOK_DELIVERIES: usize = 200;

/// Webhook deliveries in `--quick`: proves the path works, in well under a second.
pub const QUICK_WEBHOOK_DELIVERIES: usize = 20;

/// Where results go unless told otherwise (relative to the working directory, the workspace
/// root under `cargo run`).
pub const DEFAULT_OUTPUT_DIR: &str = "target/bench";

/// Options of one run.
#[derive(Debug, Clone)]
pub struct Options {
    pub size: Size,
    /// Scenarios to run; empty means all.
    pub scenarios: Vec<Scenario>,
    /// Subscriber counts of the live scenario, one measurement each.
    pub subscribers: Vec<usize>,
    /// Measured time of each side of a query comparison (split over [`ROUNDS`]).
    pub query_duration: Duration,
    /// Measured time of each side of an ingestion comparison (split over [`ROUNDS`]).
    pub ingest_duration: Duration,
    /// Unmeasured load before each measurement (connections, caches, plans).
    pub warmup: Duration,
    /// Executions the live writer completes, one per event.
    pub live_events: usize,
    /// Subscribers of the replicas scenario, spread over its server processes.
    pub replica_subscribers: usize,
    /// How the replicas scenario starts server processes; without it the scenario cannot
    /// run (the bench binary names itself; a test names the server binary).
    pub server_program: Option<crate::replicas::ServerProgram>,
    /// Runs changed per second while subscribers are spread over many runs.
    pub spread_changes_per_second: f64,
    /// How long the writer changes runs while subscribers are spread over many runs.
    pub spread_duration: Duration,
    /// Measured time of each side of a notifying-commit comparison, per connection count
    /// (split over [`ROUNDS`]).
    pub ceiling_duration: Duration,
    /// Analytics repetitions.
    pub analytics_iterations: usize,
    /// fsync off: faster, not what a server runs with. Only `--quick` uses it by default.
    pub ephemeral: bool,
    /// Progress bars and phase messages on stderr.
    pub progress: bool,
    /// After seeding, print the database URL and wait for a line on stdin before measuring,
    /// so that the dataset can be inspected (EXPLAIN, psql, pgbench) as the scenarios see it.
    pub hold: bool,
    pub markdown_path: PathBuf,
    pub json_path: PathBuf,
}

impl Options {
    /// The default run.
    pub fn default_run() -> Self {
        Self {
            size: Size::Default,
            scenarios: Vec::new(),
            subscribers: vec![DEFAULT_SUBSCRIBERS],
            query_duration: Duration::from_secs(8),
            ingest_duration: Duration::from_secs(8),
            warmup: Duration::from_millis(1500),
            live_events: 40,
            replica_subscribers: DEFAULT_SUBSCRIBERS,
            server_program: None,
            spread_changes_per_second: SPREAD_CHANGES_PER_SECOND,
            spread_duration: Duration::from_secs(10),
            ceiling_duration: Duration::from_secs(4),
            analytics_iterations: ANALYTICS_ITERATIONS,
            ephemeral: false,
            progress: true,
            hold: false,
            markdown_path: PathBuf::from(DEFAULT_OUTPUT_DIR).join("bench.md"),
            json_path: PathBuf::from(DEFAULT_OUTPUT_DIR).join("bench.json"),
        }
    }

    /// `--quick`: a tiny dataset and short phases, well under a minute.
    pub fn quick() -> Self {
        Self {
            size: Size::Quick,
            subscribers: vec![QUICK_SUBSCRIBERS],
            query_duration: Duration::from_millis(1000),
            ingest_duration: Duration::from_millis(1000),
            warmup: Duration::from_millis(200),
            live_events: 8,
            replica_subscribers: QUICK_SUBSCRIBERS,
            spread_changes_per_second: QUICK_SPREAD_CHANGES_PER_SECOND,
            spread_duration: Duration::from_millis(1000),
            ceiling_duration: Duration::from_millis(400),
            analytics_iterations: 3,
            ephemeral: true,
            ..Self::default_run()
        }
    }

    /// `--large`: the large dataset, default durations.
    pub fn large() -> Self {
        Self {
            size: Size::Large,
            ..Self::default_run()
        }
    }

    pub fn wants(&self, scenario: Scenario) -> bool {
        self.scenarios.is_empty() || self.scenarios.contains(&scenario)
    }
}
