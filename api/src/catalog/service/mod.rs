//! The catalogue's services: the only code that talks to the database for it. Every function
//! takes the connection (the request's transaction or a savepoint of it) from its caller.

pub mod cases;
pub mod configurations;
pub mod identity;
pub mod steps;
pub mod suites;

use async_graphql::MaybeUndefined;
use sea_orm::{ConnectionTrait, DbErr, EntityTrait, PrimaryKeyTrait};
use serde_json::Value as JsonValue;

use crate::error::{AppError, AppResult};

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
