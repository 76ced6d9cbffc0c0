//! The ceiling: hand-written axum + sqlx endpoints that serve the same data as the GraphQL
//! queries (the same JSON, checked equal before measuring) and write the same rows as the
//! reporting mutations, with the least work a careful hand-written service would do: a few
//! prepared statements, rows into JSON.
//!
//! Each read endpoint has two modes. Plain (the ceiling): statements on a pooled connection as
//! the tables' owner, which bypasses row-level security, no transaction. With `?rls=1`: the
//! exact per-request security context of the API (`RequestDb`) for the benchmark's admin: a
//! transaction that sets `app.user_id`, `app.user_roles` and the admin's role transaction-locally, so
//! the policies apply, then the same statements, then COMMIT. Their ratio is the cost of the
//! security context alone, without GraphQL in either.
//!
//! Requests carry the same JSON body as the GraphQL requests (`{"query", "variables"}`); the
//! raw endpoints read only the variables.

use std::collections::HashMap;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use serde::Deserialize;
use serde_json::{Value, json};
use sqlx::{PgConnection, PgPool, Row};
use uuid::Uuid;

use crate::BENCH_USER;

pub fn router(pool: PgPool) -> Router {
    Router::new()
        .route("/raw/cases", post(cases))
        .route("/raw/dashboard", post(dashboard))
        .route("/raw/search", post(search))
        .route("/raw/report", post(report))
        .route("/raw/step", post(step))
        .with_state(pool)
}

#[derive(Deserialize)]
struct Body<V> {
    variables: V,
}

#[derive(Deserialize, Default)]
struct Mode {
    /// Inside the API's security context.
    #[serde(default)]
    rls: Option<u8>,
    /// As this member (`user` + n of the seed): in the security context, the member's
    /// identity and role, the policies filtering; as the owner, the same rows asked for by
    /// `author = member` in the statement. Without it, the benchmark's admin.
    #[serde(default)]
    member: Option<String>,
    /// `projects`: the member's rows are those of their projects (as the owner:
    /// `project_id IN` their memberships), not those they author.
    #[serde(default)]
    by: Option<String>,
}

/// An error as a 500 with its text (the load generator counts it).
struct Fail(String);

impl<E: std::fmt::Display> From<E> for Fail {
    fn from(e: E) -> Self {
        Fail(e.to_string())
    }
}

impl IntoResponse for Fail {
    fn into_response(self) -> Response {
        (StatusCode::INTERNAL_SERVER_ERROR, self.0).into_response()
    }
}

fn json_response(value: &Value) -> Result<Response, Fail> {
    let bytes = serde_json::to_vec(value)?;
    Ok((
        StatusCode::OK,
        [(axum::http::header::CONTENT_TYPE, "application/json")],
        bytes,
    )
        .into_response())
}

/// Runs `f` on a connection: plainly, or inside the API's security context (of the member
/// the mode names, else of the benchmark's admin).
async fn with_conn<T>(
    pool: &PgPool,
    mode: &Mode,
    f: impl AsyncFnOnce(&mut PgConnection) -> Result<T, Fail>,
) -> Result<T, Fail> {
    if mode.rls.is_some() {
        let (user, roles, role) = match &mode.member {
            Some(member) => (member.as_str(), "member", api::auth::context::MEMBER_ROLE),
            None => (BENCH_USER, "admin", api::auth::context::ADMIN_ROLE),
        };
        let mut tx = pool.begin().await?;
        sqlx::query("SELECT app_begin_request($1, $2, $3, NULL, NULL, '15s')")
            .bind(user)
            .bind(roles)
            .bind(role)
            .execute(&mut *tx)
            .await?;
        let value = f(&mut *tx).await?;
        // as the API ends a read: released without waiting for a COMMIT (rolled back on the
        // way to the pool)
        drop(tx);
        Ok(value)
    } else {
        let mut conn = pool.acquire().await?;
        f(&mut *conn).await
    }
}

/// `api_call` -> `API_CALL`
fn enum_name(s: &str) -> String {
    s.to_uppercase()
}

#[derive(Deserialize)]
struct CasesVars {
    first: i64,
    filter: CasesFilter,
}

#[derive(Deserialize)]
struct CasesFilter {
    status: Vec<String>,
    priority: Vec<String>,
}

/// Query (a): a page of cases by status and priority, ordered by name, with the total.
async fn cases(
    State(pool): State<PgPool>,
    Query(mode): Query<Mode>,
    body: Bytes,
) -> Result<Response, Fail> {
    let vars: Body<CasesVars> = serde_json::from_slice(&body)?;
    let v = vars.variables;
    let statuses: Vec<String> = v.filter.status.iter().map(|s| s.to_lowercase()).collect();
    let priorities: Vec<String> = v.filter.priority.iter().map(|s| s.to_lowercase()).collect();
    let first = v.first;
    // a member's rows as the owner: the author condition the member's policy adds
    let author = mode.member.clone().filter(|_| mode.rls.is_none());
    let by_projects = mode.by.as_deref() == Some("projects");
    let data = with_conn(&pool, &mode, async move |conn| {
        let rows = match &author {
            None => {
                sqlx::query(
                    "SELECT id, name, status, priority, category, tags, author,
                            (SELECT count(*) FROM test_cases WHERE status = ANY($1) AND priority = ANY($2)) AS total
                     FROM test_cases WHERE status = ANY($1) AND priority = ANY($2)
                     ORDER BY name ASC, id ASC LIMIT $3",
                )
                .bind(&statuses)
                .bind(&priorities)
                .bind(first + 1)
                .fetch_all(&mut *conn)
                .await?
            }
            Some(author) => {
                let rows_of = if by_projects {
                    "project_id IN (SELECT project_id FROM project_members WHERE user_id = $4)"
                } else {
                    "author = $4"
                };
                sqlx::query(sqlx::AssertSqlSafe(format!(
                    "SELECT id, name, status, priority, category, tags, author,
                            (SELECT count(*) FROM test_cases
                             WHERE status = ANY($1) AND priority = ANY($2) AND {rows_of}) AS total
                     FROM test_cases WHERE status = ANY($1) AND priority = ANY($2) AND {rows_of}
                     ORDER BY name ASC, id ASC LIMIT $3"
                )))
                .bind(&statuses)
                .bind(&priorities)
                .bind(first + 1)
                .bind(author)
                .fetch_all(&mut *conn)
                .await?
            }
        };
        let total: i64 = match rows.first() {
            Some(r) => r.try_get("total")?,
            None => 0,
        };
        let mut edges = Vec::with_capacity(rows.len());
        for r in rows.iter().take(first as usize) {
            edges.push(json!({ "node": {
                "id": r.try_get::<Uuid, _>("id")?,
                "name": r.try_get::<String, _>("name")?,
                "status": enum_name(&r.try_get::<String, _>("status")?),
                "priority": enum_name(&r.try_get::<String, _>("priority")?),
                "category": r.try_get::<Option<String>, _>("category")?,
                "tags": r.try_get::<Option<Value>, _>("tags")?.unwrap_or_else(|| json!([])),
                "author": r.try_get::<Option<String>, _>("author")?,
            }}));
        }
        Ok(json!({ "data": { "testCases": {
            "totalCount": total,
            "pageInfo": { "hasNextPage": rows.len() as i64 > first },
            "edges": edges,
        }}}))
    })
    .await?;
    json_response(&data)
}

#[derive(Deserialize)]
struct DashboardVars {
    runs: i64,
    executions: i64,
}

/// Query (b): the newest runs, each with its first executions, their case with its steps, and
/// their step results: four statements, one per level, assembled in memory.
async fn dashboard(
    State(pool): State<PgPool>,
    Query(mode): Query<Mode>,
    body: Bytes,
) -> Result<Response, Fail> {
    let vars: Body<DashboardVars> = serde_json::from_slice(&body)?;
    let v = vars.variables;
    let data = with_conn(&pool, &mode, async move |conn| {
        let runs = sqlx::query(
            "SELECT id, name, status, passed_tests, failed_tests FROM test_runs
             ORDER BY created_at DESC, id DESC LIMIT $1",
        )
        .bind(v.runs)
        .fetch_all(&mut *conn)
        .await?;
        let run_ids: Vec<Uuid> = runs
            .iter()
            .map(|r| r.try_get("id"))
            .collect::<Result<_, _>>()?;
        let executions = sqlx::query(
            "SELECT e.id, e.test_run_id, e.status, e.duration_seconds, e.test_case_id, tc.name AS case_name
             FROM (SELECT e.*, row_number() OVER (PARTITION BY e.test_run_id ORDER BY e.created_at, e.id) AS rn
                   FROM test_executions e WHERE e.test_run_id = ANY($1)) e
             JOIN test_cases tc ON tc.id = e.test_case_id
             WHERE e.rn <= $2 ORDER BY e.test_run_id, e.rn",
        )
        .bind(&run_ids)
        .bind(v.executions)
        .fetch_all(&mut *conn)
        .await?;
        let mut case_ids: Vec<Uuid> = Vec::new();
        let mut execution_ids: Vec<Uuid> = Vec::with_capacity(executions.len());
        for e in &executions {
            case_ids.push(e.try_get("test_case_id")?);
            execution_ids.push(e.try_get("id")?);
        }
        case_ids.sort_unstable();
        case_ids.dedup();
        let steps = sqlx::query(
            "SELECT id, test_case_id, name, order_index FROM test_steps
             WHERE test_case_id = ANY($1) ORDER BY test_case_id, order_index",
        )
        .bind(&case_ids)
        .fetch_all(&mut *conn)
        .await?;
        let results = sqlx::query(
            "SELECT se.id, se.test_execution_id, se.status, se.duration_seconds, se.test_step_id
             FROM test_step_executions se JOIN test_steps s ON s.id = se.test_step_id
             WHERE se.test_execution_id = ANY($1)
             ORDER BY se.test_execution_id, s.order_index, se.id",
        )
        .bind(&execution_ids)
        .fetch_all(&mut *conn)
        .await?;
        let mut steps_of: HashMap<Uuid, Vec<Value>> = HashMap::new();
        for s in &steps {
            steps_of
                .entry(s.try_get("test_case_id")?)
                .or_default()
                .push(json!({
                    "id": s.try_get::<Uuid, _>("id")?,
                    "name": s.try_get::<String, _>("name")?,
                    "orderIndex": s.try_get::<i32, _>("order_index")?,
                }));
        }
        let mut results_of: HashMap<Uuid, Vec<Value>> = HashMap::new();
        for r in &results {
            results_of
                .entry(r.try_get("test_execution_id")?)
                .or_default()
                .push(json!({
                    "id": r.try_get::<Uuid, _>("id")?,
                    "status": enum_name(&r.try_get::<String, _>("status")?),
                    "durationSeconds": r.try_get::<Option<i32>, _>("duration_seconds")?,
                    "testStepId": r.try_get::<Uuid, _>("test_step_id")?,
                }));
        }
        let mut executions_of: HashMap<Uuid, Vec<Value>> = HashMap::new();
        for e in &executions {
            let id: Uuid = e.try_get("id")?;
            let case: Uuid = e.try_get("test_case_id")?;
            executions_of
                .entry(e.try_get("test_run_id")?)
                .or_default()
                .push(json!({ "node": {
                    "id": id,
                    "status": enum_name(&e.try_get::<String, _>("status")?),
                    "durationSeconds": e.try_get::<Option<i32>, _>("duration_seconds")?,
                    "testCase": {
                        "id": case,
                        "name": e.try_get::<String, _>("case_name")?,
                        "steps": steps_of.get(&case).cloned().unwrap_or_default(),
                    },
                    "stepExecutions": results_of.remove(&id).unwrap_or_default(),
                }}));
        }
        let mut edges = Vec::with_capacity(runs.len());
        for r in &runs {
            let id: Uuid = r.try_get("id")?;
            edges.push(json!({ "node": {
                "id": id,
                "name": r.try_get::<String, _>("name")?,
                "status": enum_name(&r.try_get::<String, _>("status")?),
                "passedTests": r.try_get::<i32, _>("passed_tests")?,
                "failedTests": r.try_get::<i32, _>("failed_tests")?,
                "executions": { "edges": executions_of.remove(&id).unwrap_or_default() },
            }}));
        }
        Ok(json!({ "data": { "testRuns": { "edges": edges } } }))
    })
    .await?;
    json_response(&data)
}

#[derive(Deserialize)]
struct SearchVars {
    q: String,
    first: i64,
}

/// Query (c): search as you type, ranked, with snippets and the number of matches. The API's
/// own search (`catalog::service::cases::search`): the same parameters and expressions, so
/// that the same indexes serve both and the JSON is the same.
async fn search(
    State(pool): State<PgPool>,
    Query(mode): Query<Mode>,
    body: Bytes,
) -> Result<Response, Fail> {
    use api::catalog::service::cases::{NAME_SNIPPET_OPTIONS, SNIPPET_OPTIONS, search};
    let vars: Body<SearchVars> = serde_json::from_slice(&body)?;
    let v = vars.variables;
    // the statement's parameters are numbered as they are bound below: these three, then the
    // search's own in the order `search::bind` gives
    let mut numbered = api::sql::Sql::default();
    let (first, name_options, options) = (
        numbered.bind(v.first),
        numbered.bind(NAME_SNIPPET_OPTIONS),
        numbered.bind(SNIPPET_OPTIONS),
    );
    let found = search::bind(&v.q, &mut numbered);
    let parsed = search::parse(&v.q);
    let spelt = parsed.terms.iter().any(|t| !t.spelling.is_empty());
    if numbered.values.len() != if spelt { 8 } else { 4 } {
        return Err(Fail(
            "the search's parameters are not those bound here".to_owned(),
        ));
    }
    let text = format!(
        "SELECT id, name,
                ts_headline('english', {name}, {tsquery}, {name_options}) AS name_snippet,
                ts_headline('english', {description}, {tsquery}, {options}) AS description_snippet,
                ({relevance})::float8 AS rank,
                (SELECT count(*) FROM test_cases WHERE {condition}) AS total
         FROM test_cases WHERE {condition}
         ORDER BY rank DESC, id DESC LIMIT {first}",
        name = search::html_escaped("test_cases.name"),
        description = search::html_escaped("test_cases.description"),
        tsquery = found.tsquery,
        relevance = found.relevance,
        condition = found.condition,
    );
    let data = with_conn(&pool, &mode, async move |conn| {
        let mut query = sqlx::query(sqlx::AssertSqlSafe(text))
            .bind(v.first)
            .bind(NAME_SNIPPET_OPTIONS)
            .bind(SNIPPET_OPTIONS)
            .bind(&parsed.query);
        if spelt {
            query = query
                .bind(parsed.terms.iter().map(|t| t.group).collect::<Vec<_>>())
                .bind(parsed.terms.iter().map(|t| t.query.clone()).collect::<Vec<_>>())
                .bind(parsed.terms.iter().map(|t| t.spelling.clone()).collect::<Vec<_>>())
                .bind(&parsed.excluded);
        }
        let rows = query.fetch_all(&mut *conn).await?;
        let total: i64 = match rows.first() {
            Some(r) => r.try_get("total")?,
            None => 0,
        };
        let mut edges = Vec::with_capacity(rows.len());
        for r in &rows {
            edges.push(json!({
                "rank": r.try_get::<f64, _>("rank")?,
                "nameSnippet": r.try_get::<Option<String>, _>("name_snippet")?,
                "descriptionSnippet": r.try_get::<Option<String>, _>("description_snippet")?,
                "node": { "id": r.try_get::<Uuid, _>("id")?, "name": r.try_get::<String, _>("name")? },
            }));
        }
        Ok(json!({ "data": { "testCases": { "totalCount": total, "edges": edges } } }))
    })
    .await?;
    json_response(&data)
}

#[derive(Deserialize)]
struct ReportVars {
    run: Uuid,
    results: Vec<ReportItem>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ReportItem {
    test_case_id: Uuid,
    status: String,
    duration_seconds: Option<i32>,
    #[serde(default)]
    steps: Vec<ReportStep>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ReportStep {
    step_id: Uuid,
    status: String,
    duration_seconds: Option<i32>,
    actual_result: Option<String>,
}

/// The same rows as `reportResults`, by two multi-row statements over `unnest` in one
/// transaction: the executions completed, their step results inserted. No idempotency keys, no
/// run recount, no per-item validation: the least a writer of these rows must do.
async fn report(State(pool): State<PgPool>, body: Bytes) -> Result<Response, Fail> {
    let vars: Body<ReportVars> = serde_json::from_slice(&body)?;
    let v = vars.variables;
    let n = v.results.len();
    let mut cases = Vec::with_capacity(n);
    let mut statuses = Vec::with_capacity(n);
    let mut durations = Vec::with_capacity(n);
    for r in &v.results {
        cases.push(r.test_case_id);
        statuses.push(r.status.to_lowercase());
        durations.push(r.duration_seconds.unwrap_or(0));
    }
    let mut tx = pool.begin().await?;
    let now = chrono::Utc::now();
    let updated = sqlx::query(
        "UPDATE test_executions e SET status = u.status,
                started_at = coalesce(e.started_at, $2 - u.duration * interval '1 second'),
                completed_at = $2, duration_seconds = u.duration
         FROM unnest($3::uuid[], $4::text[], $5::int[]) AS u(case_id, status, duration)
         WHERE e.test_run_id = $1 AND e.test_case_id = u.case_id AND e.retry_attempt = 0
         RETURNING e.id, e.test_case_id",
    )
    .bind(v.run)
    .bind(now)
    .bind(&cases)
    .bind(&statuses)
    .bind(&durations)
    .fetch_all(&mut *tx)
    .await?;
    let mut execution_of: HashMap<Uuid, Uuid> = HashMap::with_capacity(updated.len());
    for row in &updated {
        execution_of.insert(row.try_get("test_case_id")?, row.try_get("id")?);
    }
    let steps: usize = v.results.iter().map(|r| r.steps.len()).sum();
    let mut s_exec = Vec::with_capacity(steps);
    let mut s_step = Vec::with_capacity(steps);
    let mut s_status = Vec::with_capacity(steps);
    let mut s_duration = Vec::with_capacity(steps);
    let mut s_actual: Vec<Option<String>> = Vec::with_capacity(steps);
    for r in &v.results {
        let Some(execution) = execution_of.get(&r.test_case_id) else {
            continue;
        };
        for s in &r.steps {
            s_exec.push(*execution);
            s_step.push(s.step_id);
            s_status.push(s.status.to_lowercase());
            s_duration.push(s.duration_seconds.unwrap_or(0));
            s_actual.push(s.actual_result.clone());
        }
    }
    sqlx::query(
        "INSERT INTO test_step_executions(test_execution_id, test_step_id, status, started_at,
                                          completed_at, duration_seconds, actual_result)
         SELECT u.exec, u.step, u.status, $1 - u.duration * interval '1 second', $1, u.duration, u.actual
         FROM unnest($2::uuid[], $3::uuid[], $4::text[], $5::int[], $6::text[])
              AS u(exec, step, status, duration, actual)",
    )
    .bind(now)
    .bind(&s_exec)
    .bind(&s_step)
    .bind(&s_status)
    .bind(&s_duration)
    .bind(&s_actual)
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    json_response(&json!({ "data": { "reportResults": { "accepted": updated.len() } } }))
}

#[derive(Deserialize)]
struct StepVars {
    e: Uuid,
    s: Uuid,
    status: String,
    actual: Option<String>,
    duration: Option<i32>,
}

/// One step result, upserted in one statement (autocommit).
async fn step(State(pool): State<PgPool>, body: Bytes) -> Result<Response, Fail> {
    let vars: Body<StepVars> = serde_json::from_slice(&body)?;
    let v = vars.variables;
    let row = sqlx::query(
        "INSERT INTO test_step_executions(test_execution_id, test_step_id, status, started_at,
                                          completed_at, duration_seconds, actual_result)
         VALUES ($1, $2, $3, now() - coalesce($4, 0) * interval '1 second',
                 CASE WHEN $3 IN ('passed', 'failed', 'skipped') THEN now() END, $4, $5)
         ON CONFLICT (test_execution_id, test_step_id) DO UPDATE SET
             status = EXCLUDED.status, completed_at = EXCLUDED.completed_at,
             duration_seconds = EXCLUDED.duration_seconds, actual_result = EXCLUDED.actual_result
         RETURNING id, status",
    )
    .bind(v.e)
    .bind(v.s)
    .bind(v.status.to_lowercase())
    .bind(v.duration)
    .bind(v.actual)
    .fetch_one(&pool)
    .await?;
    json_response(&json!({ "data": { "reportStepResult": {
        "id": row.try_get::<Uuid, _>("id")?,
        "status": enum_name(&row.try_get::<String, _>("status")?),
    }}}))
}
