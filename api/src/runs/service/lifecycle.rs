//! Runs and executions, one change at a time.

use entity::enums::{ExecutionStatus as DbExecutionStatus, RunStatus as DbRunStatus};
use entity::{test_artifact, test_execution, test_run, test_step_execution};
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ConnectionTrait, DbBackend, EntityTrait, FromQueryResult,
    Statement,
};
use uuid::Uuid;

use super::{get_execution, get_run, lock_run, refresh_run, status_name};
use crate::error::{AppError, AppResult};
use crate::input::{
    NAME_MAX, SHORT_TEXT_MAX, check_len, check_name, check_object, check_result_text,
};
use crate::runs::enums::{Outcome, StepExecutionStatus};
use crate::runs::types::{ArtifactInput, AttachArtifactInput, StartTestRunInput};

/// Longest artifact path (`VARCHAR(1000)`).
const FILE_PATH_MAX: usize = 1000;
/// Longest MIME type (`VARCHAR(100)`).
const MIME_TYPE_MAX: usize = 100;

fn is_open(status: DbExecutionStatus) -> bool {
    matches!(
        status,
        DbExecutionStatus::Pending | DbExecutionStatus::Running
    )
}

fn run_is_closed(run: &test_run::Model) -> bool {
    super::bulk::run_is_finished(run.status)
}

fn conflict_status(what: &str, status: impl std::fmt::Debug) -> AppError {
    AppError::conflict(
        Some("status"),
        format!("the {what} is {}", status_name(status)),
    )
}

/// Longest run key (`VARCHAR(200)`).
const RUN_KEY_MAX: usize = 200;

/// Starts a run as `identity`: of a suite (the run plus one PENDING execution per active
/// case, in the suite's order, in the suite's project), or ad hoc (no suite; executions come
/// with the results). The caller must be allowed to report in the project. A run key already
/// used in the project answers that run (so shards and retried jobs share one run).
pub async fn start_run(
    conn: &impl ConnectionTrait,
    identity: &crate::auth::Identity,
    input: StartTestRunInput,
) -> AppResult<test_run::Model> {
    let actor = Some(identity.user_id.as_str());
    check_name("name", &input.name, NAME_MAX)?;
    let run_configuration = input
        .run_configuration
        .map(|j| j.0)
        .unwrap_or_else(|| serde_json::json!({}));
    check_object("runConfiguration", &run_configuration)?;
    let context = super::context::RunContext::checked(
        "",
        input.commit_sha.as_deref(),
        input.branch.as_deref(),
        input.build_url.as_deref(),
        input.environment.as_deref(),
    )?
    .or(super::context::RunContext::from_configuration(
        &run_configuration,
    ));
    let triggered_by = input.triggered_by.or_else(|| actor.map(str::to_owned));
    check_len("triggeredBy", triggered_by.as_deref(), SHORT_TEXT_MAX)?;
    if let Some(key) = &input.run_key {
        check_name("runKey", key, RUN_KEY_MAX)?;
    }
    let suite = match input.suite_id {
        Some(id) => {
            if input.project_key.is_some() {
                return Err(AppError::bad_input(
                    "projectKey",
                    "a suite's run is in the suite's project: give suiteId or projectKey",
                ));
            }
            Some(
                crate::catalog::service::suites::get(conn, id)
                    .await?
                    .ok_or_else(|| AppError::not_found("TestSuite", id))?,
            )
        }
        None => None,
    };
    let project = match &suite {
        Some(suite) => {
            let project = crate::projects::service::by_id(conn, suite.project_id)
                .await?
                .ok_or_else(|| AppError::not_found("TestSuite", suite.id))?;
            crate::projects::service::require(
                conn,
                identity,
                &project,
                crate::projects::service::Action::Report,
            )
            .await?;
            project.id
        }
        None => {
            crate::projects::service::for_new_row(
                conn,
                identity,
                "projectKey",
                input.project_key.as_deref(),
                crate::projects::service::Action::Report,
            )
            .await?
        }
    };
    if let Some(key) = &input.run_key
        && let Some(run) = run_by_key(conn, project, key, triggered_by.as_deref()).await?
    {
        // a shard or a retried job: the run keeps its context, and gains what it lacks
        return super::context::fill(conn, run, &context).await;
    }
    crate::projects::service::check_reference(
        conn,
        "configurationId",
        "configurations",
        input.configuration_id,
        project,
    )
    .await?;
    let cases = match &suite {
        Some(suite) => {
            let cases = conn
                .query_all_raw(Statement::from_sql_and_values(
                    DbBackend::Postgres,
                    "SELECT m.test_case_id, tc.configuration_id FROM test_suites s
                     JOIN test_suite_test_cases m ON m.test_suite_id = s.id
                     JOIN test_cases tc ON tc.id = m.test_case_id
                     WHERE s.id = $1 AND tc.status = 'active' AND tc.project_id = s.project_id
                     ORDER BY m.order_index NULLS LAST, m.test_case_id",
                    [suite.id.into()],
                ))
                .await?;
            if cases.is_empty() {
                return Err(AppError::bad_input(
                    "suiteId",
                    nothing_to_run(conn, suite).await?,
                ));
            }
            cases
        }
        None => Vec::new(),
    };
    // a run key taken by a concurrent start: that run
    let inserted = conn
        .query_one_raw(Statement::from_sql_and_values(
            DbBackend::Postgres,
            "INSERT INTO test_runs(id, test_suite_id, configuration_id, name, status, total_tests,
                                   run_configuration, triggered_by, project_id, ad_hoc, run_key,
                                   commit_sha, branch, build_url, environment)
             VALUES ($1, $2, $3, $4, 'pending', $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)
             ON CONFLICT DO NOTHING RETURNING *",
            [
                Uuid::now_v7().into(),
                suite.as_ref().map(|s| s.id).into(),
                input.configuration_id.into(),
                input.name.into(),
                (cases.len() as i32).into(),
                run_configuration.into(),
                triggered_by.clone().into(),
                project.into(),
                suite.is_none().into(),
                input.run_key.clone().into(),
                context.commit_sha.clone().into(),
                context.branch.clone().into(),
                context.build_url.clone().into(),
                context.environment.clone().into(),
            ],
        ))
        .await?;
    let run = match inserted {
        Some(row) => test_run::Model::from_query_result(&row, "")?,
        None => {
            let key = input.run_key.as_deref().unwrap_or_default();
            let run = run_by_key(conn, project, key, triggered_by.as_deref())
                .await?
                .ok_or_else(|| {
                    AppError::conflict(
                        Some("runKey"),
                        "the run key belongs to a run you may not report into",
                    )
                })?;
            return super::context::fill(conn, run, &context).await;
        }
    };
    if cases.is_empty() {
        return Ok(run);
    }
    let mut rows = Vec::with_capacity(cases.len());
    for row in &cases {
        let config: Option<Uuid> = row.try_get("", "configuration_id")?;
        rows.push(serde_json::json!({
            "id": Uuid::now_v7(),
            "case_id": row.try_get::<Uuid>("", "test_case_id")?,
            "config": input.configuration_id.or(config),
        }));
    }
    // created_at grows with the suite order, so that "creation order" is the suite's order
    conn.execute_raw(Statement::from_sql_and_values(
        DbBackend::Postgres,
        "INSERT INTO test_executions(id, test_case_id, test_run_id, configuration_id, status, created_at)
         SELECT o.id, o.case_id, $1, o.config, 'pending', now() + (o.n - 1) * interval '1 microsecond'
         FROM ROWS FROM (jsonb_to_recordset($2::jsonb) AS (id uuid, case_id uuid, config uuid))
              WITH ORDINALITY AS o(id, case_id, config, n)",
        [run.id.into(), serde_json::Value::Array(rows).into()],
    ))
    .await?;
    Ok(run)
}

/// The run with a client key in a project: the reporter's (run keys are each reporter's).
pub async fn run_by_key(
    conn: &impl ConnectionTrait,
    project: Uuid,
    key: &str,
    reporter: Option<&str>,
) -> AppResult<Option<test_run::Model>> {
    let row = conn
        .query_one_raw(Statement::from_sql_and_values(
            DbBackend::Postgres,
            "SELECT * FROM test_runs WHERE project_id = $1 AND run_key = $2
               AND triggered_by IS NOT DISTINCT FROM $3",
            [project.into(), key.into(), reporter.into()],
        ))
        .await?;
    row.map(|r| test_run::Model::from_query_result(&r, ""))
        .transpose()
        .map_err(Into::into)
}

/// Finishes a run with the outcome its results imply: FAILED when a case's latest attempt
/// failed, else PASSED (ABORTED when nothing was reported); open executions are cancelled.
/// Finishing a finished run answers it as it is.
pub async fn finish_run(conn: &impl ConnectionTrait, id: Uuid) -> AppResult<test_run::Model> {
    let run = lock_run(conn, id).await?;
    if !run_is_closed(&run) {
        conn.execute_raw(Statement::from_sql_and_values(
            DbBackend::Postgres,
            "SELECT refresh_test_run($1, true)",
            [id.into()],
        ))
        .await?;
    }
    get_run(conn, id)
        .await?
        .ok_or_else(|| AppError::not_found("TestRun", id))
}

/// Why a suite has nothing to run, from the cases of it the caller sees (those they do not see
/// are not counted: the answer is the same as for a suite without them).
async fn nothing_to_run(
    conn: &impl ConnectionTrait,
    suite: &entity::test_suite::Model,
) -> AppResult<String> {
    let rows = conn
        .query_all_raw(Statement::from_sql_and_values(
            DbBackend::Postgres,
            "SELECT tc.status, count(*) AS n FROM test_suite_test_cases m
             JOIN test_cases tc ON tc.id = m.test_case_id
             WHERE m.test_suite_id = $1 AND tc.project_id = $2
             GROUP BY tc.status ORDER BY tc.status",
            [suite.id.into(), suite.project_id.into()],
        ))
        .await?;
    let mut counts = Vec::with_capacity(rows.len());
    for row in &rows {
        let status: String = row.try_get("", "status")?;
        let n: i64 = row.try_get("", "n")?;
        counts.push(format!("{n} {status}"));
    }
    Ok(if counts.is_empty() {
        "the suite has no test cases to run: add some with addTestCasesToSuite".to_owned()
    } else {
        format!(
            "the suite has no active test cases to run ({}): a case runs once its status is \
             ACTIVE (updateTestCase with status: ACTIVE)",
            counts.join(", ")
        )
    })
}

/// The execution and its run, the run locked.
async fn execution_in_locked_run(
    conn: &impl ConnectionTrait,
    execution_id: Uuid,
) -> AppResult<(test_execution::Model, Option<test_run::Model>)> {
    let execution = get_execution(conn, execution_id)
        .await?
        .ok_or_else(|| AppError::not_found("TestExecution", execution_id))?;
    let run = match execution.test_run_id {
        Some(run_id) => Some(lock_run(conn, run_id).await?),
        None => None,
    };
    // re-read under the run's lock
    let execution = get_execution(conn, execution_id)
        .await?
        .ok_or_else(|| AppError::not_found("TestExecution", execution_id))?;
    Ok((execution, run))
}

/// PENDING → RUNNING; repeating it is harmless.
pub async fn start_execution(
    conn: &impl ConnectionTrait,
    id: Uuid,
) -> AppResult<test_execution::Model> {
    let (execution, run) = execution_in_locked_run(conn, id).await?;
    if let Some(run) = &run
        && run_is_closed(run)
    {
        return Err(conflict_status("run", run.status));
    }
    match execution.status {
        DbExecutionStatus::Running => Ok(execution),
        DbExecutionStatus::Pending => {
            let updated = test_execution::ActiveModel {
                id: sea_orm::ActiveValue::Unchanged(id),
                status: Set(DbExecutionStatus::Running),
                started_at: Set(Some(chrono::Utc::now().fixed_offset())),
                ..Default::default()
            }
            .update(conn)
            .await?;
            if let Some(run) = run {
                refresh_run(conn, run.id).await?;
            }
            Ok(updated)
        }
        other => Err(conflict_status("execution", other)),
    }
}

/// Records a step's result (creating or updating it); starts the execution if it was pending.
#[allow(clippy::too_many_arguments)]
pub async fn report_step(
    conn: &impl ConnectionTrait,
    execution_id: Uuid,
    step_id: Uuid,
    status: StepExecutionStatus,
    actual_result: Option<String>,
    error_message: Option<String>,
    duration_ms: Option<i32>,
) -> AppResult<test_step_execution::Model> {
    check_result_text("actualResult", actual_result.as_deref())?;
    check_result_text("errorMessage", error_message.as_deref())?;
    let (execution, run) = execution_in_locked_run(conn, execution_id).await?;
    if let Some(run) = &run
        && run_is_closed(run)
    {
        return Err(conflict_status("run", run.status));
    }
    if !is_open(execution.status) {
        return Err(conflict_status("execution", execution.status));
    }
    let belongs = conn
        .query_one_raw(Statement::from_sql_and_values(
            DbBackend::Postgres,
            "SELECT 1 FROM test_steps WHERE id = $1 AND test_case_id = $2",
            [step_id.into(), execution.test_case_id.into()],
        ))
        .await?
        .is_some();
    if !belongs {
        return Err(AppError::bad_input(
            "stepId",
            "no such step in the execution's test case",
        ));
    }
    if execution.status == DbExecutionStatus::Pending {
        start_execution(conn, execution_id).await?;
    } else if let Some(run) = &run {
        super::touch_run(conn, run.id).await?;
    }
    let status: entity::enums::StepExecutionStatus = status.into();
    let finished = matches!(
        status,
        entity::enums::StepExecutionStatus::Passed
            | entity::enums::StepExecutionStatus::Failed
            | entity::enums::StepExecutionStatus::Skipped
    );
    use sea_orm::ActiveEnum;
    let row = conn
        .query_one_raw(Statement::from_sql_and_values(
            DbBackend::Postgres,
            "INSERT INTO test_step_executions(id, test_execution_id, test_step_id, status, started_at, completed_at,
                                              duration_ms, error_message, actual_result)
             VALUES ($1, $2, $3, $4, now() - coalesce($5, 0) * interval '1 millisecond', CASE WHEN $6 THEN now() END, $5, $7, $8)
             ON CONFLICT (test_execution_id, test_step_id) DO UPDATE SET
                 status = EXCLUDED.status,
                 completed_at = CASE WHEN $6 THEN coalesce(test_step_executions.completed_at, now()) END,
                 duration_ms = coalesce(EXCLUDED.duration_ms, test_step_executions.duration_ms),
                 error_message = EXCLUDED.error_message,
                 actual_result = EXCLUDED.actual_result
             RETURNING *",
            [
                Uuid::now_v7().into(),
                execution_id.into(),
                step_id.into(),
                status.to_value().into(),
                duration_ms.into(),
                finished.into(),
                error_message.into(),
                actual_result.into(),
            ],
        ))
        .await?
        .ok_or_else(|| AppError::internal("step result insert returned nothing"))?;
    Ok(test_step_execution::Model::from_query_result(&row, "")?)
}

/// Finishes an execution with an outcome. Repeating the same outcome is harmless; a different
/// one is a CONFLICT.
pub async fn complete_execution(
    conn: &impl ConnectionTrait,
    id: Uuid,
    outcome: Outcome,
    error_message: Option<String>,
    execution_metadata: Option<serde_json::Value>,
    duration_ms: Option<i32>,
) -> AppResult<test_execution::Model> {
    check_result_text("errorMessage", error_message.as_deref())?;
    if let Some(m) = &execution_metadata {
        check_object("executionMetadata", m)?;
    }
    let (execution, run) = execution_in_locked_run(conn, id).await?;
    let target: DbExecutionStatus = outcome.into();
    if execution.status == target {
        return Ok(execution);
    }
    if let Some(run) = &run
        && run_is_closed(run)
    {
        return Err(conflict_status("run", run.status));
    }
    if !is_open(execution.status) {
        return Err(conflict_status("execution", execution.status));
    }
    let now = chrono::Utc::now().fixed_offset();
    let started = execution.started_at.unwrap_or_else(|| {
        now - chrono::Duration::milliseconds(i64::from(duration_ms.unwrap_or(0)))
    });
    let duration = duration_ms.unwrap_or_else(|| {
        let max = i64::from(crate::input::DURATION_MAX_SECONDS) * 1000;
        (now - started).num_milliseconds().clamp(0, max) as i32
    });
    let mut model = test_execution::ActiveModel {
        id: sea_orm::ActiveValue::Unchanged(id),
        status: Set(target),
        started_at: Set(Some(started)),
        completed_at: Set(Some(now)),
        duration_ms: Set(Some(duration)),
        error_message: Set(error_message),
        ..Default::default()
    };
    if let Some(m) = execution_metadata {
        model.execution_metadata = Set(Some(m));
    }
    let updated = model.update(conn).await?;
    if let Some(run) = run {
        refresh_run(conn, run.id).await?;
    }
    Ok(updated)
}

/// A new attempt of a failed execution, up to the case's retry count; every attempt is kept.
pub async fn retry_execution(
    conn: &impl ConnectionTrait,
    id: Uuid,
) -> AppResult<test_execution::Model> {
    let (execution, run) = execution_in_locked_run(conn, id).await?;
    let run =
        run.ok_or_else(|| AppError::conflict(None, "only executions of a run can be retried"))?;
    if run_is_closed(&run) {
        return Err(conflict_status("run", run.status));
    }
    if execution.status != DbExecutionStatus::Failed {
        return Err(AppError::conflict(
            Some("status"),
            format!(
                "only a FAILED execution can be retried; this one is {}",
                status_name(execution.status)
            ),
        ));
    }
    let latest = conn
        .query_one_raw(Statement::from_sql_and_values(
            DbBackend::Postgres,
            "SELECT max(e.retry_attempt) AS latest, max(tc.retry_count) AS budget
             FROM test_executions e JOIN test_cases tc ON tc.id = e.test_case_id
             WHERE e.test_run_id = $1 AND e.test_case_id = $2",
            [run.id.into(), execution.test_case_id.into()],
        ))
        .await?
        .ok_or_else(|| AppError::internal("attempts query returned nothing"))?;
    let budget: i32 = latest.try_get::<Option<i32>>("", "budget")?.unwrap_or(0);
    let latest: i32 = latest.try_get::<Option<i32>>("", "latest")?.unwrap_or(0);
    if execution.retry_attempt != latest {
        return Err(AppError::conflict(
            Some("id"),
            "a later attempt of this case exists; retry that one",
        ));
    }
    if latest >= budget {
        return Err(AppError::conflict(
            Some("retryAttempt"),
            format!("the case allows {budget} retries and all were used"),
        ));
    }
    let attempt = test_execution::ActiveModel {
        id: Set(Uuid::now_v7()),
        test_case_id: Set(execution.test_case_id),
        test_run_id: Set(Some(run.id)),
        configuration_id: Set(execution.configuration_id),
        status: Set(DbExecutionStatus::Pending),
        retry_attempt: Set(latest + 1),
        ..Default::default()
    }
    .insert(conn)
    .await?;
    refresh_run(conn, run.id).await?;
    Ok(attempt)
}

/// Cancels a run: its open executions become CANCELLED. Cancelling twice is harmless.
pub async fn cancel_run(conn: &impl ConnectionTrait, id: Uuid) -> AppResult<test_run::Model> {
    let run = lock_run(conn, id).await?;
    match run.status {
        DbRunStatus::Cancelled => return Ok(run),
        // any other finished run keeps its outcome
        status if run_is_closed(&run) => return Err(conflict_status("run", status)),
        _ => {}
    }
    conn.execute_raw(Statement::from_sql_and_values(
        DbBackend::Postgres,
        "UPDATE test_executions SET status = 'cancelled', completed_at = now()
         WHERE test_run_id = $1 AND status IN ('pending', 'running')",
        [id.into()],
    ))
    .await?;
    conn.execute_raw(Statement::from_sql_and_values(
        DbBackend::Postgres,
        "UPDATE test_runs SET status = 'cancelled', completed_at = now() WHERE id = $1",
        [id.into()],
    ))
    .await?;
    refresh_run(conn, id).await?;
    get_run(conn, id)
        .await?
        .ok_or_else(|| AppError::not_found("TestRun", id))
}

/// Checks an artifact's metadata; `field` prefixes the reported fields.
pub fn check_artifact(field: &str, a: &ArtifactInput) -> AppResult<()> {
    let f = |name: &str| format!("{field}{name}");
    check_name(&f("fileName"), &a.file_name, NAME_MAX)?;
    check_name(&f("filePath"), &a.file_path, FILE_PATH_MAX)?;
    check_len(&f("mimeType"), a.mime_type.as_deref(), MIME_TYPE_MAX)?;
    if let Some(size) = a.file_size
        && (!(0.0..=9.0e15).contains(&size) || size.fract() != 0.0)
    {
        return Err(AppError::bad_input(
            f("fileSize"),
            "fileSize must be a whole number of bytes, 0 or more",
        ));
    }
    if let Some(m) = &a.metadata {
        check_object(&f("metadata"), &m.0)?;
    }
    Ok(())
}

/// Checks, for an artifact, that the caller may report into the run of an execution (when it
/// belongs to a run), and keeps the run from being deleted meanwhile: a shared lock, so that
/// artifacts uploaded into one run at once (a CI job's parallel workers) do not wait for each
/// other. One who may read the run but not report into it is refused for that (NOT_FOUND on
/// the run, which the caller explains), not told that the execution does not exist.
pub async fn lock_execution_run(conn: &impl ConnectionTrait, execution: Uuid) -> AppResult<()> {
    if let Some(run) = get_execution(conn, execution)
        .await?
        .and_then(|e| e.test_run_id)
    {
        super::share_run(conn, run).await?;
        super::touch_run(conn, run).await?;
    }
    Ok(())
}

/// Attaches an artifact's metadata to an execution or a step result.
pub async fn attach_artifact(
    conn: &impl ConnectionTrait,
    input: AttachArtifactInput,
) -> AppResult<test_artifact::Model> {
    check_artifact("artifact.", &input.artifact)?;
    let (execution_id, step_execution_id) = match (input.execution_id, input.step_execution_id) {
        (Some(e), None) => {
            get_execution(conn, e)
                .await?
                .ok_or_else(|| AppError::not_found("TestExecution", e))?;
            (Some(e), None)
        }
        (None, Some(s)) => {
            let step = test_step_execution::Entity::find_by_id(s)
                .one(conn)
                .await?
                .ok_or_else(|| AppError::not_found("TestStepExecution", s))?;
            (Some(step.test_execution_id), Some(s))
        }
        _ => {
            return Err(AppError::bad_input(
                "executionId",
                "give exactly one of executionId and stepExecutionId",
            ));
        }
    };
    if let Some(execution) = execution_id {
        lock_execution_run(conn, execution).await?;
    }
    let a = input.artifact;
    Ok(test_artifact::ActiveModel {
        id: Set(Uuid::now_v7()),
        test_execution_id: Set(execution_id),
        test_step_execution_id: Set(step_execution_id),
        artifact_type: Set(a.artifact_type.into()),
        file_name: Set(a.file_name),
        file_path: Set(a.file_path),
        mime_type: Set(a.mime_type),
        file_size: Set(a.file_size.map(|s| s as i64)),
        metadata: Set(Some(
            a.metadata
                .map(|j| j.0)
                .unwrap_or_else(|| serde_json::json!({})),
        )),
        ..Default::default()
    }
    .insert(conn)
    .await?)
}
