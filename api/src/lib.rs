//! JBTestSuite's service: a GraphQL API over PostgreSQL.
//!
//! - `config`: command line and environment.
//! - `telemetry`: logging.
//! - `db`: the connection pool, and `db::managed`, the embedded PostgreSQL cluster.
//! - `startup`: open the database, migrate, serve, shut down.
//! - `http`: routes (GraphQL, GraphiQL, WebSocket, health).
//! - `input`: bounds of every input (lengths, ranges, sizes) and their checks.
//! - `limits`: bounds on what a client sends, checked before anything recursive reads it.
//! - `scalars`: scalars every domain shares (timestamps, JSON).
//! - `schema`: the GraphQL roots, limits and SDL export.
//! - `state`: what every request can reach.
//! - `auth`: identity and the per-request database context (transaction, RLS settings).
//! - `codes`: codes for the errors async-graphql raises itself, on every transport.
//! - `error`: the one error type, with codes; constraint names mapped to messages.
//! - `pagination`: keyset pagination and cursors.
//! - `sql`: the toolkit for statements built at run time (bound values, keyset lists, pages
//!   of many parents' children).
//! - `connection`: the one Relay connection type of every paginated list.
//! - `loader`: DataLoaders: each relation of a level of parents in one statement.
//! - `rate_limit`: requests per window and token or client address.
//! - `catalog`: test cases, steps, suites, configurations.
//! - `live`: the NOTIFY-fed hub and the subscriptions.
//! - `analytics`: statistics, flakiness, failure groups, trends, computed on demand.
//! - `audit`: the audit trail over GraphQL.
//! - `archive`: lossless archival and restore, and database maintenance.
//! - `runs`: test runs, executions, step results, artifacts, bulk reporting.

pub mod analytics;
pub mod archive;
pub mod audit;
pub mod auth;
pub mod catalog;
pub mod codes;
pub mod config;
pub mod connection;
pub mod db;
pub mod error;
pub mod http;
pub mod input;
pub mod limits;
pub mod live;
pub mod loader;
pub mod pagination;
pub mod rate_limit;
pub mod runs;
pub mod scalars;
pub mod schema;
pub mod sql;
pub mod startup;
pub mod state;
pub mod telemetry;
