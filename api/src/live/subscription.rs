//! GraphQL subscriptions over the live hub. Each first sends the current state, then one
//! message per coalesced change; after a listener reconnect or when it fell behind, a fresh
//! state. What a message holds is read once per change and identity, under that identity's
//! row-level security, and shared by every subscriber with the same identity.

use std::sync::Arc;

use async_graphql::{Context, InputObject, SimpleObject, Subscription};
use futures::Stream;
use sea_orm::{ConnectionTrait, DbBackend, Statement, Value};
use serde::Deserialize;
use serde::de::DeserializeOwned;
use uuid::Uuid;

use super::audience::{Audience, Tag};
use super::event::RunChange;
use super::hub::{Follower, Hub, Topic, Woken};
use crate::auth::{Identity, RequestDb};
use crate::error::{AppError, AppResult};
use crate::runs::enums::{ExecutionStatus, RunStatus, StepExecutionStatus};
use crate::scalars::Timestamp;

/// Most changed executions listed in one progress message.
pub const MAX_CHANGED_EXECUTIONS: usize = 50;

/// A run's progress.
#[derive(SimpleObject, Deserialize, Clone, Debug)]
#[serde(rename_all = "camelCase")]
pub struct RunProgress {
    /// The run.
    pub run_id: Uuid,
    /// Its name.
    pub name: String,
    /// Its status.
    pub status: RunStatus,
    /// Cases in the run.
    pub total_tests: i32,
    /// Cases whose latest attempt passed.
    pub passed_tests: i32,
    /// Cases whose latest attempt failed.
    pub failed_tests: i32,
    /// Cases whose latest attempt was skipped.
    pub skipped_tests: i32,
    /// Cases waiting to start.
    pub pending_tests: i32,
    /// Cases running.
    pub running_tests: i32,
    /// Share of cases finished, 0 to 100.
    pub percent_complete: f64,
    /// When the run started.
    pub started_at: Option<Timestamp>,
    /// When it finished.
    pub completed_at: Option<Timestamp>,
    /// Sequence number of the last change included (0 for a first or resynchronised state).
    #[serde(default)]
    pub seq: i64,
    /// Whether this is a full state rather than a change (first message, or after a gap).
    #[serde(default)]
    pub snapshot: bool,
    /// Executions changed since the previous message (at most 50).
    #[serde(default)]
    pub changed_executions: Vec<ExecutionUpdate>,
}

/// An execution as it now is.
#[derive(SimpleObject, Deserialize, Clone, Debug)]
#[serde(rename_all = "camelCase")]
pub struct ExecutionUpdate {
    /// The execution.
    pub id: Uuid,
    /// Its run.
    pub run_id: Uuid,
    /// Its case.
    pub test_case_id: Uuid,
    /// The case's name.
    pub test_case_name: String,
    /// Status.
    pub status: ExecutionStatus,
    /// Attempt number.
    pub retry_attempt: i32,
    /// When it started.
    pub started_at: Option<Timestamp>,
    /// When it finished.
    pub completed_at: Option<Timestamp>,
    /// Duration in whole seconds.
    pub duration_seconds: Option<i32>,
    /// Duration in milliseconds.
    #[serde(default)]
    pub duration_ms: Option<i32>,
    /// Why it failed.
    pub error_message: Option<String>,
}

/// A step result as it now is.
#[derive(SimpleObject, Deserialize, Clone, Debug)]
#[serde(rename_all = "camelCase")]
pub struct StepExecutionUpdate {
    /// The step result.
    pub id: Uuid,
    /// Its execution.
    pub execution_id: Uuid,
    /// The step.
    pub step_id: Uuid,
    /// The step's name.
    pub step_name: String,
    /// The step's position.
    pub order_index: i32,
    /// Status.
    pub status: StepExecutionStatus,
    /// Duration in whole seconds.
    pub duration_seconds: Option<i32>,
    /// Duration in milliseconds.
    #[serde(default)]
    pub duration_ms: Option<i32>,
    /// Why it failed.
    pub error_message: Option<String>,
    /// What actually happened.
    pub actual_result: Option<String>,
}

/// A run as it now is, for dashboards of runs.
#[derive(SimpleObject, Deserialize, Clone, Debug)]
#[serde(rename_all = "camelCase")]
pub struct RunUpdate {
    /// The run.
    pub run_id: Uuid,
    /// Its project.
    pub project_id: Uuid,
    /// Its suite.
    pub test_suite_id: Option<Uuid>,
    /// Its name.
    pub name: String,
    /// Its status.
    pub status: RunStatus,
    /// Cases in the run.
    pub total_tests: i32,
    /// Passed.
    pub passed_tests: i32,
    /// Failed.
    pub failed_tests: i32,
    /// Skipped.
    pub skipped_tests: i32,
    /// Who started it.
    pub triggered_by: Option<String>,
    /// When it started.
    pub started_at: Option<Timestamp>,
    /// When it finished.
    pub completed_at: Option<Timestamp>,
}

/// Which runs a runs dashboard follows.
#[derive(InputObject, Clone, Default)]
pub struct RunsUpdatesFilter {
    /// Runs of this suite.
    pub suite_id: Option<Uuid>,
    /// Runs in any of these statuses (after the change).
    pub status: Option<Vec<RunStatus>>,
}

const EXECUTION_JSON: &str = "json_build_object('id', e.id, 'runId', e.test_run_id, 'testCaseId', e.test_case_id,
    'testCaseName', tc.name, 'status', e.status, 'retryAttempt', e.retry_attempt, 'startedAt', e.started_at,
    'completedAt', e.completed_at, 'durationSeconds', e.duration_seconds, 'durationMs', e.duration_ms,
    'errorMessage', e.error_message)";

const RUN_JSON: &str = "json_build_object('runId', r.id, 'projectId', r.project_id, 'testSuiteId', r.test_suite_id, 'name', r.name,
    'status', r.status, 'totalTests', r.total_tests, 'passedTests', r.passed_tests, 'failedTests', r.failed_tests,
    'skippedTests', r.skipped_tests, 'triggeredBy', r.triggered_by, 'startedAt', r.started_at,
    'completedAt', r.completed_at)";

/// Where a read runs.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Source {
    /// The primary: a change is read where it was announced from.
    Primary,
    /// A read replica that has replayed everything announced so far, when there is one: a
    /// whole state (a first message, a resynchronisation) is then never older than a change
    /// already sent.
    CaughtUpReplica,
}

/// A failed read, and whether the replica it ran on is to blame.
struct ReadFailure {
    message: String,
    replica_fault: bool,
}

impl ReadFailure {
    fn app(e: AppError) -> Self {
        Self {
            message: format!("{e:?}"),
            replica_fault: false,
        }
    }

    fn db(e: sea_orm::DbErr) -> Self {
        Self {
            replica_fault: crate::db::replicas::is_replica_failure(&e),
            message: e.to_string(),
        }
    }
}

/// Runs `sql` (returning one JSON value `v`) on `pool` as `identity`.
async fn read_value(
    pool: sea_orm::DatabaseConnection,
    identity: Identity,
    limits: crate::config::StatementLimits,
    sql: &str,
    values: Vec<Value>,
) -> Result<Option<serde_json::Value>, ReadFailure> {
    let db = RequestDb::new(pool, Some(identity), limits);
    let value = {
        // the transaction could not begin: on a replica, the replica's fault
        let conn = db.conn().await.map_err(|e| ReadFailure {
            replica_fault: true,
            ..ReadFailure::app(e)
        })?;
        let row = conn
            .query_one_raw(Statement::from_sql_and_values(
                DbBackend::Postgres,
                sql,
                values,
            ))
            .await
            .map_err(ReadFailure::db)?;
        match row {
            Some(row) => row
                .try_get::<Option<serde_json::Value>>("", "v")
                .map_err(ReadFailure::db)?,
            None => None,
        }
    };
    db.finish().await.map_err(ReadFailure::app)?;
    Ok(value)
}

/// Runs `sql` (returning one JSON value `v`, or no row or NULL) as `identity` and decodes it,
/// once for every subscriber asking under `key`, on `source` (a replica that fails the read
/// is skipped from then on, and the read done on the primary).
async fn shared_read<T>(
    hub: &Arc<Hub>,
    identity: &Identity,
    key: String,
    sql: String,
    values: Vec<Value>,
    source: Source,
) -> AppResult<Arc<Option<T>>>
where
    T: DeserializeOwned + Send + Sync + 'static,
{
    let primary = hub.pool.clone();
    let replicas = hub.replicas.clone();
    let limits = hub.statements;
    let identity = identity.clone();
    hub.snapshots
        .get(key, async move {
            let replica = match source {
                Source::CaughtUpReplica => replicas.choose_caught_up(&primary).await,
                Source::Primary => None,
            };
            let value = match replica {
                Some(replica) => {
                    match read_value(replica.pool.clone(), identity.clone(), limits, &sql, values.clone())
                        .await
                    {
                        Ok(value) => {
                            metrics::counter!(crate::telemetry::DB_READS, "target" => "replica")
                                .increment(1);
                            Ok(value)
                        }
                        Err(failure) => {
                            if failure.replica_fault {
                                replicas.failed(&replica);
                            }
                            tracing::warn!(replica = %replica.label, error = %failure.message, "a live read failed on the replica; reading on the primary");
                            read_value(primary, identity, limits, &sql, values).await
                        }
                    }
                }
                None => read_value(primary, identity, limits, &sql, values).await,
            }
            .map_err(|f| f.message)?;
            match value {
                None | Some(serde_json::Value::Null) => Ok(None),
                Some(v) => serde_json::from_value::<T>(v)
                    .map(Some)
                    .map_err(|e| format!("live snapshot: {e}")),
            }
        })
        .await
        .map_err(AppError::internal)
}

/// What a message reads: a change, or the whole state (a first message, a resynchronisation,
/// a lagging subscriber), named so that only readers of the same state share the read.
enum Read<'a> {
    Change(&'a RunChange),
    Whole(String),
}

impl Read<'_> {
    fn change(&self) -> Option<&RunChange> {
        match self {
            Read::Change(c) => Some(c),
            Read::Whole(_) => None,
        }
    }

    /// Where it is read: a change on the primary, a whole state on a caught-up replica.
    fn source(&self) -> Source {
        match self {
            Read::Change(_) => Source::Primary,
            Read::Whole(_) => Source::CaughtUpReplica,
        }
    }

    fn key(&self) -> String {
        match self {
            Read::Change(c) => format!("seq{}", c.seq),
            Read::Whole(name) => name.clone(),
        }
    }
}

/// A whole-state read of one's own (first message, or fallen behind).
fn own_read() -> Read<'static> {
    Read::Whole(format!("own{}", Uuid::new_v4().simple()))
}

async fn progress(
    hub: &Arc<Hub>,
    identity: &Identity,
    run: Uuid,
    read: Read<'_>,
) -> AppResult<RunProgress> {
    let change = read.change();
    let seq = change.map(|c| c.seq).unwrap_or(0);
    let key = format!(
        "progress:{run}:{}:{}",
        read.key(),
        identity.visibility_key()
    );
    let changed: Vec<Uuid> = change
        .map(|c| {
            c.executions
                .iter()
                .copied()
                .take(MAX_CHANGED_EXECUTIONS)
                .collect()
        })
        .unwrap_or_default();
    let sql = format!(
        "WITH latest AS (
             SELECT DISTINCT ON (test_case_id) status FROM test_executions
             WHERE test_run_id = $1 ORDER BY test_case_id, retry_attempt DESC)
         SELECT json_build_object(
             'runId', r.id, 'name', r.name, 'status', r.status, 'totalTests', r.total_tests,
             'passedTests', r.passed_tests, 'failedTests', r.failed_tests, 'skippedTests', r.skipped_tests,
             'pendingTests', (SELECT count(*) FROM latest WHERE status = 'pending'),
             'runningTests', (SELECT count(*) FROM latest WHERE status = 'running'),
             'percentComplete', CASE WHEN r.total_tests = 0 THEN 0
                 ELSE round(100.0 * (SELECT count(*) FROM latest WHERE status NOT IN ('pending', 'running')) / r.total_tests, 2) END,
             'startedAt', r.started_at, 'completedAt', r.completed_at,
             'changedExecutions', coalesce((SELECT json_agg({EXECUTION_JSON} ORDER BY e.created_at)
                 FROM test_executions e JOIN test_cases tc ON tc.id = e.test_case_id WHERE e.id = ANY($2)), '[]'::json)
         ) AS v
         FROM test_runs r WHERE r.id = $1"
    );
    let shared = shared_read::<RunProgress>(
        hub,
        identity,
        key,
        sql,
        vec![run.into(), changed.into()],
        read.source(),
    )
    .await?;
    let mut p = Option::clone(&shared).ok_or_else(|| AppError::not_found("TestRun", run))?;
    p.seq = seq;
    p.snapshot = change.is_none();
    Ok(p)
}

async fn executions(
    hub: &Arc<Hub>,
    identity: &Identity,
    run: Uuid,
    read: Read<'_>,
) -> AppResult<Vec<ExecutionUpdate>> {
    let (key, filter, values): (String, &str, Vec<Value>) = match read.change() {
        Some(c) if !c.truncated => (
            format!("executions:{run}:{}:{}", c.seq, identity.visibility_key()),
            "e.id = ANY($2)",
            vec![
                run.into(),
                c.executions.iter().copied().collect::<Vec<Uuid>>().into(),
            ],
        ),
        // a first state, a gap, or more changes than notified: every execution of the run
        _ => (
            format!(
                "executions:{run}:all:{}:{}",
                read.key(),
                identity.visibility_key()
            ),
            "true",
            vec![run.into()],
        ),
    };
    let sql = format!(
        "SELECT coalesce(json_agg({EXECUTION_JSON} ORDER BY e.created_at), '[]'::json) AS v
         FROM test_executions e JOIN test_cases tc ON tc.id = e.test_case_id
         WHERE e.test_run_id = $1 AND {filter}"
    );
    Ok(Option::clone(
        &*shared_read::<Vec<ExecutionUpdate>>(hub, identity, key, sql, values, read.source())
            .await?,
    )
    .unwrap_or_default())
}

async fn step_updates(
    hub: &Arc<Hub>,
    identity: &Identity,
    execution: Uuid,
    read: Read<'_>,
) -> AppResult<Vec<StepExecutionUpdate>> {
    let (key, filter, values): (String, &str, Vec<Value>) = match read.change() {
        Some(c) if !c.truncated => (
            format!("steps:{execution}:{}:{}", c.seq, identity.visibility_key()),
            "se.id = ANY($2)",
            vec![
                execution.into(),
                c.step_executions
                    .iter()
                    .copied()
                    .collect::<Vec<Uuid>>()
                    .into(),
            ],
        ),
        _ => (
            format!(
                "steps:{execution}:all:{}:{}",
                read.key(),
                identity.visibility_key()
            ),
            "true",
            vec![execution.into()],
        ),
    };
    let sql = format!(
        "SELECT coalesce(json_agg(json_build_object('id', se.id, 'executionId', se.test_execution_id,
             'stepId', se.test_step_id, 'stepName', s.name, 'orderIndex', s.order_index, 'status', se.status,
             'durationSeconds', se.duration_seconds, 'durationMs', se.duration_ms, 'errorMessage', se.error_message,
             'actualResult', se.actual_result) ORDER BY s.order_index), '[]'::json) AS v
         FROM test_step_executions se JOIN test_steps s ON s.id = se.test_step_id
         WHERE se.test_execution_id = $1 AND {filter}"
    );
    Ok(Option::clone(
        &*shared_read::<Vec<StepExecutionUpdate>>(hub, identity, key, sql, values, read.source())
            .await?,
    )
    .unwrap_or_default())
}

async fn run_update(
    hub: &Arc<Hub>,
    identity: &Identity,
    run: Uuid,
    seq: i64,
) -> AppResult<Option<RunUpdate>> {
    let key = format!("run:{run}:{seq}:{}", identity.visibility_key());
    let sql = format!("SELECT {RUN_JSON} AS v FROM test_runs r WHERE r.id = $1");
    Ok(Option::clone(
        &*shared_read::<RunUpdate>(hub, identity, key, sql, vec![run.into()], Source::Primary)
            .await?,
    ))
}

/// What a subscription does next.
enum Step {
    /// Read the whole state (with this name) for the audience tagged.
    Whole(Read<'static>),
    /// Read what this change changed, for the clients caught up.
    Change(Arc<RunChange>),
    Stop,
}

fn resync_read(n: u64) -> Read<'static> {
    Read::Whole(format!("resync{n}"))
}

/// A subscription's stream of steps: the events of its topic that `wanted` keeps,
/// resynchronisations, and (for a shared stream) clients joining that need the whole state.
struct Steps {
    follower: Follower,
    audience: Option<Arc<Audience>>,
    wanted: Box<dyn Fn(&RunChange) -> bool + Send + Sync>,
    /// The generation whose whole state is being read.
    reading: u64,
}

impl Steps {
    fn new(
        hub: &Arc<Hub>,
        topic: Topic,
        audience: Option<Arc<Audience>>,
        wanted: impl Fn(&RunChange) -> bool + Send + Sync + 'static,
    ) -> Self {
        Self {
            follower: hub.follow(topic),
            audience,
            wanted: Box::new(wanted),
            reading: 0,
        }
    }

    /// The first step: the whole state, for everyone joined so far.
    fn first(&mut self) -> Step {
        self.whole(true, None);
        Step::Whole(own_read())
    }

    /// Tags what is yielded next as a whole state for everyone, or for those waiting up to
    /// `generation` (default: all joined so far).
    fn whole(&mut self, everyone: bool, generation: Option<u64>) {
        let generation =
            generation.unwrap_or_else(|| self.audience.as_ref().map_or(0, |a| a.joined()));
        self.reading = generation;
        let tag = Tag::Whole {
            generation,
            everyone,
        };
        if let Some(a) = &self.audience {
            a.tag(tag);
        }
    }

    /// A subscription that sends no whole state: every client joining is caught up at once,
    /// and no join wakes it.
    fn stateless(&mut self) {
        self.follower.every_change();
        if let Some(a) = &self.audience {
            a.tag(Tag::Change);
            a.catch_up(u64::MAX);
        }
    }

    /// The whole state of the last [`Steps::whole`] is out.
    fn done(&self) {
        if let Some(a) = &self.audience {
            a.catch_up(self.reading);
        }
    }

    async fn next(&mut self) -> Step {
        loop {
            let caught_up = self.audience.as_ref().map_or(0, |a| a.caught_up());
            let newcomers = async {
                match &self.audience {
                    Some(a) => a.newcomers(caught_up).await,
                    None => std::future::pending().await,
                }
            };
            let woken = tokio::select! {
                woken = self.follower.next() => woken,
                generation = newcomers => {
                    self.whole(false, Some(generation));
                    return Step::Whole(own_read());
                }
            };
            match woken {
                Woken::Stop => return Step::Stop,
                Woken::Resync(n) => {
                    self.whole(true, None);
                    return Step::Whole(resync_read(n));
                }
                Woken::Lagged => {
                    self.whole(true, None);
                    return Step::Whole(own_read());
                }
                Woken::Change(c) if (self.wanted)(&c) => {
                    if let Some(a) = &self.audience {
                        a.tag(Tag::Change);
                    }
                    return Step::Change(c);
                }
                Woken::Change(_) => {}
            }
        }
    }
}

fn context(ctx: &Context<'_>) -> AppResult<(Arc<Hub>, Identity, Option<Arc<Audience>>)> {
    let hub = ctx
        .data::<Arc<Hub>>()
        .map_err(|_| AppError::internal("live hub missing"))?
        .clone();
    let identity = crate::auth::guard::identity(ctx)?;
    let audience = ctx.data_opt::<Arc<Audience>>().cloned();
    Ok((hub, identity, audience))
}

/// The run of an execution, as `identity` sees it.
async fn run_of(hub: &Arc<Hub>, identity: &Identity, execution: Uuid) -> AppResult<Option<Uuid>> {
    let key = format!("run-of:{execution}:{}", identity.visibility_key());
    let sql = "SELECT to_json(test_run_id) AS v FROM test_executions WHERE id = $1".to_owned();
    Ok(*shared_read::<Uuid>(
        hub,
        identity,
        key,
        sql,
        vec![execution.into()],
        Source::CaughtUpReplica,
    )
    .await?)
}

#[derive(Default)]
pub struct LiveSubscription;

/// Live updates, over WebSocket at `/graphql/ws`: a run's progress, its executions and their
/// step results as they change, whoever writes them. Each subscription but `testRunsUpdates`
/// first sends the current state, then the changes; after a gap (a client that fell behind,
/// the server's database connection lost and regained) it sends the current state again, so
/// that nothing is missed silently.
#[Subscription]
impl LiveSubscription {
    /// A run's progress: its current state first, then one message per change (bursts merged).
    async fn test_run_progress(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The run.")] run_id: Uuid,
    ) -> async_graphql::Result<impl Stream<Item = AppResult<RunProgress>> + use<>> {
        let (hub, identity, audience) = context(ctx)?;
        let mut steps = Steps::new(&hub, Topic::Progress(run_id), audience, |_| true);
        Ok(async_stream::stream! {
            let mut step = steps.first();
            let mut first = true;
            loop {
                match step {
                    Step::Stop => break,
                    Step::Whole(read) => {
                        let state = progress(&hub, &identity, run_id, read).await;
                        let failed = state.is_err();
                        yield state;
                        if failed && first {
                            return;
                        }
                        steps.done();
                    }
                    Step::Change(c) => yield progress(&hub, &identity, run_id, Read::Change(&c)).await,
                }
                first = false;
                step = steps.next().await;
            }
        })
    }

    /// Each changed execution of a run (optionally of one case): the current ones first.
    async fn test_execution_updates(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The run.")] run_id: Uuid,
        #[graphql(desc = "Only this case's executions.")] test_case_id: Option<Uuid>,
    ) -> async_graphql::Result<impl Stream<Item = AppResult<ExecutionUpdate>> + use<>> {
        let (hub, identity, audience) = context(ctx)?;
        let mut steps = Steps::new(&hub, Topic::Executions(run_id), audience, |_| true);
        Ok(async_stream::stream! {
            let mut step = steps.first();
            let mut first = true;
            loop {
                let (read, whole) = match &step {
                    Step::Stop => return,
                    Step::Whole(read) => (Read::Whole(read.key()), true),
                    Step::Change(c) => (Read::Change(c), false),
                };
                match executions(&hub, &identity, run_id, read).await {
                    Ok(list) => {
                        for e in list {
                            if test_case_id.is_none_or(|c| c == e.test_case_id) {
                                yield Ok(e);
                            }
                        }
                    }
                    Err(e) => {
                        yield Err(e);
                        if first {
                            return;
                        }
                    }
                }
                if whole {
                    steps.done();
                }
                first = false;
                step = steps.next().await;
            }
        })
    }

    /// Each changed step result of an execution: the current ones first.
    async fn test_step_execution_updates(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The execution.")] execution_id: Uuid,
    ) -> async_graphql::Result<impl Stream<Item = AppResult<StepExecutionUpdate>> + use<>> {
        let (hub, identity, audience) = context(ctx)?;
        // an execution nobody may see (or none yet) follows every run's step changes
        let topic = match run_of(&hub, &identity, execution_id).await? {
            Some(run) => Topic::Steps(run),
            None => Topic::Runs,
        };
        let mut steps = Steps::new(&hub, topic, audience, move |c| {
            c.step_parents.contains(&execution_id) || (c.truncated && !c.step_executions.is_empty())
        });
        Ok(async_stream::stream! {
            let mut step = steps.first();
            let mut first = true;
            loop {
                let (read, whole) = match &step {
                    Step::Stop => return,
                    Step::Whole(read) => (Read::Whole(read.key()), true),
                    Step::Change(c) => (Read::Change(c), false),
                };
                match step_updates(&hub, &identity, execution_id, read).await {
                    Ok(list) => {
                        for s in list {
                            yield Ok(s);
                        }
                    }
                    Err(e) => {
                        yield Err(e);
                        if first {
                            return;
                        }
                    }
                }
                if whole {
                    steps.done();
                }
                first = false;
                step = steps.next().await;
            }
        })
    }

    /// Runs started, progressing and finished, for a dashboard of runs. Only changes are
    /// sent: read the current list with `testRuns` first, and again after a reconnection.
    async fn test_runs_updates(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Which runs.")] filter: Option<RunsUpdatesFilter>,
        #[graphql(desc = "Only the runs of this project (its key).")] project_key: Option<String>,
    ) -> async_graphql::Result<impl Stream<Item = AppResult<RunUpdate>> + use<>> {
        let (hub, identity, audience) = context(ctx)?;
        let project = match project_key {
            Some(key) => {
                let db = RequestDb::new(hub.pool.clone(), Some(identity.clone()), hub.statements);
                let found = {
                    let conn = db.conn().await?;
                    crate::projects::service::resolve(&*conn, "projectKey", &key).await
                };
                db.finish().await?;
                Some(found?.id)
            }
            None => None,
        };
        let mut steps = Steps::new(&hub, Topic::Runs, audience, |_| true);
        let filter = filter.unwrap_or_default();
        Ok(async_stream::stream! {
            // no state first: whoever joins gets the changes from then on
            steps.stateless();
            loop {
                match steps.next().await {
                    Step::Stop => return,
                    // a runs dashboard re-reads its list through testRuns after a gap
                    Step::Whole(_) => steps.done(),
                    Step::Change(c) => match run_update(&hub, &identity, c.run, c.seq).await {
                        Ok(Some(run)) => {
                            let suite_ok = filter.suite_id.is_none_or(|s| run.test_suite_id == Some(s));
                            let status_ok = filter.status.as_ref().is_none_or(|s| s.contains(&run.status));
                            let project_ok = project.is_none_or(|p| run.project_id == p);
                            if suite_ok && status_ok && project_ok {
                                yield Ok(run);
                            }
                        }
                        Ok(None) => {}
                        Err(e) => yield Err(e),
                    },
                }
            }
        })
    }
}
