//! Scenario 5, import: a generated JUnit report of 100,000 tests (a tenth failing with
//! messages and traces, every test with properties; about 25 MB) through
//! `POST /api/v1/import`, against the raw multi-row INSERT of the same rows (`UNNEST` of
//! typed arrays, 1,000 rows a statement, as the table's owner, triggers on), in one run:
//! - new tests: the import creates 100,000 cases and their results; the ceiling inserts the
//!   same cases and executions;
//! - known tests: the same file into a new run, its cases found by key; the ceiling inserts
//!   the executions;
//! - the server's peak heap growth during the import (the client's own allocations apart);
//! - the same report as 8 parallel shards into one run key.

use std::time::{Duration, Instant};

use anyhow::Context as _;
use uuid::Uuid;

use crate::report::Row;
use crate::{Ctx, alloc_probe, progress};

/// Tests in the generated report (`--quick`: a tenth).
const TESTS: usize = 100_000;

/// Rows per raw INSERT statement.
const RAW_BATCH: usize = 1_000;

/// Parallel shards of the sharded upload.
const SHARDS: usize = 8;

/// A generated JUnit report of tests `range` in classes of 100, the name of each class
/// prefixed by `prefix`.
fn junit(prefix: &str, range: std::ops::Range<usize>) -> String {
    let mut xml = String::with_capacity(range.len() * 260);
    xml.push_str("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<testsuites name=\"bench\">\n");
    let mut class = usize::MAX;
    for i in range {
        if i / 100 != class {
            if class != usize::MAX {
                xml.push_str("  </testsuite>\n");
            }
            class = i / 100;
            xml.push_str(&format!(
                "  <testsuite name=\"{prefix}.pkg{}.Class{class}\" tests=\"100\">\n    <properties><property name=\"java.version\" value=\"21\"/></properties>\n",
                class % 10
            ));
        }
        xml.push_str(&format!(
            "    <testcase classname=\"{prefix}.pkg{}.Class{class}\" name=\"test_{i}\" time=\"0.{:03}\">\n      <properties><property name=\"owner\" value=\"team-{}\"/></properties>\n",
            class % 10,
            i % 997,
            i % 7
        ));
        if i % 10 == 7 {
            xml.push_str(&format!(
                "      <failure message=\"expected &lt;{i}&gt; but was &lt;{}&gt;\" type=\"AssertionError\">java.lang.AssertionError: expected {i}\n\tat {prefix}.Class{class}.test_{i}(Class{class}.java:{})\n</failure>\n",
                i + 1,
                i % 400
            ));
        }
        xml.push_str("    </testcase>\n");
    }
    if class != usize::MAX {
        xml.push_str("  </testsuite>\n");
    }
    xml.push_str("</testsuites>\n");
    xml
}

/// Posts a report; the answer's JSON.
async fn post(ctx: &Ctx<'_>, query: &str, body: bytes::Bytes) -> anyhow::Result<serde_json::Value> {
    let url = ctx.servers.api_url(&format!("/api/v1/import?{query}"));
    let client = ctx.servers.client.clone();
    let token = ctx.env.token.clone();
    alloc_probe::client(async move {
        let res = client
            .post(url)
            .bearer_auth(token)
            .timeout(Duration::from_secs(1800))
            .body(body)
            .send()
            .await
            .context("posting a report")?;
        let status = res.status();
        let answer: serde_json::Value = res.json().await.context("the import's answer")?;
        anyhow::ensure!(status.is_success(), "import answered {status}: {answer}");
        Ok(answer)
    })
    .await
}

/// The raw ceiling: `n` cases (when `cases`) and their executions in a new run, by multi-row
/// INSERTs of typed arrays. Returns the rows written per second (executions).
async fn raw_insert(ctx: &Ctx<'_>, tag: &str, n: usize, cases: bool) -> anyhow::Result<f64> {
    let pg = &ctx.env.pg;
    let run = Uuid::now_v7();
    let started = Instant::now();
    sqlx::query(
        "INSERT INTO test_runs(id, name, status, ad_hoc, run_key, triggered_by)
         VALUES ($1, $2, 'running', true, $2, $3)",
    )
    .bind(run)
    .bind(format!("raw-{tag}"))
    .bind(crate::BENCH_USER)
    .execute(pg)
    .await
    .context("raw run")?;
    let ids: Vec<Uuid> = if cases {
        (0..n).map(|_| Uuid::now_v7()).collect()
    } else {
        // the cases the known-tests import found: those of the first import
        sqlx::query_scalar(
            "SELECT id FROM test_cases WHERE identity_key LIKE 'bench.%' ORDER BY identity_key LIMIT $1",
        )
        .bind(n as i64)
        .fetch_all(pg)
        .await
        .context("known cases")?
    };
    anyhow::ensure!(ids.len() == n, "{} cases for the raw side", ids.len());
    for (b, chunk) in ids.chunks(RAW_BATCH).enumerate() {
        let base = b * RAW_BATCH;
        let idx: Vec<usize> = (base..base + chunk.len()).collect();
        if cases {
            let names: Vec<String> = idx.iter().map(|i| format!("test_{i}")).collect();
            let classes: Vec<String> = idx
                .iter()
                .map(|i| format!("raw{tag}.pkg{}.Class{}", (i / 100) % 10, i / 100))
                .collect();
            let keys: Vec<String> = classes
                .iter()
                .zip(&names)
                .map(|(c, n)| format!("{c}::{n}"))
                .collect();
            sqlx::query(
                "INSERT INTO test_cases(id, name, category, identity_key, status, is_automated, author, tags, metadata)
                 SELECT id, name, category, key, 'active', true, $5, '[]'::jsonb, '{}'::jsonb
                 FROM UNNEST($1::uuid[], $2::text[], $3::text[], $4::text[]) AS t(id, name, category, key)",
            )
            .bind(chunk)
            .bind(&names)
            .bind(&classes)
            .bind(&keys)
            .bind(crate::BENCH_USER)
            .execute(pg)
            .await
            .context("raw cases")?;
        }
        let statuses: Vec<&str> = idx
            .iter()
            .map(|i| if i % 10 == 7 { "failed" } else { "passed" })
            .collect();
        let durations: Vec<i32> = idx.iter().map(|i| (i % 997) as i32).collect();
        let errors: Vec<Option<String>> = idx
            .iter()
            .map(|i| (i % 10 == 7).then(|| format!("expected <{i}> but was <{}>", i + 1)))
            .collect();
        let metadata: Vec<String> = idx
            .iter()
            .map(|i| format!("{{\"properties\":{{\"owner\":\"team-{}\"}}}}", i % 7))
            .collect();
        let exec_ids: Vec<Uuid> = idx.iter().map(|_| Uuid::now_v7()).collect();
        sqlx::query(
            "INSERT INTO test_executions(id, test_case_id, test_run_id, status, started_at, completed_at,
                                         duration_ms, error_message, execution_metadata)
             SELECT id, tc, $2, status, now(), now(), d, err, meta::jsonb
             FROM UNNEST($1::uuid[], $3::uuid[], $4::text[], $5::int[], $6::text[], $7::text[])
                  AS t(id, tc, status, d, err, meta)",
        )
        .bind(&exec_ids)
        .bind(run)
        .bind(chunk)
        .bind(&statuses)
        .bind(&durations)
        .bind(&errors)
        .bind(&metadata)
        .execute(pg)
        .await
        .context("raw executions")?;
    }
    Ok(n as f64 / started.elapsed().as_secs_f64())
}

fn rate(answer: &serde_json::Value, n: usize, elapsed: Duration) -> anyhow::Result<f64> {
    let accepted = answer["accepted"].as_u64().unwrap_or(0);
    anyhow::ensure!(
        accepted as usize == n,
        "the import accepted {accepted} of {n}: {}",
        answer["errors"]
    );
    Ok(n as f64 / elapsed.as_secs_f64())
}

pub async fn run(ctx: &Ctx<'_>, report: &mut crate::Report) -> anyhow::Result<()> {
    let opts = ctx.options;
    progress::say(opts, "scenario 5: import");
    let n = if opts.size == crate::Size::Quick {
        TESTS / 10
    } else {
        TESTS
    };
    let file = bytes::Bytes::from(junit("bench", 0..n));
    let megabytes = file.len() as f64 / 1e6;

    // new tests: the import creates the cases
    let started = Instant::now();
    let (answer, peak) =
        alloc_probe::peak_server_heap(post(ctx, "runKey=bench-import-1&finish=true", file.clone()))
            .await;
    let new_rate = rate(&answer?, n, started.elapsed())?;
    let raw_new = raw_insert(ctx, "new", n, true).await?;
    // known tests: the same file into another run
    let started = Instant::now();
    let answer = post(ctx, "runKey=bench-import-2&finish=true", file.clone()).await?;
    let known_rate = rate(&answer, n, started.elapsed())?;
    let raw_known = raw_insert(ctx, "known", n, false).await?;
    // the same report in 8 parallel shards into one run key
    let per = n.div_ceil(SHARDS);
    let shards: Vec<bytes::Bytes> = (0..SHARDS)
        .map(|s| bytes::Bytes::from(junit("bench", s * per..((s + 1) * per).min(n))))
        .collect();
    let started = Instant::now();
    let answers = futures::future::join_all(
        shards
            .into_iter()
            .map(|body| post(ctx, "runKey=bench-import-shards", body)),
    )
    .await;
    let elapsed = started.elapsed();
    let mut accepted = 0u64;
    let mut runs = std::collections::HashSet::new();
    for a in answers {
        let a = a?;
        accepted += a["accepted"].as_u64().unwrap_or(0);
        runs.insert(a["run"]["id"].as_str().unwrap_or("").to_owned());
    }
    anyhow::ensure!(
        accepted as usize == n,
        "the shards accepted {accepted} of {n}"
    );
    anyhow::ensure!(runs.len() == 1, "the shards landed in {} runs", runs.len());
    let shard_rate = n as f64 / elapsed.as_secs_f64();

    let ratio_row = |name: &str, api: f64, ceiling: &str, raw: f64, note: &str| {
        Row::against("import", name, "results/s", api, (ceiling, raw), note)
    };
    let new_row = ratio_row(
        &format!("import {n} new tests (JUnit, {megabytes:.1} MB)"),
        new_rate,
        "raw INSERT of the cases and executions",
        raw_new,
        &format!(
            "cases created by key; results in committed batches of {}",
            api::import::BATCH_RESULTS
        ),
    );
    let new_ratio = new_row.ratio;
    report.row(new_row);
    let known_row = ratio_row(
        &format!("import {n} known tests (JUnit, {megabytes:.1} MB)"),
        known_rate,
        "raw INSERT of the executions",
        raw_known,
        "cases found by key",
    );
    let known_ratio = known_row.ratio;
    report.row(known_row);
    let shard_row = ratio_row(
        &format!("import {n} tests as {SHARDS} parallel shards, one run key"),
        shard_rate,
        "the same file in one upload (known tests)",
        known_rate,
        "one run, counters exact",
    );
    report.row(shard_row);
    let fmt = |r: Option<f64>| r.map_or("n/a".to_owned(), |r| format!("{r:.2}×"));
    report.target(
        "import throughput, new tests",
        "≥ 0.7× raw INSERT",
        fmt(new_ratio),
        new_ratio.map(|r| r >= 0.7),
        "",
    );
    report.target(
        "import throughput, known tests",
        "≥ 0.7× raw INSERT",
        fmt(known_ratio),
        known_ratio.map(|r| r >= 0.7),
        "",
    );
    if let Some(peak) = peak {
        let mb = peak as f64 / (1024.0 * 1024.0);
        report.row(Row::value(
            "import",
            &format!("server peak heap growth, importing {megabytes:.1} MB"),
            "MiB",
            mb,
            "live heap of the process less the client's allocations, sampled every 2 ms",
        ));
        report.target(
            "import memory",
            "≤ 100 MB server growth",
            format!("{mb:.1} MiB"),
            Some(mb <= 100.0),
            "",
        );
    }
    Ok(())
}
