//! Every error a client sees carries `extensions.code`, those async-graphql raises itself
//! included: a document that does not parse is `GRAPHQL_PARSE_FAILED`; one that does not
//! validate, or whose arguments or variables do not coerce, `BAD_USER_INPUT` with the argument
//! or variable its location points at as `field` (from the document's positions, not from the
//! errors' English), else the field its path ends with. One extension does it for every
//! transport (HTTP, both WebSocket protocols) and every stage.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use async_graphql::extensions::{
    Extension, ExtensionContext, ExtensionFactory, NextParseQuery, NextRequest, NextSubscribe,
    NextValidation,
};
use async_graphql::parser::types::{ExecutableDocument, Selection, SelectionSet};
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

/// Codes `error` if it has no code: `BAD_USER_INPUT`, with the field `names` gives at its
/// locations, else its path's last field, else `query`.
pub fn code_error(error: &mut ServerError, names: &HashMap<Pos, String>) {
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

    fn code_response(&self, mut response: Response) -> Response {
        if response.errors.is_empty() {
            return response;
        }
        let names = self.names();
        for error in &mut response.errors {
            code_error(error, &names);
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
                code_error(error, &names);
            }
            errors
        })
    }

    /// A whole request (over HTTP): what it answers, errors of its preparation included.
    async fn request(&self, ctx: &ExtensionContext<'_>, next: NextRequest<'_>) -> Response {
        let response = next.run(ctx).await;
        self.code_response(response)
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
        let coded = stream.map(move |mut response| {
            if !response.errors.is_empty() {
                let names = current(&names);
                for error in &mut response.errors {
                    code_error(error, &names);
                }
            }
            response
        });
        next.run(ctx, Box::pin(coded))
    }
}
