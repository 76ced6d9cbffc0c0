//! sqlx's query constructors for SQL built at run time (tests format fixture ids and table
//! names into statements; sqlx asks for that to be stated).

use sqlx::postgres::{PgArguments, PgRow};
use sqlx::{AssertSqlSafe, Postgres};

pub fn query(sql: impl Into<String>) -> sqlx::query::Query<'static, Postgres, PgArguments> {
    sqlx::query(AssertSqlSafe(sql.into()))
}

pub fn query_scalar<O>(
    sql: impl Into<String>,
) -> sqlx::query::QueryScalar<'static, Postgres, O, PgArguments>
where
    (O,): for<'r> sqlx::FromRow<'r, PgRow>,
{
    sqlx::query_scalar(AssertSqlSafe(sql.into()))
}

pub fn query_as<O>(
    sql: impl Into<String>,
) -> sqlx::query::QueryAs<'static, Postgres, O, PgArguments>
where
    O: for<'r> sqlx::FromRow<'r, PgRow>,
{
    sqlx::query_as(AssertSqlSafe(sql.into()))
}
