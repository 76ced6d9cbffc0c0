//! JBTestSuite's benchmark program, as a library so that a test can run it (`run`).
//!
//! Every figure is measured side by side with its ceiling in the same run, on the same
//! database, and reported as a ratio: the machines here are shared and noisy, so absolute
//! numbers alone say little.
//!
//! - `options`: sizes, durations, concurrency (named constants) and the scenario selection.
//! - `env`: the managed PostgreSQL cluster, migrations, the admin token, the server in-process
//!   with a statement counter, and the raw ceiling server.
//! - `seed`: the dataset, written with set-based SQL.
//! - `load`: closed-loop HTTP load with fixed concurrency and duration, into histograms.
//! - `raw`: the hand-written axum + sqlx endpoints serving the same data (the ceiling).
//! - `ws`: a minimal graphql-transport-ws client.
//! - `queries`, `ingest`, `live`, `analytics`, `import`, `artifacts`, `insights`, `ceiling`:
//!   the scenarios.
//! - `replicas`: the scenario that starts server processes of its own (and the hidden
//!   `bench serve`, which runs one as `jbtestsuite serve` does), and a streaming standby.
//! - `report`: rows, targets, the printed table, markdown and JSON.
//! - `progress`: progress bars and phase messages.
//! - `alloc_probe`: heap bytes of the client, told apart from the server's.
//! - `partitioning`: monthly-partitioned copies of the execution tables, built and queried
//!   beside today's (the scenario behind docs/scaling.md's migration plan).
//! - `cpu`: CPU time of the process, and of the client apart.
//! - `spread`: the live scenario's subscribers spread over many runs (an event wakes only
//!   its run's subscribers).

/// User id of the benchmark's admin token (the API's and the raw ceilings' caller).
pub const BENCH_USER: &str = "bench-admin";

pub mod alloc_probe;
pub mod analytics;
pub mod artifacts;
pub mod ceiling;
pub mod cpu;
pub mod env;
pub mod import;
pub mod ingest;
pub mod insights;
pub mod live;
pub mod load;
pub mod options;
pub mod partitioning;
pub mod progress;
pub mod queries;
pub mod raw;
pub mod replicas;
pub mod report;
pub mod seed;
pub mod spread;
pub mod ws;

pub use options::{Options, Scenario, Size};
pub use report::Report;

use anyhow::Context as _;

/// What every scenario reaches.
pub struct Ctx<'a> {
    pub env: &'a env::Env,
    pub servers: &'a env::Servers,
    pub options: &'a Options,
    pub seeded: &'a seed::Seeded,
}

/// Runs the selected scenarios and returns their figures. Everything it starts (PostgreSQL,
/// the server, the raw server) is stopped before it returns.
pub async fn run(options: Options) -> anyhow::Result<Report> {
    let started = std::time::Instant::now();
    let mut report = Report::new(&options);
    let env = env::Env::start(&options)
        .await
        .context("starting the benchmark environment")?;
    report.postgres = env.postgres_version().await;
    let result = seed_and_measure(&options, &env, &mut report).await;
    let stopped = env.stop().await;
    result?;
    stopped?;
    report.finish(started.elapsed());
    Ok(report)
}

async fn seed_and_measure(
    options: &Options,
    env: &env::Env,
    report: &mut Report,
) -> anyhow::Result<()> {
    let seeded = seed::seed(env, options)
        .await
        .context("seeding the dataset")?;
    report.dataset = seeded.describe();
    if options.hold {
        hold(env).await?;
    }
    let servers = env::Servers::start(env)
        .await
        .context("starting the servers")?;
    let ctx = Ctx {
        env,
        servers: &servers,
        options,
        seeded: &seeded,
    };
    scenarios(&ctx, report).await;
    servers.stop().await;
    Ok(())
}

/// Prints where the seeded database is and waits for a line (or end of input) on stdin.
async fn hold(env: &env::Env) -> anyhow::Result<()> {
    eprintln!(
        "bench: seeded; database {} (admin token {}); press Enter to measure",
        env.url, env.token
    );
    tokio::task::spawn_blocking(|| {
        let mut line = String::new();
        std::io::stdin().read_line(&mut line).map(|_| ())
    })
    .await
    .context("joining the stdin reader")?
    .context("reading stdin")
}

/// Runs the selected scenarios in order. A scenario that fails is recorded in the report
/// (`Report::failures`) and the next one still runs: one failure does not cost the figures of
/// the others.
async fn scenarios(ctx: &Ctx<'_>, report: &mut Report) {
    let options = ctx.options;
    if options.wants(Scenario::Queries) {
        let outcome = queries::run(ctx, report).await;
        report.outcome("queries", outcome);
    }
    if options.wants(Scenario::Ingest) {
        let outcome = ingest::run(ctx, report).await;
        report.outcome("ingestion", outcome);
    }
    if options.wants(Scenario::Live) {
        let outcome = live::run(ctx, report).await;
        report.outcome("subscriptions", outcome);
    }
    if options.wants(Scenario::Analytics) {
        let outcome = analytics::run(ctx, report).await;
        report.outcome("analytics", outcome);
    }
    if options.wants(Scenario::Import) {
        let outcome = import::run(ctx, report).await;
        report.outcome("import", outcome);
    }
    if options.wants(Scenario::Artifacts) {
        let outcome = artifacts::run(ctx, report).await;
        report.outcome("artifacts", outcome);
    }
    if options.wants(Scenario::Insights) {
        let outcome = insights::run(ctx, report).await;
        report.outcome("insights", outcome);
    }
    if options.wants(Scenario::Ceiling) {
        let outcome = ceiling::run(ctx, report).await;
        report.outcome("notifying-commit ceiling", outcome);
    }
    if options.wants(Scenario::Partitioning) {
        let outcome = partitioning::run(ctx, report).await;
        report.outcome("partitioned executions", outcome);
    }
    if options.wants(Scenario::Replicas) {
        let outcome = replicas::run(ctx, report).await;
        report.outcome("replicas", outcome);
    }
    report.note(format!(
        "The machine has {} cores shared by PostgreSQL, the server and the load generator (all on it, over loopback); client concurrency is kept low so that the client does not starve the server. Ratios to a ceiling measured in the same run are the figures to read; absolute numbers move with whatever else the machine runs.",
        std::thread::available_parallelism().map(|n| n.get()).unwrap_or(0)
    ));
}
