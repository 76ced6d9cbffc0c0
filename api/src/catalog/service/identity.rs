//! Stable test identity: a case's identity key and its aliases, older keys that land on it
//! (migration 17). Keys are scoped as case names are: per project, per author in the default
//! project.

use std::collections::HashMap;

use entity::test_case;
use sea_orm::{ConnectionTrait, DbBackend, FromQueryResult, Statement};
use uuid::Uuid;

use crate::error::{AppError, AppResult};
use crate::input::{TEST_KEY_MAX, check_name};
use crate::projects::service::DEFAULT_PROJECT;

/// The aliases of each case, in the order they were added.
pub async fn aliases_of(
    conn: &impl ConnectionTrait,
    cases: &[Uuid],
) -> AppResult<HashMap<Uuid, Vec<String>>> {
    let mut out: HashMap<Uuid, Vec<String>> = HashMap::new();
    for row in conn
        .query_all_raw(Statement::from_sql_and_values(
            DbBackend::Postgres,
            "SELECT test_case_id, alias_key FROM test_case_aliases WHERE test_case_id = ANY($1)
             ORDER BY test_case_id, created_at, alias_key",
            [cases.to_vec().into()],
        ))
        .await?
    {
        out.entry(row.try_get("", "test_case_id")?)
            .or_default()
            .push(row.try_get("", "alias_key")?);
    }
    Ok(out)
}

/// The case, locked for a change: NOT_FOUND when absent, not visible, or not writable.
async fn lock_case(conn: &impl ConnectionTrait, id: Uuid) -> AppResult<test_case::Model> {
    let row = conn
        .query_one_raw(Statement::from_sql_and_values(
            DbBackend::Postgres,
            "SELECT * FROM test_cases WHERE id = $1 FOR UPDATE",
            [id.into()],
        ))
        .await?
        .ok_or_else(|| AppError::not_found("TestCase", id))?;
    Ok(test_case::Model::from_query_result(&row, "")?)
}

/// Whose keys a case's are: its author's in the default project, the project's elsewhere.
fn key_owner(case: &test_case::Model) -> String {
    if case.project_id == DEFAULT_PROJECT {
        case.author.clone().unwrap_or_default()
    } else {
        String::new()
    }
}

/// Maps `key` onto the case: results for the key land on it from now on.
pub async fn add_alias(
    conn: &impl ConnectionTrait,
    case_id: Uuid,
    key: String,
) -> AppResult<test_case::Model> {
    check_name("key", &key, TEST_KEY_MAX)?;
    let case = lock_case(conn, case_id).await?;
    if case.identity_key.as_deref() == Some(key.as_str()) {
        return Ok(case);
    }
    let taken = conn
        .query_one_raw(Statement::from_sql_and_values(
            DbBackend::Postgres,
            "SELECT 1 FROM test_cases WHERE project_id = $1 AND identity_key = $2
               AND ($1 <> $3::uuid OR author IS NOT DISTINCT FROM $4)",
            [
                case.project_id.into(),
                key.clone().into(),
                DEFAULT_PROJECT.into(),
                case.author.clone().into(),
            ],
        ))
        .await?
        .is_some();
    if taken {
        return Err(AppError::conflict(
            Some("key"),
            "another test case has this identity key: merge the two (mergeTestCases) instead",
        ));
    }
    let owner = key_owner(&case);
    let added = conn
        .execute_raw(Statement::from_sql_and_values(
            DbBackend::Postgres,
            "INSERT INTO test_case_aliases(project_id, owner, alias_key, test_case_id)
             VALUES ($1, $2, $3, $4) ON CONFLICT (project_id, owner, alias_key) DO NOTHING",
            [
                case.project_id.into(),
                owner.clone().into(),
                key.clone().into(),
                case_id.into(),
            ],
        ))
        .await?
        .rows_affected();
    if added == 0 {
        // the key is an alias already: of this case (adding it again is harmless) or of
        // another one
        let same = conn
            .query_one_raw(Statement::from_sql_and_values(
                DbBackend::Postgres,
                "SELECT 1 FROM test_case_aliases
                 WHERE project_id = $1 AND owner = $2 AND alias_key = $3 AND test_case_id = $4",
                [
                    case.project_id.into(),
                    owner.into(),
                    key.into(),
                    case_id.into(),
                ],
            ))
            .await?
            .is_some();
        if !same {
            return Err(AppError::conflict(
                Some("key"),
                "the key is already an alias of another test case",
            ));
        }
    }
    Ok(case)
}

/// Removes an alias of a case.
pub async fn remove_alias(
    conn: &impl ConnectionTrait,
    case_id: Uuid,
    key: &str,
) -> AppResult<test_case::Model> {
    let case = lock_case(conn, case_id).await?;
    conn.execute_raw(Statement::from_sql_and_values(
        DbBackend::Postgres,
        "DELETE FROM test_case_aliases WHERE test_case_id = $1 AND alias_key = $2",
        [case_id.into(), key.into()],
    ))
    .await?;
    Ok(case)
}

/// Merges `source` into `target` (a renamed test): the source's results, step results, suite
/// memberships and keys (as aliases) go to the target, and the source is deleted.
pub async fn merge(
    conn: &impl ConnectionTrait,
    source: Uuid,
    target: Uuid,
) -> AppResult<test_case::Model> {
    if source == target {
        return Err(AppError::bad_input(
            "sourceId",
            "a test case cannot be merged into itself",
        ));
    }
    let src = lock_case(conn, source).await?;
    let dst = lock_case(conn, target).await?;
    if src.project_id != dst.project_id {
        return Err(AppError::bad_input(
            "targetId",
            "the cases are in different projects",
        ));
    }
    if dst.project_id == DEFAULT_PROJECT && src.author != dst.author {
        return Err(AppError::bad_input(
            "targetId",
            "in the default project, only cases of one author can be merged",
        ));
    }
    let shared = conn
        .query_one_raw(Statement::from_sql_and_values(
            DbBackend::Postgres,
            "SELECT a.test_run_id FROM test_executions_all a JOIN test_executions_all b
               ON a.test_run_id = b.test_run_id
             WHERE a.test_case_id = $1 AND b.test_case_id = $2 LIMIT 1",
            [source.into(), target.into()],
        ))
        .await?;
    if let Some(row) = shared {
        let run: Uuid = row.try_get("", "test_run_id")?;
        return Err(AppError::conflict(
            Some("sourceId"),
            format!("both cases have results in run {run}"),
        ));
    }
    conn.execute_raw(Statement::from_sql_and_values(
        DbBackend::Postgres,
        "SELECT merge_test_cases($1, $2)",
        [source.into(), target.into()],
    ))
    .await?;
    lock_case(conn, target).await
}
