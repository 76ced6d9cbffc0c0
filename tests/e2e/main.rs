//! End-to-end tests: the real server and a real PostgreSQL, a fresh database per test.

mod helpers;

mod managed_cluster;
mod schema_constraints;
mod schema_indexes;
mod schema_migrations;
mod schema_triggers;
mod server;
