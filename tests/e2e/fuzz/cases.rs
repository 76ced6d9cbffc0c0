//! The kinds of case and how each is generated: token soups, documents built from the schema,
//! pathological shapes, variables, cursors, raw bodies, GET query strings, WebSocket frames.

use serde_json::{Value, json};

use super::cursors::cursor_document;
use super::document::Builder;
use super::draw::{Gen, PRINTABLE};
use super::frames::ws_case;
use super::raw::{get_case, raw_body};
use super::schema::{Doc, Pool, Root, Schema};
use super::shapes::pathological;
use super::syntax::{json_text, json_value, soup};

/// Longest GET query string a case sends: hyper answers longer URIs itself (414, no body)
/// before the service sees them, which is not what these cases are about.
pub const MAX_GET_QUERY_BYTES: usize = 32 * 1024;

/// What the generators read: the schema, rows and cursors that exist, the tokens.
pub struct Ctx {
    pub schema: Schema,
    pub pool: Pool,
    pub admin: String,
    pub member: String,
    /// Whether a WebSocket `subscribe` is bounded like POST and GET, so that documents nested
    /// thousands deep may be sent over it without overflowing a worker's stack.
    pub ws_bounded: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Kind {
    Soup,
    Document,
    Pathological,
    Variables,
    Cursor,
    RawBody,
    Get,
    WebSocket,
}

pub const KINDS: [Kind; 8] = [
    Kind::Soup,
    Kind::Document,
    Kind::Pathological,
    Kind::Variables,
    Kind::Cursor,
    Kind::RawBody,
    Kind::Get,
    Kind::WebSocket,
];

impl Kind {
    pub fn name(self) -> &'static str {
        match self {
            Kind::Soup => "soup",
            Kind::Document => "document",
            Kind::Pathological => "pathological",
            Kind::Variables => "variables",
            Kind::Cursor => "cursor",
            Kind::RawBody => "raw",
            Kind::Get => "get",
            Kind::WebSocket => "ws",
        }
    }
}

#[derive(Debug, Clone)]
pub enum Auth {
    Admin,
    Member,
    Anonymous,
    Header(String),
}

/// One HTTP request to `/graphql`.
#[derive(Debug, Clone)]
pub struct HttpCase {
    pub get: bool,
    /// The query string of a GET, already percent-encoded.
    pub query_string: String,
    pub content_type: Option<String>,
    pub accept: Option<String>,
    pub auth: Auth,
    pub body: Vec<u8>,
}

#[derive(Debug, Clone)]
pub enum Frame {
    Text(String),
    Binary(Vec<u8>),
    Ping(Vec<u8>),
    Pong(Vec<u8>),
    Close(u16, String),
}

/// One WebSocket connection to `/graphql/ws`: the subprotocol asked for and the frames sent.
#[derive(Debug, Clone)]
pub struct WsCase {
    pub protocol: Option<String>,
    pub frames: Vec<Frame>,
}

#[derive(Debug, Clone)]
pub enum Case {
    Http(HttpCase),
    Ws(WsCase),
}

pub fn generate(kind: Kind, g: &mut Gen, ctx: &Ctx) -> Case {
    match kind {
        Kind::Soup => {
            let query = soup(g, &ctx.schema.names);
            let variables = if g.chance(30) {
                json_value(g)
            } else {
                json!({})
            };
            graphql(g, &json!({ "query": query, "variables": variables }))
        }
        Kind::Document => {
            let root = match g.below(20) {
                0..=12 => Root::Query,
                13..=17 => Root::Mutation,
                _ => Root::Subscription,
            };
            let doc = Builder::new(g, &ctx.schema, &ctx.pool).document(root);
            graphql(g, &doc.body())
        }
        Kind::Pathological => {
            let doc = pathological(g, ctx);
            graphql(g, &doc.body())
        }
        Kind::Variables => variables_case(g, ctx),
        Kind::Cursor => {
            let doc = cursor_document(g, ctx);
            graphql(g, &doc.body())
        }
        Kind::RawBody => raw_body(g, ctx),
        Kind::Get => get_case(g, ctx),
        Kind::WebSocket => Case::Ws(ws_case(g, ctx)),
    }
}

pub fn auth(g: &mut Gen) -> Auth {
    match g.below(40) {
        0 => Auth::Anonymous,
        1 => Auth::Member,
        2 => Auth::Header(format!("Bearer {}", g.text_of(PRINTABLE, 0, 80))),
        3 => Auth::Header(g.text_of(PRINTABLE, 0, 80)),
        _ => Auth::Admin,
    }
}

pub fn accept(g: &mut Gen) -> Option<String> {
    match g.below(10) {
        0 => Some("application/graphql-response+json".to_owned()),
        1 => Some("text/html".to_owned()),
        2 => Some(g.text_of(PRINTABLE, 0, 40)),
        _ => None,
    }
}

/// A GraphQL request `body` sent as POST JSON, or now and then as a GET query string.
fn graphql(g: &mut Gen, body: &Value) -> Case {
    let auth = auth(g);
    let accept = accept(g);
    if g.chance(20) {
        let mut params = Vec::new();
        for key in ["query", "variables", "operationName"] {
            match &body[key] {
                Value::Null => {}
                Value::String(s) => params.push((key.to_owned(), s.clone())),
                other => params.push((key.to_owned(), other.to_string())),
            }
        }
        let query_string = encode_params(&params);
        if query_string.len() <= MAX_GET_QUERY_BYTES {
            return Case::Http(HttpCase {
                get: true,
                query_string,
                content_type: None,
                accept,
                auth,
                body: Vec::new(),
            });
        }
    }
    Case::Http(HttpCase {
        get: false,
        query_string: String::new(),
        content_type: Some("application/json".to_owned()),
        accept,
        auth,
        body: body.to_string().into_bytes(),
    })
}

/// Percent-encodes every byte but the unreserved ones.
pub fn percent_encode(text: &[u8]) -> String {
    let mut out = String::with_capacity(text.len());
    for &b in text {
        if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

pub fn encode_params(params: &[(String, String)]) -> String {
    params
        .iter()
        .map(|(k, v)| {
            format!(
                "{}={}",
                percent_encode(k.as_bytes()),
                percent_encode(v.as_bytes())
            )
        })
        .collect::<Vec<_>>()
        .join("&")
}

pub fn nested(open: &str, close: &str, depth: usize, inner: &str) -> String {
    format!("{}{inner}{}", open.repeat(depth), close.repeat(depth))
}

pub fn doc(query: String) -> Doc {
    Doc {
        query,
        variables: json!({}),
        operation_name: None,
    }
}

/// A real root field whose every argument is a variable, with random JSON as their values.
fn variables_case(g: &mut Gen, ctx: &Ctx) -> Case {
    let root = if g.chance(70) {
        Root::Query
    } else {
        Root::Mutation
    };
    let fields: Vec<_> = ctx
        .schema
        .root_fields(root)
        .into_iter()
        .filter(|f| !f.args.is_empty())
        .collect();
    if fields.is_empty() {
        let variables = json_value(g);
        return graphql(
            g,
            &json!({ "query": "{ __typename }", "variables": variables }),
        );
    }
    let field = fields[g.below(fields.len())];
    let definitions: Vec<String> = field
        .args
        .iter()
        .map(|a| format!("${}: {}", a.name, a.ty.sdl()))
        .collect();
    let args: Vec<String> = field
        .args
        .iter()
        .map(|a| format!("{n}: ${n}", n = a.name))
        .collect();
    let mut builder = Builder::new(g, &ctx.schema, &ctx.pool);
    builder.wrong = 40;
    let selection = match &field.ty {
        t if ctx
            .schema
            .types
            .get(t.named())
            .is_some_and(|d| !d.fields.is_empty()) =>
        {
            format!(" {{ {} }}", builder.selection(t.named(), 2))
        }
        _ => String::new(),
    };
    let mut values = Vec::new();
    for arg in &field.args {
        let text = match builder.g.below(4) {
            0 => json_text(builder.g),
            1 => json_value(builder.g).to_string(),
            _ => builder.json(&arg.ty, 0).to_string(),
        };
        if !builder.g.chance(10) {
            values.push(format!(
                "{}:{text}",
                serde_json::to_string(&arg.name).unwrap_or_default()
            ));
        }
    }
    let g = builder.g;
    let query = format!(
        "{} ({}) {{ {}({}){selection} }}",
        root.keyword(),
        definitions.join(", "),
        field.name,
        args.join(", ")
    );
    let variables = if g.chance(15) {
        json_text(g)
    } else {
        format!("{{{}}}", values.join(","))
    };
    let body = format!(
        "{{\"query\":{},\"variables\":{variables}}}",
        Value::String(query)
    );
    Case::Http(HttpCase {
        get: false,
        query_string: String::new(),
        content_type: Some("application/json".to_owned()),
        accept: accept(g),
        auth: auth(g),
        body: body.into_bytes(),
    })
}
