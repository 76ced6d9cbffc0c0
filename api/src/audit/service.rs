//! The SQL of the audit trail.

use std::collections::{BTreeSet, HashMap};

use sea_orm::{ConnectionTrait, QueryResult};
use serde_json::Value as JsonValue;
use uuid::Uuid;

use super::types::{AuditEntry, AuditLogFilter, AuditOperation, AuditedType};
use crate::error::{AppError, AppResult};
use crate::input::{SHORT_TEXT_MAX, check_len};
use crate::pagination::{Fetched, KeyKind, Ordering, PageArgs, Selected, by_page};
use crate::sql::{ChildQuery, ListQuery, Total, child_pages};

/// Columns every row changes on update, left out of `changedFields`.
const BOOKKEEPING_FIELDS: &[&str] = &["updated_at"];

/// The audit trail, newest first.
fn ordering() -> Ordering {
    Ordering {
        name: "changedAt:desc".to_owned(),
        sql: "audit_log.changed_at".to_owned(),
        kind: KeyKind::Timestamp,
        descending: true,
        id_column: "audit_log.id",
    }
}

/// The columns whose values differ between `old` and `new` (all of them for an insert or a
/// delete), bookkeeping left out.
pub fn changed_fields(old: Option<&JsonValue>, new: Option<&JsonValue>) -> Vec<String> {
    let keys = |v: Option<&JsonValue>| -> BTreeSet<String> {
        v.and_then(JsonValue::as_object)
            .map(|o| o.keys().cloned().collect())
            .unwrap_or_default()
    };
    let all: BTreeSet<String> = keys(old).union(&keys(new)).cloned().collect();
    all.into_iter()
        .filter(|k| match (old, new) {
            (Some(o), Some(n)) => o.get(k) != n.get(k) && !BOOKKEEPING_FIELDS.contains(&k.as_str()),
            _ => true,
        })
        .collect()
}

/// An audit log row as the API shows it: its table as a type, its operation as an enum, its
/// columns as that type's fields. A table or an operation the API has no name for is a bug of
/// [`super::types`]'s mapping, reported as such.
fn entry(row: &QueryResult) -> AppResult<AuditEntry> {
    let table: String = row.try_get("", "table_name")?;
    let record_type = AuditedType::of_table(&table)
        .ok_or_else(|| AppError::internal(format!("audit entry of unmapped table {table}")))?;
    let stored: String = row.try_get("", "operation")?;
    let operation = AuditOperation::of_stored(&stored)
        .ok_or_else(|| AppError::internal(format!("audit entry of unmapped operation {stored}")))?;
    let old: Option<JsonValue> = row.try_get("", "old_values")?;
    let new: Option<JsonValue> = row.try_get("", "new_values")?;
    let mut changed: Vec<String> = changed_fields(old.as_ref(), new.as_ref())
        .iter()
        .map(|column| record_type.field(column))
        .collect();
    changed.sort();
    Ok(AuditEntry {
        id: row.try_get("", "id")?,
        record_type,
        record_id: row.try_get("", "record_id")?,
        operation,
        changed_fields: changed,
        old_values: old.map(|v| async_graphql::Json(record_type.fields_of(v))),
        new_values: new.map(|v| async_graphql::Json(record_type.fields_of(v))),
        changed_by: row.try_get("", "changed_by")?,
        changed_at: row.try_get("", "changed_at")?,
    })
}

/// The project an entry's row belongs to: from the row itself where it carries its project,
/// else from its parent (a deleted parent leaves the entry without a project).
const PROJECT_OF_ENTRY: &str = "(CASE audit_log.table_name
    WHEN 'projects' THEN audit_log.record_id::text
    WHEN 'project_members' THEN audit_log.record_id::text
    WHEN 'test_cases' THEN coalesce(coalesce(audit_log.new_values, audit_log.old_values) ->> 'project_id', '00000000-0000-0000-0000-000000000001')
    WHEN 'test_suites' THEN coalesce(coalesce(audit_log.new_values, audit_log.old_values) ->> 'project_id', '00000000-0000-0000-0000-000000000001')
    WHEN 'configurations' THEN coalesce(coalesce(audit_log.new_values, audit_log.old_values) ->> 'project_id', '00000000-0000-0000-0000-000000000001')
    WHEN 'test_runs' THEN coalesce(coalesce(audit_log.new_values, audit_log.old_values) ->> 'project_id', '00000000-0000-0000-0000-000000000001')
    WHEN 'test_case_quarantines' THEN coalesce(audit_log.new_values, audit_log.old_values) ->> 'project_id'
    WHEN 'webhooks' THEN coalesce(audit_log.new_values, audit_log.old_values) ->> 'project_id'
    WHEN 'test_steps' THEN (SELECT c.project_id::text FROM test_cases c
        WHERE c.id::text = coalesce(audit_log.new_values, audit_log.old_values) ->> 'test_case_id')
    WHEN 'test_suite_test_cases' THEN (SELECT s.project_id::text FROM test_suites s
        WHERE s.id::text = coalesce(audit_log.new_values, audit_log.old_values) ->> 'test_suite_id')
    WHEN 'test_executions' THEN (SELECT r.project_id::text FROM test_runs r
        WHERE r.id::text = coalesce(audit_log.new_values, audit_log.old_values) ->> 'test_run_id')
    WHEN 'test_step_executions' THEN (SELECT r.project_id::text FROM test_executions_all e
        JOIN test_runs r ON r.id = e.test_run_id
        WHERE e.id::text = coalesce(audit_log.new_values, audit_log.old_values) ->> 'test_execution_id')
    WHEN 'test_artifacts' THEN (SELECT r.project_id::text FROM test_executions_all e
        JOIN test_runs r ON r.id = e.test_run_id
        WHERE e.id::text = coalesce(audit_log.new_values, audit_log.old_values) ->> 'test_execution_id')
    END)";

/// Lists audit entries matching `filter`.
pub async fn list(
    conn: &impl ConnectionTrait,
    filter: AuditLogFilter,
    args: &PageArgs,
    want: Selected,
) -> AppResult<(Fetched<AuditEntry>, Total)> {
    let mut q = ListQuery::new("audit_log", ordering());
    let (conditions, sql) = (&mut q.conditions, &mut q.sql);
    if let Some(t) = filter.record_type {
        conditions.push(format!("audit_log.table_name = {}", sql.bind(t.table())));
    }
    if let Some(r) = filter.record_id {
        conditions.push(format!("audit_log.record_id = {}", sql.bind(r)));
    }
    if let Some(by) = filter.changed_by {
        check_len("filter.changedBy", Some(&by), SHORT_TEXT_MAX)?;
        conditions.push(format!("audit_log.changed_by = {}", sql.bind(by)));
    }
    if let Some(op) = filter.operation {
        conditions.push(format!("audit_log.operation = {}", sql.bind(op.stored())));
    }
    if let Some(from) = filter.from {
        conditions.push(format!("audit_log.changed_at >= {}", sql.bind(from)));
    }
    if let Some(project) = filter.project_id {
        conditions.push(format!(
            "{} = {}",
            PROJECT_OF_ENTRY,
            sql.bind(project.to_string())
        ));
    }
    if let Some(to) = filter.to {
        conditions.push(format!("audit_log.changed_at < {}", sql.bind(to)));
    }
    let (fetched, total) = crate::sql::list(conn, q, args, want).await?;
    Ok((fetched.try_map(|row| entry(&row))?, total))
}

/// A page of the history of each `((table, record), page)` of `keys`, with its count.
pub async fn history_pages(
    conn: &impl ConnectionTrait,
    keys: &[((&'static str, Uuid), PageArgs)],
) -> AppResult<HashMap<((&'static str, Uuid), PageArgs), (Fetched<AuditEntry>, i64)>> {
    let mut out = HashMap::new();
    for (args, records) in by_page(keys) {
        let tables: BTreeSet<&'static str> = records.iter().map(|(t, _)| *t).collect();
        for table in tables {
            let ids: Vec<Uuid> = records
                .iter()
                .filter(|(t, _)| *t == table)
                .map(|(_, id)| *id)
                .collect();
            let mut query = ChildQuery {
                conditions: Vec::new(),
                sql: Default::default(),
                from: "audit_log",
                select: "audit_log.*",
                parent: "audit_log.record_id",
                ordering: ordering(),
            };
            let table_param = query.sql.bind(table);
            query
                .conditions
                .push(format!("audit_log.table_name = {table_param}"));
            let mut pages = child_pages(conn, &query, &ids, args).await?;
            for id in ids {
                let (fetched, total) = pages.remove(&id).unwrap_or_else(|| (Fetched::empty(), 0));
                out.insert(
                    ((table, id), args.clone()),
                    (fetched.try_map(|row| entry(&row))?, total),
                );
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn an_update_lists_the_columns_that_changed_without_bookkeeping() {
        let old = json!({ "name": "a", "status": "draft", "updated_at": "1" });
        let new = json!({ "name": "b", "status": "draft", "updated_at": "2" });
        assert_eq!(changed_fields(Some(&old), Some(&new)), vec!["name"]);
    }

    #[test]
    fn an_insert_or_delete_lists_every_column() {
        let row = json!({ "name": "a", "updated_at": "1" });
        assert_eq!(changed_fields(None, Some(&row)), vec!["name", "updated_at"]);
        assert_eq!(changed_fields(Some(&row), None), vec!["name", "updated_at"]);
    }
}
