//! Full-text search that row-level security cannot push off its index.
//!
//! Under RLS, PostgreSQL evaluates a query's own conditions after the policy unless they are
//! leakproof, and `@@` is not: every search under the request role became a sequential scan
//! computing `to_tsvector` for every case. `search_test_cases(query)` runs the match as the
//! function's owner through `ix_test_cases_search` and returns ids only; the caller filters
//! `test_cases.id IN (...)` under its own policies (uuid equality is leakproof), so a member
//! still sees only their cases and learns nothing of the others. `ROWS 20` tells the planner
//! a search is selective, so the cases are then fetched by primary key, not scanned.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

const UP: &str = r#"
CREATE FUNCTION search_test_cases(query TEXT) RETURNS TABLE(id UUID)
LANGUAGE sql STABLE SECURITY DEFINER ROWS 20 SET search_path = public, pg_temp AS $$
    SELECT t.id FROM test_cases t
    WHERE to_tsvector('english', coalesce(t.name, '') || ' ' || coalesce(t.description, ''))
          @@ websearch_to_tsquery('english', query)
$$;
GRANT EXECUTE ON FUNCTION search_test_cases(TEXT) TO application_users;
"#;

const DOWN: &str = "DROP FUNCTION IF EXISTS search_test_cases(TEXT);";

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
