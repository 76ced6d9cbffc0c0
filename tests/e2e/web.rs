//! What browsers and front ends meet over HTTP: the pages and their files (all from the
//! server's own origin), CORS, automatic persisted queries, and `/metrics`.

use reqwest::Method;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::helpers::app::{spawn_app, spawn_app_with};

fn sha256_hex(s: &str) -> String {
    Sha256::digest(s.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// The `src` and `href` values of an HTML page.
fn references(html: &str) -> Vec<String> {
    let mut found = Vec::new();
    for attribute in ["src=\"", "href=\""] {
        let mut rest = html;
        while let Some(at) = rest.find(attribute) {
            rest = &rest[at + attribute.len()..];
            if let Some(end) = rest.find('"') {
                found.push(rest[..end].to_owned());
            }
        }
    }
    found
}

#[tokio::test]
async fn the_pages_and_everything_they_load_come_from_the_server_itself() {
    let app = spawn_app().await;
    for (path, marker) in [("/", "jbts-token"), ("/graphql", "jbts-token")] {
        let res = app
            .http_anonymous(Method::GET, path)
            .header("accept", "text/html")
            .send()
            .await
            .expect("page");
        assert_eq!(res.status(), 200, "{path}");
        let headers = res.headers().clone();
        assert!(
            headers["content-type"]
                .to_str()
                .unwrap()
                .starts_with("text/html"),
            "{path}"
        );
        let policy = headers["content-security-policy"].to_str().unwrap();
        assert!(policy.contains("default-src 'self'"), "{path}: {policy}");
        assert!(policy.contains("script-src 'self';"), "{path}: {policy}");
        assert_eq!(headers["x-content-type-options"], "nosniff");
        let html = res.text().await.expect("html");
        assert!(html.contains(marker), "{path} has no token field");
        let refs = references(&html);
        assert!(
            refs.iter().any(|r| r.ends_with(".js")),
            "{path} loads no script: {refs:?}"
        );
        for r in refs {
            if r.starts_with('#') {
                continue;
            }
            assert!(
                r.starts_with('/') && !r.starts_with("//"),
                "{path} refers to another origin: {r}"
            );
            let file = app
                .http_anonymous(Method::GET, &r)
                .send()
                .await
                .expect("file");
            assert_eq!(
                file.status(),
                200,
                "{path} refers to {r}, which is not served"
            );
            let etag = file.headers()["etag"].to_str().unwrap().to_owned();
            if r.ends_with(".js") {
                assert!(
                    file.headers()["content-type"]
                        .to_str()
                        .unwrap()
                        .contains("javascript"),
                    "{r}"
                );
            }
            let again = app
                .http_anonymous(Method::GET, &r)
                .header("if-none-match", &etag)
                .send()
                .await
                .expect("revalidation");
            assert_eq!(again.status(), 304, "{r}: the client's copy is current");
        }
    }
    // the licenses of the vendored packages are served beside them
    let license = app
        .http_anonymous(Method::GET, "/assets/vendor/LICENSE.graphiql")
        .send()
        .await
        .expect("license");
    assert_eq!(license.status(), 200);
    // what is not there, and the packaging of the vendored packages, is not served
    for missing in [
        "/assets/nothing.js",
        "/assets/package.json",
        "/assets/vendor.sh",
        "/assets/../Cargo.toml",
        "/assets/%2e%2e/Cargo.toml",
        // (sent as they are: a client's URL parser does not resolve encoded slashes)
        "/assets/..%2FCargo.toml",
        "/assets/%2E%2E%2FCargo.toml",
        "/assets/vendor%2F..%2F..%2Fsrc%2Flib.rs",
    ] {
        let res = app
            .http_anonymous(Method::GET, missing)
            .send()
            .await
            .expect("missing");
        assert_eq!(res.status(), 404, "{missing}");
    }
}

#[tokio::test]
async fn graphql_with_a_query_string_still_answers_json() {
    let app = spawn_app().await;
    let res = app
        .http(Method::GET, "/graphql?query=%7B__typename%7D")
        .send()
        .await
        .expect("get");
    assert_eq!(res.status(), 200);
    let body: Value = res.json().await.expect("json");
    assert_eq!(body["data"]["__typename"], "QueryRoot");
}

/// A GraphQL POST with the admin's token (and an `Origin`, as a browser sends it).
async fn send_from(
    app: &crate::helpers::app::TestApp,
    origin: Option<&str>,
    body: Value,
) -> reqwest::Response {
    let mut request = app.http(Method::POST, "/graphql").json(&body);
    if let Some(origin) = origin {
        request = request.header("origin", origin);
    }
    request.send().await.expect("request")
}

/// The JSON answer to a GraphQL POST with the admin's token.
async fn answer(app: &crate::helpers::app::TestApp, body: Value) -> Value {
    send_from(app, None, body).await.json().await.expect("json")
}

fn with_origins(origins: &[&str]) -> api::config::ServerOptions {
    api::config::ServerOptions {
        cors_origins: origins
            .iter()
            .map(|o| api::config::parse_origin(o).expect("origin"))
            .collect(),
        ..Default::default()
    }
}

async fn preflight(app: &crate::helpers::app::TestApp, origin: &str) -> reqwest::Response {
    app.http_anonymous(Method::OPTIONS, "/graphql")
        .header("origin", origin)
        .header("access-control-request-method", "POST")
        .header(
            "access-control-request-headers",
            "authorization, content-type",
        )
        .send()
        .await
        .expect("preflight")
}

/// Neither a preflight from `origin` nor a request from it gets a grant: the browser keeps
/// the answer from the page (the request itself is answered as any other).
async fn assert_not_granted(app: &crate::helpers::app::TestApp, origin: &str) {
    let res = preflight(app, origin).await;
    assert!(res.headers().get("access-control-allow-origin").is_none());
    let res = send_from(app, Some(origin), json!({ "query": "{ __typename }" })).await;
    assert_eq!(res.status(), 200);
    assert!(res.headers().get("access-control-allow-origin").is_none());
}

#[tokio::test]
async fn cors_is_off_by_default() {
    let app = spawn_app().await;
    assert_not_granted(&app, "http://localhost:3000").await;
}

#[tokio::test]
async fn an_allowed_origin_gets_its_preflight_and_answers_with_credentials() {
    let app = spawn_app_with(with_origins(&[
        "http://localhost:3000",
        "https://app.example.com/",
    ]))
    .await;
    let res = preflight(&app, "http://localhost:3000").await;
    assert!(res.status().is_success(), "{}", res.status());
    let h = res.headers();
    assert_eq!(h["access-control-allow-origin"], "http://localhost:3000");
    assert_eq!(h["access-control-allow-credentials"], "true");
    let allowed = h["access-control-allow-headers"]
        .to_str()
        .unwrap()
        .to_ascii_lowercase();
    assert!(
        allowed.contains("authorization") && allowed.contains("content-type"),
        "{allowed}"
    );
    assert!(
        h["access-control-allow-methods"]
            .to_str()
            .unwrap()
            .contains("POST")
    );
    assert!(
        h["vary"]
            .to_str()
            .unwrap()
            .to_ascii_lowercase()
            .contains("origin")
    );
    // the trailing slash of a configured origin is not part of it
    let res = preflight(&app, "https://app.example.com").await;
    assert_eq!(
        res.headers()["access-control-allow-origin"],
        "https://app.example.com"
    );

    // the request itself: its answer is readable by the page, rate headers included
    let res = send_from(
        &app,
        Some("http://localhost:3000"),
        json!({ "query": "{ serverInfo { version } }" }),
    )
    .await;
    assert_eq!(res.status(), 200);
    assert_eq!(
        res.headers()["access-control-allow-origin"],
        "http://localhost:3000"
    );
    let exposed = res.headers()["access-control-expose-headers"]
        .to_str()
        .unwrap()
        .to_ascii_lowercase();
    assert!(exposed.contains("x-ratelimit-remaining"), "{exposed}");

    // another origin: no grant, so the browser keeps the answer from the page
    assert_not_granted(&app, "http://evil.example").await;
}

#[tokio::test]
async fn a_wildcard_origin_never_comes_with_credentials() {
    let app = spawn_app_with(with_origins(&["*"])).await;
    let res = preflight(&app, "http://anywhere.example:8080").await;
    assert!(res.status().is_success());
    assert_eq!(res.headers()["access-control-allow-origin"], "*");
    assert!(
        res.headers()
            .get("access-control-allow-credentials")
            .is_none()
    );
}

#[test]
fn origins_are_checked_when_the_server_starts() {
    use clap::Parser;
    for bad in [
        "localhost:3000",
        "http://localhost:3000/app",
        "ftp://files.example.com",
        "http://user@host.example",
        "http://localhost:3000?x=1",
        "",
    ] {
        let parsed = api::config::Cli::try_parse_from(["jbtestsuite", "--cors-origin", bad]);
        let error = parsed.expect_err(bad).to_string();
        assert!(error.contains("is not a web origin"), "{bad}: {error}");
    }
    let cli = api::config::Cli::try_parse_from([
        "jbtestsuite",
        "--cors-origin",
        "http://localhost:3000",
        "--cors-origin",
        "HTTPS://App.Example.com",
        "--cors-origin",
        "http://localhost:80",
        "--cors-origin",
        "https://secure.example.com:443",
        "--cors-origin",
        "https://other.example.com:8443",
    ])
    .expect("origins");
    assert_eq!(
        cli.server_options().cors_origins,
        [
            "http://localhost:3000",
            "https://app.example.com",
            "http://localhost",
            "https://secure.example.com",
            "https://other.example.com:8443"
        ]
    );
}

fn persisted(hash: &str) -> Value {
    json!({ "persistedQuery": { "version": 1, "sha256Hash": hash } })
}

#[tokio::test]
async fn persisted_queries_follow_the_hash_miss_and_retry_sequence() {
    let app = spawn_app().await;
    let query = "query Version { serverInfo { version } }";
    let hash = sha256_hex(query);

    // 1. the hash alone: unknown yet
    let res = send_from(
        &app,
        None,
        json!({ "extensions": persisted(&hash), "operationName": "Version" }),
    )
    .await;
    assert_eq!(res.status(), 200);
    let body: Value = res.json().await.expect("json");
    assert_eq!(
        body["errors"][0]["message"], "PersistedQueryNotFound",
        "{body}"
    );
    assert_eq!(
        body["errors"][0]["extensions"]["code"],
        "PERSISTED_QUERY_NOT_FOUND"
    );
    assert!(body.get("data").is_none(), "{body}");

    // 2. the retry with the document: answered, and kept
    let body: Value = answer(
        &app,
        json!({ "query": query, "extensions": persisted(&hash) }),
    )
    .await;
    assert!(body["data"]["serverInfo"]["version"].is_string(), "{body}");

    // 3. the hash alone, over GET as Apollo's clients send queries
    let extensions = serde_json::to_string(&persisted(&hash)).unwrap();
    let res = app
        .http(Method::GET, "/graphql")
        .query(&[
            ("extensions", extensions.as_str()),
            ("operationName", "Version"),
        ])
        .send()
        .await
        .expect("hit");
    assert_eq!(res.status(), 200);
    let body: Value = res.json().await.expect("json");
    assert!(body["data"]["serverInfo"]["version"].is_string(), "{body}");
    // and over POST, in upper case
    let body: Value = answer(
        &app,
        json!({ "extensions": persisted(&hash.to_ascii_uppercase()) }),
    )
    .await;
    assert!(body["data"]["serverInfo"]["version"].is_string(), "{body}");
}

#[tokio::test]
async fn persisted_queries_refuse_wrong_hashes_and_keep_mutations_off_get() {
    let app = spawn_app().await;
    // a hash that is not the document's: refused, nothing kept under it
    let res = send_from(
        &app,
        None,
        json!({ "query": "{ __typename }", "extensions": persisted(&sha256_hex("other")) }),
    )
    .await;
    assert_eq!(res.status(), 400);
    let body: Value = res.json().await.expect("json");
    assert_eq!(
        body["errors"][0]["extensions"]["code"], "BAD_REQUEST",
        "{body}"
    );
    let res = send_from(
        &app,
        None,
        json!({ "extensions": persisted(&sha256_hex("other")) }),
    )
    .await;
    let body: Value = res.json().await.expect("json");
    assert_eq!(
        body["errors"][0]["extensions"]["code"],
        "PERSISTED_QUERY_NOT_FOUND"
    );

    for bad in [
        json!({ "persistedQuery": { "version": 2, "sha256Hash": sha256_hex("x") } }),
        json!({ "persistedQuery": { "version": 1, "sha256Hash": "abc" } }),
        json!({ "persistedQuery": "yes" }),
    ] {
        let res = send_from(&app, None, json!({ "extensions": bad })).await;
        assert_eq!(res.status(), 400, "{bad}");
        let body: Value = res.json().await.expect("json");
        assert_eq!(
            body["errors"][0]["extensions"]["code"], "BAD_REQUEST",
            "{body}"
        );
    }

    // a persisted mutation is still a mutation: not over GET
    let mutation =
        r#"mutation { createConfiguration(input: { name: "apq", configType: BROWSER }) { id } }"#;
    let hash = sha256_hex(mutation);
    let body: Value = answer(
        &app,
        json!({ "query": mutation, "extensions": persisted(&hash) }),
    )
    .await;
    assert!(body["errors"].is_null(), "{body}");
    let extensions = serde_json::to_string(&persisted(&hash)).unwrap();
    let res = app
        .http(Method::GET, "/graphql")
        .query(&[("extensions", extensions.as_str())])
        .send()
        .await
        .expect("get");
    assert_eq!(res.status(), 405);
}

#[tokio::test]
async fn the_persisted_query_cache_is_bounded_and_can_be_off() {
    let app = spawn_app_with(api::config::ServerOptions {
        persisted_queries: 2,
        ..Default::default()
    })
    .await;
    let documents = [
        "{ a: __typename }",
        "{ b: __typename }",
        "{ c: __typename }",
    ];
    for d in documents {
        let body: Value = answer(
            &app,
            json!({ "query": d, "extensions": persisted(&sha256_hex(d)) }),
        )
        .await;
        assert!(body["errors"].is_null(), "{body}");
    }
    let code_of = |body: &Value| body["errors"][0]["extensions"]["code"].clone();
    let mut codes = Vec::new();
    for d in documents {
        let body: Value = answer(&app, json!({ "extensions": persisted(&sha256_hex(d)) })).await;
        codes.push(code_of(&body));
    }
    // the least recently used went first
    assert_eq!(
        codes,
        [json!("PERSISTED_QUERY_NOT_FOUND"), Value::Null, Value::Null]
    );

    let off = spawn_app_with(api::config::ServerOptions {
        persisted_queries: 0,
        ..Default::default()
    })
    .await;
    let body: Value = answer(
        &off,
        json!({ "extensions": persisted(&sha256_hex("{ __typename }")) }),
    )
    .await;
    assert_eq!(code_of(&body), "PERSISTED_QUERY_NOT_SUPPORTED", "{body}");
}

/// The value of the series `name{labels}` in a scrape (0 when absent).
pub(crate) fn series(scrape: &str, name: &str, labels: &[(&str, &str)]) -> f64 {
    scrape
        .lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| l.rsplit_once(' '))
        .filter(|(key, _)| key.starts_with(&format!("{name}{{")) || *key == name)
        .filter(|(key, _)| {
            labels
                .iter()
                .all(|(k, v)| key.contains(&format!("{k}=\"{v}\"")))
        })
        .map(|(_, v)| v.parse::<f64>().unwrap_or(0.0))
        .sum()
}

pub(crate) async fn scrape(app: &crate::helpers::app::TestApp) -> String {
    let res = app
        .http_anonymous(Method::GET, "/metrics")
        .send()
        .await
        .expect("scrape");
    assert_eq!(res.status(), 200);
    assert!(
        res.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/plain")
    );
    res.text().await.expect("text")
}

#[tokio::test]
async fn metrics_count_operations_errors_sockets_and_the_live_path() {
    use crate::helpers::ws::WsClient;
    let app = spawn_app().await;
    // several servers share the process in tests: figures are compared before and after, on
    // series this test alone touches where it can
    let name = format!("MetricsProbe{}", uuid::Uuid::new_v4().simple());
    for _ in 0..3 {
        let body = app
            .gql(
                &format!("query {name} {{ serverInfo {{ version }} }}"),
                json!({}),
            )
            .await;
        assert!(body["errors"].is_null(), "{body}");
    }
    let bad = app
        .gql(&format!("query {name}Bad {{ noSuchField }}"), json!({}))
        .await;
    assert!(!bad["errors"].is_null());
    let before = scrape(&app).await;
    let ops = |s: &str, outcome: &str, n: &str| {
        series(
            s,
            "jbts_graphql_operations_total",
            &[("operation", n), ("type", "query"), ("outcome", outcome)],
        )
    };
    assert_eq!(ops(&before, "ok", &name), 3.0, "{before}");
    assert_eq!(
        series(
            &before,
            "jbts_graphql_operations_total",
            &[
                ("operation", &format!("{name}Bad")),
                ("outcome", "request_error")
            ]
        ),
        1.0
    );
    assert!(
        series(
            &before,
            "jbts_graphql_operation_duration_seconds_count",
            &[("operation", &name)]
        ) == 3.0,
        "no latency histogram: {before}"
    );
    assert!(
        before.contains("jbts_graphql_operation_duration_seconds_bucket{"),
        "buckets"
    );
    assert!(
        series(
            &before,
            "jbts_graphql_errors_total",
            &[("code", "BAD_USER_INPUT")]
        ) >= 1.0
    );
    assert!(
        series(
            &before,
            "jbts_http_requests_total",
            &[("route", "/graphql"), ("method", "POST"), ("status", "200")]
        ) >= 4.0
    );
    assert!(
        before.contains("jbts_db_pool_connections_in_use"),
        "pool gauge"
    );
    assert!(
        before.contains("# HELP jbts_graphql_operations_total GraphQL operations executed"),
        "help lines"
    );
    assert!(
        before.contains("jbts_db_pool_connections_idle"),
        "pool gauge"
    );

    // an unauthenticated request: its code counted at the HTTP layer
    let unauthenticated_before = series(
        &before,
        "jbts_http_errors_total",
        &[("code", "UNAUTHENTICATED")],
    );
    let res = app
        .http_anonymous(Method::POST, "/graphql")
        .json(&json!({ "query": "{ serverInfo { version } }" }))
        .send()
        .await
        .expect("anonymous");
    assert_eq!(res.status(), 401);

    // a socket with a subscription, and a change it is told about
    let run = crate::helpers::runs::run_of(&app, 2, 1).await;
    let mut ws = WsClient::connect(app.addr, &app.admin_token).await;
    ws.subscribe(
        "p",
        "subscription($id: UUID!) { testRunProgress(runId: $id) { runId status } }",
        json!({ "id": run.id }),
    )
    .await;
    ws.next_data("p").await.expect("first state");
    let during = scrape(&app).await;
    assert!(
        series(&during, "jbts_websockets_open", &[]) >= 1.0,
        "{during}"
    );
    assert!(
        series(&during, "jbts_subscriptions_open", &[]) >= 1.0,
        "{during}"
    );
    assert!(series(&during, "jbts_websocket_messages_sent_total", &[]) >= 2.0);
    assert_eq!(series(&during, "jbts_live_listener_connected", &[]), 1.0);
    assert!(
        series(
            &during,
            "jbts_http_errors_total",
            &[("code", "UNAUTHENTICATED")]
        ) > unauthenticated_before
    );
    let notifications = series(&during, "jbts_live_notifications_total", &[]);
    let events = series(&during, "jbts_live_events_total", &[]);
    crate::helpers::runs::cancel(&app, run.id).await;
    ws.until("p", |p| {
        p["data"]["testRunProgress"]["status"] == "CANCELLED"
    })
    .await;
    let after = scrape(&app).await;
    assert!(series(&after, "jbts_live_notifications_total", &[]) > notifications);
    assert!(series(&after, "jbts_live_events_total", &[]) > events);
    assert!(
        series(
            &after,
            "jbts_graphql_operations_total",
            &[("type", "subscription")]
        ) >= 1.0,
        "subscriptions are counted as operations"
    );

    // the listener dropped: reconnected and resynchronised, and counted
    let reconnects = series(&after, "jbts_live_listener_reconnects_total", &[]);
    let sql = format!(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{}' AND query ILIKE 'LISTEN%'",
        app.db.name
    );
    let pool = crate::helpers::db::admin_pool().await;
    crate::helpers::q::query(sql)
        .execute(&pool)
        .await
        .expect("terminate");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    loop {
        let now = scrape(&app).await;
        if series(&now, "jbts_live_listener_reconnects_total", &[]) > reconnects
            && series(&now, "jbts_live_resyncs_total", &[("reason", "reconnect")]) >= 1.0
        {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no reconnect counted: {now}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn metrics_count_imports_and_their_results() {
    let app = spawn_app().await;
    let before = scrape(&app).await;
    let report = r#"<?xml version="1.0" encoding="UTF-8"?>
<testsuite name="metrics" tests="3">
  <testcase classname="metrics.Probe" name="a" time="0.1"/>
  <testcase classname="metrics.Probe" name="b" time="0.1"><failure message="no">boom</failure></testcase>
  <testcase classname="metrics.Probe" name="c" time="0.1"/>
</testsuite>"#;
    let res = app
        .http(Method::POST, "/api/v1/import?finish=true")
        .header("content-type", "application/xml")
        .body(report)
        .send()
        .await
        .expect("import");
    assert!(res.status().is_success(), "{}", res.status());
    let after = scrape(&app).await;
    assert!(
        series(&after, "jbts_imports_total", &[("outcome", "ok")])
            > series(&before, "jbts_imports_total", &[("outcome", "ok")])
    );
    assert!(
        series(
            &after,
            "jbts_import_results_total",
            &[("result", "accepted")]
        ) >= series(
            &before,
            "jbts_import_results_total",
            &[("result", "accepted")]
        ) + 3.0
    );
}

#[tokio::test]
async fn persisted_queries_keep_only_documents_that_parse_from_admitted_senders() {
    let app = spawn_app().await;
    // a document that does not parse: answered as such, not kept
    let broken = "{ serverInfo {";
    let body = answer(
        &app,
        json!({ "query": broken, "extensions": persisted(&sha256_hex(broken)) }),
    )
    .await;
    assert_eq!(
        body["errors"][0]["extensions"]["code"], "GRAPHQL_PARSE_FAILED",
        "{body}"
    );
    let body = answer(
        &app,
        json!({ "extensions": persisted(&sha256_hex(broken)) }),
    )
    .await;
    assert_eq!(
        body["errors"][0]["extensions"]["code"],
        "PERSISTED_QUERY_NOT_FOUND"
    );

    // a sender without a token: refused, its document not kept
    let query = "query Anonymous { serverInfo { version } }";
    let res = app
        .http_anonymous(Method::POST, "/graphql")
        .json(&json!({ "query": query, "extensions": persisted(&sha256_hex(query)) }))
        .send()
        .await
        .expect("anonymous");
    assert_eq!(res.status(), 401);
    let body = answer(&app, json!({ "extensions": persisted(&sha256_hex(query)) })).await;
    assert_eq!(
        body["errors"][0]["extensions"]["code"],
        "PERSISTED_QUERY_NOT_FOUND"
    );

    // a document past the size bound: refused by the bound, never hashed or kept
    let long = format!(
        "{{ __typename }}{}",
        " ".repeat(api::limits::MAX_QUERY_BYTES)
    );
    let res = send_from(
        &app,
        None,
        json!({ "query": long, "extensions": persisted(&sha256_hex(&long)) }),
    )
    .await;
    assert_eq!(res.status(), 400);
    let body: Value = res.json().await.expect("json");
    assert_eq!(
        body["errors"][0]["extensions"]["code"], "BAD_REQUEST",
        "{body}"
    );
}

#[tokio::test]
async fn metrics_name_only_operations_the_document_defines_sent_with_a_token() {
    let app = spawn_app().await;
    let name = format!("Anonymous{}", uuid::Uuid::new_v4().simple());
    // introspection needs no token: counted, but not under a name its sender chose
    let res = app
        .http_anonymous(Method::POST, "/graphql")
        .json(&json!({ "query": format!("query {name} {{ __typename }}") }))
        .send()
        .await
        .expect("introspection");
    assert_eq!(res.status(), 200);
    // a name the document does not define is not counted as a name either
    let other = format!("Undefined{}", uuid::Uuid::new_v4().simple());
    let body = answer(
        &app,
        json!({ "query": "query Defined { __typename }", "operationName": other }),
    )
    .await;
    assert!(!body["errors"].is_null(), "{body}");
    let scrape = scrape(&app).await;
    assert!(
        !scrape.contains(&name),
        "an anonymous caller's name is counted"
    );
    assert!(!scrape.contains(&other), "an undefined name is counted");
    assert!(
        series(
            &scrape,
            "jbts_graphql_operations_total",
            &[("operation", "unauthenticated")]
        ) >= 1.0
    );
}
