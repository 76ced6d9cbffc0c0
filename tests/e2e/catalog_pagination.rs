//! Keyset pagination of the catalogue's connections: every page walked forward and backward,
//! in every ordering, with ties on the sort key. Limits and cursor checks are in
//! `catalog_page_limits`.

use serde_json::{Value, json};

use crate::helpers::app::TestApp;
use crate::helpers::catalog::{Walk, assert_same_order, sql_ids, walk};
use crate::helpers::spawn_app;

pub(crate) const CASES: &str = "query($filter: TestCaseFilter, $orderBy: TestCaseOrder, $first: Int, $after: String, $last: Int, $before: String) {
  testCases(filter: $filter, orderBy: $orderBy, first: $first, after: $after, last: $last, before: $before) {
    totalCount edges { cursor node { id } }
    pageInfo { hasNextPage hasPreviousPage startCursor endCursor }
  }
}";

pub(crate) const SUITES: &str =
    "query($orderBy: CatalogOrder, $first: Int, $after: String, $last: Int, $before: String) {
  testSuites(orderBy: $orderBy, first: $first, after: $after, last: $last, before: $before) {
    edges { cursor node { id } } pageInfo { hasNextPage hasPreviousPage startCursor endCursor }
  }
}";

pub(crate) const CONFIGURATIONS: &str =
    "query($orderBy: CatalogOrder, $first: Int, $after: String, $last: Int, $before: String) {
  configurations(orderBy: $orderBy, first: $first, after: $after, last: $last, before: $before) {
    edges { cursor node { id } } pageInfo { hasNextPage hasPreviousPage startCursor endCursor }
  }
}";

pub(crate) const SUITE_CASES: &str =
    "query($id: UUID!, $first: Int, $after: String, $last: Int, $before: String) {
  testSuite(id: $id) { testCases(first: $first, after: $after, last: $last, before: $before) {
    edges { cursor node { id } } pageInfo { hasNextPage hasPreviousPage startCursor endCursor }
  } }
}";

/// Severity of a priority, as SQL, to compute expected orders.
const PRIORITY_RANK: &str = "CASE priority WHEN 'critical' THEN 4 WHEN 'high' THEN 3 \
    WHEN 'medium' THEN 2 ELSE 1 END";

/// `n` cases in one statement: names repeat (in distinct categories), priorities repeat, and
/// creation times fall on five days; `updated_at` is the same for all.
pub(crate) async fn seed_cases(app: &TestApp, n: i32) {
    let pool = app.db.pool().await;
    crate::helpers::q::query(
        "INSERT INTO test_cases(name, category, priority, description, created_at)
         SELECT CASE WHEN i % 3 = 0 THEN 'same name' ELSE 'case ' || (i % 7) END, 'cat ' || i,
                (ARRAY['low', 'medium', 'high', 'critical'])[1 + i % 4],
                CASE WHEN i % 2 = 0 THEN 'alpha beta' ELSE 'alpha alpha beta gamma ' || i END,
                timestamptz '2024-01-01T00:00:00Z' + (i % 5) * interval '1 day'
         FROM generate_series(1, $1) AS i",
    )
    .bind(n)
    .execute(&pool)
    .await
    .expect("seeding cases");
}

async fn check_walks(
    app: &TestApp,
    query: &str,
    path: &[&str],
    vars: Value,
    expected: &[uuid::Uuid],
    what: &str,
) {
    for size in [3, 20] {
        for way in [Walk::Forward, Walk::Backward] {
            let got = walk(app, query, path, vars.clone(), size, way).await;
            assert_same_order(&got, expected, &format!("{what}, {way:?} by {size}"));
        }
    }
}

#[tokio::test]
async fn test_cases_walked_in_every_ordering_then_no_duplicates_or_omissions() {
    let app = spawn_app().await;
    seed_cases(&app, 47).await;
    let pool = app.db.pool().await;
    for (field, key) in [
        ("CREATED_AT", "created_at"),
        ("UPDATED_AT", "updated_at"),
        ("NAME", "name"),
        ("PRIORITY", PRIORITY_RANK),
    ] {
        for direction in ["ASC", "DESC"] {
            let expected = sql_ids(
                &pool,
                &format!("SELECT id FROM test_cases ORDER BY {key} {direction}, id {direction}"),
            )
            .await;
            let vars = json!({ "orderBy": { "field": field, "direction": direction } });
            check_walks(
                &app,
                CASES,
                &["testCases"],
                vars,
                &expected,
                &format!("{field} {direction}"),
            )
            .await;
        }
    }
}

#[tokio::test]
async fn test_cases_walked_by_relevance_with_equal_ranks_then_no_duplicates_or_omissions() {
    let app = spawn_app().await;
    seed_cases(&app, 30).await;
    let pool = app.db.pool().await;
    let rank = "ts_rank(to_tsvector('english', coalesce(name, '') || ' ' || coalesce(description, '')), \
                websearch_to_tsquery('english', 'alpha -gamma OR beta'))::float8";
    let expected = sql_ids(
        &pool,
        &format!(
            "SELECT id FROM test_cases WHERE to_tsvector('english', coalesce(name, '') || ' ' || coalesce(description, '')) \
             @@ websearch_to_tsquery('english', 'alpha -gamma OR beta') ORDER BY {rank} DESC, id DESC"
        ),
    )
    .await;
    assert!(
        expected.len() >= 15,
        "the search matches enough cases to page"
    );
    let vars = json!({ "filter": { "search": "alpha -gamma OR beta" } });
    check_walks(&app, CASES, &["testCases"], vars, &expected, "relevance").await;
}

#[tokio::test]
async fn test_cases_walked_with_a_filter_then_only_matching_cases_in_order() {
    let app = spawn_app().await;
    seed_cases(&app, 40).await;
    let pool = app.db.pool().await;
    let expected = sql_ids(
        &pool,
        "SELECT id FROM test_cases WHERE priority IN ('high', 'low') ORDER BY name ASC, id ASC",
    )
    .await;
    let vars = json!({ "filter": { "priority": ["HIGH", "LOW"] },
        "orderBy": { "field": "NAME", "direction": "ASC" } });
    check_walks(&app, CASES, &["testCases"], vars, &expected, "filtered").await;
}

#[tokio::test]
async fn test_suites_and_configurations_walked_then_no_duplicates_or_omissions() {
    let app = spawn_app().await;
    let pool = app.db.pool().await;
    crate::helpers::q::query(
        "WITH s AS (INSERT INTO test_suites(name, created_at)
                    SELECT 'suite ' || (i % 4), timestamptz '2024-01-01' + (i % 3) * interval '1 hour'
                    FROM generate_series(1, 23) AS i RETURNING 1)
         INSERT INTO configurations(name, config_type, is_active)
         SELECT 'config ' || (i % 4), 'browser', false FROM generate_series(1, 23) AS i",
    )
    .execute(&pool)
    .await
    .expect("seeding suites and configurations");
    for (query, table, path) in [
        (SUITES, "test_suites", "testSuites"),
        (CONFIGURATIONS, "configurations", "configurations"),
    ] {
        for (field, key) in [
            ("CREATED_AT", "created_at"),
            ("UPDATED_AT", "updated_at"),
            ("NAME", "name"),
        ] {
            for direction in ["ASC", "DESC"] {
                let expected = sql_ids(
                    &pool,
                    &format!("SELECT id FROM {table} ORDER BY {key} {direction}, id {direction}"),
                )
                .await;
                let vars = json!({ "orderBy": { "field": field, "direction": direction } });
                check_walks(
                    &app,
                    query,
                    &[path],
                    vars,
                    &expected,
                    &format!("{table} {field} {direction}"),
                )
                .await;
            }
        }
    }
}

#[tokio::test]
async fn suite_test_cases_walked_then_in_suite_order_with_unpositioned_members_last() {
    let app = spawn_app().await;
    let pool = app.db.pool().await;
    let suite: uuid::Uuid = crate::helpers::q::query_scalar(
        "WITH c AS (INSERT INTO test_cases(name, category) SELECT 'case', 'cat ' || i
                    FROM generate_series(1, 25) AS i RETURNING id),
              s AS (INSERT INTO test_suites(name) VALUES ('smoke') RETURNING id),
              m AS (INSERT INTO test_suite_test_cases(test_suite_id, test_case_id, order_index)
                    SELECT s.id, c.id, CASE WHEN n % 6 = 0 THEN NULL ELSE 26 - n END
                    FROM s, (SELECT id, row_number() OVER (ORDER BY id) AS n FROM c) AS c RETURNING 1)
         SELECT id FROM s",
    )
    .fetch_one(&pool)
    .await
    .expect("seeding a suite");
    let expected = sql_ids(
        &pool,
        "SELECT test_case_id FROM test_suite_test_cases \
         ORDER BY COALESCE(order_index, 2147483647), test_case_id",
    )
    .await;
    assert_eq!(expected.len(), 25);
    check_walks(
        &app,
        SUITE_CASES,
        &["testSuite", "testCases"],
        json!({ "id": suite }),
        &expected,
        "suite",
    )
    .await;
}

/// A list asked for by its `nodes` alone (no `edges`, no `pageInfo`) still reads its page.
#[tokio::test]
async fn a_list_asked_for_by_its_nodes_alone_then_it_has_its_rows() {
    let app = crate::helpers::spawn_app().await;
    for name in ["one", "two"] {
        let body = app
            .gql(
                "mutation($n: String!) { createTestCase(input: { name: $n }) { id } }",
                serde_json::json!({ "n": name }),
            )
            .await;
        assert!(body["errors"].is_null(), "{body}");
    }
    for list in [
        "testCases",
        "testSuites",
        "configurations",
        "testRuns",
        "testExecutions",
        "projects",
        "auditLog",
    ] {
        let nodes_only = app
            .gql(
                &format!("{{ {list} {{ totalCount nodes {{ __typename }} }} }}"),
                serde_json::json!({}),
            )
            .await;
        let with_edges = app
            .gql(
                &format!("{{ {list} {{ totalCount nodes {{ __typename }} edges {{ cursor }} }} }}"),
                serde_json::json!({}),
            )
            .await;
        assert_eq!(
            nodes_only["data"][list]["nodes"], with_edges["data"][list]["nodes"],
            "{list}: {nodes_only}"
        );
        let total = nodes_only["data"][list]["totalCount"].as_u64().unwrap_or(0);
        let nodes = nodes_only["data"][list]["nodes"]
            .as_array()
            .map(Vec::len)
            .unwrap_or(0) as u64;
        assert_eq!(nodes, total.min(20), "{list}: {nodes_only}");
    }
}
