//! Every migration's `down` undoes its `up`.

use migration::MigratorTrait;

use crate::helpers::TestDb;

async fn user_tables(pool: &sqlx::PgPool) -> Vec<String> {
    crate::helpers::q::query_scalar(
        "SELECT c.relname::text FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
         WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p') AND NOT c.relispartition
           AND c.relname <> 'seaql_migrations' ORDER BY 1",
    )
    .fetch_all(pool)
    .await
    .expect("tables")
}

async fn functions(pool: &sqlx::PgPool) -> Vec<String> {
    crate::helpers::q::query_scalar(
        "SELECT p.proname::text FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace WHERE n.nspname = 'public' ORDER BY 1",
    )
    .fetch_all(pool)
    .await
    .expect("functions")
}

#[tokio::test]
async fn migrations_up_down_up_leave_the_same_schema() {
    let db = TestDb::new().await;
    let pool = db.pool().await;
    let conn = db.sea().await;
    let tables = user_tables(&pool).await;
    assert_eq!(
        tables,
        [
            "api_tokens",
            "artifact_blobs",
            "audit_log",
            "configurations",
            "failure_group_cases",
            "failure_group_pending",
            "failure_group_runs",
            "failure_groups",
            "project_members",
            "projects",
            "server_secrets",
            "test_artifacts",
            "test_artifacts_archive",
            "test_case_aliases",
            "test_case_flakiness",
            "test_case_flakiness_pending",
            "test_case_quarantines",
            "test_cases",
            "test_executions",
            "test_executions_archive",
            "test_result_reports",
            "test_result_reports_archive",
            "test_runs",
            "test_step_executions",
            "test_step_executions_archive",
            "test_steps",
            "test_suite_test_cases",
            "test_suites",
            "webhook_deliveries",
            "webhook_delivery_attempts",
            "webhooks",
        ]
    );
    let schema_before: Vec<String> = crate::helpers::q::query_scalar(
        "SELECT indexdef FROM pg_indexes WHERE schemaname = 'public' AND tablename <> 'seaql_migrations' ORDER BY 1",
    )
    .fetch_all(&pool)
    .await
    .expect("indexes");

    migration::Migrator::down(&conn, None).await.expect("down");
    assert!(
        user_tables(&pool).await.is_empty(),
        "tables left after down"
    );
    assert!(
        functions(&pool).await.is_empty(),
        "functions left after down"
    );
    let policies: i64 = crate::helpers::q::query_scalar("SELECT count(*) FROM pg_policies")
        .fetch_one(&pool)
        .await
        .expect("policies");
    assert_eq!(policies, 0);

    migration::Migrator::up(&conn, None)
        .await
        .expect("up again");
    assert_eq!(user_tables(&pool).await, tables);
    let schema_after: Vec<String> = crate::helpers::q::query_scalar(
        "SELECT indexdef FROM pg_indexes WHERE schemaname = 'public' AND tablename <> 'seaql_migrations' ORDER BY 1",
    )
    .fetch_all(&pool)
    .await
    .expect("indexes");
    assert_eq!(schema_before, schema_after);
    let pending = migration::Migrator::get_pending_migrations(&conn)
        .await
        .expect("pending");
    assert!(pending.is_empty());
}

#[tokio::test]
async fn rls_policies_of_the_spec_exist_for_the_application_role() {
    let db = TestDb::new().await;
    let pool = db.pool().await;
    let rows: Vec<(String, String)> = crate::helpers::q::query_as(
        "SELECT tablename::text, policyname::text FROM pg_policies WHERE 'application_users' = ANY(roles) ORDER BY 1",
    )
    .fetch_all(&pool)
    .await
    .expect("policies");
    for spec_policy in [
        ("test_cases", "test_case_access_policy"),
        ("test_executions", "test_execution_access_policy"),
    ] {
        assert!(
            rows.contains(&(spec_policy.0.to_owned(), spec_policy.1.to_owned())),
            "missing {spec_policy:?} in {rows:?}"
        );
    }
    // every table has row-level security on
    let unprotected: Vec<String> = crate::helpers::q::query_scalar(
        "SELECT relname::text FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
         WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p') AND NOT c.relispartition
           AND NOT c.relrowsecurity
           AND relname <> 'seaql_migrations' ORDER BY 1",
    )
    .fetch_all(&pool)
    .await
    .expect("tables");
    assert!(
        unprotected.is_empty(),
        "tables without RLS: {unprotected:?}"
    );
    // the policy applies to the role: a member sees only what they author
    let mut tx = pool.begin().await.expect("begin");
    crate::helpers::q::query(
        "INSERT INTO test_cases(name, author) VALUES ('mine', 'alice'), ('theirs', 'bob')",
    )
    .execute(&mut *tx)
    .await
    .expect("seed");
    crate::helpers::q::query(
        "SELECT app_begin_request('alice', 'member', 'application_users', NULL, NULL, '15s')",
    )
    .execute(&mut *tx)
    .await
    .expect("identity");
    let visible: Vec<String> =
        crate::helpers::q::query_scalar("SELECT name::text FROM test_cases ORDER BY 1")
            .fetch_all(&mut *tx)
            .await
            .expect("select");
    assert_eq!(visible, vec!["mine".to_owned()]);
    // claiming the admin role in the settings is not enough: the database role decides
    crate::helpers::q::query("SELECT set_config('app.user_roles', 'admin', true)")
        .execute(&mut *tx)
        .await
        .expect("admin");
    let visible: i64 = crate::helpers::q::query_scalar("SELECT count(*) FROM test_cases")
        .fetch_one(&mut *tx)
        .await
        .expect("count");
    assert_eq!(visible, 1);
    crate::helpers::q::query("SET LOCAL ROLE application_admins")
        .execute(&mut *tx)
        .await
        .expect("admin role");
    let visible: i64 = crate::helpers::q::query_scalar("SELECT count(*) FROM test_cases")
        .fetch_one(&mut *tx)
        .await
        .expect("count");
    assert_eq!(visible, 2);
    tx.rollback().await.expect("rollback");
}

/// The README's external database: an owner who is neither superuser nor `BYPASSRLS` (only
/// `CREATEROLE`) migrates an empty database and serves both roles under their policies.
#[tokio::test]
async fn an_owner_without_superuser_rights_migrates_and_serves_both_roles() {
    let db = TestDb::new().await;
    let pool = db.pool().await;
    let suffix = uuid::Uuid::new_v4().simple().to_string();
    let owner = format!("jbts_owner_{suffix}");
    let database = format!("jbts_plain_{suffix}");
    for sql in [
        format!("CREATE ROLE {owner} LOGIN CREATEROLE PASSWORD '{suffix}'"),
        format!("CREATE DATABASE {database} OWNER {owner}"),
    ] {
        crate::helpers::q::query(sql)
            .execute(&pool)
            .await
            .expect("owner setup");
    }
    // the same server, as the owner
    let url = crate::helpers::db::database_url(&db.url, &database);
    let (scheme, rest) = url.split_once("://").expect("scheme");
    let host = rest.split_once('@').map_or(rest, |(_, host)| host);
    let url = format!("{scheme}://{owner}:{suffix}@{host}");
    let conn = api::db::connect(&url, 4)
        .await
        .expect("connecting as the owner");
    migration::Migrator::up(&conn, None)
        .await
        .expect("migrating as a non-superuser");
    let app =
        api::startup::Application::build(conn.clone(), &url, "127.0.0.1:0".parse().expect("addr"))
            .await
            .expect("app");
    let addr = app.local_addr().expect("addr");
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(app.run_until(async move {
        let _ = stopped.await;
    }));
    let (_, admin) = api::auth::service::create(
        &conn,
        &api::auth::service::NewToken {
            user_id: "root",
            roles: &[api::auth::Role::Admin],
            ..Default::default()
        },
    )
    .await
    .expect("admin token");
    let (_, alice) = api::auth::service::create(
        &conn,
        &api::auth::service::NewToken {
            user_id: "alice",
            roles: &[api::auth::Role::Member],
            ..Default::default()
        },
    )
    .await
    .expect("member token");
    let client = reqwest::Client::new();
    let gql = async |token: &str, query: &str| -> serde_json::Value {
        client
            .post(format!("http://{addr}/graphql"))
            .bearer_auth(token)
            .json(&serde_json::json!({ "query": query }))
            .send()
            .await
            .expect("request")
            .json()
            .await
            .expect("json")
    };
    for (token, name) in [(&admin, "root's case"), (&alice, "alice's case")] {
        let created = gql(
            token,
            &format!("mutation {{ createTestCase(input: {{name: \"{name}\"}}) {{ id author }} }}"),
        )
        .await;
        assert!(created["errors"].is_null(), "{created}");
    }
    let count = "{ testCases { totalCount } }";
    assert_eq!(
        gql(&admin, count).await["data"]["testCases"]["totalCount"],
        2
    );
    assert_eq!(
        gql(&alice, count).await["data"]["testCases"]["totalCount"],
        1
    );
    let _ = stop.send(());
    conn.close().await.expect("close");
    for sql in [
        format!("DROP DATABASE {database} WITH (FORCE)"),
        format!("DROP OWNED BY {owner}"),
        format!("DROP ROLE {owner}"),
    ] {
        crate::helpers::q::query(sql)
            .execute(&pool)
            .await
            .expect("owner cleanup");
    }
}

/// Names of the unique indexes on `test_cases`.
async fn case_unique_indexes(pool: &sqlx::PgPool) -> Vec<String> {
    crate::helpers::q::query_scalar(
        "SELECT indexname::text FROM pg_indexes WHERE tablename = 'test_cases' AND indexname LIKE 'uq_%' ORDER BY 1",
    )
    .fetch_all(pool)
    .await
    .expect("indexes")
}

/// Erratum 11: names unique per author cannot go back to unique across authors while two
/// authors share one; `down` says so and changes nothing, and goes through once they do not.
#[tokio::test]
async fn migrating_names_back_to_unique_across_authors_while_two_share_one_then_refused_until_they_do_not()
 {
    let db = TestDb::new().await;
    let pool = db.pool().await;
    let conn = db.sea().await;
    crate::helpers::q::query(
        "INSERT INTO test_cases(name, category, author) VALUES ('login', 'auth', 'alice'), ('login', 'auth', 'bob')",
    )
    .execute(&pool)
    .await
    .expect("seed");
    // down to (and through) the migration that scoped names per author
    use migration::MigratorTrait;
    let all = migration::Migrator::migrations();
    let scoped = all
        .iter()
        .position(|m| m.name() == "m20261201_000013_scope_case_names_to_their_author")
        .expect("the migration");
    let later = (all.len() - scoped - 1) as u32;
    if later > 0 {
        migration::Migrator::down(&conn, Some(later))
            .await
            .expect("the later migrations down");
    }
    let err = migration::Migrator::down(&conn, Some(1))
        .await
        .expect_err("down with a shared name");
    assert!(
        err.to_string().contains("uq_test_cases_name_category"),
        "{err}"
    );
    assert_eq!(
        case_unique_indexes(&pool).await,
        ["uq_test_cases_name_category_author"]
    );
    crate::helpers::q::query("UPDATE test_cases SET status = 'archived' WHERE author = 'bob'")
        .execute(&pool)
        .await
        .expect("archiving one");
    migration::Migrator::down(&conn, Some(1))
        .await
        .expect("down once no name is shared");
    assert_eq!(
        case_unique_indexes(&pool).await,
        ["uq_test_cases_name_category"]
    );
    migration::Migrator::up(&conn, None)
        .await
        .expect("up again");
    assert_eq!(
        case_unique_indexes(&pool).await,
        [
            "uq_test_cases_identity_key_author",
            "uq_test_cases_name_category_author",
            "uq_test_cases_project_identity_key",
            "uq_test_cases_project_name_category"
        ]
    );
    let _ = conn.close().await;
}
