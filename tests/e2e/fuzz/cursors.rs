//! Cursors for `after` and `before`: random base64, base64 of random JSON or of a cursor's
//! shape with odd parts, real cursors changed, and connection fields paged from them.

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use serde_json::{Value, json};

use super::cases::{Ctx, doc};
use super::document::Builder;
use super::draw::{Gen, gql_string, nasty_string, number_text};
use super::schema::{Doc, Pool, Root};
use super::syntax::json_value;

/// A cursor: random base64, base64 of random JSON or of a cursor's shape with odd parts, a real
/// cursor changed or as it is, or not base64 at all.
pub fn cursor(g: &mut Gen, pool: &Pool) -> String {
    let real = (!pool.cursors.is_empty()).then(|| g.pick(&pool.cursors).clone());
    match g.below(9) {
        0 => URL_SAFE_NO_PAD.encode(g.bytes(64)),
        1 => STANDARD.encode(g.bytes(64)),
        2 => URL_SAFE_NO_PAD.encode(json_value(g).to_string()),
        3 | 4 => {
            let ordering = match g.below(4) {
                0 => json!("createdAt:desc"),
                1 => json!(nasty_string(g)),
                2 => json_value(g),
                _ => real
                    .as_deref()
                    .and_then(|c| URL_SAFE_NO_PAD.decode(c).ok())
                    .and_then(|b| serde_json::from_slice::<Value>(&b).ok())
                    .map_or(json!("name:asc"), |v| v["o"].clone()),
            };
            let key = match g.below(5) {
                0 => json!(g.draw(proptest::prelude::any::<i64>())),
                1 => serde_json::from_str(&number_text(g)).unwrap_or(json!(1e308)),
                2 => json!(nasty_string(g)),
                3 => json_value(g),
                _ => json!("2024-01-01T00:00:00Z"),
            };
            let id = if g.chance(70) {
                json!(g.uuid())
            } else {
                json_value(g)
            };
            let mut c = json!({ "o": ordering, "k": key, "i": id });
            if g.chance(10) {
                c.as_object_mut()
                    .map(|m| m.remove(*g.pick(&["o", "k", "i"])));
            }
            URL_SAFE_NO_PAD.encode(c.to_string())
        }
        5 => match real {
            Some(c) => {
                let mut bytes = c.into_bytes();
                let edits = g.range(1, 3);
                for _ in 0..edits {
                    if bytes.is_empty() {
                        break;
                    }
                    let i = g.below(bytes.len());
                    match g.below(3) {
                        0 => bytes[i] = *g.pick(b"AZaz09-_=+/"),
                        1 => bytes.truncate(i),
                        _ => bytes.insert(i, *g.pick(b"A=/")),
                    }
                }
                String::from_utf8_lossy(&bytes).into_owned()
            }
            None => g.uuid(),
        },
        6 => real.unwrap_or_default(),
        7 => {
            URL_SAFE_NO_PAD.encode(&g.bytes(8)[..]) + &"A".repeat(*g.pick(&[0, 1, 1_000, 200_000]))
        }
        _ => nasty_string(g),
    }
}

/// A connection field paged from a random cursor, with `first`/`last` of any size.
pub fn cursor_document(g: &mut Gen, ctx: &Ctx) -> Doc {
    let connections: Vec<_> = ctx
        .schema
        .root_fields(Root::Query)
        .into_iter()
        .filter(|f| f.args.iter().any(|a| a.name == "after"))
        .collect();
    let Some(&field) = connections.get(g.below(connections.len())) else {
        return doc("{ __typename }".to_owned());
    };
    let mut args = Vec::new();
    let mut definitions = Vec::new();
    let mut variables = serde_json::Map::new();
    for name in ["after", "before"] {
        if field.args.iter().any(|a| a.name == name)
            && g.chance(if name == "after" { 80 } else { 40 })
        {
            let c = cursor(g, &ctx.pool);
            if g.chance(50) {
                definitions.push(format!("${name}: String"));
                args.push(format!("{name}: ${name}"));
                variables.insert(name.to_owned(), json!(c));
            } else {
                args.push(format!("{name}: {}", gql_string(&c)));
            }
        }
    }
    for name in ["first", "last"] {
        if field.args.iter().any(|a| a.name == name) && g.chance(50) {
            let n = if g.chance(70) {
                g.draw(-2i64..=120).to_string()
            } else {
                number_text(g)
            };
            args.push(format!("{name}: {n}"));
        }
    }
    let mut builder = Builder::new(g, &ctx.schema, &ctx.pool);
    let selection = builder.selection(field.ty.named(), 3);
    let header = if definitions.is_empty() {
        String::new()
    } else {
        format!("query({})", definitions.join(", "))
    };
    let page = "edges { cursor } pageInfo { startCursor endCursor hasNextPage }";
    Doc {
        query: format!(
            "{header} {{ {}({}) {{ {page} {selection} }} }}",
            field.name,
            args.join(", ")
        ),
        variables: Value::Object(variables),
        operation_name: None,
    }
}
