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
mod raw;
mod schema;
mod shapes;
mod socket;
mod syntax;
mod wire;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use serde_json::json;

use crate::helpers::app::TestApp;
use crate::helpers::spawn_app;
use crate::helpers::ws::WsClient;
use cases::{Case, Ctx, Frame, KINDS, Kind};
use draw::Gen;
use schema::{Pool, Root, Schema};
use wire::{Finding, Property, short};

/// Time budget of a run when `JBTS_FUZZ_SECONDS` is not set: long enough for a few thousand
/// cases, short enough for the suite.
const DEFAULT_SECONDS: u64 = 40;

/// Most the process's resident memory may grow over a run, peak against the start (the server
/// runs in this process; so do the tests beside this one). A case may hold a 32 MiB body (the
/// server's bound) with a few copies of it in flight, in the client and in the server, and
/// freed memory is not always given back: runs of thousands of cases peak at 100 to 150 MiB.
/// An answer without bound crosses it, and so does a leak of some hundreds of kilobytes per case
/// in a 40 s run, of tens of kilobytes in a run of minutes.
const MAX_RSS_GROWTH_BYTES: u64 = 256 * 1024 * 1024;

/// How often resident memory is sampled for its peak.
const RSS_SAMPLE_INTERVAL: Duration = Duration::from_millis(5);

/// How much of a request a printed finding shows (`JBTS_FUZZ_DUMP` keeps it whole).
const REQUEST_CHARS: usize = 1_500;

/// A server bug this fuzzer has found and that is not fixed yet: a finding it matches is
/// reported at the end of the run without failing the test, so that the suite stays useful for
/// everything else meanwhile. Remove an entry once its fix is merged; `JBTS_FUZZ_STRICT=1`
/// fails on these too.
struct Known {
    property: Property,
    /// Part of the finding's signature.
    signature: &'static str,
    /// Part of the request's text ("" for any request).
    request: &'static str,
}

const KNOWN: &[Known] = &[
    // async-graphql closes with its parse error as the reason (`{"type":"x"}` after
    // connection_init gives "unknown variant `x`, expected one of ..."), longer than the 123
    // bytes a close frame may carry: the client sees an invalid frame instead of a close
    Known {
        property: Property::WsCloseFrame,
        signature: "Control frame too big",
        request: "",
    },
    // codes are added to errors over HTTP only: parse and validation errors in `next`, and the
    // legacy protocol's connection_error, carry none over WebSocket
    Known {
        property: Property::Coded,
        signature: "ws ",
        request: "",
    },
    // an upgrade without a subprotocol the server speaks is refused by async-graphql-axum's
    // extractor with a bare 400
    Known {
        property: Property::Coded,
        signature: "websocket handshake 400 with an empty body",
        request: "",
    },
    // archiveExecutions(olderThanDays: 2147483647) panics subtracting the days from now
    // (api/src/archive/mod.rs: `DateTime - TimeDelta` overflowed): the connection drops
    Known {
        property: Property::Answered,
        signature: "connection dropped",
        request: "archiveExecutions",
    },
    // filter.search of many words (e.g. 10,000 UUIDs, 360 KB) runs for minutes in PostgreSQL,
    // and nothing bounds the text or the statement's time
    Known {
        property: Property::Answered,
        signature: "no response within the timeout",
        request: "search",
    },
];

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
    let ctx = context(&app).await;
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

/// The first case that showed a finding.
struct Example {
    number: u64,
    kind: Kind,
    request: String,
    causes: Vec<String>,
    finding: Finding,
}

impl Example {
    /// Whether it fails the test: a broken property not known to be fixed elsewhere. An
    /// INTERNAL_SERVER_ERROR is the caught path the properties allow, and a reset after a
    /// close frame that arrives when the client waits is not a dropped close frame: both are
    /// reported.
    fn fails(&self) -> bool {
        let strict = std::env::var("JBTS_FUZZ_STRICT").is_ok();
        let f = &self.finding;
        if matches!(f.property, Property::Internal | Property::WsUndrained) {
            return strict;
        }
        strict
            || !KNOWN.iter().any(|k| {
                k.property == f.property
                    && f.signature.contains(k.signature)
                    && self.request.contains(k.request)
            })
    }

    fn report(&self, seed: u64) -> String {
        let causes = if self.causes.is_empty() {
            String::new()
        } else {
            format!("\n  logged: {}", self.causes.join("\n          "))
        };
        format!(
            "- {}: {}\n  case {} ({}), replay: JBTS_FUZZ_SEED={seed} JBTS_FUZZ_CASE={}\n  request: {}\n  response: {}{causes}",
            self.finding.property.name(),
            self.finding.signature,
            self.number,
            self.kind.name(),
            self.number,
            self.request.replace('\n', "\n    "),
            self.finding.response,
        )
    }
}

/// A case as text, tokens named rather than shown, at most `max` characters of each part.
fn describe(case: &Case, ctx: &Ctx, max: usize) -> String {
    let hide = |s: &str| {
        s.replace(&ctx.admin, "<admin token>")
            .replace(&ctx.member, "<member token>")
    };
    match case {
        Case::Http(h) => {
            let auth = match &h.auth {
                cases::Auth::Admin => "Bearer <admin token>".to_owned(),
                cases::Auth::Member => "Bearer <member token>".to_owned(),
                cases::Auth::Anonymous => "(none)".to_owned(),
                cases::Auth::Header(v) => format!("{v:?}"),
            };
            if h.get {
                format!(
                    "GET /graphql?{}\naccept: {:?}, authorization: {auth}",
                    short(&h.query_string, max),
                    h.accept
                )
            } else {
                format!(
                    "POST /graphql\ncontent-type: {:?}, accept: {:?}, authorization: {auth}\nbody: {}",
                    h.content_type,
                    h.accept,
                    short(&format!("{:?}", String::from_utf8_lossy(&h.body)), max)
                )
            }
        }
        Case::Ws(w) => {
            let frames: Vec<String> = w
                .frames
                .iter()
                .map(|f| match f {
                    Frame::Text(t) => format!("text {}", short(&hide(t), max / 2)),
                    Frame::Binary(b) => format!("binary {}", short(&format!("{b:?}"), max / 4)),
                    Frame::Ping(b) => format!("ping {b:?}"),
                    Frame::Pong(b) => format!("pong {b:?}"),
                    Frame::Close(c, r) => format!("close {c} {r:?}"),
                })
                .collect();
            format!(
                "WebSocket /graphql/ws, subprotocol {:?}\n{}",
                w.protocol,
                frames.join("\n")
            )
        }
    }
}

/// What the generators need from the running server: its schema by introspection, rows to
/// point ids at, cursors it issued, a member's token, and whether `subscribe` is bounded.
async fn context(app: &TestApp) -> Ctx {
    let member = app.token("fuzz-member", &[api::auth::Role::Member]).await;
    let run = crate::helpers::runs::run_of(app, 3, 2).await;
    let mut ids: Vec<String> = vec![run.id.to_string(), run.suite.to_string()];
    ids.extend(run.cases.iter().map(|c| c.to_string()));
    ids.extend(run.steps.iter().flatten().map(|s| s.to_string()));
    ids.extend(run.executions.iter().map(|e| e.to_string()));

    let introspection = app.gql(schema::INTROSPECTION, json!({})).await;
    let schema = Schema::from_introspection(&introspection["data"]);
    assert!(
        !schema.root_fields(Root::Query).is_empty(),
        "introspection: {introspection}"
    );

    let mut cursors = Vec::new();
    for field in schema.root_fields(Root::Query) {
        if !field.args.iter().any(|a| a.name == "after") {
            continue;
        }
        let body = app
            .gql(
                &format!("{{ {}(first: 3) {{ edges {{ cursor }} }} }}", field.name),
                json!({}),
            )
            .await;
        for edge in body["data"][&field.name]["edges"]
            .as_array()
            .into_iter()
            .flatten()
        {
            if let Some(c) = edge["cursor"].as_str() {
                cursors.push(c.to_owned());
            }
        }
    }
    let (nesting, document) = subscribe_bounds(app, &schema.query).await;
    eprintln!(
        "fuzz: {} types, {} ids, {} cursors; over WebSocket, the query text's nesting is {}bounded, the document's fragments and fields {}bounded{}",
        schema.types.len(),
        ids.len(),
        cursors.len(),
        if nesting { "" } else { "NOT " },
        if document { "" } else { "NOT " },
        if nesting && document {
            ""
        } else {
            ": pathological documents are not sent over it (they would abort the process or hold its workers)"
        }
    );
    Ctx {
        schema,
        pool: Pool { ids, cursors },
        admin: app.admin_token.clone(),
        member,
        ws_bounded: nesting && document,
    }
}

/// Whether a `subscribe` is bounded as POST and GET are: its text's nesting (65 levels,
/// harmless either way), and its document's fields with fragments expanded (a chain of 13
/// fragments each spreading the next twice: 8,192 fields, which validation walks in
/// milliseconds; 25 levels would hold a worker for minutes).
async fn subscribe_bounds(app: &TestApp, query_type: &str) -> (bool, bool) {
    let mut ws = WsClient::connect(app.addr, &app.admin_token).await;
    let deep = format!("{}{}", "{".repeat(65), "}".repeat(65));
    ws.subscribe("nesting", &deep, json!({})).await;
    let nesting = ws
        .next_message()
        .await
        .is_some_and(|m| m["payload"]["errors"][0]["extensions"]["code"] == "BAD_REQUEST");
    let mut chain = String::from("{ ...F0 }");
    for i in 0..13 {
        chain.push_str(&format!(
            " fragment F{i} on {query_type} {{ ...F{n} ...F{n} }}",
            n = i + 1
        ));
    }
    chain.push_str(&format!(" fragment F13 on {query_type} {{ __typename }}"));
    let mut ws = WsClient::connect(app.addr, &app.admin_token).await;
    ws.subscribe("document", &chain, json!({})).await;
    let document = ws
        .next_message()
        .await
        .is_none_or(|m| m["payload"]["data"].is_null());
    (nesting, document)
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

/// Loads what printing a backtrace needs, when panics print one (`RUST_BACKTRACE`), before
/// memory is measured: the first backtrace reads the binary's debug information (some 200 MiB
/// for this test binary) and keeps it, so a server panic would otherwise count as growth.
fn load_backtrace_symbols() {
    if std::env::var("RUST_BACKTRACE").is_ok_and(|v| v != "0") {
        let _ = std::backtrace::Backtrace::force_capture().to_string();
    }
}

/// Samples the process's resident memory (`VmRSS`) on a thread of its own, for its peak and
/// the case running then.
struct RssSampler {
    baseline: u64,
    peak: Arc<AtomicU64>,
    case: Arc<AtomicU64>,
    peak_case: Arc<AtomicU64>,
    stop: Arc<AtomicBool>,
    thread: std::thread::JoinHandle<()>,
}

fn rss_bytes() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|kb| kb.parse::<u64>().ok())
        })
        .map_or(0, |kb| kb * 1024)
}

impl RssSampler {
    fn start() -> Self {
        let baseline = rss_bytes();
        let peak = Arc::new(AtomicU64::new(baseline));
        let case = Arc::new(AtomicU64::new(0));
        let peak_case = Arc::new(AtomicU64::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let thread = {
            let (peak, case, peak_case, stop) =
                (peak.clone(), case.clone(), peak_case.clone(), stop.clone());
            std::thread::spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    let now = rss_bytes();
                    if peak.fetch_max(now, Ordering::Relaxed) < now {
                        peak_case.store(case.load(Ordering::Relaxed), Ordering::Relaxed);
                    }
                    std::thread::sleep(RSS_SAMPLE_INTERVAL);
                }
            })
        };
        Self {
            baseline,
            peak,
            case,
            peak_case,
            stop,
            thread,
        }
    }

    /// Case `number` runs from now on.
    fn at(&self, number: u64) {
        self.case.store(number, Ordering::Relaxed);
    }

    /// The baseline, the peak, and the case during which it was reached.
    fn stop(self) -> (u64, u64, u64) {
        self.stop.store(true, Ordering::Relaxed);
        let _ = self.thread.join();
        (
            self.baseline,
            self.peak.load(Ordering::Relaxed),
            self.peak_case.load(Ordering::Relaxed),
        )
    }
}
