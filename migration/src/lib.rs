//! The database schema's history, as sea-orm-migration migrations. Append-only: an applied
//! migration is never edited; a change is a new file.
//!
//! - `m20261125_000001_create_catalog_tables`: configurations, cases, steps, suites.
//! - `m20261125_000002_create_execution_tables`: runs, executions, step executions, artifacts.
//! - `m20261125_000003_create_audit_log`: audit trail, `updated_at` and audit triggers.
//! - `m20261125_000004_add_row_level_security`: the request role and the spec's policies.
//! - `m20261125_000005_create_api_tokens`: hashed API tokens.
//! - `m20261125_000006_complete_row_level_security`: policies on every table.
//! - `m20261125_000007_add_run_reporting_and_live_events`: idempotent reporting, NOTIFY triggers.
//! - `m20261125_000008_partition_audit_and_add_archival`: monthly audit partitions, archive tables.
//! - `m20261125_000009_add_search_function`: index-served search under row-level security.
//! - `m20261125_000010_plan_policies_once`: the hot policies computed once per statement.
//! - `m20261125_000011_keep_flakiness_per_case`: flakiness kept per case, refreshed from a
//!   list of changed cases.
//! - `m20261125_000012_admin_role_policies`: admins under their own role with `USING (true)`
//!   policies; members' policies without the admin half.
//! - `m20261201_000013_scope_case_names_to_their_author`: uniqueness scoped to what the writer
//!   sees: case names per author, report keys seen with their run.
//! - `m20261201_000014_announce_token_changes`: a changed or deleted API token is announced on
//!   channel `jbts_tokens`, so every process closes its sockets at once.
//! - `m20261201_000015_create_executions_view`: one definition of the executions, live and
//!   archived.
//! - `m20261201_000016_add_projects`: projects and their members; everything belongs to one.
//! - `m20261201_000017_import_results`: stable test identity, aliases, ad-hoc runs and run
//!   keys, durations in milliseconds, the import's functions.
//! - `m20261201_000018_cheaper_import_batches`: cheaper batches of imported results.
//! - `m20261201_000019_store_artifact_bytes`: artifacts' bytes on an object store, blobs
//!   collected once nothing refers to them, shared server secrets.
//! - `m20261202_000020_search_as_you_type`: pg_trgm, a trigram index on case names, search by
//!   a tsquery the API builds (prefixes) and by the spelling of names.

pub use sea_orm_migration::prelude::*;

mod m20261125_000001_create_catalog_tables;
mod m20261125_000002_create_execution_tables;
pub mod m20261125_000003_create_audit_log;
mod m20261125_000004_add_row_level_security;
mod m20261125_000005_create_api_tokens;
mod m20261125_000006_complete_row_level_security;
mod m20261125_000007_add_run_reporting_and_live_events;
mod m20261125_000008_partition_audit_and_add_archival;
mod m20261125_000009_add_search_function;
mod m20261125_000010_plan_policies_once;
mod m20261125_000011_keep_flakiness_per_case;
mod m20261125_000012_admin_role_policies;
mod m20261201_000013_scope_case_names_to_their_author;
mod m20261201_000014_announce_token_changes;
mod m20261201_000015_create_executions_view;
mod m20261201_000016_add_projects;
mod m20261201_000017_import_results;
mod m20261201_000018_cheaper_import_batches;
mod m20261201_000019_store_artifact_bytes;
mod m20261202_000020_search_as_you_type;
mod m20261202_000021_add_run_context;
mod m20261202_000022_deliver_webhooks_from_an_outbox;
mod m20261202_000023_classify_and_quarantine_flaky_tests;
mod m20261202_000024_keep_failure_groups;
mod m20261202_000025_compare_runs;

/// Applies the migrations in order.
pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(m20261125_000001_create_catalog_tables::Migration),
            Box::new(m20261125_000002_create_execution_tables::Migration),
            Box::new(m20261125_000003_create_audit_log::Migration),
            Box::new(m20261125_000004_add_row_level_security::Migration),
            Box::new(m20261125_000005_create_api_tokens::Migration),
            Box::new(m20261125_000006_complete_row_level_security::Migration),
            Box::new(m20261125_000007_add_run_reporting_and_live_events::Migration),
            Box::new(m20261125_000008_partition_audit_and_add_archival::Migration),
            Box::new(m20261125_000009_add_search_function::Migration),
            Box::new(m20261125_000010_plan_policies_once::Migration),
            Box::new(m20261125_000011_keep_flakiness_per_case::Migration),
            Box::new(m20261125_000012_admin_role_policies::Migration),
            Box::new(m20261201_000013_scope_case_names_to_their_author::Migration),
            Box::new(m20261201_000014_announce_token_changes::Migration),
            Box::new(m20261201_000015_create_executions_view::Migration),
            Box::new(m20261201_000016_add_projects::Migration),
            Box::new(m20261201_000017_import_results::Migration),
            Box::new(m20261201_000018_cheaper_import_batches::Migration),
            Box::new(m20261201_000019_store_artifact_bytes::Migration),
            Box::new(m20261202_000020_search_as_you_type::Migration),
            Box::new(m20261202_000021_add_run_context::Migration),
            Box::new(m20261202_000022_deliver_webhooks_from_an_outbox::Migration),
            Box::new(m20261202_000023_classify_and_quarantine_flaky_tests::Migration),
            Box::new(m20261202_000024_keep_failure_groups::Migration),
            Box::new(m20261202_000025_compare_runs::Migration),
        ]
    }
}
