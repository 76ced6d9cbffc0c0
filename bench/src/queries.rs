//! Scenario 1, queries: (a) a filtered, sorted page of 20 cases; (b) a nested dashboard of 10
//! runs × 50 executions with their case, steps and step results; (c) search as you type. Each
//! against the raw endpoint serving the same JSON (checked equal first), the SQL statements
//! of one request, and the cost of the per-request security context (raw with vs without it).

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use bytes::Bytes;
use serde_json::{Value, json};

use crate::load::{self, Measured, Step};
use crate::options::{QUERY_CONCURRENCY, ROUNDS, STATEMENT_SAMPLES};
use crate::report::Row;
use crate::{Ctx, progress};

pub(crate) const LIST_CASES: &str =
    "query A($first: Int!, $filter: TestCaseFilter!, $order: TestCaseOrder!) {
  testCases(first: $first, filter: $filter, orderBy: $order) {
    totalCount pageInfo { hasNextPage }
    edges { node { id name status priority category tags author } } } }";

pub(crate) const DASHBOARD: &str = "query B($runs: Int!, $executions: Int!) {
  testRuns(first: $runs) { edges { node { id name status passedTests failedTests
    executions(first: $executions) { edges { node { id status durationSeconds
      testCase { id name steps { id name orderIndex } }
      stepExecutions { id status durationSeconds testStepId } } } } } } } }";

const SEARCH: &str = "query C($first: Int!, $filter: TestCaseFilter!) {
  testCases(first: $first, filter: $filter) {
    totalCount edges { rank nameSnippet descriptionSnippet node { id name } } } }";

/// Searches of (c), in web-search syntax, taken in turn: words, a phrase, OR, exclusion, a
/// word being typed, a misspelt word.
const SEARCH_TERMS: &[&str] = &[
    "checkout times out",
    "\"fails gracefully\" payment",
    "login OR signup -mobile",
    "password validates input",
    "invoice ret",
    "pasword validates",
];

/// Runs in the dashboard (b) and executions per run: the 10 × 50.
pub(crate) const DASHBOARD_RUNS: i64 = 10;
pub(crate) const DASHBOARD_EXECUTIONS: i64 = 50;

/// Page size of (a) and (c).
const PAGE: i64 = 20;

struct Case {
    key: &'static str,
    label: &'static str,
    query: &'static str,
    raw_path: &'static str,
    variables: Vec<Value>,
    /// Least throughput ratio to the raw endpoint the issue asks for.
    goal: Option<f64>,
    /// Asked by a member instead of the admin.
    member: Option<Member>,
}

/// Which member asks.
#[derive(Clone, Copy, PartialEq)]
enum Member {
    /// [`BENCH_MEMBER`], of no project: the author rule.
    Author,
    /// [`BENCH_PROJECTS_MEMBER`], a member of 3 of the 50 projects, author of nothing.
    Projects,
}

impl Member {
    fn user(self) -> &'static str {
        match self {
            Member::Author => BENCH_MEMBER,
            Member::Projects => crate::seed::BENCH_PROJECTS_MEMBER,
        }
    }
}

/// The member of the seed whose requests the member variant sends: the author of 200 of the
/// 10,000 cases (`user` + i % 50).
pub const BENCH_MEMBER: &str = "user3";

/// Variables of (a): active cases of high or critical priority by name.
pub(crate) fn list_cases_variables() -> Value {
    json!({
        "first": PAGE,
        "filter": { "status": ["ACTIVE"], "priority": ["HIGH", "CRITICAL"] },
        "order": { "field": "NAME", "direction": "ASC" },
    })
}

fn cases() -> Vec<Case> {
    vec![
        Case {
            key: "a",
            label: "(a) 20 cases, filtered and sorted",
            query: LIST_CASES,
            raw_path: "/raw/cases",
            variables: vec![list_cases_variables()],
            goal: Some(0.7),
            member: None,
        },
        Case {
            key: "a-member",
            label: "(a) as a member, 20 of their cases",
            query: LIST_CASES,
            raw_path: "/raw/cases",
            variables: vec![list_cases_variables()],
            goal: Some(0.7),
            member: Some(Member::Author),
        },
        Case {
            key: "a-projects",
            label: "(a) as a member of 3 projects among 50",
            query: LIST_CASES,
            raw_path: "/raw/cases",
            variables: vec![list_cases_variables()],
            goal: Some(0.7),
            member: Some(Member::Projects),
        },
        Case {
            key: "b",
            label: "(b) dashboard 10 runs × 50 executions",
            query: DASHBOARD,
            raw_path: "/raw/dashboard",
            variables: vec![json!({ "runs": DASHBOARD_RUNS, "executions": DASHBOARD_EXECUTIONS })],
            goal: Some(0.5),
            member: None,
        },
        Case {
            key: "c",
            label: "(c) full-text search, 20 hits",
            query: SEARCH,
            raw_path: "/raw/search",
            variables: SEARCH_TERMS
                .iter()
                .map(|q| json!({ "q": q, "first": PAGE, "filter": { "search": q } }))
                .collect(),
            goal: None,
            member: None,
        },
    ]
}

/// Deepest nesting of the query's selection sets (the depth async-graphql limits): the
/// queries here write no object literals inline, so it is the deepest brace.
pub fn selection_depth(query: &str) -> usize {
    let (mut depth, mut max) = (0usize, 0usize);
    for c in query.chars() {
        match c {
            '{' => {
                depth += 1;
                max = max.max(depth);
            }
            '}' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    max
}

/// The first place where two JSON values differ, as a path.
fn first_difference(a: &Value, b: &Value, path: &str) -> Option<String> {
    match (a, b) {
        (Value::Object(x), Value::Object(y)) => {
            for (k, v) in x {
                match y.get(k) {
                    Some(w) => {
                        if let Some(d) = first_difference(v, w, &format!("{path}.{k}")) {
                            return Some(d);
                        }
                    }
                    None => return Some(format!("{path}.{k} missing from raw")),
                }
            }
            y.keys()
                .find(|k| !x.contains_key(*k))
                .map(|k| format!("{path}.{k} missing from API"))
        }
        (Value::Array(x), Value::Array(y)) => {
            if x.len() != y.len() {
                return Some(format!("{path}: {} vs {} items", x.len(), y.len()));
            }
            x.iter()
                .zip(y)
                .enumerate()
                .find_map(|(i, (v, w))| first_difference(v, w, &format!("{path}[{i}]")))
        }
        _ if a == b => None,
        _ => Some(format!("{path}: {a} vs {b}")),
    }
}

pub async fn run(ctx: &Ctx<'_>, report: &mut crate::Report) -> anyhow::Result<()> {
    let opts = ctx.options;
    progress::say(opts, "scenario 1: queries");
    let (_, member_token) = api::auth::service::create(
        &ctx.env.owner,
        &api::auth::service::NewToken {
            user_id: BENCH_MEMBER,
            roles: &[api::auth::Role::Member],
            name: Some("benchmark member"),
            ..Default::default()
        },
    )
    .await
    .map_err(|e| anyhow::anyhow!("creating the member token: {e:?}"))?;
    let (_, projects_token) = api::auth::service::create(
        &ctx.env.owner,
        &api::auth::service::NewToken {
            user_id: crate::seed::BENCH_PROJECTS_MEMBER,
            roles: &[api::auth::Role::Member],
            name: Some("benchmark project member"),
            ..Default::default()
        },
    )
    .await
    .map_err(|e| anyhow::anyhow!("creating the project member's token: {e:?}"))?;
    for case in cases() {
        let token = match case.member {
            Some(Member::Author) => member_token.clone(),
            Some(Member::Projects) => projects_token.clone(),
            None => ctx.env.token.clone(),
        };
        let bodies: Vec<Bytes> = case
            .variables
            .iter()
            .map(|v| load::body(case.query, v))
            .collect::<anyhow::Result<_>>()?;
        let api_url = ctx.servers.api_url("/graphql");
        let (raw_url, rls_url) = if let Some(member) = case.member {
            let raw = ctx.servers.raw_url(case.raw_path);
            let by = match member {
                Member::Author => "",
                Member::Projects => "&by=projects",
            };
            let user = member.user();
            (
                format!("{raw}?member={user}{by}"),
                format!("{raw}?rls=1&member={user}{by}"),
            )
        } else {
            let raw = ctx.servers.raw_url(case.raw_path);
            (raw.clone(), format!("{raw}?rls=1"))
        };

        // the same answer from all three, before any figure is taken
        let mut differences = Vec::new();
        for body in &bodies {
            let api = answer(ctx, &api_url, &token, body)
                .await
                .context(case.label)?;
            for url in [&raw_url, &rls_url] {
                let raw = answer(ctx, url, &token, body).await.context(case.label)?;
                if let Some(d) = first_difference(&api, &raw, "") {
                    differences.push(d);
                }
            }
        }
        let same = match differences.first() {
            None => "same JSON as raw (checked)".to_owned(),
            Some(d) => format!("answers differ from raw: {d}"),
        };

        // statements of one request, alone on the server
        let mut counts = Vec::with_capacity(STATEMENT_SAMPLES);
        for i in 0..STATEMENT_SAMPLES {
            let before = ctx.servers.statements();
            load::post(
                &ctx.servers.client,
                &api_url,
                Some(&token),
                bodies[i % bodies.len()].clone(),
            )
            .await
            .map_err(|e| anyhow::anyhow!("{}: {e}", case.label))?;
            counts.push(ctx.servers.statements() - before);
        }
        counts.sort_unstable();
        let statements = counts[counts.len() / 2];
        let depth = selection_depth(case.query);

        // interleaved load: API, raw, raw with the security context; ROUNDS times
        let per_round = opts.query_duration / ROUNDS as u32;
        let mut measured = [
            Measured::default(),
            Measured::default(),
            Measured::default(),
        ];
        let bar = progress::timed(
            opts,
            opts.query_duration * 3 + opts.warmup * 3,
            &format!("queries ({})", case.key),
        );
        for round in 0..ROUNDS {
            for (i, url) in [&api_url, &raw_url, &rls_url].into_iter().enumerate() {
                let warmup = if round == 0 {
                    opts.warmup
                } else {
                    Duration::ZERO
                };
                let m =
                    load_side(ctx, url.clone(), &token, bodies.clone(), per_round, warmup).await;
                bar.inc(((per_round + warmup).as_millis() / 100) as u64);
                measured[i].merge(m);
            }
        }
        bar.finish_and_clear();
        let [api, raw, rls] = measured;
        let api_row = Row::compared(
            "queries",
            &format!("{}: API", case.label),
            "req/s",
            &api,
            Some(("raw", &raw)),
        )
        .with_note(&format!(
            "{statements} SQL statements/request (selection depth {depth}); {same}"
        ));
        let ratio = api_row.ratio;
        report.row(api_row);
        report.row(
            Row::compared(
                "queries",
                &format!("{}: raw + security context", case.label),
                "req/s",
                &rls,
                Some(("raw, owner", &raw)),
            )
            .with_note("cost of the security context: transaction + set_config + role + policies"),
        );
        if let Some(goal) = case.goal {
            report.target(
                &format!("query {} vs raw", case.key),
                &format!("≥ {goal}× raw"),
                ratio
                    .map(|r| format!("{r:.2}×"))
                    .unwrap_or_else(|| "no figure".to_owned()),
                ratio.map(|r| r >= goal),
                &format!("API {:.0} req/s, raw {:.0} req/s", api.rps(), raw.rps()),
            );
        }
        report.target(
            &format!("query {}: statements", case.key),
            "≤ nesting depth",
            format!("{statements} statements, depth {depth}"),
            Some(statements as usize <= depth),
            "depth = deepest selection set, as async-graphql's depth limit counts it",
        );
        let rls_ratio = if raw.rps() > 0.0 {
            Some(rls.rps() / raw.rps())
        } else {
            None
        };
        report.target(
            &format!("query {}: security context", case.key),
            "reported (no target)",
            rls_ratio
                .map(|r| format!("{r:.2}× the throughput without it"))
                .unwrap_or_default(),
            None,
            "raw endpoint with vs without the API's security context",
        );
    }
    report.note(format!(
        "Queries: {QUERY_CONCURRENCY} client connections in flight per side (the machine has 2 cores shared by client, server and PostgreSQL, so the client load is kept modest); sides interleaved (API, raw, raw + security context) in {ROUNDS} rounds. The raw endpoints (axum + sqlx in this process, the same pool size) serve the same JSON, checked equal to the API's before measuring. (b) raw = 4 statements (runs, executions with case names, steps, step results) assembled in memory; (a) and (c) raw = 1 statement with the total as a scalar subquery."
    ));
    report.note("Security context: the API cannot run a request without its identity (RequestDb refuses), so its cost is measured on the raw endpoints: the same statements as the tables' owner (RLS bypassed, no transaction) vs inside exactly the API's context (a transaction with set_config of app.user_id, app.user_roles and the role: application_admins for the admin, application_users for the member, so the policies apply). The member variant of (a) asks as `user3`, author of 200 of the 10,000 cases: the owner's statement carries `author = 'user3'` (the rows the member's policy leaves), the security context's statement does not (the policy filters).".to_owned());
    report.note(format!("SQL statements per request: the server's pool counts every statement it runs (SeaORM metric callback; BEGIN/COMMIT not included); the median of {STATEMENT_SAMPLES} requests sent one at a time."));
    Ok(())
}

async fn answer(ctx: &Ctx<'_>, url: &str, token: &str, body: &Bytes) -> anyhow::Result<Value> {
    let bytes = load::post(&ctx.servers.client, url, Some(token), body.clone())
        .await
        .map_err(|e| anyhow::anyhow!("{url}: {e}"))?;
    serde_json::from_slice(&bytes).context("response JSON")
}

pub(crate) async fn load_side(
    ctx: &Ctx<'_>,
    url: String,
    token: &str,
    bodies: Vec<Bytes>,
    duration: Duration,
    warmup: Duration,
) -> Measured {
    let client = ctx.servers.client.clone();
    let token = Arc::new(token.to_owned());
    let url = Arc::new(url);
    let bodies = Arc::new(bodies);
    load::closed_loop(QUERY_CONCURRENCY, duration, warmup, move |worker, i| {
        let client = client.clone();
        let token = token.clone();
        let url = url.clone();
        let body = bodies[(worker + i as usize) % bodies.len()].clone();
        async move {
            load::post(&client, &url, Some(&token), body)
                .await
                .map(|_| Step::Done(1))
        }
    })
    .await
}
