//! Writing results into a run: thousands of executions with their step results and artifacts
//! in a few statements (multi-row writes over `jsonb_to_recordset`), each item idempotent by
//! its key, each answered with its own outcome; valid items are written even when others are
//! rejected. The one write path of results: `reportResults` and the import of report files
//! both come here ([`ResultItem`]).

use std::collections::{HashMap, HashSet};

use entity::enums::{ExecutionStatus, RunStatus, StepExecutionStatus};
use sea_orm::{ActiveEnum, ConnectionTrait, DbBackend, Statement};
use serde_json::{Value, json};
use uuid::Uuid;

use super::lifecycle::check_artifact;
use super::{lock_run, refresh_run, status_name};
use crate::error::{AppError, AppResult};
use crate::input::{
    NAME_MAX, TEST_KEY_MAX, check_len, check_list, check_name, check_object, check_result_text,
};
use crate::runs::types::{ArtifactInput, ReportItemResult, ReportResultInput};
use crate::scalars::Timestamp;

/// Most artifacts one result may carry.
const ARTIFACTS_PER_RESULT_MAX: usize = 100;

/// Most items one report may carry: bounds a request's memory and transaction.
pub const MAX_REPORT_ITEMS: usize = 10_000;

/// Longest idempotency key (`VARCHAR(200)`).
const IDEMPOTENCY_KEY_MAX: usize = 200;

/// Longest category (`VARCHAR(100)`).
pub const CATEGORY_MAX: usize = 100;

/// Most earlier attempts one result may carry.
pub const ATTEMPTS_MAX: usize = 10;

/// The test a result is for.
#[derive(Debug, Clone)]
pub enum TestRef {
    /// A case by id: its latest attempt in the run.
    Case(Uuid),
    /// A test by its identity key, created when unknown.
    Key(TestKey),
}

/// A test by its identity key, with what a case created for it gets.
#[derive(Debug, Clone)]
pub struct TestKey {
    pub key: String,
    pub name: String,
    pub suite: Option<String>,
    pub file: Option<String>,
    pub tags: Vec<String>,
}

/// One attempt's outcome.
#[derive(Debug, Clone)]
pub struct AttemptData {
    pub status: ExecutionStatus,
    pub duration_ms: Option<i32>,
    pub error_message: Option<String>,
    pub metadata: Option<Value>,
}

/// A step by id or by name.
#[derive(Debug, Clone)]
pub enum StepRef {
    Id(Uuid),
    Name(String),
}

/// A step's result.
#[derive(Debug, Clone)]
pub struct StepData {
    pub step: StepRef,
    pub status: StepExecutionStatus,
    pub duration_ms: Option<i32>,
    pub error_message: Option<String>,
    pub actual_result: Option<String>,
    pub metadata: Option<Value>,
}

/// One result to write: a test's final attempt, the attempts before it, its steps (of the
/// final attempt) and artifacts.
#[derive(Debug, Clone)]
pub struct ResultItem {
    pub idempotency_key: String,
    /// How errors name the item: `results.3` (GraphQL) or a place in a file.
    pub field: String,
    pub test: TestRef,
    pub started_at: Option<Timestamp>,
    /// Earlier attempts, oldest first.
    pub earlier: Vec<AttemptData>,
    pub last: AttemptData,
    pub steps: Vec<StepData>,
    pub artifacts: Vec<ArtifactInput>,
    /// An error found while reading the item (its input), reported as its outcome.
    pub invalid: Option<AppError>,
}

/// How results are written.
#[derive(Debug, Clone, Copy)]
pub struct WriteOptions {
    /// Results for unknown keys are rejected instead of creating cases.
    pub known_only: bool,
    /// Whether the run's counters and status are recounted after the write. An import
    /// recounts at intervals and at its end; every other writer after each write.
    pub recount: bool,
}

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

/// A GraphQL result as an item to write; a bad value makes it an item with its error.
pub fn from_input(i: usize, item: ReportResultInput) -> ResultItem {
    let field = format!("results.{i}");
    let f = |name: &str| format!("{field}.{name}");
    let mut invalid = None;
    let mut fail = |e: AppError| {
        invalid.get_or_insert(e);
    };
    let duration = crate::input::duration_ms(
        &f("durationSeconds"),
        item.duration_seconds,
        &f("durationMs"),
        item.duration_ms,
    )
    .unwrap_or_else(|e| {
        fail(e);
        None
    });
    let test = match (item.test_case_id, item.test_key) {
        (Some(id), None) => TestRef::Case(id),
        (None, Some(key)) => TestRef::Key(TestKey {
            name: item.test_name.unwrap_or_else(|| key.clone()),
            key,
            suite: item.test_suite,
            file: None,
            tags: Vec::new(),
        }),
        _ => {
            fail(AppError::bad_input(
                f("testCaseId"),
                "give exactly one of testCaseId and testKey",
            ));
            TestRef::Case(Uuid::nil())
        }
    };
    let mut steps = Vec::new();
    for (j, s) in item.steps.into_iter().flatten().enumerate() {
        let sf = |name: &str| format!("{field}.steps.{j}.{name}");
        let duration = crate::input::duration_ms(
            &sf("durationSeconds"),
            s.duration_seconds,
            &sf("durationMs"),
            s.duration_ms,
        )
        .unwrap_or_else(|e| {
            fail(e);
            None
        });
        let step = match (s.step_id, s.step_name) {
            (Some(id), None) => StepRef::Id(id),
            (None, Some(name)) => StepRef::Name(name),
            _ => {
                fail(AppError::bad_input(
                    sf("stepId"),
                    "give exactly one of stepId and stepName",
                ));
                StepRef::Id(Uuid::nil())
            }
        };
        steps.push(StepData {
            step,
            status: s.status.into(),
            duration_ms: duration,
            error_message: s.error_message,
            actual_result: s.actual_result,
            metadata: s.step_metadata.map(|m| m.0),
        });
    }
    ResultItem {
        idempotency_key: item.idempotency_key,
        test,
        started_at: item.started_at,
        earlier: Vec::new(),
        last: AttemptData {
            status: item.status.into(),
            duration_ms: duration,
            error_message: item.error_message,
            metadata: item.execution_metadata.map(|m| m.0),
        },
        steps,
        artifacts: item.artifacts.unwrap_or_default(),
        invalid,
        field,
    }
}

/// Checks what can be checked without the database.
fn check_item(item: &ResultItem) -> AppResult<()> {
    if let Some(e) = &item.invalid {
        return Err(e.clone());
    }
    let f = |name: &str| format!("{}.{name}", item.field);
    let key_len = item.idempotency_key.chars().count();
    if item.idempotency_key.trim().is_empty() || key_len > IDEMPOTENCY_KEY_MAX {
        return Err(AppError::bad_input(
            f("idempotencyKey"),
            format!("idempotencyKey must be 1 to {IDEMPOTENCY_KEY_MAX} characters"),
        ));
    }
    if let TestRef::Key(k) = &item.test {
        check_name(&f("testKey"), &k.key, TEST_KEY_MAX)?;
        check_name(&f("testName"), &k.name, NAME_MAX)?;
        check_len(&f("testSuite"), k.suite.as_deref(), CATEGORY_MAX)?;
        check_len(&f("file"), k.file.as_deref(), TEST_KEY_MAX)?;
        crate::input::check_tags(&f("tags"), &k.tags)?;
    }
    check_list(&f("retries"), item.earlier.len(), ATTEMPTS_MAX)?;
    for attempt in item.earlier.iter().chain([&item.last]) {
        check_result_text(&f("errorMessage"), attempt.error_message.as_deref())?;
        if let Some(m) = &attempt.metadata {
            check_object(&f("executionMetadata"), m)?;
        }
    }
    check_list(
        &f("steps"),
        item.steps.len(),
        crate::catalog::service::cases::STEPS_MAX,
    )?;
    check_list(
        &f("artifacts"),
        item.artifacts.len(),
        ARTIFACTS_PER_RESULT_MAX,
    )?;
    let mut ids = HashSet::new();
    let mut names = HashSet::new();
    for (j, s) in item.steps.iter().enumerate() {
        let twice = match &s.step {
            StepRef::Id(id) => !ids.insert(*id),
            StepRef::Name(name) => {
                check_name(&f(&format!("steps.{j}.stepName")), name, NAME_MAX)?;
                !names.insert(name.as_str())
            }
        };
        if twice {
            return Err(AppError::bad_input(
                f(&format!("steps.{j}.stepId")),
                "a step is reported twice",
            ));
        }
        check_result_text(
            &f(&format!("steps.{j}.errorMessage")),
            s.error_message.as_deref(),
        )?;
        check_result_text(
            &f(&format!("steps.{j}.actualResult")),
            s.actual_result.as_deref(),
        )?;
        if let Some(m) = &s.metadata {
            check_object(&f(&format!("steps.{j}.stepMetadata")), m)?;
        }
    }
    for (j, a) in item.artifacts.iter().enumerate() {
        check_artifact(&f(&format!("artifacts.{j}.")), a)?;
    }
    Ok(())
}

/// Whether a run takes no more results.
pub fn run_is_finished(status: RunStatus) -> bool {
    !matches!(status, RunStatus::Pending | RunStatus::Running)
}

/// Writes GraphQL results into a run; one outcome per item, in input order.
pub async fn report(
    conn: &impl ConnectionTrait,
    run_id: Uuid,
    items: Vec<ReportResultInput>,
    options: WriteOptions,
) -> AppResult<Vec<ReportItemResult>> {
    if items.len() > MAX_REPORT_ITEMS {
        return Err(AppError::bad_input(
            "results",
            format!("at most {MAX_REPORT_ITEMS} results per report"),
        ));
    }
    let items = items
        .into_iter()
        .enumerate()
        .map(|(i, item)| from_input(i, item))
        .collect();
    write(conn, run_id, items, options).await
}

/// An execution row to write: a new attempt, or the case's open attempt completed.
struct Planned {
    item: usize,
    /// The execution of each attempt, oldest first (the last one is the item's).
    executions: Vec<(Uuid, i32)>,
    /// Whether the first of them is the case's open attempt (completed, not inserted).
    completes_open: bool,
}

/// Writes results into a run; one outcome per item, in input order.
pub async fn write(
    conn: &impl ConnectionTrait,
    run_id: Uuid,
    items: Vec<ResultItem>,
    options: WriteOptions,
) -> AppResult<Vec<ReportItemResult>> {
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

    // what needs no lookup: duplicates, keys twice, bad values, a finished run
    let mut seen_keys = HashSet::new();
    let mut live = Vec::with_capacity(items.len());
    for (i, item) in items.iter().enumerate() {
        let key = &item.idempotency_key;
        // before the recorded keys, so that a re-sent report rejects the same items again
        // rather than vouching for the second item of a key with the first one's execution
        if !seen_keys.insert(key.clone()) {
            outcome[i] = Some(rejected(
                key,
                AppError::bad_input(
                    format!("{}.idempotencyKey", item.field),
                    "the key is used twice in this report",
                ),
            ));
            continue;
        }
        if let Some(execution) = recorded.get(key) {
            outcome[i] = Some(accepted(key, *execution, true));
            continue;
        }
        let verdict = check_item(item).and_then(|()| {
            if run_is_finished(run.status) {
                Err(AppError::conflict(
                    Some("runId"),
                    format!("the run is {}", status_name(run.status)),
                ))
            } else {
                Ok(())
            }
        });
        match verdict {
            Ok(()) => live.push(i),
            Err(e) => outcome[i] = Some(rejected(key, e)),
        }
    }

    // the cases of the results given by key, created when unknown (a suite run takes results
    // for its own cases only: nothing is created for it)
    let options = WriteOptions {
        known_only: options.known_only || !run.ad_hoc,
        ..options
    };
    let case_of_key = cases_by_key(conn, &run, &items, &live, options).await?;
    // cases given by id: an ad-hoc run takes those of its project the caller sees (a suite
    // run's are its executions')
    let foreign: HashSet<Uuid> = if run.ad_hoc {
        let ids: Vec<Uuid> = live
            .iter()
            .filter_map(|i| match items[*i].test {
                TestRef::Case(id) => Some(id),
                TestRef::Key(_) => None,
            })
            .collect();
        let found: HashSet<Uuid> = if ids.is_empty() {
            HashSet::new()
        } else {
            conn.query_all_raw(Statement::from_sql_and_values(
                DbBackend::Postgres,
                "SELECT id FROM test_cases WHERE id = ANY($1) AND project_id = $2",
                [ids.clone().into(), run.project_id.into()],
            ))
            .await?
            .iter()
            .map(|r| r.try_get("", "id"))
            .collect::<Result<_, _>>()?
        };
        ids.into_iter().filter(|id| !found.contains(id)).collect()
    } else {
        HashSet::new()
    };
    let case_of = |item: &ResultItem| match &item.test {
        TestRef::Case(id) => Some(*id),
        TestRef::Key(k) => case_of_key.get(&k.key).copied(),
    };

    // the latest attempt of each case of the batch, and the steps of those cases
    let case_ids: Vec<Uuid> = live
        .iter()
        .filter_map(|i| case_of(&items[*i]))
        .collect::<HashSet<_>>()
        .into_iter()
        .collect();
    let latest: HashMap<Uuid, (Uuid, i32, ExecutionStatus)> = conn
        .query_all_raw(Statement::from_sql_and_values(
            DbBackend::Postgres,
            "SELECT DISTINCT ON (test_case_id) test_case_id, id, retry_attempt, status
             FROM test_executions WHERE test_run_id = $1 AND test_case_id = ANY($2)
             ORDER BY test_case_id, retry_attempt DESC",
            [run_id.into(), case_ids.clone().into()],
        ))
        .await?
        .iter()
        .map(|r| {
            let status: String = r.try_get("", "status")?;
            let status = ExecutionStatus::try_from_value(&status)
                .map_err(|_| AppError::internal(format!("unknown execution status {status}")))?;
            Ok((
                r.try_get("", "test_case_id")?,
                (
                    r.try_get("", "id")?,
                    r.try_get("", "retry_attempt")?,
                    status,
                ),
            ))
        })
        .collect::<AppResult<_>>()?;
    let has_step_ids = live.iter().any(|i| {
        items[*i]
            .steps
            .iter()
            .any(|s| matches!(s.step, StepRef::Id(_)))
    });
    let steps_of: HashSet<(Uuid, Uuid)> = if has_step_ids {
        conn.query_all_raw(Statement::from_sql_and_values(
            DbBackend::Postgres,
            "SELECT test_case_id, id FROM test_steps WHERE test_case_id = ANY($1)",
            [case_ids.into()],
        ))
        .await?
        .iter()
        .map(|r| Ok((r.try_get("", "test_case_id")?, r.try_get("", "id")?)))
        .collect::<AppResult<_>>()?
    } else {
        HashSet::new()
    };

    let mut seen_cases = HashSet::new();
    let mut planned: Vec<Planned> = Vec::new();
    for &i in &live {
        let item = &items[i];
        let verdict = (|| -> AppResult<(Vec<(Uuid, i32)>, bool)> {
            let case = case_of(item).ok_or_else(|| match &item.test {
                TestRef::Key(k) if options.known_only => AppError::not_found("TestCase", &k.key),
                TestRef::Key(k) => AppError::conflict(
                    Some(&format!("{}.testKey", item.field)),
                    format!(
                        "a test case named {:?} in category {:?} has another identity key; \
                         give it this key as an alias (addTestCaseAlias) to report on it",
                        k.name,
                        k.suite.as_deref().unwrap_or("")
                    ),
                ),
                TestRef::Case(_) => AppError::internal("a case by id without an id"),
            })?;
            if foreign.contains(&case) {
                return Err(AppError::not_found("TestCase", case));
            }
            if !seen_cases.insert(case) {
                return Err(AppError::conflict(
                    Some(&format!("{}.testCaseId", item.field)),
                    "the test case has another result in this report",
                ));
            }
            let (first, completes_open) = match latest.get(&case).copied() {
                Some((execution, attempt, ExecutionStatus::Pending | ExecutionStatus::Running)) => {
                    ((execution, attempt), true)
                }
                // an ad-hoc run takes a re-run's result as the case's next attempt
                Some((_, attempt, _)) if run.ad_hoc => ((Uuid::now_v7(), attempt + 1), false),
                Some((_, _, status)) => {
                    return Err(AppError::conflict(
                        Some(&format!("{}.testCaseId", item.field)),
                        format!("the case's latest execution is {}", status_name(status)),
                    ));
                }
                None if run.ad_hoc => ((Uuid::now_v7(), 0), false),
                None => {
                    return Err(AppError::bad_input(
                        format!("{}.testCaseId", item.field),
                        "the test case is not in this run",
                    ));
                }
            };
            for (j, s) in item.steps.iter().enumerate() {
                if let StepRef::Id(step) = s.step
                    && !steps_of.contains(&(case, step))
                {
                    return Err(AppError::bad_input(
                        format!("{}.steps.{j}.stepId", item.field),
                        "no such step in the test case",
                    ));
                }
            }
            let mut executions = vec![first];
            for n in 1..=item.earlier.len() as i32 {
                executions.push((Uuid::now_v7(), first.1 + n));
            }
            Ok((executions, completes_open))
        })();
        match verdict {
            Ok((executions, completes_open)) => planned.push(Planned {
                item: i,
                executions,
                completes_open,
            }),
            Err(e) => outcome[i] = Some(rejected(&item.idempotency_key, e)),
        }
    }

    if !planned.is_empty() {
        let step_ids = steps_by_name(conn, &items, &planned, &case_of).await?;
        write_batch(conn, &run, &items, &planned, &case_of, &step_ids).await?;
        if options.recount {
            refresh_run(conn, run_id).await?;
        }
        for p in &planned {
            let last = p.executions.last().map(|e| e.0);
            outcome[p.item] = Some(accepted(&items[p.item].idempotency_key, last, false));
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

/// The cases of the batch's results given by key (`known_test_cases`, then
/// `import_test_cases` for the keys not known yet: migrations 17 and 18).
async fn cases_by_key(
    conn: &impl ConnectionTrait,
    run: &entity::test_run::Model,
    items: &[ResultItem],
    live: &[usize],
    options: WriteOptions,
) -> AppResult<HashMap<String, Uuid>> {
    let mut seen = HashSet::new();
    let mut tests = Vec::new();
    for &i in live {
        if let TestRef::Key(k) = &items[i].test
            && seen.insert(k.key.as_str())
        {
            tests.push(k);
        }
    }
    if tests.is_empty() {
        return Ok(HashMap::new());
    }
    let answer = |rows: Vec<sea_orm::QueryResult>| -> AppResult<Vec<(String, Uuid)>> {
        rows.iter()
            .map(|r| Ok((r.try_get("", "key")?, r.try_get("", "test_case_id")?)))
            .collect()
    };
    // the keys known already (all of them, once a project's tests have been seen): by key alone
    let keys: Vec<String> = tests.iter().map(|k| k.key.clone()).collect();
    let mut found: HashMap<String, Uuid> = answer(
        conn.query_all_raw(Statement::from_sql_and_values(
            DbBackend::Postgres,
            "SELECT key, test_case_id FROM known_test_cases($1, $2::text[])",
            [run.project_id.into(), keys.into()],
        ))
        .await?,
    )?
    .into_iter()
    .collect();
    tests.retain(|k| !found.contains_key(&k.key));
    if tests.is_empty() || options.known_only {
        return Ok(found);
    }
    // the others, created; in one order for every writer: concurrent imports of overlapping
    // new keys take their insert locks in the same order and cannot deadlock
    tests.sort_by(|a, b| a.key.cmp(&b.key));
    let missing: Vec<Value> = tests
        .iter()
        .map(|k| {
            json!({
                "key": k.key, "name": k.name, "suite": k.suite, "file": k.file, "tags": k.tags,
            })
        })
        .collect();
    found.extend(answer(
        conn.query_all_raw(Statement::from_sql_and_values(
            DbBackend::Postgres,
            "SELECT key, test_case_id FROM import_test_cases($1, false, $2::jsonb)",
            [run.project_id.into(), Value::Array(missing).into()],
        ))
        .await?,
    )?);
    Ok(found)
}

/// The ids of the steps the batch names (`import_test_steps`, migration 17: a step a case has
/// not got is added to it).
async fn steps_by_name(
    conn: &impl ConnectionTrait,
    items: &[ResultItem],
    planned: &[Planned],
    case_of: &impl Fn(&ResultItem) -> Option<Uuid>,
) -> AppResult<HashMap<(Uuid, String), Uuid>> {
    let mut wanted = Vec::new();
    for p in planned {
        let item = &items[p.item];
        let Some(case) = case_of(item) else { continue };
        for s in &item.steps {
            if let StepRef::Name(name) = &s.step {
                wanted.push(json!({ "case": case, "name": name }));
            }
        }
    }
    if wanted.is_empty() {
        return Ok(HashMap::new());
    }
    conn.query_all_raw(Statement::from_sql_and_values(
        DbBackend::Postgres,
        "SELECT test_case_id, name, step_id FROM import_test_steps($1::jsonb)",
        [Value::Array(wanted).into()],
    ))
    .await?
    .iter()
    .map(|r| {
        Ok((
            (r.try_get("", "test_case_id")?, r.try_get("", "name")?),
            r.try_get("", "step_id")?,
        ))
    })
    .collect()
}

/// Rows of `test_executions` as typed arrays, one per column (`unnest`: no JSON to build or
/// parse for the bulk of an import). The driver's arrays carry no NULL elements: a duration of
/// -1, an error flagged absent and metadata '' stand for NULL.
#[derive(Default)]
struct ExecutionRows {
    id: Vec<Uuid>,
    case: Vec<Uuid>,
    attempt: Vec<i32>,
    status: Vec<String>,
    started: Vec<Timestamp>,
    duration_ms: Vec<i32>,
    error: Vec<String>,
    no_error: Vec<bool>,
    metadata: Vec<String>,
}

/// `ExecutionRows` as a row source; its columns are parameters $1 to $9.
const EXECUTION_ROWS: &str =
    "(SELECT id, tc, attempt, status, started, nullif(duration, -1) AS duration,
        CASE WHEN no_error THEN NULL ELSE error END AS error,
        CASE WHEN meta = '' THEN NULL ELSE meta::jsonb END AS meta
   FROM unnest($1::uuid[], $2::uuid[], $3::int[], $4::text[], $5::timestamptz[], $6::int[],
               $7::text[], $8::bool[], $9::text[])
        AS u(id, tc, attempt, status, started, duration, error, no_error, meta)) r";

impl ExecutionRows {
    fn push(&mut self, id: Uuid, case: Uuid, attempt: i32, started: Timestamp, data: &AttemptData) {
        self.id.push(id);
        self.case.push(case);
        self.attempt.push(attempt);
        self.status.push(data.status.to_value());
        self.started.push(started);
        self.duration_ms.push(data.duration_ms.unwrap_or(-1));
        self.error
            .push(data.error_message.clone().unwrap_or_default());
        self.no_error.push(data.error_message.is_none());
        self.metadata.push(
            data.metadata
                .as_ref()
                .map_or_else(String::new, Value::to_string),
        );
    }

    fn is_empty(&self) -> bool {
        self.id.is_empty()
    }

    /// Parameters $1 to $9, then `more`.
    fn values(self, more: impl IntoIterator<Item = sea_orm::Value>) -> Vec<sea_orm::Value> {
        let mut values: Vec<sea_orm::Value> = vec![
            self.id.into(),
            self.case.into(),
            self.attempt.into(),
            self.status.into(),
            self.started.into(),
            self.duration_ms.into(),
            self.error.into(),
            self.no_error.into(),
            self.metadata.into(),
        ];
        values.extend(more);
        values
    }
}

/// The multi-row writes of the accepted items: each table's rows travel as one JSON array
/// (`jsonb_to_recordset`), which carries NULLs that SQL arrays of parameters cannot. New
/// attempts are plainly inserted (most rows of an import); open attempts (a suite run's) are
/// completed by an upsert.
async fn write_batch(
    conn: &impl ConnectionTrait,
    run: &entity::test_run::Model,
    items: &[ResultItem],
    planned: &[Planned],
    case_of: &impl Fn(&ResultItem) -> Option<Uuid>,
    step_ids: &HashMap<(Uuid, String), Uuid>,
) -> AppResult<()> {
    use chrono::SubsecRound;
    // PostgreSQL keeps microseconds: truncated here, so that the start computed from it and
    // the completion stay exactly `duration` apart
    let now = chrono::Utc::now().fixed_offset().trunc_subsecs(6);
    // new attempts, inserted; open attempts (a suite run's), completed
    let mut executions = ExecutionRows::default();
    let mut completed = ExecutionRows::default();
    let mut steps = Vec::new();
    let mut artifacts = Vec::new();
    let mut report_keys = Vec::with_capacity(planned.len());
    let mut report_executions = Vec::with_capacity(planned.len());
    for p in planned {
        let item = &items[p.item];
        let Some(case) = case_of(item) else { continue };
        let attempts = item.earlier.iter().chain([&item.last]);
        for (n, ((execution, attempt), data)) in p.executions.iter().zip(attempts).enumerate() {
            let ms = data.duration_ms.unwrap_or(0);
            let started = item
                .started_at
                .unwrap_or_else(|| now - chrono::Duration::milliseconds(i64::from(ms)));
            let rows = if n == 0 && p.completes_open {
                &mut completed
            } else {
                &mut executions
            };
            rows.push(*execution, case, *attempt, started, data);
        }
        let Some(&(last, _)) = p.executions.last() else {
            continue;
        };
        report_keys.push(item.idempotency_key.clone());
        report_executions.push(last);
        for s in &item.steps {
            let step = match &s.step {
                StepRef::Id(id) => Some(*id),
                StepRef::Name(name) => step_ids.get(&(case, name.clone())).copied(),
            };
            let Some(step) = step else {
                return Err(AppError::internal("a named step was not created"));
            };
            steps.push(json!({
                "id": Uuid::now_v7(),
                "exec": last,
                "step": step,
                "status": s.status.to_value(),
                "duration": s.duration_ms,
                "error": s.error_message,
                "actual": s.actual_result,
                "meta": s.metadata.clone().unwrap_or_else(|| json!({})),
            }));
        }
        for a in &item.artifacts {
            let t: entity::enums::ArtifactType = a.artifact_type.into();
            artifacts.push(json!({
                "id": Uuid::now_v7(),
                "exec": last,
                "type": t.to_value(),
                "name": a.file_name,
                "path": a.file_path,
                "mime": a.mime_type,
                "size": a.file_size.map(|s| s as i64),
                "meta": a.metadata.as_ref().map(|m| m.0.clone()).unwrap_or_else(|| json!({})),
            }));
        }
    }

    // $10 the completion, $11 the run, $12 its configuration
    let insert = format!(
        "INSERT INTO test_executions(id, test_case_id, test_run_id, configuration_id, status,
                                     started_at, completed_at, duration_ms, error_message,
                                     execution_metadata, retry_attempt)
         SELECT r.id, r.tc, $11, $12, r.status, r.started, $10::timestamptz, r.duration,
                r.error, r.meta, r.attempt
         FROM {EXECUTION_ROWS}"
    );
    let context = || [now.into(), run.id.into(), run.configuration_id.into()];
    if !completed.is_empty() {
        // an upsert: an open attempt deleted meanwhile is written anew rather than lost
        conn.execute_raw(Statement::from_sql_and_values(
            DbBackend::Postgres,
            format!(
                "{insert}
                 ON CONFLICT (id) DO UPDATE SET
                     status = EXCLUDED.status,
                     started_at = coalesce(test_executions.started_at, EXCLUDED.started_at),
                     completed_at = EXCLUDED.completed_at,
                     -- without a duration: the time since the open attempt started
                     duration_ms = coalesce(EXCLUDED.duration_ms,
                         greatest(0, least($13, extract(epoch FROM EXCLUDED.completed_at
                             - coalesce(test_executions.started_at, EXCLUDED.started_at)) * 1000))::int),
                     error_message = EXCLUDED.error_message,
                     execution_metadata = coalesce(EXCLUDED.execution_metadata, test_executions.execution_metadata)"
            ),
            completed.values(
                context()
                    .into_iter()
                    .chain([(crate::input::DURATION_MAX_SECONDS * 1000).into()]),
            ),
        ))
        .await?;
    }
    if !executions.is_empty() {
        conn.execute_raw(Statement::from_sql_and_values(
            DbBackend::Postgres,
            insert,
            executions.values(context()),
        ))
        .await?;
    }

    if !steps.is_empty() {
        conn.execute_raw(Statement::from_sql_and_values(
            DbBackend::Postgres,
            "INSERT INTO test_step_executions(id, test_execution_id, test_step_id, status, started_at, completed_at,
                                              duration_ms, error_message, actual_result, step_metadata)
             SELECT r.id, r.exec, r.step, r.status,
                    $2::timestamptz - coalesce(r.duration, 0) * interval '1 millisecond',
                    CASE WHEN r.status IN ('passed', 'failed', 'skipped') THEN $2::timestamptz END,
                    r.duration, r.error, r.actual, r.meta
             FROM jsonb_to_recordset($1::jsonb)
                  AS r(id uuid, exec uuid, step uuid, status text, duration int, error text, actual text, meta jsonb)
             ON CONFLICT (test_execution_id, test_step_id) DO UPDATE SET
                 status = EXCLUDED.status, completed_at = EXCLUDED.completed_at,
                 duration_ms = EXCLUDED.duration_ms, error_message = EXCLUDED.error_message,
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
         SELECT $1, r.key, r.exec FROM unnest($2::text[], $3::uuid[]) AS r(key, exec)",
        [run.id.into(), report_keys.into(), report_executions.into()],
    ))
    .await?;
    Ok(())
}
