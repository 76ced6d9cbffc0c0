//! Steps of a test case: add at a position, update, remove closing the gap, reorder.
//!
//! The spec's `UNIQUE(test_case_id, order_index)` is checked row by row during an UPDATE, so
//! renumbering moves the rows that change first to positions above every current one, then to
//! their final positions: no intermediate state ever holds a duplicate. The case row is locked
//! (`FOR UPDATE`) so that concurrent edits of one case's steps take turns.

use std::collections::HashSet;

use entity::test_step;
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ConnectionTrait, DbBackend, EntityTrait, Statement,
};
use uuid::Uuid;

use super::{nullable, required};
use crate::input::{
    DESCRIPTION_MAX, ID_LIST_MAX, NAME_MAX, SELECTOR_MAX, check_len, check_list, check_name,
    check_object, check_range,
};

/// Longest step timeout, in seconds: a day.
pub const TIMEOUT_MAX_SECONDS: i32 = 24 * 3_600;
use crate::catalog::inputs::{TestStepInput, UpdateTestStepInput};
use crate::error::{AppError, AppResult};

/// Default step timeout, as the spec's column default.
const DEFAULT_TIMEOUT_SECONDS: i32 = 30;

/// Checks a step input's lengths and JSON; `field` prefixes the reported field.
pub fn check_step_input(field: &str, input: &TestStepInput) -> AppResult<()> {
    let f = |name: &str| {
        if field.is_empty() {
            name.to_owned()
        } else {
            format!("{field}.{name}")
        }
    };
    check_name(&f("name"), &input.name, NAME_MAX)?;
    check_len(
        &f("description"),
        input.description.as_deref(),
        DESCRIPTION_MAX,
    )?;
    check_len(&f("selector"), input.selector.as_deref(), SELECTOR_MAX)?;
    check_len(
        &f("inputData"),
        input.input_data.as_deref(),
        DESCRIPTION_MAX,
    )?;
    check_len(
        &f("expectedResult"),
        input.expected_result.as_deref(),
        DESCRIPTION_MAX,
    )?;
    if let Some(c) = &input.configuration {
        check_object(&f("configuration"), &c.0)?;
    }
    if let Some(t) = input.timeout_seconds {
        check_range(&f("timeoutSeconds"), t, 1, TIMEOUT_MAX_SECONDS)?;
    }
    Ok(())
}

/// A new step row at `order_index`.
pub fn new_step(case_id: Uuid, order_index: i32, input: TestStepInput) -> test_step::ActiveModel {
    test_step::ActiveModel {
        id: Set(Uuid::now_v7()),
        test_case_id: Set(case_id),
        order_index: Set(order_index),
        name: Set(input.name),
        description: Set(input.description),
        step_type: Set(input.step_type.into()),
        selector: Set(input.selector),
        input_data: Set(input.input_data),
        expected_result: Set(input.expected_result),
        configuration: Set(Some(
            input
                .configuration
                .map(|j| j.0)
                .unwrap_or_else(|| serde_json::json!({})),
        )),
        timeout_seconds: Set(Some(
            input.timeout_seconds.unwrap_or(DEFAULT_TIMEOUT_SECONDS),
        )),
        is_optional: Set(input.is_optional.unwrap_or(false)),
        continue_on_failure: Set(input.continue_on_failure.unwrap_or(false)),
        ..Default::default()
    }
}

/// The steps of each of `cases`, in order.
pub async fn of_cases(
    conn: &impl ConnectionTrait,
    cases: &[Uuid],
) -> AppResult<std::collections::HashMap<Uuid, Vec<test_step::Model>>> {
    let mut out: std::collections::HashMap<Uuid, Vec<test_step::Model>> = Default::default();
    for (_, step) in crate::sql::models::<test_step::Model>(
        conn,
        "SELECT * FROM test_steps WHERE test_case_id = ANY($1) ORDER BY test_case_id, order_index, id",
        vec![cases.to_vec().into()],
    )
    .await?
    {
        out.entry(step.test_case_id).or_default().push(step);
    }
    Ok(out)
}

/// Locks the case row, failing with NOT_FOUND when it does not exist (or is not visible).
pub async fn lock_case(conn: &impl ConnectionTrait, case_id: Uuid) -> AppResult<()> {
    let row = conn
        .query_one_raw(Statement::from_sql_and_values(
            DbBackend::Postgres,
            "SELECT id FROM test_cases WHERE id = $1 FOR UPDATE",
            [case_id.into()],
        ))
        .await?;
    row.map(|_| ())
        .ok_or_else(|| AppError::not_found("TestCase", case_id))
}

/// The case's steps as (id, order_index), in order.
async fn current_order(conn: &impl ConnectionTrait, case_id: Uuid) -> AppResult<Vec<(Uuid, i32)>> {
    let rows = conn
        .query_all_raw(Statement::from_sql_and_values(
            DbBackend::Postgres,
            "SELECT id, order_index FROM test_steps WHERE test_case_id = $1 ORDER BY order_index, id",
            [case_id.into()],
        ))
        .await?;
    rows.iter()
        .map(|r| Ok((r.try_get("", "id")?, r.try_get("", "order_index")?)))
        .collect()
}

/// Gives the steps `desired` positions 1..n, touching only the rows whose position changes.
async fn renumber(
    conn: &impl ConnectionTrait,
    current: &[(Uuid, i32)],
    desired: &[Uuid],
) -> AppResult<()> {
    let now: std::collections::HashMap<Uuid, i32> = current.iter().copied().collect();
    let mut ids = Vec::new();
    let mut positions = Vec::new();
    for (i, id) in desired.iter().enumerate() {
        let pos = i as i32 + 1;
        if now.get(id) != Some(&pos) {
            ids.push(*id);
            positions.push(pos);
        }
    }
    if ids.is_empty() {
        return Ok(());
    }
    let above = current.iter().map(|(_, o)| *o).max().unwrap_or(0);
    for offset in [above, 0] {
        conn.execute_raw(Statement::from_sql_and_values(
            DbBackend::Postgres,
            "UPDATE test_steps s SET order_index = $1 + o.pos
             FROM unnest($2::uuid[], $3::int[]) AS o(id, pos) WHERE s.id = o.id",
            [offset.into(), ids.clone().into(), positions.clone().into()],
        ))
        .await?;
    }
    Ok(())
}

pub async fn get(conn: &impl ConnectionTrait, id: Uuid) -> AppResult<Option<test_step::Model>> {
    Ok(test_step::Entity::find_by_id(id).one(conn).await?)
}

pub async fn add(
    conn: &impl ConnectionTrait,
    case_id: Uuid,
    input: TestStepInput,
    position: Option<i32>,
) -> AppResult<test_step::Model> {
    check_step_input("input", &input)?;
    lock_case(conn, case_id).await?;
    let current = current_order(conn, case_id).await?;
    let count = current.len() as i32;
    let position = position.unwrap_or(count + 1);
    if position < 1 || position > count + 1 {
        return Err(AppError::bad_input(
            "position",
            format!("position must be between 1 and {}", count + 1),
        ));
    }
    let above = current.iter().map(|(_, o)| *o).max().unwrap_or(0);
    let step = new_step(case_id, above + 1, input).insert(conn).await?;
    let mut desired: Vec<Uuid> = current.iter().map(|(id, _)| *id).collect();
    desired.insert(position as usize - 1, step.id);
    let mut with_new = current.clone();
    with_new.push((step.id, above + 1));
    renumber(conn, &with_new, &desired).await?;
    get(conn, step.id)
        .await?
        .ok_or_else(|| AppError::not_found("TestStep", step.id))
}

pub async fn update(
    conn: &impl ConnectionTrait,
    id: Uuid,
    input: UpdateTestStepInput,
) -> AppResult<test_step::Model> {
    let mut model = test_step::ActiveModel {
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
    if let Some(v) = required("stepType", input.step_type)? {
        model.step_type = Set(v.into());
    }
    if let Some(v) = nullable(input.selector) {
        check_len("selector", v.as_deref(), SELECTOR_MAX)?;
        model.selector = Set(v);
    }
    if let Some(v) = nullable(input.input_data) {
        check_len("inputData", v.as_deref(), DESCRIPTION_MAX)?;
        model.input_data = Set(v);
    }
    if let Some(v) = nullable(input.expected_result) {
        check_len("expectedResult", v.as_deref(), DESCRIPTION_MAX)?;
        model.expected_result = Set(v);
    }
    if let Some(v) = nullable(input.configuration) {
        let v = v.map(|j| j.0).unwrap_or_else(|| serde_json::json!({}));
        check_object("configuration", &v)?;
        model.configuration = Set(Some(v));
    }
    if let Some(v) = nullable(input.timeout_seconds) {
        if let Some(t) = v {
            check_range("timeoutSeconds", t, 1, TIMEOUT_MAX_SECONDS)?;
        }
        model.timeout_seconds = Set(v);
    }
    if let Some(v) = required("isOptional", input.is_optional)? {
        model.is_optional = Set(v);
    }
    if let Some(v) = required("continueOnFailure", input.continue_on_failure)? {
        model.continue_on_failure = Set(v);
    }
    if !model.is_changed() {
        return get(conn, id)
            .await?
            .ok_or_else(|| AppError::not_found("TestStep", id));
    }
    super::updated(model.update(conn).await, "TestStep", id)
}

/// Removes a step and closes the gap; returns the case's id.
pub async fn remove(conn: &impl ConnectionTrait, id: Uuid) -> AppResult<Uuid> {
    let step = get(conn, id)
        .await?
        .ok_or_else(|| AppError::not_found("TestStep", id))?;
    lock_case(conn, step.test_case_id).await?;
    test_step::Entity::delete_by_id(id).exec(conn).await?;
    let current = current_order(conn, step.test_case_id).await?;
    let desired: Vec<Uuid> = current.iter().map(|(id, _)| *id).collect();
    renumber(conn, &current, &desired).await?;
    Ok(step.test_case_id)
}

/// Puts the case's steps in the order of `step_ids`, which must be exactly its steps.
pub async fn reorder(
    conn: &impl ConnectionTrait,
    case_id: Uuid,
    step_ids: &[Uuid],
) -> AppResult<()> {
    check_list("stepIds", step_ids.len(), ID_LIST_MAX)?;
    lock_case(conn, case_id).await?;
    let current = current_order(conn, case_id).await?;
    let given: HashSet<Uuid> = step_ids.iter().copied().collect();
    let existing: HashSet<Uuid> = current.iter().map(|(id, _)| *id).collect();
    if given.len() != step_ids.len() {
        return Err(AppError::bad_input(
            "stepIds",
            "stepIds lists a step more than once",
        ));
    }
    if given != existing {
        let unknown = given.difference(&existing).count();
        let missing = existing.difference(&given).count();
        return Err(AppError::bad_input(
            "stepIds",
            format!(
                "stepIds must list exactly the case's {} steps ({unknown} not of this case, {missing} missing)",
                existing.len()
            ),
        ));
    }
    renumber(conn, &current, step_ids).await
}
