//! End-to-end tests: the real server and a real PostgreSQL, a fresh database per test.

mod helpers;

mod auth_rls;
mod auth_tokens;
mod catalog_case_queries;
mod catalog_case_updates;
mod catalog_cases;
mod catalog_configurations;
mod catalog_errors;
mod catalog_http;
mod catalog_input_errors;
mod catalog_page_limits;
mod catalog_pagination;
mod catalog_performance;
mod catalog_search;
mod catalog_steps;
mod catalog_suite_members;
mod catalog_suites;
mod live;
mod managed_cluster;
mod schema_constraints;
mod schema_indexes;
mod schema_migrations;
mod schema_triggers;
mod server;
