//! The catalogue over GraphQL over HTTP: media types, status codes of rejected requests (a
//! GraphQL request error is 200 in `application/json`, 400 in
//! `application/graphql-response+json`, and has no `data`; a request that is not well-formed is
//! 4xx in both), GET for queries only, the body size limit, and the depth and complexity limits.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::helpers::app::TestApp;
use crate::helpers::catalog::{create_case, create_suite, data, first_error, warm_up};
use crate::helpers::spawn_app;

const GRAPHQL_RESPONSE_JSON: &str = "application/graphql-response+json";

async fn send(req: reqwest::RequestBuilder) -> (StatusCode, String, Value) {
    let res = req
        .send()
        .await
        .expect("a response, not a dropped connection");
    let status = res.status();
    let content_type = res
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned();
    let body = res.json().await.expect("a JSON body");
    (status, content_type, body)
}

fn code(body: &Value) -> &str {
    first_error(body)["extensions"]["code"]
        .as_str()
        .unwrap_or_default()
}

fn post_json(app: &TestApp, body: Value) -> reqwest::RequestBuilder {
    app.http(Method::POST, "/graphql").json(&body)
}

/// A POST of `body` from a client that accepts only `accept`.
fn post_accepting(app: &TestApp, accept: &str, body: Value) -> reqwest::RequestBuilder {
    post_json(app, body).header("accept", accept)
}

/// Asserts the response is a GraphQL request error: errors and no `data` entry at all.
fn assert_no_data(body: &Value) {
    assert!(
        body.get("data").is_none(),
        "a request error has no data entry: {body}"
    );
}

/// Documents that do not parse.
const UNPARSABLE: [&str; 5] = [
    "{ testCases { ",
    "query {",
    "mutation { createTestCase(input: { name: }) { id } }",
    "{ 8f31403dfe404bccbb0e835f2629c6a7 }",
    "",
];

/// Documents that parse but do not validate.
const INVALID: [&str; 4] = [
    "{ testCases { edges { node { unknownField } } } }",
    "{ testCase { id } }",
    "{ testCases }",
    "query($x: Int) { testCases { totalCount } }",
];

#[tokio::test]
async fn post_accepting_graphql_response_json_then_that_media_type() {
    let app = spawn_app().await;
    let (status, content_type, body) = send(
        post_json(&app, json!({ "query": "{ testCases { totalCount } }" })).header(
            "accept",
            format!("{GRAPHQL_RESPONSE_JSON}, application/json;q=0.9"),
        ),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        content_type.starts_with(GRAPHQL_RESPONSE_JSON),
        "{content_type}"
    );
    assert_eq!(data(&body)["testCases"]["totalCount"], 0);
}

#[tokio::test]
async fn post_accepting_only_json_then_application_json() {
    let app = spawn_app().await;
    let (status, content_type, _) = send(
        post_json(&app, json!({ "query": "{ testCases { totalCount } }" }))
            .header("accept", "application/json"),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        content_type.starts_with("application/json"),
        "{content_type}"
    );
}

#[tokio::test]
async fn rejected_request_accepting_graphql_response_json_then_that_media_type_and_400() {
    let app = spawn_app().await;
    let (status, content_type, body) = send(post_accepting(
        &app,
        GRAPHQL_RESPONSE_JSON,
        json!({ "query": "{ testCases { nope } }" }),
    ))
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(
        content_type.starts_with(GRAPHQL_RESPONSE_JSON),
        "{content_type}"
    );
    assert_eq!(code(&body), "BAD_USER_INPUT");
    assert_no_data(&body);
}

#[tokio::test]
async fn document_that_does_not_parse_when_accepting_only_json_then_200_with_a_code_and_no_data() {
    let app = spawn_app().await;
    for query in UNPARSABLE {
        let (status, content_type, body) = send(post_accepting(
            &app,
            "application/json",
            json!({ "query": query }),
        ))
        .await;
        assert_eq!(status, StatusCode::OK, "{query}: {body}");
        assert!(
            content_type.starts_with("application/json"),
            "{content_type}"
        );
        assert_eq!(code(&body), "GRAPHQL_PARSE_FAILED", "{query}: {body}");
        assert_no_data(&body);
    }
}

#[tokio::test]
async fn document_that_does_not_parse_when_accepting_graphql_response_json_then_400_with_a_code() {
    let app = spawn_app().await;
    for query in UNPARSABLE {
        let (status, _, body) = send(post_accepting(
            &app,
            GRAPHQL_RESPONSE_JSON,
            json!({ "query": query }),
        ))
        .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{query}: {body}");
        assert_eq!(code(&body), "GRAPHQL_PARSE_FAILED", "{query}: {body}");
        assert_no_data(&body);
    }
}

#[tokio::test]
async fn document_that_does_not_validate_when_accepting_only_json_then_200_with_a_code_and_no_data()
{
    let app = spawn_app().await;
    for query in INVALID {
        let (status, _, body) = send(post_accepting(
            &app,
            "application/json",
            json!({ "query": query }),
        ))
        .await;
        assert_eq!(status, StatusCode::OK, "{query}: {body}");
        assert_eq!(code(&body), "BAD_USER_INPUT", "{query}: {body}");
        assert_no_data(&body);
    }
}

#[tokio::test]
async fn document_that_does_not_validate_when_accepting_graphql_response_json_then_400_with_a_code()
{
    let app = spawn_app().await;
    for query in INVALID {
        let (status, _, body) = send(post_accepting(
            &app,
            GRAPHQL_RESPONSE_JSON,
            json!({ "query": query }),
        ))
        .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{query}: {body}");
        assert_eq!(code(&body), "BAD_USER_INPUT", "{query}: {body}");
        assert_no_data(&body);
    }
}

/// Variables that cannot be coerced to their types: a string for an `Int!`, null for a `UUID!`.
/// (A string that is not a UUID is found by async-graphql only when the argument is read: a
/// field error, with a path and `data: null`.)
fn uncoercible() -> [Value; 2] {
    [
        json!({
            "query": "query($first: Int!) { testCases(first: $first) { totalCount } }",
            "variables": { "first": "ten" },
        }),
        json!({
            "query": "query($id: UUID!) { testCase(id: $id) { id } }",
            "variables": { "id": null },
        }),
    ]
}

#[tokio::test]
async fn variables_that_do_not_coerce_when_accepting_only_json_then_200_with_a_code_and_no_data() {
    let app = spawn_app().await;
    for request in uncoercible() {
        let (status, _, body) =
            send(post_accepting(&app, "application/json", request.clone())).await;
        assert_eq!(status, StatusCode::OK, "{request}: {body}");
        assert_eq!(code(&body), "BAD_USER_INPUT", "{request}: {body}");
        assert_no_data(&body);
    }
}

#[tokio::test]
async fn variables_that_do_not_coerce_when_accepting_graphql_response_json_then_400_with_a_code() {
    let app = spawn_app().await;
    for request in uncoercible() {
        let (status, _, body) =
            send(post_accepting(&app, GRAPHQL_RESPONSE_JSON, request.clone())).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{request}: {body}");
        assert_eq!(code(&body), "BAD_USER_INPUT", "{request}: {body}");
        assert_no_data(&body);
    }
}

#[tokio::test]
async fn operation_that_cannot_be_determined_then_a_request_error_by_media_type_and_nothing_written()
 {
    let app = spawn_app().await;
    let two = "query A { testCases { totalCount } } mutation B { createTestCase(input: { name: \"x\" }) { id } }";
    for (request, accept, expected) in [
        (json!({ "query": two }), "application/json", StatusCode::OK),
        (
            json!({ "query": two }),
            GRAPHQL_RESPONSE_JSON,
            StatusCode::BAD_REQUEST,
        ),
        (
            json!({ "query": two, "operationName": "C" }),
            "application/json",
            StatusCode::OK,
        ),
        (
            json!({ "query": "{ testCases { totalCount } }", "operationName": "C" }),
            GRAPHQL_RESPONSE_JSON,
            StatusCode::BAD_REQUEST,
        ),
    ] {
        let (status, _, body) = send(post_accepting(&app, accept, request.clone())).await;
        assert_eq!(status, expected, "{request} {accept}: {body}");
        assert_eq!(code(&body), "BAD_USER_INPUT", "{request}: {body}");
        assert_no_data(&body);
    }
    assert_eq!(
        crate::helpers::catalog::count(&app.db.pool().await, "test_cases").await,
        0
    );
}

#[tokio::test]
async fn accept_ranking_json_above_graphql_response_json_then_application_json_and_200() {
    let app = spawn_app().await;
    for accept in [
        "application/graphql-response+json;q=0.5, application/json",
        "application/json, application/graphql-response+json;q=0",
        "*/*",
    ] {
        let (status, content_type, body) =
            send(post_accepting(&app, accept, json!({ "query": "{" }))).await;
        assert_eq!(status, StatusCode::OK, "{accept}: {body}");
        assert!(
            content_type.starts_with("application/json"),
            "{accept}: {content_type}"
        );
    }
}

#[tokio::test]
async fn post_without_a_query_parameter_then_400_bad_request_whatever_the_media_type() {
    let app = spawn_app().await;
    for accept in ["application/json", GRAPHQL_RESPONSE_JSON] {
        for body in [json!({}), json!({ "qeury": "{ __typename }" })] {
            let (status, _, res) = send(post_accepting(&app, accept, body.clone())).await;
            assert_eq!(status, StatusCode::BAD_REQUEST, "{accept} {body}: {res}");
            assert_eq!(code(&res), "BAD_REQUEST", "{accept} {body}: {res}");
        }
    }
}

#[tokio::test]
async fn get_without_a_query_parameter_then_400_bad_request() {
    let app = spawn_app().await;
    let (status, _, body) = send(
        app.http(Method::GET, "/graphql")
            .query(&[("operationName", "A")])
            .header("accept", "application/json"),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert_eq!(code(&body), "BAD_REQUEST");
}

#[tokio::test]
async fn query_over_the_length_bound_when_accepting_only_json_then_still_400_bad_request() {
    let app = spawn_app().await;
    let query = format!(
        "{{ testCases {{ totalCount }} }} #{}",
        "x".repeat(api::limits::MAX_QUERY_BYTES)
    );
    let (status, _, body) = send(post_accepting(
        &app,
        "application/json",
        json!({ "query": query }),
    ))
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert_eq!(code(&body), "BAD_REQUEST");
}

#[tokio::test]
async fn resolver_error_then_200_with_a_code_and_a_path() {
    let app = spawn_app().await;
    let (status, _, body) = send(post_json(
        &app,
        json!({ "query": "{ testCases(first: 101) { totalCount } }" }),
    ))
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(code(&body), "BAD_USER_INPUT");
    assert_eq!(body["errors"][0]["path"], json!(["testCases"]));
}

#[tokio::test]
async fn get_with_a_query_then_it_runs() {
    let app = spawn_app().await;
    let case = create_case(&app, json!({ "name": "login" })).await;
    let (status, _, body) = send(app.http(Method::GET, "/graphql").query(&[
        ("query", "query($id: UUID!) { testCase(id: $id) { name } }"),
        ("variables", &json!({ "id": case }).to_string()),
    ]))
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(data(&body)["testCase"]["name"], "login");
}

#[tokio::test]
async fn get_with_an_operation_name_then_that_operation_runs() {
    let app = spawn_app().await;
    let (status, _, body) = send(app.http(Method::GET, "/graphql").query(&[
        (
            "query",
            "query A { viewer { userId } } query B { testCases { totalCount } }",
        ),
        ("operationName", "B"),
    ]))
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(data(&body)["testCases"]["totalCount"], 0);
    assert!(data(&body).get("viewer").is_none(), "{body}");
}

#[tokio::test]
async fn get_with_a_mutation_then_405_and_nothing_written() {
    let app = spawn_app().await;
    for (query, operation) in [
        (
            "mutation { createTestCase(input: { name: \"x\" }) { id } }",
            None,
        ),
        (
            "query Q { testCases { totalCount } } mutation M { createTestCase(input: { name: \"x\" }) { id } }",
            Some("M"),
        ),
    ] {
        let mut params = vec![("query", query)];
        if let Some(name) = operation {
            params.push(("operationName", name));
        }
        let res = app
            .http(Method::GET, "/graphql")
            .query(&params)
            .send()
            .await
            .expect("response");
        assert_eq!(res.status(), StatusCode::METHOD_NOT_ALLOWED);
        assert_eq!(res.headers()["allow"], "POST");
        let body: Value = res.json().await.expect("json");
        assert_eq!(code(&body), "METHOD_NOT_ALLOWED");
    }
    assert_eq!(
        crate::helpers::catalog::count(&app.db.pool().await, "test_cases").await,
        0
    );
}

#[tokio::test]
async fn post_with_a_body_that_is_not_json_then_400_with_a_code() {
    let app = spawn_app().await;
    for body in [
        "not json",
        "{\"query\": ",
        "[1, 2]",
        "\"{ testCases { totalCount } }\"",
        "{\"query\": 5}",
    ] {
        let (status, _, res) = send(
            app.http(Method::POST, "/graphql")
                .header("content-type", "application/json")
                .body(body),
        )
        .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}: {res}");
        assert_eq!(code(&res), "BAD_REQUEST", "{body}: {res}");
    }
}

#[tokio::test]
async fn post_with_another_media_type_then_415_with_a_code() {
    let app = spawn_app().await;
    let (status, _, body) = send(
        app.http(Method::POST, "/graphql")
            .header("content-type", "text/plain")
            .body("{ testCases { totalCount } }"),
    )
    .await;
    assert_eq!(status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
    assert_eq!(code(&body), "BAD_REQUEST");
}

#[tokio::test]
async fn a_body_of_another_media_type_still_being_sent_then_415_not_a_broken_connection() {
    // the answer is known before the body is read; the client, still sending, must get it
    let app = spawn_app().await;
    let (status, body) =
        crate::helpers::app::post_slowly(app.addr, &[("content-type", "%p")], 4_000_000)
            .await
            .expect("an answer, not a broken connection");
    assert!(status.contains(" 415 "), "{status}: {body}");
    assert!(body.contains("BAD_REQUEST"), "{body}");
}

#[tokio::test]
async fn post_without_a_content_type_then_415_with_a_code() {
    let app = spawn_app().await;
    let (status, _, body) = send(
        app.http(Method::POST, "/graphql")
            .body("{\"query\": \"{ testCases { totalCount } }\"}"),
    )
    .await;
    assert_eq!(status, StatusCode::UNSUPPORTED_MEDIA_TYPE, "{body}");
    assert_eq!(code(&body), "BAD_REQUEST");
}

#[tokio::test]
async fn body_over_the_limit_then_413_payload_too_large() {
    let app = spawn_app().await;
    let prefix = "{\"query\": \"{ testCases { totalCount } }\", \"variables\": {\"pad\": \"";
    let suffix = "\"}}";
    let pad = api::config::MAX_BODY_BYTES + 1 - prefix.len() - suffix.len();
    let body = format!("{prefix}{}{suffix}", "x".repeat(pad));
    assert_eq!(body.len(), api::config::MAX_BODY_BYTES + 1);
    let (status, _, res) = send(
        app.http(Method::POST, "/graphql")
            .header("content-type", "application/json")
            .body(body),
    )
    .await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(code(&res), "PAYLOAD_TOO_LARGE");
}

/// `case → suites → testCases → edges → node → suites → ...` nested `levels` times.
fn nested_query(levels: usize) -> String {
    let mut inner = "id".to_owned();
    for _ in 0..levels {
        inner = format!("suites {{ testCases {{ edges {{ node {{ {inner} }} }} }} }}");
    }
    format!("query($id: UUID!) {{ testCase(id: $id) {{ {inner} }} }}")
}

#[tokio::test]
async fn query_within_the_depth_limit_then_it_runs() {
    let app = spawn_app().await;
    let case = create_case(&app, json!({ "name": "login" })).await;
    create_suite(&app, json!({ "name": "smoke", "testCaseIds": [case] })).await;
    // testCase + 4 per level + id
    let levels = (api::limits::MAX_QUERY_DEPTH - 2) / 4;
    let (status, _, body) = send(post_json(
        &app,
        json!({ "query": nested_query(levels), "variables": { "id": case } }),
    ))
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    data(&body);
}

#[tokio::test]
async fn query_beyond_the_depth_limit_then_rejected_with_a_code() {
    let app = spawn_app().await;
    // before any request, so that no background work of the first one is counted below
    warm_up(&app).await;
    let case = create_case(&app, json!({ "name": "login" })).await;
    create_suite(&app, json!({ "name": "smoke", "testCaseIds": [case] })).await;
    let levels = api::limits::MAX_QUERY_DEPTH / 4 + 1;
    warm_up(&app).await;
    let before = app.statements();
    let (status, _, body) = send(post_accepting(
        &app,
        GRAPHQL_RESPONSE_JSON,
        json!({ "query": nested_query(levels), "variables": { "id": case } }),
    ))
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert_eq!(code(&body), "BAD_USER_INPUT");
    assert_no_data(&body);
    assert_eq!(app.statements(), before, "nothing ran");
}

/// The bounds on the parsed document are validation rules of this server: a request error.
#[tokio::test]
async fn query_beyond_the_depth_limit_when_accepting_only_json_then_200_with_a_code_and_no_data() {
    let app = spawn_app().await;
    let levels = api::limits::MAX_QUERY_DEPTH / 4 + 1;
    let (status, _, body) = send(post_accepting(
        &app,
        "application/json",
        json!({ "query": nested_query(levels), "variables": { "id": uuid::Uuid::nil() } }),
    ))
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(code(&body), "BAD_USER_INPUT");
    assert_no_data(&body);
}

#[tokio::test]
async fn query_beyond_the_complexity_limit_then_rejected_with_a_code() {
    let app = spawn_app().await;
    // two fields per alias
    let fields: String = (0..=api::limits::MAX_FIELDS / 2)
        .map(|i| format!("f{i}: viewer {{ userId }} "))
        .collect();
    warm_up(&app).await;
    let before = app.statements();
    let (status, _, body) = send(post_accepting(
        &app,
        GRAPHQL_RESPONSE_JSON,
        json!({ "query": format!("{{ {fields} }}") }),
    ))
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert_eq!(code(&body), "BAD_USER_INPUT");
    assert_no_data(&body);
    assert_eq!(app.statements(), before, "nothing ran");
}

#[tokio::test]
async fn body_limit_is_configurable() {
    let app = crate::helpers::spawn_app().await;
    let conn = api::db::connect(&app.db.url, 2).await.expect("pool");
    let small = api::startup::Application::build_with(
        conn,
        &app.db.url,
        "127.0.0.1:0".parse().expect("addr"),
        api::config::ServerOptions {
            max_body_bytes: 1024,
            ..Default::default()
        },
    )
    .await
    .expect("server");
    let addr = small.local_addr().expect("addr");
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(small.run_until(async move {
        let _ = stopped.await;
    }));
    let padding = "x".repeat(2048);
    let res = reqwest::Client::new()
        .post(format!("http://{addr}/graphql"))
        .bearer_auth(&app.admin_token)
        .json(&serde_json::json!({"query": format!("{{ viewer {{ userId }} }} # {padding}")}))
        .send()
        .await
        .expect("request");
    assert_eq!(res.status(), 413);
    let body: serde_json::Value = res.json().await.expect("json");
    assert_eq!(body["errors"][0]["extensions"]["code"], "PAYLOAD_TOO_LARGE");
    let _ = stop.send(());
}
