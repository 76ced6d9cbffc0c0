//! JBTestSuite's service: a GraphQL API over PostgreSQL. In layers, each importing only from
//! the layers before it:
//!
//! **Foundations** (no domain, no auth):
//! - `config`: command line, environment and the serving options.
//! - `error`: the one error type, with codes; constraint names mapped to messages.
//! - `scalars`: scalars every domain shares (timestamps, JSON).
//! - `input`: bounds of every input (lengths, ranges, sizes) and their checks.
//! - `limits`: bounds on what a client sends, checked before anything recursive reads it.
//! - `pagination`: keyset pages and cursors.
//! - `sql`: the toolkit for statements built at run time (bound values, keyset lists, pages
//!   of many parents' children).
//! - `rate_limit`: requests per window and token or client address.
//! - `db`: the connection pool, and `db::managed`, the embedded PostgreSQL cluster.
//! - `state`: the pool and the limits every request can reach.
//! - `telemetry`: logging.
//!
//! **The request**:
//! - `auth`: identity, tokens and the per-request database context (transaction, RLS
//!   settings, top-level fields isolated).
//! - `loader`: DataLoaders: each relation of a level of parents in one statement.
//! - `connection`: the one Relay connection type of every paginated list.
//! - `codes`: codes for the errors async-graphql raises itself, on every transport.
//!
//! **Domains**:
//! - `catalog`: test cases, steps, suites, configurations.
//! - `runs`: test runs, executions, step results, artifacts, bulk reporting.
//! - `analytics`: statistics, flakiness and its classification, failure groups, trends.
//! - `quarantine`: cases whose failures do not fail runs, and runs flagged as
//!   infrastructure failures.
//! - `audit`: the audit trail over GraphQL.
//! - `insights`: what changed since a run's baseline (run comparison), and quality gates.
//! - `archive`: lossless archival and restore, and database maintenance.
//! - `live`: the NOTIFY-fed hub and the subscriptions.
//! - `webhooks`: project events POSTed to subscribed URLs from a transactional outbox,
//!   signed, retried with backoff, with a delivery log; the deliverer in every process.
//! - `import`: results from the files test frameworks write (JUnit XML, CTRF), streamed
//!   through the runs' write path.
//!
//! (The domains' objects refer to each other as the graph does: a case's executions, an
//! execution's case. That is the one import cycle, between `catalog::types` and
//! `runs::types`.)
//!
//! **Composition**:
//! - `schema`: the GraphQL roots and the SDL export.
//! - `http`: routes (GraphQL, GraphiQL, WebSocket, health).
//! - `startup`: open the database, migrate, serve, shut down.
//! - `reporter`: `jbtestsuite report`, the client that sends report files to a server.
//! - `demo`: `jbtestsuite demo`: a seeded catalogue and history, and a simulated CI, served.

pub mod analytics;
pub mod archive;
pub mod artifacts;
pub mod audit;
pub mod auth;
pub mod catalog;
pub mod codes;
pub mod config;
pub mod connection;
pub mod db;
pub mod demo;
pub mod error;
pub mod http;
pub mod import;
pub mod input;
pub mod insights;
pub mod limits;
pub mod live;
pub mod loader;
pub mod pagination;
pub mod projects;
pub mod quarantine;
pub mod rate_limit;
pub mod reporter;
pub mod runs;
pub mod scalars;
pub mod schema;
pub mod sql;
pub mod startup;
pub mod state;
pub mod telemetry;
pub mod webhooks;
