//! The replicas scenario: the service as a fleet runs it, several stateless server processes
//! on one database, and reads on a streaming standby.
//!
//! - Server processes: started from the server's own command line (`jbtestsuite serve`, or
//!   the bench binary's hidden `bench serve`, which runs the same code), each on its own
//!   port, all on the benchmark's database; killed if the scenario ends early.
//! - One process vs three: the same number of subscribers on a run (half `testRunProgress`,
//!   half `testExecutionUpdates`), all on one process or spread round robin over three, while
//!   a writer completes the run's executions through the processes round robin. Commit →
//!   client latency as the live scenario measures it; the sides interleaved over
//!   [`ROUNDS`] rounds.
//! - A restart: three processes, one stopped with SIGTERM while the writer writes and started
//!   again on the same port; its subscribers connect again (half to it, half to the next
//!   process) and every subscriber must end on the run's final state in the database. The
//!   scenario fails if one does not.
//! - Read replica: a streaming standby of the benchmark's cluster (`pg_basebackup`), and a
//!   process reading on it (`--read-database-url`); the queries scenario's list (a) and
//!   dashboard (b) there vs on a process reading on the primary, interleaved.

use std::collections::HashMap;
use std::ffi::OsString;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use anyhow::Context as _;
use bytes::Bytes;
use serde_json::json;
use tokio::sync::{Notify, Semaphore, watch};
use uuid::Uuid;

use crate::live::{self, ConnectionPlan, Kind, Progress, Tally, Truth};
use crate::load::{self, Measured};
use crate::options::{CONNECT_CONCURRENCY, LIVE_SETTLE_TIMEOUT, ROUNDS};
use crate::report::Row;
use crate::seed::{PendingExecution, pending_runs};
use crate::{Ctx, progress, queries};

/// Server processes of the fleet: the three.
pub const PROCESSES: usize = 3;

/// The bench binary's hidden subcommand that serves: `bench serve ARGS` runs what
/// `jbtestsuite serve ARGS` runs (the server's command line and start-up code), so that the
/// benchmark needs no other binary built.
pub const SERVE: &str = "serve";

/// How long a server process may take to answer /readyz once started: a debug build, several
/// starting at once on 2 cores shared with PostgreSQL.
const READY_TIMEOUT: Duration = Duration::from_secs(60);

/// Pause between two /readyz polls of a starting process.
const READY_POLL: Duration = Duration::from_millis(25);

/// How long a process may take to exit after SIGTERM: the server's shutdown grace, and a
/// margin for its pools and listener to close.
const EXIT_TIMEOUT: Duration = Duration::from_secs(api::startup::SHUTDOWN_GRACE.as_secs() + 5);

/// WebSockets a process accepts per token and per client address: every subscriber connects
/// from here with the one token, so the server's defaults (500, 1,000) would cap the fan-out
/// measured.
const SOCKET_BOUND: usize = 1_000_000;

/// Bytes of a process's log shown when it fails to start or stop.
const LOG_TAIL_BYTES: usize = 2_000;

/// File descriptors kept for everything but the subscribers' sockets (pools, files, the
/// in-process servers); the server processes inherit the limit raised here.
const FD_RESERVE: u64 = 512;

/// How long the process reading on the standby may take to send its first read there: the
/// replica's monitor must have seen it caught up.
const REPLICA_USED_TIMEOUT: Duration = Duration::from_secs(30);

/// Runs × executions of the dashboard (b) in `--quick`: the same document, small enough
/// that a debug build answers it in well under a second (10 × 50 takes seconds there).
const QUICK_DASHBOARD: (i64, i64) = (2, 10);

/// `pending_runs` offset of this scenario's runs (which of the seeded cases they execute):
/// apart from the live scenario's.
const CASE_OFFSET: i64 = 17;

/// How the benchmark starts a server process: `program args...` followed by the server's own
/// options (`--database-url`, `--listen`, ...).
#[derive(Debug, Clone)]
pub struct ServerProgram {
    pub program: PathBuf,
    pub args: Vec<String>,
}

impl ServerProgram {
    /// This binary's hidden `serve` (the bench binary).
    pub fn this_binary() -> anyhow::Result<Self> {
        Ok(Self {
            program: std::env::current_exe().context("finding the bench binary")?,
            args: vec![SERVE.to_owned()],
        })
    }

    /// The server binary at `program` (`jbtestsuite serve`).
    pub fn server(program: impl Into<PathBuf>) -> Self {
        Self {
            program: program.into(),
            args: vec!["serve".to_owned()],
        }
    }
}

/// `bench serve ARGS`: parses `ARGS` as the server's command line (`serve` and its options)
/// and runs it as the server binary does.
pub async fn serve(args: impl IntoIterator<Item = OsString>) -> anyhow::Result<()> {
    use clap::Parser as _;
    api::telemetry::init();
    // as the server binary does: help and usage errors print and exit here
    let cli =
        api::config::Cli::parse_from(std::iter::once(OsString::from("jbtestsuite")).chain(args));
    api::startup::run(cli).await
}

/// What one server process is started with.
#[derive(Clone)]
struct Spec {
    name: String,
    addr: SocketAddr,
    database_url: String,
    read_urls: Vec<String>,
    /// Its data directory (nothing is kept there with a database URL) and log.
    dir: PathBuf,
    /// The artifact store the fleet shares, as replicas behind a load balancer do.
    artifacts: PathBuf,
}

impl Spec {
    fn new(env: &crate::env::Env, name: &str, read_urls: Vec<String>) -> anyhow::Result<Self> {
        // a free port, kept for the process's restarts
        let addr = std::net::TcpListener::bind(("127.0.0.1", 0))
            .and_then(|l| l.local_addr())
            .context("finding a free port")?;
        let dir = env.dir().join(name);
        std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
        Ok(Self {
            name: name.to_owned(),
            addr,
            database_url: env.url.clone(),
            read_urls,
            dir,
            artifacts: env.dir().join("fleet-artifacts"),
        })
    }

    fn log(&self) -> PathBuf {
        self.dir.join("server.log")
    }
}

/// A server process, killed if dropped while running.
struct ServerProcess {
    spec: Spec,
    child: tokio::process::Child,
}

impl ServerProcess {
    fn start(program: &ServerProgram, spec: Spec) -> anyhow::Result<Self> {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(spec.log())
            .with_context(|| format!("opening {}", spec.log().display()))?;
        let mut cmd = tokio::process::Command::new(&program.program);
        cmd.args(&program.args)
            .arg("--database-url")
            .arg(&spec.database_url)
            .arg("--listen")
            .arg(spec.addr.to_string())
            .arg("--data-dir")
            .arg(&spec.dir)
            .arg("--artifact-store")
            .arg(format!("file://{}", spec.artifacts.display()))
            // the benchmark migrated the database; processes starting together must not race
            .arg("--no-migrate")
            // every request comes from here with one token
            .args([
                "--rate-limit-per-token",
                "0",
                "--rate-limit-per-address",
                "0",
            ])
            .arg("--max-sockets-per-token")
            .arg(SOCKET_BOUND.to_string())
            .arg("--max-sockets-per-address")
            .arg(SOCKET_BOUND.to_string());
        for url in &spec.read_urls {
            cmd.arg("--read-database-url").arg(url);
        }
        // the process's options are its command line's, whatever this shell exports
        for (key, _) in std::env::vars_os() {
            let k = key.to_string_lossy();
            if k.starts_with("JBTS_") || k == "DATABASE_URL" {
                cmd.env_remove(&key);
            }
        }
        cmd.stdin(std::process::Stdio::null())
            .stdout(log.try_clone().context("sharing the log")?)
            .stderr(log)
            .kill_on_drop(true);
        let child = cmd
            .spawn()
            .with_context(|| format!("starting {}", program.program.display()))?;
        Ok(Self { spec, child })
    }

    /// Waits for /readyz to answer 200 (database and live listener up).
    async fn ready(&mut self, client: &reqwest::Client) -> anyhow::Result<()> {
        let url = format!("http://{}/readyz", self.spec.addr);
        let deadline = Instant::now() + READY_TIMEOUT;
        loop {
            if let Some(status) = self.child.try_wait().context("polling a server process")? {
                anyhow::bail!(
                    "server process {} exited ({status}) before it was ready: {}",
                    self.spec.name,
                    self.log_tail()
                );
            }
            if client
                .get(&url)
                .send()
                .await
                .is_ok_and(|r| r.status().is_success())
            {
                return Ok(());
            }
            if Instant::now() >= deadline {
                anyhow::bail!(
                    "server process {} was not ready within {READY_TIMEOUT:?}: {}",
                    self.spec.name,
                    self.log_tail()
                );
            }
            tokio::time::sleep(READY_POLL).await;
        }
    }

    /// SIGTERM, as an orchestrator stops a replica; waits for the process to exit.
    async fn terminate(&mut self) -> anyhow::Result<()> {
        use nix::sys::signal::{Signal, kill};
        use nix::unistd::Pid;
        let Some(pid) = self.child.id() else {
            return Ok(()); // already reaped
        };
        kill(Pid::from_raw(pid as i32), Signal::SIGTERM)
            .with_context(|| format!("signalling server process {}", self.spec.name))?;
        match tokio::time::timeout(EXIT_TIMEOUT, self.child.wait()).await {
            Ok(status) => {
                let status = status.context("waiting for a server process")?;
                anyhow::ensure!(
                    status.success(),
                    "server process {} exited with {status}: {}",
                    self.spec.name,
                    self.log_tail()
                );
                Ok(())
            }
            Err(_) => {
                let _ = self.child.kill().await;
                anyhow::bail!(
                    "server process {} did not stop within {EXIT_TIMEOUT:?} of SIGTERM",
                    self.spec.name
                )
            }
        }
    }

    fn log_tail(&self) -> String {
        let log = std::fs::read(self.spec.log()).unwrap_or_default();
        String::from_utf8_lossy(&log[log.len().saturating_sub(LOG_TAIL_BYTES)..]).into_owned()
    }
}

/// Server processes started together.
struct Fleet {
    program: ServerProgram,
    processes: Vec<ServerProcess>,
}

impl Fleet {
    /// Starts a process per spec and waits for all to be ready.
    async fn start(
        program: &ServerProgram,
        specs: Vec<Spec>,
        client: &reqwest::Client,
    ) -> anyhow::Result<Self> {
        let mut fleet = Self {
            program: program.clone(),
            processes: Vec::with_capacity(specs.len()),
        };
        for spec in specs {
            fleet.processes.push(ServerProcess::start(program, spec)?);
        }
        for p in &mut fleet.processes {
            p.ready(client).await?;
        }
        Ok(fleet)
    }

    fn addrs(&self) -> Vec<SocketAddr> {
        self.processes.iter().map(|p| p.spec.addr).collect()
    }

    /// Stops process `i` with SIGTERM and starts it again on the same port; (time to exit,
    /// time from start to ready).
    async fn restart(
        &mut self,
        i: usize,
        client: &reqwest::Client,
    ) -> anyhow::Result<(Duration, Duration)> {
        let process = &mut self.processes[i];
        let t0 = Instant::now();
        process.terminate().await?;
        let stopped = t0.elapsed();
        let t1 = Instant::now();
        *process = ServerProcess::start(&self.program, process.spec.clone())?;
        process.ready(client).await?;
        Ok((stopped, t1.elapsed()))
    }

    /// Stops every process with SIGTERM; the first failure.
    async fn stop(mut self) -> anyhow::Result<()> {
        let mut result = Ok(());
        for p in &mut self.processes {
            let stopped = p.terminate().await;
            if result.is_ok() {
                result = stopped;
            }
        }
        result
    }
}

pub async fn run(ctx: &Ctx<'_>, report: &mut crate::Report) -> anyhow::Result<()> {
    let opts = ctx.options;
    let program = opts.server_program.clone().context(
        "the replicas scenario starts server processes: Options::server_program must name the server binary",
    )?;
    let n = opts.replica_subscribers.max(PROCESSES);
    // the subscribers' sockets, here and (inherited) in the server processes
    let limit = live::raise_fd_limit(n as u64 + FD_RESERVE);
    anyhow::ensure!(
        limit >= n as u64 + FD_RESERVE,
        "{n} subscribers need {} open files; the limit is {limit}",
        n as u64 + FD_RESERVE
    );
    progress::say(
        opts,
        &format!("scenario replicas: starting {PROCESSES} server processes"),
    );
    let specs = (0..PROCESSES)
        .map(|i| Spec::new(ctx.env, &format!("server-{i}"), Vec::new()))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let started = Instant::now();
    let mut fleet = Fleet::start(&program, specs, &ctx.servers.client).await?;
    let start_seconds = started.elapsed().as_secs_f64();
    let measured = fleet_figures(ctx, &mut fleet, report, n, start_seconds).await;
    let measured = match measured {
        Ok(()) => read_replica(ctx, &program, &fleet, report).await,
        Err(e) => Err(e),
    };
    let stopped = fleet.stop().await;
    measured?;
    stopped
}

/// One process vs three, then the restart.
async fn fleet_figures(
    ctx: &Ctx<'_>,
    fleet: &mut Fleet,
    report: &mut crate::Report,
    n: usize,
    start_seconds: f64,
) -> anyhow::Result<()> {
    let opts = ctx.options;
    let events = opts.live_events;
    let mut sides: [Option<Tally>; 2] = [None, None];
    let mut writers = [Measured::default(), Measured::default()];
    let mut tag = 0;
    for round in 0..ROUNDS {
        for (side, processes) in [1, PROCESSES].into_iter().enumerate() {
            progress::say(
                opts,
                &format!(
                    "scenario replicas: {n} subscribers on {processes} process(es), round {}",
                    round + 1
                ),
            );
            tag += 1;
            let outcome = follow_run(ctx, fleet, processes, None, n, events, tag).await?;
            writers[side].merge(outcome.writer);
            sides[side] = Some(match sides[side].take() {
                None => outcome.tally,
                Some(t) => merged(t, outcome.tally),
            });
        }
    }
    progress::say(
        opts,
        &format!("scenario replicas: {n} subscribers on {PROCESSES} processes, one restarted"),
    );
    let restarted = PROCESSES - 1;
    let outcome = follow_run(ctx, fleet, PROCESSES, Some(restarted), n, events, tag + 1).await?;

    // figures
    let [Some(one), Some(three)] = sides else {
        anyhow::bail!("no round was measured");
    };
    let p = |h: &hdrhistogram::Histogram<u64>, q: f64| h.value_at_quantile(q) as f64 / 1000.0;
    let interval = live::writer_interval(n);
    let mut latency_row = |label: &str, t: &Tally, writer: &Measured| {
        let expected = n as u64 * writer.requests;
        let mut row = Row::value(
            "replicas",
            &format!("{label}, {n} subscribers: commit → client"),
            "deliveries",
            t.delivered as f64,
            "",
        );
        row.p50_ms = Some(p(&t.latency, 0.50));
        row.p95_ms = Some(p(&t.latency, 0.95));
        row.p99_ms = Some(p(&t.latency, 0.99));
        row.requests = t.delivered;
        row.errors = t.errors;
        report.row(row.with_note(&format!(
            "{}/{expected} completions seen; final state right: {}/{}; from the mutation's send: p50 {:.1} ms, p99 {:.1} ms; {events} events every {} ms × {ROUNDS} rounds; writer p50 {:.1} ms; {}/{} messages, {} resync snapshots{}",
            t.delivered,
            t.right,
            n * ROUNDS,
            p(&t.latency_from_send, 0.50),
            p(&t.latency_from_send, 0.99),
            interval.as_millis(),
            writer.ms(0.50),
            t.messages,
            t.expected_messages,
            t.resyncs,
            t.first_error
                .as_ref()
                .map(|e| format!("; {} errors, first: {e}", t.errors))
                .unwrap_or_default(),
        )));
    };
    latency_row("1 process", &one, &writers[0]);
    latency_row(&format!("{PROCESSES} processes"), &three, &writers[1]);
    let (p99_one, p99_three) = (p(&one.latency, 0.99), p(&three.latency, 0.99));
    let (p50_one, p50_three) = (p(&one.latency, 0.50), p(&three.latency, 0.50));
    report.row(Row::against(
        "replicas",
        &format!("{PROCESSES} processes vs 1: commit → client p99"),
        "ms",
        p99_three,
        ("1 process", p99_one),
        &format!(
            "p50 {p50_three:.1} ms vs {p50_one:.1} ms ({:.2}×); ratio = p99 with {PROCESSES} processes / p99 with 1 (below 1: faster)",
            if p50_one > 0.0 { p50_three / p50_one } else { 0.0 }
        ),
    ));
    report.target(
        &format!("{PROCESSES} processes vs 1: commit → client"),
        "reported (no target)",
        format!("p99 {p99_three:.1} ms vs {p99_one:.1} ms; p50 {p50_three:.1} vs {p50_one:.1} ms"),
        None,
        "same subscribers and writer pace, sides interleaved",
    );

    let t = &outcome.tally;
    let restart = outcome
        .restart
        .context("the restart phase restarted nothing")?;
    let wrong = n - t.right;
    report.row(
        Row::value(
            "replicas",
            &format!("{PROCESSES} processes, one restarted: final state right"),
            "subscribers",
            t.right as f64,
            &format!(
                "of {n} ({wrong} wrong); the restarted process's {} reconnected ({} to it, {} to the next); exit {:.2} s after SIGTERM, ready {:.2} s after restart; writer {} completions, {} errors (first: {}); commit → client p50 {:.1} ms, p99 {:.1} ms (snapshots after reconnecting included); {} resync snapshots{}",
                restart.dropped,
                restart.to_itself,
                restart.dropped - restart.to_itself,
                restart.stopped.as_secs_f64(),
                restart.ready.as_secs_f64(),
                outcome.writer.requests,
                outcome.writer.errors,
                outcome.writer.first_error.as_deref().unwrap_or("none"),
                p(&t.latency, 0.50),
                p(&t.latency, 0.99),
                t.resyncs,
                t.first_error
                    .as_ref()
                    .map(|e| format!("; {} errors, first: {e}", t.errors))
                    .unwrap_or_default(),
            ),
        ),
    );
    report.target(
        "final states across a process restart",
        "100% of subscribers",
        format!("{}/{n}", t.right),
        Some(wrong == 0 && outcome.ended),
        "",
    );
    report.note(format!(
        "Replicas: {PROCESSES} server processes started from the server's own command line (`jbtestsuite serve --database-url ... --no-migrate`; the bench binary runs the same code as `bench serve`), on the benchmark's database, each with its own pools and LISTEN connection; started and ready in {start_seconds:.1} s. 1 process vs {PROCESSES}: {n} subscribers on one run (half testRunProgress, half testExecutionUpdates, one WebSocket each), all on one process or round robin over the {PROCESSES}; a writer completes the run's {events} executions one at a time through the processes round robin, at the live scenario's pace; commit → client as in the live scenario; the sides interleaved in {ROUNDS} rounds on fresh runs. The subscribers run in this process, the servers in theirs, all on the same cores. Restart: the same on {PROCESSES} processes, one stopped with SIGTERM after a third of the completions (the writer skips it meanwhile, as a load balancer would) and started again on the same port; the last third is written once it is back. When its server ends their subscriptions, half of its subscribers connect again to it (retrying until it is back), half to the next process; at the end every subscriber's last state is compared with the database, and the scenario fails if one differs."
    ));
    anyhow::ensure!(
        outcome.ended,
        "the run did not end across a process restart: the writer completed {} of {events} executions ({} errors, first: {})",
        outcome.writer.requests,
        outcome.writer.errors,
        outcome.writer.first_error.as_deref().unwrap_or("none")
    );
    anyhow::ensure!(
        wrong == 0,
        "{wrong} of {n} subscribers did not show the run's final state after a process restart ({} errors, first: {})",
        t.errors,
        t.first_error.as_deref().unwrap_or("none")
    );
    Ok(())
}

/// Two tallies of the same side as one.
fn merged(mut a: Tally, b: Tally) -> Tally {
    let _ = a.latency.add(&b.latency);
    let _ = a.latency_from_send.add(&b.latency_from_send);
    a.delivered += b.delivered;
    a.right += b.right;
    a.messages += b.messages;
    a.expected_messages += b.expected_messages;
    a.resyncs += b.resyncs;
    a.reconnects += b.reconnects;
    a.errors += b.errors;
    if a.first_error.is_none() {
        a.first_error = b.first_error;
    }
    a
}

/// What a restart did.
struct Restarted {
    stopped: Duration,
    ready: Duration,
    /// Subscribers of the restarted process whose connection it ended.
    dropped: usize,
    /// Of those, the ones that connected to it again.
    to_itself: usize,
}

/// One followed run.
struct Outcome {
    tally: Tally,
    /// The run ended in the database (the writer completed every execution).
    ended: bool,
    writer: Measured,
    restart: Option<Restarted>,
}

/// `n` subscribers on a new run spread over the first `processes` of the fleet, the writer
/// completing its `events` executions through them; with `restart`, that process is
/// restarted while the writer writes.
async fn follow_run(
    ctx: &Ctx<'_>,
    fleet: &mut Fleet,
    processes: usize,
    restart: Option<usize>,
    n: usize,
    events: usize,
    tag: usize,
) -> anyhow::Result<Outcome> {
    let d = ctx.seeded.dataset;
    let run = pending_runs(
        ctx.env,
        &format!("replicas-{tag}"),
        1,
        events,
        1,
        d.cases,
        CASE_OFFSET,
    )
    .await?
    .into_iter()
    .next()
    .context("no pending run")?;
    let addrs: Vec<SocketAddr> = fleet.addrs().into_iter().take(processes).collect();

    // subscriber i on process i % processes; each process gets both kinds
    let shared = Arc::new(Progress::default());
    let gate = Arc::new(Semaphore::new(CONNECT_CONCURRENCY));
    let (stop_tx, stop_rx) = watch::channel(false);
    let token = Arc::new(ctx.env.token.clone());
    let mut tasks = Vec::with_capacity(n);
    for i in 0..n {
        let home = i % processes;
        let kind = if (i / processes).is_multiple_of(2) {
            Kind::Progress
        } else {
            Kind::Executions
        };
        let fallbacks = match restart {
            None => Vec::new(),
            // half come back to their process (retrying until it is back), half go on to the
            // next one
            Some(_) if sticky(i, processes) => vec![addrs[home]],
            Some(_) => (1..=processes)
                .map(|k| addrs[(home + k) % processes])
                .collect(),
        };
        let plan = ConnectionPlan {
            addr: addrs[home],
            fallbacks,
            token: token.clone(),
            run: run.id,
            kinds: vec![kind],
            executions: events,
        };
        tasks.push((
            home,
            tokio::spawn(live::connection(
                plan,
                gate.clone(),
                shared.clone(),
                stop_rx.clone(),
            )),
        ));
    }
    let all_initial = shared.wait(&shared.initial, n, LIVE_SETTLE_TIMEOUT).await;

    // the writer, and the restart beside it
    let down: Vec<AtomicBool> = addrs.iter().map(|_| AtomicBool::new(false)).collect();
    let (restart_now, restarted) = (Notify::new(), Notify::new());
    let writer = write(
        ctx,
        &addrs,
        &down,
        &run.executions,
        live::writer_interval(n),
        restart.map(|r| (r, &restart_now, &restarted)),
    );
    let restarting = async {
        let Some(r) = restart else {
            return Ok(None);
        };
        // the writer marked it down before saying so
        restart_now.notified().await;
        let result = fleet.restart(r, &ctx.servers.client).await;
        down[r].store(false, Ordering::Release);
        restarted.notify_one();
        result.map(Some)
    };
    let ((writer, stamps), restart_times) = tokio::join!(writer, restarting);
    let restart_times = restart_times?;
    let all_finished = shared.wait(&shared.finished, n, LIVE_SETTLE_TIMEOUT).await;
    let _ = stop_tx.send(true);
    let mut subs = Vec::with_capacity(n);
    let (mut dropped, mut to_itself) = (0, 0);
    for (i, (home, task)) in tasks.into_iter().enumerate() {
        let got = task.await.context("a subscriber task failed")?;
        if Some(home) == restart {
            dropped += 1;
            if sticky(i, processes) && got.iter().all(|s| s.reconnects > 0) {
                to_itself += 1;
            }
        }
        subs.extend(got);
    }
    let truth = Truth::read(&ctx.env.pg, run.id).await?;
    let mut tally = live::tally(&subs, &stamps, &truth, writer.requests as usize);
    if !all_initial || !all_finished {
        let missing = format!(
            "{} of {n} subscribers got a first state, {} a final one within {LIVE_SETTLE_TIMEOUT:?}",
            shared.initial.load(Ordering::Acquire),
            shared.finished.load(Ordering::Acquire)
        );
        tally.first_error = Some(match tally.first_error.take() {
            Some(e) => format!("{missing}; {e}"),
            None => missing,
        });
    }
    Ok(Outcome {
        ended: truth.ended(),
        tally,
        writer,
        restart: restart_times.map(|(stopped, ready)| Restarted {
            stopped,
            ready,
            dropped,
            to_itself,
        }),
    })
}

/// Whether subscriber `i` connects again to its own process when that process goes away
/// (else to the next one): every other pair of a process's subscribers, so both kinds do
/// each.
fn sticky(i: usize, processes: usize) -> bool {
    (i / (2 * processes)).is_multiple_of(2)
}

/// Completes `executions` one at a time through `addrs` round robin (skipping those marked
/// down), one every `interval`; with `restart` (a process, then "restart now" and "restarted"),
/// marks the process down and says "restart now" after a third of them, and waits for
/// "restarted" before the last third. The writer's figures and each completion's (send,
/// answer) instants.
async fn write(
    ctx: &Ctx<'_>,
    addrs: &[SocketAddr],
    down: &[AtomicBool],
    executions: &[PendingExecution],
    interval: Duration,
    restart: Option<(usize, &Notify, &Notify)>,
) -> (Measured, HashMap<Uuid, (Instant, Instant)>) {
    let urls: Vec<String> = addrs
        .iter()
        .map(|a| format!("http://{a}/graphql"))
        .collect();
    let mut stamps = HashMap::with_capacity(executions.len());
    let mut writer = Measured::default();
    // a failed case that may still be retried keeps its run open: only the others fail
    let cases: Vec<Uuid> = executions.iter().map(|e| e.case_id).collect();
    let may_fail = live::final_failure_cases(&ctx.env.pg, &cases)
        .await
        .unwrap_or_default();
    let third = executions.len() / 3;
    let mut next = Instant::now();
    for (i, e) in executions.iter().enumerate() {
        if let Some((r, now, done)) = restart {
            if i == third {
                // no completion goes to it from now on, as a load balancer drains a replica
                // before stopping it
                down[r].store(true, Ordering::Release);
                now.notify_one();
            } else if i == 2 * third {
                done.notified().await;
                next = Instant::now();
            }
        }
        let target = (0..urls.len())
            .map(|k| (i + k) % urls.len())
            .find(|&t| !down[t].load(Ordering::Acquire))
            .unwrap_or(i % urls.len());
        let body: anyhow::Result<Bytes> = load::body(
            live::COMPLETE,
            &json!({ "id": e.id, "status": if i % 5 == 4 && may_fail.contains(&e.case_id) { "FAILED" } else { "PASSED" } }),
        );
        let sent = Instant::now();
        let answer = match body {
            Ok(body) => {
                load::post(
                    &ctx.servers.client,
                    &urls[target],
                    Some(&ctx.env.token),
                    body,
                )
                .await
            }
            Err(e) => Err(format!("{e:#}")),
        };
        match answer {
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
        next += interval;
        tokio::time::sleep_until(next.into()).await;
    }
    (writer, stamps)
}

/// The standby, a process reading on it, and the queries there vs on the primary.
async fn read_replica(
    ctx: &Ctx<'_>,
    program: &ServerProgram,
    fleet: &Fleet,
    report: &mut crate::Report,
) -> anyhow::Result<()> {
    let opts = ctx.options;
    progress::say(
        opts,
        "scenario replicas: a streaming standby and a process reading on it",
    );
    let standby_dir = ctx.env.dir().join("standby");
    let started = Instant::now();
    let standby = tokio::task::block_in_place(|| ctx.env.cluster().start_standby(&standby_dir))
        .context("starting a streaming standby of the benchmark's cluster")?;
    let standby_seconds = started.elapsed().as_secs_f64();
    let standby_url = standby.url(api::db::managed::APP_DATABASE);
    let measured = async {
        let spec = Spec::new(ctx.env, "server-replica", vec![standby_url])?;
        let reader = Fleet::start(program, vec![spec], &ctx.servers.client).await?;
        let result = compare_reads(
            ctx,
            fleet.addrs()[0],
            reader.addrs()[0],
            report,
            standby_seconds,
        )
        .await;
        let stopped = reader.stop().await;
        result?;
        stopped
    }
    .await;
    let stopped = tokio::task::spawn_blocking(move || standby.stop())
        .await
        .context("joining the standby's stop")?;
    measured?;
    stopped.context("stopping the standby")?;
    Ok(())
}

/// The list (a) and dashboard (b) queries through `primary` (reads on the primary) and
/// `replica` (reads on the standby), interleaved.
async fn compare_reads(
    ctx: &Ctx<'_>,
    primary: SocketAddr,
    replica: SocketAddr,
    report: &mut crate::Report,
    standby_seconds: f64,
) -> anyhow::Result<()> {
    let opts = ctx.options;
    let token = &ctx.env.token;
    let primary_url = format!("http://{primary}/graphql");
    let replica_url = format!("http://{replica}/graphql");
    let (runs, executions) = if opts.size == crate::Size::Quick {
        QUICK_DASHBOARD
    } else {
        (queries::DASHBOARD_RUNS, queries::DASHBOARD_EXECUTIONS)
    };
    let cases = [
        (
            "(a) list of 20 cases".to_owned(),
            load::body(queries::LIST_CASES, &queries::list_cases_variables())?,
        ),
        (
            format!("(b) dashboard {runs} runs × {executions}"),
            load::body(
                queries::DASHBOARD,
                &json!({ "runs": runs, "executions": executions }),
            )?,
        ),
    ];

    // reads reach the standby before anything is measured: its monitor must have seen it
    let deadline = Instant::now() + REPLICA_USED_TIMEOUT;
    while reads(ctx, replica).await?.0 == 0.0 {
        anyhow::ensure!(
            Instant::now() < deadline,
            "no read went to the standby within {REPLICA_USED_TIMEOUT:?}"
        );
        load::post(
            &ctx.servers.client,
            &replica_url,
            Some(token),
            cases[0].1.clone(),
        )
        .await
        .map_err(|e| anyhow::anyhow!("a query on the replica reader: {e}"))?;
    }

    let per_side = opts.query_duration / 2;
    for (label, body) in cases {
        let primary_answer =
            load::post(&ctx.servers.client, &primary_url, Some(token), body.clone())
                .await
                .map_err(|e| anyhow::anyhow!("{label} on the primary: {e}"))?;
        let replica_answer =
            load::post(&ctx.servers.client, &replica_url, Some(token), body.clone())
                .await
                .map_err(|e| anyhow::anyhow!("{label} on the replica: {e}"))?;
        let same = serde_json::from_slice::<serde_json::Value>(&primary_answer).ok()
            == serde_json::from_slice::<serde_json::Value>(&replica_answer).ok();
        let before = reads(ctx, replica).await?;
        let mut sides = [Measured::default(), Measured::default()];
        for round in 0..ROUNDS {
            let warmup = if round == 0 {
                opts.warmup
            } else {
                Duration::ZERO
            };
            for (side, url) in [&primary_url, &replica_url].into_iter().enumerate() {
                let m = queries::load_side(
                    ctx,
                    url.clone(),
                    token,
                    vec![body.clone()],
                    per_side / ROUNDS as u32,
                    warmup,
                )
                .await;
                sides[side].merge(m);
            }
        }
        let after = reads(ctx, replica).await?;
        let (on_standby, fell_back) = (after.0 - before.0, after.1 - before.1);
        let [on_primary, replica_side] = sides;
        let ratio_at = |q: f64| {
            let primary = on_primary.ms(q);
            if primary > 0.0 {
                replica_side.ms(q) / primary
            } else {
                0.0
            }
        };
        let row = Row::compared(
            "replicas",
            &format!("{label}: reads on a replica"),
            "req/s",
            &replica_side,
            Some(("reads on the primary", &on_primary)),
        )
        .with_note(&format!(
            "p50 {:.1} vs {:.1} ms, p95 {:.1} vs {:.1} ms on the primary (p95 ratio {:.2}×); its server read {on_standby:.0} times on the standby and {fell_back:.0} on the primary meanwhile (its /metrics, warmup included); {}",
            replica_side.ms(0.50),
            on_primary.ms(0.50),
            replica_side.ms(0.95),
            on_primary.ms(0.95),
            ratio_at(0.95),
            if same { "same answer from both (checked)" } else { "answers differ between replica and primary" },
        ));
        let ratio = row.ratio;
        report.row(row);
        report.target(
            &format!("{label}: replica vs primary"),
            "reported (no target)",
            format!(
                "{:.2}× the primary's throughput; p50 {:.2}×, p95 {:.2}× its latency",
                ratio.unwrap_or(0.0),
                ratio_at(0.50),
                ratio_at(0.95)
            ),
            None,
            "same server command line but --read-database-url; sides interleaved",
        );
    }
    report.note(format!(
        "Read replica: a streaming standby of the benchmark's cluster made with pg_basebackup -R (same binaries, its own socket; {standby_seconds:.1} s to copy and start), a server process reading on it (`--read-database-url`, the default lag bound) vs one of the fleet reading on the primary, same command line otherwise; the queries scenario's (a) and (b) as the admin, {} in flight, the sides interleaved in {ROUNDS} rounds, {:.1} s per side. Both servers, the standby, the primary and the client share the machine's cores, so the figure is the cost of the routing and of the standby serving, not the relief a replica on its own machine brings.",
        crate::options::QUERY_CONCURRENCY,
        (opts.query_duration / 2).as_secs_f64()
    ));
    Ok(())
}

/// Read transactions a process has run so far on a replica and on the primary
/// (`jbts_db_reads_total` by target).
async fn reads(ctx: &Ctx<'_>, addr: SocketAddr) -> anyhow::Result<(f64, f64)> {
    let text = ctx
        .servers
        .client
        .get(format!("http://{addr}/metrics"))
        .send()
        .await
        .and_then(|r| r.error_for_status())
        .context("reading /metrics")?
        .text()
        .await
        .context("reading /metrics")?;
    let count = |target: &str| -> f64 {
        let label = format!("target=\"{target}\"");
        text.lines()
            .filter(|l| l.starts_with(api::telemetry::DB_READS) && l.contains(&label))
            .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
            .sum()
    };
    Ok((count("replica"), count("primary")))
}
