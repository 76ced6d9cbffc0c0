//! What the generators need from the running server, asked of it before the run.

use serde_json::json;

use super::cases::Ctx;
use super::schema::{self, Pool, Root, Schema};
use crate::helpers::app::TestApp;
use crate::helpers::ws::WsClient;

/// What the generators need from the running server: its schema by introspection, rows to
/// point ids at, cursors it issued, a member's token, and whether `subscribe` is bounded.
pub async fn context(app: &TestApp) -> Ctx {
    let member = app.token("fuzz-member", &[api::auth::Role::Member]).await;
    let run = crate::helpers::runs::run_of(app, 3, 2).await;
    let mut ids: Vec<String> = vec![run.id.to_string(), run.suite.to_string()];
    ids.extend(run.cases.iter().map(|c| c.to_string()));
    ids.extend(run.steps.iter().flatten().map(|s| s.to_string()));
    ids.extend(run.executions.iter().map(|e| e.to_string()));

    let introspection = app.gql(schema::INTROSPECTION, json!({})).await;
    let schema = Schema::from_introspection(&introspection["data"]);
    assert!(
        !schema.root_fields(Root::Query).is_empty(),
        "introspection: {introspection}"
    );

    let mut cursors = Vec::new();
    for field in schema.root_fields(Root::Query) {
        if !field.args.iter().any(|a| a.name == "after") {
            continue;
        }
        let body = app
            .gql(
                &format!("{{ {}(first: 3) {{ edges {{ cursor }} }} }}", field.name),
                json!({}),
            )
            .await;
        for edge in body["data"][&field.name]["edges"]
            .as_array()
            .into_iter()
            .flatten()
        {
            if let Some(c) = edge["cursor"].as_str() {
                cursors.push(c.to_owned());
            }
        }
    }
    let (nesting, document) = subscribe_bounds(app, &schema.query).await;
    eprintln!(
        "fuzz: {} types, {} ids, {} cursors; over WebSocket, the query text's nesting is {}bounded, the document's fragments and fields {}bounded{}",
        schema.types.len(),
        ids.len(),
        cursors.len(),
        if nesting { "" } else { "NOT " },
        if document { "" } else { "NOT " },
        if nesting && document {
            ""
        } else {
            ": pathological documents are not sent over it (they would abort the process or hold its workers)"
        }
    );
    Ctx {
        schema,
        pool: Pool { ids, cursors },
        admin: app.admin_token.clone(),
        member,
        ws_bounded: nesting && document,
    }
}

/// Whether a `subscribe` is bounded as POST and GET are: its text's nesting (65 levels,
/// harmless either way), and its document's fields with fragments expanded (a chain of 13
/// fragments each spreading the next twice: 8,192 fields, which validation walks in
/// milliseconds; 25 levels would hold a worker for minutes).
async fn subscribe_bounds(app: &TestApp, query_type: &str) -> (bool, bool) {
    let mut ws = WsClient::connect(app.addr, &app.admin_token).await;
    let deep = format!("{}{}", "{".repeat(65), "}".repeat(65));
    ws.subscribe("nesting", &deep, json!({})).await;
    // refused with the protocol's `error` message (its payload the errors) or a `next` whose
    // payload carries them
    let code = |m: &serde_json::Value| {
        let first = if m["payload"].is_array() {
            &m["payload"][0]
        } else {
            &m["payload"]["errors"][0]
        };
        first["extensions"]["code"].clone()
    };
    let nesting = ws
        .next_message()
        .await
        .is_some_and(|m| code(&m) == "BAD_REQUEST");
    let mut chain = String::from("{ ...F0 }");
    for i in 0..13 {
        chain.push_str(&format!(
            " fragment F{i} on {query_type} {{ ...F{n} ...F{n} }}",
            n = i + 1
        ));
    }
    chain.push_str(&format!(" fragment F13 on {query_type} {{ __typename }}"));
    let mut ws = WsClient::connect(app.addr, &app.admin_token).await;
    ws.subscribe("document", &chain, json!({})).await;
    let document = ws
        .next_message()
        .await
        .is_none_or(|m| m["payload"]["data"].is_null());
    (nesting, document)
}
