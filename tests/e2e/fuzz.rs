//! Fuzzing the running server: generated documents, variables, cursors, raw bodies, GET query
//! strings and WebSocket frames, for a bounded time. After every case the server must have
//! answered without a 5xx (a 500 only as a coded INTERNAL_SERVER_ERROR, which is reported as
//! a bug), with a code on every error, closed any WebSocket it dropped with a close frame, and
//! still answer a valid request; the process's resident memory must stay within a bound.
//!
//! `JBTS_FUZZ_SECONDS` sets the budget (default [`DEFAULT_SECONDS`]); `JBTS_FUZZ_SEED` replays a
//! run (the seed is printed first); with it, `JBTS_FUZZ_CASE=N` replays case N alone;
//! `JBTS_FUZZ_TRACE=1` prints each case before it is sent (for a case that kills the process);
//! `JBTS_FUZZ_DUMP=dir` writes each distinct finding's whole request there.

mod cases;
mod cursors;
mod document;
mod draw;
mod frames;
mod logs;
mod memory;
mod raw;
mod report;
mod schema;
mod setup;
mod shapes;
mod socket;
mod syntax;
mod wire;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use crate::helpers::app::TestApp;
use crate::helpers::spawn_app;
use cases::{Case, Ctx, KINDS, Kind};
use draw::Gen;
use memory::{RssSampler, load_backtrace_symbols, rss_bytes};
use report::{Example, REQUEST_CHARS, describe};
use wire::{Finding, Property, short};

/// Time budget of a run when `JBTS_FUZZ_SECONDS` is not set: long enough for a few thousand
/// cases, short enough for the suite.
const DEFAULT_SECONDS: u64 = 40;

/// Most the process's resident memory may grow over a run, peak against the start (the server
/// runs in this process; so do the tests beside this one). A case may hold a 32 MiB body (the
/// server's bound) with a few copies of it in flight, in the client and in the server, and
/// freed memory is not always given back: runs of thousands of cases peak at 100 to 220 MiB,
/// and the tests running beside this one in the suite add their own. An answer without bound
/// crosses it, and so does a leak of a few hundred kilobytes per case in a run of minutes.
const MAX_RSS_GROWTH_BYTES: u64 = 512 * 1024 * 1024;

fn env_u64(name: &str) -> Option<u64> {
    std::env::var(name).ok().and_then(|v| v.trim().parse().ok())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fuzz_generated_requests_then_answered_coded_and_bounded() {
    logs::install();
    let seconds = env_u64("JBTS_FUZZ_SECONDS").unwrap_or(DEFAULT_SECONDS);
    let seed = env_u64("JBTS_FUZZ_SEED").unwrap_or_else(|| {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(1, |d| d.as_nanos() as u64)
    });
    let only = env_u64("JBTS_FUZZ_CASE");
    let trace = std::env::var("JBTS_FUZZ_TRACE").is_ok();
    let dump = std::env::var("JBTS_FUZZ_DUMP").ok();
    eprintln!(
        "fuzz: seed {seed} (JBTS_FUZZ_SEED={seed} replays this run, JBTS_FUZZ_CASE=N one case of it)"
    );

    let app = spawn_app().await;
    let ctx = setup::context(&app).await;
    let client = reqwest::Client::builder()
        // a fresh connection per request: a case that makes the server close its connection
        // must not fail the next request on a pooled one
        .pool_max_idle_per_host(0)
        .build()
        .expect("client");
    assert!(
        wire::alive(&client, &ctx, app.addr).await.is_none(),
        "the server answers before the run"
    );
    logs::drain();
    load_backtrace_symbols();
    let sampler = RssSampler::start();

    let started = Instant::now();
    let budget = Duration::from_secs(seconds);
    let mut tried: BTreeMap<Kind, u64> = BTreeMap::new();
    let mut distinct: BTreeMap<(Property, String), Example> = BTreeMap::new();
    let range = match only {
        Some(n) => n..n + 1,
        None => 0..u64::MAX,
    };
    for number in range {
        if only.is_none() && started.elapsed() >= budget {
            break;
        }
        sampler.at(number);
        let outcome = run_case(&app, &ctx, &client, seed, number, trace || only.is_some()).await;
        *tried.entry(outcome.kind).or_default() += 1;
        let stopped = outcome.found.iter().any(|f| f.property == Property::Alive);
        for f in &outcome.found {
            let key = (f.property, f.signature.clone());
            if distinct.contains_key(&key) {
                continue;
            }
            let example = Example {
                number,
                kind: outcome.kind,
                request: describe(&outcome.case, &ctx, REQUEST_CHARS),
                causes: outcome.causes.iter().map(|c| short(c, 400)).collect(),
                finding: f.clone(),
            };
            eprintln!("fuzz: new finding\n{}", example.report(seed));
            if let Some(dir) = &dump {
                let _ = std::fs::create_dir_all(dir);
                let path = format!("{dir}/{seed}-{number}.txt");
                let _ = std::fs::write(&path, describe(&outcome.case, &ctx, usize::MAX));
            }
            distinct.insert(key, example);
        }
        if stopped {
            eprintln!("fuzz: the server stopped answering; ending the run");
            break;
        }
    }
    let elapsed = started.elapsed().as_secs_f64();
    let (baseline, peak, peak_case) = sampler.stop();
    let growth = peak.saturating_sub(baseline);

    let failing: Vec<&Example> = distinct.values().filter(|e| e.fails()).collect();
    let total: u64 = tried.values().sum();
    let per_kind: Vec<String> = tried
        .iter()
        .map(|(k, n)| format!("{} {n}", k.name()))
        .collect();
    eprintln!(
        "fuzz: {total} cases ({}) in {elapsed:.1} s; peak RSS growth {:.1} MiB during case {peak_case} (bound {} MiB, from {:.1} MiB); {} distinct findings, {} failing; seed {seed}",
        per_kind.join(", "),
        growth as f64 / 1048576.0,
        MAX_RSS_GROWTH_BYTES / 1048576,
        baseline as f64 / 1048576.0,
        distinct.len(),
        failing.len(),
    );
    for e in distinct.values().filter(|e| !e.fails()) {
        eprintln!("fuzz: reported (not failed on):\n{}", e.report(seed));
    }
    assert!(
        failing.is_empty(),
        "{} properties broken (seed {seed}):\n{}",
        failing.len(),
        failing
            .iter()
            .map(|e| e.report(seed))
            .collect::<Vec<_>>()
            .join("\n")
    );
    assert!(
        growth < MAX_RSS_GROWTH_BYTES,
        "resident memory grew by {growth} bytes, past the bound of {MAX_RSS_GROWTH_BYTES} (seed {seed})"
    );
}

/// What one case did.
struct Outcome {
    kind: Kind,
    case: Case,
    found: Vec<Finding>,
    /// The warnings and errors logged meanwhile.
    causes: Vec<String>,
}

/// Generates case `number` of the run, sends it, then the valid request that must be answered;
/// an internal error's signature gets its logged cause.
async fn run_case(
    app: &TestApp,
    ctx: &Ctx,
    client: &reqwest::Client,
    seed: u64,
    number: u64,
    trace: bool,
) -> Outcome {
    let generating = Instant::now();
    let mut g = Gen::for_case(seed, number);
    let kind = KINDS[g.below(KINDS.len())];
    let case = cases::generate(kind, &mut g, ctx);
    if trace {
        eprintln!(
            "fuzz: case {number} ({}, generated in {:.2} s): {}",
            kind.name(),
            generating.elapsed().as_secs_f64(),
            describe(&case, ctx, REQUEST_CHARS)
        );
    }
    let sending = Instant::now();
    let mut found = wire::run(client, ctx, app.addr, &case).await;
    if trace {
        eprintln!(
            "fuzz: case {number} answered in {:.2} s",
            sending.elapsed().as_secs_f64()
        );
    }
    if found.iter().any(|f| f.property == Property::Answered) {
        cancel_statements(app).await;
    }
    found.extend(wire::alive(client, ctx, app.addr).await);
    let causes = logs::drain();
    if trace {
        eprintln!(
            "fuzz: case {number} done, resident {:.1} MiB",
            rss_bytes() as f64 / 1048576.0
        );
    }
    for f in &mut found {
        // the client is told nothing of an internal error's cause: the log says it, up to
        // the first quote, after which a database error quotes the request's values
        if f.property == Property::Internal
            && let Some(cause) = causes
                .iter()
                .find_map(|c| c.split_once("cause=").map(|p| p.1))
        {
            let cause = cause.split('"').next().unwrap_or_default();
            f.signature = format!("{} ({})", f.signature, wire::normalize(cause));
        }
    }
    Outcome {
        kind,
        case,
        found,
        causes,
    }
}

/// Cancels the statements still running in the test's database: a request the client gave up
/// on leaves its statement running (for hours, for some searches), which would slow every case
/// after it.
async fn cancel_statements(app: &TestApp) {
    let pool = app.db.pool().await;
    let _ = crate::helpers::q::query(
        "SELECT pg_cancel_backend(pid) FROM pg_stat_activity
         WHERE datname = current_database() AND state = 'active' AND pid <> pg_backend_pid()",
    )
    .execute(&pool)
    .await;
    pool.close().await;
}
