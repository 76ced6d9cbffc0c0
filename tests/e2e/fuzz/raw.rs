//! Requests no client should send: raw bodies and GET query strings.

use super::cases::{
    Case, Ctx, HttpCase, MAX_GET_QUERY_BYTES, accept, auth, encode_params, percent_encode,
};
use super::document::Builder;
use super::draw::{Gen, NAME_REST, PRINTABLE, nasty_string};
use super::schema::Root;
use super::syntax::{json_text, soup};

/// JSON that is not a GraphQL request, or not quite: batches, wrong types, duplicate keys,
/// trailing text, persisted queries the server does not keep.
const WRONG_SHAPES: &[&str] = &[
    r#"[]"#,
    r#"[{"query":"{ __typename }"}]"#,
    r#"{"query":1}"#,
    r#"{"query":null}"#,
    r#"{}"#,
    r#"{"query":"{ __typename }","variables":[]}"#,
    r#"{"query":"{ __typename }","variables":"{}"}"#,
    r#"{"query":"{ __typename }","variables":"not json"}"#,
    r#"{"query":"{ __typename }","operationName":5}"#,
    r#"{"query":"{ __typename }","extensions":"x"}"#,
    r#"{"query":"{ __typename }","extensions":{"persistedQuery":{"version":1,"sha256Hash":"x"}}}"#,
    r#"{"query":"a","query":"{ __typename }"}"#,
    r#"{"query":"{ __typename }"} trailing"#,
    r#""{ __typename }""#,
    "null",
];

/// Bodies no client should send: random bytes, truncated JSON, JSON of the wrong shape, other
/// encodings, wrong content types, sizes up to past the server's body bound.
pub fn raw_body(g: &mut Gen, ctx: &Ctx) -> Case {
    let valid = Builder::new(g, &ctx.schema, &ctx.pool)
        .document(Root::Query)
        .body()
        .to_string();
    let body: Vec<u8> = match g.below(14) {
        0 | 1 => g.bytes(2_000),
        2 | 3 => {
            let cut = g.below(valid.len());
            valid.as_bytes()[..cut].to_vec()
        }
        4 => json_text(g).into_bytes(),
        5 => g.pick(WRONG_SHAPES).as_bytes().to_vec(),
        6 => {
            let mut b = b"\xef\xbb\xbf".to_vec();
            b.extend_from_slice(valid.as_bytes());
            b
        }
        7 => valid.encode_utf16().flat_map(|u| u.to_le_bytes()).collect(),
        8 => {
            let mut b = valid.into_bytes();
            let at = g.below(b.len());
            b.splice(at..at, [0xff, 0xfe, 0x00, 0xc3]);
            b
        }
        9 => {
            let size = *g.pick(&[1_000_000, 4_000_000, 32 * 1024 * 1024 + 1]);
            let mut b = b"{\"query\":\"{ __typename }\",\"variables\":{\"a\":\"".to_vec();
            b.resize(size, b'x');
            b.extend_from_slice(b"\"}}");
            b
        }
        10 => {
            let variables = json_text(g);
            format!(r#"{{"query":"{{ __typename }}","variables":{{"x":{variables}}}}}"#)
                .into_bytes()
        }
        11 => {
            let extensions = json_text(g);
            format!(r#"{{"query":"{{ __typename }}","extensions":{extensions}}}"#).into_bytes()
        }
        _ => valid.into_bytes(),
    };
    let content_type = match g.below(14) {
        0 => None,
        1 => Some("application/json; charset=utf-8"),
        2 => Some("application/graphql"),
        3 => Some("text/plain"),
        4 => Some("multipart/form-data; boundary=x"),
        5 => Some("application/x-www-form-urlencoded"),
        6 => Some("application/jsonx"),
        7 => Some("APPLICATION/JSON"),
        8 => Some("application/json; charset=utf-16"),
        9 => Some("application/graphql-response+json"),
        _ => Some("application/json"),
    };
    let content_type = if g.chance(5) {
        Some(g.text_of(PRINTABLE, 0, 40))
    } else {
        content_type.map(str::to_owned)
    };
    Case::Http(HttpCase {
        get: false,
        query_string: String::new(),
        content_type,
        accept: accept(g),
        auth: auth(g),
        body,
    })
}

/// GET query strings: real parameters with odd values, repeated or unknown parameters, stray
/// `%`, `&` and `=`, percent-escapes of any byte.
pub fn get_case(g: &mut Gen, ctx: &Ctx) -> Case {
    let query_string = match g.below(6) {
        0 | 1 => {
            let mut params = Vec::new();
            let query = match g.below(3) {
                0 => soup(g, &ctx.schema.names),
                1 => {
                    Builder::new(g, &ctx.schema, &ctx.pool)
                        .document(Root::Query)
                        .query
                }
                _ => {
                    Builder::new(g, &ctx.schema, &ctx.pool)
                        .document(Root::Mutation)
                        .query
                }
            };
            params.push(("query".to_owned(), query));
            if g.chance(50) {
                params.push(("variables".to_owned(), json_text(g)));
            }
            if g.chance(20) {
                params.push(("operationName".to_owned(), nasty_string(g)));
            }
            if g.chance(20) {
                params.push(("extensions".to_owned(), json_text(g)));
            }
            if g.chance(10) {
                params.push(("query".to_owned(), "{ __typename }".to_owned()));
            }
            encode_params(&params)
        }
        2 => format!("query={}", percent_encode(&g.bytes(300))),
        3 => {
            let n = g.range(1, 30);
            (0..n)
                .map(|_| match g.below(6) {
                    0 => "%".to_owned(),
                    1 => format!("%{}", g.text_of(NAME_REST, 0, 2)),
                    2 => g.pick(&["&", "=", "+", ";", "?", "/"]).to_string(),
                    3 => format!("%{:02X}", g.draw(proptest::prelude::any::<u8>())),
                    _ => g.text_of("abcXYZ019._~-", 0, 10),
                })
                .collect()
        }
        4 => format!("variables={}", percent_encode(json_text(g).as_bytes())),
        _ => format!("query={}&query=", percent_encode(b"{ __typename }")),
    };
    let mut query_string = query_string;
    query_string.truncate(MAX_GET_QUERY_BYTES);
    Case::Http(HttpCase {
        get: true,
        query_string,
        content_type: None,
        accept: accept(g),
        auth: auth(g),
        body: Vec::new(),
    })
}
