//! Uniqueness scoped to what the writer can see (erratum 11 of `docs/architecture.md`).
//!
//! A unique index is checked against every row, whatever row-level security hides. With
//! `uq_test_cases_name_category` unique across all authors, a member creating a case named and
//! filed like another member's hidden case got CONFLICT, and any other name succeeded: an
//! existence oracle over cases they may not see. A uniqueness conflict may only ever name a row
//! the writer can see, so each rule is scoped to a set of rows visible as a whole:
//!
//! - Case names: a member sees the cases they author, so a name is unique per author and
//!   category among cases not archived, `uq_test_cases_name_category_author` (`NULLS NOT
//!   DISTINCT` as before: a missing category or author is one more scope, not a way out). It
//!   leads with the columns of the index it replaces, so whatever that index served it still
//!   serves, and it does not compete with `ix_test_cases_author` for members' policy (an index
//!   led by the author changed the plans of members' statements). When projects come, the
//!   scope becomes the project, whose cases its members all see: the same rule with another
//!   column.
//! - Idempotency keys of bulk reports: a key is unique per run, but its row was visible only
//!   with its execution, so a member reporting into their own run with a key already recorded
//!   there for a case they cannot see failed (an unmapped primary-key violation) where an
//!   unused key succeeded. The keys are the run's: `test_result_report_access_policy` now
//!   follows the run, whose owner sees every key of it (the execution a key names stays as
//!   hidden as before).
//!
//! `down` restores the index unique across authors, and refuses (saying which rule) while two
//! authors' cases not archived share a name and category, rather than guess which to rename.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

const UP: &str = r#"
DROP INDEX uq_test_cases_name_category;
CREATE UNIQUE INDEX uq_test_cases_name_category_author
    ON test_cases(name, category, author) NULLS NOT DISTINCT WHERE status <> 'archived';

ALTER POLICY test_result_report_access_policy ON test_result_reports
    USING (EXISTS (SELECT 1 FROM test_runs r WHERE r.id = test_run_id));
"#;

const DOWN: &str = r#"
DO $$
DECLARE
    shared_names BIGINT;
BEGIN
    SELECT count(*) INTO shared_names FROM (
        SELECT 1 FROM test_cases WHERE status <> 'archived'
        GROUP BY name, category HAVING count(*) > 1) d;
    IF shared_names > 0 THEN
        RAISE EXCEPTION 'cannot restore uq_test_cases_name_category: % names are used by more than one case (of different authors) in a category', shared_names
            USING HINT = 'rename or archive all but one case of each such name, then migrate down again';
    END IF;
END
$$;
DROP INDEX uq_test_cases_name_category_author;
CREATE UNIQUE INDEX uq_test_cases_name_category
    ON test_cases(name, category) NULLS NOT DISTINCT WHERE status <> 'archived';

ALTER POLICY test_result_report_access_policy ON test_result_reports
    USING (EXISTS (SELECT 1 FROM test_executions te WHERE te.id = test_execution_id));
"#;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager.get_connection().execute_unprepared(UP).await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager.get_connection().execute_unprepared(DOWN).await?;
        Ok(())
    }
}
