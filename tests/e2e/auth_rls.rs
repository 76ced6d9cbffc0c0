//! Row-level security through the API: member A cannot read, count, infer or change member B's
//! cases, by id, search, tag filter or relation; an admin sees everything.

use api::auth::Role;
use serde_json::{Value, json};

use crate::helpers::{TestApp, spawn_app};

struct World {
    app: TestApp,
    alice: String,
    bob: String,
    bob_case: String,
    bob_step: String,
    bob_suite: String,
}

fn code(body: &Value) -> &str {
    body["errors"][0]["extensions"]["code"]
        .as_str()
        .unwrap_or("<none>")
}

/// Alice and Bob each author a case with a step; Bob's suite holds Bob's case.
async fn world() -> World {
    let app = spawn_app().await;
    let alice = app.token("alice", &[Role::Member]).await;
    let bob = app.token("bob", &[Role::Member]).await;
    let create = "mutation($input: CreateTestCaseInput!) { createTestCase(input: $input) { id steps { id } } }";
    let a = app
        .gql_as(&alice, create, json!({"input": {"name": "alpha login", "description": "alice checks the login form", "tags": ["alpha-tag"], "metadata": {"owner": "alice"}, "steps": [{"name": "open", "stepType": "NAVIGATE"}]}}))
        .await;
    assert!(a["errors"].is_null(), "{a}");
    let b = app
        .gql_as(&bob, create, json!({"input": {"name": "beta payment", "description": "bob verifies the secret payment flow", "tags": ["beta-tag"], "metadata": {"owner": "bob"}, "steps": [{"name": "pay", "stepType": "CLICK"}]}}))
        .await;
    assert!(b["errors"].is_null(), "{b}");
    let bob_case = b["data"]["createTestCase"]["id"]
        .as_str()
        .expect("id")
        .to_owned();
    let bob_step = b["data"]["createTestCase"]["steps"][0]["id"]
        .as_str()
        .expect("step")
        .to_owned();
    let s = app
        .gql_as(&bob, "mutation($ids: [UUID!]) { createTestSuite(input: {name: \"bob suite\", testCaseIds: $ids}) { id } }", json!({"ids": [bob_case]}))
        .await;
    let bob_suite = s["data"]["createTestSuite"]["id"]
        .as_str()
        .expect("suite")
        .to_owned();
    World {
        app,
        alice,
        bob,
        bob_case,
        bob_step,
        bob_suite,
    }
}

#[tokio::test]
async fn member_cannot_read_anothers_case_by_id() {
    let w = world().await;
    let body = w
        .app
        .gql_as(
            &w.alice,
            "query($id: UUID!) { testCase(id: $id) { name } }",
            json!({"id": w.bob_case}),
        )
        .await;
    assert_eq!(body["data"]["testCase"], Value::Null, "{body}");
    let body = w
        .app
        .gql_as(
            &w.bob,
            "query($id: UUID!) { testCase(id: $id) { name } }",
            json!({"id": w.bob_case}),
        )
        .await;
    assert_eq!(body["data"]["testCase"]["name"], "beta payment");
}

#[tokio::test]
async fn member_lists_and_counts_only_own_cases_and_admin_sees_all() {
    let w = world().await;
    let q = "{ testCases { totalCount edges { node { name author } } } }";
    let alice = w.app.gql_as(&w.alice, q, json!({})).await;
    assert_eq!(alice["data"]["testCases"]["totalCount"], 1);
    assert_eq!(
        alice["data"]["testCases"]["edges"],
        json!([{"node": {"name": "alpha login", "author": "alice"}}])
    );
    let admin = w.app.gql(q, json!({})).await;
    assert_eq!(admin["data"]["testCases"]["totalCount"], 2, "{admin}");
}

#[tokio::test]
async fn member_cannot_find_anothers_case_by_search_tag_or_metadata() {
    let w = world().await;
    let filters = [
        json!({"search": "secret payment"}),
        json!({"search": "beta"}),
        json!({"tagsAny": ["beta-tag"]}),
        json!({"tagsAll": ["beta-tag"]}),
        json!({"metadataContains": {"owner": "bob"}}),
        json!({"author": "bob"}),
    ];
    for filter in filters {
        let body = w
            .app
            .gql_as(&w.alice, "query($f: TestCaseFilter) { testCases(filter: $f) { totalCount edges { node { id } } } }", json!({"f": filter}))
            .await;
        assert_eq!(
            body["data"]["testCases"]["totalCount"], 0,
            "{filter}: {body}"
        );
        assert_eq!(body["data"]["testCases"]["edges"], json!([]), "{filter}");
        let admin = w
            .app
            .gql(
                "query($f: TestCaseFilter) { testCases(filter: $f) { totalCount } }",
                json!({"f": filter}),
            )
            .await;
        assert_eq!(
            admin["data"]["testCases"]["totalCount"], 1,
            "{filter}: admin {admin}"
        );
    }
}

#[tokio::test]
async fn member_cannot_infer_anothers_cases_through_suites() {
    let w = world().await;
    let body = w
        .app
        .gql_as(&w.alice, "query($id: UUID!) { testSuite(id: $id) { name testCases { totalCount edges { node { name } } } } }", json!({"id": w.bob_suite}))
        .await;
    assert_eq!(
        body["data"]["testSuite"]["name"], "bob suite",
        "suites are shared: {body}"
    );
    assert_eq!(
        body["data"]["testSuite"]["testCases"]["totalCount"], 0,
        "{body}"
    );
    assert_eq!(body["data"]["testSuite"]["testCases"]["edges"], json!([]));
    let body = w
        .app
        .gql_as(
            &w.alice,
            "query($id: UUID!) { testSuites(filter: {containsTestCase: $id}) { totalCount } }",
            json!({"id": w.bob_case}),
        )
        .await;
    assert_eq!(body["data"]["testSuites"]["totalCount"], 0, "{body}");
    let own = w
        .app
        .gql_as(
            &w.bob,
            "query($id: UUID!) { testSuite(id: $id) { testCases { totalCount } } }",
            json!({"id": w.bob_suite}),
        )
        .await;
    assert_eq!(own["data"]["testSuite"]["testCases"]["totalCount"], 1);
}

#[tokio::test]
async fn member_cannot_change_or_delete_anothers_case_or_steps() {
    let w = world().await;
    let attempts = [
        (
            "mutation($id: UUID!) { updateTestCase(id: $id, input: {name: \"hijacked\"}) { id } }",
            json!({"id": w.bob_case}),
        ),
        (
            "mutation($id: UUID!) { updateTestCase(id: $id, input: {status: ARCHIVED}) { id } }",
            json!({"id": w.bob_case}),
        ),
        (
            "mutation($id: UUID!) { deleteTestCase(id: $id) }",
            json!({"id": w.bob_case}),
        ),
        (
            "mutation($id: UUID!) { addTestStep(testCaseId: $id, input: {name: \"x\", stepType: CLICK}) { id } }",
            json!({"id": w.bob_case}),
        ),
        (
            "mutation($id: UUID!) { updateTestStep(id: $id, input: {name: \"x\"}) { id } }",
            json!({"id": w.bob_step}),
        ),
        (
            "mutation($id: UUID!) { removeTestStep(id: $id) { id } }",
            json!({"id": w.bob_step}),
        ),
        (
            "mutation($c: UUID!, $s: UUID!) { reorderTestSteps(testCaseId: $c, stepIds: [$s]) { id } }",
            json!({"c": w.bob_case, "s": w.bob_step}),
        ),
    ];
    for (query, vars) in attempts {
        let body = w.app.gql_as(&w.alice, query, vars).await;
        assert_eq!(code(&body), "NOT_FOUND", "{query}: {body}");
    }
    let pool = w.app.db.pool().await;
    let (name, steps): (String, i64) = crate::helpers::q::query_as(
        "SELECT c.name::text, (SELECT count(*) FROM test_steps s WHERE s.test_case_id = c.id) FROM test_cases c WHERE author = 'bob'",
    )
    .fetch_one(&pool)
    .await
    .expect("bob's case");
    assert_eq!((name.as_str(), steps), ("beta payment", 1));
}

#[tokio::test]
async fn member_cannot_author_as_someone_else() {
    let w = world().await;
    let body = w
        .app
        .gql_as(
            &w.alice,
            "mutation { createTestCase(input: {name: \"forged\", author: \"bob\"}) { id } }",
            json!({}),
        )
        .await;
    assert_eq!(code(&body), "FORBIDDEN", "{body}");
    let alice_case: String =
        crate::helpers::q::query_scalar("SELECT id::text FROM test_cases WHERE author = 'alice'")
            .fetch_one(&w.app.db.pool().await)
            .await
            .expect("alice's case");
    let body = w
        .app
        .gql_as(
            &w.alice,
            "mutation($id: UUID!) { updateTestCase(id: $id, input: {author: \"bob\"}) { id } }",
            json!({"id": alice_case}),
        )
        .await;
    assert_eq!(code(&body), "FORBIDDEN", "{body}");
    let forged: i64 =
        crate::helpers::q::query_scalar("SELECT count(*) FROM test_cases WHERE name = 'forged'")
            .fetch_one(&w.app.db.pool().await)
            .await
            .expect("count");
    assert_eq!(forged, 0);
    // an admin may
    let body = w
        .app
        .gql(
            "mutation { createTestCase(input: {name: \"on behalf\", author: \"bob\"}) { author } }",
            json!({}),
        )
        .await;
    assert_eq!(body["data"]["createTestCase"]["author"], "bob", "{body}");
}

#[tokio::test]
async fn identity_fills_author_and_created_by_and_the_audit_trail() {
    let w = world().await;
    let pool = w.app.db.pool().await;
    let authors: Vec<String> =
        crate::helpers::q::query_scalar("SELECT author::text FROM test_cases ORDER BY 1")
            .fetch_all(&pool)
            .await
            .expect("authors");
    assert_eq!(authors, ["alice", "bob"]);
    let created_by: String =
        crate::helpers::q::query_scalar("SELECT created_by::text FROM test_suites")
            .fetch_one(&pool)
            .await
            .expect("suite");
    assert_eq!(created_by, "bob");
    let actors: Vec<(String, String)> = crate::helpers::q::query_as(
        "SELECT DISTINCT table_name::text, changed_by::text FROM audit_log WHERE table_name IN ('test_cases', 'test_steps') ORDER BY 1, 2",
    )
    .fetch_all(&pool)
    .await
    .expect("audit");
    assert_eq!(
        actors,
        [
            ("test_cases".to_owned(), "alice".to_owned()),
            ("test_cases".to_owned(), "bob".to_owned()),
            ("test_steps".to_owned(), "alice".to_owned()),
            ("test_steps".to_owned(), "bob".to_owned()),
        ]
    );
}

#[tokio::test]
async fn member_cannot_change_anothers_suite_or_configuration() {
    let w = world().await;
    let cfg = w
        .app
        .gql_as(&w.bob, "mutation { createConfiguration(input: {name: \"bob chrome\", configType: BROWSER}) { id } }", json!({}))
        .await;
    let cfg_id = cfg["data"]["createConfiguration"]["id"]
        .as_str()
        .expect("config")
        .to_owned();
    let attempts = [
        (
            "mutation($id: UUID!) { updateTestSuite(id: $id, input: {name: \"mine now\"}) { id } }",
            json!({"id": w.bob_suite}),
        ),
        (
            "mutation($id: UUID!) { deleteTestSuite(id: $id) }",
            json!({"id": w.bob_suite}),
        ),
        (
            "mutation($id: UUID!) { updateConfiguration(id: $id, input: {name: \"mine now\"}) { id } }",
            json!({"id": cfg_id}),
        ),
        (
            "mutation($id: UUID!) { deleteConfiguration(id: $id) }",
            json!({"id": cfg_id}),
        ),
    ];
    // suites and configurations of the default project are everyone's to read, so the refusal
    // says what it is (FORBIDDEN, naming who may change them), not that they are missing
    for (query, vars) in attempts {
        let body = w.app.gql_as(&w.alice, query, vars).await;
        assert_eq!(code(&body), "FORBIDDEN", "{query}: {body}");
        assert!(
            body["errors"][0]["message"]
                .as_str()
                .is_some_and(|m| m.contains("creator")),
            "{body}"
        );
    }
    let names: Vec<String> = crate::helpers::q::query_scalar(
        "SELECT name::text FROM test_suites UNION ALL SELECT name::text FROM configurations ORDER BY 1",
    )
    .fetch_all(&w.app.db.pool().await)
    .await
    .expect("names");
    assert_eq!(names, ["bob chrome", "bob suite"]);
}

#[tokio::test]
async fn settings_never_leak_between_pooled_connections() {
    let w = world().await;
    let q = "{ viewer { userId } testCases { totalCount } }";
    // more requests than the pool has connections, alternating identities
    for round in 0..12 {
        let (token, user, expected) = match round % 3 {
            0 => (&w.alice, "alice", 1),
            1 => (&w.bob, "bob", 1),
            _ => (&w.app.admin_token, "test-admin", 2),
        };
        let body = w.app.gql_as(token, q, json!({})).await;
        assert_eq!(
            body["data"]["viewer"]["userId"], user,
            "round {round}: {body}"
        );
        assert_eq!(
            body["data"]["testCases"]["totalCount"], expected,
            "round {round}: {body}"
        );
    }
}
