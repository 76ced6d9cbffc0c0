//! Failure groups by error fingerprint: read from the kept groups (`failure_groups`, kept by
//! `fold_failure_groups()`) when they are exactly what the caller may see, grouped on demand
//! otherwise. Both give the same answer for the same executions.

use sea_orm::{ConnectionTrait, QueryResult, Statement};
use uuid::Uuid;

use super::types::{FailureFilter, FailureGroup};
use crate::error::{AppError, AppResult};
use crate::sql::{Sql, where_clause};

/// Days back `since` may reach, and the days a `configurationId` filter without a case, a run
/// or `since` covers: those filters are grouped on demand, a regular expression per failure,
/// so their window is bounded (a month of failures at 1M executions groups in well under a
/// second).
pub const ON_DEMAND_MAX_DAYS: i64 = 31;

/// Whose failures a request reads, as row-level security decides for its executions.
#[derive(Debug, Clone, PartialEq)]
enum Scope {
    /// Every execution (an admin): every kept group.
    All,
    /// All the executions of the runs of these projects, and nothing else: their kept groups.
    Projects(Vec<Uuid>),
    /// Anything else (an author's rule adds executions outside whole projects, a filter the
    /// kept groups do not answer): grouped on demand under the caller's policies.
    OnDemand,
}

/// Brings the kept groups up to date with every committed write; returns the notes applied.
/// Readers of the kept groups run it first, on a connection of their own (one fold at a time:
/// a second waits for the first to commit, then finds nothing left); the server runs it in the
/// background so that readers rarely have anything to do.
#[tracing::instrument(skip(conn))]
pub async fn fold(conn: &impl ConnectionTrait) -> AppResult<i32> {
    let row = conn
        .query_one_raw(crate::sql::statement(
            "SELECT fold_failure_groups() AS n".to_owned(),
            vec![],
        ))
        .await?
        .ok_or_else(|| AppError::internal("fold_failure_groups returned no row"))?;
    Ok(row.try_get("", "n")?)
}

/// Whether the kept groups can answer `filter` (for a caller who sees whole projects): they
/// are kept per project only.
pub fn kept_answers(filter: &FailureFilter) -> bool {
    filter.test_case_id.is_none()
        && filter.run_id.is_none()
        && filter.configuration_id.is_none()
        && filter.since.is_none()
}

/// What the caller sees of the executions, from the request's security context.
async fn scope(conn: &impl ConnectionTrait, filter: &FailureFilter) -> AppResult<Scope> {
    if !kept_answers(filter) {
        return Ok(Scope::OnDemand);
    }
    let row = conn
        .query_one_raw(crate::sql::statement(
            // the database role makes an admin (the settings alone do not)
            "SELECT pg_has_role('application_admins', 'MEMBER') AS admin,
                    app_projects('runs') AS runs, app_projects('report') AS report,
                    app_own('runs') OR app_own('report') AS own"
                .to_owned(),
            vec![],
        ))
        .await?
        .ok_or_else(|| AppError::internal("no security context"))?;
    let admin: bool = row.try_get("", "admin")?;
    if admin {
        return Ok(match filter.project_id {
            Some(p) => Scope::Projects(vec![p]),
            None => Scope::All,
        });
    }
    let runs: Vec<Uuid> = row.try_get("", "runs")?;
    let report: Vec<Uuid> = row.try_get("", "report")?;
    let own: bool = row.try_get("", "own")?;
    Ok(match filter.project_id {
        // a project's runs read whole: its executions, whatever else the caller sees
        Some(p) if runs.contains(&p) => Scope::Projects(vec![p]),
        Some(_) => Scope::OnDemand,
        // no author's rule and no reporter's runs outside them: exactly those projects
        None if !own && report.iter().all(|p| runs.contains(p)) => Scope::Projects(runs),
        None => Scope::OnDemand,
    })
}

/// Failures grouped by error fingerprint, most frequent first (ties by fingerprint). The
/// caller folds first ([`fold`]) so that the kept groups reflect every committed write.
#[tracing::instrument(skip(conn))]
pub async fn failure_groups(
    conn: &impl ConnectionTrait,
    filter: &FailureFilter,
    limit: i32,
) -> AppResult<Vec<FailureGroup>> {
    let limit = super::service::check_limit(limit)?;
    let statement = match scope(conn, filter).await? {
        Scope::OnDemand => return grouped_on_demand(conn, filter, limit).await,
        Scope::Projects(projects) if projects.is_empty() => return Ok(Vec::new()),
        Scope::Projects(projects) => kept(Some(projects), limit),
        Scope::All => kept(None, limit),
    };
    let rows = conn.query_all_raw(statement).await?;
    rows.iter().map(group).collect()
}

/// The groups computed from the failed executions the caller sees (their policies apply),
/// whatever the filter: what the kept groups must equal.
#[tracing::instrument(skip(conn))]
pub async fn grouped_on_demand(
    conn: &impl ConnectionTrait,
    filter: &FailureFilter,
    limit: i32,
) -> AppResult<Vec<FailureGroup>> {
    let limit = super::service::check_limit(limit)?;
    let rows = conn
        .query_all_raw(on_demand(filter, limit, chrono::Utc::now())?)
        .await?;
    rows.iter().map(group).collect()
}

fn group(r: &QueryResult) -> AppResult<FailureGroup> {
    Ok(FailureGroup {
        fingerprint: r.try_get("", "fingerprint")?,
        count: r.try_get("", "n")?,
        affected_test_cases: r.try_get("", "cases")?,
        affected_runs: r.try_get("", "runs")?,
        first_seen_at: r.try_get("", "first_at")?,
        last_seen_at: r.try_get("", "last_at")?,
        examples: r.try_get("", "examples")?,
    })
}

/// The top groups of the kept ones of `projects` (every project: `None`). A fingerprint kept
/// under several projects is summed; its distinct cases and its examples are then read from
/// its rows (a case has its failures under one project, but nothing forces it).
fn kept(projects: Option<Vec<Uuid>>, limit: i32) -> Statement {
    let mut sql = Sql::default();
    let limit = sql.bind(limit);
    if let Some([project]) = projects.as_deref() {
        let project = sql.bind(*project);
        return sql.statement(format!(
            "SELECT fingerprint, failures AS n, affected_test_cases AS cases,
                    affected_runs AS runs, first_seen_at AS first_at, last_seen_at AS last_at, examples
             FROM failure_groups WHERE project_id = {project}
             ORDER BY failures DESC, fingerprint LIMIT {limit}"
        ));
    }
    let (of, of_rows) = match projects {
        Some(projects) => {
            let p = sql.bind(projects);
            (
                format!(" WHERE project_id = ANY({p})"),
                format!(" AND x.project_id = ANY({p})"),
            )
        }
        None => (String::new(), String::new()),
    };
    sql.statement(format!(
        "SELECT t.fingerprint, t.n, t.runs, t.first_at, t.last_at,
                CASE WHEN t.keys = 1 THEN t.cases ELSE (
                    SELECT count(DISTINCT x.test_case_id) FROM failure_group_cases x
                    WHERE x.fingerprint_hash = t.fingerprint_hash{of_rows}) END AS cases,
                CASE WHEN t.keys = 1 THEN t.examples ELSE (
                    SELECT failure_group_examples_agg(x.examples) FROM failure_groups x
                    WHERE x.fingerprint_hash = t.fingerprint_hash{of_rows}) END AS examples
         FROM (SELECT fingerprint_hash, min(fingerprint) AS fingerprint, sum(failures)::bigint AS n,
                      sum(affected_test_cases)::bigint AS cases, sum(affected_runs)::bigint AS runs,
                      min(first_seen_at) AS first_at, max(last_seen_at) AS last_at,
                      count(*) AS keys, min(examples) AS examples
               FROM failure_groups{of} GROUP BY fingerprint_hash
               ORDER BY n DESC, fingerprint LIMIT {limit}) t
         ORDER BY t.n DESC, t.fingerprint"
    ))
}

/// The statement grouping the failed executions `filter` selects, as of `now`.
fn on_demand(
    filter: &FailureFilter,
    limit: i32,
    now: chrono::DateTime<chrono::Utc>,
) -> AppResult<Statement> {
    let mut sql = Sql::default();
    let limit = sql.bind(limit);
    let mut conditions = vec![
        "e.status = 'failed'".to_owned(),
        "e.error_message IS NOT NULL".to_owned(),
    ];
    if let Some(c) = filter.test_case_id {
        conditions.push(format!("e.test_case_id = {}", sql.bind(c)));
    }
    if let Some(r) = filter.run_id {
        conditions.push(format!("e.test_run_id = {}", sql.bind(r)));
    }
    if let Some(c) = filter.configuration_id {
        conditions.push(format!("e.configuration_id = {}", sql.bind(c)));
    }
    let earliest = now - chrono::Duration::days(ON_DEMAND_MAX_DAYS);
    if let Some(s) = filter.since {
        if s < earliest {
            return Err(AppError::bad_input(
                "filter.since",
                format!("since may reach at most {ON_DEMAND_MAX_DAYS} days back"),
            ));
        }
        conditions.push(format!("e.completed_at >= {}", sql.bind(s)));
    } else if filter.configuration_id.is_some()
        && filter.test_case_id.is_none()
        && filter.run_id.is_none()
    {
        conditions.push(format!(
            "e.completed_at >= {}",
            sql.bind(earliest.fixed_offset())
        ));
    }
    if let Some(p) = filter.project_id {
        // the project of an execution is its run's (as for who reads it)
        conditions.push(format!(
            "e.test_run_id IN (SELECT id FROM test_runs WHERE project_id = {})",
            sql.bind(p)
        ));
    }
    Ok(sql.statement(format!(
        "SELECT error_fingerprint(e.error_message) AS fingerprint, count(*) AS n,
                count(DISTINCT e.test_case_id) AS cases, count(DISTINCT e.test_run_id) AS runs,
                min(e.completed_at) AS first_at, max(e.completed_at) AS last_at,
                (array_agg(DISTINCT e.error_message ORDER BY e.error_message))[1:3] AS examples
         FROM test_executions e{}
         GROUP BY 1 ORDER BY n DESC, fingerprint LIMIT {limit}",
        where_clause(&conditions)
    )))
}
