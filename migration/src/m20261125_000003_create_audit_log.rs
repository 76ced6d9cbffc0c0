//! The audit trail and the row triggers every domain table carries.
//!
//! - `audit_log` as the spec writes it, plus indexes for the two ways it is read: the history
//!   of one record, and the entries of a period.
//! - `set_updated_at`: `updated_at` is maintained on every table that has it (the spec did
//!   this only for test cases, inside its validation trigger).
//! - `audit_trigger`: the spec's function, on every domain table instead of two, recording
//!   `changed_by` from `current_setting('app.user_id', true)`. It runs once per statement over
//!   the statement's transition tables instead of once per row, so that a bulk write of
//!   thousands of results costs one INSERT into `audit_log`, not thousands of trigger calls.
//!   PostgreSQL allows transition tables only on single-event triggers, hence three triggers per
//!   table. Its arguments name the key column(s): `record_id` is the first;
//!   `test_suite_test_cases` has no `id`, so its entries are filed under the suite.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

/// Every audited table with its key column(s), the first of which is recorded as `record_id`.
pub const AUDITED_TABLES: &[(&str, &[&str])] = &[
    ("configurations", &["id"]),
    ("test_cases", &["id"]),
    ("test_steps", &["id"]),
    ("test_suites", &["id"]),
    ("test_suite_test_cases", &["test_suite_id", "test_case_id"]),
    ("test_runs", &["id"]),
    ("test_executions", &["id"]),
    ("test_step_executions", &["id"]),
    ("test_artifacts", &["id"]),
];

/// Tables with an `updated_at` column (all audited tables but the junction).
const TIMESTAMPED_TABLES: &[&str] = &[
    "configurations",
    "test_cases",
    "test_steps",
    "test_suites",
    "test_runs",
    "test_executions",
    "test_step_executions",
    "test_artifacts",
];

const FUNCTIONS: &str = r#"
CREATE TABLE audit_log (
    id UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    table_name VARCHAR(100) NOT NULL,
    record_id UUID NOT NULL,
    operation VARCHAR(10) NOT NULL,
    old_values JSONB,
    new_values JSONB,
    changed_by VARCHAR(100),
    changed_at TIMESTAMP WITH TIME ZONE DEFAULT NOW()
);

CREATE INDEX ix_audit_log_table_record ON audit_log(table_name, record_id, changed_at DESC);
CREATE INDEX ix_audit_log_changed_at ON audit_log(changed_at DESC);
CREATE INDEX ix_audit_log_changed_by ON audit_log(changed_by);

CREATE OR REPLACE FUNCTION set_updated_at()
RETURNS TRIGGER AS $$
BEGIN
    NEW.updated_at := NOW();
    RETURN NEW;
END;
$$ LANGUAGE plpgsql;

CREATE OR REPLACE FUNCTION audit_trigger()
RETURNS TRIGGER AS $$
DECLARE
    key_column TEXT := TG_ARGV[0];
    -- NULL when the table has a single key column
    second_key TEXT := TG_ARGV[1];
    actor TEXT := NULLIF(current_setting('app.user_id', true), '');
BEGIN
    IF TG_OP = 'INSERT' THEN
        INSERT INTO audit_log(table_name, record_id, operation, new_values, changed_by)
        SELECT TG_TABLE_NAME, (to_jsonb(n) ->> key_column)::uuid, 'INSERT', to_jsonb(n), actor
        FROM new_rows n;
    ELSIF TG_OP = 'UPDATE' THEN
        INSERT INTO audit_log(table_name, record_id, operation, old_values, new_values, changed_by)
        SELECT TG_TABLE_NAME, (n.v ->> key_column)::uuid, 'UPDATE', o.v, n.v, actor
        FROM (SELECT to_jsonb(r) AS v FROM new_rows r) n
        JOIN (SELECT to_jsonb(r) AS v FROM old_rows r) o
          ON o.v ->> key_column = n.v ->> key_column
         AND (second_key IS NULL OR o.v ->> second_key = n.v ->> second_key);
    ELSIF TG_OP = 'DELETE' THEN
        INSERT INTO audit_log(table_name, record_id, operation, old_values, changed_by)
        SELECT TG_TABLE_NAME, (to_jsonb(o) ->> key_column)::uuid, 'DELETE', to_jsonb(o), actor
        FROM old_rows o;
    END IF;
    RETURN NULL;
END;
$$ LANGUAGE plpgsql;
"#;

fn up_sql() -> String {
    let mut sql = String::from(FUNCTIONS);
    for table in TIMESTAMPED_TABLES {
        sql.push_str(&format!(
            "CREATE TRIGGER {table}_set_updated_at BEFORE UPDATE ON {table} \
             FOR EACH ROW EXECUTE FUNCTION set_updated_at();\n"
        ));
    }
    for (table, keys) in AUDITED_TABLES {
        let args = keys
            .iter()
            .map(|k| format!("'{k}'"))
            .collect::<Vec<_>>()
            .join(", ");
        sql.push_str(&format!(
            "CREATE TRIGGER {table}_audit_insert AFTER INSERT ON {table} \
             REFERENCING NEW TABLE AS new_rows \
             FOR EACH STATEMENT EXECUTE FUNCTION audit_trigger({args});\n\
             CREATE TRIGGER {table}_audit_update AFTER UPDATE ON {table} \
             REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows \
             FOR EACH STATEMENT EXECUTE FUNCTION audit_trigger({args});\n\
             CREATE TRIGGER {table}_audit_delete AFTER DELETE ON {table} \
             REFERENCING OLD TABLE AS old_rows \
             FOR EACH STATEMENT EXECUTE FUNCTION audit_trigger({args});\n"
        ));
    }
    sql
}

fn down_sql() -> String {
    let mut sql = String::new();
    for (table, _) in AUDITED_TABLES {
        for op in ["insert", "update", "delete"] {
            sql.push_str(&format!(
                "DROP TRIGGER IF EXISTS {table}_audit_{op} ON {table};\n"
            ));
        }
    }
    for table in TIMESTAMPED_TABLES {
        sql.push_str(&format!(
            "DROP TRIGGER IF EXISTS {table}_set_updated_at ON {table};\n"
        ));
    }
    sql.push_str(
        "DROP FUNCTION IF EXISTS audit_trigger();\n\
         DROP FUNCTION IF EXISTS set_updated_at();\n\
         DROP TABLE IF EXISTS audit_log;\n",
    );
    sql
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .get_connection()
            .execute_unprepared(&up_sql())
            .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .get_connection()
            .execute_unprepared(&down_sql())
            .await?;
        Ok(())
    }
}
