//! Relay-style keyset pagination: `first/after`, `last/before`, opaque cursors that carry the
//! ordering they were issued for, the sort key and the id tie-breaker. No OFFSET anywhere.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use sea_orm::{Value, prelude::DateTimeWithTimeZone};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::error::{AppError, AppResult};

/// Page size when neither `first` nor `last` is given.
pub const DEFAULT_PAGE_SIZE: u64 = 20;

/// Largest page a client may ask for: bounds the work and memory of one request.
pub const MAX_PAGE_SIZE: u64 = 100;

/// The pagination arguments of a connection field (also the key of a nested page's loader).
#[derive(Debug, Default, Clone, PartialEq, Eq, Hash)]
pub struct PageArgs {
    pub first: Option<i32>,
    pub after: Option<String>,
    pub last: Option<i32>,
    pub before: Option<String>,
}

/// Which way a page is read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// `first` / `after`: from the start of the ordering.
    Forward,
    /// `last` / `before`: from the end, results reversed back into the ordering.
    Backward,
}

/// The value of a sort key, as carried in a cursor.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum SortValue {
    Int(i64),
    Float(f64),
    Text(String),
}

/// What a cursor says: after/before the row with this sort key and id, in this ordering.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Cursor {
    /// The ordering the cursor was issued for (e.g. `createdAt:desc`).
    #[serde(rename = "o")]
    pub ordering: String,
    #[serde(rename = "k")]
    pub key: SortValue,
    #[serde(rename = "i")]
    pub id: Uuid,
}

impl Cursor {
    pub fn encode(&self) -> String {
        URL_SAFE_NO_PAD.encode(serde_json::to_vec(self).unwrap_or_default())
    }

    fn decode(text: &str, ordering: &str, field: &str) -> AppResult<Self> {
        let cursor: Cursor = URL_SAFE_NO_PAD
            .decode(text)
            .ok()
            .and_then(|bytes| serde_json::from_slice(&bytes).ok())
            .ok_or_else(|| AppError::bad_input(field, format!("{field} is not a valid cursor")))?;
        if cursor.ordering != ordering {
            return Err(AppError::bad_input(
                field,
                format!(
                    "{field} is a cursor of another ordering ({}); it cannot be used with {ordering}",
                    cursor.ordering
                ),
            ));
        }
        Ok(cursor)
    }
}

/// The SQL type of a sort key, to bind cursor values correctly.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyKind {
    Int,
    Float,
    Text,
    Timestamp,
}

/// A keyset ordering: a sort expression, its direction, and the id as tie-breaker.
#[derive(Debug, Clone)]
pub struct Ordering {
    /// Name carried in cursors, e.g. `createdAt:desc`.
    pub name: String,
    /// SQL expression of the sort key (a column, or an expression over columns and values
    /// already bound in the statement).
    pub sql: String,
    pub kind: KeyKind,
    pub descending: bool,
    /// Qualified id column, e.g. `test_cases.id`.
    pub id_column: &'static str,
}

impl Ordering {
    /// The ordering of a list of `table` by one of its plain columns.
    pub fn column(
        table: &'static str,
        column: &str,
        kind: KeyKind,
        descending: bool,
        id_column: &'static str,
    ) -> Self {
        Ordering {
            name: format!("{column}:{}", if descending { "desc" } else { "asc" }),
            sql: format!("{table}.{column}"),
            kind,
            descending,
            id_column,
        }
    }
}

/// A validated page request.
#[derive(Debug, Clone)]
pub struct Page {
    pub limit: u64,
    pub direction: Direction,
    pub after: Option<Cursor>,
    pub before: Option<Cursor>,
}

impl Page {
    /// Validates `args` for `ordering`.
    pub fn new(args: &PageArgs, ordering: &Ordering) -> AppResult<Self> {
        if args.first.is_some() && args.last.is_some() {
            return Err(AppError::bad_input(
                "last",
                "first and last cannot be combined",
            ));
        }
        let size = |value: Option<i32>, field: &str| -> AppResult<Option<u64>> {
            match value {
                None => Ok(None),
                Some(n) if n < 0 => Err(AppError::bad_input(
                    field,
                    format!("{field} must not be negative"),
                )),
                Some(n) if n as u64 > MAX_PAGE_SIZE => Err(AppError::bad_input(
                    field,
                    format!("{field} must be at most {MAX_PAGE_SIZE}"),
                )),
                Some(n) => Ok(Some(n as u64)),
            }
        };
        let first = size(args.first, "first")?;
        let last = size(args.last, "last")?;
        let after = args
            .after
            .as_deref()
            .map(|c| Cursor::decode(c, &ordering.name, "after"))
            .transpose()?;
        let before = args
            .before
            .as_deref()
            .map(|c| Cursor::decode(c, &ordering.name, "before"))
            .transpose()?;
        for (cursor, field) in after
            .iter()
            .map(|c| (c, "after"))
            .chain(before.iter().map(|c| (c, "before")))
        {
            check_kind(&cursor.key, ordering.kind, field)?;
        }
        let (limit, direction) = match (first, last) {
            (_, Some(n)) => (n, Direction::Backward),
            (Some(n), None) => (n, Direction::Forward),
            (None, None) if before.is_some() && after.is_none() => {
                (DEFAULT_PAGE_SIZE, Direction::Backward)
            }
            (None, None) => (DEFAULT_PAGE_SIZE, Direction::Forward),
        };
        Ok(Self {
            limit,
            direction,
            after,
            before,
        })
    }

    /// Where the rows of the page lie: after `after`, before `before`.
    pub fn bounds(&self, ordering: &Ordering) -> AppResult<Vec<Bound>> {
        let mut out = Vec::new();
        if let Some(c) = &self.after {
            out.push(bound(ordering, c, !ordering.descending, "after")?);
        }
        if let Some(c) = &self.before {
            out.push(bound(ordering, c, ordering.descending, "before")?);
        }
        Ok(out)
    }

    /// Whether the fetch reads the ordering backwards (`DESC` for an ascending one), as
    /// reading a page from its end does.
    pub fn descending(&self, ordering: &Ordering) -> bool {
        ordering.descending != self.reversed()
    }

    /// Whether rows are fetched in reverse of the ordering (reading a page from its end).
    pub fn reversed(&self) -> bool {
        self.direction == Direction::Backward
    }
}

/// Checks that a cursor's key fits the ordering's key type; `field` names the argument.
fn check_kind(value: &SortValue, kind: KeyKind, field: &str) -> AppResult<()> {
    let ok = matches!(
        (value, kind),
        (SortValue::Int(_), KeyKind::Int)
            | (SortValue::Float(_), KeyKind::Float)
            | (SortValue::Int(_), KeyKind::Float)
            | (SortValue::Text(_), KeyKind::Text)
            | (SortValue::Text(_), KeyKind::Timestamp)
    );
    if ok {
        Ok(())
    } else {
        Err(AppError::bad_input(
            field,
            format!("{field}: the cursor does not fit this ordering"),
        ))
    }
}

/// A limit of a page in an ordering: rows whose `(key, id)` is greater (or less) than the
/// cursor's, so that ties on the key are broken by the id.
#[derive(Debug, Clone, PartialEq)]
pub struct Bound {
    pub greater: bool,
    pub key: Value,
    pub id: Uuid,
}

fn bound(ordering: &Ordering, cursor: &Cursor, greater: bool, field: &str) -> AppResult<Bound> {
    let key: Value = match (&cursor.key, ordering.kind) {
        (SortValue::Int(v), KeyKind::Int) => (*v).into(),
        (SortValue::Int(v), KeyKind::Float) => (*v as f64).into(),
        (SortValue::Float(v), _) => (*v).into(),
        (SortValue::Text(v), KeyKind::Timestamp) => DateTimeWithTimeZone::parse_from_rfc3339(v)
            .map_err(|_| {
                AppError::bad_input(
                    field,
                    format!("{field}: the cursor does not fit this ordering"),
                )
            })?
            .into(),
        (SortValue::Text(v), _) => v.clone().into(),
        _ => {
            return Err(AppError::bad_input(
                field,
                format!("{field}: the cursor does not fit this ordering"),
            ));
        }
    };
    Ok(Bound {
        greater,
        key,
        id: cursor.id,
    })
}

/// A page as read: its rows in the ordering, each with its cursor, and whether rows precede
/// and follow it.
#[derive(Debug, Clone)]
pub struct Fetched<T> {
    pub rows: Vec<(String, T)>,
    pub has_previous_page: bool,
    pub has_next_page: bool,
}

impl<T> Fetched<T> {
    /// A page with no rows and none around it.
    pub fn empty() -> Self {
        Fetched {
            rows: Vec::new(),
            has_previous_page: false,
            has_next_page: false,
        }
    }

    /// The same page with each row changed by `f`.
    pub fn map<U>(self, mut f: impl FnMut(T) -> U) -> Fetched<U> {
        Fetched {
            rows: self.rows.into_iter().map(|(c, r)| (c, f(r))).collect(),
            has_previous_page: self.has_previous_page,
            has_next_page: self.has_next_page,
        }
    }

    /// The same page with each row changed by `f`, or the first error.
    pub fn try_map<U, E>(self, mut f: impl FnMut(T) -> Result<U, E>) -> Result<Fetched<U>, E> {
        let rows = self
            .rows
            .into_iter()
            .map(|(c, r)| Ok((c, f(r)?)))
            .collect::<Result<Vec<_>, E>>()?;
        Ok(Fetched {
            rows,
            has_previous_page: self.has_previous_page,
            has_next_page: self.has_next_page,
        })
    }
}

/// Turns `limit + 1` fetched rows into the page (rows in ordering order), given each row's
/// cursor.
pub fn finish_page<T>(
    page: &Page,
    mut rows: Vec<T>,
    cursor_of: impl Fn(&T) -> Cursor,
) -> Fetched<T> {
    let more = rows.len() as u64 > page.limit;
    rows.truncate(page.limit as usize);
    if page.reversed() {
        rows.reverse();
    }
    let (has_next_page, has_previous_page) = match page.direction {
        Direction::Forward => (more, page.after.is_some()),
        Direction::Backward => (page.before.is_some(), more),
    };
    Fetched {
        rows: rows
            .into_iter()
            .map(|row| (cursor_of(&row).encode(), row))
            .collect(),
        has_previous_page,
        has_next_page,
    }
}

/// The parents of `keys` grouped by the page each asks for: a nested list's loader reads one
/// page shape for many parents at a time.
pub fn by_page<P: Copy + Eq + std::hash::Hash>(keys: &[(P, PageArgs)]) -> Vec<(&PageArgs, Vec<P>)> {
    let mut groups: Vec<(&PageArgs, Vec<P>)> = Vec::new();
    for (parent, args) in keys {
        match groups.iter_mut().find(|(a, _)| *a == args) {
            Some((_, parents)) => parents.push(*parent),
            None => groups.push((args, vec![*parent])),
        }
    }
    groups
}

/// A timestamp as carried in a cursor (microsecond precision, as PostgreSQL stores it).
pub fn timestamp_key(ts: Option<DateTimeWithTimeZone>) -> SortValue {
    SortValue::Text(
        ts.map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Micros, true))
            .unwrap_or_default(),
    )
}

/// What a connection field's selection asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Selected {
    /// Anything besides `totalCount`: the page is read.
    pub rows: bool,
    /// `totalCount`.
    pub total: bool,
}

/// What the connection field being resolved asks for.
pub fn selected(ctx: &async_graphql::Context<'_>) -> Selected {
    let look = ctx.look_ahead();
    Selected {
        rows: look.field("edges").exists()
            || look.field("nodes").exists()
            || look.field("pageInfo").exists(),
        total: look.field("totalCount").exists(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn by_name() -> Ordering {
        Ordering {
            name: "name:asc".to_owned(),
            sql: "t.name".to_owned(),
            kind: KeyKind::Text,
            descending: false,
            id_column: "t.id",
        }
    }

    fn cursor(key: &str) -> String {
        Cursor {
            ordering: "name:asc".to_owned(),
            key: SortValue::Text(key.to_owned()),
            id: Uuid::nil(),
        }
        .encode()
    }

    fn field_of(e: AppError) -> Option<String> {
        e.field().map(str::to_owned)
    }

    #[test]
    fn a_cursor_decodes_to_what_was_encoded_for_its_ordering_only() {
        let text = cursor("b");
        let decoded = Cursor::decode(&text, "name:asc", "after").expect("decodes");
        assert_eq!(decoded.key, SortValue::Text("b".to_owned()));
        let other = Cursor::decode(&text, "createdAt:desc", "after").expect_err("other ordering");
        assert_eq!(field_of(other), Some("after".to_owned()));
        for garbage in [
            "",
            "!!!",
            "bm90IGpzb24",
            &URL_SAFE_NO_PAD.encode("{\"o\":1}"),
        ] {
            let e = Cursor::decode(garbage, "name:asc", "before").expect_err(garbage);
            assert_eq!(field_of(e), Some("before".to_owned()));
        }
    }

    #[test]
    fn page_arguments_are_checked() {
        let ordering = by_name();
        let args = |first: Option<i32>, last: Option<i32>| PageArgs {
            first,
            last,
            ..Default::default()
        };
        assert_eq!(
            Page::new(&args(None, None), &ordering)
                .map(|p| p.limit)
                .ok(),
            Some(DEFAULT_PAGE_SIZE)
        );
        assert!(Page::new(&args(Some(1), Some(1)), &ordering).is_err());
        assert!(Page::new(&args(Some(-1), None), &ordering).is_err());
        assert!(Page::new(&args(Some(MAX_PAGE_SIZE as i32 + 1), None), &ordering).is_err());
        let backward = Page::new(&args(None, Some(3)), &ordering).expect("last");
        assert!(backward.reversed());
        // a timestamp ordering refuses a cursor whose key is a number
        let mut by_time = by_name();
        by_time.kind = KeyKind::Timestamp;
        by_time.name = "name:asc".to_owned();
        let int_cursor = Cursor {
            ordering: "name:asc".to_owned(),
            key: SortValue::Int(3),
            id: Uuid::nil(),
        }
        .encode();
        let e = Page::new(
            &PageArgs {
                after: Some(int_cursor),
                ..Default::default()
            },
            &by_time,
        )
        .expect_err("kind");
        assert_eq!(field_of(e), Some("after".to_owned()));
    }

    #[test]
    fn a_page_reads_one_row_more_than_it_shows_to_know_whether_more_follow() {
        let ordering = by_name();
        let cursor_of = |s: &&str| Cursor {
            ordering: ordering.name.clone(),
            key: SortValue::Text((*s).to_owned()),
            id: Uuid::nil(),
        };
        let forward = Page::new(
            &PageArgs {
                first: Some(2),
                after: Some(cursor("a")),
                ..Default::default()
            },
            &ordering,
        )
        .expect("page");
        let page = finish_page(&forward, vec!["b", "c", "d"], cursor_of);
        let rows: Vec<&str> = page.rows.iter().map(|(_, r)| *r).collect();
        assert_eq!(rows, ["b", "c"]);
        assert!(page.has_next_page && page.has_previous_page);
        // read from the end: rows come newest first and are put back in order
        let backward = Page::new(
            &PageArgs {
                last: Some(2),
                ..Default::default()
            },
            &ordering,
        )
        .expect("page");
        let page = finish_page(&backward, vec!["d", "c", "b"], cursor_of);
        let rows: Vec<&str> = page.rows.iter().map(|(_, r)| *r).collect();
        assert_eq!(rows, ["c", "d"]);
        assert!(page.has_previous_page && !page.has_next_page);
    }

    #[test]
    fn nested_pages_group_their_parents_by_the_page_they_ask_for() {
        let a = PageArgs {
            first: Some(5),
            ..Default::default()
        };
        let b = PageArgs::default();
        let keys = vec![(1, a.clone()), (2, b.clone()), (3, a.clone())];
        let groups = by_page(&keys);
        assert_eq!(groups.len(), 2);
        assert_eq!(groups[0], (&a, vec![1, 3]));
        assert_eq!(groups[1], (&b, vec![2]));
    }
}
