//! Test suites and their ordered membership.

use std::collections::{HashMap, HashSet};

use entity::{test_case, test_suite};
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ConnectionTrait, DbBackend, EntityTrait, FromQueryResult,
    Statement,
};
use uuid::Uuid;

use super::{nullable, required, tags_json};
use crate::catalog::inputs::{
    CatalogOrder, CreateTestSuiteInput, TestSuiteFilter, UpdateTestSuiteInput,
};
use crate::error::{AppError, AppResult};
use crate::input::{
    DESCRIPTION_MAX, ID_LIST_MAX, NAME_MAX, SHORT_TEXT_MAX, check_len, check_list, check_name,
    check_object, check_tags,
};
use crate::pagination::{Fetched, KeyKind, Ordering, PageArgs, by_page};
use crate::sql::{ChildQuery, ListQuery, Total, child_pages, contains_pattern};

pub async fn get(conn: &impl ConnectionTrait, id: Uuid) -> AppResult<Option<test_suite::Model>> {
    Ok(test_suite::Entity::find_by_id(id).one(conn).await?)
}

pub async fn list(
    conn: &impl ConnectionTrait,
    filter: TestSuiteFilter,
    order: Option<CatalogOrder>,
    args: &PageArgs,
    want: crate::pagination::Selected,
) -> AppResult<(Fetched<test_suite::Model>, Total)> {
    let mut q = ListQuery::new(
        "test_suites",
        super::configurations::catalog_ordering("test_suites", order, "test_suites.id"),
    );
    let (conditions, sql) = (&mut q.conditions, &mut q.sql);
    if let Some(active) = filter.is_active {
        conditions.push(format!("test_suites.is_active = {}", sql.bind(active)));
    }
    if let Some(by) = filter.created_by {
        check_len("filter.createdBy", Some(&by), SHORT_TEXT_MAX)?;
        conditions.push(format!("test_suites.created_by = {}", sql.bind(by)));
    }
    if let Some(project) = filter.project_id {
        conditions.push(format!("test_suites.project_id = {}", sql.bind(project)));
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
    let (fetched, total) = crate::sql::list(conn, q, args, want).await?;
    let fetched = fetched.try_map(|row| test_suite::Model::from_query_result(&row, ""))?;
    Ok((fetched, total))
}

/// The suites each of `cases` belongs to, by name.
pub async fn of_cases(
    conn: &impl ConnectionTrait,
    cases: &[Uuid],
) -> AppResult<HashMap<Uuid, Vec<test_suite::Model>>> {
    let mut out: HashMap<Uuid, Vec<test_suite::Model>> = HashMap::new();
    for (row, suite) in crate::sql::models::<test_suite::Model>(
        conn,
        "SELECT s.*, m.test_case_id AS member_case_id FROM test_suite_test_cases m
         JOIN test_suites s ON s.id = m.test_suite_id
         WHERE m.test_case_id = ANY($1) ORDER BY s.name, s.id",
        vec![cases.to_vec().into()],
    )
    .await?
    {
        let case: Uuid = row.try_get("", "member_case_id")?;
        out.entry(case).or_default().push(suite);
    }
    Ok(out)
}

/// Each visible member of a suite with its position among the cases the caller sees, from 1,
/// in the suite's order (members without a stored position last). The stored `order_index`
/// counts every member, those of cases hidden from the caller too: shown as such, or in a
/// cursor, its gaps would tell how many hidden cases sit where (erratum 11).
const VISIBLE_MEMBERS: &str = "(SELECT tc.*, m.test_suite_id AS member_suite_id,
        row_number() OVER (PARTITION BY m.test_suite_id
                           ORDER BY m.order_index NULLS LAST, m.test_case_id)::int AS member_position
     FROM test_suite_test_cases m JOIN test_cases tc ON tc.id = m.test_case_id) v";

/// A page of each suite's cases (with their positions) in the suite's order, and its count,
/// for each `(suite, page)` of `keys`.
pub async fn case_pages(
    conn: &impl ConnectionTrait,
    keys: &[(Uuid, PageArgs)],
) -> AppResult<HashMap<(Uuid, PageArgs), (Fetched<(i32, test_case::Model)>, i64)>> {
    let query = ChildQuery {
        conditions: Vec::new(),
        sql: Default::default(),
        from: VISIBLE_MEMBERS,
        select: "v.*",
        parent: "v.member_suite_id",
        ordering: Ordering {
            name: "position:asc".to_owned(),
            sql: "v.member_position".to_owned(),
            kind: KeyKind::Int,
            descending: false,
            id_column: "v.id",
        },
    };
    let mut out = HashMap::new();
    for (args, suites) in by_page(keys) {
        let mut pages = child_pages(conn, &query, &suites, args).await?;
        for suite in suites {
            let (fetched, total) = pages
                .remove(&suite)
                .unwrap_or_else(|| (Fetched::empty(), 0));
            let fetched = fetched.try_map(|row| -> AppResult<_> {
                Ok((
                    row.try_get::<i32>("", "member_position")?,
                    test_case::Model::from_query_result(&row, "")?,
                ))
            })?;
            out.insert((suite, args.clone()), (fetched, total));
        }
    }
    Ok(out)
}

pub async fn create(
    conn: &impl ConnectionTrait,
    project_id: Uuid,
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
        project_id: Set(project_id),
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
    if let Some(v) = required("name", input.name)? {
        check_name("name", &v, NAME_MAX)?;
        model.name = Set(v);
    }
    if let Some(v) = nullable(input.description) {
        check_len("description", v.as_deref(), DESCRIPTION_MAX)?;
        model.description = Set(v);
    }
    if let Some(v) = nullable(input.tags) {
        check_tags("tags", v.as_deref().unwrap_or_default())?;
        model.tags = Set(Some(tags_json(&v.unwrap_or_default())));
    }
    if let Some(v) = nullable(input.configuration) {
        let v = v.map(|j| j.0).unwrap_or_else(|| serde_json::json!({}));
        check_object("configuration", &v)?;
        model.configuration = Set(Some(v));
    }
    if let Some(v) = required("isActive", input.is_active)? {
        model.is_active = Set(v);
    }
    if !model.is_changed() {
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
