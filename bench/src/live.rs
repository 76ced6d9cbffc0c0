//! Scenario 3, subscriptions: N subscribers on one run (half `testRunProgress`, half
//! `testExecutionUpdates`) while a writer completes its executions one by one over HTTP.
//!
//! - Commit-to-client latency: the writer stamps each completion when the mutation's answer
//!   arrives (the request's transaction has committed by then, so this slightly under-states
//!   the latency by the answer's own transit) and each subscriber stamps the first message
//!   showing that execution finished; the send time of the mutation gives an upper bound.
//! - Delivery: every subscriber must see every completion, and end on the run's true final
//!   state (compared with the database after the writer's last commit).
//! - Memory: the live heap the server gained while the subscribers connected: the process's
//!   heap growth less the client futures' (both counted by the bench binary's allocator,
//!   `alloc_probe`). Without that count (in tests): the growth of VmRSS, client included.
//! - Database work per event: the server pool's statements during the writer phase, less the
//!   writer's own (measured beforehand with no subscriber), per completion.

use std::collections::{HashMap, HashSet};
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::Context as _;
use futures::StreamExt;
use serde::Deserialize;
use serde_json::json;
use sqlx::Row as _;
use tokio::sync::{Notify, Semaphore, watch};
use tokio_tungstenite::tungstenite::Message;
use uuid::Uuid;

use crate::load::{self, Measured};
use crate::options::{CONNECT_CONCURRENCY, LIVE_SETTLE_TIMEOUT};
use crate::report::Row;
use crate::seed::pending_runs;
use crate::{Ctx, alloc_probe, progress, ws};

const PROGRESS: &str = "subscription P($run: UUID!) { testRunProgress(runId: $run) {
  status totalTests passedTests failedTests skippedTests snapshot changedExecutions { id status } } }";

const EXECUTIONS: &str =
    "subscription E($run: UUID!) { testExecutionUpdates(runId: $run) { id status } }";

const COMPLETE: &str = "mutation C($id: UUID!, $status: Outcome!) {
  completeTestExecution(id: $id, status: $status, durationSeconds: 3) { id status } }";

/// Writer pace per 1,000 subscribers: every event makes each subscriber's message, so the pace
/// slows with the fan-out to measure the latency of an event rather than of a backlog.
const WRITER_INTERVAL_PER_THOUSAND: Duration = Duration::from_millis(100);

/// Fastest writer pace: well above the hub's 20 ms coalescing window, so that each completion
/// is an event of its own.
const MIN_WRITER_INTERVAL: Duration = Duration::from_millis(50);

/// Events with 5,000 subscribers or more: each costs the client here as much as the server,
/// and 20 give a p99 over 100,000+ deliveries.
const LARGE_FANOUT_EVENTS: usize = 20;

/// Completions made with no subscriber to learn the writer's own statements per completion.
const CALIBRATION_COMPLETIONS: usize = 5;

/// File descriptors kept for everything but the WebSockets (pools, files, listeners).
const FD_RESERVE: u64 = 512;

/// How long connections get to settle (server tasks exit, memory is returned) between phases.
const SETTLE: Duration = Duration::from_millis(500);

#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    Progress,
    Executions,
}

#[derive(Deserialize)]
struct Incoming {
    #[serde(rename = "type")]
    kind: String,
    id: Option<String>,
    payload: Option<serde_json::Value>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ProgressMsg {
    status: String,
    total_tests: i64,
    passed_tests: i64,
    failed_tests: i64,
    skipped_tests: i64,
    snapshot: bool,
    changed_executions: Vec<ExecutionMsg>,
}

#[derive(Deserialize)]
struct ExecutionMsg {
    id: Uuid,
    status: String,
}

fn terminal(status: &str) -> bool {
    matches!(status, "PASSED" | "FAILED" | "SKIPPED" | "CANCELLED")
}

/// What one subscriber saw.
struct Sub {
    kind: Kind,
    messages: u64,
    initial: bool,
    /// Progress: the latest (status, total, passed, failed, skipped).
    progress: Option<(String, i64, i64, i64, i64)>,
    /// Executions: the latest status of each.
    statuses: HashMap<Uuid, String>,
    /// First receipt of each execution's finished state.
    done: Vec<(Uuid, Instant)>,
    seen: HashSet<Uuid>,
    /// Full states received after the first (resynchronisations).
    resyncs: u64,
    errors: u64,
    first_error: Option<String>,
    finished: bool,
}

impl Sub {
    fn new(kind: Kind) -> Self {
        Self {
            kind,
            messages: 0,
            initial: false,
            progress: None,
            statuses: HashMap::new(),
            done: Vec::new(),
            seen: HashSet::new(),
            resyncs: 0,
            errors: 0,
            first_error: None,
            finished: false,
        }
    }

    fn error(&mut self, e: String) {
        self.errors += 1;
        if self.first_error.is_none() {
            self.first_error = Some(e);
        }
    }

    fn saw(&mut self, id: Uuid, status: &str, at: Instant) {
        if terminal(status) && self.seen.insert(id) {
            self.done.push((id, at));
        }
    }

    /// Folds in a `next` payload; returns (became initial, became finished).
    fn next(&mut self, payload: serde_json::Value, at: Instant, executions: usize) -> (bool, bool) {
        self.messages += 1;
        let mut data = match payload {
            serde_json::Value::Object(mut m) => {
                if let Some(e) = m.remove("errors") {
                    self.error(e.to_string());
                }
                m.remove("data").unwrap_or_default()
            }
            _ => serde_json::Value::Null,
        };
        let was_initial = self.initial;
        let was_finished = self.finished;
        match self.kind {
            Kind::Progress => {
                match serde_json::from_value::<ProgressMsg>(data["testRunProgress"].take()) {
                    Ok(p) => {
                        if p.snapshot && self.initial {
                            self.resyncs += 1;
                        }
                        for e in &p.changed_executions {
                            self.saw(e.id, &e.status, at);
                        }
                        self.finished = terminal(&p.status);
                        self.progress = Some((
                            p.status,
                            p.total_tests,
                            p.passed_tests,
                            p.failed_tests,
                            p.skipped_tests,
                        ));
                        self.initial = true;
                    }
                    Err(e) => self.error(format!("progress message: {e}")),
                }
            }
            Kind::Executions => {
                match serde_json::from_value::<ExecutionMsg>(data["testExecutionUpdates"].take()) {
                    Ok(e) => {
                        self.saw(e.id, &e.status, at);
                        self.statuses.insert(e.id, e.status);
                        if self.statuses.len() >= executions {
                            self.initial = true;
                            self.finished = self.statuses.values().all(|s| terminal(s));
                        }
                    }
                    Err(e) => self.error(format!("execution message: {e}")),
                }
            }
        }
        (self.initial && !was_initial, self.finished && !was_finished)
    }
}

/// Counters the coordinator waits on.
#[derive(Default)]
struct Progress {
    initial: AtomicUsize,
    finished: AtomicUsize,
    failed_connections: AtomicUsize,
    changed: Notify,
}

impl Progress {
    async fn wait(&self, counter: &AtomicUsize, target: usize, timeout: Duration) -> bool {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            if counter.load(Ordering::Acquire) + self.failed_connections.load(Ordering::Acquire)
                >= target
            {
                return counter.load(Ordering::Acquire) >= target;
            }
            let notified = self.changed.notified();
            tokio::select! {
                _ = notified => {}
                _ = tokio::time::sleep(Duration::from_millis(50)) => {}
                _ = tokio::time::sleep_until(deadline) => return false,
            }
        }
    }
}

struct ConnectionPlan {
    addr: SocketAddr,
    token: Arc<String>,
    run: Uuid,
    kinds: Vec<Kind>,
    executions: usize,
}

async fn connection(
    plan: ConnectionPlan,
    gate: Arc<Semaphore>,
    progress: Arc<Progress>,
    mut stop: watch::Receiver<bool>,
) -> Vec<Sub> {
    let mut subs: Vec<Sub> = plan.kinds.iter().map(|k| Sub::new(*k)).collect();
    let permit = gate.acquire_owned().await.ok();
    let connected = async {
        let mut ws = ws::connect(plan.addr, "/graphql/ws", &plan.token).await?;
        for (i, kind) in plan.kinds.iter().enumerate() {
            let query = match kind {
                Kind::Progress => PROGRESS,
                Kind::Executions => EXECUTIONS,
            };
            ws::subscribe(&mut ws, &i.to_string(), query, json!({ "run": plan.run })).await?;
        }
        Ok::<_, anyhow::Error>(ws)
    }
    .await;
    let mut ws = match connected {
        Ok(ws) => ws,
        Err(e) => {
            for s in &mut subs {
                s.error(format!("{e:#}"));
            }
            progress
                .failed_connections
                .fetch_add(subs.len(), Ordering::AcqRel);
            progress.changed.notify_waiters();
            return subs;
        }
    };
    let mut permit = permit;
    loop {
        tokio::select! {
            msg = ws.next() => {
                let at = Instant::now();
                let text = match msg {
                    Some(Ok(Message::Text(t))) => t,
                    Some(Ok(Message::Close(_))) | None => break,
                    Some(Err(e)) => {
                        for s in &mut subs {
                            s.error(format!("connection: {e}"));
                        }
                        break;
                    }
                    Some(Ok(_)) => continue,
                };
                let incoming: Incoming = match serde_json::from_str(text.as_str()) {
                    Ok(m) => m,
                    Err(e) => {
                        subs[0].error(format!("unreadable message: {e}"));
                        continue;
                    }
                };
                match incoming.kind.as_str() {
                    "ping" => {
                        let _ = ws::send(&mut ws, &json!({"type": "pong"})).await;
                    }
                    "next" | "error" => {
                        let Some(i) = incoming.id.as_deref().and_then(|id| id.parse::<usize>().ok()) else {
                            continue;
                        };
                        let Some(sub) = subs.get_mut(i) else { continue };
                        if incoming.kind == "error" {
                            sub.error(incoming.payload.map(|p| p.to_string()).unwrap_or_default());
                            continue;
                        }
                        let (initial, finished) =
                            sub.next(incoming.payload.unwrap_or_default(), at, plan.executions);
                        if initial {
                            progress.initial.fetch_add(1, Ordering::AcqRel);
                        }
                        if finished {
                            progress.finished.fetch_add(1, Ordering::AcqRel);
                        }
                        if initial || finished {
                            progress.changed.notify_waiters();
                        }
                        if permit.is_some() && subs.iter().all(|s| s.initial) {
                            permit = None;
                        }
                    }
                    _ => {}
                }
            }
            _ = stop.changed() => break,
        }
    }
    let _ = ws.close(None).await;
    subs
}

/// Raises the open-files limit towards `want`; returns the limit in force.
fn raise_fd_limit(want: u64) -> u64 {
    use nix::sys::resource::{Resource, getrlimit, setrlimit};
    let Ok((soft, hard)) = getrlimit(Resource::RLIMIT_NOFILE) else {
        return 1024;
    };
    if soft >= want {
        return soft;
    }
    if setrlimit(Resource::RLIMIT_NOFILE, want, want.max(hard)).is_ok() {
        return want;
    }
    if setrlimit(Resource::RLIMIT_NOFILE, hard, hard).is_ok() {
        return hard;
    }
    soft
}

pub async fn run(ctx: &Ctx<'_>, report: &mut crate::Report) -> anyhow::Result<()> {
    for &n in &ctx.options.subscribers {
        fanout(ctx, report, n)
            .await
            .with_context(|| format!("{n} subscribers"))?;
        tokio::time::sleep(SETTLE).await;
    }
    report.note("Subscriptions: all subscribers watch one run, half testRunProgress and half testExecutionUpdates, all with the one admin identity (the hub shares reads per identity). A writer completes the run's executions one at a time through completeTestExecution at a fixed pace (100 ms per 1,000 subscribers, at least 50 ms: above the hub's 20 ms coalescing window, so each completion is its own event). Latency = first client receipt showing the execution finished − arrival of the mutation's answer (its transaction has committed); the figure from the mutation's send time is in the notes. Both client and server run in this process on the same 2 cores: the client's parsing of every message competes with the server's fan-out, so latencies are pessimistic.".to_owned());
    Ok(())
}

async fn fanout(ctx: &Ctx<'_>, report: &mut crate::Report, n: usize) -> anyhow::Result<()> {
    let opts = ctx.options;
    let d = ctx.seeded.dataset;
    progress::say(opts, &format!("scenario 3: {n} subscribers"));
    let events = if n >= 5_000 {
        opts.live_events.min(LARGE_FANOUT_EVENTS)
    } else {
        opts.live_events
    };
    let interval = (WRITER_INTERVAL_PER_THOUSAND * n as u32 / 1_000).max(MIN_WRITER_INTERVAL);

    // file descriptors: one per socket end, both ends in this process
    let limit = raise_fd_limit(2 * n as u64 + FD_RESERVE);
    // one subscription per connection while descriptors last; past that, the remainder
    // doubles up on the first connections
    let connections = n.min(((limit.saturating_sub(FD_RESERVE)) / 2).max(1) as usize);
    let shared_connections = n % connections;

    let live = pending_runs(ctx.env, &format!("live-{n}"), 1, events, 1, d.cases, 7)
        .await?
        .into_iter()
        .next()
        .context("no live run")?;
    let calibration = pending_runs(
        ctx.env,
        &format!("calibrate-{n}"),
        1,
        CALIBRATION_COMPLETIONS,
        1,
        d.cases,
        11,
    )
    .await?
    .into_iter()
    .next()
    .context("no calibration run")?;

    let api_url = ctx.servers.api_url("/graphql");
    let complete = |id: Uuid, failed: bool| {
        load::body(
            COMPLETE,
            &json!({ "id": id, "status": if failed { "FAILED" } else { "PASSED" } }),
        )
    };
    // the writer's own statements per completion, with nobody subscribed
    let before = ctx.servers.statements();
    for e in &calibration.executions {
        load::post(
            &ctx.servers.client,
            &api_url,
            Some(&ctx.env.token),
            complete(e.id, false)?,
        )
        .await
        .map_err(|e| anyhow::anyhow!("calibration completion: {e}"))?;
    }
    let writer_statements =
        (ctx.servers.statements() - before) as f64 / CALIBRATION_COMPLETIONS as f64;
    tokio::time::sleep(SETTLE).await;

    // connect the subscribers
    let rss_before = crate::env::rss_bytes().unwrap_or(0);
    let heap_before = alloc_probe::heap();
    let statements_before_connect = ctx.servers.statements();
    let shared = Arc::new(Progress::default());
    let gate = Arc::new(Semaphore::new(CONNECT_CONCURRENCY));
    let (stop_tx, stop_rx) = watch::channel(false);
    let token = Arc::new(ctx.env.token.clone());
    let mut tasks = Vec::with_capacity(connections);
    let mut assigned = 0;
    for c in 0..connections {
        let k = n / connections + usize::from(c < shared_connections);
        let kinds = (assigned..assigned + k)
            .map(|g| {
                if g % 2 == 0 {
                    Kind::Progress
                } else {
                    Kind::Executions
                }
            })
            .collect();
        assigned += k;
        let plan = ConnectionPlan {
            addr: ctx.servers.api,
            token: token.clone(),
            run: live.id,
            kinds,
            executions: events,
        };
        tasks.push(tokio::spawn(alloc_probe::client(connection(
            plan,
            gate.clone(),
            shared.clone(),
            stop_rx.clone(),
        ))));
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
    let rss_after = crate::env::rss_bytes().unwrap_or(0);
    // (server heap growth, client heap growth)
    let heap_growth =
        alloc_probe::heap()
            .zip(heap_before)
            .map(|((total, client), (total0, client0))| {
                let client = (client - client0).max(0);
                (((total - total0) - client).max(0) as u64, client as u64)
            });
    let subscribe_statements = ctx.servers.statements() - statements_before_connect;
    let initial = shared.initial.load(Ordering::Acquire);

    // the writer
    let mut stamps: HashMap<Uuid, (Instant, Instant)> = HashMap::with_capacity(events);
    let statements_before_writer = ctx.servers.statements();
    let bar = progress::bar(
        opts,
        events as u64,
        &format!("writer: {events} completions"),
    );
    let writer_start = Instant::now();
    let mut writer = Measured::default();
    for (i, e) in live.executions.iter().enumerate() {
        let body = complete(e.id, i % 5 == 4)?;
        let sent = Instant::now();
        match load::post(&ctx.servers.client, &api_url, Some(&ctx.env.token), body).await {
            Ok(_) => {
                let answered = Instant::now();
                load::record(&mut writer.latency, answered - sent);
                writer.requests += 1;
                stamps.insert(e.id, (sent, answered));
            }
            Err(err) => {
                writer.errors += 1;
                writer.first_error.get_or_insert(err);
            }
        }
        bar.inc(1);
        tokio::time::sleep_until((writer_start + interval * (i as u32 + 1)).into()).await;
    }
    bar.finish_and_clear();
    let all_finished = shared
        .wait(&shared.finished, initial, LIVE_SETTLE_TIMEOUT)
        .await;
    tokio::time::sleep(SETTLE).await;
    let live_statements = (ctx.servers.statements() - statements_before_writer) as f64
        - writer_statements * writer.requests as f64;
    let _ = stop_tx.send(true);
    let mut subs = Vec::with_capacity(n);
    for t in tasks {
        if let Ok(s) = t.await {
            subs.extend(s);
        }
    }

    // the truth
    let run_row = sqlx::query(
        "SELECT status, total_tests, passed_tests, failed_tests, skipped_tests FROM test_runs WHERE id = $1",
    )
    .bind(live.id)
    .fetch_one(&ctx.env.pg)
    .await?;
    let truth_run = (
        run_row.try_get::<String, _>("status")?.to_uppercase(),
        i64::from(run_row.try_get::<i32, _>("total_tests")?),
        i64::from(run_row.try_get::<i32, _>("passed_tests")?),
        i64::from(run_row.try_get::<i32, _>("failed_tests")?),
        i64::from(run_row.try_get::<i32, _>("skipped_tests")?),
    );
    let truth_executions: HashMap<Uuid, String> =
        sqlx::query("SELECT id, status FROM test_executions WHERE test_run_id = $1")
            .bind(live.id)
            .fetch_all(&ctx.env.pg)
            .await?
            .iter()
            .map(|r| {
                Ok((
                    r.try_get("id")?,
                    r.try_get::<String, _>("status")?.to_uppercase(),
                ))
            })
            .collect::<Result<_, sqlx::Error>>()?;

    // figures
    let mut latency = load::histogram();
    let mut latency_from_send = load::histogram();
    let (mut delivered, mut right, mut messages, mut resyncs, mut errors) =
        (0u64, 0usize, 0u64, 0u64, 0u64);
    let mut first_error = None;
    let mut expected_messages = 0u64;
    for s in &subs {
        messages += s.messages;
        resyncs += s.resyncs;
        errors += s.errors;
        if first_error.is_none() {
            first_error = s.first_error.clone();
        }
        expected_messages += match s.kind {
            Kind::Progress => 1 + events as u64,
            Kind::Executions => 2 * events as u64,
        };
        for (id, at) in &s.done {
            if let Some((sent, answered)) = stamps.get(id) {
                delivered += 1;
                load::record(&mut latency, at.saturating_duration_since(*answered));
                load::record(&mut latency_from_send, at.saturating_duration_since(*sent));
            }
        }
        let ok = match s.kind {
            Kind::Progress => s.progress.as_ref() == Some(&truth_run),
            Kind::Executions => s.statuses == truth_executions,
        };
        if ok {
            right += 1;
        }
    }
    let expected = n as u64 * writer.requests;
    let per_event = live_statements / writer.requests.max(1) as f64;
    let p = |h: &hdrhistogram::Histogram<u64>, q: f64| h.value_at_quantile(q) as f64 / 1000.0;
    let rss_delta = rss_after.saturating_sub(rss_before);
    let per_sub_kb = match heap_growth {
        Some((server, _)) => server,
        None => rss_delta,
    } as f64
        / n as f64
        / 1024.0;
    let memory_basis = match heap_growth {
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

    let label = format!("{n} subscribers");
    let mut row = Row::value(
        "live",
        &format!("{label}: commit → client"),
        "deliveries",
        delivered as f64,
        "",
    );
    row.p50_ms = Some(p(&latency, 0.50));
    row.p95_ms = Some(p(&latency, 0.95));
    row.p99_ms = Some(p(&latency, 0.99));
    row.requests = delivered;
    row.errors = errors;
    let row = row.with_note(&format!(
        "{delivered}/{expected} completions seen ({:.1}%); from the mutation's send: p50 {:.1} ms, p99 {:.1} ms; {events} events every {} ms; {messages}/{expected_messages} messages, {resyncs} resync snapshots{}",
        100.0 * delivered as f64 / expected.max(1) as f64,
        p(&latency_from_send, 0.50),
        p(&latency_from_send, 0.99),
        interval.as_millis(),
        first_error
            .map(|e| format!("; {errors} errors, first: {e}"))
            .unwrap_or_default(),
    ));
    report.row(row);
    report.row(Row::value(
        "live",
        &format!("{label}: final state right"),
        "subscribers",
        right as f64,
        &format!(
            "of {n} ({:.1}%); {initial} got their first state in {connect_seconds:.1} s{}{}",
            100.0 * right as f64 / n as f64,
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
        &format!("{label}: memory per subscriber"),
        "KB",
        per_sub_kb,
        &format!(
            "{memory_basis}; {n} subscriptions on {connections} connections (open-files limit {limit})"
        ),
    ));
    report.row(Row::value(
        "live",
        &format!("{label}: DB statements per event"),
        "statements",
        per_event,
        &format!(
            "writer's own {writer_statements:.1}/completion excluded; at subscribe: {:.1} statements per subscriber",
            subscribe_statements as f64 / n as f64
        ),
    ));
    let all_right = right == n;
    report.target(
        &format!("final states, {n} subscribers"),
        "100% delivered",
        format!("{right}/{n}"),
        Some(all_right),
        "",
    );
    if n >= 10_000 {
        report.target(
            "10,000 subscribers: memory",
            "≤ 100 KB each",
            format!("{per_sub_kb:.1} KB"),
            Some(per_sub_kb <= 100.0),
            &memory_basis,
        );
        let p99 = p(&latency, 0.99);
        report.target(
            "one event to 10,000 subscribers",
            "p99 ≤ 250 ms",
            format!("p99 {p99:.1} ms"),
            Some(p99 <= 250.0 && delivered == expected),
            "",
        );
    } else if n >= 1_000 {
        let p99 = p(&latency, 0.99);
        report.target(
            &format!("latency with {n} subscribers"),
            "p99 ≤ 50 ms",
            format!("p99 {p99:.1} ms"),
            Some(p99 <= 50.0 && delivered == expected),
            "",
        );
        report.target(
            &format!("memory with {n} subscribers"),
            "≤ 100 KB each (goal stated for 10,000)",
            format!("{per_sub_kb:.1} KB"),
            Some(per_sub_kb <= 100.0),
            &memory_basis,
        );
    }
    report.target(
        &format!("DB work per event, {n} subscribers"),
        "independent of subscribers",
        format!("{per_event:.1} statements per event"),
        None,
        "compare across subscriber counts (--subscribers 1000,10000)",
    );
    Ok(())
}
