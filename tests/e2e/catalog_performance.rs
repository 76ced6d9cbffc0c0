//! Performance by construction: the SQL statements a request runs are bounded by its nesting
//! depth, whatever the page size (relations load through DataLoaders, one statement a level).

use serde_json::{Value, json};

use crate::helpers::app::TestApp;
use crate::helpers::catalog::{data, node_ids, warm_up};
use crate::helpers::spawn_app;

/// Statements a top-level page with two relations may take: the request's security settings,
/// the page, the steps and the suites.
const CASES_WITH_RELATIONS_BUDGET: u64 = 4;

const CASES_WITH_RELATIONS: &str = "query($first: Int) {
  testCases(first: $first) { edges { node { id steps { id } suites { id } } } }
}";

/// `n` cases with three steps each, all members of three suites, and one configuration each,
/// in one statement.
async fn seed(app: &TestApp, n: i32) {
    let pool = app.db.pool().await;
    crate::helpers::q::query(
        "WITH cfg AS (INSERT INTO configurations(name, config_type) VALUES ('chrome', 'browser') RETURNING id),
              c AS (INSERT INTO test_cases(name, category, configuration_id)
                    SELECT 'case ' || i, 'perf', cfg.id FROM generate_series(1, $1) AS i, cfg RETURNING id),
              s AS (INSERT INTO test_suites(name) SELECT 'suite ' || i FROM generate_series(1, 3) AS i RETURNING id),
              st AS (INSERT INTO test_steps(test_case_id, order_index, name, step_type)
                     SELECT c.id, k, 'step ' || k, 'click' FROM c, generate_series(1, 3) AS k RETURNING 1)
         INSERT INTO test_suite_test_cases(test_suite_id, test_case_id, order_index)
         SELECT s.id, c.id, row_number() OVER (PARTITION BY s.id ORDER BY c.id) FROM s, c",
    )
    .bind(n)
    .execute(&pool)
    .await
    .expect("seeding");
}

/// Runs `query` and returns its body and the number of statements it ran.
async fn measure(app: &TestApp, query: &str, variables: Value) -> (Value, u64) {
    let before = app.statements();
    let body = app.gql(query, variables).await;
    (body, app.statements() - before)
}

#[tokio::test]
async fn a_hundred_cases_with_steps_and_suites_then_at_most_four_statements() {
    let app = spawn_app().await;
    seed(&app, 100).await;
    warm_up(&app).await;
    let (body, statements) = measure(&app, CASES_WITH_RELATIONS, json!({ "first": 100 })).await;
    let edges = data(&body)["testCases"]["edges"]
        .as_array()
        .expect("edges")
        .clone();
    assert_eq!(edges.len(), 100);
    for edge in &edges {
        assert_eq!(
            edge["node"]["steps"].as_array().map(Vec::len),
            Some(3),
            "{edge}"
        );
        assert_eq!(
            edge["node"]["suites"].as_array().map(Vec::len),
            Some(3),
            "{edge}"
        );
    }
    assert!(
        statements <= CASES_WITH_RELATIONS_BUDGET,
        "{statements} statements for one page with two relations"
    );
}

#[tokio::test]
async fn ten_or_a_hundred_cases_then_the_same_number_of_statements() {
    let app = spawn_app().await;
    seed(&app, 100).await;
    warm_up(&app).await;
    let (small, ten) = measure(&app, CASES_WITH_RELATIONS, json!({ "first": 10 })).await;
    assert_eq!(node_ids(&data(&small)["testCases"]).len(), 10);
    let (large, hundred) = measure(&app, CASES_WITH_RELATIONS, json!({ "first": 100 })).await;
    assert_eq!(node_ids(&data(&large)["testCases"]).len(), 100);
    assert_eq!(ten, hundred);
}

#[tokio::test]
async fn deeper_nesting_then_one_more_statement_per_level_whatever_the_page_size() {
    let app = spawn_app().await;
    seed(&app, 60).await;
    warm_up(&app).await;
    let query = "query($first: Int) { testCases(first: $first) { totalCount edges { node {
        configuration { id }
        steps { id testCase { id } }
        suites { id testCases(first: 5) { totalCount edges { position node { id steps { id } } } } }
    } } } }";
    let (small, few) = measure(&app, query, json!({ "first": 2 })).await;
    data(&small);
    let (large, many) = measure(&app, query, json!({ "first": 60 })).await;
    let edges = data(&large)["testCases"]["edges"]
        .as_array()
        .expect("edges")
        .clone();
    assert_eq!(edges.len(), 60);
    assert_eq!(edges[0]["node"]["suites"][0]["testCases"]["totalCount"], 60);
    assert_eq!(few, many, "statements grew with the page size");
    // the request's security settings; the page and its count; configurations; steps; the
    // steps' cases; suites; the suites' pages and their counts; the steps of the pages' cases
    assert!(many <= 10, "{many} statements");
}

#[tokio::test]
async fn suites_with_their_case_pages_then_statements_independent_of_the_number_of_suites() {
    let app = spawn_app().await;
    seed(&app, 30).await;
    warm_up(&app).await;
    let query = "query($first: Int) { testSuites(first: $first) { edges { node { id
        testCases(first: 10) { totalCount edges { node { steps { id } configuration { id } } } } } } } }";
    let (one, few) = measure(&app, query, json!({ "first": 1 })).await;
    assert_eq!(node_ids(&data(&one)["testSuites"]).len(), 1);
    let (all, many) = measure(&app, query, json!({ "first": 3 })).await;
    assert_eq!(node_ids(&data(&all)["testSuites"]).len(), 3);
    assert_eq!(few, many);
}

#[tokio::test]
async fn a_page_with_its_total_is_one_statement_and_an_empty_page_still_counts() {
    let app = spawn_app().await;
    seed(&app, 30).await;
    warm_up(&app).await;
    let query = "query($after: String) { testCases(first: 25, after: $after) {
        totalCount pageInfo { endCursor hasNextPage } edges { node { id } } } }";
    // the security settings and the page, which carries the total
    let (first, statements) = measure(&app, query, json!({})).await;
    assert_eq!(data(&first)["testCases"]["totalCount"], 30, "{first}");
    assert_eq!(statements, 2, "{first}");
    let (rest, _) = measure(
        &app,
        query,
        json!({ "after": data(&first)["testCases"]["pageInfo"]["endCursor"] }),
    )
    .await;
    assert_eq!(node_ids(&data(&rest)["testCases"]).len(), 5);
    assert_eq!(data(&rest)["testCases"]["totalCount"], 30);
    // past the end the page is empty; the total is counted on its own
    let (empty, statements) = measure(
        &app,
        query,
        json!({ "after": data(&rest)["testCases"]["pageInfo"]["endCursor"] }),
    )
    .await;
    assert_eq!(node_ids(&data(&empty)["testCases"]).len(), 0, "{empty}");
    assert_eq!(data(&empty)["testCases"]["totalCount"], 30, "{empty}");
    assert_eq!(statements, 3, "{empty}");
}
