//! JBTestSuite's service: a GraphQL API over PostgreSQL.
//!
//! - `config`: command line and environment.
//! - `telemetry`: logging.
//! - `db`: the connection pool, and `db::managed`, the embedded PostgreSQL cluster.
//! - `startup`: open the database, migrate, serve, shut down.
//! - `http`: routes (GraphQL, GraphiQL, WebSocket, health).
//! - `schema`: the GraphQL roots, limits and SDL export.
//! - `state`: what every request can reach.

pub mod config;
pub mod db;
pub mod http;
pub mod schema;
pub mod startup;
pub mod state;
pub mod telemetry;
