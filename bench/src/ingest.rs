//! Scenario 2, ingestion: `reportResults` with batches of 1,000 step results (125 executions ×
//! 8 steps) vs the same rows written by the raw endpoint's multi-row statements; the same
//! API batches with the NOTIFY triggers disabled (their cost) and with the analytics triggers
//! disabled (the write path's cost of what is kept as results arrive: flakiness, failure groups,
//! and every trigger on executions and runs added since); single `reportStepResult` mutations
//! vs a raw one-row upsert. One result in [`FAILED_EVERY`] fails, with a message, as the
//! seeded history does, so that the triggers keeping failures have work.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use anyhow::Context as _;
use bytes::Bytes;
use serde_json::{Value, json};
use sqlx::{AssertSqlSafe, Row as _};

use crate::load::{self, Measured, Step};
use crate::options::{BATCH_EXECUTIONS, BATCH_STEPS, INGEST_CONCURRENCY, ROUNDS, STEP_CONCURRENCY};
use crate::report::Row;
use crate::seed::{PendingRun, pending_runs};
use crate::{Ctx, progress};

const REPORT_RESULTS: &str = "mutation R($run: UUID!, $results: [ReportResultInput!]!) {
  reportResults(runId: $run, results: $results) { accepted duplicates rejected } }";

const REPORT_STEP: &str = "mutation S($e: UUID!, $s: UUID!, $status: StepExecutionStatus!,
  $actual: String, $duration: Float) {
  reportStepResult(executionId: $e, stepId: $s, status: $status, actualResult: $actual,
    durationSeconds: $duration) { id status } }";

/// Most bulk reports per second a side is given runs for; past it a side runs out of runs and
/// its phase ends early (its figure stays right: work done over time taken). 30 batches/s is
/// 30,000 step results/s, half again the target.
const MAX_BATCHES_PER_SECOND: f64 = 30.0;

/// Executions per run of the single-step callers (a run of the seeded size).
const STEP_RUN_EXECUTIONS: usize = 100;

/// Step results in one bulk report.
const BATCH_RESULTS: u64 = (BATCH_EXECUTIONS * BATCH_STEPS) as u64;

/// One result in this many fails (about the seeded history's 6%).
const FAILED_EVERY: usize = 16;

/// Triggers on executions and runs that were there before anything was kept as results
/// arrive: NOTIFY, audit, `updated_at`, durations kept in step, report keys forgotten. Every
/// other trigger on those tables (the kept flakiness, failure groups, and whatever is added
/// later) is an analytics trigger for the comparison.
const BASE_TRIGGERS: &str =
    "_(notify|audit)_|updated_at|_sync_duration$|_(forget|truncate)_reports$";

fn batch_body(run: &PendingRun) -> anyhow::Result<Bytes> {
    let results: Vec<Value> = run
        .executions
        .iter()
        .enumerate()
        .map(|(i, e)| {
            let failed = i % FAILED_EVERY == FAILED_EVERY - 1;
            json!({
                "idempotencyKey": format!("{}-{i}", run.id),
                "testCaseId": e.case_id,
                "status": if failed { "FAILED" } else { "PASSED" },
                "errorMessage": failed.then(|| format!(
                    "Timeout after {} ms waiting for selector #btn-{}", 1000 + i * 7, i % 97
                )),
                "durationSeconds": 12,
                "steps": e.steps.iter().map(|s| json!({
                    "stepId": s, "status": "PASSED", "durationSeconds": 1, "actualResult": "ok"
                })).collect::<Vec<_>>(),
            })
        })
        .collect();
    load::body(
        REPORT_RESULTS,
        &json!({ "run": run.id, "results": results }),
    )
}

/// Bulk reports from a pool of runs, each run reported once; `expect` must be in the answer.
async fn bulk_side(
    ctx: &Ctx<'_>,
    url: String,
    (runs, cursor): (Arc<Vec<PendingRun>>, Arc<AtomicUsize>),
    duration: Duration,
    warmup: Duration,
    expect: &'static str,
) -> Measured {
    let client = ctx.servers.client.clone();
    let token = Arc::new(ctx.env.token.clone());
    let url = Arc::new(url);
    load::closed_loop(INGEST_CONCURRENCY, duration, warmup, move |_, _| {
        let client = client.clone();
        let token = token.clone();
        let url = url.clone();
        let runs = runs.clone();
        let cursor = cursor.clone();
        async move {
            let Some(run) = runs.get(cursor.fetch_add(1, Ordering::Relaxed)) else {
                return Ok(Step::Exhausted);
            };
            let body = batch_body(run).map_err(|e| e.to_string())?;
            let answer = load::post(&client, &url, Some(&token), body).await?;
            if !load::contains(&answer, expect.as_bytes()) {
                return Err(format!(
                    "unexpected answer: {}",
                    String::from_utf8_lossy(&answer[..answer.len().min(300)])
                ));
            }
            Ok(Step::Done(BATCH_RESULTS))
        }
    })
    .await
}

/// Single step results: worker `w` reports the steps of its own run's executions in turn.
async fn step_side(
    ctx: &Ctx<'_>,
    url: String,
    runs: Arc<Vec<PendingRun>>,
    duration: Duration,
    warmup: Duration,
) -> Measured {
    let client = ctx.servers.client.clone();
    let token = Arc::new(ctx.env.token.clone());
    let url = Arc::new(url);
    load::closed_loop(STEP_CONCURRENCY, duration, warmup, move |worker, i| {
        let client = client.clone();
        let token = token.clone();
        let url = url.clone();
        let runs = runs.clone();
        async move {
            let run = &runs[worker % runs.len()];
            let steps = BATCH_STEPS as u64;
            let execution = &run.executions[((i / steps) as usize) % run.executions.len()];
            let step = execution.steps[(i % steps) as usize % execution.steps.len()];
            let body = load::body(
                REPORT_STEP,
                &json!({ "e": execution.id, "s": step, "status": "PASSED", "actual": "ok", "duration": 1 }),
            )
            .map_err(|e| e.to_string())?;
            load::post(&client, &url, Some(&token), body)
                .await
                .map(|_| Step::Done(1))
        }
    })
    .await
}

/// The analytics triggers of executions and runs (see [`BASE_TRIGGERS`]), as (table,
/// trigger), listed from the catalogue so that triggers added later are included.
async fn analytics_triggers(ctx: &Ctx<'_>) -> anyhow::Result<Vec<(String, String)>> {
    let rows = sqlx::query(
        "SELECT tgrelid::regclass::text AS tbl, tgname::text AS name FROM pg_trigger
         WHERE tgrelid IN ('test_executions'::regclass, 'test_runs'::regclass)
           AND NOT tgisinternal AND tgname !~ $1 ORDER BY 1, 2",
    )
    .bind(BASE_TRIGGERS)
    .fetch_all(&ctx.env.pg)
    .await
    .context("listing the analytics triggers")?;
    rows.iter()
        .map(|r| Ok((r.try_get("tbl")?, r.try_get("name")?)))
        .collect()
}

/// The triggers calling `function` (`notify_live_change`: NOTIFY), as (table, trigger).
pub(crate) async fn triggers_calling(
    ctx: &Ctx<'_>,
    function: &str,
) -> anyhow::Result<Vec<(String, String)>> {
    let rows = sqlx::query(
        "SELECT tgrelid::regclass::text AS tbl, tgname::text AS name FROM pg_trigger
         WHERE tgfoid = $1::regproc ORDER BY 1, 2",
    )
    .bind(function)
    .fetch_all(&ctx.env.pg)
    .await
    .with_context(|| format!("listing the triggers calling {function}"))?;
    rows.iter()
        .map(|r| Ok((r.try_get("tbl")?, r.try_get("name")?)))
        .collect()
}

pub(crate) async fn set_triggers(
    ctx: &Ctx<'_>,
    triggers: &[(String, String)],
    enable: bool,
) -> anyhow::Result<()> {
    let verb = if enable { "ENABLE" } else { "DISABLE" };
    for (table, name) in triggers {
        sqlx::query(AssertSqlSafe(format!(
            "ALTER TABLE {table} {verb} TRIGGER {}",
            api::db::quote_ident(name)
        )))
        .execute(&ctx.env.pg)
        .await
        .with_context(|| format!("{verb} TRIGGER {name}"))?;
    }
    Ok(())
}

pub async fn run(ctx: &Ctx<'_>, report: &mut crate::Report) -> anyhow::Result<()> {
    let opts = ctx.options;
    let d = ctx.seeded.dataset;
    progress::say(opts, "scenario 2: ingestion");
    let per_side = ((opts.ingest_duration + opts.warmup).as_secs_f64() * MAX_BATCHES_PER_SECOND)
        .ceil() as usize
        + INGEST_CONCURRENCY;
    let bar = progress::bar(opts, 5, "ingestion: creating pending runs");
    let mut pools = Vec::new();
    for (k, tag) in ["ingest-api", "ingest-raw", "ingest-quiet", "ingest-plain"]
        .iter()
        .enumerate()
    {
        let runs = pending_runs(
            ctx.env,
            tag,
            per_side,
            BATCH_EXECUTIONS,
            BATCH_STEPS,
            d.cases,
            (k * per_side) as i64,
        )
        .await?;
        anyhow::ensure!(
            runs.len() == per_side && runs.iter().all(|r| r.executions.len() == BATCH_EXECUTIONS),
            "pending runs for {tag} are incomplete"
        );
        pools.push((Arc::new(runs), Arc::new(AtomicUsize::new(0))));
        bar.inc(1);
    }
    let step_runs = Arc::new(
        pending_runs(
            ctx.env,
            "ingest-step",
            STEP_CONCURRENCY,
            STEP_RUN_EXECUTIONS,
            BATCH_STEPS,
            d.cases,
            0,
        )
        .await?,
    );
    anyhow::ensure!(!step_runs.is_empty(), "no runs for single step results");
    bar.finish_and_clear();
    let triggers = triggers_calling(ctx, "notify_live_change").await?;
    anyhow::ensure!(!triggers.is_empty(), "no NOTIFY triggers found");
    let analytics_triggers = analytics_triggers(ctx).await?;
    anyhow::ensure!(
        analytics_triggers
            .iter()
            .any(|(_, name)| name.contains("flakiness"))
            && analytics_triggers
                .iter()
                .any(|(_, name)| name.contains("failure_groups")),
        "analytics triggers not found: {analytics_triggers:?}"
    );

    let api_url = ctx.servers.api_url("/graphql");
    let raw_url = ctx.servers.raw_url("/raw/report");
    let per_round = opts.ingest_duration / ROUNDS as u32;
    let mut measured = [
        Measured::default(),
        Measured::default(),
        Measured::default(),
        Measured::default(),
    ];
    let bar = progress::timed(
        opts,
        opts.ingest_duration * 4 + opts.warmup * 4,
        "ingestion: bulk reports",
    );
    for round in 0..ROUNDS {
        let warmup = if round == 0 {
            opts.warmup
        } else {
            Duration::ZERO
        };
        for (side, pool) in pools.iter().enumerate() {
            let m = match side {
                0 => {
                    bulk_side(
                        ctx,
                        api_url.clone(),
                        pool.clone(),
                        per_round,
                        warmup,
                        "\"rejected\":0",
                    )
                    .await
                }
                1 => {
                    bulk_side(
                        ctx,
                        raw_url.clone(),
                        pool.clone(),
                        per_round,
                        warmup,
                        "\"accepted\":125",
                    )
                    .await
                }
                _ => {
                    let off = if side == 2 {
                        &triggers
                    } else {
                        &analytics_triggers
                    };
                    set_triggers(ctx, off, false).await?;
                    let m = bulk_side(
                        ctx,
                        api_url.clone(),
                        pool.clone(),
                        per_round,
                        warmup,
                        "\"rejected\":0",
                    )
                    .await;
                    set_triggers(ctx, off, true).await?;
                    m
                }
            };
            bar.inc(((per_round + warmup).as_millis() / 100) as u64);
            measured[side].merge(m);
        }
    }
    bar.finish_and_clear();
    let [api, raw, quiet, plain] = measured;
    let api_rate = api.units_per_second();
    let api_row = Row::compared(
        "ingest",
        "reportResults, 1,000 step results/batch: API",
        "results/s",
        &api,
        Some(("raw multi-row INSERT", &raw)),
    )
    .with_note(&format!(
        "{} batches; latencies are per batch of 125 executions + 1,000 step results",
        api.requests
    ));
    let ratio = api_row.ratio;
    report.row(api_row);
    report.row(
        Row::compared(
            "ingest",
            "reportResults with NOTIFY triggers disabled",
            "results/s",
            &quiet,
            Some(("API with NOTIFY", &api)),
        )
        .with_note(&format!("{} batches", quiet.requests)),
    );
    report.row(
        Row::compared(
            "ingest",
            "reportResults with the analytics triggers disabled",
            "results/s",
            &plain,
            Some(("API with them", &api)),
        )
        .with_note(&format!(
            "{} batches; disabled: {}",
            plain.requests,
            analytics_triggers
                .iter()
                .map(|(_, name)| name.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        )),
    );
    report.target(
        "ingestion rate",
        "≥ 20,000 step results/s",
        format!("{api_rate:.0} step results/s"),
        Some(api_rate >= 20_000.0),
        "reportResults through the API, batches of 1,000",
    );
    report.target(
        "ingestion vs raw",
        "≥ 0.7× raw",
        ratio
            .map(|r| format!("{r:.2}×"))
            .unwrap_or_else(|| "no figure".to_owned()),
        ratio.map(|r| r >= 0.7),
        &format!("raw {:.0} step results/s", raw.units_per_second()),
    );
    let quiet_rate = quiet.units_per_second();
    let notify_cost = (api_rate > 0.0).then(|| quiet_rate / api_rate - 1.0);
    report.target(
        "NOTIFY trigger cost",
        "≤ 10%",
        notify_cost
            .map(|c| {
                format!(
                    "{:+.1}% (without: {quiet_rate:.0}/s, with: {api_rate:.0}/s)",
                    c * 100.0
                )
            })
            .unwrap_or_else(|| "no figure".to_owned()),
        notify_cost.map(|c| c <= 0.10),
        "cost = throughput without the triggers / with them − 1",
    );
    let plain_rate = plain.units_per_second();
    let analytics_ratio = (plain_rate > 0.0).then(|| api_rate / plain_rate);
    report.target(
        "ingestion with vs without analytics maintenance",
        "≈ 1×",
        analytics_ratio
            .map(|r| format!("{r:.2}× (with: {api_rate:.0}/s, without: {plain_rate:.0}/s)"))
            .unwrap_or_else(|| "no figure".to_owned()),
        analytics_ratio.map(|r| r >= 0.95),
        "the write path's part of what is kept as results arrive (flakiness, failure groups, events): one INSERT of notes per statement; within 5% counts as ≈ 1×",
    );

    // single step results
    let step_raw_url = ctx.servers.raw_url("/raw/step");
    let mut single = [Measured::default(), Measured::default()];
    let bar = progress::timed(
        opts,
        opts.ingest_duration * 2 + opts.warmup * 2,
        "ingestion: single step results",
    );
    for round in 0..ROUNDS {
        let warmup = if round == 0 {
            opts.warmup
        } else {
            Duration::ZERO
        };
        for (side, url) in [&api_url, &step_raw_url].into_iter().enumerate() {
            let m = step_side(ctx, url.clone(), step_runs.clone(), per_round, warmup).await;
            bar.inc(((per_round + warmup).as_millis() / 100) as u64);
            single[side].merge(m);
        }
    }
    bar.finish_and_clear();
    let [single_api, single_raw] = single;
    report.row(
        Row::compared(
            "ingest",
            "reportStepResult, one at a time: API",
            "req/s",
            &single_api,
            Some(("raw one-row upsert", &single_raw)),
        )
        .with_note(&format!(
            "{STEP_CONCURRENCY} callers, each on its own run of {STEP_RUN_EXECUTIONS} executions"
        )),
    );
    report.note(format!(
        "Ingestion: {INGEST_CONCURRENCY} bulk reports in flight, each on a fresh run of {BATCH_EXECUTIONS} pending executions (8 steps each), reported once, one result in {FAILED_EVERY} failed with a message (the raw endpoint writes the status, not the message); sides interleaved (API, raw, API without NOTIFY, API without the analytics triggers: every trigger on test_executions and test_runs but NOTIFY, audit, updated_at, durations and report keys) in {ROUNDS} rounds. The raw endpoint receives the same JSON body and writes the same rows in one transaction: UPDATE test_executions ... FROM unnest(...) RETURNING, then INSERT INTO test_step_executions SELECT FROM unnest(...); it does no idempotency keys, no run recount, no validation reads. Audit and updated_at triggers fire for both. NOTIFY and analytics triggers are switched with ALTER TABLE ... DISABLE/ENABLE TRIGGER between phases (no traffic then)."
    ));
    Ok(())
}
