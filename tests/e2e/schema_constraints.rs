//! Every CHECK, foreign key and UNIQUE of the schema, table-driven.

use sqlx::PgPool;
use uuid::Uuid;

use crate::helpers::TestDb;

/// Ids of one row of every table, to hang the rows under test on.
struct Fixture {
    case: Uuid,
    step: Uuid,
    suite: Uuid,
    config: Uuid,
    run: Uuid,
    execution: Uuid,
    step_execution: Uuid,
}

async fn fixture(pool: &PgPool) -> Fixture {
    let config: Uuid = crate::helpers::q::query_scalar(
        "INSERT INTO configurations(name, config_type) VALUES ('chrome', 'browser') RETURNING id",
    )
    .fetch_one(pool)
    .await
    .expect("configuration");
    let case: Uuid = crate::helpers::q::query_scalar(
        "INSERT INTO test_cases(name, category, configuration_id) VALUES ('login', 'auth', $1) RETURNING id",
    )
    .bind(config)
    .fetch_one(pool)
    .await
    .expect("case");
    let step: Uuid = crate::helpers::q::query_scalar(
        "INSERT INTO test_steps(test_case_id, order_index, name, step_type) VALUES ($1, 1, 'open', 'navigate') RETURNING id",
    )
    .bind(case)
    .fetch_one(pool)
    .await
    .expect("step");
    let suite: Uuid = crate::helpers::q::query_scalar(
        "INSERT INTO test_suites(name) VALUES ('smoke') RETURNING id",
    )
    .fetch_one(pool)
    .await
    .expect("suite");
    crate::helpers::q::query("INSERT INTO test_suite_test_cases(test_suite_id, test_case_id, order_index) VALUES ($1, $2, 1)")
        .bind(suite)
        .bind(case)
        .execute(pool)
        .await
        .expect("membership");
    let run: Uuid = crate::helpers::q::query_scalar(
        "INSERT INTO test_runs(test_suite_id, configuration_id, name) VALUES ($1, $2, 'nightly') RETURNING id",
    )
    .bind(suite)
    .bind(config)
    .fetch_one(pool)
    .await
    .expect("run");
    let execution: Uuid = crate::helpers::q::query_scalar(
        "INSERT INTO test_executions(test_case_id, test_run_id, configuration_id) VALUES ($1, $2, $3) RETURNING id",
    )
    .bind(case)
    .bind(run)
    .bind(config)
    .fetch_one(pool)
    .await
    .expect("execution");
    let step_execution: Uuid = crate::helpers::q::query_scalar(
        "INSERT INTO test_step_executions(test_execution_id, test_step_id) VALUES ($1, $2) RETURNING id",
    )
    .bind(execution)
    .bind(step)
    .fetch_one(pool)
    .await
    .expect("step execution");
    crate::helpers::q::query("INSERT INTO test_artifacts(test_execution_id, test_step_execution_id, artifact_type, file_name, file_path) VALUES ($1, $2, 'screenshot', 'a.png', '/a.png')")
        .bind(execution)
        .bind(step_execution)
        .execute(pool)
        .await
        .expect("artifact");
    Fixture {
        case,
        step,
        suite,
        config,
        run,
        execution,
        step_execution,
    }
}

/// Runs `sql` in a transaction that is rolled back, returning the violated constraint if any.
async fn violated(pool: &PgPool, sql: &str) -> Result<(), String> {
    violated_after(pool, None, sql).await
}

/// As [`violated`], after `preamble` ran in the same (rolled back) transaction.
async fn violated_after(pool: &PgPool, preamble: Option<&str>, sql: &str) -> Result<(), String> {
    let mut tx = pool.begin().await.expect("begin");
    if let Some(preamble) = preamble {
        crate::helpers::q::query(preamble)
            .execute(&mut *tx)
            .await
            .expect(preamble);
    }
    let result = crate::helpers::q::query(sql).execute(&mut *tx).await;
    let _ = tx.rollback().await;
    match result {
        Ok(_) => Ok(()),
        Err(sqlx::Error::Database(e)) => Err(e
            .constraint()
            .map(str::to_owned)
            .unwrap_or_else(|| format!("<no constraint: {}>", e.message()))),
        Err(e) => Err(format!("<{e}>")),
    }
}

/// (column expression inserted, expected violated constraint or None)
type Case = (&'static str, Option<&'static str>);

async fn check_table(pool: &PgPool, template: &str, cases: &[Case]) {
    check_table_after(pool, None, template, cases).await
}

/// As [`check_table`], after `preamble` in each transaction: used to drop a CHECK that would
/// otherwise fire first (PostgreSQL checks constraints in name order) and hide the one tested.
async fn check_table_after(pool: &PgPool, preamble: Option<&str>, template: &str, cases: &[Case]) {
    let mut failures = Vec::new();
    for (value, expected) in cases {
        let sql = template.replace("{}", value);
        let got = violated_after(pool, preamble, &sql).await.err();
        if got.as_deref() != *expected {
            failures.push(format!("{sql}\n   expected {expected:?}, got {got:?}"));
        }
    }
    assert!(
        failures.is_empty(),
        "constraint mismatches:\n{}",
        failures.join("\n")
    );
}

#[tokio::test]
async fn test_cases_checks_reject_each_bad_value_and_accept_each_good_one() {
    let db = TestDb::new().await;
    let pool = db.pool().await;
    let _ = fixture(&pool).await;
    let insert = |cols: &str| format!("INSERT INTO test_cases(name, {cols}) VALUES ('c', {{}})");
    check_table(
        &pool,
        &insert("status"),
        &[
            ("'draft'", None),
            ("'active'", None),
            ("'archived'", None),
            ("'deprecated'", None),
            ("'Active'", Some("ck_test_cases_status")),
            ("'deleted'", Some("ck_test_cases_status")),
        ],
    )
    .await;
    check_table(
        &pool,
        &insert("priority"),
        &[
            ("'critical'", None),
            ("'high'", None),
            ("'medium'", None),
            ("'low'", None),
            ("'urgent'", Some("ck_test_cases_priority")),
            ("''", Some("ck_test_cases_priority")),
        ],
    )
    .await;
    check_table(
        &pool,
        &insert("retry_count"),
        &[
            ("0", None),
            ("10", None),
            ("-1", Some("ck_test_cases_retry_count")),
            ("11", Some("ck_test_cases_retry_count")),
        ],
    )
    .await;
    check_table(
        &pool,
        &insert("expected_duration_seconds"),
        &[
            ("NULL", None),
            ("1", None),
            ("0", Some("ck_test_cases_duration_positive")),
            ("-5", Some("ck_test_cases_duration_positive")),
        ],
    )
    .await;
    check_table(
        &pool,
        &insert("tags"),
        &[
            ("NULL", None),
            ("'[]'", None),
            ("'[\"smoke\", \"login\"]'", None),
            ("'{}'", Some("ck_test_cases_tags_array")),
            ("'\"smoke\"'", Some("ck_test_cases_tags_array")),
            ("'[1]'", Some("ck_test_cases_tags_array")),
            ("'[[\"a\"]]'", Some("ck_test_cases_tags_array")),
        ],
    )
    .await;
    check_table(
        &pool,
        &insert("metadata"),
        &[
            ("'{}'", None),
            ("'{\"browser\": \"chrome\"}'", None),
            ("'[]'", Some("ck_test_cases_metadata_object")),
            ("'1'", Some("ck_test_cases_metadata_object")),
        ],
    )
    .await;
    check_table(
        &pool,
        &insert("configuration_id"),
        &[
            ("NULL", None),
            (
                "gen_random_uuid()",
                Some("test_cases_configuration_id_fkey"),
            ),
        ],
    )
    .await;
}

#[tokio::test]
async fn test_steps_checks_reject_each_bad_value_and_accept_each_good_one() {
    let db = TestDb::new().await;
    let pool = db.pool().await;
    let f = fixture(&pool).await;
    let order = format!(
        "INSERT INTO test_steps(test_case_id, order_index, name, step_type) VALUES ('{}', {{}}, 's', 'click')",
        f.case
    );
    check_table(
        &pool,
        &order,
        &[
            ("2", None),
            ("1000", None),
            ("0", Some("ck_test_steps_order_positive")),
            ("-1", Some("ck_test_steps_order_positive")),
            ("1", Some("test_steps_test_case_id_order_index_key")),
        ],
    )
    .await;
    let timeout = format!(
        "INSERT INTO test_steps(test_case_id, order_index, name, step_type, timeout_seconds) VALUES ('{}', 2, 's', 'click', {{}})",
        f.case
    );
    check_table(
        &pool,
        &timeout,
        &[
            ("NULL", None),
            ("1", None),
            ("0", Some("ck_test_steps_timeout_positive")),
            ("-30", Some("ck_test_steps_timeout_positive")),
        ],
    )
    .await;
    let step_type = format!(
        "INSERT INTO test_steps(test_case_id, order_index, name, step_type) VALUES ('{}', 2, 's', {{}})",
        f.case
    );
    let mut cases: Vec<Case> = [
        "'navigate'",
        "'click'",
        "'type'",
        "'wait'",
        "'assert'",
        "'screenshot'",
        "'api_call'",
        "'custom'",
    ]
    .into_iter()
    .map(|v| (v, None))
    .collect();
    cases.extend([
        ("'hover'", Some("ck_test_steps_type")),
        ("'API_CALL'", Some("ck_test_steps_type")),
    ]);
    check_table(&pool, &step_type, &cases).await;
    check_table(&pool, "INSERT INTO test_steps(test_case_id, order_index, name, step_type) VALUES ({}, 1, 's', 'click')", &[
        ("gen_random_uuid()", Some("test_steps_test_case_id_fkey")),
    ]).await;
}

#[tokio::test]
async fn test_step_order_is_unique_within_a_case_only() {
    let db = TestDb::new().await;
    let pool = db.pool().await;
    let f = fixture(&pool).await;
    let other: Uuid = crate::helpers::q::query_scalar(
        "INSERT INTO test_cases(name) VALUES ('other') RETURNING id",
    )
    .fetch_one(&pool)
    .await
    .expect("case");
    let sql = |case: Uuid| {
        format!(
            "INSERT INTO test_steps(test_case_id, order_index, name, step_type) VALUES ('{case}', 1, 's', 'click')"
        )
    };
    assert_eq!(
        violated(&pool, &sql(f.case)).await,
        Err("test_steps_test_case_id_order_index_key".into())
    );
    assert_eq!(violated(&pool, &sql(other)).await, Ok(()));
}

#[tokio::test]
async fn configurations_checks_and_active_name_uniqueness() {
    let db = TestDb::new().await;
    let pool = db.pool().await;
    let _ = fixture(&pool).await;
    let mut cases: Vec<Case> = [
        "'browser'",
        "'environment'",
        "'execution'",
        "'notification'",
        "'integration'",
    ]
    .into_iter()
    .map(|v| (v, None))
    .collect();
    cases.push(("'database'", Some("ck_configurations_type")));
    check_table(
        &pool,
        "INSERT INTO configurations(name, config_type) VALUES ('cfg', {})",
        &cases,
    )
    .await;
    // the fixture holds an active ('chrome', 'browser')
    let active = "INSERT INTO configurations(name, config_type, is_active) VALUES ({})";
    check_table(
        &pool,
        active,
        &[
            (
                "'chrome', 'browser', true",
                Some("uq_configurations_active_name_type"),
            ),
            ("'chrome', 'browser', false", None),
            ("'chrome', 'environment', true", None),
            ("'firefox', 'browser', true", None),
        ],
    )
    .await;
}

/// Erratum 11 (`docs/architecture.md`): unique per author, so that a conflict only ever names
/// a case its writer can see; a missing author or category is a scope of its own.
#[tokio::test]
async fn test_case_name_is_unique_per_author_within_category_except_archived() {
    let db = TestDb::new().await;
    let pool = db.pool().await;
    crate::helpers::q::query(
        "INSERT INTO test_cases(name, category, author) VALUES
         ('login', 'auth', 'alice'), ('login', NULL, 'alice'), ('login', 'auth', NULL)",
    )
    .execute(&pool)
    .await
    .expect("seed");
    check_table(
        &pool,
        "INSERT INTO test_cases(name, category, author, status) VALUES ({})",
        &[
            (
                "'login', 'auth', 'alice', 'active'",
                Some("uq_test_cases_name_category_author"),
            ),
            (
                "'login', NULL, 'alice', 'draft'",
                Some("uq_test_cases_name_category_author"),
            ),
            (
                "'login', 'auth', NULL, 'active'",
                Some("uq_test_cases_name_category_author"),
            ),
            ("'login', 'auth', 'bob', 'active'", None),
            ("'login', NULL, 'bob', 'active'", None),
            ("'login', 'auth', 'alice', 'archived'", None),
            ("'login', 'billing', 'alice', 'active'", None),
            ("'logout', 'auth', 'alice', 'active'", None),
        ],
    )
    .await;
}

#[tokio::test]
async fn test_suites_tags_must_be_an_array_of_strings() {
    let db = TestDb::new().await;
    let pool = db.pool().await;
    check_table(
        &pool,
        "INSERT INTO test_suites(name, tags) VALUES ('s', {})",
        &[
            ("'[]'", None),
            ("'[\"nightly\"]'", None),
            ("'{}'", Some("ck_test_suites_tags_array")),
            ("'[true]'", Some("ck_test_suites_tags_array")),
        ],
    )
    .await;
}

#[tokio::test]
async fn test_runs_checks_reject_each_bad_value_and_accept_each_good_one() {
    let db = TestDb::new().await;
    let pool = db.pool().await;
    let f = fixture(&pool).await;
    check_table_after(
        &pool,
        Some("ALTER TABLE test_runs DROP CONSTRAINT ck_test_runs_completion_logic"),
        "INSERT INTO test_runs(name, status) VALUES ('r', {})",
        &[
            ("'pending'", None),
            ("'running'", None),
            ("'passed'", None),
            ("'failed'", None),
            ("'cancelled'", None),
            ("'completed'", Some("ck_test_runs_status")),
            ("'skipped'", Some("ck_test_runs_status")),
        ],
    )
    .await;
    check_table(
        &pool,
        "INSERT INTO test_runs(name, status, completed_at) VALUES ('r', {})",
        &[
            ("'pending', NULL", None),
            ("'running', NULL", None),
            ("'passed', now()", None),
            ("'failed', now()", None),
            ("'cancelled', now()", None),
            ("'completed', now()", Some("ck_test_runs_completion_logic")),
            ("'passed', NULL", Some("ck_test_runs_completion_logic")),
            ("'running', now()", Some("ck_test_runs_completion_logic")),
        ],
    )
    .await;
    check_table(&pool, "INSERT INTO test_runs(name, total_tests, passed_tests, failed_tests, skipped_tests) VALUES ('r', {})", &[
        ("0, 0, 0, 0", None), ("5, 2, 2, 1", None), ("5, 1, 1, 1", None),
        ("-1, 0, 0, 0", Some("ck_test_runs_counters_non_negative")),
        ("5, -1, 0, 0", Some("ck_test_runs_counters_non_negative")),
        ("5, 0, 0, -1", Some("ck_test_runs_counters_non_negative")),
        ("5, 3, 2, 1", Some("ck_test_runs_counters_total")),
    ]).await;
    check_table(
        &pool,
        "INSERT INTO test_runs(name, test_suite_id, configuration_id) VALUES ('r', {})",
        &[
            (
                Box::leak(format!("'{}', '{}'", f.suite, f.config).into_boxed_str()),
                None,
            ),
            (
                "gen_random_uuid(), NULL",
                Some("test_runs_test_suite_id_fkey"),
            ),
            (
                "NULL, gen_random_uuid()",
                Some("test_runs_configuration_id_fkey"),
            ),
        ],
    )
    .await;
}

#[tokio::test]
async fn test_executions_checks_reject_each_bad_value_and_accept_each_good_one() {
    let db = TestDb::new().await;
    let pool = db.pool().await;
    let f = fixture(&pool).await;
    let status = format!(
        "INSERT INTO test_executions(test_case_id, status, completed_at) VALUES ('{}', {{}})",
        f.case
    );
    check_table(
        &pool,
        &status,
        &[
            ("'pending', NULL", None),
            ("'running', NULL", None),
            ("'passed', now()", None),
            ("'failed', now()", None),
            ("'skipped', now()", None),
            ("'cancelled', now()", None),
            (
                "'error', now()",
                Some("ck_test_executions_completion_logic"),
            ),
            (
                "'passed', NULL",
                Some("ck_test_executions_completion_logic"),
            ),
            (
                "'cancelled', NULL",
                Some("ck_test_executions_completion_logic"),
            ),
            (
                "'pending', now()",
                Some("ck_test_executions_completion_logic"),
            ),
            (
                "'running', now()",
                Some("ck_test_executions_completion_logic"),
            ),
        ],
    )
    .await;
    let status_only = format!(
        "INSERT INTO test_executions(test_case_id, status) VALUES ('{}', {{}})",
        f.case
    );
    check_table_after(
        &pool,
        Some("ALTER TABLE test_executions DROP CONSTRAINT ck_test_executions_completion_logic"),
        &status_only,
        &[
            ("'pending'", None),
            ("'running'", None),
            ("'passed'", None),
            ("'failed'", None),
            ("'skipped'", None),
            ("'cancelled'", None),
            ("'error'", Some("ck_test_executions_status")),
            ("'PASSED'", Some("ck_test_executions_status")),
        ],
    )
    .await;
    let numbers = format!(
        "INSERT INTO test_executions(test_case_id, retry_attempt, duration_seconds) VALUES ('{}', {{}})",
        f.case
    );
    check_table(
        &pool,
        &numbers,
        &[
            ("0, NULL", None),
            ("3, 0", None),
            ("1, 120", None),
            ("-1, NULL", Some("ck_test_executions_retry_attempt")),
            ("0, -1", Some("ck_test_executions_duration_positive")),
        ],
    )
    .await;
    check_table(
        &pool,
        "INSERT INTO test_executions(test_case_id, test_run_id, configuration_id) VALUES ({})",
        &[
            (
                "gen_random_uuid(), NULL, NULL",
                Some("test_executions_test_case_id_fkey"),
            ),
            (
                Box::leak(format!("'{}', gen_random_uuid(), NULL", f.case).into_boxed_str()),
                Some("test_executions_test_run_id_fkey"),
            ),
            (
                Box::leak(format!("'{}', NULL, gen_random_uuid()", f.case).into_boxed_str()),
                Some("test_executions_configuration_id_fkey"),
            ),
            (
                Box::leak(format!("'{}', '{}', '{}'", f.case, f.run, f.config).into_boxed_str()),
                Some("uq_test_executions_run_case_attempt"),
            ),
        ],
    )
    .await;
}

#[tokio::test]
async fn test_step_executions_checks_reject_each_bad_value_and_accept_each_good_one() {
    let db = TestDb::new().await;
    let pool = db.pool().await;
    let f = fixture(&pool).await;
    let sql = format!(
        "INSERT INTO test_step_executions(test_execution_id, test_step_id, status, duration_seconds) VALUES ('{}', '{}', {{}})",
        f.execution, f.step
    );
    // the fixture's own result for this step goes first: one result per step of an execution
    check_table_after(
        &pool,
        Some("DELETE FROM test_step_executions"),
        &sql,
        &[
            ("'pending', NULL", None),
            ("'running', NULL", None),
            ("'passed', 0", None),
            ("'failed', 3", None),
            ("'skipped', NULL", None),
            ("'cancelled', NULL", Some("ck_test_step_executions_status")),
            (
                "'passed', -1",
                Some("ck_test_step_executions_duration_positive"),
            ),
        ],
    )
    .await;
}

#[tokio::test]
async fn test_artifacts_checks_reject_each_bad_value_and_accept_each_good_one() {
    let db = TestDb::new().await;
    let pool = db.pool().await;
    let f = fixture(&pool).await;
    let owner = "INSERT INTO test_artifacts(test_execution_id, test_step_execution_id, artifact_type, file_name, file_path) VALUES ({}, 'log', 'a.log', '/a.log')";
    check_table(
        &pool,
        owner,
        &[
            (
                Box::leak(format!("'{}', NULL", f.execution).into_boxed_str()),
                None,
            ),
            (
                Box::leak(format!("NULL, '{}'", f.step_execution).into_boxed_str()),
                None,
            ),
            ("NULL, NULL", Some("ck_test_artifacts_owner")),
        ],
    )
    .await;
    let typed = format!(
        "INSERT INTO test_artifacts(test_execution_id, artifact_type, file_size, file_name, file_path) VALUES ('{}', {{}}, 'f', '/f')",
        f.execution
    );
    let mut cases: Vec<Case> = [
        "'screenshot', 0",
        "'video', 5000000000",
        "'log', NULL",
        "'trace', 1",
        "'har', 1",
        "'report', 1",
        "'other', 1",
    ]
    .into_iter()
    .map(|v| (v, None))
    .collect();
    cases.extend([
        ("'image', 1", Some("ck_test_artifacts_type")),
        (
            "'log', -1",
            Some("ck_test_artifacts_file_size_non_negative"),
        ),
    ]);
    check_table(&pool, &typed, &cases).await;
}

async fn count(pool: &PgPool, sql: &str) -> i64 {
    crate::helpers::q::query_scalar(sql)
        .fetch_one(pool)
        .await
        .expect(sql)
}

#[tokio::test]
async fn deleting_a_test_case_cascades_to_its_steps_executions_results_artifacts_and_memberships() {
    let db = TestDb::new().await;
    let pool = db.pool().await;
    let f = fixture(&pool).await;
    crate::helpers::q::query("DELETE FROM test_cases WHERE id = $1")
        .bind(f.case)
        .execute(&pool)
        .await
        .expect("delete");
    for table in [
        "test_steps",
        "test_executions",
        "test_step_executions",
        "test_artifacts",
        "test_suite_test_cases",
    ] {
        assert_eq!(
            count(&pool, &format!("SELECT count(*) FROM {table}")).await,
            0,
            "{table} not emptied"
        );
    }
    assert_eq!(
        count(&pool, "SELECT count(*) FROM test_runs").await,
        1,
        "the run outlives its cases"
    );
}

#[tokio::test]
async fn deleting_a_run_keeps_its_executions_with_the_run_unset() {
    let db = TestDb::new().await;
    let pool = db.pool().await;
    let f = fixture(&pool).await;
    crate::helpers::q::query("DELETE FROM test_runs WHERE id = $1")
        .bind(f.run)
        .execute(&pool)
        .await
        .expect("delete");
    assert_eq!(
        count(
            &pool,
            "SELECT count(*) FROM test_executions WHERE test_run_id IS NULL"
        )
        .await,
        1
    );
    assert_eq!(
        count(&pool, "SELECT count(*) FROM test_step_executions").await,
        1
    );
}

#[tokio::test]
async fn deleting_a_suite_unsets_its_runs_and_removes_its_memberships() {
    let db = TestDb::new().await;
    let pool = db.pool().await;
    let f = fixture(&pool).await;
    crate::helpers::q::query("DELETE FROM test_suites WHERE id = $1")
        .bind(f.suite)
        .execute(&pool)
        .await
        .expect("delete");
    assert_eq!(
        count(
            &pool,
            "SELECT count(*) FROM test_runs WHERE test_suite_id IS NULL"
        )
        .await,
        1
    );
    assert_eq!(
        count(&pool, "SELECT count(*) FROM test_suite_test_cases").await,
        0
    );
    assert_eq!(count(&pool, "SELECT count(*) FROM test_cases").await, 1);
}

#[tokio::test]
async fn deleting_a_configuration_unsets_it_on_cases_runs_and_executions() {
    let db = TestDb::new().await;
    let pool = db.pool().await;
    let f = fixture(&pool).await;
    crate::helpers::q::query("DELETE FROM configurations WHERE id = $1")
        .bind(f.config)
        .execute(&pool)
        .await
        .expect("delete");
    for table in ["test_cases", "test_runs", "test_executions"] {
        assert_eq!(
            count(
                &pool,
                &format!("SELECT count(*) FROM {table} WHERE configuration_id IS NOT NULL")
            )
            .await,
            0,
            "{table}"
        );
        assert_eq!(
            count(&pool, &format!("SELECT count(*) FROM {table}")).await,
            1,
            "{table} row kept"
        );
    }
}

#[tokio::test]
async fn deleting_an_execution_or_step_removes_its_step_results_and_artifacts() {
    let db = TestDb::new().await;
    let pool = db.pool().await;
    let f = fixture(&pool).await;
    crate::helpers::q::query("DELETE FROM test_steps WHERE id = $1")
        .bind(f.step)
        .execute(&pool)
        .await
        .expect("delete step");
    assert_eq!(
        count(&pool, "SELECT count(*) FROM test_step_executions").await,
        0
    );
    // the artifact also belonged to the execution directly, and the step result's cascade took it
    assert_eq!(count(&pool, "SELECT count(*) FROM test_artifacts").await, 0);
    crate::helpers::q::query("INSERT INTO test_artifacts(test_execution_id, artifact_type, file_name, file_path) VALUES ($1, 'log', 'l', '/l')")
        .bind(f.execution)
        .execute(&pool)
        .await
        .expect("artifact");
    crate::helpers::q::query("DELETE FROM test_executions WHERE id = $1")
        .bind(f.execution)
        .execute(&pool)
        .await
        .expect("delete execution");
    assert_eq!(count(&pool, "SELECT count(*) FROM test_artifacts").await, 0);
}

#[tokio::test]
async fn one_execution_per_attempt_and_one_result_per_step() {
    let db = TestDb::new().await;
    let pool = db.pool().await;
    let f = fixture(&pool).await;
    let attempt = format!(
        "INSERT INTO test_executions(test_case_id, test_run_id, retry_attempt) VALUES ('{}', '{}', {{}})",
        f.case, f.run
    );
    check_table(
        &pool,
        &attempt,
        &[
            ("0", Some("uq_test_executions_run_case_attempt")),
            ("1", None),
        ],
    )
    .await;
    let result = format!(
        "INSERT INTO test_step_executions(test_execution_id, test_step_id) VALUES ('{}', '{}')",
        f.execution, f.step
    );
    assert_eq!(
        violated(&pool, &result).await,
        Err("uq_test_step_executions_execution_step".into())
    );
}

/// Constraints no client input can violate, with why: keys the server generates, tables only
/// the server's own statements write, and the archive (written only by moving rows that
/// already met the same constraints).
fn unreachable(name: &str, table: &str) -> bool {
    name.ends_with("_pkey") && name != "test_suite_test_cases_pkey"
        || table.ends_with("_archive")
        || table.starts_with("audit_log")
        || matches!(
            table,
            "seaql_migrations"
                | "test_case_flakiness"
                | "test_case_flakiness_pending"
                | "api_tokens"
                // written by the server's own code only (blobs it stored, its keys)
                | "artifact_blobs"
                | "server_secrets"
                // the outbox and its log: written by the server's own statements only
                | "webhook_deliveries"
                | "webhook_delivery_attempts"
        )
}

#[tokio::test]
async fn every_named_constraint_maps_to_a_coded_error_with_a_field() {
    let db = TestDb::new().await;
    let pool = db.pool().await;
    let constraints: Vec<(String, String)> = crate::helpers::q::query_as(
        "SELECT c.conname::text, t.relname::text FROM pg_constraint c
         JOIN pg_class t ON t.oid = c.conrelid JOIN pg_namespace n ON n.oid = t.relnamespace
         WHERE n.nspname = 'public' AND c.contype IN ('c', 'f', 'u', 'p', 'x')
         UNION
         SELECT i.relname::text, t.relname::text FROM pg_index x
         JOIN pg_class i ON i.oid = x.indexrelid JOIN pg_class t ON t.oid = x.indrelid
         JOIN pg_namespace n ON n.oid = t.relnamespace
         WHERE n.nspname = 'public' AND x.indisunique
         ORDER BY 2, 1",
    )
    .fetch_all(&pool)
    .await
    .expect("constraints");
    assert!(constraints.len() > 40, "{constraints:?}");
    let mut missing = Vec::new();
    for (name, table) in &constraints {
        if unreachable(name, table) {
            continue;
        }
        match api::error::constraint_error(name) {
            Some(e) if e.field().is_some() => {}
            _ => missing.push(format!("{table}.{name}")),
        }
    }
    assert!(
        missing.is_empty(),
        "constraints without a coded error and field: {missing:#?}"
    );
}
