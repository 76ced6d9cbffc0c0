//! Closed-loop load: a fixed number of workers, each sending its next request as soon as the
//! previous one answered, for a fixed duration (or until the work runs out), latencies into an
//! HDR histogram.

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use anyhow::Context as _;
use bytes::Bytes;
use hdrhistogram::Histogram;

/// Highest latency the histograms hold (longer ones are clamped to it): a minute.
const MAX_LATENCY_MICROS: u64 = 60_000_000;

/// Significant digits of the histograms: 3 gives 0.1% resolution.
const HISTOGRAM_DIGITS: u8 = 3;

/// Bytes at each end of a response searched for a GraphQL `"errors"` member: async-graphql
/// writes it after `data`, so a partial error sits at the end and a whole failure at the start.
const ERROR_SCAN_BYTES: usize = 512;

// `Histogram::new_with_bounds` fails only for bounds or digits out of range: these are not.
const _: () = assert!(HISTOGRAM_DIGITS <= 5 && MAX_LATENCY_MICROS >= 2);

/// A new latency histogram, in microseconds.
pub fn histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, MAX_LATENCY_MICROS, HISTOGRAM_DIGITS)
        .expect("histogram bounds are valid constants")
}

/// Records `d` into `h`, clamped to its range.
pub fn record(h: &mut Histogram<u64>, d: Duration) {
    h.saturating_record((d.as_micros() as u64).clamp(1, MAX_LATENCY_MICROS));
}

/// What one side of a comparison did.
#[derive(Clone)]
pub struct Measured {
    /// Requests answered successfully.
    pub requests: u64,
    /// Requests that failed (transport error, HTTP error, GraphQL errors).
    pub errors: u64,
    /// Units of work done (requests, or rows for a bulk write).
    pub units: u64,
    pub elapsed: Duration,
    pub latency: Histogram<u64>,
    /// The first failure, to show what went wrong.
    pub first_error: Option<String>,
}

impl Default for Measured {
    fn default() -> Self {
        Self {
            requests: 0,
            errors: 0,
            units: 0,
            elapsed: Duration::ZERO,
            latency: histogram(),
            first_error: None,
        }
    }
}

impl Measured {
    /// Successful requests per second.
    pub fn rps(&self) -> f64 {
        per_second(self.requests, self.elapsed)
    }

    /// Units per second.
    pub fn units_per_second(&self) -> f64 {
        per_second(self.units, self.elapsed)
    }

    /// Latency at quantile `q` in milliseconds.
    pub fn ms(&self, q: f64) -> f64 {
        self.latency.value_at_quantile(q) as f64 / 1000.0
    }

    /// Folds another measurement of the same side in (interleaved rounds).
    pub fn merge(&mut self, other: Measured) {
        self.requests += other.requests;
        self.errors += other.errors;
        self.units += other.units;
        self.elapsed += other.elapsed;
        let _ = self.latency.add(&other.latency);
        if self.first_error.is_none() {
            self.first_error = other.first_error;
        }
    }
}

fn per_second(n: u64, elapsed: Duration) -> f64 {
    if elapsed.is_zero() {
        0.0
    } else {
        n as f64 / elapsed.as_secs_f64()
    }
}

/// The outcome of one request: the units it did, or no more work to do.
pub enum Step {
    Done(u64),
    Exhausted,
}

/// Runs `concurrency` workers for `duration` (or until one reports [`Step::Exhausted`]);
/// `request(worker, iteration)` does one request. Nothing is recorded while `warmup` runs.
pub async fn closed_loop<F, Fut>(
    concurrency: usize,
    duration: Duration,
    warmup: Duration,
    request: F,
) -> Measured
where
    F: Fn(usize, u64) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<Step, String>> + Send + 'static,
{
    let request = Arc::new(request);
    if !warmup.is_zero() {
        let _ = run_workers(concurrency, warmup, request.clone(), 1 << 40).await;
    }
    run_workers(concurrency, duration, request, 0).await
}

async fn run_workers<F, Fut>(
    concurrency: usize,
    duration: Duration,
    request: Arc<F>,
    first_iteration: u64,
) -> Measured
where
    F: Fn(usize, u64) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<Step, String>> + Send + 'static,
{
    let start = Instant::now();
    let deadline = start + duration;
    let exhausted = Arc::new(AtomicBool::new(false));
    let mut tasks = Vec::with_capacity(concurrency);
    for worker in 0..concurrency {
        let request = request.clone();
        let exhausted = exhausted.clone();
        tasks.push(tokio::spawn(async move {
            let mut m = Measured::default();
            let mut i = first_iteration;
            while Instant::now() < deadline && !exhausted.load(Ordering::Relaxed) {
                let t0 = Instant::now();
                let outcome = request(worker, i).await;
                let took = t0.elapsed();
                i += 1;
                match outcome {
                    Ok(Step::Done(units)) => {
                        m.requests += 1;
                        m.units += units;
                        record(&mut m.latency, took);
                    }
                    Ok(Step::Exhausted) => exhausted.store(true, Ordering::Relaxed),
                    Err(e) => {
                        m.errors += 1;
                        if m.first_error.is_none() {
                            m.first_error = Some(e);
                        }
                    }
                }
            }
            m
        }));
    }
    let mut total = Measured::default();
    for task in tasks {
        if let Ok(m) = task.await {
            total.merge(m);
        }
    }
    total.elapsed = start.elapsed();
    total
}

/// POSTs `body` to `url` (with `token` as bearer when given) and checks the answer: HTTP
/// success and no GraphQL `errors`. Returns the body.
pub async fn post(
    client: &reqwest::Client,
    url: &str,
    token: Option<&str>,
    body: Bytes,
) -> Result<Bytes, String> {
    let mut req = client
        .post(url)
        .header("content-type", "application/json")
        .body(body);
    if let Some(token) = token {
        req = req.bearer_auth(token);
    }
    let res = req.send().await.map_err(|e| e.to_string())?;
    let status = res.status();
    let bytes = res.bytes().await.map_err(|e| e.to_string())?;
    if !status.is_success() {
        return Err(format!(
            "HTTP {status}: {}",
            String::from_utf8_lossy(&bytes[..bytes.len().min(300)])
        ));
    }
    let head = &bytes[..bytes.len().min(ERROR_SCAN_BYTES)];
    let tail = &bytes[bytes.len().saturating_sub(ERROR_SCAN_BYTES)..];
    if contains(head, b"\"errors\"") || contains(tail, b"\"errors\"") {
        return Err(String::from_utf8_lossy(&bytes[..bytes.len().min(500)]).into_owned());
    }
    Ok(bytes)
}

/// Whether `needle` occurs in `haystack`.
pub fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

/// A JSON request body: `{"query": ..., "variables": ...}`.
pub fn body(query: &str, variables: &serde_json::Value) -> anyhow::Result<Bytes> {
    Ok(Bytes::from(
        serde_json::to_vec(&serde_json::json!({ "query": query, "variables": variables }))
            .context("serialising a request body")?,
    ))
}
