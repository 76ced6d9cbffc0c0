//! Test harness: one PostgreSQL per test process, one migrated template, a database per test,
//! and the real server on 127.0.0.1:0.

pub mod app;
pub mod binary;
pub mod browser;
pub mod bulk;
pub mod catalog;
pub mod db;
pub mod import;
pub mod projects;
pub mod q;
pub mod runs;
pub mod s3;
pub mod standby;
pub mod wait;
pub mod ws;

pub use app::{TestApp, spawn_app, spawn_app_with, spawn_app_with_routes};
pub use db::TestDb;
pub use wait::eventually;
