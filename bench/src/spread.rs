//! Scenario 3, subscribers spread over many runs: N subscribers, [`SUBSCRIBERS_PER_RUN`] on
//! each of N / 10 runs (half `testRunProgress`, half `testExecutionUpdates`), while writers
//! change many runs per second, each change one execution completed. An event should cost
//! work in proportion to the subscribers it concerns, not to every subscriber of the process:
//! measured against the same number of subscribers on one run (the fan-out measurement of
//! `live`), in the same run of the benchmark.
//!
//! - Writers: [`WRITERS`] connections commit completions in raw SQL through the real triggers
//!   (`ceiling::complete`, what `completeTestExecution` writes), on a fixed schedule: change k
//!   at k / rate seconds, to run k mod runs, so each run changes at most once per runs / rate
//!   seconds, far apart from its previous change (each change is an event of its own).
//! - Commit → client: each subscriber's first message showing an execution finished − the
//!   return of that execution's COMMIT (the transaction's start gives an upper bound).
//! - CPU per event: `cpu` (getrusage over the phase, the client's polls timed apart, the
//!   server's idle rate measured with the subscribers connected and nothing written).
//! - Memory: as `live` measures it.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use tokio::sync::{Semaphore, watch};
use uuid::Uuid;

use crate::ceiling::{self, HubCounters};
use crate::cpu;
use crate::live::{
    ConnectionPlan, FD_RESERVE, Kind, Progress, SETTLE, Sub, Tally, Truth, connection,
    final_failures, raise_fd_limit, tally,
};
use crate::options::{CONNECT_CONCURRENCY, LIVE_SETTLE_TIMEOUT, SUBSCRIBERS_PER_RUN};
use crate::report::Row;
use crate::seed::pending_runs;
use crate::{Ctx, alloc_probe, progress};

/// Writer connections: one connection commits a few hundred completions per second at best
/// (each waits for its COMMIT); several reach the rate with room for a slow commit.
pub const WRITERS: usize = 8;

/// How long the server's idle CPU is sampled with the subscribers connected and nothing
/// written: long enough to see timers and keep-alives, short next to the phase.
pub const IDLE_SAMPLE: Duration = Duration::from_secs(1);

/// Figures of a live measurement that another one is compared with.
#[derive(Clone, Copy, Debug, Default)]
pub struct Figures {
    pub cpu: cpu::PerEvent,
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub events_per_second: f64,
    /// Subscription streams woken per event (the hub's count; 0 when it has none).
    pub wakeups_per_event: f64,
    pub memory_kb: f64,
}

/// Server heap (or VmRSS) per subscriber gained between `before` and now, and how it was
/// measured.
pub(crate) struct MemoryMark {
    rss: u64,
    heap: Option<(i64, i64)>,
}

impl MemoryMark {
    pub(crate) fn now() -> Self {
        Self {
            rss: crate::env::rss_bytes().unwrap_or(0),
            heap: alloc_probe::heap(),
        }
    }

    /// (KB per subscriber, how it was measured).
    pub(crate) fn per_subscriber(&self, n: usize) -> (f64, String) {
        let rss_delta = crate::env::rss_bytes()
            .unwrap_or(0)
            .saturating_sub(self.rss);
        // (server heap growth, client heap growth)
        let growth =
            alloc_probe::heap()
                .zip(self.heap)
                .map(|((total, client), (total0, client0))| {
                    let client = (client - client0).max(0);
                    (((total - total0) - client).max(0) as u64, client as u64)
                });
        let kb = match growth {
            Some((server, _)) => server,
            None => rss_delta,
        } as f64
            / n.max(1) as f64
            / 1024.0;
        let basis = match growth {
            Some((server, client)) => format!(
                "server's live heap +{:.1} MB (the client's +{:.1} MB apart); process VmRSS +{:.1} MB",
                server as f64 / 1048576.0,
                client as f64 / 1048576.0,
                rss_delta as f64 / 1048576.0
            ),
            None => format!(
                "upper bound: process VmRSS +{:.1} MB, client included (the heap is counted only by the bench binary)",
                rss_delta as f64 / 1048576.0
            ),
        };
        (kb, basis)
    }
}

/// Folds `other` (another run's subscribers) into `total`.
fn merge(total: &mut Tally, other: Tally) {
    let _ = total.latency.add(&other.latency);
    let _ = total.latency_from_send.add(&other.latency_from_send);
    total.delivered += other.delivered;
    total.right += other.right;
    total.messages += other.messages;
    total.expected_messages += other.expected_messages;
    total.resyncs += other.resyncs;
    total.reconnects += other.reconnects;
    total.errors += other.errors;
    if total.first_error.is_none() {
        total.first_error = other.first_error;
    }
}

/// One writer connection's completions: (execution, (transaction start, COMMIT returned)).
type Stamps = Vec<(Uuid, (Instant, Instant))>;

/// Writer `w` of [`WRITERS`]: changes k = w, w + WRITERS, ... at k / rate seconds from
/// `start`, change k completing execution k / runs of run k mod runs (one in five failed,
/// among the cases in `may_fail`).
async fn writer(
    pool: sqlx::PgPool,
    runs: Arc<Vec<crate::seed::PendingRun>>,
    may_fail: Arc<HashSet<Uuid>>,
    w: usize,
    total: usize,
    rate: f64,
    start: Instant,
) -> (Stamps, u64, Option<String>) {
    let mut stamps = Vec::with_capacity(total / WRITERS + 1);
    let (mut errors, mut first_error) = (0, None);
    let n_runs = runs.len().max(1);
    for k in (w..total).step_by(WRITERS) {
        let due = start + Duration::from_secs_f64(k as f64 / rate);
        tokio::time::sleep_until(due.into()).await;
        let Some(run) = runs.get(k % n_runs) else {
            break;
        };
        let Some(execution) = run.executions.get(k / n_runs) else {
            break;
        };
        let began = Instant::now();
        let failed = k % 5 == 4 && may_fail.contains(&execution.case_id);
        match ceiling::complete(&pool, run.id, execution.id, failed).await {
            Ok(()) => stamps.push((execution.id, (began, Instant::now()))),
            Err(e) => {
                errors += 1;
                first_error.get_or_insert_with(|| e.to_string());
            }
        }
    }
    (stamps, errors, first_error)
}

/// Measures `n` subscribers spread over `n / 10` runs and reports it next to `one_run` (the
/// same number of subscribers on one run) when given.
pub async fn run(
    ctx: &Ctx<'_>,
    report: &mut crate::Report,
    n: usize,
    one_run: Option<&Figures>,
) -> anyhow::Result<Figures> {
    let opts = ctx.options;
    let runs_count = (n / SUBSCRIBERS_PER_RUN).max(1);
    let rate = opts.spread_changes_per_second.max(1.0);
    let changes = (rate * opts.spread_duration.as_secs_f64()).round().max(1.0) as usize;
    let per_run = changes.div_ceil(runs_count);
    let total = per_run * runs_count;
    progress::say(
        opts,
        &format!("scenario 3: {n} subscribers over {runs_count} runs, {rate:.0} changes/s"),
    );
    let runs = Arc::new(
        pending_runs(
            ctx.env,
            &format!("spread-{n}"),
            runs_count,
            per_run,
            1,
            ctx.seeded.dataset.cases,
            13,
        )
        .await?,
    );
    anyhow::ensure!(
        runs.len() == runs_count && runs.iter().all(|r| r.executions.len() == per_run),
        "pending runs for the spread subscribers are incomplete"
    );

    // file descriptors: one per socket end, both ends in this process; a run's subscribers
    // share connections when they run short
    let limit = raise_fd_limit(2 * n as u64 + FD_RESERVE);
    let budget = ((limit.saturating_sub(FD_RESERVE)) / 2).max(1) as usize;
    let per_run_connections = (budget / runs_count).max(1);

    let memory = MemoryMark::now();
    let shared = Arc::new(Progress::default());
    let gate = Arc::new(Semaphore::new(CONNECT_CONCURRENCY));
    let (stop_tx, stop_rx) = watch::channel(false);
    let token = Arc::new(ctx.env.token.clone());
    // (run index, its connection's task)
    let mut tasks = Vec::new();
    let mut connections = 0;
    for (r, run) in runs.iter().enumerate() {
        let subscribers = n / runs_count + usize::from(r < n % runs_count);
        let c = subscribers.min(per_run_connections).max(1);
        let mut kinds: Vec<Vec<Kind>> = (0..c).map(|_| Vec::new()).collect();
        for j in 0..subscribers {
            kinds[j % c].push(if j % 2 == 0 {
                Kind::Progress
            } else {
                Kind::Executions
            });
        }
        for kinds in kinds.into_iter().filter(|k| !k.is_empty()) {
            connections += 1;
            let plan = ConnectionPlan {
                addr: ctx.servers.api,
                fallbacks: Vec::new(),
                token: token.clone(),
                run: run.id,
                kinds,
                executions: per_run,
            };
            tasks.push((
                r,
                tokio::spawn(cpu::client(alloc_probe::client(connection(
                    plan,
                    gate.clone(),
                    shared.clone(),
                    stop_rx.clone(),
                )))),
            ));
        }
    }
    let connect_started = Instant::now();
    let bar = progress::bar(opts, n as u64, &format!("connecting {n} subscribers"));
    let all_initial = {
        let wait = shared.wait(&shared.initial, n, LIVE_SETTLE_TIMEOUT * 4);
        tokio::pin!(wait);
        loop {
            tokio::select! {
                done = &mut wait => break done,
                _ = tokio::time::sleep(Duration::from_millis(100)) => {
                    bar.set_position(shared.initial.load(Ordering::Acquire) as u64);
                }
            }
        }
    };
    bar.finish_and_clear();
    let connect_seconds = connect_started.elapsed().as_secs_f64();
    tokio::time::sleep(SETTLE).await;
    let (memory_kb, memory_basis) = memory.per_subscriber(n);
    let initial = shared.initial.load(Ordering::Acquire);

    // the server's CPU with everyone connected and nothing happening
    let idle = cpu::Mark::now();
    tokio::time::sleep(IDLE_SAMPLE).await;
    let idle = idle.spent();

    // the writers
    let may_fail = Arc::new(final_failures(&ctx.env.pg, &runs).await?);
    let pool = ceiling::writer_pool(ctx, WRITERS).await?;
    let hub_before = HubCounters::read(ctx).await?;
    let bar = progress::timed(
        opts,
        Duration::from_secs_f64(total as f64 / rate),
        &format!("writers: {total} changes"),
    );
    let mark = cpu::Mark::now();
    let start = Instant::now();
    let writers: Vec<_> = (0..WRITERS)
        .map(|w| {
            tokio::spawn(cpu::client(writer(
                pool.clone(),
                runs.clone(),
                may_fail.clone(),
                w,
                total,
                rate,
                start,
            )))
        })
        .collect();
    let mut stamps: HashMap<Uuid, (Instant, Instant)> = HashMap::with_capacity(total);
    let (mut write_errors, mut write_error) = (0u64, None);
    let mut last_commit = start;
    for w in writers {
        let (s, errors, first) = w.await.context("joining a writer")?;
        write_errors += errors;
        if write_error.is_none() {
            write_error = first;
        }
        for (id, (began, committed)) in s {
            last_commit = last_commit.max(committed);
            stamps.insert(id, (began, committed));
        }
    }
    bar.finish_and_clear();
    let writing = last_commit.saturating_duration_since(start);
    let all_finished = shared
        .wait(&shared.finished, initial, LIVE_SETTLE_TIMEOUT)
        .await;
    let phase = mark.spent();
    let hub = HubCounters::read(ctx).await?.since(&hub_before);
    pool.close().await;
    tokio::time::sleep(SETTLE).await;
    let _ = stop_tx.send(true);
    let mut by_run: Vec<Vec<Sub>> = (0..runs_count).map(|_| Vec::new()).collect();
    for (r, t) in tasks {
        if let Ok(s) = t.await {
            by_run[r].extend(s);
        }
    }

    // the truth of every run, and what its subscribers saw of it
    let mut tallied: Option<Tally> = None;
    for (run, subs) in runs.iter().zip(&by_run) {
        let truth = Truth::read(&ctx.env.pg, run.id).await?;
        let t = tally(subs, &stamps, &truth, per_run);
        match &mut tallied {
            Some(total) => merge(total, t),
            None => tallied = Some(t),
        }
    }
    let t = tallied.context("no runs")?;
    let committed = stamps.len() as u64;
    // every subscriber of a run sees each of its run's committed changes
    let expected: u64 = runs
        .iter()
        .zip(&by_run)
        .map(|(run, subs)| {
            let changed = run
                .executions
                .iter()
                .filter(|e| stamps.contains_key(&e.id))
                .count();
            (subs.len() * changed) as u64
        })
        .sum();
    let events = if hub.events > 0.0 {
        hub.events as u64
    } else {
        committed
    };
    let p = |h: &hdrhistogram::Histogram<u64>, q: f64| h.value_at_quantile(q) as f64 / 1000.0;
    let figures = Figures {
        cpu: cpu::PerEvent::new(phase, idle, events),
        p50_ms: p(&t.latency, 0.50),
        p99_ms: p(&t.latency, 0.99),
        events_per_second: events as f64 / writing.as_secs_f64().max(f64::EPSILON),
        wakeups_per_event: hub.wakeups / events.max(1) as f64,
        memory_kb,
    };

    let label = format!("{n} subscribers over {runs_count} runs");
    let mut row = Row::value(
        "live",
        &format!("{label}: commit → client"),
        "deliveries",
        t.delivered as f64,
        "",
    );
    row.p50_ms = Some(figures.p50_ms);
    row.p95_ms = Some(p(&t.latency, 0.95));
    row.p99_ms = Some(figures.p99_ms);
    row.requests = t.delivered;
    row.errors = t.errors + write_errors;
    let row = row.with_note(&format!(
        "{}/{expected} completions seen ({:.1}%); from the transaction's start: p50 {:.1} ms, p99 {:.1} ms; {committed} of {total} changes committed in {:.1} s ({:.0}/s, goal {rate:.0}/s) on {WRITERS} connections; {}/{} messages, {} resync snapshots{}{}",
        t.delivered,
        100.0 * t.delivered as f64 / expected.max(1) as f64,
        p(&t.latency_from_send, 0.50),
        p(&t.latency_from_send, 0.99),
        writing.as_secs_f64(),
        committed as f64 / writing.as_secs_f64().max(f64::EPSILON),
        t.messages,
        t.expected_messages,
        t.resyncs,
        t.first_error
            .as_ref()
            .map(|e| format!("; {} errors, first: {e}", t.errors))
            .unwrap_or_default(),
        write_error
            .map(|e| format!("; {write_errors} failed commits, first: {e}"))
            .unwrap_or_default(),
    ));
    report.row(row);
    report.row(Row::value(
        "live",
        &format!("{label}: final state right"),
        "subscribers",
        t.right as f64,
        &format!(
            "of {n} ({:.1}%); {initial} got their first state in {connect_seconds:.1} s{}{}",
            100.0 * t.right as f64 / n as f64,
            if all_initial { "" } else { " (not all!)" },
            if all_finished {
                ""
            } else {
                "; not all reached a final state within the settle timeout"
            }
        ),
    ));
    report.row(Row::value(
        "live",
        &format!("{label}: events"),
        "events/s",
        figures.events_per_second,
        &format!(
            "{events} events from the hub ({:.0} notifications received) for {committed} changes; {:.1} subscription streams woken per event, {:.1} stream messages per event",
            hub.notifications,
            figures.wakeups_per_event,
            hub.stream_messages / events.max(1) as f64,
        ),
    ));
    let cpu_note = format!(
        "{}; server and client in this process, PostgreSQL not counted",
        figures.cpu.describe()
    );
    // a ratio needs two figures above zero (a tiny quick run may measure nothing net of idle)
    let compared = one_run.filter(|o| o.cpu.server_ms > 0.0 && figures.cpu.server_ms > 0.0);
    report.row(match compared {
        Some(o) => Row::against(
            "live",
            &format!("{label}: server CPU per event"),
            "ms",
            figures.cpu.server_ms,
            (&format!("{n} on one run"), o.cpu.server_ms),
            &format!(
                "{cpu_note}; on one run: {}; commit → client p99 {:.1} ms here vs {:.1} ms on one run",
                o.cpu.describe(),
                figures.p99_ms,
                o.p99_ms
            ),
        ),
        None => Row::value(
            "live",
            &format!("{label}: server CPU per event"),
            "ms",
            figures.cpu.server_ms,
            &match one_run {
                Some(o) => format!("{cpu_note}; on one run: {}", o.cpu.describe()),
                None => cpu_note.clone(),
            },
        ),
    });
    report.row(Row::value(
        "live",
        &format!("{label}: memory per subscriber"),
        "KB",
        memory_kb,
        &format!("{memory_basis}; {n} subscriptions on {connections} connections (open-files limit {limit})"),
    ));
    report.target(
        &format!("final states, {n} subscribers over {runs_count} runs"),
        "100% delivered",
        format!("{}/{n}", t.right),
        Some(t.right == n),
        "",
    );
    report.target(
        &format!("an event wakes only its subscribers ({n} over {runs_count} runs)"),
        &format!("≤ {} subscriptions woken per event", SUBSCRIBERS_PER_RUN.min(n)),
        format!("{:.1} per event", figures.wakeups_per_event),
        (hub.wakeups > 0.0).then_some(figures.wakeups_per_event <= SUBSCRIBERS_PER_RUN as f64),
        &match one_run {
            Some(o) => format!(
                "server CPU per event {:.2} ms vs {:.2} ms with {n} on one run; the hub's jbts_live_wakeups_total",
                figures.cpu.server_ms, o.cpu.server_ms
            ),
            None => "the hub's jbts_live_wakeups_total".to_owned(),
        },
    );
    report.note(format!(
        "Subscribers spread over runs: {SUBSCRIBERS_PER_RUN} subscribers per run (half testRunProgress, half testExecutionUpdates), all with the one admin identity, while {WRITERS} writer connections complete one execution per change in raw SQL through the real triggers (UPDATE + refresh_test_run, as completeTestExecution writes) on a fixed schedule of {rate:.0} changes/s, change k to run k mod runs (each run changes every runs/rate seconds). Latency = first client receipt showing the execution finished − return of its COMMIT. CPU per event = CPU time over the phase (first change to every subscriber's final state) / events the hub emitted: the process's from getrusage (server and client both run in it; PostgreSQL does not), the client's by timing the polls of its futures (subscribers and writers) with the thread CPU clock, the server's = the rest less its idle rate measured for {:.0} s with the subscribers connected and nothing written. The one-run comparison is the fan-out measurement above it (its writer is completeTestExecution over HTTP: the server's CPU per mutation, measured with nobody subscribed, is taken out of its figure).",
        IDLE_SAMPLE.as_secs_f64()
    ));
    Ok(figures)
}
