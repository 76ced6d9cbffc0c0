//! GraphQL objects of archival.

/// What an archival or restore moved (or, in a dry run, would move).
#[derive(Debug, Clone, Default, PartialEq, Eq, async_graphql::SimpleObject)]
pub struct ArchiveReport {
    /// Executions.
    pub executions: i64,
    /// Step results.
    pub step_executions: i64,
    /// Artifacts.
    pub artifacts: i64,
    /// Transactions used.
    pub batches: i64,
    /// Whether nothing was changed (a dry run).
    pub dry_run: bool,
}
