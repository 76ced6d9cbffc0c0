//! Search over test cases, as you type: web-search syntax (phrases, OR, exclusions), every
//! word a prefix, names found by a similar spelling after every full-text match, ranking by
//! relevance, HTML-escaped `<mark>` snippets of name and description apart and ranks on each
//! edge, RELEVANCE only with a search, hostile text never a 500, plans served by the indexes.

use api::auth::Role;
use api::catalog::service::cases::search;
use serde_json::{Value, json};
use sqlx::{Connection, PgPool};

use crate::catalog_case_queries::LIST;
use crate::helpers::app::TestApp;
use crate::helpers::catalog::{assert_bad_input, data, first_error, node_strings, post};
use crate::helpers::{TestDb, spawn_app};

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

/// A search's hits with their snippets, rank and name, a page of `first`.
const SEARCH_HITS: &str = "query($s: String, $first: Int, $after: String) {
  testCases(filter: { search: $s }, first: $first, after: $after) {
    totalCount
    edges { cursor rank snippet nameSnippet descriptionSnippet node { name } }
    pageInfo { hasNextPage endCursor }
  }
}";

/// The edges of a search's first page (of 100).
async fn hits(app: &TestApp, text: &str) -> Vec<Value> {
    let body = app
        .gql(SEARCH_HITS, json!({ "s": text, "first": 100 }))
        .await;
    data(&body)["testCases"]["edges"]
        .as_array()
        .expect("edges")
        .clone()
}

fn names(edges: &[Value]) -> Vec<String> {
    edges
        .iter()
        .map(|e| e["node"]["name"].as_str().expect("a name").to_owned())
        .collect()
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

#[tokio::test]
async fn search_with_the_start_of_a_word_then_cases_with_a_word_so_begun() {
    let app = spawn_app().await;
    seed_search(&app).await;
    for (text, expected) in [
        ("check", vec!["Checkout"]),
        ("CHEC", vec!["Checkout"]),
        (
            "passw",
            vec![
                "Login with invalid password",
                "Login with valid password",
                "Password reset",
            ],
        ),
        ("login val", vec!["Login with valid password"]),
        ("cred car", vec!["Checkout"]),
        ("\"credit card\" pay", vec!["Checkout"]),
        ("check:*", vec!["Checkout"]),
    ] {
        let conn = search(&app, text).await;
        assert_eq!(
            sorted(node_strings(&conn, "name")),
            expected,
            "search {text}"
        );
    }
}

#[tokio::test]
async fn search_with_a_misspelt_word_of_a_name_then_the_case_is_found_with_its_other_terms() {
    let app = spawn_app().await;
    seed_search(&app).await;
    for (text, expected) in [
        ("chekout", vec!["Checkout"]),
        // the other words by the full text, as prefixes
        ("chekout card", vec!["Checkout"]),
        ("chekout \"credit card\"", vec!["Checkout"]),
        ("pasword reset", vec!["Password reset"]),
        ("chekout or nothing-here", vec!["Checkout"]),
        // every term still counts, exclusions too
        ("chekout \"debit card\"", vec![]),
        ("chekout -credit", vec![]),
        ("chekout voucher", vec![]),
    ] {
        let conn = search(&app, text).await;
        assert_eq!(
            sorted(node_strings(&conn, "name")),
            expected,
            "search {text}"
        );
        assert_eq!(conn["totalCount"], json!(expected.len()), "search {text}");
    }
    let edges = hits(&app, "chekout").await;
    let rank = edges[0]["rank"].as_f64().expect("a rank");
    assert!(rank < 0.0, "found by spelling only, ranked below 0: {rank}");
    assert_eq!(edges[0]["nameSnippet"], "Checkout", "nothing marked");
}

/// Cases "chekout" finds by their full text (name or description) and by the spelling of
/// their name only.
async fn seed_misspellings(app: &TestApp) {
    let pool = app.db.pool().await;
    crate::helpers::q::query(
        "INSERT INTO test_cases(name, description) VALUES
         ('Checkout', 'Pays with a credit card'),
         ('Checkout by voucher', 'Chekout misspelt in the description, chekout twice'),
         ('Chekout misspelt in the name', NULL),
         ('Check out later', 'Leaves the cart'),
         ('Checkout and payment', 'Pays by transfer'),
         ('Login', 'Signs in')",
    )
    .execute(&pool)
    .await
    .expect("seeding misspellings");
}

#[tokio::test]
async fn search_then_full_text_matches_before_cases_found_by_spelling_and_pages_keep_that_order() {
    let app = spawn_app().await;
    seed_misspellings(&app).await;
    let edges = hits(&app, "chekout").await;
    let ranks: Vec<f64> = edges
        .iter()
        .map(|e| e["rank"].as_f64().expect("a rank"))
        .collect();
    assert!(
        ranks.windows(2).all(|w| w[0] >= w[1]),
        "not by relevance: {ranks:?}"
    );
    let (full_text, by_spelling): (Vec<&Value>, Vec<&Value>) = edges
        .iter()
        .partition(|e| e["rank"].as_f64().unwrap_or(-1.0) >= 0.0);
    let full_text = sorted(names(&full_text.into_iter().cloned().collect::<Vec<_>>()));
    let by_spelling = sorted(names(&by_spelling.into_iter().cloned().collect::<Vec<_>>()));
    assert_eq!(
        full_text,
        ["Checkout by voucher", "Chekout misspelt in the name"]
    );
    assert_eq!(by_spelling, ["Checkout", "Checkout and payment"]);
    // a page at a time, across the ranks of both kinds, the same cases in the same order
    let mut walked = Vec::new();
    let mut after = Value::Null;
    loop {
        let body = app
            .gql(
                SEARCH_HITS,
                json!({ "s": "chekout", "first": 1, "after": after }),
            )
            .await;
        let conn = &data(&body)["testCases"];
        walked.extend(names(conn["edges"].as_array().expect("edges")));
        if conn["pageInfo"]["hasNextPage"] != json!(true) {
            break;
        }
        after = conn["pageInfo"]["endCursor"].clone();
        assert!(walked.len() <= edges.len(), "the walk does not end");
    }
    assert_eq!(walked, names(&edges));
}

#[tokio::test]
async fn search_the_full_text_finds_often_then_no_spellings_looked_up_until_it_finds_fewer() {
    let app = spawn_app().await;
    let pool = app.db.pool().await;
    crate::helpers::q::query(
        "INSERT INTO test_cases(name) SELECT 'Checkout flow ' || i FROM generate_series(1, $1) i
         UNION ALL SELECT 'Chekout page'",
    )
    .bind(search::SPELLING_BELOW)
    .execute(&pool)
    .await
    .expect("seeding");
    let conn = search(&app, "checkout").await;
    assert_eq!(conn["totalCount"], json!(search::SPELLING_BELOW), "{conn}");
    assert!(!node_strings(&conn, "name").contains(&"Chekout page".to_owned()));
    crate::helpers::q::query("DELETE FROM test_cases WHERE name = 'Checkout flow 1'")
        .execute(&pool)
        .await
        .expect("one fewer");
    let edges = hits(&app, "checkout").await;
    assert_eq!(edges.len() as i64, search::SPELLING_BELOW);
    let last = edges.last().expect("a last hit");
    assert_eq!(last["node"]["name"], "Chekout page");
    assert!(last["rank"].as_f64().is_some_and(|r| r < 0.0), "{last}");
}

#[tokio::test]
async fn member_searching_by_spelling_then_only_their_own_cases() {
    let app = spawn_app().await;
    let create = "mutation($input: CreateTestCaseInput!) { createTestCase(input: $input) { id } }";
    for (user, name) in [("alice", "Checkout of alice"), ("bob", "Checkout of bob")] {
        let token = app.token(user, &[Role::Member]).await;
        let body = app
            .gql_as(&token, create, json!({ "input": { "name": name } }))
            .await;
        data(&body);
    }
    let alice = app.token("alice", &[Role::Member]).await;
    let body = app
        .gql_as(&alice, SEARCH_HITS, json!({ "s": "chekout", "first": 100 }))
        .await;
    let conn = &data(&body)["testCases"];
    assert_eq!(node_strings(conn, "name"), ["Checkout of alice"]);
    assert_eq!(conn["totalCount"], 1);
    assert_eq!(names(&hits(&app, "chekout").await).len(), 2, "the admin's");
}

#[tokio::test]
async fn search_snippets_then_name_and_description_apart_with_their_matches_marked() {
    let app = spawn_app().await;
    seed_search(&app).await;
    let pool = app.db.pool().await;
    crate::helpers::q::query(
        "INSERT INTO test_cases(name, description) VALUES ('Description left out', NULL)",
    )
    .execute(&pool)
    .await
    .expect("a case without a description");
    let edges = hits(&app, "checkout card").await;
    assert_eq!(names(&edges), ["Checkout"]);
    assert_eq!(edges[0]["nameSnippet"], "<mark>Checkout</mark>");
    assert_eq!(
        edges[0]["descriptionSnippet"],
        "Pays with a credit <mark>card</mark>"
    );
    // the one snippet of both, as before
    let both = edges[0]["snippet"].as_str().expect("a snippet");
    assert!(
        both.contains("<mark>Checkout</mark>") && both.contains("<mark>card</mark>"),
        "{both}"
    );
    let edges = hits(&app, "reset").await;
    assert_eq!(edges[0]["nameSnippet"], "Password <mark>reset</mark>");
    // (a fragment of a description starts at a word that is not a stop word)
    assert_eq!(
        edges[0]["descriptionSnippet"],
        "<mark>reset</mark> link is mailed"
    );
    let edges = hits(&app, "description").await;
    assert_eq!(edges[0]["nameSnippet"], "<mark>Description</mark> left out");
    assert_eq!(edges[0]["descriptionSnippet"], Value::Null);
}

/// Checks that the snippets of `edge` (null without a search) hold no markup but `<mark>` and
/// `</mark>`.
fn markup_free(edge: &Value) {
    for field in ["snippet", "nameSnippet", "descriptionSnippet"] {
        let Some(snippet) = edge[field].as_str() else {
            continue;
        };
        let bare = snippet.replace("<mark>", "").replace("</mark>", "");
        assert!(
            !bare.contains(['<', '>', '"', '\'']),
            "{field} not escaped: {snippet}"
        );
    }
}

#[tokio::test]
async fn search_of_cases_with_html_in_their_text_then_snippets_escaped_and_nothing_dropped() {
    let app = spawn_app().await;
    let pool = app.db.pool().await;
    crate::helpers::q::query(
        "INSERT INTO test_cases(name, description) VALUES
         ('Rejects <script>alert(1)</script> & <img src=x onerror=alert(1)>',
          'Shows \"it''s <b>bold</b>\" to the user')",
    )
    .execute(&pool)
    .await
    .expect("a case with HTML");
    for text in [
        "rejects",
        "rejects bold",
        "script",
        "img onerror",
        "chekout or rejects",
    ] {
        let edges = hits(&app, text).await;
        assert_eq!(edges.len(), 1, "search {text}");
        assert!(edges[0]["nameSnippet"].is_string(), "{text}");
        assert!(edges[0]["descriptionSnippet"].is_string(), "{text}");
        markup_free(&edges[0]);
    }
    let edges = hits(&app, "rejects").await;
    assert_eq!(
        edges[0]["nameSnippet"],
        "<mark>Rejects</mark> &lt;script&gt;alert(1)&lt;/script&gt; &amp; \
         &lt;img src=x onerror=alert(1)&gt;"
    );
    let edges = hits(&app, "bold").await;
    assert_eq!(
        edges[0]["descriptionSnippet"],
        "Shows &quot;it&#39;s &lt;b&gt;<mark>bold</mark>&lt;/b&gt;&quot; to the user"
    );
    // what a name says between angle brackets is found and marked, not dropped as a tag
    let edges = hits(&app, "script").await;
    let name = edges[0]["nameSnippet"].as_str().expect("a name snippet");
    assert!(name.contains("&lt;<mark>script</mark>&gt;"), "{name}");
}

/// Searches no text should break: syntax of tsquery and of web search, quotes, backslashes,
/// SQL, NUL, scripts other than Latin, punctuation alone, nothing, and the longest allowed.
fn hostile_texts() -> Vec<String> {
    let mut texts: Vec<String> = [
        "'",
        "''",
        "\"",
        "\"\"",
        "\"\"\"",
        "\\",
        "\\\\",
        "\\'",
        "'\\",
        ":*",
        "check:*",
        "check:*A",
        ":",
        "*",
        "&|!()",
        "a & b | !c",
        "!check",
        "!!",
        "(check",
        "check)",
        "((((",
        "<->",
        "<2>",
        "check <-> out",
        "check<->out",
        "-",
        "--check",
        "- -",
        "-\"\"",
        "or",
        "OR OR",
        "-or",
        "check or",
        "or check",
        "' OR 1=1 --",
        "'; DROP TABLE test_cases; --",
        "$1",
        "%_",
        "\u{0}",
        "check\u{0}out",
        "\u{1F980}",
        "Prüfung",
        "テスト",
        "ü:*",
        "....",
        "!!!!!!!!!!",
        "",
        "   ",
        "\t\n",
        "the",
        "a:*",
        "'check':*",
        "\\'check\\':*",
        "check\\",
        "check'",
        "'check",
        "\"check",
        "check\"",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    let max = api::input::SEARCH_MAX;
    texts.push("chekout ".repeat(max / 8));
    texts.push("&|!():*'\\\"".repeat(max / 10));
    texts.push("a".repeat(max));
    texts.push(format!("\"{}", "x ".repeat(max / 2 - 1)));
    texts
}

#[tokio::test]
async fn hostile_search_text_then_results_or_a_coded_error_never_a_500() {
    let app = spawn_app().await;
    seed_search(&app).await;
    for text in hostile_texts() {
        let (status, body) = post(&app, SEARCH_HITS, json!({ "s": text, "first": 100 })).await;
        assert_eq!(status, reqwest::StatusCode::OK, "{text:?}: {body}");
        let conn = &data(&body)["testCases"];
        for edge in conn["edges"].as_array().expect("edges") {
            markup_free(edge);
        }
    }
    // syntax inside a word is text: the word is still searched
    for text in ["check:*", "(check", "check)", "!check", "check\\"] {
        let conn = search(&app, text).await;
        assert_eq!(node_strings(&conn, "name"), ["Checkout"], "search {text:?}");
    }
    // one character too many, of syntax alone: refused as such, naming the field
    let text = "&".repeat(api::input::SEARCH_MAX + 1);
    let (status, body) = post(&app, SEARCH_HITS, json!({ "s": text })).await;
    assert_eq!(status, reqwest::StatusCode::OK, "{body}");
    assert_bad_input(&body, "filter.search");
    assert!(first_error(&body)["message"].is_string());
}

/// Every text made of up to three of these pieces, for the tsquery check.
const PIECES: &[&str] = &[
    "a", "check", "the", "'", "\"", "\\", "-", ":", "*", ":*", "&", "|", "!", "(", ")", "<", ">",
    "<->", "or", "OR", " ", "é", "\u{0}", "1", "_", "x.y", "a-b", "@",
];

#[tokio::test]
async fn every_search_text_then_tsqueries_postgresql_accepts() {
    let db = TestDb::new().await;
    let pool = db.pool().await;
    let mut texts: Vec<String> = hostile_texts();
    for a in PIECES {
        for b in PIECES {
            texts.push(format!("{a}{b}"));
            for c in PIECES {
                texts.push(format!("{a}{b}{c}"));
            }
        }
    }
    let mut queries = Vec::new();
    for text in &texts {
        let parsed = search::parse(text);
        queries.push(parsed.query);
        queries.extend(parsed.terms.into_iter().map(|t| t.query));
        queries.extend(parsed.excluded);
    }
    let mut tx = pool.begin().await.expect("begin");
    // to_tsquery notices every query of stop words alone
    crate::helpers::q::query("SET LOCAL client_min_messages = warning")
        .execute(&mut *tx)
        .await
        .expect("quiet");
    let parsed: i64 = crate::helpers::q::query_scalar(
        "SELECT count(numnode(to_tsquery('english', q))) FROM unnest($1::text[]) AS q",
    )
    .bind(&queries)
    .fetch_one(&mut *tx)
    .await
    .expect("every query accepted");
    assert_eq!(parsed, queries.len() as i64);
}

/// Cases seeded for plans: enough that a sequential scan is not the planner's cheapest choice.
const PLAN_CASES: i64 = 10_000;

async fn seed_for_plans(pool: &PgPool) {
    crate::helpers::q::query(format!(
        "INSERT INTO test_cases(name, description, author)
         SELECT 'case ' || g || CASE WHEN g % 97 = 0 THEN ' checkout payment'
                                     WHEN g % 13 = 0 THEN ' login page' ELSE '' END,
                'verifies feature ' || g || CASE WHEN g % 89 = 0 THEN ' refund flow' ELSE ' generic behaviour' END,
                'author-' || (g % 50)
         FROM generate_series(1, {PLAN_CASES}) g"
    ))
    .execute(pool)
    .await
    .expect("seed cases");
    // VACUUM merges the GIN indexes' pending lists, as autovacuum does
    crate::helpers::q::query("VACUUM ANALYZE test_cases")
        .execute(pool)
        .await
        .expect("vacuum analyze");
}

/// `body` with each of `names` as a whole word written `$1`, `$2`, ...
fn numbered(body: &str, names: &[&str]) -> String {
    let mut out = String::new();
    let mut word = String::new();
    for c in body.chars().chain([' ']) {
        if c.is_alphanumeric() || c == '_' {
            word.push(c);
            continue;
        }
        match names.iter().position(|n| *n == word) {
            Some(i) => out.push_str(&format!("${}", i + 1)),
            None => out.push_str(&word),
        }
        word.clear();
        out.push(c);
    }
    out.pop();
    out
}

/// `text` as an SQL string literal.
fn literal(text: &str) -> String {
    format!("'{}'", text.replace('\'', "''"))
}

/// Starts a request's security context for `user` with `role` in the transaction on `conn`.
async fn as_user(conn: &mut sqlx::PgConnection, user: &str, role: Role) {
    let identity = api::auth::Identity::unscoped(user, vec![role]);
    crate::helpers::q::query("BEGIN")
        .execute(&mut *conn)
        .await
        .expect("begin");
    crate::helpers::q::query("SELECT app_begin_request($1, $2, $3, NULL, NULL, '15s')")
        .bind(user)
        .bind(if role == Role::Admin {
            "admin"
        } else {
            "member"
        })
        .bind(api::auth::context::request_role(&identity))
        .execute(&mut *conn)
        .await
        .expect("identity");
}

/// The plan of the body of search function `function` (parameters `names` of `types`), as
/// the function runs it (planned once, for any parameters), for `arguments`, by `user` with
/// `role` (the owner without).
async fn body_plan(
    db: &TestDb,
    who: Option<(&str, Role)>,
    function: &str,
    names: &[&str],
    types: &str,
    arguments: &str,
) -> String {
    let mut conn = sqlx::PgConnection::connect(&db.url)
        .await
        .expect("a connection");
    let body: String =
        crate::helpers::q::query_scalar("SELECT prosrc FROM pg_proc WHERE proname = $1")
            .bind(function)
            .fetch_one(&mut conn)
            .await
            .expect("the search function");
    if let Some((user, role)) = who {
        as_user(&mut conn, user, role).await;
    }
    for statement in [
        format!("PREPARE body({types}) AS {}", numbered(&body, names)),
        "SET plan_cache_mode = force_generic_plan".to_owned(),
    ] {
        crate::helpers::q::query(statement)
            .execute(&mut conn)
            .await
            .expect("prepare");
    }
    let plan: Vec<String> =
        crate::helpers::q::query_scalar(format!("EXPLAIN EXECUTE body({arguments})"))
            .fetch_all(&mut conn)
            .await
            .expect("explain");
    plan.join("\n")
}

/// The plan of the API's statement for search `text` by `user` with `role`: the first page of
/// cases by relevance.
async fn api_plan(db: &TestDb, user: &str, role: Role, text: &str) -> String {
    use sea_orm::{ConnectionTrait, TransactionTrait};
    let sea = db.sea().await;
    let identity = api::auth::Identity::unscoped(user, vec![role]);
    let tx = sea.begin().await.expect("begin");
    let mut sql = api::sql::Sql::default();
    let (user, roles, role_name) = (
        sql.bind(user),
        sql.bind(if role == Role::Admin {
            "admin"
        } else {
            "member"
        }),
        sql.bind(api::auth::context::request_role(&identity)),
    );
    tx.execute_raw(sql.statement(format!(
        "SELECT app_begin_request({user}, {roles}, {role_name}, NULL, NULL, '15s')"
    )))
    .await
    .expect("identity");
    let mut sql = api::sql::Sql::default();
    let found = search::bind(text, &mut sql);
    let rows = tx
        .query_all_raw(sql.statement(format!(
            "EXPLAIN SELECT test_cases.*, {} AS rank FROM test_cases WHERE {} \
             ORDER BY rank DESC LIMIT 21",
            found.relevance, found.condition
        )))
        .await
        .expect("explain");
    let _ = tx.rollback().await;
    rows.iter()
        .map(|r| r.try_get::<String>("", "QUERY PLAN").expect("a line"))
        .collect::<Vec<_>>()
        .join("\n")
}

/// The searches whose plans are checked: a word being typed, a misspelt one with another being
/// typed and an exclusion, a phrase and an OR.
const PLANNED: &[&str] = &["check", "chekout pay -refund", "login \"page\" or paymnt"];

#[tokio::test]
async fn search_plans_with_prefixes_and_spellings_then_served_by_the_indexes() {
    let db = TestDb::new().await;
    let pool = db.pool().await;
    seed_for_plans(&pool).await;
    let tsquery = |q: &str| format!("to_tsquery('english', {})", literal(q));
    for text in PLANNED {
        let parsed = search::parse(text);
        // the full text, as the tables' owner
        let plan = body_plan(
            &db,
            None,
            "search_test_cases_by_tsquery",
            &["query"],
            "tsquery",
            &tsquery(&parsed.query),
        )
        .await;
        assert!(plan.contains("ix_test_cases_search "), "{text}:\n{plan}");
        assert!(!plan.contains("Seq Scan"), "{text}:\n{plan}");
        // spellings, as the caller: an admin's through the trigram index, a member's among
        // their own cases
        let list = |item: &dyn Fn(&search::GroupTerm) -> String| {
            parsed.terms.iter().map(item).collect::<Vec<_>>().join(", ")
        };
        let arguments = format!(
            "{}, ARRAY[{}]::int[], ARRAY[{}]::tsquery[], ARRAY[{}]::text[], {}, {}",
            tsquery(&parsed.query),
            list(&|t| t.group.to_string()),
            list(&|t| tsquery(&t.query)),
            list(&|t| literal(&t.spelling)),
            parsed
                .excluded
                .as_deref()
                .map_or("NULL".to_owned(), tsquery),
            search::SPELLING_BELOW,
        );
        for (who, index) in [
            (("root", Role::Admin), "ix_test_cases_name_trgm"),
            (("author-1", Role::Member), "ix_test_cases_author"),
        ] {
            let plan = body_plan(
                &db,
                Some(who),
                "search_test_cases_by_spelling",
                &[
                    "query",
                    "term_groups",
                    "term_queries",
                    "term_spellings",
                    "excluded",
                    "few",
                ],
                "tsquery, int[], tsquery[], text[], tsquery, bigint",
                &arguments,
            )
            .await;
            assert!(plan.contains(index), "{text}, {who:?}:\n{plan}");
            assert!(
                !plan.contains("Seq Scan on test_cases"),
                "{text}, {who:?}:\n{plan}"
            );
        }
        // the API's statement: the cases by their ids
        for (user, role) in [("root", Role::Admin), ("author-1", Role::Member)] {
            let plan = api_plan(&db, user, role, text).await;
            assert!(plan.contains("search_test_cases_by_tsquery"), "{plan}");
            assert!(!plan.contains("Seq Scan on test_cases"), "{text}:\n{plan}");
        }
    }
}
