//! The audit trail over the API, its monthly partitions, and lossless archival.

use api::auth::Role;
use serde_json::json;
use uuid::Uuid;

use crate::helpers::{TestApp, spawn_app};

#[tokio::test]
async fn every_mutation_leaves_one_entry_with_the_acting_user_and_its_changed_fields() {
    let app = spawn_app().await;
    let alice = app.token("alice", &[Role::Member]).await;
    let created = app
        .gql_as(&alice, "mutation { createConfiguration(input: {name: \"chrome\", configType: BROWSER}) { id } }", json!({}))
        .await;
    let id = created["data"]["createConfiguration"]["id"]
        .as_str()
        .expect("id")
        .to_owned();
    app.gql_as(
        &alice,
        "mutation($id: UUID!) { updateConfiguration(id: $id, input: {name: \"chromium\"}) { id } }",
        json!({"id": id}),
    )
    .await;
    let body = app
        .gql_as(
            &alice,
            "query($id: UUID!) { configuration(id: $id) { history { totalCount edges { node { operation changedBy changedFields } } } } }",
            json!({"id": id}),
        )
        .await;
    let history = &body["data"]["configuration"]["history"];
    assert_eq!(history["totalCount"], 2, "{body}");
    assert_eq!(history["edges"][0]["node"]["operation"], "UPDATE");
    assert_eq!(history["edges"][0]["node"]["changedBy"], "alice");
    assert_eq!(
        history["edges"][0]["node"]["changedFields"],
        json!(["name"])
    );
    assert_eq!(history["edges"][1]["node"]["operation"], "CREATE");
    let log = app
        .gql("query { auditLog(filter: {recordType: CONFIGURATION, changedBy: \"alice\"}) { totalCount } }", json!({}))
        .await;
    assert_eq!(log["data"]["auditLog"]["totalCount"], 2, "{log}");
}

/// The keys of a JSON object.
fn keys(object: &serde_json::Value) -> Vec<String> {
    object
        .as_object()
        .map(|o| o.keys().cloned().collect())
        .unwrap_or_default()
}

#[tokio::test]
async fn a_step_changed_then_its_entry_names_the_graphql_type_operation_and_fields() {
    let app = spawn_app().await;
    let created = app
        .gql(
            "mutation { createTestCase(input: {name: \"login\", steps: [{name: \"open\", stepType: NAVIGATE}]}) { id steps { id } } }",
            json!({}),
        )
        .await;
    let case = created["data"]["createTestCase"]["id"].clone();
    let step = created["data"]["createTestCase"]["steps"][0]["id"].clone();
    let updated = app
        .gql(
            "mutation($id: UUID!) { updateTestStep(id: $id, input: {isOptional: true}) { id } }",
            json!({"id": step}),
        )
        .await;
    assert!(updated["errors"].is_null(), "{updated}");
    let entries = |operation: &str| {
        format!(
            "{{ auditLog(filter: {{recordType: TEST_STEP, operation: {operation}}}) {{ totalCount nodes {{ recordType operation recordId changedFields oldValues newValues }} }} }}"
        )
    };
    let body = app.gql(&entries("UPDATE"), json!({})).await;
    let log = &body["data"]["auditLog"];
    assert_eq!(log["totalCount"], 1, "{body}");
    let update = &log["nodes"][0];
    assert_eq!(update["recordType"], "TEST_STEP", "{body}");
    assert_eq!(update["operation"], "UPDATE", "{body}");
    assert_eq!(update["recordId"], step, "{body}");
    assert_eq!(update["changedFields"], json!(["isOptional"]), "{body}");
    assert_eq!(update["oldValues"]["isOptional"], false, "{body}");
    assert_eq!(update["newValues"]["isOptional"], true, "{body}");
    assert_eq!(update["newValues"]["testCaseId"], case, "{body}");
    // a creation lists every field, each named as the type's field is
    let body = app.gql(&entries("CREATE"), json!({})).await;
    let create = &body["data"]["auditLog"]["nodes"][0];
    assert_eq!(create["operation"], "CREATE", "{body}");
    assert!(create["oldValues"].is_null(), "{body}");
    let fields: Vec<String> =
        serde_json::from_value(create["changedFields"].clone()).expect("changedFields");
    for field in [
        "testCaseId",
        "orderIndex",
        "stepType",
        "isOptional",
        "continueOnFailure",
    ] {
        assert!(fields.iter().any(|f| f == field), "{field} missing: {body}");
    }
    assert_eq!(fields, keys(&create["newValues"]), "{body}");
    assert!(fields.iter().all(|f| !f.contains('_')), "{body}");
}

#[tokio::test]
async fn a_case_put_in_a_suite_then_its_entry_is_a_suite_test_case_with_its_position() {
    let app = spawn_app().await;
    let case = app
        .gql(
            "mutation { createTestCase(input: {name: \"login\"}) { id } }",
            json!({}),
        )
        .await["data"]["createTestCase"]["id"]
        .clone();
    let suite = app
        .gql(
            "mutation($c: UUID!) { createTestSuite(input: {name: \"smoke\", testCaseIds: [$c]}) { id } }",
            json!({"c": case}),
        )
        .await["data"]["createTestSuite"]["id"]
        .clone();
    let body = app
        .gql(
            "{ auditLog(filter: {recordType: SUITE_TEST_CASE}) { totalCount nodes { recordId operation changedFields newValues } } }",
            json!({}),
        )
        .await;
    let log = &body["data"]["auditLog"];
    assert_eq!(log["totalCount"], 1, "{body}");
    let entry = &log["nodes"][0];
    assert_eq!(entry["recordId"], suite, "{body}");
    assert_eq!(entry["operation"], "CREATE", "{body}");
    assert_eq!(
        entry["changedFields"],
        json!(["position", "testCaseId", "testSuiteId"]),
        "{body}"
    );
    assert_eq!(entry["newValues"]["testCaseId"], case, "{body}");
    assert_eq!(entry["newValues"]["position"], 1, "{body}");
    // a case's project is its `project`
    let body = app
        .gql(
            "query($id: UUID!) { testCase(id: $id) { history { nodes { recordType changedFields } } } }",
            json!({"id": case}),
        )
        .await;
    let created = &body["data"]["testCase"]["history"]["nodes"][0];
    assert_eq!(created["recordType"], "TEST_CASE", "{body}");
    let fields = created["changedFields"].as_array().expect("changedFields");
    assert!(fields.contains(&json!("project")), "{body}");
    assert!(!fields.contains(&json!("projectId")), "{body}");
}

#[tokio::test]
async fn every_table_with_an_audit_trigger_then_has_an_audited_type() {
    let app = spawn_app().await;
    let pool = app.db.pool().await;
    let mut triggered: Vec<String> = crate::helpers::q::query_scalar(
        "SELECT DISTINCT event_object_table::text FROM information_schema.triggers
         WHERE action_statement LIKE '%audit_trigger%'",
    )
    .fetch_all(&pool)
    .await
    .expect("audit triggers");
    triggered.sort();
    let mut mapped: Vec<String> = api::audit::AuditedType::tables()
        .map(str::to_owned)
        .collect();
    mapped.sort();
    assert_eq!(mapped, triggered);
}

#[tokio::test]
async fn members_see_audit_entries_only_of_records_they_can_see() {
    let app = spawn_app().await;
    let alice = app.token("alice", &[Role::Member]).await;
    let bob = app.token("bob", &[Role::Member]).await;
    let created = app
        .gql_as(
            &alice,
            "mutation { createTestCase(input: {name: \"secret\"}) { id } }",
            json!({}),
        )
        .await;
    let id = created["data"]["createTestCase"]["id"]
        .as_str()
        .expect("id")
        .to_owned();
    let q = "query($id: UUID!) { auditLog(filter: {recordId: $id}) { totalCount edges { node { newValues } } } }";
    let mine = app.gql_as(&alice, q, json!({"id": id})).await;
    assert_eq!(mine["data"]["auditLog"]["totalCount"], 1, "{mine}");
    let theirs = app.gql_as(&bob, q, json!({"id": id})).await;
    assert_eq!(theirs["data"]["auditLog"]["totalCount"], 0, "{theirs}");
    assert_eq!(theirs["data"]["auditLog"]["edges"], json!([]));
    let admin = app.gql(q, json!({"id": id})).await;
    assert_eq!(admin["data"]["auditLog"]["totalCount"], 1);
    let bad = app
        .gql(
            "{ auditLog(filter: {recordType: API_TOKEN}) { totalCount } }",
            json!({}),
        )
        .await;
    assert_eq!(bad["errors"][0]["extensions"]["code"], "BAD_USER_INPUT");
}

#[tokio::test]
async fn audit_entries_land_in_monthly_partitions_and_never_fail_for_lack_of_one() {
    let app = spawn_app().await;
    let pool = app.db.pool().await;
    crate::helpers::q::query("INSERT INTO test_suites(name) VALUES ('partitioned')")
        .execute(&pool)
        .await
        .expect("insert");
    let partition: String = crate::helpers::q::query_scalar(
        "SELECT tableoid::regclass::text FROM audit_log WHERE table_name = 'test_suites' LIMIT 1",
    )
    .fetch_one(&pool)
    .await
    .expect("partition");
    assert_eq!(
        partition,
        format!("audit_log_{}", chrono::Utc::now().format("%Y_%m"))
    );
    // far beyond the partitions made ahead: the default partition takes it
    crate::helpers::q::query(
        "INSERT INTO audit_log(table_name, record_id, operation, changed_at) VALUES ('test_suites', gen_random_uuid(), 'INSERT', '2031-05-10')",
    )
    .execute(&pool)
    .await
    .expect("far future");
    let where_: String = crate::helpers::q::query_scalar(
        "SELECT tableoid::regclass::text FROM audit_log WHERE changed_at = '2031-05-10'",
    )
    .fetch_one(&pool)
    .await
    .expect("row");
    assert_eq!(where_, "audit_log_default");
    // maintenance creating that month moves the row into it
    crate::helpers::q::query("SELECT create_audit_partition('2031-05-01')")
        .execute(&pool)
        .await
        .expect("create");
    let where_: String = crate::helpers::q::query_scalar(
        "SELECT tableoid::regclass::text FROM audit_log WHERE changed_at = '2031-05-10'",
    )
    .fetch_one(&pool)
    .await
    .expect("row");
    assert_eq!(where_, "audit_log_2031_05");
}

/// An old, finished run with executions, step results, artifacts and a report key.
async fn old_run(app: &TestApp, days_ago: i32) -> Uuid {
    let pool = app.db.pool().await;
    let run: Uuid = crate::helpers::q::query_scalar(format!(
        "INSERT INTO test_runs(name, status, triggered_by, total_tests, passed_tests, failed_tests, started_at, completed_at)
         VALUES ('old', 'failed', 'test-admin', 3, 2, 1, now() - interval '{days_ago} days', now() - interval '{days_ago} days')
         RETURNING id"
    ))
    .fetch_one(&pool)
    .await
    .expect("run");
    crate::helpers::q::query(format!(
        "WITH c AS (INSERT INTO test_cases(name, status, author) SELECT 'archived ' || g || ' {run}', 'active', 'test-admin'
                    FROM generate_series(1, 3) g RETURNING id, name),
              s AS (INSERT INTO test_steps(test_case_id, order_index, name, step_type) SELECT id, 1, 'step', 'click' FROM c RETURNING id, test_case_id),
              e AS (INSERT INTO test_executions(test_case_id, test_run_id, status, started_at, completed_at, duration_seconds)
                    SELECT id, '{run}', CASE WHEN name LIKE 'archived 1 %' THEN 'failed' ELSE 'passed' END,
                           now() - interval '{days_ago} days', now() - interval '{days_ago} days', 5 FROM c RETURNING id, test_case_id),
              se AS (INSERT INTO test_step_executions(test_execution_id, test_step_id, status)
                     SELECT e.id, s.id, 'passed' FROM e JOIN s USING (test_case_id) RETURNING id, test_execution_id),
              a AS (INSERT INTO test_artifacts(test_execution_id, test_step_execution_id, artifact_type, file_name, file_path)
                    SELECT test_execution_id, id, 'screenshot', 's.png', '/s.png' FROM se RETURNING id)
         INSERT INTO test_result_reports(test_run_id, idempotency_key, test_execution_id)
         SELECT '{run}', 'key-' || id, id FROM e"
    ))
    .execute(&pool)
    .await
    .expect("seed");
    run
}

const TABLES: [&str; 4] = [
    "test_executions",
    "test_step_executions",
    "test_artifacts",
    "test_result_reports",
];

/// A digest of every live and archived row of the moved tables.
async fn digest(app: &TestApp) -> Vec<String> {
    let pool = app.db.pool().await;
    let mut out = Vec::new();
    for t in TABLES {
        for table in [t.to_owned(), format!("{t}_archive")] {
            let d: Option<String> = crate::helpers::q::query_scalar(format!(
                "SELECT md5(string_agg(r::text, '|' ORDER BY r::text)) FROM (SELECT * FROM {table}) r"
            ))
            .fetch_one(&pool)
            .await
            .expect("digest");
            out.push(format!("{table}:{}", d.unwrap_or_default()));
        }
    }
    out
}

async fn count(app: &TestApp, sql: &str) -> i64 {
    crate::helpers::q::query_scalar(sql.to_owned())
        .fetch_one(&app.db.pool().await)
        .await
        .expect(sql)
}

const ARCHIVE: &str = "mutation($d: Boolean!) { archiveExecutions(olderThanDays: 90, dryRun: $d) { executions stepExecutions artifacts batches } }";

#[tokio::test]
async fn archive_then_restore_round_trips_to_an_identical_database() {
    let app = spawn_app().await;
    let run = old_run(&app, 120).await;
    let recent = old_run(&app, 10).await;
    let before = digest(&app).await;
    let live_before = count(&app, "SELECT count(*) FROM test_executions").await;

    let dry = app.gql(ARCHIVE, json!({"d": true})).await;
    assert_eq!(dry["data"]["archiveExecutions"]["executions"], 3, "{dry}");
    assert_eq!(digest(&app).await, before, "a dry run changed something");

    let done = app.gql(ARCHIVE, json!({"d": false})).await;
    assert_eq!(
        done["data"]["archiveExecutions"],
        json!({"executions": 3, "stepExecutions": 3, "artifacts": 3, "batches": 1}),
        "{done}"
    );
    let live = count(&app, "SELECT count(*) FROM test_executions").await;
    let archived = count(&app, "SELECT count(*) FROM test_executions_archive").await;
    assert_eq!((live, archived), (live_before - 3, 3));
    assert_eq!(
        count(
            &app,
            &format!("SELECT count(*) FROM test_executions WHERE test_run_id = '{recent}'")
        )
        .await,
        3
    );
    // the run's counters stay truthful
    let counters = app
        .gql(
            "query($id: UUID!) { testRun(id: $id) { totalTests passedTests failedTests } }",
            json!({"id": run}),
        )
        .await;
    assert_eq!(
        counters["data"]["testRun"],
        json!({"totalTests": 3, "passedTests": 2, "failedTests": 1}),
        "{counters}"
    );
    // and a recount agrees
    crate::helpers::q::query(format!("SELECT refresh_test_run('{run}')"))
        .execute(&app.db.pool().await)
        .await
        .expect("refresh");
    let again = app
        .gql(
            "query($id: UUID!) { testRun(id: $id) { totalTests passedTests failedTests } }",
            json!({"id": run}),
        )
        .await;
    assert_eq!(again["data"]["testRun"], counters["data"]["testRun"]);
    // one ARCHIVE entry with the counts, no per-row deletes
    assert_eq!(count(&app, "SELECT count(*) FROM audit_log WHERE operation = 'ARCHIVE' AND (new_values->>'executions')::int = 3").await, 1);
    let entries = app
        .gql(
            "{ auditLog(filter: {operation: ARCHIVE}) { nodes { recordType operation newValues } } }",
            json!({}),
        )
        .await;
    let entry = &entries["data"]["auditLog"]["nodes"][0];
    assert_eq!(entry["recordType"], "TEST_EXECUTION", "{entries}");
    assert_eq!(entry["operation"], "ARCHIVE", "{entries}");
    // its counts named as `archiveExecutions` names them
    assert_eq!(entry["newValues"]["stepExecutions"], 3, "{entries}");
    assert_eq!(
        count(
            &app,
            "SELECT count(*) FROM audit_log WHERE operation = 'DELETE'"
        )
        .await,
        0
    );

    let restored = app
        .gql("mutation($r: UUID!) { restoreArchivedExecutions(runId: $r) { executions stepExecutions artifacts } }", json!({"r": run}))
        .await;
    assert_eq!(
        restored["data"]["restoreArchivedExecutions"],
        json!({"executions": 3, "stepExecutions": 3, "artifacts": 3}),
        "{restored}"
    );
    assert_eq!(
        digest(&app).await,
        before,
        "the round trip changed the data"
    );
}

#[tokio::test]
async fn pinned_runs_are_never_archived() {
    let app = spawn_app().await;
    let run = old_run(&app, 200).await;
    let pinned = app
        .gql(
            "mutation($r: UUID!) { pinTestRun(id: $r) { pinned } }",
            json!({"r": run}),
        )
        .await;
    assert_eq!(pinned["data"]["pinTestRun"]["pinned"], true, "{pinned}");
    let done = app.gql(ARCHIVE, json!({"d": false})).await;
    assert_eq!(done["data"]["archiveExecutions"]["executions"], 0, "{done}");
}

#[tokio::test]
async fn a_failure_mid_archive_leaves_nothing_half_moved() {
    let app = spawn_app().await;
    old_run(&app, 120).await;
    let before = digest(&app).await;
    // inject an error after the executions were copied, while copying artifacts
    let pool = app.db.pool().await;
    for sql in [
        "CREATE FUNCTION fail_archive() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION 'injected'; END $$",
        "CREATE TRIGGER fail_archive BEFORE INSERT ON test_artifacts_archive FOR EACH ROW EXECUTE FUNCTION fail_archive()",
    ] {
        crate::helpers::q::query(sql)
            .execute(&pool)
            .await
            .expect("injection");
    }
    let body = app.gql(ARCHIVE, json!({"d": false})).await;
    assert_eq!(
        body["errors"][0]["extensions"]["code"], "INTERNAL_SERVER_ERROR",
        "{body}"
    );
    assert_eq!(digest(&app).await, before, "half-moved data");
}

#[tokio::test]
async fn members_cannot_archive_and_see_only_their_archived_executions() {
    let app = spawn_app().await;
    let alice = app.token("alice", &[Role::Member]).await;
    let body = app.gql_as(&alice, ARCHIVE, json!({"d": true})).await;
    assert_eq!(
        body["errors"][0]["extensions"]["code"], "FORBIDDEN",
        "{body}"
    );
    old_run(&app, 120).await;
    app.gql(ARCHIVE, json!({"d": false})).await;
    let pool = app.db.pool().await;
    let mut tx = pool.begin().await.expect("begin");
    crate::helpers::q::query(
        "SELECT app_begin_request('alice', 'member', 'application_users', NULL, NULL, '15s')",
    )
    .execute(&mut *tx)
    .await
    .expect("identity");
    let seen: i64 = crate::helpers::q::query_scalar("SELECT count(*) FROM test_executions_archive")
        .fetch_one(&mut *tx)
        .await
        .expect("count");
    assert_eq!(seen, 0, "a member saw another author's archived executions");
    // the database role makes an admin, not a setting
    crate::helpers::q::query("SELECT set_config('app.user_roles', 'admin', true)")
        .execute(&mut *tx)
        .await
        .expect("admin setting");
    let seen: i64 = crate::helpers::q::query_scalar("SELECT count(*) FROM test_executions_archive")
        .fetch_one(&mut *tx)
        .await
        .expect("count");
    assert_eq!(
        seen, 0,
        "the admin setting alone showed archived executions"
    );
    crate::helpers::q::query("SET LOCAL ROLE application_admins")
        .execute(&mut *tx)
        .await
        .expect("admin role");
    let seen: i64 = crate::helpers::q::query_scalar("SELECT count(*) FROM test_executions_archive")
        .fetch_one(&mut *tx)
        .await
        .expect("count");
    assert_eq!(seen, 3);
}

#[tokio::test]
async fn analytics_include_archived_executions_on_request() {
    let app = spawn_app().await;
    let run = old_run(&app, 120).await;
    app.gql(ARCHIVE, json!({"d": false})).await;
    let case: Uuid = crate::helpers::q::query_scalar(format!(
        "SELECT test_case_id FROM test_executions_archive WHERE test_run_id = '{run}' LIMIT 1"
    ))
    .fetch_one(&app.db.pool().await)
    .await
    .expect("archived case");
    let q = "query($id: UUID!, $w: StatsWindow) { testCase(id: $id) { stats(window: $w) { totalExecutions } } }";
    let live = app.gql(q, json!({"id": case})).await;
    assert_eq!(
        live["data"]["testCase"]["stats"]["totalExecutions"], 0,
        "{live}"
    );
    let with = app
        .gql(q, json!({"id": case, "w": {"includeArchived": true}}))
        .await;
    assert_eq!(
        with["data"]["testCase"]["stats"]["totalExecutions"], 1,
        "{with}"
    );
}

#[test]
fn maintenance_command_analyzes_and_prepares_audit_partitions() {
    let data_dir = crate::helpers::db::temp_data_dir("maint");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_jbtestsuite"))
        .arg("maintenance")
        .arg("--data-dir")
        .arg(&data_dir)
        .env_remove("DATABASE_URL")
        .env("RUST_LOG", "warn")
        .output()
        .expect("running maintenance");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("vacuum analyze"), "{text}");
    let ahead = (chrono::Utc::now() + chrono::Duration::days(62))
        .format("audit_log_%Y_%m")
        .to_string();
    assert!(text.contains(&ahead), "{text}");
    let _ = std::fs::remove_dir_all(&data_dir);
}

/// `table`'s columns with their types, in order.
async fn columns(pool: &sqlx::PgPool, table: &str) -> Vec<(String, String)> {
    crate::helpers::q::query_as(format!(
        "SELECT attname::text, format_type(atttypid, atttypmod) FROM pg_attribute
         WHERE attrelid = '{table}'::regclass AND attnum > 0 AND NOT attisdropped ORDER BY attnum"
    ))
    .fetch_all(pool)
    .await
    .expect("columns")
}

#[tokio::test]
async fn archive_tables_and_the_executions_view_have_every_live_column() {
    let app = spawn_app().await;
    let pool = app.db.pool().await;
    for (live, archive) in [
        ("test_executions", "test_executions_archive"),
        ("test_step_executions", "test_step_executions_archive"),
        ("test_artifacts", "test_artifacts_archive"),
        ("test_result_reports", "test_result_reports_archive"),
    ] {
        let mut expected = columns(&pool, live).await;
        let mut archived = columns(&pool, archive).await;
        if archived.iter().any(|(c, _)| c == "archived_at") {
            expected.push((
                "archived_at".to_owned(),
                "timestamp with time zone".to_owned(),
            ));
        }
        // a column added later to both comes after `archived_at` in the archive: archival
        // moves columns by name, so only the names and types must agree
        expected.sort();
        archived.sort();
        assert_eq!(archived, expected, "{archive} mirrors {live}");
    }
    let mut expected = columns(&pool, "test_executions").await;
    expected.push(("archived".to_owned(), "boolean".to_owned()));
    assert_eq!(columns(&pool, "test_executions_all").await, expected);
}

#[tokio::test]
async fn archive_command_older_than_hours_then_only_executions_older_than_that_move() {
    let app = spawn_app().await;
    let pool = app.db.pool().await;
    for (hours, name) in [(13, "half a day"), (1, "an hour")] {
        let run = old_run(&app, 0).await;
        crate::helpers::q::query(format!(
            "WITH r AS (UPDATE test_runs SET name = '{name}' WHERE id = '{run}')
             UPDATE test_executions SET started_at = now() - interval '{hours} hours',
                    completed_at = now() - interval '{hours} hours' WHERE test_run_id = '{run}'"
        ))
        .execute(&pool)
        .await
        .expect("ageing");
    }
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_jbtestsuite"))
        .args(["archive", "--older-than", "12h"])
        .env("DATABASE_URL", &app.db.url)
        .env("RUST_LOG", "warn")
        .output()
        .await
        .expect("running archive");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        String::from_utf8_lossy(&out.stdout).starts_with("archived 3 executions"),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    let left: Vec<String> = crate::helpers::q::query_scalar(
        "SELECT DISTINCT r.name FROM test_executions e JOIN test_runs r ON r.id = e.test_run_id",
    )
    .fetch_all(&pool)
    .await
    .expect("left");
    assert_eq!(left, ["an hour"]);
}
