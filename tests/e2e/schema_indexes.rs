//! The spec's "Primary Query Patterns" and JSONB containment queries are served by the
//! intended indexes once the tables hold data and statistics.

use sqlx::PgPool;
use uuid::Uuid;

use crate::helpers::TestDb;

/// Cases seeded: enough that a sequential scan is not the planner's cheapest choice.
const CASES: i64 = 10_000;
/// Cases that have an execution history.
const EXECUTED_CASES: i64 = 500;
/// Executions seeded per executed case.
const EXECUTIONS_PER_CASE: i64 = 100;

async fn seed(pool: &PgPool) {
    crate::helpers::q::query(format!(
        "INSERT INTO test_cases(name, description, status, priority, category, author, tags, metadata, created_at)
         SELECT 'case ' || g,
                'verifies feature ' || g || CASE WHEN g % 97 = 0 THEN ' checkout payment flow' ELSE ' generic behaviour' END,
                (ARRAY['draft','active','archived','deprecated'])[1 + g % 4],
                (ARRAY['critical','high','medium','low'])[1 + g % 4],
                'category-' || (g % 25),
                'author-' || (g % 50),
                CASE WHEN g % 100 = 0 THEN '[\"critical\", \"smoke\"]'::jsonb ELSE '[\"regression\"]'::jsonb END,
                CASE WHEN g % 10 = 0
                     THEN jsonb_build_object('browser', CASE WHEN g % 500 = 0 THEN 'chrome' ELSE 'firefox' END)
                     ELSE '{{}}'::jsonb END
                  || jsonb_build_object('environment', jsonb_build_object('name', 'env-' || (g % 30))),
                now() - (g || ' minutes')::interval
         FROM generate_series(1, {CASES}) g"
    ))
    .execute(pool)
    .await
    .expect("seed cases");
    crate::helpers::q::query(
        "UPDATE test_cases SET category = 'authentication' WHERE category = 'category-0'",
    )
    .execute(pool)
    .await
    .expect("authentication category");
    // executed cases with a long history each, interleaved in time as nightly runs are
    crate::helpers::q::query(format!(
        "INSERT INTO test_executions(test_case_id, status, started_at, completed_at)
         SELECT c.id, 'passed', now() - ((g * {EXECUTED_CASES} + c.n) || ' minutes')::interval,
                now() - ((g * {EXECUTED_CASES} + c.n) || ' minutes')::interval + interval '1 minute'
         FROM (SELECT id, row_number() OVER (ORDER BY name) AS n FROM test_cases ORDER BY name LIMIT {EXECUTED_CASES}) c,
              generate_series(1, {EXECUTIONS_PER_CASE}) g"
    ))
    .execute(pool)
    .await
    .expect("seed executions");
    // VACUUM too: it merges the GIN indexes' pending lists (as autovacuum does), which the
    // planner otherwise prices as a scan of the whole pending list
    crate::helpers::q::query("VACUUM ANALYZE")
        .execute(pool)
        .await
        .expect("vacuum analyze");
}

async fn plan(pool: &PgPool, sql: &str) -> String {
    let rows: Vec<String> = crate::helpers::q::query_scalar(format!("EXPLAIN {sql}"))
        .fetch_all(pool)
        .await
        .expect("explain");
    rows.join("\n")
}

fn assert_uses(plan: &str, index: &str, table: &str) {
    assert!(
        plan.contains(index),
        "expected {index} in the plan:\n{plan}"
    );
    assert!(
        !plan.contains(&format!("Seq Scan on {table}")),
        "sequential scan of {table}:\n{plan}"
    );
}

#[tokio::test]
async fn spec_query_patterns_and_json_containment_use_their_indexes() {
    let db = TestDb::new().await;
    let pool = db.pool().await;
    seed(&pool).await;

    // Test case listing with filtering
    let listing = plan(
        &pool,
        "SELECT * FROM test_cases WHERE status = 'active' AND category = 'authentication' ORDER BY created_at DESC LIMIT 20",
    )
    .await;
    // either the filter's composite index, or the created_at index read in order with the
    // filter applied (cheaper while the filter matches often enough)
    let index = if listing.contains("ix_test_cases_category_status") {
        "ix_test_cases_category_status"
    } else {
        "ix_test_cases_created_at"
    };
    assert_uses(&listing, index, "test_cases");

    // Test execution history
    let case: Uuid =
        crate::helpers::q::query_scalar("SELECT id FROM test_cases WHERE name = 'case 1'")
            .fetch_one(&pool)
            .await
            .expect("a case");
    let history = plan(
        &pool,
        &format!(
            "SELECT te.*, tc.name FROM test_executions te JOIN test_cases tc ON tc.id = te.test_case_id
             WHERE te.test_case_id = '{case}' ORDER BY te.started_at DESC LIMIT 10"
        ),
    )
    .await;
    assert_uses(
        &history,
        "ix_test_executions_case_started",
        "test_executions",
    );
    assert!(
        !history.contains("Sort"),
        "history needs no sort:\n{history}"
    );

    // Search functionality: the spec's own expression
    let search = plan(
        &pool,
        "SELECT * FROM test_cases WHERE to_tsvector('english', name || ' ' || coalesce(description, '')) @@ plainto_tsquery('english', 'checkout payment')",
    )
    .await;
    assert_uses(
        &search,
        "ix_test_cases_search_name_description",
        "test_cases",
    );

    // ... and the expression of the spec's index, which the API searches through
    let search_api = plan(
        &pool,
        "SELECT * FROM test_cases WHERE to_tsvector('english', coalesce(name, '') || ' ' || coalesce(description, '')) @@ websearch_to_tsquery('english', 'checkout -refund')",
    )
    .await;
    assert_uses(&search_api, "ix_test_cases_search ", "test_cases");

    // JSON Query Optimization
    let tags = plan(
        &pool,
        "SELECT * FROM test_cases WHERE tags @> '[\"critical\"]'::jsonb",
    )
    .await;
    assert_uses(&tags, "ix_test_cases_tags_gin", "test_cases");
    let any_tag = plan(
        &pool,
        "SELECT * FROM test_cases WHERE tags ?| array['critical', 'flaky']",
    )
    .await;
    assert_uses(&any_tag, "ix_test_cases_tags_gin", "test_cases");
    let metadata = plan(
        &pool,
        "SELECT * FROM test_cases WHERE metadata @> '{\"browser\": \"chrome\"}'::jsonb",
    )
    .await;
    assert_uses(&metadata, "ix_test_cases_metadata_gin", "test_cases");
}

#[tokio::test]
async fn search_under_row_level_security_is_served_by_the_index() {
    let db = TestDb::new().await;
    let pool = db.pool().await;
    seed(&pool).await;
    let mut tx = pool.begin().await.expect("begin");
    crate::helpers::q::query(
        "SELECT app_begin_request('author-1', 'member', 'application_users', NULL, NULL, '15s')",
    )
    .execute(&mut *tx)
    .await
    .expect("identity");
    let rows: Vec<String> = crate::helpers::q::query_scalar(
        "EXPLAIN SELECT * FROM test_cases WHERE test_cases.id IN (SELECT id FROM search_test_cases('checkout payment'))",
    )
    .fetch_all(&mut *tx)
    .await
    .expect("explain");
    let plan = rows.join("\n");
    assert!(plan.contains("search_test_cases"), "{plan}");
    assert!(!plan.contains("Seq Scan on test_cases"), "{plan}");
    // and what a member finds is only theirs
    let found: Vec<String> = crate::helpers::q::query_scalar(
        "SELECT author::text FROM test_cases WHERE test_cases.id IN (SELECT id FROM search_test_cases('checkout payment'))",
    )
    .fetch_all(&mut *tx)
    .await
    .expect("search");
    assert!(found.iter().all(|a| a == "author-1"), "{found:?}");
    let _ = tx.rollback().await;
}

/// The plan of `sql` run inside a request's security context as `user` with `roles`.
async fn plan_as(pool: &PgPool, user: &str, admin: bool, sql: &str) -> String {
    let mut tx = pool.begin().await.expect("begin");
    let identity = api::auth::Identity::unscoped(
        user,
        vec![if admin {
            api::auth::Role::Admin
        } else {
            api::auth::Role::Member
        }],
    );
    crate::helpers::q::query("SELECT app_begin_request($1, $2, $3, NULL, NULL, '15s')")
        .bind(user)
        .bind(if admin { "admin" } else { "member" })
        .bind(api::auth::context::request_role(&identity))
        .execute(&mut *tx)
        .await
        .expect("identity");
    let rows: Vec<String> = crate::helpers::q::query_scalar(format!("EXPLAIN {sql}"))
        .fetch_all(&mut *tx)
        .await
        .expect("explain");
    let _ = tx.rollback().await;
    rows.join("\n")
}

#[tokio::test]
async fn each_role_gets_the_plan_of_its_own_rule() {
    let db = TestDb::new().await;
    let pool = db.pool().await;
    seed(&pool).await;
    let count = "SELECT count(*) FROM test_cases WHERE status = 'active' AND priority IN ('high', 'critical')";
    let owner: Vec<String> = crate::helpers::q::query_scalar(format!("EXPLAIN {count}"))
        .fetch_all(&pool)
        .await
        .expect("explain");
    let owner = owner.join("\n");
    assert!(owner.contains("Index Only Scan"), "{owner}");
    // an admin's statement is planned as the owner's: no policy filter left
    let admin = plan_as(&pool, "root", true, count).await;
    assert_eq!(admin, owner);
    // a member's policy is an index condition on the author, not a filter over every row
    let member = plan_as(&pool, "author-7", false, count).await;
    assert!(member.contains("ix_test_cases_author"), "{member}");
    assert!(!member.contains("app_is_admin"), "{member}");
    // and the executions of a member's cases are found from the case side
    let executions = plan_as(
        &pool,
        "author-7",
        false,
        "SELECT count(*) FROM test_executions",
    )
    .await;
    assert!(!executions.contains("app_is_admin"), "{executions}");
}
