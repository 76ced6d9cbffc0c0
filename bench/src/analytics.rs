//! Scenario 4, analytics through the GraphQL API, one request at a time: one case's
//! statistics, the 50 flakiest cases, the 50 most-failing cases, and failure groups by error
//! fingerprint, each p50/p95 against the analytics issue's limits (which hold at `--large`).
//! The flakiest list is read from the kept per-case summary, which a reader first brings up
//! to date with the cases changed since the last refresh: measured steady, right after a
//! report of 125 cases' results (what a dashboard polling during ingestion pays), and as the
//! full recomputation of every case. Failure groups are read from the kept groups, which a
//! reader first brings up to date with the failures noted since the last fold: measured steady
//! and right after 125 failures were noted; beside them, in the same run, the grouping on
//! demand that answered before the groups were kept (the same statement the API still runs
//! for filters the kept groups do not answer), and the kept read without HTTP, both as the
//! owner. The write path's side (noting changed cases and failures) is measured by the
//! ingestion scenario.

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
  fingerprint count affectedTestCases affectedRuns firstSeenAt lastSeenAt examples } }";

/// The limit for the top 50 failure groups at 1M executions, in milliseconds.
const FAILURE_GROUPS_LIMIT_MS: f64 = 200.0;

struct Query {
    name: &'static str,
    query: &'static str,
    /// The analytics issue's limit at 1M executions, in milliseconds.
    limit_ms: Option<f64>,
    /// Cases noted as changed (as a report of their results would) before each request.
    changed_before: i64,
    /// Failures noted (as a report of failed results would) before each request.
    failed_before: i64,
}

/// Cases a bulk report of the ingestion scenario touches (one batch).
const CHANGED_CASES: i64 = 125;

const QUERIES: &[Query] = &[
    Query {
        name: "one case's stats",
        query: CASE_STATS,
        limit_ms: Some(50.0),
        changed_before: 0,
        failed_before: 0,
    },
    Query {
        name: "50 flakiest cases (30 days)",
        query: FLAKIEST,
        limit_ms: Some(500.0),
        changed_before: 0,
        failed_before: 0,
    },
    Query {
        name: "50 flakiest cases, right after 125 cases' results",
        query: FLAKIEST,
        limit_ms: Some(500.0),
        changed_before: CHANGED_CASES,
        failed_before: 0,
    },
    Query {
        name: "50 most-failing cases (30 days)",
        query: MOST_FAILING,
        limit_ms: Some(500.0),
        changed_before: 0,
        failed_before: 0,
    },
    Query {
        name: "failure groups, top 50",
        query: FAILURE_GROUPS,
        limit_ms: Some(FAILURE_GROUPS_LIMIT_MS),
        changed_before: 0,
        failed_before: 0,
    },
    Query {
        name: "failure groups, top 50, right after 125 failures",
        query: FAILURE_GROUPS,
        limit_ms: Some(FAILURE_GROUPS_LIMIT_MS),
        changed_before: 0,
        failed_before: FAILED_RESULTS,
    },
];

/// Failures noted before each request of the "right after" failure groups: a batch of 125
/// results, all failed (more than a real batch brings between two background folds).
const FAILED_RESULTS: i64 = 125;

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
    rebuild_failure_groups(ctx, report).await?;
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
            if q.failed_before > 0 {
                note_failed(ctx, q.failed_before).await?;
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
    // the notes above counted failures twice: the kept groups made exact again
    sqlx::query("SELECT rebuild_failure_groups()")
        .execute(&ctx.env.pg)
        .await
        .context("rebuilding the failure groups")?;
    failure_groups_before_and_after(ctx, report).await?;
    report.note(format!(
        "Analytics: the GraphQL analytics queries (TestCase.stats, flakiestTestCases, mostFailingTestCases, failureGroups), each sent {} times one after another as the admin, after one unmeasured request; the limits of the analytics issue apply at --large (1M executions, 5M step executions). \"Right after 125 cases' results\": before each request (unmeasured) 125 random cases are noted as changed, as a bulk report notes them, so each request first recomputes them. The full recomputation is `refresh_test_case_flakiness()` with every case noted, run as the owner. Failure groups: read from the kept groups after a fold of the failures noted since the last one; \"right after 125 failures\": 125 failures noted before each request; the kept groups are then rebuilt, and the top 50 timed as the owner both ways (kept, and grouped on demand as before they were kept), alternately.",
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

/// Notes `n` random failures as a report of failed results would (each counted once more
/// until the next rebuild).
async fn note_failed(ctx: &Ctx<'_>, n: i64) -> anyhow::Result<()> {
    sqlx::query(
        "INSERT INTO failure_group_pending
         SELECT error_message, test_case_id, test_run_id, completed_at, 1 FROM test_executions
         WHERE status = 'failed' AND error_message IS NOT NULL ORDER BY random() LIMIT $1",
    )
    .bind(n)
    .execute(&ctx.env.pg)
    .await
    .context("noting failures")?;
    Ok(())
}

/// The kept failure groups computed from every execution at once (the seed writes with
/// triggers off; the migration does the same on existing data).
async fn rebuild_failure_groups(ctx: &Ctx<'_>, report: &mut crate::Report) -> anyhow::Result<()> {
    let t0 = std::time::Instant::now();
    let groups: i64 = sqlx::query_scalar("SELECT rebuild_failure_groups()")
        .fetch_one(&ctx.env.pg)
        .await
        .context("rebuilding the failure groups")?;
    let elapsed = t0.elapsed();
    let failures: i64 =
        sqlx::query_scalar("SELECT coalesce(sum(failures), 0)::bigint FROM failure_groups")
            .fetch_one(&ctx.env.pg)
            .await
            .context("counting kept failures")?;
    let mut m = Measured::default();
    load::record(&mut m.latency, elapsed);
    m.requests = 1;
    m.units = 1;
    m.elapsed = elapsed;
    report.row(
        Row::compared(
            "analytics",
            "failure groups rebuilt from every execution (one rebuild)",
            "rebuilds/s",
            &m,
            None,
        )
        .with_note(&format!(
            "{groups} groups of {failures} failures, {:.0} µs per failure; readers and the server's background fold apply only the failures noted since",
            elapsed.as_secs_f64() * 1e6 / failures.max(1) as f64
        )),
    );
    Ok(())
}

/// The top 50 failure groups as the owner, without HTTP: grouped on demand (the statement the
/// API answered with before the groups were kept, still used for filters they do not answer)
/// and read from the kept groups, in the same run.
async fn failure_groups_before_and_after(
    ctx: &Ctx<'_>,
    report: &mut crate::Report,
) -> anyhow::Result<()> {
    use api::analytics::failures;
    use api::analytics::types::FailureFilter;
    let opts = ctx.options;
    let everything = FailureFilter::default();
    let mut sides = [Measured::default(), Measured::default()];
    for _ in 0..opts.analytics_iterations {
        for (side, m) in sides.iter_mut().enumerate() {
            let t0 = std::time::Instant::now();
            let answer = if side == 0 {
                failures::grouped_on_demand(&ctx.env.owner, &everything, 50).await
            } else {
                match failures::fold(&ctx.env.owner).await {
                    Ok(_) => failures::failure_groups(&ctx.env.owner, &everything, 50).await,
                    Err(e) => Err(e),
                }
            };
            let elapsed = t0.elapsed();
            match answer {
                Ok(_) => {
                    load::record(&mut m.latency, elapsed);
                    m.elapsed += elapsed;
                    m.requests += 1;
                    m.units += 1;
                }
                Err(e) => {
                    m.errors += 1;
                    m.first_error.get_or_insert(format!("{e:?}"));
                }
            }
        }
    }
    let [before, after] = sides;
    report.row(
        Row::compared(
            "analytics",
            "failure groups, top 50, kept (fold + read, as the owner)",
            "req/s",
            &after,
            Some(("grouped on demand", &before)),
        )
        .with_note("no HTTP; the same run"),
    );
    report.target(
        "analytics: failure groups, kept vs on demand",
        "kept ≤ 200 ms p95 at 1M executions",
        format!(
            "kept p95 {:.1} ms, on demand p95 {:.1} ms",
            after.ms(0.95),
            before.ms(0.95)
        ),
        (opts.size == Size::Large)
            .then_some(after.ms(0.95) <= FAILURE_GROUPS_LIMIT_MS && after.errors == 0),
        "as the owner, without HTTP, one after the other",
    );
    Ok(())
}
