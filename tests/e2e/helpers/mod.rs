//! Test harness: one PostgreSQL per test process, one migrated template, a database per test,
//! and the real server on 127.0.0.1:0.

pub mod app;
pub mod db;
pub mod q;

pub use app::spawn_app;
pub use db::TestDb;
