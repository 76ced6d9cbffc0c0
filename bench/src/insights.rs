//! Scenario 7, insights through the GraphQL API, one request at a time: the comparison of two
//! 10,000-test runs (`compareRuns`, and `TestRun.comparison` with its baseline lookup), the
//! quality gate on the newer run, the list of quarantined cases CI reads, the cost per changed
//! case of the flaky classification's refresh, and the latency of a webhook delivery from the
//! commit of a run's end to a receiver in this process.
//!
//! The two runs are written as the owner with set-based SQL (their executions with every
//! trigger on, as an ingestion writes them), then finished by `refresh_test_run` as the API
//! finishes a run, the base before the head is created, so that the head's baseline is the
//! base. The head differs from the base as a day's change does: about 1% of the cases newly
//! fail, 1% are fixed, 1% still fail, 0.5% are new, 0.5% went missing, 2% got much slower and
//! the others' durations move by up to 5%.

use std::collections::HashSet;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use serde_json::{Value, json};
use tokio::sync::{mpsc, oneshot};
use uuid::Uuid;

use crate::load::{self, Measured};
use crate::options::{QUICK_WEBHOOK_DELIVERIES, WEBHOOK_DELIVERIES};
use crate::report::Row;
use crate::{Ctx, Size, progress};

/// The limit for `compareRuns` of two 10,000-test runs at 1M executions, in ms.
const COMPARE_LIMIT_MS: f64 = 100.0;

/// Tests the compared runs are made of at most: the "two 10,000-test runs".
const RUN_TESTS: i64 = 10_000;

/// One case in this many is only in the head run (new), and one other only in the base run
/// (missing): 0.5% each.
const NEW_AND_MISSING_EVERY: i64 = 200;

/// Cases quarantined before `quarantinedTests` is measured: a large project's backlog of
/// flaky tests, five pages of CI's list.
const QUARANTINED_CASES: i64 = 500;

/// Page size of `quarantinedTests` as CI reads it: the largest page the API gives.
const QUARANTINE_PAGE: i32 = 100;

/// Changed cases before each measured refresh of the flaky classification: one bulk report's
/// cases (the ingestion scenario's batch), then a large import's.
const CHANGED_CASES: [i64; 2] = [125, 1_000];

/// Longest wait for a webhook delivery to reach the receiver before it is counted missing:
/// far above a delivery's latency, short enough that a lost one does not stall the run.
const DELIVERY_WAIT: Duration = Duration::from_secs(10);

/// Secret of the benchmark's webhook (the API wants 16 to 256 characters).
const WEBHOOK_SECRET: &str = "bench-webhook-secret-0123456789";

/// Branch of the runs the webhook measurement starts: apart from the compared runs' `main`,
/// so that they never become the compared runs' baseline.
const WEBHOOK_BRANCH: &str = "bench-webhooks";

const CASE_FIELDS: &str = "testCase { name } baseStatus headStatus errorFingerprint";

/// A run, as the owner: ad hoc, on `main`, in the default project, started a quarter of an
/// hour ago.
const NEW_RUN: &str = "
INSERT INTO test_runs(name, status, started_at, total_tests, triggered_by, ad_hoc, branch,
                      run_configuration)
VALUES ($1, 'running', now() - interval '15 minutes', 0, 'bench-admin', true, 'main',
        '{\"branch\": \"main\"}'::jsonb)
RETURNING id";

/// The executions of run `$1` over the cases 1..`$2`; `$3`: whether it is the head run. Each
/// case's outcome and duration come from hashes of its number, so that the two runs differ
/// the same way every time (see the module's comment for the shares).
const EXECUTIONS: &str = "
INSERT INTO test_executions(test_case_id, test_run_id, status, started_at, completed_at,
                            duration_ms, error_message, execution_metadata, retry_attempt)
SELECT md5('case:' || i)::uuid, $1, o.status, o.st, o.st + o.ms * interval '1 millisecond', o.ms,
       CASE WHEN o.status = 'failed' THEN (ARRAY[
           'Timeout after ' || (1000 + b.h * 7) || ' ms waiting for selector #btn-' || (i % 97),
           'Expected status 200 but got ' || (500 + b.h % 4) || ' from /api/v1/orders/' || md5(i::text)::uuid,
           'Element not found: .item-' || (i % 40),
           'AssertionError: expected \"Total: ' || i || '\" to equal \"Total: ' || (i + 1) || '\"'])[1 + i % 4]
       END,
       jsonb_build_object('agent', 'runner-' || (i % 8)), 0
FROM generate_series(1, $2::bigint) AS i,
     LATERAL (SELECT abs(hashint8(i * 7919 + 17)) % 1000 AS h,
                     200 + abs(hashint8(i * 104729 + 3)) % 4800 AS base_ms,
                     95 + abs(hashint8(i * 31 + 5)) % 11 AS jitter) AS b,
     LATERAL (SELECT now() - interval '15 minutes' + (i % 600) * interval '1 second' AS st,
                     CASE WHEN NOT $3 THEN CASE WHEN b.h < 20 THEN 'failed'
                                                WHEN b.h < 40 THEN 'skipped' ELSE 'passed' END
                          WHEN b.h < 10 THEN 'passed'
                          WHEN b.h < 20 THEN 'failed'
                          WHEN b.h < 40 THEN 'skipped'
                          WHEN b.h < 50 THEN 'failed'
                          ELSE 'passed' END AS status,
                     (CASE WHEN NOT $3 THEN b.base_ms
                           WHEN b.h >= 50 AND b.h < 70 THEN b.base_ms * 2 + 150
                           ELSE b.base_ms * b.jitter / 100 END)::int AS ms) AS o
WHERE CASE WHEN $3 THEN i % $4::bigint <> 1 ELSE i % $4::bigint <> 0 END";

pub async fn run(ctx: &Ctx<'_>, report: &mut crate::Report) -> anyhow::Result<()> {
    let opts = ctx.options;
    progress::say(opts, "scenario 7: insights");
    let cases = ctx.seeded.dataset.cases.min(RUN_TESTS);
    let (base, head, tests) = two_runs(ctx, cases).await?;
    // what the two runs' executions noted for the background refresh, applied now so that it
    // does not land in a measurement
    sqlx::query("SELECT refresh_test_case_flakiness()")
        .execute(&ctx.env.pg)
        .await
        .context("refreshing the flakiness noted by the runs")?;
    sqlx::query("SELECT fold_failure_groups()")
        .execute(&ctx.env.pg)
        .await
        .context("folding the failures noted by the runs")?;
    let sized = if tests == RUN_TESTS {
        format!("two {}-test runs", crate::seed::thousands(tests))
    } else {
        format!(
            "two {}-test runs ({} cases seeded at this size)",
            crate::seed::thousands(tests),
            crate::seed::thousands(ctx.seeded.dataset.cases)
        )
    };
    compare(ctx, report, base, head, &sized).await?;
    gate(ctx, report, head).await?;
    quarantined(ctx, report).await?;
    flaky_refresh(ctx, report).await?;
    webhooks(ctx, report).await?;
    report.note(format!(
        "Insights: two ad-hoc runs of the default project on branch main written as the owner with set-based SQL over the seeded cases ({} executions each: one case in {NEW_AND_MISSING_EVERY} only in the head, one only in the base; about 1% new failures, 1% fixed, 1% still failing, 2% skipped, 2% passed but over twice as slow), executions written with every trigger on, each run finished by refresh_test_run(run, true) as finishTestRun does, the base before the head was created (so the base is the head's baseline); the notes they left for the background refresh and fold applied before measuring. Each query sent {} times one after another as the admin after one unmeasured request; compareRuns asks for the counts and the first 100 entries of every list with the case's name (and the failing streak of the still-failing ones); TestRun.comparison for the counts and the baseline. The 100 ms limit applies at --large (1M executions).",
        crate::seed::thousands(tests),
        opts.analytics_iterations
    ));
    Ok(())
}

/// The base and head runs, finished; returns their ids and the tests each has.
async fn two_runs(ctx: &Ctx<'_>, cases: i64) -> anyhow::Result<(Uuid, Uuid, i64)> {
    let bar = progress::bar(ctx.options, 2, "insights: writing two runs");
    let mut ids = [Uuid::nil(); 2];
    for (k, head) in [false, true].into_iter().enumerate() {
        let name = if head {
            "Insights head"
        } else {
            "Insights base"
        };
        let id: Uuid = sqlx::query_scalar(NEW_RUN)
            .bind(name)
            .fetch_one(&ctx.env.pg)
            .await
            .with_context(|| format!("creating the run {name}"))?;
        sqlx::query(EXECUTIONS)
            .bind(id)
            .bind(cases)
            .bind(head)
            .bind(NEW_AND_MISSING_EVERY)
            .execute(&ctx.env.pg)
            .await
            .with_context(|| format!("writing the executions of {name}"))?;
        // finished in a statement of its own: the head is created after the base's end
        sqlx::query("SELECT refresh_test_run($1, true)")
            .bind(id)
            .execute(&ctx.env.pg)
            .await
            .with_context(|| format!("finishing {name}"))?;
        ids[k] = id;
        bar.inc(1);
    }
    bar.finish_and_clear();
    let (status, tests): (String, i32) =
        sqlx::query_as("SELECT status, total_tests FROM test_runs WHERE id = $1")
            .bind(ids[1])
            .fetch_one(&ctx.env.pg)
            .await
            .context("reading the head run")?;
    anyhow::ensure!(
        status == "failed" && tests > 0,
        "the head run ended {status} with {tests} tests"
    );
    sqlx::raw_sql("ANALYZE test_runs; ANALYZE test_executions")
        .execute(&ctx.env.pg)
        .await
        .context("ANALYZE after the runs")?;
    Ok((ids[0], ids[1], i64::from(tests)))
}

/// Sends `query` with `variables` once unmeasured, then `iterations` times one at a time;
/// returns the measurement and the unmeasured answer.
async fn measure(
    ctx: &Ctx<'_>,
    name: &str,
    query: &str,
    variables: &Value,
) -> anyhow::Result<(Measured, Value)> {
    let url = ctx.servers.api_url("/graphql");
    let body = load::body(query, variables)?;
    let first = load::post(
        &ctx.servers.client,
        &url,
        Some(&ctx.env.token),
        body.clone(),
    )
    .await
    .map_err(|e| anyhow::anyhow!("{name}: {e}"))?;
    let answer: Value = serde_json::from_slice(&first).context("decoding an answer")?;
    let mut m = Measured::default();
    // one request at a time: the throughput is requests over the time spent in them
    for _ in 0..ctx.options.analytics_iterations {
        let t0 = Instant::now();
        match load::post(
            &ctx.servers.client,
            &url,
            Some(&ctx.env.token),
            body.clone(),
        )
        .await
        {
            Ok(_) => {
                let took = t0.elapsed();
                m.elapsed += took;
                load::record(&mut m.latency, took);
                m.requests += 1;
                m.units += 1;
            }
            Err(e) => {
                m.errors += 1;
                m.first_error.get_or_insert(e);
            }
        }
    }
    Ok((m, answer))
}

/// `compareRuns(base, head)` and `testRun(head) { comparison }`.
async fn compare(
    ctx: &Ctx<'_>,
    report: &mut crate::Report,
    base: Uuid,
    head: Uuid,
    sized: &str,
) -> anyhow::Result<()> {
    let large = ctx.options.size == Size::Large;
    let counts = "counts { newFailures fixed stillFailing newTests missingTests durationRegressions unchanged }";
    let compare_runs = format!(
        "query($base: UUID!, $head: UUID!) {{ compareRuns(base: $base, head: $head) {{
  {counts}
  newFailures(first: 100) {{ {CASE_FIELDS} }}
  fixed(first: 100) {{ {CASE_FIELDS} }}
  stillFailing(first: 100) {{ {CASE_FIELDS} failingStreak {{ since runs complete }} }}
  newTests(first: 100) {{ {CASE_FIELDS} }}
  missingTests(first: 100) {{ {CASE_FIELDS} }}
  durationRegressions(first: 100) {{ testCase {{ name }} baseDurationMs headDurationMs }} }} }}"
    );
    let of_run = format!(
        "query($head: UUID!) {{ testRun(id: $head) {{ id comparison {{ base {{ id }} {counts} }} }} }}"
    );
    let vars = json!({ "base": base, "head": head });
    let (m, answer) = measure(ctx, "compareRuns", &compare_runs, &vars).await?;
    let found = &answer["data"]["compareRuns"]["counts"];
    let found = format!(
        "counts: {} new failures, {} fixed, {} still failing, {} new, {} missing, {} slower, {} unchanged",
        found["newFailures"],
        found["fixed"],
        found["stillFailing"],
        found["newTests"],
        found["missingTests"],
        found["durationRegressions"],
        found["unchanged"]
    );
    report.row(
        Row::compared(
            "insights",
            &format!("compareRuns, {sized}: API"),
            "req/s",
            &m,
            None,
        )
        .with_note(&format!(
            "one request at a time; every list's first 100 entries with the case's name; {found}"
        )),
    );
    report.target(
        "insights: compareRuns of two 10,000-test runs",
        &format!("≤ {COMPARE_LIMIT_MS:.0} ms at 1M executions"),
        format!("p50 {:.1} ms, p95 {:.1} ms", m.ms(0.5), m.ms(0.95)),
        large.then_some(m.ms(0.95) <= COMPARE_LIMIT_MS && m.errors == 0),
        if large {
            "p95 of requests through the API"
        } else {
            "not at --large: figure at this size only (the limit is for 1M executions)"
        },
    );

    let (m, answer) = measure(ctx, "TestRun.comparison", &of_run, &json!({ "head": head })).await?;
    let baseline = answer["data"]["testRun"]["comparison"]["base"]["id"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    anyhow::ensure!(
        baseline == base.to_string(),
        "the head run's baseline is {baseline:?}, not the base run {base}"
    );
    report.row(
        Row::compared(
            "insights",
            &format!("testRun.comparison (baseline found), {sized}: API"),
            "req/s",
            &m,
            None,
        )
        .with_note("one request at a time; the counts only, after the baseline lookup"),
    );
    report.target(
        "insights: TestRun.comparison (counts) of a 10,000-test run",
        &format!("≤ {COMPARE_LIMIT_MS:.0} ms at 1M executions"),
        format!("p50 {:.1} ms, p95 {:.1} ms", m.ms(0.5), m.ms(0.95)),
        large.then_some(m.ms(0.95) <= COMPARE_LIMIT_MS && m.errors == 0),
        "the comparison's limit, with the baseline found first",
    );
    Ok(())
}

/// `qualityGate(runId: head, rules: {maxNewFailures: 0, minPassRate: 0.9})`.
async fn gate(ctx: &Ctx<'_>, report: &mut crate::Report, head: Uuid) -> anyhow::Result<()> {
    let query = "query($head: UUID!) { qualityGate(runId: $head,
  rules: { maxNewFailures: 0, minPassRate: 0.9 }) {
  status reasons { rule passed message actual expected } baseline { id } } }";
    let (m, answer) = measure(ctx, "qualityGate", query, &json!({ "head": head })).await?;
    let status = answer["data"]["qualityGate"]["status"]
        .as_str()
        .unwrap_or("?")
        .to_owned();
    report.row(
        Row::compared(
            "insights",
            "qualityGate (max 0 new failures, pass rate ≥ 0.9): API",
            "req/s",
            &m,
            None,
        )
        .with_note(&format!(
            "one request at a time; on the head run of the comparison, against its baseline; verdict {status}"
        )),
    );
    report.target(
        "insights: qualityGate on a 10,000-test run",
        "reported (p95)",
        format!("p50 {:.1} ms, p95 {:.1} ms", m.ms(0.5), m.ms(0.95)),
        None,
        "no limit set by the issue: the figure is reported",
    );
    Ok(())
}

/// Quarantines [`QUARANTINED_CASES`] random cases and measures CI's first page of them.
async fn quarantined(ctx: &Ctx<'_>, report: &mut crate::Report) -> anyhow::Result<()> {
    let quarantined = sqlx::query(
        "INSERT INTO test_case_quarantines(test_case_id, project_id, owner, reason, expires_at,
                                           created_by)
         SELECT id, project_id, 'bench-admin', 'flaky: fails one run in five on CI',
                now() + interval '30 days', 'bench-admin'
         FROM test_cases ORDER BY random() LIMIT $1
         ON CONFLICT DO NOTHING",
    )
    .bind(QUARANTINED_CASES)
    .execute(&ctx.env.pg)
    .await
    .context("quarantining cases")?
    .rows_affected();
    let query = format!(
        "{{ quarantinedTests(first: {QUARANTINE_PAGE}) {{ totalCount
  edges {{ cursor node {{ testCaseId testKey owner reason expiresAt testCase {{ name }} }} }}
  pageInfo {{ hasNextPage endCursor }} }} }}"
    );
    let (m, answer) = measure(ctx, "quarantinedTests", &query, &json!({})).await?;
    let total = answer["data"]["quarantinedTests"]["totalCount"].clone();
    report.row(
        Row::compared(
            "insights",
            &format!("quarantinedTests(first: {QUARANTINE_PAGE}) of {quarantined}: API"),
            "req/s",
            &m,
            None,
        )
        .with_note(&format!(
            "one request at a time; the first page with totalCount ({total}), each with its case's name and test key; {quarantined} cases quarantined with SQL as the owner"
        )),
    );
    report.target(
        "insights: quarantinedTests, first 100",
        "reported (p95)",
        format!("p50 {:.1} ms, p95 {:.1} ms", m.ms(0.5), m.ms(0.95)),
        None,
        "no limit set by the issue: the figure is reported",
    );
    Ok(())
}

/// The refresh of the flaky classification after [`CHANGED_CASES`] cases changed, per case.
async fn flaky_refresh(ctx: &Ctx<'_>, report: &mut crate::Report) -> anyhow::Result<()> {
    let opts = ctx.options;
    let mut measured = Vec::new();
    for n in CHANGED_CASES {
        // `--quick` has fewer cases than the larger size
        let n = n.min(ctx.seeded.dataset.cases);
        let mut m = Measured::default();
        let mut per_case = Vec::new();
        for _ in 0..opts.analytics_iterations {
            // noted and refreshed in one transaction: the server's background refresh cannot
            // take the noted cases first (it does not see them before the commit)
            let mut tx = ctx.env.pg.begin().await?;
            sqlx::query(
                "INSERT INTO test_case_flakiness_pending
                 SELECT id FROM test_cases ORDER BY random() LIMIT $1",
            )
            .bind(n)
            .execute(&mut *tx)
            .await
            .context("noting changed cases")?;
            let t0 = Instant::now();
            let refreshed: i32 = sqlx::query_scalar("SELECT refresh_test_case_flakiness()")
                .fetch_one(&mut *tx)
                .await
                .context("refreshing the flaky classification")?;
            tx.commit().await?;
            let took = t0.elapsed();
            load::record(&mut m.latency, took);
            m.elapsed += took;
            m.requests += 1;
            m.units += 1;
            per_case.push(took.as_secs_f64() * 1e6 / f64::from(refreshed.max(1)));
        }
        per_case.sort_by(f64::total_cmp);
        let median = per_case.get(per_case.len() / 2).copied().unwrap_or(0.0);
        report.row(
            Row::compared(
                "insights",
                &format!("flaky classification refresh, {n} changed cases"),
                "refreshes/s",
                &m,
                None,
            )
            .with_note(&format!(
                "{median:.0} µs per case (median); {n} random cases noted, then refresh_test_case_flakiness() and COMMIT, as the owner"
            )),
        );
        measured.push(format!("{n} cases: {median:.0} µs per case"));
    }
    report.target(
        "insights: flaky classification refresh cost per changed case",
        "reported",
        measured.join(", "),
        None,
        "the refresh of the noted cases (classification, reasons, kept summary), timed with its commit",
    );
    Ok(())
}

/// The webhook delivery latency, from the client's view of the commit of a run's end to the
/// receiver; left out when another scenario measures it.
async fn webhooks(ctx: &Ctx<'_>, report: &mut crate::Report) -> anyhow::Result<()> {
    let opts = ctx.options;
    let deliveries = if opts.size == Size::Quick {
        QUICK_WEBHOOK_DELIVERIES
    } else {
        WEBHOOK_DELIVERIES
    };
    let (addr, mut arrivals, stop, task) = receiver().await?;
    let url = ctx.servers.api_url("/graphql");
    let post = |query: &str, variables: Value| {
        let body = load::body(query, &variables);
        let url = url.clone();
        async move {
            let bytes = load::post(&ctx.servers.client, &url, Some(&ctx.env.token), body?)
                .await
                .map_err(|e| anyhow::anyhow!("{e}"))?;
            serde_json::from_slice::<Value>(&bytes).context("decoding an answer")
        }
    };
    let created = post(
        "mutation($input: CreateWebhookInput!) { createWebhook(input: $input) { id } }",
        json!({ "input": {
            "url": format!("http://{addr}/hook"),
            "secret": WEBHOOK_SECRET,
            "events": ["RUN_FINISHED"],
            "description": "benchmark receiver",
        } }),
    )
    .await
    .context("creating the webhook")?;
    let webhook = created["data"]["createWebhook"]["id"].clone();
    let bar = progress::bar(opts, deliveries as u64, "insights: webhook deliveries");
    let mut m = Measured::default();
    let mut early = 0;
    let mut finish = load::histogram();
    for k in 0..deliveries {
        let outcome = async {
            let started = post(
                "mutation($input: StartTestRunInput!) { startTestRun(input: $input) { id } }",
                json!({ "input": { "name": format!("Webhook probe #{k}"), "branch": WEBHOOK_BRANCH } }),
            )
            .await?;
            let run: Uuid = serde_json::from_value(started["data"]["startTestRun"]["id"].clone())
                .context("the started run's id")?;
            post(
                "mutation($run: UUID!, $results: [ReportResultInput!]!) {
                   reportResults(runId: $run, results: $results) { accepted } }",
                json!({ "run": run, "results": [{
                    "idempotencyKey": "probe",
                    "testKey": "bench.webhooks::probe",
                    "status": "PASSED",
                    "durationMs": 5,
                }] }),
            )
            .await?;
            let sent = Instant::now();
            post(
                "mutation($run: UUID!) { finishTestRun(id: $run) { status } }",
                json!({ "run": run }),
            )
            .await?;
            let committed = Instant::now();
            let deadline = tokio::time::Instant::now() + DELIVERY_WAIT;
            loop {
                let (id, at) = tokio::time::timeout_at(deadline, arrivals.recv())
                    .await
                    .context("no delivery within the wait")?
                    .context("the receiver stopped")?;
                if id == run {
                    return Ok::<_, anyhow::Error>((sent, committed, at));
                }
            }
        }
        .await;
        match outcome {
            Ok((sent, committed, at)) => {
                if at < committed {
                    early += 1;
                }
                load::record(&mut m.latency, at.saturating_duration_since(committed));
                load::record(&mut finish, committed - sent);
                m.elapsed += at.saturating_duration_since(sent);
                m.requests += 1;
                m.units += 1;
            }
            Err(e) => {
                m.errors += 1;
                m.first_error.get_or_insert(format!("{e:#}"));
            }
        }
        bar.inc(1);
    }
    bar.finish_and_clear();
    let _ = post(
        "mutation($id: UUID!) { deleteWebhook(id: $id) }",
        json!({ "id": webhook }),
    )
    .await;
    let _ = stop.send(());
    let _ = task.await;
    report.row(
        Row::compared(
            "insights",
            "webhook delivery, run's end committed → receiver",
            "deliveries/s",
            &m,
            None,
        )
        .with_note(&format!(
            "{deliveries} runs one after another (startTestRun, reportResults of one result, finishTestRun); from the finishTestRun answer reaching the client (just after the commit) to the delivery reaching a receiver in this process over loopback; {early} arrived before the answer (counted as 0); finishTestRun itself p50 {:.1} ms",
            finish.value_at_quantile(0.5) as f64 / 1000.0
        )),
    );
    report.target(
        "insights: webhook delivery latency, commit → receiver",
        "reported (p50/p99)",
        format!("p50 {:.1} ms, p99 {:.1} ms", m.ms(0.5), m.ms(0.99)),
        None,
        "from the client's view of the commit (the mutation's answer); receiver on loopback",
    );
    Ok(())
}

type Arrivals = mpsc::UnboundedReceiver<(Uuid, Instant)>;

/// A webhook receiver on 127.0.0.1:0: each delivery's run id and arrival time, the first
/// arrival of each delivery id only (delivery is at least once).
async fn receiver() -> anyhow::Result<(
    SocketAddr,
    Arrivals,
    oneshot::Sender<()>,
    tokio::task::JoinHandle<()>,
)> {
    use axum::http::{HeaderMap, StatusCode};
    let (tx, rx) = mpsc::unbounded_channel();
    let seen = std::sync::Arc::new(std::sync::Mutex::new(HashSet::<String>::new()));
    let app = axum::Router::new().route(
        "/hook",
        axum::routing::post(move |headers: HeaderMap, body: bytes::Bytes| {
            let tx = tx.clone();
            let seen = seen.clone();
            async move {
                let at = Instant::now();
                let delivery = headers
                    .get("X-JBTS-Delivery")
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or_default()
                    .to_owned();
                let first = seen.lock().map(|mut s| s.insert(delivery)).unwrap_or(true);
                let run = serde_json::from_slice::<Value>(&body)
                    .ok()
                    .and_then(|v| v["data"]["run"]["id"].as_str().map(str::to_owned))
                    .and_then(|id| id.parse::<Uuid>().ok());
                if let (true, Some(run)) = (first, run) {
                    let _ = tx.send((run, at));
                }
                StatusCode::NO_CONTENT
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0))
        .await
        .context("binding the webhook receiver")?;
    let addr = listener.local_addr()?;
    let (stop, stopped) = oneshot::channel::<()>();
    let task = tokio::spawn(async move {
        let _ = axum::serve(listener, app)
            .with_graceful_shutdown(async move {
                let _ = stopped.await;
            })
            .await;
    });
    Ok((addr, rx, stop, task))
}
