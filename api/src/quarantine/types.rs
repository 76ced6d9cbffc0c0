//! GraphQL objects of quarantine.

use async_graphql::{Context, Object};
use uuid::Uuid;

use super::service::Quarantine;
use crate::catalog::types::TestCase;
use crate::connection::Connection;
use crate::scalars::Timestamp;

#[derive(Clone)]
pub struct TestCaseQuarantine(pub Quarantine);

/// A test case in quarantine: its results are recorded and shown, but its failures do not
/// fail a run's outcome (they are counted in `TestRun.quarantinedFailedTests`). Someone owns
/// it, for a reason, until it expires or is released.
#[Object]
impl TestCaseQuarantine {
    /// Unique id.
    async fn id(&self) -> Uuid {
        self.0.row.id
    }
    /// Id of the quarantined case.
    async fn test_case_id(&self) -> Uuid {
        self.0.row.test_case_id
    }
    /// The quarantined case; null if the caller no longer sees it.
    async fn test_case(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<TestCase>> {
        Ok(crate::catalog::loaders::case(ctx, self.0.row.test_case_id)
            .await?
            .map(TestCase))
    }
    /// The case's test key (the identity its reporter gives it, such as
    /// `tests/test_cart.py::test_add`), for CI to match its tests against; null when the case
    /// has none.
    async fn test_key(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<String>> {
        Ok(crate::catalog::loaders::case(ctx, self.0.row.test_case_id)
            .await?
            .and_then(|c| c.identity_key))
    }
    /// Who is responsible for the case while it is quarantined; null for an automatic
    /// quarantine of a case without an author.
    async fn owner(&self) -> Option<&str> {
        self.0.row.owner.as_deref()
    }
    /// Why it is quarantined.
    async fn reason(&self) -> &str {
        &self.0.row.reason
    }
    /// When it stops counting by itself; null: until released.
    async fn expires_at(&self) -> Option<Timestamp> {
        self.0.row.expires_at
    }
    /// Whether the project's rule quarantined it when the case became FLAKY, rather than a
    /// person.
    async fn automatic(&self) -> bool {
        self.0.row.automatic
    }
    /// User id of whoever quarantined it; null for an automatic quarantine.
    async fn created_by(&self) -> Option<&str> {
        self.0.row.created_by.as_deref()
    }
    /// When it was quarantined.
    async fn created_at(&self) -> Timestamp {
        self.0.row.created_at
    }
    /// When it was released (for an expired one, its expiry); null while it is not.
    async fn released_at(&self) -> Option<Timestamp> {
        self.0.row.released_at
    }
    /// User id of whoever released it; null while it is not released, or when it expired.
    async fn released_by(&self) -> Option<&str> {
        self.0.row.released_by.as_deref()
    }
    /// Why it was released (`expired` when it ran out); null when no reason was given.
    async fn release_reason(&self) -> Option<&str> {
        self.0.row.release_reason.as_deref()
    }
    /// Whether it counts now: not released and not expired.
    async fn active(&self) -> bool {
        self.0.active
    }
}

/// A page of quarantined cases.
pub type TestCaseQuarantineConnection = Connection<TestCaseQuarantine>;
