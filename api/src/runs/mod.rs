//! Test runs: runs of suites, executions (with retries), step results, artifacts, bulk
//! reporting.
//!
//! - `enums`, `types`: the GraphQL surface.
//! - `query`, `mutation`: entry points.
//! - `service`: lifecycle, bulk reporting, lists.
//! - `loaders`: DataLoaders for every relation.

pub mod enums;
pub mod loaders;
pub mod mutation;
pub mod query;
pub mod service;
pub mod types;
