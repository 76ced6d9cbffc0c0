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
//! - CPU per event: `cpu` over the writer phase, the client's share and the server's idle rate
//!   apart, less the server's CPU per mutation (measured beforehand with no subscriber).
//!
//! Each count is then measured again with its subscribers spread over many runs (`spread`),
//! against this one.

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
use crate::{Ctx, alloc_probe, cpu, progress, ws};

pub(crate) const PROGRESS: &str = "subscription P($run: UUID!) { testRunProgress(runId: $run) {
  status totalTests passedTests failedTests skippedTests snapshot changedExecutions { id status } } }";

pub(crate) const EXECUTIONS: &str =
    "subscription E($run: UUID!) { testExecutionUpdates(runId: $run) { id status } }";

pub(crate) const COMPLETE: &str = "mutation C($id: UUID!, $status: Outcome!) {
  completeTestExecution(id: $id, status: $status, durationSeconds: 3) { id status } }";

/// Writer pace per 1,000 subscribers: every event makes each subscriber's message, so the pace
/// slows with the fan-out to measure the latency of an event rather than of a backlog.
const WRITER_INTERVAL_PER_THOUSAND: Duration = Duration::from_millis(100);

/// Fastest writer pace: well above the hub's 20 ms coalescing window, so that each completion
/// is an event of its own.
const MIN_WRITER_INTERVAL: Duration = Duration::from_millis(50);

/// The writer's pace with `n` subscribers (see [`WRITER_INTERVAL_PER_THOUSAND`]).
pub(crate) fn writer_interval(n: usize) -> Duration {
    (WRITER_INTERVAL_PER_THOUSAND * n as u32 / 1_000).max(MIN_WRITER_INTERVAL)
}

/// Events with 5,000 subscribers or more: each costs the client here as much as the server,
/// and 20 give a p99 over 100,000+ deliveries.
const LARGE_FANOUT_EVENTS: usize = 20;

/// Completions made with no subscriber to learn the writer's own statements per completion.
const CALIBRATION_COMPLETIONS: usize = 5;

/// File descriptors kept for everything but the WebSockets (pools, files, listeners).
pub(crate) const FD_RESERVE: u64 = 512;

/// How long connections get to settle (server tasks exit, memory is returned) between phases.
pub(crate) const SETTLE: Duration = Duration::from_millis(500);

/// How long a subscriber whose server went away keeps trying the servers of its plan before
/// it gives up: a restarted server is back within seconds.
const RECONNECT_TIMEOUT: Duration = Duration::from_secs(30);

/// Pause between two attempts to connect again: a restarted server needs a moment to bind.
const RECONNECT_PAUSE: Duration = Duration::from_millis(50);

#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
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
pub(crate) struct Sub {
    pub(crate) kind: Kind,
    pub(crate) messages: u64,
    initial: bool,
    /// Progress: the latest (status, total, passed, failed, skipped).
    progress: Option<(String, i64, i64, i64, i64)>,
    /// Executions: the latest status of each.
    statuses: HashMap<Uuid, String>,
    /// First receipt of each execution's finished state.
    pub(crate) done: Vec<(Uuid, Instant)>,
    seen: HashSet<Uuid>,
    /// Full states received after the first (resynchronisations).
    pub(crate) resyncs: u64,
    /// Times its connection was made again after the server ended it.
    pub(crate) reconnects: u64,
    pub(crate) errors: u64,
    pub(crate) first_error: Option<String>,
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
            reconnects: 0,
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

/// A run's state in the database, which every subscriber's last state must equal.
pub(crate) struct Truth {
    /// (status, total, passed, failed, skipped), as `testRunProgress` shows them.
    run: (String, i64, i64, i64, i64),
    /// Each execution's status, as `testExecutionUpdates` shows them.
    executions: HashMap<Uuid, String>,
}

impl Truth {
    /// Reads `run`'s state as the tables' owner.
    pub(crate) async fn read(pg: &sqlx::PgPool, run: Uuid) -> anyhow::Result<Self> {
        let row = sqlx::query(
            "SELECT status, total_tests, passed_tests, failed_tests, skipped_tests FROM test_runs WHERE id = $1",
        )
        .bind(run)
        .fetch_one(pg)
        .await?;
        let run_state = (
            row.try_get::<String, _>("status")?.to_uppercase(),
            i64::from(row.try_get::<i32, _>("total_tests")?),
            i64::from(row.try_get::<i32, _>("passed_tests")?),
            i64::from(row.try_get::<i32, _>("failed_tests")?),
            i64::from(row.try_get::<i32, _>("skipped_tests")?),
        );
        let executions =
            sqlx::query("SELECT id, status FROM test_executions WHERE test_run_id = $1")
                .bind(run)
                .fetch_all(pg)
                .await?
                .iter()
                .map(|r| {
                    Ok((
                        r.try_get("id")?,
                        r.try_get::<String, _>("status")?.to_uppercase(),
                    ))
                })
                .collect::<Result<_, sqlx::Error>>()?;
        Ok(Self {
            run: run_state,
            executions,
        })
    }

    /// Whether the run has ended: only then is a subscriber's last state a final one.
    pub(crate) fn ended(&self) -> bool {
        terminal(&self.run.0)
    }
}

/// What the subscribers of one run saw, against the writer's stamps and the database.
pub(crate) struct Tally {
    /// First receipt of a finished execution − arrival of the mutation's answer.
    pub(crate) latency: hdrhistogram::Histogram<u64>,
    /// The same from the mutation's send.
    pub(crate) latency_from_send: hdrhistogram::Histogram<u64>,
    /// Completions seen (each subscriber × each stamped completion it saw finished).
    pub(crate) delivered: u64,
    /// Subscribers whose last state is the database's.
    pub(crate) right: usize,
    pub(crate) messages: u64,
    /// Messages a subscriber gets when nothing is coalesced or resent.
    pub(crate) expected_messages: u64,
    pub(crate) resyncs: u64,
    pub(crate) reconnects: u64,
    pub(crate) errors: u64,
    pub(crate) first_error: Option<String>,
}

/// Folds the subscribers of one run into its figures; `stamps` are the writer's (send,
/// answer) instants per completed execution, `events` the completions it made.
pub(crate) fn tally(
    subs: &[Sub],
    stamps: &HashMap<Uuid, (Instant, Instant)>,
    truth: &Truth,
    events: usize,
) -> Tally {
    let mut t = Tally {
        latency: load::histogram(),
        latency_from_send: load::histogram(),
        delivered: 0,
        right: 0,
        messages: 0,
        expected_messages: 0,
        resyncs: 0,
        reconnects: 0,
        errors: 0,
        first_error: None,
    };
    for s in subs {
        t.messages += s.messages;
        t.resyncs += s.resyncs;
        t.reconnects += s.reconnects;
        t.errors += s.errors;
        if t.first_error.is_none() {
            t.first_error = s.first_error.clone();
        }
        t.expected_messages += match s.kind {
            Kind::Progress => 1 + events as u64,
            Kind::Executions => 2 * events as u64,
        };
        for (id, at) in &s.done {
            if let Some((sent, answered)) = stamps.get(id) {
                t.delivered += 1;
                load::record(&mut t.latency, at.saturating_duration_since(*answered));
                load::record(
                    &mut t.latency_from_send,
                    at.saturating_duration_since(*sent),
                );
            }
        }
        let right = match s.kind {
            Kind::Progress => s.progress.as_ref() == Some(&truth.run),
            Kind::Executions => s.statuses == truth.executions,
        };
        if right {
            t.right += 1;
        }
    }
    t
}

/// The cases of `runs` whose failure ends them: a failed case that may still be retried keeps
/// its run open, and the subscribers are followed until their runs end. Writers fail one
/// completion in five among these.
pub(crate) async fn final_failures(
    pg: &sqlx::PgPool,
    runs: &[crate::seed::PendingRun],
) -> anyhow::Result<HashSet<Uuid>> {
    let cases: Vec<Uuid> = runs
        .iter()
        .flat_map(|r| r.executions.iter().map(|e| e.case_id))
        .collect();
    final_failure_cases(pg, &cases).await
}

/// Of `cases`, those whose failure ends their run (no retries left to take).
pub(crate) async fn final_failure_cases(
    pg: &sqlx::PgPool,
    cases: &[Uuid],
) -> anyhow::Result<HashSet<Uuid>> {
    let rows: Vec<Uuid> =
        sqlx::query_scalar("SELECT id FROM test_cases WHERE id = ANY($1) AND retry_count = 0")
            .bind(cases)
            .fetch_all(pg)
            .await
            .context("reading the cases' retries")?;
    Ok(rows.into_iter().collect())
}

/// Counters the coordinator waits on.
#[derive(Default)]
pub(crate) struct Progress {
    pub(crate) initial: AtomicUsize,
    pub(crate) finished: AtomicUsize,
    failed_connections: AtomicUsize,
    changed: Notify,
}

impl Progress {
    pub(crate) async fn wait(
        &self,
        counter: &AtomicUsize,
        target: usize,
        timeout: Duration,
    ) -> bool {
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

pub(crate) struct ConnectionPlan {
    pub(crate) addr: SocketAddr,
    /// Servers to connect to again, in turn, when the server ends the connection (closes it,
    /// or completes every subscription as it does when it shuts down); empty: the
    /// subscriptions end with the connection.
    pub(crate) fallbacks: Vec<SocketAddr>,
    pub(crate) token: Arc<String>,
    pub(crate) run: Uuid,
    pub(crate) kinds: Vec<Kind>,
    pub(crate) executions: usize,
}

/// How a connection's reading ended.
enum Ended {
    /// The coordinator said stop.
    Stopped,
    /// The server closed the connection or completed every subscription on it.
    Dropped,
}

/// Connects to `addr` and starts the plan's subscriptions.
async fn open(addr: SocketAddr, plan: &ConnectionPlan) -> anyhow::Result<ws::Ws> {
    let mut ws = ws::connect(addr, "/graphql/ws", &plan.token).await?;
    for (i, kind) in plan.kinds.iter().enumerate() {
        let query = match kind {
            Kind::Progress => PROGRESS,
            Kind::Executions => EXECUTIONS,
        };
        ws::subscribe(&mut ws, &i.to_string(), query, json!({ "run": plan.run })).await?;
    }
    Ok(ws)
}

/// The subscribers of one connection, until told to stop; with fallbacks, across the
/// connections made again after the server ended one.
pub(crate) async fn connection(
    plan: ConnectionPlan,
    gate: Arc<Semaphore>,
    progress: Arc<Progress>,
    mut stop: watch::Receiver<bool>,
) -> Vec<Sub> {
    let mut subs: Vec<Sub> = plan.kinds.iter().map(|k| Sub::new(*k)).collect();
    let mut permit = gate.acquire_owned().await.ok();
    let mut ws = match open(plan.addr, &plan).await {
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
    let mut turn = 0;
    loop {
        let ended = follow(&mut ws, &plan, &mut subs, &progress, &mut permit, &mut stop).await;
        let _ = ws.close(None).await;
        if matches!(ended, Ended::Stopped) || plan.fallbacks.is_empty() {
            return subs;
        }
        // the server went away: the next server in turn, until one answers
        let deadline = Instant::now() + RECONNECT_TIMEOUT;
        ws = loop {
            let addr = plan.fallbacks[turn % plan.fallbacks.len()];
            turn += 1;
            let attempt = tokio::select! {
                opened = open(addr, &plan) => opened,
                _ = stop.changed() => return subs,
            };
            match attempt {
                Ok(ws) => break ws,
                Err(e) if Instant::now() >= deadline => {
                    for s in &mut subs {
                        s.error(format!("connecting again: {e:#}"));
                    }
                    return subs;
                }
                Err(_) => {}
            }
            tokio::select! {
                _ = tokio::time::sleep(RECONNECT_PAUSE) => {}
                _ = stop.changed() => return subs,
            }
        };
        for s in &mut subs {
            s.reconnects += 1;
        }
    }
}

/// Reads one connection's messages into its subscribers until the server ends it or the
/// coordinator says stop.
async fn follow(
    ws: &mut ws::Ws,
    plan: &ConnectionPlan,
    subs: &mut [Sub],
    progress: &Progress,
    permit: &mut Option<tokio::sync::OwnedSemaphorePermit>,
    stop: &mut watch::Receiver<bool>,
) -> Ended {
    let mut completed = HashSet::new();
    loop {
        tokio::select! {
            msg = ws.next() => {
                let at = Instant::now();
                let text = match msg {
                    Some(Ok(Message::Text(t))) => t,
                    Some(Ok(Message::Close(_))) | None => return Ended::Dropped,
                    Some(Err(e)) => {
                        for s in subs.iter_mut() {
                            s.error(format!("connection: {e}"));
                        }
                        return Ended::Dropped;
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
                        let _ = ws::send(ws, &json!({"type": "pong"})).await;
                    }
                    "complete" => {
                        if let Some(id) = incoming.id {
                            completed.insert(id);
                        }
                        if completed.len() >= subs.len() {
                            return Ended::Dropped;
                        }
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
                            *permit = None;
                        }
                    }
                    _ => {}
                }
            }
            _ = stop.changed() => return Ended::Stopped,
        }
    }
}

/// Raises the open-files limit towards `want`; returns the limit in force.
pub(crate) fn raise_fd_limit(want: u64) -> u64 {
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
        let one_run = fanout(ctx, report, n)
            .await
            .with_context(|| format!("{n} subscribers"))?;
        tokio::time::sleep(SETTLE).await;
        crate::spread::run(ctx, report, n, Some(&one_run))
            .await
            .with_context(|| format!("{n} subscribers spread over runs"))?;
        tokio::time::sleep(SETTLE).await;
    }
    report.note("Subscriptions: all subscribers watch one run, half testRunProgress and half testExecutionUpdates, all with the one admin identity (the hub shares reads per identity). A writer completes the run's executions one at a time through completeTestExecution at a fixed pace (100 ms per 1,000 subscribers, at least 50 ms: above the hub's 20 ms coalescing window, so each completion is its own event). Latency = first client receipt showing the execution finished − arrival of the mutation's answer (its transaction has committed); the figure from the mutation's send time is in the notes. Both client and server run in this process on the same 2 cores: the client's parsing of every message competes with the server's fan-out, so latencies are pessimistic.".to_owned());
    Ok(())
}

async fn fanout(
    ctx: &Ctx<'_>,
    report: &mut crate::Report,
    n: usize,
) -> anyhow::Result<crate::spread::Figures> {
    let opts = ctx.options;
    let d = ctx.seeded.dataset;
    progress::say(opts, &format!("scenario 3: {n} subscribers"));
    let events = if n >= 5_000 {
        opts.live_events.min(LARGE_FANOUT_EVENTS)
    } else {
        opts.live_events
    };
    let interval = writer_interval(n);

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

    let may_fail = final_failures(&ctx.env.pg, std::slice::from_ref(&live)).await?;
    let api_url = ctx.servers.api_url("/graphql");
    let complete = |id: Uuid, failed: bool| {
        load::body(
            COMPLETE,
            &json!({ "id": id, "status": if failed { "FAILED" } else { "PASSED" } }),
        )
    };
    // the writer's own statements and server CPU per completion, with nobody subscribed
    let before = ctx.servers.statements();
    let mark = cpu::Mark::now();
    for e in &calibration.executions {
        cpu::client(load::post(
            &ctx.servers.client,
            &api_url,
            Some(&ctx.env.token),
            complete(e.id, false)?,
        ))
        .await
        .map_err(|e| anyhow::anyhow!("calibration completion: {e}"))?;
    }
    let mutation_ms = cpu::ms_per(mark.spent().server(), CALIBRATION_COMPLETIONS as u64);
    let writer_statements =
        (ctx.servers.statements() - before) as f64 / CALIBRATION_COMPLETIONS as f64;
    tokio::time::sleep(SETTLE).await;

    // connect the subscribers
    let memory = crate::spread::MemoryMark::now();
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
            fallbacks: Vec::new(),
            token: token.clone(),
            run: live.id,
            kinds,
            executions: events,
        };
        tasks.push(tokio::spawn(cpu::client(alloc_probe::client(connection(
            plan,
            gate.clone(),
            shared.clone(),
            stop_rx.clone(),
        )))));
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
    let (per_sub_kb, memory_basis) = memory.per_subscriber(n);
    let subscribe_statements = ctx.servers.statements() - statements_before_connect;
    let initial = shared.initial.load(Ordering::Acquire);

    // the server's CPU with everyone connected and nothing happening
    let idle = cpu::Mark::now();
    tokio::time::sleep(crate::spread::IDLE_SAMPLE).await;
    let idle = idle.spent();

    // the writer
    let hub_before = crate::ceiling::HubCounters::read(ctx).await?;
    let mark = cpu::Mark::now();
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
        let body = complete(e.id, i % 5 == 4 && may_fail.contains(&e.case_id))?;
        let sent = Instant::now();
        match cpu::client(load::post(
            &ctx.servers.client,
            &api_url,
            Some(&ctx.env.token),
            body,
        ))
        .await
        {
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
    let writing = writer_start.elapsed();
    let all_finished = shared
        .wait(&shared.finished, initial, LIVE_SETTLE_TIMEOUT)
        .await;
    let phase = mark.spent();
    let hub = crate::ceiling::HubCounters::read(ctx)
        .await?
        .since(&hub_before);
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

    // the truth, and what the subscribers saw of it
    let truth = Truth::read(&ctx.env.pg, live.id).await?;
    let Tally {
        latency,
        latency_from_send,
        delivered,
        right,
        messages,
        expected_messages,
        resyncs,
        errors,
        first_error,
        ..
    } = tally(&subs, &stamps, &truth, events);
    let expected = n as u64 * writer.requests;
    let per_event = live_statements / writer.requests.max(1) as f64;
    let p = |h: &hdrhistogram::Histogram<u64>, q: f64| h.value_at_quantile(q) as f64 / 1000.0;

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
    let hub_events = if hub.events > 0.0 {
        hub.events as u64
    } else {
        writer.requests
    };
    let mut cpu = cpu::PerEvent::new(phase, idle, hub_events);
    // the server's work for the writer's mutations is not the event's
    cpu.server_ms =
        (cpu.server_ms - mutation_ms * writer.requests as f64 / hub_events.max(1) as f64).max(0.0);
    let figures = crate::spread::Figures {
        cpu,
        p50_ms: p(&latency, 0.50),
        p99_ms: p(&latency, 0.99),
        events_per_second: hub_events as f64 / writing.as_secs_f64().max(f64::EPSILON),
        wakeups_per_event: hub.wakeups / hub_events.max(1) as f64,
        memory_kb: per_sub_kb,
    };
    report.row(Row::value(
        "live",
        &format!("{label}: server CPU per event"),
        "ms",
        cpu.server_ms,
        &format!(
            "{}, less the server's {mutation_ms:.2} ms per completeTestExecution (measured with nobody subscribed); {hub_events} events ({:.1}/s), {:.1} subscription streams woken and {:.1} stream messages per event; server and client in this process, PostgreSQL not counted",
            cpu.describe(),
            figures.events_per_second,
            figures.wakeups_per_event,
            hub.stream_messages / hub_events.max(1) as f64,
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
            "≤ 32 KB each",
            format!("{per_sub_kb:.1} KB"),
            Some(per_sub_kb <= 32.0),
            &memory_basis,
        );
        let p99 = p(&latency, 0.99);
        report.target(
            "one event to 10,000 subscribers",
            "p99 ≤ 150 ms",
            format!("p99 {p99:.1} ms"),
            Some(p99 <= 150.0 && delivered == expected),
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
    Ok(figures)
}
