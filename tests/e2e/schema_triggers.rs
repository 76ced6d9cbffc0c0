//! `updated_at` maintenance and the audit trail.

use serde_json::Value;
use sqlx::Row;
use uuid::Uuid;

use crate::helpers::TestDb;

#[tokio::test]
async fn updated_at_moves_on_update_of_every_timestamped_table() {
    let db = TestDb::new().await;
    let pool = db.pool().await;
    // created in one transaction (one NOW()), updated in a later one
    let mut tx = pool.begin().await.expect("begin");
    let setup = [
        "INSERT INTO configurations(name, config_type) VALUES ('c', 'browser')",
        "INSERT INTO test_cases(name) VALUES ('c')",
        "INSERT INTO test_steps(test_case_id, order_index, name, step_type) SELECT id, 1, 's', 'click' FROM test_cases",
        "INSERT INTO test_suites(name) VALUES ('s')",
        "INSERT INTO test_runs(name) VALUES ('r')",
        "INSERT INTO test_executions(test_case_id) SELECT id FROM test_cases",
        "INSERT INTO test_step_executions(test_execution_id, test_step_id) SELECT e.id, s.id FROM test_executions e, test_steps s",
        "INSERT INTO test_artifacts(test_execution_id, artifact_type, file_name, file_path) SELECT id, 'log', 'l', '/l' FROM test_executions",
    ];
    for sql in setup {
        crate::helpers::q::query(sql)
            .execute(&mut *tx)
            .await
            .expect(sql);
    }
    tx.commit().await.expect("commit");
    let updates = [
        ("configurations", "description = 'x'"),
        ("test_cases", "description = 'x'"),
        ("test_steps", "description = 'x'"),
        ("test_suites", "description = 'x'"),
        ("test_runs", "triggered_by = 'x'"),
        ("test_executions", "error_message = 'x'"),
        ("test_step_executions", "actual_result = 'x'"),
        ("test_artifacts", "mime_type = 'text/plain'"),
    ];
    for (table, set) in updates {
        let before: chrono::DateTime<chrono::Utc> =
            crate::helpers::q::query_scalar(format!("SELECT updated_at FROM {table}"))
                .fetch_one(&pool)
                .await
                .expect("before");
        crate::helpers::q::query(format!("UPDATE {table} SET {set}"))
            .execute(&pool)
            .await
            .expect("update");
        let (created, after): (chrono::DateTime<chrono::Utc>, chrono::DateTime<chrono::Utc>) =
            crate::helpers::q::query_as(format!("SELECT created_at, updated_at FROM {table}"))
                .fetch_one(&pool)
                .await
                .expect("after");
        assert!(after > before, "{table}: updated_at did not move");
        assert!(after > created, "{table}: updated_at not after created_at");
    }
}

#[tokio::test]
async fn audit_log_records_insert_update_delete_with_the_acting_user() {
    let db = TestDb::new().await;
    let pool = db.pool().await;
    let mut tx = pool.begin().await.expect("begin");
    crate::helpers::q::query("SELECT set_config('app.user_id', 'alice', true)")
        .execute(&mut *tx)
        .await
        .expect("set");
    let id: Uuid = crate::helpers::q::query_scalar(
        "INSERT INTO test_cases(name, author) VALUES ('audited', 'alice') RETURNING id",
    )
    .fetch_one(&mut *tx)
    .await
    .expect("insert");
    crate::helpers::q::query("UPDATE test_cases SET priority = 'high' WHERE id = $1")
        .bind(id)
        .execute(&mut *tx)
        .await
        .expect("update");
    tx.commit().await.expect("commit");
    let mut tx = pool.begin().await.expect("begin");
    crate::helpers::q::query("SELECT set_config('app.user_id', 'bob', true)")
        .execute(&mut *tx)
        .await
        .expect("set");
    crate::helpers::q::query("DELETE FROM test_cases WHERE id = $1")
        .bind(id)
        .execute(&mut *tx)
        .await
        .expect("delete");
    tx.commit().await.expect("commit");

    let rows = crate::helpers::q::query("SELECT operation, changed_by, old_values, new_values FROM audit_log WHERE table_name = 'test_cases' AND record_id = $1 ORDER BY changed_at, array_position(array['INSERT', 'UPDATE', 'DELETE'], operation::text)")
        .bind(id)
        .fetch_all(&pool)
        .await
        .expect("audit rows");
    let got: Vec<(String, Option<String>)> = rows
        .iter()
        .map(|r| {
            (
                r.get::<String, _>("operation"),
                r.get::<Option<String>, _>("changed_by"),
            )
        })
        .collect();
    assert_eq!(
        got,
        vec![
            ("INSERT".to_owned(), Some("alice".to_owned())),
            ("UPDATE".to_owned(), Some("alice".to_owned())),
            ("DELETE".to_owned(), Some("bob".to_owned())),
        ]
    );
    let update_old: Value = rows[1].get("old_values");
    let update_new: Value = rows[1].get("new_values");
    assert_eq!(update_old["priority"], "medium");
    assert_eq!(update_new["priority"], "high");
    let deleted: Value = rows[2].get("old_values");
    assert_eq!(deleted["name"], "audited");
    assert!(rows[2].get::<Option<Value>, _>("new_values").is_none());
}

#[tokio::test]
async fn audit_log_covers_every_domain_table_one_entry_per_row_of_a_bulk_statement() {
    let db = TestDb::new().await;
    let pool = db.pool().await;
    let mut tx = pool.begin().await.expect("begin");
    crate::helpers::q::query("SELECT set_config('app.user_id', 'ci-bot', true)")
        .execute(&mut *tx)
        .await
        .expect("set");
    let statements = [
        "INSERT INTO configurations(name, config_type) VALUES ('c', 'browser')",
        "INSERT INTO test_cases(name) SELECT 'case ' || g FROM generate_series(1, 3) g",
        "INSERT INTO test_steps(test_case_id, order_index, name, step_type) SELECT id, 1, 's', 'click' FROM test_cases",
        "INSERT INTO test_suites(name) VALUES ('s')",
        "INSERT INTO test_suite_test_cases(test_suite_id, test_case_id, order_index) SELECT s.id, c.id, 1 FROM test_suites s, test_cases c",
        "INSERT INTO test_runs(name) VALUES ('r')",
        "INSERT INTO test_executions(test_case_id) SELECT id FROM test_cases",
        "INSERT INTO test_step_executions(test_execution_id, test_step_id) SELECT e.id, s.id FROM test_executions e JOIN test_steps s USING (test_case_id)",
        "INSERT INTO test_artifacts(test_execution_id, artifact_type, file_name, file_path) SELECT id, 'log', 'l', '/l' FROM test_executions",
        "UPDATE test_suite_test_cases SET order_index = 2",
    ];
    for sql in statements {
        crate::helpers::q::query(sql)
            .execute(&mut *tx)
            .await
            .expect(sql);
    }
    tx.commit().await.expect("commit");
    let rows: Vec<(String, String, i64)> = crate::helpers::q::query_as(
        "SELECT table_name::text, operation::text, count(*) FROM audit_log WHERE changed_by = 'ci-bot' GROUP BY 1, 2 ORDER BY 1, 2",
    )
    .fetch_all(&pool)
    .await
    .expect("counts");
    let expected: Vec<(String, String, i64)> = [
        ("configurations", "INSERT", 1),
        ("test_artifacts", "INSERT", 3),
        ("test_cases", "INSERT", 3),
        ("test_executions", "INSERT", 3),
        ("test_runs", "INSERT", 1),
        ("test_step_executions", "INSERT", 3),
        ("test_steps", "INSERT", 3),
        ("test_suite_test_cases", "INSERT", 3),
        ("test_suite_test_cases", "UPDATE", 3),
        ("test_suites", "INSERT", 1),
    ]
    .into_iter()
    .map(|(t, o, n)| (t.to_owned(), o.to_owned(), n))
    .collect();
    assert_eq!(rows, expected);
    // junction entries are filed under the suite, and an update pairs each row's old and new values
    let paired: i64 = crate::helpers::q::query_scalar(
        "SELECT count(*) FROM audit_log a JOIN test_suites s ON s.id = a.record_id
         WHERE a.table_name = 'test_suite_test_cases' AND a.operation = 'UPDATE'
           AND a.old_values->>'test_case_id' = a.new_values->>'test_case_id'
           AND a.old_values->>'order_index' = '1' AND a.new_values->>'order_index' = '2'",
    )
    .fetch_one(&pool)
    .await
    .expect("paired");
    assert_eq!(paired, 3);
}

#[tokio::test]
async fn audit_log_changed_by_is_null_without_a_user() {
    let db = TestDb::new().await;
    let pool = db.pool().await;
    crate::helpers::q::query("INSERT INTO test_suites(name) VALUES ('anonymous')")
        .execute(&pool)
        .await
        .expect("insert");
    let by: Option<String> = crate::helpers::q::query_scalar(
        "SELECT changed_by FROM audit_log WHERE table_name = 'test_suites'",
    )
    .fetch_one(&pool)
    .await
    .expect("row");
    assert_eq!(by, None);
}
