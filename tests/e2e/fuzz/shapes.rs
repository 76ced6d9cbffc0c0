//! Pathological documents: the shapes that exhaust parsers, validators and databases.

use serde_json::json;

use super::cases::{Ctx, doc, nested};
use super::draw::{Gen, gql_string, number_text, short_nasty_string};
use super::schema::Doc;

/// A search of the text in `$s`.
const SEARCH: &str =
    "query($s: String) { testCases(filter: {search: $s}) { totalCount edges { node { id } } } }";

/// A page of one case with its steps: many aliases of it make a request of many statements.
const CASES_WITH_STEPS: &str =
    "testCases(first: 1) { totalCount edges { node { id steps { id } } } }";

/// Shapes that exhaust a parser, a validator or a database: nesting thousands deep, thousands
/// of aliases, fragments, directives, arguments, variables and operations, long strings and
/// names, numbers no integer holds, NUL and unicode, introspection asked for many times.
pub fn pathological(g: &mut Gen, ctx: &Ctx) -> Doc {
    let depth = *g.pick(&[17, 63, 64, 65, 200, 1_000, 5_000, 30_000]);
    let many = *g.pick(&[100, 101, 1_000, 5_000, 5_001, 20_000]);
    match g.below(22) {
        0 => doc(format!("{{{}}}", nested("a {", "}", depth, "b"))),
        1 => doc(format!(
            "{{ testCases(filter: {{tagsAny: {}}}) {{ totalCount }} }}",
            nested("[", "]", depth, "\"a\"")
        )),
        2 => doc(format!(
            "{{ testCases(filter: {{metadataContains: {}}}) {{ totalCount }} }}",
            nested("{a: ", "}", depth, "1")
        )),
        3 => doc(format!(
            "{{ {} }}",
            (0..many)
                .map(|i| format!("a{i}: __typename"))
                .collect::<Vec<_>>()
                .join(" ")
        )),
        4 => {
            let n = g.range(2, 300);
            doc(format!(
                "{{ {} }}",
                (0..n)
                    .map(|i| format!("a{i}: {CASES_WITH_STEPS}"))
                    .collect::<Vec<_>>()
                    .join(" ")
            ))
        }
        5 => {
            let levels = g.range(10, 60);
            let mut q = String::from("{ ...F0 }\n");
            for i in 0..levels {
                q.push_str(&format!(
                    "fragment F{i} on {} {{ ...F{} ...F{} }}\n",
                    ctx.schema.query,
                    i + 1,
                    i + 1
                ));
            }
            q.push_str(&format!(
                "fragment F{levels} on {} {{ __typename }}",
                ctx.schema.query
            ));
            doc(q)
        }
        6 => doc(format!(
            "{{ ...A }} fragment A on {q} {{ ...B __typename }} fragment B on {q} {{ ...A }}",
            q = ctx.schema.query
        )),
        7 => {
            let mut q = String::from("{ __typename }\n");
            for i in 0..many.min(2_000) {
                q.push_str(&format!(
                    "fragment F{i} on {} {{ __typename }}\n",
                    ctx.schema.query
                ));
            }
            doc(q)
        }
        8 => {
            let long = "x".repeat(*g.pick(&[10_000, 100_000, 250_000, 300_000]));
            doc(format!(
                "{{ testCases(filter: {{search: {}}}) {{ totalCount }} }}",
                gql_string(&long)
            ))
        }
        9 => doc(format!(
            "{{ {} }}",
            "a".repeat(*g.pick(&[1_000, 100_000, 300_000]))
        )),
        10 => doc(format!(
            "{{ testCases({}: {}) {{ totalCount }} }}",
            g.pick(&["first", "last"]),
            number_text(g)
        )),
        11 => doc(format!(
            "{{ __typename {} }}",
            "@skip(if: false) ".repeat(many.min(10_000))
        )),
        12 => doc(format!(
            "{{ testCases({}) {{ totalCount }} }}",
            (0..many.min(10_000))
                .map(|i| format!("a{i}: 1"))
                .collect::<Vec<_>>()
                .join(", ")
        )),
        13 => doc(format!(
            "query({}) {{ __typename }}",
            (0..many.min(10_000))
                .map(|i| format!("$v{i}: Int"))
                .collect::<Vec<_>>()
                .join(", ")
        )),
        14 => {
            let n = many.min(5_000);
            let query = (0..n)
                .map(|i| format!("query O{i} {{ __typename }}"))
                .collect::<Vec<_>>()
                .join("\n");
            Doc {
                query,
                variables: json!({}),
                operation_name: Some(format!("O{}", g.below(n + 1))),
            }
        }
        15 => doc(g
            .pick(&[
                "{ testCases(filter: {search: \"\\u0000\"}) { totalCount } }",
                "{ testCases(filter: {author: \"a\\u0000b\"}) { totalCount } }",
                "{ __typename \u{0} }",
                "\u{feff}{ __typename }",
                "{\u{a0}__typename\u{a0}}",
                "{ testCases(filter: {search: \"\\uD800\"}) { totalCount } }",
                "{ testCases(filter: {search: \"\\u{1F600}\"}) { totalCount } }",
                "{ testCases(filter: {tagsAny: [\"\\u0000\"]}) { totalCount } }",
            ])
            .to_string()),
        16 => doc(format!(
            "{{ {} }}",
            (0..g.range(2, 5))
                .map(|i| format!("s{i}: __schema {{ types {{ name fields {{ name }} }} }}"))
                .collect::<Vec<_>>()
                .join(" ")
        )),
        17 => doc(format!(
            "{{ __type(name: \"TestCase\") {{ {} }} }}",
            nested("ofType {", "}", g.range(5, 40), "name")
        )),
        18 => doc(format!(
            "{{ {} }}",
            nested(
                &format!("... on {} {{", ctx.schema.query),
                "}",
                depth,
                "__typename"
            )
        )),
        19 => doc(format!(
            "{{ testCases(filter: {{tagsAny: [{}]}}) {{ totalCount }} }}",
            vec!["\"a\""; many.min(60_000)].join(",")
        )),
        20 => {
            let raw = nested("{\"a\":", "}", depth, "1");
            Doc {
                query: "query($f: TestCaseFilter) { testCases(filter: $f) { totalCount } }"
                    .to_owned(),
                variables: serde_json::from_str(&format!(
                    "{{\"f\":{{\"metadataContains\":{raw}}}}}"
                ))
                .unwrap_or_else(|_| json!({ "f": { "metadataContains": { "deep": depth } } })),
                operation_name: None,
            }
        }
        _ => {
            // a short text repeated, up to 4 MB, as a variable: only the body's bound limits it
            let unit = short_nasty_string(g);
            Doc {
                query: SEARCH.to_owned(),
                variables: json!({ "s": unit.repeat(*g.pick(&[1, 1_000, 20_000])) }),
                operation_name: None,
            }
        }
    }
}
