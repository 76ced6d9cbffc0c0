//! The test catalogue: test cases with ordered steps, suites, configurations.
//!
//! - `enums`: GraphQL enums mirroring the database's.
//! - `types`: objects and connections.
//! - `inputs`: filters, orderings and the inputs of mutations.
//! - `query`, `mutation`: entry points (thin: convert, call a service, map).
//! - `service`: the database work.
//! - `loaders`: DataLoaders for every relation.

pub mod enums;
pub mod inputs;
pub mod loaders;
pub mod mutation;
pub mod query;
pub mod service;
pub mod types;
