//! Test suites and their ordered membership.

use std::collections::HashSet;

use entity::test_suite;
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ConnectionTrait, DbBackend, EntityTrait, FromQueryResult,
    Statement,
};
use uuid::Uuid;

use super::{ListPage, contains_pattern, list_page, nullable, required, tags_json};
use crate::catalog::types::{
    CatalogOrder, CreateTestSuiteInput, TestSuiteFilter, UpdateTestSuiteInput,
};
use crate::error::{AppError, AppResult};
use crate::input::{
    DESCRIPTION_MAX, ID_LIST_MAX, NAME_MAX, SHORT_TEXT_MAX, check_len, check_list, check_name,
    check_object, check_tags,
};
use crate::pagination::{PageArgs, Sql};

pub async fn get(conn: &impl ConnectionTrait, id: Uuid) -> AppResult<Option<test_suite::Model>> {
    Ok(test_suite::Entity::find_by_id(id).one(conn).await?)
}

pub async fn list(
    conn: &impl ConnectionTrait,
    filter: TestSuiteFilter,
    order: Option<CatalogOrder>,
    args: &PageArgs,
    want: crate::pagination::Selected,
) -> AppResult<(Vec<(String, test_suite::Model)>, ListPage)> {
    let mut sql = Sql::default();
    let mut conditions = Vec::new();
    if let Some(active) = filter.is_active {
        conditions.push(format!("test_suites.is_active = {}", sql.bind(active)));
    }
    if let Some(by) = filter.created_by {
        check_len("filter.createdBy", Some(&by), SHORT_TEXT_MAX)?;
        conditions.push(format!("test_suites.created_by = {}", sql.bind(by)));
    }
    if let Some(name) = filter.name_contains {
        check_len("filter.nameContains", Some(&name), NAME_MAX)?;
        conditions.push(format!(
            "test_suites.name ILIKE {}",
            sql.bind(contains_pattern(&name))
        ));
    }
    if let Some(case) = filter.contains_test_case {
        conditions.push(format!(
            "EXISTS (SELECT 1 FROM test_suite_test_cases m JOIN test_cases tc ON tc.id = m.test_case_id \
             WHERE m.test_suite_id = test_suites.id AND m.test_case_id = {})",
            sql.bind(case)
        ));
    }
    let ordering = super::configurations::catalog_ordering("test_suites", order, "test_suites.id");
    let mut page = list_page(
        conn,
        "test_suites",
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
        .map(|(c, row)| Ok((c, test_suite::Model::from_query_result(&row, "")?)))
        .collect::<AppResult<Vec<_>>>()?;
    Ok((rows, page))
}

pub async fn create(
    conn: &impl ConnectionTrait,
    input: CreateTestSuiteInput,
    actor: Option<&str>,
) -> AppResult<test_suite::Model> {
    check_name("name", &input.name, NAME_MAX)?;
    check_len("description", input.description.as_deref(), DESCRIPTION_MAX)?;
    if let Some(tags) = &input.tags {
        check_tags("tags", tags)?;
    }
    let configuration = input
        .configuration
        .map(|j| j.0)
        .unwrap_or_else(|| serde_json::json!({}));
    check_object("configuration", &configuration)?;
    let created_by = input.created_by.or_else(|| actor.map(str::to_owned));
    check_len("createdBy", created_by.as_deref(), SHORT_TEXT_MAX)?;
    let suite = test_suite::ActiveModel {
        id: Set(Uuid::now_v7()),
        name: Set(input.name),
        description: Set(input.description),
        tags: Set(Some(tags_json(&input.tags.unwrap_or_default()))),
        configuration: Set(Some(configuration)),
        is_active: Set(input.is_active.unwrap_or(true)),
        created_by: Set(created_by),
        ..Default::default()
    }
    .insert(conn)
    .await?;
    if let Some(ids) = input.test_case_ids
        && !ids.is_empty()
    {
        add_cases(conn, suite.id, &ids, None).await?;
    }
    Ok(suite)
}

pub async fn update(
    conn: &impl ConnectionTrait,
    id: Uuid,
    input: UpdateTestSuiteInput,
) -> AppResult<test_suite::Model> {
    let mut model = test_suite::ActiveModel {
        id: sea_orm::ActiveValue::Unchanged(id),
        ..Default::default()
    };
    let mut changed = false;
    if let Some(v) = required("name", input.name)? {
        check_name("name", &v, NAME_MAX)?;
        model.name = Set(v);
        changed = true;
    }
    if let Some(v) = nullable(input.description) {
        check_len("description", v.as_deref(), DESCRIPTION_MAX)?;
        model.description = Set(v);
        changed = true;
    }
    if let Some(v) = nullable(input.tags) {
        check_tags("tags", v.as_deref().unwrap_or_default())?;
        model.tags = Set(Some(tags_json(&v.unwrap_or_default())));
        changed = true;
    }
    if let Some(v) = nullable(input.configuration) {
        let v = v.map(|j| j.0).unwrap_or_else(|| serde_json::json!({}));
        check_object("configuration", &v)?;
        model.configuration = Set(Some(v));
        changed = true;
    }
    if let Some(v) = required("isActive", input.is_active)? {
        model.is_active = Set(v);
        changed = true;
    }
    if !changed {
        return get(conn, id)
            .await?
            .ok_or_else(|| AppError::not_found("TestSuite", id));
    }
    super::updated(model.update(conn).await, "TestSuite", id)
}

pub async fn delete(conn: &impl ConnectionTrait, id: Uuid) -> AppResult<Uuid> {
    super::delete_row::<test_suite::Entity>(conn, id, "TestSuite").await
}

/// Locks the suite row; NOT_FOUND when absent.
async fn lock_suite(conn: &impl ConnectionTrait, suite_id: Uuid) -> AppResult<()> {
    conn.query_one_raw(Statement::from_sql_and_values(
        DbBackend::Postgres,
        "SELECT id FROM test_suites WHERE id = $1 FOR UPDATE",
        [suite_id.into()],
    ))
    .await?
    .map(|_| ())
    .ok_or_else(|| AppError::not_found("TestSuite", suite_id))
}

/// The suite's members in order.
async fn members(conn: &impl ConnectionTrait, suite_id: Uuid) -> AppResult<Vec<Uuid>> {
    let rows = conn
        .query_all_raw(Statement::from_sql_and_values(
            DbBackend::Postgres,
            "SELECT test_case_id FROM test_suite_test_cases WHERE test_suite_id = $1
             ORDER BY order_index NULLS LAST, test_case_id",
            [suite_id.into()],
        ))
        .await?;
    rows.iter()
        .map(|r| Ok(r.try_get("", "test_case_id")?))
        .collect()
}

/// Sets positions 1..n in the order of `desired` (membership has no unique position, so one
/// statement does it).
async fn set_positions(
    conn: &impl ConnectionTrait,
    suite_id: Uuid,
    desired: &[Uuid],
) -> AppResult<()> {
    let positions: Vec<i32> = (1..=desired.len() as i32).collect();
    conn.execute_raw(Statement::from_sql_and_values(
        DbBackend::Postgres,
        "UPDATE test_suite_test_cases m SET order_index = o.pos
         FROM unnest($2::uuid[], $3::int[]) AS o(id, pos)
         WHERE m.test_suite_id = $1 AND m.test_case_id = o.id AND m.order_index IS DISTINCT FROM o.pos",
        [suite_id.into(), desired.to_vec().into(), positions.into()],
    ))
    .await?;
    Ok(())
}

fn distinct(field: &str, ids: &[Uuid]) -> AppResult<()> {
    check_list(field, ids.len(), ID_LIST_MAX)?;
    let set: HashSet<&Uuid> = ids.iter().collect();
    if set.len() != ids.len() {
        return Err(AppError::bad_input(
            field,
            format!("{field} lists a test case more than once"),
        ));
    }
    if ids.is_empty() {
        return Err(AppError::bad_input(
            field,
            format!("{field} must not be empty"),
        ));
    }
    Ok(())
}

pub async fn add_cases(
    conn: &impl ConnectionTrait,
    suite_id: Uuid,
    case_ids: &[Uuid],
    position: Option<i32>,
) -> AppResult<()> {
    distinct("testCaseIds", case_ids)?;
    lock_suite(conn, suite_id).await?;
    let current = members(conn, suite_id).await?;
    let already: Vec<String> = case_ids
        .iter()
        .filter(|id| current.contains(id))
        .map(Uuid::to_string)
        .collect();
    if !already.is_empty() {
        return Err(AppError::conflict(
            Some("testCaseIds"),
            format!("already in the suite: {}", already.join(", ")),
        ));
    }
    let found: HashSet<Uuid> = conn
        .query_all_raw(Statement::from_sql_and_values(
            DbBackend::Postgres,
            "SELECT id FROM test_cases WHERE id = ANY($1)",
            [case_ids.to_vec().into()],
        ))
        .await?
        .iter()
        .map(|r| r.try_get("", "id"))
        .collect::<Result<_, _>>()?;
    let unknown: Vec<String> = case_ids
        .iter()
        .filter(|id| !found.contains(id))
        .map(Uuid::to_string)
        .collect();
    if !unknown.is_empty() {
        return Err(AppError::bad_input(
            "testCaseIds",
            format!("no such test case: {}", unknown.join(", ")),
        ));
    }
    let count = current.len() as i32;
    let position = position.unwrap_or(count + 1);
    if position < 1 || position > count + 1 {
        return Err(AppError::bad_input(
            "position",
            format!("position must be between 1 and {}", count + 1),
        ));
    }
    let mut desired = current.clone();
    let at = position as usize - 1;
    desired.splice(at..at, case_ids.iter().copied());
    let positions: Vec<i32> = case_ids
        .iter()
        .enumerate()
        .map(|(i, _)| position + i as i32)
        .collect();
    conn.execute_raw(Statement::from_sql_and_values(
        DbBackend::Postgres,
        "INSERT INTO test_suite_test_cases(test_suite_id, test_case_id, order_index)
         SELECT $1, o.id, o.pos FROM unnest($2::uuid[], $3::int[]) AS o(id, pos)",
        [suite_id.into(), case_ids.to_vec().into(), positions.into()],
    ))
    .await?;
    set_positions(conn, suite_id, &desired).await
}

pub async fn remove_cases(
    conn: &impl ConnectionTrait,
    suite_id: Uuid,
    case_ids: &[Uuid],
) -> AppResult<()> {
    distinct("testCaseIds", case_ids)?;
    lock_suite(conn, suite_id).await?;
    let current = members(conn, suite_id).await?;
    let absent: Vec<String> = case_ids
        .iter()
        .filter(|id| !current.contains(id))
        .map(Uuid::to_string)
        .collect();
    if !absent.is_empty() {
        return Err(AppError::bad_input(
            "testCaseIds",
            format!("not in the suite: {}", absent.join(", ")),
        ));
    }
    conn.execute_raw(Statement::from_sql_and_values(
        DbBackend::Postgres,
        "DELETE FROM test_suite_test_cases WHERE test_suite_id = $1 AND test_case_id = ANY($2)",
        [suite_id.into(), case_ids.to_vec().into()],
    ))
    .await?;
    let remaining: Vec<Uuid> = current
        .into_iter()
        .filter(|id| !case_ids.contains(id))
        .collect();
    set_positions(conn, suite_id, &remaining).await
}

pub async fn reorder(
    conn: &impl ConnectionTrait,
    suite_id: Uuid,
    case_ids: &[Uuid],
) -> AppResult<()> {
    distinct("testCaseIds", case_ids)?;
    lock_suite(conn, suite_id).await?;
    let current = members(conn, suite_id).await?;
    let given: HashSet<&Uuid> = case_ids.iter().collect();
    let existing: HashSet<&Uuid> = current.iter().collect();
    if given != existing {
        return Err(AppError::bad_input(
            "testCaseIds",
            format!(
                "testCaseIds must list exactly the suite's {} test cases",
                current.len()
            ),
        ));
    }
    set_positions(conn, suite_id, case_ids).await
}
