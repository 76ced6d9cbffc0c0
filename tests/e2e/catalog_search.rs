//! Full-text search over test cases: web-search syntax (phrases, OR, exclusions), ranking by
//! relevance, `<mark>` snippets and ranks on each edge, RELEVANCE only with a search.

use serde_json::{Value, json};

use crate::catalog_case_queries::LIST;
use crate::helpers::app::TestApp;
use crate::helpers::catalog::{assert_bad_input, data, node_strings};
use crate::helpers::spawn_app;

/// Cases with searchable names and descriptions; "login" is densest in the last one.
async fn seed_search(app: &TestApp) {
    let pool = app.db.pool().await;
    crate::helpers::q::query(
        "INSERT INTO test_cases(name, description, priority) VALUES
         ('Login with valid password', 'The user signs in with a valid password', 'low'),
         ('Login with invalid password', 'An error message is shown', 'high'),
         ('Checkout', 'Pays with a credit card', 'medium'),
         ('Password reset', 'A reset link is mailed', 'critical'),
         ('Login login login', 'login again, login once more', 'medium')",
    )
    .execute(&pool)
    .await
    .expect("seeding search cases");
}

async fn search(app: &TestApp, text: &str) -> Value {
    let body = app.gql(LIST, json!({ "filter": { "search": text } })).await;
    data(&body)["testCases"].clone()
}

fn sorted(mut names: Vec<String>) -> Vec<String> {
    names.sort();
    names
}

#[tokio::test]
async fn search_with_web_search_syntax_then_phrases_or_and_exclusions_apply() {
    let app = spawn_app().await;
    seed_search(&app).await;
    for (text, expected) in [
        (
            "login",
            vec![
                "Login login login",
                "Login with invalid password",
                "Login with valid password",
            ],
        ),
        ("\"valid password\"", vec!["Login with valid password"]),
        ("checkout OR reset", vec!["Checkout", "Password reset"]),
        (
            "password -invalid",
            vec!["Login with valid password", "Password reset"],
        ),
        ("credit card", vec!["Checkout"]),
        ("nothing-matches-this", vec![]),
    ] {
        let conn = search(&app, text).await;
        assert_eq!(
            sorted(node_strings(&conn, "name")),
            expected,
            "search {text}"
        );
        assert_eq!(conn["totalCount"], json!(expected.len()), "search {text}");
    }
}

#[tokio::test]
async fn search_without_an_order_then_ranked_by_relevance_with_snippets() {
    let app = spawn_app().await;
    seed_search(&app).await;
    let conn = search(&app, "login").await;
    let edges = conn["edges"].as_array().expect("edges");
    assert_eq!(edges[0]["node"]["name"], "Login login login", "{conn}");
    let ranks: Vec<f64> = edges
        .iter()
        .map(|e| e["rank"].as_f64().expect("a rank on every edge"))
        .collect();
    assert!(
        ranks.windows(2).all(|w| w[0] >= w[1]),
        "not by relevance: {ranks:?}"
    );
    assert!(
        ranks[0] > ranks[ranks.len() - 1],
        "ranks do not differ: {ranks:?}"
    );
    for edge in edges {
        let snippet = edge["snippet"].as_str().expect("a snippet on every edge");
        assert!(snippet.contains("<mark>"), "no <mark> in {snippet}");
        assert!(
            snippet.to_lowercase().contains("<mark>login</mark>"),
            "{snippet}"
        );
    }
}

#[tokio::test]
async fn search_with_an_explicit_order_then_that_order_is_used() {
    let app = spawn_app().await;
    seed_search(&app).await;
    let body = app
        .gql(
            LIST,
            json!({ "filter": { "search": "login" }, "orderBy": { "field": "NAME", "direction": "ASC" } }),
        )
        .await;
    let conn = &data(&body)["testCases"];
    assert_eq!(
        node_strings(conn, "name"),
        [
            "Login login login",
            "Login with invalid password",
            "Login with valid password"
        ]
    );
    assert!(
        conn["edges"][0]["rank"].is_f64(),
        "rank still given: {conn}"
    );
}

#[tokio::test]
async fn test_cases_without_a_search_then_no_snippet_or_rank() {
    let app = spawn_app().await;
    seed_search(&app).await;
    let body = app.gql(LIST, json!({})).await;
    for edge in data(&body)["testCases"]["edges"].as_array().expect("edges") {
        assert_eq!(edge["snippet"], Value::Null);
        assert_eq!(edge["rank"], Value::Null);
    }
}

#[tokio::test]
async fn order_by_relevance_without_a_search_then_bad_user_input() {
    let app = spawn_app().await;
    seed_search(&app).await;
    for filter in [
        json!(null),
        json!({ "search": "   " }),
        json!({ "status": ["DRAFT"] }),
    ] {
        let body = app
            .gql(
                LIST,
                json!({ "filter": filter, "orderBy": { "field": "RELEVANCE" } }),
            )
            .await;
        assert_bad_input(&body, "orderBy");
    }
}
