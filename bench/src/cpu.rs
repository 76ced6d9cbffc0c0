//! CPU time of this process, and of the benchmark's own client apart. Client and server run in
//! this one process, so the process's CPU time (`getrusage`) counts both; the time the client's
//! futures spend being polled is counted apart by wrapping them in [`client`], which reads the
//! thread's CPU clock before and after each poll. PostgreSQL runs in processes of its own and
//! is in neither.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use nix::sys::resource::{UsageWho, getrusage};
use nix::sys::time::TimeValLike as _;
use nix::time::{ClockId, clock_gettime};

/// Nanoseconds of thread CPU time spent polling client futures, all threads together.
static CLIENT_NANOS: AtomicU64 = AtomicU64::new(0);

/// CPU time this thread has used; zero if the clock cannot be read (then nothing is counted).
fn thread_cpu() -> Duration {
    clock_gettime(ClockId::CLOCK_THREAD_CPUTIME_ID)
        .map(Duration::from)
        .unwrap_or_default()
}

/// User + system CPU time of the whole process (every thread, server and client).
pub fn process() -> Duration {
    getrusage(UsageWho::RUSAGE_SELF)
        .map(|u| {
            let micros = u.user_time().num_microseconds() + u.system_time().num_microseconds();
            Duration::from_micros(micros.max(0) as u64)
        })
        .unwrap_or_default()
}

/// CPU time the client's futures have used so far.
pub fn client_time() -> Duration {
    Duration::from_nanos(CLIENT_NANOS.load(Ordering::Relaxed))
}

/// Runs `future` with its CPU time counted as the client's. Time a poll spends in code the
/// client calls into (tungstenite, serde, sqlx's encoding, reqwest) counts; the server's tasks
/// run in polls of their own and do not.
pub fn client<F: Future>(future: F) -> Client<F> {
    Client(Box::pin(future))
}

pub struct Client<F>(Pin<Box<F>>);

impl<F: Future> Future for Client<F> {
    type Output = F::Output;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        let before = thread_cpu();
        let out = self.0.as_mut().poll(cx);
        let spent = thread_cpu().saturating_sub(before);
        CLIENT_NANOS.fetch_add(spent.as_nanos() as u64, Ordering::Relaxed);
        out
    }
}

/// A point to measure CPU time from.
#[derive(Clone, Copy)]
pub struct Mark {
    at: Instant,
    process: Duration,
    client: Duration,
}

/// CPU time used between a [`Mark`] and now.
#[derive(Clone, Copy, Debug, Default)]
pub struct Spent {
    pub wall: Duration,
    /// The whole process: server and client.
    pub process: Duration,
    /// The client's futures (subscribers, writers).
    pub client: Duration,
}

impl Mark {
    pub fn now() -> Self {
        Self {
            at: Instant::now(),
            process: process(),
            client: client_time(),
        }
    }

    pub fn spent(&self) -> Spent {
        Spent {
            wall: self.at.elapsed(),
            process: process().saturating_sub(self.process),
            client: client_time().saturating_sub(self.client),
        }
    }
}

impl Spent {
    /// The process's CPU time less the client's: the server's (and the runtime's idle work).
    pub fn server(&self) -> Duration {
        self.process.saturating_sub(self.client)
    }

    /// Cores kept busy on average: CPU time over wall time.
    pub fn cores(&self) -> f64 {
        if self.wall.is_zero() {
            0.0
        } else {
            self.process.as_secs_f64() / self.wall.as_secs_f64()
        }
    }
}

/// Milliseconds of `d` per one of `n` (events, commits), 0 for none.
pub fn ms_per(d: Duration, n: u64) -> f64 {
    if n == 0 {
        0.0
    } else {
        d.as_secs_f64() * 1000.0 / n as f64
    }
}

/// CPU time per event of a phase of live events, told apart: the server's (the process's
/// less the client's, less what the process burns with nothing happening) and the client's.
#[derive(Clone, Copy, Debug, Default)]
pub struct PerEvent {
    /// Server CPU milliseconds per event, idle work excluded.
    pub server_ms: f64,
    /// Client CPU milliseconds per event (subscribers parsing, the writer).
    pub client_ms: f64,
    /// Process CPU milliseconds per event, all included.
    pub process_ms: f64,
    /// Server CPU milliseconds per second with subscribers connected and nothing written.
    pub idle_ms_per_second: f64,
    /// Cores the process kept busy during the phase.
    pub cores: f64,
}

impl PerEvent {
    /// `phase` spent over `events` events, less the server's idle rate measured in `idle`.
    pub fn new(phase: Spent, idle: Spent, events: u64) -> Self {
        let idle_rate = if idle.wall.is_zero() {
            0.0
        } else {
            idle.server().as_secs_f64() / idle.wall.as_secs_f64()
        };
        let idle_in_phase = Duration::from_secs_f64(idle_rate * phase.wall.as_secs_f64());
        Self {
            server_ms: ms_per(phase.server().saturating_sub(idle_in_phase), events),
            client_ms: ms_per(phase.client, events),
            process_ms: ms_per(phase.process, events),
            idle_ms_per_second: idle_rate * 1000.0,
            cores: phase.cores(),
        }
    }

    /// How it was told apart, for a report's note.
    pub fn describe(&self) -> String {
        format!(
            "process {:.2} ms/event ({:.2} cores busy): client {:.2} ms, server {:.2} ms net of its idle {:.1} ms/s",
            self.process_ms, self.cores, self.client_ms, self.server_ms, self.idle_ms_per_second
        )
    }
}
