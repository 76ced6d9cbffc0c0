//! Bounds on what a client sends, checked before anything recursive reads it.
//!
//! The GraphQL parser, serde and async-graphql's validation all recurse: a query nested
//! 5,000 deep overflows a worker thread's stack, and a stack overflow aborts the process (it
//! is not a panic that can be caught). So every entry (POST, GET, a WebSocket `subscribe`)
//! first scans the raw text without recursion: its length, how deep brackets nest in the query
//! text and in JSON. Only then is the query parsed, and the parsed document is measured, again
//! without following fragment spreads more than once, before validation (whose fragment walks
//! are exponential in the nesting of spreads) ever sees it: how deep fields nest, how many
//! fields it asks for once fragments are expanded, how many fragments it defines. Introspection
//! counts like any other field.

use async_graphql::parser::types::{ExecutableDocument, Selection, SelectionSet};
use async_graphql::{Positioned, Request};
use std::collections::HashMap;

/// Longest query text: far beyond any hand-written or generated document (GraphiQL's
/// introspection query is about 2 KB); values belong in variables.
pub const MAX_QUERY_BYTES: usize = 256 * 1024;

/// Deepest nesting of brackets in a query text, and of arrays and objects in JSON (bodies,
/// variables, WebSocket messages). Real documents and metadata stay far below it, and the
/// parsers' recursion stays far from the stack's end.
pub const MAX_NESTING: usize = 64;

/// Deepest nesting of fields in an operation, introspection included. GraphiQL's
/// introspection query (graphql-js, `ofType` seven levels deep) needs 13; the deepest useful
/// data query (run → executions → step executions → step → case) needs fewer.
pub const MAX_QUERY_DEPTH: usize = 16;

/// Most fields a document may ask for, counting a fragment's fields each time it is spread and
/// every alias: 200,000 aliases of `__typename` are refused, a dashboard's query is far below.
pub const MAX_FIELDS: u64 = 5_000;

/// Most fragments a document may define.
pub const MAX_FRAGMENTS: usize = 100;

/// How often one operation may ask for the whole schema (`__schema`): once is what GraphiQL
/// and code generators do; each more is a copy of a large answer.
pub const MAX_SCHEMA_FIELDS: u64 = 1;

/// Longest string anywhere in a request's variables, in bytes: above the largest field bound
/// of [`crate::input`] (so that a field's own bound answers first, with its name), and a bound
/// still for a field without one.
pub const MAX_VARIABLE_STRING_BYTES: usize = 1024 * 1024;

/// Longest list anywhere in a request's variables: ten times the longest list any field takes
/// (a bulk report's 10,000 results), so that a field's own bound answers first, with its name.
pub const MAX_VARIABLE_LIST: usize = 100_000;

/// A bound the request broke.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LimitError {
    /// The query text is longer than [`MAX_QUERY_BYTES`].
    QueryTooLong { bytes: usize },
    /// Brackets (or JSON arrays and objects) nest deeper than [`MAX_NESTING`].
    TooDeeplyNested { what: &'static str },
    /// More than [`MAX_FRAGMENTS`] fragments.
    TooManyFragments { count: usize },
    /// The query text does not parse.
    Syntax { message: String },
    /// Fields nest deeper than [`MAX_QUERY_DEPTH`].
    TooDeep { depth: usize },
    /// More than [`MAX_FIELDS`] fields once fragments are expanded.
    TooManyFields { fields: u64 },
    /// `__schema` more than [`MAX_SCHEMA_FIELDS`] times in one operation.
    TooMuchIntrospection { count: u64 },
    /// A string or list in the variables is larger than its bound.
    VariableTooLarge { what: &'static str },
}

impl LimitError {
    /// The `extensions.code`: structural limits (what is checked before parsing) are
    /// `BAD_REQUEST`; a syntax error `GRAPHQL_PARSE_FAILED`; limits on the parsed document
    /// `BAD_USER_INPUT`, like the other reasons a valid-looking document is refused.
    pub fn code(&self) -> &'static str {
        match self {
            Self::QueryTooLong { .. }
            | Self::TooDeeplyNested { .. }
            | Self::TooManyFragments { .. } => "BAD_REQUEST",
            Self::Syntax { .. } => "GRAPHQL_PARSE_FAILED",
            Self::TooDeep { .. }
            | Self::TooManyFields { .. }
            | Self::TooMuchIntrospection { .. }
            | Self::VariableTooLarge { .. } => "BAD_USER_INPUT",
        }
    }

    /// What the client is told.
    pub fn message(&self) -> String {
        match self {
            Self::QueryTooLong { bytes } => format!(
                "the query is {bytes} bytes long; at most {MAX_QUERY_BYTES} are accepted (pass values as variables)"
            ),
            Self::TooDeeplyNested { what } => {
                format!("{what} nests deeper than {MAX_NESTING} levels")
            }
            Self::TooManyFragments { count } => {
                format!("the query defines {count} fragments; at most {MAX_FRAGMENTS} are accepted")
            }
            Self::Syntax { message } => message.clone(),
            Self::TooDeep { depth } => format!(
                "the query nests fields {depth} deep; at most {MAX_QUERY_DEPTH} levels are accepted"
            ),
            Self::TooManyFields { fields } => format!(
                "the query asks for {fields} fields (fragments expanded, aliases counted); at most {MAX_FIELDS} are accepted"
            ),
            Self::TooMuchIntrospection { count } => format!(
                "the operation asks for __schema {count} times; at most {MAX_SCHEMA_FIELDS} is accepted"
            ),
            Self::VariableTooLarge { what } => match *what {
                "string" => format!(
                    "a string in the variables is longer than {MAX_VARIABLE_STRING_BYTES} bytes"
                ),
                _ => format!("a list in the variables has more than {MAX_VARIABLE_LIST} items"),
            },
        }
    }
}

/// Checks a query text without parsing it: its length, and how deep its brackets nest
/// (strings, block strings and comments skipped).
pub fn check_query_text(query: &str) -> Result<(), LimitError> {
    if query.len() > MAX_QUERY_BYTES {
        return Err(LimitError::QueryTooLong { bytes: query.len() });
    }
    let bytes = query.as_bytes();
    let mut depth = 0usize;
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'#' => {
                while i < bytes.len() && bytes[i] != b'\n' && bytes[i] != b'\r' {
                    i += 1;
                }
            }
            b'"' if bytes[i..].starts_with(b"\"\"\"") => {
                // a block string ends at the next unescaped """
                i += 3;
                while i < bytes.len() && !bytes[i..].starts_with(b"\"\"\"") {
                    i += if bytes[i..].starts_with(b"\\\"\"\"") {
                        4
                    } else {
                        1
                    };
                }
                i += 2;
            }
            b'"' => {
                i += 1;
                while i < bytes.len() && bytes[i] != b'"' && bytes[i] != b'\n' {
                    i += if bytes[i] == b'\\' { 2 } else { 1 };
                }
            }
            b'{' | b'[' | b'(' => {
                depth += 1;
                if depth > MAX_NESTING {
                    return Err(LimitError::TooDeeplyNested { what: "the query" });
                }
            }
            b'}' | b']' | b')' => depth = depth.saturating_sub(1),
            _ => {}
        }
        i += 1;
    }
    Ok(())
}

/// Checks how deep arrays and objects nest in a JSON text, without parsing it. Malformed JSON
/// passes: the parser that follows says what is wrong with it.
pub fn check_json(json: &[u8], what: &'static str) -> Result<(), LimitError> {
    let mut depth = 0usize;
    let mut i = 0;
    while i < json.len() {
        match json[i] {
            b'"' => {
                i += 1;
                while i < json.len() && json[i] != b'"' {
                    i += if json[i] == b'\\' { 2 } else { 1 };
                }
            }
            b'{' | b'[' => {
                depth += 1;
                if depth > MAX_NESTING {
                    return Err(LimitError::TooDeeplyNested { what });
                }
            }
            b'}' | b']' => depth = depth.saturating_sub(1),
            _ => {}
        }
        i += 1;
    }
    Ok(())
}

/// What a selection set asks for, fragments spread counted through their own measures.
#[derive(Debug, Clone, Copy, Default)]
struct Measure {
    /// Fields, fragments expanded (saturating).
    fields: u64,
    /// Deepest field nesting below (and including) this level.
    depth: usize,
    /// `__schema` fields.
    schema_fields: u64,
}

/// Measures a selection set, spreads looked up in `fragments` (already measured; a spread of
/// a fragment not measured yet, or unknown, counts nothing here: validation reports it).
/// Recursion follows the text's nesting only, which [`check_query_text`] bounded.
fn measure(set: &Positioned<SelectionSet>, fragments: &HashMap<&str, Measure>) -> Measure {
    let mut m = Measure::default();
    for item in &set.node.items {
        match &item.node {
            Selection::Field(field) => {
                let inner = measure(&field.node.selection_set, fragments);
                m.fields = m.fields.saturating_add(1).saturating_add(inner.fields);
                m.depth = m.depth.max(inner.depth + 1);
                let is_schema = field.node.name.node.as_str() == "__schema";
                m.schema_fields = m
                    .schema_fields
                    .saturating_add(inner.schema_fields)
                    .saturating_add(u64::from(is_schema));
            }
            Selection::InlineFragment(inline) => {
                let inner = measure(&inline.node.selection_set, fragments);
                m.fields = m.fields.saturating_add(inner.fields);
                m.depth = m.depth.max(inner.depth);
                m.schema_fields = m.schema_fields.saturating_add(inner.schema_fields);
            }
            Selection::FragmentSpread(spread) => {
                if let Some(inner) = fragments.get(spread.node.fragment_name.node.as_str()) {
                    m.fields = m.fields.saturating_add(inner.fields);
                    m.depth = m.depth.max(inner.depth);
                    m.schema_fields = m.schema_fields.saturating_add(inner.schema_fields);
                }
            }
        }
    }
    m
}

/// The fragments a selection set spreads, directly or through inline fragments and fields.
fn spreads<'a>(set: &'a Positioned<SelectionSet>, out: &mut Vec<&'a str>) {
    for item in &set.node.items {
        match &item.node {
            Selection::Field(field) => spreads(&field.node.selection_set, out),
            Selection::InlineFragment(inline) => spreads(&inline.node.selection_set, out),
            Selection::FragmentSpread(spread) => out.push(spread.node.fragment_name.node.as_str()),
        }
    }
}

/// Checks a parsed document: fragments are measured once each, in an order where every
/// fragment comes after those it spreads (a cycle is left unmeasured, for validation to
/// report), so no walk ever follows a spread twice.
pub fn check_document(doc: &ExecutableDocument) -> Result<(), LimitError> {
    if doc.fragments.len() > MAX_FRAGMENTS {
        return Err(LimitError::TooManyFragments {
            count: doc.fragments.len(),
        });
    }
    let mut pending: HashMap<&str, Vec<&str>> = doc
        .fragments
        .iter()
        .map(|(name, fragment)| {
            let mut out = Vec::new();
            spreads(&fragment.node.selection_set, &mut out);
            (name.as_str(), out)
        })
        .collect();
    let mut measured: HashMap<&str, Measure> = HashMap::new();
    // at most MAX_FRAGMENTS rounds, each measuring the fragments whose spreads are all known
    loop {
        let ready: Vec<&str> = pending
            .iter()
            .filter(|(_, needs)| {
                needs
                    .iter()
                    .all(|n| measured.contains_key(n) || !pending.contains_key(n))
            })
            .map(|(name, _)| *name)
            .collect();
        if ready.is_empty() {
            break;
        }
        for name in ready {
            pending.remove(name);
            if let Some(fragment) = doc.fragments.get(name) {
                let m = measure(&fragment.node.selection_set, &measured);
                measured.insert(name, m);
            }
        }
    }
    let mut total: u64 = 0;
    for (_, operation) in doc.operations.iter() {
        let m = measure(&operation.node.selection_set, &measured);
        if m.depth > MAX_QUERY_DEPTH {
            return Err(LimitError::TooDeep { depth: m.depth });
        }
        if m.schema_fields > MAX_SCHEMA_FIELDS {
            return Err(LimitError::TooMuchIntrospection {
                count: m.schema_fields,
            });
        }
        total = total.saturating_add(m.fields);
    }
    if total > MAX_FIELDS {
        return Err(LimitError::TooManyFields { fields: total });
    }
    Ok(())
}

/// Checks a query text, parses it and checks the document: what every entry runs before a
/// request reaches the schema.
pub fn check_query(query: &str) -> Result<ExecutableDocument, LimitError> {
    check_query_text(query)?;
    let doc = async_graphql::parser::parse_query(query).map_err(|e| LimitError::Syntax {
        message: e.to_string(),
    })?;
    check_document(&doc)?;
    Ok(doc)
}

/// Checks that no string or list in `variables` exceeds the bounds any input has, without
/// recursion (the variables' nesting is bounded by [`check_json`] before they are read).
pub fn check_variables(variables: &async_graphql::Variables) -> Result<(), LimitError> {
    use async_graphql::Value;
    let mut stack: Vec<&Value> = variables.values().collect();
    while let Some(value) = stack.pop() {
        match value {
            Value::String(s) if s.len() > MAX_VARIABLE_STRING_BYTES => {
                return Err(LimitError::VariableTooLarge { what: "string" });
            }
            Value::List(items) => {
                if items.len() > MAX_VARIABLE_LIST {
                    return Err(LimitError::VariableTooLarge { what: "list" });
                }
                stack.extend(items.iter());
            }
            Value::Object(fields) => stack.extend(fields.values()),
            _ => {}
        }
    }
    Ok(())
}

/// Checks a request's query as [`check_query`] does, and its variables, and keeps the parsed
/// document in it, so that the schema does not parse it again.
pub fn check_request(request: &mut Request) -> Result<(), LimitError> {
    let doc = check_query(&request.query)?;
    check_variables(&request.variables)?;
    request.set_parsed_query(doc);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn nested(open: &str, close: &str, n: usize, inner: &str) -> String {
        format!("{}{inner}{}", open.repeat(n), close.repeat(n))
    }

    #[test]
    fn text_nesting_beyond_the_bound_is_refused_before_parsing() {
        let deep = format!(
            "{{testCases(filter:{{metadataContains:{}}}){{totalCount}}}}",
            nested("{a:", "}", 5_000, "1")
        );
        assert_eq!(
            check_query_text(&deep),
            Err(LimitError::TooDeeplyNested { what: "the query" })
        );
        let list = format!(
            "{{testCases(filter:{{tagsAny:{}}}){{totalCount}}}}",
            nested("[", "]", 5_000, "\"a\"")
        );
        assert!(check_query_text(&list).is_err());
        let ok = nested("{a:", "}", MAX_NESTING - 3, "1");
        assert_eq!(check_query_text(&format!("{{f(x:{ok})}}")), Ok(()));
    }

    #[test]
    fn brackets_in_strings_and_comments_do_not_count() {
        let brackets = "{".repeat(1_000);
        let q = format!(
            "# {brackets}\n{{ a(s: \"{brackets}\\\"{brackets}\") b(s: \"\"\"{brackets}\\\"\"\"{brackets}\"\"\") }}"
        );
        assert_eq!(check_query_text(&q), Ok(()));
    }

    #[test]
    fn long_text_is_refused() {
        let q = format!("{{ a }} #{}", "x".repeat(MAX_QUERY_BYTES));
        assert!(matches!(
            check_query_text(&q),
            Err(LimitError::QueryTooLong { .. })
        ));
    }

    #[test]
    fn json_nesting_beyond_the_bound_is_refused() {
        let deep = nested("[", "]", 10_000, "1");
        assert!(check_json(deep.as_bytes(), "the body").is_err());
        let ok = format!(
            "{{\"a\":\"{}\",\"b\":{}}}",
            "[".repeat(500),
            nested("{\"x\":", "}", 60, "1")
        );
        assert_eq!(check_json(ok.as_bytes(), "the body"), Ok(()));
    }

    #[test]
    fn aliases_of_typename_count_as_fields() {
        let q = format!(
            "{{ {} }}",
            (0..=MAX_FIELDS)
                .map(|i| format!("a{i}: __typename"))
                .collect::<Vec<_>>()
                .join(" ")
        );
        assert!(matches!(
            check_query(&q),
            Err(LimitError::TooManyFields { .. })
        ));
    }

    #[test]
    fn fragments_count_each_time_they_are_spread_without_being_walked_again() {
        // 40 levels of fragments each spreading the next twice: 2^40 fields if expanded
        let mut q = String::from("{ ...F0 }\n");
        for i in 0..40 {
            q.push_str(&format!(
                "fragment F{i} on Query {{ ...F{} ...F{} }}\n",
                i + 1,
                i + 1
            ));
        }
        q.push_str("fragment F40 on Query { __typename }\n");
        let started = std::time::Instant::now();
        assert!(matches!(
            check_query(&q),
            Err(LimitError::TooManyFields { .. })
        ));
        assert!(started.elapsed() < std::time::Duration::from_secs(1));
    }

    #[test]
    fn fragment_chains_count_towards_depth() {
        let mut q = String::from("{ ...F0 }\n");
        for i in 0..MAX_QUERY_DEPTH {
            q.push_str(&format!("fragment F{i} on T {{ f {{ ...F{} }} }}\n", i + 1));
        }
        q.push_str(&format!("fragment F{MAX_QUERY_DEPTH} on T {{ id }}\n"));
        assert!(matches!(check_query(&q), Err(LimitError::TooDeep { .. })));
    }

    #[test]
    fn fragment_cycles_are_left_to_validation() {
        let q = "{ ...A } fragment A on Query { ...B } fragment B on Query { ...A }";
        assert_eq!(check_query(q).map(|_| ()), Ok(()));
    }

    #[test]
    fn schema_asked_for_twice_is_refused() {
        assert!(matches!(
            check_query(
                "{ a: __schema { queryType { name } } b: __schema { queryType { name } } }"
            ),
            Err(LimitError::TooMuchIntrospection { count: 2 })
        ));
        assert!(check_query("{ __schema { queryType { name } } }").is_ok());
    }

    #[test]
    fn too_many_fragments_are_refused() {
        let mut q = String::from("{ a }\n");
        for i in 0..=MAX_FRAGMENTS {
            q.push_str(&format!("fragment F{i} on Query {{ a }}\n"));
        }
        assert!(matches!(
            check_query(&q),
            Err(LimitError::TooManyFragments { .. })
        ));
    }
}
