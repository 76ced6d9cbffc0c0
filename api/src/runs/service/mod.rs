//! The runs' services: lifecycle of runs and executions, bulk reporting, lists, a run's
//! context (commit, branch, build URL, environment), and what hangs from runs, executions and
//! cases (`relations`).
//!
//! Every change to a run's executions first locks the run row, so that changes within one run
//! take turns, then ends with `refresh_test_run`, which recounts the counters over the latest
//! attempt of each case and moves the run's status along, in the same transaction.

pub mod bulk;
pub mod context;
pub mod lifecycle;
pub mod lists;
pub mod relations;

use entity::{test_execution, test_run};
use sea_orm::{ConnectionTrait, DbBackend, EntityTrait, FromQueryResult, Statement};
use uuid::Uuid;

use crate::error::{AppError, AppResult};

/// Locks a run for the rest of the transaction; NOT_FOUND when absent or not visible.
pub async fn lock_run(conn: &impl ConnectionTrait, run_id: Uuid) -> AppResult<test_run::Model> {
    let row = conn
        .query_one_raw(Statement::from_sql_and_values(
            DbBackend::Postgres,
            "SELECT * FROM test_runs WHERE id = $1 FOR UPDATE",
            [run_id.into()],
        ))
        .await?
        .ok_or_else(|| AppError::not_found("TestRun", run_id))?;
    Ok(test_run::Model::from_query_result(&row, "")?)
}

/// Checks that the caller may report into the run (a row lock is taken under the policies
/// that decide who may change the run) with the weakest lock, which only a deletion of the
/// run waits for; NOT_FOUND when it is absent, hidden, or not the caller's to report into.
pub async fn share_run(conn: &impl ConnectionTrait, run_id: Uuid) -> AppResult<()> {
    conn.query_one_raw(Statement::from_sql_and_values(
        DbBackend::Postgres,
        "SELECT id FROM test_runs WHERE id = $1 FOR KEY SHARE",
        [run_id.into()],
    ))
    .await?
    .ok_or_else(|| AppError::not_found("TestRun", run_id))?;
    Ok(())
}

/// Recounts the run and moves its status along.
pub async fn refresh_run(conn: &impl ConnectionTrait, run_id: Uuid) -> AppResult<()> {
    conn.execute_raw(Statement::from_sql_and_values(
        DbBackend::Postgres,
        "SELECT refresh_test_run($1)",
        [run_id.into()],
    ))
    .await?;
    Ok(())
}

/// Notes activity in a run that changes no counter (a step result, an artifact), at most
/// every 10 seconds: a run written into is not idle.
pub async fn touch_run(conn: &impl ConnectionTrait, run_id: Uuid) -> AppResult<()> {
    conn.execute_raw(Statement::from_sql_and_values(
        DbBackend::Postgres,
        "UPDATE test_runs SET last_activity_at = now()
         WHERE id = $1 AND last_activity_at < now() - interval '10 seconds'",
        [run_id.into()],
    ))
    .await?;
    Ok(())
}

pub async fn get_run(conn: &impl ConnectionTrait, id: Uuid) -> AppResult<Option<test_run::Model>> {
    Ok(test_run::Entity::find_by_id(id).one(conn).await?)
}

pub async fn get_execution(
    conn: &impl ConnectionTrait,
    id: Uuid,
) -> AppResult<Option<test_execution::Model>> {
    Ok(test_execution::Entity::find_by_id(id).one(conn).await?)
}

/// Pins or unpins a run (a pinned run is never archived); NOT_FOUND when absent or not
/// visible.
pub async fn pin_run(
    conn: &impl ConnectionTrait,
    id: Uuid,
    pinned: bool,
) -> AppResult<test_run::Model> {
    let row = conn
        .query_one_raw(Statement::from_sql_and_values(
            DbBackend::Postgres,
            "UPDATE test_runs SET pinned = $2 WHERE id = $1 RETURNING *",
            [id.into(), pinned.into()],
        ))
        .await?
        .ok_or_else(|| AppError::not_found("TestRun", id))?;
    Ok(test_run::Model::from_query_result(&row, "")?)
}

/// The GraphQL name of a status, for messages.
pub fn status_name<T: std::fmt::Debug>(status: T) -> String {
    format!("{status:?}").to_uppercase()
}
