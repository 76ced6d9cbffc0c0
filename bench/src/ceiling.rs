//! Scenario: the notifying-commit ceiling. Each commit completes one pending execution the way
//! `completeTestExecution` does (UPDATE of the execution, `refresh_test_run` of its run, one
//! transaction), in raw SQL on 1, 4 and 16 connections, so that every commit NOTIFYs through
//! the real triggers (the execution's and the run's); against the same commits with the
//! NOTIFY triggers disabled, as the ingestion scenario measures their cost. Meanwhile the
//! server's listener receives every notification: what it gets through is read from its
//! `/metrics` (notifications received, events emitted), against the notifications sent (the
//! triggers' sequence).
//!
//! Every connection completes executions of runs of its own, in turn, so that commits do not
//! wait on each other's run locks and each run changes less often than the hub's coalescing
//! window (every completion is an event of its own).

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::Context as _;
use uuid::Uuid;

use crate::ingest::{set_triggers, triggers_calling};
use crate::load::{self, Measured, Step};
use crate::options::ROUNDS;
use crate::report::Row;
use crate::seed::{PendingRun, pending_runs};
use crate::{Ctx, progress};

/// What `completeTestExecution` writes, for an execution still open: its outcome, when it
/// started and ended, its duration. `$1` the execution, `$2` the outcome.
const COMPLETE_EXECUTION: &str = "UPDATE test_executions
   SET status = $2, started_at = COALESCE(started_at, now() - interval '3 seconds'),
       completed_at = now(), duration_ms = 3000
 WHERE id = $1 AND status IN ('pending', 'running')";

/// The run's recount, as `completeTestExecution` calls it (it updates the run, which notifies).
const REFRESH_RUN: &str = "SELECT refresh_test_run($1)";

/// Name prefix of the runs this scenario creates (and deletes when done).
const TAG: &str = "ceiling";

/// Writer connections compared: one, a few, and as many as a busy fleet of API processes
/// holds committing at once.
const CONNECTIONS: [usize; 3] = [1, 4, 16];

/// Pending executions of each run: a run changes once per pass over a connection's runs, so
/// many small runs keep each run's changes far apart.
const RUN_EXECUTIONS: usize = 20;

/// Most commits per second a phase is given executions for; past it a phase runs out of
/// executions and ends early (its figure stays right: commits over the time taken). Two cores
/// commit a few thousand small transactions per second at best.
const MAX_COMMITS_PER_SECOND: f64 = 6_000.0;

/// How long the listener may take to catch up with the notifications sent, after the writers
/// stop, before what it got is reported as it is.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(20);

/// Time without a new notification after which the rest is taken as not coming (also how
/// long it takes to see that the listener is idle before the first phase).
const DRAIN_STILL: Duration = Duration::from_millis(300);

/// Pause between two readings of the listener's counter while it catches up.
const DRAIN_POLL: Duration = Duration::from_millis(20);

/// Completes `execution` of `run` the way `completeTestExecution` does, in one transaction
/// that NOTIFYs through the triggers at commit (unless they are disabled).
pub(crate) async fn complete(
    pool: &sqlx::PgPool,
    run: Uuid,
    execution: Uuid,
    failed: bool,
) -> Result<(), sqlx::Error> {
    let mut tx = pool.begin().await?;
    sqlx::query(COMPLETE_EXECUTION)
        .bind(execution)
        .bind(if failed { "failed" } else { "passed" })
        .execute(&mut *tx)
        .await?;
    sqlx::query(REFRESH_RUN).bind(run).execute(&mut *tx).await?;
    tx.commit().await
}

/// A pool of `connections` connections to the benchmark's database, as its owner.
pub(crate) async fn writer_pool(ctx: &Ctx<'_>, connections: usize) -> anyhow::Result<sqlx::PgPool> {
    sqlx::postgres::PgPoolOptions::new()
        .max_connections(connections as u32)
        .min_connections(connections as u32)
        .connect(&ctx.env.url)
        .await
        .context("connecting the writers")
}

/// The live hub's counters, read from the server's `/metrics` (every label set summed).
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct HubCounters {
    /// Notifications the listener received.
    pub notifications: f64,
    /// Events the hub emitted (one per run and coalescing window).
    pub events: f64,
    /// Subscriptions woken by events.
    pub wakeups: f64,
    /// Messages of shared subscription streams (each serialised once).
    pub stream_messages: f64,
}

impl HubCounters {
    pub(crate) async fn read(ctx: &Ctx<'_>) -> anyhow::Result<Self> {
        let text = ctx
            .servers
            .client
            .get(ctx.servers.api_url("/metrics"))
            .send()
            .await
            .context("GET /metrics")?
            .error_for_status()
            .context("GET /metrics")?
            .text()
            .await
            .context("reading /metrics")?;
        let total = |name: &str| -> f64 {
            text.lines()
                .filter(|l| {
                    l.strip_prefix(name)
                        .is_some_and(|rest| rest.starts_with([' ', '{']))
                })
                .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
                .sum()
        };
        Ok(Self {
            notifications: total(api::telemetry::LIVE_NOTIFICATIONS),
            events: total(api::telemetry::LIVE_EVENTS),
            wakeups: total(api::telemetry::LIVE_WAKEUPS),
            stream_messages: total(api::telemetry::LIVE_STREAM_MESSAGES),
        })
    }

    /// What happened from `before` to `self`.
    pub(crate) fn since(&self, before: &Self) -> Self {
        Self {
            notifications: self.notifications - before.notifications,
            events: self.events - before.events,
            wakeups: self.wakeups - before.wakeups,
            stream_messages: self.stream_messages - before.stream_messages,
        }
    }
}

/// Notifications the live triggers have sent so far: each takes a number from their sequence.
async fn notifications_sent(ctx: &Ctx<'_>) -> anyhow::Result<i64> {
    sqlx::query_scalar::<_, i64>(
        "SELECT CASE WHEN is_called THEN last_value ELSE 0 END FROM live_event_seq",
    )
    .fetch_one(&ctx.env.pg)
    .await
    .context("reading live_event_seq")
}

/// Waits until the listener has received `target` notifications in all, or its count stops
/// moving for [`DRAIN_STILL`], or [`DRAIN_TIMEOUT`]; returns the counters and the time it took.
async fn drain(ctx: &Ctx<'_>, target: f64) -> anyhow::Result<(HubCounters, Duration)> {
    let started = Instant::now();
    let mut last = HubCounters::read(ctx).await?;
    let mut still = 0;
    while last.notifications < target && started.elapsed() < DRAIN_TIMEOUT {
        tokio::time::sleep(DRAIN_POLL).await;
        let now = HubCounters::read(ctx).await?;
        still = if now.notifications > last.notifications {
            0
        } else {
            still + 1
        };
        last = now;
        if still * DRAIN_POLL >= DRAIN_STILL {
            break;
        }
    }
    Ok((last, started.elapsed()))
}

/// The runs of one phase, split between its connections, and each connection's next commit.
struct Work {
    slices: Vec<Vec<PendingRun>>,
    cursors: Vec<AtomicUsize>,
}

impl Work {
    /// The run and execution of connection `worker`'s next commit: its runs in turn.
    fn next(&self, worker: usize) -> Option<(Uuid, Uuid)> {
        let runs = self.slices.get(worker)?;
        let k = self.cursors.get(worker)?.fetch_add(1, Ordering::Relaxed);
        let run = runs.get(k % runs.len().max(1))?;
        let execution = run.executions.get(k / runs.len().max(1))?;
        Some((run.id, execution.id))
    }
}

async fn work(
    ctx: &Ctx<'_>,
    tag: &str,
    connections: usize,
    duration: Duration,
) -> anyhow::Result<Arc<Work>> {
    let commits = (duration.as_secs_f64() * MAX_COMMITS_PER_SECOND).ceil() as usize;
    let runs_per_connection = commits.div_ceil(connections * RUN_EXECUTIONS).max(1);
    let runs = pending_runs(
        ctx.env,
        tag,
        runs_per_connection * connections,
        RUN_EXECUTIONS,
        1,
        ctx.seeded.dataset.cases,
        0,
    )
    .await?;
    anyhow::ensure!(
        runs.len() == runs_per_connection * connections,
        "pending runs for {tag} are incomplete"
    );
    let mut slices: Vec<Vec<PendingRun>> = (0..connections).map(|_| Vec::new()).collect();
    for (i, run) in runs.into_iter().enumerate() {
        slices[i % connections].push(run);
    }
    Ok(Arc::new(Work {
        cursors: (0..connections).map(|_| AtomicUsize::new(0)).collect(),
        slices,
    }))
}

/// Commits on `connections` connections for `duration`, each completing the next execution
/// of its runs.
async fn commits(
    pool: &sqlx::PgPool,
    work: Arc<Work>,
    connections: usize,
    duration: Duration,
) -> Measured {
    let pool = pool.clone();
    load::closed_loop(connections, duration, Duration::ZERO, move |worker, i| {
        let pool = pool.clone();
        let work = work.clone();
        async move {
            let Some((run, execution)) = work.next(worker) else {
                return Ok(Step::Exhausted);
            };
            complete(&pool, run, execution, i % 5 == 4)
                .await
                .map(|_| Step::Done(1))
                .map_err(|e| e.to_string())
        }
    })
    .await
}

/// What the listener did during the notifying phases of one connection count.
#[derive(Default)]
struct Listened {
    sent: i64,
    /// Received while the writers ran.
    received: f64,
    /// Received by the end of the drain.
    drained: f64,
    events: f64,
    elapsed: Duration,
    drain: Duration,
}

pub async fn run(ctx: &Ctx<'_>, report: &mut crate::Report) -> anyhow::Result<()> {
    let opts = ctx.options;
    progress::say(opts, "scenario: notifying-commit ceiling");
    let triggers = triggers_calling(ctx, "notify_live_change").await?;
    anyhow::ensure!(!triggers.is_empty(), "no NOTIFY triggers found");
    let per_round = opts.ceiling_duration / ROUNDS as u32;
    let max = CONNECTIONS.iter().copied().max().unwrap_or(1);
    let pool = writer_pool(ctx, max).await?;
    let bar = progress::bar(
        opts,
        (CONNECTIONS.len() * ROUNDS * 2) as u64,
        "ceiling: creating pending runs",
    );
    // (connections, notifying?, round) → its runs, made before anything is measured
    let mut plans = Vec::new();
    for round in 0..ROUNDS {
        for &n in &CONNECTIONS {
            for notify in [true, false] {
                let warmup = if round == 0 {
                    opts.warmup
                } else {
                    Duration::ZERO
                };
                let tag = format!(
                    "{TAG}-{n}-{}-{round}",
                    if notify { "notify" } else { "quiet" }
                );
                let w = work(ctx, &tag, n, per_round + warmup).await?;
                plans.push((round, n, notify, warmup, w));
                bar.inc(1);
            }
        }
    }
    bar.finish_and_clear();

    let mut with: Vec<Measured> = CONNECTIONS.iter().map(|_| Measured::default()).collect();
    let mut without: Vec<Measured> = CONNECTIONS.iter().map(|_| Measured::default()).collect();
    let mut listened: Vec<Listened> = CONNECTIONS.iter().map(|_| Listened::default()).collect();
    let bar = progress::timed(
        opts,
        (opts.ceiling_duration + opts.warmup) * (2 * CONNECTIONS.len()) as u32,
        "ceiling: notifying commits",
    );
    // notifications sent before the server listened (or not on its channel) are never
    // received: the listener is caught up when it has received what was sent since now
    let (settled, _) = drain(ctx, f64::INFINITY).await?;
    let offset = settled.notifications - notifications_sent(ctx).await? as f64;
    let result = async {
        for (_, n, notify, warmup, w) in plans {
            let slot = CONNECTIONS.iter().position(|&c| c == n).unwrap_or(0);
            if !notify {
                set_triggers(ctx, &triggers, false).await?;
            }
            if !warmup.is_zero() {
                let _ = commits(&pool, w.clone(), n, warmup).await;
            }
            // the listener has caught up with everything before this phase
            let sent_before = notifications_sent(ctx).await?;
            let (before, _) = drain(ctx, sent_before as f64 + offset).await?;
            let m = commits(&pool, w, n, per_round).await;
            if notify {
                let at_end = HubCounters::read(ctx).await?.since(&before);
                let sent = notifications_sent(ctx).await? - sent_before;
                let (drained, took) = drain(ctx, before.notifications + sent as f64).await?;
                let drained = drained.since(&before);
                let l = &mut listened[slot];
                l.sent += sent;
                l.received += at_end.notifications;
                l.drained += drained.notifications;
                l.events += drained.events;
                l.elapsed += m.elapsed;
                l.drain = l.drain.max(took);
                with[slot].merge(m);
            } else {
                set_triggers(ctx, &triggers, true).await?;
                without[slot].merge(m);
            }
            bar.inc(((per_round + warmup).as_millis() / 100) as u64);
        }
        Ok::<_, anyhow::Error>(())
    }
    .await;
    bar.finish_and_clear();
    // never leave the triggers off, whatever failed
    let restored = set_triggers(ctx, &triggers, true).await;
    pool.close().await;
    // the scenarios after this one see the dataset as it was, whatever failed
    progress::say(opts, "ceiling: deleting its runs");
    let deleted = sqlx::query("DELETE FROM test_runs WHERE name LIKE $1 || '-%'")
        .bind(TAG)
        .execute(&ctx.env.pg)
        .await
        .context("deleting the ceiling's runs");
    result?;
    restored?;
    deleted?;

    let mut best: Option<(usize, f64)> = None;
    for (i, &n) in CONNECTIONS.iter().enumerate() {
        let (w, q, l) = (&with[i], &without[i], &listened[i]);
        let rate = w.units_per_second();
        if best.is_none_or(|(_, r)| rate > r) {
            best = Some((n, rate));
        }
        let secs = l.elapsed.as_secs_f64().max(f64::EPSILON);
        let cost = (rate > 0.0).then(|| q.units_per_second() / rate - 1.0);
        report.row(
            Row::compared(
                "ceiling",
                &format!("notifying commits, {n} connection{}", if n == 1 { "" } else { "s" }),
                "commits/s",
                w,
                Some(("same commits, NOTIFY off", q)),
            )
            .with_note(&format!(
                "{} commits with NOTIFY, {} without; NOTIFY cost {}; latency is per commit (UPDATE + refresh_test_run + COMMIT)",
                w.requests,
                q.requests,
                cost.map(|c| format!("{:+.1}%", c * 100.0))
                    .unwrap_or_else(|| "no figure".to_owned()),
            )),
        );
        report.row(Row::against(
            "ceiling",
            &format!("server listener, {n} connection{}: notifications received", if n == 1 { "" } else { "s" }),
            "notifications/s",
            l.received / secs,
            ("sent by the triggers", l.sent as f64 / secs),
            &format!(
                "{:.2} notifications per commit; {:.0} of {} received by the end of the commits, {:.0} within {:.2} s after; the hub emitted {:.0} events/s ({:.2} per commit)",
                l.sent as f64 / w.requests.max(1) as f64,
                l.received,
                l.sent,
                l.drained,
                l.drain.as_secs_f64(),
                l.events / secs,
                l.events / w.requests.max(1) as f64,
            ),
        ));
    }
    if let Some((n, rate)) = best {
        let l = CONNECTIONS
            .iter()
            .position(|&c| c == n)
            .and_then(|i| listened.get(i));
        let kept_up = l.is_some_and(|l| l.drained >= l.sent as f64);
        report.target(
            "notifying-commit ceiling",
            "measured (no goal)",
            format!("{rate:.0} commits/s on {n} connections"),
            None,
            "completeTestExecution-equivalent commits through the NOTIFY triggers, raw SQL; see the ceiling rows for 1, 4 and 16 connections and the same commits without NOTIFY",
        );
        report.target(
            "server listener at the notifying-commit ceiling",
            "every notification received",
            l.map(|l| format!("{:.0} of {}", l.drained, l.sent))
                .unwrap_or_else(|| "no figure".to_owned()),
            Some(kept_up),
            "received by the server's one LISTEN connection (jbts_live_notifications_total) vs sent (live_event_seq), after the writers stopped",
        );
    }
    report.note(format!(
        "Notifying-commit ceiling: each commit is what completeTestExecution writes (UPDATE of one pending execution, SELECT refresh_test_run(run), COMMIT: the execution's and the run's triggers each NOTIFY at commit, 2 per commit) in raw SQL as the tables' owner, closed loop on 1, 4 and 16 connections, each on runs of its own of {RUN_EXECUTIONS} executions taken in turn (no lock waits; each run changes far less often than the hub's coalescing window); against the same commits with the NOTIFY triggers disabled (ALTER TABLE ... DISABLE TRIGGER between phases, as for ingestion); {ROUNDS} interleaved rounds of {:.1} s per side. The API's reads and run lock before the UPDATE are not included. The server (in this process) listens meanwhile: notifications received are its /metrics counter, notifications sent the triggers' sequence (live_event_seq); one connection's notifications are delivered to the listener in commit order by PostgreSQL's one queue.",
        per_round.as_secs_f64()
    ));
    Ok(())
}
