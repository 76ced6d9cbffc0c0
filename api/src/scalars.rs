//! Scalars every domain's GraphQL types share.

use chrono::{DateTime, FixedOffset};
use serde_json::Value as JsonValue;

/// Timestamps as the API shows them.
pub type Timestamp = DateTime<FixedOffset>;

/// A JSON value (object, array, string, number, boolean or null).
pub type Json = async_graphql::Json<JsonValue>;

/// A JSON object column as the API shows it: `{}` when the column is NULL.
pub fn object_or_empty(v: &Option<JsonValue>) -> Json {
    async_graphql::Json(
        v.clone()
            .unwrap_or_else(|| JsonValue::Object(Default::default())),
    )
}
