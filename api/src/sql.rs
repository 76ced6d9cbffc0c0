//! The one toolkit for statements built at run time: [`Sql`] binds values as `$1`, `$2`, ...
//! while the text is written, [`where_clause`] joins conditions, and [`list`] reads a keyset
//! page of a table with its total. Every domain's dynamic statements are written with it;
//! fixed statements are plain text with their values. (SeaORM's entities remain for rows
//! written whole.)

use std::collections::HashMap;

use sea_orm::{ConnectionTrait, QueryResult, Statement, Value};

use crate::error::AppResult;
use crate::pagination::{
    Cursor, Fetched, KeyKind, Ordering, Page, PageArgs, Selected, SortValue, finish_page,
    timestamp_key,
};

/// Values of a statement being written, bound as `$1`, `$2`, ...
#[derive(Debug, Default, Clone)]
pub struct Sql {
    pub values: Vec<Value>,
}

impl Sql {
    /// Binds `value`, returning its placeholder.
    pub fn bind(&mut self, value: impl Into<Value>) -> String {
        self.values.push(value.into());
        format!("${}", self.values.len())
    }

    /// The statement `text` with the values bound so far.
    pub fn statement(&self, text: impl Into<String>) -> Statement {
        Statement::from_sql_and_values(sea_orm::DbBackend::Postgres, text, self.values.clone())
    }
}

/// A fixed statement `text` with its `values`.
pub fn statement(text: impl Into<String>, values: Vec<Value>) -> Statement {
    Statement::from_sql_and_values(sea_orm::DbBackend::Postgres, text, values)
}

/// Runs `text` with `values`, each row decoded as `M` (and kept, for its other columns).
pub async fn models<M: sea_orm::FromQueryResult>(
    conn: &impl ConnectionTrait,
    text: &str,
    values: Vec<Value>,
) -> AppResult<Vec<(QueryResult, M)>> {
    let rows = conn
        .query_all_raw(Statement::from_sql_and_values(
            sea_orm::DbBackend::Postgres,
            text,
            values,
        ))
        .await?;
    rows.into_iter()
        .map(|row| {
            let m = M::from_query_result(&row, "")?;
            Ok((row, m))
        })
        .collect()
}

/// The conditions that keep the rows of `page` (after its `after`, before its `before`), their
/// values bound in `sql`.
pub fn keyset(page: &Page, ordering: &Ordering, sql: &mut Sql) -> AppResult<Vec<String>> {
    Ok(page
        .bounds(ordering)?
        .into_iter()
        .map(|b| {
            let op = if b.greater { ">" } else { "<" };
            let key = sql.bind(b.key);
            let id = sql.bind(b.id);
            format!(
                "({}, {}) {op} ({key}, {id})",
                ordering.sql, ordering.id_column
            )
        })
        .collect())
}

/// `ORDER BY` of a page's fetch: the ordering, reversed when reading from the end.
pub fn order_by(page: &Page, ordering: &Ordering) -> String {
    let dir = if page.descending(ordering) {
        "DESC"
    } else {
        "ASC"
    };
    format!("{} {dir}, {} {dir}", ordering.sql, ordering.id_column)
}

/// ` WHERE a AND b`, or nothing without conditions.
pub fn where_clause(conditions: &[String]) -> String {
    if conditions.is_empty() {
        String::new()
    } else {
        format!(" WHERE {}", conditions.join(" AND "))
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

/// A list's `totalCount`: known already, or a statement to run when it is asked for.
#[derive(Debug, Clone)]
pub enum Total {
    Known(i64),
    Count(Statement),
}

/// What [`list`] reads: rows of `table` matching `conditions` (their values bound in `sql`),
/// in `ordering`, with `extra` select expressions (`, expr AS name ...`).
pub struct ListQuery<'a> {
    pub table: &'a str,
    pub extra: String,
    pub conditions: Vec<String>,
    pub sql: Sql,
    pub ordering: Ordering,
}

impl<'a> ListQuery<'a> {
    /// Rows of `table` in `ordering`, no conditions yet.
    pub fn new(table: &'a str, ordering: Ordering) -> Self {
        Self {
            table,
            extra: String::new(),
            conditions: Vec::new(),
            sql: Sql::default(),
            ordering,
        }
    }
}

/// Reads a page of `args` of what `query` describes; each row carries its sort key as
/// `sort_key`. Without `want.rows` (the client asked only for `totalCount`) no page is read;
/// with both, the page's statement carries the total too, so the count costs no statement of
/// its own.
pub async fn list(
    conn: &impl ConnectionTrait,
    query: ListQuery<'_>,
    args: &PageArgs,
    want: Selected,
) -> AppResult<(Fetched<QueryResult>, Total)> {
    let ListQuery {
        table,
        extra,
        conditions,
        mut sql,
        ordering,
    } = query;
    let page = Page::new(args, &ordering)?;
    let count_sql = format!("SELECT count(*) FROM {table}{}", where_clause(&conditions));
    let mut total = Total::Count(sql.statement(count_sql.clone()));
    if !want.rows {
        let fetched = finish_page(&page, Vec::<QueryResult>::new(), |_| Cursor {
            ordering: String::new(),
            key: SortValue::Int(0),
            id: uuid::Uuid::nil(),
        });
        return Ok((fetched, total));
    }
    let mut all = conditions;
    all.extend(keyset(&page, &ordering, &mut sql)?);
    let limit = sql.bind(page.limit as i64 + 1);
    let cast = key_cast(ordering.kind);
    // the total as a scalar subquery on the filter alone: the same placeholders, bound once
    let total_column = if want.total {
        format!(", ({count_sql}) AS total_count")
    } else {
        String::new()
    };
    let text = format!(
        "SELECT {table}.*, ({}){cast} AS sort_key{extra}{total_column} FROM {table}{} ORDER BY {} LIMIT {limit}",
        ordering.sql,
        where_clause(&all),
        order_by(&page, &ordering)
    );
    let rows = conn.query_all_raw(sql.statement(text)).await?;
    // an empty page says nothing of the total: the count runs when asked
    if want.total
        && let Some(first) = rows.first()
    {
        total = Total::Known(first.try_get("", "total_count")?);
    }
    let mut keyed = Vec::with_capacity(rows.len());
    for row in rows {
        let id: uuid::Uuid = row.try_get("", "id")?;
        let key = sort_value(&row, ordering.kind)?;
        keyed.push((key, id, row));
    }
    let fetched = finish_page(&page, keyed, |(key, id, _)| Cursor {
        ordering: ordering.name.clone(),
        key: key.clone(),
        id: *id,
    });
    Ok((fetched.map(|(_, _, row)| row), total))
}

/// What [`child_pages`] reads: the rows `select`ed from `from` whose `parent` expression is a
/// given parent and that meet `conditions` (their values bound in `sql`), in `ordering`.
pub struct ChildQuery<'a> {
    pub conditions: Vec<String>,
    pub sql: Sql,
    /// Tables, joined as needed (e.g. `test_suite_test_cases m JOIN test_cases tc ON ...`).
    pub from: &'a str,
    /// What each row selects (e.g. `tc.*, m.order_index AS position`).
    pub select: &'a str,
    /// The parent's id in a row (e.g. `m.test_suite_id`).
    pub parent: &'a str,
    pub ordering: Ordering,
}

/// A page of `args` of each parent's rows, with each parent's total, in one statement: a
/// lateral page and count per parent, each served by the parent's index.
pub async fn child_pages(
    conn: &impl ConnectionTrait,
    query: &ChildQuery<'_>,
    parents: &[uuid::Uuid],
    args: &PageArgs,
) -> AppResult<HashMap<uuid::Uuid, (Fetched<QueryResult>, i64)>> {
    let ordering = &query.ordering;
    let page = Page::new(args, ordering)?;
    let mut sql = query.sql.clone();
    let parents_param = sql.bind(parents.to_vec());
    let mut conditions = query.conditions.clone();
    let count_filter = where_clause(&conditions);
    let count_filter = if count_filter.is_empty() {
        format!(" WHERE {} = p.parent", query.parent)
    } else {
        format!("{count_filter} AND {} = p.parent", query.parent)
    };
    conditions.push(format!("{} = p.parent", query.parent));
    conditions.extend(keyset(&page, ordering, &mut sql)?);
    let limit = sql.bind(page.limit as i64 + 1);
    let text = format!(
        "SELECT p.parent AS page_parent, c.n AS page_total, r.*
         FROM unnest({parents_param}::uuid[]) WITH ORDINALITY AS p(parent, ord)
         CROSS JOIN LATERAL (SELECT count(*) AS n FROM {from}{count_filter}) c
         LEFT JOIN LATERAL (
             SELECT {select}, ({key}){cast} AS sort_key, {id} AS page_row_id FROM {from}{filter}
             ORDER BY {order} LIMIT {limit}) r ON true
         ORDER BY p.ord, r.sort_key {dir}, r.page_row_id {dir}",
        dir = if page.descending(ordering) {
            "DESC"
        } else {
            "ASC"
        },
        from = query.from,
        select = query.select,
        key = ordering.sql,
        cast = key_cast(ordering.kind),
        id = ordering.id_column,
        filter = where_clause(&conditions),
        order = order_by(&page, ordering),
    );
    let rows = conn.query_all_raw(sql.statement(text)).await?;
    let mut per_parent: HashMap<uuid::Uuid, (Vec<Keyed>, i64)> = HashMap::new();
    for row in rows {
        let parent: uuid::Uuid = row.try_get("", "page_parent")?;
        let total: i64 = row.try_get("", "page_total")?;
        let id: Option<uuid::Uuid> = row.try_get("", "page_row_id")?;
        let entry = per_parent
            .entry(parent)
            .or_insert_with(|| (Vec::new(), total));
        if let Some(id) = id {
            let key = sort_value(&row, ordering.kind)?;
            entry.0.push((key, id, row));
        }
    }
    Ok(per_parent
        .into_iter()
        .map(|(parent, (rows, total))| {
            let fetched = finish_page(&page, rows, |(key, id, _)| Cursor {
                ordering: ordering.name.clone(),
                key: key.clone(),
                id: *id,
            });
            (parent, (fetched.map(|(_, _, row)| row), total))
        })
        .collect())
}

/// The cast that gives a sort key the type its cursor value is read as.
fn key_cast(kind: KeyKind) -> &'static str {
    match kind {
        KeyKind::Int => "::bigint",
        KeyKind::Float => "::float8",
        KeyKind::Text => "::text",
        KeyKind::Timestamp => "::timestamptz",
    }
}

/// A row with its sort key and id, as its cursor needs them.
type Keyed = (SortValue, uuid::Uuid, QueryResult);

/// A row's `sort_key`, as carried in cursors.
fn sort_value(row: &QueryResult, kind: KeyKind) -> AppResult<SortValue> {
    Ok(match kind {
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
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_are_numbered_in_the_order_they_are_bound() {
        let mut sql = Sql::default();
        assert_eq!(sql.bind(1), "$1");
        assert_eq!(sql.bind("a"), "$2");
        assert_eq!(
            sql.statement("SELECT $1, $2").values.map(|v| v.0.len()),
            Some(2)
        );
    }

    #[test]
    fn conditions_join_into_a_where_clause() {
        assert_eq!(where_clause(&[]), "");
        assert_eq!(
            where_clause(&["a = $1".to_owned(), "b".to_owned()]),
            " WHERE a = $1 AND b"
        );
    }

    #[test]
    fn contains_patterns_escape_wildcards() {
        assert_eq!(contains_pattern("50%_a\\b"), "%50\\%\\_a\\\\b%");
    }
}
