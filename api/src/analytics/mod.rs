//! Analytics computed by PostgreSQL on demand, from the indexes (no materialized view, no work
//! on the write path; architecture errata 4): statistics of cases, runs and suites,
//! flakiness, failure groups by error fingerprint, daily pass-rate trends, sliced by
//! configuration. Row-level security applies: a member's statistics cover what they see.
//!
//! - `types`: the GraphQL objects of figures (statistics, flakiness, groups, trends).
//! - `classification`: a case's failure-probability estimate and classification confidence.
//! - `lists`: cases listed with their figures.
//! - `service`: the SQL.
//! - `failures`: failure groups, read from the kept groups or grouped on demand.
//! - `loaders`: statistics, flakiness and failing steps of a level of parents at once.
//! - `query`: entry points.

pub mod classification;
pub mod failures;
pub mod lists;
pub mod loaders;
pub mod query;
pub mod service;
pub mod types;
