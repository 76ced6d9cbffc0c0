//! What a client sends can neither crash nor stall the server: documents, variables and
//! inputs have bounds, one top-level field's failure stays its own, requests and statements
//! have time limits, tokens and addresses have rate limits.

use std::time::{Duration, Instant};

use reqwest::header::HeaderMap;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use uuid::Uuid;

use crate::helpers::catalog::{assert_bad_input, assert_code, data, warm_up};
use crate::helpers::q::query;
use crate::helpers::{TestApp, spawn_app, spawn_app_with};

/// POSTs `body` (raw JSON text) to /graphql, with `token` when given.
async fn post_raw(
    app: &TestApp,
    body: String,
    token: Option<&str>,
) -> (StatusCode, HeaderMap, Value) {
    let request = match token {
        Some(t) => app.http_as(t, Method::POST, "/graphql"),
        None => app.http_anonymous(Method::POST, "/graphql"),
    };
    let res = request
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await
        .expect("sending the request");
    let status = res.status();
    let headers = res.headers().clone();
    let body = res.json().await.expect("a JSON body");
    (status, headers, body)
}

/// POSTs a query without a token.
async fn post_anonymous(app: &TestApp, query: &str) -> (StatusCode, Value) {
    let (status, _, body) = post_raw(app, json!({ "query": query }).to_string(), None).await;
    (status, body)
}

/// The server answers an ordinary request.
async fn assert_serving(app: &TestApp) {
    let body = app.gql("{ viewer { userId } }", json!({})).await;
    assert_eq!(data(&body)["viewer"]["userId"], "test-admin");
}

fn nested(open: &str, close: &str, n: usize, inner: &str) -> String {
    format!("{}{inner}{}", open.repeat(n), close.repeat(n))
}

#[tokio::test]
async fn object_literal_nested_5000_deep_without_a_token_then_400_and_the_server_serves_on() {
    let app = spawn_app().await;
    let q = format!(
        "{{testCases(filter:{{metadataContains:{}}}){{totalCount}}}}",
        nested("{a:", "}", 5_000, "1")
    );
    let (status, body) = post_anonymous(&app, &q).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert_code(&body, "BAD_REQUEST");
    assert_serving(&app).await;
}

#[tokio::test]
async fn list_literal_nested_5000_deep_then_400_and_the_server_serves_on() {
    let app = spawn_app().await;
    let q = format!(
        "{{testCases(filter:{{tagsAny:{}}}){{totalCount}}}}",
        nested("[", "]", 5_000, "\"a\"")
    );
    let (status, body) = post_anonymous(&app, &q).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert_code(&body, "BAD_REQUEST");
    assert_serving(&app).await;
}

#[tokio::test]
async fn variables_nested_5000_deep_then_400_and_the_server_serves_on() {
    let app = spawn_app().await;
    let deep = nested("{\"a\":", "}", 5_000, "1");
    let body = format!(
        "{{\"query\":\"query($m: JSON) {{ testCases(filter: {{metadataContains: $m}}) {{ totalCount }} }}\",\"variables\":{{\"m\":{deep}}}}}"
    );
    let (status, _, body) = post_raw(&app, body, Some(&app.admin_token)).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert_code(&body, "BAD_REQUEST");
    assert_serving(&app).await;
}

#[tokio::test]
async fn selections_nested_5000_deep_then_400_and_the_server_serves_on() {
    let app = spawn_app().await;
    let q = format!("{{ viewer {} }}", nested("{ a ", "}", 5_000, "b"));
    let (status, body) = post_anonymous(&app, &q).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert_code(&body, "BAD_REQUEST");
    assert_serving(&app).await;
}

#[tokio::test]
async fn query_nested_5000_deep_over_get_then_400_and_the_server_serves_on() {
    let app = spawn_app().await;
    let q = format!(
        "{{testCases(filter:{{metadataContains:{}}}){{totalCount}}}}",
        nested("{a:", "}", 5_000, "1")
    );
    let res = app
        .http(Method::GET, "/graphql")
        .query(&[("query", q)])
        .send()
        .await
        .expect("GET");
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    let body: Value = res.json().await.expect("json");
    assert_code(&body, "BAD_REQUEST");
    assert_serving(&app).await;
}

#[tokio::test]
async fn a_chain_of_5000_fragments_then_400_and_the_server_serves_on() {
    let app = spawn_app().await;
    let mut q = String::from("{ ...F0 }\n");
    for i in 0..5_000 {
        q.push_str(&format!("fragment F{i} on QueryRoot {{ ...F{} }}\n", i + 1));
    }
    q.push_str("fragment F5000 on QueryRoot { __typename }\n");
    let (status, body) = post_anonymous(&app, &q).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert_code(&body, "BAD_REQUEST");
    assert_serving(&app).await;
}

#[tokio::test]
async fn fragments_spread_twice_forty_levels_deep_then_refused_at_once() {
    // a request error: 200 for a client that accepts only application/json, as GraphQL over
    // HTTP says (400 for application/graphql-response+json)
    let app = spawn_app().await;
    let mut q = String::from("{ ...F0 }\n");
    for i in 0..40 {
        q.push_str(&format!(
            "fragment F{i} on QueryRoot {{ ...F{} ...F{} }}\n",
            i + 1,
            i + 1
        ));
    }
    q.push_str("fragment F40 on QueryRoot { __typename }\n");
    let started = Instant::now();
    let (status, body) = post_anonymous(&app, &q).await;
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "answered in {:?}",
        started.elapsed()
    );
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_code(&body, "BAD_USER_INPUT");
    assert!(body.get("data").is_none(), "{body}");
    assert_serving(&app).await;
}

#[tokio::test]
async fn aliases_of_typename_beyond_the_field_limit_without_a_token_then_refused() {
    let app = spawn_app().await;
    // the reported 200,000 aliases: the text alone is over its bound
    let many: String = (0..200_000).map(|i| format!("a{i}:__typename ")).collect();
    let (status, body) = post_anonymous(&app, &format!("{{ {many} }}")).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert_code(&body, "BAD_REQUEST");
    // within the text bound, over the field bound
    let fields = api::limits::MAX_FIELDS as usize + 1;
    let some: String = (0..fields).map(|i| format!("a{i}:__typename ")).collect();
    let res = app
        .http_anonymous(Method::POST, "/graphql")
        .header("accept", "application/graphql-response+json")
        .json(&json!({ "query": format!("{{ {some} }}") }))
        .send()
        .await
        .expect("request");
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    let body: Value = res.json().await.expect("json");
    assert_code(&body, "BAD_USER_INPUT");
}

/// The standard introspection query of GraphQL tools (GraphiQL, code generators): the whole
/// schema, types seven `ofType` levels deep.
fn introspection_query() -> String {
    let mut type_ref = String::from("kind name");
    for _ in 0..7 {
        type_ref = format!("kind name ofType {{ {type_ref} }}");
    }
    format!(
        "query IntrospectionQuery {{ __schema {{
            queryType {{ name }} mutationType {{ name }} subscriptionType {{ name }}
            types {{ ...FullType }}
            directives {{ name description locations args {{ ...InputValue }} }}
          }} }}
        fragment FullType on __Type {{
          kind name description
          fields(includeDeprecated: true) {{
            name description args {{ ...InputValue }} type {{ ...TypeRef }}
            isDeprecated deprecationReason
          }}
          inputFields {{ ...InputValue }}
          interfaces {{ ...TypeRef }}
          enumValues(includeDeprecated: true) {{ name description isDeprecated deprecationReason }}
          possibleTypes {{ ...TypeRef }}
        }}
        fragment InputValue on __InputValue {{ name description type {{ ...TypeRef }} defaultValue }}
        fragment TypeRef on __Type {{ {type_ref} }}"
    )
}

#[tokio::test]
async fn the_tools_introspection_query_without_a_token_then_answered() {
    let app = spawn_app().await;
    let (status, body) = post_anonymous(&app, &introspection_query()).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(
        data(&body)["__schema"]["types"]
            .as_array()
            .is_some_and(|t| t.len() > 50)
    );
}

#[tokio::test]
async fn the_schema_asked_for_thirty_times_then_refused() {
    let app = spawn_app().await;
    let aliases: String = (0..30)
        .map(|i| format!("s{i}: __schema {{ types {{ name fields {{ name }} }} }} "))
        .collect();
    let (status, body) = post_anonymous(&app, &format!("{{ {aliases} }}")).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_code(&body, "BAD_USER_INPUT");
    assert!(body.get("data").is_none(), "{body}");
}

const SEARCH: &str = "query($s: String) { testCases(filter: { search: $s }) { totalCount } }";

#[tokio::test]
async fn a_5_megabyte_search_then_bad_user_input_at_once() {
    let app = spawn_app().await;
    let started = Instant::now();
    let body = app
        .gql(SEARCH, json!({ "s": "word ".repeat(1_000_000) }))
        .await;
    assert_code(&body, "BAD_USER_INPUT");
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "took {:?}",
        started.elapsed()
    );
    let body = app
        .gql(
            SEARCH,
            json!({ "s": "w".repeat(api::input::SEARCH_MAX + 1) }),
        )
        .await;
    assert_bad_input(&body, "filter.search");
    let body = app
        .gql(
            SEARCH,
            json!({ "s": "word ".repeat(api::input::SEARCH_MAX / 5) }),
        )
        .await;
    assert_eq!(data(&body)["testCases"]["totalCount"], 0);
}

#[tokio::test]
async fn descriptions_beyond_their_bound_then_bad_user_input_and_nothing_written() {
    let app = spawn_app().await;
    let create = "mutation($i: CreateTestCaseInput!) { createTestCase(input: $i) { id } }";
    let body = app
        .gql(
            create,
            json!({ "i": { "name": "huge", "description": "x".repeat(20 << 20) } }),
        )
        .await;
    assert_code(&body, "BAD_USER_INPUT");
    let body = app
        .gql(
            create,
            json!({ "i": { "name": "long", "description": "é".repeat(api::input::DESCRIPTION_MAX + 1) } }),
        )
        .await;
    assert_bad_input(&body, "description");
    let pool = app.db.pool().await;
    let cases: i64 = crate::helpers::q::query_scalar("SELECT count(*) FROM test_cases")
        .fetch_one(&pool)
        .await
        .expect("count");
    assert_eq!(cases, 0);
    let body = app
        .gql(
            create,
            json!({ "i": { "name": "fits", "description": "é".repeat(api::input::DESCRIPTION_MAX) } }),
        )
        .await;
    data(&body);
}

#[tokio::test]
async fn days_out_of_range_then_bad_user_input_naming_days() {
    let app = spawn_app().await;
    for days in [-5, 0, 2_147_483_647] {
        let body = app
            .gql(
                "query($d: Int!) { mostFailingTestCases(days: $d) { failures } }",
                json!({ "d": days }),
            )
            .await;
        assert_bad_input(&body, "days");
        let body = app
            .gql(
                "query($d: Int!) { flakiestTestCases(days: $d) { testCase { id } } }",
                json!({ "d": days }),
            )
            .await;
        assert_bad_input(&body, "days");
    }
}

#[tokio::test]
async fn two_fields_failing_then_each_answers_its_own_coded_error() {
    let app = spawn_app().await;
    let body = app
        .gql(
            "{ flakiestTestCases(days: 2147483647) { testCase { id } }
               mostFailingTestCases(days: 2147483647) { failures } }",
            json!({}),
        )
        .await;
    let errors = body["errors"].as_array().expect("errors");
    assert_eq!(errors.len(), 2, "{body}");
    for e in errors {
        assert_eq!(e["extensions"]["code"], "BAD_USER_INPUT", "{body}");
        assert_eq!(e["extensions"]["field"], "days", "{body}");
    }
}

/// Seeds `n` failed executions of one case with distinct error messages, straight into the
/// tables (triggers off), completed `age_days` ago: enough for the failure grouping to take
/// far longer than a few milliseconds.
async fn seed_failures(app: &TestApp, n: i64, age_days: i64) {
    let case = Uuid::new_v4();
    let pool = app.db.pool().await;
    query(format!(
        "INSERT INTO test_cases(id, name, author, status) VALUES ('{case}', 'slow', 'test-admin', 'active')"
    ))
    .execute(&pool)
    .await
    .expect("case");
    let mut conn = pool.acquire().await.expect("connection");
    query("SET session_replication_role = replica")
        .execute(&mut *conn)
        .await
        .expect("triggers off");
    let run = Uuid::new_v4();
    query(format!(
        "INSERT INTO test_runs(id, name, status, started_at, completed_at, total_tests, failed_tests)
         VALUES ('{run}', 'seed', 'failed', now() - interval '{age_days} days', now() - interval '{age_days} days', 1, 1)"
    ))
    .execute(&mut *conn)
    .await
    .expect("run");
    query(format!(
        "INSERT INTO test_executions(test_case_id, test_run_id, status, started_at, completed_at,
                                     duration_seconds, error_message, retry_attempt)
         SELECT '{case}', '{run}', 'failed', now() - interval '{age_days} days', now() - interval '{age_days} days',
                1, 'Timeout after ' || i || ' ms waiting for #button-' || i || ' at /srv/app/page' || i || '.js:' || i, i
         FROM generate_series(1, {n}) i"
    ))
    .execute(&mut *conn)
    .await
    .expect("executions");
}

/// A field grouping the seeded failures on demand (`since` is not answered by the kept failure
/// groups, which know nothing of failures written with triggers off).
fn slow_field() -> String {
    let since = chrono::Utc::now() - chrono::Duration::days(2);
    format!(
        "failureGroups(limit: 500, filter: {{ since: \"{}\" }}) {{ count }}",
        since.to_rfc3339()
    )
}

#[tokio::test]
async fn a_field_timing_out_beside_valid_fields_then_only_it_fails() {
    let app = spawn_app_with(api::config::ServerOptions {
        statements: api::config::StatementLimits {
            statement_timeout: Duration::from_millis(20),
        },
        ..Default::default()
    })
    .await;
    seed_failures(&app, 50_000, 1).await;
    let slow = slow_field();
    let body = app
        .gql(
            &format!(
                "{{ before: viewer {{ userId }} slow: {slow}
                    after: testCases(first: 5) {{ totalCount edges {{ node {{ name }} }} }} }}"
            ),
            json!({}),
        )
        .await;
    let errors = body["errors"].as_array().expect("errors");
    assert_eq!(errors.len(), 1, "{body}");
    assert_eq!(errors[0]["extensions"]["code"], "TIMEOUT", "{body}");
    assert_eq!(errors[0]["path"], json!(["slow"]), "{body}");
    assert_eq!(body["data"]["before"]["userId"], "test-admin", "{body}");
    assert_eq!(body["data"]["after"]["totalCount"], 1, "{body}");
    assert_eq!(
        body["data"]["after"]["edges"][0]["node"]["name"], "slow",
        "{body}"
    );
}

#[tokio::test]
async fn two_fields_timing_out_then_both_answer_timeout_and_a_third_answers() {
    let app = spawn_app_with(api::config::ServerOptions {
        statements: api::config::StatementLimits {
            statement_timeout: Duration::from_millis(20),
        },
        ..Default::default()
    })
    .await;
    seed_failures(&app, 50_000, 1).await;
    let slow = slow_field();
    let body = app
        .gql(
            &format!("{{ a: {slow} b: {slow} c: testCases {{ totalCount }} }}"),
            json!({}),
        )
        .await;
    let errors = body["errors"].as_array().expect("errors");
    assert_eq!(errors.len(), 2, "{body}");
    assert!(
        errors.iter().all(|e| e["extensions"]["code"] == "TIMEOUT"),
        "{body}"
    );
    assert_eq!(body["data"]["c"]["totalCount"], 1, "{body}");
}

#[tokio::test]
async fn a_mutation_failing_beside_one_that_succeeds_then_the_success_is_kept() {
    let app = spawn_app().await;
    let body = app
        .gql(
            "mutation { a: createTestCase(input: { name: \"kept\" }) { id }
                        b: createTestCase(input: { name: \"kept\" }) { id } }",
            json!({}),
        )
        .await;
    assert_code(&body, "CONFLICT");
    assert!(body["data"]["a"]["id"].is_string(), "{body}");
    let pool = app.db.pool().await;
    let kept: i64 =
        crate::helpers::q::query_scalar("SELECT count(*) FROM test_cases WHERE name = 'kept'")
            .fetch_one(&pool)
            .await
            .expect("count");
    assert_eq!(kept, 1);
}

#[tokio::test]
async fn a_request_longer_than_the_request_timeout_then_504_timeout_and_the_server_serves_on() {
    let app = spawn_app_with(api::config::ServerOptions {
        request_timeout: Duration::from_millis(50),
        ..Default::default()
    })
    .await;
    seed_failures(&app, 50_000, 1).await;
    let slow = slow_field();
    let res = app
        .http(Method::POST, "/graphql")
        .json(&json!({ "query": format!("{{ {slow} }}") }))
        .send()
        .await
        .expect("request");
    assert_eq!(res.status(), StatusCode::GATEWAY_TIMEOUT);
    let body: Value = res.json().await.expect("json");
    assert_code(&body, "TIMEOUT");
    assert_serving(&app).await;
}

#[tokio::test]
async fn a_request_timing_out_then_its_statement_is_cancelled_in_postgresql() {
    let app = spawn_app_with(api::config::ServerOptions {
        request_timeout: Duration::from_millis(300),
        ..Default::default()
    })
    .await;
    warm_up(&app).await;
    let pool = app.db.pool().await;
    // a lock no read of the catalogue gets past: the request's statement waits on it
    let mut lock = pool.begin().await.expect("begin");
    sqlx::query("LOCK TABLE test_cases IN ACCESS EXCLUSIVE MODE")
        .execute(&mut *lock)
        .await
        .expect("lock");
    let res = app
        .http(Method::POST, "/graphql")
        .json(&json!({ "query": "{ testCases(first: 1) { totalCount } }" }))
        .send()
        .await
        .expect("request");
    assert_eq!(res.status(), StatusCode::GATEWAY_TIMEOUT);
    // the statement is gone from PostgreSQL, not left waiting for the lock
    let waiting = || async {
        sqlx::query_scalar::<_, i64>(
            "SELECT count(*) FROM pg_stat_activity
             WHERE datname = current_database() AND wait_event_type = 'Lock'",
        )
        .fetch_one(&pool)
        .await
        .expect("pg_stat_activity")
    };
    crate::helpers::eventually(
        "no statement of the timed-out request to wait on the lock",
        Duration::from_secs(5),
        || async { waiting().await == 0 },
    )
    .await;
    lock.rollback().await.expect("rollback");
    assert_serving(&app).await;
}

#[tokio::test]
async fn archival_runs_under_the_maintenance_limit_not_the_requests_one() {
    let app = spawn_app_with(api::config::ServerOptions {
        statements: api::config::StatementLimits {
            statement_timeout: Duration::from_millis(1),
        },
        ..Default::default()
    })
    .await;
    seed_failures(&app, 5_000, 100).await;
    let body = app
        .gql(
            "mutation { archiveExecutions(olderThanDays: 90) { executions } }",
            json!({}),
        )
        .await;
    assert_eq!(data(&body)["archiveExecutions"]["executions"], 5_000);
}

fn header(headers: &HeaderMap, name: &str) -> u64 {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("header {name} in {headers:?}"))
}

#[tokio::test]
async fn a_token_spending_its_quota_then_429_with_the_rate_headers() {
    let app = spawn_app_with(api::config::ServerOptions {
        rate_limits: api::rate_limit::RateLimits {
            per_token: 3,
            per_address: 1_000,
            window: Duration::from_secs(3_600),
        },
        ..Default::default()
    })
    .await;
    let ask =
        json!({ "query": "{ rateLimit { limit remaining used reset resource } }" }).to_string();
    for used in 1..=3u64 {
        let (status, headers, body) = post_raw(&app, ask.clone(), Some(&app.admin_token)).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(header(&headers, "x-ratelimit-limit"), 3);
        assert_eq!(header(&headers, "x-ratelimit-used"), used);
        assert_eq!(header(&headers, "x-ratelimit-remaining"), 3 - used);
        let reset = header(&headers, "x-ratelimit-reset");
        let quota = &data(&body)["rateLimit"];
        assert_eq!(quota["used"], used);
        assert_eq!(quota["remaining"], 3 - used);
        assert_eq!(quota["reset"], reset);
        assert_eq!(quota["resource"], "token");
    }
    let (status, headers, body) = post_raw(&app, ask.clone(), Some(&app.admin_token)).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "{body}");
    assert_code(&body, "RATE_LIMITED");
    assert_eq!(header(&headers, "x-ratelimit-remaining"), 0);
    assert!(header(&headers, "retry-after") <= 3_600);
    // another token has a quota of its own
    let other = app.token("other", &[api::auth::Role::Member]).await;
    let (status, _, body) = post_raw(&app, ask, Some(&other)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
}

#[tokio::test]
async fn an_address_spending_its_quota_then_429_even_without_a_token() {
    let app = spawn_app_with(api::config::ServerOptions {
        rate_limits: api::rate_limit::RateLimits {
            per_token: 1_000,
            per_address: 2,
            window: Duration::from_secs(3_600),
        },
        ..Default::default()
    })
    .await;
    for _ in 0..2 {
        let (status, body) = post_anonymous(&app, "{ __typename }").await;
        assert_eq!(status, StatusCode::OK, "{body}");
    }
    let (status, headers, body) =
        post_raw(&app, json!({ "query": "{ __typename }" }).to_string(), None).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "{body}");
    assert_code(&body, "RATE_LIMITED");
    assert_eq!(header(&headers, "x-ratelimit-limit"), 2);
}

#[tokio::test]
async fn a_body_still_being_sent_past_the_address_quota_then_429_not_a_broken_connection() {
    let app = spawn_app_with(api::config::ServerOptions {
        rate_limits: api::rate_limit::RateLimits {
            per_token: 1_000,
            per_address: 1,
            window: Duration::from_secs(3_600),
        },
        ..Default::default()
    })
    .await;
    let (status, body) = post_anonymous(&app, "{ __typename }").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, body) = crate::helpers::app::post_slowly(
        app.addr,
        &[("content-type", "application/json")],
        4_000_000,
    )
    .await
    .expect("an answer, not a broken connection");
    assert!(status.contains(" 429 "), "{status}: {body}");
    assert!(body.contains("RATE_LIMITED"), "{body}");
}

#[tokio::test]
async fn subscribes_beyond_the_tokens_quota_then_rate_limited_errors_on_an_open_socket() {
    let app = spawn_app_with(api::config::ServerOptions {
        rate_limits: api::rate_limit::RateLimits {
            per_token: 2,
            per_address: 1_000,
            window: Duration::from_secs(3_600),
        },
        ..Default::default()
    })
    .await;
    let mut ws = crate::helpers::ws::WsClient::connect(app.addr, &app.admin_token).await;
    for id in ["1", "2", "3"] {
        ws.subscribe(id, "subscription { testRunsUpdates { runId } }", json!({}))
            .await;
    }
    let refused = loop {
        let m = ws
            .next_message()
            .await
            .expect("a message for subscription 3");
        if m["id"] == "3" {
            break m;
        }
    };
    assert_eq!(refused["type"], "error", "{refused}");
    assert_eq!(
        refused["payload"][0]["extensions"]["code"], "RATE_LIMITED",
        "{refused}"
    );
}

#[tokio::test]
async fn a_mutation_whose_nested_read_fails_then_its_write_is_undone_and_it_says_so() {
    let app = spawn_app().await;
    // the nested statistics fail in the database (a NUL cannot be stored in JSON): the
    // transaction the mutation wrote in is aborted, so the write cannot be kept
    let body = app
        .gql(
            "mutation { createTestCase(input: { name: \"not kept\" }) { id
                stats(window: { runConfiguration: { k: \"\\u0000\" } }) { totalExecutions } } }",
            json!({}),
        )
        .await;
    let errors = body["errors"].as_array().expect("errors");
    assert!(
        errors.iter().any(|e| e["extensions"]["code"] == "CONFLICT"),
        "{body}"
    );
    assert!(body["data"]["createTestCase"].is_null(), "{body}");
    let pool = app.db.pool().await;
    let cases: i64 = crate::helpers::q::query_scalar("SELECT count(*) FROM test_cases")
        .fetch_one(&pool)
        .await
        .expect("count");
    assert_eq!(cases, 0, "the answer and the database agree");
    assert_serving(&app).await;
}
