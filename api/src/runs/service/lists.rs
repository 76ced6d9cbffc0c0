//! Lists of runs and executions.

use entity::{test_execution, test_run};
use sea_orm::{ActiveEnum, ConnectionTrait, FromQueryResult};

use crate::catalog::service::{ListPage, list_page};
use crate::error::AppResult;
use crate::pagination::{KeyKind, Ordering, PageArgs, Sql};
use crate::runs::types::{TestExecutionFilter, TestRunFilter};

pub async fn runs(
    conn: &impl ConnectionTrait,
    filter: TestRunFilter,
    args: &PageArgs,
    want: crate::pagination::Selected,
) -> AppResult<(Vec<(String, test_run::Model)>, ListPage)> {
    let mut sql = Sql::default();
    let mut conditions = Vec::new();
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
    let ordering = Ordering {
        name: "createdAt:desc".to_owned(),
        sql: "test_runs.created_at".to_owned(),
        kind: KeyKind::Timestamp,
        descending: true,
        id_column: "test_runs.id",
    };
    let mut page = list_page(
        conn,
        "test_runs",
        "",
        conditions,
        sql,
        &ordering,
        args,
        want,
    )
    .await?;
    let rows = std::mem::take(&mut page.rows)
        .into_iter()
        .map(|(c, row)| Ok((c, test_run::Model::from_query_result(&row, "")?)))
        .collect::<AppResult<Vec<_>>>()?;
    Ok((rows, page))
}

pub async fn executions(
    conn: &impl ConnectionTrait,
    filter: TestExecutionFilter,
    args: &PageArgs,
    want: crate::pagination::Selected,
) -> AppResult<(Vec<(String, test_execution::Model)>, ListPage)> {
    let mut sql = Sql::default();
    let mut conditions = Vec::new();
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
    let ordering = Ordering {
        name: "createdAt:desc".to_owned(),
        sql: "test_executions.created_at".to_owned(),
        kind: KeyKind::Timestamp,
        descending: true,
        id_column: "test_executions.id",
    };
    let mut page = list_page(
        conn,
        "test_executions",
        "",
        conditions,
        sql,
        &ordering,
        args,
        want,
    )
    .await?;
    let rows = std::mem::take(&mut page.rows)
        .into_iter()
        .map(|(c, row)| Ok((c, test_execution::Model::from_query_result(&row, "")?)))
        .collect::<AppResult<Vec<_>>>()?;
    Ok((rows, page))
}
