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

/// Gives the scalars the API takes from async-graphql descriptions in the product's words
/// (theirs describe their Rust implementation, which is not what a client needs to know).
pub fn describe<Q, M, S>(
    builder: async_graphql::SchemaBuilder<Q, M, S>,
) -> async_graphql::SchemaBuilder<Q, M, S> {
    builder
        .override_output_type_description::<Timestamp>(
            "A point in time: an RFC 3339 string with its offset from UTC, such as \
             `2026-12-01T09:30:00Z` or `2026-12-01T10:30:00.250+01:00`.",
        )
        .override_output_type_description::<chrono::NaiveDate>(
            "A calendar day without a time zone: `YYYY-MM-DD`, such as `2026-12-01`.",
        )
        .override_output_type_description::<uuid::Uuid>(
            "An id: a UUID in its 36-character text form, such as \
             `0193a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b`.",
        )
        .override_output_type_description::<Json>(
            "Any JSON value (object, array, string, number, boolean or null), written as JSON \
             itself rather than as a string. Where a field says \"a JSON object\", only an \
             object is accepted.",
        )
        .override_input_type_description::<async_graphql::Upload>(
            "A file sent with the request, as a part of a GraphQL multipart request \
             (`multipart/form-data`): the variable that holds it is null in the `operations` \
             part, and the `map` part names the file part that fills it.",
        )
}
