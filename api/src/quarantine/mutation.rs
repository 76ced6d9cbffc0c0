//! Write entry points of quarantine.

use async_graphql::{Context, Object};
use uuid::Uuid;

use super::service;
use super::types::TestCaseQuarantine;
use crate::auth::context::request_db;
use crate::error::AppResult;
use crate::runs::types::TestRun;
use crate::scalars::Timestamp;

#[derive(Default)]
pub struct QuarantineMutation;

#[Object]
impl QuarantineMutation {
    /// Quarantines a test case: its results are still recorded and shown, but its failures no
    /// longer fail runs. For whoever may change the case; CONFLICT when it is quarantined
    /// already.
    async fn quarantine_test_case(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The test case.")] id: Uuid,
        #[graphql(desc = "Why (1 to 1000 characters).")] reason: String,
        #[graphql(
            desc = "When it ends by itself (in the future, at most 180 days away); \
                          without it, when released."
        )]
        expires_at: Option<Timestamp>,
        #[graphql(desc = "Who is responsible for the case meanwhile (default: the caller).")]
        owner: Option<String>,
    ) -> AppResult<TestCaseQuarantine> {
        let identity = crate::auth::guard::identity(ctx)?;
        let db = request_db(ctx)?;
        db.write(|tx| {
            Box::pin(async move {
                service::quarantine(tx, &identity, id, &reason, expires_at, owner).await
            })
        })
        .await
        .map(TestCaseQuarantine)
    }

    /// Releases a test case from quarantine: its failures fail runs again. For whoever may
    /// change the case; CONFLICT when it is not quarantined.
    async fn release_test_case(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The test case.")] id: Uuid,
        #[graphql(desc = "Why (at most 1000 characters).")] reason: Option<String>,
    ) -> AppResult<TestCaseQuarantine> {
        let identity = crate::auth::guard::identity(ctx)?;
        let db = request_db(ctx)?;
        db.write(|tx| {
            Box::pin(async move { service::release(tx, &identity, id, reason.as_deref()).await })
        })
        .await
        .map(TestCaseQuarantine)
    }

    /// Corrects whether a finished run was an infrastructure failure (an outage rather than
    /// the tests), which decides whether its results count in flaky classification. For a
    /// maintainer of the run's project (or an admin); audited with the run.
    async fn mark_infrastructure_failure(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The run.")] run_id: Uuid,
        #[graphql(desc = "Whether it was one.")] value: bool,
    ) -> AppResult<TestRun> {
        let identity = crate::auth::guard::identity(ctx)?;
        let db = request_db(ctx)?;
        db.write(|tx| {
            Box::pin(async move {
                service::mark_infrastructure_failure(tx, &identity, run_id, value).await
            })
        })
        .await
        .map(TestRun)
    }
}
