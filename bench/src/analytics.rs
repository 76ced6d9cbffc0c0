//! Scenario 4, analytics through the GraphQL API, one request at a time: one case's
//! statistics, the 50 flakiest cases, the 50 most-failing cases, and failure groups by error
//! fingerprint, each p50/p95 against the analytics issue's limits (which hold at `--large`).
//! The analytics are computed on demand from indexes (no state kept on the write path), so
//! ingestion with and without analytics maintenance is the same code: nothing to compare.

use anyhow::Context as _;
use serde_json::json;

use crate::load::{self, Measured};
use crate::report::Row;
use crate::{Ctx, Size, progress};

const CASE_STATS: &str = "query($id: UUID!) { testCase(id: $id) { stats {
  totalExecutions passed failed skipped successRate avgDuration minDuration maxDuration
  medianDuration p95Duration firstExecutedAt lastExecutedAt executionsLast30Days
  executionsPrevious30Days stabilityRating } } }";

const FLAKIEST: &str = "{ flakiestTestCases(limit: 50) {
  testCase { id name } flakiness { flakyScore sampleSize flips failures passedOnRetry reasons } } }";

const MOST_FAILING: &str = "{ mostFailingTestCases(limit: 50) {
  testCase { id name } failures executions lastFailureAt } }";

const FAILURE_GROUPS: &str = "{ failureGroups(limit: 50) {
  fingerprint count affectedTestCases firstSeenAt lastSeenAt examples } }";

struct Query {
    name: &'static str,
    query: &'static str,
    /// The analytics issue's limit at 1M executions, in milliseconds.
    limit_ms: Option<f64>,
}

const QUERIES: &[Query] = &[
    Query {
        name: "one case's stats",
        query: CASE_STATS,
        limit_ms: Some(50.0),
    },
    Query {
        name: "50 flakiest cases (30 days)",
        query: FLAKIEST,
        limit_ms: Some(500.0),
    },
    Query {
        name: "50 most-failing cases (30 days)",
        query: MOST_FAILING,
        limit_ms: Some(500.0),
    },
    Query {
        name: "failure groups, top 50",
        query: FAILURE_GROUPS,
        limit_ms: None,
    },
];

pub async fn run(ctx: &Ctx<'_>, report: &mut crate::Report) -> anyhow::Result<()> {
    let opts = ctx.options;
    progress::say(opts, "scenario 4: analytics");
    let large = opts.size == Size::Large;
    // the seeded case 1: every case has the same share of the executions
    let case: uuid::Uuid = sqlx::query_scalar("SELECT md5('case:1')::uuid")
        .fetch_one(&ctx.env.pg)
        .await?;
    let url = ctx.servers.api_url("/graphql");
    let bar = progress::bar(
        opts,
        (QUERIES.len() * (opts.analytics_iterations + 1)) as u64,
        "analytics queries",
    );
    for q in QUERIES {
        let body = load::body(q.query, &json!({ "id": case }))?;
        // one unmeasured request: plans and caches, as a dashboard that is already open
        load::post(
            &ctx.servers.client,
            &url,
            Some(&ctx.env.token),
            body.clone(),
        )
        .await
        .map_err(|e| anyhow::anyhow!("{}: {e}", q.name))
        .context("analytics API")?;
        bar.inc(1);
        let mut m = Measured::default();
        let started = std::time::Instant::now();
        for _ in 0..opts.analytics_iterations {
            let t0 = std::time::Instant::now();
            match load::post(
                &ctx.servers.client,
                &url,
                Some(&ctx.env.token),
                body.clone(),
            )
            .await
            {
                Ok(_) => {
                    load::record(&mut m.latency, t0.elapsed());
                    m.requests += 1;
                    m.units += 1;
                }
                Err(e) => {
                    m.errors += 1;
                    m.first_error.get_or_insert(e);
                }
            }
            bar.inc(1);
        }
        m.elapsed = started.elapsed();
        let p95 = m.ms(0.95);
        report.row(
            Row::compared("analytics", &format!("{}: API", q.name), "req/s", &m, None)
                .with_note("one request at a time"),
        );
        if let Some(limit) = q.limit_ms {
            report.target(
                &format!("analytics: {}", q.name),
                &format!("≤ {limit:.0} ms at 1M executions"),
                format!("p50 {:.1} ms, p95 {p95:.1} ms", m.ms(0.5)),
                large.then_some(p95 <= limit && m.errors == 0),
                if large {
                    "p95 of requests through the API"
                } else {
                    "not at --large: figure at this size only (the limit is for 1M executions)"
                },
            );
        }
    }
    bar.finish_and_clear();
    report.target(
        "ingestion with vs without analytics maintenance",
        "≈ 1×",
        "1× by construction".to_owned(),
        None,
        "the analytics keep no state: computed on demand from indexes, the write path does no analytics work",
    );
    report.note(format!(
        "Analytics: the GraphQL analytics queries (TestCase.stats, flakiestTestCases, mostFailingTestCases, failureGroups), each sent {} times one after another as the admin, after one unmeasured request; the limits of the analytics issue apply at --large (1M executions, 5M step executions).",
        opts.analytics_iterations
    ));
    Ok(())
}
