//! The one connection type of every paginated list (Relay's shape: `edges` with `cursor` and
//! `node`, `nodes`, `pageInfo`, `totalCount`). A list's type is an alias naming its node, its
//! edges' own fields when they have some, and its names when they are not `<Node>Connection`
//! and `<Node>Edge`.

use std::borrow::Cow;
use std::marker::PhantomData;

use async_graphql::{Context, Object, ObjectType, OutputType, SimpleObject, TypeName};

use crate::error::{AppError, AppResult};
use crate::pagination::Fetched;
use crate::sql::Total;

/// The names of a connection type and of its edge type.
pub trait Names: Send + Sync + 'static {
    /// The connection's name, given its node's.
    fn connection(node: &str) -> String {
        format!("{node}Connection")
    }
    /// The edge's name, given its node's.
    fn edge(node: &str) -> String {
        format!("{node}Edge")
    }
}

/// `<Node>Connection` and `<Node>Edge`.
pub struct NodeNames;

impl Names for NodeNames {}

/// Edges without fields of their own.
pub use async_graphql::connection::EmptyFields as NoFields;

/// `pageInfo` of a connection.
#[derive(Debug, Clone, SimpleObject)]
pub struct PageInfo {
    /// Whether more items follow this page in the ordering.
    pub has_next_page: bool,
    /// Whether items precede this page in the ordering.
    pub has_previous_page: bool,
    /// Cursor of the first item of the page.
    pub start_cursor: Option<String>,
    /// Cursor of the last item of the page.
    pub end_cursor: Option<String>,
}

/// A page of `N` with `totalCount`; `E`: fields of each edge besides `cursor` and `node`.
pub struct Connection<N, E = NoFields, X = NodeNames> {
    edges: Vec<Edge<N, E, X>>,
    page_info: PageInfo,
    total: Total,
}

/// A page of a list: its items in order with their cursors, where it sits in the whole list,
/// and how many items the whole list has.
#[Object(name_type)]
impl<N, E, X> Connection<N, E, X>
where
    N: OutputType,
    E: ObjectType,
    X: Names,
{
    /// The items of the page, in order, each with its cursor.
    async fn edges(&self) -> &[Edge<N, E, X>] {
        &self.edges
    }

    /// The items of the page, in order.
    async fn nodes(&self) -> Vec<&N> {
        self.edges.iter().map(|e| &e.node).collect()
    }

    /// Where the page sits in the whole list.
    async fn page_info(&self) -> &PageInfo {
        &self.page_info
    }

    /// Number of items over all pages (of those matching the list's filter).
    async fn total_count(&self, ctx: &Context<'_>) -> AppResult<i64> {
        use sea_orm::ConnectionTrait;
        match &self.total {
            Total::Known(n) => Ok(*n),
            Total::Count(statement) => {
                let db = crate::auth::context::request_db(ctx)?;
                let conn = db.conn().await?;
                let row = conn
                    .query_one_raw(statement.clone())
                    .await?
                    .ok_or_else(|| AppError::internal("count returned no row"))?;
                Ok(row.try_get_by_index::<i64>(0)?)
            }
        }
    }
}

impl<N: OutputType, E: Send + Sync, X: Names> TypeName for Connection<N, E, X> {
    fn type_name() -> Cow<'static, str> {
        X::connection(&N::type_name()).into()
    }
}

/// One item of a page.
pub struct Edge<N, E, X> {
    cursor: String,
    node: N,
    fields: E,
    names: PhantomData<fn() -> X>,
}

/// One item of a page, with its cursor.
#[Object(name_type)]
impl<N, E, X> Edge<N, E, X>
where
    N: OutputType,
    E: ObjectType,
    X: Names,
{
    /// Opaque position of the item, for `after` / `before`.
    async fn cursor(&self) -> &str {
        &self.cursor
    }

    /// The item.
    async fn node(&self) -> &N {
        &self.node
    }

    #[graphql(flatten)]
    async fn fields(&self) -> &E {
        &self.fields
    }
}

impl<N: OutputType, E: Send + Sync, X: Names> TypeName for Edge<N, E, X> {
    fn type_name() -> Cow<'static, str> {
        X::edge(&N::type_name()).into()
    }
}

/// The connection of a page: each row made into its node and its edge's fields by `edge`.
pub fn connection<T, N, E, X>(
    fetched: Fetched<T>,
    total: Total,
    mut edge: impl FnMut(T) -> (N, E),
) -> Connection<N, E, X> {
    let edges: Vec<Edge<N, E, X>> = fetched
        .rows
        .into_iter()
        .map(|(cursor, row)| {
            let (node, fields) = edge(row);
            Edge {
                cursor,
                node,
                fields,
                names: PhantomData,
            }
        })
        .collect();
    let page_info = PageInfo {
        has_next_page: fetched.has_next_page,
        has_previous_page: fetched.has_previous_page,
        start_cursor: edges.first().map(|e| e.cursor.clone()),
        end_cursor: edges.last().map(|e| e.cursor.clone()),
    };
    Connection {
        edges,
        page_info,
        total,
    }
}

/// The connection of a page whose edges have no fields of their own.
pub fn plain<T, N, X>(
    fetched: Fetched<T>,
    total: Total,
    mut node: impl FnMut(T) -> N,
) -> Connection<N, NoFields, X> {
    connection(fetched, total, |row| (node(row), NoFields))
}

/// Names a connection type and its edge type.
#[macro_export]
macro_rules! connection_names {
    ($name:ident, $connection:literal, $edge:literal) => {
        #[doc = concat!("Names `", $connection, "` and `", $edge, "`.")]
        pub struct $name;
        impl $crate::connection::Names for $name {
            fn connection(_: &str) -> String {
                $connection.to_owned()
            }
            fn edge(_: &str) -> String {
                $edge.to_owned()
            }
        }
    };
}
