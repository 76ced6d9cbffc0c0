//! The catalogue's services: the only code that talks to the database for it. Every function
//! takes the connection (the request's transaction or a savepoint of it) from its caller.

pub mod cases;
pub mod configurations;
pub mod steps;
pub mod suites;

use async_graphql::MaybeUndefined;
use sea_orm::{ConnectionTrait, DbErr, EntityTrait, PrimaryKeyTrait, QueryResult};
use serde_json::Value as JsonValue;

use crate::error::{AppError, AppResult};
use crate::pagination::{
    CountQuery, Cursor, KeyKind, Ordering, Page, PageArgs, PageInfo, Selected, SortValue, Sql,
    finish_page, timestamp_key,
};

/// Tags as stored: a JSON array of distinct strings, in the given order.
pub fn tags_json(tags: &[String]) -> JsonValue {
    let mut seen = std::collections::HashSet::new();
    JsonValue::Array(
        tags.iter()
            .filter(|t| seen.insert(t.as_str()))
            .map(|t| JsonValue::String(t.clone()))
            .collect(),
    )
}

/// A field that cannot be cleared: absent leaves it, `null` is an error.
pub fn required<T>(field: &str, value: MaybeUndefined<T>) -> AppResult<Option<T>> {
    match value {
        MaybeUndefined::Undefined => Ok(None),
        MaybeUndefined::Null => Err(AppError::bad_input(
            field,
            format!("{field} cannot be null"),
        )),
        MaybeUndefined::Value(v) => Ok(Some(v)),
    }
}

/// A nullable field: absent leaves it (`None`), `null` clears it (`Some(None)`).
pub fn nullable<T>(value: MaybeUndefined<T>) -> Option<Option<T>> {
    match value {
        MaybeUndefined::Undefined => None,
        MaybeUndefined::Null => Some(None),
        MaybeUndefined::Value(v) => Some(Some(v)),
    }
}

/// `ILIKE` pattern matching `text` anywhere, its wildcards escaped.
pub fn contains_pattern(text: &str) -> String {
    let escaped = text
        .replace('\\', "\\\\")
        .replace('%', "\\%")
        .replace('_', "\\_");
    format!("%{escaped}%")
}

/// A changed row as saved: NOT_FOUND (as `entity` `id`) when it was gone by then.
pub(crate) fn updated<M>(
    saved: Result<M, DbErr>,
    entity: &'static str,
    id: uuid::Uuid,
) -> AppResult<M> {
    match saved {
        Ok(m) => Ok(m),
        Err(DbErr::RecordNotUpdated) => Err(AppError::not_found(entity, id)),
        Err(e) => Err(e.into()),
    }
}

/// Deletes the `E` row `id`; NOT_FOUND (as `entity`) when there is none.
pub(crate) async fn delete_row<E>(
    conn: &impl ConnectionTrait,
    id: uuid::Uuid,
    entity: &'static str,
) -> AppResult<uuid::Uuid>
where
    E: EntityTrait,
    uuid::Uuid: Into<<E::PrimaryKey as PrimaryKeyTrait>::ValueType>,
{
    let res = E::delete_by_id(id).exec(conn).await?;
    if res.rows_affected == 0 {
        return Err(AppError::not_found(entity, id));
    }
    Ok(id)
}

/// A fetched page: rows in order with their cursors, the page info, and the count query.
pub struct ListPage {
    pub rows: Vec<(String, QueryResult)>,
    pub page_info: PageInfo,
    pub count: CountQuery,
}

/// Lists `table` rows matching `conditions` (values bound in `sql`), a page of `args` in
/// `ordering`, with `extra` select expressions. Each row carries its sort key as `sort_key`.
/// Without `want.rows` (the client asked only for `totalCount`) no page is read; with both,
/// the page's statement carries the total too, so the count costs no statement of its own.
#[allow(clippy::too_many_arguments)]
pub async fn list_page(
    conn: &impl ConnectionTrait,
    table: &str,
    extra: &str,
    conditions: Vec<String>,
    mut sql: Sql,
    ordering: &Ordering,
    args: &PageArgs,
    want: Selected,
) -> AppResult<ListPage> {
    let page = Page::new(args, ordering)?;
    let filter = if conditions.is_empty() {
        String::new()
    } else {
        format!(" WHERE {}", conditions.join(" AND "))
    };
    let count_sql = format!("SELECT count(*) FROM {table}{filter}");
    let mut count = CountQuery::new(sql.statement(count_sql.clone()));
    if !want.rows {
        let (_, page_info) = finish_page(&page, Vec::<()>::new(), |_| Cursor {
            ordering: String::new(),
            key: SortValue::Int(0),
            id: uuid::Uuid::nil(),
        });
        return Ok(ListPage {
            rows: Vec::new(),
            page_info,
            count,
        });
    }
    let mut all = conditions;
    all.extend(page.conditions(ordering, &mut sql)?);
    let filter = if all.is_empty() {
        String::new()
    } else {
        format!(" WHERE {}", all.join(" AND "))
    };
    let limit = sql.bind(page.limit as i64 + 1);
    let cast = match ordering.kind {
        KeyKind::Int => "::bigint",
        KeyKind::Float => "::float8",
        KeyKind::Text => "::text",
        KeyKind::Timestamp => "::timestamptz",
    };
    // the total as a scalar subquery on the filter alone: the same placeholders, bound once
    let total = if want.total {
        format!(", ({count_sql}) AS total_count")
    } else {
        String::new()
    };
    let text = format!(
        "SELECT {table}.*, ({}){cast} AS sort_key{extra}{total} FROM {table}{filter} ORDER BY {} LIMIT {limit}",
        ordering.sql,
        page.order_by(ordering)
    );
    let rows = conn.query_all_raw(sql.statement(text)).await?;
    // an empty page says nothing of the total: the count runs when asked
    if want.total
        && let Some(first) = rows.first()
    {
        count.known = Some(first.try_get("", "total_count")?);
    }
    let mut keyed = Vec::with_capacity(rows.len());
    for row in rows {
        let id: uuid::Uuid = row.try_get("", "id")?;
        let key = match ordering.kind {
            KeyKind::Int => SortValue::Int(
                row.try_get::<Option<i64>>("", "sort_key")?
                    .unwrap_or_default(),
            ),
            KeyKind::Float => SortValue::Float(
                row.try_get::<Option<f64>>("", "sort_key")?
                    .unwrap_or_default(),
            ),
            KeyKind::Text => SortValue::Text(
                row.try_get::<Option<String>>("", "sort_key")?
                    .unwrap_or_default(),
            ),
            KeyKind::Timestamp => timestamp_key(row.try_get("", "sort_key")?),
        };
        keyed.push((key, id, row));
    }
    let (rows, page_info) = finish_page(&page, keyed, |(key, id, _)| Cursor {
        ordering: ordering.name.clone(),
        key: key.clone(),
        id: *id,
    });
    Ok(ListPage {
        rows: rows.into_iter().map(|(c, (_, _, row))| (c, row)).collect(),
        page_info,
        count,
    })
}

/// The ordering of a catalogue list by a plain column.
pub fn column_ordering(
    table: &'static str,
    column: &str,
    kind: KeyKind,
    descending: bool,
    id_column: &'static str,
) -> Ordering {
    let _ = table;
    Ordering {
        name: format!("{column}:{}", if descending { "desc" } else { "asc" }),
        sql: format!("{table}.{column}"),
        kind,
        descending,
        id_column,
    }
}
