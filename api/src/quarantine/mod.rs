//! Quarantine: cases whose failures are recorded and shown but do not fail a run's outcome,
//! each with an owner, a reason and an optional expiry, listed for CI to read at run time; and
//! the maintainers' correction of a run's infrastructure-failure flag, which decides whether
//! its results count in flaky classification. PostgreSQL keeps the rules (migration 23): at
//! most one unreleased quarantine per case, row-level security following the case, the audit
//! trail, automatic quarantines of cases that become FLAKY where a project opts in.
//!
//! - `service`: the SQL.
//! - `types`, `query`, `mutation`, `loaders`: the GraphQL surface.

pub mod loaders;
pub mod mutation;
pub mod query;
pub mod service;
pub mod types;
