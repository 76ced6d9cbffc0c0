//! Insights that tell a team what to do about a run: what changed since its baseline (the
//! previous finished run of its suite, branch and environment), and whether it passes a
//! quality gate. Computed on demand from the indexes (no work on the write path).
//!
//! - `compare`: baselines, the comparison of two runs (one statement for any number of
//!   pairs), failing streaks.
//! - `gate`: the quality gate's rules and verdict, and its webhook event.
//! - `types`: the GraphQL objects; `loaders`: baselines, comparisons and streaks of a level
//!   of parents at once.
//! - `query`, `mutation`: entry points.

pub mod compare;
pub mod gate;
pub mod loaders;
pub mod mutation;
pub mod query;
pub mod types;
