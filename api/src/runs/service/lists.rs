//! Lists of runs and executions.

use entity::{test_execution, test_run};
use sea_orm::{ActiveEnum, ConnectionTrait, FromQueryResult};

use crate::error::AppResult;
use crate::pagination::{Fetched, KeyKind, Ordering, PageArgs};
use crate::runs::types::{TestExecutionFilter, TestRunFilter};
use crate::sql::{ListQuery, Total};

pub async fn runs(
    conn: &impl ConnectionTrait,
    filter: TestRunFilter,
    args: &PageArgs,
    want: crate::pagination::Selected,
) -> AppResult<(Fetched<test_run::Model>, Total)> {
    let mut q = ListQuery::new(
        "test_runs",
        Ordering {
            name: "createdAt:desc".to_owned(),
            sql: "test_runs.created_at".to_owned(),
            kind: KeyKind::Timestamp,
            descending: true,
            id_column: "test_runs.id",
        },
    );
    let (conditions, sql) = (&mut q.conditions, &mut q.sql);
    if let Some(suite) = filter.suite_id {
        conditions.push(format!("test_runs.test_suite_id = {}", sql.bind(suite)));
    }
    if let Some(statuses) = filter.status {
        let values: Vec<String> = statuses
            .into_iter()
            .map(|s| entity::enums::RunStatus::from(s).to_value())
            .collect();
        conditions.push(format!("test_runs.status = ANY({})", sql.bind(values)));
    }
    if let Some(by) = filter.triggered_by {
        crate::input::check_len(
            "filter.triggeredBy",
            Some(&by),
            crate::input::SHORT_TEXT_MAX,
        )?;
        conditions.push(format!("test_runs.triggered_by = {}", sql.bind(by)));
    }
    if let Some(after) = filter.started_after {
        conditions.push(format!("test_runs.started_at >= {}", sql.bind(after)));
    }
    if let Some(before) = filter.started_before {
        conditions.push(format!("test_runs.started_at < {}", sql.bind(before)));
    }
    if let Some(project) = filter.project_id {
        conditions.push(format!("test_runs.project_id = {}", sql.bind(project)));
    }
    if let Some(branch) = filter.branch {
        crate::input::check_len("filter.branch", Some(&branch), super::context::BRANCH_MAX)?;
        conditions.push(format!("test_runs.branch = {}", sql.bind(branch.trim())));
    }
    if let Some(commit) = filter.commit_sha {
        crate::input::check_len(
            "filter.commitSha",
            Some(&commit),
            super::context::COMMIT_SHA_MAX,
        )?;
        conditions.push(format!(
            "test_runs.commit_sha = {}",
            sql.bind(commit.trim().to_ascii_lowercase())
        ));
    }
    let (fetched, total) = crate::sql::list(conn, q, args, want).await?;
    let fetched = fetched.try_map(|row| test_run::Model::from_query_result(&row, ""))?;
    Ok((fetched, total))
}

pub async fn executions(
    conn: &impl ConnectionTrait,
    filter: TestExecutionFilter,
    args: &PageArgs,
    want: crate::pagination::Selected,
) -> AppResult<(Fetched<test_execution::Model>, Total)> {
    let mut q = ListQuery::new(
        "test_executions",
        Ordering {
            name: "createdAt:desc".to_owned(),
            sql: "test_executions.created_at".to_owned(),
            kind: KeyKind::Timestamp,
            descending: true,
            id_column: "test_executions.id",
        },
    );
    let (conditions, sql) = (&mut q.conditions, &mut q.sql);
    if let Some(run) = filter.run_id {
        conditions.push(format!("test_executions.test_run_id = {}", sql.bind(run)));
    }
    if let Some(case) = filter.test_case_id {
        conditions.push(format!("test_executions.test_case_id = {}", sql.bind(case)));
    }
    if let Some(statuses) = filter.status {
        let values: Vec<String> = statuses
            .into_iter()
            .map(|s| entity::enums::ExecutionStatus::from(s).to_value())
            .collect();
        conditions.push(format!(
            "test_executions.status = ANY({})",
            sql.bind(values)
        ));
    }
    if let Some(project) = filter.project_id {
        conditions.push(format!(
            "test_executions.test_run_id IN (SELECT id FROM test_runs WHERE project_id = {})",
            sql.bind(project)
        ));
    }
    let (fetched, total) = crate::sql::list(conn, q, args, want).await?;
    let fetched = fetched.try_map(|row| test_execution::Model::from_query_result(&row, ""))?;
    Ok((fetched, total))
}
