//! JSON and GraphQL text: arbitrary JSON values, JSON texts that parsers trip on, GraphQL
//! literals, and token soups.

use proptest::prelude::*;
use serde_json::{Map, Value};

use super::draw::{Gen, gql_string, malformed_number, number_text, short_nasty_string};

/// Arbitrary JSON: nested up to 6 levels, arbitrary unicode in keys and strings.
fn json_strategy() -> BoxedStrategy<Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        (-3i64..=200).prop_map(Value::from),
        any::<f64>()
            .prop_map(|f| serde_json::Number::from_f64(f).map_or(Value::Null, Value::Number)),
        any::<String>().prop_map(Value::String),
        "[A-Za-z_][A-Za-z0-9_]{0,10}".prop_map(Value::String),
    ];
    leaf.prop_recursive(6, 64, 8, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..8).prop_map(Value::Array),
            proptest::collection::vec(("[a-zA-Z_][a-zA-Z0-9_]{0,8}|.{0,6}", inner), 0..8)
                .prop_map(|kv| Value::Object(kv.into_iter().collect::<Map<_, _>>())),
        ]
    })
    .boxed()
}

thread_local! {
    static JSON: BoxedStrategy<Value> = json_strategy();
}

pub fn json_value(g: &mut Gen) -> Value {
    JSON.with(|s| g.draw(s))
}

/// `value` as a GraphQL literal (object keys that are not names become names).
pub fn gql_literal(value: &Value) -> String {
    match value {
        Value::Null => "null".to_owned(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => n.to_string(),
        Value::String(s) => gql_string(s),
        Value::Array(items) => format!(
            "[{}]",
            items.iter().map(gql_literal).collect::<Vec<_>>().join(", ")
        ),
        Value::Object(map) => format!(
            "{{{}}}",
            map.iter()
                .enumerate()
                .map(|(i, (k, v))| {
                    let name = if is_name(k) {
                        k.clone()
                    } else {
                        format!("k{i}")
                    };
                    format!("{name}: {}", gql_literal(v))
                })
                .collect::<Vec<_>>()
                .join(", ")
        ),
    }
}

fn is_name(s: &str) -> bool {
    let mut chars = s.chars();
    chars
        .next()
        .is_some_and(|c| c == '_' || c.is_ascii_alphabetic())
        && chars.all(|c| c == '_' || c.is_ascii_alphanumeric())
}

/// JSON text: mostly well-formed values, and the shapes parsers trip on: nesting far past any
/// bound, wide objects, numbers no float holds, lone surrogates, NUL escapes, broken syntax.
pub fn json_text(g: &mut Gen) -> String {
    match g.below(12) {
        0..=5 => json_value(g).to_string(),
        6 => {
            let depth = *g.pick(&[10, 63, 64, 65, 127, 128, 129, 1_000, 100_000]);
            let (open, close) = *g.pick(&[("[", "]"), ("{\"a\":", "}"), ("[{\"a\":", "}]")]);
            format!("{}1{}", open.repeat(depth), close.repeat(depth))
        }
        7 => {
            let n = *g.pick(&[1_000, 50_000]);
            if g.chance(50) {
                let body: Vec<String> = (0..n).map(|i| format!("\"k{i}\":{i}")).collect();
                format!("{{{}}}", body.join(","))
            } else {
                format!("[{}]", vec!["0"; n].join(","))
            }
        }
        8 => number_text(g),
        9 => g
            .pick(&[
                r#""\ud800""#,
                r#""\udc00\ud800""#,
                r#""a\u0000b""#,
                r#"{"a\u0000":1}"#,
                r#""\x41""#,
                "\"\u{1}\"",
                r#"{"a":1,"a":2}"#,
                r#"{"__proto__":{}}"#,
            ])
            .to_string(),
        10 => {
            let valid = json_value(g).to_string();
            let cut = g.below(valid.len() + 1);
            valid.get(..cut).unwrap_or(&valid).to_owned()
        }
        _ => g
            .pick(&[
                "",
                "{",
                "}",
                "[1,]",
                "{'a':1}",
                "NaN",
                "undefined",
                "[1 2]",
                "{\"a\"}",
                "/* */1",
                "1 2",
                "\u{feff}{}",
                "tru",
                "nul",
            ])
            .to_string(),
    }
}

/// At most 64 bytes of an ASCII text.
fn short(text: &str) -> &str {
    text.get(..64).unwrap_or(text)
}

/// Punctuators, keywords and the pieces of literals of GraphQL, to shake the lexer and parser.
const SOUP_TOKENS: &[&str] = &[
    "{",
    "}",
    "[",
    "]",
    "(",
    ")",
    ":",
    "...",
    "..",
    "$",
    "@",
    "!",
    "=",
    "|",
    "&",
    ",",
    "query",
    "mutation",
    "subscription",
    "fragment",
    "on",
    "true",
    "false",
    "null",
    "__typename",
    "__schema",
    "__type",
    "schema",
    "type",
    "input",
    "enum",
    "directive",
    "extend",
    "skip",
    "include",
    "if",
    "\"\"\"",
    "\"",
    "\\",
    "#",
    "\n",
    "\r",
    "\t",
    "\u{feff}",
    "\u{0}",
    "💥",
];

/// A random sequence of GraphQL tokens: punctuators, keywords, the schema's names, numbers,
/// strings with escapes, block strings and comments, with stray characters in between.
pub fn soup(g: &mut Gen, names: &[String]) -> String {
    let count = match g.below(10) {
        0..=6 => g.range(1, 60),
        7 | 8 => g.range(60, 600),
        _ => g.range(600, 20_000),
    };
    let mut out = String::new();
    for _ in 0..count {
        match g.below(12) {
            0..=3 => {
                let token: &&str = g.pick(SOUP_TOKENS);
                out.push_str(token);
            }
            4 | 5 if !names.is_empty() => out.push_str(g.pick(names).as_str()),
            6 => out.push_str(short(&number_text(g))),
            7 => out.push_str(&gql_string(&short_nasty_string(g))),
            8 => match g.below(5) {
                0 => out.push_str(&format!("\"\"\"{}\"\"\"", g.any_text(0, 20))),
                1 => out.push_str(&format!("\"\"\"a\\\"\"\"b{}\"\"\"", g.any_text(0, 10))),
                2 => out.push_str(&format!("# {}\n", g.any_text(0, 30))),
                3 => out.push_str(&format!(
                    "\"{}",
                    g.pick(&["\\u", "\\uD800", "\\u{1F600}", "\\q", "\\", "\n"])
                )),
                _ => out.push_str(&malformed_number(g)),
            },
            9 => out.push(g.draw(any::<char>())),
            _ => out.push_str(&g.name(12)),
        }
        let separator: &&str = g.pick(&[" ", " ", " ", "\n", ",", "", "\t", "\r\n"]);
        out.push_str(separator);
    }
    out
}
