//! Bulk result reporting: thousands of executions with their step results and artifacts in a
//! few statements (multi-row writes over `unnest`), each item idempotent by its key, each
//! answered with its own outcome; valid items are written even when others are rejected.

use std::collections::{HashMap, HashSet};

use sea_orm::{ActiveEnum, ConnectionTrait, DbBackend, Statement};
use uuid::Uuid;

use super::lifecycle::check_artifact;
use super::{lock_run, refresh_run, status_name};
use crate::input::{check_duration, check_list, check_object, check_result_text};

/// Most artifacts one result may carry.
const ARTIFACTS_PER_RESULT_MAX: usize = 100;
use crate::error::{AppError, AppResult};
use crate::runs::types::{ReportItemResult, ReportResultInput};

/// Most items one report may carry: bounds a request's memory and transaction.
pub const MAX_REPORT_ITEMS: usize = 10_000;

/// Longest idempotency key (`VARCHAR(200)`).
const IDEMPOTENCY_KEY_MAX: usize = 200;

fn rejected(key: &str, error: AppError) -> ReportItemResult {
    let code = error.code().to_owned();
    let field = error.field().map(str::to_owned);
    let message = error.message();
    ReportItemResult {
        idempotency_key: key.to_owned(),
        ok: false,
        duplicate: false,
        execution_id: None,
        error_code: Some(code),
        error_field: field,
        error_message: Some(message),
    }
}

fn accepted(key: &str, execution: Option<Uuid>, duplicate: bool) -> ReportItemResult {
    ReportItemResult {
        idempotency_key: key.to_owned(),
        ok: true,
        duplicate,
        execution_id: execution,
        error_code: None,
        error_field: None,
        error_message: None,
    }
}

/// Checks what can be checked without the database.
fn check_item(i: usize, item: &ReportResultInput) -> AppResult<()> {
    let f = |name: &str| format!("results.{i}.{name}");
    let key_len = item.idempotency_key.chars().count();
    if item.idempotency_key.trim().is_empty() || key_len > IDEMPOTENCY_KEY_MAX {
        return Err(AppError::bad_input(
            f("idempotencyKey"),
            format!("idempotencyKey must be 1 to {IDEMPOTENCY_KEY_MAX} characters"),
        ));
    }
    check_duration(&f("durationSeconds"), item.duration_seconds)?;
    check_result_text(&f("errorMessage"), item.error_message.as_deref())?;
    if let Some(m) = &item.execution_metadata {
        check_object(&f("executionMetadata"), &m.0)?;
    }
    check_list(
        &f("steps"),
        item.steps.as_ref().map_or(0, Vec::len),
        crate::catalog::service::cases::STEPS_MAX,
    )?;
    check_list(
        &f("artifacts"),
        item.artifacts.as_ref().map_or(0, Vec::len),
        ARTIFACTS_PER_RESULT_MAX,
    )?;
    let mut steps = HashSet::new();
    for (j, s) in item.steps.iter().flatten().enumerate() {
        if !steps.insert(s.step_id) {
            return Err(AppError::bad_input(
                f(&format!("steps.{j}.stepId")),
                "a step is reported twice",
            ));
        }
        check_duration(
            &f(&format!("steps.{j}.durationSeconds")),
            s.duration_seconds,
        )?;
        check_result_text(
            &f(&format!("steps.{j}.errorMessage")),
            s.error_message.as_deref(),
        )?;
        check_result_text(
            &f(&format!("steps.{j}.actualResult")),
            s.actual_result.as_deref(),
        )?;
        if let Some(m) = &s.step_metadata {
            check_object(&f(&format!("steps.{j}.stepMetadata")), &m.0)?;
        }
    }
    for (j, a) in item.artifacts.iter().flatten().enumerate() {
        check_artifact(&f(&format!("artifacts.{j}.")), a)?;
    }
    Ok(())
}

/// Writes a batch of results into a run; returns one outcome per item, in input order.
pub async fn report(
    conn: &impl ConnectionTrait,
    run_id: Uuid,
    items: Vec<ReportResultInput>,
) -> AppResult<Vec<ReportItemResult>> {
    if items.len() > MAX_REPORT_ITEMS {
        return Err(AppError::bad_input(
            "results",
            format!("at most {MAX_REPORT_ITEMS} results per report"),
        ));
    }
    let run = lock_run(conn, run_id).await?;
    let mut outcome: Vec<Option<ReportItemResult>> = vec![None; items.len()];

    // keys already recorded by earlier reports: every key of the run (keys are the run's, seen
    // with it), each with its execution only when the caller may see that (erratum 11)
    let keys: Vec<String> = items.iter().map(|i| i.idempotency_key.clone()).collect();
    let recorded: HashMap<String, Option<Uuid>> = conn
        .query_all_raw(Statement::from_sql_and_values(
            DbBackend::Postgres,
            "SELECT r.idempotency_key, te.id AS test_execution_id FROM test_result_reports r
             LEFT JOIN test_executions te ON te.id = r.test_execution_id
             WHERE r.test_run_id = $1 AND r.idempotency_key = ANY($2)",
            [run_id.into(), keys.into()],
        ))
        .await?
        .iter()
        .map(|r| {
            Ok((
                r.try_get("", "idempotency_key")?,
                r.try_get("", "test_execution_id")?,
            ))
        })
        .collect::<AppResult<_>>()?;

    // the latest attempt of each case of the batch, and the steps of those cases
    let case_ids: Vec<Uuid> = items
        .iter()
        .map(|i| i.test_case_id)
        .collect::<HashSet<_>>()
        .into_iter()
        .collect();
    let latest: HashMap<Uuid, (Uuid, entity::enums::ExecutionStatus)> = conn
        .query_all_raw(Statement::from_sql_and_values(
            DbBackend::Postgres,
            "SELECT DISTINCT ON (test_case_id) test_case_id, id, status FROM test_executions
             WHERE test_run_id = $1 AND test_case_id = ANY($2)
             ORDER BY test_case_id, retry_attempt DESC",
            [run_id.into(), case_ids.clone().into()],
        ))
        .await?
        .iter()
        .map(|r| {
            let status: String = r.try_get("", "status")?;
            let status = entity::enums::ExecutionStatus::try_from_value(&status)
                .map_err(|_| AppError::internal(format!("unknown execution status {status}")))?;
            Ok((
                r.try_get("", "test_case_id")?,
                (r.try_get("", "id")?, status),
            ))
        })
        .collect::<AppResult<_>>()?;
    let steps_of: HashSet<(Uuid, Uuid)> = conn
        .query_all_raw(Statement::from_sql_and_values(
            DbBackend::Postgres,
            "SELECT test_case_id, id FROM test_steps WHERE test_case_id = ANY($1)",
            [case_ids.into()],
        ))
        .await?
        .iter()
        .map(|r| Ok((r.try_get("", "test_case_id")?, r.try_get("", "id")?)))
        .collect::<AppResult<_>>()?;

    let mut seen_keys = HashSet::new();
    let mut seen_cases = HashSet::new();
    let mut writes: Vec<(usize, Uuid)> = Vec::new();
    for (i, item) in items.iter().enumerate() {
        let key = &item.idempotency_key;
        // before the recorded keys, so that a re-sent report rejects the same items again
        // rather than vouching for the second item of a key with the first one's execution
        if !seen_keys.insert(key.clone()) {
            outcome[i] = Some(rejected(
                key,
                AppError::bad_input(
                    format!("results.{i}.idempotencyKey"),
                    "the key is used twice in this report",
                ),
            ));
            continue;
        }
        if let Some(execution) = recorded.get(key) {
            outcome[i] = Some(accepted(key, *execution, true));
            continue;
        }
        let verdict = (|| -> AppResult<Uuid> {
            check_item(i, item)?;
            if matches!(run.status, entity::enums::RunStatus::Cancelled) {
                return Err(AppError::conflict(
                    Some("runId"),
                    format!("the run is {}", status_name(run.status)),
                ));
            }
            let (execution, status) = latest.get(&item.test_case_id).copied().ok_or_else(|| {
                AppError::bad_input(
                    format!("results.{i}.testCaseId"),
                    "the test case is not in this run",
                )
            })?;
            if !seen_cases.insert(item.test_case_id) {
                return Err(AppError::conflict(
                    Some(&format!("results.{i}.testCaseId")),
                    "the test case has another result in this report",
                ));
            }
            if !matches!(
                status,
                entity::enums::ExecutionStatus::Pending | entity::enums::ExecutionStatus::Running
            ) {
                return Err(AppError::conflict(
                    Some(&format!("results.{i}.testCaseId")),
                    format!("the case's latest execution is {}", status_name(status)),
                ));
            }
            for (j, s) in item.steps.iter().flatten().enumerate() {
                if !steps_of.contains(&(item.test_case_id, s.step_id)) {
                    return Err(AppError::bad_input(
                        format!("results.{i}.steps.{j}.stepId"),
                        "no such step in the test case",
                    ));
                }
            }
            Ok(execution)
        })();
        match verdict {
            Ok(execution) => writes.push((i, execution)),
            Err(e) => outcome[i] = Some(rejected(key, e)),
        }
    }

    if !writes.is_empty() {
        write_batch(conn, run_id, &items, &writes).await?;
        refresh_run(conn, run_id).await?;
        for (i, execution) in &writes {
            outcome[*i] = Some(accepted(
                &items[*i].idempotency_key,
                Some(*execution),
                false,
            ));
        }
    }
    Ok(outcome
        .into_iter()
        .enumerate()
        .map(|(i, o)| {
            o.unwrap_or_else(|| {
                rejected(&items[i].idempotency_key, AppError::internal("no outcome"))
            })
        })
        .collect())
}

/// The multi-row writes of the accepted items: each table's rows travel as one JSON array
/// (`jsonb_to_recordset`), which carries NULLs that SQL arrays of parameters cannot.
async fn write_batch(
    conn: &impl ConnectionTrait,
    run_id: Uuid,
    items: &[ReportResultInput],
    writes: &[(usize, Uuid)],
) -> AppResult<()> {
    use chrono::SubsecRound;
    use serde_json::{Value, json};
    // PostgreSQL keeps microseconds: truncated here, the start computed from it (sent as JSON
    // text, which PostgreSQL would round) and the completion (a binary parameter, which the
    // driver truncates) stay exactly `duration` apart
    let now = chrono::Utc::now().fixed_offset().trunc_subsecs(6);
    let mut executions = Vec::with_capacity(writes.len());
    let mut steps = Vec::new();
    let mut artifacts = Vec::new();
    let mut reports = Vec::with_capacity(writes.len());
    for (i, execution) in writes {
        let item = &items[*i];
        let status: entity::enums::ExecutionStatus = item.status.into();
        let started = item.started_at.unwrap_or_else(|| {
            now - chrono::Duration::seconds(i64::from(item.duration_seconds.unwrap_or(0)))
        });
        executions.push(json!({
            "id": execution,
            "status": status.to_value(),
            "started": started,
            "duration": item.duration_seconds,
            "error": item.error_message,
            "meta": item.execution_metadata.as_ref().map(|m| m.0.clone()),
        }));
        reports.push(json!({ "key": item.idempotency_key, "exec": execution }));
        for s in item.steps.iter().flatten() {
            let st: entity::enums::StepExecutionStatus = s.status.into();
            steps.push(json!({
                "id": Uuid::now_v7(),
                "exec": execution,
                "step": s.step_id,
                "status": st.to_value(),
                "duration": s.duration_seconds,
                "error": s.error_message,
                "actual": s.actual_result,
                "meta": s.step_metadata.as_ref().map(|m| m.0.clone()).unwrap_or_else(|| json!({})),
            }));
        }
        for a in item.artifacts.iter().flatten() {
            let t: entity::enums::ArtifactType = a.artifact_type.into();
            artifacts.push(json!({
                "id": Uuid::now_v7(),
                "exec": execution,
                "type": t.to_value(),
                "name": a.file_name,
                "path": a.file_path,
                "mime": a.mime_type,
                "size": a.file_size.map(|s| s as i64),
                "meta": a.metadata.as_ref().map(|m| m.0.clone()).unwrap_or_else(|| json!({})),
            }));
        }
    }

    conn.execute_raw(Statement::from_sql_and_values(
        DbBackend::Postgres,
        "UPDATE test_executions e SET
             status = r.status, started_at = coalesce(e.started_at, r.started),
             completed_at = $2::timestamptz,
             duration_seconds = coalesce(r.duration,
                 greatest(0, extract(epoch FROM $2::timestamptz - coalesce(e.started_at, r.started))::int)),
             error_message = r.error,
             execution_metadata = coalesce(r.meta, e.execution_metadata)
         FROM jsonb_to_recordset($1::jsonb)
              AS r(id uuid, status text, started timestamptz, duration int, error text, meta jsonb)
         WHERE e.id = r.id",
        [Value::Array(executions).into(), now.into()],
    ))
    .await?;

    if !steps.is_empty() {
        conn.execute_raw(Statement::from_sql_and_values(
            DbBackend::Postgres,
            "INSERT INTO test_step_executions(id, test_execution_id, test_step_id, status, started_at, completed_at,
                                              duration_seconds, error_message, actual_result, step_metadata)
             SELECT r.id, r.exec, r.step, r.status,
                    $2::timestamptz - coalesce(r.duration, 0) * interval '1 second',
                    CASE WHEN r.status IN ('passed', 'failed', 'skipped') THEN $2::timestamptz END,
                    r.duration, r.error, r.actual, r.meta
             FROM jsonb_to_recordset($1::jsonb)
                  AS r(id uuid, exec uuid, step uuid, status text, duration int, error text, actual text, meta jsonb)
             ON CONFLICT (test_execution_id, test_step_id) DO UPDATE SET
                 status = EXCLUDED.status, completed_at = EXCLUDED.completed_at,
                 duration_seconds = EXCLUDED.duration_seconds, error_message = EXCLUDED.error_message,
                 actual_result = EXCLUDED.actual_result, step_metadata = EXCLUDED.step_metadata",
            [Value::Array(steps).into(), now.into()],
        ))
        .await?;
    }

    if !artifacts.is_empty() {
        conn.execute_raw(Statement::from_sql_and_values(
            DbBackend::Postgres,
            "INSERT INTO test_artifacts(id, test_execution_id, artifact_type, file_name, file_path, mime_type, file_size, metadata)
             SELECT r.id, r.exec, r.type, r.name, r.path, r.mime, r.size, r.meta
             FROM jsonb_to_recordset($1::jsonb)
                  AS r(id uuid, exec uuid, type text, name text, path text, mime text, size bigint, meta jsonb)",
            [Value::Array(artifacts).into()],
        ))
        .await?;
    }

    conn.execute_raw(Statement::from_sql_and_values(
        DbBackend::Postgres,
        "INSERT INTO test_result_reports(test_run_id, idempotency_key, test_execution_id)
         SELECT $1, r.key, r.exec FROM jsonb_to_recordset($2::jsonb) AS r(key text, exec uuid)",
        [run_id.into(), Value::Array(reports).into()],
    ))
    .await?;
    Ok(())
}
