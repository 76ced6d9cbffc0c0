//! GraphQL objects of analytics that list cases: each case with its figures.

use async_graphql::SimpleObject;

use super::types::{CaseStats, Flakiness};
use crate::catalog::types::TestCase;
use crate::scalars::Timestamp;

/// A case with its flakiness.
#[derive(SimpleObject, Clone)]
pub struct FlakyTestCase {
    /// The case.
    pub test_case: TestCase,
    /// Its flakiness.
    pub flakiness: Flakiness,
}

/// A case with its failures.
#[derive(SimpleObject, Clone)]
pub struct FailingTestCase {
    /// The case.
    pub test_case: TestCase,
    /// Failed executions in the window.
    pub failures: i64,
    /// All executions in the window.
    pub executions: i64,
    /// Last failure.
    pub last_failure_at: Option<Timestamp>,
}

/// A case with its statistics.
#[derive(SimpleObject, Clone)]
pub struct CaseStatsRow {
    /// The case.
    pub test_case: TestCase,
    /// Its statistics in the window (durations' percentiles: see `TestCase.stats`).
    pub stats: CaseStats,
}

crate::connection_names!(CaseStatsNames, "CaseStatsConnection", "CaseStatsEdge");

/// A page of case statistics.
pub type CaseStatsConnection =
    crate::connection::Connection<CaseStatsRow, crate::connection::NoFields, CaseStatsNames>;
