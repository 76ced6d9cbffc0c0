//! The test catalogue: configurations, test cases, their steps, suites and the suite/case junction.
//!
//! Written as the spec writes it (names, types, defaults, CHECKs, indexes), with these
//! departures, each for the reason given beside it:
//! - `configurations` is created first, because `test_cases.configuration_id` references it
//!   (errata 10: the diagram says configurations configure test cases but no column held it).
//! - The spec's `UNIQUE(name, config_type) WHERE is_active = true` is not valid table-constraint
//!   syntax: it is the partial unique index `uq_configurations_active_name_type` (errata 2).
//! - The spec's `validate_test_case` trigger checked name uniqueness with a SELECT, which races
//!   and ignores a NULL category: the partial unique index `uq_test_cases_name_category`
//!   (`NULLS NOT DISTINCT`, archived cases excluded) enforces it instead (errata 3). Its other
//!   check, "tags must be an array", is the named CHECK `ck_test_cases_tags_array`, so that the
//!   violation can be reported by constraint name; `updated_at` is kept by the generic
//!   `set_updated_at` trigger of a later migration. No trigger is left for what a constraint says.
//! - `ix_test_cases_search` is exactly the spec's expression, and the API searches through it.
//!   The spec's own search query writes a different expression (`name || ...` without
//!   `coalesce`), which that index cannot serve, so `ix_test_cases_search_name_description`
//!   indexes that expression too.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

const UP: &str = r#"
CREATE TABLE configurations (
    id UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    name VARCHAR(255) NOT NULL,
    description TEXT,
    config_type VARCHAR(50) NOT NULL,
    configuration_data JSONB NOT NULL DEFAULT '{}'::jsonb,
    is_active BOOLEAN NOT NULL DEFAULT true,
    created_by VARCHAR(100),
    created_at TIMESTAMP WITH TIME ZONE DEFAULT NOW(),
    updated_at TIMESTAMP WITH TIME ZONE DEFAULT NOW(),

    CONSTRAINT ck_configurations_type CHECK (config_type IN (
        'browser', 'environment', 'execution', 'notification', 'integration'
    ))
);

-- errata 2: the spec's table-level "UNIQUE ... WHERE" as a partial unique index
CREATE UNIQUE INDEX uq_configurations_active_name_type
    ON configurations(name, config_type) WHERE is_active = true;

CREATE INDEX ix_configurations_name ON configurations(name);
CREATE INDEX ix_configurations_type ON configurations(config_type);
CREATE INDEX ix_configurations_is_active ON configurations(is_active);
CREATE INDEX ix_configurations_created_by ON configurations(created_by);

CREATE TABLE test_cases (
    id UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    name VARCHAR(255) NOT NULL,
    description TEXT,
    status VARCHAR(20) NOT NULL DEFAULT 'draft',
    priority VARCHAR(20) NOT NULL DEFAULT 'medium',
    tags JSONB DEFAULT '[]'::jsonb,
    metadata JSONB DEFAULT '{}'::jsonb,
    author VARCHAR(100),
    category VARCHAR(100),
    expected_duration_seconds INTEGER,
    is_automated BOOLEAN NOT NULL DEFAULT true,
    retry_count INTEGER NOT NULL DEFAULT 0,
    -- errata 10: the configuration a case runs with by default
    configuration_id UUID REFERENCES configurations(id) ON DELETE SET NULL,
    created_at TIMESTAMP WITH TIME ZONE DEFAULT NOW(),
    updated_at TIMESTAMP WITH TIME ZONE DEFAULT NOW(),

    CONSTRAINT ck_test_cases_status
        CHECK (status IN ('draft', 'active', 'archived', 'deprecated')),
    CONSTRAINT ck_test_cases_priority
        CHECK (priority IN ('critical', 'high', 'medium', 'low')),
    CONSTRAINT ck_test_cases_retry_count
        CHECK (retry_count >= 0 AND retry_count <= 10),
    CONSTRAINT ck_test_cases_duration_positive
        CHECK (expected_duration_seconds IS NULL OR expected_duration_seconds > 0),
    -- errata 3: the spec's trigger check "tags must be an array", as a named constraint;
    -- elements must be strings so that `?|` / `@>` tag filters mean what they say
    CONSTRAINT ck_test_cases_tags_array
        CHECK (tags IS NULL OR (jsonb_typeof(tags) = 'array'
            AND NOT jsonb_path_exists(tags, 'strict $[*] ? (@.type() != "string")'))),
    CONSTRAINT ck_test_cases_metadata_object
        CHECK (metadata IS NULL OR jsonb_typeof(metadata) = 'object')
);

CREATE INDEX ix_test_cases_name ON test_cases(name);
CREATE INDEX ix_test_cases_status ON test_cases(status);
CREATE INDEX ix_test_cases_priority ON test_cases(priority);
CREATE INDEX ix_test_cases_author ON test_cases(author);
CREATE INDEX ix_test_cases_category ON test_cases(category);
CREATE INDEX ix_test_cases_is_automated ON test_cases(is_automated);
CREATE INDEX ix_test_cases_created_at ON test_cases(created_at DESC);
CREATE INDEX ix_test_cases_configuration_id ON test_cases(configuration_id);

CREATE INDEX ix_test_cases_status_priority ON test_cases(status, priority);
CREATE INDEX ix_test_cases_category_status ON test_cases(category, status);
CREATE INDEX ix_test_cases_author_status ON test_cases(author, status);

CREATE INDEX ix_test_cases_tags_gin ON test_cases USING gin(tags);
CREATE INDEX ix_test_cases_metadata_gin ON test_cases USING gin(metadata);

CREATE INDEX ix_test_cases_search ON test_cases USING gin(
    to_tsvector('english', coalesce(name, '') || ' ' || coalesce(description, ''))
);
-- the expression of the spec's own search query, which ix_test_cases_search cannot serve
CREATE INDEX ix_test_cases_search_name_description ON test_cases USING gin(
    to_tsvector('english', name || ' ' || coalesce(description, ''))
);

-- errata 3: race-free "name unique within category" (NULL category included), archived excepted
CREATE UNIQUE INDEX uq_test_cases_name_category
    ON test_cases(name, category) NULLS NOT DISTINCT WHERE status <> 'archived';

CREATE TABLE test_steps (
    id UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    test_case_id UUID NOT NULL REFERENCES test_cases(id) ON DELETE CASCADE,
    order_index INTEGER NOT NULL,
    name VARCHAR(255) NOT NULL,
    description TEXT,
    step_type VARCHAR(50) NOT NULL,
    selector VARCHAR(500),
    input_data TEXT,
    expected_result TEXT,
    configuration JSONB DEFAULT '{}'::jsonb,
    timeout_seconds INTEGER DEFAULT 30,
    is_optional BOOLEAN NOT NULL DEFAULT false,
    continue_on_failure BOOLEAN NOT NULL DEFAULT false,
    created_at TIMESTAMP WITH TIME ZONE DEFAULT NOW(),
    updated_at TIMESTAMP WITH TIME ZONE DEFAULT NOW(),

    CONSTRAINT ck_test_steps_order_positive CHECK (order_index > 0),
    CONSTRAINT ck_test_steps_timeout_positive CHECK (timeout_seconds > 0),
    CONSTRAINT ck_test_steps_type CHECK (step_type IN (
        'navigate', 'click', 'type', 'wait', 'assert',
        'screenshot', 'api_call', 'custom'
    )),

    -- PostgreSQL names it test_steps_test_case_id_order_index_key
    UNIQUE(test_case_id, order_index)
);

CREATE INDEX ix_test_steps_test_case_id ON test_steps(test_case_id);
CREATE INDEX ix_test_steps_step_type ON test_steps(step_type);
CREATE INDEX ix_test_steps_case_order ON test_steps(test_case_id, order_index);

CREATE TABLE test_suites (
    id UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    name VARCHAR(255) NOT NULL,
    description TEXT,
    tags JSONB DEFAULT '[]'::jsonb,
    configuration JSONB DEFAULT '{}'::jsonb,
    is_active BOOLEAN NOT NULL DEFAULT true,
    created_by VARCHAR(100),
    created_at TIMESTAMP WITH TIME ZONE DEFAULT NOW(),
    updated_at TIMESTAMP WITH TIME ZONE DEFAULT NOW(),

    CONSTRAINT ck_test_suites_tags_array
        CHECK (tags IS NULL OR (jsonb_typeof(tags) = 'array'
            AND NOT jsonb_path_exists(tags, 'strict $[*] ? (@.type() != "string")')))
);

CREATE TABLE test_suite_test_cases (
    test_suite_id UUID REFERENCES test_suites(id) ON DELETE CASCADE,
    test_case_id UUID REFERENCES test_cases(id) ON DELETE CASCADE,
    order_index INTEGER,
    PRIMARY KEY (test_suite_id, test_case_id)
);

CREATE INDEX ix_test_suites_name ON test_suites(name);
CREATE INDEX ix_test_suites_is_active ON test_suites(is_active);
CREATE INDEX ix_test_suites_created_by ON test_suites(created_by);
CREATE INDEX ix_test_suite_test_cases_suite_id ON test_suite_test_cases(test_suite_id);
CREATE INDEX ix_test_suite_test_cases_case_id ON test_suite_test_cases(test_case_id);
"#;

const DOWN: &str = r#"
DROP TABLE IF EXISTS test_suite_test_cases;
DROP TABLE IF EXISTS test_suites;
DROP TABLE IF EXISTS test_steps;
DROP TABLE IF EXISTS test_cases;
DROP TABLE IF EXISTS configurations;
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
