//! Search as you type: prefixes through the full-text index, similar spellings of case names
//! through a trigram index.
//!
//! - `pg_trgm`: ships with the server. It is a trusted extension (PostgreSQL 13 and newer), so
//!   the database's owner creates it without being a superuser; a database where it exists
//!   already keeps it (it must then be in `public`, where the functions below look for it).
//! - `ix_test_cases_name_trgm`: GIN trigram index on the case name, which serves
//!   `name %>> word` (pg_trgm's strict word similarity: a word of the name spelled like the
//!   word searched, "chekout" for "Checkout").
//! - `search_test_cases_by_tsquery(query)`: the ids of the cases whose text matches `query`, a
//!   tsquery the API builds (prefixes included), through `ix_test_cases_search`. Like
//!   `search_test_cases` (migration 9, kept as it was, which takes web-search text), it runs
//!   as its owner so that `@@`, which is not leakproof, is not evaluated after the policies
//!   over every case; the caller filters the ids under its own policies.
//! - `search_test_cases_by_spelling(query, term_groups, term_queries, term_spellings,
//!   excluded, few)`: the ids of the cases whose name has a word spelled like a word of the
//!   search, and that meet every term of one OR-group of it, each by the full text or by the
//!   spelling of a word of the name, while containing none of `excluded`. The terms come as
//!   parallel arrays: group, tsquery, spelling (`''` for a term that has none). Spellings are
//!   looked up only while the search's `query` finds fewer than `few` cases, and only those of
//!   the terms that find fewer than `few` cases each: a word found often is spelled as meant,
//!   and looking it up would read every name spelled like it. Spellings without a trigram
//!   (punctuation; letters the database's locale does not count as letters) are never looked
//!   up: pg_trgm reads its whole index for a query without trigrams. It runs as its caller,
//!   under the caller's policies: it counts and finds only cases the caller sees, so what it
//!   finds says nothing of the others, and its cost follows them (an admin's spellings
//!   through the trigram index, a member's among their own cases). Its settings keep it from
//!   being inlined, so the planner takes it for the few rows it returns and reaches the cases
//!   by their ids; the similarity threshold, pg_trgm's default, is set on it so that a server
//!   setting does not change what a search finds.
//!
//! Both are SQL functions, planned once for any parameters, with index scans.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

const UP: &str = r#"
CREATE EXTENSION IF NOT EXISTS pg_trgm WITH SCHEMA public;

CREATE INDEX ix_test_cases_name_trgm ON test_cases USING gin (name gin_trgm_ops);

CREATE FUNCTION search_test_cases_by_tsquery(query TSQUERY) RETURNS TABLE(id UUID)
LANGUAGE sql STABLE SECURITY DEFINER ROWS 20 SET search_path = public, pg_temp AS $$
    SELECT t.id FROM test_cases t
    WHERE to_tsvector('english', coalesce(t.name, '') || ' ' || coalesce(t.description, ''))
          @@ query
$$;
GRANT EXECUTE ON FUNCTION search_test_cases_by_tsquery(TSQUERY) TO application_users;

-- loads pg_trgm's library into this session, which defines its settings: a non-superuser may
-- not put a setting PostgreSQL does not know yet on a function
SELECT show_trgm('');

CREATE FUNCTION search_test_cases_by_spelling(
    query TSQUERY, term_groups INT[], term_queries TSQUERY[], term_spellings TEXT[],
    excluded TSQUERY, few BIGINT
) RETURNS TABLE(id UUID)
LANGUAGE sql STABLE ROWS 10
SET search_path = public, pg_temp
SET pg_trgm.strict_word_similarity_threshold = 0.5 AS $$
    SELECT t.id
    FROM test_cases t,
         LATERAL (SELECT to_tsvector('english', coalesce(t.name, '') || ' ' || coalesce(t.description, ''))
                  AS document OFFSET 0) AS d
    WHERE (SELECT count(*) FROM (SELECT FROM test_cases s
                                 WHERE s.id IN (SELECT id FROM search_test_cases_by_tsquery(query))
                                 LIMIT few) AS found) < few
      AND t.name %>> ANY (ARRAY(
              SELECT u.spelling FROM unnest(term_queries, term_spellings) AS u(q, spelling)
              WHERE u.spelling <> '' AND show_trgm(u.spelling) <> '{}'
                AND (SELECT count(*) FROM (SELECT FROM test_cases s
                                           WHERE s.id IN (SELECT id FROM search_test_cases_by_tsquery(u.q))
                                           LIMIT few) AS found) < few))
      AND (excluded IS NULL OR NOT d.document @@ excluded)
      AND EXISTS (
          SELECT FROM unnest(term_groups, term_queries, term_spellings) AS term(grp, q, spelling)
          GROUP BY term.grp
          -- a term of stop words alone is met by any case, as in the full-text query
          HAVING bool_and(numnode(term.q) = 0 OR d.document @@ term.q
                          OR (term.spelling <> '' AND term.spelling <<% t.name)))
$$;
GRANT EXECUTE ON FUNCTION
    search_test_cases_by_spelling(TSQUERY, INT[], TSQUERY[], TEXT[], TSQUERY, BIGINT)
    TO application_users;
"#;

// Without CASCADE: an object of someone else's that uses pg_trgm stops the drop, rather than
// going with it.
const DOWN: &str = r#"
DROP FUNCTION IF EXISTS
    search_test_cases_by_spelling(TSQUERY, INT[], TSQUERY[], TEXT[], TSQUERY, BIGINT);
DROP FUNCTION IF EXISTS search_test_cases_by_tsquery(TSQUERY);
DROP INDEX IF EXISTS ix_test_cases_name_trgm;
DROP EXTENSION IF EXISTS pg_trgm;
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
