//! `jbtestsuite demo`: the server as `serve` runs it, with something to look at.
//!
//! - `catalogue`: what is seeded: the "Demo shop" project's configurations, suites and cases,
//!   each case with how it behaves in runs (stable, broken, flaky, skipped).
//! - `seed`: the catalogue and a week of run history, once (whatever exists is kept).
//! - `simulate`: runs played as a CI would report them.
//! - This module: the in-process GraphQL client both write through, the demo's token, and the
//!   task that runs beside the server.
//!
//! Every write goes through the GraphQL schema, executed in-process with an admin identity, as
//! a request over HTTP would be (the resolvers' checks, the services, the transaction, the
//! audit trail and the NOTIFY that feeds live subscriptions), except one: the history's
//! timestamps are moved into the past afterwards (`seed::backdate`), since the API stamps what
//! it writes with the time it is written.
//!
//! Growth: nothing but what the runs write. With the default `--every 20s`, about 180 runs an
//! hour of some 11 executions each: about 2,000 executions, 5,500 step results and 14,000
//! audit entries an hour, some 20 MB (half a gigabyte a day). `jbtestsuite purge --older-than
//! 1d` deletes the older runs with their executions; the audit trail stays (it is history),
//! so a demo left running for days is best given a data directory of its own
//! (`--data-dir .jbtestsuite-demo`), removed afterwards.

pub mod catalogue;
mod seed;
mod simulate;

use std::future::Future;
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use sea_orm::{DatabaseConnection, TransactionTrait};
use serde_json::Value;

use crate::auth::extension::Authenticated;
use crate::auth::{Identity, Role};
use crate::config::ServerOptions;
use crate::error::AppError;
use crate::schema::AppSchema;

pub use seed::{Catalogue, FIRST_BUILD, HISTORY_RUNS};
pub use simulate::{DemoRun, Mode};

/// Key of the demo's project: its catalogue is seeded once, found by this key.
pub const PROJECT_KEY: &str = "demo-shop";

/// Display name of the demo's project.
pub const PROJECT_NAME: &str = "Demo shop";

/// The user the demo writes as, and whose admin token it prints.
pub const DEMO_USER: &str = "demo";

/// Name of the demo's token: the previous one of this name is revoked at each start.
pub const TOKEN_NAME: &str = "demo";

/// Who the simulated runs say started them.
pub const CI_USER: &str = "ci-bot";

/// Shortest `--every`: a run reports over 15 to 30 s, and at most [`RUNS_AT_ONCE`] are open.
pub const MIN_EVERY: Duration = Duration::from_secs(1);

/// Simulated runs open at once: with the default interval and run lengths, two overlap at
/// most; a short `--every` skips its turns rather than piling runs up.
pub const RUNS_AT_ONCE: usize = 2;

/// How long the demo waits before trying again what failed (the database restarting, say);
/// the wait doubles with each failure in a row, up to [`RETRY_AFTER_MAX`].
const RETRY_AFTER: Duration = Duration::from_secs(5);

/// Longest wait between two tries: a failure that lasts costs a log line a minute.
const RETRY_AFTER_MAX: Duration = Duration::from_secs(60);

/// Shortest and longest time a simulated run takes to report its results, in milliseconds.
const RUN_LENGTH_MS: std::ops::RangeInclusive<u64> = 15_000..=30_000;

/// `--every`: a duration of at least [`MIN_EVERY`].
pub fn parse_every(s: &str) -> Result<Duration, String> {
    let every = humantime::parse_duration(s).map_err(|e| format!("'{s}': {e}"))?;
    if every < MIN_EVERY {
        return Err(format!(
            "'{s}' is shorter than {}",
            humantime::format_duration(MIN_EVERY)
        ));
    }
    Ok(every)
}

/// The demo's writer: the GraphQL schema executed in-process as [`DEMO_USER`], an admin, and
/// the pool (as the tables' owner) for the history's timestamps.
#[derive(Clone)]
pub struct Demo {
    schema: AppSchema,
    identity: Identity,
    db: DatabaseConnection,
}

impl Demo {
    /// A writer over `db`, with the server's `options` (statement limits, artifact store).
    pub async fn new(db: DatabaseConnection, options: ServerOptions) -> anyhow::Result<Self> {
        let artifacts = crate::artifacts::Artifacts::open(&db, &options.artifacts).await?;
        let state = crate::state::AppState::new(db.clone(), options.clone(), artifacts);
        let tokens = Arc::new(crate::auth::tokens::TokenCache::default());
        // the demo runs no subscriptions: its hub is stopped before it starts, so it opens no
        // listener connection (the server's own hub announces the demo's writes)
        let (_, stopped) = tokio::sync::watch::channel(true);
        let hub = crate::live::hub::Hub::start(
            String::new(),
            db.clone(),
            tokens.clone(),
            stopped,
            options.statements,
            crate::db::replicas::ReadReplicas::none(),
        );
        Ok(Self {
            schema: crate::schema::build(state, tokens, hub),
            identity: Identity::unscoped(DEMO_USER, vec![Role::Admin]),
            db,
        })
    }

    /// Executes a GraphQL operation as the demo's admin; the first error, with its code, is
    /// the error.
    async fn gql(&self, query: &str, variables: Value) -> anyhow::Result<Value> {
        let request = async_graphql::Request::new(query)
            .variables(async_graphql::Variables::from_json(variables))
            .data(Authenticated(self.identity.clone()));
        let response = self.schema.execute(request).await;
        if let Some(e) = response.errors.first() {
            let code = e
                .extensions
                .as_ref()
                .and_then(|x| x.get("code"))
                .map(|c| match c {
                    async_graphql::Value::String(code) => code.clone(),
                    other => other.to_string(),
                })
                .unwrap_or_default();
            anyhow::bail!("{} {code}: {}", first_field(query), e.message);
        }
        Ok(response.data.into_json()?)
    }
}

/// The operation's first field, to say which request failed.
fn first_field(query: &str) -> &str {
    query
        .split_once('{')
        .and_then(|(_, rest)| {
            rest.trim_start()
                .split(|c: char| !(c.is_alphanumeric() || c == '_'))
                .next()
        })
        .filter(|field| !field.is_empty())
        .unwrap_or("request")
}

/// A service error as an error of the command (an operator sees the internal cause).
fn app_error(e: AppError) -> anyhow::Error {
    match e {
        AppError::Internal { cause } => anyhow::anyhow!(cause),
        other => anyhow::anyhow!("{} ({})", other.message(), other.code()),
    }
}

/// A new admin token of [`DEMO_USER`] named [`TOKEN_NAME`], the earlier ones of that name
/// revoked in the same transaction (tokens are kept hashed: one cannot be shown again).
#[tracing::instrument(skip_all)]
pub async fn issue_token(db: &DatabaseConnection) -> anyhow::Result<String> {
    use crate::auth::service;
    let tx = db.begin().await?;
    for old in service::list(&tx, Some(DEMO_USER))
        .await
        .map_err(app_error)?
    {
        if old.name.as_deref() == Some(TOKEN_NAME) && old.revoked_at.is_none() {
            service::revoke(&tx, old.id).await.map_err(app_error)?;
        }
    }
    let (_, token) = service::create(
        &tx,
        &service::NewToken {
            user_id: DEMO_USER,
            roles: &[Role::Admin],
            name: Some(TOKEN_NAME),
            ..Default::default()
        },
    )
    .await
    .map_err(app_error)?;
    tx.commit().await?;
    Ok(token)
}

/// Tries `attempt` until it succeeds, logging each failure: the demo never stops the server.
async fn persist<T, F, Fut>(what: &str, mut attempt: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = anyhow::Result<T>>,
{
    let mut wait = RETRY_AFTER;
    loop {
        match attempt().await {
            Ok(done) => return done,
            Err(e) => {
                tracing::warn!(
                    error = %format!("{e:#}"),
                    "demo: {what} failed; trying again in {}s",
                    wait.as_secs()
                );
                tokio::time::sleep(wait).await;
                wait = (wait * 2).min(RETRY_AFTER_MAX);
            }
        }
    }
}

/// The demo beside a server serving on `addr` over `db`: seeds (once), issues the token,
/// prints where to look, then simulates CI runs every `every` until the server drops it.
pub async fn run(
    db: DatabaseConnection,
    addr: SocketAddr,
    options: ServerOptions,
    every: Duration,
) {
    let demo = persist("starting", || Demo::new(db.clone(), options.clone())).await;
    tracing::info!("demo: seeding the {PROJECT_NAME} project (only what is missing)");
    let catalogue = persist("seeding", || demo.seed()).await;
    persist("closing the runs an earlier demo left open", || {
        demo.cancel_open_runs()
    })
    .await;
    let token = persist("issuing its token", || issue_token(&db)).await;
    eprintln!("{}", banner(addr, &token, &catalogue, every));
    demo.simulate_forever(&catalogue, every).await;
}

/// Executions a simulated run writes on average: a suite's 10 cases, and the retries of its
/// broken and flaky ones.
const EXECUTIONS_PER_RUN: f64 = 11.0;

/// Bytes an execution takes in the database with its step results and audit entries (as
/// measured on a demo database, indexes included).
const EXECUTION_BYTES: u64 = 10_000;

/// Executions the simulated CI writes an hour with `--every every`, to two significant
/// digits: a run per turn, but at most [`RUNS_AT_ONCE`] open at once.
pub fn executions_per_hour(every: Duration) -> u64 {
    let mean_run = (RUN_LENGTH_MS.start() + RUN_LENGTH_MS.end()) as f64 / 2_000.0;
    let runs = (3_600.0 / every.as_secs_f64()).min(RUNS_AT_ONCE as f64 * 3_600.0 / mean_run);
    let executions = runs * EXECUTIONS_PER_RUN;
    let unit = 10f64.powi((executions.log10().floor() as i32 - 1).max(0));
    ((executions / unit).round() * unit) as u64
}

/// What the demo prints once it is ready: where to look, with which token.
pub fn banner(addr: SocketAddr, token: &str, catalogue: &Catalogue, every: Duration) -> String {
    let addr = match addr.ip() {
        ip if ip.is_unspecified() && ip.is_ipv4() => {
            SocketAddr::from((Ipv4Addr::LOCALHOST, addr.port()))
        }
        ip if ip.is_unspecified() => SocketAddr::from((Ipv6Addr::LOCALHOST, addr.port())),
        _ => addr,
    };
    let rule = "-".repeat(78);
    format!(
        "\n{rule}\n\
         JBTestSuite demo: project \"{PROJECT_NAME}\" ({suites} suites, {cases} test cases, \
         {HISTORY_RUNS} past runs);\n\
         a simulated CI starts a run every {every}. Ctrl-C stops it and the server.\n\
         \n  Dashboard  http://{addr}/#token={token}\n\
         \x20 GraphiQL   http://{addr}/graphql  (paste the token into its \"API token\" field)\n\
         \x20 API token  {token}\n\
         \x20            (admin, named \"{TOKEN_NAME}\"; the next `jbtestsuite demo` revokes it)\n\
         \nThe database grows by about {executions} executions an hour (some {megabytes} MB with\n\
         their step results and audit entries); `jbtestsuite purge --older-than 1d` deletes\n\
         the older runs.\n{rule}\n",
        executions = executions_per_hour(every),
        megabytes = format!(
            "{:.1}",
            (executions_per_hour(every) * EXECUTION_BYTES) as f64 / 1e6
        )
        .trim_end_matches(".0"),
        suites = catalogue.suites.len(),
        cases = catalogue.case_count(),
        every = humantime::format_duration(every),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_shorter_than_a_second_is_refused() {
        assert_eq!(parse_every("20s"), Ok(Duration::from_secs(20)));
        assert!(parse_every("500ms").is_err());
        assert!(parse_every("0s").is_err());
        assert!(parse_every("soon").is_err());
    }

    #[test]
    fn error_names_the_operation_first_field() {
        assert_eq!(
            first_field("mutation($id: UUID!) { finishTestRun(id: $id) { id } }"),
            "finishTestRun"
        );
        assert_eq!(first_field("{ viewer { userId } }"), "viewer");
        assert_eq!(first_field("nothing"), "request");
    }

    #[test]
    fn growth_is_a_run_per_turn_bounded_by_the_runs_open_at_once() {
        assert_eq!(executions_per_hour(Duration::from_secs(20)), 2_000);
        assert_eq!(executions_per_hour(Duration::from_secs(3_600)), 11);
        // a run lasts 22.5 s on average: two at once allow 320 runs an hour
        assert_eq!(executions_per_hour(Duration::from_secs(1)), 3_500);
    }
}
