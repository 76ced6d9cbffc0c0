//! Scenario 4, analytics through the GraphQL API, one request at a time: one case's
//! statistics, the 50 flakiest cases, the 50 most-failing cases, and failure groups by error
//! fingerprint, each p50/p95 against the analytics issue's limits (which hold at `--large`).
//! The flakiest list is read from the kept per-case summary, which a reader first brings up
//! to date with the cases changed since the last refresh: measured steady, right after a
//! report of 125 cases' results (what a dashboard polling during ingestion pays), and as the
//! full recomputation of every case. The write path's side of it (noting changed cases) is
//! measured by the ingestion scenario.

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
    /// Cases noted as changed (as a report of their results would) before each request.
    changed_before: i64,
}

/// Cases a bulk report of the ingestion scenario touches (one batch).
const CHANGED_CASES: i64 = 125;

const QUERIES: &[Query] = &[
    Query {
        name: "one case's stats",
        query: CASE_STATS,
        limit_ms: Some(50.0),
        changed_before: 0,
    },
    Query {
        name: "50 flakiest cases (30 days)",
        query: FLAKIEST,
        limit_ms: Some(500.0),
        changed_before: 0,
    },
    Query {
        name: "50 flakiest cases, right after 125 cases' results",
        query: FLAKIEST,
        limit_ms: Some(500.0),
        changed_before: CHANGED_CASES,
    },
    Query {
        name: "50 most-failing cases (30 days)",
        query: MOST_FAILING,
        limit_ms: Some(500.0),
        changed_before: 0,
    },
    Query {
        name: "failure groups, top 50",
        query: FAILURE_GROUPS,
        limit_ms: None,
        changed_before: 0,
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
    full_refresh(ctx, report).await?;
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
        // one request at a time: the throughput is requests over the time spent in them
        let mut busy = std::time::Duration::ZERO;
        for _ in 0..opts.analytics_iterations {
            if q.changed_before > 0 {
                note_changed(ctx, q.changed_before).await?;
            }
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
                    busy += t0.elapsed();
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
        m.elapsed = busy;
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
    report.note(format!(
        "Analytics: the GraphQL analytics queries (TestCase.stats, flakiestTestCases, mostFailingTestCases, failureGroups), each sent {} times one after another as the admin, after one unmeasured request; the limits of the analytics issue apply at --large (1M executions, 5M step executions). \"Right after 125 cases' results\": before each request (unmeasured) 125 random cases are noted as changed, as a bulk report notes them, so each request first recomputes them. The full recomputation is `refresh_test_case_flakiness()` with every case noted, run as the owner.",
        opts.analytics_iterations
    ));
    Ok(())
}

/// Notes `n` random cases as changed, as a report of their results would.
async fn note_changed(ctx: &Ctx<'_>, n: i64) -> anyhow::Result<()> {
    sqlx::query(
        "INSERT INTO test_case_flakiness_pending SELECT id FROM test_cases ORDER BY random() LIMIT $1",
    )
    .bind(n)
    .execute(&ctx.env.pg)
    .await
    .context("noting changed cases")?;
    Ok(())
}

/// The kept flakiness recomputed for every case at once (what the first refresh after
/// seeding, or after a migration onto existing data, does).
async fn full_refresh(ctx: &Ctx<'_>, report: &mut crate::Report) -> anyhow::Result<()> {
    sqlx::query("INSERT INTO test_case_flakiness_pending SELECT id FROM test_cases")
        .execute(&ctx.env.pg)
        .await
        .context("noting every case")?;
    let t0 = std::time::Instant::now();
    let cases: i32 = sqlx::query_scalar("SELECT refresh_test_case_flakiness()")
        .fetch_one(&ctx.env.pg)
        .await
        .context("refreshing the kept flakiness")?;
    let elapsed = t0.elapsed();
    let mut m = Measured::default();
    load::record(&mut m.latency, elapsed);
    m.requests = 1;
    m.units = 1;
    m.elapsed = elapsed;
    report.row(
        Row::compared(
            "analytics",
            "flakiness of every case recomputed (one refresh)",
            "refreshes/s",
            &m,
            None,
        )
        .with_note(&format!(
            "{cases} cases, {:.0} µs per case; readers and the server's background refresh recompute only changed cases",
            elapsed.as_secs_f64() * 1e6 / f64::from(cases.max(1))
        )),
    );
    Ok(())
}
