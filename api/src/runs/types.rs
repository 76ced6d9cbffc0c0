//! GraphQL objects and inputs of runs, executions, step results and artifacts.

use async_graphql::{Context, InputObject, Object, SimpleObject};
use entity::{test_artifact, test_execution, test_run, test_step_execution};
use uuid::Uuid;

use super::enums::{ArtifactType, ExecutionStatus, Outcome, RunStatus, StepExecutionStatus};
use super::loaders;
use crate::catalog::types::{Configuration, TestCase, TestStep, TestSuite};
use crate::connection::{Connection, NoFields};
use crate::pagination::PageArgs;
use crate::scalars::{Json, Timestamp, object_or_empty};

#[derive(Clone)]
pub struct TestRun(pub test_run::Model);

/// A test run: one pass over a suite's cases (one execution per case, plus any retries), or an
/// ad-hoc run whose executions come with the results a reporter sends. Its counters follow the
/// cases' latest attempts exactly as results arrive, and it finishes by itself when its last
/// execution does (an ad-hoc one with `finishTestRun`).
#[Object]
impl TestRun {
    /// Unique id.
    async fn id(&self) -> Uuid {
        self.0.id
    }
    /// The project it belongs to; null when the caller does not see the project (the author
    /// of a record in a project they are not a member of).
    async fn project(
        &self,
        ctx: &Context<'_>,
    ) -> async_graphql::Result<Option<crate::projects::types::Project>> {
        Ok(crate::projects::loaders::project(ctx, self.0.project_id)
            .await?
            .map(crate::projects::types::Project))
    }
    /// Name (1 to 255 characters).
    async fn name(&self) -> &str {
        &self.0.name
    }
    /// Where the run stands: PENDING, RUNNING, then PASSED, FAILED, CANCELLED or ABORTED.
    async fn status(&self) -> RunStatus {
        self.0.status.into()
    }
    /// Whether the run is ad hoc: no suite, executions created as results arrive, ended by
    /// `finishTestRun` (or ABORTED after inactivity).
    async fn ad_hoc(&self) -> bool {
        self.0.ad_hoc
    }
    /// The client's key for the run (a CI build id), unique per project; null when the run
    /// was started without one.
    async fn run_key(&self) -> Option<&str> {
        self.0.run_key.as_deref()
    }
    /// The commit the run tested (lower-case); null when not given.
    async fn commit_sha(&self) -> Option<&str> {
        self.0.commit_sha.as_deref()
    }
    /// The branch the run tested; null when not given.
    async fn branch(&self) -> Option<&str> {
        self.0.branch.as_deref()
    }
    /// The page of the CI build that made the run; null when not given.
    async fn build_url(&self) -> Option<&str> {
        self.0.build_url.as_deref()
    }
    /// The environment the run tested (`staging`, ...); null when not given.
    async fn environment(&self) -> Option<&str> {
        self.0.environment.as_deref()
    }
    /// The run it is compared with by default: the previous run of its project, suite (or
    /// ad hoc), branch and environment that finished (PASSED or FAILED) before it was created
    /// and was not an infrastructure failure; null when there is none.
    async fn baseline(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<TestRun>> {
        crate::insights::types::baseline_of(ctx, &self.0).await
    }
    /// What changed since its baseline (new failures, fixed, still failing, new and missing
    /// tests, duration regressions); null when it has no baseline.
    async fn comparison(
        &self,
        ctx: &Context<'_>,
        #[graphql(
            desc = "The ratio by which a passed case must have slowed down to be a duration \
                    regression (default 0.5: 50% slower), besides at least 100 ms."
        )]
        duration_threshold: Option<f64>,
    ) -> async_graphql::Result<Option<crate::insights::types::RunComparison>> {
        crate::insights::types::comparison_of(ctx, &self.0, duration_threshold).await
    }
    /// The last write into the run; a run idle for longer than the server's
    /// `--run-inactivity-timeout` is ABORTED.
    async fn last_activity_at(&self) -> Timestamp {
        self.0.last_activity_at
    }
    /// Id of the suite run; null for an ad-hoc run, and once the suite is deleted.
    async fn test_suite_id(&self) -> Option<Uuid> {
        self.0.test_suite_id
    }
    /// The suite run; null for an ad-hoc run, and once the suite is deleted.
    async fn test_suite(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<TestSuite>> {
        match self.0.test_suite_id {
            Some(id) => Ok(loaders::suite(ctx, id).await?.map(TestSuite)),
            None => Ok(None),
        }
    }
    /// Id of the configuration the run uses; null when it was started without one (or the
    /// configuration was deleted since).
    async fn configuration_id(&self) -> Option<Uuid> {
        self.0.configuration_id
    }
    /// The configuration the run uses; null when it was started without one (or the
    /// configuration was deleted since).
    async fn configuration(
        &self,
        ctx: &Context<'_>,
    ) -> async_graphql::Result<Option<Configuration>> {
        match self.0.configuration_id {
            Some(id) => Ok(crate::catalog::loaders::configuration(ctx, id)
                .await?
                .map(Configuration)),
            None => Ok(None),
        }
    }
    /// When the first execution started; null while none has.
    async fn started_at(&self) -> Option<Timestamp> {
        self.0.started_at
    }
    /// When the run finished (PASSED, FAILED, CANCELLED or ABORTED); null while it is open.
    async fn completed_at(&self) -> Option<Timestamp> {
        self.0.completed_at
    }
    /// Number of cases in the run.
    async fn total_tests(&self) -> i32 {
        self.0.total_tests
    }
    /// Cases whose latest attempt passed.
    async fn passed_tests(&self) -> i32 {
        self.0.passed_tests
    }
    /// Cases whose latest attempt failed.
    async fn failed_tests(&self) -> i32 {
        self.0.failed_tests
    }
    /// Cases whose latest attempt was skipped.
    async fn skipped_tests(&self) -> i32 {
        self.0.skipped_tests
    }
    /// Whether the run is flagged as an infrastructure failure: when it finished, more of its
    /// passed/failed outcomes failed than its project's `infraFailureShare` (with at least 10
    /// of them), or a maintainer said so (`markInfrastructureFailure`). Its results are left
    /// out of flaky classification.
    async fn infrastructure_failure(&self) -> bool {
        self.0.infrastructure_failure
    }
    /// Failed cases that were quarantined when the run's outcome was decided: counted in
    /// `failedTests`, but they did not fail the run.
    async fn quarantined_failed_tests(&self) -> i32 {
        self.0.quarantined_failed_tests
    }
    /// Settings of this run (a JSON object; `{}` when none were given).
    async fn run_configuration(&self) -> Json {
        object_or_empty(&self.0.run_configuration)
    }
    /// User id of whoever started the run; null when none was recorded.
    async fn triggered_by(&self) -> Option<&str> {
        self.0.triggered_by.as_deref()
    }
    /// When the run was created.
    async fn created_at(&self) -> Option<Timestamp> {
        self.0.created_at
    }
    /// When the run last changed.
    async fn updated_at(&self) -> Option<Timestamp> {
        self.0.updated_at
    }
    /// Whether the run is kept out of archival and purging, whatever its age.
    async fn pinned(&self) -> bool {
        self.0.pinned
    }
    /// Aggregates of the run (pass rate, durations, retries), archived executions included.
    async fn stats(
        &self,
        ctx: &Context<'_>,
    ) -> async_graphql::Result<crate::analytics::types::RunStats> {
        crate::analytics::loaders::run_stats(ctx, self.0.id).await
    }
    /// The run's changes, newest first.
    async fn history(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Page size (default 20, at most 100).")] first: Option<i32>,
        #[graphql(desc = "Cursor after which the page starts.")] after: Option<String>,
    ) -> async_graphql::Result<crate::audit::AuditEntryConnection> {
        crate::audit::history(
            ctx,
            crate::audit::AuditedType::TestRun,
            self.0.id,
            first,
            after,
        )
        .await
    }
    /// The run's executions (every attempt), in the order they were created.
    async fn executions(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Page size from the start (default 20, at most 100).")] first: Option<i32>,
        #[graphql(desc = "Cursor after which the page starts.")] after: Option<String>,
        #[graphql(desc = "Page size from the end (at most 100).")] last: Option<i32>,
        #[graphql(desc = "Cursor before which the page ends.")] before: Option<String>,
    ) -> async_graphql::Result<ExecutionPage> {
        executions_page(
            ctx,
            loaders::ExecutionParent::Run,
            self.0.id,
            PageArgs {
                first,
                after,
                last,
                before,
            },
        )
        .await
    }
}

#[derive(Clone)]
pub struct TestExecution(pub test_execution::Model);

/// A test execution: one attempt at a test case in a run, with its outcome, timing, error and
/// the results of its steps. A retried case has one execution per attempt (`retryAttempt` 0,
/// 1, ...); the run counts the latest.
#[Object]
impl TestExecution {
    /// Unique id.
    async fn id(&self) -> Uuid {
        self.0.id
    }
    /// Id of the case executed.
    async fn test_case_id(&self) -> Uuid {
        self.0.test_case_id
    }
    /// The case executed; null when the caller cannot see it.
    async fn test_case(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<TestCase>> {
        Ok(crate::catalog::loaders::case(ctx, self.0.test_case_id)
            .await?
            .map(TestCase))
    }
    /// Id of the run the execution belongs to; null once that run is deleted.
    async fn test_run_id(&self) -> Option<Uuid> {
        self.0.test_run_id
    }
    /// The run the execution belongs to; null once that run is deleted.
    async fn test_run(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<TestRun>> {
        match self.0.test_run_id {
            Some(id) => Ok(loaders::run(ctx, id).await?.map(TestRun)),
            None => Ok(None),
        }
    }
    /// Id of the configuration it ran with; null when none (or it was deleted since).
    async fn configuration_id(&self) -> Option<Uuid> {
        self.0.configuration_id
    }
    /// Where the attempt stands: PENDING, RUNNING, then PASSED, FAILED, SKIPPED or CANCELLED.
    async fn status(&self) -> ExecutionStatus {
        self.0.status.into()
    }
    /// When it started; null while it is PENDING.
    async fn started_at(&self) -> Option<Timestamp> {
        self.0.started_at
    }
    /// When it finished; null while it is open (PENDING or RUNNING).
    async fn completed_at(&self) -> Option<Timestamp> {
        self.0.completed_at
    }
    /// Duration in whole seconds (rounded from `durationMs`); null while it is open, or when
    /// no duration is known.
    async fn duration_seconds(&self) -> Option<i32> {
        self.0.duration_seconds
    }
    /// Duration in milliseconds; null while it is open, or when no duration is known.
    async fn duration_ms(&self) -> Option<i32> {
        self.0.duration_ms
    }
    /// Why it failed, as reported; null when no message was given.
    async fn error_message(&self) -> Option<&str> {
        self.0.error_message.as_deref()
    }
    /// Details the reporter sent with the result (a JSON object; `{}` when none).
    async fn execution_metadata(&self) -> Json {
        object_or_empty(&self.0.execution_metadata)
    }
    /// Attempt number: 0 for the first, then one per retry.
    async fn retry_attempt(&self) -> i32 {
        self.0.retry_attempt
    }
    /// When it was created.
    async fn created_at(&self) -> Option<Timestamp> {
        self.0.created_at
    }
    /// When it last changed.
    async fn updated_at(&self) -> Option<Timestamp> {
        self.0.updated_at
    }
    /// Results of its steps, in step order.
    async fn step_executions(
        &self,
        ctx: &Context<'_>,
    ) -> async_graphql::Result<Vec<TestStepExecution>> {
        Ok(loaders::step_executions(ctx, self.0.id)
            .await?
            .into_iter()
            .map(TestStepExecution)
            .collect())
    }
    /// Artifacts attached to it (not those of its steps), oldest first.
    async fn artifacts(&self, ctx: &Context<'_>) -> async_graphql::Result<Vec<TestArtifact>> {
        Ok(loaders::execution_artifacts(ctx, self.0.id)
            .await?
            .into_iter()
            .map(TestArtifact)
            .collect())
    }
}

#[derive(Clone)]
pub struct TestStepExecution(pub test_step_execution::Model);

/// A test step execution: the result of one step of the case in one execution, with its
/// status, timing, what actually happened and its artifacts. An execution has at most one per
/// step.
#[Object]
impl TestStepExecution {
    /// Unique id.
    async fn id(&self) -> Uuid {
        self.0.id
    }
    /// Id of the execution the result belongs to.
    async fn test_execution_id(&self) -> Uuid {
        self.0.test_execution_id
    }
    /// Id of the step the result is of.
    async fn test_step_id(&self) -> Uuid {
        self.0.test_step_id
    }
    /// The step the result is of; null when the caller cannot see it.
    async fn test_step(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<TestStep>> {
        Ok(loaders::step(ctx, self.0.test_step_id).await?.map(TestStep))
    }
    /// The step's outcome, or where it stands while the execution runs.
    async fn status(&self) -> StepExecutionStatus {
        self.0.status.into()
    }
    /// When the step started; null when not reported.
    async fn started_at(&self) -> Option<Timestamp> {
        self.0.started_at
    }
    /// When the step finished; null when not reported or not finished.
    async fn completed_at(&self) -> Option<Timestamp> {
        self.0.completed_at
    }
    /// Duration in whole seconds (rounded from `durationMs`); null when not reported.
    async fn duration_seconds(&self) -> Option<i32> {
        self.0.duration_seconds
    }
    /// Duration in milliseconds; null when not reported.
    async fn duration_ms(&self) -> Option<i32> {
        self.0.duration_ms
    }
    /// Why the step failed, as reported; null when no message was given.
    async fn error_message(&self) -> Option<&str> {
        self.0.error_message.as_deref()
    }
    /// What actually happened, to compare with the step's `expectedResult`; null when not
    /// reported.
    async fn actual_result(&self) -> Option<&str> {
        self.0.actual_result.as_deref()
    }
    /// Details the reporter sent with the step's result (a JSON object; `{}` when none).
    async fn step_metadata(&self) -> Json {
        object_or_empty(&self.0.step_metadata)
    }
    /// Artifacts attached to this step result, oldest first.
    async fn artifacts(&self, ctx: &Context<'_>) -> async_graphql::Result<Vec<TestArtifact>> {
        Ok(loaders::step_execution_artifacts(ctx, self.0.id)
            .await?
            .into_iter()
            .map(TestArtifact)
            .collect())
    }
}

#[derive(Clone)]
pub struct TestArtifact(pub test_artifact::Model);

/// A test artifact: a file produced by an execution or by one of its steps (a screenshot, a
/// video, a log, a trace, ...). Its bytes, once uploaded (`attachArtifact`'s `file`, or
/// `PUT /api/v1/artifacts/{id}/content`), are on the server's artifact store and downloaded
/// from `downloadUrl`.
#[Object]
impl TestArtifact {
    /// Unique id.
    async fn id(&self) -> Uuid {
        self.0.id
    }
    /// Id of the execution it belongs to (for a step result's artifact: that result's
    /// execution); null only for an artifact recorded against a step result alone.
    async fn test_execution_id(&self) -> Option<Uuid> {
        self.0.test_execution_id
    }
    /// Id of the step result it belongs to; null for an artifact of the whole execution.
    async fn test_step_execution_id(&self) -> Option<Uuid> {
        self.0.test_step_execution_id
    }
    /// What kind of file it is.
    async fn artifact_type(&self) -> ArtifactType {
        self.0.artifact_type.into()
    }
    /// File name (1 to 255 characters).
    async fn file_name(&self) -> &str {
        &self.0.file_name
    }
    /// Where the file was when it was attached (the path a report named, or the uploaded
    /// file's name).
    async fn file_path(&self) -> &str {
        &self.0.file_path
    }
    /// SHA-256 of its bytes (64 lowercase hex digits); null until they are uploaded. The same
    /// bytes are stored once, whichever artifacts share them.
    async fn sha256(&self) -> Option<&str> {
        self.0.blob_sha256.as_deref()
    }
    /// A short-lived URL (a path on this server, signed, valid for `--artifact-url-ttl`) that
    /// downloads the bytes without a token, for a browser's `<img>` or `<video>`; null until
    /// they are uploaded.
    async fn download_url(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<String>> {
        if self.0.blob_sha256.is_none() {
            return Ok(None);
        }
        let artifacts = &ctx.data::<crate::state::AppState>()?.artifacts;
        Ok(Some(
            artifacts.signer.url(self.0.id, artifacts.options.url_ttl),
        ))
    }
    /// MIME type (such as `image/png`); null when not given.
    async fn mime_type(&self) -> Option<&str> {
        self.0.mime_type.as_deref()
    }
    /// Size in bytes (a float: sizes may exceed 2^31); null when not given and not uploaded.
    async fn file_size(&self) -> Option<f64> {
        self.0.file_size.map(|s| s as f64)
    }
    /// Details sent with the artifact (a JSON object; `{}` when none).
    async fn metadata(&self) -> Json {
        object_or_empty(&self.0.metadata)
    }
    /// When it was attached.
    async fn created_at(&self) -> Option<Timestamp> {
        self.0.created_at
    }
}

/// A page of a run's or a case's executions, as a connection.
pub async fn executions_page(
    ctx: &Context<'_>,
    parent: loaders::ExecutionParent,
    id: Uuid,
    args: PageArgs,
) -> async_graphql::Result<ExecutionPage> {
    let (fetched, total) = loaders::executions_page(ctx, parent, id, args).await?;
    Ok(crate::connection::plain(
        fetched,
        crate::sql::Total::Known(total),
        TestExecution,
    ))
}

crate::connection_names!(ExecutionPageNames, "ExecutionPage", "ExecutionEdge");

/// A page of executions.
pub type ExecutionPage = Connection<TestExecution, NoFields, ExecutionPageNames>;

/// A page of runs.
pub type TestRunConnection = Connection<TestRun>;

/// Which runs to list.
#[derive(InputObject, Default, Clone)]
pub struct TestRunFilter {
    /// Runs of this suite.
    pub suite_id: Option<Uuid>,
    /// Status is any of these.
    pub status: Option<Vec<RunStatus>>,
    /// Started by this user.
    pub triggered_by: Option<String>,
    /// Started at or after this time.
    pub started_after: Option<Timestamp>,
    /// Started before this time.
    pub started_before: Option<Timestamp>,
    /// In this project (its key).
    pub project_key: Option<String>,
    /// The project of `project_key`, once resolved.
    #[graphql(skip)]
    pub project_id: Option<Uuid>,
    /// Of this branch.
    pub branch: Option<String>,
    /// Of this commit (compared lower-case).
    pub commit_sha: Option<String>,
}

/// Which executions to list.
#[derive(InputObject, Default, Clone)]
pub struct TestExecutionFilter {
    /// Executions of this run.
    pub run_id: Option<Uuid>,
    /// Executions of this case.
    pub test_case_id: Option<Uuid>,
    /// Status is any of these.
    pub status: Option<Vec<ExecutionStatus>>,
    /// Executions of the runs of this project (its key).
    pub project_key: Option<String>,
    /// The project of `project_key`, once resolved.
    #[graphql(skip)]
    pub project_id: Option<Uuid>,
}

/// A run to start: of a suite (its active cases, in the suite's order), or ad hoc (no suite:
/// executions are created as results arrive, and the run ends with `finishTestRun`).
#[derive(InputObject, Clone)]
pub struct StartTestRunInput {
    /// The suite to run; without it the run is ad hoc.
    pub suite_id: Option<Uuid>,
    /// Name of the run (1 to 255 characters).
    pub name: String,
    /// Settings of this run (a JSON object).
    pub run_configuration: Option<Json>,
    /// Configuration to run with.
    pub configuration_id: Option<Uuid>,
    /// Who started it (defaults to the caller; only an admin may name someone else).
    pub triggered_by: Option<String>,
    /// The client's key for the run (a CI build id, 1 to 200 characters): starting a run with
    /// a key already used in the project answers that run, so that parallel shards and
    /// retried jobs land in one run.
    pub run_key: Option<String>,
    /// The project of an ad-hoc run (its key; default: the token's project, else the default
    /// project). A suite's run is in the suite's project.
    pub project_key: Option<String>,
    /// The commit tested (1 to 64 letters, digits, '.', '_' or '-'; stored lower-case).
    /// Default: `runConfiguration`'s `commitSha`, `commit` or `sha`.
    pub commit_sha: Option<String>,
    /// The branch tested (1 to 255 characters). Default: `runConfiguration`'s `branch`.
    pub branch: Option<String>,
    /// The CI build's page (an http or https URL, at most 2000 characters). Default:
    /// `runConfiguration`'s `buildUrl`.
    pub build_url: Option<String>,
    /// The environment tested (`staging`, ...; 1 to 100 characters). Default:
    /// `runConfiguration`'s `environment`.
    pub environment: Option<String>,
}

/// The result of a step.
#[derive(InputObject, Clone)]
pub struct StepResultInput {
    /// The step (of the execution's case); or give `stepName`.
    pub step_id: Option<Uuid>,
    /// The step by name (1 to 255 characters): a step the case has not got is added to it.
    pub step_name: Option<String>,
    /// Its status.
    pub status: StepExecutionStatus,
    /// What actually happened.
    pub actual_result: Option<String>,
    /// Why it failed.
    pub error_message: Option<String>,
    /// Duration in seconds, fractional (0 or more); or give `durationMs`.
    pub duration_seconds: Option<f64>,
    /// Duration in milliseconds, fractional (0 or more).
    pub duration_ms: Option<f64>,
    /// Details (a JSON object).
    pub step_metadata: Option<Json>,
}

/// Metadata of an artifact file.
#[derive(InputObject, Clone, Debug)]
pub struct ArtifactInput {
    /// What kind of file it is.
    pub artifact_type: ArtifactType,
    /// File name (1 to 255 characters).
    pub file_name: String,
    /// Where the file is on the machine that produced it (1 to 1000 characters).
    pub file_path: String,
    /// MIME type (at most 100 characters).
    pub mime_type: Option<String>,
    /// Size in bytes (0 or more).
    pub file_size: Option<f64>,
    /// Details (a JSON object).
    pub metadata: Option<Json>,
}

/// An artifact to attach to an execution or to a step result (exactly one of them).
#[derive(InputObject, Clone)]
pub struct AttachArtifactInput {
    /// The execution it belongs to.
    pub execution_id: Option<Uuid>,
    /// The step result it belongs to.
    pub step_execution_id: Option<Uuid>,
    /// The file's metadata.
    pub artifact: ArtifactInput,
}

/// One result in a bulk report.
#[derive(InputObject, Clone)]
pub struct ReportResultInput {
    /// Client key making the item idempotent within the run: a repeated key changes nothing
    /// (1 to 200 characters).
    pub idempotency_key: String,
    /// The case the result is for; it completes the case's latest attempt in the run. Give
    /// this or `testKey`.
    pub test_case_id: Option<Uuid>,
    /// The test by its identity key (such as `classname::name`, 1 to 1000 characters): an
    /// unknown key creates the case (ACTIVE, automated; see `knownTestsOnly`).
    pub test_key: Option<String>,
    /// Name of a case created for `testKey` (default: the key; 1 to 255 characters).
    pub test_name: Option<String>,
    /// Category of a case created for `testKey` (its suite or class path, at most 100
    /// characters).
    pub test_suite: Option<String>,
    /// The outcome.
    pub status: Outcome,
    /// When it started (default: the report's time less the duration).
    pub started_at: Option<Timestamp>,
    /// Duration in seconds, fractional (0 or more); or give `durationMs`.
    pub duration_seconds: Option<f64>,
    /// Duration in milliseconds, fractional (0 or more).
    pub duration_ms: Option<f64>,
    /// Why it failed.
    pub error_message: Option<String>,
    /// Details (a JSON object).
    pub execution_metadata: Option<Json>,
    /// Results of its steps.
    pub steps: Option<Vec<StepResultInput>>,
    /// Artifacts of the execution.
    pub artifacts: Option<Vec<ArtifactInput>>,
}

/// What became of one item of a bulk report.
#[derive(SimpleObject, Clone)]
pub struct ReportItemResult {
    /// The item's idempotency key.
    pub idempotency_key: String,
    /// Whether the item is recorded (now, or by an earlier report with the same key).
    pub ok: bool,
    /// Whether an earlier report with this key had already recorded it.
    pub duplicate: bool,
    /// The execution the result was written to; null when rejected, or for a duplicate whose
    /// execution is of a case the caller cannot see (the key is the run's, the case is not).
    pub execution_id: Option<Uuid>,
    /// Why the item was rejected: BAD_USER_INPUT, CONFLICT or NOT_FOUND.
    pub error_code: Option<String>,
    /// The input field at fault.
    pub error_field: Option<String>,
    /// What was wrong.
    pub error_message: Option<String>,
}

/// The answer to a bulk report.
#[derive(SimpleObject)]
pub struct ReportResultsPayload {
    /// The run after the report.
    pub run: TestRun,
    /// One outcome per item, in input order.
    pub results: Vec<ReportItemResult>,
    /// Items recorded by this report.
    pub accepted: i32,
    /// Items already recorded by an earlier report.
    pub duplicates: i32,
    /// Items rejected.
    pub rejected: i32,
}

crate::project_filtered!(TestRunFilter, TestExecutionFilter);
