//! Every error a client sees carries `extensions.code`, those async-graphql raises itself
//! included: a document that does not parse is `GRAPHQL_PARSE_FAILED`; one that does not
//! validate, or whose arguments or variables do not coerce, `BAD_USER_INPUT` with the argument
//! or variable its location points at as `field` (from the document's positions, not from the
//! errors' English), else the field its path ends with. One extension does it for every
//! transport (HTTP, both WebSocket protocols) and every stage.
//!
//! An enum value the schema does not have (a literal, or a variable's value) is answered with
//! the values it has: `"BOGUS" is not a valid TestCaseStatus; valid values: ACTIVE, ARCHIVED,
//! DEPRECATED, DRAFT`, and the same list as `extensions.validValues`.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use async_graphql::extensions::{
    Extension, ExtensionContext, ExtensionFactory, NextParseQuery, NextRequest, NextSubscribe,
    NextValidation,
};
use async_graphql::parser::types::{ExecutableDocument, Selection, SelectionSet};
use async_graphql::registry::{MetaType, Registry};
use async_graphql::{Pos, Response, ServerError, ServerResult, ValidationResult, Variables};
use futures::StreamExt;
use futures::stream::BoxStream;

/// The code of a document that does not parse.
pub const PARSE_FAILED: &str = "GRAPHQL_PARSE_FAILED";

/// The argument or variable named at each position of a document (an argument at its name and
/// at its value, a variable at its definition and its name).
pub fn names_at(doc: &ExecutableDocument) -> HashMap<Pos, String> {
    fn walk(set: &SelectionSet, out: &mut HashMap<Pos, String>) {
        for item in &set.items {
            match &item.node {
                Selection::Field(f) => {
                    for (name, value) in &f.node.arguments {
                        for pos in [name.pos, value.pos] {
                            out.insert(pos, name.node.to_string());
                        }
                    }
                    walk(&f.node.selection_set.node, out);
                }
                Selection::InlineFragment(i) => walk(&i.node.selection_set.node, out),
                Selection::FragmentSpread(_) => {}
            }
        }
    }
    let mut out = HashMap::new();
    for (_, op) in doc.operations.iter() {
        for v in &op.node.variable_definitions {
            for pos in [v.pos, v.node.name.pos] {
                out.insert(pos, v.node.name.node.to_string());
            }
        }
        walk(&op.node.selection_set.node, &mut out);
    }
    for fragment in doc.fragments.values() {
        walk(&fragment.node.selection_set.node, &mut out);
    }
    out
}

/// What async-graphql says of an enum value the enum does not have, in its two wordings:
/// validation's (a literal, or a variable's value, checked before anything runs) and coercion's
/// (a value read as a resolver's argument). Each is the text before the enum's name, the text
/// between the name and the value, and the text that closes the value (empty: the message's
/// last quote).
const UNKNOWN_ENUM_VALUE: &[(&str, &str, &str)] = &[
    (
        ", enumeration type \"",
        "\" does not contain the value \"",
        "",
    ),
    (
        "Failed to parse \"",
        "\": Enumeration type does not contain value \"",
        "\".",
    ),
];

/// Where `message` says an enum lacks a value: the span saying it, the enum and the value.
fn unknown_enum_value(message: &str) -> Option<(std::ops::Range<usize>, &str, &str)> {
    UNKNOWN_ENUM_VALUE
        .iter()
        .find_map(|(before, between, close)| {
            let middle = message.find(between)?;
            let start = message[..middle].rfind(before)?;
            let name = &message[start + before.len()..middle];
            let value_start = middle + between.len();
            let value_end = if close.is_empty() {
                value_start + message[value_start..].rfind('"')?
            } else {
                value_start + message[value_start..].find(close)?
            };
            let end = value_end + close.len().max(1);
            Some((start..end, name, &message[value_start..value_end]))
        })
}

/// The values of the enum `name` of `registry`, in alphabetical order (as the SDL lists them).
fn enum_values(registry: &Registry, name: &str) -> Option<Vec<String>> {
    match registry.types.get(name)? {
        MetaType::Enum { enum_values, .. } => {
            let mut values: Vec<String> = enum_values.keys().cloned().collect();
            values.sort();
            Some(values)
        }
        _ => None,
    }
}

/// Says which values an enum has when `error` is about a value it has not: the message names
/// them, and `extensions.validValues` lists them.
pub fn list_enum_values(error: &mut ServerError, registry: &Registry) {
    let Some((span, name, value)) = unknown_enum_value(&error.message) else {
        return;
    };
    let Some(values) = enum_values(registry, name) else {
        return;
    };
    // validation's wording joins its argument to the rest with a comma: a colon reads better
    let joint = if error.message[span.clone()].starts_with(", ") {
        ": "
    } else {
        ""
    };
    let said = format!(
        "{joint}\"{value}\" is not a valid {name}; valid values: {}",
        values.join(", ")
    );
    error.message.replace_range(span, &said);
    error.extensions.get_or_insert_with(Default::default).set(
        "validValues",
        async_graphql::Value::List(values.into_iter().map(Into::into).collect()),
    );
}

/// Codes `error` if it has no code: `BAD_USER_INPUT`, with the field `names` gives at its
/// locations, else its path's last field, else `query`. An unknown enum value's error lists
/// the enum's values ([`list_enum_values`]).
pub fn code_error(error: &mut ServerError, names: &HashMap<Pos, String>, registry: &Registry) {
    list_enum_values(error, registry);
    let coded = error
        .extensions
        .as_ref()
        .is_some_and(|e| e.get("code").is_some());
    if coded {
        return;
    }
    let field = error
        .locations
        .iter()
        .find_map(|pos| names.get(pos).cloned())
        .or_else(|| {
            error.path.iter().rev().find_map(|segment| match segment {
                async_graphql::PathSegment::Field(name) => Some(name.clone()),
                async_graphql::PathSegment::Index(_) => None,
            })
        })
        .unwrap_or_else(|| "query".to_owned());
    let extensions = error.extensions.get_or_insert_with(Default::default);
    extensions.set("code", "BAD_USER_INPUT");
    extensions.set("field", field);
}

/// Gives every error async-graphql raises itself a code.
pub struct ErrorCodes;

impl ExtensionFactory for ErrorCodes {
    fn create(&self) -> Arc<dyn Extension> {
        Arc::new(ErrorCodesExtension::default())
    }
}

/// The names at the positions of the operation's document, once it parsed.
type Names = Arc<Mutex<Arc<HashMap<Pos, String>>>>;

fn current(names: &Names) -> Arc<HashMap<Pos, String>> {
    names.lock().map(|n| n.clone()).unwrap_or_default()
}

#[derive(Default)]
struct ErrorCodesExtension {
    names: Names,
}

impl ErrorCodesExtension {
    fn names(&self) -> Arc<HashMap<Pos, String>> {
        current(&self.names)
    }

    fn code_response(&self, mut response: Response, registry: &Registry) -> Response {
        if response.errors.is_empty() {
            return response;
        }
        let names = self.names();
        for error in &mut response.errors {
            code_error(error, &names, registry);
        }
        response
    }
}

#[async_graphql::async_trait::async_trait]
impl Extension for ErrorCodesExtension {
    async fn parse_query(
        &self,
        ctx: &ExtensionContext<'_>,
        query: &str,
        variables: &Variables,
        next: NextParseQuery<'_>,
    ) -> ServerResult<ExecutableDocument> {
        match next.run(ctx, query, variables).await {
            Ok(document) => {
                if let Ok(mut names) = self.names.lock() {
                    *names = Arc::new(names_at(&document));
                }
                Ok(document)
            }
            Err(mut error) => {
                let coded = error
                    .extensions
                    .as_ref()
                    .is_some_and(|e| e.get("code").is_some());
                if !coded {
                    error
                        .extensions
                        .get_or_insert_with(Default::default)
                        .set("code", PARSE_FAILED);
                }
                Err(error)
            }
        }
    }

    async fn validation(
        &self,
        ctx: &ExtensionContext<'_>,
        next: NextValidation<'_>,
    ) -> Result<ValidationResult, Vec<ServerError>> {
        next.run(ctx).await.map_err(|mut errors| {
            let names = self.names();
            for error in &mut errors {
                code_error(error, &names, &ctx.schema_env.registry);
            }
            errors
        })
    }

    /// A whole request (over HTTP): what it answers, errors of its preparation included.
    async fn request(&self, ctx: &ExtensionContext<'_>, next: NextRequest<'_>) -> Response {
        let response = next.run(ctx).await;
        self.code_response(response, &ctx.schema_env.registry)
    }

    /// A subscription (over WebSocket): each message, errors of its preparation included.
    fn subscribe<'s>(
        &self,
        ctx: &ExtensionContext<'_>,
        stream: BoxStream<'s, Response>,
        next: NextSubscribe<'_>,
    ) -> BoxStream<'s, Response> {
        // the document parses as the stream starts: its names are read when an error comes
        let names = self.names.clone();
        let schema = ctx.schema_env.clone();
        let coded = stream.map(move |mut response| {
            if !response.errors.is_empty() {
                let names = current(&names);
                for error in &mut response.errors {
                    code_error(error, &names, &schema.registry);
                }
            }
            response
        });
        next.run(ctx, Box::pin(coded))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A registry with the schema's enum `TestCaseStatus`.
    fn registry() -> Registry {
        use async_graphql::InputType;
        let mut registry = Registry::default();
        crate::catalog::enums::TestCaseStatus::create_type_info(&mut registry);
        registry
    }

    fn listed(message: &str) -> ServerError {
        let mut error = ServerError::new(message, None);
        list_enum_values(&mut error, &registry());
        error
    }

    #[test]
    fn an_unknown_literal_or_variable_value_when_validated_then_lists_the_valid_ones() {
        let error = listed(
            "Invalid value for argument \"input.status\", enumeration type \"TestCaseStatus\" \
             does not contain the value \"BOGUS\"",
        );
        assert_eq!(
            error.message,
            "Invalid value for argument \"input.status\": \"BOGUS\" is not a valid \
             TestCaseStatus; valid values: ACTIVE, ARCHIVED, DEPRECATED, DRAFT"
        );
        let values = error
            .extensions
            .as_ref()
            .and_then(|e| e.get("validValues").cloned());
        assert_eq!(
            values,
            Some(async_graphql::Value::List(
                ["ACTIVE", "ARCHIVED", "DEPRECATED", "DRAFT"]
                    .map(Into::into)
                    .to_vec()
            ))
        );
    }

    #[test]
    fn an_unknown_value_when_coerced_then_lists_the_valid_ones() {
        let error = listed(
            "Failed to parse \"TestCaseStatus\": Enumeration type does not contain value \
             \"BOGUS\". (occurred while parsing \"CreateTestCaseInput\")",
        );
        assert_eq!(
            error.message,
            "\"BOGUS\" is not a valid TestCaseStatus; valid values: ACTIVE, ARCHIVED, \
             DEPRECATED, DRAFT (occurred while parsing \"CreateTestCaseInput\")"
        );
    }

    #[test]
    fn another_error_when_listed_then_is_left_as_it_is() {
        let message = "Invalid value for argument \"id\", expected type \"UUID\"";
        let error = listed(message);
        assert_eq!(error.message, message);
        assert!(error.extensions.is_none());
        // a type that is not an enum of the schema names no values
        let unknown = "Failed to parse \"Nope\": Enumeration type does not contain value \"X\".";
        assert_eq!(listed(unknown).message, unknown);
    }
}
