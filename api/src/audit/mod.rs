//! The audit trail over GraphQL: a filterable connection, and the history of a record.
//! Row-level security decides which entries a caller sees (a member: those of records they
//! can see).

use std::collections::BTreeSet;

use async_graphql::{Context, InputObject, Object, SimpleObject};
use sea_orm::{ConnectionTrait, QueryResult};
use serde_json::Value as JsonValue;
use uuid::Uuid;

use crate::auth::context::request_db;
use crate::catalog::service::{ListPage, list_page};
use crate::error::{AppError, AppResult};
use crate::pagination::{CountQuery, KeyKind, Ordering, PageArgs, PageInfo, Sql};
use crate::scalars::{Json, Timestamp};

/// Longest operation name (`INSERT`, `UPDATE`, `DELETE`, `ARCHIVE`, `RESTORE`).
const OPERATION_MAX: usize = 10;

/// Fields every row changes on update, left out of `changedFields`.
const BOOKKEEPING_FIELDS: &[&str] = &["updated_at"];

/// One change of one record.
#[derive(SimpleObject, Clone)]
pub struct AuditEntry {
    /// Unique id.
    pub id: Uuid,
    /// Table of the record.
    pub table_name: String,
    /// The record (for suite membership: the suite).
    pub record_id: Uuid,
    /// INSERT, UPDATE, DELETE or ARCHIVE.
    pub operation: String,
    /// The record before the change.
    pub old_values: Option<Json>,
    /// The record after the change.
    pub new_values: Option<Json>,
    /// Columns whose value changed (for an update; all columns for an insert or delete).
    pub changed_fields: Vec<String>,
    /// Who made the change.
    pub changed_by: Option<String>,
    /// When.
    pub changed_at: Timestamp,
}

fn changed_fields(old: Option<&JsonValue>, new: Option<&JsonValue>) -> Vec<String> {
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

impl AuditEntry {
    fn from_row(row: &QueryResult) -> AppResult<Self> {
        let old: Option<JsonValue> = row.try_get("", "old_values")?;
        let new: Option<JsonValue> = row.try_get("", "new_values")?;
        Ok(Self {
            id: row.try_get("", "id")?,
            table_name: row.try_get("", "table_name")?,
            record_id: row.try_get("", "record_id")?,
            operation: row.try_get("", "operation")?,
            changed_fields: changed_fields(old.as_ref(), new.as_ref()),
            old_values: old.map(async_graphql::Json),
            new_values: new.map(async_graphql::Json),
            changed_by: row.try_get("", "changed_by")?,
            changed_at: row.try_get("", "changed_at")?,
        })
    }
}

/// Which audit entries to list.
#[derive(InputObject, Default, Clone)]
pub struct AuditLogFilter {
    /// Entries of this table.
    pub table_name: Option<String>,
    /// Entries of this record.
    pub record_id: Option<Uuid>,
    /// Entries by this user.
    pub changed_by: Option<String>,
    /// Entries of this operation (INSERT, UPDATE, DELETE, ARCHIVE).
    pub operation: Option<String>,
    /// At or after this time.
    pub from: Option<Timestamp>,
    /// Before this time.
    pub to: Option<Timestamp>,
}

/// A page of audit entries, newest first.
#[derive(SimpleObject)]
#[graphql(complex)]
pub struct AuditEntryConnection {
    /// The entries of the page.
    pub edges: Vec<AuditEntryEdge>,
    /// Where the page sits in the whole list.
    pub page_info: PageInfo,
    #[graphql(skip)]
    pub count: CountQuery,
}

#[async_graphql::ComplexObject]
impl AuditEntryConnection {
    /// Number of entries matching the filter.
    async fn total_count(&self, ctx: &Context<'_>) -> AppResult<i64> {
        self.count.run(ctx).await
    }
}

/// An entry in a page.
#[derive(SimpleObject)]
pub struct AuditEntryEdge {
    /// Opaque position, for `after` / `before`.
    pub cursor: String,
    /// The entry.
    pub node: AuditEntry,
}

/// Lists audit entries.
pub async fn list(
    conn: &impl ConnectionTrait,
    filter: AuditLogFilter,
    args: &PageArgs,
) -> AppResult<(Vec<(String, AuditEntry)>, ListPage)> {
    let mut sql = Sql::default();
    let mut conditions = Vec::new();
    if let Some(t) = filter.table_name {
        check_table(&t)?;
        conditions.push(format!("audit_log.table_name = {}", sql.bind(t)));
    }
    if let Some(r) = filter.record_id {
        conditions.push(format!("audit_log.record_id = {}", sql.bind(r)));
    }
    if let Some(by) = filter.changed_by {
        crate::input::check_len("filter.changedBy", Some(&by), crate::input::SHORT_TEXT_MAX)?;
        conditions.push(format!("audit_log.changed_by = {}", sql.bind(by)));
    }
    if let Some(op) = filter.operation {
        crate::input::check_len("filter.operation", Some(&op), OPERATION_MAX)?;
        conditions.push(format!(
            "audit_log.operation = {}",
            sql.bind(op.to_uppercase())
        ));
    }
    if let Some(from) = filter.from {
        conditions.push(format!("audit_log.changed_at >= {}", sql.bind(from)));
    }
    if let Some(to) = filter.to {
        conditions.push(format!("audit_log.changed_at < {}", sql.bind(to)));
    }
    let ordering = Ordering {
        name: "changedAt:desc".to_owned(),
        sql: "audit_log.changed_at".to_owned(),
        kind: KeyKind::Timestamp,
        descending: true,
        id_column: "audit_log.id",
    };
    let mut page = list_page(
        conn,
        "audit_log",
        "",
        conditions,
        sql,
        &ordering,
        args,
        crate::pagination::Selected {
            rows: true,
            total: false,
        },
    )
    .await?;
    let rows = std::mem::take(&mut page.rows)
        .into_iter()
        .map(|(c, row)| Ok((c, AuditEntry::from_row(&row)?)))
        .collect::<AppResult<Vec<_>>>()?;
    Ok((rows, page))
}

/// A page of entries as a connection.
pub async fn connection(
    ctx: &Context<'_>,
    filter: AuditLogFilter,
    args: PageArgs,
) -> AppResult<AuditEntryConnection> {
    let db = request_db(ctx)?;
    let conn = db.conn().await?;
    let (rows, page) = list(&*conn, filter, &args).await?;
    Ok(AuditEntryConnection {
        edges: rows
            .into_iter()
            .map(|(cursor, node)| AuditEntryEdge { cursor, node })
            .collect(),
        page_info: page.page_info,
        count: page.count,
    })
}

/// The history of one record of `table`.
pub async fn history(
    ctx: &Context<'_>,
    table: &str,
    record: Uuid,
    first: Option<i32>,
    after: Option<String>,
) -> async_graphql::Result<AuditEntryConnection> {
    let filter = AuditLogFilter {
        table_name: Some(table.to_owned()),
        record_id: Some(record),
        ..Default::default()
    };
    Ok(connection(
        ctx,
        filter,
        PageArgs {
            first,
            after,
            last: None,
            before: None,
        },
    )
    .await?)
}

#[derive(Default)]
pub struct AuditQuery;

#[Object]
impl AuditQuery {
    /// The audit trail, newest first: every change of every record the caller can see.
    #[allow(clippy::too_many_arguments)]
    async fn audit_log(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Which entries.")] filter: Option<AuditLogFilter>,
        #[graphql(desc = "Page size from the start (default 20, at most 100).")] first: Option<i32>,
        #[graphql(desc = "Cursor after which the page starts.")] after: Option<String>,
        #[graphql(desc = "Page size from the end (at most 100).")] last: Option<i32>,
        #[graphql(desc = "Cursor before which the page ends.")] before: Option<String>,
    ) -> AppResult<AuditEntryConnection> {
        crate::auth::guard::identity(ctx)?;
        connection(
            ctx,
            filter.unwrap_or_default(),
            PageArgs {
                first,
                after,
                last,
                before,
            },
        )
        .await
    }
}

/// Only audited tables can be asked for.
pub fn check_table(name: &str) -> AppResult<()> {
    const TABLES: &[&str] = &[
        "test_cases",
        "test_steps",
        "test_suites",
        "test_suite_test_cases",
        "configurations",
        "test_runs",
        "test_executions",
        "test_step_executions",
        "test_artifacts",
    ];
    if TABLES.contains(&name) {
        Ok(())
    } else {
        Err(AppError::bad_input(
            "filter.tableName",
            "not an audited table",
        ))
    }
}
